//! The three questions a push asks of a message and a user, one function each: is the message
//! urgent (PROTOCOL.md 5.2 `priority`), does it mention the user (5.2 `mentions`), who has muted
//! the room (5.5 `muted_until`).

use crate::store::{Store, StoreResult};
use std::collections::HashSet;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::{Message, Priority, Timestamp};

/// Whether `message` is urgent (`Urgency: high`, and it notifies through a mute).
pub fn is_urgent(message: &Message) -> bool {
    message.priority == Priority::Urgent
}

/// Whether `message` mentions `user` (it notifies through a mute).
pub fn mentions(message: &Message, user: &UserId) -> bool {
    message.mentions.iter().any(|m| &m.id == user)
}

/// The users who have muted `room` now (5.5), in one query.
pub async fn muted_in(store: &dyn Store, room: &RoomId) -> StoreResult<HashSet<UserId>> {
    Ok(store
        .muted_in(room, Timestamp::now())
        .await?
        .into_iter()
        .collect())
}

//! The three questions a push asks of a message and a user, one function each, so the answers
//! can come from wherever they are kept: is the message urgent (PROTOCOL.md 5.2 `priority`),
//! does it mention the user (5.2 `mentions`), has the user muted the room (5.5 `muted_until`).

use crate::store::Store;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::Message;

/// Whether `message` is urgent (`Urgency: high`, and it notifies through a mute).
pub fn is_urgent(_message: &Message) -> bool {
    // `Message.priority` (5.2) is not on this branch yet: no message is urgent.
    false
}

/// Whether `message` mentions `user` (it notifies through a mute).
pub fn mentions(_message: &Message, _user: &UserId) -> bool {
    // `Message.mentions` (5.2) is not on this branch yet: no message mentions anyone.
    false
}

/// Whether `user` has muted `room` now (5.5).
pub async fn is_muted(_store: &dyn Store, _user: &UserId, _room: &RoomId) -> bool {
    // Per-user room mute (`muted_until`, 5.5) is not on this branch yet: nothing is muted.
    false
}

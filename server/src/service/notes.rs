//! Care notes (PROTOCOL.md 5.2): the checks a post's mentions and revision pass, confirmations
//! (確認しました) and who has not read a message yet.

use super::{user_name, RoomService};
use crate::access::RoomAccess;
use crate::bus::BusEvent;
use crate::error::ApiError;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::{Confirmation, Message, RoomKind, UserName, UserRef};
use yui_protocol::post::{NewPost, Revision};

impl RoomService {
    /// Checks a post's mentions and revision; returns the mentioned users with their names.
    pub(super) async fn check_notes(
        &self,
        who: &Identity,
        access: &RoomAccess,
        post: &NewPost,
    ) -> Result<Vec<UserName>, ApiError> {
        let mentions = self.mentioned(access, post.mentions()).await?;
        if let Some(revision) = post.revision() {
            self.check_revision(who, &access.info.room, revision)
                .await?;
        }
        Ok(mentions)
    }

    /// The mentioned users with their names now (stored with the message): each must be a
    /// member of the team room; a town room's notices mention no one.
    async fn mentioned(
        &self,
        access: &RoomAccess,
        ids: &[UserId],
    ) -> Result<Vec<UserName>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if access.info.kind == RoomKind::Town {
            return Err(ApiError::bad_request(
                "mentions: a town room's notices mention no one",
            ));
        }
        // Read from the store, not the cache: the names are the directory's now.
        let members = self.store.members(&access.info.room).await?;
        ids.iter()
            .map(|id| {
                members
                    .iter()
                    .find(|m| &m.id == id)
                    .map(|m| UserName {
                        id: m.id.clone(),
                        name: m.name.clone(),
                    })
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "mentions: '{id}' is not a member of this room"
                        ))
                    })
            })
            .collect()
    }

    /// A revision names an original message of its author in the same room.
    async fn check_revision(
        &self,
        who: &Identity,
        room: &RoomId,
        revision: Revision,
    ) -> Result<(), ApiError> {
        let (field, seq) = match revision {
            Revision::Replaces(s) => ("replaces", s),
            Revision::Retracts(s) => ("retracts", s),
        };
        let Some(original) = self.message(room, seq).await? else {
            return Err(ApiError::bad_request(format!(
                "{field}: no message {seq} in this room"
            )));
        };
        if original.author.id != who.user.id {
            return Err(ApiError::forbidden(format!(
                "{field}: only the author of message {seq} may revise it"
            )));
        }
        if let Some(first) = original.replaces.or(original.retracts) {
            return Err(ApiError::bad_request(format!(
                "{field}: message {seq} is itself a revision: name the original, {first}"
            )));
        }
        Ok(())
    }

    /// Message `seq` of the room, if it exists (messages never change once committed).
    async fn message(&self, room: &RoomId, seq: u64) -> Result<Option<Message>, ApiError> {
        if seq == 0 {
            return Ok(None);
        }
        let found = self.store.messages_after(room, seq - 1, 1).await?;
        Ok(found.into_iter().next().filter(|m| m.seq == seq))
    }

    /// Confirms message `seq` (not one's own) durably, then tells the room; twice changes
    /// nothing and tells no one again.
    pub async fn confirm(&self, who: &Identity, room: &RoomId, seq: u64) -> Result<u64, ApiError> {
        self.readable(who, room).await?;
        let Some(m) = self.message(room, seq).await? else {
            return Err(ApiError::bad_request(format!(
                "seq: no message {seq} in this room"
            )));
        };
        if m.author.id == who.user.id {
            return Err(ApiError::bad_request(format!(
                "seq: message {seq} is your own; the others confirm it"
            )));
        }
        let (at, new) = self.store.confirm(room, seq, &who.user.id).await?;
        if new {
            self.hub
                .emit(BusEvent::Confirmed {
                    room: room.clone(),
                    seq,
                    user: user_name(who),
                    at,
                })
                .await;
        }
        Ok(seq)
    }

    /// Who confirmed message `seq`, in the order they did.
    pub async fn confirms(
        &self,
        who: &Identity,
        room: &RoomId,
        seq: u64,
    ) -> Result<Vec<Confirmation>, ApiError> {
        self.readable(who, room).await?;
        if self.message(room, seq).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "seq: no message {seq} in this room"
            )));
        }
        Ok(self.store.confirms(room, seq).await?)
    }

    /// The audience's users whose read position is below `seq`, clamped to the room's last
    /// message (read now, not from the cache). A town room's audience is the town's directory,
    /// which only those who post there (its coordinators, admins) may list.
    pub(super) async fn pending(
        &self,
        who: &Identity,
        access: &RoomAccess,
        seq: u64,
    ) -> Result<Vec<UserRef>, ApiError> {
        let room = &access.info;
        if room.kind == RoomKind::Town && !access.can_post(who) {
            return Err(ApiError::forbidden(
                "seq: only the town's coordinators and admins see who has not read a notice",
            ));
        }
        let last = match self.store.room(&room.room).await? {
            Some(r) => r.last_seq,
            None => return Err(ApiError::room_not_found()),
        };
        Ok(self.store.pending(room, seq.min(last)).await?)
    }
}

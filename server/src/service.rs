//! What a user may do with a room, checked once for the WebSocket and the HTTP API alike.

use crate::error::ApiError;
use crate::hub::RoomAccess;
use crate::state::Shared;
use crate::store::{AuditRecord, Write, WriteOutcome};
use std::sync::Arc;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{Body, ClientId, RoomId};
use yui_protocol::model::{AuditAction, Message, MessageKind, Reader, UserName};

pub fn user_name(who: &Identity) -> UserName {
    UserName {
        id: who.user.id.clone(),
        name: who.user.name.clone(),
    }
}

impl Shared {
    /// Keeps the user directory current with an accepted token's claims.
    pub async fn remember(&self, who: &Identity) -> Result<(), ApiError> {
        let known = self
            .directory
            .get(&who.user.id)
            .is_some_and(|e| e.0 == who.user && e.1 == who.town);
        if !known {
            self.store.upsert_user(&who.user, &who.town).await?;
            self.directory
                .insert(who.user.id.clone(), (who.user.clone(), who.town.clone()));
        }
        Ok(())
    }

    /// The room, when `who` may read it; otherwise `not_found`, whether or not it exists.
    pub async fn readable(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<Arc<RoomAccess>, ApiError> {
        match self.hub.access(room).await? {
            Some(a) if a.can_read(who) => Ok(a),
            _ => Err(ApiError::room_not_found()),
        }
    }

    /// The room, when `who` may manage its members (or create/update it); `not_found` when
    /// `who` can neither read nor manage it.
    pub async fn manageable(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<Arc<RoomAccess>, ApiError> {
        match self.hub.access(room).await? {
            Some(a) if a.can_manage(who) => Ok(a),
            Some(a) if a.can_read(who) => Err(ApiError::forbidden(
                "only the room's owners, the town's coordinators and admins manage members",
            )),
            _ => Err(ApiError::room_not_found()),
        }
    }

    /// Commits a post; returns the message and whether it is new (false for a retry).
    pub async fn post(
        &self,
        who: &Identity,
        room: &RoomId,
        client_id: ClientId,
        body: Body,
        kind: Option<MessageKind>,
    ) -> Result<(Message, bool), ApiError> {
        let access = self.readable(who, room).await?;
        if !access.can_post(who) {
            return Err(ApiError::forbidden(
                "only the town's coordinators and admins post notices",
            ));
        }
        let room_kind = access.info.kind.message_kind();
        if let Some(k) = kind {
            if k != room_kind {
                return Err(ApiError::bad_request(format!(
                    "kind: this room takes '{room_kind}', not '{k}'"
                )));
            }
        }
        let write = Write::Post {
            room: room.clone(),
            author: who.user.clone(),
            client_id,
            kind: room_kind,
            body,
        };
        match self.committer.commit(write, None).await? {
            WriteOutcome::Posted { message, new } => Ok((message, new)),
            other => Err(ApiError::Internal(anyhow::anyhow!(
                "post committed as {other:?}"
            ))),
        }
    }

    /// Moves the read position forward; returns the position now.
    pub async fn read(&self, who: &Identity, room: &RoomId, seq: u64) -> Result<u64, ApiError> {
        self.readable(who, room).await?;
        let write = Write::Read {
            room: room.clone(),
            user: who.user.id.clone(),
            seq,
        };
        match self.committer.commit(write, Some(user_name(who))).await? {
            WriteOutcome::Read { seq, .. } => Ok(seq),
            other => Err(ApiError::Internal(anyhow::anyhow!(
                "read committed as {other:?}"
            ))),
        }
    }

    /// A page of history, written to the access log.
    pub async fn history(
        &self,
        who: &Identity,
        room: &RoomId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<(Vec<Message>, bool), ApiError> {
        self.readable(who, room).await?;
        self.audit_history(who, room).await?;
        Ok(self.store.messages_before(room, before, limit).await?)
    }

    /// Writes a `read_history` entry; callers do this before sending any history.
    pub async fn audit_history(&self, who: &Identity, room: &RoomId) -> Result<(), ApiError> {
        let record = AuditRecord {
            actor: user_name(who),
            action: AuditAction::ReadHistory,
            room: room.clone(),
            target: None,
        };
        self.committer.commit(Write::Audit(record), None).await?;
        Ok(())
    }

    /// Every read position of the room and how many may read it.
    pub async fn receipts(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<(u64, Vec<Reader>), ApiError> {
        let access = self.readable(who, room).await?;
        let audience = self.store.audience(&access.info).await?;
        let readers = self.store.receipts(room).await?;
        Ok((audience, readers))
    }
}

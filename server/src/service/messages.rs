//! Posts, read positions, history pages and receipts.

use super::{user_name, RoomService};
use crate::error::ApiError;
use crate::store::{Write, WriteOutcome};
use yui_protocol::claims::Identity;
use yui_protocol::ids::{Body, RoomId};
use yui_protocol::model::{Message, Reader, RoomKind, UserRef};
use yui_protocol::post::NewPost;

/// What `receipts` answers.
pub struct Receipts {
    pub audience: u64,
    pub readers: Vec<Reader>,
    /// With a `seq`: who of the audience has not read it.
    pub pending: Option<Vec<UserRef>>,
}

impl RoomService {
    /// Commits a post; returns the message and whether it is new (false for a retry).
    pub async fn post(
        &self,
        who: &Identity,
        room: &RoomId,
        post: NewPost,
    ) -> Result<(Message, bool), ApiError> {
        let access = self.readable(who, room).await?;
        if !access.can_post(who) {
            return Err(ApiError::forbidden(
                "only the town's coordinators and admins post notices",
            ));
        }
        if let Some(first) = self.consent_gate(&access, who, post.client_id()).await? {
            return Ok((first, false));
        }
        let room_kind = access.info.kind.message_kind();
        if let Some(k) = post.kind() {
            if k != room_kind {
                return Err(ApiError::bad_request(format!(
                    "kind: this room takes '{room_kind}', not '{k}'"
                )));
            }
        }
        // The attachments are checked here (clear errors) and claimed in the commit, which
        // refuses the post if another post claimed one of them first.
        let checked = match self.check_notes(who, &access, &post).await {
            Ok(mentions) => self
                .attachments_for_post(who, room, post.client_id(), post.attachments())
                .await
                .map(|attachments| (mentions, attachments)),
            Err(e) => Err(e),
        };
        let (mentions, attachments) = match checked {
            Ok(checked) => checked,
            // A retry of a committed post is answered with it (PROTOCOL.md 3.4.2), even when
            // its checks would fail now (a mentioned member removed since).
            Err(e) => match self
                .store
                .posted(room, &who.user.id, post.client_id())
                .await?
            {
                Some(m) => return Ok((m, false)),
                None => return Err(e),
            },
        };
        let body = match post.body() {
            "" => None,
            text => Some(Body::parse(text)?),
        };
        let write = Write::Post {
            room: room.clone(),
            author: who.user.clone(),
            client_id: post.client_id().clone(),
            kind: room_kind,
            body,
            priority: post.priority(),
            mentions,
            revision: post.revision(),
            attachments,
        };
        match self.committer.commit(write, None).await? {
            WriteOutcome::Posted { message, new, .. } => Ok((message, new)),
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
        let access = self.readable(who, room).await?;
        self.audit_history(who, room).await?;
        let page = self.store.messages_before(room, before, limit).await?;
        // The cache may not know of a removal yet (a lost bus event): a team room's page is
        // given only to a user still a member after it was read, so none of it was committed
        // after a removal.
        if access.info.kind == RoomKind::Team
            && !self
                .store
                .members(room)
                .await?
                .iter()
                .any(|m| m.id == who.user.id)
        {
            return Err(ApiError::room_not_found());
        }
        Ok(page)
    }

    /// Every read position of the room and how many may read it; with `seq`, also the
    /// audience's users who have not read message `seq` (clamped to the room's last).
    pub async fn receipts(
        &self,
        who: &Identity,
        room: &RoomId,
        seq: Option<u64>,
    ) -> Result<Receipts, ApiError> {
        let access = self.readable(who, room).await?;
        let audience = self.store.audience(&access.info).await?;
        let readers = self.store.receipts(room).await?;
        let pending = match seq {
            None => None,
            Some(seq) => Some(self.pending(who, &access, seq).await?),
        };
        Ok(Receipts {
            audience,
            readers,
            pending,
        })
    }
}

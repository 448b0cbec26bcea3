//! Posts, read positions, history pages and receipts.

use super::{user_name, RoomService};
use crate::error::ApiError;
use crate::store::{Write, WriteOutcome};
use yui_protocol::claims::Identity;
use yui_protocol::ids::{Body, RoomId};
use yui_protocol::model::{Message, Reader, RoomKind};
use yui_protocol::post::NewPost;

impl RoomService {
    /// Commits a post; returns the message and whether it is new (false for a retry).
    pub async fn post(
        &self,
        who: &Identity,
        room: &RoomId,
        post: NewPost,
    ) -> Result<(Message, bool), ApiError> {
        let kind = post.kind();
        let client_id = post.client_id().clone();
        let body = Body::parse(post.body())?;
        let access = self.readable(who, room).await?;
        if !access.can_post(who) {
            return Err(ApiError::forbidden(
                "only the town's coordinators and admins post notices",
            ));
        }
        self.check_consent(&access, who, &client_id).await?;
        let room_kind = access.info.kind.message_kind();
        if let Some(k) = kind {
            if k != room_kind {
                return Err(ApiError::bad_request(format!(
                    "kind: this room takes '{room_kind}', not '{k}'"
                )));
            }
        }
        // Checked here (clear errors); claimed in the commit, which refuses the post if
        // another post claimed one of them first.
        let attachments = self
            .attachments_for_post(who, room, &client_id, post.attachments())
            .await?;
        let write = Write::Post {
            room: room.clone(),
            author: who.user.clone(),
            client_id,
            kind: room_kind,
            body,
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

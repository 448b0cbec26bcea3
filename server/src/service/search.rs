//! Search (PROTOCOL.md 5.5): the rooms the user reads now, the store's bigram index, a snippet
//! per result, and a `search` access-log entry per room that contributed results.

use super::{user_name, RoomService};
use crate::error::ApiError;
use crate::store::search::Matcher;
use crate::store::{AuditRecord, SearchSpec, Write};
use futures::future::try_join_all;
use std::collections::BTreeSet;
use std::sync::Arc;
use yui_protocol::claims::Identity;
use yui_protocol::ids::RoomId;
use yui_protocol::model::{AuditAction, RoomKind};
use yui_protocol::search::{SearchRequest, SearchResult};

impl RoomService {
    pub async fn search(
        &self,
        who: &Identity,
        req: SearchRequest,
    ) -> Result<(Vec<SearchResult>, bool), ApiError> {
        let rooms = match &req.room {
            // One room: readable now (for a team room, a member by the store's own data, not
            // only by the access cache).
            Some(room) => {
                let access = self.readable(who, room).await?;
                if access.info.kind == RoomKind::Team && !self.is_member_now(who, room).await? {
                    return Err(ApiError::room_not_found());
                }
                vec![room.clone()]
            }
            // The store's own view of the user's rooms: a member removed a moment ago no
            // longer finds the room's notes.
            None => self
                .store
                .rooms_for(&who.user.id, &who.town)
                .await?
                .into_iter()
                .map(|s| s.room)
                .collect(),
        };
        let matcher = Arc::new(Matcher::new(req.text.words()));
        let spec = SearchSpec {
            rooms,
            matcher: matcher.clone(),
            before: req.before,
            limit: req.limit,
        };
        let (messages, more) = self.store.search(&spec).await?;
        // Written before anything is shown; the query text is not.
        let contributed: BTreeSet<_> = messages.iter().map(|m| m.room.clone()).collect();
        try_join_all(contributed.into_iter().map(|room| {
            let record = AuditRecord {
                actor: user_name(who),
                action: AuditAction::Search,
                room,
                target: None,
            };
            self.committer.commit(Write::Audit(record), None)
        }))
        .await?;
        let results = messages
            .into_iter()
            .map(|message| {
                let (snippet, highlights) = matcher.snippet(&message.body);
                SearchResult {
                    message,
                    snippet,
                    highlights,
                }
            })
            .collect();
        Ok((results, more))
    }
}

impl RoomService {
    /// Whether `who` is a member of the team room by the store (not the access cache).
    pub(super) async fn is_member_now(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<bool, ApiError> {
        Ok(self
            .store
            .members(room)
            .await?
            .iter()
            .any(|m| m.id == who.user.id))
    }
}

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
use yui_protocol::model::AuditAction;
use yui_protocol::search::{SearchRequest, SearchResult};

impl RoomService {
    pub async fn search(
        &self,
        who: &Identity,
        req: SearchRequest,
    ) -> Result<(Vec<SearchResult>, bool), ApiError> {
        // The store's own view of the user's rooms (not the access cache): a member removed a
        // moment ago no longer finds the room's notes.
        let mut rooms: Vec<_> = self
            .store
            .rooms_for(&who.user.id, &who.town)
            .await?
            .into_iter()
            .map(|s| s.room)
            .collect();
        if let Some(room) = &req.room {
            if !rooms.contains(room) {
                return Err(ApiError::room_not_found());
            }
            rooms = vec![room.clone()];
        }
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

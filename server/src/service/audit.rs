//! The access log: every history read is written before any history is sent; coordinators
//! (their town) and admins (everything) query it.

use super::{user_name, RoomService};
use crate::error::ApiError;
use crate::store::{AuditFilter, AuditRecord, Write};
use yui_protocol::claims::Identity;
use yui_protocol::http::AuditRequest;
use yui_protocol::ids::{RoomId, TownId};
use yui_protocol::model::{AuditAction, AuditEntry, UserRole};

impl RoomService {
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

    /// Whose entries `who` may read: `None` every town's (admins), `Some(town)` their town's
    /// (coordinators); members are refused. Checked before the query is looked at.
    pub fn audit_scope(&self, who: &Identity) -> Result<Option<TownId>, ApiError> {
        match who.role {
            UserRole::Admin => Ok(None),
            UserRole::Coordinator => Ok(Some(who.town.clone())),
            UserRole::Member => Err(ApiError::forbidden(
                "only coordinators and admins read the access log",
            )),
        }
    }

    /// A page of the access log within the scope [`RoomService::audit_scope`] gave, and whether
    /// older entries match too.
    pub async fn audit_log(
        &self,
        scope: Option<TownId>,
        q: AuditRequest,
    ) -> Result<(Vec<AuditEntry>, bool), ApiError> {
        let filter = AuditFilter {
            room: q.room,
            user: q.user,
            town: scope,
            limit: q.limit + 1,
            from: q.from,
            to: q.to,
            before: q.before,
        };
        let mut entries = self.store.audit_query(&filter).await?;
        let more = entries.len() > q.limit as usize;
        entries.truncate(q.limit as usize);
        Ok((entries, more))
    }
}

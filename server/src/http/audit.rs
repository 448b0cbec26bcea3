//! `GET /api/audit`: the access log, for coordinators (their town) and admins.

use super::extract::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use yui_protocol::http::{AuditQuery, AuditReply, AuditRequest};

pub async fn audit(
    Auth(who): Auth,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditReply>, ApiError> {
    // Who may read comes before what is asked: a member gets 403 whatever the query.
    let scope = state.service.audit_scope(&who)?;
    let req = AuditRequest::try_from(q)?;
    let entries = state.service.audit_log(scope, req).await?;
    Ok(Json(AuditReply { entries }))
}

//! `GET /api/audit`: the access log, for coordinators (their town) and admins; as JSON pages
//! or, with `format=csv`, as a CSV download (UTF-8 with BOM, times in JST).

use super::extract::Auth;
use crate::error::ApiError;
use crate::service::export::jst_seconds;
use crate::service::export_csv::inert;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use yui_protocol::http::{AuditQuery, AuditReply, AuditRequest};
use yui_protocol::model::AuditEntry;

pub async fn audit(
    Auth(who): Auth,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    // Who may read comes before what is asked: a member gets 403 whatever the query.
    let scope = state.service.audit_scope(&who)?;
    let req = AuditRequest::try_from(q)?;
    let csv = req.csv;
    let (entries, more) = state.service.audit_log(scope, req).await?;
    if !csv {
        return Ok(Json(AuditReply { entries, more }).into_response());
    }
    let bytes = audit_csv(&entries).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"yui-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

/// Columns: 番号 (the entry's id), 日時 (JST, to the second), 操作者ID, 操作者, 操作 (the
/// action's code), ルーム, 対象.
fn audit_csv(entries: &[AuditEntry]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer("\u{FEFF}".as_bytes().to_vec());
    w.write_record([
        "番号",
        "日時",
        "操作者ID",
        "操作者",
        "操作",
        "ルーム",
        "対象",
    ])?;
    for e in entries {
        w.write_record([
            e.id.to_string().as_str(),
            &jst_seconds(e.at),
            e.actor.id.as_str(),
            &inert(e.actor.name.as_str()),
            e.action.as_str(),
            e.room.as_str(),
            e.target.as_ref().map(|t| t.as_str()).unwrap_or(""),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

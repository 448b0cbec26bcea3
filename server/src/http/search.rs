//! `GET /api/search` and `GET /api/rooms/{room}/export` (PROTOCOL.md 5.5).

use super::extract::Auth;
use super::room_id;
use crate::error::ApiError;
use crate::service::export::Export;
use crate::service::{export_csv, export_pdf};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use yui_protocol::search::{
    ExportFormat, ExportQuery, ExportRequest, SearchQuery, SearchReply, SearchRequest,
};
use yui_protocol::ErrorCode;

pub async fn search(
    Auth(who): Auth,
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchReply>, ApiError> {
    let req = SearchRequest::try_from(q)?;
    let (results, more) = state.service.search(&who, req).await?;
    Ok(Json(SearchReply { results, more }))
}

pub async fn export(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let room = room_id(&room)?;
    let req = ExportRequest::try_from(q)?;
    // The font first: an export that cannot be made is not in the access log.
    let font = match req.format {
        ExportFormat::Csv => None,
        ExportFormat::Pdf => Some(read_font(&state).await?),
    };
    let export = state.service.export(&who, &room, &req).await?;
    let name = format!(
        "yui-{}-{}-{}",
        room.as_str(),
        req.from.format("%Y%m%d"),
        req.to.format("%Y%m%d")
    );
    let (bytes, content_type, ext) = match font {
        None => (
            export_csv::render(&export).map_err(|e| ApiError::Internal(e.into()))?,
            "text/csv; charset=utf-8",
            "csv",
        ),
        Some(font) => (render_pdf(export, font).await?, "application/pdf", "pdf"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

async fn read_font(state: &AppState) -> Result<Vec<u8>, ApiError> {
    match tokio::fs::read(&state.export_font).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            tracing::error!(
                path = %state.export_font.display(),
                error = %e,
                "PDF export: no font (install fonts-ipaexfont-gothic or set --export-font)"
            );
            Err(ApiError::new(
                ErrorCode::Unavailable,
                "PDF export is not available: the hub has no Japanese font installed \
                 (CSV export works)",
            ))
        }
    }
}

/// Lays the PDF out off the async threads (a long record takes a while).
async fn render_pdf(export: Export, font: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    tokio::task::spawn_blocking(move || export_pdf::render(&export, font))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))
}

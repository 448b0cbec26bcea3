//! `GET` and `POST /api/rooms/{room}/messages`, `GET /api/rooms/{room}/receipts`, and a
//! message's confirmations (`POST …/messages/{seq}/confirm`, `GET …/messages/{seq}/confirms`).

use super::extract::{Auth, JsonBody};
use super::room_id;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use yui_protocol::http::{
    seq_param, ConfirmReply, ConfirmsReply, MessagesReply, PageQuery, PageRequest, PostBody,
    PostReply, PostRequest, ReceiptsQuery, ReceiptsReply, ReceiptsRequest,
};

pub async fn get_messages(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<MessagesReply>, ApiError> {
    let room = room_id(&room)?;
    let page = PageRequest::try_from(q)?;
    let (messages, more) = state
        .service
        .history(&who, &room, page.before, page.limit)
        .await?;
    Ok(Json(MessagesReply { messages, more }))
}

pub async fn post_message(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<PostBody>,
) -> Result<(StatusCode, Json<PostReply>), ApiError> {
    let room = room_id(&room)?;
    let post = PostRequest::try_from(body)?;
    let (m, new) = state.service.post(&who, &room, post).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let reply = PostReply {
        seq: m.seq,
        id: m.id,
        at: m.at,
    };
    Ok((status, Json(reply)))
}

pub async fn get_receipts(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(q): Query<ReceiptsQuery>,
) -> Result<Json<ReceiptsReply>, ApiError> {
    let room = room_id(&room)?;
    let q = ReceiptsRequest::try_from(q)?;
    let r = state.service.receipts(&who, &room, q.seq).await?;
    Ok(Json(ReceiptsReply {
        audience: r.audience,
        readers: r.readers,
        pending: r.pending,
    }))
}

/// `POST /api/rooms/{room}/messages/{seq}/confirm`: as the `confirm` frame; 200 `{"seq"}`,
/// the same for a second confirmation (which changes nothing).
pub async fn confirm(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, seq)): Path<(String, String)>,
) -> Result<Json<ConfirmReply>, ApiError> {
    let room = room_id(&room)?;
    let seq = seq_param(&seq)?;
    let seq = state.service.confirm(&who, &room, seq).await?;
    Ok(Json(ConfirmReply { seq }))
}

/// `GET /api/rooms/{room}/messages/{seq}/confirms`: as the `confirms` frame.
pub async fn get_confirms(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, seq)): Path<(String, String)>,
) -> Result<Json<ConfirmsReply>, ApiError> {
    let room = room_id(&room)?;
    let seq = seq_param(&seq)?;
    let users = state.service.confirms(&who, &room, seq).await?;
    Ok(Json(ConfirmsReply { seq, users }))
}

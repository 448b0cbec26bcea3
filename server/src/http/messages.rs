//! `GET` and `POST /api/rooms/{room}/messages`, `GET /api/rooms/{room}/receipts`.

use super::extract::{Auth, JsonBody};
use super::room_id;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use yui_protocol::http::{
    MessagesReply, PageQuery, PageRequest, PostBody, PostReply, PostRequest, ReceiptsReply,
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
) -> Result<Json<ReceiptsReply>, ApiError> {
    let room = room_id(&room)?;
    let (audience, readers) = state.service.receipts(&who, &room).await?;
    Ok(Json(ReceiptsReply {
        audience,
        readers,
        pending: None,
    }))
}

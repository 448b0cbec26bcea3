//! `PUT` and `DELETE /api/rooms/{room}/members/{user}`.

use super::extract::{Auth, JsonBody};
use super::room_id;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use yui_protocol::http::{PutMemberBody, PutMemberRequest};
use yui_protocol::ids::UserId;

pub async fn put_member(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutMemberBody>,
) -> Result<StatusCode, ApiError> {
    let room = room_id(&room)?;
    let user = UserId::parse(user)?;
    let req = PutMemberRequest::try_from(body)?;
    state.service.put_member(&who, room, user, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_member(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let room = room_id(&room)?;
    let user = UserId::parse(user)?;
    state.service.remove_member(&who, room, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

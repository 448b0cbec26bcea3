//! `PUT` and `GET /api/rooms/{room}`, `GET /api/me/rooms`.

use super::extract::{Auth, JsonBody};
use super::room_id;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use yui_protocol::http::{PutRoomBody, PutRoomRequest, RoomReply, RoomsReply};

pub async fn put_room(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<PutRoomBody>,
) -> Result<(StatusCode, Json<RoomReply>), ApiError> {
    let room = room_id(&room)?;
    let req = PutRoomRequest::try_from(body)?;
    let (created, reply) = state.service.put_room(&who, &room, req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(reply)))
}

pub async fn get_room(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<RoomReply>, ApiError> {
    let room = room_id(&room)?;
    Ok(Json(state.service.room(&who, &room).await?))
}

pub async fn my_rooms(
    Auth(who): Auth,
    State(state): State<AppState>,
) -> Result<Json<RoomsReply>, ApiError> {
    let rooms = state.service.rooms_of(&who).await?;
    Ok(Json(RoomsReply { rooms }))
}

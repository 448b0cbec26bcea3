//! PROTOCOL.md 5.4 and the mute of 5.5: `PUT /api/rooms/{room}/resident`,
//! `/api/rooms/{room}/consents` (record, list, withdraw), `GET /api/towns/{town}/users`,
//! `PUT /api/me/rooms/{room}/settings`.

use super::extract::{Auth, JsonBody};
use super::room_id;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use yui_protocol::ids::TownId;
use yui_protocol::town::{
    Consent, ConsentBody, ConsentRequest, ConsentsReply, DirectoryQuery, DirectoryReply,
    DirectoryRequest, ResidentBody, ResidentProfile, ResidentRequest, RoomSettings, SettingsBody,
    SettingsRequest, WithdrawBody, WithdrawRequest,
};

pub async fn put_resident(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<ResidentBody>,
) -> Result<Json<ResidentProfile>, ApiError> {
    let room = room_id(&room)?;
    let req = ResidentRequest::try_from(body)?;
    Ok(Json(state.service.put_resident(&who, &room, req).await?))
}

pub async fn post_consent(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<ConsentBody>,
) -> Result<(StatusCode, Json<Consent>), ApiError> {
    let room = room_id(&room)?;
    let req = ConsentRequest::try_from(body)?;
    let consent = state.service.record_consent(&who, &room, req).await?;
    Ok((StatusCode::CREATED, Json(consent)))
}

pub async fn get_consents(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<ConsentsReply>, ApiError> {
    let room = room_id(&room)?;
    let consents = state.service.consents(&who, &room).await?;
    Ok(Json(ConsentsReply { consents }))
}

pub async fn withdraw_consent(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<WithdrawBody>,
) -> Result<Json<Consent>, ApiError> {
    let room = room_id(&room)?;
    let id = yui_protocol::town::consent_id("consent id", id)?;
    let req = WithdrawRequest::try_from(body)?;
    Ok(Json(
        state
            .service
            .withdraw_consent(&who, &room, &id, req)
            .await?,
    ))
}

pub async fn town_users(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(town): Path<String>,
    Query(q): Query<DirectoryQuery>,
) -> Result<Json<DirectoryReply>, ApiError> {
    let town = TownId::parse(town)?;
    let req = DirectoryRequest::try_from(q)?;
    Ok(Json(state.service.directory(&who, &town, req).await?))
}

pub async fn put_settings(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<SettingsBody>,
) -> Result<Json<RoomSettings>, ApiError> {
    let room = room_id(&room)?;
    let req = SettingsRequest::try_from(body)?;
    Ok(Json(state.service.put_settings(&who, &room, req).await?))
}

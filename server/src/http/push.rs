//! `POST` and `DELETE /api/me/push`: the caller's Web Push subscriptions (PROTOCOL.md 5.6).

use super::extract::{Auth, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use yui_protocol::push::{MySettings, SubscribeBody, UnsubscribeBody};

pub async fn subscribe(
    Auth(who): Auth,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SubscribeBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let endpoint = body.endpoint.clone();
    state.push.subscribe(&who, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "endpoint": endpoint })),
    ))
}

pub async fn unsubscribe(
    Auth(who): Auth,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<UnsubscribeBody>,
) -> Result<StatusCode, ApiError> {
    state.push.unsubscribe(&who, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_settings(
    Auth(who): Auth,
    State(state): State<AppState>,
) -> Result<Json<MySettings>, ApiError> {
    Ok(Json(state.push.settings_of(&who).await?))
}

pub async fn put_settings(
    Auth(who): Auth,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MySettings>,
) -> Result<Json<MySettings>, ApiError> {
    Ok(Json(state.push.put_settings(&who, body).await?))
}

//! Operations endpoints: liveness, readiness, Prometheus metrics, and the demo sign-in list.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use std::time::Duration;
use yui_protocol::http::ReadyReply;

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the store and the bus answer (and the node is not draining), else 503.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let limit = Duration::from_secs(2);
    let store = answer(tokio::time::timeout(limit, state.service.ping_store()).await);
    let bus = answer(tokio::time::timeout(limit, state.service.ping_bus()).await);
    let draining = state.shutdown.is_cancelled();
    let ready = store == "ok" && bus == "ok" && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let reply = ReadyReply {
        ready,
        store,
        bus,
        draining,
        node: state.node.clone(),
    };
    (status, Json(reply))
}

fn answer(r: Result<Result<(), String>, tokio::time::error::Elapsed>) -> String {
    match r {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => e,
        Err(_) => "timeout".to_string(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("yui_connections_open").set(state.service.connection_count() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// `GET /api/demo/users`: the demo sign-in list, only in `--demo`.
pub async fn demo_users(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match &state.demo_users {
        Some(users) => Ok(Json(serde_json::json!({ "users": users }))),
        None => Err(ApiError::new(
            yui_protocol::ErrorCode::NotFound,
            "not a demo hub",
        )),
    }
}

/// `GET /api/config` (anyone): what a client needs to know about this hub before signing in.
#[derive(Debug, serde::Serialize)]
pub struct ConfigReply {
    pub demo: bool,
    /// The hub's Web Push key (5.6): base64url of the uncompressed P-256 point.
    pub vapid_public_key: Option<String>,
    pub max_attachment_bytes: u64,
    /// `--require-consent` (5.4).
    pub require_consent: bool,
}

pub async fn config(State(state): State<AppState>) -> Json<ConfigReply> {
    Json(ConfigReply {
        demo: state.demo_users.is_some(),
        vapid_public_key: Some(state.push.public_key().to_owned()),
        max_attachment_bytes: state.service.max_attachment_bytes() as u64,
        require_consent: state.service.require_consent(),
    })
}

//! The HTTP side: the API of PROTOCOL.md section 4, health, metrics and the static browser
//! client, in one router built apart from serving ([`app`]). One module per resource; each
//! handler takes [`Auth`] first (a request without a valid token is 401 before anything else
//! is looked at), parses its body into a validated `yui_protocol::http` request, calls the
//! room service and answers with a typed reply.
//!
//! - [`rooms`] serves `/api/rooms/{room}`, `/api/me/rooms`.
//! - [`members`] serves `/api/rooms/{room}/members/{user}`.
//! - [`messages`] serves `/api/rooms/{room}/messages`, `/api/rooms/{room}/receipts`,
//!   `/api/rooms/{room}/messages/{seq}/confirm` and `…/confirms`.
//! - [`attachments`] serves `/api/rooms/{room}/attachments` (upload) and
//!   `/api/attachments/{id}` (download).
//! - [`audit`] serves `/api/audit`.
//! - [`town`] serves `/api/rooms/{room}/resident`, `/api/rooms/{room}/consents…`,
//!   `/api/towns/{town}/users`, `/api/me/rooms/{room}/settings` (PROTOCOL.md 5.4, 5.5).
//! - [`search`] serves `/api/search`, `/api/rooms/{room}/export`.
//! - [`ops`] serves `/healthz`, `/readyz`, `/metrics`, `/api/config`, `/api/demo/users`.
//! - [`push`] serves `/api/me/push` (Web Push subscriptions) and `/api/me/settings` (email
//!   digests), PROTOCOL.md 5.6.
//! - [`extract`]: the bearer token (and the user's rate limit) and JSON body extractors.
//! - [`edge`]: what every request passes first (PROTOCOL.md 5.1): the body limit while
//!   reading, the security headers, the WebSocket `Origin` check, the per-user rate limiter.
//! - [`serve`]: the accept loop: header-read timeout, the cap on connections still in their
//!   first request, accept errors that neither spin nor stop it, graceful shutdown.

mod attachments;
mod audit;
pub mod edge;
mod extract;
mod members;
mod messages;
mod ops;
mod push;
mod rooms;
mod search;
pub mod serve;
mod town;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use edge::Edge;
use std::sync::Arc;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use yui_protocol::ids::RoomId;
use yui_protocol::ErrorCode;

pub use extract::Auth;

/// The hub's whole router; `ws` is the WebSocket endpoint (`crate::ws::routes`), given by the
/// caller so that nothing here imports the socket side, and `edge` what guards every request.
pub fn app(state: AppState, ws: Router<AppState>, edge: Arc<Edge>) -> Router {
    let api = Router::new()
        .route("/rooms/{room}", put(rooms::put_room).get(rooms::get_room))
        .route(
            "/rooms/{room}/members/{user}",
            put(members::put_member).delete(members::delete_member),
        )
        .route(
            "/rooms/{room}/messages",
            get(messages::get_messages).post(messages::post_message),
        )
        .route("/rooms/{room}/receipts", get(messages::get_receipts))
        .route("/rooms/{room}/export", get(search::export))
        .route("/search", get(search::search))
        .route("/rooms/{room}/attachments", post(attachments::upload))
        .route("/attachments/{id}", get(attachments::download))
        .route(
            "/rooms/{room}/messages/{seq}/confirm",
            post(messages::confirm),
        )
        .route(
            "/rooms/{room}/messages/{seq}/confirms",
            get(messages::get_confirms),
        )
        .route("/me/rooms", get(rooms::my_rooms))
        .route("/me/push", post(push::subscribe).delete(push::unsubscribe))
        .route(
            "/me/settings",
            get(push::get_settings).put(push::put_settings),
        )
        .route("/rooms/{room}/resident", put(town::put_resident))
        .route(
            "/rooms/{room}/consents",
            get(town::get_consents).post(town::post_consent),
        )
        .route(
            "/rooms/{room}/consents/{id}/withdraw",
            post(town::withdraw_consent),
        )
        .route("/towns/{town}/users", get(town::town_users))
        .route("/me/rooms/{room}/settings", put(town::put_settings))
        .route("/audit", get(audit::audit))
        .route("/config", get(ops::config))
        .route("/demo/users", get(ops::demo_users))
        .fallback(unknown);
    let mut router = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(ws.route_layer(from_fn_with_state(edge.clone(), edge::check_origin)))
        .nest("/api", api)
        // The limit is `edge::limit_body`'s, applied to every route; axum's own default
        // (2 MB, a plain-text answer) would only hide it.
        .layer(DefaultBodyLimit::disable());
    if let Some(dir) = &state.web_dir {
        router = router.fallback_service(ServeDir::new(dir));
    }
    router
        .layer(from_fn_with_state(edge.clone(), edge::limit_body))
        .layer(Extension(edge))
        .layer(from_fn(edge::security_headers))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let path = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("static");
                tracing::info_span!("http", method = %req.method(), path)
            }),
        )
        .with_state(state)
}

fn room_id(raw: &str) -> Result<RoomId, ApiError> {
    Ok(RoomId::parse(raw)?)
}

async fn unknown(_auth: Auth) -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

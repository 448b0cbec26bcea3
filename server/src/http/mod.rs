//! The HTTP side: the API of PROTOCOL.md section 4, health, metrics and the static browser
//! client, in one router built apart from serving ([`app`]). One module per resource; each
//! handler takes [`Auth`] first (a request without a valid token is 401 before anything else
//! is looked at), parses its body into a validated `yui_protocol::http` request, calls the
//! room service and answers with a typed reply.
//!
//! - [`rooms`] serves `/api/rooms/{room}`, `/api/me/rooms`.
//! - [`members`] serves `/api/rooms/{room}/members/{user}`.
//! - [`messages`] serves `/api/rooms/{room}/messages`, `/api/rooms/{room}/receipts`.
//! - [`audit`] serves `/api/audit`.
//! - [`ops`] serves `/healthz`, `/readyz`, `/metrics`, `/api/demo/users`.
//! - [`extract`]: the bearer token and JSON body extractors.

mod audit;
mod extract;
mod members;
mod messages;
mod ops;
mod rooms;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::routing::{get, put};
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use yui_protocol::ids::RoomId;
use yui_protocol::ErrorCode;

pub use extract::Auth;

/// The hub's whole router; `ws` is the WebSocket endpoint (`crate::ws::routes`), given by the
/// caller so that nothing here imports the socket side.
pub fn app(state: AppState, ws: Router<AppState>) -> Router {
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
        .route("/me/rooms", get(rooms::my_rooms))
        .route("/audit", get(audit::audit))
        .route("/demo/users", get(ops::demo_users))
        .fallback(unknown);
    let mut router = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(ws)
        .nest("/api", api)
        .layer(DefaultBodyLimit::disable());
    if let Some(dir) = &state.web_dir {
        router = router.fallback_service(ServeDir::new(dir));
    }
    router
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

//! The HTTP side: the API of PROTOCOL.md section 4, health, metrics, the WebSocket endpoint
//! and the static browser client, in one router built apart from serving ([`app`]).

mod api;
mod extract;
mod ops;

use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::routing::{get, put};
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use extract::Auth;

/// The hub's whole router.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/rooms/{room}", put(api::put_room).get(api::get_room))
        .route(
            "/rooms/{room}/members/{user}",
            put(api::put_member).delete(api::delete_member),
        )
        .route(
            "/rooms/{room}/messages",
            get(api::get_messages).post(api::post_message),
        )
        .route("/rooms/{room}/receipts", get(api::get_receipts))
        .route("/me/rooms", get(api::my_rooms))
        .route("/audit", get(api::audit))
        .route("/demo/users", get(ops::demo_users))
        .fallback(api::unknown);
    let mut router = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/ws", get(crate::ws::upgrade))
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

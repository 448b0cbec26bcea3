//! WebSocket connections (`GET /ws`): one task pair per connection.
//!
//! - [`handshake`]: the upgrade, `hello` and `welcome`, then the two tasks.
//! - [`session`]: the read loop (rate limit, parse, bad-frame streak, expiry).
//! - [`commands`]: one small function per frame type, each calling the room service.
//! - [`writer`]: the write loop, draining the connection's bounded queue (the hub's
//!   [`crate::hub::conn`]) into the socket.
//! - [`rate`]: the per-connection token bucket.

mod commands;
pub mod handshake;
pub mod rate;
pub mod session;
pub mod writer;

use crate::state::AppState;
use axum::routing::get;
use axum::Router;

pub use handshake::upgrade;

/// The WebSocket endpoint, merged into the HTTP router by [`crate::app`].
pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

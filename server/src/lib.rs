//! Yui (結): a real-time messaging hub for the people who keep a town's residents living at
//! home. The wire contract is `docs/protocol.md`; the types are in `yui-protocol`.
//!
//! # Layout
//! - [`config`]: the command line (`yui serve`, `yui token`, `yui migrate`), every flag an env var.
//! - [`app`]: building a hub from configuration and serving it until shutdown.
//! - [`auth`]: verifying (and minting) JWTs.
//! - [`store`]: the `Store` trait and its `sqlite` and `postgres` implementations.
//! - [`bus`]: the `Bus` trait and its `local` and `redis` implementations.
//! - [`committer`]: group commit of posts and read positions; ack only after commit.
//! - [`hub`]: subscriptions, room access, and the dispatcher that fans events out in seq order.
//! - [`ws`]: one task pair per WebSocket connection (read loop, write loop, bounded queue).
//! - [`http`]: the axum router: HTTP API, health, metrics, static client.
//! - [`service`]: the room operations both `ws` and `http` use, with their permission checks.
//! - [`error`]: the one error type, mapped to protocol codes and HTTP statuses.
//! - [`demo`]: the demo town.
//! - [`state`], [`shutdown`]: shared state and the shutdown signal.

pub mod app;
pub mod auth;
pub mod bus;
pub mod committer;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod hub;
pub mod service;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod ws;

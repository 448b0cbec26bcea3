//! Yui (結): a real-time messaging hub for the people who keep a town's residents living at
//! home. The wire contract is `docs/protocol.md`; the types are in `yui-protocol`. The modules,
//! the dependency rule and the path of a post: `docs/architecture.md`.
//!
//! # Layout
//! - [`app`]: building a hub from configuration and serving it until shutdown; `main.rs` only
//!   parses the command line and calls [`app::run`].
//! - [`service`]: the room service: every room operation (post, read, history, subscribe,
//!   receipts, rooms, members, the access log) with its permission check and its events, for
//!   `ws` and `http` alike.
//! - [`access`]: the permission rules and the versioned cache of rooms and members they read.
//! - [`hub`]: delivery: connection handles and queues ([`hub::conn`]), the registry of
//!   connections and subscriptions, the dispatcher that fans events out in seq order, and the
//!   one seq/gap logic ([`hub::cursor`]).
//! - [`committer`]: group commit of posts and read positions; ack only after commit.
//! - [`indexer`]: the search index follower: writes the index entries of committed messages
//!   after the ack, many per transaction.
//! - [`store`]: the `Store` trait, the typed group-commit `plan`, and its `sqlite` (rusqlite,
//!   one writer thread) and `postgres` (sqlx) implementations, each split by concern.
//! - [`bus`]: the `Bus` trait and its `local` and `redis` implementations.
//! - [`ws`]: one task pair per WebSocket connection: handshake, read loop (session), one
//!   function per frame type (commands), write loop (writer).
//! - [`http`]: the axum router, one module per resource, health, metrics, static client.
//! - [`push`]: Web Push (PROTOCOL.md 5.6): the VAPID key, the fan-out of committed messages to
//!   the outbox, presence across nodes, the sender (claims with a lease, RFC 8291 encryption).
//! - [`error`]: the one error type, mapped to protocol codes and HTTP statuses.
//! - [`config`]: the command line (`yui serve`, `yui token`, `yui migrate`), every flag an env
//!   var, and [`config::ServeArgs::new`], its typed form.
//! - [`auth`]: verifying (and minting) JWTs.
//! - [`demo`]: the demo town.
//! - [`state`], [`shutdown`]: the shared handle and the shutdown signal.
//!
//! The dependency rule (`scripts/check-deps.sh`, run in CI): `ws` and `http` call `service`;
//! `service` calls `hub`, `committer`, `store`; `hub` calls `bus` and `store`; nothing
//! imports `ws` or `http`.

pub mod access;
pub mod app;
pub mod attachments;
pub mod auth;
pub mod bus;
pub mod committer;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod hub;
pub mod indexer;
pub mod push;
pub mod service;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod ws;

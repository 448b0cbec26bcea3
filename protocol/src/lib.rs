//! The Yui wire protocol (version 1.1) as types.
//!
//! Everything that crosses the wire is parsed and validated here, so the hub, the load tester and
//! the tests share one definition and inner code never re-checks.
//!
//! # Layout
//! - [`ids`]: validated newtypes (room, user, town and client ids, bodies, titles, names, refs,
//!   file names).
//! - [`model`]: enums and records of the domain (professions, roles, messages, room summaries).
//! - [`post`]: a post as sent ([`post::PostFields`]) and validated ([`post::NewPost`]): priority,
//!   mentions, attachments, revisions (PROTOCOL.md 5.2).
//! - [`claims`]: the JWT claims a token carries and the [`claims::Identity`] they validate into.
//! - [`client`]: frames a client sends, parsed with precise errors ([`client::parse_frame`]).
//! - [`server`]: replies and events the hub sends.
//! - [`http`]: the HTTP API's request bodies (validated) and replies.
//! - [`push`]: Web Push subscriptions and the push payload (PROTOCOL.md 5.6).
//! - [`error`]: error codes, with their HTTP statuses.
//! - [`text`]: the text rules of PROTOCOL.md 5.1 every string type applies, and the JSON entry
//!   points that name the field of any failure (a lone surrogate included).
//! - [`limits`]: default limits and close codes.
//! - [`town`]: residents' profiles, consents, the town directory, room settings (5.4, 5.5).

pub mod claims;
pub mod client;
pub mod error;
pub mod http;
pub mod ids;
pub mod limits;
pub mod model;
pub mod post;
pub mod push;
pub mod search;
pub mod server;
pub mod text;
pub mod town;

pub use error::ErrorCode;

//! End-to-end tests of one hub: a real `yui` on an ephemeral port (in-process, or as a real
//! process where it gets killed), a real WebSocket client and a real HTTP client.
//! With `YUI_TEST_BACKEND=cluster` the same tests run on Postgres and Redis.

mod attachments;
mod care_notes;
mod cli;
mod delivery;
mod edge;
mod http_api;
mod limits;
mod membership;
mod protocol_edges;
mod restart;
mod search_export;
mod session;
mod text_rules;
mod town;

//! Fault tests: the hub under a hostile environment (a full disk, I/O errors, a database file
//! deleted under it, Postgres backends terminated, two hubs on one data directory). Each checks
//! the promise that matters: an ack means durable, a seq is never given to two messages, and
//! `/readyz` says so while the store cannot commit.

mod attachments;
mod disk;
mod isolation;
mod lock;
mod postgres;

/// The hub's logs in a failing test's output, at `YUI_TEST_LOG` (default `warn`).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(
                std::env::var("YUI_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

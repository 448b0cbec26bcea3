//! The search index follower (PROTOCOL.md 5.5): a group commit only queues its new messages for
//! the search index; this task writes their index entries after the posts are acked, many
//! messages per transaction, so a post's commit does not pay for term extraction, an FTS5
//! segment or some fifty GIN entries. Woken by the committer after a batch with new posts (it
//! then waits [`GATHER`] so that one run takes several batches), and every [`IDLE_CHECK`]
//! whatever happens, for messages queued by another node or left queued by a hub that stopped.
//! A search does not wait for it: the store indexes what is still queued before it reads.

use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Messages indexed per transaction.
const BATCH: usize = 1000;

/// How long a wake-up waits for more posts before indexing.
const GATHER: Duration = Duration::from_millis(250);

/// How often the queue is looked at when nothing wakes the follower.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Starts the follower; notify the returned handle after a commit that queued messages.
pub fn spawn(
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> (Arc<Notify>, tokio::task::JoinHandle<()>) {
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(run(store, wake.clone(), shutdown));
    (wake, task)
}

async fn run(store: Arc<dyn Store>, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(IDLE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = wake.notified() => {
                tokio::select! {
                    _ = tokio::time::sleep(GATHER) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => {}
        }
        index_queued(store.as_ref()).await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Indexes until the queue is empty or the store refuses (then the rows stay queued and are
/// tried again at the next wake-up: nothing is lost, a search meanwhile indexes them itself or
/// answers from what is indexed).
async fn index_queued(store: &dyn Store) {
    loop {
        let started = std::time::Instant::now();
        let result = store.index_search(BATCH).await;
        // The writer (embedded) runs an index job between two commits: posts wait for it.
        metrics::histogram!("yui_search_index_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(n) => {
                metrics::counter!("yui_search_indexed_total").increment(n as u64);
                if n < BATCH {
                    return;
                }
            }
            Err(e) => {
                metrics::counter!("yui_search_index_errors_total").increment(1);
                tracing::warn!(error = %e, "search index: queued messages not indexed yet; retried");
                return;
            }
        }
    }
}

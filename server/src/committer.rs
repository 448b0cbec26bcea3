//! Group commit: posts and read positions from every connection are queued here and committed
//! many to a transaction, so durable throughput is not one fsync per write. Each writer gets
//! its outcome only after its batch is committed (ack means durable); then the events are
//! handed to the hub (this node) and the bus (other nodes), in commit order.

use crate::bus::BusEvent;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::{Store, StoreError, Write, WriteOutcome};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Notify};
use yui_protocol::model::UserName;

const QUEUE: usize = 8192;

struct Job {
    write: Write,
    /// The reader, for the `receipt` event a moved read position causes.
    reader: Option<UserName>,
    reply: oneshot::Sender<Result<WriteOutcome, ApiError>>,
}

/// A handle to the committer task. Cloneable; the task ends when every handle is dropped,
/// after committing what was queued.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// `indexed` is notified after each batch that committed new posts (the search index
    /// follower, [`crate::indexer`], writes their index entries then).
    pub fn spawn(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        max_batch: usize,
        indexed: Arc<Notify>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, hub, rx, max_batch.max(1), indexed));
        (Committer { tx }, task)
    }

    /// Commits one write and returns its outcome once it is durable.
    pub async fn commit(
        &self,
        write: Write,
        reader: Option<UserName>,
    ) -> Result<WriteOutcome, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                write,
                reader,
                reply,
            })
            .await
            .map_err(|_| ApiError::Unavailable(anyhow::anyhow!("node is shutting down")))?;
        rx.await
            .map_err(|_| ApiError::Unavailable(anyhow::anyhow!("commit abandoned at shutdown")))?
    }
}

async fn run(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    indexed: Arc<Notify>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let writes: Vec<Write> = jobs.iter().map(|j| j.write.clone()).collect();
        let results = commit_isolating(store.as_ref(), &writes).await;
        let mut events = Vec::new();
        for (job, result) in jobs.drain(..).zip(results) {
            if let Ok(outcome) = &result {
                match outcome {
                    WriteOutcome::Posted {
                        message,
                        new: true,
                        members_version,
                    } => {
                        metrics::counter!("yui_posts_committed_total").increment(1);
                        events.push(BusEvent::Message {
                            message: Arc::new(message.clone()),
                            members_version: *members_version,
                        });
                    }
                    WriteOutcome::Read {
                        seq,
                        moved: true,
                        at,
                    } => {
                        if let (Write::Read { room, .. }, Some(user)) = (&job.write, job.reader) {
                            events.push(BusEvent::Receipt {
                                room: room.clone(),
                                user,
                                seq: *seq,
                                at: *at,
                            });
                        }
                    }
                    _ => {}
                }
            }
            let _ = job.reply.send(result);
        }
        if events.iter().any(|e| matches!(e, BusEvent::Message { .. })) {
            indexed.notify_one();
        }
        for event in events {
            hub.emit(event).await;
        }
    }
}

/// Commits `writes` as one group and returns a result per write, in order. When the group
/// fails for one of its writes (an error that is not `unavailable`: the database refused a
/// row), it is split in halves and each half committed again, down to single writes, so only
/// the writes that fail on their own fail; the others commit, still in batch order (the first
/// half before the second), so seq order stays commit order. An `unavailable` failure fails
/// the whole group (retrying would only fail again; the clients retry). Each level of the split
/// is a transaction that committed nothing, so nothing is written twice.
fn commit_isolating<'a>(
    store: &'a dyn Store,
    writes: &'a [Write],
) -> futures::future::BoxFuture<'a, Vec<Result<WriteOutcome, ApiError>>> {
    Box::pin(async move {
        let started = Instant::now();
        let result = store.commit(writes).await;
        metrics::histogram!("yui_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("yui_commit_batch_size").record(writes.len() as f64);
        match result {
            Ok(outcomes) if outcomes.len() == writes.len() => {
                outcomes.into_iter().map(Ok).collect()
            }
            Ok(outcomes) => {
                let n = outcomes.len();
                writes
                    .iter()
                    .map(|_| {
                        Err(ApiError::Internal(anyhow::anyhow!(
                            "store returned {n} outcomes for a batch of {}",
                            writes.len()
                        )))
                    })
                    .collect()
            }
            // A write refused on its own (it names rows it may not use) is the client's
            // mistake, told as such.
            Err(e @ StoreError::Refused(_)) if writes.len() == 1 => vec![Err(ApiError::from(e))],
            Err(e) if matches!(e, StoreError::Unavailable(_)) || writes.len() == 1 => {
                let cause = format!("{e:#}");
                tracing::warn!(error = %cause, writes = writes.len(), "group commit failed");
                let unavailable = matches!(e, StoreError::Unavailable(_));
                writes
                    .iter()
                    .map(|_| {
                        let err = anyhow::anyhow!("commit failed: {cause}");
                        Err(if unavailable {
                            ApiError::Unavailable(err)
                        } else {
                            ApiError::Internal(err)
                        })
                    })
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), writes = writes.len(), "group commit failed; isolating the failing write");
                metrics::counter!("yui_commit_isolations_total").increment(1);
                let (first, second) = writes.split_at(writes.len() / 2);
                let mut results = commit_isolating(store, first).await;
                results.extend(commit_isolating(store, second).await);
                results
            }
        }
    })
}

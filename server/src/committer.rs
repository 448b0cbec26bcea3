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
use tokio::sync::{mpsc, oneshot};
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
    pub fn spawn(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        max_batch: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, hub, rx, max_batch.max(1)));
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

async fn run(store: Arc<dyn Store>, hub: Arc<Hub>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let writes: Vec<Write> = jobs.iter().map(|j| j.write.clone()).collect();
        let started = Instant::now();
        let result = store.commit(&writes).await;
        metrics::histogram!("yui_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("yui_commit_batch_size").record(writes.len() as f64);
        match result {
            Ok(outcomes) if outcomes.len() == jobs.len() => {
                let mut events = Vec::new();
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    match &outcome {
                        WriteOutcome::Posted { message, new: true } => {
                            metrics::counter!("yui_posts_committed_total").increment(1);
                            events.push(BusEvent::Message {
                                message: Arc::new(message.clone()),
                            });
                        }
                        WriteOutcome::Read {
                            seq,
                            moved: true,
                            at,
                        } => {
                            if let (Write::Read { room, .. }, Some(user)) = (&job.write, job.reader)
                            {
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
                    let _ = job.reply.send(Ok(outcome));
                }
                for event in events {
                    hub.emit(event).await;
                }
            }
            Ok(outcomes) => {
                let n = outcomes.len();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(ApiError::Internal(anyhow::anyhow!(
                        "store returned {n} outcomes for a batch"
                    ))));
                }
            }
            Err(e) => {
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let cause = format!("{e:#}");
                tracing::warn!(error = %cause, writes = writes.len(), "group commit failed");
                for job in jobs.drain(..) {
                    let err = anyhow::anyhow!("commit failed: {cause}");
                    let _ = job.reply.send(Err(if unavailable {
                        ApiError::Unavailable(err)
                    } else {
                        ApiError::Internal(err)
                    }));
                }
            }
        }
    }
}

//! Group commit: posts and read positions from every connection are queued here and committed
//! many to a transaction, so durable throughput is not one fsync per write. Each writer gets
//! its outcome only after its batch is committed (ack means durable); then the events are
//! handed to the hub (this node) and the bus (other nodes), in commit order.
//!
//! A batch of reads only waits a little (`read_linger`) for more writes before it commits: a
//! read's ack and its `receipt` are seen by no one waiting on them, and read traffic is several
//! times the posts, so most reads then ride along with the next post's commit (and disk sync)
//! instead of each costing one of their own. Anything else (a post, an access-log entry) ends
//! the wait at once, and a post is never held for reads.

use crate::bus::BusEvent;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::{Store, StoreError, Write, WriteOutcome};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};
use yui_protocol::model::UserName;

const QUEUE: usize = 8192;

struct Job {
    write: Write,
    /// The reader, for the `receipt` event a moved read position causes.
    reader: Option<UserName>,
    reply: oneshot::Sender<Result<WriteOutcome, ApiError>>,
}

impl Job {
    /// Whether the job may wait for others before it commits (see the module's note).
    fn lingers(&self) -> bool {
        matches!(self.write, Write::Read { .. })
    }
}

/// How the committer gathers writes into one commit.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Most writes in one commit.
    pub max: usize,
    /// How long a batch of reads only waits for more writes (zero: not at all).
    pub read_linger: Duration,
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
        batching: Batching,
        indexed: Arc<Notify>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let batching = Batching {
            max: batching.max.max(1),
            ..batching
        };
        let task = tokio::spawn(run(store, hub, rx, batching, indexed));
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
    batching: Batching,
    indexed: Arc<Notify>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(batching.max);
    while next_batch(&mut rx, &mut jobs, batching).await > 0 {
        let writes: Vec<Write> = jobs.iter().map(|j| j.write.clone()).collect();
        let results = commit_isolating(store.as_ref(), &writes).await;
        // New messages reach their readers first: a batch may hold many reads that waited
        // for this post (see the module's note), and neither their acks nor their receipts
        // should delay it. A receipt names a message committed before it, so none is lost or
        // misread by coming after the batch's new messages.
        let mut messages = Vec::new();
        let mut receipts = Vec::new();
        let mut replies = Vec::new();
        for (job, result) in jobs.drain(..).zip(results) {
            let lingers = job.lingers();
            if let Ok(outcome) = &result {
                match outcome {
                    WriteOutcome::Posted {
                        message,
                        new: true,
                        members_version,
                    } => {
                        metrics::counter!("yui_posts_committed_total").increment(1);
                        messages.push(BusEvent::Message {
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
                            receipts.push(BusEvent::Receipt {
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
            if lingers {
                replies.push((job.reply, result));
            } else {
                let _ = job.reply.send(result);
            }
        }
        if !messages.is_empty() {
            indexed.notify_one();
        }
        for event in messages {
            hub.emit(event).await;
        }
        for (reply, result) in replies {
            let _ = reply.send(result);
        }
        for event in receipts {
            hub.emit(event).await;
        }
    }
}

/// Fills `jobs` (empty) with the next batch and returns its size; 0 when every handle is gone
/// and nothing is queued. Whatever is queued is taken at once; a batch of reads only then
/// waits up to `read_linger` for more, and is committed as soon as anything else joins it or
/// it is full.
async fn next_batch(
    rx: &mut mpsc::Receiver<Job>,
    jobs: &mut Vec<Job>,
    batching: Batching,
) -> usize {
    if rx.recv_many(jobs, batching.max).await == 0 {
        return 0;
    }
    if batching.read_linger.is_zero() {
        return jobs.len();
    }
    let deadline = tokio::time::Instant::now() + batching.read_linger;
    let mut checked = 0;
    while jobs.len() < batching.max && jobs[checked..].iter().all(Job::lingers) {
        checked = jobs.len();
        let more = rx.recv_many(jobs, batching.max - jobs.len());
        // `recv_many` is cancel safe: at the deadline nothing queued is lost.
        match tokio::time::timeout_at(deadline, more).await {
            Ok(n) if n > 0 => {}
            // The deadline, or every handle gone (what is held still commits).
            _ => break,
        }
    }
    jobs.len()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditRecord;
    use yui_protocol::ids::{Body, ClientId, Name, RoomId, UserId};
    use yui_protocol::model::{AuditAction, MessageKind, Priority, Profession, UserRef};

    fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn job(write: Write) -> Job {
        let (reply, _) = oneshot::channel();
        Job {
            write,
            reader: None,
            reply,
        }
    }

    fn read(seq: u64) -> Job {
        job(Write::Read {
            room: ok(RoomId::parse("room")),
            user: ok(UserId::parse(format!("reader{seq}"))),
            seq,
        })
    }

    fn post() -> Job {
        job(Write::Post {
            room: ok(RoomId::parse("room")),
            author: UserRef {
                id: ok(UserId::parse("nurse")),
                name: ok(Name::parse("佐藤")),
                profession: Profession::Nurse,
                org: ok(Name::parse("訪問看護ステーション")),
            },
            client_id: ok(ClientId::parse("c1")),
            kind: MessageKind::Note,
            body: Some(ok(Body::parse("訪問しました"))),
            priority: Priority::Normal,
            mentions: Vec::new(),
            revision: None,
            attachments: Vec::new(),
        })
    }

    fn audit() -> Job {
        job(Write::Audit(AuditRecord {
            actor: UserName {
                id: ok(UserId::parse("coord")),
                name: ok(Name::parse("山田")),
            },
            action: AuditAction::ReadHistory,
            room: ok(RoomId::parse("room")),
            target: None,
        }))
    }

    const LINGER: Duration = Duration::from_millis(20);

    fn batching(max: usize, read_linger: Duration) -> Batching {
        Batching { max, read_linger }
    }

    /// The paused clock advances only when every task waits: elapsed time is exactly what the
    /// batch waited for.
    #[tokio::test(start_paused = true)]
    async fn reads_wait_for_a_write_that_is_not_a_read() {
        let (tx, mut rx) = mpsc::channel(16);
        ok(tx.send(read(1)).await);
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ok(tx.send(read(2)).await);
            tokio::time::sleep(Duration::from_millis(5)).await;
            ok(tx.send(post()).await);
            // Queued after the batch ended: the next batch's.
            ok(tx.send(read(3)).await);
            tx
        });
        let started = tokio::time::Instant::now();
        let mut jobs = Vec::new();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 4);
        // recv_many takes everything queued, the read behind the post included; the batch
        // ended when the post arrived, not at the deadline.
        assert_eq!(started.elapsed(), Duration::from_millis(10));
        assert!(matches!(jobs[2].write, Write::Post { .. }));
        let _tx = ok(sender.await);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_alone_commit_at_the_deadline() {
        let (tx, mut rx) = mpsc::channel(16);
        ok(tx.send(read(1)).await);
        let started = tokio::time::Instant::now();
        let mut jobs = Vec::new();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 1);
        assert_eq!(started.elapsed(), LINGER);
        // Nothing is lost at the deadline: a read queued after it is the next batch.
        ok(tx.send(read(2)).await);
        jobs.clear();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 1);
        assert!(matches!(jobs[0].write, Write::Read { seq: 2, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_an_unlingering_one_and_a_closed_queue_commit_at_once() {
        let started = tokio::time::Instant::now();
        let (tx, mut rx) = mpsc::channel(16);
        for seq in 1..=3 {
            ok(tx.send(read(seq)).await);
        }
        let mut jobs = Vec::new();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(3, LINGER)).await, 3);
        assert_eq!(started.elapsed(), Duration::ZERO, "full");

        ok(tx.send(post()).await);
        jobs.clear();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 1);
        assert_eq!(started.elapsed(), Duration::ZERO, "a post never waits");

        ok(tx.send(read(4)).await);
        ok(tx.send(audit()).await);
        jobs.clear();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 2);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "an access-log entry ends the wait"
        );

        ok(tx.send(read(4)).await);
        jobs.clear();
        assert_eq!(
            next_batch(&mut rx, &mut jobs, batching(8, Duration::ZERO)).await,
            1
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "no linger");

        ok(tx.send(read(5)).await);
        drop(tx);
        jobs.clear();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 1);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "every handle gone: commit what is held"
        );
        jobs.clear();
        assert_eq!(next_batch(&mut rx, &mut jobs, batching(8, LINGER)).await, 0);
    }
}

//! Publishing off the commit path: [`Publisher::offer`] puts an event on a bounded queue and
//! returns at once; one task owns the publishing connection and sends what is queued in
//! pipelines, in queue order.
//!
//! What it cannot send is dropped and counted (`yui_bus_dropped_total`): the queue is full, or
//! Redis is down or slow. Other nodes recover a dropped event from the store: on the room's
//! next event (a gap), on their own resync when their subscriber connection comes back, and, for
//! drops they would otherwise not notice (this node's publishing connection failed while theirs
//! did not, or the queue overflowed), on the resync this node asks for on the control channel
//! with the first batch it sends after a drop.

use super::{BusError, BusEvent};
use async_trait::async_trait;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events waiting to be published. At 2 s of Redis trouble this holds thousands of posts/s.
pub const QUEUE: usize = 8192;
/// Most events sent in one pipeline.
const MAX_BATCH: usize = 512;
/// Longest wait for one pipeline; past it the batch counts as dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What travels on Redis: the publishing node's id and the event. A node ignores its own.
#[derive(Serialize)]
pub struct EnvelopeRef<'a> {
    pub o: &'a str,
    pub e: &'a BusEvent,
}

/// One message for Redis: a channel and its payload.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub channel: String,
    pub payload: String,
}

/// Where a batch goes: one Redis (`PUBLISH`) or a Redis Cluster (`SPUBLISH`).
#[async_trait]
pub trait Target: Send + 'static {
    /// Sends the batch in order. `Err`: some or all of it may not have arrived.
    async fn send(&mut self, batch: &[Outgoing]) -> Result<(), String>;

    /// The last send was abandoned (timed out): drop the connection, reconnect next time.
    fn reset(&mut self);
}

/// Maps an event to its channel (`None`: not published).
pub type Route = Box<dyn Fn(&BusEvent) -> Option<String> + Send + Sync>;

/// A handle to the publisher task; the task ends when this is dropped or `stop` fires.
pub struct Publisher {
    tx: mpsc::Sender<BusEvent>,
    dropped: Arc<AtomicBool>,
}

impl Publisher {
    /// Starts the task. `route` names each event's channel; `control` is where the resync
    /// request after a drop goes.
    pub fn spawn(
        target: impl Target,
        node: String,
        route: Route,
        control: String,
        stop: CancellationToken,
    ) -> Publisher {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicBool::new(false));
        let task = Task {
            target,
            node,
            route,
            control,
            dropped: dropped.clone(),
        };
        tokio::spawn(task.run(rx, stop));
        Publisher { tx, dropped }
    }

    /// Queues an event for the other nodes and returns at once. `Err` when the queue is full
    /// (the event is dropped and counted; the other nodes will be asked to resync).
    pub fn offer(&self, event: BusEvent) -> Result<(), BusError> {
        match self.tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("yui_bus_dropped_total").increment(1);
                self.dropped.store(true, Ordering::Release);
                Err(BusError::Unavailable("bus publisher queue full".into()))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::counter!("yui_bus_dropped_total").increment(1);
                Err(BusError::Unavailable("bus publisher stopped".into()))
            }
        }
    }
}

struct Task<T> {
    target: T,
    node: String,
    route: Route,
    control: String,
    /// Something was dropped since the last batch that reached Redis.
    dropped: Arc<AtomicBool>,
}

impl<T: Target> Task<T> {
    async fn run(mut self, mut rx: mpsc::Receiver<BusEvent>, stop: CancellationToken) {
        let mut events = Vec::with_capacity(MAX_BATCH);
        let mut batch: Vec<Outgoing> = Vec::with_capacity(MAX_BATCH + 1);
        let mut backoff = Duration::ZERO;
        let mut failing = false;
        loop {
            if !backoff.is_zero() {
                // Redis was unreachable: let events gather (the queue is bounded) and try again.
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
            let n = tokio::select! {
                _ = stop.cancelled() => return,
                n = rx.recv_many(&mut events, MAX_BATCH) => n,
            };
            if n == 0 {
                return;
            }
            batch.clear();
            for event in events.drain(..) {
                if let Some(o) = self.outgoing(&event) {
                    batch.push(o);
                }
            }
            let ask_resync = self.dropped.swap(false, Ordering::AcqRel);
            if ask_resync {
                if let Some(o) = self.resync_request() {
                    batch.push(o);
                }
            }
            if batch.is_empty() {
                continue;
            }
            let sent = match tokio::time::timeout(SEND_TIMEOUT, self.target.send(&batch)).await {
                Ok(r) => r,
                Err(_) => {
                    self.target.reset();
                    Err("Redis did not answer in time".into())
                }
            };
            match sent {
                Ok(()) => {
                    if failing {
                        tracing::info!("publishing to Redis again");
                        failing = false;
                    }
                    backoff = Duration::ZERO;
                }
                Err(e) => {
                    let lost = batch.len() - usize::from(ask_resync);
                    metrics::counter!("yui_bus_dropped_total").increment(lost as u64);
                    metrics::counter!("yui_bus_publish_errors_total").increment(1);
                    self.dropped.store(true, Ordering::Release);
                    if !failing {
                        tracing::warn!(error = %e, "publish to other nodes failed; they repair from the store");
                        failing = true;
                    }
                    backoff = (backoff * 2).clamp(Duration::from_millis(50), MAX_BACKOFF);
                }
            }
        }
    }

    fn outgoing(&self, event: &BusEvent) -> Option<Outgoing> {
        let channel = (self.route)(event)?;
        match serde_json::to_string(&EnvelopeRef {
            o: &self.node,
            e: event,
        }) {
            Ok(payload) => Some(Outgoing { channel, payload }),
            Err(e) => {
                tracing::warn!(error = %e, "bus event not serializable; dropped");
                metrics::counter!("yui_bus_dropped_total").increment(1);
                None
            }
        }
    }

    /// Asks every other node to check its rooms against the store (it cannot know what we
    /// dropped).
    fn resync_request(&self) -> Option<Outgoing> {
        serde_json::to_string(&EnvelopeRef {
            o: &self.node,
            e: &BusEvent::Resync,
        })
        .ok()
        .map(|payload| Outgoing {
            channel: self.control.clone(),
            payload,
        })
    }
}

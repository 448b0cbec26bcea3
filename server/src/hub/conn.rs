//! One connection as the hub sees it: its handle, its bounded outbound queue and what goes in
//! it, and its closer. The WebSocket side ([`crate::ws`]) drains the queue into the socket;
//! the hub only ever pushes [`Outbound`] items.

use axum::extract::ws::Utf8Bytes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{Ref, RoomId, TownId, UserId};
use yui_protocol::server::ServerFrame;

pub type ConnId = u64;

/// One item of a connection's bounded outbound queue. Every variant is one pointer, so an item
/// is 16 bytes: the queue's first block (32 items) is allocated for every connection, idle or
/// not.
#[derive(Debug)]
pub enum Outbound {
    /// A reply, or an event not tied to a subscription (`room_added`).
    Text(Box<Utf8Bytes>),
    /// A live event of a room, shared by every recipient on this node.
    Room(Arc<RoomEvent>),
    /// Start (or restart) a subscription: the write loop asks the service for the snapshot
    /// when it reaches this item (so the snapshot is read after every live event queued before
    /// it), replies `subscribed`, streams catch-up, and goes live.
    Subscribe(Box<SubscribeRequest>),
    /// Stop a subscription and send `text` (an `unsubscribed` frame).
    Unsubscribed(Box<Unsubscribed>),
}

/// A `message` (with its seq) or a `receipt` of a room. Dropped by a write loop unless the room
/// is subscribed there; messages are de-duplicated and gaps filled by seq.
#[derive(Debug)]
pub struct RoomEvent {
    pub room: RoomId,
    pub seq: Option<u64>,
    pub text: Utf8Bytes,
}

#[derive(Debug)]
pub struct SubscribeRequest {
    pub room: RoomId,
    pub since: Option<u64>,
    pub r#ref: Option<Ref>,
}

#[derive(Debug)]
pub struct Unsubscribed {
    pub room: RoomId,
    pub text: Utf8Bytes,
}

/// Why and how a connection is being closed; the first reason wins.
#[derive(Debug, Default)]
pub struct Closer {
    token: CancellationToken,
    code: AtomicU16,
    /// Set before the token is cancelled: [`Closer::is_closed`] runs for every subscriber of
    /// every delivered event, and the token's own check takes its lock.
    closed: AtomicBool,
}

impl Closer {
    pub fn close(&self, code: u16) {
        // Only the first close code is kept.
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.closed.store(true, Ordering::Release);
        self.token.cancel();
    }

    pub fn code(&self) -> Option<u16> {
        match self.code.load(Ordering::Acquire) {
            0 => None,
            c => Some(c),
        }
    }

    pub async fn closed(&self) {
        self.token.cancelled().await
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A handle to one connection, held by the hub's registries. Cheap to clone: every registry
/// entry is one pointer to the same [`Conn`].
#[derive(Debug, Clone)]
pub struct ConnHandle(Arc<Conn>);

/// What the hub knows of one connection.
#[derive(Debug)]
pub struct Conn {
    pub id: ConnId,
    pub user: UserId,
    /// Who the connection acts as: set at `hello`, replaced by each `refresh`. A std lock:
    /// never held across an await (readers clone the `Arc`).
    identity: RwLock<Arc<Identity>>,
    tx: mpsc::Sender<Outbound>,
    pub closer: Closer,
    /// Rooms this connection is subscribed to. A std mutex: never held across an await.
    subs: Mutex<HashSet<RoomId>>,
}

impl std::ops::Deref for ConnHandle {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl Outbound {
    pub fn text(t: Utf8Bytes) -> Self {
        Outbound::Text(Box::new(t))
    }
}

impl ConnHandle {
    pub fn new(id: ConnId, identity: Identity, tx: mpsc::Sender<Outbound>) -> Self {
        ConnHandle(Arc::new(Conn {
            id,
            user: identity.user.id.clone(),
            identity: RwLock::new(Arc::new(identity)),
            tx,
            closer: Closer::default(),
            subs: Mutex::default(),
        }))
    }
}

impl Conn {
    /// Who the connection acts as now.
    pub fn identity(&self) -> Arc<Identity> {
        match self.identity.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the identity after a `refresh` (same user; role, town, profile may change).
    pub fn set_identity(&self, identity: Identity) {
        let fresh = Arc::new(identity);
        match self.identity.write() {
            Ok(mut g) => *g = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// Coordinator of `town`, or admin (as of the latest `refresh`).
    pub fn manages(&self, town: &TownId) -> bool {
        self.identity().manages_town(town)
    }

    fn with_subs<T>(&self, f: impl FnOnce(&mut HashSet<RoomId>) -> T) -> T {
        let mut guard = match self.subs.lock() {
            Ok(g) => g,
            // A panic elsewhere cannot leave a HashSet half-updated; keep going.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Adds a subscription; false when `limit` subscriptions exist already (re-subscribing to
    /// a room counts once).
    pub fn add_sub(&self, room: &RoomId, limit: usize) -> bool {
        self.with_subs(|s| {
            if s.contains(room) {
                true
            } else if s.len() >= limit {
                false
            } else {
                s.insert(room.clone());
                true
            }
        })
    }

    /// Removes a subscription; false when there was none.
    pub fn remove_sub(&self, room: &RoomId) -> bool {
        self.with_subs(|s| s.remove(room))
    }

    pub fn take_subs(&self) -> Vec<RoomId> {
        self.with_subs(|s| s.drain().collect())
    }

    /// Queues a live event without waiting; a full queue closes the connection with 4009
    /// (the client resumes with `since`) rather than holding memory or slowing the room.
    pub fn push_live(&self, item: Outbound) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("yui_slow_consumer_closes_total").increment(1);
                self.closer.close(yui_protocol::limits::close::TOO_SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a reply, waiting for room: back-pressure on the connection's own reads.
    pub async fn send(&self, item: Outbound) -> bool {
        self.tx.send(item).await.is_ok()
    }
}

/// Serializes a frame once for all its recipients.
pub fn text(frame: &ServerFrame) -> Utf8Bytes {
    Utf8Bytes::from(frame.to_json())
}

/// Counts frames queued for clients, by type.
pub fn count_out(kind: &'static str, n: u64) {
    metrics::counter!("yui_frames_out_total", "type" => kind).increment(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_item_is_two_words() {
        // Every connection allocates a block of 32 items up front; keep them small.
        assert_eq!(std::mem::size_of::<Outbound>(), 16);
    }
}

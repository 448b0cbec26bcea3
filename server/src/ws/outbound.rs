//! What a connection's write loop receives, and the handle others use to reach a connection.

use axum::extract::ws::Utf8Bytes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yui_protocol::ids::{Ref, RoomId, TownId, UserId};
use yui_protocol::model::UserRole;

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
    /// Start (or restart) a subscription: reply `subscribed`, stream catch-up, go live.
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
}

impl Closer {
    pub fn close(&self, code: u16) {
        // Only the first close code is kept.
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
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
        self.token.is_cancelled()
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
    /// The user's role and town, for who gets a town room's receipts.
    pub role: UserRole,
    pub town: TownId,
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
    pub fn new(
        id: ConnId,
        user: UserId,
        role: UserRole,
        town: TownId,
        tx: mpsc::Sender<Outbound>,
    ) -> Self {
        ConnHandle(Arc::new(Conn {
            id,
            user,
            role,
            town,
            tx,
            closer: Closer::default(),
            subs: Mutex::default(),
        }))
    }
}

impl Conn {
    /// Coordinator of `town`, or admin.
    pub fn manages(&self, town: &TownId) -> bool {
        self.role == UserRole::Admin || (self.role == UserRole::Coordinator && &self.town == town)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_item_is_two_words() {
        // Every connection allocates a block of 32 items up front; keep them small.
        assert_eq!(std::mem::size_of::<Outbound>(), 16);
    }
}

//! The hub: delivery of committed events to this node's connections.
//!
//! - [`conn`]: a connection's handle, its bounded outbound queue and its closer.
//! - [`registry`]: who is connected and who is subscribed to what, with a cursor per room.
//! - [`dispatcher`]: the task that turns events into queued frames, in seq order.
//! - [`cursor`]: the one seq/gap logic, shared with each connection's write loop.
//!
//! Every event reaches the dispatcher through the hub's inbox: from this node's committer and
//! room service via [`Hub::emit`], from other nodes through the bus. The dispatcher remembers
//! the last seq it delivered per room; an event past a gap (the bus lost or reordered
//! something) is preceded by the missing messages read from the store, and a repeat is dropped.
//! The hub knows nothing of sockets or HTTP: it pushes [`conn::Outbound`] items, and the room
//! service decides who may subscribe.

pub mod conn;
pub mod cursor;
mod dispatcher;
mod registry;

use crate::access::AccessCache;
use crate::bus::{Bus, BusError, BusEvent};
use crate::store::Store;
pub use conn::{count_out, text};
use conn::{ConnHandle, ConnId};
use registry::Registry;
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::ids::RoomId;

/// Capacity of the dispatcher's inbox.
const EVENT_QUEUE: usize = 8192;

pub struct Hub {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    registry: Registry,
    access: Arc<AccessCache>,
    events: mpsc::Sender<BusEvent>,
    /// Where each message committed on this node is also handed (the push outbox's bounded
    /// queue, PROTOCOL.md 5.6), never awaited: a full queue drops the notification, not the post.
    committed: std::sync::OnceLock<mpsc::Sender<Arc<yui_protocol::model::Message>>>,
}

impl Hub {
    /// The dispatcher's inbox: create it first, so a bus can be given its sender.
    pub fn inbox() -> (mpsc::Sender<BusEvent>, mpsc::Receiver<BusEvent>) {
        mpsc::channel(EVENT_QUEUE)
    }

    /// Creates the hub around the sender of [`Hub::inbox`]; the receiver goes to
    /// [`Hub::run_dispatcher`]. The dispatcher invalidates `access` on membership and room
    /// change events.
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        access: Arc<AccessCache>,
        events: mpsc::Sender<BusEvent>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            store,
            bus,
            registry: Registry::default(),
            access,
            events,
            committed: std::sync::OnceLock::new(),
        })
    }

    /// Hands every message committed on this node to `tx` too (set once, at start).
    pub fn tap_committed(&self, tx: mpsc::Sender<Arc<yui_protocol::model::Message>>) {
        let _ = self.committed.set(tx);
    }

    /// Moves whenever a subscription is added or removed here (see [`Registry::changes`]).
    pub fn subscription_changes(&self) -> u64 {
        self.registry.changes()
    }

    /// The rooms with a subscription on this node.
    pub fn served_rooms(&self) -> Vec<RoomId> {
        self.registry.served_rooms()
    }

    /// The users with a live subscription to `room` on this node.
    pub fn present_in(
        &self,
        room: &RoomId,
    ) -> std::collections::HashSet<yui_protocol::ids::UserId> {
        self.registry.present_in(room)
    }

    /// The room as the access cache holds it (loaded from the store on a miss).
    pub async fn room_access(
        &self,
        room: &RoomId,
    ) -> crate::store::StoreResult<Option<Arc<crate::access::RoomAccess>>> {
        self.access.get(room).await
    }

    /// Whether `user` has a live subscription to `room` on this node.
    pub fn locally_subscribed(&self, user: &yui_protocol::ids::UserId, room: &RoomId) -> bool {
        self.registry.is_subscribed(user, room)
    }

    /// Delivers an event on this node and publishes it to the others.
    pub async fn emit(&self, event: BusEvent) {
        if let (BusEvent::Message { message, .. }, Some(tx)) = (&event, self.committed.get()) {
            if tx.try_send(message.clone()).is_err() {
                metrics::counter!("yui_push_dropped_total").increment(1);
            }
        }
        if let Err(e) = self.bus.publish(event.clone()).await {
            metrics::counter!("yui_bus_publish_errors_total").increment(1);
            tracing::warn!(error = %e, "publish to other nodes failed; they repair from the store");
        }
        // The dispatcher only stops at shutdown.
        let _ = self.events.send(event).await;
    }

    /// Answers when the bus does (for `/readyz`).
    pub async fn ping_bus(&self) -> Result<(), BusError> {
        self.bus.ping().await
    }

    pub fn connect(&self, conn: &ConnHandle) {
        self.registry.connect(conn);
        metrics::gauge!("yui_connections").increment(1.0);
    }

    /// Forgets a connection and all its subscriptions.
    pub async fn disconnect(&self, conn: &ConnHandle) {
        for room in conn.take_subs() {
            self.unsubscribe(&room, conn.id).await;
        }
        self.registry.disconnect(conn);
        metrics::gauge!("yui_connections").decrement(1.0);
    }

    pub fn connection_count(&self) -> usize {
        self.registry.connection_count()
    }

    /// Registers a live subscription whose access was checked against the room's membership
    /// version `checked` (a message of a newer version makes the dispatcher re-check it first).
    /// The caller then queues [`conn::Outbound::Subscribe`], whose snapshot reads the store
    /// after this point: nothing committed later can be missed.
    pub async fn subscribe(&self, room: &RoomId, conn: &ConnHandle, checked: u64) {
        if self.registry.subscribe(room, conn, checked) {
            self.bus.watch(room).await;
            // Start the node's position at what is committed now (the subscriber's own
            // catch-up covers what came before), so a resync never replays the whole history.
            if let Ok(Some(info)) = self.store.room(room).await {
                self.registry.advance(room, info.last_seq);
            }
        }
    }

    pub async fn unsubscribe(&self, room: &RoomId, conn: ConnId) {
        if self.registry.unsubscribe(room, conn) {
            self.bus.unwatch(room).await;
        }
    }
}

//! The `Bus` trait: how committed events reach every hub node. [`local`] delivers in-process
//! (the embedded default); [`redis`] carries events between nodes over Redis pub/sub;
//! [`cluster`] over Redis Cluster's sharded pub/sub. Both Redis buses publish through
//! [`publisher`], a bounded queue off the commit path.
//!
//! A bus may lose or reorder events (a Redis reconnect); the hub repairs gaps from the store, so
//! no client ever sees one. What a bus must do is say when it may have lost something
//! ([`BusEvent::Resync`]), so the hub can check every room it serves.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::{Message, Timestamp, UserName};

pub mod cluster;
#[cfg(test)]
mod cluster_tests;
mod handle;
pub mod local;
mod publisher;
pub mod redis;
#[cfg(test)]
mod redis_tests;
mod slots;

/// An event carried between nodes. Serialized as JSON on Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum BusEvent {
    /// A committed message, with its room's membership version read in the commit (internal to
    /// the bus, never on the wire): a node whose access data for the room is older reloads it
    /// and re-checks its subscribers before fanning the message out, so a lost membership event
    /// cannot let a removed member hear a message committed after the removal. Absent (0) in
    /// events from nodes that do not send it.
    Message {
        message: Arc<Message>,
        #[serde(default, rename = "mv")]
        members_version: u64,
    },
    /// A read position moved forward.
    Receipt {
        room: RoomId,
        user: UserName,
        seq: u64,
        at: Timestamp,
    },
    /// `user` confirmed message `seq` of `room` (once per user and message).
    Confirmed {
        room: RoomId,
        seq: u64,
        user: UserName,
        at: Timestamp,
    },
    /// `user` was added to the team room `room`.
    MemberAdded { room: RoomId, user: UserId },
    /// `user` was removed from the team room `room`.
    MemberRemoved { room: RoomId, user: UserId },
    /// A member's role changed or a room's title, kind or town: drop cached access data.
    RoomChanged { room: RoomId },
    /// A room's title or resident changed: drop cached access data, and send `room_updated`
    /// to the local connections of a team room's members.
    RoomUpdated { room: RoomId },
    /// The bus may have lost events (it reconnected, or another node dropped some it could
    /// not publish and asks for this on the control channel); the hub should check every room
    /// it serves against the store.
    Resync,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// Where a bus delivers the events it receives from other nodes: the bounded inbox of this
/// node's dispatcher. A bus must not deliver this node's own events back to it.
pub type EventSink = mpsc::Sender<BusEvent>;

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes an event to the OTHER nodes (this node's dispatcher gets it directly, so
    /// local delivery goes on when the bus is down). Returns at once: it never waits on the
    /// network (it is called on the commit path). An error means other nodes will not see it;
    /// `Ok` that it is queued, which may still be dropped if Redis is down. Either way the
    /// other nodes repair from the store on their next event of the room or on resync.
    async fn publish(&self, event: BusEvent) -> Result<(), BusError>;

    /// This node now has local subscribers of `room`: deliver its events.
    async fn watch(&self, room: &RoomId);

    /// This node's last local subscriber of `room` left.
    async fn unwatch(&self, room: &RoomId);

    /// Answers when the bus does (for `/readyz`).
    async fn ping(&self) -> Result<(), BusError>;
}

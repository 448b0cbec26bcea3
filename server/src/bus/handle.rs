//! What the two Redis buses (one Redis, a Redis Cluster) share: the handle a node holds — the
//! publisher queue, a connection kept for `/readyz`, and the command channel of the task that
//! owns the subscriber connections — so `publish`, `watch`, `unwatch` and `ping` are written once.

use super::publisher::Publisher;
use super::{Bus, BusError, BusEvent};
use async_trait::async_trait;
use redis::aio::ConnectionLike;
use redis::Value;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use yui_protocol::ids::RoomId;

/// What the node asks of its subscriber task.
pub(super) enum Command {
    /// Subscribe to a room's channel; the sender is answered once the subscription is in effect.
    Watch(RoomId, oneshot::Sender<()>),
    Unwatch(RoomId),
}

/// A node's handle on a Redis bus, over `C`, the connection `/readyz` pings with.
pub struct RedisHandle<C> {
    pub(super) publisher: Publisher,
    /// For `/readyz` only: publishing has its own connection, owned by the publisher task.
    pub(super) pinger: C,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) stop: CancellationToken,
    /// How to wait for Redis before giving up (a `watch`, a `PING`).
    pub(super) timeout: Duration,
    /// Named when `PING` goes unanswered: "Redis", "the Redis Cluster".
    pub(super) what: &'static str,
}

impl<C> Drop for RedisHandle<C> {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl<C: ConnectionLike + Clone + Send + Sync + 'static> Bus for RedisHandle<C> {
    async fn publish(&self, event: BusEvent) -> Result<(), BusError> {
        self.publisher.offer(event)
    }

    async fn watch(&self, room: &RoomId) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Watch(room.clone(), tx))
            .await
            .is_ok()
        {
            // Wait until the (S)SUBSCRIBE is in effect, so the caller's catch-up, read after
            // this, cannot miss an event; give up after a while if Redis is down (resync covers
            // it).
            let _ = tokio::time::timeout(self.timeout, rx).await;
        }
    }

    async fn unwatch(&self, room: &RoomId) {
        let _ = self.commands.send(Command::Unwatch(room.clone())).await;
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.pinger.clone();
        match tokio::time::timeout(
            self.timeout,
            redis::cmd("PING").query_async::<Value>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
            Err(_) => Err(BusError::Unavailable(format!(
                "{} did not answer PING in time",
                self.what
            ))),
        }
    }
}

//! Cluster bus: Redis pub/sub. Each node publishes through one task that owns a connection and
//! pipelines what is queued ([`super::publisher`]: never on the commit path), and listens on one
//! dedicated subscriber connection, owned by another task.
//!
//! Channels (under a prefix, `yui` by default): `yui:room:{room}` carries a room's messages and
//! receipts; a node subscribes to it only while it has local subscribers of the room.
//! `yui:control` carries membership and room changes to every node (a user's connections
//! elsewhere are not watching a room they were just added to), and a node's request that the
//! others resync after it dropped events. Payloads are JSON envelopes `{"o": node id, "e":
//! event}`; a node ignores its own.
//!
//! Pub/sub may lose events (a reconnect, a Redis restart). When the subscriber connection comes
//! back, the task re-subscribes and sends [`BusEvent::Resync`], and the hub back-fills every
//! room it serves from the store. Publishing while Redis is down drops the events (counted);
//! other nodes repair from the store on their next event or resync.
//!
//! Past one Redis: [`super::cluster`], Redis Cluster's sharded pub/sub.

use super::handle::{Command, RedisHandle};
use super::publisher::{Outgoing, Publisher, Route, Target};
use super::{BusError, BusEvent, EventSink};
use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use yui_protocol::ids::RoomId;

pub(super) const TIMEOUT: Duration = Duration::from_secs(2);

/// Channel names under a deployment's prefix (several deployments may share one Redis).
#[derive(Clone)]
pub(super) struct Channels {
    pub prefix: String,
    /// Redis Cluster: the control channel carries the prefix as its hash tag.
    pub sharded: bool,
}

impl Channels {
    pub fn room(&self, room: &RoomId) -> String {
        format!("{}:room:{room}", self.prefix)
    }

    pub fn control(&self) -> String {
        if self.sharded {
            format!("{{{}}}:control", self.prefix)
        } else {
            format!("{}:control", self.prefix)
        }
    }

    /// The channel an event is published on (`None`: local only).
    pub fn route(&self) -> Route {
        let channels = self.clone();
        Box::new(move |event| channels.of(event))
    }

    fn of(&self, event: &BusEvent) -> Option<String> {
        match event {
            BusEvent::Message { message, .. } => Some(self.room(&message.room)),
            BusEvent::Receipt { room, .. } | BusEvent::Confirmed { room, .. } => {
                Some(self.room(room))
            }
            BusEvent::MemberAdded { .. }
            | BusEvent::MemberRemoved { .. }
            | BusEvent::RoomChanged { .. }
            | BusEvent::RoomUpdated { .. } => Some(self.control()),
            BusEvent::Resync => None,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Envelope {
    pub o: String,
    pub e: BusEvent,
}

/// One Redis: `PUBLISH` and `SUBSCRIBE`, one subscriber connection per node.
pub type RedisBus = RedisHandle<ConnectionManager>;

/// One Redis: `PUBLISH` in a pipeline on a connection the publisher task owns.
struct SingleRedis {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
}

#[async_trait]
impl Target for SingleRedis {
    async fn send(&mut self, batch: &[Outgoing]) -> Result<(), String> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(TIMEOUT / 2)
                    .set_response_timeout(TIMEOUT);
                let mut c = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                // Named, so an operator (or a test) can tell it in CLIENT LIST.
                redis::cmd("CLIENT")
                    .arg("SETNAME")
                    .arg("yui-publisher")
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                self.conn.insert(c)
            }
        };
        let mut pipe = redis::pipe();
        for o in batch {
            pipe.cmd("PUBLISH").arg(&o.channel).arg(&o.payload).ignore();
        }
        match pipe.query_async::<()>(conn).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.conn = None;
                Err(e.to_string())
            }
        }
    }

    fn reset(&mut self) {
        self.conn = None;
    }
}

impl RedisBus {
    /// Connects, starts the publisher task and the subscriber task, which delivers other
    /// nodes' events into `sink`.
    pub async fn connect(url: &str, prefix: &str, sink: EventSink) -> Result<RedisBus, BusError> {
        let channels = Channels {
            prefix: prefix.to_string(),
            sharded: false,
        };
        let client = redis::Client::open(url).map_err(|e| BusError::Unavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(500);
        let pinger = tokio::time::timeout(
            TIMEOUT * 2,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| BusError::Unavailable(format!("no answer from Redis at {url}")))?
        .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let (commands, rx) = mpsc::channel(1024);
        let stop = CancellationToken::new();
        let node = uuid::Uuid::now_v7().to_string();
        let publisher = Publisher::spawn(
            SingleRedis {
                client: client.clone(),
                conn: None,
            },
            node.clone(),
            channels.route(),
            channels.control(),
            stop.clone(),
        );
        let subscriber = Subscriber {
            client,
            node,
            channels,
            sink,
            watched: HashSet::new(),
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(subscriber.run(rx, stop.clone(), ready_tx));
        // The first subscription (the control channel) is up before we return.
        let _ = tokio::time::timeout(TIMEOUT * 2, ready_rx).await;
        Ok(RedisHandle {
            publisher,
            pinger,
            commands,
            stop,
            timeout: TIMEOUT,
            what: "Redis",
        })
    }
}

/// The one owner of the subscriber connection and of the set of watched rooms.
struct Subscriber {
    client: redis::Client,
    node: String,
    channels: Channels,
    sink: EventSink,
    watched: HashSet<RoomId>,
}

impl Subscriber {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        stop: CancellationToken,
        ready: oneshot::Sender<()>,
    ) {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        loop {
            if stop.is_cancelled() {
                return;
            }
            match self.session(&mut commands, &stop, &mut ready, first).await {
                Ok(()) => return,
                Err(e) => {
                    metrics::counter!("yui_bus_reconnects_total").increment(1);
                    tracing::warn!(error = %e, "Redis subscriber connection lost; reconnecting");
                }
            }
            first = false;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// One subscriber connection's life. `Ok` when told to stop, `Err` when the connection is
    /// lost (the caller reconnects).
    async fn session(
        &mut self,
        commands: &mut mpsc::Receiver<Command>,
        stop: &CancellationToken,
        ready: &mut Option<oneshot::Sender<()>>,
        first: bool,
    ) -> Result<(), String> {
        let pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let (mut subs, mut stream) = pubsub.split();
        subs.subscribe(self.channels.control())
            .await
            .map_err(|e| e.to_string())?;
        for room in &self.watched {
            subs.subscribe(self.channels.room(room))
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        if !first {
            // Events may have been lost while we were away.
            let _ = self.sink.send(BusEvent::Resync).await;
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                cmd = commands.recv() => match cmd {
                    None => return Ok(()),
                    Some(Command::Watch(room, done)) => {
                        let channel = self.channels.room(&room);
                        self.watched.insert(room);
                        subs.subscribe(channel).await.map_err(|e| e.to_string())?;
                        let _ = done.send(());
                    }
                    Some(Command::Unwatch(room)) => {
                        let channel = self.channels.room(&room);
                        if self.watched.remove(&room) {
                            subs.unsubscribe(channel).await.map_err(|e| e.to_string())?;
                        }
                    }
                },
                msg = stream.next() => {
                    let Some(msg) = msg else { return Err("connection closed".into()) };
                    let envelope: Envelope = match serde_json::from_slice(msg.get_payload_bytes()) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::warn!(error = %e, channel = msg.get_channel_name(), "unreadable bus payload skipped");
                            continue;
                        }
                    };
                    if envelope.o == self.node {
                        continue;
                    }
                    if self.sink.send(envelope.e).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

//! Cluster bus past one Redis: Redis Cluster's sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`).
//!
//! A room's channel (`yui:room:<room>`) hashes to one slot, so to one shard: a post is published
//! to that shard only, and a node holds one subscriber connection per shard master that owns a
//! room it serves. The control channel, `{yui}:control`, lives on the shard of its hash tag
//! (the prefix); every node subscribes to it. Chosen with `--redis-cluster` or a
//! `redis+cluster://host:port[,host:port…]` URL (the hosts are seeds; the rest is found with
//! `CLUSTER SLOTS`).
//!
//! Publishing goes through the same bounded publisher queue as on one Redis
//! ([`super::publisher`]); its task groups a batch by slot and sends one `SPUBLISH` pipeline per
//! slot over the `redis` crate's cluster connection, which follows `MOVED` and slot changes.
//!
//! Subscribing: one task owns a RESP3 connection per shard master (pushes arrive through a
//! bounded channel) and the set of watched rooms. When a shard connection drops (a restart, a
//! failover), a `PING` goes unanswered, a slot moves (Redis unsubscribes us with an unsolicited
//! `sunsubscribe`) or a subscribe fails, the task re-reads the slot map, reconnects and
//! re-subscribes what belongs where, then sends [`BusEvent::Resync`]: the hub back-fills every
//! room it serves from the store, as on one Redis after a reconnect. Other shards' connections
//! carry on meanwhile.

use super::handle::{Command, RedisHandle};
use super::publisher::{Outgoing, Publisher, Target};
use super::redis::{Channels, Envelope, TIMEOUT};
use super::slots::{slot, Addr, SlotMap};
use super::{BusError, BusEvent, EventSink};
use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion,
    PushInfo, PushKind, Value,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use yui_protocol::ids::RoomId;

/// Pushes (shard messages) waiting for the subscriber task; past it, a resync.
const PUSH_QUEUE: usize = 8192;
/// How often each shard connection is checked with `PING`.
const HEALTH_EVERY: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// `SSUBSCRIBE`s sent together on one shard connection.
const SUBSCRIBE_CHUNK: usize = 256;

/// Whether a Redis URL names a Redis Cluster (`redis+cluster://`).
pub fn is_cluster_url(url: &str) -> bool {
    url.starts_with("redis+cluster://")
}

/// The seed nodes of `redis+cluster://[user:password@]host:port[,host:port…][/?…]` (or the same
/// with `redis://`, for `--redis-cluster`).
pub fn seeds(url: &str) -> Result<Vec<ConnectionInfo>, BusError> {
    let bad = |why: &str| BusError::Unavailable(format!("Redis Cluster URL: {why}"));
    let rest = url
        .strip_prefix("redis+cluster://")
        .or_else(|| url.strip_prefix("redis://"))
        .ok_or_else(|| bad("expected redis+cluster://host:port[,host:port…]"))?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let seeds: Vec<ConnectionInfo> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            format!("redis://{userinfo}{h}{tail}")
                .into_connection_info()
                .map_err(|e| bad(&e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    if seeds.is_empty() {
        return Err(bad("no host"));
    }
    Ok(seeds)
}

/// A Redis Cluster: `SPUBLISH` and `SSUBSCRIBE`, one subscriber connection per shard master
/// that owns a room this node serves; `PING` for `/readyz` goes to every master.
pub type ClusterBus = RedisHandle<ClusterConnection>;

/// Publishing: a batch grouped by slot, one `SPUBLISH` pipeline per slot, sent together.
struct Sharded {
    conn: ClusterConnection,
}

#[async_trait]
impl Target for Sharded {
    async fn send(&mut self, batch: &[Outgoing]) -> Result<(), String> {
        let mut index: HashMap<u16, usize> = HashMap::new();
        let mut pipes: Vec<redis::Pipeline> = Vec::new();
        for o in batch {
            let i = *index.entry(slot(o.channel.as_bytes())).or_insert_with(|| {
                pipes.push(redis::pipe());
                pipes.len() - 1
            });
            pipes[i]
                .cmd("SPUBLISH")
                .arg(&o.channel)
                .arg(&o.payload)
                .ignore();
        }
        let sent = futures::future::join_all(pipes.iter().map(|p| {
            let mut conn = self.conn.clone();
            async move { p.query_async::<()>(&mut conn).await }
        }))
        .await;
        match sent.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(e) => Err(e.to_string()),
        }
    }

    fn reset(&mut self) {}
}

impl ClusterBus {
    /// Connects to the cluster through its seeds, starts the publisher task and the shard
    /// subscriber task, which delivers other nodes' events into `sink`.
    pub async fn connect(url: &str, prefix: &str, sink: EventSink) -> Result<ClusterBus, BusError> {
        let seeds = seeds(url)?;
        let channels = Channels {
            prefix: prefix.to_string(),
            sharded: true,
        };
        let client = redis::cluster::ClusterClientBuilder::new(seeds.clone())
            .connection_timeout(TIMEOUT / 2)
            .response_timeout(TIMEOUT)
            .retries(2)
            .max_retry_wait(500)
            .build()
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let conn = tokio::time::timeout(TIMEOUT * 2, client.get_async_connection())
            .await
            .map_err(|_| {
                BusError::Unavailable(format!("no answer from the Redis Cluster at {url}"))
            })?
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let stop = CancellationToken::new();
        let node = uuid::Uuid::now_v7().to_string();
        let publisher = Publisher::spawn(
            Sharded { conn: conn.clone() },
            node.clone(),
            channels.route(),
            channels.control(),
            stop.clone(),
        );
        let (pushes, pushes_rx) = mpsc::channel(PUSH_QUEUE);
        let subscriber = ShardSubscriber {
            seeds,
            node,
            channels,
            sink,
            watched: HashSet::new(),
            map: None,
            shards: HashMap::new(),
            pushes,
            overflow: Arc::new(AtomicBool::new(false)),
            next_gen: 0,
            dirty: false,
            stale: true,
            retry_at: Instant::now(),
            backoff: Duration::from_millis(100),
        };
        let (commands, rx) = mpsc::channel(1024);
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(subscriber.run(rx, pushes_rx, stop.clone(), ready_tx));
        // The control channel's subscription is up (or known to be failing) before we return.
        let _ = tokio::time::timeout(TIMEOUT * 2, ready_rx).await;
        Ok(RedisHandle {
            publisher,
            pinger: conn,
            commands,
            stop,
            timeout: TIMEOUT,
            what: "the Redis Cluster",
        })
    }
}

/// One shard master's subscriber connection and the channels subscribed on it.
struct Shard {
    conn: MultiplexedConnection,
    /// Tags this connection's pushes, so a dropped connection's last words are told apart.
    gen: u64,
    channels: HashSet<String>,
}

/// The one owner of the shard connections and of the set of watched rooms.
struct ShardSubscriber {
    seeds: Vec<ConnectionInfo>,
    node: String,
    channels: Channels,
    sink: EventSink,
    watched: HashSet<RoomId>,
    map: Option<SlotMap>,
    shards: HashMap<Addr, Shard>,
    pushes: mpsc::Sender<(u64, PushInfo)>,
    /// A push did not fit in the queue: resync.
    overflow: Arc<AtomicBool>,
    next_gen: u64,
    /// Events may have been lost and the subscriptions are not all in place yet: reconcile,
    /// then ask the hub to resync.
    dirty: bool,
    /// The slot map may be out of date.
    stale: bool,
    retry_at: Instant,
    backoff: Duration,
}

impl ShardSubscriber {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut pushes: mpsc::Receiver<(u64, PushInfo)>,
        stop: CancellationToken,
        ready: oneshot::Sender<()>,
    ) {
        if let Err(e) = self.reconcile().await {
            tracing::warn!(error = %e, "Redis Cluster subscriptions not all in place; retrying");
            self.dirty = true;
        }
        let _ = ready.send(());
        let mut health = tokio::time::interval(HEALTH_EVERY);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(Command::Watch(room, done)) => {
                        self.watch(room).await;
                        let _ = done.send(());
                    }
                    Some(Command::Unwatch(room)) => self.unwatch(&room).await,
                },
                push = pushes.recv() => {
                    let Some((gen, info)) = push else { return };
                    if !self.on_push(gen, info).await {
                        return;
                    }
                }
                _ = health.tick() => {
                    if !self.dirty {
                        self.check_health().await;
                    }
                }
                // A repair that failed is tried again when its backoff is over.
                _ = tokio::time::sleep_until(self.retry_at.into()), if self.dirty => {}
            }
            if self.overflow.swap(false, Ordering::AcqRel) && !self.dirty {
                tracing::warn!("Redis Cluster push queue full; resyncing");
                if self.sink.send(BusEvent::Resync).await.is_err() {
                    return;
                }
            }
            if self.dirty && !self.repair().await {
                return;
            }
        }
    }

    /// The channels this node needs: the control channel and each watched room's.
    fn wanted(&self) -> Vec<String> {
        let mut w = Vec::with_capacity(self.watched.len() + 1);
        w.push(self.channels.control());
        w.extend(self.watched.iter().map(|r| self.channels.room(r)));
        w
    }

    async fn watch(&mut self, room: RoomId) {
        let channel = self.channels.room(&room);
        self.watched.insert(room);
        if self.dirty {
            // Repair (if due) includes the new room.
            return;
        }
        if let Err(e) = self.place(&channel).await {
            tracing::warn!(error = %e, "SSUBSCRIBE failed; re-reading the slot map");
            self.stale = true;
            self.dirty = true;
        }
    }

    async fn unwatch(&mut self, room: &RoomId) {
        let channel = self.channels.room(room);
        self.watched.remove(room);
        let mut empty = None;
        for (addr, shard) in self.shards.iter_mut() {
            if shard.channels.remove(&channel) {
                let _ = tokio::time::timeout(
                    TIMEOUT,
                    shard
                        .conn
                        .send_packed_command(redis::cmd("SUNSUBSCRIBE").arg(&channel)),
                )
                .await;
                if shard.channels.is_empty() {
                    empty = Some(addr.clone());
                }
            }
        }
        // No room of this node is on that shard any more: close its connection.
        if let Some(addr) = empty {
            self.shards.remove(&addr);
        }
    }

    /// Handles a push from shard connection `gen`. `false` when the hub is gone.
    async fn on_push(&mut self, gen: u64, info: PushInfo) -> bool {
        match info.kind {
            PushKind::SMessage => {
                let Some(payload) = info.data.get(1) else {
                    return true;
                };
                let bytes: &[u8] = match payload {
                    Value::BulkString(b) => b,
                    Value::SimpleString(s) => s.as_bytes(),
                    _ => return true,
                };
                let envelope: Envelope = match serde_json::from_slice(bytes) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable bus payload skipped");
                        return true;
                    }
                };
                if envelope.o == self.node {
                    return true;
                }
                self.sink.send(envelope.e).await.is_ok()
            }
            PushKind::Disconnection => {
                if let Some(addr) = self.shard_of(gen) {
                    tracing::warn!(shard = %addr, "Redis Cluster shard connection lost; reconnecting");
                    self.lost(&addr);
                }
                true
            }
            PushKind::SUnsubscribe => {
                // Ours are removed from the set before we send SUNSUBSCRIBE: one still in it
                // was unsubscribed by Redis, because its slot moved to another shard.
                let channel = match info.data.first() {
                    Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    _ => return true,
                };
                if let Some(addr) = self.shard_of(gen) {
                    if self
                        .shards
                        .get(&addr)
                        .is_some_and(|s| s.channels.contains(&channel))
                    {
                        tracing::warn!(shard = %addr, "a slot moved off a Redis Cluster shard; re-subscribing");
                        self.lost(&addr);
                    }
                }
                true
            }
            _ => true,
        }
    }

    fn shard_of(&self, gen: u64) -> Option<Addr> {
        self.shards
            .iter()
            .find(|(_, s)| s.gen == gen)
            .map(|(a, _)| a.clone())
    }

    /// Shard `addr`'s connection is gone or wrong: drop it, re-read the slot map, repair.
    fn lost(&mut self, addr: &Addr) {
        metrics::counter!("yui_bus_reconnects_total").increment(1);
        self.shards.remove(addr);
        self.stale = true;
        self.dirty = true;
    }

    /// `PING` on every shard connection; one that does not answer is dropped and repaired.
    async fn check_health(&mut self) {
        let checks = futures::future::join_all(self.shards.iter().map(|(addr, s)| {
            let mut conn = s.conn.clone();
            let addr = addr.clone();
            async move {
                let ok = matches!(
                    tokio::time::timeout(
                        TIMEOUT,
                        redis::cmd("PING").query_async::<Value>(&mut conn)
                    )
                    .await,
                    Ok(Ok(_))
                );
                (addr, ok)
            }
        }))
        .await;
        for (addr, ok) in checks {
            if !ok {
                tracing::warn!(shard = %addr, "Redis Cluster shard did not answer PING; reconnecting");
                self.lost(&addr);
            }
        }
    }

    /// Tries to put every subscription back (when due); on success asks the hub to resync.
    /// `false` when the hub is gone.
    async fn repair(&mut self) -> bool {
        if Instant::now() < self.retry_at {
            return true;
        }
        match self.reconcile().await {
            Ok(()) => {
                self.dirty = false;
                self.backoff = Duration::from_millis(100);
                tracing::info!(
                    shards = self.shards.len(),
                    "Redis Cluster subscriptions in place again; resyncing"
                );
                self.sink.send(BusEvent::Resync).await.is_ok()
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?self.backoff, "Redis Cluster subscriptions not all in place");
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                true
            }
        }
    }

    /// Makes the shard connections match the slot map: every wanted channel subscribed on the
    /// master that owns its slot, nothing elsewhere, no connection to a shard without one.
    async fn reconcile(&mut self) -> Result<(), String> {
        if self.stale || self.map.is_none() {
            self.refresh_map().await?;
        }
        let Some(map) = self.map.clone() else {
            return Err("no slot map".into());
        };
        let mut desired: HashMap<Addr, Vec<String>> = HashMap::new();
        let mut failed = None;
        for channel in self.wanted() {
            match map.owner(slot(channel.as_bytes())) {
                Some(addr) => desired.entry(addr.clone()).or_default().push(channel),
                None => failed = Some(format!("no shard serves the slot of {channel}")),
            }
        }
        // Channels on a shard that no longer owns them, and shards with nothing left.
        let mut idle = Vec::new();
        for (addr, shard) in self.shards.iter_mut() {
            let keep: HashSet<&String> = desired.get(addr).into_iter().flatten().collect();
            let gone: Vec<String> = shard
                .channels
                .iter()
                .filter(|c| !keep.contains(c))
                .cloned()
                .collect();
            for c in gone {
                shard.channels.remove(&c);
                let _ = tokio::time::timeout(
                    TIMEOUT,
                    shard
                        .conn
                        .send_packed_command(redis::cmd("SUNSUBSCRIBE").arg(&c)),
                )
                .await;
            }
            if shard.channels.is_empty() && !desired.contains_key(addr) {
                idle.push(addr.clone());
            }
        }
        for addr in idle {
            self.shards.remove(&addr);
        }
        for (addr, chans) in desired {
            if let Err(e) = self.subscribe_on(&addr, &chans).await {
                self.stale = true;
                failed = Some(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Subscribes `channel` on the master that owns its slot.
    async fn place(&mut self, channel: &str) -> Result<(), String> {
        let Some(addr) = self
            .map
            .as_ref()
            .and_then(|m| m.owner(slot(channel.as_bytes())))
            .cloned()
        else {
            return Err(format!("no shard known for {channel}"));
        };
        self.subscribe_on(&addr, &[channel.to_string()]).await
    }

    /// Subscribes those of `channels` not yet subscribed on shard `addr`, connecting first if
    /// needed. On failure the shard's connection is dropped (its state is unknown).
    async fn subscribe_on(&mut self, addr: &Addr, channels: &[String]) -> Result<(), String> {
        if !self.shards.contains_key(addr) {
            let shard = self.connect_shard(addr).await?;
            self.shards.insert(addr.clone(), shard);
        }
        let Some(shard) = self.shards.get_mut(addr) else {
            return Err("shard vanished".into());
        };
        let missing: Vec<&String> = channels
            .iter()
            .filter(|c| !shard.channels.contains(*c))
            .collect();
        for chunk in missing.chunks(SUBSCRIBE_CHUNK) {
            let results = futures::future::join_all(chunk.iter().map(|c| {
                let mut conn = shard.conn.clone();
                async move {
                    tokio::time::timeout(
                        TIMEOUT,
                        conn.send_packed_command(redis::cmd("SSUBSCRIBE").arg(*c)),
                    )
                    .await
                }
            }))
            .await;
            for (c, r) in chunk.iter().zip(results) {
                match r {
                    Ok(Ok(_)) => {
                        shard.channels.insert((*c).clone());
                    }
                    Ok(Err(e)) => {
                        self.shards.remove(addr);
                        return Err(format!("SSUBSCRIBE on {addr}: {e}"));
                    }
                    Err(_) => {
                        self.shards.remove(addr);
                        return Err(format!("SSUBSCRIBE on {addr} timed out"));
                    }
                }
            }
        }
        Ok(())
    }

    /// A RESP3 connection to one master whose pushes come to this task, tagged.
    async fn connect_shard(&mut self, addr: &Addr) -> Result<Shard, String> {
        let gen = self.next_gen;
        self.next_gen += 1;
        let tx = self.pushes.clone();
        let overflow = self.overflow.clone();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(TIMEOUT / 2)
            .set_response_timeout(TIMEOUT)
            .set_push_sender(move |info: PushInfo| {
                if tx.try_send((gen, info)).is_err() {
                    overflow.store(true, Ordering::Release);
                }
                Ok::<(), ()>(())
            });
        let client = redis::Client::open(self.info(addr, ProtocolVersion::RESP3))
            .map_err(|e| e.to_string())?;
        let conn = tokio::time::timeout(
            TIMEOUT,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| format!("connecting to shard {addr} timed out"))?
        .map_err(|e| format!("shard {addr}: {e}"))?;
        Ok(Shard {
            conn,
            gen,
            channels: HashSet::new(),
        })
    }

    /// Reads the slot map from a shard we know or a seed, whichever answers first in turn.
    async fn refresh_map(&mut self) -> Result<(), String> {
        let mut candidates: Vec<Addr> = self.map.as_ref().map(SlotMap::masters).unwrap_or_default();
        for s in &self.seeds {
            if let ConnectionAddr::Tcp(host, port) = &s.addr {
                let a = Addr {
                    host: host.clone(),
                    port: *port,
                };
                if !candidates.contains(&a) {
                    candidates.push(a);
                }
            }
        }
        let mut last = String::from("no seed node");
        for addr in candidates {
            match self.slots_from(&addr).await {
                Ok(map) => {
                    self.map = Some(map);
                    self.stale = false;
                    return Ok(());
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(format!("no Redis Cluster node gave its slot map ({last})"))
    }

    async fn slots_from(&self, addr: &Addr) -> Result<SlotMap, String> {
        let client = redis::Client::open(self.info(addr, ProtocolVersion::RESP2))
            .map_err(|e| e.to_string())?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(TIMEOUT / 2)
            .set_response_timeout(TIMEOUT);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        let reply: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let map = SlotMap::from_cluster_slots(&reply, &addr.host)?;
        if map.masters().is_empty() {
            return Err("no slot is served".into());
        }
        Ok(map)
    }

    /// Connection details for `addr`, with the seeds' credentials.
    fn info(&self, addr: &Addr, protocol: ProtocolVersion) -> ConnectionInfo {
        let mut redis = self
            .seeds
            .first()
            .map(|s| s.redis.clone())
            .unwrap_or_default();
        redis.protocol = protocol;
        ConnectionInfo {
            addr: ConnectionAddr::Tcp(addr.host.clone(), addr.port),
            redis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_give_their_seeds() {
        assert!(is_cluster_url("redis+cluster://127.0.0.1:7101"));
        assert!(!is_cluster_url("redis://127.0.0.1:6379"));
        let s = seeds("redis+cluster://u:pw@10.0.0.1:7101,10.0.0.2:7102/?protocol=resp2")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.len(), 2);
        assert!(matches!(&s[1].addr, ConnectionAddr::Tcp(h, 7102) if h == "10.0.0.2"));
        assert_eq!(s[1].redis.password.as_deref(), Some("pw"));
        assert_eq!(s[0].redis.username.as_deref(), Some("u"));
        assert_eq!(
            seeds("redis://127.0.0.1:7101")
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            1
        );
        assert!(seeds("redis+cluster://").is_err());
        assert!(seeds("http://x:1").is_err());
    }
}

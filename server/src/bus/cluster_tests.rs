//! The Redis Cluster bus against a real Redis Cluster (`scripts/redis-cluster.sh`): two buses
//! are two nodes. Run when `YUI_TEST_REDIS_CLUSTER_URL` names one (`scripts/test` starts one and
//! sets it); skipped loudly otherwise.

use super::cluster::ClusterBus;
use super::{Bus, BusEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use yui_protocol::ids::{ClientId, Name, RoomId, UserId};
use yui_protocol::model::{Message, MessageKind, Profession, Timestamp, UserRef};

fn url() -> Option<String> {
    let url = std::env::var("YUI_TEST_REDIS_CLUSTER_URL").ok();
    if url.is_none() {
        eprintln!("SKIPPED: YUI_TEST_REDIS_CLUSTER_URL is not set (scripts/redis-cluster.sh)");
    }
    url
}

async fn node(url: &str, prefix: &str) -> (ClusterBus, mpsc::Receiver<BusEvent>) {
    let (tx, rx) = mpsc::channel(256);
    let bus = ClusterBus::connect(url, prefix, tx)
        .await
        .unwrap_or_else(|e| panic!("Redis Cluster at {url}: {e}"));
    (bus, rx)
}

fn prefix() -> String {
    format!("yui-test-{}", uuid::Uuid::now_v7().simple())
}

fn room(s: &str) -> RoomId {
    RoomId::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn message(room: &RoomId, seq: u64) -> BusEvent {
    BusEvent::Message {
        message: Arc::new(Message {
            room: room.clone(),
            seq,
            id: format!("m{seq}"),
            client_id: ClientId::parse(format!("c{seq}")).unwrap_or_else(|e| panic!("{e}")),
            author: UserRef {
                id: UserId::parse("u").unwrap_or_else(|e| panic!("{e}")),
                name: Name::parse("n").unwrap_or_else(|e| panic!("{e}")),
                profession: Profession::Nurse,
                org: Name::parse("o").unwrap_or_else(|e| panic!("{e}")),
            },
            kind: MessageKind::Note,
            body: "b".into(),
            at: Timestamp::now(),
            priority: Default::default(),
            mentions: Vec::new(),
            attachments: Vec::new(),
            replaces: None,
            retracts: None,
            confirms: None,
            revised: None,
        }),
        members_version: seq,
    }
}

/// The next event that is not a resync (another test cutting connections makes this node
/// resync too).
async fn next(rx: &mut mpsc::Receiver<BusEvent>) -> Option<BusEvent> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .ok()
            .flatten()
        {
            Some(BusEvent::Resync) => continue,
            other => return other,
        }
    }
}

async fn nothing(rx: &mut mpsc::Receiver<BusEvent>) {
    loop {
        match tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .ok()
            .flatten()
        {
            Some(BusEvent::Resync) => continue,
            None => return,
            Some(e) => panic!("unexpected event: {e:?}"),
        }
    }
}

/// Rooms whose channels land on different shards (24 rooms cover three masters).
fn rooms() -> Vec<RoomId> {
    (0..24).map(|i| room(&format!("r{i}"))).collect()
}

#[tokio::test]
async fn room_events_on_every_shard_reach_watching_nodes_only_and_in_order() {
    let Some(url) = url() else { return };
    let p = prefix();
    let (a, mut a_rx) = node(&url, &p).await;
    let (b, mut b_rx) = node(&url, &p).await;
    let rooms = rooms();
    for r in &rooms {
        b.watch(r).await;
    }
    let unwatched = room("not-watched");
    for seq in 1..=5 {
        for r in &rooms {
            a.publish(message(r, seq))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        a.publish(message(&unwatched, seq))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for _ in 0..5 * rooms.len() {
        match next(&mut b_rx).await {
            Some(BusEvent::Message { message, .. }) => {
                let prev = last.insert(message.room.to_string(), message.seq);
                assert_eq!(prev.unwrap_or(0) + 1, message.seq, "in order per room");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(last.len(), rooms.len());
    assert!(last.values().all(|s| *s == 5));
    nothing(&mut b_rx).await;
    // A node never gets its own events back.
    a.watch(&rooms[0]).await;
    a.publish(message(&rooms[0], 6))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nothing(&mut a_rx).await;
    assert!(matches!(
        next(&mut b_rx).await,
        Some(BusEvent::Message { .. })
    ));
    // Unwatched rooms go quiet; the others still arrive.
    for r in &rooms[1..] {
        b.unwatch(r).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for r in &rooms {
        a.publish(message(r, 7))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    match next(&mut b_rx).await {
        Some(BusEvent::Message { message, .. }) => assert_eq!(message.room, rooms[0]),
        other => panic!("{other:?}"),
    }
    nothing(&mut b_rx).await;
    assert!(b.ping().await.is_ok());
}

#[tokio::test]
async fn control_events_reach_every_node_of_the_deployment() {
    let Some(url) = url() else { return };
    let p = prefix();
    let (a, _a_rx) = node(&url, &p).await;
    let (_b, mut b_rx) = node(&url, &p).await;
    let (_c, mut c_rx) = node(&url, &prefix()).await;
    let r = room("r1");
    let user = UserId::parse("u1").unwrap_or_else(|e| panic!("{e}"));
    for e in [
        BusEvent::MemberAdded {
            room: r.clone(),
            user: user.clone(),
        },
        BusEvent::MemberRemoved {
            room: r.clone(),
            user: user.clone(),
        },
        BusEvent::RoomChanged { room: r.clone() },
    ] {
        a.publish(e.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next(&mut b_rx).await, Some(e));
    }
    // Another deployment's prefix hears nothing of it.
    nothing(&mut c_rx).await;
}

#[tokio::test]
async fn cut_shard_connections_are_restored_and_ask_for_a_resync() {
    let Some(url) = url() else { return };
    let p = prefix();
    let (a, _a_rx) = node(&url, &p).await;
    let (b, mut b_rx) = node(&url, &p).await;
    let rooms = rooms();
    for r in &rooms {
        b.watch(r).await;
    }
    // Cut every pub/sub connection on every master.
    let seed = url.trim_start_matches("redis+cluster://");
    let seed = seed.split([',', '/']).next().unwrap_or(seed);
    let client = redis::Client::open(format!("redis://{seed}")).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for line in nodes.lines().filter(|l| l.contains("master")) {
        let Some(addr) = line.split(' ').nth(1).and_then(|a| a.split('@').next()) else {
            continue;
        };
        let c = redis::Client::open(format!("redis://{addr}")).unwrap_or_else(|e| panic!("{e}"));
        let mut admin = c
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _: Result<i64, _> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await;
    }
    // Each shard's loss is repaired (and resynced) on its own: wait for the resync, then
    // until they stop.
    let mut resyncs = 0;
    loop {
        let wait = if resyncs == 0 { 10_000 } else { 1_500 };
        match tokio::time::timeout(Duration::from_millis(wait), b_rx.recv())
            .await
            .ok()
            .flatten()
        {
            Some(BusEvent::Resync) => resyncs += 1,
            Some(_) => continue,
            None if resyncs > 0 => break,
            None => panic!("no resync after the cut"),
        }
    }
    for r in &rooms {
        a.publish(message(r, 1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < rooms.len() {
        match next(&mut b_rx).await {
            Some(BusEvent::Message { message, .. }) => {
                seen.insert(message.room.to_string());
            }
            other => panic!("watching every room again after the cut: {other:?}"),
        }
    }
}

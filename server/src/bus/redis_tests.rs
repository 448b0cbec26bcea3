//! The Redis bus against a real Redis: two buses are two nodes. Without Redis these tests are
//! skipped loudly, except in CI (`CI` set), where they fail.

use super::redis::RedisBus;
use super::{Bus, BusEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use yui_protocol::ids::{ClientId, Name, RoomId, UserId};
use yui_protocol::model::{Message, MessageKind, Profession, Timestamp, UserRef};

fn url() -> String {
    std::env::var("YUI_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn node(prefix: &str) -> Option<(RedisBus, mpsc::Receiver<BusEvent>)> {
    let (tx, rx) = mpsc::channel(64);
    match RedisBus::connect(&url(), prefix, tx).await {
        Ok(bus) => Some((bus, rx)),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: Redis not reachable at {}: {e}", url());
            None
        }
        Err(e) => panic!("CI needs Redis at {}: {e}", url()),
    }
}

fn prefix() -> String {
    format!("yui-test-{}", uuid::Uuid::now_v7().simple())
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

async fn recv(rx: &mut mpsc::Receiver<BusEvent>, wait: Duration) -> Option<BusEvent> {
    tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
}

/// The next event that is not a resync: another test cutting every subscriber connection of
/// the shared Redis makes this node resync too, which is no concern here.
async fn next(rx: &mut mpsc::Receiver<BusEvent>) -> Option<BusEvent> {
    loop {
        match recv(rx, Duration::from_secs(3)).await {
            Some(BusEvent::Resync) => continue,
            other => return other,
        }
    }
}

async fn nothing(rx: &mut mpsc::Receiver<BusEvent>) {
    loop {
        match recv(rx, Duration::from_millis(300)).await {
            Some(BusEvent::Resync) => continue,
            None => return,
            Some(e) => panic!("unexpected event: {e:?}"),
        }
    }
}

#[tokio::test]
async fn room_events_reach_watching_nodes_only_and_in_order() {
    let p = prefix();
    let Some((a, mut a_rx)) = node(&p).await else {
        return;
    };
    let Some((b, mut b_rx)) = node(&p).await else {
        return;
    };
    let room = RoomId::parse("r1").unwrap_or_else(|e| panic!("{e}"));
    let other = RoomId::parse("r2").unwrap_or_else(|e| panic!("{e}"));
    b.watch(&room).await;
    for seq in 1..=20 {
        a.publish(message(&room, seq))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    a.publish(message(&other, 1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for seq in 1..=20 {
        match next(&mut b_rx).await {
            Some(BusEvent::Message { message, .. }) => {
                assert_eq!((message.room.as_str(), message.seq), ("r1", seq))
            }
            other => panic!("{other:?}"),
        }
    }
    nothing(&mut b_rx).await;
    // A node never gets its own events back.
    a.watch(&room).await;
    a.publish(message(&room, 21))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nothing(&mut a_rx).await;
    assert!(matches!(
        next(&mut b_rx).await,
        Some(BusEvent::Message { .. })
    ));
    b.unwatch(&room).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.publish(message(&room, 22))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nothing(&mut b_rx).await;
    assert!(b.ping().await.is_ok());
}

#[tokio::test]
async fn control_events_reach_every_node() {
    let p = prefix();
    let Some((a, _a_rx)) = node(&p).await else {
        return;
    };
    let Some((_b, mut b_rx)) = node(&p).await else {
        return;
    };
    let room = RoomId::parse("r1").unwrap_or_else(|e| panic!("{e}"));
    let user = UserId::parse("u1").unwrap_or_else(|e| panic!("{e}"));
    for e in [
        BusEvent::MemberAdded {
            room: room.clone(),
            user: user.clone(),
        },
        BusEvent::MemberRemoved {
            room: room.clone(),
            user: user.clone(),
        },
        BusEvent::RoomChanged { room: room.clone() },
    ] {
        a.publish(e.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next(&mut b_rx).await, Some(e));
    }
    // Another deployment's prefix hears nothing of it.
    let Some((_c, mut c_rx)) = node(&prefix()).await else {
        return;
    };
    a.publish(BusEvent::RoomChanged { room })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nothing(&mut c_rx).await;
}

#[tokio::test]
async fn a_cut_subscriber_reconnects_and_asks_for_a_resync() {
    let p = prefix();
    let Some((a, _a_rx)) = node(&p).await else {
        return;
    };
    let Some((b, mut b_rx)) = node(&p).await else {
        return;
    };
    let room = RoomId::parse("r1").unwrap_or_else(|e| panic!("{e}"));
    b.watch(&room).await;
    let client = redis::Client::open(url()).unwrap_or_else(|e| panic!("{e}"));
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .unwrap_or(0);
    // Other tests' subscribers may be cut too and ask for their own resync: only ours matters.
    loop {
        match recv(&mut b_rx, Duration::from_secs(5)).await {
            Some(BusEvent::Resync) => break,
            Some(_) => continue,
            None => panic!("no resync after the cut"),
        }
    }
    a.publish(message(&room, 1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(next(&mut b_rx).await, Some(BusEvent::Message { .. })),
        "watching again after the reconnect"
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast() {
    let (tx, _rx) = mpsc::channel(1);
    let started = std::time::Instant::now();
    let r = RedisBus::connect("redis://127.0.0.1:1", "x", tx).await;
    assert!(r.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}

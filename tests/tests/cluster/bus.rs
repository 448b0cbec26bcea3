//! The bus under faults: a Redis (or a Redis Cluster) of the test's own, killed and restarted
//! mid-stream.

use super::*;
use std::time::Instant;
use yui_tests::backend::{fresh_database, prefix, RedisCluster, RedisServer};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Issue 10.6: each post used to wait on a publish to Redis, 1.4-2 s each while Redis was
/// down. Publishing is off the commit path now: acks come as fast as with Redis up, and what
/// could not be published is repaired from the store on the other node.
#[tokio::test]
async fn posts_are_acked_at_full_speed_while_redis_is_down_and_readers_end_complete() {
    let mut redis = RedisServer::start().await;
    let backend = Backend::Cluster {
        database_url: fresh_database().await,
        redis_url: redis.url(),
    };
    let cl = Cluster::start_on(backend, 2).await;
    let coord = User::coordinator("coord");
    let readers: Vec<User> = (0..3).map(|i| User::member(&format!("r{i}"))).collect();
    let refs: Vec<&User> = readers.iter().collect();
    let r = cl.team_room(&coord, "res-bus", &refs).await;
    // Two readers on the other node, one on the poster's.
    let mut conns = Vec::new();
    for (i, u) in readers.iter().enumerate() {
        let mut c = cl.connect(if i < 2 { 1 } else { 0 }, u).await;
        c.subscribe(&r, None).await;
        conns.push(c);
    }
    let mut poster = cl.connect(0, &coord).await;
    const N: u64 = 110;
    let (down_at, up_at) = (30, 75);
    let mut up = Vec::new();
    let mut down = Vec::new();
    for i in 0..N {
        if i == down_at {
            redis.kill();
        }
        if i == up_at {
            redis.restart().await;
        }
        let started = Instant::now();
        let f = poster.post(&r, &format!("p{i}"), "stream").await;
        let took = started.elapsed();
        assert_eq!(ack_seq(&f), i + 1, "{f:?}");
        if (down_at..up_at).contains(&i) {
            down.push(took);
        } else {
            up.push(took);
        }
        // 16 posts/s: inside the 20 frames/s rate limit.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    down.sort();
    up.sort();
    let (p50_down, p99_down) = (percentile(&down, 0.5), percentile(&down, 0.99));
    let (p50_up, p99_up) = (percentile(&up, 0.5), percentile(&up, 0.99));
    eprintln!(
        "ack latency with Redis up: p50 {p50_up:?} p99 {p99_up:?}; down: p50 {p50_down:?} p99 {p99_down:?}"
    );
    // Generous bounds (the machine is shared and loaded; the old code gave p50 1.4 s, p99 2 s).
    assert!(
        p50_down < Duration::from_millis(150) && p99_down < Duration::from_millis(600),
        "acks wait on Redis while it is down: p50 {p50_down:?} p99 {p99_down:?} (up: p50 {p50_up:?} p99 {p99_up:?})"
    );
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(
            c.seqs_until(&r, N).await,
            (1..=N).collect::<Vec<_>>(),
            "reader {i}: complete, in order, nothing doubled"
        );
        no_messages(c, Duration::from_millis(300)).await;
    }
}

/// Issue 14: on a Redis Cluster (sharded pub/sub), the master that owns a room's channel is
/// restarted mid-stream: each node reconnects to it, re-subscribes and back-fills from the
/// store; every reader ends with the complete sequence, nothing doubled.
#[tokio::test]
async fn a_redis_cluster_shard_restarted_mid_stream_is_repaired_from_the_store() {
    let rc = RedisCluster::start().await;
    let database_url = fresh_database().await;
    let room_channel = format!("{}:room:res-shard", prefix(&database_url));
    let backend = Backend::Cluster {
        database_url,
        redis_url: rc.url(),
    };
    let cl = Cluster::start_on(backend, 2).await;
    let coord = User::coordinator("coord");
    let readers: Vec<User> = (0..3).map(|i| User::member(&format!("r{i}"))).collect();
    let refs: Vec<&User> = readers.iter().collect();
    let r = cl.team_room(&coord, "res-shard", &refs).await;
    let mut conns = Vec::new();
    for (i, u) in readers.iter().enumerate() {
        let mut c = cl.connect(if i < 2 { 1 } else { 0 }, u).await;
        c.subscribe(&r, None).await;
        conns.push(c);
    }
    let mut poster = cl.connect(0, &coord).await;
    let shard = rc.port_of(&room_channel).await;
    const N: u64 = 90;
    for i in 0..N {
        if i == 20 || i == 55 {
            rc.restart_node(shard).await;
        }
        let f = poster.post(&r, &format!("p{i}"), "stream").await;
        assert_eq!(ack_seq(&f), i + 1, "{f:?}");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(
            c.seqs_until(&r, N).await,
            (1..=N).collect::<Vec<_>>(),
            "reader {i}: complete, in order, nothing doubled"
        );
        no_messages(c, Duration::from_millis(300)).await;
    }
    // Live delivery across nodes works again on that shard (not only the repair).
    poster.post(&r, "after", "live").await;
    for c in conns.iter_mut() {
        assert_eq!(c.message(&r).await.seq, N + 1);
    }
}

/// Cuts the connections named `name` on the Redis at `url`.
async fn kill_clients_named(url: &str, name: &str) -> usize {
    let client = redis::Client::open(url).unwrap_or_else(|e| panic!("{e}"));
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = list
        .lines()
        .filter(|l| l.split(' ').any(|f| f == format!("name={name}")))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_string)
        .collect();
    for id in &ids {
        let _: Result<i64, _> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await;
    }
    ids.len()
}

/// A node that could not publish an event (its publishing connection was cut; the other
/// node's subscriber connection was not) asks the others to resync with the next batch that
/// gets through, so even the last message of a room, with nothing after it to show the gap,
/// reaches the readers on the other node.
#[tokio::test]
async fn a_dropped_publish_is_repaired_even_when_nothing_follows_in_its_room() {
    let redis = RedisServer::start().await;
    let backend = Backend::Cluster {
        database_url: fresh_database().await,
        redis_url: redis.url(),
    };
    let cl = Cluster::start_on(backend, 2).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let quiet = cl.team_room(&coord, "res-quiet", &[&nurse]).await;
    let busy = cl.team_room(&coord, "res-busy", &[&nurse]).await;
    let mut reader = cl.connect(1, &nurse).await;
    reader.subscribe(&quiet, None).await;
    reader.subscribe(&busy, None).await;
    let mut poster = cl.connect(0, &coord).await;
    poster.post(&busy, "b0", "warm up").await;
    assert_eq!(reader.message(&busy).await.seq, 1);
    // Both nodes' publishing connections are cut (node 1 publishes nothing here).
    assert!(kill_clients_named(&redis.url(), "yui-publisher").await >= 1);
    assert_eq!(
        ack_seq(&poster.post(&quiet, "q1", "lost on the bus").await),
        1
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ack_seq(&poster.post(&busy, "b1", "gets through").await), 2);
    let mut got = Vec::new();
    while got.len() < 2 {
        let f = reader
            .wait_for("message", |f| matches!(f, ServerFrame::Message(_)))
            .await;
        if let ServerFrame::Message(m) = f {
            got.push((m.room.to_string(), m.seq));
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![("res-busy".to_string(), 2), ("res-quiet".to_string(), 1)]
    );
    no_messages(&mut reader, Duration::from_millis(300)).await;
}

/// Moves `slot` to the master on `to` (an empty slot: no keys to migrate), told to every master.
async fn move_slot(ports: &[u16], slot: u16, to: u16) {
    let conn_to = |p: u16| async move {
        redis::Client::open(format!("redis://127.0.0.1:{p}"))
            .unwrap_or_else(|e| panic!("{e}"))
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut target = conn_to(to).await;
    let id: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The new owner first, then the others (the old owner drops it and tells its subscribers).
    let mut order = vec![to];
    order.extend(ports.iter().copied().filter(|p| *p != to));
    for p in order {
        let mut c = conn_to(p).await;
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&id)
            .query_async(&mut c)
            .await
            .unwrap_or_else(|e| panic!("SETSLOT on {p}: {e}"));
    }
}

/// Issue 14: a room's slot moves to another master mid-stream (Redis unsubscribes the old
/// owner's subscribers with `sunsubscribe`): each node re-reads the slot map, subscribes on the
/// new owner and back-fills; posting follows the move; every reader ends complete, and live
/// delivery works on the new shard.
#[tokio::test]
async fn a_room_whose_slot_moves_to_another_shard_keeps_every_message() {
    let rc = RedisCluster::start().await;
    let database_url = fresh_database().await;
    let room_channel = format!("{}:room:res-move", prefix(&database_url));
    let backend = Backend::Cluster {
        database_url,
        redis_url: rc.url(),
    };
    let cl = Cluster::start_on(backend, 2).await;
    let coord = User::coordinator("coord");
    let readers: Vec<User> = (0..2).map(|i| User::member(&format!("r{i}"))).collect();
    let refs: Vec<&User> = readers.iter().collect();
    let r = cl.team_room(&coord, "res-move", &refs).await;
    let mut conns = Vec::new();
    for u in &readers {
        let mut c = cl.connect(1, u).await;
        c.subscribe(&r, None).await;
        conns.push(c);
    }
    let mut poster = cl.connect(0, &coord).await;
    let from = rc.port_of(&room_channel).await;
    let ports: Vec<u16> = (rc.port0..rc.port0 + 3).collect();
    let to = ports.iter().copied().find(|p| *p != from).unwrap_or(from);
    let slot = rc.slot_of(&room_channel).await;
    const N: u64 = 50;
    for i in 0..N {
        if i == 20 {
            move_slot(&ports, slot, to).await;
        }
        let f = poster.post(&r, &format!("p{i}"), "stream").await;
        assert_eq!(ack_seq(&f), i + 1, "{f:?}");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(rc.port_of(&room_channel).await, to, "the slot moved");
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(
            c.seqs_until(&r, N).await,
            (1..=N).collect::<Vec<_>>(),
            "reader {i}: complete, in order, nothing doubled"
        );
        no_messages(c, Duration::from_millis(300)).await;
    }
    poster.post(&r, "after", "live").await;
    for c in conns.iter_mut() {
        assert_eq!(c.message(&r).await.seq, N + 1);
    }
}

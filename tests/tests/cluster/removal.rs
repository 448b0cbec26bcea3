//! A removed member never hears again, whatever the bus lost (issue 10, item 2): two or three
//! hub processes on a fresh Postgres database and a Redis of the test's own (never the shared
//! one), killed and restarted by the test, or a membership change made where no other node can
//! hear of it.

use super::{no_messages, Cluster};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use yui_protocol::client::Request;
use yui_protocol::ids::RoomId;
use yui_protocol::server::ServerFrame;
use yui_tests::process::{free_port, HubProcess};
use yui_tests::*;

/// A `redis-server` of this test's own on a loopback port in 7201-7299.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    async fn start() -> OwnRedis {
        use std::sync::atomic::{AtomicU16, Ordering};
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let spread = (std::process::id() % 99) as u16;
        for _ in 0..99 {
            let port = 7201 + (spread + NEXT.fetch_add(1, Ordering::Relaxed)) % 99;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let mut r = OwnRedis { port, child: None };
            if r.spawn().await {
                return r;
            }
        }
        panic!("no free port for a redis-server in 7201-7299");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts redis-server on `self.port`; true once it answers.
    async fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server: {e} (is it installed?)"));
        for _ in 0..200 {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if let Ok(c) = redis::Client::open(self.url()) {
                if let Ok(mut conn) = c.get_multiplexed_async_connection().await {
                    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                    if pong.is_ok() {
                        self.child = Some(child);
                        return true;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = child.start_kill();
        false
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }

    async fn restart(&mut self) {
        self.kill().await;
        assert!(
            self.spawn().await,
            "redis-server did not restart on {}",
            self.port
        );
    }
}

/// `n` hub processes on a fresh database and `redis`.
async fn cluster(n: usize, redis: &OwnRedis) -> Cluster {
    let backend = Backend::Cluster {
        database_url: backend::fresh_database().await,
        redis_url: redis.url(),
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut nodes = Vec::new();
    for i in 0..n {
        let name = format!("node-{i}");
        nodes.push(Some(
            HubProcess::start(
                &backend,
                &dir.path().join(&name),
                free_port(),
                &["--node", &name],
            )
            .await,
        ));
    }
    Cluster {
        backend,
        nodes,
        _dir: dir,
        http: reqwest::Client::new(),
    }
}

async fn ready(cl: &Cluster, i: usize) -> bool {
    cl.http
        .get(format!("http://{}/readyz", cl.node(i).addr))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn is_removed(f: &ServerFrame, r: &RoomId) -> bool {
    matches!(f, ServerFrame::Unsubscribed { room, reason: Some(why), .. } if room == r && why == "removed")
}

/// The seqs of `room`'s messages among `frames`.
fn seqs(frames: &[ServerFrame], room: &RoomId) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message(m) if &m.room == room => Some(m.seq),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_member_removed_while_redis_is_down_hears_nothing_after_it_returns() {
    let mut redis = OwnRedis::start().await;
    let cl = cluster(2, &redis).await;
    let coord = User::coordinator("coord");
    let (nurse, pt) = (User::member("nurse"), User::member("pt"));
    let r = cl.team_room(&coord, "res-rm", &[&nurse, &pt]).await;
    // The member to remove and a member who stays, both on node 1; a poster on node 0.
    let mut removed = cl.connect(1, &pt).await;
    let mut stays = cl.connect(1, &nurse).await;
    let mut poster = cl.connect(0, &coord).await;
    assert!(matches!(
        removed.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    assert!(matches!(
        stays.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    assert!(matches!(
        poster.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    for i in 1..=2 {
        assert_eq!(
            ack_seq(&poster.post(&r, &format!("before{i}"), "x").await),
            i
        );
    }
    assert_eq!(removed.seqs_until(&r, 2).await, vec![1, 2]);

    redis.kill().await;
    // The removal and three posts happen while no event can cross.
    assert_eq!(
        cl.call(0, &coord, "DELETE", "/api/rooms/res-rm/members/pt", None)
            .await,
        204
    );
    for i in 3..=5 {
        assert_eq!(ack_seq(&poster.post(&r, &format!("down{i}"), "x").await), i);
    }
    redis.restart().await;
    for _ in 0..200 {
        if ready(&cl, 0).await && ready(&cl, 1).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Subscribers reconnect with a backoff of up to 2 s; post on from both nodes after that.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for i in 6..=8 {
        assert_eq!(ack_seq(&poster.post(&r, &format!("up{i}"), "x").await), i);
    }
    assert_eq!(ack_seq(&stays.post(&r, "from-node-1", "x").await), 9);

    // The member who stays gets everything, in order, once (her own post included).
    let mut got = stays.seqs_until(&r, 9).await;
    got.extend(seqs(&stays.drain(Duration::from_millis(500)).await, &r));
    assert_eq!(got, (1..=9).collect::<Vec<_>>());
    let mut on_0 = seqs(&poster.drain(Duration::from_millis(300)).await, &r);
    on_0.dedup();
    assert_eq!(on_0, (1..=9).collect::<Vec<_>>(), "node 0's subscriber");

    // The removed member: told `removed`, and not one message committed after the removal.
    let frames = removed.drain(Duration::from_millis(800)).await;
    let heard = seqs(&frames, &r);
    assert!(
        heard.is_empty(),
        "a removed member heard messages committed after the removal: {heard:?}"
    );
    assert!(
        frames.iter().any(|f| is_removed(f, &r)),
        "no unsubscribed(removed): {frames:?}"
    );
    redis.kill().await;
}

#[tokio::test]
async fn a_lost_membership_event_cannot_let_a_removed_member_listen() {
    let redis = OwnRedis::start().await;
    let mut cl = cluster(2, &redis).await;
    // A third node on the same store whose bus events nobody hears (another channel prefix):
    // a removal made there is a removal whose control event is lost, while the message
    // events of the other nodes get through.
    let deaf_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    cl.nodes.push(Some(
        HubProcess::start(
            &cl.backend,
            deaf_dir.path(),
            free_port(),
            &["--node", "deaf", "--redis-prefix", "elsewhere"],
        )
        .await,
    ));
    let coord = User::coordinator("coord");
    let (nurse, pt) = (User::member("nurse"), User::member("pt"));
    let r = cl.team_room(&coord, "res-lost", &[&nurse, &pt]).await;
    let mut removed = cl.connect(1, &pt).await;
    let mut stays = cl.connect(1, &nurse).await;
    let mut poster = cl.connect(0, &coord).await;
    assert!(matches!(
        removed.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    assert!(matches!(
        stays.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    assert_eq!(ack_seq(&poster.post(&r, "before", "x").await), 1);
    assert_eq!(removed.seqs_until(&r, 1).await, vec![1]);

    assert_eq!(
        cl.call(2, &coord, "DELETE", "/api/rooms/res-lost/members/pt", None)
            .await,
        204
    );
    // Node 1 heard nothing of it: a new subscription there (its cache still lists pt) must
    // not be granted, nor any catch-up sent.
    let mut again = cl.connect(1, &pt).await;
    assert_eq!(
        error_code(&again.subscribe(&r, Some(0)).await),
        yui_protocol::ErrorCode::NotFound
    );
    no_messages(&mut again, Duration::from_millis(300)).await;
    // Nor a page of history, over the WebSocket or HTTP.
    let f = again
        .request(Request::History {
            room: r.clone(),
            before: None,
            limit: 50,
        })
        .await;
    assert_eq!(error_code(&f), yui_protocol::ErrorCode::NotFound, "{f:?}");
    assert_eq!(
        cl.call(1, &pt, "GET", "/api/rooms/res-lost/messages", None)
            .await,
        404
    );

    for i in 2..=4 {
        assert_eq!(
            ack_seq(&poster.post(&r, &format!("after{i}"), "x").await),
            i
        );
    }
    assert_eq!(stays.seqs_until(&r, 4).await, vec![1, 2, 3, 4]);
    let frames = removed.drain(Duration::from_millis(800)).await;
    let heard = seqs(&frames, &r);
    assert!(
        heard.is_empty(),
        "a removed member heard messages committed after the removal: {heard:?}"
    );
    assert!(
        frames.iter().any(|f| is_removed(f, &r)),
        "no unsubscribed(removed): {frames:?}"
    );
    no_messages(&mut stays, Duration::from_millis(300)).await;
}

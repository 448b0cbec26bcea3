//! Multi-node tests: 2-3 real `yui serve` processes on loopback ports sharing one Postgres
//! database (fresh per test) and one Redis. Everything of the protocol must hold across nodes.
//! Needs Postgres and Redis: `scripts/test` makes sure they run (and fails in CI if not).

mod care_notes;
mod removal;
mod town;

use std::time::Duration;
use yui_protocol::client::Request;
use yui_protocol::server::ServerFrame;
use yui_tests::process::{free_port, HubProcess};
use yui_tests::*;

mod bus;

struct Cluster {
    backend: Backend,
    nodes: Vec<Option<HubProcess>>,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Cluster {
    async fn start(n: usize) -> Cluster {
        Cluster::start_on(Backend::fresh_cluster().await, n).await
    }

    /// `n` nodes on the given backend (a Redis of the test's own, say).
    async fn start_on(backend: Backend, n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut nodes = Vec::new();
        for i in 0..n {
            let node_dir = dir.path().join(format!("n{i}"));
            let name = format!("node-{i}");
            nodes.push(Some(
                HubProcess::start(&backend, &node_dir, free_port(), &["--node", &name]).await,
            ));
        }
        Cluster {
            backend,
            nodes,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    fn node(&self, i: usize) -> &HubProcess {
        self.nodes[i]
            .as_ref()
            .unwrap_or_else(|| panic!("node {i} is down"))
    }

    async fn connect(&self, i: usize, user: &User) -> Client {
        let mut c = Client::open(&self.node(i).ws_url()).await;
        let w = c.hello(&sign(&user.claims(3600, "yui"), SECRET)).await;
        assert!(matches!(w, ServerFrame::Welcome { .. }), "{w:?}");
        c.welcome = Some(w);
        c
    }

    async fn call(
        &self,
        i: usize,
        user: &User,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> u16 {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self
            .http
            .request(m, format!("http://{}{path}", self.node(i).addr))
            .bearer_auth(sign(&user.claims(3600, "yui"), SECRET));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    async fn team_room(
        &self,
        owner: &User,
        id: &str,
        members: &[&User],
    ) -> yui_protocol::ids::RoomId {
        let s = self
            .call(
                0,
                owner,
                "PUT",
                &format!("/api/rooms/{id}"),
                Some(serde_json::json!({"kind":"team","title":"t","town":owner.town})),
            )
            .await;
        assert_eq!(s, 201);
        for m in members {
            assert_eq!(
                self.call(
                    0,
                    owner,
                    "PUT",
                    &format!("/api/rooms/{id}/members/{}", m.id),
                    None
                )
                .await,
                204
            );
        }
        room(id)
    }

    fn database_url(&self) -> String {
        match &self.backend {
            Backend::Cluster { database_url, .. } => database_url.clone(),
            Backend::Embedded => unreachable!(),
        }
    }
}

async fn no_messages(c: &mut Client, d: Duration) {
    let extra = c.drain(d).await;
    assert!(
        !extra.iter().any(|f| matches!(f, ServerFrame::Message(_))),
        "unexpected: {extra:?}"
    );
}

#[tokio::test]
async fn a_post_on_one_node_reaches_the_others_in_order() {
    let cl = Cluster::start(3).await;
    let coord = User::coordinator("coord");
    let (a, b, c) = (User::member("a"), User::member("b"), User::member("c"));
    let r = cl.team_room(&coord, "res-x", &[&a, &b, &c]).await;
    let mut on_b = cl.connect(1, &b).await;
    let mut on_c = cl.connect(2, &c).await;
    on_b.subscribe(&r, None).await;
    on_c.subscribe(&r, None).await;
    let mut poster_a = cl.connect(0, &a).await;
    let mut poster_b = cl.connect(1, &coord).await;
    for i in 0..30 {
        poster_a.post(&r, &format!("a{i}"), "from node 0").await;
        poster_b.post(&r, &format!("b{i}"), "from node 1").await;
    }
    assert_eq!(on_b.seqs_until(&r, 60).await, (1..=60).collect::<Vec<_>>());
    assert_eq!(on_c.seqs_until(&r, 60).await, (1..=60).collect::<Vec<_>>());
    no_messages(&mut on_c, Duration::from_millis(300)).await;
    let w = serde_json::to_value(on_c.welcome.as_ref()).unwrap_or_default();
    assert_eq!(w["node"], "node-2");
}

#[tokio::test]
async fn receipts_and_membership_changes_cross_nodes() {
    let cl = Cluster::start(2).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let pt = User::member("pt");
    let r = cl.team_room(&coord, "res-y", &[&nurse]).await;
    let mut watcher = cl.connect(1, &coord).await;
    watcher.subscribe(&r, None).await;
    let mut n = cl.connect(0, &nurse).await;
    n.post(&r, "m1", "note").await;
    watcher.message(&r).await;
    let mut other = cl.connect(1, &coord).await;
    other.post(&r, "m2", "note").await;
    n.request(Request::Read {
        room: r.clone(),
        seq: 2,
    })
    .await;
    let f = watcher
        .wait_for("receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
        .await;
    assert!(matches!(f, ServerFrame::Receipt { seq: 2, .. }), "{f:?}");
    // Added on node 0, told on node 1.
    let mut pt_conn = cl.connect(1, &pt).await;
    assert_eq!(
        cl.call(0, &coord, "PUT", "/api/rooms/res-y/members/pt", None)
            .await,
        204
    );
    let f = pt_conn
        .wait_for("room_added", |f| matches!(f, ServerFrame::RoomAdded { .. }))
        .await;
    assert!(matches!(f, ServerFrame::RoomAdded { .. }));
    assert!(matches!(
        pt_conn.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    // Removed on node 0: delivery on node 1 stops at once.
    assert_eq!(
        cl.call(0, &coord, "DELETE", "/api/rooms/res-y/members/pt", None)
            .await,
        204
    );
    let f = pt_conn
        .wait_for("unsubscribed", |f| {
            matches!(f, ServerFrame::Unsubscribed { .. })
        })
        .await;
    assert!(matches!(
        f,
        ServerFrame::Unsubscribed {
            reason: Some(_),
            ..
        }
    ));
    n.post(&r, "m3", "after removal").await;
    no_messages(&mut pt_conn, Duration::from_millis(500)).await;
    assert_eq!(
        error_code(&pt_conn.subscribe(&r, None).await),
        yui_protocol::ErrorCode::NotFound
    );
}

#[tokio::test]
async fn readers_resume_on_another_node_after_kill_9() {
    let mut cl = Cluster::start(2).await;
    let coord = User::coordinator("coord");
    let readers: Vec<User> = (0..3).map(|i| User::member(&format!("r{i}"))).collect();
    let refs: Vec<&User> = readers.iter().collect();
    let r = cl.team_room(&coord, "res-z", &refs).await;
    let mut conns = Vec::new();
    for u in &readers {
        let mut c = cl.connect(0, u).await;
        c.subscribe(&r, None).await;
        conns.push(c);
    }
    // Posts go on from node 1 while node 0 dies.
    let mut poster = cl.connect(1, &coord).await;
    let r2 = r.clone();
    let posting = tokio::spawn(async move {
        // 16 posts/s: inside the 20 frames/s rate limit.
        for i in 0..80 {
            let f = poster.post(&r2, &format!("p{i}"), "stream").await;
            assert_eq!(ack_seq(&f), i + 1);
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut last_seen = Vec::new();
    for c in conns.iter_mut() {
        let m = c.message(&r).await;
        last_seen.push(m.seq);
    }
    if let Some(n0) = cl.nodes[0].take() {
        n0.kill9().await;
    }
    // Each reader saw a prefix; it reconnects to node 1 and resumes from what it saw.
    let mut seen: Vec<Vec<u64>> = Vec::new();
    for (i, c) in conns.iter_mut().enumerate() {
        let mut got = vec![last_seen[i]];
        for f in c.drain(Duration::from_millis(10)).await {
            if let ServerFrame::Message(m) = f {
                got.push(m.seq);
            }
        }
        seen.push(got);
    }
    posting.await.unwrap_or_else(|e| panic!("{e}"));
    for (i, u) in readers.iter().enumerate() {
        let mut c = cl.connect(1, u).await;
        let since = *seen[i].last().unwrap_or(&0);
        c.subscribe(&r, Some(since)).await;
        let rest = c.seqs_until(&r, 80).await;
        let mut all = seen[i].clone();
        all.extend(rest);
        let first = all[0];
        assert_eq!(
            all,
            (first..=80).collect::<Vec<_>>(),
            "reader {i}: complete and duplicate-free"
        );
    }
}

#[tokio::test]
async fn a_cut_redis_connection_is_repaired_from_the_store() {
    let cl = Cluster::start(2).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = cl.team_room(&coord, "res-w", &[&nurse]).await;
    let mut reader = cl.connect(1, &nurse).await;
    reader.subscribe(&r, None).await;
    let mut poster = cl.connect(0, &coord).await;
    for i in 0..60 {
        poster.post(&r, &format!("p{i}"), "stream").await;
        if i % 15 == 7 {
            // Cut every subscriber connection (both nodes'); they reconnect and resync.
            backend::kill_pubsub_clients(&backend::redis_url()).await;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert_eq!(
        reader.seqs_until(&r, 60).await,
        (1..=60).collect::<Vec<_>>()
    );
    no_messages(&mut reader, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn postgres_down_means_unavailable_and_retries_succeed_once_it_is_back() {
    let cl = Cluster::start(1).await;
    let coord = User::coordinator("coord");
    let r = cl.team_room(&coord, "res-v", &[]).await;
    let mut c = cl.connect(0, &coord).await;
    assert_eq!(ack_seq(&c.post(&r, "before", "ok").await), 1);
    let db = cl.database_url();
    let name = db.rsplit('/').next().unwrap_or_default().to_string();
    let admin_url = backend::admin_url();
    let outage = |allow: bool| {
        let admin_url = admin_url.clone();
        let name = name.clone();
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if !allow {
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                    .bind(&name).execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
            }
        }
    };
    outage(false).await;
    let f = c.post(&r, "during", "retry me").await;
    assert_eq!(
        error_code(&f),
        yui_protocol::ErrorCode::Unavailable,
        "{f:?}"
    );
    let ready = cl
        .http
        .get(format!("http://{}/readyz", cl.node(0).addr))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(ready, 503);
    outage(true).await;
    // The client retries with the same client_id until it gets an ack.
    let mut seq = None;
    for _ in 0..50 {
        match c.post(&r, "during", "retry me").await {
            ServerFrame::Ack { seq: Some(s), .. } => {
                seq = Some(s);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert_eq!(seq, Some(2));
    assert_eq!(
        ack_seq(&c.post(&r, "during", "again").await),
        2,
        "still idempotent"
    );
    c.subscribe(&r, Some(0)).await;
    assert_eq!(c.seqs_until(&r, 2).await, vec![1, 2]);
}

#[tokio::test]
async fn sigterm_drains_for_a_rolling_restart() {
    let mut cl = Cluster::start(2).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = cl.team_room(&coord, "res-u", &[&nurse]).await;
    let mut reader = cl.connect(0, &nurse).await;
    reader.subscribe(&r, None).await;
    let mut poster = cl.connect(1, &coord).await;
    for i in 0..10 {
        poster.post(&r, &format!("a{i}"), "x").await;
    }
    let seen = reader.seqs_until(&r, 10).await;
    assert_eq!(seen.len(), 10);
    if let Some(n0) = cl.nodes[0].take() {
        let status = n0.terminate().await;
        assert!(status.success());
    }
    assert_eq!(reader.closed().await, Closed::Code(1001));
    for i in 10..20 {
        poster.post(&r, &format!("a{i}"), "x").await;
    }
    let mut again = cl.connect(1, &nurse).await;
    again.subscribe(&r, Some(10)).await;
    assert_eq!(
        again.seqs_until(&r, 20).await,
        (11..=20).collect::<Vec<_>>()
    );
}

//! Two nodes on one Postgres: each notification is sent once, by one node, and a node killed
//! between claiming a push and sending it leaves the push to the other node after the lease.

use super::{options, payload_room, post, subscribe, vapid_key};
use std::collections::HashMap;
use std::time::Duration;
use yui_tests::process::{free_port, HubProcess};
use yui_tests::push::Receiver;
use yui_tests::*;

#[tokio::test]
async fn two_nodes_send_each_notification_once() {
    let backend = Backend::fresh_cluster().await;
    let n0 = spawn_on(backend.clone(), options()).await;
    let n1 = spawn_on(backend.clone(), options()).await;
    let key = vapid_key(&n0).await;
    assert_eq!(vapid_key(&n1).await, key, "one key for every node");
    let rx = Receiver::start(&key).await;
    let (a, b, c) = (User::coordinator("a"), User::member("b"), User::member("c"));
    let rooms = 12;
    for i in 0..rooms {
        n0.team_room(&a, &format!("r{i}"), &[&b, &c]).await;
    }
    subscribe(&n0, &b, &rx, "b").await;
    subscribe(&n1, &c, &rx, "c").await;
    for i in 0..rooms {
        let node = if i % 2 == 0 { &n0 } else { &n1 };
        post(node, &a, &format!("r{i}"), &format!("c{i}"), "x").await;
    }
    for name in ["b", "c"] {
        let got = rx.wait_delivered(name, rooms, WAIT).await;
        assert_eq!(got.len(), rooms, "{name}: {:?}", rx.got(name));
    }
    // Nothing more comes (both nodes poll the same outbox).
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["b", "c"] {
        let mut per_room: HashMap<String, usize> = HashMap::new();
        for r in rx.got(name) {
            *per_room
                .entry(payload_room(&r.payload).to_owned())
                .or_default() += 1;
        }
        assert_eq!(per_room.len(), rooms, "{name}: {per_room:?}");
        assert!(per_room.values().all(|n| *n == 1), "{name}: {per_room:?}");
    }
    assert!(rx.bad().is_empty(), "{:?}", rx.bad());
}

#[tokio::test]
async fn a_node_killed_after_claiming_leaves_the_push_to_another() {
    let backend = Backend::fresh_cluster().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Node 0 waits 60 s between claiming and sending; its lease is 2 s.
    let slow = HubProcess::start(
        &backend,
        &dir.path().join("n0"),
        free_port(),
        &[
            "--node",
            "slow",
            "--push-allow-insecure",
            "--push-test-delay-ms",
            "60000",
            "--push-lease-seconds",
            "2",
        ],
    )
    .await;
    let url = |path: &str| format!("http://{}{path}", slow.addr);
    let http = reqwest::Client::new();
    let config: serde_json::Value = http
        .get(url("/api/config"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = config["vapid_public_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rx = Receiver::start(&key).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    let send = |user: &User, method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, url(path))
            .bearer_auth(sign(&user.claims(3600, "yui"), SECRET))
            .json(&body)
            .send()
    };
    let r = send(
        &a,
        reqwest::Method::PUT,
        "/api/rooms/r1",
        serde_json::json!({"kind":"team","title":"room r1","town":a.town}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status().is_success(), "{r:?}");
    let r = send(
        &a,
        reqwest::Method::PUT,
        "/api/rooms/r1/members/b",
        serde_json::json!({}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status().is_success(), "{r:?}");
    let r = send(
        &b,
        reqwest::Method::POST,
        "/api/me/push",
        rx.subscription("b"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 201);
    let r = send(
        &a,
        reqwest::Method::POST,
        "/api/rooms/r1/messages",
        serde_json::json!({"client_id":"c1","body":"x"}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status().is_success(), "{r:?}");
    // Wait until the slow node has claimed the push, then kill it.
    let Backend::Cluster { database_url, .. } = &backend else {
        panic!("a cluster backend")
    };
    let db = sqlx::PgPool::connect(database_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let by: Option<Option<String>> =
            sqlx::query_scalar("SELECT claimed_by FROM push_outbox LIMIT 1")
                .fetch_optional(&db)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        if by == Some(Some("slow".into())) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never claimed: {by:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slow.kill9().await;
    assert!(rx.got("b").is_empty());
    // Another node takes it once the lease is over.
    let other = spawn_on(backend.clone(), options()).await;
    let got = rx.wait_delivered("b", 1, WAIT).await;
    assert_eq!(got.len(), 1, "bad: {:?}", rx.bad());
    assert_eq!(got[0].payload["room"], "r1");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.got("b").len(), 1, "sent once");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM push_outbox WHERE pending")
        .fetch_one(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(left, 0);
    drop(other);
}

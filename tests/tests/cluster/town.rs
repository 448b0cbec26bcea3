//! `--require-consent` and `room_updated` across nodes (PROTOCOL.md 5.4): a consent recorded
//! or withdrawn on one node changes what another node accepts, and a title or resident change
//! on one node reaches members connected to another.

use super::Cluster;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::process::{free_port, HubProcess};
use yui_tests::*;

impl Cluster {
    /// `n` nodes with `extra` flags each.
    async fn start_with(n: usize, extra: &[&str]) -> Cluster {
        let backend = Backend::fresh_cluster().await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut nodes = Vec::new();
        for i in 0..n {
            let name = format!("node-{i}");
            let mut args = vec!["--node", name.as_str()];
            args.extend_from_slice(extra);
            let node_dir = dir.path().join(format!("n{i}"));
            nodes.push(Some(
                HubProcess::start(&backend, &node_dir, free_port(), &args).await,
            ));
        }
        Cluster {
            backend,
            nodes,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    async fn json(&self, i: usize, user: &User, method: &str, path: &str, body: Value) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        self.http
            .request(m, format!("http://{}{path}", self.node(i).addr))
            .bearer_auth(sign(&user.claims(3600, "yui"), SECRET))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_default()
    }
}

/// Posts on `c` until the answer is an ack (`want_ack`) or an error, for at most 5 s: the other
/// node's cache is dropped by a bus event, a moment after the change committed.
async fn post_until(c: &mut Client, room: &str, want_ack: bool, tag: &str) -> ServerFrame {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    loop {
        n += 1;
        let f = c
            .post(&room_id(room), &format!("{tag}-{n}"), "訪問しました")
            .await;
        let acked = matches!(f, ServerFrame::Ack { .. });
        if acked == want_ack || Instant::now() > deadline {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn room_id(s: &str) -> yui_protocol::ids::RoomId {
    room(s)
}

#[tokio::test]
async fn a_consent_on_one_node_opens_and_its_withdrawal_closes_posts_on_another() {
    let cl = Cluster::start_with(2, &["--require-consent"]).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    cl.team_room(&coord, "yamada", &[&nurse]).await;
    let mut c = cl.connect(1, &nurse).await;
    // Node 1 caches the room (no consent) with this refusal.
    let f = c.post(&room_id("yamada"), "w-0", "訪問しました").await;
    assert_eq!(error_code(&f), ErrorCode::Forbidden, "{f:?}");

    let consent = json!({"given_by":"山田 ハナ","relation":"本人","date":"2026-11-20",
                         "explained_by":"佐藤"});
    let b = cl
        .json(0, &coord, "POST", "/api/rooms/yamada/consents", consent)
        .await;
    let id = b["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "{b}");
    let f = post_until(&mut c, "yamada", true, "a").await;
    assert!(matches!(f, ServerFrame::Ack { .. }), "{f:?}");

    let b = cl
        .json(
            0,
            &coord,
            "POST",
            &format!("/api/rooms/yamada/consents/{id}/withdraw"),
            json!({"date":"2026-11-25"}),
        )
        .await;
    assert_eq!(b["withdrawal"]["date"], "2026-11-25", "{b}");
    let f = post_until(&mut c, "yamada", false, "b").await;
    assert_eq!(error_code(&f), ErrorCode::Forbidden, "{f:?}");
}

#[tokio::test]
async fn a_title_change_on_one_node_reaches_members_on_another() {
    let cl = Cluster::start(2).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    cl.team_room(&coord, "yamada", &[&nurse]).await;
    let mut c = cl.connect(1, &nurse).await;
    let s = cl
        .call(
            0,
            &coord,
            "PUT",
            "/api/rooms/yamada",
            Some(json!({"kind":"team","title":"山田 ハナ さん","town":"misaki"})),
        )
        .await;
    assert_eq!(s, 200);
    let f = c
        .wait_for("room_updated", |f| {
            matches!(f, ServerFrame::RoomUpdated { .. })
        })
        .await;
    let ServerFrame::RoomUpdated { room } = f else {
        unreachable!()
    };
    assert_eq!(room.title.as_str(), "山田 ハナ さん");
}

//! The hub as a real process: kill -9 loses nothing acked; SIGTERM drains with 1001.

use yui_tests::process::{free_port, HubProcess};
use yui_tests::*;

#[tokio::test]
async fn posts_acked_before_kill_9_are_there_after_restart() {
    let backend = Backend::fresh().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let hub = HubProcess::start(&backend, dir.path(), port, &[]).await;
    let app = Remote::new(hub.addr);
    let coord = User::coordinator("coord");
    app.create_team_room(&coord, "res-crash").await;
    let r = room("res-crash");
    let mut posters = Vec::new();
    for p in 0..4 {
        let mut c = Client::open(&hub.ws_url()).await;
        c.hello(&sign(&coord.claims(3600, "yui"), SECRET)).await;
        let r = r.clone();
        posters.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..1000 {
                c.send(
                    &yui_protocol::client::Request::Post {
                        room: r.clone(),
                        post: yui_protocol::post::NewPost::note(
                            yui_protocol::ids::ClientId::parse(format!("p{p}-{i}"))
                                .unwrap_or_else(|e| panic!("{e}")),
                            yui_protocol::ids::Body::parse("記録")
                                .unwrap_or_else(|e| panic!("{e}")),
                        ),
                    },
                    Some("x"),
                )
                .await;
                match c.next().await {
                    Ok(yui_protocol::server::ServerFrame::Ack { seq: Some(s), .. }) => {
                        acked.push(s)
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
                tokio::time::sleep(std::time::Duration::from_millis(55)).await;
            }
            acked
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    hub.kill9().await;
    let mut acked = Vec::new();
    for p in posters {
        acked.extend(p.await.unwrap_or_default());
    }
    assert!(
        acked.len() >= 40,
        "only {} posts were acked before the kill",
        acked.len()
    );
    let hub = HubProcess::start(&backend, dir.path(), port, &[]).await;
    let mut c = Client::open(&hub.ws_url()).await;
    c.hello(&sign(&coord.claims(3600, "yui"), SECRET)).await;
    let max = acked.iter().copied().max().unwrap_or(0);
    match c.subscribe(&r, Some(0)).await {
        yui_protocol::server::ServerFrame::Subscribed { last_seq, .. } => {
            assert!(last_seq >= max, "last_seq {last_seq} < acked {max}")
        }
        other => panic!("{other:?}"),
    }
    let seqs = c.seqs_until(&r, max).await;
    assert_eq!(
        seqs,
        (1..=max).collect::<Vec<_>>(),
        "every acked post is there, in order"
    );
    hub.kill9().await;
}

#[tokio::test]
async fn sigterm_closes_connections_with_1001_and_exits() {
    let backend = Backend::fresh().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hub = HubProcess::start(&backend, dir.path(), free_port(), &[]).await;
    let mut c = Client::open(&hub.ws_url()).await;
    c.hello(&sign(&User::member("u").claims(3600, "yui"), SECRET))
        .await;
    let started = std::time::Instant::now();
    let status = hub.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(c.closed().await, Closed::Code(1001));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "drained in {:?}",
        started.elapsed()
    );
}

/// A hub reached only over HTTP (a process).
struct Remote {
    addr: std::net::SocketAddr,
    http: reqwest::Client,
}

impl Remote {
    fn new(addr: std::net::SocketAddr) -> Self {
        Remote {
            addr,
            http: reqwest::Client::new(),
        }
    }

    async fn create_team_room(&self, owner: &User, id: &str) {
        let r = self
            .http
            .put(format!("http://{}/api/rooms/{id}", self.addr))
            .bearer_auth(sign(&owner.claims(3600, "yui"), SECRET))
            .json(&serde_json::json!({"kind":"team","title":"t","town":owner.town}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 201);
    }
}

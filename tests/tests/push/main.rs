//! Web Push end to end (PROTOCOL.md 5.6): a real hub, a real push receiver
//! (`yui_tests::push::Receiver`: checks VAPID, decrypts RFC 8291), real clients. Embedded by
//! default; `YUI_TEST_BACKEND=cluster` runs the same on Postgres and Redis. The two-node tests
//! (`cluster.rs`) always run on Postgres.

mod cluster;
mod digest;

use serde_json::{json, Value};
use std::time::Duration;
use yui_tests::push::Receiver;
use yui_tests::*;

/// Settings of every push test hub: http:// endpoints allowed, a short coalescing window,
/// quick retries, presence written often.
pub fn push_tune(args: &mut yui_server::config::ServeArgs) {
    args.push.push_allow_insecure = true;
    args.push.push_coalesce_seconds = 3;
    args.push.push_backoff_ms = 200;
    args.push.push_presence_ms = 200;
}

pub fn options() -> Options {
    Options {
        tune: Some(push_tune),
        ..Options::default()
    }
}

pub async fn vapid_key(app: &TestApp) -> String {
    let (s, b) = app.call_token(None, "GET", "/api/config", None).await;
    assert_eq!(s, 200, "{b}");
    b["vapid_public_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no vapid key: {b}"))
        .to_owned()
}

pub async fn subscribe(app: &TestApp, user: &User, rx: &Receiver, name: &str) {
    let (s, b) = app
        .call(user, "POST", "/api/me/push", Some(rx.subscription(name)))
        .await;
    assert_eq!(s, 201, "subscribe {name}: {b}");
}

pub async fn post(app: &TestApp, user: &User, room: &str, client_id: &str, body: &str) {
    let (s, b) = app
        .call(
            user,
            "POST",
            &format!("/api/rooms/{room}/messages"),
            Some(json!({"client_id": client_id, "body": body})),
        )
        .await;
    assert!(s == 201 || s == 200, "post: {s} {b}");
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn config_gives_a_p256_key_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = Backend::fresh().await;
    let opts = Options {
        tune: Some(push_tune),
        data_dir: Some(dir.path().to_path_buf()),
    };
    let app = spawn_on(backend.clone(), opts.clone()).await;
    let key = vapid_key(&app).await;
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &key)
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(raw.len(), 65);
    assert_eq!(raw[0], 4, "uncompressed point");
    app.stop().await.unwrap_or_else(|e| panic!("{e}"));
    let again = spawn_on(backend, opts).await;
    assert_eq!(vapid_key(&again).await, key, "the key is made once");
}

#[tokio::test]
async fn subscriptions_are_validated() {
    let app = spawn_app().await; // http:// endpoints not allowed here
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let b = User::member("b");
    let mut body = rx.subscription("s");
    let (s, r) = app
        .call(&b, "POST", "/api/me/push", Some(body.clone()))
        .await;
    assert_eq!(s, 400, "http:// without --push-allow-insecure: {r}");
    assert_eq!(r["error"]["code"], "bad_request");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("https"),
        "{r}"
    );
    body["endpoint"] = json!("https://push.example/abc");
    let (s, r) = app
        .call(&b, "POST", "/api/me/push", Some(body.clone()))
        .await;
    assert_eq!(s, 201, "{r}");
    let mut short = body.clone();
    short["keys"]["p256dh"] = json!("BAAA");
    let (s, r) = app.call(&b, "POST", "/api/me/push", Some(short)).await;
    assert_eq!(
        (s, r["error"]["code"].clone()),
        (400, json!("bad_request")),
        "{r}"
    );
    let mut auth = body.clone();
    auth["keys"]["auth"] = json!("AAAA");
    let (s, _) = app.call(&b, "POST", "/api/me/push", Some(auth)).await;
    assert_eq!(s, 400);
    let mut long = body.clone();
    long["endpoint"] = json!(format!("https://push.example/{}", "x".repeat(3000)));
    let (s, _) = app.call(&b, "POST", "/api/me/push", Some(long)).await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(
            &b,
            "POST",
            "/api/me/push",
            Some(json!({"endpoint": "https://push.example/a"})),
        )
        .await;
    assert_eq!(s, 400, "keys missing");
    let (s, _) = app
        .call_token(None, "POST", "/api/me/push", Some(body.clone()))
        .await;
    assert_eq!(s, 401);
    let (s, r) = app
        .call(
            &b,
            "DELETE",
            "/api/me/push",
            Some(json!({"endpoint": "https://push.example/abc"})),
        )
        .await;
    assert_eq!(s, 204, "{r}");
    let (s, _) = app
        .call(
            &b,
            "DELETE",
            "/api/me/push",
            Some(json!({"endpoint": "not a url"})),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn an_away_reader_gets_one_push_with_no_text() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    subscribe(&app, &a, &rx, "a").await;
    post(&app, &a, "r1", "c1", "発熱 38.5℃ 田中様").await;
    let got = rx.wait_delivered("b", 1, WAIT).await;
    assert_eq!(got.len(), 1, "bad: {:?}", rx.bad());
    assert_eq!(
        got[0].payload,
        json!({"room":"r1","title":"room r1","unread":1,"urgent":false,"mentioned":false})
    );
    let text = got[0].payload.to_string();
    assert!(!text.contains("発熱") && !text.contains("田中") && !text.contains("\"a\""));
    assert_eq!(got[0].urgency.as_deref(), Some("normal"));
    assert!(got[0].ttl.unwrap_or(0) > 0);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.got("a").is_empty(), "the author gets no push");
    assert_eq!(rx.got("b").len(), 1);
    assert!(rx.bad().is_empty(), "{:?}", rx.bad());
    assert!(metric(&app, "yui_push_sent_total").await >= 1.0);
    // Unsubscribed: nothing more.
    let (s, _) = app
        .call(
            &b,
            "DELETE",
            "/api/me/push",
            Some(json!({"endpoint": rx.endpoint("b")})),
        )
        .await;
    assert_eq!(s, 204);
    post(&app, &a, "r1", "c2", "next").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(rx.got("b").len(), 1);
}

#[tokio::test]
async fn posts_within_the_window_coalesce() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    for i in 0..3 {
        post(&app, &a, "r1", &format!("c{i}"), "x").await;
    }
    let first = rx.wait_delivered("b", 1, WAIT).await;
    assert_eq!(first.len(), 1);
    // Inside the 3 s window: still one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.got("b").len(), 1, "3 posts in the window: 1 push so far");
    // Unless the first push already counted all 3, one more at the end of the window.
    if first[0].payload["unread"] != 3 {
        let both = rx.wait_delivered("b", 2, WAIT).await;
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].payload["unread"], 3);
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(rx.got("b").len() <= 2, "{:?}", rx.got("b"));
}

#[tokio::test]
async fn a_subscribed_user_gets_no_push() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    let room = app.team_room(&a, "r1", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    let mut client = app.connect(&b).await;
    client.subscribe(&room, None).await;
    post(&app, &a, "r1", "c1", "here").await;
    client.message(&room).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(rx.got("b").is_empty(), "b reads the room live");
    client.close().await;
    // Gone (the presence rows go within a presence interval): the next post notifies.
    tokio::time::sleep(Duration::from_millis(600)).await;
    post(&app, &a, "r1", "c2", "away now").await;
    let got = rx.wait_delivered("b", 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload["unread"], 2);
}

#[tokio::test]
async fn a_gone_subscription_is_removed() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    app.team_room(&a, "r2", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    rx.script("b", &[410]);
    let before = metric(&app, "yui_push_subscriptions_removed_total").await;
    post(&app, &a, "r1", "c1", "x").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while rx.got("b").is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rx.got("b").len(), 1);
    assert_eq!(rx.got("b")[0].answered, 410);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        metric(&app, "yui_push_subscriptions_removed_total").await - before,
        1.0
    );
    // Another room, past any window: nothing is sent to a removed subscription.
    post(&app, &a, "r2", "c2", "x").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.got("b").len(), 1, "{:?}", rx.got("b"));
}

#[tokio::test]
async fn a_failing_push_service_is_retried() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    rx.script("b", &[503, 500]);
    post(&app, &a, "r1", "c1", "x").await;
    let got = rx.wait_delivered("b", 1, WAIT).await;
    assert_eq!(got.len(), 1, "{:?}", rx.got("b"));
    let statuses: Vec<u16> = rx.got("b").iter().map(|r| r.answered).collect();
    assert_eq!(statuses, vec![503, 500, 201]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.got("b").len(), 3, "delivered once: no more tries");
}

#[tokio::test]
async fn a_push_service_that_always_fails_is_given_up() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    rx.script("b", &[503; 20]);
    let before = metric(&app, "yui_push_failed_total").await;
    post(&app, &a, "r1", "c1", "x").await;
    // 5 tries, 200 ms doubling: about 3 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(rx.got("b").len(), 5, "bounded tries");
    assert_eq!(metric(&app, "yui_push_failed_total").await - before, 1.0);
    // The gauge is refreshed every 2 s (and shared by the hubs of this test process).
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(&app, "yui_push_outbox_depth").await != 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "outbox not empty");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Keeps `Value` in use for helpers shared with `cluster.rs`.
pub fn payload_room(v: &Value) -> &str {
    v["room"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_muted_room_sends_no_push() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    app.team_room(&a, "r2", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (s, r) = app
        .call(
            &b,
            "PUT",
            "/api/me/rooms/r1/settings",
            Some(json!({ "muted_until": until })),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    post(&app, &a, "r1", "c1", "muted room").await;
    post(&app, &a, "r2", "c2", "other room").await;
    let got = rx.wait_delivered("b", 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload["room"], "r2", "only the room not muted");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.got("b").len(), 1, "{:?}", rx.got("b"));
}

#[tokio::test]
async fn urgent_and_mentions_notify_through_a_mute() {
    let app = spawn_app_with(options()).await;
    let rx = Receiver::start(&vapid_key(&app).await).await;
    let (a, b) = (User::coordinator("a"), User::member("b"));
    app.team_room(&a, "r1", &[&b]).await;
    app.team_room(&a, "r2", &[&b]).await;
    subscribe(&app, &b, &rx, "b").await;
    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for room in ["r1", "r2"] {
        let (s, r) = app
            .call(
                &b,
                "PUT",
                &format!("/api/me/rooms/{room}/settings"),
                Some(json!({ "muted_until": until })),
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    post(&app, &a, "r1", "c0", "muted, ordinary").await;
    let (s, r) = app
        .call(
            &a,
            "POST",
            "/api/rooms/r1/messages",
            Some(json!({"client_id": "c1", "body": "至急", "priority": "urgent"})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, r) = app
        .call(
            &a,
            "POST",
            "/api/rooms/r2/messages",
            Some(json!({"client_id": "c2", "body": "b さんへ", "mentions": ["b"]})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let got = rx.wait_delivered("b", 2, WAIT).await;
    assert_eq!(got.len(), 2, "{:?}", rx.got("b"));
    let urgent = got.iter().find(|g| g.payload["room"] == "r1");
    let mention = got.iter().find(|g| g.payload["room"] == "r2");
    let urgent = urgent.unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(urgent.payload["urgent"], true);
    assert_eq!(urgent.urgency.as_deref(), Some("high"));
    let mention = mention.unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(mention.payload["mentioned"], true);
    assert_eq!(mention.payload["urgent"], false);
    assert_eq!(mention.urgency.as_deref(), Some("normal"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.got("b").len(), 2);
}

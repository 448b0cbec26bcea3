//! Care notes (PROTOCOL.md 5.2): urgent posts, mentions and their unread counts, confirmations,
//! revisions and who has not read a message, over the WebSocket and the HTTP API, with the
//! hostile inputs each refuses.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use yui_protocol::server::ServerFrame;
use yui_tests::*;

static REFS: AtomicU64 = AtomicU64::new(0);

/// Sends a raw JSON frame with a fresh `ref` and returns its reply as JSON.
async fn ask(c: &mut Client, mut frame: Value) -> Value {
    let r = format!("n{}", REFS.fetch_add(1, Ordering::Relaxed));
    frame["ref"] = json!(r);
    c.send_raw(&frame.to_string()).await;
    let reply = c.reply(&r).await;
    serde_json::to_value(reply).unwrap_or_default()
}

fn code(v: &Value) -> &str {
    assert_eq!(v["type"], "error", "expected an error: {v}");
    v["code"].as_str().unwrap_or_default()
}

fn acked_seq(v: &Value) -> u64 {
    assert_eq!(v["type"], "ack", "expected an ack: {v}");
    v["seq"].as_u64().unwrap_or_default()
}

/// The summary of `room` in `GET /api/me/rooms` for `user`.
async fn summary(app: &TestApp, user: &User, room: &str) -> Value {
    let (s, b) = app.call(user, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 200, "{b}");
    b["rooms"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["room"] == room).cloned())
        .unwrap_or_else(|| panic!("{room} not in {b}"))
}

/// A team room of `coord` (its owner) with the members `ann` and `ben`.
async fn team(app: &TestApp, id: &str) -> (User, User, User) {
    let coord = User::coordinator(&format!("{id}-coord"));
    let ann = User::member(&format!("{id}-ann"));
    let ben = User::member(&format!("{id}-ben"));
    app.team_room(&coord, id, &[&ann, &ben]).await;
    (coord, ann, ben)
}

async fn post_http(app: &TestApp, user: &User, room: &str, body: Value) -> (u16, Value) {
    app.call(
        user,
        "POST",
        &format!("/api/rooms/{room}/messages"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn urgent_posts_and_mentions_carry_names_and_count_as_unread_per_user() {
    let app = spawn_app().await;
    let (coord, ann, ben) = team(&app, "cn-urgent").await;
    // Ben is known to the directory by his token before he is mentioned.
    let mut b = app.connect(&ben).await;
    b.subscribe(&room("cn-urgent"), None).await;
    let mut a = app.connect(&ann).await;

    let v = ask(
        &mut a,
        json!({"type":"post","room":"cn-urgent","client_id":"u1","body":"転倒しました",
               "priority":"urgent","mentions":[ben.id, ben.id]}),
    )
    .await;
    assert_eq!(acked_seq(&v), 1);
    let m = b.message(&room("cn-urgent")).await;
    let m = serde_json::to_value(&m).unwrap_or_default();
    assert_eq!(m["priority"], "urgent", "{m}");
    assert_eq!(
        m["mentions"],
        json!([{"id": ben.id, "name": ben.name}]),
        "repeats dropped, names resolved: {m}"
    );
    assert_eq!(m["attachments"], json!([]));

    // Over HTTP: a normal post that mentions Ben and the coordinator.
    let (s, r) = post_http(
        &app,
        &ann,
        "cn-urgent",
        json!({"client_id":"u2","body":"様子見","mentions":[ben.id, coord.id]}),
    )
    .await;
    assert_eq!((s, r["seq"].as_u64()), (201, Some(2)), "{r}");
    let m = b.message(&room("cn-urgent")).await;
    assert_eq!(m.priority, yui_protocol::model::Priority::Normal);
    assert_eq!(m.mentions.len(), 2);

    let sb = summary(&app, &ben, "cn-urgent").await;
    assert_eq!(
        (&sb["unread"], &sb["urgent"], &sb["mentions"]),
        (&json!(2), &json!(1), &json!(2)),
        "{sb}"
    );
    let sc = summary(&app, &coord, "cn-urgent").await;
    assert_eq!(
        (&sc["urgent"], &sc["mentions"]),
        (&json!(1), &json!(1)),
        "{sc}"
    );
    // The author's own posts are read by posting them.
    let sa = summary(&app, &ann, "cn-urgent").await;
    assert_eq!(
        (&sa["urgent"], &sa["mentions"]),
        (&json!(0), &json!(0)),
        "{sa}"
    );

    // Reading message 1 leaves only the mention of message 2 unread.
    let v = ask(&mut b, json!({"type":"read","room":"cn-urgent","seq":1})).await;
    assert_eq!(acked_seq(&v), 1);
    let sb = summary(&app, &ben, "cn-urgent").await;
    assert_eq!(
        (&sb["urgent"], &sb["mentions"]),
        (&json!(0), &json!(1)),
        "{sb}"
    );
    // The welcome of a new connection says the same.
    let b2 = app.connect(&ben).await;
    let w = b2
        .welcome_rooms()
        .into_iter()
        .find(|r| r["room"] == "cn-urgent")
        .unwrap_or_default();
    assert_eq!(
        (&w["urgent"], &w["mentions"]),
        (&json!(0), &json!(1)),
        "{w}"
    );

    // History gives every field back, with confirms and no revision.
    let v = ask(&mut b, json!({"type":"history","room":"cn-urgent"})).await;
    let first = &v["messages"][0];
    assert_eq!(first["priority"], "urgent", "{v}");
    assert_eq!(first["confirms"], 0, "{v}");
    assert!(first.get("revised").is_none(), "{v}");
}

#[tokio::test]
async fn bad_mentions_priorities_and_attachments_are_refused_and_commit_nothing() {
    let app = spawn_app().await;
    let (coord, ann, _ben) = team(&app, "cn-bad").await;
    let outsider = User::member("cn-bad-outsider");
    app.connect(&outsider).await;
    let mut a = app.connect(&ann).await;
    let post = |extra: Value| {
        let mut p = json!({"type":"post","room":"cn-bad","client_id":"b1","body":"x"});
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        p
    };
    let many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    for (extra, want, says) in [
        (
            json!({"mentions":[outsider.id]}),
            "bad_request",
            "not a member",
        ),
        (
            json!({"mentions":["no such user"]}),
            "bad_request",
            "mentions[0]",
        ),
        (json!({"mentions":many}), "bad_request", "at most 20"),
        (json!({"mentions":"ann"}), "bad_request", "mentions"),
        (json!({"priority":"high"}), "bad_request", "priority"),
        (
            json!({"attachments":["att1"]}),
            "bad_request",
            "unknown attachment",
        ),
        (
            json!({"attachments":["a/b"]}),
            "bad_request",
            "attachments[0]",
        ),
        (json!({"body":""}), "bad_request", "body"),
    ] {
        let v = ask(&mut a, post(extra.clone())).await;
        assert_eq!(code(&v), want, "{extra}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{extra}: {msg}");
    }
    // The same over HTTP.
    let (s, b) = post_http(
        &app,
        &ann,
        "cn-bad",
        json!({"client_id":"h1","body":"x","mentions":[outsider.id]}),
    )
    .await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (400, &json!("bad_request")),
        "{b}"
    );
    let (s, b) = post_http(
        &app,
        &ann,
        "cn-bad",
        json!({"client_id":"h2","body":"","attachments":["att1"]}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // Nothing was committed, and the client_id is still free.
    assert_eq!(summary(&app, &ann, "cn-bad").await["last_seq"], 0);
    let v = ask(&mut a, post(json!({}))).await;
    assert_eq!(acked_seq(&v), 1);

    // A town room's notices mention no one.
    let board = app.town_room(&coord, "cn-bad-board").await;
    let mut c = app.connect(&coord).await;
    let v = ask(
        &mut c,
        json!({"type":"post","room":board.as_str(),"client_id":"t1","body":"お知らせ",
               "mentions":[ann.id]}),
    )
    .await;
    assert_eq!(code(&v), "bad_request", "{v}");
    // But a town notice may be urgent.
    let v = ask(
        &mut c,
        json!({"type":"post","room":board.as_str(),"client_id":"t2","body":"断水のお知らせ",
               "priority":"urgent"}),
    )
    .await;
    assert_eq!(acked_seq(&v), 1);
    assert_eq!(summary(&app, &ann, board.as_str()).await["urgent"], 1);
}

#[tokio::test]
async fn confirmations_are_durable_told_once_and_listed() {
    let app = spawn_app().await;
    let (coord, ann, ben) = team(&app, "cn-conf").await;
    let r = room("cn-conf");
    let mut a = app.connect(&ann).await;
    a.subscribe(&r, None).await;
    let mut b = app.connect(&ben).await;
    b.subscribe(&r, None).await;
    let v = ask(
        &mut a,
        json!({"type":"post","room":"cn-conf","client_id":"c1","body":"明日の訪問は10時です"}),
    )
    .await;
    assert_eq!(acked_seq(&v), 1);

    let v = ask(&mut b, json!({"type":"confirm","room":"cn-conf","seq":1})).await;
    assert_eq!(
        (&v["type"], &v["room"], &v["seq"]),
        (&json!("ack"), &json!("cn-conf"), &json!(1)),
        "{v}"
    );
    let f = a
        .wait_for("confirmed", |f| matches!(f, ServerFrame::Confirmed { .. }))
        .await;
    let f = serde_json::to_value(f).unwrap_or_default();
    assert_eq!(f["seq"], 1, "{f}");
    assert_eq!(f["user"], json!({"id": ben.id, "name": ben.name}), "{f}");
    let first_at = f["at"].clone();
    // Ben's own connection is told too.
    b.wait_for("own confirmed", |f| {
        matches!(f, ServerFrame::Confirmed { .. })
    })
    .await;

    // Twice changes nothing and tells no one again.
    let v = ask(&mut b, json!({"type":"confirm","room":"cn-conf","seq":1})).await;
    assert_eq!(acked_seq(&v), 1);
    let later = a.drain(Duration::from_millis(300)).await;
    assert!(
        !later
            .iter()
            .any(|f| matches!(f, ServerFrame::Confirmed { .. })),
        "{later:?}"
    );

    // Hostile confirmations.
    for (frame, want) in [
        (
            json!({"type":"confirm","room":"cn-conf","seq":99}),
            "bad_request",
        ),
        (
            json!({"type":"confirm","room":"cn-conf","seq":0}),
            "bad_request",
        ),
        (
            json!({"type":"confirm","room":"cn-conf","seq":-1}),
            "bad_request",
        ),
        (json!({"type":"confirm","room":"cn-conf"}), "bad_request"),
        (
            json!({"type":"confirms","room":"cn-conf","seq":99}),
            "bad_request",
        ),
    ] {
        let v = ask(&mut b, frame.clone()).await;
        assert_eq!(code(&v), want, "{frame}: {v}");
    }
    // One's own message is confirmed by the others.
    let v = ask(&mut a, json!({"type":"confirm","room":"cn-conf","seq":1})).await;
    assert_eq!(code(&v), "bad_request", "{v}");
    // A room one may not read is not found, for confirm and confirms alike.
    let outsider = User::member("cn-conf-outsider");
    let mut o = app.connect(&outsider).await;
    for t in ["confirm", "confirms"] {
        let v = ask(&mut o, json!({"type":t,"room":"cn-conf","seq":1})).await;
        assert_eq!(code(&v), "not_found", "{v}");
    }
    let (s, _) = app
        .call(
            &outsider,
            "POST",
            "/api/rooms/cn-conf/messages/1/confirm",
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Over HTTP: the coordinator confirms; bad seqs are refused.
    let (s, v) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/cn-conf/messages/1/confirm",
            None,
        )
        .await;
    assert_eq!((s, &v), (200, &json!({"seq": 1})), "{v}");
    for path in [
        "/api/rooms/cn-conf/messages/0/confirm",
        "/api/rooms/cn-conf/messages/x/confirm",
        "/api/rooms/cn-conf/messages/99/confirm",
    ] {
        let (s, v) = app.call(&coord, "POST", path, None).await;
        assert_eq!(s, 400, "{path}: {v}");
    }

    // Listed in the order they confirmed, Ben's time unchanged by his second confirmation.
    let v = ask(&mut a, json!({"type":"confirms","room":"cn-conf","seq":1})).await;
    assert_eq!(v["type"], "confirms", "{v}");
    let users = v["users"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = users
        .iter()
        .map(|u| u["user"]["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, [ben.id.as_str(), coord.id.as_str()], "{v}");
    assert_eq!(users[0]["at"], first_at);
    assert_eq!(users[0]["user"]["profession"], "nurse");
    let (s, h) = app
        .call(&ann, "GET", "/api/rooms/cn-conf/messages/1/confirms", None)
        .await;
    assert_eq!(
        (s, &h["seq"], h["users"].as_array().map(Vec::len)),
        (200, &json!(1), Some(2)),
        "{h}"
    );

    // History and the messages endpoint count them, and each read is in the access log.
    let v = ask(&mut a, json!({"type":"history","room":"cn-conf"})).await;
    assert_eq!(v["messages"][0]["confirms"], 2, "{v}");
    let (_, m) = app
        .call(&ben, "GET", "/api/rooms/cn-conf/messages", None)
        .await;
    assert_eq!(m["messages"][0]["confirms"], 2, "{m}");
    let (_, log) = app
        .call(&coord, "GET", "/api/audit?room=cn-conf", None)
        .await;
    let reads = log["entries"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["action"] == "read_history").count())
        .unwrap_or(0);
    assert!(reads >= 2, "{log}");
}

#[tokio::test]
async fn a_town_rooms_confirmations_go_to_its_posters_and_the_users_own_connections() {
    let app = spawn_app().await;
    let coord = User::coordinator("cn-town-coord");
    let board = app.town_room(&coord, "cn-town-board").await;
    let m1 = User::member("cn-town-m1");
    let m2 = User::member("cn-town-m2");
    let mut c = app.connect(&coord).await;
    c.subscribe(&board, None).await;
    let mut m1a = app.connect(&m1).await;
    m1a.subscribe(&board, None).await;
    let mut m1b = app.connect(&m1).await;
    m1b.subscribe(&board, None).await;
    let mut o = app.connect(&m2).await;
    o.subscribe(&board, None).await;
    let v = ask(
        &mut c,
        json!({"type":"post","room":board.as_str(),"client_id":"n1","body":"防災訓練"}),
    )
    .await;
    assert_eq!(acked_seq(&v), 1);

    let v = ask(
        &mut m1a,
        json!({"type":"confirm","room":board.as_str(),"seq":1}),
    )
    .await;
    assert_eq!(acked_seq(&v), 1);
    c.wait_for("confirmed", |f| matches!(f, ServerFrame::Confirmed { .. }))
        .await;
    m1b.wait_for("own confirmed", |f| {
        matches!(f, ServerFrame::Confirmed { .. })
    })
    .await;
    let other = o.drain(Duration::from_millis(300)).await;
    assert!(
        !other
            .iter()
            .any(|f| matches!(f, ServerFrame::Confirmed { .. })),
        "another reader of the town is not told: {other:?}"
    );

    // Who has not read the notice: the town's users in the directory below seq 1.
    let v = ask(
        &mut c,
        json!({"type":"receipts","room":board.as_str(),"seq":1}),
    )
    .await;
    let pending: Vec<&str> = v["pending"]
        .as_array()
        .map(|p| p.iter().filter_map(|u| u["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(pending, [m1.id.as_str(), m2.id.as_str()], "{v}");
    // The town's directory is not shown to every reader of the board.
    let v = ask(
        &mut o,
        json!({"type":"receipts","room":board.as_str(),"seq":1}),
    )
    .await;
    assert_eq!(code(&v), "forbidden", "{v}");
    let (s, _) = app
        .call(&m2, "GET", "/api/rooms/cn-town-board/receipts?seq=1", None)
        .await;
    assert_eq!(s, 403);
    let v = ask(&mut o, json!({"type":"receipts","room":board.as_str()})).await;
    assert_eq!(v["type"], "receipts", "{v}");
}

#[tokio::test]
async fn revisions_name_an_original_of_the_author_and_never_change_it() {
    let app = spawn_app().await;
    let (_coord, ann, ben) = team(&app, "cn-rev").await;
    let r = room("cn-rev");
    let mut a = app.connect(&ann).await;
    let mut b = app.connect(&ben).await;
    b.subscribe(&r, None).await;
    let post = |client_id: &str, body: &str, extra: Value| {
        let mut p = json!({"type":"post","room":"cn-rev","client_id":client_id,"body":body});
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        p
    };
    assert_eq!(
        acked_seq(&ask(&mut a, post("o1", "体温37.2℃", json!({}))).await),
        1
    );
    assert_eq!(
        acked_seq(&ask(&mut b, post("o2", "了解", json!({}))).await),
        2
    );
    // An edit, then a withdrawal with an empty reason; each is a message of its own.
    let v = ask(&mut a, post("e1", "体温37.8℃", json!({"replaces":1}))).await;
    assert_eq!(acked_seq(&v), 3);
    let v = ask(&mut a, post("e2", "", json!({"retracts":1}))).await;
    assert_eq!(acked_seq(&v), 4);
    let seen: Vec<_> = [
        b.message(&r).await,
        b.message(&r).await,
        b.message(&r).await,
        b.message(&r).await,
    ]
    .into_iter()
    .map(|m| (m.seq, m.replaces, m.retracts, m.body))
    .collect();
    assert_eq!(seen[2], (3, Some(1), None, "体温37.8℃".to_string()));
    assert_eq!(seen[3], (4, None, Some(1), String::new()));
    // The same over HTTP.
    let (s, v) = post_http(
        &app,
        &ann,
        "cn-rev",
        json!({"client_id":"e3","body":"訂正: 37.5℃","replaces":1}),
    )
    .await;
    assert_eq!((s, v["seq"].as_u64()), (201, Some(5)), "{v}");

    // Hostile revisions.
    for (frame, want, says) in [
        (
            post("x1", "x", json!({"replaces":3})),
            "bad_request",
            "name the original, 1",
        ),
        (
            post("x2", "x", json!({"retracts":4})),
            "bad_request",
            "itself a revision",
        ),
        (
            post("x3", "x", json!({"replaces":2})),
            "forbidden",
            "only the author",
        ),
        (
            post("x4", "x", json!({"replaces":99})),
            "bad_request",
            "no message 99",
        ),
        (
            post("x5", "x", json!({"replaces":0})),
            "bad_request",
            "at least 1",
        ),
        (
            post("x6", "x", json!({"replaces":1,"retracts":1})),
            "bad_request",
            "one way",
        ),
        (post("x7", "", json!({"replaces":1})), "bad_request", "body"),
        (
            post("x8", "x", json!({"replaces":"1"})),
            "bad_request",
            "replaces",
        ),
    ] {
        let v = ask(&mut a, frame.clone()).await;
        assert_eq!(code(&v), want, "{frame}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{frame}: {msg}");
    }
    // Ben may not withdraw Ann's message.
    let (s, v) = post_http(
        &app,
        &ben,
        "cn-rev",
        json!({"client_id":"x9","body":"x","retracts":1}),
    )
    .await;
    assert_eq!((s, &v["error"]["code"]), (403, &json!("forbidden")), "{v}");

    // History: the original is unchanged and names its latest revision.
    let v = ask(&mut b, json!({"type":"history","room":"cn-rev"})).await;
    let ms = v["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(ms.len(), 5, "{v}");
    assert_eq!(ms[0]["body"], "体温37.2℃");
    assert_eq!(ms[0]["revised"], 5, "{v}");
    assert!(ms[1].get("revised").is_none(), "{v}");
    assert_eq!(ms[3]["retracts"], 1);
    assert!(ms[3].get("replaces").is_none());
    let (_, m) = app
        .call(&ben, "GET", "/api/rooms/cn-rev/messages", None)
        .await;
    assert_eq!(m["messages"][0]["revised"], 5, "{m}");
    // A revision counts as unread like any message.
    assert_eq!(summary(&app, &ben, "cn-rev").await["unread"], 3);
}

#[tokio::test]
async fn receipts_with_a_seq_list_the_members_who_have_not_read_it() {
    let app = spawn_app().await;
    let (coord, ann, ben) = team(&app, "cn-pend").await;
    let mut a = app.connect(&ann).await;
    let mut b = app.connect(&ben).await;
    for i in 1..=3 {
        let v = ask(
            &mut a,
            json!({"type":"post","room":"cn-pend","client_id":format!("p{i}"),"body":"記録"}),
        )
        .await;
        assert_eq!(acked_seq(&v), i);
    }
    assert_eq!(
        acked_seq(&ask(&mut b, json!({"type":"read","room":"cn-pend","seq":2})).await),
        2
    );
    let pending = |v: &Value| -> Vec<String> {
        v["pending"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|u| u["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let v = ask(&mut a, json!({"type":"receipts","room":"cn-pend","seq":3})).await;
    assert_eq!(v["type"], "receipts", "{v}");
    assert_eq!(pending(&v), [ben.id.clone(), coord.id.clone()], "{v}");
    assert_eq!(v["pending"][0]["profession"], "nurse", "{v}");
    let v = ask(&mut a, json!({"type":"receipts","room":"cn-pend","seq":2})).await;
    assert_eq!(pending(&v), vec![coord.id.clone()], "{v}");
    // Beyond the last message: clamped to it.
    let v = ask(&mut a, json!({"type":"receipts","room":"cn-pend","seq":99})).await;
    assert_eq!(pending(&v), [ben.id.clone(), coord.id.clone()], "{v}");
    // Without seq, no pending list (v1).
    let v = ask(&mut a, json!({"type":"receipts","room":"cn-pend"})).await;
    assert!(v.get("pending").is_none(), "{v}");
    assert_eq!(
        code(&ask(&mut a, json!({"type":"receipts","room":"cn-pend","seq":0})).await),
        "bad_request"
    );
    // Over HTTP.
    let (s, v) = app
        .call(&coord, "GET", "/api/rooms/cn-pend/receipts?seq=3", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(pending(&v), [ben.id.clone(), coord.id.clone()], "{v}");
    let (s, _) = app
        .call(&coord, "GET", "/api/rooms/cn-pend/receipts?seq=-2", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn a_v1_client_sees_its_posts_unchanged() {
    let app = spawn_app().await;
    let (_coord, ann, _ben) = team(&app, "cn-v1").await;
    let r = room("cn-v1");
    let mut a = app.connect(&ann).await;
    a.subscribe(&r, None).await;
    let f = a.post(&r, "v1", "訪問しました").await;
    assert_eq!(ack_seq(&f), 1);
    let m = a.message(&r).await;
    assert_eq!(m.priority, yui_protocol::model::Priority::Normal);
    assert!(m.mentions.is_empty() && m.replaces.is_none() && m.retracts.is_none());
    // A live message event carries no confirms or revised (history only).
    assert!(m.confirms.is_none() && m.revised.is_none());
    let s = summary(&app, &ann, "cn-v1").await;
    assert_eq!(
        (&s["unread"], &s["urgent"], &s["mentions"]),
        (&json!(0), &json!(0), &json!(0))
    );
}

#[tokio::test]
async fn acked_confirmations_and_note_fields_survive_kill_9() {
    use yui_tests::process::{free_port, HubProcess};
    let backend = Backend::fresh().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let hub = HubProcess::start(&backend, dir.path(), port, &[]).await;
    let http = reqwest::Client::new();
    let coord = User::coordinator("cn-kill-coord");
    let nurse = User::member("cn-kill-nurse");
    let token = |u: &User| sign(&u.claims(3600, "yui"), SECRET);
    let base = format!("http://{}", hub.addr);
    let s = http
        .put(format!("{base}/api/rooms/cn-kill"))
        .bearer_auth(token(&coord))
        .json(&json!({"kind":"team","title":"t","town":coord.town}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(s, 201);
    let s = http
        .put(format!("{base}/api/rooms/cn-kill/members/{}", nurse.id))
        .bearer_auth(token(&coord))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(s, 204);
    let mut c = Client::open(&hub.ws_url()).await;
    c.hello(&token(&coord)).await;
    let mut n = Client::open(&hub.ws_url()).await;
    n.hello(&token(&nurse)).await;
    let v = ask(
        &mut c,
        json!({"type":"post","room":"cn-kill","client_id":"k1","body":"至急","priority":"urgent",
               "mentions":[nurse.id]}),
    )
    .await;
    assert_eq!(acked_seq(&v), 1);
    let v = ask(&mut n, json!({"type":"confirm","room":"cn-kill","seq":1})).await;
    assert_eq!(acked_seq(&v), 1);
    hub.kill9().await;

    let hub = HubProcess::start(&backend, dir.path(), port, &[]).await;
    let mut c = Client::open(&hub.ws_url()).await;
    c.hello(&token(&coord)).await;
    let v = ask(&mut c, json!({"type":"confirms","room":"cn-kill","seq":1})).await;
    assert_eq!(v["users"][0]["user"]["id"], nurse.id.as_str(), "{v}");
    let v = ask(&mut c, json!({"type":"history","room":"cn-kill"})).await;
    let m = &v["messages"][0];
    assert_eq!(
        (&m["priority"], &m["confirms"]),
        (&json!("urgent"), &json!(1)),
        "{v}"
    );
    assert_eq!(m["mentions"][0]["id"], nurse.id.as_str(), "{v}");
    let s = http
        .get(format!("http://{}/api/me/rooms", hub.addr))
        .bearer_auth(token(&nurse))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rooms: Value = s.json().await.unwrap_or_default();
    assert_eq!(rooms["rooms"][0]["urgent"], 1, "{rooms}");
    assert_eq!(rooms["rooms"][0]["mentions"], 1, "{rooms}");
    hub.kill9().await;
}

#[tokio::test]
async fn a_retry_is_answered_with_the_first_ack_even_when_its_checks_fail_now() {
    let app = spawn_app().await;
    let (coord, ann, ben) = team(&app, "cn-retry").await;
    let mut a = app.connect(&ann).await;
    let post = json!({"type":"post","room":"cn-retry","client_id":"r1","body":"x",
                      "mentions":[ben.id]});
    let first = ask(&mut a, post.clone()).await;
    assert_eq!(acked_seq(&first), 1);
    let (s, _) = app
        .call(
            &coord,
            "DELETE",
            &format!("/api/rooms/cn-retry/members/{}", ben.id),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let again = ask(&mut a, post).await;
    assert_eq!(
        (&again["seq"], &again["id"], &again["at"]),
        (&first["seq"], &first["id"], &first["at"]),
        "{again}"
    );
    // A new post with that mention is refused now.
    let v = ask(
        &mut a,
        json!({"type":"post","room":"cn-retry","client_id":"r2","body":"x","mentions":[ben.id]}),
    )
    .await;
    assert_eq!(code(&v), "bad_request", "{v}");
    let (s, b) = post_http(
        &app,
        &ann,
        "cn-retry",
        json!({"client_id":"r1","body":"x","mentions":[ben.id]}),
    )
    .await;
    assert_eq!((s, &b["seq"]), (200, &json!(1)), "{b}");
    assert_eq!(summary(&app, &ann, "cn-retry").await["last_seq"], 1);
}

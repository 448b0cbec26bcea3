//! hello / welcome, tokens, refresh, expiry, ping.

use serde_json::json;
use yui_protocol::client::Request;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

async fn rejected(app: &TestApp, token: &str) {
    let mut c = Client::open(&app.ws_url()).await;
    let f = c.hello(token).await;
    assert_eq!(error_code(&f), ErrorCode::Unauthorized, "{f:?}");
    assert_eq!(c.closed().await, Closed::Code(4001));
}

#[tokio::test]
async fn welcome_describes_the_user_and_lists_rooms() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    app.town_room(&coord, "misaki-board").await;
    let mut c = app.connect(&coord).await;
    c.post(&r, "c1", "hello").await;
    let n = app.connect(&nurse).await;
    let w = serde_json::to_value(n.welcome.as_ref()).unwrap_or_default();
    assert_eq!(w["user"]["id"], "nurse");
    assert_eq!(w["user"]["profession"], "nurse");
    assert_eq!(w["user"]["town"], "misaki");
    assert_eq!(w["user"]["role"], "member");
    assert_eq!(w["heartbeat"], 25);
    assert!(w["node"].as_str().is_some_and(|s| !s.is_empty()));
    let rooms = n.welcome_rooms();
    let ids: Vec<&str> = rooms.iter().filter_map(|r| r["room"].as_str()).collect();
    assert_eq!(ids, vec!["misaki-board", "res-a"]);
    let res = &rooms[1];
    assert_eq!(res["kind"], "team");
    assert_eq!(res["last_seq"], 1);
    assert_eq!(res["read_seq"], 0);
    assert_eq!(res["unread"], 1);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_4001() {
    let app = spawn_app().await;
    let u = User::member("u1");
    // Expired (beyond the 10 s leeway).
    rejected(&app, &sign(&u.claims(-60, "yui"), SECRET)).await;
    // Signed with another key.
    rejected(&app, &sign(&u.claims(3600, "yui"), "another-secret")).await;
    // Wrong audience.
    rejected(&app, &sign(&u.claims(3600, "other"), SECRET)).await;
    // alg: none.
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let body = base64url(
        serde_json::to_string(&u.claims(3600, "yui"))
            .unwrap_or_default()
            .as_bytes(),
    );
    rejected(&app, &format!("{header}.{body}.")).await;
    // Missing claim.
    let mut v = serde_json::to_value(u.claims(3600, "yui")).unwrap_or_default();
    v.as_object_mut().map(|o| o.remove("name"));
    rejected(&app, &sign(&v, SECRET)).await;
    // A claim that breaks the rules.
    let mut v = serde_json::to_value(u.claims(3600, "yui")).unwrap_or_default();
    v["profession"] = json!("wizard");
    rejected(&app, &sign(&v, SECRET)).await;
    // Not yet valid.
    let mut v = serde_json::to_value(u.claims(3600, "yui")).unwrap_or_default();
    v["nbf"] = json!(chrono_now() + 600);
    rejected(&app, &sign(&v, SECRET)).await;
    // Issued in the future.
    let mut v = serde_json::to_value(u.claims(3600, "yui")).unwrap_or_default();
    v["iat"] = json!(chrono_now() + 600);
    rejected(&app, &sign(&v, SECRET)).await;
    // Garbage.
    rejected(&app, "not-a-jwt").await;
    // aud as an array that contains ours is fine.
    let mut v = serde_json::to_value(u.claims(3600, "yui")).unwrap_or_default();
    v["aud"] = json!(["other", "yui"]);
    let mut c = Client::open(&app.ws_url()).await;
    assert!(matches!(
        c.hello(&sign(&v, SECRET)).await,
        ServerFrame::Welcome { .. }
    ));
}

fn base64url(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn any_frame_before_hello_is_unauthorized() {
    let app = spawn_app().await;
    let mut c = Client::open(&app.ws_url()).await;
    c.send(&Request::Ping, Some("p")).await;
    let f = c.next().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(error_code(&f), ErrorCode::Unauthorized);
    assert_eq!(c.closed().await, Closed::Code(4001));
}

#[tokio::test]
async fn no_hello_in_time_closes_4001() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.hello_timeout = 1),
        ..Default::default()
    })
    .await;
    let mut c = Client::open(&app.ws_url()).await;
    assert_eq!(c.closed().await, Closed::Code(4001));
}

#[tokio::test]
async fn second_hello_is_bad_request_and_the_connection_stays() {
    let app = spawn_app().await;
    let u = User::member("u1");
    let mut c = app.connect(&u).await;
    let f = c
        .request(Request::Hello {
            token: app.token(&u),
        })
        .await;
    assert_eq!(error_code(&f), ErrorCode::BadRequest);
    assert!(matches!(
        c.request(Request::Ping).await,
        ServerFrame::Pong { .. }
    ));
}

#[tokio::test]
async fn ping_gets_pong_with_ref() {
    let app = spawn_app().await;
    let mut c = app.connect(&User::member("u1")).await;
    c.send(&Request::Ping, Some("abc")).await;
    let f = c.next().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f,
        ServerFrame::Pong {
            r#ref: yui_protocol::ids::Ref::parse("abc").ok()
        }
    );
}

#[tokio::test]
async fn refresh_keeps_the_identity() {
    let app = spawn_app().await;
    let u = User::member("u1");
    let mut c = app.connect(&u).await;
    let f = c
        .request(Request::Refresh {
            token: app.token(&u),
        })
        .await;
    assert!(matches!(f, ServerFrame::Ack { room: None, .. }), "{f:?}");
    let f = c
        .request(Request::Refresh {
            token: app.token(&User::member("u2")),
        })
        .await;
    assert_eq!(error_code(&f), ErrorCode::Forbidden);
    let f = c
        .request(Request::Refresh {
            token: "garbage".into(),
        })
        .await;
    assert_eq!(error_code(&f), ErrorCode::Unauthorized);
    assert!(matches!(
        c.request(Request::Ping).await,
        ServerFrame::Pong { .. }
    ));
}

#[tokio::test]
async fn an_expired_token_closes_4001_and_refresh_prevents_it() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.jwt.jwt_leeway = 0),
        ..Default::default()
    })
    .await;
    let u = User::member("u1");
    // This one expires in 2 s and is never refreshed.
    let mut c = Client::open(&app.ws_url()).await;
    assert!(matches!(
        c.hello(&sign(&u.claims(2, "yui"), SECRET)).await,
        ServerFrame::Welcome { .. }
    ));
    // This one is refreshed with a long token in time.
    let mut d = Client::open(&app.ws_url()).await;
    assert!(matches!(
        d.hello(&sign(&u.claims(2, "yui"), SECRET)).await,
        ServerFrame::Welcome { .. }
    ));
    assert!(matches!(
        d.request(Request::Refresh {
            token: app.token(&u)
        })
        .await,
        ServerFrame::Ack { .. }
    ));
    assert_eq!(c.closed().await, Closed::Code(4001));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(matches!(
        d.request(Request::Ping).await,
        ServerFrame::Pong { .. }
    ));
}

#[tokio::test]
async fn a_refresh_with_a_new_role_is_who_the_connection_is() {
    // A town room's receipts go to its coordinators: a member promoted by a refreshed token
    // gets them from then on, without reconnecting.
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let board = app.town_room(&coord, "misaki-board").await;
    let mut poster = app.connect(&coord).await;
    poster.subscribe(&board, None).await;
    let u = User::member("u1");
    let mut c = app.connect(&u).await;
    c.subscribe(&board, None).await;
    let mut reader = app.connect(&User::member("r1")).await;
    for (n, id) in [(1, "n1"), (2, "n2")] {
        poster.post(&board, id, "notice").await;
        c.wait_for(
            "message",
            |f| matches!(f, ServerFrame::Message(m) if m.seq == n),
        )
        .await;
    }
    let read = |seq| Request::Read {
        room: board.clone(),
        seq,
    };
    reader.request(read(1)).await;
    poster
        .wait_for("receipt 1", |f| {
            matches!(f, ServerFrame::Receipt { seq: 1, .. })
        })
        .await;
    let before = c.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !before
            .iter()
            .any(|f| matches!(f, ServerFrame::Receipt { .. })),
        "a member got a town room's receipt: {before:?}"
    );
    let f = c
        .request(Request::Refresh {
            token: app.token(&User::coordinator("u1")),
        })
        .await;
    assert!(matches!(f, ServerFrame::Ack { .. }), "{f:?}");
    reader.request(read(2)).await;
    let got = c
        .wait_for("receipt 2", |f| matches!(f, ServerFrame::Receipt { .. }))
        .await;
    assert!(
        matches!(got, ServerFrame::Receipt { seq: 2, .. }),
        "{got:?}"
    );
}

//! The text rules of PROTOCOL.md 5.1 on the running hub: NUL, lone surrogates, controls and
//! bidirectional controls are refused at the edge (`bad_request` naming the field; a claim makes
//! the token `unauthorized`), CR LF is stored as LF, and one user's bad text never fails other
//! users' posts (on Postgres it used to fail the whole group commit).

use serde_json::{json, Value};
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

/// Bodies that break the body rule, as JSON string literals (so lone surrogates can be sent).
const BAD_BODIES: &[&str] = &[
    r#""訪問\u0000しました""#,
    r#""\u0000""#,
    r#""熱あり\ud800""#,
    r#""\udc00熱あり""#,
    r#""\ud800\u0041""#,
    r#""ベル\u0007""#,
    r#""エスケープ\u001b[31m""#,
    r#""削除\u007f""#,
    r#""C1\u0085""#,
];

fn message_of(f: &ServerFrame) -> String {
    match f {
        ServerFrame::Error { message, .. } => message.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn error_of(v: &Value) -> (&str, &str) {
    (
        v["error"]["code"].as_str().unwrap_or(""),
        v["error"]["message"].as_str().unwrap_or(""),
    )
}

/// An HTTP request with a raw JSON body (so the text can hold `\ud800` escapes).
async fn raw_call(
    app: &TestApp,
    user: &User,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let resp = app
        .http
        .request(method, app.url(path))
        .bearer_auth(app.token(user))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("http: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn bodies_in(app: &TestApp, user: &User, room: &str) -> Vec<String> {
    let (s, b) = app
        .call(user, "GET", &format!("/api/rooms/{room}/messages"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    b["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["body"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_body_breaking_the_text_rules_is_refused_naming_the_field_over_ws_and_http() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord-text");
    let room = app.team_room(&coord, "text-body", &[]).await;
    let mut c = app.connect(&coord).await;
    for (i, body) in BAD_BODIES.iter().enumerate() {
        let frame = format!(
            r#"{{"type":"post","room":"{room}","client_id":"ws-{i}","body":{body},"ref":"p{i}"}}"#
        );
        c.send_raw(&frame).await;
        let reply = c.reply(&format!("p{i}")).await;
        assert_eq!(
            error_code(&reply),
            ErrorCode::BadRequest,
            "{body}: {reply:?}"
        );
        let m = message_of(&reply);
        assert!(
            m.starts_with("body: "),
            "{body}: the message names the field: {m}"
        );
        // A good frame in between, so the bad-frame streak never closes the connection.
        assert!(matches!(
            c.request(yui_protocol::client::Request::Ping).await,
            ServerFrame::Pong { .. }
        ));

        let (s, b) = raw_call(
            &app,
            &coord,
            "POST",
            &format!("/api/rooms/{room}/messages"),
            &format!(r#"{{"client_id":"http-{i}","body":{body}}}"#),
        )
        .await;
        let (code, m) = error_of(&b);
        assert_eq!((s, code), (400, "bad_request"), "{body}: {b}");
        assert!(
            m.starts_with("body: "),
            "{body}: the message names the field: {m}"
        );
    }
    assert!(
        bodies_in(&app, &coord, "text-body").await.is_empty(),
        "nothing refused was stored"
    );

    // TAB, LF and a bidi control are allowed in a body; CR LF and CR are stored as LF.
    let ack = c
        .request(yui_protocol::client::Request::Post {
            room: room.clone(),
            post: yui_protocol::post::NewPost::note(
                yui_protocol::ids::ClientId::parse("crlf-ws").unwrap_or_else(|e| panic!("{e}")),
                yui_protocol::ids::Body::parse("体温\t37.8℃\n様子見\u{202b}")
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
        })
        .await;
    ack_seq(&ack);
    c.send_raw(&format!(
        r#"{{"type":"post","room":"{room}","client_id":"crlf-raw","body":"一行目\r\n二行目\r三行目","ref":"raw"}}"#
    ))
    .await;
    ack_seq(&c.reply("raw").await);
    let (s, b) = raw_call(
        &app,
        &coord,
        "POST",
        &format!("/api/rooms/{room}/messages"),
        r#"{"client_id":"crlf-http","body":"朝\r\n昼\r夜"}"#,
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        bodies_in(&app, &coord, "text-body").await,
        vec![
            "体温\t37.8℃\n様子見\u{202b}".to_string(),
            "一行目\n二行目\n三行目".to_string(),
            "朝\n昼\n夜".to_string(),
        ]
    );
}

#[tokio::test]
async fn a_bidi_control_or_nul_in_a_title_name_org_or_resident_is_400_naming_the_field() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord-bidi");
    let room = app.team_room(&coord, "text-names", &[]).await;
    let put_room = |title: &str, resident: Option<&str>| {
        let resident = resident
            .map(|r| format!(r#","resident":{{"id":"r-1","name":{r}}}"#))
            .unwrap_or_default();
        format!(r#"{{"kind":"team","title":{title},"town":"misaki"{resident}}}"#)
    };
    let cases: Vec<(String, String, &str)> = vec![
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様\u202e宅""#, None),
            "title: ",
        ),
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様\u2066宅""#, None),
            "title: ",
        ),
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様\u0000""#, None),
            "title: ",
        ),
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様\ud800""#, None),
            "title: ",
        ),
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様\n宅""#, None),
            "title: ",
        ),
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様宅""#, Some(r#""田中\u0000一郎""#)),
            "resident.name: ",
        ),
        (
            "/api/rooms/text-new".into(),
            put_room(r#""田中様宅""#, Some(r#""田中\u202a一郎""#)),
            "resident.name: ",
        ),
        (
            format!("/api/rooms/{room}/members/nurse-1"),
            r#"{"name":"佐藤\u202e花子"}"#.into(),
            "name: ",
        ),
        (
            format!("/api/rooms/{room}/members/nurse-1"),
            r#"{"name":"佐藤\u0000花子"}"#.into(),
            "name: ",
        ),
        (
            format!("/api/rooms/{room}/members/nurse-1"),
            r#"{"name":"佐藤\udfff花子"}"#.into(),
            "name: ",
        ),
        (
            format!("/api/rooms/{room}/members/nurse-1"),
            r#"{"org":"みさき\u2069訪問看護"}"#.into(),
            "org: ",
        ),
        (
            format!("/api/rooms/{room}/members/nurse-1"),
            r#"{"org":"みさき\u0009訪問看護"}"#.into(),
            "org: ",
        ),
    ];
    for (path, body, field) in &cases {
        let (s, b) = raw_call(&app, &coord, "PUT", path, body).await;
        let (code, m) = error_of(&b);
        assert_eq!((s, code), (400, "bad_request"), "PUT {path} {body}: {b}");
        assert!(
            m.starts_with(field),
            "PUT {path} {body}: names {field}: {m}"
        );
    }
    // Nothing of it was stored: no room, no member.
    let (s, _) = app.call(&coord, "GET", "/api/rooms/text-new", None).await;
    assert_eq!(s, 404);
    let (s, b) = app
        .call(&coord, "GET", &format!("/api/rooms/{room}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["members"].as_array().map(Vec::len), Some(1), "{b}");
    // Valid Japanese text with marks that are not controls goes through as sent.
    let (s, b) = app
        .call(
            &coord,
            "PUT",
            &format!("/api/rooms/{room}/members/nurse-1"),
            Some(json!({"name": "佐藤\u{3000}花子（ｻﾄｳ）", "org": "みさき訪問看護ステーション"})),
        )
        .await;
    assert_eq!(s, 204, "{b}");
    let (_, b) = app
        .call(&coord, "GET", &format!("/api/rooms/{room}"), None)
        .await;
    assert!(
        b["members"]
            .as_array()
            .is_some_and(|ms| ms.iter().any(|m| m["name"] == "佐藤\u{3000}花子（ｻﾄｳ）")),
        "{b}"
    );
}

/// base64url without padding, for a hand-made token payload.
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// An HS256 token over a payload given as JSON text (so a claim can hold `\ud800`).
fn sign_raw(payload: &str, secret: &str) -> String {
    let head = format!(
        "{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(payload.as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(
        head.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap_or_else(|e| panic!("sign: {e}"));
    format!("{head}.{sig}")
}

#[tokio::test]
async fn a_token_whose_claim_breaks_the_text_rules_is_unauthorized() {
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for (claim, value) in [
        ("name", "佐藤\u{0}花子"),
        ("name", "佐藤\u{202e}花子"),
        ("org", "みさき\u{7}"),
        ("org", "\u{2067}みさき"),
    ] {
        let mut u = User::member("nurse-claims");
        match claim {
            "name" => u.name = value.into(),
            _ => u.org = value.into(),
        }
        tokens.push((claim, sign(&u.claims(3600, "yui"), SECRET)));
    }
    let now = chrono_now();
    let raw = format!(
        r#"{{"sub":"nurse-claims","name":"佐藤\ud800","profession":"nurse","org":"みさき","town":"misaki","exp":{},"aud":"yui","iat":{now}}}"#,
        now + 3600
    );
    tokens.push(("name (lone surrogate)", sign_raw(&raw, SECRET)));
    // The hand-made signing is right: the same payload without the surrogate is accepted.
    let good = sign_raw(&raw.replace(r"\ud800", "花子"), SECRET);
    let (s, b) = app
        .call_token(Some(&good), "GET", "/api/me/rooms", None)
        .await;
    assert_eq!(s, 200, "{b}");

    for (claim, token) in &tokens {
        let (s, b) = app
            .call_token(Some(token), "GET", "/api/me/rooms", None)
            .await;
        assert_eq!((s, error_of(&b).0), (401, "unauthorized"), "{claim}: {b}");
        let mut c = Client::open(&app.ws_url()).await;
        let reply = c.hello(token).await;
        assert_eq!(
            error_code(&reply),
            ErrorCode::Unauthorized,
            "{claim}: {reply:?}"
        );
        assert_eq!(c.closed().await, Closed::Code(4001), "{claim}");
    }
    // A NUL in the token text itself is a bad token, on hello and on refresh.
    let mut c = Client::open(&app.ws_url()).await;
    c.send_raw(r#"{"type":"hello","token":"abc\u0000def"}"#)
        .await;
    let reply = c.next().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(error_code(&reply), ErrorCode::Unauthorized, "{reply:?}");
    let mut c = app.connect(&User::member("nurse-ok")).await;
    c.send_raw(r#"{"type":"refresh","token":"abc\u0000def","ref":"f"}"#)
        .await;
    assert_eq!(error_code(&c.reply("f").await), ErrorCode::Unauthorized);
    c.send_raw(r#"{"type":"refresh","token":"abc\ud800def","ref":"g"}"#)
        .await;
    assert_eq!(error_code(&c.reply("g").await), ErrorCode::Unauthorized);
}

/// The reported defect (issue 10 item 3): on Postgres a body holding U+0000 passed validation,
/// Postgres refused it and the whole group commit failed, so other users' posts in other rooms
/// got `internal`. Now the NUL is refused at the edge and every other post is acked.
#[tokio::test]
async fn one_users_nul_body_does_not_fail_other_users_concurrent_posts() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord-nul");
    const USERS: usize = 10;
    const POSTS: usize = 18;
    let mut rooms = Vec::new();
    let mut clients = Vec::new();
    // Every connection is open before anyone posts, so the posts meet in the same group commits.
    for i in 0..=USERS {
        let user = User::member(&format!("nurse-nul-{i}"));
        rooms.push(app.team_room(&coord, &format!("nul-{i}"), &[&user]).await);
        clients.push(app.connect(&user).await);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(rooms.len()));
    let mut tasks = Vec::new();
    // User 0 sends NUL bodies; the others post good notes, all at once.
    for (i, (room, mut c)) in rooms.iter().cloned().zip(clients).enumerate() {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for n in 0..POSTS {
                let body = if i == 0 {
                    r#""悪い\u0000本文""#.to_string()
                } else {
                    format!(r#""{i}番の記録 {n}""#)
                };
                c.send_raw(&format!(
                    r#"{{"type":"post","room":"{room}","client_id":"c{i}-{n}","body":{body},"ref":"{n}"}}"#
                ))
                .await;
                if i == 0 {
                    // A good frame after each bad one: the bad-frame streak must not close it.
                    c.send_raw(&format!(r#"{{"type":"ping","ref":"k{n}"}}"#)).await;
                }
            }
            let mut outcomes = Vec::new();
            for n in 0..POSTS {
                outcomes.push(c.reply(&n.to_string()).await);
            }
            (i, outcomes)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    // The other users first: that their posts fail is the defect.
    let failed: Vec<String> = results
        .iter()
        .filter(|(i, _)| *i != 0)
        .flat_map(|(i, outcomes)| outcomes.iter().enumerate().map(move |(n, f)| (i, n, f)))
        .filter(|(_, _, f)| !matches!(f, ServerFrame::Ack { seq: Some(_), .. }))
        .map(|(i, n, f)| format!("user {i} post {n}: {f:?}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} good posts beside a NUL body failed: {failed:#?}",
        failed.len(),
        USERS * POSTS
    );
    for (n, f) in results[0].1.iter().enumerate() {
        assert_eq!(
            error_code(f),
            ErrorCode::BadRequest,
            "the NUL post {n} is refused at the edge: {f:?}"
        );
    }
    for (i, room) in rooms.iter().enumerate() {
        let stored = bodies_in(&app, &coord, room.as_str()).await.len();
        assert_eq!(stored, if i == 0 { 0 } else { POSTS }, "room {room}");
    }
}

//! Email digests (PROTOCOL.md 5.6) to a real SMTP server: rooms and unread counts, Japanese
//! with an English line, plain text and HTML, no message text; the opt-out is respected.

use super::{post, push_tune};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;
use yui_tests::smtp::SmtpServer;
use yui_tests::*;

/// One SMTP server for this test binary, on a thread of its own (each test has its own
/// runtime); tests tell their mails apart by recipient.
fn smtp() -> &'static SmtpServer {
    static SERVER: OnceLock<SmtpServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(async move {
                let _ = tx.send(SmtpServer::start().await);
                futures::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap_or_else(|e| panic!("smtp server: {e}"))
    })
}

fn digest_tune(args: &mut yui_server::config::ServeArgs) {
    push_tune(args);
    args.push.smtp_url = Some(smtp().url());
    args.push.smtp_from = Some("Yui <yui@misaki.example>".into());
    args.push.digest_test_interval_ms = Some(1500);
}

fn to(addr: &str) -> Vec<yui_tests::smtp::Mail> {
    smtp()
        .mails()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.contains(addr)))
        .collect()
}

async fn wait_to(addr: &str, wait: Duration) -> Vec<yui_tests::smtp::Mail> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let m = to(addr);
        if !m.is_empty() || tokio::time::Instant::now() >= deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_away_user_gets_one_digest_of_counts() {
    let _ = smtp();
    let app = spawn_app_with(Options {
        tune: Some(digest_tune),
        ..Options::default()
    })
    .await;
    let a = User::coordinator("a");
    let b = User::member("b").with_email("b-digest@misaki.example");
    app.team_room(&a, "r1", &[&b]).await;
    app.team_room(&a, "r2", &[&b]).await;
    // b's token is seen once (its address is remembered), then b is away.
    let (s, _) = app.call(&b, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 200);
    post(&app, &a, "r1", "c1", "発熱 38.5℃").await;
    post(&app, &a, "r1", "c2", "転倒なし").await;
    post(&app, &a, "r2", "c3", "服薬確認").await;
    let mails = wait_to("b-digest@misaki.example", WAIT).await;
    assert_eq!(mails.len(), 1, "one digest");
    let raw = &mails[0].data;
    let msg = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not a message"));
    assert!(
        msg.subject().unwrap_or_default().contains("未読"),
        "{:?}",
        msg.subject()
    );
    let ct = msg
        .content_type()
        .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()));
    assert_eq!(ct.as_deref(), Some("multipart/alternative"));
    let text = msg.body_text(0).unwrap_or_default().to_string();
    let html = msg.body_html(0).unwrap_or_default().to_string();
    for part in [&text, &html] {
        assert!(part.contains("未読のメッセージが3件"), "{part}");
        assert!(part.contains("room r1: 2件"), "{part}");
        assert!(part.contains("room r2: 1件"), "{part}");
        assert!(
            part.contains("You have 3 unread message(s) in 2 room(s)"),
            "{part}"
        );
        for secret in ["発熱", "転倒", "服薬", "名前 a"] {
            assert!(
                !part.contains(secret),
                "message text or author in the digest: {part}"
            );
        }
    }
    assert!(html.contains("<ul>"), "{html}");
    // Nothing new: no second digest in the next intervals.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(to("b-digest@misaki.example").len(), 1);
}

#[tokio::test]
async fn a_user_who_opted_out_gets_no_digest() {
    let _ = smtp();
    let app = spawn_app_with(Options {
        tune: Some(digest_tune),
        ..Options::default()
    })
    .await;
    let a = User::coordinator("a");
    let c = User::member("c").with_email("c-optout@misaki.example");
    app.team_room(&a, "r1", &[&c]).await;
    let (s, r) = app.call(&c, "GET", "/api/me/settings", None).await;
    assert_eq!((s, r), (200, json!({"email_digest": true})));
    let (s, r) = app
        .call(
            &c,
            "PUT",
            "/api/me/settings",
            Some(json!({"email_digest": "no"})),
        )
        .await;
    assert_eq!(s, 400, "{r}");
    let (s, r) = app
        .call(
            &c,
            "PUT",
            "/api/me/settings",
            Some(json!({"email_digest": false})),
        )
        .await;
    assert_eq!((s, r), (200, json!({"email_digest": false})));
    post(&app, &a, "r1", "c1", "x").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(to("c-optout@misaki.example").is_empty());
    // Back on: the digest comes.
    let (s, _) = app
        .call(
            &c,
            "PUT",
            "/api/me/settings",
            Some(json!({"email_digest": true})),
        )
        .await;
    assert_eq!(s, 200);
    let mails = wait_to("c-optout@misaki.example", WAIT).await;
    assert_eq!(mails.len(), 1);
}

#[tokio::test]
async fn a_bad_email_claim_is_unauthorized() {
    let app = spawn_app().await;
    let bad = User::member("d").with_email("not an address");
    let (s, r) = app.call(&bad, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 401, "{r}");
}

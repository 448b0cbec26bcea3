//! Attachments (PROTOCOL.md 5.3) end to end, on either store: upload, download with its
//! headers, the checks on the content (type, size, metadata), deduplication, who may see what,
//! posts that claim attachments, the access log and the clean-up of unposted uploads.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yui_protocol::server::ServerFrame;
use yui_tests::images::{self, contains, PLACE};
use yui_tests::*;

/// Uploads `bytes` as `user`; status and JSON body.
async fn upload(
    app: &TestApp,
    user: &User,
    room: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(&format!("/api/rooms/{room}/attachments")))
        .query(&[("name", name)])
        .bearer_auth(app.token(user))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Uploads and expects 201; the attachment's id.
async fn uploaded(
    app: &TestApp,
    user: &User,
    room: &str,
    name: &str,
    ct: &str,
    b: Vec<u8>,
) -> Value {
    let (s, a) = upload(app, user, room, name, ct, b).await;
    assert_eq!(s, 201, "upload {name}: {a}");
    a
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

async fn download(app: &TestApp, user: &User, id: &str, query: &str) -> Got {
    let resp = app
        .http
        .get(app.url(&format!("/api/attachments/{id}{query}")))
        .bearer_auth(app.token(user))
        .send()
        .await
        .unwrap_or_else(|e| panic!("download: {e}"));
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        bytes: resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    }
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn id_of(a: &Value) -> String {
    a["id"].as_str().unwrap_or_default().to_string()
}

async fn post_with(
    app: &TestApp,
    user: &User,
    room: &str,
    client_id: &str,
    ids: &[&str],
) -> (u16, Value) {
    app.call(
        user,
        "POST",
        &format!("/api/rooms/{room}/messages"),
        Some(json!({"client_id": client_id, "body": "写真を添付します", "attachments": ids})),
    )
    .await
}

fn sha256_hex(b: &[u8]) -> String {
    yui_server::attachments::media::sha256_hex(b)
}

#[tokio::test]
async fn upload_and_download_round_trip_without_gps() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.max_attachment_bytes = 3 << 20),
        data_dir: None,
    })
    .await;
    let (coord, nurse) = (User::coordinator("coord"), User::member("nurse"));
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let (s, config) = app.call_token(None, "GET", "/api/config", None).await;
    assert_eq!(
        (s, config["max_attachment_bytes"].as_u64()),
        (200, Some(3 << 20))
    );

    let photo = images::jpeg_with_gps(800, 600, 1);
    assert!(contains(&photo, PLACE) && contains(&photo, &[0x88, 0x25]));
    let a = uploaded(&app, &nurse, "res-a", "褥瘡 写真.jpg", "image/jpeg", photo).await;
    assert_eq!(a["name"], "褥瘡 写真.jpg");
    assert_eq!(a["type"], "image/jpeg");
    assert_eq!(
        (a["width"].as_u64(), a["height"].as_u64()),
        (Some(800), Some(600))
    );
    let id = id_of(&a);
    assert!(id.starts_with("att_"), "{a}");

    let got = download(&app, &nurse, &id, "").await;
    assert_eq!(got.status, 200);
    assert_eq!(header(&got, "content-type"), "image/jpeg");
    assert_eq!(header(&got, "x-content-type-options"), "nosniff");
    assert_eq!(header(&got, "cache-control"), "private");
    assert_eq!(
        header(&got, "content-disposition"),
        "inline; filename=\"__ __.jpg\"; filename*=UTF-8''%E8%A4%A5%E7%98%A1%20%E5%86%99%E7%9C%9F.jpg"
    );
    assert_eq!(got.bytes.len() as u64, a["size"].as_u64().unwrap_or(0));
    assert_eq!(sha256_hex(&got.bytes), a["sha256"].as_str().unwrap_or(""));
    assert!(
        !contains(&got.bytes, PLACE),
        "the stored photo still names the place"
    );
    assert!(
        !contains(&got.bytes, &[0x88, 0x25]),
        "the stored photo still has a GPS IFD"
    );
    assert!(
        image::load_from_memory(&got.bytes).is_ok(),
        "the stored photo decodes"
    );

    let thumb = download(&app, &nurse, &id, "?thumb=1").await;
    assert_eq!(
        (thumb.status, header(&thumb, "content-type")),
        (200, "image/jpeg")
    );
    let t = image::load_from_memory(&thumb.bytes).unwrap_or_else(|e| panic!("thumb: {e}"));
    assert_eq!((t.width(), t.height()), (320, 240));

    let pdf = uploaded(
        &app,
        &nurse,
        "res-a",
        "同意書.pdf",
        "application/pdf",
        images::pdf(),
    )
    .await;
    assert!(pdf.get("width").is_none(), "{pdf}");
    let got = download(&app, &nurse, &id_of(&pdf), "").await;
    assert_eq!((got.status, &got.bytes), (200, &images::pdf()));
    assert!(header(&got, "content-disposition").starts_with("attachment; "));
    let thumb = download(&app, &nurse, &id_of(&pdf), "?thumb=1").await;
    assert_eq!(thumb.status, 400, "a PDF has no thumbnail");
}

#[tokio::test]
async fn content_must_be_what_it_is_declared_and_names_follow_the_text_rules() {
    let app = spawn_app().await;
    let (coord, nurse) = (User::coordinator("coord"), User::member("nurse"));
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let jpeg = images::jpeg_with_gps(64, 64, 2);
    for (ct, body, why) in [
        ("image/png", jpeg.clone(), "a JPEG declared as PNG"),
        ("application/pdf", jpeg.clone(), "a JPEG declared as PDF"),
        ("image/jpeg", images::pdf(), "a PDF declared as JPEG"),
        ("image/jpeg", b"hello".to_vec(), "text declared as JPEG"),
        ("text/plain", b"hello".to_vec(), "an unaccepted type"),
        ("image/gif", b"GIF89a....".to_vec(), "GIF"),
        ("image/jpeg", Vec::new(), "an empty body"),
    ] {
        let (s, b) = upload(&app, &nurse, "res-a", "x.jpg", ct, body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{why}: {b}"
        );
    }
    for (name, field) in [
        ("a\u{0}b.jpg", "name"),
        ("a\u{202E}gpj.exe", "name"),
        ("a\nb", "name"),
        ("", "name"),
    ] {
        let (s, b) = upload(&app, &nurse, "res-a", name, "image/jpeg", jpeg.clone()).await;
        assert_eq!(s, 400, "{name:?}: {b}");
        let msg = b["error"]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with(field), "{name:?}: {msg}");
    }
    // No name at all.
    let resp = app
        .http
        .post(app.url("/api/rooms/res-a/attachments"))
        .bearer_auth(app.token(&nurse))
        .header("content-type", "image/jpeg")
        .body(jpeg.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 400);
    // Parameters of the Content-Type are ignored.
    let (s, b) = upload(
        &app,
        &nurse,
        "res-a",
        "ok.jpg",
        "IMAGE/JPEG; charset=binary",
        jpeg,
    )
    .await;
    assert_eq!(s, 201, "{b}");
}

/// Sends a request head and then the body from `chunks` (chunked when `length` is `None`)
/// until the hub answers or stops reading; the status and how many body bytes got out.
async fn stream_upload(
    app: &TestApp,
    user: &User,
    length: Option<u64>,
    total: usize,
) -> (u16, usize, Duration) {
    let mut sock = tokio::net::TcpStream::connect(app.addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let framing = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_string(),
    };
    let head = format!(
        "POST /api/rooms/res-a/attachments?name=big.png HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nContent-Type: image/png\r\n{framing}\r\n",
        app.addr,
        app.token(user)
    );
    let started = Instant::now();
    sock.write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("head: {e}"));
    let (mut rd, mut wr) = sock.into_split();
    let chunked = length.is_none();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x42u8; 64 * 1024];
        let mut sent = 0usize;
        while sent < total {
            let ok = if chunked {
                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                frame.extend_from_slice(&chunk);
                frame.extend_from_slice(b"\r\n");
                wr.write_all(&frame).await
            } else {
                wr.write_all(&chunk).await
            };
            if ok.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no answer in 20 s"))
        .unwrap_or(0);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    drop(rd);
    let sent = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(total);
    (status, sent, elapsed)
}

#[tokio::test]
async fn too_large_is_refused_while_read_not_after() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.max_attachment_bytes = 1 << 20),
        data_dir: None,
    })
    .await;
    let (coord, nurse) = (User::coordinator("coord"), User::member("nurse"));
    app.team_room(&coord, "res-a", &[&nurse]).await;
    // Just over the limit, with its length declared.
    let big = images::noise_png(600, 600);
    assert!(big.len() > 1 << 20);
    let (s, b) = upload(&app, &nurse, "res-a", "big.png", "image/png", big).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{b}"
    );
    // 50 MiB declared: refused before the body is read.
    let (s, sent, took) = stream_upload(&app, &nurse, Some(50 << 20), 50 << 20).await;
    assert_eq!(s, 413);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        sent < 30 << 20,
        "the hub took {sent} bytes of a body it had refused"
    );
    // 50 MiB chunked (no length): cut off at the limit as it is read.
    let (s, sent, took) = stream_upload(&app, &nurse, None, 50 << 20).await;
    assert_eq!(s, 413);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        sent < 30 << 20,
        "the hub read {sent} bytes past a 1 MiB limit"
    );
    // Under the limit still works, and JSON bodies keep their 64 KiB limit.
    let ok = images::noise_png(300, 300);
    assert!(ok.len() > 64 << 10 && ok.len() < 1 << 20);
    let (s, b) = upload(&app, &nurse, "res-a", "ok.png", "image/png", ok).await;
    assert_eq!(s, 201, "{b}");
    let long = json!({"client_id": "c1", "body": "x".repeat(70_000)});
    let (s, _) = app
        .call(&nurse, "POST", "/api/rooms/res-a/messages", Some(long))
        .await;
    assert_eq!(s, 413);
}

#[tokio::test]
async fn the_same_photo_twice_is_stored_once() {
    let app = spawn_app().await;
    let (coord, nurse, doctor) = (
        User::coordinator("coord"),
        User::member("nurse"),
        User::member("doc"),
    );
    app.team_room(&coord, "res-a", &[&nurse, &doctor]).await;
    let photo = images::jpeg_with_gps(400, 300, 3);
    let a = uploaded(&app, &nurse, "res-a", "1.jpg", "image/jpeg", photo.clone()).await;
    let b = uploaded(&app, &doctor, "res-a", "2.jpg", "image/jpeg", photo).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["sha256"], b["sha256"]);
    // The photo and its thumbnail, once.
    match &app.backend {
        Backend::Embedded => {
            let files = blob_files(&app);
            assert_eq!(files.len(), 2, "{files:?}");
        }
        Backend::Cluster { database_url, .. } => {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(database_url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM attachment_blobs")
                .fetch_one(&mut db)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n, 2);
        }
    }
    for (u, x) in [(&nurse, &a), (&doctor, &b)] {
        let got = download(&app, u, &id_of(x), "").await;
        assert_eq!(got.status, 200);
    }
}

/// The embedded hub's blob files (its temporary files left out).
fn blob_files(app: &TestApp) -> Vec<String> {
    let root = app.data_dir.join("attachments");
    walk(&root)
        .into_iter()
        .filter(|p| !p.starts_with(&root.join("tmp").display().to_string()))
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn who_may_upload_and_download() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let (nurse, doctor, stranger) = (
        User::member("nurse"),
        User::member("doc"),
        User::member("stranger"),
    );
    app.team_room(&coord, "res-a", &[&nurse, &doctor]).await;
    app.team_room(&coord, "res-b", &[&stranger]).await;
    let jpeg = || images::jpeg_with_gps(64, 48, 4);
    // A non-member cannot upload (the room is not revealed), nor can a town room's reader.
    let (s, b) = upload(&app, &stranger, "res-a", "x.jpg", "image/jpeg", jpeg()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
    app.town_room(&coord, "town-news").await;
    let (s, _) = upload(&app, &nurse, "town-news", "x.jpg", "image/jpeg", jpeg()).await;
    assert_eq!(s, 403);
    let (s, _) = upload(&app, &coord, "town-news", "x.jpg", "image/jpeg", jpeg()).await;
    assert_eq!(s, 201);
    let (s, _) = app
        .call_token(
            None,
            "POST",
            "/api/rooms/res-a/attachments?name=x.jpg",
            None,
        )
        .await;
    assert_eq!(s, 401);

    let a = id_of(&uploaded(&app, &nurse, "res-a", "x.jpg", "image/jpeg", jpeg()).await);
    // Unposted: its uploader only.
    assert_eq!(download(&app, &nurse, &a, "").await.status, 200);
    assert_eq!(download(&app, &doctor, &a, "").await.status, 404);
    assert_eq!(download(&app, &stranger, &a, "").await.status, 404);
    assert_eq!(download(&app, &nurse, "att_nope", "").await.status, 404);
    assert_eq!(download(&app, &nurse, "bad.id", "").await.status, 400);
    // Posted: the room's readers.
    let (s, b) = post_with(&app, &nurse, "res-a", "c1", &[&a]).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(download(&app, &doctor, &a, "").await.status, 200);
    assert_eq!(download(&app, &doctor, &a, "?thumb=1").await.status, 200);
    assert_eq!(download(&app, &stranger, &a, "").await.status, 404);
    // A removed member no longer.
    let (s, _) = app
        .call(&coord, "DELETE", "/api/rooms/res-a/members/doc", None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(download(&app, &doctor, &a, "").await.status, 404);
    // Nor the uploader once removed.
    let b2 = id_of(&uploaded(&app, &nurse, "res-a", "y.jpg", "image/jpeg", jpeg()).await);
    let (s, _) = app
        .call(&coord, "DELETE", "/api/rooms/res-a/members/nurse", None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(download(&app, &nurse, &b2, "").await.status, 404);
    assert_eq!(download(&app, &nurse, &a, "").await.status, 404);
}

#[tokio::test]
async fn posts_claim_their_attachments_once() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let (nurse, doctor) = (User::member("nurse"), User::member("doc"));
    app.team_room(&coord, "res-a", &[&nurse, &doctor]).await;
    app.team_room(&coord, "res-b", &[&nurse]).await;
    let mut live = app.connect(&doctor).await;
    live.subscribe(&room("res-a"), None).await;

    let a = uploaded(
        &app,
        &nurse,
        "res-a",
        "a.jpg",
        "image/jpeg",
        images::jpeg_with_gps(64, 48, 5),
    )
    .await;
    let p = uploaded(
        &app,
        &nurse,
        "res-a",
        "b.pdf",
        "application/pdf",
        images::pdf(),
    )
    .await;
    let theirs = id_of(
        &uploaded(
            &app,
            &doctor,
            "res-a",
            "c.png",
            "image/png",
            images::png(20, 20, 6),
        )
        .await,
    );
    let other_room = id_of(
        &uploaded(
            &app,
            &nurse,
            "res-b",
            "d.png",
            "image/png",
            images::png(20, 20, 7),
        )
        .await,
    );
    let (ida, idp) = (id_of(&a), id_of(&p));

    for (ids, why) in [
        (vec![theirs.as_str()], "someone else's"),
        (vec![other_room.as_str()], "another room's"),
        (vec!["att_unknown"], "unknown"),
        (vec![ida.as_str(), ida.as_str()], "named twice"),
    ] {
        let (s, b) = post_with(&app, &nurse, "res-a", &format!("bad-{why}"), &ids).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{why}: {b}"
        );
    }
    let (s, first) = post_with(&app, &nurse, "res-a", "c1", &[&ida, &idp]).await;
    assert_eq!(s, 201, "{first}");
    // A retry with the same client_id: the same message, nothing new.
    let (s, again) = post_with(&app, &nurse, "res-a", "c1", &[&ida, &idp]).await;
    assert_eq!((s, &again["seq"]), (200, &first["seq"]), "{again}");
    // Already in a message.
    let (s, b) = post_with(&app, &nurse, "res-a", "c2", &[&ida]).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("already"),
        "{b}"
    );

    // Live, with its attachments in order.
    let m = live.message(&room("res-a")).await;
    let names: Vec<&str> = m.attachments.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["a.jpg", "b.pdf"]);
    assert_eq!(m.attachments[0].width, Some(64));
    assert_eq!(m.attachments[0].sha256, a["sha256"].as_str().unwrap_or(""));
    // History (the messages endpoint) and catch-up.
    let (s, page) = app
        .call(&doctor, "GET", "/api/rooms/res-a/messages", None)
        .await;
    assert_eq!(s, 200);
    let atts = &page["messages"][0]["attachments"];
    assert_eq!(
        (atts[0]["id"].as_str(), atts[1]["id"].as_str()),
        (Some(ida.as_str()), Some(idp.as_str()))
    );
    let mut late = app.connect(&doctor).await;
    late.subscribe(&room("res-a"), Some(0)).await;
    let m = late.message(&room("res-a")).await;
    assert_eq!(m.attachments.len(), 2);
    // And over the WebSocket: a post frame naming an attachment.
    let c = id_of(
        &uploaded(
            &app,
            &nurse,
            "res-a",
            "e.png",
            "image/png",
            images::png(30, 10, 8),
        )
        .await,
    );
    let mut ws = app.connect(&nurse).await;
    ws.send_raw(&json!({"type":"post","room":"res-a","client_id":"ws-1","body":"様子","attachments":[c],"ref":"p"}).to_string()).await;
    match ws.reply("p").await {
        ServerFrame::Ack { seq: Some(_), .. } => {}
        other => panic!("post with an attachment over the WebSocket: {other:?}"),
    }
    let m = live.message(&room("res-a")).await;
    assert_eq!(
        m.attachments.first().map(|x| x.id.as_str()),
        Some(c.as_str())
    );
    // With an attachment the body may be empty (PROTOCOL.md 5.2).
    let d = id_of(
        &uploaded(
            &app,
            &nurse,
            "res-a",
            "f.png",
            "image/png",
            images::png(12, 12, 9),
        )
        .await,
    );
    let (s, b) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id": "c-empty", "body": "", "attachments": [d]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let m = live.message(&room("res-a")).await;
    assert_eq!((m.body.as_str(), m.attachments.len()), ("", 1));
}

#[tokio::test]
async fn every_download_is_in_the_access_log() {
    let app = spawn_app().await;
    let (coord, nurse) = (User::coordinator("coord"), User::member("nurse"));
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let a = id_of(
        &uploaded(
            &app,
            &nurse,
            "res-a",
            "a.png",
            "image/png",
            images::png(10, 10, 9),
        )
        .await,
    );
    assert_eq!(download(&app, &nurse, &a, "").await.status, 200);
    assert_eq!(download(&app, &nurse, &a, "?thumb=1").await.status, 200);
    let (s, log) = app
        .call(&coord, "GET", "/api/audit?room=res-a&user=nurse", None)
        .await;
    assert_eq!(s, 200, "{log}");
    let reads = log["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|x| x["action"] == "read_attachment")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(reads, 2, "{log}");
}

#[tokio::test]
async fn unposted_uploads_are_deleted_after_their_age() {
    let app = spawn_app_with(Options {
        tune: Some(|a| {
            a.limits.unposted_attachment_ttl = 2;
            a.limits.attachment_gc_interval = 1;
        }),
        data_dir: None,
    })
    .await;
    let (coord, nurse) = (User::coordinator("coord"), User::member("nurse"));
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let kept = id_of(
        &uploaded(
            &app,
            &nurse,
            "res-a",
            "kept.jpg",
            "image/jpeg",
            images::jpeg_with_gps(50, 50, 10),
        )
        .await,
    );
    let (s, b) = post_with(&app, &nurse, "res-a", "c1", &[&kept]).await;
    assert_eq!(s, 201, "{b}");
    let dropped = id_of(
        &uploaded(
            &app,
            &nurse,
            "res-a",
            "gone.jpg",
            "image/jpeg",
            images::jpeg_with_gps(50, 50, 11),
        )
        .await,
    );
    assert_eq!(download(&app, &nurse, &dropped, "").await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if download(&app, &nurse, &dropped, "").await.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unposted upload was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Posting it now fails; the posted one stays.
    let (s, _) = post_with(&app, &nurse, "res-a", "c2", &[&dropped]).await;
    assert_eq!(s, 400);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = download(&app, &nurse, &kept, "?thumb=1").await;
    assert_eq!(got.status, 200);
    assert_eq!(download(&app, &nurse, &kept, "").await.status, 200);
    if matches!(app.backend, Backend::Embedded) {
        let files = blob_files(&app);
        assert_eq!(
            files.len(),
            2,
            "only the posted photo and its thumbnail are left: {files:?}"
        );
    }
}

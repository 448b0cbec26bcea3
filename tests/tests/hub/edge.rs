//! The HTTP edge under attack (PROTOCOL.md 5.1): huge bodies, idle and trickling sockets under
//! a low file limit, the per-user rate limit, the 409 that names nothing, the browser's
//! headers, the WebSocket `Origin` check and `GET /api/config`.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use yui_tests::process::{free_port, yui_binary};
use yui_tests::*;

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// A `yui serve` process, optionally under `prlimit --nofile=N:N`.
struct Proc {
    addr: SocketAddr,
    child: Child,
}

impl Proc {
    async fn start(backend: &Backend, dir: &Path, nofile: Option<u64>, extra: &[&str]) -> Proc {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(yui_binary());
                c
            }
            None => Command::new(yui_binary()),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir)
            .args(extra)
            .env("YUI_JWT_SECRET", SECRET)
            .env(
                "RUST_LOG",
                std::env::var("YUI_TEST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .envs(backend.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn yui: {e}"));
        let p = Proc { addr, child };
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = http.get(p.url("/readyz")).send().await {
                if r.status().is_success() {
                    return p;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("yui on {addr} did not become ready");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("/proc status of the hub: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no VmHWM in {status}"))
    }
}

async fn http_call(
    http: &reqwest::Client,
    url: String,
    method: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let r = http
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("http: {e}"));
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

const GIB: u64 = 1 << 30;

/// Streams a `total`-byte body (generated, never held) to `path`, declared with
/// `Content-Length` or sent chunked, while reading the answer; returns the status line's code
/// (0 when none came) and how many body bytes were written before the hub stopped taking them.
async fn stream_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    chunked: bool,
    total: u64,
) -> (u16, u64) {
    let stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut rd, mut wr) = stream.into_split();
    let answered = Arc::new(AtomicBool::new(false));
    let reader = {
        let answered = answered.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match tokio::time::timeout(Duration::from_secs(120), rd.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => {
                        got.extend_from_slice(&buf[..n]);
                        if got.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
            answered.store(true, Ordering::Release);
            let head = String::from_utf8_lossy(&got).to_string();
            head.split(' ')
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0)
        })
    };
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {total}")
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    );
    let mut written = 0u64;
    if wr.write_all(head.as_bytes()).await.is_ok() {
        let chunk = vec![b' '; 256 * 1024];
        let frame = {
            let mut f = format!("{:x}\r\n", chunk.len()).into_bytes();
            f.extend_from_slice(&chunk);
            f.extend_from_slice(b"\r\n");
            f
        };
        while written < total && !answered.load(Ordering::Acquire) {
            let data: &[u8] = if chunked { &frame } else { &chunk };
            if wr.write_all(data).await.is_err() {
                break;
            }
            written += chunk.len() as u64;
        }
        if chunked && written >= total {
            let _ = wr.write_all(b"0\r\n\r\n").await;
        }
    }
    let status = reader.await.unwrap_or(0);
    (status, written)
}

#[tokio::test]
async fn a_1_gib_body_costs_the_hub_no_more_than_the_limit_on_every_route() {
    let backend = Backend::fresh().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hub = Proc::start(&backend, dir.path(), None, &[]).await;
    let coord = User::coordinator("coord");
    let token = sign(&coord.claims(3600, "yui"), SECRET);
    let http = reqwest::Client::new();
    let (s, b) = http_call(
        &http,
        hub.url("/api/rooms/res-big"),
        "PUT",
        &token,
        json!({"kind":"team","title":"t","town":"misaki"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let before = hub.peak_rss();
    for (method, path) in [
        ("PUT", "/api/rooms/res-big"),
        ("PUT", "/api/rooms/res-big/members/nurse"),
        ("POST", "/api/rooms/res-big/messages"),
        ("POST", "/api/nowhere"),
        ("POST", "/index.html"),
    ] {
        for chunked in [false, true] {
            let started = Instant::now();
            let (status, written) = stream_body(hub.addr, method, path, &token, chunked, GIB).await;
            let peak = hub.peak_rss();
            assert!(
                peak < before + 48 * 1024 * 1024,
                "{method} {path} (chunked: {chunked}): peak RSS went from {} MiB to {} MiB",
                before >> 20,
                peak >> 20
            );
            // Routes that read a body refuse it; the others answer without reading it.
            if path.starts_with("/api/rooms") {
                assert_eq!(status, 413, "{method} {path} (chunked: {chunked})");
            } else {
                assert!(status >= 400, "{method} {path}: {status}");
            }
            assert!(
                written < GIB,
                "{method} {path} (chunked: {chunked}): the hub took all {written} bytes in {:?}",
                started.elapsed()
            );
        }
    }
    // And the hub still serves.
    let (s, b) = http_call(
        &http,
        hub.url("/api/rooms/res-big/messages"),
        "POST",
        &token,
        json!({"client_id":"after","body":"まだ動く"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn the_http_api_is_rate_limited_per_user_with_retry_after() {
    let app = spawn_app_with(Options {
        tune: Some(|a| {
            a.limits.rate_per_second = 1;
            a.limits.rate_burst = 3;
        }),
        ..Options::default()
    })
    .await;
    let nurse = User::member("nurse");
    let other = User::member("other");
    let mut limited = None;
    for i in 0..10 {
        let r = app
            .http
            .get(app.url("/api/me/rooms"))
            .bearer_auth(app.token(&nurse))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if r.status() == 429 {
            limited = Some((i, r));
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let Some((i, r)) = limited else {
        panic!("10 requests at once were never rate limited");
    };
    assert_eq!(i, 3, "the burst of 3 passes, the 4th is refused");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without Retry-After seconds: {:?}", r.headers()));
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(code(&body), "rate_limited", "{body}");
    // Per user: another user is not affected; a new token for the same user is.
    let (s, _) = app.call(&other, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 200);
    let (s, _) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 429);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (s, b) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 200, "after Retry-After: {b}");
}

#[tokio::test]
async fn a_409_names_neither_the_kind_nor_the_town() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let far = User::coordinator("far").in_town("yamanami");
    app.team_room(&coord, "res-secret", &[]).await;
    let (s, b) = app
        .call(
            &far,
            "PUT",
            "/api/rooms/res-secret",
            Some(json!({"kind":"town","title":"お知らせ","town":"yamanami"})),
        )
        .await;
    assert_eq!((s, code(&b)), (409, "conflict"), "{b}");
    let text = b.to_string();
    for leak in ["misaki", "team"] {
        assert!(!text.contains(leak), "the 409 names {leak:?}: {text}");
    }
}

#[tokio::test]
async fn browser_responses_carry_the_security_headers_and_config_is_public() {
    let app = spawn_app().await;
    for path in ["/", "/js/app.js", "/api/config", "/api/me/rooms"] {
        let r = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no CSP"));
        for part in [
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "worker-src 'self'",
            "manifest-src 'self'",
        ] {
            assert!(csp.contains(part), "{path}: CSP {csp} lacks {part}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(
            h.get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            h.get("referrer-policy").and_then(|v| v.to_str().ok()),
            Some("no-referrer"),
            "{path}"
        );
    }
    let (s, b) = app.call_token(None, "GET", "/api/config", None).await;
    assert_eq!(s, 200, "{b}");
    let key = b["vapid_public_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(key.len(), 87, "base64url of a 65-byte P-256 point: {b}");
    assert_eq!(
        b,
        json!({"demo":false,"vapid_public_key":key,"max_attachment_bytes":10485760,"require_consent":false})
    );
}

#[tokio::test]
async fn the_websocket_upgrade_checks_origin() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.allowed_origins = vec!["https://portal.example.jp".into()]),
        ..Options::default()
    })
    .await;
    let own = format!("http://{}", app.addr);
    for (origin, ok) in [
        (None, true),
        (Some(own.as_str()), true),
        (Some("https://portal.example.jp"), true),
        (Some("https://evil.example"), false),
        (Some("null"), false),
        (Some("http://127.0.0.1:1"), false),
    ] {
        let mut req = app
            .ws_url()
            .into_client_request()
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(o) = origin {
            req.headers_mut()
                .insert("origin", o.parse().unwrap_or_else(|e| panic!("{e}")));
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok(_) => assert!(ok, "origin {origin:?} was let in"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(!ok, "origin {origin:?} refused: {}", resp.status());
                assert_eq!(resp.status(), 403, "origin {origin:?}");
            }
            Err(e) => panic!("origin {origin:?}: {e}"),
        }
    }
}

/// An attacker holding sockets: `idle` never send a byte, the others trickle a header a byte
/// at a time. Each task reports when the hub closed its socket.
fn attacker(
    addr: SocketAddr,
    idle: bool,
    until: Instant,
) -> tokio::task::JoinHandle<Option<Duration>> {
    tokio::spawn(async move {
        let opened = Instant::now();
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
        else {
            return None; // never got a socket: nothing held
        };
        let mut buf = [0u8; 64];
        if !idle
            && s.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
                .await
                .is_err()
        {
            return Some(opened.elapsed());
        }
        loop {
            if Instant::now() > until {
                return None; // still open at the end: the hub never closed it
            }
            if !idle && s.write_all(b"a").await.is_err() {
                return Some(opened.elapsed());
            }
            match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(opened.elapsed()),
                Ok(Ok(_)) | Err(_) => {}
            }
        }
    })
}

#[tokio::test]
async fn idle_and_trickling_sockets_lock_nobody_out_under_a_low_file_limit() {
    let backend = Backend::fresh().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hub = Proc::start(&backend, dir.path(), Some(256), &[]).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let token = sign(&coord.claims(3600, "yui"), SECRET);
    let nurse_token = sign(&nurse.claims(3600, "yui"), SECRET);
    let http = reqwest::Client::new();
    let (s, b) = http_call(
        &http,
        hub.url("/api/rooms/res-siege"),
        "PUT",
        &token,
        json!({"kind":"team","title":"t","town":"misaki"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = http_call(
        &http,
        hub.url("/api/rooms/res-siege/members/nurse"),
        "PUT",
        &token,
        json!({}),
    )
    .await;
    assert_eq!(s, 204, "{b}");
    let r = room("res-siege");
    let ws = format!("ws://{}/ws", hub.addr);
    let mut existing = Client::open(&ws).await;
    existing.hello(&token).await;

    // 3,000 sockets, ten times the hub's file limit, opened over ~3 s and then held.
    let until = Instant::now() + Duration::from_secs(40);
    let mut attackers = Vec::new();
    for i in 0..3000 {
        attackers.push(attacker(hub.addr, i % 2 == 0, until));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Meanwhile: the existing user keeps posting over its WebSocket and over HTTP, and new
    // users sign in (new connections, hello, welcome), each well within a few seconds.
    let siege_end = Instant::now() + Duration::from_secs(12);
    let mut i = 0;
    while Instant::now() < siege_end {
        i += 1;
        let t = Instant::now();
        let ack = tokio::time::timeout(
            Duration::from_secs(5),
            existing.post(&r, &format!("ws-{i}"), "包囲中も投稿"),
        )
        .await
        .unwrap_or_else(|_| panic!("post {i} over the WebSocket took over 5 s"));
        ack_seq(&ack);
        let (s, b) = tokio::time::timeout(
            Duration::from_secs(5),
            http_call(
                &http,
                hub.url("/api/rooms/res-siege/messages"),
                "POST",
                &token,
                json!({"client_id":format!("http-{i}"),"body":"HTTPでも"}),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("post {i} over HTTP took over 5 s"));
        assert_eq!(s, 201, "HTTP post {i}: {b}");
        let login = tokio::time::timeout(Duration::from_secs(8), async {
            let mut c = Client::open(&ws).await;
            c.hello(&nurse_token).await
        })
        .await
        .unwrap_or_else(|_| panic!("sign-in {i} took over 8 s (after {:?})", t.elapsed()));
        assert!(
            matches!(login, yui_protocol::server::ServerFrame::Welcome { .. }),
            "sign-in {i}: {login:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(i >= 5, "only {i} rounds in 12 s");

    // One socket alone, after the flood: closed by the header timeout (10 s), not before.
    let lone = attacker(hub.addr, true, until);
    let mut closed = 0;
    let mut held = 0;
    for a in attackers {
        match a.await.unwrap_or(None) {
            Some(_) => closed += 1,
            None => held += 1,
        }
    }
    assert_eq!(
        held, 0,
        "{held} attacker sockets were still open after 40 s ({closed} closed)"
    );
    let lone = lone.await.unwrap_or(None);
    let lone = lone.unwrap_or_else(|| panic!("a lone idle socket was never closed"));
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(14)).contains(&lone),
        "a lone idle socket was closed after {lone:?}, not the 10 s header timeout"
    );
}

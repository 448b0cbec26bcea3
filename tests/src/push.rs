//! A real Web Push receiver for the tests: an HTTP server on 127.0.0.1:0 that plays the push
//! service and the browser at once. It holds each subscription's P-256 private key and auth
//! secret, checks every request's VAPID token (RFC 8292: ES256 signed by the hub's public key,
//! `aud` its own origin, `exp` at most 24 h ahead, a `mailto:` or `https:` subject, `k` the
//! hub's key), decrypts the body (RFC 8291 `aes128gcm`) and records what arrived. Each
//! subscription answers with a scripted status (`script`), or hangs first when told to.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The decrypted payload (JSON).
    pub payload: Value,
    pub urgency: Option<String>,
    pub ttl: Option<u64>,
    /// The status the receiver answered.
    pub answered: u16,
}

struct Sub {
    components: ece::EcKeyComponents,
    auth: Vec<u8>,
    /// Statuses to answer, in order; 201 once it is empty.
    script: VecDeque<u16>,
    /// Hang (never answer) this many first requests.
    hang: usize,
    got: Vec<Received>,
    /// Requests that failed a check (VAPID, encryption), with why.
    bad: Vec<String>,
}

#[derive(Default)]
struct Inner {
    subs: HashMap<String, Sub>,
    /// The hub's VAPID public key (base64url), once known.
    vapid: Option<String>,
    origin: String,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts the receiver; `vapid_public_key` is the hub's (`GET /api/config`).
    pub async fn start(vapid_public_key: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let inner = Arc::new(Mutex::new(Inner {
            vapid: Some(vapid_public_key.to_owned()),
            origin: format!("http://{addr}"),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/push/{name}", post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscription named `name`: the body of `POST /api/me/push`.
    pub fn subscription(&self, name: &str) -> Value {
        let (pair, auth) =
            ece::generate_keypair_and_auth_secret().unwrap_or_else(|e| panic!("ece keys: {e}"));
        let public = pair.pub_as_raw().unwrap_or_else(|e| panic!("{e}"));
        let components = pair.raw_components().unwrap_or_else(|e| panic!("{e}"));
        self.lock().subs.insert(
            name.to_owned(),
            Sub {
                components,
                auth: auth.to_vec(),
                script: VecDeque::new(),
                hang: 0,
                got: Vec::new(),
                bad: Vec::new(),
            },
        );
        serde_json::json!({
            "endpoint": self.endpoint(name),
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(&public), "auth": URL_SAFE_NO_PAD.encode(auth)}
        })
    }

    pub fn endpoint(&self, name: &str) -> String {
        format!("http://{}/push/{name}", self.addr)
    }

    /// The next requests to `name` are answered with these statuses.
    pub fn script(&self, name: &str, statuses: &[u16]) {
        if let Some(s) = self.lock().subs.get_mut(name) {
            s.script.extend(statuses.iter().copied());
        }
    }

    /// The first `n` requests to `name` are never answered.
    pub fn hang(&self, name: &str, n: usize) {
        if let Some(s) = self.lock().subs.get_mut(name) {
            s.hang = n;
        }
    }

    /// What arrived at `name` (every request that passed the checks, whatever it was answered).
    pub fn got(&self, name: &str) -> Vec<Received> {
        self.lock()
            .subs
            .get(name)
            .map(|s| s.got.clone())
            .unwrap_or_default()
    }

    /// Pushes answered with a 2xx.
    pub fn delivered(&self, name: &str) -> Vec<Received> {
        self.got(name)
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Requests that failed a check.
    pub fn bad(&self) -> Vec<String> {
        self.lock()
            .subs
            .values()
            .flat_map(|s| s.bad.clone())
            .collect()
    }

    /// Waits until `name` has had `n` delivered pushes (or `wait` passes); returns them.
    pub async fn wait_delivered(&self, name: &str, n: usize, wait: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.delivered(name);
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

enum Verdict {
    Answer(u16),
    Hang,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verdict = {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *guard;
        let (vapid, origin) = (inner.vapid.clone(), inner.origin.clone());
        let Some(sub) = inner.subs.get_mut(&name) else {
            return StatusCode::NOT_FOUND;
        };
        match check(&headers, &body, sub, vapid.as_deref(), &origin) {
            Err(why) => {
                sub.bad.push(why);
                Verdict::Answer(400)
            }
            Ok(mut received) => {
                if sub.hang > 0 {
                    sub.hang -= 1;
                    received.answered = 0;
                    sub.got.push(received);
                    Verdict::Hang
                } else {
                    let status = sub.script.pop_front().unwrap_or(201);
                    received.answered = status;
                    sub.got.push(received);
                    Verdict::Answer(status)
                }
            }
        }
    };
    match verdict {
        Verdict::Answer(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::CREATED),
        Verdict::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::CREATED
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn check(
    headers: &HeaderMap,
    body: &[u8],
    sub: &Sub,
    vapid: Option<&str>,
    origin: &str,
) -> Result<Received, String> {
    if header(headers, "content-encoding") != Some("aes128gcm") {
        return Err("Content-Encoding is not aes128gcm".into());
    }
    let ttl = header(headers, "ttl")
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or("no TTL")?;
    let auth = header(headers, "authorization").ok_or("no Authorization")?;
    let rest = auth
        .strip_prefix("vapid t=")
        .ok_or("Authorization is not vapid")?;
    let (token, k) = rest.split_once(", k=").ok_or("vapid without k=")?;
    let hub_key = vapid.ok_or("no hub key known")?;
    if k != hub_key {
        return Err(format!("k={k} is not the hub's key {hub_key}"));
    }
    let raw = URL_SAFE_NO_PAD.decode(hub_key).map_err(|e| e.to_string())?;
    if raw.len() != 65 || raw[0] != 4 {
        return Err("the hub's key is not an uncompressed P-256 point".into());
    }
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&raw[1..33]),
        &URL_SAFE_NO_PAD.encode(&raw[33..65]),
    )
    .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map_err(|e| format!("VAPID token: {e}"))?
        .claims;
    let exp = claims["exp"].as_i64().ok_or("exp")?;
    if exp > crate::chrono_now() + 24 * 3600 {
        return Err("VAPID exp more than 24 h ahead".into());
    }
    let subject = claims["sub"].as_str().unwrap_or_default();
    if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
        return Err(format!("VAPID sub {subject}"));
    }
    let plain =
        ece::decrypt(&sub.components, &sub.auth, body).map_err(|e| format!("decrypting: {e}"))?;
    let payload: Value = serde_json::from_slice(&plain).map_err(|e| format!("payload: {e}"))?;
    Ok(Received {
        payload,
        urgency: header(headers, "urgency").map(str::to_owned),
        ttl: Some(ttl),
        answered: 0,
    })
}

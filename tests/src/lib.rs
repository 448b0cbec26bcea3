//! Helpers for Yui's end-to-end tests: a real hub on an ephemeral port ([`spawn_app`]), a real
//! WebSocket client ([`Client`]) and an HTTP client, and tokens for test users.
//!
//! Backends: by default a hub runs on SQLite in a fresh temp dir with the in-process bus. With
//! `YUI_TEST_BACKEND=cluster` it runs on a fresh Postgres database and Redis instead (see
//! [`Backend`]); the same tests then check the cluster implementation.

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yui_protocol::claims::{Audience, Claims};
use yui_protocol::client::Request;
use yui_protocol::ids::{Body, ClientId, Ref, RoomId};
use yui_protocol::server::ServerFrame;

pub mod backend;
pub mod fs;
pub mod images;
pub mod process;
pub mod push;
pub mod smtp;

pub use backend::Backend;

/// How long a test waits for any one frame.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn room(s: &str) -> RoomId {
    RoomId::parse(s).unwrap_or_else(|e| panic!("test room id {s}: {e}"))
}

/// A test user's claims.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub profession: String,
    pub org: String,
    pub town: String,
    pub role: Option<String>,
    /// The optional `email` claim (5.6 digests).
    pub email: Option<String>,
}

impl User {
    pub fn member(id: &str) -> User {
        User {
            id: id.into(),
            name: format!("名前 {id}"),
            profession: "nurse".into(),
            org: "みさき訪問看護".into(),
            town: "misaki".into(),
            role: None,
            email: None,
        }
    }

    pub fn coordinator(id: &str) -> User {
        User {
            role: Some("coordinator".into()),
            profession: "municipal".into(),
            ..User::member(id)
        }
    }

    pub fn admin(id: &str) -> User {
        User {
            role: Some("admin".into()),
            profession: "other".into(),
            town: "hq".into(),
            ..User::member(id)
        }
    }

    pub fn with_email(mut self, email: &str) -> User {
        self.email = Some(email.into());
        self
    }

    pub fn in_town(mut self, town: &str) -> User {
        self.town = town.into();
        self
    }

    pub fn claims(&self, exp_in: i64, aud: &str) -> Claims {
        let now = chrono_now();
        Claims {
            sub: self.id.clone(),
            name: self.name.clone(),
            profession: self.profession.clone(),
            org: self.org.clone(),
            town: self.town.clone(),
            role: self.role.clone(),
            exp: now + exp_in,
            aud: Audience::One(aud.into()),
            iat: Some(now),
            nbf: None,
            iss: None,
            email: self.email.clone(),
        }
    }
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Signs any claims (also broken ones) with `secret`.
pub fn sign(claims: &impl serde::Serialize, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("signing a test token: {e}"))
}

/// Options for a test hub.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Changes to the hub's settings (limits, leeway), applied last.
    pub tune: Option<fn(&mut yui_server::config::ServeArgs)>,
    /// Share another hub's data (a second node, or a restart).
    pub data_dir: Option<PathBuf>,
}

/// A hub running in this process on an ephemeral port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub secret: String,
    pub http: reqwest::Client,
    pub backend: Backend,
    /// The hub's data directory (the embedded store's files, attachments included).
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

pub const SECRET: &str = "test-secret-of-enough-length";

/// Starts a hub on a fresh backend.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let backend = Backend::fresh().await;
    spawn_on(backend, options).await
}

/// Starts a hub on the given backend (several hubs on one backend are a cluster).
pub async fn spawn_on(backend: Backend, options: Options) -> TestApp {
    let dir = match &options.data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))),
    };
    let data_dir = options
        .data_dir
        .clone()
        .or_else(|| dir.as_ref().map(|d| d.path().to_path_buf()))
        .unwrap_or_default();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let mut args = yui_server::config::ServeArgs::new(addr);
    args.jwt.jwt_secret = Some(SECRET.into());
    args.store.data_dir = data_dir.clone();
    args.limits.shutdown_grace = 3;
    backend.configure(&mut args);
    if let Some(tune) = options.tune {
        tune(&mut args);
    }
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        yui_server::app::run(args, listener, async {
            let _ = rx.await;
        })
        .await
    });
    let app = TestApp {
        addr,
        secret: SECRET.into(),
        http: reqwest::Client::new(),
        backend,
        data_dir,
        shutdown: Some(tx),
        task: Some(task),
        _dir: dir,
    };
    app.wait_ready().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn wait_ready(&self) {
        // 20 s: on a loaded 2-core machine a restart (open, migrate, lock) can take seconds.
        for _ in 0..800 {
            if let Ok(r) = self.http.get(self.url("/healthz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("hub did not come up on {}", self.addr);
    }

    pub fn token(&self, user: &User) -> String {
        sign(&user.claims(3600, "yui"), &self.secret)
    }

    /// Connects and says hello; panics unless `welcome` comes back.
    pub async fn connect(&self, user: &User) -> Client {
        let mut c = Client::open(&self.ws_url()).await;
        let welcome = c.hello(&self.token(user)).await;
        match welcome {
            ServerFrame::Welcome { .. } => {}
            other => panic!("expected welcome, got {other:?}"),
        }
        c.welcome = Some(welcome);
        c
    }

    /// An HTTP request with `user`'s token; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_token(Some(&self.token(user)), method, path, body)
            .await
    }

    pub async fn call_token(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("http: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Creates a team room as `owner` (a coordinator or admin) and adds `members`.
    pub async fn team_room(&self, owner: &User, id: &str, members: &[&User]) -> RoomId {
        let (s, b) = self
            .call(
                owner,
                "PUT",
                &format!("/api/rooms/{id}"),
                Some(json!({"kind":"team","title":format!("room {id}"),"town":owner.town})),
            )
            .await;
        assert!(s == 201 || s == 200, "create room {id}: {s} {b}");
        for m in members {
            let (s, b) = self
                .call(
                    owner,
                    "PUT",
                    &format!("/api/rooms/{id}/members/{}", m.id),
                    None,
                )
                .await;
            assert_eq!(s, 204, "add {} to {id}: {b}", m.id);
        }
        room(id)
    }

    pub async fn town_room(&self, coordinator: &User, id: &str) -> RoomId {
        let (s, b) = self
            .call(
                coordinator,
                "PUT",
                &format!("/api/rooms/{id}"),
                Some(json!({"kind":"town","title":"お知らせ","town":coordinator.town})),
            )
            .await;
        assert!(s == 201 || s == 200, "create town room {id}: {s} {b}");
        room(id)
    }

    /// Stops the hub gracefully and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(|e| anyhow!("hub task: {e}"))?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A real WebSocket client. Frames that are not what a call waits for are kept in order for
/// later calls, so replies and events may interleave freely.
pub struct Client {
    ws: Ws,
    pending: VecDeque<ServerFrame>,
    pub welcome: Option<ServerFrame>,
    next_ref: u64,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    NoCode,
}

impl Client {
    pub async fn open(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client {
            ws,
            pending: VecDeque::new(),
            welcome: None,
            next_ref: 0,
        }
    }

    /// Sends hello and returns the first frame that answers it.
    pub async fn hello(&mut self, token: &str) -> ServerFrame {
        self.send(
            &Request::Hello {
                token: token.into(),
            },
            None,
        )
        .await;
        self.next()
            .await
            .unwrap_or_else(|e| panic!("no answer to hello: {e}"))
    }

    pub fn welcome_rooms(&self) -> Vec<Value> {
        match &self.welcome {
            Some(w) => serde_json::to_value(w)
                .ok()
                .and_then(|v| v.get("rooms").cloned())
                .and_then(|r| r.as_array().cloned())
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    pub async fn send(&mut self, req: &Request, r#ref: Option<&str>) {
        let r = r#ref.map(|r| Ref::parse(r).unwrap_or_else(|e| panic!("{e}")));
        self.send_raw(&req.to_json(r.as_ref())).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(WsMessage::Text(text.to_string().into()))
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// Sends without panicking; false once the connection is gone.
    pub async fn try_send_raw(&mut self, text: &str) -> bool {
        self.ws
            .send(WsMessage::Text(text.to_string().into()))
            .await
            .is_ok()
    }

    pub async fn send_binary(&mut self, data: Vec<u8>) {
        let _ = self.ws.send(WsMessage::Binary(data.into())).await;
    }

    /// The next frame from the socket (kept frames first).
    pub async fn next(&mut self) -> Result<ServerFrame> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<ServerFrame> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame within {WAIT:?}"))?;
            match msg {
                None => bail!("connection ended"),
                Some(Err(e)) => bail!("connection error: {e}"),
                Some(Ok(WsMessage::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .with_context(|| format!("unparseable frame from the hub: {t}"))
                }
                Some(Ok(WsMessage::Close(c))) => bail!("closed: {c:?}"),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the first frame matching `pred`, keeping the others for later.
    pub async fn wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&ServerFrame) -> bool,
    ) -> ServerFrame {
        if let Some(i) = self.pending.iter().position(&pred) {
            if let Some(f) = self.pending.remove(i) {
                return f;
            }
        }
        loop {
            match self.read().await {
                Ok(f) if pred(&f) => return f,
                Ok(f) => self.pending.push_back(f),
                Err(e) => panic!("waiting for {what}: {e}; kept: {:?}", self.pending),
            }
        }
    }

    /// The reply to the frame sent with `r`.
    pub async fn reply(&mut self, r: &str) -> ServerFrame {
        self.wait_for(&format!("reply to {r}"), |f| frame_ref(f) == Some(r))
            .await
    }

    /// Sends `req` with a fresh ref and returns its reply.
    pub async fn request(&mut self, req: Request) -> ServerFrame {
        self.next_ref += 1;
        let r = format!("r{}", self.next_ref);
        self.send(&req, Some(&r)).await;
        self.reply(&r).await
    }

    pub async fn subscribe(&mut self, room: &RoomId, since: Option<u64>) -> ServerFrame {
        self.request(Request::Subscribe {
            room: room.clone(),
            since,
        })
        .await
    }

    /// Posts and returns the ack's (seq, reply frame).
    pub async fn post(&mut self, room: &RoomId, client_id: &str, body: &str) -> ServerFrame {
        self.request(Request::Post {
            room: room.clone(),
            post: yui_protocol::post::NewPost::note(
                ClientId::parse(client_id).unwrap_or_else(|e| panic!("{e}")),
                Body::parse(body).unwrap_or_else(|e| panic!("{e}")),
            ),
        })
        .await
    }

    /// The next `message` event of `room`.
    pub async fn message(&mut self, room: &RoomId) -> yui_protocol::model::Message {
        let r = room.clone();
        match self
            .wait_for(
                "message",
                move |f| matches!(f, ServerFrame::Message(m) if m.room == r),
            )
            .await
        {
            ServerFrame::Message(m) => m,
            _ => unreachable!(),
        }
    }

    /// Collects `room`'s message seqs until `last` is seen (or a wait runs out).
    pub async fn seqs_until(&mut self, room: &RoomId, last: u64) -> Vec<u64> {
        let mut seqs = Vec::new();
        while seqs.last().copied() != Some(last) {
            let m = self.message(room).await;
            seqs.push(m.seq);
            if m.seq > last {
                break;
            }
        }
        seqs
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Err(_) => panic!("connection not closed within {WAIT:?}"),
                Ok(None) | Ok(Some(Err(_))) => return Closed::NoCode,
                Ok(Some(Ok(WsMessage::Close(Some(c))))) => return Closed::Code(u16::from(c.code)),
                Ok(Some(Ok(WsMessage::Close(None)))) => return Closed::NoCode,
                Ok(Some(Ok(WsMessage::Text(t)))) => {
                    if let Ok(f) = serde_json::from_str::<ServerFrame>(t.as_str()) {
                        self.pending.push_back(f);
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Frames received so far and kept, plus whatever arrives within `d`.
    pub async fn drain(&mut self, d: Duration) -> Vec<ServerFrame> {
        let mut out: Vec<ServerFrame> = self.pending.drain(..).collect();
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let WsMessage::Text(t) = msg {
                if let Ok(f) = serde_json::from_str(t.as_str()) {
                    out.push(f);
                }
            }
        }
        out
    }

    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }
}

pub fn frame_ref(f: &ServerFrame) -> Option<&str> {
    let r = match f {
        ServerFrame::Welcome { r#ref, .. }
        | ServerFrame::Pong { r#ref }
        | ServerFrame::Subscribed { r#ref, .. }
        | ServerFrame::Unsubscribed { r#ref, .. }
        | ServerFrame::Ack { r#ref, .. }
        | ServerFrame::History { r#ref, .. }
        | ServerFrame::Receipts { r#ref, .. }
        | ServerFrame::Confirms { r#ref, .. }
        | ServerFrame::Error { r#ref, .. } => r#ref.as_ref(),
        _ => None,
    };
    r.map(|r| r.as_str())
}

/// The error code of an `error` frame, or panics.
pub fn error_code(f: &ServerFrame) -> yui_protocol::ErrorCode {
    match f {
        ServerFrame::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The seq of an ack, or panics.
pub fn ack_seq(f: &ServerFrame) -> u64 {
    match f {
        ServerFrame::Ack { seq: Some(s), .. } => *s,
        other => panic!("expected an ack with seq, got {other:?}"),
    }
}

//! One load-test client: a real WebSocket connection (bound to a chosen loopback source
//! address), its reader task that checks every delivery, and its writer task.

use crate::stats::{now_micros, SeqCheck, Stats};
use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<tokio::net::TcpStream>;

/// The few fields of a hub frame the harness needs, borrowed from the text.
#[derive(Deserialize)]
struct In<'a> {
    #[serde(rename = "type", borrow)]
    t: Cow<'a, str>,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
    seq: Option<u64>,
    last_seq: Option<u64>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(rename = "ref", borrow, default)]
    r: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_id: Option<Cow<'a, str>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the reader task shares with the scenario.
#[derive(Default)]
pub struct Shared {
    pub check: Mutex<SeqCheck>,
    /// Rooms still catching up after a resume: room -> seq to reach.
    pub catching_up: Mutex<HashMap<String, u64>>,
    pub caught_up_at: Mutex<Option<Instant>>,
    pub closed: AtomicBool,
    /// Send `read` for some deliveries (probability), at most every 250 ms.
    pub read_ratio: Mutex<f64>,
}

pub struct Client {
    pub id: usize,
    /// The hub node this client is connected to (index into the URL list).
    pub node: usize,
    pub tx: mpsc::Sender<String>,
    pub shared: Arc<Shared>,
    run: u32,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Client {
    /// Dropping a client closes its connection: both tasks end and the socket with them.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn host_port(url: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow!("only ws:// URLs: {url}"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .parse()
        .with_context(|| format!("host:port in {url} (use an IP address)"))
}

/// The loopback source address of client `i` out of `n` (127.0.0.1 .. 127.0.0.n): spreads
/// connections over source addresses, past the ephemeral ports one address has.
pub fn source(i: usize, n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % n.max(1) as usize) as u8))
}

/// Opens a connection from `source` and says hello; returns the socket once `welcome` came.
pub async fn open(url: &str, token: &str, source: IpAddr) -> Result<Ws> {
    let addr = host_port(url)?;
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(source, 0))
        .with_context(|| format!("bind {source}"))?;
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    // Small buffers: tens of thousands of client connections share this process.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .context("WebSocket upgrade")?;
    ws.send(Message::Text(
        format!(r#"{{"type":"hello","token":"{token}"}}"#).into(),
    ))
    .await?;
    let first = expect(&mut ws, |f| f.t == "welcome" || f.t == "error").await?;
    if first.0 != "welcome" {
        bail!("hello refused: {}", first.1);
    }
    Ok(ws)
}

/// Reads until a frame matches; returns its type and text.
async fn expect(ws: &mut Ws, pred: impl Fn(&In) -> bool) -> Result<(String, String)> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| anyhow!("no answer in 30 s"))?
            .ok_or_else(|| anyhow!("connection closed"))??;
        if let Message::Text(t) = msg {
            let f: In = serde_json::from_str(t.as_str())?;
            if pred(&f) {
                return Ok((f.t.into_owned(), t.as_str().to_owned()));
            }
        }
    }
}

/// Subscribes before the tasks start; returns the room's `last_seq`.
pub async fn subscribe(ws: &mut Ws, room: &str, since: Option<u64>) -> Result<u64> {
    let since = since
        .map(|s| format!(r#","since":{s}"#))
        .unwrap_or_default();
    ws.send(Message::Text(
        format!(r#"{{"type":"subscribe","room":"{room}","ref":"s"{since}}}"#).into(),
    ))
    .await?;
    let (t, text) = expect(ws, |f| f.r.as_deref() == Some("s")).await?;
    if t != "subscribed" {
        bail!("subscribe {room}: {text}");
    }
    let f: In = serde_json::from_str(&text)?;
    Ok(f.last_seq.unwrap_or(0))
}

impl Client {
    /// Splits a ready connection into its reader and writer tasks.
    pub fn start(id: usize, node: usize, ws: Ws, shared: Arc<Shared>, stats: Arc<Stats>) -> Client {
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let run = stats.run;
        let writer = tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader_tx = tx.clone();
        let sh = shared.clone();
        let reader = tokio::spawn(async move {
            let mut last_read = Instant::now();
            while let Some(msg) = stream.next().await {
                let Ok(msg) = msg else { break };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Ok(f) = serde_json::from_str::<In>(text.as_str()) else {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                match f.t.as_ref() {
                    "message" => {
                        let (Some(room), Some(seq)) = (f.room.as_deref(), f.seq) else {
                            continue;
                        };
                        if let Some((sent, from)) = f.body.as_deref().and_then(sent_at) {
                            let latency = now_micros().saturating_sub(sent);
                            stats.delivered(latency, from != node);
                            stats.delivered_seq(seq, latency);
                        }
                        lock(&sh.check).observe(&stats, id, room, seq);
                        if let Some(cid) = f.client_id.as_deref() {
                            stats.ledger.delivered(&stats, id, room, seq, cid);
                        }
                        sh.note_progress(room, seq);
                        let ratio = *lock(&sh.read_ratio);
                        if ratio > 0.0
                            && last_read.elapsed() > Duration::from_millis(250)
                            && rand::random::<f64>() < ratio
                        {
                            last_read = Instant::now();
                            stats.reads_sent.fetch_add(1, Ordering::Relaxed);
                            let _ = reader_tx.try_send(format!(
                                r#"{{"type":"read","room":"{room}","seq":{seq}}}"#
                            ));
                        }
                    }
                    "ack" => {
                        if let (Some(r), Some(room), Some(seq)) =
                            (f.r.as_deref(), f.room.as_deref(), f.seq)
                        {
                            // A post's ref is `p<send time>:<n>`; its client_id `lt<run>-<id>-<n>`.
                            if let Some((sent, n)) =
                                r.strip_prefix('p').and_then(|v| v.split_once(':'))
                            {
                                if let Ok(sent) = sent.parse::<u64>() {
                                    stats.acked(room, seq, now_micros().saturating_sub(sent));
                                    let cid = format!("lt{run}-{id}-{n}");
                                    stats.ledger.acked(&stats, id, room, seq, &cid);
                                }
                            }
                        }
                    }
                    "error" => {
                        if f.code.as_deref() == Some("rate_limited") {
                            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        } else {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
            sh.closed.store(true, Ordering::Release);
            stats.closes.fetch_add(1, Ordering::Relaxed);
        });
        Client {
            id,
            node,
            run,
            tx,
            shared,
            tasks: vec![writer, reader],
        }
    }

    /// A handle that queues posts on this connection from another task.
    pub fn post_handle(&self) -> PostHandle {
        PostHandle {
            tx: self.tx.clone(),
            id: self.id,
            node: self.node,
            run: self.run,
        }
    }

    /// Queues a post whose body carries its send time; false when the client is gone or its
    /// queue is full.
    pub fn post(&self, room: &str, n: u64) -> bool {
        let t = now_micros();
        let frame = format!(
            r#"{{"type":"post","room":"{room}","client_id":"lt{}-{}-{n}","body":"t={t} n={} load-test note {n}","ref":"p{t}:{n}"}}"#,
            self.run, self.id, self.node
        );
        self.tx.try_send(frame).is_ok()
    }
}

/// Posts on a client's connection from another task (after an upload).
pub struct PostHandle {
    tx: mpsc::Sender<String>,
    id: usize,
    node: usize,
    run: u32,
}

impl PostHandle {
    pub fn node(&self) -> usize {
        self.node
    }

    /// The client's user index (`setup::user`).
    pub fn user(&self) -> usize {
        self.id
    }

    /// A post like [`Client::post`] naming one attachment.
    pub fn post_with_attachment(&self, room: &str, n: u64, attachment: &str) -> bool {
        let t = now_micros();
        let frame = format!(
            r#"{{"type":"post","room":"{room}","client_id":"lt{}-{}-{n}","body":"t={t} n={} load-test note {n} with a photo","attachments":["{attachment}"],"ref":"p{t}:{n}"}}"#,
            self.run, self.id, self.node
        );
        self.tx.try_send(frame).is_ok()
    }
}

impl Shared {
    fn note_progress(&self, room: &str, seq: u64) {
        let mut pending = lock(&self.catching_up);
        if pending.is_empty() {
            return;
        }
        if pending.get(room).is_some_and(|target| seq >= *target) {
            pending.remove(room);
            if pending.is_empty() {
                *lock(&self.caught_up_at) = Some(Instant::now());
            }
        }
    }

    pub fn expect_catch_up(&self, room: &str, target: u64, last_seen: u64) {
        if target > last_seen {
            lock(&self.catching_up).insert(room.to_string(), target);
        }
    }

    pub fn caught_up(&self) -> Option<Instant> {
        *lock(&self.caught_up_at)
    }

    pub fn is_catching_up(&self) -> bool {
        !lock(&self.catching_up).is_empty()
    }
}

/// The send time and the poster's node written into a post's body (`t=<µs> n=<node> ...`).
fn sent_at(body: &str) -> Option<(u64, usize)> {
    let mut words = body.split(' ');
    let t = words.next()?.strip_prefix("t=")?.parse().ok()?;
    let n = words
        .next()
        .and_then(|w| w.strip_prefix("n="))
        .and_then(|w| w.parse().ok())
        .unwrap_or(usize::MAX);
    Some((t, n))
}

pub fn lock_check(s: &Shared) -> std::sync::MutexGuard<'_, SeqCheck> {
    lock(&s.check)
}

pub fn set_read_ratio(s: &Shared, r: f64) {
    *lock(&s.read_ratio) = r;
}

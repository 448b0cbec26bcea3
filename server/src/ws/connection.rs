//! The life of one connection: upgrade, `hello`, then the read loop until close.

use crate::error::ApiError;
use crate::hub::text;
use crate::service::user_name;
use crate::state::AppState;
use crate::ws::outbound::{ConnHandle, Outbound, SubscribeRequest, Unsubscribed};
use crate::ws::rate::{RateLimit, Verdict};
use crate::ws::writer::Writer;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tracing::Instrument;
use yui_protocol::claims::Identity;
use yui_protocol::client::{parse_frame, Frame, Request};
use yui_protocol::ids::Ref;
use yui_protocol::limits::close;
use yui_protocol::server::{ServerFrame, WelcomeUser};
use yui_protocol::ErrorCode;

/// The socket's read chunk, held by every connection for its whole life. Most frames (`read`,
/// `ping`, a note of a few hundred characters) fit in one chunk; the largest post (4,000
/// characters of Japanese, ~12 KiB) takes a few reads.
const READ_BUFFER: usize = 2 * 1024;

/// `GET /ws`: upgrades, with small buffers so an idle connection costs little memory.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "node draining").into_response();
    }
    let Ok(permit) = state.connection_permits.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let max = state.limits.max_frame_bytes;
    let tracker = state.connections.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(8 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            // A task of the connection's own: axum's upgrade task would otherwise keep its own
            // state beside ours for the connection's whole life.
            tracker.spawn(run(state, socket, permit));
            std::future::ready(())
        })
}

/// The connection's task. Not an `async fn`: the span-instrumented future is returned as it is,
/// instead of being held inside another future (which would reserve its size twice).
fn run(
    state: AppState,
    mut socket: WebSocket,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> {
    let id = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("conn", conn = id, node = %state.node, user = tracing::field::Empty);
    async move {
        // Held until the connection ends: it counts toward `--max-connections`.
        let _permit = permit;
        // Boxed: the handshake's state is freed once it is done, so an idle connection's task
        // does not keep room for it.
        let Some(identity) = Box::pin(hello(&state, &mut socket)).await else {
            return;
        };
        tracing::Span::current().record("user", identity.user.id.as_str());
        tracing::debug!("connected");
        let (tx, rx) = mpsc::channel(state.limits.outbound_queue);
        let conn = ConnHandle::new(
            id,
            identity.user.id.clone(),
            identity.role,
            identity.town.clone(),
            tx,
        );
        let missed_pongs = Arc::new(AtomicU32::new(0));
        let (sink, stream) = socket.split();
        state.hub.connect(&conn);
        let writer = Writer {
            state: state.clone(),
            conn: conn.clone(),
            reader: user_name(&identity),
            missed_pongs: missed_pongs.clone(),
        };
        let writer = tokio::spawn(writer.run(sink, rx).in_current_span());
        let mut session = Session {
            rate: RateLimit::new(
                state.limits.rate_per_second,
                state.limits.rate_burst,
                state.limits.rate_grace,
            ),
            state: state.clone(),
            conn: conn.clone(),
            identity,
            bad_streak: 0,
            missed_pongs,
        };
        session.read_loop(stream).await;
        state.hub.disconnect(&conn).await;
        let _ = writer.await;
        tracing::debug!(code = ?conn.closer.code(), "disconnected");
    }
    .instrument(span)
}

/// Waits for `hello`; answers `welcome`, or `unauthorized` and close 4001.
async fn hello(state: &AppState, socket: &mut WebSocket) -> Option<Identity> {
    let first = tokio::time::timeout(state.limits.hello_timeout, socket.recv()).await;
    let (r#ref, result) = match first {
        Err(_) => {
            close_with(socket, close::UNAUTHORIZED).await;
            return None;
        }
        Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(Message::Text(t)))) => match parse_frame(t.as_str()) {
            Ok(Frame {
                r#ref,
                request: Request::Hello { token },
            }) => (r#ref, state.verifier.verify(&token).map_err(ApiError::from)),
            Ok(Frame { r#ref, .. }) => (r#ref, Err(ApiError::unauthorized("say hello first"))),
            Err(e) => (e.r#ref, Err(ApiError::unauthorized("say hello first"))),
        },
        Ok(Some(Ok(Message::Close(_)))) => return None,
        Ok(Some(Ok(_))) => (None, Err(ApiError::unauthorized("say hello first"))),
    };
    metrics::counter!("yui_frames_in_total", "type" => "hello").increment(1);
    let identity = match result {
        Ok(identity) => identity,
        Err(e) => return refuse(socket, r#ref, e, close::UNAUTHORIZED).await,
    };
    let rooms = async {
        state.remember(&identity).await?;
        Ok::<_, ApiError>(
            state
                .store
                .rooms_for(&identity.user.id, &identity.town)
                .await?,
        )
    }
    .await;
    let rooms = match rooms {
        Ok(rooms) => rooms,
        Err(e) => return refuse(socket, r#ref, e, close::GOING_AWAY).await,
    };
    let welcome = ServerFrame::Welcome {
        r#ref,
        user: WelcomeUser {
            id: identity.user.id.clone(),
            name: identity.user.name.clone(),
            profession: identity.user.profession,
            org: identity.user.org.clone(),
            town: identity.town.clone(),
            role: identity.role,
        },
        node: state.node.clone(),
        heartbeat: state.limits.heartbeat.as_secs(),
        rooms,
    };
    socket.send(Message::Text(text(&welcome))).await.ok()?;
    Some(identity)
}

/// Answers the handshake with an error, then closes with `code`.
async fn refuse(
    socket: &mut WebSocket,
    r#ref: Option<Ref>,
    e: ApiError,
    code: u16,
) -> Option<Identity> {
    e.log();
    let frame = ServerFrame::error(r#ref, e.code(), e.to_string());
    let _ = socket.send(Message::Text(text(&frame))).await;
    close_with(socket, code).await;
    None
}

async fn close_with(socket: &mut WebSocket, code: u16) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(""),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        socket.send(Message::Close(Some(frame))),
    )
    .await;
}

struct Session {
    state: AppState,
    conn: ConnHandle,
    identity: Identity,
    rate: RateLimit,
    bad_streak: u32,
    missed_pongs: Arc<AtomicU32>,
}

impl Session {
    fn expiry(&self) -> tokio::time::Instant {
        let left = self.identity.exp + self.state.verifier.leeway() as i64 - crate::auth::now();
        tokio::time::Instant::now() + Duration::from_secs(left.max(0) as u64)
    }

    async fn read_loop(&mut self, mut stream: futures::stream::SplitStream<WebSocket>) {
        let shutdown = self.state.shutdown.clone();
        let conn = self.conn.clone();
        let closer = &conn.closer;
        loop {
            let expiry = self.expiry();
            tokio::select! {
                biased;
                _ = closer.closed() => return,
                _ = shutdown.cancelled() => {
                    closer.close(close::GOING_AWAY);
                    return;
                }
                _ = tokio::time::sleep_until(expiry) => {
                    closer.close(close::UNAUTHORIZED);
                    return;
                }
                msg = stream.next() => match msg {
                    None => return,
                    Some(Err(e)) => {
                        let e = e.to_string();
                        if e.contains("too long") || e.contains("Space limit") {
                            closer.close(close::TOO_BIG);
                        } else {
                            closer.close(close::GOING_AWAY);
                        }
                        return;
                    }
                    Some(Ok(Message::Close(_))) => {
                        closer.close(1000);
                        return;
                    }
                    Some(Ok(Message::Pong(_))) => self.missed_pongs.store(0, Ordering::Release),
                    Some(Ok(Message::Ping(_))) => {}
                    Some(Ok(Message::Text(t))) => {
                        if !self.admit().await {
                            continue;
                        }
                        match parse_frame(t.as_str()) {
                            // Boxed: the largest state (a commit, a history page) lives only while
                            // a frame is handled, not in every idle connection's task.
                            Ok(frame) => Box::pin(self.handle(frame)).await,
                            Err(e) => Box::pin(self.reply_error(e.r#ref, ApiError::from(e.invalid))).await,
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if self.admit().await {
                            Box::pin(self.reply_error(None, ApiError::bad_request("binary frames are not accepted; send JSON text"))).await;
                        }
                    }
                },
            }
        }
    }

    /// Rate limit: false when the frame is dropped.
    async fn admit(&mut self) -> bool {
        match self.rate.check(Instant::now()) {
            Verdict::Allow => true,
            Verdict::Reject => {
                let e = ApiError::new(ErrorCode::RateLimited, "too many frames; slow down");
                e.log();
                self.send(ServerFrame::error(None, e.code(), e.to_string()))
                    .await;
                false
            }
            Verdict::Close => {
                self.conn.closer.close(close::RATE);
                false
            }
        }
    }

    /// Serializes before the first await, so the waiting future holds one queue item, not a
    /// whole `ServerFrame` (this sits inside every idle connection's read loop).
    fn send(&self, frame: ServerFrame) -> impl Future<Output = ()> + '_ {
        crate::hub::count_out(frame.kind(), 1);
        let item = Outbound::text(text(&frame));
        async move {
            self.conn.send(item).await;
        }
    }

    async fn reply_error(&mut self, r#ref: Option<Ref>, e: ApiError) {
        e.log();
        let bad = e.code() == ErrorCode::BadRequest;
        self.send(ServerFrame::error(r#ref, e.code(), e.to_string()))
            .await;
        if bad {
            self.bad_streak += 1;
            if self.bad_streak >= self.state.limits.bad_frame_streak {
                self.conn.closer.close(close::POLICY);
            }
        } else {
            self.bad_streak = 0;
        }
    }

    async fn handle(&mut self, frame: Frame) {
        let kind = frame.request.kind();
        metrics::counter!("yui_frames_in_total", "type" => kind).increment(1);
        let r#ref = frame.r#ref;
        match self.answer(r#ref.clone(), frame.request).await {
            Ok(Some(reply)) => {
                self.bad_streak = 0;
                self.send(reply).await;
            }
            Ok(None) => self.bad_streak = 0,
            Err(e) => self.reply_error(r#ref, e).await,
        }
    }

    /// Does what a frame asks; the reply, if it is not sent through the write loop's own path.
    async fn answer(
        &mut self,
        r#ref: Option<Ref>,
        request: Request,
    ) -> Result<Option<ServerFrame>, ApiError> {
        let who = &self.identity;
        let state = &self.state;
        Ok(Some(match request {
            Request::Hello { .. } => {
                return Err(ApiError::bad_request(
                    "hello was already said on this connection",
                ))
            }
            Request::Refresh { token } => {
                let fresh = state.verifier.verify(&token)?;
                if fresh.user.id != who.user.id {
                    return Err(ApiError::forbidden(
                        "a refreshed token must be for the same user",
                    ));
                }
                state.remember(&fresh).await?;
                self.identity = fresh;
                ServerFrame::Ack {
                    r#ref,
                    room: None,
                    seq: None,
                    id: None,
                    at: None,
                }
            }
            Request::Ping => ServerFrame::Pong { r#ref },
            Request::Subscribe { room, since } => {
                state.readable(who, &room).await?;
                if !self.conn.add_sub(&room, state.limits.max_subscriptions) {
                    return Err(ApiError::bad_request(format!(
                        "at most {} subscriptions per connection",
                        state.limits.max_subscriptions
                    )));
                }
                // Register first, then queue the catch-up: it reads the store after this point.
                state.hub.subscribe(&room, &self.conn).await;
                self.conn
                    .send(Outbound::Subscribe(Box::new(SubscribeRequest {
                        room,
                        since,
                        r#ref,
                    })))
                    .await;
                return Ok(None);
            }
            Request::Unsubscribe { room } => {
                self.conn.remove_sub(&room);
                state.hub.unsubscribe(&room, self.conn.id).await;
                crate::hub::count_out("unsubscribed", 1);
                let t = text(&ServerFrame::Unsubscribed {
                    r#ref,
                    room: room.clone(),
                    reason: None,
                });
                self.conn
                    .send(Outbound::Unsubscribed(Box::new(Unsubscribed {
                        room,
                        text: t,
                    })))
                    .await;
                return Ok(None);
            }
            Request::Post {
                room,
                client_id,
                body,
                kind,
            } => {
                let (m, _) = state.post(who, &room, client_id, body, kind).await?;
                ServerFrame::Ack {
                    r#ref,
                    room: Some(room),
                    seq: Some(m.seq),
                    id: Some(m.id),
                    at: Some(m.at),
                }
            }
            Request::Read { room, seq } => {
                let seq = state.read(who, &room, seq).await?;
                ServerFrame::Ack {
                    r#ref,
                    room: Some(room),
                    seq: Some(seq),
                    id: None,
                    at: None,
                }
            }
            Request::History {
                room,
                before,
                limit,
            } => {
                let (messages, more) = state.history(who, &room, before, limit).await?;
                ServerFrame::History {
                    r#ref,
                    room,
                    messages,
                    more,
                }
            }
            Request::Receipts { room } => {
                let (audience, readers) = state.receipts(who, &room).await?;
                ServerFrame::Receipts {
                    r#ref,
                    room,
                    audience,
                    readers,
                }
            }
        }))
    }
}

//! A connection's read loop after `hello`: rate limit, parse, answer, count bad frames, and
//! close on expiry, drain or a broken socket.

use super::commands::{PendingRead, Reply};
use super::rate::{RateLimit, Verdict};
use crate::error::ApiError;
use crate::hub::conn::{count_out, text, ConnHandle, Outbound};
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket};
use futures::StreamExt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use yui_protocol::client::{parse_frame, Frame, Request};
use yui_protocol::ids::Ref;
use yui_protocol::limits::close;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;

pub struct Session {
    pub(super) state: AppState,
    pub(super) conn: ConnHandle,
    rate: RateLimit,
    bad_streak: u32,
    missed_pongs: Arc<AtomicU32>,
}

/// The close code for a socket that failed while reading: 1009 when the peer sent a frame
/// or message past the limit, 1007 for a text frame that is not UTF-8, else 1001.
pub(super) fn read_error_code(e: axum::Error) -> u16 {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => match *e {
            tungstenite::Error::Capacity(_) => close::TOO_BIG,
            tungstenite::Error::Utf8(_) => close::INVALID_DATA,
            _ => close::GOING_AWAY,
        },
        Err(_) => close::GOING_AWAY,
    }
}

impl Session {
    pub fn new(state: AppState, conn: ConnHandle, missed_pongs: Arc<AtomicU32>) -> Self {
        Session {
            rate: RateLimit::new(
                state.limits.rate_per_second,
                state.limits.rate_burst,
                state.limits.rate_grace,
            ),
            state,
            conn,
            bad_streak: 0,
            missed_pongs,
        }
    }

    /// When the connection's token expires (with the verifier's leeway), for `exp`.
    fn expiry(&self, exp: i64) -> tokio::time::Instant {
        let left = exp + self.state.verifier.leeway() as i64 - crate::auth::now();
        tokio::time::Instant::now() + Duration::from_secs(left.max(0) as u64)
    }

    pub async fn read_loop(&mut self, mut stream: futures::stream::SplitStream<WebSocket>) {
        let shutdown = self.state.shutdown.clone();
        let conn = self.conn.clone();
        let closer = &conn.closer;
        // Made once for the connection's life, not once per frame: each would otherwise
        // register (and drop) a waiter on the connection's and the node's cancellation tokens
        // and an entry in the runtime's timer wheel for every frame read. The expiry timer is
        // moved only when a `refresh` changed the token's expiry.
        let closed = closer.closed();
        let draining = shutdown.cancelled();
        let mut exp = self.conn.identity().exp;
        let expired = tokio::time::sleep_until(self.expiry(exp));
        tokio::pin!(closed, draining, expired);
        // At most one `read` in flight beside the frames that follow it (a second one waits
        // for the first): the connection's next `post` is not held behind a read's commit,
        // which waits for a post (`committer`). Its reply may follow replies to later frames;
        // clients match replies by `ref`.
        let mut pending: Option<PendingRead> = None;
        loop {
            let now_exp = self.conn.identity().exp;
            if now_exp != exp {
                exp = now_exp;
                expired.as_mut().reset(self.expiry(exp));
            }
            tokio::select! {
                biased;
                _ = &mut closed => return,
                // A read taken before the drain or the expiry is answered first, as a frame
                // being handled then is: its ack goes out ahead of the close.
                _ = &mut draining => {
                    self.settle(pending.take()).await;
                    closer.close(close::GOING_AWAY);
                    return;
                }
                _ = &mut expired => {
                    self.settle(pending.take()).await;
                    closer.close(close::UNAUTHORIZED);
                    return;
                }
                // Before the next frame: a read just begun runs until it first waits (on its
                // commit once its room's access is cached), so its write is usually queued
                // ahead of a post that follows it and commits with that post.
                (r#ref, reply) = async {
                    match pending.as_mut() {
                        Some(read) => read.await,
                        None => std::future::pending().await,
                    }
                }, if pending.is_some() => {
                    pending = None;
                    Box::pin(self.finish(r#ref, reply)).await;
                }
                msg = stream.next() => match msg {
                    None => return,
                    Some(Err(e)) => {
                        closer.close(read_error_code(e));
                        return;
                    }
                    Some(Ok(Message::Close(_))) => {
                        closer.close(1000);
                        return;
                    }
                    Some(Ok(Message::Pong(_))) => self.missed_pongs.store(0, Ordering::Release),
                    Some(Ok(Message::Ping(_))) => {}
                    Some(Ok(Message::Text(t))) => {
                        if !self.admit(Some(t.as_str())).await {
                            continue;
                        }
                        match parse_frame(t.as_str()) {
                            // Boxed: the largest state (a commit, a history page) lives only while
                            // a frame is handled, not in every idle connection's task.
                            Ok(Frame { r#ref, request: Request::Read { room, seq } }) => {
                                self.settle(pending.take()).await;
                                metrics::counter!("yui_frames_in_total", "type" => "read").increment(1);
                                pending = Some(self.read_beside(r#ref, room, seq));
                            }
                            Ok(frame) => Box::pin(self.handle(frame)).await,
                            Err(e) => Box::pin(self.reply_error(e.r#ref, ApiError::from(e.invalid))).await,
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if self.admit(None).await {
                            Box::pin(self.reply_error(None, ApiError::bad_request("binary frames are not accepted; send JSON text"))).await;
                        }
                    }
                },
            }
        }
    }

    /// Rate limit: false when the frame (`text`, for a text frame) is dropped. A refused frame
    /// that is a JSON object with a valid string `ref` gets its `ref` back (PROTOCOL.md 5.1).
    async fn admit(&mut self, text: Option<&str>) -> bool {
        match self.rate.check(Instant::now()) {
            Verdict::Allow => true,
            Verdict::Reject => {
                let e = ApiError::new(ErrorCode::RateLimited, "too many frames; slow down");
                e.log();
                let r#ref = text.and_then(|t| match parse_frame(t) {
                    Ok(frame) => frame.r#ref,
                    Err(e) => e.r#ref,
                });
                self.send(ServerFrame::error(r#ref, e.code(), e.to_string()))
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
        count_out(frame.kind(), 1);
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
        let reply = self.answer(r#ref.clone(), frame.request).await;
        self.finish(r#ref, reply).await;
    }

    /// Waits for the read in flight, if any, and sends its reply.
    async fn settle(&mut self, pending: Option<PendingRead>) {
        if let Some(read) = pending {
            let (r#ref, reply) = read.await;
            Box::pin(self.finish(r#ref, reply)).await;
        }
    }

    /// Sends a frame's reply, or its error (counted towards the bad-frame streak).
    async fn finish(&mut self, r#ref: Option<Ref>, reply: Reply) {
        match reply {
            Ok(Some(reply)) => {
                self.bad_streak = 0;
                self.send(reply).await;
            }
            Ok(None) => self.bad_streak = 0,
            Err(e) => self.reply_error(r#ref, e).await,
        }
    }
}

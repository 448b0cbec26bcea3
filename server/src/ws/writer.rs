//! A connection's write loop: drains its bounded outbound queue into the socket, joins catch-up
//! and live events per room without gap or duplicate, and sends heartbeats.
//!
//! Per subscribed room it keeps the last seq sent. A live message at or below it is dropped
//! (catch-up sent it already); one past a gap is preceded by the missing messages from the
//! store. So the join of catch-up and live is exact, whatever order events arrive in.

use crate::hub::{text, FILL_PAGE};
use crate::state::AppState;
use crate::store::{AuditRecord, Write};
use crate::ws::outbound::{ConnHandle, Outbound, SubscribeRequest};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::ids::{Ref, RoomId};
use yui_protocol::limits::close;
use yui_protocol::model::{AuditAction, RoomKind, UserName};
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;

/// Items written before a flush when the queue has more ready.
const BATCH: usize = 64;

type Sink = SplitSink<WebSocket, Message>;

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("socket closed")]
    Socket,
    #[error("store failed during catch-up: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub struct Writer {
    pub state: AppState,
    pub conn: ConnHandle,
    pub reader: UserName,
    /// Pings sent without a pong since; the read loop resets it.
    pub missed_pongs: Arc<AtomicU32>,
}

impl Writer {
    pub async fn run(self, mut sink: Sink, mut rx: mpsc::Receiver<Outbound>) {
        let mut rooms: HashMap<RoomId, u64> = HashMap::new();
        let mut heartbeat = tokio::time::interval(self.state.limits.heartbeat);
        heartbeat.tick().await;
        let outcome: Result<(), WriteError> = async {
            loop {
                tokio::select! {
                    biased;
                    _ = self.conn.closer.closed() => {
                        // Replies already queued (the error that explains the close) go first;
                        // a connection closed for being too slow gets no more.
                        if self.conn.closer.code() != Some(close::TOO_SLOW) {
                            while let Ok(item) = rx.try_recv() {
                                self.handle(&mut sink, &mut rooms, item).await?;
                            }
                            sink.flush().await.map_err(|_| WriteError::Socket)?;
                        }
                        return Ok(());
                    }
                    item = rx.recv() => {
                        let Some(item) = item else { return Ok(()) };
                        self.handle(&mut sink, &mut rooms, item).await?;
                        // Write what else is ready, then flush once.
                        let mut n = 1;
                        while n < BATCH {
                            let Ok(item) = rx.try_recv() else { break };
                            self.handle(&mut sink, &mut rooms, item).await?;
                            n += 1;
                        }
                        sink.flush().await.map_err(|_| WriteError::Socket)?;
                    }
                    _ = heartbeat.tick() => {
                        if self.missed_pongs.fetch_add(1, Ordering::AcqRel) >= 2 {
                            tracing::debug!("two heartbeats unanswered; closing");
                            return Err(WriteError::Socket);
                        }
                        sink.send(Message::Ping(Default::default())).await.map_err(|_| WriteError::Socket)?;
                    }
                }
            }
        }
        .await;
        let code = match outcome {
            Ok(()) => self.conn.closer.code(),
            Err(WriteError::Socket) => None,
            Err(e @ WriteError::Store(_)) => {
                tracing::warn!(error = %e, "closing so the client resumes elsewhere or later");
                Some(close::GOING_AWAY)
            }
        };
        self.conn.closer.close(code.unwrap_or(close::GOING_AWAY));
        if let Some(code) = code {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason(code)),
            };
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                sink.send(Message::Close(Some(frame))),
            )
            .await;
        }
        let _ = sink.close().await;
    }

    async fn handle(
        &self,
        sink: &mut Sink,
        rooms: &mut HashMap<RoomId, u64>,
        item: Outbound,
    ) -> Result<(), WriteError> {
        match item {
            Outbound::Text(t) => feed(sink, *t).await,
            Outbound::Room(event) => {
                let Some(sent) = rooms.get(&event.room).copied() else {
                    return Ok(());
                };
                match event.seq {
                    None => feed(sink, event.text.clone()).await,
                    Some(seq) if seq <= sent => Ok(()),
                    Some(seq) => {
                        if seq > sent + 1 {
                            let last =
                                Box::pin(self.fill(sink, &event.room, sent, seq - 1)).await?;
                            if last + 1 != seq {
                                // The store does not have what the event says was committed:
                                // never deliver past a gap; the client resumes instead.
                                rooms.insert(event.room.clone(), last);
                                return Err(crate::store::StoreError::Corrupt(format!(
                                    "room {}: seq {seq} announced, store ends at {last}",
                                    event.room
                                ))
                                .into());
                            }
                        }
                        feed(sink, event.text.clone()).await?;
                        rooms.insert(event.room.clone(), seq);
                        Ok(())
                    }
                }
            }
            // Boxed, like the gap fill above: rare paths that hold store queries do not enlarge
            // every connection's write loop.
            Outbound::Subscribe(req) => {
                let SubscribeRequest { room, since, r#ref } = *req;
                Box::pin(self.subscribe(sink, rooms, room, since, r#ref)).await
            }
            Outbound::Unsubscribed(u) => {
                rooms.remove(&u.room);
                feed(sink, u.text).await
            }
        }
    }

    /// Replies `subscribed`, streams every message after `since`, then the room is live.
    async fn subscribe(
        &self,
        sink: &mut Sink,
        rooms: &mut HashMap<RoomId, u64>,
        room: RoomId,
        since: Option<u64>,
        r#ref: Option<Ref>,
    ) -> Result<(), WriteError> {
        let snapshot = async {
            // One query for the room's last seq and the reader's position: a reconnect storm
            // runs this once per room of every client.
            let Some(info) = self
                .state
                .store
                .room_summary(&room, &self.reader.id)
                .await?
            else {
                return Ok(None);
            };
            let members = match info.kind {
                RoomKind::Team => Some(self.state.store.members(&room).await?),
                RoomKind::Town => None,
            };
            if since.is_some_and(|s| s < info.last_seq) {
                let record = AuditRecord {
                    actor: self.reader.clone(),
                    action: AuditAction::ReadHistory,
                    room: room.clone(),
                    target: None,
                };
                self.state
                    .committer
                    .commit(Write::Audit(record), None)
                    .await?;
            }
            Ok::<_, crate::error::ApiError>(Some((info.last_seq, info.read_seq, members)))
        }
        .await;
        let (last_seq, read_seq, members) = match snapshot {
            Ok(Some(s)) => s,
            Ok(None) | Err(_) => {
                let (code, message) = match snapshot {
                    Ok(None) => (ErrorCode::NotFound, "no such room".to_string()),
                    Err(e) => {
                        tracing::warn!(error = %e, "subscribe failed");
                        (
                            ErrorCode::Unavailable,
                            "temporarily unavailable, retry later".to_string(),
                        )
                    }
                    Ok(Some(_)) => (ErrorCode::Internal, String::new()),
                };
                self.conn.remove_sub(&room);
                self.state.hub.unsubscribe(&room, self.conn.id).await;
                rooms.remove(&room);
                return feed(sink, text(&ServerFrame::error(r#ref, code, message))).await;
            }
        };
        let start = since.map_or(last_seq, |s| s.min(last_seq));
        crate::hub::count_out("subscribed", 1);
        feed(
            sink,
            text(&ServerFrame::Subscribed {
                r#ref,
                room: room.clone(),
                last_seq,
                read_seq,
                members,
            }),
        )
        .await?;
        let sent = self.fill(sink, &room, start, last_seq).await?;
        rooms.insert(room, sent);
        Ok(())
    }

    /// Sends messages `(after, upto]` from the store in pages; returns the last seq sent.
    async fn fill(
        &self,
        sink: &mut Sink,
        room: &RoomId,
        mut after: u64,
        upto: u64,
    ) -> Result<u64, WriteError> {
        while after < upto {
            let want = (upto - after).min(u64::from(FILL_PAGE)) as u32;
            let page = self.state.store.messages_after(room, after, want).await?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            crate::hub::count_out("message", page.len() as u64);
            for m in page {
                feed(sink, text(&ServerFrame::Message(m))).await?;
            }
            // The socket drains a page before the next is read: back-pressure on catch-up.
            sink.flush().await.map_err(|_| WriteError::Socket)?;
            after = last;
        }
        Ok(after)
    }
}

async fn feed(sink: &mut Sink, t: Utf8Bytes) -> Result<(), WriteError> {
    sink.feed(Message::Text(t))
        .await
        .map_err(|_| WriteError::Socket)
}

fn reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "node draining: reconnect and resume",
        close::POLICY => "too many bad frames",
        close::TOO_BIG => "frame too large",
        close::UNAUTHORIZED => "unauthorized",
        close::RATE => "rate limit",
        close::TOO_SLOW => "too slow: resume with since",
        _ => "",
    }
}

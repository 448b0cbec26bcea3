//! A connection's write loop: drains its bounded outbound queue into the socket, joins catch-up
//! and live events per room without gap or duplicate, and sends heartbeats.
//!
//! Per subscribed room it keeps a [`Cursor`] (the hub's one seq logic). A live message at or
//! below it is dropped (catch-up sent it already); one past a gap is preceded by the missing
//! messages. So the join of catch-up and live is exact, whatever order events arrive in. What
//! a subscription starts from, and every page, comes from the room service. Generic over the
//! sink, so it runs on a WebSocket or, in tests, on a channel.

use crate::error::ApiError;
use crate::hub::conn::{text, ConnHandle, Outbound};
use crate::hub::cursor::{Cursor, Gap, Step};
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::ids::RoomId;
use yui_protocol::limits::close;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;

/// Items written before a flush when the queue has more ready.
const BATCH: usize = 64;

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("socket closed")]
    Socket,
    #[error("store failed during catch-up: {0}")]
    Store(#[from] ApiError),
    #[error("room {room}: seq {seq} announced, store ends at {last}")]
    Gap { room: RoomId, seq: u64, last: u64 },
}

pub struct Writer {
    pub state: AppState,
    pub conn: ConnHandle,
    /// Pings sent without a pong since; the read loop resets it.
    pub missed_pongs: Arc<AtomicU32>,
}

type Rooms = HashMap<RoomId, Cursor>;

impl Writer {
    pub async fn run<S>(self, mut sink: S, mut rx: mpsc::Receiver<Outbound>)
    where
        S: Sink<Message> + Unpin,
    {
        let mut rooms = Rooms::new();
        let mut heartbeat = tokio::time::interval(self.state.limits.heartbeat);
        heartbeat.tick().await;
        let outcome: Result<(), WriteError> = async {
            // One waiter on the closer for the connection's life, not one per wake-up.
            let closed = self.conn.closer.closed();
            tokio::pin!(closed);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut closed => {
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
            Err(e) => {
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

    async fn handle<S>(
        &self,
        sink: &mut S,
        rooms: &mut Rooms,
        item: Outbound,
    ) -> Result<(), WriteError>
    where
        S: Sink<Message> + Unpin,
    {
        match item {
            Outbound::Text(t) => feed(sink, *t).await,
            Outbound::Room(event) => {
                let Some(cursor) = rooms.get(&event.room).copied() else {
                    return Ok(());
                };
                let Some(seq) = event.seq else {
                    return feed(sink, event.text.clone()).await;
                };
                match cursor.step(seq) {
                    Step::Repeat => return Ok(()),
                    Step::Next => {}
                    Step::Gap { after, upto } => {
                        // Boxed, like a subscription's start below: rare paths that hold store
                        // queries do not enlarge every connection's write loop.
                        let last = Box::pin(self.fill(sink, &event.room, after, upto)).await?;
                        if last + 1 != seq {
                            // The store does not have what the event says was committed:
                            // never deliver past a gap; the client resumes instead.
                            rooms.insert(event.room.clone(), Cursor::at(last));
                            return Err(WriteError::Gap {
                                room: event.room.clone(),
                                seq,
                                last,
                            });
                        }
                    }
                }
                feed(sink, event.text.clone()).await?;
                // In place: no copy of the room id per delivered message.
                if let Some(c) = rooms.get_mut(&event.room) {
                    *c = Cursor::at(seq);
                }
                Ok(())
            }
            Outbound::Subscribe(req) => {
                Box::pin(self.subscribe(sink, rooms, &req.room, &req)).await
            }
            Outbound::Unsubscribed(u) => {
                rooms.remove(&u.room);
                feed(sink, u.text).await
            }
        }
    }

    /// Replies `subscribed` (or the error), streams every message after `since`, then the room
    /// is live.
    async fn subscribe<S>(
        &self,
        sink: &mut S,
        rooms: &mut Rooms,
        room: &RoomId,
        req: &crate::hub::conn::SubscribeRequest,
    ) -> Result<(), WriteError>
    where
        S: Sink<Message> + Unpin,
    {
        let snapshot = match self.state.service.snapshot(&self.conn, req).await {
            Ok(s) => s,
            Err(e) => {
                rooms.remove(room);
                let (code, message) = match &e {
                    ApiError::Client { code, message } => (*code, message.clone()),
                    other => {
                        tracing::warn!(error = %other, "subscribe failed");
                        (
                            ErrorCode::Unavailable,
                            "temporarily unavailable, retry later".to_string(),
                        )
                    }
                };
                let frame = ServerFrame::error(req.r#ref.clone(), code, message);
                return feed(sink, text(&frame)).await;
            }
        };
        feed(sink, snapshot.text).await?;
        let sent = self
            .fill(sink, room, snapshot.start, snapshot.last_seq)
            .await?;
        rooms.insert(room.clone(), Cursor::at(sent));
        Ok(())
    }

    /// Sends messages `(after, upto]` in pages; returns the last seq sent.
    async fn fill<S>(
        &self,
        sink: &mut S,
        room: &RoomId,
        after: u64,
        upto: u64,
    ) -> Result<u64, WriteError>
    where
        S: Sink<Message> + Unpin,
    {
        let mut gap = Gap::new(room, after, upto);
        while let Some(page) = self.state.service.next_page(&mut gap).await? {
            crate::hub::conn::count_out("message", page.len() as u64);
            for m in page {
                feed(sink, text(&ServerFrame::Message(m))).await?;
            }
            // The socket drains a page before the next is read: back-pressure on catch-up.
            sink.flush().await.map_err(|_| WriteError::Socket)?;
        }
        Ok(gap.reached())
    }
}

async fn feed<S>(sink: &mut S, t: Utf8Bytes) -> Result<(), WriteError>
where
    S: Sink<Message> + Unpin,
{
    sink.feed(Message::Text(t))
        .await
        .map_err(|_| WriteError::Socket)
}

fn reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "node draining: reconnect and resume",
        close::POLICY => "too many bad frames",
        close::TOO_BIG => "frame too large",
        close::INVALID_DATA => "text frame is not UTF-8",
        close::UNAUTHORIZED => "unauthorized",
        close::RATE => "rate limit",
        close::TOO_SLOW => "too slow: resume with since",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeArgs;
    use crate::hub::conn::RoomEvent;
    use futures::StreamExt;
    use yui_protocol::claims::Identity;
    use yui_protocol::http::PutRoomRequest;
    use yui_protocol::ids::{Body, ClientId, Name, Title, TownId, UserId};
    use yui_protocol::model::{Profession, RoomKind, UserRef, UserRole};

    fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A real hub's state (SQLite in a temp dir), and the write loop on a channel sink: what
    /// a subscription with `since` gets is `subscribed`, every message after it once, in order,
    /// then live ones, whatever repeats the queue carries.
    #[tokio::test]
    async fn catch_up_and_live_join_without_gap_or_duplicate() {
        let dir = ok(tempfile::tempdir());
        let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
        let mut args = ServeArgs::new(ok(listener.local_addr()));
        args.jwt.jwt_secret = Some("writer-test-secret-of-enough-length".into());
        args.store.data_dir = dir.path().to_path_buf();
        let (state, tasks) = ok(crate::app::build(&args, &listener).await);
        let who = Identity {
            user: UserRef {
                id: ok(UserId::parse("coord")),
                name: ok(Name::parse("山田")),
                profession: Profession::Municipal,
                org: ok(Name::parse("役場")),
            },
            town: ok(TownId::parse("misaki")),
            role: UserRole::Coordinator,
            exp: i64::MAX / 2,
            email: None,
        };
        let room = ok(RoomId::parse("board"));
        ok(state.service.remember(&who).await);
        let req = PutRoomRequest {
            kind: RoomKind::Town,
            title: ok(Title::parse("お知らせ")),
            town: who.town.clone(),
            resident: None,
        };
        ok(state.service.put_room(&who, &room, req).await);
        let post = |n: u32| {
            let (state, who, room) = (state.clone(), who.clone(), room.clone());
            async move {
                let id = ok(ClientId::parse(format!("c{n}")));
                let body = ok(Body::parse(format!("notice {n}")));
                let post = yui_protocol::post::NewPost::note(id, body);
                ok(state.service.post(&who, &room, post).await).0
            }
        };
        let mut sent = Vec::new();
        for n in 1..=3 {
            sent.push(post(n).await);
        }

        let (tx, rx) = mpsc::channel(64);
        let conn = state.service.connect(1, who.clone(), tx);
        let (sink, mut socket) = futures::channel::mpsc::channel::<Message>(256);
        let writer = Writer {
            state: state.clone(),
            conn: conn.clone(),
            missed_pongs: Arc::default(),
        };
        let task = tokio::spawn(writer.run(sink, rx));
        ok(state
            .service
            .subscribe(&conn, &who, room.clone(), Some(1), None, 10)
            .await);
        // A repeat of seq 2 arriving live after the subscription's start: dropped.
        let repeat = ServerFrame::Message(sent[1].clone());
        conn.push_live(Outbound::Room(Arc::new(RoomEvent {
            room: room.clone(),
            seq: Some(2),
            text: text(&repeat),
        })));
        post(4).await;

        let mut kinds = Vec::new();
        while kinds.last() != Some(&"message 4".to_string()) {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next());
            let Ok(Some(Message::Text(t))) = next.await else {
                panic!("the write loop stopped; got {kinds:?}");
            };
            let v: serde_json::Value = ok(serde_json::from_str(t.as_str()));
            kinds.push(match v["type"].as_str() {
                Some("message") => format!("message {}", v["seq"]),
                other => other.unwrap_or("?").to_string(),
            });
        }
        assert_eq!(
            kinds,
            ["subscribed", "message 2", "message 3", "message 4"],
            "catch-up after since=1, the repeat dropped, then live"
        );
        conn.closer.close(1000);
        let _ = task.await;
        for t in tasks {
            t.abort();
        }
    }
}

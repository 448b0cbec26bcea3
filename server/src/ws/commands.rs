//! One small function per frame type: each asks the room service and builds the reply.
//! `subscribe` and `unsubscribe` reply through the write loop (so the reply is in order with
//! the room's events), hence no reply here.

use super::session::Session;
use crate::error::ApiError;
use yui_protocol::client::Request;
use yui_protocol::ids::{Ref, RoomId};
use yui_protocol::post::NewPost;
use yui_protocol::server::ServerFrame;

pub(super) type Reply = Result<Option<ServerFrame>, ApiError>;

/// A `read` being answered beside the read loop (see [`Session::read_beside`]): its `ref` and
/// its reply.
pub(super) type PendingRead =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Option<Ref>, Reply)> + Send>>;

impl Session {
    /// Does what a frame asks; the reply, if it is not sent through the write loop's own path.
    pub(super) async fn answer(&mut self, r#ref: Option<Ref>, request: Request) -> Reply {
        match request {
            Request::Hello { .. } => Err(ApiError::bad_request(
                "hello was already said on this connection",
            )),
            Request::Refresh { token } => self.refresh(r#ref, &token).await,
            Request::Ping => Ok(Some(ServerFrame::Pong { r#ref })),
            Request::Subscribe { room, since } => self.subscribe(r#ref, room, since).await,
            Request::Unsubscribe { room } => {
                self.state
                    .service
                    .unsubscribe(&self.conn, room, r#ref)
                    .await;
                Ok(None)
            }
            Request::Post { room, post } => self.post(r#ref, room, post).await,
            Request::Read { room, seq } => self.read(r#ref, room, seq).await,
            Request::History {
                room,
                before,
                limit,
            } => self.history(r#ref, room, before, limit).await,
            Request::Receipts { room, seq } => self.receipts(r#ref, room, seq).await,
            Request::Confirm { room, seq } => self.confirm(r#ref, room, seq).await,
            Request::Confirms { room, seq } => self.confirms(r#ref, room, seq).await,
        }
    }

    async fn refresh(&mut self, r#ref: Option<Ref>, token: &str) -> Reply {
        let fresh = self.state.verifier.verify(token)?;
        self.state.service.refresh(&self.conn, fresh).await?;
        Ok(Some(ServerFrame::Ack {
            r#ref,
            room: None,
            seq: None,
            id: None,
            at: None,
        }))
    }

    async fn subscribe(&mut self, r#ref: Option<Ref>, room: RoomId, since: Option<u64>) -> Reply {
        let who = self.conn.identity();
        let max = self.state.limits.max_subscriptions;
        self.state
            .service
            .subscribe(&self.conn, &who, room, since, r#ref, max)
            .await?;
        Ok(None)
    }

    async fn post(&mut self, r#ref: Option<Ref>, room: RoomId, post: NewPost) -> Reply {
        let who = self.conn.identity();
        let (m, _) = self.state.service.post(&who, &room, post).await?;
        Ok(Some(ServerFrame::Ack {
            r#ref,
            room: Some(room),
            seq: Some(m.seq),
            id: Some(m.id),
            at: Some(m.at),
        }))
    }

    async fn read(&mut self, r#ref: Option<Ref>, room: RoomId, seq: u64) -> Reply {
        self.read_beside(r#ref, room, seq).await.1
    }

    /// A `read`'s answer as a future that owns what it needs, so the read loop can go on with
    /// the connection's next frames while the read waits for its commit: a group commit of
    /// reads only waits for the next post (`committer`), which may be this connection's own.
    pub(super) fn read_beside(&self, r#ref: Option<Ref>, room: RoomId, seq: u64) -> PendingRead {
        let state = self.state.clone();
        let who = self.conn.identity();
        Box::pin(async move {
            let reply = match state.service.read(&who, &room, seq).await {
                Ok(seq) => Ok(Some(seq_ack(r#ref.clone(), room, seq))),
                Err(e) => Err(e),
            };
            (r#ref, reply)
        })
    }

    async fn history(
        &mut self,
        r#ref: Option<Ref>,
        room: RoomId,
        before: Option<u64>,
        limit: u32,
    ) -> Reply {
        let who = self.conn.identity();
        let (messages, more) = self
            .state
            .service
            .history(&who, &room, before, limit)
            .await?;
        Ok(Some(ServerFrame::History {
            r#ref,
            room,
            messages,
            more,
        }))
    }

    async fn receipts(&mut self, r#ref: Option<Ref>, room: RoomId, seq: Option<u64>) -> Reply {
        let who = self.conn.identity();
        let r = self.state.service.receipts(&who, &room, seq).await?;
        Ok(Some(ServerFrame::Receipts {
            r#ref,
            room,
            audience: r.audience,
            readers: r.readers,
            pending: r.pending,
        }))
    }

    async fn confirm(&mut self, r#ref: Option<Ref>, room: RoomId, seq: u64) -> Reply {
        let who = self.conn.identity();
        let seq = self.state.service.confirm(&who, &room, seq).await?;
        Ok(Some(seq_ack(r#ref, room, seq)))
    }

    async fn confirms(&mut self, r#ref: Option<Ref>, room: RoomId, seq: u64) -> Reply {
        let who = self.conn.identity();
        let users = self.state.service.confirms(&who, &room, seq).await?;
        Ok(Some(ServerFrame::Confirms {
            r#ref,
            room,
            seq,
            users,
        }))
    }
}

/// The ack of a `read` or a `confirm`: the room and the position it now stands at.
fn seq_ack(r#ref: Option<Ref>, room: RoomId, seq: u64) -> ServerFrame {
    ServerFrame::Ack {
        r#ref,
        room: Some(room),
        seq: Some(seq),
        id: None,
        at: None,
    }
}

//! Subscriptions. `subscribe` checks the room, registers the live subscription with the hub,
//! then queues [`Outbound::Subscribe`]; when the connection's write loop reaches that item it
//! asks for the [`Snapshot`] (read after registration and after every live event queued
//! before it, so the join of catch-up and live has no gap), sends it, and streams catch-up
//! pages ([`RoomService::next_page`]).

use super::RoomService;
use crate::error::ApiError;
use crate::hub::conn::{count_out, text};
use crate::hub::conn::{ConnHandle, Outbound, SubscribeRequest, Unsubscribed};
use crate::hub::cursor::Gap;
use axum::extract::ws::Utf8Bytes;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{Ref, RoomId};
use yui_protocol::model::Message;
use yui_protocol::server::ServerFrame;

/// What a subscription starts from: the `subscribed` reply, and the catch-up to stream.
#[derive(Debug)]
pub struct Snapshot {
    /// The serialized `subscribed` frame.
    pub text: Utf8Bytes,
    /// Catch-up: messages `(start, last_seq]`.
    pub start: u64,
    pub last_seq: u64,
}

impl RoomService {
    /// Checks and registers a subscription, and queues its start on the connection.
    pub async fn subscribe(
        &self,
        conn: &ConnHandle,
        who: &Identity,
        room: RoomId,
        since: Option<u64>,
        r#ref: Option<Ref>,
        max_subscriptions: usize,
    ) -> Result<(), ApiError> {
        let access = self.readable(who, &room).await?;
        if !conn.add_sub(&room, max_subscriptions) {
            return Err(ApiError::bad_request(format!(
                "at most {max_subscriptions} subscriptions per connection"
            )));
        }
        // Register first, then queue the start: its snapshot reads the store after this point.
        self.hub
            .subscribe(&room, conn, access.info.members_version)
            .await;
        conn.send(Outbound::Subscribe(Box::new(SubscribeRequest {
            room,
            since,
            r#ref,
        })))
        .await;
        Ok(())
    }

    /// Ends a subscription; the `unsubscribed` reply goes through the write loop, which stops
    /// the room there.
    pub async fn unsubscribe(&self, conn: &ConnHandle, room: RoomId, r#ref: Option<Ref>) {
        conn.remove_sub(&room);
        self.hub.unsubscribe(&room, conn.id).await;
        count_out("unsubscribed", 1);
        let t = text(&ServerFrame::Unsubscribed {
            r#ref,
            room: room.clone(),
            reason: None,
        });
        conn.send(Outbound::Unsubscribed(Box::new(Unsubscribed {
            room,
            text: t,
        })))
        .await;
    }

    /// The room's last seq, the reader's position and (team rooms) its members; the access log
    /// gets a `read_history` when catch-up will send history. On failure the subscription is
    /// undone here and the error is the reply.
    pub async fn snapshot(
        &self,
        conn: &ConnHandle,
        req: &SubscribeRequest,
    ) -> Result<Snapshot, ApiError> {
        let result = self.read_snapshot(conn, req).await;
        if result.is_err() {
            conn.remove_sub(&req.room);
            self.hub.unsubscribe(&req.room, conn.id).await;
        }
        result
    }

    async fn read_snapshot(
        &self,
        conn: &ConnHandle,
        req: &SubscribeRequest,
    ) -> Result<Snapshot, ApiError> {
        let who = conn.identity();
        // One query for the room's last seq, the reader's position and the members: a
        // reconnect storm runs this once per room of every client.
        let Some(info) = self
            .store
            .subscription_start(&req.room, &who.user.id)
            .await?
        else {
            return Err(ApiError::room_not_found());
        };
        // The members are read with the room's last seq, in one snapshot: a user removed
        // before it (whatever the cache said at `subscribe`) gets no catch-up of what came
        // after.
        let members = match info.members {
            Some(mut members) => {
                super::sort_members(&mut members);
                if !members.iter().any(|m| m.id == who.user.id) {
                    return Err(ApiError::room_not_found());
                }
                Some(members)
            }
            None => None,
        };
        if req.since.is_some_and(|s| s < info.last_seq) {
            self.audit_history(&who, &req.room).await?;
        }
        count_out("subscribed", 1);
        let frame = ServerFrame::Subscribed {
            r#ref: req.r#ref.clone(),
            room: req.room.clone(),
            last_seq: info.last_seq,
            read_seq: info.read_seq,
            members,
        };
        Ok(Snapshot {
            text: text(&frame),
            start: req.since.map_or(info.last_seq, |s| s.min(info.last_seq)),
            last_seq: info.last_seq,
        })
    }

    /// The next page of a catch-up or gap fill.
    pub async fn next_page(&self, gap: &mut Gap) -> Result<Option<Vec<Message>>, ApiError> {
        Ok(gap.next_page(self.store.as_ref()).await?)
    }
}

//! The dispatcher: turns committed events (from this node's producers and, through the bus,
//! from other nodes) into queued frames for local connections, in seq order, repairing gaps
//! from the store.

use super::conn::{ConnHandle, Outbound, Unsubscribed};
use super::cursor::{Gap, Step};
use super::{count_out, text, Hub};
use crate::access::RoomAccess;
use crate::bus::BusEvent;
use crate::store::StoreResult;
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::{Message, RoomKind};
use yui_protocol::server::ServerFrame;

/// How many times delivery re-checks a room's membership for one event before giving up on it
/// (each time, a subscriber checked against an older version came in meanwhile).
const RECHECKS: usize = 4;

impl Hub {
    /// Drains the event inbox until every sender is gone.
    pub async fn run_dispatcher(self: Arc<Self>, mut rx: mpsc::Receiver<BusEvent>) {
        while let Some(event) = rx.recv().await {
            if let Err(e) = self.dispatch(event).await {
                tracing::warn!(error = %e, "dispatch needed the store and failed; next event or resync repairs");
            }
        }
    }

    async fn dispatch(&self, event: BusEvent) -> StoreResult<()> {
        match event {
            BusEvent::Message {
                message,
                members_version,
            } => self.deliver_message(message, members_version).await,
            BusEvent::Receipt {
                room,
                user,
                seq,
                at,
            } => {
                let reader = user.id.clone();
                let frame = ServerFrame::Receipt {
                    room: room.clone(),
                    user,
                    seq,
                    at,
                };
                self.deliver_receipt(&room, &reader, &frame).await;
                Ok(())
            }
            BusEvent::Confirmed {
                room,
                user,
                seq,
                at,
            } => {
                let reader = user.id.clone();
                let frame = ServerFrame::Confirmed {
                    room: room.clone(),
                    seq,
                    user,
                    at,
                };
                self.deliver_receipt(&room, &reader, &frame).await;
                Ok(())
            }
            BusEvent::MemberAdded { room, user } => {
                self.access.invalidate(&room);
                let conns = self.registry.user_conns(&user);
                if conns.is_empty() {
                    return Ok(());
                }
                if let Some(summary) = self.store.room_summary(&room, &user).await? {
                    let t = text(&ServerFrame::RoomAdded { room: summary });
                    for c in &conns {
                        c.push_live(Outbound::text(t.clone()));
                    }
                    count_out("room_added", conns.len() as u64);
                }
                Ok(())
            }
            BusEvent::MemberRemoved { room, user } => {
                self.access.invalidate(&room);
                let conns = self.registry.user_conns(&user);
                self.end_removed(&room, conns).await;
                Ok(())
            }
            BusEvent::RoomChanged { room } => {
                self.access.invalidate(&room);
                Ok(())
            }
            BusEvent::RoomUpdated { room } => {
                self.access.invalidate(&room);
                self.room_updated(&room).await
            }
            BusEvent::Resync => self.resync().await,
        }
    }

    /// Sends `room_updated` (the room as each member now lists it) to the local connections of
    /// a team room's members. Town rooms' readers (the whole town) see a new title in their
    /// next room list.
    async fn room_updated(&self, room: &RoomId) -> StoreResult<()> {
        let Some(access) = self.access.get(room).await? else {
            return Ok(());
        };
        if access.info.kind != RoomKind::Team {
            return Ok(());
        }
        for user in access.members.keys() {
            let conns = self.registry.user_conns(user);
            if conns.is_empty() {
                continue;
            }
            if let Some(summary) = self.store.room_summary(room, user).await? {
                let t = text(&ServerFrame::RoomUpdated { room: summary });
                for c in &conns {
                    c.push_live(Outbound::text(t.clone()));
                }
                count_out("room_updated", conns.len() as u64);
            }
        }
        Ok(())
    }

    /// Delivers a receipt or a confirmation of `reader` to the room's subscribers. A town room's
    /// readers are the whole town: these go to those who post there (to see "read by N of M")
    /// and to the reader's own connections, not to thousands of readers each.
    async fn deliver_receipt(&self, room: &RoomId, reader: &UserId, frame: &ServerFrame) {
        let town = match self.access.get(room).await {
            Ok(Some(a)) if a.info.kind == RoomKind::Town => Some(a.info.town.clone()),
            _ => None,
        };
        let n = self.registry.fanout(room, None, text(frame), 0, |c| {
            town.as_ref()
                .is_none_or(|t| &c.user == reader || c.manages(t))
        });
        count_out(frame.kind(), n.unwrap_or(0));
    }

    /// Delivers a committed message of membership version `version`: first every local
    /// subscriber checked against an older version is re-checked against the membership read
    /// from the store now (a removal whose event the bus lost ends the subscription here), then
    /// any gap is filled from the store, then the message goes out.
    async fn deliver_message(&self, message: Arc<Message>, version: u64) -> StoreResult<()> {
        let room = &message.room;
        for _ in 0..RECHECKS {
            let Some(cursor) = self.registry.cursor(room) else {
                return Ok(());
            };
            if self.registry.stale(room, version, false) {
                self.recheck(room, false).await?;
                continue;
            }
            // A zero cursor is not known yet (the room's first subscriber just came): no repair.
            if let (Step::Gap { after, upto }, true) = (cursor.step(message.seq), cursor.seq() != 0)
            {
                metrics::counter!("yui_gap_repairs_total").increment(1);
                if !self.fill(room, after, upto, version).await? {
                    continue;
                }
            }
            if self.fanout_message(&message, version) {
                return Ok(());
            }
        }
        tracing::warn!(room = %room, seq = message.seq, "membership kept changing while delivering; the next event or resync repairs");
        Ok(())
    }

    /// Reloads the room's membership from the store and re-checks the local subscribers older
    /// than it (all of them with `force`); those who may no longer read get `unsubscribed`
    /// (`removed`). Returns the room as reloaded.
    async fn recheck(&self, room: &RoomId, force: bool) -> StoreResult<Option<Arc<RoomAccess>>> {
        let Some(access) = self.access.reload(room).await? else {
            return Ok(None);
        };
        let gone = self.registry.recheck(&access, force);
        self.end_removed(room, gone).await;
        Ok(Some(access))
    }

    /// Ends the subscriptions of `conns` to `room` with `unsubscribed` (`removed`).
    async fn end_removed(&self, room: &RoomId, conns: Vec<ConnHandle>) {
        if conns.is_empty() {
            return;
        }
        let t = text(&ServerFrame::Unsubscribed {
            r#ref: None,
            room: room.clone(),
            reason: Some("removed".into()),
        });
        count_out("unsubscribed", conns.len() as u64);
        for c in conns {
            c.remove_sub(room);
            self.unsubscribe(room, c.id).await;
            c.push_live(Outbound::Unsubscribed(Box::new(Unsubscribed {
                room: room.clone(),
                text: t.clone(),
            })));
        }
    }

    /// Delivers messages `(after, upto]` of `room` from the store, to subscribers checked
    /// against membership version `version` or newer. False when one was older (nothing more
    /// delivered): the caller re-checks and tries again.
    async fn fill(&self, room: &RoomId, after: u64, upto: u64, version: u64) -> StoreResult<bool> {
        let mut gap = Gap::new(room, after, upto);
        while let Some(page) = gap.next_page(self.store.as_ref()).await? {
            for m in &page {
                if !self.fanout_message(m, version) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// After the bus may have lost events: forget every cached room, re-check every local
    /// subscription against the membership in the store, and bring every room served here up
    /// to the store (the messages read after the membership, so none committed after a removal
    /// reaches the removed).
    async fn resync(&self) -> StoreResult<()> {
        self.access.clear();
        for (room, _) in self.registry.rooms() {
            let mut force = true;
            for _ in 0..RECHECKS {
                let Some(access) = self.recheck(&room, force).await? else {
                    break;
                };
                force = false;
                let Some(cursor) = self.registry.cursor(&room) else {
                    break;
                };
                if access.info.last_seq <= cursor.seq()
                    || self
                        .fill(
                            &room,
                            cursor.seq(),
                            access.info.last_seq,
                            access.info.members_version,
                        )
                        .await?
                {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Fans a message out to the room's local subscribers; false (nothing sent) when one of
    /// them was checked against a membership version older than `version`.
    fn fanout_message(&self, m: &Message, version: u64) -> bool {
        let frame = ServerFrame::Message(m.clone());
        let Some(n) = self
            .registry
            .fanout(&m.room, Some(m.seq), text(&frame), version, |_| true)
        else {
            return false;
        };
        count_out("message", n);
        metrics::counter!("yui_deliveries_total").increment(n);
        true
    }
}

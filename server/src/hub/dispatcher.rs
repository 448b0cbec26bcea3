//! The dispatcher: turns committed events (from this node's producers and, through the bus,
//! from other nodes) into queued frames for local connections, in seq order, repairing gaps
//! from the store.

use super::conn::{Outbound, Unsubscribed};
use super::cursor::{Gap, Step};
use super::{count_out, text, Hub};
use crate::bus::BusEvent;
use crate::store::StoreResult;
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::ids::RoomId;
use yui_protocol::model::{Message, RoomKind};
use yui_protocol::server::ServerFrame;

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
            BusEvent::Message { message } => self.deliver_message(message).await,
            BusEvent::Receipt {
                room,
                user,
                seq,
                at,
            } => {
                // A town room's readers are the whole town: its receipts go to those who post
                // there (to see "read by N of M") and to the reader's own connections, not to
                // thousands of readers each.
                let town = match self.access.get(&room).await {
                    Ok(Some(a)) if a.info.kind == RoomKind::Town => Some(a.info.town.clone()),
                    _ => None,
                };
                let reader = user.id.clone();
                let frame = ServerFrame::Receipt {
                    room: room.clone(),
                    user,
                    seq,
                    at,
                };
                let n = self.registry.fanout(&room, None, text(&frame), |c| {
                    town.as_ref()
                        .is_none_or(|t| c.user == reader || c.manages(t))
                });
                count_out(frame.kind(), n);
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
                let t = text(&ServerFrame::Unsubscribed {
                    r#ref: None,
                    room: room.clone(),
                    reason: Some("removed".into()),
                });
                let conns = self.registry.user_conns(&user);
                count_out("unsubscribed", conns.len() as u64);
                for c in conns {
                    c.remove_sub(&room);
                    self.unsubscribe(&room, c.id).await;
                    c.push_live(Outbound::Unsubscribed(Box::new(Unsubscribed {
                        room: room.clone(),
                        text: t.clone(),
                    })));
                }
                Ok(())
            }
            BusEvent::RoomChanged { room } => {
                self.access.invalidate(&room);
                Ok(())
            }
            BusEvent::Resync => self.resync().await,
        }
    }

    async fn deliver_message(&self, message: Arc<Message>) -> StoreResult<()> {
        let Some(cursor) = self.registry.cursor(&message.room) else {
            return Ok(());
        };
        // A zero cursor is not known yet (the room's first subscriber just came): no repair.
        if let (Step::Gap { after, upto }, true) = (cursor.step(message.seq), cursor.seq() != 0) {
            metrics::counter!("yui_gap_repairs_total").increment(1);
            self.fill(&message.room, after, upto).await?;
        }
        self.fanout_message(&message);
        Ok(())
    }

    /// Delivers messages `(after, upto]` of `room` from the store.
    async fn fill(&self, room: &RoomId, after: u64, upto: u64) -> StoreResult<()> {
        let mut gap = Gap::new(room, after, upto);
        while let Some(page) = gap.next_page(self.store.as_ref()).await? {
            for m in &page {
                self.fanout_message(m);
            }
        }
        Ok(())
    }

    /// After the bus may have lost events: bring every room served here up to the store.
    async fn resync(&self) -> StoreResult<()> {
        for (room, cursor) in self.registry.rooms() {
            self.access.invalidate(&room);
            if let Some(info) = self.store.room(&room).await? {
                if info.last_seq > cursor.seq() {
                    self.fill(&room, cursor.seq(), info.last_seq).await?;
                }
            }
        }
        Ok(())
    }

    fn fanout_message(&self, m: &Message) {
        let frame = ServerFrame::Message(m.clone());
        let n = self
            .registry
            .fanout(&m.room, Some(m.seq), text(&frame), |_| true);
        count_out("message", n);
        metrics::counter!("yui_deliveries_total").increment(n);
    }
}

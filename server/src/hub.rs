//! The hub: who is connected, who is subscribed to what, cached room access, and the
//! dispatcher that turns committed events into frames for local connections.
//!
//! Every event reaches the dispatcher exactly through [`Hub::events`]: from this node's
//! committer and HTTP handlers directly, from other nodes through the bus. The dispatcher
//! remembers the last seq it delivered per room; an event past a gap (the bus lost or reordered
//! something) is preceded by the missing messages read from the store, and a repeat is dropped.

use crate::bus::{Bus, BusEvent};
use crate::store::{RoomInfo, Store, StoreResult};
use crate::ws::outbound::{ConnHandle, ConnId, Outbound, RoomEvent, Unsubscribed};
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::{MemberRole, Message, RoomKind};
use yui_protocol::server::ServerFrame;

/// Capacity of the dispatcher's inbox.
const EVENT_QUEUE: usize = 8192;
/// Page size when filling a gap from the store.
pub const FILL_PAGE: u32 = 200;

/// Who may do what in a room: the room and its members, cached until a membership or room
/// change event for it arrives.
#[derive(Debug, Clone)]
pub struct RoomAccess {
    pub info: RoomInfo,
    pub members: HashMap<UserId, MemberRole>,
}

impl RoomAccess {
    /// Team rooms: members only (not coordinators or admins who are not members). Town rooms:
    /// the town's users, and admins.
    pub fn can_read(&self, who: &Identity) -> bool {
        match self.info.kind {
            RoomKind::Team => self.members.contains_key(who.id()),
            RoomKind::Town => who.town == self.info.town || who.is_admin(),
        }
    }

    /// Team rooms: every member. Town rooms: coordinators of the town and admins.
    pub fn can_post(&self, who: &Identity) -> bool {
        match self.info.kind {
            RoomKind::Team => self.members.contains_key(who.id()),
            RoomKind::Town => who.manages_town(&self.info.town),
        }
    }

    /// Owners, coordinators of the room's town, admins.
    pub fn can_manage(&self, who: &Identity) -> bool {
        who.manages_town(&self.info.town) || self.members.get(who.id()) == Some(&MemberRole::Owner)
    }
}

struct RoomSubs {
    conns: HashMap<ConnId, ConnHandle>,
    /// Last seq delivered here: the room's last seq when its first local subscriber came, then
    /// each message fanned out.
    delivered: u64,
}

pub struct Hub {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    rooms: DashMap<RoomId, RoomSubs>,
    users: DashMap<UserId, HashMap<ConnId, ConnHandle>>,
    access: DashMap<RoomId, Arc<RoomAccess>>,
    events: mpsc::Sender<BusEvent>,
}

impl Hub {
    /// The dispatcher's inbox: create it first, so a bus can be given its sender.
    pub fn inbox() -> (mpsc::Sender<BusEvent>, mpsc::Receiver<BusEvent>) {
        mpsc::channel(EVENT_QUEUE)
    }

    /// Creates the hub around the sender of [`Hub::inbox`]; the receiver goes to
    /// [`Hub::run_dispatcher`].
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        events: mpsc::Sender<BusEvent>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            store,
            bus,
            rooms: DashMap::new(),
            users: DashMap::new(),
            access: DashMap::new(),
            events,
        })
    }

    /// Where buses and local producers hand events to this node's dispatcher.
    pub fn events(&self) -> mpsc::Sender<BusEvent> {
        self.events.clone()
    }

    /// Delivers an event on this node and publishes it to the others.
    pub async fn emit(&self, event: BusEvent) {
        if let Err(e) = self.bus.publish(event.clone()).await {
            metrics::counter!("yui_bus_publish_errors_total").increment(1);
            tracing::warn!(error = %e, "publish to other nodes failed; they repair from the store");
        }
        // The dispatcher only stops at shutdown.
        let _ = self.events.send(event).await;
    }

    // ---- access -------------------------------------------------------------------------

    /// The room and its members, from the cache or the store. `None`: no such room.
    pub async fn access(&self, room: &RoomId) -> StoreResult<Option<Arc<RoomAccess>>> {
        if let Some(a) = self.access.get(room) {
            return Ok(Some(a.clone()));
        }
        let Some(info) = self.store.room(room).await? else {
            return Ok(None);
        };
        let members = match info.kind {
            RoomKind::Team => self
                .store
                .members(room)
                .await?
                .into_iter()
                .map(|m| (m.id, m.role))
                .collect(),
            RoomKind::Town => HashMap::new(),
        };
        let access = Arc::new(RoomAccess { info, members });
        self.access.insert(room.clone(), access.clone());
        Ok(Some(access))
    }

    pub fn forget_access(&self, room: &RoomId) {
        self.access.remove(room);
    }

    // ---- connections --------------------------------------------------------------------

    pub fn connect(&self, conn: &ConnHandle) {
        self.users
            .entry(conn.user.clone())
            .or_default()
            .insert(conn.id, conn.clone());
        metrics::gauge!("yui_connections").increment(1.0);
    }

    /// Forgets a connection and all its subscriptions.
    pub async fn disconnect(&self, conn: &ConnHandle) {
        for room in conn.take_subs() {
            self.unsubscribe(&room, conn.id).await;
        }
        if let dashmap::Entry::Occupied(mut e) = self.users.entry(conn.user.clone()) {
            e.get_mut().remove(&conn.id);
            if e.get().is_empty() {
                e.remove();
            }
        }
        metrics::gauge!("yui_connections").decrement(1.0);
    }

    /// Every connection of every user, for draining.
    pub fn all_connections(&self) -> Vec<ConnHandle> {
        self.users
            .iter()
            .flat_map(|e| e.value().values().cloned().collect::<Vec<_>>())
            .collect()
    }

    pub fn connection_count(&self) -> usize {
        self.users.iter().map(|e| e.value().len()).sum()
    }

    /// Registers a live subscription. The caller then queues [`Outbound::Subscribe`], whose
    /// catch-up reads the store after this point: nothing committed later can be missed.
    pub async fn subscribe(&self, room: &RoomId, conn: &ConnHandle) {
        let first = {
            let mut subs = self.rooms.entry(room.clone()).or_insert_with(|| RoomSubs {
                conns: HashMap::new(),
                delivered: 0,
            });
            subs.conns.insert(conn.id, conn.clone());
            subs.conns.len() == 1
        };
        if first {
            self.bus.watch(room).await;
            // Start the node's position at what is committed now (the subscriber's own
            // catch-up covers what came before), so a resync never replays the whole history.
            if let Ok(Some(info)) = self.store.room(room).await {
                if let Some(mut subs) = self.rooms.get_mut(room) {
                    subs.delivered = subs.delivered.max(info.last_seq);
                }
            }
        }
    }

    pub async fn unsubscribe(&self, room: &RoomId, conn: ConnId) {
        let last = match self.rooms.entry(room.clone()) {
            dashmap::Entry::Occupied(mut e) => {
                e.get_mut().conns.remove(&conn);
                if e.get().conns.is_empty() {
                    e.remove();
                    true
                } else {
                    false
                }
            }
            dashmap::Entry::Vacant(_) => false,
        };
        if last {
            self.bus.unwatch(room).await;
        }
    }

    // ---- dispatch -----------------------------------------------------------------------

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
                let town = match self.access(&room).await {
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
                self.fanout(&room, None, frame.kind(), text(&frame), |c| {
                    town.as_ref()
                        .is_none_or(|t| c.user == reader || c.manages(t))
                });
                Ok(())
            }
            BusEvent::MemberAdded { room, user } => {
                self.forget_access(&room);
                let conns = self.user_conns(&user);
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
                self.forget_access(&room);
                let t = text(&ServerFrame::Unsubscribed {
                    r#ref: None,
                    room: room.clone(),
                    reason: Some("removed".into()),
                });
                let conns = self.user_conns(&user);
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
                self.forget_access(&room);
                Ok(())
            }
            BusEvent::Resync => self.resync().await,
        }
    }

    fn user_conns(&self, user: &UserId) -> Vec<ConnHandle> {
        self.users
            .get(user)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    async fn deliver_message(&self, message: Arc<Message>) -> StoreResult<()> {
        let delivered = match self.rooms.get(&message.room) {
            Some(subs) => subs.delivered,
            None => return Ok(()),
        };
        if delivered != 0 && message.seq > delivered + 1 {
            metrics::counter!("yui_gap_repairs_total").increment(1);
            self.fill(&message.room, delivered, message.seq - 1).await?;
        }
        self.fanout_message(&message);
        Ok(())
    }

    /// Delivers messages `(after, upto]` of `room` from the store.
    async fn fill(&self, room: &RoomId, mut after: u64, upto: u64) -> StoreResult<()> {
        while after < upto {
            let want = (upto - after).min(u64::from(FILL_PAGE)) as u32;
            let page = self.store.messages_after(room, after, want).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for m in &page {
                self.fanout_message(m);
            }
        }
        Ok(())
    }

    /// After the bus may have lost events: bring every room served here up to the store.
    async fn resync(&self) -> StoreResult<()> {
        let rooms: Vec<(RoomId, u64)> = self
            .rooms
            .iter()
            .map(|e| (e.key().clone(), e.value().delivered))
            .collect();
        for (room, delivered) in rooms {
            self.forget_access(&room);
            if let Some(info) = self.store.room(&room).await? {
                if info.last_seq > delivered {
                    self.fill(&room, delivered, info.last_seq).await?;
                }
            }
        }
        Ok(())
    }

    fn fanout_message(&self, m: &Message) {
        let frame = ServerFrame::Message(m.clone());
        let t = text(&frame);
        self.fanout(&m.room, Some(m.seq), "message", t, |_| true);
    }

    /// Queues one serialized event for every local subscriber of the room.
    fn fanout(
        &self,
        room: &RoomId,
        seq: Option<u64>,
        kind: &'static str,
        text: Utf8Bytes,
        to: impl Fn(&ConnHandle) -> bool,
    ) {
        let Some(mut subs) = self.rooms.get_mut(room) else {
            return;
        };
        if let Some(seq) = seq {
            if seq <= subs.delivered {
                return;
            }
            subs.delivered = seq;
        }
        let event = Arc::new(RoomEvent {
            room: room.clone(),
            seq,
            text,
        });
        let mut n = 0u64;
        for c in subs.conns.values().filter(|c| to(c)) {
            if c.push_live(Outbound::Room(event.clone())) {
                n += 1;
            }
        }
        count_out(kind, n);
        if seq.is_some() {
            metrics::counter!("yui_deliveries_total").increment(n);
        }
    }
}

/// Serializes a frame once for all its recipients.
pub fn text(frame: &ServerFrame) -> Utf8Bytes {
    Utf8Bytes::from(frame.to_json())
}

/// Counts frames queued for clients, by type.
pub fn count_out(kind: &'static str, n: u64) {
    metrics::counter!("yui_frames_out_total", "type" => kind).increment(n);
}

//! Who is connected to this node (by user) and who is subscribed to what (by room), with the
//! node's [`Cursor`] per room. Fan-out checks and moves the cursor under the room's entry lock,
//! so two events of a room never interleave their deliveries.

use super::conn::{ConnHandle, ConnId, Outbound, RoomEvent};
use super::cursor::{Cursor, Step};
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;
use yui_protocol::ids::{RoomId, UserId};

struct RoomSubs {
    conns: HashMap<ConnId, ConnHandle>,
    /// Last seq delivered here: the room's last seq when its first local subscriber came, then
    /// each message fanned out. Zero: not known yet.
    cursor: Cursor,
}

#[derive(Default)]
pub struct Registry {
    rooms: DashMap<RoomId, RoomSubs>,
    users: DashMap<UserId, HashMap<ConnId, ConnHandle>>,
}

impl Registry {
    pub fn connect(&self, conn: &ConnHandle) {
        self.users
            .entry(conn.user.clone())
            .or_default()
            .insert(conn.id, conn.clone());
    }

    pub fn disconnect(&self, conn: &ConnHandle) {
        if let dashmap::Entry::Occupied(mut e) = self.users.entry(conn.user.clone()) {
            e.get_mut().remove(&conn.id);
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    pub fn connection_count(&self) -> usize {
        self.users.iter().map(|e| e.value().len()).sum()
    }

    pub fn user_conns(&self, user: &UserId) -> Vec<ConnHandle> {
        self.users
            .get(user)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds a subscriber; true when it is the room's first on this node.
    pub fn subscribe(&self, room: &RoomId, conn: &ConnHandle) -> bool {
        let mut subs = self.rooms.entry(room.clone()).or_insert_with(|| RoomSubs {
            conns: HashMap::new(),
            cursor: Cursor::default(),
        });
        subs.conns.insert(conn.id, conn.clone());
        subs.conns.len() == 1
    }

    /// Removes a subscriber; true when it was the room's last on this node.
    pub fn unsubscribe(&self, room: &RoomId, conn: ConnId) -> bool {
        match self.rooms.entry(room.clone()) {
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
        }
    }

    /// The node's cursor in `room`; `None` when nobody here is subscribed.
    pub fn cursor(&self, room: &RoomId) -> Option<Cursor> {
        self.rooms.get(room).map(|s| s.cursor)
    }

    /// Moves the room's cursor forward to `seq` (when the room is still served here).
    pub fn advance(&self, room: &RoomId, seq: u64) {
        if let Some(mut subs) = self.rooms.get_mut(room) {
            subs.cursor.advance(seq);
        }
    }

    /// Every room served here with its cursor.
    pub fn rooms(&self) -> Vec<(RoomId, Cursor)> {
        self.rooms
            .iter()
            .map(|e| (e.key().clone(), e.value().cursor))
            .collect()
    }

    /// Queues one serialized event for every local subscriber of the room that `to` accepts;
    /// a message (`seq`) at or below the room's cursor is dropped. Returns how many got it.
    pub fn fanout(
        &self,
        room: &RoomId,
        seq: Option<u64>,
        text: Utf8Bytes,
        to: impl Fn(&ConnHandle) -> bool,
    ) -> u64 {
        let Some(mut subs) = self.rooms.get_mut(room) else {
            return 0;
        };
        if let Some(seq) = seq {
            if subs.cursor.step(seq) == Step::Repeat {
                return 0;
            }
            subs.cursor.advance(seq);
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
        n
    }
}

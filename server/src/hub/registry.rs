//! Who is connected to this node (by user) and who is subscribed to what (by room), with the
//! node's [`Cursor`] per room. Fan-out checks and moves the cursor under the room's entry lock,
//! so two events of a room never interleave their deliveries.

use super::conn::{ConnHandle, ConnId, Outbound, RoomEvent};
use super::cursor::{Cursor, Step};
use crate::access::RoomAccess;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use yui_protocol::ids::{RoomId, UserId};

/// A local subscriber and the room's membership version its access was last checked against.
struct Sub {
    conn: ConnHandle,
    checked: u64,
}

struct RoomSubs {
    conns: HashMap<ConnId, Sub>,
    /// Last seq delivered here: the room's last seq when its first local subscriber came, then
    /// each message fanned out. Zero: not known yet.
    cursor: Cursor,
}

#[derive(Default)]
pub struct Registry {
    rooms: DashMap<RoomId, RoomSubs>,
    users: DashMap<UserId, HashMap<ConnId, ConnHandle>>,
    /// Bumped by every subscription added or removed: push presence diffs the registry against
    /// the store only when it moved (a diff clones every subscribed pair).
    changes: AtomicU64,
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

    /// Adds a subscriber whose access was checked against membership version `checked`; true
    /// when it is the room's first on this node.
    pub fn subscribe(&self, room: &RoomId, conn: &ConnHandle, checked: u64) -> bool {
        let mut subs = self.rooms.entry(room.clone()).or_insert_with(|| RoomSubs {
            conns: HashMap::new(),
            cursor: Cursor::default(),
        });
        subs.conns.insert(
            conn.id,
            Sub {
                conn: conn.clone(),
                checked,
            },
        );
        self.changes.fetch_add(1, Ordering::AcqRel);
        subs.conns.len() == 1
    }

    /// Whether a local subscriber of `room` was checked against a membership version older
    /// than `version` (or, with `force`, whether the room has subscribers at all).
    pub fn stale(&self, room: &RoomId, version: u64, force: bool) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|s| s.conns.values().any(|c| force || c.checked < version))
    }

    /// Re-checks the room's subscribers that are older than `access` (every one with `force`)
    /// against it: those who may still read are marked checked at its version; those who may
    /// not are returned (the caller ends their subscriptions).
    pub fn recheck(&self, access: &RoomAccess, force: bool) -> Vec<ConnHandle> {
        let version = access.info.members_version;
        let Some(mut subs) = self.rooms.get_mut(&access.info.room) else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for sub in subs.conns.values_mut() {
            if !force && sub.checked >= version {
                continue;
            }
            if access.can_read(&sub.conn.identity()) {
                sub.checked = sub.checked.max(version);
            } else {
                gone.push(sub.conn.clone());
            }
        }
        gone
    }

    /// Removes a subscriber; true when it was the room's last on this node.
    pub fn unsubscribe(&self, room: &RoomId, conn: ConnId) -> bool {
        match self.rooms.entry(room.clone()) {
            dashmap::Entry::Occupied(mut e) => {
                if e.get_mut().conns.remove(&conn).is_some() {
                    self.changes.fetch_add(1, Ordering::AcqRel);
                }
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

    /// How many times a subscription was added or removed here: equal counts, no change
    /// between them (a connection that closed counts once its subscriptions are removed).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// The rooms with a subscription here (for push presence, PROTOCOL.md 5.6).
    pub fn served_rooms(&self) -> Vec<RoomId> {
        self.rooms.iter().map(|e| e.key().clone()).collect()
    }

    /// The users with a live subscription to `room` here (for push presence). One room at a
    /// time: presence never holds a copy of every subscribed (user, room) pair of the node.
    pub fn present_in(&self, room: &RoomId) -> HashSet<UserId> {
        self.rooms.get(room).map_or_else(HashSet::new, |subs| {
            subs.conns
                .values()
                .filter(|sub| !sub.conn.closer.is_closed())
                .map(|sub| sub.conn.user.clone())
                .collect()
        })
    }

    /// Whether `user` has a live subscription to `room` here.
    pub fn is_subscribed(&self, user: &UserId, room: &RoomId) -> bool {
        self.rooms.get(room).is_some_and(|s| {
            s.conns
                .values()
                .any(|sub| &sub.conn.user == user && !sub.conn.closer.is_closed())
        })
    }

    /// Every room served here with its cursor.
    pub fn rooms(&self) -> Vec<(RoomId, Cursor)> {
        self.rooms
            .iter()
            .map(|e| (e.key().clone(), e.value().cursor))
            .collect()
    }

    /// Queues one serialized event for every local subscriber of the room that `to` accepts;
    /// a message (`seq`) at or below the room's cursor is dropped. Returns how many got it, or
    /// `None` (nothing queued, the cursor unmoved) when a subscriber was checked against a
    /// membership version older than `checked`: the caller re-checks first.
    pub fn fanout(
        &self,
        room: &RoomId,
        seq: Option<u64>,
        text: Utf8Bytes,
        checked: u64,
        to: impl Fn(&ConnHandle) -> bool,
    ) -> Option<u64> {
        let Some(mut subs) = self.rooms.get_mut(room) else {
            return Some(0);
        };
        if subs.conns.values().any(|c| c.checked < checked) {
            return None;
        }
        if let Some(seq) = seq {
            if subs.cursor.step(seq) == Step::Repeat {
                return Some(0);
            }
            subs.cursor.advance(seq);
        }
        let event = Arc::new(RoomEvent {
            room: room.clone(),
            seq,
            text,
        });
        let mut n = 0u64;
        for c in subs.conns.values().map(|s| &s.conn).filter(|c| to(c)) {
            if c.push_live(Outbound::Room(event.clone())) {
                n += 1;
            }
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;
    use yui_protocol::claims::Identity;
    use yui_protocol::ids::{Name, TownId};
    use yui_protocol::model::{Profession, UserRef, UserRole};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn conn(id: ConnId, user: &str) -> Result<ConnHandle, Box<dyn std::error::Error>> {
        let identity = Identity {
            user: UserRef {
                id: UserId::parse(user)?,
                name: Name::parse("山田")?,
                profession: Profession::Nurse,
                org: Name::parse("訪問看護")?,
            },
            town: TownId::parse("misaki")?,
            role: UserRole::Member,
            exp: i64::MAX / 2,
            email: None,
        };
        Ok(ConnHandle::new(id, identity, mpsc::channel(1).0))
    }

    /// Push presence skips its diff while the count stays: every real change must move it,
    /// and removing what is not there must not.
    #[test]
    fn subscriptions_added_and_removed_move_the_change_count() -> TestResult {
        let registry = Registry::default();
        let room = RoomId::parse("r1")?;
        let (a, b) = (conn(1, "a")?, conn(2, "b")?);
        let start = registry.changes();
        registry.subscribe(&room, &a, 0);
        let one = registry.changes();
        assert!(one > start);
        registry.subscribe(&room, &b, 0);
        let two = registry.changes();
        assert!(two > one);
        assert!(!registry.unsubscribe(&room, 3), "never subscribed");
        assert!(!registry.unsubscribe(&RoomId::parse("r2")?, a.id));
        assert_eq!(registry.changes(), two, "nothing was removed");
        assert!(!registry.unsubscribe(&room, a.id));
        let three = registry.changes();
        assert!(three > two);
        assert!(registry.unsubscribe(&room, b.id), "the room's last");
        assert!(registry.changes() > three);
        assert!(registry.present_in(&room).is_empty());
        Ok(())
    }
}

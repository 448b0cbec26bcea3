//! Who may do what in a room ([`RoomAccess`]), and the cache of rooms and their members those
//! rules read ([`AccessCache`]).
//!
//! The cache is versioned: every invalidation bumps one counter, and a load from the store is
//! kept only if no invalidation happened while it ran, so a membership change can never be
//! overwritten by a load that started before it.

use crate::store::{RoomInfo, Store, StoreResult};
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::{MemberRole, RoomKind};

/// A room and its members: what the permission rules need.
#[derive(Debug, Clone)]
pub struct RoomAccess {
    pub info: RoomInfo,
    pub members: HashMap<UserId, MemberRole>,
    /// Team rooms: a consent stands (given, not withdrawn; `--require-consent`, 5.4). Every
    /// consent change moves the room's membership version and drops this entry on every node.
    pub standing_consent: bool,
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

    /// Sees the room itself (`GET /api/rooms/{room}`): its readers and its managers.
    pub fn can_see(&self, who: &Identity) -> bool {
        self.can_read(who) || self.can_manage(who)
    }
}

/// Rooms and members by room id, loaded from the store on first use and dropped when a
/// membership or room change event for the room arrives.
pub struct AccessCache {
    store: Arc<dyn Store>,
    rooms: DashMap<RoomId, Arc<RoomAccess>>,
    /// Bumped by every invalidation; a load that saw another value is not cached.
    version: AtomicU64,
}

impl AccessCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        AccessCache {
            store,
            rooms: DashMap::new(),
            version: AtomicU64::new(0),
        }
    }

    /// The room and its members, from the cache or the store. `None`: no such room.
    pub async fn get(&self, room: &RoomId) -> StoreResult<Option<Arc<RoomAccess>>> {
        if let Some(a) = self.rooms.get(room) {
            return Ok(Some(a.clone()));
        }
        self.load(room).await
    }

    /// The room and its members read from the store now, whatever is cached (cached in turn,
    /// unless an invalidation ran meanwhile or the cache holds a newer membership version).
    /// The room row is read before the members, so the members are at least as new as
    /// `info.members_version` and everything up to `info.last_seq`.
    pub async fn reload(&self, room: &RoomId) -> StoreResult<Option<Arc<RoomAccess>>> {
        self.load(room).await
    }

    async fn load(&self, room: &RoomId) -> StoreResult<Option<Arc<RoomAccess>>> {
        let version = self.version.load(Ordering::Acquire);
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
        let standing_consent = match info.kind {
            RoomKind::Team => self.store.standing_consent(room).await?,
            RoomKind::Town => false,
        };
        let access = Arc::new(RoomAccess {
            info,
            members,
            standing_consent,
        });
        // The version is checked under the entry's lock, and an invalidation bumps it before
        // removing under the same lock: a stale load is either not inserted or removed after.
        // A load never replaces an entry of a newer membership version.
        match self.rooms.entry(room.clone()) {
            dashmap::Entry::Vacant(e) => {
                if self.version.load(Ordering::Acquire) == version {
                    e.insert(access.clone());
                }
            }
            dashmap::Entry::Occupied(mut e) => {
                if self.version.load(Ordering::Acquire) == version
                    && e.get().info.members_version <= access.info.members_version
                {
                    e.insert(access.clone());
                }
            }
        }
        Ok(Some(access))
    }

    /// Drops what is cached for `room`.
    pub fn invalidate(&self, room: &RoomId) {
        self.version.fetch_add(1, Ordering::AcqRel);
        self.rooms.remove(room);
    }

    /// Drops everything (the bus may have lost invalidations).
    pub fn clear(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        self.rooms.clear();
    }
}

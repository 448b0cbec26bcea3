//! The room service: every room operation, for the WebSocket and the HTTP API alike, with its
//! permission check and the events it emits. `ws` and `http` parse and answer; what an
//! operation does and who may do it is decided here, once.
//!
//! - this file: the service, the user directory, the permission gates.
//! - [`messages`]: post, read position, history page, receipts.
//! - [`notes`]: care notes (5.2): mention and revision checks, confirmations, who has not read.
//! - [`subscribe`]: subscribe (registration, then the snapshot the write loop asks for),
//!   unsubscribe, catch-up pages.
//! - [`rooms`]: create or update a room, show it, a user's rooms.
//! - [`members`]: add, update and remove members.
//! - [`attachments`]: upload, download, the attachments a post names, clean-up of unposted
//!   uploads.
//! - [`audit`]: the access log: writing `read_history`, and who may query it.
//! - [`town`]: residents' profiles, consents and `--require-consent`, the town directory,
//!   room settings (mute), the order people are listed in (PROTOCOL.md 5.4, 5.5).
//! - [`search`]: search over the rooms a user reads now.
//! - [`export`]: a room's record over a period; [`export_csv`] and [`export_pdf`] lay it out.

mod attachments;
mod audit;
pub mod export;
pub mod export_csv;
pub mod export_pdf;
mod members;
mod messages;
mod notes;
mod rooms;
mod search;
mod subscribe;
mod town;

pub use attachments::{AttachmentSettings, Collected, Download};
pub use messages::Receipts;
pub use subscribe::Snapshot;
pub use town::{sort_members, CONSENT_REQUIRED};

use crate::access::{AccessCache, RoomAccess};
use crate::committer::Committer;
use crate::error::ApiError;
use crate::hub::conn::{ConnHandle, Outbound};
use crate::hub::Hub;
use crate::store::Store;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{UserName, UserRef};

pub fn user_name(who: &Identity) -> UserName {
    UserName {
        id: who.user.id.clone(),
        name: who.user.name.clone(),
    }
}

pub struct RoomService {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    access: Arc<AccessCache>,
    committer: Committer,
    /// Profiles this node last wrote to the user directory, to skip rewriting unchanged ones.
    directory: DashMap<UserId, (UserRef, TownId)>,
    attachments: attachments::AttachmentState,
    /// When this node last wrote each user's `last_seen` (the town directory, 5.4).
    seen: DashMap<UserId, std::time::Instant>,
    /// `--require-consent`: team rooms without a standing consent refuse posts.
    require_consent: bool,
}

impl RoomService {
    pub fn new(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        access: Arc<AccessCache>,
        committer: Committer,
        attachments: AttachmentSettings,
    ) -> Self {
        RoomService {
            store,
            hub,
            access,
            committer,
            directory: DashMap::new(),
            attachments: attachments::AttachmentState::new(attachments),
            seen: DashMap::new(),
            require_consent: false,
        }
    }

    /// Keeps the user directory current with an accepted token's claims.
    pub async fn remember(&self, who: &Identity) -> Result<(), ApiError> {
        let known = self
            .directory
            .get(&who.user.id)
            .is_some_and(|e| e.0 == who.user && e.1 == who.town);
        if !known {
            self.store.upsert_user(&who.user, &who.town).await?;
            if let Some(email) = &who.email {
                // Where this user's email digests go (PROTOCOL.md 5.6).
                self.store
                    .push()
                    .remember_email(&who.user.id, &who.town, email)
                    .await?;
            }
            self.directory
                .insert(who.user.id.clone(), (who.user.clone(), who.town.clone()));
        }
        self.mark_seen(who, !known).await?;
        Ok(())
    }

    /// The room, when `who` may read it; otherwise `not_found`, whether or not it exists.
    pub async fn readable(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<Arc<RoomAccess>, ApiError> {
        match self.access.get(room).await? {
            Some(a) if a.can_read(who) => Ok(a),
            _ => Err(ApiError::room_not_found()),
        }
    }

    /// The room, when `who` may manage its members (or create/update it); `not_found` when
    /// `who` can neither read nor manage it.
    pub async fn manageable(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<Arc<RoomAccess>, ApiError> {
        match self.access.get(room).await? {
            Some(a) if a.can_manage(who) => Ok(a),
            Some(a) if a.can_read(who) => Err(ApiError::forbidden(
                "only the room's owners, the town's coordinators and admins manage members",
            )),
            _ => Err(ApiError::room_not_found()),
        }
    }

    /// The room, when `who` may see it (readers and managers); others get `not_found`.
    pub async fn visible(
        &self,
        who: &Identity,
        room: &RoomId,
    ) -> Result<Arc<RoomAccess>, ApiError> {
        match self.access.get(room).await? {
            Some(a) if a.can_see(who) => Ok(a),
            _ => Err(ApiError::room_not_found()),
        }
    }

    // ---- connections ----------------------------------------------------------------------

    /// Registers a connection that said `hello` with the hub; its items arrive on `tx`.
    pub fn connect(&self, id: u64, who: Identity, tx: mpsc::Sender<Outbound>) -> ConnHandle {
        let conn = ConnHandle::new(id, who, tx);
        self.hub.connect(&conn);
        conn
    }

    /// Forgets a connection and its subscriptions.
    pub async fn disconnect(&self, conn: &ConnHandle) {
        self.hub.disconnect(conn).await;
    }

    /// A `refresh`: the same user with a new token; the connection acts as the new identity.
    pub async fn refresh(&self, conn: &ConnHandle, fresh: Identity) -> Result<(), ApiError> {
        if fresh.user.id != conn.user {
            return Err(ApiError::forbidden(
                "a refreshed token must be for the same user",
            ));
        }
        self.remember(&fresh).await?;
        conn.set_identity(fresh);
        Ok(())
    }

    pub fn connection_count(&self) -> usize {
        self.hub.connection_count()
    }

    // ---- readiness --------------------------------------------------------------------------

    /// The store's answer to a ping, as `/readyz` shows it.
    pub async fn ping_store(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }

    /// The bus's answer to a ping, as `/readyz` shows it.
    pub async fn ping_bus(&self) -> Result<(), String> {
        self.hub.ping_bus().await.map_err(|e| e.to_string())
    }
}

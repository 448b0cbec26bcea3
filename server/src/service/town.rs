//! PROTOCOL.md 5.4 and the mute of 5.5: the resident profile, consents (同意書) and the
//! `--require-consent` gate on posts, the town directory, a user's room settings (mute), and
//! the order people are listed in (by reading, 五十音順).

use super::{user_name, RoomService};
use crate::access::RoomAccess;
use crate::bus::BusEvent;
use crate::error::ApiError;
use crate::store::town::Withdraw;
use std::time::{Duration, Instant};
use yui_protocol::claims::Identity;
use yui_protocol::ids::{AttachmentId, ClientId, RoomId, TownId, UserId};
use yui_protocol::model::{Member, Message, RoomKind, Timestamp};
use yui_protocol::town::{
    reading_key, Consent, ConsentRequest, Date, DirectoryReply, DirectoryRequest, ResidentProfile,
    ResidentRequest, RoomSettings, SettingsRequest, WithdrawRequest, DIRECTORY_MAX,
};
use yui_protocol::ErrorCode;

/// How often a user's `last_seen` is written while its tokens keep arriving.
pub const SEEN_EVERY: Duration = Duration::from_secs(300);

/// What a post to a team room without a standing consent is told (`forbidden`).
pub const CONSENT_REQUIRED: &str = "同意書が登録されていないため投稿できません。部屋の管理者が\
    同意書を登録してください / no standing consent for this room: its owners or the town's \
    coordinators record one (POST /api/rooms/{room}/consents), then posts are accepted; \
    reading goes on";

/// Sorts members by reading (kana folded, 五十音順), then id.
pub fn sort_members(members: &mut [Member]) {
    members.sort_by_cached_key(|m| (reading_key(m.name.as_str()), m.id.clone()));
}

impl RoomService {
    /// Turns `--require-consent` on or off (PROTOCOL.md 5.4).
    pub fn with_require_consent(mut self, on: bool) -> Self {
        self.require_consent = on;
        self
    }

    pub fn require_consent(&self) -> bool {
        self.require_consent
    }

    /// The post gate of `--require-consent`: a team room needs a standing consent. Read from
    /// the cached access data, invalidated on every node by each consent change. While it is
    /// closed, a retry of a post committed earlier (same author and `client_id`) is answered
    /// with that post (`Some`, PROTOCOL.md 3.4, guarantee 2); that lookup is made only then.
    pub(super) async fn consent_gate(
        &self,
        access: &RoomAccess,
        who: &Identity,
        client_id: &ClientId,
    ) -> Result<Option<Message>, ApiError> {
        if !self.require_consent || access.info.kind != RoomKind::Team || access.standing_consent {
            return Ok(None);
        }
        match self
            .store
            .posted(&access.info.room, &who.user.id, client_id)
            .await?
        {
            Some(first) => Ok(Some(first)),
            None => Err(ApiError::forbidden(CONSENT_REQUIRED)),
        }
    }

    /// Writes `last_seen` for a user whose token was accepted, at most every [`SEEN_EVERY`]
    /// per node (a profile change writes it with the profile).
    pub(super) async fn mark_seen(&self, who: &Identity, written: bool) -> Result<(), ApiError> {
        let due = written
            || self
                .seen
                .get(&who.user.id)
                .is_none_or(|t| t.elapsed() >= SEEN_EVERY);
        if due {
            if !written {
                self.store.seen(&who.user.id, Timestamp::now()).await?;
            }
            self.seen.insert(who.user.id.clone(), Instant::now());
        }
        Ok(())
    }

    /// A room whose managers may change it, and that is a team room.
    async fn managed_team_room(
        &self,
        who: &Identity,
        room: &RoomId,
        what: &str,
    ) -> Result<std::sync::Arc<RoomAccess>, ApiError> {
        let access = self.manageable(who, room).await?;
        if access.info.kind != RoomKind::Team {
            return Err(ApiError::bad_request(format!(
                "a town room has no {what}: only team rooms are for a resident"
            )));
        }
        Ok(access)
    }

    // ---- resident -----------------------------------------------------------------------

    /// `PUT /api/rooms/{room}/resident`: the room's managers replace its resident profile.
    pub async fn put_resident(
        &self,
        who: &Identity,
        room: &RoomId,
        req: ResidentRequest,
    ) -> Result<ResidentProfile, ApiError> {
        self.managed_team_room(who, room, "resident").await?;
        let profile = self.store.put_resident(room, &req, &user_name(who)).await?;
        self.hub
            .emit(BusEvent::RoomUpdated { room: room.clone() })
            .await;
        Ok(profile)
    }

    // ---- consents -----------------------------------------------------------------------

    /// Every consent of the room with its withdrawal, newest first: members and managers.
    pub async fn consents(&self, who: &Identity, room: &RoomId) -> Result<Vec<Consent>, ApiError> {
        self.visible(who, room).await?;
        Ok(self.store.consents(room).await?)
    }

    /// Records a consent (managers); `date` may not be after today (JST).
    pub async fn record_consent(
        &self,
        who: &Identity,
        room: &RoomId,
        req: ConsentRequest,
    ) -> Result<Consent, ApiError> {
        self.managed_team_room(who, room, "consents").await?;
        not_in_future(req.date)?;
        if let Some(doc) = &req.document {
            self.check_document(who, room, doc).await?;
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        let consent = self
            .store
            .record_consent(room, &id, &req, &user_name(who))
            .await?;
        self.hub
            .emit(BusEvent::RoomChanged { room: room.clone() })
            .await;
        Ok(consent)
    }

    /// Withdraws a consent (managers), once; the withdrawal's date is not before the
    /// consent's nor after today (JST).
    pub async fn withdraw_consent(
        &self,
        who: &Identity,
        room: &RoomId,
        id: &str,
        req: WithdrawRequest,
    ) -> Result<Consent, ApiError> {
        self.managed_team_room(who, room, "consents").await?;
        not_in_future(req.date)?;
        match self
            .store
            .withdraw_consent(room, id, &req, &user_name(who))
            .await?
        {
            Withdraw::Withdrawn(consent) => {
                self.hub
                    .emit(BusEvent::RoomChanged { room: room.clone() })
                    .await;
                Ok(consent)
            }
            Withdraw::NotFound => Err(ApiError::new(ErrorCode::NotFound, "no such consent")),
            Withdraw::Already(_) => Err(ApiError::new(
                ErrorCode::Conflict,
                "this consent was already withdrawn; record a new one if it is given again",
            )),
            Withdraw::BeforeGiven(c) => Err(ApiError::bad_request(format!(
                "date: not before the consent's date ({})",
                c.date
            ))),
        }
    }

    /// Whether `document` may be named by a consent of `room` that `who` records: an
    /// attachment of this room posted in one of its messages or kept by another consent (every
    /// member can open it already), or `who`'s own upload to this room never posted, which
    /// recording the consent then keeps (the store claims it in the consent's transaction).
    /// Under `--require-consent` the first consent cannot wait for a post to carry its scan.
    async fn check_document(
        &self,
        who: &Identity,
        room: &RoomId,
        document: &AttachmentId,
    ) -> Result<(), ApiError> {
        match self.store.attachment(document).await? {
            Some(a) if &a.room == room && (a.kept() || a.uploader == who.user.id) => Ok(()),
            Some(a) if &a.room == room => Err(ApiError::bad_request(
                "document: this upload is another user's and not posted; upload the scan \
                 yourself with the consent, or post it in a note of this room first",
            )),
            _ => Err(ApiError::bad_request(
                "document: no attachment of this room has this id",
            )),
        }
    }

    // ---- settings -----------------------------------------------------------------------

    /// `PUT /api/me/rooms/{room}/settings`: the user's mute of a room it reads.
    pub async fn put_settings(
        &self,
        who: &Identity,
        room: &RoomId,
        req: SettingsRequest,
    ) -> Result<RoomSettings, ApiError> {
        self.readable(who, room).await?;
        self.store
            .set_muted(room, &who.user.id, req.muted_until)
            .await?;
        Ok(RoomSettings {
            room: room.clone(),
            muted_until: req.muted_until,
        })
    }

    /// Until when `user` muted `room` (`None`: not muted, or the time has passed). For
    /// notifications (5.6): muting silences them, except urgent messages and mentions.
    pub async fn muted_until(
        &self,
        room: &RoomId,
        user: &UserId,
    ) -> Result<Option<Timestamp>, ApiError> {
        Ok(self.store.muted_until(room, user, Timestamp::now()).await?)
    }

    /// Every user who has muted `room` now, in one query (for a message's notifications).
    pub async fn muted_in(&self, room: &RoomId) -> Result<Vec<UserId>, ApiError> {
        Ok(self.store.muted_in(room, Timestamp::now()).await?)
    }

    // ---- directory ----------------------------------------------------------------------

    /// `GET /api/towns/{town}/users?q=`: the town's coordinators and admins. Another user of
    /// the town is `forbidden`; a user of another town gets `not_found` (whether or not the
    /// town exists), as for rooms.
    pub async fn directory(
        &self,
        who: &Identity,
        town: &TownId,
        req: DirectoryRequest,
    ) -> Result<DirectoryReply, ApiError> {
        if !who.manages_town(town) {
            return Err(if &who.town == town {
                ApiError::forbidden("only the town's coordinators and admins see its directory")
            } else {
                ApiError::new(ErrorCode::NotFound, "no such town")
            });
        }
        let key = req.q.as_deref().map(reading_key);
        let id_key = req.q.as_deref().map(str::to_lowercase);
        let mut users: Vec<_> = self
            .store
            .town_users(town)
            .await?
            .into_iter()
            .filter(|u| match (&key, &id_key) {
                (Some(k), Some(id_k)) => {
                    reading_key(u.name.as_str()).contains(k.as_str())
                        || reading_key(u.org.as_str()).contains(k.as_str())
                        || u.id.as_str().to_lowercase().contains(id_k.as_str())
                }
                _ => true,
            })
            .collect();
        users.sort_by_cached_key(|u| (reading_key(u.name.as_str()), u.id.clone()));
        let more = users.len() > DIRECTORY_MAX;
        users.truncate(DIRECTORY_MAX);
        Ok(DirectoryReply { users, more })
    }
}

fn not_in_future(date: Date) -> Result<(), ApiError> {
    if date > Date::today_jst() {
        return Err(ApiError::bad_request(
            "date: must not be after today (Japan time)",
        ));
    }
    Ok(())
}

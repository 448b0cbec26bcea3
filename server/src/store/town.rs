//! What the hub keeps for PROTOCOL.md 5.4 and the mute of 5.5: residents' profiles, consents
//! (同意書, never erased), users' room settings, the town directory. [`TownStore`] is a
//! supertrait of [`super::Store`], implemented by both stores in their `town` modules; the row
//! conversions both share are here.

use super::{convert, StoreError, StoreResult};
use async_trait::async_trait;
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{Timestamp, UserName};
use yui_protocol::town::{
    Consent, ConsentRequest, Date, DirectoryUser, HouseholdMember, ResidentProfile,
    ResidentRequest, WithdrawRequest, Withdrawal,
};

/// Result of [`TownStore::withdraw_consent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdraw {
    /// Withdrawn now.
    Withdrawn(Consent),
    /// No such consent in this room.
    NotFound,
    /// Withdrawn before; nothing changed.
    Already(Consent),
    /// The withdrawal's date is before the consent's: nothing changed.
    BeforeGiven(Consent),
}

#[async_trait]
pub trait TownStore: Send + Sync + 'static {
    /// The resident profile of a room (`None` when the room has no resident).
    async fn resident(&self, room: &RoomId) -> StoreResult<Option<ResidentProfile>>;

    /// Replaces the resident profile. The v1 `resident.name` becomes `name`; its `id` stays
    /// (the room id when there was none). Moves the room's membership version (a room change)
    /// and writes `resident_updated`, in one transaction.
    async fn put_resident(
        &self,
        room: &RoomId,
        req: &ResidentRequest,
        actor: &UserName,
    ) -> StoreResult<ResidentProfile>;

    /// Every consent of the room, newest first, withdrawn ones included.
    async fn consents(&self, room: &RoomId) -> StoreResult<Vec<Consent>>;

    /// Records a consent with id `id`; moves the membership version, writes `consent_recorded`.
    async fn record_consent(
        &self,
        room: &RoomId,
        id: &str,
        req: &ConsentRequest,
        actor: &UserName,
    ) -> StoreResult<Consent>;

    /// Withdraws a consent once; moves the membership version, writes `consent_withdrawn`.
    async fn withdraw_consent(
        &self,
        room: &RoomId,
        id: &str,
        req: &WithdrawRequest,
        actor: &UserName,
    ) -> StoreResult<Withdraw>;

    /// Whether the room has a consent not withdrawn.
    async fn standing_consent(&self, room: &RoomId) -> StoreResult<bool>;

    /// Sets (or, with `None`, clears) the user's mute of the room.
    async fn set_muted(
        &self,
        room: &RoomId,
        user: &UserId,
        until: Option<Timestamp>,
    ) -> StoreResult<()>;

    /// Until when the user muted the room, when that is after `now`.
    async fn muted_until(
        &self,
        room: &RoomId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>>;

    /// The users who have muted the room until after `now` (for notifications, in one query).
    async fn muted_in(&self, room: &RoomId, now: Timestamp) -> StoreResult<Vec<UserId>>;

    /// Every user of the town's directory (whose last token named the town).
    async fn town_users(&self, town: &TownId) -> StoreResult<Vec<DirectoryUser>>;

    /// Records that a token of `user` was accepted at `at`.
    async fn seen(&self, user: &UserId, at: Timestamp) -> StoreResult<()>;
}

/// `household` as stored: a JSON array of `{"name","relation"}`.
pub(crate) fn household_json(household: &[HouseholdMember]) -> String {
    serde_json::to_string(household).unwrap_or_else(|_| "[]".to_string())
}

/// A resident as stored (v1 columns of `rooms` and the profile's own).
pub(crate) struct ResidentRow {
    pub id: Option<String>,
    pub name: Option<String>,
    pub kana: Option<String>,
    pub birth_year: Option<i64>,
    pub household: Option<String>,
    pub notes: Option<String>,
}

impl ResidentRow {
    pub(crate) fn into_profile(self) -> StoreResult<Option<ResidentProfile>> {
        let (Some(id), Some(name)) = (self.id, self.name) else {
            return Ok(None);
        };
        let household = match self.household {
            None => Vec::new(),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("resident household: {e}")))?,
        };
        Ok(Some(ResidentProfile {
            id,
            name,
            kana: self.kana,
            birth_year: self.birth_year.and_then(|y| i32::try_from(y).ok()),
            household,
            notes: self.notes,
        }))
    }
}

/// A `consents` row as stored.
pub(crate) struct ConsentRow {
    pub id: String,
    pub given_by: String,
    pub relation: String,
    pub date: String,
    pub explained_by: String,
    pub scope: Option<String>,
    pub document: Option<String>,
    pub recorded_by_id: String,
    pub recorded_by_name: String,
    pub recorded_at: i64,
    pub withdrawn_date: Option<String>,
    pub withdrawn_note: Option<String>,
    pub withdrawn_by_id: Option<String>,
    pub withdrawn_by_name: Option<String>,
    pub withdrawn_at: Option<i64>,
}

/// The columns of a [`ConsentRow`], in its order.
pub(crate) const CONSENT_COLUMNS: &str = "id, given_by, relation, date, explained_by, scope, \
     document, recorded_by_id, recorded_by_name, recorded_at, withdrawn_date, withdrawn_note, \
     withdrawn_by_id, withdrawn_by_name, withdrawn_at";

fn date(s: &str) -> StoreResult<Date> {
    Date::parse_as("", s).map_err(|_| StoreError::Corrupt(format!("consent date '{s}'")))
}

impl ConsentRow {
    pub(crate) fn into_consent(self) -> StoreResult<Consent> {
        let withdrawal = match (
            self.withdrawn_date,
            self.withdrawn_by_id,
            self.withdrawn_by_name,
            self.withdrawn_at,
        ) {
            (Some(d), Some(by_id), Some(by_name), Some(at)) => Some(Withdrawal {
                date: date(&d)?,
                note: self.withdrawn_note,
                recorded_by: UserName {
                    id: convert::user_id(by_id)?,
                    name: convert::name(by_name)?,
                },
                recorded_at: convert::time(at),
            }),
            _ => None,
        };
        Ok(Consent {
            id: self.id,
            given_by: convert::name(self.given_by)?,
            relation: self.relation,
            date: date(&self.date)?,
            explained_by: convert::name(self.explained_by)?,
            scope: self.scope,
            document: self
                .document
                .map(|d| {
                    yui_protocol::ids::AttachmentId::parse(d)
                        .map_err(|e| StoreError::Corrupt(format!("consent document: {e}")))
                })
                .transpose()?,
            recorded_by: UserName {
                id: convert::user_id(self.recorded_by_id)?,
                name: convert::name(self.recorded_by_name)?,
            },
            recorded_at: convert::time(self.recorded_at),
            withdrawal,
        })
    }
}

/// A directory row as stored.
pub(crate) fn directory_user(
    id: String,
    name: String,
    profession: &str,
    org: String,
    last_seen: Option<i64>,
) -> StoreResult<DirectoryUser> {
    Ok(DirectoryUser {
        id: convert::user_id(id)?,
        name: convert::name(name)?,
        profession: convert::profession(profession)?,
        org: convert::name(org)?,
        last_seen: last_seen.map(convert::time),
    })
}

/// Adds to room summaries what 5.2 and 5.4 give them: the resident of each team room and the
/// user's mute (only when still ahead). `residents`: (room, brief); `muted`: (room, until).
/// A room list row's resident and mute columns, read in the list's own query (one query per
/// room list, which every `hello` sends).
pub(crate) struct Decoration {
    pub resident_id: Option<String>,
    pub resident_name: Option<String>,
    pub kana: Option<String>,
    pub muted_until: Option<i64>,
}

impl Decoration {
    /// A team room's resident, and a mute still running at `now`.
    pub(crate) fn apply(self, s: &mut yui_protocol::model::RoomSummary, now: Timestamp) {
        if s.kind == yui_protocol::model::RoomKind::Team {
            s.resident = self
                .resident_name
                .map(|name| yui_protocol::town::ResidentBrief {
                    id: self.resident_id.unwrap_or_default(),
                    name,
                    kana: self.kana,
                });
        }
        s.muted_until = self.muted_until.map(convert::time).filter(|&t| t > now);
    }
}

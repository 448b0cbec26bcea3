//! The domain's enums and records as they appear on the wire.

use crate::error::Invalid;
use crate::ids::{AttachmentId, ClientId, FileName, Name, RoomId, Title, TownId, UserId};
use crate::text::{self, Rule};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// A user's profession (token claim `profession`).
    Profession {
        Doctor = "doctor",
        Nurse = "nurse",
        Pharmacist = "pharmacist",
        CareManager = "care_manager",
        CareWorker = "care_worker",
        Therapist = "therapist",
        SocialWorker = "social_worker",
        Municipal = "municipal",
        Other = "other",
    }
);

wire_enum!(
    /// A user's hub-wide role (token claim `role`).
    UserRole { Member = "member", Coordinator = "coordinator", Admin = "admin" }
);

wire_enum!(
    /// A member's role in a team room.
    MemberRole { Member = "member", Owner = "owner" }
);

wire_enum!(
    /// `team`: one resident's (or household's) care team; `town`: a town's notice board.
    RoomKind { Team = "team", Town = "town" }
);

wire_enum!(
    /// `note` in team rooms, `notice` in town rooms.
    MessageKind { Note = "note", Notice = "notice" }
);

wire_enum!(
    /// A post's priority (PROTOCOL.md 5.2): `normal` unless the post says `urgent`.
    Priority { Normal = "normal", Urgent = "urgent" }
);

// `wire_enum!` derives no `Default`, so it cannot be derived here.
#[allow(clippy::derivable_impls)]
impl Default for Priority {
    fn default() -> Self {
        Priority::Normal
    }
}

impl Priority {
    pub fn is_normal(&self) -> bool {
        *self == Priority::Normal
    }
}

wire_enum!(
    /// The file types an attachment may have (PROTOCOL.md 5.3), checked against the content.
    AttachmentType {
        Jpeg = "image/jpeg",
        Png = "image/png",
        Webp = "image/webp",
        Pdf = "application/pdf",
    }
);

/// An uploaded file (PROTOCOL.md 5.3), as the upload answers it and a message lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub name: FileName,
    #[serde(rename = "type")]
    pub content_type: AttachmentType,
    pub size: u64,
    /// Lower-case hex of the content's SHA-256.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl RoomKind {
    /// The only message kind a room of this kind carries.
    pub fn message_kind(self) -> MessageKind {
        match self {
            RoomKind::Team => MessageKind::Note,
            RoomKind::Town => MessageKind::Notice,
        }
    }
}

/// A point in time, on the wire as RFC 3339 UTC with milliseconds (`2026-11-24T09:30:00.123Z`).
/// Kept as milliseconds since the epoch, which is also how the stores keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(serde::de::Error::custom)
    }
}

/// Who wrote a message, or whose read position it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: UserId,
    pub name: Name,
    pub profession: Profession,
    pub org: Name,
}

/// The short form of a user in `receipt` events and audit entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserName {
    pub id: UserId,
    pub name: Name,
}

/// A committed message. The fields of version 1.1 (PROTOCOL.md 5.2) default when absent, so a
/// message of a v1 hub still deserializes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub room: RoomId,
    pub seq: u64,
    pub id: String,
    pub client_id: ClientId,
    pub author: UserRef,
    pub kind: MessageKind,
    /// Empty only for a post with attachments or a retraction.
    pub body: String,
    pub at: Timestamp,
    #[serde(default)]
    pub priority: Priority,
    /// The users mentioned, with their names at commit.
    #[serde(default)]
    pub mentions: Vec<UserName>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// This message is a corrected version of message `replaces` (an edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<u64>,
    /// This message withdraws message `retracts`; its body is the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracts: Option<u64>,
    /// How many users confirmed it: in `history` and the messages endpoint only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirms: Option<u64>,
    /// The seq of its latest revision, if any: in `history` and the messages endpoint only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised: Option<u64>,
}

/// One confirmation (確認しました) in the `confirms` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub user: UserRef,
    pub at: Timestamp,
}

/// A room as listed in `welcome`, `room_added` and `GET /api/me/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub room: RoomId,
    pub kind: RoomKind,
    pub title: Title,
    pub town: TownId,
    pub last_seq: u64,
    pub read_seq: u64,
    pub unread: u64,
    /// Unread urgent messages (seq > read_seq).
    #[serde(default)]
    pub urgent: u64,
    /// Unread messages that mention the user.
    #[serde(default)]
    pub mentions: u64,
    /// Until when the user silenced the room's notifications (5.5); `null` when not muted or
    /// when that time has passed.
    #[serde(default)]
    pub muted_until: Option<Timestamp>,
    /// Team rooms with a resident: who the room is for (5.2, 5.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<crate::town::ResidentBrief>,
}

/// A member of a team room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: UserId,
    pub name: Name,
    pub profession: Profession,
    pub org: Name,
    pub role: MemberRole,
    pub read_seq: u64,
}

/// One read position in `receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    pub user: UserRef,
    pub seq: u64,
    pub at: Timestamp,
}

/// The resident (or household) a team room is for: `id` 1-64 and `name` 1-100 characters after
/// trimming white space, both under the [`Rule::Line`] of names (PROTOCOL.md 5.1). Deserializing
/// goes through [`Resident::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawResident")]
pub struct Resident {
    pub id: String,
    pub name: String,
}

#[derive(Deserialize)]
struct RawResident {
    id: LineText,
    name: LineText,
}

/// A string under [`Rule::Line`], refused by serde so the path names the field.
struct LineText(String);

impl<'de> Deserialize<'de> for LineText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text::apply_owned(Rule::Line, "", String::deserialize(d)?)
            .map(LineText)
            .map_err(text::de_error)
    }
}

impl TryFrom<RawResident> for Resident {
    type Error = Invalid;
    fn try_from(r: RawResident) -> Result<Self, Invalid> {
        Resident::parse_as("", r.id.0, r.name.0)
    }
}

/// Most characters of a resident's id (its name is a [`Name`]).
pub const RESIDENT_ID_MAX: usize = 64;

impl Resident {
    /// Validates a resident, naming `resident.id` or `resident.name` on failure.
    pub fn parse(id: impl Into<String>, name: impl Into<String>) -> Result<Resident, Invalid> {
        Self::parse_as("resident", id, name)
    }

    fn parse_as(
        field: &str,
        id: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Resident, Invalid> {
        let sub = |f: &str| {
            if field.is_empty() {
                f.to_string()
            } else {
                format!("{field}.{f}")
            }
        };
        let id_field = sub("id");
        let id = text::apply_owned(Rule::Line, &id_field, id.into())?;
        let id = id.trim();
        if id.is_empty() || id.chars().count() > RESIDENT_ID_MAX {
            return Err(Invalid::bad(format!(
                "{id_field}: 1-{RESIDENT_ID_MAX} characters"
            )));
        }
        // The rule holds for what was sent, white space at the ends included.
        let name_field = sub("name");
        let name = text::apply_owned(Rule::Line, &name_field, name.into())?;
        let name = Name::parse_as(&name_field, name.trim())?;
        Ok(Resident {
            id: id.to_string(),
            name: name.into_string(),
        })
    }
}

wire_enum!(
    /// What an access-log entry records.
    AuditAction {
        ReadHistory = "read_history",
        RoomCreated = "room_created",
        RoomUpdated = "room_updated",
        MemberAdded = "member_added",
        MemberUpdated = "member_updated",
        MemberRemoved = "member_removed",
        Search = "search",
        Export = "export",
        ReadAttachment = "read_attachment",
        ResidentUpdated = "resident_updated",
        ConsentRecorded = "consent_recorded",
        ConsentWithdrawn = "consent_withdrawn",
    }
);

/// One access-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The entry's place in the log (increasing): `before` of the next page.
    #[serde(default)]
    pub id: u64,
    pub at: Timestamp,
    pub actor: UserName,
    pub action: AuditAction,
    pub room: RoomId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let t = Timestamp::from_millis(1_795_426_200_123);
        let s = serde_json::to_string(&t).unwrap_or_default();
        assert!(s.ends_with(".123Z\""), "{s}");
        let back: Timestamp = serde_json::from_str(&s).unwrap_or(Timestamp(0));
        assert_eq!(back, t);
    }
}

//! The HTTP API's bodies (PROTOCOL.md section 4) as types: each request in its wire shape
//! (`…Body`, `…Query`: loose strings, so a wrong field gets a message that names it) and its
//! validated form (`…Request`, built with `TryFrom`), and each reply.

use crate::error::Invalid;
use crate::ids::{Name, RoomId, Title, TownId, UserId};
use crate::model::{
    AuditEntry, Confirmation, Member, MemberRole, Message, Profession, Reader, Resident, RoomKind,
    RoomSummary, Timestamp, UserRef,
};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

/// Access-log entries per page by default, and at most.
pub const AUDIT_DEFAULT: u32 = 100;
pub const AUDIT_MAX: u32 = 1000;

// ---- requests ----------------------------------------------------------------------------

/// `PUT /api/rooms/{room}` as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct PutRoomBody {
    pub kind: String,
    pub title: String,
    pub town: String,
    pub resident: Option<ResidentBody>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResidentBody {
    pub id: String,
    pub name: String,
}

/// `PUT /api/rooms/{room}`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRoomRequest {
    pub kind: RoomKind,
    pub title: Title,
    pub town: TownId,
    pub resident: Option<Resident>,
}

impl TryFrom<PutRoomBody> for PutRoomRequest {
    type Error = Invalid;

    fn try_from(body: PutRoomBody) -> Result<Self, Invalid> {
        let kind = RoomKind::parse(&body.kind)
            .ok_or_else(|| Invalid::bad("kind: must be 'team' or 'town'"))?;
        Ok(PutRoomRequest {
            kind,
            title: Title::parse(body.title)?,
            town: TownId::parse(body.town)?,
            resident: body
                .resident
                .map(|r| Resident::parse(r.id, r.name))
                .transpose()?,
        })
    }
}

/// `PUT /api/rooms/{room}/members/{user}` as sent (an empty body is `{}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PutMemberBody {
    pub role: Option<String>,
    pub name: Option<String>,
    pub profession: Option<String>,
    pub org: Option<String>,
}

/// `PUT /api/rooms/{room}/members/{user}`, validated. The profile is shown until the user's
/// first token arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutMemberRequest {
    pub role: Option<MemberRole>,
    pub name: Option<Name>,
    pub profession: Option<Profession>,
    pub org: Option<Name>,
}

impl TryFrom<PutMemberBody> for PutMemberRequest {
    type Error = Invalid;

    fn try_from(body: PutMemberBody) -> Result<Self, Invalid> {
        let role = match body.role.as_deref() {
            None => None,
            Some(r) => Some(MemberRole::parse(r).ok_or_else(|| {
                Invalid::bad(format!(
                    "role: unknown '{}' (member or owner)",
                    crate::text::shown(r)
                ))
            })?),
        };
        let name = body.name.map(Name::parse).transpose()?;
        let profession = match body.profession.as_deref() {
            None => None,
            Some(p) => Some(Profession::parse(p).ok_or_else(|| {
                Invalid::bad(format!("profession: unknown '{}'", crate::text::shown(p)))
            })?),
        };
        let org = body.org.map(|o| Name::parse_as("org", o)).transpose()?;
        Ok(PutMemberRequest {
            role,
            name,
            profession,
            org,
        })
    }
}

/// `POST /api/rooms/{room}/messages` as sent: the fields of a `post` frame.
pub type PostBody = crate::post::PostFields;

/// `POST /api/rooms/{room}/messages`, validated: the same rules as a `post` frame.
pub type PostRequest = crate::post::NewPost;

impl TryFrom<PostBody> for PostRequest {
    type Error = Invalid;

    fn try_from(b: PostBody) -> Result<Self, Invalid> {
        PostRequest::parse(b)
    }
}

/// `GET /api/rooms/{room}/receipts?seq=` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReceiptsQuery {
    pub seq: Option<String>,
}

/// `GET /api/rooms/{room}/receipts`, validated: `seq` at least 1 when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptsRequest {
    pub seq: Option<u64>,
}

impl TryFrom<ReceiptsQuery> for ReceiptsRequest {
    type Error = Invalid;

    fn try_from(q: ReceiptsQuery) -> Result<Self, Invalid> {
        Ok(ReceiptsRequest {
            seq: message_seq(q.seq.as_deref())?,
        })
    }
}

/// The `{seq}` of `/api/rooms/{room}/messages/{seq}/…`: a whole number, at least 1.
pub fn seq_param(v: &str) -> Result<u64, Invalid> {
    match message_seq(Some(v))? {
        Some(s) => Ok(s),
        None => Err(Invalid::bad("seq: must be at least 1")),
    }
}

fn message_seq(v: Option<&str>) -> Result<Option<u64>, Invalid> {
    match whole::<u64>("seq", v)? {
        Some(0) => Err(Invalid::bad("seq: must be at least 1")),
        s => Ok(s),
    }
}

/// `GET /api/rooms/{room}/messages?before=&limit=` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// A page of history, validated: `limit` as in the `history` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub before: Option<u64>,
    pub limit: u32,
}

impl TryFrom<PageQuery> for PageRequest {
    type Error = Invalid;

    fn try_from(q: PageQuery) -> Result<Self, Invalid> {
        let before = whole::<u64>("before", q.before.as_deref())?;
        let limit = crate::client::history_limit(whole::<i64>("limit", q.limit.as_deref())?)?;
        Ok(PageRequest { before, limit })
    }
}

/// `GET /api/audit?room=&user=&from=&to=&before=&limit=&format=` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    pub room: Option<String>,
    pub user: Option<String>,
    pub limit: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<String>,
    pub format: Option<String>,
}

/// An access-log query, validated: `limit` 1.., at most 1000 (CSV: 10000, and the default),
/// 100 when absent. `from`/`to`: a day `YYYY-MM-DD` in JST (from its start / to its end) or
/// an RFC 3339 instant (`to` excluded). `before`: an entry's `id` (the next page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRequest {
    pub room: Option<RoomId>,
    pub user: Option<UserId>,
    pub limit: u32,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub before: Option<u64>,
    pub csv: bool,
}

/// Most entries of one CSV download of the access log.
pub const AUDIT_CSV_MAX: u32 = 10_000;

/// A point in time of an access-log period: a JST day (its start, or with `end` the start of
/// the next day) or an RFC 3339 instant.
fn audit_time(name: &str, v: Option<&str>, end: bool) -> Result<Option<Timestamp>, Invalid> {
    let Some(v) = v else { return Ok(None) };
    let bad = || Invalid::bad(format!("{name}: a date YYYY-MM-DD or an RFC 3339 time"));
    if v.len() == 10 {
        let day = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| bad())?;
        let day = if end {
            day.succ_opt().ok_or_else(bad)?
        } else {
            day
        };
        let midnight = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
        // Midnight in Japan (UTC+9) is 15:00 UTC the day before.
        let utc = midnight.and_utc().timestamp_millis() - 9 * 3_600_000;
        return Ok(Some(Timestamp::from_millis(utc)));
    }
    let t = chrono::DateTime::parse_from_rfc3339(v).map_err(|_| bad())?;
    Ok(Some(Timestamp::from_millis(t.timestamp_millis())))
}

impl TryFrom<AuditQuery> for AuditRequest {
    type Error = Invalid;

    fn try_from(q: AuditQuery) -> Result<Self, Invalid> {
        let room = q.room.map(RoomId::parse).transpose()?;
        let user = q.user.map(UserId::parse).transpose()?;
        let csv = match q.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => return Err(Invalid::bad("format: json or csv")),
        };
        let (default, max) = if csv {
            (AUDIT_CSV_MAX, AUDIT_CSV_MAX)
        } else {
            (AUDIT_DEFAULT, AUDIT_MAX)
        };
        let limit = match whole::<i64>("limit", q.limit.as_deref())? {
            None => default,
            Some(n) if n < 1 => return Err(Invalid::bad("limit: must be at least 1")),
            Some(n) => n.min(i64::from(max)) as u32,
        };
        let from = audit_time("from", q.from.as_deref(), false)?;
        let to = audit_time("to", q.to.as_deref(), true)?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(Invalid::bad("from: must not be after to"));
            }
        }
        let before = whole::<u64>("before", q.before.as_deref())?;
        Ok(AuditRequest {
            room,
            user,
            limit,
            from,
            to,
            before,
            csv,
        })
    }
}

/// A query parameter that must be a whole number.
fn whole<T: std::str::FromStr>(name: &str, v: Option<&str>) -> Result<Option<T>, Invalid> {
    v.map(|s| {
        s.parse::<T>()
            .map_err(|_| Invalid::bad(format!("{name}: must be a whole number")))
    })
    .transpose()
}

// ---- replies -----------------------------------------------------------------------------

/// A room as `PUT` and `GET /api/rooms/{room}` answer it (town rooms list no members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomReply {
    pub room: RoomId,
    pub kind: RoomKind,
    pub title: Title,
    pub town: TownId,
    pub members: Vec<Member>,
    /// The resident profile (5.4); its `id` and `name` are v1's `resident`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<crate::town::ResidentProfile>,
}

/// `GET /api/rooms/{room}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesReply {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// `POST /api/rooms/{room}/messages`: 201 when new, 200 for a retry of the same `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostReply {
    pub seq: u64,
    pub id: String,
    pub at: Timestamp,
}

/// `GET /api/rooms/{room}/receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsReply {
    pub audience: u64,
    pub readers: Vec<Reader>,
    /// With `?seq=`: the audience's users whose read position is below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<UserRef>>,
}

/// `POST /api/rooms/{room}/messages/{seq}/confirm`: the message confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmReply {
    pub seq: u64,
}

/// `GET /api/rooms/{room}/messages/{seq}/confirms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmsReply {
    pub seq: u64,
    pub users: Vec<Confirmation>,
}

/// `GET /api/me/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsReply {
    pub rooms: Vec<RoomSummary>,
}

/// `GET /api/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReply {
    pub entries: Vec<AuditEntry>,
    /// Older entries match too: ask again with `before` = the last entry's `id`.
    #[serde(default)]
    pub more: bool,
}

/// `GET /readyz`: whether this node takes traffic, and what each dependency answered
/// (`"ok"`, `"timeout"` or the error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyReply {
    pub ready: bool,
    pub store: String,
    pub bus: String,
    pub draining: bool,
    pub node: String,
}

/// Every HTTP error: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room_body(resident: Option<(&str, &str)>) -> PutRoomBody {
        PutRoomBody {
            kind: "team".into(),
            title: "佐藤様".into(),
            town: "misaki".into(),
            resident: resident.map(|(id, name)| ResidentBody {
                id: id.into(),
                name: name.into(),
            }),
        }
    }

    #[test]
    fn a_resident_is_trimmed_and_bounded() {
        let ok = PutRoomRequest::try_from(room_body(Some((" r-1 ", " 佐藤 一郎 "))));
        let resident = ok.ok().and_then(|r| r.resident);
        assert_eq!(
            resident,
            Some(Resident {
                id: "r-1".into(),
                name: "佐藤 一郎".into()
            })
        );
        for (id, name) in [("  ", "x"), ("x", ""), (&*"i".repeat(65), "x")] {
            let e = PutRoomRequest::try_from(room_body(Some((id, name)))).err();
            assert_eq!(
                e.map(|e| e.code),
                Some(ErrorCode::BadRequest),
                "{id:?} {name:?}"
            );
        }
        let long_name = "名".repeat(101);
        assert!(PutRoomRequest::try_from(room_body(Some(("r", &long_name)))).is_err());
        assert!(PutRoomRequest::try_from(room_body(Some(("r", &long_name[..300])))).is_ok());
    }

    #[test]
    fn receipt_and_message_seqs() {
        let q = |seq: Option<&str>| {
            ReceiptsRequest::try_from(ReceiptsQuery {
                seq: seq.map(String::from),
            })
            .map(|r| r.seq)
            .ok()
        };
        assert_eq!(q(None), Some(None));
        assert_eq!(q(Some("7")), Some(Some(7)));
        assert_eq!(q(Some("0")), None);
        assert_eq!(q(Some("-1")), None);
        assert_eq!(seq_param("3").ok(), Some(3));
        assert!(seq_param("0").is_err() && seq_param("x").is_err());
    }

    #[test]
    fn a_bad_kind_is_named() {
        let mut b = room_body(None);
        b.kind = "ward".into();
        let e = PutRoomRequest::try_from(b).err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("kind: must be 'team' or 'town'"));
    }

    #[test]
    fn audit_limits() {
        let q = |limit: Option<&str>| AuditQuery {
            limit: limit.map(String::from),
            ..AuditQuery::default()
        };
        let limit = |l| AuditRequest::try_from(q(l)).map(|r| r.limit).ok();
        assert_eq!(limit(None), Some(AUDIT_DEFAULT));
        assert_eq!(limit(Some("5000")), Some(AUDIT_MAX));
        assert_eq!(limit(Some("0")), None);
        assert_eq!(limit(Some("ten")), None);
    }

    #[test]
    fn a_reply_without_resident_leaves_it_out() {
        let reply = RoomReply {
            room: RoomId::parse("r").unwrap_or_else(|e| panic!("{e:?}")),
            kind: RoomKind::Town,
            title: Title::parse("t").unwrap_or_else(|e| panic!("{e:?}")),
            town: TownId::parse("misaki").unwrap_or_else(|e| panic!("{e:?}")),
            members: Vec::new(),
            resident: None,
        };
        let v = serde_json::to_value(&reply).unwrap_or_default();
        assert!(v.get("resident").is_none(), "{v}");
        assert_eq!(v["members"], serde_json::json!([]));
    }
}

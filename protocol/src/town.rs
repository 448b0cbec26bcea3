//! PROTOCOL.md 5.4 and the mute of 5.5 as types: the resident profile, consents (同意書), the
//! town directory and a user's room settings. Each request in its wire shape (`…Body`,
//! `…Query`: loose strings, so a wrong field gets a message that names it) and its validated
//! form (`…Request`, built with `TryFrom`), and each reply.
//!
//! Bounds chosen where 5.4 is silent (docs/protocol.md, "Residents, consent, directory, mute"):
//! names 1-100 characters ([`Name`]); `kana` 1-100 characters of hiragana, katakana, the
//! prolonged mark and spaces; `birth_year` 1900 to this year; at most [`HOUSEHOLD_MAX`]
//! household members, each `relation` 1-[`RELATION_MAX`] characters; `notes`, a consent's
//! `scope` and a withdrawal's `note` at most [`NOTES_MAX`] characters under the body rule
//! (several lines allowed); dates `YYYY-MM-DD` from 1900; a directory query at most
//! [`QUERY_MAX`] characters.

use crate::error::Invalid;
use crate::ids::{AttachmentId, Name, UserId};
use crate::model::{Profession, Timestamp, UserName};
use crate::text::{self, Rule};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most members of a household in a resident profile.
pub const HOUSEHOLD_MAX: usize = 10;
/// Most characters of a relation (`長男`, `妻`, `本人`).
pub const RELATION_MAX: usize = 50;
/// Most characters of a kana reading.
pub const KANA_MAX: usize = 100;
/// Most characters of free text (notes, scope, a withdrawal's note).
pub const NOTES_MAX: usize = 2000;
/// Most characters of a directory query.
pub const QUERY_MAX: usize = 100;
/// Most users a directory answer lists.
pub const DIRECTORY_MAX: usize = 50;
/// The earliest birth year and date accepted.
pub const EARLIEST_YEAR: i32 = 1900;
/// Most characters of a consent's id.
pub const CONSENT_ID_MAX: usize = 64;

// ---- text helpers ------------------------------------------------------------------------

/// A line of text (names' rule), trimmed, 1-`max` characters.
fn line(field: &str, value: String, max: usize) -> Result<String, Invalid> {
    let value = text::apply_owned(Rule::Line, field, value)?;
    let value = value.trim();
    let n = value.chars().count();
    if n == 0 {
        return Err(Invalid::bad(format!("{field}: must not be empty")));
    }
    if n > max {
        return Err(Invalid::bad(format!("{field}: at most {max} characters")));
    }
    Ok(value.to_string())
}

/// A name, checked on what was sent, then trimmed.
fn a_name(field: &str, value: String) -> Result<Name, Invalid> {
    let value = text::apply_owned(Rule::Line, field, value)?;
    Name::parse_as(field, value.trim())
}

/// Free text under the body rule (CR LF stored as LF), trimmed; empty is `None`.
fn free_text(field: &str, value: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(value) = value else { return Ok(None) };
    let value = text::apply_owned(Rule::Body, field, value)?;
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > NOTES_MAX {
        return Err(Invalid::bad(format!(
            "{field}: at most {NOTES_MAX} characters"
        )));
    }
    Ok(Some(value.to_string()))
}

/// A kana character: hiragana (with ゝゞゟ), katakana (with the middle dot, ヽヾヿ), the
/// prolonged mark ー, a space or an ideographic space.
fn is_kana(c: char) -> bool {
    matches!(c,
        '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309F}' |
        '\u{30A1}'..='\u{30FF}' | ' ' | '\u{3000}')
}

/// A reading in kana: 1-100 characters of hiragana, katakana, ー and spaces, trimmed.
pub fn kana(field: &str, value: String) -> Result<String, Invalid> {
    let value = line(field, value, KANA_MAX)?;
    if !value.chars().all(is_kana) {
        return Err(Invalid::bad(format!(
            "{field}: only hiragana, katakana, ー and spaces (ふりがな)"
        )));
    }
    Ok(value)
}

/// The key lists of people are sorted and searched by: NFKC (full-width Latin and half-width
/// katakana folded), lower case, katakana as hiragana. So `カトウ`, `ｶﾄｳ` and `かとう` sort
/// together, in the order of the kana syllabary (五十音順), and `Sato` matches `sato`.
pub fn reading_key(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    value
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            c => c,
        })
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// A calendar date, `YYYY-MM-DD` on the wire, from 1900-01-01 to 9999-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    pub fn parse_as(field: &str, value: &str) -> Result<Date, Invalid> {
        let bad = || Invalid::bad(format!("{field}: a date as YYYY-MM-DD"));
        if value.len() != 10 {
            return Err(bad());
        }
        let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())?;
        if d.year() < EARLIEST_YEAR {
            return Err(Invalid::bad(format!(
                "{field}: not before {EARLIEST_YEAR}-01-01"
            )));
        }
        Ok(Date(d))
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    /// Today in Japan (UTC+9), where the hub's users sign their forms.
    pub fn today_jst() -> Date {
        let now = chrono::Utc::now() + chrono::Duration::hours(9);
        Date(now.date_naive())
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse_as("", &s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

// ---- resident profile --------------------------------------------------------------------

/// One person of the resident's household (8050 and double-care cases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdMember {
    pub name: Name,
    pub relation: String,
}

/// `PUT /api/rooms/{room}/resident` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResidentBody {
    pub name: String,
    pub kana: Option<String>,
    pub birth_year: Option<i64>,
    pub household: Option<Vec<HouseholdBody>>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HouseholdBody {
    pub name: String,
    pub relation: String,
}

/// `PUT /api/rooms/{room}/resident`, validated: the whole profile (what is left out is cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRequest {
    pub name: Name,
    pub kana: Option<String>,
    pub birth_year: Option<i32>,
    pub household: Vec<HouseholdMember>,
    pub notes: Option<String>,
}

impl TryFrom<ResidentBody> for ResidentRequest {
    type Error = Invalid;

    fn try_from(b: ResidentBody) -> Result<Self, Invalid> {
        let name = a_name("name", b.name)?;
        let kana = b.kana.map(|k| kana("kana", k)).transpose()?;
        let this_year = chrono::Utc::now().year();
        let birth_year = match b.birth_year {
            None => None,
            Some(y) if (i64::from(EARLIEST_YEAR)..=i64::from(this_year)).contains(&y) => {
                Some(y as i32)
            }
            Some(_) => {
                return Err(Invalid::bad(format!(
                    "birth_year: from {EARLIEST_YEAR} to {this_year}"
                )))
            }
        };
        let raw = b.household.unwrap_or_default();
        if raw.len() > HOUSEHOLD_MAX {
            return Err(Invalid::bad(format!(
                "household: at most {HOUSEHOLD_MAX} people"
            )));
        }
        let household = raw
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                Ok(HouseholdMember {
                    name: a_name(&format!("household[{i}].name"), h.name)?,
                    relation: line(
                        &format!("household[{i}].relation"),
                        h.relation,
                        RELATION_MAX,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, Invalid>>()?;
        Ok(ResidentRequest {
            name,
            kana,
            birth_year,
            household,
            notes: free_text("notes", b.notes)?,
        })
    }
}

/// The resident profile as `GET /api/rooms/{room}` shows it (`resident`). `id` and `name` are
/// the v1 `resident` (PROTOCOL.md 4); the rest is 5.4's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentProfile {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kana: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<i32>,
    #[serde(default)]
    pub household: Vec<HouseholdMember>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The resident as a team room's `RoomSummary` names it (enough to show and sort a room list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentBrief {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kana: Option<String>,
}

// ---- consents ----------------------------------------------------------------------------

/// `POST /api/rooms/{room}/consents` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConsentBody {
    pub given_by: String,
    pub relation: String,
    pub date: String,
    pub explained_by: String,
    pub scope: Option<String>,
    pub document: Option<String>,
}

/// `POST /api/rooms/{room}/consents`, validated. `date` is checked against today in the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest {
    pub given_by: Name,
    pub relation: String,
    pub date: Date,
    pub explained_by: Name,
    pub scope: Option<String>,
    pub document: Option<AttachmentId>,
}

/// A consent's id in a path: 1-64 characters of `A-Za-z0-9._-` (the hub makes 32 hex digits).
pub fn consent_id(field: &str, value: String) -> Result<String, Invalid> {
    let ok = !value.is_empty()
        && value.len() <= CONSENT_ID_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(value)
    } else {
        Err(Invalid::bad(format!(
            "{field}: 1-{CONSENT_ID_MAX} characters of A-Z a-z 0-9 . _ -"
        )))
    }
}

impl TryFrom<ConsentBody> for ConsentRequest {
    type Error = Invalid;

    fn try_from(b: ConsentBody) -> Result<Self, Invalid> {
        Ok(ConsentRequest {
            given_by: a_name("given_by", b.given_by)?,
            relation: line("relation", b.relation, RELATION_MAX)?,
            date: Date::parse_as("date", &b.date)?,
            explained_by: a_name("explained_by", b.explained_by)?,
            scope: free_text("scope", b.scope)?,
            document: b
                .document
                .map(|d| AttachmentId::parse_as("document", d))
                .transpose()?,
        })
    }
}

/// `POST /api/rooms/{room}/consents/{id}/withdraw` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WithdrawBody {
    pub date: String,
    pub note: Option<String>,
}

/// A withdrawal, validated (its date is checked against the consent's in the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawRequest {
    pub date: Date,
    pub note: Option<String>,
}

impl TryFrom<WithdrawBody> for WithdrawRequest {
    type Error = Invalid;

    fn try_from(b: WithdrawBody) -> Result<Self, Invalid> {
        Ok(WithdrawRequest {
            date: Date::parse_as("date", &b.date)?,
            note: free_text("note", b.note)?,
        })
    }
}

/// A consent's withdrawal: when it was withdrawn (the form's date), why, who recorded it, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub date: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub recorded_by: UserName,
    pub recorded_at: Timestamp,
}

/// A consent as recorded; never erased. `withdrawal` is `null` while it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: String,
    pub given_by: Name,
    pub relation: String,
    pub date: Date,
    pub explained_by: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<AttachmentId>,
    pub recorded_by: UserName,
    pub recorded_at: Timestamp,
    pub withdrawal: Option<Withdrawal>,
}

impl Consent {
    /// Given and not withdrawn.
    pub fn stands(&self) -> bool {
        self.withdrawal.is_none()
    }
}

/// `GET /api/rooms/{room}/consents`: every consent, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentsReply {
    pub consents: Vec<Consent>,
}

// ---- directory ---------------------------------------------------------------------------

/// `GET /api/towns/{town}/users?q=` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DirectoryQuery {
    pub q: Option<String>,
}

/// A directory query, validated: `q` trimmed, at most 100 characters; absent or blank lists
/// everyone (up to [`DIRECTORY_MAX`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRequest {
    pub q: Option<String>,
}

impl TryFrom<DirectoryQuery> for DirectoryRequest {
    type Error = Invalid;

    fn try_from(q: DirectoryQuery) -> Result<Self, Invalid> {
        let Some(raw) = q.q else {
            return Ok(DirectoryRequest { q: None });
        };
        let raw = text::apply_owned(Rule::Line, "q", raw)?;
        let raw = raw.trim();
        if raw.chars().count() > QUERY_MAX {
            return Err(Invalid::bad(format!("q: at most {QUERY_MAX} characters")));
        }
        Ok(DirectoryRequest {
            q: (!raw.is_empty()).then(|| raw.to_string()),
        })
    }
}

/// One user of a town's directory. `last_seen`: when a token of the user was last accepted (to
/// within five minutes), `null` for a user known only from a member's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: UserId,
    pub name: Name,
    pub profession: Profession,
    pub org: Name,
    pub last_seen: Option<Timestamp>,
}

/// `GET /api/towns/{town}/users`: sorted by reading ([`reading_key`] of the name); `more`:
/// further users matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryReply {
    pub users: Vec<DirectoryUser>,
    pub more: bool,
}

// ---- room settings -----------------------------------------------------------------------

/// `PUT /api/me/rooms/{room}/settings` as sent (`muted_until` absent is `null`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsBody {
    pub muted_until: Option<String>,
}

/// Furthest a mute reaches: one year (a longer silence is a membership question).
pub const MUTE_MAX_DAYS: i64 = 366;

/// A room's settings for one user, validated: `muted_until` RFC 3339, at most a year ahead; a
/// time already past is the same as `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsRequest {
    pub muted_until: Option<Timestamp>,
}

impl TryFrom<SettingsBody> for SettingsRequest {
    type Error = Invalid;

    fn try_from(b: SettingsBody) -> Result<Self, Invalid> {
        let Some(raw) = b.muted_until else {
            return Ok(SettingsRequest { muted_until: None });
        };
        let raw = text::apply_owned(Rule::Plain, "muted_until", raw)?;
        let t = chrono::DateTime::parse_from_rfc3339(&raw).map_err(|_| {
            Invalid::bad("muted_until: an RFC 3339 time (2026-12-01T18:00:00+09:00) or null")
        })?;
        let t = Timestamp::from_millis(t.timestamp_millis());
        let now = Timestamp::now();
        if t.millis() > now.millis() + MUTE_MAX_DAYS * 86_400_000 {
            return Err(Invalid::bad(format!(
                "muted_until: at most {MUTE_MAX_DAYS} days ahead"
            )));
        }
        Ok(SettingsRequest {
            muted_until: (t > now).then_some(t),
        })
    }
}

/// A room's settings for one user, as `PUT /api/me/rooms/{room}/settings` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub room: crate::ids::RoomId,
    pub muted_until: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident(f: impl FnOnce(&mut ResidentBody)) -> Result<ResidentRequest, Invalid> {
        let mut b = ResidentBody {
            name: " 佐藤 一郎 ".into(),
            ..ResidentBody::default()
        };
        f(&mut b);
        ResidentRequest::try_from(b)
    }

    #[test]
    fn kana_is_hiragana_katakana_and_the_prolonged_mark() {
        for ok in [
            "さとう いちろう",
            "サトウ　イチロウ",
            "ゆーこ",
            "ヴァイオレット・エヴァー",
        ] {
            assert!(kana("kana", ok.into()).is_ok(), "{ok}");
        }
        for bad in ["佐藤", "sato", "ｻﾄｳ", "さとう1", "", "   ", "さ\u{202e}と"] {
            assert!(kana("kana", bad.into()).is_err(), "{bad}");
        }
        assert!(kana("kana", "あ".repeat(101)).is_err());
    }

    #[test]
    fn a_resident_is_bounded() {
        let r = resident(|_| {}).ok();
        assert_eq!(
            r.map(|r| r.name.into_string()).as_deref(),
            Some("佐藤 一郎")
        );
        assert!(resident(|b| b.birth_year = Some(1899)).is_err());
        assert!(resident(|b| b.birth_year = Some(3000)).is_err());
        assert!(resident(|b| b.birth_year = Some(1938)).is_ok());
        let person = || HouseholdBody {
            name: "佐藤 花子".into(),
            relation: "妻".into(),
        };
        assert!(resident(|b| b.household = Some(vec![person(); 10])).is_ok());
        assert!(resident(|b| b.household = Some(vec![person(); 11])).is_err());
        let e = resident(|b| {
            b.household = Some(vec![HouseholdBody {
                name: "x\u{7}".into(),
                relation: "妻".into(),
            }])
        });
        assert!(e
            .err()
            .is_some_and(|e| e.message.starts_with("household[0].name")));
        assert!(resident(|b| b.notes = Some("あ".repeat(2001))).is_err());
        let notes = resident(|b| b.notes = Some("一行目\r\n二行目".into()));
        assert_eq!(
            notes.ok().and_then(|r| r.notes).as_deref(),
            Some("一行目\n二行目")
        );
    }

    #[test]
    fn dates() {
        assert!(Date::parse_as("date", "2026-12-01").is_ok());
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "26-12-01",
            "1899-12-31",
            "2026/12/01",
            "",
        ] {
            assert!(Date::parse_as("date", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reading_keys_fold_katakana_and_width() {
        assert_eq!(reading_key("カトウ"), reading_key("かとう"));
        assert_eq!(reading_key("ｶﾄｳ"), reading_key("かとう"));
        assert_eq!(reading_key("Ｓａｔｏ"), "sato");
        assert!(reading_key("あおき") < reading_key("カトウ"));
        assert!(reading_key("カトウ") < reading_key("わたなべ"));
    }

    #[test]
    fn mute_times() {
        let past = SettingsRequest::try_from(SettingsBody {
            muted_until: Some("2020-01-01T00:00:00Z".into()),
        });
        assert_eq!(past.ok().map(|s| s.muted_until), Some(None));
        let far = SettingsRequest::try_from(SettingsBody {
            muted_until: Some("2999-01-01T00:00:00Z".into()),
        });
        assert!(far.is_err());
        assert!(SettingsRequest::try_from(SettingsBody {
            muted_until: Some("tomorrow".into()),
        })
        .is_err());
    }
}

//! Search and export (PROTOCOL.md 5.5): the query strings as sent, validated here, and the
//! replies.
//!
//! - `GET /api/search?q=&room=&before=&limit=`: `q` is trimmed of white space, then holds 2-100
//!   characters (Unicode code points) under the line rule of 5.1 (no control or bidirectional
//!   character). White space splits it into words; every word must be found (AND), each as a
//!   substring, and each word holds at least 2 characters (one character cannot be looked up in
//!   a two-character index). `before` is the `id` of the last (oldest) result of the previous
//!   page; `limit` 1-50, default 20, larger clamped to 50.
//! - `GET /api/rooms/{room}/export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=csv|pdf`: days in Japan
//!   time (JST, UTC+9), both included, `from <= to`, at most [`EXPORT_MAX_DAYS`] days.

use crate::error::Invalid;
use crate::ids::RoomId;
use crate::model::Message;
use crate::text::{self, Rule};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const QUERY_MIN_CHARS: usize = 2;
pub const QUERY_MAX_CHARS: usize = 100;
/// Words of one query at most (each one more index lookup).
pub const QUERY_MAX_WORDS: usize = 10;
pub const SEARCH_DEFAULT: u32 = 20;
pub const SEARCH_MAX: u32 = 50;
/// The longest period one export covers, in days (a year, leap years included).
pub const EXPORT_MAX_DAYS: i64 = 366;

/// A search text: trimmed, 2-100 characters, words of 2 characters or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub fn parse(value: &str) -> Result<SearchText, Invalid> {
        let value = text::apply_owned(Rule::Line, "q", value.to_owned())?;
        let value = value.trim();
        let n = value.chars().count();
        if n < QUERY_MIN_CHARS {
            return Err(Invalid::bad(format!(
                "q: must hold at least {QUERY_MIN_CHARS} characters"
            )));
        }
        if n > QUERY_MAX_CHARS {
            return Err(Invalid::bad(format!(
                "q: must hold at most {QUERY_MAX_CHARS} characters"
            )));
        }
        let words: Vec<&str> = value.split_whitespace().collect();
        if words.len() > QUERY_MAX_WORDS {
            return Err(Invalid::bad(format!("q: at most {QUERY_MAX_WORDS} words")));
        }
        if words.iter().any(|w| w.chars().count() < QUERY_MIN_CHARS) {
            return Err(Invalid::bad(format!(
                "q: every word must hold at least {QUERY_MIN_CHARS} characters"
            )));
        }
        Ok(SearchText(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The words, each found as a substring of a matching message.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.0.split_whitespace()
    }
}

/// `GET /api/search` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub room: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// A search, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub text: SearchText,
    pub room: Option<RoomId>,
    /// The id of the last result of the previous page.
    pub before: Option<String>,
    pub limit: u32,
}

impl TryFrom<SearchQuery> for SearchRequest {
    type Error = Invalid;

    fn try_from(q: SearchQuery) -> Result<Self, Invalid> {
        let text = SearchText::parse(q.q.as_deref().unwrap_or(""))?;
        let room = q.room.map(|r| RoomId::parse_as("room", r)).transpose()?;
        let before = match q.before {
            None => None,
            Some(b) => {
                let ok = !b.is_empty()
                    && b.len() <= 64
                    && b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if !ok {
                    return Err(Invalid::bad("before: must be the id of a result"));
                }
                Some(b)
            }
        };
        let limit = match q.limit {
            None => SEARCH_DEFAULT,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n >= 1 => n.min(i64::from(SEARCH_MAX)) as u32,
                Ok(_) => return Err(Invalid::bad("limit: must be at least 1")),
                Err(_) => return Err(Invalid::bad("limit: must be a whole number")),
            },
        };
        Ok(SearchRequest {
            text,
            room,
            before,
            limit,
        })
    }
}

/// One result: the message, and a plain-text snippet of its body with the matched ranges.
/// `highlights` are `[start, end)` offsets into `snippet` in Unicode code points (never markup:
/// the client marks them up itself, e.g. with `<mark>` built as DOM nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    pub message: Message,
    pub snippet: String,
    pub highlights: Vec<[u32; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchReply {
    pub results: Vec<SearchResult>,
    pub more: bool,
}

/// The two export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Pdf,
}

/// `GET /api/rooms/{room}/export` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub format: Option<String>,
}

/// An export, validated: a period of whole days in JST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportRequest {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub format: ExportFormat,
}

fn day(name: &str, v: Option<&str>) -> Result<NaiveDate, Invalid> {
    let v = v.ok_or_else(|| Invalid::bad(format!("{name}: required (YYYY-MM-DD)")))?;
    if v.len() != 10 {
        return Err(Invalid::bad(format!("{name}: must be a date YYYY-MM-DD")));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| Invalid::bad(format!("{name}: must be a date YYYY-MM-DD")))
}

impl TryFrom<ExportQuery> for ExportRequest {
    type Error = Invalid;

    fn try_from(q: ExportQuery) -> Result<Self, Invalid> {
        let from = day("from", q.from.as_deref())?;
        let to = day("to", q.to.as_deref())?;
        if from > to {
            return Err(Invalid::bad("from: must not be after to"));
        }
        if (to - from).num_days() + 1 > EXPORT_MAX_DAYS {
            return Err(Invalid::bad(format!(
                "to: a period of at most {EXPORT_MAX_DAYS} days"
            )));
        }
        let format = match q.format.as_deref() {
            None | Some("csv") => ExportFormat::Csv,
            Some("pdf") => ExportFormat::Pdf,
            Some(_) => return Err(Invalid::bad("format: csv or pdf")),
        };
        Ok(ExportRequest { from, to, format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_bounds() {
        assert!(SearchText::parse("発熱").is_ok());
        assert!(SearchText::parse("  転倒  ").is_ok());
        assert!(SearchText::parse("熱").is_err());
        assert!(SearchText::parse(" 熱 ").is_err());
        assert!(SearchText::parse(&"あ".repeat(100)).is_ok());
        assert!(SearchText::parse(&"あ".repeat(101)).is_err());
        assert!(SearchText::parse("発熱 夜").is_err());
        assert!(SearchText::parse("発\u{0}熱").is_err());
        assert!(SearchText::parse("発\u{202E}熱").is_err());
        let t = SearchText::parse("発熱　 転倒").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.words().collect::<Vec<_>>(), vec!["発熱", "転倒"]);
    }

    #[test]
    fn export_dates() {
        let q = |f: &str, t: &str, fmt: Option<&str>| ExportQuery {
            from: Some(f.into()),
            to: Some(t.into()),
            format: fmt.map(String::from),
        };
        assert!(ExportRequest::try_from(q("2026-11-01", "2026-11-30", None)).is_ok());
        assert!(ExportRequest::try_from(q("2026-11-30", "2026-11-01", None)).is_err());
        assert!(ExportRequest::try_from(q("2026-02-30", "2026-03-01", None)).is_err());
        assert!(ExportRequest::try_from(q("2025-01-01", "2026-11-01", None)).is_err());
        assert!(ExportRequest::try_from(q("2026-11-01", "2026-11-01", Some("doc"))).is_err());
        assert!(ExportRequest::try_from(q("2026-1-1", "2026-11-01", None)).is_err());
    }
}

//! A post as the client sends it (PROTOCOL.md 3.2 and 5.2), through the `post` frame or
//! `POST /api/rooms/{room}/messages`: [`PostFields`] in its wire shape, [`NewPost`] validated.
//!
//! A [`NewPost`] can only be built through [`NewPost::parse`] (or [`NewPost::note`] for a v1
//! post), so its invariants hold wherever it goes:
//! - `body` follows the v1 rule (1-4000 code points, not only white space), except that it may be
//!   empty (`""`) when the post has at least one attachment or retracts a message;
//! - `mentions`: at most [`MAX_MENTIONS`] distinct user ids, in the order first sent;
//! - `attachments`: at most [`MAX_ATTACHMENTS`] distinct attachment ids, in the order first sent;
//! - at most one of `replaces` and `retracts`, each a seq of at least 1.

use crate::error::Invalid;
use crate::ids::{AttachmentId, Body, ClientId, UserId};
use crate::model::{MessageKind, Priority};
use crate::text;
use serde::{Deserialize, Serialize, Serializer};

/// Most users one post may mention.
pub const MAX_MENTIONS: usize = 20;
/// Most attachments one post may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// A post's fields as sent (loose where a precise message should name the field).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PostFields {
    pub client_id: String,
    pub body: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    #[serde(default)]
    pub attachments: Option<Vec<String>>,
    #[serde(default)]
    pub replaces: Option<u64>,
    #[serde(default)]
    pub retracts: Option<u64>,
}

/// What a revision does to the message it names (always an original, never a revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revision {
    /// A corrected version of message `seq` (an edit).
    Replaces(u64),
    /// Withdraws message `seq`; the body is the reason (may be empty).
    Retracts(u64),
}

impl Revision {
    /// The seq of the message revised.
    pub fn target(self) -> u64 {
        match self {
            Revision::Replaces(s) | Revision::Retracts(s) => s,
        }
    }

    pub fn replaces(self) -> Option<u64> {
        match self {
            Revision::Replaces(s) => Some(s),
            Revision::Retracts(_) => None,
        }
    }

    pub fn retracts(self) -> Option<u64> {
        match self {
            Revision::Retracts(s) => Some(s),
            Revision::Replaces(_) => None,
        }
    }
}

/// A validated post (see the module doc for its invariants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    client_id: ClientId,
    kind: Option<MessageKind>,
    /// `None`: the empty body, allowed only with attachments or a retraction.
    body: Option<Body>,
    priority: Priority,
    mentions: Vec<UserId>,
    attachments: Vec<AttachmentId>,
    revision: Option<Revision>,
}

impl NewPost {
    /// A plain v1 post: normal priority, no mentions, attachments or revision.
    pub fn note(client_id: ClientId, body: Body) -> NewPost {
        NewPost {
            client_id,
            kind: None,
            body: Some(body),
            priority: Priority::Normal,
            mentions: Vec::new(),
            attachments: Vec::new(),
            revision: None,
        }
    }

    /// The same post naming its kind.
    pub fn with_kind(mut self, kind: MessageKind) -> NewPost {
        self.kind = Some(kind);
        self
    }

    /// The same post with another priority.
    pub fn with_priority(mut self, priority: Priority) -> NewPost {
        self.priority = priority;
        self
    }

    /// Validates a post as sent, naming the field of the first problem.
    pub fn parse(f: PostFields) -> Result<NewPost, Invalid> {
        let client_id = ClientId::parse(f.client_id)?;
        let kind = f.kind.as_deref().map(message_kind).transpose()?;
        let priority = match f.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => Priority::parse(p).ok_or_else(|| {
                Invalid::bad(format!(
                    "priority: unknown '{}' (normal or urgent)",
                    text::shown(p)
                ))
            })?,
        };
        let mentions = distinct(
            "mentions",
            MAX_MENTIONS,
            f.mentions.unwrap_or_default(),
            UserId::parse_as,
        )?;
        let attachments = distinct(
            "attachments",
            MAX_ATTACHMENTS,
            f.attachments.unwrap_or_default(),
            AttachmentId::parse_as,
        )?;
        let revision = match (f.replaces, f.retracts) {
            (Some(_), Some(_)) => {
                return Err(Invalid::bad(
                    "replaces, retracts: a post may revise a message in one way only",
                ))
            }
            (Some(s), None) => Some(Revision::Replaces(seq("replaces", s)?)),
            (None, Some(s)) => Some(Revision::Retracts(seq("retracts", s)?)),
            (None, None) => None,
        };
        let may_be_empty =
            !attachments.is_empty() || matches!(revision, Some(Revision::Retracts(_)));
        // The body rule normalizes CR LF first, so "\r" is not empty: only "" is.
        let body = if f.body.is_empty() && may_be_empty {
            None
        } else {
            Some(Body::parse(f.body)?)
        };
        Ok(NewPost {
            client_id,
            kind,
            body,
            priority,
            mentions,
            attachments,
            revision,
        })
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    pub fn kind(&self) -> Option<MessageKind> {
        self.kind
    }

    /// The body; `""` for a post allowed an empty one.
    pub fn body(&self) -> &str {
        self.body.as_ref().map_or("", Body::as_str)
    }

    pub fn priority(&self) -> Priority {
        self.priority
    }

    pub fn mentions(&self) -> &[UserId] {
        &self.mentions
    }

    pub fn attachments(&self) -> &[AttachmentId] {
        &self.attachments
    }

    pub fn revision(&self) -> Option<Revision> {
        self.revision
    }
}

/// The wire shape of a post, for clients (the load tester, tests): fields of v1.1 only when set.
impl Serialize for NewPost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            client_id: &'a ClientId,
            body: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kind: Option<MessageKind>,
            #[serde(skip_serializing_if = "Priority::is_normal")]
            priority: Priority,
            #[serde(skip_serializing_if = "<[UserId]>::is_empty")]
            mentions: &'a [UserId],
            #[serde(skip_serializing_if = "<[AttachmentId]>::is_empty")]
            attachments: &'a [AttachmentId],
            #[serde(skip_serializing_if = "Option::is_none")]
            replaces: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            retracts: Option<u64>,
        }
        Wire {
            client_id: &self.client_id,
            body: self.body(),
            kind: self.kind,
            priority: self.priority,
            mentions: &self.mentions,
            attachments: &self.attachments,
            replaces: self.revision.and_then(Revision::replaces),
            retracts: self.revision.and_then(Revision::retracts),
        }
        .serialize(s)
    }
}

pub(crate) fn message_kind(k: &str) -> Result<MessageKind, Invalid> {
    MessageKind::parse(k).ok_or_else(|| {
        Invalid::bad(format!(
            "kind: unknown '{}' (note or notice)",
            text::shown(k)
        ))
    })
}

fn seq(field: &str, s: u64) -> Result<u64, Invalid> {
    if s == 0 {
        return Err(Invalid::bad(format!("{field}: must be at least 1")));
    }
    Ok(s)
}

/// Parses each value (naming `field[i]` on failure), drops repeats, keeps the first order, and
/// allows at most `max` distinct values.
fn distinct<T: PartialEq>(
    field: &str,
    max: usize,
    values: Vec<String>,
    parse: impl Fn(&str, String) -> Result<T, Invalid>,
) -> Result<Vec<T>, Invalid> {
    let mut out: Vec<T> = Vec::with_capacity(values.len().min(max));
    for (i, v) in values.into_iter().enumerate() {
        let v = parse(&format!("{field}[{i}]"), v)?;
        if !out.contains(&v) {
            if out.len() == max {
                return Err(Invalid::bad(format!("{field}: at most {max}")));
            }
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn fields(body: &str) -> PostFields {
        PostFields {
            client_id: "c1".into(),
            body: body.into(),
            ..PostFields::default()
        }
    }

    fn err(f: PostFields) -> (ErrorCode, String) {
        match NewPost::parse(f) {
            Ok(p) => panic!("accepted {p:?}"),
            Err(e) => (e.code, e.message),
        }
    }

    #[test]
    fn a_v1_post_is_a_normal_note() {
        let p = NewPost::parse(fields("訪問しました")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.priority(), Priority::Normal);
        assert!(p.mentions().is_empty() && p.attachments().is_empty());
        assert_eq!(p.revision(), None);
        assert_eq!(p.body(), "訪問しました");
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"client_id": "c1", "body": "訪問しました"})
        );
    }

    #[test]
    fn priorities() {
        let mut f = fields("x");
        f.priority = Some("urgent".into());
        let p = NewPost::parse(f).map(|p| p.priority());
        assert_eq!(p.ok(), Some(Priority::Urgent));
        let mut f = fields("x");
        f.priority = Some("high".into());
        let (code, msg) = err(f);
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.starts_with("priority:"), "{msg}");
    }

    #[test]
    fn mentions_are_distinct_valid_and_at_most_20() {
        let mut f = fields("x");
        f.mentions = Some(vec!["a".into(), "b".into(), "a".into()]);
        let p = NewPost::parse(f).unwrap_or_else(|e| panic!("{e:?}"));
        let ids: Vec<&str> = p.mentions().iter().map(UserId::as_str).collect();
        assert_eq!(ids, ["a", "b"]);

        let mut f = fields("x");
        f.mentions = Some((0..20).map(|i| format!("u{i}")).collect());
        assert!(NewPost::parse(f).is_ok());
        let mut f = fields("x");
        f.mentions = Some((0..21).map(|i| format!("u{i}")).collect());
        let (code, msg) = err(f);
        assert_eq!(
            (code, msg.as_str()),
            (ErrorCode::BadRequest, "mentions: at most 20")
        );

        let mut f = fields("x");
        f.mentions = Some(vec!["ok".into(), "not ok".into()]);
        let (code, msg) = err(f);
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.starts_with("mentions[1]:"), "{msg}");
    }

    #[test]
    fn attachments_are_distinct_valid_and_at_most_10() {
        let mut f = fields("x");
        f.attachments = Some((0..11).map(|i| format!("a{i}")).collect());
        assert_eq!(err(f).1, "attachments: at most 10");
        let mut f = fields("x");
        f.attachments = Some(vec!["a/b".into()]);
        assert!(err(f).1.starts_with("attachments[0]:"));
        let mut f = fields("x");
        f.attachments = Some(vec!["a1".into(), "a1".into()]);
        assert_eq!(
            NewPost::parse(f).map(|p| p.attachments().len()).ok(),
            Some(1)
        );
    }

    #[test]
    fn an_empty_body_needs_an_attachment_or_a_retraction() {
        assert_eq!(err(fields("")).0, ErrorCode::BadRequest);
        let mut f = fields("");
        f.attachments = Some(vec!["a1".into()]);
        assert_eq!(
            NewPost::parse(f).map(|p| p.body().to_string()).ok(),
            Some(String::new())
        );
        let mut f = fields("");
        f.retracts = Some(3);
        let p = NewPost::parse(f).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.revision(), Some(Revision::Retracts(3)));
        assert_eq!(p.body(), "");
        // An edit carries the corrected text.
        let mut f = fields("");
        f.replaces = Some(3);
        assert_eq!(err(f).0, ErrorCode::BadRequest);
        // Only "" may be empty: white space alone is still refused.
        let mut f = fields(" \n");
        f.retracts = Some(3);
        assert_eq!(err(f).0, ErrorCode::BadRequest);
        // And a long body is still too large.
        let mut f = fields(&"x".repeat(4001));
        f.attachments = Some(vec!["a1".into()]);
        assert_eq!(err(f).0, ErrorCode::TooLarge);
    }

    #[test]
    fn revisions() {
        let mut f = fields("訂正");
        f.replaces = Some(2);
        assert_eq!(
            NewPost::parse(f).map(|p| p.revision()).ok(),
            Some(Some(Revision::Replaces(2)))
        );
        let mut f = fields("x");
        f.replaces = Some(2);
        f.retracts = Some(2);
        assert_eq!(err(f).0, ErrorCode::BadRequest);
        let mut f = fields("x");
        f.replaces = Some(0);
        assert_eq!(err(f).1, "replaces: must be at least 1");
        let mut f = fields("x");
        f.retracts = Some(0);
        assert_eq!(err(f).1, "retracts: must be at least 1");
    }

    #[test]
    fn serializing_round_trips() {
        let f = PostFields {
            client_id: "c".into(),
            body: "".into(),
            kind: Some("note".into()),
            priority: Some("urgent".into()),
            mentions: Some(vec!["u1".into()]),
            attachments: Some(vec!["a1".into()]),
            replaces: None,
            retracts: Some(4),
        };
        let p = NewPost::parse(f).unwrap_or_else(|e| panic!("{e:?}"));
        let text = serde_json::to_string(&p).unwrap_or_default();
        let back: PostFields = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(NewPost::parse(back).ok(), Some(p));
    }
}

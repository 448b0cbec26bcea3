//! Frames a client sends (PROTOCOL.md 3.1, 3.2), parsed into validated types.
//!
//! [`parse_frame`] never panics and reports the first problem as an [`Invalid`] with the
//! protocol's code, together with the frame's `ref` when one could be read.

use crate::error::{ErrorCode, Invalid};
use crate::ids::{Ref, RoomId};
use crate::limits::{HISTORY_DEFAULT, HISTORY_MAX};
use crate::post::{NewPost, PostFields};
use crate::text::{self, Rule};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One client request, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello {
        token: String,
    },
    Refresh {
        token: String,
    },
    Ping,
    Subscribe {
        room: RoomId,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    Unsubscribe {
        room: RoomId,
    },
    Post {
        room: RoomId,
        #[serde(flatten)]
        post: NewPost,
    },
    Read {
        room: RoomId,
        seq: u64,
    },
    History {
        room: RoomId,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// Already clamped to 1..=200; 50 when the client left it out.
        limit: u32,
    },
    /// With `seq`, the reply also lists who has not read message `seq` (PROTOCOL.md 5.2).
    Receipts {
        room: RoomId,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Confirms (確認しました) message `seq` of the room; `seq` ≥ 1.
    Confirm {
        room: RoomId,
        seq: u64,
    },
    /// Who confirmed message `seq` of the room; `seq` ≥ 1.
    Confirms {
        room: RoomId,
        seq: u64,
    },
}

impl Request {
    /// The frame's `type`, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Refresh { .. } => "refresh",
            Request::Ping => "ping",
            Request::Subscribe { .. } => "subscribe",
            Request::Unsubscribe { .. } => "unsubscribe",
            Request::Post { .. } => "post",
            Request::Read { .. } => "read",
            Request::History { .. } => "history",
            Request::Receipts { .. } => "receipts",
            Request::Confirm { .. } => "confirm",
            Request::Confirms { .. } => "confirms",
        }
    }

    /// The JSON text of this request as a client sends it.
    pub fn to_json(&self, r#ref: Option<&Ref>) -> String {
        #[derive(Serialize)]
        struct Outgoing<'a> {
            #[serde(flatten)]
            req: &'a Request,
            #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
            r#ref: Option<&'a Ref>,
        }
        serde_json::to_string(&Outgoing { req: self, r#ref }).unwrap_or_default()
    }
}

/// A parsed client frame: the request and its `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub r#ref: Option<Ref>,
    pub request: Request,
}

/// A frame that failed: why, and the `ref` to echo when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub r#ref: Option<Ref>,
    pub invalid: Invalid,
}

/// Parses one text frame.
pub fn parse_frame(text: &str) -> Result<Frame, FrameError> {
    let fail = |r: Option<Ref>, invalid: Invalid| FrameError { r#ref: r, invalid };
    // A lone surrogate in any string (`"\ud800"`) fails here, naming its field.
    let value: Value = text::from_json_str(text).map_err(|mut e| {
        // A token is a credential: a bad one is `unauthorized` (PROTOCOL.md 3.1), this one too.
        if e.message.starts_with("token: ") {
            e.code = ErrorCode::Unauthorized;
        }
        fail(ref_only(text), e)
    })?;
    let Value::Object(mut map) = value else {
        return Err(fail(None, Invalid::bad("a frame must be a JSON object")));
    };
    let r#ref = match map.remove("ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Ref::parse(s).map_err(|e| fail(None, e))?),
        Some(_) => return Err(fail(None, Invalid::bad("ref: must be a string"))),
    };
    let kind = match map.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(fail(r#ref, Invalid::bad("type: must be a string"))),
        None => return Err(fail(r#ref, Invalid::bad("missing field `type`"))),
    };
    let value = Value::Object(map);
    parse_request(&kind, value)
        .map(|request| Frame {
            r#ref: r#ref.clone(),
            request,
        })
        .map_err(|invalid| fail(r#ref, invalid))
}

/// The `ref` of a frame that did not parse, when only another field was at fault (a lone
/// surrogate in `body`): skipped values are not decoded, so this reads past them.
fn ref_only(text: &str) -> Option<Ref> {
    #[derive(Deserialize)]
    struct RefOnly {
        #[serde(rename = "ref")]
        r#ref: Option<String>,
    }
    serde_json::from_str::<RefOnly>(text)
        .ok()
        .and_then(|r| r.r#ref)
        .and_then(|r| Ref::parse(r).ok())
}

fn fields<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, Invalid> {
    text::from_json_value(value)
}

/// A token is a credential: one that breaks the text rules is `unauthorized`, like any bad token.
fn token(value: Value) -> Result<String, Invalid> {
    #[derive(Deserialize)]
    struct Token {
        token: String,
    }
    let token = fields::<Token>(value)?.token;
    text::apply(Rule::Plain, &token).map_err(|e| Invalid {
        code: ErrorCode::Unauthorized,
        message: format!("token: {e}"),
    })?;
    Ok(token)
}

fn parse_request(kind: &str, value: Value) -> Result<Request, Invalid> {
    #[derive(Deserialize)]
    struct Subscribe {
        room: RoomId,
        since: Option<u64>,
    }
    #[derive(Deserialize)]
    struct RoomOnly {
        room: RoomId,
    }
    #[derive(Deserialize)]
    struct Receipts {
        room: RoomId,
        seq: Option<u64>,
    }
    #[derive(Deserialize)]
    struct Read {
        room: RoomId,
        seq: u64,
    }
    #[derive(Deserialize)]
    struct History {
        room: RoomId,
        before: Option<u64>,
        limit: Option<i64>,
    }
    Ok(match kind {
        "hello" => Request::Hello {
            token: token(value)?,
        },
        "refresh" => Request::Refresh {
            token: token(value)?,
        },
        "ping" => Request::Ping,
        "subscribe" => {
            let s: Subscribe = fields(value)?;
            Request::Subscribe {
                room: s.room,
                since: s.since,
            }
        }
        "unsubscribe" => Request::Unsubscribe {
            room: fields::<RoomOnly>(value)?.room,
        },
        "receipts" => {
            let r: Receipts = fields(value)?;
            Request::Receipts {
                room: r.room,
                seq: r.seq.map(|s| at_least_one("seq", s)).transpose()?,
            }
        }
        "confirm" | "confirms" => {
            let r: Read = fields(value)?;
            let seq = at_least_one("seq", r.seq)?;
            if kind == "confirm" {
                Request::Confirm { room: r.room, seq }
            } else {
                Request::Confirms { room: r.room, seq }
            }
        }
        "post" => {
            let room = fields::<RoomOnly>(value.clone())?.room;
            // Parsed by `NewPost` rather than by serde, so a long body keeps its `too_large`.
            let post = NewPost::parse(fields::<PostFields>(value)?)?;
            Request::Post { room, post }
        }
        "read" => {
            let r: Read = fields(value)?;
            Request::Read {
                room: r.room,
                seq: r.seq,
            }
        }
        "history" => {
            let h: History = fields(value)?;
            Request::History {
                room: h.room,
                before: h.before,
                limit: history_limit(h.limit)?,
            }
        }
        other => {
            return Err(Invalid::bad(format!(
                "unknown frame type '{}'",
                text::shown(other)
            )));
        }
    })
}

fn at_least_one(field: &str, n: u64) -> Result<u64, Invalid> {
    if n == 0 {
        return Err(Invalid::bad(format!("{field}: must be at least 1")));
    }
    Ok(n)
}

/// `limit` of a history page: absent is 50, above 200 is 200, below 1 is an error.
pub fn history_limit(limit: Option<i64>) -> Result<u32, Invalid> {
    match limit {
        None => Ok(HISTORY_DEFAULT),
        Some(n) if n < 1 => Err(Invalid::bad("limit: must be at least 1")),
        Some(n) => Ok(n.min(i64::from(HISTORY_MAX)) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    fn code(text: &str) -> Option<ErrorCode> {
        parse_frame(text).err().map(|e| e.invalid.code)
    }

    #[test]
    fn parses_each_frame() {
        let f =
            parse_frame(r#"{"type":"post","room":"r1","client_id":"c1","body":"hi","ref":"7"}"#);
        assert!(matches!(
            f,
            Ok(Frame {
                r#ref: Some(_),
                request: Request::Post { .. }
            })
        ));
        let f = parse_frame(r#"{"type":"history","room":"r1","limit":1000}"#);
        assert!(matches!(
            f,
            Ok(Frame {
                request: Request::History { limit: 200, .. },
                ..
            })
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"ping"}"#),
            Ok(Frame {
                request: Request::Ping,
                ..
            })
        ));
    }

    #[test]
    fn errors_have_codes_and_keep_the_ref() {
        assert_eq!(code("{"), Some(ErrorCode::BadRequest));
        assert_eq!(code("[1]"), Some(ErrorCode::BadRequest));
        assert_eq!(code(r#"{"type":"dance"}"#), Some(ErrorCode::BadRequest));
        assert_eq!(
            code(r#"{"type":"post","room":"r"}"#),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(r#"{"type":"subscribe","room":"r","since":-1}"#),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(r#"{"type":"history","room":"r","limit":0}"#),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(r#"{"type":"ping","ref":5}"#),
            Some(ErrorCode::BadRequest)
        );
        let long = "x".repeat(4001);
        let e = parse_frame(&format!(
            r#"{{"type":"post","room":"r","client_id":"c","body":"{long}","ref":"a"}}"#
        ));
        assert!(
            matches!(e, Err(FrameError { r#ref: Some(ref r), ref invalid }) if r.as_str() == "a" && invalid.code == ErrorCode::TooLarge)
        );
        let e = parse_frame(r#"{"type":"post","room":"BAD","client_id":"c","body":"x","ref":"q"}"#);
        assert!(matches!(e, Err(FrameError { r#ref: Some(_), .. })));
    }

    #[test]
    fn parses_the_frames_of_version_1_1() {
        let f = parse_frame(
            r#"{"type":"post","room":"r1","client_id":"c1","body":"","retracts":3,"priority":"urgent","mentions":["a","a","b"]}"#,
        );
        let Ok(Frame {
            request: Request::Post { post, .. },
            ..
        }) = f
        else {
            panic!("{f:?}")
        };
        assert_eq!(post.revision(), Some(crate::post::Revision::Retracts(3)));
        assert_eq!(post.priority(), crate::model::Priority::Urgent);
        assert_eq!(post.mentions().len(), 2);
        assert!(matches!(
            parse_frame(r#"{"type":"confirm","room":"r","seq":2}"#),
            Ok(Frame {
                request: Request::Confirm { seq: 2, .. },
                ..
            })
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"confirms","room":"r","seq":2}"#),
            Ok(Frame {
                request: Request::Confirms { seq: 2, .. },
                ..
            })
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"receipts","room":"r","seq":9}"#),
            Ok(Frame {
                request: Request::Receipts { seq: Some(9), .. },
                ..
            })
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"receipts","room":"r"}"#),
            Ok(Frame {
                request: Request::Receipts { seq: None, .. },
                ..
            })
        ));
        for bad in [
            r#"{"type":"confirm","room":"r","seq":0}"#,
            r#"{"type":"confirm","room":"r"}"#,
            r#"{"type":"confirms","room":"r","seq":-1}"#,
            r#"{"type":"receipts","room":"r","seq":0}"#,
            r#"{"type":"post","room":"r","client_id":"c","body":"x","replaces":1,"retracts":1}"#,
            r#"{"type":"post","room":"r","client_id":"c","body":"x","mentions":"a"}"#,
            r#"{"type":"post","room":"r","client_id":"c","body":"x","priority":"high"}"#,
            r#"{"type":"post","room":"r","client_id":"c","body":"","replaces":1}"#,
        ] {
            assert_eq!(code(bad), Some(ErrorCode::BadRequest), "{bad}");
        }
    }

    fn room() -> impl Strategy<Value = RoomId> {
        "[a-z0-9][a-z0-9._-]{0,20}".prop_filter_map("valid", |s| RoomId::parse(s).ok())
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            "[^\\x00]{0,40}".prop_map(|token| Request::Hello { token }),
            "[^\\x00]{0,40}".prop_map(|token| Request::Refresh { token }),
            Just(Request::Ping),
            (room(), proptest::option::of(any::<u64>()))
                .prop_map(|(room, since)| Request::Subscribe { room, since }),
            room().prop_map(|room| Request::Unsubscribe { room }),
            (room(), proptest::option::of(1u64..))
                .prop_map(|(room, seq)| Request::Receipts { room, seq }),
            (room(), 1u64..).prop_map(|(room, seq)| Request::Confirm { room, seq }),
            (room(), 1u64..).prop_map(|(room, seq)| Request::Confirms { room, seq }),
            (
                room(),
                "[A-Za-z0-9._:-]{1,64}",
                prop_oneof!["\\PC{0,50}[a-z]\\PC{0,50}", Just(String::new())],
                proptest::option::of(prop_oneof![Just("note"), Just("notice")]),
                proptest::option::of(prop_oneof![Just("normal"), Just("urgent")]),
                proptest::option::of(proptest::collection::vec("[a-z0-9]{1,8}", 0..25)),
                proptest::option::of(proptest::collection::vec("[a-z0-9]{1,8}", 0..12)),
                proptest::option::of(0u64..5),
                proptest::option::of(0u64..5),
            )
                .prop_filter_map(
                    "valid",
                    |(room, c, b, kind, priority, mentions, attachments, replaces, retracts)| {
                        let post = NewPost::parse(PostFields {
                            client_id: c,
                            body: b,
                            kind: kind.map(String::from),
                            priority: priority.map(String::from),
                            mentions,
                            attachments,
                            replaces,
                            retracts,
                        })
                        .ok()?;
                        Some(Request::Post { room, post })
                    }
                ),
            (room(), any::<u64>()).prop_map(|(room, seq)| Request::Read { room, seq }),
            (room(), proptest::option::of(any::<u64>()), 1u32..=200).prop_map(
                |(room, before, limit)| Request::History {
                    room,
                    before,
                    limit
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn no_bytes_make_parsing_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_frame(&text);
        }

        #[test]
        fn no_json_like_text_makes_parsing_panic(text in r#"\{("(type|room|ref|body|since|seq|limit|client_id|token|kind|priority|mentions|attachments|replaces|retracts)":("[a-z0-9]{0,5}"|-?[0-9]{1,20}|null|true|\[\]|\{\}),?){0,6}\}"#) {
            let _ = parse_frame(&text);
        }

        #[test]
        fn every_valid_frame_round_trips(req in request(), r in proptest::option::of("[a-z0-9]{0,64}")) {
            let r = r.and_then(|r| Ref::parse(r).ok());
            let text = req.to_json(r.as_ref());
            let parsed = parse_frame(&text);
            prop_assert_eq!(parsed, Ok(Frame { r#ref: r, request: req }));
        }
    }
}

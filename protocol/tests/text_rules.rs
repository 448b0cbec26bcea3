//! Property tests of PROTOCOL.md 5.1: generated strings holding U+0000, lone surrogates (sent as
//! JSON escapes), control characters, bidirectional controls and CR/CR LF, placed in every string
//! field of every client frame and every claim (and the HTTP bodies' types), are refused naming
//! the field, or normalized for bodies; valid Japanese text round-trips unchanged.

use proptest::prelude::*;
use serde_json::{json, Value};
use yui_protocol::claims::{Audience, Claims, Identity};
use yui_protocol::client::{parse_frame, Request};
use yui_protocol::ids::{Body, FileName, Name, Title};
use yui_protocol::model::Resident;
use yui_protocol::text::from_json_str;
use yui_protocol::ErrorCode;

/// One forbidden thing, as the JSON text that carries it inside a string literal.
#[derive(Debug, Clone)]
enum Bad {
    Nul,
    /// A lone surrogate escape: `\ud800`-`\udfff`, possibly followed by a non-low escape.
    Surrogate(u16, bool),
    /// A control character other than TAB, LF and CR (refused in bodies too).
    Control(char),
    /// TAB, LF or CR: refused in names, allowed (CR normalized) in bodies.
    LineBreak(char),
    Bidi(char),
}

impl Bad {
    fn json(&self) -> String {
        match self {
            Bad::Nul => r"\u0000".into(),
            Bad::Surrogate(n, true) => format!(r"\u{n:04x}\u0041"),
            Bad::Surrogate(n, false) => format!(r"\u{n:04x}"),
            Bad::Control(c) | Bad::LineBreak(c) | Bad::Bidi(c) => {
                format!(r"\u{:04x}", *c as u32)
            }
        }
    }
}

fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        Just(Bad::Nul),
        (0xD800u16..=0xDFFF, any::<bool>()).prop_map(|(n, b)| Bad::Surrogate(n, b)),
        prop_oneof![(1u32..=8), (11u32..=12), (14u32..=31), (0x7Fu32..=0x9F)]
            .prop_filter_map("char", char::from_u32)
            .prop_map(Bad::Control),
        prop_oneof![Just('\t'), Just('\n'), Just('\r')].prop_map(Bad::LineBreak),
        prop_oneof![(0x202Au32..=0x202E), (0x2066u32..=0x2069)]
            .prop_filter_map("char", char::from_u32)
            .prop_map(Bad::Bidi),
    ]
}

/// Japanese (and some ASCII) text that breaks no rule, not blank.
fn japanese(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[ぁ-ゖ]",
            "[ァ-ヺ]",
            "[一-龯]",
            "[ｦ-ﾟ]",
            "[a-zA-Z0-9]",
            Just("\u{3000}".to_string()),
            Just("（".to_string()),
            Just("℃".to_string()),
            Just("😀".to_string()),
        ],
        0..max,
    )
    .prop_map(|parts| format!("訪{}", parts.concat()))
}

/// The JSON string literal `"<prefix><bad><suffix>"`.
fn literal(prefix: &str, bad: &Bad, suffix: &str) -> String {
    let s = |t: &str| {
        let q = serde_json::to_string(t).unwrap_or_default();
        q[1..q.len() - 1].to_string()
    };
    format!("\"{}{}{}\"", s(prefix), bad.json(), s(suffix))
}

/// A valid frame of each type, with the names of its string fields (`type` and `ref` included).
fn frames() -> Vec<(Value, Vec<&'static str>)> {
    vec![
        (
            json!({"type":"hello","token":"t.t.t","ref":"a"}),
            vec!["type", "token", "ref"],
        ),
        (
            json!({"type":"refresh","token":"t.t.t","ref":"a"}),
            vec!["type", "token", "ref"],
        ),
        (json!({"type":"ping","ref":"a"}), vec!["type", "ref"]),
        (
            json!({"type":"subscribe","room":"r1","since":3,"ref":"a"}),
            vec!["type", "room", "ref"],
        ),
        (
            json!({"type":"unsubscribe","room":"r1","ref":"a"}),
            vec!["type", "room", "ref"],
        ),
        (
            json!({"type":"post","room":"r1","client_id":"c1","body":"訪問","kind":"note","ref":"a"}),
            vec!["type", "room", "client_id", "body", "kind", "ref"],
        ),
        (
            json!({"type":"read","room":"r1","seq":1,"ref":"a"}),
            vec!["type", "room", "ref"],
        ),
        (
            json!({"type":"history","room":"r1","before":9,"limit":5,"ref":"a"}),
            vec!["type", "room", "ref"],
        ),
        (
            json!({"type":"receipts","room":"r1","ref":"a"}),
            vec!["type", "room", "ref"],
        ),
    ]
}

/// `frame` as JSON text with `field`'s string value replaced by `literal`.
fn with_field(frame: &Value, field: &str, literal: &str) -> String {
    let mut f = frame.clone();
    f[field] = Value::String("\u{E000}PLACEHOLDER\u{E000}".into());
    serde_json::to_string(&f)
        .unwrap_or_default()
        .replace("\"\u{E000}PLACEHOLDER\u{E000}\"", literal)
}

/// Is `bad` allowed in a body (where it is normalized, or kept)?
fn allowed_in_body(bad: &Bad) -> bool {
    matches!(bad, Bad::LineBreak(_) | Bad::Bidi(_))
}

/// Is `bad` refused by the plain rule of `ref` (only NUL and lone surrogates)?
fn refused_by_plain(bad: &Bad) -> bool {
    matches!(bad, Bad::Nul | Bad::Surrogate(..))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_string_field_of_every_frame_refuses_forbidden_text(
        which in 0usize..9,
        field_pick in any::<prop::sample::Index>(),
        prefix in japanese(6),
        suffix in japanese(6),
        bad in bad(),
    ) {
        let (frame, fields) = &frames()[which];
        let field = fields[field_pick.index(fields.len())];
        let text = with_field(frame, field, &literal(&prefix, &bad, &suffix));
        let parsed = parse_frame(&text);
        if field == "body" && allowed_in_body(&bad) {
            // Normalized, never refused: CR LF and CR become LF.
            let Ok(f) = parsed else { return Err(TestCaseError::fail(format!("{text}: {parsed:?}"))) };
            let Request::Post { post, .. } = f.request else { return Err(TestCaseError::fail("not a post")) };
            let c = match &bad { Bad::LineBreak('\r') => '\n', Bad::LineBreak(c) | Bad::Bidi(c) => *c, _ => '?' };
            prop_assert_eq!(post.body(), format!("{prefix}{c}{suffix}"));
            return Ok(());
        }
        if (field == "ref" || field == "token") && !refused_by_plain(&bad) {
            // A ref is any short string but NUL; a token's text is the verifier's (base64url).
            return Ok(());
        }
        let e = match parsed {
            Err(e) => e.invalid,
            Ok(f) => return Err(TestCaseError::fail(format!("accepted {text}: {f:?}"))),
        };
        let code = if field == "token" { ErrorCode::Unauthorized } else { ErrorCode::BadRequest };
        prop_assert_eq!(e.code, code, "{}: {}", text, e.message);
        // The message names the field (an unknown `type` or `kind` is named by what it says).
        let named = match field {
            "type" => e.message.starts_with("type: ") || e.message.starts_with("unknown frame type"),
            "kind" => e.message.starts_with("kind: "),
            f => e.message.starts_with(&format!("{f}: ")),
        };
        prop_assert!(named, "{}: {}", text, e.message);
        // What is refused is never echoed back.
        prop_assert!(!e.message.contains('\0') && !e.message.chars().any(yui_protocol::text::is_bidi_control));
    }

    #[test]
    fn a_valid_japanese_post_round_trips(body in japanese(200), crlf in any::<bool>()) {
        let sent = if crlf { format!("{body}\r\n{body}") } else { body.clone() };
        let text = json!({"type":"post","room":"r1","client_id":"c1","body":sent}).to_string();
        let f = parse_frame(&text);
        let Ok(f) = f else { return Err(TestCaseError::fail(format!("{text}: {f:?}"))) };
        let Request::Post { post, .. } = f.request else { return Err(TestCaseError::fail("not a post")) };
        let want = if crlf { format!("{body}\n{body}") } else { body };
        prop_assert_eq!(post.body(), want.as_str());
    }

    #[test]
    fn every_claim_refuses_forbidden_text(
        claim in 0usize..8,
        prefix in japanese(4),
        bad in bad(),
    ) {
        // Characters a Rust string can hold go through `Identity::from_claims`; lone surrogates
        // only exist in the token's JSON, which the verifier decodes into `Claims` with serde_json.
        let names = ["sub", "name", "profession", "org", "town", "role", "iss", "aud"];
        let name = names[claim];
        let base = claims();
        let mut payload = serde_json::to_value(&base).unwrap_or_default();
        if name == "role" || name == "iss" {
            payload[name] = Value::String("member".into());
        }
        let lit = literal(&prefix, &bad, "");
        let text = with_field(&payload, name, &lit);
        match &bad {
            Bad::Surrogate(..) => {
                prop_assert!(serde_json::from_str::<Claims>(&text).is_err(), "{}", text);
            }
            _ => {
                let c: Claims = match serde_json::from_str(&text) {
                    Ok(c) => c,
                    Err(e) => return Err(TestCaseError::fail(format!("{text}: {e}"))),
                };
                let r = Identity::from_claims(&c);
                // iss and aud are plain strings: only NUL is refused there.
                if matches!(name, "iss" | "aud") && !matches!(bad, Bad::Nul) {
                    prop_assert!(r.is_ok(), "{}: {:?}", text, r);
                } else {
                    let e = match r { Err(e) => e, Ok(i) => return Err(TestCaseError::fail(format!("accepted {text}: {i:?}"))) };
                    let want = format!("claim {name}: ");
                    prop_assert!(e.message.starts_with(&want), "{}: {}", text, e.message);
                }
            }
        }
    }

    #[test]
    fn valid_japanese_claims_round_trip(name in japanese(60), org in japanese(60)) {
        let mut c = claims();
        c.name = name.clone();
        c.org = org.clone();
        let i = Identity::from_claims(&c);
        let Ok(i) = i else { return Err(TestCaseError::fail(format!("{i:?}"))) };
        prop_assert_eq!(i.user.name.as_str(), name.as_str());
        prop_assert_eq!(i.user.org.as_str(), org.as_str());
    }

    #[test]
    fn http_body_types_refuse_forbidden_text_naming_the_field(
        field in 0usize..6,
        prefix in japanese(6),
        bad in bad(),
    ) {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Bodies {
            title: Title,
            name: Name,
            org: Name,
            file: FileName,
            body: Body,
            resident: Resident,
        }
        let valid = json!({"title":"田中様宅","name":"佐藤 花子","org":"みさき訪問看護",
            "file":"体温表.pdf","body":"訪問","resident":{"id":"r-1","name":"田中 一郎"}});
        prop_assert!(from_json_str::<Bodies>(&valid.to_string()).is_ok());
        let (path, text) = match field {
            0 => ("title", with_field(&valid, "title", &literal(&prefix, &bad, "様"))),
            1 => ("name", with_field(&valid, "name", &literal(&prefix, &bad, "様"))),
            2 => ("org", with_field(&valid, "org", &literal(&prefix, &bad, "様"))),
            3 => ("file", with_field(&valid, "file", &literal(&prefix, &bad, ".pdf"))),
            4 => ("body", with_field(&valid, "body", &literal(&prefix, &bad, "様"))),
            _ => {
                let mut v = valid.clone();
                v["resident"]["name"] = Value::String("\u{E000}PLACEHOLDER\u{E000}".into());
                ("resident.name", v.to_string().replace("\"\u{E000}PLACEHOLDER\u{E000}\"", &literal(&prefix, &bad, "様")))
            }
        };
        let r = from_json_str::<Bodies>(&text);
        if path == "body" && allowed_in_body(&bad) {
            prop_assert!(r.is_ok(), "{}: {:?}", text, r);
            return Ok(());
        }
        let e = match r { Err(e) => e, Ok(b) => return Err(TestCaseError::fail(format!("accepted {text}: {b:?}"))) };
        prop_assert_eq!(e.code, ErrorCode::BadRequest);
        prop_assert!(e.message.starts_with(&format!("{path}: ")), "{}: {}", text, e.message);
    }
}

fn claims() -> Claims {
    Claims {
        sub: "nurse-1".into(),
        name: "佐藤 花子".into(),
        profession: "nurse".into(),
        org: "みさき訪問看護".into(),
        town: "misaki".into(),
        role: None,
        exp: 2_000_000_000,
        aud: Audience::One("yui".into()),
        iat: None,
        nbf: None,
        iss: Some("idp".into()),
        email: None,
    }
}

#[test]
fn a_long_body_keeps_too_large_through_serde() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Post {
        body: Body,
    }
    let text = json!({"body": "あ".repeat(4001)}).to_string();
    let e = from_json_str::<Post>(&text).map_err(|e| e.code);
    assert_eq!(e.map(|_| ()), Err(ErrorCode::TooLarge));
    // 4000 characters once CR LF is stored as LF are not too many.
    let text = json!({"body": "あ\r\n".repeat(2000)}).to_string();
    assert!(from_json_str::<Post>(&text).is_ok());
}

//! The text rules of PROTOCOL.md 5.1, in one place. Every string type of the protocol runs its
//! value through one of the three rules here before its own checks, so no type can forget them:
//!
//! - [`Rule::Plain`] (ids, client ids, towns, refs, tokens, other claims): no U+0000.
//! - [`Rule::Line`] (names, titles, orgs, file names, resident ids): no control character
//!   (Unicode `Cc`: U+0000-U+001F, U+007F-U+009F) and no bidirectional control
//!   (U+202A-U+202E, U+2066-U+2069).
//! - [`Rule::Body`] (message bodies): CR LF and a lone CR become LF, then no `Cc` other than TAB
//!   and LF.
//!
//! A lone surrogate cannot be held by a Rust `str`: it can only arrive as a JSON `\ud800` escape,
//! which `serde_json` refuses while decoding a string. [`from_json_str`] and
//! [`from_json_slice`] are the JSON entry points of the protocol: they turn that refusal (and any
//! other) into a `bad_request` whose message starts with the path of the field (`body`,
//! `resident.name`), and keep the code a type gave its error (`too_large` for a long body).

use crate::error::{ErrorCode, Invalid};
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::cell::RefCell;

/// Which rule a string follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No U+0000.
    Plain,
    /// No control character and no bidirectional control.
    Line,
    /// Line ends normalized to LF; no control character but TAB and LF.
    Body,
}

/// Why a string breaks its rule. The message names the offending character, never shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not hold U+0000")]
    Nul,
    #[error("must not hold the control character U+{0:04X}")]
    Control(u32),
    #[error("must not hold the bidirectional control U+{0:04X}")]
    Bidi(u32),
}

/// U+202A-U+202E (embeddings, overrides, pop) and U+2066-U+2069 (isolates).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks `value` against `rule`; for [`Rule::Body`] also normalizes line ends (no copy when
/// there is no CR).
pub fn apply(rule: Rule, value: &str) -> Result<Cow<'_, str>, TextError> {
    match rule {
        Rule::Plain => {
            if value.as_bytes().contains(&0) {
                return Err(TextError::Nul);
            }
            Ok(Cow::Borrowed(value))
        }
        Rule::Line => {
            for c in value.chars() {
                if c == '\0' {
                    return Err(TextError::Nul);
                }
                if c.is_control() {
                    return Err(TextError::Control(c as u32));
                }
                if is_bidi_control(c) {
                    return Err(TextError::Bidi(c as u32));
                }
            }
            Ok(Cow::Borrowed(value))
        }
        Rule::Body => {
            let value = if value.contains('\r') {
                Cow::Owned(value.replace("\r\n", "\n").replace('\r', "\n"))
            } else {
                Cow::Borrowed(value)
            };
            for c in value.chars() {
                if c == '\0' {
                    return Err(TextError::Nul);
                }
                // char::is_control is exactly Unicode's Cc.
                if c.is_control() && c != '\t' && c != '\n' {
                    return Err(TextError::Control(c as u32));
                }
            }
            Ok(value)
        }
    }
}

/// [`apply`] for an owned value, with a `bad_request` naming `field` on failure.
pub fn apply_owned(rule: Rule, field: &str, value: String) -> Result<String, Invalid> {
    match apply(rule, &value) {
        Ok(Cow::Borrowed(_)) => Ok(value),
        Ok(Cow::Owned(normalized)) => Ok(normalized),
        Err(e) => Err(Invalid::bad(labelled(field, &e.to_string()))),
    }
}

/// `field: message`, or just the message when there is no field.
pub(crate) fn labelled(field: &str, message: &str) -> String {
    if field.is_empty() {
        message.to_string()
    } else {
        format!("{field}: {message}")
    }
}

/// A value shown in an error message: at most 32 characters, controls and bidi controls
/// escaped, so an error never carries the text it refuses.
pub fn shown(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars().take(32) {
        if c.is_control() || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

thread_local! {
    /// The last error a protocol type reported through serde, when its code is not
    /// `bad_request`: serde errors carry only a message, so [`from_json_str`] finds the code here.
    static LAST_CODE: RefCell<Option<(ErrorCode, String)>> = const { RefCell::new(None) };
}

/// The serde error for a protocol type's `Invalid` (its message without a field label: the path
/// gives the field). Remembers a code other than `bad_request` for the JSON entry points.
pub(crate) fn de_error<E: serde::de::Error>(invalid: Invalid) -> E {
    if invalid.code != ErrorCode::BadRequest {
        LAST_CODE.with(|c| *c.borrow_mut() = Some((invalid.code, invalid.message.clone())));
    }
    E::custom(invalid.message)
}

fn take_code(message: &str) -> ErrorCode {
    LAST_CODE
        .with(|c| c.borrow_mut().take())
        .filter(|(_, m)| m == message)
        .map_or(ErrorCode::BadRequest, |(code, _)| code)
}

fn clear_code() {
    LAST_CODE.with(|c| *c.borrow_mut() = None);
}

/// A `serde_path_to_error` failure as an `Invalid` naming the field's path.
fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> Invalid {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let bare = full.strip_suffix(&suffix).unwrap_or(&full);
    let code = take_code(bare);
    let message = if path != "." {
        labelled(&path, &full)
    } else if inner.is_syntax() || inner.is_eof() {
        format!("malformed JSON: {full}")
    } else {
        full
    };
    Invalid { code, message }
}

/// Parses JSON text into `T`. A lone surrogate (`"\ud800"`), a string that breaks a type's rule,
/// a wrong type or a missing field is an `Invalid` whose message starts with the field's path.
pub fn from_json_str<T: DeserializeOwned>(text: &str) -> Result<T, Invalid> {
    from_json_slice(text.as_bytes())
}

/// [`from_json_str`] for bytes (HTTP bodies): text that is not UTF-8 is `bad_request` too.
pub fn from_json_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Invalid> {
    clear_code();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end()
        .map_err(|e| Invalid::bad(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Converts an already parsed JSON value into `T`, naming the field's path on failure.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Invalid> {
    clear_code();
    serde_path_to_error::deserialize(value).map_err(path_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_refuses_only_nul() {
        assert_eq!(apply(Rule::Plain, "a\0b"), Err(TextError::Nul));
        assert!(apply(Rule::Plain, "a\u{7}\u{202e}b").is_ok());
    }

    #[test]
    fn line_refuses_controls_and_bidi_controls() {
        assert_eq!(apply(Rule::Line, "a\0"), Err(TextError::Nul));
        for c in ['\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert_eq!(
                apply(Rule::Line, &format!("佐藤{c}")),
                Err(TextError::Control(c as u32))
            );
        }
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(
                apply(Rule::Line, &format!("x{c}y")),
                Err(TextError::Bidi(c as u32))
            );
        }
        // Marks that are not among the listed controls stay allowed (PROTOCOL.md 5.1 lists them).
        assert!(apply(Rule::Line, "佐藤\u{200F}花子\u{3000}（訪問看護）").is_ok());
    }

    #[test]
    fn body_normalizes_line_ends_and_allows_tab_and_lf() {
        assert_eq!(
            apply(Rule::Body, "a\r\nb\rc\n\td").as_deref(),
            Ok("a\nb\nc\n\td")
        );
        assert_eq!(apply(Rule::Body, "\r\r\n").as_deref(), Ok("\n\n"));
        assert!(matches!(
            apply(Rule::Body, "訪問しました"),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(apply(Rule::Body, "a\0"), Err(TextError::Nul));
        assert_eq!(apply(Rule::Body, "a\u{8}"), Err(TextError::Control(8)));
        assert_eq!(apply(Rule::Body, "a\u{85}"), Err(TextError::Control(0x85)));
        assert!(apply(Rule::Body, "a\u{202e}b").is_ok());
    }

    #[test]
    fn lone_surrogates_are_refused_naming_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            resident: Inner,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            name: String,
        }
        for text in [
            r#"{"resident":{"name":"a\ud800"}}"#,
            r#"{"resident":{"name":"a\udc00b"}}"#,
            r#"{"resident":{"name":"\ud800\u0041"}}"#,
            r#"{"resident":{"name":"\ud800\ud800"}}"#,
        ] {
            let e = from_json_str::<Outer>(text).map_err(|e| (e.code, e.message));
            assert!(
                matches!(&e, Err((ErrorCode::BadRequest, m)) if m.starts_with("resident.name: ")),
                "{text}: {e:?}"
            );
        }
        // A pair is one character.
        assert!(from_json_str::<Outer>(r#"{"resident":{"name":"\ud83d\ude00"}}"#).is_ok());
    }

    #[test]
    fn shown_escapes_what_it_refuses() {
        assert_eq!(shown("a\0\u{202e}b"), "a\\u{0000}\\u{202e}b");
    }
}

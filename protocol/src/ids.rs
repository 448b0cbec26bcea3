//! Validated string newtypes. Each can only be built through `parse`, so a value of the type is
//! always well-formed; serde goes through the same `parse`.

use crate::error::Invalid;
use crate::text::{self, Rule};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:expr, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` (the text rule of PROTOCOL.md 5.1 first, then the type's own),
            /// with a message naming the field on failure.
            pub fn parse(value: impl Into<String>) -> Result<Self, Invalid> {
                Self::parse_as($what, value)
            }

            /// [`Self::parse`], naming `field` in the message (e.g. `org` for a [`Name`]).
            pub fn parse_as(field: &str, value: impl Into<String>) -> Result<Self, Invalid> {
                let value = text::apply_owned($rule, field, value.into())?;
                let check: fn(&str) -> Result<(), Invalid> = $check;
                check(&value).map_err(|e| Invalid {
                    code: e.code,
                    message: text::labelled(field, &e.message),
                })?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// The message has no field label: the JSON entry points of [`text`] add the path.
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse_as("", s).map_err(text::de_error)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                $name::parse(s)
            }
        }
    };
}

fn chars_in(value: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = value.chars().count();
    if n < min {
        return Err(Invalid::bad("must not be empty"));
    }
    if n > max {
        return Err(Invalid::bad(format!("at most {max} characters")));
    }
    Ok(())
}

fn ascii_id(value: &str, max: usize, allowed: fn(u8) -> bool, set: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        return Err(Invalid::bad("must not be empty"));
    }
    if value.len() > max {
        return Err(Invalid::bad(format!("at most {max} characters")));
    }
    if !value.bytes().all(allowed) {
        return Err(Invalid::bad(format!("only {set} allowed")));
    }
    Ok(())
}

string_newtype!(
    /// Room id: 1-64 chars, `[a-z0-9][a-z0-9._-]*`.
    RoomId, "room", Rule::Plain, |v| {
        ascii_id(v, 64, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b), "a-z 0-9 . _ -")?;
        match v.as_bytes()[0] {
            b if b.is_ascii_lowercase() || b.is_ascii_digit() => Ok(()),
            _ => Err(Invalid::bad("must start with a-z or 0-9")),
        }
    }
);

string_newtype!(
    /// User id (the token's `sub`): 1-64 chars of `A-Za-z0-9._-`.
    UserId, "user id", Rule::Plain, |v| ascii_id(v, 64, |b| b.is_ascii_alphanumeric() || b"._-".contains(&b), "A-Z a-z 0-9 . _ -")
);

string_newtype!(
    /// Town id: 1-64 chars of `a-z0-9-`.
    TownId, "town", Rule::Plain, |v| ascii_id(v, 64, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-', "a-z 0-9 -")
);

string_newtype!(
    /// A post's idempotency key: 1-64 chars of `A-Za-z0-9._:-`.
    ClientId, "client_id", Rule::Plain, |v| ascii_id(v, 64, |b| b.is_ascii_alphanumeric() || b"._:-".contains(&b), "A-Z a-z 0-9 . _ : -")
);

string_newtype!(
    /// An attachment id (PROTOCOL.md 5.3), made by the hub when a file is uploaded: 1-64 chars
    /// of `A-Za-z0-9_-`.
    AttachmentId, "attachment id", Rule::Plain, |v| ascii_id(v, 64, |b| b.is_ascii_alphanumeric() || b"_-".contains(&b), "A-Z a-z 0-9 _ -")
);

string_newtype!(
    /// A frame's `ref`: any string of at most 64 chars, echoed in replies.
    Ref, "ref", Rule::Plain, |v| if v.chars().count() > 64 { Err(Invalid::bad("at most 64 characters")) } else { Ok(()) }
);

string_newtype!(
    /// A display name or organization: 1-100 chars, not only white space.
    Name, "name", Rule::Line, |v| { chars_in(v, 1, 100)?; not_blank(v) }
);

string_newtype!(
    /// A room title: 1-200 chars, not only white space.
    Title, "title", Rule::Line, |v| { chars_in(v, 1, 200)?; not_blank(v) }
);

fn not_blank(v: &str) -> Result<(), Invalid> {
    // char::is_whitespace is exactly Unicode's White_Space property.
    if v.chars().all(char::is_whitespace) {
        Err(Invalid::bad("must not be only white space"))
    } else {
        Ok(())
    }
}

string_newtype!(
    /// A file name (an attachment's `name`, PROTOCOL.md 5.3): 1-255 chars, not only white space,
    /// no `/` or `\\`, not `.` or `..`, under the [`Rule::Line`] of names.
    FileName, "name", Rule::Line, |v| {
        chars_in(v, 1, 255)?;
        not_blank(v)?;
        if v.contains(['/', '\\']) {
            return Err(Invalid::bad("must not hold / or \\"));
        }
        if v == "." || v == ".." {
            return Err(Invalid::bad("must not be . or .."));
        }
        Ok(())
    }
);

/// A message body: 1-4000 Unicode code points, not only white space, under [`Rule::Body`] (CR LF
/// and CR are stored as LF, so the length is counted after that). Too long is `too_large`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Body(String);

impl Body {
    pub fn parse(value: impl Into<String>) -> Result<Self, Invalid> {
        Self::parse_as("body", value)
    }

    /// [`Self::parse`], naming `field` in the message.
    pub fn parse_as(field: &str, value: impl Into<String>) -> Result<Self, Invalid> {
        let label = |e: Invalid| Invalid {
            code: e.code,
            message: text::labelled(field, &e.message),
        };
        let value = text::apply_owned(Rule::Body, field, value.into())?;
        if value.is_empty() {
            return Err(label(Invalid::bad("must not be empty")));
        }
        // Cheap bound first: 4000 code points are at most 16000 bytes.
        if value.len() > crate::limits::BODY_MAX_CHARS
            && value.chars().count() > crate::limits::BODY_MAX_CHARS
        {
            return Err(label(Invalid::too_large(format!(
                "at most {} characters",
                crate::limits::BODY_MAX_CHARS
            ))));
        }
        not_blank(&value).map_err(label)?;
        Ok(Body(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Body::parse_as("", String::deserialize(d)?).map_err(text::de_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn room_ids() {
        assert!(RoomId::parse("misaki-tanaka.1_a").is_ok());
        assert!(RoomId::parse("0abc").is_ok());
        assert!(RoomId::parse("").is_err());
        assert!(RoomId::parse("-abc").is_err());
        assert!(RoomId::parse("Abc").is_err());
        assert!(RoomId::parse("a".repeat(65)).is_err());
        assert!(RoomId::parse("a".repeat(64)).is_ok());
    }

    #[test]
    fn bodies() {
        assert!(Body::parse("訪問しました").is_ok());
        assert_eq!(
            Body::parse("").map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
        assert_eq!(
            Body::parse(" \u{3000}\n").map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
        assert!(Body::parse("あ".repeat(4000)).is_ok());
        assert_eq!(
            Body::parse("あ".repeat(4001)).map_err(|e| e.code),
            Err(ErrorCode::TooLarge)
        );
    }

    #[test]
    fn user_and_client_ids() {
        assert!(UserId::parse("nurse.sato-1_A").is_ok());
        assert!(UserId::parse("a b").is_err());
        assert!(ClientId::parse("c:1.2_3-x").is_ok());
        assert!(ClientId::parse("c/1").is_err());
        assert!(TownId::parse("misaki-2").is_ok());
        assert!(TownId::parse("Misaki").is_err());
        assert!(AttachmentId::parse("att_01HZ-x").is_ok());
        assert!(AttachmentId::parse("a.b").is_err());
        assert!(AttachmentId::parse("").is_err());
        assert!(AttachmentId::parse("a".repeat(65)).is_err());
    }
}

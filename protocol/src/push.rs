//! Web Push (PROTOCOL.md 5.6): a browser's push subscription as sent to `POST /api/me/push`
//! and `DELETE /api/me/push`, validated once here, and the payload a push carries.
//!
//! An endpoint is an absolute `https://` URL (also `http://` when the hub allows insecure
//! endpoints, for tests and closed networks) of at most [`MAX_ENDPOINT_BYTES`], with a host, no
//! user name or password and no fragment, obeying the text rules of 5.1. `p256dh` is the
//! browser's P-256 public key as an uncompressed point (65 bytes, `0x04` first), `auth` its
//! 16-byte secret, both base64url (RFC 8291 section 2; padding tolerated).

use crate::error::Invalid;
use crate::ids::{RoomId, Title};
use crate::text::{self, Rule};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The longest endpoint accepted (push services use a few hundred bytes).
pub const MAX_ENDPOINT_BYTES: usize = 2048;
/// An uncompressed P-256 point.
pub const P256DH_BYTES: usize = 65;
/// The authentication secret of RFC 8291.
pub const AUTH_BYTES: usize = 16;

/// `POST /api/me/push` as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscribeBody {
    pub endpoint: String,
    pub keys: KeysBody,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KeysBody {
    pub p256dh: String,
    pub auth: String,
}

/// `DELETE /api/me/push` as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct UnsubscribeBody {
    pub endpoint: String,
}

/// A push service URL, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    /// Checks `value`; `allow_insecure` also accepts `http://`.
    pub fn parse(value: &str, allow_insecure: bool) -> Result<Endpoint, Invalid> {
        text::apply(Rule::Line, value).map_err(|e| Invalid::bad(format!("endpoint: {e}")))?;
        if value.is_empty() {
            return Err(Invalid::bad("endpoint: must not be empty"));
        }
        if value.len() > MAX_ENDPOINT_BYTES {
            return Err(Invalid::bad(format!(
                "endpoint: at most {MAX_ENDPOINT_BYTES} bytes"
            )));
        }
        let url = url::Url::parse(value)
            .map_err(|e| Invalid::bad(format!("endpoint: not an absolute URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_insecure => {}
            "http" => {
                return Err(Invalid::bad(
                    "endpoint: must be https:// (this hub does not allow insecure endpoints)",
                ))
            }
            _ => return Err(Invalid::bad("endpoint: must be an https:// URL")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::bad("endpoint: must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::bad(
                "endpoint: must not carry a user name or password",
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid::bad("endpoint: must not have a fragment"));
        }
        Ok(Endpoint(value.to_owned()))
    }

    /// An endpoint read back from the hub's own store (checked when it was stored).
    pub fn trusted(value: String) -> Endpoint {
        Endpoint(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]`: the `aud` of the VAPID token (RFC 8292 section 2).
    pub fn origin(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => String::new(),
        }
    }
}

/// A subscription, validated: the endpoint and the browser's keys as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: Endpoint,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
}

impl Subscription {
    pub fn parse(body: SubscribeBody, allow_insecure: bool) -> Result<Subscription, Invalid> {
        let endpoint = Endpoint::parse(&body.endpoint, allow_insecure)?;
        let p256dh = decode("keys.p256dh", &body.keys.p256dh)?;
        if p256dh.len() != P256DH_BYTES || p256dh.first() != Some(&4) {
            return Err(Invalid::bad(format!(
                "keys.p256dh: must be an uncompressed P-256 point ({P256DH_BYTES} bytes, base64url)"
            )));
        }
        let auth = decode("keys.auth", &body.keys.auth)?;
        if auth.len() != AUTH_BYTES {
            return Err(Invalid::bad(format!(
                "keys.auth: must be {AUTH_BYTES} bytes (base64url)"
            )));
        }
        Ok(Subscription {
            endpoint,
            p256dh,
            auth,
        })
    }
}

fn decode(field: &str, value: &str) -> Result<Vec<u8>, Invalid> {
    if value.len() > 256 {
        return Err(Invalid::bad(format!("{field}: too long")));
    }
    let decoded = if value.ends_with('=') {
        URL_SAFE.decode(value)
    } else {
        URL_SAFE_NO_PAD.decode(value)
    };
    decoded.map_err(|_| Invalid::bad(format!("{field}: not base64url")))
}

/// base64url without padding, as Web Push writes keys.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// An email address for digests (the optional `email` claim): `local@domain`, at most
/// [`MAX_EMAIL_BYTES`], one `@`, a local part of at most 64 bytes, no white space, no control
/// or bidirectional character (5.1), none of `<>()[],;:"\`, and a domain of dot-separated
/// labels of letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse_as(field: &str, value: &str) -> Result<Email, Invalid> {
        text::apply(Rule::Line, value).map_err(|e| Invalid::bad(format!("{field}: {e}")))?;
        let bad = || Invalid::bad(format!("{field}: not an email address"));
        if value.len() > MAX_EMAIL_BYTES {
            return Err(Invalid::bad(format!(
                "{field}: at most {MAX_EMAIL_BYTES} bytes"
            )));
        }
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || domain.is_empty() || domain.contains('@') {
            return Err(bad());
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || "<>()[],;:\"\\".contains(c))
        {
            return Err(bad());
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if !domain.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(Email(value.to_owned()))
    }

    /// An address read back from the hub's own store (checked when it was stored).
    pub fn trusted(value: String) -> Email {
        Email(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `PUT /api/me/settings` as sent and as answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MySettings {
    pub email_digest: bool,
}

/// What a push carries (encrypted): that something is new in a room, never what or by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPayload {
    pub room: RoomId,
    pub title: Title,
    pub unread: u64,
    pub urgent: bool,
    pub mentioned: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(endpoint: &str, p256dh: &[u8], auth: &[u8]) -> SubscribeBody {
        SubscribeBody {
            endpoint: endpoint.into(),
            keys: KeysBody {
                p256dh: base64url(p256dh),
                auth: base64url(auth),
            },
        }
    }

    fn point() -> Vec<u8> {
        let mut p = vec![4u8];
        p.extend([7u8; 64]);
        p
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b",
            "sato.hanako@misaki-kango.jp",
            "田中@例え.jp",
            "x+tag@host.example",
        ] {
            assert!(Email::parse_as("email", ok).is_ok(), "{ok}");
        }
        let long = format!("{}@x.jp", "a".repeat(65));
        for bad in [
            "",
            "a",
            "@b",
            "a@",
            "a@@b",
            "a b@c",
            "a@b c",
            "<a@b>",
            "a@b,c@d",
            "a@-b.jp",
            "a@b..jp",
            "a\u{202E}@b",
            "a\u{7}@b",
            &long,
        ] {
            assert!(Email::parse_as("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_good_subscription_parses() {
        let s = Subscription::parse(body("https://push.example/abc", &point(), &[1; 16]), false);
        let s = s.map_err(|e| e.message);
        assert_eq!(
            s.map(|s| s.endpoint.origin()),
            Ok("https://push.example".to_string())
        );
    }

    #[test]
    fn bad_subscriptions_are_named() {
        let cases: Vec<(SubscribeBody, bool, &str)> = vec![
            (
                body("http://push.example/a", &point(), &[1; 16]),
                false,
                "endpoint",
            ),
            (
                body("ftp://push.example/a", &point(), &[1; 16]),
                true,
                "endpoint",
            ),
            (
                body("https://u:p@push.example/a", &point(), &[1; 16]),
                false,
                "endpoint",
            ),
            (
                body("https://push.example/a#x", &point(), &[1; 16]),
                false,
                "endpoint",
            ),
            (body("/relative", &point(), &[1; 16]), false, "endpoint"),
            (
                body("https://push.example/\u{0}", &point(), &[1; 16]),
                false,
                "endpoint",
            ),
            (
                body(
                    &format!("https://push.example/{}", "a".repeat(3000)),
                    &point(),
                    &[1; 16],
                ),
                false,
                "endpoint",
            ),
            (
                body("https://push.example/a", &[4; 33], &[1; 16]),
                false,
                "keys.p256dh",
            ),
            (
                body("https://push.example/a", &[5; 65], &[1; 16]),
                false,
                "keys.p256dh",
            ),
            (
                body("https://push.example/a", &point(), &[1; 15]),
                false,
                "keys.auth",
            ),
        ];
        for (b, insecure, field) in cases {
            let e = Subscription::parse(b.clone(), insecure)
                .err()
                .unwrap_or_else(|| panic!("{b:?} parsed"));
            assert!(e.message.starts_with(field), "{b:?}: {}", e.message);
        }
        let mut b = body("https://push.example/a", &point(), &[1; 16]);
        b.keys.auth = "***".into();
        assert!(Subscription::parse(b, false).is_err());
        assert!(
            Subscription::parse(body("http://127.0.0.1:9/a", &point(), &[1; 16]), true).is_ok()
        );
    }
}

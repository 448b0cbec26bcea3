//! JWT claims (PROTOCOL.md section 1) and the validated identity they give.

use crate::error::Invalid;
use crate::ids::{Name, TownId, UserId};
use crate::model::{Profession, UserRef, UserRole};
use crate::text::{self, Rule};
use serde::{Deserialize, Serialize};

/// `aud`: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(all) => all.iter().any(|a| a == aud),
        }
    }
}

/// The claims of a Yui token as they are signed. Field types are loose on purpose: a claim that
/// breaks the rules is reported by [`Identity::from_claims`] with a message naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub profession: String,
    pub org: String,
    pub town: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub exp: i64,
    pub aud: Audience,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Where email digests go (PROTOCOL.md 5.6); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Who a connection or request acts as, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserRef,
    pub town: TownId,
    pub role: UserRole,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The `email` claim, checked (5.6 digests).
    pub email: Option<crate::push::Email>,
}

impl Identity {
    /// Validates every claim's content (signature, time and audience are the verifier's job),
    /// the text rules of PROTOCOL.md 5.1 included: a claim that breaks them is named, and the
    /// verifier turns any failure into `unauthorized`.
    pub fn from_claims(c: &Claims) -> Result<Identity, Invalid> {
        let id = UserId::parse_as("claim sub", c.sub.as_str())?;
        let name = Name::parse_as("claim name", c.name.as_str())?;
        let org = Name::parse_as("claim org", c.org.as_str())?;
        let profession = Profession::parse(&c.profession).ok_or_else(|| {
            Invalid::bad(format!(
                "claim profession: unknown '{}'",
                text::shown(&c.profession)
            ))
        })?;
        let town = TownId::parse_as("claim town", c.town.as_str())?;
        let role = match c.role.as_deref() {
            None => UserRole::Member,
            Some(r) => UserRole::parse(r)
                .ok_or_else(|| Invalid::bad(format!("claim role: unknown '{}'", text::shown(r))))?,
        };
        // Checked against configuration (or not at all), but strings all the same.
        if let Some(iss) = &c.iss {
            plain("claim iss", iss)?;
        }
        match &c.aud {
            Audience::One(a) => plain("claim aud", a)?,
            Audience::Many(all) => all.iter().try_for_each(|a| plain("claim aud", a))?,
        }
        let email = c
            .email
            .as_deref()
            .map(|e| crate::push::Email::parse_as("claim email", e))
            .transpose()?;
        Ok(Identity {
            email,
            user: UserRef {
                id,
                name,
                profession,
                org,
            },
            town,
            role,
            exp: c.exp,
        })
    }

    pub fn id(&self) -> &UserId {
        &self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }

    /// Coordinator of `town`, or admin: may manage that town's rooms.
    pub fn manages_town(&self, town: &TownId) -> bool {
        self.is_admin() || (self.role == UserRole::Coordinator && &self.town == town)
    }
}

fn plain(field: &str, value: &str) -> Result<(), Invalid> {
    text::apply(Rule::Plain, value)
        .map(drop)
        .map_err(|e| Invalid::bad(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            iss: None,
            email: None,
        }
    }

    #[test]
    fn valid_claims_give_an_identity() {
        let id = Identity::from_claims(&claims());
        assert!(
            matches!(id, Ok(ref i) if i.role == UserRole::Member && i.user.profession == Profession::Nurse)
        );
    }

    #[test]
    fn each_bad_claim_is_named() {
        let mut c = claims();
        c.profession = "wizard".into();
        assert!(Identity::from_claims(&c).is_err_and(|e| e.message.contains("profession")));
        let mut c = claims();
        c.town = "Misaki".into();
        assert!(Identity::from_claims(&c).is_err_and(|e| e.message.contains("town")));
        let mut c = claims();
        c.role = Some("king".into());
        assert!(Identity::from_claims(&c).is_err_and(|e| e.message.contains("role")));
        let mut c = claims();
        c.name = String::new();
        assert!(Identity::from_claims(&c).is_err_and(|e| e.message.contains("name")));
    }

    #[test]
    fn audience_may_be_a_list() {
        let a: Audience =
            serde_json::from_str(r#"["x","yui"]"#).unwrap_or(Audience::One(String::new()));
        assert!(a.contains("yui"));
        assert!(!a.contains("z"));
    }
}

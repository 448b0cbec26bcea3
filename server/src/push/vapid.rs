//! The hub's VAPID key (RFC 8292): a P-256 key pair made on first start and kept in the store
//! (one for every node), and the `Authorization: vapid t=…, k=…` header of each push request:
//! an ES256 JWT with `aud` the endpoint's origin, `exp` at most 24 h ahead (12 h here) and
//! `sub` the configured contact.

use crate::store::push::VapidKey;
use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::nid::Nid;
use yui_protocol::push::base64url;

/// How long a VAPID token is valid (RFC 8292 allows at most 24 h).
pub const TOKEN_LIFETIME_SECS: i64 = 12 * 3600;

/// A new key pair, as stored.
pub fn generate() -> anyhow::Result<VapidKey> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).context("P-256 group")?;
    let key = EcKey::generate(&group).context("generating the VAPID key")?;
    let private_pem = openssl::pkey::PKey::from_ec_key(key.clone())
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .context("encoding the VAPID key")?;
    let mut ctx = BigNumContext::new().context("bn context")?;
    let public = key
        .public_key()
        .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
        .context("encoding the VAPID public key")?;
    Ok(VapidKey {
        private_pem: String::from_utf8(private_pem).context("PEM is text")?,
        public_key: base64url(&public),
    })
}

/// A loaded key: signs VAPID tokens.
pub struct Vapid {
    encoding: EncodingKey,
    public_key: String,
    subject: String,
}

#[derive(serde::Serialize)]
struct VapidClaims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl Vapid {
    pub fn load(key: &VapidKey, subject: String) -> anyhow::Result<Vapid> {
        let encoding = EncodingKey::from_ec_pem(key.private_pem.as_bytes())
            .context("the stored VAPID key is not a P-256 PKCS#8 key")?;
        Ok(Vapid {
            encoding,
            public_key: key.public_key.clone(),
            subject,
        })
    }

    /// The public key, base64url of the uncompressed point (`GET /api/config`).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to an endpoint of `origin`.
    pub fn authorization(&self, origin: &str, now_secs: i64) -> anyhow::Result<String> {
        let claims = VapidClaims {
            aud: origin,
            exp: now_secs + TOKEN_LIFETIME_SECS,
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)
            .context("signing the VAPID token")?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_a_token_its_public_key_verifies() {
        let key = generate().unwrap_or_else(|e| panic!("{e:#}"));
        let vapid =
            Vapid::load(&key, "mailto:ops@example.org".into()).unwrap_or_else(|e| panic!("{e:#}"));
        let header = vapid
            .authorization("https://push.example", 1_700_000_000)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let t = header
            .strip_prefix("vapid t=")
            .and_then(|r| r.split(", k=").next())
            .unwrap_or_else(|| panic!("header {header}"));
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &key.public_key,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw.len(), 65);
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(
            &base64url(&raw[1..33]),
            &base64url(&raw[33..65]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.set_audience(&["https://push.example"]);
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(t, &decoding, &v)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.claims["sub"], "mailto:ops@example.org");
        assert_eq!(data.claims["exp"], 1_700_000_000 + TOKEN_LIFETIME_SECS);
    }
}

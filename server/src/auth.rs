//! Token verification (and minting, for `yui token` and the demo): JWTs issued by the town's
//! identity provider, checked as PROTOCOL.md section 1 says.

use crate::config::{JwtAlgorithm, JwtArgs};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use yui_protocol::claims::{Audience, Claims, Identity};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token rejected: {0}")]
    Rejected(String),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no JWT key configured: set YUI_JWT_SECRET (or --jwt-secret), or YUI_JWT_PUBLIC_KEY with --jwt-algorithm rs256|es256")]
    Missing,
    #[error("cannot read the JWT public key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("bad JWT key: {0}")]
    Bad(String),
    #[error("minting needs the HS256 secret (a public key only verifies)")]
    CannotMint,
}

/// The configured HS256 secret (an empty one counts as none), else the demo secret in `--demo`.
fn hs256_secret<'a>(args: &'a JwtArgs, demo_secret: Option<&'a str>) -> Result<&'a str, KeyError> {
    args.jwt_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(demo_secret)
        .ok_or(KeyError::Missing)
}

/// Checks tokens. Cheap to share (`Arc`).
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    leeway: u64,
}

impl Verifier {
    pub fn from_args(args: &JwtArgs, demo_secret: Option<&str>) -> Result<Self, KeyError> {
        let (key, alg) = match args.jwt_algorithm {
            JwtAlgorithm::Hs256 => {
                let secret = hs256_secret(args, demo_secret)?;
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            JwtAlgorithm::Rs256 | JwtAlgorithm::Es256 => {
                let path = args.jwt_public_key.as_ref().ok_or(KeyError::Missing)?;
                let pem = std::fs::read(path).map_err(|source| KeyError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                if args.jwt_algorithm == JwtAlgorithm::Rs256 {
                    let key = DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| KeyError::Bad(e.to_string()))?;
                    (key, Algorithm::RS256)
                } else {
                    let key =
                        DecodingKey::from_ec_pem(&pem).map_err(|e| KeyError::Bad(e.to_string()))?;
                    (key, Algorithm::ES256)
                }
            }
        };
        let mut validation = Validation::new(alg);
        validation.set_audience(&[args.jwt_audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = args.jwt_leeway;
        validation.validate_nbf = true;
        if let Some(iss) = &args.jwt_issuer {
            validation.set_issuer(&[iss.as_str()]);
        }
        Ok(Verifier {
            key,
            validation,
            leeway: args.jwt_leeway,
        })
    }

    /// Verifies signature, algorithm, time and audience, then every claim's content.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Rejected(describe(e.kind())))?;
        let claims = data.claims;
        if let Some(iat) = claims.iat {
            if iat > now() + self.leeway as i64 {
                return Err(AuthError::Rejected("issued in the future (iat)".into()));
            }
        }
        Identity::from_claims(&claims).map_err(|e| AuthError::Rejected(e.message))
    }

    /// The clock leeway, seconds: a connection's token expires at `exp + leeway`.
    pub fn leeway(&self) -> u64 {
        self.leeway
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::ImmatureSignature => "not yet valid (nbf)".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "algorithm not accepted".into()
        }
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        ErrorKind::Json(e) => format!("bad claims: {e}"),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "malformed token".into()
        }
        other => format!("{other:?}"),
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Mints HS256 tokens with the configured secret.
pub struct Minter {
    key: EncodingKey,
    audience: String,
    issuer: Option<String>,
}

impl Minter {
    pub fn from_args(args: &JwtArgs, demo_secret: Option<&str>) -> Result<Self, KeyError> {
        if args.jwt_algorithm != JwtAlgorithm::Hs256 {
            return Err(KeyError::CannotMint);
        }
        let secret = hs256_secret(args, demo_secret)?;
        Ok(Minter {
            key: EncodingKey::from_secret(secret.as_bytes()),
            audience: args.jwt_audience.clone(),
            issuer: args.jwt_issuer.clone(),
        })
    }

    /// Mints a token for these claims (audience, issuer and times are filled in here).
    #[allow(clippy::too_many_arguments)]
    pub fn mint(
        &self,
        sub: &str,
        name: &str,
        profession: &str,
        org: &str,
        town: &str,
        role: Option<&str>,
        ttl_seconds: i64,
    ) -> Result<String, KeyError> {
        let iat = now();
        let claims = Claims {
            sub: sub.into(),
            name: name.into(),
            profession: profession.into(),
            org: org.into(),
            town: town.into(),
            role: role.map(str::to_owned),
            exp: iat + ttl_seconds,
            aud: Audience::One(self.audience.clone()),
            iat: Some(iat),
            nbf: None,
            iss: self.issuer.clone(),
            email: None,
        };
        // Refuse to mint what the hub would refuse.
        Identity::from_claims(&claims).map_err(|e| KeyError::Bad(e.message))?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| KeyError::Bad(e.to_string()))
    }
}

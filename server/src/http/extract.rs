//! Extractors that fail with the protocol's error shape: the bearer token (checked before
//! anything else) and JSON bodies.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use yui_protocol::claims::Identity;
use yui_protocol::limits::MAX_FRAME_BYTES;

/// The caller, from `Authorization: Bearer <jwt>`.
pub struct Auth(pub Identity);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be: Bearer <token>"))?;
        let identity = state.verifier.verify(token.trim())?;
        state.service.remember(&identity).await?;
        Ok(Auth(identity))
    }
}

/// A JSON body of at most 64 KiB, parsed with a `bad_request` that says what is wrong.
/// An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(ApiError::new(
                yui_protocol::ErrorCode::TooLarge,
                format!("body larger than {MAX_FRAME_BYTES} bytes"),
            ));
        }
        // An empty body reads as `{}`: optional fields default, required ones are named.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // The protocol's JSON entry point: every failure (a lone surrogate included) names its
        // field (PROTOCOL.md 5.1).
        yui_protocol::text::from_json_slice(bytes)
            .map(JsonBody)
            .map_err(ApiError::from)
    }
}

//! Extractors that fail with the protocol's error shape: the bearer token (checked before
//! anything else, then the user's rate limit) and JSON bodies (read up to the limit, never
//! past it).

use super::edge::{too_large, Edge};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use yui_protocol::claims::Identity;
use yui_protocol::limits::MAX_FRAME_BYTES;

/// The caller, from `Authorization: Bearer <jwt>`.
pub struct Auth(pub Identity);

impl FromRequestParts<AppState> for Auth {
    /// `401 unauthorized`, or `429 rate_limited` with `Retry-After`.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let identity = verify(parts, state).map_err(IntoResponse::into_response)?;
        // The same per-user limit as the WebSocket's, counted per user over all requests,
        // before the request costs the store anything.
        if let Some(edge) = parts.extensions.get::<Arc<Edge>>() {
            edge.check_rate(&identity.user.id)
                .map_err(IntoResponse::into_response)?;
        }
        state
            .service
            .remember(&identity)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Auth(identity))
    }
}

fn verify(parts: &Parts, state: &AppState) -> Result<Identity, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("Authorization must be: Bearer <token>"))?;
    Ok(state.verifier.verify(token.trim())?)
}

/// A JSON body of at most 64 KiB, parsed with a `bad_request` that says what is wrong.
/// An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        // Reading stops at the limit: past it the body is an error, not memory.
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FRAME_BYTES)
            .await
            .map_err(|e| {
                if is_length_limit(&e) {
                    too_large(MAX_FRAME_BYTES)
                } else {
                    ApiError::bad_request(format!("cannot read the body: {e}"))
                }
            })?;
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

/// Whether a body error (or any error under it) is a length limit being reached.
pub(super) fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

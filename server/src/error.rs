//! One error type for everything a client can be told, mapped to protocol codes and HTTP
//! statuses in one place. Internal causes go to the log; the client gets a generic message.

use crate::auth::AuthError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use yui_protocol::error::Invalid;
use yui_protocol::http::{ErrorBody, ErrorReply};
use yui_protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Client { code: ErrorCode, message: String },
    #[error("temporarily unavailable, retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Client {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// A room the user may not read looks exactly like one that does not exist.
    pub fn room_not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such room")
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Client { code, .. } => *code,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Logs server-side causes once, where the error leaves the hub.
    pub fn log(&self) {
        match self {
            ApiError::Client { .. } => {}
            ApiError::Unavailable(e) => tracing::warn!(error = %format!("{e:#}"), "unavailable"),
            ApiError::Internal(e) => tracing::error!(error = %format!("{e:#}"), "internal error"),
        }
        metrics::counter!("yui_errors_total", "code" => self.code().as_str()).increment(1);
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::Unavailable(e.into()),
            StoreError::Refused(message) => ApiError::bad_request(message),
            StoreError::Internal(_) | StoreError::Corrupt(_) => ApiError::Internal(e.into()),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::new(e.code, e.message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::unauthorized(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorReply {
            error: ErrorBody {
                code,
                message: self.to_string(),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

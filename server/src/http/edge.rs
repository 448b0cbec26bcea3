//! The HTTP edge under attack (PROTOCOL.md 5.1): the body limit enforced while reading, the
//! per-user rate limit, the browser's security headers and the WebSocket `Origin` check.
//! Everything here runs before a handler sees the request.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, HOST, ORIGIN, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use yui_protocol::ids::UserId;
use yui_protocol::ErrorCode;

/// What the HTTP edge is told by the configuration (`app` builds it from the command line).
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// The largest request body any route reads (JSON bodies: 64 KiB).
    pub max_body_bytes: usize,
    /// The largest body of an attachment upload (`--max-attachment-bytes`), the one route
    /// that reads more.
    pub max_attachment_bytes: usize,
    /// Per-user requests per second over the HTTP API, and the burst (the WebSocket's numbers).
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// Origins accepted on the WebSocket upgrade besides the hub's own, normalized
    /// (`scheme://host[:port]`, lower case, no default port, no trailing slash).
    pub allowed_origins: Vec<String>,
}

/// The edge's shared part: the settings and the per-user limiter.
pub struct Edge {
    pub settings: EdgeSettings,
    limiter: DefaultKeyedRateLimiter<UserId>,
    checks: AtomicU64,
}

/// Forget users idle long enough to be back at a full bucket, every this many checks.
const RETAIN_EVERY: u64 = 4096;

impl Edge {
    pub fn new(settings: EdgeSettings) -> Arc<Edge> {
        let per_second = NonZeroU32::new(settings.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Arc::new(Edge {
            settings,
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        })
    }

    /// Takes one request from `user`'s bucket, or says how long to wait.
    pub fn check_rate(&self, user: &UserId) -> Result<(), RateLimited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(user) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(RateLimited {
                    retry_after: retry_after(wait),
                })
            }
        }
    }
}

/// `429 rate_limited` with `Retry-After`, the body shaped as every other HTTP error.
#[derive(Debug)]
pub struct RateLimited {
    pub retry_after: u64,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let secs = self.retry_after;
        let mut resp = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry in {secs} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        resp
    }
}

/// Whole seconds to wait, at least one (`Retry-After` has no fractions).
fn retry_after(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Every route: a body declared larger than the limit is refused before anything is read, and
/// any other body is cut off at the limit while it is read (chunked bodies included), so a
/// handler that reads it gets an error instead of memory growing with the request.
pub async fn limit_body(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let max = if is_upload(&req) {
        edge.settings.max_attachment_bytes
    } else {
        edge.settings.max_body_bytes
    };
    if declared_length(req.headers()).is_some_and(|n| n > max as u64) {
        return too_large(max).into_response();
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, max));
    next.run(Request::from_parts(parts, body)).await
}

/// `POST /api/rooms/{room}/attachments` (the route was matched before this layer runs).
fn is_upload(req: &Request) -> bool {
    req.method() == axum::http::Method::POST
        && req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .is_some_and(|p| p.as_str() == UPLOAD_ROUTE)
}

/// The upload route, as the router names it.
pub const UPLOAD_ROUTE: &str = "/api/rooms/{room}/attachments";

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub fn too_large(max: usize) -> ApiError {
    ApiError::new(ErrorCode::TooLarge, format!("body larger than {max} bytes"))
}

/// The browser's security headers, on every response (an API answer opened in a tab is a
/// document too). Scripts and styles from the hub only, no inline script or style, no framing;
/// the service worker and the manifest from the hub.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; \
     manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

/// The WebSocket upgrade: a request with an `Origin` must come from the hub's own origin (the
/// one its `Host` names, over http or https) or one configured; others get 403. Requests
/// without `Origin` (not a browser) pass.
pub async fn check_origin(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(ORIGIN) {
        let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
        let ok = origin
            .to_str()
            .ok()
            .and_then(normalize_origin)
            .is_some_and(|o| origin_allowed(&o, host, &edge.settings.allowed_origins));
        if !ok {
            return ApiError::forbidden("this origin may not open a connection").into_response();
        }
    }
    next.run(req).await
}

/// `scheme://host[:port]` in lower case, without a default port or a trailing slash; `None`
/// for anything else (`null`, a path, another scheme).
pub fn normalize_origin(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = raw.split_once("://")?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let authority = rest.strip_suffix(default_port).unwrap_or(rest);
    Some(format!("{scheme}://{authority}"))
}

fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let Some(host) = host else { return false };
    let host = host.trim().to_ascii_lowercase();
    ["http", "https"].iter().any(|scheme| {
        normalize_origin(&format!("{scheme}://{host}")).is_some_and(|own| own == origin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized() {
        assert_eq!(
            normalize_origin("HTTPS://Care.Example.JP:443/").as_deref(),
            Some("https://care.example.jp")
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(normalize_origin("null"), None);
        assert_eq!(normalize_origin("file://x"), None);
        assert_eq!(normalize_origin("http://a/b"), None);
    }

    #[test]
    fn own_and_configured_origins_only() {
        let allowed = vec!["https://portal.example.jp".to_string()];
        let ok = |o: &str, h: Option<&str>| {
            normalize_origin(o).is_some_and(|o| origin_allowed(&o, h, &allowed))
        };
        assert!(ok("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(ok("https://hub.example.jp", Some("hub.example.jp")));
        assert!(ok("https://hub.example.jp", Some("hub.example.jp:443")));
        assert!(ok("https://portal.example.jp", Some("hub.example.jp")));
        assert!(!ok("http://127.0.0.1:8081", Some("127.0.0.1:8080")));
        assert!(!ok("https://evil.example", Some("hub.example.jp")));
        assert!(!ok("https://hub.example.jp", None));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after(Duration::ZERO), 1);
    }
}

//! Default limits and close codes (PROTOCOL.md 3.5).

/// Largest accepted WebSocket frame; past it the hub closes with [`close::TOO_BIG`].
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Sustained client frames per second.
pub const FRAMES_PER_SECOND: u32 = 20;
/// Burst of client frames.
pub const FRAME_BURST: u32 = 40;
/// How long a connection may stay over the rate limit before it is closed with 4008.
pub const RATE_GRACE_SECONDS: u64 = 10;
/// Events queued for one connection before it is closed with 4009.
pub const OUTBOUND_QUEUE: usize = 1024;
/// Rooms one connection may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Consecutive `bad_request` frames; the last one closes with 1008.
pub const BAD_FRAME_STREAK: u32 = 10;
/// Seconds a new connection has to send `hello`.
pub const HELLO_TIMEOUT_SECONDS: u64 = 10;
/// Default heartbeat (WebSocket ping) interval in seconds.
pub const HEARTBEAT_SECONDS: u64 = 25;
/// History page size: default and maximum.
pub const HISTORY_DEFAULT: u32 = 50;
pub const HISTORY_MAX: u32 = 200;
/// Message body length in Unicode code points.
pub const BODY_MAX_CHARS: usize = 4000;
/// Default JWT clock leeway in seconds.
pub const JWT_LEEWAY_SECONDS: u64 = 10;

/// WebSocket close codes used by the hub.
pub mod close {
    /// Node draining: reconnect, maybe elsewhere, and resume.
    pub const GOING_AWAY: u16 = 1001;
    /// Too many bad frames in a row.
    pub const POLICY: u16 = 1008;
    /// A text frame that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Frame larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// Unauthorized or token expired.
    pub const UNAUTHORIZED: u16 = 4001;
    /// Over the rate limit for too long.
    pub const RATE: u16 = 4008;
    /// Outbound queue overflowed: too slow.
    pub const TOO_SLOW: u16 = 4009;
}

//! Per-connection frame rate limit: a token bucket, and how long the client has been over it.

use std::time::{Duration, Instant};

const EPISODE_GAP: Duration = Duration::from_secs(1);

pub struct RateLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    grace: Duration,
    /// First and latest rejection of the current episode of being over the limit.
    over: Option<(Instant, Instant)>,
}

/// What to do with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Answer `rate_limited` and drop the frame.
    Reject,
    /// Over the limit for longer than the grace period: close 4008.
    Close,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32, grace: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimit {
            per_second: f64::from(per_second.max(1)),
            burst,
            tokens: burst,
            last: Instant::now(),
            grace,
            over: None,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        // An episode goes on while rejections come less than a second apart, so a client that
        // keeps sending faster than the rate is closed even though some of its frames pass.
        let since = match self.over {
            Some((first, latest)) if now.saturating_duration_since(latest) < EPISODE_GAP => first,
            _ => now,
        };
        self.over = Some((since, now));
        if now.saturating_duration_since(since) >= self.grace {
            Verdict::Close
        } else {
            Verdict::Reject
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_then_close() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(20, 40, Duration::from_secs(10));
        for _ in 0..40 {
            assert_eq!(r.check(t0), Verdict::Allow);
        }
        assert_eq!(r.check(t0), Verdict::Reject);
        // 50 ms later one token has come back.
        assert_eq!(r.check(t0 + Duration::from_millis(50)), Verdict::Allow);
        assert_eq!(r.check(t0 + Duration::from_millis(50)), Verdict::Reject);
        // Staying over the limit: each frame rejected, and after the grace, close.
        let mut t = t0 + Duration::from_millis(50);
        let mut verdict = Verdict::Reject;
        for _ in 0..2000 {
            t += Duration::from_millis(5);
            verdict = r.check(t);
            if verdict == Verdict::Close {
                break;
            }
        }
        assert_eq!(verdict, Verdict::Close);
    }
}

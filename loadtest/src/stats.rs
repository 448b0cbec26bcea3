//! What a run measures and checks: latency histograms, a per-second timeline, counters, and the
//! correctness checker every receiving client feeds.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Microseconds since the epoch: posts carry their send time in the body, so every receiver on
/// this machine can compute the end-to-end latency.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn hist() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits. These bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// A correctness violation, with enough to find it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Violation {
    pub kind: &'static str,
    pub room: String,
    pub client: usize,
    pub detail: String,
}

pub struct Stats {
    pub started: Instant,
    delivery: Mutex<Histogram<u64>>,
    ack: Mutex<Histogram<u64>>,
    connect: Mutex<Histogram<u64>>,
    /// Per second since start: delivery latency histogram of that second.
    timeline: Mutex<BTreeMap<u64, Histogram<u64>>>,
    pub deliveries: AtomicU64,
    pub posts_sent: AtomicU64,
    pub posts_acked: AtomicU64,
    pub reads_sent: AtomicU64,
    pub errors: AtomicU64,
    pub rate_limited: AtomicU64,
    pub closes: AtomicU64,
    /// Highest acked seq per room.
    acked: Mutex<HashMap<String, u64>>,
    violations: Mutex<Vec<Violation>>,
    violation_count: AtomicU64,
    /// Broadcast: the latency of each seq's last reader.
    pub track_last_reader: AtomicBool,
    last_reader: Mutex<HashMap<u64, u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            delivery: Mutex::new(hist()),
            ack: Mutex::new(hist()),
            connect: Mutex::new(hist()),
            timeline: Mutex::new(BTreeMap::new()),
            deliveries: AtomicU64::new(0),
            posts_sent: AtomicU64::new(0),
            posts_acked: AtomicU64::new(0),
            reads_sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            acked: Mutex::new(HashMap::new()),
            violations: Mutex::new(Vec::new()),
            violation_count: AtomicU64::new(0),
            track_last_reader: AtomicBool::new(false),
            last_reader: Mutex::new(HashMap::new()),
        }
    }
}

impl Stats {
    pub fn delivered(&self, latency_us: u64) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        let v = latency_us.clamp(1, 600_000_000);
        let _ = lock(&self.delivery).record(v);
        let sec = self.started.elapsed().as_secs();
        let _ = lock(&self.timeline)
            .entry(sec)
            .or_insert_with(hist)
            .record(v);
    }

    /// Broadcast only: remembers the slowest reader of each seq.
    pub fn delivered_seq(&self, seq: u64, latency_us: u64) {
        if self.track_last_reader.load(Ordering::Relaxed) {
            let mut m = lock(&self.last_reader);
            let e = m.entry(seq).or_insert(0);
            *e = (*e).max(latency_us);
        }
    }

    pub fn last_reader_summary(&self) -> Summary {
        let mut h = hist();
        for v in lock(&self.last_reader).values() {
            let _ = h.record((*v).clamp(1, 600_000_000));
        }
        Summary::of(&h)
    }

    pub fn acked(&self, room: &str, seq: u64, latency_us: u64) {
        self.posts_acked.fetch_add(1, Ordering::Relaxed);
        let _ = lock(&self.ack).record(latency_us.clamp(1, 600_000_000));
        let mut a = lock(&self.acked);
        let e = a.entry(room.to_string()).or_insert(0);
        *e = (*e).max(seq);
    }

    pub fn connected(&self, latency_us: u64) {
        let _ = lock(&self.connect).record(latency_us.clamp(1, 600_000_000));
    }

    pub fn max_acked(&self, room: &str) -> u64 {
        lock(&self.acked).get(room).copied().unwrap_or(0)
    }

    pub fn violation(&self, v: Violation) {
        self.violation_count.fetch_add(1, Ordering::Relaxed);
        let mut list = lock(&self.violations);
        if list.len() < 50 {
            list.push(v);
        }
    }

    pub fn violation_count(&self) -> u64 {
        self.violation_count.load(Ordering::Relaxed)
    }

    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    pub fn delivery(&self) -> Summary {
        Summary::of(&lock(&self.delivery))
    }

    pub fn ack(&self) -> Summary {
        Summary::of(&lock(&self.ack))
    }

    pub fn connect(&self) -> Summary {
        Summary::of(&lock(&self.connect))
    }

    /// (second, p50 ms, p99 ms, deliveries) per second.
    pub fn timeline(&self) -> Vec<(u64, f64, f64, u64)> {
        lock(&self.timeline)
            .iter()
            .map(|(s, h)| {
                (
                    *s,
                    h.value_at_quantile(0.5) as f64 / 1000.0,
                    h.value_at_quantile(0.99) as f64 / 1000.0,
                    h.len(),
                )
            })
            .collect()
    }

    /// (latency ms, percentile) points of the delivery distribution.
    pub fn distribution(&self) -> Vec<(f64, f64)> {
        let h = lock(&self.delivery);
        if h.is_empty() {
            return Vec::new();
        }
        [
            0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0,
        ]
        .iter()
        .map(|q| (h.value_at_quantile(*q) as f64 / 1000.0, q * 100.0))
        .collect()
    }

    /// Resets the delivery histograms (after a warm-up, or between saturate steps).
    pub fn reset_latency(&self) {
        lock(&self.delivery).reset();
        lock(&self.ack).reset();
    }
}

/// One client's view of one room's seq stream.
#[derive(Debug, Default)]
pub struct SeqCheck {
    last: HashMap<String, u64>,
}

impl SeqCheck {
    /// Starts (or restarts after a resume) a room at `seq`.
    pub fn start(&mut self, room: &str, seq: u64) {
        self.last.insert(room.to_string(), seq);
    }

    pub fn last(&self, room: &str) -> Option<u64> {
        self.last.get(room).copied()
    }

    /// Checks a delivered seq: exactly the next one is right.
    pub fn observe(&mut self, stats: &Stats, client: usize, room: &str, seq: u64) {
        let Some(last) = self.last.get_mut(room) else {
            stats.violation(Violation {
                kind: "unsubscribed",
                room: room.into(),
                client,
                detail: format!("seq {seq} of a room not subscribed"),
            });
            return;
        };
        if seq == *last + 1 {
            *last = seq;
        } else if seq <= *last {
            stats.violation(Violation {
                kind: "duplicate_or_reorder",
                room: room.into(),
                client,
                detail: format!("seq {seq} after {last}"),
            });
        } else {
            stats.violation(Violation {
                kind: "gap",
                room: room.into(),
                client,
                detail: format!("seq {seq} after {last}: {} missing", seq - *last - 1),
            });
            *last = seq;
        }
    }
}

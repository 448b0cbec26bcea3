//! What a run measures and checks: latency histograms, a per-second timeline, counters, and the
//! correctness checker every receiving client feeds.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// A random number of this run, in every `client_id`, so a rerun against the same hub
    /// never collides with an earlier run's idempotency keys.
    pub run: u32,
    delivery: Mutex<Histogram<u64>>,
    /// Deliveries whose poster was connected to another node than the reader.
    cross_node: Mutex<Histogram<u64>>,
    ack: Mutex<Histogram<u64>>,
    connect: Mutex<Histogram<u64>>,
    /// Per second since start: delivery latency histogram of that second.
    timeline: Mutex<BTreeMap<u64, Histogram<u64>>>,
    pub deliveries: AtomicU64,
    pub posts_sent: AtomicU64,
    /// Number of the next post of this run (in its `client_id`): unique across `drive` calls,
    /// or the hub would rightly take a later step's posts for retries of earlier ones.
    pub next_post: AtomicU64,
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
    /// Which post each (room, seq) is, as acks and deliveries say.
    pub ledger: Ledger,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            run: rand::random(),
            delivery: Mutex::new(hist()),
            cross_node: Mutex::new(hist()),
            ack: Mutex::new(hist()),
            connect: Mutex::new(hist()),
            timeline: Mutex::new(BTreeMap::new()),
            deliveries: AtomicU64::new(0),
            posts_sent: AtomicU64::new(0),
            next_post: AtomicU64::new(0),
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
            ledger: Ledger::default(),
        }
    }
}

impl Stats {
    pub fn delivered(&self, latency_us: u64, cross_node: bool) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        let v = latency_us.clamp(1, 600_000_000);
        let _ = lock(&self.delivery).record(v);
        if cross_node {
            let _ = lock(&self.cross_node).record(v);
        }
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

    /// Deliveries from a poster on another node (cluster runs).
    pub fn cross_node(&self) -> Summary {
        Summary::of(&lock(&self.cross_node))
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
        lock(&self.cross_node).reset();
        lock(&self.ack).reset();
    }
}

/// One client's view of its rooms' seq streams: the last seq seen, and the seqs it skipped
/// (so a late one is told apart as a reorder from a duplicate).
#[derive(Debug, Default)]
pub struct SeqCheck {
    last: HashMap<String, u64>,
    missing: HashMap<String, BTreeSet<u64>>,
}

/// At most this many skipped seqs are remembered per room and client.
const MISSING_KEPT: usize = 10_000;

impl SeqCheck {
    /// Starts (or restarts after a resume) a room at `seq`.
    pub fn start(&mut self, room: &str, seq: u64) {
        self.last.insert(room.to_string(), seq);
        self.missing.remove(room);
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
            let late = self.missing.get_mut(room).is_some_and(|m| m.remove(&seq));
            stats.violation(Violation {
                kind: if late { "reorder" } else { "duplicate" },
                room: room.into(),
                client,
                detail: if late {
                    format!("seq {seq} arrived after {last}")
                } else {
                    format!("seq {seq} again (last {last})")
                },
            });
        } else {
            stats.violation(Violation {
                kind: "gap",
                room: room.into(),
                client,
                detail: format!("seq {seq} after {last}: {} missing", seq - *last - 1),
            });
            let m = self.missing.entry(room.to_string()).or_default();
            for s in (*last + 1..seq).take(MISSING_KEPT.saturating_sub(m.len())) {
                m.insert(s);
            }
            *last = seq;
        }
    }
}

/// Which post each (room, seq) is, from two sources that must agree: the acks posters get
/// (seq of their `client_id`) and the `message` events every reader gets (`client_id` at a
/// seq). Two posts at one seq, one post at two seqs, or an ack that disagrees with what was
/// delivered is a violation.
#[derive(Default)]
pub struct Ledger {
    shards: [Mutex<LedgerShard>; 16],
}

#[derive(Default)]
struct LedgerShard {
    /// room -> seq -> client_id, as first seen.
    at: HashMap<String, HashMap<u64, String>>,
    /// room -> client_id -> seq, as first seen.
    of: HashMap<String, HashMap<String, u64>>,
}

impl Ledger {
    fn shard(&self, room: &str) -> std::sync::MutexGuard<'_, LedgerShard> {
        let h = room
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        lock(&self.shards[h % self.shards.len()])
    }

    pub fn delivered(&self, stats: &Stats, client: usize, room: &str, seq: u64, cid: &str) {
        self.record(stats, client, room, seq, cid, "delivered");
    }

    pub fn acked(&self, stats: &Stats, client: usize, room: &str, seq: u64, cid: &str) {
        self.record(stats, client, room, seq, cid, "acked");
    }

    fn record(&self, stats: &Stats, client: usize, room: &str, seq: u64, cid: &str, how: &str) {
        let mut s = self.shard(room);
        let mut problem = None;
        if !s.at.contains_key(room) {
            s.at.insert(room.to_string(), HashMap::new());
            s.of.insert(room.to_string(), HashMap::new());
        }
        if let Some(at) = s.at.get_mut(room) {
            match at.get(&seq) {
                Some(known) if known != cid => {
                    problem = Some((
                        "seq_conflict",
                        format!("{how} {cid} at seq {seq}, where {known} was seen"),
                    ));
                }
                Some(_) => {}
                None => {
                    at.insert(seq, cid.to_string());
                }
            }
        }
        if let Some(of) = s.of.get_mut(room) {
            match of.get(cid) {
                Some(known) if *known != seq => {
                    problem = Some((
                        "post_twice",
                        format!("{how} {cid} at seq {seq}, seen before at seq {known}"),
                    ));
                }
                Some(_) => {}
                None => {
                    of.insert(cid.to_string(), seq);
                }
            }
        }
        drop(s);
        if let Some((kind, detail)) = problem {
            stats.violation(Violation {
                kind,
                room: room.into(),
                client,
                detail,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_check_tells_gap_duplicate_and_reorder_apart() {
        let stats = Stats::default();
        let mut c = SeqCheck::default();
        c.start("r", 0);
        for s in [1, 2, 4, 3, 4, 5] {
            c.observe(&stats, 0, "r", s);
        }
        let kinds: Vec<&str> = stats.violations().iter().map(|v| v.kind).collect();
        assert_eq!(kinds, ["gap", "reorder", "duplicate"]);
        assert_eq!(c.last("r"), Some(5));
    }

    #[test]
    fn ledger_catches_two_posts_at_one_seq_and_a_post_at_two_seqs() {
        let stats = Stats::default();
        stats.ledger.delivered(&stats, 1, "r", 1, "a");
        stats.ledger.acked(&stats, 0, "r", 1, "a");
        assert_eq!(stats.violation_count(), 0);
        stats.ledger.delivered(&stats, 1, "r", 1, "b");
        stats.ledger.acked(&stats, 0, "r", 2, "a");
        let kinds: Vec<&str> = stats.violations().iter().map(|v| v.kind).collect();
        assert_eq!(kinds, ["seq_conflict", "post_twice"]);
    }
}

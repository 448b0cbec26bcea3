//! The scenarios: each connects real clients, drives load for a bounded time, then checks that
//! every acked post reached every subscribed member exactly once, in order. `fanout`,
//! `broadcast` and `saturate` are here with the shared drive/settle steps; [`resume`] and
//! [`connect`] have a module each.

mod connect;
mod resume;

pub use connect::connect;
pub use resume::resume;

use crate::client::{self, lock_check, set_read_ratio, source, Client, Shared};
use crate::hubs::{Hubs, ProcSample};
use crate::report::{HubFigures, Report};
use crate::setup;
use crate::stats::{Stats, Violation};
use crate::uploads::Uploader;
use anyhow::{Context, Result};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Common knobs.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct Load {
    /// Team rooms.
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    /// Members (connections) per room.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Total posts per second over all rooms.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Chance that a delivery is followed by a `read` (at most one per client per 250 ms).
    #[arg(long, default_value_t = 0.3)]
    pub read_ratio: f64,
    /// Loopback source addresses to spread clients over (127.0.0.1 .. 127.0.0.N).
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
    /// Connections opened at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Share of posts (0-1) that carry a small photo, uploaded first over HTTP (`fanout`).
    #[arg(long, default_value_t = 0.0)]
    pub attachment_share: f64,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = if std::env::var_os("CI").is_some() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:<10} [{elapsed_precise}] {wide_bar} {pos}/{len}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

pub struct Connected {
    pub clients: Vec<(Client, String)>,
}

/// Opens member connections: client i is user i, member of room i / members, on node i % nodes.
pub async fn connect_members(
    hubs: &Hubs,
    stats: &Arc<Stats>,
    load: &Load,
    first_user: usize,
    count: usize,
    room_of: impl Fn(usize) -> String,
) -> Result<Connected> {
    let pb = bar(count as u64, "connect");
    let jobs = (first_user..first_user + count).map(|i| {
        let node = i % hubs.urls.len();
        let url = hubs.urls[node].clone();
        let token = setup::token(&hubs.secret, &setup::user(i), None);
        let room = room_of(i);
        let stats = stats.clone();
        let src = source(i, load.source_addrs);
        let ratio = load.read_ratio;
        let pb = pb.clone();
        async move {
            let started = Instant::now();
            let mut ws = client::open(&url, &token, src).await?;
            let last = client::subscribe(&mut ws, &room, None).await?;
            stats.connected(started.elapsed().as_micros() as u64);
            let shared = Arc::new(Shared::default());
            lock_check(&shared).start(&room, last);
            set_read_ratio(&shared, ratio);
            pb.inc(1);
            Ok::<_, anyhow::Error>((Client::start(i, node, ws, shared, stats), room))
        }
    });
    let results: Vec<Result<(Client, String)>> = futures::stream::iter(jobs)
        .buffer_unordered(load.connect_concurrency.max(1))
        .collect()
        .await;
    pb.finish_and_clear();
    let clients = results
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .context("opening member connections")?;
    Ok(Connected { clients })
}

/// Posts at `rate`/s for `secs`, round-robin over rooms, from members of each room.
#[allow(clippy::too_many_arguments)]
pub async fn drive(
    stats: &Stats,
    conns: &Connected,
    rooms: usize,
    members: usize,
    rate: f64,
    secs: u64,
    label: &str,
    photos: Option<(&Arc<Uploader>, f64)>,
) -> u64 {
    let pb = bar(secs, label);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut sent = 0u64;
    let mut due = 0.0f64;
    let end = Duration::from_secs(secs);
    while started.elapsed() < end {
        tick.tick().await;
        let target = started.elapsed().as_secs_f64() * rate;
        due = target - sent as f64;
        while due >= 1.0 {
            let r = (sent as usize) % rooms.max(1);
            let m = (sent as usize / rooms.max(1)) % members.max(1);
            if let Some((c, room)) = conns.clients.get(r * members + m) {
                let n = stats.next_post.fetch_add(1, Ordering::Relaxed);
                // Every 1/share-th post carries a photo (spread evenly, not at random).
                let with_photo = photos.filter(|(_, share)| {
                    (sent as f64 * share).floor() != ((sent + 1) as f64 * share).floor()
                });
                let queued = match with_photo {
                    Some((up, _)) => up.post_with_photo(c, room, n),
                    None => c.post(room, n),
                };
                if queued {
                    stats.posts_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            sent += 1;
            due -= 1.0;
        }
        pb.set_position(started.elapsed().as_secs());
    }
    let _ = due;
    pb.finish_and_clear();
    sent
}

/// Waits (bounded) until every client has seen its room's highest acked seq, then records a
/// `loss` violation for each client that has not.
pub async fn settle(stats: &Stats, conns: &Connected, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let behind = conns
            .clients
            .iter()
            .filter(|(c, room)| {
                !c.shared.closed.load(Ordering::Acquire)
                    && lock_check(&c.shared).last(room).unwrap_or(0) < stats.max_acked(room)
            })
            .count();
        let unacked = stats
            .posts_sent
            .load(Ordering::Relaxed)
            .saturating_sub(stats.posts_acked.load(Ordering::Relaxed));
        if (behind == 0 && unacked == 0) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (c, room) in &conns.clients {
        let last = lock_check(&c.shared).last(room).unwrap_or(0);
        let acked = stats.max_acked(room);
        if last < acked {
            stats.violation(Violation {
                kind: "loss",
                room: room.clone(),
                client: c.id,
                detail: format!(
                    "acked up to {acked}, received up to {last}{}",
                    if c.shared.closed.load(Ordering::Acquire) {
                        " (connection closed)"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
}

/// Every post sent must have been acked by the end of a run (after `settle`).
pub fn check_unacked(stats: &Stats) {
    let sent = stats.posts_sent.load(Ordering::Relaxed);
    let acked = stats.posts_acked.load(Ordering::Relaxed);
    if acked < sent {
        stats.violation(Violation {
            kind: "unacked",
            room: String::new(),
            client: 0,
            detail: format!(
                "{} of {sent} posts got no ack ({} errors, {} rate_limited)",
                sent - acked,
                stats.errors.load(Ordering::Relaxed),
                stats.rate_limited.load(Ordering::Relaxed)
            ),
        });
    }
}

fn figures(
    before: &[ProcSample],
    after: &[ProcSample],
    deliveries: u64,
    connections: usize,
    idle_rss: &[ProcSample],
) -> Vec<HubFigures> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .map(|(i, (b, a))| {
            let cpu = (a.cpu_seconds - b.cpu_seconds).max(0.0);
            let idle = idle_rss.get(i).map(|s| s.rss_kib).unwrap_or(0);
            HubFigures {
                node: i,
                cpu_seconds: cpu,
                cpu_us_per_delivery: if deliveries > 0 {
                    cpu * 1e6 / deliveries as f64
                } else {
                    0.0
                },
                rss_kib: a.rss_kib,
                peak_rss_kib: a.peak_rss_kib,
                kib_per_connection: if connections > 0 {
                    b.rss_kib.saturating_sub(idle) as f64 / connections as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

pub async fn fanout(hubs: &Hubs, load: &Load, floor: bool, name: &str) -> Result<Report> {
    let stats = Arc::new(Stats::default());
    if !floor {
        setup::rooms(&hubs.http_base(0), &hubs.secret, load.rooms, load.members).await?;
        hubs.analyze().await?;
    }
    let idle = hubs.samples();
    let members = load.members;
    let conns = connect_members(hubs, &stats, load, 0, load.rooms * members, |i| {
        setup::team_room(i / members)
    })
    .await?;
    let before = hubs.samples();
    let svc = hubs.services_cpu();
    let started = Instant::now();
    let uploader = (load.attachment_share > 0.0 && !floor).then(|| {
        Uploader::new(
            (0..hubs.urls.len()).map(|i| hubs.http_base(i)).collect(),
            hubs.secret.clone(),
        )
    });
    let share = load.attachment_share.clamp(0.0, 1.0);
    drive(
        &stats,
        &conns,
        load.rooms,
        members,
        load.rate,
        load.duration,
        name,
        uploader.as_ref().map(|u| (u, share)),
    )
    .await;
    settle(&stats, &conns, Duration::from_secs(10)).await;
    check_unacked(&stats);
    if let Some(failed) = uploader
        .as_ref()
        .map(|u| u.failed.load(Ordering::Relaxed))
        .filter(|n| *n > 0)
    {
        stats.violation(Violation {
            kind: "upload",
            room: String::new(),
            client: 0,
            detail: format!("{failed} uploads failed"),
        });
    }
    let elapsed = started.elapsed();
    let after = hubs.samples();
    let deliveries = stats.deliveries.load(Ordering::Relaxed);
    let mut report = Report::new(
        name,
        hubs.kind,
        serde_json::to_value(load)?,
        &stats,
        elapsed,
    );
    report.hubs = figures(&before, &after, deliveries, conns.clients.len(), &idle);
    report.set_services_cpu(svc, hubs.services_cpu());
    report.connections = conns.clients.len();
    if let Some(up) = &uploader {
        report.extra = up.summary(elapsed.as_secs_f64());
    }
    Ok(report)
}

pub async fn broadcast(
    hubs: &Hubs,
    readers: usize,
    rate: f64,
    secs: u64,
    load: &Load,
    floor: bool,
) -> Result<Report> {
    let stats = Arc::new(Stats::default());
    stats.track_last_reader.store(true, Ordering::Relaxed);
    if !floor {
        setup::rooms(&hubs.http_base(0), &hubs.secret, 0, 0).await?;
        hubs.analyze().await?;
    }
    let idle = hubs.samples();
    let conns = connect_members(hubs, &stats, load, 0, readers, |_| {
        setup::TOWN_ROOM.to_string()
    })
    .await?;
    // The coordinator (an admin here) posts from its own connection on the first node.
    let mut ws = client::open(
        &hubs.urls[0],
        &setup::token(&hubs.secret, "lt-admin", Some("admin")),
        source(0, 1),
    )
    .await?;
    let last = client::subscribe(&mut ws, setup::TOWN_ROOM, None).await?;
    let shared = Arc::new(Shared::default());
    lock_check(&shared).start(setup::TOWN_ROOM, last);
    let poster = Client::start(usize::MAX, 0, ws, shared, stats.clone());
    let before = hubs.samples();
    let svc = hubs.services_cpu();
    let started = Instant::now();
    let pb = bar(secs, "broadcast");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        if poster.post(
            setup::TOWN_ROOM,
            stats.next_post.fetch_add(1, Ordering::Relaxed),
        ) {
            stats.posts_sent.fetch_add(1, Ordering::Relaxed);
        }
        pb.set_position(started.elapsed().as_secs());
    }
    pb.finish_and_clear();
    settle(&stats, &conns, Duration::from_secs(15)).await;
    check_unacked(&stats);
    let after = hubs.samples();
    let deliveries = stats.deliveries.load(Ordering::Relaxed);
    let mut report = Report::new(
        "broadcast",
        hubs.kind,
        serde_json::json!({"readers": readers, "rate": rate, "duration": secs}),
        &stats,
        started.elapsed(),
    );
    report.hubs = figures(&before, &after, deliveries, readers, &idle);
    report.set_services_cpu(svc, hubs.services_cpu());
    report.connections = readers + 1;
    report.last_reader = Some(stats.last_reader_summary());
    Ok(report)
}

pub async fn saturate(
    hubs: &Hubs,
    load: &Load,
    step_secs: u64,
    bound_ms: f64,
    max_rate: f64,
    floor: bool,
) -> Result<Report> {
    let stats = Arc::new(Stats::default());
    if !floor {
        setup::rooms(&hubs.http_base(0), &hubs.secret, load.rooms, load.members).await?;
        hubs.analyze().await?;
    }
    let members = load.members;
    let conns = connect_members(hubs, &stats, load, 0, load.rooms * members, |i| {
        setup::team_room(i / members)
    })
    .await?;
    let mut rate = load.rate;
    let mut steps = Vec::new();
    let mut last_good = 0.0;
    while rate <= max_rate {
        stats.reset_latency();
        let before = hubs.samples();
        let svc0 = hubs.services_cpu();
        let d0 = stats.deliveries.load(Ordering::Relaxed);
        let sent0 = stats.posts_sent.load(Ordering::Relaxed);
        let acked0 = stats.posts_acked.load(Ordering::Relaxed);
        let started = Instant::now();
        drive(
            &stats,
            &conns,
            load.rooms,
            members,
            rate,
            step_secs,
            &format!("{rate:.0}/s"),
            None,
        )
        .await;
        settle(&stats, &conns, Duration::from_secs(5)).await;
        let secs = started.elapsed().as_secs_f64();
        let after = hubs.samples();
        let d = stats.deliveries.load(Ordering::Relaxed) - d0;
        let sent = stats.posts_sent.load(Ordering::Relaxed) - sent0;
        let acked = stats.posts_acked.load(Ordering::Relaxed) - acked0;
        let p99 = stats.delivery().p99_ms;
        let cpu: f64 = before
            .iter()
            .zip(&after)
            .map(|(b, a)| a.cpu_seconds - b.cpu_seconds)
            .sum();
        let svc =
            svc0.zip(hubs.services_cpu())
                .map(|(b, a)| if d > 0 { (a - b) * 1e6 / d as f64 } else { 0.0 });
        let ok = p99 <= bound_ms && stats.violation_count() == 0 && acked + acked / 100 >= sent;
        steps.push(serde_json::json!({
            "rate": rate, "p99_ms": p99, "p50_ms": stats.delivery().p50_ms, "deliveries_per_s": d as f64 / secs,
            "posts_sent": sent, "posts_acked": acked, "cpu_us_per_delivery": if d > 0 { cpu * 1e6 / d as f64 } else { 0.0 }, "services_cpu_us_per_delivery": svc, "ok": ok,
        }));
        println!("  step {rate:>8.0} posts/s: p99 {p99:>8.2} ms, {:>9.0} deliveries/s, acked {acked}/{sent} {}", d as f64 / secs, if ok { "ok" } else { "PAST THE BOUND" });
        if !ok {
            break;
        }
        last_good = rate;
        rate *= 1.5;
    }
    let mut report = Report::new(
        "saturate",
        hubs.kind,
        serde_json::json!({"load": load, "step_secs": step_secs, "bound_ms": bound_ms}),
        &stats,
        stats.started.elapsed(),
    );
    report.connections = conns.clients.len();
    report.extra = serde_json::json!({"last_good_rate": last_good, "steps": steps});
    // Past the bound is the point of this scenario, not a failure; losses still are.
    Ok(report)
}

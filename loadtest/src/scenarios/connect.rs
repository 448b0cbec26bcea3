//! `connect`: many idle subscribed connections held by worker processes.

use super::{bar, Load};
use crate::hubs::{Hubs, ProcSample};
use crate::report::{HubFigures, Report};
use crate::setup;
use crate::stats::{Stats, Violation};
use crate::workers::{self as worker, Worker, WorkerArgs};
use anyhow::Result;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts worker processes holding `count` connections, at most `per_worker` each.
fn spawn_workers(
    hubs: &Hubs,
    count: usize,
    per_worker: usize,
    subs: usize,
    hold: u64,
    load: &Load,
) -> Result<Vec<Worker>> {
    let mut workers = Vec::new();
    let mut first = 0;
    while first < count {
        let n = per_worker.min(count - first);
        let args = WorkerArgs {
            first,
            count: n,
            urls: hubs.urls.join(","),
            subs,
            source_addrs: load.source_addrs,
            concurrency: load
                .connect_concurrency
                .div_ceil(count.div_ceil(per_worker))
                .max(8),
            max_secs: 300 + hold,
        };
        workers.push(Worker::spawn(&args, &hubs.secret)?);
        first += n;
    }
    Ok(workers)
}

/// What the workers said while ramping.
struct Ramp {
    took: Duration,
    connected: u64,
    failed: u64,
    first_error: Option<String>,
}

/// Follows the workers until each is ready (or 240 s pass), recording connect latencies.
async fn ramp(
    hubs: &Hubs,
    workers: &mut [Worker],
    stats: &Stats,
    count: usize,
    idle: &[ProcSample],
) -> Ramp {
    let pb = bar(count as u64, "connect");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(240);
    let mut progress = vec![0u64; workers.len()];
    let mut ready = vec![false; workers.len()];
    let (mut failed, mut first_error) = (0u64, None);
    let mut peak_during_ramp = idle.to_vec();
    while ready.iter().any(|r| !r) && Instant::now() < deadline {
        for (k, w) in workers.iter_mut().enumerate() {
            while let Ok(line) = w.lines.try_recv() {
                match line {
                    worker::Line::Progress { connected, .. } => progress[k] = connected,
                    worker::Line::Ready {
                        connected,
                        failed: f,
                        first_error: e,
                        latencies_us,
                    } => {
                        progress[k] = connected;
                        failed += f;
                        if first_error.is_none() {
                            first_error = e;
                        }
                        for us in latencies_us {
                            stats.connected(us);
                        }
                        ready[k] = true;
                    }
                    worker::Line::Alive { .. } => {}
                }
            }
        }
        pb.set_position(progress.iter().sum());
        for (p, s) in peak_during_ramp.iter_mut().zip(hubs.samples()) {
            p.rss_kib = p.rss_kib.max(s.rss_kib);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pb.finish_and_clear();
    Ramp {
        took: started.elapsed(),
        connected: progress.iter().sum(),
        failed,
        first_error,
    }
}

/// Per node: CPU over the run, and memory per held connection over idle.
fn held_figures(idle: &[ProcSample], held: &[ProcSample], per_node: f64) -> Vec<HubFigures> {
    idle.iter()
        .zip(held)
        .enumerate()
        .map(|(i, (b, a))| HubFigures {
            node: i,
            cpu_seconds: a.cpu_seconds - b.cpu_seconds,
            cpu_us_per_delivery: 0.0,
            rss_kib: a.rss_kib,
            peak_rss_kib: a.peak_rss_kib,
            kib_per_connection: a.rss_kib.saturating_sub(b.rss_kib) as f64 / per_node.max(1.0),
        })
        .collect()
}

/// `connect`: ramps to `count` subscribed connections held by worker processes (at most
/// `per_worker` each), holds them `hold` seconds, and reports the ramp rate and what each
/// connection costs the hubs.
pub async fn connect(
    hubs: &Hubs,
    count: usize,
    hold: u64,
    per_worker: usize,
    subs: usize,
    load: &Load,
    floor: bool,
) -> Result<Report> {
    let stats = Arc::new(Stats::default());
    let subs = subs.clamp(1, 3);
    if !floor {
        setup::town_rooms(&hubs.http_base(0), &hubs.secret, subs).await?;
        hubs.analyze().await?;
    }
    let idle = hubs.samples();
    let per_worker = per_worker.clamp(1, 18_000);
    let mut workers = spawn_workers(hubs, count, per_worker, subs, hold, load)?;
    let started = Instant::now();
    let ramp = ramp(hubs, &mut workers, &stats, count, &idle).await;
    let (connected, failed) = (ramp.connected, ramp.failed);
    let ramp_samples = hubs.samples();
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let held = hubs.samples();
    let mut alive = 0u64;
    for w in &mut workers {
        alive += w.stop().await.unwrap_or(0);
    }
    let mut report = Report::new(
        "connect",
        hubs.kind,
        serde_json::json!({"connections": count, "hold": hold, "per_worker": per_worker, "subscriptions": format!("1-{subs} town rooms"), "source_addrs": load.source_addrs}),
        &stats,
        started.elapsed(),
    );
    report.connections = connected as usize;
    let per_node = connected as f64 / hubs.pids.len().max(1) as f64;
    report.hubs = held_figures(&idle, &held, per_node);
    let ramp_cpu: f64 = idle
        .iter()
        .zip(&ramp_samples)
        .map(|(b, a)| a.cpu_seconds - b.cpu_seconds)
        .sum();
    report.extra = serde_json::json!({
        "workers": workers.len(),
        "ramp_seconds": ramp.took.as_secs_f64(),
        "connections_per_second": connected as f64 / ramp.took.as_secs_f64().max(1e-9),
        "connected": connected,
        "failed": failed,
        "first_error": ramp.first_error,
        "alive_after_hold": alive,
        "hub_cpu_us_per_connection_ramp": ramp_cpu * 1e6 / (connected.max(1)) as f64,
        "hub_rss_mib_held": held.iter().map(|s| s.rss_kib as f64 / 1024.0).collect::<Vec<_>>(),
    });
    if connected < count as u64 || alive < connected {
        stats.violation(Violation {
            kind: "dropped",
            room: String::new(),
            client: 0,
            detail: format!(
                "{connected} of {count} connected ({failed} failed{}), {alive} still open after the hold",
                ramp.first_error
                    .as_deref()
                    .map(|e| format!(", first: {e}"))
                    .unwrap_or_default()
            ),
        });
        report.violations = stats.violations();
        report.violation_count = stats.violation_count();
    }
    Ok(report)
}

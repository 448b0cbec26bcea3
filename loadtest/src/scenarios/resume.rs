//! `resume`: a reconnect storm with `since` while posts go on.

use super::{check_unacked, drive, figures, settle, Connected, Load};
use crate::client::{self, lock_check, source, Client, Shared};
use crate::hubs::Hubs;
use crate::report::Report;
use crate::setup;
use crate::stats::{Stats, Violation};
use anyhow::{Context, Result};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Who takes part in `resume`: one poster per room (its last member, on the last node) and
/// `clients` readers spread over the rooms and nodes.
struct ResumePlan {
    urls: Vec<String>,
    secret: String,
    rooms: usize,
    readers: Vec<usize>,
    concurrency: usize,
    source_addrs: u8,
}

type Joined = Vec<(Client, String)>;

/// Opens and subscribes one poster per room, on the last node.
async fn open_posters(
    hubs: &Hubs,
    load: &Load,
    rooms: usize,
    per_room: usize,
    stats: &Arc<Stats>,
) -> Result<Joined> {
    let mut posters = Vec::new();
    for r in 0..rooms {
        let u = r * (per_room + 1) + per_room;
        let node = hubs.urls.len() - 1;
        let token = setup::token(&hubs.secret, &setup::user(u), None);
        let mut ws = client::open(&hubs.urls[node], &token, source(u, load.source_addrs)).await?;
        let room = setup::team_room(r);
        let last = client::subscribe(&mut ws, &room, None).await?;
        let shared = Arc::new(Shared::default());
        lock_check(&shared).start(&room, last);
        posters.push((Client::start(u, node, ws, shared, stats.clone()), room));
    }
    Ok(posters)
}

/// Opens and subscribes every reader at once (bounded concurrency); with `resume`, each with
/// `since` = the last seq it saw, expecting exactly the catch-up from there.
async fn open_readers(
    plan: &ResumePlan,
    stats: &Arc<Stats>,
    resume: Option<&[u64]>,
) -> Result<Joined> {
    let jobs = plan.readers.iter().enumerate().map(|(k, u)| {
        let node = k % plan.urls.len().max(1);
        let url = plan.urls[node].clone();
        let token = setup::token(&plan.secret, &setup::user(*u), None);
        let room = setup::team_room(k % plan.rooms);
        let stats = stats.clone();
        let since = resume.map(|v| v[k]);
        let src = source(k, plan.source_addrs);
        async move {
            let started = Instant::now();
            let mut ws = client::open(&url, &token, src).await?;
            let last = client::subscribe(&mut ws, &room, since).await?;
            stats.connected(started.elapsed().as_micros() as u64);
            let shared = Arc::new(Shared::default());
            lock_check(&shared).start(&room, since.unwrap_or(last));
            if let Some(s) = since {
                shared.expect_catch_up(&room, last, s);
            }
            Ok::<_, anyhow::Error>((Client::start(k, node, ws, shared, stats), room))
        }
    });
    let r: Vec<Result<(Client, String)>> = futures::stream::iter(jobs)
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    r.into_iter().collect()
}

/// How the reconnect storm went.
struct Storm {
    reconnected: Duration,
    caught_up: Duration,
    still_behind: usize,
    readers: Joined,
    /// The first connections' checks, kept until the run is settled.
    _earlier: Vec<Arc<Shared>>,
}

/// Every reader disconnects together and comes back at once with `since`; waits (up to 60 s)
/// until each has caught up.
async fn storm(plan: &ResumePlan, stats: &Arc<Stats>, readers: Joined) -> Result<Storm> {
    // By reader index (`Client::id`, the index into `plan.readers`): `readers` is in the order
    // the connections completed, not in plan order, and each reader must resume from what it
    // saw itself. (Indexed by position, readers resumed with another reader's last seq: one
    // ahead of its room made the catch-up look like duplicates.)
    let mut seen = vec![0u64; plan.readers.len()];
    for (c, room) in &readers {
        if let Some(slot) = seen.get_mut(c.id) {
            *slot = lock_check(&c.shared).last(room).unwrap_or(0);
        }
    }
    // Before the storm each reader saw a contiguous prefix (the first connection's checks
    // recorded any violation); the resumed stream continues from exactly there.
    let earlier: Vec<Arc<Shared>> = readers.iter().map(|(c, _)| c.shared.clone()).collect();
    drop(readers);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let readers = open_readers(plan, stats, Some(&seen))
        .await
        .context("reconnecting readers")?;
    let reconnected = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while readers.iter().any(|(c, _)| c.shared.is_catching_up()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = readers
        .iter()
        .filter_map(|(c, _)| c.shared.caught_up())
        .max()
        .map(|t| t.duration_since(started))
        .unwrap_or(reconnected);
    let still_behind = readers
        .iter()
        .filter(|(c, _)| c.shared.is_catching_up())
        .count();
    Ok(Storm {
        reconnected,
        caught_up,
        still_behind,
        readers,
        _earlier: earlier,
    })
}

/// `resume`: posts go on throughout; a third of the way in every reader disconnects and
/// resumes with `since` at once. Reports the storm's times; any gap or duplicate is a violation.
pub async fn resume(hubs: &Hubs, load: &Load, clients: usize, floor: bool) -> Result<Report> {
    let stats = Arc::new(Stats::default());
    let rooms = load.rooms.max(1);
    let per_room = clients.div_ceil(rooms).max(1);
    if !floor {
        setup::rooms(&hubs.http_base(0), &hubs.secret, rooms, per_room + 1).await?;
        hubs.analyze().await?;
    }
    let posters = open_posters(hubs, load, rooms, per_room, &stats).await?;
    let plan = ResumePlan {
        urls: hubs.urls.clone(),
        secret: hubs.secret.clone(),
        rooms,
        readers: (0..clients)
            .map(|i| (i % rooms) * (per_room + 1) + i / rooms)
            .collect(),
        concurrency: load.connect_concurrency,
        source_addrs: load.source_addrs,
    };
    let readers = open_readers(&plan, &stats, None)
        .await
        .context("opening readers")?;
    let before = hubs.samples();
    let svc = hubs.services_cpu();
    let stats2 = stats.clone();
    let (rate, secs) = (load.rate, load.duration.max(4));
    let drive_task = tokio::spawn(async move {
        let c = Connected { clients: posters };
        drive(&stats2, &c, rooms, 1, rate, secs, "resume", None).await;
        c
    });
    tokio::time::sleep(Duration::from_secs(secs / 3)).await;
    // The storm hits a town in use: statistics that know its read positions, as autovacuum
    // keeps them (the set-up's analysis saw none yet).
    hubs.analyze().await?;
    let storm = storm(&plan, &stats, readers).await?;
    let poster_conns = drive_task.await.context("posting task")?;
    let all = Connected {
        clients: storm.readers,
    };
    settle(&stats, &all, Duration::from_secs(15)).await;
    settle(&stats, &poster_conns, Duration::from_secs(1)).await;
    check_unacked(&stats);
    let after = hubs.samples();
    let deliveries = stats.deliveries.load(Ordering::Relaxed);
    let mut report = Report::new(
        "resume",
        hubs.kind,
        serde_json::json!({"clients": clients, "load": load}),
        &stats,
        stats.started.elapsed(),
    );
    report.hubs = figures(&before, &after, deliveries, clients, &before);
    report.set_services_cpu(svc, hubs.services_cpu());
    report.connections = clients + rooms;
    report.extra = serde_json::json!({
        "reconnect_seconds": storm.reconnected.as_secs_f64(),
        "all_caught_up_seconds": storm.caught_up.as_secs_f64(),
        "still_behind": storm.still_behind,
    });
    if storm.still_behind > 0 {
        stats.violation(Violation {
            kind: "not_caught_up",
            room: String::new(),
            client: 0,
            detail: format!(
                "{} clients had not caught up after 60 s",
                storm.still_behind
            ),
        });
        report.violations = stats.violations();
        report.violation_count = stats.violation_count();
    }
    Ok(report)
}

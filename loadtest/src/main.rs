//! `yui-loadtest`: drives real Yui hubs (spawned here, or already running) over real
//! WebSockets with the public protocol, checks every delivery while it measures, and writes a
//! report. Exits non-zero on any loss, duplicate or reorder.
//!
//! # Layout
//! - `hubs`: spawning hubs (or the floor), /proc CPU and memory figures.
//! - `setup`: tokens, rooms and members through the HTTP API.
//! - `client`: one connection with its reader (checks) and writer tasks.
//! - `stats`: histograms, timeline, counters, the seq checker.
//! - `scenarios`: connect, fanout, broadcast, saturate, resume (any of them on several nodes).
//! - `report`: table, JSON, Markdown and SVG charts.
//! - `workers`: client worker processes (this binary re-executed) for big `connect` runs.

mod client;
mod hubs;
mod report;
mod scenarios;
mod setup;
mod stats;
mod uploads;
mod workers;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hubs::{Hubs, SpawnSpec};
use report::Report;
use scenarios::Load;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "yui-loadtest",
    about = "Load and correctness test for Yui hubs"
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Directory for the JSON, Markdown and SVG report.
    #[arg(long, global = true, default_value = "target/loadtest")]
    out: PathBuf,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(clap::Args)]
struct Target {
    /// Start hubs from this `yui` binary (killed at the end).
    #[arg(long, global = true)]
    spawn_hub: Option<PathBuf>,
    /// Start the bare broadcast floor from this `yui-floor` binary instead.
    #[arg(long, global = true)]
    spawn_floor: Option<PathBuf>,
    /// Nodes to spawn (more than one needs --database-url and --redis-url).
    #[arg(long, global = true, default_value_t = 1)]
    nodes: usize,
    /// Postgres admin URL: spawned nodes get a fresh database on that server.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Redis URL for spawned nodes.
    #[arg(long, global = true)]
    redis_url: Option<String>,
    /// Running hubs to drive instead (ws://IP:PORT/ws), repeated for several nodes.
    #[arg(long, global = true)]
    url: Vec<String>,
    /// Pids of running hubs, for CPU and memory figures.
    #[arg(long, global = true)]
    hub_pid: Vec<u32>,
    /// The JWT secret of running hubs.
    #[arg(long, global = true, env = "YUI_JWT_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Also run the same scenario against the floor (this `yui-floor` binary), after the hubs,
    /// in the same run, and report the hub's CPU per delivery against the floor's.
    #[arg(long, global = true)]
    floor: Option<PathBuf>,
    /// Extra argument for spawned hubs (repeated), e.g. `--hub-arg=--rate-per-second=100`.
    #[arg(long, global = true, allow_hyphen_values = true)]
    hub_arg: Vec<String>,
    /// Also measure the CPU of every postgres and redis-server process on this machine
    /// (on by default when spawned hubs use them).
    #[arg(long, global = true)]
    measure_services: bool,
}

#[derive(Subcommand)]
enum Scenario {
    /// R team rooms × M members, P posts/s for D seconds: delivery and ack latency, CPU/delivery.
    Fanout(Load),
    /// One town notice room with C readers, notices at a low rate: latency to the last reader.
    Broadcast {
        #[arg(long, default_value_t = 2000)]
        readers: usize,
        #[arg(long, default_value_t = 2.0)]
        notice_rate: f64,
        #[command(flatten)]
        load: Load,
    },
    /// Fanout with the post rate raised in steps until p99 passes a bound or anything is lost.
    Saturate {
        #[arg(long, default_value_t = 5)]
        step_secs: u64,
        #[arg(long, default_value_t = 50.0)]
        bound_ms: f64,
        #[arg(long, default_value_t = 50_000.0)]
        max_rate: f64,
        #[command(flatten)]
        load: Load,
    },
    /// C clients disconnect together and reconnect with `since` while posts go on.
    Resume {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Ramp to C subscribed connections and hold them: connections/s, KiB and CPU per connection.
    Connect {
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        /// Seconds to hold the connections before measuring and closing.
        #[arg(long, default_value_t = 5)]
        hold: u64,
        /// Connections per worker process (a process may hold at most ~20,000 files here).
        #[arg(long, default_value_t = 15_000)]
        per_worker: usize,
        /// Each connection subscribes to 1..=N (at most 3) town rooms.
        #[arg(long, default_value_t = 3)]
        subs: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Internal: a client worker process of `connect`.
    #[command(hide = true)]
    Worker(workers::WorkerArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Scenario::Worker(args) = &cli.scenario {
        let secret = cli.target.secret.clone().unwrap_or_default();
        return match workers::run(args.clone(), secret).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("yui-loadtest worker: {e:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    // On Ctrl-C or SIGTERM the run is dropped, and with it every spawned hub and worker
    // (kill_on_drop).
    let stop = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    let outcome = tokio::select! {
        r = run(cli) => r,
        () = stop => {
            eprintln!("yui-loadtest: interrupted; hubs and workers stopped");
            return std::process::ExitCode::from(130);
        }
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("yui-loadtest: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn hubs(t: &Target, out: &std::path::Path) -> Result<Hubs> {
    let (binary, floor) = match (&t.spawn_hub, &t.spawn_floor) {
        (Some(b), None) => (b.clone(), false),
        (None, Some(b)) => (b.clone(), true),
        (Some(_), Some(_)) => bail!("--spawn-hub or --spawn-floor, not both"),
        (None, None) => {
            if t.url.is_empty() {
                bail!("say which hubs: --spawn-hub PATH, --spawn-floor PATH, or --url ws://IP:PORT/ws");
            }
            let secret = t.secret.clone().unwrap_or_default();
            let mut hubs = Hubs::existing(t.url.clone(), t.hub_pid.clone(), secret);
            hubs.measure_services = t.measure_services;
            return Ok(hubs);
        }
    };
    if t.nodes > 1 && (t.database_url.is_none() || t.redis_url.is_none()) {
        bail!("{} nodes need --database-url and --redis-url", t.nodes);
    }
    let made = match &t.database_url {
        Some(admin) if !floor => Some(hubs::fresh_database(admin).await?),
        _ => None,
    };
    let mut hubs = Hubs::spawn(SpawnSpec {
        binary,
        nodes: if floor { 1 } else { t.nodes },
        database_url: made.as_ref().map(|(url, _)| url.clone()),
        redis_url: if floor { None } else { t.redis_url.clone() },
        floor,
        extra: if floor { Vec::new() } else { t.hub_arg.clone() },
        log_dir: Some(out.to_path_buf()),
    })
    .await?;
    hubs.made_database = made.map(|(_, name)| (t.database_url.clone().unwrap_or_default(), name));
    Ok(hubs)
}

async fn scenario(hubs: &Hubs, scenario: &Scenario) -> Result<Report> {
    let floor = hubs.kind == "floor";
    match scenario {
        Scenario::Fanout(load) => scenarios::fanout(hubs, load, floor, "fanout").await,
        Scenario::Broadcast {
            readers,
            notice_rate,
            load,
        } => scenarios::broadcast(hubs, *readers, *notice_rate, load.duration, load, floor).await,
        Scenario::Saturate {
            step_secs,
            bound_ms,
            max_rate,
            load,
        } => scenarios::saturate(hubs, load, *step_secs, *bound_ms, *max_rate, floor).await,
        Scenario::Resume { clients, load } => scenarios::resume(hubs, load, *clients, floor).await,
        Scenario::Connect {
            connections,
            hold,
            per_worker,
            subs,
            load,
        } => scenarios::connect(hubs, *connections, *hold, *per_worker, *subs, load, floor).await,
        Scenario::Worker(_) => bail!("worker is not a scenario"),
    }
}

async fn run(cli: Cli) -> Result<bool> {
    let hubs = hubs(&cli.target, &cli.out).await?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let result = scenario(&hubs, &cli.scenario).await;
    hubs.stop().await;
    let mut report = result?;
    if let Some(floor_bin) = &cli.target.floor {
        if matches!(cli.scenario, Scenario::Resume { .. }) {
            eprintln!("--floor: the floor keeps no history, so it cannot resume; skipped");
        } else {
            eprintln!(
                "now the same scenario against the floor ({})",
                floor_bin.display()
            );
            let floor = Hubs::spawn(SpawnSpec {
                binary: floor_bin.clone(),
                nodes: 1,
                database_url: None,
                redis_url: None,
                floor: true,
                extra: Vec::new(),
                log_dir: Some(cli.out.clone()),
            })
            .await?;
            let r = scenario(&floor, &cli.scenario).await;
            floor.stop().await;
            let r = r.context("the floor run")?;
            report.floor = Some(report::FloorFigures::of(&r, &report));
            if !r.ok() {
                eprintln!("the floor run had {} violations", r.violation_count);
                for v in r.violations.iter().take(5) {
                    eprintln!(
                        "  floor: {} in {} (client {}): {}",
                        v.kind, v.room, v.client, v.detail
                    );
                }
            }
        }
    }
    let name = format!("{}-{}-{stamp}", report.scenario, report.target);
    let path = report.write(&cli.out, &name)?;
    println!("{}", report.table());
    println!("report: {}", path.display());
    if !report.ok() {
        eprintln!(
            "FAILED: {} correctness violations",
            report.violation_count.max(report.violations.len() as u64)
        );
        for v in report.violations.iter().take(10) {
            eprintln!(
                "  {} in {} (client {}): {}",
                v.kind, v.room, v.client, v.detail
            );
        }
    }
    Ok(report.ok())
}

//! Client worker processes for big `connect` runs. One process may hold at most ~20,000 open
//! files on this machine, so the harness re-executes itself (`yui-loadtest worker ...`) once
//! per ~15,000 connections. A worker talks to its parent in JSON lines: progress while it
//! ramps, `ready` with its connect latencies, then (after `stop` on stdin) `alive`. A worker
//! stops by itself when its parent goes away or after `--max-secs`.

use crate::client::{self, source};
use crate::setup;
use anyhow::{anyhow, Context, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// What a worker is told to do.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Index of the first connection (its user, node and source address follow from it).
    #[arg(long)]
    pub first: usize,
    #[arg(long)]
    pub count: usize,
    /// Hub WebSocket URLs, comma-separated; connection i goes to URL i % len.
    #[arg(long)]
    pub urls: String,
    /// Town rooms to subscribe to: connection i subscribes to the first 1 + i % N of them.
    #[arg(long, default_value_t = 3)]
    pub subs: usize,
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// The worker exits by itself after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub max_secs: u64,
}

/// One line from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Progress {
        connected: u64,
        failed: u64,
    },
    Ready {
        connected: u64,
        failed: u64,
        first_error: Option<String>,
        /// Connect latency (TCP + upgrade + hello + subscribes) of each connection, µs.
        latencies_us: Vec<u64>,
    },
    Alive {
        alive: u64,
    },
}

fn say(line: &Line) {
    // stdout is the pipe to the parent; a worker prints nothing else.
    println!("{}", serde_json::to_string(line).unwrap_or_default());
}

/// The worker process: connect, report, hold until told to stop (or the parent is gone).
pub async fn run(args: WorkerArgs, secret: String) -> Result<()> {
    let started = Instant::now();
    let urls: Vec<String> = args.urls.split(',').map(str::to_owned).collect();
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let progress = {
        let (c, f) = (connected.clone(), failed.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                say(&Line::Progress {
                    connected: c.load(Ordering::Relaxed),
                    failed: f.load(Ordering::Relaxed),
                });
            }
        })
    };
    let jobs = (args.first..args.first + args.count).map(|i| {
        let url = urls[i % urls.len().max(1)].clone();
        let token = setup::token(&secret, &setup::user(i), None);
        let (c, f) = (connected.clone(), failed.clone());
        let subs = 1 + i % args.subs.max(1);
        let src = source(i, args.source_addrs);
        async move {
            let t0 = Instant::now();
            let r = async {
                let mut ws = client::open(&url, &token, src).await?;
                for k in 0..subs {
                    client::subscribe(&mut ws, &setup::town_room(k), None).await?;
                }
                Ok::<_, anyhow::Error>(ws)
            }
            .await;
            match &r {
                Ok(_) => c.fetch_add(1, Ordering::Relaxed),
                Err(_) => f.fetch_add(1, Ordering::Relaxed),
            };
            r.map(|ws| (ws, t0.elapsed().as_micros() as u64))
        }
    });
    let results: Vec<_> = futures::stream::iter(jobs)
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    progress.abort();
    let mut first_error = None;
    let mut conns = Vec::new();
    let mut latencies_us = Vec::new();
    for r in results {
        match r {
            Ok((ws, us)) => {
                latencies_us.push(us);
                conns.push(ws);
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    say(&Line::Ready {
        connected: conns.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        first_error,
        latencies_us,
    });
    // Hold: each connection's reader answers pings (tungstenite does when read) and notices a
    // close; the parent's `stop` (or EOF when it is gone) ends the hold.
    let alive = Arc::new(AtomicU64::new(conns.len() as u64));
    let mut readers = Vec::new();
    for mut ws in conns {
        let alive = alive.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(_)) = ws.next().await {}
            alive.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let left = Duration::from_secs(args.max_secs).saturating_sub(started.elapsed());
    let _ = tokio::time::timeout(left, stdin.next_line()).await;
    say(&Line::Alive {
        alive: alive.load(Ordering::Relaxed),
    });
    for r in readers {
        r.abort();
    }
    Ok(())
}

/// A worker as its parent sees it.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: tokio::sync::mpsc::Receiver<Line>,
}

impl Worker {
    pub fn spawn(args: &WorkerArgs, secret: &str) -> Result<Worker> {
        let exe = std::env::current_exe().context("finding my own executable")?;
        let mut child = Command::new(exe)
            .arg("worker")
            .arg("--first")
            .arg(args.first.to_string())
            .arg("--count")
            .arg(args.count.to_string())
            .arg("--urls")
            .arg(&args.urls)
            .arg("--subs")
            .arg(args.subs.to_string())
            .arg("--source-addrs")
            .arg(args.source_addrs.to_string())
            .arg("--concurrency")
            .arg(args.concurrency.to_string())
            .arg("--max-secs")
            .arg(args.max_secs.to_string())
            .env("YUI_JWT_SECRET", secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a worker process")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("worker has no stdout"))?;
        let stdin = child.stdin.take();
        let (tx, lines) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut out = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = out.next_line().await {
                if let Ok(line) = serde_json::from_str::<Line>(&l) {
                    if tx.send(line).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Worker {
            child,
            stdin,
            lines,
        })
    }

    /// Ends the hold: the worker reports how many connections were still open, and exits.
    pub async fn stop(&mut self) -> Option<u64> {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"stop\n").await;
            let _ = s.flush().await;
        }
        let alive = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = self.lines.recv().await {
                if let Line::Alive { alive } = l {
                    return Some(alive);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        alive
    }
}

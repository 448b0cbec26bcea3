//! The hubs under test: spawned by the harness (and killed at the end) or already running,
//! and their CPU time and memory read from /proc.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// CPU seconds (user + system) and resident memory of a process.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ProcSample {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

pub fn sample(pid: u32) -> Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here (after pid and comm) 11 and 12.
    let hz = 100.0;
    let cpu_seconds = (ticks(11) + ticks(12)) / hz;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_seconds,
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    })
}

/// CPU seconds of every process whose command name is one of `names` (Postgres backends,
/// redis-server): the shared services a cluster run also spends CPU in.
pub fn services_cpu(names: &[&str]) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0.0;
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(c, _)| c)
            .unwrap_or("");
        if names.iter().any(|n| comm.starts_with(n)) {
            total += sample(pid).map(|s| s.cpu_seconds).unwrap_or(0.0);
        }
    }
    total
}

/// Where the hubs are and which processes to measure.
pub struct Hubs {
    pub urls: Vec<String>,
    pub pids: Vec<u32>,
    pub secret: String,
    children: Vec<Child>,
    _dir: Option<PathBuf>,
    pub kind: &'static str,
    /// Postgres admin URL and the database made for this run, dropped at the end.
    pub made_database: Option<(String, String)>,
    /// Also measure the CPU of Postgres and Redis processes on this machine.
    pub measure_services: bool,
}

pub struct SpawnSpec {
    pub binary: PathBuf,
    pub nodes: usize,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub floor: bool,
    pub extra: Vec<String>,
    /// Where each spawned process's stderr goes (`hub-node<i>.log`, `floor.log`).
    pub log_dir: Option<PathBuf>,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Hubs {
    pub fn existing(urls: Vec<String>, pids: Vec<u32>, secret: String) -> Hubs {
        Hubs {
            urls,
            pids,
            secret,
            children: Vec::new(),
            _dir: None,
            kind: "external",
            made_database: None,
            measure_services: false,
        }
    }

    /// Starts `nodes` hubs (or one floor server) on free loopback ports.
    pub async fn spawn(spec: SpawnSpec) -> Result<Hubs> {
        let secret = format!("bench-{}", rand::random::<u64>());
        let dir = std::env::temp_dir().join(format!(
            "yui-bench-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut hubs = Hubs {
            urls: Vec::new(),
            pids: Vec::new(),
            secret,
            children: Vec::new(),
            _dir: Some(dir.clone()),
            made_database: None,
            measure_services: spec.database_url.is_some() || spec.redis_url.is_some(),
            kind: if spec.floor {
                "floor"
            } else if spec.database_url.is_some() {
                "cluster"
            } else {
                "embedded"
            },
        };
        for i in 0..spec.nodes.max(1) {
            let port = free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let mut cmd = Command::new(&spec.binary);
            if spec.floor {
                cmd.arg("--listen").arg(&addr);
            } else {
                cmd.arg("serve")
                    .arg("--listen")
                    .arg(&addr)
                    .arg("--data-dir")
                    .arg(dir.join(format!("node{i}")))
                    .arg("--node")
                    .arg(format!("bench-{i}"))
                    .env("YUI_JWT_SECRET", &hubs.secret)
                    .env("RUST_LOG", "warn");
                if let Some(db) = &spec.database_url {
                    cmd.env("DATABASE_URL", db);
                }
                if let Some(r) = &spec.redis_url {
                    cmd.env("REDIS_URL", r)
                        .env("YUI_REDIS_PREFIX", format!("bench{}", std::process::id()));
                }
            }
            let stderr = match &spec.log_dir {
                Some(d) => {
                    std::fs::create_dir_all(d)?;
                    let name = if spec.floor {
                        "floor.log".to_string()
                    } else {
                        format!("hub-node{i}.log")
                    };
                    Stdio::from(std::fs::File::create(d.join(name))?)
                }
                None => Stdio::inherit(),
            };
            cmd.args(&spec.extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .kill_on_drop(true);
            let child = cmd
                .spawn()
                .with_context(|| format!("starting {}", spec.binary.display()))?;
            hubs.pids.push(child.id().unwrap_or(0));
            hubs.children.push(child);
            hubs.urls.push(format!("ws://{addr}/ws"));
            wait_listening(&addr).await?;
        }
        Ok(hubs)
    }

    pub fn http_base(&self, i: usize) -> String {
        let ws = &self.urls[i % self.urls.len()];
        ws.replacen("ws://", "http://", 1)
            .trim_end_matches("/ws")
            .to_string()
    }

    pub fn samples(&self) -> Vec<ProcSample> {
        self.pids
            .iter()
            .map(|p| sample(*p).unwrap_or_default())
            .collect()
    }

    pub async fn stop(mut self) {
        for c in &mut self.children {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some((admin, name)) = &self.made_database {
            if let Err(e) = drop_database(admin, name).await {
                eprintln!("could not drop the run's database {name}: {e:#}");
            }
        }
    }

    /// After the set-up, refreshes the planner's statistics of the run's own database.
    /// Autovacuum would do so within a minute or so, as it has long done for any database in
    /// use; until then every prepared statement is planned for empty tables (a sequential scan
    /// of `users` per subscription), which measures a database no operator runs.
    pub async fn analyze(&self) -> Result<()> {
        use sqlx::Connection;
        let Some((admin, name)) = &self.made_database else {
            return Ok(());
        };
        let mut conn = sqlx::PgConnection::connect(&database_url(admin, name))
            .await
            .context("connecting to the run's database")?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        Ok(())
    }

    /// CPU seconds of Postgres and Redis on this machine, when this run measures them.
    pub fn services_cpu(&self) -> Option<f64> {
        self.measure_services
            .then(|| services_cpu(&["postgres", "redis-server"]))
    }
}

async fn wait_listening(addr: &str) -> Result<()> {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("nothing listening on {addr} after 10 s")
}

async fn drop_database(admin: &str, name: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// A fresh Postgres database for a cluster run: its URL and its name.
pub async fn fresh_database(admin: &str) -> Result<(String, String)> {
    use sqlx::Connection;
    let name = format!("yui_bench_{}", rand::random::<u32>());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .context("connecting to Postgres")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    Ok((database_url(admin, &name), name))
}

/// The URL of database `name` on the server of the admin URL.
fn database_url(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

//! Which store and bus a test hub runs on.
//!
//! `YUI_TEST_BACKEND` unset or `embedded`: SQLite in a temp dir and the in-process bus.
//! `YUI_TEST_BACKEND=cluster`: a fresh Postgres database per test (from
//! `YUI_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`) and Redis
//! (`YUI_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`; a `redis+cluster://host:port` URL
//! selects a Redis Cluster and the hub's sharded bus, see `scripts/redis-cluster.sh`).

use sqlx::Connection;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    Cluster {
        database_url: String,
        redis_url: String,
    },
}

pub fn admin_url() -> String {
    std::env::var("YUI_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into())
}

pub fn redis_url() -> String {
    std::env::var("YUI_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS.into())
}

/// A URL for database `name` on the server of `admin`.
pub fn database_url(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

/// Creates a fresh, empty Postgres database and returns its URL.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("yui_e2e_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("Postgres at {admin}: {e} (is it running? see README)"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let _ = conn.close().await;
    database_url(&admin, &name)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        t % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Tests share one Redis: each test's hubs use their own channel prefix (its database's name).
pub fn prefix(database_url: &str) -> String {
    database_url.rsplit('/').next().unwrap_or("yui").to_string()
}

impl Backend {
    pub fn cluster_requested() -> bool {
        std::env::var("YUI_TEST_BACKEND").is_ok_and(|b| b == "cluster")
    }

    /// The backend this test run asks for, fresh.
    pub async fn fresh() -> Backend {
        if Self::cluster_requested() {
            Self::fresh_cluster().await
        } else {
            Backend::Embedded
        }
    }

    /// A fresh Postgres database and the shared Redis, whatever the run asks for.
    pub async fn fresh_cluster() -> Backend {
        Backend::Cluster {
            database_url: fresh_database().await,
            redis_url: redis_url(),
        }
    }

    /// Points an in-process hub's settings at this backend.
    pub fn configure(&self, args: &mut yui_server::config::ServeArgs) {
        if let Backend::Cluster {
            database_url,
            redis_url,
        } = self
        {
            args.store.database_url = Some(database_url.clone());
            args.redis_url = Some(redis_url.clone());
            args.redis_prefix = prefix(database_url);
            args.store.db_pool = 4;
        }
    }

    /// Environment for a hub process on this backend.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Backend::Embedded => Vec::new(),
            Backend::Cluster {
                database_url,
                redis_url,
            } => vec![
                ("DATABASE_URL".into(), database_url.clone()),
                ("REDIS_URL".into(), redis_url.clone()),
                ("YUI_REDIS_PREFIX".into(), prefix(database_url)),
            ],
        }
    }
}

/// A Redis of a test's own (`redis-server` on a loopback port in 7150-7199, no persistence),
/// for tests that kill it and start it again on the same port. Killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

/// Ports of test-owned Redis servers. (`scripts/redis-cluster.sh` defaults to 7101-7103 for the
/// shared test cluster; test-owned clusters take 7120-7149.)
const OWN_REDIS_PORTS: std::ops::Range<u16> = 7150..7200;

impl RedisServer {
    /// Starts one on a free port of the range.
    pub async fn start() -> RedisServer {
        use std::sync::atomic::{AtomicU16, Ordering};
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let span = OWN_REDIS_PORTS.end - OWN_REDIS_PORTS.start;
        let offset = (std::process::id() % u32::from(span)) as u16;
        for _ in 0..span {
            let i = (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
            let port = OWN_REDIS_PORTS.start + i;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let mut server = RedisServer { port, child: None };
            if server.spawn().await {
                return server;
            }
        }
        panic!("no free port for a test Redis in {OWN_REDIS_PORTS:?}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts redis-server on `self.port` and waits until it answers; `false` if it exits
    /// (the port was taken).
    async fn spawn(&mut self) -> bool {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().display().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server (is it installed?): {e}"));
        self.child = Some(child);
        for _ in 0..200 {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    self.child = None;
                    return false;
                }
            }
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                    if redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .is_ok()
                    {
                        return true;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("redis-server on port {} did not answer", self.port);
    }

    /// SIGKILL: the server and every connection to it are gone at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: it keeps nothing).
    pub async fn restart(&mut self) {
        self.kill();
        for _ in 0..40 {
            if self.spawn().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not restart on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `url` names a Redis Cluster.
pub fn is_cluster_url(url: &str) -> bool {
    url.starts_with("redis+cluster://")
}

/// `host:port` of every master of the Redis at `url` (one Redis: itself).
pub async fn redis_masters(url: &str) -> Vec<String> {
    let Some(seed) = url.strip_prefix("redis+cluster://") else {
        let host = url.trim_start_matches("redis://");
        return vec![host.split(['/', '?']).next().unwrap_or(host).to_string()];
    };
    let seed = seed.split([',', '/', '?']).next().unwrap_or(seed);
    let client = redis::Client::open(format!("redis://{seed}"))
        .unwrap_or_else(|e| panic!("Redis Cluster seed {seed}: {e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis Cluster seed {seed}: {e}"));
    let slots: Vec<(u16, u16, String)> = cluster_slots(&mut conn).await;
    let mut masters: Vec<String> = slots.into_iter().map(|s| s.2).collect();
    masters.sort();
    masters.dedup();
    masters
}

/// `(first slot, last slot, master host:port)` from `CLUSTER SLOTS`.
pub async fn cluster_slots(
    conn: &mut redis::aio::MultiplexedConnection,
) -> Vec<(u16, u16, String)> {
    let reply: Vec<(u16, u16, (String, u16))> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async::<Vec<redis::Value>>(conn)
        .await
        .unwrap_or_else(|e| panic!("CLUSTER SLOTS: {e}"))
        .into_iter()
        .map(|entry| {
            let redis::Value::Array(parts) = entry else {
                panic!("CLUSTER SLOTS entry: {entry:?}")
            };
            let first: u16 = redis::from_redis_value(&parts[0]).unwrap_or_else(|e| panic!("{e}"));
            let last: u16 = redis::from_redis_value(&parts[1]).unwrap_or_else(|e| panic!("{e}"));
            let redis::Value::Array(master) = &parts[2] else {
                panic!("CLUSTER SLOTS master: {:?}", parts[2])
            };
            let host: String =
                redis::from_redis_value(&master[0]).unwrap_or_else(|e| panic!("{e}"));
            let port: u16 = redis::from_redis_value(&master[1]).unwrap_or_else(|e| panic!("{e}"));
            (first, last, (host, port))
        })
        .collect();
    reply
        .into_iter()
        .map(|(a, b, (h, p))| (a, b, format!("{h}:{p}")))
        .collect()
}

/// Cuts every pub/sub connection of the Redis (every master of a Redis Cluster) at `url`:
/// subscribers must reconnect and resync.
pub async fn kill_pubsub_clients(url: &str) {
    for master in redis_masters(url).await {
        let client = redis::Client::open(format!("redis://{master}"))
            .unwrap_or_else(|e| panic!("Redis {master}: {e}"));
        let mut admin = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("Redis {master}: {e}"));
        let _: Result<i64, _> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await;
    }
}

/// A Redis Cluster of a test's own: three masters from `scripts/redis-cluster.sh` on ports
/// `port0..port0+2` (7120-7149), stopped when dropped.
pub struct RedisCluster {
    pub port0: u16,
    dir: tempfile::TempDir,
}

fn cluster_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster.sh")
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        use std::sync::atomic::{AtomicU16, Ordering};
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let offset = (std::process::id() % 10) as u16;
        for _ in 0..10 {
            let port0 = 7120 + 3 * ((offset + NEXT.fetch_add(1, Ordering::Relaxed)) % 10);
            let free =
                (port0..port0 + 3).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
            if !free {
                continue;
            }
            let out = tokio::process::Command::new(cluster_script())
                .arg("start")
                .arg(dir.path())
                .arg(port0.to_string())
                .output()
                .await
                .unwrap_or_else(|e| panic!("scripts/redis-cluster.sh: {e}"));
            if out.status.success() {
                return RedisCluster { port0, dir };
            }
            // Stop whatever of it did start.
            let _ = tokio::process::Command::new(cluster_script())
                .arg("stop")
                .arg(dir.path())
                .arg(port0.to_string())
                .output()
                .await;
            eprintln!(
                "redis-cluster.sh start on {port0}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("no free ports for a test Redis Cluster in 7120-7149");
    }

    pub fn url(&self) -> String {
        format!("redis+cluster://127.0.0.1:{}", self.port0)
    }

    /// Kills the master on `port` and starts it again (same slots; it keeps its cluster config).
    pub async fn restart_node(&self, port: u16) {
        let out = tokio::process::Command::new(cluster_script())
            .arg("restart-node")
            .arg(self.dir.path())
            .arg(port.to_string())
            .output()
            .await
            .unwrap_or_else(|e| panic!("scripts/redis-cluster.sh: {e}"));
        assert!(
            out.status.success(),
            "restart-node {port}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub async fn slot_of(&self, key: &str) -> u16 {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port0))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT: {e}"))
    }

    /// The master port serving `key`'s slot.
    pub async fn port_of(&self, key: &str) -> u16 {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port0))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT: {e}"));
        cluster_slots(&mut conn)
            .await
            .into_iter()
            .find(|(a, b, _)| *a <= slot && slot <= *b)
            .and_then(|(_, _, m)| m.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(cluster_script())
            .arg("stop")
            .arg(self.dir.path())
            .arg(self.port0.to_string())
            .output();
    }
}

//! Which store and bus a test hub runs on.
//!
//! `YUI_TEST_BACKEND` unset or `embedded`: SQLite in a temp dir and the in-process bus.
//! `YUI_TEST_BACKEND=cluster`: a fresh Postgres database per test (from
//! `YUI_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`) and Redis
//! (`YUI_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).

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
fn prefix(database_url: &str) -> String {
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

    pub fn serve_args(&self) -> Vec<String> {
        match self {
            Backend::Embedded => Vec::new(),
            Backend::Cluster {
                database_url,
                redis_url,
            } => vec![
                "--database-url".into(),
                database_url.clone(),
                "--redis-url".into(),
                redis_url.clone(),
                "--redis-prefix".into(),
                prefix(database_url),
                "--db-pool".into(),
                "4".into(),
            ],
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

/// A Redis of a test's own (`redis-server` on a loopback port in 7110-7199, no persistence),
/// for tests that kill it and start it again on the same port. Killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

/// First port of the range test-owned Redis servers use (the Redis Cluster of
/// `scripts/redis-cluster.sh` defaults to 7101-7103).
const OWN_REDIS_PORTS: std::ops::Range<u16> = 7110..7200;

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

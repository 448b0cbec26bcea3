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

//! The cluster store: Postgres, shared by every hub node. A post locks its room's row
//! (`FOR UPDATE`) before it checks its idempotency key and takes the next seq, so commit order
//! is seq order and a retry on another node finds the first commit.

use super::sql::impl_sql_store;
use super::*;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use std::time::Duration;

pub struct PostgresStore {
    reader: PgPool,
    writer: PgPool,
}

impl PostgresStore {
    /// Connects a pool and applies the migrations (sqlx takes an advisory lock, so several
    /// nodes starting at once is safe).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        let store = PostgresStore {
            reader: pool.clone(),
            writer: pool,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Internal(e.into()))
    }
}

impl_sql_store!(
    PostgresStore,
    sqlx::Postgres,
    "SELECT last_seq FROM rooms WHERE id = $1 FOR UPDATE"
);

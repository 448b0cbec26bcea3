//! The cluster store: Postgres, shared by every hub node. A batch locks its rooms' rows
//! (`FOR UPDATE`, in sorted order) before a post checks its idempotency key and takes the next
//! seq, so commit order is seq order, a retry on another node finds the first commit, and
//! nodes never deadlock.

use super::sql::impl_sql_store;
use super::*;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use std::time::Duration;

pub struct PostgresStore {
    reader: PgPool,
    writer: PgPool,
    health: super::sql::WriteHealth,
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
            health: super::sql::WriteHealth::new(),
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

impl PostgresStore {
    /// Nothing to check: the database is not a local file.
    fn check_file(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Row locks on the batch's rooms, taken in sorted order: a post then checks its idempotency
    /// key and takes the next seq while no other node can, and two nodes' batches never
    /// deadlock.
    async fn lock_rooms(conn: &mut sqlx::PgConnection, rooms: &[&str]) -> StoreResult<()> {
        if rooms.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT id FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(rooms)
            .fetch_all(conn)
            .await?;
        Ok(())
    }
}

impl_sql_store!(PostgresStore, sqlx::Postgres);

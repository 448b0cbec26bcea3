//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, one writer
//! connection (so a group commit is one transaction on one connection) and a few readers.

use super::sql::impl_sql_store;
use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `path` and applies the migrations.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Acked data is medical data: it must survive a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // A local file cannot go stale the way a network connection can: no ping (a round trip
        // to sqlx's SQLite worker thread) before every acquire, which is once per group commit.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let store = SqliteStore {
            reader: SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.read_only(true))
                .await?,
            writer,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes both pools (the WAL is checkpointed when the last connection closes).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    #[cfg(test)]
    pub(crate) fn write_pool_for_tests(&self) -> SqlitePool {
        self.writer.clone()
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Internal(e.into()))
    }
}

impl SqliteStore {
    /// One writer connection: its transaction already excludes every other writer.
    async fn lock_rooms(_conn: &mut sqlx::SqliteConnection, _rooms: &[&str]) -> StoreResult<()> {
        Ok(())
    }
}

impl_sql_store!(SqliteStore, sqlx::Sqlite);

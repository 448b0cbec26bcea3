//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, one writer
//! connection (so a group commit is one transaction on one connection) and a few readers.

use super::sql::impl_sql_store;
use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    health: super::sql::WriteHealth,
    /// The database file, and the (device, inode) it had when opened: a file deleted or
    /// replaced under the running hub is no longer where commits go.
    path: PathBuf,
    identity: (u64, u64),
    /// An exclusive OS lock (flock) on `<database>.lock`, held as long as the store lives: one
    /// data directory, one hub.
    _lock: std::fs::File,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `path` and applies the migrations.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        let lock = lock_exclusively(path)?;
        // The file is created once, here; the pools never create it: a connection opened
        // after the file was deleted under the hub (a writer replaced after a failed commit)
        // must fail, not start an empty database where the hub's data was.
        if !path.exists() {
            use sqlx::ConnectOptions;
            let conn = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .connect()
                .await?;
            sqlx::Connection::close(conn).await?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
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
            health: super::sql::WriteHealth::new(),
            identity: file_identity(path)?,
            path: path.to_path_buf(),
            _lock: lock,
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

/// Takes the data directory's lock before anything touches the database, so that of two hubs
/// started on one directory at the same instant exactly one opens it. The OS releases the lock
/// when the process ends, however it ends.
fn lock_exclusively(path: &Path) -> StoreResult<std::fs::File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Internal(sqlx::Error::Configuration(
            format!(
                "another hub is using this data directory ({} is locked): one data directory serves one hub",
                lock_path.display()
            )
            .into(),
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(sqlx::Error::Io(e))),
    }
}

fn file_identity(path: &Path) -> StoreResult<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    Ok((meta.dev(), meta.ino()))
}

impl SqliteStore {
    /// The database file is still the one this store opened (not deleted, not replaced).
    fn check_file(&self) -> StoreResult<()> {
        if file_identity(&self.path)? == self.identity {
            Ok(())
        } else {
            Err(StoreError::Unavailable(sqlx::Error::Protocol(format!(
                "{} was replaced under the running hub",
                self.path.display()
            ))))
        }
    }

    /// One writer connection: its transaction already excludes every other writer.
    async fn lock_rooms(_conn: &mut sqlx::SqliteConnection, _rooms: &[&str]) -> StoreResult<()> {
        Ok(())
    }
}

impl_sql_store!(SqliteStore, sqlx::Sqlite);

//! The SQLite connections: one writer thread that owns the only write connection, and a small
//! pool of read-only connections used from tokio's blocking threads.
//!
//! Every write is a job sent to the writer thread over a bounded channel and answered by a
//! oneshot: a group commit is one thread hop, whatever its size, and its statements run on
//! cached prepared statements with no hand-off per statement. A transaction that fails at any
//! point, its COMMIT included, is rolled back explicitly and the connection must be back in
//! autocommit mode; after a failed COMMIT, a write that failed for want of the database (full,
//! read-only, an I/O error), or whenever that check fails, the connection is discarded and the
//! next job opens a fresh one (never creating the file, never read-only). So a failed write can never leave an open
//! transaction behind that would make later "commits" no-ops.

use crate::store::{DbError, StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// How long a statement waits for a lock held by another connection (a reader checkpointing,
/// another process) before failing with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements each connection keeps (rusqlite's LRU cache; a group commit uses about
/// ten).
const STATEMENT_CACHE: usize = 64;

/// Jobs queued for the writer thread before senders wait.
const WRITER_QUEUE: usize = 256;

/// Read-only connections (and so reads running at once).
pub(super) const READERS: usize = 4;

/// `PRAGMA synchronous`'s value for FULL.
const SYNCHRONOUS_FULL: i64 = 2;

/// How often the checkpointer thread copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL frames after which the writer checkpoints by itself (SQLite's automatic checkpoint).
/// Only a backstop: the checkpointer thread has by then copied nearly every frame, so this
/// mostly lets the WAL start again from its beginning, which needs a moment with no write
/// after a complete checkpoint. 4,000 pages of 4 KiB: a WAL of at most ~16 MB.
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 4000;

/// Whether opening the write connection may create the database file: only when the store
/// opens. A connection opened again after one was discarded must fail if the file was deleted
/// under the hub, not start an empty database where the hub's data was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Create {
    IfMissing,
    Never,
}

/// Opens the write connection: WAL, `synchronous=FULL` (acked data is medical data: it must
/// survive a power cut, not only a crash), foreign keys on.
pub(super) fn open_writer(path: &Path, create: Create) -> StoreResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create == Create::IfMissing {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // SQLite opens a file it may not write read-only, silently: such a connection would refuse
    // every write even once the file is writable again.
    if conn.is_readonly(rusqlite::DatabaseName::Main)? {
        return Err(StoreError::Unavailable(DbError::Store(format!(
            "{} can only be opened read-only",
            path.display()
        ))));
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "journal_mode is {mode}, WAL was asked for"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    // The WAL is checkpointed by the checkpointer thread, off the commit path (SQLite's
    // default, every 1,000 frames, ran it in the committing thread, between a commit and the
    // ack of every post waiting on the writer).
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    Ok(conn)
}

/// The checkpointer's connection: read-write (a checkpoint writes the database file), never
/// creating the file, `synchronous=FULL` (the database file is synced after each checkpoint,
/// before the WAL may be reused).
fn open_checkpointer(path: &Path) -> StoreResult<Connection> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.execute_batch("PRAGMA synchronous = FULL;")?;
    Ok(conn)
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A connection to the database file as it is (never creating it), with the busy timeout.
fn open_existing(path: &Path, mode: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// What the writer thread owns: the write connection, or none after one was discarded (the
/// next job opens a fresh one).
pub(super) struct WriterState {
    path: PathBuf,
    /// The database file's (device, inode) when the store opened it.
    identity: FileIdentity,
    conn: Option<Connection>,
    closed: bool,
}

/// A file's (device, inode): a database file deleted or replaced under the running hub is no
/// longer where commits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    pub(super) fn of(path: &Path) -> StoreResult<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// `Unavailable` unless `path` is still this file.
    pub(super) fn check(self, path: &Path) -> StoreResult<()> {
        if FileIdentity::of(path)? == self {
            Ok(())
        } else {
            Err(StoreError::stopped(&format!(
                "{} was replaced under the running hub",
                path.display()
            )))
        }
    }
}

impl WriterState {
    /// The write connection, opened again when the last one was discarded.
    pub(super) fn conn(&mut self) -> StoreResult<&Connection> {
        if self.closed {
            return Err(StoreError::stopped("the SQLite store is closed"));
        }
        match &mut self.conn {
            Some(conn) => Ok(conn),
            slot @ None => {
                let conn = open_writer(&self.path, Create::Never)?;
                Ok(slot.insert(conn))
            }
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` ... `COMMIT` transaction. `Ok` only when COMMIT
    /// returned OK and the connection is back in autocommit mode.
    pub(super) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let result = {
            let conn = self.conn()?;
            run_transaction(conn, f)
        };
        match result {
            Ok(value) => Ok(value),
            Err(TxFailure::Body(e)) => {
                self.roll_back();
                if matches!(e, StoreError::Unavailable(_)) {
                    // The database could not take the write (full, read-only, an I/O error):
                    // whatever the connection learnt about the file then is in doubt.
                    self.discard("a write failed for want of the database");
                }
                Err(e)
            }
            Err(TxFailure::Commit(e)) => {
                // A COMMIT that failed may leave the transaction open (SQLITE_BUSY) or rolled
                // back (SQLITE_FULL, an I/O error): roll back whatever is left and, since the
                // connection's state is in doubt, open a fresh one for the next job.
                self.roll_back();
                self.discard("COMMIT failed");
                Err(e)
            }
            Err(TxFailure::Open(why)) => {
                self.roll_back();
                self.discard(why);
                Err(StoreError::stopped(why))
            }
        }
    }

    /// Like [`WriterState::transaction`], for data the store can always write again (the search
    /// index, made from its queue rows): its COMMIT does not wait for the disk
    /// (`synchronous=NORMAL`), so an index job holds the writer, and the posts queued behind
    /// it, for less. WAL keeps it atomic; a power cut may undo it together with its progress
    /// mark, so the same messages are indexed again; the next ordinary commit's sync makes it
    /// durable as well. The connection is back on `synchronous=FULL` before this returns, or
    /// is discarded (a fresh one opens with FULL).
    pub(super) fn transaction_without_sync<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.conn()?.execute_batch("PRAGMA synchronous = NORMAL")?;
        let result = self.transaction(f);
        let restored = self.conn.as_ref().map(|conn| {
            conn.execute_batch("PRAGMA synchronous = FULL")
                .and_then(|()| conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)))
        });
        match restored {
            None | Some(Ok(SYNCHRONOUS_FULL)) => {}
            Some(_) => self.discard("synchronous=FULL could not be restored"),
        }
        result
    }

    /// `Unavailable` unless the database file is still the one the store opened; the write
    /// connection is then discarded (a fresh one fails to open while the file is missing).
    pub(super) fn check_file(&mut self) -> StoreResult<()> {
        let checked = self.identity.check(&self.path);
        if checked.is_err() {
            self.discard("the database file was deleted or replaced");
        }
        checked
    }

    /// Rolls back whatever transaction is open; discards the connection when that fails to
    /// bring it back to autocommit mode.
    fn roll_back(&mut self) {
        let Some(conn) = &self.conn else { return };
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if !conn.is_autocommit() {
            self.discard("ROLLBACK left the transaction open");
        }
    }

    fn discard(&mut self, why: &str) {
        if let Some(conn) = self.conn.take() {
            tracing::warn!(why, "discarding the SQLite write connection");
            if let Err((conn, e)) = conn.close() {
                tracing::warn!(error = %e, "closing the SQLite write connection failed");
                drop(conn);
            }
        }
    }

    fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Closing the last connection checkpoints the WAL into the database file.
            if let Err((conn, e)) = conn.close() {
                tracing::warn!(error = %e, "closing the SQLite write connection failed");
                drop(conn);
            }
        }
        self.closed = true;
    }
}

/// Where a transaction failed.
enum TxFailure {
    /// Before COMMIT (BEGIN or a statement): a ROLLBACK undoes it.
    Body(StoreError),
    /// COMMIT itself.
    Commit(StoreError),
    /// The connection was inside a transaction when it should not have been.
    Open(&'static str),
}

fn run_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> Result<T, TxFailure> {
    if !conn.is_autocommit() {
        // Never expected: a transaction left open by an earlier job.
        return Err(TxFailure::Open("a transaction was open before BEGIN"));
    }
    // Cached like the statements inside: `execute_batch` would parse each of them again for
    // every transaction, a few per cent of the writer's CPU at one commit per post.
    conn.prepare_cached("BEGIN IMMEDIATE")
        .and_then(|mut begin| begin.execute([]))
        .map_err(|e| TxFailure::Body(e.into()))?;
    let value = f(conn).map_err(TxFailure::Body)?;
    conn.prepare_cached("COMMIT")
        .and_then(|mut commit| commit.execute([]))
        .map_err(|e| TxFailure::Commit(e.into()))?;
    if !conn.is_autocommit() {
        return Err(TxFailure::Open(
            "COMMIT returned OK but the transaction is still open",
        ));
    }
    Ok(value)
}

type Job = Box<dyn FnOnce(&mut WriterState) + Send>;

/// The handle of the writer thread.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread with an already opened (and migrated) connection.
    pub(super) fn spawn(
        path: &Path,
        identity: FileIdentity,
        conn: Connection,
    ) -> StoreResult<Writer> {
        let (jobs, mut inbox) = mpsc::channel::<Job>(WRITER_QUEUE);
        let mut state = WriterState {
            path: path.to_owned(),
            identity,
            conn: Some(conn),
            closed: false,
        };
        std::thread::Builder::new()
            .name("yui-sqlite-writer".into())
            .spawn(move || {
                while let Some(job) = inbox.blocking_recv() {
                    // A job that panics answers nobody (its oneshot is dropped: the caller
                    // gets an error); the connection it used is in doubt and is replaced.
                    if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut state))).is_err() {
                        state.roll_back();
                        state.discard("a write job panicked");
                    }
                }
                state.close();
            })?;
        Ok(Writer { jobs })
    }

    /// Runs `f` on the writer thread and waits for its answer.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WriterState) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            let _ = reply.send(f(state));
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::stopped("the SQLite writer thread has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::stopped("the SQLite writer dropped a job"))?
    }

    /// Runs `f` in one transaction on the writer thread.
    pub(super) async fn transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.run(move |state| state.transaction(f)).await
    }

    /// Closes the write connection (checkpointing the WAL); later writes fail.
    pub(super) async fn close(&self) {
        let _ = self
            .run(|state| {
                state.close();
                Ok(())
            })
            .await;
    }
}

/// The checkpointer thread: every [`CHECKPOINT_EVERY`], a passive checkpoint on a connection
/// of its own copies the WAL's committed frames into the database file, while the writer goes
/// on committing (a passive checkpoint waits for no reader or writer). A checkpoint that fails
/// (a full disk) loses nothing, since the frames stay in the WAL; it is tried again at the
/// next tick on a fresh connection, and the failure is logged once, not at every tick.
pub(super) struct Checkpointer {
    /// The thread's stop channel (it stops when the sender is dropped) and its handle; taken
    /// by [`Checkpointer::stop`].
    running: Mutex<Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>>,
}

impl Checkpointer {
    pub(super) fn spawn(path: &Path) -> StoreResult<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(1);
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("yui-sqlite-checkpoint".into())
            .spawn(move || {
                use std::sync::mpsc::RecvTimeoutError;
                let mut conn = None;
                let mut failing = false;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    match checkpoint(&path, &mut conn) {
                        Ok(()) if failing => {
                            failing = false;
                            tracing::info!("SQLite checkpoints succeed again");
                        }
                        Ok(()) => {}
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(error = %e, "a SQLite checkpoint failed; the WAL keeps the data and it is tried again");
                        }
                        Err(_) => {}
                    }
                }
            })?;
        Ok(Checkpointer {
            running: Mutex::new(Some((stop, thread))),
        })
    }

    /// Stops the thread and waits for it (its connection closed), so that the writer's
    /// connection is the last one and checkpoints the whole WAL as it closes.
    pub(super) async fn stop(&self) {
        let running = self.running.lock().ok().and_then(|mut r| r.take());
        if let Some((stop, thread)) = running {
            drop(stop);
            if tokio::task::spawn_blocking(move || thread.join())
                .await
                .is_err()
            {
                tracing::warn!("the SQLite checkpointer thread could not be joined");
            }
        }
    }
}

/// One passive checkpoint; the connection is dropped after an error (the next one is opened
/// afresh, never creating the file).
fn checkpoint(path: &Path, slot: &mut Option<Connection>) -> StoreResult<()> {
    let conn = match slot {
        Some(conn) => conn,
        None => slot.insert(open_checkpointer(path)?),
    };
    // (busy, frames in the WAL, frames checkpointed): busy only means another checkpoint (the
    // writer's backstop) holds the lock now.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0)) {
        *slot = None;
        return Err(e.into());
    }
    Ok(())
}

/// Read-only connections, used on tokio's blocking threads, at most [`READERS`] at once.
pub(super) struct Readers {
    path: PathBuf,
    permits: Arc<Semaphore>,
    /// Idle connections. A `std` mutex: it is held only to push or pop, never across `.await`.
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_owned(),
            permits: Arc::new(Semaphore::new(READERS)),
            idle: Arc::new(Mutex::new(Vec::with_capacity(READERS))),
        }
    }

    /// Runs `f` on an idle read-only connection (opened when none is idle).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::stopped("the SQLite readers are closed"))?;
        let idle = self.idle.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let popped = idle.lock().ok().and_then(|mut v| v.pop());
            let conn = match popped {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let out = f(&conn);
            // A connection that failed for a reason other than the query's own is not reused.
            let keep = match &out {
                Err(StoreError::Unavailable(_)) => false,
                _ => conn.is_autocommit(),
            };
            if keep {
                if let Ok(mut v) = idle.lock() {
                    v.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|_| StoreError::stopped("a SQLite read task panicked"))?
    }

    /// Closes the idle connections; reads after this open new ones.
    pub(super) fn close(&self) {
        if let Ok(mut v) = self.idle.lock() {
            v.clear();
        }
    }
}

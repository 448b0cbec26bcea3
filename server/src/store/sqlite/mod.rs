//! The embedded default store: one SQLite file (WAL, `synchronous=FULL` for everything but the
//! search index's own jobs, which can always be made again; foreign keys) on
//! rusqlite. One dedicated writer thread owns the only write connection and runs every write,
//! a whole group commit per job ([`conn::Writer`]); reads run on a few read-only connections of
//! their own ([`conn::Readers`]), so they never queue behind a commit's fsync; a checkpointer
//! thread ([`conn::Checkpointer`]) copies the WAL into the database file off the commit path.
//!
//! One module per concern, as for Postgres: [`rooms`], [`members`], [`messages`], [`reads`],
//! [`audit`], [`commit`], [`notes`] (confirmations, who has not read); [`migrate`] applies the migration files the way sqlx did.

use super::health::WriteHealth;
use super::{
    AttachmentRecord, AuditFilter, DbError, ProfilePatch, PutMember, PutRoom, RoomInfo, RoomSpec,
    SearchSpec, Store, StoreError, StoreResult, Write, WriteOutcome,
};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use yui_protocol::ids::{AttachmentId, RoomId, TownId, UserId};
use yui_protocol::model::{
    AuditEntry, Confirmation, Member, MemberRole, Message, Reader, RoomSummary, Timestamp,
    UserName, UserRef,
};

mod attachments;
mod audit;
mod commit;
mod conn;
mod members;
mod messages;
mod migrate;
mod notes;
mod push;
mod reads;
mod rooms;
mod search;
mod town;

/// Queued messages one index job takes when a search catches the index up.
const SEARCH_CATCH_UP: usize = 2000;

pub struct SqliteStore {
    writer: conn::Writer,
    checkpointer: conn::Checkpointer,
    readers: conn::Readers,
    health: WriteHealth,
    path: PathBuf,
    identity: conn::FileIdentity,
    /// An exclusive OS lock (flock) on `<database>.lock`, held as long as the store lives: one
    /// data directory, one hub.
    _lock: std::fs::File,
    /// Group commits that queued messages for the search index (starts at 1: rows queued
    /// before a restart count as one), and the count that an index job has since caught up
    /// with: equal, nothing is queued, and a search needs no hop to the writer first.
    search_queued: AtomicU64,
    search_indexed: AtomicU64,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `path` and applies the migrations.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let lock = lock_exclusively(&path)?;
            // The only connection that may create the file.
            let conn = conn::open_writer(&path, conn::Create::IfMissing)?;
            migrate::run(&conn)?;
            search::backfill(&conn)?;
            let identity = conn::FileIdentity::of(&path)?;
            Ok(SqliteStore {
                writer: conn::Writer::spawn(&path, identity, conn)?,
                checkpointer: conn::Checkpointer::spawn(&path)?,
                readers: conn::Readers::new(&path),
                health: WriteHealth::new(),
                path,
                identity,
                _lock: lock,
                search_queued: AtomicU64::new(1),
                search_indexed: AtomicU64::new(0),
            })
        })
        .await
        .map_err(|_| super::StoreError::stopped("opening the SQLite store panicked"))?
    }

    /// Indexes everything queued for search before a search reads. Best effort: when the
    /// index cannot be written now (a full disk), the search still answers from what is
    /// indexed, and the follower writes the rest once it can.
    async fn index_all_queued(&self) {
        loop {
            match self.index_search(SEARCH_CATCH_UP).await {
                Ok(n) if n == SEARCH_CATCH_UP => continue,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "search: queued messages could not be indexed before a search");
                    return;
                }
            }
        }
    }

    /// Closes the connections (the WAL is checkpointed when the last one closes); later writes
    /// fail.
    pub async fn close(&self) {
        self.readers.close();
        self.checkpointer.stop().await;
        self.writer.close().await;
    }

    /// Applies the migrations not yet applied (`open` already does).
    pub async fn migrate(&self) -> StoreResult<()> {
        self.writer.run(|state| migrate::run(state.conn()?)).await
    }

    /// A pragma's value on the write connection, as text.
    #[cfg(test)]
    pub(crate) async fn writer_pragma(&self, name: &'static str) -> StoreResult<String> {
        self.writer
            .run(move |state| {
                let conn = state.conn()?;
                let value: rusqlite::types::Value =
                    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
                Ok(match value {
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Text(s) => s,
                    other => format!("{other:?}"),
                })
            })
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        // Not ready while the last write failed for want of the database, nor once the file
        // is deleted or replaced under the hub. While not ready, a probe write is tried: a node
        // that no traffic reaches (a load balancer took it out on the 503) must still come back
        // once space is freed or the file is writable again.
        if self.health.check().is_err() {
            let at = yui_protocol::model::Timestamp::now().millis();
            let probe = self
                .writer
                .transaction(move |conn| {
                    conn.execute(
                        "INSERT INTO write_probe (id, at) VALUES (1, ?1) \
                         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                        [at],
                    )
                    .map(|_| ())
                    .map_err(Into::into)
                })
                .await;
            self.health.settle(probe)?;
        }
        let (path, identity) = (self.path.clone(), self.identity);
        self.readers
            .run(move |conn| {
                identity.check(&path)?;
                conn.query_row("SELECT 1", [], |_| Ok(()))?;
                Ok(())
            })
            .await
    }

    async fn upsert_user(&self, user: &UserRef, town: &TownId) -> StoreResult<()> {
        let (user, town) = (user.clone(), town.clone());
        let result = self
            .writer
            .transaction(move |conn| members::upsert_user(conn, &user, &town))
            .await;
        self.health.settle(result)
    }

    async fn room(&self, room: &RoomId) -> StoreResult<Option<RoomInfo>> {
        let room = room.clone();
        self.readers.run(move |conn| rooms::room(conn, &room)).await
    }

    async fn put_room(
        &self,
        room: &RoomId,
        spec: &RoomSpec,
        creator: &UserRef,
    ) -> StoreResult<PutRoom> {
        let (room, spec, creator) = (room.clone(), spec.clone(), creator.clone());
        let result = self
            .writer
            .transaction(move |conn| rooms::put_room(conn, &room, &spec, &creator))
            .await;
        self.health.settle(result)
    }

    async fn members(&self, room: &RoomId) -> StoreResult<Vec<Member>> {
        let room = room.clone();
        self.readers
            .run(move |conn| members::members(conn, &room))
            .await
    }

    async fn put_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Option<MemberRole>,
        profile: &ProfilePatch,
        actor: &UserName,
    ) -> StoreResult<PutMember> {
        let (room, user, profile, actor) =
            (room.clone(), user.clone(), profile.clone(), actor.clone());
        let result = self
            .writer
            .transaction(move |conn| {
                members::put_member(conn, &room, &user, role, &profile, &actor)
            })
            .await;
        self.health.settle(result)
    }

    async fn remove_member(
        &self,
        room: &RoomId,
        user: &UserId,
        actor: &UserName,
    ) -> StoreResult<bool> {
        let (room, user, actor) = (room.clone(), user.clone(), actor.clone());
        let result = self
            .writer
            .transaction(move |conn| members::remove_member(conn, &room, &user, &actor))
            .await;
        self.health.settle(result)
    }

    async fn rooms_for(&self, user: &UserId, town: &TownId) -> StoreResult<Vec<RoomSummary>> {
        let (user, town) = (user.clone(), town.clone());
        self.readers
            .run(move |conn| rooms::rooms_for(conn, &user, &town))
            .await
    }

    async fn room_summary(&self, room: &RoomId, user: &UserId) -> StoreResult<Option<RoomSummary>> {
        let (room, user) = (room.clone(), user.clone());
        self.readers
            .run(move |conn| rooms::room_summary(conn, &room, &user))
            .await
    }

    async fn subscription_start(
        &self,
        room: &RoomId,
        user: &UserId,
    ) -> StoreResult<Option<super::SubscriptionStart>> {
        let (room, user) = (room.clone(), user.clone());
        self.readers
            .run(move |conn| rooms::subscription_start(conn, &room, &user))
            .await
    }

    async fn commit(&self, batch: &[Write]) -> StoreResult<Vec<WriteOutcome>> {
        // The writer thread needs the batch for the life of the job: one copy per group commit.
        let batch = batch.to_vec();
        let result = self
            .writer
            .run(move |state| commit::commit(state, &batch))
            .await;
        // A failed commit counts too: one that committed and then failed its file check has
        // queued rows all the same, and an extra look costs one job.
        let queued = result.as_ref().map_or(true, |outcomes| {
            outcomes
                .iter()
                .any(|o| matches!(o, WriteOutcome::Posted { new: true, .. }))
        });
        if queued {
            self.search_queued.fetch_add(1, Ordering::AcqRel);
        }
        self.health.settle(result)
    }

    async fn messages_after(
        &self,
        room: &RoomId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let room = room.clone();
        self.readers
            .run(move |conn| messages::after(conn, &room, after, limit))
            .await
    }

    async fn messages_before(
        &self,
        room: &RoomId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let room = room.clone();
        self.readers
            .run(move |conn| messages::before(conn, &room, before, limit))
            .await
    }

    async fn receipts(&self, room: &RoomId) -> StoreResult<Vec<Reader>> {
        let room = room.clone();
        self.readers
            .run(move |conn| reads::receipts(conn, &room))
            .await
    }

    async fn audience(&self, room: &RoomInfo) -> StoreResult<u64> {
        let room = room.clone();
        self.readers
            .run(move |conn| members::audience(conn, &room))
            .await
    }

    async fn audit_query(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.readers
            .run(move |conn| audit::query(conn, &filter))
            .await
    }

    async fn insert_attachment(&self, record: &AttachmentRecord) -> StoreResult<()> {
        let record = record.clone();
        let result = self
            .writer
            .transaction(move |conn| attachments::insert(conn, &record))
            .await;
        self.health.settle(result)
    }

    async fn posted(
        &self,
        room: &RoomId,
        author: &UserId,
        client_id: &yui_protocol::ids::ClientId,
    ) -> StoreResult<Option<Message>> {
        let (room, author, client_id) = (room.clone(), author.clone(), client_id.clone());
        self.readers
            .run(move |conn| notes::posted(conn, &room, &author, &client_id))
            .await
    }

    async fn confirm(
        &self,
        room: &RoomId,
        seq: u64,
        user: &UserId,
    ) -> StoreResult<(Timestamp, bool)> {
        let (room, user) = (room.clone(), user.clone());
        let result = self
            .writer
            .transaction(move |conn| notes::confirm(conn, &room, seq, &user))
            .await;
        self.health.settle(result)
    }

    async fn attachment(&self, id: &AttachmentId) -> StoreResult<Option<AttachmentRecord>> {
        let id = id.clone();
        self.readers
            .run(move |conn| attachments::get(conn, &id))
            .await
    }

    async fn delete_unposted_attachments(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let result = self
            .writer
            .transaction(move |conn| attachments::delete_unposted(conn, cutoff.millis()))
            .await;
        self.health.settle(result)
    }

    async fn attachment_content_in_use(&self, sha256: &str) -> StoreResult<bool> {
        let sha256 = sha256.to_owned();
        self.readers
            .run(move |conn| attachments::content_in_use(conn, &sha256))
            .await
    }

    async fn confirms(&self, room: &RoomId, seq: u64) -> StoreResult<Vec<Confirmation>> {
        let room = room.clone();
        self.readers
            .run(move |conn| notes::confirms(conn, &room, seq))
            .await
    }

    async fn pending(&self, room: &RoomInfo, seq: u64) -> StoreResult<Vec<UserRef>> {
        let room = room.clone();
        self.readers
            .run(move |conn| notes::pending(conn, &room, seq))
            .await
    }

    fn push(&self) -> &dyn crate::store::push::PushStore {
        self
    }

    async fn index_search(&self, limit: usize) -> StoreResult<usize> {
        let committed = self.search_queued.load(Ordering::Acquire);
        if self.search_indexed.load(Ordering::Acquire) >= committed {
            return Ok(0);
        }
        let n = self
            .writer
            .run(move |state| {
                state.transaction_without_sync(|conn| search::index_queued(conn, limit.max(1)))
            })
            .await?;
        if n < limit {
            // The writer runs jobs in order: every commit counted in `committed` ran before
            // this job, so its messages are indexed now.
            self.search_indexed.fetch_max(committed, Ordering::AcqRel);
        }
        Ok(n)
    }

    async fn search(&self, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)> {
        self.index_all_queued().await;
        let spec = spec.clone();
        self.readers
            .run(move |conn| search::search(conn, &spec))
            .await
    }

    async fn messages_between(
        &self,
        room: &RoomId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let room = room.clone();
        self.readers
            .run(move |conn| messages::between(conn, &room, from, to, limit))
            .await
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
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Internal(DbError::Store(format!(
                "another hub is using this data directory ({} is locked): one data directory \
                 serves one hub",
                lock_path.display()
            ))))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

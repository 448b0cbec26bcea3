//! The cluster store: Postgres, shared by every hub node, on sqlx. A group commit locks its
//! rooms' rows (`FOR UPDATE`, in sorted order) before a post checks its idempotency key and
//! takes the next seq, so commit order is seq order, a retry on another node finds the first
//! commit, and nodes never deadlock. A small batch of posts only takes its rooms' rows in the
//! statement that writes it ([`commit_posts`]), locking them in the same order.
//!
//! One module per concern: [`rooms`] (rooms and room summaries), [`members`] (members and the
//! user directory), [`messages`] (history), [`reads`] (receipts), [`audit`] (the access log) and
//! [`commit`] (the group commit), [`commit_posts`] (a small batch of posts in one round trip),
//! [`notes`] (confirmations, who has not read).

use super::health::WriteHealth;
use super::DbError;
use super::{
    AttachmentRecord, AuditFilter, PutMember, PutRoom, RoomInfo, RoomSpec, SearchSpec, Store,
    StoreError, StoreResult, Write, WriteOutcome,
};
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::time::Duration;
use yui_protocol::ids::{AttachmentId, RoomId, TownId, UserId};
use yui_protocol::model::{
    AuditEntry, Member, MemberRole, Message, Reader, RoomSummary, Timestamp, UserName, UserRef,
};

mod attachments;
mod audit;
mod commit;
mod commit_posts;
mod members;
mod messages;
mod notes;
mod push;
mod reads;
mod rooms;
mod search;
mod town;

pub struct PostgresStore {
    pool: PgPool,
    health: WriteHealth,
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
            pool,
            health: WriteHealth::new(),
        };
        store.migrate().await?;
        search::backfill(&store.pool).await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::from(sqlx::Error::from(e)))
    }

    /// Ends a write made on `conn`. A failed write transaction (a failed statement, COMMIT or
    /// ROLLBACK) leaves the connection in a state that cannot be trusted, so it is closed, never
    /// returned to the pool; a failure for want of the database also makes the store not ready
    /// until a write commits.
    fn settle<T>(
        &self,
        mut conn: PoolConnection<Postgres>,
        result: StoreResult<T>,
    ) -> StoreResult<T> {
        if result.is_err() {
            conn.close_on_drop();
        }
        self.health.settle(result)
    }
}

/// Begins a write transaction and checks that it really begins one. sqlx must count no open
/// transaction on the connection (else its begin() would silently nest a SAVEPOINT, whose
/// RELEASE commits nothing), and then sends a plain BEGIN, which the database refuses inside an
/// open transaction. Either refusal means the connection's state is not what a write needs: the
/// write is unavailable, and `settle` closes the connection so the next write gets a fresh one.
pub(super) async fn begin_write(conn: &mut PgConnection) -> StoreResult<Transaction<'_, Postgres>> {
    begin_write_with(conn, BEGIN).await
}

/// The plain statement that opens a write transaction.
pub(super) const BEGIN: &str = "BEGIN";

/// [`begin_write`] with `begin` as the statement that opens the transaction (a simple query,
/// so it may carry `SET LOCAL` settings in the same round trip).
pub(super) async fn begin_write_with<'c>(
    conn: &'c mut PgConnection,
    begin: &'static str,
) -> StoreResult<Transaction<'c, Postgres>> {
    use sqlx::Connection as _;
    let begun = if conn.is_in_transaction() {
        Err(sqlx::Error::BeginFailed)
    } else {
        conn.begin_with(begin).await
    };
    begun.map_err(|e| {
        tracing::warn!(error = %e, "write transaction could not begin; the connection is replaced");
        StoreError::Unavailable(DbError::Postgres(e))
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        // Not ready while the last write failed for want of the database: reads may answer
        // while commits cannot. While not ready, a probe write is tried, so a node that no
        // traffic reaches (a load balancer took it out on the 503) still comes back.
        if self.health.check().is_err() {
            let mut conn = self.pool.acquire().await?;
            let probe = write_probe(&mut conn).await;
            self.settle(conn, probe)?;
        }
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_user(&self, user: &UserRef, town: &TownId) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let result = members::upsert_user(&mut conn, user, town).await;
        self.settle(conn, result)
    }

    async fn room(&self, room: &RoomId) -> StoreResult<Option<RoomInfo>> {
        rooms::room(&self.pool, room).await
    }

    async fn put_room(
        &self,
        room: &RoomId,
        spec: &RoomSpec,
        creator: &UserRef,
    ) -> StoreResult<PutRoom> {
        let mut conn = self.pool.acquire().await?;
        let result = rooms::put_room(&mut conn, room, spec, creator).await;
        self.settle(conn, result)
    }

    async fn members(&self, room: &RoomId) -> StoreResult<Vec<Member>> {
        members::members(&self.pool, room).await
    }

    async fn put_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Option<MemberRole>,
        profile: &super::ProfilePatch,
        actor: &UserName,
    ) -> StoreResult<PutMember> {
        let mut conn = self.pool.acquire().await?;
        let result = members::put_member(&mut conn, room, user, role, profile, actor).await;
        self.settle(conn, result)
    }

    async fn remove_member(
        &self,
        room: &RoomId,
        user: &UserId,
        actor: &UserName,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        let result = members::remove_member(&mut conn, room, user, actor).await;
        self.settle(conn, result)
    }

    async fn rooms_for(&self, user: &UserId, town: &TownId) -> StoreResult<Vec<RoomSummary>> {
        rooms::rooms_for(&self.pool, user, town).await
    }

    async fn room_summary(&self, room: &RoomId, user: &UserId) -> StoreResult<Option<RoomSummary>> {
        rooms::room_summary(&self.pool, room, user).await
    }

    async fn subscription_start(
        &self,
        room: &RoomId,
        user: &UserId,
    ) -> StoreResult<Option<super::SubscriptionStart>> {
        rooms::subscription_start(&self.pool, room, user).await
    }

    async fn commit(&self, batch: &[Write]) -> StoreResult<Vec<WriteOutcome>> {
        commit::commit(self, batch).await
    }

    async fn messages_after(
        &self,
        room: &RoomId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        messages::after(&self.pool, room, after, limit).await
    }

    async fn messages_before(
        &self,
        room: &RoomId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)> {
        messages::before(&self.pool, room, before, limit).await
    }

    async fn receipts(&self, room: &RoomId) -> StoreResult<Vec<Reader>> {
        reads::receipts(&self.pool, room).await
    }

    async fn audience(&self, room: &RoomInfo) -> StoreResult<u64> {
        members::audience(&self.pool, room).await
    }

    async fn audit_query(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        audit::query(&self.pool, filter).await
    }

    async fn insert_attachment(&self, record: &AttachmentRecord) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let result = attachments::insert(&mut conn, record).await;
        self.settle(conn, result)
    }

    async fn attachment(&self, id: &AttachmentId) -> StoreResult<Option<AttachmentRecord>> {
        attachments::get(&self.pool, id).await
    }

    async fn delete_unposted_attachments(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let mut conn = self.pool.acquire().await?;
        let result = attachments::delete_unposted(&mut conn, cutoff.millis()).await;
        self.settle(conn, result)
    }

    async fn attachment_content_in_use(&self, sha256: &str) -> StoreResult<bool> {
        attachments::content_in_use(&self.pool, sha256).await
    }

    async fn posted(
        &self,
        room: &RoomId,
        author: &UserId,
        client_id: &yui_protocol::ids::ClientId,
    ) -> StoreResult<Option<Message>> {
        notes::posted(&self.pool, room, author, client_id).await
    }

    async fn confirm(
        &self,
        room: &RoomId,
        seq: u64,
        user: &UserId,
    ) -> StoreResult<(yui_protocol::model::Timestamp, bool)> {
        let mut conn = self.pool.acquire().await?;
        let result = notes::confirm(&mut conn, room, seq, user).await;
        self.settle(conn, result)
    }

    async fn confirms(
        &self,
        room: &RoomId,
        seq: u64,
    ) -> StoreResult<Vec<yui_protocol::model::Confirmation>> {
        notes::confirms(&self.pool, room, seq).await
    }

    async fn pending(&self, room: &RoomInfo, seq: u64) -> StoreResult<Vec<UserRef>> {
        notes::pending(&self.pool, room, seq).await
    }

    fn push(&self) -> &dyn crate::store::push::PushStore {
        self
    }

    async fn search(&self, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)> {
        search::search(&self.pool, spec).await
    }

    async fn index_search(&self, limit: usize) -> StoreResult<usize> {
        search::index_queued(&self.pool, limit.max(1), true).await
    }

    async fn messages_between(
        &self,
        room: &RoomId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        messages::between(&self.pool, room, from, to, limit).await
    }
}

/// Rewrites the one row of `write_probe` in a write transaction of its own.
async fn write_probe(conn: &mut sqlx::PgConnection) -> StoreResult<()> {
    let mut tx = begin_write(conn).await?;
    sqlx::query(
        "INSERT INTO write_probe (id, at) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )
    .bind(yui_protocol::model::Timestamp::now().millis())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

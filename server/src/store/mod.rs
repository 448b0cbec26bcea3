//! The `Store` trait: everything the hub keeps durably. Two implementations sit side by side:
//! [`sqlite`] (the embedded default) and [`postgres`] (cluster mode). Both run the same tests.
//!
//! Writes that the hub acknowledges (posts and read positions) go through [`Store::commit`] in
//! batches, one transaction per batch (group commit, see `crate::committer`). What a batch does
//! is decided once, without the database, in [`plan`]; each store only fetches the plan's
//! inputs and writes its results.

use async_trait::async_trait;
use yui_protocol::ids::{AttachmentId, Body, ClientId, Name, RoomId, Title, TownId, UserId};
use yui_protocol::model::{
    Attachment, AuditAction, AuditEntry, Confirmation, Member, MemberRole, Message, MessageKind,
    Priority, Profession, Reader, Resident, RoomKind, RoomSummary, Timestamp, UserName, UserRef,
};
use yui_protocol::post::Revision;

mod convert;
mod health;
mod plan;
pub mod postgres;
pub mod push;
pub mod search;
pub mod sqlite;
#[cfg(test)]
mod tests;
pub mod town;

pub use town::TownStore;

/// Why a store call failed. `Unavailable` is worth retrying (the database is down, unreachable
/// or out of space); `Internal` is a bug or a broken database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(#[source] DbError),
    #[error("store failure: {0}")]
    Internal(#[source] DbError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The write names rows it may not use (an attachment already claimed by another post):
    /// the client's mistake, told as `bad_request`; the rest of the batch commits.
    #[error("{0}")]
    Refused(String),
}

/// The driver's error under a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Postgres(sqlx::Error),
    #[error(transparent)]
    Sqlite(rusqlite::Error),
    #[error(transparent)]
    Io(std::io::Error),
    /// The store's own machinery failed (its writer thread stopped, a reader task panicked).
    #[error("{0}")]
    Store(String),
}

impl StoreError {
    /// The store's own machinery is gone (e.g. its writer thread): retrying may succeed once
    /// it is back.
    pub(crate) fn stopped(what: &str) -> StoreError {
        StoreError::Unavailable(DbError::Store(what.to_owned()))
    }

    /// A unique index refused a row (the group commit redoes the batch with its retries looked
    /// up).
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Internal(DbError::Postgres(sqlx::Error::Database(db))) => {
                db.is_unique_violation()
            }
            StoreError::Internal(DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        let unavailable = match &e {
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::Protocol(_) => true,
            E::WorkerCrashed => true,
            E::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // Class 08 connection exceptions, 57P0x shutdown, 53xxx resources, 55000 a
                // database not accepting connections, 40P01/40001 a deadlock or serialization
                // failure (retrying succeeds).
                code.starts_with("08")
                    || code.starts_with("57P0")
                    || code.starts_with("53")
                    || code == "55000"
                    || code == "40P01"
                    || code == "40001"
            }
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(DbError::Postgres(e))
        } else {
            StoreError::Internal(DbError::Postgres(e))
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        // Busy, locked, read-only, an I/O error, full, cannot open (classified by the primary
        // result code): the database file cannot take the write now, and may again (space
        // freed, the file writable), so clients retry with the same client_id.
        let unavailable = matches!(
            e.sqlite_error_code(),
            Some(
                C::DatabaseBusy
                    | C::DatabaseLocked
                    | C::ReadOnly
                    | C::SystemIoFailure
                    | C::DiskFull
                    | C::CannotOpen
            )
        );
        if unavailable {
            StoreError::Unavailable(DbError::Sqlite(e))
        } else {
            StoreError::Internal(DbError::Sqlite(e))
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Unavailable(DbError::Io(e))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A room's own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub room: RoomId,
    pub kind: RoomKind,
    pub title: Title,
    pub town: TownId,
    pub resident: Option<Resident>,
    pub last_seq: u64,
    /// Incremented in the same transaction as every member add, update or removal and every
    /// room change: a reader of this row and then of the members sees members at least as new.
    pub members_version: u64,
}

/// See [`Store::subscription_start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionStart {
    pub kind: RoomKind,
    pub last_seq: u64,
    pub read_seq: u64,
    /// A team room's members with their read positions, ordered by id; `None` for a town room.
    pub members: Option<Vec<Member>>,
}

/// What `PUT /api/rooms/{room}` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSpec {
    pub kind: RoomKind,
    pub title: Title,
    pub town: TownId,
    pub resident: Option<Resident>,
}

/// Result of [`Store::put_room`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRoom {
    /// Created; for a team room the creator is now its owner.
    Created(RoomInfo),
    /// Existed with the same kind and town; the title (and resident, when given) was updated.
    Updated(RoomInfo),
    /// Exists with another kind or town; nothing changed.
    Conflict(RoomInfo),
}

/// A profile given through the HTTP API when adding a member. Shown until the user's first
/// token arrives; never overrides a profile that came from a token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfilePatch {
    pub name: Option<Name>,
    pub profession: Option<Profession>,
    pub org: Option<Name>,
}

/// Result of [`Store::put_member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMember {
    Added,
    /// Already a member; role and/or profile updated (or nothing changed).
    Updated,
}

/// One acknowledged write of a group commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A post; `kind` has already been checked against the room's kind, `mentions` against
    /// the room's members (their names are the ones stored) and `revision` against the room's
    /// messages (an original of the same author).
    Post {
        room: RoomId,
        author: UserRef,
        client_id: ClientId,
        kind: MessageKind,
        /// `None`: the empty body a post with attachments or a retraction may have.
        body: Option<Body>,
        priority: Priority,
        mentions: Vec<UserName>,
        revision: Option<Revision>,
        /// Checked by the service (uploaded by the author to this room, not in a message);
        /// claimed in the commit, which refuses the post if another claimed one first.
        attachments: Vec<Attachment>,
    },
    /// Moves `user`'s read position in `room` forward to `seq` (clamped to `last_seq`).
    Read {
        room: RoomId,
        user: UserId,
        seq: u64,
    },
    /// An access-log entry (a history read), committed with the batch so that a reconnect
    /// storm's catch-ups cost one transaction, not one fsync each.
    Audit(AuditRecord),
}

/// What one [`Write`] did, in the batch's order. Most outcomes of a batch are posts, so boxing
/// the message would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// `new` is false when (room, author, client_id) was committed before: the first message
    /// is returned unchanged and nothing was written. `members_version` is the room's
    /// membership version read in the commit (0 when `new` is false): the hub's delivery checks
    /// that its access data is at least that new before fanning the message out.
    Posted {
        message: Message,
        new: bool,
        members_version: u64,
    },
    /// `seq` is the read position now; `moved` whether this write moved it forward; `at` when it
    /// last moved.
    Read {
        seq: u64,
        moved: bool,
        at: Timestamp,
    },
    /// The access-log entry is written.
    Audited,
}

/// An access-log entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub actor: UserName,
    pub action: AuditAction,
    pub room: RoomId,
    pub target: Option<UserId>,
}

/// Which access-log entries to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    pub room: Option<RoomId>,
    pub user: Option<UserId>,
    /// Only rooms of this town (a coordinator's view); `None` for every town (admin).
    pub town: Option<TownId>,
    pub limit: u32,
    /// `from <= at < to`, and entries older than the entry `before` (its id).
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub before: Option<u64>,
}

/// A search over the rooms a user reads now: messages holding every word of `matcher`, newest
/// first (by `at`, then `id`), older than the message `before` names.
#[derive(Clone)]
pub struct SearchSpec {
    pub rooms: Vec<RoomId>,
    pub matcher: std::sync::Arc<search::Matcher>,
    pub before: Option<String>,
    pub limit: u32,
}

/// An uploaded attachment (PROTOCOL.md 5.3) as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub attachment: Attachment,
    pub room: RoomId,
    pub uploader: UserId,
    pub created_at: Timestamp,
    /// The seq and `client_id` of the message holding it, once posted.
    pub posted: Option<(u64, ClientId)>,
    /// The consent that keeps it as its scanned document, if a consent claimed it unposted.
    pub consent: Option<String>,
}

impl AttachmentRecord {
    /// Whether the room's readers may open it and the clean-up keeps it: posted in a message,
    /// or claimed by a consent.
    pub fn kept(&self) -> bool {
        self.posted.is_some() || self.consent.is_some()
    }
}

#[async_trait]
pub trait Store: TownStore + Send + Sync + 'static {
    /// Answers when the database does (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Records the profile of a user whose token was just accepted (the user directory).
    async fn upsert_user(&self, user: &UserRef, town: &TownId) -> StoreResult<()>;

    async fn room(&self, room: &RoomId) -> StoreResult<Option<RoomInfo>>;

    /// Creates or updates a room; for a created team room `creator` becomes its owner. Writes
    /// `room_created` / `room_updated` to the access log in the same transaction.
    async fn put_room(
        &self,
        room: &RoomId,
        spec: &RoomSpec,
        creator: &UserRef,
    ) -> StoreResult<PutRoom>;

    /// Members of a team room with their read positions, ordered by id.
    async fn members(&self, room: &RoomId) -> StoreResult<Vec<Member>>;

    /// Adds or updates a member (role defaults to `member` for a new one, stays as it was for an
    /// existing one when `role` is `None`). Writes `member_added` / `member_updated`.
    async fn put_member(
        &self,
        room: &RoomId,
        user: &UserId,
        role: Option<MemberRole>,
        profile: &ProfilePatch,
        actor: &UserName,
    ) -> StoreResult<PutMember>;

    /// Removes a member; false when it was not one. Writes `member_removed` when it was.
    async fn remove_member(
        &self,
        room: &RoomId,
        user: &UserId,
        actor: &UserName,
    ) -> StoreResult<bool>;

    /// Team rooms `user` belongs to and the town rooms of `town`, ordered by room id.
    async fn rooms_for(&self, user: &UserId, town: &TownId) -> StoreResult<Vec<RoomSummary>>;

    /// The summary of one room for one user (the read position is 0 when it has none).
    async fn room_summary(&self, room: &RoomId, user: &UserId) -> StoreResult<Option<RoomSummary>>;

    /// What a subscription starts from: the room's kind and last seq, the user's read
    /// position (0 when none) and a team room's members, in one statement (one snapshot: the
    /// members are those of the room at that last seq; no unread counts: a reconnect storm
    /// runs this once per room of every client).
    async fn subscription_start(
        &self,
        room: &RoomId,
        user: &UserId,
    ) -> StoreResult<Option<SubscriptionStart>>;

    /// Commits a batch in one transaction and returns an outcome per write, in order. A post
    /// increments its room's `last_seq` and moves the author's read position to the new seq.
    async fn commit(&self, batch: &[Write]) -> StoreResult<Vec<WriteOutcome>>;

    /// Up to `limit` messages with `seq > after`, ascending.
    async fn messages_after(
        &self,
        room: &RoomId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// Up to `limit` messages with `seq < before` (the newest when `None`), ascending, and
    /// whether older ones exist; each with its `confirms` and `revised` (PROTOCOL.md 5.2).
    async fn messages_before(
        &self,
        room: &RoomId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)>;

    /// Every read position above 0 of the room, ordered by user id.
    async fn receipts(&self, room: &RoomId) -> StoreResult<Vec<Reader>>;

    /// How many users may read the room: team, its members; town, the town's users known to
    /// the directory.
    async fn audience(&self, room: &RoomInfo) -> StoreResult<u64>;

    async fn audit_query(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;

    /// Records an upload (not yet in a message).
    async fn insert_attachment(&self, record: &AttachmentRecord) -> StoreResult<()>;

    async fn attachment(&self, id: &AttachmentId) -> StoreResult<Option<AttachmentRecord>>;

    /// Deletes the attachments never posted that were uploaded before `cutoff`; how many.
    async fn delete_unposted_attachments(&self, cutoff: Timestamp) -> StoreResult<u64>;

    /// Whether any attachment row names this content (its blobs are then kept).
    async fn attachment_content_in_use(&self, sha256: &str) -> StoreResult<bool>;

    /// The message committed under a post's idempotency key, if any.
    async fn posted(
        &self,
        room: &RoomId,
        author: &UserId,
        client_id: &ClientId,
    ) -> StoreResult<Option<Message>>;

    /// Records that `user` confirmed message `seq` of `room` (which exists), durably; once per
    /// user and message. Returns when it was confirmed and whether this call recorded it.
    async fn confirm(
        &self,
        room: &RoomId,
        seq: u64,
        user: &UserId,
    ) -> StoreResult<(Timestamp, bool)>;

    /// Who confirmed message `seq` of `room`, in the order they did.
    async fn confirms(&self, room: &RoomId, seq: u64) -> StoreResult<Vec<Confirmation>>;

    /// The room's audience (as [`Store::audience`] counts it) whose read position is below
    /// `seq`, ordered by id.
    async fn pending(&self, room: &RoomInfo, seq: u64) -> StoreResult<Vec<UserRef>>;

    /// Web Push's tables (PROTOCOL.md 5.6).
    fn push(&self) -> &dyn push::PushStore;
    /// Up to `spec.limit` matching messages, newest first, and whether more match. Every
    /// message committed before the call is searched: the store indexes what is still queued
    /// first (see [`Store::index_search`]).
    async fn search(&self, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)>;

    /// Writes the search index of up to `limit` committed messages that are only queued for it
    /// (a group commit queues each new message; the index itself is written after the ack, many
    /// messages per transaction, by a follower that calls this). Returns how many it indexed:
    /// fewer than `limit` when the queue is empty (on Postgres, rows another node is indexing
    /// now are left to it).
    async fn index_search(&self, limit: usize) -> StoreResult<usize>;

    /// The room's messages with `from <= at < to`, in seq order, at most `limit`.
    async fn messages_between(
        &self,
        room: &RoomId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
}

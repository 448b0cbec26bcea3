//! The group commit on Postgres: the plan's inputs fetched and its results written with
//! set-based statements, each run once per chunk of rows (one chunk for a batch of the default
//! size) and not at all when the batch has nothing for it, so a batch costs the same few round
//! trips whatever its size. The writes every batch of posts makes (rooms' ends, messages with
//! their search queue rows, read positions) go as one statement when they fit in one.

use super::messages::{message, MESSAGE_COLUMNS};
use super::{begin_write, PostgresStore};
use crate::store::plan::{
    Applied, Committed, MovedPosition, PairKey, Plan, Positions, PostKey, Retries, RoomEnd,
    RoomSeqs, StoredPosition,
};
use crate::store::{convert, AuditRecord, StoreError, StoreResult, Write, WriteOutcome};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use yui_protocol::model::{Message, Timestamp};

/// Bind parameters one statement may carry (Postgres allows 65535; the lower SQLite limit kept
/// from when both stores shared these statements).
const MAX_BINDS: usize = 32_766;

/// Rows per multi-row statement even when the bind limit would allow more: keeps statements
/// (and the SQL text sqlx prepares and caches) a bounded size. A batch of the default
/// `--commit-batch` (512) needs one statement per kind.
const MAX_ROWS: usize = 512;

/// How many rows of `columns` bind parameters each go in one statement.
fn rows_per_statement(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).clamp(1, MAX_ROWS)
}

/// Commits a batch in one transaction (see `Store::commit`). A batch first assumes it holds no
/// retry of a committed post and lets the unique (room, author, client_id) index say otherwise;
/// then it is rolled back (its seqs with it) and committed again, looking retries up first.
pub(super) async fn commit(
    store: &PostgresStore,
    batch: &[Write],
) -> StoreResult<Vec<WriteOutcome>> {
    let mut conn = store.pool.acquire().await?;
    let result = commit_with(&mut conn, batch, Retries::Assumed).await;
    match store.settle(conn, result) {
        Err(e) if e.is_unique_violation() => {
            metrics::counter!("yui_commit_retry_lookups_total").increment(1);
            let mut conn = store.pool.acquire().await?;
            let result = commit_with(&mut conn, batch, Retries::LookedUp).await;
            store.settle(conn, result)
        }
        other => other,
    }
}

async fn commit_with(
    conn: &mut PgConnection,
    batch: &[Write],
    retries: Retries,
) -> StoreResult<Vec<WriteOutcome>> {
    let now = Timestamp::now();
    let plan = Plan::new(batch);
    let mut tx = begin_write(conn).await?;
    let seqs = lock_rooms(&mut tx, &plan).await?;
    let committed = match retries {
        Retries::LookedUp => select_committed(&mut tx, &plan).await?,
        Retries::Assumed => Committed::none(),
    };
    let positions = select_positions(&mut tx, &plan).await?;
    let applied = plan.apply(&committed, &seqs, &positions, now)?;
    write_applied(&mut tx, &plan, &applied, now).await?;
    tx.commit().await?;
    Ok(applied.outcomes)
}

async fn write_applied(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    applied: &Applied<'_>,
    now: Timestamp,
) -> StoreResult<()> {
    let messages: Vec<&Message> = applied.new_messages().collect();
    let rows = Rows {
        ends: &applied.room_ends,
        messages: &messages,
        moved: &applied.moved,
        at: now.millis(),
    };
    if rows.fit_one_statement() {
        write_together(conn, &rows).await?;
    } else {
        update_rooms(conn, rows.ends).await?;
        insert_messages(conn, rows.messages).await?;
        upsert_read_positions(conn, rows.moved, rows.at).await?;
    }
    insert_mentions(conn, &messages).await?;
    // After the inserts: a retry of a committed post fails on the unique key first (and is
    // then answered from the first commit), not on its attachments being claimed already.
    super::attachments::claim(conn, &messages).await?;
    let audits: Vec<&AuditRecord> = plan.audits().collect();
    insert_audits(conn, &audits, now.millis()).await
}

/// The rows every batch of posts writes: the rooms' new ends, the messages (queued for the
/// search index by the same statement) and the moved read positions.
struct Rows<'r, 'a> {
    ends: &'r [RoomEnd<'a>],
    messages: &'r [&'r Message],
    moved: &'r [MovedPosition<'a>],
    at: i64,
}

impl Rows<'_, '_> {
    /// Whether one statement can carry them all (a batch of the default size can): at a
    /// modest rate a group commit holds a post or two, and Postgres then spends more on each
    /// statement's round trip than on its rows.
    fn fit_one_statement(&self) -> bool {
        let kinds = [self.ends.len(), self.messages.len(), self.moved.len()];
        let binds = ROOM_END_BINDS * self.ends.len()
            + MESSAGE_BINDS * self.messages.len()
            + POSITION_BINDS * self.moved.len();
        kinds.iter().filter(|n| **n > 0).count() > 1
            && kinds.iter().all(|n| *n <= MAX_ROWS)
            && binds <= MAX_BINDS
    }
}

/// Writes the rooms' ends, the messages with their search queue rows and the read positions
/// as data-modifying parts of one statement (each runs once, to completion, read or not).
async fn write_together(conn: &mut PgConnection, rows: &Rows<'_, '_>) -> StoreResult<()> {
    let mut q = QueryBuilder::<Postgres>::new("WITH ");
    let mut parts = 0;
    let mut next = |q: &mut QueryBuilder<'_, Postgres>, name: &str| {
        if parts > 0 {
            q.push(", ");
        }
        parts += 1;
        q.push(name).push(" AS (");
    };
    if !rows.ends.is_empty() {
        next(&mut q, "ends");
        push_update_rooms(&mut q, rows.ends);
        q.push(" RETURNING 1)");
    }
    if !rows.messages.is_empty() {
        next(&mut q, "new");
        push_insert_messages(&mut q, rows.messages);
        q.push(")");
        next(&mut q, "queued");
        q.push("INSERT INTO search_queue (room, seq) SELECT room, seq FROM new)");
    }
    if !rows.moved.is_empty() {
        next(&mut q, "moved");
        push_upsert_read_positions(&mut q, rows.moved, rows.at);
        q.push(")");
    }
    if rows.ends.is_empty() {
        q.push(" SELECT 0::BIGINT");
    } else {
        q.push(" SELECT count(*) FROM ends");
    }
    let updated: i64 = q.build().fetch_one(&mut *conn).await?.try_get(0)?;
    all_rooms_updated(updated.try_into().unwrap_or(0), rows.ends.len())
}

/// A room end that matched no row means the batch numbered posts in a room it did not lock.
fn all_rooms_updated(updated: u64, ends: usize) -> StoreResult<()> {
    if updated != ends as u64 {
        return Err(StoreError::Corrupt(format!(
            "{updated} of {ends} rooms took their new last_seq"
        )));
    }
    Ok(())
}

/// Locks the batch's rooms' rows, in sorted order, and reads their `last_seq`: a post then
/// checks its idempotency key and takes the next seq while no other node can, and two nodes'
/// batches never wait on each other in a cycle.
async fn lock_rooms(conn: &mut PgConnection, plan: &Plan<'_>) -> StoreResult<RoomSeqs> {
    let mut seqs = plan.room_seqs();
    if plan.rooms().is_empty() {
        return Ok(seqs);
    }
    // A batch of one room (most batches below saturation) by its key: Postgres plans
    // `= ANY($1)` anew at every call (the generic plan, costed for an array of unknown size,
    // never wins), where `= $1` keeps its plan.
    let rows = match plan.rooms() {
        [room] => {
            sqlx::query("SELECT id, last_seq, members_version FROM rooms WHERE id = $1 FOR UPDATE")
                .bind(room)
                .fetch_all(conn)
                .await?
        }
        rooms => {
            sqlx::query(
                "SELECT id, last_seq, members_version FROM rooms WHERE id = ANY($1) \
                 ORDER BY id FOR UPDATE",
            )
            .bind(rooms)
            .fetch_all(conn)
            .await?
        }
    };
    for row in rows {
        let id: &str = row.try_get("id")?;
        if let Some(i) = plan.room_index(id) {
            seqs.set(i, row.try_get("last_seq")?);
            // Read under the row lock a member change takes too: a post committed after a
            // removal reads the removal's version.
            seqs.set_members_version(i, row.try_get("members_version")?);
        }
    }
    Ok(seqs)
}

/// The committed messages under any of the batch's idempotency keys.
async fn select_committed(conn: &mut PgConnection, plan: &Plan<'_>) -> StoreResult<Committed> {
    let mut found = Committed::none();
    for chunk in plan.post_keys().chunks(rows_per_statement(3)) {
        // A join with the keys as a VALUES list, so each key is one lookup in the
        // (room, author_id, client_id) unique index.
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT m.room, m.seq, m.id, m.client_id, m.author_id, m.author_name, \
             m.author_profession, m.author_org, m.kind, m.body, m.at, m.priority, m.mentions, \
             m.replaces, m.retracts FROM (",
        );
        q.push_values(chunk, |mut row, key| {
            row.push_bind(key.room)
                .push_bind(key.author)
                .push_bind(key.client_id);
        });
        q.push(
            ") AS k JOIN messages m \
             ON m.room = k.column1 AND m.author_id = k.column2 AND m.client_id = k.column3",
        );
        for row in q.build().fetch_all(&mut *conn).await? {
            let m = message(&row)?;
            if let Some(i) = plan.post_key_index(PostKey::of_message(&m)) {
                found.insert(i, m);
            }
        }
    }
    Ok(found)
}

/// The stored positions of the pairs the batch's reads touch.
async fn select_positions(conn: &mut PgConnection, plan: &Plan<'_>) -> StoreResult<Positions> {
    let mut positions = plan.positions();
    let pairs: Vec<PairKey<'_>> = plan.pairs_to_look_up().map(|(_, k)| k).collect();
    for chunk in pairs.chunks(rows_per_statement(2)) {
        let mut q = QueryBuilder::<Postgres>::new("SELECT p.room, p.user_id, p.seq, p.at FROM (");
        q.push_values(chunk, |mut row, key| {
            row.push_bind(key.room).push_bind(key.user);
        });
        q.push(") AS k JOIN read_positions p ON p.room = k.column1 AND p.user_id = k.column2");
        for row in q.build().fetch_all(&mut *conn).await? {
            let key = PairKey {
                room: row.try_get("room")?,
                user: row.try_get("user_id")?,
            };
            if let Some(i) = plan.pair_index(key) {
                positions.set(
                    i,
                    StoredPosition {
                        seq: row.try_get("seq")?,
                        at: row.try_get("at")?,
                    },
                );
            }
        }
    }
    Ok(positions)
}

const ROOM_END_BINDS: usize = 2;
const MESSAGE_BINDS: usize = 15;
const POSITION_BINDS: usize = 4;

/// Sets each room's new `last_seq` (its rows are locked by this transaction).
async fn update_rooms(conn: &mut PgConnection, ends: &[RoomEnd<'_>]) -> StoreResult<()> {
    for chunk in ends.chunks(rows_per_statement(ROOM_END_BINDS)) {
        let mut q = QueryBuilder::<Postgres>::new("");
        push_update_rooms(&mut q, chunk);
        let updated = q.build().execute(&mut *conn).await?.rows_affected();
        all_rooms_updated(updated, chunk.len())?;
    }
    Ok(())
}

fn push_update_rooms<'q>(q: &mut QueryBuilder<'q, Postgres>, ends: &[RoomEnd<'q>]) {
    // Each room appears once: an UPDATE ... FROM that matched a row twice would apply only
    // one of the values.
    q.push("UPDATE rooms SET last_seq = v.column2 FROM (");
    q.push_values(ends, |mut row, end| {
        // Postgres types a VALUES column from its first row: the cast keeps it BIGINT.
        row.push_bind(end.room)
            .push("CAST(")
            .push_bind_unseparated(end.last_seq)
            .push_unseparated(" AS BIGINT)");
    });
    q.push(") AS v WHERE rooms.id = v.column1");
}

async fn insert_messages(conn: &mut PgConnection, messages: &[&Message]) -> StoreResult<()> {
    for chunk in messages.chunks(rows_per_statement(MESSAGE_BINDS)) {
        // The same statement queues the messages for the search index (written after the
        // ack by `search::index_queued`): no round trip more.
        let mut q = QueryBuilder::<Postgres>::new("WITH new AS (");
        push_insert_messages(&mut q, chunk);
        q.push(") INSERT INTO search_queue (room, seq) SELECT room, seq FROM new");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// An insert of `messages` that returns their (room, seq).
fn push_insert_messages<'q>(q: &mut QueryBuilder<'q, Postgres>, messages: &[&'q Message]) {
    q.push("INSERT INTO messages (")
        .push(MESSAGE_COLUMNS)
        .push(") ");
    q.push_values(messages, |mut row, m| {
        row.push_bind(m.room.as_str())
            .push_bind(convert::db_seq(m.seq))
            .push_bind(m.id.as_str())
            .push_bind(m.client_id.as_str())
            .push_bind(m.author.id.as_str())
            .push_bind(m.author.name.as_str())
            .push_bind(m.author.profession.as_str())
            .push_bind(m.author.org.as_str())
            .push_bind(m.kind.as_str())
            .push_bind(m.body.as_str())
            .push_bind(m.at.millis())
            .push_bind(m.priority.as_str())
            .push_bind(convert::mentions_json(&m.mentions))
            .push_bind(m.replaces.map(convert::db_seq))
            .push_bind(m.retracts.map(convert::db_seq));
    });
    q.push(" RETURNING room, seq");
}

/// One `message_mentions` row per mentioned user of each new message.
async fn insert_mentions(conn: &mut PgConnection, messages: &[&Message]) -> StoreResult<()> {
    let rows: Vec<(&str, &str, i64)> = messages
        .iter()
        .flat_map(|m| {
            m.mentions
                .iter()
                .map(|u| (u.id.as_str(), m.room.as_str(), convert::db_seq(m.seq)))
        })
        .collect();
    for chunk in rows.chunks(rows_per_statement(3)) {
        let mut q =
            QueryBuilder::<Postgres>::new("INSERT INTO message_mentions (user_id, room, seq) ");
        q.push_values(chunk, |mut row, (user, room, seq)| {
            row.push_bind(*user).push_bind(*room).push_bind(*seq);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Moves each pair to its seq, never backwards. `moved` has each pair once: Postgres refuses
/// an ON CONFLICT that touches one row twice in a statement.
async fn upsert_read_positions(
    conn: &mut PgConnection,
    moved: &[MovedPosition<'_>],
    at: i64,
) -> StoreResult<()> {
    for chunk in moved.chunks(rows_per_statement(POSITION_BINDS)) {
        let mut q = QueryBuilder::<Postgres>::new("");
        push_upsert_read_positions(&mut q, chunk, at);
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn push_upsert_read_positions<'q>(
    q: &mut QueryBuilder<'q, Postgres>,
    moved: &[MovedPosition<'q>],
    at: i64,
) {
    q.push("INSERT INTO read_positions (room, user_id, seq, at) ");
    q.push_values(moved, |mut row, p| {
        row.push_bind(p.room)
            .push_bind(p.user)
            .push_bind(p.seq)
            .push_bind(at);
    });
    q.push(
        " ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, at = excluded.at \
         WHERE excluded.seq > read_positions.seq",
    );
}

/// Appends the entries in their order: rows of one INSERT take ids in VALUES order, and chunks
/// run in order, so audit ids follow the batch.
async fn insert_audits(
    conn: &mut PgConnection,
    records: &[&AuditRecord],
    at: i64,
) -> StoreResult<()> {
    for chunk in records.chunks(rows_per_statement(6)) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO audit (at, actor_id, actor_name, action, room, target) ",
        );
        q.push_values(chunk, |mut row, r| {
            row.push_bind(at)
                .push_bind(r.actor.id.as_str())
                .push_bind(r.actor.name.as_str())
                .push_bind(r.action.as_str())
                .push_bind(r.room.as_str())
                .push_bind(r.target.as_ref().map(|t| t.as_str()));
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

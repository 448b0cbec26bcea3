//! The group commit on Postgres: the plan's inputs fetched and its results written with
//! set-based statements, so a batch costs the same few round trips whatever its size. The
//! writes every batch makes (rooms' ends, messages with their search queue rows, read
//! positions) are one statement: for a small batch (most batches below saturation) of
//! multi-row `VALUES` lists, whose few texts each connection prepares and plans once; for a
//! larger one over arrays, of one text whatever the size, in a transaction that asks for
//! generic plans. Each form is the cheaper one at its sizes (`docs/benchmarks.md`, 2026-12-03
//! afternoon): the arrays cost Postgres a set-returning function scan per column, ~75 µs a
//! statement, and the lists a new prepare and plan for every size a connection has not seen.

use super::messages::{message, MESSAGE_COLUMNS};
use super::{begin_write_with, PostgresStore, BEGIN};
use crate::store::plan::{
    Applied, Committed, MovedPosition, PairKey, Plan, Positions, PostKey, Retries, RoomEnd,
    RoomSeqs, StoredPosition,
};
use crate::store::{convert, AuditRecord, StoreError, StoreResult, Write, WriteOutcome};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::sync::LazyLock;
use yui_protocol::model::{Message, Timestamp};

/// Rows of each kind up to which a batch writes with `VALUES` lists (see the module's note).
const SMALL_BATCH: usize = 8;

/// Whether `n` rows (or writes) make a batch large: written over arrays, with generic plans.
pub(super) fn large(n: usize) -> bool {
    n > SMALL_BATCH
}

/// Moves a read position to the proposed one, never backwards (both forms of the write).
pub(super) const POSITION_FORWARD: &str =
    " ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, \
     at = excluded.at WHERE excluded.seq > read_positions.seq";

/// Opens a larger batch's transaction. Generic plans: its statements take their rows as
/// arrays (or one key), so one plan serves every batch, where a custom plan would be made at
/// every call (Postgres costs a plan for an array of unknown length above one made for the
/// batch at hand, and so never switches to the generic one by itself).
const BEGIN_LARGE: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// Bind parameters one statement may carry (Postgres allows 65535; the lower SQLite limit kept
/// from when both stores shared these statements).
const MAX_BINDS: usize = 32_766;

/// Rows per multi-row statement of the rarer writes (mentions, access-log entries) and of the
/// retry lookup, even when the bind limit would allow more: keeps statements (and the SQL
/// text sqlx prepares and caches) a bounded size.
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
    let plan = Plan::new(batch);
    let mut conn = store.pool.acquire().await?;
    let result = if super::commit_posts::fits(&plan) {
        match super::commit_posts::commit(&mut conn, &plan).await {
            // A room it posts to does not exist: the statement wrote nothing, and the general
            // commit says which room.
            Err(e) if super::commit_posts::is_missing_room(&e) => {
                commit_with(&mut conn, &plan, Retries::Assumed).await
            }
            other => other,
        }
    } else {
        commit_with(&mut conn, &plan, Retries::Assumed).await
    };
    match store.settle(conn, result) {
        Err(e) if e.is_unique_violation() => {
            metrics::counter!("yui_commit_retry_lookups_total").increment(1);
            let mut conn = store.pool.acquire().await?;
            let result = commit_with(&mut conn, &plan, Retries::LookedUp).await;
            store.settle(conn, result)
        }
        other => other,
    }
}

async fn commit_with(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    retries: Retries,
) -> StoreResult<Vec<WriteOutcome>> {
    let now = Timestamp::now();
    // A batch of more writes than SMALL_BATCH is the only one that can have more rows.
    let begin = if large(plan.len()) {
        BEGIN_LARGE
    } else {
        BEGIN
    };
    let mut tx = begin_write_with(conn, begin).await?;
    let seqs = lock_rooms(&mut tx, plan).await?;
    let committed = match retries {
        Retries::LookedUp => select_committed(&mut tx, plan).await?,
        Retries::Assumed => Committed::none(),
    };
    let positions = select_positions(&mut tx, plan).await?;
    let applied = plan.apply(&committed, &seqs, &positions, now)?;
    write_applied(&mut tx, plan, &applied, now).await?;
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
    if [rows.ends.len(), rows.messages.len(), rows.moved.len()]
        .into_iter()
        .any(large)
    {
        write_arrays(conn, &rows).await?;
    } else {
        write_lists(conn, &rows).await?;
    }
    insert_mentions(conn, &messages).await?;
    // After the inserts: a retry of a committed post fails on the unique key first (and is
    // then answered from the first commit), not on its attachments being claimed already.
    super::attachments::claim(conn, &messages).await?;
    let audits: Vec<&AuditRecord> = plan.audits().collect();
    insert_audits(conn, &audits, now.millis()).await
}

/// Sets the rooms' new `last_seq` (their rows are locked by this transaction), inserts the
/// messages and queues them for the search index (written after the ack by
/// `search::index_queued`), and moves the read positions never backwards, as data-modifying
/// parts of one statement over arrays (each runs once, to completion; an empty array writes
/// nothing). Each room and each read position appears once: an UPDATE ... FROM that matched a
/// row twice would apply only one of the values, and Postgres refuses an ON CONFLICT that
/// touches one row twice in a statement. `rooms.id = ANY($1)` lets the generic plan find the
/// rooms by key.
static WRITE_ARRAYS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH ends AS (UPDATE rooms SET last_seq = v.last_seq \
         FROM UNNEST($1::text[], $2::bigint[]) AS v(id, last_seq) \
         WHERE rooms.id = v.id AND rooms.id = ANY($1) RETURNING 1), \
         new AS (INSERT INTO messages ({MESSAGE_COLUMNS}) SELECT * FROM UNNEST($3::text[], \
         $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
         $11::text[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::bigint[], \
         $17::bigint[]) RETURNING room, seq), \
         queued AS (INSERT INTO search_queue (room, seq) SELECT room, seq FROM new), \
         moved AS (INSERT INTO read_positions (room, user_id, seq, at) \
         SELECT room, user_id, seq, $21 FROM UNNEST($18::text[], $19::text[], $20::bigint[]) \
         AS p(room, user_id, seq){POSITION_FORWARD}) \
         SELECT count(*) FROM ends"
    )
});

/// The rows every batch of posts and reads writes: the rooms' new ends, the messages (queued
/// for the search index by the same statement) and the moved read positions, at `at`.
struct Rows<'r, 'a> {
    ends: &'r [RoomEnd<'a>],
    messages: &'r [&'r Message],
    moved: &'r [MovedPosition<'a>],
    at: i64,
}

async fn write_arrays(conn: &mut PgConnection, rows: &Rows<'_, '_>) -> StoreResult<()> {
    let messages = rows.messages;
    let column = |f: fn(&Message) -> &str| messages.iter().map(|m| f(m)).collect::<Vec<&str>>();
    let updated: i64 = sqlx::query(&WRITE_ARRAYS)
        .bind(rows.ends.iter().map(|e| e.room).collect::<Vec<_>>())
        .bind(rows.ends.iter().map(|e| e.last_seq).collect::<Vec<_>>())
        .bind(column(|m| m.room.as_str()))
        .bind(
            messages
                .iter()
                .map(|m| convert::db_seq(m.seq))
                .collect::<Vec<_>>(),
        )
        .bind(column(|m| m.id.as_str()))
        .bind(column(|m| m.client_id.as_str()))
        .bind(column(|m| m.author.id.as_str()))
        .bind(column(|m| m.author.name.as_str()))
        .bind(column(|m| m.author.profession.as_str()))
        .bind(column(|m| m.author.org.as_str()))
        .bind(column(|m| m.kind.as_str()))
        .bind(column(|m| m.body.as_str()))
        .bind(messages.iter().map(|m| m.at.millis()).collect::<Vec<_>>())
        .bind(column(|m| m.priority.as_str()))
        .bind(
            messages
                .iter()
                .map(|m| convert::mentions_json(&m.mentions))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.replaces.map(convert::db_seq))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.retracts.map(convert::db_seq))
                .collect::<Vec<_>>(),
        )
        .bind(rows.moved.iter().map(|p| p.room).collect::<Vec<_>>())
        .bind(rows.moved.iter().map(|p| p.user).collect::<Vec<_>>())
        .bind(rows.moved.iter().map(|p| p.seq).collect::<Vec<_>>())
        .bind(rows.at)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    all_rooms_updated(updated.try_into().unwrap_or(0), rows.ends.len())
}

/// [`write_arrays`] for a small batch: the same parts, only those with rows, each a multi-row
/// `VALUES` list.
async fn write_lists(conn: &mut PgConnection, rows: &Rows<'_, '_>) -> StoreResult<()> {
    let Rows {
        ends,
        messages,
        moved,
        at,
    } = *rows;
    if ends.is_empty() && messages.is_empty() && moved.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::<Postgres>::new("WITH ");
    let mut parts = 0;
    let mut next = |q: &mut QueryBuilder<'_, Postgres>, name: &str| {
        if parts > 0 {
            q.push(", ");
        }
        parts += 1;
        q.push(name).push(" AS (");
    };
    if !ends.is_empty() {
        next(&mut q, "ends");
        push_update_rooms(&mut q, ends);
        q.push(" RETURNING 1)");
    }
    if !messages.is_empty() {
        next(&mut q, "new");
        push_insert_messages(&mut q, messages);
        q.push(")");
        next(&mut q, "queued");
        q.push("INSERT INTO search_queue (room, seq) SELECT room, seq FROM new)");
    }
    if !moved.is_empty() {
        next(&mut q, "moved");
        push_upsert_read_positions(&mut q, moved, at);
        q.push(")");
    }
    if ends.is_empty() {
        q.push(" SELECT 0::BIGINT");
    } else {
        q.push(" SELECT count(*) FROM ends");
    }
    let updated: i64 = q.build().fetch_one(&mut *conn).await?.try_get(0)?;
    all_rooms_updated(updated.try_into().unwrap_or(0), ends.len())
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
    // A batch of one room (most batches below saturation) by its key: a plain index scan, no
    // sort.
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

/// An insert of `messages` that returns their (room, seq).
fn push_insert_messages<'q>(q: &mut QueryBuilder<'q, Postgres>, messages: &[&'q Message]) {
    q.push("INSERT INTO messages (")
        .push(MESSAGE_COLUMNS)
        .push(") ");
    push_message_values(q, messages);
    q.push(" RETURNING room, seq");
}

/// `messages` as a `VALUES` list of [`MESSAGE_COLUMNS`]. Postgres types a column of a
/// `VALUES` list that is not an insert's own from its first row: the casts keep the numbers
/// BIGINT (a NULL revision included).
pub(super) fn push_message_values<'q>(
    q: &mut QueryBuilder<'q, Postgres>,
    messages: &[&'q Message],
) {
    let bigint = |row: &mut sqlx::query_builder::Separated<'_, 'q, Postgres, &'static str>,
                  n: Option<i64>| {
        row.push("CAST(")
            .push_bind_unseparated(n)
            .push_unseparated(" AS BIGINT)");
    };
    q.push_values(messages, |mut row, m| {
        row.push_bind(m.room.as_str());
        bigint(&mut row, Some(convert::db_seq(m.seq)));
        row.push_bind(m.id.as_str())
            .push_bind(m.client_id.as_str())
            .push_bind(m.author.id.as_str())
            .push_bind(m.author.name.as_str())
            .push_bind(m.author.profession.as_str())
            .push_bind(m.author.org.as_str())
            .push_bind(m.kind.as_str())
            .push_bind(m.body.as_str());
        bigint(&mut row, Some(m.at.millis()));
        row.push_bind(m.priority.as_str())
            .push_bind(convert::mentions_json(&m.mentions));
        bigint(&mut row, m.replaces.map(convert::db_seq));
        bigint(&mut row, m.retracts.map(convert::db_seq));
    });
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
    q.push(POSITION_FORWARD);
}

/// The (user, room, seq) of one `message_mentions` row per mentioned user of each message.
pub(super) fn mention_rows<'m>(messages: &[&'m Message]) -> Vec<(&'m str, &'m str, i64)> {
    messages
        .iter()
        .flat_map(|m| {
            m.mentions
                .iter()
                .map(|u| (u.id.as_str(), m.room.as_str(), convert::db_seq(m.seq)))
        })
        .collect()
}

/// One `message_mentions` row per mentioned user of each new message.
async fn insert_mentions(conn: &mut PgConnection, messages: &[&Message]) -> StoreResult<()> {
    let rows = mention_rows(messages);
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

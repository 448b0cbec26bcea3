//! The group commit on Postgres: the plan's inputs fetched with set-based statements (run once
//! per chunk of rows, one chunk for a batch of the default size, not at all when the batch has
//! nothing for them) and its results written with one statement of fixed text over arrays, so a
//! batch of posts costs four round trips (BEGIN, the room locks, the writes, COMMIT) whatever its
//! size, and one more for each of reads' positions, retries' lookups and attachment claims.

use super::messages::message;
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
    let audits: Vec<&AuditRecord> = plan.audits().collect();
    write_rows(
        conn,
        &applied.room_ends,
        &messages,
        &applied.moved,
        &audits,
        now.millis(),
    )
    .await?;
    // After the inserts: a retry of a committed post fails on the unique key first (and is
    // then answered from the first commit), not on its attachments being claimed already.
    super::attachments::claim(conn, &messages).await
}

/// Everything a batch writes after its plan is applied, in one statement of fixed text (one
/// round trip, prepared once per connection): each room's new `last_seq`, the messages (queued
/// for the search index in the same statement), their mentions, the moved read positions
/// (never backwards) and the audit entries (ids in batch order: `UNNEST` yields the rows in
/// array order). Each part is a data-modifying CTE over arrays; an empty part writes nothing.
/// `moved` has each pair once and `ends` each room once: Postgres refuses an ON CONFLICT or an
/// UPDATE ... FROM that touches one row twice in a statement.
async fn write_rows(
    conn: &mut PgConnection,
    ends: &[RoomEnd<'_>],
    messages: &[&Message],
    moved: &[MovedPosition<'_>],
    audits: &[&AuditRecord],
    at: i64,
) -> StoreResult<()> {
    if ends.is_empty() && messages.is_empty() && moved.is_empty() && audits.is_empty() {
        return Ok(());
    }
    let mentions: Vec<(&str, &str, i64)> = messages
        .iter()
        .flat_map(|m| {
            m.mentions
                .iter()
                .map(|u| (u.id.as_str(), m.room.as_str(), convert::db_seq(m.seq)))
        })
        .collect();
    let col = |f: fn(&Message) -> &str| messages.iter().map(|m| f(m)).collect::<Vec<&str>>();
    let updated: i64 = sqlx::query_scalar(WRITE_ROWS)
        .bind(ends.iter().map(|e| e.room).collect::<Vec<&str>>())
        .bind(ends.iter().map(|e| e.last_seq).collect::<Vec<i64>>())
        .bind(col(|m| m.room.as_str()))
        .bind(
            messages
                .iter()
                .map(|m| convert::db_seq(m.seq))
                .collect::<Vec<i64>>(),
        )
        .bind(col(|m| m.id.as_str()))
        .bind(col(|m| m.client_id.as_str()))
        .bind(col(|m| m.author.id.as_str()))
        .bind(col(|m| m.author.name.as_str()))
        .bind(col(|m| m.author.profession.as_str()))
        .bind(col(|m| m.author.org.as_str()))
        .bind(col(|m| m.kind.as_str()))
        .bind(col(|m| m.body.as_str()))
        .bind(messages.iter().map(|m| m.at.millis()).collect::<Vec<i64>>())
        .bind(col(|m| m.priority.as_str()))
        .bind(
            messages
                .iter()
                .map(|m| convert::mentions_json(&m.mentions))
                .collect::<Vec<String>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.replaces.map(convert::db_seq))
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.retracts.map(convert::db_seq))
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(mentions.iter().map(|x| x.0).collect::<Vec<&str>>())
        .bind(mentions.iter().map(|x| x.1).collect::<Vec<&str>>())
        .bind(mentions.iter().map(|x| x.2).collect::<Vec<i64>>())
        .bind(moved.iter().map(|p| p.room).collect::<Vec<&str>>())
        .bind(moved.iter().map(|p| p.user).collect::<Vec<&str>>())
        .bind(moved.iter().map(|p| p.seq).collect::<Vec<i64>>())
        .bind(at)
        .bind(
            audits
                .iter()
                .map(|r| r.actor.id.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            audits
                .iter()
                .map(|r| r.actor.name.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            audits
                .iter()
                .map(|r| r.action.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            audits
                .iter()
                .map(|r| r.room.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            audits
                .iter()
                .map(|r| r.target.as_ref().map(|t| t.as_str()))
                .collect::<Vec<Option<&str>>>(),
        )
        .fetch_one(&mut *conn)
        .await?;
    if updated != ends.len() as i64 {
        return Err(StoreError::Corrupt(format!(
            "{updated} of {} rooms took their new last_seq",
            ends.len()
        )));
    }
    Ok(())
}

const WRITE_ROWS: &str = "\
WITH r AS (
    UPDATE rooms SET last_seq = v.last_seq
    FROM UNNEST($1::text[], $2::bigint[]) AS v (id, last_seq)
    WHERE rooms.id = v.id RETURNING 1
), new AS (
    INSERT INTO messages (room, seq, id, client_id, author_id, author_name, author_profession,
                          author_org, kind, body, at, priority, mentions, replaces, retracts)
    SELECT * FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                         $13::bigint[], $14::text[], $15::text[], $16::bigint[], $17::bigint[])
    RETURNING room, seq
), queued AS (
    INSERT INTO search_queue (room, seq) SELECT room, seq FROM new
), mentioned AS (
    INSERT INTO message_mentions (user_id, room, seq)
    SELECT * FROM UNNEST($18::text[], $19::text[], $20::bigint[])
), positions AS (
    INSERT INTO read_positions (room, user_id, seq, at)
    SELECT v.room, v.user_id, v.seq, $24 FROM UNNEST($21::text[], $22::text[], $23::bigint[])
        AS v (room, user_id, seq)
    ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, at = excluded.at
    WHERE excluded.seq > read_positions.seq
), audited AS (
    INSERT INTO audit (at, actor_id, actor_name, action, room, target)
    SELECT $24, v.* FROM UNNEST($25::text[], $26::text[], $27::text[], $28::text[], $29::text[])
        AS v (actor_id, actor_name, action, room, target)
)
SELECT (SELECT count(*) FROM r)";

/// Locks the batch's rooms' rows, in sorted order, and reads their `last_seq`: a post then
/// checks its idempotency key and takes the next seq while no other node can, and two nodes'
/// batches never wait on each other in a cycle.
async fn lock_rooms(conn: &mut PgConnection, plan: &Plan<'_>) -> StoreResult<RoomSeqs> {
    let mut seqs = plan.room_seqs();
    if plan.rooms().is_empty() {
        return Ok(seqs);
    }
    let rows = sqlx::query(
        "SELECT id, last_seq, members_version FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(plan.rooms())
    .fetch_all(conn)
    .await?;
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

//! A small group commit of posts and reads in one round trip: one statement, committed by
//! itself, that takes each room's seqs and writes every row. The general commit (`commit.rs`)
//! needs four or five (`BEGIN`, the room lock, the stored read positions, the writes,
//! `COMMIT`), because the hub numbers the posts and clamps the reads between the lock and the
//! writes; each round trip costs Postgres a wake-up and the loopback work of its answer, more
//! than the statements themselves at the reference load (`docs/benchmarks.md`, 2026-12-04).
//! Here the hub numbers each room's posts from 1 ([`Plan::apply_from_zero`]) and the statement
//! adds the room's `last_seq`, read under its row lock: a concurrent commit to the room waits
//! for the row and then sees its new value, as the lock in the general commit would.
//!
//! A read is clamped in the statement to its room's `last_seq` plus the new posts ahead of it
//! in the batch, and moves its position forward only. Its outcome is read back from the same
//! statement: what the forward-only upsert returned (it moved), else the stored position,
//! locked after the room (`FOR UPDATE`, so the latest version even when the statement waited
//! for the room). Only a position a concurrent commit inserted after the statement's snapshot
//! is invisible there; a read that then did not move is answered from a fresh look-up after
//! the commit. This needs each read's (room, user) to be touched by no other write of the
//! batch ([`Plan::reads_stand_alone`]), as it is in nearly every batch (a client reads a room
//! at most every few hundred milliseconds); other batches keep the general commit.
//!
//! Access-log entries and attachment claims keep the general commit (a claim can refuse the
//! batch), as do batches above the small size.

use super::commit::{large, mention_rows, push_message_values, POSITION_FORWARD};
use super::messages::MESSAGE_COLUMNS;
use crate::store::plan::{PairKey, Plan, StoredPosition};
use crate::store::{convert, DbError, StoreError, StoreResult, WriteOutcome};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::HashMap;
use std::sync::LazyLock;
use yui_protocol::model::{Message, Timestamp};

/// Whether [`commit`] can take the batch: posts and reads only (at least one write), no post
/// with attachments, no read sharing its (room, user) with another write, few enough writes
/// for `VALUES` lists.
pub(super) fn fits(plan: &Plan<'_>) -> bool {
    plan.len() > 0
        && !large(plan.len())
        && !plan.has_audits()
        && !plan.has_attachments()
        && plan.reads_stand_alone()
}

/// Whether [`commit`] failed for a post to a room that does not exist (its message's seq was
/// NULL).
pub(super) fn is_missing_room(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Internal(DbError::Postgres(sqlx::Error::Database(db)))
            if db.kind() == sqlx::error::ErrorKind::NotNullViolation
    )
}

/// The messages' insert, selecting from the input with each seq moved up by its room's base.
static SELECT_MESSAGES: LazyLock<String> = LazyLock::new(|| {
    MESSAGE_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|c| match c {
            "seq" => "e.base + i.seq".to_owned(),
            c => format!("i.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
});

/// A read of the batch as the statement takes it.
struct ReadRow<'a> {
    /// Its index in the batch.
    index: usize,
    pair: PairKey<'a>,
    seq: i64,
    /// New posts to its room ahead of it in the batch.
    posts_before: i64,
}

/// Commits a batch that [`fits`], numbered from zero, as one autocommitted statement:
/// - `input`: the new messages, their seqs counted from 1 in each room;
/// - `locked` (a batch of several rooms, or with reads): the rooms' rows locked in sorted
///   order, so two nodes' batches never wait on each other in a cycle, with each room's
///   `last_seq` and membership version under the lock;
/// - `ends`: each room's `last_seq` moved on by its count of new messages, returning the value
///   before (the base);
/// - `new`, `queued`, `moved`, `mentioned`: the messages at base + seq, their search queue rows,
///   each author's read position (never backwards) and the mention rows;
/// - `reads`, `prior`, `forward`: the reads, their stored positions (locked after their rooms)
///   and the positions they moved.
///
/// A retry of a committed post fails the statement on the unique key, and the caller commits
/// the batch again the general way with retries looked up. A post to a room that does not
/// exist fails it on the messages' `NOT NULL` seq.
pub(super) async fn commit(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
) -> StoreResult<Vec<WriteOutcome>> {
    use sqlx::Connection as _;
    // A statement sent inside an open transaction would commit nothing. The hub opens
    // transactions only through sqlx (no plain `BEGIN` is sent anywhere), which counts them.
    if conn.is_in_transaction() {
        return Err(StoreError::Unavailable(DbError::Postgres(
            sqlx::Error::BeginFailed,
        )));
    }
    let now = Timestamp::now();
    let applied = plan.apply_from_zero(now)?;
    let messages: Vec<&Message> = applied.new_messages().collect();
    let reads: Vec<ReadRow<'_>> = plan
        .reads()
        .zip(&applied.read_bounds)
        .map(|((index, pair, seq), posts_before)| ReadRow {
            index,
            pair,
            seq,
            posts_before: *posts_before,
        })
        .collect();
    let mut q = QueryBuilder::<Postgres>::new("WITH ");
    let locked = plan.rooms().len() > 1 || !reads.is_empty();
    if locked {
        q.push("locked AS MATERIALIZED (SELECT id, last_seq, members_version FROM rooms WHERE ");
        match plan.rooms() {
            [room] => {
                q.push("id = ").push_bind(*room);
            }
            rooms => {
                q.push("id IN (");
                let mut ids = q.separated(", ");
                for room in rooms {
                    ids.push_bind(*room);
                }
                q.push(") ORDER BY id");
            }
        }
        q.push(" FOR UPDATE)");
    }
    if !messages.is_empty() {
        if locked {
            q.push(", ");
        }
        push_posts(&mut q, &messages, locked, now);
    }
    if !reads.is_empty() {
        push_reads(&mut q, &reads, now);
    }
    if locked {
        // `locked` carries every room (its base and membership version); `ends` only those
        // posted to.
        q.push(
            " SELECT 'room' AS part, id AS room, '' AS user_id, last_seq AS seq, \
             members_version AS at FROM locked",
        );
        if !reads.is_empty() {
            q.push(
                " UNION ALL SELECT 'prior', room, user_id, seq, at FROM prior \
                 UNION ALL SELECT 'forward', room, user_id, seq, 0 FROM forward",
            );
        }
    } else {
        q.push(
            " SELECT 'room' AS part, id AS room, '' AS user_id, base AS seq, \
             members_version AS at FROM ends",
        );
    }
    let rows = q.build().fetch_all(&mut *conn).await?;
    let mut bases = plan.room_seqs();
    let mut prior: HashMap<PairKey<'_>, StoredPosition> = HashMap::new();
    let mut forward: HashMap<PairKey<'_>, i64> = HashMap::new();
    for row in &rows {
        let part: &str = row.try_get("part")?;
        let room: &str = row.try_get("room")?;
        let seq: i64 = row.try_get("seq")?;
        let at: i64 = row.try_get("at")?;
        // Keys borrowed from the plan, so the maps outlive the rows.
        let pair = |user: &str| plan.pair_of(PairKey { room, user });
        match part {
            "room" => {
                if let Some(i) = plan.room_index(room) {
                    bases.set(i, seq);
                    bases.set_members_version(i, at);
                }
            }
            "prior" => {
                if let Some(key) = pair(row.try_get("user_id")?) {
                    prior.insert(key, StoredPosition { seq, at });
                }
            }
            "forward" => {
                if let Some(key) = pair(row.try_get("user_id")?) {
                    forward.insert(key, seq);
                }
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "commit returned a {other} row"
                )))
            }
        }
    }
    // A read that moved nothing and found no stored position in the statement's snapshot: a
    // position another node's commit inserted meanwhile, or none at all.
    let unseen: Vec<PairKey<'_>> = reads
        .iter()
        .map(|r| r.pair)
        .filter(|p| !forward.contains_key(p) && !prior.contains_key(p))
        .collect();
    if !unseen.is_empty() {
        prior.extend(look_up(conn, plan, &unseen).await?);
    }
    let mut outcomes = applied.rebased(plan, &bases)?;
    for read in &reads {
        let outcome = match (forward.get(&read.pair), prior.get(&read.pair)) {
            (Some(seq), _) => WriteOutcome::Read {
                seq: convert::seq(*seq),
                moved: true,
                at: now,
            },
            (None, Some(p)) => WriteOutcome::Read {
                seq: convert::seq(p.seq),
                moved: false,
                at: convert::time(p.at),
            },
            (None, None) => WriteOutcome::Read {
                seq: 0,
                moved: false,
                at: convert::time(0),
            },
        };
        match outcomes.get_mut(read.index) {
            Some(slot) => *slot = outcome,
            None => return Err(StoreError::Corrupt("group commit plan out of step".into())),
        }
    }
    Ok(outcomes)
}

/// The posts' parts of the statement (`input` to `mentioned`). With `locked`, the bases are
/// the locked rows' `last_seq`; without (one room, posts only), the update itself locks the
/// row and returns the value before.
fn push_posts<'q>(
    q: &mut QueryBuilder<'q, Postgres>,
    messages: &[&'q Message],
    locked: bool,
    now: Timestamp,
) {
    q.push(format!("input ({MESSAGE_COLUMNS}) AS ("));
    push_message_values(q, messages);
    q.push("), counted AS (SELECT room, count(*) AS n FROM input GROUP BY room)");
    let rooms = if locked {
        "locked l JOIN counted c ON c.room = l.id WHERE rooms.id = l.id"
    } else {
        "counted c WHERE rooms.id = c.room"
    };
    q.push(format!(
        ", ends AS (UPDATE rooms SET last_seq = rooms.last_seq + c.n FROM {rooms} \
         RETURNING rooms.id, rooms.last_seq - c.n AS base, rooms.members_version)"
    ));
    q.push(format!(
        ", new AS (INSERT INTO messages ({MESSAGE_COLUMNS}) SELECT {} FROM input i \
         LEFT JOIN ends e ON e.id = i.room RETURNING room, seq, author_id), \
         queued AS (INSERT INTO search_queue (room, seq) SELECT room, seq FROM new), \
         moved AS (INSERT INTO read_positions (room, user_id, seq, at) \
         SELECT room, author_id, max(seq), ",
        *SELECT_MESSAGES
    ));
    q.push_bind(now.millis());
    q.push(" FROM new GROUP BY room, author_id");
    q.push(POSITION_FORWARD);
    q.push(")");
    let mentions = mention_rows(messages);
    if !mentions.is_empty() {
        q.push(
            ", mentioned AS (INSERT INTO message_mentions (user_id, room, seq) \
             SELECT v.user_id, v.room, e.base + v.seq FROM (",
        );
        q.push_values(mentions, |mut row, (user, room, seq)| {
            row.push_bind(user)
                .push_bind(room)
                .push("CAST(")
                .push_bind_unseparated(seq)
                .push_unseparated(" AS BIGINT)");
        });
        q.push(") AS v (user_id, room, seq) JOIN ends e ON e.id = v.room)");
    }
}

/// The reads' parts of the statement: `reads` (each with its bound's offset), `prior` (their
/// stored positions, locked after their rooms: the join with `locked` orders the locks) and
/// `forward` (the positions moved: clamped to the room's `last_seq` plus the new posts ahead,
/// ahead of the stored one, never backwards), which returns what it wrote.
fn push_reads<'q>(q: &mut QueryBuilder<'q, Postgres>, reads: &[ReadRow<'q>], now: Timestamp) {
    q.push(", reads (room, user_id, seq, ahead) AS (");
    q.push_values(reads, |mut row, r| {
        row.push_bind(r.pair.room)
            .push_bind(r.pair.user)
            .push("CAST(")
            .push_bind_unseparated(r.seq)
            .push_unseparated(" AS BIGINT)")
            .push("CAST(")
            .push_bind_unseparated(r.posts_before)
            .push_unseparated(" AS BIGINT)");
    });
    q.push(
        "), prior AS MATERIALIZED (SELECT p.room, p.user_id, p.seq, p.at FROM reads r \
         JOIN locked l ON l.id = r.room \
         JOIN read_positions p ON p.room = r.room AND p.user_id = r.user_id FOR UPDATE OF p), \
         forward AS (INSERT INTO read_positions (room, user_id, seq, at) \
         SELECT r.room, r.user_id, LEAST(r.seq, l.last_seq + r.ahead), ",
    );
    q.push_bind(now.millis());
    q.push(
        " FROM reads r JOIN locked l ON l.id = r.room \
         LEFT JOIN prior o ON o.room = r.room AND o.user_id = r.user_id \
         WHERE LEAST(r.seq, l.last_seq + r.ahead) > COALESCE(o.seq, 0)",
    );
    q.push(POSITION_FORWARD);
    q.push(" RETURNING room, user_id, seq)");
}

/// The stored positions of `pairs`, read after the commit.
async fn look_up<'a>(
    conn: &mut PgConnection,
    plan: &Plan<'a>,
    pairs: &[PairKey<'_>],
) -> StoreResult<Vec<(PairKey<'a>, StoredPosition)>> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT p.room, p.user_id, p.seq, p.at FROM (");
    q.push_values(pairs, |mut row, key| {
        row.push_bind(key.room).push_bind(key.user);
    });
    q.push(") AS k JOIN read_positions p ON p.room = k.column1 AND p.user_id = k.column2");
    let mut found = Vec::new();
    for row in q.build().fetch_all(&mut *conn).await? {
        let key = PairKey {
            room: row.try_get("room")?,
            user: row.try_get("user_id")?,
        };
        if let Some(key) = plan.pair_of(key) {
            found.push((
                key,
                StoredPosition {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                },
            ));
        }
    }
    Ok(found)
}

//! A small group commit of posts only, in one round trip: one statement, committed by itself,
//! that takes each room's seqs and writes every row. The general commit (`commit.rs`) needs four
//! (`BEGIN`, the room lock, the writes, `COMMIT`), because the hub numbers the posts between the
//! lock and the writes; each round trip costs Postgres a wake-up and the loopback work of its
//! answer, more than the statements themselves at the reference load (`docs/benchmarks.md`,
//! 2026-12-04). Here the hub numbers each room's posts from 1 ([`Plan::apply_from_zero`]) and
//! the statement adds the room's `last_seq`, which its `UPDATE ... RETURNING` both locks and
//! reads: a concurrent commit to the room waits for the row and then sees its new value, as the
//! lock in the general commit would.
//!
//! Reads, access-log entries and attachment claims keep the general commit (their outcomes
//! depend on stored rows; a claim can refuse the batch), as do batches above the small size.

use super::commit::{large, mention_rows, push_message_values, POSITION_FORWARD};
use super::messages::MESSAGE_COLUMNS;
use crate::store::plan::Plan;
use crate::store::{DbError, StoreError, StoreResult, WriteOutcome};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::sync::LazyLock;
use yui_protocol::model::{Message, Timestamp};

/// Whether [`commit`] can take the batch: posts only (at least one), none with attachments,
/// few enough for `VALUES` lists.
pub(super) fn fits(plan: &Plan<'_>) -> bool {
    plan.len() > 0 && !large(plan.len()) && plan.posts_only() && !plan.has_attachments()
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

/// Commits a batch that [`fits`], numbered from zero, as one autocommitted statement:
/// - `input`: the new messages, their seqs counted from 1 in each room;
/// - `locked` (a batch of several rooms only): the rooms' rows locked in sorted order, so two
///   nodes' batches never wait on each other in a cycle;
/// - `ends`: each room's `last_seq` moved on by its count of new messages, returning the value
///   before (the base) and the membership version read under the lock;
/// - `new`, `queued`, `moved`, `mentioned`: the messages at base + seq, their search queue rows,
///   each author's read position (never backwards) and the mention rows.
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
    let mut q = QueryBuilder::<Postgres>::new(format!("WITH input ({MESSAGE_COLUMNS}) AS ("));
    push_message_values(&mut q, &messages);
    q.push("), counted AS (SELECT room, count(*) AS n FROM input GROUP BY room)");
    // One room's row is locked by the update itself.
    let rooms = if plan.rooms().len() > 1 {
        q.push(
            ", locked AS MATERIALIZED (SELECT id FROM rooms WHERE id IN (SELECT room FROM input) \
             ORDER BY id FOR UPDATE)",
        );
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
    let mentions = mention_rows(&messages);
    if !mentions.is_empty() {
        q.push(
            ", mentioned AS (INSERT INTO message_mentions (user_id, room, seq) \
             SELECT v.user_id, v.room, e.base + v.seq FROM (",
        );
        q.push_values(&mentions, |mut row, (user, room, seq)| {
            row.push_bind(*user)
                .push_bind(*room)
                .push("CAST(")
                .push_bind_unseparated(*seq)
                .push_unseparated(" AS BIGINT)");
        });
        q.push(") AS v (user_id, room, seq) JOIN ends e ON e.id = v.room)");
    }
    q.push(" SELECT id, base, members_version FROM ends");
    let rows = q.build().fetch_all(&mut *conn).await?;
    let mut bases = plan.room_seqs();
    for row in &rows {
        let id: &str = row.try_get("id")?;
        if let Some(i) = plan.room_index(id) {
            bases.set(i, row.try_get("base")?);
            bases.set_members_version(i, row.try_get("members_version")?);
        }
    }
    applied.rebased(plan, &bases)
}

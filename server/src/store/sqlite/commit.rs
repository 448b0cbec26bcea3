//! The group commit on SQLite, run on the writer thread inside one transaction: the plan's
//! inputs are fetched and its results written row by row on cached prepared statements (no
//! round trip per statement in an embedded database; the cost of a batch is its rows, not its
//! statements).

use super::audit::INSERT_AUDIT;
use super::conn::WriterState;
use super::messages::{MessageRow, MESSAGE_COLUMNS};
use super::search;
use crate::store::plan::{Committed, Plan, Positions, Retries, RoomSeqs, StoredPosition};
use crate::store::{convert, StoreResult, Write, WriteOutcome};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::LazyLock;
use yui_protocol::model::Timestamp;

/// Made once, not formatted again for every commit.
static INSERT_MESSAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    )
});

/// Commits a batch (see `Store::commit`): first assuming it retries no committed post, and if
/// the unique (room, author, client_id) index says otherwise, again with its retries looked up.
pub(super) fn commit(state: &mut WriterState, batch: &[Write]) -> StoreResult<Vec<WriteOutcome>> {
    let outcomes = match state.transaction(|conn| commit_with(conn, batch, Retries::Assumed)) {
        Err(e) if e.is_unique_violation() => {
            metrics::counter!("yui_commit_retry_lookups_total").increment(1);
            state.transaction(|conn| commit_with(conn, batch, Retries::LookedUp))
        }
        other => other,
    }?;
    // Committed, but to the file the hub opened: one deleted or replaced under it loses this
    // at the next restart, so it is not acked as durable.
    state.check_file()?;
    Ok(outcomes)
}

fn commit_with(
    conn: &Connection,
    batch: &[Write],
    retries: Retries,
) -> StoreResult<Vec<WriteOutcome>> {
    let now = Timestamp::now();
    let plan = Plan::new(batch);
    let seqs = room_seqs(conn, &plan)?;
    let committed = match retries {
        Retries::LookedUp => select_committed(conn, &plan)?,
        Retries::Assumed => Committed::none(),
    };
    let positions = select_positions(conn, &plan)?;
    let applied = plan.apply(&committed, &seqs, &positions, now)?;

    let mut stmt = conn.prepare_cached("UPDATE rooms SET last_seq = ?2 WHERE id = ?1")?;
    for end in &applied.room_ends {
        stmt.execute(params![end.room, end.last_seq])?;
    }
    let mut stmt = conn.prepare_cached(&INSERT_MESSAGE)?;
    let mut mention = conn
        .prepare_cached("INSERT INTO message_mentions (user_id, room, seq) VALUES (?1, ?2, ?3)")?;
    for m in applied.new_messages() {
        stmt.execute(params![
            m.room.as_str(),
            convert::db_seq(m.seq),
            m.id.as_str(),
            m.client_id.as_str(),
            m.author.id.as_str(),
            m.author.name.as_str(),
            m.author.profession.as_str(),
            m.author.org.as_str(),
            m.kind.as_str(),
            m.body.as_str(),
            m.at.millis(),
            m.priority.as_str(),
            convert::mentions_json(&m.mentions),
            m.replaces.map(convert::db_seq),
            m.retracts.map(convert::db_seq),
        ])?;
        search::queue(conn, &m.room, convert::db_seq(m.seq))?;
        for u in &m.mentions {
            mention.execute(params![
                u.id.as_str(),
                m.room.as_str(),
                convert::db_seq(m.seq)
            ])?;
        }
    }
    // After the inserts: a retry of a committed post fails on the unique key first (and is
    // then answered from the first commit), not on its attachments being claimed already.
    super::attachments::claim(conn, applied.new_messages())?;
    // Never backwards: a pair only posts touched started the replay at 0, not at its stored
    // position.
    let mut stmt = conn.prepare_cached(
        "INSERT INTO read_positions (room, user_id, seq, at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, at = excluded.at \
         WHERE excluded.seq > read_positions.seq",
    )?;
    for p in &applied.moved {
        stmt.execute(params![p.room, p.user, p.seq, now.millis()])?;
    }
    let mut stmt = conn.prepare_cached(INSERT_AUDIT)?;
    for r in plan.audits() {
        stmt.execute(params![
            now.millis(),
            r.actor.id.as_str(),
            r.actor.name.as_str(),
            r.action.as_str(),
            r.room.as_str(),
            r.target.as_ref().map(|t| t.as_str()),
        ])?;
    }
    Ok(applied.outcomes)
}

/// The `last_seq` and membership version of each of the batch's rooms (the writer's transaction excludes every other
/// writer: nothing to lock).
fn room_seqs(conn: &Connection, plan: &Plan<'_>) -> StoreResult<RoomSeqs> {
    let mut seqs = plan.room_seqs();
    let mut stmt =
        conn.prepare_cached("SELECT last_seq, members_version FROM rooms WHERE id = ?1")?;
    for (i, room) in plan.rooms().iter().enumerate() {
        if let Some((seq, version)) = stmt
            .query_row([room], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
        {
            seqs.set(i, seq);
            seqs.set_members_version(i, version);
        }
    }
    Ok(seqs)
}

fn select_committed(conn: &Connection, plan: &Plan<'_>) -> StoreResult<Committed> {
    let mut found = Committed::none();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
         WHERE room = ?1 AND author_id = ?2 AND client_id = ?3"
    ))?;
    for (i, key) in plan.post_keys().iter().enumerate() {
        if let Some(row) = stmt
            .query_row([key.room, key.author, key.client_id], MessageRow::read)
            .optional()?
        {
            found.insert(i, row.into_message()?);
        }
    }
    Ok(found)
}

fn select_positions(conn: &Connection, plan: &Plan<'_>) -> StoreResult<Positions> {
    let mut positions = plan.positions();
    let mut stmt =
        conn.prepare_cached("SELECT seq, at FROM read_positions WHERE room = ?1 AND user_id = ?2")?;
    for (i, key) in plan.pairs_to_look_up() {
        if let Some((seq, at)) = stmt
            .query_row([key.room, key.user], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
        {
            positions.set(i, StoredPosition { seq, at });
        }
    }
    Ok(positions)
}

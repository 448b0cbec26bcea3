//! Search on SQLite: the FTS5 index of bigram terms (migration 0008, `crate::store::search`),
//! written with each new message in the group commit, the backfill of older messages, the
//! query, and the export's period read.

use super::messages::{MessageRow, MESSAGE_COLUMNS};
use crate::store::search::{message_terms_text, room_term};
use crate::store::{SearchSpec, StoreResult};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use yui_protocol::ids::RoomId;
use yui_protocol::model::Message;

/// Queues one message for the search index (inside the group commit's transaction): its row
/// takes the index's next rowid, so the index's rowid order stays commit order, but the FTS5
/// insert (term extraction, a segment written and merged per transaction) is left to
/// [`index_queued`], which runs in a transaction of its own after the post is acked and takes
/// many messages at once.
pub(super) fn queue(conn: &Connection, room: &RoomId, seq: i64) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO message_search_rows (room, seq) VALUES (?1, ?2)")?
        .execute(params![room.as_str(), seq])?;
    Ok(())
}

/// Writes the FTS5 entries of up to `limit` queued messages, oldest first, and moves the
/// indexed mark past them (inside the caller's transaction). Returns how many it indexed.
pub(super) fn index_queued(conn: &Connection, limit: usize) -> StoreResult<usize> {
    let upto: i64 = conn.query_row("SELECT upto FROM search_indexed WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    let rows: Vec<(i64, String, Option<String>)> = {
        // A queued row whose message is gone (none is deleted today) is passed over.
        let mut stmt = conn.prepare_cached(
            "SELECT r.id, r.room, m.body FROM message_search_rows r \
             LEFT JOIN messages m ON m.room = r.room AND m.seq = r.seq \
             WHERE r.id > ?1 ORDER BY r.id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![upto, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let Some((last, _, _)) = rows.last() else {
        return Ok(0);
    };
    let mut insert =
        conn.prepare_cached("INSERT INTO message_search (rowid, terms) VALUES (?1, ?2)")?;
    for (id, room, body) in &rows {
        if let Some(body) = body {
            let room = crate::store::convert::room_id(room.clone())?;
            insert.execute(params![id, message_terms_text(&room, body)])?;
        }
    }
    conn.prepare_cached("UPDATE search_indexed SET upto = ?1 WHERE id = 1")?
        .execute([last])?;
    Ok(rows.len())
}

/// Messages indexed per backfill transaction.
const BACKFILL_CHUNK: i64 = 2000;

/// Indexes the messages committed before migration 0008 (or all of them again after 0010),
/// if any are left, in (at, id) order so that the index's rowid order is time order for them
/// too (run when the store opens, before the writer serves: nothing commits meanwhile).
/// Resumes where an interrupted run stopped. A temporary index on (at, id) keeps each chunk a
/// range read; it is dropped when done.
pub(super) fn backfill(conn: &Connection) -> StoreResult<()> {
    let done: bool = conn.query_row("SELECT done FROM search_backfill WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    if done {
        return Ok(());
    }
    tracing::info!("search index: indexing older messages in time order");
    conn.execute_batch("CREATE INDEX IF NOT EXISTS search_backfill_order ON messages (at, id)")?;
    let mut total = 0u64;
    loop {
        let tx = conn.unchecked_transaction()?;
        let (at, mid): (i64, String) = tx.query_row(
            "SELECT at, mid FROM search_backfill WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let rows: Vec<(String, i64, String, i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT room, seq, body, at, id FROM messages WHERE (at, id) > (?1, ?2) \
                 ORDER BY at, id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![at, mid, BACKFILL_CHUNK], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let Some((_, _, _, last_at, last_id)) = rows.last() else {
            tx.execute("UPDATE search_backfill SET done = 1 WHERE id = 1", [])?;
            tx.execute_batch("DROP INDEX IF EXISTS search_backfill_order")?;
            tx.commit()?;
            break;
        };
        for (room, seq, _, _, _) in &rows {
            let room = crate::store::convert::room_id(room.clone())?;
            queue(&tx, &room, *seq)?;
        }
        // With anything queued before (a hub stopped before indexing it), in rowid order.
        while index_queued(&tx, BACKFILL_CHUNK as usize)? > 0 {}
        tx.execute(
            "UPDATE search_backfill SET at = ?1, mid = ?2 WHERE id = 1",
            params![last_at, last_id],
        )?;
        total += rows.len() as u64;
        tx.commit()?;
    }
    tracing::info!(messages = total, "search index: older messages indexed");
    Ok(())
}

/// Up to this many rooms the FTS5 query itself restricts a search to the user's rooms; past it,
/// merging that many room doclists costs more than it saves, and each candidate's room is
/// checked instead (as it always is).
const ROOMS_IN_QUERY: usize = 64;

/// An FTS5 query that every one of `terms` and (for a few rooms) one of `rooms` must satisfy.
/// Terms are plain ASCII made by the hub, quoted all the same.
fn match_expression(terms: &[String], rooms: &[RoomId]) -> String {
    let words: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
    if rooms.len() > ROOMS_IN_QUERY {
        return words.join(" AND ");
    }
    let rooms: Vec<String> = rooms
        .iter()
        .map(|r| format!("\"{}\"", room_term(r)))
        .collect();
    format!("{} AND ({})", words.join(" AND "), rooms.join(" OR "))
}

/// The first page of a search, newest first by (at, id). The index is walked in descending
/// rowid order, which is commit order and so (at, id) order on one node (new messages get the
/// commit's time; the backfill indexes in (at, id) order), and stops as soon as the page is
/// full: a frequent word no longer costs in proportion to its matches. Messages sharing the
/// last accepted one's `at` (one group commit) are all read and the page is sorted by (at, id),
/// so ties are ordered exactly as the `before` cursor compares them.
pub(super) fn search(conn: &Connection, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)> {
    if spec.rooms.is_empty() || spec.matcher.terms.is_empty() {
        return Ok((Vec::new(), false));
    }
    let readable: HashSet<&str> = spec.rooms.iter().map(|r| r.as_str()).collect();
    // The cursor: its (at, id), and the highest rowid that can still be older than it (the
    // messages after it in commit order that share its `at`).
    let (cursor, bound) = match spec.before.as_deref() {
        None => (None, i64::MAX),
        Some(id) => match cursor_bound(conn, id)? {
            None => return Ok((Vec::new(), false)),
            Some((at, bound)) => (Some((at, id)), bound),
        },
    };
    let columns = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The FTS5 table drives the join (CROSS JOIN keeps SQLite from scanning messages and
    // probing the index per row), in its own rowid order.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns} FROM message_search s \
         CROSS JOIN message_search_rows r ON r.id = s.rowid \
         CROSS JOIN messages m ON m.room = r.room AND m.seq = r.seq \
         WHERE message_search MATCH ?1 AND s.rowid <= ?2 \
         ORDER BY s.rowid DESC"
    ))?;
    let mut rows = stmt.query(params![
        match_expression(&spec.matcher.terms, &spec.rooms),
        bound
    ])?;
    let limit = spec.limit as usize;
    let mut found: Vec<Message> = Vec::new();
    // Set once limit + 1 are accepted: read on only while `at` equals the last one's.
    let mut last_at: Option<i64> = None;
    while let Some(row) = rows.next()? {
        let m = MessageRow::read(row)?.into_message()?;
        let at = m.at.millis();
        if last_at.is_some_and(|last| at < last) {
            break;
        }
        if let Some((c_at, c_id)) = cursor {
            if (at, m.id.as_str()) >= (c_at, c_id) {
                continue;
            }
        }
        if !readable.contains(m.room.as_str()) || !spec.matcher.matches(&m.body) {
            continue;
        }
        found.push(m);
        if found.len() == limit + 1 && last_at.is_none() {
            last_at = Some(at);
        }
    }
    found.sort_by(|a, b| (b.at.millis(), &b.id).cmp(&(a.at.millis(), &a.id)));
    let more = found.len() > limit;
    found.truncate(limit);
    Ok((found, more))
}

/// The `at` of the cursor message and the highest index rowid a message older than it by
/// (at, id) can have: the rowids after the cursor's own, while their messages share its `at`.
/// None for an unknown or unindexed message.
fn cursor_bound(conn: &Connection, id: &str) -> StoreResult<Option<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.at, r.id FROM messages m \
         JOIN message_search_rows r ON r.room = m.room AND r.seq = m.seq WHERE m.id = ?1",
    )?;
    let mut rows = stmt.query(params![id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let (at, mut bound): (i64, i64) = (row.get(0)?, row.get(1)?);
    let mut after = conn.prepare_cached(
        "SELECT r.id, m.at FROM message_search_rows r \
         JOIN messages m ON m.room = r.room AND m.seq = r.seq \
         WHERE r.id > ?1 ORDER BY r.id",
    )?;
    let mut rows = after.query(params![bound])?;
    while let Some(row) = rows.next()? {
        let (rowid, next_at): (i64, i64) = (row.get(0)?, row.get(1)?);
        if next_at > at {
            break;
        }
        bound = rowid;
    }
    Ok(Some((at, bound)))
}

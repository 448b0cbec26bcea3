//! Search on SQLite: the FTS5 index of bigram terms (migration 0008, `crate::store::search`),
//! written with each new message in the group commit, the backfill of older messages, the
//! query, and the export's period read.

use super::messages::{MessageRow, MESSAGE_COLUMNS};
use crate::store::search::{message_terms_text, room_term};
use crate::store::{SearchSpec, StoreResult};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use yui_protocol::ids::RoomId;
use yui_protocol::model::{Message, Timestamp};

/// Indexes one message (inside the caller's transaction).
pub(super) fn index(conn: &Connection, room: &RoomId, seq: i64, body: &str) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO message_search_rows (room, seq) VALUES (?1, ?2)")?
        .execute(params![room.as_str(), seq])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO message_search (rowid, terms) VALUES (?1, ?2)")?
        .execute(params![id, message_terms_text(room, body)])?;
    Ok(())
}

/// Messages indexed per backfill transaction.
const BACKFILL_CHUNK: i64 = 2000;

/// Indexes the messages committed before migration 0008, if any are left (run when the store
/// opens, before the writer serves: nothing commits meanwhile). Resumes where an interrupted
/// run stopped.
pub(super) fn backfill(conn: &Connection) -> StoreResult<()> {
    let mut total = 0u64;
    loop {
        let tx = conn.unchecked_transaction()?;
        let (done, room, seq): (bool, String, i64) = tx.query_row(
            "SELECT done, room, seq FROM search_backfill WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if done {
            break;
        }
        let rows: Vec<(String, i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT room, seq, body FROM messages WHERE (room, seq) > (?1, ?2) \
                 ORDER BY room, seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![room, seq, BACKFILL_CHUNK], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        match rows.last() {
            None => {
                tx.execute("UPDATE search_backfill SET done = 1 WHERE id = 1", [])?;
            }
            Some((last_room, last_seq, _)) => {
                for (room, seq, body) in &rows {
                    let room = crate::store::convert::room_id(room.clone())?;
                    index(&tx, &room, *seq, body)?;
                }
                tx.execute(
                    "UPDATE search_backfill SET room = ?1, seq = ?2 WHERE id = 1",
                    params![last_room, last_seq],
                )?;
                total += rows.len() as u64;
            }
        }
        tx.commit()?;
    }
    if total > 0 {
        tracing::info!(messages = total, "search index: older messages indexed");
    }
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

pub(super) fn search(conn: &Connection, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)> {
    if spec.rooms.is_empty() || spec.matcher.terms.is_empty() {
        return Ok((Vec::new(), false));
    }
    let readable: HashSet<&str> = spec.rooms.iter().map(|r| r.as_str()).collect();
    let columns = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The FTS5 table drives the join (CROSS JOIN keeps SQLite from scanning messages and
    // probing the index per row).
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns} FROM message_search s \
         CROSS JOIN message_search_rows r ON r.id = s.rowid \
         CROSS JOIN messages m ON m.room = r.room AND m.seq = r.seq \
         WHERE message_search MATCH ?1 \
           AND (?2 IS NULL OR (m.at, m.id) < (SELECT at, id FROM messages WHERE id = ?2)) \
         ORDER BY m.at DESC, m.id DESC"
    ))?;
    let mut rows = stmt.query(params![
        match_expression(&spec.matcher.terms, &spec.rooms),
        spec.before.as_deref()
    ])?;
    let limit = spec.limit as usize;
    let mut found = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next()? {
        let m = MessageRow::read(row)?.into_message()?;
        if !readable.contains(m.room.as_str()) || !spec.matcher.matches(&m.body) {
            continue;
        }
        if found.len() == limit {
            more = true;
            break;
        }
        found.push(m);
    }
    Ok((found, more))
}

pub(super) fn between(
    conn: &Connection,
    room: &RoomId,
    from: Timestamp,
    to: Timestamp,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 AND at >= ?2 AND at < ?3 \
         ORDER BY seq LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![room.as_str(), from.millis(), to.millis(), i64::from(limit)],
        MessageRow::read,
    )?;
    rows.map(|r| r?.into_message()).collect()
}

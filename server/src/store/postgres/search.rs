//! Search on Postgres: each message's bigram terms (migration 0008, `crate::store::search`) in
//! a GIN-indexed array, written with the message in the group commit, the backfill of older
//! messages, the query, and the export's period read.

use super::messages::{message, MESSAGE_COLUMNS};
use crate::store::search::body_terms;
use crate::store::{convert, SearchSpec, StoreResult};
use futures::TryStreamExt;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use yui_protocol::model::Message;

/// Indexes new messages (inside the group commit's transaction), `rows` at a time.
pub(super) async fn index(
    conn: &mut PgConnection,
    messages: &[&Message],
    rows: usize,
) -> StoreResult<()> {
    for chunk in messages.chunks(rows) {
        let mut q =
            QueryBuilder::<Postgres>::new("INSERT INTO message_search (room, seq, terms, at, id) ");
        q.push_values(chunk, |mut row, m| {
            row.push_bind(m.room.as_str())
                .push_bind(convert::db_seq(m.seq))
                .push_bind(body_terms(&m.body))
                .push_bind(m.at.millis())
                .push_bind(m.id.as_str());
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

const BACKFILL_CHUNK: i64 = 2000;

/// Indexes the messages committed before migration 0008, if any are left.
pub(super) async fn backfill(pool: &PgPool) -> StoreResult<()> {
    let done: bool = sqlx::query_scalar("SELECT done FROM search_backfill WHERE id = 1")
        .fetch_one(pool)
        .await?;
    if done {
        return Ok(());
    }
    let mut total = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT m.room, m.seq, m.body, m.at, m.id FROM messages m WHERE NOT EXISTS \
             (SELECT 1 FROM message_search s WHERE s.room = m.room AND s.seq = m.seq) LIMIT $1",
        )
        .bind(BACKFILL_CHUNK)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        let mut q =
            QueryBuilder::<Postgres>::new("INSERT INTO message_search (room, seq, terms, at, id) ");
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let room: String = row.try_get("room")?;
            let seq: i64 = row.try_get("seq")?;
            let body: String = row.try_get("body")?;
            let at: i64 = row.try_get("at")?;
            let id: String = row.try_get("id")?;
            items.push((room, seq, body_terms(&body), at, id));
        }
        q.push_values(&items, |mut row, (room, seq, terms, at, id)| {
            row.push_bind(room)
                .push_bind(seq)
                .push_bind(terms)
                .push_bind(at)
                .push_bind(id);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(pool).await?;
        total += rows.len() as u64;
    }
    sqlx::query("UPDATE search_backfill SET done = true WHERE id = 1")
        .execute(pool)
        .await?;
    if total > 0 {
        tracing::info!(messages = total, "search index: older messages indexed");
    }
    Ok(())
}

/// The first page of a search, newest first by (at, id). Candidates are read in pages of
/// `(limit + 1) * 2` in that order (`message_search_time` lets the planner walk a frequent
/// word's matches in time order and stop; for a rare word it may take the GIN bitmap and sort
/// the few), and another page is read only while the substring check has rejected too many.
pub(super) async fn search(pool: &PgPool, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)> {
    if spec.rooms.is_empty() || spec.matcher.terms.is_empty() {
        return Ok((Vec::new(), false));
    }
    let readable: HashSet<&str> = spec.rooms.iter().map(|r| r.as_str()).collect();
    let rooms: Vec<&str> = spec.rooms.iter().map(|r| r.as_str()).collect();
    // Before everything when there is no cursor; nothing for an unknown one.
    let mut cursor: (i64, String) = match spec.before.as_deref() {
        None => (i64::MAX, String::new()),
        Some(id) => {
            let at: Option<(i64, String)> =
                sqlx::query_as("SELECT at, id FROM messages WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            match at {
                Some(c) => c,
                None => return Ok((Vec::new(), false)),
            }
        }
    };
    let columns = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM message_search s \
         JOIN messages m ON m.room = s.room AND m.seq = s.seq \
         WHERE s.terms @> $1 AND s.room = ANY($2) AND (s.at, s.id) < ($3, $4) \
         ORDER BY s.at DESC, s.id DESC LIMIT $5"
    );
    let limit = spec.limit as usize;
    let page = (limit as i64 + 1) * 2;
    let mut found = Vec::new();
    loop {
        let mut rows = sqlx::query(&sql)
            .bind(&spec.matcher.terms)
            .bind(&rooms)
            .bind(cursor.0)
            .bind(cursor.1.clone())
            .bind(page)
            .fetch(pool);
        let mut read = 0;
        while let Some(row) = rows.try_next().await? {
            read += 1;
            let m = message(&row)?;
            cursor = (m.at.millis(), m.id.clone());
            if !readable.contains(m.room.as_str()) || !spec.matcher.matches(&m.body) {
                continue;
            }
            if found.len() == limit {
                return Ok((found, true));
            }
            found.push(m);
        }
        if read < page {
            return Ok((found, false));
        }
    }
}

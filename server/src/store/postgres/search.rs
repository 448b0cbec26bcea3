//! Search on Postgres: each message's bigram terms (migration 0008, `crate::store::search`) in
//! a GIN-indexed array, written with the message in the group commit, the backfill of older
//! messages, the query, and the export's period read.

use super::messages::{message, MESSAGE_COLUMNS};
use crate::store::search::body_terms;
use crate::store::{SearchSpec, StoreResult};
use futures::TryStreamExt;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use yui_protocol::model::Message;

/// Writes the terms of up to `limit` queued messages (`search_queue`, filled by the group
/// commit) and takes them off the queue, in one transaction. `skip_locked`: rows another node
/// is indexing now are left to it (the follower); otherwise they are waited for (a search,
/// which must see every message committed before it). Rows are locked in (room, seq) order, so
/// two indexers never wait on each other in a cycle. Returns how many rows it took.
pub(super) async fn index_queued(
    pool: &PgPool,
    limit: usize,
    skip_locked: bool,
) -> StoreResult<usize> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        // The queued rows are taken first and each message looked up by its key (the LIMIT 1
        // keeps the lateral subquery from being flattened into a join): a merge join, which
        // the generic plan chose, walks `messages_pkey` from the start, every run.
        "WITH q AS MATERIALIZED (SELECT room, seq FROM search_queue \
         ORDER BY room, seq LIMIT $1 FOR UPDATE{}) \
         SELECT q.room, q.seq, m.body, m.at, m.id FROM q LEFT JOIN LATERAL \
         (SELECT body, at, id FROM messages WHERE room = q.room AND seq = q.seq LIMIT 1) m ON true \
         ORDER BY q.room, q.seq",
        if skip_locked { " SKIP LOCKED" } else { "" }
    );
    let rows = sqlx::query(&sql)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let (mut rooms, mut seqs) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let room: String = row.try_get("room")?;
        let seq: i64 = row.try_get("seq")?;
        // A queued message that is gone (none is deleted today) is only taken off the queue.
        if let Some(body) = row.try_get::<Option<String>, _>("body")? {
            let at: i64 = row.try_get("at")?;
            let id: String = row.try_get("id")?;
            items.push((room.clone(), seq, body_terms(&body), at, id));
        }
        rooms.push(room);
        seqs.push(seq);
    }
    for chunk in items.chunks(INDEX_ROWS) {
        let mut q =
            QueryBuilder::<Postgres>::new("INSERT INTO message_search (room, seq, terms, at, id) ");
        q.push_values(chunk, |mut row, (room, seq, terms, at, id)| {
            row.push_bind(room)
                .push_bind(seq)
                .push_bind(terms)
                .push_bind(at)
                .push_bind(id);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut *tx).await?;
    }
    sqlx::query(
        "DELETE FROM search_queue q USING UNNEST($1::text[], $2::bigint[]) AS x(room, seq) \
         WHERE q.room = x.room AND q.seq = x.seq",
    )
    .bind(&rooms)
    .bind(&seqs)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Rows of `message_search` per insert statement (5 binds each, well under the bind limit).
const INDEX_ROWS: usize = 1000;

const BACKFILL_CHUNK: i64 = 2000;

/// Indexes everything queued before a search reads, waiting for rows another node is indexing
/// now. Best effort: when the index cannot be written (the database refuses writes), the
/// search answers from what is indexed, and the follower writes the rest once it can.
async fn catch_up(pool: &PgPool) {
    loop {
        match index_queued(pool, BACKFILL_CHUNK as usize, false).await {
            Ok(n) if n == BACKFILL_CHUNK as usize => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "search: queued messages could not be indexed before a search");
                return;
            }
        }
    }
}

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
    catch_up(pool).await;
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

//! Search on Postgres: each message's bigram terms (migration 0008, `crate::store::search`) in
//! a GIN-indexed array, written with the message in the group commit, the backfill of older
//! messages, the query, and the export's period read.

use super::messages::{message, MESSAGE_COLUMNS};
use crate::store::search::body_terms;
use crate::store::{convert, SearchSpec, StoreResult};
use futures::TryStreamExt;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use yui_protocol::ids::RoomId;
use yui_protocol::model::{Message, Timestamp};

/// Indexes new messages (inside the group commit's transaction), `rows` at a time.
pub(super) async fn index(
    conn: &mut PgConnection,
    messages: &[&Message],
    rows: usize,
) -> StoreResult<()> {
    for chunk in messages.chunks(rows) {
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO message_search (room, seq, terms) ");
        q.push_values(chunk, |mut row, m| {
            row.push_bind(m.room.as_str())
                .push_bind(convert::db_seq(m.seq))
                .push_bind(body_terms(&m.body));
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
            "SELECT m.room, m.seq, m.body FROM messages m WHERE NOT EXISTS \
             (SELECT 1 FROM message_search s WHERE s.room = m.room AND s.seq = m.seq) LIMIT $1",
        )
        .bind(BACKFILL_CHUNK)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO message_search (room, seq, terms) ");
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let room: String = row.try_get("room")?;
            let seq: i64 = row.try_get("seq")?;
            let body: String = row.try_get("body")?;
            items.push((room, seq, body_terms(&body)));
        }
        q.push_values(&items, |mut row, (room, seq, terms)| {
            row.push_bind(room).push_bind(seq).push_bind(terms);
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

pub(super) async fn search(pool: &PgPool, spec: &SearchSpec) -> StoreResult<(Vec<Message>, bool)> {
    if spec.rooms.is_empty() || spec.matcher.terms.is_empty() {
        return Ok((Vec::new(), false));
    }
    let readable: HashSet<&str> = spec.rooms.iter().map(|r| r.as_str()).collect();
    let rooms: Vec<&str> = spec.rooms.iter().map(|r| r.as_str()).collect();
    let columns = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM message_search s \
         JOIN messages m ON m.room = s.room AND m.seq = s.seq \
         WHERE s.terms @> $1 AND s.room = ANY($2) \
           AND ($3::text IS NULL OR (m.at, m.id) < (SELECT at, id FROM messages WHERE id = $3)) \
         ORDER BY m.at DESC, m.id DESC"
    );
    let mut rows = sqlx::query(&sql)
        .bind(&spec.matcher.terms)
        .bind(&rooms)
        .bind(spec.before.as_deref())
        .fetch(pool);
    let limit = spec.limit as usize;
    let mut found = Vec::new();
    let mut more = false;
    while let Some(row) = rows.try_next().await? {
        let m = message(&row)?;
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

pub(super) async fn between(
    pool: &PgPool,
    room: &RoomId,
    from: Timestamp,
    to: Timestamp,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = $1 AND at >= $2 AND at < $3 \
         ORDER BY seq LIMIT $4"
    ))
    .bind(room.as_str())
    .bind(from.millis())
    .bind(to.millis())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(message).collect()
}

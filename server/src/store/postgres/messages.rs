//! History: messages after a seq (catch-up) and before one (paging back).

use crate::store::{convert, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use yui_protocol::ids::RoomId;
use yui_protocol::model::{Message, Timestamp};

/// The columns of a message, in the order `message` and the commit's insert use.
pub(super) const MESSAGE_COLUMNS: &str = "room, seq, id, client_id, author_id, author_name, \
                                          author_profession, author_org, kind, body, at, \
                                          priority, mentions, replaces, retracts";

/// How many users confirmed message `m`, and the seq of its latest revision (history pages).
const PAGE_COLUMNS: &str = "(SELECT COUNT(*) FROM confirmations c \
                            WHERE c.room = m.room AND c.seq = m.seq) AS confirms, \
                            (SELECT MAX(r.seq) FROM messages r WHERE r.room = m.room \
                            AND coalesce(r.replaces, r.retracts) = m.seq) AS revised";

pub(super) async fn after(
    pool: &PgPool,
    room: &RoomId,
    after: u64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(room.as_str())
        .bind(convert::db_seq(after))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    let mut messages = rows.iter().map(message).collect::<StoreResult<Vec<_>>>()?;
    super::attachments::fill(pool, &mut messages).await?;
    Ok(messages)
}

/// A row of `MESSAGE_COLUMNS, PAGE_COLUMNS`.
fn page_message(r: &PgRow) -> StoreResult<Message> {
    let mut m = message(r)?;
    m.confirms = Some(convert::seq(r.try_get("confirms")?));
    m.revised = r.try_get::<Option<i64>, _>("revised")?.map(convert::seq);
    Ok(m)
}

/// The room's messages with `from <= at < to`, in seq order, at most `limit` (an export): as a
/// history page gives them, with their confirmations, latest revision and attachments.
pub(super) async fn between(
    pool: &PgPool,
    room: &RoomId,
    from: Timestamp,
    to: Timestamp,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS}, {PAGE_COLUMNS} FROM messages m \
         WHERE room = $1 AND at >= $2 AND at < $3 ORDER BY seq LIMIT $4"
    ))
    .bind(room.as_str())
    .bind(from.millis())
    .bind(to.millis())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut messages = rows
        .iter()
        .map(page_message)
        .collect::<StoreResult<Vec<_>>>()?;
    super::attachments::fill(pool, &mut messages).await?;
    Ok(messages)
}

/// A page of history before a seq: `$1` room, `$2` seq, `$3` limit.
fn page_before_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS}, {PAGE_COLUMNS} FROM messages m WHERE room = $1 AND seq < $2 \
         ORDER BY seq DESC LIMIT $3"
    )
}

pub(super) async fn before(
    pool: &PgPool,
    room: &RoomId,
    before: Option<u64>,
    limit: u32,
) -> StoreResult<(Vec<Message>, bool)> {
    let sql = page_before_sql();
    let rows = sqlx::query(&sql)
        .bind(room.as_str())
        .bind(before.map(convert::db_seq).unwrap_or(i64::MAX))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?;
    let more = rows.len() > limit as usize;
    let mut messages = rows
        .iter()
        .take(limit as usize)
        .map(page_message)
        .collect::<StoreResult<Vec<_>>>()?;
    messages.reverse();
    super::attachments::fill(pool, &mut messages).await?;
    Ok((messages, more))
}

pub(super) fn message(r: &PgRow) -> StoreResult<Message> {
    Ok(Message {
        room: convert::room_id(r.try_get("room")?)?,
        seq: convert::seq(r.try_get("seq")?),
        id: r.try_get("id")?,
        client_id: convert::client_id(r.try_get("client_id")?)?,
        author: convert::user_ref(
            r.try_get("author_id")?,
            r.try_get("author_name")?,
            r.try_get::<&str, _>("author_profession")?,
            r.try_get("author_org")?,
        )?,
        kind: convert::message_kind(r.try_get::<&str, _>("kind")?)?,
        body: r.try_get("body")?,
        at: convert::time(r.try_get("at")?),
        priority: convert::priority(r.try_get::<&str, _>("priority")?)?,
        mentions: convert::mentions(r.try_get::<&str, _>("mentions")?)?,
        attachments: Vec::new(),
        replaces: r.try_get::<Option<i64>, _>("replaces")?.map(convert::seq),
        retracts: r.try_get::<Option<i64>, _>("retracts")?.map(convert::seq),
        confirms: None,
        revised: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::PostgresStore;

    /// A history page finds each message's latest revision through the revisions index, which
    /// holds revisions only: its lookup `coalesce(...) = m.seq` implies the index's
    /// `coalesce(...) IS NOT NULL`. (Sequential scans are turned off: the test's table is empty.)
    #[tokio::test]
    async fn a_history_page_uses_the_revisions_index() -> Result<(), Box<dyn std::error::Error>> {
        let Some(db) = crate::store::tests::pg_database().await else {
            return Ok(());
        };
        let store = PostgresStore::connect(&db.url, 2).await?;
        let mut tx = store.pool.begin().await?;
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await?;
        // The page's own statement, with its parameters as a page passes them.
        sqlx::query(&format!("PREPARE page AS {}", super::page_before_sql()))
            .execute(&mut *tx)
            .await?;
        let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE page('r', 9, 51)")
            .fetch_all(&mut *tx)
            .await?;
        assert!(
            plan.iter().any(|line| line.contains("messages_revisions")),
            "{plan:#?}"
        );
        Ok(())
    }
}

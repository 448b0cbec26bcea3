//! Care notes (PROTOCOL.md 5.2): confirmations, and who has not read a message yet.

use super::begin_write;
use super::messages::{message, MESSAGE_COLUMNS};
use crate::store::{convert, RoomInfo, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use yui_protocol::ids::{ClientId, RoomId, UserId};
use yui_protocol::model::{Confirmation, Message, RoomKind, Timestamp, UserRef};

pub(super) async fn posted(
    pool: &PgPool,
    room: &RoomId,
    author: &UserId,
    client_id: &ClientId,
) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
         WHERE room = $1 AND author_id = $2 AND client_id = $3"
    );
    let row = sqlx::query(&sql)
        .bind(room.as_str())
        .bind(author.as_str())
        .bind(client_id.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(|r| message(&r)).transpose()
}

/// Records a confirmation once; returns when it was made and whether this call made it.
pub(super) async fn confirm(
    conn: &mut PgConnection,
    room: &RoomId,
    seq: u64,
    user: &UserId,
) -> StoreResult<(Timestamp, bool)> {
    let now = Timestamp::now();
    let mut tx = begin_write(conn).await?;
    let inserted = sqlx::query(
        "INSERT INTO confirmations (room, seq, user_id, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (room, seq, user_id) DO NOTHING",
    )
    .bind(room.as_str())
    .bind(convert::db_seq(seq))
    .bind(user.as_str())
    .bind(now.millis())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let result = if inserted {
        (now, true)
    } else {
        let at: i64 = sqlx::query_scalar(
            "SELECT at FROM confirmations WHERE room = $1 AND seq = $2 AND user_id = $3",
        )
        .bind(room.as_str())
        .bind(convert::db_seq(seq))
        .bind(user.as_str())
        .fetch_one(&mut *tx)
        .await?;
        (convert::time(at), false)
    };
    tx.commit().await?;
    Ok(result)
}

pub(super) async fn confirms(
    pool: &PgPool,
    room: &RoomId,
    seq: u64,
) -> StoreResult<Vec<Confirmation>> {
    let rows = sqlx::query(
        "SELECT c.user_id AS id, COALESCE(u.name, c.user_id) AS name, \
         COALESCE(u.profession, 'other') AS profession, COALESCE(u.org, '-') AS org, c.at \
         FROM confirmations c LEFT JOIN users u ON u.id = c.user_id \
         WHERE c.room = $1 AND c.seq = $2 ORDER BY c.at, c.user_id",
    )
    .bind(room.as_str())
    .bind(convert::db_seq(seq))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Confirmation {
                user: user(r)?,
                at: convert::time(r.try_get("at")?),
            })
        })
        .collect()
}

pub(super) async fn pending(pool: &PgPool, room: &RoomInfo, seq: u64) -> StoreResult<Vec<UserRef>> {
    let seq = convert::db_seq(seq);
    let rows = match room.kind {
        RoomKind::Team => {
            sqlx::query(
                "SELECT m.user_id AS id, COALESCE(u.name, m.user_id) AS name, \
                 COALESCE(u.profession, 'other') AS profession, COALESCE(u.org, '-') AS org \
                 FROM members m LEFT JOIN users u ON u.id = m.user_id \
                 LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
                 WHERE m.room = $1 AND COALESCE(p.seq, 0) < $2 ORDER BY m.user_id",
            )
            .bind(room.room.as_str())
            .bind(seq)
            .fetch_all(pool)
            .await?
        }
        RoomKind::Town => {
            sqlx::query(
                "SELECT u.id, u.name, u.profession, u.org FROM users u \
                 LEFT JOIN read_positions p ON p.room = $1 AND p.user_id = u.id \
                 WHERE u.town = $2 AND COALESCE(p.seq, 0) < $3 ORDER BY u.id",
            )
            .bind(room.room.as_str())
            .bind(room.town.as_str())
            .bind(seq)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(user).collect()
}

fn user(r: &PgRow) -> StoreResult<UserRef> {
    convert::user_ref(
        r.try_get("id")?,
        r.try_get("name")?,
        r.try_get::<&str, _>("profession")?,
        r.try_get("org")?,
    )
}

//! Care notes (PROTOCOL.md 5.2): confirmations, and who has not read a message yet.

use super::messages::{MessageRow, MESSAGE_COLUMNS};
use crate::store::{convert, RoomInfo, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};
use yui_protocol::ids::{ClientId, RoomId, UserId};
use yui_protocol::model::{Confirmation, Message, RoomKind, Timestamp, UserRef};

pub(super) fn posted(
    conn: &Connection,
    room: &RoomId,
    author: &UserId,
    client_id: &ClientId,
) -> StoreResult<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
         WHERE room = ?1 AND author_id = ?2 AND client_id = ?3"
    ))?
    .query_row(
        [room.as_str(), author.as_str(), client_id.as_str()],
        MessageRow::read,
    )
    .optional()?
    .map(MessageRow::into_message)
    .transpose()
}

/// Records a confirmation once; returns when it was made and whether this call made it.
pub(super) fn confirm(
    conn: &Connection,
    room: &RoomId,
    seq: u64,
    user: &UserId,
) -> StoreResult<(Timestamp, bool)> {
    let now = Timestamp::now();
    let inserted =
        conn.prepare_cached(
            "INSERT INTO confirmations (room, seq, user_id, at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (room, seq, user_id) DO NOTHING",
        )?
        .execute(params![
            room.as_str(),
            convert::db_seq(seq),
            user.as_str(),
            now.millis()
        ])? == 1;
    if inserted {
        return Ok((now, true));
    }
    let at: i64 = conn
        .prepare_cached(
            "SELECT at FROM confirmations WHERE room = ?1 AND seq = ?2 AND user_id = ?3",
        )?
        .query_row(
            params![room.as_str(), convert::db_seq(seq), user.as_str()],
            |r| r.get(0),
        )?;
    Ok((convert::time(at), false))
}

pub(super) fn confirms(
    conn: &Connection,
    room: &RoomId,
    seq: u64,
) -> StoreResult<Vec<Confirmation>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.user_id, COALESCE(u.name, c.user_id), COALESCE(u.profession, 'other'), \
         COALESCE(u.org, '-'), c.at \
         FROM confirmations c LEFT JOIN users u ON u.id = c.user_id \
         WHERE c.room = ?1 AND c.seq = ?2 ORDER BY c.at, c.user_id",
    )?;
    let rows = stmt.query_map(params![room.as_str(), convert::db_seq(seq)], |r| {
        Ok((user_row(r)?, r.get::<_, i64>(4)?))
    })?;
    rows.map(|row| {
        let (user, at) = row?;
        Ok(Confirmation {
            user: user.into_user()?,
            at: convert::time(at),
        })
    })
    .collect()
}

pub(super) fn pending(conn: &Connection, room: &RoomInfo, seq: u64) -> StoreResult<Vec<UserRef>> {
    let seq = convert::db_seq(seq);
    let rows = match room.kind {
        RoomKind::Team => {
            let mut stmt = conn.prepare_cached(
                "SELECT m.user_id, COALESCE(u.name, m.user_id), COALESCE(u.profession, 'other'), \
                 COALESCE(u.org, '-') \
                 FROM members m LEFT JOIN users u ON u.id = m.user_id \
                 LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
                 WHERE m.room = ?1 AND COALESCE(p.seq, 0) < ?2 ORDER BY m.user_id",
            )?;
            let rows = stmt.query_map(params![room.room.as_str(), seq], user_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
        RoomKind::Town => {
            let mut stmt = conn.prepare_cached(
                "SELECT u.id, u.name, u.profession, u.org FROM users u \
                 LEFT JOIN read_positions p ON p.room = ?1 AND p.user_id = u.id \
                 WHERE u.town = ?2 AND COALESCE(p.seq, 0) < ?3 ORDER BY u.id",
            )?;
            let rows = stmt.query_map(
                params![room.room.as_str(), room.town.as_str(), seq],
                user_row,
            )?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
    };
    rows.into_iter().map(UserRow::into_user).collect()
}

/// A user's id, name, profession and org: the first four columns.
struct UserRow(String, String, String, String);

fn user_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl UserRow {
    fn into_user(self) -> StoreResult<UserRef> {
        convert::user_ref(self.0, self.1, &self.2, self.3)
    }
}

//! Read positions as receipts: who has read a room how far.

use crate::store::{convert, StoreResult};
use rusqlite::Connection;
use yui_protocol::ids::RoomId;
use yui_protocol::model::Reader;

pub(super) fn receipts(conn: &Connection, room: &RoomId) -> StoreResult<Vec<Reader>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.user_id, COALESCE(u.name, p.user_id), COALESCE(u.profession, 'other'), \
         COALESCE(u.org, '-'), p.seq, p.at \
         FROM read_positions p LEFT JOIN users u ON u.id = p.user_id \
         WHERE p.room = ?1 AND p.seq > 0 ORDER BY p.user_id",
    )?;
    let rows = stmt.query_map([room.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (id, name, profession, org, seq, at) = row?;
        Ok(Reader {
            user: convert::user_ref(id, name, &profession, org)?,
            seq: convert::seq(seq),
            at: convert::time(at),
        })
    })
    .collect()
}

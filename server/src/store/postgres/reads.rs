//! Read positions as receipts: who has read a room how far.

use crate::store::{convert, StoreResult};
use sqlx::{PgPool, Row};
use yui_protocol::ids::RoomId;
use yui_protocol::model::Reader;

pub(super) async fn receipts(pool: &PgPool, room: &RoomId) -> StoreResult<Vec<Reader>> {
    let rows = sqlx::query(
        "SELECT p.user_id, COALESCE(u.name, p.user_id) AS name, \
         COALESCE(u.profession, 'other') AS profession, COALESCE(u.org, '-') AS org, p.seq, p.at \
         FROM read_positions p LEFT JOIN users u ON u.id = p.user_id \
         WHERE p.room = $1 AND p.seq > 0 ORDER BY p.user_id",
    )
    .bind(room.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Reader {
                user: convert::user_ref(
                    r.try_get("user_id")?,
                    r.try_get("name")?,
                    r.try_get::<&str, _>("profession")?,
                    r.try_get("org")?,
                )?,
                seq: convert::seq(r.try_get("seq")?),
                at: convert::time(r.try_get("at")?),
            })
        })
        .collect()
}

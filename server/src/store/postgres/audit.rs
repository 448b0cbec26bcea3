//! The access log: one entry written with a room or member change, and the log's query.

use crate::store::{convert, AuditFilter, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool, Row};
use yui_protocol::ids::{Name, RoomId, UserId};
use yui_protocol::model::{AuditAction, AuditEntry, UserName};

pub(super) async fn insert_audit(
    conn: &mut PgConnection,
    at: i64,
    actor: &UserId,
    actor_name: &Name,
    action: AuditAction,
    room: &RoomId,
    target: Option<&UserId>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor_id, actor_name, action, room, target) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(at)
    .bind(actor.as_str())
    .bind(actor_name.as_str())
    .bind(action.as_str())
    .bind(room.as_str())
    .bind(target.map(|t| t.as_str()))
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn query(pool: &PgPool, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT a.at, a.actor_id, a.actor_name, a.action, a.room, a.target, a.id FROM audit a \
         WHERE (CAST($1 AS TEXT) IS NULL OR a.room = $1) \
           AND (CAST($2 AS TEXT) IS NULL OR a.actor_id = $2 OR a.target = $2) \
           AND (CAST($3 AS TEXT) IS NULL OR a.room IN (SELECT id FROM rooms WHERE town = $3)) \
           AND (CAST($5 AS BIGINT) IS NULL OR a.at >= $5) \
           AND (CAST($6 AS BIGINT) IS NULL OR a.at < $6) \
           AND (CAST($7 AS BIGINT) IS NULL OR a.id < $7) \
         ORDER BY a.id DESC LIMIT $4",
    )
    .bind(filter.room.as_ref().map(|r| r.as_str()))
    .bind(filter.user.as_ref().map(|u| u.as_str()))
    .bind(filter.town.as_ref().map(|t| t.as_str()))
    .bind(i64::from(filter.limit))
    .bind(filter.from.map(|t| t.millis()))
    .bind(filter.to.map(|t| t.millis()))
    .bind(filter.before.map(convert::db_seq))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let action: &str = r.try_get("action")?;
            Ok(AuditEntry {
                id: convert::seq(r.try_get("id")?),
                at: convert::time(r.try_get("at")?),
                actor: UserName {
                    id: convert::user_id(r.try_get("actor_id")?)?,
                    name: convert::name(r.try_get("actor_name")?)?,
                },
                action: AuditAction::parse(action)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit action '{action}'")))?,
                room: convert::room_id(r.try_get("room")?)?,
                target: r
                    .try_get::<Option<String>, _>("target")?
                    .map(convert::user_id)
                    .transpose()?,
            })
        })
        .collect()
}

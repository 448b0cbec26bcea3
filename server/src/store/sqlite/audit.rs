//! The access log: one entry written with a room or member change, and the log's query.

use crate::store::{convert, AuditFilter, StoreError, StoreResult};
use rusqlite::{params, Connection};
use yui_protocol::ids::{Name, RoomId, UserId};
use yui_protocol::model::{AuditAction, AuditEntry, UserName};

pub(super) const INSERT_AUDIT: &str =
    "INSERT INTO audit (at, actor_id, actor_name, action, room, target) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(super) fn insert_audit(
    conn: &Connection,
    at: i64,
    actor: &UserId,
    actor_name: &Name,
    action: AuditAction,
    room: &RoomId,
    target: Option<&UserId>,
) -> StoreResult<()> {
    conn.prepare_cached(INSERT_AUDIT)?.execute(params![
        at,
        actor.as_str(),
        actor_name.as_str(),
        action.as_str(),
        room.as_str(),
        target.map(|t| t.as_str()),
    ])?;
    Ok(())
}

pub(super) fn query(conn: &Connection, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.at, a.actor_id, a.actor_name, a.action, a.room, a.target, a.id FROM audit a \
         WHERE (?1 IS NULL OR a.room = ?1) \
           AND (?2 IS NULL OR a.actor_id = ?2 OR a.target = ?2) \
           AND (?3 IS NULL OR a.room IN (SELECT id FROM rooms WHERE town = ?3)) \
           AND (?5 IS NULL OR a.at >= ?5) AND (?6 IS NULL OR a.at < ?6) \
           AND (?7 IS NULL OR a.id < ?7) \
         ORDER BY a.id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            filter.room.as_ref().map(|r| r.as_str()),
            filter.user.as_ref().map(|u| u.as_str()),
            filter.town.as_ref().map(|t| t.as_str()),
            i64::from(filter.limit),
            filter.from.map(|t| t.millis()),
            filter.to.map(|t| t.millis()),
            filter.before.map(convert::db_seq),
        ],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        },
    )?;
    rows.map(|row| {
        let (at, actor_id, actor_name, action, room, target, id) = row?;
        Ok(AuditEntry {
            id: convert::seq(id),
            at: convert::time(at),
            actor: UserName {
                id: convert::user_id(actor_id)?,
                name: convert::name(actor_name)?,
            },
            action: AuditAction::parse(&action)
                .ok_or_else(|| StoreError::Corrupt(format!("audit action '{action}'")))?,
            room: convert::room_id(room)?,
            target: target.map(convert::user_id).transpose()?,
        })
    })
    .collect()
}

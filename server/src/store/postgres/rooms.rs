//! Rooms: one room, creating or updating one, and the per-user room summaries.

use super::audit::insert_audit;
use super::begin_write;
use super::members::{member, MEMBER_COLUMNS};
use crate::store::town::Decoration;
use crate::store::{convert, PutRoom, RoomInfo, RoomSpec, StoreResult, SubscriptionStart};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{AuditAction, Resident, RoomKind, RoomSummary, Timestamp, UserRef};

const ROOM_SELECT: &str = "SELECT id, kind, title, town, resident_id, resident_name, last_seq, \
                           members_version FROM rooms WHERE id = $1";

/// A summary's columns, the unread urgent messages and mentions of the user bound as `user`
/// (a parameter such as `$1`) included: range counts over `messages_urgent` and the primary key
/// of `message_mentions` from the read position on, never a scan of the room.
/// With the resident and the user's mute (see [`summary_joins`]), in the same query.
fn summary_columns(user: &str) -> String {
    format!(
        "SELECT r.id, r.kind, r.title, r.town, r.last_seq, COALESCE(p.seq, 0) AS read_seq, \
         (SELECT COUNT(*) FROM messages u WHERE u.room = r.id \
         AND u.priority = 'urgent' AND u.seq > COALESCE(p.seq, 0)) AS urgent, \
         (SELECT COUNT(*) FROM message_mentions x WHERE x.user_id = {user} AND x.room = r.id \
         AND x.seq > COALESCE(p.seq, 0)) AS mentions, \
         r.resident_id, r.resident_name, rp.kana, rs.muted_until"
    )
}

/// The joins [`summary_columns`] reads from, for the rooms `r` and the user bound as `user`.
fn summary_joins(user: &str) -> String {
    format!(
        "LEFT JOIN read_positions p ON p.room = r.id AND p.user_id = {user} \
         LEFT JOIN resident_profiles rp ON rp.room = r.id \
         LEFT JOIN room_settings rs ON rs.room = r.id AND rs.user_id = {user}"
    )
}

pub(super) async fn room(pool: &PgPool, room: &RoomId) -> StoreResult<Option<RoomInfo>> {
    let row = sqlx::query(ROOM_SELECT)
        .bind(room.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(|r| room_info(&r)).transpose()
}

async fn room_in(conn: &mut PgConnection, room: &RoomId) -> StoreResult<RoomInfo> {
    let row = sqlx::query(ROOM_SELECT)
        .bind(room.as_str())
        .fetch_one(conn)
        .await?;
    room_info(&row)
}

pub(super) async fn put_room(
    conn: &mut PgConnection,
    room: &RoomId,
    spec: &RoomSpec,
    creator: &UserRef,
) -> StoreResult<PutRoom> {
    let now = Timestamp::now().millis();
    let mut tx = begin_write(conn).await?;
    let inserted = sqlx::query(
        "INSERT INTO rooms (id, kind, title, town, resident_id, resident_name, last_seq, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(room.as_str())
    .bind(spec.kind.as_str())
    .bind(spec.title.as_str())
    .bind(spec.town.as_str())
    .bind(spec.resident.as_ref().map(|r| r.id.as_str()))
    .bind(spec.resident.as_ref().map(|r| r.name.as_str()))
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let action = if inserted {
        if spec.kind == RoomKind::Team {
            sqlx::query(
                "INSERT INTO users (id, name, profession, org, town, from_token, updated_at) \
                 VALUES ($1, $2, $3, $4, NULL, FALSE, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(creator.id.as_str())
            .bind(creator.name.as_str())
            .bind(creator.profession.as_str())
            .bind(creator.org.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO members (room, user_id, role, added_at) VALUES ($1, $2, 'owner', $3)",
            )
            .bind(room.as_str())
            .bind(creator.id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        AuditAction::RoomCreated
    } else {
        let existing = room_in(&mut tx, room).await?;
        if existing.kind != spec.kind || existing.town != spec.town {
            tx.rollback().await?;
            return Ok(PutRoom::Conflict(existing));
        }
        sqlx::query(
            "UPDATE rooms SET members_version = members_version + 1, title = $2, \
             resident_id = COALESCE($3, resident_id), \
             resident_name = COALESCE($4, resident_name) WHERE id = $1",
        )
        .bind(room.as_str())
        .bind(spec.title.as_str())
        .bind(spec.resident.as_ref().map(|r| r.id.as_str()))
        .bind(spec.resident.as_ref().map(|r| r.name.as_str()))
        .execute(&mut *tx)
        .await?;
        AuditAction::RoomUpdated
    };
    insert_audit(&mut tx, now, &creator.id, &creator.name, action, room, None).await?;
    let info = room_in(&mut tx, room).await?;
    tx.commit().await?;
    Ok(if inserted {
        PutRoom::Created(info)
    } else {
        PutRoom::Updated(info)
    })
}

/// The rooms user `$1` of town `$2` reads: the team rooms found from the user's memberships
/// (`members_user`) and the town's rooms (`rooms_town`), so a connection's room list costs its
/// own rooms, not a walk over every room of the database (one per hello in a reconnect storm).
const ROOMS_OF: &str = "SELECT r0.* FROM members m JOIN rooms r0 ON r0.id = m.room \
                        WHERE m.user_id = $1 AND r0.kind = 'team' \
                        UNION ALL SELECT r0.* FROM rooms r0 WHERE r0.kind = 'town' AND r0.town = $2";

pub(super) async fn rooms_for(
    pool: &PgPool,
    user: &UserId,
    town: &TownId,
) -> StoreResult<Vec<RoomSummary>> {
    let sql = format!(
        "{} FROM ({ROOMS_OF}) r {} ORDER BY r.id",
        summary_columns("$1"),
        summary_joins("$1")
    );
    let rows = sqlx::query(&sql)
        .bind(user.as_str())
        .bind(town.as_str())
        .fetch_all(pool)
        .await?;
    let now = Timestamp::now();
    rows.iter().map(|r| summary(r, now)).collect()
}

pub(super) async fn room_summary(
    pool: &PgPool,
    room: &RoomId,
    user: &UserId,
) -> StoreResult<Option<RoomSummary>> {
    let sql = format!(
        "{} FROM rooms r {} WHERE r.id = $1",
        summary_columns("$2"),
        summary_joins("$2")
    );
    let row = sqlx::query(&sql)
        .bind(room.as_str())
        .bind(user.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(|r| summary(&r, Timestamp::now())).transpose()
}

pub(super) async fn subscription_start(
    pool: &PgPool,
    room: &RoomId,
    user: &UserId,
) -> StoreResult<Option<SubscriptionStart>> {
    // One row per member of a team room (one row, no member, for a town room).
    let rows = sqlx::query(&format!(
        "SELECT r.kind, r.last_seq, COALESCE(own.seq, 0) AS own_seq, {MEMBER_COLUMNS} \
         FROM rooms r \
         LEFT JOIN read_positions own ON own.room = r.id AND own.user_id = $2 \
         LEFT JOIN members m ON m.room = r.id AND r.kind = 'team' \
         LEFT JOIN users u ON u.id = m.user_id \
         LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
         WHERE r.id = $1 ORDER BY m.user_id"
    ))
    .bind(room.as_str())
    .bind(user.as_str())
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let members = rows
        .iter()
        .filter(|r| matches!(r.try_get::<Option<&str>, _>("user_id"), Ok(Some(_))))
        .map(member)
        .collect::<StoreResult<Vec<_>>>()?;
    convert::subscription_start(
        first.try_get("kind")?,
        first.try_get("last_seq")?,
        first.try_get("own_seq")?,
        members,
    )
    .map(Some)
}

fn room_info(r: &PgRow) -> StoreResult<RoomInfo> {
    let resident_id: Option<String> = r.try_get("resident_id")?;
    let resident_name: Option<String> = r.try_get("resident_name")?;
    Ok(RoomInfo {
        room: convert::room_id(r.try_get("id")?)?,
        kind: convert::room_kind(r.try_get::<&str, _>("kind")?)?,
        title: convert::title(r.try_get("title")?)?,
        town: convert::town(r.try_get("town")?)?,
        resident: match (resident_id, resident_name) {
            (Some(id), Some(name)) => Some(Resident { id, name }),
            _ => None,
        },
        last_seq: convert::seq(r.try_get("last_seq")?),
        members_version: convert::seq(r.try_get("members_version")?),
    })
}

fn summary(r: &PgRow, now: Timestamp) -> StoreResult<RoomSummary> {
    let last_seq = convert::seq(r.try_get("last_seq")?);
    let read_seq = convert::seq(r.try_get("read_seq")?).min(last_seq);
    let mut summary = RoomSummary {
        room: convert::room_id(r.try_get("id")?)?,
        kind: convert::room_kind(r.try_get::<&str, _>("kind")?)?,
        title: convert::title(r.try_get("title")?)?,
        town: convert::town(r.try_get("town")?)?,
        last_seq,
        read_seq,
        unread: last_seq - read_seq,
        urgent: convert::seq(r.try_get("urgent")?),
        mentions: convert::seq(r.try_get("mentions")?),
        muted_until: None,
        resident: None,
    };
    Decoration {
        resident_id: r.try_get("resident_id")?,
        resident_name: r.try_get("resident_name")?,
        kana: r.try_get("kana")?,
        muted_until: r.try_get("muted_until")?,
    }
    .apply(&mut summary, now);
    Ok(summary)
}

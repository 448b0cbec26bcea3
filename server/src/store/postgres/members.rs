//! Members of team rooms, the user directory, and a room's audience.

use super::audit::insert_audit;
use super::begin_write;
use crate::store::{convert, ProfilePatch, PutMember, RoomInfo, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{
    AuditAction, Member, MemberRole, RoomKind, Timestamp, UserName, UserRef,
};

pub(super) async fn upsert_user(
    conn: &mut PgConnection,
    user: &UserRef,
    town: &TownId,
) -> StoreResult<()> {
    let mut tx = begin_write(conn).await?;
    sqlx::query(
        "INSERT INTO users (id, name, profession, org, town, from_token, updated_at, last_seen) \
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
         profession = excluded.profession, org = excluded.org, town = excluded.town, \
         from_token = TRUE, updated_at = excluded.updated_at, last_seen = excluded.last_seen",
    )
    .bind(user.id.as_str())
    .bind(user.name.as_str())
    .bind(user.profession.as_str())
    .bind(user.org.as_str())
    .bind(town.as_str())
    .bind(Timestamp::now().millis())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn members(pool: &PgPool, room: &RoomId) -> StoreResult<Vec<Member>> {
    let rows = sqlx::query(&format!(
        "SELECT {MEMBER_COLUMNS} \
         FROM members m LEFT JOIN users u ON u.id = m.user_id \
         LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
         WHERE m.room = $1 ORDER BY m.user_id"
    ))
    .bind(room.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(member).collect()
}

/// The columns of one member as [`MEMBER_COLUMNS`] names them.
pub(super) const MEMBER_COLUMNS: &str = "m.user_id, COALESCE(u.name, m.user_id) AS name, \
     COALESCE(u.profession, 'other') AS profession, COALESCE(u.org, '-') AS org, m.role, \
     COALESCE(p.seq, 0) AS read_seq";

/// A member from a row with [`MEMBER_COLUMNS`].
pub(super) fn member(r: &PgRow) -> StoreResult<Member> {
    Ok(Member {
        id: convert::user_id(r.try_get("user_id")?)?,
        name: convert::name(r.try_get("name")?)?,
        profession: convert::profession(r.try_get::<&str, _>("profession")?)?,
        org: convert::name(r.try_get("org")?)?,
        role: convert::member_role(r.try_get::<&str, _>("role")?)?,
        read_seq: convert::seq(r.try_get("read_seq")?),
    })
}

pub(super) async fn put_member(
    conn: &mut PgConnection,
    room: &RoomId,
    user: &UserId,
    role: Option<MemberRole>,
    profile: &ProfilePatch,
    actor: &UserName,
) -> StoreResult<PutMember> {
    let now = Timestamp::now().millis();
    let mut tx = begin_write(conn).await?;
    let from_token: Option<bool> = sqlx::query_scalar("SELECT from_token FROM users WHERE id = $1")
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let name = profile.name.as_ref().map(|n| n.as_str());
    let profession = profile.profession.map(|p| p.as_str());
    let org = profile.org.as_ref().map(|o| o.as_str());
    match from_token {
        None => {
            sqlx::query(
                "INSERT INTO users (id, name, profession, org, town, from_token, updated_at) \
                 VALUES ($1, $2, $3, $4, NULL, FALSE, $5)",
            )
            .bind(user.as_str())
            .bind(
                name.map(str::to_owned)
                    .unwrap_or_else(|| convert::placeholder_name(user)),
            )
            .bind(profession.unwrap_or("other"))
            .bind(org.unwrap_or("-"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // A profile from the user's own token is never overridden by the API.
        Some(false) if name.is_some() || profession.is_some() || org.is_some() => {
            sqlx::query(
                "UPDATE users SET name = COALESCE($2, name), \
                 profession = COALESCE($3, profession), org = COALESCE($4, org), \
                 updated_at = $5 WHERE id = $1",
            )
            .bind(user.as_str())
            .bind(name)
            .bind(profession)
            .bind(org)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Some(_) => {}
    }
    // The room's membership version moves in the same transaction as the change, and takes
    // the room's row lock first: a group commit of the room after this one reads the new version.
    sqlx::query("UPDATE rooms SET members_version = members_version + 1 WHERE id = $1")
        .bind(room.as_str())
        .execute(&mut *tx)
        .await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT role FROM members WHERE room = $1 AND user_id = $2")
            .bind(room.as_str())
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let (outcome, action) = match existing {
        None => {
            sqlx::query(
                "INSERT INTO members (room, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(room.as_str())
            .bind(user.as_str())
            .bind(role.unwrap_or(MemberRole::Member).as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            (PutMember::Added, AuditAction::MemberAdded)
        }
        Some(_) => {
            if let Some(role) = role {
                sqlx::query("UPDATE members SET role = $3 WHERE room = $1 AND user_id = $2")
                    .bind(room.as_str())
                    .bind(user.as_str())
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            (PutMember::Updated, AuditAction::MemberUpdated)
        }
    };
    insert_audit(
        &mut tx,
        now,
        &actor.id,
        &actor.name,
        action,
        room,
        Some(user),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

pub(super) async fn remove_member(
    conn: &mut PgConnection,
    room: &RoomId,
    user: &UserId,
    actor: &UserName,
) -> StoreResult<bool> {
    let now = Timestamp::now().millis();
    let mut tx = begin_write(conn).await?;
    // The room's membership version moves in the same transaction as the change, and takes
    // the room's row lock first: a group commit of the room after this one reads the new version.
    sqlx::query("UPDATE rooms SET members_version = members_version + 1 WHERE id = $1")
        .bind(room.as_str())
        .execute(&mut *tx)
        .await?;
    let removed = sqlx::query("DELETE FROM members WHERE room = $1 AND user_id = $2")
        .bind(room.as_str())
        .bind(user.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if removed {
        insert_audit(
            &mut tx,
            now,
            &actor.id,
            &actor.name,
            AuditAction::MemberRemoved,
            room,
            Some(user),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(removed)
}

pub(super) async fn audience(pool: &PgPool, room: &RoomInfo) -> StoreResult<u64> {
    let n: i64 = match room.kind {
        RoomKind::Team => {
            sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE room = $1")
                .bind(room.room.as_str())
                .fetch_one(pool)
                .await?
        }
        RoomKind::Town => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE town = $1")
                .bind(room.town.as_str())
                .fetch_one(pool)
                .await?
        }
    };
    Ok(convert::seq(n))
}

//! Members of team rooms, the user directory, and a room's audience.

use super::audit::insert_audit;
use crate::store::{convert, ProfilePatch, PutMember, RoomInfo, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{
    AuditAction, Member, MemberRole, RoomKind, Timestamp, UserName, UserRef,
};

pub(super) fn upsert_user(conn: &Connection, user: &UserRef, town: &TownId) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO users (id, name, profession, org, town, from_token, updated_at, last_seen) \
         VALUES (?1, ?2, ?3, ?4, ?5, TRUE, ?6, ?6) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
         profession = excluded.profession, org = excluded.org, town = excluded.town, \
         from_token = TRUE, updated_at = excluded.updated_at, last_seen = excluded.last_seen",
    )?
    .execute(params![
        user.id.as_str(),
        user.name.as_str(),
        user.profession.as_str(),
        user.org.as_str(),
        town.as_str(),
        Timestamp::now().millis(),
    ])?;
    Ok(())
}

pub(super) fn members(conn: &Connection, room: &RoomId) -> StoreResult<Vec<Member>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} \
         FROM members m LEFT JOIN users u ON u.id = m.user_id \
         LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
         WHERE m.room = ?1 ORDER BY m.user_id"
    ))?;
    let rows = stmt.query_map([room.as_str()], |r| MemberRow::read(r, 0))?;
    rows.map(|row| row?.into_member()).collect()
}

/// The six columns of one member, as [`MemberRow::read`] takes them.
pub(super) const MEMBER_COLUMNS: &str = "m.user_id, COALESCE(u.name, m.user_id), \
     COALESCE(u.profession, 'other'), COALESCE(u.org, '-'), m.role, COALESCE(p.seq, 0)";

/// One member's [`MEMBER_COLUMNS`], as read.
pub(super) struct MemberRow {
    id: String,
    name: String,
    profession: String,
    org: String,
    role: String,
    read_seq: i64,
}

impl MemberRow {
    /// The member whose columns start at `at`.
    pub(super) fn read(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<MemberRow> {
        Ok(MemberRow {
            id: r.get(at)?,
            name: r.get(at + 1)?,
            profession: r.get(at + 2)?,
            org: r.get(at + 3)?,
            role: r.get(at + 4)?,
            read_seq: r.get(at + 5)?,
        })
    }

    pub(super) fn into_member(self) -> StoreResult<Member> {
        Ok(Member {
            id: convert::user_id(self.id)?,
            name: convert::name(self.name)?,
            profession: convert::profession(&self.profession)?,
            org: convert::name(self.org)?,
            role: convert::member_role(&self.role)?,
            read_seq: convert::seq(self.read_seq),
        })
    }
}

pub(super) fn put_member(
    conn: &Connection,
    room: &RoomId,
    user: &UserId,
    role: Option<MemberRole>,
    profile: &ProfilePatch,
    actor: &UserName,
) -> StoreResult<PutMember> {
    let now = Timestamp::now().millis();
    let from_token: Option<bool> = conn
        .prepare_cached("SELECT from_token FROM users WHERE id = ?1")?
        .query_row([user.as_str()], |r| r.get(0))
        .optional()?;
    let name = profile.name.as_ref().map(|n| n.as_str());
    let profession = profile.profession.map(|p| p.as_str());
    let org = profile.org.as_ref().map(|o| o.as_str());
    match from_token {
        None => {
            conn.prepare_cached(
                "INSERT INTO users (id, name, profession, org, town, from_token, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL, FALSE, ?5)",
            )?
            .execute(params![
                user.as_str(),
                name.map(str::to_owned)
                    .unwrap_or_else(|| convert::placeholder_name(user)),
                profession.unwrap_or("other"),
                org.unwrap_or("-"),
                now,
            ])?;
        }
        // A profile from the user's own token is never overridden by the API.
        Some(false) if name.is_some() || profession.is_some() || org.is_some() => {
            conn.prepare_cached(
                "UPDATE users SET name = COALESCE(?2, name), \
                 profession = COALESCE(?3, profession), org = COALESCE(?4, org), \
                 updated_at = ?5 WHERE id = ?1",
            )?
            .execute(params![user.as_str(), name, profession, org, now])?;
        }
        Some(_) => {}
    }
    // The room's membership version moves in the same transaction as the change.
    conn.prepare_cached("UPDATE rooms SET members_version = members_version + 1 WHERE id = ?1")?
        .execute([room.as_str()])?;
    let existing: Option<String> = conn
        .prepare_cached("SELECT role FROM members WHERE room = ?1 AND user_id = ?2")?
        .query_row([room.as_str(), user.as_str()], |r| r.get(0))
        .optional()?;
    let (outcome, action) = match existing {
        None => {
            conn.prepare_cached(
                "INSERT INTO members (room, user_id, role, added_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                room.as_str(),
                user.as_str(),
                role.unwrap_or(MemberRole::Member).as_str(),
                now,
            ])?;
            (PutMember::Added, AuditAction::MemberAdded)
        }
        Some(_) => {
            if let Some(role) = role {
                conn.prepare_cached(
                    "UPDATE members SET role = ?3 WHERE room = ?1 AND user_id = ?2",
                )?
                .execute(params![room.as_str(), user.as_str(), role.as_str()])?;
            }
            (PutMember::Updated, AuditAction::MemberUpdated)
        }
    };
    insert_audit(conn, now, &actor.id, &actor.name, action, room, Some(user))?;
    Ok(outcome)
}

pub(super) fn remove_member(
    conn: &Connection,
    room: &RoomId,
    user: &UserId,
    actor: &UserName,
) -> StoreResult<bool> {
    let now = Timestamp::now().millis();
    // The room's membership version moves in the same transaction as the change.
    conn.prepare_cached("UPDATE rooms SET members_version = members_version + 1 WHERE id = ?1")?
        .execute([room.as_str()])?;
    let removed = conn
        .prepare_cached("DELETE FROM members WHERE room = ?1 AND user_id = ?2")?
        .execute([room.as_str(), user.as_str()])?
        > 0;
    if removed {
        insert_audit(
            conn,
            now,
            &actor.id,
            &actor.name,
            AuditAction::MemberRemoved,
            room,
            Some(user),
        )?;
    }
    Ok(removed)
}

pub(super) fn audience(conn: &Connection, room: &RoomInfo) -> StoreResult<u64> {
    let n: i64 = match room.kind {
        RoomKind::Team => conn
            .prepare_cached("SELECT COUNT(*) FROM members WHERE room = ?1")?
            .query_row([room.room.as_str()], |r| r.get(0))?,
        RoomKind::Town => conn
            .prepare_cached("SELECT COUNT(*) FROM users WHERE town = ?1")?
            .query_row([room.town.as_str()], |r| r.get(0))?,
    };
    Ok(convert::seq(n))
}

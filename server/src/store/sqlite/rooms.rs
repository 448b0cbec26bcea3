//! Rooms: one room, creating or updating one, and the per-user room summaries.

use super::audit::insert_audit;
use super::members::{MemberRow, MEMBER_COLUMNS};
use crate::store::town::Decoration;
use crate::store::{convert, PutRoom, RoomInfo, RoomSpec, StoreResult, SubscriptionStart};
use rusqlite::{params, Connection, OptionalExtension, Row};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{AuditAction, Resident, RoomKind, RoomSummary, Timestamp, UserRef};

/// Unread urgent messages and unread mentions of the user bound as `user` (a parameter such
/// as `?1`), for the room `r` and its read position `p`: range counts over `messages_urgent`
/// and the primary key of `message_mentions` from the read position on, never a scan of the
/// room.
fn unread_counts(user: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM messages u WHERE u.room = r.id \
         AND u.priority = 'urgent' AND u.seq > COALESCE(p.seq, 0)) AS urgent, \
         (SELECT COUNT(*) FROM message_mentions x WHERE x.user_id = {user} AND x.room = r.id \
         AND x.seq > COALESCE(p.seq, 0)) AS mentions"
    )
}

/// A summary's columns as [`SummaryRow::read`] takes them, for the rooms `r` and the user
/// bound as `user`, and the joins they read from: the read position, the resident and the
/// user's mute in the same query.
fn summary_select(user: &str, from: &str) -> String {
    format!(
        "SELECT r.id, r.kind, r.title, r.town, r.last_seq, COALESCE(p.seq, 0) AS read_seq, \
         {}, r.resident_id, r.resident_name, rp.kana, rs.muted_until \
         FROM {from} \
         LEFT JOIN read_positions p ON p.room = r.id AND p.user_id = {user} \
         LEFT JOIN resident_profiles rp ON rp.room = r.id \
         LEFT JOIN room_settings rs ON rs.room = r.id AND rs.user_id = {user}",
        unread_counts(user)
    )
}

const ROOM_SELECT: &str = "SELECT id, kind, title, town, resident_id, resident_name, last_seq, \
                           members_version FROM rooms WHERE id = ?1";

pub(super) fn room(conn: &Connection, room: &RoomId) -> StoreResult<Option<RoomInfo>> {
    let row = conn
        .prepare_cached(ROOM_SELECT)?
        .query_row([room.as_str()], RoomRow::read)
        .optional()?;
    row.map(RoomRow::into_info).transpose()
}

pub(super) fn put_room(
    conn: &Connection,
    room: &RoomId,
    spec: &RoomSpec,
    creator: &UserRef,
) -> StoreResult<PutRoom> {
    let now = Timestamp::now().millis();
    let inserted =
        conn.prepare_cached(
            "INSERT INTO rooms (id, kind, title, town, resident_id, resident_name, last_seq, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            room.as_str(),
            spec.kind.as_str(),
            spec.title.as_str(),
            spec.town.as_str(),
            spec.resident.as_ref().map(|r| r.id.as_str()),
            spec.resident.as_ref().map(|r| r.name.as_str()),
            now,
        ])? == 1;
    let action = if inserted {
        if spec.kind == RoomKind::Team {
            conn.prepare_cached(
                "INSERT INTO users (id, name, profession, org, town, from_token, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL, FALSE, ?5) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                creator.id.as_str(),
                creator.name.as_str(),
                creator.profession.as_str(),
                creator.org.as_str(),
                now,
            ])?;
            conn.prepare_cached(
                "INSERT INTO members (room, user_id, role, added_at) VALUES (?1, ?2, 'owner', ?3)",
            )?
            .execute(params![room.as_str(), creator.id.as_str(), now])?;
        }
        AuditAction::RoomCreated
    } else {
        let existing = existing_room(conn, room)?;
        if existing.kind != spec.kind || existing.town != spec.town {
            return Ok(PutRoom::Conflict(existing));
        }
        conn.prepare_cached(
            "UPDATE rooms SET members_version = members_version + 1, title = ?2, \
             resident_id = COALESCE(?3, resident_id), \
             resident_name = COALESCE(?4, resident_name) WHERE id = ?1",
        )?
        .execute(params![
            room.as_str(),
            spec.title.as_str(),
            spec.resident.as_ref().map(|r| r.id.as_str()),
            spec.resident.as_ref().map(|r| r.name.as_str()),
        ])?;
        AuditAction::RoomUpdated
    };
    insert_audit(conn, now, &creator.id, &creator.name, action, room, None)?;
    let info = existing_room(conn, room)?;
    Ok(if inserted {
        PutRoom::Created(info)
    } else {
        PutRoom::Updated(info)
    })
}

fn existing_room(conn: &Connection, room: &RoomId) -> StoreResult<RoomInfo> {
    conn.prepare_cached(ROOM_SELECT)?
        .query_row([room.as_str()], RoomRow::read)?
        .into_info()
}

pub(super) fn rooms_for(
    conn: &Connection,
    user: &UserId,
    town: &TownId,
) -> StoreResult<Vec<RoomSummary>> {
    let from = "(SELECT r0.* FROM members m JOIN rooms r0 ON r0.id = m.room \
                WHERE m.user_id = ?1 AND r0.kind = 'team' \
                UNION ALL SELECT r0.* FROM rooms r0 WHERE r0.kind = 'town' AND r0.town = ?2) r";
    let mut stmt = conn.prepare_cached(&format!("{} ORDER BY r.id", summary_select("?1", from)))?;
    let now = Timestamp::now();
    let rows = stmt.query_map([user.as_str(), town.as_str()], SummaryRow::read)?;
    rows.map(|r| r?.into_summary(now)).collect()
}

pub(super) fn room_summary(
    conn: &Connection,
    room: &RoomId,
    user: &UserId,
) -> StoreResult<Option<RoomSummary>> {
    let row = conn
        .prepare_cached(&format!(
            "{} WHERE r.id = ?1",
            summary_select("?2", "rooms r")
        ))?
        .query_row([room.as_str(), user.as_str()], SummaryRow::read)
        .optional()?;
    row.map(|r| r.into_summary(Timestamp::now())).transpose()
}

pub(super) fn subscription_start(
    conn: &Connection,
    room: &RoomId,
    user: &UserId,
) -> StoreResult<Option<SubscriptionStart>> {
    // One row per member of a team room (one row, no member, for a town room).
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.kind, r.last_seq, COALESCE(own.seq, 0), m.user_id IS NOT NULL, {MEMBER_COLUMNS} \
         FROM rooms r \
         LEFT JOIN read_positions own ON own.room = r.id AND own.user_id = ?2 \
         LEFT JOIN members m ON m.room = r.id AND r.kind = 'team' \
         LEFT JOIN users u ON u.id = m.user_id \
         LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
         WHERE r.id = ?1 ORDER BY m.user_id"
    ))?;
    let mut rows = stmt.query([room.as_str(), user.as_str()])?;
    let mut start: Option<(String, i64, i64)> = None;
    let mut members = Vec::new();
    while let Some(r) = rows.next()? {
        if start.is_none() {
            start = Some((r.get(0)?, r.get(1)?, r.get(2)?));
        }
        if r.get::<_, bool>(3)? {
            members.push(MemberRow::read(r, 4)?.into_member()?);
        }
    }
    start
        .map(|(kind, last_seq, read_seq)| {
            convert::subscription_start(&kind, last_seq, read_seq, members)
        })
        .transpose()
}

/// A `rooms` row as stored, validated by [`RoomRow::into_info`].
struct RoomRow {
    id: String,
    kind: String,
    title: String,
    town: String,
    resident_id: Option<String>,
    resident_name: Option<String>,
    last_seq: i64,
    members_version: i64,
}

impl RoomRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<RoomRow> {
        Ok(RoomRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            title: r.get(2)?,
            town: r.get(3)?,
            resident_id: r.get(4)?,
            resident_name: r.get(5)?,
            last_seq: r.get(6)?,
            members_version: r.get(7)?,
        })
    }

    fn into_info(self) -> StoreResult<RoomInfo> {
        Ok(RoomInfo {
            room: convert::room_id(self.id)?,
            kind: convert::room_kind(&self.kind)?,
            title: convert::title(self.title)?,
            town: convert::town(self.town)?,
            resident: match (self.resident_id, self.resident_name) {
                (Some(id), Some(name)) => Some(Resident { id, name }),
                _ => None,
            },
            last_seq: convert::seq(self.last_seq),
            members_version: convert::seq(self.members_version),
        })
    }
}

struct SummaryRow {
    id: String,
    kind: String,
    title: String,
    town: String,
    last_seq: i64,
    read_seq: i64,
    urgent: i64,
    mentions: i64,
    decoration: Decoration,
}

impl SummaryRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<SummaryRow> {
        Ok(SummaryRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            title: r.get(2)?,
            town: r.get(3)?,
            last_seq: r.get(4)?,
            read_seq: r.get(5)?,
            urgent: r.get(6)?,
            mentions: r.get(7)?,
            decoration: Decoration {
                resident_id: r.get(8)?,
                resident_name: r.get(9)?,
                kana: r.get(10)?,
                muted_until: r.get(11)?,
            },
        })
    }

    fn into_summary(self, now: Timestamp) -> StoreResult<RoomSummary> {
        let last_seq = convert::seq(self.last_seq);
        let read_seq = convert::seq(self.read_seq).min(last_seq);
        let mut summary = RoomSummary {
            room: convert::room_id(self.id)?,
            kind: convert::room_kind(&self.kind)?,
            title: convert::title(self.title)?,
            town: convert::town(self.town)?,
            last_seq,
            read_seq,
            unread: last_seq - read_seq,
            urgent: convert::seq(self.urgent),
            mentions: convert::seq(self.mentions),
            muted_until: None,
            resident: None,
        };
        self.decoration.apply(&mut summary, now);
        Ok(summary)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::sqlite::migrate;

    /// The unread counts of a summary are range searches over their indexes, never a scan of
    /// the room's messages.
    #[test]
    fn unread_counts_use_their_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        migrate::run(&conn).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT r.id, {} FROM rooms r \
             LEFT JOIN read_positions p ON p.room = r.id AND p.user_id = ?1 WHERE r.id = ?2",
            unread_counts("?1")
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let plan = stmt
            .query_map(["u", "r"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n");
        assert!(
            plan.contains("INDEX messages_urgent (room=? AND seq>?)"),
            "{plan}"
        );
        assert!(
            plan.contains("message_mentions_1 (user_id=? AND room=? AND seq>?)"),
            "{plan}"
        );
    }
}

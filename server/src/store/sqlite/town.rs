//! Residents' profiles, consents, room settings and the town directory (PROTOCOL.md 5.4, 5.5)
//! on SQLite; [`TownStore`] for [`SqliteStore`].

use super::audit::insert_audit;
use super::SqliteStore;
use crate::store::town::{
    directory_user, household_json, ConsentRow, ResidentRow, TownStore, Withdraw, CONSENT_COLUMNS,
};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{AuditAction, Timestamp, UserName};
use yui_protocol::town::{
    Consent, ConsentRequest, DirectoryUser, ResidentProfile, ResidentRequest, WithdrawRequest,
};

const RESIDENT_SELECT: &str = "SELECT r.resident_id, r.resident_name, p.kana, p.birth_year, \
     p.household, p.notes FROM rooms r LEFT JOIN resident_profiles p ON p.room = r.id \
     WHERE r.id = ?1";

fn resident(conn: &Connection, room: &RoomId) -> StoreResult<Option<ResidentProfile>> {
    let row = conn
        .prepare_cached(RESIDENT_SELECT)?
        .query_row([room.as_str()], |r| {
            Ok(ResidentRow {
                id: r.get(0)?,
                name: r.get(1)?,
                kana: r.get(2)?,
                birth_year: r.get(3)?,
                household: r.get(4)?,
                notes: r.get(5)?,
            })
        })
        .optional()?;
    Ok(row.map(ResidentRow::into_profile).transpose()?.flatten())
}

fn put_resident(
    conn: &Connection,
    room: &RoomId,
    req: &ResidentRequest,
    actor: &UserName,
) -> StoreResult<Option<ResidentProfile>> {
    let now = Timestamp::now().millis();
    let changed = conn
        .prepare_cached(
            "UPDATE rooms SET members_version = members_version + 1, \
             resident_id = COALESCE(resident_id, id), resident_name = ?2 WHERE id = ?1",
        )?
        .execute(params![room.as_str(), req.name.as_str()])?;
    if changed == 0 {
        return Ok(None);
    }
    conn.prepare_cached(
        "INSERT INTO resident_profiles (room, kana, birth_year, household, notes, updated_at, \
         updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (room) DO UPDATE SET \
         kana = excluded.kana, birth_year = excluded.birth_year, household = excluded.household, \
         notes = excluded.notes, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )?
    .execute(params![
        room.as_str(),
        req.kana,
        req.birth_year,
        household_json(&req.household),
        req.notes,
        now,
        actor.id.as_str(),
    ])?;
    insert_audit(
        conn,
        now,
        &actor.id,
        &actor.name,
        AuditAction::ResidentUpdated,
        room,
        None,
    )?;
    resident(conn, room)
}

fn consent_row(r: &Row<'_>) -> rusqlite::Result<ConsentRow> {
    Ok(ConsentRow {
        id: r.get(0)?,
        given_by: r.get(1)?,
        relation: r.get(2)?,
        date: r.get(3)?,
        explained_by: r.get(4)?,
        scope: r.get(5)?,
        document: r.get(6)?,
        recorded_by_id: r.get(7)?,
        recorded_by_name: r.get(8)?,
        recorded_at: r.get(9)?,
        withdrawn_date: r.get(10)?,
        withdrawn_note: r.get(11)?,
        withdrawn_by_id: r.get(12)?,
        withdrawn_by_name: r.get(13)?,
        withdrawn_at: r.get(14)?,
    })
}

fn consents(conn: &Connection, room: &RoomId) -> StoreResult<Vec<Consent>> {
    let sql = format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE room = ?1 \
         ORDER BY recorded_at DESC, id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([room.as_str()], consent_row)?;
    rows.map(|r| r?.into_consent()).collect()
}

fn consent(conn: &Connection, room: &RoomId, id: &str) -> StoreResult<Option<Consent>> {
    let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE room = ?1 AND id = ?2");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([room.as_str(), id], consent_row)
        .optional()?;
    row.map(ConsentRow::into_consent).transpose()
}

fn bump(conn: &Connection, room: &RoomId) -> StoreResult<()> {
    conn.prepare_cached("UPDATE rooms SET members_version = members_version + 1 WHERE id = ?1")?
        .execute([room.as_str()])?;
    Ok(())
}

fn record_consent(
    conn: &Connection,
    room: &RoomId,
    id: &str,
    req: &ConsentRequest,
    actor: &UserName,
) -> StoreResult<Consent> {
    let now = Timestamp::now().millis();
    conn.prepare_cached(
        "INSERT INTO consents (id, room, given_by, relation, date, explained_by, scope, \
         document, recorded_by_id, recorded_by_name, recorded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id,
        room.as_str(),
        req.given_by.as_str(),
        req.relation,
        req.date.to_string(),
        req.explained_by.as_str(),
        req.scope,
        req.document.as_ref().map(|d| d.as_str()),
        actor.id.as_str(),
        actor.name.as_str(),
        now,
    ])?;
    if let Some(document) = &req.document {
        super::attachments::keep_for_consent(
            conn,
            room.as_str(),
            document.as_str(),
            actor.id.as_str(),
            id,
        )?;
    }
    bump(conn, room)?;
    insert_audit(
        conn,
        now,
        &actor.id,
        &actor.name,
        AuditAction::ConsentRecorded,
        room,
        None,
    )?;
    consent(conn, room, id)?.ok_or_else(|| {
        crate::store::StoreError::Corrupt(format!("consent {id} not found after insert"))
    })
}

fn withdraw_consent(
    conn: &Connection,
    room: &RoomId,
    id: &str,
    req: &WithdrawRequest,
    actor: &UserName,
) -> StoreResult<Withdraw> {
    let Some(existing) = consent(conn, room, id)? else {
        return Ok(Withdraw::NotFound);
    };
    if existing.withdrawal.is_some() {
        return Ok(Withdraw::Already(existing));
    }
    if req.date < existing.date {
        return Ok(Withdraw::BeforeGiven(existing));
    }
    let now = Timestamp::now().millis();
    conn.prepare_cached(
        "UPDATE consents SET withdrawn_date = ?3, withdrawn_note = ?4, withdrawn_by_id = ?5, \
         withdrawn_by_name = ?6, withdrawn_at = ?7 \
         WHERE room = ?1 AND id = ?2 AND withdrawn_at IS NULL",
    )?
    .execute(params![
        room.as_str(),
        id,
        req.date.to_string(),
        req.note,
        actor.id.as_str(),
        actor.name.as_str(),
        now,
    ])?;
    bump(conn, room)?;
    insert_audit(
        conn,
        now,
        &actor.id,
        &actor.name,
        AuditAction::ConsentWithdrawn,
        room,
        None,
    )?;
    let after = consent(conn, room, id)?.unwrap_or(existing);
    Ok(Withdraw::Withdrawn(after))
}

#[async_trait]
impl TownStore for SqliteStore {
    async fn resident(&self, room: &RoomId) -> StoreResult<Option<ResidentProfile>> {
        let room = room.clone();
        self.readers.run(move |conn| resident(conn, &room)).await
    }

    async fn put_resident(
        &self,
        room: &RoomId,
        req: &ResidentRequest,
        actor: &UserName,
    ) -> StoreResult<ResidentProfile> {
        let (room, req, actor) = (room.clone(), req.clone(), actor.clone());
        let result = self
            .writer
            .transaction(move |conn| {
                put_resident(conn, &room, &req, &actor)?.ok_or_else(|| {
                    crate::store::StoreError::Corrupt(format!("room {room} vanished"))
                })
            })
            .await;
        self.health.settle(result)
    }

    async fn consents(&self, room: &RoomId) -> StoreResult<Vec<Consent>> {
        let room = room.clone();
        self.readers.run(move |conn| consents(conn, &room)).await
    }

    async fn record_consent(
        &self,
        room: &RoomId,
        id: &str,
        req: &ConsentRequest,
        actor: &UserName,
    ) -> StoreResult<Consent> {
        let (room, id, req, actor) = (room.clone(), id.to_owned(), req.clone(), actor.clone());
        let result = self
            .writer
            .transaction(move |conn| record_consent(conn, &room, &id, &req, &actor))
            .await;
        self.health.settle(result)
    }

    async fn withdraw_consent(
        &self,
        room: &RoomId,
        id: &str,
        req: &WithdrawRequest,
        actor: &UserName,
    ) -> StoreResult<Withdraw> {
        let (room, id, req, actor) = (room.clone(), id.to_owned(), req.clone(), actor.clone());
        let result = self
            .writer
            .transaction(move |conn| withdraw_consent(conn, &room, &id, &req, &actor))
            .await;
        self.health.settle(result)
    }

    async fn standing_consent(&self, room: &RoomId) -> StoreResult<bool> {
        let room = room.clone();
        self.readers
            .run(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM consents \
                         WHERE room = ?1 AND withdrawn_at IS NULL)",
                    )?
                    .query_row([room.as_str()], |r| r.get(0))?)
            })
            .await
    }

    async fn set_muted(
        &self,
        room: &RoomId,
        user: &UserId,
        until: Option<Timestamp>,
    ) -> StoreResult<()> {
        let (room, user) = (room.clone(), user.clone());
        let result = self
            .writer
            .transaction(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO room_settings (room, user_id, muted_until, updated_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room, user_id) DO UPDATE SET \
                     muted_until = excluded.muted_until, updated_at = excluded.updated_at",
                )?
                .execute(params![
                    room.as_str(),
                    user.as_str(),
                    until.map(Timestamp::millis),
                    Timestamp::now().millis(),
                ])?;
                Ok(())
            })
            .await;
        self.health.settle(result)
    }

    async fn muted_until(
        &self,
        room: &RoomId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        let (room, user) = (room.clone(), user.clone());
        self.readers
            .run(move |conn| {
                let until: Option<Option<i64>> = conn
                    .prepare_cached(
                        "SELECT muted_until FROM room_settings WHERE room = ?1 AND user_id = ?2",
                    )?
                    .query_row([room.as_str(), user.as_str()], |r| r.get(0))
                    .optional()?;
                Ok(until
                    .flatten()
                    .map(Timestamp::from_millis)
                    .filter(|&t| t > now))
            })
            .await
    }

    async fn muted_in(&self, room: &RoomId, now: Timestamp) -> StoreResult<Vec<UserId>> {
        let room = room.clone();
        self.readers
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT user_id FROM room_settings WHERE room = ?1 AND muted_until > ?2 \
                     ORDER BY user_id",
                )?;
                let rows = stmt.query_map(params![room.as_str(), now.millis()], |r| {
                    r.get::<_, String>(0)
                })?;
                rows.map(|r| crate::store::convert::user_id(r?)).collect()
            })
            .await
    }

    async fn town_users(&self, town: &TownId) -> StoreResult<Vec<DirectoryUser>> {
        let town = town.clone();
        self.readers
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, name, profession, org, last_seen FROM users WHERE town = ?1",
                )?;
                let rows = stmt.query_map([town.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })?;
                rows.map(|r| {
                    let (id, name, profession, org, last_seen) = r?;
                    directory_user(id, name, &profession, org, last_seen)
                })
                .collect()
            })
            .await
    }

    async fn seen(&self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        let user = user.clone();
        let result = self
            .writer
            .transaction(move |conn| {
                conn.prepare_cached("UPDATE users SET last_seen = ?2 WHERE id = ?1")?
                    .execute(params![user.as_str(), at.millis()])?;
                Ok(())
            })
            .await;
        self.health.settle(result)
    }
}

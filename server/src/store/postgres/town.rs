//! Residents' profiles, consents, room settings and the town directory (PROTOCOL.md 5.4, 5.5)
//! on Postgres; [`TownStore`] for [`PostgresStore`].

use super::audit::insert_audit;
use super::{begin_write, PostgresStore};
use crate::store::town::{
    directory_user, household_json, ConsentRow, ResidentRow, TownStore, Withdraw, CONSENT_COLUMNS,
};
use crate::store::{convert, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::{AuditAction, Timestamp, UserName};
use yui_protocol::town::{
    Consent, ConsentRequest, DirectoryUser, ResidentProfile, ResidentRequest, WithdrawRequest,
};

const RESIDENT_SELECT: &str = "SELECT r.resident_id, r.resident_name, p.kana, \
     CAST(p.birth_year AS BIGINT) AS birth_year, p.household, p.notes FROM rooms r \
     LEFT JOIN resident_profiles p ON p.room = r.id WHERE r.id = $1";

async fn resident<'e>(
    db: impl PgExecutor<'e>,
    room: &RoomId,
) -> StoreResult<Option<ResidentProfile>> {
    let row = sqlx::query(RESIDENT_SELECT)
        .bind(room.as_str())
        .fetch_optional(db)
        .await?;
    let Some(r) = row else { return Ok(None) };
    ResidentRow {
        id: r.try_get("resident_id")?,
        name: r.try_get("resident_name")?,
        kana: r.try_get("kana")?,
        birth_year: r.try_get("birth_year")?,
        household: r.try_get("household")?,
        notes: r.try_get("notes")?,
    }
    .into_profile()
}

fn consent_row(r: &PgRow) -> StoreResult<Consent> {
    ConsentRow {
        id: r.try_get("id")?,
        given_by: r.try_get("given_by")?,
        relation: r.try_get("relation")?,
        date: r.try_get("date")?,
        explained_by: r.try_get("explained_by")?,
        scope: r.try_get("scope")?,
        document: r.try_get("document")?,
        recorded_by_id: r.try_get("recorded_by_id")?,
        recorded_by_name: r.try_get("recorded_by_name")?,
        recorded_at: r.try_get("recorded_at")?,
        withdrawn_date: r.try_get("withdrawn_date")?,
        withdrawn_note: r.try_get("withdrawn_note")?,
        withdrawn_by_id: r.try_get("withdrawn_by_id")?,
        withdrawn_by_name: r.try_get("withdrawn_by_name")?,
        withdrawn_at: r.try_get("withdrawn_at")?,
    }
    .into_consent()
}

async fn consent<'e>(
    db: impl PgExecutor<'e>,
    room: &RoomId,
    id: &str,
    lock: bool,
) -> StoreResult<Option<Consent>> {
    let sql = format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE room = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = sqlx::query(&sql)
        .bind(room.as_str())
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(consent_row).transpose()
}

async fn bump(conn: &mut PgConnection, room: &RoomId) -> StoreResult<()> {
    sqlx::query("UPDATE rooms SET members_version = members_version + 1 WHERE id = $1")
        .bind(room.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

async fn put_resident(
    conn: &mut PgConnection,
    room: &RoomId,
    req: &ResidentRequest,
    actor: &UserName,
) -> StoreResult<ResidentProfile> {
    let now = Timestamp::now().millis();
    let mut tx = begin_write(conn).await?;
    sqlx::query(
        "UPDATE rooms SET members_version = members_version + 1, \
         resident_id = COALESCE(resident_id, id), resident_name = $2 WHERE id = $1",
    )
    .bind(room.as_str())
    .bind(req.name.as_str())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO resident_profiles (room, kana, birth_year, household, notes, updated_at, \
         updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (room) DO UPDATE SET \
         kana = excluded.kana, birth_year = excluded.birth_year, household = excluded.household, \
         notes = excluded.notes, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(room.as_str())
    .bind(req.kana.as_deref())
    .bind(req.birth_year)
    .bind(household_json(&req.household))
    .bind(req.notes.as_deref())
    .bind(now)
    .bind(actor.id.as_str())
    .execute(&mut *tx)
    .await?;
    insert_audit(
        &mut tx,
        now,
        &actor.id,
        &actor.name,
        AuditAction::ResidentUpdated,
        room,
        None,
    )
    .await?;
    let profile = resident(&mut *tx, room)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("room {room} vanished")))?;
    tx.commit().await?;
    Ok(profile)
}

async fn record_consent(
    conn: &mut PgConnection,
    room: &RoomId,
    id: &str,
    req: &ConsentRequest,
    actor: &UserName,
) -> StoreResult<Consent> {
    let now = Timestamp::now().millis();
    let mut tx = begin_write(conn).await?;
    sqlx::query(
        "INSERT INTO consents (id, room, given_by, relation, date, explained_by, scope, \
         document, recorded_by_id, recorded_by_name, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(room.as_str())
    .bind(req.given_by.as_str())
    .bind(&req.relation)
    .bind(req.date.to_string())
    .bind(req.explained_by.as_str())
    .bind(req.scope.as_deref())
    .bind(req.document.as_ref().map(|d| d.as_str()))
    .bind(actor.id.as_str())
    .bind(actor.name.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if let Some(document) = &req.document {
        super::attachments::keep_for_consent(
            &mut tx,
            room.as_str(),
            document.as_str(),
            actor.id.as_str(),
            id,
        )
        .await?;
    }
    bump(&mut tx, room).await?;
    insert_audit(
        &mut tx,
        now,
        &actor.id,
        &actor.name,
        AuditAction::ConsentRecorded,
        room,
        None,
    )
    .await?;
    let consent = consent(&mut *tx, room, id, false)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("consent {id} not found after insert")))?;
    tx.commit().await?;
    Ok(consent)
}

async fn withdraw_consent(
    conn: &mut PgConnection,
    room: &RoomId,
    id: &str,
    req: &WithdrawRequest,
    actor: &UserName,
) -> StoreResult<Withdraw> {
    let mut tx = begin_write(conn).await?;
    let Some(existing) = consent(&mut *tx, room, id, true).await? else {
        tx.rollback().await?;
        return Ok(Withdraw::NotFound);
    };
    if existing.withdrawal.is_some() {
        tx.rollback().await?;
        return Ok(Withdraw::Already(existing));
    }
    if req.date < existing.date {
        tx.rollback().await?;
        return Ok(Withdraw::BeforeGiven(existing));
    }
    let now = Timestamp::now().millis();
    sqlx::query(
        "UPDATE consents SET withdrawn_date = $3, withdrawn_note = $4, withdrawn_by_id = $5, \
         withdrawn_by_name = $6, withdrawn_at = $7 \
         WHERE room = $1 AND id = $2 AND withdrawn_at IS NULL",
    )
    .bind(room.as_str())
    .bind(id)
    .bind(req.date.to_string())
    .bind(req.note.as_deref())
    .bind(actor.id.as_str())
    .bind(actor.name.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    bump(&mut tx, room).await?;
    insert_audit(
        &mut tx,
        now,
        &actor.id,
        &actor.name,
        AuditAction::ConsentWithdrawn,
        room,
        None,
    )
    .await?;
    let after = consent(&mut *tx, room, id, false)
        .await?
        .unwrap_or(existing);
    tx.commit().await?;
    Ok(Withdraw::Withdrawn(after))
}

#[async_trait]
impl TownStore for PostgresStore {
    async fn resident(&self, room: &RoomId) -> StoreResult<Option<ResidentProfile>> {
        resident(&self.pool, room).await
    }

    async fn put_resident(
        &self,
        room: &RoomId,
        req: &ResidentRequest,
        actor: &UserName,
    ) -> StoreResult<ResidentProfile> {
        let mut conn = self.pool.acquire().await?;
        let result = put_resident(&mut conn, room, req, actor).await;
        self.settle(conn, result)
    }

    async fn consents(&self, room: &RoomId) -> StoreResult<Vec<Consent>> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE room = $1 \
             ORDER BY recorded_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(room.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(consent_row).collect()
    }

    async fn record_consent(
        &self,
        room: &RoomId,
        id: &str,
        req: &ConsentRequest,
        actor: &UserName,
    ) -> StoreResult<Consent> {
        let mut conn = self.pool.acquire().await?;
        let result = record_consent(&mut conn, room, id, req, actor).await;
        self.settle(conn, result)
    }

    async fn withdraw_consent(
        &self,
        room: &RoomId,
        id: &str,
        req: &WithdrawRequest,
        actor: &UserName,
    ) -> StoreResult<Withdraw> {
        let mut conn = self.pool.acquire().await?;
        let result = withdraw_consent(&mut conn, room, id, req, actor).await;
        self.settle(conn, result)
    }

    async fn standing_consent(&self, room: &RoomId) -> StoreResult<bool> {
        let stands: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM consents WHERE room = $1 AND withdrawn_at IS NULL)",
        )
        .bind(room.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(stands)
    }

    async fn set_muted(
        &self,
        room: &RoomId,
        user: &UserId,
        until: Option<Timestamp>,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let result = async {
            sqlx::query(
                "INSERT INTO room_settings (room, user_id, muted_until, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (room, user_id) DO UPDATE SET \
                 muted_until = excluded.muted_until, updated_at = excluded.updated_at",
            )
            .bind(room.as_str())
            .bind(user.as_str())
            .bind(until.map(Timestamp::millis))
            .bind(Timestamp::now().millis())
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
        .await;
        self.settle(conn, result)
    }

    async fn muted_until(
        &self,
        room: &RoomId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        let until: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT muted_until FROM room_settings WHERE room = $1 AND user_id = $2",
        )
        .bind(room.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(until
            .flatten()
            .map(Timestamp::from_millis)
            .filter(|&t| t > now))
    }

    async fn muted_in(&self, room: &RoomId, now: Timestamp) -> StoreResult<Vec<UserId>> {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM room_settings WHERE room = $1 AND muted_until > $2 \
             ORDER BY user_id",
        )
        .bind(room.as_str())
        .bind(now.millis())
        .fetch_all(&self.pool)
        .await?;
        users.into_iter().map(convert::user_id).collect()
    }

    async fn town_users(&self, town: &TownId) -> StoreResult<Vec<DirectoryUser>> {
        let rows =
            sqlx::query("SELECT id, name, profession, org, last_seen FROM users WHERE town = $1")
                .bind(town.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                directory_user(
                    r.try_get("id")?,
                    r.try_get("name")?,
                    r.try_get::<&str, _>("profession")?,
                    r.try_get("org")?,
                    r.try_get("last_seen")?,
                )
            })
            .collect()
    }

    async fn seen(&self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let result = async {
            sqlx::query("UPDATE users SET last_seen = $2 WHERE id = $1")
                .bind(user.as_str())
                .bind(at.millis())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        .await;
        self.settle(conn, result)
    }
}

//! Web Push's tables on SQLite (see `store::push`). One writer thread: a claim is one
//! statement on it, so no two workers ever claim the same row.

use super::SqliteStore;
use crate::store::push::{Claimed, DigestDue, Notify, Outcome, PushStore, Target, VapidKey};
use crate::store::{RoomInfo, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::RoomKind;
use yui_protocol::push::{base64url, Email, Endpoint, SubscribeBody, Subscription};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub(super) fn stored_subscription(
    endpoint: String,
    p256dh: String,
    auth: String,
) -> StoreResult<Subscription> {
    Subscription::parse(
        SubscribeBody {
            endpoint,
            keys: yui_protocol::push::KeysBody { p256dh, auth },
        },
        true,
    )
    .map_err(|e| corrupt(&format!("push subscription: {e}")))
}

fn user(id: String) -> StoreResult<UserId> {
    UserId::parse(id).map_err(|e| corrupt(&format!("push user id: {e}")))
}

fn room(id: String) -> StoreResult<RoomId> {
    RoomId::parse(id).map_err(|e| corrupt(&format!("push room id: {e}")))
}

fn claim(
    conn: &Connection,
    node: &str,
    now: i64,
    lease_ms: i64,
    limit: u32,
) -> StoreResult<Vec<Claimed>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE push_outbox SET claimed_by = ?1, claimed_until = ?2 \
         WHERE rowid IN (SELECT rowid FROM push_outbox WHERE pending AND due_at <= ?3 \
           AND (claimed_until IS NULL OR claimed_until <= ?3) ORDER BY due_at LIMIT ?4) \
         RETURNING endpoint, room, user_id, urgent, mentioned, attempts",
    )?;
    let rows = stmt.query_map(params![node, now + lease_ms, now, limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
    let mut keys =
        conn.prepare_cached("SELECT p256dh, auth FROM push_subscriptions WHERE endpoint = ?1")?;
    let mut out = Vec::with_capacity(rows.len());
    for (endpoint, room_id, user_id, urgent, mentioned, attempts) in rows {
        let sub = keys
            .query_row([&endpoint], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        let subscription = match sub {
            Some((p, a)) => Some(stored_subscription(endpoint.clone(), p, a)?),
            None => None,
        };
        out.push(Claimed {
            room: room(room_id)?,
            user: user(user_id)?,
            urgent,
            mentioned,
            attempts: u32::try_from(attempts).unwrap_or(0),
            subscription,
            endpoint,
        });
    }
    Ok(out)
}

fn finish(
    conn: &Connection,
    endpoint: &str,
    room: &str,
    node: &str,
    outcome: Outcome,
    now: i64,
    window_ms: i64,
) -> StoreResult<()> {
    match outcome {
        Outcome::Retry { at } => {
            conn.execute(
                "UPDATE push_outbox SET due_at = ?4, attempts = attempts + 1, claimed_by = NULL, \
                 claimed_until = NULL, urgent = (urgent OR next_urgent), \
                 mentioned = (mentioned OR next_mentioned), again = 0, next_urgent = 0, \
                 next_mentioned = 0 WHERE endpoint = ?1 AND room = ?2 AND claimed_by = ?3",
                params![endpoint, room, node, at],
            )?;
        }
        Outcome::Sent | Outcome::Dropped => {
            // Sent: the window starts now. A row marked `again` stays pending for its next
            // push; else it goes idle (kept for its window, then pruned).
            let sent = outcome == Outcome::Sent;
            let next_due = if sent { now + window_ms } else { now };
            conn.execute(
                "UPDATE push_outbox SET sent_at = CASE WHEN ?4 THEN ?5 ELSE sent_at END, \
                 pending = again, due_at = ?6, attempts = 0, claimed_by = NULL, \
                 claimed_until = NULL, urgent = next_urgent, mentioned = next_mentioned, \
                 again = 0, next_urgent = 0, next_mentioned = 0 \
                 WHERE endpoint = ?1 AND room = ?2 AND claimed_by = ?3",
                params![endpoint, room, node, sent, now, next_due],
            )?;
        }
    }
    Ok(())
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn vapid_key(&self, candidate: &VapidKey) -> StoreResult<VapidKey> {
        let c = candidate.clone();
        self.writer
            .transaction(move |conn| {
                conn.execute(
                    "INSERT INTO vapid_key (id, private_pem, public_key, created_at) \
                     VALUES (1, ?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                    params![
                        c.private_pem,
                        c.public_key,
                        chrono::Utc::now().timestamp_millis()
                    ],
                )?;
                Ok(conn.query_row(
                    "SELECT private_pem, public_key FROM vapid_key WHERE id = 1",
                    [],
                    |r| {
                        Ok(VapidKey {
                            private_pem: r.get(0)?,
                            public_key: r.get(1)?,
                        })
                    },
                )?)
            })
            .await
    }

    async fn put_push_subscription(
        &self,
        user: &UserId,
        town: &TownId,
        admin: bool,
        sub: &Subscription,
        now: i64,
    ) -> StoreResult<()> {
        let (user, town) = (user.as_str().to_owned(), town.as_str().to_owned());
        let endpoint = sub.endpoint.as_str().to_owned();
        let (p256dh, auth) = (base64url(&sub.p256dh), base64url(&sub.auth));
        self.writer
            .transaction(move |conn| {
                conn.execute(
                    "INSERT INTO push_subscriptions \
                     (endpoint, user_id, town, admin, p256dh, auth, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (endpoint) DO UPDATE SET \
                     user_id = excluded.user_id, town = excluded.town, admin = excluded.admin, \
                     p256dh = excluded.p256dh, auth = excluded.auth",
                    params![endpoint, user, town, admin, p256dh, auth, now],
                )?;
                Ok(())
            })
            .await
    }

    async fn delete_push_subscription(
        &self,
        user: &UserId,
        endpoint: &Endpoint,
    ) -> StoreResult<bool> {
        let (user, endpoint) = (user.as_str().to_owned(), endpoint.as_str().to_owned());
        self.writer
            .transaction(move |conn| {
                let n = conn.execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = ?1 AND user_id = ?2",
                    params![endpoint, user],
                )?;
                if n > 0 {
                    conn.execute("DELETE FROM push_outbox WHERE endpoint = ?1", [&endpoint])?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn remove_push_endpoint(&self, endpoint: &str) -> StoreResult<()> {
        let endpoint = endpoint.to_owned();
        self.writer
            .transaction(move |conn| {
                conn.execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = ?1",
                    [&endpoint],
                )?;
                conn.execute("DELETE FROM push_outbox WHERE endpoint = ?1", [&endpoint])?;
                Ok(())
            })
            .await
    }

    async fn push_targets(&self, rooms: &[RoomInfo]) -> StoreResult<Vec<Vec<Target>>> {
        let rooms: Vec<(RoomKind, String, String)> = rooms
            .iter()
            .map(|r| {
                (
                    r.kind,
                    r.room.as_str().to_owned(),
                    r.town.as_str().to_owned(),
                )
            })
            .collect();
        // One hop to the read pool for the whole batch: each room is an indexed lookup there.
        self.readers
            .run(move |conn| {
                rooms
                    .iter()
                    .map(|(kind, room, town)| {
                        let (sql, arg) = match kind {
                            RoomKind::Team => (
                                "SELECT s.user_id, s.endpoint FROM push_subscriptions s \
                                 JOIN members m ON m.user_id = s.user_id WHERE m.room = ?1 \
                                 ORDER BY s.user_id, s.endpoint",
                                room,
                            ),
                            RoomKind::Town => (
                                "SELECT user_id, endpoint FROM push_subscriptions \
                                 WHERE town = ?1 OR admin ORDER BY user_id, endpoint",
                                town,
                            ),
                        };
                        let mut stmt = conn.prepare_cached(sql)?;
                        let rows =
                            stmt.query_map([arg], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
                        rows.map(|row| {
                            let (u, endpoint) = row?;
                            Ok(Target {
                                user: user(u)?,
                                endpoint,
                            })
                        })
                        .collect::<StoreResult<Vec<Target>>>()
                    })
                    .collect()
            })
            .await
    }

    async fn present_users(&self, room_id: &RoomId, now: i64) -> StoreResult<Vec<UserId>> {
        let room_id = room_id.as_str().to_owned();
        self.readers
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT DISTINCT p.user_id FROM push_presence p \
                     JOIN push_nodes n ON n.node = p.node \
                     WHERE p.room = ?1 AND n.expires_at > ?2",
                )?;
                let rows = stmt.query_map(params![room_id, now], |r| r.get::<_, String>(0))?;
                rows.map(|r| user(r?)).collect()
            })
            .await
    }

    async fn sync_presence(
        &self,
        node: &str,
        add: &[(UserId, RoomId)],
        remove: &[(UserId, RoomId)],
        now: i64,
        expires_at: i64,
        reset: bool,
    ) -> StoreResult<()> {
        let node = node.to_owned();
        let add: Vec<(String, String)> = add
            .iter()
            .map(|(u, r)| (u.as_str().to_owned(), r.as_str().to_owned()))
            .collect();
        let remove: Vec<(String, String)> = remove
            .iter()
            .map(|(u, r)| (u.as_str().to_owned(), r.as_str().to_owned()))
            .collect();
        self.writer
            .transaction(move |conn| {
                if reset {
                    conn.execute(
                        "DELETE FROM push_presence WHERE node = ?1 \
                         OR node IN (SELECT node FROM push_nodes WHERE expires_at <= ?2)",
                        params![node, now],
                    )?;
                    conn.execute(
                        "DELETE FROM push_nodes WHERE node <> ?1 AND expires_at <= ?2",
                        params![node, now],
                    )?;
                }
                let mut stmt = conn.prepare_cached(
                    "DELETE FROM push_presence WHERE node = ?1 AND user_id = ?2 AND room = ?3",
                )?;
                for (u, r) in &remove {
                    stmt.execute(params![node, u, r])?;
                }
                let mut stmt = conn.prepare_cached(
                    "INSERT INTO push_presence (node, user_id, room) VALUES (?1, ?2, ?3) \
                     ON CONFLICT DO NOTHING",
                )?;
                for (u, r) in &add {
                    stmt.execute(params![node, u, r])?;
                }
                conn.prepare_cached(
                    "INSERT INTO push_nodes (node, expires_at) VALUES (?1, ?2) \
                     ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at",
                )?
                .execute(params![node, expires_at])?;
                Ok(())
            })
            .await
    }

    async fn enqueue_pushes(&self, items: &[Notify], now: i64, window_ms: i64) -> StoreResult<()> {
        let items = items.to_vec();
        self.writer
            .transaction(move |conn| {
                let mut upsert = conn.prepare_cached(
                    "INSERT INTO push_outbox (endpoint, room, user_id, due_at, urgent, mentioned) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (endpoint, room) DO UPDATE SET \
                     user_id = excluded.user_id, \
                     due_at = CASE WHEN pending THEN due_at ELSE max(?4, sent_at + ?7) END, \
                     urgent = CASE WHEN claimed_by IS NULL THEN (urgent OR excluded.urgent) ELSE urgent END, \
                     mentioned = CASE WHEN claimed_by IS NULL THEN (mentioned OR excluded.mentioned) ELSE mentioned END, \
                     again = CASE WHEN claimed_by IS NULL THEN again ELSE 1 END, \
                     next_urgent = CASE WHEN claimed_by IS NULL THEN next_urgent ELSE (next_urgent OR excluded.urgent) END, \
                     next_mentioned = CASE WHEN claimed_by IS NULL THEN next_mentioned ELSE (next_mentioned OR excluded.mentioned) END, \
                     pending = 1",
                )?;
                for n in &items {
                    upsert.execute(params![
                        n.endpoint,
                        n.room.as_str(),
                        n.user.as_str(),
                        now,
                        n.urgent,
                        n.mentioned,
                        window_ms
                    ])?;
                }
                Ok(())
            })
            .await
    }

    async fn claim_pushes(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Claimed>> {
        let node = node.to_owned();
        self.writer
            .transaction(move |conn| claim(conn, &node, now, lease_ms, limit))
            .await
    }

    async fn finish_push(
        &self,
        endpoint: &str,
        room_id: &RoomId,
        node: &str,
        outcome: Outcome,
        now: i64,
        window_ms: i64,
    ) -> StoreResult<()> {
        let (endpoint, room_id, node) = (
            endpoint.to_owned(),
            room_id.as_str().to_owned(),
            node.to_owned(),
        );
        self.writer
            .transaction(move |conn| {
                finish(conn, &endpoint, &room_id, &node, outcome, now, window_ms)
            })
            .await
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        self.readers
            .run(|conn| {
                let n: i64 =
                    conn.query_row("SELECT count(*) FROM push_outbox WHERE pending", [], |r| {
                        r.get(0)
                    })?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }

    async fn prune_pushes(&self, now: i64, window_ms: i64) -> StoreResult<u64> {
        self.writer
            .transaction(move |conn| {
                let n = conn.execute(
                    "DELETE FROM push_outbox WHERE NOT pending AND sent_at < ?1",
                    [now - window_ms],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn remember_email(&self, user: &UserId, town: &TownId, email: &Email) -> StoreResult<()> {
        let (u, t, e) = (
            user.as_str().to_owned(),
            town.as_str().to_owned(),
            email.as_str().to_owned(),
        );
        self.writer
            .transaction(move |conn| {
                conn.execute(
                    "INSERT INTO push_digest (user_id, email, town) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, town = excluded.town",
                    params![u, e, t],
                )?;
                Ok(())
            })
            .await
    }

    async fn set_email_digest(&self, user: &UserId, town: &TownId, on: bool) -> StoreResult<()> {
        let (u, t) = (user.as_str().to_owned(), town.as_str().to_owned());
        self.writer
            .transaction(move |conn| {
                conn.execute(
                    "INSERT INTO push_digest (user_id, town, enabled) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled",
                    params![u, t, on],
                )?;
                Ok(())
            })
            .await
    }

    async fn email_digest(&self, user: &UserId) -> StoreResult<bool> {
        let u = user.as_str().to_owned();
        self.readers
            .run(move |conn| {
                let on: Option<bool> = conn
                    .query_row(
                        "SELECT enabled FROM push_digest WHERE user_id = ?1",
                        [u],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(on.unwrap_or(true))
            })
            .await
    }

    async fn claim_digests(
        &self,
        now: i64,
        interval_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>> {
        self.writer
            .transaction(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "UPDATE push_digest SET last_sent_at = ?1 WHERE user_id IN ( \
                       SELECT d.user_id FROM push_digest d LEFT JOIN users u ON u.id = d.user_id \
                       WHERE d.enabled AND d.email IS NOT NULL AND d.last_sent_at <= ?1 - ?2 \
                         AND COALESCE(u.last_seen, 0) <= ?1 - ?2 \
                         AND NOT EXISTS (SELECT 1 FROM push_presence p \
                                         JOIN push_nodes n ON n.node = p.node \
                                         WHERE p.user_id = d.user_id AND n.expires_at > ?1) \
                       ORDER BY d.user_id LIMIT ?3) \
                     RETURNING user_id, town, email, last_unread",
                )?;
                let rows = stmt.query_map(params![now, interval_ms, limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?;
                rows.map(|row| {
                    let (u, t, e, n) = row?;
                    Ok(DigestDue {
                        user: user(u)?,
                        town: TownId::parse(t)
                            .map_err(|e| corrupt(&format!("digest town: {e}")))?,
                        email: Email::trusted(e),
                        last_unread: u64::try_from(n).unwrap_or(0),
                    })
                })
                .collect()
            })
            .await
    }

    async fn digest_reported(&self, user: &UserId, unread: u64) -> StoreResult<()> {
        let u = user.as_str().to_owned();
        let n = i64::try_from(unread).unwrap_or(i64::MAX);
        self.writer
            .transaction(move |conn| {
                conn.execute(
                    "UPDATE push_digest SET last_unread = ?2 WHERE user_id = ?1",
                    params![u, n],
                )?;
                Ok(())
            })
            .await
    }
}

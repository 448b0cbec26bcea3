//! Web Push's tables on Postgres (see `store::push`), shared by every node: the key is made
//! once (the first insert wins), and pushes are claimed with `FOR UPDATE SKIP LOCKED` and a
//! lease, so two nodes never claim the same row, and a row of a node that died is claimed
//! again once its lease is over.

use super::PostgresStore;
use crate::store::push::{Claimed, DigestDue, Notify, Outcome, PushStore, Target, VapidKey};
use crate::store::{RoomInfo, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashMap;
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::model::RoomKind;
use yui_protocol::push::{base64url, Email, Endpoint, KeysBody, SubscribeBody, Subscription};

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

fn user(id: String) -> StoreResult<UserId> {
    UserId::parse(id).map_err(|e| corrupt(format!("push user id: {e}")))
}

fn room(id: String) -> StoreResult<RoomId> {
    RoomId::parse(id).map_err(|e| corrupt(format!("push room id: {e}")))
}

#[async_trait]
impl PushStore for PostgresStore {
    async fn vapid_key(&self, candidate: &VapidKey) -> StoreResult<VapidKey> {
        sqlx::query(
            "INSERT INTO vapid_key (id, private_pem, public_key, created_at) \
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&candidate.private_pem)
        .bind(&candidate.public_key)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT private_pem, public_key FROM vapid_key WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(VapidKey {
            private_pem: row.try_get("private_pem")?,
            public_key: row.try_get("public_key")?,
        })
    }

    async fn put_push_subscription(
        &self,
        user: &UserId,
        town: &TownId,
        admin: bool,
        sub: &Subscription,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO push_subscriptions \
             (endpoint, user_id, town, admin, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (endpoint) DO UPDATE SET \
             user_id = excluded.user_id, town = excluded.town, admin = excluded.admin, \
             p256dh = excluded.p256dh, auth = excluded.auth",
        )
        .bind(sub.endpoint.as_str())
        .bind(user.as_str())
        .bind(town.as_str())
        .bind(admin)
        .bind(base64url(&sub.p256dh))
        .bind(base64url(&sub.auth))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_push_subscription(
        &self,
        user: &UserId,
        endpoint: &Endpoint,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2")
            .bind(endpoint.as_str())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            sqlx::query("DELETE FROM push_outbox WHERE endpoint = $1")
                .bind(endpoint.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn remove_push_endpoint(&self, endpoint: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for table in ["push_subscriptions", "push_outbox"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE endpoint = $1"))
                .bind(endpoint)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn push_targets(&self, rooms: &[RoomInfo]) -> StoreResult<Vec<Vec<Target>>> {
        let mut out: Vec<Vec<Target>> = vec![Vec::new(); rooms.len()];
        let teams: Vec<&str> = rooms
            .iter()
            .filter(|r| r.kind == RoomKind::Team)
            .map(|r| r.room.as_str())
            .collect();
        // The batch's positions of each room and each town: a row goes to its rooms by a
        // lookup, not by a pass over the batch.
        let index = |key: fn(&RoomInfo) -> Option<&str>| {
            let mut map: HashMap<&str, Vec<usize>> = HashMap::new();
            for (i, info) in rooms.iter().enumerate() {
                if let Some(k) = key(info) {
                    map.entry(k).or_default().push(i);
                }
            }
            map
        };
        let by_room = index(|r| (r.kind == RoomKind::Team).then_some(r.room.as_str()));
        let by_town = index(|r| (r.kind == RoomKind::Town).then_some(r.town.as_str()));
        if !teams.is_empty() {
            let rows = sqlx::query(
                "SELECT m.room, s.user_id, s.endpoint FROM push_subscriptions s \
                 JOIN members m ON m.user_id = s.user_id WHERE m.room = ANY($1) \
                 ORDER BY m.room, s.user_id, s.endpoint",
            )
            .bind(&teams)
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                let room: &str = r.try_get("room")?;
                let target = Target {
                    user: user(r.try_get("user_id")?)?,
                    endpoint: r.try_get("endpoint")?,
                };
                for &i in by_room.get(room).into_iter().flatten() {
                    out[i].push(target.clone());
                }
            }
        }
        let towns: Vec<&str> = rooms
            .iter()
            .filter(|r| r.kind == RoomKind::Town)
            .map(|r| r.town.as_str())
            .collect();
        if !towns.is_empty() {
            let rows = sqlx::query(
                "SELECT user_id, endpoint, town, admin FROM push_subscriptions \
                 WHERE town = ANY($1) OR admin ORDER BY user_id, endpoint",
            )
            .bind(&towns)
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                let town: &str = r.try_get("town")?;
                let admin: bool = r.try_get("admin")?;
                let target = Target {
                    user: user(r.try_get("user_id")?)?,
                    endpoint: r.try_get("endpoint")?,
                };
                // An admin reads every town's rooms.
                let to: Vec<usize> = if admin {
                    by_town.values().flatten().copied().collect()
                } else {
                    by_town.get(town).cloned().unwrap_or_default()
                };
                for i in to {
                    out[i].push(target.clone());
                }
            }
        }
        Ok(out)
    }

    async fn present_users(&self, room_id: &RoomId, now: i64) -> StoreResult<Vec<UserId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.user_id FROM push_presence p JOIN push_nodes n ON n.node = p.node \
             WHERE p.room = $1 AND n.expires_at > $2",
        )
        .bind(room_id.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| user(r.try_get("user_id")?)).collect()
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
        let mut tx = self.pool.begin().await?;
        if reset {
            sqlx::query(
                "DELETE FROM push_presence WHERE node = $1 \
                 OR node IN (SELECT node FROM push_nodes WHERE expires_at <= $2)",
            )
            .bind(node)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM push_nodes WHERE node <> $1 AND expires_at <= $2")
                .bind(node)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if !remove.is_empty() {
            let users: Vec<&str> = remove.iter().map(|(u, _)| u.as_str()).collect();
            let rooms: Vec<&str> = remove.iter().map(|(_, r)| r.as_str()).collect();
            sqlx::query(
                "DELETE FROM push_presence p USING UNNEST($2::text[], $3::text[]) AS x(u, r) \
                 WHERE p.node = $1 AND p.user_id = x.u AND p.room = x.r",
            )
            .bind(node)
            .bind(&users)
            .bind(&rooms)
            .execute(&mut *tx)
            .await?;
        }
        if !add.is_empty() {
            let users: Vec<&str> = add.iter().map(|(u, _)| u.as_str()).collect();
            let rooms: Vec<&str> = add.iter().map(|(_, r)| r.as_str()).collect();
            sqlx::query(
                "INSERT INTO push_presence (node, user_id, room) \
                 SELECT $1, u, r FROM UNNEST($2::text[], $3::text[]) AS x(u, r) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(node)
            .bind(&users)
            .bind(&rooms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO push_nodes (node, expires_at) VALUES ($1, $2) \
             ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(node)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enqueue_pushes(&self, items: &[Notify], now: i64, window_ms: i64) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let endpoints: Vec<&str> = items.iter().map(|n| n.endpoint.as_str()).collect();
        let rooms: Vec<&str> = items.iter().map(|n| n.room.as_str()).collect();
        let users: Vec<&str> = items.iter().map(|n| n.user.as_str()).collect();
        let urgent: Vec<bool> = items.iter().map(|n| n.urgent).collect();
        let mentioned: Vec<bool> = items.iter().map(|n| n.mentioned).collect();
        // One statement, under each row's lock (ON CONFLICT works on the row's latest version):
        // an idle row is due at the end of its window (now when it is over); a pending row
        // takes the flags; a claimed one is marked to go again.
        sqlx::query(
            "INSERT INTO push_outbox AS o (endpoint, room, user_id, due_at, urgent, mentioned) \
             SELECT x.e, x.r, x.u, $6, x.g, x.m \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::bool[]) \
               AS x(e, r, u, g, m) \
             ON CONFLICT (endpoint, room) DO UPDATE SET \
             user_id = excluded.user_id, \
             due_at = CASE WHEN o.pending THEN o.due_at ELSE GREATEST($6, o.sent_at + $7) END, \
             urgent = CASE WHEN o.claimed_by IS NULL THEN (o.urgent OR excluded.urgent) ELSE o.urgent END, \
             mentioned = CASE WHEN o.claimed_by IS NULL THEN (o.mentioned OR excluded.mentioned) ELSE o.mentioned END, \
             again = CASE WHEN o.claimed_by IS NULL THEN o.again ELSE TRUE END, \
             next_urgent = CASE WHEN o.claimed_by IS NULL THEN o.next_urgent ELSE (o.next_urgent OR excluded.urgent) END, \
             next_mentioned = CASE WHEN o.claimed_by IS NULL THEN o.next_mentioned ELSE (o.next_mentioned OR excluded.mentioned) END, \
             pending = TRUE",
        )
        .bind(&endpoints)
        .bind(&rooms)
        .bind(&users)
        .bind(&urgent)
        .bind(&mentioned)
        .bind(now)
        .bind(window_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_pushes(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Claimed>> {
        let rows = sqlx::query(
            "UPDATE push_outbox o SET claimed_by = $1, claimed_until = $2 \
             FROM (SELECT endpoint, room FROM push_outbox WHERE pending AND due_at <= $3 \
                   AND (claimed_until IS NULL OR claimed_until <= $3) \
                   ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) c \
             WHERE o.endpoint = c.endpoint AND o.room = c.room \
             RETURNING o.endpoint, o.room, o.user_id, o.urgent, o.mentioned, o.attempts, \
               (SELECT s.p256dh FROM push_subscriptions s WHERE s.endpoint = o.endpoint) AS p256dh, \
               (SELECT s.auth FROM push_subscriptions s WHERE s.endpoint = o.endpoint) AS auth",
        )
        .bind(node)
        .bind(now + lease_ms)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let endpoint: String = r.try_get("endpoint")?;
                let p256dh: Option<String> = r.try_get("p256dh")?;
                let auth: Option<String> = r.try_get("auth")?;
                let subscription = match (p256dh, auth) {
                    (Some(p256dh), Some(auth)) => Some(
                        Subscription::parse(
                            SubscribeBody {
                                endpoint: endpoint.clone(),
                                keys: KeysBody { p256dh, auth },
                            },
                            true,
                        )
                        .map_err(|e| corrupt(format!("push subscription: {e}")))?,
                    ),
                    _ => None,
                };
                Ok(Claimed {
                    room: room(r.try_get("room")?)?,
                    user: user(r.try_get("user_id")?)?,
                    urgent: r.try_get("urgent")?,
                    mentioned: r.try_get("mentioned")?,
                    attempts: u32::try_from(r.try_get::<i32, _>("attempts")?).unwrap_or(0),
                    subscription,
                    endpoint,
                })
            })
            .collect()
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
        let mut tx = self.pool.begin().await?;
        match outcome {
            Outcome::Retry { at } => {
                sqlx::query(
                    "UPDATE push_outbox SET due_at = $4, attempts = attempts + 1, \
                     claimed_by = NULL, claimed_until = NULL, urgent = (urgent OR next_urgent), \
                     mentioned = (mentioned OR next_mentioned), again = FALSE, \
                     next_urgent = FALSE, next_mentioned = FALSE \
                     WHERE endpoint = $1 AND room = $2 AND claimed_by = $3",
                )
                .bind(endpoint)
                .bind(room_id.as_str())
                .bind(node)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            Outcome::Sent | Outcome::Dropped => {
                // Sent: the window starts now. A row marked `again` stays pending for its
                // next push; else it goes idle (kept for its window, then pruned).
                let sent = outcome == Outcome::Sent;
                let next_due = if sent { now + window_ms } else { now };
                sqlx::query(
                    "UPDATE push_outbox SET \
                     sent_at = CASE WHEN $4 THEN $5 ELSE sent_at END, \
                     pending = again, due_at = $6, attempts = 0, claimed_by = NULL, \
                     claimed_until = NULL, urgent = next_urgent, mentioned = next_mentioned, \
                     again = FALSE, next_urgent = FALSE, next_mentioned = FALSE \
                     WHERE endpoint = $1 AND room = $2 AND claimed_by = $3",
                )
                .bind(endpoint)
                .bind(room_id.as_str())
                .bind(node)
                .bind(sent)
                .bind(now)
                .bind(next_due)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM push_outbox WHERE pending")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn prune_pushes(&self, now: i64, window_ms: i64) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM push_outbox WHERE NOT pending AND sent_at < $1")
                .bind(now - window_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn remember_email(&self, user: &UserId, town: &TownId, email: &Email) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO push_digest (user_id, email, town) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, town = excluded.town",
        )
        .bind(user.as_str())
        .bind(email.as_str())
        .bind(town.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_email_digest(&self, user: &UserId, town: &TownId, on: bool) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO push_digest (user_id, town, enabled) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled",
        )
        .bind(user.as_str())
        .bind(town.as_str())
        .bind(on)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn email_digest(&self, user: &UserId) -> StoreResult<bool> {
        let on: Option<bool> =
            sqlx::query_scalar("SELECT enabled FROM push_digest WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(on.unwrap_or(true))
    }

    async fn claim_digests(
        &self,
        now: i64,
        interval_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>> {
        let rows = sqlx::query(
            "UPDATE push_digest d SET last_sent_at = $1 \
             FROM (SELECT d2.user_id FROM push_digest d2 LEFT JOIN users u ON u.id = d2.user_id \
                   WHERE d2.enabled AND d2.email IS NOT NULL AND d2.last_sent_at <= $1 - $2 \
                     AND COALESCE(u.last_seen, 0) <= $1 - $2 \
                     AND NOT EXISTS (SELECT 1 FROM push_presence p \
                                     JOIN push_nodes n ON n.node = p.node \
                                     WHERE p.user_id = d2.user_id AND n.expires_at > $1) \
                   ORDER BY d2.user_id LIMIT $3 FOR UPDATE OF d2 SKIP LOCKED) c \
             WHERE d.user_id = c.user_id \
             RETURNING d.user_id, d.town, d.email, d.last_unread",
        )
        .bind(now)
        .bind(interval_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let email: Option<String> = r.try_get("email")?;
                Ok(DigestDue {
                    user: user(r.try_get("user_id")?)?,
                    town: TownId::parse(r.try_get::<String, _>("town")?)
                        .map_err(|e| corrupt(format!("digest town: {e}")))?,
                    email: Email::trusted(email.unwrap_or_default()),
                    last_unread: u64::try_from(r.try_get::<i64, _>("last_unread")?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn digest_reported(&self, user: &UserId, unread: u64) -> StoreResult<()> {
        sqlx::query("UPDATE push_digest SET last_unread = $2 WHERE user_id = $1")
            .bind(user.as_str())
            .bind(i64::try_from(unread).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

//! The SQL both stores share. SQLite and Postgres accept the same statements here (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `CAST`, `UPDATE ... FROM`, `VALUES` lists joined
//! by their default column names `column1`, `column2`, ...), so the `Store` implementation is
//! written once, as a macro over the two concrete sqlx drivers; each store only says how it
//! connects and how it locks a room row for a post. What a group commit does is decided in
//! `store::batch`; the statements here only fetch its inputs and write its results.

/// Implements `Store` for `$store`, which has fields `reader` and `writer` (`sqlx::Pool<$db>`)
/// and an associated `lock_rooms(conn, sorted room ids)` that locks those rooms' rows for the
/// rest of the transaction where the database needs it.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> $crate::store::StoreResult<()> {
                // Not ready while the last write transaction failed for want of the database
                // (a full disk, an I/O error, Postgres gone): reads may answer while commits
                // cannot. The next write that commits clears it.
                self.health.check()?;
                self.check_file()?;
                sqlx::query("SELECT 1").execute(&self.reader).await?;
                Ok(())
            }

            async fn upsert_user(&self, user: &UserRef, town: &TownId) -> StoreResult<()> {
                let q = sqlx::query(
                    "INSERT INTO users (id, name, profession, org, town, from_token, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     profession = excluded.profession, org = excluded.org, town = excluded.town, \
                     from_token = TRUE, updated_at = excluded.updated_at",
                )
                .bind(user.id.as_str())
                .bind(user.name.as_str())
                .bind(user.profession.as_str())
                .bind(user.org.as_str())
                .bind(town.as_str())
                .bind(Timestamp::now().millis());
                let mut conn = self.writer.acquire().await?;
                let result = async {
                    let mut tx = Self::begin_write(&mut conn).await?;
                    q.execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }
                .await;
                self.settle(conn, result)
            }

            async fn room(&self, room: &RoomId) -> StoreResult<Option<RoomInfo>> {
                let row = sqlx::query(ROOM_SELECT).bind(room.as_str()).fetch_optional(&self.reader).await?;
                row.map(|r| room_info(&r)).transpose()
            }

            async fn put_room(&self, room: &RoomId, spec: &RoomSpec, creator: &UserRef) -> StoreResult<PutRoom> {
                let now = Timestamp::now().millis();
                let mut conn = self.writer.acquire().await?;
                let result = async {
                let mut tx = Self::begin_write(&mut conn).await?;
                let inserted = sqlx::query(
                    "INSERT INTO rooms (id, kind, title, town, resident_id, resident_name, last_seq, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (id) DO NOTHING",
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
                        sqlx::query("INSERT INTO members (room, user_id, role, added_at) VALUES ($1, $2, 'owner', $3)")
                            .bind(room.as_str())
                            .bind(creator.id.as_str())
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    AuditAction::RoomCreated
                } else {
                    let row = sqlx::query(ROOM_SELECT).bind(room.as_str()).fetch_one(&mut *tx).await?;
                    let existing = room_info(&row)?;
                    if existing.kind != spec.kind || existing.town != spec.town {
                        tx.rollback().await?;
                        return Ok(PutRoom::Conflict(existing));
                    }
                    sqlx::query(
                        "UPDATE rooms SET members_version = members_version + 1, title = $2, resident_id = COALESCE($3, resident_id), \
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
                insert_audit(&mut *tx, now, &creator.id, &creator.name, action, room, None).await?;
                let row = sqlx::query(ROOM_SELECT).bind(room.as_str()).fetch_one(&mut *tx).await?;
                let info = room_info(&row)?;
                tx.commit().await?;
                Ok(if inserted { PutRoom::Created(info) } else { PutRoom::Updated(info) })
                }
                .await;
                self.settle(conn, result)
            }

            async fn members(&self, room: &RoomId) -> StoreResult<Vec<Member>> {
                let rows = sqlx::query(
                    "SELECT m.user_id, COALESCE(u.name, m.user_id) AS name, COALESCE(u.profession, 'other') AS profession, \
                     COALESCE(u.org, '-') AS org, m.role, COALESCE(p.seq, 0) AS read_seq \
                     FROM members m LEFT JOIN users u ON u.id = m.user_id \
                     LEFT JOIN read_positions p ON p.room = m.room AND p.user_id = m.user_id \
                     WHERE m.room = $1 ORDER BY m.user_id",
                )
                .bind(room.as_str())
                .fetch_all(&self.reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Member {
                            id: convert::user_id(r.try_get("user_id")?)?,
                            name: convert::name(r.try_get("name")?)?,
                            profession: convert::profession(r.try_get::<&str, _>("profession")?)?,
                            org: convert::name(r.try_get("org")?)?,
                            role: convert::member_role(r.try_get::<&str, _>("role")?)?,
                            read_seq: convert::seq(r.try_get("read_seq")?),
                        })
                    })
                    .collect()
            }

            async fn member_role(&self, room: &RoomId, user: &UserId) -> StoreResult<Option<MemberRole>> {
                let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE room = $1 AND user_id = $2")
                    .bind(room.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&self.reader)
                    .await?;
                role.map(|r| convert::member_role(&r)).transpose()
            }

            async fn put_member(
                &self,
                room: &RoomId,
                user: &UserId,
                role: Option<MemberRole>,
                profile: &ProfilePatch,
                actor: &UserName,
            ) -> StoreResult<PutMember> {
                let now = Timestamp::now().millis();
                let mut conn = self.writer.acquire().await?;
                let result = async {
                let mut tx = Self::begin_write(&mut conn).await?;
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
                        .bind(name.map(str::to_owned).unwrap_or_else(|| convert::placeholder_name(user)))
                        .bind(profession.unwrap_or("other"))
                        .bind(org.unwrap_or("-"))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    // A profile from the user's own token is never overridden by the API.
                    Some(false) if name.is_some() || profession.is_some() || org.is_some() => {
                        sqlx::query(
                            "UPDATE users SET name = COALESCE($2, name), profession = COALESCE($3, profession), \
                             org = COALESCE($4, org), updated_at = $5 WHERE id = $1",
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
                sqlx::query("UPDATE rooms SET members_version = members_version + 1 WHERE id = $1")
                    .bind(room.as_str())
                    .execute(&mut *tx)
                    .await?;
                let existing: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE room = $1 AND user_id = $2")
                    .bind(room.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                let outcome = match existing {
                    None => {
                        sqlx::query("INSERT INTO members (room, user_id, role, added_at) VALUES ($1, $2, $3, $4)")
                            .bind(room.as_str())
                            .bind(user.as_str())
                            .bind(role.unwrap_or(MemberRole::Member).as_str())
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        insert_audit(&mut *tx, now, &actor.id, &actor.name, AuditAction::MemberAdded, room, Some(user)).await?;
                        PutMember::Added
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
                        insert_audit(&mut *tx, now, &actor.id, &actor.name, AuditAction::MemberUpdated, room, Some(user)).await?;
                        PutMember::Updated
                    }
                };
                tx.commit().await?;
                Ok(outcome)
                }
                .await;
                self.settle(conn, result)
            }

            async fn remove_member(&self, room: &RoomId, user: &UserId, actor: &UserName) -> StoreResult<bool> {
                let now = Timestamp::now().millis();
                let mut conn = self.writer.acquire().await?;
                let result = async {
                let mut tx = Self::begin_write(&mut conn).await?;
                // The membership version first: the room's row lock orders this removal with
                // every group commit of the room (a post committed after it reads the new version).
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
                    insert_audit(&mut *tx, now, &actor.id, &actor.name, AuditAction::MemberRemoved, room, Some(user)).await?;
                }
                tx.commit().await?;
                Ok(removed)
                }
                .await;
                self.settle(conn, result)
            }

            async fn rooms_for(&self, user: &UserId, town: &TownId) -> StoreResult<Vec<RoomSummary>> {
                let rows = sqlx::query(
                    "SELECT r.id, r.kind, r.title, r.town, r.last_seq, COALESCE(p.seq, 0) AS read_seq \
                     FROM rooms r LEFT JOIN read_positions p ON p.room = r.id AND p.user_id = $1 \
                     WHERE (r.kind = 'team' AND EXISTS (SELECT 1 FROM members m WHERE m.room = r.id AND m.user_id = $1)) \
                        OR (r.kind = 'town' AND r.town = $2) \
                     ORDER BY r.id",
                )
                .bind(user.as_str())
                .bind(town.as_str())
                .fetch_all(&self.reader)
                .await?;
                rows.iter().map(|r| summary(r)).collect()
            }

            async fn room_summary(&self, room: &RoomId, user: &UserId) -> StoreResult<Option<RoomSummary>> {
                let row = sqlx::query(
                    "SELECT r.id, r.kind, r.title, r.town, r.last_seq, COALESCE(p.seq, 0) AS read_seq \
                     FROM rooms r LEFT JOIN read_positions p ON p.room = r.id AND p.user_id = $2 \
                     WHERE r.id = $1",
                )
                .bind(room.as_str())
                .bind(user.as_str())
                .fetch_optional(&self.reader)
                .await?;
                row.map(|r| summary(&r)).transpose()
            }

            async fn commit(&self, batch: &[Write]) -> StoreResult<Vec<WriteOutcome>> {
                // Retries of committed posts are rare (an ack lost with its connection), so a
                // batch first assumes it has none and lets the unique (room, author, client_id)
                // index say otherwise: one statement less per batch. When it does, the batch is
                // rolled back (its seqs with it) and committed again, looking retries up first.
                match self.commit_with(batch, Retries::Assumed).await {
                    Err(StoreError::Internal(sqlx::Error::Database(db))) if db.is_unique_violation() => {
                        metrics::counter!("yui_commit_retry_lookups_total").increment(1);
                        self.commit_with(batch, Retries::LookedUp).await
                    }
                    other => other,
                }
            }

            async fn messages_after(&self, room: &RoomId, after: u64, limit: u32) -> StoreResult<Vec<Message>> {
                let rows = sqlx::query(MESSAGES_AFTER)
                    .bind(room.as_str())
                    .bind(convert::db_seq(after))
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await?;
                rows.iter().map(|r| message(r)).collect()
            }

            async fn messages_before(&self, room: &RoomId, before: Option<u64>, limit: u32) -> StoreResult<(Vec<Message>, bool)> {
                let rows = sqlx::query(MESSAGES_BEFORE)
                    .bind(room.as_str())
                    .bind(before.map(convert::db_seq).unwrap_or(i64::MAX))
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.reader)
                    .await?;
                let more = rows.len() > limit as usize;
                let mut messages = rows.iter().take(limit as usize).map(|r| message(r)).collect::<StoreResult<Vec<_>>>()?;
                messages.reverse();
                Ok((messages, more))
            }

            async fn receipts(&self, room: &RoomId) -> StoreResult<Vec<Reader>> {
                let rows = sqlx::query(
                    "SELECT p.user_id, COALESCE(u.name, p.user_id) AS name, COALESCE(u.profession, 'other') AS profession, \
                     COALESCE(u.org, '-') AS org, p.seq, p.at \
                     FROM read_positions p LEFT JOIN users u ON u.id = p.user_id \
                     WHERE p.room = $1 AND p.seq > 0 ORDER BY p.user_id",
                )
                .bind(room.as_str())
                .fetch_all(&self.reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Reader {
                            user: convert::user_ref(r.try_get("user_id")?, r.try_get("name")?, r.try_get::<&str, _>("profession")?, r.try_get("org")?)?,
                            seq: convert::seq(r.try_get("seq")?),
                            at: convert::time(r.try_get("at")?),
                        })
                    })
                    .collect()
            }

            async fn audience(&self, room: &RoomInfo) -> StoreResult<u64> {
                let n: i64 = match room.kind {
                    RoomKind::Team => sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE room = $1")
                        .bind(room.room.as_str())
                        .fetch_one(&self.reader)
                        .await?,
                    RoomKind::Town => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE town = $1")
                        .bind(room.town.as_str())
                        .fetch_one(&self.reader)
                        .await?,
                };
                Ok(convert::seq(n))
            }

            async fn audit(&self, record: &AuditRecord) -> StoreResult<()> {
                let mut conn = self.writer.acquire().await?;
                let result = async {
                    let mut tx = Self::begin_write(&mut conn).await?;
                    insert_audit(&mut *tx, Timestamp::now().millis(), &record.actor.id, &record.actor.name, record.action, &record.room, record.target.as_ref()).await?;
                    tx.commit().await?;
                    Ok(())
                }
                .await;
                self.settle(conn, result)
            }

            async fn audit_query(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
                let rows = sqlx::query(
                    "SELECT a.at, a.actor_id, a.actor_name, a.action, a.room, a.target FROM audit a \
                     WHERE (CAST($1 AS TEXT) IS NULL OR a.room = $1) \
                       AND (CAST($2 AS TEXT) IS NULL OR a.actor_id = $2 OR a.target = $2) \
                       AND (CAST($3 AS TEXT) IS NULL OR a.room IN (SELECT id FROM rooms WHERE town = $3)) \
                     ORDER BY a.id DESC LIMIT $4",
                )
                .bind(filter.room.as_ref().map(|r| r.as_str()))
                .bind(filter.user.as_ref().map(|u| u.as_str()))
                .bind(filter.town.as_ref().map(|t| t.as_str()))
                .bind(i64::from(filter.limit))
                .fetch_all(&self.reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        let action: &str = r.try_get("action")?;
                        Ok(AuditEntry {
                            at: convert::time(r.try_get("at")?),
                            actor: UserName { id: convert::user_id(r.try_get("actor_id")?)?, name: convert::name(r.try_get("actor_name")?)? },
                            action: AuditAction::parse(action).ok_or_else(|| StoreError::Corrupt(format!("audit action '{action}'")))?,
                            room: convert::room_id(r.try_get("room")?)?,
                            target: r.try_get::<Option<String>, _>("target")?.map(convert::user_id).transpose()?,
                        })
                    })
                    .collect()
            }
        }

        impl $store {
            /// One group commit in one transaction (see `Store::commit`).
            async fn commit_with(&self, batch: &[Write], retries: Retries) -> StoreResult<Vec<WriteOutcome>> {
                let now = Timestamp::now();
                let mut conn = self.writer.acquire().await?;
                let result = async {
                    let mut tx = Self::begin_write(&mut conn).await?;
                    // Every room this batch writes to is locked first, in one sorted order, so
                    // that batches of different nodes never wait on each other in a cycle.
                    Self::lock_rooms(&mut *tx, &batch::rooms(batch)).await?;
                    let outcomes = commit_batch(&mut *tx, batch, now, retries).await?;
                    tx.commit().await?;
                    // Committed, but to the file the hub opened: one deleted or replaced under
                    // it loses this at the next restart, so it is not acked as durable.
                    self.check_file()?;
                    Ok(outcomes)
                }
                .await;
                self.settle(conn, result)
            }

            /// Begins a write transaction on the writer connection `conn`, and checks that it
            /// really begins one. sqlx must count no open transaction on the connection (else
            /// its begin() would silently nest a SAVEPOINT, whose RELEASE commits nothing), and
            /// then sends a plain BEGIN, which the database refuses inside an open transaction.
            /// Either refusal means the connection's state is not what a write needs: the write
            /// is unavailable, and `settle` closes the connection so the next write gets a
            /// fresh one. (Not `begin_with`: on SQLite its check costs one more round trip to
            /// sqlx's worker thread per group commit.)
            async fn begin_write(
                conn: &mut sqlx::pool::PoolConnection<$db>,
            ) -> StoreResult<sqlx::Transaction<'_, $db>> {
                use sqlx::Connection as _;
                let begun = if conn.is_in_transaction() {
                    Err(sqlx::Error::BeginFailed)
                } else {
                    conn.begin().await
                };
                begun.map_err(|e| {
                    tracing::warn!(error = %e, "write transaction could not begin; the writer connection is replaced");
                    StoreError::Unavailable(e)
                })
            }

            /// Ends a write made on the writer connection `conn`. A failed write transaction
            /// (a failed statement, COMMIT or ROLLBACK) leaves the connection in a state that
            /// cannot be trusted: SQLite may have rolled the transaction back by itself (a full
            /// disk, an I/O error) while sqlx still counts it open, so sqlx would turn the next
            /// BEGIN into a SAVEPOINT and its COMMIT into a RELEASE that commits nothing, and a
            /// write would be acked that was never stored. So the connection is closed, never
            /// returned to the pool; the pool opens a fresh one for the next write. A failure
            /// for want of the database also makes the store not ready until a write commits.
            fn settle<T>(&self, mut conn: sqlx::pool::PoolConnection<$db>, result: StoreResult<T>) -> StoreResult<T> {
                match &result {
                    Ok(_) => self.health.set(true),
                    Err(e) => {
                        conn.close_on_drop();
                        if matches!(e, StoreError::Unavailable(_)) {
                            self.health.set(false);
                        }
                    }
                }
                result
            }
        }

        /// Whether a group commit looks up which of its posts were committed before.
        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Retries {
            /// No: the unique index on (room, author, client_id) fails the batch if one was.
            Assumed,
            /// Yes: they are answered with the stored message.
            LookedUp,
        }

        const ROOM_SELECT: &str = "SELECT id, kind, title, town, resident_id, resident_name, last_seq, members_version FROM rooms WHERE id = $1";
        const MESSAGE_COLUMNS: &str = "room, seq, id, client_id, author_id, author_name, author_profession, author_org, kind, body, at";
        const MESSAGES_AFTER: &str = "SELECT room, seq, id, client_id, author_id, author_name, author_profession, author_org, kind, body, at \
             FROM messages WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3";
        const MESSAGES_BEFORE: &str = "SELECT room, seq, id, client_id, author_id, author_name, author_profession, author_org, kind, body, at \
             FROM messages WHERE room = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";

        type DbRow = <$db as sqlx::Database>::Row;

        fn room_info(r: &DbRow) -> StoreResult<RoomInfo> {
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

        fn summary(r: &DbRow) -> StoreResult<RoomSummary> {
            let last_seq = convert::seq(r.try_get("last_seq")?);
            let read_seq = convert::seq(r.try_get("read_seq")?).min(last_seq);
            Ok(RoomSummary {
                room: convert::room_id(r.try_get("id")?)?,
                kind: convert::room_kind(r.try_get::<&str, _>("kind")?)?,
                title: convert::title(r.try_get("title")?)?,
                town: convert::town(r.try_get("town")?)?,
                last_seq,
                read_seq,
                unread: last_seq - read_seq,
            })
        }

        fn message(r: &DbRow) -> StoreResult<Message> {
            Ok(Message {
                room: convert::room_id(r.try_get("room")?)?,
                seq: convert::seq(r.try_get("seq")?),
                id: r.try_get("id")?,
                client_id: convert::client_id(r.try_get("client_id")?)?,
                author: convert::user_ref(
                    r.try_get("author_id")?,
                    r.try_get("author_name")?,
                    r.try_get::<&str, _>("author_profession")?,
                    r.try_get("author_org")?,
                )?,
                kind: convert::message_kind(r.try_get::<&str, _>("kind")?)?,
                body: r.try_get("body")?,
                at: convert::time(r.try_get("at")?),
            })
        }

        type DbConn = <$db as sqlx::Database>::Connection;

        /// The group commit inside its transaction, the batch's rooms already locked. Set-based:
        /// each statement below runs once per chunk of rows (one chunk for a batch of the
        /// default size), and not at all when the batch has nothing for it, so a batch costs
        /// the same few round trips (to sqlx's SQLite worker thread, or to Postgres) whatever
        /// its size.
        async fn commit_batch(conn: &mut DbConn, batch: &[Write], now: Timestamp, retries: Retries) -> StoreResult<Vec<WriteOutcome>> {
            // Idempotent retries: which posts an earlier batch already committed.
            let committed = match retries {
                Retries::LookedUp => select_committed(conn, &batch::post_keys(batch)).await?,
                Retries::Assumed => batch::Committed::new(),
            };
            let fates = batch::post_fates(batch, &committed);
            // Seqs: each room advances by its number of new posts at once; the new last_seq is
            // the end of that room's run of seqs, handed out in batch order by `apply`.
            let counts = batch::new_posts_per_room(batch, &fates);
            let advanced = advance_rooms(conn, &counts).await?;
            let mut last_seq = std::collections::HashMap::with_capacity(counts.len());
            for (room, n) in &counts {
                let Some((end, _)) = advanced.get(*room) else {
                    return Err(StoreError::Corrupt(format!("post to room {room}, which does not exist")));
                };
                last_seq.insert(*room, end - n);
            }
            // Reads clamp to their room's last_seq at their point of the batch (a room that does
            // not exist clamps to 0) and start from the stored positions: one query for both.
            let pairs = batch::read_pairs(batch);
            let (positions, read_rooms) = select_read_state(conn, &pairs).await?;
            for (room, _) in &pairs {
                // Rooms with new posts keep the value from before this batch's UPDATE.
                if let Some(seq) = read_rooms.get(*room) {
                    last_seq.entry(*room).or_insert(*seq);
                }
            }

            let mut applied = batch::apply(batch, &fates, &committed, last_seq, &positions, now)?;
            // Each new message carries its room's membership version, read under the room's
            // lock in this transaction.
            for o in &mut applied.outcomes {
                if let WriteOutcome::Posted { message, new: true, members_version } = o {
                    if let Some((_, v)) = advanced.get(message.room.as_str()) {
                        *members_version = convert::seq(*v);
                    }
                }
            }

            let new_messages: Vec<&Message> = applied
                .outcomes
                .iter()
                .filter_map(|o| match o {
                    WriteOutcome::Posted { message, new: true, .. } => Some(message),
                    _ => None,
                })
                .collect();
            insert_messages(conn, &new_messages).await?;
            upsert_read_positions(conn, &applied.moved, now.millis()).await?;
            let audits: Vec<&AuditRecord> = batch
                .iter()
                .filter_map(|w| match w {
                    Write::Audit(record) => Some(record),
                    _ => None,
                })
                .collect();
            insert_audits(conn, &audits, now.millis()).await?;
            Ok(applied.outcomes)
        }

        /// The committed messages with any of these (room, author id, client id) keys.
        async fn select_committed(conn: &mut DbConn, keys: &[batch::PostKey<'_>]) -> StoreResult<batch::Committed> {
            let mut found = batch::Committed::new();
            for chunk in keys.chunks(batch::rows_per_statement(3)) {
                // A join with the keys as a VALUES list, so each key is one lookup in the
                // (room, author_id, client_id) unique index. VALUES columns are named column1..
                // in both databases (SQLite cannot rename them).
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT m.room, m.seq, m.id, m.client_id, m.author_id, m.author_name, m.author_profession, \
                     m.author_org, m.kind, m.body, m.at FROM (",
                );
                q.push_values(chunk, |mut row, (room, author, client_id)| {
                    row.push_bind(*room).push_bind(*author).push_bind(*client_id);
                });
                q.push(
                    ") AS k JOIN messages m \
                     ON m.room = k.column1 AND m.author_id = k.column2 AND m.client_id = k.column3",
                );
                for row in q.build().fetch_all(&mut *conn).await? {
                    let m = message(&row)?;
                    found.insert(batch::message_key(&m), m);
                }
            }
            Ok(found)
        }

        /// Advances each room's last_seq by its count; the new last_seq by room id. A room that
        /// does not exist is missing from the answer.
        /// With each its membership version, read under the same row lock.
        async fn advance_rooms(conn: &mut DbConn, counts: &[(&str, i64)]) -> StoreResult<std::collections::HashMap<String, (i64, i64)>> {
            let mut advanced = std::collections::HashMap::with_capacity(counts.len());
            for chunk in counts.chunks(batch::rows_per_statement(2)) {
                // Each room appears once (`counts` has no repeats): an UPDATE ... FROM that
                // matched a row twice would apply only one of the increments on Postgres.
                let mut q = sqlx::QueryBuilder::<$db>::new("UPDATE rooms SET last_seq = last_seq + v.column2 FROM (");
                q.push_values(chunk, |mut row, (room, n)| {
                    // Postgres types a VALUES column from its first row: the cast keeps it BIGINT.
                    row.push_bind(*room).push("CAST(").push_bind_unseparated(*n).push_unseparated(" AS BIGINT)");
                });
                q.push(") AS v WHERE rooms.id = v.column1 RETURNING id, last_seq, members_version");
                for row in q.build().fetch_all(&mut *conn).await? {
                    advanced.insert(row.try_get("id")?, (row.try_get("last_seq")?, row.try_get("members_version")?));
                }
            }
            Ok(advanced)
        }

        /// For these (room, user id) pairs: the stored read positions (a pair that never moved
        /// is missing) and the last_seq of each of their rooms that exists, by room id.
        async fn select_read_state(
            conn: &mut DbConn,
            pairs: &[(&str, &str)],
        ) -> StoreResult<(batch::Positions, std::collections::HashMap<String, i64>)> {
            let mut positions = batch::Positions::with_capacity(pairs.len());
            let mut rooms = std::collections::HashMap::new();
            for chunk in pairs.chunks(batch::rows_per_statement(2)) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT r.id AS room, r.last_seq, p.user_id, p.seq, p.at FROM (",
                );
                q.push_values(chunk, |mut row, (room, user)| {
                    row.push_bind(*room).push_bind(*user);
                });
                q.push(
                    ") AS k JOIN rooms r ON r.id = k.column1 \
                     LEFT JOIN read_positions p ON p.room = k.column1 AND p.user_id = k.column2",
                );
                for row in q.build().fetch_all(&mut *conn).await? {
                    let room: String = row.try_get("room")?;
                    let user: Option<String> = row.try_get("user_id")?;
                    if let Some(user) = user {
                        positions.insert((room.clone(), user), (row.try_get("seq")?, row.try_get("at")?));
                    }
                    rooms.insert(room, row.try_get("last_seq")?);
                }
            }
            Ok((positions, rooms))
        }

        async fn insert_messages(conn: &mut DbConn, messages: &[&Message]) -> StoreResult<()> {
            for chunk in messages.chunks(batch::rows_per_statement(11)) {
                let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO messages (");
                q.push(MESSAGE_COLUMNS).push(") ");
                q.push_values(chunk, |mut row, m| {
                    row.push_bind(m.room.as_str())
                        .push_bind(convert::db_seq(m.seq))
                        .push_bind(m.id.as_str())
                        .push_bind(m.client_id.as_str())
                        .push_bind(m.author.id.as_str())
                        .push_bind(m.author.name.as_str())
                        .push_bind(m.author.profession.as_str())
                        .push_bind(m.author.org.as_str())
                        .push_bind(m.kind.as_str())
                        .push_bind(m.body.as_str())
                        .push_bind(m.at.millis());
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// Moves each (room, user id) to its seq, never backwards. `moved` has each pair once:
        /// Postgres refuses an ON CONFLICT that touches one row twice in a statement.
        async fn upsert_read_positions(conn: &mut DbConn, moved: &[(&str, &str, i64)], at: i64) -> StoreResult<()> {
            for chunk in moved.chunks(batch::rows_per_statement(4)) {
                let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO read_positions (room, user_id, seq, at) ");
                q.push_values(chunk, |mut row, (room, user, seq)| {
                    row.push_bind(*room).push_bind(*user).push_bind(*seq).push_bind(at);
                });
                q.push(
                    " ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, at = excluded.at \
                     WHERE excluded.seq > read_positions.seq",
                );
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// Appends the entries in their order: rows of one INSERT take ids in VALUES order, and
        /// chunks run in order, so audit ids follow the batch.
        async fn insert_audits(conn: &mut DbConn, records: &[&AuditRecord], at: i64) -> StoreResult<()> {
            for chunk in records.chunks(batch::rows_per_statement(6)) {
                let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO audit (at, actor_id, actor_name, action, room, target) ");
                q.push_values(chunk, |mut row, r| {
                    row.push_bind(at)
                        .push_bind(r.actor.id.as_str())
                        .push_bind(r.actor.name.as_str())
                        .push_bind(r.action.as_str())
                        .push_bind(r.room.as_str())
                        .push_bind(r.target.as_ref().map(|t| t.as_str()));
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        async fn insert_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            at: i64,
            actor: &UserId,
            actor_name: &Name,
            action: AuditAction,
            room: &RoomId,
            target: Option<&UserId>,
        ) -> StoreResult<()> {
            sqlx::query("INSERT INTO audit (at, actor_id, actor_name, action, room, target) VALUES ($1, $2, $3, $4, $5, $6)")
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
    };
}

pub(crate) use impl_sql_store;

/// Whether the store's last write transaction failed for want of the database (see `settle`):
/// `/readyz` is 503 from a failed commit until the next commit that succeeds.
#[derive(Debug)]
pub(crate) struct WriteHealth(std::sync::atomic::AtomicBool);

impl WriteHealth {
    pub(crate) fn new() -> Self {
        WriteHealth(std::sync::atomic::AtomicBool::new(true))
    }

    pub(crate) fn set(&self, ok: bool) {
        self.0.store(ok, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn check(&self) -> super::StoreResult<()> {
        if self.0.load(std::sync::atomic::Ordering::Acquire) {
            Ok(())
        } else {
            Err(super::StoreError::Unavailable(sqlx::Error::Protocol(
                "the last write transaction failed; not ready until one commits".into(),
            )))
        }
    }
}

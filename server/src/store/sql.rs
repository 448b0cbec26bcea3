//! The SQL both stores share. SQLite and Postgres accept the same statements here (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `CAST`), so the `Store` implementation is written
//! once, as a macro over the two concrete sqlx drivers; each store only says how it connects
//! and how it locks a room row for a post.

/// Implements `Store` for `$store`, which has fields `reader` and `writer` (`sqlx::Pool<$db>`)
/// and an associated `lock_rooms(conn, sorted room ids)` that locks those rooms' rows for the
/// rest of the transaction where the database needs it.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.reader).await?;
                Ok(())
            }

            async fn upsert_user(&self, user: &UserRef, town: &TownId) -> StoreResult<()> {
                sqlx::query(
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
                .bind(Timestamp::now().millis())
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn room(&self, room: &RoomId) -> StoreResult<Option<RoomInfo>> {
                let row = sqlx::query(ROOM_SELECT).bind(room.as_str()).fetch_optional(&self.reader).await?;
                row.map(|r| room_info(&r)).transpose()
            }

            async fn put_room(&self, room: &RoomId, spec: &RoomSpec, creator: &UserRef) -> StoreResult<PutRoom> {
                let now = Timestamp::now().millis();
                let mut tx = self.writer.begin().await?;
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
                        return Ok(PutRoom::Conflict(existing));
                    }
                    sqlx::query(
                        "UPDATE rooms SET title = $2, resident_id = COALESCE($3, resident_id), \
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
                let mut tx = self.writer.begin().await?;
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

            async fn remove_member(&self, room: &RoomId, user: &UserId, actor: &UserName) -> StoreResult<bool> {
                let now = Timestamp::now().millis();
                let mut tx = self.writer.begin().await?;
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

            async fn read_seq(&self, room: &RoomId, user: &UserId) -> StoreResult<u64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM read_positions WHERE room = $1 AND user_id = $2")
                    .bind(room.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&self.reader)
                    .await?;
                Ok(seq.map(convert::seq).unwrap_or(0))
            }

            async fn commit(&self, batch: &[Write]) -> StoreResult<Vec<WriteOutcome>> {
                let now = Timestamp::now();
                let mut tx = self.writer.begin().await?;
                // Every room this batch writes to is locked first, in one sorted order, so that
                // batches of different nodes never wait on each other in a cycle.
                let mut rooms: Vec<&str> = batch
                    .iter()
                    .filter_map(|w| match w {
                        Write::Post { room, .. } | Write::Read { room, .. } => Some(room.as_str()),
                        Write::Audit(_) => None,
                    })
                    .collect();
                rooms.sort_unstable();
                rooms.dedup();
                Self::lock_rooms(&mut *tx, &rooms).await?;
                let mut out = Vec::with_capacity(batch.len());
                for w in batch {
                    out.push(match w {
                        Write::Post { room, author, client_id, kind, body } => {
                            let existing = sqlx::query(MESSAGE_BY_CLIENT_ID)
                                .bind(room.as_str())
                                .bind(author.id.as_str())
                                .bind(client_id.as_str())
                                .fetch_optional(&mut *tx)
                                .await?;
                            if let Some(row) = existing {
                                WriteOutcome::Posted { message: message(&row)?, new: false }
                            } else {
                                let seq: Option<i64> = sqlx::query_scalar("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                                    .bind(room.as_str())
                                    .fetch_optional(&mut *tx)
                                    .await?;
                                let Some(seq) = seq else {
                                    return Err(StoreError::Corrupt(format!("post to room {room}, which does not exist")));
                                };
                                let id = uuid::Uuid::now_v7().to_string();
                                sqlx::query(
                                    "INSERT INTO messages (room, seq, id, client_id, author_id, author_name, author_profession, \
                                     author_org, kind, body, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                                )
                                .bind(room.as_str())
                                .bind(seq)
                                .bind(&id)
                                .bind(client_id.as_str())
                                .bind(author.id.as_str())
                                .bind(author.name.as_str())
                                .bind(author.profession.as_str())
                                .bind(author.org.as_str())
                                .bind(kind.as_str())
                                .bind(body.as_str())
                                .bind(now.millis())
                                .execute(&mut *tx)
                                .await?;
                                move_read_position(&mut *tx, room, &author.id, seq, now.millis()).await?;
                                WriteOutcome::Posted {
                                    message: Message {
                                        room: room.clone(),
                                        seq: convert::seq(seq),
                                        id,
                                        client_id: client_id.clone(),
                                        author: author.clone(),
                                        kind: *kind,
                                        body: body.as_str().to_owned(),
                                        at: now,
                                    },
                                    new: true,
                                }
                            }
                        }
                        Write::Read { room, user, seq } => {
                            let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
                                .bind(room.as_str())
                                .fetch_optional(&mut *tx)
                                .await?;
                            let target = convert::db_seq(*seq).min(last.unwrap_or(0));
                            let current = sqlx::query("SELECT seq, at FROM read_positions WHERE room = $1 AND user_id = $2")
                                .bind(room.as_str())
                                .bind(user.as_str())
                                .fetch_optional(&mut *tx)
                                .await?;
                            let (cur_seq, cur_at): (i64, i64) = match &current {
                                Some(r) => (r.try_get("seq")?, r.try_get("at")?),
                                // Never moved: at 0 says so.
                                None => (0, 0),
                            };
                            if target > cur_seq {
                                move_read_position(&mut *tx, room, user, target, now.millis()).await?;
                                WriteOutcome::Read { seq: convert::seq(target), moved: true, at: now }
                            } else {
                                WriteOutcome::Read { seq: convert::seq(cur_seq), moved: false, at: convert::time(cur_at) }
                            }
                        }
                        Write::Audit(record) => {
                            insert_audit(&mut *tx, now.millis(), &record.actor.id, &record.actor.name, record.action, &record.room, record.target.as_ref()).await?;
                            WriteOutcome::Audited
                        }
                    });
                }
                tx.commit().await?;
                Ok(out)
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
                insert_audit(&mut *conn, Timestamp::now().millis(), &record.actor.id, &record.actor.name, record.action, &record.room, record.target.as_ref()).await
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

        const ROOM_SELECT: &str = "SELECT id, kind, title, town, resident_id, resident_name, last_seq FROM rooms WHERE id = $1";
        const MESSAGE_COLUMNS: &str = "room, seq, id, client_id, author_id, author_name, author_profession, author_org, kind, body, at";
        const MESSAGE_BY_CLIENT_ID: &str = "SELECT room, seq, id, client_id, author_id, author_name, author_profession, author_org, kind, body, at \
             FROM messages WHERE room = $1 AND author_id = $2 AND client_id = $3";
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
            let _ = MESSAGE_COLUMNS;
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

        async fn move_read_position(
            conn: &mut <$db as sqlx::Database>::Connection,
            room: &RoomId,
            user: &UserId,
            seq: i64,
            at: i64,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO read_positions (room, user_id, seq, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, at = excluded.at \
                 WHERE excluded.seq > read_positions.seq",
            )
            .bind(room.as_str())
            .bind(user.as_str())
            .bind(seq)
            .bind(at)
            .execute(conn)
            .await?;
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

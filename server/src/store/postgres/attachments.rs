//! Attachment rows (PROTOCOL.md 5.3): an upload, its claim by the post that names it (in the
//! group commit, one statement for the batch), the attachments of a page of messages, and the
//! clean-up of unposted ones. The bytes are in `attachment_blobs`, written by the blob store.

use crate::store::{convert, AttachmentRecord, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use yui_protocol::ids::AttachmentId;
use yui_protocol::model::Message;

const COLUMNS: &str = "id, name, type, size, sha256, width, height, room, uploader, \
                       created_at, message_seq, client_id, consent";

pub(super) async fn insert(conn: &mut PgConnection, r: &AttachmentRecord) -> StoreResult<()> {
    let a = &r.attachment;
    sqlx::query(
        "INSERT INTO attachments (id, name, type, size, sha256, width, height, room, uploader, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(a.id.as_str())
    .bind(a.name.as_str())
    .bind(a.content_type.as_str())
    .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
    .bind(&a.sha256)
    .bind(a.width.map(|w| w as i32))
    .bind(a.height.map(|h| h as i32))
    .bind(r.room.as_str())
    .bind(r.uploader.as_str())
    .bind(r.created_at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn get(pool: &PgPool, id: &AttachmentId) -> StoreResult<Option<AttachmentRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM attachments WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(record).transpose()
}

pub(super) async fn delete_unposted(conn: &mut PgConnection, cutoff: i64) -> StoreResult<u64> {
    let n = sqlx::query(
        "DELETE FROM attachments WHERE message_seq IS NULL AND consent IS NULL \
         AND created_at < $1",
    )
    .bind(cutoff)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n)
}

pub(super) async fn content_in_use(pool: &PgPool, sha256: &str) -> StoreResult<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// Claims the attachments of the batch's new messages for them, inside the commit, in one
/// statement: each must still be unposted, the author's, in the message's room; otherwise the
/// batch fails with `Refused` (the committer then isolates that post).
pub(super) async fn claim(conn: &mut PgConnection, messages: &[&Message]) -> StoreResult<()> {
    let claims: Vec<(&Message, usize, &str)> = messages
        .iter()
        .flat_map(|m| {
            m.attachments
                .iter()
                .enumerate()
                .map(move |(i, a)| (*m, i, a.id.as_str()))
        })
        .collect();
    // 6 binds a row; a batch's attachments are far fewer than a statement can carry.
    for chunk in claims.chunks(4096) {
        let mut q = QueryBuilder::<Postgres>::new(
            "UPDATE attachments SET message_seq = v.seq, client_id = v.client_id, \
             position = v.pos FROM (",
        );
        q.push_values(chunk, |mut row, (m, i, id)| {
            row.push_bind(*id)
                .push_bind(m.room.as_str())
                .push_bind(m.author.id.as_str())
                .push("CAST(")
                .push_bind_unseparated(convert::db_seq(m.seq))
                .push_unseparated(" AS BIGINT)")
                .push_bind(m.client_id.as_str())
                .push("CAST(")
                .push_bind_unseparated(*i as i32)
                .push_unseparated(" AS INTEGER)");
        });
        q.push(
            ") AS v (id, room, uploader, seq, client_id, pos) WHERE attachments.id = v.id \
             AND attachments.room = v.room AND attachments.uploader = v.uploader \
             AND attachments.message_seq IS NULL AND attachments.consent IS NULL",
        );
        let n = q.build().execute(&mut *conn).await?.rows_affected();
        if n != chunk.len() as u64 {
            return Err(StoreError::Refused(
                "attachments: one of them is no longer available (posted or expired)".into(),
            ));
        }
    }
    Ok(())
}

/// Keeps the upload `document` of `room` for consent `consent`, inside the consent's
/// transaction: an upload by `uploader` never posted nor kept is claimed; one posted in a
/// message or kept by another consent stays as it is. Anything else (gone since the check, or
/// another room's) fails with `Refused`, and the consent with it.
pub(super) async fn keep_for_consent(
    conn: &mut PgConnection,
    room: &str,
    document: &str,
    uploader: &str,
    consent: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE attachments SET consent = $1 WHERE id = $2 AND room = $3 AND uploader = $4 \
         AND message_seq IS NULL AND consent IS NULL",
    )
    .bind(consent)
    .bind(document)
    .bind(room)
    .bind(uploader)
    .execute(&mut *conn)
    .await?;
    let kept: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM attachments WHERE id = $1 AND room = $2 \
         AND (message_seq IS NOT NULL OR consent IS NOT NULL) FOR SHARE",
    )
    .bind(document)
    .bind(room)
    .fetch_optional(&mut *conn)
    .await?;
    match kept {
        Some(_) => Ok(()),
        None => Err(StoreError::Refused(format!(
            "document: '{document}' is no longer available (expired or not this room's)"
        ))),
    }
}

/// Puts each message's attachments (in their order) into a page of messages of one room.
pub(super) async fn fill(pool: &PgPool, messages: &mut [Message]) -> StoreResult<()> {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(());
    };
    let (room, lo, hi) = (
        first.room.clone(),
        first.seq.min(last.seq),
        first.seq.max(last.seq),
    );
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM attachments WHERE room = $1 AND message_seq BETWEEN $2 AND $3 \
         ORDER BY message_seq, position"
    ))
    .bind(room.as_str())
    .bind(convert::db_seq(lo))
    .bind(convert::db_seq(hi))
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let r = record(row)?;
        if let Some((seq, _)) = &r.posted {
            if let Ok(i) = messages.binary_search_by_key(seq, |m| m.seq) {
                messages[i].attachments.push(r.attachment);
            }
        }
    }
    Ok(())
}

fn record(r: &PgRow) -> StoreResult<AttachmentRecord> {
    let dim = |c: &str| -> StoreResult<Option<u32>> {
        Ok(r.try_get::<Option<i32>, _>(c)?.map(|v| v.max(0) as u32))
    };
    let message_seq: Option<i64> = r.try_get("message_seq")?;
    let client_id: Option<String> = r.try_get("client_id")?;
    let posted = match (message_seq, client_id) {
        (Some(seq), Some(c)) => Some((convert::seq(seq), convert::client_id(c)?)),
        _ => None,
    };
    Ok(AttachmentRecord {
        attachment: convert::attachment(
            r.try_get("id")?,
            r.try_get("name")?,
            r.try_get::<&str, _>("type")?,
            r.try_get("size")?,
            r.try_get("sha256")?,
            dim("width")?,
            dim("height")?,
        )?,
        room: convert::room_id(r.try_get("room")?)?,
        uploader: convert::user_id(r.try_get("uploader")?)?,
        created_at: convert::time(r.try_get("created_at")?),
        posted,
        consent: r.try_get("consent")?,
    })
}

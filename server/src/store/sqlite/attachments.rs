//! Attachment rows (PROTOCOL.md 5.3): an upload, its claim by the post that names it (in the
//! group commit), the attachments of a page of messages, and the clean-up of unposted ones.

use crate::store::{convert, AttachmentRecord, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};
use yui_protocol::ids::AttachmentId;
use yui_protocol::model::Message;

const COLUMNS: &str = "id, name, type, size, sha256, width, height, room, uploader, \
                       created_at, message_seq, client_id, consent";

pub(super) fn insert(conn: &Connection, r: &AttachmentRecord) -> StoreResult<()> {
    let a = &r.attachment;
    conn.prepare_cached(
        "INSERT INTO attachments (id, name, type, size, sha256, width, height, room, uploader, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        a.id.as_str(),
        a.name.as_str(),
        a.content_type.as_str(),
        i64::try_from(a.size).unwrap_or(i64::MAX),
        a.sha256,
        a.width,
        a.height,
        r.room.as_str(),
        r.uploader.as_str(),
        r.created_at.millis(),
    ])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &AttachmentId) -> StoreResult<Option<AttachmentRecord>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM attachments WHERE id = ?1"))?;
    let row = stmt.query_row([id.as_str()], Row_::read).optional()?;
    row.map(Row_::into_record).transpose()
}

pub(super) fn delete_unposted(conn: &Connection, cutoff: i64) -> StoreResult<u64> {
    let n = conn
        .prepare_cached(
            "DELETE FROM attachments WHERE message_seq IS NULL AND consent IS NULL \
             AND created_at < ?1",
        )?
        .execute([cutoff])?;
    Ok(n as u64)
}

pub(super) fn content_in_use(conn: &Connection, sha256: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM attachments WHERE sha256 = ?1 LIMIT 1")?
        .query_row([sha256], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Claims the attachments of the batch's new messages for them, inside the commit: each must
/// still be unposted, the author's, in the message's room; otherwise the batch fails with
/// `Refused` (the committer then isolates that post).
pub(super) fn claim<'a>(
    conn: &Connection,
    messages: impl Iterator<Item = &'a Message>,
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE attachments SET message_seq = ?1, client_id = ?2, position = ?3 \
         WHERE id = ?4 AND room = ?5 AND uploader = ?6 AND message_seq IS NULL \
         AND consent IS NULL",
    )?;
    for m in messages {
        for (i, a) in m.attachments.iter().enumerate() {
            let n = stmt.execute(params![
                convert::db_seq(m.seq),
                m.client_id.as_str(),
                i as i64,
                a.id.as_str(),
                m.room.as_str(),
                m.author.id.as_str(),
            ])?;
            if n != 1 {
                return Err(StoreError::Refused(format!(
                    "attachments: '{}' is no longer available (posted or expired)",
                    a.id
                )));
            }
        }
    }
    Ok(())
}

/// Keeps the upload `document` of `room` for consent `consent`, inside the consent's
/// transaction: an upload by `uploader` never posted nor kept is claimed; one posted in a
/// message or kept by another consent stays as it is. Anything else (gone since the check, or
/// another room's) fails with `Refused`, and the consent with it.
pub(super) fn keep_for_consent(
    conn: &Connection,
    room: &str,
    document: &str,
    uploader: &str,
    consent: &str,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE attachments SET consent = ?1 WHERE id = ?2 AND room = ?3 AND uploader = ?4 \
         AND message_seq IS NULL AND consent IS NULL",
    )?
    .execute(params![consent, document, room, uploader])?;
    let kept = conn
        .prepare_cached(
            "SELECT 1 FROM attachments WHERE id = ?1 AND room = ?2 \
             AND (message_seq IS NOT NULL OR consent IS NOT NULL)",
        )?
        .query_row(params![document, room], |_| Ok(()))
        .optional()?
        .is_some();
    if kept {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "document: '{document}' is no longer available (expired or not this room's)"
        )))
    }
}

/// Puts each message's attachments (in their order) into a page of messages of one room.
pub(super) fn fill(conn: &Connection, messages: &mut [Message]) -> StoreResult<()> {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(());
    };
    let (room, lo, hi) = (
        first.room.clone(),
        first.seq.min(last.seq),
        first.seq.max(last.seq),
    );
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM attachments WHERE room = ?1 AND message_seq BETWEEN ?2 AND ?3 \
         ORDER BY message_seq, position"
    ))?;
    let rows = stmt.query_map(
        params![room.as_str(), convert::db_seq(lo), convert::db_seq(hi)],
        Row_::read,
    )?;
    for row in rows {
        let r = row?.into_record()?;
        if let Some((seq, _)) = &r.posted {
            if let Ok(i) = messages.binary_search_by_key(seq, |m| m.seq) {
                messages[i].attachments.push(r.attachment);
            }
        }
    }
    Ok(())
}

/// An `attachments` row as stored.
struct Row_ {
    id: String,
    name: String,
    kind: String,
    size: i64,
    sha256: String,
    width: Option<u32>,
    height: Option<u32>,
    room: String,
    uploader: String,
    created_at: i64,
    message_seq: Option<i64>,
    client_id: Option<String>,
    consent: Option<String>,
}

impl Row_ {
    fn read(r: &Row<'_>) -> rusqlite::Result<Row_> {
        Ok(Row_ {
            id: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
            size: r.get(3)?,
            sha256: r.get(4)?,
            width: r.get(5)?,
            height: r.get(6)?,
            room: r.get(7)?,
            uploader: r.get(8)?,
            created_at: r.get(9)?,
            message_seq: r.get(10)?,
            client_id: r.get(11)?,
            consent: r.get(12)?,
        })
    }

    fn into_record(self) -> StoreResult<AttachmentRecord> {
        let posted = match (self.message_seq, self.client_id) {
            (Some(seq), Some(c)) => Some((convert::seq(seq), convert::client_id(c)?)),
            _ => None,
        };
        Ok(AttachmentRecord {
            attachment: convert::attachment(
                self.id,
                self.name,
                &self.kind,
                self.size,
                self.sha256,
                self.width,
                self.height,
            )?,
            room: convert::room_id(self.room)?,
            uploader: convert::user_id(self.uploader)?,
            created_at: convert::time(self.created_at),
            posted,
            consent: self.consent,
        })
    }
}

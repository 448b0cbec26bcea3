//! History: messages after a seq (catch-up) and before one (paging back).

use crate::store::{convert, StoreResult};
use rusqlite::{params, Connection, Row};
use yui_protocol::ids::RoomId;
use yui_protocol::model::Message;

/// The columns [`MessageRow::read`] reads, in its order.
pub(super) const MESSAGE_COLUMNS: &str = "room, seq, id, client_id, author_id, author_name, \
                                          author_profession, author_org, kind, body, at";

pub(super) fn after(
    conn: &Connection,
    room: &RoomId,
    after: u64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let mut stmt = conn.prepare_cached(
        "SELECT room, seq, id, client_id, author_id, author_name, author_profession, \
         author_org, kind, body, at FROM messages WHERE room = ?1 AND seq > ?2 \
         ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![room.as_str(), convert::db_seq(after), i64::from(limit)],
        MessageRow::read,
    )?;
    let mut messages = rows
        .map(|r| r?.into_message())
        .collect::<StoreResult<Vec<_>>>()?;
    super::attachments::fill(conn, &mut messages)?;
    Ok(messages)
}

pub(super) fn before(
    conn: &Connection,
    room: &RoomId,
    before: Option<u64>,
    limit: u32,
) -> StoreResult<(Vec<Message>, bool)> {
    let mut stmt = conn.prepare_cached(
        "SELECT room, seq, id, client_id, author_id, author_name, author_profession, \
         author_org, kind, body, at FROM messages WHERE room = ?1 AND seq < ?2 \
         ORDER BY seq DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![
            room.as_str(),
            before.map(convert::db_seq).unwrap_or(i64::MAX),
            i64::from(limit) + 1
        ],
        MessageRow::read,
    )?;
    let rows = rows.collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > limit as usize;
    let mut messages = rows
        .into_iter()
        .take(limit as usize)
        .map(MessageRow::into_message)
        .collect::<StoreResult<Vec<_>>>()?;
    messages.reverse();
    super::attachments::fill(conn, &mut messages)?;
    Ok((messages, more))
}

/// A `messages` row as stored, validated by [`MessageRow::into_message`].
pub(super) struct MessageRow {
    room: String,
    seq: i64,
    id: String,
    client_id: String,
    author_id: String,
    author_name: String,
    author_profession: String,
    author_org: String,
    kind: String,
    body: String,
    at: i64,
}

impl MessageRow {
    /// Reads the [`MESSAGE_COLUMNS`] of a row, in that order.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
        Ok(MessageRow {
            room: r.get(0)?,
            seq: r.get(1)?,
            id: r.get(2)?,
            client_id: r.get(3)?,
            author_id: r.get(4)?,
            author_name: r.get(5)?,
            author_profession: r.get(6)?,
            author_org: r.get(7)?,
            kind: r.get(8)?,
            body: r.get(9)?,
            at: r.get(10)?,
        })
    }

    pub(super) fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            room: convert::room_id(self.room)?,
            seq: convert::seq(self.seq),
            id: self.id,
            client_id: convert::client_id(self.client_id)?,
            author: convert::user_ref(
                self.author_id,
                self.author_name,
                &self.author_profession,
                self.author_org,
            )?,
            kind: convert::message_kind(&self.kind)?,
            body: self.body,
            at: convert::time(self.at),
            priority: Default::default(),
            mentions: Vec::new(),
            attachments: Vec::new(),
            replaces: None,
            retracts: None,
            confirms: None,
            revised: None,
        })
    }
}

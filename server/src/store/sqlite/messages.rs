//! History: messages after a seq (catch-up) and before one (paging back).

use crate::store::{convert, StoreResult};
use rusqlite::{params, Connection, Row};
use yui_protocol::ids::RoomId;
use yui_protocol::model::Message;

/// The columns [`MessageRow::read`] reads, in its order.
pub(super) const MESSAGE_COLUMNS: &str = "room, seq, id, client_id, author_id, author_name, \
                                          author_profession, author_org, kind, body, at, \
                                          priority, mentions, replaces, retracts";

/// How many users confirmed message `m`, and the seq of its latest revision (history pages).
/// `+m.seq` has no column affinity: compared with the bare column, SQLite would apply the
/// column's INTEGER affinity to the `coalesce` expression and no longer use the
/// `messages_revisions` index for it, scanning the whole room per message of the page (2.2 s
/// instead of 0.2 ms for a page of a 50 000-message room).
const PAGE_COLUMNS: &str = "(SELECT COUNT(*) FROM confirmations c \
                            WHERE c.room = m.room AND c.seq = m.seq), \
                            (SELECT MAX(r.seq) FROM messages r WHERE r.room = m.room \
                            AND coalesce(r.replaces, r.retracts) = +m.seq)";

pub(super) fn after(
    conn: &Connection,
    room: &RoomId,
    after: u64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 AND seq > ?2 \
         ORDER BY seq LIMIT ?3"
    ))?;
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
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS}, {PAGE_COLUMNS} FROM messages m WHERE room = ?1 AND seq < ?2 \
         ORDER BY seq DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![
            room.as_str(),
            before.map(convert::db_seq).unwrap_or(i64::MAX),
            i64::from(limit) + 1
        ],
        |r| {
            let row = MessageRow::read(r)?;
            let confirms: i64 = r.get(MESSAGE_COLUMN_COUNT)?;
            let revised: Option<i64> = r.get(MESSAGE_COLUMN_COUNT + 1)?;
            Ok((row, confirms, revised))
        },
    )?;
    let rows = rows.collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > limit as usize;
    let mut messages = rows
        .into_iter()
        .take(limit as usize)
        .map(|(row, confirms, revised)| {
            let mut m = row.into_message()?;
            m.confirms = Some(convert::seq(confirms));
            m.revised = revised.map(convert::seq);
            Ok(m)
        })
        .collect::<StoreResult<Vec<_>>>()?;
    messages.reverse();
    super::attachments::fill(conn, &mut messages)?;
    Ok((messages, more))
}

/// How many columns [`MESSAGE_COLUMNS`] names.
const MESSAGE_COLUMN_COUNT: usize = 15;

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
    priority: String,
    mentions: String,
    replaces: Option<i64>,
    retracts: Option<i64>,
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
            priority: r.get(11)?,
            mentions: r.get(12)?,
            replaces: r.get(13)?,
            retracts: r.get(14)?,
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
            priority: convert::priority(&self.priority)?,
            mentions: convert::mentions(&self.mentions)?,
            attachments: Vec::new(),
            replaces: self.replaces.map(convert::seq),
            retracts: self.retracts.map(convert::seq),
            confirms: None,
            revised: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::sqlite::migrate;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    }

    /// A history page finds each message's latest revision through the index, never by
    /// scanning the room (the affinity trap `PAGE_COLUMNS` explains).
    #[test]
    fn a_history_page_uses_the_revisions_index() {
        let conn = Connection::open_in_memory().unwrap();
        migrate::run(&conn).unwrap();
        let p = plan(
            &conn,
            &format!(
                "SELECT {MESSAGE_COLUMNS}, {PAGE_COLUMNS} FROM messages m \
                 WHERE room = 'r' AND seq < 9 ORDER BY seq DESC LIMIT 51"
            ),
        );
        assert!(
            p.contains("messages_revisions (room=? AND <expr>=?)"),
            "{p}"
        );
    }
}

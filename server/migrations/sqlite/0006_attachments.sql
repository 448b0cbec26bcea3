-- Attachments (PROTOCOL.md 5.3): one row per upload; the bytes are files under the data
-- directory, named by sha256 (the same content stored once). `message_seq` is set, with
-- `client_id` and `position`, in the transaction of the post that claims it; rows never
-- claimed are deleted after a day.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    room         TEXT NOT NULL,
    uploader     TEXT NOT NULL,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   INTEGER NOT NULL,
    message_seq  INTEGER,
    client_id    TEXT,
    position     INTEGER
);
CREATE INDEX attachments_message ON attachments (room, message_seq);
CREATE INDEX attachments_unposted ON attachments (created_at) WHERE message_seq IS NULL;
CREATE INDEX attachments_sha256 ON attachments (sha256);

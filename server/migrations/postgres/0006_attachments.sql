-- Attachments (PROTOCOL.md 5.3): one row per upload, and the bytes in `attachment_blobs`,
-- named by sha256 (the same content stored once), so every node serves every attachment.
-- `message_seq` is set, with `client_id` and `position`, in the transaction of the post that
-- claims it; rows never claimed are deleted after a day.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    room         TEXT NOT NULL,
    uploader     TEXT NOT NULL,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   BIGINT NOT NULL,
    message_seq  BIGINT,
    client_id    TEXT,
    position     INTEGER
);
CREATE INDEX attachments_message ON attachments (room, message_seq);
CREATE INDEX attachments_unposted ON attachments (created_at) WHERE message_seq IS NULL;
CREATE INDEX attachments_sha256 ON attachments (sha256);

CREATE TABLE attachment_blobs (
    sha256   TEXT NOT NULL,
    variant  TEXT NOT NULL,
    bytes    BYTEA NOT NULL,
    put_at   BIGINT NOT NULL,
    PRIMARY KEY (sha256, variant)
);
CREATE INDEX attachment_blobs_put_at ON attachment_blobs (put_at);

-- Care notes (PROTOCOL.md 5.2): a message's priority, mentions and revision, confirmations.
-- A message row is never changed: a revision is a row of its own naming the original's seq in
-- `replaces` (an edit) or `retracts` (a withdrawal).
ALTER TABLE messages ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
-- The users mentioned, with their names at commit: a JSON array of {"id","name"}.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN replaces BIGINT;
ALTER TABLE messages ADD COLUMN retracts BIGINT;

-- Unread urgent messages of a (room, user): a range count over this index from the read
-- position on, so a room summary never scans the room.
CREATE INDEX messages_urgent ON messages (room, seq) WHERE priority = 'urgent';
-- The latest revision of a message (`revised` in history pages).
CREATE INDEX messages_revisions ON messages (room, (coalesce(replaces, retracts)), seq);

-- One row per mentioned user and message: unread mentions of a (room, user) are a range count
-- over the primary key from the read position on.
CREATE TABLE message_mentions (
    user_id  TEXT NOT NULL,
    room     TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    PRIMARY KEY (user_id, room, seq)
);

-- Explicit confirmations (確認しました), once per user and message, never removed.
CREATE TABLE confirmations (
    room     TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    user_id  TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (room, seq, user_id)
);

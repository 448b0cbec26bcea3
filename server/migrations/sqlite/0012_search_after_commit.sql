-- Search indexed after the commit (issue 14): a group commit only queues each new message in
-- message_search_rows (which gives it the index's next rowid, so rowid order stays commit
-- order); the FTS5 entries are written by a follower in transactions of their own, many
-- messages at once, and by a search before it reads. `upto` is the last row whose entry is
-- written: every row up to here is indexed, every row after it is queued.
CREATE TABLE search_indexed (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    upto  INTEGER NOT NULL
);
INSERT INTO search_indexed (id, upto) SELECT 1, COALESCE(MAX(id), 0) FROM message_search_rows;

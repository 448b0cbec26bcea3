-- Search in time order (issue 12): the first page of a frequent word stops early by walking the
-- FTS5 index in descending rowid order, which must then be the messages' (at, id) order. New
-- messages are indexed in commit order (their `at` is the commit's time); the messages indexed
-- by the 0008 backfill were in (room, seq) order, so the index is emptied here and rebuilt by
-- the hub when it opens the store, in (at, id) order (server/src/store/sqlite/search.rs).
INSERT INTO message_search (message_search) VALUES ('delete-all');
DELETE FROM message_search_rows;
ALTER TABLE search_backfill ADD COLUMN at INTEGER NOT NULL DEFAULT -1;
ALTER TABLE search_backfill ADD COLUMN mid TEXT NOT NULL DEFAULT '';
UPDATE search_backfill
    SET done = CASE WHEN EXISTS (SELECT 1 FROM messages) THEN 0 ELSE 1 END, at = -1, mid = '';
-- A `before` cursor is found in the index by its message.
CREATE INDEX message_search_rows_message ON message_search_rows (room, seq);

-- Search in time order (issue 12): each indexed message's (at, id) beside its terms, with a
-- btree on them, so that the planner can walk a frequent word's matches newest first and stop
-- at the first page (a rare word still goes through the GIN index and sorts its few matches).
ALTER TABLE message_search ADD COLUMN at BIGINT, ADD COLUMN id TEXT;
UPDATE message_search s SET at = m.at, id = m.id
    FROM messages m WHERE m.room = s.room AND m.seq = s.seq;
DELETE FROM message_search WHERE at IS NULL;
ALTER TABLE message_search ALTER COLUMN at SET NOT NULL, ALTER COLUMN id SET NOT NULL;
CREATE INDEX message_search_time ON message_search (at, id);

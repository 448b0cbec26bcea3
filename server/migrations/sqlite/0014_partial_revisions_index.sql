-- The revisions index holds revisions only (issue 14): a history page looks a message's latest
-- revision up by `coalesce(replaces, retracts) = seq`, which no plain note matches, so indexing
-- every note's NULL key cost each post one more b-tree insert for nothing.
DROP INDEX messages_revisions;
CREATE INDEX messages_revisions ON messages (room, coalesce(replaces, retracts), seq)
    WHERE coalesce(replaces, retracts) IS NOT NULL;

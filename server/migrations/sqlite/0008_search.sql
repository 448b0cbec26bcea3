-- Search (PROTOCOL.md 5.5): an FTS5 index of each message's bigram terms and room term, made
-- by the hub at write time (server/src/store/search.rs).
-- Contentless (the text is in messages) and without positions (detail=none): terms are only
-- ANDed, the hub checks each candidate for the words themselves. The `ascii` tokenizer splits
-- the space-separated terms, which are plain ASCII. Its rowid is message_search_rows.id (an
-- INTEGER PRIMARY KEY, which VACUUM keeps, unlike the implicit rowid of messages).
CREATE VIRTUAL TABLE message_search USING fts5(terms, content='', detail='none', tokenize='ascii');

CREATE TABLE message_search_rows (
    id    INTEGER PRIMARY KEY,
    room  TEXT NOT NULL,
    seq   INTEGER NOT NULL
);

-- Messages committed before this migration are indexed by the hub when it opens the store,
-- in (room, seq) order and in chunks, each chunk in its own transaction with the cursor.
CREATE TABLE search_backfill (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    done  INTEGER NOT NULL,
    room  TEXT NOT NULL,
    seq   INTEGER NOT NULL
);
INSERT INTO search_backfill (id, done, room, seq)
    VALUES (1, CASE WHEN EXISTS (SELECT 1 FROM messages) THEN 0 ELSE 1 END, '', 0);

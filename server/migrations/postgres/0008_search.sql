-- Search (PROTOCOL.md 5.5): each message's bigram terms, made by the hub at write time
-- (server/src/store/search.rs), in a GIN index (pg_trgm cannot look up two characters). The
-- room is a column: a search reads only the rooms the user reads now. The GIN index keeps its
-- pending list (fastupdate), so the insert in the group commit stays cheap.
CREATE TABLE message_search (
    room   TEXT NOT NULL,
    seq    BIGINT NOT NULL,
    terms  TEXT[] NOT NULL,
    PRIMARY KEY (room, seq)
);
CREATE INDEX message_search_terms ON message_search USING GIN (terms);

-- Messages committed before this migration are indexed by the hub when it connects, in chunks
-- (several nodes at once is safe: a row already indexed is skipped).
CREATE TABLE search_backfill (
    id    INT PRIMARY KEY CHECK (id = 1),
    done  BOOLEAN NOT NULL
);
INSERT INTO search_backfill (id, done) VALUES (1, NOT EXISTS (SELECT 1 FROM messages));

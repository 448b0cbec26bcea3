-- Search indexed after the commit (issue 14): a group commit only queues each new message
-- here, in the statement that inserts it; the bigram terms (a GIN entry per distinct bigram,
-- ~50-100 per note, which cost more than the rest of the commit) are written to
-- message_search by a follower on any node, many messages per transaction, and by a search
-- before it reads. A row here is a message whose terms are not written yet.
CREATE TABLE search_queue (
    room  TEXT NOT NULL,
    seq   BIGINT NOT NULL,
    PRIMARY KEY (room, seq)
);

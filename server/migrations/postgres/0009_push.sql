-- Web Push (PROTOCOL.md 5.6). Timestamps are milliseconds since the epoch.

-- The hub's VAPID key pair: one row, made once (the first insert wins; every node reads it).
CREATE TABLE vapid_key (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    private_pem  TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- A browser's push subscription. town and admin are the user's at the last subscribe, to
-- know who may read a town room.
CREATE TABLE push_subscriptions (
    endpoint    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    town        TEXT NOT NULL,
    admin       BOOLEAN NOT NULL DEFAULT FALSE,
    p256dh      TEXT NOT NULL,
    auth        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);
CREATE INDEX push_subscriptions_town ON push_subscriptions (town);

-- The outbox: one row per subscription and room. pending: a push is to be sent at due_at; a
-- row is claimed by one node (claimed_by, until claimed_until: the lease); a post that arrives
-- while it is claimed sets again (with next_urgent, next_mentioned), so it is sent once more
-- after the window. sent_at: when the last push went out (the coalescing window), kept in the
-- same row so that queueing reads it under the row's lock. Idle rows past their window are
-- pruned.
CREATE TABLE push_outbox (
    endpoint        TEXT NOT NULL,
    room            TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    due_at          BIGINT NOT NULL,
    urgent          BOOLEAN NOT NULL DEFAULT FALSE,
    mentioned       BOOLEAN NOT NULL DEFAULT FALSE,
    again           BOOLEAN NOT NULL DEFAULT FALSE,
    next_urgent     BOOLEAN NOT NULL DEFAULT FALSE,
    next_mentioned  BOOLEAN NOT NULL DEFAULT FALSE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    pending         BOOLEAN NOT NULL DEFAULT TRUE,
    sent_at         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint, room)
);
CREATE INDEX push_outbox_due ON push_outbox (pending, due_at);

-- Who has a connection subscribed to a room, per node, kept fresh by each node (expires_at):
-- a node that dies stops counting once its rows expire.
CREATE TABLE push_presence (
    node        TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    room        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, room, node)
);
CREATE INDEX push_presence_node ON push_presence (node);

-- Email digests: a user's address (the email claim of their last token), whether they want
-- digests, and when the last one was claimed (once per user per interval, on one node) with
-- the unread count it reported.
CREATE TABLE push_digest (
    user_id       TEXT PRIMARY KEY,
    email         TEXT,
    town          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    last_sent_at  BIGINT NOT NULL DEFAULT 0,
    last_unread   BIGINT NOT NULL DEFAULT 0
);

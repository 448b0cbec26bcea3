-- Yui schema, Postgres (cluster mode). Timestamps are milliseconds since the epoch.
CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    profession  TEXT NOT NULL,
    org         TEXT NOT NULL,
    town        TEXT,
    from_token  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX users_town ON users (town);

CREATE TABLE rooms (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL,
    town           TEXT NOT NULL,
    resident_id    TEXT,
    resident_name  TEXT,
    last_seq       BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);
CREATE INDEX rooms_town ON rooms (town, kind);

CREATE TABLE members (
    room      TEXT NOT NULL REFERENCES rooms (id),
    user_id   TEXT NOT NULL,
    role      TEXT NOT NULL,
    added_at  BIGINT NOT NULL,
    PRIMARY KEY (room, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE messages (
    room               TEXT NOT NULL,
    seq                BIGINT NOT NULL,
    id                 TEXT NOT NULL UNIQUE,
    client_id          TEXT NOT NULL,
    author_id          TEXT NOT NULL,
    author_name        TEXT NOT NULL,
    author_profession  TEXT NOT NULL,
    author_org         TEXT NOT NULL,
    kind               TEXT NOT NULL,
    body               TEXT NOT NULL,
    at                 BIGINT NOT NULL,
    PRIMARY KEY (room, seq),
    UNIQUE (room, author_id, client_id)
);

CREATE TABLE read_positions (
    room     TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (room, user_id)
);

CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    room        TEXT NOT NULL,
    target      TEXT
);
CREATE INDEX audit_room ON audit (room, id);
CREATE INDEX audit_actor ON audit (actor_id, id);
CREATE INDEX audit_target ON audit (target, id);

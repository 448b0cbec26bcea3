-- PROTOCOL.md 5.4 and the mute of 5.5. The resident's v1 id and name stay in rooms; the rest of
-- the profile is here. Consents are never erased (a trigger refuses DELETE); a withdrawal fills
-- the withdrawn_* columns once. A user's settings per room hold the mute. last_seen: when a
-- token of the user was last accepted (to within five minutes), for the town directory.
CREATE TABLE resident_profiles (
    room        TEXT PRIMARY KEY REFERENCES rooms (id),
    kana        TEXT,
    birth_year  INTEGER,
    household   TEXT NOT NULL DEFAULT '[]',
    notes       TEXT,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);

CREATE TABLE consents (
    id                 TEXT PRIMARY KEY,
    room               TEXT NOT NULL REFERENCES rooms (id),
    given_by           TEXT NOT NULL,
    relation           TEXT NOT NULL,
    date               TEXT NOT NULL,
    explained_by       TEXT NOT NULL,
    scope              TEXT,
    document           TEXT,
    recorded_by_id     TEXT NOT NULL,
    recorded_by_name   TEXT NOT NULL,
    recorded_at        BIGINT NOT NULL,
    withdrawn_date     TEXT,
    withdrawn_note     TEXT,
    withdrawn_by_id    TEXT,
    withdrawn_by_name  TEXT,
    withdrawn_at       BIGINT
);
CREATE INDEX consents_room ON consents (room, recorded_at);
CREATE FUNCTION consents_never_erased() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consents are never erased';
END;
$$;
CREATE TRIGGER consents_never_erased BEFORE DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_never_erased();

CREATE TABLE room_settings (
    room         TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    muted_until  BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (room, user_id)
);
CREATE INDEX room_settings_user ON room_settings (user_id);

ALTER TABLE users ADD COLUMN last_seen BIGINT;

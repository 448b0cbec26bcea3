-- Presence by node liveness (issue 14): a node's presence rows count while its row here has
-- not expired. Refreshing presence is then one row per node, not an update of every
-- (user, room) the node serves (10,000 rows a second per node in a reconnect storm). A node
-- that starts removes its own old rows and those of nodes that have expired.
CREATE TABLE push_nodes (
    node        TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
INSERT INTO push_nodes (node, expires_at)
    SELECT node, MAX(expires_at) FROM push_presence GROUP BY node;
ALTER TABLE push_presence DROP COLUMN expires_at;
-- Who is present in a room: the fan-out and the sender ask by room.
CREATE INDEX push_presence_room ON push_presence (room);

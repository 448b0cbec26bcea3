-- One row that /readyz rewrites while the store is not ready: a write that commits proves the
-- store can commit again (a full disk freed, a read-only file writable), so a node that no
-- traffic reaches (a load balancer took it out) still comes back.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);

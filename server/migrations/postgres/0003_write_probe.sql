-- One row that /readyz rewrites while the store is not ready: a write that commits proves the
-- store can commit again, so a node that no traffic reaches (a load balancer took it out) still
-- comes back.
CREATE TABLE IF NOT EXISTS write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);

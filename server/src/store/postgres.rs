//! Postgres store (cluster mode).

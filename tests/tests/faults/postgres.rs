//! Postgres under faults (filled in by the next commit).

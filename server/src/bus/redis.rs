//! Redis pub/sub bus (cluster mode).

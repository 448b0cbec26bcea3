//! Whether a store's last write transaction failed for want of the database (a full disk, an
//! I/O error, Postgres gone): `/readyz` is 503 from such a failure until the next write that
//! commits. Reads may still answer while commits cannot, so a read alone proves nothing.

use super::{DbError, StoreError, StoreResult};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub(crate) struct WriteHealth(AtomicBool);

impl WriteHealth {
    pub(crate) fn new() -> WriteHealth {
        WriteHealth(AtomicBool::new(true))
    }

    /// Records how a write transaction ended and passes its result on.
    pub(crate) fn settle<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        match &result {
            Ok(_) => self.0.store(true, Ordering::Release),
            Err(StoreError::Unavailable(_)) => self.0.store(false, Ordering::Release),
            Err(_) => {}
        }
        result
    }

    pub(crate) fn check(&self) -> StoreResult<()> {
        if self.0.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(StoreError::Unavailable(DbError::Store(
                "the last write transaction failed; not ready until one commits".into(),
            )))
        }
    }
}

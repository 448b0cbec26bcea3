//! Where attachment bytes live: the [`BlobStore`] trait, content-addressed by SHA-256 (the same
//! photo uploaded twice is stored once), and its implementations: [`fs`] (files under the data
//! directory, the embedded hub) and [`postgres`] (a table shared by every node of a cluster).
//! An S3-compatible store implements the same five calls.
//!
//! A blob's last `put` time is kept: garbage collection deletes only blobs put before its
//! cutoff (and unreferenced), checked again at the delete, so a blob put again by a new upload
//! while the collector runs is never taken from under it.

use async_trait::async_trait;
use bytes::Bytes;
use std::time::SystemTime;

pub mod fs;
pub mod postgres;

/// Which of an attachment's blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Thumbnail => "thumb",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "original" => Some(Variant::Original),
            "thumb" => Some(Variant::Thumbnail),
            _ => None,
        }
    }
}

/// A blob's name: the SHA-256 of the original's stored bytes (64 lower-case hex digits,
/// checked) and the variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey {
    sha256: String,
    pub variant: Variant,
}

impl BlobKey {
    pub fn new(sha256: &str, variant: Variant) -> Option<BlobKey> {
        let ok = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| BlobKey {
            sha256: sha256.to_owned(),
            variant,
        })
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The storage cannot take or give the blob now (a full disk, an I/O error, the database
    /// unreachable): retry later.
    #[error("attachment storage unavailable: {0}")]
    Unavailable(String),
    #[error("attachment storage failure: {0}")]
    Internal(String),
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        BlobError::Unavailable(e.to_string())
    }
}

impl From<sqlx::Error> for BlobError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) => BlobError::Internal(db.to_string()),
            other => BlobError::Unavailable(other.to_string()),
        }
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the blob durably before returning (so before the upload is answered 201). A blob
    /// already stored under the key (the same content) is kept as it is; its put time is
    /// renewed.
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError>;

    /// The blob's bytes; `None` when there is none under the key.
    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>, BlobError>;

    /// The blobs last put before `cutoff`: the candidates for garbage collection.
    async fn put_before(&self, cutoff: SystemTime) -> Result<Vec<BlobKey>, BlobError>;

    /// Deletes the blob if it was last put before `cutoff` (checked at the delete); true when
    /// it was deleted.
    async fn delete_if_put_before(
        &self,
        key: &BlobKey,
        cutoff: SystemTime,
    ) -> Result<bool, BlobError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// What every blob store does, run against each.
    pub async fn conformance(store: &dyn BlobStore) {
        let sha = "ab".repeat(32);
        let key = BlobKey::new(&sha, Variant::Original).unwrap();
        let thumb = BlobKey::new(&sha, Variant::Thumbnail).unwrap();
        assert!(store.get(&key).await.unwrap().is_none());
        store.put(&key, Bytes::from_static(b"one")).await.unwrap();
        store.put(&thumb, Bytes::from_static(b"t")).await.unwrap();
        // The same content again: kept once.
        store.put(&key, Bytes::from_static(b"one")).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap(), &b"one"[..]);
        assert_eq!(store.get(&thumb).await.unwrap().unwrap(), &b"t"[..]);
        let past = SystemTime::now() - Duration::from_secs(3600);
        assert!(store.put_before(past).await.unwrap().is_empty());
        assert!(!store.delete_if_put_before(&key, past).await.unwrap());
        let future = SystemTime::now() + Duration::from_secs(3600);
        let mut stale = store.put_before(future).await.unwrap();
        stale.sort_by_key(|k| k.variant.as_str());
        assert_eq!(stale, vec![key.clone(), thumb.clone()]);
        assert!(store.delete_if_put_before(&key, future).await.unwrap());
        assert!(store.get(&key).await.unwrap().is_none());
        assert!(!store.delete_if_put_before(&key, future).await.unwrap());
        assert!(store.get(&thumb).await.unwrap().is_some());
        assert!(BlobKey::new("AB", Variant::Original).is_none());
        assert!(BlobKey::new(&"g".repeat(64), Variant::Original).is_none());
    }
}

//! Blobs in Postgres (`attachment_blobs`, migration 0006), so every node of a cluster serves
//! every attachment. A put is committed before it returns.

use super::{BlobError, BlobKey, BlobStore, Variant};
use async_trait::async_trait;
use bytes::Bytes;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct PgBlobStore {
    pool: PgPool,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl PgBlobStore {
    /// A small pool of its own on the cluster's database (the store has applied the
    /// migrations).
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgBlobStore, BlobError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        Ok(PgBlobStore { pool })
    }
}

#[async_trait]
impl BlobStore for PgBlobStore {
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        let now = millis(SystemTime::now());
        // The content is the key's: a blob already there only has its put time renewed, and
        // its bytes are not sent again.
        let renewed = sqlx::query(
            "UPDATE attachment_blobs SET put_at = $3 WHERE sha256 = $1 AND variant = $2",
        )
        .bind(key.sha256())
        .bind(key.variant.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if renewed == 0 {
            sqlx::query(
                "INSERT INTO attachment_blobs (sha256, variant, bytes, put_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256, variant) DO UPDATE SET put_at = excluded.put_at",
            )
            .bind(key.sha256())
            .bind(key.variant.as_str())
            .bind(bytes.as_ref())
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>, BlobError> {
        let row =
            sqlx::query("SELECT bytes FROM attachment_blobs WHERE sha256 = $1 AND variant = $2")
                .bind(key.sha256())
                .bind(key.variant.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(Some(Bytes::from(r.try_get::<Vec<u8>, _>("bytes")?))),
            None => Ok(None),
        }
    }

    async fn put_before(&self, cutoff: SystemTime) -> Result<Vec<BlobKey>, BlobError> {
        let rows = sqlx::query("SELECT sha256, variant FROM attachment_blobs WHERE put_at < $1")
            .bind(millis(cutoff))
            .fetch_all(&self.pool)
            .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows {
            let sha: String = r.try_get("sha256")?;
            let variant: String = r.try_get("variant")?;
            if let Some(key) = Variant::parse(&variant).and_then(|v| BlobKey::new(&sha, v)) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    async fn delete_if_put_before(
        &self,
        key: &BlobKey,
        cutoff: SystemTime,
    ) -> Result<bool, BlobError> {
        let n = sqlx::query(
            "DELETE FROM attachment_blobs WHERE sha256 = $1 AND variant = $2 AND put_at < $3",
        )
        .bind(key.sha256())
        .bind(key.variant.as_str())
        .bind(millis(cutoff))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}

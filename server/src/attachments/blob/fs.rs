//! Blobs as files under `<data dir>/attachments/`: `<first two hex digits>/<sha256>` and
//! `<...>.thumb`. A put writes a temporary file, fsyncs it, renames it into place and fsyncs
//! the directory, so a blob that was answered is on the disk; a failed write (a full disk)
//! is an error and leaves no partial file under the key.

use super::{BlobError, BlobKey, BlobStore, Variant};
use async_trait::async_trait;
use bytes::Bytes;
use std::fs::{self, File, FileTimes};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub struct FsBlobStore {
    root: PathBuf,
    /// Held (never across an `.await`: every use is inside one blocking task) while a blob is
    /// renamed into place or its put time renewed, and while the collector checks a blob's age
    /// and deletes it: a new upload of the same content and the collector never interleave.
    gate: Arc<Mutex<()>>,
}

impl FsBlobStore {
    /// Blobs under `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<FsBlobStore, BlobError> {
        fs::create_dir_all(dir.join("tmp"))?;
        // Temporary files of a put that was interrupted (a crash) are never named by anyone.
        if let Ok(entries) = fs::read_dir(dir.join("tmp")) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(FsBlobStore {
            root: dir.to_owned(),
            gate: Arc::new(Mutex::new(())),
        })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        path_of(&self.root, key)
    }

    /// Every blob file, for tests: how many files the store holds.
    pub fn file_count(&self) -> usize {
        self.scan().map(|v| v.len()).unwrap_or(0)
    }

    fn scan(&self) -> std::io::Result<Vec<(BlobKey, SystemTime)>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            let name = shard.file_name();
            if name == "tmp" || !shard.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(shard.path())? {
                let f = f?;
                let name = f.file_name();
                let Some(name) = name.to_str() else { continue };
                let (sha, variant) = match name.strip_suffix(".thumb") {
                    Some(sha) => (sha, Variant::Thumbnail),
                    None => (name, Variant::Original),
                };
                if let Some(key) = BlobKey::new(sha, variant) {
                    out.push((key, f.metadata()?.modified()?));
                }
            }
        }
        Ok(out)
    }
}

fn path_of(root: &Path, key: &BlobKey) -> PathBuf {
    let sha = key.sha256();
    let name = match key.variant {
        Variant::Original => sha.to_owned(),
        Variant::Thumbnail => format!("{sha}.thumb"),
    };
    root.join(&sha[..2]).join(name)
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Internal(format!("blob task failed: {e}")))?
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        let (root, path, gate) = (self.root.clone(), self.path(key), self.gate.clone());
        blocking(move || {
            let renew = |path: &Path| -> std::io::Result<bool> {
                match File::options().write(true).open(path) {
                    Ok(f) => {
                        f.set_times(FileTimes::new().set_modified(SystemTime::now()))?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e),
                }
            };
            {
                let _g = gate
                    .lock()
                    .map_err(|_| BlobError::Internal("gate poisoned".into()))?;
                if renew(&path)? {
                    return Ok(());
                }
            }
            let tmp = root.join("tmp").join(uuid::Uuid::now_v7().to_string());
            let written = (|| -> std::io::Result<()> {
                let mut f = File::create_new(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()
            })();
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(e.into());
            }
            let dir = path.parent().unwrap_or(&root).to_owned();
            let placed = (|| -> std::io::Result<()> {
                if !dir.exists() {
                    fs::create_dir_all(&dir)?;
                    fsync_dir(&root)?;
                }
                let _g = gate
                    .lock()
                    .map_err(|_| std::io::Error::other("gate poisoned"))?;
                fs::rename(&tmp, &path)?;
                fsync_dir(&dir)
            })();
            if let Err(e) = placed {
                let _ = fs::remove_file(&tmp);
                return Err(e.into());
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>, BlobError> {
        let path = self.path(key);
        blocking(move || match fs::read(&path) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
    }

    async fn put_before(&self, cutoff: SystemTime) -> Result<Vec<BlobKey>, BlobError> {
        let me = FsBlobStore {
            root: self.root.clone(),
            gate: self.gate.clone(),
        };
        blocking(move || {
            Ok(me
                .scan()?
                .into_iter()
                .filter(|(_, t)| *t < cutoff)
                .map(|(k, _)| k)
                .collect())
        })
        .await
    }

    async fn delete_if_put_before(
        &self,
        key: &BlobKey,
        cutoff: SystemTime,
    ) -> Result<bool, BlobError> {
        let (path, gate) = (self.path(key), self.gate.clone());
        blocking(move || {
            let _g = gate
                .lock()
                .map_err(|_| BlobError::Internal("gate poisoned".into()))?;
            let modified = match fs::metadata(&path) {
                Ok(m) => m.modified()?,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            if modified >= cutoff {
                return Ok(false);
            }
            fs::remove_file(&path)?;
            if let Some(dir) = path.parent() {
                fsync_dir(dir)?;
            }
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fs_blob_store_conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        crate::attachments::blob::tests::conformance(&store).await;
        // One file left: the thumbnail; nothing in tmp.
        assert_eq!(store.file_count(), 1);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}

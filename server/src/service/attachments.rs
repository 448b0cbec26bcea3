//! Attachments (PROTOCOL.md 5.3): who may upload, download and post them, and the clean-up of
//! uploads never posted. What the bytes are is `attachments::media`'s; where they live, the
//! blob store's; their rows, the store's.

use super::{user_name, RoomService};
use crate::attachments::blob::{BlobError, BlobKey, BlobStore, Variant};
use crate::attachments::media::{self, Format, MediaError};
use crate::error::ApiError;
use crate::store::{AttachmentRecord, AuditRecord, Write};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use yui_protocol::claims::Identity;
use yui_protocol::ids::{AttachmentId, ClientId, FileName, RoomId};
use yui_protocol::model::{Attachment, AttachmentType, AuditAction, RoomKind, Timestamp};
use yui_protocol::ErrorCode;

/// How attachments are kept: where the bytes go, how large one may be.
pub struct AttachmentSettings {
    pub blobs: Arc<dyn BlobStore>,
    /// `--max-attachment-bytes`.
    pub max_bytes: usize,
}

/// What the attachment side of the service holds.
pub(super) struct AttachmentState {
    pub(super) blobs: Arc<dyn BlobStore>,
    pub(super) max_bytes: usize,
    /// Image decoding is CPU-bound: at most this many at once, so uploads cannot take every
    /// core from the hub's delivery.
    processing: Semaphore,
}

impl AttachmentState {
    pub(super) fn new(settings: AttachmentSettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AttachmentState {
            blobs: settings.blobs,
            max_bytes: settings.max_bytes,
            processing: Semaphore::new(cores.div_ceil(2).max(1)),
        }
    }
}

/// A download: the attachment and the bytes to send (the thumbnail's when asked for).
pub struct Download {
    pub attachment: Attachment,
    pub bytes: Bytes,
    pub content_type: &'static str,
}

/// What one clean-up removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    pub attachments: u64,
    pub blobs: u64,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such attachment")
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Unavailable(_) => ApiError::Unavailable(e.into()),
            BlobError::Internal(_) => ApiError::Internal(e.into()),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

fn format_of(t: AttachmentType) -> Format {
    match t {
        AttachmentType::Jpeg => Format::Jpeg,
        AttachmentType::Png => Format::Png,
        AttachmentType::Webp => Format::Webp,
        AttachmentType::Pdf => Format::Pdf,
    }
}

impl RoomService {
    /// The largest attachment this hub takes (`--max-attachment-bytes`).
    pub fn max_attachment_bytes(&self) -> usize {
        self.attachments.max_bytes
    }

    /// Whether `who` may upload to `room` (its posters): checked before the body is read.
    pub async fn may_upload(&self, who: &Identity, room: &RoomId) -> Result<(), ApiError> {
        let access = self.readable(who, room).await?;
        if !access.can_post(who) {
            return Err(ApiError::forbidden(
                "only the room's posters upload attachments to it",
            ));
        }
        Ok(())
    }

    /// Stores an upload: its content checked against the declared type, an image stripped of
    /// its metadata with its thumbnail; the bytes are durable before the row is written, and
    /// the row before this returns (so before the 201).
    pub async fn upload(
        &self,
        who: &Identity,
        room: &RoomId,
        name: FileName,
        declared: AttachmentType,
        body: Bytes,
    ) -> Result<Attachment, ApiError> {
        self.may_upload(who, room).await?;
        let processed =
            {
                let _permit =
                    self.attachments.processing.acquire().await.map_err(|_| {
                        ApiError::Unavailable(anyhow::anyhow!("node is shutting down"))
                    })?;
                let format = format_of(declared);
                tokio::task::spawn_blocking(move || media::process(format, body))
                    .await
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("processing failed: {e}")))??
            };
        let key = BlobKey::new(&processed.sha256, Variant::Original)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("bad sha256")))?;
        let size = processed.bytes.len() as u64;
        self.attachments.blobs.put(&key, processed.bytes).await?;
        if let Some(thumb) = processed.thumbnail {
            let key = BlobKey::new(&processed.sha256, Variant::Thumbnail)
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("bad sha256")))?;
            self.attachments.blobs.put(&key, thumb).await?;
        }
        let id = AttachmentId::parse(format!("att_{}", uuid::Uuid::now_v7().simple()))?;
        let attachment = Attachment {
            id,
            name,
            content_type: declared,
            size,
            sha256: processed.sha256,
            width: processed.dimensions.map(|d| d.0),
            height: processed.dimensions.map(|d| d.1),
        };
        let record = AttachmentRecord {
            attachment: attachment.clone(),
            room: room.clone(),
            uploader: who.user.id.clone(),
            created_at: Timestamp::now(),
            posted: None,
            consent: None,
        };
        self.store.insert_attachment(&record).await?;
        metrics::counter!("yui_attachments_uploaded_total").increment(1);
        Ok(attachment)
    }

    /// The attachment's bytes (or its thumbnail), for the readers of the room whose message
    /// (or consent) holds it, or its uploader before that; anyone else gets `not_found`. Written to the
    /// access log before anything is sent.
    pub async fn download(
        &self,
        who: &Identity,
        id: &AttachmentId,
        thumb: bool,
    ) -> Result<Download, ApiError> {
        let record = self.store.attachment(id).await?.ok_or_else(not_found)?;
        if !record.kept() && record.uploader != who.user.id {
            return Err(not_found());
        }
        let Ok(access) = self.readable(who, &record.room).await else {
            return Err(not_found());
        };
        // As for a page of history: the cache may not know of a removal yet (a lost bus
        // event), so a team room's attachment goes only to a user the store still lists.
        if access.info.kind == RoomKind::Team
            && !self
                .store
                .members(&record.room)
                .await?
                .iter()
                .any(|m| m.id == who.user.id)
        {
            return Err(not_found());
        }
        let a = record.attachment;
        let is_image = format_of(a.content_type).is_image();
        if thumb && !is_image {
            return Err(ApiError::bad_request("thumb: only images have a thumbnail"));
        }
        let variant = if thumb {
            Variant::Thumbnail
        } else {
            Variant::Original
        };
        let key = BlobKey::new(&a.sha256, variant)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored sha256 is not hex")))?;
        let audit = AuditRecord {
            actor: user_name(who),
            action: AuditAction::ReadAttachment,
            room: record.room.clone(),
            target: None,
        };
        self.committer.commit(Write::Audit(audit), None).await?;
        let bytes = self.attachments.blobs.get(&key).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("attachment {id}: its bytes are missing"))
        })?;
        let content_type = if thumb {
            "image/jpeg"
        } else {
            a.content_type.as_str()
        };
        Ok(Download {
            attachment: a,
            bytes,
            content_type,
        })
    }

    /// The attachments a post names, checked: each uploaded by the author to this room and
    /// not in a message (or in the message this post is a retry of: same `client_id`).
    pub(super) async fn attachments_for_post(
        &self,
        who: &Identity,
        room: &RoomId,
        client_id: &ClientId,
        ids: &[AttachmentId],
    ) -> Result<Vec<Attachment>, ApiError> {
        let mut out: Vec<Attachment> = Vec::with_capacity(ids.len());
        for id in ids {
            let unknown =
                || ApiError::bad_request(format!("attachments: unknown attachment '{id}'"));
            if out.iter().any(|a| &a.id == id) {
                return Err(ApiError::bad_request(format!(
                    "attachments: '{id}' is named twice"
                )));
            }
            let record = self.store.attachment(id).await?.ok_or_else(unknown)?;
            if record.uploader != who.user.id || &record.room != room {
                return Err(unknown());
            }
            if record.consent.is_some() {
                return Err(ApiError::bad_request(format!(
                    "attachments: '{id}' is a consent's scanned document; upload it again to \
                     post it in a note"
                )));
            }
            match &record.posted {
                None => {}
                Some((_, c)) if c == client_id => {}
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "attachments: '{id}' is already in a message"
                    )))
                }
            }
            out.push(record.attachment);
        }
        Ok(out)
    }

    /// Deletes the uploads never posted that are older than `age`, then the stored bytes no
    /// upload names any more (put before the same cutoff). Safe on every node at once: each
    /// delete is conditional, and a blob put again meanwhile is kept.
    pub async fn collect_unposted(&self, age: Duration) -> Result<Collected, ApiError> {
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let cutoff_ms = cutoff
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let attachments = self
            .store
            .delete_unposted_attachments(Timestamp::from_millis(cutoff_ms))
            .await?;
        let mut blobs = 0;
        for key in self.attachments.blobs.put_before(cutoff).await? {
            if self.store.attachment_content_in_use(key.sha256()).await? {
                continue;
            }
            if self
                .attachments
                .blobs
                .delete_if_put_before(&key, cutoff)
                .await?
            {
                blobs += 1;
            }
        }
        if attachments > 0 || blobs > 0 {
            tracing::info!(attachments, blobs, "unposted attachments deleted");
        }
        Ok(Collected { attachments, blobs })
    }
}

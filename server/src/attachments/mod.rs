//! Attachments (PROTOCOL.md 5.3), apart from the rooms they are posted in: what an upload's
//! bytes are and what is kept of them ([`media`]: the type read from the content, metadata
//! stripped, size, thumbnail, SHA-256) and where the bytes live ([`blob`]: the `BlobStore`
//! trait, files under the data directory or a Postgres table). Who may upload, download or
//! post them is the room service's (`service::attachments`); their rows are the store's.

pub mod blob;
pub mod media;

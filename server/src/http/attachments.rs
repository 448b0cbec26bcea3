//! `POST /api/rooms/{room}/attachments?name=` (the upload, its body read up to
//! `--max-attachment-bytes` and no further) and `GET /api/attachments/{id}[?thumb=1]`.

use super::edge::too_large;
use super::extract::{is_length_limit, Auth};
use super::room_id;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use yui_protocol::ids::{AttachmentId, FileName};
use yui_protocol::model::{Attachment, AttachmentType};

#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

pub async fn upload(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let room = room_id(&room)?;
    // Who may upload is checked before a byte of the body is read.
    state.service.may_upload(&who, &room).await?;
    let name = FileName::parse_as(
        "name",
        q.name
            .ok_or_else(|| ApiError::bad_request("name: the file name is required (?name=)"))?,
    )?;
    let declared = declared_type(&headers)?;
    let max = state.service.max_attachment_bytes();
    // Counted while read: past the limit this is 413 at once (the edge also refused a larger
    // Content-Length before reading anything).
    let bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large(max)
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    let attachment = state
        .service
        .upload(&who, &room, name, declared, bytes)
        .await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

/// The declared `Content-Type` (its parameters ignored), one of the accepted four.
fn declared_type(headers: &HeaderMap) -> Result<AttachmentType, ApiError> {
    let raw = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    AttachmentType::parse(&essence).ok_or_else(|| {
        ApiError::bad_request(
            "Content-Type: must be image/jpeg, image/png, image/webp or application/pdf",
        )
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct DownloadQuery {
    thumb: Option<String>,
}

pub async fn download(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let id = AttachmentId::parse_as("id", id)?;
    let thumb = match q.thumb.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("thumb: must be 1 or 0")),
    };
    let d = state.service.download(&who, &id, thumb).await?;
    // Images are shown where they are opened; a PDF is saved, not run by a viewer in the
    // hub's origin.
    let disposition = if d.attachment.content_type == AttachmentType::Pdf && !thumb {
        "attachment"
    } else {
        "inline"
    };
    let name = if thumb {
        format!("{}.thumb.jpg", d.attachment.name.as_str())
    } else {
        d.attachment.name.as_str().to_owned()
    };
    let mut resp = d.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(d.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(disposition, &name)) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// RFC 5987 `attr-char`: what may stay unencoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `inline; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266 with
/// RFC 5987's encoding), so a Japanese name arrives whole and old clients get a safe one.
pub fn content_disposition(disposition: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR);
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_names_are_encoded_with_an_ascii_fallback() {
        assert_eq!(
            content_disposition("inline", "褥瘡 写真.jpg"),
            "inline; filename=\"__ __.jpg\"; filename*=UTF-8''%E8%A4%A5%E7%98%A1%20%E5%86%99%E7%9C%9F.jpg"
        );
        assert_eq!(
            content_disposition("attachment", "a\"b\\c.pdf"),
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf"
        );
    }
}

//! Posts with a photo (`fanout --attachment-share`): the poster uploads a small JPEG over HTTP
//! (`POST /api/rooms/{room}/attachments`), then posts naming it over its WebSocket, so the
//! upload path (content check, metadata stripping, thumbnail, durable blob) is measured under
//! the same load as the messages it belongs to.

use crate::client::Client;
use crate::setup;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct Uploader {
    http: reqwest::Client,
    bases: Vec<String>,
    secret: String,
    photo: Vec<u8>,
    /// Upload round trips, µs.
    latency: Mutex<Histogram<u64>>,
    pub uploaded: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
}

/// A 320 x 240 photo-like JPEG (a gradient with noise), about 20 KiB.
fn photo() -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state & 0x1f) as u8;
        image::Rgb([(x % 256) as u8 ^ n, (y % 256) as u8, 140u8.wrapping_add(n)])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    let _ = image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg);
    out.into_inner()
}

impl Uploader {
    pub fn new(bases: Vec<String>, secret: String) -> Arc<Uploader> {
        Arc::new(Uploader {
            http: reqwest::Client::new(),
            bases,
            secret,
            photo: photo(),
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3)
                    .unwrap_or_else(|_| unreachable!("valid bounds")),
            ),
            uploaded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// Uploads the photo as user `user` to `room` on `node`; the attachment id.
    async fn upload(&self, node: usize, user: usize, room: &str) -> Option<String> {
        let base = &self.bases[node % self.bases.len().max(1)];
        let token = setup::token(&self.secret, &setup::user(user), None);
        let started = Instant::now();
        let resp = self
            .http
            .post(format!("{base}/api/rooms/{room}/attachments?name=lt.jpg"))
            .bearer_auth(token)
            .header("content-type", "image/jpeg")
            .body(self.photo.clone())
            .send()
            .await
            .ok()?;
        if resp.status().as_u16() != 201 {
            return None;
        }
        let v: serde_json::Value = resp.json().await.ok()?;
        let us = started.elapsed().as_micros() as u64;
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.record(us.max(1));
        }
        v["id"].as_str().map(str::to_owned)
    }

    /// Uploads, then has `client` post naming the attachment (in a task of its own, so the
    /// drive loop keeps its pace). A failed upload is counted, and the post is not sent.
    pub fn post_with_photo(self: &Arc<Self>, client: &Client, room: &str, n: u64) -> bool {
        let me = self.clone();
        let handle = client.post_handle();
        let room = room.to_owned();
        tokio::spawn(async move {
            match me.upload(handle.node(), handle.user(), &room).await {
                Some(id) => {
                    me.uploaded.fetch_add(1, Ordering::Relaxed);
                    me.bytes.fetch_add(me.photo.len() as u64, Ordering::Relaxed);
                    handle.post_with_attachment(&room, n, &id);
                }
                None => {
                    me.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        true
    }

    /// The figures for the report's `extra`.
    pub fn summary(&self, seconds: f64) -> serde_json::Value {
        let (p50, p99, max, count) = match self.latency.lock() {
            Ok(h) => (
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
                h.max() as f64 / 1000.0,
                h.len(),
            ),
            Err(_) => (0.0, 0.0, 0.0, 0),
        };
        serde_json::json!({
            "uploads": count,
            "upload_failures": self.failed.load(Ordering::Relaxed),
            "uploads_per_second": count as f64 / seconds.max(0.001),
            "upload_photo_bytes": self.photo.len(),
            "upload_p50_ms": p50,
            "upload_p99_ms": p99,
            "upload_max_ms": max,
        })
    }
}

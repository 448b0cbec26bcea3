//! What an upload's bytes are and what is kept of them: the type read from the content itself
//! (magic bytes, `infer`), images stripped of their metadata without re-encoding (`img-parts`:
//! EXIF, XMP, GPS, comments, text chunks; the orientation alone is written back), their size as
//! shown, and a JPEG thumbnail made once (`image`). CPU-bound: run it on the blocking pool.

use bytes::{BufMut, Bytes, BytesMut};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, Rgb, RgbImage};
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::Png;
use img_parts::webp::WebP;
use img_parts::ImageEXIF;
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The longer side of a thumbnail, in pixels (PROTOCOL.md 5.3).
pub const THUMB_SIDE: u32 = 320;

/// Decoding an image takes at most this much memory; larger images are refused (a small file
/// can declare a huge canvas).
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// The largest side an image may have.
const MAX_SIDE: u32 = 20_000;

/// The formats an attachment may have, by what processing they get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Pdf,
}

impl Format {
    /// The MIME type this format is declared and served as.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Pdf => "application/pdf",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Format> {
        [Format::Jpeg, Format::Png, Format::Webp, Format::Pdf]
            .into_iter()
            .find(|f| f.mime() == mime)
    }

    pub fn is_image(self) -> bool {
        self != Format::Pdf
    }
}

/// Why an upload's content is refused (all `bad_request`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("Content-Type: the content is {found}, not {declared}")]
    Mismatch {
        declared: &'static str,
        found: String,
    },
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a readable {0}: {1}")]
    Unreadable(&'static str, String),
    #[error("the image is too large to process (at most {MAX_SIDE} px a side)")]
    TooLargeImage,
}

/// What is stored of an upload.
#[derive(Debug, Clone)]
pub struct Processed {
    pub bytes: Bytes,
    /// Lower-case hex of the stored bytes' SHA-256.
    pub sha256: String,
    /// As shown (after the EXIF orientation), images only.
    pub dimensions: Option<(u32, u32)>,
    /// A JPEG at most [`THUMB_SIDE`] px on its longer side, images only.
    pub thumbnail: Option<Bytes>,
}

/// The type the content itself has, by its magic bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    infer::get(bytes).map(|t| t.mime_type())
}

/// Checks `raw` against the declared format, strips an image's metadata, measures it and makes
/// its thumbnail.
pub fn process(declared: Format, raw: Bytes) -> Result<Processed, MediaError> {
    if raw.is_empty() {
        return Err(MediaError::Empty);
    }
    let found = sniff(&raw);
    if found != Some(declared.mime()) {
        return Err(MediaError::Mismatch {
            declared: declared.mime(),
            found: found.unwrap_or("of an unknown type").to_owned(),
        });
    }
    let unreadable = |e: String| MediaError::Unreadable(declared.mime(), e);
    if !declared.is_image() {
        return Ok(Processed {
            sha256: sha256_hex(&raw),
            bytes: raw,
            dimensions: None,
            thumbnail: None,
        });
    }
    // The orientation is read from the original (its EXIF is about to go).
    let (image, orientation) = decode(&raw).map_err(|e| match e {
        DecodeError::TooLarge => MediaError::TooLargeImage,
        DecodeError::Other(e) => unreadable(e),
    })?;
    let bytes = strip(declared, raw, orientation).map_err(unreadable)?;
    let mut image = image;
    image.apply_orientation(orientation);
    let dimensions = Some((image.width(), image.height()));
    let thumbnail = Some(thumbnail(&image).map_err(unreadable)?);
    Ok(Processed {
        sha256: sha256_hex(&bytes),
        bytes,
        dimensions,
        thumbnail,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

enum DecodeError {
    TooLarge,
    Other(String),
}

fn decode(bytes: &[u8]) -> Result<(DynamicImage, Orientation), DecodeError> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Other(e.to_string()))?;
    reader.limits(limits);
    let classify = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => DecodeError::TooLarge,
        other => DecodeError::Other(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    Ok((image, orientation))
}

/// A JPEG of the (oriented) image at most [`THUMB_SIDE`] px on its longer side, transparent
/// parts on white.
fn thumbnail(image: &DynamicImage) -> Result<Bytes, String> {
    let small = if image.width().max(image.height()) > THUMB_SIDE {
        image.thumbnail(THUMB_SIDE, THUMB_SIDE)
    } else {
        image.clone()
    };
    let rgba = small.to_rgba8();
    let rgb = RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let (c, a) = (u16::from(c), u16::from(a));
            ((c * a + 255 * (255 - a)) / 255) as u8
        };
        Rgb([over_white(r), over_white(g), over_white(b)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&rgb)
        .map_err(|e| e.to_string())?;
    Ok(Bytes::from(out))
}

/// The image without its metadata, its pixels untouched. Only what rendering needs is kept
/// (allow-lists, so a camera's private segments go too); a non-default orientation is written
/// back as an EXIF block holding that one tag, so the photo still shows upright.
fn strip(format: Format, raw: Bytes, orientation: Orientation) -> Result<Bytes, String> {
    let exif = (orientation != Orientation::NoTransforms).then(|| orientation_exif(orientation));
    match format {
        Format::Jpeg => {
            // img-parts keeps everything after the scan header as the scan's data: cut the
            // file at the end of the first image, so trailing images (MPF: a camera's depth or
            // gain maps, with EXIF of their own) are not kept.
            let end = raw
                .len()
                .min(2 + jpeg_image_end(raw.get(2..).unwrap_or_default()));
            let mut jpeg = Jpeg::from_bytes(raw.slice(..end)).map_err(|e| e.to_string())?;
            jpeg.segments_mut().retain(keep_jpeg_segment);
            jpeg.set_exif(exif);
            Ok(jpeg.encoder().bytes())
        }
        Format::Png => {
            let mut png = Png::from_bytes(raw).map_err(|e| e.to_string())?;
            png.chunks_mut().retain(|c| keep_png_chunk(c.kind()));
            png.set_exif(exif);
            Ok(png.encoder().bytes())
        }
        Format::Webp => {
            let mut webp = WebP::from_bytes(raw).map_err(|e| e.to_string())?;
            webp.chunks_mut().retain(|c| {
                matches!(
                    &c.id(),
                    b"VP8X" | b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ANMF" | b"ICCP"
                )
            });
            // Also brings the VP8X flags in line with the chunks left.
            webp.set_exif(exif);
            Ok(webp.encoder().bytes())
        }
        Format::Pdf => Ok(raw),
    }
}

/// JPEG segments kept: everything that is not an application segment or a comment, plus JFIF
/// (APP0), the ICC colour profile (APP2 `ICC_PROFILE`) and Adobe's colour transform (APP14).
fn keep_jpeg_segment(s: &JpegSegment) -> bool {
    let m = s.marker();
    let app = (markers::APP0..=markers::APP15).contains(&m);
    if !app && m != markers::COM {
        return true;
    }
    match m {
        markers::APP0 => s.contents().starts_with(b"JFIF\0"),
        markers::APP2 => s.contents().starts_with(b"ICC_PROFILE\0"),
        markers::APP14 => s.contents().starts_with(b"Adobe"),
        _ => false,
    }
}

/// PNG chunks kept: the critical ones and those that change how the pixels look (animation
/// included). Text, time, EXIF and private chunks go.
fn keep_png_chunk(kind: [u8; 4]) -> bool {
    matches!(
        &kind,
        b"IHDR"
            | b"PLTE"
            | b"IDAT"
            | b"IEND"
            | b"tRNS"
            | b"gAMA"
            | b"cHRM"
            | b"sRGB"
            | b"iCCP"
            | b"sBIT"
            | b"cICP"
            | b"mDCV"
            | b"cLLI"
            | b"pHYs"
            | b"acTL"
            | b"fcTL"
            | b"fdAT"
    )
}

/// Where the first image of a JPEG ends (after its SOI marker): walks the segments by their
/// lengths and the entropy-coded data after each scan header (where 0xFF is followed by 0x00 or
/// a restart marker), to the EOI marker (included). The whole data when there is none.
fn jpeg_image_end(data: &[u8]) -> usize {
    let mut i = 0;
    while i + 1 < data.len() {
        if data[i] != 0xFF {
            i += 1;
            continue;
        }
        let marker = data[i + 1];
        match marker {
            0x00 | 0xFF | 0xD0..=0xD7 => i += if marker == 0xFF { 1 } else { 2 },
            markers::EOI => return i + 2,
            _ => {
                // A segment between scans (DHT, DQT, SOS, DRI, ...): skip its length.
                let Some(len) = data.get(i + 2..i + 4) else {
                    return data.len();
                };
                i += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
        }
    }
    data.len()
}

/// A TIFF block (big-endian) with one IFD entry: Orientation (0x0112), SHORT, the value.
fn orientation_exif(orientation: Orientation) -> Bytes {
    let mut b = BytesMut::with_capacity(26);
    b.put_slice(b"MM\0*");
    b.put_u32(8); // the IFD right after the header
    b.put_u16(1); // one entry
    b.put_u16(0x0112);
    b.put_u16(3); // SHORT
    b.put_u32(1);
    b.put_u16(u16::from(orientation.to_exif()));
    b.put_u16(0); // padding of the 4-byte value field
    b.put_u32(0); // no next IFD
    b.freeze()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::{ImageFormat, RgbaImage};

    /// A TIFF block (big-endian): Orientation 6 (turn right), a description naming a place, and
    /// a GPS IFD with a latitude reference.
    fn gps_exif() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"MM\0*\0\0\0\x08");
        // IFD0 at 8: 3 entries (12 bytes each) + next-IFD offset = 2 + 36 + 4 = 42 -> ends at 50.
        b.extend_from_slice(&3u16.to_be_bytes());
        // ImageDescription, ASCII, 20 bytes at offset 50.
        b.extend_from_slice(&[0x01, 0x0E, 0, 2, 0, 0, 0, 20, 0, 0, 0, 50]);
        // Orientation, SHORT, 1, value 6.
        b.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
        // GPSInfo IFD pointer, LONG, 1, offset 70.
        b.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 70]);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(b"HOME-35.6812N-139.7\0");
        // GPS IFD at 70: 1 entry: GPSLatitudeRef, ASCII, 2, "N\0".
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&[0x00, 0x01, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
        b.extend_from_slice(&0u32.to_be_bytes());
        b
    }

    fn encoded(format: ImageFormat, w: u32, h: u32) -> Bytes {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        let img = if format == ImageFormat::Jpeg {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).to_rgb8())
        } else {
            DynamicImage::ImageRgba8(img)
        };
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        Bytes::from(out.into_inner())
    }

    fn with_gps(format: ImageFormat, bytes: Bytes) -> Bytes {
        let exif = Bytes::from(gps_exif());
        match format {
            ImageFormat::Jpeg => {
                let mut j = Jpeg::from_bytes(bytes).unwrap();
                j.set_exif(Some(exif));
                // An XMP packet and a comment too.
                let xmp = JpegSegment::new_with_contents(
                    markers::APP1,
                    Bytes::from_static(
                        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>HOME</x:xmpmeta>",
                    ),
                );
                j.segments_mut().insert(1, xmp);
                let com =
                    JpegSegment::new_with_contents(markers::COM, Bytes::from_static(b"HOME note"));
                j.segments_mut().insert(1, com);
                let mut out = j.encoder().bytes().to_vec();
                // A trailing image (as MPF leaves after EOI) with a place in it.
                out.extend_from_slice(b"\xFF\xD8\xFF\xFE\x00\x06HOME\xFF\xD9");
                Bytes::from(out)
            }
            ImageFormat::Png => {
                let mut p = Png::from_bytes(bytes).unwrap();
                p.set_exif(Some(exif));
                let text =
                    img_parts::png::PngChunk::new(*b"tEXt", Bytes::from_static(b"Comment\0HOME"));
                p.chunks_mut().insert(1, text);
                p.encoder().bytes()
            }
            ImageFormat::WebP => {
                let mut w = WebP::from_bytes(bytes).unwrap();
                w.set_exif(Some(exif));
                w.encoder().bytes()
            }
            _ => unreachable!(),
        }
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn images_lose_their_metadata_but_keep_their_orientation() {
        for (format, f) in [
            (ImageFormat::Jpeg, Format::Jpeg),
            (ImageFormat::Png, Format::Png),
            (ImageFormat::WebP, Format::Webp),
        ] {
            let raw = with_gps(format, encoded(format, 640, 400));
            assert!(
                contains(&raw, b"HOME"),
                "{format:?} test image has its metadata"
            );
            let p = process(f, raw).unwrap();
            assert!(!contains(&p.bytes, b"HOME"), "{format:?} kept metadata");
            assert!(
                !contains(&p.bytes, &[0x88, 0x25]),
                "{format:?} kept a GPS IFD"
            );
            // Turned right: shown 400 x 640; the thumbnail too.
            assert_eq!(p.dimensions, Some((400, 640)), "{format:?}");
            let thumb = image::load_from_memory(p.thumbnail.as_ref().unwrap()).unwrap();
            assert_eq!((thumb.width(), thumb.height()), (200, 320), "{format:?}");
            assert_eq!(sniff(p.thumbnail.as_ref().unwrap()), Some("image/jpeg"));
            // The stored file still decodes, still turned right.
            let (img, o) = decode(&p.bytes).ok().unwrap();
            assert_eq!(
                (img.width(), img.height(), o),
                (640, 400, Orientation::Rotate90)
            );
            assert_eq!(p.sha256, sha256_hex(&p.bytes));
        }
    }

    #[test]
    fn the_declared_type_must_be_the_contents() {
        let png = encoded(ImageFormat::Png, 10, 10);
        assert!(matches!(
            process(Format::Jpeg, png.clone()),
            Err(MediaError::Mismatch { .. })
        ));
        assert!(matches!(
            process(Format::Pdf, Bytes::from_static(b"hello")),
            Err(MediaError::Mismatch { .. })
        ));
        assert_eq!(
            process(Format::Png, Bytes::new()).err(),
            Some(MediaError::Empty)
        );
        let pdf = Bytes::from_static(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");
        let p = process(Format::Pdf, pdf.clone()).unwrap();
        assert_eq!((p.bytes, p.dimensions, p.thumbnail), (pdf, None, None));
        // JPEG magic, then garbage.
        let bad = Bytes::from_static(b"\xFF\xD8\xFF\xE0\x00\x10JFIF\0garbage-garbage");
        assert!(matches!(
            process(Format::Jpeg, bad),
            Err(MediaError::Unreadable(..))
        ));
        // Small images keep their size as thumbnail.
        let p = process(Format::Png, png).unwrap();
        let thumb = image::load_from_memory(p.thumbnail.as_ref().unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (10, 10));
    }
}

//! Test files made in the test: images with GPS EXIF (added by hand: the `image` crate writes
//! none), noise images that do not compress, a small PDF.

use bytes::Bytes;
use image::{DynamicImage, ImageFormat, RgbImage};
use img_parts::jpeg::Jpeg;
use img_parts::ImageEXIF;
use std::io::Cursor;

/// A text the EXIF carries (an address), to look for in stored bytes.
pub const PLACE: &[u8] = b"HOME-35.6812N-139.7671E";

/// A TIFF block (big-endian): ImageDescription = [`PLACE`], and a GPS IFD with GPSLatitudeRef.
pub fn gps_exif() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"MM\0*\0\0\0\x08");
    // IFD0 at 8: 2 entries -> 2 + 24 + 4 = 30 bytes, ends at 38.
    b.extend_from_slice(&2u16.to_be_bytes());
    let len = PLACE.len() as u32 + 1;
    b.extend_from_slice(&[0x01, 0x0E, 0, 2]);
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&38u32.to_be_bytes());
    let gps_at = 38 + len;
    b.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]);
    b.extend_from_slice(&gps_at.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(PLACE);
    b.push(0);
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&[0x00, 0x01, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    b.extend_from_slice(&0u32.to_be_bytes());
    b
}

fn gradient(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, seed])
    })
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encoding a test image: {e}"));
    out.into_inner()
}

/// A `w` x `h` JPEG carrying GPS EXIF; `seed` changes its pixels (another photo).
pub fn jpeg_with_gps(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let raw = encode(
        DynamicImage::ImageRgb8(gradient(w, h, seed)),
        ImageFormat::Jpeg,
    );
    let mut j = Jpeg::from_bytes(Bytes::from(raw)).unwrap_or_else(|e| panic!("jpeg: {e}"));
    j.set_exif(Some(Bytes::from(gps_exif())));
    j.encoder().bytes().to_vec()
}

pub fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(gradient(w, h, seed)),
        ImageFormat::Png,
    )
}

/// A PNG of noise: about `w * h * 3` bytes whatever the compression.
pub fn noise_png(w: u32, h: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let img = RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    encode(DynamicImage::ImageRgb8(img), ImageFormat::Png)
}

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n".to_vec()
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

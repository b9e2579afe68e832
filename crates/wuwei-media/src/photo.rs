//! Photos: pixel count from the header first, then a full decode (with limits), orientation,
//! and JPEG thumbnails.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage, imageops};

use crate::bytes::{be_u16, be_u32, fourcc, le_u16, le_u32, u8_at};
use crate::{Format, MAX_PIXELS, MediaError};

/// Most bytes a decoded pixel buffer may take (50 Mpx of 16-bit RGBA is 400 MB).
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;
/// Thumbnail JPEG quality: small files, no visible blocking at 320 px.
const THUMB_QUALITY: u8 = 82;
/// The largest side a JPEG can have.
const JPEG_MAX_SIDE: u32 = 65_535;

fn image_format(format: Format) -> Result<ImageFormat, MediaError> {
    match format {
        Format::Jpeg => Ok(ImageFormat::Jpeg),
        Format::Png => Ok(ImageFormat::Png),
        Format::Webp => Ok(ImageFormat::WebP),
        Format::Webm | Format::Ogg | Format::Mp4 => Err(MediaError::Unsupported),
    }
}

/// Maps a decoder error: `pixels` is the declared pixel count, once known.
fn from_image_error(e: ImageError, pixels: Option<u64>) -> MediaError {
    match (e, pixels) {
        (ImageError::Limits(_), Some(pixels)) => MediaError::TooManyPixels(pixels),
        (ImageError::Unsupported(_), _) => MediaError::Unsupported,
        (e, _) => MediaError::Damaged(e.to_string()),
    }
}

/// Checks the structure and the pixel count from the header alone, then decodes the whole image
/// (so truncated data or garbage behind a valid header is refused) and applies the EXIF
/// orientation.
pub(crate) fn decode(bytes: &[u8], format: Format) -> Result<DynamicImage, MediaError> {
    let fmt = image_format(format)?;
    // Our own header parse first: a decompression bomb is refused from its declared size even
    // when the rest of the file is missing, and before any decoder sees it.
    let (width, height) = match format {
        Format::Jpeg => check_jpeg_structure(bytes)?,
        Format::Png => check_png_structure(bytes)?,
        _ => check_webp_structure(bytes)?,
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(MediaError::TooManyPixels(pixels));
    }
    if pixels == 0 {
        return Err(MediaError::damaged("image has no pixels"));
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), fmt);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| from_image_error(e, Some(pixels)))?;
    if decoder.dimensions() != (width, height) {
        return Err(MediaError::damaged("image dimensions are inconsistent"));
    }
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(MediaError::TooManyPixels(pixels));
    }
    // A broken EXIF block is no reason to refuse a photo: it is then shown as stored.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| from_image_error(e, Some(pixels)))?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Walks a PNG's chunks from the signature to IEND, returning the IHDR dimensions. (The chunk
/// CRCs are the decoder's business; this finds truncation and a missing or misplaced IHDR.)
pub(crate) fn check_png_structure(b: &[u8]) -> Result<(u32, u32), MediaError> {
    let truncated = || MediaError::damaged("PNG ends before its IEND chunk");
    if fourcc(b, 12) != Some(*b"IHDR") || be_u32(b, 8) != Some(13) {
        return Err(MediaError::damaged("PNG does not start with an IHDR chunk"));
    }
    let width = be_u32(b, 16).ok_or_else(truncated)?;
    let height = be_u32(b, 20).ok_or_else(truncated)?;
    let mut pos = 8usize;
    loop {
        let len = usize::try_from(be_u32(b, pos).ok_or_else(truncated)?).unwrap_or(usize::MAX);
        let kind = fourcc(b, pos + 4).ok_or_else(truncated)?;
        let end =
            pos.checked_add(12).and_then(|p| p.checked_add(len)).filter(|&end| end <= b.len()).ok_or_else(truncated)?;
        if &kind == b"IEND" {
            return Ok((width, height));
        }
        // A chunk is at least 12 bytes long, so this always advances.
        pos = end;
    }
}

/// Checks a WebP's RIFF size against the data and reads the dimensions from its first chunk
/// (VP8X canvas, VP8 key frame or VP8L header).
pub(crate) fn check_webp_structure(b: &[u8]) -> Result<(u32, u32), MediaError> {
    let short = || MediaError::damaged("WebP header truncated");
    let riff_size = le_u32(b, 4).ok_or_else(short)?;
    if u64::from(riff_size) + 8 > b.len() as u64 {
        return Err(MediaError::damaged("WebP shorter than its RIFF size (truncated)"));
    }
    let data = 20usize;
    let le24 = |at: usize| -> Option<u32> {
        let v = le_u32(&[u8_at(b, at)?, u8_at(b, at + 1)?, u8_at(b, at + 2)?, 0], 0)?;
        Some(v + 1)
    };
    match fourcc(b, 12).ok_or_else(short)? {
        [b'V', b'P', b'8', b'X'] => Ok((le24(data + 4).ok_or_else(short)?, le24(data + 7).ok_or_else(short)?)),
        [b'V', b'P', b'8', b' '] => {
            if b.get(data + 3..data + 6) != Some([0x9D, 0x01, 0x2A].as_slice()) {
                return Err(MediaError::damaged("WebP: VP8 frame without a start code"));
            }
            let w = le_u16(b, data + 6).ok_or_else(short)? & 0x3FFF;
            let h = le_u16(b, data + 8).ok_or_else(short)? & 0x3FFF;
            Ok((u32::from(w), u32::from(h)))
        }
        [b'V', b'P', b'8', b'L'] => {
            if u8_at(b, data) != Some(0x2F) {
                return Err(MediaError::damaged("WebP: VP8L without its signature"));
            }
            let bits = le_u32(b, data + 1).ok_or_else(short)?;
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        _ => Err(MediaError::damaged("WebP: unknown first chunk")),
    }
}

/// Size that fits `(width, height)` within `max_side` keeping the aspect ratio, never larger.
pub(crate) fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side || longest == 0 {
        return (width, height);
    }
    let scale = |side: u32| -> u32 {
        let scaled = (u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

/// Flattens transparency onto white: JPEG has no alpha, and dropping it would show whatever
/// colour happens to sit under transparent pixels (often black).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = p.0;
        let a = u32::from(a);
        let blend = |c: u8| -> u8 {
            let v = (u32::from(c) * a + 255 * (255 - a) + 127) / 255;
            u8::try_from(v).unwrap_or(u8::MAX)
        };
        o.0 = [blend(r), blend(g), blend(b)];
    }
    out
}

/// Encodes a decoded (already oriented) photo as a JPEG thumbnail.
pub(crate) fn thumbnail_jpeg(image: DynamicImage, max_side: u32) -> Result<Vec<u8>, MediaError> {
    let max_side = max_side.clamp(1, JPEG_MAX_SIDE);
    let rgb = flatten(image);
    let (w, h) = fit(rgb.width(), rgb.height(), max_side);
    let small = if (w, h) == rgb.dimensions() { rgb } else { imageops::thumbnail(&rgb, w, h) };
    let mut out = Vec::new();
    small
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, THUMB_QUALITY))
        .map_err(|e| MediaError::Damaged(format!("thumbnail could not be encoded: {e}")))?;
    Ok(out)
}

/// Walks a JPEG's marker segments from start-of-image to end-of-image.
///
/// The JPEG decoder is lenient: it fills a truncated scan with grey rather than failing. An
/// upload cut short must be refused so the client can send it again, so the structure is
/// checked here: every segment within the file, a frame header before the first scan, and an
/// end-of-image marker after the scans. Anything after that marker is ignored (some cameras
/// append data there).
///
/// Returns the dimensions from the first frame header.
pub(crate) fn check_jpeg_structure(b: &[u8]) -> Result<(u32, u32), MediaError> {
    let truncated = || MediaError::damaged("JPEG ends before its end-of-image marker");
    if be_u16(b, 0) != Some(0xFFD8) {
        return Err(MediaError::damaged("JPEG without a start-of-image marker"));
    }
    let mut pos = 2usize;
    let mut frame: Option<(u32, u32)> = None;
    let mut saw_scan = false;
    loop {
        if u8_at(b, pos).ok_or_else(truncated)? != 0xFF {
            return Err(MediaError::Damaged(format!("JPEG: expected a marker at offset {pos}")));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while u8_at(b, pos) == Some(0xFF) {
            pos += 1;
        }
        let marker = u8_at(b, pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0xD9 => {
                return match frame {
                    Some(dims) if saw_scan => Ok(dims),
                    _ => Err(MediaError::damaged("JPEG without image data")),
                };
            }
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => {}
            0x00 | 0xD8 => {
                return Err(MediaError::Damaged(format!("JPEG: unexpected marker {marker:#04x} at offset {pos}")));
            }
            _ => {
                let len = usize::from(be_u16(b, pos).ok_or_else(truncated)?);
                if len < 2 {
                    return Err(MediaError::damaged("JPEG: segment length below 2"));
                }
                let end = pos + len;
                if end > b.len() {
                    return Err(truncated());
                }
                // Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
                let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
                if is_frame && frame.is_none() {
                    // Length, precision, height, width.
                    let height = be_u16(b, pos + 3).filter(|_| len >= 7).ok_or_else(truncated)?;
                    let width = be_u16(b, pos + 5).filter(|_| len >= 7).ok_or_else(truncated)?;
                    frame = Some((u32::from(width), u32::from(height)));
                }
                pos = end;
                if marker == 0xDA {
                    if frame.is_none() {
                        return Err(MediaError::damaged("JPEG: scan before frame header"));
                    }
                    saw_scan = true;
                    pos = skip_entropy_coded(b, pos).ok_or_else(truncated)?;
                }
            }
        }
    }
}

/// Skips entropy-coded scan data, returning the offset of the next real marker. Inside a scan
/// 0xFF00 is a stuffed byte, 0xFFD0–D7 are restart markers and extra 0xFF are fill.
fn skip_entropy_coded(b: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let at = pos + b.get(pos..)?.iter().position(|&x| x == 0xFF)?;
        match u8_at(b, at + 1)? {
            0x00 | 0xD0..=0xD7 => pos = at + 2,
            0xFF => pos = at + 1,
            _ => return Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(fit(4000, 3000, 320), (320, 240));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(100, 50, 320), (100, 50));
        assert_eq!(fit(10_000, 1, 320), (320, 1));
        assert_eq!(fit(320, 320, 320), (320, 320));
        assert_eq!(fit(u32::MAX, u32::MAX - 1, 1), (1, 1));
    }

    #[test]
    fn jpeg_walk_refuses_truncation_and_accepts_trailers() {
        // SOI, SOF0 (len 8: minimal), SOS (len 8), data with a stuffed byte and a restart, EOI.
        let mut j = vec![0xFF, 0xD8];
        j.extend([0xFF, 0xC0, 0x00, 0x08, 8, 0, 1, 0, 1, 0]);
        j.extend([0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
        j.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        j.extend([0xFF, 0xD9]);
        assert_eq!(check_jpeg_structure(&j), Ok((1, 1)));
        let mut trailer = j.clone();
        trailer.extend(b"appended by a camera");
        assert_eq!(check_jpeg_structure(&trailer), Ok((1, 1)));
        for cut in 0..j.len() {
            assert!(check_jpeg_structure(&j[..cut]).is_err(), "cut at {cut}");
        }
    }
}

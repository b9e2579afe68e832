//! Case attachments, checked by content: photos from grid workers' phones and short voice notes
//! from residents who cannot type.
//!
//! Everything here is pure — bytes in, facts out: no I/O, no async, no clock. The file name and
//! the content type a client claims are never consulted; the format is recognised from the bytes
//! themselves and then validated:
//!
//! * **Photos** (JPEG, PNG, WebP): the header is read first and the pixel count checked against
//!   [`MAX_PIXELS`] *before* any pixel buffer is allocated, then the whole image is decoded so a
//!   truncated file or garbage behind a valid header is refused. A JPEG must also be structurally
//!   complete (every segment in bounds, an end-of-image marker), because the JPEG decoder itself
//!   quietly fills in missing data.
//! * **Voice notes**: WebM (Matroska with doc type `webm`), Ogg (Opus or Vorbis, one logical
//!   stream) and MP4/M4A (ISO BMFF with a sound track, plain or fragmented). The duration is read
//!   from the container's own timing and refused over [`MAX_VOICE_MS`]. Where a container states
//!   its duration in a header *and* in its timestamps, the larger wins, so a header that
//!   understates the length cannot smuggle a long recording past the limit. Voice notes must be
//!   audio only: a file with a video track is [`MediaError::Unsupported`].
//!
//! The container parsers are hand-written for untrusted input: every read is bounds-checked,
//! nothing is allocated from a length field, every loop advances, and nesting is fixed (no
//! recursion), so no input can make them panic, balloon or spin.
//!
//! # HTTP mapping
//! [`MediaError::http_status`] gives the status a server should answer with:
//! `Unsupported` → 415, `TooLarge` and `TooManyPixels` → 413, `TooLong` → 422, and `Damaged` →
//! **422**: the format is one we accept (so 415 would mislead the client into offering a
//! conversion), but this particular file cannot be processed and re-sending it will not help.

#![forbid(unsafe_code)]

mod bytes;
mod mp4;
mod ogg;
mod photo;
mod webm;

use sha2::{Digest, Sha256};

/// Largest photo accepted, in bytes (10 MiB).
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// Largest voice note accepted, in bytes (5 MiB: generous for two minutes of Opus or AAC).
pub const MAX_VOICE_BYTES: usize = 5 * 1024 * 1024;
/// Longest voice note accepted, in milliseconds (2 minutes).
pub const MAX_VOICE_MS: u64 = 120_000;
/// Most pixels a photo may have; checked from the header, before decoding (decompression bombs).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Default longer side of a thumbnail, in pixels.
pub const THUMB_MAX_SIDE: u32 = 320;

/// What an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// A still image: JPEG, PNG or WebP.
    Photo,
    /// An audio recording: WebM, Ogg or MP4/M4A.
    Voice,
}

/// Facts established from an attachment's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// Photo or voice note.
    pub kind: MediaKind,
    /// `"image/jpeg"`, `"image/png"`, `"image/webp"`, `"audio/webm"`, `"audio/ogg"` or
    /// `"audio/mp4"` — as found in the content, whatever the client claimed.
    pub mime: &'static str,
    /// Photos: width in pixels as displayed, i.e. after the EXIF orientation is applied.
    pub width: Option<u32>,
    /// Photos: height in pixels as displayed, i.e. after the EXIF orientation is applied.
    pub height: Option<u32>,
    /// Voice notes: duration in milliseconds, from the container's timing.
    pub duration_ms: Option<u64>,
}

impl Inspected {
    /// The usual file extension for [`Inspected::mime`] (without the dot), for storage names
    /// and downloads: `jpg`, `png`, `webp`, `webm`, `ogg` or `m4a`.
    pub fn extension(&self) -> &'static str {
        match self.mime {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/webp" => "webp",
            "audio/webm" => "webm",
            "audio/ogg" => "ogg",
            "audio/mp4" => "m4a",
            _ => "bin",
        }
    }
}

/// Why an attachment is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum MediaError {
    /// Not a photo or voice format we accept (HTTP 415).
    #[error("not a supported photo or voice format")]
    Unsupported,
    /// More bytes than the kind allows (HTTP 413).
    #[error("too large: {size} bytes, at most {max}")]
    TooLarge { size: usize, max: usize },
    /// A voice note longer than [`MAX_VOICE_MS`] (HTTP 422).
    #[error("too long: {ms} ms, at most {max_ms} ms")]
    TooLong { ms: u64, max_ms: u64 },
    /// A supported format, but the file is damaged, truncated, or its duration cannot be
    /// established (HTTP 422, see the crate docs for why not 415).
    #[error("damaged or truncated file: {0}")]
    Damaged(String),
    /// A photo whose header declares more than [`MAX_PIXELS`] pixels (HTTP 413).
    #[error("image too large in pixels: {0}")]
    TooManyPixels(u64),
}

impl MediaError {
    /// The HTTP status a server should answer with for this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            MediaError::Unsupported => 415,
            MediaError::TooLarge { .. } | MediaError::TooManyPixels(_) => 413,
            MediaError::TooLong { .. } | MediaError::Damaged(_) => 422,
        }
    }

    pub(crate) fn damaged(what: impl Into<String>) -> Self {
        MediaError::Damaged(what.into())
    }
}

/// The container formats recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    Webp,
    Webm,
    Ogg,
    Mp4,
}

impl Format {
    fn sniff(b: &[u8]) -> Option<Format> {
        if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP".as_slice()) {
            Some(Format::Webp)
        } else if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            Some(Format::Webm)
        } else if b.starts_with(b"OggS") {
            Some(Format::Ogg)
        } else if b.get(4..8) == Some(b"ftyp".as_slice()) {
            Some(Format::Mp4)
        } else {
            None
        }
    }

    fn kind(self) -> MediaKind {
        match self {
            Format::Jpeg | Format::Png | Format::Webp => MediaKind::Photo,
            Format::Webm | Format::Ogg | Format::Mp4 => MediaKind::Voice,
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Webm => "audio/webm",
            Format::Ogg => "audio/ogg",
            Format::Mp4 => "audio/mp4",
        }
    }
}

/// Recognises the format and refuses input over the size limit of its kind.
fn sniff_and_size(bytes: &[u8]) -> Result<Format, MediaError> {
    let format = Format::sniff(bytes).ok_or(MediaError::Unsupported)?;
    let max = match format.kind() {
        MediaKind::Photo => MAX_PHOTO_BYTES,
        MediaKind::Voice => MAX_VOICE_BYTES,
    };
    if bytes.len() > max {
        return Err(MediaError::TooLarge { size: bytes.len(), max });
    }
    Ok(format)
}

/// Identifies an attachment by its magic bytes and validates it.
///
/// Photos (JPEG, PNG, WebP) are checked for pixel count from the header, then fully decoded, so
/// truncated or garbage files whose header lies are refused as [`MediaError::Damaged`]; the
/// dimensions are reported as displayed (EXIF orientation applied). Voice notes (WebM, Ogg
/// Opus/Vorbis, MP4/M4A) have their duration parsed from the container and must be audio only.
///
/// Order of checks: format ([`MediaError::Unsupported`]), byte size ([`MediaError::TooLarge`]),
/// then pixels ([`MediaError::TooManyPixels`]) or container validity ([`MediaError::Damaged`]),
/// then duration ([`MediaError::TooLong`]).
pub fn inspect(bytes: &[u8]) -> Result<Inspected, MediaError> {
    let format = sniff_and_size(bytes)?;
    match format.kind() {
        MediaKind::Photo => {
            let image = photo::decode(bytes, format)?;
            Ok(Inspected {
                kind: MediaKind::Photo,
                mime: format.mime(),
                width: Some(image.width()),
                height: Some(image.height()),
                duration_ms: None,
            })
        }
        MediaKind::Voice => {
            let ms = match format {
                Format::Webm => webm::duration_ms(bytes)?,
                Format::Ogg => ogg::duration_ms(bytes)?,
                _ => mp4::duration_ms(bytes)?,
            };
            if ms > MAX_VOICE_MS {
                return Err(MediaError::TooLong { ms, max_ms: MAX_VOICE_MS });
            }
            Ok(Inspected {
                kind: MediaKind::Voice,
                mime: format.mime(),
                width: None,
                height: None,
                duration_ms: Some(ms),
            })
        }
    }
}

/// A JPEG thumbnail whose longer side is at most `max_side` (never upscaled), with the EXIF
/// orientation applied if present. Transparent areas are flattened onto white.
///
/// The photo goes through the same checks as [`inspect`]; a voice note is
/// [`MediaError::Unsupported`]. `max_side` is taken as at least 1 and at most 65,535 (the
/// largest side a JPEG can have).
pub fn thumbnail(bytes: &[u8], max_side: u32) -> Result<Vec<u8>, MediaError> {
    inspect_with_thumbnail(bytes, max_side)?.1.ok_or(MediaError::Unsupported)
}

/// [`inspect`] and, for a photo, [`thumbnail`] in one go, decoding the image only once.
/// Voice notes get `None` for the thumbnail.
pub fn inspect_with_thumbnail(bytes: &[u8], max_side: u32) -> Result<(Inspected, Option<Vec<u8>>), MediaError> {
    let format = sniff_and_size(bytes)?;
    if format.kind() == MediaKind::Voice {
        return inspect(bytes).map(|i| (i, None));
    }
    let image = photo::decode(bytes, format)?;
    let inspected = Inspected {
        kind: MediaKind::Photo,
        mime: format.mime(),
        width: Some(image.width()),
        height: Some(image.height()),
        duration_ms: None,
    };
    let thumb = photo::thumbnail_jpeg(image, max_side)?;
    Ok((inspected, Some(thumb)))
}

/// Lowercase hex SHA-256 of the bytes, for content-addressed storage.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn sniffing_needs_the_whole_magic() {
        assert_eq!(Format::sniff(b""), None);
        assert_eq!(Format::sniff(&[0xFF, 0xD8]), None);
        assert_eq!(Format::sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(Format::sniff(b"RIFF\0\0\0\0WEBP"), Some(Format::Webp));
        assert_eq!(Format::sniff(b"\0\0\0\x20ftypM4A "), Some(Format::Mp4));
    }

    #[test]
    fn statuses() {
        assert_eq!(MediaError::Unsupported.http_status(), 415);
        assert_eq!(MediaError::TooManyPixels(1).http_status(), 413);
        assert_eq!(MediaError::TooLarge { size: 2, max: 1 }.http_status(), 413);
        assert_eq!(MediaError::TooLong { ms: 2, max_ms: 1 }.http_status(), 422);
        assert_eq!(MediaError::damaged("x").http_status(), 422);
    }
}

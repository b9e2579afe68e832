//! Ogg (RFC 3533) with Opus (RFC 7845) or Vorbis: duration from granule positions.
//!
//! Pages are walked from the start, each at the offset the previous one's lengths put it, and
//! each page's CRC is verified. That is linear in the file size whatever the content (a search
//! backwards for "OggS" can be made quadratic by a file full of fake capture patterns), finds
//! truncation (the last page's CRC fails or its body is missing) and proves the granule
//! positions read are real page fields rather than look-alike bytes inside audio data.
//!
//! Duration = largest granule position of the stream (the last page's, in a well-formed file),
//! minus the Opus pre-skip, divided by the sample rate (48 kHz for Opus, the identification
//! header's rate for Vorbis). Only single-stream files are accepted: a recorder writes one
//! stream, and chained or multiplexed streams would need their durations combined (or carry
//! video), so they are refused as unsupported rather than measured wrongly.

use crate::MediaError;
use crate::bytes::{fourcc, le_u16, le_u32, le_u64, to_ms, u8_at};

const HEADER_LEN: usize = 27;
const FLAG_BOS: u8 = 0x02;
/// Granule position −1: no packet finishes on this page.
const NO_GRANULE: u64 = u64::MAX;
const OPUS_RATE: u128 = 48_000;

struct Page<'a> {
    flags: u8,
    granule: u64,
    serial: u32,
    lacing: &'a [u8],
    body: &'a [u8],
    len: usize,
}

/// CRC-32 as Ogg uses it: polynomial 0x04C11DB7, no reflection, initial value and final xor 0.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04C1_1DB7 } else { r << 1 };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

fn crc_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        let index = usize::from(((crc >> 24) as u8) ^ b);
        crc = (crc << 8) ^ CRC_TABLE.get(index).copied().unwrap_or(0);
    }
    crc
}

/// Parses and CRC-checks the page at `pos`; `None` if it is not a complete, valid page.
fn page_at(b: &[u8], pos: usize) -> Option<Page<'_>> {
    let header = b.get(pos..pos.checked_add(HEADER_LEN)?)?;
    if fourcc(header, 0)? != *b"OggS" || u8_at(header, 4)? != 0 {
        return None;
    }
    let flags = u8_at(header, 5)?;
    let granule = le_u64(header, 6)?;
    let serial = le_u32(header, 14)?;
    let stored_crc = le_u32(header, 22)?;
    let segments = usize::from(u8_at(header, 26)?);
    let lacing_start = pos + HEADER_LEN;
    let lacing = b.get(lacing_start..lacing_start + segments)?;
    let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
    let body_start = lacing_start + segments;
    let body = b.get(body_start..body_start + body_len)?;

    let mut crc = crc_update(0, header.get(..22)?);
    crc = crc_update(crc, &[0; 4]);
    crc = crc_update(crc, header.get(26..)?);
    crc = crc_update(crc, lacing);
    crc = crc_update(crc, body);
    if crc != stored_crc {
        return None;
    }
    Some(Page { flags, granule, serial, lacing, body, len: HEADER_LEN + segments + body_len })
}

enum Codec {
    Opus { pre_skip: u64 },
    Vorbis { rate: u32 },
}

/// Identifies the codec from the first packet of the first page.
fn codec(first: &Page<'_>) -> Result<Codec, MediaError> {
    // The first packet ends at the first lacing value below 255; a header packet that does not
    // end on the first page is not something a recorder writes.
    let ends = first
        .lacing
        .iter()
        .position(|&l| l < 255)
        .ok_or_else(|| MediaError::damaged("Ogg: first header packet spans pages"))?;
    let packet_len: usize = first.lacing.get(..=ends).unwrap_or_default().iter().map(|&l| usize::from(l)).sum();
    let packet = first.body.get(..packet_len).unwrap_or_default();
    if packet.starts_with(b"OpusHead") {
        if packet.len() < 19 {
            return Err(MediaError::damaged("Ogg: OpusHead too short"));
        }
        let pre_skip = le_u16(packet, 10).unwrap_or(0);
        Ok(Codec::Opus { pre_skip: u64::from(pre_skip) })
    } else if packet.starts_with(b"\x01vorbis") {
        let rate =
            le_u32(packet, 12).ok_or_else(|| MediaError::damaged("Ogg: Vorbis identification header too short"))?;
        if rate == 0 {
            return Err(MediaError::damaged("Ogg: Vorbis sample rate 0"));
        }
        Ok(Codec::Vorbis { rate })
    } else {
        // Speex, FLAC, Theora video, …
        Err(MediaError::Unsupported)
    }
}

pub(crate) fn duration_ms(b: &[u8]) -> Result<u64, MediaError> {
    let first = page_at(b, 0).ok_or_else(|| MediaError::damaged("Ogg: first page invalid"))?;
    // (The first page's own granule is 0: it holds only the identification header.)
    if first.flags & FLAG_BOS == 0 {
        return Err(MediaError::damaged("Ogg: first page is not a stream start"));
    }
    let codec = codec(&first)?;
    let serial = first.serial;

    let mut max_granule: Option<u64> = None;
    let mut pos = first.len;
    while pos < b.len() {
        let page = page_at(b, pos)
            .ok_or_else(|| MediaError::Damaged(format!("Ogg: truncated or corrupt page at offset {pos}")))?;
        if page.serial != serial || page.flags & FLAG_BOS != 0 {
            // A second logical stream: multiplexed (e.g. with video) or chained.
            return Err(MediaError::Unsupported);
        }
        // Header pages carry granule 0, so only positive granules measure audio.
        if page.granule != NO_GRANULE && page.granule > 0 {
            if page.granule > i64::MAX as u64 {
                return Err(MediaError::damaged("Ogg: negative granule position"));
            }
            max_granule = Some(max_granule.map_or(page.granule, |g| g.max(page.granule)));
        }
        // A page is at least 27 bytes long, so this always advances.
        pos += page.len;
    }

    let granule = max_granule.ok_or_else(|| MediaError::damaged("duration unknown"))?;
    let ms = match codec {
        Codec::Opus { pre_skip } => to_ms(u128::from(granule.saturating_sub(pre_skip)), OPUS_RATE),
        Codec::Vorbis { rate } => to_ms(u128::from(granule), u128::from(rate)),
    };
    ms.ok_or_else(|| MediaError::damaged("duration unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ogg_reference_value() {
        // Ogg's CRC is CRC-32/POSIX (cksum) without the final inversion:
        // cksum's check value 0x765E7680 xor 0xFFFFFFFF.
        assert_eq!(crc_update(0, b"123456789"), 0x89A1_897F);
    }
}

//! WebM (Matroska/EBML with doc type "webm"): duration from Info → Duration and from the
//! clusters' timestamps.
//!
//! Browsers' MediaRecorder writes live WebM: the Segment and every Cluster have the "unknown"
//! size (all value bits set) and Info usually has no Duration. An unknown-size Cluster ends
//! where an element appears that cannot be one of its children; an unknown-size Segment runs
//! to the end of the file. The cluster-derived duration is the largest block timestamp (cluster
//! Timecode + block's relative timecode, plus BlockDuration where a BlockGroup gives one); when
//! Info has a Duration too, the larger of the two is taken, so an understating header cannot
//! hide a long recording. Elements whose known size overruns their parent are a truncated file.

use crate::MediaError;
use crate::bytes::{be_u32, be_u64, to_ms, u8_at};

const EBML: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const CLUSTER: u32 = 0x1F43_B675;
const TIMECODE: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const BLOCK_DURATION: u32 = 0x9B;
/// Children a Cluster may have (besides Void and CRC-32, which may be anywhere).
const CLUSTER_CHILDREN: [u32; 9] = [
    TIMECODE,
    SIMPLE_BLOCK,
    BLOCK_GROUP,
    0x5854, // SilentTracks
    0xA7,   // Position
    0xAB,   // PrevSize
    0xAF,   // EncryptedBlock
    0xEC,   // Void
    0xBF,   // CRC-32
];
const TRACK_TYPE_VIDEO: u64 = 1;
const TRACK_TYPE_AUDIO: u64 = 2;
const DEFAULT_TIMECODE_SCALE_NS: u64 = 1_000_000;

/// An element header: ID (marker bits kept, as the spec writes IDs), size (`None` = unknown)
/// and where the data starts.
#[derive(Debug, Clone, Copy)]
struct Element {
    id: u32,
    size: Option<u64>,
    data: usize,
}

impl Element {
    /// End of the element's data, which must lie within `parent_end`.
    fn end_within(&self, parent_end: usize) -> Result<usize, MediaError> {
        let size = self.size.ok_or_else(|| MediaError::damaged("WebM: unknown size where a size is needed"))?;
        usize::try_from(size)
            .ok()
            .and_then(|s| self.data.checked_add(s))
            .filter(|&end| end <= parent_end)
            .ok_or_else(|| MediaError::damaged("WebM: element overruns its parent (truncated?)"))
    }
}

/// A variable-length integer: `(value without the length marker, length, all value bits set)`.
fn vint(b: &[u8], pos: usize, max_len: u32) -> Option<(u64, usize, bool)> {
    let first = u8_at(b, pos)?;
    let len = first.leading_zeros() + 1;
    if len > max_len {
        return None;
    }
    let mut value = u64::from(first) & (0xFFu64 >> len);
    for i in 1..len as usize {
        value = (value << 8) | u64::from(u8_at(b, pos + i)?);
    }
    let all_ones = value == (1u64 << (7 * len)) - 1;
    Some((value, len as usize, all_ones))
}

fn element_at(b: &[u8], pos: usize) -> Option<Element> {
    let first = u8_at(b, pos)?;
    let id_len = first.leading_zeros() + 1;
    if id_len > 4 {
        return None;
    }
    let mut id = 0u32;
    for i in 0..id_len as usize {
        id = (id << 8) | u32::from(u8_at(b, pos + i)?);
    }
    let (size, size_len, unknown) = vint(b, pos + id_len as usize, 8)?;
    Some(Element { id, size: (!unknown).then_some(size), data: pos + id_len as usize + size_len })
}

fn read_element(b: &[u8], pos: usize) -> Result<Element, MediaError> {
    element_at(b, pos).ok_or_else(|| MediaError::Damaged(format!("WebM: invalid element at offset {pos}")))
}

/// The children of `[start, end)`, each with a known size that fits; calls `f` with each.
fn each_child(
    b: &[u8],
    start: usize,
    end: usize,
    mut f: impl FnMut(Element, usize) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let mut pos = start;
    while pos < end {
        let el = read_element(b, pos)?;
        let el_end = el.end_within(end)?;
        f(el, el_end)?;
        // An element header is at least two bytes, so this always advances.
        pos = el_end;
    }
    Ok(())
}

fn uint(data: &[u8]) -> Result<u64, MediaError> {
    if data.len() > 8 {
        return Err(MediaError::damaged("WebM: integer longer than 8 bytes"));
    }
    Ok(data.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

fn float(data: &[u8]) -> Result<f64, MediaError> {
    match data.len() {
        0 => Ok(0.0),
        4 => Ok(f64::from(f32::from_bits(be_u32(data, 0).unwrap_or(0)))),
        8 => Ok(f64::from_bits(be_u64(data, 0).unwrap_or(0))),
        _ => Err(MediaError::damaged("WebM: float neither 4 nor 8 bytes")),
    }
}

/// The relative timecode of a (Simple)Block: track number (vint), then a signed 16-bit value.
fn block_timecode(data: &[u8]) -> Result<i64, MediaError> {
    let bad = || MediaError::damaged("WebM: block header truncated");
    let (_, track_len, _) = vint(data, 0, 8).ok_or_else(bad)?;
    let hi = u8_at(data, track_len).ok_or_else(bad)?;
    let lo = u8_at(data, track_len + 1).ok_or_else(bad)?;
    Ok(i64::from(i16::from_be_bytes([hi, lo])))
}

#[derive(Default)]
struct Facts {
    timecode_scale: Option<u64>,
    duration: Option<f64>,
    audio_tracks: u32,
    video_tracks: u32,
    /// Largest block end seen, in timecode ticks.
    last_tick: Option<i128>,
}

impl Facts {
    fn saw_tick(&mut self, tick: i128) {
        self.last_tick = Some(self.last_tick.map_or(tick, |t| t.max(tick)));
    }
}

fn data(b: &[u8], el: Element, end: usize) -> &[u8] {
    b.get(el.data..end).unwrap_or_default()
}

fn parse_info(b: &[u8], start: usize, end: usize, facts: &mut Facts) -> Result<(), MediaError> {
    each_child(b, start, end, |el, el_end| {
        match el.id {
            TIMECODE_SCALE => facts.timecode_scale = Some(uint(data(b, el, el_end))?),
            DURATION => facts.duration = Some(float(data(b, el, el_end))?),
            _ => {}
        }
        Ok(())
    })
}

fn parse_tracks(b: &[u8], start: usize, end: usize, facts: &mut Facts) -> Result<(), MediaError> {
    each_child(b, start, end, |entry, entry_end| {
        if entry.id != TRACK_ENTRY {
            return Ok(());
        }
        each_child(b, entry.data, entry_end, |el, el_end| {
            if el.id == TRACK_TYPE {
                match uint(data(b, el, el_end))? {
                    TRACK_TYPE_AUDIO => facts.audio_tracks += 1,
                    TRACK_TYPE_VIDEO => facts.video_tracks += 1,
                    _ => {}
                }
            }
            Ok(())
        })
    })
}

/// Parses a Cluster's children from `start`; with `unknown_size`, stops at the first element
/// that cannot be a Cluster child. Returns where the Cluster ends.
fn parse_cluster(
    b: &[u8],
    start: usize,
    end: usize,
    unknown_size: bool,
    facts: &mut Facts,
) -> Result<usize, MediaError> {
    let mut timecode: Option<u64> = None;
    // Largest block end relative to the cluster timecode.
    let mut last_relative: Option<i64> = None;
    let mut saw = |rel: i64| last_relative = Some(last_relative.map_or(rel, |r| r.max(rel)));
    let mut pos = start;
    while pos < end {
        let el = read_element(b, pos)?;
        if unknown_size && !CLUSTER_CHILDREN.contains(&el.id) {
            break;
        }
        let el_end = el.end_within(end)?;
        match el.id {
            TIMECODE => timecode = Some(uint(data(b, el, el_end))?),
            SIMPLE_BLOCK => saw(block_timecode(data(b, el, el_end))?),
            BLOCK_GROUP => {
                let mut rel: Option<i64> = None;
                let mut duration = 0u64;
                each_child(b, el.data, el_end, |child, child_end| {
                    match child.id {
                        BLOCK => rel = Some(block_timecode(data(b, child, child_end))?),
                        BLOCK_DURATION => duration = uint(data(b, child, child_end))?,
                        _ => {}
                    }
                    Ok(())
                })?;
                if let Some(rel) = rel {
                    saw(rel.saturating_add(i64::try_from(duration).unwrap_or(i64::MAX)));
                }
            }
            _ => {}
        }
        pos = el_end;
    }
    if let Some(rel) = last_relative {
        let timecode = timecode.ok_or_else(|| MediaError::damaged("WebM: cluster without a timecode"))?;
        facts.saw_tick(i128::from(timecode) + i128::from(rel));
    }
    Ok(pos)
}

fn parse_segment(b: &[u8], start: usize, end: usize) -> Result<Facts, MediaError> {
    let mut facts = Facts::default();
    let mut pos = start;
    while pos < end {
        let el = read_element(b, pos)?;
        if el.id == CLUSTER {
            let (cluster_end, unknown) = match el.size {
                Some(_) => (el.end_within(end)?, false),
                None => (end, true),
            };
            pos = parse_cluster(b, el.data, cluster_end, unknown, &mut facts)?;
            // An empty unknown-size cluster still moved past its own header.
            pos = pos.max(el.data);
            continue;
        }
        let el_end = el.end_within(end)?;
        match el.id {
            INFO => parse_info(b, el.data, el_end, &mut facts)?,
            TRACKS => parse_tracks(b, el.data, el_end, &mut facts)?,
            _ => {}
        }
        pos = el_end;
    }
    Ok(facts)
}

pub(crate) fn duration_ms(b: &[u8]) -> Result<u64, MediaError> {
    let header = read_element(b, 0)?;
    if header.id != EBML {
        return Err(MediaError::Unsupported);
    }
    let header_end = header.end_within(b.len())?;
    let mut doc_type: Option<&[u8]> = None;
    each_child(b, header.data, header_end, |el, el_end| {
        if el.id == DOC_TYPE {
            doc_type = Some(data(b, el, el_end));
        }
        Ok(())
    })?;
    // Strings may be padded with NULs.
    let doc_type = doc_type.map(|d| {
        let len = d.iter().position(|&c| c == 0).unwrap_or(d.len());
        d.get(..len).unwrap_or_default()
    });
    if doc_type != Some(b"webm".as_slice()) {
        // Plain Matroska (.mka/.mkv) is not something a browser records.
        return Err(MediaError::Unsupported);
    }

    // Level-0 elements after the header (Void may come first); the first Segment is the file.
    let mut pos = header_end;
    let facts = loop {
        if pos >= b.len() {
            return Err(MediaError::damaged("WebM: no segment"));
        }
        let el = read_element(b, pos)?;
        if el.id == SEGMENT {
            let end = match el.size {
                Some(_) => el.end_within(b.len())?,
                None => b.len(),
            };
            break parse_segment(b, el.data, end)?;
        }
        pos = el.end_within(b.len())?;
    };

    if facts.video_tracks > 0 || facts.audio_tracks == 0 {
        return Err(MediaError::Unsupported);
    }
    let scale = facts.timecode_scale.unwrap_or(DEFAULT_TIMECODE_SCALE_NS);
    if scale == 0 {
        return Err(MediaError::damaged("WebM: timecode scale 0"));
    }
    let from_header = facts
        .duration
        .filter(|d| d.is_finite() && *d > 0.0)
        // Float to integer `as` saturates; durations far past the limit stay far past it.
        .map(|ticks| (ticks * scale as f64 / 1e6) as u64);
    let from_clusters = facts
        .last_tick
        .map(|t| u128::try_from(t.max(0)).unwrap_or(0).saturating_mul(u128::from(scale)))
        .and_then(|ns| to_ms(ns, 1_000_000_000));
    match (from_header, from_clusters) {
        (Some(h), Some(c)) => Ok(h.max(c)),
        (Some(ms), None) | (None, Some(ms)) => Ok(ms),
        (None, None) => Err(MediaError::damaged("duration unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints() {
        assert_eq!(vint(&[0x81], 0, 8), Some((1, 1, false)));
        assert_eq!(vint(&[0x40, 0x02], 0, 8), Some((2, 2, false)));
        assert_eq!(vint(&[0xFF], 0, 8), Some((127, 1, true)));
        assert_eq!(vint(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 0, 8).map(|v| v.2), Some(true));
        assert_eq!(vint(&[0x00, 1, 2, 3, 4, 5, 6, 7, 8], 0, 8), None);
        assert_eq!(vint(&[0x40], 0, 8), None);
    }

    #[test]
    fn ids_keep_their_marker() {
        let el = element_at(&[0x1A, 0x45, 0xDF, 0xA3, 0x84], 0);
        assert_eq!(el.map(|e| (e.id, e.size, e.data)), Some((EBML, Some(4), 5)));
        let unknown = element_at(&[0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 0);
        assert_eq!(unknown.map(|e| e.size), Some(None));
    }
}

//! MP4/M4A (ISO BMFF): an audio-only file with at least one sound track; duration from the
//! movie header, the sound tracks' media headers and sample tables, and movie fragments.
//!
//! Safari's and Chrome's MediaRecorder write *fragmented* MP4, whose movie header usually says 0
//! and whose samples live in `moof` boxes; a classic M4A states its duration in `mvhd`/`mdhd`
//! and lists sample durations in `stts`. The stated duration is used unless the samples add up
//! to more than a second beyond it (priming and padding are far less), so a header that
//! understates the length cannot hide a long recording.

use crate::MediaError;
use crate::bytes::{be_u32, be_u64, fourcc, to_ms, u8_at};

/// HEIF/AVIF still images share the `ftyp` box with MP4; they are photos we do not accept.
const IMAGE_BRANDS: [&[u8; 4]; 10] =
    [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"];

/// How far the samples may run past the stated duration before the header is taken to lie.
const SAMPLE_SLACK_MS: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    body: usize,
    end: usize,
}

fn truncated() -> MediaError {
    MediaError::damaged("MP4: box overruns its parent (truncated?)")
}

/// The box at `pos`, which must end within `parent_end`.
fn box_at(b: &[u8], pos: usize, parent_end: usize) -> Result<BoxHeader, MediaError> {
    if pos.checked_add(8).is_none_or(|h| h > parent_end) {
        return Err(truncated());
    }
    let size32 = be_u32(b, pos).ok_or_else(truncated)?;
    let kind = fourcc(b, pos + 4).ok_or_else(truncated)?;
    let (size, header): (u64, usize) = match size32 {
        0 => (u64::try_from(parent_end - pos).unwrap_or(u64::MAX), 8), // to the end
        1 => (be_u64(b, pos + 8).ok_or_else(truncated)?, 16),
        n => (u64::from(n), 8),
    };
    if size < header as u64 {
        return Err(MediaError::damaged("MP4: box smaller than its header"));
    }
    let end = usize::try_from(size)
        .ok()
        .and_then(|s| pos.checked_add(s))
        .filter(|&end| end <= parent_end)
        .ok_or_else(truncated)?;
    Ok(BoxHeader { kind, body: pos + header, end })
}

/// Calls `f` with each child box of `[start, end)`.
fn each_box(
    b: &[u8],
    start: usize,
    end: usize,
    mut f: impl FnMut(BoxHeader) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let mut pos = start;
    while pos < end {
        let bx = box_at(b, pos, end)?;
        f(bx)?;
        // A box is at least 8 bytes long, so this always advances.
        pos = bx.end;
    }
    Ok(())
}

/// The body of a box, bounded by the box (reads past it find nothing).
fn body(b: &[u8], bx: BoxHeader) -> &[u8] {
    b.get(bx.body..bx.end).unwrap_or_default()
}

fn short(what: &str) -> MediaError {
    MediaError::Damaged(format!("MP4: {what} box too short"))
}

/// `(timescale, duration)` of an `mvhd` or `mdhd` full box; `None` duration when unknown (all
/// ones) or zero (fragmented files write 0 for "see the fragments").
fn header_times(d: &[u8], what: &str) -> Result<(u32, Option<u64>), MediaError> {
    let (timescale, duration) = match u8_at(d, 0).ok_or_else(|| short(what))? {
        1 => (be_u32(d, 20), be_u64(d, 24)),
        _ => (be_u32(d, 12), be_u32(d, 16).map(|v| if v == u32::MAX { u64::MAX } else { u64::from(v) })),
    };
    let timescale = timescale.ok_or_else(|| short(what))?;
    let duration = duration.ok_or_else(|| short(what))?;
    Ok((timescale, Some(duration).filter(|&d| d != 0 && d != u64::MAX)))
}

#[derive(Debug, Default)]
struct Track {
    id: Option<u32>,
    handler: Option<[u8; 4]>,
    timescale: u32,
    media_duration: Option<u64>,
    /// Sum of the sample durations in `stts`.
    sample_table_duration: u128,
    /// `trex` default sample duration, for fragments that give none.
    default_sample_duration: Option<u32>,
    /// End of the last fragment seen, in media timescale units.
    fragments_end: u128,
    /// Running decode time for fragments without a `tfdt`.
    fragments_cursor: u128,
}

#[derive(Debug, Default)]
struct Movie {
    timescale: u32,
    duration: Option<u64>,
    fragment_duration: Option<u64>,
    tracks: Vec<Track>,
}

fn parse_stts(d: &[u8]) -> Result<u128, MediaError> {
    let count = be_u32(d, 4).ok_or_else(|| short("stts"))?;
    let entries = d.get(8..).unwrap_or_default();
    // Never trust the count: it must be backed by bytes.
    if u64::from(count) * 8 > entries.len() as u64 {
        return Err(short("stts"));
    }
    Ok(entries
        .chunks_exact(8)
        .take(count as usize)
        .map(|e| {
            let samples = be_u32(e, 0).unwrap_or(0);
            let delta = be_u32(e, 4).unwrap_or(0);
            u128::from(samples) * u128::from(delta)
        })
        .sum())
}

fn parse_trak(b: &[u8], trak: BoxHeader) -> Result<Track, MediaError> {
    let mut track = Track::default();
    each_box(b, trak.body, trak.end, |bx| {
        match &bx.kind {
            b"tkhd" => {
                let d = body(b, bx);
                let at = if u8_at(d, 0) == Some(1) { 20 } else { 12 };
                track.id = Some(be_u32(d, at).ok_or_else(|| short("tkhd"))?);
            }
            b"mdia" => each_box(b, bx.body, bx.end, |m| {
                match &m.kind {
                    b"mdhd" => {
                        (track.timescale, track.media_duration) = header_times(body(b, m), "mdhd")?;
                    }
                    b"hdlr" => track.handler = Some(fourcc(body(b, m), 8).ok_or_else(|| short("hdlr"))?),
                    b"minf" => each_box(b, m.body, m.end, |i| {
                        if &i.kind == b"stbl" {
                            each_box(b, i.body, i.end, |s| {
                                if &s.kind == b"stts" {
                                    track.sample_table_duration = parse_stts(body(b, s))?;
                                }
                                Ok(())
                            })?;
                        }
                        Ok(())
                    })?,
                    _ => {}
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(track)
}

fn parse_moov(b: &[u8], moov: BoxHeader, movie: &mut Movie) -> Result<(), MediaError> {
    let mut trex: Vec<(u32, u32)> = Vec::new();
    each_box(b, moov.body, moov.end, |bx| {
        match &bx.kind {
            b"mvhd" => (movie.timescale, movie.duration) = header_times(body(b, bx), "mvhd")?,
            b"trak" => movie.tracks.push(parse_trak(b, bx)?),
            b"mvex" => each_box(b, bx.body, bx.end, |x| {
                let d = body(b, x);
                match &x.kind {
                    b"mehd" => {
                        let duration = if u8_at(d, 0) == Some(1) { be_u64(d, 4) } else { be_u32(d, 4).map(u64::from) };
                        movie.fragment_duration = Some(duration.ok_or_else(|| short("mehd"))?);
                    }
                    b"trex" => {
                        let id = be_u32(d, 4).ok_or_else(|| short("trex"))?;
                        let default = be_u32(d, 12).ok_or_else(|| short("trex"))?;
                        trex.push((id, default));
                    }
                    _ => {}
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    for (id, default) in trex {
        if let Some(track) = movie.tracks.iter_mut().find(|t| t.id == Some(id)) {
            track.default_sample_duration = Some(default);
        }
    }
    Ok(())
}

/// Sum of sample durations in one `trun`, given the default for samples that state none.
fn trun_duration(d: &[u8], default: Option<u32>) -> Result<Option<u128>, MediaError> {
    let flags = be_u32(d, 0).ok_or_else(|| short("trun"))? & 0x00FF_FFFF;
    let count = be_u32(d, 4).ok_or_else(|| short("trun"))?;
    let mut at = 8usize;
    if flags & 0x01 != 0 {
        at += 4; // data offset
    }
    if flags & 0x04 != 0 {
        at += 4; // first sample flags
    }
    let per_sample = [0x100, 0x200, 0x400, 0x800].iter().filter(|&&f| flags & f != 0).count() * 4;
    let samples = d.get(at..).unwrap_or_default();
    if per_sample == 0 {
        return Ok(default.map(|dflt| u128::from(count) * u128::from(dflt)));
    }
    // The count must be backed by bytes before it drives a loop.
    if u64::from(count) * per_sample as u64 > samples.len() as u64 {
        return Err(short("trun"));
    }
    if flags & 0x100 == 0 {
        return Ok(default.map(|dflt| u128::from(count) * u128::from(dflt)));
    }
    Ok(Some(samples.chunks_exact(per_sample).take(count as usize).map(|s| u128::from(be_u32(s, 0).unwrap_or(0))).sum()))
}

fn parse_moof(b: &[u8], moof: BoxHeader, movie: &mut Movie) -> Result<(), MediaError> {
    each_box(b, moof.body, moof.end, |traf| {
        if &traf.kind != b"traf" {
            return Ok(());
        }
        let mut track_id: Option<u32> = None;
        let mut default: Option<u32> = None;
        let mut base: Option<u128> = None;
        let mut truns: Vec<BoxHeader> = Vec::new();
        each_box(b, traf.body, traf.end, |bx| {
            let d = body(b, bx);
            match &bx.kind {
                b"tfhd" => {
                    let flags = be_u32(d, 0).ok_or_else(|| short("tfhd"))? & 0x00FF_FFFF;
                    track_id = Some(be_u32(d, 4).ok_or_else(|| short("tfhd"))?);
                    if flags & 0x08 != 0 {
                        let mut at = 8;
                        if flags & 0x01 != 0 {
                            at += 8; // base data offset
                        }
                        if flags & 0x02 != 0 {
                            at += 4; // sample description index
                        }
                        default = Some(be_u32(d, at).ok_or_else(|| short("tfhd"))?);
                    }
                }
                b"tfdt" => {
                    let time = if u8_at(d, 0) == Some(1) { be_u64(d, 4) } else { be_u32(d, 4).map(u64::from) };
                    base = Some(u128::from(time.ok_or_else(|| short("tfdt"))?));
                }
                b"trun" => truns.push(bx),
                _ => {}
            }
            Ok(())
        })?;
        let Some(track) = movie.tracks.iter_mut().find(|t| track_id.is_some() && t.id == track_id) else {
            return Ok(());
        };
        let default = default.or(track.default_sample_duration);
        let mut total = 0u128;
        for trun in truns {
            total = total.saturating_add(trun_duration(body(b, trun), default)?.unwrap_or(0));
        }
        let end = base.unwrap_or(track.fragments_cursor).saturating_add(total);
        track.fragments_cursor = end;
        track.fragments_end = track.fragments_end.max(end);
        Ok(())
    })
}

pub(crate) fn duration_ms(b: &[u8]) -> Result<u64, MediaError> {
    let ftyp = box_at(b, 0, b.len())?;
    let ftyp_body = body(b, ftyp);
    let is_image = ftyp_body
        .chunks_exact(4)
        .enumerate()
        // Major brand, then compatible brands (the minor version at index 1 is no brand).
        .any(|(i, brand)| i != 1 && IMAGE_BRANDS.iter().any(|ib| ib.as_slice() == brand));
    if is_image {
        return Err(MediaError::Unsupported);
    }

    let mut movie = Movie::default();
    let mut saw_moov = false;
    let mut moofs: Vec<BoxHeader> = Vec::new();
    each_box(b, ftyp.end, b.len(), |bx| {
        match &bx.kind {
            b"moov" if !saw_moov => {
                saw_moov = true;
                parse_moov(b, bx, &mut movie)?;
            }
            b"moov" => return Err(MediaError::damaged("MP4: two movie boxes")),
            b"moof" => moofs.push(bx),
            _ => {}
        }
        Ok(())
    })?;
    if !saw_moov {
        return Err(MediaError::damaged("MP4: no movie box (truncated?)"));
    }
    // Fragments may only be read once all tracks are known.
    for moof in moofs {
        parse_moof(b, moof, &mut movie)?;
    }

    let has = |h: &[u8; 4]| movie.tracks.iter().any(|t| t.handler.as_ref() == Some(h));
    if !has(b"soun") || has(b"vide") {
        return Err(MediaError::Unsupported);
    }

    // What the headers state, and what the samples add up to.
    let movie_ms = |units: Option<u64>| units.and_then(|u| to_ms(u128::from(u), u128::from(movie.timescale)));
    // The movie header gives the presentation length (after edit lists); a track's media
    // header includes encoder priming, so it only stands in when the movie header says nothing.
    let movie_stated = [movie_ms(movie.duration), movie_ms(movie.fragment_duration)].into_iter().flatten().max();
    let mut media_stated: Option<u64> = None;
    let mut counted: Option<u64> = None;
    for track in movie.tracks.iter().filter(|t| t.handler.as_ref() == Some(b"soun")) {
        let rate = u128::from(track.timescale);
        let media = track.media_duration.and_then(|d| to_ms(u128::from(d), rate));
        media_stated = media_stated.max(media);
        for units in [track.sample_table_duration, track.fragments_end] {
            counted = counted.max(Some(units).filter(|&u| u > 0).and_then(|u| to_ms(u, rate)));
        }
    }
    match (movie_stated.or(media_stated), counted) {
        // The samples usually run a little past the stated duration (encoder priming and
        // padding, trimmed by an edit list we do not interpret); only a real excess shows a
        // header that understates the recording.
        (Some(stated), Some(counted)) if counted > stated.saturating_add(SAMPLE_SLACK_MS) => Ok(counted),
        (Some(ms), _) | (None, Some(ms)) => Ok(ms),
        (None, None) => Err(MediaError::damaged("duration unknown")),
    }
}

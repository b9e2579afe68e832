//! Builders for minimal but valid media files with known properties.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use image::{DynamicImage, ImageFormat, RgbImage, Rgba, RgbaImage};
use std::io::Cursor;

// ---------------------------------------------------------------- photos

/// A gradient so encoders have something to encode.
pub fn rgb_image(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]))
}

pub fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    encode(DynamicImage::ImageRgb8(rgb_image(w, h)), ImageFormat::Png)
}

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(DynamicImage::ImageRgb8(rgb_image(w, h)), ImageFormat::Jpeg)
}

pub fn webp(w: u32, h: u32) -> Vec<u8> {
    encode(DynamicImage::ImageRgb8(rgb_image(w, h)), ImageFormat::WebP)
}

/// A PNG that is fully transparent except for one opaque red pixel at the top-left.
pub fn transparent_png(w: u32, h: u32) -> Vec<u8> {
    let mut img = RgbaImage::from_pixel(w, h, Rgba([0, 0, 0, 0]));
    img.put_pixel(0, 0, Rgba([255, 0, 0, 255]));
    encode(DynamicImage::ImageRgba8(img), ImageFormat::Png)
}

/// Standard (reflected) CRC-32, as PNG uses it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend(data);
    out.extend(crc32(&crc_input).to_be_bytes());
    out
}

/// A PNG signature and a valid IHDR declaring `w`×`h`, then only an IEND: no pixel data.
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// Inserts an EXIF APP1 segment carrying `orientation` right after a JPEG's SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian TIFF, IFD0 at 8
    tiff.extend(1u16.to_be_bytes()); // one entry
    tiff.extend(0x0112u16.to_be_bytes()); // Orientation
    tiff.extend(3u16.to_be_bytes()); // SHORT
    tiff.extend(1u32.to_be_bytes()); // count
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]); // value padding
    tiff.extend(0u32.to_be_bytes()); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

// ---------------------------------------------------------------- Ogg

/// Ogg's CRC: polynomial 0x04C11DB7, not reflected, init 0, no final xor.
pub fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04C1_1DB7 } else { crc << 1 };
        }
    }
    crc
}

pub const BOS: u8 = 0x02;
pub const EOS: u8 = 0x04;

/// One Ogg page holding one packet (at most 255·255 bytes).
pub fn ogg_page(flags: u8, granule: u64, serial: u32, seq: u32, packet: &[u8]) -> Vec<u8> {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    let mut page = b"OggS\0".to_vec();
    page.push(flags);
    page.extend(granule.to_le_bytes());
    page.extend(serial.to_le_bytes());
    page.extend(seq.to_le_bytes());
    page.extend([0; 4]);
    page.push(lacing.len() as u8);
    page.extend(lacing);
    page.extend(packet);
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

pub fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(1); // channels
    head.extend(pre_skip.to_le_bytes());
    head.extend(48_000u32.to_le_bytes()); // original rate (informational)
    head.extend(0i16.to_le_bytes()); // gain
    head.push(0); // mapping family
    head
}

pub fn vorbis_ident(rate: u32) -> Vec<u8> {
    let mut id = b"\x01vorbis".to_vec();
    id.extend(0u32.to_le_bytes()); // version
    id.push(1); // channels
    id.extend(rate.to_le_bytes());
    id.extend([0; 12]); // bitrates
    id.push(0xB8); // block sizes
    id.push(1); // framing
    id
}

/// An Ogg stream: header packet, comment packet, then audio pages up to `final_granule`
/// (one page a second of 48 kHz audio, the last with EOS).
pub fn ogg_stream(head: &[u8], comment: &[u8], final_granule: u64) -> Vec<u8> {
    let serial = 0x5EED;
    let mut out = ogg_page(BOS, 0, serial, 0, head);
    out.extend(ogg_page(0, 0, serial, 1, comment));
    let mut granule = 0u64;
    let mut seq = 2;
    loop {
        granule = (granule + 48_000).min(final_granule);
        let last = granule == final_granule;
        out.extend(ogg_page(if last { EOS } else { 0 }, granule, serial, seq, &[0xFC; 40]));
        seq += 1;
        if last {
            return out;
        }
    }
}

pub fn ogg_opus(duration_ms: u64, pre_skip: u16) -> Vec<u8> {
    ogg_stream(&opus_head(pre_skip), b"OpusTags\x05\0\0\0wuwei\0\0\0\0", duration_ms * 48 + u64::from(pre_skip))
}

pub fn ogg_vorbis(duration_ms: u64, rate: u32) -> Vec<u8> {
    ogg_stream(&vorbis_ident(rate), b"\x03vorbis\x05\0\0\0wuwei\0\0\0\0\x01", duration_ms * u64::from(rate) / 1000)
}

// ---------------------------------------------------------------- WebM

/// An EBML element with a known size (always written as an 8-byte vint).
pub fn el(id: u32, data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = id.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
    out.push(0x01);
    out.extend(&(data.len() as u64).to_be_bytes()[1..]);
    out.extend(data);
    out
}

/// An EBML element with the "unknown" size, as live recorders write it.
pub fn el_unknown(id: u32, data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = id.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
    out.extend([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    out.extend(data);
    out
}

pub fn uint(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn simple_block(relative: i16) -> Vec<u8> {
    let mut data = vec![0x81]; // track 1
    data.extend(relative.to_be_bytes());
    data.push(0x80); // keyframe
    data.extend([0xFC; 20]); // an Opus frame, as far as anyone here cares
    el(0xA3, &data)
}

pub struct WebmSpec<'a> {
    pub doc_type: &'a str,
    /// Info → Duration in ticks, if written.
    pub duration: Option<f64>,
    pub timecode_scale: Option<u64>,
    /// Track types (2 audio, 1 video).
    pub tracks: &'a [u64],
    /// Clusters: timecode and the relative timecodes of their SimpleBlocks.
    pub clusters: &'a [(u64, &'a [i16])],
    /// Write the Segment and the Clusters with unknown size, as MediaRecorder does.
    pub live: bool,
}

impl Default for WebmSpec<'_> {
    fn default() -> Self {
        WebmSpec { doc_type: "webm", duration: None, timecode_scale: None, tracks: &[2], clusters: &[], live: false }
    }
}

pub fn webm(spec: &WebmSpec<'_>) -> Vec<u8> {
    let mut header = el(0x4286, &[1]); // EBMLVersion
    header.extend(el(0x4282, spec.doc_type.as_bytes()));
    let mut out = el(0x1A45_DFA3, &header);

    let mut info = Vec::new();
    if let Some(scale) = spec.timecode_scale {
        info.extend(el(0x2A_D7B1, &uint(scale)));
    }
    if let Some(d) = spec.duration {
        info.extend(el(0x4489, &d.to_be_bytes()));
    }
    info.extend(el(0x4D80, b"wuwei-test")); // MuxingApp
    let mut segment = el(0xEC, &[0; 16]); // Void, as muxers reserve space
    segment.extend(el(0x1549_A966, &info));

    let mut tracks = Vec::new();
    for (i, &kind) in spec.tracks.iter().enumerate() {
        let mut entry = el(0xD7, &uint(i as u64 + 1)); // TrackNumber
        entry.extend(el(0x83, &uint(kind)));
        entry.extend(el(0x86, if kind == 2 { b"A_OPUS" } else { b"V_VP8\0" }));
        tracks.extend(el(0xAE, &entry));
    }
    segment.extend(el(0x1654_AE6B, &tracks));

    for &(timecode, blocks) in spec.clusters {
        let mut cluster = el(0xE7, &uint(timecode));
        for &rel in blocks {
            cluster.extend(simple_block(rel));
        }
        segment.extend(if spec.live { el_unknown(0x1F43_B675, &cluster) } else { el(0x1F43_B675, &cluster) });
    }
    out.extend(if spec.live { el_unknown(0x1853_8067, &segment) } else { el(0x1853_8067, &segment) });
    out
}

/// Clusters every 10 s (relative timecodes are 16-bit) with blocks every 20 ms... thinned to
/// every second to keep the file small, and a final block at exactly `ms`.
pub fn clusters_for(ms: u64) -> Vec<(u64, Vec<i16>)> {
    let mut clusters = Vec::new();
    let mut start = 0;
    while start <= ms {
        let mut blocks: Vec<i16> = (0..10_000).step_by(1000).filter(|r| start + r < ms).map(|r| r as i16).collect();
        if ms - start < 10_000 {
            blocks.push((ms - start) as i16);
        }
        clusters.push((start, blocks));
        start += 10_000;
    }
    clusters
}

pub fn webm_with(duration: Option<f64>, last_block_ms: u64, live: bool) -> Vec<u8> {
    let clusters = clusters_for(last_block_ms);
    let refs: Vec<(u64, &[i16])> = clusters.iter().map(|(t, b)| (*t, b.as_slice())).collect();
    webm(&WebmSpec { duration, clusters: &refs, live, ..WebmSpec::default() })
}

// ---------------------------------------------------------------- MP4

pub fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(body);
    out
}

pub fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = ((u32::from(version) << 24) | flags).to_be_bytes().to_vec();
    b.extend(body);
    bx(kind, &b)
}

pub fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut body = major.to_vec();
    body.extend(0u32.to_be_bytes());
    for c in compatible {
        body.extend(*c);
    }
    bx(b"ftyp", &body)
}

/// mvhd (version 0 or 1) or mdhd: the time fields, then the rest of the box.
fn times(version: u8, timescale: u32, duration: u64, rest: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    if version == 1 {
        b.extend([0; 16]);
        b.extend(timescale.to_be_bytes());
        b.extend(duration.to_be_bytes());
    } else {
        b.extend([0; 8]);
        b.extend(timescale.to_be_bytes());
        b.extend((duration as u32).to_be_bytes());
    }
    b.extend(rest);
    b
}

pub fn mvhd(version: u8, timescale: u32, duration: u64) -> Vec<u8> {
    full(b"mvhd", version, 0, &times(version, timescale, duration, &[0; 80]))
}

pub struct TrackSpec {
    pub id: u32,
    pub handler: [u8; 4],
    pub timescale: u32,
    pub duration: u64,
    /// stts entries: (sample count, sample delta).
    pub stts: Vec<(u32, u32)>,
}

pub fn trak(t: &TrackSpec, version: u8) -> Vec<u8> {
    let mut tkhd = vec![0; 8];
    tkhd.extend(t.id.to_be_bytes());
    tkhd.extend([0; 68]);
    let mut hdlr = vec![0; 4];
    hdlr.extend(t.handler);
    hdlr.extend([0; 12]);
    hdlr.push(0);
    let mut stts = (t.stts.len() as u32).to_be_bytes().to_vec();
    for (count, delta) in &t.stts {
        stts.extend(count.to_be_bytes());
        stts.extend(delta.to_be_bytes());
    }
    let stbl = bx(b"stbl", &full(b"stts", 0, 0, &stts));
    let mut mdia = full(b"mdhd", version, 0, &times(version, t.timescale, t.duration, &[0x55, 0xC4, 0, 0]));
    mdia.extend(full(b"hdlr", 0, 0, &hdlr));
    mdia.extend(bx(b"minf", &stbl));
    let mut trak = full(b"tkhd", 0, 3, &tkhd);
    trak.extend(bx(b"mdia", &mdia));
    bx(b"trak", &trak)
}

pub fn sound(timescale: u32, samples: u32, delta: u32) -> TrackSpec {
    TrackSpec {
        id: 1,
        handler: *b"soun",
        timescale,
        duration: u64::from(samples) * u64::from(delta),
        stts: vec![(samples, delta)],
    }
}

/// A classic (non-fragmented) M4A: ftyp, moov, mdat.
pub fn m4a(version: u8, movie_timescale: u32, movie_duration: u64, tracks: &[TrackSpec]) -> Vec<u8> {
    let mut moov = mvhd(version, movie_timescale, movie_duration);
    for t in tracks {
        moov.extend(trak(t, version));
    }
    let mut out = ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"]);
    out.extend(bx(b"moov", &moov));
    out.extend(bx(b"mdat", &[0xAA; 64]));
    out
}

/// A fragmented MP4 as MediaRecorder writes it: empty durations in moov, a trex default of
/// 1024 samples, and fragments of `per_fragment` samples each at 48 kHz.
pub fn fragmented_m4a(fragments: u32, per_fragment: u32, explicit_durations: bool) -> Vec<u8> {
    let track = TrackSpec { id: 1, handler: *b"soun", timescale: 48_000, duration: 0, stts: vec![] };
    let mut moov = mvhd(0, 1000, 0);
    moov.extend(trak(&track, 0));
    let mut trex = 1u32.to_be_bytes().to_vec(); // track id
    trex.extend(1u32.to_be_bytes()); // sample description index
    trex.extend(1024u32.to_be_bytes()); // default sample duration
    trex.extend([0; 8]);
    moov.extend(bx(b"mvex", &full(b"trex", 0, 0, &trex)));
    let mut out = ftyp(b"iso5", &[b"iso5", b"iso6", b"mp41"]);
    out.extend(bx(b"moov", &moov));
    for f in 0..fragments {
        let mut traf = full(b"tfhd", 0, 0x02_0000, &1u32.to_be_bytes()); // default-base-is-moof
        traf.extend(full(b"tfdt", 1, 0, &(u64::from(f) * u64::from(per_fragment) * 1024).to_be_bytes()));
        let mut trun = per_fragment.to_be_bytes().to_vec();
        if explicit_durations {
            for _ in 0..per_fragment {
                trun.extend(1024u32.to_be_bytes());
                trun.extend(10u32.to_be_bytes());
            }
            traf.extend(full(b"trun", 0, 0x300, &trun));
        } else {
            for _ in 0..per_fragment {
                trun.extend(10u32.to_be_bytes());
            }
            traf.extend(full(b"trun", 0, 0x200, &trun));
        }
        let mut moof = full(b"mfhd", 0, 0, &(f + 1).to_be_bytes());
        moof.extend(bx(b"traf", &traf));
        out.extend(bx(b"moof", &moof));
        out.extend(bx(b"mdat", &vec![0xAA; per_fragment as usize * 10]));
    }
    out
}

// ---------------------------------------------------------------- fixtures

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub const FIXTURES: [&str; 9] = [
    "photo.jpg",
    "photo.png",
    "photo.webp",
    "voice-opus.ogg",
    "voice-vorbis.ogg",
    "voice.webm",
    "voice-live.webm",
    "voice.m4a",
    "voice-fragmented.m4a",
];

//! Fuzz-ish properties: whatever the bytes, `inspect` and `thumbnail` return (never panic, never
//! hang), and what `inspect` accepts is within the limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use wuwei_media::*;

/// Valid files of every format: the checked-in fixtures and hand-built ones.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut c: Vec<Vec<u8>> = FIXTURES.iter().map(|name| fixture(name)).collect();
        c.push(jpeg(48, 32));
        c.push(with_exif_orientation(&jpeg(30, 20), 8));
        c.push(png(33, 17));
        c.push(transparent_png(20, 20));
        c.push(webp(25, 40));
        c.push(ogg_opus(3500, 312));
        c.push(ogg_vorbis(2500, 44_100));
        c.push(webm_with(None, 3500, true));
        c.push(webm_with(Some(3500.0), 3500, false));
        c.push(m4a(0, 1000, 3500, &[sound(16_000, 56, 1000)]));
        c.push(m4a(1, 1000, 3500, &[sound(16_000, 56, 1000)]));
        c.push(fragmented_m4a(3, 20, true));
        c.push(fragmented_m4a(3, 20, false));
        c
    })
}

const MAGICS: [&[u8]; 8] = [
    &[0xFF, 0xD8, 0xFF],
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x40\0\0\0WEBP",
    b"RIFF\x40\0\0\0WEBPVP8X",
    &[0x1A, 0x45, 0xDF, 0xA3],
    b"OggS",
    b"\0\0\0\x14ftypM4A ",
    b"\0\0\0\x01ftyp",
];

/// Runs both entry points and checks what an accepted result promises.
fn check(bytes: &[u8]) {
    if let Ok(i) = inspect(bytes) {
        match i.kind {
            MediaKind::Photo => {
                let pixels = u64::from(i.width.unwrap()) * u64::from(i.height.unwrap());
                assert!(pixels > 0 && pixels <= MAX_PIXELS);
                assert!(i.duration_ms.is_none());
            }
            MediaKind::Voice => assert!(i.duration_ms.unwrap() <= MAX_VOICE_MS),
        }
    }
    if let Ok(t) = thumbnail(bytes, 16) {
        let i = inspect(&t).expect("a thumbnail is a valid photo");
        assert_eq!(i.mime, "image/jpeg");
        assert!(i.width.unwrap().max(i.height.unwrap()) <= 16);
    }
}

proptest! {
    // 512 cases a property unless PROPTEST_CASES says otherwise (for longer local runs).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_magic(
        magic in 0..MAGICS.len(),
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = MAGICS[magic].to_vec();
        bytes.extend(tail);
        check(&bytes);
    }

    #[test]
    fn truncations_of_valid_files(which in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let file = which.get(corpus());
        let cut = cut.index(file.len() + 1);
        check(&file[..cut]);
    }

    #[test]
    fn mutations_of_valid_files(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut file = which.get(corpus()).clone();
        for (at, value) in edits {
            let at = at.index(file.len());
            file[at] = value;
        }
        check(&file);
    }

    #[test]
    fn valid_files_with_a_tail_of_noise(
        which in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let mut file = which.get(corpus()).clone();
        file.extend(tail);
        check(&file);
    }
}

#[test]
fn the_corpus_itself_is_valid() {
    for (i, file) in corpus().iter().enumerate() {
        assert!(inspect(file).is_ok(), "corpus[{i}]: {:?}", inspect(file));
    }
}

#[test]
fn every_prefix_of_every_voice_note_returns() {
    // Exhaustive rather than sampled for the small hand-built containers.
    for file in corpus().iter().filter(|f| inspect(f).map(|i| i.kind) == Ok(MediaKind::Voice)) {
        for cut in 0..file.len() {
            let _ = inspect(&file[..cut]);
        }
    }
}

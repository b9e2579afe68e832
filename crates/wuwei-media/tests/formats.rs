#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wuwei_media::*;

fn photo(mime: &str, w: u32, h: u32) -> Inspected {
    Inspected {
        kind: MediaKind::Photo,
        mime: match mime {
            "image/jpeg" => "image/jpeg",
            "image/png" => "image/png",
            _ => "image/webp",
        },
        width: Some(w),
        height: Some(h),
        duration_ms: None,
    }
}

fn voice(bytes: &[u8]) -> (&'static str, u64) {
    let i = inspect(bytes).unwrap();
    assert_eq!(i.kind, MediaKind::Voice);
    assert_eq!((i.width, i.height), (None, None));
    (i.mime, i.duration_ms.unwrap())
}

fn is_damaged(r: Result<Inspected, MediaError>) -> bool {
    matches!(r, Err(MediaError::Damaged(_)))
}

// ------------------------------------------------------------------ photos

#[test]
fn photos_are_recognised_with_their_dimensions() {
    assert_eq!(inspect(&jpeg(400, 300)), Ok(photo("image/jpeg", 400, 300)));
    assert_eq!(inspect(&png(123, 45)), Ok(photo("image/png", 123, 45)));
    assert_eq!(inspect(&webp(64, 80)), Ok(photo("image/webp", 64, 80)));
}

#[test]
fn real_photo_fixtures_from_another_encoder() {
    // Written by ffmpeg (libjpeg-style JPEG, PNG, libwebp lossy), 64×48.
    assert_eq!(inspect(&fixture("photo.jpg")), Ok(photo("image/jpeg", 64, 48)));
    assert_eq!(inspect(&fixture("photo.png")), Ok(photo("image/png", 64, 48)));
    assert_eq!(inspect(&fixture("photo.webp")), Ok(photo("image/webp", 64, 48)));
}

#[test]
fn text_renamed_to_jpg_is_unsupported() {
    let text = b"Dear township office, the street lamp on Lane 3 is broken again.\n";
    assert_eq!(inspect(text), Err(MediaError::Unsupported));
    assert_eq!(inspect(b""), Err(MediaError::Unsupported));
    assert_eq!(thumbnail(text, 320), Err(MediaError::Unsupported));
    // Other real formats we do not take: GIF, WAV, PDF, HEIC.
    assert_eq!(inspect(b"GIF89a\x01\0\x01\0\0\0\0;"), Err(MediaError::Unsupported));
    assert_eq!(inspect(b"RIFF\x24\0\0\0WAVEfmt "), Err(MediaError::Unsupported));
    assert_eq!(inspect(b"%PDF-1.7\n"), Err(MediaError::Unsupported));
    let mut heic = ftyp(b"heic", &[b"mif1", b"heic"]);
    heic.extend(bx(b"meta", &[0; 32]));
    assert_eq!(inspect(&heic), Err(MediaError::Unsupported));
}

#[test]
fn png_header_followed_by_garbage_is_damaged() {
    let good = png(64, 64);
    // Signature and IHDR (8 + 25 bytes) intact, then noise.
    let mut bad = good[..33].to_vec();
    bad.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
    assert!(is_damaged(inspect(&bad)), "{:?}", inspect(&bad));
    assert!(matches!(thumbnail(&bad, 320), Err(MediaError::Damaged(_))));
    // A valid header declaring pixels that never come.
    assert!(is_damaged(inspect(&png_header_only(64, 64))));
}

#[test]
fn truncated_photos_are_damaged() {
    for (name, full) in [("jpeg", jpeg(200, 150)), ("png", png(200, 150)), ("webp", webp(200, 150))] {
        for cut in [full.len() / 3, full.len() / 2, full.len() - 3, full.len() - 20] {
            let r = inspect(&full[..cut]);
            assert!(is_damaged(r.clone()), "{name} cut at {cut}/{}: {r:?}", full.len());
        }
    }
    let real = fixture("photo.jpg");
    assert!(is_damaged(inspect(&real[..real.len() - 2])), "JPEG without EOI");
}

#[test]
fn jpeg_with_trailing_bytes_after_eoi_is_accepted() {
    let mut j = jpeg(40, 30);
    j.extend(b"some phones append metadata after the image");
    assert_eq!(inspect(&j), Ok(photo("image/jpeg", 40, 30)));
}

#[test]
fn huge_dimensions_are_refused_before_decoding() {
    // 100000×100000 would need 30 GB to decode; only the header is read.
    let bomb = png_header_only(100_000, 100_000);
    assert_eq!(inspect(&bomb), Err(MediaError::TooManyPixels(10_000_000_000)));
    assert_eq!(thumbnail(&bomb, 320), Err(MediaError::TooManyPixels(10_000_000_000)));
    // Just over the limit, and just at it (the latter then fails for lack of data, not size).
    assert_eq!(inspect(&png_header_only(50_000_001, 1)), Err(MediaError::TooManyPixels(50_000_001)));
    assert!(is_damaged(inspect(&png_header_only(10_000, 5_000))));
    assert_eq!(MediaError::TooManyPixels(1).http_status(), 413);
}

#[test]
fn webp_with_a_huge_canvas_is_refused() {
    // VP8X header: canvas 16384×16384 (stored minus one, 24-bit little endian).
    let mut vp8x = vec![0u8; 4];
    vp8x.extend(&16383u32.to_le_bytes()[..3]);
    vp8x.extend(&16383u32.to_le_bytes()[..3]);
    let mut body = b"WEBPVP8X".to_vec();
    body.extend(10u32.to_le_bytes());
    body.extend(vp8x);
    let mut file = b"RIFF".to_vec();
    file.extend((body.len() as u32).to_le_bytes());
    file.extend(body);
    assert_eq!(inspect(&file), Err(MediaError::TooManyPixels(16384 * 16384)));
}

#[test]
fn oversized_inputs_are_too_large() {
    let mut big_photo = png(8, 8);
    big_photo.resize(MAX_PHOTO_BYTES + 1, 0);
    assert_eq!(inspect(&big_photo), Err(MediaError::TooLarge { size: MAX_PHOTO_BYTES + 1, max: MAX_PHOTO_BYTES }));
    assert_eq!(
        thumbnail(&big_photo, 320),
        Err(MediaError::TooLarge { size: MAX_PHOTO_BYTES + 1, max: MAX_PHOTO_BYTES })
    );
    let mut big_voice = ogg_opus(3500, 312);
    big_voice.resize(MAX_VOICE_BYTES + 1, 0);
    assert_eq!(inspect(&big_voice), Err(MediaError::TooLarge { size: MAX_VOICE_BYTES + 1, max: MAX_VOICE_BYTES }));
    // Exactly at the limit is not refused for size (here: damaged by the zero padding).
    big_voice.truncate(MAX_VOICE_BYTES);
    assert!(is_damaged(inspect(&big_voice)));
}

#[test]
fn exif_orientation_is_applied() {
    // 40×20 landscape, top-left quarter red; EXIF 6 = rotate 90° clockwise for display.
    let mut img = rgb_image(40, 20);
    for x in 0..10 {
        for y in 0..5 {
            img.put_pixel(x, y, image::Rgb([255, 0, 0]));
        }
    }
    let plain = encode(image::DynamicImage::ImageRgb8(img), image::ImageFormat::Jpeg);
    let rotated = with_exif_orientation(&plain, 6);
    assert_eq!(inspect(&rotated), Ok(photo("image/jpeg", 20, 40)));
    let thumb = image::load_from_memory(&thumbnail(&rotated, 320).unwrap()).unwrap().to_rgb8();
    assert_eq!(thumb.dimensions(), (20, 40));
    // After a clockwise quarter turn the red corner is at the top right.
    let top_right = thumb.get_pixel(17, 2).0;
    let top_left = thumb.get_pixel(2, 2).0;
    assert!(top_right[0] > 200 && top_right[1] < 60, "top right {top_right:?}");
    assert!(top_left[0] < 60, "top left {top_left:?}");
    // Orientation 1 changes nothing.
    assert_eq!(inspect(&with_exif_orientation(&plain, 1)), Ok(photo("image/jpeg", 40, 20)));
}

// ------------------------------------------------------------------ thumbnails

fn thumb_dims(bytes: &[u8], max_side: u32) -> (u32, u32) {
    let t = thumbnail(bytes, max_side).unwrap();
    let i = inspect(&t).unwrap();
    assert_eq!(i.mime, "image/jpeg", "thumbnails are JPEG");
    (i.width.unwrap(), i.height.unwrap())
}

#[test]
fn thumbnails_fit_keep_aspect_and_are_jpeg() {
    assert_eq!(thumb_dims(&png(1000, 500), THUMB_MAX_SIDE), (320, 160));
    assert_eq!(thumb_dims(&jpeg(600, 1200), THUMB_MAX_SIDE), (160, 320));
    assert_eq!(thumb_dims(&webp(999, 333), THUMB_MAX_SIDE), (320, 107));
    assert_eq!(thumb_dims(&png(1000, 1000), 64), (64, 64));
    assert_eq!(thumb_dims(&fixture("photo.webp"), 32), (32, 24));
}

#[test]
fn thumbnails_never_upscale() {
    assert_eq!(thumb_dims(&png(100, 50), THUMB_MAX_SIDE), (100, 50));
    assert_eq!(thumb_dims(&fixture("photo.jpg"), THUMB_MAX_SIDE), (64, 48));
    assert_eq!(thumb_dims(&png(320, 10), THUMB_MAX_SIDE), (320, 10));
}

#[test]
fn thumbnail_degenerate_sizes() {
    assert_eq!(thumb_dims(&png(40, 20), 0), (1, 1), "max side 0 is taken as 1");
    assert_eq!(thumb_dims(&png(2000, 1), THUMB_MAX_SIDE), (320, 1));
}

#[test]
fn transparency_becomes_white_not_black() {
    let t = thumbnail(&transparent_png(50, 50), 320).unwrap();
    let img = image::load_from_memory(&t).unwrap().to_rgb8();
    let p = img.get_pixel(40, 40).0;
    assert!(p.iter().all(|&c| c > 240), "transparent area is {p:?}");
}

#[test]
fn thumbnails_of_voice_notes_are_unsupported() {
    assert_eq!(thumbnail(&ogg_opus(3500, 312), 320), Err(MediaError::Unsupported));
    assert_eq!(inspect_with_thumbnail(&ogg_opus(3500, 312), 320).unwrap().1, None);
}

#[test]
fn inspect_with_thumbnail_agrees_with_the_separate_calls() {
    let p = jpeg(800, 600);
    let (i, t) = inspect_with_thumbnail(&p, 320).unwrap();
    assert_eq!(i, inspect(&p).unwrap());
    assert_eq!(t.unwrap(), thumbnail(&p, 320).unwrap());
    assert_eq!(i.extension(), "jpg");
}

// ------------------------------------------------------------------ Ogg

#[test]
fn ogg_opus_duration_subtracts_pre_skip() {
    assert_eq!(voice(&ogg_opus(3500, 312)), ("audio/ogg", 3500));
    assert_eq!(voice(&ogg_opus(120_000, 3840)), ("audio/ogg", 120_000), "exactly 2 min is fine");
}

#[test]
fn ogg_vorbis_duration_uses_its_sample_rate() {
    assert_eq!(voice(&ogg_vorbis(3500, 44_100)), ("audio/ogg", 3500));
    assert_eq!(voice(&ogg_vorbis(2500, 22_050)), ("audio/ogg", 2500));
}

#[test]
fn real_ogg_fixtures() {
    // A 3.5 s tone. (ffprobe says 3.5065 s for the Opus file: it does not subtract the
    // 312-sample pre-skip, which RFC 7845 says to.)
    assert_eq!(voice(&fixture("voice-opus.ogg")), ("audio/ogg", 3500));
    assert_eq!(voice(&fixture("voice-vorbis.ogg")), ("audio/ogg", 2500));
}

#[test]
fn ogg_over_two_minutes_is_too_long() {
    assert_eq!(inspect(&ogg_opus(130_000, 312)), Err(MediaError::TooLong { ms: 130_000, max_ms: MAX_VOICE_MS }));
    assert_eq!(inspect(&ogg_vorbis(120_001, 48_000)), Err(MediaError::TooLong { ms: 120_001, max_ms: MAX_VOICE_MS }));
}

#[test]
fn ogg_damage_is_found() {
    let good = ogg_opus(3500, 312);
    // Truncated: the last page is incomplete.
    assert!(is_damaged(inspect(&good[..good.len() - 5])));
    // A flipped byte in an audio page's body breaks its CRC.
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 10] ^= 0x40;
    assert!(is_damaged(inspect(&flipped)));
    // Trailing garbage after the last page.
    let mut trailing = good.clone();
    trailing.extend(b"garbage");
    assert!(is_damaged(inspect(&trailing)));
    // Only headers, no audio page: nothing says how long it is.
    let headers = ogg_stream(&opus_head(312), b"OpusTags\0\0\0\0\0\0\0\0", 0);
    let header_pages = &headers[..headers.len() - ogg_page(EOS, 0, 0, 0, &[0xFC; 40]).len()];
    assert_eq!(inspect(header_pages), Err(MediaError::Damaged("duration unknown".into())));
}

#[test]
fn ogg_codecs_and_streams_we_do_not_take() {
    let speex = ogg_stream(b"Speex   1.2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", b"", 48_000);
    assert_eq!(inspect(&speex), Err(MediaError::Unsupported));
    // A second logical stream (e.g. video next to the audio) is refused.
    let mut two = ogg_page(BOS, 0, 1, 0, &opus_head(312));
    two.extend(ogg_page(BOS, 0, 2, 0, b"\x80theora"));
    two.extend(ogg_page(EOS, 48_312, 1, 1, &[0xFC; 40]));
    assert_eq!(inspect(&two), Err(MediaError::Unsupported));
}

// ------------------------------------------------------------------ WebM

#[test]
fn webm_with_a_duration_element() {
    assert_eq!(voice(&webm_with(Some(3500.0), 3480, false)), ("audio/webm", 3500));
}

#[test]
fn webm_without_duration_uses_the_clusters() {
    // MediaRecorder style: unknown-size Segment and Clusters, no Duration.
    assert_eq!(voice(&webm_with(None, 3500, true)), ("audio/webm", 3500));
    assert_eq!(voice(&webm_with(None, 65_020, true)), ("audio/webm", 65_020));
    // Known sizes, no Duration.
    assert_eq!(voice(&webm_with(None, 3500, false)), ("audio/webm", 3500));
}

#[test]
fn webm_timecode_scale_is_honoured() {
    // Ticks of 0.1 ms: Duration 35000 ticks = 3.5 s; a float32 Duration is accepted too.
    let clusters: &[(u64, &[i16])] = &[(0, &[0, 10_000, 20_000])];
    let file =
        webm(&WebmSpec { timecode_scale: Some(100_000), duration: Some(35_000.0), clusters, ..WebmSpec::default() });
    assert_eq!(voice(&file), ("audio/webm", 3500));
    let no_duration = webm(&WebmSpec { timecode_scale: Some(100_000), clusters, ..WebmSpec::default() });
    assert_eq!(voice(&no_duration), ("audio/webm", 2000));
}

#[test]
fn real_webm_fixtures() {
    // ffmpeg to a file (Duration written: 3.508 s) and to a pipe (live: unknown Segment size,
    // no Duration, no Cues), so the latter is measured from its clusters.
    assert_eq!(voice(&fixture("voice.webm")), ("audio/webm", 3508));
    let (mime, live_ms) = voice(&fixture("voice-live.webm"));
    assert_eq!(mime, "audio/webm");
    assert!((3480..=3508).contains(&live_ms), "{live_ms}");
}

#[test]
fn webm_over_two_minutes_is_too_long() {
    assert_eq!(
        inspect(&webm_with(None, 130_000, true)),
        Err(MediaError::TooLong { ms: 130_000, max_ms: MAX_VOICE_MS })
    );
    assert_eq!(
        inspect(&webm_with(Some(130_000.0), 3000, false)),
        Err(MediaError::TooLong { ms: 130_000, max_ms: MAX_VOICE_MS })
    );
    // A Duration that understates the clusters does not hide the real length.
    assert_eq!(
        inspect(&webm_with(Some(3500.0), 130_000, false)),
        Err(MediaError::TooLong { ms: 130_000, max_ms: MAX_VOICE_MS })
    );
}

#[test]
fn webm_without_any_timing_is_damaged() {
    let file = webm(&WebmSpec::default());
    assert_eq!(inspect(&file), Err(MediaError::Damaged("duration unknown".into())));
    let live = webm(&WebmSpec { live: true, ..WebmSpec::default() });
    assert_eq!(inspect(&live), Err(MediaError::Damaged("duration unknown".into())));
}

#[test]
fn webm_that_is_not_a_voice_note_is_unsupported() {
    let clusters: &[(u64, &[i16])] = &[(0, &[0, 500])];
    let mkv = webm(&WebmSpec { doc_type: "matroska", clusters, ..WebmSpec::default() });
    assert_eq!(inspect(&mkv), Err(MediaError::Unsupported));
    let video = webm(&WebmSpec { tracks: &[2, 1], clusters, ..WebmSpec::default() });
    assert_eq!(inspect(&video), Err(MediaError::Unsupported));
    let no_audio = webm(&WebmSpec { tracks: &[], clusters, ..WebmSpec::default() });
    assert_eq!(inspect(&no_audio), Err(MediaError::Unsupported));
}

#[test]
fn truncated_webm_with_known_sizes_is_damaged() {
    let file = webm_with(Some(3500.0), 3500, false);
    assert!(is_damaged(inspect(&file[..file.len() - 7])));
}

// ------------------------------------------------------------------ MP4 / M4A

#[test]
fn m4a_version_0_and_1() {
    // 3.5 s: movie 1 kHz, media 16 kHz with 56 samples of 1000.
    assert_eq!(voice(&m4a(0, 1000, 3500, &[sound(16_000, 56, 1000)])), ("audio/mp4", 3500));
    assert_eq!(voice(&m4a(1, 44_100, 154_350, &[sound(44_100, 150, 1029)])), ("audio/mp4", 3500));
}

#[test]
fn real_m4a_fixtures() {
    // ffprobe: 3.5 s (mvhd; the samples add up to 3.564 s with AAC priming, which an edit list
    // trims), and 3.564 s for the fragmented one, measured from its fragments.
    assert_eq!(voice(&fixture("voice.m4a")), ("audio/mp4", 3500));
    let (mime, ms) = voice(&fixture("voice-fragmented.m4a"));
    assert_eq!(mime, "audio/mp4");
    assert!((3500..=3564).contains(&ms), "{ms}");
}

#[test]
fn fragmented_m4a_is_measured_from_its_fragments() {
    // 4 fragments × 41 samples × 1024 / 48 kHz = 3498 ms; default and explicit durations.
    assert_eq!(voice(&fragmented_m4a(4, 41, false)), ("audio/mp4", 3498));
    assert_eq!(voice(&fragmented_m4a(4, 41, true)), ("audio/mp4", 3498));
    // 13 × 469 × 1024 / 48 kHz = 130.069 s.
    assert_eq!(
        inspect(&fragmented_m4a(13, 469, false)),
        Err(MediaError::TooLong { ms: 130_069, max_ms: MAX_VOICE_MS })
    );
}

#[test]
fn m4a_over_two_minutes_is_too_long() {
    assert_eq!(
        inspect(&m4a(1, 1000, 130_000, &[sound(16_000, 2080, 1000)])),
        Err(MediaError::TooLong { ms: 130_000, max_ms: MAX_VOICE_MS })
    );
    // Headers that understate the sample table do not hide the real length.
    let mut lying = sound(16_000, 2080, 1000);
    lying.duration = 16_000;
    assert_eq!(inspect(&m4a(0, 1000, 1000, &[lying])), Err(MediaError::TooLong { ms: 130_000, max_ms: MAX_VOICE_MS }));
}

#[test]
fn mp4_that_is_not_a_voice_note_is_unsupported() {
    let mut video = sound(16_000, 56, 1000);
    video.handler = *b"vide";
    assert_eq!(inspect(&m4a(0, 1000, 3500, &[video])), Err(MediaError::Unsupported));
    let mut video2 = sound(16_000, 56, 1000);
    video2.handler = *b"vide";
    video2.id = 2;
    assert_eq!(inspect(&m4a(0, 1000, 3500, &[sound(16_000, 56, 1000), video2])), Err(MediaError::Unsupported));
    assert_eq!(inspect(&m4a(0, 1000, 3500, &[])), Err(MediaError::Unsupported));
}

#[test]
fn damaged_mp4() {
    let good = m4a(0, 1000, 3500, &[sound(16_000, 56, 1000)]);
    assert!(is_damaged(inspect(&good[..good.len() - 1])), "truncated mdat");
    let no_moov = ftyp(b"M4A ", &[b"M4A "]);
    assert!(is_damaged(inspect(&no_moov)));
    // A sample table claiming four billion entries backed by none.
    let mut huge = sound(16_000, 56, 1000);
    huge.stts = vec![];
    let mut file = m4a(0, 1000, 3500, &[huge]);
    let at = file.windows(4).position(|w| w == b"stts").unwrap() + 8;
    file[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(is_damaged(inspect(&file)));
    // Nothing states a duration.
    let silent = TrackSpec { id: 1, handler: *b"soun", timescale: 16_000, duration: 0, stts: vec![] };
    assert_eq!(inspect(&m4a(0, 1000, 0, &[silent])), Err(MediaError::Damaged("duration unknown".into())));
}

// ------------------------------------------------------------------ misc

#[test]
fn every_fixture_is_accepted() {
    for name in FIXTURES {
        let i = inspect(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(i.extension(), name.rsplit('.').next().unwrap(), "{name}");
    }
}

#[test]
fn sha256_is_lowercase_hex() {
    // As `sha256sum tests/fixtures/photo.png` prints it.
    assert_eq!(sha256_hex(&fixture("photo.png")), "3aef4ad0b6b37570a7fcf7d12c92d01231bf2c1f049e632d328fd15bae73520f");
}

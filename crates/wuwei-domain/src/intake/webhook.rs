//! Authentication of camera platforms' alarm webhooks (`POST /api/v1/intake/alarms`).
//!
//! The platform sends two headers with the raw body:
//!
//! - `X-Wuwei-Timestamp`: the Unix time in seconds when it signed, as decimal digits;
//! - `X-Wuwei-Signature`: `sha256=` and the lowercase hex of HMAC-SHA256(secret,
//!   `"{timestamp}." ++ body`), the timestamp exactly as in its header.
//!
//! The timestamp is inside the MAC, so it cannot be moved; a request more than five minutes
//! from our clock is refused, and within those five minutes each signature is accepted once
//! ([`ReplayCache`]). Every refusal answers 401 (413 for a body too large), and the order of the
//! checks is chosen so that an unauthenticated caller can never make us remember anything.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::alarm::MAX_REPORT_BYTES;
use super::secret::{IntakeSecret, Tag, parse_hex32};

pub const TIMESTAMP_HEADER: &str = "x-wuwei-timestamp";
pub const SIGNATURE_HEADER: &str = "x-wuwei-signature";
pub const SIGNATURE_PREFIX: &str = "sha256=";
/// A signed request is good for this long either side of our clock.
pub const MAX_SKEW_SECS: i64 = 300;
/// Ten digits cover Unix seconds until the year 2286; a longer "timestamp" is not one.
const TIMESTAMP_MAX_DIGITS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookAuthError {
    /// 413.
    #[error("the body is larger than {MAX_REPORT_BYTES} bytes")]
    BodyTooLarge,
    /// 401: a header is missing.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// 401: a header is not in its format.
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    /// 401: signed too long ago (or too far ahead): possibly a recorded request played back.
    #[error("the request was signed {skew_secs} s from our clock, more than {MAX_SKEW_SECS}")]
    Stale { skew_secs: i64 },
    /// 401: not signed with any of the secrets.
    #[error("the signature does not match")]
    BadSignature,
    /// 401: this exact request was accepted before.
    #[error("the request was seen before")]
    Replayed,
}

/// The headers a platform sends for `body` at Unix time `timestamp`: the reference signer, for
/// tests, the bench and the vendors' integration notes.
pub fn sign(secret: &IntakeSecret, timestamp: i64, body: &[u8]) -> Option<(String, String)> {
    let ts = timestamp.to_string();
    let tag = secret.sign(&[ts.as_bytes(), b".", body])?;
    Some((ts, format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))))
}

/// Check a request: size, headers, age, signature (against each of `secrets`, so that a town
/// can rotate its secret with both valid for a while), then the replay cache, which remembers
/// the request only once it is known to be genuine. A platform retrying a failed delivery must
/// sign again (a new timestamp), or it is refused as a replay.
pub fn verify(
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    secrets: &[&IntakeSecret],
    cache: &mut ReplayCache,
    now: DateTime<Utc>,
) -> Result<(), WebhookAuthError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(WebhookAuthError::BodyTooLarge);
    }
    let ts_text = timestamp_header.ok_or(WebhookAuthError::Missing(TIMESTAMP_HEADER))?;
    let sig_text = signature_header.ok_or(WebhookAuthError::Missing(SIGNATURE_HEADER))?;
    // Digits only (no sign, no spaces, no leading `+`): the MAC covers the header's exact text,
    // so there must be one spelling per instant, or one signature would serve several.
    let ts = (!ts_text.is_empty()
        && ts_text.len() <= TIMESTAMP_MAX_DIGITS
        && ts_text.bytes().all(|b| b.is_ascii_digit())
        && !(ts_text.len() > 1 && ts_text.starts_with('0')))
    .then(|| ts_text.parse::<i64>().ok())
    .flatten()
    .ok_or(WebhookAuthError::Malformed(TIMESTAMP_HEADER))?;
    let tag = sig_text
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(parse_hex32)
        .ok_or(WebhookAuthError::Malformed(SIGNATURE_HEADER))?;
    let now_ts = now.timestamp();
    let skew_secs = now_ts - ts;
    if skew_secs.abs() > MAX_SKEW_SECS {
        return Err(WebhookAuthError::Stale { skew_secs });
    }
    let parts: [&[u8]; 3] = [ts_text.as_bytes(), b".", body];
    if !secrets.iter().any(|s| s.verify(&parts, &tag)) {
        return Err(WebhookAuthError::BadSignature);
    }
    cache.check_and_remember(ts, tag, now_ts)
}

/// The signatures accepted within the last [`MAX_SKEW_SECS`], so that each is accepted once.
///
/// Bounded: it holds at most `max_entries`. When full it forgets the oldest signature and
/// raises its floor to that signature's timestamp: from then on every request signed at or
/// before the floor is refused as a replay, genuine or not. So forgetting never lets a replay
/// through; under a flood beyond the bound, the cost is that late, genuine requests are refused
/// (401) and must be signed again, which a platform does on retry. Entries older than the window
/// are evicted as time passes: requests that old are refused as stale anyway.
///
/// Per process: servers sharing one database each keep their own, so a replay sent to another
/// server within five minutes would pass there; with several servers the store must keep the
/// seen signatures instead (a table with a unique key, pruned after five minutes).
#[derive(Debug, Clone)]
pub struct ReplayCache {
    /// Ordered by time, so that eviction takes the oldest.
    seen: BTreeSet<(i64, Tag)>,
    /// Requests signed at or before this are refused: something from then was forgotten.
    floor_ts: Option<i64>,
    max_entries: usize,
}

/// Room for ~330 requests a second sustained over the five-minute window, in about 5 MB.
pub const DEFAULT_REPLAY_CACHE_ENTRIES: usize = 100_000;

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(DEFAULT_REPLAY_CACHE_ENTRIES)
    }
}

impl ReplayCache {
    /// A cache of at most `max_entries` (at least one).
    pub fn new(max_entries: usize) -> ReplayCache {
        ReplayCache { seen: BTreeSet::new(), floor_ts: None, max_entries: max_entries.max(1) }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Forget what is older than the window at `now_ts` (Unix seconds). Called on every check;
    /// a server may also call it from housekeeping so that an idle cache shrinks.
    pub fn evict_expired(&mut self, now_ts: i64) -> usize {
        let cutoff = now_ts.saturating_sub(MAX_SKEW_SECS);
        let keep = self.seen.split_off(&(cutoff, [0u8; 32]));
        let evicted = std::mem::replace(&mut self.seen, keep);
        // Raise the floor past what was forgotten, so that even a clock set back cannot make an
        // evicted signature acceptable again.
        if let Some((newest, _)) = evicted.last() {
            self.raise_floor(*newest);
        }
        evicted.len()
    }

    /// Accept the signature `tag` of a request signed at `ts` once: refuse it if it was seen, or
    /// if it is at or before the floor.
    pub fn check_and_remember(&mut self, ts: i64, tag: Tag, now_ts: i64) -> Result<(), WebhookAuthError> {
        self.evict_expired(now_ts);
        if self.floor_ts.is_some_and(|f| ts <= f) || !self.seen.insert((ts, tag)) {
            return Err(WebhookAuthError::Replayed);
        }
        while self.seen.len() > self.max_entries {
            if let Some((oldest, _)) = self.seen.pop_first() {
                self.raise_floor(oldest);
            }
        }
        Ok(())
    }

    fn raise_floor(&mut self, ts: i64) {
        self.floor_ts = Some(self.floor_ts.map_or(ts, |f| f.max(ts)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 8, 0, 0).unwrap()
    }

    fn secret() -> IntakeSecret {
        IntakeSecret::from_random([9; 32])
    }

    const BODY: &[u8] =
        br#"{"camera_code":"XL-0012","alarm_type":"fire_smoke","confidence":0.9,"occurred_at":"2026-06-10T08:00:00Z"}"#;

    fn check(ts: &str, sig: &str, body: &[u8], cache: &mut ReplayCache) -> Result<(), WebhookAuthError> {
        verify(Some(ts), Some(sig), body, &[&secret()], cache, now())
    }

    /// The example in the vendors' notes, computed independently with Python's `hmac` module.
    #[test]
    fn the_documented_example_verifies() {
        let s = IntakeSecret::parse_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
        let (ts, sig) = sign(&s, now().timestamp(), BODY).unwrap();
        assert_eq!(ts, "1781078400");
        assert_eq!(sig, "sha256=c4264553726128b661de09b650b363bde6ad5e48b3d32b5ec6b88ff6220ac938");
        assert_eq!(verify(Some(&ts), Some(&sig), BODY, &[&s], &mut ReplayCache::default(), now()), Ok(()));
    }

    #[test]
    fn a_genuine_request_passes_once() {
        let mut cache = ReplayCache::default();
        let (ts, sig) = sign(&secret(), now().timestamp() - 10, BODY).unwrap();
        assert_eq!(check(&ts, &sig, BODY, &mut cache), Ok(()));
        assert_eq!(check(&ts, &sig, BODY, &mut cache), Err(WebhookAuthError::Replayed));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn every_refusal() {
        let mut cache = ReplayCache::default();
        let (ts, sig) = sign(&secret(), now().timestamp(), BODY).unwrap();
        let s = secret();
        let v = |t: Option<&str>, g: Option<&str>, b: &[u8], c: &mut ReplayCache| verify(t, g, b, &[&s], c, now());
        assert_eq!(v(None, Some(&sig), BODY, &mut cache), Err(WebhookAuthError::Missing(TIMESTAMP_HEADER)));
        assert_eq!(v(Some(&ts), None, BODY, &mut cache), Err(WebhookAuthError::Missing(SIGNATURE_HEADER)));
        for bad in ["", "-1781078400", "+1781078400", " 1781078400", "01781078400", "1781078400.0", "17810784000"] {
            assert_eq!(v(Some(bad), Some(&sig), BODY, &mut cache), Err(WebhookAuthError::Malformed(TIMESTAMP_HEADER)));
        }
        let upper = sig.to_uppercase().replace("SHA256=", "sha256=");
        for bad in [&sig[7..], upper.as_str(), "sha256=", "sha1=abc"] {
            assert_eq!(v(Some(&ts), Some(bad), BODY, &mut cache), Err(WebhookAuthError::Malformed(SIGNATURE_HEADER)));
        }
        let (old_ts, old_sig) = sign(&secret(), now().timestamp() - 301, BODY).unwrap();
        assert_eq!(v(Some(&old_ts), Some(&old_sig), BODY, &mut cache), Err(WebhookAuthError::Stale { skew_secs: 301 }));
        let (new_ts, new_sig) = sign(&secret(), now().timestamp() + 301, BODY).unwrap();
        assert_eq!(
            v(Some(&new_ts), Some(&new_sig), BODY, &mut cache),
            Err(WebhookAuthError::Stale { skew_secs: -301 })
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = (now().timestamp() - 1).to_string();
        assert_eq!(v(Some(&moved), Some(&sig), BODY, &mut cache), Err(WebhookAuthError::BadSignature));
        let mut body = BODY.to_vec();
        body[20] ^= 1;
        assert_eq!(v(Some(&ts), Some(&sig), &body, &mut cache), Err(WebhookAuthError::BadSignature));
        assert_eq!(
            v(Some(&ts), Some(&sig), &vec![b' '; MAX_REPORT_BYTES + 1], &mut cache),
            Err(WebhookAuthError::BodyTooLarge)
        );
        // Nothing unauthenticated was remembered.
        assert!(cache.is_empty());
    }

    #[test]
    fn rotation_accepts_either_secret() {
        let (old, new) = (IntakeSecret::from_random([1; 32]), IntakeSecret::from_random([2; 32]));
        let (ts, sig) = sign(&old, now().timestamp(), BODY).unwrap();
        let mut cache = ReplayCache::default();
        assert_eq!(verify(Some(&ts), Some(&sig), BODY, &[&new, &old], &mut cache, now()), Ok(()));
        assert_eq!(
            verify(Some(&ts), Some(&sig), BODY, &[&new], &mut ReplayCache::default(), now()),
            Err(WebhookAuthError::BadSignature)
        );
    }

    #[test]
    fn the_cache_forgets_with_time_and_raises_its_floor_when_full() {
        let t = now().timestamp();
        let mut cache = ReplayCache::new(2);
        assert_eq!(cache.check_and_remember(t - 10, [1; 32], t), Ok(()));
        assert_eq!(cache.check_and_remember(t - 5, [2; 32], t), Ok(()));
        assert_eq!(cache.check_and_remember(t, [3; 32], t), Ok(()));
        assert_eq!(cache.len(), 2);
        // The oldest was forgotten, so anything signed at or before it is refused.
        assert_eq!(cache.check_and_remember(t - 10, [1; 32], t), Err(WebhookAuthError::Replayed));
        assert_eq!(cache.check_and_remember(t - 10, [4; 32], t), Err(WebhookAuthError::Replayed));
        assert_eq!(cache.check_and_remember(t - 9, [4; 32], t), Ok(()));
        // Five minutes on, everything is past the window.
        assert_eq!(cache.evict_expired(t + 301), 2);
        assert!(cache.is_empty());
        let later = now() + Duration::minutes(10);
        let (ts, sig) = sign(&secret(), later.timestamp(), BODY).unwrap();
        assert_eq!(verify(Some(&ts), Some(&sig), BODY, &[&secret()], &mut cache, later), Ok(()));
    }

    proptest! {
        /// Whatever arrives, the cache never holds more than its bound, never accepts a
        /// (ts, tag) twice, and never accepts one older than the window.
        #[test]
        fn the_cache_is_bounded_and_accepts_each_once(
            max in 1usize..20,
            steps in proptest::collection::vec((0i64..40, -400i64..400, 0u8..6), 1..200),
        ) {
            let mut cache = ReplayCache::new(max);
            let mut accepted = std::collections::HashSet::new();
            let mut clock = 1_000_000i64;
            for (advance, offset, tag) in steps {
                clock += advance;
                let ts = clock + offset;
                let in_window = offset.abs() <= MAX_SKEW_SECS;
                // What `verify` does after the signature: only fresh requests reach the cache.
                if in_window && cache.check_and_remember(ts, [tag; 32], clock).is_ok() {
                    prop_assert!(accepted.insert((ts, tag)), "accepted twice: {ts} {tag}");
                }
                prop_assert!(cache.len() <= max);
            }
        }
    }
}

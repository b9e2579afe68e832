//! Case figures (事件统计): what a case counts for, on which day, and how medians and 90th
//! percentiles are read from bucketed durations. Pure, so the store's rollup, the demo loader
//! and any direct computation over the cases agree by construction.
//!
//! A case contributes events, each on the town's local day it happened ([`contributions`]):
//! reported (and, for the same day, whether it ended rejected or merged), accepted with its
//! time to accept, resolved with its time to resolve, closed with whether it was on time, and
//! rated with its rating. Durations are counted from the report.
//!
//! Durations also go into a fixed log-scale histogram of [`BUCKETS`] buckets: bucket 0 holds
//! everything under a minute, each following bucket's upper edge is 1.25× the one before (from
//! 60 s up to about 31 days), and the last bucket holds everything longer. A percentile is
//! estimated inside the bucket that holds it ([`Histogram::percentile`]), so the estimate and
//! the exact (nearest-rank) value always lie in the same bucket: at worst 25% apart, typically
//! within a few percent thanks to log-linear interpolation. Means are exact (summed seconds).

use chrono::{DateTime, NaiveDate, Utc};

use crate::case::{Card, CaseState, local_day};

/// Buckets of a duration histogram.
pub const BUCKETS: usize = 50;

/// Upper edges (exclusive), in seconds, of buckets `0..BUCKETS-1`; the last bucket is open.
/// Integer arithmetic only, so the edges are the same everywhere, forever.
pub const EDGES: [i64; BUCKETS - 1] = edges();

const fn edges() -> [i64; BUCKETS - 1] {
    let mut e = [0i64; BUCKETS - 1];
    e[0] = 60;
    let mut i = 1;
    while i < BUCKETS - 1 {
        e[i] = (e[i - 1] * 5 + 2) / 4;
        i += 1;
    }
    e
}

/// The bucket of a duration in seconds (negative durations count as zero).
pub fn bucket_of(secs: i64) -> usize {
    EDGES.partition_point(|&e| e <= secs)
}

/// The lower and upper edge of a bucket, in seconds; the last bucket has no upper edge.
pub fn bucket_bounds(bucket: usize) -> (i64, Option<i64>) {
    let lo = if bucket == 0 { 0 } else { EDGES.get(bucket - 1).copied().unwrap_or(i64::MAX) };
    (lo, EDGES.get(bucket).copied())
}

/// Counts per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram(pub [i64; BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; BUCKETS])
    }
}

impl Histogram {
    pub fn record(&mut self, secs: i64) {
        if let Some(slot) = self.0.get_mut(bucket_of(secs)) {
            *slot += 1;
        }
    }

    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// The `p`-th quantile (`0 < p <= 1`) in seconds, or `None` without data. It targets the
    /// nearest-rank value (the `ceil(p·n)`-th smallest), interpolating log-linearly inside its
    /// bucket (linearly in the first, which starts at zero); in the open last bucket it is the
    /// bucket's lower edge.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.total();
        if n <= 0 || !(p > 0.0 && p <= 1.0) {
            return None;
        }
        let rank = ((p * n as f64).ceil() as i64).clamp(1, n);
        let mut before = 0i64;
        for (b, &c) in self.0.iter().enumerate() {
            if c > 0 && before + c >= rank {
                let f = ((rank - before) as f64 - 0.5) / c as f64;
                let (lo, hi) = bucket_bounds(b);
                return Some(match hi {
                    None => lo as f64,
                    Some(hi) if lo == 0 => hi as f64 * f,
                    Some(hi) => lo as f64 * (hi as f64 / lo as f64).powf(f),
                });
            }
            before += c;
        }
        None
    }
}

/// What a set of cases counted, summed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    pub reported: i64,
    pub accepted: i64,
    pub resolved: i64,
    pub closed: i64,
    pub closed_on_time: i64,
    pub rejected: i64,
    pub merged: i64,
    /// Sum of the times to accept, in seconds.
    pub accept_secs: i64,
    /// Sum of the times to resolve, in seconds.
    pub resolve_secs: i64,
    pub rating_sum: i64,
    pub rating_count: i64,
    pub accept_hist: Histogram,
    pub resolve_hist: Histogram,
}

impl Counters {
    /// Scalar counters in their canonical order (the order of [`Counters::values`]).
    pub const SCALARS: [&'static str; 11] = [
        "reported",
        "accepted",
        "resolved",
        "closed",
        "closed_on_time",
        "rejected",
        "merged",
        "accept_secs",
        "resolve_secs",
        "rating_sum",
        "rating_count",
    ];
    /// How many values [`Counters::values`] gives: the scalars, then both histograms.
    pub const WIDTH: usize = 11 + 2 * BUCKETS;

    /// Every value in canonical order: the scalars, the accept buckets, the resolve buckets.
    pub fn values(&self) -> Vec<i64> {
        let mut v = vec![
            self.reported,
            self.accepted,
            self.resolved,
            self.closed,
            self.closed_on_time,
            self.rejected,
            self.merged,
            self.accept_secs,
            self.resolve_secs,
            self.rating_sum,
            self.rating_count,
        ];
        v.extend_from_slice(&self.accept_hist.0);
        v.extend_from_slice(&self.resolve_hist.0);
        v
    }

    /// The inverse of [`Counters::values`]; missing values are zero.
    pub fn from_values(v: &[i64]) -> Counters {
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        let mut c = Counters {
            reported: at(0),
            accepted: at(1),
            resolved: at(2),
            closed: at(3),
            closed_on_time: at(4),
            rejected: at(5),
            merged: at(6),
            accept_secs: at(7),
            resolve_secs: at(8),
            rating_sum: at(9),
            rating_count: at(10),
            ..Counters::default()
        };
        for b in 0..BUCKETS {
            c.accept_hist.0[b] = at(11 + b);
            c.resolve_hist.0[b] = at(11 + BUCKETS + b);
        }
        c
    }

    /// `self += sign · other`.
    pub fn add(&mut self, other: &Counters, sign: i64) {
        self.reported += sign * other.reported;
        self.accepted += sign * other.accepted;
        self.resolved += sign * other.resolved;
        self.closed += sign * other.closed;
        self.closed_on_time += sign * other.closed_on_time;
        self.rejected += sign * other.rejected;
        self.merged += sign * other.merged;
        self.accept_secs += sign * other.accept_secs;
        self.resolve_secs += sign * other.resolve_secs;
        self.rating_sum += sign * other.rating_sum;
        self.rating_count += sign * other.rating_count;
        for b in 0..BUCKETS {
            self.accept_hist.0[b] += sign * other.accept_hist.0[b];
            self.resolve_hist.0[b] += sign * other.resolve_hist.0[b];
        }
    }

    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|v| *v == 0)
    }

    /// Share of closed cases closed on time, `0..=1`.
    pub fn on_time_share(&self) -> Option<f64> {
        (self.closed > 0).then(|| self.closed_on_time as f64 / self.closed as f64)
    }

    /// Mean rating, 1–5.
    pub fn satisfaction(&self) -> Option<f64> {
        (self.rating_count > 0).then(|| self.rating_sum as f64 / self.rating_count as f64)
    }

    pub fn accept_mean_secs(&self) -> Option<f64> {
        (self.accepted > 0).then(|| self.accept_secs as f64 / self.accepted as f64)
    }

    pub fn resolve_mean_secs(&self) -> Option<f64> {
        (self.resolved > 0).then(|| self.resolve_secs as f64 / self.resolved as f64)
    }
}

/// What the figures need to know about a case.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsFacts {
    pub state: CaseState,
    pub card: Card,
    pub reported_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub rating: Option<u8>,
    pub rated_at: Option<DateTime<Utc>>,
}

/// Closed on time: never carded red, and resolved by the deadline that was running.
pub fn on_time(f: &StatsFacts) -> bool {
    f.card != Card::Red
        && match (f.resolved_at, f.due_at) {
            (Some(r), Some(d)) => r <= d,
            _ => true,
        }
}

/// What one case counts for, by local day. Nothing before it is reported (a draft counts for
/// nothing); "resolved" only while the case is resolved or closed (a result sent back is not a
/// resolution); "closed" only while it is closed (a reopened case is not).
pub fn contributions(f: &StatsFacts) -> Vec<(NaiveDate, Counters)> {
    let Some(reported) = f.reported_at else { return Vec::new() };
    let mut out: Vec<(NaiveDate, Counters)> = Vec::new();
    let mut at = |t: DateTime<Utc>, change: &dyn Fn(&mut Counters)| {
        let day = local_day(t);
        match out.iter_mut().find(|(d, _)| *d == day) {
            Some((_, c)) => change(c),
            None => {
                let mut c = Counters::default();
                change(&mut c);
                out.push((day, c));
            }
        }
    };
    at(reported, &|c| {
        c.reported += 1;
        c.rejected += i64::from(f.state == CaseState::Rejected);
        c.merged += i64::from(f.state == CaseState::Merged);
    });
    if let Some(t) = f.accepted_at {
        let secs = (t - reported).num_seconds().max(0);
        at(t, &|c| {
            c.accepted += 1;
            c.accept_secs += secs;
            c.accept_hist.record(secs);
        });
    }
    if let Some(t) = f.resolved_at.filter(|_| matches!(f.state, CaseState::Resolved | CaseState::Closed)) {
        let secs = (t - reported).num_seconds().max(0);
        at(t, &|c| {
            c.resolved += 1;
            c.resolve_secs += secs;
            c.resolve_hist.record(secs);
        });
    }
    if let Some(t) = f.closed_at.filter(|_| f.state == CaseState::Closed) {
        let ok = on_time(f);
        at(t, &|c| {
            c.closed += 1;
            c.closed_on_time += i64::from(ok);
        });
    }
    if let (Some(r), Some(t)) = (f.rating, f.rated_at) {
        at(t, &|c| {
            c.rating_sum += i64::from(r);
            c.rating_count += 1;
        });
    }
    out
}

/// Relative change from `previous` to `current` in percent, to one decimal; `None` when there
/// is nothing to compare with.
pub fn change_pct(current: Option<f64>, previous: Option<f64>) -> Option<f64> {
    match (current, previous) {
        (Some(c), Some(p)) if p > 0.0 && c.is_finite() && p.is_finite() => Some(round_to((c - p) / p * 100.0, 1)),
        _ => None,
    }
}

/// Round to `decimals` places (for display).
pub fn round_to(x: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (x * k).round() / k
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    #[test]
    fn edges_grow_by_a_quarter_from_a_minute_to_a_month() {
        assert_eq!(EDGES[0], 60);
        assert_eq!(EDGES[1], 75);
        for w in EDGES.windows(2) {
            let r = w[1] as f64 / w[0] as f64;
            assert!((1.24..=1.26).contains(&r), "{w:?}");
        }
        let last = EDGES[BUCKETS - 2];
        assert!((30 * 86_400..32 * 86_400).contains(&last), "{last}");
    }

    #[test]
    fn durations_fall_in_their_bucket() {
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(59), 0);
        assert_eq!(bucket_of(60), 1);
        assert_eq!(bucket_of(74), 1);
        assert_eq!(bucket_of(75), 2);
        assert_eq!(bucket_of(i64::MAX), BUCKETS - 1);
        for b in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(b);
            assert_eq!(bucket_of(lo), b);
            if let Some(hi) = hi {
                assert_eq!(bucket_of(hi - 1), b);
                assert_eq!(bucket_of(hi), b + 1);
            }
        }
    }

    fn exact(sorted: &[i64], p: f64) -> i64 {
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_of_known_samples() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), None);
        h.record(3600);
        let p = h.percentile(0.5).unwrap();
        let (lo, hi) = bucket_bounds(bucket_of(3600));
        assert!(p >= lo as f64 && p < hi.unwrap() as f64, "{p}");
        // A smooth spread: the interpolation is much better than the bucket width.
        let mut h = Histogram::default();
        let mut xs: Vec<i64> = (0..10_000).map(|i| 600 + i * 30).collect();
        for x in &xs {
            h.record(*x);
        }
        xs.sort();
        for p in [0.5, 0.9] {
            let est = h.percentile(p).unwrap();
            let ex = exact(&xs, p) as f64;
            assert!((est / ex - 1.0).abs() < 0.02, "p{p}: {est} vs {ex}");
        }
        // Everything past a month: a lower bound.
        let mut h = Histogram::default();
        h.record(90 * 86_400);
        assert_eq!(h.percentile(0.9), Some(EDGES[BUCKETS - 2] as f64));
    }

    proptest! {
        #[test]
        fn a_percentile_is_within_its_bucket_of_the_exact_value(
            xs in proptest::collection::vec(0i64..3_000_000, 1..400),
            p in prop_oneof![Just(0.5), Just(0.9), 0.01f64..1.0],
        ) {
            let mut h = Histogram::default();
            for x in &xs {
                h.record(*x);
            }
            let mut sorted = xs.clone();
            sorted.sort();
            let ex = exact(&sorted, p);
            let est = h.percentile(p).unwrap();
            let b = bucket_of(ex);
            let (lo, hi) = bucket_bounds(b);
            prop_assert!(est >= lo as f64, "{est} < {lo} (exact {ex})");
            if let Some(hi) = hi {
                prop_assert!(est <= hi as f64, "{est} > {hi} (exact {ex})");
                if lo > 0 {
                    // Same bucket: never more than one bucket's ratio apart.
                    prop_assert!(est / (ex.max(1) as f64) < 1.26 && (ex as f64) / est < 1.26);
                }
            }
        }

        #[test]
        fn values_round_trip(v in proptest::collection::vec(-1000i64..1000, Counters::WIDTH)) {
            prop_assert_eq!(Counters::from_values(&v).values(), v);
        }
    }

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn facts(state: CaseState) -> StatsFacts {
        StatsFacts {
            state,
            card: Card::None,
            reported_at: Some(t(1)),
            accepted_at: None,
            resolved_at: None,
            closed_at: None,
            due_at: None,
            rating: None,
            rated_at: None,
        }
    }

    #[test]
    fn a_closed_case_counts_each_step_on_its_own_local_day() {
        let mut f = facts(CaseState::Closed);
        f.accepted_at = Some(t(1) + Duration::minutes(10));
        f.resolved_at = Some(t(20)); // 20:00 UTC is the next local day
        f.due_at = Some(t(30));
        f.closed_at = Some(t(21));
        f.rating = Some(4);
        f.rated_at = Some(t(50));
        let c = contributions(&f);
        assert_eq!(c.len(), 3, "{c:?}");
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(c[0].0, day(1));
        assert_eq!((c[0].1.reported, c[0].1.accepted, c[0].1.accept_secs), (1, 1, 600));
        assert_eq!(c[1].0, day(2));
        assert_eq!((c[1].1.resolved, c[1].1.resolve_secs, c[1].1.closed, c[1].1.closed_on_time), (1, 19 * 3600, 1, 1));
        assert_eq!(c[1].1.resolve_hist.total(), 1);
        assert_eq!((c[2].0, c[2].1.rating_sum, c[2].1.rating_count), (day(3), 4, 1));
        // Late: resolved after the deadline, or carded red.
        f.due_at = Some(t(10));
        assert_eq!(contributions(&f)[1].1.closed_on_time, 0);
        f.due_at = Some(t(30));
        f.card = Card::Red;
        assert_eq!(contributions(&f)[1].1.closed_on_time, 0);
    }

    #[test]
    fn drafts_returns_and_reopens_count_for_what_they_are() {
        let mut draft = facts(CaseState::Collected);
        draft.reported_at = None;
        assert!(contributions(&draft).is_empty());
        // A result sent back keeps its resolved_at but is not a resolution.
        let mut back = facts(CaseState::InProgress);
        back.resolved_at = Some(t(5));
        assert_eq!(contributions(&back).iter().map(|(_, c)| c.resolved).sum::<i64>(), 0);
        let rejected = contributions(&facts(CaseState::Rejected));
        assert_eq!((rejected[0].1.reported, rejected[0].1.rejected), (1, 1));
    }

    #[test]
    fn changes_in_percent() {
        assert_eq!(change_pct(Some(7.7), Some(10.0)), Some(-23.0));
        assert_eq!(change_pct(Some(1.0), Some(0.0)), None);
        assert_eq!(change_pct(None, Some(1.0)), None);
    }
}

//! Caps per household per period ("at most 20 points a month for volunteering").
//!
//! Periods are calendar months, quarters and years in China Standard Time (UTC+8, no daylight
//! saving): a villager's "this month" begins at local midnight on the 1st, which is 16:00 UTC the
//! day before. A cap is checked when an award is proposed and again when it posts, against what
//! the household already has for that item in the period containing `now`: posted points plus
//! points still pending (proposed, in notice or objected), so that two proposals in flight cannot
//! together exceed it.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

use super::Points;
use super::rulebook::{Cap, Period, RuleItem};

/// The towns' offset from UTC.
pub const CHINA_OFFSET_HOURS: i64 = 8;

/// At most this many households in one bulk award (a clean-up day, a meeting).
pub const MAX_BULK_HOUSEHOLDS: usize = 500;

/// The China-time calendar date of an instant.
pub fn china_date(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::hours(CHINA_OFFSET_HOURS)).date_naive()
}

/// The UTC instant of local midnight at the start of `date`.
pub fn china_midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc() - Duration::hours(CHINA_OFFSET_HOURS)
}

/// The first day of the month `month0` (from 0; may run past 11 into the following years).
fn first_of(year: i32, month0: u32) -> NaiveDate {
    let year = year + (month0 / 12) as i32;
    // Always a valid date for years a `DateTime<Utc>` can hold; the fallback is unreachable.
    NaiveDate::from_ymd_opt(year, month0 % 12 + 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The period containing `at`, as `[start, end)` in UTC.
pub fn period_bounds(period: Period, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let d = china_date(at);
    let (start0, len) = match period {
        Period::Month => (d.month0(), 1),
        Period::Quarter => (d.month0() / 3 * 3, 3),
        Period::Year => (0, 12),
    };
    (china_midnight(first_of(d.year(), start0)), china_midnight(first_of(d.year(), start0 + len)))
}

/// Whether `at` falls in the same period as `now` (what counts towards the cap at `now`).
pub fn in_period_of(period: Period, now: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    let (start, end) = period_bounds(period, now);
    start <= at && at < end
}

/// What a household already has from one item in the current period. Both are sums of award
/// amounts (negative for a deduction item); `pending` must not include the award being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Posted awards of the item in the period, net of their reversals.
    pub posted: Points,
    /// Awards of the item proposed, in public notice or objected in the period.
    pub pending: Points,
}

impl Usage {
    /// The magnitude used: caps bound earning and deducting alike.
    pub fn used(self) -> Points {
        self.posted.saturating_add(self.pending).saturating_abs()
    }
}

/// How many points (in magnitude) an award of this item may still carry; never negative.
pub fn cap_room(cap: Cap, usage: Usage) -> Points {
    cap.points.saturating_sub(usage.used()).max(0)
}

/// An award would take the household past the item's cap: 422 saying the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("over the cap of {} points per {}: {used} used, {room} left, {asked} asked", cap.points, cap.period)]
pub struct OverCap {
    pub cap: Cap,
    pub used: Points,
    pub room: Points,
    pub asked: Points,
}

/// May an award of `amount` points of `item` go to a household with this usage?
pub fn check_cap(item: &RuleItem, amount: Points, usage: Usage) -> Result<(), OverCap> {
    let Some(cap) = item.cap else { return Ok(()) };
    let room = cap_room(cap, usage);
    let asked = amount.saturating_abs();
    if asked > room { Err(OverCap { cap, used: usage.used(), room, asked }) } else { Ok(()) }
}

/// Why one household of a bulk award is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BulkRefusal {
    #[error("household {household}: {over}")]
    OverCap { household: Uuid, over: OverCap },
    #[error("household {household} is listed more than once")]
    Duplicate { household: Uuid },
}

/// The bulk award as a whole cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    #[error("no households")]
    Empty,
    #[error("at most {max} households in one bulk award, got {got}")]
    TooMany { max: usize, got: usize },
}

/// The per-household outcome of a bulk award: who may receive it, who may not and why (in input
/// order). Whether a partial bulk award goes ahead is the caller's choice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkCheck {
    pub accepted: Vec<Uuid>,
    pub refused: Vec<BulkRefusal>,
}

/// Check one item's award of `amount` for many households, each against its own usage.
pub fn check_bulk(item: &RuleItem, amount: Points, households: &[(Uuid, Usage)]) -> Result<BulkCheck, BulkError> {
    if households.is_empty() {
        return Err(BulkError::Empty);
    }
    if households.len() > MAX_BULK_HOUSEHOLDS {
        return Err(BulkError::TooMany { max: MAX_BULK_HOUSEHOLDS, got: households.len() });
    }
    let mut seen = BTreeSet::new();
    let mut out = BulkCheck::default();
    for &(household, usage) in households {
        if !seen.insert(household) {
            out.refused.push(BulkRefusal::Duplicate { household });
            continue;
        }
        match check_cap(item, amount, usage) {
            Ok(()) => out.accepted.push(household),
            Err(over) => out.refused.push(BulkRefusal::OverCap { household, over }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::rulebook::default_rulebook;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn a_month_starts_at_midnight_china_time() {
        // 2026-02-28 15:59 UTC is 23:59 on 28 February in China; a minute later it is March.
        let before = utc(2026, 2, 28, 15, 59);
        let after = utc(2026, 2, 28, 16, 0);
        assert_eq!(period_bounds(Period::Month, before), (utc(2026, 1, 31, 16, 0), utc(2026, 2, 28, 16, 0)));
        assert_eq!(period_bounds(Period::Month, after), (utc(2026, 2, 28, 16, 0), utc(2026, 3, 31, 16, 0)));
        assert!(!in_period_of(Period::Month, after, before));
        // Early on the 1st in UTC is still the 1st in China; late on the 31st UTC is the next month.
        assert_eq!(china_date(utc(2026, 3, 31, 16, 0)), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
    }

    #[test]
    fn february_has_its_own_length_in_leap_years() {
        let (s, e) = period_bounds(Period::Month, utc(2028, 2, 10, 0, 0));
        assert_eq!((e - s).num_days(), 29);
        let (s, e) = period_bounds(Period::Month, utc(2027, 2, 10, 0, 0));
        assert_eq!((e - s).num_days(), 28);
    }

    #[test]
    fn quarters_and_years_follow_the_calendar_in_china() {
        // 30 September 17:00 UTC is 1 October 01:00 in China: the fourth quarter.
        let (s, e) = period_bounds(Period::Quarter, utc(2026, 9, 30, 17, 0));
        assert_eq!((s, e), (utc(2026, 9, 30, 16, 0), utc(2026, 12, 31, 16, 0)));
        // New Year's Eve 16:30 UTC is already the new year in China.
        let (s, e) = period_bounds(Period::Year, utc(2026, 12, 31, 16, 30));
        assert_eq!((s, e), (utc(2026, 12, 31, 16, 0), utc(2027, 12, 31, 16, 0)));
        let (s, _) = period_bounds(Period::Quarter, utc(2026, 12, 31, 15, 59));
        assert_eq!(s, utc(2026, 9, 30, 16, 0));
    }

    #[test]
    fn a_cap_exactly_reached_leaves_no_room() {
        let book = default_rulebook().unwrap();
        let volunteer = book.get("welfare_volunteer").unwrap(); // 2 points, at most 20 a month
        let cap = volunteer.cap.unwrap();
        assert_eq!(cap_room(cap, Usage { posted: 14, pending: 4 }), 2);
        assert_eq!(check_cap(volunteer, 2, Usage { posted: 14, pending: 4 }), Ok(()));
        let err = check_cap(volunteer, 2, Usage { posted: 16, pending: 4 }).unwrap_err();
        assert_eq!(err, OverCap { cap, used: 20, room: 0, asked: 2 });
        assert_eq!(cap_room(cap, Usage { posted: 30, pending: 0 }), 0, "never negative");
        // A deduction item's cap bounds what is deducted.
        let littering = book.get("hygiene_littering").unwrap(); // -2, at most 6 a month
        assert!(check_cap(littering, -2, Usage { posted: -4, pending: 0 }).is_ok());
        assert!(check_cap(littering, -2, Usage { posted: -4, pending: -2 }).is_err());
        // No cap, no limit.
        let burning = book.get("hygiene_straw_burning").unwrap();
        assert!(check_cap(burning, -10, Usage { posted: -1000, pending: 0 }).is_ok());
    }

    #[test]
    fn a_bulk_award_is_checked_household_by_household() {
        let book = default_rulebook().unwrap();
        let cleanup = book.get("hygiene_cleanup_day").unwrap(); // 2 points, at most 8 a month
        let h = |n: u128| Uuid::from_u128(n);
        let households = [
            (h(1), Usage::default()),
            (h(2), Usage { posted: 6, pending: 0 }),
            (h(3), Usage { posted: 6, pending: 2 }),
            (h(1), Usage::default()),
            (h(4), Usage { posted: 2, pending: 6 }),
        ];
        let out = check_bulk(cleanup, 2, &households).unwrap();
        assert_eq!(out.accepted, vec![h(1), h(2)]);
        assert_eq!(out.refused.len(), 3);
        assert!(
            matches!(out.refused[0], BulkRefusal::OverCap { household, over } if household == h(3) && over.room == 0)
        );
        assert_eq!(out.refused[1], BulkRefusal::Duplicate { household: h(1) });
        assert!(matches!(out.refused[2], BulkRefusal::OverCap { household, .. } if household == h(4)));
        assert_eq!(check_bulk(cleanup, 2, &[]), Err(BulkError::Empty));
        let many: Vec<(Uuid, Usage)> = (0..=MAX_BULK_HOUSEHOLDS as u128).map(|n| (h(n), Usage::default())).collect();
        assert!(matches!(check_bulk(cleanup, 2, &many), Err(BulkError::TooMany { .. })));
    }
}

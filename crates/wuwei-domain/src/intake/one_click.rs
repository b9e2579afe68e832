//! The one-click call (一键呼应): what a press makes. A press from a household's phone page or
//! its call button is an urgent case of source `one_click_call` at the household, routed to its
//! grid worker, with a short accept deadline; presses close together are one call.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::case::{DeadlinePolicy, Priority, Source, UnitKind};
use crate::validate::{FieldIssue, Rule};

/// Presses of one household this close together are one call: someone in trouble presses again
/// when nothing seems to happen, and that must not make a second case for the grid worker.
pub const DEFAULT_FOLD_WINDOW_SECS: i64 = 120;
/// A one-click call must be accepted this quickly, or it escalates as any missed deadline does.
pub const DEFAULT_ACCEPT_MINUTES: u32 = 10;
pub const PRIORITY: Priority = Priority::Urgent;
pub const SOURCE: Source = Source::OneClickCall;
/// The category a call opens under: someone at home needs help, which is what the default
/// `elderly_care` category is for (the demo's one-click cases are of it too), and it is handled
/// by the grid, i.e. the household's grid worker. The dispatcher recategorises once they know more.
pub const CATEGORY_CODE: &str = "elderly_care";
/// Whoever the routing rules say, a call goes to the household's grid first.
pub const UNIT_KIND: UnitKind = UnitKind::Grid;

/// A town's one-click settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneClickSettings {
    pub fold_window_secs: i64,
    pub accept_minutes: u32,
}

impl Default for OneClickSettings {
    fn default() -> Self {
        OneClickSettings { fold_window_secs: DEFAULT_FOLD_WINDOW_SECS, accept_minutes: DEFAULT_ACCEPT_MINUTES }
    }
}

impl OneClickSettings {
    /// Settings as a town administrator enters them: a fold window of 10 s to 30 min (longer
    /// would fold a second emergency into the first), an accept deadline of 1 to 60 minutes (a
    /// call nobody takes for an hour is not a one-click call any more).
    pub fn parse(fold_window_secs: i64, accept_minutes: i64) -> Result<OneClickSettings, FieldIssue> {
        if !(10..=1800).contains(&fold_window_secs) {
            return Err(FieldIssue::new("fold_window_secs", Rule::OutOfRange { min: 10, max: 1800 }));
        }
        let accept_minutes = u32::try_from(accept_minutes)
            .ok()
            .filter(|m| (1..=60).contains(m))
            .ok_or_else(|| FieldIssue::new("accept_minutes", Rule::OutOfRange { min: 1, max: 60 }))?;
        Ok(OneClickSettings { fold_window_secs, accept_minutes })
    }

    /// The deadlines of a one-click case: the short accept deadline, and the resolve time of the
    /// category's urgent policy (a call is urgent to take, not necessarily quick to settle).
    pub fn policy(self, urgent: DeadlinePolicy) -> DeadlinePolicy {
        DeadlinePolicy { accept_minutes: self.accept_minutes, resolve_minutes: urgent.resolve_minutes }
    }
}

/// The household's latest one-click case, as the store finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCall {
    pub case_id: Uuid,
    /// The latest press counted on it (the window slides with each press).
    pub last_press_at: DateTime<Utc>,
    /// Once closed or rejected, a new press is a new call, however soon.
    pub case_open: bool,
}

/// What a press does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PressDisposition {
    /// Open a new one-click case.
    NewCase,
    /// Count the press on this case (its press count and `last_press_at`) and tell its handler
    /// again; no new case.
    Fold { case_id: Uuid },
}

/// Decide what a press at `pressed_at` does. `pressed_at` is the server's receive time, also for
/// a button (whose `ts` may be minutes off). The store must serialise presses per household
/// (find the last call and write in one transaction), or two quick presses can both open a case.
pub fn dispose_press(
    last: Option<&LastCall>,
    pressed_at: DateTime<Utc>,
    settings: OneClickSettings,
) -> PressDisposition {
    match last {
        // `abs`: a button's press relayed after a reconnect may arrive after a later phone press.
        Some(l) if l.case_open && (pressed_at - l.last_press_at).num_seconds().abs() <= settings.fold_window_secs => {
            PressDisposition::Fold { case_id: l.case_id }
        }
        _ => PressDisposition::NewCase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::DEFAULT_CATEGORIES;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 8, 0, 0).unwrap()
    }

    #[test]
    fn presses_within_two_minutes_are_one_call() {
        let s = OneClickSettings::default();
        let case_id = Uuid::from_u128(5);
        let last = LastCall { case_id, last_press_at: t0(), case_open: true };
        assert_eq!(dispose_press(None, t0(), s), PressDisposition::NewCase);
        assert_eq!(dispose_press(Some(&last), t0() + Duration::seconds(120), s), PressDisposition::Fold { case_id });
        assert_eq!(dispose_press(Some(&last), t0() + Duration::seconds(121), s), PressDisposition::NewCase);
        let closed = LastCall { case_open: false, ..last };
        assert_eq!(dispose_press(Some(&closed), t0() + Duration::seconds(5), s), PressDisposition::NewCase);
    }

    #[test]
    fn one_click_cases_are_urgent_with_ten_minutes_to_accept() {
        let urgent = DeadlinePolicy::default_for(Priority::Urgent);
        let p = OneClickSettings::default().policy(urgent);
        assert_eq!(p, DeadlinePolicy { accept_minutes: 10, resolve_minutes: urgent.resolve_minutes });
        assert_eq!(PRIORITY, Priority::Urgent);
        assert_eq!(SOURCE.as_str(), "one_click_call");
        let cat = DEFAULT_CATEGORIES.iter().find(|c| c.code == CATEGORY_CODE).unwrap();
        assert_eq!(cat.unit_kind, UNIT_KIND);
    }

    #[test]
    fn settings_are_bounded() {
        assert_eq!(OneClickSettings::parse(120, 10), Ok(OneClickSettings::default()));
        assert_eq!(OneClickSettings::parse(5, 10).unwrap_err().field, "fold_window_secs");
        assert_eq!(OneClickSettings::parse(120, 0).unwrap_err().field, "accept_minutes");
        assert_eq!(OneClickSettings::parse(120, i64::MAX).unwrap_err().field, "accept_minutes");
    }

    proptest! {
        /// A run of presses each within the window of the one before stays one case, however
        /// long the run; a gap longer than the window starts a new one.
        #[test]
        fn a_run_of_presses_is_one_call(gaps in proptest::collection::vec(0i64..300, 1..50)) {
            let s = OneClickSettings::default();
            let mut last: Option<LastCall> = None;
            let mut at = t0();
            let mut cases = 0u128;
            let mut expected = 0u128;
            for (i, gap) in gaps.iter().enumerate() {
                at += Duration::seconds(*gap);
                if i == 0 || *gap > s.fold_window_secs {
                    expected += 1;
                }
                match dispose_press(last.as_ref(), at, s) {
                    PressDisposition::NewCase => {
                        cases += 1;
                        last = Some(LastCall { case_id: Uuid::from_u128(cases), last_press_at: at, case_open: true });
                    }
                    PressDisposition::Fold { case_id } => {
                        prop_assert_eq!(Some(case_id), last.map(|l| l.case_id));
                        last = last.map(|l| LastCall { last_press_at: at, ..l });
                    }
                }
            }
            prop_assert_eq!(cases, expected);
        }
    }
}

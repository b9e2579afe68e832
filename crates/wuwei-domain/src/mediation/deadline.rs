//! A dispute's clocks, shaped for the case loop's sweeper: the same cards (yellow at 75% of the
//! time, red when overdue, from `case::card_at`) and a `next_sweep_at` so that a sweep reads only
//! the disputes that are due, through an index.
//!
//! Two clocks, never both at once:
//! - the **level** clock, while the dispute is at a level (registered, escalated, reopened, in
//!   mediation): from arriving at the level to its deadline. Yellow urges the holder; red moves
//!   the dispute one level up (through `workflow::decide` as `system`), or at the town, where
//!   there is nothing above, shows a red card to political-legal.
//! - the **follow-up** clock, while an agreement awaits its visit: nothing before the visit is
//!   due (a visit before then cannot say it holds); at the due time the holder is told to go;
//!   the visit then has [`FOLLOW_UP_WINDOW_DAYS`], with the usual yellow and red.

use chrono::{DateTime, Duration, Utc};

use super::workflow::{DisputeFacts, DisputeState};
use crate::case::{Card, card_at, next_sweep};

/// Once a follow-up is due, the visit should happen within this many days.
pub const FOLLOW_UP_WINDOW_DAYS: i64 = 7;

named_enum!(
    /// Which clock runs.
    ClockKind {
        Level => "level",
        FollowUp => "follow_up",
        Stopped => "stopped",
    }
);

/// The running clock of a dispute: from `started_at` to `due_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediationClock {
    pub kind: ClockKind,
    pub started_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
}

impl MediationClock {
    const STOPPED: MediationClock = MediationClock { kind: ClockKind::Stopped, started_at: None, due_at: None };
}

/// The clock that runs for a dispute in its present state. The follow-up clock runs over the
/// visit's window, from the time the visit is due.
pub fn clock_of(facts: &DisputeFacts) -> MediationClock {
    if facts.state.is_at_level() {
        return MediationClock {
            kind: ClockKind::Level,
            started_at: Some(facts.level_entered_at),
            due_at: Some(facts.level_due_at()),
        };
    }
    match (facts.state, facts.follow_up_due_at) {
        (DisputeState::Agreed, Some(due)) => MediationClock {
            kind: ClockKind::FollowUp,
            started_at: Some(due),
            due_at: Some(due + Duration::days(FOLLOW_UP_WINDOW_DAYS)),
        },
        _ => MediationClock::STOPPED,
    }
}

named_enum!(
    /// What the sweeper does with a dispute it looks at.
    SweepAction {
        /// Nothing yet (it came early, or nothing runs).
        None => "none",
        /// The follow-up visit is due: tell the holder to go.
        FollowUpDue => "follow_up_due",
        /// Yellow: remind the holder that time is running out.
        Urge => "urge",
        /// The level's deadline passed below the town: move it up (`decide` as `system`).
        Escalate => "escalate",
        /// Overdue with nowhere to go (town level, or a follow-up not made): a red card for the
        /// holder and political-legal.
        RedCard => "red_card",
    }
);

/// What one sweep of a dispute finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub card: Card,
    pub action: SweepAction,
    /// When the sweeper must look again (store it as the dispute's `next_sweep_at`). After an
    /// escalation, take it from the escalated dispute instead (sweep it again, or
    /// [`next_sweep_at`]).
    pub next_sweep_at: Option<DateTime<Utc>>,
}

/// The card a dispute shows at `now`: none while no clock runs or before a follow-up is due.
pub fn card_of(facts: &DisputeFacts, now: DateTime<Utc>) -> Card {
    match clock_of(facts) {
        MediationClock { started_at: Some(start), due_at: Some(due), .. } if now >= start => card_at(start, due, now),
        _ => Card::None,
    }
}

/// When the sweeper must next look at a dispute, seen at `now`: the yellow mark, then the
/// deadline, then never; for a follow-up, first the moment it becomes due.
pub fn next_sweep_at(facts: &DisputeFacts, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match clock_of(facts) {
        MediationClock { kind: ClockKind::FollowUp, started_at: Some(start), .. } if now < start => Some(start),
        MediationClock { started_at: Some(start), due_at: Some(due), .. } => {
            next_sweep(start, due, card_at(start, due, now))
        }
        _ => None,
    }
}

/// One sweep of a dispute at `now`.
pub fn sweep(facts: &DisputeFacts, now: DateTime<Utc>) -> Sweep {
    let clock = clock_of(facts);
    let card = card_of(facts, now);
    let action = match (clock.kind, card) {
        (ClockKind::Stopped, _) => SweepAction::None,
        (ClockKind::Level, Card::None) => SweepAction::None,
        (ClockKind::Level, Card::Yellow) | (ClockKind::FollowUp, Card::Yellow) => SweepAction::Urge,
        (ClockKind::Level, Card::Red) if facts.level.next().is_some() => SweepAction::Escalate,
        (ClockKind::Level | ClockKind::FollowUp, Card::Red) => SweepAction::RedCard,
        (ClockKind::FollowUp, Card::None) => match clock.started_at {
            Some(due) if now >= due => SweepAction::FollowUpDue,
            _ => SweepAction::None,
        },
    };
    Sweep { card, action, next_sweep_at: next_sweep_at(facts, now) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mediation::workflow::{DisputeAction, DisputeCapacity, DisputeInput, decide};
    use crate::mediation::{DeadlinePolicy, MediationLevel, RiskLevel};
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn facts(state: DisputeState, level: MediationLevel) -> DisputeFacts {
        DisputeFacts {
            state,
            level,
            risk: RiskLevel::Low,
            level_entered_at: t0(),
            agreed_at: None,
            follow_up_due_at: None,
            reopen_count: 0,
            policy: DeadlinePolicy::DEFAULT,
        }
    }

    #[test]
    fn a_village_dispute_is_urged_then_escalated_by_the_sweeper() {
        let f = facts(DisputeState::Registered, MediationLevel::NaturalVillage);
        let due = t0() + Duration::days(7);
        let yellow = t0() + Duration::hours(126); // 75% of 7 days
        let s = sweep(&f, t0());
        assert_eq!((s.card, s.action, s.next_sweep_at), (Card::None, SweepAction::None, Some(yellow)));
        let s = sweep(&f, yellow);
        assert_eq!((s.card, s.action, s.next_sweep_at), (Card::Yellow, SweepAction::Urge, Some(due)));
        let s = sweep(&f, due);
        assert_eq!((s.card, s.action), (Card::Red, SweepAction::Escalate));
        // The sweeper escalates through the workflow, and the new level's clock starts afresh.
        let d = decide(&f, DisputeAction::Escalate, &[DisputeCapacity::System], &DisputeInput::default(), due).unwrap();
        assert_eq!(d.after.level, MediationLevel::AdminVillage);
        let again = sweep(&d.after, due);
        assert_eq!((again.card, again.action), (Card::None, SweepAction::None));
        assert_eq!(again.next_sweep_at, Some(due + Duration::milliseconds((15.0 * 86_400_000.0 * 0.75) as i64)));
    }

    #[test]
    fn at_town_an_overdue_dispute_gets_a_red_card_and_no_more_sweeps() {
        let f = facts(DisputeState::InMediation, MediationLevel::Town);
        let due = t0() + Duration::days(30);
        let s = sweep(&f, due + Duration::hours(1));
        assert_eq!((s.card, s.action, s.next_sweep_at), (Card::Red, SweepAction::RedCard, None));
    }

    #[test]
    fn the_follow_up_is_announced_when_due_then_urged_then_red() {
        let mut f = facts(DisputeState::Agreed, MediationLevel::AdminVillage);
        let due = t0() + Duration::days(30);
        f.agreed_at = Some(t0());
        f.follow_up_due_at = Some(due);
        let s = sweep(&f, t0() + Duration::days(29));
        assert_eq!((s.card, s.action, s.next_sweep_at), (Card::None, SweepAction::None, Some(due)));
        let s = sweep(&f, due);
        let yellow = due + Duration::hours(126);
        assert_eq!((s.card, s.action, s.next_sweep_at), (Card::None, SweepAction::FollowUpDue, Some(yellow)));
        let s = sweep(&f, yellow);
        assert_eq!((s.card, s.action), (Card::Yellow, SweepAction::Urge));
        let s = sweep(&f, due + Duration::days(FOLLOW_UP_WINDOW_DAYS));
        assert_eq!((s.card, s.action, s.next_sweep_at), (Card::Red, SweepAction::RedCard, None));
    }

    #[test]
    fn finished_disputes_are_not_swept() {
        for state in [DisputeState::Resolved, DisputeState::Referred, DisputeState::Closed] {
            let f = facts(state, MediationLevel::NaturalVillage);
            let s = sweep(&f, t0() + Duration::days(400));
            assert_eq!((s.card, s.action, s.next_sweep_at), (Card::None, SweepAction::None, None));
            assert_eq!(clock_of(&f), MediationClock::STOPPED);
        }
    }
}

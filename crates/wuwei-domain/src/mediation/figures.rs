//! Mediation figures (矛盾纠纷统计) over plain records: where disputes end ("小事不出村，大事不出
//! 镇"), how long agreement takes, and whether agreements hold. Pure, so the figures page, the
//! .xlsx export, the demo and the tests all count the same way. A record is derived from a
//! dispute's timeline by [`DisputeRecord::from_history`], so the definitions live here only.
//!
//! Definitions:
//! - A dispute is **settled** at a level when an agreement made there stands: it is `agreed`
//!   (follow-up pending) or `resolved` (the follow-up found it holding). Counting the pending
//!   ones keeps the last month from always looking empty; whether agreements really hold is
//!   its own figure ([`MediationFigures::holding_share`]).
//! - A dispute is **concluded** when it is settled or `referred` out of the town. Open,
//!   reopened and closed (withdrawn) disputes say nothing about where disputes end, so the
//!   level shares are over concluded disputes only.
//! - **Days to agreement**: from registration to its first signed agreement.
//! - **Holding at follow-up**: of the follow-up visits due after an agreement, the share that
//!   found it holding (later visits to a resolved dispute are not counted again).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};

use super::workflow::{DisputeAction, DisputeState, HistoryEntry};
use super::{DisputeType, MediationLevel};
use crate::case::local_day;

/// What the figures need to know about one dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeRecord {
    pub dispute_type: DisputeType,
    pub registered_at: DateTime<Utc>,
    /// The level it was registered at.
    pub registered_level: MediationLevel,
    pub state: DisputeState,
    /// Its level now; for a settled dispute, where it was settled.
    pub level: MediationLevel,
    pub first_agreed_at: Option<DateTime<Utc>>,
    /// Follow-ups due after an agreement that found it holding, and broken.
    pub follow_ups_holding: u32,
    pub follow_ups_broken: u32,
}

impl DisputeRecord {
    /// The record of a dispute from its timeline; `None` for an empty one.
    pub fn from_history(dispute_type: DisputeType, entries: &[HistoryEntry]) -> Option<DisputeRecord> {
        let (first, last) = (entries.first()?, entries.last()?);
        let mut record = DisputeRecord {
            dispute_type,
            registered_at: first.at,
            registered_level: first.level_to,
            state: last.to,
            level: last.level_to,
            first_agreed_at: None,
            follow_ups_holding: 0,
            follow_ups_broken: 0,
        };
        for e in entries {
            if e.to == DisputeState::Agreed && e.from != DisputeState::Agreed && record.first_agreed_at.is_none() {
                record.first_agreed_at = Some(e.at);
            }
            if e.action == DisputeAction::FollowUp && e.from == DisputeState::Agreed {
                match e.to {
                    DisputeState::Resolved => record.follow_ups_holding += 1,
                    _ => record.follow_ups_broken += 1,
                }
            }
        }
        Some(record)
    }

    /// An agreement stands: agreed (follow-up pending) or resolved.
    pub fn is_settled(&self) -> bool {
        matches!(self.state, DisputeState::Agreed | DisputeState::Resolved)
    }

    /// Settled, or referred out of the town.
    pub fn is_concluded(&self) -> bool {
        self.is_settled() || self.state == DisputeState::Referred
    }

    /// Days from registration to the first agreement.
    pub fn days_to_agreement(&self) -> Option<f64> {
        self.first_agreed_at.map(|a| (a - self.registered_at).num_seconds().max(0) as f64 / 86_400.0)
    }
}

/// Counts for one group (a type, a level, a month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub received: u64,
    pub settled: u64,
    /// Of which the follow-up found the agreement holding.
    pub resolved: u64,
    pub referred: u64,
    /// Still needing a session or a visit.
    pub open: u64,
}

impl Counts {
    fn add(&mut self, r: &DisputeRecord) {
        self.received += 1;
        self.settled += u64::from(r.is_settled());
        self.resolved += u64::from(r.state == DisputeState::Resolved);
        self.referred += u64::from(r.state == DisputeState::Referred);
        self.open += u64::from(r.state.is_open());
    }
}

/// The mediation figures of a set of disputes (a town or a village, over a period).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediationFigures {
    pub totals: Counts,
    pub concluded: u64,
    /// Settled at each level.
    pub settled_at: BTreeMap<MediationLevel, u64>,
    /// Received, by type.
    pub by_type: BTreeMap<DisputeType, Counts>,
    /// By the level a dispute was registered at.
    pub by_registered_level: BTreeMap<MediationLevel, Counts>,
    /// By month of registration, China Standard Time: (year, month).
    pub by_month: BTreeMap<(i32, u32), Counts>,
    pub median_days_to_agreement: Option<f64>,
    pub follow_ups_holding: u64,
    pub follow_ups_broken: u64,
}

impl MediationFigures {
    pub fn over(records: &[DisputeRecord]) -> MediationFigures {
        let mut f = MediationFigures::default();
        let mut days = Vec::new();
        for r in records {
            f.totals.add(r);
            f.by_type.entry(r.dispute_type).or_default().add(r);
            f.by_registered_level.entry(r.registered_level).or_default().add(r);
            let day = local_day(r.registered_at);
            f.by_month.entry((day.year(), day.month())).or_default().add(r);
            if r.is_concluded() {
                f.concluded += 1;
            }
            if r.is_settled() {
                *f.settled_at.entry(r.level).or_default() += 1;
            }
            days.extend(r.days_to_agreement());
            f.follow_ups_holding += u64::from(r.follow_ups_holding);
            f.follow_ups_broken += u64::from(r.follow_ups_broken);
        }
        f.median_days_to_agreement = median(&mut days);
        f
    }

    /// Share of concluded disputes settled at or below `level`; `None` when none concluded.
    pub fn settled_at_or_below(&self, level: MediationLevel) -> Option<f64> {
        let settled: u64 = self.settled_at.range(..=level).map(|(_, n)| n).sum();
        share(settled, self.concluded)
    }

    /// "小事不出村": settled at the natural village.
    pub fn village_share(&self) -> Option<f64> {
        self.settled_at_or_below(MediationLevel::NaturalVillage)
    }

    /// Settled at or below the admin village.
    pub fn admin_village_share(&self) -> Option<f64> {
        self.settled_at_or_below(MediationLevel::AdminVillage)
    }

    /// "大事不出镇": settled at or below the town, i.e. not referred out of it.
    pub fn town_share(&self) -> Option<f64> {
        self.settled_at_or_below(MediationLevel::Town)
    }

    /// Share of follow-ups that found the agreement holding.
    pub fn holding_share(&self) -> Option<f64> {
        share(self.follow_ups_holding, self.follow_ups_holding + self.follow_ups_broken)
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The exact median (the mean of the middle two for an even count); `None` for no values.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values.get(n / 2 - 1)? + values.get(n / 2)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mediation::workflow::{
        AgreementInput, DisputeCapacity, DisputeInput, Registration, SessionInput, SessionOutcome, decide, register,
    };
    use crate::mediation::{DeadlinePolicy, RiskLevel};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 31, 20, 0, 0).unwrap()
    }

    fn record(state: DisputeState, level: MediationLevel, days: Option<i64>) -> DisputeRecord {
        DisputeRecord {
            dispute_type: DisputeType::Neighbour,
            registered_at: t0(),
            registered_level: MediationLevel::NaturalVillage,
            state,
            level,
            first_agreed_at: days.map(|d| t0() + Duration::days(d)),
            follow_ups_holding: 0,
            follow_ups_broken: 0,
        }
    }

    #[test]
    fn shares_by_level_over_concluded_disputes() {
        use DisputeState::*;
        use MediationLevel::*;
        let records = [
            record(Resolved, NaturalVillage, Some(2)),
            record(Resolved, NaturalVillage, Some(3)),
            record(Agreed, NaturalVillage, Some(5)),
            record(Resolved, AdminVillage, Some(12)),
            record(Resolved, Town, Some(30)),
            record(Referred, Town, None),
            // Not concluded: open, reopened, closed.
            record(InMediation, NaturalVillage, None),
            record(Reopened, AdminVillage, Some(4)),
            record(Closed, NaturalVillage, None),
        ];
        let f = MediationFigures::over(&records);
        assert_eq!(f.concluded, 6);
        assert_eq!(f.village_share(), Some(3.0 / 6.0));
        assert_eq!(f.admin_village_share(), Some(4.0 / 6.0));
        assert_eq!(f.town_share(), Some(5.0 / 6.0));
        assert_eq!(f.totals, Counts { received: 9, settled: 5, resolved: 4, referred: 1, open: 3 });
        // Days to agreement: 2, 3, 4, 5, 12, 30.
        assert_eq!(f.median_days_to_agreement, Some(4.5));
        // 2026-01-31 20:00 UTC is February 1st in China.
        assert_eq!(f.by_month.keys().copied().collect::<Vec<_>>(), vec![(2026, 2)]);
        assert_eq!(MediationFigures::over(&[]).town_share(), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 10.0]), Some(3.0));
    }

    #[test]
    fn a_record_is_read_from_the_timeline() {
        let reg = Registration {
            dispute_type: DisputeType::UnpaidWages,
            risk: RiskLevel::Medium,
            level: MediationLevel::NaturalVillage,
            parties: 6,
            description: "工程款拖欠".into(),
            skip_reason: None,
        };
        let r = register(&reg, &[DisputeCapacity::StationMember], DeadlinePolicy::DEFAULT, t0()).unwrap();
        let (mut f, mut h) = (r.facts, vec![r.entry]);
        let session = |outcome| DisputeInput {
            session: Some(SessionInput {
                outcome,
                mediators: 1,
                parties_present: 6,
                notes: "调解".into(),
                agreement: (outcome == SessionOutcome::Agreed)
                    .then(|| AgreementInput { parties: 6, terms: "分两期支付".into() }),
            }),
            ..DisputeInput::default()
        };
        let follow =
            |holds| DisputeInput { holds: Some(holds), notes: Some("回访".into()), ..DisputeInput::default() };
        let steps = [
            (DisputeAction::RecordSession, DisputeCapacity::StationMember, session(SessionOutcome::Failed), 1),
            (DisputeAction::RecordSession, DisputeCapacity::VillageSecretary, session(SessionOutcome::Agreed), 4),
            (DisputeAction::FollowUp, DisputeCapacity::VillageSecretary, follow(false), 20),
            (DisputeAction::RecordSession, DisputeCapacity::VillageSecretary, session(SessionOutcome::Agreed), 25),
            (DisputeAction::FollowUp, DisputeCapacity::VillageSecretary, follow(true), 60),
            (DisputeAction::FollowUp, DisputeCapacity::VillageSecretary, follow(true), 90),
        ];
        for (action, who, input, day) in steps {
            let d = decide(&f, action, &[who], &input, t0() + Duration::days(day)).unwrap();
            f.apply(&d);
            h.push(d.entry);
        }
        let rec = DisputeRecord::from_history(DisputeType::UnpaidWages, &h).unwrap();
        assert_eq!(
            (rec.state, rec.level, rec.registered_level),
            (DisputeState::Resolved, MediationLevel::AdminVillage, MediationLevel::NaturalVillage)
        );
        assert_eq!(rec.days_to_agreement(), Some(4.0));
        assert_eq!((rec.follow_ups_holding, rec.follow_ups_broken), (1, 1));
        let f = MediationFigures::over(&[rec]);
        assert_eq!(f.holding_share(), Some(0.5));
        assert_eq!((f.village_share(), f.admin_village_share()), (Some(0.0), Some(1.0)));
        assert!(DisputeRecord::from_history(DisputeType::Other, &[]).is_none());
    }

    proptest! {
        /// The shares climb with the level and stay within 0..=1; the median lies between the
        /// smallest and the largest days to agreement.
        #[test]
        fn shares_are_ordered(
            picks in proptest::collection::vec((0usize..8, 0usize..3, proptest::option::of(0i64..200)), 0..50),
        ) {
            let records: Vec<DisputeRecord> = picks
                .iter()
                .map(|(s, l, d)| record(DisputeState::ALL[*s], MediationLevel::ALL[*l], *d))
                .collect();
            let f = MediationFigures::over(&records);
            let (v, a, t) = (f.village_share(), f.admin_village_share(), f.town_share());
            prop_assert_eq!(v.is_some(), f.concluded > 0);
            if let (Some(v), Some(a), Some(t)) = (v, a, t) {
                prop_assert!(0.0 <= v && v <= a && a <= t && t <= 1.0);
            }
            let days: Vec<f64> = records.iter().filter_map(DisputeRecord::days_to_agreement).collect();
            if let Some(m) = f.median_days_to_agreement {
                let lo = days.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = days.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(lo <= m && m <= hi);
            } else {
                prop_assert!(days.is_empty());
            }
        }
    }
}

//! Dispute mediation (矛盾纠纷三级调解) as pure rules: small matters stay in the village, big
//! matters stay in the town, and no dispute is lost on its way up.
//!
//! A [`dispute`](workflow::DisputeFacts) is held at one [`MediationLevel`] at a time —
//! `natural_village` (the peacemaker station), `admin_village` (the village party secretary),
//! `town` (the six-in-one) — each with its own deadline. It moves up when mediation at its level
//! fails or its deadline passes, and never skips a level without a recorded reason. The parts:
//!
//! - [`workflow`]: the dispute's life declared as data, like `case::WORKFLOW`: registration,
//!   mediation sessions and their outcomes, escalation, agreement, follow-up and reopening;
//!   [`workflow::decide`] applies it and [`workflow::check_history`] verifies a timeline.
//! - [`deadline`]: the level and follow-up clocks, their yellow and red cards, and what the
//!   case loop's sweeper does with a dispute at a given instant.
//! - [`six_in_one`]: the town's six offices, the editable routing rules that pick a lead office
//!   and collaborators from a dispute's facts, and joint handling (one task and deadline each).
//! - [`privacy`]: checked resident ID and mobile numbers, and how they are shown masked.
//! - [`figures`]: the shares resolved at or below each level, median days to agreement and the
//!   share of agreements holding at follow-up, over plain records.
//!
//! Nothing here reads a clock or a database: the store loads the facts, asks these functions,
//! and writes what they decide.

pub mod deadline;
pub mod figures;
pub mod privacy;
pub mod six_in_one;
pub mod workflow;

named_enum!(
    /// What a dispute is about (the register form's list).
    DisputeType {
        Neighbour => "neighbour",
        FamilyMarriage => "family_marriage",
        LandHomestead => "land_homestead",
        Debts => "debts",
        UnpaidWages => "unpaid_wages",
        Contracts => "contracts",
        DamageInjury => "damage_injury",
        Other => "other",
    }
);

named_enum!(
    /// How dangerous a dispute is. `high` means a risk of violence or a group incident: the town
    /// is alerted at once, and the dispute may go straight to town level with a recorded reason.
    RiskLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

impl RiskLevel {
    /// A high-risk dispute alerts the town the moment it is known, whatever its level: the
    /// town must not learn of a looming fight from the sweeper a week later.
    pub fn alerts_town(self) -> bool {
        self == RiskLevel::High
    }
}

named_enum!(
    /// The three levels of mediation (三级调解), in the order a dispute climbs them. The derived
    /// order is that climb: `natural_village < admin_village < town`.
    MediationLevel {
        NaturalVillage => "natural_village",
        AdminVillage => "admin_village",
        Town => "town",
    }
);

impl MediationLevel {
    /// The level a dispute goes to when mediation here fails or its deadline passes; `None` at
    /// the town: what fails there leaves the town (referred to a court, arbitration or the city).
    pub fn next(self) -> Option<MediationLevel> {
        match self {
            MediationLevel::NaturalVillage => Some(MediationLevel::AdminVillage),
            MediationLevel::AdminVillage => Some(MediationLevel::Town),
            MediationLevel::Town => None,
        }
    }

    /// 0, 1, 2 from the village up: how many steps above the natural village.
    pub fn rank(self) -> u8 {
        match self {
            MediationLevel::NaturalVillage => 0,
            MediationLevel::AdminVillage => 1,
            MediationLevel::Town => 2,
        }
    }

    /// Moving from `self` to `to` passes over at least one level.
    pub fn skips_to(self, to: MediationLevel) -> bool {
        to.rank() > self.rank() + 1
    }
}

/// How long each level has, and when the follow-up visit after an agreement is due, in days.
/// Editable per town; [`DeadlinePolicy::DEFAULT`] holds the defaults of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadlinePolicy {
    pub natural_village_days: u32,
    pub admin_village_days: u32,
    pub town_days: u32,
    pub follow_up_days: u32,
}

/// Bounds a town may choose between, for every one of the policy's periods: a day is the least
/// a level can do anything in; past a year a dispute is not being mediated but forgotten.
pub const MIN_POLICY_DAYS: u32 = 1;
pub const MAX_POLICY_DAYS: u32 = 365;

/// A policy period outside [`MIN_POLICY_DAYS`]..=[`MAX_POLICY_DAYS`]: 422 on `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: must be {MIN_POLICY_DAYS} to {MAX_POLICY_DAYS} days")]
pub struct PolicyOutOfBounds {
    pub field: &'static str,
}

impl DeadlinePolicy {
    pub const DEFAULT: DeadlinePolicy =
        DeadlinePolicy { natural_village_days: 7, admin_village_days: 15, town_days: 30, follow_up_days: 30 };

    /// Days a dispute may stay at `level` before it is due to move up.
    pub fn days_at(&self, level: MediationLevel) -> u32 {
        match level {
            MediationLevel::NaturalVillage => self.natural_village_days,
            MediationLevel::AdminVillage => self.admin_village_days,
            MediationLevel::Town => self.town_days,
        }
    }

    /// Every period within bounds, or the first field that is not.
    pub fn validate(&self) -> Result<(), PolicyOutOfBounds> {
        let fields = [
            ("natural_village_days", self.natural_village_days),
            ("admin_village_days", self.admin_village_days),
            ("town_days", self.town_days),
            ("follow_up_days", self.follow_up_days),
        ];
        match fields.iter().find(|(_, d)| !(MIN_POLICY_DAYS..=MAX_POLICY_DAYS).contains(d)) {
            Some((field, _)) => Err(PolicyOutOfBounds { field }),
            None => Ok(()),
        }
    }
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        DeadlinePolicy::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_climb_in_order_and_stop_at_the_town() {
        let mut level = MediationLevel::NaturalVillage;
        let mut path = vec![level];
        while let Some(next) = level.next() {
            assert!(next > level);
            level = next;
            path.push(level);
        }
        assert_eq!(path, MediationLevel::ALL);
        assert!(MediationLevel::NaturalVillage.skips_to(MediationLevel::Town));
        assert!(!MediationLevel::NaturalVillage.skips_to(MediationLevel::AdminVillage));
        assert!(!MediationLevel::AdminVillage.skips_to(MediationLevel::Town));
    }

    #[test]
    fn names_round_trip_through_serde() {
        for t in DisputeType::ALL {
            assert_eq!(DisputeType::parse(t.as_str()), Some(*t));
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(serde_json::from_str::<DisputeType>(&json).unwrap(), *t);
        }
        assert_eq!(MediationLevel::parse("admin_village"), Some(MediationLevel::AdminVillage));
        assert!(serde_json::from_str::<RiskLevel>("\"extreme\"").is_err());
        assert!(RiskLevel::High.alerts_town() && !RiskLevel::Medium.alerts_town());
    }

    #[test]
    fn the_default_policy_is_the_issues_and_bounds_are_checked() {
        let p = DeadlinePolicy::default();
        assert_eq!(MediationLevel::ALL.iter().map(|l| p.days_at(*l)).collect::<Vec<_>>(), vec![7, 15, 30]);
        assert_eq!(p.follow_up_days, 30);
        assert_eq!(p.validate(), Ok(()));
        let bad = DeadlinePolicy { town_days: 0, ..p };
        assert_eq!(bad.validate(), Err(PolicyOutOfBounds { field: "town_days" }));
        let bad = DeadlinePolicy { follow_up_days: 366, ..p };
        assert_eq!(bad.validate(), Err(PolicyOutOfBounds { field: "follow_up_days" }));
    }
}

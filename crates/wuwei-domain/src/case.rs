//! The case closed loop (收集 → 上报 → 受理 → 分拨 → 处置 → 办结 → 核查销号 → 评价), declared as
//! data: [`WORKFLOW`] lists every action, the states it applies in, who may take it and what it
//! requires. [`decide`] is the one function that applies it; it is pure, and time is a
//! parameter.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }

            pub fn names() -> Vec<String> {
                Self::ALL.iter().map(|v| v.as_str().to_string()).collect()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown value {s}")))
            }
        }
    };
}

named_enum!(
    /// Where a case is in its loop.
    CaseState {
        Collected => "collected",
        Reported => "reported",
        Accepted => "accepted",
        Dispatched => "dispatched",
        InProgress => "in_progress",
        Resolved => "resolved",
        Closed => "closed",
        Rejected => "rejected",
        Merged => "merged",
    }
);

impl CaseState {
    /// Open cases are still being worked on: they count towards load, deadlines and duplicates.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CaseState::Reported
                | CaseState::Accepted
                | CaseState::Dispatched
                | CaseState::InProgress
                | CaseState::Resolved
        )
    }

    /// Terminal: nothing more happens except a rating or a reopen of a closed case.
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Rejected | CaseState::Merged)
    }
}

named_enum!(Priority { Urgent => "urgent", High => "high", Normal => "normal" });

named_enum!(
    /// Where a case came from.
    Source {
        GridWorker => "grid_worker",
        Resident => "resident",
        OneClickCall => "one_click_call",
        Camera => "camera",
        Hotline => "hotline",
        Inspection => "inspection",
        Open311 => "open311",
        Staff => "staff",
    }
);

named_enum!(
    /// What can be done to a case.
    Action {
        Report => "report",
        Accept => "accept",
        Dispatch => "dispatch",
        Start => "start",
        Resolve => "resolve",
        Close => "close",
        Return => "return",
        Transfer => "transfer",
        Merge => "merge",
        Reject => "reject",
        Rate => "rate",
        Reopen => "reopen",
    }
);

named_enum!(
    /// The capacity in which someone acts on a case. The server decides which capacities a
    /// caller has for a given case (from their roles, scopes and unit memberships).
    Capacity {
        /// Whoever reported it (and the reporters of cases merged into it).
        Reporter => "reporter",
        /// The operations centre: dispatchers and town administrators.
        Dispatcher => "dispatcher",
        /// A member of the handling unit the case is assigned to.
        Handler => "handler",
    }
);

named_enum!(
    /// The kind of a handling unit; escalation climbs these in order.
    UnitKind {
        Grid => "grid",
        VillageCommittee => "village_committee",
        TownOffice => "town_office",
        EnforcementTeam => "enforcement_team",
        County => "county",
    }
);

impl UnitKind {
    /// Escalation level: grid → village → town office (the enforcement team is a town office)
    /// → county.
    pub fn level(self) -> u8 {
        match self {
            UnitKind::Grid => 0,
            UnitKind::VillageCommittee => 1,
            UnitKind::TownOffice | UnitKind::EnforcementTeam => 2,
            UnitKind::County => 3,
        }
    }

    /// The kind a case goes to when it is escalated from this one; `None` at the top.
    pub fn escalates_to(self) -> Option<UnitKind> {
        match self {
            UnitKind::Grid => Some(UnitKind::VillageCommittee),
            UnitKind::VillageCommittee => Some(UnitKind::TownOffice),
            UnitKind::TownOffice | UnitKind::EnforcementTeam => Some(UnitKind::County),
            UnitKind::County => None,
        }
    }
}

/// What an action needs besides the caller's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A reason (return, reject).
    Reason,
    /// A result note (resolve).
    ResultNote,
    /// At least one photo, if the category asks for one (resolve).
    PhotoIfCategoryRequires,
    /// A handling unit (dispatch, transfer).
    Unit,
    /// A different unit than the current one (transfer).
    DifferentUnit,
    /// Another open case to merge into (merge).
    TargetCase,
    /// A rating 1–5, once (rate).
    Rating,
    /// Within [`REOPEN_WINDOW_DAYS`] of closing, rated unsatisfactory, not reopened before.
    ReopenWindow,
}

/// Where an action leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(CaseState),
    /// One step back along the main line.
    Back,
    /// Stays (a rating, a transfer between units).
    Same,
}

#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub action: Action,
    pub from: &'static [CaseState],
    pub to: Target,
    pub who: &'static [Capacity],
    pub requires: &'static [Requirement],
}

use Capacity::{Dispatcher as D, Handler as H, Reporter as R};
use CaseState::*;

/// The workflow. Order matters only for display (allowed actions are listed in this order).
pub const WORKFLOW: &[Transition] = &[
    Transition { action: Action::Report, from: &[Collected], to: Target::To(Reported), who: &[R, D], requires: &[] },
    Transition { action: Action::Accept, from: &[Reported], to: Target::To(Accepted), who: &[D], requires: &[] },
    Transition {
        action: Action::Dispatch,
        from: &[Accepted],
        to: Target::To(Dispatched),
        who: &[D],
        requires: &[Requirement::Unit],
    },
    Transition { action: Action::Start, from: &[Dispatched], to: Target::To(InProgress), who: &[H], requires: &[] },
    Transition {
        action: Action::Resolve,
        from: &[InProgress],
        to: Target::To(Resolved),
        who: &[H],
        requires: &[Requirement::ResultNote, Requirement::PhotoIfCategoryRequires],
    },
    Transition { action: Action::Close, from: &[Resolved], to: Target::To(Closed), who: &[D], requires: &[] },
    // Back one step: the centre returns a report to its reporter or a result to its handler;
    // a handler returns an assignment that is not theirs to the centre.
    Transition {
        action: Action::Return,
        from: &[Reported, Accepted, Resolved],
        to: Target::Back,
        who: &[D],
        requires: &[Requirement::Reason],
    },
    Transition {
        action: Action::Return,
        from: &[Dispatched, InProgress],
        to: Target::Back,
        who: &[H, D],
        requires: &[Requirement::Reason],
    },
    Transition {
        action: Action::Transfer,
        from: &[Dispatched, InProgress],
        to: Target::To(Dispatched),
        who: &[D],
        requires: &[Requirement::Unit, Requirement::DifferentUnit],
    },
    Transition {
        action: Action::Merge,
        from: &[Reported, Accepted, Dispatched, InProgress],
        to: Target::To(Merged),
        who: &[D],
        requires: &[Requirement::TargetCase],
    },
    Transition {
        action: Action::Reject,
        from: &[Reported, Accepted],
        to: Target::To(Rejected),
        who: &[D],
        requires: &[Requirement::Reason],
    },
    Transition { action: Action::Rate, from: &[Closed], to: Target::Same, who: &[R], requires: &[Requirement::Rating] },
    Transition {
        action: Action::Reopen,
        from: &[Closed],
        to: Target::To(Dispatched),
        who: &[R],
        requires: &[Requirement::ReopenWindow],
    },
];

/// A closed case may be reopened by its reporter this many days after closing.
pub const REOPEN_WINDOW_DAYS: i64 = 7;
/// Ratings at or below this are unsatisfactory (and allow a reopen).
pub const UNSATISFACTORY_MAX: u8 = 2;

/// The state one step back along the main line.
pub fn previous(state: CaseState) -> Option<CaseState> {
    match state {
        Reported => Some(Collected),
        Accepted => Some(Reported),
        Dispatched => Some(Accepted),
        InProgress => Some(Dispatched),
        Resolved => Some(InProgress),
        _ => None,
    }
}

/// What the rules need to know about a case.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub state: CaseState,
    pub unit_id: Option<Uuid>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rating: Option<u8>,
    pub reopen_count: u32,
    pub category_requires_photo: bool,
    pub photo_count: u32,
}

/// What the caller supplied with the action.
#[derive(Debug, Clone, Default)]
pub struct ActionInput {
    pub reason: Option<String>,
    pub result_note: Option<String>,
    pub unit_id: Option<Uuid>,
    pub target_case_open: Option<bool>,
    pub rating: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// Not possible in this state at all: 409 with what is possible.
    #[error("{action} is not allowed while the case is {state}")]
    NotInThisState { action: Action, state: CaseState, allowed: Vec<Action> },
    /// Possible, but not for this caller: 403.
    #[error("{action} needs one of these capacities: {needed:?}")]
    NotPermitted { action: Action, needed: Vec<Capacity> },
    /// A requirement is missing or wrong: 422 on `field`.
    #[error("{field}: {problem}")]
    Missing { field: &'static str, problem: &'static str },
    /// The reopen window is over, or the case was reopened already, or the rating was fine: 409.
    #[error("the case can no longer be reopened: {0}")]
    ReopenRefused(&'static str),
    /// Rated already: 409.
    #[error("the case was rated already")]
    RatedAlready,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for CaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision: where the case goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub from: CaseState,
    pub to: CaseState,
}

/// Actions the caller could take now (by state and capacity; requirements are checked when
/// taken).
pub fn allowed_actions(state: CaseState, capacities: &[Capacity]) -> Vec<Action> {
    let mut out = Vec::new();
    for t in WORKFLOW {
        if t.from.contains(&state) && t.who.iter().any(|c| capacities.contains(c)) && !out.contains(&t.action) {
            out.push(t.action);
        }
    }
    out
}

fn nonblank(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Apply the workflow: may this caller take this action now, with this input, and where does
/// it lead?
pub fn decide(
    facts: &CaseFacts,
    action: Action,
    capacities: &[Capacity],
    input: &ActionInput,
    now: DateTime<Utc>,
) -> Result<Decision, WorkflowError> {
    let candidates: Vec<&Transition> =
        WORKFLOW.iter().filter(|t| t.action == action && t.from.contains(&facts.state)).collect();
    if candidates.is_empty() {
        return Err(WorkflowError::NotInThisState {
            action,
            state: facts.state,
            allowed: allowed_actions(facts.state, capacities),
        });
    }
    let Some(t) = candidates.iter().find(|t| t.who.iter().any(|c| capacities.contains(c))) else {
        let mut needed: Vec<Capacity> = candidates.iter().flat_map(|t| t.who.iter().copied()).collect();
        needed.dedup();
        return Err(WorkflowError::NotPermitted { action, needed });
    };
    for r in t.requires {
        match r {
            Requirement::Reason if !nonblank(&input.reason) => {
                return Err(WorkflowError::Missing { field: "reason", problem: "required" });
            }
            Requirement::ResultNote if !nonblank(&input.result_note) => {
                return Err(WorkflowError::Missing { field: "result_note", problem: "required" });
            }
            Requirement::PhotoIfCategoryRequires if facts.category_requires_photo && facts.photo_count == 0 => {
                return Err(WorkflowError::Missing { field: "attachment_ids", problem: "photo_required" });
            }
            Requirement::Unit if input.unit_id.is_none() => {
                return Err(WorkflowError::Missing { field: "unit_id", problem: "required" });
            }
            Requirement::DifferentUnit if input.unit_id.is_some() && input.unit_id == facts.unit_id => {
                return Err(WorkflowError::Missing { field: "unit_id", problem: "same_unit" });
            }
            Requirement::TargetCase => match input.target_case_open {
                None => return Err(WorkflowError::Missing { field: "target_case_id", problem: "required" }),
                Some(false) => return Err(WorkflowError::Missing { field: "target_case_id", problem: "not_open" }),
                Some(true) => {}
            },
            Requirement::Rating => {
                if facts.rating.is_some() {
                    return Err(WorkflowError::RatedAlready);
                }
                if !input.rating.is_some_and(|r| (1..=5).contains(&r)) {
                    return Err(WorkflowError::Missing { field: "rating", problem: "one_to_five" });
                }
            }
            Requirement::ReopenWindow => {
                if facts.reopen_count > 0 {
                    return Err(WorkflowError::ReopenRefused("reopened_before"));
                }
                if facts.rating.is_none_or(|r| r > UNSATISFACTORY_MAX) {
                    return Err(WorkflowError::ReopenRefused("not_rated_unsatisfactory"));
                }
                if facts.closed_at.is_none_or(|c| now - c > Duration::days(REOPEN_WINDOW_DAYS)) {
                    return Err(WorkflowError::ReopenRefused("window_over"));
                }
            }
            _ => {}
        }
    }
    let to = match t.to {
        Target::To(s) => s,
        Target::Same => facts.state,
        Target::Back => previous(facts.state).ok_or(WorkflowError::NotInThisState {
            action,
            state: facts.state,
            allowed: allowed_actions(facts.state, capacities),
        })?,
    };
    Ok(Decision { from: facts.state, to })
}

// ---- deadlines ----

/// Minutes to accept and to resolve, for one category and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePolicy {
    pub accept_minutes: u32,
    pub resolve_minutes: u32,
}

impl DeadlinePolicy {
    /// Sensible defaults per priority (editable per category by a town administrator).
    pub fn default_for(priority: Priority) -> DeadlinePolicy {
        match priority {
            Priority::Urgent => DeadlinePolicy { accept_minutes: 30, resolve_minutes: 4 * 60 },
            Priority::High => DeadlinePolicy { accept_minutes: 60, resolve_minutes: 24 * 60 },
            Priority::Normal => DeadlinePolicy { accept_minutes: 2 * 60, resolve_minutes: 3 * 24 * 60 },
        }
    }
}

named_enum!(Card { None => "none", Yellow => "yellow", Red => "red" });

/// Share of the time that must pass before a yellow card.
pub const YELLOW_AT: f64 = 0.75;

/// The card a clock running from `start` to `due` shows at `now`.
pub fn card_at(start: DateTime<Utc>, due: DateTime<Utc>, now: DateTime<Utc>) -> Card {
    if now >= due {
        Card::Red
    } else if now >= yellow_at(start, due) {
        Card::Yellow
    } else {
        Card::None
    }
}

/// When 75% of the time from `start` to `due` has passed.
pub fn yellow_at(start: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
    let span = (due - start).num_milliseconds().max(0) as f64;
    start + Duration::milliseconds((span * YELLOW_AT).round() as i64)
}

/// The deadline that runs in a state: accepting while reported, resolving while the case is
/// with the centre or a unit; none once resolved (the centre's close-out has no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Accept,
    Resolve,
    Stopped,
}

pub fn clock_in(state: CaseState) -> Clock {
    match state {
        Reported => Clock::Accept,
        Accepted | Dispatched | InProgress => Clock::Resolve,
        _ => Clock::Stopped,
    }
}

/// When the sweeper next needs to look at a case whose clock runs from `start` to `due`
/// and shows `card`: at the yellow mark, then at the deadline; never after red.
pub fn next_sweep(start: DateTime<Utc>, due: DateTime<Utc>, card: Card) -> Option<DateTime<Utc>> {
    match card {
        Card::None => Some(yellow_at(start, due)),
        Card::Yellow => Some(due),
        Card::Red => None,
    }
}

/// A case's deadline clock: when it started, when it is due, the card it shows, and when the
/// sweeper must look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockState {
    pub started_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub card: Card,
    pub next_sweep_at: Option<DateTime<Utc>>,
}

impl ClockState {
    pub const STOPPED: ClockState =
        ClockState { started_at: None, due_at: None, card: Card::None, next_sweep_at: None };

    fn running(start: DateTime<Utc>, minutes: u32) -> ClockState {
        let due = start + Duration::minutes(i64::from(minutes));
        ClockState {
            started_at: Some(start),
            due_at: Some(due),
            card: Card::None,
            next_sweep_at: next_sweep(start, due, Card::None),
        }
    }
}

/// The clock after a case moves from `from` to `to` at `now`. Accepting starts the resolve
/// clock; a reopen starts it afresh; moves within the resolve phase (dispatch, start,
/// transfer, a return from the unit) keep it running; leaving the open states stops it but
/// keeps the card, which the figures count.
pub fn clock_after(
    current: ClockState,
    action: Action,
    from: CaseState,
    to: CaseState,
    policy: DeadlinePolicy,
    now: DateTime<Utc>,
) -> ClockState {
    match clock_in(to) {
        Clock::Stopped => ClockState {
            started_at: current.started_at,
            due_at: current.due_at,
            card: current.card,
            next_sweep_at: None,
        },
        Clock::Accept => ClockState::running(now, policy.accept_minutes),
        Clock::Resolve => {
            let restart = clock_in(from) != Clock::Resolve || action == Action::Reopen;
            if restart { ClockState::running(now, policy.resolve_minutes) } else { current }
        }
    }
}

// ---- numbering and duplicates ----

/// The readable number of a case: town short code, local date, sequence of the day.
pub fn case_number(short_code: &str, local_day: chrono::NaiveDate, seq: u32) -> String {
    format!("{short_code}-{}-{seq:04}", local_day.format("%Y%m%d"))
}

/// The towns run on China Standard Time (UTC+8, no daylight saving): a case's "day" is theirs.
pub fn local_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    (at + Duration::hours(8)).date_naive()
}

/// A new case this close to an open one of the same category is a possible duplicate.
pub const DUPLICATE_RADIUS_M: f64 = 100.0;
pub const DUPLICATE_WINDOW_HOURS: i64 = 24;

/// Great-circle distance in metres.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

/// A box (in degrees) around a point that contains every point within `radius_m`, for a
/// cheap indexed pre-filter before [`distance_m`].
pub fn bounding_box(lat: f64, lon: f64, radius_m: f64) -> (f64, f64, f64, f64) {
    let dlat = radius_m / 111_320.0;
    let dlon = radius_m / (111_320.0 * lat.to_radians().cos().abs().max(0.01));
    (lat - dlat, lon - dlon, lat + dlat, lon + dlon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts(state: CaseState) -> CaseFacts {
        CaseFacts {
            state,
            unit_id: None,
            closed_at: None,
            rating: None,
            reopen_count: 0,
            category_requires_photo: false,
            photo_count: 0,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_main_line_runs_from_collected_to_closed() {
        let unit = Uuid::from_u128(1);
        let steps = [
            (Action::Report, Capacity::Reporter, Reported),
            (Action::Accept, Capacity::Dispatcher, Accepted),
            (Action::Dispatch, Capacity::Dispatcher, Dispatched),
            (Action::Start, Capacity::Handler, InProgress),
            (Action::Resolve, Capacity::Handler, Resolved),
            (Action::Close, Capacity::Dispatcher, Closed),
        ];
        let mut f = facts(Collected);
        let input =
            ActionInput { unit_id: Some(unit), result_note: Some("清理完毕".into()), ..ActionInput::default() };
        for (action, who, to) in steps {
            let d = decide(&f, action, &[who], &input, now()).unwrap();
            assert_eq!(d.to, to, "{action}");
            f.state = d.to;
        }
    }

    #[test]
    fn a_wrong_action_lists_what_is_allowed() {
        let err = decide(&facts(Reported), Action::Close, &[Capacity::Dispatcher], &ActionInput::default(), now())
            .unwrap_err();
        match err {
            WorkflowError::NotInThisState { allowed, .. } => {
                assert_eq!(allowed, vec![Action::Accept, Action::Return, Action::Merge, Action::Reject]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capacity_is_checked() {
        let err =
            decide(&facts(Reported), Action::Accept, &[Capacity::Handler], &ActionInput::default(), now()).unwrap_err();
        assert!(matches!(err, WorkflowError::NotPermitted { .. }));
    }

    #[test]
    fn returning_needs_a_reason_and_goes_back_one_step() {
        let f = facts(InProgress);
        let err = decide(&f, Action::Return, &[Capacity::Handler], &ActionInput::default(), now()).unwrap_err();
        assert_eq!(err, WorkflowError::Missing { field: "reason", problem: "required" });
        let input = ActionInput { reason: Some("不属于本网格".into()), ..ActionInput::default() };
        assert_eq!(decide(&f, Action::Return, &[Capacity::Handler], &input, now()).unwrap().to, Dispatched);
    }

    #[test]
    fn resolving_needs_a_note_and_a_photo_when_the_category_says_so() {
        let mut f = facts(InProgress);
        f.category_requires_photo = true;
        let input = ActionInput { result_note: Some("已处理".into()), ..ActionInput::default() };
        assert_eq!(
            decide(&f, Action::Resolve, &[Capacity::Handler], &input, now()).unwrap_err(),
            WorkflowError::Missing { field: "attachment_ids", problem: "photo_required" }
        );
        f.photo_count = 1;
        assert!(decide(&f, Action::Resolve, &[Capacity::Handler], &input, now()).is_ok());
    }

    #[test]
    fn reopen_only_once_within_seven_days_after_an_unsatisfactory_rating() {
        let mut f = facts(Closed);
        f.closed_at = Some(now() - Duration::days(2));
        let rate = ActionInput { rating: Some(1), ..ActionInput::default() };
        assert!(decide(&f, Action::Rate, &[Capacity::Reporter], &rate, now()).is_ok());
        assert_eq!(
            decide(&f, Action::Reopen, &[Capacity::Reporter], &ActionInput::default(), now()).unwrap_err(),
            WorkflowError::ReopenRefused("not_rated_unsatisfactory")
        );
        f.rating = Some(1);
        assert_eq!(
            decide(&f, Action::Rate, &[Capacity::Reporter], &rate, now()).unwrap_err(),
            WorkflowError::RatedAlready
        );
        assert_eq!(
            decide(&f, Action::Reopen, &[Capacity::Reporter], &ActionInput::default(), now()).unwrap().to,
            Dispatched
        );
        f.reopen_count = 1;
        assert!(decide(&f, Action::Reopen, &[Capacity::Reporter], &ActionInput::default(), now()).is_err());
        f.reopen_count = 0;
        f.closed_at = Some(now() - Duration::days(8));
        assert_eq!(
            decide(&f, Action::Reopen, &[Capacity::Reporter], &ActionInput::default(), now()).unwrap_err(),
            WorkflowError::ReopenRefused("window_over")
        );
    }

    #[test]
    fn cards_turn_yellow_at_75_percent_and_red_when_due() {
        let start = now();
        let due = start + Duration::hours(4);
        assert_eq!(card_at(start, due, start + Duration::hours(2)), Card::None);
        assert_eq!(card_at(start, due, start + Duration::hours(3)), Card::Yellow);
        assert_eq!(card_at(start, due, due), Card::Red);
        assert_eq!(next_sweep(start, due, Card::None), Some(start + Duration::hours(3)));
        assert_eq!(next_sweep(start, due, Card::Yellow), Some(due));
        assert_eq!(next_sweep(start, due, Card::Red), None);
    }

    #[test]
    fn the_resolve_clock_starts_at_acceptance_and_runs_through_dispatch() {
        let policy = DeadlinePolicy { accept_minutes: 30, resolve_minutes: 240 };
        let t0 = now();
        let reported = clock_after(ClockState::STOPPED, Action::Report, Collected, Reported, policy, t0);
        assert_eq!(reported.due_at, Some(t0 + Duration::minutes(30)));
        let t1 = t0 + Duration::minutes(10);
        let accepted = clock_after(reported, Action::Accept, Reported, Accepted, policy, t1);
        assert_eq!(accepted.due_at, Some(t1 + Duration::minutes(240)));
        let dispatched =
            clock_after(accepted, Action::Dispatch, Accepted, Dispatched, policy, t1 + Duration::minutes(5));
        assert_eq!(dispatched, accepted);
        let resolved =
            clock_after(dispatched, Action::Resolve, InProgress, Resolved, policy, t1 + Duration::minutes(60));
        assert_eq!(resolved.next_sweep_at, None);
        assert_eq!(resolved.due_at, accepted.due_at);
        let t2 = t1 + Duration::days(2);
        let reopened = clock_after(resolved, Action::Reopen, Closed, Dispatched, policy, t2);
        assert_eq!(reopened.due_at, Some(t2 + Duration::minutes(240)));
    }

    #[test]
    fn numbers_and_distances() {
        let day = local_day(Utc.with_ymd_and_hms(2026, 11, 27, 17, 0, 0).unwrap());
        assert_eq!(case_number("DW", day, 42), "DW-20261128-0042");
        let d = distance_m(37.73, 117.23, 37.7309, 117.23);
        assert!((d - 100.0).abs() < 1.0, "{d}");
        let (a, b, c, e) = bounding_box(37.73, 117.23, 100.0);
        assert!(a < 37.73 && c > 37.73 && b < 117.23 && e > 117.23);
    }

    #[test]
    fn escalation_climbs_to_the_county() {
        let mut k = UnitKind::Grid;
        let mut path = vec![k];
        while let Some(next) = k.escalates_to() {
            k = next;
            path.push(k);
        }
        assert_eq!(path, vec![UnitKind::Grid, UnitKind::VillageCommittee, UnitKind::TownOffice, UnitKind::County]);
    }
}

// ---- defaults ----

/// A category of the default tree: code, names, who usually handles it, whether resolving
/// needs a photo, whether it is a dispute (handed to mediation once that module exists), and
/// the town office that takes it when its handler is a town office.
#[derive(Debug, Clone, Copy)]
pub struct DefaultCategory {
    pub code: &'static str,
    pub parent: Option<&'static str>,
    pub name: &'static str,
    pub name_en: &'static str,
    pub unit_kind: UnitKind,
    pub office: Option<&'static str>,
    pub requires_photo: bool,
    pub is_dispute: bool,
}

#[allow(clippy::too_many_arguments)] // a table row, read positionally below
const fn cat(
    code: &'static str,
    parent: Option<&'static str>,
    name: &'static str,
    name_en: &'static str,
    unit_kind: UnitKind,
    office: Option<&'static str>,
    requires_photo: bool,
    is_dispute: bool,
) -> DefaultCategory {
    DefaultCategory { code, parent, name, name_en, unit_kind, office, requires_photo, is_dispute }
}

/// The default category tree of a new town (editable by its administrator).
pub const DEFAULT_CATEGORIES: &[DefaultCategory] = &[
    cat("work_safety", None, "安全生产", "Work safety", UnitKind::TownOffice, Some("office-work-safety"), true, false),
    cat("fire", None, "火情与秸秆焚烧", "Fire and straw burning", UnitKind::Grid, None, true, false),
    cat("fire_smoke", Some("fire"), "火情烟雾", "Fire and smoke", UnitKind::Grid, None, true, false),
    cat("straw_burning", Some("fire"), "秸秆焚烧", "Straw burning", UnitKind::Grid, None, true, false),
    cat("environment", None, "环境卫生", "Environment and hygiene", UnitKind::Grid, None, true, false),
    cat("garbage", Some("environment"), "垃圾堆放", "Rubbish dumping", UnitKind::Grid, None, true, false),
    cat(
        "sewage",
        Some("environment"),
        "污水排放",
        "Sewage discharge",
        UnitKind::TownOffice,
        Some("office-environment"),
        true,
        false,
    ),
    cat("roads", None, "道路与基础设施", "Roads and infrastructure", UnitKind::VillageCommittee, None, true, false),
    cat("streetlight", Some("roads"), "路灯损坏", "Broken streetlight", UnitKind::VillageCommittee, None, false, false),
    cat("water_power", None, "水电", "Water and power", UnitKind::VillageCommittee, None, false, false),
    cat(
        "public_order",
        None,
        "社会治安",
        "Public order",
        UnitKind::TownOffice,
        Some("office-political-legal"),
        false,
        false,
    ),
    cat("neighbour_dispute", None, "邻里纠纷", "Neighbour disputes", UnitKind::Grid, None, false, true),
    cat(
        "land_use",
        None,
        "土地利用与违法建设",
        "Land use and illegal building",
        UnitKind::EnforcementTeam,
        Some("enforcement"),
        true,
        false,
    ),
    cat(
        "illegal_building",
        Some("land_use"),
        "违法建设",
        "Illegal building",
        UnitKind::EnforcementTeam,
        Some("enforcement"),
        true,
        false,
    ),
    cat(
        "elderly_care",
        None,
        "老人与困难群体关爱",
        "Care of elderly and vulnerable people",
        UnitKind::Grid,
        None,
        false,
        false,
    ),
    cat("other", None, "其他", "Other", UnitKind::VillageCommittee, None, false, false),
];

/// A town office that handles cases, with its code and names.
#[derive(Debug, Clone, Copy)]
pub struct DefaultUnit {
    pub code: &'static str,
    pub kind: UnitKind,
    pub name: &'static str,
}

/// The handling units every town starts with (grid and village units are made per region).
pub const DEFAULT_UNITS: &[DefaultUnit] = &[
    DefaultUnit { code: "office-work-safety", kind: UnitKind::TownOffice, name: "安全生产办公室" },
    DefaultUnit { code: "office-environment", kind: UnitKind::TownOffice, name: "生态环境办公室" },
    DefaultUnit { code: "office-construction", kind: UnitKind::TownOffice, name: "村镇建设办公室" },
    DefaultUnit { code: "office-social-affairs", kind: UnitKind::TownOffice, name: "社会事务办公室" },
    DefaultUnit { code: "office-political-legal", kind: UnitKind::TownOffice, name: "综治中心（政法委）" },
    DefaultUnit { code: "enforcement", kind: UnitKind::EnforcementTeam, name: "综合行政执法队" },
    DefaultUnit { code: "county", kind: UnitKind::County, name: "市直部门" },
];

/// The town office a case escalates to from a village when its category names none.
pub const DEFAULT_ESCALATION_OFFICE: &str = "office-construction";

// ---- routing ----

/// A routing rule as the rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingRule {
    /// `None`: any category.
    pub category_id: Option<Uuid>,
    /// `None`: anywhere; else a grid, natural or admin village id.
    pub region_id: Option<Uuid>,
    /// Send to the unit of this kind at the case's place (grid, village committee) ...
    pub unit_kind: Option<UnitKind>,
    /// ... or to this unit.
    pub unit_id: Option<Uuid>,
}

/// Where routing sends a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget {
    Unit(Uuid),
    /// The unit of this kind at the case's place.
    AtPlace(UnitKind),
}

/// Pick the handling unit for a case: the most specific matching rule wins (category and
/// place, then category, then place), a category's own rules before its parents'; without a
/// rule, the category's default unit kind at the case's place.
///
/// `categories`: the case's category then its ancestors. `places`: the case's grid, natural
/// village and admin village ids (those it has).
pub fn route(categories: &[Uuid], default_kind: UnitKind, places: &[Uuid], rules: &[RoutingRule]) -> RouteTarget {
    let target = |r: &RoutingRule| match (r.unit_id, r.unit_kind) {
        (Some(u), _) => Some(RouteTarget::Unit(u)),
        (None, Some(k)) => Some(RouteTarget::AtPlace(k)),
        (None, None) => None,
    };
    let place_rank = |r: &RoutingRule| r.region_id.and_then(|id| places.iter().position(|p| *p == id));
    // Category and place: by category depth, then by place fineness.
    for c in categories {
        let mut best: Option<(usize, RouteTarget)> = None;
        for r in rules.iter().filter(|r| r.category_id == Some(*c)) {
            if let (Some(rank), Some(t)) = (place_rank(r), target(r))
                && best.is_none_or(|(b, _)| rank < b)
            {
                best = Some((rank, t));
            }
        }
        if let Some((_, t)) = best {
            return t;
        }
    }
    for c in categories {
        if let Some(t) = rules.iter().filter(|r| r.category_id == Some(*c) && r.region_id.is_none()).find_map(target) {
            return t;
        }
    }
    let mut best: Option<(usize, RouteTarget)> = None;
    for r in rules.iter().filter(|r| r.category_id.is_none()) {
        if let (Some(rank), Some(t)) = (place_rank(r), target(r))
            && best.is_none_or(|(b, _)| rank < b)
        {
            best = Some((rank, t));
        }
    }
    if let Some((_, t)) = best {
        return t;
    }
    RouteTarget::AtPlace(default_kind)
}

#[cfg(test)]
mod routing_tests {
    use super::*;

    #[test]
    fn the_most_specific_rule_wins() {
        let (cat, parent) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (grid, av) = (Uuid::from_u128(10), Uuid::from_u128(30));
        let (office, team, village_office) = (Uuid::from_u128(100), Uuid::from_u128(200), Uuid::from_u128(300));
        let rules = [
            RoutingRule { category_id: Some(parent), region_id: None, unit_kind: None, unit_id: Some(office) },
            RoutingRule {
                category_id: Some(parent),
                region_id: Some(av),
                unit_kind: None,
                unit_id: Some(village_office),
            },
            RoutingRule { category_id: None, region_id: Some(grid), unit_kind: None, unit_id: Some(team) },
        ];
        let chain = [cat, parent];
        assert_eq!(route(&chain, UnitKind::Grid, &[grid, av], &rules), RouteTarget::Unit(village_office));
        assert_eq!(route(&chain, UnitKind::Grid, &[Uuid::from_u128(11)], &rules), RouteTarget::Unit(office));
        assert_eq!(route(&[Uuid::from_u128(5)], UnitKind::Grid, &[grid], &rules), RouteTarget::Unit(team));
        assert_eq!(
            route(&[Uuid::from_u128(5)], UnitKind::VillageCommittee, &[], &rules),
            RouteTarget::AtPlace(UnitKind::VillageCommittee)
        );
    }
}

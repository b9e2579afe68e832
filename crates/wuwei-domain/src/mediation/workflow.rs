//! The life of a dispute, declared as data: [`WORKFLOW`] lists every action, the states and
//! levels it applies in, who may take it and what it requires; [`decide`] applies it, like
//! `case::decide`. Registering is not a transition but a check ([`register`]), like proposing an
//! award.
//!
//! ```text
//! register ─▶ registered ─┐
//!             escalated ──┼─ session partly / adjourned ─▶ in_mediation (again and again)
//!             reopened ───┘   (waiting at the level)             │
//! from any of these four:                                         │
//!   ├─ session agreed ─▶ agreed ─follow_up holds─▶ resolved ─follow_up holds─▶ resolved
//!   │                      └─follow_up broken─▶ reopened ◀─follow_up broken─┘ (same level)
//!   ├─ session failed / escalate / deadline passed ─▶ escalated (one level up; more needs
//!   │                                                  a skip_reason)
//!   ├─ session failed at town / refer ─▶ referred (out of the town)
//!   └─ close (withdrawn, settled by the parties) ─▶ closed
//! ```
//!
//! The level only ever goes up: escalation moves one level, or more with a recorded
//! `skip_reason`; a reopen stays at the level that made the broken agreement, with a fresh
//! deadline. Every accepted action yields one [`HistoryEntry`], and [`check_history`] verifies
//! that a timeline is unbroken and keeps these rules.

use chrono::{DateTime, Duration, Utc};

use super::six_in_one::{Assignment, AssignmentProblem, Office, check_assignment};
use super::{DeadlinePolicy, DisputeType, MediationLevel, RiskLevel};

named_enum!(
    /// Where a dispute is.
    DisputeState {
        /// Recorded at its first level; no session yet.
        Registered => "registered",
        /// Arrived at a higher level; no session there yet.
        Escalated => "escalated",
        /// At least one session at this level, no conclusion yet.
        InMediation => "in_mediation",
        /// An agreement was signed; the follow-up visit is pending.
        Agreed => "agreed",
        /// A follow-up found the agreement holding.
        Resolved => "resolved",
        /// A follow-up found the agreement broken: mediation starts again at the same level.
        Reopened => "reopened",
        /// Mediation failed at town level: handed out of the town (court, arbitration, city).
        Referred => "referred",
        /// Ended without an agreement: withdrawn, settled by the parties, not a dispute.
        Closed => "closed",
    }
);

impl DisputeState {
    /// Waiting for a session at its level.
    pub fn is_waiting(self) -> bool {
        matches!(self, DisputeState::Registered | DisputeState::Escalated | DisputeState::Reopened)
    }

    /// Being handled at its level: the level's deadline runs.
    pub fn is_at_level(self) -> bool {
        self.is_waiting() || self == DisputeState::InMediation
    }

    /// Still needs someone to do something (a session, a follow-up visit).
    pub fn is_open(self) -> bool {
        self.is_at_level() || self == DisputeState::Agreed
    }

    /// Nothing more happens. `resolved` is not final: a later follow-up may find the agreement
    /// broken and reopen it.
    pub fn is_final(self) -> bool {
        matches!(self, DisputeState::Referred | DisputeState::Closed)
    }
}

named_enum!(
    /// How a mediation session ended.
    SessionOutcome {
        /// An agreement was signed: follow-up.
        Agreed => "agreed",
        /// Some points agreed, others not: mediation continues at this level.
        Partly => "partly",
        /// No agreement possible here: the dispute moves up (or out of the town).
        Failed => "failed",
        /// Put off to another day: mediation continues at this level.
        Adjourned => "adjourned",
    }
);

named_enum!(
    /// What can be done to a dispute.
    DisputeAction {
        /// Not a transition (see [`register`]); named so that the first history entry has one.
        Register => "register",
        RecordSession => "record_session",
        Escalate => "escalate",
        Refer => "refer",
        Assign => "assign",
        FollowUp => "follow_up",
        SetRisk => "set_risk",
        Close => "close",
    }
);

named_enum!(
    /// The capacity in which someone acts on a dispute. The server derives it from the caller's
    /// roles, station membership and office, and the dispute's level and holding unit.
    DisputeCapacity {
        /// A member of the peacemaker station holding the dispute (natural village level).
        StationMember => "station_member",
        /// The party secretary of the dispute's admin village (admin village level).
        VillageSecretary => "village_secretary",
        /// Staff of the office leading the dispute at town level.
        LeadOffice => "lead_office",
        /// Staff of an office collaborating on the dispute at town level (their own task only).
        Collaborator => "collaborator",
        /// The political-legal committee: sees every dispute, sets lead and collaborators.
        PoliticalLegal => "political_legal",
        /// The server itself: the sweeper escalates disputes whose deadline passed.
        System => "system",
    }
);

impl DisputeCapacity {
    /// A holder's capacity counts only at its own level: a station member has no say over a
    /// dispute that has moved up to the town, even if the server were to pass it along.
    pub fn acts_at(self, level: MediationLevel) -> bool {
        match self {
            DisputeCapacity::StationMember => level == MediationLevel::NaturalVillage,
            DisputeCapacity::VillageSecretary => level == MediationLevel::AdminVillage,
            DisputeCapacity::LeadOffice | DisputeCapacity::Collaborator => level == MediationLevel::Town,
            DisputeCapacity::PoliticalLegal | DisputeCapacity::System => true,
        }
    }

    /// Who holds a dispute at `level`.
    pub fn holder_at(level: MediationLevel) -> DisputeCapacity {
        match level {
            MediationLevel::NaturalVillage => DisputeCapacity::StationMember,
            MediationLevel::AdminVillage => DisputeCapacity::VillageSecretary,
            MediationLevel::Town => DisputeCapacity::LeadOffice,
        }
    }

    /// Whether this capacity may register a dispute at `level`: holders register at their own
    /// level or hand it upwards, never downwards (a town office registering what it accepted
    /// directly is the lead of it). A collaborator exists only on a dispute already handled.
    pub fn may_register_at(self, level: MediationLevel) -> bool {
        let lowest = match self {
            DisputeCapacity::StationMember | DisputeCapacity::PoliticalLegal | DisputeCapacity::System => {
                MediationLevel::NaturalVillage
            }
            DisputeCapacity::VillageSecretary => MediationLevel::AdminVillage,
            DisputeCapacity::LeadOffice => MediationLevel::Town,
            DisputeCapacity::Collaborator => return false,
        };
        lowest <= level
    }
}

/// What an action needs besides the caller's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A non-blank reason (escalate, refer, close, set_risk).
    Reason,
    /// A complete session record; an agreement with its parties and terms when agreed.
    Session,
    /// The target level is above the current one.
    HigherLevel,
    /// Passing over a level needs a recorded `skip_reason`.
    SkipReasonIfSkipping,
    /// The level's deadline has passed (the sweeper's escalation).
    DeadlinePassed,
    /// A lead office and distinct collaborators.
    Assignment,
    /// Whether the agreement holds, with notes; "holds" only once the visit is due.
    FollowUpResult,
    /// A risk level different from the current one.
    Risk,
}

/// Where an action leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(DisputeState),
    /// Stays (an assignment, a risk change).
    Same,
    /// By the session's outcome (see [`SessionOutcome`]).
    BySession,
    /// Up to the requested level (or the next one).
    Escalation,
    /// Resolved when the agreement holds, reopened when it is broken.
    ByFollowUp,
}

#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub action: DisputeAction,
    pub from: &'static [DisputeState],
    pub levels: &'static [MediationLevel],
    pub to: Target,
    pub who: &'static [DisputeCapacity],
    pub requires: &'static [Requirement],
}

use DisputeCapacity::{
    LeadOffice as LO, PoliticalLegal as PL, StationMember as SM, System as SYS, VillageSecretary as VS,
};
use DisputeState::*;
use MediationLevel::{AdminVillage as AV, NaturalVillage as NV, Town as TOWN};

const AT_LEVEL: &[DisputeState] = &[Registered, Escalated, Reopened, InMediation];
const ALL_LEVELS: &[MediationLevel] = &[NV, AV, TOWN];
const BELOW_TOWN: &[MediationLevel] = &[NV, AV];

/// The dispute workflow. Order matters only for display.
pub const WORKFLOW: &[Transition] = &[
    Transition {
        action: DisputeAction::RecordSession,
        from: AT_LEVEL,
        levels: ALL_LEVELS,
        to: Target::BySession,
        who: &[SM, VS, LO],
        requires: &[Requirement::Session],
    },
    // The holder gives up at its level (or political-legal pulls a dispute up to the town).
    Transition {
        action: DisputeAction::Escalate,
        from: AT_LEVEL,
        levels: BELOW_TOWN,
        to: Target::Escalation,
        who: &[SM, VS, PL],
        requires: &[Requirement::Reason, Requirement::HigherLevel, Requirement::SkipReasonIfSkipping],
    },
    // The sweeper moves a dispute whose level deadline passed, one level, never more.
    Transition {
        action: DisputeAction::Escalate,
        from: AT_LEVEL,
        levels: BELOW_TOWN,
        to: Target::Escalation,
        who: &[SYS],
        requires: &[Requirement::DeadlinePassed],
    },
    // Above the town there is no mediation level: what the six-in-one cannot settle is handed
    // out (litigation, arbitration, a city department), and the record says why.
    Transition {
        action: DisputeAction::Refer,
        from: AT_LEVEL,
        levels: &[TOWN],
        to: Target::To(Referred),
        who: &[LO, PL],
        requires: &[Requirement::Reason],
    },
    Transition {
        action: DisputeAction::Assign,
        from: &[Registered, Escalated, Reopened, InMediation, Agreed],
        levels: &[TOWN],
        to: Target::Same,
        who: &[PL],
        requires: &[Requirement::Assignment],
    },
    Transition {
        action: DisputeAction::FollowUp,
        from: &[Agreed, Resolved],
        levels: ALL_LEVELS,
        to: Target::ByFollowUp,
        who: &[SM, VS, LO],
        requires: &[Requirement::FollowUpResult],
    },
    Transition {
        action: DisputeAction::SetRisk,
        from: &[Registered, Escalated, Reopened, InMediation, Agreed],
        levels: ALL_LEVELS,
        to: Target::Same,
        who: &[SM, VS, LO, PL],
        requires: &[Requirement::Reason, Requirement::Risk],
    },
    Transition {
        action: DisputeAction::Close,
        from: AT_LEVEL,
        levels: ALL_LEVELS,
        to: Target::To(Closed),
        who: &[SM, VS, LO, PL],
        requires: &[Requirement::Reason],
    },
];

/// A dispute has at most this many parties (a wage dispute may involve a whole crew; more is
/// a group incident, not a mediation).
pub const MAX_PARTIES: u32 = 100;
/// An agreement is signed by at least this many parties: it is made between them.
pub const MIN_AGREEMENT_PARTIES: u32 = 2;

/// What the rules need to know about a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeFacts {
    pub state: DisputeState,
    pub level: MediationLevel,
    pub risk: RiskLevel,
    /// When the dispute arrived at its level (or was reopened there): the level clock's start.
    pub level_entered_at: DateTime<Utc>,
    /// When the last agreement was signed.
    pub agreed_at: Option<DateTime<Utc>>,
    /// When the follow-up visit of the pending agreement is due.
    pub follow_up_due_at: Option<DateTime<Utc>>,
    pub reopen_count: u32,
    /// The town's deadlines.
    pub policy: DeadlinePolicy,
}

impl DisputeFacts {
    /// When the dispute is due to have left its level.
    pub fn level_due_at(&self) -> DateTime<Utc> {
        self.level_entered_at + Duration::days(i64::from(self.policy.days_at(self.level)))
    }

    /// The dispute after a decision (what the store writes back).
    pub fn apply(&mut self, d: &Decision) {
        *self = d.after.clone();
    }
}

/// A signed agreement as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementInput {
    /// How many parties sign it.
    pub parties: u32,
    pub terms: String,
}

/// A session as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInput {
    pub outcome: SessionOutcome,
    pub mediators: u32,
    pub parties_present: u32,
    pub notes: String,
    /// Only with [`SessionOutcome::Agreed`].
    pub agreement: Option<AgreementInput>,
}

/// What the caller supplied with the action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisputeInput {
    pub reason: Option<String>,
    pub session: Option<SessionInput>,
    /// Escalate to this level; the next one when absent.
    pub to_level: Option<MediationLevel>,
    pub skip_reason: Option<String>,
    pub lead: Option<Office>,
    pub collaborators: Vec<Office>,
    /// The follow-up's finding.
    pub holds: Option<bool>,
    /// The follow-up's notes.
    pub notes: Option<String>,
    pub risk: Option<RiskLevel>,
}

/// Why an action is refused, with what the server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not possible in this state at all (escalating a closed dispute): 409 with what is.
    #[error("{action} is not allowed while the dispute is {state}")]
    NotInThisState { action: DisputeAction, state: DisputeState, allowed: Vec<DisputeAction> },
    /// Not possible at this level (escalating above the town, referring below it): 409.
    #[error("{action} is not possible at {level} level")]
    NotAtThisLevel { action: DisputeAction, level: MediationLevel },
    /// Possible, but not for this caller: 403.
    #[error("{action} needs one of these capacities: {needed:?}")]
    NotPermitted { action: DisputeAction, needed: Vec<DisputeCapacity> },
    /// A requirement is missing or wrong: 422 on `field`.
    #[error("{field}: {problem}")]
    Missing { field: &'static str, problem: &'static str },
    /// The sweeper came before the level's deadline: 409.
    #[error("the level's deadline is {due_at}")]
    DeadlineNotPassed { due_at: DateTime<Utc> },
    /// "Holds" before the follow-up is due says nothing about whether it holds: 409.
    #[error("the follow-up is due at {due_at}")]
    FollowUpNotDue { due_at: DateTime<Utc> },
}

impl Refusal {
    /// The HTTP status the server answers with, so that the mapping lives beside the rules.
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::NotPermitted { .. } => 403,
            Refusal::Missing { .. } => 422,
            Refusal::NotInThisState { .. }
            | Refusal::NotAtThisLevel { .. }
            | Refusal::DeadlineNotPassed { .. }
            | Refusal::FollowUpNotDue { .. } => 409,
        }
    }
}

/// One line of a dispute's timeline: the store appends it with the actor and the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub action: DisputeAction,
    pub by: DisputeCapacity,
    pub from: DisputeState,
    pub to: DisputeState,
    pub level_from: MediationLevel,
    pub level_to: MediationLevel,
    /// The risk after the action.
    pub risk: RiskLevel,
    pub outcome: Option<SessionOutcome>,
    /// The reason, session notes or follow-up notes given.
    pub note: Option<String>,
    /// Why a level was passed over.
    pub skip_reason: Option<String>,
}

/// The decision: the dispute afterwards, its timeline entry, and what else must happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub after: DisputeFacts,
    pub entry: HistoryEntry,
    /// The dispute just became high risk: alert the town now.
    pub alert_town: bool,
    /// The checked lead and collaborators (assign).
    pub assignment: Option<Assignment>,
}

/// Actions the caller could take now (by state, level and capacity; requirements are checked
/// when taken).
pub fn allowed_actions(
    state: DisputeState,
    level: MediationLevel,
    capacities: &[DisputeCapacity],
) -> Vec<DisputeAction> {
    let mut out = Vec::new();
    for t in WORKFLOW {
        if t.from.contains(&state)
            && t.levels.contains(&level)
            && t.who.iter().any(|c| capacities.contains(c) && c.acts_at(level))
            && !out.contains(&t.action)
        {
            out.push(t.action);
        }
    }
    out
}

fn nonblank(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.trim().is_empty())
}

fn missing(field: &'static str, problem: &'static str) -> Refusal {
    Refusal::Missing { field, problem }
}

fn check_session(session: Option<&SessionInput>) -> Result<&SessionInput, Refusal> {
    let Some(s) = session else { return Err(missing("session", "required")) };
    if s.mediators == 0 {
        return Err(missing("session.mediators", "at_least_one"));
    }
    if s.parties_present == 0 {
        return Err(missing("session.parties_present", "at_least_one"));
    }
    if !nonblank(Some(&s.notes)) {
        return Err(missing("session.notes", "required"));
    }
    match (s.outcome, &s.agreement) {
        (SessionOutcome::Agreed, None) => Err(missing("session.agreement", "required")),
        (SessionOutcome::Agreed, Some(a)) if a.parties < MIN_AGREEMENT_PARTIES => {
            Err(missing("session.agreement.parties", "at_least_two"))
        }
        (SessionOutcome::Agreed, Some(a)) if a.parties > MAX_PARTIES => {
            Err(missing("session.agreement.parties", "too_many"))
        }
        (SessionOutcome::Agreed, Some(a)) if !nonblank(Some(&a.terms)) => {
            Err(missing("session.agreement.terms", "required"))
        }
        (SessionOutcome::Partly | SessionOutcome::Failed | SessionOutcome::Adjourned, Some(_)) => {
            Err(missing("session.agreement", "only_when_agreed"))
        }
        _ => Ok(s),
    }
}

/// Apply the workflow: may this caller take this action now, with this input, and where does
/// the dispute go?
pub fn decide(
    facts: &DisputeFacts,
    action: DisputeAction,
    capacities: &[DisputeCapacity],
    input: &DisputeInput,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let (state, level) = (facts.state, facts.level);
    let in_state: Vec<&Transition> =
        WORKFLOW.iter().filter(|t| t.action == action && t.from.contains(&state)).collect();
    if in_state.is_empty() {
        return Err(Refusal::NotInThisState { action, state, allowed: allowed_actions(state, level, capacities) });
    }
    let at_level: Vec<&Transition> = in_state.into_iter().filter(|t| t.levels.contains(&level)).collect();
    if at_level.is_empty() {
        return Err(Refusal::NotAtThisLevel { action, level });
    }
    let acting = |c: &DisputeCapacity| capacities.contains(c) && c.acts_at(level);
    let Some((t, by)) = at_level.iter().find_map(|t| t.who.iter().find(|c| acting(c)).map(|c| (*t, *c))) else {
        // Only those who could act at this level: a station member cannot help a town dispute.
        let mut needed: Vec<DisputeCapacity> = Vec::new();
        for c in at_level.iter().flat_map(|t| t.who.iter().copied()) {
            if c.acts_at(level) && !needed.contains(&c) {
                needed.push(c);
            }
        }
        return Err(Refusal::NotPermitted { action, needed });
    };

    // The level an escalation goes to: one up for the sweeper, as asked for a person.
    let next = level.next();
    let to_level = if t.requires.contains(&Requirement::DeadlinePassed) { next } else { input.to_level.or(next) };
    let mut assignment = None;
    for r in t.requires {
        match r {
            Requirement::Reason if !nonblank(input.reason.as_deref()) => return Err(missing("reason", "required")),
            Requirement::Session => {
                check_session(input.session.as_ref())?;
            }
            Requirement::HigherLevel => match to_level {
                Some(to) if to > level => {}
                Some(_) => return Err(missing("to_level", "not_higher")),
                None => return Err(Refusal::NotAtThisLevel { action, level }),
            },
            Requirement::SkipReasonIfSkipping
                if to_level.is_some_and(|to| level.skips_to(to)) && !nonblank(input.skip_reason.as_deref()) =>
            {
                return Err(missing("skip_reason", "required"));
            }
            Requirement::DeadlinePassed => {
                let due_at = facts.level_due_at();
                if now < due_at {
                    return Err(Refusal::DeadlineNotPassed { due_at });
                }
            }
            Requirement::Assignment => {
                let a = check_assignment(input.lead, &input.collaborators).map_err(|p| match p {
                    AssignmentProblem::NoLead => missing("lead", "required"),
                    AssignmentProblem::LeadCollaborates => missing("collaborators", "contains_lead"),
                    AssignmentProblem::Duplicate => missing("collaborators", "duplicate"),
                })?;
                assignment = Some(a);
            }
            Requirement::FollowUpResult => {
                let Some(holds) = input.holds else { return Err(missing("holds", "required")) };
                if !nonblank(input.notes.as_deref()) {
                    return Err(missing("notes", "required"));
                }
                if holds
                    && state == Agreed
                    && let Some(due_at) = facts.follow_up_due_at
                    && now < due_at
                {
                    return Err(Refusal::FollowUpNotDue { due_at });
                }
            }
            Requirement::Risk => match input.risk {
                None => return Err(missing("risk", "required")),
                Some(r) if r == facts.risk => return Err(missing("risk", "unchanged")),
                Some(_) => {}
            },
            _ => {}
        }
    }

    let mut after = facts.clone();
    let mut outcome = None;
    let mut note = input.reason.clone();
    let mut skip_reason = None;
    let enter = |after: &mut DisputeFacts, to_level: MediationLevel, state: DisputeState| {
        after.level = to_level;
        after.level_entered_at = now;
        after.state = state;
        after.follow_up_due_at = None;
    };
    match t.to {
        Target::To(s) => after.state = s,
        Target::Same => {
            if let Some(r) = input.risk.filter(|_| action == DisputeAction::SetRisk) {
                after.risk = r;
            }
        }
        Target::BySession => {
            let s = check_session(input.session.as_ref())?;
            outcome = Some(s.outcome);
            note = Some(s.notes.clone());
            match s.outcome {
                SessionOutcome::Agreed => {
                    after.state = Agreed;
                    after.agreed_at = Some(now);
                    after.follow_up_due_at = Some(now + Duration::days(i64::from(facts.policy.follow_up_days)));
                }
                SessionOutcome::Partly | SessionOutcome::Adjourned => after.state = InMediation,
                // Failing at a level is what moves a dispute up; at the town it leaves the town.
                SessionOutcome::Failed => match next {
                    Some(up) => enter(&mut after, up, Escalated),
                    None => after.state = Referred,
                },
            }
        }
        Target::Escalation => {
            // Checked above (HigherLevel), but a table edit must not turn into a panic.
            let Some(up) = to_level.filter(|to| *to > level) else {
                return Err(Refusal::NotAtThisLevel { action, level });
            };
            if level.skips_to(up) {
                skip_reason = input.skip_reason.clone();
            }
            enter(&mut after, up, Escalated);
            if by == SYS {
                note = Some("deadline_passed".to_string());
            }
        }
        Target::ByFollowUp => {
            note = input.notes.clone();
            if input.holds == Some(true) {
                after.state = Resolved;
                after.follow_up_due_at = None;
            } else {
                // The level that made the agreement mends it, with its full time again.
                enter(&mut after, level, Reopened);
                after.reopen_count = facts.reopen_count.saturating_add(1);
            }
        }
    }
    let entry = HistoryEntry {
        at: now,
        action,
        by,
        from: state,
        to: after.state,
        level_from: level,
        level_to: after.level,
        risk: after.risk,
        outcome,
        note,
        skip_reason,
    };
    let alert_town = after.risk.alerts_town() && !facts.risk.alerts_town();
    Ok(Decision { after, entry, alert_town, assignment })
}

// ---- registering ----

/// A dispute as registered (by a station member on the phone page, by a village secretary or a
/// town office, or by the server when a case in a dispute category is handed over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub dispute_type: DisputeType,
    pub risk: RiskLevel,
    /// The level it starts at: the natural village unless there is a recorded reason.
    pub level: MediationLevel,
    pub parties: u32,
    pub description: String,
    pub skip_reason: Option<String>,
}

/// A registered dispute: its facts, its first history entry, and whether to alert the town.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub facts: DisputeFacts,
    pub entry: HistoryEntry,
    pub alert_town: bool,
}

/// Check a registration and start the dispute at `now`. Starting above the natural village is
/// passing over it, so it needs a `skip_reason` like any other skip (a high risk is the usual
/// one); whoever registers does so at their own level or hands it upwards.
pub fn register(
    reg: &Registration,
    capacities: &[DisputeCapacity],
    policy: DeadlinePolicy,
    now: DateTime<Utc>,
) -> Result<Registered, Refusal> {
    let Some(by) = capacities.iter().copied().find(|c| c.may_register_at(reg.level)) else {
        let needed: Vec<DisputeCapacity> =
            DisputeCapacity::ALL.iter().copied().filter(|c| c.may_register_at(reg.level)).collect();
        return Err(Refusal::NotPermitted { action: DisputeAction::Register, needed });
    };
    if reg.parties == 0 {
        return Err(missing("parties", "at_least_one"));
    }
    if reg.parties > MAX_PARTIES {
        return Err(missing("parties", "too_many"));
    }
    if !nonblank(Some(&reg.description)) {
        return Err(missing("description", "required"));
    }
    let skipping = reg.level > MediationLevel::NaturalVillage;
    if skipping && !nonblank(reg.skip_reason.as_deref()) {
        return Err(missing("skip_reason", "required"));
    }
    let facts = DisputeFacts {
        state: Registered,
        level: reg.level,
        risk: reg.risk,
        level_entered_at: now,
        agreed_at: None,
        follow_up_due_at: None,
        reopen_count: 0,
        policy,
    };
    let entry = HistoryEntry {
        at: now,
        action: DisputeAction::Register,
        by,
        from: Registered,
        to: Registered,
        level_from: MediationLevel::NaturalVillage,
        level_to: reg.level,
        risk: reg.risk,
        outcome: None,
        note: None,
        skip_reason: if skipping { reg.skip_reason.clone() } else { None },
    };
    Ok(Registered { facts, entry, alert_town: reg.risk.alerts_town() })
}

// ---- history ----

/// What is wrong with a timeline, and at which entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("history entry {index}: {problem}")]
pub struct HistoryProblem {
    pub index: usize,
    pub problem: &'static str,
}

/// Verify a dispute's timeline: it starts with its registration, every entry starts where the
/// one before ended (nothing lost), time never runs backwards, the level never goes down, every
/// skipped level has its reason, nothing follows the end, and a resolved dispute changes only by
/// a follow-up.
pub fn check_history(entries: &[HistoryEntry]) -> Result<(), HistoryProblem> {
    let problem = |index, problem| Err(HistoryProblem { index, problem });
    let Some(first) = entries.first() else { return problem(0, "empty") };
    if first.action != DisputeAction::Register || first.to != Registered {
        return problem(0, "first_not_register");
    }
    if first.level_to > MediationLevel::NaturalVillage && !nonblank(first.skip_reason.as_deref()) {
        return problem(0, "skip_without_reason");
    }
    for (i, pair) in entries.windows(2).enumerate() {
        let (prev, e) = (&pair[0], &pair[1]);
        let index = i + 1;
        if e.action == DisputeAction::Register {
            return problem(index, "registered_again");
        }
        if e.from != prev.to || e.level_from != prev.level_to {
            return problem(index, "gap");
        }
        if e.at < prev.at {
            return problem(index, "time_backwards");
        }
        if e.level_to < e.level_from {
            return problem(index, "level_down");
        }
        if e.level_from.skips_to(e.level_to) && !nonblank(e.skip_reason.as_deref()) {
            return problem(index, "skip_without_reason");
        }
        if prev.to.is_final() {
            return problem(index, "after_final");
        }
        if prev.to == Resolved && !(e.action == DisputeAction::FollowUp && matches!(e.to, Resolved | Reopened)) {
            return problem(index, "resolved_changed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
    }

    fn registration(level: MediationLevel) -> Registration {
        Registration {
            dispute_type: DisputeType::Neighbour,
            risk: RiskLevel::Low,
            level,
            parties: 2,
            description: "宅基地边界争议".into(),
            skip_reason: None,
        }
    }

    fn start() -> (DisputeFacts, Vec<HistoryEntry>) {
        let r = register(&registration(NV), &[SM], DeadlinePolicy::DEFAULT, now()).unwrap();
        (r.facts, vec![r.entry])
    }

    fn session(outcome: SessionOutcome) -> DisputeInput {
        let agreement = (outcome == SessionOutcome::Agreed)
            .then(|| AgreementInput { parties: 2, terms: "东侧围墙后退半米".into() });
        DisputeInput {
            session: Some(SessionInput {
                outcome,
                mediators: 2,
                parties_present: 2,
                notes: "双方到场".into(),
                agreement,
            }),
            ..DisputeInput::default()
        }
    }

    fn reason(r: &str) -> DisputeInput {
        DisputeInput { reason: Some(r.into()), ..DisputeInput::default() }
    }

    fn act(
        f: &mut DisputeFacts,
        h: &mut Vec<HistoryEntry>,
        action: DisputeAction,
        who: DisputeCapacity,
        input: &DisputeInput,
        at: DateTime<Utc>,
    ) -> Decision {
        let d = decide(f, action, &[who], input, at).unwrap();
        f.apply(&d);
        h.push(d.entry.clone());
        d
    }

    #[test]
    fn a_failed_mediation_climbs_one_level_at_a_time_then_leaves_the_town() {
        let (mut f, mut h) = start();
        assert_eq!((f.state, f.level), (Registered, NV));
        assert_eq!(f.level_due_at(), now() + Duration::days(7));
        let t1 = now() + Duration::days(2);
        act(&mut f, &mut h, DisputeAction::RecordSession, SM, &session(SessionOutcome::Failed), t1);
        assert_eq!((f.state, f.level, f.level_entered_at), (Escalated, AV, t1));
        assert_eq!(f.level_due_at(), t1 + Duration::days(15));
        // The station has no say once it has moved up.
        assert!(matches!(
            decide(&f, DisputeAction::RecordSession, &[SM], &session(SessionOutcome::Failed), t1),
            Err(Refusal::NotPermitted { .. })
        ));
        let t2 = t1 + Duration::days(3);
        act(&mut f, &mut h, DisputeAction::RecordSession, VS, &session(SessionOutcome::Failed), t2);
        assert_eq!((f.state, f.level), (Escalated, TOWN));
        assert_eq!(f.level_due_at(), t2 + Duration::days(30));
        act(&mut f, &mut h, DisputeAction::RecordSession, LO, &session(SessionOutcome::Adjourned), t2);
        assert_eq!(f.state, InMediation);
        act(&mut f, &mut h, DisputeAction::RecordSession, LO, &session(SessionOutcome::Failed), t2);
        assert_eq!((f.state, f.level), (Referred, TOWN));
        assert_eq!(check_history(&h), Ok(()));
        assert_eq!(h.len(), 5);
        // Escalating a finished dispute: 409.
        let err = decide(&f, DisputeAction::Escalate, &[PL], &reason("再议"), t2).unwrap_err();
        assert!(matches!(err, Refusal::NotInThisState { state: Referred, .. }));
        assert_eq!(err.http_status(), 409);
    }

    #[test]
    fn agreement_follow_up_and_a_broken_agreement_reopens_at_the_same_level() {
        let (mut f, mut h) = start();
        let t1 = now() + Duration::days(1);
        act(&mut f, &mut h, DisputeAction::RecordSession, SM, &session(SessionOutcome::Partly), t1);
        assert_eq!(f.state, InMediation);
        act(&mut f, &mut h, DisputeAction::RecordSession, SM, &session(SessionOutcome::Agreed), t1);
        assert_eq!((f.state, f.agreed_at, f.follow_up_due_at), (Agreed, Some(t1), Some(t1 + Duration::days(30))));
        let holds =
            DisputeInput { holds: Some(true), notes: Some("协议履行中".into()), ..DisputeInput::default() };
        let early = t1 + Duration::days(10);
        assert_eq!(
            decide(&f, DisputeAction::FollowUp, &[SM], &holds, early).unwrap_err(),
            Refusal::FollowUpNotDue { due_at: t1 + Duration::days(30) }
        );
        // A broken agreement may be found at any time.
        let broken = DisputeInput { holds: Some(false), ..holds.clone() };
        let d = decide(&f, DisputeAction::FollowUp, &[SM], &broken, early).unwrap();
        assert_eq!((d.after.state, d.after.level, d.after.reopen_count), (Reopened, NV, 1));
        assert_eq!(d.after.level_due_at(), early + Duration::days(7));
        let t2 = t1 + Duration::days(30);
        act(&mut f, &mut h, DisputeAction::FollowUp, SM, &holds, t2);
        assert_eq!((f.state, f.follow_up_due_at), (Resolved, None));
        // A later visit may still find it broken.
        act(&mut f, &mut h, DisputeAction::FollowUp, SM, &holds, t2 + Duration::days(60));
        assert_eq!(f.state, Resolved);
        act(&mut f, &mut h, DisputeAction::FollowUp, SM, &broken, t2 + Duration::days(90));
        assert_eq!((f.state, f.level), (Reopened, NV));
        assert_eq!(check_history(&h), Ok(()));
        assert!(matches!(
            decide(&f, DisputeAction::Close, &[SM], &DisputeInput::default(), t2),
            Err(Refusal::Missing { field: "reason", .. })
        ));
    }

    #[test]
    fn sessions_and_agreements_need_their_parts() {
        let (f, _) = start();
        let mut input = session(SessionOutcome::Agreed);
        let check = |input: &DisputeInput| decide(&f, DisputeAction::RecordSession, &[SM], input, now());
        assert_eq!(check(&DisputeInput::default()).unwrap_err(), missing("session", "required"));
        if let Some(s) = input.session.as_mut() {
            s.agreement = Some(AgreementInput { parties: 0, terms: "赔偿 500 元".into() });
        }
        let err = check(&input).unwrap_err();
        assert_eq!(err, missing("session.agreement.parties", "at_least_two"));
        assert_eq!(err.http_status(), 422);
        if let Some(s) = input.session.as_mut() {
            s.agreement = Some(AgreementInput { parties: 2, terms: " ".into() });
        }
        assert_eq!(check(&input).unwrap_err(), missing("session.agreement.terms", "required"));
        if let Some(s) = input.session.as_mut() {
            s.agreement = None;
        }
        assert_eq!(check(&input).unwrap_err(), missing("session.agreement", "required"));
        let mut failed = session(SessionOutcome::Failed);
        if let Some(s) = failed.session.as_mut() {
            s.mediators = 0;
        }
        assert_eq!(check(&failed).unwrap_err(), missing("session.mediators", "at_least_one"));
    }

    #[test]
    fn escalation_never_skips_a_level_without_a_reason() {
        let (f, _) = start();
        let up = DisputeInput { to_level: Some(TOWN), ..reason("持械威胁，群体性风险") };
        assert_eq!(
            decide(&f, DisputeAction::Escalate, &[SM], &up, now()).unwrap_err(),
            missing("skip_reason", "required")
        );
        let up = DisputeInput { skip_reason: Some("高风险，直接提交镇级".into()), ..up };
        let d = decide(&f, DisputeAction::Escalate, &[SM], &up, now()).unwrap();
        assert_eq!((d.after.state, d.after.level), (Escalated, TOWN));
        assert_eq!(d.entry.skip_reason.as_deref(), Some("高风险，直接提交镇级"));
        // One level needs only the reason; the same level is not up.
        let one = decide(&f, DisputeAction::Escalate, &[SM], &reason("调解不成"), now()).unwrap();
        assert_eq!((one.after.level, one.entry.skip_reason), (AV, None));
        let same = DisputeInput { to_level: Some(NV), ..reason("调解不成") };
        assert_eq!(
            decide(&f, DisputeAction::Escalate, &[SM], &same, now()).unwrap_err(),
            missing("to_level", "not_higher")
        );
        // Nothing above the town: refer instead.
        let at_town = DisputeFacts { level: TOWN, ..f.clone() };
        assert_eq!(
            decide(&at_town, DisputeAction::Escalate, &[PL], &reason("x"), now()).unwrap_err(),
            Refusal::NotAtThisLevel { action: DisputeAction::Escalate, level: TOWN }
        );
        assert_eq!(
            decide(&f, DisputeAction::Refer, &[PL], &reason("x"), now()).unwrap_err(),
            Refusal::NotAtThisLevel { action: DisputeAction::Refer, level: NV }
        );
        assert_eq!(
            decide(&at_town, DisputeAction::Refer, &[LO], &reason("引导诉讼"), now()).unwrap().after.state,
            Referred
        );
    }

    #[test]
    fn the_sweeper_escalates_one_level_only_after_the_deadline() {
        let (f, _) = start();
        let due = f.level_due_at();
        let asked = DisputeInput { to_level: Some(TOWN), skip_reason: Some("x".into()), ..DisputeInput::default() };
        assert_eq!(
            decide(&f, DisputeAction::Escalate, &[SYS], &asked, due - Duration::seconds(1)).unwrap_err(),
            Refusal::DeadlineNotPassed { due_at: due }
        );
        let d = decide(&f, DisputeAction::Escalate, &[SYS], &asked, due).unwrap();
        assert_eq!((d.after.level, d.entry.by, d.entry.skip_reason.clone()), (AV, SYS, None));
        assert_eq!(d.entry.note.as_deref(), Some("deadline_passed"));
    }

    #[test]
    fn registering_above_the_village_needs_a_reason_and_high_risk_alerts_the_town() {
        let mut reg = registration(TOWN);
        reg.risk = RiskLevel::High;
        assert_eq!(
            register(&reg, &[SM], DeadlinePolicy::DEFAULT, now()).unwrap_err(),
            missing("skip_reason", "required")
        );
        reg.skip_reason = Some("扬言报复，可能引发群体事件".into());
        let r = register(&reg, &[SM], DeadlinePolicy::DEFAULT, now()).unwrap();
        assert!(r.alert_town);
        assert_eq!((r.facts.level, r.facts.level_due_at()), (TOWN, now() + Duration::days(30)));
        assert_eq!(check_history(&[r.entry]), Ok(()));
        // A town office does not register a dispute down in the village.
        assert!(matches!(
            register(&registration(NV), &[LO], DeadlinePolicy::DEFAULT, now()),
            Err(Refusal::NotPermitted { .. })
        ));
        let mut none = registration(NV);
        none.parties = 0;
        assert_eq!(
            register(&none, &[SM], DeadlinePolicy::DEFAULT, now()).unwrap_err(),
            missing("parties", "at_least_one")
        );
        let low = register(&registration(NV), &[SM], DeadlinePolicy::DEFAULT, now()).unwrap();
        assert!(!low.alert_town);
    }

    #[test]
    fn raising_the_risk_alerts_the_town_once() {
        let (f, _) = start();
        let high = DisputeInput { risk: Some(RiskLevel::High), ..reason("当事人扬言动手") };
        let d = decide(&f, DisputeAction::SetRisk, &[SM], &high, now()).unwrap();
        assert!(d.alert_town);
        assert_eq!((d.after.risk, d.after.state), (RiskLevel::High, Registered));
        let mut g = f.clone();
        g.apply(&d);
        assert_eq!(decide(&g, DisputeAction::SetRisk, &[SM], &high, now()).unwrap_err(), missing("risk", "unchanged"));
        let lower = DisputeInput { risk: Some(RiskLevel::Medium), ..high };
        assert!(!decide(&g, DisputeAction::SetRisk, &[SM], &lower, now()).unwrap().alert_town);
    }

    #[test]
    fn only_political_legal_assigns_and_only_at_town() {
        let (f, _) = start();
        let town = DisputeFacts { level: TOWN, state: Escalated, ..f.clone() };
        let input = DisputeInput {
            lead: Some(Office::Justice),
            collaborators: vec![Office::Police],
            ..DisputeInput::default()
        };
        let d = decide(&town, DisputeAction::Assign, &[PL], &input, now()).unwrap();
        assert_eq!(d.assignment, Some(Assignment { lead: Office::Justice, collaborators: vec![Office::Police] }));
        assert_eq!(d.after, town);
        assert_eq!(
            decide(&town, DisputeAction::Assign, &[LO], &input, now()).unwrap_err(),
            Refusal::NotPermitted { action: DisputeAction::Assign, needed: vec![PL] }
        );
        assert_eq!(decide(&f, DisputeAction::Assign, &[PL], &input, now()).unwrap_err().http_status(), 409);
        let bad = DisputeInput { collaborators: vec![Office::Justice], ..input };
        assert_eq!(
            decide(&town, DisputeAction::Assign, &[PL], &bad, now()).unwrap_err(),
            missing("collaborators", "contains_lead")
        );
    }

    #[test]
    fn allowed_actions_follow_state_level_and_capacity() {
        assert_eq!(
            allowed_actions(Registered, NV, &[SM]),
            vec![DisputeAction::RecordSession, DisputeAction::Escalate, DisputeAction::SetRisk, DisputeAction::Close]
        );
        assert_eq!(allowed_actions(Registered, TOWN, &[SM]), vec![]);
        assert_eq!(
            allowed_actions(InMediation, TOWN, &[PL]),
            vec![DisputeAction::Refer, DisputeAction::Assign, DisputeAction::SetRisk, DisputeAction::Close]
        );
        assert_eq!(allowed_actions(Agreed, AV, &[VS]), vec![DisputeAction::FollowUp, DisputeAction::SetRisk]);
        assert_eq!(allowed_actions(Closed, NV, DisputeCapacity::ALL), vec![]);
        // A refusal names only those who could act at the dispute's level.
        let (f, _) = start();
        assert_eq!(
            decide(&f, DisputeAction::Escalate, &[LO, VS], &reason("x"), now()).unwrap_err(),
            Refusal::NotPermitted { action: DisputeAction::Escalate, needed: vec![SM, PL, SYS] }
        );
        // A wrong action lists what is allowed.
        let err = decide(&f, DisputeAction::FollowUp, &[SM], &DisputeInput::default(), now()).unwrap_err();
        assert_eq!(
            err,
            Refusal::NotInThisState {
                action: DisputeAction::FollowUp,
                state: Registered,
                allowed: allowed_actions(Registered, NV, &[SM])
            }
        );
    }

    #[test]
    fn the_history_checker_names_the_broken_entry() {
        let (mut f, mut h) = start();
        act(&mut f, &mut h, DisputeAction::RecordSession, SM, &session(SessionOutcome::Failed), now());
        act(&mut f, &mut h, DisputeAction::RecordSession, VS, &session(SessionOutcome::Agreed), now());
        assert_eq!(check_history(&h), Ok(()));
        let mut lost = h.clone();
        lost.remove(1);
        assert_eq!(check_history(&lost), Err(HistoryProblem { index: 1, problem: "gap" }));
        let mut skipped = h.clone();
        skipped[1].level_to = TOWN;
        skipped[2].level_from = TOWN;
        skipped[2].level_to = TOWN;
        assert_eq!(check_history(&skipped), Err(HistoryProblem { index: 1, problem: "skip_without_reason" }));
        let mut down = h.clone();
        down[2].level_to = NV;
        assert_eq!(check_history(&down), Err(HistoryProblem { index: 2, problem: "level_down" }));
        let mut early = h.clone();
        early[2].at = now() - Duration::days(1);
        assert_eq!(check_history(&early), Err(HistoryProblem { index: 2, problem: "time_backwards" }));
        assert_eq!(check_history(&[]), Err(HistoryProblem { index: 0, problem: "empty" }));
        assert_eq!(check_history(&h[1..]), Err(HistoryProblem { index: 0, problem: "first_not_register" }));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
    }

    fn text(s: &str, blank: bool) -> Option<String> {
        Some(if blank { " ".to_string() } else { s.to_string() })
    }

    /// Who acts: mostly whoever holds the dispute at its level when the step runs (so that
    /// sequences get somewhere), sometimes anyone at all.
    #[derive(Debug, Clone)]
    enum Who {
        Holder,
        These(Vec<DisputeCapacity>),
    }

    /// One attempted action: what, by whom, with which input, after how many hours.
    fn step() -> impl Strategy<Value = (DisputeAction, Who, DisputeInput, u32)> {
        // Weighted so that sequences live long enough to reach agreements, follow-ups and
        // reopenings instead of mostly ending in an early close.
        let action = prop_oneof![
            10 => Just(DisputeAction::RecordSession),
            6 => Just(DisputeAction::FollowUp),
            2 => Just(DisputeAction::Escalate),
            1 => Just(DisputeAction::SetRisk),
            1 => Just(DisputeAction::Assign),
            1 => Just(DisputeAction::Refer),
            1 => Just(DisputeAction::Close),
            1 => Just(DisputeAction::Register),
        ];
        let who = prop_oneof![
            3 => Just(Who::Holder),
            1 => proptest::sample::subsequence(DisputeCapacity::ALL.to_vec(), 0..=3).prop_map(Who::These),
        ];
        let outcome = prop_oneof![
            4 => Just(SessionOutcome::Agreed),
            2 => Just(SessionOutcome::Partly),
            2 => Just(SessionOutcome::Adjourned),
            2 => Just(SessionOutcome::Failed),
        ];
        let level = proptest::option::of(proptest::sample::select(MediationLevel::ALL.to_vec()));
        let risk = proptest::option::of(proptest::sample::select(RiskLevel::ALL.to_vec()));
        let office = proptest::option::of(proptest::sample::select(Office::ALL.to_vec()));
        let offices = proptest::sample::subsequence(Office::ALL.to_vec(), 0..=3);
        let holds = prop_oneof![3 => Just(Some(true)), 1 => Just(Some(false)), 1 => Just(None)];
        (
            action,
            who,
            (outcome, 0..4u32, 0..4u32, 0..5u8),
            (level, 0..5u8, any::<bool>(), risk),
            (office, offices, holds),
            0..(24 * 40u32),
        )
            .prop_map(
                |(
                    action,
                    who,
                    (outcome, mediators, parties, agreement),
                    (to_level, blank, skip, risk),
                    (lead, collaborators, holds),
                    hours,
                )| {
                    let input = DisputeInput {
                        reason: text("理由", blank == 0),
                        session: Some(SessionInput {
                            outcome,
                            mediators,
                            parties_present: parties,
                            notes: "记录".into(),
                            // Mostly an agreement exactly when agreed, sometimes wrongly.
                            agreement: match (outcome, agreement) {
                                (SessionOutcome::Agreed, 1..) | (_, 0) => {
                                    Some(AgreementInput { parties, terms: "条款".into() })
                                }
                                _ => None,
                            },
                        }),
                        to_level,
                        skip_reason: text("高风险", !skip),
                        lead,
                        collaborators,
                        holds,
                        notes: text("回访", blank == 1),
                        risk,
                    };
                    (action, who, input, hours)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever anyone tries, in any order: the history stays whole and checkable, levels
        /// never go down, no level is skipped without a reason, the clock restarts exactly on a
        /// change of level or a reopen, a final dispute never moves, and a resolved dispute
        /// changes only by a follow-up that finds it holding or broken.
        #[test]
        fn random_actions_keep_the_rules(
            start_level in proptest::sample::select(MediationLevel::ALL.to_vec()),
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let reg = Registration {
                dispute_type: DisputeType::Debts,
                risk: RiskLevel::Medium,
                level: start_level,
                parties: 2,
                description: "借款未还".into(),
                skip_reason: Some("高风险".into()),
            };
            let registered =
                register(&reg, &[DisputeCapacity::PoliticalLegal], DeadlinePolicy::DEFAULT, t0()).unwrap();
            let mut facts = registered.facts;
            let mut history = vec![registered.entry];
            let mut now = t0();
            for (action, who, input, hours) in steps {
                now += Duration::hours(i64::from(hours));
                let who = match who {
                    Who::Holder => vec![DisputeCapacity::holder_at(facts.level)],
                    Who::These(c) => c,
                };
                let before = facts.clone();
                match decide(&facts, action, &who, &input, now) {
                    Ok(d) => {
                        prop_assert_eq!(d.entry.from, before.state);
                        prop_assert_eq!(d.entry.to, d.after.state);
                        prop_assert!(d.after.level >= before.level, "level went down");
                        if before.level.skips_to(d.after.level) {
                            prop_assert!(d.entry.skip_reason.as_deref().is_some_and(|r| !r.trim().is_empty()));
                        }
                        let restarted =
                            d.after.level != before.level || (d.after.state == Reopened && before.state != Reopened);
                        if restarted {
                            prop_assert_eq!(d.after.level_entered_at, now);
                        } else {
                            prop_assert_eq!(d.after.level_entered_at, before.level_entered_at);
                        }
                        if before.state == Resolved {
                            prop_assert_eq!(action, DisputeAction::FollowUp);
                            prop_assert_eq!(d.after.state == Reopened, input.holds == Some(false));
                        }
                        if d.after.state == Agreed && before.state != Agreed {
                            prop_assert_eq!(
                                d.after.follow_up_due_at,
                                Some(now + Duration::days(i64::from(DeadlinePolicy::DEFAULT.follow_up_days)))
                            );
                        }
                        prop_assert!(!before.state.is_final(), "a final dispute moved");
                        prop_assert!(who.contains(&d.entry.by) && d.entry.by.acts_at(before.level));
                        facts.apply(&d);
                        history.push(d.entry);
                    }
                    Err(r) => {
                        prop_assert!(matches!(r.http_status(), 403 | 409 | 422));
                        if before.state.is_final() {
                            let not_in_state = matches!(r, Refusal::NotInThisState { .. });
                            prop_assert!(not_in_state, "a final dispute answered {:?}", r);
                        }
                    }
                }
                prop_assert_eq!(check_history(&history), Ok(()));
            }
            // The timeline ends where the dispute is.
            let last = history.last().unwrap();
            prop_assert_eq!((last.to, last.level_to), (facts.state, facts.level));
        }
    }
}

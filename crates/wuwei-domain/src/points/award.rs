//! The life of an award (积分申报), declared as data: [`WORKFLOW`] lists every action, the states
//! it applies in, who may take it and what it requires; [`decide`] applies it, like
//! `case::decide`. An award is positive (earns) or negative (deducts); both take the same path:
//!
//! ```text
//! proposed ──approve──▶ in_public_notice ──post (notice over)──▶ posted
//!    │ reject / withdraw        │ ▲  object                 ▲
//!    ▼                          ▼ │  dismiss_objection      │
//! rejected / withdrawn       objected ──renotice (upheld, corrected; fresh notice)
//!                               └──uphold_objection──▶ rejected
//! ```
//!
//! Approval opens the public notice at once (公示 starts the day the committee approves), so there
//! is no resting "approved" state: the approval is the start of the notice. Proposing is not a
//! transition but a check ([`check_proposal`]) on the rulebook item, the proposer's role, the
//! evidence and the cap.

use chrono::{DateTime, Duration, Utc};

use super::Points;
use super::cap::{OverCap, Usage, check_cap};
use super::rulebook::{Evidence, RuleItem};
use crate::access::Role;

named_enum!(
    /// Where an award is.
    AwardState {
        Proposed => "proposed",
        InPublicNotice => "in_public_notice",
        Objected => "objected",
        Posted => "posted",
        Rejected => "rejected",
        Withdrawn => "withdrawn",
    }
);

impl AwardState {
    /// Counts towards the cap as pending: it may still post.
    pub fn is_pending(self) -> bool {
        matches!(self, AwardState::Proposed | AwardState::InPublicNotice | AwardState::Objected)
    }

    pub fn is_final(self) -> bool {
        matches!(self, AwardState::Posted | AwardState::Rejected | AwardState::Withdrawn)
    }
}

named_enum!(
    /// What can be done to an award.
    AwardAction {
        Approve => "approve",
        Reject => "reject",
        Withdraw => "withdraw",
        Object => "object",
        DismissObjection => "dismiss_objection",
        UpholdObjection => "uphold_objection",
        Renotice => "renotice",
        Post => "post",
    }
);

named_enum!(
    /// The capacity in which someone acts on an award; the server derives it from the caller's
    /// roles and the award's village.
    AwardCapacity {
        /// Whoever proposed it.
        Proposer => "proposer",
        /// A village cadre of the award's village (the village committee reviews).
        Reviewer => "reviewer",
        /// A resident of the award's village.
        Objector => "objector",
        /// The server itself: the sweeper posts awards whose notice is over.
        System => "system",
    }
);

named_enum!(
    /// Where an award came from: points from other modules take the same path, marked.
    AwardSource {
        Manual => "manual",
        Bulk => "bulk",
        Mediation => "mediation",
        Case => "case",
        VolunteerTask => "volunteer_task",
    }
);

/// What an action needs besides the caller's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A non-blank reason (reject, objection and its review).
    Reason,
    /// The public notice has not ended (objection).
    NoticeOpen,
    /// The public notice has ended (post).
    NoticeOver,
    /// No objection is open (post).
    NoOpenObjection,
    /// The rulebook item still exists (approve, post: the rulebook may have changed).
    ItemInRulebook,
    /// The household's cap has room for the award (post: its month may have filled meanwhile).
    WithinCap,
}

/// Where an action leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(AwardState),
    /// Back to the notice when this was the last open objection, else still objected.
    AfterObjection,
}

#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub action: AwardAction,
    pub from: &'static [AwardState],
    pub to: Target,
    pub who: &'static [AwardCapacity],
    pub requires: &'static [Requirement],
}

use AwardCapacity::{Objector as O, Proposer as P, Reviewer as R, System as S};
use AwardState::*;

/// The award workflow. Order matters only for display.
pub const WORKFLOW: &[Transition] = &[
    Transition {
        action: AwardAction::Approve,
        from: &[Proposed],
        to: Target::To(InPublicNotice),
        who: &[R],
        requires: &[Requirement::ItemInRulebook],
    },
    Transition {
        action: AwardAction::Reject,
        from: &[Proposed],
        to: Target::To(Rejected),
        who: &[R],
        requires: &[Requirement::Reason],
    },
    Transition {
        action: AwardAction::Withdraw,
        from: &[Proposed],
        to: Target::To(Withdrawn),
        who: &[P],
        requires: &[],
    },
    Transition {
        action: AwardAction::Object,
        from: &[InPublicNotice, Objected],
        to: Target::To(Objected),
        who: &[O],
        requires: &[Requirement::Reason, Requirement::NoticeOpen],
    },
    Transition {
        action: AwardAction::DismissObjection,
        from: &[Objected],
        to: Target::AfterObjection,
        who: &[R],
        requires: &[Requirement::Reason],
    },
    Transition {
        action: AwardAction::UpholdObjection,
        from: &[Objected],
        to: Target::To(Rejected),
        who: &[R],
        requires: &[Requirement::Reason],
    },
    // Upheld in part: the award was corrected and is shown again for a full notice period; the
    // correction answers every open objection.
    Transition {
        action: AwardAction::Renotice,
        from: &[Objected],
        to: Target::To(InPublicNotice),
        who: &[R],
        requires: &[Requirement::Reason, Requirement::ItemInRulebook],
    },
    Transition {
        action: AwardAction::Post,
        from: &[InPublicNotice],
        to: Target::To(Posted),
        who: &[S],
        requires: &[
            Requirement::NoticeOver,
            Requirement::NoOpenObjection,
            Requirement::ItemInRulebook,
            Requirement::WithinCap,
        ],
    },
];

/// The public notice lasts this long unless the town says otherwise.
pub const DEFAULT_NOTICE_DAYS: u32 = 7;
/// Bounds a town may choose between.
pub const MIN_NOTICE_DAYS: u32 = 1;
pub const MAX_NOTICE_DAYS: u32 = 30;

/// When a notice that starts at `approved_at` ends (objections are taken before this instant).
pub fn notice_ends_at(approved_at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    approved_at + Duration::days(i64::from(days))
}

/// What the rules need to know about an award.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardFacts {
    pub state: AwardState,
    /// The points it carries (negative for a deduction).
    pub amount: Points,
    pub notice_ends_at: Option<DateTime<Utc>>,
    pub open_objections: u32,
    /// The town's notice length, used when a notice (re)starts.
    pub notice_days: u32,
    /// Room left under the item's cap for this household now, excluding this award; `None` when
    /// the item has no cap (see `cap::cap_room`).
    pub cap_room: Option<Points>,
    /// The item is still in the town's rulebook.
    pub item_in_rulebook: bool,
}

impl AwardFacts {
    /// The award after a decision (what the store writes back).
    pub fn apply(&mut self, d: &Decision) {
        self.state = d.to;
        self.notice_ends_at = d.notice_ends_at;
        self.open_objections = d.open_objections;
    }
}

/// What the caller supplied with the action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwardInput {
    pub reason: Option<String>,
}

/// Why an action is refused, with what the server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not possible in this state: 409 with what is possible.
    #[error("{action} is not allowed while the award is {state}")]
    NotInThisState { action: AwardAction, state: AwardState, allowed: Vec<AwardAction> },
    /// Possible, but not for this caller: 403.
    #[error("{action} needs one of these capacities: {needed:?}")]
    NotPermitted { action: AwardAction, needed: Vec<AwardCapacity> },
    /// A requirement is missing: 422 on `field`.
    #[error("{field}: {problem}")]
    Missing { field: &'static str, problem: &'static str },
    /// An objection after the notice ended: 409.
    #[error("the public notice ended at {ended_at}")]
    NoticeOver { ended_at: DateTime<Utc> },
    /// Posting before the notice ends: 409.
    #[error("the public notice runs until {ends_at}")]
    NoticeRunning { ends_at: DateTime<Utc> },
    /// Posting with an objection open: 409.
    #[error("{open} objection(s) are open")]
    ObjectionOpen { open: u32 },
    /// The rulebook item was removed: 422.
    #[error("the rulebook item no longer exists")]
    ItemGone,
    /// The household's cap filled meanwhile: 422 saying the room left.
    #[error("over the cap: {room} points left, {asked} asked")]
    OverCap { room: Points, asked: Points },
}

/// The decision: where the award goes and what it carries afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub from: AwardState,
    pub to: AwardState,
    pub notice_ends_at: Option<DateTime<Utc>>,
    pub open_objections: u32,
}

/// Actions the caller could take now (by state and capacity; requirements are checked when
/// taken).
pub fn allowed_actions(state: AwardState, capacities: &[AwardCapacity]) -> Vec<AwardAction> {
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
/// the award go?
pub fn decide(
    facts: &AwardFacts,
    action: AwardAction,
    capacities: &[AwardCapacity],
    input: &AwardInput,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let state = facts.state;
    let Some(t) = WORKFLOW.iter().find(|t| t.action == action && t.from.contains(&state)) else {
        return Err(Refusal::NotInThisState { action, state, allowed: allowed_actions(state, capacities) });
    };
    if !t.who.iter().any(|c| capacities.contains(c)) {
        return Err(Refusal::NotPermitted { action, needed: t.who.to_vec() });
    }
    for r in t.requires {
        match r {
            Requirement::Reason if !nonblank(&input.reason) => {
                return Err(Refusal::Missing { field: "reason", problem: "required" });
            }
            Requirement::NoticeOpen => match facts.notice_ends_at {
                Some(end) if now < end => {}
                Some(end) => return Err(Refusal::NoticeOver { ended_at: end }),
                None => return Err(Refusal::Missing { field: "notice_ends_at", problem: "no_notice" }),
            },
            Requirement::NoticeOver => match facts.notice_ends_at {
                Some(end) if now >= end => {}
                Some(end) => return Err(Refusal::NoticeRunning { ends_at: end }),
                None => return Err(Refusal::Missing { field: "notice_ends_at", problem: "no_notice" }),
            },
            Requirement::NoOpenObjection if facts.open_objections > 0 => {
                return Err(Refusal::ObjectionOpen { open: facts.open_objections });
            }
            Requirement::ItemInRulebook if !facts.item_in_rulebook => return Err(Refusal::ItemGone),
            Requirement::WithinCap => {
                let asked = facts.amount.saturating_abs();
                match facts.cap_room {
                    Some(room) if asked > room => return Err(Refusal::OverCap { room, asked }),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let fresh_notice = Some(notice_ends_at(now, facts.notice_days));
    let decision = match (action, t.to) {
        (AwardAction::Approve | AwardAction::Renotice, Target::To(to)) => {
            Decision { from: state, to, notice_ends_at: fresh_notice, open_objections: 0 }
        }
        (AwardAction::Object, Target::To(to)) => Decision {
            from: state,
            to,
            notice_ends_at: facts.notice_ends_at,
            open_objections: facts.open_objections.saturating_add(1),
        },
        (_, Target::AfterObjection) => {
            let open = facts.open_objections.saturating_sub(1);
            let to = if open == 0 { InPublicNotice } else { Objected };
            Decision { from: state, to, notice_ends_at: facts.notice_ends_at, open_objections: open }
        }
        (_, Target::To(to)) => {
            // Leaving for good (reject, uphold, withdraw, post) closes whatever was open.
            let open = if to.is_final() { 0 } else { facts.open_objections };
            Decision { from: state, to, notice_ends_at: facts.notice_ends_at, open_objections: open }
        }
    };
    Ok(decision)
}

/// Whether the sweeper should post this award at `now`: in notice, the notice over, no open
/// objection. (The cap and the rulebook are checked again by [`decide`] when it does.)
pub fn due_to_post(facts: &AwardFacts, now: DateTime<Utc>) -> bool {
    facts.state == InPublicNotice && facts.open_objections == 0 && facts.notice_ends_at.is_some_and(|end| now >= end)
}

// ---- proposing ----

/// At most this many occurrences in one award (three volunteer days in one proposal).
pub const MAX_QUANTITY: u32 = 31;

/// Who proposes what, with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// The role the proposer acts in (already checked to cover the household's place).
    pub role: Role,
    /// The proposer is a resident of the household the award is for.
    pub own_household: bool,
    /// How many occurrences; the award carries `item.points × quantity`.
    pub quantity: u32,
    pub photos: u32,
    pub documents: u32,
}

/// Why a proposal is refused, with what the server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalRefusal {
    /// The role may not propose this item: 403.
    #[error("{role:?} may not propose this item")]
    RoleMayNotPropose { role: Role },
    /// A resident proposes only for their own household: 403.
    #[error("a resident may propose only for their own household")]
    NotOwnHousehold,
    /// Evidence missing: 422 on `attachment_ids`.
    #[error("evidence required: {needed}")]
    EvidenceRequired { needed: Evidence },
    /// 422 on `quantity`.
    #[error("quantity must be 1 to {MAX_QUANTITY}")]
    Quantity,
    /// Over the cap: 422 saying the cap.
    #[error(transparent)]
    OverCap(#[from] OverCap),
}

/// Check a proposal of `item` for a household with this usage of the item in the current
/// period; on success, the points the award carries.
pub fn check_proposal(item: &RuleItem, proposal: &Proposal, usage: Usage) -> Result<Points, ProposalRefusal> {
    if !item.proposers.contains(&proposal.role) {
        return Err(ProposalRefusal::RoleMayNotPropose { role: proposal.role });
    }
    if proposal.role == Role::Resident && !proposal.own_household {
        return Err(ProposalRefusal::NotOwnHousehold);
    }
    if !(1..=MAX_QUANTITY).contains(&proposal.quantity) {
        return Err(ProposalRefusal::Quantity);
    }
    let needed = match item.evidence {
        Evidence::Photo if proposal.photos == 0 => Some(Evidence::Photo),
        Evidence::Document if proposal.documents == 0 => Some(Evidence::Document),
        // A resident's own claim always needs something to show, whatever the item says.
        _ if proposal.role == Role::Resident && proposal.photos + proposal.documents == 0 => Some(Evidence::Photo),
        _ => None,
    };
    if let Some(needed) = needed {
        return Err(ProposalRefusal::EvidenceRequired { needed });
    }
    let amount = item.points.saturating_mul(i64::from(proposal.quantity));
    check_cap(item, amount, usage)?;
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::rulebook::default_rulebook;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 10, 2, 0, 0).unwrap()
    }

    fn facts(state: AwardState) -> AwardFacts {
        AwardFacts {
            state,
            amount: 2,
            notice_ends_at: None,
            open_objections: 0,
            notice_days: DEFAULT_NOTICE_DAYS,
            cap_room: None,
            item_in_rulebook: true,
        }
    }

    fn reason() -> AwardInput {
        AwardInput { reason: Some("情况不属实".into()) }
    }

    fn act(f: &mut AwardFacts, action: AwardAction, who: AwardCapacity, at: DateTime<Utc>) {
        let d = decide(f, action, &[who], &reason(), at).unwrap();
        f.apply(&d);
    }

    #[test]
    fn approve_notice_and_post() {
        let mut f = facts(Proposed);
        let d = decide(&f, AwardAction::Approve, &[R], &AwardInput::default(), now()).unwrap();
        assert_eq!(d.to, InPublicNotice);
        assert_eq!(d.notice_ends_at, Some(now() + Duration::days(7)));
        f.apply(&d);
        assert!(!due_to_post(&f, now() + Duration::days(7) - Duration::seconds(1)));
        assert_eq!(
            decide(&f, AwardAction::Post, &[S], &AwardInput::default(), now() + Duration::days(6)).unwrap_err(),
            Refusal::NoticeRunning { ends_at: now() + Duration::days(7) }
        );
        let end = now() + Duration::days(7);
        assert!(due_to_post(&f, end));
        assert_eq!(decide(&f, AwardAction::Post, &[S], &AwardInput::default(), end).unwrap().to, Posted);
    }

    #[test]
    fn an_objection_pauses_the_award_until_reviewed() {
        let mut f = facts(InPublicNotice);
        f.notice_ends_at = Some(now() + Duration::days(3));
        assert_eq!(
            decide(&f, AwardAction::Object, &[O], &AwardInput::default(), now()).unwrap_err(),
            Refusal::Missing { field: "reason", problem: "required" }
        );
        act(&mut f, AwardAction::Object, O, now());
        act(&mut f, AwardAction::Object, O, now());
        assert_eq!((f.state, f.open_objections), (Objected, 2));
        let later = now() + Duration::days(10);
        assert!(!due_to_post(&f, later));
        assert!(matches!(
            decide(&f, AwardAction::Post, &[S], &AwardInput::default(), later),
            Err(Refusal::NotInThisState { .. })
        ));
        act(&mut f, AwardAction::DismissObjection, R, later);
        assert_eq!((f.state, f.open_objections), (Objected, 1));
        act(&mut f, AwardAction::DismissObjection, R, later);
        assert_eq!((f.state, f.open_objections), (InPublicNotice, 0));
        // The notice ran out while objected: it posts at once.
        assert!(due_to_post(&f, later));
    }

    #[test]
    fn an_objection_after_the_notice_is_refused() {
        let mut f = facts(InPublicNotice);
        let end = now();
        f.notice_ends_at = Some(end);
        assert_eq!(
            decide(&f, AwardAction::Object, &[O], &reason(), end).unwrap_err(),
            Refusal::NoticeOver { ended_at: end }
        );
    }

    #[test]
    fn an_upheld_objection_rejects_or_renotices() {
        let mut f = facts(Objected);
        f.notice_ends_at = Some(now() + Duration::days(1));
        f.open_objections = 1;
        assert_eq!(decide(&f, AwardAction::UpholdObjection, &[R], &reason(), now()).unwrap().to, Rejected);
        let d = decide(&f, AwardAction::Renotice, &[R], &reason(), now()).unwrap();
        assert_eq!((d.to, d.open_objections, d.notice_ends_at), (InPublicNotice, 0, Some(now() + Duration::days(7))));
        assert!(matches!(
            decide(&f, AwardAction::UpholdObjection, &[O], &reason(), now()),
            Err(Refusal::NotPermitted { .. })
        ));
    }

    #[test]
    fn only_the_proposer_withdraws_and_only_before_review() {
        let f = facts(Proposed);
        assert_eq!(decide(&f, AwardAction::Withdraw, &[P], &AwardInput::default(), now()).unwrap().to, Withdrawn);
        assert!(matches!(
            decide(&f, AwardAction::Withdraw, &[R], &AwardInput::default(), now()),
            Err(Refusal::NotPermitted { .. })
        ));
        let err =
            decide(&facts(InPublicNotice), AwardAction::Withdraw, &[P, R], &AwardInput::default(), now()).unwrap_err();
        assert_eq!(
            err,
            Refusal::NotInThisState { action: AwardAction::Withdraw, state: InPublicNotice, allowed: vec![] }
        );
        assert_eq!(
            decide(&f, AwardAction::Reject, &[R], &AwardInput { reason: Some(" ".into()) }, now()).unwrap_err(),
            Refusal::Missing { field: "reason", problem: "required" }
        );
    }

    #[test]
    fn posting_checks_the_cap_and_rulebook_again() {
        let mut f = facts(InPublicNotice);
        f.notice_ends_at = Some(now());
        f.amount = -4;
        f.cap_room = Some(3);
        assert_eq!(
            decide(&f, AwardAction::Post, &[S], &AwardInput::default(), now()).unwrap_err(),
            Refusal::OverCap { room: 3, asked: 4 }
        );
        f.cap_room = Some(4);
        assert!(decide(&f, AwardAction::Post, &[S], &AwardInput::default(), now()).is_ok());
        f.item_in_rulebook = false;
        assert_eq!(decide(&f, AwardAction::Post, &[S], &AwardInput::default(), now()).unwrap_err(), Refusal::ItemGone);
    }

    #[test]
    fn proposals_check_role_household_evidence_and_cap() {
        let book = default_rulebook().unwrap();
        let volunteer = book.get("welfare_volunteer").unwrap(); // 2, photo, 20/month, residents too
        let p = Proposal { role: Role::GridWorker, own_household: false, quantity: 3, photos: 1, documents: 0 };
        assert_eq!(check_proposal(volunteer, &p, Usage::default()), Ok(6));
        let resident = Proposal { role: Role::Resident, ..p };
        assert_eq!(check_proposal(volunteer, &resident, Usage::default()), Err(ProposalRefusal::NotOwnHousehold));
        let own = Proposal { own_household: true, photos: 0, ..resident };
        assert_eq!(
            check_proposal(volunteer, &own, Usage::default()),
            Err(ProposalRefusal::EvidenceRequired { needed: Evidence::Photo })
        );
        let peacemaker = Proposal { role: Role::Peacemaker, ..p };
        assert_eq!(
            check_proposal(volunteer, &peacemaker, Usage::default()),
            Err(ProposalRefusal::RoleMayNotPropose { role: Role::Peacemaker })
        );
        assert!(matches!(
            check_proposal(volunteer, &p, Usage { posted: 16, pending: 0 }),
            Err(ProposalRefusal::OverCap(OverCap { room: 4, asked: 6, .. }))
        ));
        assert_eq!(
            check_proposal(volunteer, &Proposal { quantity: 0, ..p }, Usage::default()),
            Err(ProposalRefusal::Quantity)
        );
        let neglect = book.get("filial_care_neglect").unwrap();
        let cadre = Proposal { role: Role::VillageCadre, quantity: 1, photos: 0, documents: 1, own_household: false };
        assert_eq!(check_proposal(neglect, &cadre, Usage::default()), Ok(-10));
    }
}

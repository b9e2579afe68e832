//! The town's six-in-one (六位一体): six offices working a town-level dispute as one. Routing
//! rules, editable per town, map what is known about a dispute (its [`RoutingFlag`]s) to the
//! offices concerned; the first matching rule names the lead, the others collaborate. Joint
//! handling gives each office its own task and deadline on the dispute's one timeline.

use chrono::{DateTime, Duration, Utc};

use super::RiskLevel;
use crate::access::Role;

named_enum!(
    /// The six offices.
    Office {
        /// 政法委: leads and coordinates; sees every dispute, sets lead and collaborators.
        PoliticalLegal => "political_legal",
        /// 纪委: matters involving party members and cadres.
        Discipline => "discipline",
        /// 公安: organised crime, violence, illegal petitioning.
        Police => "police",
        /// 司法所: legal aid, people's mediation.
        Justice => "justice",
        /// 信访办: accepts petitions, investigates the backlog.
        Petitions => "petitions",
        /// 行政村: direct acceptance, screening and control.
        Village => "village",
    }
);

impl Office {
    /// Political-legal coordinates, so it sees every dispute of the town whoever leads it.
    pub fn sees_all(self) -> bool {
        self == Office::PoliticalLegal
    }

    /// The role whose holders staff this office.
    pub fn role(self) -> Role {
        match self {
            Office::PoliticalLegal => Role::PoliticalLegal,
            Office::Discipline => Role::Discipline,
            Office::Police => Role::Police,
            Office::Justice => Role::Justice,
            Office::Petitions => Role::Petitions,
            Office::Village => Role::Village,
        }
    }
}

named_enum!(
    /// What is known about a dispute that decides which offices take part.
    RoutingFlag {
        /// A party member or cadre is involved.
        PartyMemberOrCadre => "party_member_or_cadre",
        /// Organised crime (涉黑涉恶).
        Gang => "gang",
        /// Violence, or a risk of it.
        Violence => "violence",
        IllegalPetitioning => "illegal_petitioning",
        LegalAid => "legal_aid",
        PeoplesMediation => "peoples_mediation",
        PetitionLetter => "petition_letter",
        /// An old unresolved matter (积案).
        Backlog => "backlog",
        DirectAcceptance => "direct_acceptance",
        /// Needs screening and watching (排查管控).
        Watch => "watch",
    }
);

/// One routing rule: a dispute with `flag` concerns `office`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoutingRule {
    pub flag: RoutingFlag,
    pub office: Office,
}

const fn rule(flag: RoutingFlag, office: Office) -> RoutingRule {
    RoutingRule { flag, office }
}

/// The article's rules, in priority order (the first match leads). Cadre involvement comes
/// first, because a cadre's peers must not lead a matter that concerns him; crime (gangs,
/// illegal petitioning) next, because it is no longer a mediation; then petitions, then
/// justice for what is still a people's mediation. Violence alone puts the police beside
/// justice rather than in front of it: the dispute is still to be mediated, the police keep it
/// from turning into a fight. Village offices accept and watch.
pub const DEFAULT_ROUTING_RULES: &[RoutingRule] = &[
    rule(RoutingFlag::PartyMemberOrCadre, Office::Discipline),
    rule(RoutingFlag::Gang, Office::Police),
    rule(RoutingFlag::IllegalPetitioning, Office::Police),
    rule(RoutingFlag::PetitionLetter, Office::Petitions),
    rule(RoutingFlag::Backlog, Office::Petitions),
    rule(RoutingFlag::LegalAid, Office::Justice),
    rule(RoutingFlag::PeoplesMediation, Office::Justice),
    rule(RoutingFlag::Violence, Office::Police),
    rule(RoutingFlag::DirectAcceptance, Office::Village),
    rule(RoutingFlag::Watch, Office::Village),
];

/// Who leads when no rule matches: a dispute that reaches the town is a people's mediation
/// unless something says otherwise, and that is the justice office's work.
pub const DEFAULT_FALLBACK: Office = Office::Justice;

/// A town keeps at most this many rules (there are 10 flags and 6 offices: 60 pairs).
pub const MAX_ROUTING_RULES: usize = 60;

/// What is wrong with an edited rule list: 422 on `rules`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesProblem {
    #[error("at most {MAX_ROUTING_RULES} routing rules")]
    TooMany,
    #[error("rule {index} repeats an earlier one")]
    Duplicate { index: usize },
}

/// Check an edited rule list: bounded, no rule twice (a repeat would only hide an edit).
pub fn validate_rules(rules: &[RoutingRule]) -> Result<(), RulesProblem> {
    if rules.len() > MAX_ROUTING_RULES {
        return Err(RulesProblem::TooMany);
    }
    for (index, r) in rules.iter().enumerate() {
        if rules[..index].contains(r) {
            return Err(RulesProblem::Duplicate { index });
        }
    }
    Ok(())
}

/// The offices working a dispute: one lead, the others collaborating.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    pub lead: Office,
    pub collaborators: Vec<Office>,
}

impl Assignment {
    /// Every office taking part, lead first.
    pub fn offices(&self) -> Vec<Office> {
        let mut out = vec![self.lead];
        out.extend(self.collaborators.iter().copied());
        out
    }
}

/// What routing looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteFacts {
    pub flags: Vec<RoutingFlag>,
    pub risk: Option<RiskLevel>,
}

impl RouteFacts {
    /// The flags routing uses: a high risk *is* a risk of violence (that is what `high` means),
    /// so the police take part even if nobody ticked the box.
    pub fn effective_flags(&self) -> Vec<RoutingFlag> {
        let mut flags = self.flags.clone();
        if self.risk.is_some_and(RiskLevel::alerts_town) && !flags.contains(&RoutingFlag::Violence) {
            flags.push(RoutingFlag::Violence);
        }
        flags
    }
}

/// Route a town-level dispute: the office of the first rule (in list order) whose flag the
/// dispute has leads; the offices of the other matching rules collaborate, in rule order, each
/// once. Without any match, `fallback` leads alone. Political-legal is never added as a
/// collaborator: it sees every dispute anyway.
pub fn route(facts: &RouteFacts, rules: &[RoutingRule], fallback: Office) -> Assignment {
    let flags = facts.effective_flags();
    let mut offices: Vec<Office> = Vec::new();
    for r in rules.iter().filter(|r| flags.contains(&r.flag)) {
        if !offices.contains(&r.office) {
            offices.push(r.office);
        }
    }
    let mut matched = offices.into_iter();
    let lead = matched.next().unwrap_or(fallback);
    let collaborators = matched.filter(|o| *o != lead && !o.sees_all()).collect();
    Assignment { lead, collaborators }
}

/// Why a lead and collaborators cannot stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentProblem {
    #[error("a lead office is required")]
    NoLead,
    #[error("the lead office cannot also collaborate")]
    LeadCollaborates,
    #[error("an office collaborates twice")]
    Duplicate,
}

/// Check a lead and collaborators as set by political-legal. Six offices bound the list.
pub fn check_assignment(lead: Option<Office>, collaborators: &[Office]) -> Result<Assignment, AssignmentProblem> {
    let Some(lead) = lead else { return Err(AssignmentProblem::NoLead) };
    if collaborators.contains(&lead) {
        return Err(AssignmentProblem::LeadCollaborates);
    }
    for (i, o) in collaborators.iter().enumerate() {
        if collaborators[..i].contains(o) {
            return Err(AssignmentProblem::Duplicate);
        }
    }
    Ok(Assignment { lead, collaborators: collaborators.to_vec() })
}

// ---- joint handling ----

named_enum!(
    /// An office's part in a joint handling.
    TaskRole {
        Lead => "lead",
        Collaborator => "collaborator",
    }
);

/// One office's task in a joint handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JointTask {
    pub office: Office,
    pub role: TaskRole,
    pub task: String,
    pub assigned_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A task's text is at most this long (characters): a task, not a report.
pub const MAX_TASK_CHARS: usize = 500;

/// Collaborators are due at this share of the time the lead has: the lead needs their part
/// (a police check, a legal opinion) before it can conclude within the level's deadline.
pub const COLLABORATOR_SHARE: f64 = 2.0 / 3.0;

/// The default deadline of a task assigned at `now` in a dispute due at town level at
/// `level_due_at`: the lead's is the level's; a collaborator's comes earlier.
pub fn default_task_due_at(role: TaskRole, now: DateTime<Utc>, level_due_at: DateTime<Utc>) -> DateTime<Utc> {
    match role {
        TaskRole::Lead => level_due_at,
        TaskRole::Collaborator => {
            let span_ms = (level_due_at - now).num_milliseconds().max(0) as f64;
            now + Duration::milliseconds((span_ms * COLLABORATOR_SHARE).round() as i64)
        }
    }
}

/// The tasks of an assignment with default deadlines and the given texts (`lead_task` for the
/// lead, `collaborator_task` for each collaborator), for political-legal to adjust.
pub fn plan_joint_handling(
    assignment: &Assignment,
    lead_task: &str,
    collaborator_task: &str,
    now: DateTime<Utc>,
    level_due_at: DateTime<Utc>,
) -> Vec<JointTask> {
    let task = |office, role, text: &str| JointTask {
        office,
        role,
        task: text.to_string(),
        assigned_at: now,
        due_at: default_task_due_at(role, now, level_due_at),
    };
    let mut tasks = vec![task(assignment.lead, TaskRole::Lead, lead_task)];
    tasks.extend(assignment.collaborators.iter().map(|o| task(*o, TaskRole::Collaborator, collaborator_task)));
    tasks
}

/// What is wrong with a set of joint tasks: 422 on `field` (`tasks[i].…`) with `problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tasks[{index}]: {problem}")]
pub struct TaskProblem {
    pub index: usize,
    pub problem: &'static str,
}

/// Check a joint handling: exactly one lead; each office once; every task described; every
/// deadline after `now` and not after the level's, since the dispute moves on at that point
/// whatever the tasks say.
pub fn check_joint_tasks(
    tasks: &[JointTask],
    now: DateTime<Utc>,
    level_due_at: DateTime<Utc>,
) -> Result<(), TaskProblem> {
    let problem = |index, problem| Err(TaskProblem { index, problem });
    if tasks.is_empty() {
        return problem(0, "no_tasks");
    }
    if tasks.len() > Office::ALL.len() {
        return problem(Office::ALL.len(), "too_many");
    }
    for (i, t) in tasks.iter().enumerate() {
        if tasks[..i].iter().any(|o| o.office == t.office) {
            return problem(i, "office_twice");
        }
        if t.role == TaskRole::Lead && tasks[..i].iter().any(|o| o.role == TaskRole::Lead) {
            return problem(i, "second_lead");
        }
        if t.task.trim().is_empty() {
            return problem(i, "task_required");
        }
        if t.task.chars().count() > MAX_TASK_CHARS {
            return problem(i, "task_too_long");
        }
        if t.due_at <= now {
            return problem(i, "due_in_the_past");
        }
        if t.due_at > level_due_at {
            return problem(i, "due_after_level_deadline");
        }
    }
    if !tasks.iter().any(|t| t.role == TaskRole::Lead) {
        return problem(0, "no_lead");
    }
    Ok(())
}

/// Whether a caller from `caller_offices` may report on `task`: its own office's task, or
/// political-legal, which coordinates them all.
pub fn may_act_on_task(task: &JointTask, caller_offices: &[Office]) -> bool {
    caller_offices.iter().any(|o| *o == task.office || o.sees_all())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 1, 2, 0, 0).unwrap()
    }

    fn facts(flags: &[RoutingFlag]) -> RouteFacts {
        RouteFacts { flags: flags.to_vec(), risk: Some(RiskLevel::Low) }
    }

    #[test]
    fn the_articles_defaults() {
        use RoutingFlag::*;
        let r = |flags: &[RoutingFlag]| route(&facts(flags), DEFAULT_ROUTING_RULES, DEFAULT_FALLBACK);
        assert_eq!(r(&[PartyMemberOrCadre]).lead, Office::Discipline);
        assert_eq!(r(&[Gang]).lead, Office::Police);
        assert_eq!(r(&[IllegalPetitioning]).lead, Office::Police);
        assert_eq!(r(&[LegalAid]).lead, Office::Justice);
        assert_eq!(r(&[PeoplesMediation]).lead, Office::Justice);
        assert_eq!(r(&[PetitionLetter]).lead, Office::Petitions);
        assert_eq!(r(&[Backlog]).lead, Office::Petitions);
        assert_eq!(r(&[DirectAcceptance]).lead, Office::Village);
        assert_eq!(r(&[Watch]).lead, Office::Village);
        assert_eq!(r(&[]), Assignment { lead: Office::Justice, collaborators: vec![] });
        assert_eq!(
            r(&[Violence, PeoplesMediation]),
            Assignment { lead: Office::Justice, collaborators: vec![Office::Police] }
        );
        assert_eq!(
            r(&[Watch, PartyMemberOrCadre, Backlog, Gang]),
            Assignment {
                lead: Office::Discipline,
                collaborators: vec![Office::Police, Office::Petitions, Office::Village]
            }
        );
        assert_eq!(validate_rules(DEFAULT_ROUTING_RULES), Ok(()));
    }

    #[test]
    fn high_risk_brings_the_police_in() {
        let high = RouteFacts { flags: vec![RoutingFlag::LegalAid], risk: Some(RiskLevel::High) };
        assert_eq!(
            route(&high, DEFAULT_ROUTING_RULES, DEFAULT_FALLBACK),
            Assignment { lead: Office::Justice, collaborators: vec![Office::Police] }
        );
        let alone = RouteFacts { flags: vec![], risk: Some(RiskLevel::High) };
        assert_eq!(route(&alone, DEFAULT_ROUTING_RULES, DEFAULT_FALLBACK).lead, Office::Police);
    }

    #[test]
    fn edited_rules_are_data() {
        let rules = [rule(RoutingFlag::Watch, Office::PoliticalLegal), rule(RoutingFlag::Watch, Office::Petitions)];
        let a = route(&facts(&[RoutingFlag::Watch]), &rules, Office::Justice);
        // Political-legal may lead if a town says so.
        assert_eq!(a, Assignment { lead: Office::PoliticalLegal, collaborators: vec![Office::Petitions] });
        // It never needs to collaborate: it sees every dispute anyway.
        let a = route(&facts(&[RoutingFlag::Watch]), &[rules[1], rules[0]], Office::Justice);
        assert_eq!(a, Assignment { lead: Office::Petitions, collaborators: vec![] });
        let twice = [rules[0], rules[1], rules[0]];
        assert_eq!(validate_rules(&twice), Err(RulesProblem::Duplicate { index: 2 }));
    }

    #[test]
    fn assignments_are_checked() {
        assert_eq!(check_assignment(None, &[]), Err(AssignmentProblem::NoLead));
        assert_eq!(
            check_assignment(Some(Office::Justice), &[Office::Justice]),
            Err(AssignmentProblem::LeadCollaborates)
        );
        assert_eq!(
            check_assignment(Some(Office::Justice), &[Office::Police, Office::Police]),
            Err(AssignmentProblem::Duplicate)
        );
        let a = check_assignment(Some(Office::Justice), &[Office::Police]).unwrap();
        assert_eq!(a.offices(), vec![Office::Justice, Office::Police]);
    }

    #[test]
    fn joint_tasks_each_have_a_deadline_within_the_levels() {
        let due = now() + Duration::days(30);
        let a = Assignment { lead: Office::Justice, collaborators: vec![Office::Police, Office::Village] };
        let tasks = plan_joint_handling(&a, "组织联合调解", "协助", now(), due);
        assert_eq!(tasks.len(), 3);
        assert_eq!((tasks[0].role, tasks[0].due_at), (TaskRole::Lead, due));
        assert_eq!(tasks[1].due_at, now() + Duration::days(20));
        assert_eq!(check_joint_tasks(&tasks, now(), due), Ok(()));

        let mut late = tasks.clone();
        late[1].due_at = due + Duration::days(1);
        assert_eq!(
            check_joint_tasks(&late, now(), due),
            Err(TaskProblem { index: 1, problem: "due_after_level_deadline" })
        );
        let mut two = tasks.clone();
        two[2].role = TaskRole::Lead;
        assert_eq!(check_joint_tasks(&two, now(), due), Err(TaskProblem { index: 2, problem: "second_lead" }));
        let mut leaderless = tasks.clone();
        leaderless[0].role = TaskRole::Collaborator;
        assert_eq!(check_joint_tasks(&leaderless, now(), due), Err(TaskProblem { index: 0, problem: "no_lead" }));
        let mut repeated = tasks.clone();
        repeated[2].office = Office::Police;
        assert_eq!(check_joint_tasks(&repeated, now(), due), Err(TaskProblem { index: 2, problem: "office_twice" }));
        let mut blank = tasks.clone();
        blank[1].task = "  ".into();
        assert_eq!(check_joint_tasks(&blank, now(), due), Err(TaskProblem { index: 1, problem: "task_required" }));
        assert_eq!(check_joint_tasks(&[], now(), due), Err(TaskProblem { index: 0, problem: "no_tasks" }));

        assert!(may_act_on_task(&tasks[1], &[Office::Police]));
        assert!(may_act_on_task(&tasks[1], &[Office::PoliticalLegal]));
        assert!(!may_act_on_task(&tasks[1], &[Office::Justice]));
    }

    #[test]
    fn offices_are_staffed_by_their_roles() {
        for o in Office::ALL {
            assert_eq!(o.role().as_str(), o.as_str());
        }
    }
}

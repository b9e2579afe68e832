//! Peacemaker stations and three-level dispute mediation (issue 6): stations, members and their
//! activity log; disputes from registration through sessions, agreements, escalation, the
//! six-in-one's joint handling and follow-ups; the printable agreement; the six-in-one board;
//! settings; figures (JSON and .xlsx). See `docs/api-mediation.md`.
//!
//! Who may do what: `mediation.read` over a dispute's natural village reads it (a grid's scope
//! covers its natural village: the station serves the whole village). Acting depends on the
//! capacity the caller holds on the dispute ([`capacities`]), which the rules of
//! `wuwei_domain::mediation::workflow` check. `mediation.manage` keeps stations and settings.
//!
//! Parties' ID and phone numbers are sealed before they reach the store ([`crate::pii`]); the
//! answers carry only masked forms, and a reveal is audited with its reason.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission, Place, Principal, Role};
use wuwei_domain::mediation::figures::{DisputeRecord, MediationFigures};
use wuwei_domain::mediation::privacy::{MobileNumber, ResidentIdNumber};
use wuwei_domain::mediation::six_in_one::{self, Office, RouteFacts, RoutingFlag, RoutingRule};
use wuwei_domain::mediation::workflow::{
    self, AgreementInput, DisputeAction, DisputeCapacity, DisputeInput, DisputeState, Refusal, Registration,
    SessionInput, SessionOutcome,
};
use wuwei_domain::mediation::{DeadlinePolicy, DisputeType, MediationLevel, RiskLevel};
use wuwei_domain::validate::{self, Issues, Rule};
use wuwei_store::accounts::{self, UserRow};
use wuwei_store::mediation::{
    self as store, ActRequest, DisputeFilter, DisputeRow, MediationError, NewDispute, SessionRecord, StationRow,
    StoredParty, TaskDraft, Visibility, Written,
};
use wuwei_store::notify::{self, NewNotification};
use wuwei_store::{AuditDraft, Tx, regions};

use crate::auth::Auth;
use crate::dto::{Page, PageParams, RefDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::routes::points::town_of;
use crate::state::AppState;

/// Texts: a title, a note, a description, terms.
const MAX_TITLE: usize = 100;
const MAX_NOTE: usize = 2000;
const MAX_TEXT: usize = 5000;
/// Photos per activity or agreement.
pub const MAX_PHOTOS: usize = 9;
/// Mediators named on one session.
const MAX_MEDIATORS: usize = 20;
/// Activities show at most this many people reached (a village's fair day).
const MAX_PEOPLE_REACHED: i32 = 100_000;

pub const MEMBER_KINDS: [&str; 6] =
    ["village_cadre", "grid_worker", "opinion_representative", "entrepreneur", "council_head", "legal_adviser"];
pub const DUTIES: [&str; 6] =
    ["legal_publicity", "mediation", "customs_reform", "rural_civility", "neighbourhood_watch", "volunteering"];
const SIDES: [&str; 3] = ["applicant", "respondent", "other"];

/// A longer text (a description, notes, terms): like `validate::text`, but line breaks and tabs
/// are kept, since agreements are written one clause per line.
fn long_text(field: &str, raw: &str, max: usize) -> Result<String, wuwei_domain::validate::FieldIssue> {
    let flat: String = raw.chars().map(|c| if matches!(c, '\n' | '\r' | '\t') { ' ' } else { c }).collect();
    validate::text(field, &flat, max)?;
    Ok(raw.trim().replace("\r\n", "\n"))
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<String> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(ApiError::field(field, Rule::OneOf { allowed: allowed.iter().map(|s| s.to_string()).collect() }))
    }
}

fn parse_named<T>(field: &str, raw: &str, parse: fn(&str) -> Option<T>, all: &[&'static str]) -> ApiResult<T> {
    parse(raw)
        .ok_or_else(|| ApiError::field(field, Rule::OneOf { allowed: all.iter().map(|s| s.to_string()).collect() }))
}

fn names<T: Copy>(all: &[T], f: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|t| f(*t)).collect()
}

// ---- shapes ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonDto {
    pub id: Option<Uuid>,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberDto {
    pub id: Uuid,
    pub name: String,
    /// `village_cadre`, `grid_worker`, `opinion_representative`, `entrepreneur`, `council_head`, `legal_adviser`.
    pub kind: String,
    pub phone: Option<String>,
    pub is_leader: bool,
    pub user_id: Option<Uuid>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationDto {
    pub id: Uuid,
    pub town_id: Uuid,
    pub name: String,
    pub admin_village: RefDto,
    pub natural_village: RefDto,
    pub leader: Option<MemberDto>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub member_count: u64,
    pub activities_this_month: u64,
    pub open_disputes: u64,
    pub version: i32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthlyActivityDto {
    /// `YYYY-MM` (China time).
    pub month: String,
    pub count: u64,
    pub people_reached: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationDetail {
    #[serde(flatten)]
    pub station: StationDto,
    pub members: Vec<MemberDto>,
    /// The last 12 months.
    pub monthly: Vec<MonthlyActivityDto>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhotoDto {
    pub id: Uuid,
    pub url: String,
    pub thumb_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityDto {
    pub id: Uuid,
    pub station_id: Uuid,
    pub on_date: NaiveDate,
    pub duty: String,
    pub summary: String,
    pub people_reached: i32,
    pub photos: Vec<PhotoDto>,
    pub recorded_by: PersonDto,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DisputeDto {
    pub id: Uuid,
    pub town_id: Uuid,
    /// `TJ-YYYYMMDD-NNNN`.
    pub number: String,
    pub dispute_type: String,
    pub risk: String,
    pub level: String,
    pub state: String,
    pub title: String,
    pub admin_village: RefDto,
    pub natural_village: RefDto,
    pub station: Option<RefDto>,
    /// `station`, `admin_village`, `office:<office>` or `town` (at town level, not yet assigned).
    pub holder: String,
    pub lead_office: Option<String>,
    pub collaborators: Vec<String>,
    pub flags: Vec<String>,
    pub level_due_at: DateTime<Utc>,
    pub follow_up_due_at: Option<DateTime<Utc>>,
    /// `none`, `yellow` (75% of the level's time used) or `red` (overdue).
    pub card: String,
    pub party_count: i32,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
    pub case_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartyDto {
    pub id: Uuid,
    pub name: String,
    pub side: String,
    pub household_id: Option<Uuid>,
    pub address: Option<String>,
    /// `370***********1234`; never the clear number.
    pub id_number_masked: Option<String>,
    pub phone_masked: Option<String>,
    pub is_party_member_or_cadre: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: Uuid,
    pub held_at: DateTime<Utc>,
    pub level: String,
    pub place: String,
    pub mediators: Vec<String>,
    pub parties_present: i32,
    pub notes: String,
    pub outcome: String,
    pub recorded_by: PersonDto,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgreementDto {
    /// The agreement's id is its session's.
    pub id: Uuid,
    pub session_id: Uuid,
    pub signed_at: DateTime<Utc>,
    pub level: String,
    pub terms: String,
    pub party_ids: Vec<Uuid>,
    pub photos: Vec<PhotoDto>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUpDto {
    pub id: Uuid,
    pub agreement_id: Uuid,
    pub visited_at: DateTime<Utc>,
    pub holds: bool,
    pub notes: String,
    pub by: PersonDto,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskDto {
    pub id: Uuid,
    pub office: String,
    /// `lead` or `collaborator`.
    pub role: String,
    pub task: String,
    pub assigned_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub report: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryDto {
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub action: String,
    pub by_capacity: String,
    pub actor: Option<PersonDto>,
    pub from: String,
    pub to: String,
    pub level_from: String,
    pub level_to: String,
    pub risk: String,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub skip_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteSuggestionDto {
    pub lead: String,
    pub collaborators: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DisputeDetail {
    #[serde(flatten)]
    pub dispute: DisputeDto,
    pub description: String,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub parties: Vec<PartyDto>,
    pub sessions: Vec<SessionDto>,
    pub agreements: Vec<AgreementDto>,
    pub follow_ups: Vec<FollowUpDto>,
    pub tasks: Vec<TaskDto>,
    pub history: Vec<HistoryDto>,
    pub allowed_actions: Vec<String>,
    pub my_capacities: Vec<String>,
    /// What the town's routing rules suggest (town level only).
    pub route_suggestion: Option<RouteSuggestionDto>,
}

// ---- helpers ----

async fn city_of(state: &AppState, town_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(regions::region_in_town(state.store().db(), town_id, town_id).await?.map(|t| t.city_id))
}

fn place_of(d: &DisputeRow, city_id: Option<Uuid>) -> Place {
    Place {
        city_id,
        town_id: Some(d.town_id),
        area_id: d.area_id,
        admin_village_id: Some(d.admin_village_id),
        natural_village_id: Some(d.natural_village_id),
        grid_id: d.grid_id,
        household_id: None,
    }
}

/// `mediation.read` over the natural village: a grid's scope counts for its whole village.
fn reads_village(p: &Principal, place: &Place) -> bool {
    p.can(Permission::MediationRead, place)
        || p.bindings.iter().any(|b| {
            b.role.has(Permission::MediationRead)
                && b.scope.level == Level::Grid
                && b.scope.place.natural_village_id.is_some()
                && b.scope.place.natural_village_id == place.natural_village_id
        })
}

fn office_of(role: Role) -> Option<Office> {
    Office::ALL.iter().copied().find(|o| o.role() == role)
}

/// The capacities in which the caller may act on `d` (see the module docs).
pub async fn capacities(state: &AppState, auth: &Auth, d: &DisputeRow) -> ApiResult<Vec<DisputeCapacity>> {
    let p = &auth.principal;
    let mut caps = Vec::new();
    let mut add = |c: DisputeCapacity| {
        if !caps.contains(&c) {
            caps.push(c);
        }
    };
    if let Some(st) = d.station_id
        && p.api_token_id.is_none()
        && store::stations_of_user(state.store().db(), p.user_id).await?.contains(&(d.town_id, st))
    {
        add(DisputeCapacity::StationMember);
    }
    let collaborators = d.collaborators();
    for b in &p.bindings {
        let place = &b.scope.place;
        match b.role {
            Role::Peacemaker
                if (b.scope.level == Level::NaturalVillage
                    && place.natural_village_id == Some(d.natural_village_id))
                    || (b.scope.level == Level::AdminVillage && place.admin_village_id == Some(d.admin_village_id)) =>
            {
                add(DisputeCapacity::StationMember)
            }
            Role::GridWorker if place.natural_village_id == Some(d.natural_village_id) => {
                add(DisputeCapacity::StationMember)
            }
            Role::GridChief | Role::VillageCadre if place.admin_village_id == Some(d.admin_village_id) => {
                add(DisputeCapacity::VillageSecretary)
            }
            role if place.town_id == Some(d.town_id) && b.scope.level == Level::Town => {
                let Some(office) = office_of(role) else { continue };
                if office == Office::PoliticalLegal {
                    add(DisputeCapacity::PoliticalLegal);
                }
                if d.lead_office.as_deref() == Some(office.as_str()) {
                    add(DisputeCapacity::LeadOffice);
                }
                if collaborators.contains(&office) {
                    add(DisputeCapacity::Collaborator);
                }
            }
            _ => {}
        }
    }
    Ok(caps)
}

/// The offices the caller staffs in the dispute's town.
fn offices_in(p: &Principal, town_id: Uuid) -> Vec<Office> {
    p.bindings
        .iter()
        .filter(|b| b.scope.level == Level::Town && b.scope.place.town_id == Some(town_id))
        .filter_map(|b| office_of(b.role))
        .collect()
}

/// A dispute the caller may read (else 404) with their capacities on it.
async fn readable(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<(DisputeRow, Vec<DisputeCapacity>)> {
    let d = store::dispute(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let caps = capacities(state, auth, &d).await?;
    let place = place_of(&d, city_of(state, d.town_id).await?);
    if caps.is_empty() && !reads_village(&auth.principal, &place) {
        return Err(ApiError::not_found());
    }
    Ok((d, caps))
}

async fn display_names(state: &AppState, ids: &[Uuid]) -> ApiResult<HashMap<Uuid, String>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    Ok(accounts::users_by_ids(state.store().db(), &ids).await?.into_iter().map(|u| (u.id, u.display_name)).collect())
}

fn person(id: Option<Uuid>, stored: &str, names: &HashMap<Uuid, String>) -> PersonDto {
    PersonDto { id, display_name: id.and_then(|i| names.get(&i).cloned()).unwrap_or_else(|| stored.to_string()) }
}

fn photo_dto(id: Uuid, has_thumb: bool) -> PhotoDto {
    PhotoDto {
        id,
        url: format!("/api/v1/mediation/photos/{id}/content"),
        thumb_url: has_thumb.then(|| format!("/api/v1/mediation/photos/{id}/thumbnail")),
    }
}

async fn photo_dtos(state: &AppState, town_id: Uuid, ids: &[Uuid]) -> ApiResult<Vec<PhotoDto>> {
    let rows = store::photos_of(state.store().db(), town_id, ids).await?;
    Ok(ids
        .iter()
        .filter_map(|id| rows.iter().find(|r| r.id == *id))
        .map(|r| photo_dto(r.id, r.thumb_sha256.is_some()))
        .collect())
}

async fn dispute_dtos(state: &AppState, rows: &[DisputeRow]) -> ApiResult<Vec<DisputeDto>> {
    let mut ids: Vec<Uuid> = rows.iter().flat_map(|d| [d.admin_village_id, d.natural_village_id]).collect();
    ids.sort();
    ids.dedup();
    let region_names = regions::names_of(state.store().db(), &ids).await?;
    let r = |id: Uuid| RefDto { id, name: region_names.get(&id).cloned().unwrap_or_default(), code: None };
    let mut station_names: HashMap<Uuid, String> = HashMap::new();
    for st in rows.iter().filter_map(|d| d.station_id) {
        if let std::collections::hash_map::Entry::Vacant(e) = station_names.entry(st)
            && let Some(s) = store::station(state.store().db(), st).await?
        {
            e.insert(s.name);
        }
    }
    Ok(rows
        .iter()
        .map(|d| DisputeDto {
            id: d.id,
            town_id: d.town_id,
            number: d.number.clone(),
            dispute_type: d.dispute_type.clone(),
            risk: d.risk.clone(),
            level: d.level.clone(),
            state: d.state.clone(),
            title: d.title.clone(),
            admin_village: r(d.admin_village_id),
            natural_village: r(d.natural_village_id),
            station: d.station_id.map(|id| RefDto {
                id,
                name: station_names.get(&id).cloned().unwrap_or_default(),
                code: None,
            }),
            holder: d.holder(),
            lead_office: d.lead_office.clone(),
            collaborators: d.collaborators().iter().map(|o| o.as_str().to_string()).collect(),
            flags: d.flags().iter().map(|f| f.as_str().to_string()).collect(),
            level_due_at: d.level_due_at,
            follow_up_due_at: d.follow_up_due_at,
            card: d.card.clone(),
            party_count: d.party_count,
            registered_at: d.registered_at,
            updated_at: d.updated_at,
            version: d.version,
            case_id: d.case_id,
        })
        .collect())
}

fn party_dto(p: &StoredParty) -> PartyDto {
    PartyDto {
        id: p.id,
        name: p.name.clone(),
        side: p.side.clone(),
        household_id: p.household_id,
        address: p.address.clone(),
        id_number_masked: p.id_number_masked.clone(),
        phone_masked: p.phone_masked.clone(),
        is_party_member_or_cadre: p.is_party_member_or_cadre,
    }
}

async fn detail(state: &AppState, d: DisputeRow, caps: &[DisputeCapacity]) -> ApiResult<DisputeDetail> {
    let db = state.store().db();
    let events = store::events(db, &d).await?;
    let sessions = store::sessions(db, &d).await?;
    let follow_ups = store::follow_ups(db, &d).await?;
    let tasks = store::tasks(db, &d).await?;
    let people: Vec<Uuid> = events
        .iter()
        .filter_map(|e| e.actor_id)
        .chain(sessions.iter().filter_map(|s| s.recorded_by))
        .chain(follow_ups.iter().filter_map(|f| f.by_id))
        .collect();
    let names = display_names(state, &people).await?;
    let mut agreements = Vec::new();
    for s in sessions.iter().filter(|s| s.outcome == SessionOutcome::Agreed.as_str()) {
        agreements.push(AgreementDto {
            id: s.id,
            session_id: s.id,
            signed_at: s.held_at,
            level: s.level.clone(),
            terms: s.agreement_terms.clone().unwrap_or_default(),
            party_ids: store::uuid_list(&s.agreement_party_ids),
            photos: photo_dtos(state, d.town_id, &store::uuid_list(&s.photo_ids)).await?,
        });
    }
    let state_now = d.state()?;
    let level = d.level()?;
    let allowed = workflow::allowed_actions(state_now, level, caps);
    let mut allowed_actions: Vec<String> =
        allowed.iter().filter(|a| **a != DisputeAction::Register).map(|a| a.as_str().to_string()).collect();
    if !tasks.is_empty()
        && (caps.contains(&DisputeCapacity::LeadOffice)
            || caps.contains(&DisputeCapacity::Collaborator)
            || caps.contains(&DisputeCapacity::PoliticalLegal))
    {
        allowed_actions.push("task_report".into());
    }
    let route_suggestion = if level == MediationLevel::Town && state_now.is_open() {
        let settings = store::settings(db, d.town_id).await?;
        let a = six_in_one::route(
            &RouteFacts { flags: d.flags(), risk: Some(d.risk()?) },
            &settings.rules,
            settings.fallback,
        );
        Some(RouteSuggestionDto {
            lead: a.lead.as_str().to_string(),
            collaborators: a.collaborators.iter().map(|o| o.as_str().to_string()).collect(),
        })
    } else {
        None
    };
    let dto = dispute_dtos(state, std::slice::from_ref(&d)).await?.into_iter().next().ok_or_else(ApiError::internal)?;
    Ok(DisputeDetail {
        dispute: dto,
        description: d.description.clone(),
        address: d.address.clone(),
        lat: d.lat,
        lon: d.lon,
        parties: d.parties().iter().map(party_dto).collect(),
        sessions: sessions
            .iter()
            .map(|s| SessionDto {
                id: s.id,
                held_at: s.held_at,
                level: s.level.clone(),
                place: s.place.clone(),
                mediators: store::string_list(&s.mediators),
                parties_present: s.parties_present,
                notes: s.notes.clone(),
                outcome: s.outcome.clone(),
                recorded_by: person(s.recorded_by, &s.recorded_by_name, &names),
            })
            .collect(),
        agreements,
        follow_ups: follow_ups
            .iter()
            .map(|f| FollowUpDto {
                id: f.id,
                agreement_id: f.agreement_id,
                visited_at: f.visited_at,
                holds: f.holds,
                notes: f.notes.clone(),
                by: person(f.by_id, &f.by_name, &names),
            })
            .collect(),
        tasks: tasks
            .iter()
            .map(|t| TaskDto {
                id: t.id,
                office: t.office.clone(),
                role: t.role.clone(),
                task: t.task.clone(),
                assigned_at: t.assigned_at,
                due_at: t.due_at,
                done_at: t.done_at,
                report: t.report.clone(),
            })
            .collect(),
        history: events
            .iter()
            .map(|e| HistoryDto {
                seq: e.seq,
                at: e.at,
                action: e.action.clone(),
                by_capacity: e.by_capacity.clone(),
                actor: e.actor_id.map(|id| person(Some(id), &e.actor_name, &names)),
                from: e.from_state.clone(),
                to: e.to_state.clone(),
                level_from: e.level_from.clone(),
                level_to: e.level_to.clone(),
                risk: e.risk.clone(),
                outcome: e.outcome.clone(),
                note: e.note.clone(),
                skip_reason: e.skip_reason.clone(),
            })
            .collect(),
        allowed_actions,
        my_capacities: caps.iter().map(|c| c.as_str().to_string()).collect(),
        route_suggestion,
    })
}

fn refusal_error(r: Refusal) -> ApiError {
    match r {
        Refusal::NotInThisState { state, allowed, .. } => ApiError::conflict("action_not_allowed").with_detail(
            format!("state {state}; allowed: [{}]", allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")),
        ),
        Refusal::NotAtThisLevel { level, .. } => {
            ApiError::conflict("action_not_allowed").with_detail(format!("level {level}"))
        }
        Refusal::NotPermitted { .. } => ApiError::forbidden(),
        Refusal::Missing { field, problem } => match problem {
            "required" => ApiError::field(field, Rule::Required),
            other => ApiError::field(field, Rule::NotAllowed { reason: other }),
        },
        Refusal::DeadlineNotPassed { due_at } => {
            ApiError::conflict("deadline_not_passed").with_detail(due_at.to_rfc3339())
        }
        Refusal::FollowUpNotDue { due_at } => ApiError::conflict("follow_up_not_due").with_detail(due_at.to_rfc3339()),
    }
}

fn mediation_error(e: MediationError) -> ApiError {
    match e {
        MediationError::Refusal(r) => refusal_error(r),
        MediationError::Tasks(t) => {
            ApiError::field(format!("tasks[{}]", t.index), Rule::NotAllowed { reason: t.problem })
        }
        MediationError::UnknownParty { field } => ApiError::field(field, Rule::UnknownReference),
        MediationError::UnknownTask => ApiError::field("task_id", Rule::UnknownReference),
        MediationError::NotYourTask => ApiError::forbidden(),
        MediationError::Store(s) => s.into(),
    }
}

// ---- notices ----

/// Who holds a dispute at its level: the station's linked members and the village's
/// peacemakers and grid workers; the village secretary; at town the lead office (or
/// political-legal while none leads).
async fn holders(tx: &Tx, d: &DisputeRow) -> ApiResult<Vec<UserRow>> {
    let db = tx.db();
    Ok(match d.level.as_str() {
        "natural_village" => {
            let mut users = accounts::users_with_role_at(db, &[Role::Peacemaker], d.natural_village_id).await?;
            if let Some(st) = d.station_id {
                let linked: Vec<Uuid> = store::members(db, d.town_id, &[st])
                    .await?
                    .iter()
                    .filter(|m| m.active)
                    .filter_map(|m| m.user_id)
                    .collect();
                users.extend(accounts::users_by_ids(db, &linked).await?);
            }
            users
        }
        "admin_village" => accounts::users_with_role_at(db, &[Role::GridChief], d.admin_village_id).await?,
        _ => {
            let role =
                d.lead_office.as_deref().and_then(Office::parse).map(|o| o.role()).unwrap_or(Role::PoliticalLegal);
            accounts::users_with_role_in_town(db, &[role], d.town_id).await?
        }
    })
}

async fn notify_users(
    state: &AppState,
    tx: &Tx,
    now: DateTime<Utc>,
    d: &DisputeRow,
    kind: &str,
    loud: bool,
    users: &[UserRow],
) -> ApiResult<()> {
    let (title, body) = notice_text(kind, d);
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for u in users.iter().filter(|u| seen.insert(u.id)) {
        items.push(NewNotification {
            town_id: d.town_id,
            case_id: None,
            kind: kind.to_string(),
            channel: notify::INBOX,
            recipient_id: Some(u.id),
            recipient_phone: None,
            title: title.clone(),
            body: body.clone(),
        });
        if loud && state.config().sms_webhook_url.is_some() && u.phone.is_some() {
            items.push(NewNotification {
                town_id: d.town_id,
                case_id: None,
                kind: kind.to_string(),
                channel: notify::SMS,
                recipient_id: Some(u.id),
                recipient_phone: u.phone.clone(),
                title: title.clone(),
                body: body.clone(),
            });
        }
    }
    if loud && state.config().wecom_webhook_url.is_some() {
        items.push(NewNotification {
            town_id: d.town_id,
            case_id: None,
            kind: kind.to_string(),
            channel: notify::WECOM,
            recipient_id: None,
            recipient_phone: None,
            title,
            body,
        });
    }
    if !items.is_empty() {
        notify::enqueue(tx, now, items).await?;
    }
    Ok(())
}

/// Notices are stored in zh-CN (the inbox of a Chinese town); the number identifies the dispute.
fn notice_text(kind: &str, d: &DisputeRow) -> (String, String) {
    let what = match kind {
        "dispute_high_risk" => "高风险矛盾纠纷，请立即关注",
        "dispute_escalated" => "矛盾纠纷已上交本级调解",
        "dispute_assigned" => "矛盾纠纷已分派（六位一体）",
        "dispute_urge" => "矛盾纠纷调解时限将到",
        "dispute_red_card" => "矛盾纠纷调解已超时",
        "dispute_follow_up_due" => "调解协议回访已到期",
        _ => "矛盾纠纷有新进展",
    };
    (format!("{what}：{}", d.number), format!("{} {}（{}）", d.number, d.title, d.level))
}

/// The notices a write calls for, in its transaction.
async fn after_write(state: &AppState, tx: &Tx, now: DateTime<Utc>, w: &Written) -> ApiResult<()> {
    let d = &w.dispute;
    // A case handed over to mediation follows its dispute on its own timeline: where it went,
    // and how it ended.
    if let Some(case_id) = d.case_id {
        let e = &w.entry;
        let step = match (e.action, e.to) {
            (DisputeAction::Register, _) => Some("mediation_registered"),
            (_, DisputeState::Agreed) => Some("mediation_agreed"),
            (_, DisputeState::Resolved) => Some("mediation_resolved"),
            (_, DisputeState::Referred) => Some("mediation_referred"),
            (_, DisputeState::Closed) => Some("mediation_closed"),
            _ if e.level_to != e.level_from => Some("mediation_escalated"),
            _ => None,
        };
        if let Some(action) = step {
            let actor = wuwei_store::Actor::system("mediation");
            wuwei_store::cases::add_event(
                tx,
                d.town_id,
                case_id,
                now,
                wuwei_store::cases::EventDraft {
                    actor: &actor,
                    action,
                    from: None,
                    to: None,
                    note: Some(format!("{} {}", d.number, d.level)),
                    data: Some(json!({"dispute_id": d.id, "state": d.state, "level": d.level})),
                },
            )
            .await?;
        }
    }
    if w.alert_town {
        let users =
            accounts::users_with_role_in_town(tx.db(), &[Role::PoliticalLegal, Role::TownAdmin], d.town_id).await?;
        notify_users(state, tx, now, d, "dispute_high_risk", true, &users).await?;
    }
    if w.entry.level_to != w.entry.level_from
        || (w.entry.action == DisputeAction::Register && w.entry.level_to > MediationLevel::NaturalVillage)
    {
        let users = holders(tx, d).await?;
        notify_users(state, tx, now, d, "dispute_escalated", false, &users).await?;
    }
    if w.entry.action == DisputeAction::Assign {
        let mut roles: Vec<Role> = d.collaborators().iter().map(|o| o.role()).collect();
        if let Some(lead) = d.lead_office.as_deref().and_then(Office::parse) {
            roles.push(lead.role());
        }
        let users = accounts::users_with_role_in_town(tx.db(), &roles, d.town_id).await?;
        notify_users(state, tx, now, d, "dispute_assigned", false, &users).await?;
    }
    Ok(())
}

// ---- stations ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StationListParams {
    pub town_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// First and last China day of the month `now` is in.
fn this_month(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let today = wuwei_domain::case::local_day(now);
    let first = today.with_day(1).unwrap_or(today);
    (first, today)
}

async fn station_dtos(state: &AppState, town_id: Uuid, rows: &[StationRow]) -> ApiResult<Vec<StationDto>> {
    let db = state.store().db();
    let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
    let members = store::members(db, town_id, &ids).await?;
    let (from, to) = this_month(state.now());
    let activity = store::activity_totals(db, town_id, from, to).await?;
    let open = store::open_by_station(db, town_id).await?;
    let mut region_ids: Vec<Uuid> = rows.iter().flat_map(|s| [s.admin_village_id, s.natural_village_id]).collect();
    region_ids.sort();
    region_ids.dedup();
    let region_names = regions::names_of(db, &region_ids).await?;
    let r = |id: Uuid| RefDto { id, name: region_names.get(&id).cloned().unwrap_or_default(), code: None };
    Ok(rows
        .iter()
        .map(|s| {
            let mine: Vec<&store::MemberRow> = members.iter().filter(|m| m.station_id == s.id && m.active).collect();
            StationDto {
                id: s.id,
                town_id: s.town_id,
                name: s.name.clone(),
                admin_village: r(s.admin_village_id),
                natural_village: r(s.natural_village_id),
                leader: mine.iter().find(|m| m.is_leader).map(|m| member_dto(m)),
                phone: s.phone.clone(),
                address: s.address.clone(),
                member_count: mine.len() as u64,
                activities_this_month: activity.get(&s.id).map(|a| a.0).unwrap_or(0),
                open_disputes: open.get(&s.id).copied().unwrap_or(0),
                version: s.version,
            }
        })
        .collect())
}

fn member_dto(m: &store::MemberRow) -> MemberDto {
    MemberDto {
        id: m.id,
        name: m.name.clone(),
        kind: m.kind.clone(),
        phone: m.phone.clone(),
        is_leader: m.is_leader,
        user_id: m.user_id,
        active: m.active,
    }
}

/// The natural villages of the town the caller reads mediation in; `None`: all of them.
fn village_filter(p: &Principal, town_id: Uuid) -> Option<Vec<Uuid>> {
    let scopes = p.scopes_with(Permission::MediationRead);
    if scopes.iter().any(|s| matches!(s.level, Level::City | Level::Town | Level::Area | Level::AdminVillage)) {
        // Wider than a village: the list filters by admin village below (or not at all).
        return None;
    }
    let _ = town_id;
    Some(scopes.iter().filter_map(|s| s.place.natural_village_id).collect())
}

/// Peacemaker stations, one per natural village, ordered as the villages were made.
#[utoipa::path(get, path = "/api/v1/mediation/stations", tag = "mediation", params(StationListParams),
    responses((status = 200, body = Page<StationDto>), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_stations(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<StationListParams>,
) -> ApiResult<Json<Page<StationDto>>> {
    auth.require_any(Permission::MediationRead)?;
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let mut admin_village_id = p.admin_village_id;
    let scopes = auth.principal.scopes_with(Permission::MediationRead);
    // An admin-village-scoped caller (a village cadre) lists their village's stations.
    if !scopes.iter().any(|s| matches!(s.level, Level::City | Level::Town | Level::Area))
        && let Some(av) = scopes.iter().find(|s| s.level == Level::AdminVillage).and_then(|s| s.place.admin_village_id)
    {
        admin_village_id = Some(av);
    }
    let filter = store::StationFilter {
        town_id,
        admin_village_id,
        natural_village_ids: village_filter(&auth.principal, town_id),
        q: validate::optional_text("q", p.q.as_deref(), 50)?,
    };
    let (rows, total) = store::stations(state.store().db(), &filter, page.offset(), page.page_size).await?;
    let items = station_dtos(&state, town_id, &rows).await?;
    Ok(Json(Page::new(items, page, total)))
}

async fn readable_station(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<StationRow> {
    let s = store::station(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let place = Place {
        city_id: city_of(state, s.town_id).await?,
        town_id: Some(s.town_id),
        area_id: regions::region_in_town(state.store().db(), s.town_id, s.admin_village_id)
            .await?
            .and_then(|r| r.area_id),
        admin_village_id: Some(s.admin_village_id),
        natural_village_id: Some(s.natural_village_id),
        grid_id: None,
        household_id: None,
    };
    if !reads_village(&auth.principal, &place) {
        return Err(ApiError::not_found());
    }
    Ok(s)
}

/// May keep this station: `mediation.manage` over its town, or a member leading it.
async fn manages_station(state: &AppState, auth: &Auth, s: &StationRow) -> ApiResult<bool> {
    let town =
        regions::region_in_town(state.store().db(), s.town_id, s.town_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(auth.principal.can(Permission::MediationManage, &town.place()))
}

/// May log the station's activity: a member of it (linked, peacemaker, grid worker of the
/// village), the village's cadres, or a manager.
async fn works_at_station(state: &AppState, auth: &Auth, s: &StationRow) -> ApiResult<bool> {
    if manages_station(state, auth, s).await? {
        return Ok(true);
    }
    let p = &auth.principal;
    if store::stations_of_user(state.store().db(), p.user_id).await?.contains(&(s.town_id, s.id)) {
        return Ok(true);
    }
    Ok(p.bindings.iter().any(|b| match b.role {
        Role::Peacemaker | Role::GridWorker => {
            b.scope.place.natural_village_id == Some(s.natural_village_id)
                || (b.scope.level == Level::AdminVillage && b.scope.place.admin_village_id == Some(s.admin_village_id))
        }
        Role::GridChief | Role::VillageCadre => b.scope.place.admin_village_id == Some(s.admin_village_id),
        _ => false,
    }))
}

async fn station_detail(state: &AppState, s: &StationRow) -> ApiResult<StationDetail> {
    let db = state.store().db();
    let station = station_dtos(state, s.town_id, std::slice::from_ref(s))
        .await?
        .into_iter()
        .next()
        .ok_or_else(ApiError::internal)?;
    let members = store::members(db, s.town_id, &[s.id]).await?.iter().map(member_dto).collect();
    let (first, _) = this_month(state.now());
    let from = first.checked_sub_months(chrono::Months::new(11)).unwrap_or(first);
    let monthly = store::monthly_activity(db, s, from)
        .await?
        .into_iter()
        .map(|(month, count, people_reached)| MonthlyActivityDto { month, count, people_reached })
        .collect();
    Ok(StationDetail { station, members, monthly })
}

/// A station with its members and its last 12 months of activity.
#[utoipa::path(get, path = "/api/v1/mediation/stations/{id}", tag = "mediation", params(("id" = Uuid, Path)),
    responses((status = 200, body = StationDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_station(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<StationDetail>> {
    let s = readable_station(&state, &auth, id).await?;
    Ok(Json(station_detail(&state, &s).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationBody {
    pub version: i32,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// Rename a station or change its contact details (`mediation.manage`).
#[utoipa::path(patch, path = "/api/v1/mediation/stations/{id}", tag = "mediation", params(("id" = Uuid, Path)),
    request_body = StationBody,
    responses((status = 200, body = StationDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_station(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<StationBody>,
) -> ApiResult<Json<StationDetail>> {
    let s = readable_station(&state, &auth, id).await?;
    if !manages_station(&state, &auth, &s).await? {
        return Err(ApiError::forbidden());
    }
    let mut issues = Issues::default();
    let name = match &body.name {
        Some(n) => issues.take(validate::text("name", n, 100)),
        None => None,
    };
    let phone = issues.take(validate::phone("phone", body.phone.as_deref()));
    let address = issues.take(validate::optional_text("address", body.address.as_deref(), 200));
    issues.into_result()?;
    let changes = store::StationChanges {
        name,
        phone: body.phone.is_some().then(|| phone.flatten()),
        address: body.address.is_some().then(|| address.flatten()),
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = store::update_station(&mut tx, &auth.actor(), &s, changes, body.version, now).await?;
    tx.commit(now).await?;
    Ok(Json(station_detail(&state, &row).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub phone: Option<String>,
    pub user_id: Option<Uuid>,
    pub is_leader: Option<bool>,
    pub active: Option<bool>,
}

/// Add a member to a station (`mediation.manage`).
#[utoipa::path(post, path = "/api/v1/mediation/stations/{id}/members", tag = "mediation", params(("id" = Uuid, Path)),
    request_body = MemberBody,
    responses((status = 201, body = MemberDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<MemberBody>,
) -> ApiResult<(StatusCode, Json<MemberDto>)> {
    let s = readable_station(&state, &auth, id).await?;
    if !manages_station(&state, &auth, &s).await? {
        return Err(ApiError::forbidden());
    }
    let mut issues = Issues::default();
    let name = issues.take(validate::text("name", body.name.as_deref().unwrap_or(""), 64));
    let kind = match body.kind.as_deref() {
        Some(k) => issues.take(one_of("kind", k, &MEMBER_KINDS).map_err(|e| e.fields[0].clone())),
        None => {
            issues.push("kind", Rule::Required);
            None
        }
    };
    let phone = issues.take(validate::phone("phone", body.phone.as_deref()));
    if let Some(uid) = body.user_id
        && accounts::users_by_ids(state.store().db(), &[uid]).await?.is_empty()
    {
        issues.push("user_id", Rule::UnknownReference);
    }
    issues.into_result()?;
    let (Some(name), Some(kind)) = (name, kind) else { return Err(ApiError::internal()) };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let new = store::NewMember {
        name,
        kind,
        phone: phone.flatten(),
        user_id: body.user_id,
        is_leader: body.is_leader.unwrap_or(false),
    };
    let row = store::insert_member(&mut tx, &auth.actor(), &s, new, now).await.map_err(|e| match e {
        wuwei_store::StoreError::Duplicate(_) => {
            ApiError::field("members", Rule::OutOfRange { min: 0, max: store::MAX_MEMBERS as i64 })
        }
        other => other.into(),
    })?;
    tx.commit(now).await?;
    Ok((StatusCode::CREATED, Json(member_dto(&row))))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MemberPath {
    pub id: Uuid,
    pub member_id: Uuid,
}

/// Change a member: name, kind, phone, leader, active (`mediation.manage`).
#[utoipa::path(patch, path = "/api/v1/mediation/stations/{id}/members/{member_id}", tag = "mediation",
    params(("id" = Uuid, Path), ("member_id" = Uuid, Path)), request_body = MemberBody,
    responses((status = 200, body = MemberDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_member(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<MemberPath>,
    ApiJson(body): ApiJson<MemberBody>,
) -> ApiResult<Json<MemberDto>> {
    let s = readable_station(&state, &auth, path.id).await?;
    if !manages_station(&state, &auth, &s).await? {
        return Err(ApiError::forbidden());
    }
    let mut issues = Issues::default();
    let name = match &body.name {
        Some(n) => issues.take(validate::text("name", n, 64)),
        None => None,
    };
    let kind = match body.kind.as_deref() {
        Some(k) => issues.take(one_of("kind", k, &MEMBER_KINDS).map_err(|e| e.fields[0].clone())),
        None => None,
    };
    let phone = issues.take(validate::phone("phone", body.phone.as_deref()));
    if body.user_id.is_some() {
        issues.push("user_id", Rule::NotAllowed { reason: "not_editable" });
    }
    issues.into_result()?;
    let changes = store::MemberChanges {
        name,
        kind,
        phone: body.phone.is_some().then(|| phone.flatten()),
        is_leader: body.is_leader,
        active: body.active,
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = store::update_member(&mut tx, &auth.actor(), &s, path.member_id, changes, now).await?;
    tx.commit(now).await?;
    Ok(Json(member_dto(&row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub duty: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

async fn activity_dtos(state: &AppState, rows: &[store::ActivityRow]) -> ApiResult<Vec<ActivityDto>> {
    let names = display_names(state, &rows.iter().filter_map(|a| a.recorded_by).collect::<Vec<_>>()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        out.push(ActivityDto {
            id: a.id,
            station_id: a.station_id,
            on_date: a.on_date,
            duty: a.duty.clone(),
            summary: a.summary.clone(),
            people_reached: a.people_reached,
            photos: photo_dtos(state, a.town_id, &store::uuid_list(&a.photo_ids)).await?,
            recorded_by: person(a.recorded_by, &a.recorded_by_name, &names),
            created_at: a.created_at,
        });
    }
    Ok(out)
}

/// A station's activity log, newest first.
#[utoipa::path(get, path = "/api/v1/mediation/stations/{id}/activities", tag = "mediation",
    params(("id" = Uuid, Path), ActivityParams),
    responses((status = 200, body = Page<ActivityDto>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_activities(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiQuery(p): ApiQuery<ActivityParams>,
) -> ApiResult<Json<Page<ActivityDto>>> {
    let s = readable_station(&state, &auth, id).await?;
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    let duty = match p.duty.as_deref() {
        Some(d) => Some(one_of("duty", d, &DUTIES)?),
        None => None,
    };
    let filter = store::ActivityFilter { from: p.from, to: p.to, duty };
    let (rows, total) = store::activities(state.store().db(), &s, &filter, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(activity_dtos(&state, &rows).await?, page, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    pub on_date: NaiveDate,
    /// One of the six duties.
    pub duty: String,
    pub summary: String,
    pub people_reached: i32,
    #[serde(default)]
    pub photo_ids: Vec<Uuid>,
}

async fn check_photos(state: &AppState, town_id: Uuid, field: &str, ids: &[Uuid]) -> ApiResult<()> {
    if ids.len() > MAX_PHOTOS {
        return Err(ApiError::field(field, Rule::OutOfRange { min: 0, max: MAX_PHOTOS as i64 }));
    }
    let found = store::photos_of(state.store().db(), town_id, ids).await?;
    let mut issues = Issues::default();
    for (i, id) in ids.iter().enumerate() {
        if !found.iter().any(|p| p.id == *id) {
            issues.push(format!("{field}[{i}]"), Rule::UnknownReference);
        } else if ids[..i].contains(id) {
            issues.push(format!("{field}[{i}]"), Rule::Duplicate);
        }
    }
    Ok(issues.into_result()?)
}

/// Log an activity of one of the six duties (a member of the station, its village's cadres).
#[utoipa::path(post, path = "/api/v1/mediation/stations/{id}/activities", tag = "mediation", params(("id" = Uuid, Path)),
    request_body = ActivityBody,
    responses((status = 201, body = ActivityDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_activity(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ActivityBody>,
) -> ApiResult<(StatusCode, Json<ActivityDto>)> {
    let s = readable_station(&state, &auth, id).await?;
    if !works_at_station(&state, &auth, &s).await? {
        return Err(ApiError::forbidden());
    }
    let now = state.now();
    let today = wuwei_domain::case::local_day(now);
    let mut issues = Issues::default();
    let duty = issues.take(one_of("duty", &body.duty, &DUTIES).map_err(|e| e.fields[0].clone()));
    let summary = issues.take(long_text("summary", &body.summary, MAX_NOTE));
    if body.on_date > today || body.on_date < today - Duration::days(366) {
        issues.push("on_date", Rule::NotAllowed { reason: "within_the_last_year" });
    }
    if !(0..=MAX_PEOPLE_REACHED).contains(&body.people_reached) {
        issues.push("people_reached", Rule::OutOfRange { min: 0, max: i64::from(MAX_PEOPLE_REACHED) });
    }
    issues.into_result()?;
    check_photos(&state, s.town_id, "photo_ids", &body.photo_ids).await?;
    let (Some(duty), Some(summary)) = (duty, summary) else { return Err(ApiError::internal()) };
    let mut tx = state.store().begin().await?;
    let new = store::NewActivity {
        on_date: body.on_date,
        duty,
        summary,
        people_reached: body.people_reached,
        photo_ids: body.photo_ids,
    };
    let row = store::insert_activity(&mut tx, &auth.actor(), &s, new, now).await?;
    tx.commit(now).await?;
    let dto =
        activity_dtos(&state, std::slice::from_ref(&row)).await?.into_iter().next().ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(dto)))
}

// ---- photos ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TownParams {
    pub town_id: Option<Uuid>,
}

/// Upload a photo for an activity or a signed agreement: JPEG, PNG or WebP checked by content,
/// at most 10 MB, multipart field `file`.
#[utoipa::path(post, path = "/api/v1/mediation/photos", tag = "mediation", params(TownParams),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 201, body = PhotoDto), (status = 403, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn upload_photo(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<PhotoDto>)> {
    auth.require_any(Permission::MediationRead)?;
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let photo = crate::routes::attachments::store_checked_photo(&state, &mut form).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = store::insert_photo(
        &mut tx,
        &auth.actor(),
        store::NewPhoto {
            town_id,
            id: Uuid::now_v7(),
            mime: photo.mime,
            size_bytes: photo.size_bytes,
            sha256: photo.sha256,
            thumb_sha256: photo.thumb_sha256,
        },
        now,
    )
    .await?;
    tx.commit(now).await?;
    Ok((StatusCode::CREATED, Json(photo_dto(row.id, row.thumb_sha256.is_some()))))
}

async fn serve_photo(state: &AppState, auth: &Auth, id: Uuid, thumb: bool, headers: &HeaderMap) -> ApiResult<Response> {
    auth.require_any(Permission::MediationRead)?;
    let p = store::photo(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    if !crate::dto::visible_town_ids(state, &auth.principal).await?.contains(&p.town_id) {
        return Err(ApiError::not_found());
    }
    let (sha, mime) = if thumb {
        (p.thumb_sha256.clone().ok_or_else(ApiError::not_found)?, "image/jpeg".to_string())
    } else {
        (p.sha256.clone(), p.mime.clone())
    };
    crate::routes::attachments::blob_response(state, id, &sha, &mime, headers).await
}

/// A mediation photo.
#[utoipa::path(get, path = "/api/v1/mediation/photos/{id}/content", tag = "mediation", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The photo"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn photo_content(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_photo(&state, &auth, id, false, &headers).await
}

/// A mediation photo's thumbnail (JPEG).
#[utoipa::path(get, path = "/api/v1/mediation/photos/{id}/thumbnail", tag = "mediation", params(("id" = Uuid, Path)),
    responses((status = 200, description = "JPEG thumbnail"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn photo_thumbnail(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_photo(&state, &auth, id, true, &headers).await
}

// ---- disputes ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyBody {
    pub name: String,
    /// `applicant` (default), `respondent` or `other`.
    pub side: Option<String>,
    pub household_id: Option<Uuid>,
    pub address: Option<String>,
    /// 18-digit resident ID with its check digit; stored sealed, never returned.
    pub id_number: Option<String>,
    /// 11-digit mobile; stored sealed, never returned.
    pub phone: Option<String>,
    #[serde(default)]
    pub is_party_member_or_cadre: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub town_id: Option<Uuid>,
    pub dispute_type: String,
    /// `low` (default), `medium` or `high` (alerts the town at once).
    pub risk: Option<String>,
    pub title: String,
    pub description: String,
    pub natural_village_id: Uuid,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    /// `natural_village` (default); higher needs `skip_reason`.
    pub level: Option<String>,
    pub skip_reason: Option<String>,
    /// A case in a dispute category handed over: it then follows this dispute.
    pub case_id: Option<Uuid>,
    /// What routing at town level looks at (see `six_in_one::RoutingFlag`).
    #[serde(default)]
    pub flags: Vec<String>,
    pub parties: Vec<PartyBody>,
}

fn parse_flags(raw: &[String]) -> ApiResult<Vec<RoutingFlag>> {
    let mut out = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let flag =
            parse_named(&format!("flags[{i}]"), f, RoutingFlag::parse, &names(RoutingFlag::ALL, RoutingFlag::as_str))?;
        if !out.contains(&flag) {
            out.push(flag);
        }
    }
    Ok(out)
}

/// Check and seal the parties: names, sides, ID numbers (check digit) and phones.
fn parse_parties(state: &AppState, raw: &[PartyBody], town_households: &[Uuid]) -> ApiResult<Vec<StoredParty>> {
    let key = state.pii()?;
    let mut issues = Issues::default();
    if raw.is_empty() {
        issues.push("parties", Rule::Required);
    }
    if raw.len() > workflow::MAX_PARTIES as usize {
        issues.push("parties", Rule::OutOfRange { min: 1, max: i64::from(workflow::MAX_PARTIES) });
    }
    let mut out = Vec::new();
    for (i, p) in raw.iter().enumerate().take(workflow::MAX_PARTIES as usize) {
        let at = |f: &str| format!("parties[{i}].{f}");
        let name = issues.take(validate::text(&at("name"), &p.name, 64));
        let side = match p.side.as_deref() {
            None => Some("applicant".to_string()),
            Some(s) => issues.take(one_of(&at("side"), s, &SIDES).map_err(|e| e.fields[0].clone())),
        };
        let address = issues.take(validate::optional_text(&at("address"), p.address.as_deref(), 200)).flatten();
        if let Some(h) = p.household_id
            && !town_households.contains(&h)
        {
            issues.push(at("household_id"), Rule::UnknownReference);
        }
        let id_number = match p.id_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match ResidentIdNumber::parse(raw) {
                Ok(id) => Some(id),
                Err(e) => {
                    issues.push(at("id_number"), Rule::NotAllowed { reason: e.problem() });
                    None
                }
            },
        };
        let phone = match p.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match MobileNumber::parse(raw) {
                Ok(m) => Some(m),
                Err(_) => {
                    issues.push(at("phone"), Rule::NotAllowed { reason: "mobile_11_digits" });
                    None
                }
            },
        };
        let (Some(name), Some(side)) = (name, side) else { continue };
        let seal = |field: &str, v: &str| key.seal(field, v).ok_or_else(ApiError::internal);
        out.push(StoredParty {
            id: Uuid::now_v7(),
            name,
            side,
            household_id: p.household_id,
            address,
            id_number_sealed: id_number.as_ref().map(|n| seal("id_number", n.reveal())).transpose()?,
            id_number_masked: id_number.as_ref().map(|n| n.masked()),
            phone_sealed: phone.as_ref().map(|n| seal("phone", n.reveal())).transpose()?,
            phone_masked: phone.as_ref().map(|n| n.masked()),
            is_party_member_or_cadre: p.is_party_member_or_cadre,
        });
    }
    issues.into_result()?;
    Ok(out)
}

/// Register a dispute (a station member on the phone page, a village secretary, an office).
#[utoipa::path(post, path = "/api/v1/mediation/disputes", tag = "mediation", request_body = RegisterBody,
    responses((status = 201, body = DisputeDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn register_dispute(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<DisputeDetail>)> {
    auth.require_any(Permission::MediationRead)?;
    let town_id = town_of(&state, &auth, body.town_id).await?;
    let db = state.store().db();
    let nv = regions::region_in_town(db, town_id, body.natural_village_id)
        .await?
        .filter(|r| r.kind == "natural_village")
        .ok_or_else(|| ApiError::field("natural_village_id", Rule::UnknownReference))?;
    let admin_village_id = nv.admin_village_id.ok_or_else(ApiError::internal)?;
    let mut issues = Issues::default();
    let dispute_type = issues.take(
        parse_named(
            "dispute_type",
            &body.dispute_type,
            DisputeType::parse,
            &names(DisputeType::ALL, DisputeType::as_str),
        )
        .map_err(|e| e.fields[0].clone()),
    );
    let risk = match body.risk.as_deref() {
        None => Some(RiskLevel::Low),
        Some(r) => issues.take(
            parse_named("risk", r, RiskLevel::parse, &names(RiskLevel::ALL, RiskLevel::as_str))
                .map_err(|e| e.fields[0].clone()),
        ),
    };
    let level = match body.level.as_deref() {
        None => Some(MediationLevel::NaturalVillage),
        Some(l) => issues.take(
            parse_named("level", l, MediationLevel::parse, &names(MediationLevel::ALL, MediationLevel::as_str))
                .map_err(|e| e.fields[0].clone()),
        ),
    };
    let title = issues.take(validate::text("title", &body.title, MAX_TITLE));
    let description = issues.take(long_text("description", &body.description, MAX_TEXT));
    let address = issues.take(validate::optional_text("address", body.address.as_deref(), 200)).flatten();
    let skip_reason =
        issues.take(validate::optional_text("skip_reason", body.skip_reason.as_deref(), MAX_NOTE)).flatten();
    if body.lat.is_some() != body.lon.is_some() {
        issues.push("lon", Rule::Required);
    }
    issues.into_result()?;
    let flags = parse_flags(&body.flags)?;
    let mut hh: Vec<Uuid> = body.parties.iter().filter_map(|p| p.household_id).collect();
    hh.sort();
    hh.dedup();
    let mut known = Vec::new();
    for h in hh {
        if let Some(row) = wuwei_store::households::household(db, h).await?
            && row.town_id == town_id
        {
            known.push(h);
        }
    }
    let parties = parse_parties(&state, &body.parties, &known)?;
    // A located dispute gets its grid (a grid worker's list); the point must be in the village.
    let mut grid_id = None;
    if let (Some(lat), Some(lon)) = (body.lat, body.lon) {
        let index = state.0.locator.town(state.store(), town_id).await?;
        let found = index.locate(wuwei_domain::geo::Point { lon, lat });
        if found.natural_village_id != Some(nv.id) {
            return Err(ApiError::field("lat", Rule::NotAllowed { reason: "outside_village" }));
        }
        grid_id = found.grid_id;
    }
    let case_id = match body.case_id {
        Some(cid) => {
            let c = wuwei_store::cases::case_in_town(db, town_id, cid)
                .await?
                .ok_or_else(|| ApiError::field("case_id", Rule::UnknownReference))?;
            if !auth.principal.can(Permission::CasesRead, &c.place(city_of(&state, town_id).await?)) {
                return Err(ApiError::field("case_id", Rule::UnknownReference));
            }
            let category = wuwei_store::catalog::category(db, town_id, c.category_id).await?;
            if !category.is_some_and(|k| k.is_dispute) {
                return Err(ApiError::field("case_id", Rule::NotAllowed { reason: "not_a_dispute_category" }));
            }
            if store::dispute_of_case(db, town_id, cid).await?.is_some() {
                return Err(ApiError::conflict("duplicate").with_field("case_id", Rule::Duplicate));
            }
            Some(cid)
        }
        None => None,
    };
    let (Some(dispute_type), Some(risk), Some(level), Some(title), Some(description)) =
        (dispute_type, risk, level, title, description)
    else {
        return Err(ApiError::internal());
    };
    let party_flag = parties.iter().any(|p| p.is_party_member_or_cadre);
    let mut flags = flags;
    if party_flag && !flags.contains(&RoutingFlag::PartyMemberOrCadre) {
        flags.push(RoutingFlag::PartyMemberOrCadre);
    }
    let new = NewDispute {
        town_id,
        registration: Registration {
            dispute_type,
            risk,
            level,
            parties: u32::try_from(parties.len()).unwrap_or(u32::MAX),
            description,
            skip_reason,
        },
        title,
        flags,
        lat: body.lat,
        lon: body.lon,
        address,
        area_id: nv.area_id,
        admin_village_id,
        natural_village_id: nv.id,
        grid_id,
        parties,
        case_id,
    };
    // Capacities at the village the dispute will be in, before it exists.
    let probe = DisputeRow {
        town_id,
        id: Uuid::nil(),
        number: String::new(),
        dispute_type: String::new(),
        risk: String::new(),
        level: String::new(),
        state: String::new(),
        title: String::new(),
        description: String::new(),
        lat: None,
        lon: None,
        address: None,
        area_id: nv.area_id,
        admin_village_id,
        natural_village_id: nv.id,
        grid_id,
        station_id: store::station_of_village(db, town_id, nv.id).await?.map(|s| s.id),
        level_entered_at: Utc::now(),
        level_due_at: Utc::now(),
        agreed_at: None,
        follow_up_due_at: None,
        reopen_count: 0,
        lead_office: None,
        collaborators: "[]".into(),
        flags: "[]".into(),
        parties: "[]".into(),
        party_names: String::new(),
        party_count: 0,
        case_id: None,
        settled_at: None,
        settled_level: None,
        next_sweep_at: None,
        card: String::new(),
        registered_by: None,
        registered_at: Utc::now(),
        updated_at: Utc::now(),
        version: 0,
    };
    let mut caps = capacities(&state, &auth, &probe).await?;
    // A town office registering what it accepted directly leads it.
    if offices_in(&auth.principal, town_id).iter().any(|o| !o.sees_all())
        && !caps.contains(&DisputeCapacity::LeadOffice)
    {
        caps.push(DisputeCapacity::LeadOffice);
    }
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let w = store::register(&mut tx, &auth.actor(), new, &caps, now).await.map_err(mediation_error)?;
    after_write(&state, &tx, now, &w).await?;
    tx.commit(now).await?;
    let caps = capacities(&state, &auth, &w.dispute).await?;
    Ok((StatusCode::CREATED, Json(detail(&state, w.dispute, &caps).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisputeListParams {
    pub town_id: Option<Uuid>,
    pub level: Option<String>,
    pub state: Option<String>,
    /// Only open (true) or only ended (false).
    pub open: Option<bool>,
    pub risk: Option<String>,
    /// Led by or collaborating: an office of the six-in-one.
    pub office: Option<String>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub station_id: Option<Uuid>,
    /// Past the level's deadline now.
    pub overdue: Option<bool>,
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

async fn visibility(state: &AppState, auth: &Auth) -> ApiResult<Visibility> {
    let scopes = auth.principal.scopes_with(Permission::MediationRead);
    let mut city_towns = Vec::new();
    for s in scopes.iter().filter(|s| s.level == Level::City) {
        if let Some(c) = s.place.city_id {
            city_towns.extend(regions::town_ids_of_city(state.store().db(), c).await?);
        }
    }
    Ok(Visibility { scopes, city_towns })
}

/// Disputes in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/mediation/disputes", tag = "mediation", params(DisputeListParams),
    responses((status = 200, body = Page<DisputeDto>), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_disputes(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<DisputeListParams>,
) -> ApiResult<Json<Page<DisputeDto>>> {
    auth.require_any(Permission::MediationRead)?;
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let filter = DisputeFilter {
        town_id: Some(town_id),
        level: p
            .level
            .as_deref()
            .map(|l| {
                parse_named("level", l, MediationLevel::parse, &names(MediationLevel::ALL, MediationLevel::as_str))
            })
            .transpose()?,
        state: p
            .state
            .as_deref()
            .map(|s| parse_named("state", s, DisputeState::parse, &names(DisputeState::ALL, DisputeState::as_str)))
            .transpose()?,
        open: p.open,
        risk: p
            .risk
            .as_deref()
            .map(|r| parse_named("risk", r, RiskLevel::parse, &names(RiskLevel::ALL, RiskLevel::as_str)))
            .transpose()?,
        office: p
            .office
            .as_deref()
            .map(|o| parse_named("office", o, Office::parse, &names(Office::ALL, Office::as_str)))
            .transpose()?,
        admin_village_id: p.admin_village_id,
        natural_village_id: p.natural_village_id,
        station_id: p.station_id,
        overdue_at: p.overdue.filter(|o| *o).map(|_| state.now()),
        q: validate::optional_text("q", p.q.as_deref(), 50)?,
    };
    let v = visibility(&state, &auth).await?;
    let (rows, total) = store::list(state.store().db(), &filter, &v, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(dispute_dtos(&state, &rows).await?, page, total)))
}

/// A dispute with its parties (masked), sessions, agreements, follow-ups, joint tasks, its full
/// history across levels, and what the caller may do now.
#[utoipa::path(get, path = "/api/v1/mediation/disputes/{id}", tag = "mediation", params(("id" = Uuid, Path)),
    responses((status = 200, body = DisputeDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_dispute(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<DisputeDetail>> {
    let (d, caps) = readable(&state, &auth, id).await?;
    Ok(Json(detail(&state, d, &caps).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementBody {
    pub terms: String,
    /// The parties who sign it (at least 2).
    pub party_ids: Vec<Uuid>,
    #[serde(default)]
    pub photo_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub held_at: Option<DateTime<Utc>>,
    pub place: String,
    pub mediators: Vec<String>,
    pub parties_present: u32,
    pub notes: String,
    /// `agreed`, `partly`, `failed` or `adjourned`.
    pub outcome: String,
    pub agreement: Option<AgreementBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub office: String,
    pub task: String,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeActionBody {
    /// `record_session`, `escalate`, `refer`, `assign`, `follow_up`, `set_risk`, `close`, `task_report`.
    pub action: String,
    pub version: Option<i32>,
    pub session: Option<SessionBody>,
    pub reason: Option<String>,
    pub to_level: Option<String>,
    pub skip_reason: Option<String>,
    pub lead: Option<String>,
    #[serde(default)]
    pub collaborators: Vec<String>,
    #[serde(default)]
    pub tasks: Vec<TaskBody>,
    pub holds: Option<bool>,
    pub notes: Option<String>,
    pub risk: Option<String>,
    pub task_id: Option<Uuid>,
    pub report: Option<String>,
    pub done: Option<bool>,
}

fn office_list(field: &str, raw: &[String]) -> ApiResult<Vec<Office>> {
    raw.iter()
        .enumerate()
        .map(|(i, o)| parse_named(&format!("{field}[{i}]"), o, Office::parse, &names(Office::ALL, Office::as_str)))
        .collect()
}

/// Act on a dispute: record a session (with its agreement when agreed), escalate, refer,
/// assign the six-in-one's lead and collaborators, follow up, change the risk, close, or report
/// on a joint task. Refused actions say why: 409 (not now, with what is allowed), 403, 422.
#[utoipa::path(post, path = "/api/v1/mediation/disputes/{id}/actions", tag = "mediation", params(("id" = Uuid, Path)),
    request_body = DisputeActionBody,
    responses((status = 200, body = DisputeDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn act(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<DisputeActionBody>,
) -> ApiResult<Json<DisputeDetail>> {
    let (d, caps) = readable(&state, &auth, id).await?;
    let now = state.now();
    let actor = auth.actor();
    let mut issues = Issues::default();
    let reason = issues.take(validate::optional_text("reason", body.reason.as_deref(), MAX_NOTE)).flatten();
    let skip_reason =
        issues.take(validate::optional_text("skip_reason", body.skip_reason.as_deref(), MAX_NOTE)).flatten();
    let notes = issues.take(validate::optional_text("notes", body.notes.as_deref(), MAX_NOTE)).flatten();
    issues.into_result()?;

    if body.action == "task_report" {
        let task_id = body.task_id.ok_or_else(|| ApiError::field("task_id", Rule::Required))?;
        let report = validate::text("report", body.report.as_deref().unwrap_or(""), MAX_NOTE)?;
        let offices = offices_in(&auth.principal, d.town_id);
        let mut tx = state.store().begin().await?;
        let row = store::report_task(
            &mut tx,
            &actor,
            d.town_id,
            d.id,
            task_id,
            &offices,
            report,
            body.done.unwrap_or(true),
            body.version,
            now,
        )
        .await
        .map_err(mediation_error)?;
        tx.commit(now).await?;
        let caps = capacities(&state, &auth, &row).await?;
        return Ok(Json(detail(&state, row, &caps).await?));
    }
    let action =
        parse_named("action", &body.action, DisputeAction::parse, &names(DisputeAction::ALL, DisputeAction::as_str))?;
    if action == DisputeAction::Register {
        return Err(ApiError::field("action", Rule::NotAllowed { reason: "use_post_disputes" }));
    }
    let (session, record) = match &body.session {
        None => (None, None),
        Some(s) => {
            let mut issues = Issues::default();
            let outcome = issues.take(
                parse_named(
                    "session.outcome",
                    &s.outcome,
                    SessionOutcome::parse,
                    &names(SessionOutcome::ALL, SessionOutcome::as_str),
                )
                .map_err(|e| e.fields[0].clone()),
            );
            let place = issues.take(validate::text("session.place", &s.place, 200));
            let notes = issues.take(long_text("session.notes", &s.notes, MAX_TEXT));
            if s.mediators.is_empty() {
                issues.push("session.mediators", Rule::Required);
            }
            if s.mediators.len() > MAX_MEDIATORS {
                issues.push("session.mediators", Rule::OutOfRange { min: 1, max: MAX_MEDIATORS as i64 });
            }
            let mediators: Vec<String> = s
                .mediators
                .iter()
                .enumerate()
                .filter_map(|(i, m)| issues.take(validate::text(&format!("session.mediators[{i}]"), m, 64)))
                .collect();
            if s.parties_present > workflow::MAX_PARTIES {
                issues.push(
                    "session.parties_present",
                    Rule::OutOfRange { min: 1, max: i64::from(workflow::MAX_PARTIES) },
                );
            }
            if s.held_at.is_some_and(|t| t > now + Duration::minutes(5) || t < now - Duration::days(365)) {
                issues.push("session.held_at", Rule::NotAllowed { reason: "within_the_last_year" });
            }
            let agreement = match &s.agreement {
                None => None,
                Some(a) => {
                    let terms = issues.take(long_text("session.agreement.terms", &a.terms, MAX_TEXT));
                    let mut ids = a.party_ids.clone();
                    ids.dedup();
                    if ids.len() != a.party_ids.len() {
                        issues.push("session.agreement.party_ids", Rule::Duplicate);
                    }
                    terms.map(|t| (t, a.party_ids.clone(), a.photo_ids.clone()))
                }
            };
            issues.into_result()?;
            if let Some((_, _, photos)) = &agreement {
                check_photos(&state, d.town_id, "session.agreement.photo_ids", photos).await?;
            }
            let (Some(outcome), Some(place), Some(notes)) = (outcome, place, notes) else {
                return Err(ApiError::internal());
            };
            let input = SessionInput {
                outcome,
                mediators: u32::try_from(mediators.len()).unwrap_or(u32::MAX),
                parties_present: s.parties_present,
                notes,
                agreement: agreement.as_ref().map(|(terms, ids, _)| AgreementInput {
                    parties: u32::try_from(ids.len()).unwrap_or(u32::MAX),
                    terms: terms.clone(),
                }),
            };
            let record = SessionRecord {
                held_at: s.held_at,
                place,
                mediators,
                agreement_party_ids: agreement.as_ref().map(|a| a.1.clone()).unwrap_or_default(),
                photo_ids: agreement.map(|a| a.2).unwrap_or_default(),
            };
            (Some(input), Some(record))
        }
    };
    let lead = body
        .lead
        .as_deref()
        .map(|o| parse_named("lead", o, Office::parse, &names(Office::ALL, Office::as_str)))
        .transpose()?;
    let collaborators = office_list("collaborators", &body.collaborators)?;
    if body.tasks.len() > Office::ALL.len() {
        return Err(ApiError::field("tasks", Rule::OutOfRange { min: 0, max: Office::ALL.len() as i64 }));
    }
    let mut tasks = Vec::new();
    for (i, t) in body.tasks.iter().enumerate() {
        let office =
            parse_named(&format!("tasks[{i}].office"), &t.office, Office::parse, &names(Office::ALL, Office::as_str))?;
        let text = validate::text(&format!("tasks[{i}].task"), &t.task, six_in_one::MAX_TASK_CHARS)?;
        tasks.push(TaskDraft { office, task: text, due_at: t.due_at });
    }
    let input = DisputeInput {
        reason,
        session,
        to_level: body
            .to_level
            .as_deref()
            .map(|l| {
                parse_named("to_level", l, MediationLevel::parse, &names(MediationLevel::ALL, MediationLevel::as_str))
            })
            .transpose()?,
        skip_reason,
        lead,
        collaborators,
        holds: body.holds,
        notes,
        risk: body
            .risk
            .as_deref()
            .map(|r| parse_named("risk", r, RiskLevel::parse, &names(RiskLevel::ALL, RiskLevel::as_str)))
            .transpose()?,
    };
    // Assigning writes one task per office: every office needs its text (the default names the office's part).
    if action == DisputeAction::Assign
        && let Some(lead) = input.lead
    {
        for o in std::iter::once(lead).chain(input.collaborators.iter().copied()) {
            if !tasks.iter().any(|t| t.office == o) {
                let text = if o == lead { "牵头办理，组织联合调处" } else { "配合牵头单位办理" };
                tasks.push(TaskDraft { office: o, task: text.into(), due_at: None });
            }
        }
    }
    let req = ActRequest { action, version: body.version, input, session: record, tasks };
    let mut tx = state.store().begin().await?;
    let w = store::act(&mut tx, &actor, d.town_id, d.id, &caps, req, now).await.map_err(mediation_error)?;
    after_write(&state, &tx, now, &w).await?;
    tx.commit(now).await?;
    let caps = capacities(&state, &auth, &w.dispute).await?;
    Ok(Json(detail(&state, w.dispute, &caps).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PartyPath {
    pub id: Uuid,
    pub party_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealBody {
    /// `id_number` or `phone`.
    pub field: String,
    /// Why it is needed (kept in the audit trail).
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevealResult {
    pub value: String,
}

/// Show a party's ID or phone number in clear, for someone acting on the dispute (or
/// political-legal), with a reason; the reveal is audited.
#[utoipa::path(post, path = "/api/v1/mediation/disputes/{id}/parties/{party_id}/reveal", tag = "mediation",
    params(("id" = Uuid, Path), ("party_id" = Uuid, Path)), request_body = RevealBody,
    responses((status = 200, body = RevealResult), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn reveal(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<PartyPath>,
    ApiJson(body): ApiJson<RevealBody>,
) -> ApiResult<Json<RevealResult>> {
    let (d, caps) = readable(&state, &auth, path.id).await?;
    let field = one_of("field", &body.field, &["id_number", "phone"])?;
    let reason = validate::text("reason", &body.reason, 500)?;
    let level = d.level()?;
    if !caps.iter().any(|c| c.acts_at(level) && *c != DisputeCapacity::Collaborator) {
        return Err(ApiError::forbidden());
    }
    let party = d.parties().into_iter().find(|p| p.id == path.party_id).ok_or_else(ApiError::not_found)?;
    let sealed = if field == "id_number" { party.id_number_sealed.clone() } else { party.phone_sealed.clone() };
    let sealed = sealed.ok_or_else(ApiError::not_found)?;
    let value = state.pii()?.open(&field, &sealed).ok_or_else(|| {
        tracing::error!(dispute = %d.id, "a sealed number does not open with this server's key");
        ApiError::internal()
    })?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    tx.audit(AuditDraft {
        actor: auth.actor(),
        action: "mediation.party.reveal".into(),
        entity_type: "dispute".into(),
        entity_id: d.id.to_string(),
        town_id: Some(d.town_id),
        before: None,
        after: Some(json!({"party_id": party.id, "field": field, "reason": reason})),
    });
    tx.commit(now).await?;
    Ok(Json(RevealResult { value }))
}

// ---- the printable agreement ----

#[derive(Debug, Deserialize, IntoParams)]
pub struct AgreementPath {
    pub id: Uuid,
    pub agreement_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintPartyDto {
    pub name: String,
    pub side: String,
    pub id_number_masked: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementPrint {
    #[serde(flatten)]
    pub agreement: AgreementDto,
    /// The agreement's number: the dispute's with the session's order, e.g. `TJ-20261120-0007-1`.
    pub number: String,
    /// Who mediated: the station's people's mediation committee, the village's, or the town's.
    pub station_or_office: String,
    pub parties: Vec<PrintPartyDto>,
    pub facts: String,
    pub mediators: Vec<String>,
    pub town: RefDto,
    pub admin_village: RefDto,
    pub natural_village: RefDto,
}

/// What the print page lays out as a people's-mediation agreement (人民调解协议书).
#[utoipa::path(get, path = "/api/v1/mediation/disputes/{id}/agreements/{agreement_id}", tag = "mediation",
    params(("id" = Uuid, Path), ("agreement_id" = Uuid, Path)),
    responses((status = 200, body = AgreementPrint), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_agreement(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<AgreementPath>,
) -> ApiResult<Json<AgreementPrint>> {
    let (d, _) = readable(&state, &auth, path.id).await?;
    let db = state.store().db();
    let sessions = store::sessions(db, &d).await?;
    let agreed: Vec<&store::SessionRow> = sessions.iter().filter(|s| s.outcome == "agreed").collect();
    let (n, s) = agreed.iter().enumerate().find(|(_, s)| s.id == path.agreement_id).ok_or_else(ApiError::not_found)?;
    let party_ids = store::uuid_list(&s.agreement_party_ids);
    let parties = d.parties();
    let ids: Vec<Uuid> = vec![d.town_id, d.admin_village_id, d.natural_village_id];
    let region_names = regions::names_of(db, &ids).await?;
    let r = |id: Uuid| RefDto { id, name: region_names.get(&id).cloned().unwrap_or_default(), code: None };
    let committee = match s.level.as_str() {
        "natural_village" => {
            format!("{}人民调解委员会", region_names.get(&d.natural_village_id).cloned().unwrap_or_default())
        }
        "admin_village" => {
            format!("{}人民调解委员会", region_names.get(&d.admin_village_id).cloned().unwrap_or_default())
        }
        _ => format!("{}人民调解委员会", region_names.get(&d.town_id).cloned().unwrap_or_default()),
    };
    Ok(Json(AgreementPrint {
        agreement: AgreementDto {
            id: s.id,
            session_id: s.id,
            signed_at: s.held_at,
            level: s.level.clone(),
            terms: s.agreement_terms.clone().unwrap_or_default(),
            party_ids: party_ids.clone(),
            photos: photo_dtos(&state, d.town_id, &store::uuid_list(&s.photo_ids)).await?,
        },
        number: format!("{}-{}", d.number, n + 1),
        station_or_office: committee,
        parties: parties
            .iter()
            .filter(|p| party_ids.contains(&p.id))
            .map(|p| PrintPartyDto {
                name: p.name.clone(),
                side: p.side.clone(),
                id_number_masked: p.id_number_masked.clone(),
                address: p.address.clone(),
            })
            .collect(),
        facts: d.description.clone(),
        mediators: store::string_list(&s.mediators),
        town: r(d.town_id),
        admin_village: r(d.admin_village_id),
        natural_village: r(d.natural_village_id),
    }))
}

// ---- board and settings ----

#[derive(Debug, Serialize, ToSchema)]
pub struct BoardOfficeDto {
    pub office: String,
    pub open: u64,
    pub overdue: u64,
    pub high_risk: u64,
    pub disputes: Vec<DisputeDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BoardDto {
    pub offices: Vec<BoardOfficeDto>,
    /// At town level with no lead office yet: political-legal's to assign.
    pub unassigned: Vec<DisputeDto>,
}

async fn town_reader(state: &AppState, auth: &Auth, asked: Option<Uuid>) -> ApiResult<(Uuid, regions::RegionRow)> {
    let town_id = town_of(state, auth, asked).await?;
    let town = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    if !auth.principal.can(Permission::MediationRead, &town.place()) {
        return Err(ApiError::forbidden());
    }
    Ok((town_id, town))
}

/// The six-in-one board: open town-level disputes by office (led or collaborating), with
/// overdue and high-risk counts, and those still waiting for a lead.
#[utoipa::path(get, path = "/api/v1/mediation/board", tag = "mediation", params(TownParams),
    responses((status = 200, body = BoardDto), (status = 403, body = crate::error::ErrorBody)))]
pub async fn board(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
) -> ApiResult<Json<BoardDto>> {
    let (town_id, _) = town_reader(&state, &auth, p.town_id).await?;
    let rows = store::town_open(state.store().db(), town_id).await?;
    let dtos = dispute_dtos(&state, &rows).await?;
    let now = state.now();
    let mut offices = Vec::new();
    for o in Office::ALL {
        let mine: Vec<(&DisputeRow, &DisputeDto)> = rows
            .iter()
            .zip(dtos.iter())
            .filter(|(d, _)| d.lead_office.as_deref() == Some(o.as_str()) || d.collaborators().contains(o))
            .collect();
        offices.push(BoardOfficeDto {
            office: o.as_str().to_string(),
            open: mine.len() as u64,
            overdue: mine.iter().filter(|(d, _)| d.state != "agreed" && d.level_due_at <= now).count() as u64,
            high_risk: mine.iter().filter(|(d, _)| d.risk == "high").count() as u64,
            disputes: mine.into_iter().map(|(_, dto)| dto.clone()).collect(),
        });
    }
    let unassigned = rows.iter().zip(dtos).filter(|(d, _)| d.lead_office.is_none()).map(|(_, dto)| dto).collect();
    Ok(Json(BoardDto { offices, unassigned }))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyDto {
    pub natural_village_days: u32,
    pub admin_village_days: u32,
    pub town_days: u32,
    pub follow_up_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoutingRuleDto {
    pub flag: String,
    pub office: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediationSettingsDto {
    pub town_id: Uuid,
    pub policy: PolicyDto,
    pub routing_rules: Vec<RoutingRuleDto>,
    pub fallback: String,
    /// 0 while the defaults apply.
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    pub town_id: Option<Uuid>,
    pub version: i32,
    pub policy: PolicyDto,
    pub routing_rules: Vec<RoutingRuleDto>,
    pub fallback: String,
}

fn settings_dto(town_id: Uuid, s: &store::Settings) -> MediationSettingsDto {
    MediationSettingsDto {
        town_id,
        policy: PolicyDto {
            natural_village_days: s.policy.natural_village_days,
            admin_village_days: s.policy.admin_village_days,
            town_days: s.policy.town_days,
            follow_up_days: s.policy.follow_up_days,
        },
        routing_rules: s
            .rules
            .iter()
            .map(|r| RoutingRuleDto { flag: r.flag.as_str().to_string(), office: r.office.as_str().to_string() })
            .collect(),
        fallback: s.fallback.as_str().to_string(),
        version: s.version,
    }
}

/// The town's mediation deadlines and six-in-one routing rules.
#[utoipa::path(get, path = "/api/v1/mediation/settings", tag = "mediation", params(TownParams),
    responses((status = 200, body = MediationSettingsDto), (status = 403, body = crate::error::ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
) -> ApiResult<Json<MediationSettingsDto>> {
    let (town_id, _) = town_reader(&state, &auth, p.town_id).await?;
    Ok(Json(settings_dto(town_id, &store::settings(state.store().db(), town_id).await?)))
}

/// Change the deadlines and routing rules (`mediation.manage`); a stale version is 409.
#[utoipa::path(put, path = "/api/v1/mediation/settings", tag = "mediation", request_body = SettingsBody,
    responses((status = 200, body = MediationSettingsDto), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult<Json<MediationSettingsDto>> {
    let (town_id, town) = town_reader(&state, &auth, body.town_id).await?;
    if !auth.principal.can(Permission::MediationManage, &town.place()) {
        return Err(ApiError::forbidden());
    }
    let policy = DeadlinePolicy {
        natural_village_days: body.policy.natural_village_days,
        admin_village_days: body.policy.admin_village_days,
        town_days: body.policy.town_days,
        follow_up_days: body.policy.follow_up_days,
    };
    policy.validate().map_err(|e| {
        ApiError::field(
            format!("policy.{}", e.field),
            Rule::OutOfRange {
                min: i64::from(wuwei_domain::mediation::MIN_POLICY_DAYS),
                max: i64::from(wuwei_domain::mediation::MAX_POLICY_DAYS),
            },
        )
    })?;
    if body.routing_rules.len() > six_in_one::MAX_ROUTING_RULES {
        return Err(ApiError::field(
            "routing_rules",
            Rule::OutOfRange { min: 0, max: six_in_one::MAX_ROUTING_RULES as i64 },
        ));
    }
    let mut rules = Vec::new();
    for (i, r) in body.routing_rules.iter().enumerate() {
        let flag = parse_named(
            &format!("routing_rules[{i}].flag"),
            &r.flag,
            RoutingFlag::parse,
            &names(RoutingFlag::ALL, RoutingFlag::as_str),
        )?;
        let office = parse_named(
            &format!("routing_rules[{i}].office"),
            &r.office,
            Office::parse,
            &names(Office::ALL, Office::as_str),
        )?;
        rules.push(RoutingRule { flag, office });
    }
    six_in_one::validate_rules(&rules).map_err(|p| match p {
        six_in_one::RulesProblem::TooMany => {
            ApiError::field("routing_rules", Rule::OutOfRange { min: 0, max: six_in_one::MAX_ROUTING_RULES as i64 })
        }
        six_in_one::RulesProblem::Duplicate { index } => {
            ApiError::field(format!("routing_rules[{index}]"), Rule::Duplicate)
        }
    })?;
    let fallback = parse_named("fallback", &body.fallback, Office::parse, &names(Office::ALL, Office::as_str))?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let s = store::put_settings(
        &mut tx,
        &auth.actor(),
        town_id,
        &store::Settings { policy, rules, fallback, version: body.version },
        body.version,
        now,
    )
    .await?;
    tx.commit(now).await?;
    Ok(Json(settings_dto(town_id, &s)))
}

// ---- figures ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresParams {
    pub town_id: Option<Uuid>,
    /// First day (China time), default 1 January of this year.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; default today.
    pub to: Option<NaiveDate>,
    pub admin_village_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LevelCountDto {
    pub level: String,
    /// Disputes that were handled at this level (registered there or arrived there).
    pub received: u64,
    /// Settled by an agreement at this level.
    pub settled: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TypeCountDto {
    pub dispute_type: String,
    pub received: u64,
    pub settled: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VillageCountDto {
    pub admin_village: RefDto,
    pub received: u64,
    pub settled: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthCountDto {
    pub month: String,
    pub received: u64,
    pub settled: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationActivityDto {
    pub station: RefDto,
    pub activities: u64,
    pub people_reached: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MediationFiguresDto {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub received: u64,
    /// Settled by an agreement (the article's "resolved").
    pub resolved: u64,
    pub referred: u64,
    pub open: u64,
    pub by_level: Vec<LevelCountDto>,
    pub by_type: Vec<TypeCountDto>,
    pub by_village: Vec<VillageCountDto>,
    pub by_month: Vec<MonthCountDto>,
    /// 小事不出村: share of concluded disputes settled at the natural village (0..1).
    pub village_share: Option<f64>,
    pub admin_village_share: Option<f64>,
    /// 大事不出镇: settled at or below the town.
    pub town_share: Option<f64>,
    pub median_days_to_agreement: Option<f64>,
    pub holding_share: Option<f64>,
    pub follow_ups: u64,
    pub stations: Vec<StationActivityDto>,
}

fn china_midnight(d: NaiveDate) -> DateTime<Utc> {
    let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.from_local_datetime(&local).single())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// A figures period is at most this long.
const MAX_FIGURE_DAYS: i64 = 3 * 366;

async fn compute_figures(state: &AppState, auth: &Auth, p: &FiguresParams) -> ApiResult<MediationFiguresDto> {
    let (town_id, _) = town_reader(state, auth, p.town_id).await?;
    let today = wuwei_domain::case::local_day(state.now());
    let from = p.from.unwrap_or_else(|| NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today));
    let to = p.to.unwrap_or(today);
    if to < from {
        return Err(ApiError::field("to", Rule::NotAllowed { reason: "before_from" }));
    }
    if (to - from).num_days() > MAX_FIGURE_DAYS {
        return Err(ApiError::field("to", Rule::OutOfRange { min: 0, max: MAX_FIGURE_DAYS }));
    }
    let db = state.store().db();
    let rows = store::figure_rows(
        db,
        town_id,
        p.admin_village_id,
        china_midnight(from),
        china_midnight(to + Duration::days(1)),
    )
    .await?;
    let mut records: Vec<(Uuid, DisputeRecord, Vec<MediationLevel>)> = Vec::new();
    for (d, history) in &rows {
        let Some(rec) = DisputeRecord::from_history(d.dispute_type()?, history) else { continue };
        let mut levels: Vec<MediationLevel> = history.iter().map(|e| e.level_to).collect();
        levels.sort();
        levels.dedup();
        records.push((d.admin_village_id, rec, levels));
    }
    let all: Vec<DisputeRecord> = records.iter().map(|r| r.1.clone()).collect();
    let f = MediationFigures::over(&all);
    let by_level = MediationLevel::ALL
        .iter()
        .map(|l| LevelCountDto {
            level: l.as_str().to_string(),
            received: records.iter().filter(|r| r.2.contains(l)).count() as u64,
            settled: f.settled_at.get(l).copied().unwrap_or(0),
        })
        .collect();
    let by_type = f
        .by_type
        .iter()
        .map(|(t, c)| TypeCountDto { dispute_type: t.as_str().to_string(), received: c.received, settled: c.settled })
        .collect();
    let by_month = f
        .by_month
        .iter()
        .map(|((y, m), c)| MonthCountDto { month: format!("{y:04}-{m:02}"), received: c.received, settled: c.settled })
        .collect();
    let mut villages: Vec<Uuid> = records.iter().map(|r| r.0).collect();
    villages.sort();
    villages.dedup();
    let village_names = regions::names_of(db, &villages).await?;
    let by_village = villages
        .iter()
        .map(|av| {
            let mine: Vec<&DisputeRecord> = records.iter().filter(|r| r.0 == *av).map(|r| &r.1).collect();
            VillageCountDto {
                admin_village: RefDto { id: *av, name: village_names.get(av).cloned().unwrap_or_default(), code: None },
                received: mine.len() as u64,
                settled: mine.iter().filter(|r| r.is_settled()).count() as u64,
            }
        })
        .collect();
    let totals = store::activity_totals(db, town_id, from, to).await?;
    let (station_rows, _) = store::stations(
        db,
        &store::StationFilter { town_id, admin_village_id: p.admin_village_id, natural_village_ids: None, q: None },
        0,
        1000,
    )
    .await?;
    let mut stations: Vec<StationActivityDto> = station_rows
        .iter()
        .map(|s| {
            let (a, people) = totals.get(&s.id).copied().unwrap_or((0, 0));
            StationActivityDto {
                station: RefDto { id: s.id, name: s.name.clone(), code: None },
                activities: a,
                people_reached: people,
            }
        })
        .collect();
    stations.sort_by(|a, b| b.activities.cmp(&a.activities).then(a.station.name.cmp(&b.station.name)));
    Ok(MediationFiguresDto {
        from,
        to,
        received: f.totals.received,
        resolved: f.totals.settled,
        referred: f.totals.referred,
        open: f.totals.open,
        by_level,
        by_type,
        by_village,
        by_month,
        village_share: f.village_share(),
        admin_village_share: f.admin_village_share(),
        town_share: f.town_share(),
        median_days_to_agreement: f.median_days_to_agreement,
        holding_share: f.holding_share(),
        follow_ups: f.follow_ups_holding + f.follow_ups_broken,
        stations,
    })
}

/// Disputes received and settled by level, type, village and month; the shares settled at
/// each level; median days to agreement; agreements holding at follow-up; station activity.
#[utoipa::path(get, path = "/api/v1/mediation/figures", tag = "mediation", params(FiguresParams),
    responses((status = 200, body = MediationFiguresDto), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn figures(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<FiguresParams>,
) -> ApiResult<Json<MediationFiguresDto>> {
    Ok(Json(compute_figures(&state, &auth, &p).await?))
}

/// A sheet of the workbook: its name, its first column's heading, and (key, received, settled) rows.
type Sheet<'a> = (&'a str, &'a str, Vec<(String, u64, u64)>);

fn workbook(f: &MediationFiguresDto) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.0%");
    let ws = wb.add_worksheet();
    ws.set_name("汇总 Summary")?;
    ws.write_string_with_format(0, 0, format!("矛盾纠纷调解统计 {} — {}", f.from, f.to), &bold)?;
    let counts: [(&str, u64); 5] = [
        ("受理 Received", f.received),
        ("调解成功 Resolved", f.resolved),
        ("移交 Referred", f.referred),
        ("在办 Open", f.open),
        ("回访 Follow-ups", f.follow_ups),
    ];
    for (i, (label, v)) in counts.iter().enumerate() {
        ws.write_string(i as u32 + 2, 0, *label)?;
        ws.write_number(i as u32 + 2, 1, *v as f64)?;
    }
    let shares: [(&str, Option<f64>); 4] = [
        ("小事不出村 Settled in the natural village", f.village_share),
        ("行政村及以下 At or below the admin village", f.admin_village_share),
        ("大事不出镇 At or below the town", f.town_share),
        ("协议履行率 Agreements holding", f.holding_share),
    ];
    for (i, (label, v)) in shares.iter().enumerate() {
        let r = i as u32 + 8;
        ws.write_string(r, 0, *label)?;
        match v {
            Some(v) => ws.write_number_with_format(r, 1, *v, &pct)?,
            None => ws.write_string(r, 1, "—")?,
        };
    }
    ws.write_string(12, 0, "调解成功中位天数 Median days to agreement")?;
    match f.median_days_to_agreement {
        Some(d) => ws.write_number(12, 1, d)?,
        None => ws.write_string(12, 1, "—")?,
    };
    ws.set_column_width(0, 44)?;

    let sheets: [Sheet; 4] = [
        ("层级 By level", "层级 Level", f.by_level.iter().map(|l| (l.level.clone(), l.received, l.settled)).collect()),
        (
            "类型 By type",
            "类型 Type",
            f.by_type.iter().map(|t| (t.dispute_type.clone(), t.received, t.settled)).collect(),
        ),
        (
            "村 By village",
            "行政村 Admin village",
            f.by_village.iter().map(|v| (v.admin_village.name.clone(), v.received, v.settled)).collect(),
        ),
        ("月份 By month", "月份 Month", f.by_month.iter().map(|m| (m.month.clone(), m.received, m.settled)).collect()),
    ];
    for (name, first, rows) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(name)?;
        for (c, h) in [first, "受理 Received", "调解成功 Settled"].iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, (k, a, b)) in rows.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write_string(r, 0, k)?;
            ws.write_number(r, 1, *a as f64)?;
            ws.write_number(r, 2, *b as f64)?;
        }
        ws.set_column_width(0, 24)?;
    }
    let ws = wb.add_worksheet();
    ws.set_name("工作站 Stations")?;
    for (c, h) in ["工作站 Station", "活动 Activities", "覆盖人数 People reached"].iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, s) in f.stations.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &s.station.name)?;
        ws.write_number(r, 1, s.activities as f64)?;
        ws.write_number(r, 2, s.people_reached as f64)?;
    }
    ws.set_column_width(0, 28)?;
    wb.save_to_buffer()
}

/// The same figures as an .xlsx workbook.
#[utoipa::path(get, path = "/api/v1/mediation/figures.xlsx", tag = "mediation", params(FiguresParams),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn figures_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<FiguresParams>,
) -> ApiResult<Response> {
    let f = compute_figures(&state, &auth, &p).await?;
    let bytes = workbook(&f).map_err(|e| {
        tracing::error!(error = %e, "cannot write the mediation figures workbook");
        ApiError::internal()
    })?;
    let stem = format!("{}-{}", f.from, f.to);
    crate::routes::points::xlsx_response(
        bytes,
        &format!("mediation-figures-{stem}.xlsx"),
        &format!("矛盾调解统计-{stem}.xlsx"),
    )
}

// ---- the sweeper's step (called by jobs) ----

/// Disputes one sweep looks at, at most.
pub const SWEEP_BATCH: u64 = 200;

/// Sweep the disputes that are due: escalate those whose level's deadline passed below the
/// town, card the others, remind holders of due follow-ups; each dispute in its own transaction
/// so one failure does not hold up the rest. Returns how many were looked at.
pub async fn sweep(state: &AppState, now: DateTime<Utc>) -> ApiResult<u64> {
    let due = store::due_for_sweep(state.store().db(), now, SWEEP_BATCH).await?;
    let mut n = 0;
    for (town_id, id) in due {
        let mut tx = state.store().begin().await?;
        let swept = match store::sweep_one(&mut tx, town_id, id, now).await {
            Ok(s) => s,
            Err(e) => {
                let err = mediation_error(e);
                tracing::warn!(dispute = %id, code = err.code, "a dispute could not be swept");
                continue;
            }
        };
        use wuwei_domain::mediation::deadline::SweepAction;
        match (&swept.escalated, swept.action) {
            (Some(w), _) => after_write(state, &tx, now, w).await?,
            (None, SweepAction::Urge) => {
                let users = holders(&tx, &swept.dispute).await?;
                notify_users(state, &tx, now, &swept.dispute, "dispute_urge", false, &users).await?;
            }
            (None, SweepAction::RedCard) => {
                let mut users = holders(&tx, &swept.dispute).await?;
                users.extend(accounts::users_with_role_in_town(tx.db(), &[Role::PoliticalLegal], town_id).await?);
                notify_users(state, &tx, now, &swept.dispute, "dispute_red_card", true, &users).await?;
            }
            (None, SweepAction::FollowUpDue) => {
                let users = holders(&tx, &swept.dispute).await?;
                notify_users(state, &tx, now, &swept.dispute, "dispute_follow_up_due", false, &users).await?;
            }
            _ => {}
        }
        tx.commit(now).await?;
        n += 1;
    }
    Ok(n)
}

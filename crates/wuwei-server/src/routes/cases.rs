//! Cases over HTTP: report, the queue, detail with timeline, actions, supervision, the live
//! stream, the map layer; categories and handling units.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission};
use wuwei_domain::case::{self as rules, Action, Card, CaseState, DeadlinePolicy, Priority, Source, UnitKind};
use wuwei_domain::validate::{self, Issues, Rule};
use wuwei_store::cases::{self, CaseFilter, CaseRow, CaseSort};
use wuwei_store::catalog::{self, CategoryInput, CategoryRow, UnitRow};
use wuwei_store::{accounts, idempotency, regions};

use crate::auth::Auth;
use crate::caseflow::{self, ActionRequest, CaseInput};
use crate::dto::{Page, PageParams, RefDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, IdPath, RawBody, parse_json};
use crate::state::AppState;

// ---- shapes ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryRef {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitRef {
    pub id: Uuid,
    /// `grid`, `village_committee`, `town_office`, `enforcement_team` or `county`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: Uuid,
    pub town_id: Uuid,
    /// Readable number, e.g. `DW-20261128-0042`.
    pub number: String,
    pub category: CategoryRef,
    /// `urgent`, `high` or `normal`.
    pub priority: String,
    pub title: String,
    /// `collected`, `reported`, `accepted`, `dispatched`, `in_progress`, `resolved`, `closed`, `rejected` or `merged`.
    pub state: String,
    /// `none`, `yellow` (75% of the time used) or `red` (overdue).
    pub card: String,
    pub source: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub admin_village: Option<RefDto>,
    pub natural_village: Option<RefDto>,
    pub grid: Option<RefDto>,
    pub unit: Option<UnitRef>,
    pub escalation_level: i32,
    pub created_at: DateTime<Utc>,
    pub reported_at: Option<DateTime<Utc>>,
    /// The running deadline (to accept while reported, to resolve after).
    pub due_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub possible_duplicate_of: Option<Uuid>,
    pub rating: Option<i16>,
    pub photo_count: i32,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    /// An action (`accept`, `dispatch`, ...) or a system event (`yellow_card`, `red_card`,
    /// `escalate`, `supervise`, `attach`, `merged_in`).
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub note: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentDto {
    pub id: Uuid,
    /// `photo` or `voice`.
    pub kind: String,
    pub mime: String,
    pub size_bytes: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i32>,
    pub url: String,
    pub thumbnail_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisionDto {
    pub id: Uuid,
    pub issued_by_name: String,
    pub note: String,
    pub due_at: DateTime<Utc>,
    pub card: String,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReporterDto {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub from_case_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub description: String,
    pub reporter: ReporterDto,
    /// Reporters of cases merged into this one.
    pub merged_reporters: Vec<ReporterDto>,
    pub handler_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub result_note: Option<String>,
    pub rating_comment: Option<String>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub merged_into_id: Option<Uuid>,
    pub reopen_count: i32,
    pub timeline: Vec<TimelineEntry>,
    pub attachments: Vec<AttachmentDto>,
    pub supervisions: Vec<SupervisionDto>,
    /// What the caller may do now.
    pub allowed_actions: Vec<String>,
    /// In which capacities: `reporter`, `dispatcher`, `handler`.
    pub capacities: Vec<String>,
    /// Tags from where the case lies, e.g. `protected_farmland` (issue 4's land-use layers).
    pub tags: Vec<String>,
    /// Camera alarms counted on this case (folded bursts); null for cases not opened by an alarm.
    pub alarm_count: Option<i32>,
}

/// Names for a page of cases, looked up once.
struct Names {
    categories: HashMap<Uuid, CategoryRow>,
    units: HashMap<Uuid, UnitRow>,
    regions: HashMap<Uuid, String>,
}

async fn names(state: &AppState, rows: &[CaseRow]) -> ApiResult<Names> {
    let db = state.store().db();
    let mut towns: Vec<Uuid> = rows.iter().map(|c| c.town_id).collect();
    towns.sort();
    towns.dedup();
    let mut categories = HashMap::new();
    let mut units = HashMap::new();
    for t in towns {
        categories.extend(catalog::categories(db, t).await?.into_iter().map(|c| (c.id, c)));
        units.extend(catalog::units(db, t).await?.into_iter().map(|u| (u.id, u)));
    }
    let mut ids: Vec<Uuid> =
        rows.iter().flat_map(|c| [c.admin_village_id, c.natural_village_id, c.grid_id]).flatten().collect();
    ids.sort();
    ids.dedup();
    Ok(Names { categories, units, regions: regions::names_of(db, &ids).await? })
}

fn summary(c: &CaseRow, n: &Names) -> CaseSummary {
    let region = |id: Option<Uuid>| {
        id.map(|id| RefDto { id, name: n.regions.get(&id).cloned().unwrap_or_default(), code: None })
    };
    let category = n.categories.get(&c.category_id);
    CaseSummary {
        id: c.id,
        town_id: c.town_id,
        number: c.number.clone(),
        category: CategoryRef {
            id: c.category_id,
            code: category.map(|k| k.code.clone()).unwrap_or_default(),
            name: category.map(|k| k.name.clone()).unwrap_or_default(),
            name_en: category.map(|k| k.name_en.clone()).unwrap_or_default(),
        },
        priority: c.priority.clone(),
        title: c.title.clone(),
        state: c.state.clone(),
        card: c.card.clone(),
        source: c.source.clone(),
        lat: c.lat,
        lon: c.lon,
        address: c.address.clone(),
        admin_village: region(c.admin_village_id),
        natural_village: region(c.natural_village_id),
        grid: region(c.grid_id),
        unit: c.unit_id.and_then(|u| n.units.get(&u)).map(|u| UnitRef {
            id: u.id,
            kind: u.kind.clone(),
            name: u.name.clone(),
        }),
        escalation_level: c.escalation_level,
        created_at: c.created_at,
        reported_at: c.reported_at,
        due_at: c.due_at,
        closed_at: c.closed_at,
        possible_duplicate_of: c.possible_duplicate_of,
        rating: c.rating,
        photo_count: c.photo_count,
        updated_at: c.updated_at,
        version: c.version,
    }
}

pub async fn summaries(state: &AppState, rows: &[CaseRow]) -> ApiResult<Vec<CaseSummary>> {
    let n = names(state, rows).await?;
    Ok(rows.iter().map(|c| summary(c, &n)).collect())
}

/// Mask all but the last four digits, for callers who need not call the reporter.
fn mask_phone(p: &str) -> String {
    let digits = p.chars().count();
    p.chars().enumerate().map(|(i, ch)| if i + 4 < digits && ch.is_ascii_digit() { '*' } else { ch }).collect()
}

pub async fn detail(state: &AppState, auth: &Auth, c: CaseRow) -> ApiResult<CaseDetail> {
    let db = state.store().db();
    let capacities = caseflow::capacities(state, &auth.principal, &c).await?;
    let events = cases::timeline(db, c.town_id, c.id).await?;
    // Entries name people as people know them: the account's display name (the login name is
    // what the entry recorded, and what the audit log keeps).
    let mut actor_ids: Vec<Uuid> = events.iter().filter_map(|e| e.actor_id).collect();
    actor_ids.sort_unstable();
    actor_ids.dedup();
    let names: std::collections::HashMap<Uuid, String> =
        accounts::users_by_ids(db, &actor_ids).await?.into_iter().map(|u| (u.id, u.display_name)).collect();
    let timeline = events.into_iter().map(|e| timeline_entry(e, &names)).collect();
    let attachments = cases::attachments(db, c.town_id, c.id)
        .await?
        .into_iter()
        .map(|a| AttachmentDto {
            url: format!("/api/v1/attachments/{}/content", a.id),
            thumbnail_url: a.thumb_sha256.as_ref().map(|_| format!("/api/v1/attachments/{}/thumbnail", a.id)),
            id: a.id,
            kind: a.kind,
            mime: a.mime,
            size_bytes: a.size_bytes,
            width: a.width,
            height: a.height,
            duration_ms: a.duration_ms,
            created_at: a.created_at,
        })
        .collect();
    let supervisions = cases::supervisions(db, c.town_id, c.id)
        .await?
        .into_iter()
        .map(|s| SupervisionDto {
            id: s.id,
            issued_by_name: s.issued_by_name,
            note: s.note,
            due_at: s.due_at,
            card: s.card,
            fulfilled_at: s.fulfilled_at,
            created_at: s.created_at,
        })
        .collect();
    let parts = DetailParts {
        summary: summaries(state, std::slice::from_ref(&c)).await?.pop().ok_or_else(ApiError::internal)?,
        capacities,
        timeline,
        attachments,
        supervisions,
        merged_reporters: cases::reporters(db, c.town_id, c.id).await?,
        tags: wuwei_store::layers::case_tags(db, c.town_id, c.id).await?,
        alarm_count: wuwei_store::cameras::alarm_count_of_case(db, c.town_id, c.id).await?,
    };
    Ok(assemble(c, parts))
}

/// The answer to a new case, from what the write batch knew: its only timeline entry, its
/// category, unit and tags, no attachments, supervisions or merged reporters yet. The region
/// names come from the locate index's read and the principal's units from their cache
/// (`caseflow::member_units`), so it usually reads nothing.
pub async fn detail_of_new(state: &AppState, auth: &Auth, new: caseflow::Created) -> ApiResult<CaseDetail> {
    let caseflow::Created { row: c, event, category, unit, tags, city_id } = new;
    let capacities = caseflow::capacities_on_new(state, &auth.principal, &c, unit.as_ref(), city_id).await?;
    let mut names = std::collections::HashMap::new();
    if let (Some(user), Some(id)) = (&auth.user, event.actor_id)
        && user.id == id
    {
        names.insert(id, user.display_name.clone());
    }
    let ids: Vec<Uuid> = [c.admin_village_id, c.natural_village_id, c.grid_id].into_iter().flatten().collect();
    let n = Names {
        categories: HashMap::from([(category.id, category)]),
        units: unit.map(|u| (u.id, u)).into_iter().collect(),
        regions: state.0.locator.names(state.store(), c.town_id, &ids).await?,
    };
    let parts = DetailParts {
        summary: summary(&c, &n),
        capacities,
        timeline: vec![timeline_entry(event, &names)],
        attachments: Vec::new(),
        supervisions: Vec::new(),
        merged_reporters: Vec::new(),
        tags,
        alarm_count: None,
    };
    Ok(assemble(c, parts))
}

fn timeline_entry(e: cases::EventRow, names: &HashMap<Uuid, String>) -> TimelineEntry {
    TimelineEntry {
        at: e.at,
        actor_id: e.actor_id,
        actor_name: e.actor_id.and_then(|id| names.get(&id).cloned()).unwrap_or(e.actor_name),
        action: e.action,
        from_state: e.from_state,
        to_state: e.to_state,
        note: e.note,
        data: e.data.and_then(|d| serde_json::from_str(&d).ok()),
    }
}

/// What a case's detail shows besides the row itself.
struct DetailParts {
    summary: CaseSummary,
    capacities: Vec<rules::Capacity>,
    timeline: Vec<TimelineEntry>,
    attachments: Vec<AttachmentDto>,
    supervisions: Vec<SupervisionDto>,
    merged_reporters: Vec<cases::ReporterRow>,
    tags: Vec<String>,
    alarm_count: Option<i32>,
}

fn assemble(c: CaseRow, p: DetailParts) -> CaseDetail {
    let may_call = p.capacities.iter().any(|k| matches!(k, rules::Capacity::Dispatcher | rules::Capacity::Handler));
    let phone = |p: &Option<String>| p.as_ref().map(|p| if may_call { p.clone() } else { mask_phone(p) });
    let merged_reporters = p
        .merged_reporters
        .into_iter()
        .map(|r| ReporterDto { name: r.name, phone: phone(&r.phone), from_case_id: Some(r.from_case_id) })
        .collect();
    let allowed = rules::allowed_actions(c.state(), &p.capacities);
    CaseDetail {
        summary: p.summary,
        description: c.description.clone(),
        reporter: ReporterDto { name: c.reporter_name.clone(), phone: phone(&c.reporter_phone), from_case_id: None },
        merged_reporters,
        handler_id: c.handler_id,
        household_id: c.household_id,
        result_note: c.result_note.clone(),
        rating_comment: c.rating_comment.clone(),
        accepted_at: c.accepted_at,
        dispatched_at: c.dispatched_at,
        started_at: c.started_at,
        resolved_at: c.resolved_at,
        merged_into_id: c.merged_into_id,
        reopen_count: c.reopen_count,
        timeline: p.timeline,
        attachments: p.attachments,
        supervisions: p.supervisions,
        allowed_actions: allowed.iter().map(|a| a.as_str().to_string()).collect(),
        capacities: p.capacities.iter().map(|k| k.as_str().to_string()).collect(),
        tags: p.tags,
        alarm_count: p.alarm_count,
    }
}

// ---- reporting ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCase {
    /// The town; optional when the location or the reporter's only town says which.
    pub town_id: Option<Uuid>,
    pub category_id: Uuid,
    /// `urgent`, `high` or `normal` (default).
    pub priority: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub household_id: Option<Uuid>,
    /// Where it came from (default: from the reporter's role).
    pub source: Option<String>,
    /// Save as collected (a draft) instead of reporting.
    #[serde(default)]
    pub draft: bool,
    /// For cases taken on someone else's behalf (a hotline call).
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
}

fn parse_create(req: CreateCase) -> ApiResult<CaseInput> {
    let mut issues = Issues::default();
    let priority = match req.priority.as_deref() {
        None => Some(Priority::Normal),
        Some(p) => {
            let p = Priority::parse(p);
            if p.is_none() {
                issues.push("priority", Rule::OneOf { allowed: Priority::names() });
            }
            p
        }
    };
    let source = match req.source.as_deref() {
        None => None,
        Some(s) => {
            let s = Source::parse(s);
            if s.is_none() {
                issues.push("source", Rule::OneOf { allowed: Source::names() });
            }
            s
        }
    };
    let title = issues.take(validate::text("title", &req.title, 128));
    let description = issues.take(match req.description.as_deref() {
        None => Ok(String::new()),
        Some(d) if d.chars().count() > 5000 => {
            Err(validate::FieldIssue::new("description", Rule::TooLong { max: 5000 }))
        }
        Some(d) => Ok(d.trim().to_string()),
    });
    let address = issues.take(validate::optional_text("address", req.address.as_deref(), 255));
    let reporter_name = issues.take(validate::optional_text("reporter_name", req.reporter_name.as_deref(), 64));
    let reporter_phone = issues.take(validate::phone("reporter_phone", req.reporter_phone.as_deref()));
    if let Some(lat) = req.lat
        && (!lat.is_finite() || !(-90.0..=90.0).contains(&lat))
    {
        issues.push("lat", Rule::OutOfRange { min: -90, max: 90 });
    }
    if let Some(lon) = req.lon
        && (!lon.is_finite() || !(-180.0..=180.0).contains(&lon))
    {
        issues.push("lon", Rule::OutOfRange { min: -180, max: 180 });
    }
    if req.lat.is_some() != req.lon.is_some() {
        issues.push(if req.lat.is_some() { "lon" } else { "lat" }, Rule::Required);
    }
    issues.into_result()?;
    let (Some(priority), Some(title), Some(description), Some(address), Some(reporter_name), Some(reporter_phone)) =
        (priority, title, description, address, reporter_name, reporter_phone)
    else {
        return Err(ApiError::internal());
    };
    Ok(CaseInput {
        town_id: req.town_id,
        category_id: req.category_id,
        priority,
        title,
        description,
        lat: req.lat,
        lon: req.lon,
        address,
        household_id: req.household_id,
        source,
        draft: req.draft,
        reporter_name,
        reporter_phone,
    })
}

/// Report a case. Send `Idempotency-Key` to make retries safe: a retry with the same key gets
/// the first answer and never a second case.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = CreateCase,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 128 characters; retries with the same key return the first result")),
    responses((status = 201, body = CaseDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "The key was used for a different request"),
        (status = 422, body = crate::error::ErrorBody, description = "Unknown category, location outside the town, ..."),
        (status = 503, body = crate::error::ErrorBody, description = "busy: too many reports are waiting (4,096); retry with the same Idempotency-Key after Retry-After")))]
pub async fn create_case(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    crate::extract::require_json(&headers)?;
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().map(str::trim).unwrap_or("");
            if k.is_empty() || k.len() > 128 {
                return Err(
                    ApiError::bad_request("invalid_header").with_detail("Idempotency-Key: 1 to 128 visible characters")
                );
            }
            Some(caseflow::IdemKey {
                key_hash: hex::encode(Sha256::digest(format!("{}:{}", auth.principal.user_id, k).as_bytes())),
                request_hash: hex::encode(Sha256::digest(&body)),
            })
        }
    };
    if let Some(k) = &idem
        && let Some(first) = replay(&state, &auth, k).await?
    {
        return Ok(first);
    }
    auth.require_any(Permission::CasesReport)?;
    let input = parse_create(parse_json(&body)?)?;
    match caseflow::create(&state, &auth.principal, auth.user.as_ref(), &auth.actor(), input, idem.as_ref()).await {
        Ok(new) => Ok((StatusCode::CREATED, Json(detail_of_new(&state, &auth, new).await?)).into_response()),
        Err(e) => {
            // A concurrent twin with the same key won the race: answer as it did.
            if let Some(k) = &idem
                && let Some(first) = replay(&state, &auth, k).await?
            {
                return Ok(first);
            }
            Err(e)
        }
    }
}

/// The answer to a repeated key: the case the first request made, as it is now.
async fn replay(state: &AppState, auth: &Auth, k: &caseflow::IdemKey) -> ApiResult<Option<Response>> {
    match idempotency::find(state.store().db(), &k.key_hash).await? {
        Some(first) if first.request_hash == k.request_hash => {
            let id = Uuid::parse_str(&first.response_body).map_err(|_| ApiError::internal())?;
            let c = caseflow::readable(state, &auth.principal, id).await?;
            let mut resp = (StatusCode::CREATED, Json(detail(state, auth, c).await?)).into_response();
            resp.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
            Ok(Some(resp))
        }
        Some(_) => Err(ApiError::conflict("idempotency_conflict")),
        None => Ok(None),
    }
}

// ---- the queue ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    pub town_id: Option<Uuid>,
    /// Comma-separated states, or `open` for every open state.
    pub state: Option<String>,
    pub category_id: Option<Uuid>,
    pub priority: Option<String>,
    /// `yellow` or `red`.
    pub card: Option<String>,
    pub unit_id: Option<Uuid>,
    /// Inside this region (area, village or grid).
    pub region_id: Option<Uuid>,
    pub source: Option<String>,
    /// `reported` (mine) or `assigned` (my units' tasks).
    pub mine: Option<String>,
    /// Only cases past their deadline.
    pub overdue: Option<bool>,
    /// Only cases under a supervision order (督办) not yet fulfilled.
    pub supervised: Option<bool>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Part of the number, title or address.
    pub q: Option<String>,
    /// `due` (default: nearest deadline first), `newest` or `oldest`.
    pub sort: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

fn bad_query(field: &'static str, rule: Rule) -> ApiError {
    let mut e = ApiError::field(field, rule);
    e.status = StatusCode::BAD_REQUEST;
    e.code = "invalid_query";
    e
}

/// Cases the caller may see, filtered; nearest deadline first by default.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseListParams),
    responses((status = 200, body = Page<CaseSummary>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_cases(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<CaseListParams>,
) -> ApiResult<Json<Page<CaseSummary>>> {
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    let mut filter = CaseFilter { town_id: p.town_id, category_ids: Vec::new(), ..CaseFilter::default() };
    if let Some(s) = p.state.as_deref() {
        for part in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            if part == "open" {
                filter.states.extend(CaseState::ALL.iter().filter(|s| s.is_open()));
            } else {
                filter.states.push(
                    CaseState::parse(part)
                        .ok_or_else(|| bad_query("state", Rule::OneOf { allowed: CaseState::names() }))?,
                );
            }
        }
    }
    if let Some(c) = p.category_id {
        // A category includes its sub-categories.
        let town_rows = match p.town_id {
            Some(t) => catalog::categories(state.store().db(), t).await?,
            None => match catalog::category_by_id(state.store().db(), c).await? {
                Some(k) => catalog::categories(state.store().db(), k.town_id).await?,
                None => Vec::new(),
            },
        };
        filter.category_ids.push(c);
        filter.category_ids.extend(town_rows.iter().filter(|k| k.parent_id == Some(c)).map(|k| k.id));
    }
    filter.priority = p
        .priority
        .as_deref()
        .map(|x| Priority::parse(x).ok_or_else(|| bad_query("priority", Rule::OneOf { allowed: Priority::names() })))
        .transpose()?;
    filter.card = p
        .card
        .as_deref()
        .map(|x| Card::parse(x).ok_or_else(|| bad_query("card", Rule::OneOf { allowed: Card::names() })))
        .transpose()?;
    filter.source = p
        .source
        .as_deref()
        .map(|x| Source::parse(x).ok_or_else(|| bad_query("source", Rule::OneOf { allowed: Source::names() })))
        .transpose()?;
    filter.unit_id = p.unit_id;
    if let Some(r) = p.region_id {
        filter.region = match regions::region(state.store().db(), r).await? {
            Some(row) => row.kind().map(|k| (k.level(), row.id)),
            None => Some((Level::City, r)),
        };
    }
    filter.supervised = p.supervised == Some(true);
    if p.overdue == Some(true) {
        filter.overdue_at = Some(state.now());
    }
    filter.from = p.from;
    filter.to = p.to;
    filter.q = p.q.map(|q| q.chars().take(64).collect());
    let mut visibility = caseflow::visibility(&state, &auth.principal).await?;
    match p.mine.as_deref() {
        None => {}
        Some("reported") => filter.reporter_id = Some(auth.principal.user_id),
        Some("assigned") => {
            let units = caseflow::handler_units(&state, &auth.principal).await?;
            visibility = wuwei_store::cases::CaseVisibility { unit_ids: units, ..Default::default() };
        }
        Some(_) => return Err(bad_query("mine", Rule::OneOf { allowed: vec!["reported".into(), "assigned".into()] })),
    }
    let sort = match p.sort.as_deref() {
        None | Some("due") => CaseSort::Due,
        Some("newest") => CaseSort::Newest,
        Some("oldest") => CaseSort::Oldest,
        Some(_) => {
            return Err(bad_query(
                "sort",
                Rule::OneOf { allowed: vec!["due".into(), "newest".into(), "oldest".into()] },
            ));
        }
    };
    let (rows, total) =
        cases::list_cases(state.store().db(), &filter, &visibility, sort, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(summaries(&state, &rows).await?, page, total)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TownParam {
    pub town_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueCounts {
    /// Open cases (and drafts) by state.
    pub by_state: HashMap<String, u64>,
    pub yellow: u64,
    pub red: u64,
    pub open: u64,
}

/// Counts for the queue's tabs.
#[utoipa::path(get, path = "/api/v1/cases/counts", tag = "cases", params(TownParam), responses((status = 200, body = QueueCounts)))]
pub async fn counts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParam>,
) -> ApiResult<Json<QueueCounts>> {
    let visibility = caseflow::visibility(&state, &auth.principal).await?;
    let c = cases::queue_counts(state.store().db(), p.town_id, &visibility).await?;
    let open = c.by_state.iter().filter(|(s, _)| s.is_open()).map(|(_, n)| n).sum();
    Ok(Json(QueueCounts {
        by_state: c.by_state.into_iter().map(|(s, n)| (s.as_str().to_string(), n)).collect(),
        yellow: c.yellow,
        red: c.red,
        open,
    }))
}

/// One case with its timeline, attachments, supervision orders and the actions the caller may take.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_case(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<CaseDetail>> {
    let c = caseflow::readable(&state, &auth.principal, id).await?;
    Ok(Json(detail(&state, &auth, c).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseAction {
    /// `report`, `accept`, `dispatch`, `start`, `resolve`, `close`, `return`, `transfer`, `merge`, `reject`, `rate` or `reopen`.
    pub action: String,
    /// The version last read; a stale one is 409.
    pub version: i32,
    pub note: Option<String>,
    /// Required for `return` and `reject`.
    pub reason: Option<String>,
    /// Required for `resolve`.
    pub result_note: Option<String>,
    /// For `dispatch` (default: the routed unit) and `transfer`.
    pub unit_id: Option<Uuid>,
    /// For `merge`: the open case this one is a duplicate of.
    pub target_case_id: Option<Uuid>,
    /// For `rate`: 1–5.
    pub rating: Option<u8>,
    pub comment: Option<String>,
}

/// Take an action. Not allowed in the current state: 409 naming the allowed ones.
#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", tag = "cases", params(("id" = Uuid, Path)), request_body = CaseAction,
    responses((status = 200, body = CaseDetail), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn act(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CaseAction>,
) -> ApiResult<Json<CaseDetail>> {
    let action = Action::parse(&req.action)
        .ok_or_else(|| ApiError::field("action", Rule::OneOf { allowed: Action::names() }))?;
    let mut issues = Issues::default();
    let text = |issues: &mut Issues, field: &str, v: &Option<String>, max: usize| {
        issues.take(validate::optional_text(field, v.as_deref(), max)).flatten()
    };
    let reason = text(&mut issues, "reason", &req.reason, 2000);
    let note = text(&mut issues, "note", &req.note, 2000);
    let result_note = text(&mut issues, "result_note", &req.result_note, 5000);
    let comment = text(&mut issues, "comment", &req.comment, 500);
    issues.into_result()?;
    let row = caseflow::act(
        &state,
        &auth.principal,
        &auth.actor(),
        id,
        ActionRequest {
            action: Some(action),
            version: req.version,
            note,
            reason,
            result_note,
            unit_id: req.unit_id,
            target_case_id: req.target_case_id,
            rating: req.rating,
            comment,
        },
    )
    .await?;
    Ok(Json(detail(&state, &auth, row).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSupervision {
    pub note: String,
    pub due_at: DateTime<Utc>,
}

/// Issue a supervision order (督办) with its own deadline.
#[utoipa::path(post, path = "/api/v1/cases/{id}/supervision", tag = "cases", params(("id" = Uuid, Path)), request_body = CreateSupervision,
    responses((status = 201, body = SupervisionDto), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn supervise(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CreateSupervision>,
) -> ApiResult<(StatusCode, Json<SupervisionDto>)> {
    let note = validate::text("note", &req.note, 2000)?;
    let s = caseflow::supervise(&state, &auth.principal, &auth.actor(), id, note, req.due_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(SupervisionDto {
            id: s.id,
            issued_by_name: s.issued_by_name,
            note: s.note,
            due_at: s.due_at,
            card: s.card,
            fulfilled_at: s.fulfilled_at,
            created_at: s.created_at,
        }),
    ))
}

// ---- live updates ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    pub town_id: Option<Uuid>,
}

/// Server-Sent Events: `case` events (`{kind, case_id, number, state, card, ...}`) for every
/// change of a case the caller may see; `resync` when the caller fell behind and should reload.
#[utoipa::path(get, path = "/api/v1/cases/stream", tag = "cases", params(StreamParams),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String)))]
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>>> {
    let visibility = caseflow::visibility(&state, &auth.principal).await?;
    let mut rx = state.0.case_events.subscribe();
    let mut stop = state.0.shutdown.subscribe();
    let town = p.town_id;
    let stream = async_stream::stream! {
        yield Ok(Event::default().event("ready").data("{}"));
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = stop.changed() => break,
            };
            match next {
                Ok(change) => {
                    if town.is_some_and(|t| t != change.town_id) || !visible(&visibility, &change) {
                        continue;
                    }
                    if let Ok(data) = serde_json::to_string(&change) {
                        yield Ok(Event::default().event("case").id(change.version.to_string()).data(data));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    yield Ok(Event::default().event("resync").data("{}"));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The stream's filter: the same rule as the queue's, from what the change carries.
fn visible(v: &wuwei_store::cases::CaseVisibility, c: &caseflow::CaseChange) -> bool {
    if v.reporter_id.is_some() && v.reporter_id == c.reporter_id {
        return true;
    }
    if c.unit_id.is_some_and(|u| v.unit_ids.contains(&u)) {
        return true;
    }
    v.scopes.iter().any(|s| {
        let id = s.id();
        match s.level {
            Level::City => v.city_towns.contains(&c.town_id),
            Level::Town => id == Some(c.town_id),
            Level::Area => id.is_some() && id == c.place.area_id,
            Level::AdminVillage => id.is_some() && id == c.place.admin_village_id,
            Level::NaturalVillage => id.is_some() && id == c.place.natural_village_id,
            Level::Grid => id.is_some() && id == c.place.grid_id,
            Level::Household => false,
        }
    })
}

// ---- the map ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MapParams {
    /// Cases at most (the most urgent first); default 2000, at most 5000.
    pub limit: Option<u64>,
}

/// Open cases as GeoJSON points for the operations map, with the open load per admin and
/// natural village for shading.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/cases.geojson", tag = "cases", params(("town_id" = Uuid, Path), MapParams),
    responses((status = 200, body = Object, description = "FeatureCollection with `load` by village")))]
pub async fn map(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
    ApiQuery(p): ApiQuery<MapParams>,
) -> ApiResult<Json<Value>> {
    let limit = p.limit.unwrap_or(2000).clamp(1, 5000);
    let visibility = caseflow::visibility(&state, &auth.principal).await?;
    let filter = CaseFilter {
        town_id: Some(town_id),
        states: CaseState::ALL.iter().copied().filter(|s| s.is_open()).collect(),
        ..CaseFilter::default()
    };
    let (rows, total) = cases::list_cases(state.store().db(), &filter, &visibility, CaseSort::Due, 0, limit).await?;
    let mut by_av: HashMap<Uuid, u64> = HashMap::new();
    let mut by_nv: HashMap<Uuid, u64> = HashMap::new();
    for c in &rows {
        if let Some(av) = c.admin_village_id {
            *by_av.entry(av).or_default() += 1;
        }
        if let Some(nv) = c.natural_village_id {
            *by_nv.entry(nv).or_default() += 1;
        }
    }
    let sums = summaries(&state, &rows).await?;
    let features: Vec<Value> = sums
        .iter()
        .filter_map(|s| {
            Some(json!({
                "type": "Feature", "id": s.id,
                "geometry": {"type": "Point", "coordinates": [s.lon?, s.lat?]},
                "properties": {"id": s.id, "number": s.number, "title": s.title, "state": s.state, "card": s.card,
                               "priority": s.priority, "category": s.category.name, "due_at": s.due_at},
            }))
        })
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "features": features,
        "total_open": total,
        "load": {"admin_village": by_av, "natural_village": by_nv},
    })))
}

// ---- categories and units ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyDto {
    pub priority: String,
    pub accept_minutes: u32,
    pub resolve_minutes: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryDto {
    pub id: Uuid,
    pub town_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub default_unit_kind: String,
    pub requires_photo: bool,
    /// Dispute categories go to mediation once that module exists.
    pub is_dispute: bool,
    pub active: bool,
    pub policies: Vec<PolicyDto>,
    pub version: i32,
}

async fn category_dtos(state: &AppState, town_id: Uuid, rows: &[CategoryRow]) -> ApiResult<Vec<CategoryDto>> {
    let policies = catalog::policies(state.store().db(), town_id).await?;
    Ok(rows
        .iter()
        .map(|c| CategoryDto {
            id: c.id,
            town_id: c.town_id,
            parent_id: c.parent_id,
            code: c.code.clone(),
            name: c.name.clone(),
            name_en: c.name_en.clone(),
            default_unit_kind: c.default_unit_kind.clone(),
            requires_photo: c.requires_photo,
            is_dispute: c.is_dispute,
            active: c.active,
            policies: Priority::ALL
                .iter()
                .map(|p| {
                    let d = policies
                        .get(&(c.id, p.as_str().to_string()))
                        .copied()
                        .unwrap_or_else(|| DeadlinePolicy::default_for(*p));
                    PolicyDto {
                        priority: p.as_str().to_string(),
                        accept_minutes: d.accept_minutes,
                        resolve_minutes: d.resolve_minutes,
                    }
                })
                .collect(),
            version: c.version,
        })
        .collect())
}

async fn town_visible(state: &AppState, auth: &Auth, town_id: Uuid) -> ApiResult<()> {
    if crate::dto::visible_town_ids(state, &auth.principal).await?.contains(&town_id) {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

/// The town's case categories (a tree by `parent_id`) with their deadline policies.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/categories", tag = "cases", params(("town_id" = Uuid, Path)),
    responses((status = 200, body = Vec<CategoryDto>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn categories(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
) -> ApiResult<Json<Vec<CategoryDto>>> {
    town_visible(&state, &auth, town_id).await?;
    let rows = catalog::categories(state.store().db(), town_id).await?;
    Ok(Json(category_dtos(&state, town_id, &rows).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// Required when updating.
    pub version: Option<i32>,
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub name_en: Option<String>,
    pub default_unit_kind: String,
    #[serde(default)]
    pub requires_photo: bool,
    #[serde(default)]
    pub is_dispute: bool,
    pub active: Option<bool>,
    #[serde(default)]
    pub policies: Vec<PolicyDto>,
}

fn parse_category(req: &CategoryBody, town_rows: &[CategoryRow], own_id: Option<Uuid>) -> ApiResult<CategoryInput> {
    let mut issues = Issues::default();
    let code = issues.take(validate::code("code", &req.code));
    let name = issues.take(validate::text("name", &req.name, 64));
    let name_en = issues.take(validate::optional_text("name_en", req.name_en.as_deref(), 64));
    let kind = UnitKind::parse(&req.default_unit_kind);
    if kind.is_none() {
        issues.push("default_unit_kind", Rule::OneOf { allowed: UnitKind::names() });
    }
    if let Some(p) = req.parent_id
        && (Some(p) == own_id || !town_rows.iter().any(|c| c.id == p && c.parent_id.is_none()))
    {
        // Two levels: a category or a sub-category of a top-level one.
        issues.push("parent_id", Rule::UnknownReference);
    }
    let mut policies = Vec::new();
    for (i, p) in req.policies.iter().enumerate() {
        match Priority::parse(&p.priority) {
            Some(pr) => {
                if !(1..=60 * 24 * 365).contains(&p.accept_minutes) {
                    issues.push(format!("policies[{i}].accept_minutes"), Rule::OutOfRange { min: 1, max: 525_600 });
                }
                if !(1..=60 * 24 * 365).contains(&p.resolve_minutes) {
                    issues.push(format!("policies[{i}].resolve_minutes"), Rule::OutOfRange { min: 1, max: 525_600 });
                }
                policies.push((
                    pr,
                    DeadlinePolicy { accept_minutes: p.accept_minutes, resolve_minutes: p.resolve_minutes },
                ));
            }
            None => issues.push(format!("policies[{i}].priority"), Rule::OneOf { allowed: Priority::names() }),
        }
    }
    issues.into_result()?;
    let (Some(code), Some(name), Some(name_en), Some(kind)) = (code, name, name_en, kind) else {
        return Err(ApiError::internal());
    };
    Ok(CategoryInput {
        parent_id: req.parent_id,
        name_en: name_en.unwrap_or_else(|| name.clone()),
        code,
        name,
        unit_kind: kind,
        requires_photo: req.requires_photo,
        is_dispute: req.is_dispute,
        active: req.active.unwrap_or(true),
        policies,
    })
}

async fn require_catalog_write(state: &AppState, auth: &Auth, town_id: Uuid) -> ApiResult<()> {
    let town = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    if auth.principal.can(Permission::CatalogWrite, &town.place()) { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// Add a category (town administrators).
#[utoipa::path(post, path = "/api/v1/towns/{town_id}/categories", tag = "cases", params(("town_id" = Uuid, Path)), request_body = CategoryBody,
    responses((status = 201, body = CategoryDto), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_category(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CategoryBody>,
) -> ApiResult<(StatusCode, Json<CategoryDto>)> {
    require_catalog_write(&state, &auth, town_id).await?;
    let rows = catalog::categories(state.store().db(), town_id).await?;
    if rows.len() >= 500 {
        return Err(ApiError::field("code", Rule::NotAllowed { reason: "too_many" }));
    }
    let input = parse_category(&req, &rows, None)?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = catalog::insert_category(&mut tx, &auth.actor(), now, town_id, input).await?;
    tx.commit(now).await?;
    let mut dto = category_dtos(&state, town_id, std::slice::from_ref(&row)).await?;
    Ok((StatusCode::CREATED, Json(dto.pop().ok_or_else(ApiError::internal)?)))
}

/// Change a category and its deadline policies (town administrators).
#[utoipa::path(patch, path = "/api/v1/categories/{id}", tag = "cases", params(("id" = Uuid, Path)), request_body = CategoryBody,
    responses((status = 200, body = CategoryDto), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn update_category(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CategoryBody>,
) -> ApiResult<Json<CategoryDto>> {
    let current = catalog::category_by_id(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    town_visible(&state, &auth, current.town_id).await?;
    require_catalog_write(&state, &auth, current.town_id).await?;
    let version = req.version.ok_or_else(|| ApiError::field("version", Rule::Required))?;
    let rows = catalog::categories(state.store().db(), current.town_id).await?;
    let input = parse_category(&req, &rows, Some(id))?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let town_id = current.town_id;
    let row = catalog::update_category(&mut tx, &auth.actor(), now, current, version, input).await?;
    tx.commit(now).await?;
    let mut dto = category_dtos(&state, town_id, std::slice::from_ref(&row)).await?;
    Ok(Json(dto.pop().ok_or_else(ApiError::internal)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDto {
    pub id: Uuid,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub region_id: Option<Uuid>,
    /// Escalation level: 0 grid, 1 village, 2 town office, 3 county.
    pub level: u8,
}

/// The town's handling units, for dispatching.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/units", tag = "cases", params(("town_id" = Uuid, Path)),
    responses((status = 200, body = Vec<UnitDto>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn units(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
) -> ApiResult<Json<Vec<UnitDto>>> {
    town_visible(&state, &auth, town_id).await?;
    let rows = catalog::units(state.store().db(), town_id).await?;
    Ok(Json(
        rows.into_iter()
            .filter(|u| u.active)
            .map(|u| UnitDto {
                level: u.unit_kind().map(UnitKind::level).unwrap_or(0),
                id: u.id,
                kind: u.kind,
                code: u.code,
                name: u.name,
                region_id: u.region_id,
            })
            .collect(),
    ))
}

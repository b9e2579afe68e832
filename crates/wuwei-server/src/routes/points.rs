//! Household points (积分制): the rulebook and settings, evidence photos, awards from proposal
//! through review, public notice and objections, and what a household's points look like.
//! The stores (goods, redemptions) are in `points_shop`; the figures in `points_figures`.
//!
//! Who may do what: `points.manage` keeps the rulebook (town admin); `points.propose` proposes
//! (grid workers, village cadres, peacemakers; a resident for their own household);
//! `points.review` approves, rejects and answers objections (the village committee); any
//! resident of the award's admin village may object while its notice runs; `points.read` sees
//! households' points in its scope. Posting is the sweeper's (`jobs::post_awards`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission, Place, Role};
use wuwei_domain::points::award::{
    AwardAction, AwardCapacity, AwardSource, AwardState, MAX_NOTICE_DAYS, MAX_QUANTITY, MIN_NOTICE_DAYS,
    ProposalRefusal, Refusal,
};
use wuwei_domain::points::ledger::{ExpiryRule, LedgerError};
use wuwei_domain::points::rulebook::{Cap, Category, Evidence, Period, RuleItem, RuleProblem, Rulebook};
use wuwei_domain::validate::{FieldIssue, Issues, PageRequest, Rule};
use wuwei_store::households::{self, HouseholdRow};
use wuwei_store::points::PointsError;
use wuwei_store::points_awards::{
    self as store, AwardError, AwardFilter, AwardRequest, AwardRow, NewAwards, ProposedFor, Settings,
};
use wuwei_store::regions;

use crate::auth::Auth;
use crate::dto::{Page, PageParams, RefDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::state::AppState;

/// Households in one proposal at most (a clean-up day of a natural village).
pub const MAX_HOUSEHOLDS: usize = 100;
/// Awards in one batch review at most.
pub const MAX_BATCH_REVIEW: usize = 200;
/// The public notice lists at most this many awards.
pub const MAX_NOTICE_ROWS: u64 = 500;
/// The red list shows at most this many households.
pub const MAX_RANKING: u64 = 100;
/// A rulebook spreadsheet is small; a larger upload is not a rulebook.
pub const MAX_RULEBOOK_XLSX_BYTES: usize = 2 * 1024 * 1024;
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// ---- shapes ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdRefDto {
    pub id: Uuid,
    pub code: String,
    pub head_name: String,
    pub admin_village: RefDto,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CapDto {
    pub points: i64,
    /// `day`, `week`, `month`, `quarter` or `year` (China time).
    pub period: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleItemDto {
    /// Stable identifier: `a-z`, `0-9`, `_`.
    pub code: String,
    /// One of the 8 categories: `industry`, `filial_care`, `customs_reform`, `mediation`,
    /// `hygiene`, `law_abiding`, `public_welfare`, `role_model`.
    pub category: String,
    pub name_zh: String,
    pub name_en: String,
    /// Per occurrence: positive earns, negative deducts.
    pub points: i64,
    /// `none`, `photo` or `document`.
    pub evidence: String,
    pub cap: Option<CapDto>,
    /// Roles that may propose it: `grid_worker`, `village_cadre`, `peacemaker`, `resident`.
    pub proposers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulebookDto {
    pub town_id: Uuid,
    pub items: Vec<RuleItemDto>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SettingsDto {
    #[serde(default)]
    pub town_id: Option<Uuid>,
    /// Days an approved award is shown before it posts (1–30).
    pub notice_days: u32,
    /// Whether deductions may take a balance below zero.
    pub allow_negative: bool,
    /// When the year turns (China time): `never` (default), `reset_yearly` (every balance back
    /// to zero) or `keep_one_year` (points expire at the end of the year after they were earned).
    #[serde(default)]
    pub expiry_rule: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonRefDto {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AwardDto {
    pub id: Uuid,
    /// Readable, e.g. `JF-20261128-0007`.
    pub number: String,
    /// Awards proposed together (a bulk award) share it.
    pub batch_id: Uuid,
    pub town_id: Uuid,
    pub household: HouseholdRefDto,
    pub item_code: String,
    pub item_name_zh: String,
    pub item_name_en: String,
    pub category: String,
    pub points_each: i64,
    pub quantity: i32,
    /// What the award carries (negative for a deduction).
    pub points: i64,
    pub note: String,
    /// `manual`, `bulk`, `mediation`, `case` or `volunteer_task`.
    pub source: String,
    /// `proposed`, `in_public_notice`, `objected`, `posted`, `rejected` or `withdrawn`.
    pub state: String,
    pub notice_ends_at: Option<chrono::DateTime<chrono::Utc>>,
    pub open_objections: i32,
    pub proposed_by: PersonRefDto,
    pub proposed_at: chrono::DateTime<chrono::Utc>,
    pub reviewed_by: Option<PersonRefDto>,
    pub reviewed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was rejected, upheld or corrected.
    pub reason: Option<String>,
    pub posting_id: Option<Uuid>,
    pub posted_at: Option<chrono::DateTime<chrono::Utc>>,
    pub version: i32,
    /// Evidence photos (`/api/v1/points/evidence/{id}/content`).
    pub attachment_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AwardEventDto {
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor_name: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionDto {
    pub id: Uuid,
    pub filed_by_name: String,
    pub reason: String,
    /// `open`, `dismissed` or `upheld`.
    pub state: String,
    pub filed_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub resolution: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AwardDetail {
    #[serde(flatten)]
    pub award: AwardDto,
    pub events: Vec<AwardEventDto>,
    pub objections: Vec<ObjectionDto>,
    /// What the caller may do now.
    pub allowed_actions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProposeResult {
    pub batch_id: Uuid,
    pub awards: Vec<AwardDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdPointsDto {
    pub household: HouseholdRefDto,
    pub balance: i64,
    pub earned_total: i64,
    pub deducted_total: i64,
    pub redeemed_total: i64,
    pub pending_points: i64,
    pub rank_in_village: u64,
    pub households_in_village: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItemDto {
    pub posting_id: Uuid,
    pub seq: i64,
    /// `award`, `deduction`, `redemption`, `reversal` or `expiry`.
    pub kind: String,
    /// What it did to the household's balance.
    pub change: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// What it was for: an award's item, a redemption's number.
    pub reference: String,
    pub award_id: Option<Uuid>,
    pub redemption_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankDto {
    pub rank: u64,
    pub household: HouseholdRefDto,
    pub balance: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeDto {
    pub village: RefDto,
    pub notice_days: u32,
    pub awards: Vec<AwardDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceDto {
    pub id: Uuid,
    pub url: String,
    pub thumbnail_url: Option<String>,
    pub mime: String,
    pub size_bytes: i64,
}

// ---- helpers ----

/// The town a request is about: the one asked for (if the caller sees it) or the caller's own.
pub async fn town_of(state: &AppState, auth: &Auth, asked: Option<Uuid>) -> ApiResult<Uuid> {
    let towns = crate::dto::visible_town_ids(state, &auth.principal).await?;
    match asked {
        Some(t) if towns.contains(&t) => Ok(t),
        Some(_) => Err(ApiError::not_found()),
        None => towns.first().copied().ok_or_else(ApiError::not_found),
    }
}

async fn city_of(state: &AppState, town_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(regions::region_in_town(state.store().db(), town_id, town_id).await?.map(|t| t.city_id))
}

pub async fn household_place(state: &AppState, h: &HouseholdRow) -> ApiResult<Place> {
    Ok(h.place(city_of(state, h.town_id).await?))
}

/// A household the caller holds `permission` over, else 404 (as if it did not exist).
pub async fn household_for(state: &AppState, auth: &Auth, id: Uuid, permission: Permission) -> ApiResult<HouseholdRow> {
    let h = households::household(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    if !auth.principal.can(permission, &household_place(state, &h).await?) {
        return Err(ApiError::not_found());
    }
    Ok(h)
}

pub async fn household_refs(state: &AppState, rows: &[&HouseholdRow]) -> ApiResult<Vec<HouseholdRefDto>> {
    let mut ids: Vec<Uuid> = rows.iter().map(|h| h.admin_village_id).collect();
    ids.sort();
    ids.dedup();
    let names = regions::names_of(state.store().db(), &ids).await?;
    Ok(rows
        .iter()
        .map(|h| HouseholdRefDto {
            id: h.id,
            code: h.code.clone(),
            head_name: h.head_name.clone(),
            admin_village: RefDto {
                id: h.admin_village_id,
                name: names.get(&h.admin_village_id).cloned().unwrap_or_default(),
                code: None,
            },
        })
        .collect())
}

/// A household's points at a glance (also the store counter's lookup).
pub async fn household_points(state: &AppState, h: &HouseholdRow) -> ApiResult<HouseholdPointsDto> {
    let p = store::household_points(state.store().db(), h).await?;
    let household = household_refs(state, &[h]).await?.into_iter().next().ok_or_else(ApiError::internal)?;
    Ok(HouseholdPointsDto {
        household,
        balance: p.balance,
        earned_total: p.earned_total,
        deducted_total: p.deducted_total,
        redeemed_total: p.redeemed_total,
        pending_points: p.pending_points,
        rank_in_village: p.rank_in_village,
        households_in_village: p.households_in_village,
    })
}

fn item_dto(i: &RuleItem) -> RuleItemDto {
    RuleItemDto {
        code: i.code.clone(),
        category: i.category.as_str().into(),
        name_zh: i.name_zh.clone(),
        name_en: i.name_en.clone(),
        points: i.points,
        evidence: i.evidence.as_str().into(),
        cap: i.cap.map(|c| CapDto { points: c.points, period: c.period.as_str().into() }),
        proposers: i.proposers.iter().map(|r| r.as_str().to_string()).collect(),
    }
}

/// Parse one item; problems are named `{prefix}{field}`.
fn item_of(dto: &RuleItemDto, prefix: &str, issues: &mut Issues) -> Option<RuleItem> {
    let field = |f: &str| format!("{prefix}{f}");
    let one_of = |all: Vec<&str>| Rule::OneOf { allowed: all.into_iter().map(String::from).collect() };
    let category = Category::parse(&dto.category);
    if category.is_none() {
        issues.0.push(FieldIssue::new(field("category"), one_of(Category::ALL.iter().map(|c| c.as_str()).collect())));
    }
    let evidence = Evidence::parse(&dto.evidence);
    if evidence.is_none() {
        issues.0.push(FieldIssue::new(field("evidence"), one_of(Evidence::ALL.iter().map(|c| c.as_str()).collect())));
    }
    let cap = match &dto.cap {
        Some(c) => match Period::parse(&c.period) {
            Some(period) => Some(Cap { points: c.points, period }),
            None => {
                issues.0.push(FieldIssue::new(
                    field("cap.period"),
                    one_of(Period::ALL.iter().map(|c| c.as_str()).collect()),
                ));
                None
            }
        },
        None => None,
    };
    let mut proposers = Vec::new();
    for (i, r) in dto.proposers.iter().enumerate() {
        match Role::parse(r) {
            Some(role) => proposers.push(role),
            None => issues.0.push(FieldIssue::new(format!("{prefix}proposers[{i}]"), Rule::UnknownReference)),
        }
    }
    Some(RuleItem {
        code: dto.code.trim().to_string(),
        category: category?,
        name_zh: dto.name_zh.trim().to_string(),
        name_en: dto.name_en.trim().to_string(),
        points: dto.points,
        evidence: evidence?,
        cap: if dto.cap.is_some() { Some(cap?) } else { None },
        proposers,
    })
}

fn problem_rule(p: &RuleProblem) -> Rule {
    match p.problem {
        "required" => Rule::Required,
        "too_long" => Rule::TooLong { max: wuwei_domain::points::rulebook::MAX_NAME_CHARS },
        "duplicate" => Rule::Duplicate,
        "lowercase_letters_digits_underscore" => Rule::Charset { allowed: "a-z 0-9 _" },
        "too_large" if p.field == "points" => Rule::OutOfRange {
            min: -wuwei_domain::points::rulebook::MAX_ITEM_POINTS,
            max: wuwei_domain::points::rulebook::MAX_ITEM_POINTS,
        },
        other => Rule::NotAllowed { reason: other },
    }
}

fn rulebook_error(problems: Vec<RuleProblem>, row_field: impl Fn(&RuleProblem) -> String) -> ApiError {
    ApiError::invalid(Issues(problems.iter().map(|p| FieldIssue::new(row_field(p), problem_rule(p))).collect()))
}

pub(crate) fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::InsufficientPoints { balance, needed, .. } => {
            ApiError::conflict("insufficient_points").with_detail(format!("balance {balance}, needed {needed}"))
        }
        LedgerError::AlreadyReversed { .. } => ApiError::conflict("already_reversed"),
        other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").with_detail(other.to_string()),
    }
}

pub(crate) fn points_error(e: PointsError) -> ApiError {
    match e {
        PointsError::Ledger(l) => ledger_error(l),
        PointsError::KeyReused { .. } => ApiError::conflict("idempotency_conflict"),
        PointsError::UnknownHousehold { .. } => ApiError::field("household_id", Rule::UnknownReference),
        PointsError::Store(s) => s.into(),
    }
}

fn refusal_error(r: Refusal) -> ApiError {
    match r {
        Refusal::NotInThisState { state, allowed, .. } => ApiError::conflict("action_not_allowed").with_detail(
            format!("state {state}; allowed: [{}]", allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")),
        ),
        Refusal::NotPermitted { .. } => ApiError::forbidden(),
        Refusal::Missing { field, problem } => match problem {
            "required" => ApiError::field(field, Rule::Required),
            other => ApiError::field(field, Rule::NotAllowed { reason: other }),
        },
        Refusal::NoticeOver { ended_at } => ApiError::conflict("notice_over").with_detail(ended_at.to_rfc3339()),
        Refusal::NoticeRunning { ends_at } => ApiError::conflict("notice_running").with_detail(ends_at.to_rfc3339()),
        Refusal::ObjectionOpen { open } => ApiError::conflict("objection_open").with_detail(open.to_string()),
        Refusal::ItemGone => ApiError::field("item_code", Rule::UnknownReference),
        Refusal::OverCap { room, asked } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "over_cap")
            .with_detail(match crate::i18n::Lang::current() {
                crate::i18n::Lang::ZhCn => format!("剩余 {room} 分，本次 {asked} 分"),
                crate::i18n::Lang::En => format!("{room} left, {asked} asked"),
            })
            .with_field("points", Rule::OutOfRange { min: 0, max: room }),
    }
}

/// "At most 20 points a month: 18 used, 2 left, 10 asked", in the caller's language.
fn cap_detail(cap: Cap, used: i64, room: i64, asked: i64) -> String {
    match crate::i18n::Lang::current() {
        crate::i18n::Lang::ZhCn => {
            let period = match cap.period {
                Period::Month => "每月",
                Period::Quarter => "每季度",
                Period::Year => "每年",
            };
            format!("该项{period}最多 {} 分，已用 {used} 分，剩余 {room} 分，本次 {asked} 分", cap.points)
        }
        crate::i18n::Lang::En => {
            format!("at most {} points per {}: {used} used, {room} left, {asked} asked", cap.points, cap.period)
        }
    }
}

fn award_error(e: AwardError) -> ApiError {
    match e {
        AwardError::Rulebook(problems) => rulebook_error(problems, |p| p.field.to_string()),
        AwardError::UnknownItem { .. } => ApiError::field("item_code", Rule::UnknownReference),
        AwardError::Proposal { index, refusal } => {
            let at = format!("household_ids[{index}]");
            match refusal {
                ProposalRefusal::RoleMayNotPropose { .. } => {
                    ApiError::forbidden().with_detail("this role may not propose this item")
                }
                ProposalRefusal::NotOwnHousehold => ApiError::forbidden().with_detail("only for your own household"),
                ProposalRefusal::EvidenceRequired { needed } => {
                    ApiError::field("attachment_ids", Rule::NotAllowed { reason: "evidence_required" })
                        .with_detail(needed.as_str())
                }
                ProposalRefusal::Quantity => {
                    ApiError::field("quantity", Rule::OutOfRange { min: 1, max: i64::from(MAX_QUANTITY) })
                }
                ProposalRefusal::OverCap(over) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "over_cap")
                    .with_detail(cap_detail(over.cap, over.used, over.room, over.asked))
                    .with_field(at, Rule::OutOfRange { min: 0, max: over.room }),
            }
        }
        AwardError::Refusal(r) => refusal_error(r),
        AwardError::UnknownObjection => ApiError::field("objection_id", Rule::UnknownReference),
        AwardError::DuplicateHousehold { index } => ApiError::field(format!("household_ids[{index}]"), Rule::Duplicate),
        AwardError::Points(p) => points_error(p),
        AwardError::Store(s) => s.into(),
    }
}

/// People's display names (the timeline shows names, not login names), resolved when read.
async fn display_names(state: &AppState, ids: &[Uuid]) -> ApiResult<HashMap<Uuid, String>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    Ok(wuwei_store::accounts::users_by_ids(state.store().db(), &ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect())
}

async fn award_dtos(state: &AppState, rows: &[AwardRow]) -> ApiResult<Vec<AwardDto>> {
    let mut hh_ids: Vec<Uuid> = rows.iter().map(|a| a.household_id).collect();
    hh_ids.sort();
    hh_ids.dedup();
    let mut hh: HashMap<Uuid, HouseholdRow> = HashMap::new();
    for id in hh_ids {
        if let Some(h) = households::household(state.store().db(), id).await? {
            hh.insert(id, h);
        }
    }
    let list: Vec<&HouseholdRow> = hh.values().collect();
    let refs: HashMap<Uuid, HouseholdRefDto> =
        household_refs(state, &list).await?.into_iter().map(|r| (r.id, r)).collect();
    let people: Vec<Uuid> = rows.iter().flat_map(|a| [Some(a.proposed_by), a.reviewed_by]).flatten().collect();
    let names = display_names(state, &people).await?;
    let name = |id: Uuid, stored: &str| names.get(&id).cloned().unwrap_or_else(|| stored.to_string());
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        let household = refs.get(&a.household_id).cloned().ok_or_else(ApiError::internal)?;
        out.push(AwardDto {
            id: a.id,
            number: a.number.clone(),
            batch_id: a.batch_id,
            town_id: a.town_id,
            household,
            item_code: a.item_code.clone(),
            item_name_zh: a.item_name_zh.clone(),
            item_name_en: a.item_name_en.clone(),
            category: a.category.clone(),
            points_each: a.points_each,
            quantity: a.quantity,
            points: a.points,
            note: a.note.clone(),
            source: a.source.clone(),
            state: a.state.clone(),
            notice_ends_at: a.notice_ends_at,
            open_objections: a.open_objections,
            proposed_by: PersonRefDto { id: a.proposed_by, name: name(a.proposed_by, &a.proposed_by_name) },
            proposed_at: a.proposed_at,
            reviewed_by: a
                .reviewed_by
                .map(|id| PersonRefDto { id, name: name(id, a.reviewed_by_name.as_deref().unwrap_or_default()) }),
            reviewed_at: a.reviewed_at,
            reason: a.reason.clone(),
            posting_id: a.posting_id,
            posted_at: a.posted_at,
            version: a.version,
            attachment_ids: store::attachment_ids(a),
        });
    }
    Ok(out)
}

/// The capacities in which the caller may act on an award.
async fn capacities(state: &AppState, auth: &Auth, a: &AwardRow) -> ApiResult<(Vec<AwardCapacity>, Place)> {
    let h = households::household(state.store().db(), a.household_id).await?.ok_or_else(ApiError::not_found)?;
    let place = household_place(state, &h).await?;
    let p = &auth.principal;
    let mut caps = Vec::new();
    if p.user_id == a.proposed_by {
        caps.push(AwardCapacity::Proposer);
    }
    if p.can(Permission::PointsReview, &place) {
        caps.push(AwardCapacity::Reviewer);
    }
    if is_villager_of(auth, a.admin_village_id) {
        caps.push(AwardCapacity::Objector);
    }
    Ok((caps, place))
}

/// A resident of a household in this admin village (the public notice is theirs).
fn is_villager_of(auth: &Auth, admin_village_id: Uuid) -> bool {
    auth.principal
        .bindings
        .iter()
        .any(|b| b.role == Role::Resident && b.scope.place.admin_village_id == Some(admin_village_id))
}

/// An award the caller may see: in their `points.read` scope, proposed by them, or on the
/// public notice of their village.
async fn readable_award(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<(AwardRow, Vec<AwardCapacity>)> {
    let a = store::award(state.store().db(), None, id).await?.ok_or_else(ApiError::not_found)?;
    let (caps, place) = capacities(state, auth, &a).await?;
    let on_notice = matches!(AwardState::parse(&a.state), Some(AwardState::InPublicNotice | AwardState::Objected));
    let visible = auth.principal.can(Permission::PointsRead, &place)
        || caps.contains(&AwardCapacity::Proposer)
        || caps.contains(&AwardCapacity::Reviewer)
        || (on_notice && caps.contains(&AwardCapacity::Objector));
    if !visible {
        return Err(ApiError::not_found());
    }
    Ok((a, caps))
}

async fn detail(state: &AppState, a: AwardRow, caps: &[AwardCapacity]) -> ApiResult<AwardDetail> {
    let db = state.store().db();
    let events = store::events(db, &a).await?;
    let objections = store::objections(db, &a).await?;
    let people: Vec<Uuid> =
        events.iter().filter_map(|e| e.actor_id).chain(objections.iter().map(|o| o.filed_by)).collect();
    let names = display_names(state, &people).await?;
    let events = events
        .into_iter()
        .map(|e| AwardEventDto {
            at: e.at,
            actor_name: e.actor_id.and_then(|id| names.get(&id).cloned()).unwrap_or(e.actor_name),
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            note: e.note,
        })
        .collect();
    let objections = objections
        .into_iter()
        .map(|o| ObjectionDto {
            id: o.id,
            filed_by_name: names.get(&o.filed_by).cloned().unwrap_or(o.filed_by_name),
            reason: o.reason,
            state: o.state,
            filed_at: o.filed_at,
            resolved_at: o.resolved_at,
            resolution: o.resolution,
        })
        .collect();
    let state_now = AwardState::parse(&a.state).ok_or_else(ApiError::internal)?;
    let allowed_actions = wuwei_domain::points::award::allowed_actions(state_now, caps)
        .into_iter()
        .filter(|a| *a != AwardAction::Post)
        .map(|a| a.as_str().to_string())
        .collect();
    let award = award_dtos(state, std::slice::from_ref(&a)).await?.into_iter().next().ok_or_else(ApiError::internal)?;
    Ok(AwardDetail { award, events, objections, allowed_actions })
}

// ---- settings and rulebook ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TownParams {
    /// Defaults to the caller's town.
    pub town_id: Option<Uuid>,
}

async fn town_place(state: &AppState, town_id: Uuid) -> ApiResult<Place> {
    let town = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(town.place())
}

/// The town's points settings.
#[utoipa::path(get, path = "/api/v1/points/settings", tag = "points", params(TownParams),
    responses((status = 200, body = SettingsDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
) -> ApiResult<Json<SettingsDto>> {
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let s = store::settings(state.store().db(), town_id).await?;
    Ok(Json(settings_dto(town_id, s)))
}

fn settings_dto(town_id: Uuid, s: Settings) -> SettingsDto {
    SettingsDto {
        town_id: Some(town_id),
        notice_days: s.notice_days,
        allow_negative: s.allow_negative,
        expiry_rule: Some(s.expiry_rule.as_str().to_string()),
    }
}

/// Change the notice length and the rule for negative balances (town admin). Points already
/// posted are not touched.
#[utoipa::path(put, path = "/api/v1/points/settings", tag = "points", params(TownParams), request_body = SettingsDto,
    responses((status = 200, body = SettingsDto), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
    ApiJson(body): ApiJson<SettingsDto>,
) -> ApiResult<Json<SettingsDto>> {
    let town_id = town_of(&state, &auth, p.town_id.or(body.town_id)).await?;
    if !auth.principal.can(Permission::PointsManage, &town_place(&state, town_id).await?) {
        return Err(ApiError::forbidden());
    }
    if !(MIN_NOTICE_DAYS..=MAX_NOTICE_DAYS).contains(&body.notice_days) {
        return Err(ApiError::field(
            "notice_days",
            Rule::OutOfRange { min: i64::from(MIN_NOTICE_DAYS), max: i64::from(MAX_NOTICE_DAYS) },
        ));
    }
    let expiry_rule = match body.expiry_rule.as_deref() {
        None => store::settings(state.store().db(), town_id).await?.expiry_rule,
        Some(r) => ExpiryRule::parse(r).ok_or_else(|| {
            ApiError::field(
                "expiry_rule",
                Rule::OneOf { allowed: ExpiryRule::ALL.iter().map(|r| r.as_str().to_string()).collect() },
            )
        })?,
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let s = store::set_settings(
        &mut tx,
        &auth.actor(),
        town_id,
        Settings { notice_days: body.notice_days, allow_negative: body.allow_negative, expiry_rule },
        now,
    )
    .await?;
    tx.commit(now).await?;
    Ok(Json(settings_dto(town_id, s)))
}

/// The town's rulebook (积分评定细则): the default until the town changes it.
#[utoipa::path(get, path = "/api/v1/points/rulebook", tag = "points", params(TownParams),
    responses((status = 200, body = RulebookDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_rulebook(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
) -> ApiResult<Json<RulebookDto>> {
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let items = store::rulebook(state.store().db(), town_id).await?;
    Ok(Json(RulebookDto { town_id, items: items.iter().map(item_dto).collect() }))
}

async fn manage_town(state: &AppState, auth: &Auth, asked: Option<Uuid>) -> ApiResult<Uuid> {
    let town_id = town_of(state, auth, asked).await?;
    if !auth.principal.can(Permission::PointsManage, &town_place(state, town_id).await?) {
        return Err(ApiError::forbidden());
    }
    Ok(town_id)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CodePath {
    pub code: String,
}

/// Add or replace one rulebook item (town admin). Awards already made keep what they were.
#[utoipa::path(put, path = "/api/v1/points/rulebook/items/{code}", tag = "points", params(CodePath, TownParams),
    request_body = RuleItemDto,
    responses((status = 200, body = RuleItemDto), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_rule_item(
    State(state): State<AppState>,
    auth: Auth,
    Path(CodePath { code }): Path<CodePath>,
    ApiQuery(p): ApiQuery<TownParams>,
    ApiJson(body): ApiJson<RuleItemDto>,
) -> ApiResult<Json<RuleItemDto>> {
    let town_id = manage_town(&state, &auth, p.town_id).await?;
    if body.code.trim() != code {
        return Err(ApiError::field("code", Rule::NotAllowed { reason: "must_match_path" }));
    }
    let mut issues = Issues::default();
    let item = item_of(&body, "", &mut issues);
    if !issues.0.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let item = item.ok_or_else(ApiError::internal)?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let saved = store::put_item(&mut tx, &auth.actor(), town_id, item, now).await.map_err(award_error)?;
    tx.commit(now).await?;
    Ok(Json(item_dto(&saved)))
}

/// Remove a rulebook item (town admin). Awards still pending from it will not post.
#[utoipa::path(delete, path = "/api/v1/points/rulebook/items/{code}", tag = "points", params(CodePath, TownParams),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_rule_item(
    State(state): State<AppState>,
    auth: Auth,
    Path(CodePath { code }): Path<CodePath>,
    ApiQuery(p): ApiQuery<TownParams>,
) -> ApiResult<StatusCode> {
    let town_id = manage_town(&state, &auth, p.town_id).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    store::delete_item(&mut tx, &auth.actor(), town_id, &code, now).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

const SHEET_COLUMNS: [(&str, &str); 9] = [
    ("code", "编码"),
    ("category", "类别"),
    ("name_zh", "名称"),
    ("name_en", "Name"),
    ("points", "分值"),
    ("evidence", "佐证"),
    ("cap_points", "上限分值"),
    ("cap_period", "上限周期"),
    ("proposers", "申报人"),
];

fn rulebook_workbook(items: &[RuleItem]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("积分评定细则")?;
    let bold = Format::new().set_bold();
    for (c, (key, zh)) in SHEET_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, format!("{zh} {key}"), &bold)?;
    }
    for (r, i) in items.iter().enumerate() {
        let row = r as u32 + 1;
        ws.write_string(row, 0, &i.code)?;
        ws.write_string(row, 1, i.category.as_str())?;
        ws.write_string(row, 2, &i.name_zh)?;
        ws.write_string(row, 3, &i.name_en)?;
        ws.write_number(row, 4, i.points as f64)?;
        ws.write_string(row, 5, i.evidence.as_str())?;
        if let Some(cap) = i.cap {
            ws.write_number(row, 6, cap.points as f64)?;
            ws.write_string(row, 7, cap.period.as_str())?;
        }
        ws.write_string(row, 8, i.proposers.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","))?;
    }
    ws.set_column_width(0, 28)?;
    ws.set_column_width(2, 30)?;
    ws.set_column_width(3, 40)?;
    ws.set_column_width(8, 40)?;
    // A legend sheet so the codes can be typed correctly.
    let legend = wb.add_worksheet();
    legend.set_name("说明 Legend")?;
    legend.write_string_with_format(0, 0, "类别 category", &bold)?;
    for (r, c) in Category::ALL.iter().enumerate() {
        legend.write_string(r as u32 + 1, 0, c.as_str())?;
        legend.write_string(r as u32 + 1, 1, c.name_zh())?;
    }
    legend.write_string_with_format(0, 3, "佐证 evidence", &bold)?;
    for (r, e) in ["none 无需", "photo 照片", "document 证明材料"].iter().enumerate() {
        legend.write_string(r as u32 + 1, 3, *e)?;
    }
    legend.write_string_with_format(0, 5, "上限周期 cap_period", &bold)?;
    for (r, p) in Period::ALL.iter().enumerate() {
        legend.write_string(r as u32 + 1, 5, p.as_str())?;
    }
    legend.write_string_with_format(0, 7, "申报人 proposers", &bold)?;
    for (r, p) in
        ["grid_worker 网格员", "village_cadre 村干部", "peacemaker 和事佬", "resident 村民"].iter().enumerate()
    {
        legend.write_string(r as u32 + 1, 7, *p)?;
    }
    wb.save_to_buffer()
}

pub(crate) fn xlsx_response(bytes: Vec<u8>, ascii_name: &str, name: &str) -> ApiResult<Response> {
    let disposition = format!(
        "attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{}",
        crate::routes::figures::encode_rfc5987(name)
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(XLSX));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(|_| ApiError::internal())?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The rulebook as an .xlsx workbook (the same columns the import reads).
#[utoipa::path(get, path = "/api/v1/points/rulebook.xlsx", tag = "points", params(TownParams),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn export_rulebook(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
) -> ApiResult<Response> {
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let items = store::rulebook(state.store().db(), town_id).await?;
    let bytes = rulebook_workbook(&items).map_err(|e| {
        tracing::error!(error = %e, "cannot write the rulebook workbook");
        ApiError::internal()
    })?;
    xlsx_response(bytes, "rulebook.xlsx", "积分评定细则.xlsx")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub items: usize,
}

fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// Read a rulebook workbook: the first sheet, a header row naming the columns (by their
/// English key, with or without the Chinese), then one item per row. Problems name the sheet
/// row (from 1, as a spreadsheet shows it) and the column.
fn parse_rulebook(bytes: &[u8]) -> Result<Vec<RuleItem>, ApiError> {
    use calamine::Reader;
    let bad_file = || ApiError::field("file", Rule::Format { expected: ".xlsx" });
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes)).map_err(|_| bad_file())?;
    let range = wb.worksheet_range_at(0).ok_or_else(bad_file)?.map_err(|_| bad_file())?;
    let mut rows = range.rows();
    let header = rows.next().ok_or_else(|| ApiError::field("rows[1]", Rule::Required))?;
    let mut col: HashMap<&str, usize> = HashMap::new();
    for (i, c) in header.iter().enumerate() {
        let text = cell_text(c);
        for (key, _) in SHEET_COLUMNS {
            if text == key || text.ends_with(&format!(" {key}")) {
                col.insert(key, i);
            }
        }
    }
    let mut issues = Issues::default();
    for (key, _) in SHEET_COLUMNS {
        if !col.contains_key(key) && !matches!(key, "cap_points" | "cap_period") {
            issues.0.push(FieldIssue::new(format!("rows[1].{key}"), Rule::Required));
        }
    }
    if !issues.0.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let mut items = Vec::new();
    let mut sheet_rows = Vec::new();
    for (i, row) in rows.enumerate() {
        let sheet_row = i + 2;
        let get = |key: &str| col.get(key).and_then(|&c| row.get(c)).map(cell_text).unwrap_or_default();
        if SHEET_COLUMNS.iter().all(|(k, _)| get(k).is_empty()) {
            continue; // blank line
        }
        if items.len() >= wuwei_domain::points::rulebook::MAX_ITEMS {
            issues.0.push(FieldIssue::new(
                format!("rows[{sheet_row}]"),
                Rule::OutOfRange { min: 1, max: wuwei_domain::points::rulebook::MAX_ITEMS as i64 },
            ));
            break;
        }
        let prefix = format!("rows[{sheet_row}].");
        let points = match get("points").parse::<i64>() {
            Ok(p) => p,
            Err(_) => {
                issues.0.push(FieldIssue::new(format!("{prefix}points"), Rule::Format { expected: "a whole number" }));
                0
            }
        };
        let cap = match (get("cap_points").as_str(), get("cap_period")) {
            ("", p) if p.is_empty() => None,
            (n, period) => match n.parse::<i64>() {
                Ok(points) => Some(CapDto { points, period }),
                Err(_) => {
                    issues.0.push(FieldIssue::new(
                        format!("{prefix}cap_points"),
                        Rule::Format { expected: "a whole number" },
                    ));
                    None
                }
            },
        };
        let dto = RuleItemDto {
            code: get("code"),
            category: get("category"),
            name_zh: get("name_zh"),
            name_en: get("name_en"),
            points,
            evidence: get("evidence"),
            cap,
            proposers: get("proposers").split([',', '，', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        };
        if let Some(item) = item_of(&dto, &prefix, &mut issues) {
            items.push(item);
            sheet_rows.push(sheet_row);
        }
    }
    if !issues.0.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    if let Err(problems) = Rulebook::new(items.clone()) {
        return Err(rulebook_error(problems, |p| {
            format!("rows[{}].{}", sheet_rows.get(p.row).copied().unwrap_or(p.row + 2), p.field)
        }));
    }
    Ok(items)
}

/// Replace the rulebook from an .xlsx workbook (the body, as exported). All or nothing: any bad
/// row or column is a 422 listing each (`rows[5].points`), and nothing is imported.
#[utoipa::path(post, path = "/api/v1/points/rulebook.xlsx", tag = "points", params(TownParams),
    request_body(content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    responses((status = 200, body = ImportResult), (status = 403, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn import_rulebook(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
    body: Bytes,
) -> ApiResult<Json<ImportResult>> {
    let town_id = manage_town(&state, &auth, p.town_id).await?;
    if body.len() > MAX_RULEBOOK_XLSX_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    }
    let items =
        tokio::task::spawn_blocking(move || parse_rulebook(&body)).await.map_err(|_| ApiError::internal())??;
    let book = Rulebook::new(items).map_err(|p| rulebook_error(p, |p| format!("rows[{}].{}", p.row + 2, p.field)))?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    store::replace_rulebook(&mut tx, &auth.actor(), town_id, &book, now).await?;
    tx.commit(now).await?;
    Ok(Json(ImportResult { items: book.items().len() }))
}

// ---- evidence ----

/// Upload a photo as evidence for an award you are about to propose (or of goods): JPEG, PNG
/// or WebP checked by content, at most 10 MB, multipart field `file`.
#[utoipa::path(post, path = "/api/v1/points/evidence", tag = "points", params(TownParams),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 201, body = EvidenceDto), (status = 403, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn upload_evidence(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TownParams>,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<EvidenceDto>)> {
    if auth.require_any(Permission::PointsPropose).is_err() {
        auth.require_any(Permission::PointsSell)?;
    }
    let town_id = town_of(&state, &auth, p.town_id).await?;
    let photo = crate::routes::attachments::store_checked_photo(&state, &mut form).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = store::insert_evidence(
        &mut tx,
        &auth.actor(),
        store::NewEvidence {
            town_id,
            id: Uuid::now_v7(),
            mime: photo.mime,
            size_bytes: photo.size_bytes,
            sha256: photo.sha256,
            thumb_sha256: photo.thumb_sha256,
            width: photo.width,
            height: photo.height,
        },
        now,
    )
    .await?;
    tx.commit(now).await?;
    Ok((
        StatusCode::CREATED,
        Json(EvidenceDto {
            id: row.id,
            url: format!("/api/v1/points/evidence/{}/content", row.id),
            thumbnail_url: row.thumb_sha256.as_ref().map(|_| format!("/api/v1/points/evidence/{}/thumbnail", row.id)),
            mime: row.mime,
            size_bytes: row.size_bytes,
        }),
    ))
}

async fn serve_evidence(
    state: &AppState,
    auth: &Auth,
    id: Uuid,
    thumbnail: bool,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let e = store::evidence(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    // Evidence is shown on the village's public notice: anyone of the town may see it.
    if !crate::dto::visible_town_ids(state, &auth.principal).await?.contains(&e.town_id) {
        return Err(ApiError::not_found());
    }
    let (sha, mime) = if thumbnail {
        (e.thumb_sha256.clone().ok_or_else(ApiError::not_found)?, "image/jpeg".to_string())
    } else {
        (e.sha256.clone(), e.mime.clone())
    };
    crate::routes::attachments::blob_response(state, id, &sha, &mime, headers).await
}

/// An evidence photo.
#[utoipa::path(get, path = "/api/v1/points/evidence/{id}/content", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The photo"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn evidence_content(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_evidence(&state, &auth, id, false, &headers).await
}

/// An evidence photo's thumbnail (JPEG).
#[utoipa::path(get, path = "/api/v1/points/evidence/{id}/thumbnail", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 200, description = "JPEG thumbnail"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn evidence_thumbnail(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_evidence(&state, &auth, id, true, &headers).await
}

// ---- awards ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// One household, or several for a bulk award (at most 100).
    pub household_ids: Vec<Uuid>,
    pub item_code: String,
    /// Occurrences (1–31, default 1): the award carries `points × quantity`.
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    pub note: Option<String>,
    /// Evidence photos uploaded with `POST /api/v1/points/evidence` (at most 9).
    #[serde(default)]
    pub attachment_ids: Vec<Uuid>,
}

/// Propose an award for one household, or a bulk award for several (all or nothing).
#[utoipa::path(post, path = "/api/v1/points/awards", tag = "points", request_body = ProposeBody,
    responses((status = 201, body = ProposeResult), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn propose(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<ProposeBody>,
) -> ApiResult<(StatusCode, Json<ProposeResult>)> {
    auth.require_any(Permission::PointsPropose)?;
    let mut issues = Issues::default();
    if body.household_ids.is_empty() || body.household_ids.len() > MAX_HOUSEHOLDS {
        issues.0.push(FieldIssue::new("household_ids", Rule::OutOfRange { min: 1, max: MAX_HOUSEHOLDS as i64 }));
    }
    for (i, id) in body.household_ids.iter().enumerate() {
        if body.household_ids[..i].contains(id) {
            issues.0.push(FieldIssue::new(format!("household_ids[{i}]"), Rule::Duplicate));
        }
    }
    let note = match wuwei_domain::validate::optional_text("note", body.note.as_deref(), 500) {
        Ok(n) => n.unwrap_or_default(),
        Err(e) => {
            issues.0.push(e);
            String::new()
        }
    };
    if body.attachment_ids.len() > store::MAX_ATTACHMENTS {
        issues
            .0
            .push(FieldIssue::new("attachment_ids", Rule::OutOfRange { min: 0, max: store::MAX_ATTACHMENTS as i64 }));
    }
    let quantity = body.quantity.unwrap_or(1);
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        issues.0.push(FieldIssue::new("quantity", Rule::OutOfRange { min: 1, max: i64::from(MAX_QUANTITY) }));
    }
    if body.item_code.trim().is_empty() || body.item_code.len() > 64 {
        issues.0.push(FieldIssue::new("item_code", Rule::Required));
    }
    if !issues.0.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let db = state.store().db();
    let mut town_id = None;
    let mut proposed = Vec::with_capacity(body.household_ids.len());
    for (i, id) in body.household_ids.iter().enumerate() {
        let h = households::household(db, *id).await?;
        let Some(h) = h else {
            return Err(ApiError::field(format!("household_ids[{i}]"), Rule::UnknownReference));
        };
        let place = household_place(&state, &h).await?;
        let roles: Vec<Role> = auth
            .principal
            .bindings
            .iter()
            .filter(|b| b.role.has(Permission::PointsPropose) && b.scope.contains(&place))
            .map(|b| b.role)
            .collect();
        if roles.is_empty() {
            return Err(ApiError::field(
                format!("household_ids[{i}]"),
                Rule::NotAllowed { reason: "outside_your_scope" },
            ));
        }
        if *town_id.get_or_insert(h.town_id) != h.town_id {
            return Err(ApiError::field(format!("household_ids[{i}]"), Rule::NotAllowed { reason: "town_mismatch" }));
        }
        let own_household = auth.principal.bindings.iter().any(|b| {
            b.role == Role::Resident && b.scope.level == Level::Household && b.scope.place.household_id == Some(h.id)
        });
        proposed.push(ProposedFor { household: h, roles, own_household });
    }
    let town_id = town_id.ok_or_else(ApiError::internal)?;
    let evidence = store::evidence_of(db, town_id, &body.attachment_ids).await?;
    for (i, id) in body.attachment_ids.iter().enumerate() {
        if !evidence.iter().any(|e| e.id == *id) {
            return Err(ApiError::field(format!("attachment_ids[{i}]"), Rule::UnknownReference));
        }
    }
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let rows = store::propose(
        &mut tx,
        &auth.actor(),
        NewAwards {
            town_id,
            households: proposed,
            item_code: body.item_code.trim().to_string(),
            quantity,
            note,
            photos: body.attachment_ids.len() as u32,
            documents: 0,
            attachment_ids: body.attachment_ids,
            source: AwardSource::Manual,
            source_ref: None,
        },
        now,
    )
    .await
    .map_err(award_error)?;
    tx.commit(now).await?;
    let batch_id = rows.first().map(|r| r.batch_id).ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(ProposeResult { batch_id, awards: award_dtos(&state, &rows).await? })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AwardListParams {
    pub town_id: Option<Uuid>,
    /// One state, or several separated by commas.
    pub state: Option<String>,
    pub village_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Awards in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/points/awards", tag = "points", params(AwardListParams),
    responses((status = 200, body = Page<AwardDto>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_awards(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<AwardListParams>,
) -> ApiResult<Json<Page<AwardDto>>> {
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    let mut states = Vec::new();
    for s in p.state.as_deref().unwrap_or("").split(',').filter(|s| !s.is_empty()) {
        states.push(AwardState::parse(s.trim()).ok_or_else(|| {
            ApiError::bad_request("invalid_query").with_field(
                "state",
                Rule::OneOf { allowed: AwardState::ALL.iter().map(|s| s.as_str().to_string()).collect() },
            )
        })?);
    }
    let scopes = auth.principal.scopes_with(Permission::PointsRead);
    let filter = AwardFilter {
        town_id: p.town_id,
        states,
        admin_village_id: p.village_id,
        household_id: p.household_id,
        batch_id: p.batch_id,
    };
    let (rows, total) = store::list(state.store().db(), &filter, &scopes, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(award_dtos(&state, &rows).await?, page, total)))
}

/// One award with its timeline, objections and what the caller may do.
#[utoipa::path(get, path = "/api/v1/points/awards/{id}", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 200, body = AwardDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_award(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<AwardDetail>> {
    let (a, caps) = readable_award(&state, &auth, id).await?;
    Ok(Json(detail(&state, a, &caps).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardActionBody {
    /// `approve`, `reject`, `withdraw`, `dismiss_objection`, `uphold_objection` or `renotice`.
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The objection a review answers (optional when exactly one is open).
    #[serde(default)]
    pub objection_id: Option<Uuid>,
    /// The version the caller saw.
    #[serde(default)]
    pub version: Option<i32>,
}

fn parse_action(s: &str) -> ApiResult<AwardAction> {
    const ALLOWED: [AwardAction; 6] = [
        AwardAction::Approve,
        AwardAction::Reject,
        AwardAction::Withdraw,
        AwardAction::DismissObjection,
        AwardAction::UpholdObjection,
        AwardAction::Renotice,
    ];
    AwardAction::parse(s).filter(|a| ALLOWED.contains(a)).ok_or_else(|| {
        ApiError::field("action", Rule::OneOf { allowed: ALLOWED.iter().map(|a| a.as_str().to_string()).collect() })
    })
}

fn check_reason(reason: &Option<String>) -> ApiResult<()> {
    wuwei_domain::validate::optional_text("reason", reason.as_deref(), 500)?;
    Ok(())
}

/// Review or withdraw an award: approve (its public notice starts), reject with a reason,
/// withdraw (the proposer), answer an objection (dismiss, uphold, or renotice a corrected award).
#[utoipa::path(post, path = "/api/v1/points/awards/{id}/actions", tag = "points", params(("id" = Uuid, Path)),
    request_body = AwardActionBody,
    responses((status = 200, body = AwardDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn act(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<AwardActionBody>,
) -> ApiResult<Json<AwardDetail>> {
    let action = parse_action(&body.action)?;
    check_reason(&body.reason)?;
    let (a, caps) = readable_award(&state, &auth, id).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = store::act(
        &mut tx,
        &auth.actor(),
        a.town_id,
        a.id,
        action,
        &caps,
        AwardRequest { reason: body.reason, objection_id: body.objection_id, version: body.version },
        now,
    )
    .await
    .map_err(award_error)?;
    tx.commit(now).await?;
    Ok(Json(detail(&state, row, &caps).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchActionBody {
    pub award_ids: Vec<Uuid>,
    /// `approve` or `reject`.
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRefusal {
    pub id: Uuid,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub done: Vec<Uuid>,
    pub refused: Vec<BatchRefusal>,
}

/// Approve or reject many awards at once (a bulk award's batch): each on its own, so one
/// refusal does not hold up the rest; the answer says which were done and why others were not.
#[utoipa::path(post, path = "/api/v1/points/awards/batch-actions", tag = "points", request_body = BatchActionBody,
    responses((status = 200, body = BatchResult), (status = 422, body = crate::error::ErrorBody)))]
pub async fn batch_act(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<BatchActionBody>,
) -> ApiResult<Json<BatchResult>> {
    auth.require_any(Permission::PointsReview)?;
    let action = parse_action(&body.action)?;
    if !matches!(action, AwardAction::Approve | AwardAction::Reject) {
        return Err(ApiError::field("action", Rule::OneOf { allowed: vec!["approve".into(), "reject".into()] }));
    }
    if body.award_ids.is_empty() || body.award_ids.len() > MAX_BATCH_REVIEW {
        return Err(ApiError::field("award_ids", Rule::OutOfRange { min: 1, max: MAX_BATCH_REVIEW as i64 }));
    }
    check_reason(&body.reason)?;
    let lang = crate::i18n::Lang::current();
    let mut out = BatchResult { done: Vec::new(), refused: Vec::new() };
    for id in body.award_ids {
        let result: ApiResult<()> = async {
            let (a, caps) = readable_award(&state, &auth, id).await?;
            let now = state.now();
            let mut tx = state.store().begin().await?;
            store::act(
                &mut tx,
                &auth.actor(),
                a.town_id,
                a.id,
                action,
                &caps,
                AwardRequest { reason: body.reason.clone(), objection_id: None, version: None },
                now,
            )
            .await
            .map_err(award_error)?;
            tx.commit(now).await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => out.done.push(id),
            Err(e) => {
                let b = e.body(lang);
                out.refused.push(BatchRefusal { id, code: b.code, message: b.message });
            }
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionBody {
    pub reason: String,
}

/// Object to an award on the public notice (a resident of its village, while the notice runs):
/// the award pauses until the village committee answers.
#[utoipa::path(post, path = "/api/v1/points/awards/{id}/objections", tag = "points", params(("id" = Uuid, Path)),
    request_body = ObjectionBody,
    responses((status = 201, body = AwardDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn object(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ObjectionBody>,
) -> ApiResult<(StatusCode, Json<AwardDetail>)> {
    let reason = wuwei_domain::validate::text("reason", &body.reason, 500)?;
    let (a, caps) = readable_award(&state, &auth, id).await?;
    if !caps.contains(&AwardCapacity::Objector) {
        return Err(ApiError::forbidden().with_detail("only residents of the award's village may object"));
    }
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = store::object(&mut tx, &auth.actor(), a.town_id, a.id, &reason, now).await.map_err(award_error)?;
    tx.commit(now).await?;
    Ok((StatusCode::CREATED, Json(detail(&state, row, &caps).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VillageParams {
    /// The admin village; defaults to the caller's own (a resident's).
    pub village_id: Option<Uuid>,
    /// For the ranking: how many (1–100, default 10).
    pub limit: Option<u64>,
}

async fn village_for(state: &AppState, auth: &Auth, asked: Option<Uuid>) -> ApiResult<regions::RegionRow> {
    let id = match asked {
        Some(v) => v,
        None => auth
            .principal
            .bindings
            .iter()
            .find_map(|b| b.scope.place.admin_village_id)
            .ok_or_else(|| ApiError::field("village_id", Rule::Required))?,
    };
    let towns = crate::dto::visible_town_ids(state, &auth.principal).await?;
    for t in towns {
        if let Some(r) = regions::region_in_town(state.store().db(), t, id).await? {
            let place = r.place();
            let sees = auth.principal.can_see_region(Permission::PointsRead, &place) || is_villager_of(auth, r.id);
            if sees && r.kind().map(|k| k.level()) == Some(Level::AdminVillage) {
                return Ok(r);
            }
        }
    }
    Err(ApiError::not_found())
}

/// The public notice (公示) of an admin village: awards in notice or under objection.
#[utoipa::path(get, path = "/api/v1/points/notice", tag = "points", params(VillageParams),
    responses((status = 200, body = NoticeDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn notice(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<VillageParams>,
) -> ApiResult<Json<NoticeDto>> {
    let v = village_for(&state, &auth, p.village_id).await?;
    let rows = store::notice(state.store().db(), v.town_id, v.id, MAX_NOTICE_ROWS).await?;
    let settings = store::settings(state.store().db(), v.town_id).await?;
    Ok(Json(NoticeDto {
        village: RefDto { id: v.id, name: v.name.clone(), code: v.code.clone() },
        notice_days: settings.notice_days,
        awards: award_dtos(&state, &rows).await?,
    }))
}

/// The red list (红榜) of an admin village: the highest balances.
#[utoipa::path(get, path = "/api/v1/points/ranking", tag = "points", params(VillageParams),
    responses((status = 200, body = Vec<RankDto>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn ranking(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<VillageParams>,
) -> ApiResult<Json<Vec<RankDto>>> {
    let limit = p.limit.unwrap_or(10);
    if !(1..=MAX_RANKING).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query")
            .with_field("limit", Rule::OutOfRange { min: 1, max: MAX_RANKING as i64 }));
    }
    let v = village_for(&state, &auth, p.village_id).await?;
    let rows = store::ranking(state.store().db(), v.town_id, v.id, limit).await?;
    let hh: Vec<&HouseholdRow> = rows.iter().map(|(_, h, _)| h).collect();
    let refs = household_refs(&state, &hh).await?;
    Ok(Json(
        rows.iter()
            .zip(refs)
            .map(|((rank, _, balance), household)| RankDto { rank: *rank, household, balance: *balance })
            .collect(),
    ))
}

// ---- a household's points ----

/// A household's points: balance (one row, whatever its history), totals and rank in its village.
#[utoipa::path(get, path = "/api/v1/points/households/{id}", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 200, body = HouseholdPointsDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_household_points(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<HouseholdPointsDto>> {
    let h = household_for(&state, &auth, id, Permission::PointsRead).await?;
    Ok(Json(household_points(&state, &h).await?))
}

fn my_household(auth: &Auth) -> ApiResult<Uuid> {
    auth.principal
        .bindings
        .iter()
        .find(|b| b.role == Role::Resident && b.scope.level == Level::Household)
        .and_then(|b| b.scope.place.household_id)
        .ok_or_else(ApiError::not_found)
}

/// The signed-in resident's household points (404 for someone without a household).
#[utoipa::path(get, path = "/api/v1/points/mine", tag = "points",
    responses((status = 200, body = HouseholdPointsDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn mine(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<HouseholdPointsDto>> {
    let h = household_for(&state, &auth, my_household(&auth)?, Permission::PointsRead).await?;
    Ok(Json(household_points(&state, &h).await?))
}

/// A household's ledger history, newest first, with what each posting was for.
#[utoipa::path(get, path = "/api/v1/points/households/{id}/history", tag = "points",
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryItemDto>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn household_history(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryItemDto>>> {
    let page: PageRequest = p.parse()?;
    let h = household_for(&state, &auth, id, Permission::PointsRead).await?;
    let (items, total) = wuwei_store::points::history(state.store().db(), h.town_id, h.id, page).await?;
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let (award_id, redemption_id) = match i.reference.split_once(':') {
            Some(("award", id)) => (Uuid::parse_str(id).ok(), None),
            Some(("redemption" | "return", id)) => (None, Uuid::parse_str(id).ok()),
            _ => (None, None),
        };
        let reference = match award_id {
            Some(aid) => match store::award(state.store().db(), Some(h.town_id), aid).await? {
                Some(a) => format!("{} {}", a.number, a.item_name_zh),
                None => i.reference.clone(),
            },
            None => i.reference.clone(),
        };
        out.push(HistoryItemDto {
            posting_id: i.posting_id,
            seq: i.seq,
            kind: i.kind.as_str().to_string(),
            change: i.points,
            at: i.at,
            reference,
            award_id,
            redemption_id,
        });
    }
    Ok(Json(Page::new(out, page, total)))
}

// ---- the test clock ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockBody {
    /// Seconds to move the clock forward (1 to 400 days).
    pub advance_secs: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClockResult {
    pub now: chrono::DateTime<chrono::Utc>,
    pub awards_posted: u64,
}

/// Browser tests only (the server runs with `test_clock`; otherwise 404): move the clock
/// forward and run the points posting job once, so a 7-day public notice passes in a test.
#[utoipa::path(post, path = "/api/v1/test/clock", tag = "ops", request_body = ClockBody,
    responses((status = 200, body = ClockResult), (status = 404, body = crate::error::ErrorBody)))]
pub async fn test_clock(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<ClockBody>,
) -> ApiResult<Json<ClockResult>> {
    if !state.config().test_clock {
        return Err(ApiError::not_found());
    }
    let _ = auth;
    if !(1..=400 * 86_400).contains(&body.advance_secs) {
        return Err(ApiError::field("advance_secs", Rule::OutOfRange { min: 1, max: 400 * 86_400 }));
    }
    state.0.clock_offset_secs.fetch_add(body.advance_secs, std::sync::atomic::Ordering::Relaxed);
    let report = crate::jobs::post_awards(&state).await?;
    Ok(Json(ClockResult { now: state.now(), awards_posted: report.posted }))
}

//! The points workflow around the ledger (issue 5): the town's rulebook and settings, awards
//! from proposal to posting, objections, the sweeper step that posts awards whose public notice
//! ended, and what a household's points look like (balance, totals, rank).
//!
//! The rules are the domain's (`wuwei_domain::points::{rulebook, award, cap}`): this module loads
//! the facts (the rulebook, the award, the household's usage of an item in the period), asks
//! `award::decide` or `award::check_proposal`, and writes the outcome with a timeline entry and
//! an audit entry, in the caller's [`Tx`].
//!
//! A town has the default rulebook until it changes it: the first change (an item, a setting,
//! an import) copies the default into the town's own rows (`materialize`). An award keeps a copy
//! of its item's name and points, so a later rulebook change never alters it; the item's
//! existence and cap are checked again when the award posts.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::access::{Role, Scope};
use wuwei_domain::points::Points;
use wuwei_domain::points::award::{
    self, AwardAction, AwardCapacity, AwardFacts, AwardInput, AwardSource, AwardState, DEFAULT_NOTICE_DAYS, Proposal,
    ProposalRefusal, Refusal,
};
use wuwei_domain::points::cap::{self, Usage};
use wuwei_domain::points::ledger::{self as ledger_rules, ExpiryRule, PostingMeta, Request};
use wuwei_domain::points::rulebook::{self, Cap, Category, Evidence, Period, RuleItem, RuleProblem, Rulebook};

use crate::entity::{household, points_award, points_award_event, points_objection, points_rule_item, points_settings};
use crate::households::{HouseholdRow, city_towns, scope_condition};
use crate::points::{self as ledger_store, PointsError};
use crate::{Actor, AuditDraft, Result, StoreError, Tx, micros};

/// At most this many households in one (bulk) proposal.
pub const MAX_HOUSEHOLDS_PER_PROPOSAL: usize = wuwei_domain::points::cap::MAX_BULK_HOUSEHOLDS;
/// At most this many attachments (photos, documents) on one award.
pub const MAX_ATTACHMENTS: usize = 9;
/// The sweeper posts at most this many awards per pass; the next pass takes the rest.
pub const POST_BATCH: u64 = 500;

/// Why an award change was not made, with what the server answers.
#[derive(Debug, thiserror::Error)]
pub enum AwardError {
    /// 422 listing each problem (row, field).
    #[error("the rulebook has {} problem(s)", .0.len())]
    Rulebook(Vec<RuleProblem>),
    /// 422 on `item_code`.
    #[error("no rulebook item {code:?}")]
    UnknownItem { code: String },
    /// 403 or 422 per the refusal, naming the household (its index in the request).
    #[error("household {index}: {refusal}")]
    Proposal { index: usize, refusal: ProposalRefusal },
    /// 409/403/422 per the domain's refusal.
    #[error(transparent)]
    Refusal(#[from] Refusal),
    /// 422 on `household_ids[index]`: the household is listed twice in one proposal.
    #[error("household {index} is listed twice")]
    DuplicateHousehold { index: usize },
    /// 422 on `objection_id`: none given while several are open, or not an open objection of
    /// this award.
    #[error("objection_id must name an open objection of this award")]
    UnknownObjection,
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for AwardError {
    fn from(e: sea_orm::DbErr) -> AwardError {
        AwardError::Store(e.into())
    }
}

// ---- settings and the rulebook ----

/// A town's points settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub notice_days: u32,
    /// Deductions may take a balance below zero (kept with the ledger's head, see
    /// `points::allow_negative`).
    pub allow_negative: bool,
    /// What happens to points when the year turns (default: nothing).
    pub expiry_rule: ExpiryRule,
}

pub async fn settings(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Settings> {
    let row = points_settings::Entity::find_by_id(town_id).one(db).await?;
    let notice_days =
        row.as_ref().map_or(DEFAULT_NOTICE_DAYS, |s| u32::try_from(s.notice_days).unwrap_or(DEFAULT_NOTICE_DAYS));
    let expiry_rule = row.as_ref().and_then(|s| ExpiryRule::parse(&s.expiry_rule)).unwrap_or(ExpiryRule::Never);
    Ok(Settings { notice_days, allow_negative: ledger_store::allow_negative(db, town_id).await?, expiry_rule })
}

/// Give the town its own copy of the default rulebook if it has none yet (before its first
/// change). Returns whether it had its own already.
async fn materialize(tx: &Tx, town_id: Uuid, now: DateTime<Utc>, with_default_items: bool) -> Result<bool> {
    if points_settings::Entity::find_by_id(town_id).one(tx.db()).await?.is_some() {
        return Ok(true);
    }
    points_settings::Entity::insert(points_settings::ActiveModel {
        town_id: Set(town_id),
        notice_days: Set(DEFAULT_NOTICE_DAYS as i32),
        expiry_rule: Set(ExpiryRule::Never.as_str().to_string()),
        // Expiry starts with the year the town starts keeping points in: nothing before it.
        expired_year: Set(cap::china_date(now).year() - 1),
        updated_at: Set(micros(now)),
    })
    .exec(tx.db())
    .await?;
    if with_default_items {
        let items = rulebook::default_rulebook()
            .map_err(|p| StoreError::Invariant(format!("the default rulebook is invalid: {p:?}")))?;
        insert_items(tx, town_id, items.items(), 0, now).await?;
    }
    Ok(false)
}

async fn insert_items(tx: &Tx, town_id: Uuid, items: &[RuleItem], first: i32, now: DateTime<Utc>) -> Result<()> {
    // In chunks: a rulebook has at most 500 items, a statement at most a few hundred rows.
    for (chunk_ix, chunk) in items.chunks(100).enumerate() {
        let rows =
            chunk.iter().enumerate().map(|(i, item)| item_row(town_id, item, first + (chunk_ix * 100 + i) as i32, now));
        points_rule_item::Entity::insert_many(rows).exec(tx.db()).await?;
    }
    Ok(())
}

fn item_row(town_id: Uuid, item: &RuleItem, position: i32, now: DateTime<Utc>) -> points_rule_item::ActiveModel {
    points_rule_item::ActiveModel {
        town_id: Set(town_id),
        code: Set(item.code.clone()),
        category: Set(item.category.as_str().to_string()),
        name_zh: Set(item.name_zh.clone()),
        name_en: Set(item.name_en.clone()),
        points: Set(item.points),
        evidence: Set(item.evidence.as_str().to_string()),
        cap_points: Set(item.cap.map(|c| c.points)),
        cap_period: Set(item.cap.map(|c| c.period.as_str().to_string())),
        proposers: Set(item.proposers.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")),
        position: Set(position),
        updated_at: Set(micros(now)),
    }
}

fn item_of(row: points_rule_item::Model) -> Result<RuleItem> {
    let bad = |what: &str| StoreError::Invariant(format!("rulebook item {} has a bad {what}", row.code));
    let cap = match (row.cap_points, row.cap_period.as_deref()) {
        (Some(points), Some(p)) => Some(Cap { points, period: Period::parse(p).ok_or_else(|| bad("cap period"))? }),
        _ => None,
    };
    let proposers = row
        .proposers
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Role::parse(s).ok_or_else(|| bad("proposer")))
        .collect::<Result<Vec<_>>>()?;
    Ok(RuleItem {
        category: Category::parse(&row.category).ok_or_else(|| bad("category"))?,
        evidence: Evidence::parse(&row.evidence).ok_or_else(|| bad("evidence"))?,
        code: row.code,
        name_zh: row.name_zh,
        name_en: row.name_en,
        points: row.points,
        cap,
        proposers,
    })
}

/// The town's rulebook: its own once it has changed it, else the default.
pub async fn rulebook(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<RuleItem>> {
    if points_settings::Entity::find_by_id(town_id).one(db).await?.is_none() {
        return Ok(rulebook::default_items());
    }
    points_rule_item::Entity::find()
        .filter(points_rule_item::Column::TownId.eq(town_id))
        .order_by_asc(points_rule_item::Column::Position)
        .order_by_asc(points_rule_item::Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(item_of)
        .collect()
}

pub async fn set_settings(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    to: Settings,
    now: DateTime<Utc>,
) -> Result<Settings> {
    let before = settings(tx.db(), town_id).await?;
    materialize(tx, town_id, now, true).await?;
    points_settings::Entity::update_many()
        .col_expr(points_settings::Column::NoticeDays, Expr::value(to.notice_days as i32))
        .col_expr(points_settings::Column::ExpiryRule, Expr::value(to.expiry_rule.as_str()))
        .col_expr(points_settings::Column::UpdatedAt, Expr::value(micros(now)))
        .filter(points_settings::Column::TownId.eq(town_id))
        .exec(tx.db())
        .await?;
    if before.expiry_rule != to.expiry_rule {
        // A new rule applies from the year now running on: earlier years are not expired late.
        points_settings::Entity::update_many()
            .col_expr(points_settings::Column::ExpiredYear, Expr::value(cap::china_date(now).year() - 1))
            .filter(points_settings::Column::TownId.eq(town_id))
            .exec(tx.db())
            .await?;
    }
    ledger_store::set_allow_negative(tx, actor, town_id, to.allow_negative, now).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points.settings".into(),
        entity_type: "points_settings".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"notice_days": before.notice_days, "allow_negative": before.allow_negative,
                            "expiry_rule": before.expiry_rule.as_str()})),
        after: Some(json!({"notice_days": to.notice_days, "allow_negative": to.allow_negative,
                           "expiry_rule": to.expiry_rule.as_str()})),
    });
    Ok(to)
}

/// Add or replace one item; the whole rulebook is checked with it.
pub async fn put_item(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    item: RuleItem,
    now: DateTime<Utc>,
) -> Result<RuleItem, AwardError> {
    materialize(tx, town_id, now, true).await?;
    let mut items = rulebook(tx.db(), town_id).await?;
    let before = items.iter().find(|i| i.code == item.code).cloned();
    match items.iter_mut().find(|i| i.code == item.code) {
        Some(slot) => *slot = item.clone(),
        None => items.push(item.clone()),
    }
    Rulebook::new(items).map_err(AwardError::Rulebook)?;
    if before.is_some() {
        let position = points_rule_item::Entity::find_by_id((town_id, item.code.clone()))
            .one(tx.db())
            .await?
            .map_or(0, |r| r.position);
        points_rule_item::Entity::update(item_row(town_id, &item, position, now)).exec(tx.db()).await?;
    } else {
        let last = points_rule_item::Entity::find()
            .filter(points_rule_item::Column::TownId.eq(town_id))
            .order_by_desc(points_rule_item::Column::Position)
            .one(tx.db())
            .await?
            .map_or(0, |r| r.position + 1);
        points_rule_item::Entity::insert(item_row(town_id, &item, last, now)).exec(tx.db()).await?;
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: if before.is_some() { "points.rule_item.update" } else { "points.rule_item.create" }.into(),
        entity_type: "points_rule_item".into(),
        entity_id: item.code.clone(),
        town_id: Some(town_id),
        before: before.map(|b| json!(b)),
        after: Some(json!(item)),
    });
    Ok(item)
}

/// Remove an item. Awards already made from it keep their copy; pending ones will not post.
pub async fn delete_item(tx: &mut Tx, actor: &Actor, town_id: Uuid, code: &str, now: DateTime<Utc>) -> Result<()> {
    materialize(tx, town_id, now, true).await?;
    let Some(row) = points_rule_item::Entity::find_by_id((town_id, code.to_string())).one(tx.db()).await? else {
        return Err(StoreError::NotFound);
    };
    let before = item_of(row)?;
    points_rule_item::Entity::delete_by_id((town_id, code.to_string())).exec(tx.db()).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points.rule_item.delete".into(),
        entity_type: "points_rule_item".into(),
        entity_id: code.to_string(),
        town_id: Some(town_id),
        before: Some(json!(before)),
        after: None,
    });
    Ok(())
}

/// Replace the whole rulebook (an import). The caller checked it (`Rulebook::new`).
pub async fn replace_rulebook(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    book: &Rulebook,
    now: DateTime<Utc>,
) -> Result<()> {
    let before = rulebook(tx.db(), town_id).await?.len();
    materialize(tx, town_id, now, false).await?;
    points_rule_item::Entity::delete_many().filter(points_rule_item::Column::TownId.eq(town_id)).exec(tx.db()).await?;
    insert_items(tx, town_id, book.items(), 0, now).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points.rulebook.import".into(),
        entity_type: "points_rulebook".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"items": before})),
        after: Some(
            json!({"items": book.items().len(), "codes": book.items().iter().map(|i| &i.code).collect::<Vec<_>>()}),
        ),
    });
    Ok(())
}

// ---- awards ----

pub type AwardRow = points_award::Model;
pub type AwardEventRow = points_award_event::Model;
pub type ObjectionRow = points_objection::Model;

/// One household of a proposal, with the roles in which the proposer may act for it (those of
/// their bindings with `points.propose` covering the household) and whether it is their own.
#[derive(Debug, Clone)]
pub struct ProposedFor {
    pub household: HouseholdRow,
    pub roles: Vec<Role>,
    pub own_household: bool,
}

#[derive(Debug, Clone)]
pub struct NewAwards {
    pub town_id: Uuid,
    pub households: Vec<ProposedFor>,
    pub item_code: String,
    pub quantity: u32,
    pub note: String,
    pub attachment_ids: Vec<Uuid>,
    pub photos: u32,
    pub documents: u32,
    pub source: AwardSource,
    pub source_ref: Option<String>,
}

/// What a household already has from one item in the period containing `at` (see
/// `cap::Usage`), leaving out `except`.
pub async fn usage(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    household_id: Uuid,
    item: &RuleItem,
    at: DateTime<Utc>,
    except: Option<Uuid>,
) -> Result<Usage> {
    let Some(item_cap) = item.cap else { return Ok(Usage::default()) };
    let (start, end) = cap::period_bounds(item_cap.period, at);
    let mut q = points_award::Entity::find()
        .filter(points_award::Column::TownId.eq(town_id))
        .filter(points_award::Column::HouseholdId.eq(household_id))
        .filter(points_award::Column::ItemCode.eq(item.code.as_str()))
        .filter(points_award::Column::ProposedAt.gte(start))
        .filter(points_award::Column::ProposedAt.lt(end));
    if let Some(id) = except {
        q = q.filter(points_award::Column::Id.ne(id));
    }
    let mut usage = Usage::default();
    for a in q.all(db).await? {
        // Magnitudes: an item whose sign was edited meanwhile must not let awards of the old sign
        // cancel out awards of the new one (a cap bounds earning and deducting alike).
        match AwardState::parse(&a.state) {
            Some(AwardState::Posted) => usage.posted = usage.posted.saturating_add(a.points.saturating_abs()),
            Some(s) if s.is_pending() => usage.pending = usage.pending.saturating_add(a.points.saturating_abs()),
            _ => {}
        }
    }
    Ok(usage)
}

fn ids_text(ids: &[Uuid]) -> String {
    ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",")
}

pub fn attachment_ids(row: &AwardRow) -> Vec<Uuid> {
    row.attachment_ids.split(',').filter_map(|s| Uuid::parse_str(s).ok()).collect()
}

#[allow(clippy::too_many_arguments)]
async fn add_event(
    tx: &Tx,
    award: &AwardRow,
    actor: &Actor,
    action: &str,
    from: Option<AwardState>,
    to: Option<AwardState>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    // Every change of an award bumps its version and writes one event: the event's number is
    // the version it made (1 for the proposal).
    let seq = award.version;
    points_award_event::Entity::insert(points_award_event::ActiveModel {
        town_id: Set(award.town_id),
        award_id: Set(award.id),
        seq: Set(seq),
        at: Set(micros(now)),
        actor_id: Set(actor.id),
        actor_name: Set(actor.name.chars().take(64).collect()),
        action: Set(action.to_string()),
        from_state: Set(from.map(|s| s.as_str().to_string())),
        to_state: Set(to.map(|s| s.as_str().to_string())),
        note: Set(note.map(|n| n.chars().take(500).collect())),
    })
    .exec(tx.db())
    .await?;
    Ok(())
}

fn audit_award(tx: &mut Tx, actor: &Actor, action: &str, before: Option<&AwardRow>, after: &AwardRow) {
    let view = |a: &AwardRow| {
        json!({"number": a.number, "household_id": a.household_id, "item_code": a.item_code, "points": a.points,
               "state": a.state, "notice_ends_at": a.notice_ends_at, "open_objections": a.open_objections,
               "reason": a.reason, "posting_id": a.posting_id})
    };
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: format!("points.award.{action}"),
        entity_type: "points_award".into(),
        entity_id: after.id.to_string(),
        town_id: Some(after.town_id),
        before: before.map(view),
        after: Some(view(after)),
    });
}

/// Propose one award per household (a bulk award when there are several): all or nothing. Each
/// household is checked against the item (role, evidence, quantity) and its cap.
pub async fn propose(
    tx: &mut Tx,
    actor: &Actor,
    new: NewAwards,
    now: DateTime<Utc>,
) -> Result<Vec<AwardRow>, AwardError> {
    let now = micros(now);
    let book = rulebook(tx.db(), new.town_id).await?;
    let Some(item) = book.iter().find(|i| i.code == new.item_code).cloned() else {
        return Err(AwardError::UnknownItem { code: new.item_code });
    };
    let batch_id = Uuid::now_v7();
    let source =
        if new.households.len() > 1 && new.source == AwardSource::Manual { AwardSource::Bulk } else { new.source };
    // Every household is checked before anything is written: all or nothing, also for a caller
    // that carries on in the same transaction after a refusal.
    let mut checked = Vec::with_capacity(new.households.len());
    for (index, p) in new.households.iter().enumerate() {
        if new.households[..index].iter().any(|q| q.household.id == p.household.id) {
            return Err(AwardError::DuplicateHousehold { index });
        }
        let role = p.roles.iter().copied().find(|r| item.proposers.contains(r)).or_else(|| p.roles.first().copied());
        let Some(role) = role else {
            return Err(AwardError::Proposal {
                index,
                refusal: ProposalRefusal::RoleMayNotPropose { role: Role::Resident },
            });
        };
        let proposal = Proposal {
            role,
            own_household: p.own_household,
            quantity: new.quantity,
            photos: new.photos,
            documents: new.documents,
        };
        let used = usage(tx.db(), new.town_id, p.household.id, &item, now, None).await?;
        let points =
            award::check_proposal(&item, &proposal, used).map_err(|refusal| AwardError::Proposal { index, refusal })?;
        checked.push((p, points));
    }
    let mut out = Vec::with_capacity(new.households.len());
    for (p, points) in checked {
        let id = Uuid::now_v7();
        let number = ledger_store::next_number(tx, new.town_id, "JF", now).await?;
        let row = points_award::ActiveModel {
            town_id: Set(new.town_id),
            id: Set(id),
            number: Set(number),
            batch_id: Set(batch_id),
            household_id: Set(p.household.id),
            admin_village_id: Set(p.household.admin_village_id),
            natural_village_id: Set(p.household.natural_village_id),
            grid_id: Set(p.household.grid_id),
            item_code: Set(item.code.clone()),
            item_name_zh: Set(item.name_zh.clone()),
            item_name_en: Set(item.name_en.clone()),
            category: Set(item.category.as_str().to_string()),
            points_each: Set(item.points),
            quantity: Set(new.quantity as i32),
            points: Set(points),
            note: Set(new.note.clone()),
            source: Set(source.as_str().to_string()),
            source_ref: Set(new.source_ref.clone()),
            attachment_ids: Set(ids_text(&new.attachment_ids)),
            state: Set(AwardState::Proposed.as_str().to_string()),
            notice_ends_at: Set(None),
            open_objections: Set(0),
            proposed_by: Set(actor.id.unwrap_or(Uuid::nil())),
            proposed_by_name: Set(actor.name.chars().take(64).collect()),
            proposed_at: Set(now),
            reviewed_by: Set(None),
            reviewed_by_name: Set(None),
            reviewed_at: Set(None),
            reason: Set(None),
            posting_id: Set(None),
            posted_at: Set(None),
            version: Set(1),
            updated_at: Set(now),
        };
        let row = points_award::Entity::insert(row).exec_with_returning(tx.db()).await?;
        add_event(tx, &row, actor, "propose", None, Some(AwardState::Proposed), Some(new.note.clone()), now).await?;
        audit_award(tx, actor, "propose", None, &row);
        out.push(row);
    }
    Ok(out)
}

pub async fn award(db: &impl ConnectionTrait, town_id: Option<Uuid>, id: Uuid) -> Result<Option<AwardRow>> {
    let mut q = points_award::Entity::find().filter(points_award::Column::Id.eq(id));
    if let Some(t) = town_id {
        q = q.filter(points_award::Column::TownId.eq(t));
    }
    Ok(q.one(db).await?)
}

pub async fn events(db: &impl ConnectionTrait, award: &AwardRow) -> Result<Vec<AwardEventRow>> {
    Ok(points_award_event::Entity::find()
        .filter(points_award_event::Column::TownId.eq(award.town_id))
        .filter(points_award_event::Column::AwardId.eq(award.id))
        .order_by_asc(points_award_event::Column::Seq)
        .all(db)
        .await?)
}

pub async fn objections(db: &impl ConnectionTrait, award: &AwardRow) -> Result<Vec<ObjectionRow>> {
    Ok(points_objection::Entity::find()
        .filter(points_objection::Column::TownId.eq(award.town_id))
        .filter(points_objection::Column::AwardId.eq(award.id))
        .order_by_asc(points_objection::Column::FiledAt)
        .order_by_asc(points_objection::Column::Id)
        .all(db)
        .await?)
}

async fn lock_award(tx: &Tx, town_id: Uuid, id: Uuid) -> Result<AwardRow> {
    // FOR UPDATE on PostgreSQL; on SQLite the writer lock already serialises writers.
    let mut q = points_award::Entity::find()
        .filter(points_award::Column::TownId.eq(town_id))
        .filter(points_award::Column::Id.eq(id));
    if tx.backend() == crate::Backend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(tx.db()).await?.ok_or(StoreError::NotFound)
}

fn state_of(row: &AwardRow) -> Result<AwardState> {
    AwardState::parse(&row.state)
        .ok_or_else(|| StoreError::Invariant(format!("award {} has unknown state {:?}", row.id, row.state)))
}

async fn facts(tx: &Tx, row: &AwardRow, with_cap: bool, now: DateTime<Utc>) -> Result<AwardFacts> {
    let book = rulebook(tx.db(), row.town_id).await?;
    let item = book.iter().find(|i| i.code == row.item_code);
    let cap_room = match (with_cap, item) {
        (true, Some(item)) => match item.cap {
            Some(c) => {
                // The award counts in the period it was proposed in, now as then.
                let used = usage(tx.db(), row.town_id, row.household_id, item, row.proposed_at, Some(row.id)).await?;
                Some(cap::cap_room(c, used))
            }
            None => None,
        },
        _ => None,
    };
    let _ = now;
    Ok(AwardFacts {
        state: state_of(row)?,
        amount: row.points,
        notice_ends_at: row.notice_ends_at,
        open_objections: u32::try_from(row.open_objections).unwrap_or(0),
        notice_days: settings(tx.db(), row.town_id).await?.notice_days,
        cap_room,
        item_in_rulebook: item.is_some(),
    })
}

/// Write an award's new state (conditional on its version), its timeline entry and audit.
#[allow(clippy::too_many_arguments)]
async fn save(
    tx: &mut Tx,
    actor: &Actor,
    before: &AwardRow,
    mut after: points_award::ActiveModel,
    action: &str,
    from: AwardState,
    to: AwardState,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<AwardRow> {
    after.version = Set(before.version + 1);
    after.updated_at = Set(micros(now));
    let res = points_award::Entity::update_many()
        .set(after)
        .filter(points_award::Column::TownId.eq(before.town_id))
        .filter(points_award::Column::Id.eq(before.id))
        .filter(points_award::Column::Version.eq(before.version))
        .exec(tx.db())
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: before.version });
    }
    let row = lock_award(tx, before.town_id, before.id).await?;
    add_event(tx, &row, actor, action, Some(from), Some(to), note, now).await?;
    audit_award(tx, actor, action, Some(before), &row);
    Ok(row)
}

/// What a caller asks of an award.
#[derive(Debug, Clone, Default)]
pub struct AwardRequest {
    pub reason: Option<String>,
    /// Which objection a review answers (optional when exactly one is open).
    pub objection_id: Option<Uuid>,
    /// The version the caller saw; a stale one is a conflict.
    pub version: Option<i32>,
}

/// Take `action` on an award in the given capacities (approve, reject, withdraw, answer an
/// objection, renotice). Objections are filed with [`object`], posting is [`post_award`].
#[allow(clippy::too_many_arguments)]
pub async fn act(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    id: Uuid,
    action: AwardAction,
    capacities: &[AwardCapacity],
    request: AwardRequest,
    now: DateTime<Utc>,
) -> Result<AwardRow, AwardError> {
    let now = micros(now);
    let row = lock_award(tx, town_id, id).await?;
    if let Some(v) = request.version
        && v != row.version
    {
        return Err(StoreError::VersionConflict { current: row.version }.into());
    }
    if matches!(action, AwardAction::Object | AwardAction::Post) {
        return Err(
            Refusal::NotPermitted { action, needed: vec![AwardCapacity::Objector, AwardCapacity::System] }.into()
        );
    }
    let facts = facts(tx, &row, false, now).await?;
    let input = AwardInput { reason: request.reason.clone() };
    let d = award::decide(&facts, action, capacities, &input, now)?;
    let reason = request.reason.as_ref().map(|r| r.trim().chars().take(500).collect::<String>());

    // The objections this answers.
    let open: Vec<ObjectionRow> = objections(tx.db(), &row).await?.into_iter().filter(|o| o.state == "open").collect();
    let answered: Vec<(Uuid, &str)> = match action {
        AwardAction::DismissObjection | AwardAction::UpholdObjection => {
            let chosen = match request.objection_id {
                Some(oid) => open.iter().find(|o| o.id == oid).map(|o| o.id),
                None if open.len() == 1 => open.first().map(|o| o.id),
                None => None,
            };
            let Some(chosen) = chosen else { return Err(AwardError::UnknownObjection) };
            if action == AwardAction::DismissObjection {
                vec![(chosen, "dismissed")]
            } else {
                // Upheld: the award is rejected, which answers every open objection.
                open.iter().map(|o| (o.id, "upheld")).collect()
            }
        }
        // A corrected award answers every open objection.
        AwardAction::Renotice => open.iter().map(|o| (o.id, "upheld")).collect(),
        _ => Vec::new(),
    };
    for (oid, state) in &answered {
        points_objection::Entity::update_many()
            .col_expr(points_objection::Column::State, Expr::value(*state))
            .col_expr(points_objection::Column::ResolvedBy, Expr::value(actor.id))
            .col_expr(
                points_objection::Column::ResolvedByName,
                Expr::value(actor.name.chars().take(64).collect::<String>()),
            )
            .col_expr(points_objection::Column::ResolvedAt, Expr::value(now))
            .col_expr(points_objection::Column::Resolution, Expr::value(reason.clone()))
            .filter(points_objection::Column::TownId.eq(town_id))
            .filter(points_objection::Column::Id.eq(*oid))
            .exec(tx.db())
            .await?;
    }

    let mut after = points_award::ActiveModel {
        state: Set(d.to.as_str().to_string()),
        notice_ends_at: Set(d.notice_ends_at),
        open_objections: Set(i32::try_from(d.open_objections).unwrap_or(i32::MAX)),
        ..Default::default()
    };
    match action {
        AwardAction::Approve | AwardAction::Reject => {
            after.reviewed_by = Set(actor.id);
            after.reviewed_by_name = Set(Some(actor.name.chars().take(64).collect()));
            after.reviewed_at = Set(Some(now));
        }
        _ => {}
    }
    if matches!(action, AwardAction::Reject | AwardAction::UpholdObjection | AwardAction::Renotice) {
        after.reason = Set(reason.clone());
    }
    Ok(save(tx, actor, &row, after, action.as_str(), d.from, d.to, reason, now).await?)
}

/// A resident of the award's village objects while the notice runs: the award pauses.
pub async fn object(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<AwardRow, AwardError> {
    let now = micros(now);
    let row = lock_award(tx, town_id, id).await?;
    let facts = facts(tx, &row, false, now).await?;
    let d = award::decide(
        &facts,
        AwardAction::Object,
        &[AwardCapacity::Objector],
        &AwardInput { reason: Some(reason.to_string()) },
        now,
    )?;
    let reason: String = reason.trim().chars().take(500).collect();
    points_objection::Entity::insert(points_objection::ActiveModel {
        town_id: Set(town_id),
        id: Set(Uuid::now_v7()),
        award_id: Set(row.id),
        filed_by: Set(actor.id.unwrap_or(Uuid::nil())),
        filed_by_name: Set(actor.name.chars().take(64).collect()),
        reason: Set(reason.clone()),
        state: Set("open".into()),
        filed_at: Set(now),
        resolved_by: Set(None),
        resolved_by_name: Set(None),
        resolved_at: Set(None),
        resolution: Set(None),
    })
    .exec(tx.db())
    .await?;
    let after = points_award::ActiveModel {
        state: Set(d.to.as_str().to_string()),
        open_objections: Set(i32::try_from(d.open_objections).unwrap_or(i32::MAX)),
        ..Default::default()
    };
    Ok(save(tx, actor, &row, after, "object", d.from, d.to, Some(reason), now).await?)
}

/// What happened to an award the sweeper looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Posted {
        posting_id: Uuid,
    },
    /// The rulebook item was removed or the cap filled meanwhile: the award is rejected with the
    /// reason, since it can never post.
    Refused {
        reason: String,
    },
    /// Not due (any more): someone objected or it moved on.
    NotDue,
}

/// Post one award whose notice ended, in the caller's transaction.
pub async fn post_award(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<PostOutcome, AwardError> {
    let now = micros(now);
    let row = lock_award(tx, town_id, id).await?;
    let facts = facts(tx, &row, true, now).await?;
    if !award::due_to_post(&facts, now) {
        return Ok(PostOutcome::NotDue);
    }
    match award::decide(&facts, AwardAction::Post, &[AwardCapacity::System], &AwardInput::default(), now) {
        Ok(d) => {
            let meta = PostingMeta {
                id: Uuid::now_v7(),
                town_id,
                at: now,
                idempotency_key: format!("award:{}", row.id),
                reference: format!("award:{}", row.id),
            };
            let request = if row.points >= 0 {
                Request::Award { household: row.household_id, points: row.points }
            } else {
                Request::Deduction { household: row.household_id, points: row.points.saturating_abs() }
            };
            let posted = ledger_store::post(tx, actor, meta, request).await?;
            let after = points_award::ActiveModel {
                state: Set(d.to.as_str().to_string()),
                posting_id: Set(Some(posted.posting.id)),
                posted_at: Set(Some(now)),
                ..Default::default()
            };
            save(tx, actor, &row, after, "post", d.from, d.to, None, now).await?;
            Ok(PostOutcome::Posted { posting_id: posted.posting.id })
        }
        Err(refusal @ (Refusal::ItemGone | Refusal::OverCap { .. })) => {
            let reason = refusal.to_string();
            let after = points_award::ActiveModel {
                state: Set(AwardState::Rejected.as_str().to_string()),
                reason: Set(Some(reason.clone())),
                ..Default::default()
            };
            save(tx, actor, &row, after, "post_refused", facts.state, AwardState::Rejected, Some(reason.clone()), now)
                .await?;
            Ok(PostOutcome::Refused { reason })
        }
        Err(other) => Err(other.into()),
    }
}

/// Awards whose notice ended with no open objection, oldest first (at most `limit`).
pub async fn due_awards(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(points_award::Entity::find()
        .select_only()
        .column(points_award::Column::TownId)
        .column(points_award::Column::Id)
        .filter(points_award::Column::State.eq(AwardState::InPublicNotice.as_str()))
        .filter(points_award::Column::OpenObjections.eq(0))
        .filter(points_award::Column::NoticeEndsAt.lte(micros(now)))
        .order_by_asc(points_award::Column::NoticeEndsAt)
        .limit(limit)
        .into_tuple::<(Uuid, Uuid)>()
        .all(db)
        .await?)
}

/// Filters of the award list; `scopes` are the caller's `points.read` scopes.
#[derive(Debug, Clone, Default)]
pub struct AwardFilter {
    pub town_id: Option<Uuid>,
    pub states: Vec<AwardState>,
    pub admin_village_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
}

/// Awards in the caller's scope, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AwardFilter,
    scopes: &[Scope],
    offset: u64,
    limit: u64,
) -> Result<(Vec<AwardRow>, u64)> {
    let towns = city_towns(db, scopes).await?;
    let in_scope = Query::select()
        .column(household::Column::Id)
        .from(household::Entity)
        .cond_where(scope_condition(scopes, &towns))
        .to_owned();
    let mut cond = Condition::all().add(points_award::Column::HouseholdId.in_subquery(in_scope));
    if let Some(t) = filter.town_id {
        cond = cond.add(points_award::Column::TownId.eq(t));
    }
    if !filter.states.is_empty() {
        cond = cond.add(points_award::Column::State.is_in(filter.states.iter().map(|s| s.as_str())));
    }
    if let Some(v) = filter.admin_village_id {
        cond = cond.add(points_award::Column::AdminVillageId.eq(v));
    }
    if let Some(h) = filter.household_id {
        cond = cond.add(points_award::Column::HouseholdId.eq(h));
    }
    if let Some(b) = filter.batch_id {
        cond = cond.add(points_award::Column::BatchId.eq(b));
    }
    let q = points_award::Entity::find().filter(cond);
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(points_award::Column::ProposedAt)
        .order_by_desc(points_award::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// The public notice of an admin village: awards in notice or objected, by when they end.
pub async fn notice(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    admin_village_id: Uuid,
    limit: u64,
) -> Result<Vec<AwardRow>> {
    Ok(points_award::Entity::find()
        .filter(points_award::Column::TownId.eq(town_id))
        .filter(points_award::Column::AdminVillageId.eq(admin_village_id))
        .filter(points_award::Column::State.is_in([AwardState::InPublicNotice.as_str(), AwardState::Objected.as_str()]))
        .order_by_asc(points_award::Column::NoticeEndsAt)
        .order_by_asc(points_award::Column::Number)
        .limit(limit)
        .all(db)
        .await?)
}

// ---- a household's points ----

/// A household's points at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdPoints {
    pub balance: Points,
    /// Awards posted, net of their reversals.
    pub earned_total: Points,
    /// Deductions and expiries, net of their reversals (positive).
    pub deducted_total: Points,
    /// Redemptions net of returns (positive).
    pub redeemed_total: Points,
    /// Points of awards proposed, in notice or objected.
    pub pending_points: Points,
    /// 1 for the highest balance in the admin village; ties share a rank.
    pub rank_in_village: u64,
    pub households_in_village: u64,
}

fn sql(backend: DbBackend, text: &str) -> String {
    // Written with `?`; PostgreSQL numbers its parameters.
    if backend != DbBackend::Postgres {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut n = 0;
    for ch in text.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

pub async fn household_points(db: &impl ConnectionTrait, household: &HouseholdRow) -> Result<HouseholdPoints> {
    let backend = db.get_database_backend();
    let town_id = household.town_id;
    let balance =
        ledger_store::balance(db, town_id, wuwei_domain::points::ledger::Account::household(household.id)).await?;
    // The household's running totals by kind of posting (kept at every posting): a few rows,
    // whatever its history.
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, "SELECT bucket, total FROM points_household_total WHERE town_id = ? AND household_id = ?"),
            [town_id.into(), household.id.into()],
        ))
        .await?;
    let mut by_kind: HashMap<String, Points> = HashMap::new();
    for r in rows {
        let kind: String = r.try_get("", "bucket")?;
        let total: i64 = r.try_get("", "total")?;
        by_kind.insert(kind, total);
    }
    let get = |k: &str| by_kind.get(k).copied().unwrap_or(0);
    let pending_points = points_award::Entity::find()
        .filter(points_award::Column::TownId.eq(town_id))
        .filter(points_award::Column::HouseholdId.eq(household.id))
        .filter(points_award::Column::State.is_in([
            AwardState::Proposed.as_str(),
            AwardState::InPublicNotice.as_str(),
            AwardState::Objected.as_str(),
        ]))
        .all(db)
        .await?
        .iter()
        .map(|a| a.points)
        .sum();
    let count_row =
        |text: &str, values: Vec<sea_orm::Value>| Statement::from_sql_and_values(backend, sql(backend, text), values);
    // Rank: the village's households (index `household_town_av`), each balance one key lookup,
    // so it costs the village's size, never the history.
    let above = db
        .query_one_raw(count_row(
            "SELECT COUNT(*) AS n FROM household h JOIN points_balance b \
             ON b.town_id = h.town_id AND b.account_kind = 'household' AND b.account_id = h.id \
             WHERE h.town_id = ? AND h.admin_village_id = ? AND b.balance > ?",
            vec![town_id.into(), household.admin_village_id.into(), balance.into()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    // Households never touched have a balance of 0: they rank below a positive balance too.
    let zero_below = if balance < 0 {
        let with_rows = db
            .query_one_raw(count_row(
                "SELECT COUNT(*) AS n FROM household h JOIN points_balance b \
                 ON b.town_id = h.town_id AND b.account_kind = 'household' AND b.account_id = h.id \
                 WHERE h.town_id = ? AND h.admin_village_id = ?",
                vec![town_id.into(), household.admin_village_id.into()],
            ))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        let all = household::Entity::find()
            .filter(household::Column::TownId.eq(town_id))
            .filter(household::Column::AdminVillageId.eq(household.admin_village_id))
            .count(db)
            .await? as i64;
        (all - with_rows).max(0)
    } else {
        0
    };
    let households_in_village = household::Entity::find()
        .filter(household::Column::TownId.eq(town_id))
        .filter(household::Column::AdminVillageId.eq(household.admin_village_id))
        .count(db)
        .await?;
    Ok(HouseholdPoints {
        balance,
        earned_total: get("award"),
        deducted_total: -(get("deduction") + get("expiry")),
        redeemed_total: -get("redemption"),
        pending_points,
        rank_in_village: (above + zero_below).max(0) as u64 + 1,
        households_in_village,
    })
}

/// The red list (红榜) of an admin village: the highest balances, ties sharing a rank.
pub async fn ranking(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    admin_village_id: Uuid,
    limit: u64,
) -> Result<Vec<(u64, HouseholdRow, Points)>> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "SELECT b.account_id AS id, b.balance AS balance FROM points_balance b \
                 JOIN household h ON h.id = b.account_id \
                 WHERE b.town_id = ? AND b.account_kind = 'household' AND h.admin_village_id = ? AND b.balance > 0 \
                 ORDER BY b.balance DESC, h.code ASC LIMIT ?",
            ),
            [town_id.into(), admin_village_id.into(), (limit as i64).into()],
        ))
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut balances = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.try_get::<Uuid>("", "id")?);
        balances.push(r.try_get::<i64>("", "balance")?);
    }
    let mut households: HashMap<Uuid, HouseholdRow> = household::Entity::find()
        .filter(household::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    let mut rank = 0;
    let mut last: Option<Points> = None;
    for (i, (id, balance)) in ids.into_iter().zip(balances).enumerate() {
        if last != Some(balance) {
            rank = i as u64 + 1;
            last = Some(balance);
        }
        if let Some(h) = households.remove(&id) {
            out.push((rank, h, balance));
        }
    }
    Ok(out)
}

// ---- evidence ----

pub type EvidenceRow = crate::entity::points_evidence::Model;

/// A checked photo to record as evidence (the bytes are already stored by the caller).
#[derive(Debug, Clone)]
pub struct NewEvidence {
    pub town_id: Uuid,
    pub id: Uuid,
    pub mime: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub thumb_sha256: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

pub async fn insert_evidence(tx: &mut Tx, actor: &Actor, new: NewEvidence, now: DateTime<Utc>) -> Result<EvidenceRow> {
    use crate::entity::points_evidence;
    let row = points_evidence::Entity::insert(points_evidence::ActiveModel {
        town_id: Set(new.town_id),
        id: Set(new.id),
        mime: Set(new.mime),
        size_bytes: Set(new.size_bytes),
        sha256: Set(new.sha256),
        thumb_sha256: Set(new.thumb_sha256),
        width: Set(new.width),
        height: Set(new.height),
        created_by: Set(actor.id),
        created_at: Set(micros(now)),
    })
    .exec_with_returning(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points.evidence.upload".into(),
        entity_type: "points_evidence".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        after: Some(json!({"mime": row.mime, "size_bytes": row.size_bytes, "sha256": row.sha256})),
    });
    Ok(row)
}

pub async fn evidence(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<EvidenceRow>> {
    use crate::entity::points_evidence;
    Ok(points_evidence::Entity::find().filter(points_evidence::Column::Id.eq(id)).one(db).await?)
}

/// The evidence rows of these ids in the town (missing ones are simply absent).
pub async fn evidence_of(db: &impl ConnectionTrait, town_id: Uuid, ids: &[Uuid]) -> Result<Vec<EvidenceRow>> {
    use crate::entity::points_evidence;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(points_evidence::Entity::find()
        .filter(points_evidence::Column::TownId.eq(town_id))
        .filter(points_evidence::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}

// ---- yearly expiry ----

/// A town whose points expire, and the China year whose end is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryDue {
    pub town_id: Uuid,
    pub rule: ExpiryRule,
    /// The year that ended and has not been expired yet.
    pub year: i32,
}

/// Towns with an expiry rule whose last ended year has not been processed.
pub async fn expiry_due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<ExpiryDue>> {
    let ended = cap::china_date(now).year() - 1;
    Ok(points_settings::Entity::find()
        .filter(points_settings::Column::ExpiryRule.ne(ExpiryRule::Never.as_str()))
        .filter(points_settings::Column::ExpiredYear.lt(ended))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|s| {
            Some(ExpiryDue { town_id: s.town_id, rule: ExpiryRule::parse(&s.expiry_rule)?, year: s.expired_year + 1 })
        })
        .collect())
}

/// Expire the points of one ended year in a town, as postings (never by editing): each
/// household with a positive balance gives back what the rule says. Idempotent per household
/// and year (the key `expiry:<year>:<household>`), and the year is marked done in the same
/// transaction. Returns the postings made.
pub async fn expire_year(tx: &mut Tx, actor: &Actor, due: ExpiryDue, now: DateTime<Utc>) -> Result<u64, AwardError> {
    let now = micros(now);
    let backend = tx.db().get_database_backend();
    let start = cap::china_midnight(chrono::NaiveDate::from_ymd_opt(due.year, 1, 1).unwrap_or(chrono::NaiveDate::MIN));
    let end = ledger_rules::year_end_after(start);
    // Balances now, and what each household was credited during the ended year.
    let balances = tx
        .db()
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "SELECT account_id AS id, balance FROM points_balance \
                 WHERE town_id = ? AND account_kind = 'household' AND balance > 0 ORDER BY account_id",
            ),
            [due.town_id.into()],
        ))
        .await?;
    let earned_rows = tx
        .db()
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "SELECT e.account_id AS id, CAST(SUM(e.points) AS BIGINT) AS earned FROM points_entry e \
                 JOIN points_posting p ON p.town_id = e.town_id AND p.id = e.posting_id \
                 WHERE e.town_id = ? AND e.account_kind = 'household' AND e.points > 0 AND p.at >= ? AND p.at < ? \
                 GROUP BY e.account_id",
            ),
            [due.town_id.into(), start.into(), end.into()],
        ))
        .await?;
    let mut earned: HashMap<Uuid, Points> = HashMap::new();
    for r in earned_rows {
        earned.insert(r.try_get("", "id")?, r.try_get("", "earned")?);
    }
    let mut made = 0;
    for r in balances {
        let household: Uuid = r.try_get("", "id")?;
        let balance: i64 = r.try_get("", "balance")?;
        let amount = ledger_rules::expiry_amount(due.rule, balance, earned.get(&household).copied().unwrap_or(0));
        if amount <= 0 {
            continue;
        }
        let meta = PostingMeta {
            id: Uuid::now_v7(),
            town_id: due.town_id,
            at: now,
            idempotency_key: format!("expiry:{}:{household}", due.year),
            reference: format!("expiry:{}:{}", due.year, due.rule.as_str()),
        };
        let posted = ledger_store::post(tx, actor, meta, Request::Expiry { household, points: amount }).await?;
        if !posted.replayed {
            made += 1;
        }
    }
    points_settings::Entity::update_many()
        .col_expr(points_settings::Column::ExpiredYear, Expr::value(due.year))
        .col_expr(points_settings::Column::UpdatedAt, Expr::value(now))
        .filter(points_settings::Column::TownId.eq(due.town_id))
        .exec(tx.db())
        .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points.expire_year".into(),
        entity_type: "points_settings".into(),
        entity_id: due.town_id.to_string(),
        town_id: Some(due.town_id),
        before: None,
        after: Some(json!({"year": due.year, "rule": due.rule.as_str(), "postings": made})),
    });
    Ok(made)
}

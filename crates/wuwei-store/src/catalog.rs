//! What the case loop is configured with: categories and their deadline policies, handling
//! units (and who is in them), routing rules.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::case::{DEFAULT_CATEGORIES, DEFAULT_UNITS, DeadlinePolicy, Priority, UnitKind};

use crate::entity::{category, deadline_policy, handling_unit, routing_rule, unit_member};
use crate::{Actor, AuditDraft, Result, StoreError, Tx, found};

pub use crate::entity::category::Model as CategoryRow;
pub use crate::entity::handling_unit::Model as UnitRow;
pub use crate::entity::routing_rule::Model as RuleRow;

impl UnitRow {
    pub fn unit_kind(&self) -> Option<UnitKind> {
        UnitKind::parse(&self.kind)
    }
}

/// Seed a town's default categories, policies, offices and routing rules; a no-op when the town
/// has categories already.
pub async fn seed_defaults(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, town_id: Uuid) -> Result<bool> {
    let existing = category::Entity::find().filter(category::Column::TownId.eq(town_id)).one(tx.db()).await?;
    if existing.is_some() {
        return Ok(false);
    }
    let mut unit_ids: HashMap<&str, Uuid> = HashMap::new();
    for u in DEFAULT_UNITS {
        let id = Uuid::now_v7();
        handling_unit::ActiveModel {
            town_id: Set(town_id),
            id: Set(id),
            kind: Set(u.kind.as_str().to_string()),
            code: Set(u.code.to_string()),
            name: Set(u.name.to_string()),
            region_id: Set(None),
            active: Set(true),
            created_at: Set(now),
        }
        .insert(tx.db())
        .await?;
        unit_ids.insert(u.code, id);
    }
    let mut category_ids: HashMap<&str, Uuid> = HashMap::new();
    for (i, c) in DEFAULT_CATEGORIES.iter().enumerate() {
        let id = Uuid::now_v7();
        category::ActiveModel {
            town_id: Set(town_id),
            id: Set(id),
            parent_id: Set(c.parent.and_then(|p| category_ids.get(p).copied())),
            code: Set(c.code.to_string()),
            name: Set(c.name.to_string()),
            name_en: Set(c.name_en.to_string()),
            default_unit_kind: Set(c.unit_kind.as_str().to_string()),
            requires_photo: Set(c.requires_photo),
            is_dispute: Set(c.is_dispute),
            active: Set(true),
            sort: Set(i as i32),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
        }
        .insert(tx.db())
        .await?;
        category_ids.insert(c.code, id);
        for p in Priority::ALL {
            let d = DeadlinePolicy::default_for(*p);
            deadline_policy::ActiveModel {
                town_id: Set(town_id),
                category_id: Set(id),
                priority: Set(p.as_str().to_string()),
                accept_minutes: Set(d.accept_minutes as i32),
                resolve_minutes: Set(d.resolve_minutes as i32),
                updated_at: Set(now),
            }
            .insert(tx.db())
            .await?;
        }
        if let Some(office) = c.office.and_then(|o| unit_ids.get(o)) {
            routing_rule::ActiveModel {
                town_id: Set(town_id),
                id: Set(Uuid::now_v7()),
                category_id: Set(Some(id)),
                region_id: Set(None),
                unit_kind: Set(None),
                unit_id: Set(Some(*office)),
                created_at: Set(now),
            }
            .insert(tx.db())
            .await?;
        }
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "catalog.seed".into(),
        entity_type: "town".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(json!({"categories": DEFAULT_CATEGORIES.len(), "units": DEFAULT_UNITS.len()})),
    });
    Ok(true)
}

pub async fn categories(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<CategoryRow>> {
    Ok(category::Entity::find()
        .filter(category::Column::TownId.eq(town_id))
        .order_by_asc(category::Column::Sort)
        .order_by_asc(category::Column::Id)
        .all(db)
        .await?)
}

pub async fn category(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<CategoryRow>> {
    Ok(category::Entity::find_by_id((town_id, id)).one(db).await?)
}

pub async fn category_by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<CategoryRow>> {
    Ok(category::Entity::find().filter(category::Column::Id.eq(id)).one(db).await?)
}

pub async fn category_by_code(db: &impl ConnectionTrait, town_id: Uuid, code: &str) -> Result<Option<CategoryRow>> {
    Ok(category::Entity::find()
        .filter(category::Column::TownId.eq(town_id))
        .filter(category::Column::Code.eq(code))
        .one(db)
        .await?)
}

/// Deadline policies of a town: (category, priority) → policy.
pub async fn policies(db: &impl ConnectionTrait, town_id: Uuid) -> Result<HashMap<(Uuid, String), DeadlinePolicy>> {
    let rows = deadline_policy::Entity::find().filter(deadline_policy::Column::TownId.eq(town_id)).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.category_id, r.priority),
                DeadlinePolicy {
                    accept_minutes: r.accept_minutes.max(1) as u32,
                    resolve_minutes: r.resolve_minutes.max(1) as u32,
                },
            )
        })
        .collect())
}

/// The policy for one category and priority, falling back to the built-in default.
pub async fn policy(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    category_id: Uuid,
    priority: Priority,
) -> Result<DeadlinePolicy> {
    let row =
        deadline_policy::Entity::find_by_id((town_id, category_id, priority.as_str().to_string())).one(db).await?;
    Ok(row
        .map(|r| DeadlinePolicy {
            accept_minutes: r.accept_minutes.max(1) as u32,
            resolve_minutes: r.resolve_minutes.max(1) as u32,
        })
        .unwrap_or_else(|| DeadlinePolicy::default_for(priority)))
}

#[derive(Debug, Clone)]
pub struct CategoryInput {
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub unit_kind: UnitKind,
    pub requires_photo: bool,
    pub is_dispute: bool,
    pub active: bool,
    pub policies: Vec<(Priority, DeadlinePolicy)>,
}

fn category_view(c: &CategoryRow, policies: &[(Priority, DeadlinePolicy)]) -> serde_json::Value {
    json!({
        "code": c.code, "name": c.name, "name_en": c.name_en, "parent_id": c.parent_id,
        "default_unit_kind": c.default_unit_kind, "requires_photo": c.requires_photo,
        "is_dispute": c.is_dispute, "active": c.active,
        "policies": policies.iter().map(|(p, d)| json!({"priority": p.as_str(), "accept_minutes": d.accept_minutes, "resolve_minutes": d.resolve_minutes})).collect::<Vec<_>>(),
    })
}

async fn write_policies(
    tx: &Tx,
    town_id: Uuid,
    category_id: Uuid,
    now: DateTime<Utc>,
    policies: &[(Priority, DeadlinePolicy)],
) -> Result<()> {
    for (p, d) in policies {
        deadline_policy::Entity::delete_by_id((town_id, category_id, p.as_str().to_string())).exec(tx.db()).await?;
        deadline_policy::ActiveModel {
            town_id: Set(town_id),
            category_id: Set(category_id),
            priority: Set(p.as_str().to_string()),
            accept_minutes: Set(d.accept_minutes as i32),
            resolve_minutes: Set(d.resolve_minutes as i32),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await?;
    }
    Ok(())
}

pub async fn insert_category(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    town_id: Uuid,
    input: CategoryInput,
) -> Result<CategoryRow> {
    let id = Uuid::now_v7();
    let sort = categories(tx.db(), town_id).await?.len() as i32;
    let row = category::ActiveModel {
        town_id: Set(town_id),
        id: Set(id),
        parent_id: Set(input.parent_id),
        code: Set(input.code),
        name: Set(input.name),
        name_en: Set(input.name_en),
        default_unit_kind: Set(input.unit_kind.as_str().to_string()),
        requires_photo: Set(input.requires_photo),
        is_dispute: Set(input.is_dispute),
        active: Set(input.active),
        sort: Set(sort),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    }
    .insert(tx.db())
    .await?;
    let mut all: Vec<(Priority, DeadlinePolicy)> =
        Priority::ALL.iter().map(|p| (*p, DeadlinePolicy::default_for(*p))).collect();
    for (p, d) in &input.policies {
        if let Some(slot) = all.iter_mut().find(|(q, _)| q == p) {
            slot.1 = *d;
        }
    }
    write_policies(tx, town_id, id, now, &all).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "category.create".into(),
        entity_type: "category".into(),
        entity_id: id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(category_view(&row, &all)),
    });
    Ok(row)
}

pub async fn update_category(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: CategoryRow,
    expected_version: i32,
    input: CategoryInput,
) -> Result<CategoryRow> {
    let before_policies: Vec<(Priority, DeadlinePolicy)> = {
        let all = policies(tx.db(), current.town_id).await?;
        Priority::ALL.iter().filter_map(|p| all.get(&(current.id, p.as_str().to_string())).map(|d| (*p, *d))).collect()
    };
    let before = category_view(&current, &before_policies);
    let mut am = current.clone().into_active_model();
    am.parent_id = Set(input.parent_id);
    am.code = Set(input.code);
    am.name = Set(input.name);
    am.name_en = Set(input.name_en);
    am.default_unit_kind = Set(input.unit_kind.as_str().to_string());
    am.requires_photo = Set(input.requires_photo);
    am.is_dispute = Set(input.is_dispute);
    am.active = Set(input.active);
    am.updated_at = Set(now);
    am.version = Set(expected_version + 1);
    let res = category::Entity::update_many()
        .set(am)
        .filter(category::Column::TownId.eq(current.town_id))
        .filter(category::Column::Id.eq(current.id))
        .filter(category::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    if res.rows_affected == 0 {
        let now_row = found(category(tx.db(), current.town_id, current.id).await?)?;
        return Err(StoreError::VersionConflict { current: now_row.version });
    }
    write_policies(tx, current.town_id, current.id, now, &input.policies).await?;
    let row = found(category(tx.db(), current.town_id, current.id).await?)?;
    let mut after_policies = before_policies;
    for (p, d) in &input.policies {
        match after_policies.iter_mut().find(|(q, _)| q == p) {
            Some(slot) => slot.1 = *d,
            None => after_policies.push((*p, *d)),
        }
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "category.update".into(),
        entity_type: "category".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(before),
        after: Some(category_view(&row, &after_policies)),
    });
    Ok(row)
}

// ---- units ----

pub async fn units(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<UnitRow>> {
    Ok(handling_unit::Entity::find()
        .filter(handling_unit::Column::TownId.eq(town_id))
        .order_by_asc(handling_unit::Column::Kind)
        .order_by_asc(handling_unit::Column::Code)
        .all(db)
        .await?)
}

pub async fn unit(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<UnitRow>> {
    Ok(handling_unit::Entity::find_by_id((town_id, id)).one(db).await?)
}

pub async fn unit_by_code(db: &impl ConnectionTrait, town_id: Uuid, code: &str) -> Result<Option<UnitRow>> {
    Ok(handling_unit::Entity::find()
        .filter(handling_unit::Column::TownId.eq(town_id))
        .filter(handling_unit::Column::Code.eq(code))
        .one(db)
        .await?)
}

/// The unit of a region (a grid's, a village committee): made the first time it is needed, so
/// regions added later get theirs without a separate step. Its members are whoever holds the
/// region's roles (see the server's handler check), not rows.
pub async fn region_unit(
    tx: &mut Tx,
    now: DateTime<Utc>,
    town_id: Uuid,
    kind: UnitKind,
    region_id: Uuid,
    name: &str,
) -> Result<UnitRow> {
    let existing = handling_unit::Entity::find()
        .filter(handling_unit::Column::TownId.eq(town_id))
        .filter(handling_unit::Column::Kind.eq(kind.as_str()))
        .filter(handling_unit::Column::RegionId.eq(region_id))
        .one(tx.db())
        .await?;
    if let Some(u) = existing {
        return Ok(u);
    }
    let row = handling_unit::ActiveModel {
        town_id: Set(town_id),
        id: Set(Uuid::now_v7()),
        kind: Set(kind.as_str().to_string()),
        code: Set(format!("{}-{}", kind.as_str(), region_id.simple())),
        name: Set(name.chars().take(64).collect()),
        region_id: Set(Some(region_id)),
        active: Set(true),
        created_at: Set(now),
    }
    .insert(tx.db())
    .await?;
    Ok(row)
}

/// Explicit members (town offices, the enforcement team).
pub async fn unit_members(db: &impl ConnectionTrait, town_id: Uuid, unit_id: Uuid) -> Result<Vec<Uuid>> {
    Ok(unit_member::Entity::find()
        .filter(unit_member::Column::TownId.eq(town_id))
        .filter(unit_member::Column::UnitId.eq(unit_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

/// Units a user is an explicit member of.
pub async fn member_units(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(unit_member::Entity::find()
        .filter(unit_member::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.town_id, m.unit_id))
        .collect())
}

/// Region units (grid, village committee) for the given regions.
pub async fn units_of_regions(db: &impl ConnectionTrait, region_ids: &[Uuid]) -> Result<Vec<UnitRow>> {
    if region_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(handling_unit::Entity::find().filter(handling_unit::Column::RegionId.is_in(region_ids.to_vec())).all(db).await?)
}

/// A town's grid and village committee units at the given regions, through the
/// (town, kind, region) index; the ids come in padded `IN` lists (`lookup_chunks`).
pub async fn units_at_regions(db: &impl ConnectionTrait, town_id: Uuid, region_ids: &[Uuid]) -> Result<Vec<UnitRow>> {
    let mut out = Vec::new();
    for chunk in crate::lookup_chunks(region_ids.to_vec()) {
        out.extend(
            handling_unit::Entity::find()
                .filter(handling_unit::Column::TownId.eq(town_id))
                .filter(
                    handling_unit::Column::Kind.is_in([UnitKind::Grid.as_str(), UnitKind::VillageCommittee.as_str()]),
                )
                .filter(handling_unit::Column::RegionId.is_in(chunk))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Make a user a member of a unit. Memberships decide whom a case is handled by, so the
/// change moves the store's auth epoch (callers keep memberships while it stands).
pub async fn add_member(tx: &mut Tx, town_id: Uuid, unit_id: Uuid, user_id: Uuid) -> Result<()> {
    let exists = unit_member::Entity::find_by_id((town_id, unit_id, user_id)).one(tx.db()).await?;
    if exists.is_none() {
        unit_member::ActiveModel { town_id: Set(town_id), unit_id: Set(unit_id), user_id: Set(user_id) }
            .insert(tx.db())
            .await?;
        tx.auth_changed();
    }
    Ok(())
}

// ---- routing ----

pub async fn rules(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<RuleRow>> {
    Ok(routing_rule::Entity::find()
        .filter(routing_rule::Column::TownId.eq(town_id))
        .order_by_asc(routing_rule::Column::CreatedAt)
        .all(db)
        .await?)
}

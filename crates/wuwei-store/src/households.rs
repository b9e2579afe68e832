//! Households and their residents.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;
use wuwei_domain::access::{Level, Place, Scope};

use crate::entity::{household, resident};
use crate::regions::{escape_like, never};
use crate::{Result, Tx};

pub use crate::entity::household::Model as HouseholdRow;
pub use crate::entity::resident::Model as ResidentRow;

impl HouseholdRow {
    /// The household's place; the city comes from its town (`city_id`).
    pub fn place(&self, city_id: Option<Uuid>) -> Place {
        Place {
            city_id,
            town_id: Some(self.town_id),
            area_id: self.area_id,
            admin_village_id: Some(self.admin_village_id),
            natural_village_id: Some(self.natural_village_id),
            grid_id: Some(self.grid_id),
            household_id: Some(self.id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewResident {
    pub id: Uuid,
    pub name: String,
    pub gender: String,
    pub birth_year: i32,
    pub relation: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewHousehold {
    pub id: Uuid,
    pub town_id: Uuid,
    pub code: String,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Uuid,
    pub natural_village_id: Uuid,
    pub grid_id: Uuid,
    pub address: String,
    pub head_name: String,
    pub phone: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub residents: Vec<NewResident>,
}

/// Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK: usize = 400;

/// Insert many households with their residents. The caller records one audit entry for the
/// batch (an import or the demo load), saying what and how many.
pub async fn insert_households(tx: &mut Tx, now: DateTime<Utc>, new: Vec<NewHousehold>) -> Result<usize> {
    let count = new.len();
    let mut households = Vec::with_capacity(new.len());
    let mut residents = Vec::new();
    for h in new {
        for (i, r) in h.residents.iter().enumerate() {
            residents.push(resident::ActiveModel {
                town_id: Set(h.town_id),
                id: Set(r.id),
                household_id: Set(h.id),
                name: Set(r.name.clone()),
                gender: Set(r.gender.clone()),
                birth_year: Set(r.birth_year),
                relation: Set(r.relation.clone()),
                phone: Set(r.phone.clone()),
                position: Set(i as i32),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
        households.push(household::ActiveModel {
            town_id: Set(h.town_id),
            id: Set(h.id),
            code: Set(h.code),
            area_id: Set(h.area_id),
            admin_village_id: Set(h.admin_village_id),
            natural_village_id: Set(h.natural_village_id),
            grid_id: Set(h.grid_id),
            address: Set(h.address),
            head_name: Set(h.head_name),
            phone: Set(h.phone),
            lat: Set(h.lat),
            lon: Set(h.lon),
            member_count: Set(h.residents.len() as i32),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
        });
    }
    for chunk in households.chunks(INSERT_CHUNK) {
        household::Entity::insert_many(chunk.to_vec()).exec(tx.db()).await?;
    }
    for chunk in residents.chunks(INSERT_CHUNK) {
        resident::Entity::insert_many(chunk.to_vec()).exec(tx.db()).await?;
    }
    Ok(count)
}

pub(crate) fn scope_condition(scopes: &[Scope], city_towns: &[(Uuid, Vec<Uuid>)]) -> Condition {
    let mut any = Condition::any().add(never());
    for s in scopes {
        let Some(id) = s.id() else { continue };
        any = any.add(match s.level {
            Level::City => {
                let towns = city_towns.iter().find(|(c, _)| *c == id).map(|(_, t)| t.clone()).unwrap_or_default();
                Condition::all().add(household::Column::TownId.is_in(towns))
            }
            Level::Town => Condition::all().add(household::Column::TownId.eq(id)),
            Level::Area => Condition::all().add(household::Column::AreaId.eq(id)),
            Level::AdminVillage => Condition::all().add(household::Column::AdminVillageId.eq(id)),
            Level::NaturalVillage => Condition::all().add(household::Column::NaturalVillageId.eq(id)),
            Level::Grid => Condition::all().add(household::Column::GridId.eq(id)),
            Level::Household => Condition::all().add(household::Column::Id.eq(id)),
        });
    }
    any
}

#[derive(Debug, Clone, Default)]
pub struct HouseholdFilter {
    pub town_id: Option<Uuid>,
    /// Only households inside this region (any level).
    pub region: Option<(Level, Uuid)>,
    /// Substring of the code, head's name or address.
    pub q: Option<String>,
}

/// Towns of each city-level scope, which the household table cannot filter by itself.
pub async fn city_towns(db: &impl ConnectionTrait, scopes: &[Scope]) -> Result<Vec<(Uuid, Vec<Uuid>)>> {
    let mut out = Vec::new();
    for s in scopes.iter().filter(|s| s.level == Level::City) {
        if let Some(id) = s.id() {
            out.push((id, crate::regions::town_ids_of_city(db, id).await?));
        }
    }
    Ok(out)
}

/// Ordered by town and code.
pub async fn list_households(
    db: &impl ConnectionTrait,
    filter: &HouseholdFilter,
    scopes: &[Scope],
    offset: u64,
    limit: u64,
) -> Result<(Vec<HouseholdRow>, u64)> {
    let towns = city_towns(db, scopes).await?;
    let mut cond = Condition::all().add(scope_condition(scopes, &towns));
    if let Some(t) = filter.town_id {
        cond = cond.add(household::Column::TownId.eq(t));
    }
    if let Some((level, id)) = filter.region {
        let scope_like = scope_condition(
            &[Scope { level, place: place_at(level, id) }],
            &if level == Level::City { vec![(id, crate::regions::town_ids_of_city(db, id).await?)] } else { vec![] },
        );
        cond = cond.add(scope_like);
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(household::Column::Code).like(like()))
                .add(Expr::col(household::Column::HeadName).like(like()))
                .add(Expr::col(household::Column::Address).like(like())),
        );
    }
    let query = household::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(household::Column::TownId)
        .order_by_asc(household::Column::Code)
        .order_by_asc(household::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

fn place_at(level: Level, id: Uuid) -> Place {
    let mut p = Place::default();
    match level {
        Level::City => p.city_id = Some(id),
        Level::Town => p.town_id = Some(id),
        Level::Area => p.area_id = Some(id),
        Level::AdminVillage => p.admin_village_id = Some(id),
        Level::NaturalVillage => p.natural_village_id = Some(id),
        Level::Grid => p.grid_id = Some(id),
        Level::Household => p.household_id = Some(id),
    }
    p
}

pub async fn household(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<HouseholdRow>> {
    Ok(household::Entity::find().filter(household::Column::Id.eq(id)).one(db).await?)
}

pub async fn household_by_code(db: &impl ConnectionTrait, town_id: Uuid, code: &str) -> Result<Option<HouseholdRow>> {
    Ok(household::Entity::find()
        .filter(household::Column::TownId.eq(town_id))
        .filter(household::Column::Code.eq(code))
        .one(db)
        .await?)
}

pub async fn residents(db: &impl ConnectionTrait, town_id: Uuid, household_id: Uuid) -> Result<Vec<ResidentRow>> {
    Ok(resident::Entity::find()
        .filter(resident::Column::TownId.eq(town_id))
        .filter(resident::Column::HouseholdId.eq(household_id))
        .order_by_asc(resident::Column::Position)
        .limit(100)
        .all(db)
        .await?)
}

/// Households directly under a region of any level, for region detail counts.
pub async fn count_in_region(db: &impl ConnectionTrait, town_id: Uuid, level: Level, id: Uuid) -> Result<u64> {
    let cond = scope_condition(&[Scope { level, place: place_at(level, id) }], &[]);
    Ok(household::Entity::find().filter(household::Column::TownId.eq(town_id)).filter(cond).count(db).await?)
}

/// Whether a town has any region rows (used by the demo loader to stay idempotent).
pub async fn town_has_households(db: &impl ConnectionTrait, town_id: Uuid) -> Result<bool> {
    Ok(household::Entity::find().filter(household::Column::TownId.eq(town_id)).limit(1).count(db).await? > 0)
}

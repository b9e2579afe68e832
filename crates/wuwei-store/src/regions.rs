//! Cities, towns and the regions below them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wuwei_domain::access::{Level, Place, Scope};
use wuwei_domain::geo::Geometry;
use wuwei_domain::region::{Ancestry, RegionKind};

use crate::entity::{city, region};
use crate::{Actor, AuditDraft, Result, StoreError, Tx, found};

pub use crate::entity::city::Model as CityRow;
pub use crate::entity::region::Model as RegionRow;

impl RegionRow {
    pub fn kind(&self) -> Option<RegionKind> {
        RegionKind::parse(&self.kind)
    }

    pub fn ancestry(&self) -> Ancestry {
        Ancestry {
            city_id: Some(self.city_id),
            town_id: self.town_id,
            area_id: self.area_id,
            admin_village_id: self.admin_village_id,
            natural_village_id: self.natural_village_id,
        }
    }

    /// Where this region sits, for authorization.
    pub fn place(&self) -> Place {
        match self.kind() {
            Some(kind) => self.ancestry().place_of(kind, self.id),
            None => Place { city_id: Some(self.city_id), town_id: Some(self.town_id), ..Place::default() },
        }
    }

    pub fn geometry(&self) -> Option<Geometry> {
        let text = self.geometry.as_deref()?;
        let value: Value = serde_json::from_str(text).ok()?;
        Geometry::from_geojson(&value).ok()
    }

    pub fn bbox(&self) -> Option<[f64; 4]> {
        Some([self.min_lon?, self.min_lat?, self.max_lon?, self.max_lat?])
    }

    fn audit_view(&self) -> Value {
        json!({
            "kind": self.kind,
            "name": self.name,
            "code": self.code,
            "parent_id": self.parent_id,
            "short_code": self.short_code,
            "geometry": geometry_digest(self.geometry.as_deref()),
            "version": self.version,
        })
    }
}

/// Geometry in an audit summary: its size and a digest, not the (possibly large) coordinates.
fn geometry_digest(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => {
            let digest = hex::encode(&Sha256::digest(t.as_bytes())[..8]);
            json!({"bytes": t.len(), "sha256": digest})
        }
    }
}

pub struct NewCity {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

pub async fn insert_city(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, new: NewCity) -> Result<CityRow> {
    let row = city::ActiveModel {
        id: Set(new.id),
        code: Set(new.code),
        name: Set(new.name),
        geometry: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "city.create".into(),
        entity_type: "city".into(),
        entity_id: row.id.to_string(),
        town_id: None,
        before: None,
        after: Some(json!({"code": row.code, "name": row.name})),
    });
    Ok(row)
}

pub async fn cities(db: &impl ConnectionTrait) -> Result<Vec<CityRow>> {
    Ok(city::Entity::find().order_by_asc(city::Column::Code).all(db).await?)
}

pub async fn city(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<CityRow>> {
    Ok(city::Entity::find_by_id(id).one(db).await?)
}

pub async fn city_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<CityRow>> {
    Ok(city::Entity::find().filter(city::Column::Code.eq(code)).one(db).await?)
}

/// A region to create; `ancestry` comes from its parent (see [`Ancestry::child_of`]).
#[derive(Debug, Clone)]
pub struct NewRegion {
    pub id: Uuid,
    pub kind: RegionKind,
    pub parent_id: Option<Uuid>,
    pub ancestry: Ancestry,
    pub name: String,
    pub code: Option<String>,
    pub short_code: Option<String>,
    pub is_demo: bool,
    pub geometry: Option<Geometry>,
}

fn geometry_columns(g: Option<&Geometry>) -> (Option<String>, [Option<f64>; 4]) {
    match g {
        None => (None, [None; 4]),
        Some(g) => {
            let b = g.bbox;
            (Some(g.to_geojson().to_string()), [Some(b.min_lon), Some(b.min_lat), Some(b.max_lon), Some(b.max_lat)])
        }
    }
}

pub async fn insert_region(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, new: NewRegion) -> Result<RegionRow> {
    let (geometry, [min_lon, min_lat, max_lon, max_lat]) = geometry_columns(new.geometry.as_ref());
    let city_id = new
        .ancestry
        .city_id
        .ok_or_else(|| StoreError::Invariant(format!("region {} has no city in its ancestry", new.id)))?;
    let town_id = if new.kind == RegionKind::Town { new.id } else { new.ancestry.town_id };
    let row = region::ActiveModel {
        town_id: Set(town_id),
        id: Set(new.id),
        kind: Set(new.kind.as_str().to_string()),
        parent_id: Set(new.parent_id),
        city_id: Set(city_id),
        area_id: Set(new.ancestry.area_id),
        admin_village_id: Set(new.ancestry.admin_village_id),
        natural_village_id: Set(new.ancestry.natural_village_id),
        name: Set(new.name),
        code: Set(new.code),
        short_code: Set(new.short_code),
        is_demo: Set(new.is_demo),
        geometry: Set(geometry),
        min_lon: Set(min_lon),
        min_lat: Set(min_lat),
        max_lon: Set(max_lon),
        max_lat: Set(max_lat),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    }
    .insert(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "region.create".into(),
        entity_type: "region".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        after: Some(row.audit_view()),
    });
    Ok(row)
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RegionPatch {
    pub name: Option<String>,
    pub code: Option<Option<String>>,
    pub geometry: Option<Option<Geometry>>,
}

/// Update a region if it is still at `expected_version`.
pub async fn update_region(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: RegionRow,
    expected_version: i32,
    patch: RegionPatch,
) -> Result<RegionRow> {
    let before = current.audit_view();
    let mut am = current.clone().into_active_model();
    if let Some(name) = patch.name {
        am.name = Set(name);
    }
    if let Some(code) = patch.code {
        am.code = Set(code);
    }
    if let Some(g) = patch.geometry {
        let (geometry, [a, b, c, d]) = geometry_columns(g.as_ref());
        am.geometry = Set(geometry);
        am.min_lon = Set(a);
        am.min_lat = Set(b);
        am.max_lon = Set(c);
        am.max_lat = Set(d);
    }
    am.updated_at = Set(now);
    am.version = Set(expected_version + 1);
    // The version check is in the UPDATE itself, so two writers cannot both win.
    let result = region::Entity::update_many()
        .set(am)
        .filter(region::Column::TownId.eq(current.town_id))
        .filter(region::Column::Id.eq(current.id))
        .filter(region::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    if result.rows_affected == 0 {
        let now_row = found(region_in_town(tx.db(), current.town_id, current.id).await?)?;
        return Err(StoreError::VersionConflict { current: now_row.version });
    }
    let row = found(region_in_town(tx.db(), current.town_id, current.id).await?)?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "region.update".into(),
        entity_type: "region".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(before),
        after: Some(row.audit_view()),
    });
    Ok(row)
}

pub async fn region(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<RegionRow>> {
    Ok(region::Entity::find().filter(region::Column::Id.eq(id)).one(db).await?)
}

pub async fn region_in_town(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<RegionRow>> {
    Ok(region::Entity::find_by_id((town_id, id)).one(db).await?)
}

pub async fn region_by_code(db: &impl ConnectionTrait, town_id: Uuid, code: &str) -> Result<Option<RegionRow>> {
    Ok(region::Entity::find()
        .filter(region::Column::TownId.eq(town_id))
        .filter(region::Column::Code.eq(code))
        .one(db)
        .await?)
}

pub async fn towns(db: &impl ConnectionTrait) -> Result<Vec<RegionRow>> {
    Ok(region::Entity::find()
        .filter(region::Column::Kind.eq(RegionKind::Town.as_str()))
        .order_by_asc(region::Column::Code)
        .order_by_asc(region::Column::Id)
        .all(db)
        .await?)
}

pub async fn town_by_short_code(db: &impl ConnectionTrait, short_code: &str) -> Result<Option<RegionRow>> {
    Ok(region::Entity::find()
        .filter(region::Column::Kind.eq(RegionKind::Town.as_str()))
        .filter(region::Column::ShortCode.eq(short_code))
        .one(db)
        .await?)
}

/// Ids of the towns of a city (for county-level scopes).
pub async fn town_ids_of_city(db: &impl ConnectionTrait, city_id: Uuid) -> Result<Vec<Uuid>> {
    Ok(region::Entity::find()
        .select_only()
        .column(region::Column::Id)
        .filter(region::Column::Kind.eq(RegionKind::Town.as_str()))
        .filter(region::Column::CityId.eq(city_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// Every region of a town, coarse to fine. A town has hundreds of regions, not millions, so the
/// tree and the locate index are built from one read.
pub async fn town_regions(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<RegionRow>> {
    let mut rows = region::Entity::find().filter(region::Column::TownId.eq(town_id)).all(db).await?;
    rows.sort_by(|a, b| {
        (RegionKind::parse(&a.kind), &a.code, &a.name, a.id).cmp(&(RegionKind::parse(&b.kind), &b.code, &b.name, b.id))
    });
    Ok(rows)
}

/// Everything inside any of `scopes` (never the regions above them).
pub(crate) fn region_scope_condition(scopes: &[Scope]) -> Condition {
    let mut any = Condition::any();
    any = any.add(never());
    for s in scopes {
        let Some(id) = s.id() else { continue };
        let own = |kind: RegionKind| {
            Condition::all().add(region::Column::Kind.eq(kind.as_str())).add(region::Column::Id.eq(id))
        };
        any = any.add(match s.level {
            Level::City => Condition::all().add(region::Column::CityId.eq(id)),
            Level::Town => Condition::all().add(region::Column::TownId.eq(id)),
            Level::Area => Condition::any().add(region::Column::AreaId.eq(id)).add(own(RegionKind::Area)),
            Level::AdminVillage => {
                Condition::any().add(region::Column::AdminVillageId.eq(id)).add(own(RegionKind::AdminVillage))
            }
            Level::NaturalVillage => {
                Condition::any().add(region::Column::NaturalVillageId.eq(id)).add(own(RegionKind::NaturalVillage))
            }
            Level::Grid => own(RegionKind::Grid),
            Level::Household => Condition::all().add(never()),
        });
    }
    any
}

/// A condition no row meets (an empty scope list sees nothing).
pub(crate) fn never() -> SimpleExpr {
    Expr::val(1).eq(0)
}

#[derive(Debug, Clone, Default)]
pub struct RegionFilter {
    pub town_id: Option<Uuid>,
    pub kind: Option<RegionKind>,
    pub parent_id: Option<Uuid>,
    /// Substring of the name or code.
    pub q: Option<String>,
}

/// Ordered by town, kind, code, name, id: stable across pages.
pub async fn list_regions(
    db: &impl ConnectionTrait,
    filter: &RegionFilter,
    scopes: &[Scope],
    offset: u64,
    limit: u64,
) -> Result<(Vec<RegionRow>, u64)> {
    let mut cond = Condition::all().add(region_scope_condition(scopes));
    if let Some(t) = filter.town_id {
        cond = cond.add(region::Column::TownId.eq(t));
    }
    if let Some(k) = filter.kind {
        cond = cond.add(region::Column::Kind.eq(k.as_str()));
    }
    if let Some(p) = filter.parent_id {
        cond = cond.add(region::Column::ParentId.eq(p));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        cond = cond.add(
            Condition::any()
                .add(Expr::col(region::Column::Name).like(LikeExpr::new(&pattern).escape('\\')))
                .add(Expr::col(region::Column::Code).like(LikeExpr::new(&pattern).escape('\\'))),
        );
    }
    let query = region::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(region::Column::TownId)
        .order_by_asc(region::Column::Kind)
        .order_by_asc(region::Column::Code)
        .order_by_asc(region::Column::Name)
        .order_by_asc(region::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub(crate) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub async fn count_children(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<u64> {
    Ok(region::Entity::find()
        .filter(region::Column::TownId.eq(town_id))
        .filter(region::Column::ParentId.eq(id))
        .count(db)
        .await?)
}

/// Display names of regions, cities and households by id (for role scopes in answers).
pub async fn names_of(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, String>> {
    let mut out = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let ids = ids.to_vec();
    let regions: Vec<(Uuid, String)> = region::Entity::find()
        .select_only()
        .column(region::Column::Id)
        .column(region::Column::Name)
        .filter(region::Column::Id.is_in(ids.clone()))
        .into_tuple()
        .all(db)
        .await?;
    out.extend(regions);
    // Most callers ask for regions only: look no further once every id is named.
    let rest = |out: &std::collections::HashMap<Uuid, String>| -> Vec<Uuid> {
        ids.iter().copied().filter(|id| !out.contains_key(id)).collect()
    };
    let left = rest(&out);
    if left.is_empty() {
        return Ok(out);
    }
    let cities: Vec<(Uuid, String)> = city::Entity::find()
        .select_only()
        .column(city::Column::Id)
        .column(city::Column::Name)
        .filter(city::Column::Id.is_in(left))
        .into_tuple()
        .all(db)
        .await?;
    out.extend(cities);
    let left = rest(&out);
    if left.is_empty() {
        return Ok(out);
    }
    let households: Vec<(Uuid, String, String)> = crate::entity::household::Entity::find()
        .select_only()
        .column(crate::entity::household::Column::Id)
        .column(crate::entity::household::Column::Address)
        .column(crate::entity::household::Column::HeadName)
        .filter(crate::entity::household::Column::Id.is_in(left))
        .into_tuple()
        .all(db)
        .await?;
    out.extend(households.into_iter().map(|(id, addr, head)| (id, format!("{addr}（{head}）"))));
    Ok(out)
}

//! Towns and regions: the tree, the map's GeoJSON, CRUD, GeoJSON import and `locate`.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission, Place, Role};
use wuwei_domain::geo::{Geometry, Point};
use wuwei_domain::region::{Ancestry, RegionKind};
use wuwei_domain::validate::{self, Issues, Rule};
use wuwei_store::households;
use wuwei_store::regions::{self, NewRegion, RegionFilter, RegionPatch, RegionRow};

use crate::auth::Auth;
use crate::dto::{self, Page, PageParams, RefDto, TownDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::state::AppState;

/// Features per import at most.
pub const MAX_IMPORT_FEATURES: usize = 5_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDto {
    pub id: Uuid,
    pub town_id: Uuid,
    /// `town`, `area`, `admin_village`, `natural_village` or `grid`.
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub code: Option<String>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub has_geometry: bool,
    pub version: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&RegionRow> for RegionDto {
    fn from(r: &RegionRow) -> RegionDto {
        RegionDto {
            id: r.id,
            town_id: r.town_id,
            kind: r.kind.clone(),
            parent_id: r.parent_id,
            name: r.name.clone(),
            code: r.code.clone(),
            area_id: r.area_id,
            admin_village_id: r.admin_village_id,
            natural_village_id: r.natural_village_id,
            has_geometry: r.geometry.is_some(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PathItem {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionCounts {
    pub children: u64,
    pub households: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDetail {
    #[serde(flatten)]
    pub region: RegionDto,
    /// GeoJSON geometry (Polygon or MultiPolygon), or null.
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<Value>,
    /// Ancestors, root first.
    pub path: Vec<PathItem>,
    pub counts: RegionCounts,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionNode {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub code: Option<String>,
    /// False for ancestors shown only as context around the caller's scope.
    pub in_scope: bool,
    #[schema(no_recursion)]
    pub children: Vec<RegionNode>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleInfo {
    pub role: String,
    /// Region levels this role may be bound at; the first is the usual one.
    pub scope_kinds: Vec<String>,
    pub permissions: Vec<String>,
    /// Works from the phone pages.
    pub field_role: bool,
}

/// The role catalogue.
#[utoipa::path(get, path = "/api/v1/roles", tag = "people", responses((status = 200, body = Vec<RoleInfo>)))]
pub async fn roles(_auth: Auth) -> Json<Vec<RoleInfo>> {
    Json(
        Role::ALL
            .iter()
            .map(|r| RoleInfo {
                role: r.as_str().to_string(),
                scope_kinds: r.scope_levels().iter().map(|l| l.as_str().to_string()).collect(),
                permissions: r.permissions().iter().map(|p| p.as_str().to_string()).collect(),
                field_role: r.is_field_role(),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TownList {
    pub items: Vec<TownDto>,
}

/// Towns the caller can see.
#[utoipa::path(get, path = "/api/v1/towns", tag = "regions", responses((status = 200, body = TownList)))]
pub async fn towns(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<TownList>> {
    let ids = dto::visible_town_ids(&state, &auth.principal).await?;
    Ok(Json(TownList { items: dto::town_dtos(&state, &ids).await? }))
}

/// The town row, if the caller can see anything of the town (else 404).
async fn visible_town(state: &AppState, auth: &Auth, town_id: Uuid) -> ApiResult<RegionRow> {
    let town = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    if town.kind() != Some(RegionKind::Town) || !auth.principal.can_see_region(Permission::RegionsRead, &town.place()) {
        return Err(ApiError::not_found());
    }
    Ok(town)
}

/// The region tree of a town as far as the caller may see it.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/region-tree", tag = "regions",
    params(("town_id" = Uuid, Path)), responses((status = 200, body = RegionNode), (status = 404, body = crate::error::ErrorBody)))]
pub async fn region_tree(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
) -> ApiResult<Json<RegionNode>> {
    visible_town(&state, &auth, town_id).await?;
    let rows = regions::town_regions(state.store().db(), town_id).await?;
    let p = &auth.principal;
    let visible: Vec<(&RegionRow, bool)> = rows
        .iter()
        .filter_map(|r| {
            let place = r.place();
            if p.can(Permission::RegionsRead, &place) {
                Some((r, true))
            } else if p.can_see_region(Permission::RegionsRead, &place) {
                Some((r, false))
            } else {
                None
            }
        })
        .collect();
    let mut children: HashMap<Option<Uuid>, Vec<(&RegionRow, bool)>> = HashMap::new();
    for (r, in_scope) in &visible {
        let parent = if r.kind() == Some(RegionKind::Town) { None } else { r.parent_id };
        children.entry(parent).or_default().push((r, *in_scope));
    }
    fn node(
        r: &RegionRow,
        in_scope: bool,
        children: &HashMap<Option<Uuid>, Vec<(&RegionRow, bool)>>,
        depth: u8,
    ) -> RegionNode {
        let kids = if depth > 8 {
            Vec::new()
        } else {
            children
                .get(&Some(r.id))
                .map(|v| v.iter().map(|(c, s)| node(c, *s, children, depth + 1)).collect())
                .unwrap_or_default()
        };
        RegionNode {
            id: r.id,
            kind: r.kind.clone(),
            name: r.name.clone(),
            code: r.code.clone(),
            in_scope,
            children: kids,
        }
    }
    let root = visible
        .iter()
        .find(|(r, _)| r.id == town_id)
        .map(|(r, s)| node(r, *s, &children, 0))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(root))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeoJsonParams {
    /// Which layer: `town`, `area`, `admin_village`, `natural_village` (default) or `grid`.
    pub kind: Option<String>,
}

fn parse_kind(field: &str, raw: &str) -> ApiResult<RegionKind> {
    RegionKind::parse(raw).ok_or_else(|| {
        let mut e = ApiError::field(
            field,
            Rule::OneOf { allowed: RegionKind::ALL.iter().map(|k| k.as_str().to_string()).collect() },
        );
        e.status = StatusCode::BAD_REQUEST;
        e.code = "invalid_query";
        e
    })
}

/// One layer of the town's regions as a GeoJSON FeatureCollection, for the map.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/regions.geojson", tag = "regions",
    params(("town_id" = Uuid, Path), GeoJsonParams),
    responses((status = 200, description = "A GeoJSON FeatureCollection", body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn regions_geojson(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
    ApiQuery(params): ApiQuery<GeoJsonParams>,
) -> ApiResult<Json<Value>> {
    let kind = parse_kind("kind", params.kind.as_deref().unwrap_or("natural_village"))?;
    visible_town(&state, &auth, town_id).await?;
    let rows = regions::town_regions(state.store().db(), town_id).await?;
    let features: Vec<Value> = rows
        .iter()
        .filter(|r| r.kind() == Some(kind))
        .filter(|r| {
            let place = r.place();
            // The town outline is context for anyone in the town.
            auth.principal.can(Permission::RegionsRead, &place)
                || (kind == RegionKind::Town && auth.principal.can_see_region(Permission::RegionsRead, &place))
        })
        .filter_map(|r| {
            let geometry: Value = serde_json::from_str(r.geometry.as_deref()?).ok()?;
            Some(json!({
                "type": "Feature",
                "id": r.id,
                "properties": {
                    "id": r.id, "kind": r.kind, "name": r.name, "code": r.code, "parent_id": r.parent_id,
                    "area_id": r.area_id, "admin_village_id": r.admin_village_id, "natural_village_id": r.natural_village_id,
                },
                "geometry": geometry,
            }))
        })
        .collect();
    Ok(Json(json!({"type": "FeatureCollection", "features": features})))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionListParams {
    pub town_id: Option<Uuid>,
    pub kind: Option<String>,
    pub parent_id: Option<Uuid>,
    /// Part of the name or code.
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Regions inside the caller's scope, by town, kind, code, name.
#[utoipa::path(get, path = "/api/v1/regions", tag = "regions", params(RegionListParams),
    responses((status = 200, body = Page<RegionDto>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_regions(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<RegionListParams>,
) -> ApiResult<Json<Page<RegionDto>>> {
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    let kind = params.kind.as_deref().map(|k| parse_kind("kind", k)).transpose()?;
    let q = params.q.map(|q| q.chars().take(64).collect::<String>());
    let filter = RegionFilter { town_id: params.town_id, kind, parent_id: params.parent_id, q };
    let scopes = auth.principal.scopes_with(Permission::RegionsRead);
    let (rows, total) =
        regions::list_regions(state.store().db(), &filter, &scopes, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(rows.iter().map(RegionDto::from).collect(), page, total)))
}

async fn readable_region(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<RegionRow> {
    let row = regions::region(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    if !auth.principal.can_see_region(Permission::RegionsRead, &row.place()) {
        return Err(ApiError::not_found());
    }
    Ok(row)
}

/// One region with its boundary, ancestors and counts.
#[utoipa::path(get, path = "/api/v1/regions/{id}", tag = "regions", params(("id" = Uuid, Path)),
    responses((status = 200, body = RegionDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_region(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<RegionDetail>> {
    let row = readable_region(&state, &auth, id).await?;
    Ok(Json(detail(&state, row).await?))
}

async fn detail(state: &AppState, row: RegionRow) -> ApiResult<RegionDetail> {
    let db = state.store().db();
    let ancestors: Vec<Uuid> = [Some(row.town_id), row.area_id, row.admin_village_id, row.natural_village_id]
        .into_iter()
        .flatten()
        .filter(|a| *a != row.id)
        .collect();
    let mut path = Vec::new();
    for a in ancestors {
        if let Some(r) = regions::region_in_town(db, row.town_id, a).await? {
            path.push(PathItem { id: r.id, kind: r.kind.clone(), name: r.name.clone() });
        }
    }
    let children = regions::count_children(db, row.town_id, row.id).await?;
    let households = match row.kind() {
        Some(k) => households::count_in_region(db, row.town_id, k.level(), row.id).await?,
        None => 0,
    };
    let geometry = row.geometry.as_deref().and_then(|g| serde_json::from_str(g).ok());
    Ok(RegionDetail { region: RegionDto::from(&row), geometry, path, counts: RegionCounts { children, households } })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegion {
    pub town_id: Uuid,
    pub kind: String,
    /// The parent region; for a new town, the city.
    pub parent_id: Uuid,
    pub name: String,
    pub code: Option<String>,
    /// Towns only: short code used in readable case numbers, e.g. `DW`.
    pub short_code: Option<String>,
    /// GeoJSON Polygon or MultiPolygon.
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<Value>,
}

fn parse_geometry(field: &str, v: &Value) -> Result<Geometry, validate::FieldIssue> {
    Geometry::from_geojson(v)
        .map_err(|e| validate::FieldIssue::new(field, Rule::Geometry { code: e.code(), detail: e.to_string() }))
}

/// Create a region under a parent in the caller's scope.
#[utoipa::path(post, path = "/api/v1/regions", tag = "regions", request_body = CreateRegion,
    responses((status = 201, body = RegionDto), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_region(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateRegion>,
) -> ApiResult<(StatusCode, Json<RegionDto>)> {
    let mut issues = Issues::default();
    let kind = RegionKind::parse(&req.kind);
    if kind.is_none() {
        issues.push("kind", Rule::OneOf { allowed: RegionKind::ALL.iter().map(|k| k.as_str().to_string()).collect() });
    }
    let name = issues.take(validate::text("name", &req.name, 64));
    let code = issues.take(req.code.as_deref().map(|c| validate::code("code", c)).transpose());
    let short_code = issues.take(req.short_code.as_deref().map(|c| validate::code("short_code", c)).transpose());
    let geometry = issues.take(req.geometry.as_ref().map(|g| parse_geometry("geometry", g)).transpose());
    issues.into_result()?;
    let (Some(kind), Some(name), Some(code), Some(short_code), Some(geometry)) =
        (kind, name, code, short_code, geometry)
    else {
        return Err(ApiError::internal());
    };
    let db = state.store().db();
    let (ancestry, parent_place, town_id) = if kind == RegionKind::Town {
        let city = regions::city(db, req.parent_id)
            .await?
            .ok_or_else(|| ApiError::field("parent_id", Rule::UnknownReference))?;
        let place = Place { city_id: Some(city.id), ..Place::default() };
        let id = Uuid::now_v7();
        (Ancestry { city_id: Some(city.id), town_id: id, ..Ancestry::default() }, place, id)
    } else {
        let parent = regions::region_in_town(db, req.town_id, req.parent_id)
            .await?
            .ok_or_else(|| ApiError::field("parent_id", Rule::UnknownReference))?;
        let parent_kind = parent.kind().ok_or_else(ApiError::internal)?;
        if !kind.allowed_parents().contains(&parent_kind) {
            return Err(ApiError::field("parent_id", Rule::NotAllowed { reason: "parent_kind" }));
        }
        (parent.ancestry().child_of(parent_kind, parent.id), parent.place(), req.town_id)
    };
    if !auth.principal.can(Permission::RegionsWrite, &parent_place) {
        return Err(ApiError::forbidden());
    }
    let id = if kind == RegionKind::Town { town_id } else { Uuid::now_v7() };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = regions::insert_region(
        &mut tx,
        &auth.actor(),
        now,
        NewRegion {
            id,
            kind,
            parent_id: Some(req.parent_id),
            ancestry,
            name,
            code,
            short_code,
            is_demo: false,
            geometry,
        },
    )
    .await?;
    if kind == RegionKind::Town {
        // A new town starts with the default case categories, deadlines and offices.
        wuwei_store::catalog::seed_defaults(&mut tx, &auth.actor(), now, row.id).await?;
    }
    tx.commit(now).await?;
    state.0.locator.invalidate(row.town_id);
    Ok((StatusCode::CREATED, Json(RegionDto::from(&row))))
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)`.
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRegion {
    /// The version last read; a stale one is 409.
    pub version: i32,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    /// A GeoJSON geometry, or null to remove the boundary.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<Option<Value>>,
}

/// Rename a region, change its code or boundary.
#[utoipa::path(patch, path = "/api/v1/regions/{id}", tag = "regions", params(("id" = Uuid, Path)), request_body = UpdateRegion,
    responses((status = 200, body = RegionDto), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_region(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<UpdateRegion>,
) -> ApiResult<Json<RegionDto>> {
    let row = regions::region(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let place = row.place();
    if !auth.principal.can(Permission::RegionsWrite, &place) {
        return Err(ApiError::forbidden());
    }
    let mut issues = Issues::default();
    let name = issues.take(req.name.as_deref().map(|n| validate::text("name", n, 64)).transpose());
    let code = issues.take(match &req.code {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(c)) => validate::code("code", c).map(|c| Some(Some(c))),
    });
    let geometry = issues.take(match &req.geometry {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(g)) => parse_geometry("geometry", g).map(|g| Some(Some(g))),
    });
    issues.into_result()?;
    let patch = RegionPatch { name: name.flatten(), code: code.flatten(), geometry: geometry.flatten() };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let updated = regions::update_region(&mut tx, &auth.actor(), now, row, req.version, patch).await?;
    tx.commit(now).await?;
    state.0.locator.invalidate(updated.town_id);
    Ok(Json(RegionDto::from(&updated)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check and count only; write nothing.
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub dry_run: bool,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Deserialize)]
pub struct FeatureCollection {
    #[serde(rename = "type")]
    kind: String,
    features: Vec<Feature>,
}

#[derive(Debug, Deserialize)]
struct Feature {
    #[serde(default)]
    properties: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    geometry: Option<Value>,
}

struct ParsedFeature {
    index: usize,
    kind: RegionKind,
    name: String,
    code: String,
    parent_code: Option<String>,
    geometry: Option<Geometry>,
}

/// Import regions from a GeoJSON FeatureCollection; all or nothing.
///
/// Each feature's properties: `kind`, `name`, `code` (the key: an existing code is updated),
/// `parent_code` (omit for an admin village or area directly under the town). A `town`
/// feature updates the town itself.
#[utoipa::path(post, path = "/api/v1/towns/{town_id}/regions/import", tag = "regions",
    params(("town_id" = Uuid, Path), ImportParams), request_body(content = Object, content_type = "application/geo+json"),
    responses((status = 200, body = ImportResult), (status = 403, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn import_regions(
    State(state): State<AppState>,
    auth: Auth,
    Path(town_id_raw): Path<String>,
    ApiQuery(params): ApiQuery<ImportParams>,
    ApiJson(fc): ApiJson<FeatureCollection>,
) -> ApiResult<Json<ImportResult>> {
    let town_id = Uuid::parse_str(&town_id_raw).map_err(|_| ApiError::not_found())?;
    let town = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    if town.kind() != Some(RegionKind::Town) {
        return Err(ApiError::not_found());
    }
    if !auth.principal.can(Permission::RegionsWrite, &town.place()) {
        return Err(ApiError::forbidden());
    }
    if fc.kind != "FeatureCollection" {
        return Err(ApiError::field("type", Rule::OneOf { allowed: vec!["FeatureCollection".into()] }));
    }
    if fc.features.len() > MAX_IMPORT_FEATURES {
        return Err(ApiError::field("features", Rule::OutOfRange { min: 1, max: MAX_IMPORT_FEATURES as i64 }));
    }
    let mut issues = Issues::default();
    let mut parsed = Vec::new();
    let mut seen_codes = HashSet::new();
    for (i, f) in fc.features.iter().enumerate() {
        let props = f.properties.clone().unwrap_or_default();
        let prop = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
        let field = |k: &str| format!("features[{i}].properties.{k}");
        let kind = match prop("kind").as_deref().and_then(RegionKind::parse) {
            Some(k) => Some(k),
            None => {
                issues.push(
                    field("kind"),
                    Rule::OneOf { allowed: RegionKind::ALL.iter().map(|k| k.as_str().to_string()).collect() },
                );
                None
            }
        };
        let name = issues.take(validate::text(&field("name"), &prop("name").unwrap_or_default(), 64));
        let code = issues.take(validate::code(&field("code"), &prop("code").unwrap_or_default()));
        if let Some(c) = &code
            && !seen_codes.insert(c.clone())
        {
            issues.push(field("code"), Rule::Duplicate);
        }
        let parent_code = prop("parent_code");
        let geometry = match &f.geometry {
            None | Some(Value::Null) => Some(None),
            Some(g) => issues.take(parse_geometry(&format!("features[{i}].geometry"), g).map(Some)),
        };
        if let (Some(kind), Some(name), Some(code), Some(geometry)) = (kind, name, code, geometry) {
            parsed.push(ParsedFeature { index: i, kind, name, code, parent_code, geometry });
        }
    }
    issues.clone().into_result()?;

    let db = state.store().db();
    let existing = regions::town_regions(db, town_id).await?;
    let by_code: HashMap<String, &RegionRow> = existing.iter().filter_map(|r| r.code.clone().map(|c| (c, r))).collect();
    // Coarse kinds first, so parents exist before their children.
    parsed.sort_by_key(|f| (f.kind.level(), f.index));
    // code → (kind, id, ancestry) of regions as they will be after the import.
    let mut known: HashMap<String, (RegionKind, Uuid, Ancestry)> =
        existing.iter().filter_map(|r| Some((r.code.clone()?, (r.kind()?, r.id, r.ancestry())))).collect();
    let town_code = town.code.clone();
    enum Op {
        Create(NewRegion),
        Update(RegionRow, RegionPatch),
        Same,
    }
    let mut ops = Vec::new();
    for f in &parsed {
        let field = |k: &str| format!("features[{}].properties.{k}", f.index);
        if f.kind == RegionKind::Town {
            if town_code.as_deref() != Some(f.code.as_str()) {
                issues.push(field("code"), Rule::NotAllowed { reason: "town_mismatch" });
                continue;
            }
            ops.push(match changes(&town, f) {
                Some(patch) => Op::Update(town.clone(), patch),
                None => Op::Same,
            });
            continue;
        }
        let parent = match &f.parent_code {
            Some(pc) if Some(pc) == town_code.as_ref() => Some((RegionKind::Town, town.id, town.ancestry())),
            Some(pc) => known.get(pc).copied(),
            None => Some((RegionKind::Town, town.id, town.ancestry())),
        };
        let Some((parent_kind, parent_id, parent_ancestry)) = parent else {
            issues.push(field("parent_code"), Rule::UnknownReference);
            continue;
        };
        if !f.kind.allowed_parents().contains(&parent_kind) {
            issues.push(field("parent_code"), Rule::NotAllowed { reason: "parent_kind" });
            continue;
        }
        match by_code.get(&f.code) {
            Some(row) => {
                if row.kind() != Some(f.kind) || row.parent_id != Some(parent_id) {
                    // Moving a region would change every row below it; not an import's job.
                    issues.push(field("parent_code"), Rule::NotAllowed { reason: "parent_kind" });
                    continue;
                }
                ops.push(match changes(row, f) {
                    Some(patch) => Op::Update((*row).clone(), patch),
                    None => Op::Same,
                });
            }
            None => {
                let id = Uuid::now_v7();
                let ancestry = parent_ancestry.child_of(parent_kind, parent_id);
                known.insert(f.code.clone(), (f.kind, id, ancestry));
                ops.push(Op::Create(NewRegion {
                    id,
                    kind: f.kind,
                    parent_id: Some(parent_id),
                    ancestry,
                    name: f.name.clone(),
                    code: Some(f.code.clone()),
                    short_code: None,
                    is_demo: false,
                    geometry: f.geometry.clone(),
                }));
            }
        }
    }
    issues.into_result()?;
    let (mut created, mut updated, mut unchanged) = (0u64, 0u64, 0u64);
    for op in &ops {
        match op {
            Op::Create(_) => created += 1,
            Op::Update(..) => updated += 1,
            Op::Same => unchanged += 1,
        }
    }
    let dry_run = params.dry_run.unwrap_or(false);
    if !dry_run && created + updated > 0 {
        let now = state.now();
        let actor = auth.actor();
        let mut tx = state.store().begin().await?;
        for op in ops {
            match op {
                Op::Create(new) => {
                    regions::insert_region(&mut tx, &actor, now, new).await?;
                }
                Op::Update(row, patch) => {
                    let version = row.version;
                    regions::update_region(&mut tx, &actor, now, row, version, patch).await?;
                }
                Op::Same => {}
            }
        }
        tx.commit(now).await?;
        state.0.locator.invalidate(town_id);
    }
    Ok(Json(ImportResult { dry_run, created, updated, unchanged }))
}

/// What an import feature changes in an existing region; `None` when nothing.
fn changes(row: &RegionRow, f: &ParsedFeature) -> Option<RegionPatch> {
    let new_geometry = f.geometry.as_ref().map(|g| g.to_geojson().to_string());
    let name_changed = row.name != f.name;
    let geometry_changed = new_geometry.is_some() && row.geometry != new_geometry;
    (name_changed || geometry_changed).then(|| RegionPatch {
        name: name_changed.then(|| f.name.clone()),
        code: None,
        geometry: geometry_changed.then(|| f.geometry.clone()),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateParams {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Located {
    pub town: RefDto,
    pub admin_village: Option<RefDto>,
    pub natural_village: Option<RefDto>,
    pub grid: Option<RefDto>,
}

/// Which town, admin village, natural village and grid contain a point.
#[utoipa::path(get, path = "/api/v1/locate", tag = "regions", params(LocateParams),
    responses((status = 200, body = Located), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn locate(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<LocateParams>,
) -> ApiResult<Json<Located>> {
    let mut issues = Issues::default();
    if !(-90.0..=90.0).contains(&params.lat) || !params.lat.is_finite() {
        issues.push("lat", Rule::OutOfRange { min: -90, max: 90 });
    }
    if !(-180.0..=180.0).contains(&params.lon) || !params.lon.is_finite() {
        issues.push("lon", Rule::OutOfRange { min: -180, max: 180 });
    }
    if !issues.is_empty() {
        let mut e = ApiError::invalid(issues);
        e.status = StatusCode::BAD_REQUEST;
        e.code = "invalid_query";
        return Err(e);
    }
    // Whoever may report a case may ask where a point is (a resident's phone names the village
    // before sending): only names of regions of towns the caller sees are answered.
    if auth.require_any(Permission::RegionsRead).is_err() {
        auth.require_any(Permission::CasesReport)?;
    }
    let point = Point { lon: params.lon, lat: params.lat };
    for town_id in dto::visible_town_ids(&state, &auth.principal).await? {
        let index = state.0.locator.town(state.store(), town_id).await?;
        if !index.bbox().contains(point) || !index.contains(point) {
            continue;
        }
        let found = index.locate(point);
        let rows = regions::town_regions(state.store().db(), town_id).await?;
        let reference = |id: Option<Uuid>| -> Option<RefDto> {
            let r = rows.iter().find(|r| Some(r.id) == id)?;
            Some(RefDto { id: r.id, name: r.name.clone(), code: r.code.clone() })
        };
        let town = reference(Some(town_id)).ok_or_else(ApiError::not_found)?;
        return Ok(Json(Located {
            town,
            admin_village: reference(found.admin_village_id),
            natural_village: reference(found.natural_village_id),
            grid: reference(found.grid_id),
        }));
    }
    Err(ApiError::not_found().with_detail(format!("{}, {}", params.lat, params.lon)))
}

/// Levels used by households' region filter.
pub fn level_of_kind(kind: &str) -> Option<Level> {
    RegionKind::parse(kind).map(RegionKind::level)
}

//! Land-use layers (国土资源视图): import GeoJSON per town (farmland protection red line,
//! construction land, forest, water), list them, and serve them for the map. Protected layers
//! tag the cases and alarms located inside them (see `crate::layers`).
//!
//! Importing and changing need `catalog.write` over the town; reading needs `cases.read`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;
use wuwei_domain::access::{Permission, Place, Principal};
use wuwei_domain::geo::{BBox, Geometry};
use wuwei_domain::validate::{self, FieldIssue, Issues, Rule};
use wuwei_store::layers::{self, LayerFields, LayerRow, MAX_LAYERS_PER_TOWN};
use wuwei_store::{cameras, regions};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath};
use crate::state::AppState;

/// Features per layer at most (as for the region import).
pub const MAX_LAYER_FEATURES: usize = 5_000;
/// Properties kept per feature, as JSON text, at most.
const MAX_PROPERTIES_BYTES: usize = 4096;

const KINDS: [&str; 5] = ["farmland_red_line", "construction_land", "forest", "water", "other"];

/// The tag a protected layer of this kind gives, and whether the kind is protected by default.
pub fn kind_tag(kind: &str) -> (String, bool) {
    match kind {
        "farmland_red_line" => ("protected_farmland".into(), true),
        "forest" => ("protected_forest".into(), true),
        "water" => ("protected_water".into(), true),
        "construction_land" => ("protected_construction_land".into(), false),
        other => (format!("protected_{other}"), false),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LandLayerDto {
    pub id: Uuid,
    pub town_id: Uuid,
    /// `farmland_red_line`, `construction_land`, `forest`, `water` or `other`.
    pub kind: String,
    pub name: String,
    pub protected: bool,
    /// The tag it gives what lies inside it (protected layers only).
    pub tag: Option<String>,
    pub feature_count: i32,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

fn dto(l: &LayerRow) -> LandLayerDto {
    let bbox = match (l.min_lon, l.min_lat, l.max_lon, l.max_lat) {
        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
        _ => None,
    };
    LandLayerDto {
        id: l.id,
        town_id: l.town_id,
        kind: l.kind.clone(),
        name: l.name.clone(),
        protected: l.protected,
        tag: l.tag.clone(),
        feature_count: l.feature_count,
        bbox,
        created_at: l.created_at,
        updated_at: l.updated_at,
        version: l.version,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LandLayerList {
    pub items: Vec<LandLayerDto>,
}

async fn require_town(state: &AppState, p: &Principal, town_id: Uuid, permission: Permission) -> ApiResult<()> {
    let t = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    let place = Place { city_id: Some(t.city_id), town_id: Some(t.id), ..Place::default() };
    if !p.can(Permission::CasesRead, &place) && !p.can(Permission::CatalogWrite, &place) {
        return Err(ApiError::not_found());
    }
    if !p.can(permission, &place) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// A checked FeatureCollection: the stored text (features with their geometry, properties
/// trimmed to a bound, plus `layer_id`/`kind` added on serving), count and bbox.
fn check_collection(field: &str, v: &Value, issues: &mut Issues) -> Option<(String, i32, Option<[f64; 4]>)> {
    let features = match (v.get("type").and_then(Value::as_str), v.get("features").and_then(Value::as_array)) {
        (Some("FeatureCollection"), Some(f)) => f,
        _ => {
            issues.push(field, Rule::Format { expected: "a GeoJSON FeatureCollection" });
            return None;
        }
    };
    if features.is_empty() || features.len() > MAX_LAYER_FEATURES {
        issues.push(format!("{field}.features"), Rule::OutOfRange { min: 1, max: MAX_LAYER_FEATURES as i64 });
        return None;
    }
    let mut bbox = BBox::EMPTY;
    let mut kept = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let path = format!("{field}.features[{i}].geometry");
        match f.get("geometry").map(Geometry::from_geojson) {
            Some(Ok(g)) => {
                bbox.union(&g.bbox);
                let mut props = f.get("properties").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
                if props.to_string().len() > MAX_PROPERTIES_BYTES {
                    issues
                        .push(format!("{field}.features[{i}].properties"), Rule::TooLong { max: MAX_PROPERTIES_BYTES });
                    props = json!({});
                }
                kept.push(json!({"type": "Feature", "properties": props, "geometry": g.to_geojson()}));
            }
            Some(Err(e)) => issues.push(path, Rule::Geometry { code: e.code(), detail: e.to_string() }),
            None => issues.push(path, Rule::Required),
        }
        if issues.0.len() >= 50 {
            break;
        }
    }
    if !issues.0.is_empty() {
        return None;
    }
    let text = json!({"type": "FeatureCollection", "features": kept}).to_string();
    Some((text, kept.len() as i32, (!bbox.is_empty()).then(|| bbox.to_array())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLandLayer {
    pub kind: String,
    pub name: String,
    pub protected: Option<bool>,
    /// A GeoJSON FeatureCollection of Polygon/MultiPolygon features.
    #[schema(value_type = Object)]
    pub geojson: Value,
}

/// Recompute the tags of the town's cameras after its layers changed.
async fn retag_cameras(state: &AppState, tx: &wuwei_store::Tx, town_id: Uuid) -> ApiResult<()> {
    let areas = crate::layers::protected_areas(tx.db(), town_id).await?;
    for c in cameras::town_cameras(tx.db(), town_id, 10_000).await? {
        let tags: Vec<String> = crate::layers::tags_at(&areas, c.lat, c.lon).into_iter().map(|(t, _)| t).collect();
        if tags != c.tag_list() {
            cameras::set_camera_tags(tx, &c, &tags).await?;
        }
    }
    let _ = state;
    Ok(())
}

/// Import a layer (all features valid, or nothing written).
#[utoipa::path(post, path = "/api/v1/towns/{town_id}/land-layers", tag = "land-layers", params(("town_id" = Uuid, Path)),
    request_body = CreateLandLayer,
    responses((status = 201, body = LandLayerDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_layer(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
    ApiJson(req): ApiJson<CreateLandLayer>,
) -> ApiResult<(StatusCode, Json<LandLayerDto>)> {
    require_town(&state, &auth.principal, town_id, Permission::CatalogWrite).await?;
    let mut issues = Issues::default();
    let kind = issues.take(if KINDS.contains(&req.kind.as_str()) {
        Ok(req.kind.clone())
    } else {
        Err(FieldIssue::new("kind", Rule::OneOf { allowed: KINDS.iter().map(|k| k.to_string()).collect() }))
    });
    let name = issues.take(validate::text("name", &req.name, 100));
    let checked = check_collection("geojson", &req.geojson, &mut issues);
    let existing = layers::town_layers(state.store().db(), town_id).await?;
    if existing.len() as u64 >= MAX_LAYERS_PER_TOWN {
        issues.push("town_id", Rule::OutOfRange { min: 0, max: MAX_LAYERS_PER_TOWN as i64 });
    }
    issues.into_result()?;
    let (Some(kind), Some(name), Some((text, count, bbox))) = (kind, name, checked) else {
        return Err(ApiError::internal());
    };
    let (tag, default_protected) = kind_tag(&kind);
    let protected = req.protected.unwrap_or(default_protected);
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = layers::insert_layer(
        &mut tx,
        &auth.actor(),
        now,
        town_id,
        LayerFields { kind, name, protected, tag: protected.then_some(tag), feature_count: count, bbox, geojson: text },
    )
    .await?;
    retag_cameras(&state, &tx, town_id).await?;
    tx.commit(now).await?;
    Ok((StatusCode::CREATED, Json(dto(&row))))
}

/// The town's layers (without their features), by kind and name.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/land-layers", tag = "land-layers", params(("town_id" = Uuid, Path)),
    responses((status = 200, body = LandLayerList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_layers(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
) -> ApiResult<Json<LandLayerList>> {
    require_town(&state, &auth.principal, town_id, Permission::CasesRead).await?;
    let rows = layers::town_layers(state.store().db(), town_id).await?;
    Ok(Json(LandLayerList { items: rows.iter().map(dto).collect() }))
}

async fn readable_layer(state: &AppState, p: &Principal, id: Uuid, permission: Permission) -> ApiResult<LayerRow> {
    let l = layers::layer(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    require_town(state, p, l.town_id, permission).await?;
    Ok(l)
}

/// A layer's features as a GeoJSON FeatureCollection (each feature's properties with
/// `layer_id` and `kind` added).
#[utoipa::path(get, path = "/api/v1/land-layers/{id}/geojson", tag = "land-layers", params(("id" = Uuid, Path)),
    responses((status = 200, description = "GeoJSON FeatureCollection"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn layer_geojson(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<Value>> {
    let l = readable_layer(&state, &auth.principal, id, Permission::CasesRead).await?;
    let mut v: Value = serde_json::from_str(&l.geojson).map_err(|_| ApiError::internal())?;
    if let Some(fs) = v.get_mut("features").and_then(Value::as_array_mut) {
        for f in fs {
            if let Some(p) = f.get_mut("properties").and_then(Value::as_object_mut) {
                p.insert("layer_id".into(), json!(l.id));
                p.insert("kind".into(), json!(l.kind));
            }
        }
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLandLayer {
    pub version: i32,
    pub name: Option<String>,
    pub protected: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub geojson: Option<Value>,
}

/// Rename, (un)protect, or replace the features of a layer.
#[utoipa::path(put, path = "/api/v1/land-layers/{id}", tag = "land-layers", params(("id" = Uuid, Path)),
    request_body = UpdateLandLayer,
    responses((status = 200, body = LandLayerDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_layer(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<UpdateLandLayer>,
) -> ApiResult<Json<LandLayerDto>> {
    let l = readable_layer(&state, &auth.principal, id, Permission::CatalogWrite).await?;
    let full = layers::layer(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let mut issues = Issues::default();
    let name = match &req.name {
        Some(n) => issues.take(validate::text("name", n, 100)),
        None => Some(l.name.clone()),
    };
    let checked = match &req.geojson {
        Some(g) => check_collection("geojson", g, &mut issues),
        None => Some((full.geojson.clone(), full.feature_count, dto(&full).bbox)),
    };
    issues.into_result()?;
    let (Some(name), Some((text, count, bbox))) = (name, checked) else { return Err(ApiError::internal()) };
    let protected = req.protected.unwrap_or(l.protected);
    let (tag, _) = kind_tag(&l.kind);
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = layers::update_layer(
        &mut tx,
        &auth.actor(),
        now,
        &full,
        req.version,
        LayerFields {
            kind: l.kind.clone(),
            name,
            protected,
            tag: protected.then_some(tag),
            feature_count: count,
            bbox,
            geojson: text,
        },
    )
    .await?;
    retag_cameras(&state, &tx, l.town_id).await?;
    tx.commit(now).await?;
    Ok(Json(dto(&row)))
}

#[utoipa::path(delete, path = "/api/v1/land-layers/{id}", tag = "land-layers", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_layer(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let l = readable_layer(&state, &auth.principal, id, Permission::CatalogWrite).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    layers::delete_layer(&mut tx, &auth.actor(), &l).await?;
    retag_cameras(&state, &tx, l.town_id).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

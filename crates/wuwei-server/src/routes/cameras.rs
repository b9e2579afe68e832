//! Cameras (雪亮工程 `xueliang`, 高空瞭望 `lookout`) and their alarms: the register, the map's
//! sectors, the town's alarm settings, the signed alarm webhook, and reading and judging alarms.
//!
//! Who may do what: registering and changing cameras and the alarm settings need
//! `catalog.write` over the camera's town; reading cameras and alarms needs `cases.read` over
//! the town; judging an alarm or opening a case from the review queue needs `cases.dispatch`.
//!
//! The webhook carries no session: the camera's own secret authenticates it (HMAC-SHA256 over
//! `timestamp + "." + body`, see `wuwei_domain::intake::webhook`). The checks run in the order
//! documented in `docs/api-intake.md`: size, syntax and fields, the camera, the signature (with
//! a bounded in-memory replay cache), then the snapshot.

use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Permission, Place, Principal};
use wuwei_domain::geo::Point;
use wuwei_domain::intake::alarm::{self, AlarmSettings, AlarmType, MAX_SNAPSHOT_BYTES, ReportError};
use wuwei_domain::intake::camera::{self as rules, CameraKind, ViewSector};
use wuwei_domain::intake::secret::{IntakeSecret, SECRET_BYTES};
use wuwei_domain::intake::webhook::{self, ReplayCache, WebhookAuthError};
use wuwei_domain::validate::{self, FieldIssue, Issues, Rule};
use wuwei_media::MediaKind;
use wuwei_store::cameras::{self, AlarmFilter, AlarmRow, CameraFields, CameraFilter, CameraPlace, CameraRow};
use wuwei_store::regions;

use crate::alarms::{self, Incoming, Snapshot};
use crate::auth::Auth;
use crate::dto::{Page, PageParams};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath, RawBody, parse_json};
use crate::routes::attachments;
use crate::state::AppState;

/// The webhook's body limit (the largest report the domain accepts, with room for headers).
pub const WEBHOOK_BODY_LIMIT: usize = alarm::MAX_REPORT_BYTES + 1024;
/// Cameras per town on the map at most.
pub const MAX_MAP_CAMERAS: u64 = 2000;
const STATUSES: [&str; 3] = ["active", "maintenance", "disabled"];

// ---- access ----

async fn town_place(state: &AppState, town_id: Uuid) -> ApiResult<Option<Place>> {
    Ok(regions::region_in_town(state.store().db(), town_id, town_id).await?.map(|t| Place {
        city_id: Some(t.city_id),
        town_id: Some(t.id),
        ..Place::default()
    }))
}

/// 404 unless the caller reads cases over the town; then 403 unless it holds `permission`.
async fn require_town(state: &AppState, p: &Principal, town_id: Uuid, permission: Permission) -> ApiResult<()> {
    let place = town_place(state, town_id).await?.ok_or_else(ApiError::not_found)?;
    if !p.can(Permission::CasesRead, &place) && !p.can(Permission::CatalogWrite, &place) {
        return Err(ApiError::not_found());
    }
    if !p.can(permission, &place) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// The towns whose cameras and alarms the caller reads.
async fn readable_towns(state: &AppState, p: &Principal, town_id: Option<Uuid>) -> ApiResult<Vec<Uuid>> {
    let candidates = match town_id {
        Some(t) => vec![t],
        None => crate::dto::visible_town_ids(state, p).await?,
    };
    let mut out = Vec::new();
    for t in candidates {
        if let Some(place) = town_place(state, t).await?
            && (p.can(Permission::CasesRead, &place) || p.can(Permission::CatalogWrite, &place))
        {
            out.push(t);
        }
    }
    Ok(out)
}

// ---- cameras ----

#[derive(Debug, Serialize, ToSchema)]
pub struct CameraStatsDto {
    pub alarms: i64,
    pub judged: i32,
    pub false_alarms: i32,
    /// false / judged; null until 10 alarms have been judged.
    pub false_alarm_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CameraDto {
    pub id: Uuid,
    pub town_id: Uuid,
    pub code: String,
    pub name: String,
    /// `xueliang`, `lookout` or `other`.
    pub kind: String,
    pub lat: f64,
    pub lon: f64,
    pub bearing_deg: f64,
    pub field_of_view_deg: f64,
    pub range_m: f64,
    pub vendor: Option<String>,
    pub live_view_url: Option<String>,
    /// `active`, `maintenance` or `disabled`.
    pub status: String,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    /// Whether its alarms open cases now (false: they queue for review).
    pub opens_cases: bool,
    pub stats: CameraStatsDto,
    /// Tags of the protected land layers it stands in.
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

fn camera_dto(c: &CameraRow, s: AlarmSettings) -> CameraDto {
    CameraDto {
        id: c.id,
        town_id: c.town_id,
        code: c.code.clone(),
        name: c.name.clone(),
        kind: c.kind.clone(),
        lat: c.lat,
        lon: c.lon,
        bearing_deg: c.bearing_deg,
        field_of_view_deg: c.field_of_view_deg,
        range_m: c.range_m,
        vendor: c.vendor.clone(),
        live_view_url: c.live_view_url.clone(),
        status: c.status.clone(),
        admin_village_id: c.admin_village_id,
        natural_village_id: c.natural_village_id,
        grid_id: c.grid_id,
        opens_cases: alarms::opens_cases(c, s),
        stats: CameraStatsDto {
            alarms: c.alarm_count,
            judged: c.judged_count,
            false_alarms: c.false_count,
            false_alarm_rate: alarms::stats(c).rate(),
        },
        tags: c.tag_list(),
        created_at: c.created_at,
        updated_at: c.updated_at,
        version: c.version,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CameraWithSecretDto {
    pub camera: CameraDto,
    /// The webhook secret (64 hex characters): shown this once.
    pub secret: String,
}

fn new_secret() -> IntakeSecret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    IntakeSecret::from_random(bytes)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCamera {
    pub town_id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub lat: f64,
    pub lon: f64,
    pub bearing_deg: f64,
    pub field_of_view_deg: Option<f64>,
    pub range_m: f64,
    pub vendor: Option<String>,
    pub live_view_url: Option<String>,
    pub status: Option<String>,
}

/// A camera's fields, checked; the place comes from locating its point in the town.
#[allow(clippy::too_many_arguments)]
async fn check_fields(
    state: &AppState,
    town_id: Uuid,
    issues: &mut Issues,
    name: &str,
    kind: &str,
    lat: f64,
    lon: f64,
    bearing_deg: f64,
    field_of_view_deg: Option<f64>,
    range_m: f64,
    vendor: Option<&str>,
    live_view_url: Option<&str>,
    status: &str,
) -> ApiResult<Option<CameraFields>> {
    let name = issues.take(validate::text("name", name, 100));
    let kind = issues.take(CameraKind::parse(kind).ok_or_else(|| {
        FieldIssue::new(
            "kind",
            Rule::OneOf { allowed: CameraKind::ALL.iter().map(|k| k.as_str().to_string()).collect() },
        )
    }));
    let fov = field_of_view_deg.unwrap_or_else(|| kind.map_or(90.0, |k| k.default_field_of_view_deg()));
    let sector = match ViewSector::parse(bearing_deg, fov, range_m) {
        Ok(s) => Some(s),
        Err(e) => {
            issues.0.extend(e.0);
            None
        }
    };
    let point = match rules::location(lat, lon) {
        Ok(p) => Some(p),
        Err(e) => {
            issues.0.extend(e.0);
            None
        }
    };
    let vendor = match vendor.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > 100 => {
            issues.push("vendor", Rule::TooLong { max: 100 });
            None
        }
        other => other.map(str::to_string),
    };
    let url = match live_view_url.map(str::trim).filter(|v| !v.is_empty()) {
        Some(u) => issues.take(rules::live_view_url("live_view_url", u)),
        None => None,
    };
    if !STATUSES.contains(&status) {
        issues.push("status", Rule::OneOf { allowed: STATUSES.iter().map(|s| s.to_string()).collect() });
    }
    let mut place = CameraPlace::default();
    if let Some(p) = point {
        let index = state.0.locator.town(state.store(), town_id).await?;
        if !index.contains(p) {
            issues.push("lat", Rule::NotAllowed { reason: "outside_town" });
        } else {
            let found = index.locate(p);
            let area = match found.admin_village_id {
                Some(av) => regions::region_in_town(state.store().db(), town_id, av).await?.and_then(|r| r.area_id),
                None => None,
            };
            place = CameraPlace {
                area_id: area,
                admin_village_id: found.admin_village_id,
                natural_village_id: found.natural_village_id,
                grid_id: found.grid_id,
            };
        }
    }
    let (Some(name), Some(kind), Some(sector), Some(p)) = (name, kind, sector, point) else { return Ok(None) };
    if !issues.0.is_empty() {
        return Ok(None);
    }
    let areas = crate::layers::protected_areas(state.store().db(), town_id).await?;
    let tags = crate::layers::tags_at(&areas, p.lat, p.lon).into_iter().map(|(t, _)| t).collect();
    Ok(Some(CameraFields {
        name,
        kind: kind.as_str().to_string(),
        lat: p.lat,
        lon: p.lon,
        bearing_deg: sector.bearing_deg,
        field_of_view_deg: sector.field_of_view_deg,
        range_m: sector.range_m,
        vendor,
        live_view_url: url,
        status: status.to_string(),
        place,
        tags,
    }))
}

/// Register a camera. Its webhook secret is in the answer, this once.
#[utoipa::path(post, path = "/api/v1/cameras", tag = "cameras", request_body = CreateCamera,
    responses((status = 201, body = CameraWithSecretDto), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "The code is taken"),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_camera(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateCamera>,
) -> ApiResult<(StatusCode, Json<CameraWithSecretDto>)> {
    require_town(&state, &auth.principal, req.town_id, Permission::CatalogWrite).await?;
    let mut issues = Issues::default();
    let code = issues.take(validate::code("code", &req.code));
    let fields = check_fields(
        &state,
        req.town_id,
        &mut issues,
        &req.name,
        &req.kind,
        req.lat,
        req.lon,
        req.bearing_deg,
        req.field_of_view_deg,
        req.range_m,
        req.vendor.as_deref(),
        req.live_view_url.as_deref(),
        req.status.as_deref().unwrap_or("active"),
    )
    .await?;
    issues.into_result()?;
    let (Some(code), Some(fields)) = (code, fields) else { return Err(ApiError::internal()) };
    let now = state.now();
    let secret = new_secret();
    let mut tx = state.store().begin().await?;
    let row = cameras::insert_camera(&mut tx, &auth.actor(), now, req.town_id, code, secret.to_hex(), fields).await?;
    tx.commit(now).await?;
    let s = alarms::settings(state.store().db(), row.town_id).await?;
    Ok((StatusCode::CREATED, Json(CameraWithSecretDto { camera: camera_dto(&row, s), secret: secret.to_hex() })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CameraListParams {
    pub town_id: Option<Uuid>,
    /// `xueliang`, `lookout` or `other`.
    pub kind: Option<String>,
    /// `active`, `maintenance` or `disabled`.
    pub status: Option<String>,
    /// Part of the code or name.
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Cameras of the towns the caller reads, by code.
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras", params(CameraListParams),
    responses((status = 200, body = Page<CameraDto>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_cameras(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<CameraListParams>,
) -> ApiResult<Json<Page<CameraDto>>> {
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    if let Some(k) = &p.kind
        && CameraKind::parse(k).is_none()
    {
        return Err(query_error(
            "kind",
            Rule::OneOf { allowed: CameraKind::ALL.iter().map(|k| k.as_str().to_string()).collect() },
        ));
    }
    if let Some(s) = &p.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(query_error("status", Rule::OneOf { allowed: STATUSES.iter().map(|s| s.to_string()).collect() }));
    }
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(query_error("q", Rule::TooLong { max: 100 }));
    }
    let towns = readable_towns(&state, &auth.principal, p.town_id).await?;
    let filter = CameraFilter { town_ids: towns, kind: p.kind, status: p.status, q: p.q };
    let db = state.store().db();
    let (rows, total) = cameras::list_cameras(db, &filter, page.offset(), page.page_size).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(camera_dto(r, alarms::settings(db, r.town_id).await?));
    }
    Ok(Json(Page::new(items, page, total)))
}

fn query_error(field: &str, rule: Rule) -> ApiError {
    let mut e = ApiError::field(field, rule);
    e.status = StatusCode::BAD_REQUEST;
    e.code = "invalid_query";
    e
}

async fn readable_camera(state: &AppState, p: &Principal, id: Uuid, permission: Permission) -> ApiResult<CameraRow> {
    let c = cameras::camera(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    require_town(state, p, c.town_id, permission).await?;
    Ok(c)
}

#[utoipa::path(get, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = Uuid, Path)),
    responses((status = 200, body = CameraDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_camera(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<CameraDto>> {
    let c = readable_camera(&state, &auth.principal, id, Permission::CasesRead).await?;
    Ok(Json(camera_dto(&c, alarms::settings(state.store().db(), c.town_id).await?)))
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)`.
fn double_option<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change; absent fields keep their values, `vendor`/`live_view_url` null clears them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCamera {
    pub version: i32,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub bearing_deg: Option<f64>,
    pub field_of_view_deg: Option<f64>,
    pub range_m: Option<f64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub vendor: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub live_view_url: Option<Option<String>>,
    pub status: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = Uuid, Path)), request_body = UpdateCamera,
    responses((status = 200, body = CameraDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_camera(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<UpdateCamera>,
) -> ApiResult<Json<CameraDto>> {
    let c = readable_camera(&state, &auth.principal, id, Permission::CatalogWrite).await?;
    let mut issues = Issues::default();
    let vendor = match &req.vendor {
        Some(v) => v.clone(),
        None => c.vendor.clone(),
    };
    let url = match &req.live_view_url {
        Some(v) => v.clone(),
        None => c.live_view_url.clone(),
    };
    let fields = check_fields(
        &state,
        c.town_id,
        &mut issues,
        req.name.as_deref().unwrap_or(&c.name),
        req.kind.as_deref().unwrap_or(&c.kind),
        req.lat.unwrap_or(c.lat),
        req.lon.unwrap_or(c.lon),
        req.bearing_deg.unwrap_or(c.bearing_deg),
        Some(req.field_of_view_deg.unwrap_or(c.field_of_view_deg)),
        req.range_m.unwrap_or(c.range_m),
        vendor.as_deref(),
        url.as_deref(),
        req.status.as_deref().unwrap_or(&c.status),
    )
    .await?;
    issues.into_result()?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = cameras::update_camera(&mut tx, &auth.actor(), now, &c, req.version, fields, None).await?;
    tx.commit(now).await?;
    Ok(Json(camera_dto(&row, alarms::settings(state.store().db(), row.town_id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RotateSecret {
    pub version: i32,
}

/// A new webhook secret (shown this once); the previous one keeps working for 24 hours.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/secret", tag = "cameras", params(("id" = Uuid, Path)), request_body = RotateSecret,
    responses((status = 200, body = CameraWithSecretDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<RotateSecret>,
) -> ApiResult<Json<CameraWithSecretDto>> {
    let c = readable_camera(&state, &auth.principal, id, Permission::CatalogWrite).await?;
    let now = state.now();
    let secret = new_secret();
    let mut tx = state.store().begin().await?;
    let row = cameras::update_camera(&mut tx, &auth.actor(), now, &c, req.version, None, Some(secret.to_hex())).await?;
    tx.commit(now).await?;
    let s = alarms::settings(state.store().db(), row.town_id).await?;
    Ok(Json(CameraWithSecretDto { camera: camera_dto(&row, s), secret: secret.to_hex() }))
}

/// The town's cameras for the map: one feature per camera, its view sector as the geometry.
#[utoipa::path(get, path = "/api/v1/towns/{town_id}/cameras.geojson", tag = "cameras", params(("town_id" = Uuid, Path)),
    responses((status = 200, description = "GeoJSON FeatureCollection"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn cameras_geojson(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
) -> ApiResult<Json<Value>> {
    require_town(&state, &auth.principal, town_id, Permission::CasesRead).await?;
    let db = state.store().db();
    let s = alarms::settings(db, town_id).await?;
    let rows = cameras::town_cameras(db, town_id, MAX_MAP_CAMERAS).await?;
    let features: Vec<Value> = rows
        .iter()
        .map(|c| {
            let sector =
                ViewSector { bearing_deg: c.bearing_deg, field_of_view_deg: c.field_of_view_deg, range_m: c.range_m };
            json!({
                "type": "Feature",
                "id": c.id,
                "geometry": sector.to_geojson(Point { lon: c.lon, lat: c.lat }),
                "properties": {
                    "id": c.id, "code": c.code, "name": c.name, "kind": c.kind, "status": c.status,
                    "lat": c.lat, "lon": c.lon, "bearing_deg": c.bearing_deg,
                    "field_of_view_deg": c.field_of_view_deg, "range_m": c.range_m,
                    "live_view_url": c.live_view_url, "false_alarm_rate": alarms::stats(c).rate(),
                    "opens_cases": alarms::opens_cases(c, s),
                },
            })
        })
        .collect();
    Ok(Json(json!({"type": "FeatureCollection", "features": features})))
}

// ---- settings ----

#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmSettingsDto {
    pub town_id: Uuid,
    pub burst_window_secs: i64,
    pub false_alarm_threshold: Option<f64>,
    /// 0 until first set.
    pub version: i32,
}

async fn settings_dto(state: &AppState, town_id: Uuid) -> ApiResult<AlarmSettingsDto> {
    let row = cameras::alarm_settings(state.store().db(), town_id).await?;
    let d = AlarmSettings::default();
    Ok(AlarmSettingsDto {
        town_id,
        burst_window_secs: row.as_ref().map_or(d.burst_window_secs, |r| i64::from(r.burst_window_secs)),
        false_alarm_threshold: row.as_ref().and_then(|r| r.false_alarm_threshold),
        version: row.map_or(0, |r| r.version),
    })
}

#[utoipa::path(get, path = "/api/v1/towns/{town_id}/alarm-settings", tag = "cameras", params(("town_id" = Uuid, Path)),
    responses((status = 200, body = AlarmSettingsDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_alarm_settings(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
) -> ApiResult<Json<AlarmSettingsDto>> {
    require_town(&state, &auth.principal, town_id, Permission::CasesRead).await?;
    Ok(Json(settings_dto(&state, town_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PutAlarmSettings {
    pub version: i32,
    pub burst_window_secs: i64,
    pub false_alarm_threshold: Option<f64>,
}

#[utoipa::path(put, path = "/api/v1/towns/{town_id}/alarm-settings", tag = "cameras", params(("town_id" = Uuid, Path)),
    request_body = PutAlarmSettings,
    responses((status = 200, body = AlarmSettingsDto), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_alarm_settings(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(town_id): IdPath,
    ApiJson(req): ApiJson<PutAlarmSettings>,
) -> ApiResult<Json<AlarmSettingsDto>> {
    require_town(&state, &auth.principal, town_id, Permission::CatalogWrite).await?;
    let s = AlarmSettings::parse(req.burst_window_secs, req.false_alarm_threshold).map_err(ApiError::invalid)?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    cameras::put_alarm_settings(
        &mut tx,
        &auth.actor(),
        now,
        town_id,
        req.version,
        i32::try_from(s.burst_window_secs).unwrap_or(600),
        s.false_alarm_threshold,
    )
    .await?;
    tx.commit(now).await?;
    Ok(Json(settings_dto(&state, town_id).await?))
}

// ---- the webhook ----

#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmReceiptDto {
    pub alarm_id: Uuid,
    /// `case_created`, `folded`, `review` or `duplicate`.
    pub disposition: String,
    pub case_id: Option<Uuid>,
    pub case_number: Option<String>,
    /// Alarms on that case so far.
    pub alarm_count: i32,
}

/// Seen (timestamp, signature) pairs of the last five minutes, bounded.
fn replay_cache() -> &'static Mutex<ReplayCache> {
    static CACHE: std::sync::OnceLock<Mutex<ReplayCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(ReplayCache::default()))
}

fn unauthorized(e: WebhookAuthError) -> ApiError {
    let code = match e {
        WebhookAuthError::Stale { .. } => "stale_request",
        WebhookAuthError::Replayed => "replayed",
        WebhookAuthError::BodyTooLarge => return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        _ => "bad_signature",
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code).with_detail(e.to_string())
}

/// A camera's alarm, signed with its secret: `X-Wuwei-Timestamp` (Unix seconds) and
/// `X-Wuwei-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>`.
#[utoipa::path(post, path = "/api/v1/intake/alarms", tag = "cameras",
    request_body(content = Value, description = "{camera_code, alarm_type, confidence, occurred_at, event_id?, snapshot? (base64 image)}"),
    params(("X-Wuwei-Timestamp" = String, Header), ("X-Wuwei-Signature" = String, Header)),
    responses((status = 202, body = AlarmReceiptDto), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody, description = "Unsigned, badly signed, stale or replayed"),
        (status = 404, body = crate::error::ErrorBody, description = "Unknown camera"),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn receive_alarm(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<AlarmReceiptDto>)> {
    let now = state.now();
    let report = match alarm::parse_report(&body, now) {
        Ok(r) => r,
        Err(ReportError::TooLarge) => return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")),
        Err(ReportError::Syntax(_)) => {
            // The extractor's 400 for syntax, 422 naming the field for shape (the usual split).
            parse_json::<Value>(&body)?;
            return Err(match serde_json::from_slice::<Value>(&body) {
                Ok(_) => ApiError::bad_request("invalid_json")
                    .with_detail("expected {camera_code, alarm_type, confidence, occurred_at, event_id?, snapshot?}"),
                Err(e) => ApiError::bad_request("invalid_json").with_detail(e.to_string()),
            });
        }
        Err(ReportError::Fields(issues)) => return Err(ApiError::invalid(issues)),
    };
    let db = state.store().db();
    let Some(cam) = cameras::camera_by_code(db, &report.camera_code).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_camera")
            .with_detail(report.camera_code.clone())
            .with_field("camera_code", Rule::UnknownReference));
    };
    let (Ok(secret), previous) = (
        IntakeSecret::parse_hex(&cam.secret),
        cam.previous_secret
            .as_deref()
            .filter(|_| cam.previous_secret_until.is_some_and(|u| u > now))
            .and_then(|s| IntakeSecret::parse_hex(s).ok()),
    ) else {
        tracing::error!(camera = %cam.id, "stored camera secret is unreadable");
        return Err(ApiError::internal());
    };
    let secrets: Vec<&IntakeSecret> = std::iter::once(&secret).chain(previous.as_ref()).collect();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    {
        let mut cache = replay_cache().lock().map_err(|_| ApiError::internal())?;
        webhook::verify(
            header(webhook::TIMESTAMP_HEADER),
            header(webhook::SIGNATURE_HEADER),
            &body,
            &secrets,
            &mut cache,
            now,
        )
        .map_err(unauthorized)?;
    }
    let snapshot = match report.snapshot_base64.as_deref() {
        Some(b64) => Some(store_snapshot(&state, b64).await?),
        None => None,
    };
    let received = alarms::receive(
        &state,
        &cam,
        Incoming {
            alarm_type: report.alarm_type,
            confidence: report.confidence.get(),
            occurred_at: report.occurred_at,
            event_id: report.event_id,
            via: "webhook",
            snapshot,
        },
        now,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AlarmReceiptDto {
            alarm_id: received.alarm.id,
            disposition: received.disposition.to_string(),
            case_id: received.case.as_ref().map(|c| c.id),
            case_number: received.case.map(|c| c.number),
            alarm_count: received.alarm_count,
        }),
    ))
}

/// Decode, check (an image, at most 2 MB) and store a snapshot.
async fn store_snapshot(state: &AppState, b64: &str) -> ApiResult<Snapshot> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| ApiError::field("snapshot", Rule::Format { expected: "base64" }))?;
    if bytes.len() > MAX_SNAPSHOT_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").with_detail("snapshot over 2 MB"));
    }
    let (info, thumb, bytes) = tokio::task::spawn_blocking(move || {
        wuwei_media::inspect_with_thumbnail(&bytes, wuwei_media::THUMB_MAX_SIDE).map(|(i, t)| (i, t, bytes))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| {
        if e.http_status() == 413 {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        } else {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                .with_detail("the snapshot is not a JPEG, PNG or WebP image")
        }
    })?;
    if info.kind != MediaKind::Photo {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            .with_detail("the snapshot is not a JPEG, PNG or WebP image"));
    }
    let dir = state.config().data_dir.clone();
    let sha = wuwei_media::sha256_hex(&bytes);
    attachments::store_blob(&dir, &sha, &bytes).await?;
    let thumb_sha = match &thumb {
        Some(t) => {
            let s = wuwei_media::sha256_hex(t);
            attachments::store_blob(&dir, &s, t).await?;
            Some(s)
        }
        None => None,
    };
    Ok(Snapshot {
        sha256: sha,
        mime: info.mime.to_string(),
        size_bytes: bytes.len() as i64,
        thumb_sha256: thumb_sha,
        width: info.width.map(|w| w.min(i32::MAX as u32) as i32),
        height: info.height.map(|h| h.min(i32::MAX as u32) as i32),
    })
}

// ---- reading and judging alarms ----

#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmCameraDto {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmDto {
    pub id: Uuid,
    pub town_id: Uuid,
    pub camera: Option<AlarmCameraDto>,
    pub alarm_type: String,
    pub confidence: f64,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// `webhook` or `mqtt`.
    pub via: String,
    pub event_id: Option<String>,
    /// `case_created`, `folded` or `review`.
    pub disposition: String,
    pub case_id: Option<Uuid>,
    pub case_number: Option<String>,
    /// null (not judged), `false` or `true`.
    pub verdict: Option<String>,
    pub judged_by: Option<String>,
    pub judged_at: Option<DateTime<Utc>>,
    pub snapshot_url: Option<String>,
    pub tags: Vec<String>,
}

async fn alarm_dtos(state: &AppState, rows: &[AlarmRow]) -> ApiResult<Vec<AlarmDto>> {
    let db = state.store().db();
    let mut cam_ids: Vec<Uuid> = rows.iter().map(|a| a.camera_id).collect();
    cam_ids.sort();
    cam_ids.dedup();
    let cams = cameras::cameras_by_ids(db, &cam_ids).await?;
    let mut case_ids: Vec<Uuid> = rows.iter().filter_map(|a| a.case_id).collect();
    case_ids.sort();
    case_ids.dedup();
    let mut numbers = std::collections::HashMap::new();
    for a in rows {
        if let Some(cid) = a.case_id
            && !numbers.contains_key(&cid)
            && let Some(c) = wuwei_store::cases::case_in_town(db, a.town_id, cid).await?
        {
            numbers.insert(cid, c.number);
        }
    }
    Ok(rows
        .iter()
        .map(|a| AlarmDto {
            id: a.id,
            town_id: a.town_id,
            camera: cams.iter().find(|c| c.id == a.camera_id).map(|c| AlarmCameraDto {
                id: c.id,
                code: c.code.clone(),
                name: c.name.clone(),
                kind: c.kind.clone(),
            }),
            alarm_type: a.alarm_type.clone(),
            confidence: a.confidence,
            occurred_at: a.occurred_at,
            received_at: a.received_at,
            via: a.via.clone(),
            event_id: a.event_id.clone(),
            disposition: a.disposition.clone(),
            case_id: a.case_id,
            case_number: a.case_id.and_then(|c| numbers.get(&c).cloned()),
            verdict: a.verdict.clone(),
            judged_by: a.judged_by.clone(),
            judged_at: a.judged_at,
            snapshot_url: a.snapshot_sha256.as_ref().map(|_| format!("/api/v1/alarms/{}/snapshot", a.id)),
            tags: a.tag_list(),
        })
        .collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlarmListParams {
    pub town_id: Option<Uuid>,
    pub camera_id: Option<Uuid>,
    pub alarm_type: Option<String>,
    /// `case_created`, `folded` or `review`.
    pub disposition: Option<String>,
    /// `false`, `true`, or empty for "not judged yet".
    pub verdict: Option<String>,
    pub case_id: Option<Uuid>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Alarms, newest first. `disposition=review&verdict=` is the review queue.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "cameras", params(AlarmListParams),
    responses((status = 200, body = Page<AlarmDto>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_alarms(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<AlarmListParams>,
) -> ApiResult<Json<Page<AlarmDto>>> {
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    if let Some(t) = &p.alarm_type
        && AlarmType::parse(t).is_none()
    {
        return Err(query_error(
            "alarm_type",
            Rule::OneOf { allowed: AlarmType::ALL.iter().map(|t| t.as_str().to_string()).collect() },
        ));
    }
    const DISPOSITIONS: [&str; 3] = ["case_created", "folded", "review"];
    if let Some(d) = &p.disposition
        && !DISPOSITIONS.contains(&d.as_str())
    {
        return Err(query_error(
            "disposition",
            Rule::OneOf { allowed: DISPOSITIONS.iter().map(|s| s.to_string()).collect() },
        ));
    }
    let verdict = match p.verdict.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(v @ ("true" | "false")) => Some(Some(v.to_string())),
        Some(_) => {
            return Err(query_error(
                "verdict",
                Rule::OneOf { allowed: vec!["".into(), "true".into(), "false".into()] },
            ));
        }
    };
    let towns = readable_towns(&state, &auth.principal, p.town_id).await?;
    let filter = AlarmFilter {
        town_ids: towns,
        camera_id: p.camera_id,
        alarm_type: p.alarm_type,
        disposition: p.disposition,
        verdict,
        case_id: p.case_id,
    };
    let (rows, total) = cameras::list_alarms(state.store().db(), &filter, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(alarm_dtos(&state, &rows).await?, page, total)))
}

async fn readable_alarm(state: &AppState, p: &Principal, id: Uuid, permission: Permission) -> ApiResult<AlarmRow> {
    let a = cameras::alarm(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    require_town(state, p, a.town_id, permission).await?;
    Ok(a)
}

async fn one_dto(state: &AppState, a: AlarmRow) -> ApiResult<AlarmDto> {
    alarm_dtos(state, std::slice::from_ref(&a)).await?.pop().ok_or_else(ApiError::internal)
}

#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "cameras", params(("id" = Uuid, Path)),
    responses((status = 200, body = AlarmDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_alarm(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<AlarmDto>> {
    let a = readable_alarm(&state, &auth.principal, id, Permission::CasesRead).await?;
    Ok(Json(one_dto(&state, a).await?))
}

#[utoipa::path(get, path = "/api/v1/alarms/{id}/snapshot", tag = "cameras", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The snapshot image"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn alarm_snapshot(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = readable_alarm(&state, &auth.principal, id, Permission::CasesRead).await?;
    let (Some(sha), mime) = (a.snapshot_sha256.as_deref(), a.snapshot_mime.as_deref().unwrap_or("image/jpeg")) else {
        return Err(ApiError::not_found());
    };
    attachments::blob_response(&state, a.id, sha, mime, &headers).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerdictRequest {
    /// `false` (a false alarm) or `true`.
    pub verdict: String,
    pub note: Option<String>,
}

/// Judge an alarm; a false one counts against its camera's false-alarm rate.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/verdict", tag = "cameras", params(("id" = Uuid, Path)), request_body = VerdictRequest,
    responses((status = 200, body = AlarmDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn judge_alarm(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<VerdictRequest>,
) -> ApiResult<Json<AlarmDto>> {
    let a = readable_alarm(&state, &auth.principal, id, Permission::CasesDispatch).await?;
    let mut issues = Issues::default();
    if !matches!(req.verdict.as_str(), "true" | "false") {
        issues.push("verdict", Rule::OneOf { allowed: vec!["false".into(), "true".into()] });
    }
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        issues.push("note", Rule::TooLong { max: 500 });
    }
    issues.into_result()?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = cameras::judge_alarm(&mut tx, &auth.actor(), now, &a, &req.verdict, req.note.clone()).await?;
    tx.commit(now).await?;
    Ok(Json(one_dto(&state, row).await?))
}

/// Open a case for an alarm waiting in the review queue.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/open-case", tag = "cameras", params(("id" = Uuid, Path)),
    responses((status = 201, body = AlarmDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "It has a case already or was judged false")))]
pub async fn open_case(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<AlarmDto>)> {
    let a = readable_alarm(&state, &auth.principal, id, Permission::CasesDispatch).await?;
    let now = state.now();
    match alarms::open_case_for(&state, &auth.actor(), &a, now).await? {
        Some(row) => Ok((StatusCode::CREATED, Json(one_dto(&state, row).await?))),
        None => Err(ApiError::conflict("conflict").with_detail("the alarm has a case already or was judged false")),
    }
}

//! The device register (call buttons, speakers, sensors, cameras that talk MQTT) and the
//! dead-letter list of dropped device messages.
//!
//! Who may do what: registering and changing devices, rotating secrets and reading dead letters
//! need `catalog.write` over the device's town (town and county administrators: the device
//! register is town configuration, like categories and units). Reading devices needs
//! `households.read` over the device's place, so a grid worker lists the (offline) devices of
//! their own grid, and dispatchers and administrators see the town's.
//!
//! A device's secret is shown once, in the answer that creates it or rotates it; never again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission, Principal};
use wuwei_domain::geo::Point;
use wuwei_domain::intake::device::{self as rules, DeviceKind, DeviceStatus};
use wuwei_domain::intake::mqtt::DropReason;
use wuwei_domain::intake::secret::{IntakeSecret, SECRET_BYTES};
use wuwei_domain::validate::{self, Issues, Rule};
use wuwei_store::devices::{
    self, DeadLetterRow, DeviceBinding, DeviceChanges, DeviceFilter, DevicePlace, DeviceRow, DeviceVisibility,
    NewDevice,
};
use wuwei_store::{households, regions};

use crate::auth::Auth;
use crate::dto::{Page, PageParams};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDto {
    pub id: Uuid,
    pub town_id: Uuid,
    /// The device id of its topic `wuwei/{town_code}/devices/{code}/events`.
    pub code: String,
    /// `call_button`, `speaker`, `sensor` or `camera`.
    pub kind: String,
    pub name: String,
    /// Bound to this household (a press is its one-click call).
    pub household_id: Option<Uuid>,
    /// Where it is: the household's location, or the place it was installed at.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    /// `never_seen`, `online` or `offline` (silent for 3 heartbeat intervals), as of now.
    pub status: String,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When it goes offline unless heard from (online devices only).
    pub offline_at: Option<DateTime<Utc>>,
    pub last_seq: Option<i64>,
    pub heartbeat_interval_secs: i32,
    pub battery_pct: Option<i16>,
    pub rssi_dbm: Option<i16>,
    pub firmware: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

fn dto(d: &DeviceRow, now: DateTime<Utc>) -> DeviceDto {
    let status = d.status_at(now);
    DeviceDto {
        id: d.id,
        town_id: d.town_id,
        code: d.code.clone(),
        kind: d.kind.clone(),
        name: d.name.clone(),
        household_id: d.household_id,
        lat: d.lat,
        lon: d.lon,
        address: d.address.clone(),
        admin_village_id: d.admin_village_id,
        natural_village_id: d.natural_village_id,
        grid_id: d.grid_id,
        status: status.as_str().to_string(),
        last_seen_at: d.last_seen_at,
        offline_at: if status == DeviceStatus::Online { d.next_check_at } else { None },
        last_seq: d.last_seq,
        heartbeat_interval_secs: d.heartbeat_interval_secs,
        battery_pct: d.battery_pct,
        rssi_dbm: d.rssi_dbm,
        firmware: d.firmware.clone(),
        disabled: d.disabled,
        created_at: d.created_at,
        updated_at: d.updated_at,
        version: d.version,
    }
}

fn device_place(d: &DeviceRow, city_id: Option<Uuid>) -> wuwei_domain::access::Place {
    wuwei_domain::access::Place {
        city_id,
        town_id: Some(d.town_id),
        area_id: d.area_id,
        admin_village_id: d.admin_village_id,
        natural_village_id: d.natural_village_id,
        grid_id: d.grid_id,
        household_id: d.household_id,
    }
}

async fn city_of(state: &AppState, town_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(regions::region_in_town(state.store().db(), town_id, town_id).await?.map(|t| t.city_id))
}

/// `permission` over the whole town (a binding at town level or above).
async fn can_manage_town(state: &AppState, principal: &Principal, town_id: Uuid) -> ApiResult<bool> {
    let city = city_of(state, town_id).await?;
    let town_place =
        wuwei_domain::access::Place { city_id: city, town_id: Some(town_id), ..wuwei_domain::access::Place::default() };
    Ok(principal.can(Permission::CatalogWrite, &town_place))
}

/// Where a binding puts the device: the household's place and location, or the located point.
async fn resolve_binding(
    state: &AppState,
    town_id: Uuid,
    input: &BindingInput,
    issues: &mut Issues,
) -> ApiResult<DeviceBinding> {
    let db = state.store().db();
    if let Some(hid) = input.household_id {
        if input.lat.is_some() || input.lon.is_some() {
            issues.push("binding", Rule::NotAllowed { reason: "household_or_location" });
            return Ok(DeviceBinding::default());
        }
        let Some(h) = households::household(db, hid).await?.filter(|h| h.town_id == town_id) else {
            issues.push("binding.household_id", Rule::UnknownReference);
            return Ok(DeviceBinding::default());
        };
        return Ok(DeviceBinding {
            household_id: Some(h.id),
            lat: Some(h.lat),
            lon: Some(h.lon),
            address: Some(h.address.clone()),
            place: DevicePlace {
                area_id: h.area_id,
                admin_village_id: Some(h.admin_village_id),
                natural_village_id: Some(h.natural_village_id),
                grid_id: Some(h.grid_id),
            },
        });
    }
    let address = match input.address.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => issues.take(validate::text("binding.address", a, 200)),
        None => None,
    };
    match (input.lat, input.lon) {
        (None, None) => Ok(DeviceBinding { address, ..DeviceBinding::default() }),
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                issues.push("binding.lat", Rule::NotAllowed { reason: "outside_town" });
                return Ok(DeviceBinding::default());
            }
            let index = state.0.locator.town(state.store(), town_id).await?;
            let p = Point { lon, lat };
            if !index.contains(p) {
                issues.push("binding.lat", Rule::NotAllowed { reason: "outside_town" });
                return Ok(DeviceBinding::default());
            }
            let found = index.locate(p);
            let area = match found.admin_village_id {
                Some(av) => regions::region_in_town(db, town_id, av).await?.and_then(|r| r.area_id),
                None => None,
            };
            Ok(DeviceBinding {
                household_id: None,
                lat: Some(lat),
                lon: Some(lon),
                address,
                place: DevicePlace {
                    area_id: area,
                    admin_village_id: found.admin_village_id,
                    natural_village_id: found.natural_village_id,
                    grid_id: found.grid_id,
                },
            })
        }
        (Some(_), None) => {
            issues.push("binding.lon", Rule::Required);
            Ok(DeviceBinding::default())
        }
        (None, Some(_)) => {
            issues.push("binding.lat", Rule::Required);
            Ok(DeviceBinding::default())
        }
    }
}

fn domain_binding(b: &DeviceBinding) -> rules::Binding {
    match (b.household_id, b.lat) {
        (Some(h), _) => rules::Binding::Household(h),
        (None, Some(_)) => rules::Binding::Place(Uuid::nil()),
        _ => rules::Binding::Unbound,
    }
}

fn new_secret() -> IntakeSecret {
    use rand::RngCore;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    IntakeSecret::from_random(bytes)
}

// ---- listing and reading ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceListParams {
    pub town_id: Option<Uuid>,
    /// `call_button`, `speaker`, `sensor` or `camera`.
    pub kind: Option<String>,
    /// `online`, `offline` or `never_seen`, as of now.
    pub status: Option<String>,
    pub household_id: Option<Uuid>,
    /// Part of the code or the name.
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Devices in the caller's scope (by the device's place), by town and code. `?status=offline`
/// is a grid worker's list of devices to go and look at.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(DeviceListParams),
    responses((status = 200, body = Page<DeviceDto>), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_devices(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<DeviceListParams>,
) -> ApiResult<Json<Page<DeviceDto>>> {
    auth.require_any(Permission::HouseholdsRead)?;
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    let mut issues = Issues::default();
    let kind = match params.kind.as_deref() {
        Some(k) => DeviceKind::parse(k).or_else(|| {
            issues.push("kind", Rule::OneOf { allowed: DeviceKind::ALL.iter().map(|k| k.as_str().into()).collect() });
            None
        }),
        None => None,
    };
    let status = match params.status.as_deref() {
        Some(s) => DeviceStatus::parse(s).or_else(|| {
            issues
                .push("status", Rule::OneOf { allowed: DeviceStatus::ALL.iter().map(|k| k.as_str().into()).collect() });
            None
        }),
        None => None,
    };
    if let Err(issues) = issues.into_result() {
        let mut e = ApiError::invalid(issues);
        e.status = StatusCode::BAD_REQUEST;
        e.code = "invalid_query";
        return Err(e);
    }
    let scopes = auth.principal.scopes_with(Permission::HouseholdsRead);
    let mut city_towns = Vec::new();
    for s in &scopes {
        if s.level == Level::City
            && let Some(city) = s.place.city_id
        {
            city_towns.extend(regions::town_ids_of_city(state.store().db(), city).await?);
        }
    }
    let filter = DeviceFilter {
        town_id: params.town_id,
        kind,
        status,
        household_id: params.household_id,
        q: params.q.map(|q| q.chars().take(64).collect()),
    };
    let now = state.now();
    let (rows, total) = devices::list_devices(
        state.store().db(),
        &filter,
        &DeviceVisibility { scopes, city_towns },
        now,
        page.offset(),
        page.page_size,
    )
    .await?;
    Ok(Json(Page::new(rows.iter().map(|d| dto(d, now)).collect(), page, total)))
}

async fn readable(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<DeviceRow> {
    let d = devices::device(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let city = city_of(state, d.town_id).await?;
    if !principal.can(Permission::HouseholdsRead, &device_place(&d, city)) {
        return Err(ApiError::not_found());
    }
    Ok(d)
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = Uuid, Path)),
    responses((status = 200, body = DeviceDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_device(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<DeviceDto>> {
    let d = readable(&state, &auth.principal, id).await?;
    Ok(Json(dto(&d, state.now())))
}

// ---- registering and changing ----

/// What a device is bound to: a household (`household_id`), or a place by its location (`lat`,
/// `lon`, optional `address`), or nothing (`{}`: registered, not yet installed; its presses
/// are dropped as `unbound`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingInput {
    pub household_id: Option<Uuid>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// Needed when the caller administers several towns.
    pub town_id: Option<Uuid>,
    /// The device id in its topic: 1–64 of `A-Z a-z 0-9 - _`, unique in the town.
    pub code: String,
    /// `call_button`, `speaker`, `sensor` or `camera`.
    pub kind: String,
    /// Default: the code.
    pub name: Option<String>,
    #[serde(default)]
    pub binding: Option<BindingInput>,
    /// Default 60; 10 to 86400. Silent for three intervals: offline.
    pub heartbeat_interval_secs: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceWithSecret {
    /// The signing secret, 64 hex characters: shown this once, never again. The device signs
    /// each message with HMAC-SHA256 over `topic + "\n" + body` keyed with its 32 bytes.
    pub secret: String,
    /// The topic the device publishes on.
    pub topic: String,
    pub device: DeviceDto,
}

async fn town_code(state: &AppState, town_id: Uuid) -> ApiResult<String> {
    let town = regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(town.short_code.unwrap_or_default())
}

/// Register a device; the answer carries its secret, once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = CreateDevice,
    responses((status = 201, body = DeviceWithSecret), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_device(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateDevice>,
) -> ApiResult<(StatusCode, Json<DeviceWithSecret>)> {
    auth.require_any(Permission::CatalogWrite)?;
    let towns = crate::dto::visible_town_ids(&state, &auth.principal).await?;
    let mut manageable = Vec::new();
    for t in towns {
        if can_manage_town(&state, &auth.principal, t).await? {
            manageable.push(t);
        }
    }
    let town_id = match (req.town_id, manageable.as_slice()) {
        (Some(t), _) if manageable.contains(&t) => t,
        (Some(_), _) => return Err(ApiError::forbidden()),
        (None, [only]) => *only,
        (None, []) => return Err(ApiError::forbidden()),
        (None, _) => return Err(ApiError::field("town_id", Rule::Required)),
    };
    let mut issues = Issues::default();
    let code = issues.take(rules::device_id("code", &req.code));
    let kind = DeviceKind::parse(&req.kind);
    if kind.is_none() {
        issues.push("kind", Rule::OneOf { allowed: DeviceKind::ALL.iter().map(|k| k.as_str().into()).collect() });
    }
    let name = match req.name.as_deref() {
        Some(n) => issues.take(validate::text("name", n, 100)),
        None => code.clone(),
    };
    let interval = issues.take(rules::heartbeat_interval_secs(
        "heartbeat_interval_secs",
        req.heartbeat_interval_secs.unwrap_or(i64::from(rules::DEFAULT_HEARTBEAT_INTERVAL_SECS)),
    ));
    let binding = resolve_binding(&state, town_id, &req.binding.unwrap_or_default(), &mut issues).await?;
    if let Some(k) = kind {
        issues.take(rules::check_binding("binding", k, domain_binding(&binding)));
    }
    issues.into_result()?;
    let (Some(code), Some(kind), Some(name), Some(interval)) = (code, kind, name, interval) else {
        return Err(ApiError::internal());
    };
    let secret = new_secret();
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = devices::insert_device(
        &mut tx,
        &auth.actor(),
        now,
        NewDevice {
            id: Uuid::now_v7(),
            town_id,
            code,
            kind,
            name,
            binding,
            secret_hex: secret.to_hex(),
            heartbeat_interval_secs: interval,
        },
    )
    .await?;
    tx.commit(now).await?;
    let topic = rules::DeviceTopic { town_code: town_code(&state, town_id).await?, device_id: row.code.clone() };
    Ok((
        StatusCode::CREATED,
        Json(DeviceWithSecret { secret: secret.to_hex(), topic: topic.to_string(), device: dto(&row, now) }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDevice {
    /// The version read; a stale one answers 409.
    pub version: i32,
    pub name: Option<String>,
    /// A new binding (replaces the old; `{}` unbinds).
    pub binding: Option<BindingInput>,
    pub heartbeat_interval_secs: Option<i64>,
    /// A disabled device's messages are dropped as `disabled`.
    pub disabled: Option<bool>,
    /// Make a new secret (returned once in `secret`); the old one stops working at once.
    #[serde(default)]
    pub rotate_secret: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedDevice {
    /// Only when the secret was rotated: the new one, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub device: DeviceDto,
}

/// Change a device: name, binding, heartbeat interval, disabled; or rotate its secret.
#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = Uuid, Path)), request_body = UpdateDevice,
    responses((status = 200, body = UpdatedDevice), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_device(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<UpdateDevice>,
) -> ApiResult<Json<UpdatedDevice>> {
    let current = readable(&state, &auth.principal, id).await?;
    if !can_manage_town(&state, &auth.principal, current.town_id).await? {
        return Err(ApiError::forbidden());
    }
    let mut issues = Issues::default();
    let name = match req.name.as_deref() {
        Some(n) => issues.take(validate::text("name", n, 100)),
        None => None,
    };
    let interval = match req.heartbeat_interval_secs {
        Some(h) => issues.take(rules::heartbeat_interval_secs("heartbeat_interval_secs", h)),
        None => None,
    };
    let binding = match &req.binding {
        Some(b) => {
            let b = resolve_binding(&state, current.town_id, b, &mut issues).await?;
            if let Some(k) = current.kind() {
                issues.take(rules::check_binding("binding", k, domain_binding(&b)));
            }
            Some(b)
        }
        None => None,
    };
    issues.into_result()?;
    let secret = req.rotate_secret.then(new_secret);
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = devices::update_device(
        &mut tx,
        &auth.actor(),
        now,
        &current,
        req.version,
        DeviceChanges {
            name,
            binding,
            heartbeat_interval_secs: interval,
            disabled: req.disabled,
            secret_hex: secret.as_ref().map(IntakeSecret::to_hex),
        },
    )
    .await?;
    tx.commit(now).await?;
    Ok(Json(UpdatedDevice { secret: secret.map(|s| s.to_hex()), device: dto(&row, now) }))
}

// ---- dead letters ----

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterDto {
    pub id: Uuid,
    /// None when the topic named no town served here.
    pub town_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub topic: String,
    /// `oversized`, `bad_topic`, `malformed`, `wrong_town`, `unknown_device`, `disabled`,
    /// `bad_signature`, `replay`, `stale`, `unexpected_event` or `unbound`.
    pub reason: String,
    pub device_code: Option<String>,
    pub detail: String,
    /// The start of the payload (at most 1 KiB) as text.
    pub payload_excerpt: String,
    pub payload_len_bytes: i64,
}

fn letter_dto(r: DeadLetterRow) -> DeadLetterDto {
    DeadLetterDto {
        id: r.id,
        town_id: r.town_id,
        received_at: r.received_at,
        topic: r.topic,
        reason: r.reason,
        device_code: r.device_code,
        detail: r.detail,
        payload_excerpt: r.payload_excerpt,
        payload_len_bytes: r.payload_len_bytes,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// Only this drop reason.
    pub reason: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Dropped device messages of the caller's towns, newest first (the newest 1000 per town are
/// kept). County administrators also see those naming no town served here.
#[utoipa::path(get, path = "/api/v1/devices/dead-letters", tag = "devices", params(DeadLetterParams),
    responses((status = 200, body = Page<DeadLetterDto>), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<DeadLetterParams>,
) -> ApiResult<Json<Page<DeadLetterDto>>> {
    auth.require_any(Permission::CatalogWrite)?;
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    if let Some(r) = params.reason.as_deref()
        && DropReason::parse(r).is_none()
    {
        let mut e = ApiError::field(
            "reason",
            Rule::OneOf { allowed: DropReason::ALL.iter().map(|k| k.as_str().into()).collect() },
        );
        e.status = StatusCode::BAD_REQUEST;
        e.code = "invalid_query";
        return Err(e);
    }
    let mut towns = Vec::new();
    for t in crate::dto::visible_town_ids(&state, &auth.principal).await? {
        if can_manage_town(&state, &auth.principal, t).await? {
            towns.push(t);
        }
    }
    let county =
        auth.principal.bindings.iter().any(|b| b.scope.level == Level::City && b.role.has(Permission::CatalogWrite));
    let (rows, total) = devices::list_dead_letters(
        state.store().db(),
        &towns,
        county,
        params.reason.as_deref(),
        page.offset(),
        page.page_size,
    )
    .await?;
    Ok(Json(Page::new(rows.into_iter().map(letter_dto).collect(), page, total)))
}

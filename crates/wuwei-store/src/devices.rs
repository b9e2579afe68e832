//! Devices over MQTT: the register, accepting a message (conditionally on its `seq`), the
//! online/offline sweep, the bounded dead-letter list, and the one-click call a press folds into.
//!
//! Heartbeats, status flips and dead letters are bookkeeping (`begin_unaudited`): they change
//! no one's data and arrive at device speed. Registering, changing and rotating a device's secret
//! are audited (the secret itself never goes into the audit trail).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_domain::access::{Level, Scope};
use wuwei_domain::intake::device::{Binding, DeviceKind, DeviceStatus, status_at};
use wuwei_domain::intake::mqtt::{DeadLetter, Heartbeat};

use crate::entity::{device, device_dead_letter, one_click_call};
use crate::regions::{escape_like, never};
use crate::{Actor, AuditDraft, Result, StoreError, Tx};

pub use crate::entity::device::Model as DeviceRow;
pub use crate::entity::device_dead_letter::Model as DeadLetterRow;
pub use crate::entity::one_click_call::Model as OneClickCallRow;

/// Dead letters kept per town (and for messages naming no town we serve): the newest.
pub const DEAD_LETTERS_PER_TOWN: u64 = 1000;

impl DeviceRow {
    pub fn kind(&self) -> Option<DeviceKind> {
        DeviceKind::parse(&self.kind)
    }

    /// What a press or an alarm of this device is for. A place-bound device's "place" is its own
    /// registered location, so the place id is the device's id.
    pub fn binding(&self) -> Binding {
        match (self.household_id, self.lat, self.lon) {
            (Some(h), _, _) => Binding::Household(h),
            (None, Some(_), Some(_)) => Binding::Place(self.id),
            _ => Binding::Unbound,
        }
    }

    /// The status now: exact even between sweeps (an online device past its `next_check_at` is
    /// offline already, whether or not the sweep has written it).
    pub fn status_at(&self, now: DateTime<Utc>) -> DeviceStatus {
        status_at(self.last_seen_at, u32::try_from(self.heartbeat_interval_secs).unwrap_or(60), now).status
    }

    fn audit_view(&self) -> Value {
        json!({
            "code": self.code, "kind": self.kind, "name": self.name, "household_id": self.household_id,
            "lat": self.lat, "lon": self.lon, "address": self.address,
            "heartbeat_interval_secs": self.heartbeat_interval_secs, "disabled": self.disabled,
            "version": self.version,
        })
    }
}

/// Where a device is, from its household or its located point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevicePlace {
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
}

/// A device's binding as stored: household, or a place by its location, or neither.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceBinding {
    pub household_id: Option<Uuid>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub place: DevicePlace,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: Uuid,
    pub town_id: Uuid,
    pub code: String,
    pub kind: DeviceKind,
    pub name: String,
    pub binding: DeviceBinding,
    /// 64 lowercase hex characters.
    pub secret_hex: String,
    pub heartbeat_interval_secs: u32,
}

pub async fn insert_device(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, new: NewDevice) -> Result<DeviceRow> {
    let row = device::ActiveModel {
        town_id: Set(new.town_id),
        id: Set(new.id),
        code: Set(new.code),
        kind: Set(new.kind.as_str().to_string()),
        name: Set(new.name),
        household_id: Set(new.binding.household_id),
        lat: Set(new.binding.lat),
        lon: Set(new.binding.lon),
        address: Set(new.binding.address),
        area_id: Set(new.binding.place.area_id),
        admin_village_id: Set(new.binding.place.admin_village_id),
        natural_village_id: Set(new.binding.place.natural_village_id),
        grid_id: Set(new.binding.place.grid_id),
        secret: Set(new.secret_hex),
        heartbeat_interval_secs: Set(i32::try_from(new.heartbeat_interval_secs).unwrap_or(i32::MAX)),
        disabled: Set(false),
        last_seq: Set(None),
        last_seen_at: Set(None),
        status: Set(DeviceStatus::NeverSeen.as_str().to_string()),
        next_check_at: Set(None),
        battery_pct: Set(None),
        rssi_dbm: Set(None),
        firmware: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    }
    .insert(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "device.create".into(),
        entity_type: "device".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        after: Some(row.audit_view()),
    });
    Ok(row)
}

/// A change to a device: each `Some` replaces the stored value.
#[derive(Debug, Clone, Default)]
pub struct DeviceChanges {
    pub name: Option<String>,
    pub binding: Option<DeviceBinding>,
    pub heartbeat_interval_secs: Option<u32>,
    pub disabled: Option<bool>,
    /// A new secret (rotation): messages signed with the old one are refused from now on.
    pub secret_hex: Option<String>,
}

/// Change a device if its `version` is still `expected_version`.
pub async fn update_device(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: &DeviceRow,
    expected_version: i32,
    changes: DeviceChanges,
) -> Result<DeviceRow> {
    if current.version != expected_version {
        return Err(StoreError::VersionConflict { current: current.version });
    }
    let rotated = changes.secret_hex.is_some();
    let mut m = device::ActiveModel { town_id: Set(current.town_id), id: Set(current.id), ..Default::default() };
    if let Some(n) = changes.name {
        m.name = Set(n);
    }
    if let Some(b) = changes.binding {
        m.household_id = Set(b.household_id);
        m.lat = Set(b.lat);
        m.lon = Set(b.lon);
        m.address = Set(b.address);
        m.area_id = Set(b.place.area_id);
        m.admin_village_id = Set(b.place.admin_village_id);
        m.natural_village_id = Set(b.place.natural_village_id);
        m.grid_id = Set(b.place.grid_id);
    }
    if let Some(h) = changes.heartbeat_interval_secs {
        let h = i32::try_from(h).unwrap_or(i32::MAX);
        m.heartbeat_interval_secs = Set(h);
        // The offline moment moves with the interval.
        let check = status_at(current.last_seen_at, u32::try_from(h).unwrap_or(60), now);
        m.status = Set(check.status.as_str().to_string());
        m.next_check_at = Set(check.next_check_at);
    }
    if let Some(d) = changes.disabled {
        m.disabled = Set(d);
    }
    if let Some(s) = changes.secret_hex {
        m.secret = Set(s);
    }
    m.updated_at = Set(now);
    m.version = Set(current.version + 1);
    let res = device::Entity::update_many()
        .set(m)
        .filter(device::Column::TownId.eq(current.town_id))
        .filter(device::Column::Id.eq(current.id))
        .filter(device::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    if res.rows_affected != 1 {
        let now_row = device_in_town(tx.db(), current.town_id, current.id).await?.ok_or(StoreError::NotFound)?;
        return Err(StoreError::VersionConflict { current: now_row.version });
    }
    let row = device_in_town(tx.db(), current.town_id, current.id).await?.ok_or(StoreError::NotFound)?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: if rotated { "device.rotate_secret".into() } else { "device.update".into() },
        entity_type: "device".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(current.audit_view()),
        after: Some(row.audit_view()),
    });
    Ok(row)
}

pub async fn device(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<DeviceRow>> {
    Ok(device::Entity::find().filter(device::Column::Id.eq(id)).one(db).await?)
}

pub async fn device_in_town(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<DeviceRow>> {
    Ok(device::Entity::find_by_id((town_id, id)).one(db).await?)
}

pub async fn device_by_code(db: &impl ConnectionTrait, town_id: Uuid, code: &str) -> Result<Option<DeviceRow>> {
    Ok(device::Entity::find()
        .filter(device::Column::TownId.eq(town_id))
        .filter(device::Column::Code.eq(code))
        .one(db)
        .await?)
}

/// Which devices a caller sees: inside one of `scopes` (by the device's place), the towns of
/// city-level scopes.
#[derive(Debug, Clone, Default)]
pub struct DeviceVisibility {
    pub scopes: Vec<Scope>,
    pub city_towns: Vec<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub town_id: Option<Uuid>,
    pub kind: Option<DeviceKind>,
    pub status: Option<DeviceStatus>,
    pub household_id: Option<Uuid>,
    pub q: Option<String>,
}

fn level_column(level: Level) -> Option<device::Column> {
    match level {
        Level::Town => Some(device::Column::TownId),
        Level::Area => Some(device::Column::AreaId),
        Level::AdminVillage => Some(device::Column::AdminVillageId),
        Level::NaturalVillage => Some(device::Column::NaturalVillageId),
        Level::Grid => Some(device::Column::GridId),
        Level::Household => Some(device::Column::HouseholdId),
        Level::City => None,
    }
}

fn visibility_condition(v: &DeviceVisibility) -> Condition {
    let mut any = Condition::any().add(never());
    for s in &v.scopes {
        let Some(id) = s.id() else { continue };
        match level_column(s.level) {
            Some(col) => any = any.add(col.eq(id)),
            None => any = any.add(device::Column::TownId.is_in(v.city_towns.clone())),
        }
    }
    any
}

/// The status filter, exact between sweeps: "offline" includes online devices already past
/// their `next_check_at`.
fn status_condition(status: DeviceStatus, now: DateTime<Utc>) -> Condition {
    let online = DeviceStatus::Online.as_str();
    match status {
        DeviceStatus::Offline => Condition::any()
            .add(device::Column::Status.eq(DeviceStatus::Offline.as_str()))
            .add(Condition::all().add(device::Column::Status.eq(online)).add(device::Column::NextCheckAt.lte(now))),
        DeviceStatus::Online => Condition::all()
            .add(device::Column::Status.eq(online))
            .add(Condition::any().add(device::Column::NextCheckAt.is_null()).add(device::Column::NextCheckAt.gt(now))),
        DeviceStatus::NeverSeen => Condition::all().add(device::Column::Status.eq(DeviceStatus::NeverSeen.as_str())),
    }
}

/// Ordered by town and code.
pub async fn list_devices(
    db: &impl ConnectionTrait,
    filter: &DeviceFilter,
    visibility: &DeviceVisibility,
    now: DateTime<Utc>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<DeviceRow>, u64)> {
    let mut cond = Condition::all().add(visibility_condition(visibility));
    if let Some(t) = filter.town_id {
        cond = cond.add(device::Column::TownId.eq(t));
    }
    if let Some(k) = filter.kind {
        cond = cond.add(device::Column::Kind.eq(k.as_str()));
    }
    if let Some(s) = filter.status {
        cond = cond.add(status_condition(s, now));
    }
    if let Some(h) = filter.household_id {
        cond = cond.add(device::Column::HouseholdId.eq(h));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(device::Column::Code).like(like()))
                .add(Expr::col(device::Column::Name).like(like())),
        );
    }
    let query = device::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(device::Column::TownId)
        .order_by_asc(device::Column::Code)
        .order_by_asc(device::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Record an accepted message: `seq` becomes the device's last, `now` its last-seen time, and
/// the heartbeat's readings are kept. Conditional on `seq` being above the stored one, so two
/// racing copies of a message cannot both pass: `false` means the message is a replay after all.
pub async fn accept_event(
    tx: &Tx,
    d: &DeviceRow,
    seq: i64,
    heartbeat: Option<&Heartbeat>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let interval = u32::try_from(d.heartbeat_interval_secs).unwrap_or(60);
    let check = status_at(Some(now), interval, now);
    let mut m = device::ActiveModel {
        last_seq: Set(Some(seq)),
        last_seen_at: Set(Some(now)),
        status: Set(check.status.as_str().to_string()),
        next_check_at: Set(check.next_check_at),
        ..Default::default()
    };
    if let Some(h) = heartbeat {
        m.battery_pct = Set(h.battery_pct.map(i16::from));
        m.rssi_dbm = Set(h.rssi_dbm);
        if h.firmware.is_some() {
            m.firmware = Set(h.firmware.clone());
        }
    }
    let res = device::Entity::update_many()
        .set(m)
        .filter(device::Column::TownId.eq(d.town_id))
        .filter(device::Column::Id.eq(d.id))
        .filter(Condition::any().add(device::Column::LastSeq.is_null()).add(device::Column::LastSeq.lt(seq)))
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected == 1)
}

/// Record the last `seq` of a run of a device's events taken together (see `accept_event`):
/// accepted only if the device's `last_seq` is still `expected`, the value the run checked its
/// messages against (another server taking the same messages meanwhile makes it fail, and the
/// run is then taken again message by message).
pub async fn accept_run(tx: &Tx, d: &DeviceRow, expected: Option<i64>, seq: i64, now: DateTime<Utc>) -> Result<bool> {
    let interval = u32::try_from(d.heartbeat_interval_secs).unwrap_or(60);
    let check = status_at(Some(now), interval, now);
    let m = device::ActiveModel {
        last_seq: Set(Some(seq)),
        last_seen_at: Set(Some(now)),
        status: Set(check.status.as_str().to_string()),
        next_check_at: Set(check.next_check_at),
        ..Default::default()
    };
    let unchanged = match expected {
        Some(e) => device::Column::LastSeq.eq(e),
        None => device::Column::LastSeq.is_null(),
    };
    let res = device::Entity::update_many()
        .set(m)
        .filter(device::Column::TownId.eq(d.town_id))
        .filter(device::Column::Id.eq(d.id))
        .filter(unchanged)
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected == 1)
}

/// Flag offline the devices whose `next_check_at` has passed, at most `limit` of them; returns
/// how many. Reads only the devices that are due, through their index.
pub async fn sweep_offline(tx: &Tx, now: DateTime<Utc>, limit: u64) -> Result<Vec<DeviceRow>> {
    let due = device::Entity::find()
        .filter(device::Column::NextCheckAt.lte(now))
        .order_by_asc(device::Column::NextCheckAt)
        .limit(limit)
        .all(tx.db())
        .await?;
    let mut flipped = Vec::new();
    for d in due {
        let interval = u32::try_from(d.heartbeat_interval_secs).unwrap_or(60);
        let check = status_at(d.last_seen_at, interval, now);
        // Conditional on the row being as read: a message accepted meanwhile wins.
        let res = device::Entity::update_many()
            .col_expr(device::Column::Status, Expr::value(check.status.as_str()))
            .col_expr(device::Column::NextCheckAt, Expr::value(check.next_check_at))
            .filter(device::Column::TownId.eq(d.town_id))
            .filter(device::Column::Id.eq(d.id))
            .filter(device::Column::NextCheckAt.eq(d.next_check_at))
            .exec(tx.db())
            .await?;
        if res.rows_affected == 1 && check.status == DeviceStatus::Offline {
            flipped.push(d);
        }
    }
    Ok(flipped)
}

// ---- dead letters ----

/// Keep a dropped message, and drop the oldest of its town beyond [`DEAD_LETTERS_PER_TOWN`].
pub async fn insert_dead_letter(
    tx: &Tx,
    town_id: Option<Uuid>,
    device_code: Option<&str>,
    letter: &DeadLetter,
) -> Result<DeadLetterRow> {
    let row = device_dead_letter::ActiveModel {
        id: Set(Uuid::now_v7()),
        town_id: Set(town_id),
        received_at: Set(letter.received_at),
        topic: Set(letter.topic.chars().take(256).collect()),
        reason: Set(letter.reason.as_str().to_string()),
        device_code: Set(device_code.map(|c| c.chars().take(64).collect())),
        detail: Set(letter.detail.chars().take(512).collect()),
        payload_excerpt: Set(letter.payload_excerpt.clone()),
        payload_len_bytes: Set(i64::try_from(letter.payload_len_bytes).unwrap_or(i64::MAX)),
    }
    .insert(tx.db())
    .await?;
    let town_cond = match town_id {
        Some(t) => device_dead_letter::Column::TownId.eq(t),
        None => device_dead_letter::Column::TownId.is_null(),
    };
    // The newest N by id (UUID v7: time-ordered); anything older goes.
    let cutoff = device_dead_letter::Entity::find()
        .filter(town_cond.clone())
        .order_by_desc(device_dead_letter::Column::Id)
        .offset(DEAD_LETTERS_PER_TOWN)
        .limit(1)
        .one(tx.db())
        .await?;
    if let Some(c) = cutoff {
        device_dead_letter::Entity::delete_many()
            .filter(town_cond)
            .filter(device_dead_letter::Column::Id.lte(c.id))
            .exec(tx.db())
            .await?;
    }
    Ok(row)
}

/// Dead letters of `towns` (and, with `include_unattributed`, of no town), newest first.
pub async fn list_dead_letters(
    db: &impl ConnectionTrait,
    towns: &[Uuid],
    include_unattributed: bool,
    reason: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<DeadLetterRow>, u64)> {
    let mut which = Condition::any().add(never()).add(device_dead_letter::Column::TownId.is_in(towns.to_vec()));
    if include_unattributed {
        which = which.add(device_dead_letter::Column::TownId.is_null());
    }
    let mut cond = Condition::all().add(which);
    if let Some(r) = reason {
        cond = cond.add(device_dead_letter::Column::Reason.eq(r));
    }
    let query = device_dead_letter::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query.order_by_desc(device_dead_letter::Column::Id).offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

// ---- one-click calls ----

/// The latest one-click call of a household (or place), read inside the caller's transaction.
/// On PostgreSQL the row is locked, so presses of one origin are serialised (SQLite serialises
/// all writers already); a first call racing another fails on the primary key at insert.
pub async fn last_call(tx: &Tx, town_id: Uuid, origin_id: Uuid) -> Result<Option<OneClickCallRow>> {
    let mut q = one_click_call::Entity::find_by_id((town_id, origin_id));
    if tx.backend() == crate::Backend::Postgres {
        q = q.lock_exclusive();
    }
    Ok(q.one(tx.db()).await?)
}

/// Record a press: a new call on `case_id`, or one more press on the current one.
pub async fn record_press(
    tx: &Tx,
    previous: Option<&OneClickCallRow>,
    town_id: Uuid,
    origin_id: Uuid,
    case_id: Uuid,
    now: DateTime<Utc>,
) -> Result<OneClickCallRow> {
    match previous {
        None => Ok(one_click_call::ActiveModel {
            town_id: Set(town_id),
            origin_id: Set(origin_id),
            case_id: Set(case_id),
            last_press_at: Set(now),
            press_count: Set(1),
        }
        .insert(tx.db())
        .await?),
        Some(p) => {
            let folded = p.case_id == case_id;
            let mut m = p.clone().into_active_model();
            m.case_id = Set(case_id);
            m.last_press_at = Set(now);
            m.press_count = Set(if folded { p.press_count.saturating_add(1) } else { 1 });
            Ok(m.update(tx.db()).await?)
        }
    }
}

/// The latest one-click call of a household (or place), outside any transaction (for reading).
pub async fn call_of(db: &impl ConnectionTrait, town_id: Uuid, origin_id: Uuid) -> Result<Option<OneClickCallRow>> {
    Ok(one_click_call::Entity::find_by_id((town_id, origin_id)).one(db).await?)
}

//! Cameras (雪亮工程 and 高空瞭望) and their alarms: the register, per-town alarm settings,
//! recording an alarm with its disposition (a new case, a fold into the burst's case, or the
//! review queue), verdicts with the camera's running counts, and the review queue.
//!
//! A camera's secret is kept as it is (64 hex characters): the server checks webhook signatures
//! with it. After a rotation the previous secret is kept for [`PREVIOUS_SECRET_HOURS`].

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entity::{alarm, alarm_burst, alarm_settings, camera};
use crate::regions::escape_like;
use crate::{Actor, AuditDraft, Conn, Result, StoreError, Tx, micros};

pub use crate::entity::alarm::Model as AlarmRow;
pub use crate::entity::alarm_burst::Model as BurstRow;
pub use crate::entity::alarm_settings::Model as AlarmSettingsRow;
pub use crate::entity::camera::Model as CameraRow;

pub const PREVIOUS_SECRET_HOURS: i64 = 24;

impl CameraRow {
    fn audit_view(&self) -> Value {
        json!({
            "code": self.code, "name": self.name, "kind": self.kind, "lat": self.lat, "lon": self.lon,
            "bearing_deg": self.bearing_deg, "field_of_view_deg": self.field_of_view_deg, "range_m": self.range_m,
            "vendor": self.vendor, "live_view_url": self.live_view_url, "status": self.status, "version": self.version,
        })
    }

    /// The tags the camera's location carries (from protected land layers).
    pub fn tag_list(&self) -> Vec<String> {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }
}

impl AlarmRow {
    pub fn tag_list(&self) -> Vec<String> {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }
}

/// Where a camera is in the region tree (from its location).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CameraPlace {
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
}

/// The fields an administrator sets.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraFields {
    pub name: String,
    pub kind: String,
    pub lat: f64,
    pub lon: f64,
    pub bearing_deg: f64,
    pub field_of_view_deg: f64,
    pub range_m: f64,
    pub vendor: Option<String>,
    pub live_view_url: Option<String>,
    pub status: String,
    pub place: CameraPlace,
    pub tags: Vec<String>,
}

pub fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn apply(m: &mut camera::ActiveModel, f: CameraFields) {
    m.name = Set(f.name);
    m.kind = Set(f.kind);
    m.lat = Set(f.lat);
    m.lon = Set(f.lon);
    m.bearing_deg = Set(f.bearing_deg);
    m.field_of_view_deg = Set(f.field_of_view_deg);
    m.range_m = Set(f.range_m);
    m.vendor = Set(f.vendor);
    m.live_view_url = Set(f.live_view_url);
    m.status = Set(f.status);
    m.area_id = Set(f.place.area_id);
    m.admin_village_id = Set(f.place.admin_village_id);
    m.natural_village_id = Set(f.place.natural_village_id);
    m.grid_id = Set(f.place.grid_id);
    m.tags = Set(tags_json(&f.tags));
}

pub async fn insert_camera(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    town_id: Uuid,
    code: String,
    secret_hex: String,
    fields: CameraFields,
) -> Result<CameraRow> {
    if camera_by_code(tx.db(), &code).await?.is_some() {
        return Err(StoreError::Duplicate("code".into()));
    }
    let mut m = camera::ActiveModel {
        town_id: Set(town_id),
        id: Set(Uuid::now_v7()),
        code: Set(code),
        secret: Set(secret_hex),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        alarm_count: Set(0),
        judged_count: Set(0),
        false_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    };
    apply(&mut m, fields);
    let row = m.insert(tx.db()).await.map_err(|e| match StoreError::from(e) {
        StoreError::Duplicate(_) => StoreError::Duplicate("code".into()),
        other => other,
    })?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "camera.create".into(),
        entity_type: "camera".into(),
        entity_id: row.id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(row.audit_view()),
    });
    Ok(row)
}

/// Change a camera if its version is still `expected_version`; `fields` replaces what it holds,
/// `secret_hex` rotates the secret (the old one kept for a day).
pub async fn update_camera(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: &CameraRow,
    expected_version: i32,
    fields: Option<CameraFields>,
    secret_hex: Option<String>,
) -> Result<CameraRow> {
    if current.version != expected_version {
        return Err(StoreError::VersionConflict { current: current.version });
    }
    let rotated = secret_hex.is_some();
    let mut m = camera::ActiveModel { town_id: Set(current.town_id), id: Set(current.id), ..Default::default() };
    if let Some(f) = fields {
        apply(&mut m, f);
    }
    if let Some(s) = secret_hex {
        m.previous_secret = Set(Some(current.secret.clone()));
        m.previous_secret_until = Set(Some(now + Duration::hours(PREVIOUS_SECRET_HOURS)));
        m.secret = Set(s);
    }
    m.updated_at = Set(now);
    m.version = Set(current.version + 1);
    let res = camera::Entity::update_many()
        .set(m)
        .filter(camera::Column::TownId.eq(current.town_id))
        .filter(camera::Column::Id.eq(current.id))
        .filter(camera::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    let row = camera_in_town(tx.db(), current.town_id, current.id).await?.ok_or(StoreError::NotFound)?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: row.version });
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: if rotated { "camera.rotate_secret".into() } else { "camera.update".into() },
        entity_type: "camera".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(current.audit_view()),
        after: Some(row.audit_view()),
    });
    Ok(row)
}

/// Recompute the tags of every camera of a town (after its land layers changed).
pub async fn set_camera_tags(tx: &Tx, c: &CameraRow, tags: &[String]) -> Result<()> {
    camera::Entity::update_many()
        .col_expr(camera::Column::Tags, Expr::value(tags_json(tags)))
        .filter(camera::Column::TownId.eq(c.town_id))
        .filter(camera::Column::Id.eq(c.id))
        .exec(tx.db())
        .await?;
    Ok(())
}

pub async fn camera(db: &impl Conn, id: Uuid) -> Result<Option<CameraRow>> {
    Ok(camera::Entity::find().filter(camera::Column::Id.eq(id)).one(db).await?)
}

pub async fn camera_in_town(db: &impl Conn, town_id: Uuid, id: Uuid) -> Result<Option<CameraRow>> {
    Ok(camera::Entity::find_by_id((town_id, id)).one(db).await?)
}

/// Codes are unique across towns.
pub async fn camera_by_code(db: &impl Conn, code: &str) -> Result<Option<CameraRow>> {
    Ok(camera::Entity::find().filter(camera::Column::Code.eq(code)).one(db).await?)
}

pub async fn town_cameras(db: &impl Conn, town_id: Uuid, limit: u64) -> Result<Vec<CameraRow>> {
    Ok(camera::Entity::find()
        .filter(camera::Column::TownId.eq(town_id))
        .order_by_asc(camera::Column::Code)
        .limit(limit)
        .all(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct CameraFilter {
    pub town_ids: Vec<Uuid>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub q: Option<String>,
}

/// Ordered by town and code.
pub async fn list_cameras(db: &impl Conn, f: &CameraFilter, offset: u64, limit: u64) -> Result<(Vec<CameraRow>, u64)> {
    let mut cond = Condition::all().add(camera::Column::TownId.is_in(f.town_ids.clone()));
    if let Some(k) = &f.kind {
        cond = cond.add(camera::Column::Kind.eq(k.as_str()));
    }
    if let Some(s) = &f.status {
        cond = cond.add(camera::Column::Status.eq(s.as_str()));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(camera::Column::Code).like(like()))
                .add(Expr::col(camera::Column::Name).like(like())),
        );
    }
    let query = camera::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(camera::Column::TownId)
        .order_by_asc(camera::Column::Code)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

// ---- settings ----

pub async fn alarm_settings(db: &impl Conn, town_id: Uuid) -> Result<Option<AlarmSettingsRow>> {
    Ok(alarm_settings::Entity::find_by_id(town_id).one(db).await?)
}

pub async fn put_alarm_settings(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    town_id: Uuid,
    expected_version: i32,
    burst_window_secs: i32,
    false_alarm_threshold: Option<f64>,
) -> Result<AlarmSettingsRow> {
    let current = alarm_settings(tx.db(), town_id).await?;
    let version = current.as_ref().map_or(0, |c| c.version);
    if version != expected_version {
        return Err(StoreError::VersionConflict { current: version });
    }
    let row = match &current {
        None => alarm_settings::ActiveModel {
            town_id: Set(town_id),
            burst_window_secs: Set(burst_window_secs),
            false_alarm_threshold: Set(false_alarm_threshold),
            updated_at: Set(now),
            version: Set(1),
        }
        .insert(tx.db())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Duplicate(_) => StoreError::VersionConflict { current: 1 },
            other => other,
        })?,
        Some(c) => {
            let res = alarm_settings::Entity::update_many()
                .col_expr(alarm_settings::Column::BurstWindowSecs, Expr::value(burst_window_secs))
                .col_expr(alarm_settings::Column::FalseAlarmThreshold, Expr::value(false_alarm_threshold))
                .col_expr(alarm_settings::Column::UpdatedAt, Expr::value(now))
                .col_expr(alarm_settings::Column::Version, Expr::value(c.version + 1))
                .filter(alarm_settings::Column::TownId.eq(town_id))
                .filter(alarm_settings::Column::Version.eq(c.version))
                .exec(tx.db())
                .await?;
            let row = alarm_settings(tx.db(), town_id).await?.ok_or(StoreError::NotFound)?;
            if res.rows_affected != 1 {
                return Err(StoreError::VersionConflict { current: row.version });
            }
            row
        }
    };
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "alarm_settings.update".into(),
        entity_type: "town".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: current.map(
            |c| json!({"burst_window_secs": c.burst_window_secs, "false_alarm_threshold": c.false_alarm_threshold}),
        ),
        after: Some(json!({"burst_window_secs": burst_window_secs, "false_alarm_threshold": false_alarm_threshold})),
    });
    Ok(row)
}

// ---- alarms ----

/// The burst of a camera and type, read inside the caller's transaction (locked on
/// PostgreSQL, so alarms of one burst are serialised; SQLite serialises all writers).
pub async fn burst(tx: &Tx, town_id: Uuid, camera_id: Uuid, alarm_type: &str) -> Result<Option<BurstRow>> {
    let mut q = alarm_burst::Entity::find_by_id((town_id, camera_id, alarm_type.to_string()));
    if tx.backend() == crate::Backend::Postgres {
        q = q.lock_exclusive();
    }
    Ok(q.one(tx.db()).await?)
}

/// Record one more alarm on a burst: a new burst on `case_id` (count 1), or one more on it.
pub async fn record_burst(
    tx: &Tx,
    previous: Option<&BurstRow>,
    town_id: Uuid,
    camera_id: Uuid,
    alarm_type: &str,
    case_id: Uuid,
    at: DateTime<Utc>,
) -> Result<BurstRow> {
    let next = next_burst(previous, town_id, camera_id, alarm_type, case_id, at);
    save_burst(tx, &next, previous.is_some()).await?;
    Ok(next)
}

/// A burst as it is after one more alarm (what [`record_burst`] writes): a new burst on
/// `case_id` (count 1), or one more on the previous one.
pub fn next_burst(
    previous: Option<&BurstRow>,
    town_id: Uuid,
    camera_id: Uuid,
    alarm_type: &str,
    case_id: Uuid,
    at: DateTime<Utc>,
) -> BurstRow {
    let at = micros(at);
    match previous {
        None => BurstRow {
            town_id,
            camera_id,
            alarm_type: alarm_type.to_string(),
            case_id,
            last_alarm_at: at,
            alarm_count: 1,
        },
        Some(p) => {
            let same = p.case_id == case_id;
            BurstRow {
                case_id,
                last_alarm_at: if same { std::cmp::max(at, p.last_alarm_at) } else { at },
                alarm_count: if same { p.alarm_count.saturating_add(1) } else { 1 },
                ..p.clone()
            }
        }
    }
}

/// Write a burst: an insert when its row does not exist yet (`existed` false), else an update
/// of its row. A run of alarms writes each of its bursts once, as the run leaves it.
pub async fn save_burst(tx: &Tx, row: &BurstRow, existed: bool) -> Result<()> {
    let m = alarm_burst::ActiveModel {
        town_id: Set(row.town_id),
        camera_id: Set(row.camera_id),
        alarm_type: Set(row.alarm_type.clone()),
        case_id: Set(row.case_id),
        last_alarm_at: Set(row.last_alarm_at),
        alarm_count: Set(row.alarm_count),
    };
    if existed {
        let res = alarm_burst::Entity::update_many()
            .set(m)
            .filter(alarm_burst::Column::TownId.eq(row.town_id))
            .filter(alarm_burst::Column::CameraId.eq(row.camera_id))
            .filter(alarm_burst::Column::AlarmType.eq(row.alarm_type.as_str()))
            .exec(tx.db())
            .await?;
        if res.rows_affected != 1 {
            return Err(StoreError::Invariant(format!("alarm burst {}/{} vanished", row.camera_id, row.alarm_type)));
        }
    } else {
        alarm_burst::Entity::insert(m).exec_without_returning(tx.db()).await?;
    }
    Ok(())
}

pub async fn burst_of_case(db: &impl Conn, town_id: Uuid, case_id: Uuid) -> Result<Option<BurstRow>> {
    Ok(alarm_burst::Entity::find()
        .filter(alarm_burst::Column::TownId.eq(town_id))
        .filter(alarm_burst::Column::CaseId.eq(case_id))
        .one(db)
        .await?)
}

pub async fn alarm_by_event(
    db: &impl Conn,
    town_id: Uuid,
    camera_id: Uuid,
    event_id: &str,
) -> Result<Option<AlarmRow>> {
    Ok(alarm::Entity::find()
        .filter(alarm::Column::TownId.eq(town_id))
        .filter(alarm::Column::CameraId.eq(camera_id))
        .filter(alarm::Column::EventId.eq(event_id))
        .one(db)
        .await?)
}

#[derive(Debug, Clone)]
pub struct NewAlarm {
    pub id: Uuid,
    pub alarm_type: String,
    pub confidence: f64,
    pub occurred_at: DateTime<Utc>,
    pub via: &'static str,
    pub event_id: Option<String>,
    pub disposition: &'static str,
    pub case_id: Option<Uuid>,
    pub snapshot: Option<(String, String)>,
    pub tags: Vec<String>,
}

/// Insert an alarm and count it on its camera. Bookkeeping of a machine's report: the case it
/// opens is audited by the case's own entry; alarms themselves are not audited one by one.
pub async fn insert_alarm(tx: &Tx, now: DateTime<Utc>, cam: &CameraRow, new: NewAlarm) -> Result<AlarmRow> {
    let row = insert_alarm_uncounted(tx, now, cam, new).await?;
    count_alarms(tx, cam.town_id, cam.id, 1).await?;
    Ok(row)
}

/// Insert an alarm without counting it on its camera: the caller adds its alarms with
/// [`count_alarms`] in the same transaction (a batch counts each camera once).
pub async fn insert_alarm_uncounted(tx: &Tx, now: DateTime<Utc>, cam: &CameraRow, new: NewAlarm) -> Result<AlarmRow> {
    let row = alarm_row(now, cam, new);
    insert_alarms(tx, std::slice::from_ref(&row)).await?;
    Ok(row)
}

/// The row an alarm is stored as (times at the database's microseconds).
pub fn alarm_row(now: DateTime<Utc>, cam: &CameraRow, new: NewAlarm) -> AlarmRow {
    let (sha, mime) = new.snapshot.map_or((None, None), |(s, m)| (Some(s), Some(m)));
    AlarmRow {
        town_id: cam.town_id,
        id: new.id,
        camera_id: cam.id,
        alarm_type: new.alarm_type,
        confidence: new.confidence,
        occurred_at: micros(new.occurred_at),
        received_at: micros(now),
        via: new.via.to_string(),
        event_id: new.event_id,
        disposition: new.disposition.to_string(),
        case_id: new.case_id,
        verdict: None,
        judged_by: None,
        judged_at: None,
        note: None,
        snapshot_sha256: sha,
        snapshot_mime: mime,
        tags: tags_json(&new.tags),
    }
}

/// Alarm rows inserted per statement at most (18 columns each: far below SQLite's limit of
/// bound values).
const ALARM_INSERT_ROWS: usize = 200;

/// Insert alarm rows made by [`alarm_row`], several per statement (uncounted, as
/// [`insert_alarm_uncounted`]).
pub async fn insert_alarms(tx: &Tx, rows: &[AlarmRow]) -> Result<()> {
    for chunk in rows.chunks(ALARM_INSERT_ROWS) {
        let models = chunk.iter().map(|r| r.clone().into_active_model());
        alarm::Entity::insert_many(models).exec_without_returning(tx.db()).await?;
    }
    Ok(())
}

/// Add `n` alarms to a camera's count.
pub async fn count_alarms(tx: &Tx, town_id: Uuid, camera_id: Uuid, n: i64) -> Result<()> {
    camera::Entity::update_many()
        .col_expr(camera::Column::AlarmCount, Expr::col(camera::Column::AlarmCount).add(n))
        .filter(camera::Column::TownId.eq(town_id))
        .filter(camera::Column::Id.eq(camera_id))
        .exec(tx.db())
        .await?;
    Ok(())
}

pub async fn alarm(db: &impl Conn, id: Uuid) -> Result<Option<AlarmRow>> {
    Ok(alarm::Entity::find().filter(alarm::Column::Id.eq(id)).one(db).await?)
}

/// Judge an alarm true or false; the camera's counts follow (each alarm counted once).
pub async fn judge_alarm(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    a: &AlarmRow,
    verdict: &str,
    note: Option<String>,
) -> Result<AlarmRow> {
    let was_judged = a.verdict.is_some();
    let was_false = a.verdict.as_deref() == Some("false");
    let is_false = verdict == "false";
    let res = alarm::Entity::update_many()
        .col_expr(alarm::Column::Verdict, Expr::value(verdict))
        .col_expr(alarm::Column::JudgedBy, Expr::value(actor.name.chars().take(100).collect::<String>()))
        .col_expr(alarm::Column::JudgedAt, Expr::value(now))
        .col_expr(alarm::Column::Note, Expr::value(note))
        .filter(alarm::Column::TownId.eq(a.town_id))
        .filter(alarm::Column::Id.eq(a.id))
        .filter(match &a.verdict {
            Some(v) => alarm::Column::Verdict.eq(v.as_str()),
            None => alarm::Column::Verdict.is_null(),
        })
        .exec(tx.db())
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: 0 });
    }
    let judged_delta = i32::from(!was_judged);
    let false_delta = i32::from(is_false) - i32::from(was_false);
    camera::Entity::update_many()
        .col_expr(camera::Column::JudgedCount, Expr::col(camera::Column::JudgedCount).add(judged_delta))
        .col_expr(camera::Column::FalseCount, Expr::col(camera::Column::FalseCount).add(false_delta))
        .filter(camera::Column::TownId.eq(a.town_id))
        .filter(camera::Column::Id.eq(a.camera_id))
        .exec(tx.db())
        .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "alarm.judge".into(),
        entity_type: "alarm".into(),
        entity_id: a.id.to_string(),
        town_id: Some(a.town_id),
        before: Some(json!({"verdict": a.verdict})),
        after: Some(json!({"verdict": verdict})),
    });
    alarm::Entity::find_by_id((a.town_id, a.id)).one(tx.db()).await?.ok_or(StoreError::NotFound)
}

/// A queued alarm now has a case (opened from the review queue).
pub async fn set_alarm_case(tx: &Tx, a: &AlarmRow, case_id: Uuid) -> Result<bool> {
    let res = alarm::Entity::update_many()
        .col_expr(alarm::Column::CaseId, Expr::value(case_id))
        .col_expr(alarm::Column::Disposition, Expr::value("case_created"))
        .filter(alarm::Column::TownId.eq(a.town_id))
        .filter(alarm::Column::Id.eq(a.id))
        .filter(alarm::Column::CaseId.is_null())
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected == 1)
}

#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    pub town_ids: Vec<Uuid>,
    pub camera_id: Option<Uuid>,
    pub alarm_type: Option<String>,
    pub disposition: Option<String>,
    /// `Some(None)`: not judged yet.
    pub verdict: Option<Option<String>>,
    pub case_id: Option<Uuid>,
}

/// Newest first.
pub async fn list_alarms(db: &impl Conn, f: &AlarmFilter, offset: u64, limit: u64) -> Result<(Vec<AlarmRow>, u64)> {
    let mut cond = Condition::all().add(alarm::Column::TownId.is_in(f.town_ids.clone()));
    if let Some(c) = f.camera_id {
        cond = cond.add(alarm::Column::CameraId.eq(c));
    }
    if let Some(t) = &f.alarm_type {
        cond = cond.add(alarm::Column::AlarmType.eq(t.as_str()));
    }
    if let Some(d) = &f.disposition {
        cond = cond.add(alarm::Column::Disposition.eq(d.as_str()));
    }
    match &f.verdict {
        Some(Some(v)) => cond = cond.add(alarm::Column::Verdict.eq(v.as_str())),
        Some(None) => cond = cond.add(alarm::Column::Verdict.is_null()),
        None => {}
    }
    if let Some(c) = f.case_id {
        cond = cond.add(alarm::Column::CaseId.eq(c));
    }
    let query = alarm::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query.order_by_desc(alarm::Column::Id).offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

pub async fn cameras_by_ids(db: &impl Conn, ids: &[Uuid]) -> Result<Vec<CameraRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(camera::Entity::find().filter(camera::Column::Id.is_in(ids.iter().copied())).all(db).await?)
}

/// Alarms counted on a case (`None` when none).
pub async fn alarm_count_of_case(db: &impl Conn, town_id: Uuid, case_id: Uuid) -> Result<Option<i32>> {
    let n = alarm::Entity::find()
        .filter(alarm::Column::TownId.eq(town_id))
        .filter(alarm::Column::CaseId.eq(case_id))
        .count(db)
        .await?;
    Ok((n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX)))
}

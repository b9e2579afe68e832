//! Peacemaker stations and disputes: the rows behind `wuwei_domain::mediation`.
//!
//! The rules are the domain's: [`register`] asks `workflow::register`, [`act`] asks
//! `workflow::decide` with the facts it loads under a lock, then writes what was decided — the
//! dispute row, one timeline entry (`dispute_event`, append-only in the database), the session
//! or follow-up record and an audit entry — in the caller's transaction. The sweeper's step is
//! [`sweep_one`], which asks `deadline::sweep`.
//!
//! Parties' ID and phone numbers arrive here already encrypted by the server; the store keeps
//! them and their masked forms and never sees the clear values.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::access::{Level, Scope};
use wuwei_domain::case::Card;
use wuwei_domain::mediation::deadline::{self, SweepAction};
use wuwei_domain::mediation::six_in_one::{
    self, DEFAULT_FALLBACK, DEFAULT_ROUTING_RULES, JointTask, Office, RoutingFlag, RoutingRule, TaskProblem, TaskRole,
};
use wuwei_domain::mediation::workflow::{
    self, Decision, DisputeAction, DisputeCapacity, DisputeFacts, DisputeInput, DisputeState, HistoryEntry, Refusal,
    Registration,
};
use wuwei_domain::mediation::{DeadlinePolicy, DisputeType, MediationLevel, RiskLevel};

use crate::entity::{
    dispute, dispute_event, dispute_follow_up, dispute_session, dispute_task, mediation_photo, mediation_settings,
    peacemaker_member, peacemaker_station, station_activity,
};
use crate::regions::{escape_like, never};
use crate::{Actor, AuditDraft, Result, StoreError, Tx, micros};

pub use crate::entity::dispute::Model as DisputeRow;
pub use crate::entity::dispute_event::Model as DisputeEventRow;
pub use crate::entity::dispute_follow_up::Model as FollowUpRow;
pub use crate::entity::dispute_session::Model as SessionRow;
pub use crate::entity::dispute_task::Model as TaskRow;
pub use crate::entity::mediation_photo::Model as PhotoRow;
pub use crate::entity::peacemaker_member::Model as MemberRow;
pub use crate::entity::peacemaker_station::Model as StationRow;
pub use crate::entity::station_activity::Model as ActivityRow;

/// Why a mediation write was refused.
#[derive(Debug, thiserror::Error)]
pub enum MediationError {
    #[error(transparent)]
    Refusal(#[from] Refusal),
    /// A joint-handling task is wrong (422 on `tasks[index]`).
    #[error(transparent)]
    Tasks(#[from] TaskProblem),
    /// A party id named by an agreement is not a party of the dispute (422 on the field).
    #[error("{field}: not a party of this dispute")]
    UnknownParty { field: String },
    /// A task id that is not a current task of the dispute (422 `task_id`).
    #[error("unknown task")]
    UnknownTask,
    /// The caller's office does not hold that task (403).
    #[error("not your office's task")]
    NotYourTask,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for MediationError {
    fn from(e: sea_orm::DbErr) -> MediationError {
        MediationError::Store(e.into())
    }
}

fn invariant(what: String) -> StoreError {
    StoreError::Invariant(what)
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Uuid lists are stored as JSON arrays of strings.
pub fn uuid_list(raw: &str) -> Vec<Uuid> {
    serde_json::from_str(raw).unwrap_or_default()
}

pub fn string_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

// ---- settings ----

/// A town's deadlines and routing rules; the domain's defaults until the town changes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub policy: DeadlinePolicy,
    pub rules: Vec<RoutingRule>,
    pub fallback: Office,
    /// 0 while the defaults apply.
    pub version: i32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            policy: DeadlinePolicy::DEFAULT,
            rules: DEFAULT_ROUTING_RULES.to_vec(),
            fallback: DEFAULT_FALLBACK,
            version: 0,
        }
    }
}

pub async fn settings(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Settings> {
    let Some(row) = mediation_settings::Entity::find_by_id(town_id).one(db).await? else {
        return Ok(Settings::default());
    };
    let policy =
        serde_json::from_str(&row.policy).map_err(|e| invariant(format!("mediation policy of town {town_id}: {e}")))?;
    let rules = serde_json::from_str(&row.routing_rules)
        .map_err(|e| invariant(format!("mediation routing rules of town {town_id}: {e}")))?;
    let fallback =
        Office::parse(&row.fallback).ok_or_else(|| invariant(format!("mediation fallback of town {town_id}")))?;
    Ok(Settings { policy, rules, fallback, version: row.version })
}

/// Replace a town's settings (checked by the caller against the domain's bounds) if `version`
/// is still the stored one.
pub async fn put_settings(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    new: &Settings,
    version: i32,
    now: DateTime<Utc>,
) -> Result<Settings> {
    let before = settings(tx.db(), town_id).await?;
    if before.version != version {
        return Err(StoreError::VersionConflict { current: before.version });
    }
    let now = micros(now);
    let model = mediation_settings::ActiveModel {
        town_id: Set(town_id),
        policy: Set(to_json(&new.policy)),
        routing_rules: Set(to_json(&new.rules)),
        fallback: Set(new.fallback.as_str().to_string()),
        updated_at: Set(now),
        version: Set(version + 1),
    };
    if before.version == 0 {
        mediation_settings::Entity::insert(model).exec(tx.db()).await?;
    } else {
        let res = mediation_settings::Entity::update_many()
            .set(model)
            .filter(mediation_settings::Column::TownId.eq(town_id))
            .filter(mediation_settings::Column::Version.eq(version))
            .exec(tx.db())
            .await?;
        if res.rows_affected != 1 {
            return Err(StoreError::VersionConflict { current: before.version });
        }
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.settings.update".into(),
        entity_type: "mediation_settings".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"policy": before.policy, "routing_rules": before.rules, "fallback": before.fallback})),
        after: Some(json!({"policy": new.policy, "routing_rules": new.rules, "fallback": new.fallback})),
    });
    Ok(Settings { version: version + 1, ..new.clone() })
}

// ---- stations ----

/// A natural village that needs a station: its ids and the station's name.
#[derive(Debug, Clone)]
pub struct StationSeed {
    pub admin_village_id: Uuid,
    pub natural_village_id: Uuid,
    pub name: String,
}

/// Make the stations of these natural villages that do not have one yet; returns how many were
/// made. One station per natural village (a unique index), so running it twice makes none.
pub async fn ensure_stations(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    seeds: &[StationSeed],
    now: DateTime<Utc>,
) -> Result<u64> {
    let now = micros(now);
    let existing: Vec<Uuid> = peacemaker_station::Entity::find()
        .filter(peacemaker_station::Column::TownId.eq(town_id))
        .select_only()
        .column(peacemaker_station::Column::NaturalVillageId)
        .into_tuple()
        .all(tx.db())
        .await?;
    let mut made = 0;
    for s in seeds.iter().filter(|s| !existing.contains(&s.natural_village_id)) {
        let id = Uuid::now_v7();
        peacemaker_station::Entity::insert(peacemaker_station::ActiveModel {
            town_id: Set(town_id),
            id: Set(id),
            admin_village_id: Set(s.admin_village_id),
            natural_village_id: Set(s.natural_village_id),
            name: Set(s.name.chars().take(100).collect()),
            phone: Set(None),
            address: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
        })
        .exec(tx.db())
        .await?;
        made += 1;
    }
    if made > 0 {
        tx.audit(AuditDraft {
            actor: actor.clone(),
            action: "mediation.stations.create".into(),
            entity_type: "peacemaker_station".into(),
            entity_id: town_id.to_string(),
            town_id: Some(town_id),
            before: None,
            after: Some(json!({"created": made})),
        });
    }
    Ok(made)
}

/// Which stations a list shows.
#[derive(Debug, Clone, Default)]
pub struct StationFilter {
    pub town_id: Uuid,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_ids: Option<Vec<Uuid>>,
    pub q: Option<String>,
}

/// Ordered by the natural village's id (UUID v7: the order the villages were made in).
pub async fn stations(
    db: &impl ConnectionTrait,
    f: &StationFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<StationRow>, u64)> {
    let mut cond = Condition::all().add(peacemaker_station::Column::TownId.eq(f.town_id));
    if let Some(av) = f.admin_village_id {
        cond = cond.add(peacemaker_station::Column::AdminVillageId.eq(av));
    }
    if let Some(nvs) = &f.natural_village_ids {
        cond = cond.add(if nvs.is_empty() {
            Condition::all().add(never())
        } else {
            Condition::all().add(peacemaker_station::Column::NaturalVillageId.is_in(nvs.clone()))
        });
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        cond = cond.add(Expr::col(peacemaker_station::Column::Name).like(LikeExpr::new(&pattern).escape('\\')));
    }
    let q = peacemaker_station::Entity::find().filter(cond);
    let total = q.clone().count(db).await?;
    let rows = q.order_by_asc(peacemaker_station::Column::NaturalVillageId).offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

pub async fn station(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<StationRow>> {
    Ok(peacemaker_station::Entity::find().filter(peacemaker_station::Column::Id.eq(id)).one(db).await?)
}

pub async fn station_of_village(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    natural_village_id: Uuid,
) -> Result<Option<StationRow>> {
    Ok(peacemaker_station::Entity::find()
        .filter(peacemaker_station::Column::TownId.eq(town_id))
        .filter(peacemaker_station::Column::NaturalVillageId.eq(natural_village_id))
        .one(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct StationChanges {
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<String>>,
}

pub async fn update_station(
    tx: &mut Tx,
    actor: &Actor,
    row: &StationRow,
    changes: StationChanges,
    version: i32,
    now: DateTime<Utc>,
) -> Result<StationRow> {
    if row.version != version {
        return Err(StoreError::VersionConflict { current: row.version });
    }
    let before = json!({"name": row.name, "phone": row.phone, "address": row.address});
    let mut am = row.clone().into_active_model();
    if let Some(n) = changes.name {
        am.name = Set(n);
    }
    if let Some(p) = changes.phone {
        am.phone = Set(p);
    }
    if let Some(a) = changes.address {
        am.address = Set(a);
    }
    am.version = Set(row.version + 1);
    am.updated_at = Set(micros(now));
    let res = peacemaker_station::Entity::update_many()
        .set(am)
        .filter(peacemaker_station::Column::TownId.eq(row.town_id))
        .filter(peacemaker_station::Column::Id.eq(row.id))
        .filter(peacemaker_station::Column::Version.eq(version))
        .exec(tx.db())
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: row.version });
    }
    let after = station(tx.db(), row.id).await?.ok_or(StoreError::NotFound)?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.station.update".into(),
        entity_type: "peacemaker_station".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(before),
        after: Some(json!({"name": after.name, "phone": after.phone, "address": after.address})),
    });
    Ok(after)
}

pub async fn members(db: &impl ConnectionTrait, town_id: Uuid, station_ids: &[Uuid]) -> Result<Vec<MemberRow>> {
    if station_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(peacemaker_member::Entity::find()
        .filter(peacemaker_member::Column::TownId.eq(town_id))
        .filter(peacemaker_member::Column::StationId.is_in(station_ids.to_vec()))
        .order_by_desc(peacemaker_member::Column::IsLeader)
        .order_by_asc(peacemaker_member::Column::Id)
        .all(db)
        .await?)
}

/// A station has at most this many members (a village's cadres, workers and volunteers).
pub const MAX_MEMBERS: u64 = 60;

#[derive(Debug, Clone)]
pub struct NewMember {
    pub name: String,
    pub kind: String,
    pub phone: Option<String>,
    pub user_id: Option<Uuid>,
    pub is_leader: bool,
}

/// Add a member; a new leader takes over from the old one (a station has one leader).
pub async fn insert_member(
    tx: &mut Tx,
    actor: &Actor,
    station: &StationRow,
    new: NewMember,
    now: DateTime<Utc>,
) -> Result<MemberRow> {
    let now = micros(now);
    let count = peacemaker_member::Entity::find()
        .filter(peacemaker_member::Column::TownId.eq(station.town_id))
        .filter(peacemaker_member::Column::StationId.eq(station.id))
        .count(tx.db())
        .await?;
    if count >= MAX_MEMBERS {
        return Err(StoreError::Duplicate("members: too many".into()));
    }
    if new.is_leader {
        clear_leader(tx, station).await?;
    }
    let row = peacemaker_member::Entity::insert(peacemaker_member::ActiveModel {
        town_id: Set(station.town_id),
        id: Set(Uuid::now_v7()),
        station_id: Set(station.id),
        name: Set(new.name),
        kind: Set(new.kind),
        phone: Set(new.phone),
        user_id: Set(new.user_id),
        is_leader: Set(new.is_leader),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.member.create".into(),
        entity_type: "peacemaker_member".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        after: Some(
            json!({"station_id": row.station_id, "name": row.name, "kind": row.kind, "is_leader": row.is_leader}),
        ),
    });
    Ok(row)
}

async fn clear_leader(tx: &Tx, station: &StationRow) -> Result<()> {
    peacemaker_member::Entity::update_many()
        .col_expr(peacemaker_member::Column::IsLeader, Expr::value(false))
        .filter(peacemaker_member::Column::TownId.eq(station.town_id))
        .filter(peacemaker_member::Column::StationId.eq(station.id))
        .exec(tx.db())
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct MemberChanges {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub phone: Option<Option<String>>,
    pub is_leader: Option<bool>,
    pub active: Option<bool>,
}

pub async fn update_member(
    tx: &mut Tx,
    actor: &Actor,
    station: &StationRow,
    member_id: Uuid,
    changes: MemberChanges,
    now: DateTime<Utc>,
) -> Result<MemberRow> {
    let row = peacemaker_member::Entity::find()
        .filter(peacemaker_member::Column::TownId.eq(station.town_id))
        .filter(peacemaker_member::Column::StationId.eq(station.id))
        .filter(peacemaker_member::Column::Id.eq(member_id))
        .one(tx.db())
        .await?
        .ok_or(StoreError::NotFound)?;
    let before = json!({"name": row.name, "kind": row.kind, "is_leader": row.is_leader, "active": row.active});
    if changes.is_leader == Some(true) {
        clear_leader(tx, station).await?;
    }
    let mut am = row.clone().into_active_model();
    if let Some(v) = changes.name {
        am.name = Set(v);
    }
    if let Some(v) = changes.kind {
        am.kind = Set(v);
    }
    if let Some(v) = changes.phone {
        am.phone = Set(v);
    }
    if let Some(v) = changes.is_leader {
        am.is_leader = Set(v);
    }
    if let Some(v) = changes.active {
        am.active = Set(v);
    }
    am.updated_at = Set(micros(now));
    let after = am.update(tx.db()).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.member.update".into(),
        entity_type: "peacemaker_member".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(before),
        after: Some(
            json!({"name": after.name, "kind": after.kind, "is_leader": after.is_leader, "active": after.active}),
        ),
    });
    Ok(after)
}

/// The stations (town, station) in which `user_id` is an active member.
pub async fn stations_of_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(peacemaker_member::Entity::find()
        .filter(peacemaker_member::Column::UserId.eq(user_id))
        .filter(peacemaker_member::Column::Active.eq(true))
        .select_only()
        .column(peacemaker_member::Column::TownId)
        .column(peacemaker_member::Column::StationId)
        .into_tuple()
        .all(db)
        .await?)
}

// ---- activities ----

#[derive(Debug, Clone)]
pub struct NewActivity {
    pub on_date: NaiveDate,
    pub duty: String,
    pub summary: String,
    pub people_reached: i32,
    pub photo_ids: Vec<Uuid>,
}

pub async fn insert_activity(
    tx: &mut Tx,
    actor: &Actor,
    station: &StationRow,
    new: NewActivity,
    now: DateTime<Utc>,
) -> Result<ActivityRow> {
    let row = station_activity::Entity::insert(station_activity::ActiveModel {
        town_id: Set(station.town_id),
        id: Set(Uuid::now_v7()),
        station_id: Set(station.id),
        on_date: Set(new.on_date),
        duty: Set(new.duty),
        summary: Set(new.summary),
        people_reached: Set(new.people_reached),
        photo_ids: Set(to_json(&new.photo_ids)),
        recorded_by: Set(actor.id),
        recorded_by_name: Set(actor.name.chars().take(64).collect()),
        created_at: Set(micros(now)),
    })
    .exec_with_returning(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.activity.create".into(),
        entity_type: "station_activity".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        after: Some(json!({"station_id": row.station_id, "on_date": row.on_date, "duty": row.duty,
            "people_reached": row.people_reached})),
    });
    Ok(row)
}

#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub duty: Option<String>,
}

/// Newest first.
pub async fn activities(
    db: &impl ConnectionTrait,
    station: &StationRow,
    f: &ActivityFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ActivityRow>, u64)> {
    let mut q = station_activity::Entity::find()
        .filter(station_activity::Column::TownId.eq(station.town_id))
        .filter(station_activity::Column::StationId.eq(station.id));
    if let Some(d) = f.from {
        q = q.filter(station_activity::Column::OnDate.gte(d));
    }
    if let Some(d) = f.to {
        q = q.filter(station_activity::Column::OnDate.lte(d));
    }
    if let Some(d) = &f.duty {
        q = q.filter(station_activity::Column::Duty.eq(d.clone()));
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(station_activity::Column::OnDate)
        .order_by_desc(station_activity::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Per station of the town: activities and people reached on days in `from..=to`.
pub async fn activity_totals(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<HashMap<Uuid, (u64, u64)>> {
    let rows: Vec<(Uuid, i32)> = station_activity::Entity::find()
        .filter(station_activity::Column::TownId.eq(town_id))
        .filter(station_activity::Column::OnDate.gte(from))
        .filter(station_activity::Column::OnDate.lte(to))
        .select_only()
        .column(station_activity::Column::StationId)
        .column(station_activity::Column::PeopleReached)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, (u64, u64)> = HashMap::new();
    for (station_id, people) in rows {
        let e = out.entry(station_id).or_default();
        e.0 += 1;
        e.1 += u64::try_from(people).unwrap_or(0);
    }
    Ok(out)
}

/// A station's activities per month since `from` ("YYYY-MM", count, people reached).
pub async fn monthly_activity(
    db: &impl ConnectionTrait,
    station: &StationRow,
    from: NaiveDate,
) -> Result<Vec<(String, u64, u64)>> {
    let rows: Vec<(NaiveDate, i32)> = station_activity::Entity::find()
        .filter(station_activity::Column::TownId.eq(station.town_id))
        .filter(station_activity::Column::StationId.eq(station.id))
        .filter(station_activity::Column::OnDate.gte(from))
        .select_only()
        .column(station_activity::Column::OnDate)
        .column(station_activity::Column::PeopleReached)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_month: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    for (d, people) in rows {
        let e = by_month.entry(format!("{:04}-{:02}", d.year(), d.month())).or_default();
        e.0 += 1;
        e.1 += u64::try_from(people).unwrap_or(0);
    }
    Ok(by_month.into_iter().map(|(m, (c, p))| (m, c, p)).collect())
}

// ---- photos ----

#[derive(Debug, Clone)]
pub struct NewPhoto {
    pub town_id: Uuid,
    pub id: Uuid,
    pub mime: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub thumb_sha256: Option<String>,
}

pub async fn insert_photo(tx: &mut Tx, actor: &Actor, new: NewPhoto, now: DateTime<Utc>) -> Result<PhotoRow> {
    let row = mediation_photo::Entity::insert(mediation_photo::ActiveModel {
        town_id: Set(new.town_id),
        id: Set(new.id),
        mime: Set(new.mime),
        size_bytes: Set(new.size_bytes),
        sha256: Set(new.sha256),
        thumb_sha256: Set(new.thumb_sha256),
        created_by: Set(actor.id),
        created_at: Set(micros(now)),
    })
    .exec_with_returning(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.photo.upload".into(),
        entity_type: "mediation_photo".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        after: Some(json!({"mime": row.mime, "size_bytes": row.size_bytes, "sha256": row.sha256})),
    });
    Ok(row)
}

pub async fn photo(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<PhotoRow>> {
    Ok(mediation_photo::Entity::find().filter(mediation_photo::Column::Id.eq(id)).one(db).await?)
}

/// The photos of these ids in the town; missing ones are absent.
pub async fn photos_of(db: &impl ConnectionTrait, town_id: Uuid, ids: &[Uuid]) -> Result<Vec<PhotoRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(mediation_photo::Entity::find()
        .filter(mediation_photo::Column::TownId.eq(town_id))
        .filter(mediation_photo::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}

// ---- disputes ----

/// A party as stored in the dispute's `parties` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredParty {
    pub id: Uuid,
    pub name: String,
    /// `applicant`, `respondent` or `other`.
    pub side: String,
    pub household_id: Option<Uuid>,
    pub address: Option<String>,
    /// Sealed by the server (`v1:…`); never the clear number.
    pub id_number_sealed: Option<String>,
    pub id_number_masked: Option<String>,
    pub phone_sealed: Option<String>,
    pub phone_masked: Option<String>,
    pub is_party_member_or_cadre: bool,
}

impl DisputeRow {
    pub fn parties(&self) -> Vec<StoredParty> {
        serde_json::from_str(&self.parties).unwrap_or_default()
    }

    pub fn collaborators(&self) -> Vec<Office> {
        string_list(&self.collaborators).iter().filter_map(|s| Office::parse(s)).collect()
    }

    pub fn flags(&self) -> Vec<RoutingFlag> {
        string_list(&self.flags).iter().filter_map(|s| RoutingFlag::parse(s)).collect()
    }

    pub fn state(&self) -> Result<DisputeState> {
        DisputeState::parse(&self.state)
            .ok_or_else(|| invariant(format!("dispute {} has unknown state {:?}", self.id, self.state)))
    }

    pub fn level(&self) -> Result<MediationLevel> {
        MediationLevel::parse(&self.level)
            .ok_or_else(|| invariant(format!("dispute {} has unknown level {:?}", self.id, self.level)))
    }

    pub fn risk(&self) -> Result<RiskLevel> {
        RiskLevel::parse(&self.risk)
            .ok_or_else(|| invariant(format!("dispute {} has unknown risk {:?}", self.id, self.risk)))
    }

    pub fn dispute_type(&self) -> Result<DisputeType> {
        DisputeType::parse(&self.dispute_type)
            .ok_or_else(|| invariant(format!("dispute {} has unknown type {:?}", self.id, self.dispute_type)))
    }

    /// The facts the rules need, with the town's policy.
    pub fn facts(&self, policy: DeadlinePolicy) -> Result<DisputeFacts> {
        Ok(DisputeFacts {
            state: self.state()?,
            level: self.level()?,
            risk: self.risk()?,
            level_entered_at: self.level_entered_at,
            agreed_at: self.agreed_at,
            follow_up_due_at: self.follow_up_due_at,
            reopen_count: u32::try_from(self.reopen_count).unwrap_or(0),
            policy,
        })
    }

    /// Who holds it now: `station`, `admin_village`, `office:<lead>` or `town` (unassigned).
    pub fn holder(&self) -> String {
        match (self.level.as_str(), &self.lead_office) {
            ("natural_village", _) => "station".into(),
            ("admin_village", _) => "admin_village".into(),
            (_, Some(o)) => format!("office:{o}"),
            _ => "town".into(),
        }
    }
}

/// What the server checked and prepared of a new dispute.
#[derive(Debug, Clone)]
pub struct NewDispute {
    pub town_id: Uuid,
    pub registration: Registration,
    pub title: String,
    pub flags: Vec<RoutingFlag>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Uuid,
    pub natural_village_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub parties: Vec<StoredParty>,
    pub case_id: Option<Uuid>,
}

/// The result of a write: the dispute as it is now, and whether the town must be alerted (it
/// just became high risk).
#[derive(Debug, Clone)]
pub struct Written {
    pub dispute: DisputeRow,
    pub alert_town: bool,
    pub entry: HistoryEntry,
}

fn card_name(c: Card) -> &'static str {
    match c {
        Card::None => "none",
        Card::Yellow => "yellow",
        Card::Red => "red",
    }
}

fn clock_columns(am: &mut dispute::ActiveModel, facts: &DisputeFacts, now: DateTime<Utc>) {
    am.state = Set(facts.state.as_str().to_string());
    am.level = Set(facts.level.as_str().to_string());
    am.risk = Set(facts.risk.as_str().to_string());
    am.level_entered_at = Set(micros(facts.level_entered_at));
    am.level_due_at = Set(micros(facts.level_due_at()));
    am.agreed_at = Set(facts.agreed_at.map(micros));
    am.follow_up_due_at = Set(facts.follow_up_due_at.map(micros));
    am.reopen_count = Set(i32::try_from(facts.reopen_count).unwrap_or(i32::MAX));
    am.next_sweep_at = Set(deadline::next_sweep_at(facts, now).map(micros));
    am.card = Set(card_name(deadline::card_of(facts, now)).to_string());
}

/// Register a dispute at `now` in the given capacities: the rules decide whether it may start
/// at its level; the dispute, its first timeline entry and the audit entry are written.
pub async fn register(
    tx: &mut Tx,
    actor: &Actor,
    new: NewDispute,
    capacities: &[DisputeCapacity],
    now: DateTime<Utc>,
) -> Result<Written, MediationError> {
    let now = micros(now);
    let policy = settings(tx.db(), new.town_id).await?.policy;
    let registered = workflow::register(&new.registration, capacities, policy, now)?;
    let station = station_of_village(tx.db(), new.town_id, new.natural_village_id).await?;
    let number = crate::points::next_number(tx, new.town_id, "TJ", now).await?;
    let id = Uuid::now_v7();
    let names: String = new.parties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" ");
    let mut am = dispute::ActiveModel {
        town_id: Set(new.town_id),
        id: Set(id),
        number: Set(number),
        dispute_type: Set(new.registration.dispute_type.as_str().to_string()),
        title: Set(new.title),
        description: Set(new.registration.description.clone()),
        lat: Set(new.lat),
        lon: Set(new.lon),
        address: Set(new.address),
        area_id: Set(new.area_id),
        admin_village_id: Set(new.admin_village_id),
        natural_village_id: Set(new.natural_village_id),
        grid_id: Set(new.grid_id),
        station_id: Set(station.map(|s| s.id)),
        lead_office: Set(None),
        collaborators: Set("[]".into()),
        flags: Set(to_json(&new.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>())),
        parties: Set(to_json(&new.parties)),
        party_names: Set(names.chars().take(1000).collect()),
        party_count: Set(i32::try_from(new.parties.len()).unwrap_or(i32::MAX)),
        case_id: Set(new.case_id),
        settled_at: Set(None),
        settled_level: Set(None),
        registered_by: Set(actor.id),
        registered_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    };
    clock_columns(&mut am, &registered.facts, now);
    let row = dispute::Entity::insert(am).exec_with_returning(tx.db()).await?;
    insert_event(tx, &row, 1, actor, &registered.entry).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.dispute.register".into(),
        entity_type: "dispute".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: None,
        // Names and numbers stay out of the audit trail: it is read more widely than disputes.
        after: Some(json!({"number": row.number, "dispute_type": row.dispute_type, "risk": row.risk,
            "level": row.level, "parties": row.party_count, "case_id": row.case_id})),
    });
    Ok(Written { dispute: row, alert_town: registered.alert_town, entry: registered.entry })
}

async fn insert_event(tx: &Tx, row: &DisputeRow, seq: i32, actor: &Actor, e: &HistoryEntry) -> Result<()> {
    dispute_event::Entity::insert(dispute_event::ActiveModel {
        town_id: Set(row.town_id),
        dispute_id: Set(row.id),
        seq: Set(seq),
        at: Set(micros(e.at)),
        action: Set(e.action.as_str().to_string()),
        by_capacity: Set(e.by.as_str().to_string()),
        actor_id: Set(actor.id),
        actor_name: Set(actor.name.chars().take(64).collect()),
        from_state: Set(e.from.as_str().to_string()),
        to_state: Set(e.to.as_str().to_string()),
        level_from: Set(e.level_from.as_str().to_string()),
        level_to: Set(e.level_to.as_str().to_string()),
        risk: Set(e.risk.as_str().to_string()),
        outcome: Set(e.outcome.map(|o| o.as_str().to_string())),
        note: Set(e.note.clone()),
        skip_reason: Set(e.skip_reason.clone()),
    })
    .exec(tx.db())
    .await?;
    Ok(())
}

pub async fn dispute(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<DisputeRow>> {
    Ok(dispute::Entity::find().filter(dispute::Column::Id.eq(id)).one(db).await?)
}

/// The dispute that follows a case, if one does.
pub async fn dispute_of_case(db: &impl ConnectionTrait, town_id: Uuid, case_id: Uuid) -> Result<Option<DisputeRow>> {
    Ok(dispute::Entity::find()
        .filter(dispute::Column::TownId.eq(town_id))
        .filter(dispute::Column::CaseId.eq(case_id))
        .one(db)
        .await?)
}

async fn lock_dispute(tx: &Tx, town_id: Uuid, id: Uuid) -> Result<DisputeRow> {
    // FOR UPDATE on PostgreSQL; on SQLite the writer lock already serialises writers.
    let mut q = dispute::Entity::find().filter(dispute::Column::TownId.eq(town_id)).filter(dispute::Column::Id.eq(id));
    if tx.backend() == crate::Backend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(tx.db()).await?.ok_or(StoreError::NotFound)
}

async fn last_seq(tx: &Tx, row: &DisputeRow) -> Result<i32> {
    let seq: Option<Option<i32>> = dispute_event::Entity::find()
        .filter(dispute_event::Column::TownId.eq(row.town_id))
        .filter(dispute_event::Column::DisputeId.eq(row.id))
        .select_only()
        .column_as(dispute_event::Column::Seq.max(), "m")
        .into_tuple()
        .one(tx.db())
        .await?;
    Ok(seq.flatten().unwrap_or(0))
}

pub async fn events(db: &impl ConnectionTrait, row: &DisputeRow) -> Result<Vec<DisputeEventRow>> {
    Ok(dispute_event::Entity::find()
        .filter(dispute_event::Column::TownId.eq(row.town_id))
        .filter(dispute_event::Column::DisputeId.eq(row.id))
        .order_by_asc(dispute_event::Column::Seq)
        .all(db)
        .await?)
}

pub async fn sessions(db: &impl ConnectionTrait, row: &DisputeRow) -> Result<Vec<SessionRow>> {
    Ok(dispute_session::Entity::find()
        .filter(dispute_session::Column::TownId.eq(row.town_id))
        .filter(dispute_session::Column::DisputeId.eq(row.id))
        .order_by_asc(dispute_session::Column::HeldAt)
        .order_by_asc(dispute_session::Column::Id)
        .all(db)
        .await?)
}

pub async fn follow_ups(db: &impl ConnectionTrait, row: &DisputeRow) -> Result<Vec<FollowUpRow>> {
    Ok(dispute_follow_up::Entity::find()
        .filter(dispute_follow_up::Column::TownId.eq(row.town_id))
        .filter(dispute_follow_up::Column::DisputeId.eq(row.id))
        .order_by_asc(dispute_follow_up::Column::VisitedAt)
        .all(db)
        .await?)
}

/// The dispute's current joint-handling tasks (a new assignment replaces the old ones).
pub async fn tasks(db: &impl ConnectionTrait, row: &DisputeRow) -> Result<Vec<TaskRow>> {
    Ok(dispute_task::Entity::find()
        .filter(dispute_task::Column::TownId.eq(row.town_id))
        .filter(dispute_task::Column::DisputeId.eq(row.id))
        .filter(dispute_task::Column::Current.eq(true))
        .order_by_asc(dispute_task::Column::Id)
        .all(db)
        .await?)
}

/// The timeline as the domain's history entries (for `check_history` and the figures).
pub fn history_of(rows: &[DisputeEventRow]) -> Result<Vec<HistoryEntry>> {
    rows.iter()
        .map(|r| {
            let bad = || invariant(format!("dispute event {}#{} is malformed", r.dispute_id, r.seq));
            Ok(HistoryEntry {
                at: r.at,
                action: DisputeAction::parse(&r.action).ok_or_else(bad)?,
                by: DisputeCapacity::parse(&r.by_capacity).ok_or_else(bad)?,
                from: DisputeState::parse(&r.from_state).ok_or_else(bad)?,
                to: DisputeState::parse(&r.to_state).ok_or_else(bad)?,
                level_from: MediationLevel::parse(&r.level_from).ok_or_else(bad)?,
                level_to: MediationLevel::parse(&r.level_to).ok_or_else(bad)?,
                risk: RiskLevel::parse(&r.risk).ok_or_else(bad)?,
                outcome: match &r.outcome {
                    Some(o) => Some(workflow::SessionOutcome::parse(o).ok_or_else(bad)?),
                    None => None,
                },
                note: r.note.clone(),
                skip_reason: r.skip_reason.clone(),
            })
        })
        .collect()
}

/// A session's record beyond what the rules check.
#[derive(Debug, Clone, Default)]
pub struct SessionRecord {
    pub held_at: Option<DateTime<Utc>>,
    pub place: String,
    pub mediators: Vec<String>,
    pub agreement_party_ids: Vec<Uuid>,
    pub photo_ids: Vec<Uuid>,
}

/// A task as political-legal sets it: the office, its text and (optionally) its deadline.
#[derive(Debug, Clone)]
pub struct TaskDraft {
    pub office: Office,
    pub task: String,
    pub due_at: Option<DateTime<Utc>>,
}

/// An action on a dispute with everything the caller supplied.
#[derive(Debug, Clone)]
pub struct ActRequest {
    pub action: DisputeAction,
    /// The version the caller saw; a stale one is a conflict.
    pub version: Option<i32>,
    pub input: DisputeInput,
    pub session: Option<SessionRecord>,
    pub tasks: Vec<TaskDraft>,
}

/// Take an action on a dispute: the rules decide under the dispute's lock; the row, the timeline
/// entry, the session / follow-up / tasks and the audit entry are written in `tx`.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    id: Uuid,
    capacities: &[DisputeCapacity],
    req: ActRequest,
    now: DateTime<Utc>,
) -> Result<Written, MediationError> {
    let now = micros(now);
    let row = lock_dispute(tx, town_id, id).await?;
    if let Some(v) = req.version
        && v != row.version
    {
        return Err(StoreError::VersionConflict { current: row.version }.into());
    }
    let policy = settings(tx.db(), town_id).await?.policy;
    let facts = row.facts(policy)?;
    let d: Decision = workflow::decide(&facts, req.action, capacities, &req.input, now)?;
    let parties = row.parties();

    let mut am = row.clone().into_active_model();
    clock_columns(&mut am, &d.after, now);
    am.version = Set(row.version + 1);
    am.updated_at = Set(now);

    match req.action {
        DisputeAction::RecordSession => {
            let (Some(s), Some(rec)) = (req.input.session.as_ref(), req.session.as_ref()) else {
                return Err(Refusal::Missing { field: "session", problem: "required" }.into());
            };
            for (i, pid) in rec.agreement_party_ids.iter().enumerate() {
                if !parties.iter().any(|p| p.id == *pid) {
                    return Err(MediationError::UnknownParty { field: format!("session.agreement.party_ids[{i}]") });
                }
            }
            let agreed = s.outcome == workflow::SessionOutcome::Agreed;
            dispute_session::Entity::insert(dispute_session::ActiveModel {
                town_id: Set(town_id),
                id: Set(Uuid::now_v7()),
                dispute_id: Set(row.id),
                held_at: Set(micros(std::cmp::min(rec.held_at.unwrap_or(now), now))),
                level: Set(facts.level.as_str().to_string()),
                place: Set(rec.place.clone()),
                mediators: Set(to_json(&rec.mediators)),
                parties_present: Set(i32::try_from(s.parties_present).unwrap_or(i32::MAX)),
                notes: Set(s.notes.clone()),
                outcome: Set(s.outcome.as_str().to_string()),
                agreement_terms: Set(s.agreement.as_ref().map(|a| a.terms.clone())),
                agreement_party_ids: Set(if agreed { to_json(&rec.agreement_party_ids) } else { "[]".into() }),
                photo_ids: Set(to_json(&rec.photo_ids)),
                recorded_by: Set(actor.id),
                recorded_by_name: Set(actor.name.chars().take(64).collect()),
                created_at: Set(now),
            })
            .exec(tx.db())
            .await?;
            if agreed {
                am.settled_at = Set(Some(now));
                am.settled_level = Set(Some(facts.level.as_str().to_string()));
            }
        }
        DisputeAction::FollowUp => {
            let agreement = last_agreement(tx, &row)
                .await?
                .ok_or_else(|| invariant(format!("dispute {} is {} without an agreement", row.id, row.state)))?;
            dispute_follow_up::Entity::insert(dispute_follow_up::ActiveModel {
                town_id: Set(town_id),
                id: Set(Uuid::now_v7()),
                dispute_id: Set(row.id),
                agreement_id: Set(agreement.id),
                visited_at: Set(now),
                holds: Set(req.input.holds == Some(true)),
                notes: Set(req.input.notes.clone().unwrap_or_default()),
                by_id: Set(actor.id),
                by_name: Set(actor.name.chars().take(64).collect()),
            })
            .exec(tx.db())
            .await?;
            if req.input.holds != Some(true) {
                // A broken agreement is no settlement any more.
                am.settled_at = Set(None);
                am.settled_level = Set(None);
            }
        }
        DisputeAction::Assign => {
            let Some(a) = d.assignment.as_ref() else {
                return Err(Refusal::Missing { field: "lead", problem: "required" }.into());
            };
            let level_due_at = d.after.level_due_at();
            let mut planned = six_in_one::plan_joint_handling(a, "", "", now, level_due_at);
            for t in &mut planned {
                if let Some(draft) = req.tasks.iter().find(|d| d.office == t.office) {
                    t.task = draft.task.clone();
                    if let Some(due) = draft.due_at {
                        t.due_at = micros(due);
                    }
                }
            }
            // Every task named must be one of the assignment's offices.
            for (i, draft) in req.tasks.iter().enumerate() {
                if !planned.iter().any(|t| t.office == draft.office) {
                    return Err(TaskProblem { index: i, problem: "office_not_assigned" }.into());
                }
            }
            six_in_one::check_joint_tasks(&planned, now, level_due_at)?;
            dispute_task::Entity::update_many()
                .col_expr(dispute_task::Column::Current, Expr::value(false))
                .filter(dispute_task::Column::TownId.eq(town_id))
                .filter(dispute_task::Column::DisputeId.eq(row.id))
                .exec(tx.db())
                .await?;
            for t in planned {
                insert_task(tx, town_id, row.id, &t).await?;
            }
            am.lead_office = Set(Some(a.lead.as_str().to_string()));
            am.collaborators = Set(to_json(&a.collaborators.iter().map(|o| o.as_str()).collect::<Vec<_>>()));
        }
        _ => {}
    }
    // Leaving the town level for good, or arriving at it, ends the old joint handling.
    if d.after.level != facts.level {
        am.lead_office = Set(None);
        am.collaborators = Set("[]".into());
    }

    let res = dispute::Entity::update_many()
        .set(am)
        .filter(dispute::Column::TownId.eq(town_id))
        .filter(dispute::Column::Id.eq(row.id))
        .filter(dispute::Column::Version.eq(row.version))
        .exec(tx.db())
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: row.version }.into());
    }
    let seq = last_seq(tx, &row).await? + 1;
    insert_event(tx, &row, seq, actor, &d.entry).await?;
    let after = dispute(tx.db(), row.id).await?.ok_or(StoreError::NotFound)?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: format!("mediation.dispute.{}", req.action.as_str()),
        entity_type: "dispute".into(),
        entity_id: row.id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"state": row.state, "level": row.level, "risk": row.risk, "version": row.version})),
        after: Some(json!({"state": after.state, "level": after.level, "risk": after.risk,
            "lead_office": after.lead_office, "version": after.version})),
    });
    Ok(Written { dispute: after, alert_town: d.alert_town, entry: d.entry })
}

async fn insert_task(tx: &Tx, town_id: Uuid, dispute_id: Uuid, t: &JointTask) -> Result<()> {
    dispute_task::Entity::insert(dispute_task::ActiveModel {
        town_id: Set(town_id),
        id: Set(Uuid::now_v7()),
        dispute_id: Set(dispute_id),
        office: Set(t.office.as_str().to_string()),
        role: Set(t.role.as_str().to_string()),
        task: Set(t.task.clone()),
        assigned_at: Set(micros(t.assigned_at)),
        due_at: Set(micros(t.due_at)),
        done_at: Set(None),
        report: Set(None),
        current: Set(true),
    })
    .exec(tx.db())
    .await?;
    Ok(())
}

async fn last_agreement(tx: &Tx, row: &DisputeRow) -> Result<Option<SessionRow>> {
    Ok(dispute_session::Entity::find()
        .filter(dispute_session::Column::TownId.eq(row.town_id))
        .filter(dispute_session::Column::DisputeId.eq(row.id))
        .filter(dispute_session::Column::Outcome.eq("agreed"))
        .order_by_desc(dispute_session::Column::HeldAt)
        .order_by_desc(dispute_session::Column::Id)
        .one(tx.db())
        .await?)
}

/// An office reports on its task (or political-legal on any): the report is kept, and `done`
/// marks it finished. Not a workflow transition: the dispute's state does not change.
#[allow(clippy::too_many_arguments)]
pub async fn report_task(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    id: Uuid,
    task_id: Uuid,
    caller_offices: &[Office],
    report: String,
    done: bool,
    version: Option<i32>,
    now: DateTime<Utc>,
) -> Result<DisputeRow, MediationError> {
    let now = micros(now);
    let row = lock_dispute(tx, town_id, id).await?;
    if let Some(v) = version
        && v != row.version
    {
        return Err(StoreError::VersionConflict { current: row.version }.into());
    }
    let task = tasks(tx.db(), &row).await?.into_iter().find(|t| t.id == task_id).ok_or(MediationError::UnknownTask)?;
    let office = Office::parse(&task.office).ok_or_else(|| invariant(format!("task {} office", task.id)))?;
    let role = TaskRole::parse(&task.role).ok_or_else(|| invariant(format!("task {} role", task.id)))?;
    let joint = JointTask { office, role, task: task.task.clone(), assigned_at: task.assigned_at, due_at: task.due_at };
    if !six_in_one::may_act_on_task(&joint, caller_offices) {
        return Err(MediationError::NotYourTask);
    }
    let mut am = task.clone().into_active_model();
    am.report = Set(Some(report));
    am.done_at = Set(if done { Some(now) } else { None });
    am.update(tx.db()).await?;
    let res = dispute::Entity::update_many()
        .col_expr(dispute::Column::Version, Expr::value(row.version + 1))
        .col_expr(dispute::Column::UpdatedAt, Expr::value(now))
        .filter(dispute::Column::TownId.eq(town_id))
        .filter(dispute::Column::Id.eq(row.id))
        .filter(dispute::Column::Version.eq(row.version))
        .exec(tx.db())
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: row.version }.into());
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "mediation.dispute.task_report".into(),
        entity_type: "dispute".into(),
        entity_id: row.id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(json!({"task_id": task.id, "office": task.office, "done": done})),
    });
    Ok(dispute(tx.db(), row.id).await?.ok_or(StoreError::NotFound)?)
}

/// Which disputes a caller may see: its `mediation.read` scopes. A grid's scope covers its
/// natural village (the station serves the whole village); a city's, its towns.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    pub scopes: Vec<Scope>,
    pub city_towns: Vec<Uuid>,
}

fn visibility_condition(v: &Visibility) -> Condition {
    let mut any = Condition::any().add(never());
    for s in &v.scopes {
        let c = match s.level {
            Level::City => Some(dispute::Column::TownId.is_in(v.city_towns.clone())),
            Level::Town => s.place.town_id.map(|id| dispute::Column::TownId.eq(id)),
            Level::Area => s.place.area_id.map(|id| dispute::Column::AreaId.eq(id)),
            Level::AdminVillage => s.place.admin_village_id.map(|id| dispute::Column::AdminVillageId.eq(id)),
            Level::NaturalVillage | Level::Grid => {
                s.place.natural_village_id.map(|id| dispute::Column::NaturalVillageId.eq(id))
            }
            Level::Household => None,
        };
        if let Some(c) = c {
            any = any.add(c);
        }
    }
    any
}

#[derive(Debug, Clone, Default)]
pub struct DisputeFilter {
    pub town_id: Option<Uuid>,
    pub level: Option<MediationLevel>,
    pub state: Option<DisputeState>,
    /// Open (needing a session or a visit) or not.
    pub open: Option<bool>,
    pub risk: Option<RiskLevel>,
    /// Led by, or collaborating, this office.
    pub office: Option<Office>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub station_id: Option<Uuid>,
    /// Past the level's deadline now.
    pub overdue_at: Option<DateTime<Utc>>,
    pub q: Option<String>,
}

const OPEN_STATES: [DisputeState; 5] = [
    DisputeState::Registered,
    DisputeState::Escalated,
    DisputeState::InMediation,
    DisputeState::Reopened,
    DisputeState::Agreed,
];

const AT_LEVEL_STATES: [DisputeState; 4] =
    [DisputeState::Registered, DisputeState::Escalated, DisputeState::InMediation, DisputeState::Reopened];

fn names(states: &[DisputeState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &DisputeFilter,
    v: &Visibility,
    offset: u64,
    limit: u64,
) -> Result<(Vec<DisputeRow>, u64)> {
    let mut cond = Condition::all().add(visibility_condition(v));
    if let Some(t) = f.town_id {
        cond = cond.add(dispute::Column::TownId.eq(t));
    }
    if let Some(l) = f.level {
        cond = cond.add(dispute::Column::Level.eq(l.as_str()));
    }
    if let Some(s) = f.state {
        cond = cond.add(dispute::Column::State.eq(s.as_str()));
    }
    match f.open {
        Some(true) => cond = cond.add(dispute::Column::State.is_in(names(&OPEN_STATES))),
        Some(false) => cond = cond.add(dispute::Column::State.is_not_in(names(&OPEN_STATES))),
        None => {}
    }
    if let Some(r) = f.risk {
        cond = cond.add(dispute::Column::Risk.eq(r.as_str()));
    }
    if let Some(o) = f.office {
        let pattern = format!("%\"{}\"%", o.as_str());
        cond = cond.add(
            Condition::any()
                .add(dispute::Column::LeadOffice.eq(o.as_str()))
                .add(Expr::col(dispute::Column::Collaborators).like(LikeExpr::new(&pattern))),
        );
    }
    if let Some(av) = f.admin_village_id {
        cond = cond.add(dispute::Column::AdminVillageId.eq(av));
    }
    if let Some(nv) = f.natural_village_id {
        cond = cond.add(dispute::Column::NaturalVillageId.eq(nv));
    }
    if let Some(st) = f.station_id {
        cond = cond.add(dispute::Column::StationId.eq(st));
    }
    if let Some(now) = f.overdue_at {
        cond = cond
            .add(dispute::Column::State.is_in(names(&AT_LEVEL_STATES)))
            .add(dispute::Column::LevelDueAt.lte(micros(now)));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(dispute::Column::Number).like(like()))
                .add(Expr::col(dispute::Column::Title).like(like()))
                .add(Expr::col(dispute::Column::PartyNames).like(like())),
        );
    }
    let q = dispute::Entity::find().filter(cond);
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(dispute::Column::RegisteredAt)
        .order_by_desc(dispute::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// The six-in-one board reads at most this many open town-level disputes.
pub const MAX_BOARD_ROWS: u64 = 500;

/// Open disputes at town level, oldest deadline first (the board).
pub async fn town_open(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<DisputeRow>> {
    Ok(dispute::Entity::find()
        .filter(dispute::Column::TownId.eq(town_id))
        .filter(dispute::Column::Level.eq(MediationLevel::Town.as_str()))
        .filter(dispute::Column::State.is_in(names(&OPEN_STATES)))
        .order_by_asc(dispute::Column::LevelDueAt)
        .limit(MAX_BOARD_ROWS)
        .all(db)
        .await?)
}

/// Open disputes per station of a town (station id → count).
pub async fn open_by_station(db: &impl ConnectionTrait, town_id: Uuid) -> Result<HashMap<Uuid, u64>> {
    let rows: Vec<Option<Uuid>> = dispute::Entity::find()
        .filter(dispute::Column::TownId.eq(town_id))
        .filter(dispute::Column::State.is_in(names(&OPEN_STATES)))
        .select_only()
        .column(dispute::Column::StationId)
        .into_tuple()
        .all(db)
        .await?;
    let mut out = HashMap::new();
    for s in rows.into_iter().flatten() {
        *out.entry(s).or_insert(0) += 1;
    }
    Ok(out)
}

// ---- the sweeper ----

/// Disputes whose `next_sweep_at` has come, oldest first: (town, id).
pub async fn due_for_sweep(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(dispute::Entity::find()
        .filter(dispute::Column::NextSweepAt.lte(micros(now)))
        .order_by_asc(dispute::Column::NextSweepAt)
        .select_only()
        .column(dispute::Column::TownId)
        .column(dispute::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// What a sweep of one dispute did, for the notices the server sends.
#[derive(Debug, Clone)]
pub struct Swept {
    pub dispute: DisputeRow,
    pub action: SweepAction,
    /// Set when the sweep escalated it.
    pub escalated: Option<Written>,
}

/// Look at one dispute at `now`: escalate it one level when its level's deadline passed below
/// the town (as `system`), otherwise set its card; store when to look again.
pub async fn sweep_one(tx: &mut Tx, town_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<Swept, MediationError> {
    let now = micros(now);
    let row = lock_dispute(tx, town_id, id).await?;
    if row.next_sweep_at.is_none_or(|t| t > now) {
        // Another server's sweep got here first.
        return Ok(Swept { dispute: row, action: SweepAction::None, escalated: None });
    }
    let policy = settings(tx.db(), town_id).await?.policy;
    let facts = row.facts(policy)?;
    let s = deadline::sweep(&facts, now);
    if s.action == SweepAction::Escalate {
        let system = Actor::system("sweeper");
        let req = ActRequest {
            action: DisputeAction::Escalate,
            version: Some(row.version),
            input: DisputeInput::default(),
            session: None,
            tasks: Vec::new(),
        };
        let w = act(tx, &system, town_id, id, &[DisputeCapacity::System], req, now).await?;
        return Ok(Swept { dispute: w.dispute.clone(), action: s.action, escalated: Some(w) });
    }
    // The domain guarantees that a due sweep always changes something (a card, a notice, or
    // the end of sweeping), so every sweep is recorded.
    let card = card_name(s.card);
    let mut am = row.clone().into_active_model();
    am.card = Set(card.to_string());
    am.next_sweep_at = Set(s.next_sweep_at.map(micros));
    am.update(tx.db()).await?;
    tx.audit(AuditDraft {
        actor: Actor::system("sweeper"),
        action: format!("mediation.dispute.sweep.{}", s.action.as_str()),
        entity_type: "dispute".into(),
        entity_id: row.id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"card": row.card})),
        after: Some(json!({"card": card, "next_sweep_at": s.next_sweep_at})),
    });
    let after = dispute(tx.db(), id).await?.ok_or(StoreError::NotFound)?;
    Ok(Swept { dispute: after, action: s.action, escalated: None })
}

// ---- figures ----

/// The figures read at most this many disputes (a town registers some hundreds a year).
pub const MAX_FIGURE_DISPUTES: u64 = 20_000;

/// Disputes registered in `from..to` with their timelines, for `figures::DisputeRecord`.
pub async fn figure_rows(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    admin_village_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DisputeRow, Vec<HistoryEntry>)>> {
    let mut q = dispute::Entity::find()
        .filter(dispute::Column::TownId.eq(town_id))
        .filter(dispute::Column::RegisteredAt.gte(micros(from)))
        .filter(dispute::Column::RegisteredAt.lt(micros(to)));
    if let Some(av) = admin_village_id {
        q = q.filter(dispute::Column::AdminVillageId.eq(av));
    }
    let rows = q.order_by_asc(dispute::Column::RegisteredAt).limit(MAX_FIGURE_DISPUTES).all(db).await?;
    let mut by_dispute: HashMap<Uuid, Vec<DisputeEventRow>> = HashMap::new();
    for chunk in rows.chunks(500) {
        let ids: Vec<Uuid> = chunk.iter().map(|r| r.id).collect();
        let events = dispute_event::Entity::find()
            .filter(dispute_event::Column::TownId.eq(town_id))
            .filter(dispute_event::Column::DisputeId.is_in(ids))
            .order_by_asc(dispute_event::Column::DisputeId)
            .order_by_asc(dispute_event::Column::Seq)
            .all(db)
            .await?;
        for e in events {
            by_dispute.entry(e.dispute_id).or_default().push(e);
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let events = by_dispute.remove(&r.id).unwrap_or_default();
        out.push((r, history_of(&events)?));
    }
    Ok(out)
}

/// Whether a `settled_at` far in the past still counts: the follow-up window after the due day.
pub fn follow_up_overdue(row: &DisputeRow, now: DateTime<Utc>) -> bool {
    row.state == DisputeState::Agreed.as_str()
        && row.follow_up_due_at.is_some_and(|d| d + Duration::days(deadline::FOLLOW_UP_WINDOW_DAYS) < now)
}

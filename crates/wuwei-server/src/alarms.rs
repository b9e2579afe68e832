//! Camera alarms: the one path an alarm takes, whether it came by the signed webhook
//! (`routes/cameras.rs`) or over MQTT (`mqtt.rs`).
//!
//! An alarm is recorded, then disposed of by the domain's rule (`intake::alarm::dispose`): folded
//! into the open case of its camera and type when within the burst window, else a new case of
//! the type's category and priority at the camera's place, or — for a camera whose false-alarm
//! rate is at or above the town's threshold, or that is not `active` — queued for review. The
//! alarm, its burst and its case are one transaction. Alarms carry the tags of the protected
//! land layers the camera stands in.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::case::{CaseState, Priority, Source};
use wuwei_domain::intake::alarm::{self, AlarmDisposition, AlarmSettings, AlarmType, BurstCase, FalseAlarmStats};
use wuwei_store::cameras::{self, AlarmRow, BurstRow, CameraRow, NewAlarm};
use wuwei_store::cases::{self, CasePlace, CaseRow, NewAttachment, NewCase};
use wuwei_store::{Actor, AuditDraft, Tx, accounts, catalog, regions};

use crate::caseflow::{self, CaseChange, Notice};
use crate::error::{ApiError, ApiResult};
use crate::layers::ProtectedArea;
use crate::state::AppState;

/// A snapshot already stored as a blob (content-addressed), checked to be an image.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sha256: String,
    pub mime: String,
    pub size_bytes: i64,
    pub thumb_sha256: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Incoming {
    pub alarm_type: AlarmType,
    pub confidence: f64,
    pub occurred_at: DateTime<Utc>,
    pub event_id: Option<String>,
    pub via: &'static str,
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug)]
pub struct Received {
    pub alarm: AlarmRow,
    /// `case_created`, `folded`, `review` or `duplicate`.
    pub disposition: &'static str,
    /// The case it opened or was folded into.
    pub case: Option<CaseRow>,
    pub alarm_count: i32,
}

/// The alarm settings of a town (the defaults until set).
pub async fn settings(db: &impl wuwei_store::Conn, town_id: Uuid) -> ApiResult<AlarmSettings> {
    Ok(match cameras::alarm_settings(db, town_id).await? {
        Some(s) => AlarmSettings {
            burst_window_secs: i64::from(s.burst_window_secs),
            false_alarm_threshold: s.false_alarm_threshold,
        },
        None => AlarmSettings::default(),
    })
}

pub fn stats(c: &CameraRow) -> FalseAlarmStats {
    FalseAlarmStats {
        judged: u32::try_from(c.judged_count).unwrap_or(0),
        false_alarms: u32::try_from(c.false_count).unwrap_or(0),
    }
}

/// Whether the camera's alarms open cases now.
pub fn opens_cases(c: &CameraRow, s: AlarmSettings) -> bool {
    c.status == "active" && s.camera_opens_cases(stats(c))
}

/// The words of a type in case titles.
pub fn type_label(t: AlarmType) -> &'static str {
    match t {
        AlarmType::FireSmoke => "烟火",
        AlarmType::StrawBurning => "秸秆焚烧",
        AlarmType::IllegalBuilding => "违章搭建",
        AlarmType::Intrusion => "区域入侵",
        AlarmType::Crowd => "人员聚集",
        AlarmType::Flooding => "积水内涝",
        AlarmType::RoadObstruction => "道路占用",
        AlarmType::Other => "其他告警",
    }
}

fn actor_of(c: &CameraRow) -> Actor {
    Actor::system(&format!("camera {}", c.code))
}

/// Record an alarm and dispose of it. See the module docs.
pub async fn receive(state: &AppState, cam: &CameraRow, inc: Incoming, now: DateTime<Utc>) -> ApiResult<Received> {
    let db = state.store().db();
    if let Some(e) = &inc.event_id
        && let Some(first) = cameras::alarm_by_event(db, cam.town_id, cam.id, e).await?
    {
        return duplicate(state, first).await;
    }
    let mut batch = Batch::default();
    let mut tx = state.store().begin().await?;
    let d = batch.dispose(state, &mut tx, cam, &inc, now).await?;
    batch.finish(&tx).await?;
    tx.commit(now).await?;
    batch.published(state);
    let case = match (d.case, d.alarm.case_id) {
        (Some(c), _) => Some(c),
        (None, Some(id)) => cases::case_in_town(db, cam.town_id, id).await?,
        (None, None) => None,
    };
    Ok(Received { alarm: d.alarm, disposition: d.label, case, alarm_count: d.alarm_count })
}

/// One alarm recorded in a [`Batch`]'s transaction.
#[derive(Debug)]
pub struct Disposed {
    pub alarm: AlarmRow,
    /// `case_created`, `folded` or `review`.
    pub label: &'static str,
    /// The case it opened (not the case of a fold: the caller reads that if it needs it).
    pub case: Option<CaseRow>,
    pub alarm_count: i32,
}

/// Alarms recorded in one transaction: one from the webhook, or a run of them taken off the
/// MQTT queue together (`mqtt::handle_batch`). It keeps what they share as it is inside the
/// transaction — the towns' settings and protected areas, each burst as last written, which
/// cases are open — and counts the alarms per camera, added once in [`Batch::finish`]. Every
/// alarm is disposed of by the same rule, in order, exactly as one transaction each would.
#[derive(Default)]
pub struct Batch {
    settings: HashMap<Uuid, AlarmSettings>,
    areas: HashMap<Uuid, Arc<Vec<ProtectedArea>>>,
    bursts: HashMap<(Uuid, String), Option<BurstRow>>,
    /// The bursts whose row existed when first read (written back by update, the rest inserted).
    stored_bursts: HashSet<(Uuid, String)>,
    /// The bursts changed by this batch, written once in [`Batch::finish`].
    changed_bursts: BTreeSet<(Uuid, String)>,
    /// The alarms recorded, inserted together in [`Batch::finish`].
    alarms: Vec<AlarmRow>,
    open: HashMap<Uuid, bool>,
    counted: BTreeMap<(Uuid, Uuid), i64>,
    created: Vec<CaseRow>,
    labels: Vec<&'static str>,
}

impl Batch {
    /// Record an alarm of `cam` in `tx` and dispose of it.
    pub async fn dispose(
        &mut self,
        state: &AppState,
        tx: &mut Tx,
        cam: &CameraRow,
        inc: &Incoming,
        now: DateTime<Utc>,
    ) -> ApiResult<Disposed> {
        let s = match self.settings.get(&cam.town_id) {
            Some(s) => *s,
            None => {
                let s = settings(tx.db(), cam.town_id).await?;
                self.settings.insert(cam.town_id, s);
                s
            }
        };
        let areas = match self.areas.get(&cam.town_id) {
            Some(a) => a.clone(),
            None => {
                let a = crate::layers::protected_areas(tx.db(), cam.town_id).await?;
                self.areas.insert(cam.town_id, a.clone());
                a
            }
        };
        let tags: Vec<String> = crate::layers::tags_at(&areas, cam.lat, cam.lon).into_iter().map(|(t, _)| t).collect();
        let key = (cam.id, inc.alarm_type.as_str().to_string());
        let burst = match self.bursts.get(&key) {
            Some(b) => b.clone(),
            None => {
                let b = cameras::burst(tx, cam.town_id, cam.id, inc.alarm_type.as_str()).await?;
                if b.is_some() {
                    self.stored_bursts.insert(key.clone());
                }
                self.bursts.insert(key.clone(), b.clone());
                b
            }
        };
        let burst_case = match &burst {
            Some(b) => {
                let open = match self.open.get(&b.case_id) {
                    Some(o) => *o,
                    None => {
                        let o = cases::case_in_town(tx.db(), cam.town_id, b.case_id)
                            .await?
                            .is_some_and(|c| c.state().is_open());
                        self.open.insert(b.case_id, o);
                        o
                    }
                };
                Some(BurstCase { case_id: b.case_id, last_alarm_at: b.last_alarm_at, case_open: open })
            }
            None => None,
        };
        let disposition = alarm::dispose(
            inc.alarm_type,
            inc.occurred_at,
            burst_case.as_ref(),
            s.burst_window_secs,
            opens_cases(cam, s),
        );
        let id = Uuid::now_v7();
        let new_alarm = |disposition: &'static str, case_id: Option<Uuid>| NewAlarm {
            id,
            alarm_type: inc.alarm_type.as_str().to_string(),
            confidence: inc.confidence,
            occurred_at: inc.occurred_at,
            via: inc.via,
            event_id: inc.event_id.clone(),
            disposition,
            case_id,
            snapshot: inc.snapshot.as_ref().map(|s| (s.sha256.clone(), s.mime.clone())),
            tags: tags.clone(),
        };
        let (row, label, case, count) = match disposition {
            AlarmDisposition::Fold { case_id } => {
                let b = cameras::next_burst(
                    burst.as_ref(),
                    cam.town_id,
                    cam.id,
                    inc.alarm_type.as_str(),
                    case_id,
                    inc.occurred_at,
                );
                let count = b.alarm_count;
                self.changed_bursts.insert(key.clone());
                self.bursts.insert(key, Some(b));
                let row = self.alarm(cameras::alarm_row(now, cam, new_alarm("folded", Some(case_id))));
                audit_alarm(tx, cam, &row, count);
                (row, "folded", None, count)
            }
            AlarmDisposition::OpenCase { category_code, priority } => {
                match open_case(state, tx, cam, inc.alarm_type, category_code, priority, inc.snapshot.as_ref(), now)
                    .await?
                {
                    Some(case) => {
                        let b = cameras::next_burst(
                            burst.as_ref(),
                            cam.town_id,
                            cam.id,
                            inc.alarm_type.as_str(),
                            case.id,
                            inc.occurred_at,
                        );
                        let count = b.alarm_count;
                        self.changed_bursts.insert(key.clone());
                        self.bursts.insert(key, Some(b));
                        self.open.insert(case.id, true);
                        let row = self.alarm(cameras::alarm_row(now, cam, new_alarm("case_created", Some(case.id))));
                        self.created.push(case.clone());
                        (row, "case_created", Some(case), count)
                    }
                    None => {
                        let row = self.alarm(cameras::alarm_row(now, cam, new_alarm("review", None)));
                        audit_alarm(tx, cam, &row, 0);
                        (row, "review", None, 0)
                    }
                }
            }
            AlarmDisposition::QueueForReview => {
                let row = self.alarm(cameras::alarm_row(now, cam, new_alarm("review", None)));
                audit_alarm(tx, cam, &row, 0);
                (row, "review", None, 0)
            }
        };
        *self.counted.entry((cam.town_id, cam.id)).or_insert(0) += 1;
        self.labels.push(label);
        Ok(Disposed { alarm: row, label, case, alarm_count: count })
    }

    /// Keep an alarm row for [`Batch::finish`].
    fn alarm(&mut self, row: AlarmRow) -> AlarmRow {
        self.alarms.push(row.clone());
        row
    }

    /// Write what the batch recorded — its alarms (several rows per statement), each changed
    /// burst once, the alarms added to their cameras' counts; call once, just before the
    /// commit.
    pub async fn finish(&mut self, tx: &Tx) -> ApiResult<()> {
        cameras::insert_alarms(tx, &std::mem::take(&mut self.alarms)).await?;
        for key in std::mem::take(&mut self.changed_bursts) {
            if let Some(Some(b)) = self.bursts.get(&key) {
                cameras::save_burst(tx, b, self.stored_bursts.contains(&key)).await?;
                self.stored_bursts.insert(key);
            }
        }
        for ((town_id, camera_id), n) in std::mem::take(&mut self.counted) {
            cameras::count_alarms(tx, town_id, camera_id, n).await?;
        }
        Ok(())
    }

    /// After the commit: the new cases to the live stream, the alarms to `/metrics`.
    pub fn published(self, state: &AppState) {
        for c in &self.created {
            state.0.case_events.publish(CaseChange::of("created", c));
        }
        for label in self.labels {
            state.0.metrics.count_device_message("alarm", label);
        }
    }
}

fn audit_alarm(tx: &mut Tx, cam: &CameraRow, a: &AlarmRow, count: i32) {
    tx.audit(AuditDraft {
        actor: actor_of(cam),
        action: format!("alarm.{}", a.disposition),
        entity_type: "alarm".into(),
        entity_id: a.id.to_string(),
        town_id: Some(a.town_id),
        before: None,
        after: Some(
            json!({"camera": cam.code, "alarm_type": a.alarm_type, "case_id": a.case_id, "alarm_count": count}),
        ),
    });
}

async fn duplicate(state: &AppState, first: AlarmRow) -> ApiResult<Received> {
    let db = state.store().db();
    let case = match first.case_id {
        Some(c) => cases::case_in_town(db, first.town_id, c).await?,
        None => None,
    };
    let count = match &case {
        Some(c) => cameras::burst_of_case(db, c.town_id, c.id).await?.map_or(1, |b| b.alarm_count),
        None => 0,
    };
    Ok(Received { alarm: first, disposition: "duplicate", case, alarm_count: count })
}

/// A case for an alarm, in `tx`: the type's category (or `other` when the town lacks it),
/// routed at the camera's place. `None` when the town has neither category: the alarm then
/// waits for review.
#[allow(clippy::too_many_arguments)]
async fn open_case(
    state: &AppState,
    tx: &mut Tx,
    cam: &CameraRow,
    alarm_type: AlarmType,
    category_code: &str,
    priority: Priority,
    snapshot: Option<&Snapshot>,
    now: DateTime<Utc>,
) -> ApiResult<Option<CaseRow>> {
    let categories = catalog::categories(tx.db(), cam.town_id).await?;
    let Some(category) = categories
        .iter()
        .find(|c| c.code == category_code && c.active)
        .or_else(|| categories.iter().find(|c| c.code == "other" && c.active))
        .cloned()
    else {
        tracing::warn!(town = %cam.town_id, category = category_code, "no category for alarms; queued for review");
        return Ok(None);
    };
    let town = regions::region_in_town(tx.db(), cam.town_id, cam.town_id).await?.ok_or_else(ApiError::internal)?;
    let place = CasePlace {
        area_id: cam.area_id,
        admin_village_id: cam.admin_village_id,
        natural_village_id: cam.natural_village_id,
        grid_id: cam.grid_id,
    };
    let policy = catalog::policy(tx.db(), cam.town_id, category.id, priority).await?;
    let unit = caseflow::route(tx, now, cam.town_id, &categories, &category, &place).await?;
    let actor = actor_of(cam);
    let kind = match cam.kind.as_str() {
        "lookout" => "高空瞭望",
        "xueliang" => "雪亮工程",
        _ => "摄像头",
    };
    let row = cases::insert_case(
        tx,
        &actor,
        now,
        NewCase {
            id: Uuid::now_v7(),
            town_id: cam.town_id,
            short_code: town.short_code.clone().unwrap_or_else(|| "WW".into()),
            category_id: category.id,
            priority,
            title: format!("{}：{}", type_label(alarm_type), cam.name).chars().take(100).collect(),
            description: format!("{kind}摄像头 {}（{}）报警：{}。", cam.code, cam.name, type_label(alarm_type)),
            lat: Some(cam.lat),
            lon: Some(cam.lon),
            address: None,
            household_id: None,
            place,
            source: Source::Camera,
            reporter_id: None,
            reporter_name: Some(cam.name.chars().take(50).collect()),
            reporter_phone: None,
            state: CaseState::Reported,
            unit_id: unit.as_ref().map(|u| u.id),
            policy,
            possible_duplicate_of: None,
        },
    )
    .await?;
    let row = match snapshot {
        Some(s) => {
            cases::insert_attachment(
                tx,
                &actor,
                now,
                &row,
                NewAttachment {
                    id: Uuid::now_v7(),
                    kind: "photo".into(),
                    mime: s.mime.clone(),
                    size_bytes: s.size_bytes,
                    sha256: s.sha256.clone(),
                    thumb_sha256: s.thumb_sha256.clone(),
                    width: s.width,
                    height: s.height,
                    duration_ms: None,
                },
            )
            .await?;
            cases::case_in_town(tx.db(), row.town_id, row.id).await?.ok_or_else(ApiError::internal)?
        }
        None => row,
    };
    crate::layers::tag_new_case(state, tx, &row, now).await?;
    if row.priority() == Priority::Urgent {
        let to =
            accounts::users_with_role_in_town(tx.db(), &[wuwei_domain::access::Role::Dispatcher], cam.town_id).await?;
        caseflow::notify(state, tx, now, &row, Notice::Urgent, &to).await?;
    }
    Ok(Some(row))
}

/// Open a case for an alarm waiting in the review queue (a dispatcher decided it is real).
/// `Ok(None)`: it has a case already, or was judged false.
pub async fn open_case_for(
    state: &AppState,
    actor: &Actor,
    a: &AlarmRow,
    now: DateTime<Utc>,
) -> ApiResult<Option<AlarmRow>> {
    if a.case_id.is_some() || a.verdict.as_deref() == Some("false") {
        return Ok(None);
    }
    let db = state.store().db();
    let cam = cameras::camera_in_town(db, a.town_id, a.camera_id).await?.ok_or_else(ApiError::not_found)?;
    let Some(t) = AlarmType::parse(&a.alarm_type) else { return Err(ApiError::internal()) };
    let snapshot = a.snapshot_sha256.as_ref().map(|sha| Snapshot {
        sha256: sha.clone(),
        mime: a.snapshot_mime.clone().unwrap_or_else(|| "image/jpeg".into()),
        size_bytes: 0,
        thumb_sha256: None,
        width: None,
        height: None,
    });
    let mut tx = state.store().begin().await?;
    let Some(case) =
        open_case(state, &mut tx, &cam, t, t.category_code(), t.priority(), snapshot.as_ref(), now).await?
    else {
        return Err(ApiError::conflict("conflict").with_detail("the town has no category for this alarm type"));
    };
    if !cameras::set_alarm_case(&tx, a, case.id).await? {
        return Ok(None);
    }
    let burst = cameras::burst(&tx, a.town_id, a.camera_id, &a.alarm_type).await?;
    cameras::record_burst(&tx, burst.as_ref(), a.town_id, a.camera_id, &a.alarm_type, case.id, a.occurred_at).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "alarm.open_case".into(),
        entity_type: "alarm".into(),
        entity_id: a.id.to_string(),
        town_id: Some(a.town_id),
        before: None,
        after: Some(json!({"case_id": case.id})),
    });
    tx.commit(now).await?;
    state.0.case_events.publish(CaseChange::of("created", &case));
    Ok(cameras::alarm(db, a.id).await?)
}

//! The one-click call (一键呼应): the one function every press goes through, whether from a
//! bound call button over MQTT (`mqtt.rs`) or from the resident's phone page
//! (`routes/one_click.rs`).
//!
//! A press opens an urgent case of source `one_click_call` at the household's location, routed
//! to the household's grid (its village committee when it has no grid, the routing rules when
//! neither), with the short accept deadline — or, within the fold window of the last press while
//! that case is open, counts one more press on it (a timeline note, the handler told again).
//! Everything is one transaction, including the device's `seq` or the resident's
//! `Idempotency-Key`; the change is published to the live stream after commit.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::access::Role;
use wuwei_domain::case::{CaseState, UnitKind};
use wuwei_domain::intake::one_click::{self, LastCall, OneClickSettings, PressDisposition};
use wuwei_store::cases::{self, CasePlace, CaseRow, EventDraft, NewCase};
use wuwei_store::devices::{self, DeviceRow};
use wuwei_store::households::HouseholdRow;
use wuwei_store::{Actor, AuditDraft, StoreError, accounts, catalog, regions};

use crate::caseflow::{self, CaseChange, IdemKey, Notice};
use crate::error::ApiError;
use crate::state::AppState;

/// Where a call is for: the household's place and location, or a place-bound device's.
#[derive(Debug, Clone)]
pub struct CallSite {
    /// The household, or the place-bound device: the key presses fold by.
    pub origin_id: Uuid,
    pub household_id: Option<Uuid>,
    pub place: CasePlace,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub who: Option<String>,
    pub phone: Option<String>,
}

impl CallSite {
    pub fn of_household(h: &HouseholdRow) -> CallSite {
        CallSite {
            origin_id: h.id,
            household_id: Some(h.id),
            place: CasePlace {
                area_id: h.area_id,
                admin_village_id: Some(h.admin_village_id),
                natural_village_id: Some(h.natural_village_id),
                grid_id: Some(h.grid_id),
            },
            lat: Some(h.lat),
            lon: Some(h.lon),
            address: Some(h.address.clone()),
            who: Some(h.head_name.clone()),
            phone: h.phone.clone(),
        }
    }
}

/// Who pressed.
pub enum Caller<'a> {
    /// A call button; its message's `seq` is recorded in the same transaction.
    Device { device: &'a DeviceRow, seq: i64 },
    /// A resident on the phone page; the key (if sent) is stored in the same transaction.
    Resident { user_id: Uuid, username: &'a str, idem: Option<&'a IdemKey> },
}

impl Caller<'_> {
    fn actor(&self) -> Actor {
        match self {
            Caller::Device { device, .. } => Actor::system(&format!("device {}", device.code)),
            Caller::Resident { user_id, username, .. } => Actor { id: Some(*user_id), name: username.to_string() },
        }
    }

    fn how(&self) -> String {
        match self {
            Caller::Device { device, .. } => format!("呼叫按钮 {}", device.code),
            Caller::Resident { .. } => "手机一键呼应".to_string(),
        }
    }
}

/// What a press did.
#[derive(Debug)]
pub enum Pressed {
    Created(CaseRow),
    Folded {
        case: CaseRow,
        press_count: i32,
    },
    /// The device's `seq` was taken by a racing copy of the message (a replay).
    SeqTaken,
}

#[derive(Debug)]
pub enum CallError {
    Api(ApiError),
    /// `Duplicate` here is a race: a first press of the same origin (the call row's key) or the
    /// same `Idempotency-Key`; the caller retries once or replays.
    Store(StoreError),
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> CallError {
        CallError::Store(e)
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> CallError {
        CallError::Api(e)
    }
}

/// One press. See the module docs.
pub async fn press(
    state: &AppState,
    town: &regions::RegionRow,
    site: &CallSite,
    caller: Caller<'_>,
    now: DateTime<Utc>,
) -> Result<Pressed, CallError> {
    let settings = OneClickSettings::default();
    let db = state.store().db();
    let categories = catalog::categories(db, town.id).await?;
    let Some(category) = categories.iter().find(|c| c.code == one_click::CATEGORY_CODE && c.active).cloned() else {
        tracing::error!(town = %town.id, category = one_click::CATEGORY_CODE, "no active one-click category");
        return Err(CallError::Api(ApiError::internal()));
    };
    let urgent = catalog::policy(db, town.id, category.id, one_click::PRIORITY).await?;
    let actor = caller.actor();

    let mut tx = state.store().begin().await?;
    match &caller {
        Caller::Device { device, seq } => {
            if !devices::accept_event(&tx, device, *seq, None, now).await? {
                return Ok(Pressed::SeqTaken);
            }
        }
        Caller::Resident { user_id, idem: Some(k), .. } => {
            let body = site.origin_id.to_string();
            let answer = wuwei_store::idempotency::Answer {
                key_hash: &k.key_hash,
                user_id: *user_id,
                request_hash: &k.request_hash,
                status: 200,
                body: &body,
            };
            wuwei_store::idempotency::store(&mut tx, now, answer).await?;
        }
        Caller::Resident { idem: None, .. } => {}
    }
    let previous = devices::last_call(&tx, town.id, site.origin_id).await?;
    let last = match &previous {
        Some(p) => {
            let open = cases::case_in_town(tx.db(), town.id, p.case_id).await?.is_some_and(|c| c.state().is_open());
            Some(LastCall { case_id: p.case_id, last_press_at: p.last_press_at, case_open: open })
        }
        None => None,
    };
    match one_click::dispose_press(last.as_ref(), now, settings) {
        PressDisposition::Fold { case_id } => {
            let call = devices::record_press(&tx, previous.as_ref(), town.id, site.origin_id, case_id, now).await?;
            let mut data = json!({"press_count": call.press_count});
            if let Caller::Device { device, seq } = &caller {
                data["device"] = json!(device.code);
                data["seq"] = json!(seq);
            }
            cases::add_event(
                &tx,
                town.id,
                case_id,
                now,
                EventDraft {
                    actor: &actor,
                    action: "note",
                    from: None,
                    to: None,
                    note: Some(format!("{} 再次按下（共 {} 次）", caller.how(), call.press_count)),
                    data: Some(data.clone()),
                },
            )
            .await?;
            tx.audit(AuditDraft {
                actor: actor.clone(),
                action: "case.one_click_press".into(),
                entity_type: "case".into(),
                entity_id: case_id.to_string(),
                town_id: Some(town.id),
                before: None,
                after: Some(data),
            });
            let case = cases::case_in_town(tx.db(), town.id, case_id).await?.ok_or(StoreError::NotFound)?;
            // Tell whoever has the call again: the handler once accepted, else the unit.
            let mut to = match case.handler_id {
                Some(h) => accounts::users_by_ids(tx.db(), &[h]).await?,
                None => Vec::new(),
            };
            if to.is_empty()
                && let Some(unit_id) = case.unit_id
                && let Some(u) = catalog::unit(tx.db(), town.id, unit_id).await?
            {
                to = caseflow::unit_members(tx.db(), &u).await?;
            }
            caseflow::notify(state, &tx, now, &case, Notice::Urgent, &to).await?;
            tx.commit(now).await?;
            state.0.case_events.publish(CaseChange::of("updated", &case));
            Ok(Pressed::Folded { case, press_count: call.press_count })
        }
        PressDisposition::NewCase => {
            // Whoever the routing rules name, a call goes to the household's grid first (its
            // village committee when it has no grid, the town's default office when neither).
            let unit = match site.place.grid_id {
                Some(grid) => match regions::region_in_town(tx.db(), town.id, grid).await? {
                    Some(r) => {
                        Some(catalog::region_unit(&mut tx, now, town.id, one_click::UNIT_KIND, grid, &r.name).await?)
                    }
                    None => None,
                },
                None => None,
            };
            let unit = match unit {
                Some(u) => Some(u),
                None => caseflow::route(&mut tx, now, town.id, &categories, &category, &site.place).await?,
            };
            let (who, description, reporter_id) = match &caller {
                Caller::Device { device, .. } => (
                    site.who.clone().unwrap_or_else(|| device.name.clone()),
                    format!("呼叫按钮 {} 按下求助，请尽快联系并上门查看。", device.code),
                    None,
                ),
                Caller::Resident { user_id, .. } => (
                    site.who.clone().unwrap_or_else(|| "村民".into()),
                    "村民通过手机一键呼应求助，请尽快联系并上门查看。".to_string(),
                    Some(*user_id),
                ),
            };
            let row = cases::insert_case(
                &mut tx,
                &actor,
                now,
                NewCase {
                    id: Uuid::now_v7(),
                    town_id: town.id,
                    short_code: town.short_code.clone().unwrap_or_else(|| "WW".into()),
                    category_id: category.id,
                    priority: one_click::PRIORITY,
                    title: format!("一键呼应：{who}").chars().take(100).collect(),
                    description,
                    lat: site.lat,
                    lon: site.lon,
                    address: site.address.clone(),
                    household_id: site.household_id,
                    place: site.place,
                    source: one_click::SOURCE,
                    reporter_id,
                    reporter_name: site.who.clone(),
                    reporter_phone: site.phone.clone(),
                    state: CaseState::Reported,
                    unit_id: unit.as_ref().map(|u| u.id),
                    policy: settings.policy(urgent),
                    possible_duplicate_of: None,
                },
            )
            .await?;
            devices::record_press(&tx, previous.as_ref(), town.id, site.origin_id, row.id, now).await?;
            crate::layers::tag_new_case(state, &mut tx, &row, now).await?;
            let mut to = accounts::users_with_role_in_town(tx.db(), &[Role::Dispatcher], town.id).await?;
            if let Some(u) = &unit
                && u.unit_kind() == Some(UnitKind::Grid)
            {
                to.extend(caseflow::unit_members(tx.db(), u).await?);
            }
            caseflow::notify(state, &tx, now, &row, Notice::Urgent, &to).await?;
            tx.commit(now).await?;
            state.0.case_events.publish(CaseChange::of("created", &row));
            Ok(Pressed::Created(row))
        }
    }
}

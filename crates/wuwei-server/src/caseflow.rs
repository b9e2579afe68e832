//! The case loop as a service: creating cases, taking actions, who may do what on a case, whom
//! to notify, and the live stream of changes. HTTP handlers, Open311 and device intake all
//! create and move cases through here, so the rules hold whichever way a case arrives.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission, Principal, Role};
use wuwei_domain::case::{
    self as rules, Action, ActionInput, Capacity, CaseFacts, CaseState, Priority, RouteTarget, RoutingRule, Source,
    UnitKind, WorkflowError,
};
use wuwei_domain::geo::Point;
use wuwei_domain::validate::Rule;
use wuwei_store::cases::{self, CasePlace, CaseRow, CaseVisibility, NewCase, TransitionChanges};

use wuwei_store::catalog::{self, CategoryRow, UnitRow};
use wuwei_store::notify::{self, NewNotification};
use wuwei_store::{Actor, Tx, accounts, households, regions};

use crate::batch::Batcher;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Changes waiting in the live stream per subscriber before it is told to resync.
pub const STREAM_BUFFER: usize = 1024;

/// A change of a case, as the live stream carries it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseChange {
    pub kind: &'static str,
    pub case_id: Uuid,
    pub town_id: Uuid,
    pub number: String,
    pub state: String,
    pub card: String,
    pub priority: String,
    pub title: String,
    pub category_id: Uuid,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub unit_id: Option<Uuid>,
    #[serde(skip)]
    pub place: CasePlace,
    #[serde(skip)]
    pub reporter_id: Option<Uuid>,
    /// The household the case is about (the resident's one-click stream filters on it).
    #[serde(skip)]
    pub household_id: Option<Uuid>,
    pub version: i32,
    pub at: DateTime<Utc>,
}

impl CaseChange {
    pub fn of(kind: &'static str, c: &CaseRow) -> CaseChange {
        CaseChange {
            kind,
            case_id: c.id,
            town_id: c.town_id,
            number: c.number.clone(),
            state: c.state.clone(),
            card: c.card.clone(),
            priority: c.priority.clone(),
            title: c.title.clone(),
            category_id: c.category_id,
            lat: c.lat,
            lon: c.lon,
            unit_id: c.unit_id,
            place: CasePlace {
                area_id: c.area_id,
                admin_village_id: c.admin_village_id,
                natural_village_id: c.natural_village_id,
                grid_id: c.grid_id,
            },
            reporter_id: c.reporter_id,
            household_id: c.household_id,
            version: c.version,
            at: c.updated_at,
        }
    }
}

/// The in-process fan-out of case changes (one server; servers sharing a PostgreSQL database
/// each see their own writes — see ARCHITECTURE.md).
pub struct CaseEvents {
    tx: broadcast::Sender<CaseChange>,
}

impl Default for CaseEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl CaseEvents {
    pub fn new() -> CaseEvents {
        CaseEvents { tx: broadcast::channel(STREAM_BUFFER).0 }
    }

    pub fn publish(&self, change: CaseChange) {
        // No subscribers is fine: nobody is watching.
        let _ = self.tx.send(change);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CaseChange> {
        self.tx.subscribe()
    }
}

// ---- who may see and do what ----

/// What a caller sees of cases: scopes with `cases.read`, units they handle for, and their own
/// reports.
pub async fn visibility(state: &AppState, principal: &Principal) -> ApiResult<CaseVisibility> {
    let scopes = principal.scopes_with(Permission::CasesRead);
    let city_towns = wuwei_store::households::city_towns(state.store().db(), &scopes)
        .await?
        .into_iter()
        .flat_map(|(_, t)| t)
        .collect();
    Ok(CaseVisibility {
        scopes,
        city_towns,
        unit_ids: handler_units(state, principal).await?,
        reporter_id: (principal.api_token_id.is_none()).then_some(principal.user_id),
    })
}

/// Units the principal handles cases for: the units of their grids (grid workers), of their
/// admin villages (village cadres and grid chiefs), and offices they are members of.
pub async fn handler_units(state: &AppState, principal: &Principal) -> ApiResult<Vec<Uuid>> {
    let db = state.store().db();
    let mut ids: Vec<Uuid> = catalog::units_of_regions(db, &handler_regions(principal))
        .await?
        .into_iter()
        .filter(|u| matches!(u.unit_kind(), Some(UnitKind::Grid | UnitKind::VillageCommittee)))
        .map(|u| u.id)
        .collect();
    if principal.api_token_id.is_none() {
        ids.extend(member_units(state, principal.user_id).await?.iter().map(|(_, u)| *u));
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Users' explicit unit memberships, `(town, unit)`, as last read: every new case's answer
/// asks whether the reporter handles for the unit that took it, and a dispatcher's desk asks on
/// every request. An entry stands while the store's auth epoch has not moved (a membership
/// added in this process moves it) and for at most [`MemberUnits::MAX_AGE`] (one added by
/// another server on the same PostgreSQL); at most [`MemberUnits::MAX_ENTRIES`] are kept.
#[derive(Default)]
pub struct MemberUnits {
    entries: std::sync::Mutex<HashMap<Uuid, MemberUnitsEntry>>,
}

/// The auth epoch it was read under, when, and the memberships `(town, unit)`.
type MemberUnitsEntry = (u64, std::time::Instant, Arc<Vec<(Uuid, Uuid)>>);

impl MemberUnits {
    pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(2);
    pub const MAX_ENTRIES: usize = 4_096;
}

/// The user's explicit unit memberships, `(town, unit)` (see [`MemberUnits`]).
pub async fn member_units(state: &AppState, user_id: Uuid) -> ApiResult<Arc<Vec<(Uuid, Uuid)>>> {
    let cache = &state.0.member_units;
    // Read before the rows (see `Store::auth_epoch`): a change made meanwhile ends the entry.
    let epoch = state.store().auth_epoch();
    if let Ok(entries) = cache.entries.lock()
        && let Some((e, at, units)) = entries.get(&user_id)
        && *e == epoch
        && at.elapsed() < MemberUnits::MAX_AGE
    {
        return Ok(units.clone());
    }
    let units = Arc::new(catalog::member_units(state.store().db(), user_id).await?);
    if let Ok(mut entries) = cache.entries.lock() {
        if entries.len() >= MemberUnits::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(user_id, (epoch, std::time::Instant::now(), units.clone()));
    }
    Ok(units)
}

/// The regions whose grid or village committee units the principal handles for.
fn handler_regions(principal: &Principal) -> Vec<Uuid> {
    principal
        .bindings
        .iter()
        .filter_map(|b| match (b.role, b.scope.level) {
            (Role::GridWorker, Level::Grid) => b.scope.id(),
            (Role::VillageCadre | Role::GridChief, Level::AdminVillage) => b.scope.id(),
            _ => None,
        })
        .collect()
}

/// [`capacities`] on a case just written, from what the write knew: its unit and its town's
/// city. The principal's explicit unit memberships are read only when the unit is not theirs
/// by region.
pub async fn capacities_on_new(
    state: &AppState,
    principal: &Principal,
    c: &CaseRow,
    unit: Option<&UnitRow>,
    city_id: Uuid,
) -> ApiResult<Vec<Capacity>> {
    let mut out = Vec::new();
    if principal.can(Permission::CasesDispatch, &c.place(Some(city_id))) {
        out.push(Capacity::Dispatcher);
    }
    if principal.api_token_id.is_none() && c.reporter_id == Some(principal.user_id) {
        out.push(Capacity::Reporter);
    }
    let handles = match unit {
        None => false,
        Some(u) => {
            let by_region = matches!(u.unit_kind(), Some(UnitKind::Grid | UnitKind::VillageCommittee))
                && u.region_id.is_some_and(|r| handler_regions(principal).contains(&r));
            by_region
                || (principal.api_token_id.is_none()
                    && member_units(state, principal.user_id).await?.iter().any(|(_, id)| *id == u.id))
        }
    };
    if c.handler_id == Some(principal.user_id) || handles {
        out.push(Capacity::Handler);
    }
    Ok(out)
}

async fn city_of(state: &AppState, town_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(regions::region_in_town(state.store().db(), town_id, town_id).await?.map(|t| t.city_id))
}

/// The capacities the principal has on this case.
pub async fn capacities(state: &AppState, principal: &Principal, c: &CaseRow) -> ApiResult<Vec<Capacity>> {
    let mut out = Vec::new();
    let place = c.place(city_of(state, c.town_id).await?);
    if principal.can(Permission::CasesDispatch, &place) {
        out.push(Capacity::Dispatcher);
    }
    if principal.api_token_id.is_none() && cases::is_reporter(state.store().db(), c, principal.user_id).await? {
        out.push(Capacity::Reporter);
    }
    let handles = c.handler_id == Some(principal.user_id)
        || match c.unit_id {
            Some(u) => handler_units(state, principal).await?.contains(&u),
            None => false,
        };
    if handles {
        out.push(Capacity::Handler);
    }
    Ok(out)
}

/// Whether the principal may read the case: in a `cases.read` scope, or with a capacity on it.
pub async fn can_read(state: &AppState, principal: &Principal, c: &CaseRow) -> ApiResult<bool> {
    let place = c.place(city_of(state, c.town_id).await?);
    if principal.can(Permission::CasesRead, &place) {
        return Ok(true);
    }
    Ok(!capacities(state, principal, c).await?.is_empty())
}

/// The case if the principal may read it; 404 otherwise (existence is not revealed).
pub async fn readable(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<CaseRow> {
    let c = cases::case_by_id(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    if !can_read(state, principal, &c).await? {
        return Err(ApiError::not_found());
    }
    Ok(c)
}

// ---- routing ----

/// The category and its ancestors, nearest first.
fn category_chain(all: &[CategoryRow], id: Uuid) -> Vec<Uuid> {
    let mut chain = Vec::new();
    let mut next = Some(id);
    while let Some(c) = next {
        if chain.contains(&c) || chain.len() > 8 {
            break;
        }
        chain.push(c);
        next = all.iter().find(|x| x.id == c).and_then(|x| x.parent_id);
    }
    chain
}

/// Routing for the cases of one town in one transaction: the town's rules and the units at the
/// cases' places read once, other units and regions looked up as needed and kept, so that a
/// batch of reports routes with two reads instead of two or three for each.
pub struct Router {
    town_id: Uuid,
    rules: Vec<RoutingRule>,
    /// Units by (kind, region): those of the places given, and those made since.
    at_place: std::collections::HashMap<(String, Uuid), UnitRow>,
    by_id: std::collections::HashMap<Uuid, Option<UnitRow>>,
    regions: std::collections::HashMap<Uuid, Option<regions::RegionRow>>,
}

impl Router {
    /// A router for cases at `places`.
    pub async fn load(tx: &Tx, town_id: Uuid, places: &[CasePlace]) -> ApiResult<Router> {
        let rules = catalog::rules(tx.db(), town_id)
            .await?
            .iter()
            .map(|r| RoutingRule {
                category_id: r.category_id,
                region_id: r.region_id,
                unit_kind: r.unit_kind.as_deref().and_then(UnitKind::parse),
                unit_id: r.unit_id,
            })
            .collect();
        Ok(Router { rules, ..Router::without_rules(tx, town_id, places).await? })
    }

    /// A router that only finds the units at places (escalation follows no rules).
    async fn without_rules(tx: &Tx, town_id: Uuid, places: &[CasePlace]) -> ApiResult<Router> {
        let mut ids: Vec<Uuid> = places.iter().flat_map(|p| [p.grid_id, p.admin_village_id]).flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        let at_place = catalog::units_at_regions(tx.db(), town_id, &ids)
            .await?
            .into_iter()
            .filter_map(|u| u.region_id.map(|r| ((u.kind.clone(), r), u)))
            .collect();
        Ok(Router {
            town_id,
            rules: Vec::new(),
            at_place,
            by_id: std::collections::HashMap::new(),
            regions: std::collections::HashMap::new(),
        })
    }

    /// A unit of the town by id, read once per router.
    async fn unit(&mut self, tx: &Tx, id: Uuid) -> ApiResult<Option<UnitRow>> {
        if let Some(u) = self.by_id.get(&id) {
            return Ok(u.clone());
        }
        let u = catalog::unit(tx.db(), self.town_id, id).await?;
        self.by_id.insert(id, u.clone());
        Ok(u)
    }

    /// The town's default office (whom a case without a place goes to), read once per router.
    async fn default_office(&mut self, tx: &Tx) -> ApiResult<Option<UnitRow>> {
        // Kept under the nil id, which no unit has.
        if let Some(u) = self.by_id.get(&Uuid::nil()) {
            return Ok(u.clone());
        }
        let u = catalog::unit_by_code(tx.db(), self.town_id, rules::DEFAULT_ESCALATION_OFFICE).await?;
        self.by_id.insert(Uuid::nil(), u.clone());
        Ok(u)
    }

    /// A region of the town, read once per router.
    pub async fn region(&mut self, tx: &Tx, id: Uuid) -> ApiResult<Option<regions::RegionRow>> {
        if let Some(r) = self.regions.get(&id) {
            return Ok(r.clone());
        }
        let r = regions::region_in_town(tx.db(), self.town_id, id).await?;
        self.regions.insert(id, r.clone());
        Ok(r)
    }

    /// Where a new case goes: routing rules, else the category's default unit at the case's
    /// place (a grid falls back to its village committee when the case has no grid).
    pub async fn route(
        &mut self,
        tx: &mut Tx,
        now: DateTime<Utc>,
        categories: &[CategoryRow],
        category: &CategoryRow,
        place: &CasePlace,
    ) -> ApiResult<Option<UnitRow>> {
        let places: Vec<Uuid> =
            [place.grid_id, place.natural_village_id, place.admin_village_id].into_iter().flatten().collect();
        let default_kind = UnitKind::parse(&category.default_unit_kind).unwrap_or(UnitKind::VillageCommittee);
        match rules::route(&category_chain(categories, category.id), default_kind, &places, &self.rules) {
            RouteTarget::Unit(id) => self.unit(tx, id).await,
            RouteTarget::AtPlace(kind) => {
                let mut unit = self.unit_at(tx, now, kind, place).await?;
                if unit.is_none() && kind == UnitKind::Grid {
                    unit = self.unit_at(tx, now, UnitKind::VillageCommittee, place).await?;
                }
                if unit.is_none() {
                    // No place to route by: the town's default office takes it, and dispatch decides.
                    unit = self.default_office(tx).await?;
                }
                Ok(unit)
            }
        }
    }

    /// The unit of `kind` at a place (the grid's, the admin village's), made on first use.
    async fn unit_at(
        &mut self,
        tx: &mut Tx,
        now: DateTime<Utc>,
        kind: UnitKind,
        place: &CasePlace,
    ) -> ApiResult<Option<UnitRow>> {
        let region_id = match kind {
            UnitKind::Grid => place.grid_id,
            UnitKind::VillageCommittee => place.admin_village_id,
            _ => None,
        };
        let Some(region_id) = region_id else { return Ok(None) };
        if let Some(u) = self.at_place.get(&(kind.as_str().to_string(), region_id)) {
            return Ok(Some(u.clone()));
        }
        let Some(region) = self.region(tx, region_id).await? else { return Ok(None) };
        let name = match kind {
            UnitKind::VillageCommittee => format!("{}村民委员会", region.name.trim_end_matches('村')),
            _ => region.name.clone(),
        };
        let unit = catalog::region_unit(tx, now, self.town_id, kind, region_id, &name).await?;
        self.at_place.insert((kind.as_str().to_string(), region_id), unit.clone());
        Ok(Some(unit))
    }
}

/// Where a new case goes (see [`Router::route`]), for a single case.
pub async fn route(
    tx: &mut Tx,
    now: DateTime<Utc>,
    town_id: Uuid,
    categories: &[CategoryRow],
    category: &CategoryRow,
    place: &CasePlace,
) -> ApiResult<Option<UnitRow>> {
    Router::load(tx, town_id, std::slice::from_ref(place)).await?.route(tx, now, categories, category, place).await
}

/// The unit an overdue case escalates to from `from`, or `None` at the top.
pub async fn escalation_target(
    tx: &mut Tx,
    now: DateTime<Utc>,
    c: &CaseRow,
    from: &UnitRow,
) -> ApiResult<Option<UnitRow>> {
    let place = CasePlace {
        area_id: c.area_id,
        admin_village_id: c.admin_village_id,
        natural_village_id: c.natural_village_id,
        grid_id: c.grid_id,
    };
    let Some(next) = from.unit_kind().and_then(UnitKind::escalates_to) else { return Ok(None) };
    match next {
        UnitKind::VillageCommittee => {
            match Router::without_rules(tx, c.town_id, &[place]).await?.unit_at(tx, now, next, &place).await? {
                Some(u) => Ok(Some(u)),
                None => Ok(catalog::unit_by_code(tx.db(), c.town_id, rules::DEFAULT_ESCALATION_OFFICE).await?),
            }
        }
        UnitKind::TownOffice => {
            // The office the category's rules name, else the default office.
            let categories = catalog::categories(tx.db(), c.town_id).await?;
            let rules_rows = catalog::rules(tx.db(), c.town_id).await?;
            let chain = category_chain(&categories, c.category_id);
            let office = chain.iter().find_map(|cat| {
                rules_rows.iter().find(|r| r.category_id == Some(*cat) && r.unit_id.is_some()).and_then(|r| r.unit_id)
            });
            if let Some(id) = office
                && let Some(u) = catalog::unit(tx.db(), c.town_id, id).await?
                && u.unit_kind().is_some_and(|k| k.level() == 2)
            {
                return Ok(Some(u));
            }
            Ok(catalog::unit_by_code(tx.db(), c.town_id, rules::DEFAULT_ESCALATION_OFFICE).await?)
        }
        UnitKind::County => {
            Ok(catalog::units(tx.db(), c.town_id).await?.into_iter().find(|u| u.unit_kind() == Some(UnitKind::County)))
        }
        _ => Ok(None),
    }
}

// ---- notifications ----

/// Members of a unit: the grid's workers, the village's cadres and grid chief, or an office's
/// listed members.
pub async fn unit_members(state_db: &impl wuwei_store::Conn, unit: &UnitRow) -> ApiResult<Vec<accounts::UserRow>> {
    match (unit.unit_kind(), unit.region_id) {
        (Some(UnitKind::Grid), Some(region)) => {
            Ok(accounts::users_with_role_at(state_db, &[Role::GridWorker], region).await?)
        }
        (Some(UnitKind::VillageCommittee), Some(region)) => {
            Ok(accounts::users_with_role_at(state_db, &[Role::VillageCadre, Role::GridChief], region).await?)
        }
        _ => {
            let ids = catalog::unit_members(state_db, unit.town_id, unit.id).await?;
            Ok(accounts::users_by_ids(state_db, &ids).await?.into_iter().filter(|u| !u.disabled).collect())
        }
    }
}

/// What happened, for the message texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Dispatched,
    Returned,
    Resolved,
    Closed,
    Urge,
    RedCard,
    Escalated,
    Supervision,
    Urgent,
}

impl Notice {
    fn kind(self) -> &'static str {
        match self {
            Notice::Dispatched => "dispatched",
            Notice::Returned => "returned",
            Notice::Resolved => "resolved",
            Notice::Closed => "closed",
            Notice::Urge => "urge",
            Notice::RedCard => "red_card",
            Notice::Escalated => "escalated",
            Notice::Supervision => "supervision",
            Notice::Urgent => "urgent",
        }
    }

    /// Messages are stored in Chinese: they go to phones and group chats of the town's staff.
    fn text(self, c: &CaseRow) -> (String, String) {
        let what = format!("{}「{}」", c.number, c.title);
        match self {
            Notice::Dispatched => ("新的派遣任务".into(), format!("事件 {what} 已派给你们处置，请及时受理。")),
            Notice::Returned => ("事件被退回".into(), format!("事件 {what} 已被退回，请查看原因。")),
            Notice::Resolved => ("事件已办结待核查".into(), format!("事件 {what} 已办结，请核查销号。")),
            Notice::Closed => ("您反映的事件已办结".into(), format!("您反映的事件 {what} 已办结销号，请评价。")),
            Notice::Urge => ("催办".into(), format!("事件 {what} 时限已过四分之三，请抓紧处置。")),
            Notice::RedCard => ("事件已超时（红牌）".into(), format!("事件 {what} 已超过时限。")),
            Notice::Escalated => ("事件升级".into(), format!("事件 {what} 超时未办结，已升级由你们处置。")),
            Notice::Supervision => ("督办".into(), format!("事件 {what} 已被督办，请按期办结。")),
            Notice::Urgent => ("紧急事件".into(), format!("新的紧急事件 {what}，请立即受理。")),
        }
    }

    /// Whether the notice also goes out by SMS and to the WeCom group, when configured.
    fn is_loud(self, c: &CaseRow) -> bool {
        matches!(self, Notice::RedCard | Notice::Escalated | Notice::Supervision | Notice::Urgent)
            || (self == Notice::Dispatched && c.priority() == Priority::Urgent)
    }
}

/// Queue notices for `recipients` in the outbox, in the caller's transaction.
pub async fn notify(
    state: &AppState,
    tx: &Tx,
    now: DateTime<Utc>,
    c: &CaseRow,
    notice: Notice,
    recipients: &[accounts::UserRow],
) -> ApiResult<()> {
    let (title, body) = notice.text(c);
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let loud = notice.is_loud(c);
    for u in recipients.iter().filter(|u| seen.insert(u.id)) {
        items.push(NewNotification {
            town_id: c.town_id,
            case_id: Some(c.id),
            kind: notice.kind().into(),
            channel: notify::INBOX,
            recipient_id: Some(u.id),
            recipient_phone: None,
            title: title.clone(),
            body: body.clone(),
        });
        if loud && state.config().sms_webhook_url.is_some() && u.phone.is_some() {
            items.push(NewNotification {
                town_id: c.town_id,
                case_id: Some(c.id),
                kind: notice.kind().into(),
                channel: notify::SMS,
                recipient_id: Some(u.id),
                recipient_phone: u.phone.clone(),
                title: title.clone(),
                body: body.clone(),
            });
        }
    }
    if loud && state.config().wecom_webhook_url.is_some() {
        items.push(NewNotification {
            town_id: c.town_id,
            case_id: Some(c.id),
            kind: notice.kind().into(),
            channel: notify::WECOM,
            recipient_id: None,
            recipient_phone: None,
            title,
            body,
        });
    }
    if !items.is_empty() {
        notify::enqueue(tx, now, items).await?;
    }
    Ok(())
}

async fn dispatchers(tx: &Tx, town_id: Uuid) -> ApiResult<Vec<accounts::UserRow>> {
    Ok(accounts::users_with_role_in_town(tx.db(), &[Role::Dispatcher], town_id).await?)
}

// ---- creating ----

/// A new case as a client describes it (validated by the caller's parser).
#[derive(Debug, Clone)]
pub struct CaseInput {
    pub town_id: Option<Uuid>,
    pub category_id: Uuid,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub household_id: Option<Uuid>,
    pub source: Option<Source>,
    pub draft: bool,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
}

/// The default source for a reporter without one given.
fn default_source(principal: &Principal) -> Source {
    if principal.has_role(Role::GridWorker) {
        Source::GridWorker
    } else if principal.bindings.iter().all(|b| b.role == Role::Resident) && !principal.bindings.is_empty() {
        Source::Resident
    } else {
        Source::Staff
    }
}

/// Where a case is: a household's place, or a point located in the town (its area, which
/// comes from its admin village, is looked up in the write batch: `area_pending`).
async fn resolve_place(state: &AppState, town_id: Uuid, input: &CaseInput) -> ApiResult<Located> {
    if let Some(hid) = input.household_id {
        let h = households::household(state.store().db(), hid).await?.filter(|h| h.town_id == town_id);
        let Some(h) = h else { return Err(ApiError::field("household_id", Rule::UnknownReference)) };
        let place = CasePlace {
            area_id: h.area_id,
            admin_village_id: Some(h.admin_village_id),
            natural_village_id: Some(h.natural_village_id),
            grid_id: Some(h.grid_id),
        };
        return Ok(Located {
            place,
            area_pending: false,
            lat: input.lat.or(Some(h.lat)),
            lon: input.lon.or(Some(h.lon)),
        });
    }
    match (input.lat, input.lon) {
        (Some(lat), Some(lon)) => {
            let index = state.0.locator.town(state.store(), town_id).await?;
            let p = Point { lon, lat };
            if !index.contains(p) {
                return Err(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "outside_town")
                    .with_field("lat", Rule::NotAllowed { reason: "outside_town" }));
            }
            let found = index.locate(p);
            let place = CasePlace {
                area_id: None,
                admin_village_id: found.admin_village_id,
                natural_village_id: found.natural_village_id,
                grid_id: found.grid_id,
            };
            Ok(Located { place, area_pending: true, lat: Some(lat), lon: Some(lon) })
        }
        (None, None) if input.address.as_deref().is_some_and(|a| !a.trim().is_empty()) => {
            Ok(Located { place: CasePlace::default(), area_pending: false, lat: None, lon: None })
        }
        _ => Err(ApiError::field("lat", Rule::Required)),
    }
}

/// A new case's place and point.
#[derive(Debug, Clone, Copy)]
struct Located {
    place: CasePlace,
    area_pending: bool,
    lat: Option<f64>,
    lon: Option<f64>,
}

/// The town a new case belongs to: the one given (and visible), else the point's, else the
/// reporter's only town.
async fn resolve_town(state: &AppState, principal: &Principal, input: &CaseInput) -> ApiResult<Uuid> {
    let towns = crate::dto::visible_town_ids(state, principal).await?;
    if let Some(t) = input.town_id {
        return if towns.contains(&t) { Ok(t) } else { Err(ApiError::field("town_id", Rule::UnknownReference)) };
    }
    if let Some(hid) = input.household_id
        && let Some(h) = households::household(state.store().db(), hid).await?
        && towns.contains(&h.town_id)
    {
        return Ok(h.town_id);
    }
    if let (Some(lat), Some(lon)) = (input.lat, input.lon) {
        for t in &towns {
            if state.0.locator.town(state.store(), *t).await?.contains(Point { lon, lat }) {
                return Ok(*t);
            }
        }
        return Err(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "outside_town")
            .with_field("lat", Rule::NotAllowed { reason: "outside_town" }));
    }
    match towns.as_slice() {
        [only] => Ok(*only),
        _ => Err(ApiError::field("town_id", Rule::Required)),
    }
}

/// An `Idempotency-Key` as stored: hashes of the (user, key) pair and of the request body.
#[derive(Debug, Clone)]
pub struct IdemKey {
    pub key_hash: String,
    pub request_hash: String,
}

/// Whether the principal may report cases in the town: a binding in the town, or one over its
/// city (only then is the town read).
async fn may_report(state: &AppState, principal: &Principal, town_id: Uuid) -> ApiResult<()> {
    let reporting = || principal.bindings.iter().filter(|b| b.role.has(Permission::CasesReport));
    if reporting().any(|b| b.scope.place.town_id == Some(town_id)) {
        return Ok(());
    }
    if reporting().any(|b| b.scope.level == Level::City) {
        let town =
            regions::region_in_town(state.store().db(), town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
        if reporting().any(|b| b.scope.level == Level::City && b.scope.place.city_id == Some(town.city_id)) {
            return Ok(());
        }
    }
    Err(ApiError::forbidden())
}

/// Create a case: check the reporter's right and the place, flag a possible duplicate, then hand
/// it to the intake's group commit (see [`CaseJob`]), which checks the category, routes it and
/// writes it with its timeline and audit entries; then announce it. `user` is the reporter's
/// account when the caller has it at hand (it is read otherwise).
///
/// With `idem`, the key is written first in the same transaction as the case: a concurrent or
/// later twin fails on the key's uniqueness and gets `StoreError::Duplicate`, never a second case.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    user: Option<&accounts::UserRow>,
    actor: &Actor,
    input: CaseInput,
    idem: Option<&IdemKey>,
) -> ApiResult<Created> {
    let now = state.now();
    let town_id = resolve_town(state, principal, &input).await?;
    may_report(state, principal, town_id).await?;
    let located = resolve_place(state, town_id, &input).await?;
    let duplicate = match (located.lat, located.lon) {
        (Some(la), Some(lo)) if !input.draft => {
            cases::find_duplicate(state.store().db(), town_id, input.category_id, la, lo, now).await?
        }
        _ => None,
    };
    let source = input.source.unwrap_or_else(|| default_source(principal));
    let reporter_id = principal.api_token_id.is_none().then_some(principal.user_id);
    let (reporter_name, reporter_phone) = match (input.reporter_name.clone(), input.reporter_phone.clone()) {
        (None, None) if reporter_id.is_some() => {
            let read;
            let u = match user.filter(|u| u.id == principal.user_id) {
                Some(u) => Some(u),
                None => {
                    read = accounts::user(state.store().db(), principal.user_id).await?;
                    read.as_ref()
                }
            };
            (u.map(|u| u.display_name.clone()), u.and_then(|u| u.phone.clone()))
        }
        other => other,
    };
    let job = CaseJob {
        actor: actor.clone(),
        user_id: principal.user_id,
        town_id,
        located,
        duplicate,
        source,
        reporter_id,
        reporter_name,
        reporter_phone,
        idem: idem.cloned(),
        input,
    };
    let created = state.case_writer().submit(job).await??;
    state.0.case_events.publish(CaseChange::of("created", &created.row));
    Ok(created)
}

/// A case just written, with what its write knew (enough to answer without reading it back).
pub struct Created {
    pub row: CaseRow,
    /// Its first timeline entry.
    pub event: cases::EventRow,
    pub category: CategoryRow,
    pub unit: Option<UnitRow>,
    pub tags: Vec<String>,
    pub city_id: Uuid,
}

/// A report checked and located outside the write lock, waiting for the intake's group commit
/// (see `crate::batch`): what is left needs the town's catalogue, read once per batch.
pub struct CaseJob {
    actor: Actor,
    user_id: Uuid,
    town_id: Uuid,
    input: CaseInput,
    located: Located,
    duplicate: Option<Uuid>,
    source: Source,
    reporter_id: Option<Uuid>,
    reporter_name: Option<String>,
    reporter_phone: Option<String>,
    idem: Option<IdemKey>,
}

/// The intake's group commit: reports from every request queue here and are written together,
/// at most [`MAX_CASE_BATCH`] in one transaction per town.
pub type CaseWriter = Batcher<CaseJob, ApiResult<Created>>;

/// Reports waiting at most (beyond that the reporter is answered 503 and may retry).
const CASE_QUEUE_LEN: usize = 4_096;

/// Reports written in one transaction at most.
pub const MAX_CASE_BATCH: usize = 64;

impl AppState {
    /// The intake's group commit, started on first use. Its worker holds the state weakly, so a
    /// dropped server (a test's) stops it.
    pub fn case_writer(&self) -> &CaseWriter {
        self.0.case_writer.get_or_init(|| {
            let weak = std::sync::Arc::downgrade(&self.0);
            Batcher::spawn(CASE_QUEUE_LEN, MAX_CASE_BATCH, move |jobs: Vec<CaseJob>| {
                let state = weak.upgrade().map(AppState);
                async move {
                    match state {
                        Some(state) => create_jobs(&state, &jobs).await,
                        None => jobs.iter().map(|_| Err(ApiError::internal())).collect(),
                    }
                }
            })
        })
    }
}

/// Write a batch of reports, one transaction per town. When a transaction fails as a whole (a
/// database error, or two reports under one `Idempotency-Key`), its reports are written again
/// one by one, so that one report's trouble is only its own.
async fn create_jobs(state: &AppState, jobs: &[CaseJob]) -> Vec<ApiResult<Created>> {
    let now = state.now();
    crate::batch::per_group(
        "case",
        jobs,
        |j| j.town_id,
        |group: Vec<&CaseJob>| async move { create_together(state, now, &group).await },
        ApiError::internal,
    )
    .await
}

/// One transaction for reports of one town: the town, its categories, deadline policies and
/// routing read once; each report checked, routed and written; committed when any was
/// accepted. A report refused (an unknown category) is answered so and takes nothing with it.
async fn create_together(
    state: &AppState,
    now: DateTime<Utc>,
    jobs: &[&CaseJob],
) -> ApiResult<Vec<ApiResult<Created>>> {
    let Some(first) = jobs.first() else { return Ok(Vec::new()) };
    let town_id = first.town_id;
    let mut tx = state.store().begin().await?;
    let Some(town) = regions::region_in_town(tx.db(), town_id, town_id).await? else {
        return Ok(jobs.iter().map(|_| Err(ApiError::not_found())).collect());
    };
    let short_code = town.short_code.clone().unwrap_or_else(|| "WW".into());
    let categories = catalog::categories(tx.db(), town_id).await?;
    let policies = catalog::policies(tx.db(), town_id).await?;
    let places: Vec<CasePlace> = jobs.iter().map(|j| j.located.place).collect();
    let mut router = Router::load(&tx, town_id, &places).await?;
    let mut outcomes: Vec<Option<ApiResult<Created>>> = jobs.iter().map(|_| None).collect();
    let mut accepted: Vec<(usize, CategoryRow, Option<UnitRow>)> = Vec::with_capacity(jobs.len());
    let mut new_cases = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let input = &job.input;
        let Some(category) = categories.iter().find(|c| c.id == input.category_id && c.active) else {
            outcomes[i] = Some(Err(ApiError::field("category_id", Rule::UnknownReference)));
            continue;
        };
        let mut place = job.located.place;
        if job.located.area_pending
            && let Some(av) = place.admin_village_id
        {
            place.area_id = router.region(&tx, av).await?.and_then(|r| r.area_id);
        }
        let policy = policies
            .get(&(category.id, input.priority.as_str().to_string()))
            .copied()
            .unwrap_or_else(|| rules::DeadlinePolicy::default_for(input.priority));
        let case_id = Uuid::now_v7();
        if let Some(k) = &job.idem {
            let body = case_id.to_string();
            let answer = wuwei_store::idempotency::Answer {
                key_hash: &k.key_hash,
                user_id: job.user_id,
                request_hash: &k.request_hash,
                status: 201,
                body: &body,
            };
            wuwei_store::idempotency::store_later(&mut tx, now, answer);
        }
        let unit = router.route(&mut tx, now, &categories, category, &place).await?;
        let unit_id = unit.as_ref().map(|u| u.id);
        accepted.push((i, category.clone(), unit));
        new_cases.push((
            job.actor.clone(),
            NewCase {
                id: case_id,
                town_id,
                short_code: short_code.clone(),
                category_id: category.id,
                priority: input.priority,
                title: input.title.clone(),
                description: input.description.clone(),
                lat: job.located.lat,
                lon: job.located.lon,
                address: input.address.clone(),
                household_id: input.household_id,
                place,
                source: job.source,
                reporter_id: job.reporter_id,
                reporter_name: job.reporter_name.clone(),
                reporter_phone: job.reporter_phone.clone(),
                state: if input.draft { CaseState::Collected } else { CaseState::Reported },
                unit_id,
                policy,
                possible_duplicate_of: job.duplicate,
            },
        ));
    }
    let (rows, events): (Vec<CaseRow>, Vec<cases::EventRow>) =
        cases::insert_new_cases(&mut tx, now, new_cases).await?.into_iter().unzip();
    let urgent = |r: &&CaseRow| r.priority() == Priority::Urgent && r.state() == CaseState::Reported;
    if rows.iter().any(|r| urgent(&r)) {
        // Notices refer to their cases, which are still queued.
        tx.flush().await?;
        let to = dispatchers(&tx, town_id).await?;
        for r in rows.iter().filter(urgent) {
            notify(state, &tx, now, r, Notice::Urgent, &to).await?;
        }
    }
    let tags = crate::layers::tag_new_cases(&mut tx, &rows, now).await?;
    if !rows.is_empty() {
        tx.commit(now).await?;
    }
    for (((i, category, unit), (row, event)), tags) in accepted.into_iter().zip(rows.into_iter().zip(events)).zip(tags)
    {
        outcomes[i] = Some(Ok(Created { row, event, category, unit, tags, city_id: town.city_id }));
    }
    Ok(outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(ApiError::internal()))).collect())
}

// ---- acting ----

#[derive(Debug, Clone, Default)]
pub struct ActionRequest {
    pub action: Option<Action>,
    pub version: i32,
    pub note: Option<String>,
    pub reason: Option<String>,
    pub result_note: Option<String>,
    pub unit_id: Option<Uuid>,
    pub target_case_id: Option<Uuid>,
    pub rating: Option<u8>,
    pub comment: Option<String>,
}

/// The rulebook item a resident's confirmed report earns (举报线索经查属实) when the town's
/// rulebook has it.
pub const CONFIRMED_REPORT_ITEM: &str = "law_clue_report";

/// A case a resident reported, closed as confirmed, earns their household points: an award
/// proposed through the usual path (review, public notice), marked as coming from the case. No
/// award when the item is not in the town's rulebook or its cap is reached; the close goes on.
async fn propose_reporter_award(tx: &mut Tx, now: DateTime<Utc>, c: &CaseRow, reporter: Uuid) -> ApiResult<()> {
    if c.source != "resident" {
        return Ok(());
    }
    let household = accounts::user_bindings(tx.db(), reporter)
        .await?
        .into_iter()
        .find(|b| b.role == Role::Resident.as_str() && b.level == "household")
        .map(|b| b.scope_id);
    let Some(h) = household else { return Ok(()) };
    let Some(h) = wuwei_store::households::household(tx.db(), h).await? else { return Ok(()) };
    if h.town_id != c.town_id {
        return Ok(());
    }
    let new = wuwei_store::points_awards::NewAwards {
        town_id: c.town_id,
        households: vec![wuwei_store::points_awards::ProposedFor {
            household: h,
            // Proposed on the grid's behalf: the case was confirmed in the field.
            roles: vec![Role::GridWorker],
            own_household: false,
        }],
        item_code: CONFIRMED_REPORT_ITEM.to_string(),
        quantity: 1,
        note: format!("群众反映事件 {} 经核查办结", c.number),
        attachment_ids: Vec::new(),
        photos: 0,
        documents: 0,
        source: wuwei_domain::points::award::AwardSource::Case,
        source_ref: Some(c.number.clone()),
    };
    let actor = wuwei_store::Actor::system("case-loop");
    match wuwei_store::points_awards::propose(tx, &actor, new, now).await {
        Ok(_) => Ok(()),
        Err(wuwei_store::points_awards::AwardError::Store(e)) => Err(e.into()),
        Err(wuwei_store::points_awards::AwardError::Points(wuwei_store::points::PointsError::Store(e))) => {
            Err(e.into())
        }
        Err(refused) => {
            // Checked before anything was written: nothing to undo.
            tracing::debug!(case = %c.number, reason = %refused, "no points for the reporter");
            Ok(())
        }
    }
}

fn workflow_error(e: WorkflowError) -> ApiError {
    match e {
        WorkflowError::NotInThisState { allowed, state, .. } => ApiError::conflict("action_not_allowed").with_detail(
            format!("state {state}; allowed: [{}]", allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")),
        ),
        WorkflowError::NotPermitted { .. } => ApiError::forbidden(),
        WorkflowError::Missing { field, problem } => match problem {
            "required" => ApiError::field(field, Rule::Required),
            "one_to_five" => ApiError::field(field, Rule::OutOfRange { min: 1, max: 5 }),
            other => ApiError::field(field, Rule::NotAllowed { reason: other }),
        },
        WorkflowError::ReopenRefused(why) => ApiError::conflict("reopen_refused").with_detail(why),
        WorkflowError::RatedAlready => ApiError::conflict("rated_already"),
    }
}

/// Take an action on a case.
pub async fn act(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    case_id: Uuid,
    req: ActionRequest,
) -> ApiResult<CaseRow> {
    let now = state.now();
    let db = state.store().db();
    let c = readable(state, principal, case_id).await?;
    let action = req.action.ok_or_else(|| ApiError::field("action", Rule::OneOf { allowed: Action::names() }))?;
    let capacities = capacities(state, principal, &c).await?;
    let category = catalog::category(db, c.town_id, c.category_id).await?;
    let mut input = ActionInput {
        reason: req.reason.clone(),
        result_note: req.result_note.clone(),
        unit_id: req.unit_id,
        target_case_open: None,
        rating: req.rating,
    };
    if action == Action::Dispatch && input.unit_id.is_none() {
        // Dispatching to the routed unit needs no choice.
        input.unit_id = c.unit_id;
    }
    let target = match req.target_case_id {
        Some(t) if t != c.id => {
            let t = cases::case_in_town(db, c.town_id, t).await?.filter(|t| t.state().is_open());
            input.target_case_open = Some(t.is_some());
            t
        }
        Some(_) => {
            input.target_case_open = Some(false);
            None
        }
        None => None,
    };
    let facts = CaseFacts {
        state: c.state(),
        unit_id: c.unit_id,
        closed_at: c.closed_at,
        rating: c.rating.map(|r| r.clamp(0, 255) as u8),
        reopen_count: c.reopen_count.max(0) as u32,
        category_requires_photo: category.as_ref().is_some_and(|k| k.requires_photo),
        photo_count: c.photo_count.max(0) as u32,
    };
    let decision = rules::decide(&facts, action, &capacities, &input, now).map_err(workflow_error)?;
    if req.version != c.version {
        return Err(ApiError::conflict("version_conflict").with_detail(format!("version {}", c.version)));
    }
    let unit = match input.unit_id {
        Some(u) if matches!(action, Action::Dispatch | Action::Transfer) => Some(
            catalog::unit(db, c.town_id, u)
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| ApiError::field("unit_id", Rule::UnknownReference))?,
        ),
        _ => None,
    };
    let policy = catalog::policy(db, c.town_id, c.category_id, c.priority()).await?;
    let mut changes = TransitionChanges::default();
    if let Some(u) = &unit {
        changes.unit_id = Some(u.id);
        changes.handler_id = Some(None);
    }
    match action {
        Action::Start => changes.handler_id = Some(Some(principal.user_id)),
        Action::Resolve => changes.result_note = req.result_note.clone(),
        Action::Rate => {
            changes.rating = req.rating;
            changes.rating_comment = req.comment.clone().map(|s| s.chars().take(500).collect());
        }
        Action::Merge => changes.merged_into_id = target.as_ref().map(|t| t.id),
        _ => {}
    }
    let note =
        req.reason.clone().or(req.note.clone()).or(req.result_note.clone()).map(|s| s.chars().take(2000).collect());
    let mut tx = state.store().begin().await?;
    let row = cases::apply_transition(&mut tx, actor, now, &c, req.version, action, decision.to, policy, changes, note)
        .await?;
    // Side effects of the move, in the same transaction.
    let mut also_changed = None;
    match action {
        Action::Merge => {
            if let Some(t) = &target {
                cases::move_reporters(&tx, now, &c, t).await?;
                cases::add_event(
                    &tx,
                    t.town_id,
                    t.id,
                    now,
                    cases::EventDraft {
                        actor,
                        action: "merged_in",
                        from: None,
                        to: None,
                        note: None,
                        data: Some(serde_json::json!({"case_id": c.id, "number": c.number})),
                    },
                )
                .await?;
                also_changed = Some(t.clone());
            }
        }
        Action::Resolve | Action::Close => cases::fulfil_supervisions(&tx, c.town_id, c.id, now).await?,
        _ => {}
    }
    let unit_now = match row.unit_id {
        Some(u) => catalog::unit(tx.db(), row.town_id, u).await?,
        None => None,
    };
    match action {
        Action::Dispatch | Action::Transfer | Action::Reopen => {
            if let Some(u) = &unit_now {
                let members = unit_members(tx.db(), u).await?;
                notify(state, &tx, now, &row, Notice::Dispatched, &members).await?;
            }
        }
        Action::Resolve => {
            let to = dispatchers(&tx, row.town_id).await?;
            notify(state, &tx, now, &row, Notice::Resolved, &to).await?;
        }
        Action::Close => {
            if let Some(r) = row.reporter_id {
                let to = accounts::users_by_ids(tx.db(), &[r]).await?;
                notify(state, &tx, now, &row, Notice::Closed, &to).await?;
                propose_reporter_award(&mut tx, now, &row, r).await?;
            }
        }
        Action::Return => {
            let to = match decision.to {
                CaseState::Collected => match row.reporter_id {
                    Some(r) => accounts::users_by_ids(tx.db(), &[r]).await?,
                    None => Vec::new(),
                },
                CaseState::InProgress | CaseState::Dispatched if decision.from == CaseState::Resolved => {
                    match &unit_now {
                        Some(u) => unit_members(tx.db(), u).await?,
                        None => Vec::new(),
                    }
                }
                _ => dispatchers(&tx, row.town_id).await?,
            };
            notify(state, &tx, now, &row, Notice::Returned, &to).await?;
        }
        _ => {}
    }
    tx.commit(now).await?;
    state.0.case_events.publish(CaseChange::of("updated", &row));
    if let Some(t) = also_changed
        && let Some(t) = cases::case_in_town(state.store().db(), t.town_id, t.id).await?
    {
        state.0.case_events.publish(CaseChange::of("updated", &t));
    }
    Ok(row)
}

/// Issue a supervision order: its own deadline, the unit told.
pub async fn supervise(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    case_id: Uuid,
    note: String,
    due_at: DateTime<Utc>,
) -> ApiResult<cases::SupervisionRow> {
    let now = state.now();
    let c = readable(state, principal, case_id).await?;
    let place = c.place(city_of(state, c.town_id).await?);
    if !principal.can(Permission::CasesSupervise, &place) {
        return Err(ApiError::forbidden());
    }
    if !c.state().is_open() {
        return Err(ApiError::conflict("conflict").with_detail(format!("the case is {}", c.state)));
    }
    if due_at <= now {
        return Err(ApiError::field("due_at", Rule::NotAllowed { reason: "in_past" }));
    }
    let mut tx = state.store().begin().await?;
    let order = cases::insert_supervision(&mut tx, actor, now, &c, note, due_at).await?;
    if let Some(u) = c.unit_id
        && let Some(unit) = catalog::unit(tx.db(), c.town_id, u).await?
    {
        let members = unit_members(tx.db(), &unit).await?;
        notify(state, &tx, now, &c, Notice::Supervision, &members).await?;
    }
    tx.commit(now).await?;
    if let Some(fresh) = cases::case_in_town(state.store().db(), c.town_id, c.id).await? {
        state.0.case_events.publish(CaseChange::of("updated", &fresh));
    }
    Ok(order)
}

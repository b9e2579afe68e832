//! Loading the synthetic demo town into a database: once, in one transaction, so a second run
//! (or a crash half-way) never leaves a partial or doubled town.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use wuwei_demo::{DemoRegion, DemoTown};
use wuwei_domain::access::{Binding, Level, Place, Role, Scope};
use wuwei_domain::geo::Geometry;
use wuwei_domain::region::{Ancestry, RegionKind};
use wuwei_store::accounts::{self, NewUser};
use wuwei_store::households::{self, NewHousehold, NewResident};
use wuwei_store::regions::{self, NewCity, NewRegion};
use wuwei_store::{Actor, AuditDraft, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("demo data is inconsistent: {0}")]
    Data(String),
    #[error("cannot hash the demo password: {0}")]
    Hash(String),
}

#[derive(Debug, Clone)]
pub struct DemoReport {
    /// False when the demo town was already there and nothing was written.
    pub loaded: bool,
    pub town_id: Uuid,
    pub regions: usize,
    pub households: usize,
    pub accounts: usize,
    /// Past cases of the history (see [`HISTORY_DAYS`]).
    pub cases: usize,
}

fn geometry(r: &DemoRegion) -> Result<Geometry, DemoError> {
    Geometry::from_geojson(&json!({"type": "Polygon", "coordinates": r.polygon}))
        .map_err(|e| DemoError::Data(format!("{} ({}): {e}", r.key, r.name)))
}

/// How much of the demo to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Days of past cases before `now` (0: none). `wuwei demo` loads [`HISTORY_DAYS`]; most
    /// tests load none, so that they see only the cases they make.
    pub history_days: u32,
    /// A year of points activity (awards, objections, redemptions at the village stores)
    /// through the real award path. `wuwei demo` loads it; tests that need it say so.
    pub points_history: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { history_days: HISTORY_DAYS, points_history: true }
    }
}

impl DemoOptions {
    /// The town, its people and its catalogue, without past cases or points.
    pub const TOWN_ONLY: DemoOptions = DemoOptions { history_days: 0, points_history: false };
    /// The town with its past cases, without the points year (most case tests).
    pub const WITH_CASES: DemoOptions = DemoOptions { history_days: HISTORY_DAYS, points_history: false };
}

/// Load the demo town (with [`HISTORY_DAYS`] of past cases) unless it is there already.
pub async fn load(store: &Store, now: DateTime<Utc>) -> Result<DemoReport, DemoError> {
    load_with(store, now, DemoOptions::default()).await
}

/// Load the demo town unless it is there already.
pub async fn load_with(store: &Store, now: DateTime<Utc>, options: DemoOptions) -> Result<DemoReport, DemoError> {
    let demo = wuwei_demo::generate(wuwei_demo::DEMO_SEED);
    if let Some(town) = regions::town_by_short_code(store.db(), wuwei_demo::TOWN_SHORT_CODE).await?
        && town.is_demo
    {
        return Ok(DemoReport { loaded: false, town_id: town.id, regions: 0, households: 0, accounts: 0, cases: 0 });
    }
    // One hash for all demo accounts: they share the published demo password anyway, and
    // hashing ~140 times would add seconds to every first start.
    let hash = tokio::task::spawn_blocking(|| {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default().hash_password(wuwei_demo::DEMO_PASSWORD.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|e| DemoError::Hash(e.to_string()))?
    .map_err(|e| DemoError::Hash(e.to_string()))?;

    let actor = Actor::system("demo");
    let mut tx = store.begin().await?;
    let city = match regions::city_by_code(tx.db(), &demo.city.code).await? {
        Some(c) => c,
        None => {
            regions::insert_city(
                &mut tx,
                &actor,
                now,
                NewCity { id: Uuid::now_v7(), code: demo.city.code.clone(), name: demo.city.name.clone() },
            )
            .await?
        }
    };
    let (ids, town_id) = insert_regions(&mut tx, &actor, now, &demo, city.id).await?;
    let (households, household_ids) = insert_households(&mut tx, now, &demo, &ids, town_id).await?;
    let accounts = insert_accounts(&mut tx, now, &demo, &ids, city.id, town_id, &hash).await?;
    seed_case_catalog(&mut tx, &actor, now, &demo, &ids, town_id).await?;
    // Every admin village has its points store (积分超市), demo or not.
    wuwei_store::points_shop::ensure_stores(&mut tx, town_id, now).await?;
    // Every natural village has its peacemaker station; a demo with history has a year of
    // disputes through them.
    crate::demo_mediation::load(&mut tx, now, &demo, &ids, town_id, options.history_days > 0).await?;
    // Cameras, call buttons and land-use layers (issue 4), with the full demo only.
    if options.history_days > 0 {
        crate::demo_intake::load(&mut tx, now, &demo, &ids, &household_ids, town_id).await?;
    }
    let cases = if options.history_days > 0 {
        load_history(&mut tx, &actor, now, &demo, &ids, &household_ids, town_id, options.history_days).await?
    } else {
        0
    };
    let redemptions = if options.points_history {
        let villages: Vec<Uuid> = demo.admin_villages.iter().filter_map(|av| ids.get(&av.key).map(|v| v.1)).collect();
        let residents: HashMap<Uuid, String> = demo
            .accounts
            .iter()
            .filter_map(|a| {
                let (role, code) = a.roles.first()?;
                (*role == "resident").then(|| household_ids.get(code).map(|id| (*id, a.username.clone())))?
            })
            .collect();
        crate::demo_points::load(&mut tx, now, town_id, &villages, &residents).await?
    } else {
        0
    };
    tx.audit(AuditDraft {
        actor,
        action: "demo.load".into(),
        entity_type: "town".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(json!({
            "synthetic": true,
            "seed": wuwei_demo::DEMO_SEED,
            "households": households,
            "accounts": accounts,
            "redemptions": redemptions,
        })),
    });
    tx.commit(now).await?;
    Ok(DemoReport { loaded: true, town_id, regions: ids.len(), households, accounts, cases })
}

/// Which demo accounts staff which town office (the offices themselves come from the defaults).
const OFFICE_MEMBERS: &[(&str, &[&str])] = &[
    (
        "enforcement",
        &[
            "of01", "of02", "of03", "of04", "of05", "of06", "of07", "of08", "of09", "of10", "of11", "of12", "of13",
            "of14", "of15", "of16", "of17", "of18",
        ],
    ),
    ("office-work-safety", &["of01", "of02", "of03"]),
    ("office-environment", &["of04", "of05"]),
    ("office-construction", &["of06", "of07"]),
    ("office-social-affairs", &["village1", "petitions1"]),
    ("office-political-legal", &["pl1", "police1", "justice1", "disc1"]),
];

/// The case loop's defaults for the demo town, a unit for every grid and admin village (so the
/// dispatch list is complete from the start), and the offices' members.
async fn seed_case_catalog(
    tx: &mut wuwei_store::Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &Ids,
    town_id: Uuid,
) -> Result<(), DemoError> {
    use wuwei_domain::case::UnitKind;
    use wuwei_store::catalog;
    catalog::seed_defaults(tx, actor, now, town_id).await?;
    for (layer, kind) in [(&demo.grids, UnitKind::Grid), (&demo.admin_villages, UnitKind::VillageCommittee)] {
        for r in layer.iter() {
            let Some((_, id, _)) = ids.get(&r.key) else { continue };
            let name = match kind {
                UnitKind::VillageCommittee => format!("{}村民委员会", r.name.trim_end_matches('村')),
                _ => r.name.clone(),
            };
            catalog::region_unit(tx, now, town_id, kind, *id, &name).await?;
        }
    }
    for (code, usernames) in OFFICE_MEMBERS {
        let unit = catalog::unit_by_code(tx.db(), town_id, code)
            .await?
            .ok_or_else(|| DemoError::Data(format!("no office {code}")))?;
        for u in usernames.iter() {
            if let Some(user) = accounts::user_by_username(tx.db(), u).await? {
                catalog::add_member(tx, town_id, unit.id, user.id).await?;
            }
        }
    }
    Ok(())
}

/// Region key → (kind, id, ancestry).
type Ids = HashMap<String, (RegionKind, Uuid, Ancestry)>;

async fn insert_regions(
    tx: &mut wuwei_store::Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    demo: &DemoTown,
    city_id: Uuid,
) -> Result<(Ids, Uuid), DemoError> {
    let mut ids: Ids = HashMap::new();
    let town_id = Uuid::now_v7();
    let town_ancestry = Ancestry { city_id: Some(city_id), town_id, ..Ancestry::default() };
    regions::insert_region(
        tx,
        actor,
        now,
        NewRegion {
            id: town_id,
            kind: RegionKind::Town,
            parent_id: Some(city_id),
            ancestry: town_ancestry,
            name: demo.town.name.clone(),
            code: Some(demo.town.code.clone()),
            short_code: Some(wuwei_demo::TOWN_SHORT_CODE.to_string()),
            is_demo: true,
            geometry: Some(geometry(&demo.town)?),
        },
    )
    .await?;
    ids.insert(demo.town.key.clone(), (RegionKind::Town, town_id, town_ancestry));
    let layers: [(&[DemoRegion], RegionKind); 4] = [
        (&demo.areas, RegionKind::Area),
        (&demo.admin_villages, RegionKind::AdminVillage),
        (&demo.natural_villages, RegionKind::NaturalVillage),
        (&demo.grids, RegionKind::Grid),
    ];
    for (layer, kind) in layers {
        for r in layer {
            let parent_key =
                r.parent_key.as_deref().ok_or_else(|| DemoError::Data(format!("{} has no parent", r.key)))?;
            let (parent_kind, parent_id, parent_ancestry) =
                *ids.get(parent_key).ok_or_else(|| DemoError::Data(format!("{} before its parent", r.key)))?;
            let ancestry = parent_ancestry.child_of(parent_kind, parent_id);
            let id = Uuid::now_v7();
            regions::insert_region(
                tx,
                actor,
                now,
                NewRegion {
                    id,
                    kind,
                    parent_id: Some(parent_id),
                    ancestry,
                    name: r.name.clone(),
                    code: Some(r.code.clone()),
                    short_code: None,
                    is_demo: false,
                    geometry: Some(geometry(r)?),
                },
            )
            .await?;
            ids.insert(r.key.clone(), (kind, id, ancestry));
        }
    }
    Ok((ids, town_id))
}

/// The households, and their ids by code.
async fn insert_households(
    tx: &mut wuwei_store::Tx,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &Ids,
    town_id: Uuid,
) -> Result<(usize, HashMap<String, Uuid>), DemoError> {
    let mut rows = Vec::with_capacity(demo.households.len());
    let mut by_code = HashMap::with_capacity(demo.households.len());
    for h in &demo.households {
        let (_, grid_id, a) =
            *ids.get(&h.grid_key).ok_or_else(|| DemoError::Data(format!("household {} in unknown grid", h.code)))?;
        let (Some(av), Some(nv)) = (a.admin_village_id, a.natural_village_id) else {
            return Err(DemoError::Data(format!("grid {} lacks villages", h.grid_key)));
        };
        let head = h.head().ok_or_else(|| DemoError::Data(format!("household {} has no head", h.code)))?;
        let id = Uuid::now_v7();
        by_code.insert(h.code.clone(), id);
        rows.push(NewHousehold {
            id,
            town_id,
            code: h.code.clone(),
            area_id: a.area_id,
            admin_village_id: av,
            natural_village_id: nv,
            grid_id,
            address: h.address.clone(),
            head_name: head.name.clone(),
            phone: Some(h.phone.clone()),
            lat: h.lat,
            lon: h.lon,
            residents: h
                .residents
                .iter()
                .map(|r| NewResident {
                    id: Uuid::now_v7(),
                    name: r.name.clone(),
                    gender: r.gender.to_string(),
                    birth_year: r.birth_year,
                    relation: r.relation.to_string(),
                    phone: r.phone.clone(),
                })
                .collect(),
        });
    }
    Ok((households::insert_households(tx, now, rows).await?, by_code))
}

#[allow(clippy::too_many_arguments)]
async fn insert_accounts(
    tx: &mut wuwei_store::Tx,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &Ids,
    city_id: Uuid,
    town_id: Uuid,
    hash: &str,
) -> Result<usize, DemoError> {
    let mut users = Vec::new();
    for a in &demo.accounts {
        let mut bindings = Vec::new();
        for (role_name, scope_key) in &a.roles {
            let role = Role::parse(role_name).ok_or_else(|| DemoError::Data(format!("unknown role {role_name}")))?;
            let scope = if role == Role::CountyAdmin {
                Scope { level: Level::City, place: Place { city_id: Some(city_id), ..Place::default() } }
            } else if role == Role::Resident {
                let h = households::household_by_code(tx.db(), town_id, scope_key)
                    .await?
                    .ok_or_else(|| DemoError::Data(format!("{}: unknown household {scope_key}", a.username)))?;
                Scope { level: Level::Household, place: h.place(Some(city_id)) }
            } else {
                let (kind, id, ancestry) = *ids
                    .get(scope_key)
                    .ok_or_else(|| DemoError::Data(format!("{}: unknown region {scope_key}", a.username)))?;
                Scope { level: kind.level(), place: ancestry.place_of(kind, id) }
            };
            if !role.scope_levels().contains(&scope.level) {
                return Err(DemoError::Data(format!("{}: {role_name} cannot be bound at {scope_key}", a.username)));
            }
            bindings.push(Binding { role, scope });
        }
        let home_town_id = if bindings.iter().all(|b| b.scope.level == Level::City) { None } else { Some(town_id) };
        users.push(NewUser {
            id: Uuid::now_v7(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            phone: Some(a.phone.clone()),
            password_hash: hash.to_string(),
            home_town_id,
            bindings,
        });
    }
    // Skip accounts that exist already (e.g. `admin` made by hand before the demo was loaded).
    let mut fresh = Vec::new();
    for u in users {
        if accounts::user_by_username(tx.db(), &u.username).await?.is_none() {
            fresh.push(u);
        }
    }
    Ok(accounts::insert_users_bulk(tx, now, fresh).await?)
}

/// The lines printed at start: who can sign in, and as what.
pub fn account_lines() -> Vec<String> {
    let demo = wuwei_demo::generate(wuwei_demo::DEMO_SEED);
    let rows = wuwei_demo::summary(&demo);
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    rows.iter().map(|(u, r, s)| format!("  {u:<w0$}  {r:<w1$}  {s}")).collect()
}

// ---- case history ----

/// Days of past cases the demo town carries: about six months, ending the day before the load.
pub const HISTORY_DAYS: u32 = 183;

/// The routing and deadlines the history is planned with: the defaults every new town gets.
fn history_spec() -> wuwei_demo::HistorySpec {
    use wuwei_domain::case::{DEFAULT_CATEGORIES, DEFAULT_ESCALATION_OFFICE, DEFAULT_UNITS, DeadlinePolicy, Priority};
    wuwei_demo::HistorySpec {
        categories: DEFAULT_CATEGORIES
            .iter()
            .map(|c| wuwei_demo::SpecCategory {
                code: c.code.to_string(),
                unit_kind: c.unit_kind.as_str().to_string(),
                office: c.office.map(str::to_string),
            })
            .collect(),
        deadlines: Priority::ALL
            .iter()
            .map(|p| {
                let d = DeadlinePolicy::default_for(*p);
                (p.as_str().to_string(), d.accept_minutes, d.resolve_minutes)
            })
            .collect(),
        escalation_office: DEFAULT_ESCALATION_OFFICE.to_string(),
        county_unit: DEFAULT_UNITS
            .iter()
            .find(|u| u.kind == wuwei_domain::case::UnitKind::County)
            .map(|u| u.code.to_string())
            .unwrap_or_else(|| "county".to_string()),
        office_members: OFFICE_MEMBERS
            .iter()
            .map(|(code, users)| (code.to_string(), users.iter().map(|u| u.to_string()).collect()))
            .collect(),
    }
}

fn instant(secs: i64) -> Result<DateTime<Utc>, DemoError> {
    DateTime::from_timestamp(secs, 0).ok_or_else(|| DemoError::Data(format!("bad time {secs}")))
}

/// Load `days` of past cases, ending the day before `now` (the town's local day):
/// cases, timelines, merged reporters and the figures rollup, numbered like live cases, with
/// one audit entry for the batch.
///
/// History cases are a still picture of the past as of `now`: open ones carry the card their
/// deadline gives at `now`, but no next sweep, so the sweeper (and its notices) only ever act on
/// cases made after the load. Reporters are recorded by name (their `reporter_id` is empty), so
/// "my reports" lists only what an account reports itself. History cases have no attachments.
#[allow(clippy::too_many_arguments, reason = "the loader's context, passed down once")]
async fn load_history(
    tx: &mut wuwei_store::Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &Ids,
    household_ids: &HashMap<String, Uuid>,
    town_id: Uuid,
    days: u32,
) -> Result<usize, DemoError> {
    use chrono::Datelike;
    use wuwei_demo::DemoUnit;
    use wuwei_domain::case::{self as rules, Card, CaseState, UnitKind};
    use wuwei_store::cases::{CaseRow, EventRow, ReporterRow};
    use wuwei_store::catalog;

    let until = rules::local_day(now) - chrono::Duration::days(1);
    let spec = history_spec();
    let history =
        wuwei_demo::case_history(demo, &spec, wuwei_demo::DEMO_SEED, days, (until.year(), until.month(), until.day()));
    let categories: HashMap<String, Uuid> =
        catalog::categories(tx.db(), town_id).await?.into_iter().map(|c| (c.code, c.id)).collect();
    let units = catalog::units(tx.db(), town_id).await?;
    let unit_id = |u: &Option<DemoUnit>| -> Result<Option<Uuid>, DemoError> {
        let Some(u) = u else { return Ok(None) };
        let found = match u {
            DemoUnit::Office(code) => units.iter().find(|x| x.code == *code),
            DemoUnit::Grid(key) | DemoUnit::Village(key) => {
                let kind = if matches!(u, DemoUnit::Grid(_)) { UnitKind::Grid } else { UnitKind::VillageCommittee };
                let region = ids.get(key).map(|(_, id, _)| *id);
                units.iter().find(|x| x.unit_kind() == Some(kind) && x.region_id == region && region.is_some())
            }
        };
        found.map(|x| Some(x.id)).ok_or_else(|| DemoError::Data(format!("no unit {u:?}")))
    };
    let mut users: HashMap<String, Option<Uuid>> = HashMap::new();
    for c in &history {
        for e in &c.events {
            if !users.contains_key(&e.actor) {
                let id = accounts::user_by_username(tx.db(), &e.actor).await?.map(|u| u.id);
                users.insert(e.actor.clone(), id);
            }
        }
    }
    let case_ids: Vec<Uuid> = history.iter().map(|_| Uuid::now_v7()).collect();
    let id_of = |i: Option<usize>| i.and_then(|i| case_ids.get(i).copied());
    let mut rows = Vec::with_capacity(history.len());
    let mut events = Vec::new();
    let mut reporters = Vec::new();
    for (i, c) in history.iter().enumerate() {
        let id = case_ids.get(i).copied().ok_or_else(|| DemoError::Data("case ids".into()))?;
        let (_, grid_id, a) =
            *ids.get(&c.grid_key).ok_or_else(|| DemoError::Data(format!("case in unknown grid {}", c.grid_key)))?;
        let category_id =
            *categories.get(&c.category).ok_or_else(|| DemoError::Data(format!("unknown category {}", c.category)))?;
        let state = CaseState::parse(c.state).ok_or_else(|| DemoError::Data(format!("state {}", c.state)))?;
        let at = |t: Option<i64>| t.map(instant).transpose();
        let (clock_started_at, due_at) = (at(c.clock_started_at)?, at(c.due_at)?);
        // Open and on the clock: the card the deadline gives now (never lower than it was).
        let mut card = Card::parse(c.card).unwrap_or(Card::None);
        if rules::clock_in(state) != rules::Clock::Stopped
            && let (Some(s), Some(d)) = (clock_started_at, due_at)
        {
            card = card.max(rules::card_at(s, d, now));
        }
        let actor_of = |name: &str| -> (Option<Uuid>, String) {
            match users.get(name).copied().flatten() {
                Some(uid) => (Some(uid), name.to_string()),
                None if name == "reporter" || name == "camera" => {
                    (None, c.reporter_name.clone().unwrap_or_else(|| name.to_string()))
                }
                None => (None, name.to_string()),
            }
        };
        let mut version = 1;
        for e in &c.events {
            let (actor_id, actor_name) = actor_of(&e.actor);
            let unit = unit_id(&e.unit)?;
            let data = match e.action {
                "dispatch" | "transfer" => Some(json!({"unit_id": unit})),
                "escalate" => {
                    Some(json!({"from_unit_id": unit_id(&e.from_unit)?, "to_unit_id": unit, "level": e.level}))
                }
                "rate" => Some(json!({"rating": e.rating})),
                "merge" => Some(json!({"merged_into_id": id_of(e.other_case)})),
                "merged_in" => Some(json!({"case_id": id_of(e.other_case)})),
                "report" => c.duplicate_of.map(|d| json!({"possible_duplicate_of": id_of(Some(d))})),
                _ => None,
            };
            if e.action != "report" && e.action != "merged_in" {
                version += 1;
            }
            events.push(EventRow {
                town_id,
                id: Uuid::now_v7(),
                case_id: id,
                at: instant(e.at)?,
                actor_id,
                actor_name: actor_name.chars().take(64).collect(),
                action: e.action.to_string(),
                from_state: e.from.map(str::to_string),
                to_state: e.to.map(str::to_string),
                note: e.note.clone(),
                data: data.map(|d| d.to_string()),
            });
            if e.action == "merge"
                && let Some(into) = id_of(e.other_case)
            {
                reporters.push(ReporterRow {
                    town_id,
                    case_id: into,
                    from_case_id: id,
                    user_id: None,
                    name: c.reporter_name.clone(),
                    phone: c.reporter_phone.clone(),
                    created_at: instant(e.at)?,
                });
            }
        }
        let updated_at = instant(c.events.last().map(|e| e.at).unwrap_or(c.reported_at))?;
        let reported_at = instant(c.reported_at)?;
        rows.push(CaseRow {
            town_id,
            id,
            number: String::new(),
            category_id,
            priority: c.priority.to_string(),
            title: c.title.chars().take(128).collect(),
            description: c.description.clone(),
            lat: Some(c.lat),
            lon: Some(c.lon),
            address: Some(c.address.chars().take(255).collect()),
            household_id: c.household_code.as_ref().and_then(|h| household_ids.get(h).copied()),
            area_id: a.area_id,
            admin_village_id: a.admin_village_id,
            natural_village_id: a.natural_village_id,
            grid_id: Some(grid_id),
            source: c.source.to_string(),
            reporter_id: None,
            reporter_name: c.reporter_name.clone(),
            reporter_phone: c.reporter_phone.clone(),
            unit_id: unit_id(&c.unit)?,
            handler_id: c.handler.as_ref().and_then(|h| users.get(h).copied().flatten()),
            state: c.state.to_string(),
            card: card.as_str().to_string(),
            escalation_level: i32::from(c.escalation_level),
            created_at: reported_at,
            reported_at: Some(reported_at),
            accepted_at: at(c.accepted_at)?,
            dispatched_at: at(c.dispatched_at)?,
            started_at: at(c.started_at)?,
            resolved_at: at(c.resolved_at)?,
            closed_at: at(c.closed_at)?,
            clock_started_at,
            due_at,
            next_sweep_at: None,
            result_note: c.result_note.clone(),
            rating: c.rating.map(i16::from),
            rating_comment: c.rating_comment.clone(),
            rated_at: at(c.rated_at)?,
            reopen_count: i32::from(c.reopen_count),
            merged_into_id: id_of(c.merged_into),
            possible_duplicate_of: id_of(c.duplicate_of),
            photo_count: 0,
            attachment_count: 0,
            updated_at,
            version,
        });
    }
    let count = wuwei_store::history::insert_cases(tx, wuwei_demo::TOWN_SHORT_CODE, rows, events, reporters).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "demo.history".into(),
        entity_type: "town".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(json!({
            "synthetic": true,
            "cases": count,
            "days": days,
            "until": until.to_string(),
        })),
    });
    Ok(count)
}

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
}

fn geometry(r: &DemoRegion) -> Result<Geometry, DemoError> {
    Geometry::from_geojson(&json!({"type": "Polygon", "coordinates": r.polygon}))
        .map_err(|e| DemoError::Data(format!("{} ({}): {e}", r.key, r.name)))
}

/// Load the demo town unless it is there already.
pub async fn load(store: &Store, now: DateTime<Utc>) -> Result<DemoReport, DemoError> {
    let demo = wuwei_demo::generate(wuwei_demo::DEMO_SEED);
    if let Some(town) = regions::town_by_short_code(store.db(), wuwei_demo::TOWN_SHORT_CODE).await?
        && town.is_demo
    {
        return Ok(DemoReport { loaded: false, town_id: town.id, regions: 0, households: 0, accounts: 0 });
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
    let households = insert_households(&mut tx, now, &demo, &ids, town_id).await?;
    let accounts = insert_accounts(&mut tx, now, &demo, &ids, city.id, town_id, &hash).await?;
    seed_case_catalog(&mut tx, &actor, now, &demo, &ids, town_id).await?;
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
        })),
    });
    tx.commit(now).await?;
    Ok(DemoReport { loaded: true, town_id, regions: ids.len(), households, accounts })
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

async fn insert_households(
    tx: &mut wuwei_store::Tx,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &Ids,
    town_id: Uuid,
) -> Result<usize, DemoError> {
    let mut rows = Vec::with_capacity(demo.households.len());
    for h in &demo.households {
        let (_, grid_id, a) =
            *ids.get(&h.grid_key).ok_or_else(|| DemoError::Data(format!("household {} in unknown grid", h.code)))?;
        let (Some(av), Some(nv)) = (a.admin_village_id, a.natural_village_id) else {
            return Err(DemoError::Data(format!("grid {} lacks villages", h.grid_key)));
        };
        let head = h.head().ok_or_else(|| DemoError::Data(format!("household {} has no head", h.code)))?;
        rows.push(NewHousehold {
            id: Uuid::now_v7(),
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
    Ok(households::insert_households(tx, now, rows).await?)
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

//! The synthetic demo town of wuwei (五微): a pure, deterministic generator.
//!
//! `generate(seed)` builds a Dingwu-shaped town — Leling city (乐陵市) → Dingwu town (丁坞镇) →
//! 2 areas (片区) → 8 admin villages (行政村) → 76 natural villages (自然村) → 160 grids (网格) —
//! with boundaries that tile exactly, about 3,000 households with their residents, and the demo
//! accounts. Everything is synthetic: villages and people are generated from name parts, and all
//! phone numbers are in the 1700 virtual-operator range.
//!
//! `case_history(...)` adds months of past cases (see the `history` module), separately, so the
//! town above never changes with it.
//!
//! No I/O, no clock, no OS randomness, no floating-point functions from the platform's maths
//! library: the same seed gives the same data, bit for bit, on every machine. The PRNG is written
//! here so that a dependency upgrade cannot change the demo.

mod geometry;
mod history;
mod names;
mod people;
mod rng;

use geometry::{CellRect, Lattice, MinParts};
pub use history::{
    DemoCase, DemoCaseEvent, DemoUnit, HistorySpec, SPEED_AT_END, SpecCategory, case_history, civil_from_days,
    days_from_civil, local_day_of,
};
use rng::Rng;
use serde::Serialize;

/// The seed of the demo town the CLI loads.
pub const DEMO_SEED: u64 = 20261128;
/// The password every demo account gets (the loader sets it; this crate only lists accounts).
pub const DEMO_PASSWORD: &str = "wuwei-demo";
/// The year ages are counted from (birth years are `DEMO_YEAR - age`); fixed, never the clock.
pub const DEMO_YEAR: i32 = 2026;
/// The town's short code, used as the prefix of every key below the town.
pub const TOWN_SHORT_CODE: &str = "DW";
/// The key of the city region (the scope of `county_admin`).
pub const CITY_KEY: &str = "LL";
/// The approximate centre of the town, `[lon, lat]`.
pub const TOWN_CENTER: [f64; 2] = geometry::CENTER;

/// The whole demo data set. Regions are listed parents before children, in key order within a
/// level; households by code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoTown {
    pub city: DemoRegion,
    pub town: DemoRegion,
    pub areas: Vec<DemoRegion>,
    pub admin_villages: Vec<DemoRegion>,
    pub natural_villages: Vec<DemoRegion>,
    pub grids: Vec<DemoRegion>,
    pub households: Vec<DemoHousehold>,
    pub accounts: Vec<DemoAccount>,
}

/// One region of the tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoRegion {
    /// Stable and unique, e.g. `DW-AV03-NV05-G2`; also the region code below town level.
    pub key: String,
    pub parent_key: Option<String>,
    /// `city`, `town`, `area`, `admin_village`, `natural_village` or `grid`.
    pub kind: &'static str,
    /// zh-CN name.
    pub name: String,
    /// Administrative code where one exists (city `371481`, town `371481107`, admin villages
    /// `3714811072xx`), else the key.
    pub code: String,
    /// One GeoJSON Polygon: the outer ring (counter-clockwise, closed, `[lon, lat]` rounded to
    /// 6 decimals), no holes.
    pub polygon: Vec<Vec<[f64; 2]>>,
}

/// A household of the register.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoHousehold {
    /// Unique, e.g. `DW-AV03-NV05-0012` (numbered within the natural village).
    pub code: String,
    pub grid_key: String,
    /// e.g. `前李庄 12 号`.
    pub address: String,
    /// Strictly inside the grid's polygon.
    pub lon: f64,
    pub lat: f64,
    /// 11 digits starting `1700`; the head's phone.
    pub phone: String,
    /// 1–6 people, the head first.
    pub residents: Vec<DemoResident>,
}

/// A person living in a household.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoResident {
    pub name: String,
    /// `male` or `female`.
    pub gender: &'static str,
    pub birth_year: i32,
    /// Relation to the head: `head`, `spouse`, `child`, `parent`, `grandchild`, `sibling` or
    /// `other`.
    pub relation: &'static str,
    pub phone: Option<String>,
}

/// A demo sign-in account (password [`DEMO_PASSWORD`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub display_name: String,
    pub phone: String,
    /// `(role, scope key)`: a region key; a household code for `resident`; the city key for
    /// `county_admin`.
    pub roles: Vec<(&'static str, String)>,
}

impl DemoTown {
    /// Every region, parents before children: city, town, areas, admin villages, natural
    /// villages, grids.
    pub fn regions(&self) -> impl Iterator<Item = &DemoRegion> {
        [&self.city, &self.town]
            .into_iter()
            .chain(&self.areas)
            .chain(&self.admin_villages)
            .chain(&self.natural_villages)
            .chain(&self.grids)
    }

    /// The region with this key.
    pub fn region(&self, key: &str) -> Option<&DemoRegion> {
        self.regions().find(|r| r.key == key)
    }

    /// The household with this code.
    pub fn household(&self, code: &str) -> Option<&DemoHousehold> {
        self.households.iter().find(|h| h.code == code)
    }

    /// The account with this username.
    pub fn account(&self, username: &str) -> Option<&DemoAccount> {
        self.accounts.iter().find(|a| a.username == username)
    }
}

impl DemoRegion {
    /// The outer ring.
    pub fn outer_ring(&self) -> &[[f64; 2]] {
        self.polygon.first().map(Vec::as_slice).unwrap_or(&[])
    }

    /// `[min_lon, min_lat, max_lon, max_lat]` of the outer ring.
    pub fn bbox(&self) -> [f64; 4] {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in self.outer_ring() {
            b[0] = b[0].min(p[0]);
            b[1] = b[1].min(p[1]);
            b[2] = b[2].max(p[0]);
            b[3] = b[3].max(p[1]);
        }
        b
    }
}

impl DemoHousehold {
    /// The head of the household (always the first resident).
    pub fn head(&self) -> Option<&DemoResident> {
        self.residents.first()
    }
}

/// Households per grid and the town-wide bounds they are kept in.
const HOUSEHOLDS_PER_GRID: (i32, i32) = (12, 26);
const HOUSEHOLDS_TOTAL: (usize, usize) = (2_800, 3_200);
const GRID_MIN_HOUSEHOLDS: usize = 10;
const GRID_MAX_HOUSEHOLDS: usize = 30;
const NATURAL_VILLAGES: usize = 76;

struct NaturalVillagePlan {
    key: String,
    name: String,
    surname: Option<&'static str>,
    rect: CellRect,
}

/// Build the demo town for `seed`. Pure and deterministic; fast (a few milliseconds).
pub fn generate(seed: u64) -> DemoTown {
    let mut geo_rng = Rng::stream(seed, "geometry");
    let mut name_rng = Rng::stream(seed, "village-names");
    let mut hh_rng = Rng::stream(seed, "households");
    let mut acct_rng = Rng::stream(seed, "accounts");

    let lattice = Lattice::generate(&mut geo_rng);
    let layout = geometry::layout_admin_villages(&mut geo_rng);
    let min_parts = MinParts::new();
    let polygon = |rect: CellRect| vec![lattice.ring(rect)];

    let town_key = TOWN_SHORT_CODE.to_string();
    let city = DemoRegion {
        key: CITY_KEY.to_string(),
        parent_key: None,
        kind: "city",
        name: "乐陵市".to_string(),
        code: "371481".to_string(),
        polygon: vec![geometry::city_ring(&mut geo_rng)],
    };
    let town = DemoRegion {
        key: town_key.clone(),
        parent_key: Some(city.key.clone()),
        kind: "town",
        name: "丁坞镇".to_string(),
        code: "371481107".to_string(),
        polygon: polygon(CellRect { c0: 0, r0: 0, c1: geometry::COLS, r1: geometry::ROWS }),
    };

    // Natural villages per admin village, in proportion to its size.
    let av_rects: Vec<CellRect> = layout.iter().flat_map(|(_, avs)| avs.iter().copied()).collect();
    let sizes: Vec<usize> = av_rects.iter().map(|r| r.width() * r.height()).collect();
    let nv_counts = geometry::apportion(NATURAL_VILLAGES, &sizes);

    let mut namer = names::VillageNamer::new();
    let mut areas = Vec::new();
    let mut admin_villages = Vec::new();
    let mut plans: Vec<(usize, NaturalVillagePlan)> = Vec::new();
    let area_names = ["西片区", "东片区"];
    let mut av_index = 0usize;
    for (a, (area_rect, avs)) in layout.iter().enumerate() {
        let area_key = format!("{town_key}-A{}", a + 1);
        areas.push(DemoRegion {
            key: area_key.clone(),
            parent_key: Some(town_key.clone()),
            kind: "area",
            name: area_names.get(a).copied().unwrap_or("片区").to_string(),
            code: area_key.clone(),
            polygon: polygon(*area_rect),
        });
        for av_rect in avs {
            av_index += 1;
            let av_key = format!("{town_key}-AV{av_index:02}");
            admin_villages.push(DemoRegion {
                key: av_key.clone(),
                parent_key: Some(area_key.clone()),
                kind: "admin_village",
                name: namer.admin(&mut name_rng),
                code: format!("{}{:03}", town.code, 200 + av_index),
                polygon: polygon(*av_rect),
            });
            let n = nv_counts.get(av_index - 1).copied().unwrap_or(1);
            let mut pieces = Vec::new();
            geometry::partition(&mut geo_rng, &min_parts, *av_rect, n, &mut pieces);
            // north to south, west to east
            pieces.sort_by(|x, y| y.r1.cmp(&x.r1).then(x.c0.cmp(&y.c0)));
            for (k, rect) in pieces.into_iter().enumerate() {
                let (name, surname) = namer.natural(&mut name_rng);
                plans.push((
                    admin_villages.len() - 1,
                    NaturalVillagePlan { key: format!("{av_key}-NV{:02}", k + 1), name, surname, rect },
                ));
            }
        }
    }

    let mut natural_villages = Vec::new();
    let mut grids = Vec::new();
    let mut grid_cells = Vec::new();
    for (av_ix, plan) in &plans {
        let parent = admin_villages.get(*av_ix).map(|r| r.key.clone());
        natural_villages.push(DemoRegion {
            key: plan.key.clone(),
            parent_key: parent,
            kind: "natural_village",
            name: plan.name.clone(),
            code: plan.key.clone(),
            polygon: polygon(plan.rect),
        });
        for (g, (c, r)) in plan.rect.cells().into_iter().enumerate() {
            let key = format!("{}-G{}", plan.key, g + 1);
            grids.push(DemoRegion {
                key: key.clone(),
                parent_key: Some(plan.key.clone()),
                kind: "grid",
                name: format!("{}第{}网格", plan.name, names::numeral(g + 1)),
                code: key,
                polygon: polygon(CellRect { c0: c, r0: r, c1: c + 1, r1: r + 1 }),
            });
            grid_cells.push((c, r));
        }
    }

    // Households: 12–26 per grid, kept within the town-wide bounds.
    let mut per_grid: Vec<usize> =
        grids.iter().map(|_| hh_rng.int(HOUSEHOLDS_PER_GRID.0, HOUSEHOLDS_PER_GRID.1) as usize).collect();
    rebalance(&mut hh_rng, &mut per_grid);

    let mut phones = people::Phones::new();
    let mut households = Vec::new();
    let mut grid_ix = 0usize;
    for (_, plan) in &plans {
        let mut number = 0usize;
        for _ in plan.rect.cells() {
            let (c, r) = grid_cells.get(grid_ix).copied().unwrap_or((0, 0));
            let grid_key = grids.get(grid_ix).map(|g| g.key.clone()).unwrap_or_default();
            let count = per_grid.get(grid_ix).copied().unwrap_or(0);
            grid_ix += 1;
            // houses cluster around a settlement point of the grid
            let cu = 0.3 + 0.4 * hh_rng.unit();
            let cv = 0.3 + 0.4 * hh_rng.unit();
            for _ in 0..count {
                number += 1;
                let u = (cu + 0.2 * (hh_rng.unit() + hh_rng.unit() - 1.0)).clamp(0.06, 0.94);
                let v = (cv + 0.2 * (hh_rng.unit() + hh_rng.unit() - 1.0)).clamp(0.06, 0.94);
                let [lon, lat] = lattice.point_in_cell(c, r, u, v);
                let phone = phones.next(&mut hh_rng);
                let residents = people::residents(&mut hh_rng, &mut phones, &phone, plan.surname);
                households.push(DemoHousehold {
                    code: format!("{}-{number:04}", plan.key),
                    grid_key: grid_key.clone(),
                    address: format!("{} {number} 号", plan.name),
                    lon,
                    lat,
                    phone,
                    residents,
                });
            }
        }
    }

    let accounts = accounts(
        &mut acct_rng,
        &mut phones,
        &city,
        &town,
        &areas,
        &admin_villages,
        &natural_villages,
        &grids,
        &households,
    );

    DemoTown { city, town, areas, admin_villages, natural_villages, grids, households, accounts }
}

/// Nudge per-grid household counts until the total is within [`HOUSEHOLDS_TOTAL`], keeping each
/// grid within its own bounds.
fn rebalance(rng: &mut Rng, per_grid: &mut [usize]) {
    if per_grid.is_empty() {
        return;
    }
    let mut total: usize = per_grid.iter().sum();
    while total < HOUSEHOLDS_TOTAL.0 && per_grid.iter().any(|&n| n < GRID_MAX_HOUSEHOLDS) {
        let i = rng.index(per_grid.len());
        if let Some(n) = per_grid.get_mut(i).filter(|n| **n < GRID_MAX_HOUSEHOLDS) {
            *n += 1;
            total += 1;
        }
    }
    while total > HOUSEHOLDS_TOTAL.1 && per_grid.iter().any(|&n| n > GRID_MIN_HOUSEHOLDS) {
        let i = rng.index(per_grid.len());
        if let Some(n) = per_grid.get_mut(i).filter(|n| **n > GRID_MIN_HOUSEHOLDS) {
            *n -= 1;
            total -= 1;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn accounts(
    rng: &mut Rng,
    phones: &mut people::Phones,
    city: &DemoRegion,
    town: &DemoRegion,
    areas: &[DemoRegion],
    admin_villages: &[DemoRegion],
    natural_villages: &[DemoRegion],
    grids: &[DemoRegion],
    households: &[DemoHousehold],
) -> Vec<DemoAccount> {
    let mut out = Vec::new();
    let mut add = |rng: &mut Rng, username: String, roles: Vec<(&'static str, String)>| {
        let birth_year = DEMO_YEAR - rng.int(26, 58);
        let female = rng.chance(0.35);
        let display_name = names::person_name(rng, female, birth_year);
        let phone = phones.next(rng);
        out.push(DemoAccount { username, display_name, phone, roles });
    };
    let t = || town.key.clone();

    add(rng, "admin".into(), vec![("county_admin", city.key.clone())]);
    add(rng, "townadmin".into(), vec![("town_admin", t())]);
    add(rng, "leader".into(), vec![("town_admin", t())]);
    for i in 1..=2 {
        add(rng, format!("dispatcher{i}"), vec![("dispatcher", t())]);
    }
    for (user, role) in [
        ("pl1", "political_legal"),
        ("disc1", "discipline"),
        ("police1", "police"),
        ("justice1", "justice"),
        ("petitions1", "petitions"),
        ("village1", "village"),
    ] {
        add(rng, user.into(), vec![(role, t())]);
    }
    for (i, area) in areas.iter().enumerate() {
        add(rng, format!("ac{}", i + 1), vec![("area_chief", area.key.clone())]);
    }
    for (prefix, role) in
        [("gc", "grid_chief"), ("vc", "village_cadre"), ("lc", "liaison_cadre"), ("sc", "store_clerk")]
    {
        for (i, av) in admin_villages.iter().enumerate() {
            add(rng, format!("{prefix}{}", i + 1), vec![(role, av.key.clone())]);
        }
    }
    for (i, nv) in natural_villages.iter().enumerate() {
        let roles = grids
            .iter()
            .filter(|g| g.parent_key.as_deref() == Some(nv.key.as_str()))
            .map(|g| ("grid_worker", g.key.clone()))
            .collect();
        add(rng, format!("gw{:02}", i + 1), roles);
    }
    for (i, nv) in natural_villages.iter().take(20).enumerate() {
        add(rng, format!("pm{:02}", i + 1), vec![("peacemaker", nv.key.clone())]);
    }
    for i in 1..=18 {
        add(rng, format!("of{i:02}"), vec![("officer", t())]);
    }

    // Residents: elderly-headed households in three different admin villages (one in each
    // area and one more), preferring elderly people living alone.
    for (n, av_ix) in [0usize, 3, 6].into_iter().enumerate() {
        let Some(av) = admin_villages.get(av_ix) else { continue };
        let prefix = format!("{}-", av.key);
        let in_av = households.iter().filter(|h| h.code.starts_with(&prefix));
        let alone = in_av.clone().find(|h| people::is_elderly_alone(&h.residents));
        let oldest = in_av.min_by_key(|h| (h.head().map(|p| p.birth_year), h.code.clone()));
        if let Some(h) = alone.or(oldest) {
            out.push(DemoAccount {
                username: format!("res{}", n + 1),
                display_name: h.head().map(|p| p.name.clone()).unwrap_or_default(),
                phone: h.phone.clone(),
                roles: vec![("resident", h.code.clone())],
            });
        }
    }
    out
}

/// Printable rows `(usernames, roles, scope)` describing the demo accounts, with runs such as
/// `gw01–gw76` folded into one line, so the whole list stays short (about 20 lines).
pub fn summary(town: &DemoTown) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut i = 0;
    let accounts = &town.accounts;
    while i < accounts.len() {
        let Some(first) = accounts.get(i) else { break };
        let stem = username_stem(&first.username);
        let roles = role_names(first);
        let mut j = i + 1;
        while accounts.get(j).is_some_and(|a| username_stem(&a.username) == stem && role_names(a) == roles) {
            j += 1;
        }
        let group = accounts.get(i..j).unwrap_or(&[]);
        let users = match group {
            [one] => one.username.clone(),
            [a, .., b] => format!("{}–{}", a.username, b.username),
            [] => String::new(),
        };
        let scopes: Vec<String> = group.iter().map(|a| scope_text(town, a)).collect();
        let scope = if scopes.windows(2).all(|w| w[0] == w[1]) {
            scopes.first().cloned().unwrap_or_default()
        } else if scopes.len() <= 3 {
            scopes.join("; ")
        } else {
            let kind = group.first().map(|a| scope_kind_text(town, a)).unwrap_or_default();
            format!(
                "one per {kind}: {} … {}",
                scopes.first().cloned().unwrap_or_default(),
                scopes.last().cloned().unwrap_or_default()
            )
        };
        rows.push((users, roles.join(", "), scope));
        i = j;
    }
    rows
}

fn username_stem(username: &str) -> &str {
    username.trim_end_matches(|c: char| c.is_ascii_digit())
}

fn role_names(a: &DemoAccount) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = a.roles.iter().map(|(r, _)| *r).collect();
    v.dedup();
    v
}

/// What one account's scopes are, in words: a region name, "the N grids of X", or a household.
fn scope_text(town: &DemoTown, a: &DemoAccount) -> String {
    let mut parts = Vec::new();
    let grids: Vec<&DemoRegion> =
        a.roles.iter().filter_map(|(_, key)| town.region(key)).filter(|r| r.kind == "grid").collect();
    if !grids.is_empty() && grids.len() == a.roles.len() {
        let parent = grids.first().and_then(|g| g.parent_key.as_deref());
        if grids.iter().all(|g| g.parent_key.as_deref() == parent) {
            let name = parent.and_then(|p| town.region(p)).map(|r| r.name.as_str()).unwrap_or("");
            let plural = if grids.len() == 1 { "" } else { "s" };
            return format!("all grids of {name} ({} grid{plural})", grids.len());
        }
    }
    for (_, key) in &a.roles {
        if let Some(r) = town.region(key) {
            parts.push(r.name.clone());
        } else if let Some(h) = town.household(key) {
            let head = h.head().map(|p| p.name.as_str()).unwrap_or("");
            parts.push(format!("{} ({head})", h.address));
        } else {
            parts.push(key.clone());
        }
    }
    parts.dedup();
    parts.join(", ")
}

fn scope_kind_text(town: &DemoTown, a: &DemoAccount) -> String {
    let kind = a.roles.first().and_then(|(_, key)| town.region(key)).map(|r| r.kind).unwrap_or("household");
    let base = match kind {
        "grid" => "natural village",
        other => other,
    };
    base.replace('_', " ")
}

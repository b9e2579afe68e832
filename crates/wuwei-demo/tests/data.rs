//! The demo data: determinism, counts, keys and codes, households and residents, accounts.

// Helpers outside #[test] functions may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use wuwei_demo::{DEMO_SEED, DEMO_YEAR, DemoRegion, DemoTown, generate, summary};

/// FNV-1a over a canonical encoding of everything generated (floats by their bits), so any
/// change of the output — on another machine, or after a dependency upgrade — is caught.
fn fingerprint(t: &DemoTown) -> u64 {
    struct H(u64);
    impl H {
        fn bytes(&mut self, b: &[u8]) {
            for x in b {
                self.0 = (self.0 ^ u64::from(*x)).wrapping_mul(0x100_0000_01b3);
            }
            self.0 = (self.0 ^ 0xff).wrapping_mul(0x100_0000_01b3);
        }
        fn str(&mut self, s: &str) {
            self.bytes(s.as_bytes());
        }
        fn f(&mut self, x: f64) {
            self.bytes(&x.to_bits().to_le_bytes());
        }
    }
    let mut h = H(0xcbf2_9ce4_8422_2325);
    for r in t.regions() {
        h.str(&r.key);
        h.str(r.parent_key.as_deref().unwrap_or("-"));
        h.str(r.kind);
        h.str(&r.name);
        h.str(&r.code);
        for ring in &r.polygon {
            for p in ring {
                h.f(p[0]);
                h.f(p[1]);
            }
        }
    }
    for hh in &t.households {
        h.str(&hh.code);
        h.str(&hh.grid_key);
        h.str(&hh.address);
        h.f(hh.lon);
        h.f(hh.lat);
        h.str(&hh.phone);
        for p in &hh.residents {
            h.str(&p.name);
            h.str(p.gender);
            h.bytes(&p.birth_year.to_le_bytes());
            h.str(p.relation);
            h.str(p.phone.as_deref().unwrap_or("-"));
        }
    }
    for a in &t.accounts {
        h.str(&a.username);
        h.str(&a.display_name);
        h.str(&a.phone);
        for (role, scope) in &a.roles {
            h.str(role);
            h.str(scope);
        }
    }
    h.0
}

#[test]
fn same_seed_gives_the_same_town() {
    let a = generate(DEMO_SEED);
    let b = generate(DEMO_SEED);
    assert_eq!(a, b);
    assert_eq!(fingerprint(&a), fingerprint(&b));
}

#[test]
fn different_seeds_give_different_towns() {
    let a = generate(1);
    let b = generate(2);
    assert_ne!(a, b);
    assert_ne!(a.town.polygon, b.town.polygon, "geometry should depend on the seed");
    let names = |t: &DemoTown| t.natural_villages.iter().map(|r| r.name.clone()).collect::<BTreeSet<_>>();
    assert_ne!(names(&a), names(&b), "village names should depend on the seed");
    let phones = |t: &DemoTown| t.households.iter().map(|h| h.phone.clone()).collect::<Vec<_>>();
    assert_ne!(phones(&a), phones(&b), "households should depend on the seed");
}

/// The demo seed's output, pinned. If you change the generator on purpose, update this value
/// (and say so in the commit): the demo data then changes for everybody.
#[test]
fn demo_seed_output_is_pinned() {
    assert_eq!(fingerprint(&generate(DEMO_SEED)), 0xFA70A7E6C7221940);
}

#[test]
fn counts() {
    let t = generate(DEMO_SEED);
    assert_eq!(t.city.kind, "city");
    assert_eq!(t.town.kind, "town");
    assert_eq!(t.areas.len(), 2);
    assert_eq!(t.admin_villages.len(), 8);
    assert_eq!(t.natural_villages.len(), 76);
    assert_eq!(t.grids.len(), 160);
    for nv in &t.natural_villages {
        assert!(t.grids.iter().any(|g| g.parent_key.as_deref() == Some(nv.key.as_str())), "{} has no grid", nv.key);
    }
    let n = t.households.len();
    assert!((2_700..=3_300).contains(&n), "{n} households");
    let mut per_grid: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &t.households {
        *per_grid.entry(h.grid_key.as_str()).or_default() += 1;
    }
    assert_eq!(per_grid.len(), t.grids.len(), "every grid has households");
    assert!(per_grid.values().all(|n| (10..=30).contains(n)), "{per_grid:?}");
}

#[test]
fn household_totals_hold_for_many_seeds() {
    for seed in 0..30u64 {
        let t = generate(seed);
        let n = t.households.len();
        assert!((2_700..=3_300).contains(&n), "seed {seed}: {n} households");
        assert_eq!(t.natural_villages.len(), 76, "seed {seed}");
    }
}

fn kinds_ok(t: &DemoTown) {
    let by_key: BTreeMap<&str, &DemoRegion> = t.regions().map(|r| (r.key.as_str(), r)).collect();
    let parent_kind = |r: &DemoRegion| r.parent_key.as_deref().map(|k| by_key[k].kind);
    assert_eq!(parent_kind(&t.city), None);
    assert_eq!(parent_kind(&t.town), Some("city"));
    for (list, kind, parent) in [
        (&t.areas, "area", "town"),
        (&t.admin_villages, "admin_village", "area"),
        (&t.natural_villages, "natural_village", "admin_village"),
        (&t.grids, "grid", "natural_village"),
    ] {
        for r in list {
            assert_eq!(r.kind, kind, "{}", r.key);
            assert_eq!(parent_kind(r), Some(parent), "{}", r.key);
            let parent_key = r.parent_key.as_deref().unwrap();
            assert!(
                r.key.starts_with(&format!("{parent_key}-")) || kind == "admin_village",
                "{} under {parent_key}",
                r.key
            );
        }
    }
}

#[test]
fn keys_codes_and_names() {
    let t = generate(DEMO_SEED);
    kinds_ok(&t);
    let keys: BTreeSet<&str> = t.regions().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), t.regions().count(), "keys unique");
    let codes: BTreeSet<&str> = t.regions().map(|r| r.code.as_str()).collect();
    assert_eq!(codes.len(), t.regions().count(), "codes unique");

    assert_eq!((t.city.code.as_str(), t.city.name.as_str()), ("371481", "乐陵市"));
    assert_eq!((t.town.key.as_str(), t.town.code.as_str(), t.town.name.as_str()), ("DW", "371481107", "丁坞镇"));
    for (i, av) in t.admin_villages.iter().enumerate() {
        assert_eq!(av.key, format!("DW-AV{:02}", i + 1));
        assert_eq!(av.code, format!("371481107{:03}", 201 + i));
        assert_eq!(av.code.len(), 12);
        assert!(av.name.ends_with('村'));
    }
    for r in t.areas.iter().chain(&t.natural_villages).chain(&t.grids) {
        assert_eq!(r.code, r.key, "below town level the code is the key");
    }
    // key shapes, e.g. DW-AV03-NV05-G2
    for g in &t.grids {
        let parts: Vec<&str> = g.key.split('-').collect();
        assert_eq!(parts.len(), 4, "{}", g.key);
        assert!(parts[1].starts_with("AV") && parts[2].starts_with("NV") && parts[3].starts_with('G'), "{}", g.key);
    }
    // village names unique in the town (admin and natural together), Chinese, short
    let village_names: Vec<&str> =
        t.admin_villages.iter().chain(&t.natural_villages).map(|r| r.name.as_str()).collect();
    let unique: BTreeSet<&str> = village_names.iter().copied().collect();
    assert_eq!(unique.len(), village_names.len(), "village names unique");
    for n in &village_names {
        assert!(
            (2..=6).contains(&n.chars().count()) && n.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{n}"
        );
    }
    let grid_names: BTreeSet<&str> = t.grids.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(grid_names.len(), t.grids.len(), "grid names unique");
    for g in &t.grids {
        let nv = t.region(g.parent_key.as_deref().unwrap()).unwrap();
        assert!(g.name.starts_with(&nv.name) && g.name.ends_with("网格"), "{}", g.name);
    }
    assert_ne!(t.areas[0].name, t.areas[1].name);
}

fn age(birth_year: i32) -> i32 {
    DEMO_YEAR - birth_year
}

fn is_demo_phone(p: &str) -> bool {
    p.len() == 11 && p.starts_with("1700") && p.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn households_and_residents_are_plausible() {
    let t = generate(DEMO_SEED);
    let grids: BTreeMap<&str, &DemoRegion> = t.grids.iter().map(|g| (g.key.as_str(), g)).collect();
    let codes: BTreeSet<&str> = t.households.iter().map(|h| h.code.as_str()).collect();
    assert_eq!(codes.len(), t.households.len(), "household codes unique");

    let mut phones = BTreeSet::new();
    let mut elderly_alone = 0;
    let mut people = 0;
    let mut relations: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &t.households {
        let grid = grids[h.grid_key.as_str()];
        let nv = t.region(grid.parent_key.as_deref().unwrap()).unwrap();
        // DW-AV03-NV05-0012 at 前李庄 12 号
        let number =
            h.code.strip_prefix(&format!("{}-", nv.key)).unwrap_or_else(|| panic!("{} not in {}", h.code, nv.key));
        assert_eq!(number.len(), 4, "{}", h.code);
        let n: u32 = number.parse().unwrap();
        assert_eq!(h.address, format!("{} {n} 号", nv.name));
        assert!(is_demo_phone(&h.phone), "{}", h.phone);
        assert!(phones.insert(h.phone.clone()), "phone {} repeated", h.phone);

        assert!((1..=6).contains(&h.residents.len()), "{}", h.code);
        people += h.residents.len();
        let head = &h.residents[0];
        assert_eq!(head.relation, "head", "{}: head first", h.code);
        assert_eq!(h.residents.iter().filter(|r| r.relation == "head").count(), 1, "{}", h.code);
        assert!((30..=80).contains(&age(head.birth_year)), "{}: head aged {}", h.code, age(head.birth_year));
        assert_eq!(head.phone.as_deref(), Some(h.phone.as_str()));
        if h.residents.len() == 1 && age(head.birth_year) >= 65 {
            elderly_alone += 1;
        }
        for r in &h.residents {
            *relations.entry(r.relation).or_default() += 1;
            assert!(["male", "female"].contains(&r.gender));
            assert!((2..=4).contains(&r.name.chars().count()), "{}", r.name);
            assert!((0..=100).contains(&age(r.birth_year)), "{}: {}", h.code, r.birth_year);
            let gap = age(head.birth_year) - age(r.birth_year);
            match r.relation {
                "head" => {}
                "spouse" => {
                    assert_ne!(r.gender, head.gender, "{}", h.code);
                    assert!(gap.abs() <= 10, "{}: spouse {gap} years apart", h.code);
                }
                "child" => assert!(gap >= 18, "{}: child only {gap} years younger", h.code),
                "grandchild" => assert!(gap >= 36, "{}: grandchild only {gap} years younger", h.code),
                "parent" => assert!(gap <= -18, "{}: parent only {} years older", h.code, -gap),
                "sibling" => assert!(gap.abs() <= 12, "{}", h.code),
                "other" => {}
                other => panic!("unknown relation {other}"),
            }
            if r.relation != "head"
                && let Some(p) = &r.phone
            {
                assert!(is_demo_phone(p), "{p}");
                assert!(phones.insert(p.clone()), "phone {p} repeated");
                assert!(age(r.birth_year) >= 16, "{}: a phone for a child", h.code);
            }
        }
    }
    let n = t.households.len();
    // some elderly living alone (the one-click call serves them), but not most households
    assert!(elderly_alone * 100 >= 5 * n && elderly_alone * 100 <= 20 * n, "{elderly_alone} of {n} live alone");
    let avg = people as f64 / n as f64;
    assert!((2.5..=4.5).contains(&avg), "{avg} people per household");
    for rel in ["spouse", "child", "parent", "grandchild", "sibling", "other"] {
        assert!(relations.get(rel).copied().unwrap_or(0) > 0, "no {rel}");
    }
    // both genders among heads and all people
    let women = t.households.iter().flat_map(|h| &h.residents).filter(|r| r.gender == "female").count();
    assert!(women * 100 > 40 * people && women * 100 < 60 * people, "{women} women of {people}");
}

/// The scope kind each role must point at.
fn scope_kind(role: &str) -> &'static str {
    match role {
        "county_admin" => "city",
        "grid_worker" => "grid",
        "grid_chief" | "village_cadre" | "liaison_cadre" | "store_clerk" => "admin_village",
        "area_chief" => "area",
        "peacemaker" => "natural_village",
        "resident" => "household",
        "town_admin" | "dispatcher" | "officer" | "political_legal" | "discipline" | "police" | "justice"
        | "petitions" | "village" => "town",
        other => panic!("unexpected role {other}"),
    }
}

#[test]
fn accounts_are_complete_and_scoped_right() {
    let t = generate(DEMO_SEED);
    let names: Vec<&str> = t.accounts.iter().map(|a| a.username.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "usernames unique");

    let mut want: BTreeSet<String> = [
        "admin",
        "townadmin",
        "leader",
        "dispatcher1",
        "dispatcher2",
        "pl1",
        "disc1",
        "police1",
        "justice1",
        "petitions1",
        "village1",
        "ac1",
        "ac2",
        "res1",
        "res2",
        "res3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 1..=8 {
        for p in ["gc", "vc", "lc", "sc"] {
            want.insert(format!("{p}{i}"));
        }
    }
    want.extend((1..=76).map(|i| format!("gw{i:02}")));
    want.extend((1..=20).map(|i| format!("pm{i:02}")));
    want.extend((1..=18).map(|i| format!("of{i:02}")));
    assert_eq!(unique, want.iter().map(String::as_str).collect());

    for a in &t.accounts {
        assert!(!a.roles.is_empty(), "{}", a.username);
        assert!((2..=4).contains(&a.display_name.chars().count()), "{}", a.display_name);
        assert!(is_demo_phone(&a.phone), "{}", a.phone);
        for (role, scope) in &a.roles {
            let kind = scope_kind(role);
            if kind == "household" {
                assert!(t.household(scope).is_some(), "{}: no household {scope}", a.username);
            } else {
                let r = t.region(scope).unwrap_or_else(|| panic!("{}: no region {scope}", a.username));
                assert_eq!(r.kind, kind, "{} {role} scoped to {scope}", a.username);
            }
        }
    }
    let role_of =
        |u: &str| -> Vec<(&str, &str)> { t.account(u).unwrap().roles.iter().map(|(r, s)| (*r, s.as_str())).collect() };
    assert_eq!(role_of("admin"), vec![("county_admin", t.city.key.as_str())]);
    assert_eq!(role_of("townadmin"), vec![("town_admin", "DW")]);
    assert_eq!(role_of("leader"), vec![("town_admin", "DW")]);
    for (u, r) in [
        ("pl1", "political_legal"),
        ("disc1", "discipline"),
        ("police1", "police"),
        ("justice1", "justice"),
        ("petitions1", "petitions"),
        ("village1", "village"),
        ("dispatcher1", "dispatcher"),
        ("dispatcher2", "dispatcher"),
        ("of01", "officer"),
        ("of18", "officer"),
    ] {
        assert_eq!(role_of(u), vec![(r, "DW")], "{u}");
    }
    // one grid worker per natural village, on each of its grids: all grids covered once
    let mut covered = BTreeSet::new();
    for (i, nv) in t.natural_villages.iter().enumerate() {
        let roles = role_of(&format!("gw{:02}", i + 1));
        let grids: BTreeSet<&str> = t
            .grids
            .iter()
            .filter(|g| g.parent_key.as_deref() == Some(nv.key.as_str()))
            .map(|g| g.key.as_str())
            .collect();
        assert_eq!(roles.iter().map(|(_, s)| *s).collect::<BTreeSet<_>>(), grids, "gw{:02}", i + 1);
        assert!(roles.iter().all(|(r, _)| *r == "grid_worker"));
        for (_, g) in roles {
            assert!(covered.insert(g.to_string()), "grid {g} has two workers");
        }
    }
    assert_eq!(covered.len(), t.grids.len());
    for (i, av) in t.admin_villages.iter().enumerate() {
        for (p, role) in [("gc", "grid_chief"), ("vc", "village_cadre"), ("lc", "liaison_cadre"), ("sc", "store_clerk")]
        {
            assert_eq!(role_of(&format!("{p}{}", i + 1)), vec![(role, av.key.as_str())]);
        }
    }
    for (i, area) in t.areas.iter().enumerate() {
        assert_eq!(role_of(&format!("ac{}", i + 1)), vec![("area_chief", area.key.as_str())]);
    }
    for (i, nv) in t.natural_villages.iter().take(20).enumerate() {
        assert_eq!(role_of(&format!("pm{:02}", i + 1)), vec![("peacemaker", nv.key.as_str())]);
    }
    // residents: elderly-headed households in different admin villages
    let mut villages = BTreeSet::new();
    for u in ["res1", "res2", "res3"] {
        let a = t.account(u).unwrap();
        let h = t.household(&a.roles[0].1).unwrap();
        let head = h.head().unwrap();
        assert!(age(head.birth_year) >= 65, "{u}: head aged {}", age(head.birth_year));
        assert_eq!(a.display_name, head.name);
        assert_eq!(a.phone, h.phone);
        let av = h.code.split('-').nth(1).unwrap().to_string();
        assert!(villages.insert(av), "{u}: same admin village as another resident");
    }
    // staff phones are their own
    let household_phones: BTreeSet<&str> = t.households.iter().map(|h| h.phone.as_str()).collect();
    let staff: Vec<&str> = t.accounts.iter().filter(|a| a.roles[0].0 != "resident").map(|a| a.phone.as_str()).collect();
    assert_eq!(staff.iter().collect::<BTreeSet<_>>().len(), staff.len(), "staff phones unique");
    assert!(staff.iter().all(|p| !household_phones.contains(p)));
}

#[test]
fn summary_is_short_and_lists_everyone() {
    let t = generate(DEMO_SEED);
    let rows = summary(&t);
    assert!(rows.len() <= 40 && rows.len() >= 10, "{} rows", rows.len());
    assert!(
        rows.iter().any(|(u, r, s)| u == "gw01–gw76" && r == "grid_worker" && s.starts_with("one per natural village"))
    );
    assert!(rows.iter().any(|(u, r, s)| u == "admin" && r == "county_admin" && s == "乐陵市"));
    // every account is in exactly one row (a single name, or a first–last run in list order)
    let position: BTreeMap<&str, usize> =
        t.accounts.iter().enumerate().map(|(i, a)| (a.username.as_str(), i)).collect();
    let mut seen = vec![0usize; t.accounts.len()];
    for (users, roles, scope) in &rows {
        assert!(!roles.is_empty() && !scope.is_empty(), "{users}");
        let (a, b) = users.split_once('–').unwrap_or((users.as_str(), users.as_str()));
        for n in &mut seen[position[a]..=position[b]] {
            *n += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
}

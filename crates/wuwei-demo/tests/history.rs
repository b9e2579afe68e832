//! The demo town's case history: deterministic, consistent timelines, the shape the figures
//! page needs (volume, seasons, sources, open cases at the end) and a real improvement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use wuwei_demo::{
    DEMO_SEED, DemoCase, HistorySpec, SpecCategory, case_history, days_from_civil, generate, local_day_of,
};

/// The case module's defaults, written out (this crate does not depend on the domain).
fn spec() -> HistorySpec {
    let cat = |code: &str, kind: &str, office: Option<&str>| SpecCategory {
        code: code.into(),
        unit_kind: kind.into(),
        office: office.map(Into::into),
    };
    HistorySpec {
        categories: vec![
            cat("work_safety", "town_office", Some("office-work-safety")),
            cat("fire", "grid", None),
            cat("fire_smoke", "grid", None),
            cat("straw_burning", "grid", None),
            cat("environment", "grid", None),
            cat("garbage", "grid", None),
            cat("sewage", "town_office", Some("office-environment")),
            cat("roads", "village_committee", None),
            cat("streetlight", "village_committee", None),
            cat("water_power", "village_committee", None),
            cat("public_order", "town_office", Some("office-political-legal")),
            cat("neighbour_dispute", "grid", None),
            cat("land_use", "enforcement_team", Some("enforcement")),
            cat("illegal_building", "enforcement_team", Some("enforcement")),
            cat("elderly_care", "grid", None),
            cat("other", "village_committee", None),
        ],
        deadlines: vec![("urgent".into(), 30, 240), ("high".into(), 60, 1440), ("normal".into(), 120, 4320)],
        escalation_office: "office-construction".into(),
        county_unit: "county".into(),
        office_members: vec![
            ("enforcement".into(), vec!["of01".into(), "of02".into()]),
            ("office-work-safety".into(), vec!["of01".into()]),
            ("office-environment".into(), vec!["of04".into()]),
            ("office-construction".into(), vec!["of06".into()]),
            ("office-political-legal".into(), vec!["pl1".into()]),
        ],
    }
}

const UNTIL: (i32, u32, u32) = (2026, 11, 27);
const DAYS: u32 = 183;

fn history() -> Vec<DemoCase> {
    case_history(&generate(DEMO_SEED), &spec(), DEMO_SEED, DAYS, UNTIL)
}

fn median(mut xs: Vec<i64>) -> f64 {
    xs.sort();
    xs[xs.len() / 2] as f64
}

#[test]
fn the_same_seed_gives_the_same_history() {
    let town = generate(DEMO_SEED);
    let a = case_history(&town, &spec(), DEMO_SEED, 30, UNTIL);
    let b = case_history(&town, &spec(), DEMO_SEED, 30, UNTIL);
    assert_eq!(a, b);
    let c = case_history(&town, &spec(), DEMO_SEED + 1, 30, UNTIL);
    assert_ne!(a, c);
}

#[test]
fn six_months_at_8_to_30_a_day_busier_in_the_harvests() {
    let h = history();
    let first = days_from_civil(UNTIL.0, UNTIL.1, UNTIL.2) - i64::from(DAYS) + 1;
    let last = days_from_civil(UNTIL.0, UNTIL.1, UNTIL.2);
    assert!((2200..=3000).contains(&h.len()), "{} cases", h.len());
    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
    for c in &h {
        *per_day.entry(local_day_of(c.reported_at)).or_default() += 1;
    }
    assert_eq!(*per_day.keys().next().unwrap(), first);
    assert_eq!(*per_day.keys().last().unwrap(), last);
    assert_eq!(per_day.len() as u32, DAYS, "every day has cases");
    assert!(per_day.values().all(|n| (5..=36).contains(n)), "{per_day:?}");
    let june = days_from_civil(2026, 6, 5)..days_from_civil(2026, 6, 20);
    let september = days_from_civil(2026, 9, 5)..days_from_civil(2026, 9, 20);
    let busy: usize = per_day.range(june).map(|(_, n)| n).sum();
    let calm: usize = per_day.range(september).map(|(_, n)| n).sum();
    assert!(busy as f64 > calm as f64 * 1.3, "straw-burning season {busy} vs {calm}");
    let straw_june = h.iter().filter(|c| c.category == "straw_burning" && (2026, 6) == month(c.reported_at)).count();
    assert!(straw_june > 60, "{straw_june}");
}

fn month(t: i64) -> (i32, u32) {
    let (y, m, _) = wuwei_demo::civil_from_days(local_day_of(t));
    (y, m)
}

#[test]
fn every_category_village_and_source_appears_and_cameras_come_later() {
    let h = history();
    let town = generate(DEMO_SEED);
    let categories: BTreeSet<&str> = h.iter().map(|c| c.category.as_str()).collect();
    for code in spec().categories.iter().map(|c| c.code.as_str()).filter(|c| *c != "fire") {
        assert!(categories.contains(code), "{code}");
    }
    let villages: BTreeSet<&str> = h.iter().map(|c| &c.grid_key[..7]).collect::<BTreeSet<_>>().into_iter().collect();
    assert_eq!(villages.len(), town.admin_villages.len(), "{villages:?}");
    let mut sources: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &h {
        *sources.entry(c.source).or_default() += 1;
    }
    for s in ["grid_worker", "resident", "hotline", "one_click_call", "inspection", "camera"] {
        assert!(sources.get(s).copied().unwrap_or(0) > 10, "{s}: {sources:?}");
    }
    let most = sources.iter().max_by_key(|(_, n)| **n).unwrap().0;
    assert_eq!(*most, "grid_worker");
    let first_camera = h.iter().filter(|c| c.source == "camera").map(|c| c.reported_at).min().unwrap();
    assert!(month(first_camera) >= (2026, 7), "{:?}", month(first_camera));
    // Points inside the town's grids, at households for one-click calls.
    assert!(h.iter().filter(|c| c.source == "one_click_call").all(|c| c.household_code.is_some()));
}

#[test]
fn timelines_are_consistent_and_fields_follow_them() {
    let h = history();
    let end = (days_from_civil(UNTIL.0, UNTIL.1, UNTIL.2) + 1) * 86_400 - 8 * 3600;
    for (i, c) in h.iter().enumerate() {
        let e = &c.events;
        assert_eq!(e[0].action, "report", "{i}");
        assert_eq!(e[0].at, c.reported_at);
        assert!(e.windows(2).all(|w| w[0].at <= w[1].at), "{i}: events in order");
        assert!(e.iter().all(|x| x.at < end), "{i}: nothing after the cut");
        let chain = [c.accepted_at, c.dispatched_at, c.started_at, c.resolved_at, c.closed_at];
        let mut last = c.reported_at;
        for t in chain.into_iter().flatten() {
            assert!(t >= last, "{i}: times in order {c:?}");
            last = t;
        }
        match c.state {
            "closed" => assert!(c.closed_at.is_some() && c.resolved_at.is_some() && c.accepted_at.is_some()),
            "resolved" => assert!(c.resolved_at.is_some() && c.closed_at.is_none()),
            "rejected" => assert!(c.accepted_at.is_none()),
            "merged" => assert!(c.merged_into.is_some_and(|t| t != i)),
            _ => {}
        }
        if let (Some(s), Some(d)) = (c.clock_started_at, c.due_at) {
            assert!(d > s);
        }
        if let Some(r) = c.rating {
            assert!((1..=5).contains(&r));
            assert!(c.rated_at.unwrap() >= c.reported_at);
        }
        // Escalated cases stay red, unless a later step started a new clock (a result sent
        // back, a reopen).
        let restarted =
            c.events.iter().any(|e| e.action == "reopen" || (e.action == "return" && e.from == Some("resolved")));
        if c.escalation_level > 0 && !restarted {
            assert_eq!(c.card, "red", "{i}: escalated cases are overdue");
        }
    }
}

#[test]
fn most_are_closed_and_rated_well_some_late_returned_reopened_rejected_merged() {
    let h = history();
    let n = h.len() as f64;
    let share = |f: &dyn Fn(&DemoCase) -> bool| h.iter().filter(|c| f(c)).count() as f64 / n;
    let closed = share(&|c| c.state == "closed");
    assert!(closed > 0.85, "closed {closed}");
    let rated = h.iter().filter(|c| c.rating.is_some()).count();
    let happy = h.iter().filter(|c| c.rating.is_some_and(|r| r >= 4)).count();
    assert!(rated as f64 > 0.6 * n && happy as f64 > 0.75 * rated as f64, "{rated} rated, {happy} happy");
    assert!(h.iter().any(|c| c.rating.is_some_and(|r| r <= 2)));
    let has = |a: &str| h.iter().filter(|c| c.events.iter().any(|e| e.action == a)).count();
    for (action, at_least) in [
        ("return", 20),
        ("transfer", 10),
        ("escalate", 10),
        ("reopen", 3),
        ("reject", 20),
        ("merge", 20),
        ("red_card", 30),
    ] {
        assert!(has(action) >= at_least, "{action}: {}", has(action));
    }
    let late = share(&|c| c.state == "closed" && c.card == "red");
    assert!((0.01..0.15).contains(&late), "late {late}");
}

#[test]
fn the_last_days_are_still_open_in_every_state() {
    let h = history();
    let last = days_from_civil(UNTIL.0, UNTIL.1, UNTIL.2);
    let recent: Vec<&DemoCase> = h.iter().filter(|c| local_day_of(c.reported_at) >= last - 2).collect();
    let states: BTreeSet<&str> = recent.iter().map(|c| c.state).collect();
    for s in ["reported", "accepted", "dispatched", "in_progress", "resolved", "closed"] {
        assert!(states.contains(s), "{s}: {states:?}");
    }
}

#[test]
fn the_later_three_months_resolve_a_fifth_to_a_quarter_faster() {
    let h = history();
    let last = days_from_civil(UNTIL.0, UNTIL.1, UNTIL.2);
    let split = last - 90; // the last 91 days against the 91 before
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut accept_before = Vec::new();
    let mut accept_after = Vec::new();
    for c in &h {
        if let (Some(r), "resolved" | "closed") = (c.resolved_at, c.state) {
            let d = local_day_of(r);
            if d >= split {
                after.push(r - c.reported_at);
            } else if d >= split - 91 {
                before.push(r - c.reported_at);
            }
        }
        if let Some(a) = c.accepted_at {
            let d = local_day_of(a);
            if d >= split {
                accept_after.push(a - c.reported_at);
            } else if d >= split - 91 {
                accept_before.push(a - c.reported_at);
            }
        }
    }
    let change = median(after) / median(before) - 1.0;
    assert!((-0.28..=-0.18).contains(&change), "time to resolve changed by {:.1}%", change * 100.0);
    let change = median(accept_after) / median(accept_before) - 1.0;
    assert!(change < -0.1, "time to accept changed by {:.1}%", change * 100.0);
}

#[test]
fn some_open_cases_are_overdue_at_the_cut_whatever_the_hour_of_loading() {
    // The supervision board must have red cards whenever the demo is loaded: cases open at the
    // cut whose deadline passed a day or more before it.
    let h = history();
    let cut = (days_from_civil(UNTIL.0, UNTIL.1, UNTIL.2) + 1) * 86_400 - 8 * 3600;
    let red: Vec<&DemoCase> = h
        .iter()
        .filter(|c| matches!(c.state, "reported" | "accepted" | "dispatched" | "in_progress"))
        .filter(|c| c.card == "red" && c.due_at.is_some_and(|d| d < cut - 86_400 || c.escalation_level > 0))
        .collect();
    assert!(red.len() >= 2, "{} red open cases", red.len());
    assert!(red.iter().all(|c| c.events.iter().any(|e| e.action == "red_card")));
}

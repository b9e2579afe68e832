//! Case figures (事件统计) over HTTP, on both databases: the figures follow live cases exactly,
//! the incrementally kept rollup equals a fresh computation, two periods compare on the demo
//! history, the .xlsx export says what the JSON says, and who may see what.

use std::collections::BTreeMap;
use std::io::Cursor;

use chrono::Duration;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use wuwei_domain::figures::{BUCKETS, bucket_bounds, bucket_of};

use wuwei_server::Clock;

use crate::helpers::*;

// ---- helpers ----

fn town_of(s: &Session) -> String {
    s.user["towns"][0]["id"].as_str().unwrap().to_string()
}

async fn categories(app: &TestApp, s: &Session) -> BTreeMap<String, String> {
    let (status, cats) = app.get(s, &format!("/api/v1/towns/{}/categories", town_of(s))).await;
    assert_eq!(status, StatusCode::OK, "{cats}");
    cats.as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap().to_string(), c["id"].as_str().unwrap().to_string()))
        .collect()
}

async fn units(app: &TestApp, s: &Session) -> Vec<Value> {
    let (status, units) = app.get(s, &format!("/api/v1/towns/{}/units", town_of(s))).await;
    assert_eq!(status, StatusCode::OK, "{units}");
    units.as_array().unwrap().clone()
}

/// The town's admin villages, as a dispatcher sees them.
async fn admin_villages(app: &TestApp, s: &Session) -> Vec<Value> {
    let (status, page) = app.get(s, "/api/v1/regions?kind=admin_village&page_size=200").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap().clone();
    assert!(items.len() >= 3, "{page}");
    items
}

/// A household inside a region.
async fn household_in(app: &TestApp, s: &Session, region_id: &str) -> Value {
    let (status, page) = app.get(s, &format!("/api/v1/households?region_id={region_id}&page_size=5")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

async fn report(app: &TestApp, s: &Session, category_id: &str, at: &Value, priority: &str, source: &str) -> Value {
    let (status, case) = app
        .post(
            s,
            "/api/v1/cases",
            json!({"category_id": category_id, "priority": priority, "title": "统计测试", "description": "figures",
                   "lat": at["lat"], "lon": at["lon"], "source": source}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["state"], "reported");
    case
}

async fn try_act(app: &TestApp, s: &Session, case: &Value, body: Value) -> (StatusCode, Value) {
    let mut body = body;
    body["version"] = case["version"].clone();
    app.post(s, &format!("/api/v1/cases/{}/actions", case["id"].as_str().unwrap()), body).await
}

/// Take an action that must succeed; the case as it is after it.
async fn act(app: &TestApp, s: &Session, case: &Value, body: Value) -> Value {
    let (status, after) = try_act(app, s, case, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body} on {}: {after}", case["number"]);
    after
}

async fn reread(app: &TestApp, s: &Session, case: &Value) -> Value {
    let (status, c) = app.get(s, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    c
}

async fn figures(app: &TestApp, s: &Session, query: &str) -> Value {
    let (status, f) = app.get(s, &format!("/api/v1/figures/cases?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {f}");
    f
}

fn int(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} is not a number: {v}"))
}

fn num(v: &Value, field: &str) -> f64 {
    v[field].as_f64().unwrap_or_else(|| panic!("{field} is not a number: {v}"))
}

fn group<'a>(f: &'a Value, key: &str) -> &'a Value {
    f["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key} in {}", f["groups"]))
}

const COUNTS: [&str; 8] =
    ["reported", "accepted", "resolved", "closed", "closed_on_time", "rejected", "merged", "rated"];

/// The groups of one grouping add up to the totals, count by count (and "now" too, except
/// for months, which have none).
fn assert_groups_add_up(f: &Value) {
    let groups = f["groups"].as_array().unwrap();
    for field in COUNTS {
        let sum: i64 = groups.iter().map(|g| int(g, field)).sum();
        assert_eq!(sum, int(&f["totals"], field), "{field} by {}: {}", f["group_by"], f["groups"]);
    }
    if f["group_by"] == "month" {
        assert!(groups.iter().all(|g| g["open"].is_null() && g["overdue"].is_null()), "{}", f["groups"]);
    } else {
        for field in ["open", "overdue"] {
            let sum: i64 = groups.iter().map(|g| int(g, field)).sum();
            assert_eq!(sum, int(&f["totals"], field), "{field} by {}: {}", f["group_by"], f["groups"]);
        }
    }
}

/// A percentile estimate (in `unit_secs`, rounded as the API rounds it) lies in the bucket of
/// the exact value.
fn assert_in_bucket(estimate: f64, unit_secs: f64, exact_secs: i64) {
    let (lo, hi) = bucket_bounds(bucket_of(exact_secs));
    let secs = estimate * unit_secs;
    // The API rounds minutes to 0.1 and hours to 0.01: allow that much.
    let slack = unit_secs * if unit_secs == 60.0 { 0.05 } else { 0.005 };
    assert!(secs >= lo as f64 - slack, "{secs} s below bucket [{lo}, {hi:?}) of {exact_secs} s");
    if let Some(hi) = hi {
        assert!(secs <= hi as f64 + slack, "{secs} s above bucket [{lo}, {hi}) of {exact_secs} s");
    }
}

fn nearest_rank(mut xs: Vec<i64>, p: f64) -> i64 {
    xs.sort();
    let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

fn close_to(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ---- 1. live cases ----

#[tokio::test]
async fn figures_follow_live_cases_exactly() {
    let app = TestApp::demo().await;
    // The clock starts at 17:00 in the town: the whole loop below happens on its 28 November.
    assert_eq!(start_time().to_rfc3339(), "2026-11-28T09:00:00+00:00");
    let mut gw = app.login("gw01").await;
    let mut d = app.login("dispatcher1").await;
    let town = town_of(&d);
    let cats = categories(&app, &d).await;
    let (_, mine) = app.get(&gw, "/api/v1/households?page_size=1").await;
    let home_a = mine["items"][0].clone();
    let village_a = home_a["admin_village"]["id"].as_str().unwrap().to_string();
    let village_b = admin_villages(&app, &d)
        .await
        .into_iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .find(|v| *v != village_a)
        .unwrap();
    let home_b = household_in(&app, &d, &village_b).await;
    assert_eq!(home_b["admin_village"]["id"], village_b.as_str());

    // Nothing yet.
    let range = format!("town_id={town}&from=2026-11-01&to=2026-12-31");
    let empty = figures(&app, &d, &range).await;
    assert_eq!(int(&empty["totals"], "reported"), 0);
    assert!(empty["totals"]["accept_p50_minutes"].is_null() && empty["totals"]["satisfaction"].is_null());

    // A: elderly care from the grid worker, accepted after 10 minutes, handled and closed.
    let a = report(&app, &gw, &cats["elderly_care"], &home_a, "normal", "grid_worker").await;
    // C: straw smoke, rejected; E: urgent elderly care, accepted after 2 minutes, resolved late.
    app.clock.advance(Duration::minutes(10));
    let a = act(&app, &d, &a, json!({"action": "accept"})).await;
    let a = act(&app, &d, &a, json!({"action": "dispatch"})).await;
    assert_eq!(a["unit"]["kind"], "grid");
    let c = report(&app, &gw, &cats["fire_smoke"], &home_a, "urgent", "grid_worker").await;
    let e = report(&app, &gw, &cats["elderly_care"], &home_a, "urgent", "grid_worker").await;
    app.clock.advance(Duration::minutes(2));
    let e = act(&app, &d, &e, json!({"action": "accept"})).await;
    let e = act(&app, &d, &e, json!({"action": "dispatch"})).await;
    let c = act(&app, &d, &c, json!({"action": "reject", "reason": "误报"})).await;
    assert_eq!(c["state"], "rejected");
    // B: a hotline call about a road in another village: accepted, returned, accepted again
    // 65 minutes after the report, dispatched and transferred.
    let b = report(&app, &d, &cats["roads"], &home_b, "normal", "hotline").await;
    assert_eq!(b["admin_village"]["id"], village_b.as_str());
    app.clock.advance(Duration::minutes(20));
    let b = act(&app, &d, &b, json!({"action": "accept"})).await;
    let b = act(&app, &d, &b, json!({"action": "return", "reason": "信息不全"})).await;
    assert_eq!(b["state"], "reported");
    // D: elderly care accepted after 5 minutes, resolved, closed, rated 1 and reopened.
    let dd = report(&app, &gw, &cats["elderly_care"], &home_a, "normal", "grid_worker").await;
    app.clock.advance(Duration::minutes(5));
    let dd = act(&app, &d, &dd, json!({"action": "accept"})).await;
    let dd = act(&app, &d, &dd, json!({"action": "dispatch"})).await;
    app.clock.advance(Duration::minutes(40));
    let b = act(&app, &d, &b, json!({"action": "accept"})).await;
    let b = act(&app, &d, &b, json!({"action": "dispatch"})).await;
    let social = units(&app, &d).await.into_iter().find(|u| u["code"] == "office-social-affairs").unwrap();
    let b = act(&app, &d, &b, json!({"action": "transfer", "unit_id": social["id"]})).await;
    assert_eq!(b["unit"]["id"], social["id"]);
    let a = act(&app, &gw, &reread(&app, &gw, &a).await, json!({"action": "start"})).await;
    let e = act(&app, &gw, &reread(&app, &gw, &e).await, json!({"action": "start"})).await;
    let dd = act(&app, &gw, &reread(&app, &gw, &dd).await, json!({"action": "start"})).await;
    // F: rubbish, merged into B.
    let f = report(&app, &gw, &cats["garbage"], &home_a, "normal", "grid_worker").await;
    let f = act(&app, &d, &f, json!({"action": "merge", "target_case_id": b["id"]})).await;
    assert_eq!(f["state"], "merged");
    let b = reread(&app, &d, &b).await;

    app.clock.advance(Duration::hours(1));
    let a = act(&app, &gw, &a, json!({"action": "resolve", "result_note": "已处理"})).await;
    let a = act(&app, &d, &a, json!({"action": "close"})).await;
    let a = act(&app, &gw, &a, json!({"action": "rate", "rating": 5})).await;
    let dd = act(&app, &gw, &dd, json!({"action": "resolve", "result_note": "已处理"})).await;
    let dd = act(&app, &d, &dd, json!({"action": "close"})).await;
    let dd = act(&app, &gw, &dd, json!({"action": "rate", "rating": 1})).await;
    let dd = act(&app, &gw, &dd, json!({"action": "reopen", "note": "没有解决"})).await;
    assert_eq!(dd["state"], "dispatched");
    app.clock.advance(Duration::hours(4));
    let e = act(&app, &gw, &e, json!({"action": "resolve", "result_note": "已处理"})).await;
    let e = act(&app, &d, &e, json!({"action": "close"})).await;
    assert!(e["resolved_at"].as_str().unwrap() > e["due_at"].as_str().unwrap(), "E is late: {e}");
    assert!(a["resolved_at"].as_str().unwrap() <= a["due_at"].as_str().unwrap(), "A is on time: {a}");

    // What the test did, in seconds from each report.
    let secs = |from: &Value, to: &Value| {
        let p = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        (p(to) - p(from)).num_seconds()
    };
    let accept_secs: Vec<i64> = [&a, &b, &dd, &e].iter().map(|c| secs(&c["reported_at"], &c["accepted_at"])).collect();
    assert_eq!(accept_secs, vec![600, 65 * 60, 300, 120]);
    let resolve_secs: Vec<i64> = [&a, &e].iter().map(|c| secs(&c["reported_at"], &c["resolved_at"])).collect();
    assert_eq!(resolve_secs, vec![(10 + 2 + 20 + 5 + 40 + 60) * 60, (2 + 20 + 5 + 40 + 60 + 240) * 60]);

    let check_day = |f: &Value| {
        let t = &f["totals"];
        assert_eq!(
            COUNTS.map(|k| int(t, k)),
            [6, 4, 2, 2, 1, 1, 1, 2],
            "reported A–F, accepted A B D E, resolved and closed A E (D reopened), on time A, \
             rejected C, merged F, rated A D: {t}"
        );
        assert_eq!(num(t, "on_time_share"), 0.5);
        assert_eq!(num(t, "satisfaction"), 3.0);
        assert_in_bucket(num(t, "accept_p50_minutes"), 60.0, nearest_rank(accept_secs.clone(), 0.5));
        assert_in_bucket(num(t, "accept_p90_minutes"), 60.0, nearest_rank(accept_secs.clone(), 0.9));
        assert_in_bucket(num(t, "resolve_p50_hours"), 3600.0, nearest_rank(resolve_secs.clone(), 0.5));
        assert_in_bucket(num(t, "resolve_p90_hours"), 3600.0, nearest_rank(resolve_secs.clone(), 0.9));
        let accept_mean = accept_secs.iter().sum::<i64>() as f64 / 4.0 / 60.0;
        assert!(close_to(num(t, "accept_mean_minutes"), accept_mean, 0.051), "{t} vs {accept_mean}");
        let resolve_mean = resolve_secs.iter().sum::<i64>() as f64 / 2.0 / 3600.0;
        assert!(close_to(num(t, "resolve_mean_hours"), resolve_mean, 0.0051), "{t} vs {resolve_mean}");
    };
    let today = figures(&app, &d, &format!("town_id={town}&from=2026-11-28&to=2026-11-28")).await;
    check_day(&today);
    assert_eq!((int(&today["totals"], "open"), int(&today["totals"], "overdue")), (2, 0), "B and D are open");
    assert_eq!(today["period"], json!({"from": "2026-11-28", "to": "2026-11-28", "days": 1}));
    assert_eq!(today["comparison"]["period"], json!({"from": "2026-11-27", "to": "2026-11-27", "days": 1}));
    assert_eq!(int(&today["comparison"]["totals"], "reported"), 0);
    assert!(today["comparison"]["changes"]["reported_change_pct"].is_null(), "nothing to compare with");
    assert_eq!(today["scope"]["kind"], "town");

    // Three days on, B has outrun its deadline (D, reopened later, has not): the sweeper cards
    // it red and sends it up to the county. The reporter rates E on that later day.
    let b_due = chrono::DateTime::parse_from_rfc3339(b["due_at"].as_str().unwrap()).unwrap();
    let d_due = chrono::DateTime::parse_from_rfc3339(dd["due_at"].as_str().unwrap()).unwrap();
    assert!(d_due > b_due + Duration::minutes(1));
    let now = app.clock.now();
    app.clock.advance(b_due.with_timezone(&chrono::Utc) - now + Duration::minutes(1));
    let swept = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert!(swept.escalated >= 1, "{swept:?}");
    gw = app.login("gw01").await;
    d = app.login("dispatcher1").await;
    let b = reread(&app, &d, &b).await;
    assert_eq!((b["card"].as_str(), b["unit"]["kind"].as_str()), (Some("red"), Some("county")), "{b}");
    let e = act(&app, &gw, &reread(&app, &gw, &e).await, json!({"action": "rate", "rating": 4})).await;
    assert_eq!(e["rating"], 4);

    // The day of the loop has not changed; the day of E's rating holds only that.
    let today = figures(&app, &d, &format!("town_id={town}&from=2026-11-28&to=2026-11-28")).await;
    check_day(&today);
    // B climbed to the county on a fresh deadline: it keeps its red card, but it is not overdue
    // until that deadline passes too; the queue's `overdue` filter agrees.
    assert_eq!((int(&today["totals"], "open"), int(&today["totals"], "overdue")), (2, 0), "{today}");
    let (_, overdue) = app.get(&d, &format!("/api/v1/cases?town_id={town}&overdue=true")).await;
    assert_eq!(overdue["total"], 0, "{overdue}");
    let (_, red) = app.get(&d, &format!("/api/v1/cases?town_id={town}&card=red")).await;
    assert_eq!(red["total"], 1, "{red}");
    let later = figures(&app, &d, &format!("town_id={town}&from=2026-11-29&to=2026-12-01")).await;
    let t = &later["totals"];
    assert_eq!(COUNTS.map(|k| int(t, k)), [0, 0, 0, 0, 0, 0, 0, 1], "{t}");
    assert_eq!(num(t, "satisfaction"), 4.0);
    assert!(t["on_time_share"].is_null() && t["accept_p50_minutes"].is_null(), "{t}");
    // The two together, and the default comparison against the days before.
    let all = figures(&app, &d, &format!("{range}&group_by=category")).await;
    let t = &all["totals"];
    assert_eq!(COUNTS.map(|k| int(t, k)), [6, 4, 2, 2, 1, 1, 1, 3], "{t}");
    assert_eq!(num(t, "satisfaction"), 3.33, "(5 + 1 + 4) / 3");
    assert_eq!((int(t, "open"), int(t, "overdue")), (2, 0));
    assert_eq!(all["period"]["days"], 61);
    assert_eq!(all["comparison"]["period"], json!({"from": "2026-09-01", "to": "2026-10-31", "days": 61}));

    // By category: who counted where.
    assert_groups_add_up(&all);
    let care = group(&all, &cats["elderly_care"]);
    assert_eq!(care["code"], "elderly_care");
    assert_eq!(COUNTS.map(|k| int(care, k)), [3, 3, 2, 2, 1, 0, 0, 3], "A D E: {care}");
    assert_eq!((int(care, "open"), int(care, "overdue")), (1, 0), "D");
    let roads = group(&all, &cats["roads"]);
    assert_eq!(COUNTS.map(|k| int(roads, k)), [1, 1, 0, 0, 0, 0, 0, 0], "B: {roads}");
    assert_eq!((int(roads, "open"), int(roads, "overdue")), (1, 0), "B: red, on a fresh deadline");
    assert_eq!(
        (int(group(&all, &cats["fire_smoke"]), "rejected"), int(group(&all, &cats["garbage"]), "merged")),
        (1, 1)
    );
    // The busiest first.
    let reported: Vec<i64> = all["groups"].as_array().unwrap().iter().map(|g| int(g, "reported")).collect();
    assert!(reported.windows(2).all(|w| w[0] >= w[1]), "{reported:?}");

    // By admin village, handling unit, source and month: each adds up, and puts the cases
    // where they are.
    let by = |g: &str| {
        let q = format!("{range}&group_by={g}");
        let (app, d) = (&app, &d);
        async move { figures(app, d, &q).await }
    };
    let villages = by("admin_village").await;
    assert_groups_add_up(&villages);
    assert_eq!(int(group(&villages, &village_a), "reported"), 5);
    let vb = group(&villages, &village_b);
    assert_eq!((int(vb, "reported"), int(vb, "open"), int(vb, "overdue")), (1, 1, 0));
    assert_eq!(vb["name"], home_b["admin_village"]["name"]);

    let by_unit = by("unit").await;
    assert_groups_add_up(&by_unit);
    let county = group(&by_unit, b["unit"]["id"].as_str().unwrap());
    assert_eq!(COUNTS.map(|k| int(county, k)), [1, 1, 0, 0, 0, 0, 0, 0], "B, now with the county: {county}");
    assert_eq!((int(county, "open"), int(county, "overdue")), (1, 0));
    let grid_unit = group(&by_unit, a["unit"]["id"].as_str().unwrap());
    assert_eq!(int(grid_unit, "resolved"), 2, "A and E, handled by the grid");
    // The office B passed through holds nothing now: no group (its rollup rows are zeros).
    assert!(by_unit["groups"].as_array().unwrap().iter().all(|g| g["key"] != social["id"]), "{}", by_unit["groups"]);

    let sources = by("source").await;
    assert_groups_add_up(&sources);
    assert_eq!((int(group(&sources, "grid_worker"), "reported"), int(group(&sources, "hotline"), "reported")), (5, 1));
    assert_eq!(group(&sources, "hotline")["name_en"], "Hotline");

    let months = by("month").await;
    assert_groups_add_up(&months);
    let keys: Vec<&str> = months["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["2026-11", "2026-12"]);
    assert_eq!(int(group(&months, "2026-12"), "rated"), 1, "E's rating, on 1 December");
    assert!(months["totals"]["open"].is_i64(), "the totals still say what is open now");

    // After returns, a transfer, a reopen and an escalation, the rollup kept in step is what a
    // fresh computation over the cases gives.
    let kept = rollup_rows(&app).await;
    wuwei_store::figures::rebuild(app.state.store().db(), Some(uuid::Uuid::parse_str(&town).unwrap())).await.unwrap();
    assert_eq!(rollup_rows(&app).await, kept);

    // When B's fresh deadline passes too (D's has passed by then as well), both are overdue,
    // in the figures and in the queue alike.
    let b = reread(&app, &d, &b).await;
    let b_due =
        chrono::DateTime::parse_from_rfc3339(b["due_at"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc);
    let now = app.clock.now();
    app.clock.advance(b_due - now + Duration::minutes(1));
    let d = app.login("dispatcher1").await;
    let today = figures(&app, &d, &format!("town_id={town}&group_by=category")).await;
    assert_eq!(int(&today["totals"], "overdue"), 2, "B and D: {today}");
    assert_eq!(int(group(&today, &cats["roads"]), "overdue"), 1, "B");
    assert_eq!(int(group(&today, &cats["elderly_care"]), "overdue"), 1, "D");
    let (_, overdue) = app.get(&d, &format!("/api/v1/cases?town_id={town}&overdue=true")).await;
    assert_eq!(overdue["total"], 2, "{overdue}");
    assert!(overdue["items"].as_array().unwrap().iter().any(|c| c["id"] == b["id"]), "{overdue}");
    app.stop().await;
}

// ---- 2. the rollup equals a fresh computation ----

/// Every non-zero row of the rollup, in key order, as text.
async fn rollup_rows(app: &TestApp) -> Vec<String> {
    let db = app.state.store().db();
    let backend = db.get_database_backend();
    let mut cols: Vec<String> = wuwei_domain::figures::Counters::SCALARS.iter().map(|s| s.to_string()).collect();
    for prefix in ["acc_b", "res_b"] {
        cols.extend((0..BUCKETS).map(|b| format!("{prefix}{b:02}")));
    }
    let select: Vec<String> = cols.iter().map(|c| format!("CAST(\"{c}\" AS BIGINT)")).collect();
    let sql = format!(
        "SELECT \"town_id\", \"scope_id\", \"dim\", \"day\", \"key\", {} FROM \"case_stats_daily\" \
         ORDER BY \"town_id\", \"scope_id\", \"dim\", \"day\", \"key\"",
        select.join(", ")
    );
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    let mut out = Vec::new();
    for r in rows {
        let values: Vec<i64> = (0..cols.len()).map(|i| r.try_get_by_index::<i64>(i + 5).unwrap()).collect();
        if values.iter().all(|v| *v == 0) {
            continue; // a key whose cases all moved elsewhere
        }
        let town: uuid::Uuid = r.try_get_by_index(0).unwrap();
        let scope: uuid::Uuid = r.try_get_by_index(1).unwrap();
        let dim: String = r.try_get_by_index(2).unwrap();
        let day: String = r.try_get_by_index(3).unwrap();
        let key: String = r.try_get_by_index(4).unwrap();
        out.push(format!("{town} {scope} {dim} {day} {key:>36} {values:?}"));
    }
    out
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

#[tokio::test]
async fn the_rollup_kept_in_step_equals_a_fresh_computation() {
    let seed = std::env::var("WUWEI_FIGURES_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x05ee_df16_u64);
    println!("seed {seed} (WUWEI_FIGURES_SEED replays it)");
    let mut rng = Rng(seed.max(1));
    let app = TestApp::demo().await;
    let d0 = app.login("dispatcher1").await;
    let town = town_of(&d0);
    let cats = categories(&app, &d0).await;
    // Where cases come from: the grid worker's and the resident's homes, and a place in each
    // of their villages that the hotline hears about.
    let gw0 = app.login("gw01").await;
    let res0 = app.login("res1").await;
    let (_, mine) = app.get(&gw0, "/api/v1/households?page_size=3").await;
    let gw_homes: Vec<Value> = mine["items"].as_array().unwrap().clone();
    let (_, theirs) = app.get(&res0, "/api/v1/households?page_size=1").await;
    let res_home = theirs["items"][0].clone();
    let villages: Vec<String> =
        [&gw_homes[0], &res_home].iter().map(|h| h["admin_village"]["id"].as_str().unwrap().to_string()).collect();
    let mut hotline_homes = Vec::new();
    for v in &villages {
        let (_, page) = app.get(&d0, &format!("/api/v1/households?region_id={v}&page=3&page_size=10")).await;
        hotline_homes.push(page["items"][0].clone());
    }
    // Who acts: the reporters, the centre, and handlers: the grid chiefs of those villages
    // (their grids and village committees) and members of the offices cases climb to.
    let mut users: Vec<String> = vec!["gw01".into(), "dispatcher1".into(), "res1".into(), "of06".into(), "of01".into()];
    for i in 1..=admin_villages(&app, &d0).await.len() {
        let s = app.login(&format!("gc{i}")).await;
        let (_, page) = app.get(&s, "/api/v1/households?page_size=1").await;
        if page["items"][0]["admin_village"]["id"].as_str().is_some_and(|v| villages.iter().any(|x| x == v)) {
            users.push(format!("gc{i}"));
        }
    }
    assert_eq!(users.len(), 5 + villages.iter().collect::<std::collections::BTreeSet<_>>().len(), "{users:?}");
    let mut sessions = Vec::new();
    for u in &users {
        sessions.push(app.login(u).await);
    }
    // Units to transfer to: those of the villages' grids and committees, the offices, the county.
    let grids: Vec<&Value> =
        gw_homes.iter().chain([&res_home]).chain(&hotline_homes).map(|h| &h["grid"]["id"]).collect();
    let targets: Vec<String> = units(&app, &d0)
        .await
        .iter()
        .filter(|u| u["kind"] != "grid" || grids.contains(&&u["region_id"]))
        .filter(|u| u["kind"] != "village_committee" || villages.iter().any(|v| u["region_id"] == v.as_str()))
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let cat_codes = ["elderly_care", "neighbour_dispute", "garbage", "water_power", "roads", "public_order"];
    let sources = ["hotline", "camera", "inspection", "one_click_call", "staff"];

    let mut cases: Vec<String> = Vec::new();
    let mut settled = std::collections::HashSet::new();
    let mut since_login = Duration::zero();
    let (mut done, mut refused) = (0, 0);
    for step in 0..80 {
        // Time passes: minutes mostly, now and then most of a day; the sweeper runs often.
        let minutes = match rng.below(25) {
            0 => 60 * (3 + rng.below(12)),
            1..=8 => 0,
            _ => 1 + rng.below(60),
        } as i64;
        app.clock.advance(Duration::minutes(minutes));
        since_login += Duration::minutes(minutes);
        if since_login > Duration::hours(10) {
            for (s, u) in sessions.iter_mut().zip(&users) {
                *s = app.login(u).await;
            }
            since_login = Duration::zero();
        }
        if rng.below(3) == 0 {
            wuwei_server::jobs::sweep(&app.state).await.unwrap();
        }
        if cases.len() < 4 || rng.below(8) == 0 {
            let (s, home, source) = match rng.below(4) {
                0 | 1 => (&sessions[0], rng.pick(&gw_homes), "grid_worker"),
                2 => (&sessions[2], &res_home, "resident"),
                _ => (&sessions[1], rng.pick(&hotline_homes), *rng.pick(&sources)),
            };
            let priority = *rng.pick(&["urgent", "high", "normal"]);
            let case = report(&app, s, &cats[*rng.pick(&cat_codes)], home, priority, source).await;
            cases.push(case["id"].as_str().unwrap().to_string());
            continue;
        }
        // Someone takes one of the actions they may take on some case.
        let open: Vec<&String> = cases.iter().filter(|c| !settled.contains(*c)).collect();
        if open.is_empty() {
            continue;
        }
        let id = rng.pick(&open).to_string();
        let first = rng.below(sessions.len());
        let mut found = None;
        for k in 0..sessions.len() {
            let s = &sessions[(first + k) % sessions.len()];
            let (status, case) = app.get(s, &format!("/api/v1/cases/{id}")).await;
            if status == StatusCode::OK && !case["allowed_actions"].as_array().unwrap().is_empty() {
                found = Some((s, case));
                break;
            }
        }
        let Some((s, case)) = found else {
            settled.insert(id); // nobody may do anything with it any more
            continue;
        };
        let allowed: Vec<String> =
            case["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        // Mostly forward along the loop; now and then back, aside or out.
        let weight = |a: &str| match a {
            "reject" | "merge" => 1,
            "return" | "transfer" => 2,
            _ => 8,
        };
        let mut ticket = rng.below(allowed.iter().map(|a| weight(a)).sum());
        let action = allowed
            .iter()
            .find(|a| {
                let w = weight(a);
                if ticket < w {
                    return true;
                }
                ticket -= w;
                false
            })
            .unwrap()
            .clone();
        let mut body = json!({"action": action});
        match action.as_str() {
            "return" | "reject" => body["reason"] = json!("原因"),
            "resolve" => body["result_note"] = json!("已处理"),
            "transfer" => body["unit_id"] = json!(rng.pick(&targets)),
            "merge" => body["target_case_id"] = json!(rng.pick(&cases)),
            "rate" => body["rating"] = json!(1 + rng.below(5)),
            _ => {}
        }
        let (status, after) = try_act(&app, s, &case, body.clone()).await;
        match status {
            StatusCode::OK => done += 1,
            // A photo the category needs, a merge into a closed case or itself, a transfer to
            // the same unit, a reopen after a good rating: refused, and nothing changes.
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => refused += 1,
            other => panic!("step {step}: {body} on {case}: {other} {after}"),
        }
    }
    println!("{} cases, {done} actions taken, {refused} refused", cases.len());
    assert!(done > 30, "the walk did something: {done} actions");

    // Then the open cases go along the main line as far as they can, an hour a step, so that
    // every run has resolutions, close-outs and ratings too.
    const MAIN_LINE: [&str; 6] = ["accept", "dispatch", "start", "resolve", "close", "rate"];
    for (s, u) in sessions.iter_mut().zip(&users) {
        *s = app.login(u).await;
    }
    for id in cases.iter().filter(|c| !settled.contains(*c)) {
        'case: for _ in 0..MAIN_LINE.len() {
            app.clock.advance(Duration::hours(1));
            for s in &sessions {
                let (status, case) = app.get(s, &format!("/api/v1/cases/{id}")).await;
                if status != StatusCode::OK {
                    continue;
                }
                let allowed = case["allowed_actions"].as_array().unwrap();
                let Some(action) = MAIN_LINE.iter().find(|a| allowed.iter().any(|x| x == **a)) else { continue };
                let body = json!({"action": action, "result_note": "已处理", "rating": 1 + rng.below(5)});
                let (status, after) = try_act(&app, s, &case, body).await;
                match status {
                    StatusCode::OK if *action != "rate" => continue 'case,
                    StatusCode::OK => break 'case,
                    // A photo it needs; rated already (the actions offered are by state).
                    StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => break 'case,
                    other => panic!("{action} on {case}: {other} {after}"),
                }
            }
            break; // nobody here may take it further
        }
    }
    wuwei_server::jobs::sweep(&app.state).await.unwrap();

    // The figures as the rollup kept them, then recomputed from the cases table.
    let d = app.login("dispatcher1").await;
    let queries: Vec<String> = ["category", "admin_village", "unit", "source", "month"]
        .iter()
        .map(|g| format!("town_id={town}&from=2026-11-01&to=2027-01-31&group_by={g}"))
        .collect();
    let mut before = Vec::new();
    for q in &queries {
        before.push(figures(&app, &d, q).await);
    }
    for f in &before {
        assert_groups_add_up(f);
    }
    let t = &before[0]["totals"];
    println!("{t}");
    assert_eq!(int(t, "reported") as usize, cases.len(), "{t}");
    for k in ["accepted", "resolved", "closed", "rated"] {
        assert!(int(t, k) > 0, "the walk went round the loop: {k} {t}");
    }
    let kept = rollup_rows(&app).await;
    assert!(!kept.is_empty());
    let town_id = uuid::Uuid::parse_str(&town).unwrap();
    let n = wuwei_store::figures::rebuild(app.state.store().db(), Some(town_id)).await.unwrap();
    assert_eq!(n as usize, cases.len());
    let rebuilt = rollup_rows(&app).await;
    if kept != rebuilt {
        let only_kept: Vec<&String> = kept.iter().filter(|r| !rebuilt.contains(r)).collect();
        let only_rebuilt: Vec<&String> = rebuilt.iter().filter(|r| !kept.contains(r)).collect();
        panic!("seed {seed}: the rollup drifted\nkept only: {only_kept:#?}\nrebuilt only: {only_rebuilt:#?}");
    }
    // And every town at once gives the same.
    wuwei_store::figures::rebuild(app.state.store().db(), None).await.unwrap();
    assert_eq!(rollup_rows(&app).await, kept);
    for (q, b) in queries.iter().zip(&before) {
        let mut after = figures(&app, &d, q).await;
        after["as_of"] = b["as_of"].clone();
        assert_eq!(&after, b, "{q}");
    }
    app.stop().await;
}

// ---- 3. two periods, on the demo history ----

#[tokio::test]
async fn the_demo_history_compares_two_periods_with_numbers_from_its_data() {
    let app = TestApp::demo_with_history().await;
    let d = app.login("dispatcher1").await;
    let town = town_of(&d);

    // Default: the last 30 days up to today against the 30 before.
    let f = figures(&app, &d, &format!("town_id={town}")).await;
    assert_eq!(f["period"], json!({"from": "2026-10-30", "to": "2026-11-28", "days": 30}));
    assert_eq!(f["comparison"]["period"], json!({"from": "2026-09-30", "to": "2026-10-29", "days": 30}));
    let (this, other, changes) = (&f["totals"], &f["comparison"]["totals"], &f["comparison"]["changes"]);
    for t in [this, other] {
        for k in ["reported", "accepted", "resolved", "closed", "closed_on_time", "rated"] {
            assert!(int(t, k) > 0, "{k}: {t}");
        }
        for k in ["accept_p50_minutes", "accept_p90_minutes", "resolve_p50_hours", "resolve_p90_hours", "satisfaction"]
        {
            assert!(num(t, k) > 0.0, "{k}: {t}");
        }
        assert!(num(t, "accept_p50_minutes") <= num(t, "accept_p90_minutes"), "{t}");
        assert!(num(t, "resolve_p50_hours") <= num(t, "resolve_p90_hours"), "{t}");
        let share = num(t, "on_time_share");
        assert!(share > 0.0 && share <= 1.0, "{t}");
        assert!(close_to(share, int(t, "closed_on_time") as f64 / int(t, "closed") as f64, 0.0005), "{t}");
        let sat = num(t, "satisfaction");
        assert!((1.0..=5.0).contains(&sat), "{t}");
    }
    assert!(int(this, "open") > 0, "the last days' cases are still open: {this}");
    // The changes are computed from the two periods.
    let pct = |a: f64, b: f64| ((a - b) / b * 1000.0).round() / 10.0;
    let reported = (int(this, "reported") as f64, int(other, "reported") as f64);
    assert_eq!(num(changes, "reported_change_pct"), pct(reported.0, reported.1), "{changes}");
    let closed = (int(this, "closed") as f64, int(other, "closed") as f64);
    assert_eq!(num(changes, "closed_change_pct"), pct(closed.0, closed.1), "{changes}");
    // Durations compare from the unrounded estimates: within rounding of the rounded ones.
    let p50 = (num(this, "resolve_p50_hours"), num(other, "resolve_p50_hours"));
    assert!(close_to(num(changes, "resolve_p50_change_pct"), pct(p50.0, p50.1), 0.6), "{changes} vs {p50:?}");
    let points = (num(this, "on_time_share") - num(other, "on_time_share")) * 100.0;
    assert!(close_to(num(changes, "on_time_share_change_points"), points, 0.1), "{changes}");
    let sat = num(this, "satisfaction") - num(other, "satisfaction");
    assert!(close_to(num(changes, "satisfaction_change"), sat, 0.011), "{changes}");

    // The history gets faster over the months: this quarter resolves and accepts faster than
    // the last (month against month, the mix of categories moves the numbers either way:
    // October's straw fires are put out within the hour).
    let q = figures(&app, &d, &format!("town_id={town}&from=2026-08-30&to=2026-11-28")).await;
    assert_eq!(q["comparison"]["period"], json!({"from": "2026-05-31", "to": "2026-08-29", "days": 91}));
    let qc = &q["comparison"]["changes"];
    for k in ["resolve_p50_change_pct", "resolve_mean_change_pct", "accept_p50_change_pct"] {
        assert!(num(qc, k) < -10.0, "{k}: {qc}");
    }

    // The period's reports are the cases created in it (local days: UTC+8).
    let (_, page) = app.get(&d, "/api/v1/cases?from=2026-10-29T16:00:00Z&to=2026-11-28T16:00:00Z&page_size=1").await;
    assert_eq!(page["total"].as_i64().unwrap(), int(this, "reported"), "{page}");
    let (_, open) = app.get(&d, "/api/v1/cases?state=open&page_size=1").await;
    assert_eq!(open["total"].as_i64().unwrap(), int(this, "open"));

    // Every grouping adds up to the totals, over categories, villages, units and sources that
    // come from the data.
    for (g, at_least) in [("category", 8), ("admin_village", 5), ("unit", 10), ("source", 5)] {
        let f = figures(&app, &d, &format!("town_id={town}&group_by={g}")).await;
        assert_groups_add_up(&f);
        let busy = f["groups"].as_array().unwrap().iter().filter(|g| int(g, "reported") > 0).count();
        assert!(busy >= at_least, "{g}: only {busy} groups with reports: {}", f["groups"]);
    }

    // About six months of history, month by month, each with cases.
    let f = figures(&app, &d, &format!("town_id={town}&from=2026-01-01&to=2026-11-28&group_by=month")).await;
    assert_groups_add_up(&f);
    let months: Vec<(String, i64)> = f["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap().to_string(), int(g, "reported")))
        .collect();
    assert!((6..=7).contains(&months.len()), "{months:?}");
    assert!(["2026-05", "2026-06"].contains(&months[0].0.as_str()), "{months:?}");
    assert_eq!(months.last().unwrap().0, "2026-11");
    // Whole months are busy (8–30 cases a day); the first may be a few days only.
    assert!(months[1..].iter().all(|(_, n)| *n > 200), "{months:?}");
    assert!(months[0].1 > 0, "{months:?}");
    let (_, all) = app.get(&d, "/api/v1/cases?page_size=1").await;
    assert_eq!(int(&f["totals"], "reported"), all["total"].as_i64().unwrap(), "every case of the history");
    app.stop().await;
}

// ---- 4. the .xlsx export ----

fn cell(range: &calamine::Range<calamine::Data>, row: u32, col: u32) -> calamine::Data {
    range.get_value((row, col)).cloned().unwrap_or(calamine::Data::Empty)
}

fn cell_f64(range: &calamine::Range<calamine::Data>, row: u32, col: u32) -> f64 {
    match cell(range, row, col) {
        calamine::Data::Float(x) => x,
        calamine::Data::Int(x) => x as f64,
        other => panic!("({row}, {col}) is {other:?}"),
    }
}

fn cell_str(range: &calamine::Range<calamine::Data>, row: u32, col: u32) -> String {
    match cell(range, row, col) {
        calamine::Data::String(s) => s,
        calamine::Data::Empty => String::new(),
        other => panic!("({row}, {col}) is {other:?}"),
    }
}

#[tokio::test]
async fn the_xlsx_export_holds_the_same_figures_as_the_json() {
    use calamine::Reader;
    let app = TestApp::demo_with_history().await;
    let d = app.login("dispatcher1").await;
    let town = town_of(&d);
    let query = format!("town_id={town}&from=2026-09-01&to=2026-11-28&group_by=admin_village");
    let json = figures(&app, &d, &query).await;

    let resp = app
        .http
        .get(app.url(&format!("/api/v1/figures/cases.xlsx?{query}")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"case-figures-2026-09-01-2026-11-28.xlsx\""),
        "{disposition}"
    );
    assert!(disposition.contains("filename*=UTF-8''"), "{disposition}");
    assert!(
        disposition.contains(
            &"事件统计-2026-09-01-2026-11-28.xlsx"
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        ),
        "{disposition}"
    );
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "a zip");

    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(wb.sheet_names(), vec!["概况 Summary", "分组 By group", "对比 Comparison"]);

    // Summary: the metrics in rows from 6, Chinese and English names, this period's value.
    let summary = wb.worksheet_range("概况 Summary").unwrap();
    assert_eq!(cell_str(&summary, 1, 1), "2026-09-01 – 2026-11-28");
    assert_eq!((cell_str(&summary, 5, 0), cell_str(&summary, 5, 1)), ("指标".into(), "Metric".into()));
    let metric = |en: &str| -> f64 {
        let row = (6..40).find(|r| cell_str(&summary, *r, 1) == en).unwrap_or_else(|| panic!("no row {en}"));
        cell_f64(&summary, row, 2)
    };
    let t = &json["totals"];
    assert_eq!(metric("Reported"), num(t, "reported"));
    assert_eq!(metric("Closed"), num(t, "closed"));
    assert_eq!(metric("On-time share"), num(t, "on_time_share"));
    assert_eq!(metric("Time to resolve, median (h)"), num(t, "resolve_p50_hours"));
    assert_eq!(metric("Satisfaction (1–5)"), num(t, "satisfaction"));
    assert_eq!(metric("Open now"), num(t, "open"));

    // By group: two header rows, a row per group in the JSON's order, then the total.
    let groups = wb.worksheet_range("分组 By group").unwrap();
    assert_eq!((cell_str(&groups, 0, 0), cell_str(&groups, 1, 0)), ("分组".into(), "Group".into()));
    assert_eq!((cell_str(&groups, 0, 2), cell_str(&groups, 1, 2)), ("上报".into(), "Reported".into()));
    assert_eq!(cell_str(&groups, 1, 16), "Key");
    let json_groups = json["groups"].as_array().unwrap();
    assert!(json_groups.len() >= 5);
    for (i, g) in json_groups.iter().enumerate() {
        let r = 2 + i as u32;
        assert_eq!(cell_str(&groups, r, 16), g["key"].as_str().unwrap());
        assert_eq!(cell_str(&groups, r, 0), g["name"].as_str().unwrap());
        assert_eq!(cell_f64(&groups, r, 2), num(g, "reported"), "{g}");
        assert_eq!(cell_f64(&groups, r, 5), num(g, "closed"), "{g}");
        assert_eq!(cell_f64(&groups, r, 14), num(g, "open"), "{g}");
    }
    let total_row = 2 + json_groups.len() as u32;
    assert_eq!(cell_str(&groups, total_row, 0), "合计 Total");
    assert_eq!(cell_f64(&groups, total_row, 2), num(t, "reported"));

    // Comparison: this period and the other, side by side, with the change.
    let cmp = wb.worksheet_range("对比 Comparison").unwrap();
    let row = (5..40).find(|r| cell_str(&cmp, *r, 1) == "Reported").unwrap();
    assert_eq!(cell_f64(&cmp, row, 2), num(t, "reported"));
    assert_eq!(cell_f64(&cmp, row, 3), num(&json["comparison"]["totals"], "reported"));
    assert_eq!(cell_f64(&cmp, row, 4), num(&json["comparison"]["changes"], "reported_change_pct"));

    // The export answers errors like the JSON does.
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/figures/cases.xlsx?town_id={town}&group_by=weekday")))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    app.stop().await;
}

// ---- 5. who sees what, and bad input ----

#[tokio::test]
async fn figures_are_scoped_to_the_caller_and_refuse_bad_queries() {
    let app = TestApp::demo_with_history().await;
    let d = app.login("dispatcher1").await;
    let town = town_of(&d);
    let range = format!("town_id={town}&from=2026-08-01&to=2026-11-28");
    let by_village = figures(&app, &d, &format!("{range}&group_by=admin_village")).await;

    // A grid worker has no figures scope: 403. A town nobody knows: 404.
    let gw = app.login("gw01").await;
    let (status, body) = app.get(&gw, &format!("/api/v1/figures/cases?{range}")).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let other = uuid::Uuid::now_v7();
    let (status, body) = app.get(&d, &format!("/api/v1/figures/cases?town_id={other}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    // A village cadre sees their village: exactly its row of the town's figures by village.
    let vc = app.login("vc2").await;
    let mine = figures(&app, &vc, &range).await;
    assert_eq!(mine["scope"]["kind"], "admin_village");
    let ids = mine["scope"]["admin_village_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    let village = ids[0].as_str().unwrap();
    let row = group(&by_village, village);
    for k in COUNTS.iter().chain(&["open", "overdue", "accept_p50_minutes", "resolve_p90_hours", "satisfaction"]) {
        assert_eq!(mine["totals"][k], row[k], "{k}: {} vs {row}", mine["totals"]);
    }
    assert!(int(&mine["totals"], "reported") > 0);
    assert!(int(&mine["totals"], "reported") < int(&by_village["totals"], "reported"));
    // Their groups cover only their village.
    let theirs = figures(&app, &vc, &format!("{range}&group_by=admin_village")).await;
    let keys: Vec<&str> = theirs["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec![village]);
    let by_cat = figures(&app, &vc, &format!("{range}&group_by=category")).await;
    assert_groups_add_up(&by_cat);
    // The town's staff may narrow to that village and get the same; the cadre may not look
    // at another village.
    let narrowed = figures(&app, &d, &format!("{range}&admin_village_id={village}")).await;
    assert_eq!(narrowed["totals"], mine["totals"]);
    let elsewhere = admin_villages(&app, &d).await.into_iter().find(|v| v["id"] != village).unwrap();
    let (status, body) = app
        .get(&vc, &format!("/api/v1/figures/cases?{range}&admin_village_id={}", elsewhere["id"].as_str().unwrap()))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // An area chief sees the villages of their area, which add up.
    let ac = app.login("ac1").await;
    let area = figures(&app, &ac, &range).await;
    let area_villages: Vec<&str> =
        area["scope"]["admin_village_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(area_villages.len() >= 2, "{}", area["scope"]);
    for k in COUNTS.iter().chain(&["open", "overdue"]) {
        let sum: i64 = area_villages.iter().map(|v| int(group(&by_village, v), k)).sum();
        assert_eq!(int(&area["totals"], k), sum, "{k}");
    }

    // Bad queries: 400 with the field named.
    let bad = [
        ("from=2026-13-01", "from"),
        ("to=28.11.2026", "to"),
        ("from=2026-11-28&to=2026-11-01", "from"),
        ("from=2023-01-01&to=2026-11-28", "to"),
        ("compare_from=2026-01-01", "compare_to"),
        ("compare_from=2026-02-01&compare_to=2026-01-01", "compare_from"),
        ("group_by=weekday", "group_by"),
        ("admin_village_id=01900000-0000-7000-8000-000000000000", "admin_village_id"),
        ("from=1999-12-31&to=2000-01-01", "from"),
    ];
    for (q, field) in bad {
        let (status, body) = app.get(&d, &format!("/api/v1/figures/cases?town_id={town}&{q}")).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(fields(&body), vec![field], "{q}: {body}");
    }
    // The longest period allowed is fine, one day more is not.
    let max = wuwei_server::routes::figures::MAX_DAYS;
    let from = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap() - Duration::days(max - 1);
    let (status, body) = app.get(&d, &format!("/api/v1/figures/cases?town_id={town}&from={from}&to=2026-11-28")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["period"]["days"], max);
    let (status, body) = app
        .get(&d, &format!("/api/v1/figures/cases?town_id={town}&from={}&to=2026-11-28", from - Duration::days(1)))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(fields(&body), vec!["to"]);
    let (status, body) = app.get(&d, "/api/v1/figures/cases").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&d, "/api/v1/figures/cases?town_id=not-a-uuid").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    // Without signing in: 401.
    let resp = app.http.get(app.url(&format!("/api/v1/figures/cases?town_id={town}"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

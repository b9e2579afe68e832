//! The operations queue, the figures page and the deadline sweeper with a million cases stored.
//!
//! Run (SQLite, a fresh file in a temporary directory):
//!   `cargo run --release -p wuwei-bench --bin cases -- [--cases 1000000] [--scenario stored|open]`
//! PostgreSQL (a fresh database on that server, dropped by later runs of the test suite):
//!   `WUWEI_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p wuwei-bench --bin cases -- …`
//!
//! Seeding: the demo town with its six months of case history (the same loader as `wuwei
//! demo`), then copies of those cases up to `--cases`: new ids and numbers, times moved by up to
//! ±12 h inside the same six months, through the same bulk path the demo loader uses (the
//! figures rollup included). Copies carry no timeline rows: the queue, the figures and the
//! sweeper do not read timelines. The server is the real one, in this process, over HTTP on
//! 127.0.0.1, with a fake clock (so that the sweeper's passes can be placed in time).
//!
//! - `stored` (default): the history's mix (most cases closed). Measures the queue (open cases
//!   of the town, one category filter, first page of 20, nearest deadline first; also without
//!   the filter, and the finished tab newest first) and the figures page (the whole six months by category, and by month), as dispatcher1, one
//!   request at a time; p50/p99 over many requests.
//! - `open`: every copy is an open case (`dispatched`, at a unit) with a deadline clock between
//!   4 h and 3 days long, somewhere between its start and its deadline (cards consistent with
//!   "now"). Measures one sweeper pass 5 s later (the regular tick) and one 10 minutes later
//!   (after a stop): cases examined, carded, escalated, time, and the process's peak memory
//!   during the pass.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_bench::SplitMix;
use wuwei_domain::access::{Level, Place, Scope};
use wuwei_domain::case as rules;
use wuwei_server::demo::{DemoOptions, load_with};
use wuwei_server::{AppState, FakeClock, ServerConfig};
use wuwei_store::cases::{CaseFilter, CaseRow, CaseSort, CaseVisibility, list_cases};

struct Args {
    cases: usize,
    scenario: String,
    requests: usize,
}

fn args() -> Args {
    let mut a = Args { cases: 1_000_000, scenario: "stored".into(), requests: 500 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--cases" => a.cases = v.parse().unwrap(),
            "--scenario" => a.scenario = v,
            "--requests" => a.requests = v.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.scenario == "stored" || a.scenario == "open", "--scenario stored|open");
    a
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn proc_status(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The history cases of the town (the templates of the copies).
async fn history(state: &AppState, town_id: Uuid) -> Vec<CaseRow> {
    let place = Place { town_id: Some(town_id), ..Place::default() };
    let visibility = CaseVisibility { scopes: vec![Scope { level: Level::Town, place }], ..Default::default() };
    let filter = CaseFilter { town_id: Some(town_id), ..Default::default() };
    let (rows, _) = list_cases(state.store().db(), &filter, &visibility, CaseSort::Oldest, 0, 1_000_000).await.unwrap();
    rows
}

fn shift(t: Option<DateTime<Utc>>, by: chrono::Duration) -> Option<DateTime<Utc>> {
    t.map(|t| t + by)
}

/// A copy of `c` moved by `by`, with a new id (its number is given at insertion).
fn copy_of(c: &CaseRow, by: chrono::Duration) -> CaseRow {
    let mut n = c.clone();
    n.id = Uuid::now_v7();
    n.created_at = c.created_at + by;
    n.updated_at = c.updated_at + by;
    for t in [
        &mut n.reported_at,
        &mut n.accepted_at,
        &mut n.dispatched_at,
        &mut n.started_at,
        &mut n.resolved_at,
        &mut n.closed_at,
        &mut n.clock_started_at,
        &mut n.due_at,
        &mut n.next_sweep_at,
        &mut n.rated_at,
    ] {
        *t = shift(*t, by);
    }
    n.merged_into_id = None;
    n.possible_duplicate_of = None;
    n
}

/// An open copy of `c`: dispatched to its unit, `f` of a `span` clock used at `now`.
fn open_copy(c: &CaseRow, now: DateTime<Utc>, rng: &mut SplitMix) -> CaseRow {
    let mut n = copy_of(c, chrono::Duration::zero());
    let span = chrono::Duration::seconds(rng.range(4.0 * 3600.0, 72.0 * 3600.0) as i64);
    let used = rng.range(0.0, 0.99);
    let start = now - chrono::Duration::seconds((span.num_seconds() as f64 * used) as i64);
    let due = start + span;
    let card = rules::card_at(start, due, now);
    n.created_at = start - chrono::Duration::minutes(20);
    n.reported_at = Some(n.created_at);
    n.accepted_at = Some(start);
    n.dispatched_at = Some(start + chrono::Duration::minutes(5));
    (n.started_at, n.resolved_at, n.closed_at, n.rated_at) = (None, None, None, None);
    (n.rating, n.rating_comment, n.result_note) = (None, None, None);
    n.state = "dispatched".into();
    n.handler_id = None;
    n.escalation_level = 0;
    n.clock_started_at = Some(start);
    n.due_at = Some(due);
    n.card = card.as_str().into();
    n.next_sweep_at = rules::next_sweep(start, due, card);
    n.updated_at = start;
    n
}

async fn seed(state: &AppState, town_id: Uuid, a: &Args, now: DateTime<Utc>) -> usize {
    let templates: Vec<CaseRow> =
        history(state, town_id).await.into_iter().filter(|c| a.scenario == "stored" || c.unit_id.is_some()).collect();
    assert!(!templates.is_empty());
    let mut rng = SplitMix(7);
    let mut made = templates.len();
    let started = Instant::now();
    const CHUNK: usize = 20_000;
    while made < a.cases {
        let n = CHUNK.min(a.cases - made);
        let batch: Vec<CaseRow> = (0..n)
            .map(|i| {
                let t = &templates[(made + i) % templates.len()];
                if a.scenario == "open" {
                    open_copy(t, now, &mut rng)
                } else {
                    let by = chrono::Duration::seconds(rng.range(-12.0 * 3600.0, 12.0 * 3600.0) as i64);
                    // Nothing moves past "now": open history cases stay open at the same age.
                    let by = if c_end(t) + by > now { -by.abs() } else { by };
                    copy_of(t, by)
                }
            })
            .collect();
        let mut tx = state.store().begin_unaudited().await.unwrap();
        wuwei_store::history::insert_cases(&mut tx, "DW", batch, Vec::new(), Vec::new()).await.unwrap();
        tx.commit(now).await.unwrap();
        made += n;
        if made % 200_000 < CHUNK {
            println!("  seeded {made} cases ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    println!("seeded {made} cases in {:.1} s", started.elapsed().as_secs_f64());
    made
}

/// The latest time a case carries.
fn c_end(c: &CaseRow) -> DateTime<Utc> {
    [c.rated_at, c.closed_at, c.resolved_at, Some(c.updated_at), c.next_sweep_at, c.due_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(c.created_at)
}

async fn timed_gets(http: &reqwest::Client, url: &str, token: &str, n: usize) -> (Vec<f64>, Value) {
    let mut ms = Vec::with_capacity(n);
    let mut last = Value::Null;
    // Warm-up, not counted.
    for _ in 0..5 {
        let r = http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}: {}", r.text().await.unwrap());
    }
    for _ in 0..n {
        let t0 = Instant::now();
        let r = http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        last = r.json().await.unwrap();
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms, last)
}

fn report(what: &str, ms: &[f64]) {
    println!(
        "{what}: {} requests, ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        ms.len(),
        percentile(ms, 0.5),
        percentile(ms, 0.9),
        percentile(ms, 0.99),
        ms[ms.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let a = args();
    // Server errors are logged, not returned in detail: show warnings and errors.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("warn")).init();
    let dir = std::env::temp_dir().join(format!("wuwei-bench-cases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = wuwei_store::test_support::fresh_database_url(&dir).await.unwrap();
    let db_is_postgres = db_url.starts_with("postgres");
    println!("database: {}", if db_is_postgres { "PostgreSQL" } else { "SQLite" });
    let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 28, 9, 0, 0).unwrap();
    let clock = FakeClock::new(now);
    let config = ServerConfig {
        data_dir: dir.clone(),
        database_url: Some(wuwei_server::state::Secret::new(db_url)),
        // The passes measured are the only ones.
        background_jobs: false,
        ..ServerConfig::default()
    };
    let state = wuwei_server::open(config, Arc::new(clock.clone())).await.unwrap();
    let demo = load_with(state.store(), now, DemoOptions::default()).await.unwrap();
    let town_id = demo.town_id;
    seed(&state, town_id, &a, now).await;
    if db_is_postgres {
        // As after any bulk load on PostgreSQL: fresh planner statistics (autovacuum would get
        // there on its own, minutes later; until then plans are guesses).
        use wuwei_store::Conn;
        state.store().db().execute_unprepared("ANALYZE").await.unwrap();
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_state = state.clone();
    tokio::spawn(async move {
        wuwei_server::serve_with(server_state, listener, std::future::pending()).await.unwrap();
    });
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "dispatcher1", "password": "wuwei-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();

    if a.scenario == "stored" {
        let cats: Value = http
            .get(format!("{base}/api/v1/towns/{town_id}/categories"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let category = cats
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "environment")
            .or_else(|| cats.as_array().unwrap().first())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let url =
            format!("{base}/api/v1/cases?town_id={town_id}&state=open&category_id={category}&page=1&page_size=20");
        let (ms, page) = timed_gets(&http, &url, &token, a.requests).await;
        report(&format!("queue (open, one category: {} matching, first page of 20)", page["total"]), &ms);
        let url = format!("{base}/api/v1/cases?town_id={town_id}&state=open&page=1&page_size=20");
        let (ms, page) = timed_gets(&http, &url, &token, a.requests).await;
        report(&format!("queue (open, no filter: {} matching, first page of 20)", page["total"]), &ms);
        let url = format!(
            "{base}/api/v1/cases?town_id={town_id}&state=closed,rejected,merged&sort=newest&page=1&page_size=20"
        );
        let (ms, page) = timed_gets(&http, &url, &token, a.requests).await;
        report(&format!("finished tab (newest first: {} matching, first page of 20)", page["total"]), &ms);
        let url = format!("{base}/api/v1/cases/counts?town_id={town_id}");
        let (ms, _) = timed_gets(&http, &url, &token, a.requests).await;
        report("queue tab counts", &ms);
        let n = (a.requests / 5).max(20);
        let url =
            format!("{base}/api/v1/figures/cases?town_id={town_id}&from=2026-05-29&to=2026-11-27&group_by=category");
        let (ms, f) = timed_gets(&http, &url, &token, n).await;
        report(&format!("figures, six months by category ({} cases reported)", f["totals"]["reported"]), &ms);
        let url = format!("{base}/api/v1/figures/cases?town_id={town_id}&from=2026-05-29&to=2026-11-27&group_by=month");
        let (ms, _) = timed_gets(&http, &url, &token, n).await;
        report("figures, six months by month", &ms);
        let url = format!("{base}/api/v1/figures/cases?town_id={town_id}&group_by=admin_village");
        let (ms, _) = timed_gets(&http, &url, &token, n).await;
        report("figures, last 30 days by admin village", &ms);
    } else {
        for (label, after) in
            [("tick, 5 s later", Duration::from_secs(5)), ("after a 10-minute stop", Duration::from_secs(600))]
        {
            clock.advance(chrono::Duration::from_std(after).unwrap());
            let rss_before = proc_status("VmRSS:");
            // Reset the peak so that VmHWM shows this pass's own peak.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let t0 = Instant::now();
            let r = wuwei_server::jobs::sweep(&state).await.unwrap();
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "sweeper pass ({label}): {:.3} s, examined {}, yellow {}, red {}, escalated {}, skipped {}; RSS before {} MB, peak during {} MB",
                secs,
                r.examined,
                r.yellow,
                r.red,
                r.escalated,
                r.skipped,
                rss_before / 1024,
                proc_status("VmHWM:") / 1024
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

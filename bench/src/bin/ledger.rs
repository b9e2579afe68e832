//! The points ledger with a million entries: seeding through the real posting path, `wuwei
//! points verify`, and a household's balance whatever its history.
//!
//! Run (SQLite, a fresh file in a temporary directory):
//!   `cargo run --release -p wuwei-bench --bin ledger -- [--entries 1000000] [--long 100000] [--batch 5000]`
//! PostgreSQL (a fresh database on that server, dropped by later runs of the test suite):
//!   `WUWEI_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p wuwei-bench --bin ledger -- …`
//!
//! Seeding takes minutes; `--db DIR` keeps the seeded database for the next run: the first run
//! seeds into `DIR/wuwei.db` (or into `--database-url URL`, e.g. a PostgreSQL database made
//! with `createdb wuwei_bench_ledger`) and writes what it seeded to `DIR/seeded.json`; a later
//! run with the same arguments finds that file and skips seeding (the server still runs any
//! new migration on the saved database when it opens it).
//!
//! Seeding: the demo town without its case history, then postings through
//! `wuwei_store::points::post` — the path every award, redemption and return takes: head lock,
//! idempotency key, builder, balances checked twice, an audit entry each — `--batch` postings
//! per transaction, until the ledger holds `--entries` entries. The mix: awards, redemptions
//! (never over the balance), deductions (within the balance) and returns (a redemption
//! reversed), over all ~3,000 households; one household ("long") gets `--long` postings, spread
//! through the whole run. Every posting has two entries.
//!
//! Measured: the seeding rate; `verify_snapshot` (what `wuwei points verify` runs) over the
//! whole ledger, three times; with `--bin target/release/wuwei` present, the command itself
//! (process start, connection, migration check and verify); `points::balance` for the long and
//! a short household, p50/p99 over `--reads` calls; and `GET /api/v1/points/households/{id}`
//! (balance, totals, rank) for both, over HTTP on 127.0.0.1, p50/p99 over `--requests`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_bench::SplitMix;
use wuwei_domain::access::{Level, Place, Scope};
use wuwei_domain::points::ledger::{Account, PostingMeta, Request};
use wuwei_server::demo::{DemoOptions, load_with};
use wuwei_server::{FakeClock, ServerConfig};
use wuwei_store::households::{HouseholdFilter, list_households};
use wuwei_store::{Actor, points};

struct Args {
    entries: u64,
    long: u64,
    batch: u64,
    reads: usize,
    requests: usize,
    bin: String,
    keep: bool,
    /// Where to keep (and look for) a seeded database.
    db: Option<std::path::PathBuf>,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        entries: 1_000_000,
        long: 100_000,
        batch: 5_000,
        reads: 10_000,
        requests: 1_000,
        bin: "target/release/wuwei".into(),
        keep: false,
        db: None,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--keep" {
            a.keep = true;
            continue;
        }
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--entries" => a.entries = v.parse().unwrap(),
            "--long" => a.long = v.parse().unwrap(),
            "--batch" => a.batch = v.parse().unwrap(),
            "--reads" => a.reads = v.parse().unwrap(),
            "--requests" => a.requests = v.parse().unwrap(),
            "--bin" => a.bin = v,
            "--db" => a.db = Some(v.into()),
            "--database-url" => a.database_url = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.batch > 0 && a.long * 2 <= a.entries, "--batch > 0, --long at most half of --entries");
    a
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, unit: &str, xs: &[f64]) {
    println!(
        "{what}: {} samples, {unit} p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
        xs.len(),
        percentile(xs, 0.5),
        percentile(xs, 0.9),
        percentile(xs, 0.99),
        xs[xs.len() - 1]
    );
}

/// CPU seconds used by this process so far, all threads (user + system), from /proc: on a
/// shared machine, wall-clock time also counts the time other processes had the cores.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// What the seeder knows of a household, so that it asks only for postings the ledger accepts.
#[derive(Default)]
struct Household {
    balance: i64,
    postings: u64,
    /// Redemptions not yet returned (the most recent few).
    returnable: Vec<Uuid>,
}

/// Post until the ledger holds `a.entries` entries; returns the number of postings.
async fn seed(
    store: &wuwei_store::Store,
    town_id: Uuid,
    households: &[Uuid],
    long: Uuid,
    a: &Args,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (u64, HashMap<Uuid, Household>) {
    let shops: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
    let actor = Actor::system("bench");
    let mut rng = SplitMix(5);
    let mut state: HashMap<Uuid, Household> = HashMap::new();
    let postings_total = a.entries / 2;
    // Every `every`-th posting is the long household's.
    let every = (postings_total / a.long.max(1)).max(1);
    let step = chrono::Duration::microseconds((365 * 86_400 * 1_000_000) / postings_total.max(1) as i64);
    let started = Instant::now();
    let cpu0 = cpu_secs();
    let mut entries = 0u64;
    let mut posted = 0u64;
    while entries < a.entries {
        let mut tx = store.begin().await.unwrap();
        let mut in_batch = 0;
        while in_batch < a.batch && entries < a.entries {
            let household =
                if a.long > 0 && posted.is_multiple_of(every) && state.get(&long).map_or(0, |h| h.postings) < a.long {
                    long
                } else {
                    loop {
                        let h = households[(rng.next_u64() % households.len() as u64) as usize];
                        if h != long {
                            break h;
                        }
                    }
                };
            let h = state.entry(household).or_default();
            let r = rng.range(0.0, 1.0);
            let request = if r < 0.05 && !h.returnable.is_empty() {
                Request::Reversal { original: h.returnable.remove(0) }
            } else if r < 0.30 && h.balance > 0 {
                let points = (rng.range(1.0, 31.0) as i64).min(h.balance);
                Request::Redemption { household, store: shops[(rng.next_u64() % 8) as usize], points }
            } else if r < 0.38 && h.balance > 0 {
                Request::Deduction { household, points: (rng.range(1.0, 11.0) as i64).min(h.balance) }
            } else {
                Request::Award { household, points: rng.range(1.0, 21.0) as i64 }
            };
            let meta = PostingMeta {
                id: Uuid::now_v7(),
                town_id,
                at: start + step * posted as i32,
                idempotency_key: format!("bench-{posted}"),
                reference: format!("bench:{posted}"),
            };
            let p = points::post(&mut tx, &actor, meta, request).await.unwrap();
            assert!(!p.replayed);
            let p = p.posting;
            h.balance += p.change_for(&Account::household(household));
            h.postings += 1;
            if matches!(request, Request::Redemption { .. }) {
                h.returnable.push(p.id);
                if h.returnable.len() > 4 {
                    h.returnable.remove(0);
                }
            }
            entries += p.entries.len() as u64;
            posted += 1;
            in_batch += 1;
        }
        tx.commit(now).await.unwrap();
        if posted % 50_000 < a.batch {
            println!(
                "  {posted} postings, {entries} entries ({:.0} s, {:.0} postings/s)",
                started.elapsed().as_secs_f64(),
                posted as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {posted} postings ({entries} entries) through points::post, {} per transaction, in {secs:.1} s ({:.1} s CPU): {:.0} postings/s, {:.0} entries/s",
        a.batch,
        cpu_secs() - cpu0,
        posted as f64 / secs,
        entries as f64 / secs
    );
    (posted, state)
}

async fn timed_gets(http: &reqwest::Client, url: &str, token: &str, n: usize) -> (Vec<f64>, Value) {
    let mut ms = Vec::with_capacity(n);
    let mut last = Value::Null;
    for _ in 0..20 {
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

/// What a seeding run wrote to `seeded.json` beside a kept database.
fn save_seeded(
    path: &std::path::Path,
    a: &Args,
    town_id: Uuid,
    long: Uuid,
    postings: u64,
    seeded: &HashMap<Uuid, Household>,
) {
    let households: serde_json::Map<String, Value> =
        seeded.iter().map(|(id, h)| (id.to_string(), json!([h.balance, h.postings]))).collect();
    let doc = json!({
        "entries": a.entries, "long": a.long, "batch": a.batch,
        "town_id": town_id, "long_household": long, "postings": postings, "households": households,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn load_seeded(path: &std::path::Path, a: &Args) -> Option<(Uuid, Uuid, u64, HashMap<Uuid, Household>)> {
    let doc: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    assert_eq!(
        (doc["entries"].as_u64(), doc["long"].as_u64(), doc["batch"].as_u64()),
        (Some(a.entries), Some(a.long), Some(a.batch)),
        "{} was seeded with other --entries/--long/--batch: remove it to seed again",
        path.display()
    );
    let id = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap();
    let mut seeded = HashMap::new();
    for (k, v) in doc["households"].as_object()? {
        let h = Household { balance: v[0].as_i64()?, postings: v[1].as_u64()?, returnable: Vec::new() };
        seeded.insert(Uuid::parse_str(k).ok()?, h);
    }
    Some((id(&doc["town_id"]), id(&doc["long_household"]), doc["postings"].as_u64()?, seeded))
}

#[tokio::main]
async fn main() {
    let a = args();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("warn")).init();
    let dir =
        a.db.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("wuwei-bench-ledger-{}", std::process::id())));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("seeded.json");
    let db_url = match (&a.database_url, a.db.is_some()) {
        (Some(url), _) => url.clone(),
        (None, true) => format!("sqlite://{}", dir.join("wuwei.db").display()),
        (None, false) => wuwei_store::test_support::fresh_database_url(&dir).await.unwrap(),
    };
    let db_is_postgres = db_url.starts_with("postgres");
    println!("database: {}", if db_is_postgres { "PostgreSQL" } else { "SQLite" });
    let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 28, 9, 0, 0).unwrap();
    let start = now - chrono::Duration::days(366);
    let clock = FakeClock::new(now);
    let config = ServerConfig {
        data_dir: dir.clone(),
        database_url: Some(wuwei_server::state::Secret::new(db_url.clone())),
        background_jobs: false,
        ..ServerConfig::default()
    };
    let state = wuwei_server::open(config, Arc::new(clock)).await.unwrap();
    let store = state.store().clone();
    let reused = if a.db.is_some() { load_seeded(&saved, &a) } else { None };
    let town_id = match &reused {
        Some((town_id, ..)) => *town_id,
        None => load_with(&store, now, DemoOptions::TOWN_ONLY).await.unwrap().town_id,
    };
    let scope = Scope { level: Level::Town, place: Place { town_id: Some(town_id), ..Place::default() } };
    let filter = HouseholdFilter { town_id: Some(town_id), ..HouseholdFilter::default() };
    let (rows, _) = list_households(store.db(), &filter, &[scope], 0, 100_000).await.unwrap();
    let households: Vec<Uuid> = rows.iter().map(|h| h.id).collect();
    println!("demo town: {} households", households.len());
    let (long, postings, seeded) = match reused {
        Some((_, long, postings, seeded)) => {
            println!("reused the database seeded before ({}): {postings} postings", saved.display());
            (long, postings, seeded)
        }
        None => {
            let long = households[0];
            let (postings, seeded) = seed(&store, town_id, &households, long, &a, start, now).await;
            if a.db.is_some() {
                save_seeded(&saved, &a, town_id, long, postings, &seeded);
            }
            (long, postings, seeded)
        }
    };
    if db_is_postgres {
        use wuwei_store::Conn;
        store.db().execute_unprepared("ANALYZE").await.unwrap();
    }
    if !db_is_postgres {
        let bytes = std::fs::metadata(dir.join("wuwei.db")).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(dir.join("wuwei.db-wal")).map(|m| m.len()).unwrap_or(0);
        println!("database file: {} MB", bytes / 1_000_000);
    }

    // verify_snapshot: what `wuwei points verify` runs.
    for run in 1..=3 {
        let t0 = Instant::now();
        let cpu0 = cpu_secs();
        let v = points::verify_snapshot(&store, None).await.unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu0;
        assert_eq!(v.first_problem, None, "{v:?}");
        assert_eq!(v.postings, postings);
        println!(
            "verify_snapshot run {run}: {secs:.2} s ({cpu:.2} s CPU) for {} postings, {} entries, {} points in circulation ({:.0} entries/s)",
            v.postings,
            v.entries,
            v.in_circulation,
            v.entries as f64 / secs
        );
    }
    if std::path::Path::new(&a.bin).exists() {
        for run in 1..=2 {
            let t0 = Instant::now();
            let out = std::process::Command::new(&a.bin)
                .args(["points", "verify", "--database-url", &db_url])
                .env_remove("WUWEI_DATABASE_URL")
                .output()
                .unwrap();
            let secs = t0.elapsed().as_secs_f64();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
            print!(
                "`wuwei points verify` run {run}: {secs:.2} s wall clock; it printed: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    } else {
        println!("({} not found: the command itself was not timed)", a.bin);
    }

    // A household's balance: one row, whatever its history.
    let short = *households
        .iter()
        .skip(1)
        .min_by_key(|h| seeded.get(h).map_or(u64::MAX, |s| if s.postings == 0 { u64::MAX } else { s.postings }))
        .unwrap();
    let typical = *households.iter().skip(1).max_by_key(|h| seeded.get(h).map_or(0, |s| s.postings)).unwrap();
    let mut targets = vec![("long", long), ("busiest other", typical), ("short", short)];
    targets.dedup_by_key(|t| t.1);
    for (label, h) in &targets {
        let n = seeded.get(h).map_or(0, |s| s.postings);
        let expected = seeded.get(h).map_or(0, |s| s.balance);
        let mut us = Vec::with_capacity(a.reads);
        for i in 0..a.reads + 100 {
            let t0 = Instant::now();
            let b = points::balance(store.db(), town_id, Account::household(*h)).await.unwrap();
            let dt = t0.elapsed().as_secs_f64() * 1e6;
            assert_eq!(b, expected);
            if i >= 100 {
                us.push(dt);
            }
        }
        us.sort_by(f64::total_cmp);
        report(&format!("points::balance, {label} household ({n} postings, balance {expected})"), "µs", &us);
    }

    // What the household points page reads, in the store (no HTTP, no sign-in): balance, totals
    // by kind, pending awards, rank in the village.
    for (label, h) in &targets {
        let n = seeded.get(h).map_or(0, |s| s.postings);
        let row = wuwei_store::households::household(store.db(), *h).await.unwrap().unwrap();
        let mut us = Vec::with_capacity(a.reads);
        for i in 0..a.reads + 100 {
            let t0 = Instant::now();
            let p = wuwei_store::points_awards::household_points(store.db(), &row).await.unwrap();
            let dt = t0.elapsed().as_secs_f64() * 1e6;
            assert_eq!(p.balance, seeded.get(h).map_or(0, |s| s.balance));
            if i >= 100 {
                us.push(dt);
            }
        }
        us.sort_by(f64::total_cmp);
        report(&format!("points_awards::household_points, {label} household ({n} postings)"), "µs", &us);
    }

    // The same over HTTP: GET /api/v1/points/households/{id} (balance, totals by kind, rank).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_state = state.clone();
    tokio::spawn(async move {
        wuwei_server::serve_with(server_state, listener, std::future::pending()).await.unwrap();
    });
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "townadmin", "password": wuwei_demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    for (label, h) in &targets {
        let n = seeded.get(h).map_or(0, |s| s.postings);
        let url = format!("{base}/api/v1/points/households/{h}");
        let (ms, body) = timed_gets(&http, &url, &token, a.requests).await;
        assert_eq!(body["balance"].as_i64(), Some(seeded.get(h).map_or(0, |s| s.balance)));
        report(&format!("GET /api/v1/points/households/{{id}}, {label} household ({n} postings)"), "ms", &ms);
    }

    if a.keep || a.db.is_some() {
        println!("kept: {}", wuwei_store::redact_url(&db_url));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

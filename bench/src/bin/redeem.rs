//! Redemptions at the points stores' counters over HTTP: many clients redeeming baskets as fast
//! as the server answers (issue 5: at least 3,000 redemptions/s on SQLite from 64 clients).
//!
//! Run (SQLite, a fresh file in a temporary directory):
//!   `cargo run --release -p wuwei-bench --bin redeem -- [--clients 64] [--seconds 20] [--goods 12]`
//! PostgreSQL (a fresh database on that server):
//!   `WUWEI_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p wuwei-bench --bin redeem`
//!
//! Seeding: the demo town without case history, the 8 village stores, `--goods` goods per store
//! with 100,000 units each (through `points_shop::create_goods`), and 100,000 points for every
//! household (awards straight to the ledger, 500 per transaction). The server is the real one,
//! in this process, over HTTP on 127.0.0.1, background jobs off. Client `c` signs in as the clerk
//! of store `c % 8` (sc1–sc8) and redeems, one request at a time, a basket of 1–3 goods (1–2 of
//! each) for a random household of that village, under a fresh idempotency key. Every answer
//! must be 201. Afterwards the ledger is verified and the stock checked against its movements.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_bench::SplitMix;
use wuwei_domain::access::{Level, Place, Scope};
use wuwei_domain::points::ledger::{PostingMeta, Request};
use wuwei_server::demo::{DemoOptions, load_with};
use wuwei_server::{Clock, ServerConfig, SystemClock};
use wuwei_store::households::{HouseholdFilter, list_households};
use wuwei_store::points_shop::{self, Clerk, NewGoods};
use wuwei_store::{Actor, points};

struct Args {
    clients: usize,
    seconds: u64,
    goods: usize,
}

fn args() -> Args {
    let mut a = Args { clients: 64, seconds: 20, goods: 12 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--clients" => a.clients = v.parse().unwrap(),
            "--seconds" => a.seconds = v.parse().unwrap(),
            "--goods" => a.goods = v.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// A store's counter as one client sees it.
#[derive(Clone)]
struct Counter {
    store_id: Uuid,
    goods: Vec<Uuid>,
    households: Vec<Uuid>,
    token: String,
}

#[tokio::main]
async fn main() {
    let a = args();
    // `RUST_LOG=warn,sqlx::query=debug` logs every statement with its time.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let dir = std::env::temp_dir().join(format!("wuwei-bench-redeem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = wuwei_store::test_support::fresh_database_url(&dir).await.unwrap();
    let db_is_postgres = db_url.starts_with("postgres");
    println!("database: {}", if db_is_postgres { "PostgreSQL" } else { "SQLite" });
    let clock = Arc::new(SystemClock);
    let now = clock.now();
    let config = ServerConfig {
        data_dir: dir.clone(),
        database_url: Some(wuwei_server::state::Secret::new(db_url.clone())),
        background_jobs: false,
        ..ServerConfig::default()
    };
    let state = wuwei_server::open(config, clock.clone()).await.unwrap();
    let store = state.store().clone();
    let demo = load_with(&store, now, DemoOptions::TOWN_ONLY).await.unwrap();
    let town_id = demo.town_id;

    // ---- seed ----
    let seeded = Instant::now();
    {
        // The demo loader makes them already; this is for a loader that does not. (A dropped
        // transaction rolls back and lets the writer lock go.)
        let mut tx = store.begin().await.unwrap();
        if points_shop::ensure_stores(&mut tx, town_id, now).await.unwrap() > 0 {
            tx.commit(now).await.unwrap();
        }
    }
    let stores = points_shop::stores(store.db(), town_id).await.unwrap();
    assert_eq!(stores.len(), 8);
    let clerk = Clerk { actor: Actor::system("bench"), shown_as: "bench".into() };
    let mut goods_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut tx = store.begin().await.unwrap();
    for s in &stores {
        for g in 0..a.goods {
            let new = NewGoods {
                name: format!("商品{g:02}"),
                barcode: Some(format!("690{:04}{g:04}", s.id.as_u128() % 10_000)),
                photo_attachment_id: None,
                price_points: 5 + (g as i64 % 6) * 5,
                value_fen: 100 * (5 + (g as i64 % 6) * 5),
                stock: 100_000,
                max_per_redemption: None,
            };
            let row = points_shop::create_goods(&mut tx, &clerk, now, s, new).await.unwrap();
            goods_of.entry(s.id).or_default().push(row.id);
        }
    }
    tx.commit(now).await.unwrap();
    let scope = Scope { level: Level::Town, place: Place { town_id: Some(town_id), ..Place::default() } };
    let filter = HouseholdFilter { town_id: Some(town_id), ..HouseholdFilter::default() };
    let (rows, _) = list_households(store.db(), &filter, &[scope], 0, 100_000).await.unwrap();
    let mut households_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for h in &rows {
        households_of.entry(h.admin_village_id).or_default().push(h.id);
    }
    let actor = Actor::system("bench");
    for chunk in rows.chunks(500) {
        let mut tx = store.begin().await.unwrap();
        for h in chunk {
            let meta = PostingMeta {
                id: Uuid::now_v7(),
                town_id,
                at: now,
                idempotency_key: format!("bench-award-{}", h.id),
                reference: "bench".into(),
            };
            points::post(&mut tx, &actor, meta, Request::Award { household: h.id, points: 100_000 }).await.unwrap();
        }
        tx.commit(now).await.unwrap();
    }
    println!(
        "seeded {} stores × {} goods, {} households with 100,000 points each, in {:.1} s",
        stores.len(),
        a.goods,
        rows.len(),
        seeded.elapsed().as_secs_f64()
    );

    // ---- serve and sign in ----
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_state = state.clone();
    tokio::spawn(async move {
        wuwei_server::serve_with(server_state, listener, std::future::pending()).await.unwrap();
    });
    let http = reqwest::Client::builder().pool_max_idle_per_host(a.clients).build().unwrap();
    let mut counters = Vec::new();
    for n in 1..=8 {
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": format!("sc{n}"), "password": "wuwei-demo"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_string();
        let mine: Value = http
            .get(format!("{base}/api/v1/points/stores"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let store_id: Uuid = mine[0]["id"].as_str().unwrap().parse().unwrap();
        let s = stores.iter().find(|s| s.id == store_id).unwrap();
        counters.push(Counter {
            store_id,
            goods: goods_of[&store_id].clone(),
            households: households_of[&s.admin_village_id].clone(),
            token,
        });
    }

    // ---- redeem ----
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let points_spent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let (http, base) = (http.clone(), base.clone());
        let counter = counters[c % counters.len()].clone();
        let (stop, errors, points_spent) = (stop.clone(), errors.clone(), points_spent.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = SplitMix(c as u64 + 1);
            let mut latencies_us = Vec::new();
            let url = format!("{base}/api/v1/points/stores/{}/redemptions", counter.store_id);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let household = counter.households[(rng.next_u64() as usize) % counter.households.len()];
                let lines: Vec<Value> = (0..1 + rng.next_u64() % 3)
                    .map(|_| {
                        let g = counter.goods[(rng.next_u64() as usize) % counter.goods.len()];
                        json!({"goods_id": g, "quantity": 1 + rng.next_u64() % 2})
                    })
                    .collect();
                let body =
                    json!({"household_id": household, "lines": lines, "idempotency_key": format!("bench-{c}-{n}")});
                let t0 = Instant::now();
                match http.post(&url).bearer_auth(&counter.token).json(&body).send().await {
                    Ok(r) if r.status() == 201 => {
                        let receipt: Value = r.json().await.unwrap_or(Value::Null);
                        latencies_us.push(t0.elapsed().as_micros() as u64);
                        points_spent.fetch_add(receipt["total_points"].as_u64().unwrap_or(0), Ordering::Relaxed);
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            println!("unexpected answer {status}: {text}");
                        }
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            println!("request failed: {e}");
                        }
                    }
                }
            }
            latencies_us
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    println!(
        "redemptions: {} clients, {:.1} s: {} redeemed ({} points), {:.0} redemptions/s, latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}, errors {}",
        a.clients,
        elapsed,
        all.len(),
        points_spent.load(Ordering::Relaxed),
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        errors.load(Ordering::Relaxed)
    );

    // ---- check ----
    let t0 = Instant::now();
    let v = points::verify(store.db(), Some(town_id)).await.unwrap();
    println!(
        "ledger verify: {} postings, {} entries in {:.2} s: {}",
        v.postings,
        v.entries,
        t0.elapsed().as_secs_f64(),
        v.first_problem.as_ref().map_or("ok".to_string(), |p| p.to_string())
    );
    let stock = points_shop::verify_stock(store.db(), town_id).await.unwrap();
    println!("stock against movements: {}", if stock.is_empty() { "ok".to_string() } else { format!("{stock:?}") });
    assert!(v.first_problem.is_none() && stock.is_empty());
    if !db_is_postgres {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Case intake over HTTP: many connections reporting cases as fast as the server answers.
//!
//! Run: `cargo run --release -p wuwei-bench --bin intake -- [--connections 64] [--seconds 20]`
//! (builds nothing else; it starts `target/release/wuwei` itself on a fresh demo database, or
//! uses `--url http://HOST:PORT` of a running demo server, or `--database-url` to run the
//! server on PostgreSQL).
//!
//! Reports cases/s sustained and latency percentiles; every answer must be 201.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wuwei_bench::SplitMix;

struct Args {
    connections: usize,
    seconds: u64,
    url: Option<String>,
    database_url: Option<String>,
    bin: String,
}

fn args() -> Args {
    let mut a =
        Args { connections: 64, seconds: 20, url: None, database_url: None, bin: "target/release/wuwei".into() };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--connections" => a.connections = v.parse().unwrap(),
            "--seconds" => a.seconds = v.parse().unwrap(),
            "--url" => a.url = Some(v),
            "--database-url" => a.database_url = Some(v),
            "--bin" => a.bin = v,
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(a: &Args) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("wuwei-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = Command::new(&a.bin);
    cmd.args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(&dir);
    if let Some(db) = &a.database_url {
        cmd.args(["--database-url", db]);
    }
    let child = cmd
        .env("WUWEI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start wuwei (build it: cargo build --release -p wuwei-cli)");
    (Server(child), format!("http://127.0.0.1:{port}"))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let a = args();
    let (_server, base) = match &a.url {
        Some(u) => (None, u.clone()),
        None => {
            let (s, u) = start_server(&a);
            (Some(s), u)
        }
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(a.connections).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A grid worker per connection would be more realistic, but sessions are not the point:
    // dispatchers report hotline calls anywhere in the town.
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
    let town = login["user"]["towns"][0]["id"].as_str().unwrap().to_string();
    let cats: Value = http
        .get(format!("{base}/api/v1/towns/{town}/categories"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let categories: Vec<String> =
        cats.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    let homes: Value = http
        .get(format!("{base}/api/v1/households?page_size=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let points: Vec<(f64, f64)> = homes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["lat"].as_f64().unwrap(), h["lon"].as_f64().unwrap()))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.connections {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let (categories, points) = (categories.clone(), points.clone());
        let (stop, errors) = (stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = SplitMix(c as u64 + 1);
            let mut latencies_us = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (lat, lon) = points[(rng.next_u64() as usize) % points.len()];
                // Spread reports so most are not duplicates of each other.
                let lat = lat + rng.range(-0.002, 0.002);
                let lon = lon + rng.range(-0.002, 0.002);
                let body = json!({
                    "category_id": categories[(rng.next_u64() as usize) % categories.len()],
                    "title": "压测事件", "description": "benchmark", "lat": lat, "lon": lon, "source": "hotline",
                });
                let t0 = Instant::now();
                let resp = http.post(format!("{base}/api/v1/cases")).bearer_auth(&token).json(&body).send().await;
                match resp {
                    Ok(r) if r.status() == 201 => {
                        let _ = r.bytes().await;
                        latencies_us.push(t0.elapsed().as_micros() as u64);
                    }
                    Ok(r) => {
                        // Outside the town (a jittered point across the border) is the only
                        // acceptable refusal; anything else is an error.
                        if r.status() != 422 {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = r.bytes().await;
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
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
        "case intake: {} connections, {:.1} s: {} cases, {:.0} cases/s, latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}, errors {}",
        a.connections,
        elapsed,
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        errors.load(Ordering::Relaxed)
    );
}

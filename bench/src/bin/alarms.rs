//! Camera alarms over a real MQTT broker (issue 4): 20,000 signed alarms of several cameras and
//! types published within 10 s; every alarm must be accounted for (a case or a fold into one,
//! none lost), alarm-to-case p99 under 500 ms, and the server's memory bounded.
//!
//! Run (SQLite, a fresh file in a temporary directory; Mosquitto on 127.0.0.1:1883):
//!   `cargo run --release -p wuwei-bench --bin alarms -- [--alarms 20000] [--seconds 10] [--cameras 20]`
//! PostgreSQL (a fresh database on that server):
//!   `WUWEI_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p wuwei-bench --bin alarms`
//! Other options: `--broker mqtt://HOST:PORT`, `--poll-ms 10` (the commit poller's interval).
//! `RUST_LOG` is honoured (default `warn`); `RUST_LOG=warn,sqlx::query=debug` logs every statement.
//!
//! The server is the real one, in this process: the demo town without case history, background
//! jobs off, `mqtt_url` set so that it subscribes to `wuwei/+/devices/+/events` on the broker.
//! As `townadmin`, over HTTP, the benchmark registers `--cameras` cameras (codes unique to the
//! run, at households of the town, every third a lookout tower) and for each a device of kind
//! `camera` with the same code (a camera's MQTT identity), and keeps the secrets it is shown.
//!
//! A separate MQTT client (its own connection to the broker) then publishes, at an even pace,
//! `--alarms` alarms over `--seconds`: alarm `i` is from camera `i % cameras`, of type
//! `TYPES[(i / cameras) % 8]`, QoS 1, signed with the device's secret (`intake::mqtt::seal`),
//! its `seq` counting up per device and its `ts` the wall-clock time at which it is handed to
//! the client (microseconds). The server stores that `ts` as the alarm's `occurred_at`.
//!
//! Latency, alarm to case: from the alarm's `ts` (when the publisher handed it to its client) to
//! the moment a poller on its own database connection first sees the alarm's row. The row is
//! written in the same transaction as its case or its fold (the burst's count), so seeing it
//! means both are committed. Every `--poll-ms` the poller reads the rows after the last id it
//! saw (ids are UUIDv7, in commit order: see the poller), so a figure includes up to that
//! interval plus the poll's own time.
//!
//! Accounting, once no new row has appeared for 10 s (or all are there): alarm rows by
//! disposition, camera cases made, the sum of the bursts' counts, the cameras' alarm counters,
//! how many distinct cases the alarms point at, and dead letters of the run's devices, against
//! what was published. Memory: the process's `VmRSS` (server, publisher and poller together)
//! sampled every 100 ms from before the first publish to the end, and `VmHWM`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use wuwei_domain::intake::device::DeviceTopic;
use wuwei_domain::intake::mqtt::seal;
use wuwei_domain::intake::secret::IntakeSecret;
use wuwei_server::demo::{DemoOptions, load_with};
use wuwei_server::{ServerConfig, SystemClock};

const TYPES: [&str; 8] =
    ["fire_smoke", "straw_burning", "illegal_building", "intrusion", "crowd", "flooding", "road_obstruction", "other"];

struct Args {
    alarms: usize,
    seconds: f64,
    cameras: usize,
    broker: String,
    poll_ms: u64,
}

fn args() -> Args {
    let mut a =
        Args { alarms: 20_000, seconds: 10.0, cameras: 20, broker: "mqtt://127.0.0.1:1883".into(), poll_ms: 10 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--alarms" => a.alarms = v.parse().unwrap(),
            "--seconds" => a.seconds = v.parse().unwrap(),
            "--cameras" => a.cameras = v.parse().unwrap(),
            "--broker" => a.broker = v,
            "--poll-ms" => a.poll_ms = v.parse().unwrap(),
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

/// `VmRSS` and `VmHWM` of this process, in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Raw SQL with `?` placeholders, numbered for PostgreSQL.
fn stmt(backend: DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut out = String::new();
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(ch);
            }
        }
        out
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

async fn count(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    let row = db.query_one_raw(stmt(db.get_database_backend(), sql, values)).await.unwrap().unwrap();
    row.try_get_by_index::<Option<i64>>(0).unwrap().unwrap_or(0)
}

struct Cam {
    code: String,
    id: String,
    secret: IntakeSecret,
    topic: String,
}

#[tokio::main]
async fn main() {
    let a = args();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let (host, port) = wuwei_server::mqtt::broker_address(&a.broker).expect("--broker is mqtt://HOST:PORT");
    tokio::net::TcpStream::connect((host.as_str(), port)).await.unwrap_or_else(|e| {
        panic!("broker {} unreachable ({e}): mosquitto -d -c /etc/mosquitto/mosquitto.conf", a.broker)
    });
    let dir = std::env::temp_dir().join(format!("wuwei-bench-alarms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = wuwei_store::test_support::fresh_database_url(&dir).await.unwrap();
    let db_is_postgres = db_url.starts_with("postgres");
    println!("database: {}", if db_is_postgres { "PostgreSQL" } else { "SQLite" });
    let clock = Arc::new(SystemClock);
    let config = ServerConfig {
        data_dir: dir.clone(),
        database_url: Some(wuwei_server::state::Secret::new(db_url.clone())),
        background_jobs: false,
        mqtt_url: Some(a.broker.clone()),
        ..ServerConfig::default()
    };
    let state = wuwei_server::open(config, clock.clone()).await.unwrap();
    let store = state.store().clone();
    let demo = load_with(&store, Utc::now(), DemoOptions::TOWN_ONLY).await.unwrap();
    let town_id = demo.town_id;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_state = state.clone();
    tokio::spawn(async move {
        wuwei_server::serve_with(server_state, listener, std::future::pending()).await.unwrap();
    });
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "townadmin", "password": "wuwei-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{base}{path}")).bearer_auth(&token).json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 201, "{body}");
            body
        }
    };

    // ---- register the cameras and their MQTT identities ----
    let homes: Value = http
        .get(format!("{base}/api/v1/households?page_size=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let homes = homes["items"].as_array().unwrap();
    let run = format!("{:x}", std::process::id());
    let mut cams = Vec::new();
    for i in 0..a.cameras {
        let home = &homes[(i * 7) % homes.len()];
        let code = format!("BA{run}-{i:03}");
        let lookout = i % 3 == 2;
        let c = post(
            "/api/v1/cameras",
            json!({"town_id": town_id, "code": code, "name": format!("压测摄像头{i}"),
                   "kind": if lookout { "lookout" } else { "xueliang" },
                   "lat": home["lat"], "lon": home["lon"], "bearing_deg": (i * 47 % 360) as f64,
                   "range_m": if lookout { 3000.0 } else { 150.0 }, "vendor": "海康威视"}),
        )
        .await;
        let d = post(
            "/api/v1/devices",
            json!({"code": code, "kind": "camera", "name": format!("压测摄像头{i}"),
                   "binding": {"lat": home["lat"], "lon": home["lon"]}}),
        )
        .await;
        cams.push(Cam {
            code,
            id: c["camera"]["id"].as_str().unwrap().to_string(),
            secret: IntakeSecret::parse_hex(d["secret"].as_str().unwrap()).unwrap(),
            topic: d["topic"].as_str().unwrap().to_string(),
        });
    }
    println!("registered {} cameras (and their devices) of the demo town", cams.len());

    // ---- the publisher's connection; wait until the server hears it ----
    let mut options = rumqttc::MqttOptions::new(format!("wuwei-bench-alarms-{run}"), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(200);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 1024);
    let acked = Arc::new(AtomicU64::new(0));
    let acked_in = acked.clone();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                    acked_in.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => {
                    println!("publisher connection: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let topic0 = DeviceTopic::parse(&cams[0].topic).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut hb_seq = 0u64;
    loop {
        hb_seq += 1;
        let body = format!(r#"{{"type":"heartbeat","ts":"{}","seq":{hb_seq}}}"#, ts(Utc::now()));
        client
            .publish(&cams[0].topic, rumqttc::QoS::AtLeastOnce, false, seal(&cams[0].secret, &topic0, &body).unwrap())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let online: Value = http
            .get(format!("{base}/api/v1/devices?status=online"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if online["total"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the server does not hear the broker: {online}");
    }
    let topics: Vec<DeviceTopic> = cams.iter().map(|c| DeviceTopic::parse(&c.topic).unwrap()).collect();

    // ---- memory sampler and commit poller ----
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_before, _) = memory_mb();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            let mut samples = Vec::new();
            let t0 = Instant::now();
            while !done.load(Ordering::Relaxed) {
                let (rss, _) = memory_mb();
                peak = peak.max(rss);
                samples.push((t0.elapsed().as_secs_f64(), rss));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (peak, samples)
        })
    };
    let poll_db = sea_orm::Database::connect(&db_url).await.unwrap();
    let seen_count = Arc::new(AtomicU64::new(0));
    let poller = {
        let (done, seen_count) = (done.clone(), seen_count.clone());
        let poll_every = Duration::from_millis(a.poll_ms);
        tokio::spawn(async move {
            let backend = poll_db.get_database_backend();
            let mut seen: HashSet<uuid::Uuid> = HashSet::new();
            let mut latencies_us = Vec::new();
            // Alarm ids are UUIDv7, made in order by the one intake worker, whose runs commit in
            // order: a row committed later has a larger id, so paging by the primary key
            // `(town_id, id)` misses nothing and costs an index seek (a filter on
            // `received_at`, which has no index, scanned the table every poll and slowed the
            // server it measures).
            let mut cursor = uuid::Uuid::nil();
            let mut last_seen_at = Utc::now();
            while !done.load(Ordering::Relaxed) {
                let rows = poll_db
                    .query_all_raw(stmt(
                        backend,
                        "SELECT id, occurred_at FROM alarm WHERE town_id = ? AND id > ? ORDER BY id",
                        vec![town_id.into(), cursor.into()],
                    ))
                    .await
                    .unwrap();
                let now = Utc::now();
                for r in rows {
                    let id: uuid::Uuid = r.try_get("", "id").unwrap();
                    cursor = cursor.max(id);
                    if !seen.insert(id) {
                        continue;
                    }
                    let occurred: DateTime<Utc> = r.try_get("", "occurred_at").unwrap();
                    latencies_us.push((now - occurred).num_microseconds().unwrap_or(0).max(0) as u64);
                    last_seen_at = now;
                }
                seen_count.store(seen.len() as u64, Ordering::Relaxed);
                tokio::time::sleep(poll_every).await;
            }
            (latencies_us, last_seen_at)
        })
    };

    // ---- publish ----
    let period = Duration::from_secs_f64(a.seconds / a.alarms as f64);
    let mut seqs = vec![hb_seq; cams.len()];
    let t0 = Instant::now();
    let pub_started = Utc::now();
    for i in 0..a.alarms {
        let due = t0 + period * i as u32;
        if Instant::now() < due {
            tokio::time::sleep_until(due.into()).await;
        }
        let c = i % cams.len();
        seqs[c] += 1;
        let body = format!(
            r#"{{"type":"alarm","ts":"{}","seq":{},"alarm_type":"{}","confidence":0.85}}"#,
            ts(Utc::now()),
            seqs[c],
            TYPES[(i / cams.len()) % TYPES.len()]
        );
        let payload = seal(&cams[c].secret, &topics[c], &body).unwrap();
        client.publish(&cams[c].topic, rumqttc::QoS::AtLeastOnce, false, payload).await.unwrap();
    }
    let published_in = t0.elapsed().as_secs_f64();
    println!(
        "published {} alarms from {} cameras in {published_in:.2} s ({:.0}/s)",
        a.alarms,
        cams.len(),
        a.alarms as f64 / published_in
    );

    // ---- wait until everything is in (or nothing moves for 10 s) ----
    let mut last = (0u64, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = seen_count.load(Ordering::Relaxed);
        if n >= a.alarms as u64 {
            break;
        }
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(10) {
            println!("no new alarm row for 10 s: stopping at {n}");
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(3 * a.poll_ms + 50)).await;
    done.store(true, Ordering::Relaxed);
    let (mut lat, last_seen_at) = poller.await.unwrap();
    let (rss_peak, samples) = sampler.await.unwrap();
    let (rss_after, hwm) = memory_mb();
    lat.sort_unstable();
    let all_in = (last_seen_at - pub_started).num_milliseconds() as f64 / 1000.0;
    println!(
        "alarm rows seen: {} in {all_in:.2} s from the first publish ({:.0}/s); publisher acks from the broker: {}",
        lat.len(),
        lat.len() as f64 / all_in.max(0.001),
        acked.load(Ordering::Relaxed)
    );
    println!(
        "alarm to case (publish → row committed and seen), ms: p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    println!(
        "memory (VmRSS of the whole process, MB): before {rss_before:.0}, peak {rss_peak:.0}, after {rss_after:.0}; VmHWM {hwm:.0}"
    );
    let step = (samples.len() / 12).max(1);
    let curve: Vec<String> = samples.iter().step_by(step).map(|(t, m)| format!("{t:.0}s:{m:.0}")).collect();
    println!("memory over the run (s:MB): {}", curve.join(" "));

    // ---- account for every alarm ----
    let db = store.db();
    let ids: Vec<sea_orm::Value> = cams.iter().map(|c| uuid::Uuid::parse_str(&c.id).unwrap().into()).collect();
    let marks = vec!["?"; ids.len()].join(",");
    let with_town = |v: &[sea_orm::Value]| {
        let mut out: Vec<sea_orm::Value> = vec![town_id.into()];
        out.extend(v.iter().cloned());
        out
    };
    let by = |d: &'static str| {
        let sql =
            format!("SELECT COUNT(*) FROM alarm WHERE town_id = ? AND camera_id IN ({marks}) AND disposition = ?");
        let mut v = with_town(&ids);
        v.push(d.into());
        (sql, v)
    };
    let rows =
        count(db, &format!("SELECT COUNT(*) FROM alarm WHERE town_id = ? AND camera_id IN ({marks})"), with_town(&ids))
            .await;
    let (s, v) = by("case_created");
    let created = count(db, &s, v).await;
    let (s, v) = by("folded");
    let folded = count(db, &s, v).await;
    let (s, v) = by("review");
    let review = count(db, &s, v).await;
    let cases =
        count(db, "SELECT COUNT(*) FROM cases WHERE town_id = ? AND source = 'camera'", vec![town_id.into()]).await;
    let distinct = count(
        db,
        &format!(
            "SELECT COUNT(DISTINCT case_id) FROM alarm WHERE town_id = ? AND camera_id IN ({marks}) AND case_id IS NOT NULL"
        ),
        with_town(&ids),
    )
    .await;
    let burst_sum = count(
        db,
        &format!(
            "SELECT CAST(SUM(alarm_count) AS BIGINT) FROM alarm_burst WHERE town_id = ? AND camera_id IN ({marks})"
        ),
        with_town(&ids),
    )
    .await;
    let camera_sum = count(
        db,
        &format!("SELECT CAST(SUM(alarm_count) AS BIGINT) FROM camera WHERE town_id = ? AND id IN ({marks})"),
        with_town(&ids),
    )
    .await;
    let codes: Vec<sea_orm::Value> = cams.iter().map(|c| c.code.clone().into()).collect();
    let dead = count(
        db,
        &format!("SELECT COUNT(*) FROM device_dead_letter WHERE device_code IN ({})", vec!["?"; codes.len()].join(",")),
        codes,
    )
    .await;
    let expected_cases = (cams.len() * TYPES.len()).min(a.alarms);
    let lost = a.alarms as i64 - rows - dead;
    println!(
        "accounting: published {}, alarm rows {rows} (case_created {created}, folded {folded}, review {review}), dead letters {dead}, lost {lost}",
        a.alarms
    );
    println!(
        "cases from cameras {cases} (camera × type pairs: {expected_cases}), distinct cases the alarms point at {distinct}, sum of burst counts {burst_sum}, sum of camera alarm counters {camera_sum}"
    );
    let ok = lost == 0
        && dead == 0
        && created + folded + review == rows
        && created == cases
        && distinct == cases
        && burst_sum == created + folded
        && camera_sum == rows
        && cases == expected_cases as i64;
    println!("every alarm accounted for: {}", if ok { "yes" } else { "NO" });
    let _ = client.disconnect().await;
    if !db_is_postgres {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(ok, "alarms not accounted for");
}

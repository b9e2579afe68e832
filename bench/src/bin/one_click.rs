//! One-click calls to the dispatcher's live stream (issue 4): from a press to the new case seen
//! on the stream the dispatcher's queue listens to (`GET /api/v1/cases/stream`), p99 under 300 ms.
//!
//! Run (SQLite, a fresh file in a temporary directory; Mosquitto on 127.0.0.1:1883):
//!   `cargo run --release -p wuwei-bench --bin one_click -- [--presses 500] [--rate 50] [--http 200]`
//! PostgreSQL (a fresh database on that server):
//!   `WUWEI_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p wuwei-bench --bin one_click`
//! Other options: `--broker mqtt://HOST:PORT`.
//!
//! The server is the real one, in this process: the demo town without case history, background
//! jobs off, `mqtt_url` set. As `townadmin`, over HTTP, the benchmark registers `--presses` call
//! buttons (codes unique to the run), each bound to a different household, because presses of
//! one household within two minutes fold into one case. `dispatcher1` (town scope) opens the
//! live stream and keeps it open. The stream's `case` events carry the case id.
//!
//! MQTT path (what the elderly villagers' call buttons use): a separate MQTT client presses every
//! button once, in order, at `--rate` presses per second, QoS 1, each press signed with its
//! button's secret. A press's time is taken just before it is handed to the client. Latency:
//! press → the `created` event of that household's case read off the dispatcher's stream (the
//! case's household is looked up in the database afterwards).
//!
//! HTTP path (the resident's phone page, `POST /api/v1/one-click`): `--http` other households
//! are given a household card (as `townadmin`) and signed in with it (`POST /api/v1/auth/card`);
//! each presses once, at the same rate, one request at a time. Latency: the request sent → the
//! event on the stream (and, separately, → the answer).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_domain::intake::device::DeviceTopic;
use wuwei_domain::intake::mqtt::seal;
use wuwei_domain::intake::secret::IntakeSecret;
use wuwei_server::demo::{DemoOptions, load_with};
use wuwei_server::{ServerConfig, SystemClock};

struct Args {
    presses: usize,
    rate: f64,
    http: usize,
    broker: String,
}

fn args() -> Args {
    let mut a = Args { presses: 500, rate: 50.0, http: 200, broker: "mqtt://127.0.0.1:1883".into() };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--presses" => a.presses = v.parse().unwrap(),
            "--rate" => a.rate = v.parse().unwrap(),
            "--http" => a.http = v.parse().unwrap(),
            "--broker" => a.broker = v,
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

fn summary(name: &str, v: &mut [u64]) {
    v.sort_unstable();
    println!(
        "{name}: {} presses, ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        v.len(),
        percentile(v, 0.5),
        percentile(v, 0.9),
        percentile(v, 0.99),
        percentile(v, 1.0)
    );
}

/// When each case's `created` event was read off the stream.
type Seen = Arc<Mutex<HashMap<Uuid, Instant>>>;

#[tokio::main]
async fn main() {
    let a = args();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("warn")).init();
    let (host, port) = wuwei_server::mqtt::broker_address(&a.broker).expect("--broker is mqtt://HOST:PORT");
    tokio::net::TcpStream::connect((host.as_str(), port)).await.unwrap_or_else(|e| {
        panic!("broker {} unreachable ({e}): mosquitto -d -c /etc/mosquitto/mosquitto.conf", a.broker)
    });
    let dir = std::env::temp_dir().join(format!("wuwei-bench-one-click-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = wuwei_store::test_support::fresh_database_url(&dir).await.unwrap();
    let db_is_postgres = db_url.starts_with("postgres");
    println!("database: {}", if db_is_postgres { "PostgreSQL" } else { "SQLite" });
    let config = ServerConfig {
        data_dir: dir.clone(),
        database_url: Some(wuwei_server::state::Secret::new(db_url.clone())),
        background_jobs: false,
        mqtt_url: Some(a.broker.clone()),
        ..ServerConfig::default()
    };
    let state = wuwei_server::open(config, Arc::new(SystemClock)).await.unwrap();
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
    let login = |user: &'static str| {
        let req =
            http.post(format!("{base}/api/v1/auth/login")).json(&json!({"username": user, "password": "wuwei-demo"}));
        async move {
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            v["token"].as_str().unwrap().to_string()
        }
    };
    let ta = login("townadmin").await;
    let dispatcher = login("dispatcher1").await;

    // ---- households: the first for buttons, the next for phones ----
    let mut households: Vec<Uuid> = Vec::new();
    let mut page = 1;
    while households.len() < a.presses + a.http {
        let v: Value = http
            .get(format!("{base}/api/v1/households?page_size=200&page={page}"))
            .bearer_auth(&ta)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = v["items"].as_array().unwrap();
        assert!(!items.is_empty(), "the town has only {} households", households.len());
        households.extend(items.iter().map(|h| h["id"].as_str().unwrap().parse::<Uuid>().unwrap()));
        page += 1;
    }
    let run = format!("{:x}", std::process::id());
    let mut buttons = Vec::new();
    for (i, h) in households.iter().take(a.presses).enumerate() {
        let r = http
            .post(format!("{base}/api/v1/devices"))
            .bearer_auth(&ta)
            .json(&json!({"code": format!("BC{run}-{i:04}"), "kind": "call_button", "name": "压测按钮",
                          "binding": {"household_id": h}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let d: Value = r.json().await.unwrap();
        let topic = d["topic"].as_str().unwrap().to_string();
        buttons.push((
            *h,
            IntakeSecret::parse_hex(d["secret"].as_str().unwrap()).unwrap(),
            DeviceTopic::parse(&topic).unwrap(),
            topic,
        ));
    }
    let mut phones = Vec::new();
    for h in households.iter().skip(a.presses).take(a.http) {
        let card: Value = http
            .post(format!("{base}/api/v1/households/{h}/card"))
            .bearer_auth(&ta)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let signed: Value = http
            .post(format!("{base}/api/v1/auth/card"))
            .json(&json!({"token": card["token"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        phones.push((*h, signed["token"].as_str().unwrap().to_string()));
    }
    println!(
        "registered {} call buttons and signed in {} phones, each of its own household",
        buttons.len(),
        phones.len()
    );

    // ---- the dispatcher's stream ----
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let mut resp = http.get(format!("{base}/api/v1/cases/stream")).bearer_auth(&dispatcher).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut buf = String::new();
            let mut resyncs = 0u64;
            while let Ok(Some(chunk)) = resp.chunk().await {
                let at = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    if event.contains("event: ready") {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    } else if event.contains("event: resync") {
                        resyncs += 1;
                    } else if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: "))
                        && let Ok(v) = serde_json::from_str::<Value>(data)
                        && v["kind"] == "created"
                        && let Some(id) = v["case_id"].as_str().and_then(|s| s.parse::<Uuid>().ok())
                    {
                        seen.lock().unwrap().entry(id).or_insert(at);
                    }
                }
            }
            resyncs
        })
    };
    ready_rx.await.unwrap();

    // ---- the publisher's connection; wait until the server hears it (a heartbeat) ----
    let mut options = rumqttc::MqttOptions::new(format!("wuwei-bench-one-click-{run}"), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = rumqttc::AsyncClient::new(options, 1024);
    tokio::spawn(async move {
        loop {
            if let Err(e) = events.poll().await {
                println!("publisher connection: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let ts = || Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut hb_seq = 0u64;
    loop {
        hb_seq += 1;
        let (_, secret, topic, t) = &buttons[0];
        let body = format!(r#"{{"type":"heartbeat","ts":"{}","seq":{hb_seq}}}"#, ts());
        client.publish(t, rumqttc::QoS::AtLeastOnce, false, seal(secret, topic, &body).unwrap()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let online: Value = http
            .get(format!("{base}/api/v1/devices?status=online"))
            .bearer_auth(&ta)
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

    // ---- press the buttons ----
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let mut pressed_at: HashMap<Uuid, Instant> = HashMap::new();
    let t0 = Instant::now();
    for (i, (h, secret, topic, t)) in buttons.iter().enumerate() {
        let due = t0 + period * i as u32;
        if Instant::now() < due {
            tokio::time::sleep_until(due.into()).await;
        }
        let body = format!(r#"{{"type":"press","ts":"{}","seq":{}}}"#, ts(), hb_seq + 1);
        let payload = seal(secret, topic, &body).unwrap();
        pressed_at.insert(*h, Instant::now());
        client.publish(t, rumqttc::QoS::AtLeastOnce, false, payload).await.unwrap();
    }
    println!("pressed {} buttons over MQTT in {:.2} s", buttons.len(), t0.elapsed().as_secs_f64());

    // ---- press on the phones ----
    let mut http_answer_us = Vec::new();
    let t0 = Instant::now();
    for (i, (h, token)) in phones.iter().enumerate() {
        let due = t0 + period * i as u32;
        if Instant::now() < due {
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = Instant::now();
        pressed_at.insert(*h, sent);
        let r = http.post(format!("{base}/api/v1/one-click")).bearer_auth(token).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        http_answer_us.push(sent.elapsed().as_micros() as u64);
    }
    if !phones.is_empty() {
        println!("pressed on {} phones over HTTP in {:.2} s", phones.len(), t0.elapsed().as_secs_f64());
    }

    // ---- wait for the stream, then match cases to households ----
    let expected = buttons.len() + phones.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let db = store.db();
    let backend = db.get_database_backend();
    let sql = if db_is_postgres {
        "SELECT id, household_id FROM cases WHERE town_id = $1 AND source = 'one_click_call'"
    } else {
        "SELECT id, household_id FROM cases WHERE town_id = ? AND source = 'one_click_call'"
    };
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [town_id.into()])).await.unwrap();
    let mut case_of: HashMap<Uuid, Uuid> = HashMap::new();
    for r in &rows {
        let id: Uuid = r.try_get("", "id").unwrap();
        let h: Option<Uuid> = r.try_get("", "household_id").unwrap();
        if let Some(h) = h {
            case_of.insert(h, id);
        }
    }
    let seen = seen.lock().unwrap().clone();
    let latency = |list: &mut dyn Iterator<Item = Uuid>| {
        let mut out = Vec::new();
        let mut missing = 0;
        for h in list {
            match case_of.get(&h).and_then(|c| seen.get(c)) {
                Some(at) => out.push(at.saturating_duration_since(pressed_at[&h]).as_micros() as u64),
                None => missing += 1,
            }
        }
        (out, missing)
    };
    let (mut mqtt_us, mqtt_missing) = latency(&mut buttons.iter().map(|b| b.0));
    let (mut http_us, http_missing) = latency(&mut phones.iter().map(|p| p.0));
    println!("one-click cases in the database: {} (expected {expected})", rows.len());
    summary("MQTT call button press → created event on the dispatcher's stream", &mut mqtt_us);
    if !phones.is_empty() {
        summary("HTTP phone press → created event on the dispatcher's stream", &mut http_us);
        summary("HTTP phone press → its 201 answer", &mut http_answer_us);
    }
    state.0.shutdown.send(true).ok();
    let resyncs = tokio::time::timeout(Duration::from_secs(5), reader).await.ok().and_then(|r| r.ok()).unwrap_or(0);
    println!(
        "not seen on the stream: {mqtt_missing} button presses, {http_missing} phone presses; resync events: {resyncs}"
    );
    let _ = client.disconnect().await;
    if !db_is_postgres {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(mqtt_missing == 0 && http_missing == 0 && rows.len() == expected, "presses not accounted for");
}

//! Devices over MQTT: the register over HTTP, the message handler called directly with sealed
//! payloads, and (only when WUWEI_TEST_MQTT_URL is set, as in CI) a real broker.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wuwei_domain::intake::device::DeviceTopic;
use wuwei_domain::intake::mqtt::{DropReason, seal};
use wuwei_domain::intake::secret::IntakeSecret;
use wuwei_server::Clock;
use wuwei_server::mqtt::{Outcome, handle_message, sweep_offline};

use crate::helpers::*;

async fn a_household(app: &TestApp, s: &Session) -> Value {
    let (status, page) = app.get(s, "/api/v1/households?page_size=5").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

/// Register a call button bound to `household`; returns (device, secret, topic).
async fn button(app: &TestApp, ta: &Session, code: &str, household: &Value) -> (Value, String, String) {
    let (status, body) = app
        .post(
            ta,
            "/api/v1/devices",
            json!({"code": code, "kind": "call_button", "name": "王大爷家的按钮", "binding": {"household_id": household["id"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["device"].clone(), body["secret"].as_str().unwrap().to_string(), body["topic"].as_str().unwrap().to_string())
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sealed(secret: &str, topic: &str, body: &str) -> Vec<u8> {
    let s = IntakeSecret::parse_hex(secret).unwrap();
    seal(&s, &DeviceTopic::parse(topic).unwrap(), body).unwrap().into_bytes()
}

fn press(app: &TestApp, secret: &str, topic: &str, seq: u64) -> Vec<u8> {
    sealed(secret, topic, &format!(r#"{{"type":"press","ts":"{}","seq":{seq}}}"#, ts(app.clock.now())))
}

async fn metric(app: &TestApp, line_start: &str) -> u64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test]
async fn devices_are_registered_by_town_admins_with_a_secret_shown_once() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let gw = app.login("gw01").await;
    let home = a_household(&app, &gw).await;
    let (device, secret, topic) = button(&app, &ta, "btn-0001", &home).await;
    assert_eq!(secret.len(), 64);
    assert!(IntakeSecret::parse_hex(&secret).is_ok());
    assert_eq!(topic, "wuwei/DW/devices/btn-0001/events");
    assert_eq!(device["status"], "never_seen");
    assert_eq!(device["household_id"], home["id"]);
    assert_eq!(device["lat"], home["lat"]);

    // Never shown again: not in the list, not in the device.
    let (status, list) = app.get(&ta, "/api/v1/devices").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(&secret));
    let id = device["id"].as_str().unwrap();
    let (status, one) = app.get(&ta, &format!("/api/v1/devices/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!one.to_string().contains(&secret));

    // The household's grid worker sees it (a grid worker elsewhere does not), but cannot change it.
    let (status, mine) = app.get(&gw, "/api/v1/devices").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["total"], 1, "{mine}");
    let gw2 = app.login("gw02").await;
    let (_, theirs) = app.get(&gw2, "/api/v1/devices").await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    let (status, body) = app.get(&gw2, &format!("/api/v1/devices/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.patch(&gw, &format!("/api/v1/devices/{id}"), json!({"version": 1, "name": "x"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let d = app.login("dispatcher1").await;
    let (status, body) = app.post(&d, "/api/v1/devices", json!({"code": "x1", "kind": "speaker"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // Rotating gives a new secret once; the version guards concurrent edits.
    let path = format!("/api/v1/devices/{id}");
    let (status, rotated) = app.patch(&ta, &path, json!({"version": 1, "rotate_secret": true})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["device"]["version"], 2);
    let (status, renamed) = app.patch(&ta, &path, json!({"version": 2, "name": "新名字", "disabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert!(renamed.get("secret").is_none());
    assert_eq!(renamed["device"]["disabled"], true);
    let (status, body) = app.patch(&ta, &path, json!({"version": 2, "name": "旧"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "version_conflict");
    app.stop().await;
}

#[tokio::test]
async fn device_input_is_validated() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    button(&app, &ta, "btn-1", &home).await;
    let (status, body) = app.post(&ta, "/api/v1/devices", json!({"code": "btn-1", "kind": "call_button"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate");
    assert_eq!(fields(&body), vec!["code"]);
    for (req, field) in [
        (json!({"code": "a/b", "kind": "speaker"}), "code"),
        (json!({"code": "", "kind": "speaker"}), "code"),
        (json!({"code": "x".repeat(65), "kind": "speaker"}), "code"),
        (json!({"code": "ok", "kind": "toaster"}), "kind"),
        (json!({"code": "ok", "kind": "speaker", "heartbeat_interval_secs": 5}), "heartbeat_interval_secs"),
        (json!({"code": "ok", "kind": "camera", "binding": {"household_id": home["id"]}}), "binding"),
        (
            json!({"code": "ok", "kind": "sensor", "binding": {"household_id": "00000000-0000-7000-8000-000000000000"}}),
            "binding.household_id",
        ),
        (json!({"code": "ok", "kind": "sensor", "binding": {"lat": 10.0, "lon": 10.0}}), "binding.lat"),
        (json!({"code": "ok", "kind": "sensor", "binding": {"lat": 37.7}}), "binding.lon"),
    ] {
        let (status, body) = app.post(&ta, "/api/v1/devices", req.clone()).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&body), vec![field], "{req}");
    }
    let (status, body) = app.post(&ta, "/api/v1/devices", json!({"code": "ok", "kind": "speaker", "colour": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app.get(&ta, "/api/v1/devices?status=asleep").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&ta, "/api/v1/devices/dead-letters?reason=nope").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    // A sensor at a place in the town is located into its village and grid.
    let (status, body) = app
        .post(&ta, "/api/v1/devices", json!({"code": "smoke-1", "kind": "sensor", "binding": {"lat": home["lat"], "lon": home["lon"], "address": "仓库"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["device"]["grid_id"].is_string(), "{body}");
    assert!(body["device"]["household_id"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn a_press_opens_one_urgent_call_and_a_second_within_two_minutes_folds() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let d = app.login("dispatcher1").await;
    let gw = app.login("gw01").await;
    let home = a_household(&app, &gw).await;
    let (_, secret, topic) = button(&app, &ta, "btn-0001", &home).await;

    let Outcome::CaseCreated { case_id } = handle_message(&app.state, &topic, &press(&app, &secret, &topic, 1)).await
    else {
        panic!("no case")
    };
    let (status, case) = app.get(&d, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["priority"], "urgent");
    assert_eq!(case["source"], "one_click_call");
    assert_eq!(case["state"], "reported");
    assert_eq!(case["lat"], home["lat"]);
    let due: DateTime<Utc> = case["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, app.clock.now() + Duration::minutes(10), "{case}");
    // The household's grid worker and the dispatchers are told at once.
    wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    for who in [&gw, &d] {
        let (_, inbox) = app.get(who, "/api/v1/inbox").await;
        assert!(inbox["items"].as_array().unwrap().iter().any(|m| m["case_id"] == case_id.to_string()), "{inbox}");
    }

    // Pressed again after 90 s: the same call, a note on its timeline.
    app.clock.advance(Duration::seconds(90));
    let again = handle_message(&app.state, &topic, &press(&app, &secret, &topic, 2)).await;
    assert_eq!(again, Outcome::Folded { case_id });
    let (_, case) = app.get(&d, &format!("/api/v1/cases/{case_id}")).await;
    let notes: Vec<&Value> = case["timeline"].as_array().unwrap().iter().filter(|e| e["action"] == "note").collect();
    assert_eq!(notes.len(), 1, "{case}");
    let (_, list) = app.get(&d, "/api/v1/cases?source=one_click_call").await;
    assert_eq!(list["total"], 1, "{list}");

    // The window slides with each press; past it, a new call.
    app.clock.advance(Duration::seconds(121));
    let third = handle_message(&app.state, &topic, &press(&app, &secret, &topic, 3)).await;
    assert!(matches!(third, Outcome::CaseCreated { case_id: c } if c != case_id), "{third:?}");
    assert_eq!(metric(&app, "wuwei_device_messages_accepted_total{type=\"press\"}").await, 3);

    // The press was also a sign of life.
    let (_, dev) = app.get(&ta, "/api/v1/devices").await;
    assert_eq!(dev["items"][0]["status"], "online");
    assert_eq!(dev["items"][0]["last_seq"], 3);
    app.stop().await;
}

#[tokio::test]
async fn bad_messages_are_dropped_counted_and_kept_as_dead_letters() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let (device, secret, topic) = button(&app, &ta, "btn-0001", &home).await;
    let first = press(&app, &secret, &topic, 10);
    assert!(matches!(handle_message(&app.state, &topic, &first).await, Outcome::CaseCreated { .. }));

    let other = IntakeSecret::from_random([7; 32]).to_hex();
    let stale = sealed(
        &secret,
        &topic,
        &format!(r#"{{"type":"press","ts":"{}","seq":20}}"#, ts(app.clock.now() - Duration::minutes(6))),
    );
    let unknown_topic = "wuwei/DW/devices/ghost/events";
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (&topic, first.clone(), DropReason::Replay),
        (&topic, press(&app, &secret, &topic, 9), DropReason::Replay),
        (&topic, press(&app, &other, &topic, 11), DropReason::BadSignature),
        (unknown_topic, press(&app, &secret, unknown_topic, 1), DropReason::UnknownDevice),
        (
            "wuwei/XX/devices/btn-0001/events",
            press(&app, &secret, "wuwei/XX/devices/btn-0001/events", 12),
            DropReason::WrongTown,
        ),
        (&topic, stale, DropReason::Stale),
        (&topic, b"{not json".to_vec(), DropReason::Malformed),
        (&topic, sealed(&secret, &topic, r#"{"type":"press","seq":13}"#), DropReason::Malformed),
        (&topic, vec![b' '; 5000], DropReason::Oversized),
        ("wuwei/DW/devices/+/events", first.clone(), DropReason::BadTopic),
    ];
    for (t, payload, want) in &cases {
        let got = handle_message(&app.state, t, payload).await;
        assert_eq!(got, Outcome::Dropped(*want), "{t} {}", String::from_utf8_lossy(payload));
    }
    for reason in
        ["replay", "bad_signature", "unknown_device", "wrong_town", "stale", "malformed", "oversized", "bad_topic"]
    {
        let want = cases.iter().filter(|c| c.2.as_str() == reason).count() as u64;
        let got = metric(&app, &format!("wuwei_device_messages_dropped_total{{reason=\"{reason}\"}}")).await;
        assert_eq!(got, want, "{reason}");
    }
    // Still just the one case.
    let (_, list) = app.get(&ta, "/api/v1/cases?source=one_click_call").await;
    assert_eq!(list["total"], 1);

    // The town's dead letters (the wrong-town and bad-topic ones belong to no town).
    let (status, letters) = app.get(&ta, "/api/v1/devices/dead-letters?page_size=50").await;
    assert_eq!(status, StatusCode::OK, "{letters}");
    assert_eq!(letters["total"], 8, "{letters}");
    assert_eq!(letters["items"][1]["device_code"], "btn-0001", "junk on a device's topic is the town's");
    let newest = &letters["items"][0];
    assert_eq!(newest["reason"], "oversized");
    assert_eq!(newest["payload_len_bytes"], 5000);
    assert!(newest["payload_excerpt"].as_str().unwrap().len() <= 1024);
    let (_, replays) = app.get(&ta, "/api/v1/devices/dead-letters?reason=replay").await;
    assert_eq!(replays["total"], 2);
    assert_eq!(replays["items"][0]["device_code"], "btn-0001");
    let admin = app.login("admin").await;
    let (_, all) = app.get(&admin, "/api/v1/devices/dead-letters?page_size=50").await;
    assert_eq!(all["total"], 10, "{all}");
    let gw = app.login("gw01").await;
    let (status, body) = app.get(&gw, "/api/v1/devices/dead-letters").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // A disabled device is dropped as such; a speaker does not press.
    let id = device["id"].as_str().unwrap();
    app.patch(&ta, &format!("/api/v1/devices/{id}"), json!({"version": 1, "disabled": true})).await;
    let got = handle_message(&app.state, &topic, &press(&app, &secret, &topic, 30)).await;
    assert_eq!(got, Outcome::Dropped(DropReason::Disabled));
    let (_, speaker) = app.post(&ta, "/api/v1/devices", json!({"code": "spk-1", "kind": "speaker"})).await;
    let (st, ss) = (speaker["topic"].as_str().unwrap(), speaker["secret"].as_str().unwrap());
    let got = handle_message(&app.state, st, &press(&app, ss, st, 1)).await;
    assert_eq!(got, Outcome::Dropped(DropReason::UnexpectedEvent));
    let (_, unbound) = app.post(&ta, "/api/v1/devices", json!({"code": "btn-free", "kind": "call_button"})).await;
    let (ut, us) = (unbound["topic"].as_str().unwrap(), unbound["secret"].as_str().unwrap());
    let got = handle_message(&app.state, ut, &press(&app, us, ut, 1)).await;
    assert_eq!(got, Outcome::Dropped(DropReason::Unbound));
    app.stop().await;
}

#[tokio::test]
async fn silent_devices_go_offline_after_three_missed_heartbeats() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let gw = app.login("gw01").await;
    let home = a_household(&app, &gw).await;
    let (_, secret, topic) = button(&app, &ta, "btn-0001", &home).await;
    let hb = |seq: u64| {
        sealed(
            &secret,
            &topic,
            &format!(
                r#"{{"type":"heartbeat","ts":"{}","seq":{seq},"battery_pct":80,"rssi_dbm":-70,"firmware":"1.2.0"}}"#,
                ts(app.clock.now())
            ),
        )
    };
    assert_eq!(handle_message(&app.state, &topic, &hb(1)).await, Outcome::Heartbeat);
    let (_, online) = app.get(&gw, "/api/v1/devices?status=online").await;
    assert_eq!(online["total"], 1, "{online}");
    assert_eq!(online["items"][0]["battery_pct"], 80);
    assert_eq!(online["items"][0]["firmware"], "1.2.0");

    // Two intervals of silence: still online.
    app.clock.advance(Duration::seconds(179));
    assert_eq!(sweep_offline(&app.state).await.unwrap(), 0);
    let (_, offline) = app.get(&gw, "/api/v1/devices?status=offline").await;
    assert_eq!(offline["total"], 0);
    // The third: offline, listed for the grid worker (even before the sweep writes it).
    app.clock.advance(Duration::seconds(1));
    let (_, offline) = app.get(&gw, "/api/v1/devices?status=offline").await;
    assert_eq!(offline["total"], 1, "{offline}");
    assert_eq!(sweep_offline(&app.state).await.unwrap(), 1);
    assert_eq!(sweep_offline(&app.state).await.unwrap(), 0);
    let (_, offline) = app.get(&gw, "/api/v1/devices?status=offline").await;
    assert_eq!(offline["items"][0]["status"], "offline");
    // A heartbeat brings it back.
    assert_eq!(handle_message(&app.state, &topic, &hb(2)).await, Outcome::Heartbeat);
    let (_, online) = app.get(&gw, "/api/v1/devices?status=online").await;
    assert_eq!(online["total"], 1);
    app.stop().await;
}

/// With a real broker (CI sets WUWEI_TEST_MQTT_URL; without it this test has nothing to do):
/// a device publishes, the case appears; garbage becomes a dead letter. An unreachable broker
/// fails the test.
#[tokio::test]
async fn over_a_real_broker() {
    let Ok(url) = std::env::var("WUWEI_TEST_MQTT_URL") else { return };
    let (host, port) = wuwei_server::mqtt::broker_address(&url).expect("WUWEI_TEST_MQTT_URL is mqtt://HOST:PORT");
    // Fail, not skip, when the broker is down.
    tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .unwrap_or_else(|e| panic!("broker {url} unreachable: {e}"));

    // The device code is unique to this run, so other servers on the same broker ignore it.
    let config = wuwei_server::ServerConfig { mqtt_url: Some(url.clone()), ..Default::default() };
    let app = TestApp::spawn_with(config).await;
    let report =
        wuwei_server::demo::load_with(app.state.store(), app.clock.now(), wuwei_server::demo::DemoOptions::TOWN_ONLY)
            .await
            .unwrap();
    assert!(report.loaded);
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let code = format!("btn-{}", uuid::Uuid::new_v4().simple());
    let (_, secret, topic) = button(&app, &ta, &code, &home).await;

    let mut options = rumqttc::MqttOptions::new(format!("test-{}", uuid::Uuid::new_v4().simple()), host, port);
    options.set_keep_alive(std::time::Duration::from_secs(5));
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });

    // The server subscribes asynchronously: publish until the case appears (a repeat is a fold
    // or a dead-lettered replay, never a second case).
    let d = app.login("dispatcher1").await;
    let mut seq = 1;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let case = loop {
        client
            .publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, press(&app, &secret, &topic, seq))
            .await
            .unwrap();
        seq += 1;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (_, list) = app.get(&d, "/api/v1/cases?source=one_click_call").await;
        if list["total"] == 1 {
            break list["items"][0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no case from the broker: {list}");
    };
    assert_eq!(case["priority"], "urgent");

    client.publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, b"garbage".to_vec()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, letters) = app.get(&ta, "/api/v1/devices/dead-letters?reason=malformed").await;
        if letters["total"] == 1 {
            assert_eq!(letters["items"][0]["payload_excerpt"], "garbage");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no dead letter: {letters}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = client.disconnect().await;
    app.stop().await;
}

#[tokio::test]
async fn racing_copies_of_a_message_make_one_case() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let (_, secret, topic) = button(&app, &ta, "btn-0001", &home).await;
    let payload = press(&app, &secret, &topic, 1);
    let runs = (0..4).map(|_| handle_message(&app.state, &topic, &payload));
    let outcomes = futures_util::future::join_all(runs).await;
    let created = outcomes.iter().filter(|o| matches!(o, Outcome::CaseCreated { .. })).count();
    let replays = outcomes.iter().filter(|o| **o == Outcome::Dropped(DropReason::Replay)).count();
    assert_eq!((created, replays), (1, 3), "{outcomes:?}");
    let (_, list) = app.get(&ta, "/api/v1/cases?source=one_click_call").await;
    assert_eq!(list["total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_broker_does_not_stop_the_server() {
    let config = wuwei_server::ServerConfig { mqtt_url: Some("mqtt://127.0.0.1:1".into()), ..Default::default() };
    let app = TestApp::spawn_with(config).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_keep_only_the_newest_thousand_per_town() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let n = wuwei_store::devices::DEAD_LETTERS_PER_TOWN + 5;
    for i in 0..n {
        let got = handle_message(&app.state, "wuwei/DW/devices/junk/events", format!("junk {i}").as_bytes()).await;
        assert_eq!(got, Outcome::Dropped(DropReason::Malformed));
    }
    let (_, letters) = app.get(&ta, "/api/v1/devices/dead-letters?page_size=1").await;
    assert_eq!(letters["total"], wuwei_store::devices::DEAD_LETTERS_PER_TOWN);
    assert_eq!(letters["items"][0]["payload_excerpt"], format!("junk {}", n - 1));
    assert_eq!(metric(&app, "wuwei_device_messages_dropped_total{reason=\"malformed\"}").await, n);
    app.stop().await;
}

//! Issue 4's intake beyond the device register: the resident's one-click call from the phone
//! (the same path as a call button's press), cameras and their signed alarm webhook (every bad
//! input of the issue), alarms over MQTT, false alarms and the review queue, land-use layers
//! and the tags they give cases and alarms.

use chrono::{Duration, SecondsFormat};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wuwei_domain::intake::device::DeviceTopic;
use wuwei_domain::intake::mqtt::{DropReason, seal};
use wuwei_domain::intake::secret::IntakeSecret;
use wuwei_domain::intake::webhook;
use wuwei_server::Clock;
use wuwei_server::mqtt::{Outcome, handle_message};

use crate::cards::{a_household, issue, sign_in};
use crate::helpers::*;

async fn resident_of(app: &TestApp, ta: &Session) -> (Value, Session) {
    let home = a_household(app, ta).await;
    let token = issue(app, ta, home["id"].as_str().unwrap()).await;
    (home.clone(), sign_in(app, &token).await)
}

async fn case(app: &TestApp, s: &Session, id: &str) -> Value {
    let (status, c) = app.get(s, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    c
}

#[tokio::test]
async fn a_resident_presses_once_and_sees_who_is_coming() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (home, phone) = resident_of(&app, &ta).await;
    let (status, body) = app.get(&phone, "/api/v1/one-click/current").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    let (status, first) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["folded"], false);
    let call = &first["call"];
    assert_eq!(call["state"], "reported");
    assert_eq!(call["priority"], "urgent");
    assert_eq!(call["press_count"], 1);
    assert!(call["responder"].is_null());
    let due: chrono::DateTime<chrono::Utc> = call["accept_due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - app.clock.now(), Duration::minutes(10));
    let case_id = call["case_id"].as_str().unwrap().to_string();
    let dispatcher = app.login("dispatcher1").await;
    let c = case(&app, &dispatcher, &case_id).await;
    assert_eq!(c["source"], "one_click_call");
    assert_eq!(c["household_id"], home["id"]);
    assert_eq!(c["lat"], home["lat"]);
    assert_eq!(c["unit"]["kind"], "grid", "{c}");

    // Within 2 minutes: the same case, one more press.
    app.clock.advance(Duration::seconds(90));
    let (status, again) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["folded"], true);
    assert_eq!(again["call"]["case_id"], case_id.as_str());
    assert_eq!(again["call"]["press_count"], 2);

    // A repeated Idempotency-Key presses once.
    for _ in 0..2 {
        let resp = app
            .http
            .post(app.url("/api/v1/one-click"))
            .bearer_auth(&phone.token)
            .header("idempotency-key", "k-1")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (_, now) = app.get(&phone, "/api/v1/one-click/current").await;
    assert_eq!(now["press_count"], 3, "{now}");

    // The dispatcher accepts: the phone shows who is coming (the household's grid worker) and
    // their phone.
    let c = case(&app, &dispatcher, &case_id).await;
    let gw = app.login(grid_worker_of(&app, &c).await.as_str()).await;
    let (status, body) = app
        .post(
            &dispatcher,
            &format!("/api/v1/cases/{case_id}/actions"),
            json!({"action": "accept", "version": c["version"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, now) = app.get(&phone, "/api/v1/one-click/current").await;
    assert_eq!(now["state"], "accepted", "{now}");
    assert_eq!(now["responder"]["display_name"], gw.user["display_name"]);
    assert_eq!(now["responder"]["phone"], gw.user["phone"]);
    assert!(now["accept_due_at"].is_null());

    // Past the window, a new press is a new call.
    app.clock.advance(Duration::minutes(3));
    let (status, later) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    assert_ne!(later["call"]["case_id"], case_id.as_str());
}

/// The username of a grid worker of the case's grid.
async fn grid_worker_of(app: &TestApp, c: &Value) -> String {
    let admin = app.login("admin").await;
    let grid = c["grid"]["id"].as_str().or_else(|| c["place"]["grid"]["id"].as_str()).map(str::to_string);
    let (_, users) = app.get(&admin, "/api/v1/users?role=grid_worker&page_size=200").await;
    users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| {
            u["roles"].as_array().unwrap().iter().any(|r| {
                r["role"] == "grid_worker" && Some(r["scope"]["id"].as_str().unwrap_or("").to_string()) == grid
            })
        })
        .map(|u| u["username"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no grid worker for {c}"))
}

#[tokio::test]
async fn only_residents_press_and_voice_needs_an_open_call() {
    let app = TestApp::demo().await;
    let dispatcher = app.login("dispatcher1").await;
    let (status, body) = app.post(&dispatcher, "/api/v1/one-click", json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let resp = app.http.post(app.url("/api/v1/one-click")).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let ta = app.login("townadmin").await;
    let (_, phone) = resident_of(&app, &ta).await;
    let form = || {
        reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(b"OggS not really".to_vec()).file_name("v.ogg"))
    };
    let resp = app
        .http
        .post(app.url("/api/v1/one-click/voice"))
        .bearer_auth(&phone.token)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (status, _) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let resp = app
        .http
        .post(app.url("/api/v1/one-click/voice"))
        .bearer_auth(&phone.token)
        .multipart(form())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let resp = app
        .http
        .post(app.url("/api/v1/one-click"))
        .bearer_auth(&phone.token)
        .header("idempotency-key", "x".repeat(200))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_button_press_and_a_phone_press_fold_into_one_call() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (home, phone) = resident_of(&app, &ta).await;
    let (status, dev) = app
        .post(
            &ta,
            "/api/v1/devices",
            json!({"code": "btn-fold", "kind": "call_button", "name": "按钮", "binding": {"household_id": home["id"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dev}");
    let secret = IntakeSecret::parse_hex(dev["secret"].as_str().unwrap()).unwrap();
    let topic = dev["topic"].as_str().unwrap().to_string();
    let ts = app.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let payload =
        seal(&secret, &DeviceTopic::parse(&topic).unwrap(), &format!(r#"{{"type":"press","ts":"{ts}","seq":1}}"#))
            .unwrap();
    let Outcome::CaseCreated { case_id } = handle_message(&app.state, &topic, payload.as_bytes()).await else {
        panic!("no case")
    };
    app.clock.advance(Duration::seconds(30));
    let (status, pressed) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{pressed}");
    assert_eq!(pressed["call"]["case_id"], case_id.to_string());
    assert_eq!(pressed["call"]["press_count"], 2);
}

#[tokio::test]
async fn the_resident_stream_carries_their_own_call() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (_, phone) = resident_of(&app, &ta).await;
    let mut body = app.http.get(app.url("/api/v1/one-click/stream")).bearer_auth(&phone.token).send().await.unwrap();
    assert_eq!(body.status(), StatusCode::OK);
    let first = body.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));
    let (status, pressed) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("event: call") {
        let chunk = tokio::time::timeout_at(deadline, body.chunk()).await.expect("a call event").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(pressed["call"]["case_id"].as_str().unwrap()), "{seen}");
    // A dispatcher has no resident stream.
    let d = app.login("dispatcher1").await;
    let resp = app.http.get(app.url("/api/v1/one-click/stream")).bearer_auth(&d.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

// ---- cameras and alarms ----

/// Register a camera at the first household's location; returns (camera, secret hex).
async fn camera(app: &TestApp, ta: &Session, code: &str, kind: &str) -> (Value, String) {
    let home = a_household(app, ta).await;
    let town = app.town_id(ta).await;
    let (status, body) = app
        .post(
            ta,
            "/api/v1/cameras",
            json!({"town_id": town, "code": code, "name": "东街口", "kind": kind, "lat": home["lat"], "lon": home["lon"],
                   "bearing_deg": 45.0, "range_m": 150.0, "vendor": "海康威视", "live_view_url": "https://video.example.cn/live/1.m3u8"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["camera"].clone(), body["secret"].as_str().unwrap().to_string())
}

fn report(code: &str, alarm_type: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    json!({"camera_code": code, "alarm_type": alarm_type, "confidence": 0.9,
           "occurred_at": at.to_rfc3339_opts(SecondsFormat::Secs, true)})
}

async fn send(app: &TestApp, body: &[u8], headers: &[(&str, String)]) -> (StatusCode, Value) {
    let mut req =
        app.http.post(app.url("/api/v1/intake/alarms")).header("content-type", "application/json").body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn signed(secret: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let s = IntakeSecret::parse_hex(secret).unwrap();
    let (t, sig) = webhook::sign(&s, ts, body).unwrap();
    vec![(webhook::TIMESTAMP_HEADER, t), (webhook::SIGNATURE_HEADER, sig)]
}

async fn alarm(app: &TestApp, secret: &str, body: &Value) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    send(app, &bytes, &signed(secret, app.clock.now().timestamp(), &bytes)).await
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn cameras_are_registered_with_a_secret_shown_once_and_drawn_as_sectors() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (cam, secret) = camera(&app, &ta, "XL-0001", "xueliang").await;
    assert_eq!(secret.len(), 64);
    assert_eq!(cam["field_of_view_deg"], 90.0);
    assert_eq!(cam["status"], "active");
    assert_eq!(cam["opens_cases"], true);
    assert!(cam["stats"]["false_alarm_rate"].is_null());
    let town = app.town_id(&ta).await;
    let d = app.login("dispatcher1").await;
    let (status, list) = app.get(&d, "/api/v1/cameras?kind=xueliang").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(&secret));
    let (status, map) = app.get(&d, &format!("/api/v1/towns/{town}/cameras.geojson")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(map["features"][0]["geometry"]["type"], "Polygon");
    assert_eq!(map["features"][0]["properties"]["code"], "XL-0001");

    // Bad input: duplicate code, invalid fields, a point outside the town, stale version.
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/cameras",
            json!({"town_id": town, "code": "XL-0001", "name": "x", "kind": "xueliang",
            "lat": cam["lat"], "lon": cam["lon"], "bearing_deg": 0.0, "range_m": 100.0}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate");
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/cameras",
            json!({"town_id": town, "code": "bad code!", "name": "", "kind": "drone",
            "lat": 95.0, "lon": cam["lon"], "bearing_deg": 400.0, "range_m": 1.0, "live_view_url": "ftp://x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let f = fields(&body);
    for want in ["code", "name", "kind", "lat", "bearing_deg", "range_m", "live_view_url"] {
        assert!(f.contains(&want.to_string()), "{want} in {f:?}");
    }
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/cameras",
            json!({"town_id": town, "code": "XL-9", "name": "远处", "kind": "lookout",
            "lat": 10.0, "lon": 10.0, "bearing_deg": 0.0, "range_m": 100.0}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let id = cam["id"].as_str().unwrap();
    let (status, changed) = app
        .patch(&ta, &format!("/api/v1/cameras/{id}"), json!({"version": 1, "status": "maintenance", "vendor": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert!(changed["vendor"].is_null());
    assert_eq!(changed["opens_cases"], false);
    let (status, body) = app.patch(&ta, &format!("/api/v1/cameras/{id}"), json!({"version": 1, "name": "y"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "version_conflict");
    let (status, body) = app.patch(&d, &format!("/api/v1/cameras/{id}"), json!({"version": 2, "name": "y"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn signed_alarms_open_cases_and_bursts_fold() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (cam, secret) = camera(&app, &ta, "LK-0001", "lookout").await;
    let (status, first) = alarm(&app, &secret, &report("LK-0001", "fire_smoke", app.clock.now())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["disposition"], "case_created");
    assert_eq!(first["alarm_count"], 1);
    let case_id = first["case_id"].as_str().unwrap().to_string();
    let d = app.login("dispatcher1").await;
    let c = case(&app, &d, &case_id).await;
    assert_eq!(c["priority"], "urgent");
    assert_eq!(c["source"], "camera");
    assert_eq!(c["lat"], cam["lat"]);

    // Within 10 minutes: folded into the same case.
    app.clock.advance(Duration::minutes(4));
    let mut with_snapshot = report("LK-0001", "fire_smoke", app.clock.now());
    with_snapshot["snapshot"] = json!(b64(&png()));
    with_snapshot["event_id"] = json!("vendor-77");
    let (status, second) = alarm(&app, &secret, &with_snapshot).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    assert_eq!(second["disposition"], "folded");
    assert_eq!(second["case_id"], case_id.as_str());
    assert_eq!(second["alarm_count"], 2);
    assert_eq!(case(&app, &d, &case_id).await["alarm_count"], 2);
    // The vendor resends the same event (a new signature): a duplicate, nothing written.
    app.clock.advance(Duration::seconds(1));
    let (status, dup) = alarm(&app, &secret, &with_snapshot).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{dup}");
    assert_eq!(dup["disposition"], "duplicate");
    assert_eq!(dup["alarm_id"], second["alarm_id"]);
    // Another type is another case; past the window, a new case too.
    let (_, other) = alarm(&app, &secret, &report("LK-0001", "crowd", app.clock.now())).await;
    assert_eq!(other["disposition"], "case_created");
    assert_ne!(other["case_id"], case_id.as_str());
    assert_eq!(case(&app, &d, other["case_id"].as_str().unwrap()).await["priority"], "high");
    app.clock.advance(Duration::minutes(11));
    let (_, late) = alarm(&app, &secret, &report("LK-0001", "fire_smoke", app.clock.now())).await;
    assert_eq!(late["disposition"], "case_created");
    assert_ne!(late["case_id"], case_id.as_str());

    // The alarms list and the snapshot.
    let (status, list) = app.get(&d, &format!("/api/v1/alarms?camera_id={}", cam["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 4);
    let with_snap = list["items"].as_array().unwrap().iter().find(|a| a["snapshot_url"].is_string()).unwrap();
    let resp =
        app.http.get(app.url(with_snap["snapshot_url"].as_str().unwrap())).bearer_auth(&d.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_the_right_status() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (_, secret) = camera(&app, &ta, "XL-0100", "xueliang").await;
    let now = app.clock.now();
    let body = serde_json::to_vec(&report("XL-0100", "straw_burning", now)).unwrap();

    // Unsigned, badly signed, stale, replayed: 401.
    let (status, b) = send(&app, &body, &[]).await;
    assert_error(status, &b, StatusCode::UNAUTHORIZED, "bad_signature");
    let other = "00".repeat(32);
    let (status, b) = send(&app, &body, &signed(&other, now.timestamp(), &body)).await;
    assert_error(status, &b, StatusCode::UNAUTHORIZED, "bad_signature");
    let mut bad = signed(&secret, now.timestamp(), &body);
    bad[1].1 = "sha256=zz".into();
    let (status, b) = send(&app, &body, &bad).await;
    assert_error(status, &b, StatusCode::UNAUTHORIZED, "bad_signature");
    let (status, b) = send(&app, &body, &signed(&secret, now.timestamp() - 301, &body)).await;
    assert_error(status, &b, StatusCode::UNAUTHORIZED, "stale_request");
    let good = signed(&secret, now.timestamp(), &body);
    let (status, b) = send(&app, &body, &good).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{b}");
    let (status, b) = send(&app, &body, &good).await;
    assert_error(status, &b, StatusCode::UNAUTHORIZED, "replayed");

    // Unknown camera: 404 naming the code.
    let unknown = serde_json::to_vec(&report("NO-SUCH", "fire_smoke", now)).unwrap();
    let (status, b) = send(&app, &unknown, &signed(&secret, now.timestamp(), &unknown)).await;
    assert_error(status, &b, StatusCode::NOT_FOUND, "unknown_camera");
    assert_eq!(fields(&b), vec!["camera_code"]);
    assert!(b["message"].as_str().unwrap().contains("NO-SUCH"), "{b}");

    // A snapshot that is not an image: 415; too big: 413; not base64: 422.
    let mut r = report("XL-0100", "fire_smoke", now);
    r["snapshot"] = json!(b64(b"plain text, not a picture"));
    let (status, b) = alarm(&app, &secret, &r).await;
    assert_error(status, &b, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    r["snapshot"] = json!(b64(&vec![0xffu8; 2 * 1024 * 1024 + 10]));
    let (status, b) = alarm(&app, &secret, &r).await;
    assert_error(status, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    r["snapshot"] = json!("***not base64***");
    let (status, b) = alarm(&app, &secret, &r).await;
    assert_error(status, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // A body over the limit: 413 before anything else.
    let huge = vec![b' '; 3 * 1024 * 1024];
    let (status, _) = send(&app, &huge, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Not JSON: 400; bad fields: 422 naming them.
    let (status, b) = send(&app, b"{nope", &[]).await;
    assert_error(status, &b, StatusCode::BAD_REQUEST, "invalid_json");
    let fields_bad = serde_json::to_vec(
        &json!({"camera_code": "XL-0100", "alarm_type": "ufo", "confidence": 7.0, "occurred_at": "yesterday"}),
    )
    .unwrap();
    let (status, b) = send(&app, &fields_bad, &[]).await;
    assert_error(status, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&b), vec!["alarm_type", "confidence", "occurred_at"]);
    // Nothing of the refused ones was recorded.
    let d = app.login("dispatcher1").await;
    let (_, list) = app.get(&d, "/api/v1/alarms").await;
    assert_eq!(list["total"], 1, "{list}");
}

#[tokio::test]
async fn false_alarms_make_a_noisy_camera_queue_for_review() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let d = app.login("dispatcher1").await;
    let (cam, secret) = camera(&app, &ta, "XL-0200", "xueliang").await;
    let town = app.town_id(&ta).await;
    let (status, s) = app
        .call(
            &ta,
            reqwest::Method::PUT,
            &format!("/api/v1/towns/{town}/alarm-settings"),
            Some(json!({"version": 0, "burst_window_secs": 600, "false_alarm_threshold": 0.5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let (status, b) = app
        .call(
            &ta,
            reqwest::Method::PUT,
            &format!("/api/v1/towns/{town}/alarm-settings"),
            Some(json!({"version": 1, "burst_window_secs": 5, "false_alarm_threshold": 2.0})),
        )
        .await;
    assert_error(status, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&b), vec!["burst_window_secs", "false_alarm_threshold"]);

    let mut ids = Vec::new();
    for i in 0..10 {
        app.clock.advance(Duration::seconds(5));
        let (status, r) = alarm(&app, &secret, &report("XL-0200", "intrusion", app.clock.now())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "alarm {i}: {r}");
        ids.push(r["alarm_id"].as_str().unwrap().to_string());
    }
    let (status, b) = app.post(&d, &format!("/api/v1/alarms/{}/verdict", ids[0]), json!({"verdict": "maybe"})).await;
    assert_error(status, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let gw = app.login("gw01").await;
    let (status, _) = app.post(&gw, &format!("/api/v1/alarms/{}/verdict", ids[0]), json!({"verdict": "false"})).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{status}");
    for (i, id) in ids.iter().enumerate() {
        let verdict = if i < 6 { "false" } else { "true" };
        let (status, a) = app.post(&d, &format!("/api/v1/alarms/{id}/verdict"), json!({"verdict": verdict})).await;
        assert_eq!(status, StatusCode::OK, "{a}");
        assert_eq!(a["verdict"], verdict);
    }
    // Judging one again replaces its verdict, counted once.
    let (_, _) = app.post(&d, &format!("/api/v1/alarms/{}/verdict", ids[9]), json!({"verdict": "false"})).await;
    let (_, c) = app.get(&d, &format!("/api/v1/cameras/{}", cam["id"].as_str().unwrap())).await;
    assert_eq!(c["stats"]["judged"], 10, "{c}");
    assert_eq!(c["stats"]["false_alarms"], 7);
    assert_eq!(c["stats"]["false_alarm_rate"], 0.7);
    assert_eq!(c["opens_cases"], false);

    // A new burst from the noisy camera queues for review instead of opening a case.
    let (_, queued) = alarm(&app, &secret, &report("XL-0200", "fire_smoke", app.clock.now())).await;
    assert_eq!(queued["disposition"], "review", "{queued}");
    assert!(queued["case_id"].is_null());
    let (_, review) = app.get(&d, "/api/v1/alarms?disposition=review&verdict=").await;
    assert_eq!(review["total"], 1, "{review}");
    let qid = queued["alarm_id"].as_str().unwrap();
    let (status, opened) = app.post(&d, &format!("/api/v1/alarms/{qid}/open-case"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!(opened["disposition"], "case_created");
    assert!(opened["case_number"].is_string());
    let (status, b) = app.post(&d, &format!("/api/v1/alarms/{qid}/open-case"), json!({})).await;
    assert_error(status, &b, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn camera_alarms_over_mqtt_take_the_same_path() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (_, _) = camera(&app, &ta, "cam-mq-1", "xueliang").await;
    let home = a_household(&app, &ta).await;
    let mut made = Vec::new();
    for code in ["cam-mq-1", "cam-mq-2"] {
        let (status, dev) = app
            .post(
                &ta,
                "/api/v1/devices",
                json!({"code": code, "kind": "camera", "name": "摄像头",
                "binding": {"lat": home["lat"], "lon": home["lon"]}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{dev}");
        made.push((dev["secret"].as_str().unwrap().to_string(), dev["topic"].as_str().unwrap().to_string()));
    }
    let ts = app.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let msg = |(secret, topic): &(String, String), seq: u64| {
        let s = IntakeSecret::parse_hex(secret).unwrap();
        seal(
            &s,
            &DeviceTopic::parse(topic).unwrap(),
            &format!(r#"{{"type":"alarm","ts":"{ts}","seq":{seq},"alarm_type":"straw_burning","confidence":0.8}}"#),
        )
        .unwrap()
    };
    let out = handle_message(&app.state, &made[0].1, msg(&made[0], 1).as_bytes()).await;
    let Outcome::Alarm { case_id: Some(case_id), .. } = out else { panic!("{out:?}") };
    let out = handle_message(&app.state, &made[0].1, msg(&made[0], 2).as_bytes()).await;
    assert_eq!(
        out,
        Outcome::Alarm {
            alarm_id: match &out {
                Outcome::Alarm { alarm_id, .. } => *alarm_id,
                _ => unreachable!(),
            },
            case_id: Some(case_id)
        }
    );
    // Replayed seq: dropped. A camera device with no camera of its code: unbound.
    let out = handle_message(&app.state, &made[0].1, msg(&made[0], 2).as_bytes()).await;
    assert_eq!(out, Outcome::Dropped(DropReason::Replay));
    let out = handle_message(&app.state, &made[1].1, msg(&made[1], 1).as_bytes()).await;
    assert_eq!(out, Outcome::Dropped(DropReason::Unbound));
    let d = app.login("dispatcher1").await;
    let (_, list) = app.get(&d, "/api/v1/alarms").await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["via"], "mqtt");
}

// ---- land-use layers ----

fn square(lat: f64, lon: f64, half: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half], [lon - half, lat - half]]]})
}

#[tokio::test]
async fn protected_layers_tag_what_lies_inside_them() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let town = app.town_id(&ta).await;
    let home = a_household(&app, &ta).await;
    let (lat, lon) = (home["lat"].as_f64().unwrap(), home["lon"].as_f64().unwrap());
    let fc = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "基本农田 1"}, "geometry": square(lat, lon, 0.002)}]});
    let (status, layer) = app
        .post(
            &ta,
            &format!("/api/v1/towns/{town}/land-layers"),
            json!({"kind": "farmland_red_line", "name": "永久基本农田", "geojson": fc}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{layer}");
    assert_eq!(layer["protected"], true);
    assert_eq!(layer["tag"], "protected_farmland");
    assert_eq!(layer["feature_count"], 1);
    let (status, b) = app
        .post(&ta, &format!("/api/v1/towns/{town}/land-layers"), json!({"kind": "construction_land", "name": "建设用地",
            "geojson": {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": square(lat + 0.01, lon, 0.002)}]}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["protected"], false);

    let d = app.login("dispatcher1").await;
    let (status, list) = app.get(&d, &format!("/api/v1/towns/{town}/land-layers")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (status, g) = app.get(&d, &format!("/api/v1/land-layers/{}/geojson", layer["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(g["features"][0]["properties"]["kind"], "farmland_red_line");
    assert_eq!(g["features"][0]["properties"]["name"], "基本农田 1");

    // A one-click case and a camera alarm inside: tagged.
    let token = issue(&app, &ta, home["id"].as_str().unwrap()).await;
    let phone = sign_in(&app, &token).await;
    let (_, pressed) = app.post(&phone, "/api/v1/one-click", json!({})).await;
    let c = case(&app, &d, pressed["call"]["case_id"].as_str().unwrap()).await;
    assert_eq!(c["tags"], json!(["protected_farmland"]), "{c}");
    let (cam, secret) = camera(&app, &ta, "XL-LAND", "xueliang").await;
    assert_eq!(cam["tags"], json!(["protected_farmland"]));
    let (status, r) = alarm(&app, &secret, &report("XL-LAND", "illegal_building", app.clock.now())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{r}");
    let (_, a) = app.get(&d, &format!("/api/v1/alarms/{}", r["alarm_id"].as_str().unwrap())).await;
    assert_eq!(a["tags"], json!(["protected_farmland"]), "{a}");
    assert_eq!(case(&app, &d, r["case_id"].as_str().unwrap()).await["tags"], json!(["protected_farmland"]));

    // Bad layers: nothing written, the faulty feature named.
    let bad = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": square(lat, lon, 0.001)},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.001, lat], [lon, lat + 0.001]]]}}]});
    let (status, b) = app
        .post(
            &ta,
            &format!("/api/v1/towns/{town}/land-layers"),
            json!({"kind": "forest", "name": "林地", "geojson": bad}),
        )
        .await;
    assert_error(status, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&b), vec!["geojson.features[1].geometry"]);
    let (status, b) = app
        .post(
            &ta,
            &format!("/api/v1/towns/{town}/land-layers"),
            json!({"kind": "moon", "name": "", "geojson": {"type": "Point"}}),
        )
        .await;
    assert_error(status, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&b), vec!["kind", "name", "geojson"]);
    let (status, b) = app
        .post(
            &d,
            &format!("/api/v1/towns/{town}/land-layers"),
            json!({"kind": "forest", "name": "林地", "geojson": fc_one(lat, lon)}),
        )
        .await;
    assert_error(status, &b, StatusCode::FORBIDDEN, "forbidden");
    let (_, list) = app.get(&d, &format!("/api/v1/towns/{town}/land-layers")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Unprotecting the layer retags the camera.
    let lid = layer["id"].as_str().unwrap();
    let (status, l) = app
        .call(
            &ta,
            reqwest::Method::PUT,
            &format!("/api/v1/land-layers/{lid}"),
            Some(json!({"version": 1, "protected": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{l}");
    let (_, cam) = app.get(&d, &format!("/api/v1/cameras/{}", cam["id"].as_str().unwrap())).await;
    assert_eq!(cam["tags"], json!([]));
    let (status, _) = app.call(&ta, reqwest::Method::DELETE, &format!("/api/v1/land-layers/{lid}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

fn fc_one(lat: f64, lon: f64) -> Value {
    json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": square(lat, lon, 0.001)}]})
}

#[tokio::test]
async fn the_demo_town_has_cameras_call_buttons_and_land_layers() {
    let app = TestApp::demo_with_history().await;
    let d = app.login("dispatcher1").await;
    let ta = app.login("townadmin").await;
    let town = app.town_id(&ta).await;
    let (_, x) = app.get(&d, "/api/v1/cameras?kind=xueliang").await;
    assert_eq!(x["total"], 12, "{x}");
    let (_, l) = app.get(&d, "/api/v1/cameras?kind=lookout").await;
    assert_eq!(l["total"], 4);
    assert_eq!(l["items"][0]["field_of_view_deg"], 360.0);
    let (_, map) = app.get(&d, &format!("/api/v1/towns/{town}/cameras.geojson")).await;
    assert_eq!(map["features"].as_array().unwrap().len(), 16);
    let (_, buttons) = app.get(&ta, "/api/v1/devices?kind=call_button").await;
    let n = buttons["total"].as_u64().unwrap();
    assert!((10..=40).contains(&n), "{n} buttons");
    assert!(buttons["items"].as_array().unwrap().iter().all(|b| b["household_id"].is_string()));
    let (_, layers) = app.get(&d, &format!("/api/v1/towns/{town}/land-layers")).await;
    let kinds: Vec<&str> = layers["items"].as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["construction_land", "farmland_red_line", "forest"]);
    for l in layers["items"].as_array().unwrap() {
        let (status, g) = app.get(&d, &format!("/api/v1/land-layers/{}/geojson", l["id"].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(g["features"].as_array().unwrap().len() as i64, l["feature_count"].as_i64().unwrap());
    }
}

#[tokio::test]
async fn a_run_of_mqtt_messages_has_the_outcomes_of_one_by_one() {
    use wuwei_server::mqtt::handle_batch;
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (_, _) = camera(&app, &ta, "cam-run-1", "xueliang").await;
    let home = a_household(&app, &ta).await;
    let mut made = Vec::new();
    for code in ["cam-run-1", "cam-run-2"] {
        let (status, dev) = app
            .post(
                &ta,
                "/api/v1/devices",
                json!({"code": code, "kind": "camera", "name": "摄像头",
                "binding": {"lat": home["lat"], "lon": home["lon"]}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{dev}");
        made.push((dev["secret"].as_str().unwrap().to_string(), dev["topic"].as_str().unwrap().to_string()));
    }
    let (_, btn) = app
        .post(
            &ta,
            "/api/v1/devices",
            json!({"code": "btn-run", "kind": "call_button", "name": "按钮", "binding": {"household_id": home["id"]}}),
        )
        .await;
    let button = (btn["secret"].as_str().unwrap().to_string(), btn["topic"].as_str().unwrap().to_string());
    let ts = app.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let msg = |(secret, topic): &(String, String), body: String| {
        let s = IntakeSecret::parse_hex(secret).unwrap();
        (topic.clone(), seal(&s, &DeviceTopic::parse(topic).unwrap(), &body).unwrap().into_bytes())
    };
    let alarm = |d: &(String, String), seq: u64, t: &str| {
        msg(d, format!(r#"{{"type":"alarm","ts":"{ts}","seq":{seq},"alarm_type":"{t}","confidence":0.8}}"#))
    };
    let run = vec![
        alarm(&made[0], 1, "straw_burning"),
        alarm(&made[0], 2, "straw_burning"),
        alarm(&made[0], 2, "straw_burning"),
        alarm(&made[0], 3, "fire_smoke"),
        (made[0].1.clone(), b"garbage".to_vec()),
        alarm(&made[1], 1, "straw_burning"),
        msg(&button, format!(r#"{{"type":"press","ts":"{ts}","seq":1}}"#)),
        alarm(&made[0], 4, "straw_burning"),
        msg(&made[0], format!(r#"{{"type":"heartbeat","ts":"{ts}","seq":5}}"#)),
        alarm(&made[0], 5, "straw_burning"),
        alarm(&made[0], 6, "fire_smoke"),
    ];
    let out = handle_batch(&app.state, &run).await;
    let case_of = |o: &Outcome| match o {
        Outcome::Alarm { case_id: Some(c), .. } => *c,
        other => panic!("{other:?}"),
    };
    let straw = case_of(&out[0]);
    let fire = case_of(&out[3]);
    assert_ne!(straw, fire);
    assert_eq!(case_of(&out[1]), straw);
    assert_eq!(out[2], Outcome::Dropped(DropReason::Replay));
    assert_eq!(out[4], Outcome::Dropped(DropReason::Malformed));
    assert_eq!(out[5], Outcome::Dropped(DropReason::Unbound));
    assert!(matches!(out[6], Outcome::CaseCreated { .. }), "{:?}", out[6]);
    assert_eq!(case_of(&out[7]), straw);
    assert_eq!(out[8], Outcome::Heartbeat);
    // After the heartbeat took seq 5, the alarm with seq 5 is a replay.
    assert_eq!(out[9], Outcome::Dropped(DropReason::Replay));
    assert_eq!(case_of(&out[10]), fire);

    let d = app.login("dispatcher1").await;
    let (_, list) = app.get(&d, "/api/v1/alarms").await;
    assert_eq!(list["total"], 5, "{list}");
    let (_, cams) = app.get(&d, "/api/v1/cameras?q=cam-run-1").await;
    assert_eq!(cams["items"][0]["stats"]["alarms"], 5, "{cams}");
    let (_, straw_case) = app.get(&d, &format!("/api/v1/cases/{straw}")).await;
    assert_eq!(straw_case["source"], "camera");
    let (_, letters) = app.get(&ta, "/api/v1/devices/dead-letters").await;
    assert_eq!(letters["total"], 4, "{letters}");

    // Two servers taking the same run at once (both subscribed to the broker): each device's
    // seq is written once per run, checked against what the run started from, so the run
    // that loses rolls back and its messages, taken one by one, are replays. Nothing twice.
    let copy: Vec<_> = (7..17).map(|seq| alarm(&made[0], seq, "flooding")).collect();
    let (a, b) = tokio::join!(handle_batch(&app.state, &copy), handle_batch(&app.state, &copy));
    let recorded = a.iter().chain(&b).filter(|o| matches!(o, Outcome::Alarm { .. })).count();
    let replays = a.iter().chain(&b).filter(|o| **o == Outcome::Dropped(DropReason::Replay)).count();
    assert_eq!((recorded, replays), (10, 10), "{a:?} {b:?}");
    let (_, list) = app.get(&d, "/api/v1/alarms?alarm_type=flooding").await;
    assert_eq!(list["total"], 10, "{list}");
    let (_, cams) = app.get(&d, "/api/v1/cameras?q=cam-run-1").await;
    assert_eq!(cams["items"][0]["stats"]["alarms"], 15, "{cams}");
    // The device's seq is the run's last: the next alarm needs seq 17 or above.
    assert_eq!(
        handle_batch(&app.state, &[alarm(&made[0], 16, "flooding")]).await,
        vec![Outcome::Dropped(DropReason::Replay)]
    );
    assert!(matches!(handle_batch(&app.state, &[alarm(&made[0], 17, "flooding")]).await[0], Outcome::Alarm { .. }));
    app.stop().await;
}

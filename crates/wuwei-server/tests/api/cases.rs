//! The case closed loop, end to end over HTTP, on both databases.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// A category id by code, as the town's categories list gives it.
async fn category(app: &TestApp, s: &Session, code: &str) -> String {
    let town = s.user["towns"][0]["id"].as_str().unwrap().to_string();
    let (status, cats) = app.get(s, &format!("/api/v1/towns/{town}/categories")).await;
    assert_eq!(status, StatusCode::OK, "{cats}");
    cats.as_array().unwrap().iter().find(|c| c["code"] == code).unwrap_or_else(|| panic!("no category {code}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A household of the grid worker's first grid, for a location inside it.
async fn a_household_of(app: &TestApp, s: &Session) -> Value {
    let (_, page) = app.get(s, "/api/v1/households?page_size=5").await;
    page["items"][0].clone()
}

async fn report(app: &TestApp, s: &Session, category_code: &str, at: &Value, priority: &str) -> Value {
    let cat = category(app, s, category_code).await;
    let (status, case) = app
        .post(
            s,
            "/api/v1/cases",
            json!({"category_id": cat, "priority": priority, "title": "路边有老人摔倒", "description": "需要帮助",
                   "lat": at["lat"], "lon": at["lon"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case
}

async fn act(app: &TestApp, s: &Session, case: &Value, body: Value) -> (StatusCode, Value) {
    let mut body = body;
    body["version"] = case["version"].clone();
    app.post(s, &format!("/api/v1/cases/{}/actions", case["id"].as_str().unwrap()), body).await
}

fn actions(case: &Value) -> Vec<String> {
    case["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_case_goes_round_the_whole_loop_across_three_users() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let dispatcher = app.login("dispatcher1").await;
    let home = a_household_of(&app, &gw).await;
    let case = report(&app, &gw, "elderly_care", &home, "normal").await;
    assert_eq!(case["state"], "reported");
    assert!(case["number"].as_str().unwrap().starts_with("DW-20261128-"), "{}", case["number"]);
    assert_eq!(case["grid"]["id"], home["grid"]["id"], "located in the household's grid");
    assert_eq!(case["unit"]["kind"], "grid", "elderly care goes to the grid");
    assert_eq!(case["due_at"], "2026-11-28T11:00:00Z", "normal: two hours to accept");
    assert!(actions(&case).is_empty(), "the reporter can do nothing while it waits: {:?}", actions(&case));

    // The dispatcher sees it, with what they may do.
    let (_, seen) = app.get(&dispatcher, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    assert_eq!(actions(&seen), vec!["accept", "return", "merge", "reject"]);
    // Closing now is not allowed: 409 naming what is.
    let (status, body) = act(&app, &dispatcher, &seen, json!({"action": "close"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "action_not_allowed");
    assert!(body["message"].as_str().unwrap().contains("accept"), "{body}");
    // The grid worker may not accept.
    let (status, body) = act(&app, &gw, &seen, json!({"action": "accept"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let (status, accepted) = act(&app, &dispatcher, &seen, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["due_at"], "2026-12-01T09:00:00Z", "normal: three days to resolve");
    // A stale version is caught.
    let (status, body) = act(&app, &dispatcher, &seen, json!({"action": "dispatch"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "version_conflict");
    let (status, dispatched) = act(&app, &dispatcher, &accepted, json!({"action": "dispatch"})).await;
    assert_eq!(status, StatusCode::OK, "{dispatched}");
    assert_eq!(dispatched["state"], "dispatched");

    // The grid worker now handles it.
    app.clock.advance(chrono::Duration::minutes(30));
    let (_, mine) = app.get(&gw, "/api/v1/cases?mine=assigned").await;
    assert_eq!(mine["total"], 1);
    let (_, task) = app.get(&gw, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    assert!(actions(&task).contains(&"start".to_string()), "{:?}", actions(&task));
    let (status, started) = act(&app, &gw, &task, json!({"action": "start"})).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let (status, body) = act(&app, &gw, &started, json!({"action": "resolve"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["result_note"]);
    let (status, resolved) =
        act(&app, &gw, &started, json!({"action": "resolve", "result_note": "已送老人回家并联系家属"})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");

    let (_, check) = app.get(&dispatcher, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    let (status, closed) = act(&app, &dispatcher, &check, json!({"action": "close"})).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["state"], "closed");

    // The reporter rates it, unhappily, and reopens it once.
    let (_, as_reporter) = app.get(&gw, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    assert_eq!(actions(&as_reporter), vec!["rate", "reopen"]);
    let (status, body) = act(&app, &gw, &as_reporter, json!({"action": "rate", "rating": 9})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, rated) = act(&app, &gw, &as_reporter, json!({"action": "rate", "rating": 2, "comment": "太慢"})).await;
    assert_eq!(status, StatusCode::OK, "{rated}");
    let (status, reopened) = act(&app, &gw, &rated, json!({"action": "reopen", "note": "老人又摔倒了"})).await;
    assert_eq!(status, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["state"], "dispatched");
    assert_eq!(reopened["reopen_count"], 1);
    let steps: Vec<&str> =
        reopened["timeline"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(steps, vec!["report", "accept", "dispatch", "start", "resolve", "close", "rate", "reopen"]);
    // People by the name people know them by; the login name stays in the audit log.
    assert_eq!(reopened["timeline"][1]["actor_name"], dispatcher.user["display_name"]);
    assert_ne!(reopened["timeline"][1]["actor_name"], "dispatcher1");
    assert_eq!(reopened["timeline"][4]["note"], "已送老人回家并联系家属");

    // Everyone concerned was told, in their inbox, once the outbox runs.
    wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    let (_, inbox) = app.get(&gw, "/api/v1/inbox").await;
    let kinds: Vec<&str> = inbox["items"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"dispatched") && kinds.contains(&"closed"), "{kinds:?}");
    app.stop().await;
}

#[tokio::test]
async fn cases_are_read_only_in_scope_and_acted_on_only_with_the_right() {
    let app = TestApp::demo().await;
    let gw1 = app.login("gw01").await;
    let gw2 = app.login("gw02").await;
    let case = report(&app, &gw1, "elderly_care", &a_household_of(&app, &gw1).await, "normal").await;
    let id = case["id"].as_str().unwrap();
    let (status, body) = app.get(&gw2, &format!("/api/v1/cases/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) =
        app.post(&gw2, &format!("/api/v1/cases/{id}/actions"), json!({"action": "accept", "version": 1})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, list) = app.get(&gw2, "/api/v1/cases").await;
    assert_eq!(list["total"], 0);
    // The village's cadre sees it; the town's office staff too.
    let (_, town) = app.get(&app.login("pl1").await, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(town["number"], case["number"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_reports_are_refused_with_the_field() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let (status, body) = app
        .post(
            &gw,
            "/api/v1/cases",
            json!({"category_id": "01900000-0000-7000-8000-000000000000", "title": "x", "lat": 37.73, "lon": 117.23}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["category_id"]);
    let cat = category(&app, &gw, "other").await;
    let (status, body) =
        app.post(&gw, "/api/v1/cases", json!({"category_id": cat, "title": "北京", "lat": 39.9, "lon": 116.4})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "outside_town");
    let (status, body) = app
        .post(
            &gw,
            "/api/v1/cases",
            json!({"category_id": cat, "title": "x", "priority": "whenever", "lat": 37.73, "lon": 117.23}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["priority"]);
    let (status, body) = app.post(&gw, "/api/v1/cases", json!({"category_id": cat, "title": "没有位置"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["lat"]);
    app.stop().await;
}

#[tokio::test]
async fn reports_sent_together_are_each_answered_for_themselves() {
    // Reports arriving at once are written in one group commit; a refused one takes nothing
    // with it, and the others are numbered without gaps, each with its own timeline.
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let home = a_household_of(&app, &gw).await;
    let cat = category(&app, &gw, "water_power").await;
    let sends: Vec<_> = (0..24)
        .map(|i| {
            let (app, gw, home, cat) = (&app, &gw, &home, cat.clone());
            async move {
                let category = if i % 6 == 0 { json!("01900000-0000-7000-8000-000000000000") } else { json!(cat) };
                let priority = if i % 6 == 1 { "urgent" } else { "normal" };
                let lat = home["lat"].as_f64().unwrap() + f64::from(i) * 0.0001;
                let body = json!({"category_id": category, "priority": priority, "title": format!("第{i}件"),
                                  "lat": lat, "lon": home["lon"]});
                (i, app.post(gw, "/api/v1/cases", body).await)
            }
        })
        .collect();
    let results = futures_util::future::join_all(sends).await;
    let mut seqs = Vec::new();
    for (i, (status, body)) in results {
        if i % 6 == 0 {
            assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(fields(&body), vec!["category_id"]);
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["title"], format!("第{i}件"));
        assert_eq!(body["priority"], if i % 6 == 1 { "urgent" } else { "normal" });
        assert_eq!(body["timeline"].as_array().unwrap().len(), 1, "{body}");
        // The answer is built from what the write knew; it must be what a read gives.
        let (_, stored) = app.get(&gw, &format!("/api/v1/cases/{}", body["id"].as_str().unwrap())).await;
        assert_eq!(stored, body);
        let number = body["number"].as_str().unwrap();
        seqs.push(number.rsplit('-').next().unwrap().parse::<u32>().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs.len(), 20);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "numbers without gaps: {seqs:?}");
    let (_, mine) = app.get(&gw, "/api/v1/cases?mine=reported").await;
    assert_eq!(mine["total"], 20);
    app.stop().await;
}

#[tokio::test]
async fn a_new_cases_answer_is_what_a_read_gives() {
    // Built from memory for reporters in each capacity: a grid worker (handler of the grid's
    // unit), a dispatcher, a village cadre, a resident; by point, by household, urgent.
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let home = a_household_of(&app, &gw).await;
    let cat = category(&app, &gw, "water_power").await;
    let mut checked = Vec::new();
    for who in ["gw01", "dispatcher1", "vc1", "res1"] {
        let s = app.login(who).await;
        for (n, body) in [
            json!({"category_id": cat, "title": "停水", "lat": home["lat"], "lon": home["lon"]}),
            json!({"category_id": cat, "title": "停电", "priority": "urgent", "household_id": home["id"],
                   "reporter_name": "张三", "reporter_phone": "13800001234"}),
        ]
        .into_iter()
        .enumerate()
        {
            let (status, made) = app.post(&s, "/api/v1/cases", body).await;
            if status == StatusCode::FORBIDDEN || status == StatusCode::UNPROCESSABLE_ENTITY {
                // Not every reporter may report at every household.
                assert!(who == "res1" || who == "vc1", "{who} {n}: {made}");
                continue;
            }
            assert_eq!(status, StatusCode::CREATED, "{who} {n}: {made}");
            let (_, stored) = app.get(&s, &format!("/api/v1/cases/{}", made["id"].as_str().unwrap())).await;
            assert_eq!(stored, made, "{who} {n}");
            checked.push(format!("{who} {n} {}", made["capacities"]));
        }
    }
    assert!(checked.len() >= 4, "{checked:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_makes_no_second_case() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let home = a_household_of(&app, &gw).await;
    let cat = category(&app, &gw, "water_power").await;
    let body = json!({"category_id": cat, "title": "停水", "lat": home["lat"], "lon": home["lon"]});
    let send = |key: &'static str, body: Value| {
        let app = &app;
        let gw = &gw;
        async move {
            let resp = app
                .http
                .post(app.url("/api/v1/cases"))
                .bearer_auth(&gw.token)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let replayed = resp.headers().contains_key("idempotent-replayed");
            (status, replayed, resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1, first) = send("phone-retry-1", body.clone()).await;
    let (s2, r2, second) = send("phone-retry-1", body.clone()).await;
    assert_eq!((s1, r1), (StatusCode::CREATED, false));
    assert_eq!((s2, r2), (StatusCode::CREATED, true));
    assert_eq!(first["id"], second["id"]);
    let (_, mine) = app.get(&gw, "/api/v1/cases?mine=reported").await;
    assert_eq!(mine["total"], 1);
    let mut other = body.clone();
    other["title"] = json!("另一件事");
    let (s3, _, err) = send("phone-retry-1", other).await;
    assert_error(s3, &err, StatusCode::CONFLICT, "idempotency_conflict");
    // Many concurrent retries still make one case.
    let tasks: Vec<_> = (0..8).map(|_| send("burst", body.clone())).collect();
    let results = futures_util::future::join_all(tasks).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(s, _, v)| {
            assert_eq!(*s, StatusCode::CREATED, "{v}");
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let (_, mine) = app.get(&gw, "/api/v1/cases?mine=reported").await;
    assert_eq!(mine["total"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_nearby_report_is_flagged_and_merged_with_its_reporter_following() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let res = app.login("dispatcher2").await;
    let dispatcher = app.login("dispatcher1").await;
    let home = a_household_of(&app, &gw).await;
    let first = report(&app, &gw, "garbage", &home, "normal").await;
    assert!(first["possible_duplicate_of"].is_null());
    let near = json!({"lat": home["lat"].as_f64().unwrap() + 0.0003, "lon": home["lon"]});
    let second = report(&app, &res, "garbage", &near, "normal").await;
    assert_eq!(second["possible_duplicate_of"], first["id"]);
    // Another category at the same spot is not a duplicate.
    let third = report(&app, &gw, "water_power", &near, "normal").await;
    assert!(third["possible_duplicate_of"].is_null());
    let (status, merged) =
        act(&app, &dispatcher, &second, json!({"action": "merge", "target_case_id": first["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["state"], "merged");
    assert_eq!(merged["merged_into_id"], first["id"]);
    let (_, survivor) = app.get(&dispatcher, &format!("/api/v1/cases/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(survivor["merged_reporters"][0]["name"], res.user["display_name"]);
    // The merged reporter follows the survivor: they may read it.
    let (status, _) = app.get(&res, &format!("/api/v1/cases/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    // Merging into a closed or missing case is refused.
    let (status, body) =
        act(&app, &dispatcher, &third, json!({"action": "merge", "target_case_id": second["id"]})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.stop().await;
}

#[tokio::test]
async fn the_sweeper_cards_urges_and_escalates_once() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let dispatcher = app.login("dispatcher1").await;
    let case = report(&app, &gw, "elderly_care", &a_household_of(&app, &gw).await, "urgent").await;
    let id = case["id"].as_str().unwrap().to_string();
    // Urgent: 30 minutes to accept. At 22 minutes nothing; at 22 minutes 30 s (75%) yellow.
    app.clock.advance(chrono::Duration::minutes(22));
    let r = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(r.yellow, 0);
    app.clock.advance(chrono::Duration::seconds(30));
    let r = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!((r.yellow, r.red), (1, 0), "{r:?}");
    let again = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(again.examined, 0, "never acts twice");
    app.clock.advance(chrono::Duration::minutes(7) + chrono::Duration::seconds(30));
    let r = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(r.red, 1, "{r:?}");
    let (_, c) = app.get(&dispatcher, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["card"], "red");

    // Accepted and dispatched to the grid: four hours to resolve, then it climbs.
    let (_, accepted) = act(&app, &dispatcher, &c, json!({"action": "accept"})).await;
    assert_eq!(accepted["card"], "none", "a new clock, a new card");
    let (_, dispatched) = act(&app, &dispatcher, &accepted, json!({"action": "dispatch"})).await;
    assert_eq!(dispatched["unit"]["kind"], "grid");
    app.clock.advance(chrono::Duration::hours(4) + chrono::Duration::minutes(1));
    let r = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(r.escalated, 1, "{r:?}");
    let (_, up) = app.get(&dispatcher, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(up["unit"]["kind"], "village_committee");
    assert_eq!(up["escalation_level"], 1);
    assert_eq!(up["card"], "red");
    let last = up["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "escalate", "{last}");
    assert_eq!(wuwei_server::jobs::sweep(&app.state).await.unwrap().escalated, 0);
    // Another four hours: to a town office, then to the county.
    app.clock.advance(chrono::Duration::hours(4) + chrono::Duration::minutes(1));
    wuwei_server::jobs::sweep(&app.state).await.unwrap();
    let (_, up) = app.get(&dispatcher, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(up["unit"]["kind"], "town_office");
    app.clock.advance(chrono::Duration::hours(4) + chrono::Duration::minutes(1));
    wuwei_server::jobs::sweep(&app.state).await.unwrap();
    // (Twelve hours on: the morning's sign-in has expired.)
    let dispatcher = app.login("dispatcher1").await;
    let (_, up) = app.get(&dispatcher, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(up["unit"]["kind"], "county", "{up}");
    assert_eq!(up["escalation_level"], 3);
    // The village cadres were told it is theirs now.
    wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    let cadre = app.login("vc1").await;
    let (_, inbox) = app.get(&cadre, "/api/v1/inbox").await;
    assert!(inbox["items"].as_array().unwrap().iter().any(|m| m["kind"] == "escalated"), "{inbox}");
    app.stop().await;
}

#[tokio::test]
async fn supervision_orders_have_their_own_deadline() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let dispatcher = app.login("dispatcher1").await;
    let case = report(&app, &gw, "roads", &a_household_of(&app, &gw).await, "normal").await;
    let id = case["id"].as_str().unwrap();
    let (status, order) = app
        .post(
            &dispatcher,
            &format!("/api/v1/cases/{id}/supervision"),
            json!({"note": "请今天内处理", "due_at": "2026-11-28T10:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // The supervision board lists cases under an open order, carded or not.
    let (_, supervised) = app.get(&dispatcher, "/api/v1/cases?supervised=true").await;
    assert_eq!(supervised["total"], 1, "{supervised}");
    assert_eq!(supervised["items"][0]["id"], case["id"]);
    assert_eq!(supervised["items"][0]["card"], "none");
    let (status, body) = app
        .post(&gw, &format!("/api/v1/cases/{id}/supervision"), json!({"note": "x", "due_at": "2026-11-28T10:00:00Z"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .post(
            &dispatcher,
            &format!("/api/v1/cases/{id}/supervision"),
            json!({"note": "x", "due_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.clock.advance(chrono::Duration::hours(2));
    let r = wuwei_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(r.supervision_red, 1, "{r:?}");
    let (_, c) = app.get(&dispatcher, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["supervisions"][0]["card"], "red");
    assert!(c["timeline"].as_array().unwrap().iter().any(|e| e["action"] == "supervise"));
    app.stop().await;
}

/// A real local HTTP receiver standing in for the SMS gateway and the WeCom robot.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(Mutex::new(0usize));
    let (g, c) = (got.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let (g, c) = (g.clone(), c.clone());
            async move {
                let n = {
                    let mut n = c.lock().unwrap();
                    *n += 1;
                    *n
                };
                if n <= fail_first {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                g.lock().unwrap().push(v);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn urgent_notices_reach_the_sms_gateway_and_wecom_with_retries() {
    let (sms, sms_got) = receiver(1).await;
    let (wecom, wecom_got) = receiver(0).await;
    let config = wuwei_server::ServerConfig {
        sms_webhook_url: Some(wuwei_server::state::Secret::new(sms)),
        wecom_webhook_url: Some(wuwei_server::state::Secret::new(wecom)),
        ..Default::default()
    };
    let app = TestApp::spawn_with(config).await;
    wuwei_server::demo::load_with(app.state.store(), start_time(), wuwei_server::demo::DemoOptions::TOWN_ONLY)
        .await
        .unwrap();
    let gw = app.login("gw01").await;
    report(&app, &gw, "fire_smoke", &a_household_of(&app, &gw).await, "urgent").await;
    let first = wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    assert_eq!(first.failed, 1, "the gateway's first answer is 503: {first:?}");
    assert_eq!(wecom_got.lock().unwrap().len(), 1);
    let msg = wecom_got.lock().unwrap()[0].clone();
    assert_eq!(msg["msgtype"], "text");
    assert!(msg["text"]["content"].as_str().unwrap().contains("紧急"), "{msg}");
    // The failed one waits for its backoff, then goes through.
    let again = wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    assert_eq!(again.delivered, 0);
    app.clock.advance(chrono::Duration::minutes(2));
    let later = wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    assert!(later.delivered >= 1, "{later:?}");
    let sms = sms_got.lock().unwrap().clone();
    assert!(!sms.is_empty());
    assert!(sms.iter().all(|m| m["phone"].as_str().unwrap().starts_with("1700")), "{sms:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_dispatchers_stream_shows_a_new_case_live_and_only_in_scope() {
    let app = TestApp::demo().await;
    let gw1 = app.login("gw01").await;
    let dispatcher = app.login("dispatcher1").await;
    let gw2 = app.login("gw02").await;
    let open = |s: &Session| app.http.get(app.url("/api/v1/cases/stream")).bearer_auth(&s.token).send();
    let mut d = open(&dispatcher).await.unwrap();
    let mut other = open(&gw2).await.unwrap();
    assert_eq!(d.headers()["content-type"], "text/event-stream");
    let case = report(&app, &gw1, "elderly_care", &a_household_of(&app, &gw1).await, "normal").await;
    let number = case["number"].as_str().unwrap().to_string();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text.contains(&number) {
        let chunk = tokio::time::timeout_at(deadline, d.chunk()).await.expect("the event arrives").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: case"), "{text}");
    // gw02's stream says nothing about gw01's case.
    let mut seen = String::new();
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, other.chunk()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains(&number), "{seen}");
    app.stop().await;
}

#[tokio::test]
async fn town_admins_edit_categories_and_deadlines_and_new_cases_follow() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let town = ta.user["towns"][0]["id"].as_str().unwrap().to_string();
    let (_, cats) = app.get(&ta, &format!("/api/v1/towns/{town}/categories")).await;
    let cats = cats.as_array().unwrap().clone();
    assert!(cats.len() >= 10);
    for code in [
        "work_safety",
        "fire",
        "environment",
        "roads",
        "water_power",
        "public_order",
        "neighbour_dispute",
        "land_use",
        "elderly_care",
        "other",
    ] {
        assert!(cats.iter().any(|c| c["code"] == code), "default category {code}");
    }
    let water = cats.iter().find(|c| c["code"] == "water_power").unwrap().clone();
    let (status, edited) = app
        .patch(&ta, &format!("/api/v1/categories/{}", water["id"].as_str().unwrap()), json!({
            "version": water["version"], "code": "water_power", "name": "水电气", "default_unit_kind": "village_committee",
            "policies": [{"priority": "normal", "accept_minutes": 15, "resolve_minutes": 600}]
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let gw = app.login("gw01").await;
    let (status, body) = app
        .patch(
            &gw,
            &format!("/api/v1/categories/{}", water["id"].as_str().unwrap()),
            json!({"version": 2, "code": "x", "name": "x", "default_unit_kind": "grid"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let case = report(&app, &gw, "water_power", &a_household_of(&app, &gw).await, "normal").await;
    assert_eq!(case["due_at"], "2026-11-28T09:15:00Z", "the new 15-minute policy");
    assert_eq!(case["unit"]["kind"], "village_committee");
    let (_, units) = app.get(&ta, &format!("/api/v1/towns/{town}/units")).await;
    let kinds: Vec<&str> = units.as_array().unwrap().iter().map(|u| u["kind"].as_str().unwrap()).collect();
    for k in ["grid", "village_committee", "town_office", "enforcement_team", "county"] {
        assert!(kinds.contains(&k), "{k}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_resident_may_ask_where_a_point_is_before_reporting() {
    let app = TestApp::demo().await;
    let resident = app.login("res1").await;
    let home = a_household_of(&app, &resident).await;
    let (lat, lon) = (home["lat"].as_f64().unwrap(), home["lon"].as_f64().unwrap());
    let (status, here) = app.get(&resident, &format!("/api/v1/locate?lat={lat}&lon={lon}")).await;
    assert_eq!(status, StatusCode::OK, "{here}");
    assert!(here["grid"]["name"].is_string() && here["admin_village"]["name"].is_string(), "{here}");
    let (status, body) = app.get(&resident, "/api/v1/locate?lat=39.9&lon=116.4").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn a_residents_confirmed_report_proposes_points_for_their_household() {
    let app = TestApp::demo().await;
    let res = app.login("res1").await;
    let dispatcher = app.login("dispatcher1").await;
    let gw = app.login("gw01").await; // 陈家庄's grid worker: res1 lives there
    let home = a_household_of(&app, &res).await;
    let case = report(&app, &res, "elderly_care", &home, "normal").await;
    assert_eq!(case["source"], "resident");
    let (_, accepted) = act(&app, &dispatcher, &case, json!({"action": "accept"})).await;
    let (status, dispatched) = act(&app, &dispatcher, &accepted, json!({"action": "dispatch"})).await;
    assert_eq!(status, StatusCode::OK, "{dispatched}");
    let (_, task) = app.get(&gw, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    let (status, started) = act(&app, &gw, &task, json!({"action": "start"})).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let (status, resolved) = act(&app, &gw, &started, json!({"action": "resolve", "result_note": "已处理"})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    // No points before the case is confirmed and closed.
    let vc = app.login("vc1").await;
    let path = format!("/api/v1/points/awards?household_id={}", home["id"].as_str().unwrap());
    let (_, none) = app.get(&vc, &path).await;
    assert_eq!(none["total"], 0);
    let (status, closed) = act(&app, &dispatcher, &resolved, json!({"action": "close"})).await;
    assert_eq!(status, StatusCode::OK, "{closed}");

    // The award takes the usual path: proposed, for the village committee to review.
    let (_, awards) = app.get(&vc, &path).await;
    assert_eq!(awards["total"], 1, "{awards}");
    let a = &awards["items"][0];
    assert_eq!(a["source"], "case");
    assert_eq!(a["state"], "proposed");
    assert_eq!(a["item_code"], "law_clue_report");
    assert!(a["note"].as_str().unwrap().contains(case["number"].as_str().unwrap()), "{a}");
    app.stop().await;
}

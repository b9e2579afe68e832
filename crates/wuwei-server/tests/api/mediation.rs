//! Peacemaker stations and three-level dispute mediation over HTTP, on both databases: a
//! dispute climbs natural village → admin village → town, is routed to justice with police
//! collaborating, settled, printed and followed up; the sweeper escalates what a level lets run
//! out of time; personal numbers are sealed, masked and revealed only with an audit entry; and
//! each wrong request gets its answer.

use chrono::Duration;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use wuwei_server::Clock;

use crate::helpers::*;

/// An 18-digit resident ID with a correct check digit, from its first 17 digits.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// gw01's natural village and admin village (from their first grid).
async fn home_of(app: &TestApp, gw: &Session) -> (String, String) {
    let grid = gw.user["roles"][0]["scope"]["id"].as_str().unwrap().to_string();
    let (status, r) = app.get(gw, &format!("/api/v1/regions/{grid}")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    (r["natural_village_id"].as_str().unwrap().into(), r["admin_village_id"].as_str().unwrap().into())
}

/// The grid chief (gc1–gc8) of this admin village.
async fn chief_of(app: &TestApp, admin_village: &str) -> Session {
    for n in 1..=8 {
        let s = app.login(&format!("gc{n}")).await;
        if s.user["roles"][0]["scope"]["id"] == admin_village {
            return s;
        }
    }
    panic!("no grid chief for {admin_village}");
}

fn register_body(nv: &str, parties: Value) -> Value {
    json!({
        "dispute_type": "land_homestead",
        "title": "宅基地边界纠纷",
        "description": "两户翻建房屋时对宅基地界址有争议。\n双方均要求村里主持公道。",
        "natural_village_id": nv,
        "parties": parties,
    })
}

fn two_parties() -> Value {
    json!([
        {"name": "张三", "side": "applicant", "id_number": id_number("37148119800101001"), "phone": "13812345678"},
        {"name": "李四", "side": "respondent", "phone": "13987654321"},
    ])
}

async fn act(app: &TestApp, s: &Session, id: &str, body: Value) -> (StatusCode, Value) {
    app.post(s, &format!("/api/v1/mediation/disputes/{id}/actions"), body).await
}

fn failed_session() -> Value {
    json!({"action": "record_session", "session": {
        "place": "调解室", "mediators": ["王五"], "parties_present": 2, "notes": "分歧较大", "outcome": "failed"}})
}

#[tokio::test]
async fn a_dispute_climbs_to_the_town_is_settled_printed_and_followed_up() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let (nv, av) = home_of(&app, &gw).await;

    // Every natural village has its station.
    let admin = app.login("admin").await;
    let (status, stations) = app.get(&admin, "/api/v1/mediation/stations?page_size=200").await;
    assert_eq!(status, StatusCode::OK, "{stations}");
    assert_eq!(stations["total"], 76, "one station per natural village");
    let station =
        stations["items"].as_array().unwrap().iter().find(|s| s["natural_village"]["id"] == nv.as_str()).unwrap();
    assert!(station["member_count"].as_u64().unwrap() >= 2, "{station}");

    // The village's grid worker registers it at the station.
    let (status, d) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, two_parties())).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!((d["level"].as_str(), d["state"].as_str()), (Some("natural_village"), Some("registered")));
    assert!(d["number"].as_str().unwrap().starts_with("TJ-"), "{d}");
    assert_eq!(d["station"]["id"], station["id"]);
    assert_eq!(d["my_capacities"], json!(["station_member"]));
    assert!(d["description"].as_str().unwrap().contains('\n'), "line breaks are kept");
    // Numbers are sealed: only masked forms leave the server.
    let text = d.to_string();
    assert!(!text.contains("13812345678") && !text.contains("371481198001010"), "{text}");
    assert_eq!(d["parties"][0]["phone_masked"], "138****5678");
    assert!(d["parties"][0]["id_number_masked"].as_str().unwrap().starts_with("371***"));

    // Mediation fails at the village: it goes up one level, with its history.
    let (status, d) = act(&app, &gw, &id, failed_session()).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!((d["level"].as_str(), d["state"].as_str()), (Some("admin_village"), Some("escalated")));
    // The station member has no say at the admin village any more.
    let (status, body) = act(&app, &gw, &id, failed_session()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let gc = chief_of(&app, &av).await;
    let (status, d) = act(&app, &gc, &id, failed_session()).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(
        (d["level"].as_str(), d["state"].as_str(), d["holder"].as_str()),
        (Some("town"), Some("escalated"), Some("town"))
    );
    assert_eq!(d["route_suggestion"]["lead"], "justice");

    // Political-legal routes it: justice leads, police collaborate, each with a task.
    let pl = app.login("pl1").await;
    let (status, body) =
        act(&app, &pl, &id, json!({"action": "assign", "lead": "justice", "collaborators": ["justice"]})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["collaborators"]);
    let (status, d) = act(
        &app,
        &pl,
        &id,
        json!({"action": "assign", "lead": "justice", "collaborators": ["police"],
        "tasks": [{"office": "police", "task": "排查风险，防止矛盾激化"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!((d["lead_office"].as_str(), d["collaborators"].clone()), (Some("justice"), json!(["police"])));
    let tasks = d["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    let police_task = tasks.iter().find(|t| t["office"] == "police").unwrap();
    assert!(
        police_task["due_at"].as_str().unwrap() < d["level_due_at"].as_str().unwrap(),
        "collaborators are due first"
    );

    // The board shows it under both offices.
    let (status, board) = app.get(&pl, "/api/v1/mediation/board").await;
    assert_eq!(status, StatusCode::OK, "{board}");
    for office in ["justice", "police"] {
        let col = board["offices"].as_array().unwrap().iter().find(|o| o["office"] == office).unwrap();
        assert!(col["disputes"].as_array().unwrap().iter().any(|x| x["id"] == id.as_str()), "{office}: {col}");
    }

    // Police report on their task; justice records the agreement.
    let police = app.login("police1").await;
    let (status, d) = act(
        &app,
        &police,
        &id,
        json!({"action": "task_report", "task_id": police_task["id"], "report": "已走访，无激化风险", "done": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert!(d["tasks"].as_array().unwrap().iter().any(|t| t["office"] == "police" && t["done_at"].is_string()));
    let justice = app.login("justice1").await;
    let party_ids: Vec<Value> = d["parties"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
    let (status, body) = act(&app, &justice, &id, json!({"action": "record_session", "session": {
        "place": "镇综治中心", "mediators": ["司法所长"], "parties_present": 2, "notes": "达成协议", "outcome": "agreed",
        "agreement": {"terms": "按原界址恢复", "party_ids": [party_ids[0]]}}})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["session.agreement.parties"], "an agreement is made between at least two parties");
    let (status, d) = act(&app, &justice, &id, json!({"action": "record_session", "version": d["version"], "session": {
        "place": "镇综治中心", "mediators": ["司法所长", "法律顾问"], "parties_present": 2, "notes": "达成协议", "outcome": "agreed",
        "agreement": {"terms": "按原界址恢复，院墙费用各担一半。", "party_ids": party_ids}}})).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "agreed");
    let agreement = d["agreements"][0]["id"].as_str().unwrap().to_string();

    // The printable agreement names the parties (masked) and the terms.
    let (status, print) = app.get(&justice, &format!("/api/v1/mediation/disputes/{id}/agreements/{agreement}")).await;
    assert_eq!(status, StatusCode::OK, "{print}");
    assert_eq!(print["parties"].as_array().unwrap().len(), 2);
    assert!(print["station_or_office"].as_str().unwrap().ends_with("人民调解委员会"));
    assert_eq!(print["terms"], "按原界址恢复，院墙费用各担一半。");
    assert!(!print.to_string().contains("13812345678"));

    // "Holds" before the visit is due says nothing; after 30 days it resolves the dispute.
    let (status, body) =
        act(&app, &justice, &id, json!({"action": "follow_up", "holds": true, "notes": "已履行"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "follow_up_not_due");
    app.clock.advance(Duration::days(31));
    let (justice, pl) = (app.login("justice1").await, app.login("pl1").await);
    let (status, d) = act(&app, &justice, &id, json!({"action": "follow_up", "holds": true, "notes": "已履行"})).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "resolved");

    // The history kept every step, each level in turn, and the domain finds it unbroken.
    let levels: Vec<(&str, &str)> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["action"].as_str().unwrap(), h["level_to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        levels,
        vec![
            ("register", "natural_village"),
            ("record_session", "admin_village"),
            ("record_session", "town"),
            ("assign", "town"),
            ("record_session", "town"),
            ("follow_up", "town"),
        ]
    );
    let row = wuwei_store::mediation::dispute(app.state.store().db(), id.parse().unwrap()).await.unwrap().unwrap();
    let events = wuwei_store::mediation::events(app.state.store().db(), &row).await.unwrap();
    wuwei_domain::mediation::workflow::check_history(&wuwei_store::mediation::history_of(&events).unwrap()).unwrap();

    // A resolved dispute cannot be escalated; the figures count it as settled at town level.
    let (status, body) = act(&app, &pl, &id, json!({"action": "escalate", "reason": "再议"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "action_not_allowed");
    let (status, f) = app.get(&pl, "/api/v1/mediation/figures").await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!((f["received"].as_u64(), f["resolved"].as_u64()), (Some(1), Some(1)));
    let town = f["by_level"].as_array().unwrap().iter().find(|l| l["level"] == "town").unwrap();
    assert_eq!((town["received"].as_u64(), town["settled"].as_u64()), (Some(1), Some(1)));
    assert_eq!(f["village_share"], 0.0);
    assert_eq!(f["town_share"], 1.0);
    assert_eq!(f["holding_share"], 1.0);
    let resp = app.http.get(app.url("/api/v1/mediation/figures.xlsx")).bearer_auth(&pl.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap().contains("spreadsheetml"));
    assert!(resp.bytes().await.unwrap().starts_with(b"PK"), "an .xlsx is a zip");
    app.stop().await;
}

#[tokio::test]
async fn the_sweeper_moves_a_dispute_up_when_its_level_runs_out_of_time() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let (nv, _) = home_of(&app, &gw).await;
    let (status, d) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, two_parties())).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_string();

    // At 75% of the village's 7 days: a yellow card, still at the village.
    app.clock.advance(Duration::hours(127));
    wuwei_server::jobs::sweep_disputes(&app.state).await.unwrap();
    let gw = app.login("gw01").await;
    let (_, d) = app.get(&gw, &format!("/api/v1/mediation/disputes/{id}")).await;
    assert_eq!((d["level"].as_str(), d["card"].as_str()), (Some("natural_village"), Some("yellow")));
    // Past the deadline: one level up, by the system, with a fresh clock; never twice.
    app.clock.advance(Duration::hours(42));
    let gw = app.login("gw01").await;
    assert_eq!(wuwei_server::jobs::sweep_disputes(&app.state).await.unwrap(), 1);
    assert_eq!(wuwei_server::jobs::sweep_disputes(&app.state).await.unwrap(), 0);
    let (_, d) = app.get(&gw, &format!("/api/v1/mediation/disputes/{id}")).await;
    assert_eq!(
        (d["level"].as_str(), d["state"].as_str(), d["card"].as_str()),
        (Some("admin_village"), Some("escalated"), Some("none"))
    );
    let last = d["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["by_capacity"].as_str(), last["note"].as_str()),
        (Some("escalate"), Some("system"), Some("deadline_passed"))
    );
    app.stop().await;
}

#[tokio::test]
async fn personal_numbers_are_checked_sealed_and_revealed_only_with_a_reason() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let (nv, _) = home_of(&app, &gw).await;

    // A wrong check digit, a short ID, a bad mobile: each named, nothing stored.
    let good = id_number("37148119800101001");
    let last = good.chars().last().unwrap();
    let wrong = format!("{}{}", &good[..17], if last == '0' { '1' } else { '0' });
    let bad = json!([{"name": "张三", "id_number": wrong}, {"name": "李四", "id_number": "3714811980"}, {"name": "王五", "phone": "12345"}]);
    let (status, body) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, bad)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["parties[0].id_number", "parties[1].id_number", "parties[2].phone"]);
    assert!(!body.to_string().contains(&wrong), "an error never quotes the number");
    let (status, body) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, json!([]))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["parties"]);
    let (_, page) = app.get(&gw, "/api/v1/mediation/disputes").await;
    assert_eq!(page["total"], 0, "a refused registration leaves nothing");

    let (status, d) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, two_parties())).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap();
    let party = d["parties"][0]["id"].as_str().unwrap();
    // The database holds only the sealed form.
    let row = wuwei_store::mediation::dispute(app.state.store().db(), id.parse().unwrap()).await.unwrap().unwrap();
    assert!(!row.parties.contains(&good) && !row.parties.contains("13812345678"), "{}", row.parties);

    let reveal = format!("/api/v1/mediation/disputes/{id}/parties/{party}/reveal");
    let (status, body) = app.post(&gw, &reveal, json!({"field": "id_number", "reason": ""})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, body) = app.post(&gw, &reveal, json!({"field": "id_number", "reason": "核对当事人身份"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], good.as_str());
    let admin = app.login("admin").await;
    let (_, audit) = app.get(&admin, &format!("/api/v1/audit?entity_id={id}")).await;
    let entry = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "mediation.party.reveal").unwrap();
    assert_eq!(entry["summary"]["after"]["reason"], "核对当事人身份");
    assert!(!audit.to_string().contains(&good), "the audit trail records the reveal, not the number");

    // Outside the dispute's village: not found, for reading, revealing and acting alike.
    let other = app.login("gw02").await;
    let (status, body) = app.get(&other, &format!("/api/v1/mediation/disputes/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app.post(&other, &reveal, json!({"field": "phone", "reason": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = app.get(&other, "/api/v1/mediation/disputes").await;
    assert_eq!(page["total"], 0);
    // A resident has no mediation.read at all.
    let res = app.login("res1").await;
    let (status, _) = app.get(&res, "/api/v1/mediation/disputes").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn wrong_requests_get_their_answers() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let (nv, _) = home_of(&app, &gw).await;

    // Skipping a level needs a reason; a high risk with one goes straight to town and alerts it.
    let mut body = register_body(&nv, two_parties());
    body["level"] = json!("town");
    let (status, err) = app.post(&gw, "/api/v1/mediation/disputes", body.clone()).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&err), vec!["skip_reason"]);
    body["skip_reason"] = json!("持械对峙，有群体冲突风险");
    body["risk"] = json!("high");
    body["flags"] = json!(["peoples_mediation"]);
    let (status, d) = app.post(&gw, "/api/v1/mediation/disputes", body).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["level"], "town");
    assert_eq!(d["history"][0]["skip_reason"], "持械对峙，有群体冲突风险");
    let pl = app.login("pl1").await;
    wuwei_server::jobs::deliver_notifications(&app.state).await.unwrap();
    let (_, inbox) = app.get(&pl, "/api/v1/inbox").await;
    assert!(inbox.to_string().contains("高风险"), "political-legal is alerted at once: {inbox}");
    // A people's mediation leads at justice; the high risk brings the police in beside it.
    assert_eq!(d["route_suggestion"], json!({"lead": "justice", "collaborators": ["police"]}), "{d}");

    // Unknown values and references.
    let mut body = register_body(&nv, two_parties());
    body["dispute_type"] = json!("feud");
    body["natural_village_id"] = json!("01890000-0000-7000-8000-000000000000");
    let (status, err) = app.post(&gw, "/api/v1/mediation/disputes", body).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&err), vec!["natural_village_id"]);
    let (status, err) = app.post(&gw, "/api/v1/mediation/disputes", json!({"title": 5})).await;
    assert!(status.is_client_error(), "{err}");
    assert!(err["code"].is_string());

    // A closed dispute cannot move on; a stale version is a conflict.
    let (_, d) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, two_parties())).await;
    let id = d["id"].as_str().unwrap().to_string();
    let (status, err) = act(&app, &gw, &id, json!({"action": "close"})).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&err), vec!["reason"]);
    let (status, closed) =
        act(&app, &gw, &id, json!({"action": "close", "reason": "双方自行和解", "version": d["version"]})).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    let (status, err) = act(&app, &gw, &id, json!({"action": "escalate", "reason": "再议"})).await;
    assert_error(status, &err, StatusCode::CONFLICT, "action_not_allowed");
    let (_, d2) = app.post(&gw, "/api/v1/mediation/disputes", register_body(&nv, two_parties())).await;
    let id2 = d2["id"].as_str().unwrap().to_string();
    let (status, _) = act(
        &app,
        &gw,
        &id2,
        json!({"action": "set_risk", "risk": "medium", "reason": "情绪激动", "version": d2["version"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) =
        act(&app, &gw, &id2, json!({"action": "set_risk", "risk": "high", "reason": "升级", "version": d2["version"]}))
            .await;
    assert_error(status, &err, StatusCode::CONFLICT, "version_conflict");
    let (status, err) = act(&app, &gw, &id2, json!({"action": "dance"})).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Settings: bounds and versions; only mediation.manage may change them.
    let (status, s) = app.get(&pl, "/api/v1/mediation/settings").await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let mut new = json!({"version": s["version"], "policy": s["policy"], "routing_rules": s["routing_rules"], "fallback": "justice"});
    new["policy"]["town_days"] = json!(0);
    let (status, err) = app.call(&pl, reqwest::Method::PUT, "/api/v1/mediation/settings", Some(new.clone())).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&err), vec!["policy.town_days"]);
    new["policy"]["town_days"] = json!(20);
    let (status, _) = app.call(&gw, reqwest::Method::PUT, "/api/v1/mediation/settings", Some(new.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, saved) = app.call(&pl, reqwest::Method::PUT, "/api/v1/mediation/settings", Some(new.clone())).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((saved["policy"]["town_days"].as_u64(), saved["version"].as_i64()), (Some(20), Some(1)));
    let (status, err) = app.call(&pl, reqwest::Method::PUT, "/api/v1/mediation/settings", Some(new)).await;
    assert_error(status, &err, StatusCode::CONFLICT, "version_conflict");

    // Station activity: the six duties only, dates within the last year.
    let (_, stations) = app.get(&gw, "/api/v1/mediation/stations").await;
    assert_eq!(stations["total"], 1, "a grid worker sees their village's station");
    let sid = stations["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/mediation/stations/{sid}/activities");
    let today = wuwei_domain::case::local_day(app.clock.now());
    let (status, err) =
        app.post(&gw, &path, json!({"on_date": today, "duty": "dancing", "summary": "x", "people_reached": -1})).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&err), vec!["duty", "people_reached"]);
    let (_, before) = app.get(&gw, &format!("/api/v1/mediation/stations/{sid}")).await;
    let month =
        |d: &Value| d["monthly"].as_array().unwrap().last().map(|m| m["people_reached"].as_u64().unwrap()).unwrap_or(0);
    let (status, a) = app
        .post(
            &gw,
            &path,
            json!({"on_date": today, "duty": "legal_publicity", "summary": "民法典宣讲", "people_reached": 40}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let (_, detail) = app.get(&gw, &format!("/api/v1/mediation/stations/{sid}")).await;
    assert_eq!(
        detail["activities_this_month"].as_u64().unwrap(),
        before["activities_this_month"].as_u64().unwrap() + 1
    );
    assert_eq!(month(&detail), month(&before) + 40);
    let other = app.login("gw02").await;
    let (status, _) = app
        .post(&other, &path, json!({"on_date": today, "duty": "mediation", "summary": "x", "people_reached": 1}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another village's station is not theirs to see");
    app.stop().await;
}

#[tokio::test]
async fn the_demo_year_reads_more_than_eighty_disputes_resolved() {
    let app = TestApp::demo_with_history().await;
    let pl = app.login("pl1").await;
    let (status, f) = app.get(&pl, "/api/v1/mediation/figures").await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert!(f["resolved"].as_u64().unwrap() > 80, "{f}");
    assert!(f["received"].as_u64().unwrap() >= 95, "{f}");
    for level in f["by_level"].as_array().unwrap() {
        assert!(level["settled"].as_u64().unwrap() > 0, "settled at every level: {f}");
    }
    assert!(f["village_share"].as_f64().unwrap() > 0.5, "small matters stay in the village: {f}");
    assert!(f["median_days_to_agreement"].as_f64().unwrap() > 0.0);
    assert!(f["holding_share"].as_f64().unwrap() > 0.8);
    assert!(f["stations"].as_array().unwrap().iter().all(|s| s["activities"].as_u64().unwrap() > 0));
    // Every demo timeline is one the rules accept.
    let db = app.state.store().db();
    let town = app.town_id(&pl).await.parse().unwrap();
    let rows =
        wuwei_store::mediation::figure_rows(db, town, None, app.clock.now() - Duration::days(400), app.clock.now())
            .await
            .unwrap();
    for (d, history) in &rows {
        wuwei_domain::mediation::workflow::check_history(history).unwrap_or_else(|e| panic!("{}: {e}", d.number));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_case_in_a_dispute_category_is_handed_over_and_follows_its_dispute() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let (nv, _) = home_of(&app, &gw).await;
    let town = gw.user["towns"][0]["id"].as_str().unwrap().to_string();
    let (_, cats) = app.get(&gw, &format!("/api/v1/towns/{town}/categories")).await;
    let cat = |code: &str| cats.as_array().unwrap().iter().find(|c| c["code"] == code).unwrap()["id"].clone();
    let (_, households) = app.get(&gw, "/api/v1/households?page_size=1").await;
    let h = &households["items"][0];
    let report = |category: Value| {
        json!({"category_id": category, "priority": "normal", "title": "邻里吵架", "description": "两户争执",
               "lat": h["lat"], "lon": h["lon"]})
    };
    let (status, not_dispute) = app.post(&gw, "/api/v1/cases", report(cat("roads"))).await;
    assert_eq!(status, StatusCode::CREATED, "{not_dispute}");
    let mut body = register_body(&nv, two_parties());
    body["case_id"] = not_dispute["id"].clone();
    let (status, err) = app.post(&gw, "/api/v1/mediation/disputes", body.clone()).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&err), vec!["case_id"]);

    let (status, case) = app.post(&gw, "/api/v1/cases", report(cat("neighbour_dispute"))).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    body["case_id"] = case["id"].clone();
    let (status, d) = app.post(&gw, "/api/v1/mediation/disputes", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["case_id"], case["id"]);
    let (status, err) = app.post(&gw, "/api/v1/mediation/disputes", body).await;
    assert_error(status, &err, StatusCode::CONFLICT, "duplicate");
    let id = d["id"].as_str().unwrap();
    let (status, _) = act(&app, &gw, id, json!({"action": "close", "reason": "双方自行和解"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, case) = app.get(&gw, &format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    let steps: Vec<&str> = case["timeline"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(steps.contains(&"mediation_registered") && steps.contains(&"mediation_closed"), "{steps:?}");
    app.stop().await;
}

//! Household points over HTTP, on both databases: an award from proposal through review, public
//! notice and objection to the ledger; caps, roles and evidence; the rulebook and its .xlsx
//! round trip; settings; the red list; and the errors each wrong request gets.

use chrono::Duration;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::*;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// res1's household and admin village.
async fn resident_home(app: &TestApp, res: &Session) -> (String, String) {
    let (status, mine) = app.get(res, "/api/v1/points/mine").await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    (
        mine["household"]["id"].as_str().unwrap().into(),
        mine["household"]["admin_village"]["id"].as_str().unwrap().into(),
    )
}

/// The village cadre (vc1–vc8) whose village holds this household.
async fn cadre_of(app: &TestApp, household_id: &str) -> Session {
    for n in 1..=8 {
        let s = app.login(&format!("vc{n}")).await;
        let (status, _) = app.get(&s, &format!("/api/v1/points/households/{household_id}")).await;
        if status == StatusCode::OK {
            return s;
        }
    }
    panic!("no village cadre sees household {household_id}");
}

/// Another household of the same admin village, as its cadre lists them.
async fn neighbour(app: &TestApp, cadre: &Session, village_id: &str, not: &str) -> String {
    let (status, page) = app.get(cadre, &format!("/api/v1/households?region_id={village_id}&page_size=20")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).find(|h| h != not).unwrap()
}

async fn propose(app: &TestApp, s: &Session, households: &[&str], item: &str) -> (StatusCode, Value) {
    app.post(s, "/api/v1/points/awards", json!({"household_ids": households, "item_code": item, "note": "测试"})).await
}

async fn act(app: &TestApp, s: &Session, id: &str, body: Value) -> (StatusCode, Value) {
    app.post(s, &format!("/api/v1/points/awards/{id}/actions"), body).await
}

async fn balance(app: &TestApp, s: &Session, household: &str) -> i64 {
    let (status, p) = app.get(s, &format!("/api/v1/points/households/{household}")).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p["balance"].as_i64().unwrap()
}

async fn post_due(app: &TestApp) -> (u64, u64) {
    let r = wuwei_server::jobs::post_awards(&app.state).await.unwrap();
    (r.posted, r.refused)
}

async fn verify_ledger(app: &TestApp) {
    let v = wuwei_store::points::verify_snapshot(app.state.store(), None).await.unwrap();
    assert!(v.first_problem.is_none(), "ledger: {:?}", v.first_problem);
}

#[tokio::test]
async fn an_award_goes_through_review_notice_and_objection_to_the_ledger() {
    let app = TestApp::demo().await;
    let res = app.login("res1").await;
    let (home, village) = resident_home(&app, &res).await;
    let vc = cadre_of(&app, &home).await;
    let target = neighbour(&app, &vc, &village, &home).await;

    // The cadre proposes "caring for elderly parents" (5 points, at most 5 a quarter).
    let (status, created) = propose(&app, &vc, &[&target], "filial_care_elders").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let award = &created["awards"][0];
    let id = award["id"].as_str().unwrap().to_string();
    assert_eq!(award["state"], "proposed");
    assert_eq!(award["points"], 5);
    assert!(award["number"].as_str().unwrap().starts_with("JF-2026112"), "{award}");

    // The cap counts pending awards: a second one this quarter is refused, saying the cap.
    let (status, body) = propose(&app, &vc, &[&target], "filial_care_elders").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "over_cap");
    assert!(body["message"].as_str().unwrap().contains("5"), "{body}");

    // Approval opens the public notice for 7 days.
    let (status, d) = act(&app, &vc, &id, json!({"action": "approve", "version": 1})).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "in_public_notice");
    let ends = chrono::DateTime::parse_from_rfc3339(d["notice_ends_at"].as_str().unwrap()).unwrap();
    assert_eq!(ends.with_timezone(&chrono::Utc), start_time() + Duration::days(7));
    // A stale version is a conflict.
    let (status, body) = act(&app, &vc, &id, json!({"action": "reject", "reason": "x", "version": 1})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "version_conflict");

    // It is on the village's public notice, which the resident can read.
    let (status, notice) = app.get(&res, "/api/v1/points/notice").await;
    assert_eq!(status, StatusCode::OK, "{notice}");
    assert!(notice["awards"].as_array().unwrap().iter().any(|a| a["id"] == id.as_str()), "{notice}");

    // A resident of the village objects: the award pauses.
    let (status, d) = app
        .post(&res, &format!("/api/v1/points/awards/{id}/objections"), json!({"reason": "他家老人由我们照顾"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["state"], "objected");
    assert_eq!(d["objections"][0]["state"], "open");
    // An empty reason is refused.
    let (status, body) =
        app.post(&res, &format!("/api/v1/points/awards/{id}/objections"), json!({"reason": " "})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // The notice ends, but the objection is open: nothing posts.
    app.clock.advance(Duration::days(8));
    // Sessions last 12 hours: sign in again after the week.
    let res = app.login("res1").await;
    let vc = app.login(vc.user["username"].as_str().unwrap()).await;
    assert_eq!(post_due(&app).await, (0, 0));
    assert_eq!(balance(&app, &vc, &target).await, 0);
    // Objections after the notice are refused.
    let (status, body) =
        app.post(&res, &format!("/api/v1/points/awards/{id}/objections"), json!({"reason": "再提一次"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "notice_over");

    // The committee dismisses it; the notice is over, so the award posts at the next pass.
    let (status, d) = act(&app, &vc, &id, json!({"action": "dismiss_objection", "reason": "经核实属实"})).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "in_public_notice");
    assert_eq!(d["objections"][0]["state"], "dismissed");
    assert_eq!(post_due(&app).await, (1, 0));
    assert_eq!(post_due(&app).await, (0, 0), "posted once");
    let (_, d) = app.get(&vc, &format!("/api/v1/points/awards/{id}")).await;
    assert_eq!(d["state"], "posted");
    assert!(d["posting_id"].is_string());
    let actions: Vec<&str> = d["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["propose", "approve", "object", "dismiss_objection", "post"]);
    assert_eq!(balance(&app, &vc, &target).await, 5);

    let (status, h) = app.get(&vc, &format!("/api/v1/points/households/{target}/history")).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["total"], 1);
    assert_eq!(h["items"][0]["change"], 5);
    assert_eq!(h["items"][0]["award_id"], id.as_str());
    assert!(
        h["items"][0]["reference"].as_str().unwrap().contains("孝老爱亲")
            || h["items"][0]["reference"].as_str().unwrap().contains("老人")
    );

    // The red list of the village has the household first.
    let (status, ranking) = app.get(&res, "/api/v1/points/ranking?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{ranking}");
    assert_eq!(ranking[0]["household"]["id"], target.as_str());
    assert_eq!(ranking[0]["rank"], 1);
    let (_, p) = app.get(&vc, &format!("/api/v1/points/households/{target}")).await;
    assert_eq!(p["rank_in_village"], 1);
    assert_eq!(p["earned_total"], 5);
    verify_ledger(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn who_may_propose_what_and_with_which_evidence() {
    let app = TestApp::demo().await;
    let res = app.login("res1").await;
    let (home, village) = resident_home(&app, &res).await;
    let vc = cadre_of(&app, &home).await;
    let other = neighbour(&app, &vc, &village, &home).await;

    // A resident proposes only for their own household, and with evidence.
    let (status, body) = propose(&app, &res, &[&other], "filial_care_neighbours").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["household_ids[0]"]);
    let (status, body) = propose(&app, &res, &[&home], "filial_care_neighbours").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["attachment_ids"]);
    // An item residents may not propose at all.
    let (status, body) = propose(&app, &res, &[&home], "filial_care_elders").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // With a photo it goes in.
    let upload = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(tiny_png()).file_name("p.png").mime_str("image/png").unwrap());
    let resp = app
        .http
        .post(app.url("/api/v1/points/evidence"))
        .bearer_auth(&res.token)
        .multipart(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let ev: Value = resp.json().await.unwrap();
    let (status, created) = app
        .post(
            &res,
            "/api/v1/points/awards",
            json!({"household_ids": [home], "item_code": "filial_care_neighbours", "attachment_ids": [ev["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["awards"][0]["attachment_ids"][0], ev["id"]);
    let (status, _) = app.get(&res, &format!("/api/v1/points/evidence/{}/thumbnail", ev["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);

    // A grid worker may not propose a cadre-only item (403); an unknown item is 422.
    let gw = app.login("gw01").await;
    let (status, page) = app.get(&gw, "/api/v1/households?page_size=2").await;
    assert_eq!(status, StatusCode::OK);
    let gw_household = page["items"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = propose(&app, &gw, &[&gw_household], "filial_care_good_family").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = propose(&app, &gw, &[&gw_household], "no_such_item").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["item_code"]);
    // Outside the grid worker's grid.
    let (status, body) = propose(&app, &gw, &[&home], "hygiene_courtyard_clean").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Malformed bodies: 400 or 422, never 500.
    let (status, body) = app.post(&gw, "/api/v1/points/awards", json!({"household_ids": "x"})).await;
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST, "{status} {body}");
    let (status, body) = app
        .post(&gw, "/api/v1/points/awards", json!({"household_ids": [gw_household, gw_household], "item_code": "x"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["household_ids[1]"]);
    let (status, body) = app.post(&gw, "/api/v1/points/awards", json!({"household_ids": [], "item_code": "x"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // A store clerk proposes nothing.
    let sc = app.login("sc1").await;
    let (status, body) = propose(&app, &sc, &[&home], "hygiene_courtyard_clean").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_bulk_award_review_and_rules_checked_again_at_posting() {
    let app = TestApp::demo().await;
    let res = app.login("res1").await;
    let (home, village) = resident_home(&app, &res).await;
    let vc = cadre_of(&app, &home).await;
    let (status, page) = app.get(&vc, &format!("/api/v1/households?region_id={village}&page_size=30")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<String> = page["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().into()).collect();
    assert!(ids.len() >= 10);

    // A clean-up day: ten households in one step, one batch.
    let (status, created) =
        propose(&app, &vc, &ids.iter().take(10).map(String::as_str).collect::<Vec<_>>(), "welfare_village_affairs")
            .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let awards = created["awards"].as_array().unwrap();
    assert_eq!(awards.len(), 10);
    assert!(awards.iter().all(|a| a["batch_id"] == created["batch_id"] && a["source"] == "bulk"));
    let award_ids: Vec<Value> = awards.iter().map(|a| a["id"].clone()).collect();

    // Batch approval: all done; a second time all refused with the reason.
    let (status, r) = app
        .post(&vc, "/api/v1/points/awards/batch-actions", json!({"award_ids": award_ids, "action": "approve"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["done"].as_array().unwrap().len(), 10);
    let (_, r) = app
        .post(&vc, "/api/v1/points/awards/batch-actions", json!({"award_ids": award_ids, "action": "approve"}))
        .await;
    assert_eq!(r["refused"].as_array().unwrap().len(), 10);
    assert_eq!(r["refused"][0]["code"], "action_not_allowed");

    // The town removes the item while the awards are on notice: they can never post.
    let admin = app.login("townadmin").await;
    let (status, _) =
        app.call(&admin, Method::DELETE, "/api/v1/points/rulebook/items/welfare_village_affairs", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.clock.advance(Duration::days(7));
    let vc = app.login(vc.user["username"].as_str().unwrap()).await;
    assert_eq!(post_due(&app).await, (0, 10));
    let (_, d) = app.get(&vc, &format!("/api/v1/points/awards/{}", award_ids[0].as_str().unwrap())).await;
    assert_eq!(d["state"], "rejected");
    assert_eq!(balance(&app, &vc, &ids[0]).await, 0);

    // Listing by batch and state.
    let (status, page) = app
        .get(&vc, &format!("/api/v1/points/awards?batch_id={}&state=rejected", created["batch_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 10);
    let (status, body) = app.get(&vc, "/api/v1/points/awards?state=nonsense").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    // Another village's cadre sees none of them.
    for n in 1..=8 {
        let other = app.login(&format!("vc{n}")).await;
        if other.user["id"] == vc.user["id"] {
            continue;
        }
        let (_, page) =
            app.get(&other, &format!("/api/v1/points/awards?batch_id={}", created["batch_id"].as_str().unwrap())).await;
        assert_eq!(page["total"], 0);
        let (status, _) = app.get(&other, &format!("/api/v1/points/awards/{}", award_ids[0].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        break;
    }
    app.stop().await;
}

async fn upload_xlsx(app: &TestApp, s: &Session, bytes: Vec<u8>) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/points/rulebook.xlsx"))
        .bearer_auth(&s.token)
        .header(header::CONTENT_TYPE, XLSX)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_rulebook_round_trips_through_xlsx_and_refuses_bad_rows() {
    let app = TestApp::demo().await;
    let admin = app.login("townadmin").await;
    let (status, book) = app.get(&admin, "/api/v1/points/rulebook").await;
    assert_eq!(status, StatusCode::OK);
    let items = book["items"].as_array().unwrap();
    assert!(items.len() >= 24, "{}", items.len());
    let categories: std::collections::BTreeSet<&str> = items.iter().map(|i| i["category"].as_str().unwrap()).collect();
    assert_eq!(categories.len(), 8);

    // Edit one item; a village cadre may not.
    let mut item = items[0].clone();
    item["points"] = json!(12);
    item["cap"] = json!({"points": 24, "period": "year"});
    let code = item["code"].as_str().unwrap().to_string();
    let path = format!("/api/v1/points/rulebook/items/{code}");
    let (status, saved) = app.call(&admin, Method::PUT, &path, Some(item.clone())).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["points"], 12);
    let vc = app.login("vc1").await;
    let (status, body) = app.call(&vc, Method::PUT, &path, Some(item.clone())).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let mut bad = item.clone();
    bad["points"] = json!(0);
    bad["category"] = json!("nope");
    let (status, body) = app.call(&admin, Method::PUT, &path, Some(bad)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["category"]);

    // Export, then import the same workbook: the same rulebook.
    let resp = app.http.get(app.url("/api/v1/points/rulebook.xlsx")).bearer_auth(&admin.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], XLSX);
    let bytes = resp.bytes().await.unwrap().to_vec();
    let (status, r) = upload_xlsx(&app, &admin, bytes.clone()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["items"].as_u64().unwrap() as usize, items.len());
    let (_, again) = app.get(&admin, "/api/v1/points/rulebook").await;
    assert_eq!(again["items"][0]["points"], 12);
    assert_eq!(again["items"], {
        let (_, b) = app.get(&admin, "/api/v1/points/rulebook").await;
        b["items"].clone()
    });

    // A workbook with bad rows: each bad cell named, nothing imported.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in
        ["code", "category", "name_zh", "name_en", "points", "evidence", "cap_points", "cap_period", "proposers"]
            .iter()
            .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let rows: [[&str; 9]; 3] = [
        ["good_one", "hygiene", "好", "Good", "3", "none", "", "", "grid_worker"],
        ["bad_points", "hygiene", "坏", "Bad", "ten", "none", "", "", "grid_worker"],
        ["bad_category", "sports", "坏", "Bad", "2", "photo", "1", "month", "grid_worker"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    let (status, body) = upload_xlsx(&app, &admin, wb.save_to_buffer().unwrap()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["rows[3].points", "rows[4].category"]);
    let (_, after) = app.get(&admin, "/api/v1/points/rulebook").await;
    assert_eq!(after["items"].as_array().unwrap().len(), items.len(), "nothing imported");
    // Not a workbook at all.
    let (status, body) = upload_xlsx(&app, &admin, b"not a zip".to_vec()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["file"]);

    // Settings: bounded, admin only.
    let (status, body) = app
        .call(&admin, Method::PUT, "/api/v1/points/settings", Some(json!({"notice_days": 0, "allow_negative": false})))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, s) = app
        .call(&admin, Method::PUT, "/api/v1/points/settings", Some(json!({"notice_days": 5, "allow_negative": true})))
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let (_, s) = app.get(&vc, "/api/v1/points/settings").await;
    assert_eq!(s["notice_days"], 5);
    assert_eq!(s["allow_negative"], true);
    app.stop().await;
}

#[tokio::test]
async fn the_demo_year_of_points_is_in_the_figures() {
    let app = TestApp::demo_with_points().await;
    let leader = app.login("leader").await;
    let (status, f) = app.get(&leader, "/api/v1/figures/points").await;
    assert_eq!(status, StatusCode::OK, "{f}");
    // The article's "more than ¥12,000" of goods redeemed, computed from the redemptions.
    assert!(f["value_fen_total"].as_i64().unwrap() > 1_200_000, "{}", f["value_fen_total"]);
    assert!(f["redeemed_total"].as_i64().unwrap() > 0);
    assert_eq!(f["by_category"].as_array().unwrap().len(), 8);
    assert_eq!(f["by_month"].as_array().unwrap().len(), 13, "a year spans 13 calendar months");
    let villages = f["by_village"].as_array().unwrap();
    assert_eq!(villages.len(), 8);
    assert!(villages.iter().all(|v| v["redeemed"].as_i64().unwrap() > 0), "every store redeemed: {villages:?}");
    let issued: i64 = f["by_category"].as_array().unwrap().iter().map(|c| c["issued"].as_i64().unwrap()).sum();
    assert_eq!(issued, f["issued_total"].as_i64().unwrap());
    let by_month: i64 = f["by_month"].as_array().unwrap().iter().map(|m| m["value_fen"].as_i64().unwrap()).sum();
    assert_eq!(by_month, f["value_fen_total"].as_i64().unwrap());
    assert_eq!(f["red_list"].as_array().unwrap().len(), 8);
    assert_eq!(f["red_list"][0]["households"][0]["rank"], 1);
    assert!(f["inactive"]["count"].as_u64().unwrap() < 3063);

    // The ledger agrees: points issued minus redeemed minus deducted are in households' hands.
    let v = wuwei_store::points::verify_snapshot(app.state.store(), None).await.unwrap();
    assert!(v.first_problem.is_none(), "{:?}", v.first_problem);
    assert!(v.postings > 1000);
    // A village cadre sees only their village; a grid worker's figures are their village's too.
    let vc = app.login("vc1").await;
    let (status, mine) = app.get(&vc, "/api/v1/figures/points").await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["by_village"].as_array().unwrap().len(), 1);
    let (status, body) = app
        .get(&vc, &format!("/api/v1/figures/points?village_id={}", villages[7]["village"]["id"].as_str().unwrap()))
        .await;
    if villages[7]["village"]["id"] != mine["by_village"][0]["village"]["id"] {
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, body) = app.get(&leader, "/api/v1/figures/points?from=2026-13-01").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    // The workbook.
    let resp = app.http.get(app.url("/api/v1/figures/points.xlsx")).bearer_auth(&leader.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap().to_vec();
    use calamine::Reader;
    let wb = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    assert!(wb.sheet_names().len() >= 7);
    app.stop().await;
}

#[tokio::test]
async fn points_reset_when_the_year_turns_if_the_town_says_so() {
    let app = TestApp::demo().await;
    let admin = app.login("townadmin").await;
    let (status, body) = app
        .call(
            &admin,
            Method::PUT,
            "/api/v1/points/settings",
            Some(json!({"notice_days": 7, "allow_negative": false, "expiry_rule": "yearly"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), ["expiry_rule"]);
    let (status, s) = app
        .call(
            &admin,
            Method::PUT,
            "/api/v1/points/settings",
            Some(json!({"notice_days": 7, "allow_negative": false, "expiry_rule": "reset_yearly"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["expiry_rule"], "reset_yearly");

    let res = app.login("res1").await;
    let (home, village) = resident_home(&app, &res).await;
    let vc = cadre_of(&app, &home).await;
    let target = neighbour(&app, &vc, &village, &home).await;
    let (_, created) = propose(&app, &vc, &[&target], "filial_care_elders").await;
    let id = created["awards"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = act(&app, &vc, &id, json!({"action": "approve"})).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::days(8));
    assert_eq!(post_due(&app).await, (1, 0));
    // Nothing expires within the year.
    assert_eq!(wuwei_server::jobs::expire_points(&app.state).await.unwrap(), 0);
    let vc = app.login(vc.user["username"].as_str().unwrap()).await;
    assert_eq!(balance(&app, &vc, &target).await, 5);

    // The year turns (China time): every balance goes back to zero, by postings, once.
    app.clock.set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 31, 16, 5, 0).unwrap());
    assert_eq!(wuwei_server::jobs::expire_points(&app.state).await.unwrap(), 1);
    assert_eq!(wuwei_server::jobs::expire_points(&app.state).await.unwrap(), 0, "once a year");
    let vc = app.login(vc.user["username"].as_str().unwrap()).await;
    assert_eq!(balance(&app, &vc, &target).await, 0);
    let (_, h) = app.get(&vc, &format!("/api/v1/points/households/{target}/history")).await;
    assert_eq!(h["items"][0]["kind"], "expiry");
    assert_eq!(h["items"][0]["change"], -5);
    assert_eq!(h["items"][1]["kind"], "award");
    verify_ledger(&app).await;
    app.stop().await;
}

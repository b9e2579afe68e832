//! The village points stores over HTTP, on both databases: goods, stock and movements; a
//! redemption moves the balance, the stock and the ledger together; refusals (insufficient
//! points, out of stock, bad lines) leave no trace; retries are idempotent; a return reverses once;
//! who may do what; and 64 concurrent redemptions against the same household and the last items
//! on the shelf.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_domain::points::ledger::{Account, PostingMeta, Request};
use wuwei_server::Clock;
use wuwei_store::Actor;
use wuwei_store::points;
use wuwei_store::points_shop;

use crate::helpers::*;

// ---- helpers ----

fn town_of(s: &Session) -> Uuid {
    s.user["towns"][0]["id"].as_str().unwrap().parse().unwrap()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

/// The one store a clerk sees.
async fn clerk_store(app: &TestApp, clerk: &Session) -> Value {
    let (status, stores) = app.get(clerk, "/api/v1/points/stores").await;
    assert_eq!(status, StatusCode::OK, "{stores}");
    let stores = stores.as_array().unwrap();
    assert_eq!(stores.len(), 1, "a clerk sees their village's store: {stores:?}");
    stores[0].clone()
}

/// Households of the store's village (as the town admin sees them).
async fn households_of(app: &TestApp, admin: &Session, store: &Value, n: usize) -> Vec<Value> {
    let village = store["admin_village"]["id"].as_str().unwrap();
    let (status, page) = app.get(admin, &format!("/api/v1/households?region_id={village}&page_size={n}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), n, "{page}");
    items
}

/// Points for a household, straight to the ledger (test setup).
async fn give(app: &TestApp, town: Uuid, household: &str, points: i64) {
    let meta = PostingMeta {
        id: Uuid::now_v7(),
        town_id: town,
        at: app.clock.now(),
        idempotency_key: format!("test-award:{}", Uuid::now_v7()),
        reference: "test".into(),
    };
    let household = household.parse().unwrap();
    points::post_one(
        app.state.store(),
        app.clock.now(),
        &Actor::system("test"),
        meta,
        Request::Award { household, points },
    )
    .await
    .unwrap();
}

async fn balance(app: &TestApp, town: Uuid, household: &str) -> i64 {
    points::balance(app.state.store().db(), town, Account::household(household.parse().unwrap())).await.unwrap()
}

async fn new_goods(app: &TestApp, s: &Session, store: &Value, name: &str, price: i64, stock: i64) -> Value {
    let (status, g) = app
        .post(
            s,
            &format!("/api/v1/points/stores/{}/goods", id(store)),
            json!({"name": name, "price_points": price, "value_fen": price * 10, "stock": stock}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{g}");
    g
}

async fn goods_now(app: &TestApp, s: &Session, store: &Value, goods: &Value) -> Value {
    let (status, page) =
        app.get(s, &format!("/api/v1/points/stores/{}/goods?include_inactive=true&page_size=200", id(store))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().iter().find(|g| g["id"] == goods["id"]).cloned().unwrap()
}

async fn redeem(
    app: &TestApp,
    s: &Session,
    store: &Value,
    household: &str,
    lines: Value,
    key: &str,
) -> (StatusCode, Value) {
    app.post(
        s,
        &format!("/api/v1/points/stores/{}/redemptions", id(store)),
        json!({"household_id": household, "lines": lines, "idempotency_key": key}),
    )
    .await
}

async fn verify_ok(app: &TestApp, town: Uuid) {
    let v = points::verify(app.state.store().db(), Some(town)).await.unwrap();
    assert_eq!(v.first_problem, None, "{v:?}");
    let stock = points_shop::verify_stock(app.state.store().db(), town).await.unwrap();
    assert!(stock.is_empty(), "stock differs from its movements: {stock:?}");
}

/// Everything a refused redemption could have written: the ledger head, the redemptions and
/// movements of the store, and the audit trail's length.
async fn footprint(app: &TestApp, admin: &Session, town: Uuid, store: &Value) -> (i64, u64, Value) {
    let head = points::head(app.state.store().db(), town).await.unwrap().seq;
    let (status, page) = app.get(admin, &format!("/api/v1/points/redemptions?store_id={}", id(store))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, goods) = app.get(admin, &format!("/api/v1/points/stores/{}/goods?include_inactive=true", id(store))).await;
    (head, page["total"].as_u64().unwrap(), goods["items"].clone())
}

struct Counter {
    app: TestApp,
    admin: Session,
    clerk: Session,
    town: Uuid,
    store: Value,
    households: Vec<Value>,
}

/// The demo town; sc1 at the store of the first admin village.
async fn counter(households: usize) -> Counter {
    let app = TestApp::demo().await;
    let admin = app.login("townadmin").await;
    let clerk = app.login("sc1").await;
    let town = town_of(&clerk);
    let store = clerk_store(&app, &clerk).await;
    let households = households_of(&app, &admin, &store, households).await;
    Counter { app, admin, clerk, town, store, households }
}

// ---- stores and goods ----

#[tokio::test]
async fn stores_are_one_per_admin_village_and_visible_in_scope() {
    let app = TestApp::demo().await;
    let admin = app.login("townadmin").await;
    let (status, stores) = app.get(&admin, "/api/v1/points/stores").await;
    assert_eq!(status, StatusCode::OK, "{stores}");
    let stores = stores.as_array().unwrap();
    assert_eq!(stores.len(), 8, "{stores:?}");
    assert!(stores.iter().all(|s| s["name"].as_str().unwrap().ends_with("积分超市")), "{stores:?}");
    assert!(stores.iter().all(|s| s["goods_count"] == 0));
    // Idempotent: a second look makes nothing new.
    let mut tx = app.state.store().begin().await.unwrap();
    let town = town_of(&admin);
    assert_eq!(points_shop::ensure_stores(&mut tx, town, app.clock.now()).await.unwrap(), 0);
    drop(tx);

    let clerk = app.login("sc1").await;
    let store = clerk_store(&app, &clerk).await;
    assert_eq!(store["clerk_names"].as_array().unwrap().len(), 1, "{store}");
    // A resident of the village sees their store; of another village, not.
    let res1 = app.login("res1").await;
    let (status, mine) = app.get(&res1, "/api/v1/points/stores").await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["id"], store["id"]);
    let res2 = app.login("res2").await;
    let (_, theirs) = app.get(&res2, "/api/v1/points/stores").await;
    assert_ne!(theirs[0]["id"], store["id"]);
    // A dispatcher has no points.read.
    let dispatcher = app.login("dispatcher1").await;
    let (status, body) = app.get(&dispatcher, "/api/v1/points/stores").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

#[tokio::test]
async fn goods_crud_restock_and_movements() {
    let Counter { app, clerk, store, .. } = counter(1).await;
    let path = format!("/api/v1/points/stores/{}/goods", id(&store));
    let (status, soap) = app
        .post(
            &clerk,
            &path,
            json!({"name": " 肥皂 ", "barcode": "6901234567892", "price_points": 5, "value_fen": 350, "stock": 10,
                   "max_per_redemption": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{soap}");
    assert_eq!(soap["name"], "肥皂");
    assert_eq!(
        (soap["stock"].as_i64(), soap["version"].as_i64(), soap["active"].as_bool()),
        (Some(10), Some(1), Some(true))
    );
    assert_eq!(soap["max_per_redemption"], 5);
    assert_eq!(soap["photo_attachment_id"], Value::Null);

    // The barcode names one goods in the store.
    let (status, body) = app
        .post(&clerk, &path, json!({"name": "香皂", "barcode": "6901234567892", "price_points": 6, "value_fen": 400}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate");
    assert_eq!(fields(&body), vec!["barcode"]);
    let oil = new_goods(&app, &clerk, &store, "食用油", 30, 0).await;
    assert_eq!(oil["stock"], 0);
    assert_eq!(oil["barcode"], Value::Null);
    let (status, body) = app
        .patch(&clerk, &format!("/api/v1/points/goods/{}", id(&oil)), json!({"barcode": "6901234567892", "version": 1}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate");

    // Edit with the version; a stale version is refused.
    let goods_path = format!("/api/v1/points/goods/{}", id(&soap));
    let (status, edited) = app.patch(&clerk, &goods_path, json!({"price_points": 6, "version": 1})).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!((edited["price_points"].as_i64(), edited["version"].as_i64()), (Some(6), Some(2)));
    assert_eq!(edited["barcode"], "6901234567892", "an absent field stays");
    let (status, body) = app.patch(&clerk, &goods_path, json!({"name": "x", "version": 1})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "version_conflict");
    let (status, cleared) =
        app.patch(&clerk, &goods_path, json!({"barcode": null, "max_per_redemption": null, "version": 2})).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!((cleared["barcode"].clone(), cleared["max_per_redemption"].clone()), (Value::Null, Value::Null));

    // Restock, bounded.
    let restock = format!("/api/v1/points/goods/{}/restock", id(&soap));
    let (status, restocked) = app.post(&clerk, &restock, json!({"quantity": 5, "note": "供销社送货"})).await;
    assert_eq!(status, StatusCode::OK, "{restocked}");
    assert_eq!(restocked["stock"], 15);
    assert_eq!(restocked["version"], 3, "a restock does not bump the version");
    for bad in [json!({"quantity": 0}), json!({"quantity": 10_001}), json!({"quantity": -3})] {
        let (status, body) = app.post(&clerk, &restock, bad).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&body), vec!["quantity"]);
    }
    let (status, movements) = app.get(&clerk, &format!("/api/v1/points/goods/{}/movements", id(&soap))).await;
    assert_eq!(status, StatusCode::OK, "{movements}");
    assert_eq!(movements["total"], 2);
    let m = movements["items"].as_array().unwrap();
    assert_eq!(
        (m[0]["delta"].as_i64(), m[0]["reason"].as_str(), m[0]["note"].as_str()),
        (Some(5), Some("restock"), Some("供销社送货"))
    );
    assert_eq!(
        (m[1]["delta"].as_i64(), m[1]["reason"].as_str(), m[1]["note"].clone()),
        (Some(10), Some("restock"), Value::Null)
    );
    assert!(m[0]["actor_name"].as_str().is_some_and(|n| !n.is_empty()), "{movements}");
    assert_eq!(m[0]["redemption_id"], Value::Null);

    // Search, and goods taken off the shelf.
    let (_, found) = app.get(&clerk, &format!("{path}?q=油")).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], oil["id"]);
    let (status, off) =
        app.patch(&clerk, &format!("/api/v1/points/goods/{}", id(&oil)), json!({"active": false, "version": 1})).await;
    assert_eq!(status, StatusCode::OK, "{off}");
    let (_, shelf) = app.get(&clerk, &path).await;
    assert_eq!(shelf["total"], 1);
    let (_, all) = app.get(&clerk, &format!("{path}?include_inactive=true")).await;
    assert_eq!(all["total"], 2);
    let (_, stores) = app.get(&clerk, "/api/v1/points/stores").await;
    assert_eq!(stores[0]["goods_count"], 1);

    // Bad goods.
    for (bad, field) in [
        (json!({"name": "", "price_points": 5, "value_fen": 1}), "name"),
        (json!({"name": "x".repeat(101), "price_points": 5, "value_fen": 1}), "name"),
        (json!({"name": "x", "price_points": 0, "value_fen": 1}), "price_points"),
        (json!({"name": "x", "price_points": 5, "value_fen": -1}), "value_fen"),
        (json!({"name": "x", "price_points": 5, "value_fen": 1, "stock": -1}), "stock"),
        (json!({"name": "x", "price_points": 5, "value_fen": 1, "max_per_redemption": 0}), "max_per_redemption"),
        (json!({"name": "x", "price_points": 5, "value_fen": 1, "barcode": "a b"}), "barcode"),
        (
            json!({"name": "x", "price_points": 5, "value_fen": 1, "photo_attachment_id": Uuid::now_v7()}),
            "photo_attachment_id",
        ),
    ] {
        let (status, body) = app.post(&clerk, &path, bad.clone()).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&body), vec![field], "{bad}");
    }
    app.stop().await;
}

#[tokio::test]
async fn who_may_work_the_counter() {
    let Counter { app, admin, clerk, town, store, households } = counter(1).await;
    let h = id(&households[0]);
    give(&app, town, &h, 100).await;
    let soap = new_goods(&app, &clerk, &store, "肥皂", 5, 10).await;
    let goods_path = format!("/api/v1/points/stores/{}/goods", id(&store));
    let lines = json!([{"goods_id": id(&soap), "quantity": 1}]);

    // A clerk of another village does not see this store.
    let sc2 = app.login("sc2").await;
    let (status, body) = app.get(&sc2, &goods_path).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.post(&sc2, &goods_path, json!({"name": "x", "price_points": 1, "value_fen": 1})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = redeem(&app, &sc2, &store, &h, lines.clone(), "k-sc2").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) =
        app.post(&sc2, &format!("/api/v1/points/goods/{}/restock", id(&soap)), json!({"quantity": 1})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .get(
            &sc2,
            &format!("/api/v1/points/stores/{}/lookup?code={}", id(&store), households[0]["code"].as_str().unwrap()),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    // A resident of the village sees the catalogue but cannot sell, restock or look up.
    let res1 = app.login("res1").await;
    let (status, shelf) = app.get(&res1, &goods_path).await;
    assert_eq!(status, StatusCode::OK, "{shelf}");
    assert_eq!(shelf["total"], 1);
    let (status, body) = redeem(&app, &res1, &store, &h, lines.clone(), "k-res").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.post(&res1, &goods_path, json!({"name": "x", "price_points": 1, "value_fen": 1})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.get(&res1, &format!("/api/v1/points/goods/{}/movements", id(&soap))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // A village cadre reads but does not sell.
    let vc1 = app.login("vc1").await;
    let (status, _) = app.get(&vc1, &format!("/api/v1/points/goods/{}/movements", id(&soap))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = redeem(&app, &vc1, &store, &h, lines.clone(), "k-vc").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // The town admin may sell at every store; the receipt is readable by the household's resident
    // only if it is theirs.
    let (status, r) = redeem(&app, &admin, &store, &h, lines.clone(), "k-admin").await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, body) = app.get(&sc2, &format!("/api/v1/points/redemptions/{}", id(&r))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) =
        app.post(&sc2, &format!("/api/v1/points/redemptions/{}/return", id(&r)), json!({"reason": "x"})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, page) = app.get(&sc2, "/api/v1/points/redemptions").await;
    assert_eq!(page["total"], 0, "{page}");
    app.stop().await;
}

// ---- the counter ----

#[tokio::test]
async fn a_redemption_moves_balance_stock_and_ledger_together() {
    let Counter { app, admin, clerk, town, store, households } = counter(1).await;
    let h = id(&households[0]);
    let code = households[0]["code"].as_str().unwrap().to_string();
    give(&app, town, &h, 100).await;
    let soap = new_goods(&app, &clerk, &store, "肥皂", 5, 10).await;
    let oil = new_goods(&app, &clerk, &store, "食用油", 30, 3).await;

    // The counter finds the household by code, by a scanned link, by id.
    for text in
        [code.clone(), format!("  {}  ", code.to_lowercase()), format!("https://wuwei.example/h/{code}"), h.clone()]
    {
        let (status, found) =
            app.get(&clerk, &format!("/api/v1/points/stores/{}/lookup?code={}", id(&store), urlencode(&text))).await;
        assert_eq!(status, StatusCode::OK, "{text}: {found}");
        assert_eq!(found["household"]["id"], h.as_str());
        assert_eq!(found["balance"], 100);
    }

    let (status, r) = redeem(
        &app,
        &clerk,
        &store,
        &h,
        json!([{"goods_id": id(&soap), "quantity": 1}, {"goods_id": id(&oil), "quantity": 1}, {"goods_id": id(&soap), "quantity": 1}]),
        "k1",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["number"], "DH-20261128-0001");
    assert_eq!(
        (r["total_points"].as_i64(), r["balance_after"].as_i64(), r["value_fen"].as_i64()),
        (Some(40), Some(60), Some(400))
    );
    assert_eq!(r["household"]["code"], code.as_str());
    assert_eq!(r["store"]["id"], store["id"]);
    assert!(r["clerk_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(r["returned_at"], Value::Null);
    let lines = r["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "lines of the same goods are merged: {r}");
    let by_name: BTreeMap<&str, (i64, i64)> = lines
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), (l["quantity"].as_i64().unwrap(), l["points"].as_i64().unwrap())))
        .collect();
    assert_eq!(by_name, BTreeMap::from([("肥皂", (2, 10)), ("食用油", (1, 30))]));

    assert_eq!(balance(&app, town, &h).await, 60);
    assert_eq!(goods_now(&app, &clerk, &store, &soap).await["stock"], 8);
    assert_eq!(goods_now(&app, &clerk, &store, &oil).await["stock"], 2);
    let posting = points::posting(app.state.store().db(), town, r["posting_id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(posting.change_for(&Account::household(h.parse().unwrap())), -40);
    assert_eq!(
        points::balance(app.state.store().db(), town, Account::store_redemption(id(&store).parse().unwrap()))
            .await
            .unwrap(),
        40
    );
    let (_, movements) = app.get(&clerk, &format!("/api/v1/points/goods/{}/movements", id(&soap))).await;
    assert_eq!(movements["items"][0]["reason"], "redemption");
    assert_eq!(movements["items"][0]["delta"], -2);
    assert_eq!(movements["items"][0]["redemption_id"], r["id"]);
    verify_ok(&app, town).await;

    // The receipt, the lists, and the resident's own view.
    let (status, receipt) = app.get(&clerk, &format!("/api/v1/points/redemptions/{}", id(&r))).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt, r);
    let (_, page) = app.get(&clerk, &format!("/api/v1/points/redemptions?store_id={}", id(&store))).await;
    assert_eq!(page["total"], 1);
    let (_, page) = app.get(&admin, &format!("/api/v1/points/redemptions?household_id={h}")).await;
    assert_eq!(page["items"][0]["id"], r["id"]);
    let (status, found) = app.get(&clerk, &format!("/api/v1/points/stores/{}/lookup?code={code}", id(&store))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((found["balance"].as_i64(), found["redeemed_total"].as_i64()), (Some(60), Some(40)), "{found}");

    // A second redemption of the day gets the next number.
    let (status, r2) = redeem(&app, &clerk, &store, &h, json!([{"goods_id": id(&soap), "quantity": 1}]), "k2").await;
    assert_eq!(status, StatusCode::CREATED, "{r2}");
    assert_eq!(r2["number"], "DH-20261128-0002");
    let (_, page) = app.get(&clerk, "/api/v1/points/redemptions").await;
    assert_eq!(page["items"][0]["id"], r2["id"], "newest first");
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn insufficient_points_and_out_of_stock_leave_no_trace() {
    let Counter { app, admin, clerk, town, store, households } = counter(1).await;
    let h = id(&households[0]);
    give(&app, town, &h, 10).await;
    let oil = new_goods(&app, &clerk, &store, "食用油", 30, 3).await;
    let soap = new_goods(&app, &clerk, &store, "肥皂", 5, 1).await;
    let before = footprint(&app, &admin, town, &store).await;

    let (status, body) = redeem(&app, &clerk, &store, &h, json!([{"goods_id": id(&oil), "quantity": 1}]), "k1").await;
    assert_error(status, &body, StatusCode::CONFLICT, "insufficient_points");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("10") && message.contains("30"), "the message says the balance: {message}");
    // In English too.
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/points/stores/{}/redemptions", id(&store))))
        .bearer_auth(&clerk.token)
        .header("accept-language", "en")
        .json(&json!({"household_id": h, "lines": [{"goods_id": id(&oil), "quantity": 1}], "idempotency_key": "k1"}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("balance is 10"), "{body}");

    let (status, body) = redeem(&app, &clerk, &store, &h, json!([{"goods_id": id(&soap), "quantity": 2}]), "k2").await;
    assert_error(status, &body, StatusCode::CONFLICT, "out_of_stock");
    assert!(body["message"].as_str().unwrap().contains("肥皂"), "names the goods: {body}");
    assert_eq!(fields(&body), vec!["lines[0].quantity"]);

    assert_eq!(footprint(&app, &admin, town, &store).await, before);
    assert_eq!(balance(&app, town, &h).await, 10);
    verify_ok(&app, town).await;

    // The refused keys were not used up: the same key works once the basket fits.
    let (status, r) = redeem(&app, &clerk, &store, &h, json!([{"goods_id": id(&soap), "quantity": 1}]), "k2").await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["balance_after"], 5);
    app.stop().await;
}

#[tokio::test]
async fn retries_are_idempotent_and_returns_reverse_once() {
    let Counter { app, clerk, town, store, households, .. } = counter(1).await;
    let h = id(&households[0]);
    give(&app, town, &h, 50).await;
    let soap = new_goods(&app, &clerk, &store, "肥皂", 5, 10).await;
    let lines = json!([{"goods_id": id(&soap), "quantity": 2}]);

    let (status, first) = redeem(&app, &clerk, &store, &h, lines.clone(), "basket-1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = redeem(&app, &clerk, &store, &h, lines.clone(), "basket-1").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    // The same basket split over two lines is the same basket.
    let split = json!([{"goods_id": id(&soap), "quantity": 1}, {"goods_id": id(&soap), "quantity": 1}]);
    let (status, _) = redeem(&app, &clerk, &store, &h, split, "basket-1").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        redeem(&app, &clerk, &store, &h, json!([{"goods_id": id(&soap), "quantity": 3}]), "basket-1").await;
    assert_error(status, &body, StatusCode::CONFLICT, "idempotency_conflict");
    assert_eq!(balance(&app, town, &h).await, 40);
    assert_eq!(goods_now(&app, &clerk, &store, &soap).await["stock"], 8);

    // A return: the points come back, the goods go back on the shelf, once.
    let path = format!("/api/v1/points/redemptions/{}/return", id(&first));
    for (bad, field) in [(json!({"reason": ""}), "reason"), (json!({"reason": "x".repeat(201)}), "reason")] {
        let (status, body) = app.post(&clerk, &path, bad).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&body), vec![field]);
    }
    let res1 = app.login("res1").await;
    let (status, body) = app.post(&res1, &path, json!({"reason": "不想要了"})).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{status} {body}");
    let (status, returned) = app.post(&clerk, &path, json!({"reason": "包装破损"})).await;
    assert_eq!(status, StatusCode::OK, "{returned}");
    assert_eq!(returned["return_reason"], "包装破损");
    assert!(returned["returned_at"].is_string() && returned["returned_by_name"].is_string(), "{returned}");
    assert_eq!(balance(&app, town, &h).await, 50);
    assert_eq!(goods_now(&app, &clerk, &store, &soap).await["stock"], 10);
    let (_, movements) = app.get(&clerk, &format!("/api/v1/points/goods/{}/movements", id(&soap))).await;
    assert_eq!(movements["items"][0]["reason"], "return");
    assert_eq!(movements["items"][0]["delta"], 2);
    assert_eq!(movements["items"][0]["note"], "包装破损");
    let (status, body) = app.post(&clerk, &path, json!({"reason": "again"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_returned");
    assert_eq!(balance(&app, town, &h).await, 50);
    // The retry of a returned redemption still answers with it (returned), and sells nothing.
    let (status, again) = redeem(&app, &clerk, &store, &h, lines, "basket-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(again["returned_at"].is_string());
    assert_eq!(goods_now(&app, &clerk, &store, &soap).await["stock"], 10);
    verify_ok(&app, town).await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_wrong_baskets_are_4xx_never_500() {
    let Counter { app, admin, clerk, town, store, households } = counter(1).await;
    let h = id(&households[0]);
    give(&app, town, &h, 1000).await;
    let soap = new_goods(&app, &clerk, &store, "肥皂", 5, 100).await;
    let (status, off) = app
        .post(
            &clerk,
            &format!("/api/v1/points/stores/{}/goods", id(&store)),
            json!({"name": "旧货", "price_points": 1, "value_fen": 1, "stock": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.patch(&clerk, &format!("/api/v1/points/goods/{}", id(&off)), json!({"active": false, "version": 1})).await;
    let limited = app
        .post(
            &clerk,
            &format!("/api/v1/points/stores/{}/goods", id(&store)),
            json!({"name": "大米", "price_points": 20, "value_fen": 1, "stock": 50, "max_per_redemption": 2}),
        )
        .await
        .1;
    // Goods of another store.
    let (_, stores) = app.get(&admin, "/api/v1/points/stores").await;
    let other_store = stores.as_array().unwrap().iter().find(|s| s["id"] != store["id"]).unwrap().clone();
    let elsewhere = new_goods(&app, &admin, &other_store, "别村的货", 1, 5).await;
    let other_household = households_of(&app, &admin, &other_store, 1).await;
    let before = footprint(&app, &admin, town, &store).await;

    let path = format!("/api/v1/points/stores/{}/redemptions", id(&store));
    let raw = |body: &'static str| {
        let app = &app;
        let clerk = &clerk;
        let path = path.clone();
        async move {
            let resp = app
                .http
                .post(app.url(&path))
                .bearer_auth(&clerk.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = raw("{\"household_id\": ").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, body) = raw("[]").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let g = id(&soap);
    let line = |q: Value| json!([{"goods_id": g, "quantity": q}]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"household_id": h, "lines": line(json!(1))}), "idempotency_key"),
        (json!({"household_id": "nope", "lines": line(json!(1)), "idempotency_key": "k"}), "household_id"),
        (json!({"household_id": h, "lines": line(json!("two")), "idempotency_key": "k"}), "lines[0].quantity"),
        (json!({"household_id": h, "lines": line(json!(0)), "idempotency_key": "k"}), "lines[0].quantity"),
        (json!({"household_id": h, "lines": line(json!(100)), "idempotency_key": "k"}), "lines[0].quantity"),
        (json!({"household_id": h, "lines": line(json!(1e12)), "idempotency_key": "k"}), "lines[0].quantity"),
        (json!({"household_id": h, "lines": [], "idempotency_key": "k"}), "lines"),
        (json!({"household_id": h, "lines": line(json!(1)), "idempotency_key": ""}), "idempotency_key"),
        (json!({"household_id": h, "lines": line(json!(1)), "idempotency_key": "k".repeat(129)}), "idempotency_key"),
        (json!({"household_id": h, "lines": line(json!(1)), "idempotency_key": "a\u{7}b"}), "idempotency_key"),
        (json!({"household_id": h, "lines": line(json!(1)), "idempotency_key": "k", "extra": 1}), "extra"),
        (
            json!({"household_id": h, "lines": [{"goods_id": Uuid::now_v7(), "quantity": 1}], "idempotency_key": "k"}),
            "lines[0].goods_id",
        ),
        (
            json!({"household_id": h, "lines": [{"goods_id": g, "quantity": 1}, {"goods_id": id(&elsewhere), "quantity": 1}], "idempotency_key": "k"}),
            "lines[1].goods_id",
        ),
        (
            json!({"household_id": h, "lines": [{"goods_id": id(&off), "quantity": 1}], "idempotency_key": "k"}),
            "lines[0].goods_id",
        ),
        (
            json!({"household_id": h, "lines": [{"goods_id": id(&limited), "quantity": 3}], "idempotency_key": "k"}),
            "lines[0].quantity",
        ),
        (
            json!({"household_id": h, "lines": [{"goods_id": g, "quantity": 60}, {"goods_id": g, "quantity": 60}], "idempotency_key": "k"}),
            "lines[0].quantity",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post(&clerk, &path, body.clone()).await;
        assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        // A missing or unknown field is named in the message of the body-level problem.
        let mentioned =
            answer["fields"].as_array().unwrap().iter().any(|f| {
                f["field"].as_str().unwrap().contains(field) || f["message"].as_str().unwrap().contains(field)
            });
        assert!(mentioned, "{body} → {answer}");
    }
    let many: Vec<Value> = (0..51).map(|_| json!({"goods_id": g, "quantity": 1})).collect();
    let (status, answer) =
        app.post(&clerk, &path, json!({"household_id": h, "lines": many, "idempotency_key": "k"})).await;
    assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&answer), vec!["lines"]);

    // Unknown households, and households of another village: 404.
    for who in [Uuid::now_v7().to_string(), id(&other_household[0])] {
        let (status, body) = redeem(&app, &clerk, &store, &who, line(json!(1)), "k").await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let lookup = |code: String| format!("/api/v1/points/stores/{}/lookup?code={}", id(&store), urlencode(&code));
    for code in ["DW-NOPE-0001".to_string(), other_household[0]["code"].as_str().unwrap().to_string()] {
        let (status, body) = app.get(&clerk, &lookup(code)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    for code in [String::new(), "   ".into(), "x".repeat(65)] {
        let (status, body) = app.get(&clerk, &lookup(code)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
    let (status, body) = app.get(&clerk, &format!("/api/v1/points/stores/{}/lookup", id(&store))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&clerk, "/api/v1/points/stores/not-a-uuid/goods").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.get(&clerk, &format!("/api/v1/points/stores/{}/goods?page_size=201", id(&store))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&clerk, "/api/v1/points/redemptions?page=0").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&clerk, "/api/v1/points/redemptions?store_id=bad").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&clerk, &format!("/api/v1/points/redemptions/{}", Uuid::now_v7())).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.patch(&clerk, &format!("/api/v1/points/goods/{}", id(&soap)), json!({"name": "x"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, body) = app
        .patch(&clerk, &format!("/api/v1/points/goods/{}", id(&soap)), json!({"price_points": -1, "version": 1}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["price_points"]);

    assert_eq!(footprint(&app, &admin, town, &store).await.0, before.0, "no posting");
    assert_eq!(footprint(&app, &admin, town, &store).await.1, 0, "no redemption");
    assert_eq!(balance(&app, town, &h).await, 1000);
    verify_ok(&app, town).await;
    app.stop().await;
}

// ---- concurrency ----

/// 64 clients at once against one household (80 points) and the last items on the shelf (3 of
/// one goods, 100 of another, 10 points each): nothing oversold, no negative balance, every
/// accepted redemption in the ledger, every refused one without a trace.
#[tokio::test]
async fn concurrent_redemptions_never_oversell_or_overspend() {
    let Counter { app, admin, clerk, town, store, households } = counter(1).await;
    let h = id(&households[0]);
    give(&app, town, &h, 80).await;
    let last = new_goods(&app, &clerk, &store, "最后三桶油", 10, 3).await;
    let plenty = new_goods(&app, &clerk, &store, "肥皂", 10, 100).await;
    let head_before = points::head(app.state.store().db(), town).await.unwrap().seq;

    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for n in 0..64 {
        let app = app.clone();
        let clerk = clerk.clone();
        let store = store.clone();
        let h = h.clone();
        let goods = if n % 2 == 0 { id(&last) } else { id(&plenty) };
        tasks.push(tokio::spawn(async move {
            let (status, body) =
                redeem(&app, &clerk, &store, &h, json!([{"goods_id": goods, "quantity": 1}]), &format!("c-{n}")).await;
            (n, status, body)
        }));
    }
    let mut accepted = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (n, status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => accepted.push((n, body)),
            StatusCode::CONFLICT => {
                assert!(body["code"] == "insufficient_points" || body["code"] == "out_of_stock", "{body}");
                refused += 1;
            }
            other => panic!("redemption {n}: {other} {body}"),
        }
    }
    let app = std::sync::Arc::into_inner(app).unwrap();
    assert_eq!(accepted.len() + refused, 64);
    let sold_last = accepted.iter().filter(|(n, _)| n % 2 == 0).count() as i64;
    let sold_plenty = accepted.iter().filter(|(n, _)| n % 2 == 1).count() as i64;
    assert!(sold_last <= 3, "oversold: {sold_last}");
    assert_eq!(accepted.len(), 8, "80 points buy exactly eight 10-point items");
    let spent: i64 = accepted.iter().map(|(_, r)| r["total_points"].as_i64().unwrap()).sum();
    assert_eq!(spent, 80);
    assert_eq!(balance(&app, town, &h).await, 0);
    let mut after: Vec<i64> = accepted.iter().map(|(_, r)| r["balance_after"].as_i64().unwrap()).collect();
    after.sort();
    assert_eq!(after, (0..8).map(|k| k * 10).collect::<Vec<_>>(), "each receipt shows the balance it left");
    assert_eq!(goods_now(&app, &clerk, &store, &last).await["stock"].as_i64(), Some(3 - sold_last));
    assert_eq!(goods_now(&app, &clerk, &store, &plenty).await["stock"].as_i64(), Some(100 - sold_plenty));

    // Every accepted redemption is in the ledger, and nothing else is.
    let db = app.state.store().db();
    assert_eq!(points::head(db, town).await.unwrap().seq, head_before + 8);
    assert_eq!(points::balance(db, town, Account::store_redemption(id(&store).parse().unwrap())).await.unwrap(), 80);
    for (_, r) in &accepted {
        let posting =
            points::posting(db, town, r["posting_id"].as_str().unwrap().parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(posting.change_for(&Account::household(h.parse().unwrap())), -10);
    }
    let (_, page) = app.get(&admin, &format!("/api/v1/points/redemptions?household_id={h}&page_size=200")).await;
    assert_eq!(page["total"], 8);
    let mut numbers: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|r| r["number"].as_str().unwrap().to_string()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 8, "numbers are unique");
    let (_, moves) = app.get(&clerk, &format!("/api/v1/points/goods/{}/movements", id(&last))).await;
    assert_eq!(moves["total"].as_i64(), Some(1 + sold_last), "one movement per sale");
    verify_ok(&app, town).await;
    app.stop().await;
}

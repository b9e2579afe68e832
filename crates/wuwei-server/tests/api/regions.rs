use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn square(lon: f64, lat: f64, size: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]})
}

/// A second town in the same city, made by the county admin; returns its id.
async fn second_town(app: &TestApp, admin: &Session) -> String {
    let (_, me) = app.get(admin, "/api/v1/me").await;
    let city = me["towns"][0]["city"]["id"].as_str().unwrap().to_string();
    let (status, town) = app
        .post(
            admin,
            "/api/v1/regions",
            json!({"town_id": city, "kind": "town", "parent_id": city, "name": "杨家集镇", "code": "371481108", "short_code": "YJ",
                   "geometry": square(117.5, 37.5, 0.1)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{town}");
    town["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_tree_and_the_map_layers_cover_the_town() {
    let app = TestApp::demo().await;
    let s = app.login("admin").await;
    let town = app.town_id(&s).await;
    let (status, tree) = app.get(&s, &format!("/api/v1/towns/{town}/region-tree")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tree["kind"], "town");
    let mut avs = 0;
    let mut nvs = 0;
    for area in tree["children"].as_array().unwrap() {
        for av in area["children"].as_array().unwrap() {
            avs += 1;
            nvs += av["children"].as_array().unwrap().len();
        }
    }
    assert_eq!((avs, nvs), (8, 76));
    let (status, fc) = app.get(&s, &format!("/api/v1/towns/{town}/regions.geojson?kind=natural_village")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 76);
    assert_eq!(features[0]["geometry"]["type"], "Polygon");
    assert!(features[0]["properties"]["admin_village_id"].is_string());
    let (status, body) = app.get(&s, &format!("/api/v1/towns/{town}/regions.geojson?kind=village")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    app.stop().await;
}

#[tokio::test]
async fn a_grid_worker_sees_only_their_grids() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let my_grids: Vec<String> =
        gw.user["roles"].as_array().unwrap().iter().map(|r| r["scope"]["id"].as_str().unwrap().to_string()).collect();
    let town = gw.user["towns"][0]["id"].as_str().unwrap().to_string();

    let (_, tree) = app.get(&gw, &format!("/api/v1/towns/{town}/region-tree")).await;
    assert_eq!(tree["in_scope"], false, "the town is context only");
    let mut leaves = Vec::new();
    fn walk(n: &Value, leaves: &mut Vec<(String, bool)>) {
        let kids = n["children"].as_array().unwrap();
        if kids.is_empty() {
            leaves.push((n["id"].as_str().unwrap().to_string(), n["in_scope"].as_bool().unwrap()));
        }
        for k in kids {
            walk(k, leaves);
        }
    }
    walk(&tree, &mut leaves);
    let mut leaf_ids: Vec<String> = leaves.iter().map(|l| l.0.clone()).collect();
    leaf_ids.sort();
    let mut mine = my_grids.clone();
    mine.sort();
    assert_eq!(leaf_ids, mine);
    assert!(leaves.iter().all(|l| l.1));

    let (_, fc) = app.get(&gw, &format!("/api/v1/towns/{town}/regions.geojson?kind=grid")).await;
    assert_eq!(fc["features"].as_array().unwrap().len(), my_grids.len());
    let (_, fc) = app.get(&gw, &format!("/api/v1/towns/{town}/regions.geojson?kind=natural_village")).await;
    assert_eq!(fc["features"].as_array().unwrap().len(), 0, "villages are context, not in scope");

    let (_, page) = app.get(&gw, "/api/v1/households?page_size=200").await;
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|h| my_grids.contains(&h["grid"]["id"].as_str().unwrap().to_string())));

    // Another grid's household is not found, as if it did not exist.
    let admin = app.login("admin").await;
    let (_, all) = app.get(&admin, "/api/v1/households?page_size=200&page=10").await;
    let foreign = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| !my_grids.contains(&h["grid"]["id"].as_str().unwrap().to_string()))
        .unwrap();
    let (status, body) = app.get(&gw, &format!("/api/v1/households/{}", foreign["id"].as_str().unwrap())).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, detail) = app.get(&gw, &format!("/api/v1/households/{}", items[0]["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!detail["residents"].as_array().unwrap().is_empty());
    assert_eq!(detail["residents"][0]["relation"], "head");

    // And it may not write regions at all.
    let (status, body) =
        app.patch(&gw, &format!("/api/v1/regions/{}", my_grids[0]), json!({"version": 1, "name": "x"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

#[tokio::test]
async fn out_of_scope_reads_are_404_and_writes_403() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    let other_town = second_town(&app, &admin).await;
    let ta = app.login("townadmin").await;
    let (status, body) = app.get(&ta, &format!("/api/v1/regions/{other_town}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.get(&ta, &format!("/api/v1/towns/{other_town}/region-tree")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) =
        app.patch(&ta, &format!("/api/v1/regions/{other_town}"), json!({"version": 1, "name": "改名"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/regions",
            json!({"town_id": other_town, "kind": "admin_village", "parent_id": other_town, "name": "新村"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // The list simply does not contain it.
    let (_, page) = app.get(&ta, "/api/v1/regions?kind=town").await;
    assert_eq!(page["total"], 1);
    let (_, towns) = app.get(&admin, "/api/v1/towns").await;
    assert_eq!(towns["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn regions_are_created_and_updated_with_version_checks() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let nv = app.region_by_code(&s, "DW-AV01-NV01").await;
    let nv_id = nv["id"].as_str().unwrap();
    let (status, grid) = app
        .post(
            &s,
            "/api/v1/regions",
            json!({"town_id": nv["town_id"], "kind": "grid", "parent_id": nv_id, "name": "新网格", "code": "DW-AV01-NV01-G9"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grid}");
    assert_eq!(grid["natural_village_id"], nv_id);
    assert_eq!(grid["admin_village_id"], nv["admin_village_id"]);
    let id = grid["id"].as_str().unwrap();
    let (status, updated) =
        app.patch(&s, &format!("/api/v1/regions/{id}"), json!({"version": 1, "name": "新网格（改）"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["version"], 2);
    let (status, body) = app.patch(&s, &format!("/api/v1/regions/{id}"), json!({"version": 1, "name": "冲突"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "version_conflict");
    // A grid cannot hang under an admin village.
    let (status, body) = app
        .post(
            &s,
            "/api/v1/regions",
            json!({"town_id": nv["town_id"], "kind": "grid", "parent_id": nv["admin_village_id"], "name": "错"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["parent_id"]);
    // A taken code is a conflict.
    let (status, body) = app
        .post(&s, "/api/v1/regions", json!({"town_id": nv["town_id"], "kind": "grid", "parent_id": nv_id, "name": "重", "code": "DW-AV01-NV01-G9"}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate");
    let (status, detail) = app.get(&s, &format!("/api/v1/regions/{nv_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["path"].as_array().unwrap().len(), 3, "town, area, admin village: {detail}");
    assert!(detail["counts"]["households"].as_u64().unwrap() > 0);
    assert_eq!(detail["geometry"]["type"], "Polygon");
    app.stop().await;
}

#[tokio::test]
async fn invalid_polygons_are_422_naming_the_problem() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let nv = app.region_by_code(&s, "DW-AV01-NV01").await;
    let cases = [
        json!({"type": "Polygon", "coordinates": [[[117.0, 37.0], [117.1, 37.0], [117.1, 37.1], [117.0, 37.1]]]}),
        json!({"type": "Polygon", "coordinates": [[[117.0, 37.0], [200.0, 37.0], [117.1, 37.1], [117.0, 37.0]]]}),
        json!({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 1], [0, 0]]]}),
        json!({"type": "Point", "coordinates": [117.0, 37.0]}),
        json!({"type": "Polygon", "coordinates": "nope"}),
    ];
    for g in cases {
        let (status, body) = app
            .post(
                &s,
                "/api/v1/regions",
                json!({"town_id": nv["town_id"], "kind": "grid", "parent_id": nv["id"], "name": "坏", "geometry": g}),
            )
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&body), vec!["geometry"], "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn geojson_import_is_all_or_nothing() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let town = app.town_id(&s).await;
    let url = format!("/api/v1/towns/{town}/regions/import");
    let good = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "natural_village", "name": "新庄", "code": "DW-AV01-NV99", "parent_code": "371481107201"},
         "geometry": square(117.0, 37.0, 0.01)},
        {"type": "Feature", "properties": {"kind": "grid", "name": "新庄第一网格", "code": "DW-AV01-NV99-G1", "parent_code": "DW-AV01-NV99"},
         "geometry": square(117.0, 37.0, 0.01)},
        {"type": "Feature", "properties": {"kind": "admin_village", "name": "改了名的村", "code": "371481107202", "parent_code": "DW-A1"}, "geometry": null}
    ]});
    // A bad third feature spoils the lot.
    let mut bad = good.clone();
    bad["features"][2]["properties"]["kind"] = json!("hamlet");
    bad["features"][0]["geometry"] = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]});
    let (status, body) = app.post(&s, &url, bad).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut f = fields(&body);
    f.sort();
    assert_eq!(f, vec!["features[0].geometry", "features[2].properties.kind"]);
    let (_, page) = app.get(&s, "/api/v1/regions?q=DW-AV01-NV99").await;
    assert_eq!(page["total"], 0, "nothing written");

    let (status, dry) = app.post(&s, &format!("{url}?dry_run=true"), good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry, json!({"dry_run": true, "created": 2, "updated": 1, "unchanged": 0}));
    let (_, page) = app.get(&s, "/api/v1/regions?q=DW-AV01-NV99").await;
    assert_eq!(page["total"], 0, "a dry run writes nothing");

    let (status, done) = app.post(&s, &url, good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["created"], 2);
    let grid = app.region_by_code(&s, "DW-AV01-NV99-G1").await;
    let nv = app.region_by_code(&s, "DW-AV01-NV99").await;
    assert_eq!(grid["natural_village_id"], nv["id"]);
    let (status, again) = app.post(&s, &url, good).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, json!({"dry_run": false, "created": 0, "updated": 0, "unchanged": 3}));
    app.stop().await;
}

#[tokio::test]
async fn locate_finds_the_grid_of_a_household() {
    let app = TestApp::demo().await;
    let s = app.login("dispatcher1").await;
    let (_, page) = app.get(&s, "/api/v1/households?page_size=50&page=7").await;
    for h in page["items"].as_array().unwrap() {
        let (status, found) = app.get(&s, &format!("/api/v1/locate?lat={}&lon={}", h["lat"], h["lon"])).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["grid"]["id"], h["grid"]["id"], "household {}", h["code"]);
        assert_eq!(found["natural_village"]["id"], h["natural_village"]["id"]);
        assert_eq!(found["admin_village"]["id"], h["admin_village"]["id"]);
    }
    let (status, body) = app.get(&s, "/api/v1/locate?lat=39.9&lon=116.4").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_web_ui_is_served_with_client_routes_falling_back_to_index() {
    let app = TestApp::spawn().await;
    for path in ["/", "/regions", "/m/", "/login?redirect=%2Fusers"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        assert!(resp.text().await.unwrap().contains("<div id=\"app\""), "{path}");
    }
    let resp = app.http.get(app.url("/assets/missing-0000.js")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app.http.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn assets_are_cached_and_revalidated_by_etag() {
    let app = TestApp::spawn().await;
    let index = app.http.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let asset =
        index.split("src=\"").nth(1).and_then(|s| s.split('"').next()).expect("a script in index.html").to_string();
    let resp = app.http.get(app.url(&asset)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{asset}");
    assert!(resp.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let again = app.http.get(app.url(&asset)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_metrics_and_docs() {
    let app = TestApp::spawn().await;
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("wuwei_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("wuwei_resident_memory_bytes"));
    let doc: Value = app.http.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/auth/login"]["post"].is_object());
    let ui = app.http.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger"));
    let resp = app.http.get(app.url("/api/v1/me")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
}

/// The OpenAPI document is checked in (docs/openapi.json) so API changes show in review.
/// Regenerate with `WUWEI_UPDATE_SNAPSHOTS=1 cargo test -p wuwei-server --test api openapi`.
#[test]
fn openapi_snapshot_is_current() {
    let doc = wuwei_server::openapi_document().to_pretty_json().unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var("WUWEI_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &doc).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(stored == doc, "docs/openapi.json is stale; rerun with WUWEI_UPDATE_SNAPSHOTS=1");
}

#[tokio::test]
async fn loading_the_demo_twice_changes_nothing() {
    let app = TestApp::demo().await;
    let again = wuwei_server::demo::load(app.state.store(), start_time()).await.unwrap();
    assert!(!again.loaded);
    let s = app.login("admin").await;
    let (_, page) = app.get(&s, "/api/v1/households?page_size=1").await;
    assert_eq!(page["total"], 3063);
    let (_, users) = app.get(&s, "/api/v1/users?page_size=1").await;
    assert_eq!(users["total"], 162);
    app.stop().await;
}

#[tokio::test]
async fn the_instance_says_whether_it_holds_demo_data() {
    let app = TestApp::spawn().await;
    let v: Value = app.http.get(app.url("/api/v1/instance")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["demo"], false);
    wuwei_server::demo::load(app.state.store(), start_time()).await.unwrap();
    let v: Value = app.http.get(app.url("/api/v1/instance")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["demo"], true);
    assert!(v["version"].as_str().is_some());
    app.stop().await;
}

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_api_token_is_shown_once_scoped_and_revocable() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let grid = app.region_by_code(&ta, "DW-AV03-NV01-G1").await;
    let (status, created) = app
        .post(
            &ta,
            "/api/v1/api-tokens",
            json!({"name": "测试设备", "roles": [{"role": "grid_worker", "scope_id": grid["id"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("wwt_"));
    let id = created["api_token"]["id"].as_str().unwrap().to_string();
    let (_, list) = app.get(&ta, "/api/v1/api-tokens").await;
    let listed = list["items"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    assert!(listed.get("token").is_none(), "the secret is never listed");
    assert!(secret.starts_with(listed["prefix"].as_str().unwrap()));

    let device = Session { token: secret.clone(), csrf: String::new(), user: json!(null) };
    let (status, page) = app.get(&device, "/api/v1/households?page_size=200").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["items"].as_array().unwrap().iter().all(|h| h["grid"]["id"] == grid["id"]));
    assert!(page["total"].as_u64().unwrap() > 0);
    // Tokens do not mint tokens.
    let (status, _) = app.post(&device, "/api/v1/api-tokens", json!({"name": "x", "roles": []})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = app.call(&ta, reqwest::Method::DELETE, &format!("/api/v1/api-tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&device, "/api/v1/households").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    app.stop().await;
}

#[tokio::test]
async fn token_roles_must_lie_within_the_creators() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let (_, me) = app.get(&ta, "/api/v1/me").await;
    let city = me["towns"][0]["city"]["id"].clone();
    let (status, body) = app
        .post(&ta, "/api/v1/api-tokens", json!({"name": "越权", "roles": [{"role": "county_admin", "scope_id": city}]}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let d = app.login("dispatcher1").await;
    let (status, body) = app.post(&d, "/api/v1/api-tokens", json!({"name": "x", "roles": []})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .post(&ta, "/api/v1/api-tokens", json!({"name": "过期", "roles": [{"role": "dispatcher", "scope_id": me["towns"][0]["id"]}], "expires_at": "2020-01-01T00:00:00Z"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["expires_at"]);
    app.stop().await;
}

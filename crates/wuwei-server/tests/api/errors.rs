//! Bad input of every kind gets the right 4xx and our error body, never a 500.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let resp = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    app.stop().await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_422_naming_the_field() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let (status, body) = app.post(&s, "/api/v1/users", json!({"username": 42})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["username"]);
    let (status, body) = app
        .post(&s, "/api/v1/users", json!({"username": "newbie", "display_name": "新人", "password": "long-enough"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(body["fields"][0]["message"].as_str().unwrap().contains("roles"), "{body}");
    let (status, body) = app
        .post(
            &s,
            "/api/v1/users",
            json!({"username": "newbie", "display_name": "新人", "password": "long-enough", "roles": [{"role": "grid_worker", "scope_id": "not-a-uuid"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), vec!["roles[0].scope_id"]);
    app.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let (status, body) = app.post(&s, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let s = app.login("townadmin").await;
    let (status, body) =
        app.post(&s, "/api/v1/me/password", json!({"current_password": "x", "new_password": "y", "admin": true})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.stop().await;
}

#[tokio::test]
async fn validation_reports_every_problem_at_once() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let (status, body) = app
        .post(&s, "/api/v1/users", json!({"username": "A!", "display_name": "  ", "password": "short", "roles": []}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut f = fields(&body);
    f.sort();
    assert_eq!(f, vec!["display_name", "password", "roles", "username"]);
    app.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let resp = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(&s.token)
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, body) = app.post(&s, "/api/v1/users", json!({"username": big})).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Unauthenticated senders do not get to upload either.
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"username\":\"{big}\",\"password\":\"x\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

#[tokio::test]
async fn messages_follow_accept_language() {
    let app = TestApp::demo().await;
    let zh: Value = app.http.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(zh["code"], "unauthenticated");
    assert_eq!(zh["message"], "请先登录");
    let en: Value = app
        .http
        .get(app.url("/api/v1/me"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(en["message"], "Please sign in first");
    app.stop().await;
}

#[tokio::test]
async fn bad_paging_and_query_values_are_400() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let (status, body) = app.get(&s, "/api/v1/households?page_size=201").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(fields(&body), vec!["page_size"]);
    let (status, body) = app.get(&s, "/api/v1/households?page=0").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = app.get(&s, "/api/v1/regions?town_id=nope").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(fields(&body), vec!["town_id"]);
    let (status, body) = app.get(&s, "/api/v1/locate?lat=91&lon=117").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    app.stop().await;
}

#[tokio::test]
async fn unknown_api_paths_and_methods_answer_in_our_format() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let (status, body) = app.get(&s, "/api/v1/no-such-thing").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.call(&s, reqwest::Method::DELETE, "/api/v1/me", None).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let (status, body) = app.get(&s, "/api/v1/regions/not-a-uuid").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn every_page_of_a_list_is_stable_and_complete() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let mut seen = Vec::new();
    let mut total = 0;
    for page in 1..=20 {
        let (status, body) = app.get(&s, &format!("/api/v1/households?page={page}&page_size=200")).await;
        assert_eq!(status, StatusCode::OK);
        total = body["total"].as_u64().unwrap();
        let items = body["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        seen.extend(items.iter().map(|h| h["code"].as_str().unwrap().to_string()));
    }
    assert!(total > 2500, "{total}");
    assert_eq!(seen.len() as u64, total);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "pages are ordered by code without repeats");
    app.stop().await;
}

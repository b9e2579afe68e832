use reqwest::StatusCode;
use reqwest::header::{RETRY_AFTER, SET_COOKIE};
use serde_json::json;
use wuwei_server::Clock;

use crate::helpers::*;

#[tokio::test]
async fn login_sets_cookies_and_me_shows_roles_and_scopes() {
    let app = TestApp::demo().await;
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "gw01", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookies: Vec<String> =
        resp.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let session = cookies.iter().find(|c| c.starts_with("wuwei_session=")).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    assert!(!session.contains("Secure"), "not configured for TLS: {session}");
    let csrf = cookies.iter().find(|c| c.starts_with("wuwei_csrf=")).expect("csrf cookie");
    assert!(!csrf.contains("HttpOnly"), "scripts must read the CSRF cookie: {csrf}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("wws_"));

    let s = Session { token: body["token"].as_str().unwrap().into(), csrf: String::new(), user: body["user"].clone() };
    let (status, me) = app.get(&s, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "gw01");
    let roles = me["roles"].as_array().unwrap();
    assert!(!roles.is_empty());
    assert!(roles.iter().all(|r| r["role"] == "grid_worker" && r["scope"]["kind"] == "grid"));
    assert!(roles.iter().all(|r| r["scope"]["name"].as_str().unwrap().contains("网格")));
    assert_eq!(me["towns"].as_array().unwrap().len(), 1);
    assert_eq!(me["towns"][0]["is_demo"], true);
    let perms: Vec<&str> = me["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(perms.contains(&"households.read"));
    assert!(!perms.contains(&"users.write"));
    app.stop().await;
}

#[tokio::test]
async fn secure_cookies_when_configured_for_tls() {
    let app = TestApp::spawn_with(wuwei_server::ServerConfig { cookie_secure: true, ..Default::default() }).await;
    wuwei_server::demo::load_with(app.state.store(), app.clock.now(), wuwei_server::demo::DemoOptions::TOWN_ONLY)
        .await
        .unwrap();
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = TestApp::demo().await;
    let s = app.login("dispatcher1").await;
    let (status, _) = app.post(&s, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&s, "/api/v1/me").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    app.stop().await;
}

#[tokio::test]
async fn sessions_expire() {
    let app = TestApp::demo().await;
    let s = app.login("dispatcher1").await;
    app.clock.advance(chrono::Duration::hours(13));
    let (status, body) = app.get(&s, "/api/v1/me").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    app.stop().await;
}

#[tokio::test]
async fn wrong_password_is_401_and_five_failures_are_429_until_the_window_passes() {
    let app = TestApp::demo().await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": "townadmin", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        let resp = attempt("nope-nope").await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Even the right password is refused while blocked.
    let resp = attempt(PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers().get(RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(attempt(PASSWORD).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn unknown_users_get_the_same_answer_as_wrong_passwords() {
    let app = TestApp::demo().await;
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "nobody", "password": "whatever-long"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.stop().await;
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_header() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let town = app.town_id(&s).await;
    let cookie = format!("wuwei_session={}", s.token);
    let body = json!({"town_id": town, "kind": "area", "parent_id": town, "name": "北片区", "code": "DW-A9"});
    let without = app.http.post(app.url("/api/v1/regions")).header("cookie", &cookie).json(&body).send().await.unwrap();
    let status = without.status();
    let err: serde_json::Value = without.json().await.unwrap();
    assert_error(status, &err, StatusCode::FORBIDDEN, "csrf_failed");
    let wrong = app
        .http
        .post(app.url("/api/v1/regions"))
        .header("cookie", &cookie)
        .header("x-csrf-token", "not-the-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let with = app
        .http
        .post(app.url("/api/v1/regions"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &s.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::CREATED);
    // Reads need no CSRF token.
    let read = app.http.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn changing_ones_password_ends_sessions_and_needs_the_current_one() {
    let app = TestApp::demo().await;
    let s = app.login("gc1").await;
    let (status, body) = app
        .post(&s, "/api/v1/me/password", json!({"current_password": "wrong-one", "new_password": "a-new-secret"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["current_password"]);
    let (status, body) =
        app.post(&s, "/api/v1/me/password", json!({"current_password": PASSWORD, "new_password": "short"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["new_password"]);
    let (status, _) = app
        .post(&s, "/api/v1/me/password", json!({"current_password": PASSWORD, "new_password": "a-new-secret"}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&s, "/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "gc1", "password": "a-new-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn housekeeping_purges_long_expired_sessions_only() {
    let app = TestApp::demo().await;
    let old = app.login("dispatcher1").await;
    app.clock.advance(chrono::Duration::hours(40));
    let fresh = app.login("dispatcher2").await;
    let purged = wuwei_server::jobs::housekeeping(&app.state).await.unwrap();
    assert_eq!(purged, 1);
    assert_eq!(app.get(&old, "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(&fresh, "/api/v1/me").await.0, StatusCode::OK);
    app.stop().await;
}

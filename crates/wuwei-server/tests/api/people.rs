use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_town_admin_creates_a_grid_worker_who_can_sign_in() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let grid = app.region_by_code(&ta, "DW-AV02-NV01-G1").await;
    let (status, user) = app
        .post(
            &ta,
            "/api/v1/users",
            json!({"username": "gw-new", "display_name": "新网格员", "phone": "170 0000 0001", "password": "long-enough-pw",
                   "roles": [{"role": "grid_worker", "scope_id": grid["id"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["roles"][0]["scope"]["name"], grid["name"]);
    assert_eq!(user["home_town_id"], grid["town_id"]);
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "gw-new", "password": "long-enough-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/users",
            json!({"username": "gw-new", "display_name": "重名", "password": "long-enough-pw", "roles": [{"role": "grid_worker", "scope_id": grid["id"]}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate");
    assert_eq!(fields(&body), vec!["username"]);
    app.stop().await;
}

#[tokio::test]
async fn roles_must_match_their_scope_level_and_the_granters_scope() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let av = app.region_by_code(&ta, "371481107203").await;
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/users",
            json!({"username": "wrong-level", "display_name": "x", "password": "long-enough-pw",
            "roles": [{"role": "grid_worker", "scope_id": av["id"]}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["roles[0].scope_id"]);
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/users",
            json!({"username": "unknown-scope", "display_name": "x", "password": "long-enough-pw",
            "roles": [{"role": "village_cadre", "scope_id": "01900000-0000-7000-8000-000000000000"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/users",
            json!({"username": "no-such-role", "display_name": "x", "password": "long-enough-pw",
            "roles": [{"role": "emperor", "scope_id": av["id"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), vec!["roles[0].role"]);
    // A town admin cannot make a county admin.
    let (_, me) = app.get(&ta, "/api/v1/me").await;
    let city = me["towns"][0]["city"]["id"].clone();
    let (status, body) = app
        .post(
            &ta,
            "/api/v1/users",
            json!({"username": "escalate", "display_name": "x", "password": "long-enough-pw",
            "roles": [{"role": "county_admin", "scope_id": city}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // A dispatcher may read accounts but not create them.
    let d = app.login("dispatcher1").await;
    let (status, body) = app
        .post(
            &d,
            "/api/v1/users",
            json!({"username": "by-dispatcher", "display_name": "x", "password": "long-enough-pw",
            "roles": [{"role": "village_cadre", "scope_id": av["id"]}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, page) = app.get(&d, "/api/v1/users?role=grid_worker&page_size=100").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 76);
    app.stop().await;
}

#[tokio::test]
async fn grid_workers_cannot_list_accounts_and_cannot_see_one() {
    let app = TestApp::demo().await;
    let gw = app.login("gw02").await;
    let ta = app.login("townadmin").await;
    let (status, body) = app.get(&gw, "/api/v1/users").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.get(&gw, &format!("/api/v1/users/{}", ta.user["id"].as_str().unwrap())).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions_and_blocks_sign_in() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let victim = app.login("vc3").await;
    let id = victim.user["id"].as_str().unwrap();
    let (status, user) = app.get(&ta, &format!("/api/v1/users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, updated) =
        app.patch(&ta, &format!("/api/v1/users/{id}"), json!({"version": user["version"], "disabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["disabled"], true);
    let (status, _) = app.get(&victim, "/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "vc3", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Nobody disables themselves by accident.
    let me = ta.user["id"].as_str().unwrap();
    let (_, mine) = app.get(&ta, &format!("/api/v1/users/{me}")).await;
    let (status, body) =
        app.patch(&ta, &format!("/api/v1/users/{me}"), json!({"version": mine["version"], "disabled": true})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_resets_a_password_and_old_sessions_end() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let worker = app.login("gw05").await;
    let id = worker.user["id"].as_str().unwrap();
    let (status, _) =
        app.post(&ta, &format!("/api/v1/users/{id}/password"), json!({"password": "brand-new-pass"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&worker, "/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A county account is beyond a town admin.
    let (_, page) = app.get(&ta, "/api/v1/users?q=admin").await;
    assert!(page["items"].as_array().unwrap().iter().all(|u| u["username"] != "admin"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn the_role_catalogue_lists_every_role() {
    let app = TestApp::demo().await;
    let s = app.login("townadmin").await;
    let (status, roles) = app.get(&s, "/api/v1/roles").await;
    assert_eq!(status, StatusCode::OK);
    let roles = roles.as_array().unwrap();
    assert_eq!(roles.len(), 18);
    let gw = roles.iter().find(|r| r["role"] == "grid_worker").unwrap();
    assert_eq!(gw["scope_kinds"], json!(["grid"]));
    assert_eq!(gw["field_role"], true);
    app.stop().await;
}

/// Sessions are kept in memory between requests (`auth::SessionCache`): a change of roles or a
/// disabled account must still be seen by the very next request of a session just used.
#[tokio::test]
async fn a_session_in_use_sees_new_roles_and_a_disabled_account_at_once() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let worker = app.login("gw05").await;
    let id = worker.user["id"].as_str().unwrap();
    // Used twice, so its principal is the remembered one.
    for _ in 0..2 {
        let (status, me) = app.get(&worker, "/api/v1/me").await;
        assert_eq!(status, StatusCode::OK);
        assert!(me["roles"].as_array().unwrap().iter().all(|r| r["role"] == "grid_worker"), "{me}");
    }
    let (_, user) = app.get(&ta, &format!("/api/v1/users/{id}")).await;
    let village = app.region_by_code(&ta, "371481107201").await;
    let (status, updated) = app
        .patch(
            &ta,
            &format!("/api/v1/users/{id}"),
            json!({"version": user["version"], "roles": [{"role": "village_cadre", "scope_id": village["id"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (status, me) = app.get(&worker, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    let roles = me["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{me}");
    assert_eq!(roles[0]["role"], "village_cadre");
    let (status, updated) =
        app.patch(&ta, &format!("/api/v1/users/{id}"), json!({"version": updated["version"], "disabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (status, body) = app.get(&worker, "/api/v1/me").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    app.stop().await;
}

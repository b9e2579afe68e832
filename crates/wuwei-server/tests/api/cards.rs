//! Household cards: issued once per household (the previous revoked), printed per village,
//! and card sign-in to a long resident session; revoked and unknown cards are 401.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

pub async fn a_household(app: &TestApp, s: &Session) -> Value {
    let (status, page) = app.get(s, "/api/v1/households?page_size=5").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

/// Issue a card for `household` as the town admin; returns the token.
pub async fn issue(app: &TestApp, ta: &Session, household_id: &str) -> String {
    let (status, body) = app.post(ta, &format!("/api/v1/households/{household_id}/card"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["card"]["active"], true);
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["link"], format!("/m/call?card={token}"));
    token
}

async fn card_login(app: &TestApp, token: &str) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let resp = app.http.post(app.url("/api/v1/auth/card")).json(&json!({"token": token})).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

/// Sign in with a card; the session of the household's resident account.
pub async fn sign_in(app: &TestApp, token: &str) -> Session {
    let (status, body, _) = card_login(app, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Session {
        token: body["token"].as_str().unwrap().to_string(),
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
        user: body["user"].clone(),
    }
}

#[tokio::test]
async fn a_card_signs_a_phone_in_to_its_household_for_half_a_year() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let hid = home["id"].as_str().unwrap();
    let (status, before) = app.get(&ta, &format!("/api/v1/households/{hid}/card")).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["active"], false);

    let token = issue(&app, &ta, hid).await;
    assert!(token.starts_with("wwc_") && token.len() == 47, "{token}");
    let (status, body, headers) = card_login(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("wuwei_session=")));
    let roles = body["user"]["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{body}");
    assert_eq!(roles[0]["role"], "resident");
    assert_eq!(roles[0]["scope"]["id"], home["id"]);
    assert_eq!(body["user"]["display_name"], home["head_name"]);
    let expires: chrono::DateTime<chrono::Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((expires - start_time()).num_days(), 180);

    // The session works; the same card again (as the whole link) is the same account.
    let first =
        Session { token: body["token"].as_str().unwrap().into(), csrf: String::new(), user: body["user"].clone() };
    let (status, me) = app.get(&first, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], body["user"]["id"]);
    let again = sign_in(&app, &format!("https://wuwei.example.cn/m/call?card={token}")).await;
    assert_eq!(again.user["id"], body["user"]["id"]);
    let (_, after) = app.get(&ta, &format!("/api/v1/households/{hid}/card")).await;
    assert_eq!(after["active"], true);
    assert!(after["last_used_at"].is_string(), "{after}");
    assert!(!after.to_string().contains(&token), "the token is never shown again");

    // Issued and signed in: audited.
    let (_, audit) = app.get(&app.login("admin").await, &format!("/api/v1/audit?entity_id={hid}")).await;
    assert!(audit.to_string().contains("household_card.issue"), "{audit}");
}

#[tokio::test]
async fn a_revoked_or_replaced_card_is_refused_and_its_sessions_end() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let hid = home["id"].as_str().unwrap();
    let old = issue(&app, &ta, hid).await;
    let phone = sign_in(&app, &old).await;

    // Re-issuing revokes the previous card and ends its sessions.
    let new = issue(&app, &ta, hid).await;
    assert_ne!(old, new);
    let (status, body, _) = card_login(&app, &old).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_card");
    let (status, _) = app.get(&phone, "/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let phone = sign_in(&app, &new).await;

    // Revoking: 204, then the card is 401 and the phone is signed out; revoking again is 404.
    let (status, _) = app.call(&ta, reqwest::Method::DELETE, &format!("/api/v1/households/{hid}/card"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = card_login(&app, &new).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_card");
    let (status, _) = app.get(&phone, "/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.call(&ta, reqwest::Method::DELETE, &format!("/api/v1/households/{hid}/card"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, st) = app.get(&ta, &format!("/api/v1/households/{hid}/card")).await;
    assert_eq!(st["active"], false);
    assert!(st["revoked_at"].is_string());
}

#[tokio::test]
async fn bad_cards_are_refused_and_rate_limited() {
    let app = TestApp::demo().await;
    // Syntax and shape.
    let resp = app
        .http
        .post(app.url("/api/v1/auth/card"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (status, body, _) = card_login(&app, "").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["token"]);
    let (status, body, _) = card_login(&app, &"x".repeat(513)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Well-formed but unknown, and malformed: the same 401 (counted).
    let unknown = format!("wwc_{}", "A".repeat(43));
    let (status, body, _) = card_login(&app, &unknown).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_card");
    for bad in ["wwt_nope", "https://evil/m/call?card=wwc_short", "hello", "wwc_"] {
        let (status, body, _) = card_login(&app, bad).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_card");
    }
    // Five failures from one address: the sixth attempt is 429 with Retry-After, even with a
    // good card.
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let good = issue(&app, &ta, home["id"].as_str().unwrap()).await;
    let (status, body, headers) = card_login(&app, &good).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert!(headers.get("retry-after").is_some());
    app.clock.advance(chrono::Duration::minutes(11));
    sign_in(&app, &good).await;
}

#[tokio::test]
async fn only_household_writers_issue_cards() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let hid = home["id"].as_str().unwrap();
    let res = app.login("res1").await;
    let (status, body) = app.post(&res, &format!("/api/v1/households/{hid}/card"), json!({})).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{status} {body}");
    let (status, body) = app.post(&ta, &format!("/api/v1/households/{}/card", uuid::Uuid::now_v7()), json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_village_sheet_issues_fresh_cards_for_every_household_at_once() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let home = a_household(&app, &ta).await;
    let village = home["admin_village"]["id"].as_str().unwrap().to_string();
    let old = issue(&app, &ta, home["id"].as_str().unwrap()).await;

    let (status, sheet) = app.post(&ta, &format!("/api/v1/admin-villages/{village}/cards"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{sheet}");
    let cards = sheet["cards"].as_array().unwrap();
    let (_, households) = app.get(&ta, &format!("/api/v1/households?region_id={village}&page_size=1")).await;
    assert_eq!(cards.len() as u64, households["total"].as_u64().unwrap());
    assert!(cards.len() > 10, "{}", cards.len());
    assert_eq!(sheet["village"]["id"], village.as_str());
    let codes: Vec<&str> = cards.iter().map(|c| c["household_code"].as_str().unwrap()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted, "ordered by household code");
    let mut tokens: Vec<&str> = cards.iter().map(|c| c["token"].as_str().unwrap()).collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), cards.len(), "every card its own token");
    for c in cards {
        assert_eq!(c["link"], format!("/m/call?card={}", c["token"].as_str().unwrap()));
        assert!(c["head_name"].is_string() && c["address"].is_string());
    }
    // The card printed before is void; the sheet's card of that household works.
    let (status, body, _) = card_login(&app, &old).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_card");
    let mine = cards.iter().find(|c| c["household_id"] == home["id"]).unwrap();
    let s = sign_in(&app, mine["token"].as_str().unwrap()).await;
    assert_eq!(s.user["roles"][0]["scope"]["id"], home["id"]);

    // Not an admin village → 404; a resident → refused.
    let (status, body) =
        app.post(&ta, &format!("/api/v1/admin-villages/{}/cards", home["id"].as_str().unwrap()), json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app.post(&s, &format!("/api/v1/admin-villages/{village}/cards"), json!({})).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND);
}

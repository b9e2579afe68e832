use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use wuwei_store::Backend;

use crate::helpers::*;

#[tokio::test]
async fn every_change_is_audited_with_before_and_after() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let nv = app.region_by_code(&ta, "DW-AV04-NV01").await;
    let id = nv["id"].as_str().unwrap();
    let (status, _) =
        app.patch(&ta, &format!("/api/v1/regions/{id}"), json!({"version": nv["version"], "name": "新名字"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) = app.get(&ta, &format!("/api/v1/audit?entity_type=region&entity_id={id}")).await;
    assert_eq!(status, StatusCode::OK);
    let entries = page["items"].as_array().unwrap();
    let update = entries.iter().find(|e| e["action"] == "region.update").expect("an update entry");
    assert_eq!(update["actor_name"], "townadmin");
    assert_eq!(update["summary"]["before"]["name"], nv["name"]);
    assert_eq!(update["summary"]["after"]["name"], "新名字");
    assert_eq!(update["hash"].as_str().unwrap().len(), 64);
    // Sign-ins are in the trail too.
    let (_, logins) = app.get(&ta, "/api/v1/audit?entity_type=session").await;
    assert!(logins["total"].as_u64().unwrap() >= 1);
    // Grid workers do not read the trail.
    let gw = app.login("gw01").await;
    let (status, body) = app.get(&gw, "/api/v1/audit").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_audit_records() {
    let app = TestApp::demo().await;
    let db = app.state.store().db();
    assert!(db.execute_unprepared("UPDATE audit_log SET actor_name = 'mallory'").await.is_err());
    assert!(db.execute_unprepared("DELETE FROM audit_log").await.is_err());
    app.stop().await;
}

#[tokio::test]
async fn verify_finds_the_first_edited_record() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    for code in ["DW-AV05-NV01", "DW-AV05-NV02", "DW-AV05-NV03"] {
        let r = app.region_by_code(&ta, code).await;
        let (status, _) = app
            .patch(
                &ta,
                &format!("/api/v1/regions/{}", r["id"].as_str().unwrap()),
                json!({"version": r["version"], "name": format!("{code}改")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, ok) = app.get(&ta, "/api/v1/audit/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["ok"], true, "{ok}");
    let checked = ok["checked"].as_u64().unwrap();
    assert!(checked > 250, "{ok}");

    // Someone with database access edits one record behind our back.
    let (_, page) = app.get(&ta, "/api/v1/audit?entity_type=region&page_size=200").await;
    let victim = page["items"].as_array().unwrap().iter().find(|e| e["action"] == "region.update").unwrap().clone();
    let db = app.state.store().db();
    match app.state.store().backend() {
        Backend::Sqlite => db.execute_unprepared("DROP TRIGGER audit_log_no_update").await.unwrap(),
        Backend::Postgres => {
            db.execute_unprepared("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only").await.unwrap()
        }
    };
    db.execute_unprepared(&format!(
        "UPDATE audit_log SET actor_name = 'someone-else' WHERE chain = '{}' AND seq = {}",
        victim["chain"].as_str().unwrap(),
        victim["seq"]
    ))
    .await
    .unwrap();
    let (_, broken) = app.get(&ta, "/api/v1/audit/verify").await;
    assert_eq!(broken["ok"], false);
    assert_eq!(broken["first_broken"]["seq"], victim["seq"]);
    assert!(broken["first_broken"]["reason"].as_str().unwrap().contains("edited"), "{broken}");
    app.stop().await;
}

#[tokio::test]
async fn verify_finds_a_deleted_record() {
    let app = TestApp::demo().await;
    let ta = app.login("townadmin").await;
    let db = app.state.store().db();
    match app.state.store().backend() {
        Backend::Sqlite => db.execute_unprepared("DROP TRIGGER audit_log_no_delete").await.unwrap(),
        Backend::Postgres => {
            db.execute_unprepared("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only").await.unwrap()
        }
    };
    let town = app.town_id(&ta).await;
    db.execute_unprepared(&format!("DELETE FROM audit_log WHERE chain = '{town}' AND seq = 5")).await.unwrap();
    let (_, broken) = app.get(&ta, "/api/v1/audit/verify").await;
    assert_eq!(broken["ok"], false);
    assert_eq!(broken["first_broken"]["seq"], 6, "{broken}");
    app.stop().await;
}

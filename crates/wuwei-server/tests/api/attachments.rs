//! Photos and voice notes on cases: checked by content, limited, stored, served to those who may
//! read the case.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::*;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(app: &TestApp, s: &Session, case_id: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/cases/{case_id}/attachments")))
        .bearer_auth(&s.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn new_case(app: &TestApp, s: &Session, category_code: &str) -> Value {
    let town = s.user["towns"][0]["id"].as_str().unwrap().to_string();
    let (_, cats) = app.get(s, &format!("/api/v1/towns/{town}/categories")).await;
    let cat = cats.as_array().unwrap().iter().find(|c| c["code"] == category_code).unwrap()["id"].clone();
    let (_, page) = app.get(s, "/api/v1/households?page_size=1").await;
    let h = &page["items"][0];
    let (status, case) = app
        .post(s, "/api/v1/cases", json!({"category_id": cat, "title": "垃圾堆放", "lat": h["lat"], "lon": h["lon"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case
}

#[tokio::test]
async fn a_photo_is_stored_thumbnailed_and_served_in_scope_only() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let case = new_case(&app, &gw, "garbage").await;
    let id = case["id"].as_str().unwrap();
    let photo = png(1600, 900);
    // The name says .txt: only the content counts.
    let (status, up) = upload(&app, &gw, id, "photo.txt", photo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    assert_eq!(up["attachment"]["kind"], "photo");
    assert_eq!(up["attachment"]["mime"], "image/png");
    assert_eq!(up["attachment"]["width"], 1600);
    let content =
        app.http.get(app.url(up["attachment"]["url"].as_str().unwrap())).bearer_auth(&gw.token).send().await.unwrap();
    assert_eq!(content.headers()["content-type"], "image/png");
    assert_eq!(content.bytes().await.unwrap().to_vec(), photo);
    let thumb = app
        .http
        .get(app.url(up["attachment"]["thumbnail_url"].as_str().unwrap()))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let t = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((t.width(), t.height()), (320, 180));
    let (_, detail) = app.get(&gw, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail["photo_count"], 1);
    assert_eq!(detail["attachments"].as_array().unwrap().len(), 1);
    assert!(detail["timeline"].as_array().unwrap().iter().any(|e| e["action"] == "attach"));
    // Someone who may not read the case sees neither the case nor its photo.
    let other = app.login("gw02").await;
    let resp = app
        .http
        .get(app.url(up["attachment"]["url"].as_str().unwrap()))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (status, body) = upload(&app, &other, id, "x.png", png(10, 10)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn non_images_oversized_bodies_and_a_tenth_photo_are_refused() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let case = new_case(&app, &gw, "garbage").await;
    let id = case["id"].as_str().unwrap();
    let (status, body) = upload(&app, &gw, id, "photo.jpg", b"this is not an image at all".to_vec()).await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let (status, body) = upload(&app, &gw, id, "big.jpg", vec![0u8; 50 * 1024 * 1024]).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    for i in 0..9 {
        let (status, body) = upload(&app, &gw, id, "p.png", png(20 + i, 20)).await;
        assert_eq!(status, StatusCode::CREATED, "photo {i}: {body}");
    }
    let (status, body) = upload(&app, &gw, id, "tenth.png", png(40, 40)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["file"]);
    app.stop().await;
}

#[tokio::test]
async fn resolving_a_category_that_needs_a_photo_needs_one() {
    let app = TestApp::demo().await;
    let gw = app.login("gw01").await;
    let dispatcher = app.login("dispatcher1").await;
    let case = new_case(&app, &gw, "garbage").await;
    let id = case["id"].as_str().unwrap().to_string();
    let step = |s: &Session, body: Value| {
        let app = &app;
        let s = s.clone();
        let id = id.clone();
        async move {
            let (_, current) = app.get(&s, &format!("/api/v1/cases/{id}")).await;
            let mut body = body;
            body["version"] = current["version"].clone();
            app.post(&s, &format!("/api/v1/cases/{id}/actions"), body).await
        }
    };
    assert_eq!(step(&dispatcher, json!({"action": "accept"})).await.0, StatusCode::OK);
    assert_eq!(step(&dispatcher, json!({"action": "dispatch"})).await.0, StatusCode::OK);
    assert_eq!(step(&gw, json!({"action": "start"})).await.0, StatusCode::OK);
    let (status, body) = step(&gw, json!({"action": "resolve", "result_note": "已清理"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&body), vec!["attachment_ids"]);
    let (status, _) = upload(&app, &gw, &id, "after.png", png(64, 48)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, done) = step(&gw, json!({"action": "resolve", "result_note": "已清理"})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "resolved");
    app.stop().await;
}

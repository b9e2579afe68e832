//! Open311 GeoReport v2 at /open311/v2, as a third-party client sees it: both formats (the XML
//! parsed back by an independent parser), the spec's errors, and the mapping onto cases.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const TOWN_CODE: &str = "371481107";

/// A raw answer: status, content type and body text.
async fn fetch(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, resp.text().await.unwrap())
}

/// A JSON answer (no key: reads are public).
async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let (status, ct, text) = fetch(app, path).await;
    if path.contains(".json") {
        assert_eq!(ct, "application/json; charset=utf-8", "{path}");
    }
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")))
}

/// An XML answer, parsed back by an independent, strict XML 1.0 parser.
async fn get_xml(app: &TestApp, path: &str) -> (StatusCode, String) {
    let (status, ct, text) = fetch(app, path).await;
    assert_eq!(ct, "text/xml; charset=utf-8", "{path}");
    assert_well_formed(&text);
    (status, text)
}

fn assert_well_formed(text: &str) {
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"), "declaration: {text}");
    if let Err(e) = roxmltree::Document::parse(text) {
        panic!("not well-formed XML ({e}): {text}");
    }
}

/// The children elements of `node` named `name`.
fn children<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    node.children().filter(|c| c.is_element() && c.has_tag_name(name)).collect()
}

/// The text of the child element `name` ("" when empty, None when absent).
fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    children(node, name).first().map(|c| c.text().unwrap_or("").to_string())
}

/// POST a form to /open311/v2/requests.{format}.
async fn post_form(app: &TestApp, format: &str, fields: &[(&str, String)]) -> (StatusCode, String) {
    let resp = app.http.post(app.url(&format!("/open311/v2/requests.{format}"))).form(fields).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    if format == "xml" {
        assert_well_formed(&text);
    }
    (status, text)
}

/// The spec's JSON error: `[{"code": <status>, "description": "..."}]` with that HTTP status.
fn assert_spec_error(status: StatusCode, body: &str, want: StatusCode) -> String {
    assert_eq!(status, want, "{body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let errors = v.as_array().unwrap_or_else(|| panic!("errors are a list: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], json!(want.as_u16()), "{body}");
    let d = errors[0]["description"].as_str().unwrap_or_else(|| panic!("description: {body}"));
    assert!(!d.is_empty());
    d.to_string()
}

/// The spec's XML error: `<errors><error><code/><description/></error></errors>`.
fn assert_spec_error_xml(status: StatusCode, body: &str, want: StatusCode) {
    assert_eq!(status, want, "{body}");
    let doc = roxmltree::Document::parse(body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "errors");
    let errors = children(root, "error");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(child_text(errors[0], "code").as_deref(), Some(want.as_str()));
    assert!(child_text(errors[0], "description").is_some_and(|d| !d.is_empty()), "{body}");
}

/// An API token (`wwt_…`) with `role` over the demo town (or, for roles bound lower, its first
/// admin village), made by the town administrator.
async fn api_key(app: &TestApp, role: &str) -> (String, String) {
    let ta = app.login("townadmin").await;
    let scope = match role {
        "store_clerk" => {
            let (_, page) = app.get(&ta, "/api/v1/regions?kind=admin_village&page_size=1").await;
            page["items"][0]["id"].as_str().unwrap().to_string()
        }
        _ => app.town_id(&ta).await,
    };
    let (status, created) = app
        .post(&ta, "/api/v1/api-tokens", json!({"name": "Open311 应用", "roles": [{"role": role, "scope_id": scope}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["token"].as_str().unwrap().to_string(), created["api_token"]["id"].as_str().unwrap().to_string())
}

/// A point inside the grid worker gw01's grid (one of its households).
async fn a_point(app: &TestApp) -> (String, String) {
    let gw = app.login("gw01").await;
    let (_, page) = app.get(&gw, "/api/v1/households?page_size=1").await;
    let h = &page["items"][0];
    (h["lat"].as_f64().unwrap().to_string(), h["lon"].as_f64().unwrap().to_string())
}

/// Report through Open311 (JSON), returning the new `service_request_id`.
async fn report(app: &TestApp, key: &str, service: &str, point: &(String, String), description: &str) -> String {
    let (status, body) = post_form(
        app,
        "json",
        &[
            ("api_key", key.to_string()),
            ("jurisdiction_id", TOWN_CODE.to_string()),
            ("service_code", service.to_string()),
            ("lat", point.0.clone()),
            ("long", point.1.clone()),
            ("description", description.to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v[0]["service_request_id"].as_str().unwrap().to_string()
}

/// The case behind a `service_request_id`, as the dispatcher sees it.
async fn case_of(app: &TestApp, s: &Session, number: &str) -> Value {
    let (status, page) = app.get(s, &format!("/api/v1/cases?q={number}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    app.get(s, &format!("/api/v1/cases/{id}")).await.1
}

async fn act(app: &TestApp, s: &Session, case: &Value, mut body: Value) -> Value {
    body["version"] = case["version"].clone();
    let (status, out) = app.post(s, &format!("/api/v1/cases/{}/actions", case["id"].as_str().unwrap()), body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    out
}

/// One request as the public sees it now.
async fn notes(app: &TestApp, number: &str) -> Value {
    let (status, one) = get_json(app, &format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    one[0].clone()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn services_are_the_towns_categories_in_json_and_xml() {
    let app = TestApp::demo().await;
    let (status, services) = get_json(&app, "/open311/v2/services.json").await;
    assert_eq!(status, StatusCode::OK, "{services}");
    let list = services.as_array().unwrap();
    let garbage = list.iter().find(|s| s["service_code"] == "garbage").unwrap();
    assert_eq!(garbage["service_name"], "垃圾堆放");
    assert!(garbage["description"].as_str().unwrap().contains("Rubbish dumping"), "{garbage}");
    assert_eq!(garbage["group"], "环境卫生", "a sub-category sits in its parent's group");
    assert_eq!(garbage["metadata"], true);
    assert_eq!(garbage["type"], "realtime");
    assert!(garbage["keywords"].as_str().unwrap().contains("Rubbish dumping"));
    let environment = list.iter().find(|s| s["service_code"] == "environment").unwrap();
    assert_eq!(environment["group"], "环境卫生", "a parent leads its own group");
    let water = list.iter().find(|s| s["service_code"] == "water_power").unwrap();
    assert_eq!(water["group"], Value::Null, "a category alone has no group");
    assert!(!list.iter().any(|s| s["service_code"] == "neighbour_dispute"), "disputes are not public");
    let fields = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"];
    for s in list {
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), fields.len(), "{s}");
        assert!(fields.iter().all(|f| keys.contains(f)), "{s}");
    }

    // The same list in XML, with the jurisdiction named.
    let (status, text) = get_xml(&app, &format!("/open311/v2/services.xml?jurisdiction_id={TOWN_CODE}")).await;
    assert_eq!(status, StatusCode::OK);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "services");
    let xml_services = children(root, "service");
    assert_eq!(xml_services.len(), list.len());
    let g = xml_services.iter().find(|s| child_text(**s, "service_code").as_deref() == Some("garbage")).unwrap();
    assert_eq!(child_text(*g, "service_name").as_deref(), Some("垃圾堆放"));
    assert_eq!(child_text(*g, "metadata").as_deref(), Some("true"));
    assert_eq!(child_text(*g, "type").as_deref(), Some("realtime"));
    assert_eq!(child_text(*g, "group").as_deref(), Some("环境卫生"));
    for f in fields {
        assert!(child_text(*g, f).is_some(), "<{f}> in every service");
    }

    // An unknown jurisdiction is 404 in the spec's form, in both formats.
    let (status, _, body) = fetch(&app, "/open311/v2/services.json?jurisdiction_id=sfgov.org").await;
    let d = assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    assert!(d.contains("jurisdiction_id"), "{d}");
    let (status, body) = get_xml(&app, "/open311/v2/services.xml?jurisdiction_id=sfgov.org").await;
    assert_spec_error_xml(status, &body, StatusCode::NOT_FOUND);
    // An empty parameter is the same as none (the spec's "optional").
    let (status, again) = get_json(&app, "/open311/v2/services.json?jurisdiction_id=").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, services);
    app.stop().await;
}

#[tokio::test]
async fn a_service_definition_offers_the_priority_attribute() {
    let app = TestApp::demo().await;
    let (status, def) = get_json(&app, "/open311/v2/services/garbage.json").await;
    assert_eq!(status, StatusCode::OK, "{def}");
    assert_eq!(def["service_code"], "garbage");
    let attrs = def["attributes"].as_array().unwrap();
    assert_eq!(attrs.len(), 1);
    let a = &attrs[0];
    assert_eq!(a["variable"], true);
    assert_eq!(a["code"], "priority");
    assert_eq!(a["datatype"], "singlevaluelist");
    assert_eq!(a["required"], false);
    assert_eq!(a["order"], 1);
    assert!(a["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(a["datatype_description"].is_string());
    let keys: Vec<&str> = a["values"].as_array().unwrap().iter().map(|v| v["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["urgent", "high", "normal"]);
    assert!(a["values"][0]["name"].as_str().is_some_and(|n| !n.is_empty()));

    let (status, text) = get_xml(&app, "/open311/v2/services/garbage.xml").await;
    assert_eq!(status, StatusCode::OK);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "service_definition");
    assert_eq!(child_text(root, "service_code").as_deref(), Some("garbage"));
    let attributes = children(root, "attributes");
    let attribute = children(attributes[0], "attribute");
    assert_eq!(attribute.len(), 1);
    assert_eq!(child_text(attribute[0], "code").as_deref(), Some("priority"));
    assert_eq!(child_text(attribute[0], "order").as_deref(), Some("1"));
    let values = children(children(attribute[0], "values")[0], "value");
    assert_eq!(values.len(), 3);
    assert_eq!(child_text(values[0], "key").as_deref(), Some("urgent"));

    // Unknown (and non-public) services are 404 in the spec's form.
    let (status, _, body) = fetch(&app, "/open311/v2/services/pothole.json").await;
    assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    let (status, _, body) = fetch(&app, "/open311/v2/services/neighbour_dispute.json").await;
    assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = get_xml(&app, "/open311/v2/services/pothole.xml").await;
    assert_spec_error_xml(status, &body, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_key_holder_reports_a_case_that_the_dispatcher_sees_as_open311() {
    let app = TestApp::demo().await;
    let (key, _) = api_key(&app, "dispatcher").await;
    let point = a_point(&app).await;
    let (status, body) = post_form(
        &app,
        "json",
        &[
            ("api_key", key.clone()),
            ("jurisdiction_id", TOWN_CODE.into()),
            ("service_code", "garbage".into()),
            ("lat", point.0.clone()),
            ("long", point.1.clone()),
            ("address_string", "村东头大槐树下".into()),
            ("description", "路边垃圾堆了一个星期，气味很大，请尽快清理。第二句话不会进标题。\n第二行".into()),
            ("attribute[priority]", "high".into()),
            ("first_name", "三".into()),
            ("last_name", "张".into()),
            ("phone", "(138) 0000-1111".into()),
            ("email", "zhang@example.com".into()),
            ("device_id", "tt222111".into()),
            ("media_url", "https://example.com/p/1.jpg".into()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let answer = v.as_array().unwrap();
    assert_eq!(answer.len(), 1);
    let number = answer[0]["service_request_id"].as_str().unwrap().to_string();
    assert!(number.starts_with("DW-20261128-"), "{number}");
    assert!(answer[0].get("token").is_none(), "a realtime service returns no token");
    assert!(answer[0]["service_notice"].as_str().unwrap().contains(&number));
    assert_eq!(answer[0]["account_id"], Value::Null);

    let d = app.login("dispatcher1").await;
    let (_, page) = app.get(&d, "/api/v1/cases?source=open311").await;
    assert_eq!(page["total"], 1, "{page}");
    let case = case_of(&app, &d, &number).await;
    assert_eq!(case["source"], "open311");
    assert_eq!(case["state"], "reported");
    assert_eq!(case["priority"], "high");
    assert_eq!(case["category"]["code"], "garbage");
    assert_eq!(
        case["title"],
        "路边垃圾堆了一个星期，气味很大，请尽快清理。第二句话不会进标题。".chars().take(40).collect::<String>()
    );
    assert!(case["description"].as_str().unwrap().ends_with("https://example.com/p/1.jpg"), "{}", case["description"]);
    assert_eq!(case["address"], "村东头大槐树下");
    assert!(case["grid"]["id"].is_string(), "located from lat/long: {case}");
    assert_eq!(case["reporter"]["name"], "张三");
    assert_eq!(case["reporter"]["phone"], "138 0000-1111", "the dispatcher may call back");

    // The answer in XML; an address alone (no coordinates) is a location too.
    let (status, text) = post_form(
        &app,
        "xml",
        &[
            ("api_key", key.clone()),
            ("service_code", "streetlight".into()),
            ("address_string", "丁坞村文化广场".into()),
            ("description", "路灯不亮".into()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let request = children(doc.root_element(), "request");
    assert_eq!(request.len(), 1);
    let second = child_text(request[0], "service_request_id").unwrap();
    assert_eq!(child_text(request[0], "account_id").as_deref(), Some(""));
    let case = case_of(&app, &d, &second).await;
    assert_eq!(case["source"], "open311");
    assert_eq!(case["priority"], "normal", "normal unless asked");
    assert_eq!(case["lat"], Value::Null);
    assert_eq!(case["address"], "丁坞村文化广场");
    // Without a description the title is the service's name.
    let (status, body) = post_form(
        &app,
        "json",
        &[("api_key", key), ("service_code", "streetlight".into()), ("lat", point.0), ("long", point.1)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let case = case_of(&app, &d, v[0]["service_request_id"].as_str().unwrap()).await;
    assert_eq!(case["title"], "路灯损坏");
    app.stop().await;
}

#[tokio::test]
async fn bad_reports_get_the_specs_errors_and_make_no_case() {
    let app = TestApp::demo().await;
    let (key, key_id) = api_key(&app, "dispatcher").await;
    let (clerk_key, _) = api_key(&app, "store_clerk").await;
    let point = a_point(&app).await;
    let base = |key: &str| {
        vec![
            ("api_key", key.to_string()),
            ("service_code", "garbage".to_string()),
            ("lat", point.0.clone()),
            ("long", point.1.clone()),
            ("description", "测试".to_string()),
        ]
    };
    let without = |fields: Vec<(&'static str, String)>, name: &str| {
        fields.into_iter().filter(|(k, _)| *k != name).collect::<Vec<_>>()
    };
    let with = |mut fields: Vec<(&'static str, String)>, name: &'static str, value: &str| {
        fields.retain(|(k, _)| *k != name);
        fields.push((name, value.to_string()));
        fields
    };

    // No api_key: 403, the spec's "missing or invalid API key", in both formats.
    let (status, body) = post_form(&app, "json", &without(base(&key), "api_key")).await;
    let d = assert_spec_error(status, &body, StatusCode::FORBIDDEN);
    assert!(d.contains("api_key"), "{d}");
    let (status, body) = post_form(&app, "xml", &without(base(&key), "api_key")).await;
    assert_spec_error_xml(status, &body, StatusCode::FORBIDDEN);
    // A wrong key, and a session token instead of an API token.
    let (status, body) = post_form(&app, "json", &base("wwt_not-a-real-token")).await;
    assert_spec_error(status, &body, StatusCode::FORBIDDEN);
    let session = app.login("dispatcher1").await;
    let (status, body) = post_form(&app, "json", &base(&session.token)).await;
    assert_spec_error(status, &body, StatusCode::FORBIDDEN);
    // A key whose roles may not report.
    let (status, body) = post_form(&app, "json", &base(&clerk_key)).await;
    assert_spec_error(status, &body, StatusCode::FORBIDDEN);

    // Wrong or missing service_code: 404 and 400, as the spec lists them.
    let (status, body) = post_form(&app, "json", &with(base(&key), "service_code", "pothole")).await;
    let d = assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    assert!(d.contains("pothole"), "{d}");
    let (status, body) = post_form(&app, "xml", &with(base(&key), "service_code", "pothole")).await;
    assert_spec_error_xml(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = post_form(&app, "json", &with(base(&key), "service_code", "neighbour_dispute")).await;
    assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = post_form(&app, "json", &without(base(&key), "service_code")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    // An unknown jurisdiction.
    let (status, body) = post_form(&app, "json", &with(base(&key), "jurisdiction_id", "sfgov.org")).await;
    assert_spec_error(status, &body, StatusCode::NOT_FOUND);

    // Locations: outside the town, half a point, none, unparseable.
    let beijing = with(with(base(&key), "lat", "39.9"), "long", "116.4");
    let (status, body) = post_form(&app, "json", &beijing).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(&app, "xml", &beijing).await;
    assert_spec_error_xml(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(&app, "json", &without(base(&key), "long")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(&app, "json", &without(without(base(&key), "lat"), "long")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) =
        post_form(&app, "json", &with(without(without(base(&key), "lat"), "long"), "address_id", "545483")).await;
    assert!(assert_spec_error(status, &body, StatusCode::BAD_REQUEST).contains("address_id"));
    let (status, body) = post_form(&app, "json", &with(base(&key), "lat", "north")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);

    // Attributes, text and contact details that cannot be taken.
    let (status, body) = post_form(&app, "json", &with(base(&key), "attribute[priority]", "whenever")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(&app, "json", &with(base(&key), "description", &"长".repeat(4001))).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(&app, "json", &with(base(&key), "media_url", "javascript:alert(1)")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(&app, "json", &with(base(&key), "phone", "call me")).await;
    assert_spec_error(status, &body, StatusCode::BAD_REQUEST);

    // Not a form: 400 in the spec's form.
    let resp = app
        .http
        .post(app.url("/open311/v2/requests.json"))
        .json(&json!({"api_key": key, "service_code": "garbage", "lat": 37.7, "long": 117.2}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_spec_error(status, &resp.text().await.unwrap(), StatusCode::BAD_REQUEST);
    // A body over the limit: 413 in the spec's form.
    let big = with(base(&key), "description", &"x".repeat(70 * 1024));
    let (status, body) = post_form(&app, "json", &big).await;
    assert_spec_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);

    // A revoked key stops working.
    let ta = app.login("townadmin").await;
    let (status, _) = app.call(&ta, reqwest::Method::DELETE, &format!("/api/v1/api-tokens/{key_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = post_form(&app, "json", &base(&key)).await;
    assert_spec_error(status, &body, StatusCode::FORBIDDEN);

    // None of it made a case.
    let (_, page) = app.get(&session, "/api/v1/cases?source=open311").await;
    assert_eq!(page["total"], 0, "{page}");
    app.stop().await;
}

#[tokio::test]
async fn requests_are_filtered_by_status_service_and_date() {
    let app = TestApp::demo().await;
    let (key, _) = api_key(&app, "dispatcher").await;
    let point = a_point(&app).await;
    // One old case, then (91 days later) three new ones, one of which is rejected.
    let old = report(&app, &key, "garbage", &point, "旧的垃圾").await;
    app.clock.advance(chrono::Duration::days(91));
    let d = app.login("dispatcher1").await;
    let garbage = report(&app, &key, "garbage", &point, "新的垃圾").await;
    app.clock.advance(chrono::Duration::minutes(5));
    let light = report(&app, &key, "streetlight", &point, "路灯").await;
    app.clock.advance(chrono::Duration::minutes(5));
    let rejected = report(&app, &key, "streetlight", &point, "重复的路灯").await;
    let case = case_of(&app, &d, &rejected).await;
    act(&app, &d, &case, json!({"action": "reject", "reason": "不属于本镇职责"})).await;

    // The default window is the last 90 days, newest first.
    let (status, all) = get_json(&app, "/open311/v2/requests.json").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), vec![rejected.clone(), light.clone(), garbage.clone()]);
    let (_, open) = get_json(&app, "/open311/v2/requests.json?status=open").await;
    assert_eq!(ids(&open), vec![light.clone(), garbage.clone()]);
    let (_, closed) = get_json(&app, "/open311/v2/requests.json?status=closed").await;
    assert_eq!(ids(&closed), vec![rejected.clone()]);
    let (_, both) = get_json(&app, "/open311/v2/requests.json?status=open,closed").await;
    assert_eq!(ids(&both).len(), 3);
    let (_, lights) = get_json(&app, "/open311/v2/requests.json?service_code=streetlight").await;
    assert_eq!(ids(&lights), vec![rejected.clone(), light.clone()]);
    let (_, lights_open) = get_json(&app, "/open311/v2/requests.json?service_code=streetlight&status=open").await;
    assert_eq!(ids(&lights_open), vec![light.clone()]);
    let (_, two) = get_json(&app, "/open311/v2/requests.json?service_code=streetlight,garbage").await;
    assert_eq!(ids(&two).len(), 3);
    let (_, none) = get_json(&app, "/open311/v2/requests.json?service_code=pothole").await;
    assert_eq!(ids(&none), Vec::<String>::new());

    // Date windows (W3C, any zone; an unencoded + arrives as a space and still works).
    let (_, early) =
        get_json(&app, "/open311/v2/requests.json?start_date=2026-11-28T00:00:00Z&end_date=2026-11-29T00:00:00Z").await;
    assert_eq!(ids(&early), vec![old.clone()]);
    let (_, early) = get_json(
        &app,
        "/open311/v2/requests.json?start_date=2026-11-28T08:00:00+08:00&end_date=2026-11-29T08:00:00%2B08:00",
    )
    .await;
    assert_eq!(ids(&early), vec![old.clone()]);
    // 91 days after 09:00Z: the first new case at 09:00Z, the next two after 09:05Z.
    let (_, later) = get_json(&app, "/open311/v2/requests.json?start_date=2027-02-27T09:01:00Z").await;
    assert_eq!(ids(&later), vec![rejected.clone(), light.clone()]);
    let (_, before) = get_json(&app, "/open311/v2/requests.json?end_date=2027-02-27T09:01:00Z").await;
    assert_eq!(ids(&before), vec![garbage.clone()], "90 days back from the end date");
    // A list of ids overrides every other argument, the window included.
    let (_, picked) = get_json(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={old},{light},DW-19990101-0001&status=closed&service_code=garbage"),
    )
    .await;
    assert_eq!(ids(&picked), vec![light.clone(), old.clone()]);

    // Bad filters are 400 in the spec's form.
    for q in [
        "status=pending",
        "start_date=yesterday",
        "end_date=2026-11-28",
        "start_date=2026-01-01T00:00:00Z&end_date=2026-12-01T00:00:00Z",
        "start_date=2026-12-01T00:00:00Z&end_date=2026-11-01T00:00:00Z",
    ] {
        let (status, _, body) = fetch(&app, &format!("/open311/v2/requests.json?{q}")).await;
        assert_spec_error(status, &body, StatusCode::BAD_REQUEST);
        let (status, body) = get_xml(&app, &format!("/open311/v2/requests.xml?{q}")).await;
        assert_spec_error_xml(status, &body, StatusCode::BAD_REQUEST);
    }

    // The same list in XML.
    let (status, text) = get_xml(&app, "/open311/v2/requests.xml?status=open").await;
    assert_eq!(status, StatusCode::OK);
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let xml_ids: Vec<String> = children(doc.root_element(), "request")
        .into_iter()
        .map(|r| child_text(r, "service_request_id").unwrap())
        .collect();
    assert_eq!(xml_ids, vec![light, garbage]);
    app.stop().await;
}

#[tokio::test]
async fn at_most_1000_requests_are_answered() {
    let app = TestApp::demo().await;
    let d = app.login("dispatcher1").await;
    let town = app.town_id(&d).await;
    let town_id = uuid::Uuid::parse_str(&town).unwrap();
    let db = app.state.store().db();
    let category = wuwei_store::catalog::category_by_code(db, town_id, "garbage").await.unwrap().unwrap();
    // 1,005 cases written straight to the store (reporting them one by one over HTTP would
    // only make the test slow).
    let now = wuwei_server::Clock::now(&app.clock);
    let mut tx = app.state.store().begin().await.unwrap();
    let actor = wuwei_store::Actor::system("test");
    for i in 0..1005 {
        wuwei_store::cases::insert_case(
            &mut tx,
            &actor,
            now,
            wuwei_store::cases::NewCase {
                id: uuid::Uuid::now_v7(),
                town_id,
                short_code: "DW".into(),
                category_id: category.id,
                priority: wuwei_domain::case::Priority::Normal,
                title: format!("垃圾 {i}"),
                description: String::new(),
                lat: None,
                lon: None,
                address: Some("丁坞村".into()),
                household_id: None,
                place: wuwei_store::cases::CasePlace::default(),
                source: wuwei_domain::case::Source::Open311,
                reporter_id: None,
                reporter_name: None,
                reporter_phone: None,
                state: wuwei_domain::case::CaseState::Reported,
                unit_id: None,
                policy: wuwei_domain::case::DeadlinePolicy::default_for(wuwei_domain::case::Priority::Normal),
                possible_duplicate_of: None,
            },
        )
        .await
        .unwrap();
    }
    tx.commit(now).await.unwrap();
    let (status, list) = get_json(&app, "/open311/v2/requests.json").await;
    assert_eq!(status, StatusCode::OK);
    let got = ids(&list);
    assert_eq!(got.len(), 1000);
    assert_eq!(got[0], "DW-20261128-1005", "the newest first");
    let (_, text) = get_xml(&app, "/open311/v2/requests.xml").await;
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(children(doc.root_element(), "request").len(), 1000);
    app.stop().await;
}

#[tokio::test]
async fn one_request_in_both_formats_follows_the_case_to_its_close() {
    let app = TestApp::demo().await;
    let (key, _) = api_key(&app, "dispatcher").await;
    let point = a_point(&app).await;
    let number = report(&app, &key, "elderly_care", &point, "独居老人家里断电了 & <需要> 帮忙").await;

    let (status, one) = get_json(&app, &format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let list = one.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let r = &list[0];
    let fields = [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ];
    assert_eq!(r.as_object().unwrap().len(), fields.len(), "{r}");
    for f in fields {
        assert!(r.get(f).is_some(), "{f} in {r}");
    }
    assert_eq!(r["service_request_id"], number.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["status_notes"], "已上报，等待受理");
    assert_eq!(r["service_code"], "elderly_care");
    assert_eq!(r["service_name"], "老人与困难群体关爱");
    assert_eq!(r["description"], "独居老人家里断电了 & <需要> 帮忙");
    assert_eq!(r["requested_datetime"], "2026-11-28T17:00:00+08:00", "W3C, in China time");
    assert_eq!(r["expected_datetime"], "2026-11-28T19:00:00+08:00", "normal: two hours to accept");
    assert_eq!(r["lat"].as_f64().unwrap().to_string(), point.0);
    assert_eq!(r["long"].as_f64().unwrap().to_string(), point.1);
    assert!(r["agency_responsible"].is_string(), "routed to the grid: {r}");
    assert!(r["address"].as_str().unwrap().ends_with("丁坞镇"), "villages and town say where: {r}");
    assert_eq!(r["media_url"], Value::Null);

    let (status, text) = get_xml(&app, &format!("/open311/v2/requests/{number}.xml")).await;
    assert_eq!(status, StatusCode::OK);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let requests = children(doc.root_element(), "request");
    assert_eq!(requests.len(), 1);
    for f in fields {
        assert!(child_text(requests[0], f).is_some(), "<{f}> present");
    }
    assert_eq!(child_text(requests[0], "description").as_deref(), Some("独居老人家里断电了 & <需要> 帮忙"));
    assert_eq!(child_text(requests[0], "status").as_deref(), Some("open"));
    assert_eq!(child_text(requests[0], "lat").unwrap(), point.0);

    // The case goes round the loop; Open311 follows.
    let d = app.login("dispatcher1").await;
    let gw = app.login("gw01").await;
    let case = case_of(&app, &d, &number).await;
    let case = act(&app, &d, &case, json!({"action": "accept"})).await;
    let r = notes(&app, &number).await;
    assert_eq!((r["status"].as_str(), r["status_notes"].as_str()), (Some("open"), Some("已受理")));
    assert_eq!(r["expected_datetime"], "2026-12-01T17:00:00+08:00", "the deadline to resolve");
    act(&app, &d, &case, json!({"action": "dispatch"})).await;
    assert_eq!(notes(&app, &number).await["status_notes"], "已派遣，等待处置");
    app.clock.advance(chrono::Duration::minutes(30));
    let case = case_of(&app, &gw, &number).await;
    let case = act(&app, &gw, &case, json!({"action": "start"})).await;
    assert_eq!(notes(&app, &number).await["status_notes"], "处置中");
    act(&app, &gw, &case, json!({"action": "resolve", "result_note": "已联系供电所恢复供电"})).await;
    let r = notes(&app, &number).await;
    assert_eq!((r["status"].as_str(), r["status_notes"].as_str()), (Some("open"), Some("已办结，待核查")));
    app.clock.advance(chrono::Duration::minutes(30));
    let case = case_of(&app, &d, &number).await;
    act(&app, &d, &case, json!({"action": "close"})).await;
    let r = notes(&app, &number).await;
    assert_eq!((r["status"].as_str(), r["status_notes"].as_str()), (Some("closed"), Some("已办结销号")));
    assert_eq!(r["updated_datetime"], "2026-11-28T18:00:00+08:00", "closed an hour after the report");
    assert_eq!(r["expected_datetime"], Value::Null);
    // English when asked for.
    let resp = app
        .http
        .get(app.url(&format!("/open311/v2/requests/{number}.json")))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let en: Value = resp.json().await.unwrap();
    assert_eq!(en[0]["status_notes"], "Resolved and closed");

    // A duplicate merged into another case is closed, and says into which.
    let first = report(&app, &key, "streetlight", &point, "路灯坏了").await;
    let second = report(&app, &key, "streetlight", &point, "路灯又坏了").await;
    let target = case_of(&app, &d, &first).await;
    let dup = case_of(&app, &d, &second).await;
    act(&app, &d, &dup, json!({"action": "merge", "target_case_id": target["id"]})).await;
    let r = notes(&app, &second).await;
    assert_eq!(r["status"], "closed");
    assert_eq!(r["status_notes"], format!("已合并至 {first}"));

    // Unknown ids are 404 in the spec's form.
    let (status, _, body) = fetch(&app, "/open311/v2/requests/DW-19990101-0001.json").await;
    assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = get_xml(&app, "/open311/v2/requests/DW-19990101-0001.xml").await;
    assert_spec_error_xml(status, &body, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn public_reads_show_no_reporter_no_drafts_and_no_disputes() {
    let app = TestApp::demo().await;
    let d = app.login("dispatcher1").await;
    let town = app.town_id(&d).await;
    let (_, cats) = app.get(&d, &format!("/api/v1/towns/{town}/categories")).await;
    let cat = |code: &str| cats.as_array().unwrap().iter().find(|c| c["code"] == code).unwrap()["id"].clone();
    let point = a_point(&app).await;
    let (lat, lon): (f64, f64) = (point.0.parse().unwrap(), point.1.parse().unwrap());
    // A hotline call taken by the dispatcher, with the caller's name and phone.
    let (status, call) = app
        .post(
            &d,
            "/api/v1/cases",
            json!({"category_id": cat("water_power"), "title": "停水三天", "description": "村里停水",
                   "lat": lat, "lon": lon, "source": "hotline",
                   "reporter_name": "王五", "reporter_phone": "13800001111"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(call["reporter"]["phone"], "13800001111", "the dispatcher sees it");
    // A draft, and a neighbour dispute.
    let (status, draft) = app
        .post(
            &d,
            "/api/v1/cases",
            json!({"category_id": cat("roads"), "title": "草稿", "lat": lat, "lon": lon, "draft": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let (status, dispute) = app
        .post(
            &d,
            "/api/v1/cases",
            json!({"category_id": cat("neighbour_dispute"), "title": "宅基地纠纷", "lat": lat, "lon": lon}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dispute}");

    for format in ["json", "xml"] {
        let (status, _, text) = fetch(&app, &format!("/open311/v2/requests.{format}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains(call["number"].as_str().unwrap()), "{text}");
        assert!(!text.contains("13800001111") && !text.contains("0001111"), "no phone: {text}");
        assert!(!text.contains("王五"), "no reporter name: {text}");
        assert!(!text.contains(draft["number"].as_str().unwrap()), "no drafts: {text}");
        assert!(!text.contains(dispute["number"].as_str().unwrap()), "no disputes: {text}");
        let (status, _, text) =
            fetch(&app, &format!("/open311/v2/requests/{}.{format}", call["number"].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!text.contains("0001111") && !text.contains("王五"), "{text}");
        for hidden in [&draft, &dispute] {
            let (status, _, _) =
                fetch(&app, &format!("/open311/v2/requests/{}.{format}", hidden["number"].as_str().unwrap())).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
    let (_, list) = get_json(&app, "/open311/v2/requests.json").await;
    assert_eq!(ids(&list), vec![call["number"].as_str().unwrap().to_string()]);
    assert_eq!(list[0]["description"], "停水三天：村里停水");
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_never_issued_and_other_formats_are_not_served() {
    let app = TestApp::demo().await;
    let (status, _, body) = fetch(&app, "/open311/v2/tokens/12345.json").await;
    assert_spec_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = get_xml(&app, "/open311/v2/tokens/12345.xml").await;
    assert_spec_error_xml(status, &body, StatusCode::NOT_FOUND);
    // Anything but .json and .xml is our own 404.
    for path in
        ["/open311/v2/services.html", "/open311/v2/services", "/open311/v2/nothing.json", "/open311/v2/requests/x.rss"]
    {
        let (status, _, body) = fetch(&app, path).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_error(status, &v, StatusCode::NOT_FOUND, "not_found");
    }
    let resp = app.http.post(app.url("/open311/v2/services.json")).form(&[("a", "b")]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

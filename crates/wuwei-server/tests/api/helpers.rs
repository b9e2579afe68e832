use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wuwei_server::demo::DemoOptions;
use wuwei_server::{AppState, Clock, FakeClock, ServerConfig};

pub const PASSWORD: &str = "wuwei-demo";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: FakeClock,
    pub http: reqwest::Client,
    pub db_url: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub user: Value,
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(ServerConfig::default()).await
    }

    pub async fn spawn_with(mut config: ServerConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db_url = wuwei_store::test_support::fresh_database_url(dir.path()).await.unwrap();
        config.data_dir = dir.path().to_path_buf();
        config.database_url = Some(wuwei_server::state::Secret::new(db_url.clone()));
        config.db_max_connections = 4;
        // Jobs run when a test says so, with the fake clock.
        config.background_jobs = false;
        let clock = FakeClock::new(start_time());
        let state = wuwei_server::open(config, Arc::new(clock.clone())).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            wuwei_server::serve_with(server_state, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            addr,
            state,
            clock,
            http: reqwest::Client::new(),
            db_url,
            _dir: dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// A server with the demo town loaded, without past cases: a test sees only its own.
    pub async fn demo() -> TestApp {
        let app = Self::spawn().await;
        let report =
            wuwei_server::demo::load_with(app.state.store(), app.clock.now(), DemoOptions::TOWN_ONLY).await.unwrap();
        assert!(report.loaded);
        assert_eq!(report.cases, 0);
        app
    }

    /// A server with the demo town and its months of past cases, as `wuwei demo` loads it.
    pub async fn demo_with_history() -> TestApp {
        let app = Self::spawn().await;
        let report =
            wuwei_server::demo::load_with(app.state.store(), app.clock.now(), DemoOptions::WITH_CASES).await.unwrap();
        assert!(report.loaded);
        assert!(report.cases > 1000, "{} past cases", report.cases);
        app
    }

    /// A server with the demo town, its past cases and its year of points, as `wuwei demo`.
    pub async fn demo_with_points() -> TestApp {
        let app = Self::spawn().await;
        let report = wuwei_server::demo::load(app.state.store(), app.clock.now()).await.unwrap();
        assert!(report.loaded);
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn login(&self, username: &str) -> Session {
        let resp = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "login {username}");
        let body: Value = resp.json().await.unwrap();
        Session {
            token: body["token"].as_str().unwrap().to_string(),
            csrf: body["csrf_token"].as_str().unwrap().to_string(),
            user: body["user"].clone(),
        }
    }

    /// A bearer-authenticated request; returns status and JSON body (Null when empty).
    pub async fn call(&self, s: &Session, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&s.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, s: &Session, path: &str) -> (StatusCode, Value) {
        self.call(s, Method::GET, path, None).await
    }

    pub async fn post(&self, s: &Session, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(s, Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, s: &Session, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(s, Method::PATCH, path, Some(body)).await
    }

    /// The demo town's id (as the county admin sees it).
    pub async fn town_id(&self, s: &Session) -> String {
        let (status, towns) = self.get(s, "/api/v1/towns").await;
        assert_eq!(status, StatusCode::OK);
        towns["items"][0]["id"].as_str().unwrap().to_string()
    }

    /// Find a region by code through the API.
    pub async fn region_by_code(&self, s: &Session, code: &str) -> Value {
        let (status, page) = self.get(s, &format!("/api/v1/regions?q={code}&page_size=200")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no region {code}"))
    }

    /// Stop the server gracefully and drop the test database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        let _ = wuwei_store::test_support::drop_database(&self.db_url).await;
    }
}

pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(body["code"], want_code, "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "message missing: {body}");
    assert!(body["fields"].is_array(), "fields missing: {body}");
}

/// The `field` names of an error body.
pub fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["field"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

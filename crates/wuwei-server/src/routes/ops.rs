//! Health, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let uptime = state.0.started_at.elapsed().as_secs_f64();
    let rss = resident_memory_bytes().unwrap_or(0) as f64;
    let body = state.0.metrics.render(&[
        ("wuwei_uptime_seconds", "Seconds since the server started.", uptime),
        ("wuwei_resident_memory_bytes", "Resident set size of the server process.", rss),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// RSS from /proc (Linux); None elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Instance {
    /// The server's version.
    pub version: String,
    /// Whether this server holds the synthetic demo town (pages say so, even before sign-in).
    pub demo: bool,
}

/// What this server is; public, so the sign-in page can show it.
#[utoipa::path(get, path = "/api/v1/instance", tag = "ops", responses((status = 200, body = Instance)))]
pub async fn instance(State(state): State<AppState>) -> crate::error::ApiResult<axum::Json<Instance>> {
    let towns = wuwei_store::regions::towns(state.store().db()).await?;
    Ok(axum::Json(Instance { version: env!("CARGO_PKG_VERSION").to_string(), demo: towns.iter().any(|t| t.is_demo) }))
}

//! Fresh databases for tests: a SQLite file in a temporary directory by default, or a new
//! PostgreSQL database when `WUWEI_TEST_DATABASE_URL` points at a server. Each test gets its own,
//! so tests run in parallel without seeing each other's rows.

use std::str::FromStr;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use uuid::Uuid;

use crate::{Result, StoreError};

pub const TEST_DATABASE_URL_ENV: &str = "WUWEI_TEST_DATABASE_URL";

/// Test databases older than this are dropped by later test runs (left by killed runs).
const STALE_AFTER_SECS: i64 = 3600;

/// A database URL for one test. `dir` is the test's temporary directory (for SQLite).
pub async fn fresh_database_url(dir: &std::path::Path) -> Result<String> {
    match std::env::var(TEST_DATABASE_URL_ENV) {
        Ok(base) if !base.is_empty() => fresh_postgres_database(&base).await,
        _ => Ok(format!("sqlite://{}", dir.join("wuwei.db").display())),
    }
}

async fn fresh_postgres_database(base: &str) -> Result<String> {
    let opts = PgConnectOptions::from_str(base).map_err(|_| StoreError::BadUrl(crate::redact_url(base)))?;
    let mut conn = opts.connect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let now = chrono::Utc::now().timestamp();
    let name = format!("wuwei_t_{}_{}", now, Uuid::new_v4().simple());
    // Names are generated here from digits and hex, so formatting them into SQL is safe.
    let stale: Vec<(String,)> =
        sea_orm::sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'wuwei\\_t\\_%'")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    for (db,) in stale {
        let created = db.split('_').nth(2).and_then(|t| t.parse::<i64>().ok()).unwrap_or(now);
        if now - created > STALE_AFTER_SECS && db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let _ = conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))).await;
        }
    }
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let _ = conn.close().await;
    let mut url = url::Url::parse(base).map_err(|_| StoreError::BadUrl(crate::redact_url(base)))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drop a test database made by [`fresh_database_url`] (PostgreSQL only; SQLite files go
/// with their temporary directory).
pub async fn drop_database(url: &str) -> Result<()> {
    if !url.starts_with("postgres") {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|_| StoreError::BadUrl(crate::redact_url(url)))?;
    let name = parsed.path().trim_start_matches('/').to_string();
    if !name.starts_with("wuwei_t_") || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Invariant(format!("refusing to drop {name}: not a test database")));
    }
    let mut admin = parsed.clone();
    admin.set_path("/postgres");
    let opts = PgConnectOptions::from_str(admin.as_str()).map_err(|_| StoreError::BadUrl(crate::redact_url(url)))?;
    let mut conn = opts.connect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(())
}

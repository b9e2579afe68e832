//! The server's shared state, its configuration and its clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use wuwei_store::Store;

use crate::locator::Locator;
use crate::metrics::Metrics;
use crate::ratelimit::LoginLimiter;

/// Where "now" comes from. The domain never reads a clock; handlers take the time from here and
/// pass it down, so tests can drive time with [`FakeClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Databases keep microseconds; truncating here makes every stored time round-trip.
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock tests set and advance by hand.
#[derive(Clone)]
pub struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    pub fn new(start: DateTime<Utc>) -> FakeClock {
        FakeClock(Arc::new(Mutex::new(start.trunc_subsecs(6))))
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = to.trunc_subsecs(6);
        }
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// A value never printed: `Debug` and `Display` show `***`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(v: T) -> Secret<T> {
        Secret(v)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl<T> std::fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Server configuration. Layers (defaults, TOML file, `WUWEI_*` environment, flags) are merged
/// by the CLI; this is the result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/wuwei.db`. May hold a
    /// password, hence secret.
    pub database_url: Option<Secret<String>>,
    /// Set when served over HTTPS (directly or behind a proxy): cookies get `Secure`.
    pub cookie_secure: bool,
    /// Use the first address of `X-Forwarded-For` as the client's (only behind a proxy you run).
    pub trust_forwarded_for: bool,
    pub session_ttl_hours: u32,
    /// Largest JSON body accepted by ordinary endpoints.
    pub max_body_bytes: usize,
    /// Largest body of bulk imports (GeoJSON regions).
    pub import_max_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub db_max_connections: u32,
    /// SQLite `synchronous=FULL` (survives power loss too) instead of `NORMAL`.
    pub sqlite_synchronous_full: bool,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// SMS gateway: urgent notices are POSTed here as `{"phone", "title", "text"}`. Secret (it
    /// usually carries a key).
    pub sms_webhook_url: Option<Secret<String>>,
    /// WeCom group robot webhook: urgent notices go to the group.
    pub wecom_webhook_url: Option<Secret<String>>,
    /// Run the sweeper, the outbox worker and housekeeping in the background (default). Off
    /// for a server that only answers requests; tests and benchmarks run the jobs themselves.
    pub background_jobs: bool,
    /// Browser tests only: `POST /api/v1/test/clock` may move this server's clock forward (a
    /// public notice of 7 days passes in a second). Never set it on a real server.
    pub test_clock: bool,
    /// MQTT broker for device intake (`mqtt://host:port`); unset: no MQTT. Devices sign their
    /// messages (see `wuwei_domain::intake`), so the broker itself is not trusted.
    pub mqtt_url: Option<String>,
    /// Broker credentials of this server, when the broker asks for them.
    pub mqtt_username: Option<String>,
    pub mqtt_password: Option<Secret<String>>,
    /// The key that seals dispute parties' ID and phone numbers (64 hex characters). Unset:
    /// `<data_dir>/keys/pii.key`, made on first use. Servers sharing one database need the same.
    pub pii_key: Option<Secret<String>>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            cookie_secure: false,
            trust_forwarded_for: false,
            session_ttl_hours: 12,
            max_body_bytes: 1024 * 1024,
            import_max_body_bytes: 32 * 1024 * 1024,
            request_timeout_secs: 30,
            db_max_connections: 8,
            sqlite_synchronous_full: false,
            log_format: "text".into(),
            sms_webhook_url: None,
            wecom_webhook_url: None,
            background_jobs: true,
            test_clock: false,
            mqtt_url: None,
            mqtt_username: None,
            mqtt_password: None,
            pii_key: None,
        }
    }
}

impl ServerConfig {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.expose().is_empty() => url.expose().clone(),
            _ => format!("sqlite://{}", self.data_dir.join("wuwei.db").display()),
        }
    }

    pub fn store_options(&self) -> wuwei_store::StoreOptions {
        wuwei_store::StoreOptions {
            max_connections: self.db_max_connections.clamp(1, 512),
            sqlite_synchronous_full: self.sqlite_synchronous_full,
            ..wuwei_store::StoreOptions::default()
        }
    }
}

pub struct Inner {
    pub store: Store,
    pub config: ServerConfig,
    pub clock: Arc<dyn Clock>,
    pub limiter: LoginLimiter,
    pub locator: Locator,
    pub metrics: Metrics,
    pub case_events: crate::caseflow::CaseEvents,
    /// This process's name for job leases.
    pub instance_id: String,
    /// For outbound webhooks.
    pub http: reqwest::Client,
    /// Set when the server is shutting down, so long-lived streams end and let it stop.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    pub started_at: Instant,
    /// Seconds added to the clock (only ever non-zero with `test_clock`).
    pub clock_offset_secs: std::sync::atomic::AtomicI64,
    /// The personal-number key, read on first use (see `pii`).
    pub pii: std::sync::OnceLock<crate::pii::PiiKey>,
    /// The counters' group commit, started on the first redemption (see `batch`).
    pub redeemer: std::sync::OnceLock<crate::routes::points_shop::Redeemer>,
    /// The intake's group commit, started on the first report (see `batch`).
    pub case_writer: std::sync::OnceLock<crate::caseflow::CaseWriter>,
    /// Signed-in sessions as last read (see `auth::SessionCache`).
    pub sessions: crate::auth::SessionCache,
    /// Users' explicit unit memberships as last read (see `caseflow::MemberUnits`).
    pub member_units: crate::caseflow::MemberUnits,
}

/// Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl AppState {
    pub fn new(store: Store, config: ServerConfig, clock: Arc<dyn Clock>) -> AppState {
        AppState(Arc::new(Inner {
            store,
            config,
            clock,
            limiter: LoginLimiter::new(),
            locator: Locator::new(),
            metrics: Metrics::new(),
            case_events: crate::caseflow::CaseEvents::new(),
            instance_id: format!("wuwei-{}", uuid::Uuid::new_v4().simple()),
            http: reqwest::Client::new(),
            shutdown: tokio::sync::watch::channel(false).0,
            started_at: Instant::now(),
            clock_offset_secs: std::sync::atomic::AtomicI64::new(0),
            pii: std::sync::OnceLock::new(),
            redeemer: std::sync::OnceLock::new(),
            case_writer: std::sync::OnceLock::new(),
            sessions: crate::auth::SessionCache::default(),
            member_units: crate::caseflow::MemberUnits::default(),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        let offset = self.0.clock_offset_secs.load(std::sync::atomic::Ordering::Relaxed);
        if offset == 0 { self.0.clock.now() } else { self.0.clock.now() + chrono::Duration::seconds(offset) }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The key sealing personal numbers: from the configuration, else the data directory's key
    /// file (made on first use). A broken key is the operator's to fix: logged, 500.
    pub fn pii(&self) -> crate::error::ApiResult<&crate::pii::PiiKey> {
        if let Some(k) = self.0.pii.get() {
            return Ok(k);
        }
        let key = match &self.0.config.pii_key {
            Some(hex) => crate::pii::PiiKey::from_hex(hex.expose()),
            None => crate::pii::PiiKey::load_or_create(&self.0.config.data_dir),
        }
        .map_err(|e| {
            tracing::error!(error = %e, "the personal-number key is unusable");
            crate::error::ApiError::internal()
        })?;
        Ok(self.0.pii.get_or_init(|| key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let cfg = ServerConfig {
            database_url: Some(Secret::new("postgres://u:hunter2@db/x".into())),
            ..ServerConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(cfg.database_url(), "postgres://u:hunter2@db/x");
    }

    #[test]
    fn fake_clock_advances() {
        let c = FakeClock::new(DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap());
        assert_eq!(c.now().timestamp_subsec_nanos(), 123_456_000);
        c.advance(chrono::Duration::minutes(10));
        assert_eq!(c.now().timestamp(), 1_800_000_600);
    }
}

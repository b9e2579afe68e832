//! Sign-in, sessions, API tokens and the `Auth` extractor every protected handler takes.
//!
//! A request is authenticated by `Authorization: Bearer <token>` (a session token or an API
//! token) or by the `wuwei_session` cookie. Cookie-authenticated writes must carry the CSRF
//! token in `X-CSRF-Token`: a cookie is sent by the browser on its own, a header is not.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;
use wuwei_domain::access::{Permission, Principal};
use wuwei_domain::validate::{NewPassword, Rule};
use wuwei_store::Actor;
use wuwei_store::accounts::{self, BindingRow, UserRow};

use crate::dto::{self, RoleBindingDto, TownDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "wuwei_session";
pub const CSRF_COOKIE: &str = "wuwei_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_PREFIX: &str = "wws_";
pub const API_TOKEN_PREFIX: &str = "wwt_";
/// How stale `last_seen_at` may get before a request refreshes it (saves a write per request).
const TOUCH_AFTER_SECS: i64 = 300;

// ---- secrets ----

/// A new random token: a prefix saying what it is, then 256 random bits.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens are stored as SHA-256: they are long and random, so a fast hash is enough, and a
/// database leak does not leak live credentials.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// argon2id with the crate's defaults (19 MiB, 2 passes), off the async workers.
pub async fn hash_password(password: &str) -> ApiResult<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing task failed");
        ApiError::internal()
    })?
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::internal()
    })
}

/// A hash of a password nobody has, verified against when the username is unknown so that
/// the answer takes as long as for a real account.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0vQ0l9VB1TQ3B1jyL5ZXUwJnZ6q8bDkR0hC7Jp1f2mA";

pub async fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let password = password.to_string();
    let (hash, real) = match hash {
        Some(h) => (h.to_string(), true),
        None => (DUMMY_HASH.to_string(), false),
    };
    let ok = tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false);
    ok && real
}

// ---- the extractor ----

/// An authenticated caller.
pub struct Auth {
    pub principal: Principal,
    /// The account, for sessions (API tokens act without one).
    pub user: Option<UserRow>,
    pub session_id: Option<Uuid>,
}

impl Auth {
    pub fn actor(&self) -> Actor {
        Actor { id: Some(self.principal.user_id), name: self.principal.username.clone() }
    }

    /// 403 unless the principal holds `permission` somewhere.
    pub fn require_any(&self, permission: Permission) -> ApiResult<()> {
        if self.principal.bindings.iter().any(|b| b.role.has(permission)) { Ok(()) } else { Err(ApiError::forbidden()) }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn principal_of(user_id: Uuid, username: String, api_token_id: Option<Uuid>, rows: &[BindingRow]) -> Principal {
    Principal { user_id, username, api_token_id, bindings: rows.iter().filter_map(BindingRow::binding).collect() }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.extensions.get::<AuthCache>() {
            return Ok(auth.0.clone_auth());
        }
        let now = state.now();
        let db = state.store().db();
        let (token, via_cookie) = match bearer(&parts.headers) {
            Some(t) => (t.to_string(), false),
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(t) => (t.to_string(), true),
                None => return Err(ApiError::unauthenticated()),
            },
        };
        if token.len() > 256 {
            return Err(ApiError::unauthenticated());
        }
        let hash = token_hash(&token);
        let auth = if token.starts_with(API_TOKEN_PREFIX) && !via_cookie {
            let principal = api_token_principal(state, &token).await?.ok_or_else(ApiError::unauthenticated)?;
            Auth { principal, user: None, session_id: None }
        } else {
            // Read before the session (see `Store::auth_epoch`).
            let epoch = state.store().auth_epoch();
            let (s, user, principal) = match state.0.sessions.get(&hash, epoch) {
                Some(hit) => hit,
                None => {
                    let (s, user) = accounts::session_and_user_by_token_hash(db, &hash)
                        .await?
                        .ok_or_else(ApiError::unauthenticated)?;
                    let rows = accounts::user_bindings(db, user.id).await?;
                    let principal = principal_of(user.id, user.username.clone(), None, &rows);
                    if s.revoked_at.is_none() && !user.disabled {
                        state.0.sessions.put(hash.clone(), epoch, &s, &user, &principal);
                    }
                    (s, user, principal)
                }
            };
            if s.revoked_at.is_some() || s.expires_at <= now {
                return Err(ApiError::unauthenticated());
            }
            if via_cookie && !is_safe(&parts.method) {
                let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                if header.is_empty() || token_hash(header) != s.csrf_hash {
                    return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf_failed"));
                }
            }
            if user.disabled {
                return Err(ApiError::unauthenticated());
            }
            if now - s.last_seen_at > Duration::seconds(TOUCH_AFTER_SECS) {
                let tx = state.store().begin_unaudited().await?;
                accounts::touch_session(&tx, s.id, now).await?;
                tx.commit(now).await?;
                state.0.sessions.touched(&hash, now);
            }
            Auth { principal, user: Some(user), session_id: Some(s.id) }
        };
        parts.extensions.insert(AuthCache(std::sync::Arc::new(auth.clone_auth())));
        Ok(auth)
    }
}

/// Signed-in sessions as last read, so that a busy counter or dispatcher desk does not read its
/// session, account and roles again for every request. An entry stands for at most
/// [`SessionCache::MAX_AGE`] and only while [`wuwei_store::Store::auth_epoch`] has not moved: a
/// logout, a disabled account, changed roles or a new password in this process end every entry
/// at once; one made by another process (the `wuwei user` command, a second server on the same
/// PostgreSQL) is seen within `MAX_AGE`. Expiry and the CSRF token are checked on every request
/// as before; bounded to [`SessionCache::MAX_ENTRIES`].
#[derive(Default)]
pub struct SessionCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, CachedSession>>,
}

struct CachedSession {
    epoch: u64,
    read_at: std::time::Instant,
    session: accounts::SessionRow,
    user: UserRow,
    principal: Principal,
}

impl SessionCache {
    pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(2);
    pub const MAX_ENTRIES: usize = 4_096;

    fn get(&self, hash: &str, epoch: u64) -> Option<(accounts::SessionRow, UserRow, Principal)> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(hash)?;
        (e.epoch == epoch && e.read_at.elapsed() < Self::MAX_AGE)
            .then(|| (e.session.clone(), e.user.clone(), e.principal.clone()))
    }

    fn put(&self, hash: String, epoch: u64, session: &accounts::SessionRow, user: &UserRow, principal: &Principal) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, e| e.epoch == epoch && e.read_at.elapsed() < Self::MAX_AGE);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        let read_at = std::time::Instant::now();
        entries.insert(
            hash,
            CachedSession {
                epoch,
                read_at,
                session: session.clone(),
                user: user.clone(),
                principal: principal.clone(),
            },
        );
    }

    /// The session's last-seen time was written: keep the entry from writing it again.
    fn touched(&self, hash: &str, now: DateTime<Utc>) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(e) = entries.get_mut(hash)
        {
            e.session.last_seen_at = now;
        }
    }
}

/// The principal an API token (`wwt_…`) acts as, or `None` when the token is unknown, revoked or
/// expired. The one place API tokens are resolved: the `Auth` extractor and the Open311
/// `api_key` both come here. Marks the token used (at most every few minutes).
pub async fn api_token_principal(state: &AppState, token: &str) -> ApiResult<Option<Principal>> {
    if !token.starts_with(API_TOKEN_PREFIX) || token.len() > 256 {
        return Ok(None);
    }
    let now = state.now();
    let db = state.store().db();
    let Some(t) = accounts::api_token_by_hash(db, &token_hash(token)).await? else { return Ok(None) };
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let rows = accounts::token_bindings(db, t.id).await?;
    if t.last_used_at.is_none_or(|l| now - l > Duration::seconds(TOUCH_AFTER_SECS)) {
        let tx = state.store().begin_unaudited().await?;
        accounts::touch_api_token(&tx, t.id, now).await?;
        tx.commit(now).await?;
    }
    Ok(Some(principal_of(t.created_by, format!("token:{}", t.name), Some(t.id), &rows)))
}

impl Auth {
    fn clone_auth(&self) -> Auth {
        Auth { principal: self.principal.clone(), user: self.user.clone(), session_id: self.session_id }
    }
}

/// Lets a second extractor in the same request reuse the first's work.
#[derive(Clone)]
struct AuthCache(std::sync::Arc<Auth>);

// ---- client address ----

/// The peer's socket address, when the server was started with connect info.
pub struct PeerAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)))
    }
}

pub fn client_ip(parts_headers: &HeaderMap, peer: Option<SocketAddr>, trust_forwarded: bool) -> Option<IpAddr> {
    if trust_forwarded
        && let Some(first) = parts_headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
    {
        return Some(first);
    }
    peer.map(|p| p.ip())
}

// ---- handlers ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub home_town_id: Option<Uuid>,
    pub roles: Vec<RoleBindingDto>,
    /// What the web menu is built from, e.g. `regions.read`.
    pub permissions: Vec<String>,
    pub towns: Vec<TownDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for API clients; browsers use the cookie instead.
    pub token: String,
    /// Send back in `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: Me,
}

async fn me_of(state: &AppState, user: &UserRow, principal: &Principal) -> ApiResult<Me> {
    let roles = dto::bindings_dto(state, &principal.bindings).await?;
    let towns = dto::visible_town_ids(state, principal).await?;
    Ok(Me {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        phone: user.phone.clone(),
        home_town_id: user.home_town_id,
        roles,
        permissions: principal.permissions().iter().map(|p| p.as_str().to_string()).collect(),
        towns: dto::town_dtos(state, &towns).await?,
    })
}

fn set_cookie(name: &str, value: &str, max_age_secs: i64, http_only: bool, secure: bool) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path=/; SameSite=Lax; Max-Age={max_age_secs}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).ok()
}

/// Sign in.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse, description = "Signed in; also sets the session and CSRF cookies"),
        (status = 401, body = crate::error::ErrorBody, description = "Wrong username or password"),
        (status = 429, body = crate::error::ErrorBody, description = "Too many failures; see Retry-After"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let now = state.now();
    if req.username.len() > 64 {
        return Err(ApiError::field("username", Rule::TooLong { max: 64 }));
    }
    if req.password.chars().count() > NewPassword::MAX {
        return Err(ApiError::field("password", Rule::TooLong { max: NewPassword::MAX }));
    }
    let username = req.username.trim().to_ascii_lowercase();
    let ip = client_ip(&headers, peer, state.config().trust_forwarded_for);
    let user_key = format!("u:{username}");
    let mut keys = vec![user_key.clone()];
    if let Some(ip) = ip {
        keys.push(format!("ip:{ip}"));
    }
    if let Some(wait) = state.0.limiter.blocked(&keys, now) {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        e.retry_after_secs = Some(wait);
        return Err(e);
    }
    let user = accounts::user_by_username(state.store().db(), &username).await?;
    let ok = verify_password(&req.password, user.as_ref().map(|u| u.password_hash.as_str())).await;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            state.0.limiter.record_failure(&keys, now);
            state.0.metrics.login_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(username = %username, ip = ?ip, "sign-in failed");
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
        }
    };
    if user.disabled {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled"));
    }
    state.0.limiter.reset(&user_key);
    let ttl = Duration::hours(i64::from(state.config().session_ttl_hours.clamp(1, 24 * 90)));
    let tx = state.store().begin().await?;
    open_session(&state, tx, &user, &headers, ip, ttl).await
}

/// Start a session for `user` inside `tx` (which may hold more of the sign-in's writes), commit,
/// and answer with the login body and cookies. Shared by password and household-card sign-in.
pub(crate) async fn open_session(
    state: &AppState,
    mut tx: wuwei_store::Tx,
    user: &UserRow,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    ttl: Duration,
) -> ApiResult<Response> {
    let now = state.now();
    let token = new_token(SESSION_PREFIX);
    let csrf = new_token("");
    let expires_at = now + ttl;
    accounts::insert_session(
        &mut tx,
        now,
        user,
        accounts::NewSession {
            id: Uuid::now_v7(),
            token_hash: token_hash(&token),
            csrf_hash: token_hash(&csrf),
            user_id: user.id,
            expires_at,
            ip: ip.map(|i| i.to_string()),
            user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
        },
    )
    .await?;
    tx.commit(now).await?;
    state.0.metrics.logins.fetch_add(1, Ordering::Relaxed);
    let rows = accounts::user_bindings(state.store().db(), user.id).await?;
    let principal = principal_of(user.id, user.username.clone(), None, &rows);
    let me = me_of(state, user, &principal).await?;
    let secure = state.config().cookie_secure;
    let mut resp =
        Json(LoginResponse { token: token.clone(), csrf_token: csrf.clone(), expires_at, user: me }).into_response();
    let max_age = ttl.num_seconds();
    for c in [
        set_cookie(SESSION_COOKIE, &token, max_age, true, secure),
        set_cookie(CSRF_COOKIE, &csrf, max_age, false, secure),
    ]
    .into_iter()
    .flatten()
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Sign out: the session is revoked and the cookies cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    let now = state.now();
    if let (Some(session_id), Some(user)) = (auth.session_id, &auth.user) {
        let mut tx = state.store().begin().await?;
        accounts::revoke_session(&mut tx, now, user, session_id).await?;
        tx.commit(now).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let secure = state.config().cookie_secure;
    for c in [set_cookie(SESSION_COOKIE, "", 0, true, secure), set_cookie(CSRF_COOKIE, "", 0, false, secure)]
        .into_iter()
        .flatten()
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// The signed-in user, their roles, permissions and towns.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Me>> {
    let user = auth.user.as_ref().ok_or_else(ApiError::not_found)?;
    Ok(Json(me_of(&state, user, &auth.principal).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Change one's own password; other sessions are signed out.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let user = auth.user.as_ref().ok_or_else(ApiError::forbidden)?;
    let new = NewPassword::parse("new_password", &req.new_password)?;
    if req.current_password.chars().count() > NewPassword::MAX
        || !verify_password(&req.current_password, Some(&user.password_hash)).await
    {
        return Err(ApiError::field("current_password", Rule::NotAllowed { reason: "wrong_password" }));
    }
    let hash = hash_password(new.expose()).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    accounts::set_password(&mut tx, &auth.actor(), now, user.id, hash).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_and_dummy_never_matches() {
        let h = hash_password("wuwei-demo").await.unwrap();
        assert!(verify_password("wuwei-demo", Some(&h)).await);
        assert!(!verify_password("wuwei-demo!", Some(&h)).await);
        assert!(!verify_password("wuwei-demo", None).await);
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = new_token(API_TOKEN_PREFIX);
        let b = new_token(API_TOKEN_PREFIX);
        assert!(a.starts_with("wwt_") && a.len() == 4 + 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; wuwei_session=abc; b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}

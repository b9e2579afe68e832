//! Household cards (户卡) and card sign-in (issue 4).
//!
//! A card is a long random token (`wwc_…`, see `wuwei_domain::intake::card`) printed as a QR
//! code of the link `/m/call?card=<token>`. Only its SHA-256 is stored; the token is shown once,
//! in the answer that issues it. A household has at most one active card: issuing another
//! revokes the previous one, and revoking a card ends the sessions its account holds.
//!
//! Signing in with a card makes a long session (180 days) for the household's card account:
//! a `resident` bound to the household, username `hh-<town>-<household code>`, no password,
//! made on first use. Failures are rate-limited by address like password sign-in.
//!
//! Issuing and revoking need `households.write` over the household (or, for a village's sheet,
//! over the admin village).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wuwei_domain::access::{Binding, Level, Permission, Place, Role, Scope};
use wuwei_domain::intake::card::{self, CARD_LINK_MAX, CARD_TOKEN_BYTES, CardToken};
use wuwei_domain::region::RegionKind;
use wuwei_domain::validate::{Issues, Rule};
use wuwei_store::cards::{self, CardRow, MAX_SHEET_HOUSEHOLDS};
use wuwei_store::households::HouseholdRow;
use wuwei_store::{Actor, StoreError, accounts, households, regions};

use crate::auth::{self, Auth, PeerAddr, client_ip};
use crate::dto::RefDto;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath};
use crate::state::AppState;

/// How long a card sign-in lasts.
pub const CARD_SESSION_DAYS: i64 = 180;
/// What a card account's password hash holds: not a hash, so no password ever matches.
const NO_PASSWORD: &str = "!household-card";

#[derive(Debug, Serialize, ToSchema)]
pub struct CardStatusDto {
    pub household_id: Uuid,
    /// Whether the household has a card in force.
    pub active: bool,
    pub issued_at: Option<DateTime<Utc>>,
    pub issued_by: Option<String>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn status(household_id: Uuid, c: Option<&CardRow>) -> CardStatusDto {
    CardStatusDto {
        household_id,
        active: c.is_some_and(|c| c.revoked_at.is_none()),
        issued_at: c.map(|c| c.issued_at),
        issued_by: c.map(|c| c.issued_by.clone()),
        last_used_at: c.and_then(|c| c.last_used_at),
        revoked_at: c.and_then(|c| c.revoked_at),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCardDto {
    /// The card's token: shown this once.
    pub token: String,
    /// What the QR code holds (relative; prefix the site's origin when printing).
    pub link: String,
    pub card: CardStatusDto,
}

fn fresh_token() -> CardToken {
    let mut bytes = [0u8; CARD_TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    CardToken::from_random(bytes)
}

async fn city_of(state: &AppState, town_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(regions::region_in_town(state.store().db(), town_id, town_id).await?.map(|t| t.city_id))
}

/// The household if the caller may read it (404 otherwise) and holds `permission` over it (403).
async fn household_for(state: &AppState, auth: &Auth, id: Uuid, permission: Permission) -> ApiResult<HouseholdRow> {
    let h = households::household(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let place = h.place(city_of(state, h.town_id).await?);
    if !auth.principal.can(Permission::HouseholdsRead, &place) {
        return Err(ApiError::not_found());
    }
    if !auth.principal.can(permission, &place) {
        return Err(ApiError::forbidden());
    }
    Ok(h)
}

/// A household's card: whether one is in force, when issued and last used.
#[utoipa::path(get, path = "/api/v1/households/{id}/card", tag = "cards", params(("id" = Uuid, Path)),
    responses((status = 200, body = CardStatusDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_card(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<CardStatusDto>> {
    let h = household_for(&state, &auth, id, Permission::HouseholdsWrite).await?;
    let c = cards::latest_card(state.store().db(), h.town_id, h.id).await?;
    Ok(Json(status(h.id, c.as_ref())))
}

/// Issue a card for a household (its previous card is revoked). The token is shown this once.
#[utoipa::path(post, path = "/api/v1/households/{id}/card", tag = "cards", params(("id" = Uuid, Path)),
    responses((status = 201, body = IssuedCardDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn issue_card(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<IssuedCardDto>)> {
    let h = household_for(&state, &auth, id, Permission::HouseholdsWrite).await?;
    let now = state.now();
    let token = fresh_token();
    let mut tx = state.store().begin().await?;
    let row = cards::issue_card(&mut tx, &auth.actor(), now, &h, token.hash_hex()).await?;
    end_card_sessions(&mut tx, &h, now).await?;
    tx.commit(now).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedCardDto { link: token.link(""), token: token.as_str().to_string(), card: status(h.id, Some(&row)) }),
    ))
}

/// Revoke a household's card; the sessions signed in with it end.
#[utoipa::path(delete, path = "/api/v1/households/{id}/card", tag = "cards", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_card(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let h = household_for(&state, &auth, id, Permission::HouseholdsWrite).await?;
    let now = state.now();
    let card = cards::latest_card(state.store().db(), h.town_id, h.id)
        .await?
        .filter(|c| c.revoked_at.is_none())
        .ok_or_else(ApiError::not_found)?;
    let mut tx = state.store().begin().await?;
    if !cards::revoke_card(&mut tx, &auth.actor(), now, &card).await? {
        return Err(ApiError::not_found());
    }
    end_card_sessions(&mut tx, &h, now).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The card account's sessions end with its card.
async fn end_card_sessions(tx: &mut wuwei_store::Tx, h: &HouseholdRow, now: DateTime<Utc>) -> ApiResult<()> {
    let town = regions::region_in_town(tx.db(), h.town_id, h.town_id).await?;
    if let Some(u) = accounts::user_by_username(tx.db(), &card_username(town.as_ref(), h)).await? {
        accounts::revoke_user_sessions(tx, u.id, now).await?;
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SheetCardDto {
    pub household_id: Uuid,
    pub household_code: String,
    pub head_name: String,
    pub address: String,
    pub natural_village: Option<RefDto>,
    pub token: String,
    pub link: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TownNameDto {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardSheetDto {
    pub village: RefDto,
    pub town: TownNameDto,
    pub issued_at: DateTime<Utc>,
    pub cards: Vec<SheetCardDto>,
}

/// The printable sheet of an admin village: fresh cards for all its households (their previous
/// cards revoked), in one transaction, ordered by household code.
#[utoipa::path(post, path = "/api/v1/admin-villages/{id}/cards", tag = "cards", params(("id" = Uuid, Path)),
    responses((status = 201, body = CardSheetDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn issue_sheet(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<CardSheetDto>)> {
    let db = state.store().db();
    let v = regions::region(db, id)
        .await?
        .filter(|r| r.kind() == Some(RegionKind::AdminVillage))
        .ok_or_else(ApiError::not_found)?;
    let place = Place { city_id: Some(v.city_id), ..v.place() };
    if !auth.principal.can(Permission::HouseholdsRead, &place) {
        return Err(ApiError::not_found());
    }
    if !auth.principal.can(Permission::HouseholdsWrite, &place) {
        return Err(ApiError::forbidden());
    }
    let town = regions::region_in_town(db, v.town_id, v.town_id).await?.ok_or_else(ApiError::not_found)?;
    let list = cards::village_households(db, v.town_id, v.id).await?;
    if list.len() as u64 > MAX_SHEET_HOUSEHOLDS {
        return Err(ApiError::field("households", Rule::OutOfRange { min: 0, max: MAX_SHEET_HOUSEHOLDS as i64 }));
    }
    let mut nv_ids: Vec<Uuid> = list.iter().map(|h| h.natural_village_id).collect();
    nv_ids.sort();
    nv_ids.dedup();
    let mut nvs = std::collections::HashMap::new();
    for nv in nv_ids {
        if let Some(r) = regions::region_in_town(db, v.town_id, nv).await? {
            nvs.insert(nv, RefDto { id: r.id, name: r.name, code: r.code });
        }
    }
    let tokens: Vec<CardToken> = list.iter().map(|_| fresh_token()).collect();
    let now = state.now();
    let mut tx = state.store().begin().await?;
    cards::issue_sheet(
        &mut tx,
        &auth.actor(),
        now,
        v.town_id,
        v.id,
        list.iter().zip(&tokens).map(|(h, t)| (h.id, t.hash_hex())).collect(),
    )
    .await?;
    // Every card account of the village loses its sessions with its old card.
    for h in &list {
        if let Some(u) = accounts::user_by_username(tx.db(), &card_username(Some(&town), h)).await? {
            accounts::revoke_user_sessions(&mut tx, u.id, now).await?;
        }
    }
    tx.commit(now).await?;
    let cards = list
        .iter()
        .zip(tokens)
        .map(|(h, t)| SheetCardDto {
            household_id: h.id,
            household_code: h.code.clone(),
            head_name: h.head_name.clone(),
            address: h.address.clone(),
            natural_village: nvs.get(&h.natural_village_id).cloned(),
            link: t.link(""),
            token: t.as_str().to_string(),
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(CardSheetDto {
            village: RefDto { id: v.id, name: v.name.clone(), code: v.code.clone() },
            town: TownNameDto { id: town.id, name: town.name.clone() },
            issued_at: now,
            cards,
        }),
    ))
}

// ---- card sign-in ----

#[derive(Debug, Deserialize, ToSchema)]
pub struct CardLoginRequest {
    /// The card's token, or the whole link of its QR code.
    pub token: String,
}

/// The household's card account's username (global, so the town's code is in it).
fn card_username(town: Option<&regions::RegionRow>, h: &HouseholdRow) -> String {
    let town_code = town.and_then(|t| t.short_code.clone()).unwrap_or_else(|| h.town_id.simple().to_string());
    let raw = format!("hh-{}-{}", town_code, h.code).to_ascii_lowercase();
    raw.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(64).collect()
}

/// Sign in with a household card: a 180-day session of the household's resident account
/// (made on first use). Unknown and revoked cards are one answer, 401 `invalid_card`.
#[utoipa::path(post, path = "/api/v1/auth/card", tag = "auth", request_body = CardLoginRequest,
    responses(
        (status = 200, body = crate::auth::LoginResponse, description = "Signed in; also sets the session and CSRF cookies"),
        (status = 401, body = crate::error::ErrorBody, description = "Unknown or revoked card"),
        (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "Too many failures; see Retry-After"),
    ))]
pub async fn card_login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CardLoginRequest>,
) -> ApiResult<Response> {
    let now = state.now();
    let raw = req.token.trim();
    let mut issues = Issues::default();
    if raw.is_empty() {
        issues.push("token", Rule::Required);
    } else if raw.len() > CARD_LINK_MAX {
        issues.push("token", Rule::TooLong { max: CARD_LINK_MAX });
    }
    issues.into_result()?;
    let ip = client_ip(&headers, peer, state.config().trust_forwarded_for);
    let keys: Vec<String> = vec![format!("card-ip:{}", ip.map_or_else(|| "unknown".to_string(), |i| i.to_string()))];
    if let Some(wait) = state.0.limiter.blocked(&keys, now) {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        e.retry_after_secs = Some(wait);
        return Err(e);
    }
    let refuse = || {
        state.0.limiter.record_failure(&keys, now);
        tracing::warn!(ip = ?ip, "card sign-in refused");
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_card")
    };
    let Ok(token) = card::parse_link(raw) else { return Err(refuse()) };
    let db = state.store().db();
    let Some(c) = cards::card_by_token_hash(db, &token.hash_hex()).await?.filter(|c| c.revoked_at.is_none()) else {
        return Err(refuse());
    };
    let h = households::household(db, c.household_id).await?.ok_or_else(refuse)?;
    let town = regions::region_in_town(db, h.town_id, h.town_id).await?;
    let username = card_username(town.as_ref(), &h);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = state.store().begin().await?;
        let user = match accounts::user_by_username(tx.db(), &username).await? {
            Some(u) => u,
            None => {
                let scope = Scope { level: Level::Household, place: h.place(town.as_ref().map(|t| t.city_id)) };
                let made = accounts::insert_user(
                    &mut tx,
                    &Actor::system("household card"),
                    now,
                    accounts::NewUser {
                        id: Uuid::now_v7(),
                        username: username.clone(),
                        display_name: h.head_name.chars().take(50).collect(),
                        phone: h.phone.clone(),
                        password_hash: NO_PASSWORD.into(),
                        home_town_id: Some(h.town_id),
                        bindings: vec![Binding { role: Role::Resident, scope }],
                    },
                )
                .await;
                match made {
                    Ok(u) => u,
                    // A racing first sign-in made it: take theirs.
                    Err(StoreError::Duplicate(_)) if attempt < 2 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if user.disabled {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled"));
        }
        cards::touch_card(&tx, &c, now).await?;
        return auth::open_session(&state, tx, &user, &headers, ip, Duration::days(CARD_SESSION_DAYS)).await;
    }
}

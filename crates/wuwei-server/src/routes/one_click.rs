//! The resident's one-click call (一键呼应) from the phone page `/m/call`: press, the current
//! call (who is coming, their phone), a voice note, and a narrow live stream of the household's
//! own call. A press goes through `calls::press`, the same function as a call button's.
//!
//! The caller must be a resident (a session bound to a household, usually made by card
//! sign-in); anyone else is 403.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;
use wuwei_domain::access::{Level, Role};
use wuwei_domain::case::CaseState;
use wuwei_media::MediaKind;
use wuwei_store::households::HouseholdRow;
use wuwei_store::{StoreError, accounts, cases, catalog, devices, households, idempotency, regions};

use crate::auth::Auth;
use crate::calls::{self, CallError, CallSite, Caller, Pressed};
use crate::caseflow::{self, IdemKey};
use crate::error::{ApiError, ApiResult};
use crate::routes::attachments::{self, UploadResult};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResponderDto {
    pub display_name: String,
    pub phone: Option<String>,
}

/// The household's call as its phone page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OneClickCallDto {
    pub case_id: Uuid,
    pub number: String,
    /// The case's state (`reported`, `accepted`, `dispatched`, `in_progress`, `resolved`, `closed`, ...).
    pub state: String,
    pub priority: String,
    pub created_at: DateTime<Utc>,
    pub last_press_at: DateTime<Utc>,
    pub press_count: i32,
    /// The accept deadline, while the case waits to be accepted.
    pub accept_due_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// Who is coming, once the case is accepted.
    pub responder: Option<ResponderDto>,
    /// True once the case is resolved or later.
    pub closed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PressResultDto {
    /// True when the press was counted on the open call (within 2 minutes), or repeated a key.
    pub folded: bool,
    pub call: OneClickCallDto,
}

/// The caller's household (403 for anyone who is not a resident of one).
async fn my_household(state: &AppState, auth: &Auth) -> ApiResult<HouseholdRow> {
    if auth.principal.api_token_id.is_some() {
        return Err(ApiError::forbidden());
    }
    let id = auth
        .principal
        .bindings
        .iter()
        .find(|b| b.role == Role::Resident && b.scope.level == Level::Household)
        .and_then(|b| b.scope.place.household_id)
        .ok_or_else(ApiError::forbidden)?;
    households::household(state.store().db(), id).await?.ok_or_else(ApiError::forbidden)
}

/// The household's latest call, `None` when it never called.
async fn current(state: &AppState, h: &HouseholdRow) -> ApiResult<Option<OneClickCallDto>> {
    let db = state.store().db();
    let Some(call) = devices::call_of(db, h.town_id, h.id).await? else { return Ok(None) };
    let Some(c) = cases::case_in_town(db, h.town_id, call.case_id).await? else { return Ok(None) };
    let st = c.state();
    // Once accepted: the handler when someone has taken it on, else the grid worker of the
    // unit it is routed to (who the call goes to).
    let responder = if c.accepted_at.is_none() {
        None
    } else {
        let mut who = match c.handler_id {
            Some(uid) => accounts::user(db, uid).await?,
            None => None,
        };
        if who.is_none()
            && let Some(unit_id) = c.unit_id
            && let Some(u) = catalog::unit(db, c.town_id, unit_id).await?
        {
            let mut members = caseflow::unit_members(db, &u).await?;
            members.sort_by(|a, b| a.username.cmp(&b.username));
            who = members.into_iter().find(|m| !m.disabled);
        }
        who.map(|u| ResponderDto { display_name: u.display_name, phone: u.phone })
    };
    Ok(Some(OneClickCallDto {
        case_id: c.id,
        number: c.number.clone(),
        state: c.state.clone(),
        priority: c.priority.clone(),
        created_at: c.created_at,
        last_press_at: call.last_press_at,
        press_count: call.press_count,
        accept_due_at: if st == CaseState::Reported { c.due_at } else { None },
        accepted_at: c.accepted_at,
        responder,
        closed: !st.is_open() || st == CaseState::Resolved,
    }))
}

fn idem_key(headers: &HeaderMap, user_id: Uuid) -> ApiResult<Option<IdemKey>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map(str::trim).unwrap_or("");
            if k.is_empty() || k.len() > 128 {
                return Err(
                    ApiError::bad_request("invalid_header").with_detail("Idempotency-Key: 1 to 128 visible characters")
                );
            }
            Ok(Some(IdemKey {
                key_hash: hex::encode(Sha256::digest(format!("one-click:{user_id}:{k}").as_bytes())),
                request_hash: "one-click".into(),
            }))
        }
    }
}

/// Press the one-click button: an urgent case for the household's grid worker (10 minutes to
/// accept), or one more press on the open call within 2 minutes. The body is ignored (send `{}`).
#[utoipa::path(post, path = "/api/v1/one-click", tag = "one-click",
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 128 characters; a retry with the same key presses once")),
    responses((status = 201, body = PressResultDto, description = "A new call"),
        (status = 200, body = PressResultDto, description = "Folded into the open call, or a repeated key"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn press(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<PressResultDto>)> {
    let h = my_household(&state, &auth).await?;
    let idem = idem_key(&headers, auth.principal.user_id)?;
    if let Some(k) = &idem
        && idempotency::find(state.store().db(), &k.key_hash).await?.is_some()
    {
        return replayed(&state, &h).await;
    }
    let town =
        regions::region_in_town(state.store().db(), h.town_id, h.town_id).await?.ok_or_else(ApiError::internal)?;
    let site = CallSite::of_household(&h);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let caller = Caller::Resident {
            user_id: auth.principal.user_id,
            username: &auth.principal.username,
            idem: idem.as_ref(),
        };
        match calls::press(&state, &town, &site, caller, state.now()).await {
            Ok(Pressed::Created(_)) => {
                let call = current(&state, &h).await?.ok_or_else(ApiError::internal)?;
                return Ok((StatusCode::CREATED, Json(PressResultDto { folded: false, call })));
            }
            Ok(Pressed::Folded { .. }) => {
                let call = current(&state, &h).await?.ok_or_else(ApiError::internal)?;
                return Ok((StatusCode::OK, Json(PressResultDto { folded: true, call })));
            }
            Ok(Pressed::SeqTaken) => return Err(ApiError::internal()),
            Err(CallError::Api(e)) => return Err(e),
            Err(CallError::Store(StoreError::Duplicate(_))) => {
                // The same key from a racing retry, or a racing first press of the household.
                if let Some(k) = &idem
                    && idempotency::find(state.store().db(), &k.key_hash).await?.is_some()
                {
                    return replayed(&state, &h).await;
                }
                if attempt >= 2 {
                    return Err(ApiError::conflict("conflict"));
                }
            }
            Err(CallError::Store(e)) => return Err(e.into()),
        }
    }
}

async fn replayed(state: &AppState, h: &HouseholdRow) -> ApiResult<(StatusCode, Json<PressResultDto>)> {
    let call = current(state, h).await?.ok_or_else(ApiError::internal)?;
    Ok((StatusCode::OK, Json(PressResultDto { folded: true, call })))
}

/// The household's latest call: its case, state, and once accepted who is coming.
#[utoipa::path(get, path = "/api/v1/one-click/current", tag = "one-click",
    responses((status = 200, body = OneClickCallDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "The household never called")))]
pub async fn get_current(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<OneClickCallDto>> {
    let h = my_household(&state, &auth).await?;
    Ok(Json(current(&state, &h).await?.ok_or_else(ApiError::not_found)?))
}

/// A voice note (WebM, Ogg or M4A, at most 2 minutes) on the household's open call, as
/// multipart field `file`.
#[utoipa::path(post, path = "/api/v1/one-click/voice", tag = "one-click",
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 201, body = UploadResult), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "No call is open"),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn voice(
    State(state): State<AppState>,
    auth: Auth,
    form: Multipart,
) -> ApiResult<(StatusCode, Json<UploadResult>)> {
    let h = my_household(&state, &auth).await?;
    let db = state.store().db();
    let call = devices::call_of(db, h.town_id, h.id).await?.ok_or_else(ApiError::not_found)?;
    let c = cases::case_in_town(db, h.town_id, call.case_id)
        .await?
        .filter(|c| c.state().is_open())
        .ok_or_else(ApiError::not_found)?;
    attachments::attach(&state, &auth.actor(), c, form, Some(MediaKind::Voice)).await
}

/// Live updates of the household's own call: `ready`, then `call` (an `OneClickCallDto`)
/// whenever its case changes, `resync` when events were lost.
#[utoipa::path(get, path = "/api/v1/one-click/stream", tag = "one-click",
    responses((status = 200, content_type = "text/event-stream", description = "Server-sent events"),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>>> {
    let h = my_household(&state, &auth).await?;
    let mut rx = state.0.case_events.subscribe();
    let mut stop = state.0.shutdown.subscribe();
    let stream = async_stream::stream! {
        yield Ok(Event::default().event("ready").data("{}"));
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = stop.changed() => break,
            };
            match next {
                Ok(change) => {
                    if change.household_id != Some(h.id) {
                        continue;
                    }
                    if let Ok(Some(call)) = current(&state, &h).await
                        && let Ok(data) = serde_json::to_string(&call)
                    {
                        yield Ok(Event::default().event("call").data(data));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    yield Ok(Event::default().event("resync").data("{}"));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

//! The in-app inbox: notices delivered by the outbox worker.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_store::notify;

use crate::auth::Auth;
use crate::dto::{Page, PageParams};
use crate::error::ApiResult;
use crate::extract::{ApiQuery, IdPath};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxMessage {
    pub id: Uuid,
    pub case_id: Option<Uuid>,
    /// `dispatched`, `returned`, `resolved`, `closed`, `urge`, `red_card`, `escalated`, `supervision`, `urgent`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    pub unread: Option<bool>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    #[serde(flatten)]
    pub page: Page<InboxMessage>,
    pub unread: u64,
}

/// My messages, newest first, with the unread count.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "cases", params(InboxParams), responses((status = 200, body = InboxPage)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> ApiResult<Json<InboxPage>> {
    let page = PageParams { page: p.page, page_size: p.page_size }.parse()?;
    let user = auth.principal.user_id;
    let db = state.store().db();
    let (rows, total) = notify::inbox(db, user, p.unread.unwrap_or(false), page.offset(), page.page_size).await?;
    let unread = notify::unread_count(db, user).await?;
    let items = rows
        .into_iter()
        .map(|m| InboxMessage {
            id: m.id,
            case_id: m.case_id,
            kind: m.kind,
            title: m.title,
            body: m.body,
            created_at: m.created_at,
            read_at: m.read_at,
        })
        .collect();
    Ok(Json(InboxPage { page: Page::new(items, page, total), unread }))
}

/// Mark one message read.
#[utoipa::path(post, path = "/api/v1/inbox/{id}/read", tag = "cases", params(("id" = Uuid, Path)), responses((status = 204)))]
pub async fn read(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let now = state.now();
    let tx = state.store().begin_unaudited().await?;
    notify::mark_read(&tx, now, auth.principal.user_id, Some(id)).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark all my messages read.
#[utoipa::path(post, path = "/api/v1/inbox/read-all", tag = "cases", responses((status = 204)))]
pub async fn read_all(State(state): State<AppState>, auth: Auth) -> ApiResult<StatusCode> {
    let now = state.now();
    let tx = state.store().begin_unaudited().await?;
    notify::mark_read(&tx, now, auth.principal.user_id, None).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

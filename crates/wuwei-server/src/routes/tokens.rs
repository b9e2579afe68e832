//! API tokens for devices and integrations: created by an administrator, shown once, stored
//! hashed, scoped like a user, revocable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wuwei_domain::access::{Binding, Permission};
use wuwei_domain::validate::{self, Issues, Rule};
use wuwei_store::accounts::{self, ApiTokenRow, BindingRow, NewApiToken};
use wuwei_store::regions;

use crate::auth::{self, API_TOKEN_PREFIX, Auth};
use crate::dto::{self, Page, PageParams, RoleBindingDto, RoleInput};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::routes::users::{resolve_roles, visible_towns_for};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenDto {
    pub id: Uuid,
    pub name: String,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    pub roles: Vec<RoleBindingDto>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

async fn token_dtos(state: &AppState, rows: &[ApiTokenRow]) -> ApiResult<Vec<ApiTokenDto>> {
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let bindings = accounts::bindings_of_tokens(state.store().db(), &ids).await?;
    let scope_ids: Vec<Uuid> = bindings.values().flatten().map(|b| b.scope_id).collect();
    let names = regions::names_of(state.store().db(), &scope_ids).await?;
    Ok(rows
        .iter()
        .map(|t| {
            let b: Vec<Binding> =
                bindings.get(&t.id).map(|v| v.iter().filter_map(BindingRow::binding).collect()).unwrap_or_default();
            ApiTokenDto {
                id: t.id,
                name: t.name.clone(),
                prefix: t.prefix.clone(),
                roles: dto::bindings_with_names(&b, &names),
                created_by: t.created_by,
                created_at: t.created_at,
                expires_at: t.expires_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
            }
        })
        .collect())
}

/// API tokens of the caller's towns, newest first.
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api_tokens", params(PageParams),
    responses((status = 200, body = Page<ApiTokenDto>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ApiTokenDto>>> {
    let page = params.parse()?;
    let towns = visible_towns_for(&state, &auth.principal, Permission::ApiTokensManage).await?;
    let (rows, total) =
        accounts::list_api_tokens(state.store().db(), towns.as_deref(), page.offset(), page.page_size).await?;
    Ok(Json(Page::new(token_dtos(&state, &rows).await?, page, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub roles: Vec<RoleInput>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret: shown this once, never again.
    pub token: String,
    pub api_token: ApiTokenDto,
}

/// Create an API token with roles inside the caller's scope.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api_tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    auth.require_any(Permission::ApiTokensManage)?;
    if auth.principal.api_token_id.is_some() {
        // A token does not mint tokens: a leaked one must not be able to spread.
        return Err(ApiError::forbidden());
    }
    let now = state.now();
    let mut issues = Issues::default();
    let name = issues.take(validate::text("name", &req.name, 64));
    if req.expires_at.is_some_and(|e| e <= now) {
        issues.push("expires_at", Rule::NotAllowed { reason: "in_past" });
    }
    let bindings = resolve_roles(&state, &auth.principal, Permission::ApiTokensManage, &req.roles, &mut issues).await?;
    issues.into_result()?;
    let name = name.ok_or_else(ApiError::internal)?;
    let token = auth::new_token(API_TOKEN_PREFIX);
    let mut tx = state.store().begin().await?;
    let row = accounts::insert_api_token(
        &mut tx,
        &auth.actor(),
        now,
        NewApiToken {
            id: Uuid::now_v7(),
            name,
            prefix: token.chars().take(10).collect(),
            token_hash: auth::token_hash(&token),
            created_by: auth.principal.user_id,
            town_id: bindings.iter().find_map(|b| b.scope.place.town_id),
            expires_at: req.expires_at,
            bindings,
        },
    )
    .await?;
    tx.commit(now).await?;
    let api_token = token_dtos(&state, std::slice::from_ref(&row)).await?.pop().ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, api_token })))
}

/// Revoke an API token; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api_tokens", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_token(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let towns = visible_towns_for(&state, &auth.principal, Permission::ApiTokensManage)
        .await
        .map_err(|_| ApiError::forbidden())?;
    let row = accounts::api_token(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let visible = match &towns {
        None => true,
        Some(t) => row.town_id.is_some_and(|town| t.contains(&town)),
    };
    if !visible {
        return Err(ApiError::forbidden());
    }
    if row.revoked_at.is_none() {
        let now = state.now();
        let mut tx = state.store().begin().await?;
        accounts::revoke_api_token(&mut tx, &auth.actor(), now, &row).await?;
        tx.commit(now).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

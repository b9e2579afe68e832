//! The audit trail, read side.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::Permission;
use wuwei_store::audit::{self, AuditFilter};

use crate::auth::Auth;
use crate::dto::{Page, PageParams};
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::routes::users::visible_towns_for;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: Uuid,
    /// The hash chain: a town's id, or `county`.
    pub chain: String,
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub town_id: Option<Uuid>,
    /// `{"before": ..., "after": ...}`.
    #[schema(value_type = Object)]
    pub summary: Value,
    pub hash: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub town_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Audit records of the caller's towns, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Page<AuditEntryDto>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<Page<AuditEntryDto>>> {
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    let towns = visible_towns_for(&state, &auth.principal, Permission::AuditRead).await?;
    let filter = AuditFilter {
        towns,
        town_id: params.town_id,
        entity_type: params.entity_type.map(|s| s.chars().take(32).collect()),
        entity_id: params.entity_id.map(|s| s.chars().take(64).collect()),
        actor_id: params.actor_id,
    };
    let (rows, total) = audit::list(state.store().db(), &filter, page.offset(), page.page_size).await?;
    let items = rows
        .into_iter()
        .map(|r| AuditEntryDto {
            id: r.id,
            chain: r.chain,
            seq: r.seq,
            at: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            town_id: r.town_id,
            summary: serde_json::from_str(&r.summary).unwrap_or(Value::String(r.summary)),
            hash: r.hash,
        })
        .collect();
    Ok(Json(Page::new(items, page, total)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    pub chain: String,
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    pub ok: bool,
    pub chains: u64,
    pub checked: u64,
    pub first_broken: Option<BrokenLink>,
}

/// Check the hash chains of the caller's towns (all chains for a county admin).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyResult), (status = 403, body = crate::error::ErrorBody)))]
pub async fn verify_audit(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<VerifyResult>> {
    let towns = visible_towns_for(&state, &auth.principal, Permission::AuditRead).await?;
    let chains: Option<Vec<String>> = towns.map(|t| t.iter().map(|id| id.to_string()).collect());
    let v = audit::verify_snapshot(state.store(), chains.as_deref()).await?;
    Ok(Json(VerifyResult {
        ok: v.first_broken.is_none(),
        chains: v.chains,
        checked: v.records,
        first_broken: v.first_broken.map(|b| BrokenLink {
            chain: b.chain().to_string(),
            seq: b.seq(),
            reason: b.to_string(),
        }),
    }))
}

//! The household and resident register (read side; households arrive by import or the demo).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::Permission;
use wuwei_store::households::{self, HouseholdFilter, HouseholdRow};
use wuwei_store::regions;

use crate::auth::Auth;
use crate::dto::{Page, PageParams, RefDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, IdPath};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdDto {
    pub id: Uuid,
    pub town_id: Uuid,
    pub code: String,
    pub head_name: String,
    pub address: String,
    pub phone: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub admin_village: RefDto,
    pub natural_village: RefDto,
    pub grid: RefDto,
    pub member_count: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResidentDto {
    pub id: Uuid,
    pub name: String,
    /// `male` or `female`.
    pub gender: String,
    pub birth_year: i32,
    /// `head`, `spouse`, `child`, `parent`, `grandchild`, `sibling` or `other`.
    pub relation: String,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdDetail {
    #[serde(flatten)]
    pub household: HouseholdDto,
    pub residents: Vec<ResidentDto>,
}

async fn dtos(state: &AppState, rows: &[HouseholdRow]) -> ApiResult<Vec<HouseholdDto>> {
    let mut ids: Vec<Uuid> = rows.iter().flat_map(|h| [h.admin_village_id, h.natural_village_id, h.grid_id]).collect();
    ids.sort();
    ids.dedup();
    let names = regions::names_of(state.store().db(), &ids).await?;
    let r = |id: Uuid, names: &HashMap<Uuid, String>| RefDto {
        id,
        name: names.get(&id).cloned().unwrap_or_default(),
        code: None,
    };
    Ok(rows
        .iter()
        .map(|h| HouseholdDto {
            id: h.id,
            town_id: h.town_id,
            code: h.code.clone(),
            head_name: h.head_name.clone(),
            address: h.address.clone(),
            phone: h.phone.clone(),
            lat: h.lat,
            lon: h.lon,
            admin_village: r(h.admin_village_id, &names),
            natural_village: r(h.natural_village_id, &names),
            grid: r(h.grid_id, &names),
            member_count: h.member_count,
        })
        .collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HouseholdListParams {
    pub town_id: Option<Uuid>,
    /// Only households inside this region (an area, village or grid).
    pub region_id: Option<Uuid>,
    /// Part of the code, the head's name or the address.
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Households in the caller's scope, by code.
#[utoipa::path(get, path = "/api/v1/households", tag = "people", params(HouseholdListParams),
    responses((status = 200, body = Page<HouseholdDto>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_households(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<HouseholdListParams>,
) -> ApiResult<Json<Page<HouseholdDto>>> {
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    let region = match params.region_id {
        Some(id) => {
            let row = regions::region(state.store().db(), id).await?;
            match row.and_then(|r| r.kind().map(|k| (k.level(), r.id))) {
                Some(r) => Some(r),
                // An unknown region has no households.
                None => return Ok(Json(Page::new(Vec::new(), page, 0))),
            }
        }
        None => None,
    };
    let filter = HouseholdFilter { town_id: params.town_id, region, q: params.q.map(|q| q.chars().take(64).collect()) };
    let scopes = auth.principal.scopes_with(Permission::HouseholdsRead);
    let (rows, total) =
        households::list_households(state.store().db(), &filter, &scopes, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(dtos(&state, &rows).await?, page, total)))
}

/// One household with its residents.
#[utoipa::path(get, path = "/api/v1/households/{id}", tag = "people", params(("id" = Uuid, Path)),
    responses((status = 200, body = HouseholdDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_household(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<HouseholdDetail>> {
    let db = state.store().db();
    let h = households::household(db, id).await?.ok_or_else(ApiError::not_found)?;
    let town = regions::region_in_town(db, h.town_id, h.town_id).await?;
    if !auth.principal.can(Permission::HouseholdsRead, &h.place(town.map(|t| t.city_id))) {
        return Err(ApiError::not_found());
    }
    let residents = households::residents(db, h.town_id, h.id)
        .await?
        .into_iter()
        .map(|r| ResidentDto {
            id: r.id,
            name: r.name,
            gender: r.gender,
            birth_year: r.birth_year,
            relation: r.relation,
            phone: r.phone,
        })
        .collect();
    let household = dtos(&state, std::slice::from_ref(&h)).await?.into_iter().next().ok_or_else(ApiError::internal)?;
    Ok(Json(HouseholdDetail { household, residents }))
}

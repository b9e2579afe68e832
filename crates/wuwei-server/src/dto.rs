//! Shapes shared by several endpoints, and the conversions that fill them.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Binding, Level, Principal};
use wuwei_domain::validate::PageRequest;
use wuwei_store::regions::{self, RegionRow};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub page: u64,
    pub page_size: u64,
    /// Rows matching the filters, over all pages.
    pub total: u64,
}

impl<T: ToSchema> Page<T> {
    pub fn new(items: Vec<T>, req: PageRequest, total: u64) -> Page<T> {
        Page { items, page: req.page, page_size: req.page_size, total }
    }
}

/// `page` (from 1) and `page_size` (1..=200).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

impl PageParams {
    pub fn parse(&self) -> ApiResult<PageRequest> {
        PageRequest::parse(self.page, self.page_size).map_err(|issues| {
            let mut e = ApiError::invalid(issues);
            e.status = axum::http::StatusCode::BAD_REQUEST;
            e.code = "invalid_query";
            e
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopeDto {
    /// `city`, `town`, `area`, `admin_village`, `natural_village`, `grid` or `household`.
    pub kind: String,
    pub id: Uuid,
    pub name: String,
    pub town_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleBindingDto {
    pub role: String,
    pub scope: ScopeDto,
}

/// A role as a client sends it: the role and the id of its scope (a region, a city for
/// `county_admin`, a household for `resident`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub role: String,
    pub scope_id: Uuid,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefDto {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TownDto {
    pub id: Uuid,
    pub code: Option<String>,
    pub short_code: Option<String>,
    pub name: String,
    pub city: RefDto,
    /// `[lon, lat]` of the town's bounding-box centre, when it has a boundary.
    pub center: Option<[f64; 2]>,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    /// The demo town's data is synthetic; pages say so.
    pub is_demo: bool,
}

/// Role bindings with their scopes' names, for answers.
pub async fn bindings_dto(state: &AppState, bindings: &[Binding]) -> ApiResult<Vec<RoleBindingDto>> {
    let ids: Vec<Uuid> = bindings.iter().filter_map(|b| b.scope.id()).collect();
    let names = regions::names_of(state.store().db(), &ids).await?;
    Ok(bindings_with_names(bindings, &names))
}

pub fn bindings_with_names(bindings: &[Binding], names: &HashMap<Uuid, String>) -> Vec<RoleBindingDto> {
    bindings
        .iter()
        .filter_map(|b| {
            let id = b.scope.id()?;
            Some(RoleBindingDto {
                role: b.role.as_str().to_string(),
                scope: ScopeDto {
                    kind: b.scope.level.as_str().to_string(),
                    id,
                    name: names.get(&id).cloned().unwrap_or_default(),
                    town_id: b.scope.place.town_id,
                },
            })
        })
        .collect()
}

/// The towns a principal can see anything of, by id.
pub async fn visible_town_ids(state: &AppState, principal: &Principal) -> ApiResult<Vec<Uuid>> {
    let mut towns = BTreeSet::new();
    for b in &principal.bindings {
        match b.scope.level {
            Level::City => {
                if let Some(city) = b.scope.place.city_id {
                    towns.extend(regions::town_ids_of_city(state.store().db(), city).await?);
                }
            }
            _ => {
                if let Some(t) = b.scope.place.town_id {
                    towns.insert(t);
                }
            }
        }
    }
    Ok(towns.into_iter().collect())
}

/// Whether the principal has a county-level (city) binding, which also sees county rows.
pub fn is_county_level(principal: &Principal) -> bool {
    principal.bindings.iter().any(|b| b.scope.level == Level::City)
}

pub async fn town_dtos(state: &AppState, ids: &[Uuid]) -> ApiResult<Vec<TownDto>> {
    let towns = regions::towns(state.store().db()).await?;
    let cities = regions::cities(state.store().db()).await?;
    Ok(towns
        .into_iter()
        .filter(|t| ids.contains(&t.id))
        .map(|t| {
            let city = cities
                .iter()
                .find(|c| c.id == t.city_id)
                .map(|c| RefDto { id: c.id, name: c.name.clone(), code: Some(c.code.clone()) })
                .unwrap_or(RefDto { id: t.city_id, name: String::new(), code: None });
            town_dto(&t, city)
        })
        .collect())
}

pub fn town_dto(t: &RegionRow, city: RefDto) -> TownDto {
    let bbox = t.bbox();
    TownDto {
        id: t.id,
        code: t.code.clone(),
        short_code: t.short_code.clone(),
        name: t.name.clone(),
        city,
        center: bbox.map(|b| [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]),
        bbox,
        is_demo: t.is_demo,
    }
}

//! Accounts and their roles. Town administrators manage the accounts of their town; the county
//! administrator manages every town's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Binding, Level, Permission, Place, Principal, Role, Scope};
use wuwei_domain::region::RegionKind;
use wuwei_domain::validate::{self, Issues, NewPassword, Rule, Username};
use wuwei_store::accounts::{self, BindingRow, NewUser, UserFilter, UserPatch, UserRow};
use wuwei_store::{households, regions};

use crate::auth::{self, Auth};
use crate::dto::{self, Page, PageParams, RoleBindingDto, RoleInput};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::state::AppState;

/// Role bindings per account or token at most.
pub const MAX_ROLES: usize = 64;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub home_town_id: Option<Uuid>,
    pub disabled: bool,
    pub roles: Vec<RoleBindingDto>,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: i32,
}

async fn user_dtos(state: &AppState, users: &[UserRow]) -> ApiResult<Vec<UserDto>> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let bindings = accounts::bindings_of_users(state.store().db(), &ids).await?;
    let scope_ids: Vec<Uuid> = bindings.values().flatten().map(|b| b.scope_id).collect();
    let names = regions::names_of(state.store().db(), &scope_ids).await?;
    Ok(users
        .iter()
        .map(|u| {
            let b: Vec<Binding> =
                bindings.get(&u.id).map(|v| v.iter().filter_map(BindingRow::binding).collect()).unwrap_or_default();
            UserDto {
                id: u.id,
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                phone: u.phone.clone(),
                home_town_id: u.home_town_id,
                disabled: u.disabled,
                roles: dto::bindings_with_names(&b, &names),
                last_login_at: u.last_login_at,
                created_at: u.created_at,
                updated_at: u.updated_at,
                version: u.version,
            }
        })
        .collect())
}

/// Turn `{role, scope_id}` inputs into bindings the principal may grant (`via` is the
/// permission that lets them: `users.write` or `api_tokens.manage`).
pub async fn resolve_roles(
    state: &AppState,
    principal: &Principal,
    via: Permission,
    inputs: &[RoleInput],
    issues: &mut Issues,
) -> ApiResult<Vec<Binding>> {
    if inputs.is_empty() {
        issues.push("roles", Rule::NotAllowed { reason: "no_roles" });
        return Ok(Vec::new());
    }
    if inputs.len() > MAX_ROLES {
        issues.push("roles", Rule::OutOfRange { min: 1, max: MAX_ROLES as i64 });
        return Ok(Vec::new());
    }
    let db = state.store().db();
    let mut out = Vec::new();
    let mut forbidden = false;
    for (i, input) in inputs.iter().enumerate() {
        let Some(role) = Role::parse(&input.role) else {
            issues.push(
                format!("roles[{i}].role"),
                Rule::OneOf { allowed: Role::ALL.iter().map(|r| r.as_str().to_string()).collect() },
            );
            continue;
        };
        let field = format!("roles[{i}].scope_id");
        let scope = if role.scope_levels().contains(&Level::City) {
            regions::city(db, input.scope_id)
                .await?
                .map(|c| Scope { level: Level::City, place: Place { city_id: Some(c.id), ..Place::default() } })
        } else if role.scope_levels().contains(&Level::Household) {
            match households::household(db, input.scope_id).await? {
                Some(h) => {
                    let town = regions::region_in_town(db, h.town_id, h.town_id).await?;
                    Some(Scope { level: Level::Household, place: h.place(town.map(|t| t.city_id)) })
                }
                None => None,
            }
        } else {
            match regions::region(db, input.scope_id).await? {
                Some(r) => {
                    let level = r.kind().map(RegionKind::level);
                    match level {
                        Some(level) if role.scope_levels().contains(&level) => Some(Scope { level, place: r.place() }),
                        Some(_) => {
                            issues.push(field, Rule::NotAllowed { reason: "role_scope_level" });
                            continue;
                        }
                        None => None,
                    }
                }
                None => None,
            }
        };
        let Some(scope) = scope else {
            issues.push(field, Rule::UnknownReference);
            continue;
        };
        if !principal.may_grant(via, role, &scope) {
            forbidden = true;
            continue;
        }
        let binding = Binding { role, scope };
        if !out.contains(&binding) {
            out.push(binding);
        }
    }
    if forbidden && issues.is_empty() {
        return Err(ApiError::forbidden());
    }
    Ok(out)
}

/// Which accounts a principal may see with `permission`: `None` = all (county level).
pub async fn visible_towns_for(
    state: &AppState,
    principal: &Principal,
    permission: Permission,
) -> ApiResult<Option<Vec<Uuid>>> {
    let scopes = principal.scopes_with(permission);
    if scopes.is_empty() {
        return Err(ApiError::forbidden());
    }
    let mut towns = Vec::new();
    for s in &scopes {
        match s.level {
            Level::City => return Ok(None),
            _ => towns.extend(s.place.town_id),
        }
    }
    towns.sort();
    towns.dedup();
    let _ = state;
    Ok(Some(towns))
}

/// Whether `user` (with `bindings`) falls inside `towns` (`None` = everything).
fn user_in(towns: &Option<Vec<Uuid>>, user: &UserRow, bindings: &[BindingRow]) -> bool {
    match towns {
        None => true,
        Some(towns) => {
            user.home_town_id.is_some_and(|t| towns.contains(&t))
                || bindings.iter().any(|b| b.town_id.is_some_and(|t| towns.contains(&t)))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Part of the username, display name or phone.
    pub q: Option<String>,
    pub role: Option<String>,
    pub town_id: Option<Uuid>,
    /// Users with a role bound in this region.
    pub region_id: Option<Uuid>,
    pub disabled: Option<bool>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Accounts the caller may see, by username.
#[utoipa::path(get, path = "/api/v1/users", tag = "people", params(UserListParams),
    responses((status = 200, body = Page<UserDto>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<UserListParams>,
) -> ApiResult<Json<Page<UserDto>>> {
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    let towns = visible_towns_for(&state, &auth.principal, Permission::UsersRead).await?;
    let role = match params.role.as_deref() {
        Some(r) => Some(Role::parse(r).ok_or_else(|| {
            let mut e = ApiError::field(
                "role",
                Rule::OneOf { allowed: Role::ALL.iter().map(|r| r.as_str().to_string()).collect() },
            );
            e.status = StatusCode::BAD_REQUEST;
            e.code = "invalid_query";
            e
        })?),
        None => None,
    };
    let filter = UserFilter {
        towns,
        q: params.q.map(|q| q.chars().take(64).collect()),
        role,
        town_id: params.town_id,
        region_id: params.region_id,
        disabled: params.disabled,
    };
    let (rows, total) = accounts::list_users(state.store().db(), &filter, page.offset(), page.page_size).await?;
    Ok(Json(Page::new(user_dtos(&state, &rows).await?, page, total)))
}

/// The account if the caller may read it (404 otherwise).
async fn readable_user(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<(UserRow, Vec<BindingRow>)> {
    let towns = match visible_towns_for(state, &auth.principal, Permission::UsersRead).await {
        Ok(t) => t,
        // Someone who may not read accounts at all learns nothing about this one.
        Err(_) => return Err(ApiError::not_found()),
    };
    let user = accounts::user(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    let bindings = accounts::user_bindings(state.store().db(), id).await?;
    if !user_in(&towns, &user, &bindings) {
        return Err(ApiError::not_found());
    }
    Ok((user, bindings))
}

/// 403 unless the principal manages this account: `users.write` over its home town (county
/// accounts: a county admin) and over every scope it holds.
async fn require_manage(
    state: &AppState,
    principal: &Principal,
    user: &UserRow,
    bindings: &[BindingRow],
) -> ApiResult<()> {
    let home_ok = match user.home_town_id {
        Some(t) => {
            let town = regions::region_in_town(state.store().db(), t, t).await?;
            let place = Place { city_id: town.map(|t| t.city_id), town_id: Some(t), ..Place::default() };
            principal.can(Permission::UsersWrite, &place)
        }
        None => principal.has_role(Role::CountyAdmin),
    };
    let bindings_ok = bindings
        .iter()
        .filter_map(BindingRow::binding)
        .all(|b| principal.bindings.iter().any(|p| p.role.has(Permission::UsersWrite) && p.scope.covers(&b.scope)));
    if home_ok && bindings_ok { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// One account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "people", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_user(State(state): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<UserDto>> {
    let (user, _) = readable_user(&state, &auth, id).await?;
    let mut dtos = user_dtos(&state, std::slice::from_ref(&user)).await?;
    dtos.pop().map(Json).ok_or_else(ApiError::internal)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub password: String,
    pub roles: Vec<RoleInput>,
}

/// Create an account with roles inside the caller's scope.
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = CreateUser,
    responses((status = 201, body = UserDto), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "Username taken"), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    auth.require_any(Permission::UsersWrite)?;
    let mut issues = Issues::default();
    let username = issues.take(Username::parse("username", &req.username));
    let display_name = issues.take(validate::text("display_name", &req.display_name, 64));
    let phone = issues.take(validate::phone("phone", req.phone.as_deref()));
    let password = issues.take(NewPassword::parse("password", &req.password));
    let bindings = resolve_roles(&state, &auth.principal, Permission::UsersWrite, &req.roles, &mut issues).await?;
    issues.into_result()?;
    let (Some(username), Some(display_name), Some(phone), Some(password)) = (username, display_name, phone, password)
    else {
        return Err(ApiError::internal());
    };
    if accounts::user_by_username(state.store().db(), username.as_str()).await?.is_some() {
        return Err(ApiError::conflict("duplicate").with_field("username", Rule::Duplicate));
    }
    let home_town_id = bindings.iter().find_map(|b| b.scope.place.town_id);
    let hash = auth::hash_password(password.expose()).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = accounts::insert_user(
        &mut tx,
        &auth.actor(),
        now,
        NewUser {
            id: Uuid::now_v7(),
            username: username.as_str().to_string(),
            display_name,
            phone,
            password_hash: hash,
            home_town_id,
            bindings,
        },
    )
    .await?;
    tx.commit(now).await?;
    let mut dtos = user_dtos(&state, std::slice::from_ref(&row)).await?;
    Ok((StatusCode::CREATED, Json(dtos.pop().ok_or_else(ApiError::internal)?)))
}

fn double_option<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub version: i32,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub disabled: Option<bool>,
    /// Replaces all roles.
    pub roles: Option<Vec<RoleInput>>,
}

/// Change an account's name, phone, roles, or disable it (its sessions end at once).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people", params(("id" = Uuid, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserDto), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserDto>> {
    let (user, bindings) = readable_user(&state, &auth, id).await.map_err(|e| {
        // A write to something outside the caller's scope is 403, not 404.
        if e.status == StatusCode::NOT_FOUND
            && auth.principal.bindings.iter().any(|b| b.role.has(Permission::UsersWrite))
        {
            ApiError::forbidden()
        } else {
            e
        }
    })?;
    require_manage(&state, &auth.principal, &user, &bindings).await?;
    let mut issues = Issues::default();
    let display_name =
        issues.take(req.display_name.as_deref().map(|n| validate::text("display_name", n, 64)).transpose());
    let phone = issues.take(match &req.phone {
        None => Ok(None),
        Some(p) => validate::phone("phone", p.as_deref()).map(Some),
    });
    if req.disabled == Some(true) && user.id == auth.principal.user_id {
        issues.push("disabled", Rule::NotAllowed { reason: "self_disable" });
    }
    let new_bindings = match &req.roles {
        Some(roles) => Some(resolve_roles(&state, &auth.principal, Permission::UsersWrite, roles, &mut issues).await?),
        None => None,
    };
    issues.into_result()?;
    let patch = UserPatch {
        display_name: display_name.flatten(),
        phone: phone.flatten(),
        disabled: req.disabled,
        bindings: new_bindings,
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = accounts::update_user(&mut tx, &auth.actor(), now, user, req.version, patch).await?;
    tx.commit(now).await?;
    let mut dtos = user_dtos(&state, std::slice::from_ref(&row)).await?;
    dtos.pop().map(Json).ok_or_else(ApiError::internal)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
}

/// An administrator sets a new password; the account's sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "people", params(("id" = Uuid, Path)), request_body = SetPassword,
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<SetPassword>,
) -> ApiResult<StatusCode> {
    let (user, bindings) = readable_user(&state, &auth, id).await?;
    require_manage(&state, &auth.principal, &user, &bindings).await?;
    let password = NewPassword::parse("password", &req.password)?;
    let hash = auth::hash_password(password.expose()).await?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    accounts::set_password(&mut tx, &auth.actor(), now, user.id, hash).await?;
    tx.commit(now).await?;
    Ok(StatusCode::NO_CONTENT)
}

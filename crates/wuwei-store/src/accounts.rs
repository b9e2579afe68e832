//! Accounts, their role bindings, sessions and API tokens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_domain::access::{Binding, Level, Place, Role, Scope};

use crate::entity::{api_token, app_user, role_binding, session};
use crate::regions::escape_like;
use crate::{Actor, AuditDraft, Result, StoreError, Tx, found};

pub use crate::entity::api_token::Model as ApiTokenRow;
pub use crate::entity::app_user::Model as UserRow;
pub use crate::entity::role_binding::Model as BindingRow;
pub use crate::entity::session::Model as SessionRow;

impl BindingRow {
    /// The domain binding; `None` if the row names a role or level this build does not know
    /// (a newer server wrote it), which then grants nothing.
    pub fn binding(&self) -> Option<Binding> {
        let role = Role::parse(&self.role)?;
        let level = Level::parse(&self.level)?;
        Some(Binding {
            role,
            scope: Scope {
                level,
                place: Place {
                    city_id: self.city_id,
                    town_id: self.town_id,
                    area_id: self.area_id,
                    admin_village_id: self.admin_village_id,
                    natural_village_id: self.natural_village_id,
                    grid_id: self.grid_id,
                    household_id: self.household_id,
                },
            },
        })
    }
}

enum Owner {
    User(Uuid),
    Token(Uuid),
}

fn binding_model(owner: &Owner, b: &Binding, now: DateTime<Utc>) -> Result<role_binding::ActiveModel> {
    let scope_id = b
        .scope
        .id()
        .ok_or_else(|| StoreError::Invariant(format!("binding of {} has no id at its level", b.role.as_str())))?;
    let p = b.scope.place;
    Ok(role_binding::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(match owner {
            Owner::User(u) => Some(*u),
            Owner::Token(_) => None,
        }),
        api_token_id: Set(match owner {
            Owner::Token(t) => Some(*t),
            Owner::User(_) => None,
        }),
        role: Set(b.role.as_str().to_string()),
        level: Set(b.scope.level.as_str().to_string()),
        scope_id: Set(scope_id),
        city_id: Set(p.city_id),
        town_id: Set(p.town_id),
        area_id: Set(p.area_id),
        admin_village_id: Set(p.admin_village_id),
        natural_village_id: Set(p.natural_village_id),
        grid_id: Set(p.grid_id),
        household_id: Set(p.household_id),
        created_at: Set(now),
    })
}

fn bindings_view(bindings: &[Binding]) -> Value {
    Value::Array(
        bindings
            .iter()
            .map(|b| json!({"role": b.role.as_str(), "level": b.scope.level.as_str(), "scope_id": b.scope.id()}))
            .collect(),
    )
}

fn user_view(u: &UserRow, bindings: &[Binding]) -> Value {
    // Never the password hash.
    json!({
        "username": u.username,
        "display_name": u.display_name,
        "phone": u.phone,
        "home_town_id": u.home_town_id,
        "disabled": u.disabled,
        "roles": bindings_view(bindings),
        "version": u.version,
    })
}

pub struct NewUser {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub home_town_id: Option<Uuid>,
    pub bindings: Vec<Binding>,
}

pub async fn insert_user(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, new: NewUser) -> Result<UserRow> {
    let row = app_user::ActiveModel {
        id: Set(new.id),
        username: Set(new.username),
        display_name: Set(new.display_name),
        phone: Set(new.phone),
        password_hash: Set(new.password_hash),
        home_town_id: Set(new.home_town_id),
        disabled: Set(false),
        last_login_at: Set(None),
        password_changed_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    }
    .insert(tx.db())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Duplicate(_) => StoreError::Duplicate("username".into()),
        other => other,
    })?;
    let owner = Owner::User(row.id);
    let models = new.bindings.iter().map(|b| binding_model(&owner, b, now)).collect::<Result<Vec<_>>>()?;
    if !models.is_empty() {
        role_binding::Entity::insert_many(models).exec(tx.db()).await?;
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "user.create".into(),
        entity_type: "user".into(),
        entity_id: row.id.to_string(),
        town_id: row.home_town_id,
        before: None,
        after: Some(user_view(&row, &new.bindings)),
    });
    Ok(row)
}

/// Many accounts at once sharing one password hash (the demo's), audited as one batch.
pub async fn insert_users_bulk(tx: &mut Tx, now: DateTime<Utc>, users: Vec<NewUser>) -> Result<usize> {
    let n = users.len();
    let mut user_models = Vec::with_capacity(n);
    let mut binding_models = Vec::new();
    for u in users {
        let owner = Owner::User(u.id);
        for b in &u.bindings {
            binding_models.push(binding_model(&owner, b, now)?);
        }
        user_models.push(app_user::ActiveModel {
            id: Set(u.id),
            username: Set(u.username),
            display_name: Set(u.display_name),
            phone: Set(u.phone),
            password_hash: Set(u.password_hash),
            home_town_id: Set(u.home_town_id),
            disabled: Set(false),
            last_login_at: Set(None),
            password_changed_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
        });
    }
    for chunk in user_models.chunks(400) {
        app_user::Entity::insert_many(chunk.to_vec()).exec(tx.db()).await?;
    }
    for chunk in binding_models.chunks(400) {
        role_binding::Entity::insert_many(chunk.to_vec()).exec(tx.db()).await?;
    }
    Ok(n)
}

pub async fn user(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<UserRow>> {
    Ok(app_user::Entity::find_by_id(id).one(db).await?)
}

pub async fn user_by_username(db: &impl ConnectionTrait, username: &str) -> Result<Option<UserRow>> {
    Ok(app_user::Entity::find().filter(app_user::Column::Username.eq(username)).one(db).await?)
}

pub async fn user_bindings(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<BindingRow>> {
    Ok(role_binding::Entity::find()
        .filter(role_binding::Column::UserId.eq(user_id))
        .order_by_asc(role_binding::Column::CreatedAt)
        .order_by_asc(role_binding::Column::Id)
        .all(db)
        .await?)
}

/// Bindings grouped by owner, for a page of users (`column` = `UserId`) or tokens (`ApiTokenId`).
async fn bindings_by(
    db: &impl ConnectionTrait,
    column: role_binding::Column,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<BindingRow>>> {
    let mut out: HashMap<Uuid, Vec<BindingRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = role_binding::Entity::find()
        .filter(column.is_in(ids.to_vec()))
        .order_by_asc(role_binding::Column::CreatedAt)
        .order_by_asc(role_binding::Column::Id)
        .all(db)
        .await?;
    for r in rows {
        let owner = if matches!(column, role_binding::Column::UserId) { r.user_id } else { r.api_token_id };
        if let Some(o) = owner {
            out.entry(o).or_default().push(r);
        }
    }
    Ok(out)
}

pub async fn bindings_of_users(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<BindingRow>>> {
    bindings_by(db, role_binding::Column::UserId, ids).await
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub phone: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub bindings: Option<Vec<Binding>>,
}

pub async fn update_user(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: UserRow,
    expected_version: i32,
    patch: UserPatch,
) -> Result<UserRow> {
    let old_bindings: Vec<Binding> =
        user_bindings(tx.db(), current.id).await?.iter().filter_map(BindingRow::binding).collect();
    let before = user_view(&current, &old_bindings);
    let mut am = current.clone().into_active_model();
    if let Some(n) = patch.display_name {
        am.display_name = Set(n);
    }
    if let Some(p) = patch.phone {
        am.phone = Set(p);
    }
    if let Some(d) = patch.disabled {
        am.disabled = Set(d);
    }
    am.updated_at = Set(now);
    am.version = Set(expected_version + 1);
    tx.auth_changed();
    let res = app_user::Entity::update_many()
        .set(am)
        .filter(app_user::Column::Id.eq(current.id))
        .filter(app_user::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    if res.rows_affected == 0 {
        let row = found(user(tx.db(), current.id).await?)?;
        return Err(StoreError::VersionConflict { current: row.version });
    }
    let new_bindings = match patch.bindings {
        Some(bindings) => {
            role_binding::Entity::delete_many()
                .filter(role_binding::Column::UserId.eq(current.id))
                .exec(tx.db())
                .await?;
            let owner = Owner::User(current.id);
            let models = bindings.iter().map(|b| binding_model(&owner, b, now)).collect::<Result<Vec<_>>>()?;
            if !models.is_empty() {
                role_binding::Entity::insert_many(models).exec(tx.db()).await?;
            }
            bindings
        }
        None => old_bindings,
    };
    let row = found(user(tx.db(), current.id).await?)?;
    if row.disabled && !current.disabled {
        revoke_user_sessions(tx, row.id, now).await?;
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "user.update".into(),
        entity_type: "user".into(),
        entity_id: row.id.to_string(),
        town_id: row.home_town_id,
        before: Some(before),
        after: Some(user_view(&row, &new_bindings)),
    });
    Ok(row)
}

/// Set a new password hash and sign the user out everywhere.
pub async fn set_password(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, user_id: Uuid, hash: String) -> Result<()> {
    let current = found(user(tx.db(), user_id).await?)?;
    let mut am = current.clone().into_active_model();
    am.password_hash = Set(hash);
    am.password_changed_at = Set(now);
    am.updated_at = Set(now);
    am.version = Set(current.version + 1);
    tx.auth_changed();
    am.update(tx.db()).await?;
    let revoked = revoke_user_sessions(tx, user_id, now).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "user.password".into(),
        entity_type: "user".into(),
        entity_id: user_id.to_string(),
        town_id: current.home_town_id,
        before: None,
        after: Some(json!({"password_changed": true, "sessions_revoked": revoked})),
    });
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Towns whose users are visible; `None` means all accounts (a county admin).
    pub towns: Option<Vec<Uuid>>,
    pub q: Option<String>,
    pub role: Option<Role>,
    pub town_id: Option<Uuid>,
    /// Users with a role bound inside this region (its id at some level).
    pub region_id: Option<Uuid>,
    pub disabled: Option<bool>,
}

/// Ordered by username.
pub async fn list_users(
    db: &impl ConnectionTrait,
    filter: &UserFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<UserRow>, u64)> {
    let mut cond = Condition::all();
    let bound_in = |c: Condition| {
        app_user::Column::Id.in_subquery(
            Query::select()
                .column(role_binding::Column::UserId)
                .from(role_binding::Entity)
                .cond_where(c.add(role_binding::Column::UserId.is_not_null()))
                .to_owned(),
        )
    };
    if let Some(towns) = &filter.towns {
        cond = cond.add(
            Condition::any()
                .add(app_user::Column::HomeTownId.is_in(towns.clone()))
                .add(bound_in(Condition::all().add(role_binding::Column::TownId.is_in(towns.clone())))),
        );
    }
    if let Some(t) = filter.town_id {
        cond = cond.add(
            Condition::any()
                .add(app_user::Column::HomeTownId.eq(t))
                .add(bound_in(Condition::all().add(role_binding::Column::TownId.eq(t)))),
        );
    }
    if let Some(role) = filter.role {
        cond = cond.add(bound_in(Condition::all().add(role_binding::Column::Role.eq(role.as_str()))));
    }
    if let Some(r) = filter.region_id {
        cond = cond.add(bound_in(
            Condition::any()
                .add(role_binding::Column::ScopeId.eq(r))
                .add(role_binding::Column::AreaId.eq(r))
                .add(role_binding::Column::AdminVillageId.eq(r))
                .add(role_binding::Column::NaturalVillageId.eq(r))
                .add(role_binding::Column::GridId.eq(r)),
        ));
    }
    if let Some(d) = filter.disabled {
        cond = cond.add(app_user::Column::Disabled.eq(d));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(app_user::Column::Username).like(like()))
                .add(Expr::col(app_user::Column::DisplayName).like(like()))
                .add(Expr::col(app_user::Column::Phone).like(like())),
        );
    }
    let query = app_user::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query.order_by_asc(app_user::Column::Username).offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

// ---- sessions ----

pub struct NewSession {
    pub id: Uuid,
    pub token_hash: String,
    pub csrf_hash: String,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A successful sign-in: the session, the user's last login time, and an audit entry.
pub async fn insert_session(tx: &mut Tx, now: DateTime<Utc>, user: &UserRow, new: NewSession) -> Result<SessionRow> {
    let ip = new.ip.clone();
    let row = session::ActiveModel {
        id: Set(new.id),
        token_hash: Set(new.token_hash),
        csrf_hash: Set(new.csrf_hash),
        user_id: Set(new.user_id),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        last_seen_at: Set(now),
        revoked_at: Set(None),
        ip: Set(new.ip.map(|s| s.chars().take(64).collect())),
        user_agent: Set(new.user_agent.map(|s| s.chars().take(255).collect())),
    }
    .insert(tx.db())
    .await?;
    app_user::Entity::update_many()
        .col_expr(app_user::Column::LastLoginAt, Expr::value(now))
        .filter(app_user::Column::Id.eq(user.id))
        .exec(tx.db())
        .await?;
    tx.audit(AuditDraft {
        actor: Actor { id: Some(user.id), name: user.username.clone() },
        action: "auth.login".into(),
        entity_type: "session".into(),
        entity_id: row.id.to_string(),
        town_id: user.home_town_id,
        before: None,
        after: Some(json!({"ip": ip, "expires_at": row.expires_at})),
    });
    Ok(row)
}

/// A session by its token's hash with its account, in one read (every signed-in request asks).
pub async fn session_and_user_by_token_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<(SessionRow, UserRow)>> {
    let found = session::Entity::find()
        .select_also(app_user::Entity)
        .join(
            sea_orm::JoinType::InnerJoin,
            session::Entity::belongs_to(app_user::Entity).from(session::Column::UserId).to(app_user::Column::Id).into(),
        )
        .filter(session::Column::TokenHash.eq(hash))
        .one(db)
        .await?;
    Ok(found.and_then(|(s, u)| u.map(|u| (s, u))))
}

pub async fn revoke_session(tx: &mut Tx, now: DateTime<Utc>, user: &UserRow, session_id: Uuid) -> Result<()> {
    tx.auth_changed();
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(tx.db())
        .await?;
    tx.audit(AuditDraft {
        actor: Actor { id: Some(user.id), name: user.username.clone() },
        action: "auth.logout".into(),
        entity_type: "session".into(),
        entity_id: session_id.to_string(),
        town_id: user.home_town_id,
        before: None,
        after: None,
    });
    Ok(())
}

/// Revoke every live session of a user; returns how many.
pub async fn revoke_user_sessions(tx: &mut Tx, user_id: Uuid, now: DateTime<Utc>) -> Result<u64> {
    tx.auth_changed();
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected)
}

/// Bookkeeping (unaudited): when the session was last used.
pub async fn touch_session(tx: &Tx, session_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .exec(tx.db())
        .await?;
    Ok(())
}

/// Delete sessions that expired more than a day ago (bookkeeping, unaudited: the sign-in and
/// sign-out events stay in the audit trail).
pub async fn purge_expired_sessions(tx: &Tx, now: DateTime<Utc>) -> Result<u64> {
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(now - chrono::Duration::days(1)))
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected)
}

// ---- API tokens ----

pub struct NewApiToken {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub token_hash: String,
    pub created_by: Uuid,
    pub town_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub bindings: Vec<Binding>,
}

pub async fn insert_api_token(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, new: NewApiToken) -> Result<ApiTokenRow> {
    let row = api_token::ActiveModel {
        id: Set(new.id),
        name: Set(new.name),
        prefix: Set(new.prefix),
        token_hash: Set(new.token_hash),
        created_by: Set(new.created_by),
        town_id: Set(new.town_id),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(tx.db())
    .await?;
    let owner = Owner::Token(row.id);
    let models = new.bindings.iter().map(|b| binding_model(&owner, b, now)).collect::<Result<Vec<_>>>()?;
    if !models.is_empty() {
        role_binding::Entity::insert_many(models).exec(tx.db()).await?;
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "api_token.create".into(),
        entity_type: "api_token".into(),
        entity_id: row.id.to_string(),
        town_id: row.town_id,
        before: None,
        after: Some(json!({"name": row.name, "prefix": row.prefix, "roles": bindings_view(&new.bindings), "expires_at": row.expires_at})),
    });
    Ok(row)
}

pub async fn api_token(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<ApiTokenRow>> {
    Ok(api_token::Entity::find_by_id(id).one(db).await?)
}

pub async fn api_token_by_hash(db: &impl ConnectionTrait, hash: &str) -> Result<Option<ApiTokenRow>> {
    Ok(api_token::Entity::find().filter(api_token::Column::TokenHash.eq(hash)).one(db).await?)
}

pub async fn token_bindings(db: &impl ConnectionTrait, token_id: Uuid) -> Result<Vec<BindingRow>> {
    Ok(role_binding::Entity::find()
        .filter(role_binding::Column::ApiTokenId.eq(token_id))
        .order_by_asc(role_binding::Column::Id)
        .all(db)
        .await?)
}

pub async fn bindings_of_tokens(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<BindingRow>>> {
    bindings_by(db, role_binding::Column::ApiTokenId, ids).await
}

/// Newest first. `towns`: `None` lists all (county admin); otherwise tokens of those towns.
pub async fn list_api_tokens(
    db: &impl ConnectionTrait,
    towns: Option<&[Uuid]>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ApiTokenRow>, u64)> {
    let mut query = api_token::Entity::find();
    if let Some(towns) = towns {
        query = query.filter(api_token::Column::TownId.is_in(towns.to_vec()));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(api_token::Column::CreatedAt)
        .order_by_desc(api_token::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn revoke_api_token(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, token: &ApiTokenRow) -> Result<()> {
    tx.auth_changed();
    api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(token.id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(tx.db())
        .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "api_token.revoke".into(),
        entity_type: "api_token".into(),
        entity_id: token.id.to_string(),
        town_id: token.town_id,
        before: Some(json!({"revoked_at": token.revoked_at})),
        after: Some(json!({"revoked_at": now})),
    });
    Ok(())
}

/// Bookkeeping (unaudited): when the token was last used.
pub async fn touch_api_token(tx: &Tx, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .exec(tx.db())
        .await?;
    Ok(())
}

/// Users holding one of `roles` bound exactly at `scope_id` (a grid's workers, a village's
/// cadres), who are not disabled.
pub async fn users_with_role_at(db: &impl ConnectionTrait, roles: &[Role], scope_id: Uuid) -> Result<Vec<UserRow>> {
    let ids: Vec<Uuid> = role_binding::Entity::find()
        .select_only()
        .column(role_binding::Column::UserId)
        .filter(role_binding::Column::ScopeId.eq(scope_id))
        .filter(role_binding::Column::Role.is_in(roles.iter().map(|r| r.as_str())))
        .filter(role_binding::Column::UserId.is_not_null())
        .into_tuple::<Option<Uuid>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(app_user::Entity::find()
        .filter(app_user::Column::Id.is_in(ids))
        .filter(app_user::Column::Disabled.eq(false))
        .order_by_asc(app_user::Column::Username)
        .all(db)
        .await?)
}

/// Users holding one of `roles` anywhere in a town (the town's dispatchers).
pub async fn users_with_role_in_town(db: &impl ConnectionTrait, roles: &[Role], town_id: Uuid) -> Result<Vec<UserRow>> {
    let ids: Vec<Uuid> = role_binding::Entity::find()
        .select_only()
        .column(role_binding::Column::UserId)
        .filter(role_binding::Column::TownId.eq(town_id))
        .filter(role_binding::Column::Role.is_in(roles.iter().map(|r| r.as_str())))
        .filter(role_binding::Column::UserId.is_not_null())
        .into_tuple::<Option<Uuid>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(app_user::Entity::find()
        .filter(app_user::Column::Id.is_in(ids))
        .filter(app_user::Column::Disabled.eq(false))
        .order_by_asc(app_user::Column::Username)
        .all(db)
        .await?)
}

pub async fn users_by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<UserRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(app_user::Entity::find().filter(app_user::Column::Id.is_in(ids.to_vec())).all(db).await?)
}

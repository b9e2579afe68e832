//! A role bound to a scope, held by a user or an API token. The scope's place (the ids of the
//! regions above it) is copied here so a request's principal loads in one query.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "role_binding")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub api_token_id: Option<Uuid>,
    pub role: String,
    pub level: String,
    pub scope_id: Uuid,
    pub city_id: Option<Uuid>,
    pub town_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

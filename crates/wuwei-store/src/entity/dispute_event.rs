//! One line of a dispute's timeline (append-only).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dispute_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub dispute_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    pub at: DateTimeUtc,
    pub action: String,
    pub by_capacity: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub from_state: String,
    pub to_state: String,
    pub level_from: String,
    pub level_to: String,
    pub risk: String,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub skip_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Append-only (triggers refuse UPDATE and DELETE): every change of a goods' stock.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_stock_movement")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub store_id: Uuid,
    pub goods_id: Uuid,
    pub at: DateTimeUtc,
    pub delta: i64,
    pub stock_after: i64,
    pub reason: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub note: Option<String>,
    pub redemption_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

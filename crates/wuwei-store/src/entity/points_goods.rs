//! Goods on a store's shelf; `stock` is the running count, proven by the movements.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_goods")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub store_id: Uuid,
    pub name: String,
    pub barcode: Option<String>,
    pub photo_attachment_id: Option<Uuid>,
    pub price_points: i64,
    pub value_fen: i64,
    pub stock: i64,
    pub max_per_redemption: Option<i32>,
    pub active: bool,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

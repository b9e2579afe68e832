//! One line of a redemption, with the goods' name and price as sold.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_redemption_line")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub redemption_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub line: i16,
    pub goods_id: Uuid,
    pub name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub points: i64,
    pub value_fen: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

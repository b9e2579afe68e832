//! One line of a town's rulebook (积分评定细则).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_rule_item")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub category: String,
    pub name_zh: String,
    pub name_en: String,
    pub points: i64,
    pub evidence: String,
    pub cap_points: Option<i64>,
    pub cap_period: Option<String>,
    pub proposers: String,
    pub position: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

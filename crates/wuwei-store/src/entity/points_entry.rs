//! Append-only (triggers refuse UPDATE and DELETE): one side of a posting.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_entry")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub posting_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub line: i16,
    pub seq: i64,
    pub account_kind: String,
    pub account_id: Uuid,
    pub points: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

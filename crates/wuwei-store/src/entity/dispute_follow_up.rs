//! A follow-up visit after an agreement.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dispute_follow_up")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub dispute_id: Uuid,
    pub agreement_id: Uuid,
    pub visited_at: DateTimeUtc,
    pub holds: bool,
    #[sea_orm(column_type = "Text")]
    pub notes: String,
    pub by_id: Option<Uuid>,
    pub by_name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

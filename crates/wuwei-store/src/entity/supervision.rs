//! A supervision order (督办) with its own deadline.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "supervision")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub issued_by: Option<Uuid>,
    pub issued_by_name: String,
    pub note: String,
    pub due_at: DateTimeUtc,
    pub card: String,
    pub fulfilled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Reporters of cases merged into this one: they follow the surviving case.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "case_reporter")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_case_id: Uuid,
    pub user_id: Option<Uuid>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Who handles cases: a grid, a village committee, a town office, the enforcement team, the county.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "handling_unit")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub region_id: Option<Uuid>,
    pub active: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

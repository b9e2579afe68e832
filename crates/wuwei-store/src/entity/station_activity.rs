//! One entry of a station's activity log (the six duties).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "station_activity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub station_id: Uuid,
    pub on_date: Date,
    pub duty: String,
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    pub people_reached: i32,
    #[sea_orm(column_type = "Text")]
    pub photo_ids: String,
    pub recorded_by: Option<Uuid>,
    pub recorded_by_name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

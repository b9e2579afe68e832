//! The latest burst of alarms of one camera and type.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alarm_burst")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub camera_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub alarm_type: String,
    pub case_id: Uuid,
    pub last_alarm_at: DateTimeUtc,
    pub alarm_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

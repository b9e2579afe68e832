//! One office's task in the town's joint handling of a dispute.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dispute_task")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub dispute_id: Uuid,
    pub office: String,
    pub role: String,
    #[sea_orm(column_type = "Text")]
    pub task: String,
    pub assigned_at: DateTimeUtc,
    pub due_at: DateTimeUtc,
    pub done_at: Option<DateTimeUtc>,
    pub report: Option<String>,
    pub current: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

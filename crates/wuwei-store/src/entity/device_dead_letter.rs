//! A device message that was dropped, kept (bounded) for administrators to read.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "device_dead_letter")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub town_id: Option<Uuid>,
    pub received_at: DateTimeUtc,
    pub topic: String,
    pub reason: String,
    pub device_code: Option<String>,
    pub detail: String,
    pub payload_excerpt: String,
    pub payload_len_bytes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! An alarm received from a camera.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alarm")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub camera_id: Uuid,
    pub alarm_type: String,
    pub confidence: f64,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
    pub via: String,
    pub event_id: Option<String>,
    pub disposition: String,
    pub case_id: Option<Uuid>,
    pub verdict: Option<String>,
    pub judged_by: Option<String>,
    pub judged_at: Option<DateTimeUtc>,
    pub note: Option<String>,
    pub snapshot_sha256: Option<String>,
    pub snapshot_mime: Option<String>,
    pub tags: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

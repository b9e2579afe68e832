//! A case: any matter tracked to its end.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: String,
    pub category_id: Uuid,
    pub priority: String,
    pub title: String,
    pub description: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub household_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub source: String,
    pub reporter_id: Option<Uuid>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub unit_id: Option<Uuid>,
    pub handler_id: Option<Uuid>,
    pub state: String,
    pub card: String,
    pub escalation_level: i32,
    pub created_at: DateTimeUtc,
    pub reported_at: Option<DateTimeUtc>,
    pub accepted_at: Option<DateTimeUtc>,
    pub dispatched_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub clock_started_at: Option<DateTimeUtc>,
    pub due_at: Option<DateTimeUtc>,
    pub next_sweep_at: Option<DateTimeUtc>,
    pub result_note: Option<String>,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<DateTimeUtc>,
    pub reopen_count: i32,
    pub merged_into_id: Option<Uuid>,
    pub possible_duplicate_of: Option<Uuid>,
    pub photo_count: i32,
    pub attachment_count: i32,
    pub updated_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

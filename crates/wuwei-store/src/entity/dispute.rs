//! A dispute (矛盾纠纷) and where it is now.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dispute")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: String,
    pub dispute_type: String,
    pub risk: String,
    pub level: String,
    pub state: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Uuid,
    pub natural_village_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub station_id: Option<Uuid>,
    pub level_entered_at: DateTimeUtc,
    pub level_due_at: DateTimeUtc,
    pub agreed_at: Option<DateTimeUtc>,
    pub follow_up_due_at: Option<DateTimeUtc>,
    pub reopen_count: i32,
    pub lead_office: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub collaborators: String,
    #[sea_orm(column_type = "Text")]
    pub flags: String,
    #[sea_orm(column_type = "Text")]
    pub parties: String,
    pub party_names: String,
    pub party_count: i32,
    pub case_id: Option<Uuid>,
    pub settled_at: Option<DateTimeUtc>,
    pub settled_level: Option<String>,
    pub next_sweep_at: Option<DateTimeUtc>,
    pub card: String,
    pub registered_by: Option<Uuid>,
    pub registered_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! A registered device (call button, speaker, sensor, camera) that talks MQTT.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "device")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub kind: String,
    pub name: String,
    pub household_id: Option<Uuid>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub secret: String,
    pub heartbeat_interval_secs: i32,
    pub disabled: bool,
    pub last_seq: Option<i64>,
    pub last_seen_at: Option<DateTimeUtc>,
    pub status: String,
    pub next_check_at: Option<DateTimeUtc>,
    pub battery_pct: Option<i16>,
    pub rssi_dbm: Option<i16>,
    pub firmware: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! A town and everything below it. A town's own row has `town_id == id`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "region")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub city_id: Uuid,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub name: String,
    pub code: Option<String>,
    /// Towns only: the short code used in readable numbers (e.g. `DW`).
    pub short_code: Option<String>,
    /// Towns only: the demo town carries synthetic data and says so in the UI.
    pub is_demo: bool,
    /// GeoJSON geometry text, validated before it is written.
    pub geometry: Option<String>,
    pub min_lon: Option<f64>,
    pub min_lat: Option<f64>,
    pub max_lon: Option<f64>,
    pub max_lat: Option<f64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! An award (积分申报) for one household, with a copy of the item it was made from.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_award")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: String,
    pub batch_id: Uuid,
    pub household_id: Uuid,
    pub admin_village_id: Uuid,
    pub natural_village_id: Uuid,
    pub grid_id: Uuid,
    pub item_code: String,
    pub item_name_zh: String,
    pub item_name_en: String,
    pub category: String,
    pub points_each: i64,
    pub quantity: i32,
    pub points: i64,
    pub note: String,
    pub source: String,
    pub source_ref: Option<String>,
    pub attachment_ids: String,
    pub state: String,
    pub notice_ends_at: Option<DateTimeUtc>,
    pub open_objections: i32,
    pub proposed_by: Uuid,
    pub proposed_by_name: String,
    pub proposed_at: DateTimeUtc,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_by_name: Option<String>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub reason: Option<String>,
    pub posting_id: Option<Uuid>,
    pub posted_at: Option<DateTimeUtc>,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

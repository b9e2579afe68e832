//! A redemption at a store's counter; a return is its reversal.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points_redemption")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: String,
    pub store_id: Uuid,
    pub household_id: Uuid,
    pub admin_village_id: Uuid,
    pub total_points: i64,
    pub value_fen: i64,
    pub balance_after: i64,
    pub posting_id: Uuid,
    pub idempotency_key: String,
    pub clerk_id: Option<Uuid>,
    pub clerk_name: String,
    pub at: DateTimeUtc,
    pub returned_at: Option<DateTimeUtc>,
    pub return_posting_id: Option<Uuid>,
    pub returned_by_name: Option<String>,
    pub return_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

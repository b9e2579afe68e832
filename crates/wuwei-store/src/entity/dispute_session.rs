//! A mediation session; an agreed one carries its agreement.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dispute_session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub town_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub dispute_id: Uuid,
    pub held_at: DateTimeUtc,
    pub level: String,
    pub place: String,
    #[sea_orm(column_type = "Text")]
    pub mediators: String,
    pub parties_present: i32,
    #[sea_orm(column_type = "Text")]
    pub notes: String,
    pub outcome: String,
    pub agreement_terms: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub agreement_party_ids: String,
    #[sea_orm(column_type = "Text")]
    pub photo_ids: String,
    pub recorded_by: Option<Uuid>,
    pub recorded_by_name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

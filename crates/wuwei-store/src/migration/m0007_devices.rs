//! Devices over MQTT (issue 4): the device register, the dead-letter list of dropped messages,
//! and the last one-click call of each household or place (for folding presses).
//!
//! A device's secret is kept as it is (64 hex characters): unlike a token it cannot be a hash,
//! the server needs it to check signatures. It is shown to the administrator once, at creation
//! or rotation, and never returned again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{index, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("device")
                .col(uuid("town_id"))
                .col(uuid("id"))
                // The device id of its topic `wuwei/{town}/devices/{code}/events`.
                .col(string_len("code", 64))
                .col(string_len("kind", 16))
                .col(string_len("name", 100))
                // Bound to a household, or to a place given by its location, or (neither) unbound.
                .col(uuid_null("household_id"))
                .col(double_null("lat"))
                .col(double_null("lon"))
                .col(string_len_null("address", 200))
                // Where it is, from the household or the location: scopes grid workers' lists.
                .col(uuid_null("area_id"))
                .col(uuid_null("admin_village_id"))
                .col(uuid_null("natural_village_id"))
                .col(uuid_null("grid_id"))
                .col(string_len("secret", 64))
                .col(integer("heartbeat_interval_secs"))
                .col(boolean("disabled").default(false))
                // Strictly increasing per device; replays are refused against it.
                .col(big_integer_null("last_seq"))
                .col(ts_null("last_seen_at"))
                // never_seen | online | offline (see `intake::device::DeviceStatus`)
                .col(string_len("status", 16))
                // When an online device goes offline unless heard from: the sweep reads this.
                .col(ts_null("next_check_at"))
                .col(small_integer_null("battery_pct"))
                .col(small_integer_null("rssi_dbm"))
                .col(string_len_null("firmware", 32))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("device", "device_code", &["town_id", "code"]).unique().take()).await?;
        m.create_index(index("device", "device_next_check", &["next_check_at"])).await?;

        m.create_table(
            Table::create()
                .table("device_dead_letter")
                .col(uuid("id").primary_key())
                // None when the topic names no town we serve.
                .col(uuid_null("town_id"))
                .col(ts("received_at"))
                .col(string_len("topic", 256))
                .col(string_len("reason", 24))
                .col(string_len_null("device_code", 64))
                .col(string_len("detail", 512))
                .col(text("payload_excerpt"))
                .col(big_integer("payload_len_bytes"))
                .take(),
        )
        .await?;
        // Ids are UUID v7 (time-ordered): newest first and the per-town trim both read this index.
        m.create_index(index("device_dead_letter", "device_dead_letter_town", &["town_id", "id"])).await?;

        // The latest one-click call of a household (or a place-bound device): a press within the
        // fold window of `last_press_at` is counted on `case_id` instead of opening a case.
        m.create_table(
            Table::create()
                .table("one_click_call")
                .col(uuid("town_id"))
                .col(uuid("origin_id"))
                .col(uuid("case_id"))
                .col(ts("last_press_at"))
                .col(integer("press_count"))
                .primary_key(Index::create().col("town_id").col("origin_id"))
                .take(),
        )
        .await?;
        Ok(())
    }
}

//! Issue 4, second part: household cards, cameras and their alarms, and land-use layers.
//!
//! - `household_card`: one row per card issued; the token only as SHA-256; `revoked_at` set when
//!   revoked or replaced (a household has at most one card with `revoked_at` null).
//! - `camera`: the camera register (雪亮工程 and 高空瞭望). Codes are unique across towns: the
//!   alarm webhook names a camera only by its code. Its secret is kept as it is (the server
//!   checks signatures with it), with the previous one for a day after a rotation. Running
//!   counts (alarms, judged, false) make the false-alarm rate one row read.
//! - `alarm_settings`: per town, the burst window and the false-alarm threshold.
//! - `alarm`: every alarm received (webhook or MQTT), its disposition and its verdict.
//! - `alarm_burst`: the latest burst of a camera and alarm type (folding, like `one_click_call`).
//! - `land_layer`: imported GeoJSON layers (farmland red line, construction land, forest, water).
//! - `case_tag`: tags a case gets from where it lies (e.g. `protected_farmland`).

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
                .table("household_card")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("household_id"))
                .col(string_len("token_hash", 64))
                .col(ts("issued_at"))
                .col(string_len("issued_by", 100))
                .col(ts_null("revoked_at"))
                .col(ts_null("last_used_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("household_card", "household_card_token", &["token_hash"]).unique().take()).await?;
        m.create_index(index("household_card", "household_card_household", &["town_id", "household_id"])).await?;

        m.create_table(
            Table::create()
                .table("camera")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("code", 64))
                .col(string_len("name", 100))
                .col(string_len("kind", 16))
                .col(double("lat"))
                .col(double("lon"))
                .col(double("bearing_deg"))
                .col(double("field_of_view_deg"))
                .col(double("range_m"))
                .col(string_len_null("vendor", 100))
                .col(string_len_null("live_view_url", 1024))
                // active | maintenance | disabled
                .col(string_len("status", 16))
                .col(uuid_null("area_id"))
                .col(uuid_null("admin_village_id"))
                .col(uuid_null("natural_village_id"))
                .col(uuid_null("grid_id"))
                .col(string_len("secret", 64))
                .col(string_len_null("previous_secret", 64))
                .col(ts_null("previous_secret_until"))
                // Tags from the protected land layers the camera stands in (JSON array).
                .col(string_len("tags", 512))
                .col(big_integer("alarm_count"))
                .col(integer("judged_count"))
                .col(integer("false_count"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("camera", "camera_code", &["code"]).unique().take()).await?;
        m.create_index(index("camera", "camera_town_code", &["town_id", "code"])).await?;

        m.create_table(
            Table::create()
                .table("alarm_settings")
                .col(uuid("town_id").primary_key())
                .col(integer("burst_window_secs"))
                .col(double_null("false_alarm_threshold"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("alarm")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("camera_id"))
                .col(string_len("alarm_type", 24))
                .col(double("confidence"))
                .col(ts("occurred_at"))
                .col(ts("received_at"))
                // webhook | mqtt
                .col(string_len("via", 8))
                .col(string_len_null("event_id", 64))
                // case_created | folded | review
                .col(string_len("disposition", 16))
                .col(uuid_null("case_id"))
                // null | false | true
                .col(string_len_null("verdict", 8))
                .col(string_len_null("judged_by", 100))
                .col(ts_null("judged_at"))
                .col(string_len_null("note", 500))
                .col(string_len_null("snapshot_sha256", 64))
                .col(string_len_null("snapshot_mime", 32))
                .col(string_len("tags", 512))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("alarm", "alarm_camera_event", &["town_id", "camera_id", "event_id"]).unique().take())
            .await?;
        m.create_index(index("alarm", "alarm_camera", &["town_id", "camera_id", "id"])).await?;
        m.create_index(index("alarm", "alarm_disposition", &["town_id", "disposition", "id"])).await?;
        m.create_index(index("alarm", "alarm_case", &["town_id", "case_id"])).await?;

        m.create_table(
            Table::create()
                .table("alarm_burst")
                .col(uuid("town_id"))
                .col(uuid("camera_id"))
                .col(string_len("alarm_type", 24))
                .col(uuid("case_id"))
                .col(ts("last_alarm_at"))
                .col(integer("alarm_count"))
                .primary_key(Index::create().col("town_id").col("camera_id").col("alarm_type"))
                .take(),
        )
        .await?;
        m.create_index(index("alarm_burst", "alarm_burst_case", &["town_id", "case_id"])).await?;

        m.create_table(
            Table::create()
                .table("land_layer")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("kind", 24))
                .col(string_len("name", 100))
                .col(boolean("protected"))
                .col(string_len_null("tag", 32))
                .col(integer("feature_count"))
                .col(double_null("min_lon"))
                .col(double_null("min_lat"))
                .col(double_null("max_lon"))
                .col(double_null("max_lat"))
                // The FeatureCollection as imported (validated).
                .col(text("geojson"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("case_tag")
                .col(uuid("town_id"))
                .col(uuid("case_id"))
                .col(string_len("tag", 32))
                .col(uuid_null("layer_id"))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("case_id").col("tag"))
                .take(),
        )
        .await?;
        Ok(())
    }
}

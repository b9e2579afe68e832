//! The case loop: categories and their deadline policies, handling units and routing rules,
//! cases with their timeline, reporters, attachments and supervision orders, the notification
//! outbox and inbox, idempotency keys, per-day case numbers and job leases.

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
                .table("category")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid_null("parent_id"))
                .col(string_len("code", 32))
                .col(string_len("name", 64))
                .col(string_len("name_en", 64))
                .col(string_len("default_unit_kind", 24))
                .col(boolean("requires_photo").default(false))
                .col(boolean("is_dispute").default(false))
                .col(boolean("active").default(true))
                .col(integer("sort"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("category", "category_town_code", &["town_id", "code"]).unique().take()).await?;

        m.create_table(
            Table::create()
                .table("deadline_policy")
                .col(uuid("town_id"))
                .col(uuid("category_id"))
                .col(string_len("priority", 16))
                .col(integer("accept_minutes"))
                .col(integer("resolve_minutes"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("town_id").col("category_id").col("priority"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("handling_unit")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("kind", 24))
                .col(string_len("code", 64))
                .col(string_len("name", 64))
                .col(uuid_null("region_id"))
                .col(boolean("active").default(true))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("handling_unit", "handling_unit_town_code", &["town_id", "code"]).unique().take()).await?;
        m.create_index(index("handling_unit", "handling_unit_town_region", &["town_id", "kind", "region_id"])).await?;

        m.create_table(
            Table::create()
                .table("unit_member")
                .col(uuid("town_id"))
                .col(uuid("unit_id"))
                .col(uuid("user_id"))
                .primary_key(Index::create().col("town_id").col("unit_id").col("user_id"))
                .take(),
        )
        .await?;
        m.create_index(index("unit_member", "unit_member_user", &["user_id"])).await?;

        m.create_table(
            Table::create()
                .table("routing_rule")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid_null("category_id"))
                .col(uuid_null("region_id"))
                .col(string_len_null("unit_kind", 24))
                .col(uuid_null("unit_id"))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("routing_rule", "routing_rule_town_category", &["town_id", "category_id"])).await?;

        m.create_table(
            Table::create()
                .table("cases")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("number", 32))
                .col(uuid("category_id"))
                .col(string_len("priority", 16))
                .col(string_len("title", 128))
                .col(text("description"))
                .col(double_null("lat"))
                .col(double_null("lon"))
                .col(string_len_null("address", 255))
                .col(uuid_null("household_id"))
                .col(uuid_null("area_id"))
                .col(uuid_null("admin_village_id"))
                .col(uuid_null("natural_village_id"))
                .col(uuid_null("grid_id"))
                .col(string_len("source", 24))
                .col(uuid_null("reporter_id"))
                .col(string_len_null("reporter_name", 64))
                .col(string_len_null("reporter_phone", 32))
                .col(uuid_null("unit_id"))
                .col(uuid_null("handler_id"))
                .col(string_len("state", 16))
                .col(string_len("card", 8))
                .col(integer("escalation_level"))
                .col(ts("created_at"))
                .col(ts_null("reported_at"))
                .col(ts_null("accepted_at"))
                .col(ts_null("dispatched_at"))
                .col(ts_null("started_at"))
                .col(ts_null("resolved_at"))
                .col(ts_null("closed_at"))
                .col(ts_null("clock_started_at"))
                .col(ts_null("due_at"))
                .col(ts_null("next_sweep_at"))
                .col(text_null("result_note"))
                .col(small_integer_null("rating"))
                .col(string_len_null("rating_comment", 500))
                .col(ts_null("rated_at"))
                .col(integer("reopen_count"))
                .col(uuid_null("merged_into_id"))
                .col(uuid_null("possible_duplicate_of"))
                .col(integer("photo_count"))
                .col(integer("attachment_count"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("cases", "cases_town_number", &["town_id", "number"]).unique().take()).await?;
        m.create_index(index("cases", "cases_id", &["id"])).await?;
        m.create_index(index("cases", "cases_town_state_reported", &["town_id", "state", "reported_at"])).await?;
        m.create_index(index(
            "cases",
            "cases_town_category_state",
            &["town_id", "category_id", "state", "reported_at"],
        ))
        .await?;
        m.create_index(index("cases", "cases_town_unit_state", &["town_id", "unit_id", "state"])).await?;
        m.create_index(index("cases", "cases_town_grid_state", &["town_id", "grid_id", "state"])).await?;
        m.create_index(index("cases", "cases_town_av_state", &["town_id", "admin_village_id", "state"])).await?;
        m.create_index(index("cases", "cases_town_reporter", &["town_id", "reporter_id", "created_at"])).await?;
        m.create_index(index("cases", "cases_next_sweep", &["next_sweep_at"])).await?;

        m.create_table(
            Table::create()
                .table("case_event")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("case_id"))
                .col(ts("at"))
                .col(uuid_null("actor_id"))
                .col(string_len("actor_name", 64))
                .col(string_len("action", 32))
                .col(string_len_null("from_state", 16))
                .col(string_len_null("to_state", 16))
                .col(text_null("note"))
                .col(text_null("data"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("case_event", "case_event_case", &["town_id", "case_id", "at"])).await?;

        m.create_table(
            Table::create()
                .table("case_reporter")
                .col(uuid("town_id"))
                .col(uuid("case_id"))
                .col(uuid("from_case_id"))
                .col(uuid_null("user_id"))
                .col(string_len_null("name", 64))
                .col(string_len_null("phone", 32))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("case_id").col("from_case_id"))
                .take(),
        )
        .await?;
        m.create_index(index("case_reporter", "case_reporter_user", &["town_id", "user_id"])).await?;

        m.create_table(
            Table::create()
                .table("attachment")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("case_id"))
                .col(string_len("kind", 16))
                .col(string_len("mime", 64))
                .col(big_integer("size_bytes"))
                .col(string_len("sha256", 64))
                .col(string_len_null("thumb_sha256", 64))
                .col(integer_null("width"))
                .col(integer_null("height"))
                .col(integer_null("duration_ms"))
                .col(uuid_null("created_by"))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("attachment", "attachment_case", &["town_id", "case_id", "created_at"])).await?;
        m.create_index(index("attachment", "attachment_id", &["id"])).await?;

        m.create_table(
            Table::create()
                .table("supervision")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("case_id"))
                .col(uuid_null("issued_by"))
                .col(string_len("issued_by_name", 64))
                .col(text("note"))
                .col(ts("due_at"))
                .col(string_len("card", 8))
                .col(ts_null("fulfilled_at"))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("supervision", "supervision_case", &["town_id", "case_id"])).await?;
        m.create_index(index("supervision", "supervision_due", &["fulfilled_at", "due_at"])).await?;

        m.create_table(
            Table::create()
                .table("notification")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid_null("case_id"))
                .col(string_len("kind", 32))
                .col(string_len("channel", 16))
                .col(uuid_null("recipient_id"))
                .col(string_len_null("recipient_phone", 32))
                .col(string_len("title", 128))
                .col(text("body"))
                .col(string_len("status", 16))
                .col(integer("attempts"))
                .col(ts("next_attempt_at"))
                .col(text_null("last_error"))
                .col(ts("created_at"))
                .col(ts_null("delivered_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("notification", "notification_due", &["status", "next_attempt_at"])).await?;

        m.create_table(
            Table::create()
                .table("inbox")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("user_id"))
                .col(uuid_null("case_id"))
                .col(string_len("kind", 32))
                .col(string_len("title", 128))
                .col(text("body"))
                .col(ts("created_at"))
                .col(ts_null("read_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("inbox", "inbox_user", &["user_id", "created_at"])).await?;

        m.create_table(
            Table::create()
                .table("idempotency")
                .col(string_len("key_hash", 64).primary_key())
                .col(uuid("user_id"))
                .col(string_len("request_hash", 64))
                .col(integer("status_code"))
                .col(text("response_body"))
                .col(ts("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("idempotency", "idempotency_created", &["created_at"])).await?;

        m.create_table(
            Table::create()
                .table("day_counter")
                .col(uuid("town_id"))
                .col(string_len("day", 10))
                .col(integer("last_seq"))
                .primary_key(Index::create().col("town_id").col("day"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("job_lease")
                .col(string_len("name", 64).primary_key())
                .col(string_len("holder", 64))
                .col(ts("expires_at"))
                .take(),
        )
        .await?;
        Ok(())
    }
}

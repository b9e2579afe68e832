//! Peacemaker stations and three-level dispute mediation (issue 6).
//!
//! A dispute's parties are kept as one JSON document on the dispute (they are read and written
//! with it, never on their own); their ID and phone numbers in it are encrypted by the server
//! and only their masked forms are readable. The timeline `dispute_event` is append-only in the
//! database, like the audit trail: no dispute is lost on its way up, not even by an UPDATE.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{append_only, index, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One station per natural village.
        m.create_table(
            Table::create()
                .table("peacemaker_station")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("admin_village_id"))
                .col(uuid("natural_village_id"))
                .col(string_len("name", 100))
                .col(string_len_null("phone", 32))
                .col(string_len_null("address", 200))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(
            index("peacemaker_station", "peacemaker_station_nv", &["town_id", "natural_village_id"]).unique().take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("peacemaker_member")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("station_id"))
                .col(string_len("name", 64))
                // village_cadre | grid_worker | opinion_representative | entrepreneur |
                // council_head | legal_adviser
                .col(string_len("kind", 32))
                .col(string_len_null("phone", 32))
                // The member's own account, when they sign in (a grid worker, a cadre).
                .col(uuid_null("user_id"))
                .col(boolean("is_leader").default(false))
                .col(boolean("active").default(true))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("peacemaker_member", "peacemaker_member_station", &["town_id", "station_id"])).await?;
        m.create_index(index("peacemaker_member", "peacemaker_member_user", &["user_id"])).await?;

        m.create_table(
            Table::create()
                .table("station_activity")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("station_id"))
                .col(date("on_date"))
                // legal_publicity | mediation | customs_reform | rural_civility |
                // neighbourhood_watch | volunteering
                .col(string_len("duty", 32))
                .col(text("summary"))
                .col(integer("people_reached"))
                // JSON array of photo ids (mediation_photo).
                .col(text("photo_ids"))
                .col(uuid_null("recorded_by"))
                .col(string_len("recorded_by_name", 64))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("station_activity", "station_activity_station", &["town_id", "station_id", "on_date"]))
            .await?;

        // Photos of activities and signed agreements, checked by content; the blob itself lives
        // content-addressed under the data dir like case attachments.
        m.create_table(
            Table::create()
                .table("mediation_photo")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("mime", 64))
                .col(big_integer("size_bytes"))
                .col(string_len("sha256", 64))
                .col(string_len_null("thumb_sha256", 64))
                .col(uuid_null("created_by"))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("dispute")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("number", 32))
                .col(string_len("dispute_type", 32))
                .col(string_len("risk", 16))
                .col(string_len("level", 16))
                .col(string_len("state", 16))
                .col(string_len("title", 100))
                .col(text("description"))
                .col(double_null("lat"))
                .col(double_null("lon"))
                .col(string_len_null("address", 200))
                // Where it is: lists are scoped by these (a grid worker sees their natural village's).
                .col(uuid_null("area_id"))
                .col(uuid("admin_village_id"))
                .col(uuid("natural_village_id"))
                .col(uuid_null("grid_id"))
                .col(uuid_null("station_id"))
                // The level clock (see `mediation::deadline`).
                .col(ts("level_entered_at"))
                .col(ts("level_due_at"))
                .col(ts_null("agreed_at"))
                .col(ts_null("follow_up_due_at"))
                .col(integer("reopen_count"))
                // The town level's lead office and collaborators (JSON array).
                .col(string_len_null("lead_office", 32))
                .col(text("collaborators"))
                // What routing looks at (JSON array of `six_in_one::RoutingFlag`).
                .col(text("flags"))
                // JSON array of parties; ID and phone numbers encrypted (see the module docs).
                .col(text("parties"))
                // Party names, for search (names are not secret; numbers are).
                .col(string_len("party_names", 1000))
                .col(integer("party_count"))
                .col(uuid_null("case_id"))
                .col(ts_null("settled_at"))
                .col(string_len_null("settled_level", 16))
                .col(ts_null("next_sweep_at"))
                .col(string_len("card", 8))
                .col(uuid_null("registered_by"))
                .col(ts("registered_at"))
                .col(ts("updated_at"))
                .col(integer("version"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("dispute", "dispute_number", &["town_id", "number"]).unique().take()).await?;
        m.create_index(index("dispute", "dispute_state", &["town_id", "state", "level"])).await?;
        m.create_index(index("dispute", "dispute_nv", &["town_id", "natural_village_id", "registered_at"])).await?;
        m.create_index(index("dispute", "dispute_registered", &["town_id", "registered_at"])).await?;
        m.create_index(index("dispute", "dispute_next_sweep", &["next_sweep_at"])).await?;
        m.create_index(index("dispute", "dispute_case", &["town_id", "case_id"])).await?;

        // The timeline: one row per accepted action, numbered per dispute; append-only.
        m.create_table(
            Table::create()
                .table("dispute_event")
                .col(uuid("town_id"))
                .col(uuid("dispute_id"))
                .col(integer("seq"))
                .col(ts("at"))
                .col(string_len("action", 32))
                .col(string_len("by_capacity", 32))
                .col(uuid_null("actor_id"))
                .col(string_len("actor_name", 64))
                .col(string_len("from_state", 16))
                .col(string_len("to_state", 16))
                .col(string_len("level_from", 16))
                .col(string_len("level_to", 16))
                .col(string_len("risk", 16))
                .col(string_len_null("outcome", 16))
                .col(text_null("note"))
                .col(text_null("skip_reason"))
                .primary_key(Index::create().col("town_id").col("dispute_id").col("seq"))
                .take(),
        )
        .await?;
        append_only(m, "dispute_event").await?;

        // Mediation sessions; an agreed session carries its agreement (terms, signing parties,
        // photos of the signed paper).
        m.create_table(
            Table::create()
                .table("dispute_session")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("dispute_id"))
                .col(ts("held_at"))
                .col(string_len("level", 16))
                .col(string_len("place", 200))
                .col(text("mediators"))
                .col(integer("parties_present"))
                .col(text("notes"))
                .col(string_len("outcome", 16))
                .col(text_null("agreement_terms"))
                .col(text("agreement_party_ids"))
                .col(text("photo_ids"))
                .col(uuid_null("recorded_by"))
                .col(string_len("recorded_by_name", 64))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("dispute_session", "dispute_session_dispute", &["town_id", "dispute_id", "held_at"]))
            .await?;

        m.create_table(
            Table::create()
                .table("dispute_follow_up")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("dispute_id"))
                .col(uuid("agreement_id"))
                .col(ts("visited_at"))
                .col(boolean("holds"))
                .col(text("notes"))
                .col(uuid_null("by_id"))
                .col(string_len("by_name", 64))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("dispute_follow_up", "dispute_follow_up_dispute", &["town_id", "dispute_id"])).await?;

        // Joint handling at town level: one task per office.
        m.create_table(
            Table::create()
                .table("dispute_task")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("dispute_id"))
                .col(string_len("office", 32))
                .col(string_len("role", 16))
                .col(text("task"))
                .col(ts("assigned_at"))
                .col(ts("due_at"))
                .col(ts_null("done_at"))
                .col(text_null("report"))
                .col(boolean("current").default(true))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("dispute_task", "dispute_task_dispute", &["town_id", "dispute_id"])).await?;

        // A town's deadlines and routing rules; absent: the defaults of the domain.
        m.create_table(
            Table::create()
                .table("mediation_settings")
                .col(uuid("town_id").primary_key())
                .col(text("policy"))
                .col(text("routing_rules"))
                .col(string_len("fallback", 32))
                .col(ts("updated_at"))
                .col(integer("version"))
                .take(),
        )
        .await?;
        Ok(())
    }
}

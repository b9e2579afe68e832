//! Regions, households and residents, accounts and their roles, sessions, API tokens and the
//! audit trail.
//!
//! Every town-owned table leads its primary key and indexes with `town_id`, so PostgreSQL can
//! later be sharded by town (Citus requires the distribution column in every unique key).
//! City rows, accounts, sessions and API tokens sit above the towns and are reference tables.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{index, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("city")
                    .col(pk_uuid("id"))
                    .col(string_len_uniq("code", 32))
                    .col(string_len("name", 64))
                    .col(text_null("geometry"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("region")
                    .col(uuid("town_id"))
                    .col(uuid("id"))
                    .col(string_len("kind", 24))
                    .col(uuid_null("parent_id"))
                    .col(uuid("city_id"))
                    .col(uuid_null("area_id"))
                    .col(uuid_null("admin_village_id"))
                    .col(uuid_null("natural_village_id"))
                    .col(string_len("name", 64))
                    .col(string_len_null("code", 32))
                    .col(string_len_null("short_code", 8))
                    .col(boolean("is_demo").default(false))
                    .col(text_null("geometry"))
                    .col(double_null("min_lon"))
                    .col(double_null("min_lat"))
                    .col(double_null("max_lon"))
                    .col(double_null("max_lat"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .col(integer("version"))
                    .primary_key(Index::create().col("town_id").col("id"))
                    .take(),
            )
            .await?;
        manager.create_index(index("region", "region_town_code", &["town_id", "code"]).unique().take()).await?;
        manager.create_index(index("region", "region_town_kind", &["town_id", "kind", "parent_id"])).await?;
        manager.create_index(index("region", "region_town_parent", &["town_id", "parent_id"])).await?;
        // Lookups by id alone (an API path carries only the id); not unique, so sharding by
        // town stays possible.
        manager.create_index(index("region", "region_id", &["id"])).await?;
        manager.create_index(index("region", "region_city", &["city_id", "kind"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("household")
                    .col(uuid("town_id"))
                    .col(uuid("id"))
                    .col(string_len("code", 32))
                    .col(uuid_null("area_id"))
                    .col(uuid("admin_village_id"))
                    .col(uuid("natural_village_id"))
                    .col(uuid("grid_id"))
                    .col(string_len("address", 128))
                    .col(string_len("head_name", 64))
                    .col(string_len_null("phone", 20))
                    .col(double("lat"))
                    .col(double("lon"))
                    .col(integer("member_count"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .col(integer("version"))
                    .primary_key(Index::create().col("town_id").col("id"))
                    .take(),
            )
            .await?;
        manager.create_index(index("household", "household_town_code", &["town_id", "code"]).unique().take()).await?;
        manager.create_index(index("household", "household_town_grid", &["town_id", "grid_id", "code"])).await?;
        manager
            .create_index(index("household", "household_town_nv", &["town_id", "natural_village_id", "code"]))
            .await?;
        manager.create_index(index("household", "household_town_av", &["town_id", "admin_village_id", "code"])).await?;
        manager.create_index(index("household", "household_id", &["id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("resident")
                    .col(uuid("town_id"))
                    .col(uuid("id"))
                    .col(uuid("household_id"))
                    .col(string_len("name", 64))
                    .col(string_len("gender", 16))
                    .col(integer("birth_year"))
                    .col(string_len("relation", 16))
                    .col(string_len_null("phone", 20))
                    .col(integer("position"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .primary_key(Index::create().col("town_id").col("id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("resident", "resident_town_household", &["town_id", "household_id", "position"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("app_user")
                    .col(pk_uuid("id"))
                    .col(string_len_uniq("username", 32))
                    .col(string_len("display_name", 64))
                    .col(string_len_null("phone", 20))
                    .col(string_len("password_hash", 255))
                    .col(uuid_null("home_town_id"))
                    .col(boolean("disabled").default(false))
                    .col(ts_null("last_login_at"))
                    .col(ts("password_changed_at"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .col(integer("version"))
                    .take(),
            )
            .await?;
        manager.create_index(index("app_user", "app_user_home_town", &["home_town_id", "username"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("role_binding")
                    .col(pk_uuid("id"))
                    .col(uuid_null("user_id"))
                    .col(uuid_null("api_token_id"))
                    .col(string_len("role", 32))
                    .col(string_len("level", 24))
                    .col(uuid("scope_id"))
                    .col(uuid_null("city_id"))
                    .col(uuid_null("town_id"))
                    .col(uuid_null("area_id"))
                    .col(uuid_null("admin_village_id"))
                    .col(uuid_null("natural_village_id"))
                    .col(uuid_null("grid_id"))
                    .col(uuid_null("household_id"))
                    .col(ts("created_at"))
                    .take(),
            )
            .await?;
        manager.create_index(index("role_binding", "role_binding_user", &["user_id"])).await?;
        manager.create_index(index("role_binding", "role_binding_token", &["api_token_id"])).await?;
        manager.create_index(index("role_binding", "role_binding_town_role", &["town_id", "role"])).await?;
        manager.create_index(index("role_binding", "role_binding_scope", &["scope_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("session")
                    .col(pk_uuid("id"))
                    .col(string_len_uniq("token_hash", 64))
                    .col(string_len("csrf_hash", 64))
                    .col(uuid("user_id"))
                    .col(ts("created_at"))
                    .col(ts("expires_at"))
                    .col(ts("last_seen_at"))
                    .col(ts_null("revoked_at"))
                    .col(string_len_null("ip", 64))
                    .col(string_len_null("user_agent", 255))
                    .take(),
            )
            .await?;
        manager.create_index(index("session", "session_user", &["user_id"])).await?;
        manager.create_index(index("session", "session_expires", &["expires_at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("api_token")
                    .col(pk_uuid("id"))
                    .col(string_len("name", 64))
                    .col(string_len("prefix", 16))
                    .col(string_len_uniq("token_hash", 64))
                    .col(uuid("created_by"))
                    .col(uuid_null("town_id"))
                    .col(ts("created_at"))
                    .col(ts_null("expires_at"))
                    .col(ts_null("last_used_at"))
                    .col(ts_null("revoked_at"))
                    .take(),
            )
            .await?;
        manager.create_index(index("api_token", "api_token_town", &["town_id", "created_at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(string_len("chain", 40))
                    .col(big_integer("seq"))
                    .col(uuid("id"))
                    .col(ts("at"))
                    .col(uuid_null("actor_id"))
                    .col(string_len("actor_name", 64))
                    .col(string_len("action", 64))
                    .col(string_len("entity_type", 32))
                    .col(string_len("entity_id", 64))
                    .col(uuid_null("town_id"))
                    .col(text("summary"))
                    .col(string_len("prev_hash", 64))
                    .col(string_len("hash", 64))
                    .primary_key(Index::create().col("chain").col("seq"))
                    .take(),
            )
            .await?;
        manager.create_index(index("audit_log", "audit_log_town_at", &["town_id", "at"])).await?;
        manager.create_index(index("audit_log", "audit_log_entity", &["entity_type", "entity_id"])).await?;
        manager.create_index(index("audit_log", "audit_log_actor", &["actor_id", "at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_head")
                    .col(string_len("chain", 40).primary_key())
                    .col(big_integer("seq"))
                    .col(string_len("hash", 64))
                    .col(ts("updated_at"))
                    .take(),
            )
            .await?;

        // The audit trail is append-only in the database itself, not only by convention: an
        // UPDATE or DELETE of a record is refused whoever sends it.
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                )
                .await?;
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION wuwei_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log \
                     FOR EACH ROW EXECUTE FUNCTION wuwei_refuse_change()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
                     FOR EACH STATEMENT EXECUTE FUNCTION wuwei_refuse_change()",
                )
                .await?;
            }
            other => return Err(DbErr::Custom(format!("unsupported database backend {other:?}"))),
        }
        Ok(())
    }
}

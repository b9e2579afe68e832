//! Points around the ledger (issue 5): the town's rulebook and settings, awards with their
//! timeline and objections, the village points stores with their goods, stock movements and
//! redemptions.
//!
//! Awards and redemptions keep a copy of what they were made from (the item's name and points,
//! the goods' name and price), so that a later rulebook or catalogue change never alters what
//! was awarded or sold. Stock movements are append-only like the ledger: the goods row carries
//! the running stock, the movements are its proof.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{append_only, index, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("points_settings")
                .col(uuid("town_id").primary_key())
                .col(integer("notice_days"))
                // never | reset_yearly | keep_one_year (see `points::ledger::ExpiryRule`)
                .col(string_len("expiry_rule", 16).default("never"))
                // The last China year whose points were expired under the rule (0: none yet).
                .col(integer("expired_year").default(0))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;

        // A household's running totals by kind of posting (a reversal counts against its
        // original's kind): what the household page shows, one row each, whatever the history.
        m.create_table(
            Table::create()
                .table("points_household_total")
                .col(uuid("town_id"))
                .col(uuid("household_id"))
                .col(string_len("bucket", 16))
                .col(big_integer("total"))
                .primary_key(Index::create().col("town_id").col("household_id").col("bucket"))
                .take(),
        )
        .await?;
        // Ledgers written before this migration get their totals from their entries.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO points_household_total (town_id, household_id, bucket, total) \
                 SELECT e.town_id, e.account_id, COALESCE(o.kind, p.kind), SUM(e.points) FROM points_entry e \
                 JOIN points_posting p ON p.town_id = e.town_id AND p.id = e.posting_id \
                 LEFT JOIN points_posting o ON o.town_id = p.town_id AND o.id = p.reverses_id \
                 WHERE e.account_kind = 'household' \
                 GROUP BY e.town_id, e.account_id, COALESCE(o.kind, p.kind)",
            )
            .await?;

        // When a town changes its rule on negative balances, the posting seq it applies from:
        // `verify` judges each posting by the rule in force when it was made, so turning the rule
        // off later never makes an old, then-allowed negative balance look like a violation.
        m.create_table(
            Table::create()
                .table("points_rule_change")
                .col(uuid("town_id"))
                .col(big_integer("seq_from"))
                .col(boolean("allow_negative"))
                .col(ts("at"))
                .primary_key(Index::create().col("town_id").col("seq_from"))
                .take(),
        )
        .await?;

        // Readable numbers per town, kind and China day (`JF-20261128-0001` for awards,
        // `DH-…` for redemptions), taken atomically like the case numbers.
        m.create_table(
            Table::create()
                .table("points_counter")
                .col(uuid("town_id"))
                .col(string_len("key", 24))
                .col(integer("last_seq"))
                .primary_key(Index::create().col("town_id").col("key"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("points_rule_item")
                .col(uuid("town_id"))
                .col(string_len("code", 64))
                .col(string_len("category", 24))
                .col(string_len("name_zh", 100))
                .col(string_len("name_en", 100))
                .col(big_integer("points"))
                .col(string_len("evidence", 16))
                .col(big_integer_null("cap_points"))
                .col(string_len_null("cap_period", 16))
                // Role names, comma-separated (at most four roles may propose).
                .col(string_len("proposers", 100))
                .col(integer("position"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("town_id").col("code"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("points_award")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("number", 32))
                .col(uuid("batch_id"))
                .col(uuid("household_id"))
                .col(uuid("admin_village_id"))
                .col(uuid("natural_village_id"))
                .col(uuid("grid_id"))
                .col(string_len("item_code", 64))
                .col(string_len("item_name_zh", 100))
                .col(string_len("item_name_en", 100))
                .col(string_len("category", 24))
                .col(big_integer("points_each"))
                .col(integer("quantity"))
                .col(big_integer("points"))
                .col(string_len("note", 500))
                .col(string_len("source", 24))
                .col(string_len_null("source_ref", 100))
                // Attachment ids, comma-separated (at most 9).
                .col(string_len("attachment_ids", 400))
                .col(string_len("state", 24))
                .col(ts_null("notice_ends_at"))
                .col(integer("open_objections"))
                .col(uuid("proposed_by"))
                .col(string_len("proposed_by_name", 64))
                .col(ts("proposed_at"))
                .col(uuid_null("reviewed_by"))
                .col(string_len_null("reviewed_by_name", 64))
                .col(ts_null("reviewed_at"))
                .col(string_len_null("reason", 500))
                .col(uuid_null("posting_id"))
                .col(ts_null("posted_at"))
                .col(integer("version"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("points_award", "points_award_town_number", &["town_id", "number"]).unique().take())
            .await?;
        // The sweeper: awards in notice, by when the notice ends.
        m.create_index(index("points_award", "points_award_due", &["town_id", "state", "notice_ends_at"])).await?;
        m.create_index(index("points_award", "points_award_village", &["town_id", "admin_village_id", "state"]))
            .await?;
        // The cap: one household's awards of one item, by time.
        m.create_index(index(
            "points_award",
            "points_award_household_item",
            &["town_id", "household_id", "item_code", "proposed_at"],
        ))
        .await?;
        m.create_index(index("points_award", "points_award_batch", &["town_id", "batch_id"])).await?;

        // Photos and documents shown as evidence for awards (and photos of goods), uploaded
        // before the award is proposed; the bytes live content-addressed under the data dir.
        m.create_table(
            Table::create()
                .table("points_evidence")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("mime", 64))
                .col(big_integer("size_bytes"))
                .col(string_len("sha256", 64))
                .col(string_len_null("thumb_sha256", 64))
                .col(integer_null("width"))
                .col(integer_null("height"))
                .col(uuid_null("created_by"))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("points_award_event")
                .col(uuid("town_id"))
                .col(uuid("award_id"))
                .col(integer("seq"))
                .col(ts("at"))
                .col(uuid_null("actor_id"))
                .col(string_len("actor_name", 64))
                .col(string_len("action", 24))
                .col(string_len_null("from_state", 24))
                .col(string_len_null("to_state", 24))
                .col(string_len_null("note", 500))
                .primary_key(Index::create().col("town_id").col("award_id").col("seq"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("points_objection")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("award_id"))
                .col(uuid("filed_by"))
                .col(string_len("filed_by_name", 64))
                .col(string_len("reason", 500))
                // open | dismissed | upheld
                .col(string_len("state", 16))
                .col(ts("filed_at"))
                .col(uuid_null("resolved_by"))
                .col(string_len_null("resolved_by_name", 64))
                .col(ts_null("resolved_at"))
                .col(string_len_null("resolution", 500))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("points_objection", "points_objection_award", &["town_id", "award_id"])).await?;

        m.create_table(
            Table::create()
                .table("points_store")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("admin_village_id"))
                .col(string_len("name", 100))
                .col(ts("created_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("points_store", "points_store_village", &["town_id", "admin_village_id"]).unique().take())
            .await?;

        m.create_table(
            Table::create()
                .table("points_goods")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("store_id"))
                .col(string_len("name", 100))
                .col(string_len_null("barcode", 64))
                .col(uuid_null("photo_attachment_id"))
                .col(big_integer("price_points"))
                .col(big_integer("value_fen"))
                .col(big_integer("stock"))
                .col(integer_null("max_per_redemption"))
                .col(boolean("active").default(true))
                .col(integer("version"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("points_goods", "points_goods_store", &["town_id", "store_id", "name"])).await?;
        // A barcode names one goods in a store (NULLs are distinct: goods without one are fine).
        m.create_index(
            index("points_goods", "points_goods_barcode", &["town_id", "store_id", "barcode"]).unique().take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("points_stock_movement")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(uuid("store_id"))
                .col(uuid("goods_id"))
                .col(ts("at"))
                .col(big_integer("delta"))
                .col(big_integer("stock_after"))
                // redemption | return | restock | adjustment
                .col(string_len("reason", 16))
                .col(uuid_null("actor_id"))
                .col(string_len("actor_name", 64))
                .col(string_len_null("note", 200))
                .col(uuid_null("redemption_id"))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("points_stock_movement", "points_stock_movement_goods", &["town_id", "goods_id", "at"]))
            .await?;

        m.create_table(
            Table::create()
                .table("points_redemption")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(string_len("number", 32))
                .col(uuid("store_id"))
                .col(uuid("household_id"))
                .col(uuid("admin_village_id"))
                .col(big_integer("total_points"))
                .col(big_integer("value_fen"))
                .col(big_integer("balance_after"))
                .col(uuid("posting_id"))
                .col(string_len("idempotency_key", 128))
                .col(uuid_null("clerk_id"))
                .col(string_len("clerk_name", 64))
                .col(ts("at"))
                .col(ts_null("returned_at"))
                .col(uuid_null("return_posting_id"))
                .col(string_len_null("returned_by_name", 64))
                .col(string_len_null("return_reason", 200))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(
            index("points_redemption", "points_redemption_key", &["town_id", "idempotency_key"]).unique().take(),
        )
        .await?;
        m.create_index(index("points_redemption", "points_redemption_number", &["town_id", "number"]).unique().take())
            .await?;
        m.create_index(index("points_redemption", "points_redemption_store", &["town_id", "store_id", "at"])).await?;
        m.create_index(index("points_redemption", "points_redemption_household", &["town_id", "household_id", "at"]))
            .await?;

        m.create_table(
            Table::create()
                .table("points_redemption_line")
                .col(uuid("town_id"))
                .col(uuid("redemption_id"))
                .col(small_integer("line"))
                .col(uuid("goods_id"))
                .col(string_len("name", 100))
                .col(integer("quantity"))
                .col(big_integer("unit_price"))
                .col(big_integer("points"))
                .col(big_integer("value_fen"))
                .primary_key(Index::create().col("town_id").col("redemption_id").col("line"))
                .take(),
        )
        .await?;

        // Stock movements are the proof of the stock: append-only, as the ledger is.
        append_only(m, "points_stock_movement").await?;
        Ok(())
    }
}

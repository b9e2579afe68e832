//! The points ledger (issue 5): postings, their entries, the running balances and the chain
//! head of each town. See `crate::points` for how they are written and verified.
//!
//! `points_posting` and `points_entry` are append-only in the database itself, like the audit
//! trail: an UPDATE or DELETE is refused whoever sends it (a correction is a reversal posting).
//! `points_balance` and `points_head` are the running state beside them, updated in place under
//! the town's head lock and checked against the postings by `points::verify`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{append_only, index, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per town that has a ledger: where the next posting attaches (locked FOR UPDATE
        // on PostgreSQL while posting) and the town's rule for negative balances.
        m.create_table(
            Table::create()
                .table("points_head")
                .col(uuid("town_id").primary_key())
                .col(big_integer("seq"))
                .col(string_len("hash", 64))
                .col(boolean("allow_negative").default(false))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("points_posting")
                .col(uuid("town_id"))
                .col(uuid("id"))
                .col(big_integer("seq"))
                // award | deduction | redemption | reversal | expiry
                .col(string_len("kind", 16))
                .col(string_len("idempotency_key", 128))
                .col(uuid_null("reverses_id"))
                // The household the posting concerns (its history), also for a deduction with no
                // entries (the shortfall record) and for a reversal (the original's household).
                .col(uuid_null("household_id"))
                .col(string_len("reference", 200))
                .col(big_integer("shortfall"))
                .col(ts("at"))
                .col(uuid_null("actor_id"))
                .col(string_len("actor_name", 64))
                .col(string_len("prev_hash", 64))
                .col(string_len("hash", 64))
                .primary_key(Index::create().col("town_id").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("points_posting", "points_posting_town_seq", &["town_id", "seq"]).unique().take()).await?;
        m.create_index(
            index("points_posting", "points_posting_town_key", &["town_id", "idempotency_key"]).unique().take(),
        )
        .await?;
        // A posting is reversed at most once, also in the database (NULLs are distinct).
        m.create_index(
            index("points_posting", "points_posting_town_reverses", &["town_id", "reverses_id"]).unique().take(),
        )
        .await?;
        m.create_index(index("points_posting", "points_posting_town_household", &["town_id", "household_id", "seq"]))
            .await?;

        m.create_table(
            Table::create()
                .table("points_entry")
                .col(uuid("town_id"))
                .col(uuid("posting_id"))
                .col(small_integer("line"))
                // The posting's seq, so that the verifier reads a range of entries in order.
                .col(big_integer("seq"))
                .col(string_len("account_kind", 24))
                .col(uuid("account_id"))
                .col(big_integer("points"))
                .primary_key(Index::create().col("town_id").col("posting_id").col("line"))
                .take(),
        )
        .await?;
        m.create_index(index("points_entry", "points_entry_town_seq", &["town_id", "seq", "line"])).await?;
        m.create_index(index(
            "points_entry",
            "points_entry_account",
            &["town_id", "account_kind", "account_id", "seq"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("points_balance")
                .col(uuid("town_id"))
                .col(string_len("account_kind", 24))
                .col(uuid("account_id"))
                .col(big_integer("balance"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("town_id").col("account_kind").col("account_id"))
                .take(),
        )
        .await?;

        // Postings and entries are append-only in the database, as the audit trail is
        // (m0001 created `wuwei_refuse_change()` on PostgreSQL).
        for table in ["points_posting", "points_entry"] {
            append_only(m, table).await?;
        }
        Ok(())
    }
}

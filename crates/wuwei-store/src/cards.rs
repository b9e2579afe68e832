//! Household cards: issuing (one active card per household; issuing revokes the previous),
//! revoking, the printable sheet of a village (all its households at once, one transaction, one
//! audit entry), and finding a card by its token's hash at sign-in.
//!
//! Tokens are never stored: only their SHA-256 (`token_hash`), as for sessions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::entity::{household, household_card};
use crate::households::HouseholdRow;
use crate::{Actor, AuditDraft, Conn, Result, StoreError, Tx};

pub use crate::entity::household_card::Model as CardRow;

/// Households on one printed sheet at most (a village has a few hundred).
pub const MAX_SHEET_HOUSEHOLDS: u64 = 2000;

/// The household's newest card (active or not): what its status shows.
pub async fn latest_card(db: &impl Conn, town_id: Uuid, household_id: Uuid) -> Result<Option<CardRow>> {
    Ok(household_card::Entity::find()
        .filter(household_card::Column::TownId.eq(town_id))
        .filter(household_card::Column::HouseholdId.eq(household_id))
        .order_by_desc(household_card::Column::Id)
        .one(db)
        .await?)
}

pub async fn card_by_token_hash(db: &impl Conn, hash: &str) -> Result<Option<CardRow>> {
    Ok(household_card::Entity::find().filter(household_card::Column::TokenHash.eq(hash)).one(db).await?)
}

async fn revoke_active(tx: &Tx, town_id: Uuid, household_ids: &[Uuid], now: DateTime<Utc>) -> Result<u64> {
    let mut revoked = 0;
    for chunk in household_ids.chunks(500) {
        let res = household_card::Entity::update_many()
            .col_expr(household_card::Column::RevokedAt, Expr::value(now))
            .filter(household_card::Column::TownId.eq(town_id))
            .filter(household_card::Column::HouseholdId.is_in(chunk.iter().copied()))
            .filter(household_card::Column::RevokedAt.is_null())
            .exec(tx.db())
            .await?;
        revoked += res.rows_affected;
    }
    Ok(revoked)
}

fn model(
    town_id: Uuid,
    household_id: Uuid,
    token_hash: String,
    actor: &Actor,
    now: DateTime<Utc>,
) -> household_card::ActiveModel {
    household_card::ActiveModel {
        town_id: Set(town_id),
        id: Set(Uuid::now_v7()),
        household_id: Set(household_id),
        token_hash: Set(token_hash),
        issued_at: Set(now),
        issued_by: Set(actor.name.chars().take(100).collect()),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
}

/// Issue a card for one household, revoking its previous card.
pub async fn issue_card(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    h: &HouseholdRow,
    token_hash: String,
) -> Result<CardRow> {
    let revoked = revoke_active(tx, h.town_id, &[h.id], now).await?;
    let row = model(h.town_id, h.id, token_hash, actor, now).insert(tx.db()).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "household_card.issue".into(),
        entity_type: "household".into(),
        entity_id: h.id.to_string(),
        town_id: Some(h.town_id),
        before: None,
        after: Some(json!({"card_id": row.id, "revoked_previous": revoked})),
    });
    Ok(row)
}

/// The households of an admin village, by code (at most [`MAX_SHEET_HOUSEHOLDS`] + 1, so the
/// caller can tell "too many").
pub async fn village_households(db: &impl Conn, town_id: Uuid, admin_village_id: Uuid) -> Result<Vec<HouseholdRow>> {
    Ok(household::Entity::find()
        .filter(household::Column::TownId.eq(town_id))
        .filter(household::Column::AdminVillageId.eq(admin_village_id))
        .order_by_asc(household::Column::Code)
        .order_by_asc(household::Column::Id)
        .limit(MAX_SHEET_HOUSEHOLDS + 1)
        .all(db)
        .await?)
}

/// Issue fresh cards for many households of one village at once (the printed sheet), revoking
/// their previous cards; one audit entry for the sheet. `cards` pairs household ids with the
/// hashes of their new tokens.
pub async fn issue_sheet(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    town_id: Uuid,
    admin_village_id: Uuid,
    cards: Vec<(Uuid, String)>,
) -> Result<usize> {
    if cards.len() as u64 > MAX_SHEET_HOUSEHOLDS {
        return Err(StoreError::Invariant(format!("a sheet of {} cards", cards.len())));
    }
    let ids: Vec<Uuid> = cards.iter().map(|(h, _)| *h).collect();
    let revoked = revoke_active(tx, town_id, &ids, now).await?;
    let n = cards.len();
    let models: Vec<_> = cards.into_iter().map(|(h, hash)| model(town_id, h, hash, actor, now)).collect();
    for chunk in models.chunks(200) {
        household_card::Entity::insert_many(chunk.to_vec()).exec(tx.db()).await?;
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "household_card.issue_sheet".into(),
        entity_type: "region".into(),
        entity_id: admin_village_id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(json!({"issued": n, "revoked_previous": revoked})),
    });
    Ok(n)
}

/// Revoke a card. Returns false when it was revoked already.
pub async fn revoke_card(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, card: &CardRow) -> Result<bool> {
    let res = household_card::Entity::update_many()
        .col_expr(household_card::Column::RevokedAt, Expr::value(now))
        .filter(household_card::Column::TownId.eq(card.town_id))
        .filter(household_card::Column::Id.eq(card.id))
        .filter(household_card::Column::RevokedAt.is_null())
        .exec(tx.db())
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "household_card.revoke".into(),
        entity_type: "household".into(),
        entity_id: card.household_id.to_string(),
        town_id: Some(card.town_id),
        before: None,
        after: Some(json!({"card_id": card.id})),
    });
    Ok(true)
}

/// Bookkeeping: when the card was last used to sign in.
pub async fn touch_card(tx: &Tx, card: &CardRow, now: DateTime<Utc>) -> Result<()> {
    household_card::Entity::update_many()
        .col_expr(household_card::Column::LastUsedAt, Expr::value(now))
        .filter(household_card::Column::TownId.eq(card.town_id))
        .filter(household_card::Column::Id.eq(card.id))
        .exec(tx.db())
        .await?;
    Ok(())
}

/// Active cards of a town (for figures and tests).
pub async fn active_cards(db: &impl Conn, town_id: Uuid) -> Result<u64> {
    Ok(household_card::Entity::find()
        .filter(household_card::Column::TownId.eq(town_id))
        .filter(household_card::Column::RevokedAt.is_null())
        .count(db)
        .await?)
}

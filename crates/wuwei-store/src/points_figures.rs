//! The raw facts behind the points figures (issue 5): posted awards and redemptions of a
//! period, and the households of a town. The arithmetic (by category, village, month; star
//! households; who had no activity) is done by the caller over these rows, which stay small: a
//! town posts thousands of awards a year, not millions.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;
use wuwei_domain::points::award::AwardState;

use crate::Result;
use crate::entity::{household, points_award, points_redemption};

/// At most this many rows of one kind are read for one figures request; a period holding more
/// is refused by the caller (ask for a shorter one).
pub const MAX_ROWS: u64 = 500_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedAward {
    pub household_id: Uuid,
    pub admin_village_id: Uuid,
    pub category: String,
    pub points: i64,
    pub posted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub household_id: Uuid,
    pub admin_village_id: Uuid,
    pub points: i64,
    pub value_fen: i64,
    pub at: DateTime<Utc>,
}

/// household, admin village, category, points, posted at.
type AwardTuple = (Uuid, Uuid, String, i64, Option<DateTime<Utc>>);

/// Awards posted in `[from, to)`.
pub async fn posted_awards(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PostedAward>> {
    let rows: Vec<AwardTuple> = points_award::Entity::find()
        .select_only()
        .column(points_award::Column::HouseholdId)
        .column(points_award::Column::AdminVillageId)
        .column(points_award::Column::Category)
        .column(points_award::Column::Points)
        .column(points_award::Column::PostedAt)
        .filter(points_award::Column::TownId.eq(town_id))
        .filter(points_award::Column::State.eq(AwardState::Posted.as_str()))
        .filter(points_award::Column::PostedAt.gte(from))
        .filter(points_award::Column::PostedAt.lt(to))
        .limit(MAX_ROWS + 1)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(household_id, admin_village_id, category, points, at)| {
            at.map(|posted_at| PostedAward { household_id, admin_village_id, category, points, posted_at })
        })
        .collect())
}

/// Redemptions made in `[from, to)` and not returned.
pub async fn redemptions(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Redeemed>> {
    let rows: Vec<(Uuid, Uuid, i64, i64, DateTime<Utc>)> = points_redemption::Entity::find()
        .select_only()
        .column(points_redemption::Column::HouseholdId)
        .column(points_redemption::Column::AdminVillageId)
        .column(points_redemption::Column::TotalPoints)
        .column(points_redemption::Column::ValueFen)
        .column(points_redemption::Column::At)
        .filter(points_redemption::Column::TownId.eq(town_id))
        .filter(points_redemption::Column::At.gte(from))
        .filter(points_redemption::Column::At.lt(to))
        .filter(points_redemption::Column::ReturnedAt.is_null())
        .limit(MAX_ROWS + 1)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(household_id, admin_village_id, points, value_fen, at)| Redeemed {
            household_id,
            admin_village_id,
            points,
            value_fen,
            at,
        })
        .collect())
}

/// Households that had any award proposed for them in `[from, to)` (activity even if not posted).
pub async fn proposed_for(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    Ok(points_award::Entity::find()
        .select_only()
        .column(points_award::Column::HouseholdId)
        .distinct()
        .filter(points_award::Column::TownId.eq(town_id))
        .filter(points_award::Column::ProposedAt.gte(from))
        .filter(points_award::Column::ProposedAt.lt(to))
        .limit(MAX_ROWS + 1)
        .into_tuple()
        .all(db)
        .await?)
}

/// The town's households (optionally of some admin villages), by code.
pub async fn households(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    villages: Option<&[Uuid]>,
) -> Result<Vec<household::Model>> {
    let mut q = household::Entity::find().filter(household::Column::TownId.eq(town_id));
    if let Some(v) = villages {
        q = q.filter(household::Column::AdminVillageId.is_in(v.to_vec()));
    }
    Ok(q.order_by_asc(household::Column::Code).limit(MAX_ROWS + 1).all(db).await?)
}

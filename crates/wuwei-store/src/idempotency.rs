//! Idempotent submission: the first answer to a request with an `Idempotency-Key` is stored in
//! the same transaction as its effect, and a retry gets that answer back.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::idempotency;
use crate::{Result, Tx};

pub use crate::entity::idempotency::Model as IdempotencyRow;

/// Keys are kept this long; a retry after that is a new request.
pub const KEEP_HOURS: i64 = 48;

pub async fn find(db: &impl ConnectionTrait, key_hash: &str) -> Result<Option<IdempotencyRow>> {
    Ok(idempotency::Entity::find_by_id(key_hash.to_string()).one(db).await?)
}

/// The first answer to a request under an `Idempotency-Key`, to store with its effect.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub key_hash: &'a str,
    pub user_id: Uuid,
    pub request_hash: &'a str,
    pub status: u16,
    pub body: &'a str,
}

/// Store `answer` now (with whatever the transaction queued before): a key stored before fails
/// here, before the request does its work.
pub async fn store(tx: &mut Tx, now: DateTime<Utc>, answer: Answer<'_>) -> Result<()> {
    store_later(tx, now, answer);
    tx.flush().await
}

/// [`store`], queued with the transaction's other writes ([`Tx::write_later`]): a key stored
/// twice fails the commit, not this call.
pub fn store_later(tx: &mut Tx, now: DateTime<Utc>, answer: Answer<'_>) {
    tx.insert_later(vec![idempotency::ActiveModel {
        key_hash: Set(answer.key_hash.to_string()),
        user_id: Set(answer.user_id),
        request_hash: Set(answer.request_hash.to_string()),
        status_code: Set(i32::from(answer.status)),
        response_body: Set(answer.body.to_string()),
        created_at: Set(now),
    }]);
}

pub async fn purge(tx: &Tx, now: DateTime<Utc>) -> Result<u64> {
    Ok(idempotency::Entity::delete_many()
        .filter(idempotency::Column::CreatedAt.lt(now - chrono::Duration::hours(KEEP_HOURS)))
        .exec(tx.db())
        .await?
        .rows_affected)
}

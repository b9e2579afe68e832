//! Idempotent submission: the first answer to a request with an `Idempotency-Key` is stored in
//! the same transaction as its effect, and a retry gets that answer back.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::idempotency;
use crate::{Result, Tx};

pub use crate::entity::idempotency::Model as IdempotencyRow;

/// Keys are kept this long; a retry after that is a new request.
pub const KEEP_HOURS: i64 = 48;

pub async fn find(db: &impl ConnectionTrait, key_hash: &str) -> Result<Option<IdempotencyRow>> {
    Ok(idempotency::Entity::find_by_id(key_hash.to_string()).one(db).await?)
}

pub async fn store(
    tx: &Tx,
    now: DateTime<Utc>,
    key_hash: &str,
    user_id: Uuid,
    request_hash: &str,
    status: u16,
    body: &str,
) -> Result<()> {
    row(now, key_hash, user_id, request_hash, status, body).insert(tx.db()).await?;
    Ok(())
}

/// [`store`], queued with the transaction's other writes ([`Tx::write_later`]): a key stored
/// twice fails the commit, not this call.
pub fn store_later(
    tx: &mut Tx,
    now: DateTime<Utc>,
    key_hash: &str,
    user_id: Uuid,
    request_hash: &str,
    status: u16,
    body: &str,
) {
    tx.insert_later(vec![row(now, key_hash, user_id, request_hash, status, body)]);
}

fn row(
    now: DateTime<Utc>,
    key_hash: &str,
    user_id: Uuid,
    request_hash: &str,
    status: u16,
    body: &str,
) -> idempotency::ActiveModel {
    idempotency::ActiveModel {
        key_hash: Set(key_hash.to_string()),
        user_id: Set(user_id),
        request_hash: Set(request_hash.to_string()),
        status_code: Set(i32::from(status)),
        response_body: Set(body.to_string()),
        created_at: Set(now),
    }
}

pub async fn purge(tx: &Tx, now: DateTime<Utc>) -> Result<u64> {
    Ok(idempotency::Entity::delete_many()
        .filter(idempotency::Column::CreatedAt.lt(now - chrono::Duration::hours(KEEP_HOURS)))
        .exec(tx.db())
        .await?
        .rows_affected)
}

//! The notification outbox (written in the same transaction as the change that causes it,
//! delivered later by a worker with retries) and the in-app inbox it delivers to.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::{inbox, notification};
use crate::{Result, Tx};

pub use crate::entity::inbox::Model as InboxRow;
pub use crate::entity::notification::Model as NotificationRow;

/// Delivery channels.
pub const INBOX: &str = "inbox";
pub const SMS: &str = "sms";
pub const WECOM: &str = "wecom";

/// Attempts before a notification is given up (its last error stays for an administrator).
pub const MAX_ATTEMPTS: i32 = 8;

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub town_id: Uuid,
    pub case_id: Option<Uuid>,
    pub kind: String,
    pub channel: &'static str,
    pub recipient_id: Option<Uuid>,
    pub recipient_phone: Option<String>,
    pub title: String,
    pub body: String,
}

pub async fn enqueue(tx: &Tx, now: DateTime<Utc>, items: Vec<NewNotification>) -> Result<()> {
    let models: Vec<notification::ActiveModel> = items
        .into_iter()
        .map(|n| notification::ActiveModel {
            town_id: Set(n.town_id),
            id: Set(Uuid::now_v7()),
            case_id: Set(n.case_id),
            kind: Set(n.kind),
            channel: Set(n.channel.to_string()),
            recipient_id: Set(n.recipient_id),
            recipient_phone: Set(n.recipient_phone),
            title: Set(n.title.chars().take(128).collect()),
            body: Set(n.body),
            status: Set("pending".into()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set(None),
            created_at: Set(now),
            delivered_at: Set(None),
        })
        .collect();
    for chunk in models.chunks(200) {
        notification::Entity::insert_many(chunk.to_vec()).exec(tx.db()).await?;
    }
    Ok(())
}

/// Pending notifications whose time has come, oldest first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<NotificationRow>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::Status.eq("pending"))
        .filter(notification::Column::NextAttemptAt.lte(now))
        .order_by_asc(notification::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Deliver an inbox notification: the inbox row and the outbox status in one transaction.
pub async fn deliver_to_inbox(tx: &Tx, now: DateTime<Utc>, n: &NotificationRow) -> Result<bool> {
    let res = notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value("delivered"))
        .col_expr(notification::Column::DeliveredAt, Expr::value(now))
        .col_expr(notification::Column::Attempts, Expr::value(n.attempts + 1))
        .filter(notification::Column::TownId.eq(n.town_id))
        .filter(notification::Column::Id.eq(n.id))
        .filter(notification::Column::Status.eq("pending"))
        .exec(tx.db())
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    if let Some(user) = n.recipient_id {
        inbox::ActiveModel {
            town_id: Set(n.town_id),
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            case_id: Set(n.case_id),
            kind: Set(n.kind.clone()),
            title: Set(n.title.clone()),
            body: Set(n.body.clone()),
            created_at: Set(now),
            read_at: Set(None),
        }
        .insert(tx.db())
        .await?;
    }
    Ok(true)
}

pub async fn mark_delivered(tx: &Tx, now: DateTime<Utc>, n: &NotificationRow) -> Result<()> {
    notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value("delivered"))
        .col_expr(notification::Column::DeliveredAt, Expr::value(now))
        .col_expr(notification::Column::Attempts, Expr::value(n.attempts + 1))
        .filter(notification::Column::TownId.eq(n.town_id))
        .filter(notification::Column::Id.eq(n.id))
        .exec(tx.db())
        .await?;
    Ok(())
}

/// Exponential backoff: 30 s, 1 min, 2 min, ... capped at an hour; failed for good after
/// [`MAX_ATTEMPTS`].
pub fn backoff(attempts: i32) -> Duration {
    let secs = 30i64.saturating_mul(1i64 << attempts.clamp(0, 7));
    Duration::seconds(secs.min(3600))
}

pub async fn mark_failed(tx: &Tx, now: DateTime<Utc>, n: &NotificationRow, error: &str) -> Result<()> {
    let attempts = n.attempts + 1;
    let status = if attempts >= MAX_ATTEMPTS { "failed" } else { "pending" };
    notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value(status))
        .col_expr(notification::Column::Attempts, Expr::value(attempts))
        .col_expr(notification::Column::NextAttemptAt, Expr::value(now + backoff(attempts)))
        .col_expr(notification::Column::LastError, Expr::value(error.chars().take(500).collect::<String>()))
        .filter(notification::Column::TownId.eq(n.town_id))
        .filter(notification::Column::Id.eq(n.id))
        .exec(tx.db())
        .await?;
    Ok(())
}

pub async fn inbox(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    unread_only: bool,
    offset: u64,
    limit: u64,
) -> Result<(Vec<InboxRow>, u64)> {
    let mut q = inbox::Entity::find().filter(inbox::Column::UserId.eq(user_id));
    if unread_only {
        q = q.filter(inbox::Column::ReadAt.is_null());
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(inbox::Column::CreatedAt)
        .order_by_desc(inbox::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn unread_count(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64> {
    Ok(inbox::Entity::find()
        .filter(inbox::Column::UserId.eq(user_id))
        .filter(inbox::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// Mark read; `None` marks all of the user's messages. Bookkeeping, not audited.
pub async fn mark_read(tx: &Tx, now: DateTime<Utc>, user_id: Uuid, id: Option<Uuid>) -> Result<u64> {
    let mut q = inbox::Entity::update_many()
        .col_expr(inbox::Column::ReadAt, Expr::value(now))
        .filter(inbox::Column::UserId.eq(user_id))
        .filter(inbox::Column::ReadAt.is_null());
    if let Some(id) = id {
        q = q.filter(inbox::Column::Id.eq(id));
    }
    Ok(q.exec(tx.db()).await?.rows_affected)
}

//! The audit trail: appending inside a write transaction, listing, and verifying the chains.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::audit::{AuditRecord, ChainBreak, ChainVerifier, GENESIS_HASH};

use crate::entity::{audit_head, audit_log};
use crate::{AuditDraft, Result, StoreError};

pub use crate::entity::audit_log::Model as AuditRow;

/// Rows read per round trip while verifying: bounded memory whatever the chain's length.
const VERIFY_BATCH: u64 = 2_000;

/// Append `drafts` to `chain`: its head is locked (made when missing) and read now; the
/// statements that write the records and move the head are returned, to go to the database
/// with the transaction's other writes (see `Tx::commit`).
pub(crate) async fn append_statements(
    db: &impl ConnectionTrait,
    chain: &str,
    at: DateTime<Utc>,
    drafts: Vec<AuditDraft>,
) -> Result<Vec<Statement>> {
    // FOR UPDATE on PostgreSQL; on SQLite the writer lock already serialises us. The head is
    // made when missing (once per chain), so the usual case is one statement.
    let found = audit_head::Entity::find_by_id(chain.to_string()).lock_exclusive().one(db).await?;
    let head = match found {
        Some(head) => head,
        None => {
            audit_head::Entity::insert(audit_head::ActiveModel {
                chain: Set(chain.to_string()),
                seq: Set(0),
                hash: Set(GENESIS_HASH.to_string()),
                updated_at: Set(at),
            })
            .on_conflict_do_nothing()
            .exec(db)
            .await?;
            audit_head::Entity::find_by_id(chain.to_string())
                .lock_exclusive()
                .one(db)
                .await?
                .ok_or_else(|| StoreError::Invariant(format!("audit head of chain {chain} vanished")))?
        }
    };
    let mut seq = head.seq;
    let mut prev = head.hash;
    let mut rows = Vec::with_capacity(drafts.len());
    for d in drafts {
        seq += 1;
        let summary = serde_json::to_string(&json!({"before": d.before, "after": d.after}))
            .map_err(|e| StoreError::Invariant(format!("audit summary not serialisable: {e}")))?;
        let record = AuditRecord {
            chain: chain.to_string(),
            seq,
            at,
            actor_id: d.actor.id,
            actor_name: d.actor.name,
            action: d.action,
            entity_type: d.entity_type,
            entity_id: d.entity_id,
            town_id: d.town_id,
            summary,
            prev_hash: prev,
        };
        let hash = record.hash();
        prev = hash.clone();
        rows.push(audit_log::ActiveModel {
            chain: Set(record.chain),
            seq: Set(record.seq),
            id: Set(Uuid::now_v7()),
            at: Set(record.at),
            actor_id: Set(record.actor_id),
            actor_name: Set(record.actor_name),
            action: Set(record.action),
            entity_type: Set(record.entity_type),
            entity_id: Set(record.entity_id),
            town_id: Set(record.town_id),
            summary: Set(record.summary),
            prev_hash: Set(record.prev_hash),
            hash: Set(hash),
        });
    }
    let backend = db.get_database_backend();
    let mut out: Vec<Statement> = crate::statement_chunks(rows)
        .into_iter()
        .map(|chunk| audit_log::Entity::insert_many(chunk).build(backend))
        .collect();
    out.push(
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::value(seq))
            .col_expr(audit_head::Column::Hash, Expr::value(prev))
            .col_expr(audit_head::Column::UpdatedAt, Expr::value(at))
            .filter(audit_head::Column::Chain.eq(chain))
            .build(backend),
    );
    Ok(out)
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Towns visible to the caller; `None` means every chain (a county admin), including the
    /// county chain.
    pub towns: Option<Vec<Uuid>>,
    pub town_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<AuditRow>, u64)> {
    let mut cond = Condition::all();
    if let Some(towns) = &filter.towns {
        cond = cond.add(audit_log::Column::TownId.is_in(towns.clone()));
    }
    if let Some(t) = filter.town_id {
        cond = cond.add(audit_log::Column::TownId.eq(t));
    }
    if let Some(t) = &filter.entity_type {
        cond = cond.add(audit_log::Column::EntityType.eq(t.clone()));
    }
    if let Some(t) = &filter.entity_id {
        cond = cond.add(audit_log::Column::EntityId.eq(t.clone()));
    }
    if let Some(a) = filter.actor_id {
        cond = cond.add(audit_log::Column::ActorId.eq(a));
    }
    let query = audit_log::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(audit_log::Column::At)
        .order_by_desc(audit_log::Column::Seq)
        .order_by_asc(audit_log::Column::Chain)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub chains: u64,
    pub records: u64,
    pub first_broken: Option<ChainBreak>,
}

/// Walk every chain (or those given) in `seq` order, in bounded batches, and report the first
/// broken link.
pub async fn verify(db: &impl ConnectionTrait, only: Option<&[String]>) -> Result<Verification> {
    let mut heads = audit_head::Entity::find().order_by_asc(audit_head::Column::Chain).all(db).await?;
    if let Some(only) = only {
        heads.retain(|h| only.contains(&h.chain));
    }
    // Records whose chain has no head at all (the head row deleted) are a break too.
    let chains_with_rows: Vec<String> = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Chain)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    for c in chains_with_rows {
        if only.is_none_or(|o| o.contains(&c)) && !heads.iter().any(|h| h.chain == c) {
            return Ok(Verification {
                chains: heads.len() as u64,
                records: 0,
                first_broken: Some(ChainBreak::HeadMismatch { chain: c, head_seq: 0, last_seq: 1 }),
            });
        }
    }
    let mut records = 0u64;
    for head in &heads {
        let mut verifier = ChainVerifier::new(&head.chain);
        let mut after = 0i64;
        loop {
            let batch = audit_log::Entity::find()
                .filter(audit_log::Column::Chain.eq(head.chain.clone()))
                .filter(audit_log::Column::Seq.gt(after))
                .order_by_asc(audit_log::Column::Seq)
                .limit(VERIFY_BATCH)
                .all(db)
                .await?;
            let n = batch.len() as u64;
            for row in batch {
                after = row.seq;
                let stored = row.hash.clone();
                if let Err(broken) = verifier.push(&record_of(row), &stored) {
                    return Ok(Verification { chains: heads.len() as u64, records, first_broken: Some(broken) });
                }
                records += 1;
            }
            if n < VERIFY_BATCH {
                break;
            }
        }
        if let Err(broken) = verifier.finish(head.seq) {
            return Ok(Verification { chains: heads.len() as u64, records, first_broken: Some(broken) });
        }
    }
    Ok(Verification { chains: heads.len() as u64, records, first_broken: None })
}

/// [`verify`] inside one read-only snapshot: beside a running server, whose writers move the
/// heads on, the heads and the records it reads are of one moment, so a write in between is
/// never mistaken for a break.
pub async fn verify_snapshot(store: &crate::Store, only: Option<&[String]>) -> Result<Verification> {
    let txn = store.begin_read_snapshot().await?;
    let out = verify(&txn, only).await?;
    txn.rollback().await?;
    Ok(out)
}

fn record_of(row: AuditRow) -> AuditRecord {
    AuditRecord {
        chain: row.chain,
        seq: row.seq,
        at: row.at,
        actor_id: row.actor_id,
        actor_name: row.actor_name,
        action: row.action,
        entity_type: row.entity_type,
        entity_id: row.entity_id,
        town_id: row.town_id,
        summary: row.summary,
        prev_hash: row.prev_hash,
    }
}

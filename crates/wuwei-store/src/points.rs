//! The points ledger in the database (issue 5): posting, balances, a household's history, and
//! the verifier behind `wuwei points verify`.
//!
//! The rules are the domain's (`wuwei_domain::points::ledger`): this module loads the facts the
//! builders need (the town's chain head, the balances, the original of a reversal), asks them for
//! the posting, and writes what they build, all in the caller's [`Tx`]:
//!
//! 1. the town's head row (`points_head`) is made if missing and locked (`FOR UPDATE` on
//!    PostgreSQL; on SQLite the writer mutex already serialises writers), so that everything
//!    read after it — the idempotency key, the balances, whether an original was reversed — is
//!    the truth until commit;
//! 2. a posting whose idempotency key is already in the town's ledger is returned as it was
//!    (and nothing is written); the same key with a different request is refused;
//! 3. the builder decides (a redemption never takes a household below zero, a deduction is
//!    capped at the balance unless the town allows negative balances, a reversal happens once);
//! 4. the posting, its entries, the new balances and the head are written, and an audit entry is
//!    recorded for the transaction.
//!
//! `points_posting` and `points_entry` are append-only in the database (triggers, see migration
//! `m0005_points`); `points_balance` is the running balance, so that reading a balance costs one
//! row whatever the household's history, and [`verify`] checks it against the postings.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::points::Points;
use wuwei_domain::points::ledger::{
    self, Account, AccountKind, Entry, GENESIS_HASH, Head, LedgerError, LedgerVerifier, Posting, PostingKind,
    PostingMeta, Request, Verified, Violation,
};
use wuwei_domain::validate::PageRequest;

use crate::entity::{household, points_balance, points_entry, points_head, points_posting, points_rule_change};
use crate::{Actor, AuditDraft, Result, Store, StoreError, Tx, lookup_chunks, micros, statement_chunks};

/// Postings read per round trip while verifying: bounded memory for the rows whatever the
/// ledger's length (the verifier itself keeps one small record per posting and account); a
/// batch is one row of about 0.5 kB per posting.
const VERIFY_BATCH: u64 = 2_000;

/// The posting's `actor_name` column holds at most this many characters.
const MAX_ACTOR_CHARS: usize = 64;

/// Why a posting was not written.
#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    /// The domain's refusal (insufficient points 409, reversed already 409, bad amount 422, …).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// 409 (or 422): the idempotency key was used for a different posting.
    #[error("idempotency key {key:?} was used for a different posting (seq {seq})")]
    KeyReused { key: String, seq: i64 },
    /// 422: the household is not in this town.
    #[error("no household {household} in this town")]
    UnknownHousehold { household: Uuid },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbErr> for PointsError {
    fn from(e: DbErr) -> PointsError {
        PointsError::Store(e.into())
    }
}

/// The result of [`post`]: the posting, and whether it was there already (same key). A replayed
/// posting wrote nothing, so its transaction has nothing to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub posting: Posting,
    pub replayed: bool,
}

/// The next readable number of a kind (`JF` awards, `DH` redemptions) for the town's China day:
/// `JF-20261128-0001`. Atomic on both databases (an upsert returning the new count), so two
/// writers never share a number.
pub async fn next_number(tx: &Tx, town_id: Uuid, prefix: &str, now: DateTime<Utc>) -> Result<String> {
    next_numbers(tx, town_id, prefix, now, 1)
        .await?
        .pop()
        .ok_or_else(|| StoreError::Invariant("points counter gave no number".into()))
}

/// `n` consecutive readable numbers of a kind in one statement (a batch of redemptions takes its
/// numbers at once).
pub async fn next_numbers(tx: &Tx, town_id: Uuid, prefix: &str, now: DateTime<Utc>, n: usize) -> Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let count = i32::try_from(n).map_err(|_| StoreError::Invariant("too many numbers asked at once".into()))?;
    let day = wuwei_domain::points::cap::china_date(now);
    let key = format!("{prefix}{}", day.format("%Y%m%d"));
    let backend = tx.db().get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO points_counter (town_id, key, last_seq) VALUES ($1, $2, $3) \
             ON CONFLICT (town_id, key) DO UPDATE SET last_seq = points_counter.last_seq + EXCLUDED.last_seq \
             RETURNING last_seq"
        }
        _ => {
            "INSERT INTO points_counter (town_id, key, last_seq) VALUES (?, ?, ?) \
             ON CONFLICT (town_id, key) DO UPDATE SET last_seq = points_counter.last_seq + excluded.last_seq \
             RETURNING last_seq"
        }
    };
    let row = tx
        .db()
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [town_id.into(), key.into(), count.into()]))
        .await?
        .ok_or_else(|| StoreError::Invariant("points counter returned no row".into()))?;
    let last: i32 = row.try_get("", "last_seq")?;
    Ok((last - count + 1..=last).map(|seq| format!("{prefix}-{}-{:04}", day.format("%Y%m%d"), seq.max(0))).collect())
}

/// Post `request` under `meta`'s idempotency key in the caller's transaction (see the module
/// docs for the steps). On an error nothing of the posting was written; the caller drops the
/// transaction. `meta.at` is truncated to microseconds, as the databases keep it.
pub async fn post(tx: &mut Tx, actor: &Actor, mut meta: PostingMeta, request: Request) -> Result<Posted, PointsError> {
    meta.at = micros(meta.at);
    let town_id = meta.town_id;
    let head = lock_head(tx, town_id, meta.at).await?;

    if let Some((first, household_id)) = posting_by_key(tx.db(), town_id, &meta.idempotency_key).await? {
        if !same_request(&first, household_id, &request, &meta.reference) {
            return Err(PointsError::KeyReused { key: meta.idempotency_key, seq: first.seq });
        }
        return Ok(Posted { posting: first, replayed: true });
    }

    let chain = Head { seq: head.seq, hash: head.hash.clone() };
    let allow_negative = head.allow_negative;
    let mut reverses_kind = None;
    let db = tx.db();
    let (posting, household_id) = match request {
        Request::Award { household, points } => {
            require_household(db, town_id, household).await?;
            (ledger::award_posting(meta, &chain, household, points)?, household)
        }
        Request::Deduction { household, points } => {
            require_household(db, town_id, household).await?;
            let balance = balance(db, town_id, Account::household(household)).await?;
            (ledger::deduction_posting(meta, &chain, household, points, balance, allow_negative)?, household)
        }
        Request::Redemption { household, store, points } => {
            require_household(db, town_id, household).await?;
            let balance = balance(db, town_id, Account::household(household)).await?;
            (ledger::redemption_posting(meta, &chain, household, store, points, balance)?, household)
        }
        Request::Expiry { household, points } => {
            require_household(db, town_id, household).await?;
            let balance = balance(db, town_id, Account::household(household)).await?;
            (ledger::expiry_posting(meta, &chain, household, points, balance)?, household)
        }
        Request::Reversal { original } => {
            let Some((orig, orig_household)) = posting_by_id(db, town_id, original).await? else {
                return Err(LedgerError::UnknownOriginal { original }.into());
            };
            let already = points_posting::Entity::find()
                .filter(points_posting::Column::TownId.eq(town_id))
                .filter(points_posting::Column::ReversesId.eq(original))
                .count(db)
                .await?
                > 0;
            let mut balances: BTreeMap<Account, Points> = BTreeMap::new();
            for e in &orig.entries {
                balances.insert(e.account, balance(db, town_id, e.account).await?);
            }
            let posting = ledger::reversal_posting(meta, &chain, &orig, already, &balances, allow_negative)?;
            let household = orig_household
                .ok_or_else(|| StoreError::Invariant(format!("posting {original} names no household")))?;
            reverses_kind = Some(orig.kind);
            (posting, household)
        }
    };

    write_many(tx, &[NewPosting { actor, posting: &posting, household_id, reverses_kind }], allow_negative).await?;
    // The caller may read or post again in this transaction: what was written must be there.
    tx.flush().await?;
    Ok(Posted { posting, replayed: false })
}

/// Reverse `original` (at most once): the exact negation of it, under `meta`'s key.
pub async fn reverse(tx: &mut Tx, actor: &Actor, meta: PostingMeta, original: Uuid) -> Result<Posted, PointsError> {
    post(tx, actor, meta, Request::Reversal { original }).await
}

/// [`post`] in a transaction of its own: committed when something was posted, dropped (rolled
/// back, nothing written) when the key was posted before or the posting was refused.
pub async fn post_one(
    store: &Store,
    now: DateTime<Utc>,
    actor: &Actor,
    meta: PostingMeta,
    request: Request,
) -> Result<Posted, PointsError> {
    let mut tx = store.begin().await?;
    let posted = post(&mut tx, actor, meta, request).await?;
    if !posted.replayed {
        tx.commit(now).await?;
    }
    Ok(posted)
}

/// Whether the town lets deductions take a household below zero (default: no).
pub async fn allow_negative(db: &impl ConnectionTrait, town_id: Uuid) -> Result<bool> {
    Ok(points_head::Entity::find_by_id(town_id).one(db).await?.is_some_and(|h| h.allow_negative))
}

/// Set the town's rule for negative balances. Postings already made are not touched.
pub async fn set_allow_negative(
    tx: &mut Tx,
    actor: &Actor,
    town_id: Uuid,
    allow: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let now = micros(now);
    let head = lock_head(tx, town_id, now).await?;
    if head.allow_negative == allow {
        return Ok(());
    }
    points_head::Entity::update_many()
        .col_expr(points_head::Column::AllowNegative, Expr::value(allow))
        .col_expr(points_head::Column::UpdatedAt, Expr::value(now))
        .filter(points_head::Column::TownId.eq(town_id))
        .exec(tx.db())
        .await?;
    // The rule applies from the next posting on; the verifier judges older ones by theirs. Two
    // changes before the next posting: the last one counts.
    let seq_from = head.seq + 1;
    points_rule_change::Entity::delete_many()
        .filter(points_rule_change::Column::TownId.eq(town_id))
        .filter(points_rule_change::Column::SeqFrom.eq(seq_from))
        .exec(tx.db())
        .await?;
    points_rule_change::Entity::insert(points_rule_change::ActiveModel {
        town_id: Set(town_id),
        seq_from: Set(seq_from),
        allow_negative: Set(allow),
        at: Set(now),
    })
    .exec(tx.db())
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points.allow_negative".into(),
        entity_type: "points_ledger".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"allow_negative": head.allow_negative})),
        after: Some(json!({"allow_negative": allow})),
    });
    Ok(())
}

/// An account's balance: one row read, whatever its history (0 for an account never touched).
pub async fn balance(db: &impl ConnectionTrait, town_id: Uuid, account: Account) -> Result<Points> {
    Ok(points_balance::Entity::find_by_id((town_id, account.kind.as_str().to_string(), account.id))
        .one(db)
        .await?
        .map_or(0, |b| b.balance))
}

/// The balances of households of a town, by household (absent: never touched, so 0).
pub async fn balances(db: &impl ConnectionTrait, town_id: Uuid, households: &[Uuid]) -> Result<HashMap<Uuid, Points>> {
    let mut ids = households.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in lookup_chunks(ids) {
        for b in points_balance::Entity::find()
            .filter(points_balance::Column::TownId.eq(town_id))
            .filter(points_balance::Column::AccountKind.eq(AccountKind::Household.as_str()))
            .filter(points_balance::Column::AccountId.is_in(chunk))
            .all(db)
            .await?
        {
            out.insert(b.account_id, b.balance);
        }
    }
    Ok(out)
}

/// The town's chain head (genesis when it has no ledger yet).
pub async fn head(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Head> {
    Ok(points_head::Entity::find_by_id(town_id)
        .one(db)
        .await?
        .map_or_else(Head::genesis, |h| Head { seq: h.seq, hash: h.hash }))
}

/// A posting by id, with its entries.
pub async fn posting(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<Posting>> {
    Ok(posting_by_id(db, town_id, id).await?.map(|(p, _)| p))
}

/// One line of a household's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    pub posting_id: Uuid,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: PostingKind,
    pub reference: String,
    /// What the posting did to the household's balance.
    pub points: Points,
    /// For a deduction: the points that could not be taken (the balance was too low).
    pub shortfall: Points,
    pub actor_name: String,
    /// The original, for a reversal.
    pub reverses: Option<Uuid>,
    /// The reversal of this posting, if it was reversed.
    pub reversed_by: Option<Uuid>,
}

/// A household's postings, newest first, one page; and how many there are.
pub async fn history(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    household_id: Uuid,
    page: PageRequest,
) -> Result<(Vec<HistoryItem>, u64)> {
    let query = points_posting::Entity::find()
        .filter(points_posting::Column::TownId.eq(town_id))
        .filter(points_posting::Column::HouseholdId.eq(household_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(points_posting::Column::Seq)
        .offset(page.offset())
        .limit(page.page_size.min(PageRequest::MAX_SIZE))
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok((Vec::new(), total));
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut change: HashMap<Uuid, Points> = HashMap::new();
    let entries = points_entry::Entity::find()
        .filter(points_entry::Column::TownId.eq(town_id))
        .filter(points_entry::Column::PostingId.is_in(ids.clone()))
        .filter(points_entry::Column::AccountKind.eq(AccountKind::Household.as_str()))
        .filter(points_entry::Column::AccountId.eq(household_id))
        .all(db)
        .await?;
    for e in entries {
        *change.entry(e.posting_id).or_insert(0) += e.points;
    }
    let reversals = points_posting::Entity::find()
        .filter(points_posting::Column::TownId.eq(town_id))
        .filter(points_posting::Column::ReversesId.is_in(ids))
        .all(db)
        .await?;
    let reversed_by: HashMap<Uuid, Uuid> = reversals.iter().filter_map(|r| r.reverses_id.map(|o| (o, r.id))).collect();
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let kind = PostingKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Invariant(format!("posting {} has unknown kind {:?}", r.id, r.kind)))?;
        items.push(HistoryItem {
            posting_id: r.id,
            seq: r.seq,
            at: r.at,
            kind,
            points: change.get(&r.id).copied().unwrap_or(0),
            shortfall: r.shortfall,
            reverses: r.reverses_id,
            reversed_by: reversed_by.get(&r.id).copied(),
            reference: r.reference,
            actor_name: r.actor_name,
        });
    }
    Ok((items, total))
}

/// The first thing wrong with a stored ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerProblem {
    /// What the domain's verifier found (hash chain, sums, shapes, reversals, balances, head).
    #[error("town {town_id}: {violation}")]
    Violation { town_id: Uuid, violation: Violation },
    /// A row that cannot be read as part of a posting (an unknown kind or account kind).
    #[error("town {town_id}: posting {seq}: {problem}")]
    BadRow { town_id: Uuid, seq: i64, problem: String },
    /// Entries that belong to no posting of the chain.
    #[error("town {town_id}: {stored} entries stored, {chained} belong to postings")]
    StrayEntries { town_id: Uuid, stored: u64, chained: u64 },
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerVerification {
    pub towns: u64,
    /// Postings and entries checked (up to the first problem).
    pub postings: u64,
    pub entries: u64,
    /// Points in households' hands, over the towns checked.
    pub in_circulation: Points,
    pub first_problem: Option<LedgerProblem>,
}

/// Check every invariant of the ledger of one town, or of every town: stream the postings in
/// `seq` order, in bounded batches, through the domain's [`LedgerVerifier`], then compare the
/// chain head and the stored balances. Stops at the first problem and names it.
pub async fn verify(db: &impl ConnectionTrait, town: Option<Uuid>) -> Result<LedgerVerification> {
    let towns = match town {
        Some(t) => vec![t],
        None => ledger_towns(db).await?,
    };
    let mut out = LedgerVerification { towns: towns.len() as u64, ..LedgerVerification::default() };
    for town_id in towns {
        match verify_town(db, town_id, &mut out).await? {
            Ok(v) => out.in_circulation += v.in_circulation,
            Err(problem) => {
                out.first_problem = Some(problem);
                break;
            }
        }
    }
    Ok(out)
}

/// [`verify`] inside one read-only snapshot of the database, so that postings made while it
/// runs (a live server) are either wholly seen or not at all: `REPEATABLE READ` on PostgreSQL, a
/// read transaction on SQLite (WAL keeps its snapshot; writers go on meanwhile).
pub async fn verify_snapshot(store: &Store, town: Option<Uuid>) -> Result<LedgerVerification> {
    let txn = store.begin_read_snapshot().await?;
    let out = verify(&txn, town).await?;
    txn.rollback().await?;
    Ok(out)
}

/// Towns with any ledger row: a head, a posting or a balance (a chain whose head row was lost
/// is still checked, and fails).
async fn ledger_towns(db: &impl ConnectionTrait) -> Result<Vec<Uuid>> {
    let mut towns: Vec<Uuid> =
        points_head::Entity::find().select_only().column(points_head::Column::TownId).into_tuple().all(db).await?;
    // The distinct towns of postings and balances one index seek at a time (both tables lead
    // their keys with `town_id`): `SELECT DISTINCT` read the whole ledger first, 3.8 s of a
    // million postings before the first was checked.
    let mut after: Option<Uuid> = None;
    loop {
        let mut next = points_posting::Entity::find()
            .select_only()
            .column(points_posting::Column::TownId)
            .order_by_asc(points_posting::Column::TownId)
            .limit(1);
        if let Some(a) = after {
            next = next.filter(points_posting::Column::TownId.gt(a));
        }
        let Some(t) = next.into_tuple::<Uuid>().one(db).await? else { break };
        towns.push(t);
        after = Some(t);
    }
    let mut after: Option<Uuid> = None;
    loop {
        let mut next = points_balance::Entity::find()
            .select_only()
            .column(points_balance::Column::TownId)
            .order_by_asc(points_balance::Column::TownId)
            .limit(1);
        if let Some(a) = after {
            next = next.filter(points_balance::Column::TownId.gt(a));
        }
        let Some(t) = next.into_tuple::<Uuid>().one(db).await? else { break };
        towns.push(t);
        after = Some(t);
    }
    towns.sort();
    towns.dedup();
    Ok(towns)
}

async fn verify_town(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    out: &mut LedgerVerification,
) -> Result<Result<Verified, LedgerProblem>> {
    let violation = |violation| LedgerProblem::Violation { town_id, violation };
    let head = points_head::Entity::find_by_id(town_id).one(db).await?;
    let (head_seq, allow_now) = head.map_or((0, false), |h| (h.seq, h.allow_negative));
    // The rule in force for each posting: the recorded changes, in order. A town without any
    // (its rule never changed since changes were recorded) has had today's rule throughout.
    let changes = points_rule_change::Entity::find()
        .filter(points_rule_change::Column::TownId.eq(town_id))
        .order_by_asc(points_rule_change::Column::SeqFrom)
        .all(db)
        .await?;
    let initial = if changes.is_empty() { allow_now } else { false };
    let mut check = TownCheck {
        town_id,
        verifier: LedgerVerifier::new(town_id, initial),
        changes: changes.into_iter().map(|c| (c.seq_from, c.allow_negative)).collect(),
        postings: 0,
        entries: 0,
        chained: 0,
    };
    // Batch n is checked on a blocking thread while batch n + 1 is read (on SQLite by the
    // driver's own thread): the two halves of the work overlap on two cores.
    let mut batch = posting_batch(db, town_id, 0).await?;
    while batch.count > 0 {
        let more = batch.count >= VERIFY_BATCH;
        let after = batch.last;
        let json = batch.json;
        let checking = tokio::task::spawn_blocking(move || {
            let found = check.push_batch(&json);
            (check, found)
        });
        let next = if more { Some(posting_batch(db, town_id, after).await) } else { None };
        let (back, found) =
            checking.await.map_err(|e| StoreError::Invariant(format!("the points verifier stopped: {e}")))?;
        check = back;
        if let Some(problem) = found? {
            out.postings += check.postings;
            out.entries += check.entries;
            return Ok(Err(problem));
        }
        match next {
            Some(next) => batch = next?,
            None => break,
        }
    }
    out.postings += check.postings;
    out.entries += check.entries;
    let chained = check.chained;
    let verifier = check.verifier;

    let backend = db.get_database_backend();
    let mut claimed = Vec::new();
    for (kind, id, balance) in json_rows::<(String, String, Points)>(db, balance_rows_sql(backend), town_id).await? {
        let (Some(kind), Some(id)) = (AccountKind::parse(&kind), parse_uuid(&id)) else {
            let problem = format!("balance row of unknown account {kind:?} {id:?}");
            return Ok(Err(LedgerProblem::BadRow { town_id, seq: 0, problem }));
        };
        claimed.push((Account { kind, id }, balance));
    }
    let verified = match verifier.finish(head_seq, claimed) {
        Ok(v) => v,
        Err(v) => return Ok(Err(violation(v))),
    };
    let mut totals = Vec::new();
    for (household, bucket, total) in
        json_rows::<(String, String, Points)>(db, total_rows_sql(backend), town_id).await?
    {
        let (Some(household), Some(bucket)) = (parse_uuid(&household), PostingKind::parse(&bucket)) else {
            let problem = format!("household total row of unknown household or kind {household:?} {bucket:?}");
            return Ok(Err(LedgerProblem::BadRow { town_id, seq: 0, problem }));
        };
        totals.push((household, bucket, total));
    }
    if let Err(v) = verifier.check_household_totals(totals) {
        return Ok(Err(violation(v)));
    }
    let stored = points_entry::Entity::find().filter(points_entry::Column::TownId.eq(town_id)).count(db).await?;
    if stored != chained {
        return Ok(Err(LedgerProblem::StrayEntries { town_id, stored, chained }));
    }
    Ok(Ok(verified))
}

/// A town's verification in progress: moved to a blocking thread for each batch and back.
struct TownCheck {
    town_id: Uuid,
    verifier: LedgerVerifier,
    /// The recorded changes of the town's negative-balance rule still ahead: (seq_from, allow).
    changes: VecDeque<(i64, bool)>,
    /// Postings and entries checked.
    postings: u64,
    entries: u64,
    /// Entries read with their postings (to compare with the entries stored).
    chained: u64,
}

impl TownCheck {
    /// Push one batch (a JSON array from [`posting_batch`]) through the verifier, in `seq`
    /// order: the first problem, if any.
    fn push_batch(&mut self, json: &str) -> Result<Option<LedgerProblem>> {
        let town_id = self.town_id;
        let rows: Vec<WirePosting<'_>> = serde_json::from_str(json)
            .map_err(|e| StoreError::Invariant(format!("points verify: unreadable batch of postings: {e}")))?;
        for row in rows {
            let seq = row.seq;
            self.chained += row.entries.len() as u64;
            let posting = match row.posting(town_id) {
                Ok(p) => p,
                Err(problem) => return Ok(Some(LedgerProblem::BadRow { town_id, seq, problem })),
            };
            while let Some(&(_, allow)) = self.changes.front().filter(|c| c.0 <= seq) {
                self.changes.pop_front();
                self.verifier.set_allow_negative(allow);
            }
            if let Err(violation) = self.verifier.push(&posting) {
                return Ok(Some(LedgerProblem::Violation { town_id, violation }));
            }
            self.postings += 1;
            self.entries += posting.entries.len() as u64;
        }
        Ok(None)
    }
}

/// One batch of a town's postings as the database hands it over: one row for the whole batch
/// (the postings, each with its entries, as a JSON array), because moving rows through the
/// driver one by one — not checking them — was what verify spent its time on.
struct PostingBatch {
    count: u64,
    /// The last `seq` in the batch (where the next one starts).
    last: i64,
    json: String,
}

/// The next [`VERIFY_BATCH`] postings of the town after `seq` `after`, in `seq` order, with the
/// columns the verifier reads and their entries (those whose `posting_id` and `seq` are the
/// posting's) in line order.
async fn posting_batch(db: &impl ConnectionTrait, town_id: Uuid, after: i64) -> Result<PostingBatch> {
    let backend = db.get_database_backend();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match backend {
        DbBackend::Postgres => (
            "SELECT COUNT(*) AS n, COALESCE(MAX(p.seq), 0) AS last, \
             COALESCE(json_agg(json_build_array(p.id, p.seq, p.at, p.idempotency_key, p.kind, p.reverses_id, \
               p.shortfall, p.reference, p.prev_hash, p.hash, \
               (SELECT COALESCE(json_agg(json_build_array(e.account_kind, e.account_id, e.points) ORDER BY e.line), \
                  '[]'::json) \
                FROM points_entry e WHERE e.town_id = $1 AND e.posting_id = p.id AND e.seq = p.seq)) \
               ORDER BY p.seq), '[]'::json)::text AS postings \
             FROM (SELECT id, seq, at, idempotency_key, kind, reverses_id, shortfall, reference, prev_hash, hash \
                   FROM points_posting WHERE town_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) p",
            vec![town_id.into(), after.into(), (VERIFY_BATCH as i64).into()],
        ),
        _ => (
            // `json(…)`: the entries' array stays JSON inside the posting's (a subquery's result
            // would otherwise be embedded as a string).
            "SELECT COUNT(*) AS n, COALESCE(MAX(p.seq), 0) AS last, \
             json_group_array(json_array(hex(p.id), p.seq, p.at, p.idempotency_key, p.kind, \
               CASE WHEN p.reverses_id IS NULL THEN NULL ELSE hex(p.reverses_id) END, \
               p.shortfall, p.reference, p.prev_hash, p.hash, \
               json((SELECT json_group_array(json_array(e.account_kind, hex(e.account_id), e.points) ORDER BY e.line) \
                     FROM points_entry e WHERE e.town_id = ? AND e.posting_id = p.id AND e.seq = p.seq))) \
               ORDER BY p.seq) AS postings \
             FROM (SELECT id, seq, at, idempotency_key, kind, reverses_id, shortfall, reference, prev_hash, hash \
                   FROM points_posting WHERE town_id = ? AND seq > ? ORDER BY seq LIMIT ?) p",
            vec![town_id.into(), town_id.into(), after.into(), (VERIFY_BATCH as i64).into()],
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| StoreError::Invariant("points verify: the batch query returned no row".into()))?;
    let count: i64 = row.try_get("", "n")?;
    Ok(PostingBatch { count: count.max(0) as u64, last: row.try_get("", "last")?, json: row.try_get("", "postings")? })
}

/// The town's running balances: (account kind, account id, balance).
fn balance_rows_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_array(account_kind, account_id, balance)), '[]'::json)::text AS rows \
             FROM points_balance WHERE town_id = $1"
        }
        _ => {
            "SELECT json_group_array(json_array(account_kind, hex(account_id), balance)) AS rows \
             FROM points_balance WHERE town_id = ?"
        }
    }
}

/// The town's running household totals: (household, bucket, total).
fn total_rows_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_array(household_id, bucket, total)), '[]'::json)::text AS rows \
             FROM points_household_total WHERE town_id = $1"
        }
        _ => {
            "SELECT json_group_array(json_array(hex(household_id), bucket, total)) AS rows \
             FROM points_household_total WHERE town_id = ?"
        }
    }
}

/// The rows of a one-town query that answers one JSON array in its column `rows` (thousands of
/// rows as one value: see [`PostingBatch`]).
async fn json_rows<T: serde::de::DeserializeOwned>(
    db: &impl ConnectionTrait,
    sql: &str,
    town_id: Uuid,
) -> Result<Vec<T>> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [town_id.into()]))
        .await?
        .ok_or_else(|| StoreError::Invariant("points verify: an aggregate returned no row".into()))?;
    let json: String = row.try_get("", "rows")?;
    serde_json::from_str(&json).map_err(|e| StoreError::Invariant(format!("points verify: unreadable rows: {e}")))
}

/// A posting as [`posting_batch`] hands it over (a JSON array, in this order).
#[derive(serde::Deserialize)]
struct WirePosting<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    seq: i64,
    #[serde(borrow)]
    at: Cow<'a, str>,
    idempotency_key: String,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    reverses: Option<Cow<'a, str>>,
    shortfall: Points,
    reference: String,
    prev_hash: String,
    hash: String,
    #[serde(borrow)]
    entries: Vec<WireEntry<'a>>,
}

/// An entry: account kind, account id, points.
#[derive(serde::Deserialize)]
struct WireEntry<'a>(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>, Points);

impl WirePosting<'_> {
    fn posting(self, town_id: Uuid) -> Result<Posting, String> {
        let kind = PostingKind::parse(&self.kind).ok_or_else(|| format!("unknown posting kind {:?}", self.kind))?;
        let id = parse_uuid(&self.id).ok_or_else(|| format!("unreadable id {:?}", self.id))?;
        let reverses = match &self.reverses {
            None => None,
            Some(r) => Some(parse_uuid(r).ok_or_else(|| format!("unreadable reverses_id {r:?}"))?),
        };
        let at = parse_time(&self.at).ok_or_else(|| format!("unreadable time {:?}", self.at))?;
        let mut entries = Vec::with_capacity(self.entries.len());
        for WireEntry(kind, account_id, points) in self.entries {
            let kind = AccountKind::parse(&kind).ok_or_else(|| format!("unknown account kind {kind:?}"))?;
            let id = parse_uuid(&account_id).ok_or_else(|| format!("unreadable account id {account_id:?}"))?;
            entries.push(Entry { account: Account { kind, id }, points });
        }
        Ok(Posting {
            id,
            town_id,
            seq: self.seq,
            at,
            idempotency_key: self.idempotency_key,
            kind,
            reverses,
            shortfall: self.shortfall,
            reference: self.reference,
            entries,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// A UUID as the aggregates spell it: hex of the 16 bytes on SQLite, the text form on PostgreSQL.
fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::try_parse(text).ok()
}

/// A time as the aggregates spell it: RFC 3339 (what the driver writes on SQLite and what
/// PostgreSQL's JSON gives), or the other text forms the SQLite driver reads back.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    FORMATS.iter().find_map(|f| {
        DateTime::parse_from_str(text, f)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, f).map(|t| t.and_utc()))
            .ok()
    })
}

// ---- inside a posting's transaction ----

/// Make the town's head row if missing and lock it until commit.
pub(crate) async fn lock_head(tx: &Tx, town_id: Uuid, now: DateTime<Utc>) -> Result<points_head::Model> {
    let db = tx.db();
    // FOR UPDATE on PostgreSQL; on SQLite the writer lock already serialises us. Made first when
    // missing (once per town), so the usual case is one statement.
    if let Some(head) = points_head::Entity::find_by_id(town_id).lock_exclusive().one(db).await? {
        return Ok(head);
    }
    points_head::Entity::insert(points_head::ActiveModel {
        town_id: Set(town_id),
        seq: Set(0),
        hash: Set(GENESIS_HASH.to_string()),
        allow_negative: Set(false),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    points_head::Entity::find_by_id(town_id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Invariant(format!("points head of town {town_id} vanished")))
}

async fn require_household(db: &impl ConnectionTrait, town_id: Uuid, household: Uuid) -> Result<(), PointsError> {
    let n = household::Entity::find()
        .filter(household::Column::TownId.eq(town_id))
        .filter(household::Column::Id.eq(household))
        .count(db)
        .await?;
    if n == 0 { Err(PointsError::UnknownHousehold { household }) } else { Ok(()) }
}

/// Whether the first posting under a key is what `request` would have made: a retry, not a
/// reused key. A deduction is compared by the points asked (taken + shortfall), since what was
/// taken depended on the balance then.
fn same_request(p: &Posting, household_id: Option<Uuid>, request: &Request, reference: &str) -> bool {
    if p.reference != reference {
        return false;
    }
    match *request {
        Request::Award { household, points } => {
            p.kind == PostingKind::Award
                && p.entries
                    == [
                        Entry { account: Account::town_issuance(p.town_id), points: -points },
                        Entry { account: Account::household(household), points },
                    ]
        }
        Request::Deduction { household, points } => {
            p.kind == PostingKind::Deduction
                && household_id == Some(household)
                && p.shortfall - p.change_for(&Account::household(household)) == points
        }
        Request::Redemption { household, store, points } => {
            p.kind == PostingKind::Redemption
                && p.entries
                    == [
                        Entry { account: Account::household(household), points: -points },
                        Entry { account: Account::store_redemption(store), points },
                    ]
        }
        Request::Expiry { household, points } => {
            p.kind == PostingKind::Expiry
                && household_id == Some(household)
                && p.change_for(&Account::household(household)) == -points
        }
        Request::Reversal { original } => p.kind == PostingKind::Reversal && p.reverses == Some(original),
    }
}

/// A built posting, ready to be written by [`write_many`].
pub(crate) struct NewPosting<'a> {
    pub actor: &'a Actor,
    pub posting: &'a Posting,
    pub household_id: Uuid,
    /// For a reversal: its original's kind (the household's running total it counts against).
    pub reverses_kind: Option<PostingKind>,
}

/// Write built postings of one town, consecutive in its chain from the locked head: the posting
/// rows, their entries, the household running totals, the new balances (checked once more on
/// this second path), the head, and one audit entry per posting. A few statements whatever the
/// number of postings, so that a batch of redemptions costs little more than one; all but the
/// head's move are queued on the transaction ([`Tx::write_later`]). Returns each
/// posting's household balance after it (0 when the posting did not touch it).
pub(crate) async fn write_many(
    tx: &mut Tx,
    items: &[NewPosting<'_>],
    allow_negative: bool,
) -> Result<Vec<Points>, PointsError> {
    let (Some(first), Some(last)) = (items.first(), items.last()) else { return Ok(Vec::new()) };
    let town_id = first.posting.town_id;
    for (n, w) in items.iter().enumerate() {
        let expected = first.posting.seq + i64::try_from(n).unwrap_or(i64::MAX);
        if w.posting.town_id != town_id || w.posting.seq != expected {
            return Err(StoreError::Invariant(format!("posting {} is not next in the chain", w.posting.id)).into());
        }
    }
    // What this reads (balances) must see what was queued before it.
    tx.flush().await?;
    let mut posting_rows = Vec::with_capacity(items.len());
    let mut entry_rows = Vec::with_capacity(items.len() * 2);
    for w in items {
        let p = w.posting;
        posting_rows.push(points_posting::ActiveModel {
            town_id: Set(town_id),
            id: Set(p.id),
            seq: Set(p.seq),
            kind: Set(p.kind.as_str().to_string()),
            idempotency_key: Set(p.idempotency_key.clone()),
            reverses_id: Set(p.reverses),
            household_id: Set(Some(w.household_id)),
            reference: Set(p.reference.clone()),
            shortfall: Set(p.shortfall),
            at: Set(p.at),
            actor_id: Set(w.actor.id),
            actor_name: Set(w.actor.name.chars().take(MAX_ACTOR_CHARS).collect()),
            prev_hash: Set(p.prev_hash.clone()),
            hash: Set(p.hash.clone()),
        });
        for (line, e) in p.entries.iter().enumerate() {
            let line = i16::try_from(line)
                .map_err(|_| StoreError::Invariant(format!("posting {} has too many entries", p.id)))?;
            entry_rows.push(points_entry::ActiveModel {
                town_id: Set(town_id),
                posting_id: Set(p.id),
                line: Set(line),
                seq: Set(p.seq),
                account_kind: Set(e.account.kind.as_str().to_string()),
                account_id: Set(e.account.id),
                points: Set(e.points),
            });
        }
    }
    tx.insert_later(posting_rows);
    tx.insert_later(entry_rows);

    // The household's running totals by kind (a reversal counts against its original's kind),
    // summed per (household, bucket) first: one upsert may not touch a row twice.
    let mut totals: BTreeMap<(Uuid, &str), Points> = BTreeMap::new();
    for w in items {
        let bucket = w.reverses_kind.unwrap_or(w.posting.kind).as_str();
        for e in w.posting.entries.iter().filter(|e| e.account.kind == AccountKind::Household) {
            *totals.entry((e.account.id, bucket)).or_insert(0) += e.points;
        }
    }
    totals.retain(|_, d| *d != 0);
    let backend = tx.db().get_database_backend();
    for chunk in statement_chunks(totals.into_iter().collect()) {
        let mut sql = String::from("INSERT INTO points_household_total (town_id, household_id, bucket, total) VALUES ");
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 4);
        for (n, ((household, bucket), delta)) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&placeholders(backend, values.len(), 4));
            values.extend([town_id.into(), (*household).into(), (*bucket).into(), (*delta).into()]);
        }
        sql.push_str(match backend {
            DbBackend::Postgres => {
                " ON CONFLICT (town_id, household_id, bucket) \
                 DO UPDATE SET total = points_household_total.total + EXCLUDED.total"
            }
            _ => {
                " ON CONFLICT (town_id, household_id, bucket) \
                 DO UPDATE SET total = points_household_total.total + excluded.total"
            }
        });
        tx.write_later(Statement::from_sql_and_values(backend, sql, values));
    }

    // Balances: read once, moved posting by posting (each checked), written once.
    let accounts: BTreeSet<Account> = items.iter().flat_map(|w| w.posting.entries.iter().map(|e| e.account)).collect();
    let kinds: BTreeSet<&str> = accounts.iter().map(|a| a.kind.as_str()).collect();
    let account_ids: Vec<Uuid> = {
        let mut ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let mut balances: BTreeMap<Account, (Points, bool, DateTime<Utc>)> = BTreeMap::new();
    for chunk in lookup_chunks(account_ids) {
        // The kinds too, so that the lookup seeks the key (town, kind, id) instead of reading
        // every balance of the town (0.7 ms a batch of redemptions in a town of 3,000 households).
        for b in points_balance::Entity::find()
            .filter(points_balance::Column::TownId.eq(town_id))
            .filter(points_balance::Column::AccountKind.is_in(kinds.iter().copied()))
            .filter(points_balance::Column::AccountId.is_in(chunk))
            .all(tx.db())
            .await?
        {
            if let Some(kind) = AccountKind::parse(&b.account_kind) {
                balances.insert(Account { kind, id: b.account_id }, (b.balance, false, b.updated_at));
            }
        }
    }
    let mut household_after = Vec::with_capacity(items.len());
    for w in items {
        let p = w.posting;
        let mut deltas: BTreeMap<Account, Points> = BTreeMap::new();
        for e in &p.entries {
            *deltas.entry(e.account).or_insert(0) += e.points;
        }
        for (account, delta) in deltas {
            let slot = balances.entry(account).or_insert((0, false, p.at));
            let new = slot
                .0
                .checked_add(delta)
                .ok_or_else(|| StoreError::Invariant(format!("balance of {account} overflows")))?;
            // The builders refused this already; a second path, so that a bug cannot write it.
            let forbidden = !allow_negative || p.kind == PostingKind::Redemption;
            if account.kind == AccountKind::Household && delta < 0 && new < 0 && forbidden {
                return Err(StoreError::Invariant(format!("posting {} would leave {account} at {new}", p.id)).into());
            }
            *slot = (new, true, p.at);
        }
        // As the audit entry has always said: the household's balance when the posting moved it.
        let touched = p.entries.iter().any(|e| e.account == Account::household(w.household_id));
        household_after.push(touched.then(|| balances.get(&Account::household(w.household_id)).map_or(0, |b| b.0)));
    }
    let changed: Vec<_> = balances
        .iter()
        .filter(|(_, (_, moved, _))| *moved)
        .map(|(account, (balance, _, at))| points_balance::ActiveModel {
            town_id: Set(town_id),
            account_kind: Set(account.kind.as_str().to_string()),
            account_id: Set(account.id),
            balance: Set(*balance),
            updated_at: Set(*at),
        })
        .collect();
    for chunk in statement_chunks(changed) {
        let upsert = points_balance::Entity::insert_many(chunk)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    points_balance::Column::TownId,
                    points_balance::Column::AccountKind,
                    points_balance::Column::AccountId,
                ])
                .update_columns([points_balance::Column::Balance, points_balance::Column::UpdatedAt])
                .to_owned(),
            )
            .build(backend);
        tx.write_later(upsert);
    }

    let moved = points_head::Entity::update_many()
        .col_expr(points_head::Column::Seq, Expr::value(last.posting.seq))
        .col_expr(points_head::Column::Hash, Expr::value(last.posting.hash.clone()))
        .col_expr(points_head::Column::UpdatedAt, Expr::value(last.posting.at))
        .filter(points_head::Column::TownId.eq(town_id))
        .filter(points_head::Column::Seq.eq(first.posting.seq - 1))
        .exec(tx.db())
        .await?;
    if moved.rows_affected != 1 {
        return Err(StoreError::Invariant(format!("points head of town {town_id} moved under its lock")).into());
    }

    for (w, after) in items.iter().zip(&household_after) {
        let p = w.posting;
        let entries: Vec<_> = p
            .entries
            .iter()
            .map(|e| json!({"account_kind": e.account.kind.as_str(), "account_id": e.account.id, "points": e.points}))
            .collect();
        tx.audit(AuditDraft {
            actor: w.actor.clone(),
            action: format!("points.{}", p.kind.as_str()),
            entity_type: "points_posting".into(),
            entity_id: p.id.to_string(),
            town_id: Some(town_id),
            before: None,
            after: Some(json!({
                "seq": p.seq,
                "kind": p.kind.as_str(),
                "household_id": w.household_id,
                "reverses": p.reverses,
                "reference": p.reference,
                "entries": entries,
                "shortfall": p.shortfall,
                "household_balance": after,
                "hash": p.hash,
            })),
        });
    }
    Ok(household_after.into_iter().map(|a| a.unwrap_or_default()).collect())
}

/// `(?, ?, …)` or `($n, $n+1, …)`: one row's placeholders after `before` values already bound.
fn placeholders(backend: DbBackend, before: usize, width: usize) -> String {
    let marks: Vec<String> = (1..=width)
        .map(|i| match backend {
            DbBackend::Postgres => format!("${}", before + i),
            _ => "?".to_string(),
        })
        .collect();
    format!("({})", marks.join(", "))
}

// ---- reading postings back ----

async fn posting_by_key(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    key: &str,
) -> Result<Option<(Posting, Option<Uuid>)>> {
    let row = points_posting::Entity::find()
        .filter(points_posting::Column::TownId.eq(town_id))
        .filter(points_posting::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?;
    with_entries(db, row).await
}

async fn posting_by_id(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<(Posting, Option<Uuid>)>> {
    let row = points_posting::Entity::find_by_id((town_id, id)).one(db).await?;
    with_entries(db, row).await
}

async fn with_entries(
    db: &impl ConnectionTrait,
    row: Option<points_posting::Model>,
) -> Result<Option<(Posting, Option<Uuid>)>> {
    let Some(row) = row else { return Ok(None) };
    let entries = points_entry::Entity::find()
        .filter(points_entry::Column::TownId.eq(row.town_id))
        .filter(points_entry::Column::PostingId.eq(row.id))
        .order_by_asc(points_entry::Column::Line)
        .all(db)
        .await?;
    let id = row.id;
    posting_of(row, entries).map(Some).map_err(|problem| StoreError::Invariant(format!("posting {id}: {problem}")))
}

/// The domain's posting from its rows (entries in line order), and the household it concerns.
fn posting_of(
    row: points_posting::Model,
    entries: Vec<points_entry::Model>,
) -> Result<(Posting, Option<Uuid>), String> {
    let kind = PostingKind::parse(&row.kind).ok_or_else(|| format!("unknown posting kind {:?}", row.kind))?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let account_kind =
            AccountKind::parse(&e.account_kind).ok_or_else(|| format!("unknown account kind {:?}", e.account_kind))?;
        out.push(Entry { account: Account { kind: account_kind, id: e.account_id }, points: e.points });
    }
    let posting = Posting {
        id: row.id,
        town_id: row.town_id,
        seq: row.seq,
        at: row.at,
        idempotency_key: row.idempotency_key,
        kind,
        reverses: row.reverses_id,
        shortfall: row.shortfall,
        reference: row.reference,
        entries: out,
        prev_hash: row.prev_hash,
        hash: row.hash,
    };
    Ok((posting, row.household_id))
}

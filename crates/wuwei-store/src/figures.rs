//! Case figures: the daily rollup `case_stats_daily` and the queries over it.
//!
//! **Why a rollup.** The figures page must answer in well under 100 ms over a million cases on
//! SQLite on a small machine. Medians and 90th percentiles over the cases table would read every
//! case of the period; the rollup holds, per town, local day and dimension, the sums of what the
//! cases counted for (see `wuwei_domain::figures::contributions`) and two duration histograms
//! with fixed log-scale buckets. A quarter's figures by category read about 90 × 16 rows.
//!
//! **Rows.** The key is `(town_id, scope_id, dim, day, key)`. Every case counts under two
//! scopes, the whole town (`scope_id` = the nil id) and its admin village (when it has one),
//! so a village cadre's figures are as cheap as the town's; and under five dimensions: `all`
//! (key empty), `category`, `admin_village`, `unit` (the unit holding the case now; empty for
//! none) and `source`. Each row sums whole cases, so the rows of one dimension add up to the
//! `all` rows exactly.
//!
//! **Kept in step.** Every change of a case row (creating it, a transition, the sweeper's card
//! or escalation) records the difference between what the new row and the old row count for
//! ([`track`]); the [`Tx`] collects those deltas and writes them at commit, in key order, as
//! `INSERT … ON CONFLICT … DO UPDATE SET x = x + excluded.x` (SQLite and PostgreSQL alike).
//! Because a delta is "new minus old", anything a case does (a return, a reopen, a transfer, a
//! late red card) leaves the rollup equal to a fresh computation over the cases table, which
//! [`rebuild`] does (and the migration that made the table did for existing cases).
//!
//! **Precision.** Counts, sums, means, on-time share and satisfaction are exact. Percentiles
//! are read from the buckets (each 1.25× the one before, from one minute to a month): the
//! estimate lies in the same bucket as the exact value, so at worst 25% off, and typically
//! within a few percent thanks to interpolation (see `wuwei_domain::figures`).
//!
//! "Now" figures (open and overdue cases) are counted from the cases table through its
//! `(town_id, state, …)` index: only open cases are read.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
};
use uuid::Uuid;
use wuwei_domain::case::CaseState;
use wuwei_domain::figures::{self as rules, BUCKETS, Counters, StatsFacts};

use crate::cases::CaseRow;
use crate::entity::case;
use crate::{Result, Tx};

const TABLE: &str = "case_stats_daily";
const KEY_COLUMNS: [&str; 5] = ["town_id", "scope_id", "dim", "day", "key"];
/// Rows per multi-row upsert at most; with every counter named, (5 + 111) values a row stays
/// under [`MAX_PARAMETERS`].
const UPSERT_CHUNK: usize = 250;
/// Bound parameters per statement (SQLite allows 32,766; PostgreSQL 65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Cases aggregated in memory before their rows are written (bounds memory in bulk loads).
const FLUSH_EVERY_CASES: usize = 4000;

/// The counter columns, in `Counters::values` order.
fn counter_columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut v: Vec<String> = Counters::SCALARS.iter().map(|s| s.to_string()).collect();
        for prefix in ["acc_b", "res_b"] {
            for b in 0..BUCKETS {
                v.push(format!("{prefix}{b:02}"));
            }
        }
        v
    })
}

/// The scope id under which every case of a town counts.
pub const TOWN_SCOPE: Uuid = Uuid::nil();

/// A dimension of the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    All,
    Category,
    AdminVillage,
    Unit,
    Source,
}

impl Dim {
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::All => "all",
            Dim::Category => "category",
            Dim::AdminVillage => "admin_village",
            Dim::Unit => "unit",
            Dim::Source => "source",
        }
    }
}

/// One row's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub town_id: Uuid,
    pub scope_id: Uuid,
    pub dim: Dim,
    pub day: NaiveDate,
    pub key: String,
}

/// Rollup changes waiting for their transaction to commit.
#[derive(Debug, Default)]
pub struct Pending(HashMap<RollupKey, Counters>);

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Write the changes, in key order (so two PostgreSQL transactions never wait on each
    /// other's rows in opposite orders), skipping rows that cancel out.
    pub(crate) async fn flush(self, db: &impl ConnectionTrait) -> Result<()> {
        crate::run_together(db, self.statements(db.get_database_backend())).await
    }

    /// The upserts that [`Pending::flush`] runs, for a caller sending them with other writes.
    pub(crate) fn statements(self, backend: DbBackend) -> Vec<Statement> {
        let mut rows: Vec<(RollupKey, Counters)> = self.0.into_iter().filter(|(_, c)| !c.is_zero()).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        upsert_statements(backend, &rows)
    }
}

/// What the figures need of a case row.
pub fn facts(c: &CaseRow) -> StatsFacts {
    StatsFacts {
        state: c.state(),
        card: c.card(),
        reported_at: c.reported_at,
        accepted_at: c.accepted_at,
        resolved_at: c.resolved_at,
        closed_at: c.closed_at,
        due_at: c.due_at,
        rating: c.rating.map(|r| r.clamp(0, 255) as u8),
        rated_at: c.rated_at,
    }
}

fn id_key(id: Option<Uuid>) -> String {
    id.map(|u| u.to_string()).unwrap_or_default()
}

/// Add `sign` × what the case counts for to `acc`, under both scopes and every dimension.
pub fn accumulate(acc: &mut HashMap<RollupKey, Counters>, c: &CaseRow, sign: i64) {
    let contributions = rules::contributions(&facts(c));
    if contributions.is_empty() {
        return;
    }
    let dims = [
        (Dim::All, String::new()),
        (Dim::Category, c.category_id.to_string()),
        (Dim::AdminVillage, id_key(c.admin_village_id)),
        (Dim::Unit, id_key(c.unit_id)),
        (Dim::Source, c.source.clone()),
    ];
    let scopes = [Some(TOWN_SCOPE), c.admin_village_id];
    for (day, counters) in &contributions {
        for scope_id in scopes.iter().flatten() {
            for (dim, key) in &dims {
                let k = RollupKey { town_id: c.town_id, scope_id: *scope_id, dim: *dim, day: *day, key: key.clone() };
                acc.entry(k).or_default().add(counters, sign);
            }
        }
    }
}

/// Record that a case row changed from `before` (none: it is new) to `after`. Written when
/// the transaction commits. `before` must be the row as stored until this change.
pub fn track(tx: &mut Tx, before: Option<&CaseRow>, after: &CaseRow) {
    let pending = &mut tx.figures.0;
    accumulate(pending, after, 1);
    if let Some(b) = before {
        accumulate(pending, b, -1);
    }
}

fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

fn key_values(k: &RollupKey) -> [Value; 5] {
    [
        k.town_id.into(),
        k.scope_id.into(),
        k.dim.as_str().into(),
        k.day.format("%Y-%m-%d").to_string().into(),
        k.key.clone().into(),
    ]
}

fn upsert_sql(columns: &[&str], rows: usize, backend: DbBackend) -> String {
    let all: Vec<&str> = KEY_COLUMNS.iter().copied().chain(columns.iter().copied()).collect();
    let mut n = 0;
    let tuples: Vec<String> = (0..rows)
        .map(|_| {
            let ph: Vec<String> = all
                .iter()
                .map(|_| {
                    n += 1;
                    placeholder(backend, n)
                })
                .collect();
            format!("({})", ph.join(", "))
        })
        .collect();
    let names: Vec<String> = all.iter().map(|c| format!("\"{c}\"")).collect();
    let keys: Vec<String> = KEY_COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    let sets: Vec<String> =
        columns.iter().map(|c| format!("\"{c}\" = \"{TABLE}\".\"{c}\" + excluded.\"{c}\"")).collect();
    format!(
        "INSERT INTO \"{TABLE}\" ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}",
        names.join(", "),
        tuples.join(", "),
        keys.join(", "),
        sets.join(", ")
    )
}

/// Add rows' changes (distinct keys, in the given order) in as few statements as the
/// parameter limit allows, naming only the counters that change in some row: a new case
/// changes the same few counters in each of its ten rows, so that is one short statement inside
/// the writer's lock instead of ten (rows without a change of a named counter add 0).
fn upsert_statements(backend: DbBackend, rows: &[(RollupKey, Counters)]) -> Vec<Statement> {
    let names = counter_columns();
    let mut changed = vec![false; names.len()];
    for (_, c) in rows {
        for (i, v) in c.values().into_iter().enumerate() {
            if v != 0
                && let Some(slot) = changed.get_mut(i)
            {
                *slot = true;
            }
        }
    }
    let picked: Vec<usize> = (0..names.len()).filter(|i| changed.get(*i).copied().unwrap_or(false)).collect();
    if picked.is_empty() {
        return Vec::new();
    }
    let columns: Vec<&str> = picked.iter().filter_map(|i| names.get(*i)).map(String::as_str).collect();
    let per_row = KEY_COLUMNS.len() + columns.len();
    let chunk_rows = (MAX_PARAMETERS / per_row).clamp(1, UPSERT_CHUNK);
    let mut out = Vec::new();
    for chunk in rows.chunks(chunk_rows) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * per_row);
        for (k, c) in chunk {
            values.extend(key_values(k));
            let all = c.values();
            values.extend(picked.iter().map(|i| Value::from(all.get(*i).copied().unwrap_or(0))));
        }
        out.push(Statement::from_sql_and_values(backend, upsert_sql(&columns, chunk.len(), backend), values));
    }
    out
}

/// Add what `cases` count for to the rollup (for bulk loads of cases that bypass [`track`]),
/// aggregating in memory a few thousand cases at a time.
pub async fn add_cases(db: &impl ConnectionTrait, cases: &[CaseRow]) -> Result<()> {
    for chunk in cases.chunks(FLUSH_EVERY_CASES) {
        let mut acc = HashMap::new();
        for c in chunk {
            accumulate(&mut acc, c, 1);
        }
        Pending(acc).flush(db).await?;
    }
    Ok(())
}

/// Recompute the rollup of one town (or of every town) from the cases table.
pub async fn rebuild(db: &impl ConnectionTrait, town_id: Option<Uuid>) -> Result<u64> {
    let backend = db.get_database_backend();
    match town_id {
        Some(t) => {
            let sql = format!("DELETE FROM \"{TABLE}\" WHERE \"town_id\" = {}", placeholder(backend, 1));
            db.execute_raw(Statement::from_sql_and_values(backend, sql, [t.into()])).await?;
        }
        None => {
            db.execute_raw(Statement::from_string(backend, format!("DELETE FROM \"{TABLE}\""))).await?;
        }
    }
    let mut after: Option<(Uuid, Uuid)> = None;
    let mut count = 0u64;
    loop {
        let mut q = case::Entity::find();
        if let Some(t) = town_id {
            q = q.filter(case::Column::TownId.eq(t));
        }
        if let Some((t, id)) = after {
            q = q.filter(
                Condition::any()
                    .add(case::Column::TownId.gt(t))
                    .add(Condition::all().add(case::Column::TownId.eq(t)).add(case::Column::Id.gt(id))),
            );
        }
        let page = q
            .order_by_asc(case::Column::TownId)
            .order_by_asc(case::Column::Id)
            .limit(FLUSH_EVERY_CASES as u64)
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.town_id, last.id));
        count += page.len() as u64;
        add_cases(db, &page).await?;
        if page.len() < FLUSH_EVERY_CASES {
            break;
        }
    }
    Ok(count)
}

// ---- reading ----

/// Whose figures: a whole town, or some of its admin villages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureScope {
    pub town_id: Uuid,
    /// `None`: the whole town.
    pub villages: Option<Vec<Uuid>>,
}

/// How the per-group figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Category,
    AdminVillage,
    Unit,
    Source,
    /// Calendar month of the local day, `YYYY-MM`.
    Month,
}

impl GroupBy {
    pub const NAMES: [&'static str; 5] = ["category", "admin_village", "unit", "source", "month"];

    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "category" => Some(GroupBy::Category),
            "admin_village" => Some(GroupBy::AdminVillage),
            "unit" => Some(GroupBy::Unit),
            "source" => Some(GroupBy::Source),
            "month" => Some(GroupBy::Month),
            _ => None,
        }
    }

    fn dim(self) -> Dim {
        match self {
            GroupBy::Category => Dim::Category,
            GroupBy::AdminVillage => Dim::AdminVillage,
            GroupBy::Unit => Dim::Unit,
            GroupBy::Source => Dim::Source,
            GroupBy::Month => Dim::All,
        }
    }
}

fn scope_ids(scope: &FigureScope) -> Vec<Uuid> {
    scope.villages.clone().unwrap_or_else(|| vec![TOWN_SCOPE])
}

/// The summed counters of the days `from..=to`, in one group (`by` = `None`: key empty) or
/// per group key (an id or source name; empty for cases without one; `YYYY-MM` for months).
pub async fn sums(
    db: &impl ConnectionTrait,
    scope: &FigureScope,
    from: NaiveDate,
    to: NaiveDate,
    by: Option<GroupBy>,
) -> Result<Vec<(String, Counters)>> {
    let scopes = scope_ids(scope);
    if scopes.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let dim = by.map(GroupBy::dim).unwrap_or(Dim::All);
    let key_expr = match by {
        Some(GroupBy::Month) => "substr(\"day\", 1, 7)",
        _ => "\"key\"",
    };
    let sums: Vec<String> =
        counter_columns().iter().map(|c| format!("CAST(SUM(\"{c}\") AS BIGINT) AS \"{c}\"")).collect();
    let mut values: Vec<Value> = vec![
        scope.town_id.into(),
        dim.as_str().into(),
        from.format("%Y-%m-%d").to_string().into(),
        to.format("%Y-%m-%d").to_string().into(),
    ];
    let scope_ph: Vec<String> = (0..scopes.len()).map(|i| placeholder(backend, 5 + i)).collect();
    values.extend(scopes.iter().map(|s| Value::from(*s)));
    let sql = format!(
        "SELECT {key_expr} AS \"k\", {} FROM \"{TABLE}\" WHERE \"town_id\" = {} AND \"dim\" = {} AND \"day\" >= {} \
         AND \"day\" <= {} AND \"scope_id\" IN ({}) GROUP BY {key_expr}",
        sums.join(", "),
        placeholder(backend, 1),
        placeholder(backend, 2),
        placeholder(backend, 3),
        placeholder(backend, 4),
        scope_ph.join(", "),
    );
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let key: String = r.try_get_by_index(0)?;
        let mut v = Vec::with_capacity(Counters::WIDTH);
        for i in 0..Counters::WIDTH {
            v.push(r.try_get_by_index::<Option<i64>>(i + 1)?.unwrap_or(0));
        }
        out.push((key, Counters::from_values(&v)));
    }
    if by.is_none() {
        // One group; merge in case the database split it.
        let mut total = Counters::default();
        for (_, c) in &out {
            total.add(c, 1);
        }
        return Ok(vec![(String::new(), total)]);
    }
    // Rows are never deleted: a key whose cases all moved elsewhere (a transfer, an escalation,
    // a reopen) keeps a row of zeros. It counts for nothing, and a fresh computation would not
    // have it, so it is no group.
    out.retain(|(_, c)| !c.is_zero());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Open and overdue cases now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NowCounts {
    pub open: i64,
    pub overdue: i64,
}

/// States whose deadline clock runs: a case in them past its deadline is overdue.
const RUNNING: [CaseState; 4] =
    [CaseState::Reported, CaseState::Accepted, CaseState::Dispatched, CaseState::InProgress];

/// Open and overdue cases now, in total (key empty) or per group key as [`sums`] names them
/// (`Month` gives the total only: "now" has no month). Overdue: the clock runs and its
/// deadline has passed, as the queue's `overdue` filter counts it (an escalated case keeps its
/// red card as a mark but runs on a fresh deadline).
pub async fn now_counts(
    db: &impl ConnectionTrait,
    scope: &FigureScope,
    by: Option<GroupBy>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, NowCounts)>> {
    let mut base = Condition::all().add(case::Column::TownId.eq(scope.town_id));
    if let Some(v) = &scope.villages {
        base = base.add(case::Column::AdminVillageId.is_in(v.clone()));
    }
    let open = base
        .clone()
        .add(case::Column::State.is_in(CaseState::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str().to_string())));
    let column = match by {
        None | Some(GroupBy::Month) => None,
        Some(GroupBy::Category) => Some(case::Column::CategoryId),
        Some(GroupBy::AdminVillage) => Some(case::Column::AdminVillageId),
        Some(GroupBy::Unit) => Some(case::Column::UnitId),
        Some(GroupBy::Source) => Some(case::Column::Source),
    };
    let Some(col) = column else {
        let overdue = base
            .add(case::Column::State.is_in(RUNNING.iter().map(|s| s.as_str().to_string())))
            .add(case::Column::DueAt.lte(now));
        let o = case::Entity::find().filter(open).count(db).await?;
        let d = case::Entity::find().filter(overdue).count(db).await?;
        return Ok(vec![(String::new(), NowCounts { open: o as i64, overdue: d as i64 })]);
    };
    // Read the open cases' key, state and deadline through the `(town_id, state, …)` index and
    // count here: a GROUP BY on the key would walk the town's whole `(town_id, key, state)`
    // index (every case ever, a million rows) instead of only the open ones.
    let running: Vec<&str> = RUNNING.iter().map(|s| s.as_str()).collect();
    let mut out: HashMap<String, NowCounts> = HashMap::new();
    let q = case::Entity::find()
        .select_only()
        .column(col)
        .column(case::Column::State)
        .column(case::Column::DueAt)
        .filter(open);
    let rows: Vec<(String, String, Option<DateTime<Utc>>)> = if by == Some(GroupBy::Source) {
        q.into_tuple::<(String, String, Option<DateTime<Utc>>)>().all(db).await?
    } else {
        q.into_tuple::<(Option<Uuid>, String, Option<DateTime<Utc>>)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(k, st, due)| (id_key(k), st, due))
            .collect()
    };
    for (k, state, due) in rows {
        let slot = out.entry(k).or_default();
        slot.open += 1;
        if running.contains(&state.as_str()) && due.is_some_and(|d| d <= now) {
            slot.overdue += 1;
        }
    }
    let mut out: Vec<(String, NowCounts)> = out.into_iter().collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The admin villages of an area (for an area chief's figures).
pub async fn villages_of_area(db: &impl ConnectionTrait, town_id: Uuid, area_id: Uuid) -> Result<Vec<Uuid>> {
    use crate::entity::region;
    Ok(region::Entity::find()
        .select_only()
        .column(region::Column::Id)
        .filter(region::Column::TownId.eq(town_id))
        .filter(region::Column::Kind.eq("admin_village"))
        .filter(region::Column::AreaId.eq(area_id))
        .into_tuple::<Uuid>()
        .all(db)
        .await?)
}

//! Bulk loading of past cases (the demo town's history, benchmarks): cases with their timeline
//! entries and reporters, readable numbers in the same per-day sequence as live cases, the day
//! counters left where new cases continue, and the figures rollup, all in the caller's
//! transaction. The caller records one audit entry for the batch.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, Statement, Value};
use uuid::Uuid;
use wuwei_domain::case as rules;

use crate::cases::{CaseRow, EventRow, ReporterRow};
use crate::entity::{case, case_event, case_reporter};
use crate::{Result, Tx, figures};

/// Rows per INSERT: the cases table has 47 columns, so 400 rows stay under SQLite's 32,766
/// bound parameters.
const INSERT_CHUNK: usize = 400;

/// Insert past cases of the town `short_code` names. Each case is numbered here, by its
/// creation time, after the numbers its local day has already used (`number` is overwritten);
/// events and reporters refer to cases by id. Returns how many cases were written.
pub async fn insert_cases(
    tx: &mut Tx,
    short_code: &str,
    mut cases: Vec<CaseRow>,
    events: Vec<EventRow>,
    reporters: Vec<ReporterRow>,
) -> Result<usize> {
    cases.sort_by_key(|c| (c.town_id, c.created_at, c.id));
    let mut last: BTreeMap<(Uuid, String), i32> = BTreeMap::new();
    for c in &cases {
        let day = rules::local_day(c.created_at).to_string();
        if !last.contains_key(&(c.town_id, day.clone())) {
            let used = day_counter(tx.db(), c.town_id, &day).await?;
            last.insert((c.town_id, day), used);
        }
    }
    for c in cases.iter_mut() {
        let day = rules::local_day(c.created_at);
        let seq = last.entry((c.town_id, day.to_string())).or_insert(0);
        *seq += 1;
        c.number = rules::case_number(short_code, day, Ord::max(*seq, 0) as u32);
    }
    for chunk in cases.chunks(INSERT_CHUNK) {
        case::Entity::insert_many(chunk.iter().map(|c| c.clone().into_active_model())).exec(tx.db()).await?;
    }
    for chunk in events.chunks(INSERT_CHUNK) {
        case_event::Entity::insert_many(chunk.iter().map(|e| e.clone().into_active_model())).exec(tx.db()).await?;
    }
    for chunk in reporters.chunks(INSERT_CHUNK) {
        case_reporter::Entity::insert_many(chunk.iter().map(|r| r.clone().into_active_model())).exec(tx.db()).await?;
    }
    for ((town_id, day), seq) in &last {
        set_day_counter(tx.db(), *town_id, day, *seq).await?;
    }
    figures::add_cases(tx.db(), &cases).await?;
    Ok(cases.len())
}

async fn day_counter(db: &impl ConnectionTrait, town_id: Uuid, day: &str) -> Result<i32> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT last_seq FROM day_counter WHERE town_id = $1 AND day = $2",
        _ => "SELECT last_seq FROM day_counter WHERE town_id = ? AND day = ?",
    };
    let values: [Value; 2] = [town_id.into(), day.into()];
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(match row {
        Some(r) => r.try_get::<i32>("", "last_seq")?,
        None => 0,
    })
}

/// Raise a day's counter to `seq` (never lower it: a live case may have taken numbers meanwhile
/// on PostgreSQL).
async fn set_day_counter(db: &impl ConnectionTrait, town_id: Uuid, day: &str, seq: i32) -> Result<()> {
    let backend = db.get_database_backend();
    let (a, b, c) = match backend {
        DbBackend::Postgres => ("$1", "$2", "$3"),
        _ => ("?", "?", "?"),
    };
    let sql = format!(
        "INSERT INTO day_counter (town_id, day, last_seq) VALUES ({a}, {b}, {c}) ON CONFLICT (town_id, day) \
         DO UPDATE SET last_seq = CASE WHEN day_counter.last_seq > excluded.last_seq THEN day_counter.last_seq \
         ELSE excluded.last_seq END"
    );
    let values: [Value; 3] = [town_id.into(), day.into(), seq.into()];
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

/// How many cases each local day of a town has numbered (for checks and tests).
pub async fn day_counters(db: &impl ConnectionTrait, town_id: Uuid) -> Result<HashMap<String, i32>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT day, last_seq FROM day_counter WHERE town_id = $1",
        _ => "SELECT day, last_seq FROM day_counter WHERE town_id = ?",
    };
    let values: [Value; 1] = [town_id.into()];
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut out = HashMap::new();
    for r in rows {
        out.insert(r.try_get::<String>("", "day")?, r.try_get::<i32>("", "last_seq")?);
    }
    Ok(out)
}

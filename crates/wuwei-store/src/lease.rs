//! Leases for background jobs: one server at a time runs a job (the sweeper, the outbox
//! worker), and another takes over if it stops renewing.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::Result;

/// Take or renew the lease `name` for `holder` until `now + ttl`; true if `holder` has it.
pub async fn acquire(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool> {
    let backend = db.get_database_backend();
    let (insert, select) = match backend {
        DbBackend::Postgres => (
            "INSERT INTO job_lease (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_lease.expires_at < $4 OR job_lease.holder = excluded.holder",
            "SELECT holder FROM job_lease WHERE name = $1",
        ),
        _ => (
            "INSERT INTO job_lease (name, holder, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_lease.expires_at < ? OR job_lease.holder = excluded.holder",
            "SELECT holder FROM job_lease WHERE name = ?",
        ),
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        insert,
        [name.into(), holder.into(), (now + ttl).into(), now.into()],
    ))
    .await?;
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, select, [name.into()])).await?;
    Ok(match row {
        Some(r) => r.try_get::<String>("", "holder")? == holder,
        None => false,
    })
}

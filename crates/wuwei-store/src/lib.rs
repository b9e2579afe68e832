//! The storage boundary: every SQL statement of wuwei is issued from this crate, through sea-orm,
//! so the same code runs on SQLite (the default, embedded, no setup) and PostgreSQL (the scale
//! path), chosen by the database URL.
//!
//! Writes go through [`Tx`]: a transaction that must record at least one audit entry before it
//! commits, and appends those entries to the town's hash chain inside the same transaction. On
//! SQLite, writers are serialised in-process (one writer at a time is all SQLite allows; queuing
//! on a mutex is fairer and cheaper than spinning on `SQLITE_BUSY`) and begin `IMMEDIATE`, so a
//! second process (the CLI beside a running server) waits instead of failing.

pub mod accounts;
pub mod audit;
pub mod cameras;
pub mod cards;
pub mod cases;
pub mod catalog;
pub mod devices;
mod entity;
pub mod figures;
pub mod history;
pub mod households;
pub mod idempotency;
pub mod layers;
pub mod lease;
pub mod mediation;
mod migration;
pub mod notify;
pub mod points;
pub mod points_awards;
pub mod points_figures;
pub mod points_shop;
pub mod regions;
pub mod test_support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use serde_json::Value;
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

pub use sea_orm::ConnectionTrait as Conn;
pub use sea_orm::DatabaseTransaction as Transaction;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (expected sqlite:// or postgres://): {0}")]
    BadUrl(String),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    #[error("{0} is already taken")]
    Duplicate(String),
    #[error("the record was changed by someone else (now at version {current})")]
    VersionConflict { current: i32 },
    /// A broken invariant of the store itself: a bug, never the user's fault.
    #[error("storage invariant violated: {0}")]
    Invariant(String),
    #[error("database error: {0}")]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> StoreError {
        if let Some(SqlErr::UniqueConstraintViolation(what)) = e.sql_err() {
            return StoreError::Duplicate(what);
        }
        match e {
            DbErr::ConnectionAcquire(err) => StoreError::Unavailable(err.to_string()),
            DbErr::Conn(err) => StoreError::Unavailable(err.to_string()),
            other => StoreError::Db(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Tuning that has a sensible default; the server's configuration may override it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_busy_timeout: Duration,
    /// `FULL` also survives power loss; `NORMAL` (the default) in WAL mode survives a crash or
    /// `kill -9` of the server, which is what an acknowledged write must.
    pub sqlite_synchronous_full: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            sqlite_synchronous_full: false,
        }
    }
}

/// How much of a SQLite file each connection maps (256 MiB; the rest is read as usual).
const SQLITE_MMAP_BYTES: u64 = 256 * 1024 * 1024;

/// The write-ahead log's size at which a committing writer checkpoints it itself (pages of
/// 4 KiB): only when the background checkpoint falls behind.
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// How often the background checkpoint runs.
const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copy the write-ahead log into the database file every second, on a pooled connection of its
/// own, while the store lives (`alive`: the writer lock, dropped with the last `Store`).
///
/// SQLite's default is that the commit which takes the log past 1,000 pages checkpoints it, and
/// the checkpoint's `fsync` then happens inside that writer's critical section: under a steady
/// stream of writes one commit in a few dozen took 20–150 ms and every writer queued behind it.
/// A `PASSIVE` checkpoint does not block writers or readers, so here it costs them nothing.
async fn checkpoint_sqlite(db: DatabaseConnection, alive: std::sync::Weak<Mutex<()>>) {
    loop {
        tokio::time::sleep(SQLITE_CHECKPOINT_EVERY).await;
        if alive.strong_count() == 0 {
            return;
        }
        let done =
            db.execute_raw(sea_orm::Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)")).await;
        if let Err(e) = done {
            // The next pass tries again; the commit-time checkpoint stays as the safety net.
            tracing::warn!(error = %e, "SQLite checkpoint failed");
        }
    }
}

/// The database: a pool of connections plus, on SQLite, the in-process writer lock.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
    /// Moves on every commit that changed who may act (a session revoked, an account disabled,
    /// roles or a password changed, an API token revoked): the server's cache of signed-in
    /// principals keeps an entry only while this has not moved since it was read.
    auth_epoch: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Removes a password from a database URL so it can be logged.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Open the database at `url`, creating a SQLite file (and its directory) if missing.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let mut opts = SqliteConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl(redact_url(url)))?;
            let filename = opts.get_filename().to_path_buf();
            if filename.as_os_str() == ":memory:" || url.contains(":memory:") {
                // Each pooled connection would get its own empty database.
                return Err(StoreError::BadUrl(format!("{url}: in-memory SQLite is not supported; use a file")));
            }
            if let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
            }
            opts = opts
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if options.sqlite_synchronous_full {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .busy_timeout(options.sqlite_busy_timeout)
                .foreign_keys(true)
                .statement_cache_capacity(STATEMENT_CACHE)
                .pragma("temp_store", "memory")
                // Reads through a memory map of the file. In WAL mode a connection drops its
                // whole page cache whenever another connection has committed, so under a steady
                // stream of writes every read started by copying its pages in again (`pread` into
                // fresh allocations: a fifth of the database threads' time in the redemption
                // bench); mapped pages are shared and need no copy. Address space only: the
                // kernel's page cache backs it.
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                // Checkpoints run beside the writer (see `checkpoint_sqlite`); the one a commit
                // runs itself when the log passes this many pages (64 MiB) is the safety net.
                .pragma("wal_autocheckpoint", SQLITE_AUTOCHECKPOINT_PAGES.to_string());
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .min_connections(1)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let store = Store {
                db: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
                backend: Backend::Sqlite,
                write_lock: Arc::new(Mutex::new(())),
                auth_epoch: Arc::default(),
            };
            tokio::spawn(checkpoint_sqlite(store.db.clone(), Arc::downgrade(&store.write_lock)));
            Ok(store)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl(redact_url(url)))?
                .statement_cache_capacity(STATEMENT_CACHE);
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .min_connections(1)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(Store {
                db: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
                backend: Backend::Postgres,
                write_lock: Arc::new(Mutex::new(())),
                auth_epoch: Arc::default(),
            })
        } else {
            Err(StoreError::BadUrl(redact_url(url)))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// See [`Store::auth_epoch`]'s field: read it *before* reading a session, so that a change
    /// committed after that read is seen as a move.
    pub fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The connection for reads. Reads never need the writer lock.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Bring the schema up to date. Forward-only; safe to run at every start.
    pub async fn migrate(&self) -> Result<()> {
        migration::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Migrations not yet applied, by name.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        let pending = migration::Migrator::get_pending_migrations(&self.db).await?;
        Ok(pending.iter().map(|m| m.name().to_string()).collect())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    pub async fn close(self) -> Result<()> {
        self.db.close().await?;
        Ok(())
    }

    /// A write transaction whose changes are audited (see [`Tx::commit`]).
    pub async fn begin(&self) -> Result<Tx> {
        self.begin_inner(true).await
    }

    /// A write transaction for bookkeeping that is not a change anyone audits: a session's
    /// last-seen time, an API token's last use.
    pub async fn begin_unaudited(&self) -> Result<Tx> {
        self.begin_inner(false).await
    }

    async fn begin_inner(&self, audited: bool) -> Result<Tx> {
        let (guard, txn) = match self.backend {
            Backend::Sqlite => {
                let guard = self.write_lock.clone().lock_owned().await;
                let txn = self
                    .db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?;
                (Some(guard), txn)
            }
            Backend::Postgres => (None, self.db.begin().await?),
        };
        Ok(Tx {
            txn,
            backend: self.backend,
            _guard: guard,
            audits: Vec::new(),
            audited,
            figures: Default::default(),
            auth_epoch: self.auth_epoch.clone(),
            auth_changed: false,
            later: Vec::new(),
        })
    }

    /// A read-only snapshot for checks that must see one consistent state beside live writers
    /// (`audit verify`, `points verify`): REPEATABLE READ on PostgreSQL, a deferred read
    /// transaction on SQLite (WAL keeps its snapshot). Roll it back when done.
    pub async fn begin_read_snapshot(&self) -> Result<DatabaseTransaction> {
        let options = match self.backend {
            Backend::Postgres => TransactionOptions {
                isolation_level: Some(sea_orm::IsolationLevel::RepeatableRead),
                access_mode: Some(sea_orm::AccessMode::ReadOnly),
                ..TransactionOptions::default()
            },
            Backend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Deferred),
                ..TransactionOptions::default()
            },
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// A consistent copy of a SQLite database while the server runs.
    pub async fn backup_sqlite(&self, target: &std::path::Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Invariant("backup_sqlite on a non-SQLite store".into()));
        }
        let path = target.to_str().ok_or_else(|| StoreError::Invariant("backup path is not UTF-8".into()))?;
        // VACUUM INTO reads one snapshot, so writers may go on while it runs.
        self.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(DbBackend::Sqlite, "VACUUM INTO ?", [path.into()]))
            .await?;
        Ok(())
    }
}

/// Who made a change, as the audit trail records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// `None` for the system itself (the demo loader, a CLI command run by the operator).
    pub id: Option<Uuid>,
    pub name: String,
}

impl Actor {
    pub fn system(name: &str) -> Actor {
        Actor { id: None, name: name.to_string() }
    }
}

/// One audit entry waiting for its transaction to commit.
#[derive(Debug, Clone)]
pub struct AuditDraft {
    pub actor: Actor,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub town_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    txn: DatabaseTransaction,
    backend: Backend,
    _guard: Option<OwnedMutexGuard<()>>,
    audits: Vec<AuditDraft>,
    audited: bool,
    /// Changes to the figures rollup, written at commit in key order (see `figures::track`).
    figures: figures::Pending,
    auth_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// This transaction changed who may act: move the epoch once it is committed.
    auth_changed: bool,
    /// Writes queued by [`Tx::write_later`], sent together at [`Tx::flush`] or commit.
    later: Vec<Statement>,
}

impl Tx {
    pub fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Record a change for the audit trail; written when the transaction commits.
    pub fn audit(&mut self, draft: AuditDraft) {
        self.audits.push(draft);
    }

    /// Queue a write whose outcome nothing reads (no rows back, no count checked) and that no
    /// later read of this transaction depends on until [`Tx::flush`]: the queued writes go to
    /// the database together, on SQLite as one call (see [`run_together`]). Commit flushes.
    pub(crate) fn write_later(&mut self, statement: Statement) {
        self.later.push(statement);
    }

    /// [`Tx::write_later`] for rows to insert, in multi-row statements of the fixed sizes.
    pub(crate) fn insert_later<A>(&mut self, rows: Vec<A>)
    where
        A: sea_orm::ActiveModelTrait,
    {
        let backend = self.txn.get_database_backend();
        for chunk in statement_chunks(rows) {
            self.later
                .push(sea_orm::QueryTrait::build(&<A::Entity as sea_orm::EntityTrait>::insert_many(chunk), backend));
        }
    }

    /// Send the writes queued by [`Tx::write_later`], in the order queued.
    pub async fn flush(&mut self) -> Result<()> {
        let queued = std::mem::take(&mut self.later);
        run_together(&self.txn, queued).await
    }

    /// Append the audit entries to their chains and commit, all or nothing.
    pub async fn commit(self, now: DateTime<Utc>) -> Result<()> {
        let Tx { txn, audits, audited, _guard, figures, auth_epoch, auth_changed, later, backend } = self;
        if audited && audits.is_empty() {
            // Every change leaves a trace: a write path that forgot its audit entry is a bug.
            return Err(StoreError::Invariant("a write transaction committed without an audit entry".into()));
        }
        let mut by_chain: BTreeMap<String, Vec<AuditDraft>> = BTreeMap::new();
        for d in audits {
            by_chain.entry(wuwei_domain::audit::chain_for(d.town_id)).or_default().push(d);
        }
        // Chains are locked in a fixed (sorted) order so two transactions never deadlock.
        let at = now.trunc_subsecs(6);
        let mut writes = later;
        let db_backend = txn.get_database_backend();
        match backend {
            // One writer at a time holds the database, so the order of locks is moot: the chain
            // heads are read first and everything else goes in one call.
            Backend::Sqlite => {
                writes.extend(figures.statements(db_backend));
                for (chain, drafts) in by_chain {
                    writes.extend(audit::append_statements(&txn, &chain, at, drafts).await?);
                }
                run_together(&txn, writes).await?;
            }
            // Rows are locked as they are written: the queued writes, then the rollup, then the
            // chain heads (FOR UPDATE) last, as before the queue existed.
            Backend::Postgres => {
                run_together(&txn, writes).await?;
                run_together(&txn, figures.statements(db_backend)).await?;
                for (chain, drafts) in by_chain {
                    let statements = audit::append_statements(&txn, &chain, at, drafts).await?;
                    run_together(&txn, statements).await?;
                }
            }
        }
        txn.commit().await?;
        if auth_changed {
            auth_epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        Ok(())
    }

    /// Mark that this transaction changes who may act (see [`Store::auth_epoch`]).
    pub(crate) fn auth_changed(&mut self) {
        self.auth_changed = true;
    }
}

/// Run write statements in order. On SQLite they go to the driver as one call: its thread runs
/// them one after the other (binding the `?` values in turn), so a batch of a dozen statements
/// costs one hand-off to that thread and back instead of a dozen, which under load was most of
/// a group commit's time. PostgreSQL's extended protocol takes one statement per call.
pub(crate) async fn run_together(db: &impl ConnectionTrait, statements: Vec<Statement>) -> Result<()> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            for group in fuse_statements(statements) {
                db.execute_raw(group).await?;
            }
        }
        _ => {
            for statement in statements {
                db.execute_raw(statement).await?;
            }
        }
    }
    Ok(())
}

/// Statements fused into one call at most (a bound on the text prepared at once).
const FUSED_STATEMENTS: usize = 64;

/// SQLite statements joined into calls of up to [`FUSED_STATEMENTS`], their values in order.
/// Only `?` placeholders (as sea-query and this crate write them for SQLite) bind in turn.
fn fuse_statements(statements: Vec<Statement>) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut rest = statements.into_iter().peekable();
    while rest.peek().is_some() {
        let mut sql = String::new();
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for s in rest.by_ref().take(FUSED_STATEMENTS) {
            sql.push_str(s.sql.trim_end().trim_end_matches(';'));
            sql.push_str(";\n");
            if let Some(v) = s.values {
                values.extend(v.0);
            }
        }
        out.push(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values));
    }
    out
}

/// Rows written per multi-row statement, largest first: the powers of two, so that any count up
/// to 64 takes at most 7 statements and about 3 on average (with 64/16/4/1 a batch's ten tables
/// took 48 statements, each a hand-off to the driver's thread and back).
const STATEMENT_ROWS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// Prepared statements kept per connection (the drivers' default is 100): the multi-row
/// statements of the group commits are 7 sizes for each of a dozen tables.
pub(crate) const STATEMENT_CACHE: usize = 400;

/// Split rows for multi-row statements into chunks of a few fixed sizes ([`STATEMENT_ROWS`]).
/// Each connection keeps its prepared statements by their text; a batch of 37 rows written as
/// one statement of 37 would be prepared afresh each time (a large statement's preparation
/// costs more than running it), while 32 + 4 + 1 reuses statements prepared before. Every size
/// is far under both databases' parameter limits.
pub(crate) fn statement_chunks<T>(rows: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut rest = rows.into_iter().peekable();
    let mut left = rest.len();
    for size in STATEMENT_ROWS {
        while left >= size {
            out.push(rest.by_ref().take(size).collect());
            left -= size;
        }
    }
    out
}

/// Split the values of an `IN (…)` list into chunks of the same fixed sizes, the last one padded
/// up to the next size by repeating its last value (a value twice in an `IN` list matches the
/// same rows once). A read of 30 keys is then one statement of 32 instead of 16 + 8 + 4 + 2:
/// each statement is a hand-off to the connection's driver thread, which under load costs more
/// than the lookups it carries.
pub(crate) fn lookup_chunks<T: Clone>(values: Vec<T>) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let largest = STATEMENT_ROWS[0];
    let mut rest = values.into_iter().peekable();
    while rest.peek().is_some() {
        let mut chunk: Vec<T> = rest.by_ref().take(largest).collect();
        let want = STATEMENT_ROWS.iter().rev().copied().find(|&size| size >= chunk.len()).unwrap_or(largest);
        if let Some(last) = chunk.last().cloned() {
            chunk.resize(want, last);
        }
        out.push(chunk);
    }
    out
}

/// Map a "no rows" result to [`StoreError::NotFound`].
pub(crate) fn found<T>(v: Option<T>) -> Result<T> {
    v.ok_or(StoreError::NotFound)
}

/// Round-trip-safe "now": databases keep microseconds.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::{FUSED_STATEMENTS, fuse_statements, lookup_chunks, statement_chunks};
    use sea_orm::{DbBackend, Statement, Value};

    #[test]
    fn fused_statements_keep_their_order_and_their_values_in_turn() {
        let statements: Vec<Statement> = (0..FUSED_STATEMENTS as i64 + 2)
            .map(|n| {
                Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO t (a, b) VALUES (?, ?);",
                    [n.into(), (n * 10).into()],
                )
            })
            .collect();
        let fused = fuse_statements(statements);
        assert_eq!(fused.len(), 2);
        assert_eq!(fused[0].sql.matches("INSERT").count(), FUSED_STATEMENTS);
        assert!(!fused[0].sql.contains(";;"), "{}", fused[0].sql);
        assert_eq!(fused[1].sql, "INSERT INTO t (a, b) VALUES (?, ?);\nINSERT INTO t (a, b) VALUES (?, ?);\n");
        let n = FUSED_STATEMENTS as i64;
        let values = fused[1].values.clone().map(|v| v.0).unwrap_or_default();
        assert_eq!(values, vec![Value::from(n), Value::from(n * 10), Value::from(n + 1), Value::from((n + 1) * 10)]);
        assert!(fuse_statements(Vec::new()).is_empty());
    }

    #[test]
    fn statement_chunks_keep_every_row_once_in_fixed_sizes() {
        for n in [0usize, 1, 3, 4, 17, 30, 64, 65, 200] {
            let chunks = statement_chunks((0..n).collect());
            assert!(chunks.iter().all(|c| c.len().is_power_of_two() && c.len() <= 64), "n = {n}: {chunks:?}");
            assert!(chunks.len() <= n / 64 + 7, "n = {n}: {} statements", chunks.len());
            assert_eq!(chunks.concat(), (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn lookup_chunks_pad_the_last_chunk_with_its_last_value() {
        assert!(lookup_chunks(Vec::<u32>::new()).is_empty());
        assert_eq!(lookup_chunks(vec![7]), vec![vec![7]]);
        assert_eq!(lookup_chunks(vec![1, 2]), vec![vec![1, 2]]);
        assert_eq!(lookup_chunks(vec![1, 2, 3]), vec![vec![1, 2, 3, 3]]);
        let thirty: Vec<u32> = (0..30).collect();
        let chunks = lookup_chunks(thirty.clone());
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), 32);
        assert_eq!(&chunks[0][..30], &thirty[..]);
        assert!(chunks[0][30..].iter().all(|v| *v == 29));
        let many: Vec<u32> = (0..70).collect();
        let chunks = lookup_chunks(many);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![64, 8]);
        let mut seen: Vec<u32> = chunks.concat();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..70).collect::<Vec<_>>());
    }
}

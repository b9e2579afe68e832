//! Forward-only migrations. A released migration is never edited: a change of schema is a new
//! migration, and a change that would break running servers is split into expand and contract
//! steps released one after the other.

use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_cases;
mod m0003_figures;
mod m0004_cases_by_time;
mod m0005_points;
mod m0006_points_workflow;
mod m0007_devices;
mod m0008_mediation;
mod m0009_cameras;
mod m0010_intake_lookups;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_cases::Migration),
            Box::new(m0003_figures::Migration),
            Box::new(m0004_cases_by_time::Migration),
            Box::new(m0005_points::Migration),
            Box::new(m0006_points_workflow::Migration),
            Box::new(m0007_devices::Migration),
            Box::new(m0008_mediation::Migration),
            Box::new(m0009_cameras::Migration),
            Box::new(m0010_intake_lookups::Migration),
        ]
    }
}

// Column and index shorthands shared by the migrations. The SQL they produce must never change:
// released migrations depend on it.

pub(super) fn ts(name: &'static str) -> ColumnDef {
    sea_orm_migration::schema::timestamp_with_time_zone(name)
}

pub(super) fn ts_null(name: &'static str) -> ColumnDef {
    sea_orm_migration::schema::timestamp_with_time_zone_null(name)
}

pub(super) fn index(table: &'static str, name: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(*c);
    }
    idx.take()
}

/// Make `table` append-only in the database itself: UPDATE and DELETE refused by triggers (and
/// TRUNCATE on PostgreSQL, through `wuwei_refuse_change()` made by m0001). The SQL is what
/// m0005 first ran; released migrations depend on it staying so.
pub(super) async fn append_only(m: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    let db = m.get_connection();
    match m.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            for (op, what) in [("UPDATE", "update"), ("DELETE", "delete")] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {table}_no_{what} BEFORE {op} ON {table} \
                     BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                ))
                .await?;
            }
        }
        sea_orm::DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION wuwei_refuse_change()"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION wuwei_refuse_change()"
            ))
            .await?;
        }
        other => return Err(DbErr::Custom(format!("unsupported database backend {other:?}"))),
    }
    Ok(())
}

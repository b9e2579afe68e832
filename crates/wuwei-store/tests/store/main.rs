//! The store's integration tests: one binary, one module per area. Each test gets a fresh
//! database: a SQLite file by default, a new PostgreSQL database when `WUWEI_TEST_DATABASE_URL`
//! is set, so the same tests cover both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod points;
mod points_workflow;
mod queued;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;
use wuwei_store::households::{NewHousehold, insert_households};
use wuwei_store::{Actor, AuditDraft, Store, StoreOptions, test_support};

/// A migrated store in its own database, dropped (on PostgreSQL) by [`TestDb::finish`].
pub struct TestDb {
    pub store: Store,
    url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = test_support::fresh_database_url(dir.path()).await.unwrap();
        let store = Store::connect(&url, &StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        TestDb { store, url, _dir: dir }
    }

    pub async fn finish(self) {
        self.store.close().await.unwrap();
        test_support::drop_database(&self.url).await.unwrap();
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap()
}

pub fn actor() -> Actor {
    Actor { id: Some(Uuid::now_v7()), name: "测试员".into() }
}

/// `n` households of a new town (region ids are made up: the household table needs no regions).
pub async fn households(store: &Store, town_id: Uuid, n: usize) -> Vec<Uuid> {
    let (av, nv, grid) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| NewHousehold {
            id: *id,
            town_id,
            code: format!("H{i:04}"),
            area_id: None,
            admin_village_id: av,
            natural_village_id: nv,
            grid_id: grid,
            address: format!("测试村 {i} 号"),
            head_name: format!("户主{i}"),
            phone: None,
            lat: 29.0,
            lon: 119.0,
            residents: Vec::new(),
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    insert_households(&mut tx, t0(), rows).await.unwrap();
    tx.audit(AuditDraft {
        actor: Actor::system("test"),
        action: "household.import".into(),
        entity_type: "town".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: None,
    });
    tx.commit(t0()).await.unwrap();
    ids
}

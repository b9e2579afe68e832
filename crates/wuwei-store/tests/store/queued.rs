//! Writes queued on a transaction (`Tx::write_later`): sent together, in order, at a flush or
//! at commit; on a failure nothing of the transaction stays.

use uuid::Uuid;
use wuwei_store::idempotency::{self, Answer};
use wuwei_store::{Actor, AuditDraft, Tx};

use crate::{TestDb, t0};

fn audit(tx: &mut Tx, town_id: Uuid) {
    tx.audit(AuditDraft {
        actor: Actor::system("test"),
        action: "test.queue".into(),
        entity_type: "town".into(),
        entity_id: town_id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: None,
    });
}

fn queue(tx: &mut Tx, user_id: Uuid, key: &str, body: &str) {
    let answer = Answer { key_hash: key, user_id, request_hash: "request", status: 201, body };
    idempotency::store_later(tx, t0(), answer);
}

async fn body(tx: &Tx, key: &str) -> Option<String> {
    idempotency::find(tx.db(), key).await.unwrap().map(|r| r.response_body)
}

#[tokio::test]
async fn queued_writes_land_in_order_at_flush_and_commit_and_not_at_all_when_one_fails() {
    let db = TestDb::new().await;
    let (user, town) = (Uuid::now_v7(), Uuid::now_v7());

    let mut tx = db.store.begin().await.unwrap();
    for k in ["a", "b", "c"] {
        queue(&mut tx, user, k, &format!("body {k}"));
    }
    assert_eq!(body(&tx, "a").await, None, "queued, not yet sent");
    tx.flush().await.unwrap();
    assert_eq!(body(&tx, "b").await.as_deref(), Some("body b"));
    queue(&mut tx, user, "d", "body d");
    audit(&mut tx, town);
    tx.commit(t0()).await.unwrap();

    let mut tx = db.store.begin().await.unwrap();
    for k in ["a", "b", "c", "d"] {
        assert_eq!(body(&tx, k).await, Some(format!("body {k}")), "key {k}");
    }
    // A key stored twice fails the commit: the write queued before it goes too.
    queue(&mut tx, user, "e", "body e");
    queue(&mut tx, user, "a", "again");
    audit(&mut tx, town);
    assert!(tx.commit(t0()).await.is_err());

    let tx = db.store.begin().await.unwrap();
    assert_eq!(body(&tx, "e").await, None);
    assert_eq!(body(&tx, "a").await.as_deref(), Some("body a"));
    drop(tx);
    let audit = wuwei_store::audit::verify_snapshot(&db.store, None).await.unwrap();
    assert!(audit.first_broken.is_none() && audit.records == 1, "{audit:?}");
    db.finish().await;
}

//! The points ledger in the database: posting, idempotency, refusals that leave no trace,
//! reversal once, append-only tables, the verifier, and concurrent redemptions.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use uuid::Uuid;
use wuwei_domain::points::ledger::{Account, LedgerError, PostingKind, PostingMeta, Request, Violation};
use wuwei_domain::validate::PageRequest;
use wuwei_store::audit::{self, AuditFilter};
use wuwei_store::points::{self, LedgerProblem, PointsError, Posted};
use wuwei_store::{Backend, Store, Tx};

use super::{TestDb, actor, households, t0};

fn meta(town_id: Uuid, key: &str, at: DateTime<Utc>) -> PostingMeta {
    PostingMeta { id: Uuid::now_v7(), town_id, at, idempotency_key: key.to_string(), reference: format!("test:{key}") }
}

async fn post(store: &Store, town: Uuid, key: &str, request: Request) -> Result<Posted, PointsError> {
    points::post_one(store, t0(), &actor(), meta(town, key, t0()), request).await
}

async fn bal(store: &Store, town: Uuid, account: Account) -> i64 {
    points::balance(store.db(), town, account).await.unwrap()
}

/// Everything a write could have changed: the chain head, the audit trail's length, and the
/// rows of the three ledger tables.
async fn footprint(store: &Store, town: Uuid) -> (i64, u64, i64, i64, i64) {
    let head = points::head(store.db(), town).await.unwrap().seq;
    let (_, audits) = audit::list(store.db(), &AuditFilter::default(), 0, 1).await.unwrap();
    let count = |table: &str| {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        async move {
            let row = store
                .db()
                .query_one_raw(sea_orm::Statement::from_string(store.db().get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    (head, audits, count("points_posting").await, count("points_entry").await, count("points_balance").await)
}

async fn verify_ok(store: &Store, town: Uuid) -> points::LedgerVerification {
    let v = points::verify(store.db(), Some(town)).await.unwrap();
    assert_eq!(v.first_problem, None, "{v:?}");
    v
}

#[tokio::test]
async fn awards_deductions_redemptions_and_reversals_move_points() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let shop = Uuid::now_v7();
    let hh = households(s, town, 2).await;
    let (h1, h2) = (Account::household(hh[0]), Account::household(hh[1]));

    let award = post(s, town, "a1", Request::Award { household: hh[0], points: 30 }).await.unwrap();
    assert!(!award.replayed);
    assert_eq!((award.posting.seq, award.posting.kind), (1, PostingKind::Award));
    post(s, town, "a2", Request::Award { household: hh[1], points: 5 }).await.unwrap();
    let redemption =
        post(s, town, "r1", Request::Redemption { household: hh[0], store: shop, points: 12 }).await.unwrap().posting;
    // A deduction larger than the balance takes what is there and records the rest.
    let deduction = post(s, town, "d1", Request::Deduction { household: hh[1], points: 8 }).await.unwrap().posting;
    assert_eq!((deduction.change_for(&h2), deduction.shortfall), (-5, 3));
    // From an empty balance: still a posting, with no entries, so the shortfall is on record.
    let empty = post(s, town, "d2", Request::Deduction { household: hh[1], points: 2 }).await.unwrap().posting;
    assert_eq!((empty.entries.len(), empty.shortfall), (0, 2));
    post(s, town, "x1", Request::Expiry { household: hh[0], points: 3 }).await.unwrap();

    assert_eq!(bal(s, town, h1).await, 30 - 12 - 3);
    assert_eq!(bal(s, town, h2).await, 0);
    assert_eq!(bal(s, town, Account::store_redemption(shop)).await, 12);
    assert_eq!(bal(s, town, Account::town_issuance(town)).await, -35 + 5 + 3);

    // A return: the redemption reversed, points back to the household, the store's back to 0.
    let mut tx = s.begin().await.unwrap();
    let ret = points::reverse(&mut tx, &actor(), meta(town, "ret1", t0()), redemption.id).await.unwrap().posting;
    tx.commit(t0()).await.unwrap();
    assert_eq!(ret.reverses, Some(redemption.id));
    assert_eq!(bal(s, town, h1).await, 27);
    assert_eq!(bal(s, town, Account::store_redemption(shop)).await, 0);

    // A town that allows negative balances deducts all of it.
    let mut tx = s.begin().await.unwrap();
    points::set_allow_negative(&mut tx, &actor(), town, true, t0()).await.unwrap();
    tx.commit(t0()).await.unwrap();
    let neg = post(s, town, "d3", Request::Deduction { household: hh[1], points: 4 }).await.unwrap().posting;
    assert_eq!((neg.shortfall, bal(s, town, h2).await), (0, -4));
    // …but a redemption never goes below zero.
    assert!(matches!(
        post(s, town, "r2", Request::Redemption { household: hh[1], store: shop, points: 1 }).await,
        Err(PointsError::Ledger(LedgerError::InsufficientPoints { balance: -4, needed: 1, .. }))
    ));

    // The stored posting is the domain's, field for field, and the chain reads back intact.
    assert_eq!(points::posting(s.db(), town, award.posting.id).await.unwrap(), Some(award.posting.clone()));
    let v = verify_ok(s, town).await;
    assert_eq!((v.postings, v.entries, v.in_circulation), (8, 14, 27 - 4));

    // The household's history, newest first, with what each posting did to it.
    let (items, total) = points::history(s.db(), town, hh[0], PageRequest { page: 1, page_size: 3 }).await.unwrap();
    assert_eq!(total, 4);
    let got: Vec<_> = items.iter().map(|i| (i.kind, i.points, i.reversed_by)).collect();
    assert_eq!(
        got,
        vec![
            (PostingKind::Reversal, 12, None),
            (PostingKind::Expiry, -3, None),
            (PostingKind::Redemption, -12, Some(ret.id))
        ]
    );
    assert_eq!(items[0].reverses, Some(redemption.id));
    assert_eq!(items[0].actor_name, "测试员");
    let (items, _) = points::history(s.db(), town, hh[1], PageRequest { page: 1, page_size: 50 }).await.unwrap();
    let got: Vec<_> = items.iter().map(|i| (i.kind, i.points, i.shortfall)).collect();
    assert_eq!(
        got,
        vec![
            (PostingKind::Deduction, -4, 0),
            (PostingKind::Deduction, 0, 2),
            (PostingKind::Deduction, -5, 3),
            (PostingKind::Award, 5, 0)
        ]
    );

    // Every posting left an audit entry in the town's chain.
    let filter = AuditFilter { entity_type: Some("points_posting".into()), ..AuditFilter::default() };
    let (_, audited) = audit::list(s.db(), &filter, 0, 1).await.unwrap();
    assert_eq!(audited, 8);
    assert_eq!(audit::verify(s.db(), None).await.unwrap().first_broken, None);

    // The town turns negative balances off again: the old deduction was allowed when it was
    // made, so the ledger still verifies; from now on deductions stop at zero.
    let mut tx = s.begin().await.unwrap();
    points::set_allow_negative(&mut tx, &actor(), town, false, t0()).await.unwrap();
    tx.commit(t0()).await.unwrap();
    verify_ok(s, town).await;
    let capped = post(s, town, "d4", Request::Deduction { household: hh[1], points: 2 }).await.unwrap().posting;
    assert_eq!((capped.shortfall, bal(s, town, h2).await), (2, -4));
    verify_ok(s, town).await;
    t.finish().await;
}

#[tokio::test]
async fn the_same_key_twice_returns_the_first_posting_and_writes_nothing() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let hh = households(s, town, 1).await;
    let first = post(s, town, "award-1", Request::Award { household: hh[0], points: 10 }).await.unwrap();
    let before = footprint(s, town).await;

    // A retry: a new id and a later time, the same key and request.
    let later = t0() + Duration::minutes(5);
    let again = points::post_one(
        s,
        later,
        &actor(),
        meta(town, "award-1", later),
        Request::Award { household: hh[0], points: 10 },
    )
    .await
    .unwrap();
    assert!(again.replayed);
    assert_eq!(again.posting, first.posting);
    assert_eq!(footprint(s, town).await, before);

    // The same key for something else is refused, not answered with the first posting.
    let reused = post(s, town, "award-1", Request::Award { household: hh[0], points: 11 }).await;
    assert!(matches!(reused, Err(PointsError::KeyReused { seq: 1, .. })), "{reused:?}");
    let reused = post(s, town, "award-1", Request::Deduction { household: hh[0], points: 10 }).await;
    assert!(matches!(reused, Err(PointsError::KeyReused { .. })), "{reused:?}");
    assert_eq!(footprint(s, town).await, before);

    // Keys are per town: another town may use the same one.
    let other = Uuid::now_v7();
    let hh2 = households(s, other, 1).await;
    let p = post(s, other, "award-1", Request::Award { household: hh2[0], points: 10 }).await.unwrap();
    assert!(!p.replayed);
    assert_eq!(bal(s, town, Account::household(hh[0])).await, 10);
    assert_eq!(points::verify(s.db(), None).await.unwrap().first_problem, None);
    t.finish().await;
}

#[tokio::test]
async fn refusals_leave_no_trace() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let shop = Uuid::now_v7();
    let hh = households(s, town, 1).await;
    post(s, town, "a1", Request::Award { household: hh[0], points: 10 }).await.unwrap();
    let before = footprint(s, town).await;

    let over = post(s, town, "r1", Request::Redemption { household: hh[0], store: shop, points: 11 }).await;
    assert!(
        matches!(over, Err(PointsError::Ledger(LedgerError::InsufficientPoints { balance: 10, needed: 11, .. }))),
        "{over:?}"
    );
    assert!(matches!(
        post(s, town, "a0", Request::Award { household: hh[0], points: 0 }).await,
        Err(PointsError::Ledger(LedgerError::Amount { points: 0 }))
    ));
    assert!(matches!(
        post(s, town, "x1", Request::Expiry { household: hh[0], points: 11 }).await,
        Err(PointsError::Ledger(LedgerError::ExpiryOverBalance { .. }))
    ));
    let ghost = Uuid::now_v7();
    assert!(matches!(
        post(s, town, "a2", Request::Award { household: ghost, points: 1 }).await,
        Err(PointsError::UnknownHousehold { household }) if household == ghost
    ));
    assert!(matches!(
        post(s, town, "v1", Request::Reversal { original: ghost }).await,
        Err(PointsError::Ledger(LedgerError::UnknownOriginal { .. }))
    ));
    assert_eq!(footprint(s, town).await, before);

    // All or nothing: an award and a refused redemption in one transaction, dropped together.
    let mut tx = s.begin().await.unwrap();
    points::post(&mut tx, &actor(), meta(town, "a3", t0()), Request::Award { household: hh[0], points: 5 })
        .await
        .unwrap();
    let refused = points::post(
        &mut tx,
        &actor(),
        meta(town, "r2", t0()),
        Request::Redemption { household: hh[0], store: shop, points: 16 },
    )
    .await;
    assert!(matches!(refused, Err(PointsError::Ledger(LedgerError::InsufficientPoints { balance: 15, .. }))));
    drop(tx);
    assert_eq!(footprint(s, town).await, before);
    assert_eq!(bal(s, town, Account::household(hh[0])).await, 10);
    // The refused keys were not spent: they post once the balance allows.
    post(s, town, "r1", Request::Redemption { household: hh[0], store: shop, points: 10 }).await.unwrap();
    assert_eq!(bal(s, town, Account::household(hh[0])).await, 0);
    verify_ok(s, town).await;
    t.finish().await;
}

#[tokio::test]
async fn a_posting_is_reversed_once() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let shop = Uuid::now_v7();
    let hh = households(s, town, 1).await;
    let award = post(s, town, "a1", Request::Award { household: hh[0], points: 10 }).await.unwrap().posting;
    let r =
        post(s, town, "r1", Request::Redemption { household: hh[0], store: shop, points: 6 }).await.unwrap().posting;

    let rev = async |key: &str, original: Uuid| {
        let mut tx: Tx = s.begin().await.unwrap();
        let out = points::reverse(&mut tx, &actor(), meta(town, key, t0()), original).await;
        if matches!(out, Ok(Posted { replayed: false, .. })) {
            tx.commit(t0()).await.unwrap();
        }
        out
    };
    let first = rev("rev1", r.id).await.unwrap().posting;
    assert_eq!(bal(s, town, Account::household(hh[0])).await, 10);
    // The retry of the same reversal answers the first; a second reversal is refused.
    assert_eq!(rev("rev1", r.id).await.unwrap().posting, first);
    let before = footprint(s, town).await;
    assert!(matches!(
        rev("rev2", r.id).await,
        Err(PointsError::Ledger(LedgerError::AlreadyReversed { original })) if original == r.id
    ));
    assert!(matches!(rev("rev3", first.id).await, Err(PointsError::Ledger(LedgerError::ReversalOfReversal { .. }))));
    assert_eq!(footprint(s, town).await, before);

    // Reversing the award after spending part of it would overdraw the household.
    post(s, town, "r2", Request::Redemption { household: hh[0], store: shop, points: 4 }).await.unwrap();
    assert!(matches!(
        rev("rev4", award.id).await,
        Err(PointsError::Ledger(LedgerError::InsufficientPoints { balance: 6, needed: 10, .. }))
    ));
    verify_ok(s, town).await;
    t.finish().await;
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_postings_and_entries() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let hh = households(s, town, 1).await;
    post(s, town, "a1", Request::Award { household: hh[0], points: 10 }).await.unwrap();
    let before = footprint(s, town).await;
    for sql in [
        "UPDATE points_entry SET points = points + 1",
        "UPDATE points_posting SET reference = 'forged'",
        "UPDATE points_posting SET shortfall = 1",
        "DELETE FROM points_entry",
        "DELETE FROM points_posting",
    ] {
        let res = s.db().execute_unprepared(sql).await;
        let err = res.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if s.backend() == Backend::Postgres {
        for sql in ["TRUNCATE points_entry", "TRUNCATE points_posting"] {
            let err = s.db().execute_unprepared(sql).await.expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
    }
    assert_eq!(footprint(s, town).await, before);
    verify_ok(s, town).await;
    t.finish().await;
}

#[tokio::test]
async fn verify_names_the_first_violation_after_tampering() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let shop = Uuid::now_v7();
    let hh = households(s, town, 3).await;
    for (i, h) in hh.iter().enumerate() {
        post(s, town, &format!("a{i}"), Request::Award { household: *h, points: 10 + i as i64 }).await.unwrap();
    }
    post(s, town, "r1", Request::Redemption { household: hh[2], store: shop, points: 7 }).await.unwrap();
    let v = verify_ok(s, town).await;
    assert_eq!((v.towns, v.postings, v.entries, v.in_circulation), (1, 4, 8, 10 + 11 + 12 - 7));
    // An empty database, and a town with no ledger, verify too.
    assert_eq!(points::verify(s.db(), Some(Uuid::now_v7())).await.unwrap().first_problem, None);

    // The running balance is not append-only (it is updated in place): a tampered one is named.
    s.db()
        .execute_unprepared("UPDATE points_balance SET balance = balance + 1 WHERE account_kind = 'store_redemption'")
        .await
        .unwrap();
    let v = points::verify(s.db(), None).await.unwrap();
    assert_eq!(
        v.first_problem,
        Some(LedgerProblem::Violation {
            town_id: town,
            violation: Violation::BalanceMismatch { account: Account::store_redemption(shop), claimed: 8, actual: 7 },
        })
    );
    s.db()
        .execute_unprepared("UPDATE points_balance SET balance = balance - 1 WHERE account_kind = 'store_redemption'")
        .await
        .unwrap();
    verify_ok(s, town).await;

    // The household's running totals by kind (what its points page shows) are checked too.
    s.db()
        .execute_unprepared("UPDATE points_household_total SET total = total + 1 WHERE bucket = 'redemption'")
        .await
        .unwrap();
    assert_eq!(
        points::verify(s.db(), None).await.unwrap().first_problem,
        Some(LedgerProblem::Violation {
            town_id: town,
            violation: Violation::TotalMismatch {
                household: hh[2],
                bucket: PostingKind::Redemption,
                claimed: -6,
                actual: -7
            },
        })
    );
    s.db()
        .execute_unprepared("UPDATE points_household_total SET total = total - 1 WHERE bucket = 'redemption'")
        .await
        .unwrap();
    verify_ok(s, town).await;
    s.db()
        .execute_unprepared("DELETE FROM points_household_total WHERE bucket = 'award' AND total = 10")
        .await
        .unwrap();
    assert_eq!(
        points::verify(s.db(), Some(town)).await.unwrap().first_problem,
        Some(LedgerProblem::Violation {
            town_id: town,
            violation: Violation::UnclaimedTotal { household: hh[0], bucket: PostingKind::Award, actual: 10 },
        })
    );
    // (Left removed: the checks below come before the totals'.)

    // A balance row removed: the points its entries hold are unclaimed.
    s.db().execute_unprepared("DELETE FROM points_balance WHERE account_kind = 'store_redemption'").await.unwrap();
    assert_eq!(
        points::verify(s.db(), Some(town)).await.unwrap().first_problem,
        Some(LedgerProblem::Violation {
            town_id: town,
            violation: Violation::UnclaimedBalance { account: Account::store_redemption(shop), actual: 7 },
        })
    );

    // The head moved back (a posting "forgotten"): the chain is longer than its head says.
    s.db().execute_unprepared("UPDATE points_head SET seq = 3").await.unwrap();
    assert_eq!(
        points::verify(s.db(), Some(town)).await.unwrap().first_problem,
        Some(LedgerProblem::Violation {
            town_id: town,
            violation: Violation::HeadMismatch { head_seq: 3, last_seq: 4 }
        })
    );
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_never_overdraw_or_lose_a_point() {
    const CLIENTS: i64 = 32;
    const PRICE: i64 = 7;
    const START: i64 = 100;
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let shop = Uuid::now_v7();
    let hh = households(s, town, 1).await;
    post(s, town, "start", Request::Award { household: hh[0], points: START }).await.unwrap();

    // The verifier runs beside the writers (as `wuwei points verify` beside a live server) and
    // sees whole postings only: its snapshot never catches a half-written one.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let auditor = {
        let (store, done) = (s.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) || seen.is_empty() {
                let v = points::verify_snapshot(&store, Some(town)).await.unwrap();
                assert_eq!(v.first_problem, None, "{v:?}");
                seen.push(v.postings);
            }
            seen
        })
    };
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let store = s.clone();
        let household = hh[0];
        tasks.push(tokio::spawn(async move {
            let request = Request::Redemption { household, store: shop, points: PRICE };
            points::post_one(&store, t0(), &actor(), meta(town, &format!("redeem-{i}"), t0()), request).await
        }));
    }
    let (mut accepted, mut refused) = (Vec::new(), 0i64);
    for task in tasks {
        match task.await.unwrap() {
            Ok(p) => {
                assert!(!p.replayed);
                accepted.push(p.posting);
            }
            Err(PointsError::Ledger(LedgerError::InsufficientPoints { balance, needed: PRICE, .. })) => {
                assert!((0..PRICE).contains(&balance), "refused with {balance} left");
                refused += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = auditor.await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen.iter().all(|&p| p >= 1), "{seen:?}");
    let n = accepted.len() as i64;
    assert_eq!(n, START / PRICE, "as many as the points allow, no more");
    assert_eq!(n + refused, CLIENTS);
    let left = bal(s, town, Account::household(hh[0])).await;
    assert_eq!(left, START - n * PRICE);
    assert!(left >= 0);
    assert_eq!(bal(s, town, Account::store_redemption(shop)).await, n * PRICE);
    // Every accepted redemption is in the chain once, in some order; every refused one left nothing.
    let mut seqs: Vec<i64> = accepted.iter().map(|p| p.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (2..=n + 1).collect::<Vec<_>>());
    assert_eq!(points::head(s.db(), town).await.unwrap().seq, n + 1);
    let (_, total) = points::history(s.db(), town, hh[0], PageRequest { page: 1, page_size: 200 }).await.unwrap();
    assert_eq!(total as i64, n + 1);
    let v = verify_ok(s, town).await;
    assert_eq!((v.postings as i64, v.in_circulation), (n + 1, left));
    t.finish().await;
}

#[tokio::test]
async fn verify_reads_every_field_back_exactly_across_batches() {
    let t = TestDb::new().await;
    let s = &t.store;
    let town = Uuid::now_v7();
    let shop = Uuid::now_v7();
    let hh = households(s, town, 3).await;
    // More postings than one batch of the verifier (2,000), with keys and references that need
    // escaping, times with microseconds, reversals and an entry-less deduction (shortfall only).
    let mut tx = s.begin().await.unwrap();
    let mut last_redemption = None;
    for i in 0..2_345i64 {
        let at = t0() + Duration::microseconds(i * 1_000_003 + 7);
        let key = format!("k{i} \"quoted\" \\ 引号");
        let m = PostingMeta {
            id: Uuid::now_v7(),
            town_id: town,
            at,
            idempotency_key: key,
            reference: format!("ref:{i}/é/\u{1}\t\n"),
        };
        let h = hh[(i % 2) as usize];
        let request = match i % 5 {
            0 | 1 => Request::Award { household: h, points: 3 + i % 7 },
            2 => Request::Redemption { household: h, store: shop, points: 1 },
            3 => match last_redemption.take() {
                Some(original) => Request::Reversal { original },
                None => Request::Award { household: h, points: 1 },
            },
            _ => Request::Deduction { household: h, points: 2 },
        };
        let posted = points::post(&mut tx, &actor(), m, request).await.unwrap();
        if matches!(request, Request::Redemption { .. }) {
            last_redemption = Some(posted.posting.id);
        }
    }
    // hh[2] has nothing: its deduction takes nothing and records the shortfall.
    let m = meta(town, "nothing to take", t0());
    let p = points::post(&mut tx, &actor(), m, Request::Deduction { household: hh[2], points: 5 }).await.unwrap();
    assert!(p.posting.entries.is_empty() && p.posting.shortfall == 5);
    tx.commit(t0()).await.unwrap();
    let v = verify_ok(s, town).await;
    assert_eq!(v.postings, 2_346);
    let v = points::verify_snapshot(s, None).await.unwrap();
    assert_eq!((v.first_problem, v.postings), (None, 2_346));
    t.finish().await;
}

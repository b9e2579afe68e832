//! Property tests of the domain's invariants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::audit::{AuditRecord, ChainVerifier, GENESIS_HASH};
use wuwei_domain::geo::{Geometry, Point};
use wuwei_domain::locate::LayerIndex;

/// A jittered lattice of quadrilaterals that tile a square: the shape of real village maps.
fn lattice(n: usize, jitter: &[f64]) -> Vec<(Uuid, Geometry)> {
    let size = 0.01;
    let vertex = |r: usize, c: usize| -> [f64; 2] {
        let inner = r > 0 && c > 0 && r < n && c < n;
        let k = (r * (n + 1) + c) % jitter.len();
        let (dx, dy) =
            if inner { (jitter[k] * size * 0.3, jitter[(k + 7) % jitter.len()] * size * 0.3) } else { (0.0, 0.0) };
        [117.0 + c as f64 * size + dx, 37.0 + r as f64 * size + dy]
    };
    let mut out = Vec::new();
    for r in 0..n {
        for c in 0..n {
            let ring = vec![vertex(r, c), vertex(r, c + 1), vertex(r + 1, c + 1), vertex(r + 1, c), vertex(r, c)];
            let g = Geometry::from_geojson(&json!({"type": "Polygon", "coordinates": [ring]})).unwrap();
            out.push((Uuid::from_u128((r * n + c + 1) as u128), g));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The index answers exactly what a scan of every polygon answers.
    #[test]
    fn locate_index_agrees_with_a_linear_scan(
        n in 1usize..9,
        jitter in prop::collection::vec(-1.0f64..1.0, 16),
        points in prop::collection::vec((116.99f64..117.1, 36.99f64..37.1), 200),
    ) {
        let shapes = lattice(n, &jitter);
        let index = LayerIndex::new(shapes.clone());
        for (lon, lat) in points {
            let p = Point { lon, lat };
            let scan = shapes.iter().find(|(_, g)| g.contains(p)).map(|(id, _)| *id);
            prop_assert_eq!(index.find(p), scan);
        }
    }

    /// A tiling is found exactly once for every point strictly inside it.
    #[test]
    fn every_inner_point_is_in_exactly_one_tile(
        n in 1usize..7,
        jitter in prop::collection::vec(-1.0f64..1.0, 16),
        points in prop::collection::vec((117.0001f64..117.0099, 37.0001f64..37.0099), 100),
    ) {
        let shapes = lattice(n, &jitter);
        for (lon, lat) in points {
            // Scale the sample into the lattice's extent.
            let p = Point { lon: 117.0 + (lon - 117.0) * n as f64, lat: 37.0 + (lat - 37.0) * n as f64 };
            let hits = shapes.iter().filter(|(_, g)| g.contains(p)).count();
            prop_assert_eq!(hits, 1, "point {:?}", p);
        }
    }

    /// Any single edit to any field of any record of a chain is detected, at that record.
    #[test]
    fn any_edit_breaks_the_chain_at_the_edited_record(len in 1i64..20, victim in 0usize..20, field in 0usize..5, text in "[a-z]{1,8}") {
        let mut records = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for seq in 1..=len {
            let r = AuditRecord {
                chain: "town".into(),
                seq,
                at: Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap() + chrono::Duration::seconds(seq),
                actor_id: None,
                actor_name: "admin".into(),
                action: "region.update".into(),
                entity_type: "region".into(),
                entity_id: format!("r{seq}"),
                town_id: None,
                summary: format!("{{\"n\":{seq}}}"),
                prev_hash: prev.clone(),
            };
            prev = r.hash();
            records.push((r, prev.clone()));
        }
        let victim = victim % records.len();
        let r = &mut records[victim].0;
        match field {
            0 => r.actor_name.push_str(&text),
            1 => r.action.push_str(&text),
            2 => r.entity_id.push_str(&text),
            3 => r.summary.push_str(&text),
            _ => r.at += chrono::Duration::microseconds(1),
        }
        let mut v = ChainVerifier::new("town");
        let mut broken_at = None;
        for (r, h) in &records {
            if let Err(e) = v.push(r, h) {
                broken_at = Some(e.seq());
                break;
            }
        }
        prop_assert_eq!(broken_at, Some(victim as i64 + 1));
    }
}

// ---- points: the ledger, the award workflow, caps ----

mod points {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Duration, TimeZone, Utc};
    use proptest::prelude::*;
    use uuid::Uuid;
    use wuwei_domain::access::Role;
    use wuwei_domain::points::award::{
        AwardAction, AwardCapacity, AwardFacts, AwardInput, AwardState, DEFAULT_NOTICE_DAYS, Proposal, check_proposal,
        decide, due_to_post,
    };
    use wuwei_domain::points::cap::{Usage, cap_room, in_period_of, period_bounds};
    use wuwei_domain::points::ledger::{
        Account, AccountKind, Ledger, LedgerError, PostingKind, PostingMeta, Request, verify,
    };
    use wuwei_domain::points::rulebook::default_rulebook;

    const TOWN: Uuid = Uuid::from_u128(0x7071);

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn meta(n: usize, key: String) -> PostingMeta {
        PostingMeta {
            id: Uuid::from_u128(0x10_0000 + n as u128),
            town_id: TOWN,
            at: t0() + Duration::minutes(n as i64),
            idempotency_key: key,
            reference: format!("prop:{n}"),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Award(u8, i64),
        Deduction(u8, i64),
        Redemption(u8, u8, i64),
        Reversal(usize),
        Expiry(u8, i64),
        /// Repeat the key of an earlier step.
        Replay(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..5, 1i64..40).prop_map(|(h, p)| Op::Award(h, p)),
            2 => (0u8..5, 1i64..30).prop_map(|(h, p)| Op::Deduction(h, p)),
            3 => (0u8..5, 0u8..3, 1i64..40).prop_map(|(h, s, p)| Op::Redemption(h, s, p)),
            2 => any::<prop::sample::Index>().prop_map(|i| Op::Reversal(i.index(1 << 16))),
            1 => (0u8..5, 1i64..20).prop_map(|(h, p)| Op::Expiry(h, p)),
            1 => any::<prop::sample::Index>().prop_map(|i| Op::Replay(i.index(1 << 16))),
        ]
    }

    fn household(h: u8) -> Uuid {
        Uuid::from_u128(0x100 + u128::from(h))
    }

    /// Run the ops through a ledger, checking the invariants after every step.
    fn run(ops: &[Op], allow_negative: bool) -> Result<Ledger, TestCaseError> {
        let mut l = Ledger::new(TOWN, allow_negative);
        let mut keys: Vec<String> = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            let before = l.balances().clone();
            let count = l.postings().len();
            let (key, request) = match *op {
                Op::Award(h, p) => (format!("k{n}"), Request::Award { household: household(h), points: p }),
                Op::Deduction(h, p) => (format!("k{n}"), Request::Deduction { household: household(h), points: p }),
                Op::Redemption(h, s, p) => (
                    format!("k{n}"),
                    Request::Redemption {
                        household: household(h),
                        store: Uuid::from_u128(0x500 + u128::from(s)),
                        points: p,
                    },
                ),
                Op::Expiry(h, p) => (format!("k{n}"), Request::Expiry { household: household(h), points: p }),
                Op::Reversal(i) if !l.postings().is_empty() => {
                    let original = l.postings()[i % l.postings().len()].id;
                    (format!("k{n}"), Request::Reversal { original })
                }
                Op::Replay(i) if !keys.is_empty() => {
                    (keys[i % keys.len()].clone(), Request::Award { household: household(0), points: 1 })
                }
                _ => continue,
            };
            let result = l.post(meta(n, key.clone()), request).map(|p| (p.replayed, p.posting.clone()));
            match result {
                Ok((true, first)) => {
                    // A replayed key changes nothing and answers the first posting.
                    prop_assert_eq!(&first.idempotency_key, &key);
                    prop_assert_eq!(l.postings().len(), count);
                    prop_assert_eq!(l.balances(), &before);
                }
                Ok((false, posting)) => {
                    keys.push(key);
                    prop_assert_eq!(l.postings().len(), count + 1);
                    if posting.kind == PostingKind::Redemption {
                        let h = posting.entries[0].account;
                        prop_assert!(l.balance(&h) >= 0, "a redemption took {h} below zero");
                    }
                    if let Some(original) = posting.reverses {
                        let again = l.post(meta(n + 100_000, format!("again{n}")), Request::Reversal { original });
                        prop_assert_eq!(again.map(|_| ()), Err(LedgerError::AlreadyReversed { original }));
                    }
                }
                Err(_) => {
                    prop_assert_eq!(l.postings().len(), count, "a refusal leaves no trace");
                    prop_assert_eq!(l.balances(), &before);
                }
            }
            let total: i64 = l.balances().values().sum();
            prop_assert_eq!(total, 0, "points were created or lost");
            if !allow_negative {
                for (a, b) in l.balances() {
                    prop_assert!(a.kind != AccountKind::Household || *b >= 0, "{a} at {b}");
                }
            }
        }
        // Expire part of every household's balance at the end, as a yearly reset would.
        let households: Vec<(Account, i64)> = l
            .balances()
            .iter()
            .filter(|(a, b)| a.kind == AccountKind::Household && **b > 0)
            .map(|(a, b)| (*a, *b))
            .collect();
        for (i, (a, b)) in households.into_iter().enumerate() {
            l.post(meta(200_000 + i, format!("expiry{i}")), Request::Expiry { household: a.id, points: b }).unwrap();
            prop_assert_eq!(l.balance(&a), 0);
        }
        prop_assert_eq!(l.balances().values().sum::<i64>(), 0);
        Ok(l)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any sequence of awards, deductions, redemptions, reversals, expiries and retries keeps
        /// the ledger whole, and the verifier accepts what the builders built.
        #[test]
        fn the_ledger_never_makes_or_loses_points(ops in prop::collection::vec(op(), 1..60), allow_negative in any::<bool>()) {
            let l = run(&ops, allow_negative)?;
            let verified = l.verify();
            prop_assert!(verified.is_ok(), "{:?}", verified);
        }

        /// A single edit of any posting — an amount, an account, a key, a time, a hash — is found,
        /// at that posting.
        #[test]
        fn the_verifier_finds_a_single_edit(
            ops in prop::collection::vec(op(), 1..40),
            victim in any::<prop::sample::Index>(),
            what in 0usize..6,
            delta in 1i64..5,
        ) {
            // Start with an award so that there is always a posting to edit.
            let ops: Vec<Op> = std::iter::once(Op::Award(0, 10)).chain(ops).collect();
            let l = run(&ops, false)?;
            let mut ps = l.postings().to_vec();
            let claims: Vec<(Account, i64)> = l.balances().iter().map(|(a, b)| (*a, *b)).collect();
            let head = l.head().seq;
            let v = victim.index(ps.len());
            let p = &mut ps[v];
            match what {
                0 if !p.entries.is_empty() => p.entries[0].points -= delta,
                1 if !p.entries.is_empty() => p.entries[1].account = Account::household(Uuid::from_u128(0xbad)),
                2 => p.idempotency_key.push('x'),
                3 => p.at += Duration::microseconds(delta),
                4 => p.shortfall += delta,
                _ => {
                    let c = if p.hash.starts_with('0') { "1" } else { "0" };
                    p.hash.replace_range(0..1, c);
                }
            }
            let seq = ps[v].seq;
            let found = verify(TOWN, false, &ps, head, claims);
            prop_assert_eq!(found.as_ref().map_err(|e| e.seq()), Err(Some(seq)), "{:?}", found);
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Act(AwardAction, AwardCapacity, bool),
        Wait(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (prop::sample::select(AwardAction::ALL), prop::sample::select(AwardCapacity::ALL), any::<bool>())
                .prop_map(|(a, c, r)| Step::Act(a, c, r)),
            1 => (0i64..(10 * 24)).prop_map(Step::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever is tried, by whoever, whenever: an award posts only after its notice ended and
        /// with no open objection, objections are counted, and nothing leaves a final state.
        #[test]
        fn an_award_never_posts_early_or_with_an_open_objection(
            steps in prop::collection::vec(step(), 1..40),
            cap_room in prop::option::of(0i64..10),
        ) {
            let mut f = AwardFacts {
                state: AwardState::Proposed,
                amount: 4,
                notice_ends_at: None,
                open_objections: 0,
                notice_days: DEFAULT_NOTICE_DAYS,
                cap_room,
                item_in_rulebook: true,
            };
            let mut now = t0();
            for s in steps {
                match s {
                    Step::Wait(hours) => now += Duration::hours(hours),
                    Step::Act(action, who, with_reason) => {
                        let input = AwardInput { reason: with_reason.then(|| "理由".to_string()) };
                        let was = f.clone();
                        if let Ok(d) = decide(&f, action, &[who], &input, now) {
                            prop_assert!(!was.state.is_final(), "{:?} left a final state", action);
                            if d.to == AwardState::Posted {
                                prop_assert_eq!(was.open_objections, 0);
                                prop_assert!(was.notice_ends_at.is_some_and(|end| now >= end));
                                prop_assert!(cap_room.is_none_or(|room| room >= 4));
                                prop_assert!(due_to_post(&was, now));
                            }
                            f.apply(&d);
                        }
                    }
                }
                prop_assert_eq!(f.state == AwardState::Objected, f.open_objections > 0, "{:?}", f);
                if matches!(f.state, AwardState::InPublicNotice | AwardState::Objected) {
                    prop_assert!(f.notice_ends_at.is_some());
                }
            }
        }
    }

    /// An award of the cap test: its facts, when it was proposed, when it posted.
    type Tracked = (AwardFacts, DateTime<Utc>, Option<DateTime<Utc>>);

    #[derive(Debug, Clone)]
    enum CapStep {
        Propose(u32),
        Approve(usize),
        Reject(usize),
        Post(usize),
        Wait(i64),
    }

    fn cap_step() -> impl Strategy<Value = CapStep> {
        prop_oneof![
            3 => (1u32..6).prop_map(CapStep::Propose),
            3 => any::<prop::sample::Index>().prop_map(|i| CapStep::Approve(i.index(1 << 16))),
            1 => any::<prop::sample::Index>().prop_map(|i| CapStep::Reject(i.index(1 << 16))),
            4 => any::<prop::sample::Index>().prop_map(|i| CapStep::Post(i.index(1 << 16))),
            2 => (1i64..(12 * 24)).prop_map(CapStep::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Proposals checked against posted + pending points, and posts checked again against
        /// what is posted: whatever the order and timing, no calendar month (China time) of one
        /// household ever holds more than the item's cap.
        #[test]
        fn caps_are_never_exceeded(steps in prop::collection::vec(cap_step(), 1..80)) {
            let book = default_rulebook().unwrap();
            let item = book.get("welfare_volunteer").unwrap().clone(); // 2 points, at most 20 a month
            let cap = item.cap.unwrap();
            let proposal = |quantity| Proposal { role: Role::GridWorker, own_household: false, quantity, photos: 1, documents: 0 };
            // (facts, proposed_at, posted_at)
            let mut awards: Vec<Tracked> = Vec::new();
            let mut now = t0() + Duration::days(20);
            let usage_at = |awards: &[Tracked], now, except: Option<usize>| {
                let mut u = Usage::default();
                for (i, (f, proposed_at, posted_at)) in awards.iter().enumerate() {
                    if Some(i) == except {
                        continue;
                    }
                    match posted_at {
                        Some(at) if in_period_of(cap.period, now, *at) => u.posted += f.amount,
                        None if f.state.is_pending() && in_period_of(cap.period, now, *proposed_at) => u.pending += f.amount,
                        _ => {}
                    }
                }
                u
            };
            for s in steps {
                match s {
                    CapStep::Wait(hours) => now += Duration::hours(hours),
                    CapStep::Propose(q) => {
                        if let Ok(amount) = check_proposal(&item, &proposal(q), usage_at(&awards, now, None)) {
                            let f = AwardFacts {
                                state: AwardState::Proposed,
                                amount,
                                notice_ends_at: None,
                                open_objections: 0,
                                notice_days: DEFAULT_NOTICE_DAYS,
                                cap_room: None,
                                item_in_rulebook: true,
                            };
                            awards.push((f, now, None));
                        }
                    }
                    CapStep::Approve(i) | CapStep::Reject(i) | CapStep::Post(i) if !awards.is_empty() => {
                        let i = i % awards.len();
                        let (action, who) = match s {
                            CapStep::Approve(_) => (AwardAction::Approve, AwardCapacity::Reviewer),
                            CapStep::Reject(_) => (AwardAction::Reject, AwardCapacity::Reviewer),
                            _ => (AwardAction::Post, AwardCapacity::System),
                        };
                        let room = cap_room(cap, Usage { pending: 0, ..usage_at(&awards, now, Some(i)) });
                        awards[i].0.cap_room = Some(room);
                        let input = AwardInput { reason: Some("核实".into()) };
                        if let Ok(d) = decide(&awards[i].0, action, &[who], &input, now) {
                            awards[i].0.apply(&d);
                            if d.to == AwardState::Posted {
                                awards[i].2 = Some(now);
                            }
                        }
                    }
                    _ => {}
                }
                // Every month that holds a posting stays within the cap.
                let mut by_month: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
                for (f, _, posted_at) in &awards {
                    if let Some(at) = posted_at {
                        *by_month.entry(period_bounds(cap.period, *at).0).or_insert(0) += f.amount;
                    }
                }
                for (month, sum) in by_month {
                    prop_assert!(sum <= cap.points, "{sum} points posted in the month from {month}");
                }
            }
        }
    }
}

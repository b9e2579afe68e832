//! A property test of the points workflow against a real database (issue 5, "Correctness under
//! concurrency", first bullet): random sequences of proposals (single and bulk), reviews,
//! objections and their answers, the sweeper's posting step, direct grants and deductions,
//! redemptions, returns, direct reversals, restocks, rulebook edits and the town's rule for
//! negative balances, over 8 households in 2 admin villages, with a fake clock driven forward by
//! minutes to days (so notices end and caps' periods roll over). After every step every
//! invariant is checked:
//!
//! - the ledger verifies (`points::verify`), and every balance equals an independent model's
//!   (each posting's entries are compared with the model's too);
//! - balances sum to zero over households, stores and issuance (double entry), no other account
//!   exists, and a household is below zero only when the town allowed it and a deduction or a
//!   reversal took it there;
//! - stock equals its movements (`verify_stock`) and the model's, never below zero;
//! - every posted award has exactly one posting, keyed `award:<id>`, and nothing else posts
//!   under an award key; awards never post past their item's cap (as it stood when they
//!   posted), and a proposal never takes posted + pending past the cap;
//! - each award's open-objection count equals its open objections, and nothing is left due
//!   after a sweep;
//! - each operation's outcome is the model's prediction (accepted or refused), and a refused
//!   one changed nothing at all (balances, postings, awards, objections, goods, stock,
//!   redemptions, rulebook, counters, audit trail).
//!
//! The workspace's `proptest` is not a dependency of this crate, so the generator and the
//! shrinker are written out here: operations are data picking their targets by index among
//! what exists when they run, so that any subsequence is still a valid case, and a failing case
//! is shrunk by removing runs of steps while it still fails the same way. A failure prints the
//! seed and the minimal sequence. `POINTS_WORKFLOW_SEED=<n>` replays a seed,
//! `PROPTEST_CASES=<n>` changes the number of cases (default 24 on SQLite, 8 on PostgreSQL).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;
use wuwei_domain::access::{Level, Place, Role, Scope};
use wuwei_domain::points::award::{AwardAction, AwardCapacity, AwardSource, AwardState, DEFAULT_NOTICE_DAYS};
use wuwei_domain::points::cap::period_bounds;
use wuwei_domain::points::ledger::{Account, AccountKind, PostingMeta, Request};
use wuwei_domain::points::rulebook::{self, Cap, Period, RuleItem};
use wuwei_domain::region::{Ancestry, RegionKind};
use wuwei_store::audit::{self, AuditFilter};
use wuwei_store::households::{HouseholdRow, NewHousehold, insert_households};
use wuwei_store::points::{self, PointsError};
use wuwei_store::points_awards::{
    self as awards, AwardError, AwardFilter, AwardRequest, AwardRow, NewAwards, PostOutcome, ProposedFor, Settings,
};
use wuwei_store::points_shop::{
    self as shop, Clerk, GoodsRow, NewGoods, RedeemError, RedeemRequest, RedemptionRow, ReturnError, StoreRow,
};
use wuwei_store::regions::{NewCity, NewRegion, insert_city, insert_region};
use wuwei_store::{Actor, AuditDraft, Store, StoreError};

use super::TestDb;

// ---- the cases ----

/// Households per admin village, and admin villages.
const PER_VILLAGE: usize = 4;
const VILLAGES: usize = 2;
const HOUSEHOLDS: usize = PER_VILLAGE * VILLAGES;
/// Steps per case.
const MIN_STEPS: usize = 20;
const MAX_STEPS: usize = 60;

/// The rulebook items the cases use (all from the default rulebook): capped per month, quarter
/// and year, uncapped, earning and deducting, for staff, cadres and residents.
const ITEMS: &[&str] = &[
    "welfare_volunteer",
    "hygiene_courtyard_clean",
    "filial_care_elders",
    "mediation_resolved",
    "role_model_good_person",
    "welfare_village_affairs",
    "hygiene_littering",
    "filial_care_neglect",
    "law_illegal_building",
    "customs_extravagance",
];

/// Goods per store: (name, price, initial stock, at most per redemption).
const GOODS: &[(&str, i64, i64, Option<i32>)] =
    &[("大米", 3, 6, None), ("食用油", 5, 3, Some(1)), ("毛巾", 12, 1, None)];

/// A target chosen among what exists when the step runs: `pick` modulo the candidates, which
/// are the ones in the states the action is for, or all of them when `any` (to see refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pick {
    n: u32,
    any: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// One award per household (a bulk award when several, all distinct, as the API requires).
    Propose {
        item: u8,
        households: Vec<u8>,
        quantity: u32,
        as_resident: bool,
        own: bool,
        photos: u32,
        documents: u32,
    },
    /// Approve, reject, withdraw, dismiss or uphold an objection, renotice.
    Act {
        action: AwardAction,
        award: Pick,
        capacity_ok: bool,
        reason: bool,
        objection: u8,
    },
    Object {
        award: Pick,
        reason: bool,
    },
    Advance {
        minutes: i64,
    },
    /// The sweeper's pass: every due award posted (or refused) in its own transaction.
    Sweep,
    /// A direct award or deduction posting (not through the workflow).
    Grant {
        household: u8,
        points: i64,
    },
    Deduct {
        household: u8,
        points: i64,
    },
    /// A grant again under an earlier grant's key: the same request (a retry) or another.
    RepostGrant {
        grant: u32,
        same: bool,
    },
    /// A basket at the household's village store (or the other one, when `wrong_store`).
    Redeem {
        household: Pick,
        lines: Vec<(u8, u32)>,
        wrong_store: bool,
    },
    /// Several baskets in one transaction (the counters' group commit), each with the outcome
    /// it would have alone after the ones before it; `twin` adds the first basket again under its
    /// key (a retry inside the batch) and the same key with another basket (reused).
    RedeemBatch {
        baskets: Vec<Basket>,
        twin: bool,
    },
    /// An earlier redemption's request again, same key: a retry, nothing written.
    ReplayRedeem {
        redemption: u32,
    },
    Return {
        redemption: Pick,
    },
    Reverse {
        posting: Pick,
    },
    Restock {
        store: u8,
        goods: u8,
        quantity: i64,
    },
    EditPoints {
        item: u8,
        magnitude: i64,
        flip: bool,
    },
    EditCap {
        item: u8,
        cap: Option<(i64, u8)>,
    },
    DeleteItem {
        item: u8,
    },
    ReAddItem {
        item: u8,
    },
    ToggleNegative,
}

/// What became of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Refused by the rules: nothing may have changed.
    Refused,
    /// A retry answered with what was done before: nothing may have changed either.
    Replayed,
    /// Nothing to act on (no award in that state yet, no redemption, …).
    Skipped,
}

/// One basket of a batch: the household picked, `(goods, quantity)` lines, whether at the
/// wrong store.
type Basket = (Pick, Vec<(u8, u32)>, bool);

impl Op {
    fn name(&self) -> String {
        match self {
            Op::Act { action, .. } => action.as_str().to_string(),
            other => {
                let text = format!("{other:?}");
                let end = text.find([' ', '{']).unwrap_or(text.len());
                text[..end].to_string()
            }
        }
    }
}

/// What a case sets up before its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    /// The town changes its notice length first (which gives it its own rulebook copy); `None`
    /// keeps the default rulebook and notice.
    notice_days: Option<u32>,
}

#[derive(Debug, Clone)]
struct Case {
    config: Config,
    ops: Vec<Op>,
}

/// SplitMix64: small, seedable, good enough to generate cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick(&mut self) -> Pick {
        Pick { n: self.next() as u32, any: self.chance(10) }
    }
}

fn gen_op(r: &mut Rng) -> Op {
    const WEIGHTS: &[(u32, u8)] = &[
        (14, 0),  // propose
        (12, 1),  // approve
        (2, 2),   // reject
        (2, 3),   // withdraw
        (9, 4),   // object
        (6, 5),   // dismiss
        (2, 6),   // uphold
        (3, 7),   // renotice
        (18, 8),  // advance
        (14, 9),  // sweep
        (7, 10),  // grant
        (3, 11),  // deduct
        (1, 12),  // repost grant
        (10, 13), // redeem
        (1, 14),  // replay redeem
        (4, 15),  // return
        (4, 16),  // reverse
        (4, 17),  // restock
        (2, 18),  // edit points
        (2, 19),  // edit cap
        (1, 20),  // delete item
        (2, 21),  // re-add item
        (3, 22),  // toggle negative
        (4, 23),  // a batch of baskets
    ];
    let total: u32 = WEIGHTS.iter().map(|w| w.0).sum();
    let mut x = r.below(u64::from(total)) as u32;
    let mut which = 0;
    for &(w, k) in WEIGHTS {
        if x < w {
            which = k;
            break;
        }
        x -= w;
    }
    let household = |r: &mut Rng| r.below(HOUSEHOLDS as u64) as u8;
    let item = |r: &mut Rng| r.below(ITEMS.len() as u64) as u8;
    let act = |r: &mut Rng, action| Op::Act {
        action,
        award: r.pick(),
        capacity_ok: r.chance(92),
        reason: r.chance(92),
        objection: r.below(8) as u8,
    };
    match which {
        0 => {
            let n = if r.chance(70) { 1 } else { r.range(2, 4) as usize };
            let mut hh: Vec<u8> = (0..HOUSEHOLDS as u8).collect();
            for i in 0..hh.len() {
                let j = i + r.below((hh.len() - i) as u64) as usize;
                hh.swap(i, j);
            }
            hh.truncate(n);
            Op::Propose {
                item: item(r),
                households: hh,
                quantity: if r.chance(5) { [0, 32][r.below(2) as usize] } else { r.range(1, 3) as u32 },
                as_resident: r.chance(12),
                own: r.chance(70),
                photos: u32::from(r.chance(85)),
                documents: u32::from(r.chance(85)),
            }
        }
        1 => act(r, AwardAction::Approve),
        2 => act(r, AwardAction::Reject),
        3 => act(r, AwardAction::Withdraw),
        4 => Op::Object { award: r.pick(), reason: r.chance(92) },
        5 => act(r, AwardAction::DismissObjection),
        6 => act(r, AwardAction::UpholdObjection),
        7 => act(r, AwardAction::Renotice),
        8 => Op::Advance {
            minutes: match r.below(4) {
                0 => r.range(1, 120),
                1 => r.range(1, 24) * 60,
                _ => r.range(1, 8) * 24 * 60 + r.range(0, 60),
            },
        },
        9 => Op::Sweep,
        10 => Op::Grant { household: household(r), points: r.range(1, 40) },
        11 => Op::Deduct { household: household(r), points: r.range(1, 15) },
        12 => Op::RepostGrant { grant: r.next() as u32, same: r.chance(50) },
        13 => {
            let n = if r.chance(75) { 1 } else { r.range(2, 3) };
            let quantity = |r: &mut Rng| match r.below(100) {
                0..=2 => 0,
                3..=79 => 1,
                _ => r.range(2, 3) as u32,
            };
            let lines = (0..n).map(|_| (r.below(GOODS.len() as u64) as u8, quantity(r))).collect();
            Op::Redeem { household: r.pick(), lines, wrong_store: r.chance(5) }
        }
        14 => Op::ReplayRedeem { redemption: r.next() as u32 },
        23 => {
            let baskets = (0..r.range(2, 6))
                .map(|_| {
                    let n = if r.chance(70) { 1 } else { r.range(2, 3) };
                    let lines =
                        (0..n).map(|_| (r.below(GOODS.len() as u64) as u8, if r.chance(3) { 0 } else { 1 })).collect();
                    (r.pick(), lines, r.chance(5))
                })
                .collect();
            Op::RedeemBatch { baskets, twin: r.chance(30) }
        }
        15 => Op::Return { redemption: r.pick() },
        16 => Op::Reverse { posting: r.pick() },
        17 => Op::Restock {
            store: r.below(VILLAGES as u64) as u8,
            goods: r.below(GOODS.len() as u64) as u8,
            quantity: r.range(1, 6),
        },
        18 => Op::EditPoints { item: item(r), magnitude: r.range(1, 12), flip: r.chance(15) },
        19 => Op::EditCap {
            item: item(r),
            cap: if r.chance(20) { None } else { Some((r.range(1, 30), r.below(3) as u8)) },
        },
        20 => Op::DeleteItem { item: item(r) },
        21 => Op::ReAddItem { item: item(r) },
        _ => Op::ToggleNegative,
    }
}

fn gen_case(r: &mut Rng) -> Case {
    let config = Config { notice_days: if r.chance(70) { Some(r.range(1, 3) as u32) } else { None } };
    let n = r.range(MIN_STEPS as i64, MAX_STEPS as i64) as usize;
    let mut ops: Vec<Op> = (0..n).map(|_| gen_op(r)).collect();
    // Let every notice end and the sweeper post what it can before the case ends.
    ops.extend([Op::Advance { minutes: 31 * 24 * 60 }, Op::Sweep]);
    Case { config, ops }
}

// ---- failures ----

/// A broken invariant: `kind` names which (shrinking keeps to the same kind), `detail` says how.
#[derive(Debug, Clone)]
struct Failure {
    kind: String,
    detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind, self.detail)
    }
}

type Checked<T = ()> = Result<T, Failure>;

fn fail<T>(kind: &str, detail: impl Into<String>) -> Checked<T> {
    Err(Failure { kind: kind.to_string(), detail: detail.into() })
}

macro_rules! ensure {
    ($cond:expr, $kind:expr, $($fmt:tt)+) => {
        if !$cond {
            return fail($kind, format!($($fmt)+));
        }
    };
}

/// A database error where none belongs: the store failed, not the rules.
fn store_err<T>(what: &str, e: impl fmt::Debug) -> Checked<T> {
    fail("unexpected error", format!("{what}: {e:?}"))
}

trait OrFail<T> {
    fn or_fail(self, what: &str) -> Checked<T>;
}

impl<T, E: fmt::Debug> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: &str) -> Checked<T> {
        self.or_else(|e| store_err(what, e))
    }
}

/// Whether an error is a refusal by the rules (a 4xx), not a failure of the store.
fn refused_store(e: &StoreError) -> bool {
    matches!(e, StoreError::NotFound | StoreError::VersionConflict { .. })
}

fn refused_points(e: &PointsError) -> bool {
    match e {
        PointsError::Store(s) => refused_store(s),
        _ => true,
    }
}

fn refused_award(e: &AwardError) -> bool {
    match e {
        AwardError::Store(s) => refused_store(s),
        AwardError::Points(p) => refused_points(p),
        _ => true,
    }
}

fn refused_redeem(e: &RedeemError) -> bool {
    match e {
        RedeemError::Store(s) => refused_store(s),
        RedeemError::Points(p) => refused_points(p),
        _ => true,
    }
}

fn refused_return(e: &ReturnError) -> bool {
    match e {
        ReturnError::Store(s) => refused_store(s),
        ReturnError::Points(p) => refused_points(p),
        ReturnError::AlreadyReturned(_) => true,
    }
}

// ---- the model ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Award,
    Deduction,
    Redemption,
    Reversal,
}

#[derive(Debug, Clone)]
struct MPosting {
    id: Uuid,
    kind: Kind,
    entries: Vec<(Account, i64)>,
    reversed: bool,
}

#[derive(Debug, Clone)]
struct MGoods {
    id: Uuid,
    price: i64,
    stock: i64,
    max_per: Option<i64>,
}

/// A basket the model expects to be redeemed, as [`Sim::record_redemption`] books it.
#[derive(Debug, Clone)]
struct Made {
    household: usize,
    store: usize,
    key: String,
    lines: Vec<(Uuid, u32)>,
    /// Merged by goods index.
    merged: BTreeMap<usize, i64>,
    total: i64,
}

#[derive(Debug, Clone)]
struct MRedemption {
    id: Uuid,
    basket: Made,
    posting: usize,
    returned: bool,
}

#[derive(Debug, Clone)]
struct MGrant {
    key: String,
    household: usize,
    points: i64,
}

struct Model {
    now: DateTime<Utc>,
    notice_days: u32,
    allow_negative: bool,
    balances: BTreeMap<Account, i64>,
    /// A household below zero got there by a deduction or reversal the town allowed.
    negative_ok: HashMap<Uuid, bool>,
    postings: Vec<MPosting>,
    /// Award ids in the order they were proposed.
    awards: Vec<Uuid>,
    /// Award id → its posting's index.
    award_postings: HashMap<Uuid, usize>,
    goods: Vec<Vec<MGoods>>,
    redemptions: Vec<MRedemption>,
    grants: Vec<MGrant>,
    /// The candidate items as the town's rulebook has them (`None`: deleted).
    items: BTreeMap<String, Option<RuleItem>>,
}

struct Sim {
    store: Store,
    town: Uuid,
    /// The stores of the admin villages, by index.
    stores: Vec<StoreRow>,
    households: Vec<HouseholdRow>,
    cadre: Actor,
    clerk: Clerk,
    m: Model,
    /// Per operation: how many were accepted, refused, replayed, skipped (for the summary).
    stats: BTreeMap<String, [usize; 4]>,
}

fn t_start() -> DateTime<Utc> {
    // 16:00 in China on 28 June: the month and the quarter roll over within days.
    Utc.with_ymd_and_hms(2026, 6, 28, 8, 0, 0).unwrap()
}

fn sql(backend: DbBackend, text: &str) -> String {
    if backend != DbBackend::Postgres {
        return text.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    for ch in text.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

async fn query(store: &Store, text: &str, values: Vec<Value>) -> Checked<Vec<QueryResult>> {
    let backend = store.db().get_database_backend();
    store.db().query_all_raw(Statement::from_sql_and_values(backend, sql(backend, text), values)).await.or_fail(text)
}

/// Everything a refused operation must have left as it was.
#[derive(Debug, PartialEq)]
struct Footprint {
    counts: Vec<(&'static str, i64)>,
    counter: i64,
    balances: Vec<(String, Uuid, i64)>,
    head: (i64, String),
    allow_negative: bool,
    awards: Vec<AwardRow>,
    goods: Vec<GoodsRow>,
    redemptions: Vec<RedemptionRow>,
    rulebook: Vec<RuleItem>,
    audits: u64,
}

const TABLES: &[&str] = &[
    "points_posting",
    "points_entry",
    "points_balance",
    "points_award",
    "points_award_event",
    "points_objection",
    "points_redemption",
    "points_redemption_line",
    "points_stock_movement",
    "points_goods",
    "points_rule_item",
    "points_settings",
    "audit_log",
];

impl Sim {
    async fn setup(store: Store, config: Config) -> Checked<Sim> {
        let now = t_start();
        let admin = Actor { id: Some(Uuid::now_v7()), name: "镇管理员".into() };
        let city = Uuid::now_v7();
        let town = Uuid::now_v7();
        let mut tx = store.begin().await.or_fail("begin")?;
        insert_city(&mut tx, &admin, now, NewCity { id: city, code: "C01".into(), name: "测试市".into() })
            .await
            .or_fail("city")?;
        let town_ancestry = Ancestry {
            city_id: Some(city),
            town_id: town,
            area_id: None,
            admin_village_id: None,
            natural_village_id: None,
        };
        let region = |id, kind, parent_id, ancestry, name: &str, code: &str| NewRegion {
            id,
            kind,
            parent_id,
            ancestry,
            name: name.into(),
            code: Some(code.into()),
            short_code: None,
            is_demo: false,
            geometry: None,
        };
        insert_region(&mut tx, &admin, now, region(town, RegionKind::Town, None, town_ancestry, "测试镇", "T01"))
            .await
            .or_fail("town")?;
        let mut villages = Vec::new();
        for v in 0..VILLAGES {
            let id = Uuid::now_v7();
            let ancestry = town_ancestry.child_of(RegionKind::Town, town);
            let new =
                region(id, RegionKind::AdminVillage, Some(town), ancestry, &format!("{v}村"), &format!("V{v:02}"));
            insert_region(&mut tx, &admin, now, new).await.or_fail("village")?;
            villages.push(id);
        }
        let ids: Vec<Uuid> = (0..HOUSEHOLDS).map(|_| Uuid::now_v7()).collect();
        let rows = ids
            .iter()
            .enumerate()
            .map(|(i, id)| NewHousehold {
                id: *id,
                town_id: town,
                code: format!("H{i:04}"),
                area_id: None,
                admin_village_id: villages[i / PER_VILLAGE],
                natural_village_id: Uuid::now_v7(),
                grid_id: Uuid::now_v7(),
                address: format!("测试村 {i} 号"),
                head_name: format!("户主{i}"),
                phone: None,
                lat: 29.0,
                lon: 119.0,
                residents: Vec::new(),
            })
            .collect();
        insert_households(&mut tx, now, rows).await.or_fail("households")?;
        tx.audit(AuditDraft {
            actor: admin.clone(),
            action: "household.import".into(),
            entity_type: "town".into(),
            entity_id: town.to_string(),
            town_id: Some(town),
            before: None,
            after: None,
        });
        ensure_commit(tx, now).await?;
        let mut tx = store.begin().await.or_fail("begin")?;
        let made = shop::ensure_stores(&mut tx, town, now).await.or_fail("stores")?;
        ensure!(made == VILLAGES, "setup", "{made} stores made");
        ensure_commit(tx, now).await?;
        let all = shop::stores(store.db(), town).await.or_fail("stores")?;
        let stores: Vec<StoreRow> = villages
            .iter()
            .map(|v| all.iter().find(|s| s.admin_village_id == *v).cloned().expect("a store per village"))
            .collect();
        let households = {
            let found = shop::households_by_ids(store.db(), town, &ids).await.or_fail("households")?;
            ids.iter().map(|id| found.iter().find(|h| h.id == *id).cloned().expect("household")).collect()
        };
        let clerk =
            Clerk { actor: Actor { id: Some(Uuid::now_v7()), name: "店员".into() }, shown_as: "店员小王".into() };
        let mut goods = Vec::new();
        for s in &stores {
            let mut tx = store.begin().await.or_fail("begin")?;
            let mut shelf = Vec::new();
            for (name, price, stock, max_per) in GOODS {
                let new = NewGoods {
                    name: (*name).into(),
                    barcode: None,
                    photo_attachment_id: None,
                    price_points: *price,
                    value_fen: price * 100,
                    stock: *stock,
                    max_per_redemption: *max_per,
                };
                let g = shop::create_goods(&mut tx, &clerk, now, s, new).await.or_fail("goods")?;
                shelf.push(MGoods { id: g.id, price: *price, stock: *stock, max_per: max_per.map(i64::from) });
            }
            ensure_commit(tx, now).await?;
            goods.push(shelf);
        }
        let mut notice_days = DEFAULT_NOTICE_DAYS;
        if let Some(days) = config.notice_days {
            let mut tx = store.begin().await.or_fail("begin")?;
            let current = awards::settings(tx.db(), town).await.or_fail("settings")?;
            awards::set_settings(&mut tx, &admin, town, Settings { notice_days: days, ..current }, now)
                .await
                .or_fail("settings")?;
            ensure_commit(tx, now).await?;
            notice_days = days;
        }
        let defaults = rulebook::default_items();
        let items = ITEMS
            .iter()
            .map(|code| (code.to_string(), defaults.iter().find(|i| i.code == *code).cloned()))
            .collect::<BTreeMap<_, _>>();
        assert!(items.values().all(Option::is_some), "every candidate item is a default one");
        let m = Model {
            now,
            notice_days,
            allow_negative: false,
            balances: BTreeMap::new(),
            negative_ok: HashMap::new(),
            postings: Vec::new(),
            awards: Vec::new(),
            award_postings: HashMap::new(),
            goods,
            redemptions: Vec::new(),
            grants: Vec::new(),
            items,
        };
        Ok(Sim {
            store,
            town,
            stores,
            households,
            cadre: Actor { id: Some(Uuid::now_v7()), name: "村干部".into() },
            clerk,
            m,
            stats: BTreeMap::new(),
        })
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.store.db()
    }

    fn village_of(&self, h: usize) -> usize {
        h / PER_VILLAGE
    }

    // ---- reading the database ----

    async fn award_rows(&self) -> Checked<Vec<AwardRow>> {
        let filter = AwardFilter { town_id: Some(self.town), ..AwardFilter::default() };
        let scope = Scope { level: Level::Town, place: Place { town_id: Some(self.town), ..Place::default() } };
        let (rows, total) = awards::list(self.db(), &filter, &[scope], 0, 100_000).await.or_fail("awards")?;
        ensure!(
            total as usize == self.m.awards.len(),
            "awards",
            "{total} awards stored, {} proposed",
            self.m.awards.len()
        );
        let mut by_id: HashMap<Uuid, AwardRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        let mut out = Vec::with_capacity(self.m.awards.len());
        for id in &self.m.awards {
            match by_id.remove(id) {
                Some(r) => out.push(r),
                None => return fail("awards", format!("award {id} is missing")),
            }
        }
        Ok(out)
    }

    async fn footprint(&self) -> Checked<Footprint> {
        let mut counts = Vec::new();
        for t in TABLES {
            let rows = query(&self.store, &format!("SELECT COUNT(*) AS n FROM {t}"), vec![]).await?;
            counts.push((*t, rows[0].try_get::<i64>("", "n").or_fail("count")?));
        }
        let rows =
            query(&self.store, "SELECT CAST(COALESCE(SUM(last_seq), 0) AS BIGINT) AS n FROM points_counter", vec![])
                .await?;
        let counter = rows[0].try_get::<i64>("", "n").or_fail("counter")?;
        let head = points::head(self.db(), self.town).await.or_fail("head")?;
        let mut goods = Vec::new();
        for shelf in &self.m.goods {
            for g in shelf {
                goods.push(shop::goods(self.db(), self.town, g.id).await.or_fail("goods")?.expect("goods"));
            }
        }
        let mut redemptions = Vec::new();
        for r in &self.m.redemptions {
            redemptions.push(shop::redemption(self.db(), self.town, r.id).await.or_fail("redemption")?.expect("r").row);
        }
        let (_, audits) = audit::list(self.db(), &AuditFilter::default(), 0, 1).await.or_fail("audit")?;
        Ok(Footprint {
            counts,
            counter,
            balances: self.balance_rows().await?,
            head: (head.seq, head.hash),
            allow_negative: points::allow_negative(self.db(), self.town).await.or_fail("allow_negative")?,
            awards: self.award_rows().await?,
            goods,
            redemptions,
            rulebook: awards::rulebook(self.db(), self.town).await.or_fail("rulebook")?,
            audits,
        })
    }

    async fn balance_rows(&self) -> Checked<Vec<(String, Uuid, i64)>> {
        let rows = query(
            &self.store,
            "SELECT account_kind, account_id, balance FROM points_balance WHERE town_id = ? \
             ORDER BY account_kind, account_id",
            vec![self.town.into()],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String>("", "account_kind").or_fail("kind")?,
                    r.try_get::<Uuid>("", "account_id").or_fail("id")?,
                    r.try_get::<i64>("", "balance").or_fail("balance")?,
                ))
            })
            .collect()
    }

    // ---- the model's bookkeeping ----

    /// A redemption the model predicted was made: take the stock, book the posting, check the
    /// balance after and the household the store read for the receipt, remember it for returns.
    async fn record_redemption(&mut self, what: &str, r: &shop::Redeemed, basket: Made) -> Checked {
        let Made { household: h, store: s, total, .. } = basket;
        let hid = self.households[h].id;
        ensure!(
            r.redemption.row.total_points == total,
            what,
            "total {} (model {total})",
            r.redemption.row.total_points
        );
        ensure!(
            r.household.as_ref().is_some_and(|row| row.id == hid),
            what,
            "the receipt's household {:?} (model {hid})",
            r.household.as_ref().map(|row| row.id)
        );
        for (g, q) in &basket.merged {
            self.m.goods[s][*g].stock -= q;
        }
        let entries = vec![(Account::household(hid), -total), (Account::store_redemption(self.stores[s].id), total)];
        let posting = self.book(r.redemption.row.posting_id, Kind::Redemption, entries).await?;
        ensure!(
            r.redemption.row.balance_after == self.balance(Account::household(hid)),
            what,
            "balance after {} (model {})",
            r.redemption.row.balance_after,
            self.balance(Account::household(hid))
        );
        self.m.redemptions.push(MRedemption { id: r.redemption.row.id, basket, posting, returned: false });
        Ok(())
    }

    /// Apply a posting the model predicted, after checking the stored one has the same entries.
    async fn book(&mut self, id: Uuid, kind: Kind, entries: Vec<(Account, i64)>) -> Checked<usize> {
        let stored = points::posting(self.db(), self.town, id).await.or_fail("posting")?;
        let Some(stored) = stored else { return fail("posting", format!("posting {id} not stored")) };
        let got: Vec<(Account, i64)> = stored.entries.iter().map(|e| (e.account, e.points)).collect();
        ensure!(got == entries, "posting entries", "posting {id} ({kind:?}): stored {got:?}, model {entries:?}");
        for (account, delta) in &entries {
            let b = self.m.balances.entry(*account).or_insert(0);
            *b += delta;
            if account.kind == AccountKind::Household {
                let ok = *b >= 0
                    || (*delta < 0 && self.m.allow_negative && matches!(kind, Kind::Deduction | Kind::Reversal));
                if *b >= 0 || *delta < 0 {
                    self.m.negative_ok.insert(account.id, ok);
                }
            }
        }
        self.m.postings.push(MPosting { id, kind, entries, reversed: false });
        Ok(self.m.postings.len() - 1)
    }

    fn balance(&self, account: Account) -> i64 {
        self.m.balances.get(&account).copied().unwrap_or(0)
    }

    /// The entries of a deduction of `points` from household `h` as the model expects them.
    fn deduction_entries(&self, h: Uuid, points: i64) -> Vec<(Account, i64)> {
        let balance = self.balance(Account::household(h));
        let taken = if self.m.allow_negative { points } else { points.min(balance.max(0)) };
        if taken > 0 {
            vec![(Account::household(h), -taken), (Account::town_issuance(self.town), taken)]
        } else {
            Vec::new()
        }
    }

    fn meta(&self, key: String) -> PostingMeta {
        PostingMeta {
            id: Uuid::now_v7(),
            town_id: self.town,
            at: self.m.now,
            reference: key.clone(),
            idempotency_key: key,
        }
    }

    /// Posted plus pending points of `code` for household `h` in the cap period containing `at`,
    /// leaving out `except`, from the stored awards.
    fn used(rows: &[AwardRow], h: Uuid, code: &str, cap: Cap, at: DateTime<Utc>, except: Option<Uuid>) -> i64 {
        let (start, end) = period_bounds(cap.period, at);
        rows.iter()
            .filter(|a| a.household_id == h && a.item_code == code && Some(a.id) != except)
            .filter(|a| start <= a.proposed_at && a.proposed_at < end)
            .filter(|a| AwardState::parse(&a.state).is_some_and(|s| s == AwardState::Posted || s.is_pending()))
            .map(|a| a.points)
            .sum()
    }

    // ---- the steps ----

    async fn step(&mut self, op: &Op) -> Checked {
        match op {
            Op::Advance { minutes } => {
                self.m.now += Duration::minutes(*minutes);
                Ok(())
            }
            Op::Sweep => self.sweep().await,
            _ => {
                let before = self.footprint().await?;
                let outcome = self.attempt(op).await?;
                self.count(op.name(), outcome);
                if outcome != Outcome::Accepted {
                    let after = self.footprint().await?;
                    if after != before {
                        return fail("refusal left a trace", diff(&before, &after));
                    }
                }
                Ok(())
            }
        }
    }

    /// Run one operation in its own transaction, committed when accepted and dropped when
    /// refused; check the outcome against the model's prediction. Returns whether it was
    /// accepted (a no-op step, with nothing to act on, counts as refused: it wrote nothing).
    fn count(&mut self, name: String, outcome: Outcome) {
        self.stats.entry(name).or_default()[outcome as usize] += 1;
    }

    async fn attempt(&mut self, op: &Op) -> Checked<Outcome> {
        let now = self.m.now;
        let town = self.town;
        let mut tx = self.store.begin().await.or_fail("begin")?;
        match op {
            Op::Propose { item, households, quantity, as_resident, own, photos, documents } => {
                let code = ITEMS[*item as usize].to_string();
                let roles = if *as_resident { vec![Role::Resident] } else { vec![Role::VillageCadre] };
                let new = NewAwards {
                    town_id: town,
                    households: households
                        .iter()
                        .map(|&h| ProposedFor {
                            household: self.households[h as usize].clone(),
                            roles: roles.clone(),
                            own_household: *own,
                        })
                        .collect(),
                    item_code: code.clone(),
                    quantity: *quantity,
                    note: "性质测试".into(),
                    attachment_ids: Vec::new(),
                    photos: *photos,
                    documents: *documents,
                    source: AwardSource::Manual,
                    source_ref: None,
                };
                match awards::propose(&mut tx, &self.cadre, new, now).await {
                    Ok(rows) => {
                        ensure!(
                            rows.len() == households.len(),
                            "propose",
                            "{} awards for {:?}",
                            rows.len(),
                            households
                        );
                        ensure_commit(tx, now).await?;
                        self.m.awards.extend(rows.iter().map(|r| r.id));
                        // Posted + pending never past the cap after a proposal.
                        let item = self.m.items[&code].clone();
                        let Some(item) = item else {
                            return fail("propose", format!("proposed {code}, which is not in the rulebook"));
                        };
                        let all = self.award_rows().await?;
                        for r in &rows {
                            ensure!(
                                r.points == item.points * i64::from(*quantity) && r.state == "proposed",
                                "propose",
                                "award {r:?} for {quantity} × {item:?}"
                            );
                            if let Some(cap) = item.cap {
                                let used = Self::used(&all, r.household_id, &code, cap, now, None);
                                ensure!(
                                    used.abs() <= cap.points,
                                    "cap at proposal",
                                    "household {} has {used} of {code} (cap {cap:?}) after proposing {}",
                                    r.household_id,
                                    r.points
                                );
                            }
                        }
                        Ok(Outcome::Accepted)
                    }
                    Err(e) if refused_award(&e) => Ok(Outcome::Refused),
                    Err(e) => store_err("propose", e),
                }
            }
            Op::Act { action, award, capacity_ok, reason, objection } => {
                let rows = self.award_rows().await?;
                use AwardState::*;
                let wanted: &[AwardState] = match action {
                    AwardAction::Approve | AwardAction::Reject | AwardAction::Withdraw => &[Proposed],
                    _ => &[Objected],
                };
                let Some(row) =
                    choose(&rows, *award, |r| AwardState::parse(&r.state).is_some_and(|s| wanted.contains(&s)))
                else {
                    return Ok(Outcome::Skipped);
                };
                let state = AwardState::parse(&row.state).expect("state");
                let right =
                    if *action == AwardAction::Withdraw { AwardCapacity::Proposer } else { AwardCapacity::Reviewer };
                let capacity = if *capacity_ok { right } else { AwardCapacity::Objector };
                let objections = awards::objections(self.db(), &row).await.or_fail("objections")?;
                let open: Vec<Uuid> = objections.iter().filter(|o| o.state == "open").map(|o| o.id).collect();
                let objection_id = match objection {
                    0..=3 => None,
                    4 => Some(Uuid::now_v7()),
                    n => open.get(*n as usize % open.len().max(1)).copied(),
                };
                let item_present = self.m.items.get(&row.item_code).is_none_or(Option::is_some);
                let needs_reason = !matches!(action, AwardAction::Approve | AwardAction::Withdraw);
                let answers_one = match objection_id {
                    None => open.len() == 1,
                    Some(id) => open.contains(&id),
                };
                let predicted = wanted.contains(&state)
                    && *capacity_ok
                    && (*reason || !needs_reason)
                    && match action {
                        AwardAction::Approve | AwardAction::Renotice => item_present,
                        AwardAction::DismissObjection | AwardAction::UpholdObjection => answers_one,
                        _ => true,
                    };
                let request =
                    AwardRequest { reason: reason.then(|| "经核实".to_string()), objection_id, version: None };
                match awards::act(&mut tx, &self.cadre, town, row.id, *action, &[capacity], request, now).await {
                    Ok(after) => {
                        ensure!(
                            predicted,
                            "act",
                            "{action} on {row:?} (capacity {capacity}, objection {objection_id:?}) was accepted"
                        );
                        ensure_commit(tx, now).await?;
                        let notice = Some(now + Duration::days(i64::from(self.m.notice_days)));
                        let expected = match action {
                            AwardAction::Approve | AwardAction::Renotice => (InPublicNotice, notice, 0),
                            AwardAction::Reject | AwardAction::UpholdObjection => (Rejected, row.notice_ends_at, 0),
                            AwardAction::Withdraw => (Withdrawn, row.notice_ends_at, 0),
                            _ => {
                                let left = row.open_objections - 1;
                                (if left == 0 { InPublicNotice } else { Objected }, row.notice_ends_at, left)
                            }
                        };
                        let got = (
                            AwardState::parse(&after.state).expect("state"),
                            after.notice_ends_at,
                            after.open_objections,
                        );
                        ensure!(got == expected, "act", "{action} on {row:?}: got {got:?}, expected {expected:?}");
                        Ok(Outcome::Accepted)
                    }
                    Err(e) if refused_award(&e) => {
                        ensure!(
                            !predicted,
                            "act",
                            "{action} on {row:?} (capacity {capacity}, objection {objection_id:?}, open {open:?}) refused: {e}"
                        );
                        Ok(Outcome::Refused)
                    }
                    Err(e) => store_err("act", e),
                }
            }
            Op::Object { award, reason } => {
                let rows = self.award_rows().await?;
                let Some(row) = choose(&rows, *award, |r| matches!(r.state.as_str(), "in_public_notice" | "objected"))
                else {
                    return Ok(Outcome::Skipped);
                };
                let predicted = matches!(row.state.as_str(), "in_public_notice" | "objected")
                    && *reason
                    && row.notice_ends_at.is_some_and(|end| now < end);
                let text = if *reason { "情况不属实" } else { "  " };
                let resident = Actor { id: Some(Uuid::now_v7()), name: "村民".into() };
                match awards::object(&mut tx, &resident, town, row.id, text, now).await {
                    Ok(after) => {
                        ensure!(predicted, "object", "objection to {row:?} accepted");
                        ensure_commit(tx, now).await?;
                        ensure!(
                            after.state == "objected"
                                && after.open_objections == row.open_objections + 1
                                && after.notice_ends_at == row.notice_ends_at,
                            "object",
                            "{row:?} became {after:?}"
                        );
                        Ok(Outcome::Accepted)
                    }
                    Err(e) if refused_award(&e) => {
                        ensure!(!predicted, "object", "objection to {row:?} at {now} refused: {e}");
                        Ok(Outcome::Refused)
                    }
                    Err(e) => store_err("object", e),
                }
            }
            Op::Grant { household, points } => {
                let h = self.households[*household as usize].id;
                let key = format!("grant:{}", self.m.grants.len());
                let request = Request::Award { household: h, points: *points };
                match points::post(&mut tx, &self.cadre, self.meta(key.clone()), request).await {
                    Ok(p) => {
                        ensure!(!p.replayed, "grant", "a fresh key replayed {p:?}");
                        ensure_commit(tx, now).await?;
                        let entries = vec![(Account::town_issuance(town), -points), (Account::household(h), *points)];
                        self.book(p.posting.id, Kind::Award, entries).await?;
                        self.m.grants.push(MGrant { key, household: *household as usize, points: *points });
                        Ok(Outcome::Accepted)
                    }
                    Err(e) => store_err("grant", e),
                }
            }
            Op::RepostGrant { grant, same } => {
                if self.m.grants.is_empty() {
                    return Ok(Outcome::Skipped);
                }
                let g = self.m.grants[*grant as usize % self.m.grants.len()].clone();
                let h = self.households[g.household].id;
                let points = if *same { g.points } else { g.points + 1 };
                let request = Request::Award { household: h, points };
                match points::post(&mut tx, &self.cadre, self.meta(g.key.clone()), request).await {
                    Ok(p) => {
                        ensure!(p.replayed && *same, "repost", "{g:?} again (same: {same}) gave {p:?}");
                        Ok(Outcome::Replayed) // a replay writes nothing: the transaction is dropped
                    }
                    Err(PointsError::KeyReused { .. }) if !same => Ok(Outcome::Refused),
                    Err(e) => store_err("repost", e),
                }
            }
            Op::Deduct { household, points } => {
                let h = self.households[*household as usize].id;
                let key = format!("deduct:{}", Uuid::now_v7());
                let entries = self.deduction_entries(h, *points);
                let request = Request::Deduction { household: h, points: *points };
                match points::post(&mut tx, &self.cadre, self.meta(key), request).await {
                    Ok(p) => {
                        ensure_commit(tx, now).await?;
                        let shortfall = points - entries.first().map_or(0, |e| -e.1);
                        ensure!(
                            p.posting.shortfall == shortfall,
                            "deduct",
                            "shortfall {} (model {shortfall})",
                            p.posting.shortfall
                        );
                        self.book(p.posting.id, Kind::Deduction, entries).await?;
                        Ok(Outcome::Accepted)
                    }
                    Err(e) => store_err("deduct", e),
                }
            }
            Op::Redeem { household, lines, wrong_store } => {
                // Mostly a household with points to spend.
                let candidates: Vec<usize> = (0..HOUSEHOLDS)
                    .filter(|&h| household.any || self.balance(Account::household(self.households[h].id)) >= 3)
                    .collect();
                if candidates.is_empty() {
                    return Ok(Outcome::Skipped);
                }
                let h = candidates[household.n as usize % candidates.len()];
                let village = self.village_of(h);
                let s = if *wrong_store { (village + 1) % VILLAGES } else { village };
                let req_lines: Vec<(Uuid, u32)> =
                    lines.iter().map(|&(g, q)| (self.m.goods[s][g as usize].id, q)).collect();
                let mut merged: BTreeMap<usize, i64> = BTreeMap::new();
                for &(g, q) in lines {
                    *merged.entry(g as usize).or_insert(0) += i64::from(q);
                }
                let total: i64 = merged.iter().map(|(g, q)| self.m.goods[s][*g].price * q).sum();
                let hid = self.households[h].id;
                let predicted = s == village
                    && lines.iter().all(|&(_, q)| q > 0)
                    && merged.iter().all(|(g, q)| {
                        let g = &self.m.goods[s][*g];
                        *q <= g.stock && g.max_per.is_none_or(|m| *q <= m)
                    })
                    && total <= self.balance(Account::household(hid));
                let key = format!("redeem:{}", Uuid::now_v7());
                let req = RedeemRequest { household_id: hid, lines: req_lines.clone(), idempotency_key: key.clone() };
                let store_row = self.stores[s].clone();
                match shop::redeem(&mut tx, &self.clerk, now, &store_row, &req).await {
                    Ok(r) => {
                        ensure!(predicted, "redeem", "{req:?} at store {s} accepted (model: refused)");
                        ensure!(!r.replayed, "redeem", "a fresh key replayed");
                        ensure_commit(tx, now).await?;
                        self.record_redemption(
                            "redeem",
                            &r,
                            Made { household: h, store: s, key, lines: req_lines, merged, total },
                        )
                        .await?;
                        Ok(Outcome::Accepted)
                    }
                    Err(e) if refused_redeem(&e) => {
                        ensure!(!predicted, "redeem", "{req:?} (total {total}) refused: {e}");
                        Ok(Outcome::Refused)
                    }
                    Err(e) => store_err("redeem", e),
                }
            }
            Op::RedeemBatch { baskets, twin } => {
                // The model decides each basket in order, seeing what the ones before it took.
                let mut spent: HashMap<Uuid, i64> = HashMap::new();
                let mut taken: HashMap<(usize, usize), i64> = HashMap::new();
                let mut planned = Vec::new();
                for (household, lines, wrong_store) in baskets {
                    let candidates: Vec<usize> = (0..HOUSEHOLDS)
                        .filter(|&h| {
                            let id = self.households[h].id;
                            household.any
                                || self.balance(Account::household(id)) - spent.get(&id).copied().unwrap_or(0) >= 3
                        })
                        .collect();
                    let Some(&h) = candidates.get(household.n as usize % candidates.len().max(1)) else { continue };
                    let village = self.village_of(h);
                    let s = if *wrong_store { (village + 1) % VILLAGES } else { village };
                    let req_lines: Vec<(Uuid, u32)> =
                        lines.iter().map(|&(g, q)| (self.m.goods[s][g as usize].id, q)).collect();
                    let mut merged: BTreeMap<usize, i64> = BTreeMap::new();
                    for &(g, q) in lines {
                        *merged.entry(g as usize).or_insert(0) += i64::from(q);
                    }
                    let total: i64 = merged.iter().map(|(g, q)| self.m.goods[s][*g].price * q).sum();
                    let hid = self.households[h].id;
                    let balance = self.balance(Account::household(hid)) - spent.get(&hid).copied().unwrap_or(0);
                    let predicted = s == village
                        && lines.iter().all(|&(_, q)| q > 0)
                        && merged.iter().all(|(g, q)| {
                            let m = &self.m.goods[s][*g];
                            let left = m.stock - taken.get(&(s, *g)).copied().unwrap_or(0);
                            *q <= left && m.max_per.is_none_or(|max| *q <= max)
                        })
                        && total <= balance;
                    if predicted {
                        *spent.entry(hid).or_insert(0) += total;
                        for (g, q) in &merged {
                            *taken.entry((s, *g)).or_insert(0) += q;
                        }
                    }
                    let key = format!("redeem:{}", Uuid::now_v7());
                    planned.push((h, s, req_lines, merged, total, key, predicted));
                }
                let Some(first) = planned.first().cloned() else { return Ok(Outcome::Skipped) };
                let mut reqs: Vec<(usize, RedeemRequest)> = planned
                    .iter()
                    .map(|(h, s, lines, _, _, key, _)| {
                        (
                            *s,
                            RedeemRequest {
                                household_id: self.households[*h].id,
                                lines: lines.clone(),
                                idempotency_key: key.clone(),
                            },
                        )
                    })
                    .collect();
                if *twin {
                    let (h, s, lines, _, _, key, _) = &first;
                    reqs.push((
                        *s,
                        RedeemRequest {
                            household_id: self.households[*h].id,
                            lines: lines.clone(),
                            idempotency_key: key.clone(),
                        },
                    ));
                }
                // Another household under a key accepted in this batch: reused.
                if *twin && first.6 {
                    let (h, s, lines, _, _, key, _) = &first;
                    let other = (*h + 1) % HOUSEHOLDS;
                    reqs.push((
                        *s,
                        RedeemRequest {
                            household_id: self.households[other].id,
                            lines: lines.clone(),
                            idempotency_key: key.clone(),
                        },
                    ));
                }
                let counters: Vec<shop::Counter<'_>> = reqs
                    .iter()
                    .map(|(s, req)| shop::Counter { clerk: &self.clerk, store: &self.stores[*s], req })
                    .collect();
                let outcomes = match shop::redeem_batch(&mut tx, now, &counters).await {
                    Ok(o) => o,
                    Err(e) => return store_err("redeem batch", e),
                };
                ensure!(
                    outcomes.len() == reqs.len(),
                    "redeem batch",
                    "{} outcomes for {} baskets",
                    outcomes.len(),
                    reqs.len()
                );
                let any = planned.iter().any(|p| p.6);
                if any {
                    ensure_commit(tx, now).await?;
                }
                let mut first_id = None;
                for (i, ((h, s, req_lines, merged, total, key, predicted), outcome)) in
                    planned.iter().zip(&outcomes).enumerate()
                {
                    match outcome {
                        Ok(r) => {
                            ensure!(
                                *predicted && !r.replayed,
                                "redeem batch",
                                "basket {i} {req_lines:?} accepted (model: refused)"
                            );
                            if i == 0 {
                                first_id = Some(r.redemption.row.id);
                            }
                            let basket = Made {
                                household: *h,
                                store: *s,
                                key: key.clone(),
                                lines: req_lines.clone(),
                                merged: merged.clone(),
                                total: *total,
                            };
                            self.record_redemption(&format!("redeem batch, basket {i}"), r, basket).await?;
                        }
                        Err(e) if refused_redeem(e) => {
                            ensure!(
                                !predicted,
                                "redeem batch",
                                "basket {i} {req_lines:?} (total {total}) refused: {e}"
                            );
                        }
                        Err(e) => return store_err("redeem batch", e),
                    }
                }
                if *twin {
                    let n = planned.len();
                    match (&outcomes[n], first.6) {
                        (Ok(again), true) => ensure!(
                            again.replayed && Some(again.redemption.row.id) == first_id,
                            "redeem batch",
                            "the twin of an accepted basket: {again:?}"
                        ),
                        (Err(e), false) if refused_redeem(e) => {}
                        (other, _) => {
                            return fail("redeem batch", format!("the twin of basket 0 ({}): {other:?}", first.6));
                        }
                    }
                    if first.6 {
                        ensure!(
                            matches!(outcomes[n + 1], Err(RedeemError::KeyReused)),
                            "redeem batch",
                            "a reused key in the batch: {:?}",
                            outcomes[n + 1]
                        );
                    }
                }
                Ok(if any { Outcome::Accepted } else { Outcome::Refused })
            }
            Op::ReplayRedeem { redemption } => {
                if self.m.redemptions.is_empty() {
                    return Ok(Outcome::Skipped);
                }
                let r = self.m.redemptions[*redemption as usize % self.m.redemptions.len()].clone();
                let req = RedeemRequest {
                    household_id: self.households[r.basket.household].id,
                    lines: r.basket.lines.clone(),
                    idempotency_key: r.basket.key.clone(),
                };
                let store_row = self.stores[r.basket.store].clone();
                match shop::redeem(&mut tx, &self.clerk, now, &store_row, &req).await {
                    Ok(again) => {
                        ensure!(again.replayed && again.redemption.row.id == r.id, "replay", "{r:?} again: {again:?}");
                        Ok(Outcome::Replayed)
                    }
                    Err(e) => store_err("replay", e),
                }
            }
            Op::Return { redemption } => {
                // Mostly one not returned yet.
                let candidates: Vec<usize> = (0..self.m.redemptions.len())
                    .filter(|&i| redemption.any || !self.m.redemptions[i].returned)
                    .collect();
                if candidates.is_empty() {
                    return Ok(Outcome::Skipped);
                }
                let i = candidates[redemption.n as usize % candidates.len()];
                let r = self.m.redemptions[i].clone();
                let predicted = !r.returned && !self.m.postings[r.posting].reversed;
                let store_row = self.stores[r.basket.store].clone();
                match shop::return_redemption(&mut tx, &self.clerk, now, &store_row, r.id, "质量问题").await {
                    Ok(done) => {
                        ensure!(predicted, "return", "{r:?} returned again");
                        ensure_commit(tx, now).await?;
                        for (g, q) in &r.basket.merged {
                            self.m.goods[r.basket.store][*g].stock += q;
                        }
                        self.m.redemptions[i].returned = true;
                        self.m.postings[r.posting].reversed = true;
                        let entries = self.m.postings[r.posting].entries.iter().map(|(a, p)| (*a, -p)).collect();
                        ensure!(
                            done.row.total_points == r.basket.total && done.row.returned_at == Some(now),
                            "return",
                            "{r:?} returned as {:?}",
                            done.row
                        );
                        let id = done.row.return_posting_id.expect("return posting");
                        self.book(id, Kind::Reversal, entries).await?;
                        Ok(Outcome::Accepted)
                    }
                    Err(e) if refused_return(&e) => {
                        ensure!(!predicted, "return", "{r:?} refused: {e}");
                        Ok(Outcome::Refused)
                    }
                    Err(e) => store_err("return", e),
                }
            }
            Op::Reverse { posting } => {
                // Mostly one that may be reversed.
                let candidates: Vec<usize> = (0..self.m.postings.len())
                    .filter(|&i| {
                        let p = &self.m.postings[i];
                        posting.any || (p.kind != Kind::Reversal && !p.reversed && !p.entries.is_empty())
                    })
                    .collect();
                if candidates.is_empty() {
                    return Ok(Outcome::Skipped);
                }
                let i = candidates[posting.n as usize % candidates.len()];
                let p = self.m.postings[i].clone();
                let negation: Vec<(Account, i64)> = p.entries.iter().map(|(a, pts)| (*a, -pts)).collect();
                let overdraws = negation
                    .iter()
                    .any(|(a, pts)| a.kind == AccountKind::Household && *pts < 0 && self.balance(*a) + pts < 0);
                let predicted = p.kind != Kind::Reversal
                    && !p.reversed
                    && !p.entries.is_empty()
                    && (self.m.allow_negative || !overdraws);
                let key = format!("reverse:{}", Uuid::now_v7());
                match points::reverse(&mut tx, &self.cadre, self.meta(key), p.id).await {
                    Ok(done) => {
                        ensure!(predicted, "reverse", "{p:?} reversed (model: refused)");
                        ensure!(!done.replayed, "reverse", "a fresh key replayed");
                        ensure_commit(tx, now).await?;
                        self.m.postings[i].reversed = true;
                        self.book(done.posting.id, Kind::Reversal, negation).await?;
                        Ok(Outcome::Accepted)
                    }
                    Err(e) if refused_points(&e) => {
                        ensure!(!predicted, "reverse", "{p:?} refused: {e}");
                        Ok(Outcome::Refused)
                    }
                    Err(e) => store_err("reverse", e),
                }
            }
            Op::Restock { store, goods, quantity } => {
                let (s, g) = (*store as usize, *goods as usize);
                let store_row = self.stores[s].clone();
                let id = self.m.goods[s][g].id;
                match shop::restock(&mut tx, &self.clerk, now, &store_row, id, *quantity, Some("进货")).await {
                    Ok(row) => {
                        ensure_commit(tx, now).await?;
                        self.m.goods[s][g].stock += quantity;
                        ensure!(
                            row.stock == self.m.goods[s][g].stock,
                            "restock",
                            "stock {} (model {})",
                            row.stock,
                            self.m.goods[s][g].stock
                        );
                        Ok(Outcome::Accepted)
                    }
                    Err(e) => store_err("restock", e),
                }
            }
            Op::EditPoints { item, magnitude, flip } => {
                let code = ITEMS[*item as usize];
                let Some(Some(current)) = self.m.items.get(code).cloned() else { return Ok(Outcome::Skipped) };
                // A flipped sign is legal too (an earning item made a deduction, or back).
                let sign = if *flip { -current.points.signum() } else { current.points.signum() };
                let points = sign * magnitude;
                let predicted = current.cap.is_none_or(|c| c.points >= *magnitude)
                    && (points > 0 || !current.proposers.contains(&Role::Resident));
                let edited = RuleItem { points, ..current };
                self.put_item(tx, code, edited, predicted).await
            }
            Op::EditCap { item, cap } => {
                let code = ITEMS[*item as usize];
                let Some(Some(current)) = self.m.items.get(code).cloned() else { return Ok(Outcome::Skipped) };
                let period = |p: u8| [Period::Month, Period::Quarter, Period::Year][p as usize % 3];
                let cap = cap.map(|(points, p)| Cap { points, period: period(p) });
                let predicted = cap.is_none_or(|c| c.points >= current.points.abs());
                let edited = RuleItem { cap, ..current };
                self.put_item(tx, code, edited, predicted).await
            }
            Op::ReAddItem { item } => {
                let code = ITEMS[*item as usize];
                let default = rulebook::default_items().into_iter().find(|i| i.code == code).expect("default item");
                self.put_item(tx, code, default, true).await
            }
            Op::DeleteItem { item } => {
                let code = ITEMS[*item as usize];
                let predicted = self.m.items[code].is_some();
                match awards::delete_item(&mut tx, &self.cadre, town, code, now).await {
                    Ok(()) => {
                        ensure!(predicted, "delete item", "{code} deleted twice");
                        ensure_commit(tx, now).await?;
                        self.m.items.insert(code.to_string(), None);
                        Ok(Outcome::Accepted)
                    }
                    Err(StoreError::NotFound) => {
                        ensure!(!predicted, "delete item", "{code} not found");
                        Ok(Outcome::Refused)
                    }
                    Err(e) => store_err("delete item", e),
                }
            }
            Op::ToggleNegative => {
                let to = !self.m.allow_negative;
                match points::set_allow_negative(&mut tx, &self.cadre, town, to, now).await {
                    Ok(()) => {
                        ensure_commit(tx, now).await?;
                        self.m.allow_negative = to;
                        Ok(Outcome::Accepted)
                    }
                    Err(e) => store_err("allow negative", e),
                }
            }
            Op::Advance { .. } | Op::Sweep => unreachable!("handled in step"),
        }
    }

    async fn put_item(
        &mut self,
        mut tx: wuwei_store::Tx,
        code: &str,
        item: RuleItem,
        predicted: bool,
    ) -> Checked<Outcome> {
        let now = self.m.now;
        match awards::put_item(&mut tx, &self.cadre, self.town, item.clone(), now).await {
            Ok(saved) => {
                ensure!(predicted, "rulebook", "{item:?} accepted (model: invalid)");
                ensure_commit(tx, now).await?;
                ensure!(saved == item, "rulebook", "saved {saved:?} for {item:?}");
                self.m.items.insert(code.to_string(), Some(item));
                Ok(Outcome::Accepted)
            }
            Err(AwardError::Rulebook(problems)) => {
                ensure!(!predicted, "rulebook", "{item:?} refused: {problems:?}");
                Ok(Outcome::Refused)
            }
            Err(e) => store_err("put item", e),
        }
    }

    /// The sweeper's pass: each due award posted (or refused for good) in its own transaction,
    /// as predicted, never past its cap; nothing due afterwards.
    async fn sweep(&mut self) -> Checked {
        let now = self.m.now;
        let due = awards::due_awards(self.db(), now, awards::POST_BATCH).await.or_fail("due")?;
        let rows = self.award_rows().await?;
        let expected: Vec<Uuid> = rows
            .iter()
            .filter(|r| {
                r.state == "in_public_notice" && r.open_objections == 0 && r.notice_ends_at.is_some_and(|e| e <= now)
            })
            .map(|r| r.id)
            .collect();
        let mut got: Vec<Uuid> = due.iter().map(|d| d.1).collect();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        ensure!(got == want, "due awards", "due {got:?}, expected {want:?}");
        for (town, id) in due {
            ensure!(town == self.town, "due awards", "an award of town {town}");
            let rows = self.award_rows().await?;
            let row = rows.iter().find(|r| r.id == id).cloned().expect("due award");
            let item = self.m.items.get(&row.item_code).cloned().flatten();
            let within_cap = match item.as_ref().and_then(|i| i.cap) {
                None => true,
                Some(cap) => {
                    let used = Self::used(&rows, row.household_id, &row.item_code, cap, row.proposed_at, Some(row.id));
                    row.points.abs() <= (cap.points - used.abs()).max(0)
                }
            };
            let predicted = item.is_some() && within_cap;
            let entries = if row.points >= 0 {
                vec![
                    (Account::town_issuance(self.town), -row.points),
                    (Account::household(row.household_id), row.points),
                ]
            } else {
                self.deduction_entries(row.household_id, -row.points)
            };
            let mut tx = self.store.begin().await.or_fail("begin")?;
            match awards::post_award(&mut tx, &Actor::system("points_sweeper"), self.town, id, now).await {
                Ok(PostOutcome::Posted { posting_id }) => {
                    ensure!(predicted, "sweep", "{row:?} posted (model: refused; item {item:?})");
                    ensure_commit(tx, now).await?;
                    let kind = if row.points >= 0 { Kind::Award } else { Kind::Deduction };
                    let index = self.book(posting_id, kind, entries).await?;
                    self.m.award_postings.insert(id, index);
                    // Never past the cap as it stands now, in the period the award counts in.
                    if let Some(cap) = item.and_then(|i| i.cap) {
                        let rows = self.award_rows().await?;
                        let (start, end) = period_bounds(cap.period, row.proposed_at);
                        let posted: i64 = rows
                            .iter()
                            .filter(|a| a.household_id == row.household_id && a.item_code == row.item_code)
                            .filter(|a| a.state == "posted" && start <= a.proposed_at && a.proposed_at < end)
                            .map(|a| a.points)
                            .sum();
                        ensure!(
                            posted.abs() <= cap.points,
                            "cap at posting",
                            "household {} has {posted} posted of {} (cap {cap:?}) after posting {row:?}",
                            row.household_id,
                            row.item_code
                        );
                    }
                    self.count("sweep: post".into(), Outcome::Accepted);
                }
                Ok(PostOutcome::Refused { reason }) => {
                    ensure!(!predicted, "sweep", "{row:?} refused ({reason}) (model: posts)");
                    ensure_commit(tx, now).await?;
                    self.count("sweep: post refused for good".into(), Outcome::Accepted);
                }
                Ok(PostOutcome::NotDue) => return fail("sweep", format!("{row:?} listed as due but not due")),
                Err(e) => return store_err("post award", e),
            }
        }
        let left = awards::due_awards(self.db(), now, awards::POST_BATCH).await.or_fail("due")?;
        ensure!(left.is_empty(), "sweep", "still due after the pass: {left:?}");
        Ok(())
    }

    // ---- the invariants ----

    async fn check(&self) -> Checked {
        // The ledger verifies.
        let v = points::verify(self.db(), Some(self.town)).await.or_fail("verify")?;
        if let Some(problem) = v.first_problem {
            return fail("ledger verify", format!("{problem} ({problem:?})"));
        }
        // Balances: the model's, summing to zero, only known accounts.
        let rows = self.balance_rows().await?;
        let mut known: BTreeSet<Account> = self.households.iter().map(|h| Account::household(h.id)).collect();
        known.insert(Account::town_issuance(self.town));
        known.extend(self.stores.iter().map(|s| Account::store_redemption(s.id)));
        let mut sum = 0i64;
        let mut stored: BTreeMap<Account, i64> = BTreeMap::new();
        for (kind, id, balance) in rows {
            let kind = AccountKind::parse(&kind).expect("account kind");
            let account = Account { kind, id };
            ensure!(known.contains(&account), "double entry", "unknown account {account} holds {balance}");
            sum += balance;
            stored.insert(account, balance);
        }
        ensure!(sum == 0, "double entry", "balances sum to {sum}: {stored:?}");
        for account in &known {
            let db = stored.get(account).copied().unwrap_or(0);
            let model = self.balance(*account);
            ensure!(db == model, "balance", "{account}: stored {db}, model {model}");
            let read = points::balance(self.db(), self.town, *account).await.or_fail("balance")?;
            ensure!(read == db, "balance", "{account}: balance() {read}, row {db}");
            if account.kind == AccountKind::Household && db < 0 {
                ensure!(
                    self.m.negative_ok.get(&account.id).copied().unwrap_or(false),
                    "negative balance",
                    "{account} at {db} without an allowed deduction"
                );
            }
        }
        // Stock: proven by its movements, never below zero, the model's.
        let bad = shop::verify_stock(self.db(), self.town).await.or_fail("verify stock")?;
        ensure!(bad.is_empty(), "stock", "stock differs from movements: {bad:?}");
        for shelf in &self.m.goods {
            for g in shelf {
                let row = shop::goods(self.db(), self.town, g.id).await.or_fail("goods")?.expect("goods");
                ensure!(
                    row.stock == g.stock && row.stock >= 0,
                    "stock",
                    "goods {}: stock {}, model {}",
                    g.id,
                    row.stock,
                    g.stock
                );
            }
        }
        // Awards: one posting each under award:<id>, objections counted right.
        let awards = self.award_rows().await?;
        let postings = query(
            &self.store,
            "SELECT id, idempotency_key FROM points_posting WHERE town_id = ?",
            vec![self.town.into()],
        )
        .await?;
        let mut by_key: HashMap<String, Vec<Uuid>> = HashMap::new();
        for p in &postings {
            let key = p.try_get::<String>("", "idempotency_key").or_fail("key")?;
            if key.starts_with("award:") {
                by_key.entry(key).or_default().push(p.try_get::<Uuid>("", "id").or_fail("id")?);
            }
        }
        let mut posted = 0;
        for a in &awards {
            let key = format!("award:{}", a.id);
            let ids = by_key.get(&key).cloned().unwrap_or_default();
            if a.state == "posted" {
                posted += 1;
                ensure!(
                    ids.len() == 1 && a.posting_id == Some(ids[0]) && a.posted_at.is_some(),
                    "award posting",
                    "posted award {a:?} has postings {ids:?}"
                );
                let model = self.m.award_postings.get(&a.id).map(|&i| self.m.postings[i].id);
                ensure!(
                    model == a.posting_id,
                    "award posting",
                    "award {}: posting {:?}, model {model:?}",
                    a.id,
                    a.posting_id
                );
            } else {
                ensure!(
                    ids.is_empty() && a.posting_id.is_none(),
                    "award posting",
                    "{} award {a:?} has postings {ids:?}",
                    a.state
                );
            }
            let open = awards::objections(self.db(), a)
                .await
                .or_fail("objections")?
                .iter()
                .filter(|o| o.state == "open")
                .count();
            ensure!(open as i32 == a.open_objections, "objections", "award {a:?} has {open} open objections");
            let state = AwardState::parse(&a.state).expect("state");
            ensure!(state == AwardState::Objected || open == 0, "objections", "{a:?} is {state} with {open} open");
        }
        ensure!(by_key.len() == posted, "award posting", "{} award keys posted, {posted} awards posted", by_key.len());
        // The rulebook is the model's.
        let book = awards::rulebook(self.db(), self.town).await.or_fail("rulebook")?;
        for (code, item) in &self.m.items {
            let stored = book.iter().find(|i| &i.code == code);
            ensure!(stored == item.as_ref(), "rulebook", "{code}: stored {stored:?}, model {item:?}");
        }
        Ok(())
    }

    /// At the end of a case: the audit chains hold, and the snapshot verifier agrees.
    async fn check_end(&self) -> Checked {
        let v = points::verify_snapshot(&self.store, None).await.or_fail("verify snapshot")?;
        if let Some(problem) = v.first_problem {
            return fail("ledger verify", format!("snapshot: {problem}"));
        }
        let a = audit::verify(self.db(), None).await.or_fail("audit verify")?;
        ensure!(a.first_broken.is_none(), "audit", "{:?}", a.first_broken);
        Ok(())
    }
}

/// The candidate chosen by `pick` (among those matching `wanted`, or among all when `any`).
fn choose(rows: &[AwardRow], pick: Pick, wanted: impl Fn(&AwardRow) -> bool) -> Option<AwardRow> {
    let candidates: Vec<&AwardRow> =
        if pick.any { rows.iter().collect() } else { rows.iter().filter(|r| wanted(r)).collect() };
    if candidates.is_empty() {
        return None;
    }
    Some(candidates[pick.n as usize % candidates.len()].clone())
}

async fn ensure_commit(tx: wuwei_store::Tx, now: DateTime<Utc>) -> Checked {
    tx.commit(now).await.or_fail("commit")
}

fn diff(before: &Footprint, after: &Footprint) -> String {
    let mut out = Vec::new();
    macro_rules! field {
        ($f:ident) => {
            if before.$f != after.$f {
                out.push(format!("{}: {:?} → {:?}", stringify!($f), before.$f, after.$f));
            }
        };
    }
    field!(counts);
    field!(counter);
    field!(balances);
    field!(head);
    field!(allow_negative);
    field!(awards);
    field!(goods);
    field!(redemptions);
    field!(rulebook);
    field!(audits);
    out.join("; ")
}

// ---- running and shrinking ----

/// One case on a fresh database: the setup, then each step followed by every check. Returns
/// the number of accepted and refused operations.
async fn run(case: &Case) -> Result<BTreeMap<String, [usize; 4]>, (usize, Failure)> {
    let db = TestDb::new().await;
    let out = async {
        let mut sim = Sim::setup(db.store.clone(), case.config).await.map_err(|f| (0, f))?;
        sim.check().await.map_err(|f| (0, f))?;
        for (i, op) in case.ops.iter().enumerate() {
            sim.step(op).await.map_err(|f| (i + 1, f))?;
            sim.check().await.map_err(|f| (i + 1, f))?;
        }
        sim.check_end().await.map_err(|f| (case.ops.len(), f))?;
        Ok(sim.stats)
    }
    .await;
    db.finish().await;
    out
}

fn run_blocking(case: &Case) -> Result<BTreeMap<String, [usize; 4]>, (usize, Failure)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(run(case)))) {
        Ok(out) => out,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err((0, Failure { kind: "panic".into(), detail: msg }))
        }
    }
}

/// Remove runs of steps (halves down to single steps) while the case still fails the same way;
/// then try the default setup. Bounded in runs and time.
fn shrink(mut case: Case, mut failure: (usize, Failure)) -> (Case, (usize, Failure), usize) {
    let started = Instant::now();
    let budget = StdDuration::from_secs(120);
    let mut runs = 0;
    // Steps after the failing one never matter.
    case.ops.truncate(failure.0);
    let same = |f: &Failure, kind: &str| f.kind == kind;
    let kind = failure.1.kind.clone();
    let mut chunk = (case.ops.len() / 2).max(1);
    loop {
        let mut i = 0;
        let mut progressed = false;
        while i < case.ops.len() && started.elapsed() < budget {
            let mut candidate = case.clone();
            let end = (i + chunk).min(candidate.ops.len());
            candidate.ops.drain(i..end);
            runs += 1;
            match run_blocking(&candidate) {
                Err(f) if same(&f.1, &kind) => {
                    candidate.ops.truncate(f.0);
                    case = candidate;
                    failure = f;
                    progressed = true;
                }
                _ => i += chunk,
            }
        }
        if started.elapsed() >= budget || (chunk == 1 && !progressed) {
            break;
        }
        if !progressed {
            chunk = (chunk / 2).max(1);
        }
    }
    if case.config.notice_days.is_some() && started.elapsed() < budget {
        let mut candidate = case.clone();
        candidate.config.notice_days = None;
        runs += 1;
        if let Err(f) = run_blocking(&candidate)
            && same(&f.1, &kind)
        {
            case = candidate;
            failure = f;
        }
    }
    (case, failure, runs)
}

#[test]
fn random_workflows_keep_every_invariant() {
    let postgres = std::env::var(wuwei_store::test_support::TEST_DATABASE_URL_ENV).is_ok_and(|u| !u.is_empty());
    let cases: usize =
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(if postgres { 8 } else { 24 });
    let seed: u64 = std::env::var("POINTS_WORKFLOW_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    let started = Instant::now();
    let mut rng = Rng(seed);
    let mut stats: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut steps = 0;
    // Coverage the assertions below ask for: something refused, something replayed, and the
    // main paths accepted. A short run (8 cases on PostgreSQL) can miss one by chance, so it goes
    // on past `cases`, up to four times as many, until they are all reached.
    let covered = |stats: &BTreeMap<String, [usize; 4]>| {
        let total = |k: usize| stats.values().map(|c| c[k]).sum::<usize>();
        total(1) > 0
            && total(2) > 0
            && ["Propose", "approve", "Redeem", "sweep: post"]
                .iter()
                .all(|name| stats.get(*name).is_some_and(|c| c[0] > 0))
    };
    let mut n = 0;
    while n < cases || (!covered(&stats) && n < cases * 4) {
        n += 1;
        let case = gen_case(&mut rng);
        steps += case.ops.len();
        match run_blocking(&case) {
            Ok(case_stats) => {
                for (name, counts) in case_stats {
                    let total = stats.entry(name).or_default();
                    for (t, c) in total.iter_mut().zip(counts) {
                        *t += c;
                    }
                }
            }
            Err(failure) => {
                let first = failure.1.clone();
                let (min, failure, runs) = shrink(case, failure);
                let ops: Vec<String> =
                    min.ops.iter().enumerate().map(|(i, op)| format!("  {:>2}. {op:?}", i + 1)).collect();
                panic!(
                    "case {n} of seed {seed} (POINTS_WORKFLOW_SEED={seed} replays it) failed:\n{first}\n\n\
                     shrunk in {runs} runs to {} steps ({:?}), failing at step {}:\n{}\n\n{}",
                    min.ops.len(),
                    min.config,
                    failure.0,
                    failure.1,
                    ops.join("\n")
                );
            }
        }
    }
    eprintln!("points workflow: {n} cases, {steps} steps, seed {seed}, {:?}", started.elapsed());
    eprintln!("  {:<28} {:>8} {:>8} {:>8} {:>8}", "operation", "accepted", "refused", "replayed", "skipped");
    for (name, [a, r, p, k]) in &stats {
        eprintln!("  {name:<28} {a:>8} {r:>8} {p:>8} {k:>8}");
    }
    // The generator reaches the paths that matter (accepted and refused); counts are above.
    let total = |k: usize| stats.values().map(|c| c[k]).sum::<usize>();
    assert!(total(1) > 0 && total(2) > 0, "nothing refused or replayed: {stats:?}");
    for name in ["Propose", "approve", "Redeem", "sweep: post"] {
        assert!(stats.get(name).is_some_and(|c| c[0] > 0), "no {name} accepted: {stats:?}");
    }
}

//! A year of plausible points activity for the demo town (issue 5), made through the real paths
//! — proposals checked against the rulebook and caps, review by the village cadre, the public
//! notice, objections, posting to the ledger, redemptions at the village stores — so that the
//! figures, red lists and balances are computed from the ledger, not invented.
//!
//! Deterministic (a fixed seed) and replayed in time order, so the ledger's chain reads like a
//! real year. Awards proposed in the last week are still under review or on notice: the review
//! queue and the public notice have something to show.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use wuwei_domain::access::Role;
use wuwei_domain::points::award::{AwardAction, AwardCapacity, AwardSource};
use wuwei_domain::points::ledger::Account;
use wuwei_store::households::HouseholdRow;
use wuwei_store::points_awards::{self as awards, AwardRequest, NewAwards, ProposedFor};
use wuwei_store::points_shop::{self as shop, Clerk, NewGoods, RedeemRequest};
use wuwei_store::{Actor, Tx, accounts};

use crate::demo::DemoError;

/// How far back the points history goes.
pub const POINTS_DAYS: i64 = 365;

/// The goods every village store stocks: (name, points, value in fen).
const GOODS: &[(&str, i64, i64)] = &[
    // A point buys about two yuan of goods, as in many Shandong villages' 积分超市.
    ("大米 5kg", 15, 2_990),
    ("花生油 1.8L", 14, 2_680),
    ("洗衣粉 1kg", 5, 890),
    ("香皂 3 块装", 3, 590),
    ("毛巾", 3, 490),
    ("牙膏", 2, 450),
    ("酱油 500ml", 2, 380),
    ("食盐 400g", 1, 200),
    ("鸡蛋 30 枚", 9, 1_690),
    ("暖水瓶", 11, 2_200),
    ("挂面 1kg", 3, 590),
    ("雨伞", 8, 1_500),
];

/// Items proposed in ordinary weeks, with weights (deductions are rare). Caring for elders and
/// a clean record are recognised in bulk each quarter and year instead (see `load`).
const ITEMS: &[(&str, u32)] = &[
    ("mediation_resolved", 8),
    ("law_clue_report", 4),
    ("industry_poverty_exit", 2),
    ("mediation_peacemaker_duty", 6),
    ("customs_superstition", 1),
];

/// A bulk award covers at most this many households (as over HTTP).
const MAX_BULK: usize = 100;

/// SplitMix64: small, fast and fixed across platforms.
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
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// Propose `item` for these households (index into the village's list) as the village's cadre.
    Propose {
        key: usize,
        village: usize,
        households: Vec<Uuid>,
        item: &'static str,
        quantity: u32,
    },
    Approve {
        key: usize,
    },
    Reject {
        key: usize,
    },
    Object {
        key: usize,
    },
    Dismiss {
        key: usize,
    },
    Post {
        key: usize,
    },
    Redeem {
        village: usize,
    },
    Restock,
}

struct Village {
    id: Uuid,
    households: Vec<HouseholdRow>,
    cadre: Actor,
    clerk: Clerk,
    objector: Option<Actor>,
    store: Option<shop::StoreRow>,
    goods: Vec<shop::GoodsRow>,
}

async fn actor_of(tx: &Tx, username: &str) -> Result<Option<Actor>, DemoError> {
    Ok(accounts::user_by_username(tx.db(), username).await?.map(|u| Actor { id: Some(u.id), name: u.username }))
}

/// Load the points history. `villages` are the admin village ids in the demo's order (vc1 is
/// the first village's cadre, sc1 its store clerk).
pub async fn load(
    tx: &mut Tx,
    now: DateTime<Utc>,
    town_id: Uuid,
    village_ids: &[Uuid],
    resident_households: &HashMap<Uuid, String>,
) -> Result<usize, DemoError> {
    let start = now - Duration::days(POINTS_DAYS);
    shop::ensure_stores(tx, town_id, start).await?;
    let stores = shop::stores(tx.db(), town_id).await?;
    let all = wuwei_store::points_figures::households(tx.db(), town_id, None).await?;
    let mut villages = Vec::new();
    for (i, id) in village_ids.iter().enumerate() {
        let n = i + 1;
        let (Some(cadre), Some(clerk_actor)) =
            (actor_of(tx, &format!("vc{n}")).await?, actor_of(tx, &format!("sc{n}")).await?)
        else {
            return Err(DemoError::Data(format!("no cadre or clerk for village {n}")));
        };
        // A resident of this village objects now and then (res1–res3 live in three villages).
        let mut objector = None;
        for (hh, username) in resident_households {
            if all.iter().any(|h| h.id == *hh && h.admin_village_id == *id) {
                objector = actor_of(tx, username).await?;
            }
        }
        villages.push(Village {
            id: *id,
            households: all.iter().filter(|h| h.admin_village_id == *id).cloned().collect(),
            clerk: Clerk { shown_as: clerk_actor.name.clone(), actor: clerk_actor },
            cadre,
            objector,
            store: stores.iter().find(|s| s.admin_village_id == *id).cloned(),
            goods: Vec::new(),
        });
    }

    // Shelves stocked at the start of the year, topped up each quarter.
    for v in &mut villages {
        let Some(store) = v.store.clone() else { continue };
        for (j, (name, price, value)) in GOODS.iter().enumerate() {
            let g = shop::create_goods(
                tx,
                &v.clerk,
                start,
                &store,
                NewGoods {
                    name: (*name).to_string(),
                    barcode: Some(format!("69{:02}{:09}", j, 100_000 + j)),
                    photo_attachment_id: None,
                    price_points: *price,
                    value_fen: *value,
                    stock: 60,
                    max_per_redemption: Some(5),
                },
            )
            .await?;
            v.goods.push(g);
        }
    }

    // The year's plan, in time order.
    let mut rng = Rng(0x5EED_2026_1128);
    let mut plan: Vec<(DateTime<Utc>, Step)> = Vec::new();
    let mut key = 0usize;
    let days = POINTS_DAYS;
    for day in 0..days {
        let t = start + Duration::days(day) + Duration::hours(1 + (rng.below(8) as i64)); // 09:00–17:00 China time
        for (vi, v) in villages.iter().enumerate() {
            if v.households.is_empty() {
                continue;
            }
            // About four awards a week per village.
            if rng.chance(0.55) {
                let item = weighted(&mut rng);
                let h = rng.pick(&v.households).map(|h| h.id);
                let Some(h) = h else { continue };
                let proposed_at = t + Duration::minutes(rng.below(300) as i64);
                plan.push((proposed_at, Step::Propose { key, village: vi, households: vec![h], item, quantity: 1 }));
                schedule_review(&mut rng, &mut plan, key, proposed_at, now, v.objector.is_some());
                key += 1;
            }
            // A village meeting with voluntary labour each quarter: many households at once.
            if day % 91 == (vi as i64 * 11) % 91 {
                let n = 12 + rng.below(18) as usize;
                let mut hh: Vec<Uuid> = Vec::new();
                for _ in 0..n {
                    if let Some(h) = rng.pick(&v.households)
                        && !hh.contains(&h.id)
                    {
                        hh.push(h.id);
                    }
                }
                let proposed_at = t + Duration::hours(2);
                plan.push((
                    proposed_at,
                    Step::Propose { key, village: vi, households: hh, item: "welfare_village_affairs", quantity: 2 },
                ));
                schedule_review(&mut rng, &mut plan, key, proposed_at, now, false);
                key += 1;
            }
            // Each quarter the committee recognises the households that look after their elders,
            // and once a year those with a clean record: large bulk awards.
            let quarterly = day % 91 == 20 + vi as i64;
            let yearly = day == 40 + vi as i64;
            if quarterly || yearly {
                let (item, share) = if yearly { ("law_no_violations", 0.15) } else { ("filial_care_elders", 0.08) };
                let mut hh: Vec<Uuid> =
                    v.households.iter().filter(|_| rng.chance(share)).map(|h| h.id).take(MAX_BULK).collect();
                hh.sort();
                let proposed_at = t + Duration::hours(1);
                plan.push((proposed_at, Step::Propose { key, village: vi, households: hh, item, quantity: 1 }));
                schedule_review(&mut rng, &mut plan, key, proposed_at, now, false);
                key += 1;
            }
            // Store visits: a few a week, more before the Spring Festival (late January).
            let festival = (95..125).contains(&((day + 365 - 300) % 365));
            if rng.chance(if festival { 0.9 } else { 0.5 }) {
                plan.push((
                    t + Duration::hours(3) + Duration::minutes(rng.below(120) as i64),
                    Step::Redeem { village: vi },
                ));
            }
        }
    }
    // The clerks top up what ran low every month.
    for month in 1..=(days / 30) {
        plan.push((start + Duration::days(month * 30) + Duration::hours(1), Step::Restock));
    }
    plan.retain(|(at, _)| *at < now);
    plan.sort_by_key(|(at, _)| *at);

    let system = Actor::system("points-sweeper");
    let mut batches: HashMap<usize, Vec<Uuid>> = HashMap::new();
    let mut redemptions = 0usize;
    for (at, step) in plan {
        match step {
            Step::Propose { key, village, households, item, quantity } => {
                let v = &villages[village];
                let proposed: Vec<ProposedFor> = households
                    .iter()
                    .filter_map(|id| v.households.iter().find(|h| h.id == *id))
                    .map(|h| ProposedFor {
                        household: h.clone(),
                        roles: vec![Role::VillageCadre],
                        own_household: false,
                    })
                    .collect();
                let new = NewAwards {
                    town_id,
                    households: proposed,
                    item_code: item.to_string(),
                    quantity,
                    note: String::new(),
                    attachment_ids: Vec::new(),
                    photos: 0,
                    documents: 0,
                    source: AwardSource::Manual,
                    source_ref: None,
                };
                // Over the cap or refused: the cadre simply would not have proposed it.
                if let Ok(rows) = awards::propose(tx, &v.cadre, new, at).await {
                    batches.insert(key, rows.iter().map(|r| r.id).collect());
                }
            }
            Step::Approve { key } | Step::Reject { key } | Step::Dismiss { key } => {
                let (action, reason) = match step {
                    Step::Approve { .. } => (AwardAction::Approve, None),
                    Step::Reject { .. } => (AwardAction::Reject, Some("核实情况与申报不符".to_string())),
                    _ => (AwardAction::DismissObjection, Some("经村委会核实，情况属实".to_string())),
                };
                for id in batches.get(&key).cloned().unwrap_or_default() {
                    let Some(a) = awards::award(tx.db(), Some(town_id), id).await? else { continue };
                    let Some(v) = villages.iter().find(|v| v.id == a.admin_village_id) else { continue };
                    let request = AwardRequest { reason: reason.clone(), objection_id: None, version: None };
                    let _ =
                        awards::act(tx, &v.cadre, town_id, id, action, &[AwardCapacity::Reviewer], request, at).await;
                }
            }
            Step::Object { key } => {
                if let Some(id) = batches.get(&key).and_then(|ids| ids.first().copied())
                    && let Some(a) = awards::award(tx.db(), Some(town_id), id).await?
                    && let Some(objector) =
                        villages.iter().find(|v| v.id == a.admin_village_id).and_then(|v| v.objector.clone())
                {
                    let _ = awards::object(tx, &objector, town_id, id, "这户的情况我了解，请村里再核实一下", at).await;
                }
            }
            Step::Post { key } => {
                for id in batches.get(&key).cloned().unwrap_or_default() {
                    let _ = awards::post_award(tx, &system, town_id, id, at).await;
                }
            }
            Step::Redeem { village } => {
                if redeem_once(tx, &mut rng, &villages[village], town_id, at).await? {
                    redemptions += 1;
                }
            }
            Step::Restock => restock_all(tx, &mut villages, town_id, at).await?,
        }
    }
    Ok(redemptions)
}

fn weighted(rng: &mut Rng) -> &'static str {
    let total: u32 = ITEMS.iter().map(|(_, w)| w).sum();
    let mut n = rng.below(u64::from(total)) as u32;
    for (item, w) in ITEMS {
        if n < *w {
            return item;
        }
        n -= w;
    }
    "filial_care_elders"
}

/// What happens to a proposal: most are approved within two days and post after the notice;
/// a few are rejected; now and then a villager objects and the committee looks again.
fn schedule_review(
    rng: &mut Rng,
    plan: &mut Vec<(DateTime<Utc>, Step)>,
    key: usize,
    proposed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    may_object: bool,
) {
    let reviewed_at = proposed_at + Duration::hours(20 + rng.below(30) as i64);
    if rng.chance(0.05) {
        plan.push((reviewed_at, Step::Reject { key }));
        return;
    }
    plan.push((reviewed_at, Step::Approve { key }));
    let notice_ends = reviewed_at + Duration::days(i64::from(wuwei_domain::points::award::DEFAULT_NOTICE_DAYS));
    if may_object && rng.chance(0.08) {
        plan.push((reviewed_at + Duration::days(2), Step::Object { key }));
        plan.push((reviewed_at + Duration::days(4), Step::Dismiss { key }));
    }
    // The sweeper posts within minutes of the notice ending.
    let post_at = notice_ends + Duration::minutes(5);
    if post_at < now {
        plan.push((post_at, Step::Post { key }));
    }
}

async fn redeem_once(
    tx: &mut Tx,
    rng: &mut Rng,
    v: &Village,
    town_id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DemoError> {
    let Some(store) = &v.store else { return Ok(false) };
    // Villagers save up and come to the counter when they can buy something worth having: of twenty
    // households, the one with the most points comes.
    let mut best: Option<(&HouseholdRow, i64)> = None;
    for _ in 0..20 {
        let Some(h) = rng.pick(&v.households) else { return Ok(false) };
        let balance = wuwei_store::points::balance(tx.db(), town_id, Account::household(h.id)).await?;
        if best.is_none_or(|(_, b)| balance > b) {
            best = Some((h, balance));
        }
    }
    if let Some((h, balance)) = best.filter(|(_, b)| *b >= 3) {
        let mut budget = balance;
        let mut lines = Vec::new();
        let mut on_shelf = Vec::with_capacity(v.goods.len());
        for g in &v.goods {
            if let Some(current) = shop::goods(tx.db(), town_id, g.id).await?
                && current.stock > 0
            {
                on_shelf.push(current);
            }
        }
        for _ in 0..(1 + rng.below(3)) {
            // The dearest things they can afford first (rice and oil before salt).
            let mut affordable: Vec<&shop::GoodsRow> = on_shelf.iter().filter(|g| g.price_points <= budget).collect();
            affordable.sort_by_key(|g| std::cmp::Reverse(g.price_points));
            affordable.truncate(3);
            let Some(g) = rng.pick(&affordable) else { break };
            if lines.iter().any(|(id, _)| *id == g.id) {
                continue;
            }
            budget -= g.price_points;
            lines.push((g.id, 1u32));
        }
        if lines.is_empty() {
            return Ok(false);
        }
        let req = RedeemRequest {
            household_id: h.id,
            lines,
            idempotency_key: format!("demo-{}-{}", h.id.simple(), at.timestamp()),
        };
        // Balance and stock were checked just now, so a refusal here is a bug in the demo.
        shop::redeem(tx, &v.clerk, at, store, &req)
            .await
            .map_err(|e| DemoError::Data(format!("demo redemption refused: {e}")))?;
        return Ok(true);
    }
    Ok(false)
}

async fn restock_all(tx: &mut Tx, villages: &mut [Village], town_id: Uuid, at: DateTime<Utc>) -> Result<(), DemoError> {
    for v in villages.iter_mut() {
        let Some(store) = v.store.clone() else { continue };
        for g in v.goods.iter_mut() {
            let Some(current) = shop::goods(tx.db(), town_id, g.id).await? else { continue };
            if current.stock < 60 {
                *g = shop::restock(tx, &v.clerk, at, &store, g.id, 60 - current.stock, Some("季度补货")).await?;
            }
        }
    }
    Ok(())
}

//! Background work, run at the server's own pace in bounded batches. Each job is a plain
//! function tests call directly (with the fake clock); `run_periodic` only decides when.
//!
//! The sweeper and the outbox worker hold a lease in the database while they run, so two
//! servers sharing one PostgreSQL database never both act; every change they make is
//! conditional on the row being as they read it, so nothing is done twice.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;
use wuwei_domain::case::{self as rules, Card, Clock, ClockState, UnitKind};
use wuwei_store::cases::{self, SweepChange};
use wuwei_store::notify::{self, NotificationRow};
use wuwei_store::{accounts, catalog, idempotency, lease};

use crate::caseflow::{self, CaseChange, Notice};
use crate::error::ApiResult;
use crate::state::AppState;

/// How often housekeeping runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);
/// How often the sweeper and the outbox worker look for work.
const WORK_EVERY: Duration = Duration::from_secs(5);
/// Rows per batch.
const SWEEP_BATCH: u64 = 500;
const DELIVERY_BATCH: u64 = 200;
/// Batches per pass at most, so one pass cannot run unbounded.
const MAX_BATCHES: usize = 10_000;
/// Webhook calls wait at most this long.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Delete sessions that expired more than a day ago, and idempotency keys past their time.
pub async fn housekeeping(state: &AppState) -> wuwei_store::Result<u64> {
    let now = state.now();
    let tx = state.store().begin_unaudited().await?;
    let purged = wuwei_store::accounts::purge_expired_sessions(&tx, now).await? + idempotency::purge(&tx, now).await?;
    tx.commit(now).await?;
    Ok(purged)
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub leased: bool,
    pub examined: u64,
    pub yellow: u64,
    pub red: u64,
    pub escalated: u64,
    pub supervision_red: u64,
    /// Changed by someone else meanwhile; looked at again next time.
    pub skipped: u64,
}

/// One pass of the deadline sweeper: yellow cards at 75% of the time, red cards when overdue
/// with an urge, escalation of overdue cases one level up, red supervision orders.
pub async fn sweep(state: &AppState) -> ApiResult<SweepReport> {
    let mut report = SweepReport::default();
    let now = state.now();
    let db = state.store().db();
    if !lease::acquire(db, "sweeper", &state.0.instance_id, now, chrono::Duration::seconds(60)).await? {
        return Ok(report);
    }
    report.leased = true;
    let mut seen: HashSet<Uuid> = HashSet::new();
    for _ in 0..MAX_BATCHES {
        let batch = cases::due_for_sweep(db, now, SWEEP_BATCH).await?;
        // Each case once per pass, even if a read returns it twice.
        let fresh: Vec<_> = batch.iter().filter(|c| seen.insert(c.id)).cloned().collect();
        if fresh.is_empty() {
            break;
        }
        let mut tx = state.store().begin().await?;
        let mut changed = Vec::new();
        // Whether anything was written: a batch whose every case changed meanwhile writes
        // nothing, and is dropped (rolled back) rather than committed without an audit entry.
        let mut wrote = false;
        for c in &fresh {
            report.examined += 1;
            let (Some(start), Some(due)) = (c.clock_started_at, c.due_at) else {
                // A clock with no deadline has nothing to sweep: stop looking at it.
                let change = SweepChange {
                    card: c.card(),
                    escalate_to: None,
                    clock: ClockState { next_sweep_at: None, ..c.clock() },
                };
                wrote |= cases::apply_sweep(&mut tx, now, c, &change).await?.is_some();
                continue;
            };
            let card = rules::card_at(start, due, now);
            let resolve_phase = rules::clock_in(c.state()) == Clock::Resolve;
            let unit = match c.unit_id {
                Some(u) => catalog::unit(tx.db(), c.town_id, u).await?,
                None => None,
            };
            let mut escalate = None;
            let mut clock = ClockState { card, next_sweep_at: rules::next_sweep(start, due, card), ..c.clock() };
            if card == Card::Red
                && resolve_phase
                && let Some(u) = &unit
                && let Some(target) = caseflow::escalation_target(&mut tx, now, c, u).await?
            {
                let policy = catalog::policy(tx.db(), c.town_id, c.category_id, c.priority()).await?;
                let new_due = now + chrono::Duration::minutes(i64::from(policy.resolve_minutes));
                // The card stays red (it was overdue); the new unit gets a fresh deadline, and
                // the case climbs again if that one passes too.
                clock = ClockState {
                    started_at: Some(now),
                    due_at: Some(new_due),
                    card: Card::Red,
                    next_sweep_at: Some(new_due),
                };
                escalate = Some((target, c.escalation_level + 1));
            }
            let change =
                SweepChange { card: clock.card, escalate_to: escalate.as_ref().map(|(t, l)| (t.id, *l)), clock };
            let Some(row) = cases::apply_sweep(&mut tx, now, c, &change).await? else {
                report.skipped += 1;
                continue;
            };
            wrote = true;
            let dispatchers =
                accounts::users_with_role_in_town(tx.db(), &[wuwei_domain::access::Role::Dispatcher], c.town_id)
                    .await?;
            let members = match &unit {
                Some(u) if resolve_phase => caseflow::unit_members(tx.db(), u).await?,
                _ => Vec::new(),
            };
            match (card, &escalate) {
                (Card::Yellow, _) => {
                    report.yellow += 1;
                    let to = if resolve_phase { &members } else { &dispatchers };
                    caseflow::notify(state, &tx, now, &row, Notice::Urge, to).await?;
                }
                (Card::Red, Some((target, _))) => {
                    report.red += u64::from(c.card() != Card::Red);
                    report.escalated += 1;
                    let mut to = caseflow::unit_members(tx.db(), target).await?;
                    to.extend(dispatchers);
                    caseflow::notify(state, &tx, now, &row, Notice::Escalated, &to).await?;
                    if target.unit_kind() == Some(UnitKind::County) {
                        tracing::warn!(case = %row.number, "case escalated to the county");
                    }
                }
                (Card::Red, None) => {
                    report.red += 1;
                    let mut to = members;
                    to.extend(dispatchers);
                    caseflow::notify(state, &tx, now, &row, Notice::RedCard, &to).await?;
                }
                (Card::None, _) => {}
            }
            changed.push(row);
        }
        if !wrote {
            tracing::warn!(cases = fresh.len(), "sweeper: every case of a batch changed meanwhile");
            drop(tx);
            continue;
        }
        tx.commit(now).await?;
        for row in &changed {
            state.0.case_events.publish(CaseChange::of("updated", row));
        }
        if (batch.len() as u64) < SWEEP_BATCH {
            break;
        }
    }
    // Supervision orders past their own deadline.
    let overdue = cases::overdue_supervisions(db, now, SWEEP_BATCH).await?;
    if !overdue.is_empty() {
        let tx = state.store().begin_unaudited().await?;
        for s in &overdue {
            if cases::mark_supervision_red(&tx, s).await?
                && let Some(c) = cases::case_in_town(tx.db(), s.town_id, s.case_id).await?
            {
                report.supervision_red += 1;
                let mut to = match c.unit_id {
                    Some(u) => match catalog::unit(tx.db(), c.town_id, u).await? {
                        Some(unit) => caseflow::unit_members(tx.db(), &unit).await?,
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                if let Some(issuer) = s.issued_by {
                    to.extend(accounts::users_by_ids(tx.db(), &[issuer]).await?);
                }
                caseflow::notify(state, &tx, now, &c, Notice::RedCard, &to).await?;
            }
        }
        tx.commit(now).await?;
    }
    Ok(report)
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct DeliveryReport {
    pub leased: bool,
    pub delivered: u64,
    pub failed: u64,
}

/// Deliver due notifications: inbox rows at once, webhooks (SMS gateway, WeCom robot) by HTTP
/// with retries and backoff.
pub async fn deliver_notifications(state: &AppState) -> ApiResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    let now = state.now();
    let db = state.store().db();
    if !lease::acquire(db, "outbox", &state.0.instance_id, now, chrono::Duration::seconds(60)).await? {
        return Ok(report);
    }
    report.leased = true;
    let mut seen: HashSet<Uuid> = HashSet::new();
    for _ in 0..MAX_BATCHES {
        let batch: Vec<NotificationRow> =
            notify::due(db, now, DELIVERY_BATCH).await?.into_iter().filter(|n| seen.insert(n.id)).collect();
        if batch.is_empty() {
            break;
        }
        let inbox: Vec<&NotificationRow> = batch.iter().filter(|n| n.channel == notify::INBOX).collect();
        if !inbox.is_empty() {
            let tx = state.store().begin_unaudited().await?;
            for n in inbox {
                if notify::deliver_to_inbox(&tx, now, n).await? {
                    report.delivered += 1;
                }
            }
            tx.commit(now).await?;
        }
        for n in batch.iter().filter(|n| n.channel != notify::INBOX) {
            let result = post_webhook(state, n).await;
            let tx = state.store().begin_unaudited().await?;
            match result {
                Ok(()) => {
                    notify::mark_delivered(&tx, now, n).await?;
                    report.delivered += 1;
                }
                Err(e) => {
                    tracing::warn!(channel = %n.channel, attempts = n.attempts + 1, error = %e, "notification delivery failed; will retry");
                    notify::mark_failed(&tx, now, n, &e).await?;
                    report.failed += 1;
                }
            }
            tx.commit(now).await?;
        }
    }
    Ok(report)
}

async fn post_webhook(state: &AppState, n: &NotificationRow) -> Result<(), String> {
    let (url, body) = match n.channel.as_str() {
        notify::SMS => (
            state.config().sms_webhook_url.as_ref().map(|u| u.expose().clone()),
            serde_json::json!({"phone": n.recipient_phone, "title": n.title, "text": n.body, "case_id": n.case_id, "kind": n.kind}),
        ),
        notify::WECOM => (
            state.config().wecom_webhook_url.as_ref().map(|u| u.expose().clone()),
            // The WeCom group robot's text message format.
            serde_json::json!({"msgtype": "text", "text": {"content": format!("【{}】{}", n.title, n.body)}}),
        ),
        other => return Err(format!("unknown channel {other}")),
    };
    let url = url.ok_or_else(|| "no webhook URL configured".to_string())?;
    let resp = state
        .0
        .http
        .post(&url)
        .timeout(WEBHOOK_TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if resp.status().is_success() { Ok(()) } else { Err(format!("HTTP {}", resp.status().as_u16())) }
}

/// What a points posting pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PostingReport {
    pub posted: u64,
    pub refused: u64,
}

/// Post the awards whose public notice ended without an open objection, one transaction each
/// (a refusal of one — its item removed, its cap filled — never holds up the others). Safe to run
/// on several servers at once: each award is locked and re-checked before it posts, and the
/// ledger's idempotency key (`award:<id>`) makes a second posting impossible.
pub async fn post_awards(state: &AppState) -> ApiResult<PostingReport> {
    let now = state.now();
    let mut report = PostingReport::default();
    let actor = wuwei_store::Actor::system("points-sweeper");
    let due =
        wuwei_store::points_awards::due_awards(state.store().db(), now, wuwei_store::points_awards::POST_BATCH).await?;
    for (town_id, id) in due {
        let mut tx = state.store().begin().await?;
        match wuwei_store::points_awards::post_award(&mut tx, &actor, town_id, id, now).await {
            Ok(wuwei_store::points_awards::PostOutcome::Posted { .. }) => {
                tx.commit(now).await?;
                report.posted += 1;
            }
            Ok(wuwei_store::points_awards::PostOutcome::Refused { reason }) => {
                tracing::info!(award = %id, %reason, "award could not post");
                tx.commit(now).await?;
                report.refused += 1;
            }
            Ok(wuwei_store::points_awards::PostOutcome::NotDue) => {}
            Err(e) => {
                // Logged and left for the next pass; the transaction rolls back.
                tracing::warn!(award = %id, error = %e, "posting an award failed");
            }
        }
    }
    Ok(report)
}

/// When a China year has ended, expire points in the towns whose rule says so (one town, one
/// transaction; idempotent, so a second server or a retry does nothing twice).
pub async fn expire_points(state: &AppState) -> ApiResult<u64> {
    let now = state.now();
    let actor = wuwei_store::Actor::system("points-expiry");
    let mut made = 0;
    for due in wuwei_store::points_awards::expiry_due(state.store().db(), now).await? {
        let mut tx = state.store().begin().await?;
        match wuwei_store::points_awards::expire_year(&mut tx, &actor, due, now).await {
            Ok(n) => {
                tx.commit(now).await?;
                tracing::info!(town = %due.town_id, year = due.year, postings = n, "points expired");
                made += n;
            }
            Err(e) => tracing::warn!(town = %due.town_id, error = %e, "expiring points failed; will retry"),
        }
    }
    Ok(made)
}

/// One pass over the disputes whose deadline clock needs a look (issue 6): the sweeper's
/// mediation step, run beside the case sweep. Each dispute is locked and re-checked, so two
/// servers sweeping at once never escalate one twice.
pub async fn sweep_disputes(state: &AppState) -> ApiResult<u64> {
    crate::routes::mediation::sweep(state, state.now()).await
}

/// Runs the periodic jobs until the task is dropped (at shutdown). A failing pass is logged
/// and retried at the next tick.
pub async fn run_periodic(state: AppState) {
    let mut work = tokio::time::interval(WORK_EVERY);
    work.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_housekeeping = tokio::time::Instant::now() - HOUSEKEEPING_EVERY;
    loop {
        work.tick().await;
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = ?e, "sweeper pass failed");
        }
        if let Err(e) = deliver_notifications(&state).await {
            tracing::warn!(error = ?e, "outbox pass failed");
        }
        if let Err(e) = sweep_disputes(&state).await {
            tracing::warn!(error = ?e, "dispute sweep failed");
        }
        if let Err(e) = post_awards(&state).await {
            tracing::warn!(error = ?e, "points posting pass failed");
        }
        if let Err(e) = expire_points(&state).await {
            tracing::warn!(error = ?e, "points expiry pass failed");
        }
        if last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
            last_housekeeping = tokio::time::Instant::now();
            match housekeeping(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "housekeeping"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
            }
        }
    }
}

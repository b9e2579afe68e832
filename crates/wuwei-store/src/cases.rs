//! Cases: creating, moving along the workflow, listing, the timeline, merging, the sweeper's
//! conditional updates, and readable numbers.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::{Value, json};
use uuid::Uuid;
use wuwei_domain::access::{Level, Scope};
use wuwei_domain::case::{self as rules, Action, Card, CaseState, Clock, ClockState, Priority, Source};

use crate::entity::{attachment, case, case_event, case_reporter, supervision};
use crate::regions::{escape_like, never};
use crate::{Actor, AuditDraft, Result, StoreError, Tx, found};

pub use crate::entity::attachment::Model as AttachmentRow;
pub use crate::entity::case::Model as CaseRow;
pub use crate::entity::case_event::Model as EventRow;
pub use crate::entity::case_reporter::Model as ReporterRow;
pub use crate::entity::supervision::Model as SupervisionRow;

impl CaseRow {
    pub fn state(&self) -> CaseState {
        CaseState::parse(&self.state).unwrap_or(CaseState::Reported)
    }
    pub fn priority(&self) -> Priority {
        Priority::parse(&self.priority).unwrap_or(Priority::Normal)
    }
    pub fn card(&self) -> Card {
        Card::parse(&self.card).unwrap_or(Card::None)
    }
    pub fn clock(&self) -> ClockState {
        ClockState {
            started_at: self.clock_started_at,
            due_at: self.due_at,
            card: self.card(),
            next_sweep_at: self.next_sweep_at,
        }
    }
    pub fn place(&self, city_id: Option<Uuid>) -> wuwei_domain::access::Place {
        wuwei_domain::access::Place {
            city_id,
            town_id: Some(self.town_id),
            area_id: self.area_id,
            admin_village_id: self.admin_village_id,
            natural_village_id: self.natural_village_id,
            grid_id: self.grid_id,
            household_id: self.household_id,
        }
    }

    fn audit_view(&self) -> Value {
        json!({
            "number": self.number, "state": self.state, "priority": self.priority, "category_id": self.category_id,
            "unit_id": self.unit_id, "handler_id": self.handler_id, "card": self.card, "due_at": self.due_at,
            "escalation_level": self.escalation_level, "rating": self.rating, "version": self.version,
        })
    }
}

/// Where a case is, as resolved from its location.
#[derive(Debug, Clone, Copy, Default)]
pub struct CasePlace {
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct NewCase {
    pub id: Uuid,
    pub town_id: Uuid,
    pub short_code: String,
    pub category_id: Uuid,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub household_id: Option<Uuid>,
    pub place: CasePlace,
    pub source: Source,
    pub reporter_id: Option<Uuid>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    /// `Collected` (a draft) or `Reported`.
    pub state: CaseState,
    /// Where routing sends it (the dispatcher may choose another when dispatching).
    pub unit_id: Option<Uuid>,
    pub policy: rules::DeadlinePolicy,
    pub possible_duplicate_of: Option<Uuid>,
}

/// The next `n` readable numbers of a town's (local) day, atomically on both databases: one
/// statement moves the day's counter by `n`, whatever the size of the batch.
async fn next_numbers(tx: &Tx, town_id: Uuid, short_code: &str, now: DateTime<Utc>, n: usize) -> Result<Vec<String>> {
    let day = rules::local_day(now);
    let backend = tx.db().get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO day_counter (town_id, day, last_seq) VALUES ($1, $2, $3) \
             ON CONFLICT (town_id, day) DO UPDATE SET last_seq = day_counter.last_seq + $3 RETURNING last_seq"
        }
        _ => {
            "INSERT INTO day_counter (town_id, day, last_seq) VALUES (?1, ?2, ?3) \
             ON CONFLICT (town_id, day) DO UPDATE SET last_seq = day_counter.last_seq + ?3 RETURNING last_seq"
        }
    };
    let count = i32::try_from(n).map_err(|_| StoreError::Invariant("too many cases in one batch".into()))?;
    let row = tx
        .db()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [town_id.into(), day.to_string().into(), count.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Invariant("day counter returned no row".into()))?;
    let last: i32 = row.try_get("", "last_seq")?;
    Ok((last - count + 1..=last).map(|seq| rules::case_number(short_code, day, Ord::max(seq, 0) as u32)).collect())
}

pub struct EventDraft<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub from: Option<CaseState>,
    pub to: Option<CaseState>,
    pub note: Option<String>,
    pub data: Option<Value>,
}

fn event_model(town_id: Uuid, case_id: Uuid, at: DateTime<Utc>, e: EventDraft<'_>) -> EventRow {
    EventRow {
        town_id,
        id: Uuid::now_v7(),
        case_id,
        at,
        actor_id: e.actor.id,
        actor_name: e.actor.name.chars().take(64).collect(),
        action: e.action.to_string(),
        from_state: e.from.map(|s| s.as_str().to_string()),
        to_state: e.to.map(|s| s.as_str().to_string()),
        note: e.note,
        data: e.data.map(|d| d.to_string()),
    }
}

pub async fn add_event(tx: &Tx, town_id: Uuid, case_id: Uuid, at: DateTime<Utc>, e: EventDraft<'_>) -> Result<()> {
    event_model(town_id, case_id, at, e).into_active_model().insert(tx.db()).await?;
    Ok(())
}

pub async fn insert_case(tx: &mut Tx, actor: &Actor, now: DateTime<Utc>, new: NewCase) -> Result<CaseRow> {
    let mut rows = insert_new_cases(tx, now, vec![(actor.clone(), new)]).await?;
    // The callers go on to write rows that refer to the case.
    tx.flush().await?;
    rows.pop().map(|(row, _)| row).ok_or_else(|| StoreError::Invariant("a case without its row".into()))
}

/// New cases with their first timeline entries, audit entries and figures, numbered in the
/// order given: a few statements whatever their number (the intake's group commit writes a
/// batch of reports this way). Every case must be of one town. Returns each case with its
/// timeline entry, as written. The rows are queued ([`Tx::write_later`]): a caller that goes
/// on to write rows referring to them calls [`Tx::flush`] first.
pub async fn insert_new_cases(
    tx: &mut Tx,
    now: DateTime<Utc>,
    new: Vec<(Actor, NewCase)>,
) -> Result<Vec<(CaseRow, EventRow)>> {
    let Some((_, first)) = new.first() else { return Ok(Vec::new()) };
    // The rows answered are built here, not read back: with the time as the databases keep it.
    let now = crate::micros(now);
    let (town_id, short_code) = (first.town_id, first.short_code.clone());
    if new.iter().any(|(_, c)| c.town_id != town_id) {
        return Err(StoreError::Invariant("cases of more than one town in one insert".into()));
    }
    let numbers = next_numbers(tx, town_id, &short_code, now, new.len()).await?;
    let mut rows = Vec::with_capacity(new.len());
    let mut events = Vec::with_capacity(new.len());
    for ((actor, new), number) in new.into_iter().zip(numbers) {
        let reported = new.state == CaseState::Reported;
        let clock = if reported {
            rules::clock_after(
                ClockState::STOPPED,
                Action::Report,
                CaseState::Collected,
                CaseState::Reported,
                new.policy,
                now,
            )
        } else {
            ClockState::STOPPED
        };
        let row = CaseRow {
            town_id: new.town_id,
            id: new.id,
            number,
            category_id: new.category_id,
            priority: new.priority.as_str().to_string(),
            title: new.title,
            description: new.description,
            lat: new.lat,
            lon: new.lon,
            address: new.address,
            household_id: new.household_id,
            area_id: new.place.area_id,
            admin_village_id: new.place.admin_village_id,
            natural_village_id: new.place.natural_village_id,
            grid_id: new.place.grid_id,
            source: new.source.as_str().to_string(),
            reporter_id: new.reporter_id,
            reporter_name: new.reporter_name,
            reporter_phone: new.reporter_phone,
            unit_id: new.unit_id,
            handler_id: None,
            state: new.state.as_str().to_string(),
            card: clock.card.as_str().to_string(),
            escalation_level: 0,
            created_at: now,
            reported_at: reported.then_some(now),
            accepted_at: None,
            dispatched_at: None,
            started_at: None,
            resolved_at: None,
            closed_at: None,
            clock_started_at: clock.started_at,
            due_at: clock.due_at,
            next_sweep_at: clock.next_sweep_at,
            result_note: None,
            rating: None,
            rating_comment: None,
            rated_at: None,
            reopen_count: 0,
            merged_into_id: None,
            possible_duplicate_of: new.possible_duplicate_of,
            photo_count: 0,
            attachment_count: 0,
            updated_at: now,
            version: 1,
        };
        crate::figures::track(tx, None, &row);
        events.push(event_model(
            row.town_id,
            row.id,
            now,
            EventDraft {
                actor: &actor,
                action: if reported { "report" } else { "collect" },
                from: None,
                to: Some(row.state()),
                note: None,
                data: new.possible_duplicate_of.map(|d| json!({"possible_duplicate_of": d})),
            },
        ));
        tx.audit(AuditDraft {
            actor,
            action: "case.create".into(),
            entity_type: "case".into(),
            entity_id: row.id.to_string(),
            town_id: Some(row.town_id),
            before: None,
            after: Some(row.audit_view()),
        });
        rows.push(row);
    }
    // Queued: sent with the transaction's other writes at its next flush or commit.
    tx.insert_later(rows.iter().map(|c| c.clone().into_active_model()).collect::<Vec<_>>());
    tx.insert_later(events.iter().map(|e| e.clone().into_active_model()).collect::<Vec<_>>());
    Ok(rows.into_iter().zip(events).collect())
}

pub async fn case_by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<CaseRow>> {
    Ok(case::Entity::find().filter(case::Column::Id.eq(id)).one(db).await?)
}

pub async fn case_in_town(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<CaseRow>> {
    Ok(case::Entity::find_by_id((town_id, id)).one(db).await?)
}

pub async fn case_by_number(db: &impl ConnectionTrait, town_id: Uuid, number: &str) -> Result<Option<CaseRow>> {
    Ok(case::Entity::find()
        .filter(case::Column::TownId.eq(town_id))
        .filter(case::Column::Number.eq(number))
        .one(db)
        .await?)
}

/// What a transition changes besides the state.
#[derive(Debug, Clone, Default)]
pub struct TransitionChanges {
    pub unit_id: Option<Uuid>,
    pub handler_id: Option<Option<Uuid>>,
    pub result_note: Option<String>,
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    pub merged_into_id: Option<Uuid>,
    pub escalation_level: Option<i32>,
}

/// Move a case along the workflow (the domain has decided it may), if it is still at
/// `expected_version`: the case row, a timeline entry and an audit entry, together.
#[allow(clippy::too_many_arguments)]
pub async fn apply_transition(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: &CaseRow,
    expected_version: i32,
    action: Action,
    to: CaseState,
    policy: rules::DeadlinePolicy,
    changes: TransitionChanges,
    note: Option<String>,
) -> Result<CaseRow> {
    let from = current.state();
    let clock = rules::clock_after(current.clock(), action, from, to, policy, now);
    let mut am = current.clone().into_active_model();
    am.state = Set(to.as_str().to_string());
    am.clock_started_at = Set(clock.started_at);
    am.due_at = Set(clock.due_at);
    am.card = Set(clock.card.as_str().to_string());
    am.next_sweep_at = Set(clock.next_sweep_at);
    match (action, to) {
        (Action::Report, _) | (_, CaseState::Reported) if current.reported_at.is_none() => {
            am.reported_at = Set(Some(now))
        }
        _ => {}
    }
    match to {
        CaseState::Accepted if action == Action::Accept => am.accepted_at = Set(Some(now)),
        CaseState::Dispatched if matches!(action, Action::Dispatch | Action::Transfer | Action::Reopen) => {
            am.dispatched_at = Set(Some(now));
        }
        CaseState::InProgress if action == Action::Start => am.started_at = Set(Some(now)),
        CaseState::Resolved => am.resolved_at = Set(Some(now)),
        CaseState::Closed if action == Action::Close => am.closed_at = Set(Some(now)),
        _ => {}
    }
    if action == Action::Reopen {
        am.reopen_count = Set(current.reopen_count + 1);
        am.closed_at = Set(None);
        am.resolved_at = Set(None);
    }
    if let Some(u) = changes.unit_id {
        am.unit_id = Set(Some(u));
    }
    if let Some(h) = changes.handler_id {
        am.handler_id = Set(h);
    }
    if let Some(n) = &changes.result_note {
        am.result_note = Set(Some(n.clone()));
    }
    if let Some(r) = changes.rating {
        am.rating = Set(Some(i16::from(r)));
        am.rating_comment = Set(changes.rating_comment.clone());
        am.rated_at = Set(Some(now));
    }
    if let Some(m) = changes.merged_into_id {
        am.merged_into_id = Set(Some(m));
    }
    if let Some(l) = changes.escalation_level {
        am.escalation_level = Set(l);
    }
    am.updated_at = Set(now);
    am.version = Set(expected_version + 1);
    let res = case::Entity::update_many()
        .set(am)
        .filter(case::Column::TownId.eq(current.town_id))
        .filter(case::Column::Id.eq(current.id))
        .filter(case::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    if res.rows_affected == 0 {
        let row = found(case_in_town(tx.db(), current.town_id, current.id).await?)?;
        return Err(StoreError::VersionConflict { current: row.version });
    }
    let row = found(case_in_town(tx.db(), current.town_id, current.id).await?)?;
    crate::figures::track(tx, Some(current), &row);
    let data = json!({
        "unit_id": changes.unit_id, "rating": changes.rating, "merged_into_id": changes.merged_into_id,
        "result_note": changes.result_note, "rating_comment": changes.rating_comment,
    });
    add_event(
        tx,
        row.town_id,
        row.id,
        now,
        EventDraft {
            actor,
            action: action.as_str(),
            from: Some(from),
            to: Some(to),
            note,
            data: Some(strip_nulls(data)),
        },
    )
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: format!("case.{}", action.as_str()),
        entity_type: "case".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(current.audit_view()),
        after: Some(row.audit_view()),
    });
    Ok(row)
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// The merged case's reporters (its own and those merged into it before) follow the survivor.
pub async fn move_reporters(tx: &Tx, now: DateTime<Utc>, from: &CaseRow, into: &CaseRow) -> Result<()> {
    let mut carried: Vec<ReporterRow> = reporters(tx.db(), from.town_id, from.id).await?;
    carried.push(ReporterRow {
        town_id: from.town_id,
        case_id: into.id,
        from_case_id: from.id,
        user_id: from.reporter_id,
        name: from.reporter_name.clone(),
        phone: from.reporter_phone.clone(),
        created_at: now,
    });
    for r in carried {
        // Keyed by the case they came from; reporters carried from earlier merges keep theirs.
        let from_case_id = r.from_case_id;
        let exists = case_reporter::Entity::find_by_id((into.town_id, into.id, from_case_id)).one(tx.db()).await?;
        if exists.is_none() {
            case_reporter::ActiveModel {
                town_id: Set(into.town_id),
                case_id: Set(into.id),
                from_case_id: Set(from_case_id),
                user_id: Set(r.user_id),
                name: Set(r.name),
                phone: Set(r.phone),
                created_at: Set(now),
            }
            .insert(tx.db())
            .await?;
        }
    }
    Ok(())
}

pub async fn reporters(db: &impl ConnectionTrait, town_id: Uuid, case_id: Uuid) -> Result<Vec<ReporterRow>> {
    Ok(case_reporter::Entity::find()
        .filter(case_reporter::Column::TownId.eq(town_id))
        .filter(case_reporter::Column::CaseId.eq(case_id))
        .order_by_asc(case_reporter::Column::CreatedAt)
        .limit(500)
        .all(db)
        .await?)
}

/// Whether `user_id` reported the case or a case merged into it.
pub async fn is_reporter(db: &impl ConnectionTrait, c: &CaseRow, user_id: Uuid) -> Result<bool> {
    if c.reporter_id == Some(user_id) {
        return Ok(true);
    }
    Ok(case_reporter::Entity::find()
        .filter(case_reporter::Column::TownId.eq(c.town_id))
        .filter(case_reporter::Column::CaseId.eq(c.id))
        .filter(case_reporter::Column::UserId.eq(user_id))
        .count(db)
        .await?
        > 0)
}

pub async fn timeline(db: &impl ConnectionTrait, town_id: Uuid, case_id: Uuid) -> Result<Vec<EventRow>> {
    Ok(case_event::Entity::find()
        .filter(case_event::Column::TownId.eq(town_id))
        .filter(case_event::Column::CaseId.eq(case_id))
        .order_by_asc(case_event::Column::At)
        .order_by_asc(case_event::Column::Id)
        .limit(1000)
        .all(db)
        .await?)
}

/// The nearest open case of the same category within the duplicate radius and window.
pub async fn find_duplicate(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    category_id: Uuid,
    lat: f64,
    lon: f64,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    let (min_lat, min_lon, max_lat, max_lon) = rules::bounding_box(lat, lon, rules::DUPLICATE_RADIUS_M);
    let since = now - chrono::Duration::hours(rules::DUPLICATE_WINDOW_HOURS);
    // The state is checked here, not in the query, so that the query seeks the index
    // `cases_town_category_reported_place` (m0010) and filters by place inside it.
    let rows: Vec<(Uuid, String, Option<f64>, Option<f64>)> = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .column(case::Column::State)
        .column(case::Column::Lat)
        .column(case::Column::Lon)
        .filter(case::Column::TownId.eq(town_id))
        .filter(case::Column::CategoryId.eq(category_id))
        .filter(case::Column::ReportedAt.gte(since))
        .filter(case::Column::Lat.between(min_lat, max_lat))
        .filter(case::Column::Lon.between(min_lon, max_lon))
        .limit(200)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, state, _, _)| CaseState::parse(state).is_some_and(|s| s.is_open()))
        .filter_map(|(id, _, la, lo)| Some((id, rules::distance_m(lat, lon, la?, lo?))))
        .filter(|(_, d)| *d <= rules::DUPLICATE_RADIUS_M)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id))
}

// ---- listing ----

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub town_id: Option<Uuid>,
    pub states: Vec<CaseState>,
    pub category_ids: Vec<Uuid>,
    pub priority: Option<Priority>,
    pub card: Option<Card>,
    pub unit_id: Option<Uuid>,
    /// Inside this region (any level).
    pub region: Option<(Level, Uuid)>,
    pub source: Option<Source>,
    pub reporter_id: Option<Uuid>,
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only cases under a supervision order not yet fulfilled.
    pub supervised: bool,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub q: Option<String>,
}

/// Who may see which cases: inside a scope, assigned to one of the units, or reported by the user.
#[derive(Debug, Clone, Default)]
pub struct CaseVisibility {
    pub scopes: Vec<Scope>,
    /// Towns of city-level scopes.
    pub city_towns: Vec<Uuid>,
    pub unit_ids: Vec<Uuid>,
    pub reporter_id: Option<Uuid>,
}

fn level_column(level: Level) -> Option<case::Column> {
    match level {
        Level::Town => Some(case::Column::TownId),
        Level::Area => Some(case::Column::AreaId),
        Level::AdminVillage => Some(case::Column::AdminVillageId),
        Level::NaturalVillage => Some(case::Column::NaturalVillageId),
        Level::Grid => Some(case::Column::GridId),
        Level::Household => Some(case::Column::HouseholdId),
        Level::City => None,
    }
}

fn visibility_condition(v: &CaseVisibility) -> Condition {
    let mut any = Condition::any().add(never());
    for s in &v.scopes {
        let Some(id) = s.id() else { continue };
        match level_column(s.level) {
            Some(col) => any = any.add(col.eq(id)),
            None => any = any.add(case::Column::TownId.is_in(v.city_towns.clone())),
        }
    }
    if !v.unit_ids.is_empty() {
        any = any.add(case::Column::UnitId.is_in(v.unit_ids.clone()));
    }
    if let Some(r) = v.reporter_id {
        any = any.add(case::Column::ReporterId.eq(r));
    }
    any
}

/// Sort orders of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseSort {
    /// Most urgent first: nearest deadline, then newest.
    Due,
    Newest,
    Oldest,
}

pub async fn list_cases(
    db: &impl ConnectionTrait,
    filter: &CaseFilter,
    visibility: &CaseVisibility,
    sort: CaseSort,
    offset: u64,
    limit: u64,
) -> Result<(Vec<CaseRow>, u64)> {
    let mut cond = Condition::all().add(visibility_condition(visibility));
    if let Some(t) = filter.town_id {
        cond = cond.add(case::Column::TownId.eq(t));
    }
    if !filter.states.is_empty() {
        cond = cond.add(case::Column::State.is_in(filter.states.iter().map(|s| s.as_str().to_string())));
    }
    if !filter.category_ids.is_empty() {
        cond = cond.add(case::Column::CategoryId.is_in(filter.category_ids.clone()));
    }
    if let Some(p) = filter.priority {
        cond = cond.add(case::Column::Priority.eq(p.as_str()));
    }
    if let Some(c) = filter.card {
        cond = cond.add(case::Column::Card.eq(c.as_str()));
    }
    if let Some(u) = filter.unit_id {
        cond = cond.add(case::Column::UnitId.eq(u));
    }
    if let Some((level, id)) = filter.region {
        match level_column(level) {
            Some(col) => cond = cond.add(col.eq(id)),
            None => cond = cond.add(never()),
        }
    }
    if let Some(s) = filter.source {
        cond = cond.add(case::Column::Source.eq(s.as_str()));
    }
    if let Some(r) = filter.reporter_id {
        cond = cond.add(case::Column::ReporterId.eq(r));
    }
    if let Some(at) = filter.overdue_at {
        // The clock runs and its deadline has passed (the figures count "overdue now" alike).
        let running = CaseState::ALL.iter().filter(|s| rules::clock_in(**s) != Clock::Stopped);
        cond = cond
            .add(case::Column::DueAt.lte(at))
            .add(case::Column::State.is_in(running.map(|s| s.as_str().to_string())));
    }
    if filter.supervised {
        let open_orders = sea_orm::sea_query::Query::select()
            .column(supervision::Column::CaseId)
            .from(supervision::Entity)
            .and_where(supervision::Column::FulfilledAt.is_null())
            .to_owned();
        cond = cond.add(case::Column::Id.in_subquery(open_orders));
    }
    if let Some(f) = filter.from {
        cond = cond.add(case::Column::CreatedAt.gte(f));
    }
    if let Some(t) = filter.to {
        cond = cond.add(case::Column::CreatedAt.lt(t));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(case::Column::Number).like(like()))
                .add(Expr::col(case::Column::Title).like(like()))
                .add(Expr::col(case::Column::Address).like(like())),
        );
    }
    let query = case::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let query = match sort {
        CaseSort::Due => query
            .order_by_asc(Expr::col(case::Column::DueAt).is_null())
            .order_by_asc(case::Column::DueAt)
            .order_by_desc(case::Column::CreatedAt),
        CaseSort::Newest => query.order_by_desc(case::Column::CreatedAt),
        CaseSort::Oldest => query.order_by_asc(case::Column::CreatedAt),
    };
    let rows = query.order_by_asc(case::Column::Id).offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

/// Counts for the queue's tabs: open cases by state, and yellow, red and overdue ones.
#[derive(Debug, Clone, Default)]
pub struct QueueCounts {
    pub by_state: Vec<(CaseState, u64)>,
    pub yellow: u64,
    pub red: u64,
}

pub async fn queue_counts(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    visibility: &CaseVisibility,
) -> Result<QueueCounts> {
    let rows: Vec<(String, String, i64)> =
        case::Entity::find()
            .select_only()
            .column(case::Column::State)
            .column(case::Column::Card)
            .column_as(Expr::col(case::Column::Id).count(), "n")
            .filter(case::Column::TownId.eq(town_id))
            .filter(visibility_condition(visibility))
            .filter(case::Column::State.is_in(
                CaseState::ALL.iter().filter(|s| s.is_open() || **s == CaseState::Collected).map(|s| s.as_str()),
            ))
            .group_by(case::Column::State)
            .group_by(case::Column::Card)
            .into_tuple()
            .all(db)
            .await?;
    let mut out = QueueCounts::default();
    for (state, card, n) in rows {
        let n = Ord::max(n, 0) as u64;
        if let Some(s) = CaseState::parse(&state) {
            match out.by_state.iter_mut().find(|(x, _)| *x == s) {
                Some(slot) => slot.1 += n,
                None => out.by_state.push((s, n)),
            }
        }
        match card.as_str() {
            "yellow" => out.yellow += n,
            "red" => out.red += n,
            _ => {}
        }
    }
    Ok(out)
}

// ---- the sweeper ----

/// Cases whose deadline clock needs a look at `now`, oldest first, at most `limit`.
pub async fn due_for_sweep(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<CaseRow>> {
    Ok(case::Entity::find()
        .filter(case::Column::NextSweepAt.lte(now))
        .order_by_asc(case::Column::NextSweepAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// The sweeper's change to one case: a new card, and on escalation a new unit, level and clock.
#[derive(Debug, Clone)]
pub struct SweepChange {
    pub card: Card,
    pub escalate_to: Option<(Uuid, i32)>,
    pub clock: ClockState,
}

/// Apply a sweep change only if nobody changed the case since it was read: the sweeper never
/// acts twice, and never on a case that moved on. Returns the updated row, or `None` if skipped.
pub async fn apply_sweep(
    tx: &mut Tx,
    now: DateTime<Utc>,
    current: &CaseRow,
    change: &SweepChange,
) -> Result<Option<CaseRow>> {
    let mut am = current.clone().into_active_model();
    am.card = Set(change.card.as_str().to_string());
    am.clock_started_at = Set(change.clock.started_at);
    am.due_at = Set(change.clock.due_at);
    am.next_sweep_at = Set(change.clock.next_sweep_at);
    if let Some((unit, level)) = change.escalate_to {
        am.unit_id = Set(Some(unit));
        am.handler_id = Set(None);
        am.escalation_level = Set(level);
    }
    am.updated_at = Set(now);
    am.version = Set(current.version + 1);
    let res = case::Entity::update_many()
        .set(am)
        .filter(case::Column::TownId.eq(current.town_id))
        .filter(case::Column::Id.eq(current.id))
        .filter(case::Column::Version.eq(current.version))
        .exec(tx.db())
        .await?;
    if res.rows_affected == 0 {
        return Ok(None);
    }
    let actor = Actor::system("sweeper");
    let row = found(case_in_town(tx.db(), current.town_id, current.id).await?)?;
    crate::figures::track(tx, Some(current), &row);
    let card_action = match change.card {
        Card::Yellow => "yellow_card",
        Card::Red => "red_card",
        Card::None => "clock",
    };
    if change.card != current.card() {
        add_event(
            tx,
            row.town_id,
            row.id,
            now,
            EventDraft {
                actor: &actor,
                action: card_action,
                from: None,
                to: None,
                note: None,
                data: Some(json!({"due_at": current.due_at})),
            },
        )
        .await?;
    }
    if let Some((unit, level)) = change.escalate_to {
        add_event(
            tx,
            row.town_id,
            row.id,
            now,
            EventDraft {
                actor: &actor,
                action: "escalate",
                from: None,
                to: None,
                note: None,
                data: Some(json!({"from_unit_id": current.unit_id, "to_unit_id": unit, "level": level})),
            },
        )
        .await?;
    }
    tx.audit(AuditDraft {
        actor,
        action: if change.escalate_to.is_some() { "case.escalate".into() } else { format!("case.{card_action}") },
        entity_type: "case".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(current.audit_view()),
        after: Some(row.audit_view()),
    });
    Ok(Some(row))
}

// ---- supervision ----

pub async fn insert_supervision(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    c: &CaseRow,
    note: String,
    due_at: DateTime<Utc>,
) -> Result<SupervisionRow> {
    let row = supervision::ActiveModel {
        town_id: Set(c.town_id),
        id: Set(Uuid::now_v7()),
        case_id: Set(c.id),
        issued_by: Set(actor.id),
        issued_by_name: Set(actor.name.chars().take(64).collect()),
        note: Set(note.clone()),
        due_at: Set(due_at),
        card: Set(Card::None.as_str().to_string()),
        fulfilled_at: Set(None),
        created_at: Set(now),
    }
    .insert(tx.db())
    .await?;
    add_event(
        tx,
        c.town_id,
        c.id,
        now,
        EventDraft {
            actor,
            action: "supervise",
            from: None,
            to: None,
            note: Some(note),
            data: Some(json!({"due_at": due_at})),
        },
    )
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "case.supervise".into(),
        entity_type: "case".into(),
        entity_id: c.id.to_string(),
        town_id: Some(c.town_id),
        before: None,
        after: Some(json!({"supervision_id": row.id, "due_at": due_at})),
    });
    Ok(row)
}

pub async fn supervisions(db: &impl ConnectionTrait, town_id: Uuid, case_id: Uuid) -> Result<Vec<SupervisionRow>> {
    Ok(supervision::Entity::find()
        .filter(supervision::Column::TownId.eq(town_id))
        .filter(supervision::Column::CaseId.eq(case_id))
        .order_by_asc(supervision::Column::CreatedAt)
        .limit(100)
        .all(db)
        .await?)
}

/// Mark open supervision orders of a case fulfilled (when it is resolved or closed).
pub async fn fulfil_supervisions(tx: &Tx, town_id: Uuid, case_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    supervision::Entity::update_many()
        .col_expr(supervision::Column::FulfilledAt, Expr::value(now))
        .filter(supervision::Column::TownId.eq(town_id))
        .filter(supervision::Column::CaseId.eq(case_id))
        .filter(supervision::Column::FulfilledAt.is_null())
        .exec(tx.db())
        .await?;
    Ok(())
}

/// Open supervision orders past their deadline and not yet red.
pub async fn overdue_supervisions(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<SupervisionRow>> {
    Ok(supervision::Entity::find()
        .filter(supervision::Column::FulfilledAt.is_null())
        .filter(supervision::Column::DueAt.lte(now))
        .filter(supervision::Column::Card.ne("red"))
        .order_by_asc(supervision::Column::DueAt)
        .limit(limit)
        .all(db)
        .await?)
}

pub async fn mark_supervision_red(tx: &Tx, s: &SupervisionRow) -> Result<bool> {
    let res = supervision::Entity::update_many()
        .col_expr(supervision::Column::Card, Expr::value("red"))
        .filter(supervision::Column::TownId.eq(s.town_id))
        .filter(supervision::Column::Id.eq(s.id))
        .filter(supervision::Column::Card.ne("red"))
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected > 0)
}

// ---- attachments ----

pub struct NewAttachment {
    pub id: Uuid,
    pub kind: String,
    pub mime: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub thumb_sha256: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i32>,
}

pub async fn insert_attachment(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    c: &CaseRow,
    a: NewAttachment,
) -> Result<AttachmentRow> {
    let is_photo = a.kind == "photo";
    let row = attachment::ActiveModel {
        town_id: Set(c.town_id),
        id: Set(a.id),
        case_id: Set(c.id),
        kind: Set(a.kind),
        mime: Set(a.mime),
        size_bytes: Set(a.size_bytes),
        sha256: Set(a.sha256),
        thumb_sha256: Set(a.thumb_sha256),
        width: Set(a.width),
        height: Set(a.height),
        duration_ms: Set(a.duration_ms),
        created_by: Set(actor.id),
        created_at: Set(now),
    }
    .insert(tx.db())
    .await?;
    let mut update = case::Entity::update_many()
        .col_expr(case::Column::AttachmentCount, Expr::col(case::Column::AttachmentCount).add(1))
        .col_expr(case::Column::UpdatedAt, Expr::value(now));
    if is_photo {
        update = update.col_expr(case::Column::PhotoCount, Expr::col(case::Column::PhotoCount).add(1));
    }
    update.filter(case::Column::TownId.eq(c.town_id)).filter(case::Column::Id.eq(c.id)).exec(tx.db()).await?;
    add_event(
        tx,
        c.town_id,
        c.id,
        now,
        EventDraft {
            actor,
            action: "attach",
            from: None,
            to: None,
            note: None,
            data: Some(json!({"attachment_id": row.id, "kind": row.kind})),
        },
    )
    .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "case.attach".into(),
        entity_type: "case".into(),
        entity_id: c.id.to_string(),
        town_id: Some(c.town_id),
        before: None,
        after: Some(
            json!({"attachment_id": row.id, "kind": row.kind, "sha256": row.sha256, "size_bytes": row.size_bytes}),
        ),
    });
    Ok(row)
}

pub async fn attachments(db: &impl ConnectionTrait, town_id: Uuid, case_id: Uuid) -> Result<Vec<AttachmentRow>> {
    Ok(attachment::Entity::find()
        .filter(attachment::Column::TownId.eq(town_id))
        .filter(attachment::Column::CaseId.eq(case_id))
        .order_by_asc(attachment::Column::CreatedAt)
        .limit(100)
        .all(db)
        .await?)
}

pub async fn attachment(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<AttachmentRow>> {
    Ok(attachment::Entity::find().filter(attachment::Column::Id.eq(id)).one(db).await?)
}

// ---- the public view (Open311) ----

/// Which of a town's cases the public view (Open311 GeoReport v2) asks for.
#[derive(Debug, Clone, Default)]
pub struct PublicCaseQuery {
    /// States to include; none given means no cases.
    pub states: Vec<CaseState>,
    /// Categories to include; none given means no cases.
    pub category_ids: Vec<Uuid>,
    /// Only these readable numbers, when any are given.
    pub numbers: Vec<String>,
    /// Reported at or after.
    pub reported_from: Option<DateTime<Utc>>,
    /// Reported at or before.
    pub reported_until: Option<DateTime<Utc>>,
}

/// A town's reported cases for the public view, the most recently reported first, at most
/// `limit`. Cases never reported (drafts) have no `reported_at` and never appear.
pub async fn public_cases(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    q: &PublicCaseQuery,
    limit: u64,
) -> Result<Vec<CaseRow>> {
    if q.states.is_empty() || q.category_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut cond = Condition::all()
        .add(case::Column::TownId.eq(town_id))
        .add(case::Column::State.is_in(q.states.iter().map(|s| s.as_str())))
        .add(case::Column::CategoryId.is_in(q.category_ids.clone()))
        .add(case::Column::ReportedAt.is_not_null());
    if !q.numbers.is_empty() {
        cond = cond.add(case::Column::Number.is_in(q.numbers.clone()));
    }
    if let Some(f) = q.reported_from {
        cond = cond.add(case::Column::ReportedAt.gte(f));
    }
    if let Some(u) = q.reported_until {
        cond = cond.add(case::Column::ReportedAt.lte(u));
    }
    Ok(case::Entity::find()
        .filter(cond)
        .order_by_desc(case::Column::ReportedAt)
        .order_by_desc(case::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The readable numbers of some of a town's cases, by id.
pub async fn numbers_of(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .column(case::Column::Number)
        .filter(case::Column::TownId.eq(town_id))
        .filter(case::Column::Id.is_in(ids.to_vec()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

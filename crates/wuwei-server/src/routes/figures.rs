//! Case figures (事件统计) over HTTP: time to accept and to resolve (median and 90th
//! percentile), share closed on time, satisfaction, open and overdue cases, in total and by
//! category, admin village, handling unit, source or month, with a comparison of two periods;
//! and the same as an .xlsx workbook.
//!
//! The sums come from the store's daily rollup (see `wuwei_store::figures`), so the answer
//! costs the same for a thousand cases or a million. Who sees what: callers with `cases.read`
//! over the whole town see the town (optionally one admin village of it); callers with
//! `cases.read` over admin villages or an area see those villages; a town the caller cannot
//! see at all is 404, one they see but hold no figures scope in (grid workers, peacemakers) is
//! 403.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission};
use wuwei_domain::case as case_rules;
use wuwei_domain::figures::{self as rules, Counters};
use wuwei_domain::validate::Rule;
use wuwei_store::figures::{self as store, FigureScope, GroupBy, NowCounts};
use wuwei_store::{catalog, regions};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The longest period (and comparison period) asked at once, in days.
pub const MAX_DAYS: i64 = 3 * 366;
/// The default period: the last 30 days up to today.
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresParams {
    pub town_id: Uuid,
    /// First day, `YYYY-MM-DD`, the town's local date (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, inclusive (default: today). At most 3 years after `from`.
    pub to: Option<String>,
    /// `category` (default), `admin_village`, `unit`, `source` or `month`.
    pub group_by: Option<String>,
    /// The period to compare with (both or neither; default: the same number of days just
    /// before `from`).
    pub compare_from: Option<String>,
    pub compare_to: Option<String>,
    /// Only this admin village of the town.
    pub admin_village_id: Option<Uuid>,
}

/// The figures of a set of cases.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Figures {
    /// Cases reported in the period.
    pub reported: i64,
    /// Cases accepted in the period (time to accept counts these).
    pub accepted: i64,
    /// Cases resolved in the period (time to resolve counts these).
    pub resolved: i64,
    /// Cases closed in the period.
    pub closed: i64,
    /// Of those, closed on time (never carded red, resolved by the running deadline).
    pub closed_on_time: i64,
    /// Of the cases reported in the period, how many ended rejected or merged.
    pub rejected: i64,
    pub merged: i64,
    /// `closed_on_time / closed`, 0–1.
    pub on_time_share: Option<f64>,
    /// From report to acceptance, minutes.
    pub accept_p50_minutes: Option<f64>,
    pub accept_p90_minutes: Option<f64>,
    pub accept_mean_minutes: Option<f64>,
    /// From report to resolution, hours.
    pub resolve_p50_hours: Option<f64>,
    pub resolve_p90_hours: Option<f64>,
    pub resolve_mean_hours: Option<f64>,
    /// Mean rating (1–5) of the ratings given in the period.
    pub satisfaction: Option<f64>,
    pub rated: i64,
    /// Open now (not bound to the period); absent for months.
    pub open: Option<i64>,
    /// Open, on the clock and past the deadline or carded red, now; absent for months.
    pub overdue: Option<i64>,
}

impl Figures {
    fn of(c: &Counters, now: Option<NowCounts>) -> Figures {
        let minutes = |s: Option<f64>| s.map(|s| rules::round_to(s / 60.0, 1));
        let hours = |s: Option<f64>| s.map(|s| rules::round_to(s / 3600.0, 2));
        Figures {
            reported: c.reported,
            accepted: c.accepted,
            resolved: c.resolved,
            closed: c.closed,
            closed_on_time: c.closed_on_time,
            rejected: c.rejected,
            merged: c.merged,
            on_time_share: c.on_time_share().map(|x| rules::round_to(x, 3)),
            accept_p50_minutes: minutes(c.accept_hist.percentile(0.5)),
            accept_p90_minutes: minutes(c.accept_hist.percentile(0.9)),
            accept_mean_minutes: minutes(c.accept_mean_secs()),
            resolve_p50_hours: hours(c.resolve_hist.percentile(0.5)),
            resolve_p90_hours: hours(c.resolve_hist.percentile(0.9)),
            resolve_mean_hours: hours(c.resolve_mean_secs()),
            satisfaction: c.satisfaction().map(|x| rules::round_to(x, 2)),
            rated: c.rating_count,
            open: now.map(|n| n.open),
            overdue: now.map(|n| n.overdue),
        }
    }
}

/// One group's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FigureGroup {
    /// The category, admin village or unit id, the source name, or the month `YYYY-MM`; empty
    /// for cases without an admin village or unit.
    pub key: String,
    pub code: Option<String>,
    pub name: String,
    pub name_en: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: i64,
}

/// How this period differs from the other.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Changes {
    /// Percent, to one decimal: negative is fewer or faster.
    pub reported_change_pct: Option<f64>,
    pub closed_change_pct: Option<f64>,
    pub accept_p50_change_pct: Option<f64>,
    pub accept_p90_change_pct: Option<f64>,
    pub resolve_p50_change_pct: Option<f64>,
    pub resolve_p90_change_pct: Option<f64>,
    pub resolve_mean_change_pct: Option<f64>,
    /// Percentage points.
    pub on_time_share_change_points: Option<f64>,
    /// Rating points.
    pub satisfaction_change: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    pub period: Period,
    /// The other period's figures (no "now" counts).
    pub totals: Figures,
    pub changes: Changes,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FigureScopeDto {
    /// `town` or `admin_village` (some villages of it).
    pub kind: String,
    pub admin_village_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseFigures {
    pub town_id: Uuid,
    pub scope: FigureScopeDto,
    pub period: Period,
    pub group_by: String,
    pub totals: Figures,
    pub groups: Vec<FigureGroup>,
    pub comparison: Comparison,
    /// When "now" (open, overdue) was.
    pub as_of: DateTime<Utc>,
    /// Percentiles are read from log-scale buckets of this ratio: an estimate lies in the same
    /// bucket as the exact value, so within this factor of it (typically within a few percent).
    pub percentile_bucket_ratio: f64,
}

pub(crate) fn bad_query(field: &'static str, rule: Rule) -> ApiError {
    let mut e = ApiError::field(field, rule);
    e.status = StatusCode::BAD_REQUEST;
    e.code = "invalid_query";
    e
}

pub(crate) fn parse_day(field: &'static str, v: &str) -> ApiResult<NaiveDate> {
    let d = NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| bad_query(field, Rule::Format { expected: "YYYY-MM-DD" }))?;
    if !(2000..=2200).contains(&d.year()) {
        return Err(bad_query(field, Rule::OutOfRange { min: 2000, max: 2200 }));
    }
    Ok(d)
}

fn period(from: NaiveDate, to: NaiveDate, from_field: &'static str, to_field: &'static str) -> ApiResult<Period> {
    if from > to {
        return Err(bad_query(from_field, Rule::NotAllowed { reason: "from_after_to" }));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_DAYS {
        return Err(bad_query(to_field, Rule::OutOfRange { min: 1, max: MAX_DAYS }));
    }
    Ok(Period { from, to, days })
}

/// The periods asked for: this one and the one to compare with.
fn periods(p: &FiguresParams, today: NaiveDate) -> ApiResult<(Period, Period)> {
    let to = p.to.as_deref().map(|v| parse_day("to", v)).transpose()?.unwrap_or(today);
    let from = match p.from.as_deref() {
        Some(v) => parse_day("from", v)?,
        None => to - chrono::Duration::days(DEFAULT_DAYS - 1),
    };
    let this = period(from, to, "from", "to")?;
    let other = match (p.compare_from.as_deref(), p.compare_to.as_deref()) {
        (Some(a), Some(b)) => {
            period(parse_day("compare_from", a)?, parse_day("compare_to", b)?, "compare_from", "compare_to")?
        }
        (None, None) => {
            let to = from - chrono::Duration::days(1);
            period(to - chrono::Duration::days(this.days - 1), to, "from", "to")?
        }
        (Some(_), None) => return Err(bad_query("compare_to", Rule::Required)),
        (None, Some(_)) => return Err(bad_query("compare_from", Rule::Required)),
    };
    Ok((this, other))
}

/// Whose figures the caller may read in the town (see the module comment).
async fn scope(state: &AppState, auth: &Auth, town_id: Uuid, village: Option<Uuid>) -> ApiResult<FigureScope> {
    let db = state.store().db();
    if !crate::dto::visible_town_ids(state, &auth.principal).await?.contains(&town_id) {
        return Err(ApiError::not_found());
    }
    let town = regions::region_in_town(db, town_id, town_id).await?.ok_or_else(ApiError::not_found)?;
    let p = &auth.principal;
    let allowed: Option<Vec<Uuid>> = if p.can(Permission::CasesRead, &town.place()) {
        None
    } else {
        let mut v = BTreeSet::new();
        for s in p.scopes_with(Permission::CasesRead).iter().filter(|s| s.place.town_id == Some(town_id)) {
            match (s.level, s.id()) {
                (Level::AdminVillage, Some(id)) => {
                    v.insert(id);
                }
                (Level::Area, Some(id)) => v.extend(store::villages_of_area(db, town_id, id).await?),
                _ => {}
            }
        }
        if v.is_empty() {
            return Err(ApiError::forbidden());
        }
        Some(v.into_iter().collect())
    };
    let villages = match (village, allowed) {
        (None, allowed) => allowed,
        (Some(av), Some(allowed)) if allowed.contains(&av) => Some(vec![av]),
        (Some(_), Some(_)) => return Err(ApiError::not_found()),
        (Some(av), None) => {
            let r = regions::region_in_town(db, town_id, av).await?;
            if r.is_none_or(|r| r.kind != "admin_village") {
                return Err(bad_query("admin_village_id", Rule::UnknownReference));
            }
            Some(vec![av])
        }
    };
    Ok(FigureScope { town_id, villages })
}

const SOURCE_NAMES: &[(&str, &str, &str)] = &[
    ("grid_worker", "网格员上报", "Grid worker"),
    ("resident", "群众上报", "Resident"),
    ("one_click_call", "一键呼应", "One-click call"),
    ("camera", "视频监控", "Camera"),
    ("hotline", "热线电话", "Hotline"),
    ("inspection", "巡查发现", "Inspection"),
    ("open311", "Open311", "Open311"),
    ("staff", "工作人员", "Staff"),
];

/// Names of group keys: `(code, name, name_en)`.
async fn labels(state: &AppState, town_id: Uuid, by: GroupBy, keys: &[String]) -> ApiResult<HashMap<String, Label>> {
    let db = state.store().db();
    let mut out = HashMap::new();
    let none = |zh: &str, en: &str| Label { code: None, name: zh.to_string(), name_en: Some(en.to_string()) };
    match by {
        GroupBy::Category => {
            for c in catalog::categories(db, town_id).await? {
                out.insert(c.id.to_string(), Label { code: Some(c.code), name: c.name, name_en: Some(c.name_en) });
            }
        }
        GroupBy::AdminVillage => {
            let ids: Vec<Uuid> = keys.iter().filter_map(|k| Uuid::parse_str(k).ok()).collect();
            for (id, name) in regions::names_of(db, &ids).await? {
                out.insert(id.to_string(), Label { code: None, name, name_en: None });
            }
            out.insert(String::new(), none("未定位", "No village"));
        }
        GroupBy::Unit => {
            for u in catalog::units(db, town_id).await? {
                out.insert(u.id.to_string(), Label { code: Some(u.code), name: u.name, name_en: None });
            }
            out.insert(String::new(), none("未分拨", "Not dispatched"));
        }
        GroupBy::Source => {
            for (code, zh, en) in SOURCE_NAMES {
                out.insert(
                    code.to_string(),
                    Label { code: Some(code.to_string()), name: zh.to_string(), name_en: Some(en.to_string()) },
                );
            }
        }
        GroupBy::Month => {}
    }
    Ok(out)
}

struct Label {
    code: Option<String>,
    name: String,
    name_en: Option<String>,
}

fn changes(this: &Counters, other: &Counters) -> Changes {
    let pct = |a: Option<f64>, b: Option<f64>| rules::change_pct(a, b);
    let n = |x: i64| Some(x as f64);
    Changes {
        reported_change_pct: pct(n(this.reported), n(other.reported)),
        closed_change_pct: pct(n(this.closed), n(other.closed)),
        accept_p50_change_pct: pct(this.accept_hist.percentile(0.5), other.accept_hist.percentile(0.5)),
        accept_p90_change_pct: pct(this.accept_hist.percentile(0.9), other.accept_hist.percentile(0.9)),
        resolve_p50_change_pct: pct(this.resolve_hist.percentile(0.5), other.resolve_hist.percentile(0.5)),
        resolve_p90_change_pct: pct(this.resolve_hist.percentile(0.9), other.resolve_hist.percentile(0.9)),
        resolve_mean_change_pct: pct(this.resolve_mean_secs(), other.resolve_mean_secs()),
        on_time_share_change_points: match (this.on_time_share(), other.on_time_share()) {
            (Some(a), Some(b)) => Some(rules::round_to((a - b) * 100.0, 1)),
            _ => None,
        },
        satisfaction_change: match (this.satisfaction(), other.satisfaction()) {
            (Some(a), Some(b)) => Some(rules::round_to(a - b, 2)),
            _ => None,
        },
    }
}

/// Compute the figures the parameters ask for.
async fn compute(state: &AppState, auth: &Auth, p: &FiguresParams) -> ApiResult<CaseFigures> {
    let group_by = p.group_by.as_deref().unwrap_or("category");
    let by = GroupBy::parse(group_by).ok_or_else(|| {
        bad_query("group_by", Rule::OneOf { allowed: GroupBy::NAMES.iter().map(|s| s.to_string()).collect() })
    })?;
    let now = state.now();
    let (this, other) = periods(p, case_rules::local_day(now))?;
    let scope = scope(state, auth, p.town_id, p.admin_village_id).await?;
    let db = state.store().db();
    let totals = store::sums(db, &scope, this.from, this.to, None).await?.pop().map(|(_, c)| c).unwrap_or_default();
    let previous = store::sums(db, &scope, other.from, other.to, None).await?.pop().map(|(_, c)| c).unwrap_or_default();
    let now_total = store::now_counts(db, &scope, None, now).await?.pop().map(|(_, n)| n).unwrap_or_default();
    let mut groups: Vec<(String, Counters)> = store::sums(db, &scope, this.from, this.to, Some(by)).await?;
    let now_groups: HashMap<String, NowCounts> = if by == GroupBy::Month {
        HashMap::new()
    } else {
        store::now_counts(db, &scope, Some(by), now).await?.into_iter().collect()
    };
    for k in now_groups.keys() {
        if !groups.iter().any(|(g, _)| g == k) {
            groups.push((k.clone(), Counters::default()));
        }
    }
    let keys: Vec<String> = groups.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(state, p.town_id, by, &keys).await?;
    let mut rows: Vec<FigureGroup> = groups
        .iter()
        .map(|(k, c)| {
            let label = names.get(k);
            let now = (by != GroupBy::Month).then(|| now_groups.get(k).copied().unwrap_or_default());
            FigureGroup {
                key: k.clone(),
                code: label.and_then(|l| l.code.clone()),
                name: label.map(|l| l.name.clone()).unwrap_or_else(|| k.clone()),
                name_en: label.and_then(|l| l.name_en.clone()),
                figures: Figures::of(c, now),
            }
        })
        .collect();
    if by == GroupBy::Month {
        rows.sort_by(|a, b| a.key.cmp(&b.key));
    } else {
        rows.sort_by(|a, b| b.figures.reported.cmp(&a.figures.reported).then_with(|| a.name.cmp(&b.name)));
    }
    Ok(CaseFigures {
        town_id: p.town_id,
        scope: FigureScopeDto {
            kind: if scope.villages.is_some() { "admin_village" } else { "town" }.to_string(),
            admin_village_ids: scope.villages.clone().unwrap_or_default(),
        },
        period: this,
        group_by: group_by.to_string(),
        totals: Figures::of(&totals, Some(now_total)),
        groups: rows,
        comparison: Comparison {
            period: other,
            totals: Figures::of(&previous, None),
            changes: changes(&totals, &previous),
        },
        as_of: now,
        percentile_bucket_ratio: 1.25,
    })
}

/// Case figures of a town (or of the admin villages the caller oversees) for a period, in
/// total and by group, with a comparison to another period.
#[utoipa::path(get, path = "/api/v1/figures/cases", tag = "figures", params(FiguresParams),
    responses((status = 200, body = CaseFigures),
        (status = 400, body = crate::error::ErrorBody, description = "A bad date, `from` after `to`, a period over 3 years, an unknown `group_by`"),
        (status = 403, body = crate::error::ErrorBody, description = "No figures scope in this town (grid workers)"),
        (status = 404, body = crate::error::ErrorBody, description = "A town (or admin village) the caller cannot see")))]
pub async fn case_figures(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<FiguresParams>,
) -> ApiResult<Json<CaseFigures>> {
    Ok(Json(compute(&state, &auth, &p).await?))
}

/// The same figures as an .xlsx workbook: a summary, the groups and the comparison, with
/// Chinese headers over English ones.
#[utoipa::path(get, path = "/api/v1/figures/cases.xlsx", tag = "figures", params(FiguresParams),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String,
            description = "The workbook (as an attachment)"),
        (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn case_figures_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<FiguresParams>,
) -> ApiResult<Response> {
    let f = compute(&state, &auth, &p).await?;
    let town = regions::region_in_town(state.store().db(), p.town_id, p.town_id).await?;
    let town_name = town.map(|t| t.name).unwrap_or_default();
    let bytes = workbook(&f, &town_name).map_err(|e| {
        tracing::error!(error = %e, "cannot write the figures workbook");
        ApiError::internal()
    })?;
    let stem = format!("{}-{}", f.period.from, f.period.to);
    let disposition = format!(
        "attachment; filename=\"case-figures-{stem}.xlsx\"; filename*=UTF-8''{}",
        encode_rfc5987(&format!("{town_name}事件统计-{stem}.xlsx"))
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    );
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(|_| ApiError::internal())?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Percent-encode for `filename*=UTF-8''…` (RFC 5987 `attr-char` kept as is).
pub(crate) fn encode_rfc5987(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The metrics of the workbook: (zh, en, value).
fn metric_rows(f: &Figures) -> Vec<(&'static str, &'static str, Option<f64>)> {
    let n = |x: i64| Some(x as f64);
    vec![
        ("上报", "Reported", n(f.reported)),
        ("受理", "Accepted", n(f.accepted)),
        ("办结", "Resolved", n(f.resolved)),
        ("核查销号", "Closed", n(f.closed)),
        ("按时办结", "Closed on time", n(f.closed_on_time)),
        ("按时办结率", "On-time share", f.on_time_share),
        ("不予受理", "Rejected", n(f.rejected)),
        ("合并", "Merged", n(f.merged)),
        ("受理用时中位数（分钟）", "Time to accept, median (min)", f.accept_p50_minutes),
        ("受理用时P90（分钟）", "Time to accept, p90 (min)", f.accept_p90_minutes),
        ("受理用时平均（分钟）", "Time to accept, mean (min)", f.accept_mean_minutes),
        ("办结用时中位数（小时）", "Time to resolve, median (h)", f.resolve_p50_hours),
        ("办结用时P90（小时）", "Time to resolve, p90 (h)", f.resolve_p90_hours),
        ("办结用时平均（小时）", "Time to resolve, mean (h)", f.resolve_mean_hours),
        ("满意度（1–5）", "Satisfaction (1–5)", f.satisfaction),
        ("评价数", "Rated", n(f.rated)),
    ]
}

type Sheet = rust_xlsxwriter::Worksheet;

fn put(ws: &mut Sheet, row: u32, col: u16, v: Option<f64>) -> Result<(), rust_xlsxwriter::XlsxError> {
    if let Some(v) = v {
        ws.write_number(row, col, v)?;
    }
    Ok(())
}

/// Write the workbook.
fn workbook(f: &CaseFigures, town_name: &str) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let bold = Format::new().set_bold();
    let mut wb = Workbook::new();
    let scope =
        if f.scope.kind == "town" { "全镇 whole town" } else { "所辖行政村 the caller's admin villages" };
    let period = |p: &Period| format!("{} – {}", p.from, p.to);

    let ws = wb.add_worksheet();
    ws.set_name("概况 Summary")?;
    ws.write_string_with_format(0, 0, format!("{town_name} 事件统计 Case figures"), &bold)?;
    ws.write_string(1, 0, "统计期间 Period")?;
    ws.write_string(1, 1, period(&f.period))?;
    ws.write_string(2, 0, "范围 Scope")?;
    ws.write_string(2, 1, scope)?;
    ws.write_string(3, 0, "生成时间 Generated")?;
    ws.write_string(3, 1, f.as_of.to_rfc3339())?;
    ws.write_string_with_format(5, 0, "指标", &bold)?;
    ws.write_string_with_format(5, 1, "Metric", &bold)?;
    ws.write_string_with_format(5, 2, "本期 This period", &bold)?;
    let mut row = 6;
    for (zh, en, v) in metric_rows(&f.totals) {
        ws.write_string(row, 0, zh)?;
        ws.write_string(row, 1, en)?;
        put(ws, row, 2, v)?;
        row += 1;
    }
    for (zh, en, v) in [("当前在办", "Open now", f.totals.open), ("当前超期", "Overdue now", f.totals.overdue)]
    {
        ws.write_string(row, 0, zh)?;
        ws.write_string(row, 1, en)?;
        put(ws, row, 2, v.map(|x| x as f64))?;
        row += 1;
    }
    ws.set_column_width(0, 26)?;
    ws.set_column_width(1, 30)?;
    ws.set_column_width(2, 18)?;

    let ws = wb.add_worksheet();
    ws.set_name("分组 By group")?;
    let headers: [(&str, &str); 17] = [
        ("分组", "Group"),
        ("代码", "Code"),
        ("上报", "Reported"),
        ("受理", "Accepted"),
        ("办结", "Resolved"),
        ("核查销号", "Closed"),
        ("按时办结", "Closed on time"),
        ("按时办结率", "On-time share"),
        ("受理用时中位数（分钟）", "Accept p50 (min)"),
        ("受理用时P90（分钟）", "Accept p90 (min)"),
        ("办结用时中位数（小时）", "Resolve p50 (h)"),
        ("办结用时P90（小时）", "Resolve p90 (h)"),
        ("满意度", "Satisfaction"),
        ("评价数", "Rated"),
        ("当前在办", "Open now"),
        ("当前超期", "Overdue now"),
        ("键", "Key"),
    ];
    for (i, (zh, en)) in headers.iter().enumerate() {
        let col = i as u16;
        ws.write_string_with_format(0, col, *zh, &bold)?;
        ws.write_string_with_format(1, col, *en, &bold)?;
    }
    let total_row = ("合计 Total".to_string(), None, &f.totals, String::new());
    let rows = f
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.code.clone(), &g.figures, g.key.clone()))
        .chain(std::iter::once(total_row));
    for (i, (name, code, fig, key)) in rows.enumerate() {
        let r = 2 + i as u32;
        ws.write_string(r, 0, name)?;
        if let Some(c) = code {
            ws.write_string(r, 1, c)?;
        }
        let values = [
            Some(fig.reported as f64),
            Some(fig.accepted as f64),
            Some(fig.resolved as f64),
            Some(fig.closed as f64),
            Some(fig.closed_on_time as f64),
            fig.on_time_share,
            fig.accept_p50_minutes,
            fig.accept_p90_minutes,
            fig.resolve_p50_hours,
            fig.resolve_p90_hours,
            fig.satisfaction,
            Some(fig.rated as f64),
            fig.open.map(|x| x as f64),
            fig.overdue.map(|x| x as f64),
        ];
        for (j, v) in values.into_iter().enumerate() {
            put(ws, r, 2 + j as u16, v)?;
        }
        ws.write_string(r, 16, key)?;
    }
    ws.set_column_width(0, 24)?;

    let ws = wb.add_worksheet();
    ws.set_name("对比 Comparison")?;
    ws.write_string(0, 0, "本期 This period")?;
    ws.write_string(0, 1, period(&f.period))?;
    ws.write_string(1, 0, "对比期 Compared with")?;
    ws.write_string(1, 1, period(&f.comparison.period))?;
    for (col, (zh, en)) in
        [("指标", "Metric"), ("", ""), ("本期", "This period"), ("对比期", "Other period"), ("变化（%）", "Change (%)")]
            .iter()
            .enumerate()
    {
        ws.write_string_with_format(3, col as u16, *zh, &bold)?;
        ws.write_string_with_format(4, col as u16, *en, &bold)?;
    }
    let c = &f.comparison.changes;
    let change_of = |en: &str| -> Option<f64> {
        match en {
            "Reported" => c.reported_change_pct,
            "Closed" => c.closed_change_pct,
            "Time to accept, median (min)" => c.accept_p50_change_pct,
            "Time to accept, p90 (min)" => c.accept_p90_change_pct,
            "Time to resolve, median (h)" => c.resolve_p50_change_pct,
            "Time to resolve, p90 (h)" => c.resolve_p90_change_pct,
            "Time to resolve, mean (h)" => c.resolve_mean_change_pct,
            _ => None,
        }
    };
    let mut row = 5;
    for ((zh, en, this), (_, _, other)) in metric_rows(&f.totals).into_iter().zip(metric_rows(&f.comparison.totals)) {
        ws.write_string(row, 0, zh)?;
        ws.write_string(row, 1, en)?;
        put(ws, row, 2, this)?;
        put(ws, row, 3, other)?;
        put(ws, row, 4, change_of(en))?;
        row += 1;
    }
    ws.write_string(row + 1, 0, "按时办结率变化（百分点）")?;
    ws.write_string(row + 1, 1, "On-time share change (points)")?;
    put(ws, row + 1, 4, c.on_time_share_change_points)?;
    ws.write_string(row + 2, 0, "满意度变化")?;
    ws.write_string(row + 2, 1, "Satisfaction change")?;
    put(ws, row + 2, 4, c.satisfaction_change)?;
    ws.set_column_width(0, 26)?;
    ws.set_column_width(1, 30)?;
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_percent_encoded() {
        assert_eq!(encode_rfc5987("a b.xlsx"), "a%20b.xlsx");
        assert_eq!(encode_rfc5987("统计"), "%E7%BB%9F%E8%AE%A1");
    }
}

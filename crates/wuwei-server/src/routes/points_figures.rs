//! Points figures (积分统计): points issued and deducted by category, village and month; points
//! redeemed and the cash value of the goods (the article's "more than ¥12,000"); each village's
//! red list (红榜); the month's star households (星级户); households with no points activity in
//! the period (to be visited). Everything is computed from the posted awards and the
//! redemptions, which are the ledger's postings with their reasons. JSON and .xlsx.
//!
//! Who sees what: `points.read` over the whole town sees the town (optionally one admin village
//! of it); `points.read` over a village or below sees that village.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Level, Permission};
use wuwei_domain::points::cap::{china_date, china_midnight};
use wuwei_domain::points::rulebook::Category;
use wuwei_domain::validate::Rule;
use wuwei_store::points_awards as awards_store;
use wuwei_store::points_figures::{self as store, MAX_ROWS};
use wuwei_store::regions;

use crate::auth::Auth;
use crate::dto::RefDto;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::routes::figures::{bad_query, parse_day};
use crate::routes::points::{HouseholdRefDto, household_refs, town_of};
use crate::state::AppState;

/// At most two years at once.
pub const MAX_DAYS: i64 = 2 * 366;
/// The red list and the star households show this many per village / month.
pub const TOP: usize = 10;
/// Households with no activity: at most this many listed (all are counted).
pub const MAX_INACTIVE_LISTED: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PointsFiguresParams {
    /// Defaults to the caller's town.
    pub town_id: Option<Uuid>,
    /// First day (China date, `YYYY-MM-DD`; default: 364 days before `to`).
    pub from: Option<String>,
    /// Last day, inclusive (default: today).
    pub to: Option<String>,
    /// Only this admin village.
    pub village_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryFigure {
    pub category: String,
    pub name_zh: String,
    pub name_en: String,
    pub issued: i64,
    /// Points deducted (positive).
    pub deducted: i64,
    pub awards: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VillageFigure {
    pub village: RefDto,
    pub issued: i64,
    pub deducted: i64,
    pub redeemed: i64,
    pub value_fen: i64,
    pub households: u64,
    /// Households with any award or redemption in the period.
    pub active_households: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthFigure {
    /// `YYYY-MM` (China time).
    pub month: String,
    pub issued: i64,
    pub deducted: i64,
    pub redeemed: i64,
    pub value_fen: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankedHousehold {
    pub rank: u64,
    pub household: HouseholdRefDto,
    pub balance: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedList {
    pub village: RefDto,
    pub households: Vec<RankedHousehold>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StarHousehold {
    pub household: HouseholdRefDto,
    pub earned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stars {
    /// `YYYY-MM`: the last month of the period.
    pub month: String,
    pub households: Vec<StarHousehold>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Inactive {
    pub count: u64,
    /// The first of them by code (at most 500).
    pub households: Vec<HouseholdRefDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointsFigures {
    pub town_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub issued_total: i64,
    pub deducted_total: i64,
    pub redeemed_total: i64,
    /// Cash value of the goods redeemed, in fen (分): divide by 100 for yuan.
    pub value_fen_total: i64,
    pub awards_posted: u64,
    pub redemptions: u64,
    pub by_category: Vec<CategoryFigure>,
    pub by_village: Vec<VillageFigure>,
    pub by_month: Vec<MonthFigure>,
    pub red_list: Vec<RedList>,
    pub stars: Stars,
    pub inactive: Inactive,
}

/// The admin villages the caller may see figures of in the town (`None`: the whole town).
async fn villages_in_scope(auth: &Auth, town_id: Uuid) -> ApiResult<Option<Vec<Uuid>>> {
    let scopes = auth.principal.scopes_with(Permission::PointsRead);
    let mut villages = Vec::new();
    for s in &scopes {
        if s.level <= Level::Town && (s.level == Level::City || s.place.town_id == Some(town_id)) {
            return Ok(None);
        }
        if s.place.town_id == Some(town_id)
            && let Some(v) = s.place.admin_village_id
        {
            villages.push(v);
        }
    }
    if villages.is_empty() {
        return Err(ApiError::forbidden());
    }
    villages.sort();
    villages.dedup();
    Ok(Some(villages))
}

fn month_key(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

async fn compute(state: &AppState, auth: &Auth, p: &PointsFiguresParams) -> ApiResult<PointsFigures> {
    let town_id = town_of(state, auth, p.town_id).await?;
    let db = state.store().db();
    let today = china_date(state.now());
    let to = p.to.as_deref().map(|v| parse_day("to", v)).transpose()?.unwrap_or(today);
    let from = match p.from.as_deref() {
        Some(v) => parse_day("from", v)?,
        None => to - chrono::Duration::days(364),
    };
    if from > to {
        return Err(bad_query("from", Rule::NotAllowed { reason: "from_after_to" }));
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(bad_query("to", Rule::OutOfRange { min: 1, max: MAX_DAYS }));
    }
    let mut villages = villages_in_scope(auth, town_id).await?;
    if let Some(v) = p.village_id {
        match &villages {
            Some(allowed) if !allowed.contains(&v) => return Err(ApiError::forbidden()),
            _ => villages = Some(vec![v]),
        }
    }
    let start = china_midnight(from);
    let end = china_midnight(to + chrono::Duration::days(1));
    let in_villages = |v: &Uuid| villages.as_ref().is_none_or(|vs| vs.contains(v));

    let awards: Vec<_> = store::posted_awards(db, town_id, start, end)
        .await?
        .into_iter()
        .filter(|a| in_villages(&a.admin_village_id))
        .collect();
    let redeemed: Vec<_> = store::redemptions(db, town_id, start, end)
        .await?
        .into_iter()
        .filter(|r| in_villages(&r.admin_village_id))
        .collect();
    let households = store::households(db, town_id, villages.as_deref()).await?;
    if awards.len() as u64 > MAX_ROWS || redeemed.len() as u64 > MAX_ROWS || households.len() as u64 > MAX_ROWS {
        return Err(bad_query("from", Rule::NotAllowed { reason: "period_too_large" }));
    }
    let mut active: HashSet<Uuid> = store::proposed_for(db, town_id, start, end).await?.into_iter().collect();
    active.extend(awards.iter().map(|a| a.household_id));
    active.extend(redeemed.iter().map(|r| r.household_id));

    // By category, in the rulebook's order.
    let mut by_category: Vec<CategoryFigure> = Category::ALL
        .iter()
        .map(|c| CategoryFigure {
            category: c.as_str().into(),
            name_zh: c.name_zh().into(),
            name_en: c.name_en().into(),
            issued: 0,
            deducted: 0,
            awards: 0,
        })
        .collect();
    // By month, every month of the period present (a chart needs the empty ones too).
    let mut by_month: BTreeMap<String, MonthFigure> = BTreeMap::new();
    let mut m = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap_or(from);
    while m <= to {
        by_month.insert(
            month_key(m),
            MonthFigure { month: month_key(m), issued: 0, deducted: 0, redeemed: 0, value_fen: 0 },
        );
        m = m.checked_add_months(chrono::Months::new(1)).unwrap_or(to + chrono::Duration::days(1));
    }
    #[derive(Default)]
    struct V {
        issued: i64,
        deducted: i64,
        redeemed: i64,
        value_fen: i64,
        households: u64,
        active: u64,
    }
    let mut by_village: BTreeMap<Uuid, V> = BTreeMap::new();
    for h in &households {
        let v = by_village.entry(h.admin_village_id).or_default();
        v.households += 1;
        if active.contains(&h.id) {
            v.active += 1;
        }
    }
    let last_month = month_key(to);
    let mut earned_last_month: HashMap<Uuid, i64> = HashMap::new();
    let (mut issued_total, mut deducted_total) = (0i64, 0i64);
    for a in &awards {
        let month = month_key(china_date(a.posted_at));
        let (issued, deducted) = if a.points >= 0 { (a.points, 0) } else { (0, -a.points) };
        issued_total += issued;
        deducted_total += deducted;
        if let Some(c) = by_category.iter_mut().find(|c| c.category == a.category) {
            c.issued += issued;
            c.deducted += deducted;
            c.awards += 1;
        }
        if let Some(mf) = by_month.get_mut(&month) {
            mf.issued += issued;
            mf.deducted += deducted;
        }
        let v = by_village.entry(a.admin_village_id).or_default();
        v.issued += issued;
        v.deducted += deducted;
        if month == last_month && issued > 0 {
            *earned_last_month.entry(a.household_id).or_default() += issued;
        }
    }
    let (mut redeemed_total, mut value_fen_total) = (0i64, 0i64);
    for r in &redeemed {
        redeemed_total += r.points;
        value_fen_total += r.value_fen;
        if let Some(mf) = by_month.get_mut(&month_key(china_date(r.at))) {
            mf.redeemed += r.points;
            mf.value_fen += r.value_fen;
        }
        let v = by_village.entry(r.admin_village_id).or_default();
        v.redeemed += r.points;
        v.value_fen += r.value_fen;
    }

    let village_ids: Vec<Uuid> = by_village.keys().copied().collect();
    let names = regions::names_of(db, &village_ids).await?;
    let vref = |id: Uuid| RefDto { id, name: names.get(&id).cloned().unwrap_or_default(), code: None };
    let mut village_rows: Vec<VillageFigure> = by_village
        .iter()
        .map(|(id, v)| VillageFigure {
            village: vref(*id),
            issued: v.issued,
            deducted: v.deducted,
            redeemed: v.redeemed,
            value_fen: v.value_fen,
            households: v.households,
            active_households: v.active,
        })
        .collect();
    village_rows.sort_by(|a, b| a.village.name.cmp(&b.village.name));

    // Red lists: the balances now, per village.
    let mut red_list = Vec::new();
    for v in &village_rows {
        let rows = awards_store::ranking(db, town_id, v.village.id, TOP as u64).await?;
        let hh: Vec<&wuwei_store::households::HouseholdRow> = rows.iter().map(|(_, h, _)| h).collect();
        let refs = household_refs(state, &hh).await?;
        red_list.push(RedList {
            village: v.village.clone(),
            households: rows
                .iter()
                .zip(refs)
                .map(|((rank, _, balance), household)| RankedHousehold { rank: *rank, household, balance: *balance })
                .collect(),
        });
    }

    // Star households: the most earned in the period's last month.
    let by_id: HashMap<Uuid, &wuwei_store::households::HouseholdRow> = households.iter().map(|h| (h.id, h)).collect();
    let mut stars: Vec<(Uuid, i64)> = earned_last_month.into_iter().collect();
    stars.sort_by(|a, b| {
        b.1.cmp(&a.1).then_with(|| {
            let code = |id: &Uuid| by_id.get(id).map(|h| h.code.clone()).unwrap_or_default();
            code(&a.0).cmp(&code(&b.0))
        })
    });
    stars.truncate(TOP);
    let star_rows: Vec<&wuwei_store::households::HouseholdRow> =
        stars.iter().filter_map(|(id, _)| by_id.get(id).copied()).collect();
    let star_refs = household_refs(state, &star_rows).await?;
    let stars = Stars {
        month: last_month,
        households: star_refs
            .into_iter()
            .map(|household| {
                let earned = stars.iter().find(|(id, _)| *id == household.id).map_or(0, |(_, e)| *e);
                StarHousehold { household, earned }
            })
            .collect(),
    };

    let inactive_rows: Vec<&wuwei_store::households::HouseholdRow> =
        households.iter().filter(|h| !active.contains(&h.id)).collect();
    let inactive = Inactive {
        count: inactive_rows.len() as u64,
        households: household_refs(state, &inactive_rows.iter().take(MAX_INACTIVE_LISTED).copied().collect::<Vec<_>>())
            .await?,
    };

    Ok(PointsFigures {
        town_id,
        from,
        to,
        issued_total,
        deducted_total,
        redeemed_total,
        value_fen_total,
        awards_posted: awards.len() as u64,
        redemptions: redeemed.len() as u64,
        by_category,
        by_village: village_rows,
        by_month: by_month.into_values().collect(),
        red_list,
        stars,
        inactive,
    })
}

/// Points figures of a period (default: the last 365 days).
#[utoipa::path(get, path = "/api/v1/figures/points", tag = "figures", params(PointsFiguresParams),
    responses((status = 200, body = PointsFigures), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn points_figures(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<PointsFiguresParams>,
) -> ApiResult<Json<PointsFigures>> {
    Ok(Json(compute(&state, &auth, &p).await?))
}

fn yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

fn workbook(f: &PointsFigures) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");

    let ws = wb.add_worksheet();
    ws.set_name("汇总 Summary")?;
    ws.write_string_with_format(0, 0, format!("积分统计 {} — {}", f.from, f.to), &bold)?;
    let rows: [(&str, f64); 7] = [
        ("发放积分 Points issued", f.issued_total as f64),
        ("扣减积分 Points deducted", f.deducted_total as f64),
        ("兑换积分 Points redeemed", f.redeemed_total as f64),
        ("兑换商品价值（元） Goods redeemed (yuan)", yuan(f.value_fen_total)),
        ("入账申报 Awards posted", f.awards_posted as f64),
        ("兑换笔数 Redemptions", f.redemptions as f64),
        ("无积分活动户数 Households with no activity", f.inactive.count as f64),
    ];
    for (i, (label, v)) in rows.iter().enumerate() {
        ws.write_string(i as u32 + 2, 0, *label)?;
        if label.contains("yuan") {
            ws.write_number_with_format(i as u32 + 2, 1, *v, &money)?;
        } else {
            ws.write_number(i as u32 + 2, 1, *v)?;
        }
    }
    ws.set_column_width(0, 44)?;

    let ws = wb.add_worksheet();
    ws.set_name("分类 By category")?;
    for (c, h) in ["类别 Category", "发放 Issued", "扣减 Deducted", "笔数 Awards"].iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, c) in f.by_category.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, format!("{} {}", c.name_zh, c.name_en))?;
        ws.write_number(r, 1, c.issued as f64)?;
        ws.write_number(r, 2, c.deducted as f64)?;
        ws.write_number(r, 3, c.awards as f64)?;
    }
    ws.set_column_width(0, 36)?;

    let ws = wb.add_worksheet();
    ws.set_name("村 By village")?;
    for (c, h) in [
        "村 Village",
        "发放 Issued",
        "扣减 Deducted",
        "兑换 Redeemed",
        "商品价值（元） Value (yuan)",
        "户数 Households",
        "有活动户数 Active",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, v) in f.by_village.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &v.village.name)?;
        ws.write_number(r, 1, v.issued as f64)?;
        ws.write_number(r, 2, v.deducted as f64)?;
        ws.write_number(r, 3, v.redeemed as f64)?;
        ws.write_number_with_format(r, 4, yuan(v.value_fen), &money)?;
        ws.write_number(r, 5, v.households as f64)?;
        ws.write_number(r, 6, v.active_households as f64)?;
    }
    ws.set_column_width(0, 20)?;

    let ws = wb.add_worksheet();
    ws.set_name("月 By month")?;
    for (c, h) in ["月份 Month", "发放 Issued", "扣减 Deducted", "兑换 Redeemed", "商品价值（元） Value (yuan)"]
        .iter()
        .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, m) in f.by_month.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &m.month)?;
        ws.write_number(r, 1, m.issued as f64)?;
        ws.write_number(r, 2, m.deducted as f64)?;
        ws.write_number(r, 3, m.redeemed as f64)?;
        ws.write_number_with_format(r, 4, yuan(m.value_fen), &money)?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("红榜 Red list")?;
    for (c, h) in ["村 Village", "名次 Rank", "户号 Household", "户主 Head", "积分 Balance"].iter().enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    let mut r = 1;
    for list in &f.red_list {
        for h in &list.households {
            ws.write_string(r, 0, &list.village.name)?;
            ws.write_number(r, 1, h.rank as f64)?;
            ws.write_string(r, 2, &h.household.code)?;
            ws.write_string(r, 3, &h.household.head_name)?;
            ws.write_number(r, 4, h.balance as f64)?;
            r += 1;
        }
    }

    let ws = wb.add_worksheet();
    ws.set_name("星级户 Stars")?;
    ws.write_string_with_format(0, 0, format!("{} 月度星级户 Star households", f.stars.month), &bold)?;
    for (i, s) in f.stars.households.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &s.household.code)?;
        ws.write_string(r, 1, &s.household.head_name)?;
        ws.write_string(r, 2, &s.household.admin_village.name)?;
        ws.write_number(r, 3, s.earned as f64)?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("待走访 No activity")?;
    ws.write_string_with_format(
        0,
        0,
        format!("无积分活动户（共 {} 户） Households with no activity", f.inactive.count),
        &bold,
    )?;
    for (i, h) in f.inactive.households.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &h.code)?;
        ws.write_string(r, 1, &h.head_name)?;
        ws.write_string(r, 2, &h.admin_village.name)?;
    }
    wb.save_to_buffer()
}

/// The same figures as an .xlsx workbook.
#[utoipa::path(get, path = "/api/v1/figures/points.xlsx", tag = "figures", params(PointsFiguresParams),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String),
        (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn points_figures_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<PointsFiguresParams>,
) -> ApiResult<Response> {
    let f = compute(&state, &auth, &p).await?;
    let bytes = workbook(&f).map_err(|e| {
        tracing::error!(error = %e, "cannot write the points figures workbook");
        ApiError::internal()
    })?;
    let stem = format!("{}-{}", f.from, f.to);
    crate::routes::points::xlsx_response(
        bytes,
        &format!("points-figures-{stem}.xlsx"),
        &format!("积分统计-{stem}.xlsx"),
    )
}

//! The demo town's case history: months of plausible cases, generated, so that figures, map
//! shading and the comparison of two periods show numbers that come from data.
//!
//! Every case is planned from report to rating as its timeline (the same actions and sweeper
//! events the live workflow records), then cut at the end of the last day: whatever happens
//! later is dropped, so the last days' cases are still open, in every state. The case's fields
//! (state, times, unit, card, deadline) are derived by replaying the kept timeline with the
//! workflow's rules, so they always agree with it.
//!
//! Shape: 8–30 cases a day (busier in the wheat and maize harvests, when straw burning peaks,
//! and in the summer rains), in every category, village and grid, from grid workers mostly,
//! residents, the hotline, one-click calls, inspections and (from August, when the town
//! connects them) cameras. The centre and the units get faster over the months: durations
//! shrink linearly to [`SPEED_AT_END`] of what they were at the start, so the later half
//! resolves cases roughly a fifth to a quarter faster than the first.
//!
//! Pure and deterministic like the rest of this crate: times are seconds since the Unix epoch
//! (UTC), arithmetic only (the only root taken is `sqrt`, which IEEE 754 rounds exactly).

use std::collections::BTreeMap;

use crate::DemoTown;
use crate::rng::Rng;

/// Durations at the end of the history, as a share of those at its start.
pub const SPEED_AT_END: f64 = 0.5;
/// The towns' local time is UTC+8.
const LOCAL_OFFSET: i64 = 8 * 3600;
const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// Cameras join from this day of the history on (about two months in).
const CAMERAS_FROM_DAY: i64 = 62;

/// How the town routes and times cases: its categories and deadline policies (passed in from
/// the case module's defaults, so this crate stays independent).
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySpec {
    pub categories: Vec<SpecCategory>,
    /// `(priority, minutes to accept, minutes to resolve)` for `urgent`, `high` and `normal`.
    pub deadlines: Vec<(String, u32, u32)>,
    /// The office a case climbs to from a village committee when its category names none.
    pub escalation_office: String,
    /// The unit code of the city departments (the top of escalation).
    pub county_unit: String,
    /// Office code → usernames of its members.
    pub office_members: Vec<(String, Vec<String>)>,
}

/// A category as routing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecCategory {
    pub code: String,
    /// `grid`, `village_committee`, `town_office`, `enforcement_team` or `county`.
    pub unit_kind: String,
    /// The office its cases go to, when it names one.
    pub office: Option<String>,
}

/// The unit holding a case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DemoUnit {
    /// The grid's own unit (by grid key).
    Grid(String),
    /// The admin village's committee (by admin village key).
    Village(String),
    /// A town office, the enforcement team or the city departments (by unit code).
    Office(String),
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCaseEvent {
    pub at: i64,
    /// A demo username, or `sweeper` for the deadline sweeper.
    pub actor: String,
    /// A workflow action, or `yellow_card`, `red_card`, `escalate` (the sweeper), `merged_in`.
    pub action: &'static str,
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
    pub note: Option<String>,
    /// dispatch, transfer, escalate: where it went.
    pub unit: Option<DemoUnit>,
    /// escalate: where it came from.
    pub from_unit: Option<DemoUnit>,
    /// escalate: the new level.
    pub level: Option<u8>,
    /// rate: the rating.
    pub rating: Option<u8>,
    /// merge: the case merged into; merged_in: the case merged in (indices into the history).
    pub other_case: Option<usize>,
}

/// A past case, as it stands at the end of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCase {
    /// A category code.
    pub category: String,
    pub priority: &'static str,
    pub source: &'static str,
    pub title: String,
    pub description: String,
    pub grid_key: String,
    /// For cases at a household (a one-click call, a visit).
    pub household_code: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub address: String,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    /// A workflow state.
    pub state: &'static str,
    pub reported_at: i64,
    pub accepted_at: Option<i64>,
    pub dispatched_at: Option<i64>,
    pub started_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<i64>,
    pub unit: Option<DemoUnit>,
    /// The username of whoever started work on it.
    pub handler: Option<String>,
    pub escalation_level: u8,
    /// The running (or last) deadline clock: started, due, card (`none`, `yellow`, `red`).
    pub clock_started_at: Option<i64>,
    pub due_at: Option<i64>,
    pub card: &'static str,
    pub result_note: Option<String>,
    pub reopen_count: u8,
    /// For a merged duplicate: the case it was merged into (an index into the history).
    pub merged_into: Option<usize>,
    /// For a duplicate: the open case it was reported next to.
    pub duplicate_of: Option<usize>,
    /// In time order; the first is `report`.
    pub events: Vec<DemoCaseEvent>,
}

/// Days since 1970-01-01 of a date (proleptic Gregorian; Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((y + i64::from(m <= 2)) as i32, m as u32, d as u32)
}

/// The local day (days since the epoch, UTC+8) of an instant.
pub fn local_day_of(t: i64) -> i64 {
    (t + LOCAL_OFFSET).div_euclid(DAY)
}

/// Seconds since local midnight.
fn local_secs(t: i64) -> i64 {
    (t + LOCAL_OFFSET).rem_euclid(DAY)
}

/// The next local `hour:minute` at or after `t`.
fn next_local(t: i64, hour: i64, minute: i64) -> i64 {
    let midnight = t - local_secs(t);
    let at = midnight + hour * HOUR + minute * MINUTE;
    if at >= t { at } else { at + DAY }
}

fn is_night(t: i64) -> bool {
    let h = local_secs(t) / HOUR;
    !(7..22).contains(&h)
}

/// Log-logistic with shape 4 and median 1 (quantile `(u/(1-u))^(1/4)`), clamped.
fn ll4(rng: &mut Rng) -> f64 {
    let u = rng.unit().clamp(0.002, 0.998);
    (u / (1.0 - u)).sqrt().sqrt()
}

/// Log-logistic with shape 2 and median 1: a heavier tail.
fn ll2(rng: &mut Rng) -> f64 {
    let u = rng.unit().clamp(0.002, 0.995);
    (u / (1.0 - u)).sqrt()
}

fn secs(minutes: f64) -> i64 {
    (minutes * 60.0).round() as i64
}

/// Weighted pick among `(item, weight)`.
fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, f64)]) -> Option<T> {
    let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
    if total <= 0.0 {
        return items.first().map(|(t, _)| *t);
    }
    let mut x = rng.unit() * total;
    for (t, w) in items {
        let w = w.max(0.0);
        if x < w {
            return Some(*t);
        }
        x -= w;
    }
    items.last().map(|(t, _)| *t)
}

/// What each category looks like in the history: weight per day, titles, notes.
struct Kind {
    code: &'static str,
    weight: f64,
    /// `(urgent, high)` shares; the rest are normal.
    priority: (f64, f64),
    /// `(source, weight)`; `camera` only once cameras are connected.
    sources: &'static [(&'static str, f64)],
    /// At a household (the reporter's home) rather than somewhere in the grid.
    at_home: bool,
    titles: &'static [&'static str],
    results: &'static [&'static str],
    /// May be reported twice (a duplicate merged into the first).
    duplicates: bool,
}

const GENERAL: &[(&str, f64)] = &[("grid_worker", 50.0), ("resident", 22.0), ("hotline", 22.0), ("camera", 6.0)];

const KINDS: &[Kind] = &[
    Kind {
        code: "garbage",
        weight: 14.0,
        priority: (0.0, 0.08),
        sources: &[("grid_worker", 50.0), ("resident", 18.0), ("hotline", 10.0), ("camera", 22.0)],
        at_home: false,
        titles: &["{v}村口垃圾堆积未清运", "{v}路边有人倾倒建筑垃圾", "{v}垃圾桶满溢", "{v}坑塘边堆放生活垃圾"],
        results: &["已组织清运，现场恢复整洁", "已清理并设置禁倒提示牌", "已联系保洁员清运完毕"],
        duplicates: true,
    },
    Kind {
        code: "environment",
        weight: 4.0,
        priority: (0.0, 0.1),
        sources: GENERAL,
        at_home: false,
        titles: &["{v}沟渠杂草丛生", "{v}街道积水有异味", "{v}畜禽粪便乱堆"],
        results: &["已清理整治", "已督促整改到位"],
        duplicates: false,
    },
    Kind {
        code: "sewage",
        weight: 4.0,
        priority: (0.02, 0.2),
        sources: GENERAL,
        at_home: false,
        titles: &["{v}有企业向沟渠排放污水", "{v}生活污水外溢", "{v}养殖场污水直排"],
        results: &["已责令停止排放并整改", "已疏通管网，污水不再外溢"],
        duplicates: true,
    },
    Kind {
        code: "roads",
        weight: 6.0,
        priority: (0.0, 0.12),
        sources: GENERAL,
        at_home: false,
        titles: &["{v}村路塌陷", "{v}桥面护栏损坏", "{v}道路坑洼积水"],
        results: &["已修补路面", "已设置警示标志并完成维修"],
        duplicates: true,
    },
    Kind {
        code: "streetlight",
        weight: 7.0,
        priority: (0.0, 0.05),
        sources: &[("grid_worker", 55.0), ("resident", 25.0), ("hotline", 20.0)],
        at_home: false,
        titles: &["{v}路灯不亮", "{v}主街路灯损坏", "{v}太阳能路灯倒伏"],
        results: &["已更换灯具，恢复照明", "已修复线路"],
        duplicates: true,
    },
    Kind {
        code: "water_power",
        weight: 9.0,
        priority: (0.01, 0.25),
        sources: &[("grid_worker", 40.0), ("resident", 30.0), ("hotline", 30.0)],
        at_home: true,
        titles: &["家中停水", "自来水管爆裂", "入户电线老化打火", "家中停电"],
        results: &["已联系供水站抢修，恢复供水", "已联系供电所更换线路", "已维修完毕"],
        duplicates: false,
    },
    Kind {
        code: "public_order",
        weight: 6.0,
        priority: (0.05, 0.3),
        sources: &[("hotline", 40.0), ("grid_worker", 30.0), ("resident", 20.0), ("camera", 10.0)],
        at_home: false,
        titles: &["{v}有人聚众赌博", "{v}深夜噪音扰民", "{v}发现可疑人员", "{v}电动车被盗"],
        results: &["已会同派出所处置", "已劝离并登记", "已移交派出所"],
        duplicates: true,
    },
    Kind {
        code: "neighbour_dispute",
        weight: 12.0,
        priority: (0.0, 0.12),
        sources: &[("grid_worker", 50.0), ("resident", 25.0), ("hotline", 25.0)],
        at_home: true,
        titles: &["宅基地边界纠纷", "邻里因排水发生争执", "因树木遮挡采光产生矛盾", "家庭赡养纠纷"],
        results: &["已调解，双方达成一致", "经和事佬调解，双方签订协议", "已说服双方，矛盾化解"],
        duplicates: false,
    },
    Kind {
        code: "land_use",
        weight: 2.0,
        priority: (0.0, 0.15),
        sources: &[("inspection", 50.0), ("grid_worker", 40.0), ("hotline", 10.0)],
        at_home: false,
        titles: &["{v}耕地内堆放杂物", "{v}占用耕地硬化场地"],
        results: &["已责令恢复原状", "已立案处理"],
        duplicates: false,
    },
    Kind {
        code: "illegal_building",
        weight: 4.0,
        priority: (0.0, 0.2),
        sources: &[("inspection", 50.0), ("grid_worker", 40.0), ("hotline", 10.0)],
        at_home: false,
        titles: &["{v}未经审批搭建厂棚", "{v}私自加盖房屋", "{v}路边违建彩钢房"],
        results: &["已下达整改通知并拆除", "已责令停工"],
        duplicates: true,
    },
    Kind {
        code: "elderly_care",
        weight: 10.0,
        priority: (0.08, 0.22),
        sources: &[("one_click_call", 40.0), ("grid_worker", 40.0), ("resident", 10.0), ("hotline", 10.0)],
        at_home: true,
        titles: &["独居老人需要帮助", "老人行动不便需送医", "老人家中无人照料", "困难户需要生活救助"],
        results: &["已上门探望并联系家属", "已协助就医", "已申请临时救助"],
        duplicates: false,
    },
    Kind {
        code: "work_safety",
        weight: 5.0,
        priority: (0.1, 0.45),
        sources: &[("inspection", 60.0), ("grid_worker", 30.0), ("hotline", 10.0)],
        at_home: false,
        titles: &["{v}加工厂消防通道堵塞", "{v}仓库违规存放易燃物", "{v}小作坊电线私拉乱接"],
        results: &["已责令整改，复查合格", "已清除隐患"],
        duplicates: false,
    },
    Kind {
        code: "fire_smoke",
        weight: 3.0,
        priority: (0.65, 0.3),
        sources: &[("grid_worker", 45.0), ("camera", 35.0), ("hotline", 20.0)],
        at_home: false,
        titles: &["{v}附近发现烟雾", "{v}柴草垛起火", "{v}沟渠枯草着火"],
        results: &["已扑灭，无人员伤亡", "已到场处置，明火已灭"],
        duplicates: true,
    },
    Kind {
        code: "straw_burning",
        weight: 1.5,
        priority: (0.65, 0.3),
        sources: &[("grid_worker", 45.0), ("camera", 35.0), ("hotline", 20.0)],
        at_home: false,
        titles: &["{v}地头焚烧秸秆", "{v}麦田有火点", "{v}玉米秸秆焚烧冒烟"],
        results: &["已扑灭火点并宣传禁烧", "已到场扑灭，对当事人教育"],
        duplicates: true,
    },
    Kind {
        code: "other",
        weight: 5.0,
        priority: (0.0, 0.08),
        sources: GENERAL,
        at_home: false,
        titles: &["{v}群众咨询办事事项", "{v}流浪犬伤人隐患", "{v}公告栏损坏"],
        results: &["已答复并办理", "已处理完毕"],
        duplicates: false,
    },
];

const RATING_COMMENTS: [&[&str]; 5] = [
    &["问题没有解决", "太慢了"],
    &["处理不彻底", "拖了好几天"],
    &["还可以"],
    &["满意"],
    &["处理及时，非常满意", "网格员很负责", "效率很高"],
];

/// The seasons of the demo town (month, day ranges of a year, inclusive).
fn in_range(m: u32, d: u32, from: (u32, u32), to: (u32, u32)) -> bool {
    (m, d) >= from && (m, d) <= to
}

/// Cases a day besides the everyday ones: the wheat harvest (straw burning in early June), the
/// maize harvest (October), the summer rains.
fn seasonal(m: u32, d: u32) -> (f64, f64) {
    let straw = if in_range(m, d, (5, 28), (6, 22)) {
        7.0
    } else if in_range(m, d, (9, 28), (10, 28)) {
        4.0
    } else {
        0.0
    };
    let rain = if in_range(m, d, (7, 8), (8, 22)) { 1.4 } else { 1.0 };
    (straw, rain)
}

/// Everything the generator needs to know about a grid.
struct GridInfo<'a> {
    key: &'a str,
    ring: &'a [[f64; 2]],
    households: Vec<usize>,
    village_name: &'a str,
    /// The grid worker of the natural village, the admin village's key and index.
    grid_worker: String,
    av_key: &'a str,
    av_index: usize,
}

/// Whether a point lies inside a ring (even-odd rule).
fn inside(ring: &[[f64; 2]], lon: f64, lat: f64) -> bool {
    let mut c = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a[1] > lat) != (b[1] > lat) && lon < (b[0] - a[0]) * (lat - a[1]) / (b[1] - a[1]) + a[0] {
            c = !c;
        }
        j = i;
    }
    c
}

/// What a case planned for the end of the history must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forced {
    /// Reported late at night (the night duty takes only urgent cases).
    LateEvening,
    /// Accepted, then checked on site before it is dispatched.
    Verify,
    /// High priority, reported in the evening: dispatched at once, started in the morning.
    Evening,
    /// Started days before the cut and stuck: overdue, carded red and sent one level up before
    /// the cut, still open at it. So the supervision board has red cards at whatever hour the
    /// demo is loaded (open cases' cards are computed at load time).
    Stalled,
}

/// The plan of one case before the cut.
struct Plan {
    kind: usize,
    priority: &'static str,
    source: &'static str,
    grid: usize,
    household: Option<usize>,
    lon: f64,
    lat: f64,
    address: String,
    title: String,
    description: String,
    reporter_name: Option<String>,
    reporter_phone: Option<String>,
    reported_at: i64,
    /// Who rates and reopens: the reporting account, or `reporter` (someone without one).
    rater: String,
    events: Vec<DemoCaseEvent>,
    rating_comment: Option<String>,
    result_note: Option<String>,
    merged_into: Option<usize>,
    duplicate_of: Option<usize>,
    forced: Option<Forced>,
}

fn ev(
    at: i64,
    actor: &str,
    action: &'static str,
    from: Option<&'static str>,
    to: Option<&'static str>,
) -> DemoCaseEvent {
    DemoCaseEvent {
        at,
        actor: actor.to_string(),
        action,
        from,
        to,
        note: None,
        unit: None,
        from_unit: None,
        level: None,
        rating: None,
        other_case: None,
    }
}

struct Generator<'a> {
    town: &'a DemoTown,
    spec: &'a HistorySpec,
    grids: Vec<GridInfo<'a>>,
    kinds: Vec<usize>,
}

impl Generator<'_> {
    fn deadline(&self, priority: &str) -> (i64, i64) {
        let d = self.spec.deadlines.iter().find(|(p, _, _)| p == priority);
        let (a, r) = d.map(|(_, a, r)| (*a, *r)).unwrap_or((120, 4320));
        (i64::from(a) * MINUTE, i64::from(r) * MINUTE)
    }

    fn category(&self, code: &str) -> Option<&SpecCategory> {
        self.spec.categories.iter().find(|c| c.code == code)
    }

    /// Where routing sends a case of this category from this grid.
    fn route(&self, code: &str, grid: &GridInfo) -> DemoUnit {
        match self.category(code) {
            Some(SpecCategory { office: Some(o), .. }) => DemoUnit::Office(o.clone()),
            Some(c) if c.unit_kind == "grid" => DemoUnit::Grid(grid.key.to_string()),
            Some(c) if c.unit_kind == "village_committee" => DemoUnit::Village(grid.av_key.to_string()),
            _ => DemoUnit::Office(self.spec.escalation_office.clone()),
        }
    }

    /// One level up, as the sweeper escalates.
    fn escalation(&self, code: &str, unit: &DemoUnit, grid: &GridInfo) -> Option<DemoUnit> {
        match unit {
            DemoUnit::Grid(_) => Some(DemoUnit::Village(grid.av_key.to_string())),
            DemoUnit::Village(_) => Some(DemoUnit::Office(
                self.category(code)
                    .and_then(|c| c.office.clone())
                    .unwrap_or_else(|| self.spec.escalation_office.clone()),
            )),
            DemoUnit::Office(o) if *o == self.spec.county_unit => None,
            DemoUnit::Office(_) => Some(DemoUnit::Office(self.spec.county_unit.clone())),
        }
    }

    /// Another unit a dispatcher would hand it to (a return or a transfer).
    fn alternative(&self, unit: &DemoUnit, grid: &GridInfo) -> DemoUnit {
        match unit {
            DemoUnit::Grid(_) => DemoUnit::Village(grid.av_key.to_string()),
            DemoUnit::Village(_) => DemoUnit::Office(self.spec.escalation_office.clone()),
            DemoUnit::Office(_) => DemoUnit::Village(grid.av_key.to_string()),
        }
    }

    /// Someone of the unit who acts for it.
    fn member(&self, rng: &mut Rng, unit: &DemoUnit, grid: &GridInfo) -> String {
        match unit {
            DemoUnit::Grid(_) => grid.grid_worker.clone(),
            DemoUnit::Village(_) => {
                if rng.chance(0.7) {
                    format!("vc{}", grid.av_index + 1)
                } else {
                    format!("gc{}", grid.av_index + 1)
                }
            }
            DemoUnit::Office(code) => {
                let members = self.spec.office_members.iter().find(|(c, _)| c == code).map(|(_, m)| m.as_slice());
                match members {
                    Some(m) if !m.is_empty() => m[rng.index(m.len())].clone(),
                    _ => "admin".to_string(),
                }
            }
        }
    }

    /// How long a unit of this kind takes, as a share of the resolve deadline.
    fn pace(&self, unit: &DemoUnit, priority: &str) -> f64 {
        let base = match unit {
            DemoUnit::Grid(_) => 0.2,
            DemoUnit::Village(_) => 0.28,
            DemoUnit::Office(o) if *o == self.spec.county_unit => 0.5,
            DemoUnit::Office(o) if o == "enforcement" => 0.45,
            DemoUnit::Office(_) => 0.4,
        };
        match priority {
            "urgent" => base * 1.2,
            _ => base,
        }
    }
}

fn dispatcher_at(t: i64) -> &'static str {
    // Two shifts: dispatcher1 mornings and early afternoons, dispatcher2 the rest.
    if (7..15).contains(&(local_secs(t) / HOUR)) { "dispatcher1" } else { "dispatcher2" }
}

/// Build about `days` days of history ending with the local day `until_day` (year, month,
/// day), for the town `town` and the routing and deadlines of `spec`.
pub fn case_history(
    town: &DemoTown,
    spec: &HistorySpec,
    seed: u64,
    days: u32,
    until_day: (i32, u32, u32),
) -> Vec<DemoCase> {
    let mut rng = Rng::stream(seed, "case-history");
    let last_day = days_from_civil(until_day.0, until_day.1, until_day.2);
    let first_day = last_day - i64::from(days) + 1;
    // The cut: local midnight after the last day.
    let end = (last_day + 1) * DAY - LOCAL_OFFSET;

    let grid_index: BTreeMap<&str, usize> = town.grids.iter().enumerate().map(|(i, g)| (g.key.as_str(), i)).collect();
    let mut grids: Vec<GridInfo> = Vec::with_capacity(town.grids.len());
    for g in &town.grids {
        let nv_key = g.parent_key.as_deref().unwrap_or("");
        let nv_ix = town.natural_villages.iter().position(|n| n.key == nv_key).unwrap_or(0);
        let nv = town.natural_villages.get(nv_ix);
        let av_key = nv.and_then(|n| n.parent_key.as_deref()).unwrap_or("");
        let av_index = town.admin_villages.iter().position(|a| a.key == av_key).unwrap_or(0);
        grids.push(GridInfo {
            key: &g.key,
            ring: g.outer_ring(),
            households: Vec::new(),
            village_name: nv.map(|n| n.name.as_str()).unwrap_or(""),
            grid_worker: format!("gw{:02}", nv_ix + 1),
            av_key,
            av_index,
        });
    }
    for (i, h) in town.households.iter().enumerate() {
        if let Some(g) = grid_index.get(h.grid_key.as_str()).and_then(|&g| grids.get_mut(g)) {
            g.households.push(i);
        }
    }
    grids.retain(|g| !g.households.is_empty());
    let kinds: Vec<usize> = KINDS
        .iter()
        .enumerate()
        .filter(|(_, k)| spec.categories.iter().any(|c| c.code == k.code))
        .map(|(i, _)| i)
        .collect();
    let ctx = Generator { town, spec, grids, kinds };
    if ctx.grids.is_empty() || ctx.kinds.is_empty() {
        return Vec::new();
    }

    let mut plans: Vec<Plan> = Vec::new();
    for d in 0..i64::from(days) {
        let day = first_day + d;
        let (_, m, dd) = civil_from_days(day);
        let weekday = (day + 4).rem_euclid(7); // 0 = Sunday
        let progress = d as f64 / f64::from(days.max(1));
        let (straw, rain) = seasonal(m, dd);
        let cameras = d >= CAMERAS_FROM_DAY;
        let mut n = 11.0 + rng.symmetric() * 3.0 + straw * (0.7 + 0.6 * rng.unit());
        if weekday == 0 || weekday == 6 {
            n -= 2.0;
        }
        if rain > 1.0 {
            n += 1.5;
        }
        if cameras {
            n += 1.5;
        }
        let n = n.round().clamp(6.0, 32.0) as usize;
        let straw_share = straw / (11.0 + straw);
        for _ in 0..n {
            let kind = if rng.chance(straw_share) {
                let straw_kinds: Vec<(usize, f64)> = ctx
                    .kinds
                    .iter()
                    .filter_map(|&k| match KINDS.get(k)?.code {
                        "straw_burning" => Some((k, 7.0)),
                        "fire_smoke" => Some((k, 3.0)),
                        _ => None,
                    })
                    .collect();
                weighted(&mut rng, &straw_kinds)
            } else {
                None
            };
            let kind = kind.or_else(|| {
                let items: Vec<(usize, f64)> = ctx
                    .kinds
                    .iter()
                    .filter_map(|&k| {
                        let kd = KINDS.get(k)?;
                        let w = match kd.code {
                            "roads" | "water_power" | "sewage" => kd.weight * rain,
                            "fire_smoke" if m >= 11 || m <= 3 => kd.weight * 1.6,
                            "elderly_care" if m >= 11 => kd.weight * 1.3,
                            _ => kd.weight,
                        };
                        Some((k, w))
                    })
                    .collect();
                weighted(&mut rng, &items)
            });
            let Some(kind) = kind else { continue };
            let reported_at = day * DAY - LOCAL_OFFSET + report_time_of_day(&mut rng);
            plans.push(plan_case(&ctx, &mut rng, kind, reported_at, progress, cameras, None));
        }
        if d + 1 == i64::from(days) {
            // The last evening always leaves work for the morning: a late report nobody has
            // taken yet, one the centre accepted but is still checking before it dispatches,
            // one dispatched that the unit starts in the morning (the rest is as it comes).
            for (forced, from, span) in [
                (Forced::LateEvening, 22 * HOUR + 30 * MINUTE, 80 * MINUTE),
                (Forced::Verify, 15 * HOUR, 2 * HOUR),
                (Forced::Evening, 19 * HOUR + 30 * MINUTE, 45 * MINUTE),
            ] {
                let Some(&kind) = ctx.kinds.get(rng.index(ctx.kinds.len())) else { continue };
                let reported_at = day * DAY - LOCAL_OFFSET + from + rng.below(span as u64) as i64;
                plans.push(plan_case(&ctx, &mut rng, kind, reported_at, progress, cameras, Some(forced)));
            }
            // Two stalled cases, reported five and six mornings before the cut.
            for back in [5, 6] {
                let Some(&kind) = ctx.kinds.get(rng.index(ctx.kinds.len())) else { continue };
                let reported_at = (day - back) * DAY - LOCAL_OFFSET + 9 * HOUR + rng.below(HOUR as u64) as i64;
                plans.push(plan_case(&ctx, &mut rng, kind, reported_at, progress, cameras, Some(Forced::Stalled)));
            }
        }
    }
    add_duplicates(&ctx, &mut rng, &mut plans, first_day);

    // In report order; indices remapped.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans.get(i).map(|p| p.reported_at).unwrap_or(0), i));
    let mut new_index = vec![0usize; plans.len()];
    for (new, &old) in order.iter().enumerate() {
        if let Some(slot) = new_index.get_mut(old) {
            *slot = new;
        }
    }
    let mut slots: Vec<Option<Plan>> = plans.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for &old in &order {
        let Some(mut p) = slots.get_mut(old).and_then(Option::take) else { continue };
        p.merged_into = p.merged_into.and_then(|i| new_index.get(i).copied());
        p.duplicate_of = p.duplicate_of.and_then(|i| new_index.get(i).copied());
        for e in p.events.iter_mut() {
            e.other_case = e.other_case.and_then(|i| new_index.get(i).copied());
        }
        out.push(finish(&ctx, p, end));
    }
    out
}

/// A time of day (seconds after local midnight), mostly in working hours.
fn report_time_of_day(rng: &mut Rng) -> i64 {
    const HOURS: [f64; 24] = [
        0.6, 0.4, 0.3, 0.3, 0.4, 1.0, 3.0, 6.0, 9.0, 10.0, 10.0, 9.0, 6.0, 7.0, 9.0, 10.0, 9.0, 8.0, 6.0, 5.0, 4.0,
        3.0, 2.0, 1.0,
    ];
    let items: Vec<(i64, f64)> = HOURS.iter().enumerate().map(|(h, w)| (h as i64, *w)).collect();
    let h = weighted(rng, &items).unwrap_or(9);
    h * HOUR + rng.below(3600) as i64
}

/// Plan one case from report to rating.
fn plan_case(
    ctx: &Generator,
    rng: &mut Rng,
    kind_ix: usize,
    reported_at: i64,
    progress: f64,
    cameras: bool,
    forced: Option<Forced>,
) -> Plan {
    let kind = KINDS.get(kind_ix).unwrap_or(&KINDS[0]);
    let gi = rng.index(ctx.grids.len());
    let grid = &ctx.grids[gi];
    let hh_ix = grid.households[rng.index(grid.households.len())];
    let hh = &ctx.town.households[hh_ix];
    let priority = {
        let x = rng.unit();
        if forced == Some(Forced::Evening) {
            "high"
        } else if forced.is_some() {
            "normal"
        } else if x < kind.priority.0 {
            "urgent"
        } else if x < kind.priority.0 + kind.priority.1 {
            "high"
        } else {
            "normal"
        }
    };
    let sources: Vec<(&'static str, f64)> =
        kind.sources.iter().filter(|(s, _)| cameras || *s != "camera").copied().collect();
    let source = weighted(rng, &sources).unwrap_or("grid_worker");
    let source = if kind.at_home && source == "camera" { "grid_worker" } else { source };
    let at_home = kind.at_home || source == "one_click_call";
    let (lon, lat, household) = if at_home {
        (hh.lon, hh.lat, Some(hh_ix))
    } else {
        let reach = if matches!(kind.code, "straw_burning" | "land_use") { 0.0015 } else { 0.0004 };
        let (lo, la) = (hh.lon + rng.symmetric() * reach, hh.lat + rng.symmetric() * reach * 0.8);
        if inside(grid.ring, lo, la) {
            ((lo * 1e6).round() / 1e6, (la * 1e6).round() / 1e6, None)
        } else {
            (hh.lon, hh.lat, None)
        }
    };
    let v = grid.village_name;
    let title = kind.titles[rng.index(kind.titles.len())].replace("{v}", v);
    let address = if at_home { hh.address.clone() } else { format!("{v}附近") };
    let head = hh.head();
    let resident = || (head.map(|p| p.name.clone()), Some(hh.phone.clone()));
    let (reporter, description, actor, rater) = match source {
        "grid_worker" => {
            let a = ctx.town.account(&grid.grid_worker);
            let who = grid.grid_worker.clone();
            (
                (a.map(|a| a.display_name.clone()), a.map(|a| a.phone.clone())),
                format!("网格员巡查发现：{title}。"),
                who.clone(),
                who,
            )
        }
        "camera" => {
            let tower = 1 + rng.below(12);
            let name =
                if matches!(kind.code, "straw_burning" | "fire_smoke") { "高空瞭望" } else { "雪亮工程" };
            let who = format!("{name}{tower}号点位");
            ((Some(who.clone()), None), format!("{who}自动告警：{title}。"), "camera".to_string(), String::new())
        }
        "inspection" => {
            let who = if matches!(kind.code, "work_safety" | "land_use" | "illegal_building") {
                format!("of{:02}", 1 + rng.below(18))
            } else {
                format!("lc{}", grid.av_index + 1)
            };
            let a = ctx.town.account(&who);
            (
                (a.map(|a| a.display_name.clone()), a.map(|a| a.phone.clone())),
                format!("日常巡查发现：{title}。"),
                who.clone(),
                who,
            )
        }
        "hotline" => (
            resident(),
            format!("群众来电反映：{title}，请尽快处理。"),
            "dispatcher1".to_string(),
            "reporter".to_string(),
        ),
        "one_click_call" => {
            (resident(), format!("一键呼应：{}，{title}。", hh.address), "reporter".to_string(), "reporter".to_string())
        }
        _ => (resident(), format!("村民反映：{title}。"), "reporter".to_string(), "reporter".to_string()),
    };
    let (reporter_name, reporter_phone) = reporter;
    let mut plan = Plan {
        kind: kind_ix,
        priority,
        source,
        grid: gi,
        household,
        lon,
        lat,
        address,
        title,
        description,
        reporter_name,
        reporter_phone,
        reported_at,
        events: vec![ev(reported_at, &actor, "report", Some("collected"), Some("reported"))],
        rater,
        rating_comment: None,
        result_note: None,
        merged_into: None,
        duplicate_of: None,
        forced,
    };
    timeline(ctx, rng, &mut plan, progress);
    plan
}

/// Plan the case's life after its report.
fn timeline(ctx: &Generator, rng: &mut Rng, p: &mut Plan, progress: f64) {
    let kind = KINDS.get(p.kind).unwrap_or(&KINDS[0]);
    let grid = &ctx.grids[p.grid];
    let speed = 1.0 - (1.0 - SPEED_AT_END) * progress;
    let (accept_dl, resolve_dl) = ctx.deadline(p.priority);
    let urgent = p.priority == "urgent";
    let t0 = p.reported_at;

    // Accepting: minutes, slower in the evening; the night duty (22:00–07:00) takes urgent
    // cases only, the rest wait for the morning shift.
    let median = match p.priority {
        "urgent" => 4.0,
        "high" => 9.0,
        _ => 18.0,
    };
    let mut wait = median * speed * ll4(rng);
    if local_secs(t0) >= 18 * HOUR && !urgent {
        wait *= 2.0;
    }
    let mut t_accept = t0 + secs(wait).max(30);
    if !urgent && (is_night(t0) || is_night(t_accept)) {
        t_accept = next_local(t_accept, 7, rng.int(30, 90) as i64);
    }
    let dispatcher = dispatcher_at(t_accept);
    sweeper_marks(&mut p.events, t0, accept_dl, t_accept);
    let forced = p.forced.is_some();
    if rng.chance(0.02) && !forced {
        let mut e = ev(t_accept, dispatcher, "reject", Some("reported"), Some("rejected"));
        e.note = Some(
            ["不属于本镇职责范围，已告知反映人向相关部门反映", "信息不全，无法核实", "经核实情况不属实"][rng.index(3)]
                .to_string(),
        );
        p.events.push(e);
        return;
    }
    p.events.push(ev(t_accept, dispatcher, "accept", Some("reported"), Some("accepted")));
    let due = t_accept + resolve_dl;

    // Dispatching: minutes; some normal cases are checked on site first; normal cases go
    // out to the units in their working day (those accepted after 18:00 the next morning).
    let mut t = t_accept + secs(rng.int(1, 12) as f64 * speed).max(30);
    let normal = p.priority == "normal";
    if p.forced == Some(Forced::Verify) {
        t += rng.int(12, 30) as i64 * HOUR;
    } else if normal && rng.chance(0.04) {
        t += rng.int(2, 24) as i64 * HOUR;
    }
    if (normal && (local_secs(t) >= 18 * HOUR || is_night(t))) || (!urgent && is_night(t)) {
        t = next_local(t, 8, rng.int(0, 40) as i64);
    }
    let mut unit = ctx.route(kind.code, grid);
    let mut e = ev(t, dispatcher_at(t), "dispatch", Some("accepted"), Some("dispatched"));
    e.unit = Some(unit.clone());
    p.events.push(e);

    // A unit that is the wrong one sends it back; the centre sends it to another.
    // Only while the resolve clock has room: a hand-over after the deadline would come after the
    // sweeper's escalation, and the unit it named would no longer hold the case.
    let room = due - resolve_dl / 3;
    if rng.chance(0.03) && !forced && t + secs(220.0 * speed) < room {
        t += secs(rng.int(20, 180) as f64 * speed);
        let mut e = ev(t, &ctx.member(rng, &unit, grid), "return", Some("dispatched"), Some("accepted"));
        e.note = Some("不属于本单位职责，请重新分拨".to_string());
        p.events.push(e);
        t += secs(rng.int(5, 40) as f64);
        unit = ctx.alternative(&unit, grid);
        let mut e = ev(t, dispatcher_at(t), "dispatch", Some("accepted"), Some("dispatched"));
        e.unit = Some(unit.clone());
        p.events.push(e);
    } else if rng.chance(0.02) && !forced && t + secs(360.0 * speed) < room {
        t += secs(rng.int(60, 360) as f64 * speed);
        unit = ctx.alternative(&unit, grid);
        let mut e = ev(t, dispatcher_at(t), "transfer", Some("dispatched"), Some("dispatched"));
        e.unit = Some(unit.clone());
        e.note = Some("需其他单位处置，转办".to_string());
        p.events.push(e);
    }

    // Starting, then resolving: the resolve deadline's share the unit takes (a few cases much
    // longer), from acceptance.
    let mut handler = ctx.member(rng, &unit, grid);
    let mut t_start = t + secs((10.0 + 50.0 * rng.unit()) * speed);
    if !urgent && (local_secs(t_start) >= 19 * HOUR || is_night(t_start)) {
        t_start = next_local(t_start, 7, rng.int(30, 90) as i64);
    }
    let shape = if rng.chance(0.15) { 1.8 * ll2(rng) } else { ll4(rng) };
    let shape = if p.forced == Some(Forced::Stalled) { 50.0 } else { shape };
    let mut t_resolve = t_accept + (resolve_dl as f64 * ctx.pace(&unit, p.priority) * speed * shape) as i64;
    t_resolve = t_resolve.max(t_start + secs(10.0 + 20.0 * rng.unit()));
    let mut level = 0u8;
    if t_resolve > due
        && let Some(up) = ctx.escalation(kind.code, &unit, grid)
    {
        // Overdue: yellow at 75%, then red and one level up at the deadline (as the sweeper does).
        let started = t_start < due;
        if started {
            p.events.push(ev(t_start, &handler, "start", Some("dispatched"), Some("in_progress")));
        }
        sweeper_marks(&mut p.events, t_accept, resolve_dl, due + 1);
        level += 1;
        let mut e = ev(due, "sweeper", "escalate", None, None);
        e.from_unit = Some(unit.clone());
        e.unit = Some(up.clone());
        e.level = Some(level);
        p.events.push(e);
        unit = up;
        handler = ctx.member(rng, &unit, grid);
        let mut t2 = due + secs(20.0 + 60.0 * rng.unit());
        if !started {
            p.events.push(ev(t2, &handler, "start", Some("dispatched"), Some("in_progress")));
        }
        t2 += (resolve_dl as f64 * (0.08 + 0.5 * rng.unit()) * speed) as i64;
        if p.forced == Some(Forced::Stalled) {
            // Still stuck at the cut (events after it are dropped).
            t2 = due + 30 * DAY;
        }
        t_resolve = t2;
    } else {
        p.events.push(ev(t_start, &handler, "start", Some("dispatched"), Some("in_progress")));
        sweeper_marks(&mut p.events, t_accept, resolve_dl, t_resolve);
    }
    let result = kind.results[rng.index(kind.results.len())].to_string();
    let mut e = ev(t_resolve, &handler, "resolve", Some("in_progress"), Some("resolved"));
    e.note = Some(result.clone());
    p.events.push(e);
    p.result_note = Some(result);

    // The centre checks and closes it out (in the morning, if it came at night); a few go back.
    // Close-outs are checked in office hours (08:00–18:00).
    let office = |t: i64, rng: &mut Rng| {
        if local_secs(t) >= 18 * HOUR || local_secs(t) < 8 * HOUR { next_local(t, 8, rng.int(0, 60) as i64) } else { t }
    };
    let mut t_close = office(t_resolve + secs((20.0 + 100.0 * ll4(rng)) * speed), rng);
    if rng.chance(0.03) {
        let mut e = ev(t_close, dispatcher_at(t_close), "return", Some("resolved"), Some("in_progress"));
        e.note = Some("整改不到位，请继续处置".to_string());
        p.events.push(e);
        // A result sent back starts a new resolve clock; this time it is done well within it.
        let t_again = t_close + (resolve_dl as f64 * (0.05 + 0.25 * rng.unit()) * speed) as i64;
        let mut e = ev(t_again, &handler, "resolve", Some("in_progress"), Some("resolved"));
        e.note = Some(format!("已复查整改：{}", p.result_note.clone().unwrap_or_default()));
        p.events.push(e);
        t_close = office(t_again + secs((20.0 + 100.0 * ll4(rng)) * speed), rng);
    }
    p.events.push(ev(t_close, dispatcher_at(t_close), "close", Some("resolved"), Some("closed")));

    // The reporter rates most closed cases (not cameras), mostly 4–5; late ones lower.
    if p.rater.is_empty() || !rng.chance(0.78) {
        return;
    }
    let late = p.events.iter().any(|e| e.action == "red_card" || e.action == "escalate");
    let rating = {
        let x = rng.unit();
        let (p5, p4, p3, p2) = if late { (0.25, 0.3, 0.2, 0.15) } else { (0.56 + 0.1 * progress, 0.28, 0.08, 0.05) };
        if x < p5 {
            5
        } else if x < p5 + p4 {
            4
        } else if x < p5 + p4 + p3 {
            3
        } else if x < p5 + p4 + p3 + p2 {
            2
        } else {
            1
        }
    };
    let t_rate = t_close + rng.int(1, 30) as i64 * HOUR + rng.below(3600) as i64;
    let mut e = ev(t_rate, &p.rater, "rate", Some("closed"), Some("closed"));
    e.rating = Some(rating);
    let comments = RATING_COMMENTS[usize::from(rating - 1)];
    if rng.chance(0.4) {
        let c = comments[rng.index(comments.len())].to_string();
        e.note = Some(c.clone());
        p.rating_comment = Some(c);
    }
    p.events.push(e);

    // Unhappy reporters reopen some within the week; it goes back to the unit.
    if rating <= 2 && rng.chance(0.35) {
        let t_reopen = t_rate + rng.int(2, 48) as i64 * HOUR;
        let mut e = ev(t_reopen, &p.rater, "reopen", Some("closed"), Some("dispatched"));
        e.note = Some("问题又出现了".to_string());
        p.events.push(e);
        let t_s = t_reopen + secs(30.0 + 90.0 * rng.unit());
        p.events.push(ev(t_s, &handler, "start", Some("dispatched"), Some("in_progress")));
        let t_r = t_s + (resolve_dl as f64 * (0.05 + 0.2 * rng.unit())) as i64;
        let mut e = ev(t_r, &handler, "resolve", Some("in_progress"), Some("resolved"));
        e.note = Some("已再次处置".to_string());
        p.events.push(e);
        let t_c = office(t_r + secs(30.0 + 120.0 * rng.unit()), rng);
        p.events.push(ev(t_c, dispatcher_at(t_c), "close", Some("resolved"), Some("closed")));
    }
}

/// The sweeper's cards for a clock running from `start` for `span` seconds while the phase
/// lasts until `until`: yellow at 75%, red at the deadline.
fn sweeper_marks(events: &mut Vec<DemoCaseEvent>, start: i64, span: i64, until: i64) {
    let yellow = start + (span as f64 * 0.75).round() as i64;
    let due = start + span;
    if until > yellow {
        events.push(ev(yellow, "sweeper", "yellow_card", None, None));
    }
    if until > due {
        events.push(ev(due, "sweeper", "red_card", None, None));
    }
}

/// Some reports are duplicates of an open case next to them: reported a while after it and
/// merged into it by the centre.
fn add_duplicates(ctx: &Generator, rng: &mut Rng, plans: &mut Vec<Plan>, first_day: i64) {
    let n = plans.len();
    for i in 0..n {
        let Some(orig) = plans.get(i) else { continue };
        let kind = KINDS.get(orig.kind).unwrap_or(&KINDS[0]);
        if !kind.duplicates || !rng.chance(0.04) {
            continue;
        }
        // Open from acceptance until resolved: the duplicate comes in that window.
        let Some(accepted) = orig.events.iter().find(|e| e.action == "accept").map(|e| e.at) else { continue };
        let Some(resolved) = orig.events.iter().find(|e| e.action == "resolve").map(|e| e.at) else { continue };
        if resolved - accepted < 2 * HOUR {
            continue;
        }
        let t = accepted + rng.below(((resolved - accepted) / 2).max(1) as u64) as i64;
        let t_merge = t + secs(3.0 + 12.0 * rng.unit());
        if t_merge >= resolved || local_day_of(t) < first_day {
            continue;
        }
        let grid = &ctx.grids[orig.grid];
        let hh_ix = grid.households[rng.index(grid.households.len())];
        let hh = &ctx.town.households[hh_ix];
        let (lon, lat) = (orig.lon + rng.symmetric() * 0.0002, orig.lat + rng.symmetric() * 0.00015);
        let (lon, lat) = if inside(grid.ring, lon, lat) {
            ((lon * 1e6).round() / 1e6, (lat * 1e6).round() / 1e6)
        } else {
            (orig.lon, orig.lat)
        };
        let source = if rng.chance(0.5) { "resident" } else { "hotline" };
        let actor = if source == "hotline" { dispatcher_at(t) } else { "reporter" };
        let mut events = vec![ev(t, actor, "report", Some("collected"), Some("reported"))];
        let mut e = ev(t_merge, dispatcher_at(t_merge), "merge", Some("reported"), Some("merged"));
        e.other_case = Some(i);
        events.push(e);
        let dup = Plan {
            kind: orig.kind,
            priority: orig.priority,
            source,
            grid: orig.grid,
            household: None,
            lon,
            lat,
            address: orig.address.clone(),
            title: orig.title.clone(),
            description: format!("群众反映：{}（与已受理事件重复）", orig.title),
            reporter_name: hh.head().map(|p| p.name.clone()),
            reporter_phone: Some(hh.phone.clone()),
            reported_at: t,
            rater: "reporter".to_string(),
            events,
            rating_comment: None,
            result_note: None,
            merged_into: Some(i),
            duplicate_of: Some(i),
            forced: None,
        };
        let mut e = ev(t_merge, dispatcher_at(t_merge), "merged_in", None, None);
        e.other_case = Some(plans.len());
        if let Some(o) = plans.get_mut(i) {
            o.events.push(e);
        }
        plans.push(dup);
    }
}

/// Replay the timeline up to `end` with the workflow's rules: what the case is at the cut.
fn finish(ctx: &Generator, mut p: Plan, end: i64) -> DemoCase {
    p.events.sort_by_key(|e| e.at);
    p.events.retain(|e| e.at < end);
    let kind = KINDS.get(p.kind).unwrap_or(&KINDS[0]);
    let grid = &ctx.grids[p.grid];
    let (accept_dl, resolve_dl) = ctx.deadline(p.priority);
    let mut c = DemoCase {
        category: kind.code.to_string(),
        priority: p.priority,
        source: p.source,
        title: p.title,
        description: p.description,
        grid_key: grid.key.to_string(),
        household_code: p.household.and_then(|h| ctx.town.households.get(h)).map(|h| h.code.clone()),
        lon: p.lon,
        lat: p.lat,
        address: p.address,
        reporter_name: p.reporter_name,
        reporter_phone: p.reporter_phone,
        state: "reported",
        reported_at: p.reported_at,
        accepted_at: None,
        dispatched_at: None,
        started_at: None,
        resolved_at: None,
        closed_at: None,
        rating: None,
        rating_comment: None,
        rated_at: None,
        unit: None,
        handler: None,
        escalation_level: 0,
        clock_started_at: Some(p.reported_at),
        due_at: Some(p.reported_at + accept_dl),
        card: "none",
        result_note: None,
        reopen_count: 0,
        merged_into: None,
        duplicate_of: p.duplicate_of,
        events: Vec::new(),
    };
    for e in &p.events {
        let restart = |c: &mut DemoCase, at: i64| {
            c.clock_started_at = Some(at);
            c.due_at = Some(at + resolve_dl);
            c.card = "none";
        };
        match e.action {
            "accept" => {
                c.accepted_at = Some(e.at);
                restart(&mut c, e.at);
            }
            "dispatch" | "transfer" => {
                c.dispatched_at = Some(e.at);
                c.unit = e.unit.clone();
                c.handler = None;
            }
            "start" => {
                c.started_at = Some(e.at);
                c.handler = Some(e.actor.clone());
            }
            "resolve" => {
                c.resolved_at = Some(e.at);
                c.result_note = e.note.clone();
            }
            "close" => c.closed_at = Some(e.at),
            "return" if e.from == Some("resolved") => restart(&mut c, e.at),
            "rate" => {
                c.rating = e.rating;
                c.rated_at = Some(e.at);
                c.rating_comment = e.note.clone();
            }
            "reopen" => {
                c.dispatched_at = Some(e.at);
                c.reopen_count += 1;
                c.closed_at = None;
                c.resolved_at = None;
                restart(&mut c, e.at);
            }
            "merge" => c.merged_into = e.other_case,
            "yellow_card" => c.card = "yellow",
            "red_card" => c.card = "red",
            "escalate" => {
                c.unit = e.unit.clone();
                c.handler = None;
                c.escalation_level = e.level.unwrap_or(c.escalation_level + 1);
                c.clock_started_at = Some(e.at);
                c.due_at = Some(e.at + resolve_dl);
                c.card = "red";
            }
            _ => {}
        }
        if let Some(to) = e.to {
            c.state = to;
        }
    }
    c.events = p.events;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 28), 20_785);
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        for z in [-1000, 0, 59, 60, 10_000, 20_785, 40_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        // 2026-11-28 00:00 local is 2026-11-27 16:00 UTC.
        let t = 20_785 * DAY - LOCAL_OFFSET;
        assert_eq!(local_day_of(t), 20_785);
        assert_eq!(local_day_of(t - 1), 20_784);
        assert_eq!(next_local(t, 8, 0), t + 8 * HOUR);
    }
}

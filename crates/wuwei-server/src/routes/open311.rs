//! Open311 GeoReport v2 (<http://wiki.open311.org/GeoReport_v2>) at `/open311/v2`, so that
//! existing Open311 apps and tools can report cases and follow them.
//!
//! | spec | wuwei |
//! |---|---|
//! | `jurisdiction_id` | the town's administrative code (e.g. `371481107`); optional while the server has one town |
//! | service | an active case category that is not a dispute; `service_code` is the category's `code` |
//! | `api_key` | an API token (`wwt_…`) with `cases.report` in the town |
//! | `service_request_id` | the case's readable number (e.g. `DW-20261128-0001`), everywhere |
//! | `status` | `open` for every open state, `closed` for closed, rejected and merged |
//! | `status_notes` | our precise state in words (zh-CN, or English by `Accept-Language`) |
//! | `expected_datetime` | the running deadline (`due_at`) |
//! | `agency_responsible` | the handling unit's name |
//!
//! **Everything read here is public**: the spec's read methods take no key, so they answer
//! anyone. They show the cases of a town that were reported (never drafts), and never a
//! reporter's name or phone, the handler, the timeline or attachments. Dispute categories
//! (neighbour disputes) are neither listed as services nor shown: they concern named parties and
//! belong to mediation.
//!
//! The format is the suffix (`.json` or `.xml`); answers and errors follow the spec's shapes (XML
//! built by the spec's "Spark" mapping, so both formats carry the same data). Requests are
//! created synchronously, so services are `realtime` and tokens are never issued:
//! `GET /tokens/{token}` answers 404. Not supported: `address_id` (there is no address
//! registry), `email`, `device_id` and `account_id` (accepted and ignored), uploads.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;
use wuwei_domain::access::Principal;
use wuwei_domain::case::{CaseState, Priority, Source};
use wuwei_store::StoreError;
use wuwei_store::cases::{self, CaseRow, PublicCaseQuery};
use wuwei_store::catalog::{self, CategoryRow};
use wuwei_store::regions::{self, RegionRow};

use crate::caseflow::{self, CaseInput};
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::state::AppState;

/// At most this many requests in one answer (the spec's default limit).
pub const MAX_REQUESTS: u64 = 1000;
/// The longest `start_date`..`end_date` span, and the default window (the spec's 90 days).
pub const WINDOW_DAYS: i64 = 90;
/// A POST body is a form of a few fields; the description is at most 4,000 characters.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
const MAX_DESCRIPTION_CHARS: usize = 4000;
const MAX_FORM_FIELDS: usize = 200;
const TITLE_CHARS: usize = 40;
/// The towns run on China Standard Time; dates are given with that offset.
const CST_SECONDS: i32 = 8 * 3600;

/// The Open311 routes (plain axum: the spec is their documentation).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/open311/v2/{resource}",
            get(get_resource).post(post_resource).layer(DefaultBodyLimit::max(MAX_FORM_BYTES)),
        )
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
}

// ---- formats and documents ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// `name.json` → (`name`, JSON). Anything else is not a resource here.
fn split_format(file: &str) -> Option<(&str, Format)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let format = match ext {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return None,
    };
    (!stem.is_empty()).then_some((stem, format))
}

/// One value of an answer. JSON and XML are rendered from the same value by the spec's Spark
/// convention: an object is an element with one child per field, a list is a wrapper element
/// with one child element per item.
#[derive(Debug, Clone)]
enum Val {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Fields in the spec's order.
    Obj(Vec<(&'static str, Val)>),
    /// Items; in XML each is an element named by the first field.
    List(&'static str, Vec<Val>),
}

fn opt_str(s: Option<String>) -> Val {
    s.map(Val::Str).unwrap_or(Val::Null)
}

impl Val {
    fn json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Str(s) => Value::String(s.clone()),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            Val::Bool(b) => Value::Bool(*b),
            Val::Obj(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.json())).collect::<Map<_, _>>())
            }
            Val::List(_, items) => Value::Array(items.iter().map(Val::json).collect()),
        }
    }

    fn xml(&self, name: &str, out: &mut String) {
        match self {
            Val::Null => {
                out.push('<');
                out.push_str(name);
                out.push_str("/>");
                return;
            }
            _ => {
                out.push('<');
                out.push_str(name);
                out.push('>');
            }
        }
        match self {
            Val::Null => {}
            Val::Str(s) => escape_xml(s, out),
            Val::Int(i) => out.push_str(&i.to_string()),
            Val::Float(f) => {
                if f.is_finite() {
                    out.push_str(&f.to_string());
                }
            }
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Obj(fields) => {
                for (k, v) in fields {
                    v.xml(k, out);
                }
            }
            Val::List(item, items) => {
                for v in items {
                    v.xml(item, out);
                }
            }
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}

/// Text as XML character data. Characters XML 1.0 does not allow (most control characters)
/// are dropped; a carriage return is written as a reference so that parsers keep it.
fn escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// An answer: the root element's name (for XML) and its value.
fn render(format: Format, status: StatusCode, root: &str, body: &Val) -> Response {
    let (content_type, text) = match format {
        Format::Json => ("application/json; charset=utf-8", body.json().to_string()),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            body.xml(root, &mut out);
            out.push('\n');
            ("text/xml; charset=utf-8", out)
        }
    };
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

// ---- errors ----

/// An error in the spec's form: `[{"code", "description"}]` / `<errors><error>…`, with the
/// matching HTTP status (404 for what does not exist, 403 for a missing or wrong `api_key`,
/// 400 for anything else the client got wrong).
#[derive(Debug)]
struct Open311Error {
    status: StatusCode,
    description: String,
}

type Open311Result<T> = Result<T, Open311Error>;

/// Words in the request's language: Chinese by default, English when asked for.
fn say(zh: &str, en: &str) -> String {
    match Lang::current() {
        Lang::ZhCn => zh.to_string(),
        Lang::En => en.to_string(),
    }
}

impl Open311Error {
    fn new(status: StatusCode, description: String) -> Open311Error {
        Open311Error { status, description }
    }
    fn bad_request(description: String) -> Open311Error {
        Open311Error::new(StatusCode::BAD_REQUEST, description)
    }
    fn not_found(description: String) -> Open311Error {
        Open311Error::new(StatusCode::NOT_FOUND, description)
    }
    fn forbidden(description: String) -> Open311Error {
        Open311Error::new(StatusCode::FORBIDDEN, description)
    }

    fn respond(&self, format: Format) -> Response {
        let body = Val::List(
            "error",
            vec![Val::Obj(vec![
                ("code", Val::Int(i64::from(self.status.as_u16()))),
                ("description", Val::Str(self.description.clone())),
            ])],
        );
        render(format, self.status, "errors", &body)
    }
}

impl From<ApiError> for Open311Error {
    /// Our own errors in the spec's form: server failures keep their 5xx (already logged),
    /// anything else the client did becomes 400 as the spec asks.
    fn from(e: ApiError) -> Open311Error {
        let body = e.body(Lang::current());
        let mut description = body.message;
        for f in &body.fields {
            description.push_str(&format!("; {}: {}", f.field, f.message));
        }
        let status = match e.status {
            s if s.is_server_error() => s,
            StatusCode::NOT_FOUND => StatusCode::NOT_FOUND,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => StatusCode::FORBIDDEN,
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Open311Error::new(status, description)
    }
}

impl From<StoreError> for Open311Error {
    fn from(e: StoreError) -> Open311Error {
        Open311Error::from(ApiError::from(e))
    }
}

fn answer(format: Format, result: Open311Result<(&'static str, Val)>) -> Response {
    match result {
        Ok((root, body)) => render(format, StatusCode::OK, root, &body),
        Err(e) => e.respond(format),
    }
}

// ---- parameters ----

/// Form or query parameters. Empty values count as absent ("optional" in the spec means the
/// same answer whether a parameter is empty or not sent).
#[derive(Debug, Default)]
struct Params(HashMap<String, Vec<String>>);

impl Params {
    fn parse(raw: &[u8]) -> Open311Result<Params> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (i, (k, v)) in form_urlencoded::parse(raw).enumerate() {
            if i >= MAX_FORM_FIELDS {
                return Err(Open311Error::bad_request(say("参数过多", "too many parameters")));
            }
            let v = v.trim();
            if !v.is_empty() {
                map.entry(k.into_owned()).or_default().push(v.to_string());
            }
        }
        Ok(Params(map))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    /// A comma-delimited parameter, which may also be given more than once.
    fn list(&self, key: &str) -> Vec<String> {
        self.0
            .get(key)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn query_params(raw: Option<&str>) -> Open311Result<Params> {
    let raw = raw.unwrap_or("");
    if raw.len() > 8 * 1024 {
        return Err(Open311Error::bad_request(say("查询参数过长", "query string too long")));
    }
    Params::parse(raw.as_bytes())
}

/// A W3C datetime with its time zone (`2010-01-01T00:00:00Z`, `…+08:00`; seconds optional).
/// A `+` sent unencoded in a query string arrives as a space, and is read as the `+` it was.
fn parse_w3c(raw: &str) -> Option<DateTime<Utc>> {
    let mut s = raw.trim().to_string();
    if s.len() > 6 && s.is_char_boundary(s.len() - 6) && s[s.len() - 6..].starts_with(' ') {
        let at = s.len() - 6;
        s.replace_range(at..at + 1, "+");
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Some(t.with_timezone(&Utc));
    }
    // Minutes only: 2010-01-01T00:00Z.
    if s.len() > 16 && s.is_char_boundary(16) && s.as_bytes().get(13) == Some(&b':') {
        let with_seconds = format!("{}:00{}", &s[..16], &s[16..]);
        return DateTime::parse_from_rfc3339(&with_seconds).ok().map(|t| t.with_timezone(&Utc));
    }
    None
}

/// A date as the spec writes them: W3C, to the second, in the towns' time zone.
fn w3c(t: DateTime<Utc>) -> String {
    match FixedOffset::east_opt(CST_SECONDS) {
        Some(cst) => t.with_timezone(&cst).to_rfc3339_opts(SecondsFormat::Secs, true),
        None => t.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

// ---- the jurisdiction and its services ----

/// The town a `jurisdiction_id` names (its administrative code); without one, the server's
/// only town.
async fn jurisdiction(state: &AppState, given: Option<&str>) -> Open311Result<RegionRow> {
    let towns = regions::towns(state.store().db()).await?;
    match given {
        Some(code) => towns.into_iter().find(|t| t.code.as_deref() == Some(code)).ok_or_else(|| {
            Open311Error::not_found(say(
                &format!("未找到 jurisdiction_id：{code}"),
                &format!("jurisdiction_id not found: {code}"),
            ))
        }),
        None => {
            let mut towns = towns;
            match towns.len() {
                1 => towns.pop().ok_or_else(|| Open311Error::from(ApiError::internal())),
                _ => Err(Open311Error::bad_request(say(
                    "本服务覆盖多个镇，须提供 jurisdiction_id（镇的行政区划代码）",
                    "jurisdiction_id was not provided (this endpoint serves several towns; use the town's code)",
                ))),
            }
        }
    }
}

/// Categories that are shown publicly: not disputes. Active ones are the services; cases of
/// inactive ones are still shown.
fn public_categories(all: &[CategoryRow]) -> Vec<&CategoryRow> {
    all.iter().filter(|c| !c.is_dispute).collect()
}

fn services_of(all: &[CategoryRow]) -> Vec<&CategoryRow> {
    public_categories(all).into_iter().filter(|c| c.active).collect()
}

/// The one attribute every service has: how urgent the report is.
const PRIORITY_ATTRIBUTE: &str = "priority";

fn priority_name(p: Priority) -> String {
    match p {
        Priority::Urgent => say("紧急", "Urgent"),
        Priority::High => say("较急", "High"),
        Priority::Normal => say("一般", "Normal"),
    }
}

fn service_val(c: &CategoryRow, all: &[CategoryRow]) -> Val {
    let parent = c.parent_id.and_then(|p| all.iter().find(|x| x.id == p));
    let has_children = all.iter().any(|x| x.parent_id == Some(c.id) && x.active && !x.is_dispute);
    // A sub-category sits in its parent's group; a parent with sub-categories leads its own.
    let group = match parent {
        Some(p) => Some(p.name.clone()),
        None if has_children => Some(c.name.clone()),
        None => None,
    };
    let mut keywords = vec![c.name_en.clone()];
    if let Some(p) = parent {
        keywords.push(p.name.clone());
        keywords.push(p.name_en.clone());
    }
    Val::Obj(vec![
        ("service_code", Val::Str(c.code.clone())),
        ("service_name", Val::Str(c.name.clone())),
        ("description", Val::Str(format!("{}（{}）", c.name, c.name_en))),
        ("metadata", Val::Bool(true)),
        ("type", Val::Str("realtime".into())),
        ("keywords", Val::Str(keywords.join(", "))),
        ("group", opt_str(group)),
    ])
}

async fn list_services(state: &AppState, params: &Params) -> Open311Result<(&'static str, Val)> {
    let town = jurisdiction(state, params.get("jurisdiction_id")).await?;
    let all = catalog::categories(state.store().db(), town.id).await?;
    let items = services_of(&all).into_iter().map(|c| service_val(c, &all)).collect();
    Ok(("services", Val::List("service", items)))
}

fn unknown_service(code: &str) -> Open311Error {
    Open311Error::not_found(say(&format!("未找到 service_code：{code}"), &format!("service_code not found: {code}")))
}

async fn definition(state: &AppState, code: &str, params: &Params) -> Open311Result<(&'static str, Val)> {
    let town = jurisdiction(state, params.get("jurisdiction_id")).await?;
    let all = catalog::categories(state.store().db(), town.id).await?;
    let service = services_of(&all).into_iter().find(|c| c.code == code).ok_or_else(|| unknown_service(code))?;
    let values = Priority::ALL
        .iter()
        .map(|p| Val::Obj(vec![("key", Val::Str(p.as_str().into())), ("name", Val::Str(priority_name(*p)))]))
        .collect();
    let priority = Val::Obj(vec![
        ("variable", Val::Bool(true)),
        ("code", Val::Str(PRIORITY_ATTRIBUTE.into())),
        ("datatype", Val::Str("singlevaluelist".into())),
        ("required", Val::Bool(false)),
        ("datatype_description", Val::Str(say("不选即为“一般”", "Normal unless chosen"))),
        ("order", Val::Int(1)),
        ("description", Val::Str(say("紧急程度", "How urgent is it?"))),
        ("values", Val::List("value", values)),
    ]);
    Ok((
        "service_definition",
        Val::Obj(vec![
            ("service_code", Val::Str(service.code.clone())),
            ("attributes", Val::List("attribute", vec![priority])),
        ]),
    ))
}

// ---- reading requests ----

fn status_of(s: CaseState) -> &'static str {
    if matches!(s, CaseState::Closed | CaseState::Rejected | CaseState::Merged) { "closed" } else { "open" }
}

fn states_of(status: &str) -> Option<Vec<CaseState>> {
    match status {
        "open" => Some(CaseState::ALL.iter().copied().filter(|s| s.is_open()).collect()),
        "closed" => Some(vec![CaseState::Closed, CaseState::Rejected, CaseState::Merged]),
        _ => None,
    }
}

/// Our precise state in a few words.
fn status_notes(c: &CaseRow, merged_into: Option<&String>) -> String {
    match c.state() {
        CaseState::Collected => say("草稿", "Draft"),
        CaseState::Reported => say("已上报，等待受理", "Reported, waiting to be accepted"),
        CaseState::Accepted => say("已受理", "Accepted"),
        CaseState::Dispatched => say("已派遣，等待处置", "Assigned, waiting to be handled"),
        CaseState::InProgress => say("处置中", "Being handled"),
        CaseState::Resolved => say("已办结，待核查", "Resolved, waiting to be checked"),
        CaseState::Closed => say("已办结销号", "Resolved and closed"),
        CaseState::Rejected => say("不予受理", "Not accepted"),
        CaseState::Merged => match merged_into {
            Some(n) => say(&format!("已合并至 {n}"), &format!("Merged into {n}")),
            None => say("已合并至其他事件", "Merged into another case"),
        },
    }
}

/// Names a page of requests needs, looked up once.
struct Context {
    town: RegionRow,
    categories: HashMap<Uuid, CategoryRow>,
    units: HashMap<Uuid, String>,
    regions: HashMap<Uuid, String>,
    merged_into: HashMap<Uuid, String>,
}

async fn context(state: &AppState, town: RegionRow, all: Vec<CategoryRow>, rows: &[CaseRow]) -> Open311Result<Context> {
    let db = state.store().db();
    let units = catalog::units(db, town.id).await?.into_iter().map(|u| (u.id, u.name)).collect();
    let mut ids: Vec<Uuid> = rows.iter().flat_map(|c| [c.natural_village_id, c.admin_village_id]).flatten().collect();
    ids.sort();
    ids.dedup();
    let targets: Vec<Uuid> = rows.iter().filter_map(|c| c.merged_into_id).collect();
    Ok(Context {
        categories: all.into_iter().map(|c| (c.id, c)).collect(),
        units,
        regions: regions::names_of(db, &ids).await?,
        merged_into: cases::numbers_of(db, town.id, &targets).await?,
        town,
    })
}

/// A case as the public sees it. Reporter, handler, timeline and attachments are left out.
fn request_val(c: &CaseRow, ctx: &Context) -> Val {
    let category = ctx.categories.get(&c.category_id);
    let state = c.state();
    let description = match (c.title.trim(), c.description.trim()) {
        (t, "") => t.to_string(),
        (t, d) if d.starts_with(t) => d.to_string(),
        (t, d) => format!("{t}：{d}"),
    };
    // Without an address, the villages and the town say where it is, most specific first.
    let address = c.address.clone().filter(|a| !a.trim().is_empty()).or_else(|| {
        let parts: Vec<String> = [c.natural_village_id, c.admin_village_id]
            .into_iter()
            .flatten()
            .filter_map(|id| ctx.regions.get(&id).cloned())
            .chain(std::iter::once(ctx.town.name.clone()))
            .collect();
        Some(parts.join(", "))
    });
    let closed = status_of(state) == "closed";
    // For closed requests the spec wants the time it was closed.
    let updated = if state == CaseState::Closed { c.closed_at.unwrap_or(c.updated_at) } else { c.updated_at };
    Val::Obj(vec![
        ("service_request_id", Val::Str(c.number.clone())),
        ("status", Val::Str(status_of(state).into())),
        ("status_notes", Val::Str(status_notes(c, c.merged_into_id.and_then(|m| ctx.merged_into.get(&m))))),
        ("service_name", opt_str(category.map(|k| k.name.clone()))),
        ("service_code", opt_str(category.map(|k| k.code.clone()))),
        ("description", Val::Str(description)),
        ("agency_responsible", opt_str(c.unit_id.and_then(|u| ctx.units.get(&u).cloned()))),
        ("service_notice", Val::Null),
        ("requested_datetime", Val::Str(w3c(c.reported_at.unwrap_or(c.created_at)))),
        ("updated_datetime", Val::Str(w3c(updated))),
        ("expected_datetime", if closed { Val::Null } else { opt_str(c.due_at.map(w3c)) }),
        ("address", opt_str(address)),
        ("address_id", Val::Null),
        ("zipcode", Val::Null),
        ("lat", c.lat.map(Val::Float).unwrap_or(Val::Null)),
        ("long", c.lon.map(Val::Float).unwrap_or(Val::Null)),
        // Photos are private to those who may read the case; none are published.
        ("media_url", Val::Null),
    ])
}

fn bad_date(field: &str) -> Open311Error {
    Open311Error::bad_request(say(
        &format!("{field} 须为带时区的 W3C 日期时间，例如 2026-11-28T00:00:00+08:00"),
        &format!("{field} must be a W3C datetime with a time zone, e.g. 2026-11-28T00:00:00+08:00"),
    ))
}

async fn list_requests(state: &AppState, params: &Params) -> Open311Result<(&'static str, Val)> {
    let town = jurisdiction(state, params.get("jurisdiction_id")).await?;
    let all = catalog::categories(state.store().db(), town.id).await?;
    let public = public_categories(&all);
    let numbers = params.list("service_request_id");
    let mut q = PublicCaseQuery::default();
    if !numbers.is_empty() {
        // The spec: a list of ids overrides every other argument.
        if numbers.len() as u64 > MAX_REQUESTS {
            return Err(Open311Error::bad_request(say(
                "service_request_id 最多 1000 个",
                "at most 1000 service_request_id values",
            )));
        }
        q.numbers = numbers;
        q.states = CaseState::ALL.iter().copied().filter(|s| *s != CaseState::Collected).collect();
        q.category_ids = public.iter().map(|c| c.id).collect();
    } else {
        let statuses = params.list("status");
        if statuses.is_empty() {
            q.states = CaseState::ALL.iter().copied().filter(|s| *s != CaseState::Collected).collect();
        }
        for s in &statuses {
            let states = states_of(s).ok_or_else(|| {
                Open311Error::bad_request(say(
                    &format!("status 只能是 open 或 closed，而不是 {s}"),
                    &format!("status must be open or closed, not {s}"),
                ))
            })?;
            q.states.extend(states);
        }
        let codes = params.list("service_code");
        q.category_ids = public.iter().filter(|c| codes.is_empty() || codes.contains(&c.code)).map(|c| c.id).collect();
        let start = params.get("start_date").map(|s| parse_w3c(s).ok_or_else(|| bad_date("start_date"))).transpose()?;
        let end = params.get("end_date").map(|s| parse_w3c(s).ok_or_else(|| bad_date("end_date"))).transpose()?;
        let window = Duration::days(WINDOW_DAYS);
        let (from, until) = match (start, end) {
            (None, None) => (state.now() - window, None),
            (Some(s), None) => (s, Some(s + window)),
            (None, Some(e)) => (e - window, Some(e)),
            (Some(s), Some(e)) => {
                if e < s {
                    return Err(Open311Error::bad_request(say(
                        "end_date 早于 start_date",
                        "end_date is before start_date",
                    )));
                }
                if e - s > window {
                    return Err(Open311Error::bad_request(say(
                        "start_date 与 end_date 相隔不得超过 90 天",
                        "start_date and end_date may not span more than 90 days",
                    )));
                }
                (s, Some(e))
            }
        };
        q.reported_from = Some(from);
        q.reported_until = until;
    }
    let rows = cases::public_cases(state.store().db(), town.id, &q, MAX_REQUESTS).await?;
    let ctx = context(state, town, all, &rows).await?;
    Ok(("service_requests", Val::List("request", rows.iter().map(|c| request_val(c, &ctx)).collect())))
}

async fn get_request(state: &AppState, id: &str, params: &Params) -> Open311Result<(&'static str, Val)> {
    let town = jurisdiction(state, params.get("jurisdiction_id")).await?;
    let all = catalog::categories(state.store().db(), town.id).await?;
    let public: Vec<Uuid> = public_categories(&all).iter().map(|c| c.id).collect();
    let found = cases::case_by_number(state.store().db(), town.id, id)
        .await?
        .filter(|c| c.state() != CaseState::Collected && c.reported_at.is_some() && public.contains(&c.category_id))
        .ok_or_else(|| {
            Open311Error::not_found(say(
                &format!("未找到 service_request_id：{id}"),
                &format!("service_request_id not found: {id}"),
            ))
        })?;
    let rows = [found];
    let ctx = context(state, town, all, &rows).await?;
    Ok(("service_requests", Val::List("request", rows.iter().map(|c| request_val(c, &ctx)).collect())))
}

// ---- reporting ----

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

fn coordinate(params: &Params, key: &str, limit: f64) -> Open311Result<Option<f64>> {
    match params.get(key) {
        None => Ok(None),
        Some(raw) => match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= limit => Ok(Some(v)),
            _ => Err(Open311Error::bad_request(say(
                &format!("{key} 不是有效的 WGS84 坐标：{raw}"),
                &format!("{key} is not a WGS84 coordinate: {raw}"),
            ))),
        },
    }
}

/// Free text as people send it: line breaks and tabs kept, other control characters dropped.
fn clean_text(s: &str) -> String {
    s.replace("\r\n", "\n").chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// The reporter's name as the form gives it: family name first for Chinese names.
fn reporter_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first.map(clean_text), last.map(clean_text)) {
        (None, None) => None,
        (Some(f), None) => Some(f),
        (None, Some(l)) => Some(l),
        (Some(f), Some(l)) if f.is_ascii() && l.is_ascii() => Some(format!("{f} {l}")),
        (Some(f), Some(l)) => Some(format!("{l}{f}")),
    }
}

/// Create a case from the form. The checks run in the spec's order of concern: the key, the
/// jurisdiction, the service, the location, then the rest.
async fn create(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    query: &Params,
) -> Open311Result<(&'static str, Val)> {
    if !is_form(headers) {
        return Err(Open311Error::bad_request(say(
            "请以 application/x-www-form-urlencoded 提交",
            "send the request as application/x-www-form-urlencoded",
        )));
    }
    let form = Params::parse(body)?;
    let param = |k: &str| form.get(k).or_else(|| query.get(k));
    let principal = api_key(state, param("api_key")).await?;
    let town = jurisdiction(state, param("jurisdiction_id")).await?;
    let code = param("service_code")
        .ok_or_else(|| Open311Error::bad_request(say("缺少 service_code", "service_code was not provided")))?;
    let all = catalog::categories(state.store().db(), town.id).await?;
    let service =
        services_of(&all).into_iter().find(|c| c.code == code).cloned().ok_or_else(|| unknown_service(code))?;

    let lat = coordinate(&form, "lat", 90.0)?;
    let lon = coordinate(&form, "long", 180.0)?;
    let address = form.get("address_string").map(clean_text);
    if lat.is_some() != lon.is_some() {
        return Err(Open311Error::bad_request(say("lat 与 long 须同时提供", "lat and long must be sent together")));
    }
    if lat.is_none() && address.is_none() {
        let msg = if form.get("address_id").is_some() {
            say(
                "不支持 address_id，请提供 lat/long 或 address_string",
                "address_id is not supported: send lat/long or address_string",
            )
        } else {
            say("须提供位置：lat/long 或 address_string", "a location is required: lat/long or address_string")
        };
        return Err(Open311Error::bad_request(msg));
    }
    if address.as_ref().is_some_and(|a| a.chars().count() > 255) {
        return Err(Open311Error::bad_request(say(
            "address_string 最多 255 个字符",
            "address_string is longer than 255 characters",
        )));
    }

    let priority = match form.0.get(&format!("attribute[{PRIORITY_ATTRIBUTE}]")).map(Vec::as_slice) {
        None | Some([]) => Priority::Normal,
        Some([one]) => Priority::parse(one).ok_or_else(|| {
            Open311Error::bad_request(say(
                &format!("attribute[priority] 只能是 urgent、high 或 normal，而不是 {one}"),
                &format!("attribute[priority] must be urgent, high or normal, not {one}"),
            ))
        })?,
        Some(_) => {
            return Err(Open311Error::bad_request(say(
                "attribute[priority] 只能有一个值",
                "attribute[priority] takes one value",
            )));
        }
    };

    let mut description = form.get("description").map(clean_text).unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Open311Error::bad_request(say(
            "description 最多 4000 个字符",
            "description is longer than 4,000 characters",
        )));
    }
    let title = description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().map(|c| if c.is_control() { ' ' } else { c }).take(TITLE_CHARS).collect::<String>())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| service.name.clone());
    if let Some(url) = form.get("media_url") {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= 1000
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(Open311Error::bad_request(say(
                "media_url 须为 http(s) 链接",
                "media_url must be an http(s) URL",
            )));
        }
        // Kept with the text, so the link reaches the dispatcher.
        description = if description.is_empty() { url.to_string() } else { format!("{description}\n\n{url}") };
    }
    let name = reporter_name(form.get("first_name"), form.get("last_name"));
    if name.as_ref().is_some_and(|n| n.chars().count() > 64) {
        return Err(Open311Error::bad_request(say(
            "姓名最多 64 个字符",
            "first_name and last_name are longer than 64 characters",
        )));
    }
    let phone = form.get("phone").map(|p| p.chars().filter(|c| !matches!(c, '(' | ')' | '.')).collect::<String>());
    let phone = wuwei_domain::validate::phone("phone", phone.as_deref())
        .map_err(|_| Open311Error::bad_request(say("phone 不是有效的电话号码", "phone is not a phone number")))?;

    let input = CaseInput {
        town_id: Some(town.id),
        category_id: service.id,
        priority,
        title,
        description,
        lat,
        lon,
        address,
        household_id: None,
        source: Some(Source::Open311),
        draft: false,
        reporter_name: name,
        reporter_phone: phone,
    };
    let actor = wuwei_store::Actor { id: Some(principal.user_id), name: principal.username.clone() };
    let row =
        caseflow::create(state, &principal, None, &actor, input, None).await.map(|c| c.row).map_err(|e| {
            match (e.status, e.code) {
                (StatusCode::FORBIDDEN, _) => Open311Error::forbidden(say(
                    "该 api_key 无权在本辖区上报",
                    "this api_key may not report in this jurisdiction",
                )),
                (_, "outside_town") => {
                    Open311Error::bad_request(say("位置不在本辖区内", "the location is outside the jurisdiction"))
                }
                (_, "validation_failed") if e.fields.iter().any(|f| f.field == "town_id") => Open311Error::forbidden(
                    say("该 api_key 无权在本辖区上报", "this api_key may not report in this jurisdiction"),
                ),
                _ => Open311Error::from(e),
            }
        })?;
    let notice = match row.due_at {
        Some(due) => say(
            &format!("已上报，编号 {}，将于 {} 前受理。", row.number, w3c(due)),
            &format!("Reported as {}; it will be accepted by {}.", row.number, w3c(due)),
        ),
        None => say(&format!("已上报，编号 {}。", row.number), &format!("Reported as {}.", row.number)),
    };
    Ok((
        "service_requests",
        Val::List(
            "request",
            vec![Val::Obj(vec![
                ("service_request_id", Val::Str(row.number)),
                ("service_notice", Val::Str(notice)),
                ("account_id", Val::Null),
            ])],
        ),
    ))
}

/// The principal an `api_key` stands for: 403 when it is missing, unknown, revoked or expired
/// (the spec's "Missing or Invalid API Key").
async fn api_key(state: &AppState, key: Option<&str>) -> Open311Result<Principal> {
    let key = key.ok_or_else(|| Open311Error::forbidden(say("缺少 api_key", "api_key was not provided")))?;
    crate::auth::api_token_principal(state, key)
        .await?
        .ok_or_else(|| Open311Error::forbidden(say("api_key 无效", "invalid api_key")))
}

// ---- handlers ----

/// `GET /services.{format}` and `GET /requests.{format}`.
async fn get_resource(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((name, format)) = split_format(&resource) else { return ApiError::not_found().into_response() };
    let result = match query_params(query.as_deref()) {
        Err(e) => Err(e),
        Ok(params) => match name {
            "services" => list_services(&state, &params).await,
            "requests" => list_requests(&state, &params).await,
            _ => return ApiError::not_found().into_response(),
        },
    };
    answer(format, result)
}

/// `POST /requests.{format}`.
async fn post_resource(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(("requests", format)) = split_format(&resource) else { return ApiError::not_found().into_response() };
    let result = async {
        let body = body.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Open311Error::new(StatusCode::PAYLOAD_TOO_LARGE, say("请求体过大", "the request body is too large"))
            } else {
                Open311Error::bad_request(r.body_text())
            }
        })?;
        let query = query_params(query.as_deref())?;
        create(&state, &headers, &body, &query).await
    }
    .await;
    answer(format, result)
}

/// `GET /services/{service_code}.{format}`.
async fn service_definition(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((code, format)) = split_format(&file) else { return ApiError::not_found().into_response() };
    let result = match query_params(query.as_deref()) {
        Ok(params) => definition(&state, code, &params).await,
        Err(e) => Err(e),
    };
    answer(format, result)
}

/// `GET /requests/{service_request_id}.{format}`.
async fn one_request(State(state): State<AppState>, Path(file): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some((id, format)) = split_format(&file) else { return ApiError::not_found().into_response() };
    let result = match query_params(query.as_deref()) {
        Ok(params) => get_request(&state, id, &params).await,
        Err(e) => Err(e),
    };
    answer(format, result)
}

/// `GET /tokens/{token}.{format}`: requests are created synchronously and no token is ever
/// issued, so every token is unknown.
async fn token(State(state): State<AppState>, Path(file): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some((token, format)) = split_format(&file) else { return ApiError::not_found().into_response() };
    let result = async {
        let params = query_params(query.as_deref())?;
        jurisdiction(&state, params.get("jurisdiction_id")).await?;
        Err::<(&'static str, Val), _>(Open311Error::not_found(say(
            &format!("未找到 token：{token}（本服务即时返回 service_request_id，不发放 token）"),
            &format!(
                "token not found: {token} (this endpoint returns service_request_id at once and issues no tokens)"
            ),
        )))
    }
    .await;
    answer(format, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_suffix() {
        assert_eq!(split_format("services.json"), Some(("services", Format::Json)));
        assert_eq!(split_format("DW-20261128-0001.xml"), Some(("DW-20261128-0001", Format::Xml)));
        assert_eq!(split_format("services.html"), None);
        assert_eq!(split_format("services"), None);
        assert_eq!(split_format(".json"), None);
    }

    #[test]
    fn w3c_dates_are_read_with_their_zone_and_written_in_china_time() {
        let t = parse_w3c("2010-01-01T00:00:00Z").unwrap();
        assert_eq!(w3c(t), "2010-01-01T08:00:00+08:00");
        assert_eq!(parse_w3c("2010-01-01T08:00:00+08:00"), Some(t));
        assert_eq!(parse_w3c("2010-01-01T08:00:00 08:00"), Some(t), "an unencoded + in a query");
        assert_eq!(parse_w3c("2010-01-01T00:00Z"), Some(t), "minutes only");
        assert_eq!(parse_w3c("2010-01-01T00:00:00.5Z").map(|x| x.timestamp()), Some(t.timestamp()));
        assert_eq!(parse_w3c("2010-01-01T00:00:00"), None, "a zone is required");
        assert_eq!(parse_w3c("2010-01-01"), None);
        assert_eq!(parse_w3c("yesterday"), None);
    }

    #[test]
    fn xml_text_is_escaped_and_stripped_of_what_xml_forbids() {
        let mut out = String::new();
        escape_xml("a<b>&\"c'\r\n\t\u{1}\u{FFFF}d", &mut out);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&apos;&#13;\n\td");
    }

    #[test]
    fn values_render_as_spark_json_and_xml() {
        let v = Val::List(
            "request",
            vec![Val::Obj(vec![("id", Val::Str("A&B".into())), ("lat", Val::Float(37.5)), ("note", Val::Null)])],
        );
        assert_eq!(v.json().to_string(), r#"[{"id":"A&B","lat":37.5,"note":null}]"#);
        let mut out = String::new();
        v.xml("service_requests", &mut out);
        assert_eq!(
            out,
            "<service_requests><request><id>A&amp;B</id><lat>37.5</lat><note/></request></service_requests>"
        );
    }

    #[test]
    fn names_follow_their_script() {
        assert_eq!(reporter_name(Some("三"), Some("张")).as_deref(), Some("张三"));
        assert_eq!(reporter_name(Some("John"), Some("Smith")).as_deref(), Some("John Smith"));
        assert_eq!(reporter_name(None, Some("张")).as_deref(), Some("张"));
        assert_eq!(reporter_name(None, None), None);
    }
}

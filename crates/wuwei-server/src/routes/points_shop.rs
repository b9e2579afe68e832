//! The village points stores (积分超市) over HTTP: the stores, goods and stock, the counter
//! (household lookup, redemption, return) and redemption receipts.
//!
//! Who may do what: `points.sell` works a store's counter — goods, restocking, lookups,
//! redemptions and returns — at the stores of the admin villages in its scope (a store clerk:
//! their village's store; a town admin: every store of the town). `points.read` sees stores,
//! goods, movements and redemptions in its scope; a resident sees their village's store and
//! catalogue and their own household's redemptions. As elsewhere, what the caller cannot see is
//! 404, and a write they can see but not make is 403.
//!
//! Stores are made per admin village by `points_shop::ensure_stores`: the demo loader calls it,
//! and `GET /points/stores` calls it when the town has an admin village without a store, so a
//! town's stores exist from its first look at the stores page on.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wuwei_domain::access::{Permission, Place, Role};
use wuwei_domain::points::basket::{BasketRefusal, MAX_LINE_QUANTITY, MAX_LINES};
use wuwei_domain::points::ledger::MAX_KEY_CHARS;
use wuwei_domain::validate::{self, Issues, Rule};
use wuwei_store::households::{self, HouseholdRow};
use wuwei_store::points_shop::{
    self as shop, Clerk, GoodsPatch, GoodsRow, MovementRow, NewGoods, RedeemError, RedeemRequest, Redemption,
    RedemptionFilter, ReturnError, StoreRow,
};
use wuwei_store::regions::RegionRow;
use wuwei_store::{StoreError, accounts, points_awards, regions};

use crate::auth::Auth;
use crate::batch::Batcher;
use crate::dto::{Page, PageParams, RefDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, IdPath};
use crate::i18n::Lang;
use crate::routes::points::{HouseholdPointsDto, HouseholdRefDto, household_points, household_refs, points_error};
use crate::state::AppState;

/// Units restocked at once at most.
pub const MAX_RESTOCK: i64 = 10_000;
/// A goods' price in points at most.
pub const MAX_PRICE_POINTS: i64 = 100_000;
/// A goods' cash value at most, in fen (¥1,000,000).
pub const MAX_VALUE_FEN: i64 = 100_000_000;
/// A lookup's code or scanned text at most (characters, after trimming).
pub const MAX_LOOKUP_CHARS: usize = 64;
/// A goods search text at most (characters).
pub const MAX_QUERY_CHARS: usize = 64;

// ---- shapes ----

#[derive(Debug, Serialize, ToSchema)]
pub struct PointsStoreDto {
    pub id: Uuid,
    /// E.g. `东塘村积分超市`.
    pub name: String,
    pub admin_village: RefDto,
    /// Display names of the village's store clerks.
    pub clerk_names: Vec<String>,
    /// Goods on the shelf (active ones).
    pub goods_count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GoodsDto {
    pub id: Uuid,
    pub store_id: Uuid,
    pub name: String,
    pub barcode: Option<String>,
    /// A photo uploaded through `POST /api/v1/points/evidence`.
    pub photo_attachment_id: Option<Uuid>,
    /// Points per unit.
    pub price_points: i64,
    /// Cash value per unit, in fen (分), for the figures.
    pub value_fen: i64,
    /// Units on the shelf now.
    pub stock: i64,
    /// At most this many per household per redemption.
    pub max_per_redemption: Option<i32>,
    pub active: bool,
    /// Bumped by every edit (not by stock changes); send it back with a PATCH.
    pub version: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockMovementDto {
    pub at: DateTime<Utc>,
    /// Units added (positive) or taken (negative).
    pub delta: i64,
    /// Stock after the movement.
    pub stock_after: i64,
    /// `redemption`, `return`, `restock` or `adjustment`.
    pub reason: String,
    pub actor_name: String,
    pub note: Option<String>,
    pub redemption_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionLineDto {
    pub goods_id: Uuid,
    /// The goods' name as sold.
    pub name: String,
    pub quantity: i32,
    /// Points per unit as sold.
    pub unit_price: i64,
    pub points: i64,
    pub value_fen: i64,
}

/// A redemption: the receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionDto {
    pub id: Uuid,
    /// Readable, per town and China day: `DH-20261128-0001`.
    pub number: String,
    pub store: RefDto,
    pub household: HouseholdRefDto,
    /// One line per goods (lines of the same goods merged), in goods id order.
    pub lines: Vec<RedemptionLineDto>,
    pub total_points: i64,
    pub value_fen: i64,
    /// The household's balance right after the redemption.
    pub balance_after: i64,
    pub clerk_name: String,
    pub at: DateTime<Utc>,
    /// The ledger posting of the redemption.
    pub posting_id: Uuid,
    pub returned_at: Option<DateTime<Utc>>,
    pub returned_by_name: Option<String>,
    pub return_reason: Option<String>,
}

// ---- helpers ----

fn goods_dto(g: &GoodsRow) -> GoodsDto {
    GoodsDto {
        id: g.id,
        store_id: g.store_id,
        name: g.name.clone(),
        barcode: g.barcode.clone(),
        photo_attachment_id: g.photo_attachment_id,
        price_points: g.price_points,
        value_fen: g.value_fen,
        stock: g.stock,
        max_per_redemption: g.max_per_redemption,
        active: g.active,
        version: g.version,
    }
}

fn movement_dto(m: MovementRow) -> StockMovementDto {
    StockMovementDto {
        at: m.at,
        delta: m.delta,
        stock_after: m.stock_after,
        reason: m.reason,
        actor_name: m.actor_name,
        note: m.note,
        redemption_id: m.redemption_id,
    }
}

/// Where a store sits (its admin village's place), for authorization.
async fn store_place(state: &AppState, store: &StoreRow) -> ApiResult<Place> {
    let village = regions::region_in_town(state.store().db(), store.town_id, store.admin_village_id).await?;
    Ok(place_of(store, village.as_ref()))
}

/// A store's place from its village as read.
fn place_of(store: &StoreRow, village: Option<&RegionRow>) -> Place {
    // A store always has its village; without it, it is in no one's scope but the town's.
    village.map(|v| v.place()).unwrap_or(Place {
        town_id: Some(store.town_id),
        admin_village_id: Some(store.admin_village_id),
        ..Place::default()
    })
}

/// What the caller may do at a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read the store and its catalogue (a resident of the village, a grid worker, ...).
    See,
    /// Read its movements and redemptions too (staff with `points.read` over the village).
    Read,
    /// Work its counter.
    Sell,
}

async fn access(state: &AppState, auth: &Auth, store: &StoreRow) -> ApiResult<Option<Access>> {
    Ok(access_at(auth, &store_place(state, store).await?))
}

fn access_at(auth: &Auth, place: &Place) -> Option<Access> {
    let p = &auth.principal;
    if p.can(Permission::PointsSell, place) {
        Some(Access::Sell)
    } else if p.can(Permission::PointsRead, place) {
        Some(Access::Read)
    } else if p.can_see_region(Permission::PointsRead, place) {
        Some(Access::See)
    } else {
        None
    }
}

/// A store the caller may see (404 otherwise), with what they may do there.
async fn visible_store(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<(StoreRow, Access)> {
    let store = shop::store(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    match access(state, auth, &store).await? {
        Some(a) => Ok((store, a)),
        None => Err(ApiError::not_found()),
    }
}

/// A store as its counter works it: with its village (read once for the check and the receipt).
struct CounterStore {
    store: StoreRow,
    village: Option<RegionRow>,
}

/// A store whose counter the caller may work (404 if they cannot see it, 403 if they may not sell).
async fn counter_store(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<CounterStore> {
    let db = state.store().db();
    let (store, village) = shop::store_with_village(db, id).await?.ok_or_else(ApiError::not_found)?;
    let access = access_at(auth, &place_of(&store, village.as_ref())).ok_or_else(ApiError::not_found)?;
    require(access, Access::Sell)?;
    Ok(CounterStore { store, village })
}

/// 404 for a store the caller cannot see, 403 for one they see but may not `want` at.
fn require(access: Access, want: Access) -> ApiResult<()> {
    let rank = |a: Access| match a {
        Access::See => 0,
        Access::Read => 1,
        Access::Sell => 2,
    };
    if rank(access) >= rank(want) {
        Ok(())
    } else if want == Access::Read {
        Err(ApiError::not_found())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Goods by id in one of the caller's towns, with its store and the caller's access there.
async fn visible_goods(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<(GoodsRow, StoreRow, Access)> {
    for town in crate::dto::visible_town_ids(state, &auth.principal).await? {
        if let Some(g) = shop::goods(state.store().db(), town, id).await? {
            let (store, access) = visible_store(state, auth, g.store_id).await?;
            return Ok((g, store, access));
        }
    }
    Err(ApiError::not_found())
}

/// A redemption by id in one of the caller's towns.
async fn find_redemption(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<Redemption> {
    for town in crate::dto::visible_town_ids(state, &auth.principal).await? {
        if let Some(r) = shop::redemption(state.store().db(), town, id).await? {
            return Ok(r);
        }
    }
    Err(ApiError::not_found())
}

fn clerk(auth: &Auth) -> Clerk {
    let actor = auth.actor();
    let shown_as = auth.user.as_ref().map(|u| u.display_name.clone()).unwrap_or_else(|| actor.name.clone());
    Clerk { actor, shown_as }
}

async fn redemption_dtos(state: &AppState, items: Vec<Redemption>) -> ApiResult<Vec<RedemptionDto>> {
    redemption_dtos_at(state, None, items).await
}

/// A redemption made at `store` (already read), as the counter gets it back.
async fn redemption_dto_at(state: &AppState, store: &StoreRow, r: Redemption) -> ApiResult<RedemptionDto> {
    redemption_dtos_at(state, Some(store), vec![r]).await?.pop().ok_or_else(ApiError::internal)
}

/// Receipts; `known` is a store already read (its town's stores are not read again for it).
async fn redemption_dtos_at(
    state: &AppState,
    known: Option<&StoreRow>,
    items: Vec<Redemption>,
) -> ApiResult<Vec<RedemptionDto>> {
    let db = state.store().db();
    let mut by_town: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in &items {
        by_town.entry(r.row.town_id).or_default().push(r.row.household_id);
    }
    let mut households: HashMap<Uuid, HouseholdRow> = HashMap::new();
    let mut stores: HashMap<Uuid, StoreRow> = HashMap::new();
    for (town, ids) in by_town {
        households.extend(shop::households_by_ids(db, town, &ids).await?.into_iter().map(|h| (h.id, h)));
    }
    if let Some(k) = known {
        stores.insert(k.id, k.clone());
    }
    let mut missing: Vec<Uuid> =
        items.iter().filter(|r| !stores.contains_key(&r.row.store_id)).map(|r| r.row.town_id).collect();
    missing.sort_unstable();
    missing.dedup();
    for town in missing {
        stores.extend(shop::stores(db, town).await?.into_iter().map(|s| (s.id, s)));
    }
    let rows: Vec<&HouseholdRow> = households.values().collect();
    let refs: HashMap<Uuid, HouseholdRefDto> =
        household_refs(state, &rows).await?.into_iter().map(|h| (h.id, h)).collect();
    let mut out = Vec::with_capacity(items.len());
    for r in items {
        let household = refs.get(&r.row.household_id).cloned().ok_or_else(ApiError::internal)?;
        let store_name = stores.get(&r.row.store_id).map(|s| s.name.clone()).unwrap_or_default();
        out.push(receipt(r, store_name, household));
    }
    Ok(out)
}

/// A receipt from what is already known.
fn receipt(Redemption { row: r, lines }: Redemption, store_name: String, household: HouseholdRefDto) -> RedemptionDto {
    RedemptionDto {
        id: r.id,
        number: r.number,
        store: RefDto { id: r.store_id, name: store_name, code: None },
        household,
        lines: lines
            .into_iter()
            .map(|l| RedemptionLineDto {
                goods_id: l.goods_id,
                name: l.name,
                quantity: l.quantity,
                unit_price: l.unit_price,
                points: l.points,
                value_fen: l.value_fen,
            })
            .collect(),
        total_points: r.total_points,
        value_fen: r.value_fen,
        balance_after: r.balance_after,
        clerk_name: r.clerk_name,
        at: r.at,
        posting_id: r.posting_id,
        returned_at: r.returned_at,
        returned_by_name: r.returned_by_name,
        return_reason: r.return_reason,
    }
}

/// The counter's receipt: the store and its village as read for the request, the household as
/// the batch read it (a household of the store's village: the batch checked), so no read at
/// all. Without the household (it cannot be, but) the receipt is built the long way.
async fn counter_receipt(
    state: &AppState,
    counter: &CounterStore,
    household: Option<HouseholdRow>,
    r: Redemption,
) -> ApiResult<RedemptionDto> {
    match (household, &counter.village) {
        (Some(h), Some(v)) if h.id == r.row.household_id && h.admin_village_id == v.id => {
            let household = HouseholdRefDto {
                id: h.id,
                code: h.code,
                head_name: h.head_name,
                admin_village: RefDto { id: v.id, name: v.name.clone(), code: None },
            };
            Ok(receipt(r, counter.store.name.clone(), household))
        }
        _ => redemption_dto_at(state, &counter.store, r).await,
    }
}

async fn redemption_dto(state: &AppState, r: Redemption) -> ApiResult<RedemptionDto> {
    redemption_dtos(state, vec![r]).await?.pop().ok_or_else(ApiError::internal)
}

/// A range check on a number field.
fn in_range(issues: &mut Issues, field: &str, v: i64, min: i64, max: i64) {
    if !(min..=max).contains(&v) {
        issues.push(field, Rule::OutOfRange { min, max });
    }
}

/// Absent stays `None`, `null` becomes `Some(None)`: "leave as is" and "clear" differ in a PATCH.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A barcode: printable, no spaces inside, at most 64 characters; empty means none.
fn barcode(issues: &mut Issues, raw: Option<&str>) -> Option<String> {
    let b = issues.take(validate::optional_text("barcode", raw, shop::MAX_BARCODE_CHARS)).flatten()?;
    if b.chars().any(char::is_whitespace) {
        issues.push("barcode", Rule::Charset { allowed: "letters, digits and symbols without spaces" });
        return None;
    }
    Some(b)
}

async fn check_photo(state: &AppState, town_id: Uuid, id: Option<Uuid>, issues: &mut Issues) -> ApiResult<()> {
    if let Some(id) = id
        && points_awards::evidence_of(state.store().db(), town_id, &[id]).await?.is_empty()
    {
        issues.push("photo_attachment_id", Rule::UnknownReference);
    }
    Ok(())
}

fn duplicate_barcode() -> ApiError {
    ApiError::conflict("duplicate").with_field("barcode", Rule::Duplicate)
}

// ---- stores ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoreListParams {
    /// The caller's own town when absent.
    pub town_id: Option<Uuid>,
}

/// The points stores of a town the caller may see (one per admin village), by name. Stores
/// missing for some admin village are made on this first look.
#[utoipa::path(get, path = "/api/v1/points/stores", tag = "points", params(StoreListParams),
    responses((status = 200, body = Vec<PointsStoreDto>), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_stores(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<StoreListParams>,
) -> ApiResult<Json<Vec<PointsStoreDto>>> {
    auth.require_any(Permission::PointsRead)?;
    let town_id = crate::routes::points::town_of(&state, &auth, params.town_id).await?;
    let db = state.store().db();
    if shop::stores_missing(db, town_id).await? {
        let now = state.now();
        let mut tx = state.store().begin().await?;
        if shop::ensure_stores(&mut tx, town_id, now).await? > 0 {
            tx.commit(now).await?;
        }
    }
    let counts = shop::goods_counts(db, town_id).await?;
    let mut out = Vec::new();
    for store in shop::stores(db, town_id).await? {
        if access(&state, &auth, &store).await?.is_none() {
            continue;
        }
        let clerks = accounts::users_with_role_at(db, &[Role::StoreClerk], store.admin_village_id).await?;
        let village = regions::region_in_town(db, town_id, store.admin_village_id).await?;
        out.push(PointsStoreDto {
            id: store.id,
            admin_village: RefDto {
                id: store.admin_village_id,
                name: village.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
                code: village.and_then(|v| v.code),
            },
            clerk_names: clerks.into_iter().map(|u| u.display_name).collect(),
            goods_count: counts.get(&store.id).copied().unwrap_or(0),
            name: store.name,
        });
    }
    Ok(Json(out))
}

// ---- goods ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GoodsListParams {
    /// Part of the name or the barcode.
    pub q: Option<String>,
    /// Also goods taken off the shelf (for those who work the counter).
    pub include_inactive: Option<bool>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// A store's goods, by name. Residents of the village see their store's catalogue and stock.
#[utoipa::path(get, path = "/api/v1/points/stores/{id}/goods", tag = "points", params(("id" = Uuid, Path), GoodsListParams),
    responses((status = 200, body = Page<GoodsDto>), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_goods(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiQuery(params): ApiQuery<GoodsListParams>,
) -> ApiResult<Json<Page<GoodsDto>>> {
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    let (store, access) = visible_store(&state, &auth, id).await?;
    let q: Option<String> = params.q.map(|q| q.trim().chars().take(MAX_QUERY_CHARS).collect());
    let include_inactive = params.include_inactive.unwrap_or(false) && access == Access::Sell;
    let (rows, total) = shop::list_goods(state.store().db(), &store, q.as_deref(), include_inactive, page).await?;
    Ok(Json(Page::new(rows.iter().map(goods_dto).collect(), page, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGoodsBody {
    /// 1 to 100 characters.
    pub name: String,
    /// Up to 64 characters, unique in the store.
    pub barcode: Option<String>,
    /// A photo from `POST /api/v1/points/evidence`.
    pub photo_attachment_id: Option<Uuid>,
    /// 1 to 100,000.
    pub price_points: i64,
    /// 0 to 100,000,000 (¥1,000,000).
    pub value_fen: i64,
    /// Initial stock, 0 to 10,000 (a `restock` movement); 0 when absent.
    pub stock: Option<i64>,
    /// 1 to 99; no limit when absent.
    pub max_per_redemption: Option<i64>,
}

/// Put new goods on a store's shelf (its clerk, or a town admin).
#[utoipa::path(post, path = "/api/v1/points/stores/{id}/goods", tag = "points", params(("id" = Uuid, Path)),
    request_body = NewGoodsBody,
    responses((status = 201, body = GoodsDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "The barcode is used in this store"),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_goods(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<NewGoodsBody>,
) -> ApiResult<(StatusCode, Json<GoodsDto>)> {
    let (store, access) = visible_store(&state, &auth, id).await?;
    require(access, Access::Sell)?;
    let mut issues = Issues::default();
    let name = issues.take(validate::text("name", &req.name, shop::MAX_NAME_CHARS));
    let barcode = barcode(&mut issues, req.barcode.as_deref());
    in_range(&mut issues, "price_points", req.price_points, 1, MAX_PRICE_POINTS);
    in_range(&mut issues, "value_fen", req.value_fen, 0, MAX_VALUE_FEN);
    let stock = req.stock.unwrap_or(0);
    in_range(&mut issues, "stock", stock, 0, MAX_RESTOCK);
    if let Some(m) = req.max_per_redemption {
        in_range(&mut issues, "max_per_redemption", m, 1, i64::from(MAX_LINE_QUANTITY));
    }
    check_photo(&state, store.town_id, req.photo_attachment_id, &mut issues).await?;
    issues.into_result()?;
    let name = name.ok_or_else(ApiError::internal)?;
    let db = state.store().db();
    if shop::goods_in_store(db, &store).await? >= shop::MAX_GOODS_PER_STORE {
        return Err(ApiError::field("name", Rule::NotAllowed { reason: "too_many_goods" }));
    }
    if let Some(b) = &barcode
        && shop::goods_by_barcode(db, &store, b).await?.is_some()
    {
        return Err(duplicate_barcode());
    }
    let new = NewGoods {
        name,
        barcode,
        photo_attachment_id: req.photo_attachment_id,
        price_points: req.price_points,
        value_fen: req.value_fen,
        stock,
        max_per_redemption: req.max_per_redemption.and_then(|m| i32::try_from(m).ok()),
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = match shop::create_goods(&mut tx, &clerk(&auth), now, &store, new).await {
        Ok(row) => row,
        Err(StoreError::Duplicate(_)) => return Err(duplicate_barcode()),
        Err(e) => return Err(e.into()),
    };
    match tx.commit(now).await {
        Ok(()) => {}
        Err(StoreError::Duplicate(_)) => return Err(duplicate_barcode()),
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::CREATED, Json(goods_dto(&row))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsPatchBody {
    pub name: Option<String>,
    /// `null` or `""` removes the barcode.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub barcode: Option<Option<String>>,
    /// `null` removes the photo.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub photo_attachment_id: Option<Option<Uuid>>,
    pub price_points: Option<i64>,
    pub value_fen: Option<i64>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_per_redemption: Option<Option<i64>>,
    /// `false` takes the goods off the shelf (they stay on old receipts).
    pub active: Option<bool>,
    /// The version the change is based on.
    pub version: i32,
}

/// Change goods (its clerk, or a town admin); 409 if someone changed them since `version`.
#[utoipa::path(patch, path = "/api/v1/points/goods/{id}", tag = "points", params(("id" = Uuid, Path)),
    request_body = GoodsPatchBody,
    responses((status = 200, body = GoodsDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "Version conflict, or the barcode is used in this store"),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_goods(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<GoodsPatchBody>,
) -> ApiResult<Json<GoodsDto>> {
    let (goods, store, access) = visible_goods(&state, &auth, id).await?;
    require(access, Access::Sell)?;
    let mut issues = Issues::default();
    let name = match &req.name {
        Some(n) => issues.take(validate::text("name", n, shop::MAX_NAME_CHARS)),
        None => None,
    };
    let new_barcode = req.barcode.as_ref().map(|b| barcode(&mut issues, b.as_deref()));
    if let Some(p) = req.price_points {
        in_range(&mut issues, "price_points", p, 1, MAX_PRICE_POINTS);
    }
    if let Some(v) = req.value_fen {
        in_range(&mut issues, "value_fen", v, 0, MAX_VALUE_FEN);
    }
    if let Some(Some(m)) = req.max_per_redemption {
        in_range(&mut issues, "max_per_redemption", m, 1, i64::from(MAX_LINE_QUANTITY));
    }
    check_photo(&state, store.town_id, req.photo_attachment_id.flatten(), &mut issues).await?;
    issues.into_result()?;
    if let Some(Some(b)) = &new_barcode
        && shop::goods_by_barcode(state.store().db(), &store, b).await?.is_some_and(|other| other.id != goods.id)
    {
        return Err(duplicate_barcode());
    }
    let patch = GoodsPatch {
        name,
        barcode: new_barcode,
        photo_attachment_id: req.photo_attachment_id,
        price_points: req.price_points,
        value_fen: req.value_fen,
        max_per_redemption: req.max_per_redemption.map(|m| m.and_then(|m| i32::try_from(m).ok())),
        active: req.active,
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = match shop::update_goods(&mut tx, &auth.actor(), now, store.town_id, goods.id, req.version, patch).await {
        Ok(row) => row,
        Err(StoreError::Duplicate(_)) => return Err(duplicate_barcode()),
        Err(e) => return Err(e.into()),
    };
    match tx.commit(now).await {
        Ok(()) => {}
        Err(StoreError::Duplicate(_)) => return Err(duplicate_barcode()),
        Err(e) => return Err(e.into()),
    }
    Ok(Json(goods_dto(&row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockBody {
    /// 1 to 10,000 units.
    pub quantity: i64,
    /// Up to 200 characters (the supplier, a delivery note).
    pub note: Option<String>,
}

/// Add units to the shelf, recorded as a `restock` movement.
#[utoipa::path(post, path = "/api/v1/points/goods/{id}/restock", tag = "points", params(("id" = Uuid, Path)),
    request_body = RestockBody,
    responses((status = 200, body = GoodsDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn restock(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<RestockBody>,
) -> ApiResult<Json<GoodsDto>> {
    let (goods, store, access) = visible_goods(&state, &auth, id).await?;
    require(access, Access::Sell)?;
    let mut issues = Issues::default();
    in_range(&mut issues, "quantity", req.quantity, 1, MAX_RESTOCK);
    let note = issues.take(validate::optional_text("note", req.note.as_deref(), shop::MAX_NOTE_CHARS)).flatten();
    issues.into_result()?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = shop::restock(&mut tx, &clerk(&auth), now, &store, goods.id, req.quantity, note.as_deref()).await?;
    tx.commit(now).await?;
    Ok(Json(goods_dto(&row)))
}

/// A goods' stock movements, newest first (staff of the village).
#[utoipa::path(get, path = "/api/v1/points/goods/{id}/movements", tag = "points", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<StockMovementDto>), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn goods_movements(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<StockMovementDto>>> {
    let page = params.parse()?;
    let (goods, store, access) = visible_goods(&state, &auth, id).await?;
    require(access, Access::Read)?;
    let (rows, total) = shop::movements(state.store().db(), store.town_id, goods.id, page).await?;
    Ok(Json(Page::new(rows.into_iter().map(movement_dto).collect(), page, total)))
}

// ---- the counter ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// A household code (`DW-AV01-NV01-0001`), its id, or what the scanner read from the
    /// household card's QR code (the code at the end of a link or after a `:`).
    pub code: Option<String>,
}

/// The household of a code, if it is in the town (exact code, upper-cased code, id, or the last
/// part of a scanned link).
async fn household_by_scan(state: &AppState, town_id: Uuid, text: &str) -> ApiResult<Option<HouseholdRow>> {
    let db = state.store().db();
    let mut candidates = vec![text.to_string(), text.to_uppercase()];
    if let Some(last) = text.rsplit(['/', ':', '=', '#', '?']).next().map(str::trim).filter(|s| !s.is_empty()) {
        candidates.push(last.to_string());
        candidates.push(last.to_uppercase());
    }
    for c in candidates {
        if let Ok(id) = Uuid::parse_str(&c) {
            if let Some(h) = shop::households_by_ids(db, town_id, &[id]).await?.pop() {
                return Ok(Some(h));
            }
            continue;
        }
        if let Some(h) = households::household_by_code(db, town_id, &c).await? {
            return Ok(Some(h));
        }
    }
    Ok(None)
}

/// Find a household at the counter by its code or its scanned card: its points at a glance.
/// 404 for an unknown code or a household of another village.
#[utoipa::path(get, path = "/api/v1/points/stores/{id}/lookup", tag = "points", params(("id" = Uuid, Path), LookupParams),
    responses((status = 200, body = HouseholdPointsDto), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn lookup(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiQuery(params): ApiQuery<LookupParams>,
) -> ApiResult<Json<HouseholdPointsDto>> {
    let (store, access) = visible_store(&state, &auth, id).await?;
    require(access, Access::Sell)?;
    let text = params.code.as_deref().map(str::trim).unwrap_or("");
    let n = text.chars().count();
    if n == 0 || n > MAX_LOOKUP_CHARS || text.chars().any(char::is_control) {
        let mut e = ApiError::bad_request("invalid_query");
        e.fields.push(validate::FieldIssue::new(
            "code",
            if n == 0 { Rule::Required } else { Rule::TooLong { max: MAX_LOOKUP_CHARS } },
        ));
        return Err(e);
    }
    let h = household_by_scan(&state, store.town_id, text).await?;
    let h = h.filter(|h| h.admin_village_id == store.admin_village_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(household_points(&state, &h).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemLineBody {
    pub goods_id: Uuid,
    /// 1 to 99.
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    pub household_id: Uuid,
    /// 1 to 50 lines; lines of the same goods are merged.
    pub lines: Vec<RedeemLineBody>,
    /// 1 to 128 printable characters, unique per town (a UUID made when the basket is
    /// confirmed): a retry with the same key returns the first redemption.
    pub idempotency_key: String,
}

fn lang_is_zh() -> bool {
    Lang::current() == Lang::ZhCn
}

fn insufficient(balance: i64, total: i64) -> ApiError {
    let detail = if lang_is_zh() {
        format!("余额 {balance} 分，本次兑换需 {total} 分")
    } else {
        format!("the balance is {balance}, the basket costs {total}")
    };
    ApiError::conflict("insufficient_points").with_detail(detail)
}

fn redeem_error(e: RedeemError) -> ApiError {
    let line = |index: Option<usize>, field: &str| format!("lines[{}].{field}", index.unwrap_or(0));
    match e {
        RedeemError::UnknownHousehold(_) => ApiError::not_found(),
        RedeemError::BadGoods { index, inactive, .. } => ApiError::field(
            format!("lines[{index}].goods_id"),
            if inactive { Rule::NotAllowed { reason: "inactive" } } else { Rule::UnknownReference },
        ),
        RedeemError::Basket { refusal, index, goods_name } => match refusal {
            BasketRefusal::OverBalance { total, balance } => insufficient(balance, total),
            BasketRefusal::OutOfStock { requested, available, .. } => {
                let name = goods_name.unwrap_or_default();
                let detail = if lang_is_zh() {
                    format!("{name} 库存 {available}，需要 {requested}")
                } else {
                    format!("{name}: {available} in stock, {requested} asked")
                };
                ApiError::conflict("out_of_stock")
                    .with_detail(detail)
                    .with_field(line(index, "quantity"), Rule::OutOfRange { min: 1, max: available })
            }
            BasketRefusal::Quantity { .. } => {
                ApiError::field(line(index, "quantity"), Rule::OutOfRange { min: 1, max: i64::from(MAX_LINE_QUANTITY) })
            }
            BasketRefusal::OverLimit { limit, .. } => {
                ApiError::field(line(index, "quantity"), Rule::OutOfRange { min: 1, max: i64::from(limit) })
            }
            BasketRefusal::Price { .. } | BasketRefusal::Inconsistent { .. } => {
                ApiError::field(line(index, "goods_id"), Rule::NotAllowed { reason: "price" })
            }
            BasketRefusal::Empty => ApiError::field("lines", Rule::Required),
            BasketRefusal::TooManyLines { max } => {
                ApiError::field("lines", Rule::OutOfRange { min: 1, max: i64::try_from(max).unwrap_or(i64::MAX) })
            }
            BasketRefusal::TooExpensive => ApiError::field("lines", Rule::NotAllowed { reason: "too_expensive" }),
        },
        RedeemError::KeyReused => ApiError::conflict("idempotency_conflict"),
        RedeemError::Points(e) => points_error(e),
        RedeemError::Store(e) => e.into(),
    }
}

/// The answer to a key used before: the first redemption (200) if this is the same basket, 409
/// otherwise.
async fn replay(state: &AppState, store: &StoreRow, req: &RedeemRequest) -> ApiResult<Option<Response>> {
    let Some(first) = shop::redemption_by_key(state.store().db(), store.town_id, &req.idempotency_key).await? else {
        return Ok(None);
    };
    if !shop::same_basket(&first, store, req) {
        return Err(ApiError::conflict("idempotency_conflict"));
    }
    Ok(Some(replayed(redemption_dto_at(state, store, first).await?)))
}

/// 200 with the first receipt, marked as a replay.
fn replayed(dto: RedemptionDto) -> Response {
    let mut resp = (StatusCode::OK, Json(dto)).into_response();
    resp.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    resp
}

/// Redeem a basket for a household of the store's village: the points debit and the stock
/// decrement are one transaction. 201 with the receipt; the same `idempotency_key` again answers
/// 200 with the first receipt (409 if the basket differs).
#[utoipa::path(post, path = "/api/v1/points/stores/{id}/redemptions", tag = "points", params(("id" = Uuid, Path)),
    request_body = RedeemBody,
    responses((status = 201, body = RedemptionDto), (status = 200, body = RedemptionDto, description = "A retry: the first redemption under this key"),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "Unknown store, or a household not of the store's village"),
        (status = 409, body = crate::error::ErrorBody, description = "insufficient_points (the message says the balance), out_of_stock (naming the goods), or the key was used for another basket"),
        (status = 422, body = crate::error::ErrorBody, description = "Bad lines: unknown, inactive or other-store goods, quantities, limits"),
        (status = 503, body = crate::error::ErrorBody, description = "busy: too many baskets are waiting (4,096); retry with the same key after Retry-After")))]
pub async fn redeem(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<RedeemBody>,
) -> ApiResult<Response> {
    let counter = counter_store(&state, &auth, id).await?;
    let store = &counter.store;
    let mut issues = Issues::default();
    let key = body.idempotency_key.as_str();
    let key_chars = key.chars().count();
    if key.trim().is_empty() || key_chars > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        issues.push("idempotency_key", Rule::OutOfRange { min: 1, max: MAX_KEY_CHARS as i64 });
    }
    if body.lines.is_empty() || body.lines.len() > MAX_LINES {
        issues.push("lines", Rule::OutOfRange { min: 1, max: MAX_LINES as i64 });
    }
    let mut lines = Vec::with_capacity(body.lines.len());
    for (i, l) in body.lines.iter().enumerate() {
        match u32::try_from(l.quantity).ok().filter(|q| (1..=MAX_LINE_QUANTITY).contains(q)) {
            Some(q) => lines.push((l.goods_id, q)),
            None => issues
                .push(format!("lines[{i}].quantity"), Rule::OutOfRange { min: 1, max: i64::from(MAX_LINE_QUANTITY) }),
        }
    }
    issues.into_result()?;
    let req = RedeemRequest { household_id: body.household_id, lines, idempotency_key: body.idempotency_key };
    // A retry under a key already redeemed is answered by the batch too (200, the first receipt).
    let done =
        state.redeemer().submit(RedeemJob { clerk: clerk(&auth), store: store.clone(), req: req.clone() }).await?;
    match done {
        Ok(done) => {
            let dto = counter_receipt(&state, &counter, done.household, done.redemption).await?;
            Ok(if done.replayed { replayed(dto) } else { (StatusCode::CREATED, Json(dto)).into_response() })
        }
        // A concurrent twin under the same key committed first (PostgreSQL): answer as it did.
        Err(RedeemError::Store(StoreError::Duplicate(_))) => {
            replay(&state, store, &req).await?.ok_or_else(|| ApiError::conflict("idempotency_conflict"))
        }
        Err(e) => Err(redeem_error(e)),
    }
}

/// A basket waiting for the counters' group commit.
pub struct RedeemJob {
    clerk: Clerk,
    store: StoreRow,
    req: RedeemRequest,
}

/// The counters' group commit (see `crate::batch`): baskets from every counter queue here and
/// are redeemed together, at most `shop::MAX_BATCH` in one transaction per town.
pub type Redeemer = Batcher<RedeemJob, Result<shop::Redeemed, RedeemError>>;

/// Baskets waiting at most (beyond that the counter is answered 503 and may retry).
const REDEEM_QUEUE_LEN: usize = 4_096;

impl AppState {
    /// The counters' group commit, started on first use. Its worker holds the state weakly, so
    /// a dropped server (a test's) stops it.
    pub fn redeemer(&self) -> &Redeemer {
        self.0.redeemer.get_or_init(|| {
            let weak = std::sync::Arc::downgrade(&self.0);
            Batcher::spawn(REDEEM_QUEUE_LEN, shop::MAX_BATCH, move |jobs: Vec<RedeemJob>| {
                let state = weak.upgrade().map(AppState);
                async move {
                    match state {
                        Some(state) => redeem_jobs(&state, &jobs).await,
                        None => jobs
                            .iter()
                            .map(|_| Err(RedeemError::Store(StoreError::Invariant("the server stopped".into()))))
                            .collect(),
                    }
                }
            })
        })
    }
}

/// Redeem a batch of baskets, one transaction per town. When a transaction fails as a whole (a
/// database error, or on PostgreSQL a concurrent server took one of the keys), its baskets are
/// redeemed again one by one, so that one basket's trouble is only its own.
async fn redeem_jobs(state: &AppState, jobs: &[RedeemJob]) -> Vec<Result<shop::Redeemed, RedeemError>> {
    let now = state.now();
    crate::batch::per_group(
        "redemption",
        jobs,
        |j| j.store.town_id,
        |group: Vec<&RedeemJob>| async move {
            let counters: Vec<shop::Counter<'_>> =
                group.iter().map(|j| shop::Counter { clerk: &j.clerk, store: &j.store, req: &j.req }).collect();
            redeem_together(state, now, &counters).await
        },
        || RedeemError::Store(StoreError::Invariant("a basket without outcome".into())),
    )
    .await
}

/// One transaction for baskets of one town; committed when any was redeemed.
async fn redeem_together(
    state: &AppState,
    now: DateTime<Utc>,
    counters: &[shop::Counter<'_>],
) -> Result<Vec<Result<shop::Redeemed, RedeemError>>, RedeemError> {
    let t0 = std::time::Instant::now();
    let mut tx = state.store().begin().await?;
    let t1 = std::time::Instant::now();
    let outcomes = shop::redeem_batch(&mut tx, now, counters).await?;
    let t2 = std::time::Instant::now();
    if outcomes.iter().any(|o| o.as_ref().is_ok_and(|d| !d.replayed)) {
        tx.commit(now).await?;
    }
    // Where a batch's time goes (`RUST_LOG=wuwei_server::routes::points_shop=debug`).
    tracing::debug!(
        baskets = counters.len(),
        begin_us = (t1 - t0).as_micros(),
        redeem_us = (t2 - t1).as_micros(),
        commit_us = t2.elapsed().as_micros(),
        "redemption batch"
    );
    Ok(outcomes)
}

// ---- receipts ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedemptionListParams {
    pub town_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Redemptions in the caller's scope, newest first (a resident: their household's).
#[utoipa::path(get, path = "/api/v1/points/redemptions", tag = "points", params(RedemptionListParams),
    responses((status = 200, body = Page<RedemptionDto>), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_redemptions(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<RedemptionListParams>,
) -> ApiResult<Json<Page<RedemptionDto>>> {
    let page = PageParams { page: params.page, page_size: params.page_size }.parse()?;
    auth.require_any(Permission::PointsRead)?;
    let scopes = auth.principal.scopes_with(Permission::PointsRead);
    let filter =
        RedemptionFilter { town_id: params.town_id, store_id: params.store_id, household_id: params.household_id };
    let (items, total) = shop::list_redemptions(state.store().db(), &filter, &scopes, page).await?;
    Ok(Json(Page::new(redemption_dtos(&state, items).await?, page, total)))
}

/// Whether the caller may read a redemption: `points.read` over its household.
async fn readable(state: &AppState, auth: &Auth, r: &Redemption) -> ApiResult<()> {
    let h = shop::households_by_ids(state.store().db(), r.row.town_id, &[r.row.household_id])
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    let place = crate::routes::points::household_place(state, &h).await?;
    if auth.principal.can(Permission::PointsRead, &place) { Ok(()) } else { Err(ApiError::not_found()) }
}

/// One redemption: the receipt.
#[utoipa::path(get, path = "/api/v1/points/redemptions/{id}", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 200, body = RedemptionDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_redemption(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<RedemptionDto>> {
    let r = find_redemption(&state, &auth, id).await?;
    readable(&state, &auth, &r).await?;
    Ok(Json(redemption_dto(&state, r).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    /// 1 to 200 characters.
    pub reason: String,
}

/// Take goods back: the redemption's posting is reversed, the goods go back on the shelf, once.
#[utoipa::path(post, path = "/api/v1/points/redemptions/{id}/return", tag = "points", params(("id" = Uuid, Path)),
    request_body = ReturnBody,
    responses((status = 200, body = RedemptionDto), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "already_returned"),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn return_redemption(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ReturnBody>,
) -> ApiResult<Json<RedemptionDto>> {
    let r = find_redemption(&state, &auth, id).await?;
    let store = shop::store(state.store().db(), r.row.store_id).await?.ok_or_else(ApiError::not_found)?;
    match access(&state, &auth, &store).await? {
        Some(Access::Sell) => {}
        Some(_) => return Err(ApiError::forbidden()),
        None => {
            // A resident sees their own redemption but may not take it back.
            readable(&state, &auth, &r).await?;
            return Err(ApiError::forbidden());
        }
    }
    let reason = validate::text("reason", &body.reason, shop::MAX_REASON_CHARS)?;
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let done = match shop::return_redemption(&mut tx, &clerk(&auth), now, &store, r.row.id, &reason).await {
        Ok(done) => done,
        Err(ReturnError::AlreadyReturned(_)) => return Err(ApiError::conflict("already_returned")),
        Err(ReturnError::Points(e)) => return Err(points_error(e)),
        Err(ReturnError::Store(e)) => return Err(e.into()),
    };
    tx.commit(now).await?;
    Ok(Json(redemption_dto(&state, done).await?))
}

//! The village points stores (积分超市) in the database: the stores, their goods and stock, and
//! redemptions at the counter with their returns.
//!
//! The rules are the domain's (`wuwei_domain::points::basket`: what a basket costs, whether the
//! household and the shelf can cover it, the stock movements it implies); this module loads the
//! facts and writes what they imply, in the caller's [`Tx`].
//!
//! A redemption is one transaction:
//!
//! 1. the goods rows of the basket are locked (`FOR UPDATE` on PostgreSQL, in goods id order so
//!    two baskets never deadlock; on SQLite the writer lock already serialises writers), so the
//!    price and the stock read next stay true until commit, and so two retries of one basket
//!    queue behind each other;
//! 2. a redemption already made under the same idempotency key is returned as it was (the
//!    caller writes nothing);
//! 3. the basket is priced against the household's balance (`price_basket`): a refusal leaves
//!    no trace;
//! 4. the ledger posts the redemption (`points::post`, which locks the town's ledger head and
//!    checks the balance a second time), the stock is decremented (guarded: never below zero),
//!    one movement per goods is appended, and the redemption with its lines and the balance
//!    after it is written, with an audit entry.
//!
//! Locks are always taken in the order goods rows → points counter → ledger head (a return:
//! redemption row → goods rows → ledger head), so redemptions, returns, restocks and awards never
//! wait on each other in a cycle. Stock movements are append-only (triggers); the goods row
//! carries the running stock, and [`verify_stock`] checks it against the movements.
//!
//! Stores are made per admin village by [`ensure_stores`] (idempotent): the demo loader calls it,
//! and the HTTP layer calls it when a town has fewer stores than admin villages.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::access::{Level, Scope};
use wuwei_domain::points::Points;
use wuwei_domain::points::basket::{self, BasketLine, BasketRefusal, MovementReason, StockMovement};
use wuwei_domain::points::ledger::{self, Head, LedgerError, PostingMeta};
use wuwei_domain::region::RegionKind;
use wuwei_domain::validate::PageRequest;

use crate::entity::{
    household, points_goods, points_redemption, points_redemption_line, points_stock_movement, points_store, region,
};
use crate::points::{self, PointsError};
use crate::regions::{escape_like, never};
use crate::{Actor, AuditDraft, Backend, Result, StoreError, Tx, lookup_chunks, micros, statement_chunks};

pub use crate::entity::points_goods::Model as GoodsRow;
pub use crate::entity::points_redemption::Model as RedemptionRow;
pub use crate::entity::points_redemption_line::Model as RedemptionLineRow;
pub use crate::entity::points_stock_movement::Model as MovementRow;
pub use crate::entity::points_store::Model as StoreRow;

/// The prefix of redemption numbers (兑换): `DH-20261128-0001`, per town and China day.
pub const NUMBER_PREFIX: &str = "DH";
/// Names of stores and goods: at most this many characters (the columns' size).
pub const MAX_NAME_CHARS: usize = 100;
/// Barcodes: at most this many characters.
pub const MAX_BARCODE_CHARS: usize = 64;
/// A movement's note: at most this many characters.
pub const MAX_NOTE_CHARS: usize = 200;
/// A return's reason: at most this many characters.
pub const MAX_REASON_CHARS: usize = 200;
/// Goods per store at most (a village shop's shelf, with room to spare).
pub const MAX_GOODS_PER_STORE: u64 = 2_000;
/// Actor and clerk names are cut to the columns' size.
const MAX_ACTOR_CHARS: usize = 64;

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The name and audit identity of whoever works the counter: `actor` goes to the audit trail and
/// the ledger (as every other write), `shown_as` (the display name) on the receipt and the stock
/// movements.
#[derive(Debug, Clone)]
pub struct Clerk {
    pub actor: Actor,
    pub shown_as: String,
}

// ---- stores ----

/// Make the missing store of each admin village of the town (named "{village}积分超市"), with
/// one audit entry for those made. Idempotent; safe beside a concurrent call (a store already
/// made is skipped). Returns how many were made.
pub async fn ensure_stores(tx: &mut Tx, town_id: Uuid, now: DateTime<Utc>) -> Result<usize> {
    let now = micros(now);
    let db = tx.db();
    let villages = region::Entity::find()
        .filter(region::Column::TownId.eq(town_id))
        .filter(region::Column::Kind.eq(RegionKind::AdminVillage.as_str()))
        .order_by_asc(region::Column::Code)
        .order_by_asc(region::Column::Id)
        .all(db)
        .await?;
    let have: HashSet<Uuid> = points_store::Entity::find()
        .select_only()
        .column(points_store::Column::AdminVillageId)
        .filter(points_store::Column::TownId.eq(town_id))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut made = Vec::new();
    for v in villages.iter().filter(|v| !have.contains(&v.id)) {
        let id = Uuid::now_v7();
        let name = cut(&format!("{}积分超市", v.name), MAX_NAME_CHARS);
        let inserted = points_store::Entity::insert(points_store::ActiveModel {
            town_id: Set(town_id),
            id: Set(id),
            admin_village_id: Set(v.id),
            name: Set(name.clone()),
            created_at: Set(now),
        })
        .on_conflict_do_nothing()
        .exec(db)
        .await?;
        if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
            made.push(json!({"id": id, "name": name, "admin_village_id": v.id}));
        }
    }
    let n = made.len();
    if n > 0 {
        tx.audit(AuditDraft {
            actor: Actor::system("points_shop"),
            action: "points_store.create".into(),
            entity_type: "points_store".into(),
            entity_id: town_id.to_string(),
            town_id: Some(town_id),
            before: None,
            after: Some(json!({ "stores": made })),
        });
    }
    Ok(n)
}

/// Whether some admin village of the town has no store yet.
pub async fn stores_missing(db: &impl ConnectionTrait, town_id: Uuid) -> Result<bool> {
    let villages = region::Entity::find()
        .filter(region::Column::TownId.eq(town_id))
        .filter(region::Column::Kind.eq(RegionKind::AdminVillage.as_str()))
        .count(db)
        .await?;
    let stores = points_store::Entity::find().filter(points_store::Column::TownId.eq(town_id)).count(db).await?;
    Ok(stores < villages)
}

/// The stores of a town, by name.
pub async fn stores(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<StoreRow>> {
    Ok(points_store::Entity::find()
        .filter(points_store::Column::TownId.eq(town_id))
        .order_by_asc(points_store::Column::Name)
        .order_by_asc(points_store::Column::Id)
        .all(db)
        .await?)
}

/// A store by id, in whichever town (stores are few: one per admin village).
pub async fn store(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<StoreRow>> {
    Ok(points_store::Entity::find().filter(points_store::Column::Id.eq(id)).one(db).await?)
}

/// A store by id with its admin village, in one read (every basket at a counter asks).
pub async fn store_with_village(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(StoreRow, Option<crate::regions::RegionRow>)>> {
    Ok(points_store::Entity::find()
        .select_also(region::Entity)
        .join(
            sea_orm::JoinType::LeftJoin,
            points_store::Entity::belongs_to(region::Entity)
                .from((points_store::Column::TownId, points_store::Column::AdminVillageId))
                .to((region::Column::TownId, region::Column::Id))
                .into(),
        )
        .filter(points_store::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// The store of an admin village.
pub async fn store_of_village(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    admin_village_id: Uuid,
) -> Result<Option<StoreRow>> {
    Ok(points_store::Entity::find()
        .filter(points_store::Column::TownId.eq(town_id))
        .filter(points_store::Column::AdminVillageId.eq(admin_village_id))
        .one(db)
        .await?)
}

/// Active goods per store of a town.
pub async fn goods_counts(db: &impl ConnectionTrait, town_id: Uuid) -> Result<HashMap<Uuid, u64>> {
    let rows: Vec<(Uuid, i64)> = points_goods::Entity::find()
        .select_only()
        .column(points_goods::Column::StoreId)
        .column_as(Expr::col(points_goods::Column::Id).count(), "n")
        .filter(points_goods::Column::TownId.eq(town_id))
        .filter(points_goods::Column::Active.eq(true))
        .group_by(points_goods::Column::StoreId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(s, n)| (s, Ord::max(n, 0) as u64)).collect())
}

// ---- goods ----

/// Goods of a store, by name: active ones only unless `include_inactive`; `q` is part of the name
/// or the barcode.
pub async fn list_goods(
    db: &impl ConnectionTrait,
    store: &StoreRow,
    q: Option<&str>,
    include_inactive: bool,
    page: PageRequest,
) -> Result<(Vec<GoodsRow>, u64)> {
    let mut cond = Condition::all()
        .add(points_goods::Column::TownId.eq(store.town_id))
        .add(points_goods::Column::StoreId.eq(store.id));
    if !include_inactive {
        cond = cond.add(points_goods::Column::Active.eq(true));
    }
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(q));
        let like = || LikeExpr::new(&pattern).escape('\\');
        cond = cond.add(
            Condition::any()
                .add(Expr::col(points_goods::Column::Name).like(like()))
                .add(Expr::col(points_goods::Column::Barcode).like(like())),
        );
    }
    let query = points_goods::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(points_goods::Column::Name)
        .order_by_asc(points_goods::Column::Id)
        .offset(page.offset())
        .limit(Ord::min(page.page_size, PageRequest::MAX_SIZE))
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn goods(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<GoodsRow>> {
    Ok(points_goods::Entity::find_by_id((town_id, id)).one(db).await?)
}

/// The goods of a store carrying `barcode`, if any.
pub async fn goods_by_barcode(db: &impl ConnectionTrait, store: &StoreRow, barcode: &str) -> Result<Option<GoodsRow>> {
    Ok(points_goods::Entity::find()
        .filter(points_goods::Column::TownId.eq(store.town_id))
        .filter(points_goods::Column::StoreId.eq(store.id))
        .filter(points_goods::Column::Barcode.eq(barcode))
        .one(db)
        .await?)
}

pub async fn goods_in_store(db: &impl ConnectionTrait, store: &StoreRow) -> Result<u64> {
    Ok(points_goods::Entity::find()
        .filter(points_goods::Column::TownId.eq(store.town_id))
        .filter(points_goods::Column::StoreId.eq(store.id))
        .count(db)
        .await?)
}

/// New goods, already checked by the caller (names trimmed, numbers in range).
#[derive(Debug, Clone)]
pub struct NewGoods {
    pub name: String,
    pub barcode: Option<String>,
    pub photo_attachment_id: Option<Uuid>,
    pub price_points: Points,
    pub value_fen: i64,
    /// Initial stock, recorded as a `restock` movement when positive.
    pub stock: i64,
    pub max_per_redemption: Option<i32>,
}

fn goods_view(g: &GoodsRow) -> serde_json::Value {
    json!({
        "store_id": g.store_id, "name": g.name, "barcode": g.barcode, "photo_attachment_id": g.photo_attachment_id,
        "price_points": g.price_points, "value_fen": g.value_fen, "stock": g.stock,
        "max_per_redemption": g.max_per_redemption, "active": g.active, "version": g.version,
    })
}

/// Put new goods on a store's shelf. A barcode already used in the store is
/// [`StoreError::Duplicate`].
pub async fn create_goods(
    tx: &mut Tx,
    clerk: &Clerk,
    now: DateTime<Utc>,
    store: &StoreRow,
    new: NewGoods,
) -> Result<GoodsRow> {
    let now = micros(now);
    if new.stock < 0 || new.stock > basket::MAX_RESTOCK || new.price_points <= 0 || new.value_fen < 0 {
        return Err(StoreError::Invariant("goods numbers out of range".into()));
    }
    let db = tx.db();
    let id = Uuid::now_v7();
    let row = GoodsRow {
        town_id: store.town_id,
        id,
        store_id: store.id,
        name: cut(&new.name, MAX_NAME_CHARS),
        barcode: new.barcode.map(|b| cut(&b, MAX_BARCODE_CHARS)),
        photo_attachment_id: new.photo_attachment_id,
        price_points: new.price_points,
        value_fen: new.value_fen,
        stock: new.stock,
        max_per_redemption: new.max_per_redemption,
        active: true,
        version: 1,
        updated_at: now,
    };
    points_goods::Entity::insert(points_goods::ActiveModel {
        town_id: Set(row.town_id),
        id: Set(row.id),
        store_id: Set(row.store_id),
        name: Set(row.name.clone()),
        barcode: Set(row.barcode.clone()),
        photo_attachment_id: Set(row.photo_attachment_id),
        price_points: Set(row.price_points),
        value_fen: Set(row.value_fen),
        stock: Set(row.stock),
        max_per_redemption: Set(row.max_per_redemption),
        active: Set(true),
        version: Set(1),
        updated_at: Set(now),
    })
    .exec(db)
    .await?;
    if new.stock > 0 {
        insert_movements(
            tx,
            clerk,
            store,
            now,
            &[(StockMovement { goods_id: id, delta: new.stock, reason: MovementReason::Restock }, new.stock)],
            None,
            None,
        )
        .await?;
    }
    tx.audit(AuditDraft {
        actor: clerk.actor.clone(),
        action: "points_goods.create".into(),
        entity_type: "points_goods".into(),
        entity_id: id.to_string(),
        town_id: Some(store.town_id),
        before: None,
        after: Some(goods_view(&row)),
    });
    Ok(row)
}

/// A change of goods; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct GoodsPatch {
    pub name: Option<String>,
    pub barcode: Option<Option<String>>,
    pub photo_attachment_id: Option<Option<Uuid>>,
    pub price_points: Option<Points>,
    pub value_fen: Option<i64>,
    pub max_per_redemption: Option<Option<i32>>,
    pub active: Option<bool>,
}

/// Change goods if they are still at `version` ([`StoreError::VersionConflict`] otherwise). The
/// stock is not changed here (it moves only by movements) and does not bump the version, so a
/// clerk editing a price is not refused because something was sold meanwhile.
pub async fn update_goods(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    town_id: Uuid,
    id: Uuid,
    version: i32,
    patch: GoodsPatch,
) -> Result<GoodsRow> {
    let now = micros(now);
    let db = tx.db();
    let before = goods(db, town_id, id).await?.ok_or(StoreError::NotFound)?;
    if before.version != version {
        return Err(StoreError::VersionConflict { current: before.version });
    }
    let mut update = points_goods::Entity::update_many()
        .col_expr(points_goods::Column::Version, Expr::value(version + 1))
        .col_expr(points_goods::Column::UpdatedAt, Expr::value(now));
    if let Some(name) = &patch.name {
        update = update.col_expr(points_goods::Column::Name, Expr::value(cut(name, MAX_NAME_CHARS)));
    }
    if let Some(barcode) = &patch.barcode {
        update = update.col_expr(
            points_goods::Column::Barcode,
            Expr::value(barcode.as_deref().map(|b| cut(b, MAX_BARCODE_CHARS))),
        );
    }
    if let Some(photo) = patch.photo_attachment_id {
        update = update.col_expr(points_goods::Column::PhotoAttachmentId, Expr::value(photo));
    }
    if let Some(price) = patch.price_points {
        update = update.col_expr(points_goods::Column::PricePoints, Expr::value(price));
    }
    if let Some(value) = patch.value_fen {
        update = update.col_expr(points_goods::Column::ValueFen, Expr::value(value));
    }
    if let Some(max) = patch.max_per_redemption {
        update = update.col_expr(points_goods::Column::MaxPerRedemption, Expr::value(max));
    }
    if let Some(active) = patch.active {
        update = update.col_expr(points_goods::Column::Active, Expr::value(active));
    }
    let done = update
        .filter(points_goods::Column::TownId.eq(town_id))
        .filter(points_goods::Column::Id.eq(id))
        .filter(points_goods::Column::Version.eq(version))
        .exec(db)
        .await?;
    let after = goods(db, town_id, id).await?.ok_or(StoreError::NotFound)?;
    if done.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: after.version });
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "points_goods.update".into(),
        entity_type: "points_goods".into(),
        entity_id: id.to_string(),
        town_id: Some(town_id),
        before: Some(goods_view(&before)),
        after: Some(goods_view(&after)),
    });
    Ok(after)
}

/// Lock goods rows until commit, in id order (PostgreSQL; SQLite's writer lock serialises
/// writers already). Returns the rows found, by id.
async fn lock_goods(tx: &Tx, town_id: Uuid, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GoodsRow>> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    // In id order across the chunks too (ids is sorted), so locks are always taken in one order.
    for chunk in lookup_chunks(ids.iter().copied().collect()) {
        let mut q = points_goods::Entity::find()
            .filter(points_goods::Column::TownId.eq(town_id))
            .filter(points_goods::Column::Id.is_in(chunk))
            .order_by_asc(points_goods::Column::Id);
        if tx.backend() == Backend::Postgres {
            q = q.lock_exclusive();
        }
        out.extend(q.all(tx.db()).await?.into_iter().map(|g| (g.id, g)));
    }
    Ok(out)
}

/// Move the stock of locked goods by `delta` (guarded: never below zero) and return the stock
/// after.
async fn move_stock(tx: &Tx, g: &GoodsRow, delta: i64, now: DateTime<Utc>) -> Result<i64> {
    let after = g
        .stock
        .checked_add(delta)
        .ok_or_else(|| StoreError::Invariant(format!("stock of goods {} overflows", g.id)))?;
    let done = points_goods::Entity::update_many()
        .col_expr(points_goods::Column::Stock, Expr::value(after))
        .col_expr(points_goods::Column::UpdatedAt, Expr::value(now))
        .filter(points_goods::Column::TownId.eq(g.town_id))
        .filter(points_goods::Column::Id.eq(g.id))
        .filter(points_goods::Column::Stock.eq(g.stock))
        .exec(tx.db())
        .await?;
    // The second path: the row was locked at `g.stock`, and a stock never goes below zero.
    if done.rows_affected != 1 || after < 0 {
        return Err(StoreError::Invariant(format!("stock of goods {} moved under its lock or went below zero", g.id)));
    }
    Ok(after)
}

/// One stock movement row of `store`: `m` leaving `after` units on the shelf.
fn movement_row(
    clerk: &Clerk,
    store: &StoreRow,
    now: DateTime<Utc>,
    m: &StockMovement,
    after: i64,
    note: Option<&str>,
    redemption_id: Option<Uuid>,
) -> points_stock_movement::ActiveModel {
    points_stock_movement::ActiveModel {
        town_id: Set(store.town_id),
        id: Set(Uuid::now_v7()),
        store_id: Set(store.id),
        goods_id: Set(m.goods_id),
        at: Set(now),
        delta: Set(m.delta),
        stock_after: Set(after),
        reason: Set(m.reason.as_str().to_string()),
        actor_id: Set(clerk.actor.id),
        actor_name: Set(cut(&clerk.shown_as, MAX_ACTOR_CHARS)),
        note: Set(note.map(|n| cut(n, MAX_NOTE_CHARS))),
        redemption_id: Set(redemption_id),
    }
}

/// Append movements `(movement, stock after)` of one store.
async fn insert_movements(
    tx: &Tx,
    clerk: &Clerk,
    store: &StoreRow,
    now: DateTime<Utc>,
    moves: &[(StockMovement, i64)],
    note: Option<&str>,
    redemption_id: Option<Uuid>,
) -> Result<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let rows = moves.iter().map(|(m, after)| movement_row(clerk, store, now, m, *after, note, redemption_id));
    points_stock_movement::Entity::insert_many(rows).exec(tx.db()).await?;
    Ok(())
}

/// Add `quantity` (1 to [`basket::MAX_RESTOCK`]) units to the shelf, as a `restock` movement.
pub async fn restock(
    tx: &mut Tx,
    clerk: &Clerk,
    now: DateTime<Utc>,
    store: &StoreRow,
    goods_id: Uuid,
    quantity: i64,
    note: Option<&str>,
) -> Result<GoodsRow> {
    let now = micros(now);
    let movement = basket::restock(goods_id, quantity)
        .ok_or_else(|| StoreError::Invariant(format!("restock of {quantity} units is out of range")))?;
    let locked = lock_goods(tx, store.town_id, &BTreeSet::from([goods_id])).await?;
    let g = locked.get(&goods_id).filter(|g| g.store_id == store.id).ok_or(StoreError::NotFound)?;
    let after = move_stock(tx, g, movement.delta, now).await?;
    insert_movements(tx, clerk, store, now, &[(movement, after)], note, None).await?;
    tx.audit(AuditDraft {
        actor: clerk.actor.clone(),
        action: "points_goods.restock".into(),
        entity_type: "points_goods".into(),
        entity_id: goods_id.to_string(),
        town_id: Some(store.town_id),
        before: Some(json!({"stock": g.stock})),
        after: Some(json!({"stock": after, "delta": movement.delta, "note": note})),
    });
    goods(tx.db(), store.town_id, goods_id).await?.ok_or(StoreError::NotFound)
}

/// A goods' stock movements, newest first, one page; and how many there are.
pub async fn movements(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    goods_id: Uuid,
    page: PageRequest,
) -> Result<(Vec<MovementRow>, u64)> {
    let query = points_stock_movement::Entity::find()
        .filter(points_stock_movement::Column::TownId.eq(town_id))
        .filter(points_stock_movement::Column::GoodsId.eq(goods_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(points_stock_movement::Column::At)
        .order_by_desc(points_stock_movement::Column::Id)
        .offset(page.offset())
        .limit(Ord::min(page.page_size, PageRequest::MAX_SIZE))
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Goods whose running stock differs from the sum of their movements: `(goods id, stock,
/// movements' sum)`. Empty when the stock is proven by its movements.
pub async fn verify_stock(db: &impl ConnectionTrait, town_id: Uuid) -> Result<Vec<(Uuid, i64, i64)>> {
    let sums: Vec<(Uuid, Option<i64>)> = points_stock_movement::Entity::find()
        .select_only()
        .column(points_stock_movement::Column::GoodsId)
        .column_as(Expr::col(points_stock_movement::Column::Delta).sum().cast_as("BIGINT"), "total")
        .filter(points_stock_movement::Column::TownId.eq(town_id))
        .group_by(points_stock_movement::Column::GoodsId)
        .into_tuple()
        .all(db)
        .await?;
    let sums: HashMap<Uuid, i64> = sums.into_iter().map(|(g, s)| (g, s.unwrap_or(0))).collect();
    let goods: Vec<(Uuid, i64)> = points_goods::Entity::find()
        .select_only()
        .column(points_goods::Column::Id)
        .column(points_goods::Column::Stock)
        .filter(points_goods::Column::TownId.eq(town_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(goods
        .into_iter()
        .filter_map(|(id, stock)| {
            let sum = sums.get(&id).copied().unwrap_or(0);
            (sum != stock || stock < 0).then_some((id, stock, sum))
        })
        .collect())
}

// ---- redemptions ----

/// A redemption with its lines (in goods id order).
#[derive(Debug, Clone, PartialEq)]
pub struct Redemption {
    pub row: RedemptionRow,
    pub lines: Vec<RedemptionLineRow>,
}

/// What [`redeem`] did: the redemption, and whether it was made before under the same key (then
/// nothing was written and the transaction has nothing to commit).
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub redemption: Redemption,
    pub replayed: bool,
    /// The household as read for the basket (so the receipt needs no second read).
    pub household: Option<crate::households::HouseholdRow>,
}

/// A basket at the counter, as scanned.
#[derive(Debug, Clone)]
pub struct RedeemRequest {
    pub household_id: Uuid,
    /// `(goods id, quantity)` in the order scanned.
    pub lines: Vec<(Uuid, u32)>,
    pub idempotency_key: String,
}

/// Why a redemption was not made. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// 404: no such household in the town, or not of the store's village.
    #[error("no household {0} at this store")]
    UnknownHousehold(Uuid),
    /// 422 on `lines[index].goods_id`: unknown, of another store, or taken off the shelf.
    #[error("line {index}: goods {goods_id} cannot be redeemed here (inactive: {inactive})")]
    BadGoods { index: usize, goods_id: Uuid, inactive: bool },
    /// The basket's refusal (409 out of stock or over the balance, 422 otherwise); `index` is
    /// the first line of the goods concerned, `goods_name` its name.
    #[error("{refusal}")]
    Basket { refusal: BasketRefusal, index: Option<usize>, goods_name: Option<String> },
    /// 409 or 422: the key was used for a different basket (or household, or store).
    #[error("idempotency key was used for a different redemption")]
    KeyReused,
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for RedeemError {
    fn from(e: sea_orm::DbErr) -> RedeemError {
        RedeemError::Store(e.into())
    }
}

/// `(goods, quantity)` merged by goods, in goods id order: what a basket asks for.
fn merged(lines: &[(Uuid, u32)]) -> Vec<(Uuid, u32)> {
    let mut m: BTreeMap<Uuid, u32> = BTreeMap::new();
    for (g, q) in lines {
        let e = m.entry(*g).or_insert(0);
        *e = e.saturating_add(*q);
    }
    m.into_iter().collect()
}

/// Whether a stored redemption is what `req` at `store` would have made: a retry, not a reused key.
pub fn same_basket(r: &Redemption, store: &StoreRow, req: &RedeemRequest) -> bool {
    let stored: Vec<(Uuid, u32)> =
        r.lines.iter().map(|l| (l.goods_id, u32::try_from(l.quantity).unwrap_or(0))).collect();
    r.row.store_id == store.id && r.row.household_id == req.household_id && stored == merged(&req.lines)
}

/// One basket of a batch: who redeems it, at which store.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    pub clerk: &'a Clerk,
    pub store: &'a StoreRow,
    pub req: &'a RedeemRequest,
}

/// Baskets redeemed in one batch at most (a group commit: see [`redeem_batch`]).
pub const MAX_BATCH: usize = 64;

/// Redeem a basket at `store` for a household of its village (see the module docs for the
/// steps). On an error nothing was written; the caller drops the transaction. On a replay
/// (`replayed`), nothing was written either.
pub async fn redeem(
    tx: &mut Tx,
    clerk: &Clerk,
    now: DateTime<Utc>,
    store: &StoreRow,
    req: &RedeemRequest,
) -> Result<Redeemed, RedeemError> {
    redeem_batch(tx, now, &[Counter { clerk, store, req }])
        .await?
        .pop()
        .ok_or_else(|| RedeemError::Store(StoreError::Invariant("a batch of one gave no answer".into())))?
}

/// A basket accepted in phase 1 of [`redeem_batch`], waiting to be written.
struct Accepted {
    index: usize,
    priced: basket::PricedBasket,
    /// `(movement, stock after)` in the order applied.
    moves: Vec<(StockMovement, i64)>,
}

/// Redeem baskets of one town in the caller's transaction, each with the outcome it would have
/// had alone, in order (a group commit: the counters' requests queued meanwhile are taken
/// together, so a batch costs about as many statements as one basket).
///
/// Phase 1 decides every basket in memory against the facts read once (goods locked, ledger
/// head locked, keys, households, balances), each basket seeing the stock and balances the
/// baskets before it left; a refused basket leaves no trace. Phase 2 writes the accepted ones
/// with multi-row statements. The outer error (a database failure) means nothing of the batch
/// stands: the caller drops the transaction and may retry the baskets one by one.
pub async fn redeem_batch(
    tx: &mut Tx,
    now: DateTime<Utc>,
    items: &[Counter<'_>],
) -> Result<Vec<Result<Redeemed, RedeemError>>, RedeemError> {
    let now = micros(now);
    let Some(town_id) = items.first().map(|c| c.store.town_id) else { return Ok(Vec::new()) };
    if items.len() > MAX_BATCH || items.iter().any(|c| c.store.town_id != town_id) {
        return Err(StoreError::Invariant("a redemption batch is of one town and at most MAX_BATCH".into()).into());
    }
    let ids: BTreeSet<Uuid> = items.iter().flat_map(|c| c.req.lines.iter().map(|(g, _)| *g)).collect();
    // 1. Lock the goods (id order), then the ledger head: what is read next stays true.
    let mut goods = lock_goods(tx, town_id, &ids).await?;
    let head = points::lock_head(tx, town_id, now).await?;

    // 2. The facts: redemptions made before under these keys, the households, their balances.
    let keys: Vec<&str> = items.iter().map(|c| c.req.idempotency_key.as_str()).collect();
    let made: HashMap<String, Redemption> = redemptions_by_keys(tx.db(), town_id, &keys).await?;
    let household_ids: Vec<Uuid> = items.iter().map(|c| c.req.household_id).collect();
    let households: HashMap<Uuid, crate::households::HouseholdRow> =
        households_by_ids(tx.db(), town_id, &household_ids).await?.into_iter().map(|h| (h.id, h)).collect();
    let mut balances = points::balances(tx.db(), town_id, &household_ids).await?;
    // The same balances again for the ledger's own check in step 4 (read after its head lock).
    let mut ledger_balances = balances.clone();

    // 3. Decide each basket in order.
    let mut out: Vec<Option<Result<Redeemed, RedeemError>>> = Vec::with_capacity(items.len());
    let mut accepted: Vec<Accepted> = Vec::new();
    // Keys accepted in this batch: a twin later in it is a retry of the first.
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for (index, c) in items.iter().enumerate() {
        let (store, req) = (c.store, c.req);
        if let Some(first) = made.get(&req.idempotency_key) {
            out.push(Some(if same_basket(first, store, req) {
                Ok(Redeemed {
                    redemption: first.clone(),
                    replayed: true,
                    household: households.get(&req.household_id).cloned(),
                })
            } else {
                Err(RedeemError::KeyReused)
            }));
            continue;
        }
        if let Some(&first) = taken.get(req.idempotency_key.as_str()) {
            let f = items[first];
            let same = f.store.id == store.id
                && f.req.household_id == req.household_id
                && merged(&f.req.lines) == merged(&req.lines);
            // Resolved to the first's redemption once it is written.
            out.push(if same { None } else { Some(Err(RedeemError::KeyReused)) });
            continue;
        }
        match decide(&goods, &households, &balances, store, req) {
            Err(e) => out.push(Some(Err(e))),
            Ok(priced) => {
                let mut moves = Vec::with_capacity(priced.movements.len());
                for m in &priced.movements {
                    let g = goods
                        .get_mut(&m.goods_id)
                        .ok_or_else(|| StoreError::Invariant(format!("goods {} not locked", m.goods_id)))?;
                    g.stock = g
                        .stock
                        .checked_add(m.delta)
                        .filter(|s| *s >= 0)
                        .ok_or_else(|| StoreError::Invariant(format!("stock of goods {} would go wrong", g.id)))?;
                    moves.push((*m, g.stock));
                }
                *balances.entry(req.household_id).or_insert(0) -= priced.total;
                taken.insert(req.idempotency_key.as_str(), index);
                accepted.push(Accepted { index, priced, moves });
                out.push(None);
            }
        }
    }
    if accepted.is_empty() {
        return Ok(out.into_iter().map(|o| o.unwrap_or(Err(RedeemError::KeyReused))).collect());
    }

    // 4. Post, move the stock, write the redemptions.
    let numbers = points::next_numbers(tx, town_id, NUMBER_PREFIX, now, accepted.len()).await?;
    let mut chain = Head { seq: head.seq, hash: head.hash.clone() };
    let mut postings = Vec::with_capacity(accepted.len());
    let mut redemption_ids = Vec::with_capacity(accepted.len());
    for (a, number) in accepted.iter().zip(&numbers) {
        let c = items[a.index];
        let id = Uuid::now_v7();
        let meta = PostingMeta {
            id: Uuid::now_v7(),
            town_id,
            at: now,
            idempotency_key: format!("redemption:{id}"),
            reference: format!("redemption:{number}"),
        };
        let balance = ledger_balances.get(&c.req.household_id).copied().unwrap_or(0);
        // The ledger's own check, on the balances as the postings before it leave them.
        let posting = ledger::redemption_posting(meta, &chain, c.req.household_id, c.store.id, a.priced.total, balance)
            .map_err(|e| StoreError::Invariant(format!("a basket decided in memory was refused by the ledger: {e}")))?;
        *ledger_balances.entry(c.req.household_id).or_insert(0) -= a.priced.total;
        chain = Head::of(&posting);
        postings.push(posting);
        redemption_ids.push(id);
    }
    let to_write: Vec<points::NewPosting<'_>> = accepted
        .iter()
        .zip(&postings)
        .map(|(a, p)| points::NewPosting {
            actor: &items[a.index].clerk.actor,
            posting: p,
            household_id: items[a.index].req.household_id,
            reverses_kind: None,
        })
        .collect();
    let after = points::write_many(tx, &to_write, head.allow_negative).await?;

    let moved: BTreeSet<Uuid> = accepted.iter().flat_map(|a| a.moves.iter().map(|(m, _)| m.goods_id)).collect();
    let shelves: Vec<points_goods::ActiveModel> = moved
        .iter()
        .filter_map(|id| goods.get(id))
        .map(|g| {
            let mut row: points_goods::ActiveModel = g.clone().into();
            row.updated_at = Set(now);
            // Every column as read under the lock, so the upsert below only moves the stock.
            row.reset_all()
        })
        .collect();
    // The rest of the batch's writes are queued and go to the database together at commit.
    let backend = tx.db().get_database_backend();
    for chunk in statement_chunks(shelves) {
        let upsert = points_goods::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([points_goods::Column::TownId, points_goods::Column::Id])
                    .update_columns([points_goods::Column::Stock, points_goods::Column::UpdatedAt])
                    .to_owned(),
            )
            .build(backend);
        tx.write_later(upsert);
    }

    let mut movement_rows = Vec::new();
    let mut redemption_rows = Vec::with_capacity(accepted.len());
    let mut line_rows_all = Vec::new();
    let mut done: HashMap<usize, Redemption> = HashMap::with_capacity(accepted.len());
    for (((a, number), (posting, id)), balance_after) in
        accepted.iter().zip(numbers).zip(postings.iter().zip(&redemption_ids)).zip(after)
    {
        let Counter { clerk, store, req } = items[a.index];
        if balance_after < 0 {
            return Err(StoreError::Invariant(format!("redemption {id} left a balance of {balance_after}")).into());
        }
        for (m, stock_after) in &a.moves {
            movement_rows.push(movement_row(clerk, store, now, m, *stock_after, None, Some(*id)));
        }
        let row = RedemptionRow {
            town_id,
            id: *id,
            number,
            store_id: store.id,
            household_id: req.household_id,
            admin_village_id: store.admin_village_id,
            total_points: a.priced.total,
            value_fen: a.priced.value_fen,
            balance_after,
            posting_id: posting.id,
            idempotency_key: req.idempotency_key.clone(),
            clerk_id: clerk.actor.id,
            clerk_name: cut(&clerk.shown_as, MAX_ACTOR_CHARS),
            at: now,
            returned_at: None,
            return_posting_id: None,
            returned_by_name: None,
            return_reason: None,
        };
        let mut line_rows = Vec::with_capacity(a.priced.lines.len());
        for (n, l) in a.priced.lines.iter().enumerate() {
            line_rows.push(RedemptionLineRow {
                town_id,
                redemption_id: *id,
                line: i16::try_from(n).map_err(|_| StoreError::Invariant("too many redemption lines".into()))?,
                goods_id: l.goods_id,
                name: goods.get(&l.goods_id).map(|g| g.name.clone()).unwrap_or_default(),
                quantity: i32::try_from(l.quantity).map_err(|_| StoreError::Invariant("line quantity".into()))?,
                unit_price: l.unit_price,
                points: l.points,
                value_fen: l.value_fen,
            });
        }
        tx.audit(AuditDraft {
            actor: clerk.actor.clone(),
            action: "points.redeem".into(),
            entity_type: "points_redemption".into(),
            entity_id: id.to_string(),
            town_id: Some(town_id),
            before: None,
            after: Some(json!({
                "number": row.number, "store_id": store.id, "household_id": row.household_id,
                "total_points": row.total_points, "value_fen": row.value_fen, "balance_after": row.balance_after,
                "posting_id": row.posting_id,
                "lines": line_rows.iter().map(|l| json!({"goods_id": l.goods_id, "quantity": l.quantity, "points": l.points})).collect::<Vec<_>>(),
            })),
        });
        redemption_rows.push(points_redemption::ActiveModel::from(row.clone()).reset_all());
        line_rows_all
            .extend(line_rows.iter().cloned().map(|l| points_redemption_line::ActiveModel::from(l).reset_all()));
        done.insert(a.index, Redemption { row, lines: line_rows });
    }
    tx.insert_later(movement_rows);
    tx.insert_later(redemption_rows);
    tx.insert_later(line_rows_all);

    Ok(out
        .into_iter()
        .enumerate()
        .map(|(index, o)| match o {
            Some(r) => r,
            // Accepted, or a twin of a basket accepted earlier in the batch (then a retry of it).
            None => {
                match taken.get(items[index].req.idempotency_key.as_str()).and_then(|f| done.get(f).map(|r| (f, r))) {
                    Some((first, r)) => Ok(Redeemed {
                        redemption: r.clone(),
                        replayed: *first != index,
                        household: households.get(&r.row.household_id).cloned(),
                    }),
                    None => Err(RedeemError::Store(StoreError::Invariant("a batch basket without its outcome".into()))),
                }
            }
        })
        .collect())
}

/// Phase 1 of one basket: the household of the store's village, each line's goods on this
/// store's shelf, the price against the balance (as the baskets before it left them).
fn decide(
    goods: &BTreeMap<Uuid, GoodsRow>,
    households: &HashMap<Uuid, crate::households::HouseholdRow>,
    balances: &HashMap<Uuid, Points>,
    store: &StoreRow,
    req: &RedeemRequest,
) -> Result<basket::PricedBasket, RedeemError> {
    if households.get(&req.household_id).map(|h| h.admin_village_id) != Some(store.admin_village_id) {
        return Err(RedeemError::UnknownHousehold(req.household_id));
    }
    let mut first_line: HashMap<Uuid, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(req.lines.len());
    for (index, (goods_id, quantity)) in req.lines.iter().enumerate() {
        first_line.entry(*goods_id).or_insert(index);
        let Some(g) = goods.get(goods_id).filter(|g| g.store_id == store.id) else {
            return Err(RedeemError::BadGoods { index, goods_id: *goods_id, inactive: false });
        };
        if !g.active {
            return Err(RedeemError::BadGoods { index, goods_id: *goods_id, inactive: true });
        }
        lines.push(BasketLine {
            goods_id: *goods_id,
            unit_price: g.price_points,
            unit_value_fen: g.value_fen,
            quantity: *quantity,
            stock: g.stock,
            max_per_redemption: g.max_per_redemption.and_then(|m| u32::try_from(m).ok()),
        });
    }
    let balance = balances.get(&req.household_id).copied().unwrap_or(0);
    basket::price_basket(&lines, balance).map_err(|refusal| {
        let goods_id = match refusal {
            BasketRefusal::Quantity { goods_id }
            | BasketRefusal::OverLimit { goods_id, .. }
            | BasketRefusal::Price { goods_id }
            | BasketRefusal::Inconsistent { goods_id }
            | BasketRefusal::OutOfStock { goods_id, .. } => Some(goods_id),
            BasketRefusal::Empty
            | BasketRefusal::TooManyLines { .. }
            | BasketRefusal::TooExpensive
            | BasketRefusal::OverBalance { .. } => None,
        };
        RedeemError::Basket {
            refusal,
            index: goods_id.and_then(|g| first_line.get(&g).copied()),
            goods_name: goods_id.and_then(|g| goods.get(&g).map(|g| g.name.clone())),
        }
    })
}

/// Redemptions of a town by idempotency key, with their lines.
async fn redemptions_by_keys(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    keys: &[&str],
) -> Result<HashMap<String, Redemption>> {
    let mut keys: Vec<&str> = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let mut rows = Vec::new();
    for chunk in lookup_chunks(keys) {
        rows.extend(
            points_redemption::Entity::find()
                .filter(points_redemption::Column::TownId.eq(town_id))
                .filter(points_redemption::Column::IdempotencyKey.is_in(chunk))
                .all(db)
                .await?,
        );
    }
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(with_lines(db, rows).await?.into_iter().map(|r| (r.row.idempotency_key.clone(), r)).collect())
}

/// Why a return was not made. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum ReturnError {
    /// 409: a redemption is returned at most once.
    #[error("redemption {0} was returned already")]
    AlreadyReturned(Uuid),
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ReturnError {
    fn from(e: sea_orm::DbErr) -> ReturnError {
        ReturnError::Store(e.into())
    }
}

/// Take a redemption back (once): the ledger reverses its posting, the goods go back on the shelf
/// as `return` movements, and the redemption is marked returned, with an audit entry.
pub async fn return_redemption(
    tx: &mut Tx,
    clerk: &Clerk,
    now: DateTime<Utc>,
    store: &StoreRow,
    id: Uuid,
    reason: &str,
) -> Result<Redemption, ReturnError> {
    let now = micros(now);
    let town_id = store.town_id;
    let mut q = points_redemption::Entity::find()
        .filter(points_redemption::Column::TownId.eq(town_id))
        .filter(points_redemption::Column::Id.eq(id));
    if tx.backend() == Backend::Postgres {
        q = q.lock_exclusive();
    }
    let row = q.one(tx.db()).await?.filter(|r| r.store_id == store.id).ok_or(StoreError::NotFound)?;
    if row.returned_at.is_some() {
        return Err(ReturnError::AlreadyReturned(id));
    }
    let lines = lines_of(tx.db(), town_id, &[id]).await?.remove(&id).unwrap_or_default();
    let ids: BTreeSet<Uuid> = lines.iter().map(|l| l.goods_id).collect();
    let locked = lock_goods(tx, town_id, &ids).await?;

    let meta = PostingMeta {
        id: Uuid::now_v7(),
        town_id,
        at: now,
        idempotency_key: format!("return:{id}"),
        reference: format!("return:{}", row.number),
    };
    let posted = match points::reverse(tx, &clerk.actor, meta, row.posting_id).await {
        Ok(p) => p,
        Err(PointsError::Ledger(LedgerError::AlreadyReversed { .. })) => return Err(ReturnError::AlreadyReturned(id)),
        Err(e) => return Err(e.into()),
    };
    if posted.replayed {
        return Err(ReturnError::AlreadyReturned(id));
    }

    let mut moves = Vec::with_capacity(lines.len());
    for l in &lines {
        let g = locked
            .get(&l.goods_id)
            .ok_or_else(|| StoreError::Invariant(format!("goods {} of redemption {id} vanished", l.goods_id)))?;
        // Lines are merged by goods, so each goods moves once.
        let delta = i64::from(l.quantity);
        let after = move_stock(tx, g, delta, now).await?;
        moves.push((StockMovement { goods_id: l.goods_id, delta, reason: MovementReason::Return }, after));
    }
    insert_movements(tx, clerk, store, now, &moves, Some(reason), Some(id)).await?;

    let reason = cut(reason, MAX_REASON_CHARS);
    let returned_by = cut(&clerk.shown_as, MAX_ACTOR_CHARS);
    let done = points_redemption::Entity::update_many()
        .col_expr(points_redemption::Column::ReturnedAt, Expr::value(now))
        .col_expr(points_redemption::Column::ReturnPostingId, Expr::value(posted.posting.id))
        .col_expr(points_redemption::Column::ReturnedByName, Expr::value(returned_by.clone()))
        .col_expr(points_redemption::Column::ReturnReason, Expr::value(reason.clone()))
        .filter(points_redemption::Column::TownId.eq(town_id))
        .filter(points_redemption::Column::Id.eq(id))
        .filter(points_redemption::Column::ReturnedAt.is_null())
        .exec(tx.db())
        .await?;
    if done.rows_affected != 1 {
        return Err(ReturnError::AlreadyReturned(id));
    }
    tx.audit(AuditDraft {
        actor: clerk.actor.clone(),
        action: "points.return".into(),
        entity_type: "points_redemption".into(),
        entity_id: id.to_string(),
        town_id: Some(town_id),
        before: Some(json!({"returned_at": null})),
        after: Some(json!({
            "number": row.number, "returned_at": now, "return_posting_id": posted.posting.id, "reason": reason,
        })),
    });
    let row = RedemptionRow {
        returned_at: Some(now),
        return_posting_id: Some(posted.posting.id),
        returned_by_name: Some(returned_by),
        return_reason: Some(reason),
        ..row
    };
    Ok(Redemption { row, lines })
}

// ---- reading redemptions ----

async fn lines_of(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<RedemptionLineRow>>> {
    let mut out: HashMap<Uuid, Vec<RedemptionLineRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = points_redemption_line::Entity::find()
        .filter(points_redemption_line::Column::TownId.eq(town_id))
        .filter(points_redemption_line::Column::RedemptionId.is_in(ids.iter().copied()))
        .order_by_asc(points_redemption_line::Column::RedemptionId)
        .order_by_asc(points_redemption_line::Column::Line)
        .all(db)
        .await?;
    for l in rows {
        out.entry(l.redemption_id).or_default().push(l);
    }
    Ok(out)
}

async fn with_lines(db: &impl ConnectionTrait, rows: Vec<RedemptionRow>) -> Result<Vec<Redemption>> {
    let mut by_town: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for r in &rows {
        by_town.entry(r.town_id).or_default().push(r.id);
    }
    let mut lines = HashMap::new();
    for (town_id, ids) in by_town {
        lines.extend(lines_of(db, town_id, &ids).await?);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let lines = lines.remove(&row.id).unwrap_or_default();
            Redemption { row, lines }
        })
        .collect())
}

pub async fn redemption(db: &impl ConnectionTrait, town_id: Uuid, id: Uuid) -> Result<Option<Redemption>> {
    let Some(row) = points_redemption::Entity::find_by_id((town_id, id)).one(db).await? else { return Ok(None) };
    Ok(with_lines(db, vec![row]).await?.pop())
}

pub async fn redemption_by_key(db: &impl ConnectionTrait, town_id: Uuid, key: &str) -> Result<Option<Redemption>> {
    let row = points_redemption::Entity::find()
        .filter(points_redemption::Column::TownId.eq(town_id))
        .filter(points_redemption::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?;
    match row {
        Some(row) => Ok(with_lines(db, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Households of a town by id (missing ones are simply absent).
pub async fn households_by_ids(
    db: &impl ConnectionTrait,
    town_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<crate::households::HouseholdRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in lookup_chunks(ids) {
        out.extend(
            household::Entity::find()
                .filter(household::Column::TownId.eq(town_id))
                .filter(household::Column::Id.is_in(chunk))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Redemptions whose household lies inside one of `scopes` (`city_towns`: the towns of each
/// city-level scope, see `households::city_towns`).
fn scope_condition(scopes: &[Scope], city_towns: &[(Uuid, Vec<Uuid>)]) -> Condition {
    use points_redemption::Column as C;
    let households_where = |col: household::Column, id: Uuid| {
        C::HouseholdId.in_subquery(
            Query::select().column(household::Column::Id).from(household::Entity).and_where(col.eq(id)).to_owned(),
        )
    };
    let mut any = Condition::any().add(never());
    for s in scopes {
        let Some(id) = s.id() else { continue };
        any = any.add(match s.level {
            Level::City => {
                let towns = city_towns.iter().find(|(c, _)| *c == id).map(|(_, t)| t.clone()).unwrap_or_default();
                Condition::all().add(C::TownId.is_in(towns))
            }
            Level::Town => Condition::all().add(C::TownId.eq(id)),
            Level::Area => Condition::all().add(households_where(household::Column::AreaId, id)),
            Level::AdminVillage => Condition::all().add(C::AdminVillageId.eq(id)),
            Level::NaturalVillage => Condition::all().add(households_where(household::Column::NaturalVillageId, id)),
            Level::Grid => Condition::all().add(households_where(household::Column::GridId, id)),
            Level::Household => Condition::all().add(C::HouseholdId.eq(id)),
        });
    }
    any
}

#[derive(Debug, Clone, Default)]
pub struct RedemptionFilter {
    pub town_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
}

/// Redemptions inside `scopes`, newest first, one page; and how many there are.
pub async fn list_redemptions(
    db: &impl ConnectionTrait,
    filter: &RedemptionFilter,
    scopes: &[Scope],
    page: PageRequest,
) -> Result<(Vec<Redemption>, u64)> {
    use points_redemption::Column as C;
    let towns = crate::households::city_towns(db, scopes).await?;
    let mut cond = Condition::all().add(scope_condition(scopes, &towns));
    if let Some(t) = filter.town_id {
        cond = cond.add(C::TownId.eq(t));
    }
    if let Some(s) = filter.store_id {
        cond = cond.add(C::StoreId.eq(s));
    }
    if let Some(h) = filter.household_id {
        cond = cond.add(C::HouseholdId.eq(h));
    }
    let query = points_redemption::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(C::At)
        .order_by_desc(C::Id)
        .offset(page.offset())
        .limit(Ord::min(page.page_size, PageRequest::MAX_SIZE))
        .all(db)
        .await?;
    Ok((with_lines(db, rows).await?, total))
}

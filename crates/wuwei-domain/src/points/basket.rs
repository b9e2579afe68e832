//! A redemption basket at the store counter: the goods scanned, what they cost in points, whether
//! the household and the shelf can cover them, and the stock movements the redemption implies.
//!
//! The store layer loads each line's current price and stock inside the redemption's transaction,
//! asks [`price_basket`], then writes the redemption posting and the movements together: the
//! points debit and the stock decrement are one transaction, so neither happens without the other.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::Points;
use super::ledger::MAX_POSTING_POINTS;

/// At most this many different goods in one basket.
pub const MAX_LINES: usize = 50;
/// At most this many of one goods in one basket (a barcode scanner held down is not a purchase).
pub const MAX_LINE_QUANTITY: u32 = 99;
/// At most this many units restocked in one movement.
pub const MAX_RESTOCK: i64 = 100_000;

named_enum!(
    /// Why stock changed. Stock is never edited: it is the sum of its movements.
    MovementReason {
        Restock => "restock",
        Redemption => "redemption",
        /// Goods brought back: the redemption is reversed and the goods go back on the shelf.
        Return => "return",
        /// A count at the shelf found a different number (breakage, loss).
        Adjustment => "adjustment",
    }
);

/// One scanned line, with the goods' current price and stock as the store read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasketLine {
    pub goods_id: Uuid,
    /// Points per unit; positive.
    pub unit_price: Points,
    /// Cash value per unit in fen (分), for the figures ("more than ¥12,000 redeemed").
    pub unit_value_fen: i64,
    pub quantity: u32,
    /// Units on the shelf now.
    pub stock: i64,
    /// The store's limit per household per redemption, if any.
    pub max_per_redemption: Option<u32>,
}

/// A priced line (lines of the same goods merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedLine {
    pub goods_id: Uuid,
    pub quantity: u32,
    pub unit_price: Points,
    pub points: Points,
    pub value_fen: i64,
}

/// A change of one goods' stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockMovement {
    pub goods_id: Uuid,
    /// Units added (positive) or taken (negative).
    pub delta: i64,
    pub reason: MovementReason,
}

/// A basket the household can have: the points to post and the stock to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedBasket {
    /// In goods id order.
    pub lines: Vec<PricedLine>,
    pub total: Points,
    pub value_fen: i64,
    pub movements: Vec<StockMovement>,
}

/// Why a basket cannot be redeemed, with what the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BasketRefusal {
    /// 422.
    #[error("the basket is empty")]
    Empty,
    /// 422.
    #[error("at most {max} different goods in one redemption")]
    TooManyLines { max: usize },
    /// 422: zero, or more than [`MAX_LINE_QUANTITY`].
    #[error("goods {goods_id}: quantity must be 1 to {MAX_LINE_QUANTITY}")]
    Quantity { goods_id: Uuid },
    /// 422: the store allows fewer per household per redemption.
    #[error("goods {goods_id}: at most {limit} per redemption, {requested} asked")]
    OverLimit { goods_id: Uuid, limit: u32, requested: u32 },
    /// 422: a price must be positive and a value not negative.
    #[error("goods {goods_id}: price must be positive")]
    Price { goods_id: Uuid },
    /// 422: two lines of the same goods disagree on its price or stock.
    #[error("goods {goods_id}: lines disagree on price or stock")]
    Inconsistent { goods_id: Uuid },
    /// 409.
    #[error("goods {goods_id}: {requested} asked, {available} in stock")]
    OutOfStock { goods_id: Uuid, requested: u32, available: i64 },
    /// 422: more than one posting may carry.
    #[error("the basket costs more than {MAX_POSTING_POINTS} points")]
    TooExpensive,
    /// 409 with the balance.
    #[error("insufficient points: the basket costs {total}, the balance is {balance}")]
    OverBalance { total: Points, balance: Points },
}

/// Price a basket for a household with `balance`: merge lines of the same goods, check each
/// line's quantity, limit, price and stock, then the total against the balance.
pub fn price_basket(lines: &[BasketLine], balance: Points) -> Result<PricedBasket, BasketRefusal> {
    if lines.is_empty() {
        return Err(BasketRefusal::Empty);
    }
    let mut merged: BTreeMap<Uuid, BasketLine> = BTreeMap::new();
    for line in lines {
        let goods_id = line.goods_id;
        if line.unit_price <= 0 || line.unit_value_fen < 0 {
            return Err(BasketRefusal::Price { goods_id });
        }
        if line.quantity == 0 {
            return Err(BasketRefusal::Quantity { goods_id });
        }
        match merged.get_mut(&goods_id) {
            None => {
                merged.insert(goods_id, *line);
            }
            Some(m) => {
                if (m.unit_price, m.unit_value_fen, m.stock, m.max_per_redemption)
                    != (line.unit_price, line.unit_value_fen, line.stock, line.max_per_redemption)
                {
                    return Err(BasketRefusal::Inconsistent { goods_id });
                }
                m.quantity = m.quantity.saturating_add(line.quantity);
            }
        }
    }
    if merged.len() > MAX_LINES {
        return Err(BasketRefusal::TooManyLines { max: MAX_LINES });
    }
    let mut out = PricedBasket { lines: Vec::new(), total: 0, value_fen: 0, movements: Vec::new() };
    for (&goods_id, line) in &merged {
        if line.quantity > MAX_LINE_QUANTITY {
            return Err(BasketRefusal::Quantity { goods_id });
        }
        if let Some(limit) = line.max_per_redemption
            && line.quantity > limit
        {
            return Err(BasketRefusal::OverLimit { goods_id, limit, requested: line.quantity });
        }
        if i64::from(line.quantity) > line.stock {
            return Err(BasketRefusal::OutOfStock { goods_id, requested: line.quantity, available: line.stock.max(0) });
        }
        let quantity = i64::from(line.quantity);
        let points = line.unit_price.checked_mul(quantity).ok_or(BasketRefusal::TooExpensive)?;
        let value_fen = line.unit_value_fen.checked_mul(quantity).ok_or(BasketRefusal::TooExpensive)?;
        out.total = out.total.checked_add(points).ok_or(BasketRefusal::TooExpensive)?;
        out.value_fen = out.value_fen.saturating_add(value_fen);
        out.lines.push(PricedLine {
            goods_id,
            quantity: line.quantity,
            unit_price: line.unit_price,
            points,
            value_fen,
        });
        out.movements.push(StockMovement { goods_id, delta: -quantity, reason: MovementReason::Redemption });
    }
    if out.total > MAX_POSTING_POINTS {
        return Err(BasketRefusal::TooExpensive);
    }
    if out.total > balance {
        return Err(BasketRefusal::OverBalance { total: out.total, balance });
    }
    Ok(out)
}

/// The movements that put a redeemed basket's goods back on the shelf (a return, posted with
/// the reversal of the redemption).
pub fn return_movements(basket: &PricedBasket) -> Vec<StockMovement> {
    basket
        .lines
        .iter()
        .map(|l| StockMovement { goods_id: l.goods_id, delta: i64::from(l.quantity), reason: MovementReason::Return })
        .collect()
}

/// A restock of `quantity` units (1 to [`MAX_RESTOCK`]); `None` for a quantity out of range.
pub fn restock(goods_id: Uuid, quantity: i64) -> Option<StockMovement> {
    (1..=MAX_RESTOCK).contains(&quantity).then_some(StockMovement {
        goods_id,
        delta: quantity,
        reason: MovementReason::Restock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOAP: Uuid = Uuid::from_u128(1);
    const OIL: Uuid = Uuid::from_u128(2);

    fn line(goods_id: Uuid, unit_price: Points, quantity: u32, stock: i64) -> BasketLine {
        BasketLine { goods_id, unit_price, unit_value_fen: unit_price * 100, quantity, stock, max_per_redemption: None }
    }

    #[test]
    fn a_basket_totals_its_lines_and_takes_its_stock() {
        let basket = price_basket(&[line(OIL, 30, 1, 5), line(SOAP, 5, 2, 10), line(SOAP, 5, 1, 10)], 45).unwrap();
        assert_eq!(basket.total, 45, "exactly the balance is fine");
        assert_eq!(basket.value_fen, 4500);
        assert_eq!(
            basket.movements,
            vec![
                StockMovement { goods_id: SOAP, delta: -3, reason: MovementReason::Redemption },
                StockMovement { goods_id: OIL, delta: -1, reason: MovementReason::Redemption },
            ]
        );
        let back = return_movements(&basket);
        assert_eq!(back.iter().map(|m| m.delta).sum::<i64>(), 4);
        assert!(back.iter().all(|m| m.reason == MovementReason::Return));
    }

    #[test]
    fn refusals() {
        assert_eq!(price_basket(&[], 100), Err(BasketRefusal::Empty));
        assert_eq!(
            price_basket(&[line(SOAP, 5, 2, 10), line(SOAP, 5, 1, 1)], 100),
            Err(BasketRefusal::Inconsistent { goods_id: SOAP })
        );
        assert_eq!(
            price_basket(&[line(SOAP, 5, 3, 2)], 100),
            Err(BasketRefusal::OutOfStock { goods_id: SOAP, requested: 3, available: 2 })
        );
        assert_eq!(price_basket(&[line(SOAP, 5, 0, 2)], 100), Err(BasketRefusal::Quantity { goods_id: SOAP }));
        assert_eq!(price_basket(&[line(SOAP, 0, 1, 2)], 100), Err(BasketRefusal::Price { goods_id: SOAP }));
        assert_eq!(
            price_basket(&[line(SOAP, 5, 60, 200), line(SOAP, 5, 60, 200)], 10_000),
            Err(BasketRefusal::Quantity { goods_id: SOAP })
        );
        let limited = BasketLine { max_per_redemption: Some(1), ..line(OIL, 30, 2, 5) };
        assert_eq!(
            price_basket(&[limited], 100),
            Err(BasketRefusal::OverLimit { goods_id: OIL, limit: 1, requested: 2 })
        );
        assert_eq!(
            price_basket(&[line(OIL, 30, 2, 5)], 59),
            Err(BasketRefusal::OverBalance { total: 60, balance: 59 })
        );
        let many: Vec<BasketLine> = (0..=MAX_LINES as u128).map(|n| line(Uuid::from_u128(100 + n), 1, 1, 1)).collect();
        assert_eq!(price_basket(&many, 1000), Err(BasketRefusal::TooManyLines { max: MAX_LINES }));
        assert_eq!(price_basket(&[line(OIL, MAX_POSTING_POINTS, 2, 5)], Points::MAX), Err(BasketRefusal::TooExpensive));
    }

    #[test]
    fn restocking_is_bounded() {
        assert_eq!(restock(SOAP, 10).map(|m| m.delta), Some(10));
        assert_eq!(restock(SOAP, 0), None);
        assert_eq!(restock(SOAP, MAX_RESTOCK + 1), None);
    }
}

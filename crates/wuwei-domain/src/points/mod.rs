//! Household points (积分制) and the village points stores (积分超市), as pure rules.
//!
//! Points are money-like to villagers: a point must never be lost, created from nothing or spent
//! twice. The parts, each in its own module:
//!
//! - [`rulebook`]: the town's 积分评定细则 — 8 categories, items with their points, evidence, cap
//!   and proposers — and a validated default rulebook.
//! - [`award`]: the life of an award (积分申报), declared as data like the case workflow:
//!   proposal, review, public notice (公示), objections (异议), posting.
//! - [`cap`]: calendar periods in China Standard Time and how many points an award may still
//!   carry under an item's cap, for one household or a bulk award.
//! - [`ledger`]: the double-entry, append-only, hash-chained ledger: builders for every kind of
//!   posting, an in-memory reference ledger, and the verifier behind `wuwei points verify`.
//! - [`basket`]: a redemption basket at the store counter: its total, its refusals and the stock
//!   movements it implies.
//!
//! Everything here is whole points (`i64`), time is a parameter, and nothing reads a clock or a
//! database: the store layer loads the facts, asks these functions, and writes what they build.

pub mod award;
pub mod basket;
pub mod cap;
pub mod ledger;
pub mod rulebook;

/// Whole points. Never fractions (glossary); `i64` so that a town's issuance account, which
/// carries the negative of everything ever issued, cannot overflow in any plausible life.
pub type Points = i64;

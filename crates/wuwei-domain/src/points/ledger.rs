//! The points ledger: double-entry, append-only, hash-chained.
//!
//! Every change of a balance is a [`Posting`]: entries of whole points between [`Account`]s that
//! sum to zero, so points are only ever moved, never made or lost. The town's issuance account
//! gives points out (its balance is minus everything in circulation), households hold them, and a
//! store's redemption account receives what is spent there. Postings are never edited: a
//! correction is a [`PostingKind::Reversal`], the exact negation of one original, at most once.
//! Each posting carries an idempotency key (a retried request finds the first result) and the
//! hash of its canonical content and of the previous posting, so that editing, inserting or
//! deleting any posting breaks the chain.
//!
//! The builders (`*_posting`) make the only postings the store writes; [`Ledger`] is the
//! in-memory reference of what the store must do around them (idempotency, reversal once,
//! running balances); [`LedgerVerifier`] checks any sequence of postings and names the first
//! violation (`wuwei points verify`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Points;
use super::cap::{china_date, china_midnight};

/// The hash before the first posting of a town.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// No single posting moves more than this: keeps every sum far from overflow and catches typos.
pub const MAX_POSTING_POINTS: Points = 1_000_000;
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_REFERENCE_CHARS: usize = 200;

named_enum!(
    /// What kind of holder an account belongs to.
    AccountKind {
        /// A household's points.
        Household => "household",
        /// The town's issuance account: the source of awards and the sink of deductions.
        TownIssuance => "town_issuance",
        /// What a points store has taken in redemptions.
        StoreRedemption => "store_redemption",
    }
);

/// An account: a kind and the id of its holder (household, town, store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Account {
    pub kind: AccountKind,
    pub id: Uuid,
}

impl Account {
    pub fn household(id: Uuid) -> Account {
        Account { kind: AccountKind::Household, id }
    }

    pub fn town_issuance(town_id: Uuid) -> Account {
        Account { kind: AccountKind::TownIssuance, id: town_id }
    }

    pub fn store_redemption(store_id: Uuid) -> Account {
        Account { kind: AccountKind::StoreRedemption, id: store_id }
    }
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.kind, self.id)
    }
}

named_enum!(
    /// Why a posting was made.
    PostingKind {
        /// An award posted: issuance → household.
        Award => "award",
        /// A negative award posted: household → issuance (capped at the balance unless the town
        /// allows negative balances; the rest is recorded as the posting's `shortfall`).
        Deduction => "deduction",
        /// Goods bought at a store: household → store.
        Redemption => "redemption",
        /// The exact negation of an earlier posting (`reverses`).
        Reversal => "reversal",
        /// Points expired or reset by the town's rule: household → issuance.
        Expiry => "expiry",
    }
);

/// One side of a posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub account: Account,
    pub points: Points,
}

/// A posting, as stored. `hash` covers every other field, `prev_hash` included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub id: Uuid,
    pub town_id: Uuid,
    /// Position in the town's chain, from 1 without gaps.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub idempotency_key: String,
    pub kind: PostingKind,
    /// The original, for a reversal.
    pub reverses: Option<Uuid>,
    /// For a deduction: the points that could not be deducted because the balance was too low
    /// (the deduction shortfall record). Zero otherwise.
    pub shortfall: Points,
    /// What it is for, e.g. `award:<id>` or `redemption:<id>`.
    pub reference: String,
    /// The negative side first, then the positive side.
    pub entries: Vec<Entry>,
    pub prev_hash: String,
    pub hash: String,
}

impl Posting {
    /// The hash of the posting's canonical content; compare with `hash`.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            // Length-prefixed so that no two different postings hash the same bytes.
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(b"wuwei-points-v1");
        field(self.id.as_bytes());
        field(self.town_id.as_bytes());
        field(&self.seq.to_be_bytes());
        field(self.at.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
        field(self.idempotency_key.as_bytes());
        field(self.kind.as_str().as_bytes());
        field(self.reverses.map(|u| *u.as_bytes()).unwrap_or_default().as_slice());
        field(&self.shortfall.to_be_bytes());
        field(self.reference.as_bytes());
        field(&(self.entries.len() as u64).to_be_bytes());
        for e in &self.entries {
            field(e.account.kind.as_str().as_bytes());
            field(e.account.id.as_bytes());
            field(&e.points.to_be_bytes());
        }
        field(self.prev_hash.as_bytes());
        hex::encode(h.finalize())
    }

    /// What the posting does to one account (0 if it does not touch it).
    pub fn change_for(&self, account: &Account) -> Points {
        self.entries.iter().filter(|e| &e.account == account).map(|e| e.points).sum()
    }
}

/// The end of a town's chain: where the next posting attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The last posting's seq (0 for an empty chain).
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Head {
        Head { seq: 0, hash: GENESIS_HASH.to_string() }
    }

    pub fn of(posting: &Posting) -> Head {
        Head { seq: posting.seq, hash: posting.hash.clone() }
    }
}

/// The caller's part of a new posting: its id (UUID v7, made at the edge), town, time, key and
/// reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingMeta {
    pub id: Uuid,
    pub town_id: Uuid,
    pub at: DateTime<Utc>,
    pub idempotency_key: String,
    pub reference: String,
}

/// Why a posting cannot be built, with what the server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// 422: an amount must be 1 to [`MAX_POSTING_POINTS`].
    #[error("points must be 1 to {MAX_POSTING_POINTS}, got {points}")]
    Amount { points: Points },
    /// 422: the idempotency key is blank, too long or has control characters.
    #[error("idempotency key must be 1 to {MAX_KEY_CHARS} printable characters")]
    Key,
    /// 422: the reference is too long.
    #[error("reference must be at most {MAX_REFERENCE_CHARS} characters")]
    Reference,
    /// 409 with the balance: a redemption (or a reversal) would take the household below zero.
    #[error("insufficient points: balance {balance}, needed {needed}")]
    InsufficientPoints { account: Account, balance: Points, needed: Points },
    /// 409: a posting is reversed at most once.
    #[error("posting {original} was reversed already")]
    AlreadyReversed { original: Uuid },
    /// 409: a reversal is not itself reversed (post the correction anew instead).
    #[error("posting {original} is a reversal and cannot be reversed")]
    ReversalOfReversal { original: Uuid },
    /// 409: the original moved no points (a deduction from an empty balance).
    #[error("posting {original} moved no points")]
    NothingToReverse { original: Uuid },
    /// 404: no such posting in this town.
    #[error("no posting {original} in this town")]
    UnknownOriginal { original: Uuid },
    /// 409: more points than the household has would expire.
    #[error("cannot expire {points} points of a balance of {balance}")]
    ExpiryOverBalance { points: Points, balance: Points },
}

fn check_meta(meta: &PostingMeta) -> Result<(), LedgerError> {
    let key = &meta.idempotency_key;
    if key.trim().is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(LedgerError::Key);
    }
    if meta.reference.chars().count() > MAX_REFERENCE_CHARS {
        return Err(LedgerError::Reference);
    }
    Ok(())
}

fn check_amount(points: Points) -> Result<(), LedgerError> {
    if (1..=MAX_POSTING_POINTS).contains(&points) { Ok(()) } else { Err(LedgerError::Amount { points }) }
}

/// Attach a posting to the chain at `head` and seal it with its hash.
fn seal(
    meta: PostingMeta,
    head: &Head,
    kind: PostingKind,
    reverses: Option<Uuid>,
    shortfall: Points,
    entries: Vec<Entry>,
) -> Posting {
    let mut p = Posting {
        id: meta.id,
        town_id: meta.town_id,
        seq: head.seq + 1,
        at: meta.at,
        idempotency_key: meta.idempotency_key,
        kind,
        reverses,
        shortfall,
        reference: meta.reference,
        entries,
        prev_hash: head.hash.clone(),
        hash: String::new(),
    };
    p.hash = p.content_hash();
    p
}

/// `points` from `from` to `to`, the negative side first.
fn transfer(from: Account, to: Account, points: Points) -> Vec<Entry> {
    vec![Entry { account: from, points: -points }, Entry { account: to, points }]
}

/// An award posts: `points` (> 0) from the town's issuance to the household.
pub fn award_posting(meta: PostingMeta, head: &Head, household: Uuid, points: Points) -> Result<Posting, LedgerError> {
    check_meta(&meta)?;
    check_amount(points)?;
    let entries = transfer(Account::town_issuance(meta.town_id), Account::household(household), points);
    Ok(seal(meta, head, PostingKind::Award, None, 0, entries))
}

/// How much of a deduction of `points` can be taken from a household with `balance`: all of it
/// when the town allows negative balances, otherwise at most what is there. Returns
/// `(deducted, shortfall)`.
pub fn split_deduction(points: Points, balance: Points, allow_negative: bool) -> (Points, Points) {
    let deducted = if allow_negative { points } else { points.min(balance.max(0)) };
    (deducted, points - deducted)
}

/// A deduction posts: `points` (> 0) from the household back to issuance, capped at the balance
/// unless `allow_negative`; the rest is recorded as the posting's shortfall. A deduction from an
/// empty balance is still a posting (with no entries), so the shortfall is on record.
pub fn deduction_posting(
    meta: PostingMeta,
    head: &Head,
    household: Uuid,
    points: Points,
    balance: Points,
    allow_negative: bool,
) -> Result<Posting, LedgerError> {
    check_meta(&meta)?;
    check_amount(points)?;
    let (deducted, shortfall) = split_deduction(points, balance, allow_negative);
    let entries = if deducted > 0 {
        transfer(Account::household(household), Account::town_issuance(meta.town_id), deducted)
    } else {
        Vec::new()
    };
    Ok(seal(meta, head, PostingKind::Deduction, None, shortfall, entries))
}

/// A redemption posts: `points` (> 0) from the household to the store; refused if the balance
/// would go below zero (never, whatever the town allows for deductions).
pub fn redemption_posting(
    meta: PostingMeta,
    head: &Head,
    household: Uuid,
    store: Uuid,
    points: Points,
    balance: Points,
) -> Result<Posting, LedgerError> {
    check_meta(&meta)?;
    check_amount(points)?;
    if balance < points {
        return Err(LedgerError::InsufficientPoints {
            account: Account::household(household),
            balance,
            needed: points,
        });
    }
    let entries = transfer(Account::household(household), Account::store_redemption(store), points);
    Ok(seal(meta, head, PostingKind::Redemption, None, 0, entries))
}

/// Current balances, for builders that touch accounts they do not name (a reversal).
pub trait Balances {
    fn balance(&self, account: &Account) -> Points;
}

impl Balances for BTreeMap<Account, Points> {
    fn balance(&self, account: &Account) -> Points {
        self.get(account).copied().unwrap_or(0)
    }
}

impl Balances for HashMap<Account, Points> {
    fn balance(&self, account: &Account) -> Points {
        self.get(account).copied().unwrap_or(0)
    }
}

/// A reversal posts: the exact negation of `original` (entries in the same order, signs
/// flipped), once. `already_reversed` is what the store knows; `balances` are the current
/// balances of the accounts the original touched. A household that would go below zero refuses
/// it unless the town allows negative balances, and a reversed redemption (a return) always may.
pub fn reversal_posting(
    meta: PostingMeta,
    head: &Head,
    original: &Posting,
    already_reversed: bool,
    balances: &impl Balances,
    allow_negative: bool,
) -> Result<Posting, LedgerError> {
    check_meta(&meta)?;
    if original.town_id != meta.town_id {
        return Err(LedgerError::UnknownOriginal { original: original.id });
    }
    if original.kind == PostingKind::Reversal {
        return Err(LedgerError::ReversalOfReversal { original: original.id });
    }
    if already_reversed {
        return Err(LedgerError::AlreadyReversed { original: original.id });
    }
    if original.entries.is_empty() {
        return Err(LedgerError::NothingToReverse { original: original.id });
    }
    let entries: Vec<Entry> =
        original.entries.iter().map(|e| Entry { account: e.account, points: -e.points }).collect();
    if !allow_negative {
        for e in &entries {
            let balance = balances.balance(&e.account);
            if e.account.kind == AccountKind::Household && e.points < 0 && balance + e.points < 0 {
                return Err(LedgerError::InsufficientPoints { account: e.account, balance, needed: -e.points });
            }
        }
    }
    Ok(seal(meta, head, PostingKind::Reversal, Some(original.id), 0, entries))
}

named_enum!(
    /// The town's rule for old points.
    ExpiryRule {
        /// Points never expire.
        Never => "never",
        /// Every balance goes back to zero when the year turns (China time).
        ResetYearly => "reset_yearly",
        /// Points expire at the end of the year after the one they were earned in; spending
        /// takes the oldest points first.
        KeepOneYear => "keep_one_year",
    }
);

/// How many points of a household expire when the year turns, under `rule`: `balance` is its
/// balance at the turn, `earned_in_ending_year` the points credited to it (awards, returns)
/// during the year that ends. Never negative, never more than the balance.
pub fn expiry_amount(rule: ExpiryRule, balance: Points, earned_in_ending_year: Points) -> Points {
    let balance = balance.max(0);
    match rule {
        ExpiryRule::Never => 0,
        ExpiryRule::ResetYearly => balance,
        // Oldest first: whatever the balance holds beyond this year's earnings is older.
        ExpiryRule::KeepOneYear => (balance - earned_in_ending_year.max(0)).max(0),
    }
}

/// The instant the China-time year containing `at` ends: when yearly expiry runs.
pub fn year_end_after(at: DateTime<Utc>) -> DateTime<Utc> {
    let year = china_date(at).year();
    china_midnight(chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or(chrono::NaiveDate::MAX))
}

/// An expiry posts: `points` (> 0, at most the balance) from the household back to issuance.
pub fn expiry_posting(
    meta: PostingMeta,
    head: &Head,
    household: Uuid,
    points: Points,
    balance: Points,
) -> Result<Posting, LedgerError> {
    check_meta(&meta)?;
    check_amount(points)?;
    if points > balance {
        return Err(LedgerError::ExpiryOverBalance { points, balance });
    }
    let entries = transfer(Account::household(household), Account::town_issuance(meta.town_id), points);
    Ok(seal(meta, head, PostingKind::Expiry, None, 0, entries))
}

// ---- the verifier ----

/// The first thing wrong with a ledger. `seq` is the posting where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("posting {seq}: sequence gap, expected {expected} (a posting was deleted or inserted)")]
    Gap { seq: i64, expected: i64 },
    #[error("posting {seq}: prev_hash does not match the previous posting's hash")]
    PrevMismatch { seq: i64 },
    #[error("posting {seq}: stored hash does not match its content (the row was edited)")]
    HashMismatch { seq: i64 },
    #[error("posting {seq}: belongs to another town")]
    WrongTown { seq: i64 },
    #[error("posting {seq}: idempotency key used before by posting {first_seq}")]
    DuplicateKey { seq: i64, first_seq: i64 },
    #[error("posting {seq}: id used before by posting {first_seq}")]
    DuplicateId { seq: i64, first_seq: i64 },
    #[error("posting {seq}: entry {index} moves zero points")]
    ZeroEntry { seq: i64, index: usize },
    #[error("posting {seq}: entries sum to {sum}, not zero")]
    Unbalanced { seq: i64, sum: i128 },
    #[error("posting {seq}: not the shape of a {kind} posting: {problem}")]
    Shape { seq: i64, kind: PostingKind, problem: &'static str },
    #[error("posting {seq}: reverses {original}, which is not an earlier posting of this town")]
    UnknownOriginal { seq: i64, original: Uuid },
    #[error("posting {seq}: reverses {original}, which posting {first_seq} reversed already")]
    ReversedTwice { seq: i64, original: Uuid, first_seq: i64 },
    #[error("posting {seq}: reverses {original} but is not its exact negation")]
    ReversalMismatch { seq: i64, original: Uuid },
    #[error("posting {seq}: leaves {account} at {balance}")]
    NegativeBalance { seq: i64, account: Account, balance: Points },
    #[error("posting {seq}: a balance overflows")]
    Overflow { seq: i64 },
    #[error("the chain head says {head_seq} postings but the last one is {last_seq}")]
    HeadMismatch { head_seq: i64, last_seq: i64 },
    #[error("{account}: claimed balance {claimed}, entries sum to {actual}")]
    BalanceMismatch { account: Account, claimed: Points, actual: Points },
    #[error("{account}: entries sum to {actual} but no balance is kept for it")]
    UnclaimedBalance { account: Account, actual: Points },
    /// A household's running total of one kind of posting (a reversal counts against its
    /// original's kind) differs from its entries.
    #[error("household {household}: claimed {bucket} total {claimed}, entries sum to {actual}")]
    TotalMismatch { household: Uuid, bucket: PostingKind, claimed: Points, actual: Points },
    #[error("household {household}: its {bucket} entries sum to {actual} but no total is kept for it")]
    UnclaimedTotal { household: Uuid, bucket: PostingKind, actual: Points },
}

impl Violation {
    /// The posting where it was found; `None` for the checks after the last posting.
    pub fn seq(&self) -> Option<i64> {
        use Violation::*;
        match self {
            Gap { seq, .. }
            | PrevMismatch { seq }
            | HashMismatch { seq }
            | WrongTown { seq }
            | DuplicateKey { seq, .. }
            | DuplicateId { seq, .. }
            | ZeroEntry { seq, .. }
            | Unbalanced { seq, .. }
            | Shape { seq, .. }
            | UnknownOriginal { seq, .. }
            | ReversedTwice { seq, .. }
            | ReversalMismatch { seq, .. }
            | NegativeBalance { seq, .. }
            | Overflow { seq } => Some(*seq),
            HeadMismatch { .. }
            | BalanceMismatch { .. }
            | UnclaimedBalance { .. }
            | TotalMismatch { .. }
            | UnclaimedTotal { .. } => None,
        }
    }
}

/// What the verifier remembers of each posting: enough to check a later reversal of it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    seq: i64,
    kind: PostingKind,
    /// A digest of the entries a reversal of it must carry (its own, negated).
    negation: [u8; 16],
    reversed_by: Option<i64>,
}

fn entries_digest(entries: impl Iterator<Item = Entry>) -> [u8; 16] {
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.account.kind.as_str().as_bytes());
        h.update([0]);
        h.update(e.account.id.as_bytes());
        h.update(e.points.to_be_bytes());
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The summary of a verified ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verified {
    pub postings: i64,
    pub entries: u64,
    /// Points in households' hands now (sum of household balances).
    pub in_circulation: Points,
}

/// Checks one town's postings incrementally, in `seq` order, then the balances the store keeps.
/// Every invariant of the ledger is checked; the first violation is returned, precisely.
#[derive(Debug, Clone)]
pub struct LedgerVerifier {
    town_id: Uuid,
    allow_negative: bool,
    expected_seq: i64,
    prev_hash: String,
    balances: BTreeMap<Account, Points>,
    keys: HashMap<String, i64>,
    seen: HashMap<Uuid, Seen>,
    /// Per household and kind of posting (a reversal counted as its original's kind): the sum
    /// of its entries, to check the running totals the store keeps.
    totals: HashMap<(Uuid, PostingKind), Points>,
    entries: u64,
}

impl LedgerVerifier {
    /// `allow_negative`: the town lets deductions take a household below zero.
    pub fn new(town_id: Uuid, allow_negative: bool) -> LedgerVerifier {
        LedgerVerifier {
            town_id,
            allow_negative,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            balances: BTreeMap::new(),
            keys: HashMap::new(),
            seen: HashMap::new(),
            totals: HashMap::new(),
            entries: 0,
        }
    }

    /// The balances so far (all accounts touched, zero ones included).
    pub fn balances(&self) -> &BTreeMap<Account, Points> {
        &self.balances
    }

    /// Feed the next posting.
    /// The town's rule on negative balances changed: postings pushed from now on are judged by
    /// `allow` (the store replays the recorded changes at the postings they applied from).
    pub fn set_allow_negative(&mut self, allow: bool) {
        self.allow_negative = allow;
    }

    pub fn push(&mut self, p: &Posting) -> Result<(), Violation> {
        let seq = p.seq;
        if seq != self.expected_seq {
            return Err(Violation::Gap { seq, expected: self.expected_seq });
        }
        if p.prev_hash != self.prev_hash {
            return Err(Violation::PrevMismatch { seq });
        }
        if p.content_hash() != p.hash {
            return Err(Violation::HashMismatch { seq });
        }
        if p.town_id != self.town_id {
            return Err(Violation::WrongTown { seq });
        }
        if let Some(&first_seq) = self.keys.get(&p.idempotency_key) {
            return Err(Violation::DuplicateKey { seq, first_seq });
        }
        if let Some(first) = self.seen.get(&p.id) {
            return Err(Violation::DuplicateId { seq, first_seq: first.seq });
        }
        let mut sum: i128 = 0;
        for (index, e) in p.entries.iter().enumerate() {
            if e.points == 0 {
                return Err(Violation::ZeroEntry { seq, index });
            }
            sum += i128::from(e.points);
        }
        if sum != 0 {
            return Err(Violation::Unbalanced { seq, sum });
        }
        self.check_shape(p)?;
        if let Some(original) = p.reverses {
            let Some(orig) = self.seen.get_mut(&original) else {
                return Err(Violation::UnknownOriginal { seq, original });
            };
            if let Some(first_seq) = orig.reversed_by {
                return Err(Violation::ReversedTwice { seq, original, first_seq });
            }
            if orig.kind == PostingKind::Reversal || orig.negation != entries_digest(p.entries.iter().copied()) {
                return Err(Violation::ReversalMismatch { seq, original });
            }
            orig.reversed_by = Some(seq);
        }
        let bucket = p.reverses.and_then(|o| self.seen.get(&o)).map_or(p.kind, |o| o.kind);
        for e in &p.entries {
            let balance = self.balances.entry(e.account).or_insert(0);
            *balance = balance.checked_add(e.points).ok_or(Violation::Overflow { seq })?;
            let negative_forbidden = !self.allow_negative || p.kind == PostingKind::Redemption;
            if e.account.kind == AccountKind::Household && e.points < 0 && *balance < 0 && negative_forbidden {
                return Err(Violation::NegativeBalance { seq, account: e.account, balance: *balance });
            }
            if e.account.kind == AccountKind::Household {
                let total = self.totals.entry((e.account.id, bucket)).or_insert(0);
                *total = total.checked_add(e.points).ok_or(Violation::Overflow { seq })?;
            }
        }
        let negation = entries_digest(p.entries.iter().map(|e| Entry { account: e.account, points: -e.points }));
        self.seen.insert(p.id, Seen { seq, kind: p.kind, negation, reversed_by: None });
        self.keys.insert(p.idempotency_key.clone(), seq);
        self.entries += p.entries.len() as u64;
        self.expected_seq += 1;
        self.prev_hash = p.hash.clone();
        Ok(())
    }

    /// Each kind moves points one way between the accounts it names, the negative side first.
    fn check_shape(&self, p: &Posting) -> Result<(), Violation> {
        let bad = |problem| Err(Violation::Shape { seq: p.seq, kind: p.kind, problem });
        let issuance = Account::town_issuance(self.town_id);
        if (p.kind == PostingKind::Reversal) != p.reverses.is_some() {
            return bad("reverses is set exactly on reversals");
        }
        if p.shortfall < 0 || (p.shortfall > 0 && p.kind != PostingKind::Deduction) {
            return bad("shortfall is a non-negative amount of a deduction");
        }
        if p.kind == PostingKind::Reversal {
            // Its entries are checked against its original's.
            return if p.entries.is_empty() { bad("no entries") } else { Ok(()) };
        }
        if p.entries.is_empty() {
            return if p.kind == PostingKind::Deduction && p.shortfall > 0 {
                Ok(()) // nothing could be deducted; the shortfall is the record
            } else {
                bad("no entries")
            };
        }
        let [from, to] = p.entries.as_slice() else { return bad("two entries") };
        if from.points >= 0 {
            return bad("the negative side first");
        }
        let ok = match p.kind {
            PostingKind::Award => from.account == issuance && to.account.kind == AccountKind::Household,
            PostingKind::Deduction | PostingKind::Expiry => {
                from.account.kind == AccountKind::Household && to.account == issuance
            }
            PostingKind::Redemption => {
                from.account.kind == AccountKind::Household && to.account.kind == AccountKind::StoreRedemption
            }
            PostingKind::Reversal => true,
        };
        if ok { Ok(()) } else { bad("accounts") }
    }

    /// After the last posting: every household's running total by kind that the store claims
    /// must equal the sum of its entries of that kind (a reversal counted as its original's
    /// kind), and every non-zero sum must be claimed.
    pub fn check_household_totals(
        &self,
        claimed: impl IntoIterator<Item = (Uuid, PostingKind, Points)>,
    ) -> Result<(), Violation> {
        let mut claimed_keys = std::collections::HashSet::new();
        for (household, bucket, claimed) in claimed {
            let actual = self.totals.get(&(household, bucket)).copied().unwrap_or(0);
            if claimed != actual || !claimed_keys.insert((household, bucket)) {
                return Err(Violation::TotalMismatch { household, bucket, claimed, actual });
            }
        }
        let mut unclaimed: Vec<_> =
            self.totals.iter().filter(|(k, v)| **v != 0 && !claimed_keys.contains(*k)).map(|(k, v)| (*k, *v)).collect();
        unclaimed.sort();
        match unclaimed.first() {
            Some(&((household, bucket), actual)) => Err(Violation::UnclaimedTotal { household, bucket, actual }),
            None => Ok(()),
        }
    }

    /// After the last posting: the chain head must agree, every claimed balance must equal the
    /// sum of its entries, and every account with points must have a claimed balance.
    pub fn finish(
        &self,
        head_seq: i64,
        claimed: impl IntoIterator<Item = (Account, Points)>,
    ) -> Result<Verified, Violation> {
        let last_seq = self.expected_seq - 1;
        if head_seq != last_seq {
            return Err(Violation::HeadMismatch { head_seq, last_seq });
        }
        let mut claimed_accounts = std::collections::BTreeSet::new();
        for (account, claimed) in claimed {
            let actual = self.balances.get(&account).copied().unwrap_or(0);
            if claimed != actual {
                return Err(Violation::BalanceMismatch { account, claimed, actual });
            }
            claimed_accounts.insert(account);
        }
        for (&account, &actual) in &self.balances {
            if actual != 0 && !claimed_accounts.contains(&account) {
                return Err(Violation::UnclaimedBalance { account, actual });
            }
        }
        let in_circulation =
            self.balances.iter().filter(|(a, _)| a.kind == AccountKind::Household).map(|(_, b)| *b).sum();
        Ok(Verified { postings: last_seq, entries: self.entries, in_circulation })
    }
}

/// Verify a whole ledger held in memory: the postings in order, the chain head, the balances.
pub fn verify(
    town_id: Uuid,
    allow_negative: bool,
    postings: &[Posting],
    head_seq: i64,
    claimed: impl IntoIterator<Item = (Account, Points)>,
) -> Result<Verified, Violation> {
    let mut v = LedgerVerifier::new(town_id, allow_negative);
    for p in postings {
        v.push(p)?;
    }
    v.finish(head_seq, claimed)
}

// ---- the in-memory reference ledger ----

/// What to post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Award { household: Uuid, points: Points },
    Deduction { household: Uuid, points: Points },
    Redemption { household: Uuid, store: Uuid, points: Points },
    Reversal { original: Uuid },
    Expiry { household: Uuid, points: Points },
}

/// The result of [`Ledger::post`]: the posting, and whether it was there already (same key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posted<'a> {
    pub posting: &'a Posting,
    pub replayed: bool,
}

/// One town's ledger in memory, with running balances: the reference for what the store does
/// around the builders (the key looked up first, reversal once, balances kept beside the
/// postings), used by tests, the demo generator and anything that replays a ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    town_id: Uuid,
    allow_negative: bool,
    postings: Vec<Posting>,
    balances: BTreeMap<Account, Points>,
    by_key: HashMap<String, usize>,
    by_id: HashMap<Uuid, usize>,
    reversed: HashMap<Uuid, Uuid>,
}

impl Ledger {
    pub fn new(town_id: Uuid, allow_negative: bool) -> Ledger {
        Ledger {
            town_id,
            allow_negative,
            postings: Vec::new(),
            balances: BTreeMap::new(),
            by_key: HashMap::new(),
            by_id: HashMap::new(),
            reversed: HashMap::new(),
        }
    }

    pub fn town_id(&self) -> Uuid {
        self.town_id
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    pub fn balances(&self) -> &BTreeMap<Account, Points> {
        &self.balances
    }

    pub fn balance(&self, account: &Account) -> Points {
        self.balances.balance(account)
    }

    pub fn head(&self) -> Head {
        self.postings.last().map(Head::of).unwrap_or_else(Head::genesis)
    }

    /// Post `request` under `meta`'s key: the first posting with this key if there is one,
    /// otherwise a new one built by the builders, or the builder's refusal (which leaves no
    /// trace). `meta.town_id` is this ledger's town, whatever the caller passed.
    pub fn post(&mut self, mut meta: PostingMeta, request: Request) -> Result<Posted<'_>, LedgerError> {
        if let Some(&i) = self.by_key.get(&meta.idempotency_key) {
            return Ok(Posted { posting: &self.postings[i], replayed: true });
        }
        meta.town_id = self.town_id;
        let head = self.head();
        let posting = match request {
            Request::Award { household, points } => award_posting(meta, &head, household, points)?,
            Request::Deduction { household, points } => {
                let balance = self.balance(&Account::household(household));
                deduction_posting(meta, &head, household, points, balance, self.allow_negative)?
            }
            Request::Redemption { household, store, points } => {
                let balance = self.balance(&Account::household(household));
                redemption_posting(meta, &head, household, store, points, balance)?
            }
            Request::Reversal { original } => {
                let Some(&i) = self.by_id.get(&original) else {
                    return Err(LedgerError::UnknownOriginal { original });
                };
                let already = self.reversed.contains_key(&original);
                reversal_posting(meta, &head, &self.postings[i], already, &self.balances, self.allow_negative)?
            }
            Request::Expiry { household, points } => {
                let balance = self.balance(&Account::household(household));
                expiry_posting(meta, &head, household, points, balance)?
            }
        };
        for e in &posting.entries {
            *self.balances.entry(e.account).or_insert(0) += e.points;
        }
        if let Some(original) = posting.reverses {
            self.reversed.insert(original, posting.id);
        }
        let i = self.postings.len();
        self.by_key.insert(posting.idempotency_key.clone(), i);
        self.by_id.insert(posting.id, i);
        self.postings.push(posting);
        Ok(Posted { posting: &self.postings[i], replayed: false })
    }

    /// Verify this ledger against its own running balances.
    pub fn verify(&self) -> Result<Verified, Violation> {
        let claimed = self.balances.iter().map(|(a, b)| (*a, *b));
        verify(self.town_id, self.allow_negative, &self.postings, self.head().seq, claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    const TOWN: Uuid = Uuid::from_u128(0x70);
    const STORE: Uuid = Uuid::from_u128(0x50);
    const H1: Uuid = Uuid::from_u128(1);
    const H2: Uuid = Uuid::from_u128(2);

    fn meta(n: u128) -> PostingMeta {
        PostingMeta {
            id: Uuid::from_u128(0x1000 + n),
            town_id: TOWN,
            at: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap() + Duration::minutes(n as i64),
            idempotency_key: format!("k{n}"),
            reference: format!("test:{n}"),
        }
    }

    #[test]
    fn awards_redemptions_and_reversals_move_points_without_making_any() {
        let mut l = Ledger::new(TOWN, false);
        let award = l.post(meta(1), Request::Award { household: H1, points: 10 }).unwrap().posting.id;
        l.post(meta(2), Request::Redemption { household: H1, store: STORE, points: 7 }).unwrap();
        assert_eq!(l.balance(&Account::household(H1)), 3);
        assert_eq!(l.balance(&Account::store_redemption(STORE)), 7);
        assert_eq!(l.balance(&Account::town_issuance(TOWN)), -10);
        assert_eq!(
            l.post(meta(3), Request::Redemption { household: H1, store: STORE, points: 4 }).unwrap_err(),
            LedgerError::InsufficientPoints { account: Account::household(H1), balance: 3, needed: 4 }
        );
        // Reversing the award would take the household to -7.
        assert!(matches!(
            l.post(meta(4), Request::Reversal { original: award }),
            Err(LedgerError::InsufficientPoints { .. })
        ));
        assert_eq!(l.verify().unwrap(), Verified { postings: 2, entries: 4, in_circulation: 3 });
    }

    #[test]
    fn a_deduction_is_capped_at_the_balance_and_the_shortfall_recorded() {
        let mut l = Ledger::new(TOWN, false);
        l.post(meta(1), Request::Award { household: H1, points: 4 }).unwrap();
        let p = l.post(meta(2), Request::Deduction { household: H1, points: 10 }).unwrap().posting.clone();
        assert_eq!((p.change_for(&Account::household(H1)), p.shortfall), (-4, 6));
        assert_eq!(l.balance(&Account::household(H1)), 0);
        // Nothing left to deduct: still a posting, with no entries, so the shortfall is on record.
        let p = l.post(meta(3), Request::Deduction { household: H1, points: 5 }).unwrap().posting.clone();
        assert_eq!((p.entries.len(), p.shortfall), (0, 5));
        l.verify().unwrap();
        // A town that allows negative balances deducts all of it.
        let mut neg = Ledger::new(TOWN, true);
        let p = neg.post(meta(1), Request::Deduction { household: H2, points: 5 }).unwrap().posting.clone();
        assert_eq!((p.shortfall, neg.balance(&Account::household(H2))), (0, -5));
        neg.verify().unwrap();
        assert_eq!(split_deduction(5, -3, false), (0, 5));
    }

    #[test]
    fn a_reversal_is_the_exact_negation_and_happens_once() {
        let mut l = Ledger::new(TOWN, false);
        l.post(meta(1), Request::Award { household: H1, points: 10 }).unwrap();
        let r =
            l.post(meta(2), Request::Redemption { household: H1, store: STORE, points: 6 }).unwrap().posting.clone();
        let rev = l.post(meta(3), Request::Reversal { original: r.id }).unwrap().posting.clone();
        assert_eq!(rev.reverses, Some(r.id));
        assert_eq!(
            rev.entries,
            r.entries.iter().map(|e| Entry { account: e.account, points: -e.points }).collect::<Vec<_>>()
        );
        assert_eq!(l.balance(&Account::household(H1)), 10);
        assert_eq!(
            l.post(meta(4), Request::Reversal { original: r.id }).unwrap_err(),
            LedgerError::AlreadyReversed { original: r.id }
        );
        assert_eq!(
            l.post(meta(5), Request::Reversal { original: rev.id }).unwrap_err(),
            LedgerError::ReversalOfReversal { original: rev.id }
        );
        let ghost = Uuid::from_u128(999);
        assert_eq!(
            l.post(meta(6), Request::Reversal { original: ghost }).unwrap_err(),
            LedgerError::UnknownOriginal { original: ghost }
        );
        l.verify().unwrap();
    }

    #[test]
    fn the_same_key_returns_the_first_posting() {
        let mut l = Ledger::new(TOWN, false);
        let first = l.post(meta(1), Request::Award { household: H1, points: 3 }).unwrap().posting.clone();
        let again = l.post(meta(1), Request::Award { household: H1, points: 3 }).unwrap();
        assert!(again.replayed);
        assert_eq!(again.posting, &first);
        assert_eq!(l.postings().len(), 1);
        assert_eq!(l.balance(&Account::household(H1)), 3);
    }

    #[test]
    fn bad_amounts_and_keys_are_refused() {
        let mut l = Ledger::new(TOWN, false);
        assert_eq!(
            l.post(meta(1), Request::Award { household: H1, points: 0 }).unwrap_err(),
            LedgerError::Amount { points: 0 }
        );
        assert!(l.post(meta(1), Request::Award { household: H1, points: MAX_POSTING_POINTS + 1 }).is_err());
        let mut m = meta(2);
        m.idempotency_key = " ".into();
        assert_eq!(l.post(m, Request::Award { household: H1, points: 1 }).unwrap_err(), LedgerError::Key);
        assert_eq!(
            l.post(meta(3), Request::Expiry { household: H1, points: 1 }).unwrap_err(),
            LedgerError::ExpiryOverBalance { points: 1, balance: 0 }
        );
        assert!(l.postings().is_empty(), "refusals leave no trace");
    }

    #[test]
    fn expiry_follows_the_town_rule() {
        assert_eq!(expiry_amount(ExpiryRule::Never, 50, 10), 0);
        assert_eq!(expiry_amount(ExpiryRule::ResetYearly, 50, 10), 50);
        assert_eq!(expiry_amount(ExpiryRule::KeepOneYear, 50, 10), 40);
        assert_eq!(expiry_amount(ExpiryRule::KeepOneYear, 5, 10), 0);
        assert_eq!(expiry_amount(ExpiryRule::ResetYearly, -5, 0), 0);
        // The year turns at midnight China time.
        let late = Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 0).unwrap();
        assert_eq!(year_end_after(late), Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap());
        let mut l = Ledger::new(TOWN, false);
        l.post(meta(1), Request::Award { household: H1, points: 8 }).unwrap();
        l.post(meta(2), Request::Expiry { household: H1, points: 8 }).unwrap();
        assert_eq!(l.balance(&Account::household(H1)), 0);
        l.verify().unwrap();
    }

    fn sample() -> Ledger {
        let mut l = Ledger::new(TOWN, false);
        l.post(meta(1), Request::Award { household: H1, points: 10 }).unwrap();
        l.post(meta(2), Request::Award { household: H2, points: 5 }).unwrap();
        l.post(meta(3), Request::Redemption { household: H1, store: STORE, points: 4 }).unwrap();
        l.post(meta(4), Request::Deduction { household: H2, points: 2 }).unwrap();
        l
    }

    fn claims(l: &Ledger) -> Vec<(Account, Points)> {
        l.balances().iter().map(|(a, b)| (*a, *b)).collect()
    }

    #[test]
    fn household_totals_are_checked_by_kind_with_reversals_counted_as_their_original() {
        let mut l = sample();
        let redemption = l.postings()[2].id;
        l.post(meta(5), Request::Reversal { original: redemption }).unwrap();
        let mut v = LedgerVerifier::new(TOWN, false);
        for p in l.postings() {
            v.push(p).unwrap();
        }
        use PostingKind::*;
        // H1: awarded 10, redeemed 4 then returned (net 0 redemption); H2: awarded 5, deducted 2.
        let right = vec![(H1, Award, 10), (H1, Redemption, 0), (H2, Award, 5), (H2, Deduction, -2)];
        assert_eq!(v.check_household_totals(right.clone()), Ok(()));
        // A zero total may be missing; a non-zero one may not.
        assert_eq!(v.check_household_totals(right[..1].iter().copied().chain(right[2..].iter().copied())), Ok(()));
        assert_eq!(
            v.check_household_totals(right[..3].to_vec()),
            Err(Violation::UnclaimedTotal { household: H2, bucket: Deduction, actual: -2 })
        );
        let mut nudged = right.clone();
        nudged[0].2 += 1;
        assert_eq!(
            v.check_household_totals(nudged),
            Err(Violation::TotalMismatch { household: H1, bucket: Award, claimed: 11, actual: 10 })
        );
        // The return is counted against redemptions, not as a kind of its own.
        let mut as_reversal = right;
        as_reversal[1] = (H1, Reversal, 4);
        assert!(matches!(v.check_household_totals(as_reversal), Err(Violation::TotalMismatch { .. })));
    }

    #[test]
    fn the_verifier_names_the_first_violation() {
        let l = sample();
        let ps = l.postings().to_vec();
        assert!(verify(TOWN, false, &ps, 4, claims(&l)).is_ok());

        let mut edited = ps.clone();
        edited[1].entries[1].points = 6;
        assert_eq!(verify(TOWN, false, &edited, 4, claims(&l)), Err(Violation::HashMismatch { seq: 2 }));

        // Rehashing an unbalanced edit does not help: the sum is checked, and the next link breaks.
        let mut rehashed = ps.clone();
        rehashed[1].entries[1].points = 6;
        rehashed[1].hash = rehashed[1].content_hash();
        assert_eq!(verify(TOWN, false, &rehashed, 4, claims(&l)), Err(Violation::Unbalanced { seq: 2, sum: 1 }));

        let mut deleted = ps.clone();
        deleted.remove(2);
        assert_eq!(verify(TOWN, false, &deleted, 4, claims(&l)), Err(Violation::Gap { seq: 4, expected: 3 }));
        assert_eq!(
            verify(TOWN, false, &ps[..3], 4, claims(&l)),
            Err(Violation::HeadMismatch { head_seq: 4, last_seq: 3 })
        );

        let mut wrong = claims(&l);
        wrong[0].1 += 1;
        assert!(matches!(verify(TOWN, false, &ps, 4, wrong), Err(Violation::BalanceMismatch { .. })));
        let missing: Vec<_> = claims(&l).into_iter().filter(|(a, _)| a.kind != AccountKind::StoreRedemption).collect();
        assert_eq!(
            verify(TOWN, false, &ps, 4, missing),
            Err(Violation::UnclaimedBalance { account: Account::store_redemption(STORE), actual: 4 })
        );
    }

    /// Re-seal a posting after an edit, and every later one, so that only the invariant the edit
    /// breaks is left to find (an attacker who can rewrite the whole table).
    fn reseal(ps: &mut [Posting]) {
        let mut head = Head::genesis();
        for p in ps.iter_mut() {
            p.prev_hash = head.hash.clone();
            p.hash = p.content_hash();
            head = Head::of(p);
        }
    }

    #[test]
    fn resealed_forgeries_are_still_caught_by_the_invariants() {
        let l = sample();
        let base = l.postings().to_vec();

        let mut dup_key = base.clone();
        dup_key[2].idempotency_key = dup_key[0].idempotency_key.clone();
        reseal(&mut dup_key);
        assert_eq!(verify(TOWN, false, &dup_key, 4, claims(&l)), Err(Violation::DuplicateKey { seq: 3, first_seq: 1 }));

        let mut overdrawn = base.clone();
        overdrawn[2].entries[0].points = -11;
        overdrawn[2].entries[1].points = 11;
        reseal(&mut overdrawn);
        assert_eq!(
            verify(TOWN, false, &overdrawn, 4, claims(&l)),
            Err(Violation::NegativeBalance { seq: 3, account: Account::household(H1), balance: -1 })
        );

        let mut printed = base.clone();
        printed[0].entries[0].account = Account::household(H2); // points from a household, not issuance
        reseal(&mut printed);
        assert!(matches!(verify(TOWN, false, &printed, 4, claims(&l)), Err(Violation::Shape { seq: 1, .. })));

        let mut zero = base.clone();
        zero[1].entries.push(Entry { account: Account::household(H1), points: 0 });
        reseal(&mut zero);
        assert_eq!(verify(TOWN, false, &zero, 4, claims(&l)), Err(Violation::ZeroEntry { seq: 2, index: 2 }));
    }

    #[test]
    fn a_forged_second_reversal_is_caught() {
        let mut l = sample();
        let original = l.postings()[2].id;
        l.post(meta(5), Request::Reversal { original }).unwrap();
        let mut ps = l.postings().to_vec();
        let mut twin = ps[4].clone();
        twin.id = Uuid::from_u128(0x9999);
        twin.idempotency_key = "forged".into();
        twin.seq = 6;
        ps.push(twin);
        reseal(&mut ps);
        assert_eq!(
            verify(TOWN, false, &ps, 6, claims(&l)),
            Err(Violation::ReversedTwice { seq: 6, original, first_seq: 5 })
        );

        let mut off = l.postings().to_vec();
        off[4].entries[0].points += 1;
        off[4].entries[1].points -= 1;
        reseal(&mut off);
        assert_eq!(verify(TOWN, false, &off, 5, claims(&l)), Err(Violation::ReversalMismatch { seq: 5, original }));
    }
}

//! The audit trail's hash chain. Each record's hash covers its own fields and the previous
//! record's hash, so editing or deleting any row breaks every link after it. Chains are kept per
//! town (and one for county-level changes), so towns never wait on each other's writes and a
//! sharded deployment keeps each chain on one node.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before the first record of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain of county-level records (those with no town).
pub const COUNTY_CHAIN: &str = "county";

pub fn chain_for(town_id: Option<Uuid>) -> String {
    match town_id {
        Some(t) => t.to_string(),
        None => COUNTY_CHAIN.to_string(),
    }
}

/// The hashed content of an audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub chain: String,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub town_id: Option<Uuid>,
    /// `{"before": ..., "after": ...}` as the exact JSON text stored (hashing text, not a
    /// re-serialisation, keeps the hash independent of how a database normalises JSON).
    pub summary: String,
    pub prev_hash: String,
}

impl AuditRecord {
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            // Length-prefixed so that no two different records hash the same bytes.
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(b"wuwei-audit-v1");
        field(self.chain.as_bytes());
        field(&self.seq.to_be_bytes());
        field(self.at.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
        field(self.actor_id.map(|u| u.to_string()).unwrap_or_default().as_bytes());
        field(self.actor_name.as_bytes());
        field(self.action.as_bytes());
        field(self.entity_type.as_bytes());
        field(self.entity_id.as_bytes());
        field(self.town_id.map(|u| u.to_string()).unwrap_or_default().as_bytes());
        field(self.summary.as_bytes());
        field(self.prev_hash.as_bytes());
        hex::encode(h.finalize())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("record {seq} of chain {chain}: sequence gap, expected {expected} (a record was deleted or inserted)")]
    Gap { chain: String, seq: i64, expected: i64 },
    #[error("record {seq} of chain {chain}: prev_hash does not match the previous record's hash")]
    PrevMismatch { chain: String, seq: i64 },
    #[error("record {seq} of chain {chain}: stored hash does not match its content (the row was edited)")]
    HashMismatch { chain: String, seq: i64 },
    #[error("chain {chain}: the head says {head_seq} records but the last record is {last_seq}")]
    HeadMismatch { chain: String, head_seq: i64, last_seq: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Gap { seq, .. }
            | ChainBreak::PrevMismatch { seq, .. }
            | ChainBreak::HashMismatch { seq, .. } => *seq,
            ChainBreak::HeadMismatch { last_seq, .. } => *last_seq + 1,
        }
    }

    pub fn chain(&self) -> &str {
        match self {
            ChainBreak::Gap { chain, .. }
            | ChainBreak::PrevMismatch { chain, .. }
            | ChainBreak::HashMismatch { chain, .. }
            | ChainBreak::HeadMismatch { chain, .. } => chain,
        }
    }
}

/// Checks one chain incrementally, record by record in `seq` order, so a verifier can stream
/// millions of rows in bounded memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    chain: String,
    expected_seq: i64,
    prev_hash: String,
}

impl ChainVerifier {
    pub fn new(chain: &str) -> ChainVerifier {
        ChainVerifier { chain: chain.to_string(), expected_seq: 1, prev_hash: GENESIS_HASH.to_string() }
    }

    /// Feed the next record with the hash stored beside it.
    pub fn push(&mut self, record: &AuditRecord, stored_hash: &str) -> Result<(), ChainBreak> {
        let chain = self.chain.clone();
        if record.seq != self.expected_seq {
            return Err(ChainBreak::Gap { chain, seq: record.seq, expected: self.expected_seq });
        }
        if record.prev_hash != self.prev_hash {
            return Err(ChainBreak::PrevMismatch { chain, seq: record.seq });
        }
        if record.hash() != stored_hash {
            return Err(ChainBreak::HashMismatch { chain, seq: record.seq });
        }
        self.expected_seq += 1;
        self.prev_hash = stored_hash.to_string();
        Ok(())
    }

    /// After the last record: the chain's head must agree, or trailing records were deleted.
    pub fn finish(&self, head_seq: i64) -> Result<i64, ChainBreak> {
        let last_seq = self.expected_seq - 1;
        if head_seq != last_seq {
            return Err(ChainBreak::HeadMismatch { chain: self.chain.clone(), head_seq, last_seq });
        }
        Ok(last_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(seq: i64, prev: &str) -> AuditRecord {
        AuditRecord {
            chain: "t".into(),
            seq,
            at: Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
            actor_id: Some(Uuid::from_u128(1)),
            actor_name: "admin".into(),
            action: "region.update".into(),
            entity_type: "region".into(),
            entity_id: "x".into(),
            town_id: None,
            summary: format!("{{\"n\":{seq}}}"),
            prev_hash: prev.into(),
        }
    }

    fn chain(n: i64) -> Vec<(AuditRecord, String)> {
        let mut out = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for seq in 1..=n {
            let r = record(seq, &prev);
            let h = r.hash();
            prev = h.clone();
            out.push((r, h));
        }
        out
    }

    fn verify(records: &[(AuditRecord, String)], head: i64) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::new("t");
        for (r, h) in records {
            v.push(r, h)?;
        }
        v.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5), 5), Ok(5));
        assert_eq!(verify(&[], 0), Ok(0));
    }

    #[test]
    fn an_edit_is_found_at_its_record() {
        let mut c = chain(5);
        c[2].0.summary = "{\"n\":99}".into();
        assert_eq!(verify(&c, 5).map_err(|e| e.seq()), Err(3));
    }

    #[test]
    fn a_deletion_is_found() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c, 5).map_err(|e| e.seq()), Err(3));
        let mut tail = chain(5);
        tail.pop();
        assert!(matches!(verify(&tail, 5), Err(ChainBreak::HeadMismatch { .. })));
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut c = chain(5);
        c[1].0.summary = "{}".into();
        c[1].1 = c[1].0.hash();
        assert!(matches!(verify(&c, 5), Err(ChainBreak::PrevMismatch { seq: 3, .. })));
    }
}

//! Property tests of the domain's invariants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;
use wuwei_domain::audit::{AuditRecord, ChainVerifier, GENESIS_HASH};
use wuwei_domain::geo::{Geometry, Point};
use wuwei_domain::locate::LayerIndex;

/// A jittered lattice of quadrilaterals that tile a square: the shape of real village maps.
fn lattice(n: usize, jitter: &[f64]) -> Vec<(Uuid, Geometry)> {
    let size = 0.01;
    let vertex = |r: usize, c: usize| -> [f64; 2] {
        let inner = r > 0 && c > 0 && r < n && c < n;
        let k = (r * (n + 1) + c) % jitter.len();
        let (dx, dy) =
            if inner { (jitter[k] * size * 0.3, jitter[(k + 7) % jitter.len()] * size * 0.3) } else { (0.0, 0.0) };
        [117.0 + c as f64 * size + dx, 37.0 + r as f64 * size + dy]
    };
    let mut out = Vec::new();
    for r in 0..n {
        for c in 0..n {
            let ring = vec![vertex(r, c), vertex(r, c + 1), vertex(r + 1, c + 1), vertex(r + 1, c), vertex(r, c)];
            let g = Geometry::from_geojson(&json!({"type": "Polygon", "coordinates": [ring]})).unwrap();
            out.push((Uuid::from_u128((r * n + c + 1) as u128), g));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The index answers exactly what a scan of every polygon answers.
    #[test]
    fn locate_index_agrees_with_a_linear_scan(
        n in 1usize..9,
        jitter in prop::collection::vec(-1.0f64..1.0, 16),
        points in prop::collection::vec((116.99f64..117.1, 36.99f64..37.1), 200),
    ) {
        let shapes = lattice(n, &jitter);
        let index = LayerIndex::new(shapes.clone());
        for (lon, lat) in points {
            let p = Point { lon, lat };
            let scan = shapes.iter().find(|(_, g)| g.contains(p)).map(|(id, _)| *id);
            prop_assert_eq!(index.find(p), scan);
        }
    }

    /// A tiling is found exactly once for every point strictly inside it.
    #[test]
    fn every_inner_point_is_in_exactly_one_tile(
        n in 1usize..7,
        jitter in prop::collection::vec(-1.0f64..1.0, 16),
        points in prop::collection::vec((117.0001f64..117.0099, 37.0001f64..37.0099), 100),
    ) {
        let shapes = lattice(n, &jitter);
        for (lon, lat) in points {
            // Scale the sample into the lattice's extent.
            let p = Point { lon: 117.0 + (lon - 117.0) * n as f64, lat: 37.0 + (lat - 37.0) * n as f64 };
            let hits = shapes.iter().filter(|(_, g)| g.contains(p)).count();
            prop_assert_eq!(hits, 1, "point {:?}", p);
        }
    }

    /// Any single edit to any field of any record of a chain is detected, at that record.
    #[test]
    fn any_edit_breaks_the_chain_at_the_edited_record(len in 1i64..20, victim in 0usize..20, field in 0usize..5, text in "[a-z]{1,8}") {
        let mut records = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for seq in 1..=len {
            let r = AuditRecord {
                chain: "town".into(),
                seq,
                at: Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap() + chrono::Duration::seconds(seq),
                actor_id: None,
                actor_name: "admin".into(),
                action: "region.update".into(),
                entity_type: "region".into(),
                entity_id: format!("r{seq}"),
                town_id: None,
                summary: format!("{{\"n\":{seq}}}"),
                prev_hash: prev.clone(),
            };
            prev = r.hash();
            records.push((r, prev.clone()));
        }
        let victim = victim % records.len();
        let r = &mut records[victim].0;
        match field {
            0 => r.actor_name.push_str(&text),
            1 => r.action.push_str(&text),
            2 => r.entity_id.push_str(&text),
            3 => r.summary.push_str(&text),
            _ => r.at += chrono::Duration::microseconds(1),
        }
        let mut v = ChainVerifier::new("town");
        let mut broken_at = None;
        for (r, h) in &records {
            if let Err(e) = v.push(r, h) {
                broken_at = Some(e.seq());
                break;
            }
        }
        prop_assert_eq!(broken_at, Some(victim as i64 + 1));
    }
}

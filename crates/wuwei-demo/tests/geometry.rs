//! The demo town's boundaries: rings, nesting and exact tiling, for the demo seed and many others.

// Helpers outside #[test] functions may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use wuwei_demo::{DEMO_SEED, DemoRegion, DemoTown, TOWN_CENTER, generate};

type Pt = [f64; 2];

/// Even-odd ray casting.
fn contains(ring: &[Pt], p: Pt) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Distance from `p` to the segment `a`–`b` (in degrees; fine at this scale).
fn seg_dist(p: Pt, a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) };
    let (x, y) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    (x * x + y * y).sqrt()
}

fn boundary_dist(ring: &[Pt], p: Pt) -> f64 {
    ring.windows(2).map(|w| seg_dist(p, w[0], w[1])).fold(f64::INFINITY, f64::min)
}

/// Signed area by the shoelace formula, relative to the first vertex (keeps precision).
fn signed_area(ring: &[Pt]) -> f64 {
    let o = ring[0];
    ring.windows(2).map(|w| (w[0][0] - o[0]) * (w[1][1] - o[1]) - (w[1][0] - o[0]) * (w[0][1] - o[1])).sum::<f64>()
        / 2.0
}

fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Proper or touching intersection of two closed segments.
fn segments_meet(p1: Pt, p2: Pt, q1: Pt, q2: Pt) -> bool {
    let d1 = cross(q1, q2, p1);
    let d2 = cross(q1, q2, p2);
    let d3 = cross(p1, p2, q1);
    let d4 = cross(p1, p2, q2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    let on = |a: Pt, b: Pt, p: Pt, d: f64| {
        d == 0.0 && p[0] >= a[0].min(b[0]) && p[0] <= a[0].max(b[0]) && p[1] >= a[1].min(b[1]) && p[1] <= a[1].max(b[1])
    };
    on(q1, q2, p1, d1) || on(q1, q2, p2, d2) || on(p1, p2, q1, d3) || on(p1, p2, q2, d4)
}

fn is_simple(ring: &[Pt]) -> bool {
    let n = ring.len() - 1; // edges
    for i in 0..n {
        for j in i + 1..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                continue;
            }
            if segments_meet(ring[i], ring[i + 1], ring[j], ring[j + 1]) {
                return false;
            }
        }
    }
    true
}

fn bbox(ring: &[Pt]) -> [f64; 4] {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for p in ring {
        b = [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])];
    }
    b
}

fn ring(r: &DemoRegion) -> &[Pt] {
    &r.polygon[0]
}

type Edge = ([u64; 2], [u64; 2]);

fn edges(ring: &[Pt]) -> Vec<Edge> {
    ring.windows(2).map(|w| ([w[0][0].to_bits(), w[0][1].to_bits()], [w[1][0].to_bits(), w[1][1].to_bits()])).collect()
}

/// Exact tiling, combinatorially and bit for bit: within each parent, every edge of a child is
/// either shared (reversed) with exactly one sibling or is an edge of the parent's own ring in
/// the same direction, and every edge of the parent's ring belongs to exactly one child. With
/// all rings simple and counter-clockwise, the children then cover the parent with no gaps and
/// no overlaps.
fn assert_children_tile_parent(parent: &DemoRegion, children: &[&DemoRegion]) {
    assert!(!children.is_empty(), "{} has no children", parent.key);
    let parent_edges: BTreeSet<Edge> = edges(ring(parent)).into_iter().collect();
    let mut child_edges: BTreeMap<Edge, usize> = BTreeMap::new();
    for c in children {
        for e in edges(ring(c)) {
            *child_edges.entry(e).or_default() += 1;
        }
    }
    for (e, n) in &child_edges {
        assert_eq!(*n, 1, "edge used twice in the same direction under {}", parent.key);
        let reversed = child_edges.contains_key(&(e.1, e.0));
        let on_parent = parent_edges.contains(e);
        assert!(reversed != on_parent, "edge under {} neither shared nor on the parent's ring (or both)", parent.key);
    }
    for e in &parent_edges {
        assert!(child_edges.contains_key(e), "edge of {} not covered by a child", parent.key);
    }
    let sum: f64 = children.iter().map(|c| signed_area(ring(c))).sum();
    let whole = signed_area(ring(parent));
    assert!(((sum - whole) / whole).abs() < 1e-9, "areas under {}: {sum} vs {whole}", parent.key);
}

fn children_of<'a>(list: &'a [DemoRegion], parent: &DemoRegion) -> Vec<&'a DemoRegion> {
    list.iter().filter(|r| r.parent_key.as_deref() == Some(parent.key.as_str())).collect()
}

/// Invariants every seed must satisfy (the cheap ones; the sampling test is separate).
fn check_structure(t: &DemoTown) {
    assert_eq!(t.areas.len(), 2);
    assert_eq!(t.admin_villages.len(), 8);
    assert_eq!(t.natural_villages.len(), 76);
    assert!((120..=200).contains(&t.grids.len()), "{} grids", t.grids.len());

    for r in t.regions() {
        assert_eq!(r.polygon.len(), 1, "{}: one outer ring, no holes", r.key);
        let ring = ring(r);
        assert!(ring.len() >= 4, "{}", r.key);
        assert_eq!(ring.first(), ring.last(), "{} not closed", r.key);
        let distinct: BTreeSet<[u64; 2]> = ring.iter().map(|p| [p[0].to_bits(), p[1].to_bits()]).collect();
        assert!(distinct.len() >= 3 && distinct.len() == ring.len() - 1, "{}: repeated vertex", r.key);
        assert!(signed_area(ring) > 0.0, "{} not counter-clockwise", r.key);
        assert!(is_simple(ring), "{} crosses itself", r.key);
        for p in ring {
            assert!(p[0].is_finite() && p[1].is_finite());
            for v in p {
                let scaled = v * 1e6;
                assert!((scaled - scaled.round()).abs() < 1e-6, "{}: {v} not rounded to 6 decimals", r.key);
            }
            let reach = if r.kind == "city" { 0.35 } else { 0.1 };
            assert!((p[0] - TOWN_CENTER[0]).abs() < reach && (p[1] - TOWN_CENTER[1]).abs() < reach, "{}: {p:?}", r.key);
        }
    }
    // grids are strictly convex quadrilaterals
    for g in &t.grids {
        let r = ring(g);
        assert_eq!(r.len(), 5, "{}", g.key);
        for k in 0..4 {
            let c = cross(r[k], r[k + 1], r[(k + 2) % 4]);
            assert!(c > 0.0, "{} not strictly convex at corner {}", g.key, k + 1);
        }
    }
    // exact tiling at every level
    assert_children_tile_parent(&t.town, &t.areas.iter().collect::<Vec<_>>());
    assert_children_tile_parent(&t.town, &t.grids.iter().collect::<Vec<_>>());
    for a in &t.areas {
        let avs = children_of(&t.admin_villages, a);
        assert_eq!(avs.len(), 4, "{}", a.key);
        assert_children_tile_parent(a, &avs);
    }
    for av in &t.admin_villages {
        assert_children_tile_parent(av, &children_of(&t.natural_villages, av));
    }
    for nv in &t.natural_villages {
        let gs = children_of(&t.grids, nv);
        assert!(!gs.is_empty() && gs.len() <= 4, "{}: {} grids", nv.key, gs.len());
        assert_children_tile_parent(nv, &gs);
    }
    // the town lies inside the city
    for p in ring(&t.town) {
        assert!(contains(ring(&t.city), *p) && boundary_dist(ring(&t.city), *p) > 0.01);
    }
    // households strictly inside their grid
    let grids: BTreeMap<&str, &DemoRegion> = t.grids.iter().map(|g| (g.key.as_str(), g)).collect();
    for h in &t.households {
        let g = grids[h.grid_key.as_str()];
        let p = [h.lon, h.lat];
        assert!(contains(ring(g), p) && boundary_dist(ring(g), p) > 1e-6, "{} outside {}", h.code, g.key);
    }
}

#[test]
fn demo_town_structure_and_tiling() {
    check_structure(&generate(DEMO_SEED));
}

#[test]
fn many_seeds_keep_the_invariants() {
    for seed in 0..40u64 {
        check_structure(&generate(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    }
}

/// Sample a dense lattice of points over the town's bounding box: every point inside the town
/// lies in exactly one grid, one natural village, one admin village and one area, and they are
/// each other's ancestors; no point outside the town lies in any grid.
fn check_sampled_tiling(t: &DemoTown, nx: usize, ny: usize) -> usize {
    let tb = bbox(ring(&t.town));
    let regions: Vec<(&DemoRegion, [f64; 4])> = t
        .areas
        .iter()
        .chain(&t.admin_villages)
        .chain(&t.natural_villages)
        .chain(&t.grids)
        .map(|r| (r, bbox(ring(r))))
        .collect();
    let by_key: BTreeMap<&str, &DemoRegion> = t.regions().map(|r| (r.key.as_str(), r)).collect();
    let mut inside = 0;
    let mut skipped = 0;
    let mut hits_per_grid: BTreeMap<&str, usize> = BTreeMap::new();
    for ix in 0..nx {
        for iy in 0..ny {
            // irrational-ish offsets keep samples off the lattice lines
            let p = [
                tb[0] - 0.001 + (tb[2] - tb[0] + 0.002) * (ix as f64 + 0.381_966) / nx as f64,
                tb[1] - 0.001 + (tb[3] - tb[1] + 0.002) * (iy as f64 + 0.618_034) / ny as f64,
            ];
            let holders: Vec<&DemoRegion> = regions
                .iter()
                .filter(|(_, b)| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3])
                .filter(|(r, _)| contains(ring(r), p))
                .map(|(r, _)| *r)
                .collect();
            let near_edge = regions
                .iter()
                .filter(|(_, b)| {
                    p[0] >= b[0] - 1e-6 && p[0] <= b[2] + 1e-6 && p[1] >= b[1] - 1e-6 && p[1] <= b[3] + 1e-6
                })
                .any(|(r, _)| boundary_dist(ring(r), p) < 1e-9);
            if near_edge {
                skipped += 1;
                continue;
            }
            let in_town = contains(ring(&t.town), p);
            let of_kind = |k: &str| holders.iter().filter(|r| r.kind == k).copied().collect::<Vec<_>>();
            if !in_town {
                assert!(
                    holders.is_empty(),
                    "{p:?} outside the town but in {:?}",
                    holders.iter().map(|r| &r.key).collect::<Vec<_>>()
                );
                continue;
            }
            inside += 1;
            for kind in ["area", "admin_village", "natural_village", "grid"] {
                assert_eq!(of_kind(kind).len(), 1, "{p:?} in {} {kind}s", of_kind(kind).len());
            }
            // the one grid's ancestors are the ones that hold the point
            let grid = of_kind("grid")[0];
            *hits_per_grid.entry(grid.key.as_str()).or_default() += 1;
            let nv = by_key[grid.parent_key.as_deref().unwrap()];
            let av = by_key[nv.parent_key.as_deref().unwrap()];
            let area = by_key[av.parent_key.as_deref().unwrap()];
            assert_eq!(of_kind("natural_village")[0].key, nv.key);
            assert_eq!(of_kind("admin_village")[0].key, av.key);
            assert_eq!(of_kind("area")[0].key, area.key);
            assert!(contains(ring(nv), p) && contains(ring(av), p) && contains(ring(area), p));
        }
    }
    assert!(skipped * 100 < nx * ny, "too many samples on edges: {skipped}");
    assert_eq!(hits_per_grid.len(), t.grids.len(), "some grid got no sample point");
    inside
}

#[test]
fn dense_sampling_finds_exactly_one_grid_per_point() {
    let t = generate(DEMO_SEED);
    let inside = check_sampled_tiling(&t, 160, 100);
    assert!(inside > 10_000, "only {inside} samples inside the town");
}

#[test]
fn sum_of_grid_areas_equals_town_area() {
    let t = generate(DEMO_SEED);
    let grids: f64 = t.grids.iter().map(|g| signed_area(ring(g))).sum();
    let town = signed_area(ring(&t.town));
    assert!(((grids - town) / town).abs() < 1e-9, "{grids} vs {town}");
    // and the town is about 0.14° × 0.08°
    assert!(town > 0.14 * 0.08 * 0.8 && town < 0.14 * 0.08 * 1.5, "{town}");
}

#[test]
fn outline_is_irregular() {
    // Boundary vertices move along the outward normal, so the west edge is not one straight line.
    let t = generate(DEMO_SEED);
    let b = bbox(ring(&t.town));
    let west: Vec<f64> = ring(&t.town).iter().filter(|p| p[0] < b[0] + 0.015).map(|p| p[0]).collect();
    let spread =
        west.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - west.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(spread > 0.002, "west edge too straight: {spread}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn any_seed_tiles_exactly(seed in any::<u64>()) {
        let t = generate(seed);
        check_structure(&t);
        check_sampled_tiling(&t, 70, 44);
    }
}

// The checks above must be able to fail: break the town on purpose and expect a panic.

#[test]
#[should_panic(expected = "edge")]
fn structure_check_catches_a_vertex_moved_by_a_micro_degree() {
    let mut t = generate(DEMO_SEED);
    // an interior corner of one grid, moved in that grid only: its neighbours no longer match
    let g = t.grids.iter().position(|g| g.key.ends_with("-G1")).unwrap();
    t.grids[g].polygon[0][2][0] += 1e-6;
    check_structure(&t);
}

#[test]
#[should_panic(expected = "counter-clockwise")]
fn structure_check_catches_a_clockwise_ring() {
    let mut t = generate(DEMO_SEED);
    t.grids[7].polygon[0].reverse();
    check_structure(&t);
}

#[test]
#[should_panic(expected = "grids")]
fn sampling_catches_two_grids_over_one_place() {
    let mut t = generate(DEMO_SEED);
    t.grids[1].polygon = t.grids[0].polygon.clone();
    check_sampled_tiling(&t, 80, 50);
}

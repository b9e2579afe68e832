//! `locate()` throughput over the demo town's polygons, on one core.
//!
//! Run: `cargo run --release -p wuwei-bench --bin locate`
//!
//! Points are drawn uniformly over the town's bounding box (so some fall outside the town, as
//! real reports near the border do) and over the households (where reports mostly come from).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use serde_json::json;
use uuid::Uuid;
use wuwei_bench::SplitMix;
use wuwei_domain::geo::{Geometry, Point};
use wuwei_domain::locate::{Parents, TownIndex};

const LOOKUPS: usize = 5_000_000;
const ROUNDS: usize = 5;

fn geometry(polygon: &[Vec<[f64; 2]>]) -> Geometry {
    Geometry::from_geojson(&json!({"type": "Polygon", "coordinates": polygon})).expect("demo polygons are valid")
}

fn main() {
    let demo = wuwei_demo::generate(wuwei_demo::DEMO_SEED);
    let mut ids: HashMap<String, Uuid> = HashMap::new();
    let mut next = 1u128;
    let mut id_of = |key: &str| {
        *ids.entry(key.to_string()).or_insert_with(|| {
            next += 1;
            Uuid::from_u128(next)
        })
    };
    let mut parents = HashMap::new();
    let grids: Vec<(Uuid, Geometry)> = demo
        .grids
        .iter()
        .map(|g| {
            let nv = g.parent_key.clone().unwrap();
            let av = demo.region(&nv).and_then(|n| n.parent_key.clone()).unwrap();
            let id = id_of(&g.key);
            parents.insert(id, Parents { natural_village_id: Some(id_of(&nv)), admin_village_id: Some(id_of(&av)) });
            (id, geometry(&g.polygon))
        })
        .collect();
    let nvs: Vec<(Uuid, Geometry)> =
        demo.natural_villages.iter().map(|r| (id_of(&r.key), geometry(&r.polygon))).collect();
    let avs: Vec<(Uuid, Geometry)> =
        demo.admin_villages.iter().map(|r| (id_of(&r.key), geometry(&r.polygon))).collect();
    let polygons = grids.len() + nvs.len() + avs.len();
    let build = Instant::now();
    let index = TownIndex::new(Uuid::from_u128(1), Some(geometry(&demo.town.polygon)), grids, nvs, avs, parents);
    let build_ms = build.elapsed().as_secs_f64() * 1000.0;

    let bbox = index.bbox();
    let mut rng = SplitMix(20261128);
    let uniform: Vec<Point> = (0..LOOKUPS)
        .map(|_| Point { lon: rng.range(bbox.min_lon, bbox.max_lon), lat: rng.range(bbox.min_lat, bbox.max_lat) })
        .collect();
    let homes: Vec<Point> = (0..LOOKUPS)
        .map(|i| {
            let h = &demo.households[i % demo.households.len()];
            Point { lon: h.lon, lat: h.lat }
        })
        .collect();

    println!(
        "locate() over the demo town: {polygons} polygons (grids, natural and admin villages), index built in {build_ms:.2} ms"
    );
    for (name, points) in [("uniform over the bounding box", &uniform), ("at households", &homes)] {
        let mut best = 0.0f64;
        let mut found = 0usize;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            found = 0;
            for p in points.iter() {
                if black_box(index.locate(black_box(*p))).grid_id.is_some() {
                    found += 1;
                }
            }
            let rate = points.len() as f64 / start.elapsed().as_secs_f64();
            best = best.max(rate);
        }
        println!(
            "  {name:<30} {:>6.2} M lookups/s (best of {ROUNDS} x {LOOKUPS}), {:.1}% inside a grid",
            best / 1e6,
            found as f64 * 100.0 / points.len() as f64
        );
    }
}

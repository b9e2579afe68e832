//! `locate(lat, lon)`: which grid, natural village and admin village contain a point.
//!
//! A town has a few hundred polygons at most, but cases, alarms and calls are located all day,
//! so the lookup must not scan every polygon. The index lays a uniform grid of cells over the
//! bounding box of each layer; each cell lists the polygons whose bounding box touches it, and
//! a cell wholly inside one polygon remembers that, so most lookups are one division and one
//! array read. Built once when regions change, shared read-only afterwards.

use uuid::Uuid;

use crate::geo::{BBox, Geometry, Point};

/// Cells per side at most; bounds memory at `MAX_CELLS_PER_SIDE²` small entries per layer.
const MAX_CELLS_PER_SIDE: usize = 256;

#[derive(Debug, Clone)]
struct Cell {
    /// The polygon that covers the whole cell, if one does.
    full: Option<u32>,
    /// Polygons whose bounding box touches the cell (only consulted when `full` is `None`).
    candidates: Vec<u32>,
}

/// One layer (all grids, or all natural villages, ...) of one town.
#[derive(Debug, Clone)]
pub struct LayerIndex {
    ids: Vec<Uuid>,
    shapes: Vec<Geometry>,
    bbox: BBox,
    cols: usize,
    rows: usize,
    cell_w: f64,
    cell_h: f64,
    cells: Vec<Cell>,
}

impl LayerIndex {
    pub fn new(items: Vec<(Uuid, Geometry)>) -> LayerIndex {
        let mut bbox = BBox::EMPTY;
        for (_, g) in &items {
            bbox.union(&g.bbox);
        }
        let (ids, shapes): (Vec<Uuid>, Vec<Geometry>) = items.into_iter().unzip();
        if shapes.is_empty() || bbox.is_empty() {
            return LayerIndex { ids, shapes, bbox, cols: 0, rows: 0, cell_w: 1.0, cell_h: 1.0, cells: Vec::new() };
        }
        // About four cells per polygon along each axis keeps candidate lists short.
        let side = ((shapes.len() as f64).sqrt() * 4.0).ceil() as usize;
        let side = side.clamp(1, MAX_CELLS_PER_SIDE);
        let (cols, rows) = (side, side);
        let cell_w = ((bbox.max_lon - bbox.min_lon) / cols as f64).max(f64::MIN_POSITIVE);
        let cell_h = ((bbox.max_lat - bbox.min_lat) / rows as f64).max(f64::MIN_POSITIVE);
        let mut cells = vec![Cell { full: None, candidates: Vec::new() }; cols * rows];
        for (i, g) in shapes.iter().enumerate() {
            let c0 = col_of(g.bbox.min_lon, bbox.min_lon, cell_w, cols);
            let c1 = col_of(g.bbox.max_lon, bbox.min_lon, cell_w, cols);
            let r0 = col_of(g.bbox.min_lat, bbox.min_lat, cell_h, rows);
            let r1 = col_of(g.bbox.max_lat, bbox.min_lat, cell_h, rows);
            for r in r0..=r1 {
                for c in c0..=c1 {
                    cells[r * cols + c].candidates.push(i as u32);
                }
            }
        }
        for r in 0..rows {
            for c in 0..cols {
                let cell_box = BBox {
                    min_lon: bbox.min_lon + c as f64 * cell_w,
                    min_lat: bbox.min_lat + r as f64 * cell_h,
                    max_lon: bbox.min_lon + (c + 1) as f64 * cell_w,
                    max_lat: bbox.min_lat + (r + 1) as f64 * cell_h,
                };
                let cell = &mut cells[r * cols + c];
                cell.full = cell.candidates.iter().copied().find(|&i| covers(&shapes[i as usize], &cell_box));
                if cell.full.is_some() {
                    cell.candidates = Vec::new();
                }
            }
        }
        LayerIndex { ids, shapes, bbox, cols, rows, cell_w, cell_h, cells }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// The polygon containing `p`, if any. Tiles share edges; ties go to one side consistently
    /// (see [`crate::geo::Ring::contains`]).
    pub fn find(&self, p: Point) -> Option<Uuid> {
        if self.cells.is_empty() || !self.bbox.contains(p) {
            return None;
        }
        let c = col_of(p.lon, self.bbox.min_lon, self.cell_w, self.cols);
        let r = col_of(p.lat, self.bbox.min_lat, self.cell_h, self.rows);
        let cell = &self.cells[r * self.cols + c];
        if let Some(i) = cell.full {
            return Some(self.ids[i as usize]);
        }
        cell.candidates.iter().find(|&&i| self.shapes[i as usize].contains(p)).map(|&i| self.ids[i as usize])
    }
}

fn col_of(v: f64, origin: f64, size: f64, count: usize) -> usize {
    let idx = ((v - origin) / size).floor();
    if idx <= 0.0 { 0 } else { (idx as usize).min(count - 1) }
}

/// Whether the geometry covers the whole box: all four corners inside and no boundary vertex
/// strictly inside the box. For the simple polygons we index that is exact enough; when in
/// doubt we answer "no", which only costs a point-in-polygon test later.
fn covers(g: &Geometry, b: &BBox) -> bool {
    let corners = [
        Point { lon: b.min_lon, lat: b.min_lat },
        Point { lon: b.max_lon, lat: b.min_lat },
        Point { lon: b.min_lon, lat: b.max_lat },
        Point { lon: b.max_lon, lat: b.max_lat },
    ];
    if !corners.iter().all(|&p| g.contains(p)) {
        return false;
    }
    let inside_box = |p: &Point| p.lon >= b.min_lon && p.lon <= b.max_lon && p.lat >= b.min_lat && p.lat <= b.max_lat;
    let no_vertex_inside =
        g.polygons.iter().flat_map(|poly| poly.rings.iter()).all(|ring| !ring.points().iter().any(inside_box));
    // An edge may still cut through the box between two corners without a vertex inside it;
    // test every edge against the box's sides.
    no_vertex_inside
        && g.polygons
            .iter()
            .flat_map(|poly| poly.rings.iter())
            .all(|ring| ring.points().windows(2).all(|w| !segment_crosses_box(w[0], w[1], b)))
}

fn segment_crosses_box(a: Point, b: Point, bx: &BBox) -> bool {
    let seg_box = BBox {
        min_lon: a.lon.min(b.lon),
        min_lat: a.lat.min(b.lat),
        max_lon: a.lon.max(b.lon),
        max_lat: a.lat.max(b.lat),
    };
    if !seg_box.intersects(bx) {
        return false;
    }
    // Sign of the box corners relative to the segment's line: all on one side → no crossing.
    let side = |p: Point| (b.lon - a.lon) * (p.lat - a.lat) - (b.lat - a.lat) * (p.lon - a.lon);
    let s = [
        side(Point { lon: bx.min_lon, lat: bx.min_lat }),
        side(Point { lon: bx.max_lon, lat: bx.min_lat }),
        side(Point { lon: bx.min_lon, lat: bx.max_lat }),
        side(Point { lon: bx.max_lon, lat: bx.max_lat }),
    ];
    !(s.iter().all(|&v| v > 0.0) || s.iter().all(|&v| v < 0.0))
}

/// The answer of a lookup: the finest regions that contain the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Located {
    pub grid_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
}

/// Parents of a grid or natural village, for answering without a second polygon test.
#[derive(Debug, Clone, Copy)]
pub struct Parents {
    pub natural_village_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
}

/// The index of one town: its grids, natural villages and admin villages.
#[derive(Debug, Clone)]
pub struct TownIndex {
    pub town_id: Uuid,
    grids: LayerIndex,
    natural_villages: LayerIndex,
    admin_villages: LayerIndex,
    town: Option<Geometry>,
    parents: std::collections::HashMap<Uuid, Parents>,
}

impl TownIndex {
    pub fn new(
        town_id: Uuid,
        town: Option<Geometry>,
        grids: Vec<(Uuid, Geometry)>,
        natural_villages: Vec<(Uuid, Geometry)>,
        admin_villages: Vec<(Uuid, Geometry)>,
        parents: std::collections::HashMap<Uuid, Parents>,
    ) -> TownIndex {
        TownIndex {
            town_id,
            grids: LayerIndex::new(grids),
            natural_villages: LayerIndex::new(natural_villages),
            admin_villages: LayerIndex::new(admin_villages),
            town,
            parents,
        }
    }

    /// Whether the point lies in the town: inside the town boundary if it has one, otherwise
    /// inside any of its indexed regions.
    pub fn contains(&self, p: Point) -> bool {
        match &self.town {
            Some(g) => g.contains(p),
            None => self.locate(p) != Located::default(),
        }
    }

    pub fn bbox(&self) -> BBox {
        let mut b = self.town.as_ref().map(|g| g.bbox).unwrap_or(BBox::EMPTY);
        b.union(&self.admin_villages.bbox());
        b.union(&self.natural_villages.bbox());
        b.union(&self.grids.bbox());
        b
    }

    /// Finest level first; parents come from the tree so one polygon test usually suffices.
    pub fn locate(&self, p: Point) -> Located {
        if let Some(grid) = self.grids.find(p) {
            let parents = self.parents.get(&grid);
            return Located {
                grid_id: Some(grid),
                natural_village_id: parents.and_then(|x| x.natural_village_id),
                admin_village_id: parents.and_then(|x| x.admin_village_id),
            };
        }
        if let Some(nv) = self.natural_villages.find(p) {
            return Located {
                grid_id: None,
                natural_village_id: Some(nv),
                admin_village_id: self.parents.get(&nv).and_then(|x| x.admin_village_id),
            };
        }
        Located { grid_id: None, natural_village_id: None, admin_village_id: self.admin_villages.find(p) }
    }

    pub fn polygon_count(&self) -> usize {
        self.grids.len() + self.natural_villages.len() + self.admin_villages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(x0: f64, y0: f64, s: f64) -> Geometry {
        Geometry::from_geojson(
            &json!({"type":"Polygon","coordinates":[[[x0,y0],[x0+s,y0],[x0+s,y0+s],[x0,y0+s],[x0,y0]]]}),
        )
        .unwrap()
    }

    fn checker(n: usize) -> (Vec<(Uuid, Geometry)>, Vec<Uuid>) {
        let mut items = Vec::new();
        let mut ids = Vec::new();
        for r in 0..n {
            for c in 0..n {
                let id = Uuid::from_u128((r * n + c + 1) as u128);
                ids.push(id);
                items.push((id, square(c as f64 * 0.01, r as f64 * 0.01, 0.01)));
            }
        }
        (items, ids)
    }

    #[test]
    fn finds_the_same_polygon_as_a_linear_scan() {
        let (items, _) = checker(9);
        let index = LayerIndex::new(items.clone());
        let mut state = 12345u64;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let x = (state >> 11) as f64 / (1u64 << 53) as f64 * 0.1 - 0.005;
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let y = (state >> 11) as f64 / (1u64 << 53) as f64 * 0.1 - 0.005;
            let p = Point { lon: x, lat: y };
            let scan = items.iter().find(|(_, g)| g.contains(p)).map(|(id, _)| *id);
            assert_eq!(index.find(p), scan, "at {p:?}");
        }
    }

    #[test]
    fn empty_index_finds_nothing() {
        let index = LayerIndex::new(Vec::new());
        assert_eq!(index.find(Point { lon: 0.0, lat: 0.0 }), None);
        assert!(index.is_empty());
    }

    #[test]
    fn town_index_fills_parents() {
        let (grids, ids) = checker(2);
        let nv = Uuid::from_u128(100);
        let av = Uuid::from_u128(200);
        let parents =
            ids.iter().map(|id| (*id, Parents { natural_village_id: Some(nv), admin_village_id: Some(av) })).collect();
        let town = TownIndex::new(
            Uuid::from_u128(1),
            Some(square(0.0, 0.0, 0.02)),
            grids,
            vec![(nv, square(0.0, 0.0, 0.02))],
            vec![(av, square(0.0, 0.0, 0.02))],
            parents,
        );
        let got = town.locate(Point { lon: 0.015, lat: 0.005 });
        assert_eq!(got.grid_id, Some(ids[1]));
        assert_eq!(got.natural_village_id, Some(nv));
        assert_eq!(got.admin_village_id, Some(av));
        assert!(town.contains(Point { lon: 0.001, lat: 0.001 }));
        assert!(!town.contains(Point { lon: 0.5, lat: 0.5 }));
        assert_eq!(town.locate(Point { lon: 0.5, lat: 0.5 }), Located::default());
    }

    #[test]
    fn a_concave_polygon_is_not_marked_full_where_it_is_not() {
        // An L shape: the notch must not be reported as inside.
        let l = Geometry::from_geojson(
            &json!({"type":"Polygon","coordinates":[[[0,0],[2,0],[2,1],[1,1],[1,2],[0,2],[0,0]]]}),
        )
        .unwrap();
        let id = Uuid::from_u128(7);
        let index = LayerIndex::new(vec![(id, l)]);
        assert_eq!(index.find(Point { lon: 1.5, lat: 1.5 }), None);
        assert_eq!(index.find(Point { lon: 0.5, lat: 1.5 }), Some(id));
        assert_eq!(index.find(Point { lon: 1.5, lat: 0.5 }), Some(id));
    }
}

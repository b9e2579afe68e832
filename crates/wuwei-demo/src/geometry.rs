//! The demo town's boundaries: one jittered lattice whose cells are the grids.
//!
//! Every region is a rectangle of lattice cells, and its ring is the walk around that rectangle
//! through every lattice vertex on its perimeter. Because all rings read their corners from the
//! same table of (already rounded) vertices, neighbours share edges bit for bit: the regions of
//! one level tile their parent exactly, with no gaps and no overlaps.
//!
//! Interior vertices move by less than 22% of a cell along each axis, which keeps every cell
//! strictly convex (the limit is 25%). Boundary vertices move only along the outward normal,
//! following a slow random wave, so the town's outline is irregular.

use crate::rng::Rng;

/// Lattice size in cells. 16 × 10 = 160 grids.
pub(crate) const COLS: usize = 16;
pub(crate) const ROWS: usize = 10;

/// Centre of the demo town (`[lon, lat]`) and the span of the undistorted lattice.
pub(crate) const CENTER: [f64; 2] = [117.23, 37.73];
const SPAN_LON: f64 = 0.14;
const SPAN_LAT: f64 = 0.08;
const DX: f64 = SPAN_LON / COLS as f64;
const DY: f64 = SPAN_LAT / ROWS as f64;

/// Largest move of an interior vertex, as a fraction of a cell along each axis.
const INTERIOR_JITTER: f64 = 0.22;

/// Round to 6 decimals (about 0.1 m), the precision every coordinate is published with.
pub(crate) fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A rectangle of lattice cells: columns `c0..c1`, rows `r0..r1` (row 0 is the south edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellRect {
    pub c0: usize,
    pub r0: usize,
    pub c1: usize,
    pub r1: usize,
}

impl CellRect {
    pub(crate) fn width(&self) -> usize {
        self.c1 - self.c0
    }

    pub(crate) fn height(&self) -> usize {
        self.r1 - self.r0
    }

    /// The cells, north row first, west to east within a row.
    pub(crate) fn cells(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.width() * self.height());
        for r in (self.r0..self.r1).rev() {
            for c in self.c0..self.c1 {
                out.push((c, r));
            }
        }
        out
    }
}

/// The jittered, rounded lattice vertices.
#[derive(Debug, Clone)]
pub(crate) struct Lattice {
    verts: Vec<[f64; 2]>,
}

/// Outward offsets (in cells) for `n` boundary vertices: a slow wave through control points
/// every few vertices, plus a little noise. Consecutive values differ by at most about 0.5 of a
/// cell and never go below -0.3, which keeps the boundary cells convex.
fn boundary_wave(rng: &mut Rng, n: usize) -> Vec<f64> {
    const STEP: usize = 4;
    let controls: Vec<f64> = (0..=n.div_ceil(STEP)).map(|_| -0.2 + 1.2 * rng.unit()).collect();
    (0..n)
        .map(|k| {
            let seg = k / STEP;
            let t = (k % STEP) as f64 / STEP as f64;
            let a = controls.get(seg).copied().unwrap_or(0.0);
            let b = controls.get(seg + 1).copied().unwrap_or(a);
            a + (b - a) * t + 0.1 * rng.symmetric()
        })
        .collect()
}

impl Lattice {
    pub(crate) fn generate(rng: &mut Rng) -> Lattice {
        let lon0 = CENTER[0] - SPAN_LON / 2.0;
        let lat0 = CENTER[1] - SPAN_LAT / 2.0;
        let south = boundary_wave(rng, COLS + 1);
        let north = boundary_wave(rng, COLS + 1);
        let west = boundary_wave(rng, ROWS + 1);
        let east = boundary_wave(rng, ROWS + 1);
        let mut verts = Vec::with_capacity((COLS + 1) * (ROWS + 1));
        for j in 0..=ROWS {
            for i in 0..=COLS {
                let mut dx = 0.0;
                let mut dy = 0.0;
                let on_we = i == 0 || i == COLS;
                let on_sn = j == 0 || j == ROWS;
                if !on_we && !on_sn {
                    dx = INTERIOR_JITTER * rng.symmetric();
                    dy = INTERIOR_JITTER * rng.symmetric();
                } else {
                    if i == 0 {
                        dx = -west.get(j).copied().unwrap_or(0.0);
                    } else if i == COLS {
                        dx = east.get(j).copied().unwrap_or(0.0);
                    }
                    if j == 0 {
                        dy = -south.get(i).copied().unwrap_or(0.0);
                    } else if j == ROWS {
                        dy = north.get(i).copied().unwrap_or(0.0);
                    }
                }
                let lon = lon0 + (i as f64 + dx) * DX;
                let lat = lat0 + (j as f64 + dy) * DY;
                verts.push([round6(lon), round6(lat)]);
            }
        }
        Lattice { verts }
    }

    /// Vertex `(i, j)`: column line `i` (0..=COLS, west to east), row line `j` (0..=ROWS, south
    /// to north).
    pub(crate) fn vertex(&self, i: usize, j: usize) -> [f64; 2] {
        self.verts.get(j * (COLS + 1) + i).copied().unwrap_or(CENTER)
    }

    /// The closed, counter-clockwise ring around a rectangle of cells, through every lattice
    /// vertex on its perimeter: 2·(w + h) + 1 points.
    pub(crate) fn ring(&self, r: CellRect) -> Vec<[f64; 2]> {
        let mut pts = Vec::with_capacity(2 * (r.width() + r.height()) + 1);
        for i in r.c0..=r.c1 {
            pts.push(self.vertex(i, r.r0));
        }
        for j in r.r0 + 1..=r.r1 {
            pts.push(self.vertex(r.c1, j));
        }
        for i in (r.c0..r.c1).rev() {
            pts.push(self.vertex(i, r.r1));
        }
        for j in (r.r0..r.r1).rev() {
            pts.push(self.vertex(r.c0, j));
        }
        pts
    }

    /// A point of cell `(c, r)` by bilinear interpolation of its corners; strictly inside the
    /// (convex) cell for `0 < u, v < 1`.
    pub(crate) fn point_in_cell(&self, c: usize, r: usize, u: f64, v: f64) -> [f64; 2] {
        let a = self.vertex(c, r);
        let b = self.vertex(c + 1, r);
        let cc = self.vertex(c + 1, r + 1);
        let d = self.vertex(c, r + 1);
        let w = [(1.0 - u) * (1.0 - v), u * (1.0 - v), u * v, (1.0 - u) * v];
        let lon = w[0] * a[0] + w[1] * b[0] + w[2] * cc[0] + w[3] * d[0];
        let lat = w[0] * a[1] + w[1] * b[1] + w[2] * cc[1] + w[3] * d[1];
        [round6(lon), round6(lat)]
    }
}

/// The two areas (west, east) and, in each, four admin villages: north-west, north-east,
/// south-west, south-east. The splits vary with the seed so that villages differ in size.
pub(crate) fn layout_admin_villages(rng: &mut Rng) -> Vec<(CellRect, Vec<CellRect>)> {
    let split = 7 + rng.index(3); // west area is 7, 8 or 9 columns wide
    let mut areas = Vec::with_capacity(2);
    for (c0, c1) in [(0, split), (split, COLS)] {
        let w = c1 - c0;
        let row_split = 4 + rng.index(3); // 4, 5 or 6 rows in the south half
        // each admin village at least 3 columns wide
        let north_split = c0 + 3 + rng.index(w - 5);
        let south_split = c0 + 3 + rng.index(w - 5);
        let area = CellRect { c0, r0: 0, c1, r1: ROWS };
        let villages = vec![
            CellRect { c0, r0: row_split, c1: north_split, r1: ROWS },
            CellRect { c0: north_split, r0: row_split, c1, r1: ROWS },
            CellRect { c0, r0: 0, c1: south_split, r1: row_split },
            CellRect { c0: south_split, r0: 0, c1, r1: row_split },
        ];
        areas.push((area, villages));
    }
    areas
}

/// The shapes a natural village may take, in cells: a run of 1–3 cells in one row, two cells
/// one above the other, or a 2 × 2 block.
fn valid_piece(w: usize, h: usize) -> bool {
    matches!((w, h), (1, 1) | (2, 1) | (3, 1) | (1, 2) | (2, 2))
}

/// `min_parts[w][h]`: the fewest valid pieces a `w × h` block can be cut into by guillotine
/// cuts. Any count from there up to `w · h` is then possible (a valid piece split in two gives
/// valid pieces).
pub(crate) struct MinParts {
    table: Vec<Vec<usize>>,
}

impl MinParts {
    pub(crate) fn new() -> MinParts {
        let mut table = vec![vec![0usize; ROWS + 1]; COLS + 1];
        for w in 1..=COLS {
            for h in 1..=ROWS {
                let best = if valid_piece(w, h) {
                    1
                } else {
                    let mut best = w * h;
                    for x in 1..w {
                        best = best.min(table[x][h] + table[w - x][h]);
                    }
                    for y in 1..h {
                        best = best.min(table[w][y] + table[w][h - y]);
                    }
                    best
                };
                table[w][h] = best;
            }
        }
        MinParts { table }
    }

    pub(crate) fn get(&self, w: usize, h: usize) -> usize {
        self.table.get(w).and_then(|row| row.get(h)).copied().unwrap_or(w * h)
    }

    fn feasible(&self, w: usize, h: usize, n: usize) -> bool {
        w > 0 && h > 0 && n >= self.get(w, h) && n <= w * h
    }
}

/// Cut `rect` into exactly `n` natural villages by random guillotine cuts (`n` is clamped into
/// the feasible range first).
pub(crate) fn partition(rng: &mut Rng, table: &MinParts, rect: CellRect, n: usize, out: &mut Vec<CellRect>) {
    let (w, h) = (rect.width(), rect.height());
    let n = n.clamp(table.get(w, h), w * h);
    if n == 1 {
        out.push(rect);
        return;
    }
    // (vertical?, offset, pieces on the first side)
    let mut options: Vec<(bool, usize, usize)> = Vec::new();
    for x in 1..w {
        for n1 in 1..n {
            if table.feasible(x, h, n1) && table.feasible(w - x, h, n - n1) {
                options.push((true, x, n1));
            }
        }
    }
    for y in 1..h {
        for n1 in 1..n {
            if table.feasible(w, y, n1) && table.feasible(w, h - y, n - n1) {
                options.push((false, y, n1));
            }
        }
    }
    if options.is_empty() {
        // Cannot happen for a feasible count; keep the rectangle whole rather than fail.
        out.push(rect);
        return;
    }
    let (vertical, at, n1) = rng.pick(&options);
    let (a, b) = if vertical {
        (CellRect { c1: rect.c0 + at, ..rect }, CellRect { c0: rect.c0 + at, ..rect })
    } else {
        (CellRect { r1: rect.r0 + at, ..rect }, CellRect { r0: rect.r0 + at, ..rect })
    };
    partition(rng, table, a, n1, out);
    partition(rng, table, b, n - n1, out);
}

/// Split `total` over weights by the largest-remainder method (deterministic tie-break by
/// position).
pub(crate) fn apportion(total: usize, weights: &[usize]) -> Vec<usize> {
    let sum: usize = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut counts: Vec<usize> = weights.iter().map(|w| total * w / sum).collect();
    let mut rems: Vec<(usize, usize)> = weights.iter().enumerate().map(|(i, w)| (total * w % sum, i)).collect();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let given: usize = counts.iter().sum();
    for &(_, i) in rems.iter().take(total.saturating_sub(given)) {
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    counts
}

/// The city outline (synthetic): an irregular 16-gon around the town, large enough to hold it.
pub(crate) fn city_ring(rng: &mut Rng) -> Vec<[f64; 2]> {
    // cos and sin of k·22.5°, as constants: no libm, so identical on every platform.
    const C: [f64; 5] = [1.0, 0.923_879_532_511_286_7, std::f64::consts::FRAC_1_SQRT_2, 0.382_683_432_365_089_8, 0.0];
    let center = [CENTER[0] - 0.03, CENTER[1] + 0.02];
    let mut pts = Vec::with_capacity(17);
    for k in 0..16usize {
        // cos(k·22.5°) and sin(k·22.5°) from the quarter table
        let q = k % 4;
        let (cq, sq) = (C[q], C[4 - q]);
        let (cos, sin) = match k / 4 {
            0 => (cq, sq),
            1 => (-sq, cq),
            2 => (-cq, -sq),
            _ => (sq, -cq),
        };
        let r = 0.22 + 0.05 * rng.symmetric();
        pts.push([round6(center[0] + r * cos), round6(center[1] + 0.8 * r * sin)]);
    }
    if let Some(&first) = pts.first() {
        pts.push(first);
    }
    pts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_parts_small_cases() {
        let t = MinParts::new();
        assert_eq!(t.get(1, 1), 1);
        assert_eq!(t.get(3, 1), 1);
        assert_eq!(t.get(4, 1), 2);
        assert_eq!(t.get(2, 2), 1);
        assert_eq!(t.get(4, 4), 4);
        assert_eq!(t.get(1, 3), 2);
    }

    #[test]
    fn partition_gives_exact_count_and_covers_rect() {
        let t = MinParts::new();
        let mut rng = Rng::stream(3, "p");
        let rect = CellRect { c0: 2, r0: 1, c1: 7, r1: 6 };
        for n in t.get(5, 5)..=25 {
            let mut out = Vec::new();
            partition(&mut rng, &t, rect, n, &mut out);
            assert_eq!(out.len(), n);
            let mut cells: Vec<(usize, usize)> = out.iter().flat_map(|r| r.cells()).collect();
            cells.sort_unstable();
            let mut want = rect.cells();
            want.sort_unstable();
            assert_eq!(cells, want);
            assert!(out.iter().all(|r| valid_piece(r.width(), r.height())));
        }
    }

    #[test]
    fn apportion_sums_to_total() {
        assert_eq!(apportion(76, &[20, 20, 20, 20, 20, 20, 20, 20]).iter().sum::<usize>(), 76);
        assert_eq!(apportion(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(apportion(5, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn city_ring_matches_table_trig() {
        // Direction k = 4 must point due north, k = 8 due west.
        let mut rng = Rng::stream(1, "city");
        let ring = city_ring(&mut rng);
        assert_eq!(ring.len(), 17);
        assert_eq!(ring.first(), ring.last());
        let c = [CENTER[0] - 0.03, CENTER[1] + 0.02];
        assert!((ring[4][0] - c[0]).abs() < 1e-6 && ring[4][1] > c[1]);
        assert!((ring[8][1] - c[1]).abs() < 1e-6 && ring[8][0] < c[0]);
    }
}

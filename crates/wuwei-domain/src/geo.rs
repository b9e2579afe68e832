//! Region boundaries: GeoJSON Polygon/MultiPolygon parsed into a validated form.
//!
//! Coordinates are `[lon, lat]` in WGS84 degrees, as GeoJSON (RFC 7946) has them. A boundary that
//! passes [`Geometry::from_geojson`] is safe to index and to draw: every ring is closed, has at
//! least three distinct corners and a non-zero area, every coordinate is finite and on the globe,
//! and no ring crosses itself.

use serde_json::{Value, json};

/// Limits on what we accept, so a hostile or broken file cannot make us do unbounded work.
pub const MAX_VERTICES_PER_GEOMETRY: usize = 20_000;
pub const MAX_POLYGONS_PER_GEOMETRY: usize = 500;
pub const MAX_RINGS_PER_POLYGON: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BBox {
    pub const EMPTY: BBox =
        BBox { min_lon: f64::INFINITY, min_lat: f64::INFINITY, max_lon: f64::NEG_INFINITY, max_lat: f64::NEG_INFINITY };

    pub fn extend(&mut self, p: Point) {
        self.min_lon = self.min_lon.min(p.lon);
        self.min_lat = self.min_lat.min(p.lat);
        self.max_lon = self.max_lon.max(p.lon);
        self.max_lat = self.max_lat.max(p.lat);
    }

    pub fn union(&mut self, other: &BBox) {
        self.min_lon = self.min_lon.min(other.min_lon);
        self.min_lat = self.min_lat.min(other.min_lat);
        self.max_lon = self.max_lon.max(other.max_lon);
        self.max_lat = self.max_lat.max(other.max_lat);
    }

    pub fn contains(&self, p: Point) -> bool {
        p.lon >= self.min_lon && p.lon <= self.max_lon && p.lat >= self.min_lat && p.lat <= self.max_lat
    }

    pub fn intersects(&self, other: &BBox) -> bool {
        self.min_lon <= other.max_lon
            && other.min_lon <= self.max_lon
            && self.min_lat <= other.max_lat
            && other.min_lat <= self.max_lat
    }

    pub fn is_empty(&self) -> bool {
        self.min_lon > self.max_lon || self.min_lat > self.max_lat
    }

    pub fn center(&self) -> Point {
        Point { lon: (self.min_lon + self.max_lon) / 2.0, lat: (self.min_lat + self.max_lat) / 2.0 }
    }

    pub fn to_array(&self) -> [f64; 4] {
        [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
    }
}

/// A closed ring; the closing point is stored (first == last), as in GeoJSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring(Vec<Point>);

impl Ring {
    pub fn points(&self) -> &[Point] {
        &self.0
    }

    /// Twice the signed area (shoelace); positive when counter-clockwise.
    pub fn signed_area2(&self) -> f64 {
        self.0.windows(2).map(|w| w[0].lon * w[1].lat - w[1].lon * w[0].lat).sum()
    }

    /// Even-odd ray casting. Points exactly on an edge count as inside for the lower/left edges
    /// and outside for the upper/right ones, so a point on an edge shared by two tiles belongs
    /// to exactly one of them.
    pub fn contains(&self, p: Point) -> bool {
        let pts = &self.0;
        let mut inside = false;
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            if (a.lat > p.lat) != (b.lat > p.lat) {
                let x = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
                if p.lon < x {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// Outer ring first, then holes.
    pub rings: Vec<Ring>,
}

impl Polygon {
    pub fn contains(&self, p: Point) -> bool {
        match self.rings.split_first() {
            Some((outer, holes)) => outer.contains(p) && !holes.iter().any(|h| h.contains(p)),
            None => false,
        }
    }

    pub fn area2(&self) -> f64 {
        match self.rings.split_first() {
            Some((outer, holes)) => {
                outer.signed_area2().abs() - holes.iter().map(|h| h.signed_area2().abs()).sum::<f64>()
            }
            None => 0.0,
        }
    }
}

/// A validated region boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub polygons: Vec<Polygon>,
    pub bbox: BBox,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error("geometry must be a GeoJSON object with \"type\" and \"coordinates\"")]
    NotAnObject,
    #[error("geometry type must be Polygon or MultiPolygon, not {0}")]
    WrongType(String),
    #[error("coordinates have the wrong shape at {path}")]
    Shape { path: String },
    #[error("coordinate at {path} is not a finite [lon, lat] on the globe")]
    BadCoordinate { path: String },
    #[error("ring at {path} is not closed (first and last positions differ)")]
    NotClosed { path: String },
    #[error("ring at {path} needs at least 4 positions with 3 distinct corners")]
    TooFewPoints { path: String },
    #[error("ring at {path} has no area")]
    ZeroArea { path: String },
    #[error("ring at {path} crosses itself")]
    SelfIntersecting { path: String },
    #[error("geometry has more than {limit} vertices, polygons or rings")]
    TooLarge { limit: usize },
}

impl GeometryError {
    /// A stable machine-readable code for API errors and translations.
    pub fn code(&self) -> &'static str {
        match self {
            GeometryError::NotAnObject => "geometry_not_object",
            GeometryError::WrongType(_) => "geometry_wrong_type",
            GeometryError::Shape { .. } => "geometry_shape",
            GeometryError::BadCoordinate { .. } => "geometry_bad_coordinate",
            GeometryError::NotClosed { .. } => "geometry_ring_not_closed",
            GeometryError::TooFewPoints { .. } => "geometry_too_few_points",
            GeometryError::ZeroArea { .. } => "geometry_zero_area",
            GeometryError::SelfIntersecting { .. } => "geometry_self_intersecting",
            GeometryError::TooLarge { .. } => "geometry_too_large",
        }
    }
}

impl Geometry {
    /// Parse and validate a GeoJSON geometry object (`Polygon` or `MultiPolygon`).
    pub fn from_geojson(value: &Value) -> Result<Geometry, GeometryError> {
        let obj = value.as_object().ok_or(GeometryError::NotAnObject)?;
        let kind = obj.get("type").and_then(Value::as_str).ok_or(GeometryError::NotAnObject)?;
        let coords = obj.get("coordinates").ok_or(GeometryError::NotAnObject)?;
        let mut budget = MAX_VERTICES_PER_GEOMETRY;
        let polygons = match kind {
            "Polygon" => vec![parse_polygon(coords, "coordinates", &mut budget)?],
            "MultiPolygon" => {
                let list = coords.as_array().ok_or_else(|| GeometryError::Shape { path: "coordinates".into() })?;
                if list.is_empty() {
                    return Err(GeometryError::Shape { path: "coordinates".into() });
                }
                if list.len() > MAX_POLYGONS_PER_GEOMETRY {
                    return Err(GeometryError::TooLarge { limit: MAX_POLYGONS_PER_GEOMETRY });
                }
                list.iter()
                    .enumerate()
                    .map(|(i, p)| parse_polygon(p, &format!("coordinates[{i}]"), &mut budget))
                    .collect::<Result<Vec<_>, _>>()?
            }
            other => return Err(GeometryError::WrongType(other.to_string())),
        };
        let mut bbox = BBox::EMPTY;
        for poly in &polygons {
            for ring in &poly.rings {
                for p in ring.points() {
                    bbox.extend(*p);
                }
            }
        }
        Ok(Geometry { polygons, bbox })
    }

    pub fn contains(&self, p: Point) -> bool {
        self.bbox.contains(p) && self.polygons.iter().any(|poly| poly.contains(p))
    }

    pub fn area2(&self) -> f64 {
        self.polygons.iter().map(Polygon::area2).sum()
    }

    pub fn vertex_count(&self) -> usize {
        self.polygons.iter().flat_map(|p| p.rings.iter()).map(|r| r.points().len()).sum()
    }

    /// The GeoJSON geometry object, as stored and served.
    pub fn to_geojson(&self) -> Value {
        let poly_coords = |poly: &Polygon| -> Value {
            Value::Array(
                poly.rings
                    .iter()
                    .map(|r| Value::Array(r.points().iter().map(|p| json!([p.lon, p.lat])).collect()))
                    .collect(),
            )
        };
        if let [single] = self.polygons.as_slice() {
            json!({"type": "Polygon", "coordinates": poly_coords(single)})
        } else {
            json!({"type": "MultiPolygon", "coordinates": self.polygons.iter().map(poly_coords).collect::<Vec<_>>()})
        }
    }
}

fn parse_polygon(value: &Value, path: &str, budget: &mut usize) -> Result<Polygon, GeometryError> {
    let rings_json = value.as_array().ok_or_else(|| GeometryError::Shape { path: path.into() })?;
    if rings_json.is_empty() {
        return Err(GeometryError::Shape { path: path.into() });
    }
    if rings_json.len() > MAX_RINGS_PER_POLYGON {
        return Err(GeometryError::TooLarge { limit: MAX_RINGS_PER_POLYGON });
    }
    let mut rings = Vec::with_capacity(rings_json.len());
    for (i, r) in rings_json.iter().enumerate() {
        rings.push(parse_ring(r, &format!("{path}[{i}]"), budget)?);
    }
    Ok(Polygon { rings })
}

fn parse_ring(value: &Value, path: &str, budget: &mut usize) -> Result<Ring, GeometryError> {
    let positions = value.as_array().ok_or_else(|| GeometryError::Shape { path: path.into() })?;
    if positions.len() > *budget {
        return Err(GeometryError::TooLarge { limit: MAX_VERTICES_PER_GEOMETRY });
    }
    *budget -= positions.len();
    let mut points = Vec::with_capacity(positions.len());
    for (i, pos) in positions.iter().enumerate() {
        let p_path = format!("{path}[{i}]");
        let arr = pos.as_array().ok_or_else(|| GeometryError::Shape { path: p_path.clone() })?;
        // GeoJSON allows an optional altitude; more than that is not a position.
        if !(2..=3).contains(&arr.len()) {
            return Err(GeometryError::Shape { path: p_path });
        }
        let lon = arr[0].as_f64();
        let lat = arr[1].as_f64();
        match (lon, lat) {
            (Some(lon), Some(lat))
                if lon.is_finite()
                    && lat.is_finite()
                    && (-180.0..=180.0).contains(&lon)
                    && (-90.0..=90.0).contains(&lat) =>
            {
                points.push(Point { lon, lat })
            }
            _ => return Err(GeometryError::BadCoordinate { path: p_path }),
        }
    }
    if points.len() < 4 {
        return Err(GeometryError::TooFewPoints { path: path.into() });
    }
    if points.first() != points.last() {
        return Err(GeometryError::NotClosed { path: path.into() });
    }
    let mut distinct: Vec<Point> = Vec::with_capacity(4);
    for p in &points[..points.len() - 1] {
        if !distinct.contains(p) {
            distinct.push(*p);
            if distinct.len() >= 3 {
                break;
            }
        }
    }
    if distinct.len() < 3 {
        return Err(GeometryError::TooFewPoints { path: path.into() });
    }
    let ring = Ring(points);
    if ring.signed_area2() == 0.0 {
        return Err(GeometryError::ZeroArea { path: path.into() });
    }
    if self_intersects(ring.points()) {
        return Err(GeometryError::SelfIntersecting { path: path.into() });
    }
    Ok(ring)
}

/// Whether two non-adjacent edges of a closed ring touch or cross. Edges are sorted by their
/// western end so only edges that overlap in longitude are compared: near-linear for the
/// boundaries we see (village outlines), and bounded by the vertex limit in the worst case.
fn self_intersects(pts: &[Point]) -> bool {
    let n = pts.len() - 1; // number of edges
    let mut edges: Vec<(usize, f64, f64)> = (0..n)
        .map(|i| {
            let (a, b) = (pts[i], pts[i + 1]);
            (i, a.lon.min(b.lon), a.lon.max(b.lon))
        })
        .collect();
    edges.sort_by(|x, y| x.1.total_cmp(&y.1));
    for (k, &(i, _, max_i)) in edges.iter().enumerate() {
        for &(j, min_j, _) in &edges[k + 1..] {
            if min_j > max_i {
                break;
            }
            let adjacent = i.abs_diff(j) == 1 || (i == 0 && j == n - 1) || (j == 0 && i == n - 1);
            let (a, b, c, d) = (pts[i], pts[i + 1], pts[j], pts[j + 1]);
            if adjacent {
                // Adjacent edges share one vertex; they intersect improperly only if they fold
                // back onto each other (collinear and overlapping beyond the shared point).
                if collinear_overlap(a, b, c, d) {
                    return true;
                }
                continue;
            }
            if segments_intersect(a, b, c, d) {
                return true;
            }
        }
    }
    false
}

fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon)
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    p.lon >= a.lon.min(b.lon) && p.lon <= a.lon.max(b.lon) && p.lat >= a.lat.min(b.lat) && p.lat <= a.lat.max(b.lat)
}

fn segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b));
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0)) && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0)) {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

fn collinear_overlap(a: Point, b: Point, c: Point, d: Point) -> bool {
    if orient(a, b, c) != 0.0 || orient(a, b, d) != 0.0 {
        return false;
    }
    // Shared vertex is one endpoint of each; they overlap if the other endpoints lie on the
    // same side of it along the line.
    let shared = if a == c || a == d { a } else { b };
    let other1 = if a == shared { b } else { a };
    let other2 = if c == shared { d } else { c };
    let dot =
        (other1.lon - shared.lon) * (other2.lon - shared.lon) + (other1.lat - shared.lat) * (other2.lat - shared.lat);
    dot > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, s: f64) -> Value {
        json!({"type":"Polygon","coordinates":[[[x0,y0],[x0+s,y0],[x0+s,y0+s],[x0,y0+s],[x0,y0]]]})
    }

    #[test]
    fn accepts_a_square_and_contains_its_centre() {
        let g = Geometry::from_geojson(&square(117.0, 37.0, 0.1)).unwrap();
        assert!(g.contains(Point { lon: 117.05, lat: 37.05 }));
        assert!(!g.contains(Point { lon: 117.15, lat: 37.05 }));
        assert_eq!(g.vertex_count(), 5);
        assert!((g.area2() - 0.02).abs() < 1e-12);
    }

    #[test]
    fn round_trips_through_geojson() {
        let v = square(117.0, 37.0, 0.1);
        let g = Geometry::from_geojson(&v).unwrap();
        assert_eq!(g.to_geojson(), v);
    }

    #[test]
    fn rejects_open_rings() {
        let v = json!({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]});
        assert!(matches!(Geometry::from_geojson(&v), Err(GeometryError::NotClosed { .. })));
    }

    #[test]
    fn rejects_out_of_range_coordinates() {
        let v = json!({"type":"Polygon","coordinates":[[[0,0],[181,0],[1,1],[0,0]]]});
        assert!(
            matches!(Geometry::from_geojson(&v), Err(GeometryError::BadCoordinate { path }) if path == "coordinates[0][1]")
        );
    }

    #[test]
    fn rejects_bow_ties() {
        let v = json!({"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,1],[0,0]]]});
        assert!(matches!(Geometry::from_geojson(&v), Err(GeometryError::SelfIntersecting { .. })));
    }

    #[test]
    fn rejects_degenerate_rings() {
        let flat = json!({"type":"Polygon","coordinates":[[[0,0],[1,0],[2,0],[0,0]]]});
        assert!(Geometry::from_geojson(&flat).is_err());
        let repeated = json!({"type":"Polygon","coordinates":[[[0,0],[0,0],[1,1],[0,0]]]});
        assert!(matches!(Geometry::from_geojson(&repeated), Err(GeometryError::TooFewPoints { .. })));
    }

    #[test]
    fn rejects_other_types_and_shapes() {
        assert!(matches!(
            Geometry::from_geojson(&json!({"type":"Point","coordinates":[0,0]})),
            Err(GeometryError::WrongType(_))
        ));
        assert!(matches!(Geometry::from_geojson(&json!([1, 2])), Err(GeometryError::NotAnObject)));
        assert!(matches!(
            Geometry::from_geojson(&json!({"type":"Polygon","coordinates":[["a"]]})),
            Err(GeometryError::Shape { .. })
        ));
    }

    #[test]
    fn holes_are_excluded() {
        let v = json!({"type":"Polygon","coordinates":[
            [[0,0],[10,0],[10,10],[0,10],[0,0]],
            [[4,4],[4,6],[6,6],[6,4],[4,4]]
        ]});
        let g = Geometry::from_geojson(&v).unwrap();
        assert!(g.contains(Point { lon: 2.0, lat: 2.0 }));
        assert!(!g.contains(Point { lon: 5.0, lat: 5.0 }));
    }

    #[test]
    fn shared_edges_belong_to_one_side() {
        let left = Geometry::from_geojson(&square(0.0, 0.0, 1.0)).unwrap();
        let right = Geometry::from_geojson(&square(1.0, 0.0, 1.0)).unwrap();
        let p = Point { lon: 1.0, lat: 0.5 };
        assert_eq!(left.contains(p) as u8 + right.contains(p) as u8, 1);
    }

    #[test]
    fn vertex_limit_is_enforced() {
        let n = MAX_VERTICES_PER_GEOMETRY + 10;
        let mut ring: Vec<Value> = (0..n)
            .map(|i| {
                let t = i as f64 / n as f64 * std::f64::consts::TAU;
                json!([t.cos(), t.sin()])
            })
            .collect();
        ring.push(ring[0].clone());
        let v = json!({"type":"Polygon","coordinates":[ring]});
        assert!(matches!(Geometry::from_geojson(&v), Err(GeometryError::TooLarge { .. })));
    }
}

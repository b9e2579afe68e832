//! The camera register: kinds, where a camera looks, and the sector the map draws for it.

use serde_json::{Value, json};

use crate::geo::Point;
use crate::validate::{FieldIssue, Issues, Rule};

named_enum!(
    /// Which network a camera belongs to.
    CameraKind {
        /// 雪亮工程: the public video network at junctions, village gates, squares.
        Xueliang => "xueliang",
        /// 高空瞭望: tower cameras over fields and forests, watching for fire and straw burning.
        Lookout => "lookout",
        Other => "other",
    }
);

impl CameraKind {
    /// The field of view to draw when the register does not say: a fixed street camera sees a
    /// quarter circle or so; a lookout tower pans all the way round.
    pub fn default_field_of_view_deg(self) -> f64 {
        match self {
            CameraKind::Xueliang | CameraKind::Other => 90.0,
            CameraKind::Lookout => 360.0,
        }
    }
}

/// The shortest and longest viewing range we draw. Under 10 m is a typo; a lookout tower spots
/// smoke at 10–15 km, and 20 km is beyond any camera a town owns.
pub const MIN_RANGE_M: f64 = 10.0;
pub const MAX_RANGE_M: f64 = 20_000.0;
/// The arc is drawn with a corner at least every this many degrees: smooth at the map's zoom,
/// and at most 72 corners for a full circle.
pub const ARC_STEP_DEG: f64 = 5.0;
/// Cameras are placed away from the poles and the antimeridian, so that a sector of 20 km never
/// wraps around either (no town is there).
pub const MAX_ABS_LAT: f64 = 80.0;
pub const MAX_ABS_LON: f64 = 179.0;

/// Where a camera looks: compass bearing of the centre of its view (0 = north, 90 = east),
/// how wide it sees, and how far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewSector {
    pub bearing_deg: f64,
    pub field_of_view_deg: f64,
    pub range_m: f64,
}

impl ViewSector {
    /// Check a sector as entered: bearing in `[0, 360)`, field of view in `(0, 360]`, range within
    /// [`MIN_RANGE_M`]..=[`MAX_RANGE_M`]. Every problem is reported at once.
    pub fn parse(bearing_deg: f64, field_of_view_deg: f64, range_m: f64) -> Result<ViewSector, Issues> {
        let mut issues = Issues::default();
        if !(bearing_deg.is_finite() && (0.0..360.0).contains(&bearing_deg)) {
            issues.push("bearing_deg", Rule::Format { expected: "degrees from 0 (north) to below 360" });
        }
        if !(field_of_view_deg.is_finite() && field_of_view_deg > 0.0 && field_of_view_deg <= 360.0) {
            issues.push("field_of_view_deg", Rule::Format { expected: "degrees above 0, at most 360" });
        }
        if !(range_m.is_finite() && (MIN_RANGE_M..=MAX_RANGE_M).contains(&range_m)) {
            issues.push("range_m", Rule::OutOfRange { min: MIN_RANGE_M as i64, max: MAX_RANGE_M as i64 });
        }
        issues.into_result()?;
        Ok(ViewSector { bearing_deg, field_of_view_deg, range_m })
    }

    /// The sector seen from `at`, as a closed GeoJSON ring of `[lon, lat]`, counter-clockwise
    /// (RFC 7946's exterior ring): the camera, then the arc from the left edge of the view to the
    /// right edge as seen from above going backwards, then the camera again. A full circle
    /// (360°) has no apex: the ring is the arc alone.
    pub fn ring(&self, at: Point) -> Vec<[f64; 2]> {
        let full = self.field_of_view_deg >= 360.0;
        // Whole steps of at most ARC_STEP_DEG; at least two, so a narrow view is still a wedge.
        let steps = ((self.field_of_view_deg / ARC_STEP_DEG).ceil() as usize).clamp(2, (360.0 / ARC_STEP_DEG) as usize);
        let start = self.bearing_deg + self.field_of_view_deg / 2.0;
        let step = self.field_of_view_deg / steps as f64;
        // Compass bearings turn clockwise; walking them from the right edge down to the left
        // edge traces the arc counter-clockwise on the map.
        let arc = (0..=steps).map(|i| destination(at, start - step * i as f64, self.range_m));
        let mut ring: Vec<[f64; 2]> = Vec::with_capacity(steps + 3);
        if full {
            ring.extend(arc.take(steps).map(|p| [p.lon, p.lat]));
            if let Some(first) = ring.first().copied() {
                ring.push(first);
            }
        } else {
            ring.push([at.lon, at.lat]);
            ring.extend(arc.map(|p| [p.lon, p.lat]));
            ring.push([at.lon, at.lat]);
        }
        ring
    }

    /// The sector as a GeoJSON Polygon, for the map.
    pub fn to_geojson(&self, at: Point) -> Value {
        json!({"type": "Polygon", "coordinates": [self.ring(at)]})
    }
}

/// A camera's location: on the globe, away from the poles and the antimeridian.
pub fn location(lat: f64, lon: f64) -> Result<Point, Issues> {
    let mut issues = Issues::default();
    if !(lat.is_finite() && lat.abs() <= MAX_ABS_LAT) {
        issues.push("lat", Rule::OutOfRange { min: -(MAX_ABS_LAT as i64), max: MAX_ABS_LAT as i64 });
    }
    if !(lon.is_finite() && lon.abs() <= MAX_ABS_LON) {
        issues.push("lon", Rule::OutOfRange { min: -(MAX_ABS_LON as i64), max: MAX_ABS_LON as i64 });
    }
    issues.into_result()?;
    Ok(Point { lon, lat })
}

/// The point `distance_m` from `from` along the great circle starting at compass `bearing_deg`
/// (the same sphere as `case::distance_m`).
pub fn destination(from: Point, bearing_deg: f64, distance_m: f64) -> Point {
    const R: f64 = 6_371_008.8;
    let (phi1, lambda1) = (from.lat.to_radians(), from.lon.to_radians());
    let theta = bearing_deg.to_radians();
    let delta = distance_m / R;
    let phi2 = (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * theta.cos()).asin();
    let lambda2 = lambda1 + (theta.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * phi2.sin());
    Point { lon: lambda2.to_degrees(), lat: phi2.to_degrees() }
}

/// Longest live-view address we keep.
pub const LIVE_VIEW_URL_MAX: usize = 1024;

/// A live-view address: an `http(s)` URL (an HLS playlist or the vendor's page). The web UI opens
/// it in a new tab, so anything else — `javascript:`, `data:`, a relative path — is refused.
pub fn live_view_url(field: &str, raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldIssue::new(field, Rule::Required));
    }
    if s.len() > LIVE_VIEW_URL_MAX {
        return Err(FieldIssue::new(field, Rule::TooLong { max: LIVE_VIEW_URL_MAX }));
    }
    let lower = s.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains('@')
    });
    // No whitespace or control characters anywhere: they have no business in an address and
    // are how header and markup injection start.
    if !host_ok || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldIssue::new(field, Rule::Format { expected: "an http:// or https:// address" }));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::distance_m;
    use crate::geo::Geometry;
    use proptest::prelude::*;

    const TOWER: Point = Point { lon: 117.23, lat: 37.73 };

    #[test]
    fn sectors_are_checked() {
        assert!(ViewSector::parse(0.0, 90.0, 200.0).is_ok());
        assert!(ViewSector::parse(359.9, 360.0, MAX_RANGE_M).is_ok());
        let err = ViewSector::parse(360.0, 0.0, 5.0).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["bearing_deg", "field_of_view_deg", "range_m"]);
        assert!(ViewSector::parse(-1.0, 90.0, 100.0).is_err());
        assert!(ViewSector::parse(f64::NAN, 90.0, 100.0).is_err());
        assert!(location(37.7, 117.2).is_ok());
        assert_eq!(location(91.0, 181.0).unwrap_err().0.len(), 2);
    }

    #[test]
    fn an_east_facing_sector_covers_the_east() {
        let s = ViewSector::parse(90.0, 60.0, 500.0).unwrap();
        let ring = s.ring(TOWER);
        assert_eq!(ring.first(), ring.last());
        assert_eq!(ring.len(), 12 + 1 + 2);
        let g = Geometry::from_geojson(&s.to_geojson(TOWER)).unwrap();
        let east = crate::intake::camera::destination(TOWER, 90.0, 300.0);
        let west = crate::intake::camera::destination(TOWER, 270.0, 300.0);
        let far = crate::intake::camera::destination(TOWER, 90.0, 600.0);
        assert!(g.contains(east));
        assert!(!g.contains(west));
        assert!(!g.contains(far));
    }

    #[test]
    fn a_lookout_sees_all_round() {
        let s = ViewSector::parse(0.0, CameraKind::Lookout.default_field_of_view_deg(), 5_000.0).unwrap();
        let ring = s.ring(TOWER);
        assert_eq!(ring.len(), 72 + 1);
        let g = Geometry::from_geojson(&s.to_geojson(TOWER)).unwrap();
        for b in [0.0, 45.0, 180.0, 300.0] {
            assert!(g.contains(destination(TOWER, b, 4_000.0)), "{b}");
        }
    }

    #[test]
    fn live_view_urls() {
        assert!(live_view_url("u", "https://cam.example.cn/live/12.m3u8").is_ok());
        assert!(live_view_url("u", "HTTP://10.0.0.5:8080/view?id=3").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "/live/1",
            "https://",
            "https://user@evil.example/",
            "https://a b/",
            "ftp://x/",
        ] {
            assert!(live_view_url("u", bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Every sector the checks accept is a valid polygon (closed, counter-clockwise, not
        /// self-crossing) whose arc lies at its range from the camera.
        #[test]
        fn every_accepted_sector_is_a_valid_polygon(
            bearing in 0.0f64..360.0,
            fov in 1.0f64..=360.0,
            range in MIN_RANGE_M..=MAX_RANGE_M,
            lat in -60.0f64..60.0,
            lon in -170.0f64..170.0,
        ) {
            let s = ViewSector::parse(bearing, fov, range).unwrap();
            let at = location(lat, lon).unwrap();
            let ring = s.ring(at);
            prop_assert!(ring.len() <= 72 + 3);
            let g = Geometry::from_geojson(&s.to_geojson(at));
            prop_assert!(g.is_ok(), "{:?}", g.err());
            let area2: f64 = ring.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum();
            prop_assert!(area2 > 0.0, "clockwise");
            for p in &ring {
                let d = distance_m(at.lat, at.lon, p[1], p[0]);
                prop_assert!(d < 1e-6 || (d - range).abs() < range * 1e-6 + 1e-3, "{d} vs {range}");
            }
        }
    }
}

//! The local plane in which areas, lengths and distances are measured, in metres.
//!
//! GeoJSON edges are straight lines in longitude/latitude (RFC 7946), so the plane is an
//! *affine* map of longitude/latitude: x = (λ − λ₀)·N₀·cos φ₀, y = (φ − φ₀)·M₀, with M₀
//! and N₀ the GRS80 (CGCS2000 ≈ WGS-84) radii of curvature at the centre. Being affine,
//! it keeps every edge straight and every shared vertex shared, so boolean operations on
//! projected polygons agree with the data exactly; a curved projection (transverse
//! Mercator, say) bends long edges by a fraction of a millimetre, enough to open false
//! slivers between a grid and its community.
//!
//! The price is scale: east–west lengths are exact only at the centre's latitude, off by
//! about tan φ₀ · Δφ elsewhere (0.3 % at 0.25° from the centre, at 34° N). Areas are
//! corrected for it ([`LocalPlane::area_m2`] scales each polygon by the true area element
//! at its centroid, leaving an error near 1e-5 over a county), and distances that must be
//! exact are measured on the ellipsoid instead.

use geo::{Area, Centroid, Coord, MapCoords, MultiPolygon, Polygon, Rect};

/// GRS80 semi-major axis, metres.
const A: f64 = 6_378_137.0;
/// GRS80 flattening.
const F: f64 = 1.0 / 298.257_222_101;

/// Metres per radian north (M) and east (N cos φ) at latitude `lat` (degrees).
fn radii(lat: f64) -> (f64, f64) {
    let e2 = F * (2.0 - F);
    let (s, c) = lat.to_radians().sin_cos();
    let w = (1.0 - e2 * s * s).sqrt();
    (A * (1.0 - e2) / (w * w * w), A / w * c)
}

/// An affine map between longitude/latitude (degrees) and local metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalPlane {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl LocalPlane {
    /// A plane whose origin and true scale are at (`lon0`, `lat0`).
    pub fn centred_at(lon0: f64, lat0: f64) -> LocalPlane {
        let (m, n_cos) = radii(lat0);
        let rad = std::f64::consts::PI / 180.0;
        LocalPlane { lon0, lat0, kx: n_cos * rad, ky: m * rad }
    }

    /// A plane centred on a bounding box (in degrees).
    pub fn for_bounds(bounds: Rect<f64>) -> LocalPlane {
        let c = bounds.center();
        LocalPlane::centred_at(c.x, c.y)
    }

    /// Degrees to metres.
    pub fn forward(&self, lon: f64, lat: f64) -> Coord<f64> {
        Coord { x: (lon - self.lon0) * self.kx, y: (lat - self.lat0) * self.ky }
    }

    /// Metres to degrees.
    pub fn inverse(&self, p: Coord<f64>) -> Coord<f64> {
        Coord { x: p.x / self.kx + self.lon0, y: p.y / self.ky + self.lat0 }
    }

    /// The true length, near latitude `lat`, of one plane metre east and one north:
    /// multiply small plane differences by these to measure them in metres there.
    pub fn scale_at(&self, lat: f64) -> (f64, f64) {
        let (m0, n0) = radii(self.lat0);
        let (m, n) = radii(lat);
        (n / n0, m / m0)
    }

    /// A geometry from degrees to metres.
    pub fn project(&self, geometry: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        geometry.map_coords(|c| self.forward(c.x, c.y))
    }

    /// The true area in m² of a geometry given in this plane's metres: each polygon's
    /// plane area scaled by the ratio of the ellipsoid's area element at its centroid to
    /// the plane's.
    pub fn area_m2(&self, geometry: &MultiPolygon<f64>) -> f64 {
        geometry.0.iter().map(|p| self.polygon_area_m2(p)).sum()
    }

    /// The true area in m² of one polygon given in this plane's metres.
    pub fn polygon_area_m2(&self, polygon: &Polygon<f64>) -> f64 {
        let (m0, n0) = radii(self.lat0);
        let lat = polygon.centroid().map_or(self.lat0, |c| self.inverse(c.0).y);
        let (m, n) = radii(lat);
        polygon.unsigned_area() * (m * n) / (m0 * n0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::LineString;

    /// The ellipsoidal area of a longitude/latitude box, by Simpson's rule over latitude.
    fn box_area(lon0: f64, lon1: f64, lat0: f64, lat1: f64) -> f64 {
        let n = 2000;
        let h = (lat1 - lat0) / n as f64;
        let f = |lat: f64| {
            let (m, n_cos) = radii(lat);
            m * n_cos
        };
        let mut sum = f(lat0) + f(lat1);
        for i in 1..n {
            sum += f(lat0 + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0 * (lon1 - lon0).to_radians() * std::f64::consts::PI / 180.0
    }

    fn rect_deg(lon0: f64, lon1: f64, lat0: f64, lat1: f64) -> MultiPolygon<f64> {
        let ring = LineString::from(vec![(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0)]);
        MultiPolygon(vec![Polygon::new(ring, Vec::new())])
    }

    #[test]
    fn centre_maps_to_origin_and_back() {
        let plane = LocalPlane::centred_at(118.3, 33.9);
        assert_eq!(plane.forward(118.3, 33.9), Coord { x: 0.0, y: 0.0 });
        let back = plane.inverse(plane.forward(118.71, 33.52));
        assert!((back.x - 118.71).abs() < 1e-12 && (back.y - 33.52).abs() < 1e-12);
    }

    #[test]
    fn a_degree_of_latitude_and_longitude_in_metres() {
        // Known GRS80 values at 34° N: 1° of latitude ≈ 110 922 m, of longitude ≈ 92 385 m.
        let plane = LocalPlane::centred_at(118.0, 34.0);
        let p = plane.forward(119.0, 35.0);
        assert!((p.x - 92_385.0).abs() < 5.0, "{}", p.x);
        assert!((p.y - 110_922.0).abs() < 5.0, "{}", p.y);
    }

    #[test]
    fn areas_match_the_ellipsoid_across_a_county() {
        let plane = LocalPlane::centred_at(118.36, 33.78);
        for (lon0, lat0) in [(118.1, 33.5), (118.5, 34.0), (118.3, 33.78)] {
            for size in [0.001, 0.01, 0.1] {
                let geometry = rect_deg(lon0, lon0 + size, lat0, lat0 + size);
                let got = plane.area_m2(&plane.project(&geometry));
                let want = box_area(lon0, lon0 + size, lat0, lat0 + size);
                assert!(((got - want) / want).abs() < 2e-5, "{lon0},{lat0} size {size}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn projection_is_affine_so_shared_points_stay_collinear() {
        let plane = LocalPlane::centred_at(118.3, 33.9);
        let (a, b) = ((118.10, 33.60), (118.50, 34.01));
        let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        let (pa, pb, pm) = (plane.forward(a.0, a.1), plane.forward(b.0, b.1), plane.forward(mid.0, mid.1));
        let cross = (pb.x - pa.x) * (pm.y - pa.y) - (pb.y - pa.y) * (pm.x - pa.x);
        assert!(cross.abs() < 1e-3, "{cross}");
    }
}

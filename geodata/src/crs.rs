//! WGS-84, GCJ-02 and BD-09: the three coordinate systems phones in China report, and
//! the conversions between them.
//!
//! - **WGS-84** is the GPS datum and what gridlink stores.
//! - **GCJ-02** (国测局坐标, "Mars coordinates") is WGS-84 run through a deliberate,
//!   non-linear obfuscation: a smooth offset of roughly 100–700 m that varies with
//!   position, computed on the Krasovsky 1940 ellipsoid. Maps of mainland China are
//!   published in it, so most map SDKs used there (Amap/Gaode, Tencent) report GCJ-02.
//! - **BD-09** (Baidu) is GCJ-02 further distorted by a small polar transform and a
//!   fixed shift of about +0.0065° longitude, +0.006° latitude. The Baidu SDK reports it.
//!
//! The forward formulas are the well-known public ones and reproduce the published test
//! vectors exactly. They have no closed-form inverse: the usual one-step inverse
//! (subtract the offset computed at the shifted point) is off by up to about 4 m for
//! GCJ-02, and Baidu's inverse formula by up to about 0.2 m. The inverses here refine
//! that first guess by fixed-point iteration, `p ← p − (f(p) − t)` for a target `t` and
//! forward map `f` (Newton's method with the Jacobian taken as the identity, which it
//! nearly is), until the correction is below 1e-10° in both coordinates or after 30
//! rounds. The offsets vary slowly, so this stops after at most five rounds (three or
//! four typically), and every conversion round-trips within a few micrometres.
//! BD-09 → GCJ-02 and BD-09 → WGS-84 are iterated the same way.
//!
//! # Outside mainland China nothing shifts
//!
//! The obfuscation only applies in mainland China; everywhere else GCJ-02 and BD-09 are
//! taken to equal WGS-84, and every conversion here, in either direction, returns the
//! point unchanged. [`in_mainland_china`] decides, always on the coordinates as given
//! (the input of the conversion, whatever its system). The usual test, a bounding box
//! (longitude 72.004–137.8347, latitude 0.8293–55.8271), wrongly takes in Hong Kong,
//! Macau, Taiwan, Seoul and Hanoi among others, so the box is only a first filter:
//!
//! - the point must lie in a coarse inclusion polygon of the mainland (plus Hainan and a
//!   box around the Paracel Islands; the Spratly Islands are left out),
//! - and outside coarse exclusion polygons for Hong Kong, Macau, Taiwan with Penghu,
//!   Kinmen (Greater and Lesser Kinmen, Dadan/Erdan, Wuqiu) and the Matsu Islands.
//!
//! All the polygons are coarse. Near the Hong Kong and Macau boundaries and the strait
//! between Kinmen or Matsu and the Fujian coast the answer may go either way within
//! about 1 km (enclaves such as the University of Macau campus on Hengqin are not
//! modelled). The land borders with other countries are a simplification of the
//! Natural Earth 1:10m boundary (public domain) that leans outward on purpose: land on
//! the Chinese side is inside even within 250 m of the border, while foreign land is
//! taken in typically up to 2–5 km and in places up to about 20 km beyond it, so towns
//! facing Chinese ones across the border (Sinuiju, Blagoveshchensk, Lao Cai, Móng Cái,
//! Muse, Zabaykalsk, Zamyn-Üüd…) count as mainland and are shifted. The coastline is
//! drawn offshore, well clear of Korea, Japan and Vietnam. A point whose image under a
//! conversion lands on the other side of a boundary (within about 1 km of it) does not
//! round-trip.
//!
//! Non-finite input (NaN, ±∞) is never an error here: it is not in mainland China, so
//! it is returned unchanged. Callers validate coordinate ranges themselves.

use std::error::Error;
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// A coordinate system in which a client may send longitude/latitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Crs {
    /// WGS-84, the GPS datum; what gridlink stores.
    #[default]
    Wgs84,
    /// GCJ-02, the obfuscated datum of maps of mainland China (Amap, Tencent, …).
    Gcj02,
    /// BD-09, Baidu's further distortion of GCJ-02.
    Bd09,
}

impl Crs {
    /// The three systems, in declaration order.
    pub const ALL: [Crs; 3] = [Crs::Wgs84, Crs::Gcj02, Crs::Bd09];

    /// The canonical lower-case name: `wgs84`, `gcj02` or `bd09`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Crs {
    type Err = UnknownCrs;

    /// Parses `wgs84`, `gcj02` or `bd09` in any letter case; nothing else (no aliases,
    /// no surrounding whitespace).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Crs::ALL.into_iter().find(|crs| crs.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownCrs(s.to_owned()))
    }
}

/// The error of parsing a [`Crs`]: the name given, which is none of `wgs84`, `gcj02`,
/// `bd09`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCrs(pub String);

impl fmt::Display for UnknownCrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown coordinate system {:?}: expected wgs84, gcj02 or bd09", self.0)
    }
}

impl Error for UnknownCrs {}

/// Whether `(lon, lat)` is a position on Earth: finite, longitude within -180..180 and
/// latitude within -90..90 (in any of the three systems).
pub fn is_position(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// Converts `(lon, lat)` in `crs` to WGS-84. Identity for [`Crs::Wgs84`], outside
/// mainland China and for non-finite input.
pub fn to_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
        Crs::Bd09 => bd09_to_wgs84(lon, lat),
    }
}

/// Converts WGS-84 `(lon, lat)` to `crs`. Identity for [`Crs::Wgs84`], outside mainland
/// China and for non-finite input.
pub fn from_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => wgs84_to_gcj02(lon, lat),
        Crs::Bd09 => wgs84_to_bd09(lon, lat),
    }
}

/// WGS-84 → GCJ-02 by the public obfuscation formulas. Identity outside mainland China
/// and for non-finite input.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !in_mainland_china(lon, lat) {
        return (lon, lat);
    }
    wgs84_to_gcj02_raw(lon, lat)
}

/// GCJ-02 → WGS-84, iterated to within 1e-10° of the exact inverse of
/// [`wgs84_to_gcj02`]. Identity outside mainland China and for non-finite input.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if !in_mainland_china(lon, lat) {
        return (lon, lat);
    }
    let (d_lon, d_lat) = gcj02_offset(lon, lat);
    invert((lon, lat), (lon - d_lon, lat - d_lat), wgs84_to_gcj02_raw)
}

/// GCJ-02 → BD-09 by Baidu's public formula. Identity outside mainland China and for
/// non-finite input.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    if !in_mainland_china(lon, lat) {
        return (lon, lat);
    }
    gcj02_to_bd09_raw(lon, lat)
}

/// BD-09 → GCJ-02: Baidu's approximate inverse, iterated to within 1e-10° of the exact
/// inverse of [`gcj02_to_bd09`]. Identity outside mainland China and for non-finite
/// input.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !in_mainland_china(lon, lat) {
        return (lon, lat);
    }
    invert((lon, lat), bd09_to_gcj02_approx(lon, lat), gcj02_to_bd09_raw)
}

/// WGS-84 → BD-09 (through GCJ-02). Identity outside mainland China and for non-finite
/// input.
pub fn wgs84_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    if !in_mainland_china(lon, lat) {
        return (lon, lat);
    }
    wgs84_to_bd09_raw(lon, lat)
}

/// BD-09 → WGS-84, iterated to within 1e-10° of the exact inverse of [`wgs84_to_bd09`].
/// Identity outside mainland China and for non-finite input.
pub fn bd09_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if !in_mainland_china(lon, lat) {
        return (lon, lat);
    }
    let (g_lon, g_lat) = bd09_to_gcj02_approx(lon, lat);
    let (d_lon, d_lat) = gcj02_offset(g_lon, g_lat);
    invert((lon, lat), (g_lon - d_lon, g_lat - d_lat), wgs84_to_bd09_raw)
}

/// Whether `(lon, lat)` (degrees) is in mainland China, where GCJ-02 and BD-09 differ from
/// WGS-84: inside the usual bounding box and a coarse polygon of the mainland, and outside
/// Hong Kong, Macau, Taiwan with Penghu, Kinmen and Matsu. The polygons are coarse (about
/// 1 km near Hong Kong, Macau, Kinmen and Matsu; leaning outward along land borders):
/// see the module documentation. False for non-finite input.
pub fn in_mainland_china(lon: f64, lat: f64) -> bool {
    if !(lon.is_finite() && lat.is_finite()) {
        return false;
    }
    let in_box = (BOX_MIN_LON..=BOX_MAX_LON).contains(&lon) && (BOX_MIN_LAT..=BOX_MAX_LAT).contains(&lat);
    in_box
        && INCLUSIONS.iter().any(|ring| in_ring(lon, lat, ring))
        && !EXCLUSIONS.iter().any(|ring| in_ring(lon, lat, ring))
}

/// Semi-major axis of the Krasovsky 1940 ellipsoid, metres.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid: the published
/// 0.00669342162296594323, rounded to the nearest `f64`.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// Baidu's angular factor `x_pi` = π · 3000 / 180.
const BD_X_PI: f64 = PI * 3000.0 / 180.0;
/// Baidu's final shift, degrees of longitude and latitude.
const BD_SHIFT_LON: f64 = 0.0065;
const BD_SHIFT_LAT: f64 = 0.006;

/// The inverses stop once a correction is below this, in degrees (about 0.01 mm).
const INVERSE_TOLERANCE: f64 = 1e-10;
/// … or after this many corrections.
const INVERSE_MAX_ITERATIONS: usize = 30;

/// The GCJ-02 offset `(Δlon, Δlat)` in degrees at WGS-84 `(lon, lat)`, with no
/// mainland test.
fn gcj02_offset(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 105.0;
    let y = lat - 35.0;
    let d_lat = offset_lat(x, y);
    let d_lon = offset_lon(x, y);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (d_lon, d_lat)
}

/// The latitude part of the GCJ-02 offset, in metres-like units, at `(x, y)` =
/// `(lon − 105, lat − 35)`.
fn offset_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

/// The longitude part of the GCJ-02 offset, like [`offset_lat`].
fn offset_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 → GCJ-02 with no mainland test.
fn wgs84_to_gcj02_raw(lon: f64, lat: f64) -> (f64, f64) {
    let (d_lon, d_lat) = gcj02_offset(lon, lat);
    (lon + d_lon, lat + d_lat)
}

/// GCJ-02 → BD-09 with no mainland test.
fn gcj02_to_bd09_raw(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.000_02 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000_003 * (lon * BD_X_PI).cos();
    (z * theta.cos() + BD_SHIFT_LON, z * theta.sin() + BD_SHIFT_LAT)
}

/// Baidu's approximate BD-09 → GCJ-02 (off by up to about 0.2 m), with no
/// mainland test: the first guess of [`bd09_to_gcj02`].
fn bd09_to_gcj02_approx(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - BD_SHIFT_LON;
    let y = lat - BD_SHIFT_LAT;
    let z = (x * x + y * y).sqrt() - 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * BD_X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

/// WGS-84 → BD-09 with no mainland test.
fn wgs84_to_bd09_raw(lon: f64, lat: f64) -> (f64, f64) {
    let (g_lon, g_lat) = wgs84_to_gcj02_raw(lon, lat);
    gcj02_to_bd09_raw(g_lon, g_lat)
}

/// Solves `forward(p) = target` from `guess` by the fixed-point correction
/// `p ← p − (forward(p) − target)`, until a correction is below [`INVERSE_TOLERANCE`] in
/// both coordinates or after [`INVERSE_MAX_ITERATIONS`]. Returns `target` unchanged if
/// the result is not finite (which finite input in mainland China never gives).
fn invert(target: (f64, f64), guess: (f64, f64), forward: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let (mut lon, mut lat) = guess;
    for _ in 0..INVERSE_MAX_ITERATIONS {
        let (f_lon, f_lat) = forward(lon, lat);
        let (err_lon, err_lat) = (f_lon - target.0, f_lat - target.1);
        lon -= err_lon;
        lat -= err_lat;
        if err_lon.abs() < INVERSE_TOLERANCE && err_lat.abs() < INVERSE_TOLERANCE {
            break;
        }
    }
    if lon.is_finite() && lat.is_finite() { (lon, lat) } else { target }
}

/// Even-odd point-in-polygon test; `ring` holds the vertices as flat `lon, lat` pairs,
/// the closing edge implied.
fn in_ring(lon: f64, lat: f64, ring: &[f64]) -> bool {
    let n = ring.len() / 2;
    let mut inside = false;
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (xi, yi) = (ring[2 * i], ring[2 * i + 1]);
        let (xj, yj) = (ring[2 * j], ring[2 * j + 1]);
        if (yi > lat) != (yj > lat) && lon < xi + (lat - yi) / (yj - yi) * (xj - xi) {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The usual bounding box of China, the first filter of [`in_mainland_china`].
const BOX_MIN_LON: f64 = 72.004;
const BOX_MAX_LON: f64 = 137.8347;
const BOX_MIN_LAT: f64 = 0.8293;
const BOX_MAX_LAT: f64 = 55.8271;

// The polygons below hold flat `lon, lat` pairs in degrees (WGS-84, to 0.001°); the
// closing edge is implied. A point is in mainland China if it is in one of INCLUSIONS
// and in none of EXCLUSIONS.

/// Mainland China with Hainan, about 390 vertices. The land borders (from the mouth of
/// the Beilun River at Dongxing westward round to the Yalu at Dandong) are the Natural
/// Earth 1:10m boundary simplified so that no Chinese land is cut off (segments lie
/// outside every original vertex) while cutting corners through foreign land by at most
/// 0.2°, then pushed about 2 km outward. The coast, from Dandong to Dongxing, is drawn
/// by hand 10–50 km offshore, round all the Chinese islands of the Natural Earth data
/// except the Spratlys, and clear of Korean, Japanese and Vietnamese islands. Hong Kong,
/// Macau, Kinmen and Matsu lie inside and are cut out by EXCLUSIONS; Taiwan and Penghu
/// lie outside it.
#[rustfmt::skip]
const MAINLAND: &[f64] = &[
    107.988, 21.466, 107.34, 21.58, 106.641, 21.949, 106.504, 22.439, 106.558, 22.606,
    106.744, 22.782, 105.847, 22.885, 105.537, 23.044, 105.293, 23.333, 105.233, 23.253,
    104.728, 22.81, 104.341, 22.665, 104.098, 22.765, 103.968, 22.472, 103.651, 22.767,
    103.527, 22.568, 103.475, 22.562, 103.324, 22.754, 103.16, 22.525, 103.033, 22.406,
    102.892, 22.459, 102.52, 22.68, 102.468, 22.736, 102.23, 22.392, 101.863, 22.359,
    101.715, 22.441, 101.829, 21.608, 101.847, 21.229, 101.782, 21.133, 101.72, 21.114,
    101.264, 21.154, 101.189, 21.238, 101.104, 21.727, 100.63, 21.45, 100.18, 21.408,
    100.081, 21.495, 99.93, 21.712, 99.895, 21.827, 99.918, 22.019, 99.821, 21.998,
    99.244, 22.083, 99.118, 22.142, 99.288, 22.753, 99.399, 22.95, 99.471, 22.956,
    98.841, 23.164, 98.643, 23.794, 98.635, 23.97, 98.809, 24.116, 97.618, 23.824,
    97.494, 23.934, 97.49, 24.462, 97.516, 24.75, 97.782, 25.249, 98.124, 25.626,
    98.502, 25.857, 98.646, 25.869, 98.554, 25.986, 98.523, 26.087, 98.654, 27.553,
    98.327, 27.502, 98.278, 27.52, 97.666, 28.477, 97.452, 28.271, 97.329, 28.194,
    96.883, 28.338, 96.696, 28.56, 96.489, 28.39, 96.402, 28.514, 96.414, 28.618,
    96.545, 28.802, 96.175, 29.015, 96.148, 29.113, 96.287, 29.241, 96.275, 29.223,
    95.28, 29.032, 94.765, 29.149, 94.602, 29.286, 94.266, 28.917, 93.73, 28.677,
    93.331, 28.586, 92.642, 27.9, 92.449, 27.805, 92.309, 27.767, 91.955, 27.705,
    91.622, 27.74, 91.287, 28.066, 91.054, 27.942, 90.465, 28.055, 90.074, 28.318,
    89.009, 27.312, 88.886, 27.294, 88.74, 27.425, 88.595, 28.069, 88.514, 28.012,
    88.127, 27.841, 87.729, 27.788, 87.366, 27.785, 87.148, 27.807, 86.725, 28.006,
    86.676, 28.073, 86.51, 27.921, 86.424, 27.887, 86.186, 27.988, 86.159, 28.096,
    86.136, 27.915, 86.068, 27.869, 85.951, 27.871, 85.694, 28.236, 85.681, 28.291,
    85.62, 28.23, 85.1, 28.273, 85.059, 28.309, 85.055, 28.44, 85.119, 28.564,
    84.921, 28.516, 84.793, 28.526, 84.438, 28.717, 84.216, 28.889, 84.077, 29.233,
    83.638, 29.135, 83.512, 29.166, 82.135, 30.047, 82.063, 30.228, 82.066, 30.311,
    81.505, 30.309, 81.406, 30.346, 81.374, 30.149, 81.229, 29.987, 81.088, 29.997,
    79.385, 31.008, 79.263, 31.126, 79.074, 31.392, 78.989, 31.302, 78.793, 31.267,
    78.725, 31.294, 78.356, 32.532, 78.392, 32.575, 78.723, 32.661, 78.949, 32.376,
    79.472, 32.717, 78.776, 33.486, 78.696, 33.995, 78.708, 34.086, 78.915, 34.342,
    78.319, 34.578, 78.252, 34.649, 77.975, 35.266, 78.012, 35.457, 77.886, 35.41,
    77.38, 35.453, 76.887, 35.57, 76.153, 35.79, 75.877, 36.056, 75.827, 36.628,
    75.426, 36.705, 74.862, 36.889, 74.505, 37.014, 74.343, 37.139, 74.343, 37.179,
    74.49, 37.25, 75.115, 37.409, 74.87, 37.588, 74.745, 38.195, 74.749, 38.313,
    74.802, 38.437, 73.923, 38.509, 73.778, 38.59, 73.659, 38.85, 73.575, 39.236,
    73.608, 39.454, 73.954, 40.057, 74.825, 40.53, 75.575, 40.656, 75.693, 40.455,
    75.706, 40.318, 76.285, 40.458, 76.331, 40.39, 76.744, 40.958, 76.849, 41.031,
    77.002, 41.065, 77.832, 41.083, 78.062, 41.061, 78.341, 41.392, 78.645, 41.55,
    79.835, 42.022, 80.203, 42.052, 80.114, 42.649, 80.348, 43.043, 80.609, 43.153,
    80.748, 43.165, 80.617, 43.318, 80.312, 44.119, 80.327, 44.665, 80.424, 44.707,
    79.979, 44.775, 79.81, 44.866, 79.834, 44.916, 80.09, 45.05, 81.665, 45.368,
    82.306, 45.246, 82.484, 45.17, 82.261, 45.532, 82.999, 47.224, 83.127, 47.239,
    84.679, 47.002, 84.78, 46.925, 84.773, 46.854, 85.216, 47.061, 85.47, 47.07,
    85.487, 47.947, 85.557, 48.148, 85.693, 48.369, 85.767, 48.425, 86.539, 48.544,
    86.684, 48.978, 86.843, 49.125, 87.839, 49.187, 88.092, 48.706, 87.993, 48.585,
    88.319, 48.487, 88.594, 48.354, 88.622, 48.214, 89.552, 48.049, 90.064, 47.897,
    90.369, 47.67, 90.911, 46.953, 91.032, 46.746, 91.076, 46.568, 91.032, 46.019,
    90.906, 45.213, 91.056, 45.238, 93.172, 45.028, 93.533, 44.969, 95.42, 44.295,
    96.358, 42.896, 96.381, 42.747, 97.191, 42.807, 100.02, 42.696, 101.534, 42.557,
    103.115, 42.012, 103.694, 41.78, 104.507, 41.892, 104.974, 41.613, 105.187, 41.76,
    105.857, 42.012, 106.76, 42.305, 110.389, 42.787, 110.427, 42.849, 110.954, 43.331,
    111.743, 43.682, 111.891, 43.709, 111.369, 44.341, 111.377, 44.421, 111.527, 44.702,
    111.739, 45.003, 111.951, 45.104, 112.419, 45.085, 113.626, 44.769, 114.507, 45.398,
    114.697, 45.447, 115.653, 45.473, 116.585, 46.326, 117.385, 46.59, 118.265, 46.743,
    118.847, 46.786, 119.817, 46.683, 119.673, 47.149, 118.745, 47.743, 118.464, 47.965,
    117.357, 47.628, 116.819, 47.855, 115.913, 47.663, 115.833, 47.69, 115.55, 47.901,
    115.481, 48.134, 116.667, 49.85, 117.836, 49.533, 118.629, 49.972, 119.276, 50.105,
    119.1, 50.382, 120.072, 51.671, 120.741, 52.121, 120.59, 52.346, 120.682, 52.526,
    120.025, 52.582, 120.0, 52.767, 120.042, 52.797, 120.827, 53.291, 122.31, 53.516,
    123.276, 53.589, 123.619, 53.584, 125.142, 53.224, 125.641, 53.079, 126.117, 52.787,
    126.588, 52.138, 127.622, 50.211, 127.573, 49.805, 128.68, 49.63, 129.495, 49.44,
    130.704, 48.883, 130.989, 47.727, 131.416, 47.763, 132.335, 47.757, 132.509, 47.731,
    132.665, 47.972, 133.079, 48.125, 134.2, 48.379, 134.388, 48.402, 134.556, 48.376,
    134.748, 48.274, 134.803, 47.706, 134.578, 47.457, 134.214, 47.317, 134.255, 47.116,
    133.929, 46.252, 133.14, 45.11, 132.961, 45.002, 131.933, 45.222, 131.853, 45.302,
    131.63, 45.076, 131.451, 44.943, 130.977, 44.831, 131.091, 44.689, 131.29, 44.056,
    131.308, 43.378, 131.128, 42.899, 131.005, 42.83, 130.461, 42.725, 130.596, 42.632,
    130.615, 42.563, 130.538, 42.507, 130.415, 42.544, 129.936, 42.953, 129.936, 42.982,
    129.727, 42.431, 128.914, 42.006, 128.503, 41.975, 128.077, 41.974, 128.334, 41.583,
    128.159, 41.354, 127.632, 41.41, 127.123, 41.504, 126.743, 41.698, 126.759, 41.706,
    126.544, 41.341, 126.024, 40.884, 124.383, 40.081, 124.366, 40.06, 124.366, 40.012,
    124.32, 39.955, 124.3, 39.925, 124.25, 39.885, 124.19, 39.845, 124.12, 39.8,
    123.6, 39.55, 123.4, 39.05, 122.6, 38.75, 121.2, 38.55, 121.1, 38.35,
    122.3, 37.75, 122.9, 37.45, 122.85, 36.9, 121.0, 35.8, 119.9, 34.8,
    121.3, 33.0, 122.3, 31.9, 123.0, 31.0, 123.0, 29.7, 122.5, 28.5,
    121.6, 27.4, 120.8, 26.6, 120.35, 25.8, 120.0, 25.3, 119.75, 25.0,
    118.9, 24.3, 117.8, 23.4, 116.8, 22.7, 115.5, 22.4, 114.5, 21.85,
    113.3, 21.7, 112.0, 21.3, 111.3, 20.6, 111.4, 19.6, 110.3, 17.95,
    109.3, 17.85, 108.3, 18.6, 108.3, 19.5, 108.6, 20.6, 108.4, 21.2,
    108.1, 21.42, 107.955, 21.425,
];

/// A box round the Paracel Islands (Xisha).
const PARACEL_ISLANDS: &[f64] = &[111.0, 15.6, 111.0, 17.2, 113.0, 17.2, 113.0, 15.6];

/// Hong Kong with its waters. The northern edge follows the Shenzhen River (from Natural
/// Earth) and the Sha Tau Kok River to Chung Ying Street, then runs through Starling
/// Inlet and Mirs Bay north of Kat O and Tung Ping Chau but west of the Dapeng
/// peninsula; in Deep Bay it runs mid-channel off Shekou; in the west it leaves
/// Neilingding island to Shenzhen; in the south it stops at 22.14° N, north of the
/// Wanshan islands.
#[rustfmt::skip]
const HONG_KONG: &[f64] = &[
    114.047, 22.5045, 114.0581, 22.5125, 114.0725, 22.5195, 114.0833, 22.5296,
    114.0905, 22.5346, 114.1085, 22.5346, 114.1157, 22.5288, 114.1301, 22.538,
    114.1373, 22.5397, 114.1481, 22.538, 114.1553, 22.5515, 114.1625, 22.5599,
    114.1733, 22.5633, 114.1841, 22.5566, 114.1985, 22.5566, 114.2095, 22.553,
    114.219, 22.549, 114.2235, 22.5475, 114.2255, 22.5435, 114.235, 22.548,
    114.26, 22.556, 114.3, 22.562, 114.35, 22.566, 114.42, 22.565,
    114.445, 22.55, 114.45, 22.5, 114.48, 22.42, 114.5, 22.3,
    114.5, 22.14, 113.82, 22.14, 113.82, 22.3, 113.9, 22.42,
    113.925, 22.455, 113.965, 22.49, 114.0, 22.502, 114.03, 22.5035,
];

/// Macau with its waters: the peninsula up to the Border Gate and Qingmao, the inner
/// harbour mid-channel off Wanzai, Taipa, Cotai and Coloane up to the channel to Hengqin.
#[rustfmt::skip]
const MACAU: &[f64] = &[
    113.528, 22.187, 113.53, 22.205, 113.533, 22.214, 113.538, 22.218,
    113.5465, 22.2163, 113.556, 22.218, 113.575, 22.215, 113.6, 22.2,
    113.6, 22.1, 113.55, 22.095, 113.54, 22.105, 113.54, 22.145,
    113.541, 22.165, 113.535, 22.178,
];

/// Taiwan with Penghu, Green Island, Orchid Island, Xiaoliuqiu and Pengjia, generously.
#[rustfmt::skip]
const TAIWAN_PENGHU: &[f64] = &[
    119.2, 23.0, 119.2, 23.9, 120.0, 24.6, 121.0, 25.5,
    121.8, 25.5, 122.2, 25.75, 122.3, 25.2, 122.1, 24.0,
    121.8, 21.9, 121.0, 21.7, 120.5, 21.8, 119.8, 22.5,
];

/// Greater and Lesser Kinmen (Lieyu), east of Xiamen island and south of Dadeng.
#[rustfmt::skip]
const KINMEN: &[f64] = &[
    118.205, 24.4, 118.205, 24.465, 118.28, 24.5, 118.4, 24.537,
    118.5, 24.52, 118.52, 24.42, 118.42, 24.375, 118.3, 24.37,
];

/// Dadan and Erdan, Kinmen's islets off the south of Xiamen island.
#[rustfmt::skip]
const KINMEN_DADAN_ERDAN: &[f64] = &[
    118.125, 24.36, 118.125, 24.4, 118.18, 24.4, 118.18, 24.36,
];

/// Wuqiu, administered from Kinmen, south of Nanri island.
#[rustfmt::skip]
const KINMEN_WUQIU: &[f64] = &[
    119.42, 24.96, 119.42, 25.01, 119.49, 25.01, 119.49, 24.96,
];

/// The Matsu Islands Nangan, Beigan, Gaodeng and Juguang, off the Minjiang estuary.
#[rustfmt::skip]
const MATSU: &[f64] = &[
    119.87, 25.92, 119.87, 26.19, 119.96, 26.3, 120.07, 26.3,
    120.07, 25.92,
];

/// Dongyin, the northernmost of the Matsu Islands.
#[rustfmt::skip]
const MATSU_DONGYIN: &[f64] = &[
    120.44, 26.33, 120.44, 26.4, 120.54, 26.4, 120.54, 26.33,
];

/// Where GCJ-02 applies, before the exclusions.
const INCLUSIONS: [&[f64]; 2] = [MAINLAND, PARACEL_ISLANDS];

/// Cut out of the inclusions.
const EXCLUSIONS: [&[f64]; 8] =
    [HONG_KONG, MACAU, TAIWAN_PENGHU, KINMEN, KINMEN_DADAN_ERDAN, KINMEN_WUQIU, MATSU, MATSU_DONGYIN];

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean Earth radius, metres.
    const EARTH_RADIUS_M: f64 = 6_371_008.8;

    /// Great-circle distance in metres between two `(lon, lat)` points in degrees.
    fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
        let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
        let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }

    fn assert_close(got: (f64, f64), want: (f64, f64), tol: f64, what: &str) {
        assert!(
            (got.0 - want.0).abs() <= tol && (got.1 - want.1).abs() <= tol,
            "{what}: got {got:?}, want {want:?} (tolerance {tol:e}°)"
        );
    }

    const VECTOR_TOL: f64 = 1e-9;

    #[test]
    fn published_wgs84_to_gcj02_vectors() {
        let vectors = [
            ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
            ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
            ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
        ];
        for (wgs, gcj) in vectors {
            assert_close(wgs84_to_gcj02(wgs.0, wgs.1), gcj, VECTOR_TOL, "wgs84→gcj02");
            assert_close(from_wgs84(Crs::Gcj02, wgs.0, wgs.1), gcj, VECTOR_TOL, "from_wgs84");
            assert_close(gcj02_to_wgs84(gcj.0, gcj.1), wgs, VECTOR_TOL, "gcj02→wgs84");
            assert_close(to_wgs84(Crs::Gcj02, gcj.0, gcj.1), wgs, VECTOR_TOL, "to_wgs84");
        }
    }

    #[test]
    fn published_gcj02_to_bd09_vector() {
        let gcj = (116.404, 39.915);
        let bd = (116.41036949371029, 39.92133699351021);
        assert_close(gcj02_to_bd09(gcj.0, gcj.1), bd, VECTOR_TOL, "gcj02→bd09");
        assert_close(bd09_to_gcj02(bd.0, bd.1), gcj, VECTOR_TOL, "bd09→gcj02");
        // Through WGS-84 as well: wgs84→bd09 is gcj02→bd09 after wgs84→gcj02.
        let wgs = gcj02_to_wgs84(gcj.0, gcj.1);
        assert_close(wgs84_to_bd09(wgs.0, wgs.1), bd, VECTOR_TOL, "wgs84→bd09");
        assert_close(bd09_to_wgs84(bd.0, bd.1), wgs, VECTOR_TOL, "bd09→wgs84");
        assert_close(to_wgs84(Crs::Bd09, bd.0, bd.1), wgs, VECTOR_TOL, "to_wgs84");
        assert_close(from_wgs84(Crs::Bd09, wgs.0, wgs.1), bd, VECTOR_TOL, "from_wgs84");
    }

    #[test]
    fn one_step_inverse_is_not_enough() {
        // The reason for iterating: subtracting the offset taken at the GCJ-02 point
        // misses by up to metres (about 4 m in the far north-east).
        let mut one_step_worst = 0.0_f64;
        let mut iterated_worst = 0.0_f64;
        for p in mainland_grid() {
            let (lon, lat) = wgs84_to_gcj02(p.0, p.1);
            let (d_lon, d_lat) = gcj02_offset(lon, lat);
            one_step_worst = one_step_worst.max(haversine_m((lon - d_lon, lat - d_lat), p));
            iterated_worst = iterated_worst.max(haversine_m(gcj02_to_wgs84(lon, lat), p));
        }
        assert!(one_step_worst > 2.0, "one-step inverse missed by only {one_step_worst} m");
        assert!(iterated_worst < 1e-3, "iterated inverse missed by {iterated_worst} m");
    }

    /// A 0.5° grid over the inclusion region, the points in mainland China.
    fn mainland_grid() -> Vec<(f64, f64)> {
        let mut points = Vec::new();
        for i in 0..=140 {
            for j in 0..=80 {
                let (lon, lat) = (70.0 + 0.5 * f64::from(i), 15.0 + 0.5 * f64::from(j));
                if in_mainland_china(lon, lat) {
                    points.push((lon, lat));
                }
            }
        }
        points
    }

    /// Checks `back(there(p)) ≈ p` within 0.5 m over the grid, skipping points whose
    /// image falls outside mainland China (within about a kilometre of a border, where
    /// round trips are not promised). Returns the largest error in metres.
    fn check_round_trip(name: &str, there: fn(f64, f64) -> (f64, f64), back: fn(f64, f64) -> (f64, f64)) -> f64 {
        let grid = mainland_grid();
        let mut tested = 0;
        let mut worst = (0.0_f64, (0.0, 0.0));
        for &p in &grid {
            let image = there(p.0, p.1);
            assert!(haversine_m(p, image) > 10.0, "{name}: {p:?} did not shift ({image:?})");
            if !in_mainland_china(image.0, image.1) {
                continue;
            }
            tested += 1;
            let error = haversine_m(back(image.0, image.1), p);
            if error > worst.0 {
                worst = (error, p);
            }
        }
        assert!(
            tested + 10 >= grid.len() && tested > 3000,
            "{name}: only {tested} of {} grid points tested",
            grid.len()
        );
        assert!(worst.0 < 0.5, "{name}: round trip off by {} m at {:?}", worst.0, worst.1);
        worst.0
    }

    #[test]
    fn round_trips_over_mainland_grid() {
        let max_error = [
            check_round_trip("wgs→gcj→wgs", wgs84_to_gcj02, gcj02_to_wgs84),
            check_round_trip("gcj→wgs→gcj", gcj02_to_wgs84, wgs84_to_gcj02),
            check_round_trip("wgs→bd→wgs", wgs84_to_bd09, bd09_to_wgs84),
            check_round_trip("bd→wgs→bd", bd09_to_wgs84, wgs84_to_bd09),
            check_round_trip("gcj→bd→gcj", gcj02_to_bd09, bd09_to_gcj02),
            check_round_trip("bd→gcj→bd", bd09_to_gcj02, gcj02_to_bd09),
        ]
        .into_iter()
        .fold(0.0_f64, f64::max);
        // Far below the 0.5 m required: the iteration converges to 1e-10°.
        assert!(max_error < 1e-3, "max round-trip error {max_error} m");
    }

    #[test]
    fn bd09_to_wgs84_agrees_with_two_steps() {
        for p in mainland_grid().into_iter().step_by(37) {
            let bd = wgs84_to_bd09(p.0, p.1);
            let (g_lon, g_lat) = bd09_to_gcj02(bd.0, bd.1);
            let two_steps = gcj02_to_wgs84(g_lon, g_lat);
            assert!(haversine_m(bd09_to_wgs84(bd.0, bd.1), two_steps) < 1e-3);
        }
    }

    const MAINLAND_POINTS: [(&str, f64, f64); 29] = [
        ("Beijing", 116.404, 39.915),
        ("Shanghai", 121.47, 31.23),
        ("Shanghai Pudong", 121.5272106, 31.1774276),
        ("Ürümqi", 87.6, 43.8),
        ("Lhasa", 91.1, 29.65),
        ("Harbin", 126.6, 45.75),
        ("Sanya", 109.5, 18.25),
        ("Shenzhen Nanshan", 113.912316, 22.543847),
        ("Shenzhen Futian", 114.055, 22.540),
        ("Shenzhen Luohu", 114.12, 22.548),
        ("Shenzhen Yantian", 114.27, 22.575),
        ("Shenzhen Nan'ao", 114.47, 22.53),
        ("Zhuhai Gongbei", 113.55, 22.225),
        ("Zhuhai Hengqin", 113.50, 22.12),
        ("Xiamen island", 118.09, 24.48),
        ("Pingtan", 119.79, 25.50),
        ("Nanri island", 119.48, 25.22),
        ("Fuzhou", 119.30, 26.08),
        ("Dandong", 124.38, 40.13),
        ("Hunchun", 130.37, 42.87),
        ("Heihe", 127.49, 50.25),
        ("Manzhouli", 117.43, 49.6),
        ("Erenhot", 111.98, 43.65),
        ("Khorgos", 80.42, 44.21),
        ("Ruili", 97.85, 24.01),
        ("Hekou", 103.95, 22.51),
        ("Dongxing", 107.97, 21.55),
        ("Mohe", 122.53, 52.97),
        ("Woody Island (Paracels)", 112.33, 16.83),
    ];

    const OUTSIDE_POINTS: [(&str, f64, f64); 28] = [
        ("Hong Kong Central", 114.158, 22.285),
        ("Hong Kong Tsim Sha Tsui", 114.172, 22.297),
        ("Hong Kong Tuen Mun", 113.97, 22.39),
        ("Hong Kong airport, Lantau", 113.915, 22.308),
        ("Hong Kong Sha Tau Kok", 114.22, 22.545),
        ("Hong Kong Tung Ping Chau", 114.43, 22.545),
        ("Macau Senado Square", 113.539, 22.193),
        ("Macau Taipa", 113.556, 22.157),
        ("Macau Coloane", 113.56, 22.12),
        ("Taipei", 121.565, 25.033),
        ("Kaohsiung", 120.30, 22.62),
        ("Hualien", 121.60, 23.98),
        ("Penghu Magong", 119.57, 23.57),
        ("Kinmen", 118.32, 24.44),
        ("Lesser Kinmen", 118.24, 24.43),
        ("Matsu Nangan", 119.94, 26.16),
        ("Matsu Beigan", 120.0, 26.22),
        ("Matsu Dongyin", 120.49, 26.37),
        ("Seoul", 126.98, 37.57),
        ("Pyongyang", 125.75, 39.03),
        ("Jeju", 126.53, 33.5),
        ("Tokyo", 139.7, 35.7),
        ("Yonaguni", 122.99, 24.46),
        ("Hanoi", 105.85, 21.03),
        ("Haiphong", 106.68, 20.86),
        ("Ulaanbaatar", 106.9, 47.9),
        ("Vladivostok", 131.9, 43.12),
        ("Kathmandu", 85.32, 27.7),
    ];

    #[test]
    fn mainland_points_shift() {
        for (name, lon, lat) in MAINLAND_POINTS {
            assert!(in_mainland_china(lon, lat), "{name} should be mainland");
            let gcj = wgs84_to_gcj02(lon, lat);
            let bd = wgs84_to_bd09(lon, lat);
            assert!(haversine_m((lon, lat), gcj) > 10.0, "{name}: no GCJ-02 shift");
            assert!(haversine_m((lon, lat), bd) > 10.0, "{name}: no BD-09 shift");
        }
    }

    #[test]
    fn outside_points_do_not_shift() {
        type Conversion = fn(f64, f64) -> (f64, f64);
        let conversions: [(&str, Conversion); 6] = [
            ("wgs84_to_gcj02", wgs84_to_gcj02),
            ("gcj02_to_wgs84", gcj02_to_wgs84),
            ("gcj02_to_bd09", gcj02_to_bd09),
            ("bd09_to_gcj02", bd09_to_gcj02),
            ("wgs84_to_bd09", wgs84_to_bd09),
            ("bd09_to_wgs84", bd09_to_wgs84),
        ];
        for (name, lon, lat) in OUTSIDE_POINTS {
            assert!(!in_mainland_china(lon, lat), "{name} should not be mainland");
            for (f_name, f) in conversions {
                assert_eq!(f(lon, lat), (lon, lat), "{f_name} shifted {name}");
            }
            for crs in Crs::ALL {
                assert_eq!(to_wgs84(crs, lon, lat), (lon, lat), "to_wgs84({crs}) {name}");
                assert_eq!(from_wgs84(crs, lon, lat), (lon, lat), "from_wgs84({crs}) {name}");
            }
        }
    }

    #[test]
    fn wgs84_is_identity_everywhere() {
        for (_, lon, lat) in MAINLAND_POINTS {
            assert_eq!(to_wgs84(Crs::Wgs84, lon, lat), (lon, lat));
            assert_eq!(from_wgs84(Crs::Wgs84, lon, lat), (lon, lat));
        }
    }

    #[test]
    fn non_finite_input_is_returned_unchanged() {
        type Conversion = fn(f64, f64) -> (f64, f64);
        let conversions: [Conversion; 6] =
            [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84];
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        let mut inputs = Vec::new();
        for s in specials {
            inputs.extend([(s, 39.915), (116.404, s), (s, s)]);
        }
        // Finite but absurd values are simply outside mainland China.
        inputs.extend([(f64::MAX, f64::MAX), (-1e300, 1e300), (116.404, 1e300)]);
        let same = |a: (f64, f64), b: (f64, f64)| a.0.to_bits() == b.0.to_bits() && a.1.to_bits() == b.1.to_bits();
        for p in inputs {
            assert!(!in_mainland_china(p.0, p.1), "{p:?}");
            for f in conversions {
                assert!(same(f(p.0, p.1), p), "{p:?}");
            }
            for crs in Crs::ALL {
                assert!(same(to_wgs84(crs, p.0, p.1), p), "{crs} {p:?}");
                assert!(same(from_wgs84(crs, p.0, p.1), p), "{crs} {p:?}");
            }
        }
    }

    #[test]
    fn parses_names_case_insensitively() {
        let cases = [
            ("wgs84", Crs::Wgs84),
            ("WGS84", Crs::Wgs84),
            ("Wgs84", Crs::Wgs84),
            ("gcj02", Crs::Gcj02),
            ("GCJ02", Crs::Gcj02),
            ("bd09", Crs::Bd09),
            ("BD09", Crs::Bd09),
            ("bD09", Crs::Bd09),
        ];
        for (name, crs) in cases {
            assert_eq!(name.parse::<Crs>(), Ok(crs), "{name}");
        }
        for crs in Crs::ALL {
            assert_eq!(crs.to_string(), crs.as_str());
            assert_eq!(crs.as_str().parse::<Crs>(), Ok(crs));
        }
        assert_eq!(Crs::default(), Crs::Wgs84);
    }

    #[test]
    fn rejects_other_names() {
        for name in ["", "wgs", "wgs-84", "WGS 84", " wgs84", "wgs84 ", "gcj-02", "bd-09", "bd09ll", "epsg:4326", "gcj"]
        {
            let err = name.parse::<Crs>();
            assert_eq!(err, Err(UnknownCrs(name.to_owned())), "{name:?}");
        }
        let message = UnknownCrs("mars".to_owned()).to_string();
        assert!(message.contains("\"mars\""), "{message}");
        assert!(message.contains("wgs84, gcj02 or bd09"), "{message}");
        let boxed: Box<dyn Error> = Box::new(UnknownCrs("x".to_owned()));
        assert!(boxed.source().is_none());
    }
}

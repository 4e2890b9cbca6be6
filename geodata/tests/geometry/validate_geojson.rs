//! Reading and validating GeoJSON layers: every check of `geodata::validate` and
//! `geodata::geojson`, each exercised on a small hand-built hierarchy.
//!
//! The fixture is a city, a county, a township and a community near 118.3° E, 33.9° N,
//! the community a square of about 1 km split into four grids. Everything is drawn in
//! "metres" east and north of that origin on a 500 m lattice, and every rectangle carries
//! a vertex at every lattice point of its boundary, so neighbours share their edges vertex
//! for vertex and no result depends on how the library maps degrees to metres. Faults are
//! added as thin triangles whose base is an existing shared edge, so the area they add is
//! exactly the triangle's; areas are checked against an independent computation.

use geo::{Area, Coord, LineString, Polygon};
use geodata::geojson::write_layer;
use geodata::{Checked, Level, Problem, ProblemKind, Report, Severity, Tolerances, check_geojson, check_layer};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------

const LON0: f64 = 118.3;
const LAT0: f64 = 33.9;
/// Approximate metres per degree of longitude and latitude at 33.9° N.
const M_PER_DEG_LON: f64 = 92_500.0;
const M_PER_DEG_LAT: f64 = 111_000.0;
/// Rectangles carry a vertex at every multiple of this many metres along their edges.
const STEP: f64 = 500.0;

const CITY: &str = "321300";
const COUNTY: &str = "321302";
const TOWNSHIP: &str = "321302001";
const COMMUNITY: &str = "321302001001";
const GRID1: &str = "321302001001001";
const GRID2: &str = "321302001001002";
const GRID3: &str = "321302001001003";
const GRID4: &str = "321302001001004";
/// A grid code that the base fixture does not use, for extra (faulty) features.
const EXTRA: &str = "321302001001009";

/// Positions of the base features in `features`.
const I_CITY: usize = 0;
const I_COUNTY: usize = 1;
const I_COMMUNITY: usize = 3;
const I_GRID2: usize = 5;
const I_GRID3: usize = 6;
const I_GRID4: usize = 7;
/// The position of a feature pushed after the base ones.
const I_EXTRA: usize = 8;

/// Roughly 0.2 m² for a triangle on a 500 m base: ½ · 500 m · 0.8 mm.
const SLIVER_M: f64 = 0.0008;

/// A position [lon, lat] `x` metres east and `y` metres north of the origin.
fn pos(x: f64, y: f64) -> [f64; 2] {
    [LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT]
}

/// A closed ring through points given in metres, in the order given.
fn ring(points: &[(f64, f64)]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = points.iter().map(|&(x, y)| pos(x, y)).collect();
    out.push(out[0]);
    out
}

/// Multiples of `STEP` strictly between `a` and `b`, in the order from `a` to `b`.
fn lattice_between(a: f64, b: f64) -> Vec<f64> {
    let (lo, hi) = (a.min(b), a.max(b));
    let mut v: Vec<f64> = ((lo / STEP).floor() as i64 + 1..)
        .map(|k| k as f64 * STEP)
        .take_while(|&m| m < hi)
        .filter(|&m| m > lo)
        .collect();
    if a > b {
        v.reverse();
    }
    v
}

/// The corners and lattice points of a rectangle, counter-clockwise from (x0, y0), unclosed.
fn rect_points(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<(f64, f64)> {
    let mut pts = vec![(x0, y0)];
    pts.extend(lattice_between(x0, x1).into_iter().map(|x| (x, y0)));
    pts.push((x1, y0));
    pts.extend(lattice_between(y0, y1).into_iter().map(|y| (x1, y)));
    pts.push((x1, y1));
    pts.extend(lattice_between(x1, x0).into_iter().map(|x| (x, y1)));
    pts.push((x0, y1));
    pts.extend(lattice_between(y1, y0).into_iter().map(|y| (x0, y)));
    pts
}

/// A counter-clockwise closed rectangle ring with a vertex at every lattice point of its edges.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    ring(&rect_points(x0, y0, x1, y1))
}

/// The same ring, traversed the other way.
fn reversed(mut r: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    r.reverse();
    r
}

/// A Feature with `code` and `name` and a Polygon of the given rings.
fn feature(code: &str, name: &str, rings: Vec<Vec<[f64; 2]>>) -> Value {
    feature_with_geometry(code, name, json!({ "type": "Polygon", "coordinates": rings }))
}

/// A Feature with `code` and `name` and any geometry value.
fn feature_with_geometry(code: &str, name: &str, geometry: Value) -> Value {
    json!({
        "type": "Feature",
        "properties": { "code": code, "name": name },
        "geometry": geometry,
    })
}

/// A FeatureCollection of these features, as text.
fn collection(features: Vec<Value>) -> String {
    json!({ "type": "FeatureCollection", "features": features }).to_string()
}

/// City, county, township, community (all but the city the same 1 km square) and four
/// grids quartering the community: 001 NW, 002 NE, 003 SW, 004 SE.
fn base() -> Vec<Value> {
    vec![
        feature(CITY, "宿迁市", vec![rect(-500.0, -500.0, 1500.0, 1500.0)]),
        feature(COUNTY, "宿城区", vec![rect(0.0, 0.0, 1000.0, 1000.0)]),
        feature(TOWNSHIP, "项里街道", vec![rect(0.0, 0.0, 1000.0, 1000.0)]),
        feature(COMMUNITY, "项里社区", vec![rect(0.0, 0.0, 1000.0, 1000.0)]),
        feature(GRID1, "第1网格", vec![rect(0.0, 500.0, 500.0, 1000.0)]),
        feature(GRID2, "第2网格", vec![rect(500.0, 500.0, 1000.0, 1000.0)]),
        feature(GRID3, "第3网格", vec![rect(0.0, 0.0, 500.0, 500.0)]),
        feature(GRID4, "第4网格", vec![rect(500.0, 0.0, 1000.0, 500.0)]),
    ]
}

/// Grid 004 (the SE quarter) with a `w` × `w` metre square hole at (700, 200).
fn grid4_with_hole(w: f64) -> Value {
    feature(GRID4, "第4网格", vec![rect(500.0, 0.0, 1000.0, 500.0), reversed(rect(700.0, 200.0, 700.0 + w, 200.0 + w))])
}

/// Grid 003 (the SW quarter) whose east edge bulges `w` metres into grid 004 (a triangle
/// on the whole 500 m edge).
fn grid3_bulging_east(w: f64) -> Value {
    feature(GRID3, "第3网格", vec![ring(&[(0.0, 0.0), (500.0, 0.0), (500.0 + w, 250.0), (500.0, 500.0), (0.0, 500.0)])])
}

/// Grid 004 whose east edge bulges `w` metres out of the community.
fn grid4_bulging_east(w: f64) -> Value {
    feature(
        GRID4,
        "第4网格",
        vec![ring(&[(500.0, 0.0), (1000.0, 0.0), (1000.0 + w, 250.0), (1000.0, 500.0), (500.0, 500.0)])],
    )
}

/// The area in m² of the triangle a bulge of `w` metres on a 500 m edge at `x` adds,
/// measured independently of the library's own area code path (geo on projected points).
fn bulge_area_m2(x: f64, w: f64) -> f64 {
    area_m2(&ring(&[(x, 0.0), (x + w, 250.0), (x, 500.0)]))
}

/// The area in m² of a ring given in degrees, computed here without the library: an
/// equirectangular plane at the fixture's centre with the GRS80 radii of curvature (good
/// to about 1e-5 over a few kilometres).
fn area_m2(ring: &[[f64; 2]]) -> f64 {
    const A: f64 = 6_378_137.0;
    const F: f64 = 1.0 / 298.257_222_101;
    let e2 = F * (2.0 - F);
    let phi = (LAT0 + 500.0 / M_PER_DEG_LAT).to_radians();
    let w = (1.0 - e2 * phi.sin().powi(2)).sqrt();
    let (kx, ky) = ((A * phi.cos() / w).to_radians(), (A * (1.0 - e2) / w.powi(3)).to_radians());
    let coords: Vec<Coord<f64>> =
        ring.iter().map(|&[lon, lat]| Coord { x: (lon - LON0) * kx, y: (lat - LAT0) * ky }).collect();
    Polygon::new(LineString(coords), Vec::new()).unsigned_area()
}

fn check(features: Vec<Value>) -> Checked {
    check_geojson(&collection(features), &Tolerances::default())
}

/// The base fixture with feature `i` replaced.
fn base_with(i: usize, replacement: Value) -> Vec<Value> {
    let mut f = base();
    f[i] = replacement;
    f
}

/// The base fixture with one feature appended (at `I_EXTRA`).
fn base_plus(extra: Value) -> Vec<Value> {
    let mut f = base();
    f.push(extra);
    f
}

/// Asserts that the report holds exactly one problem, of this kind, severity, code and
/// feature position, and returns it.
#[track_caller]
fn assert_only(
    report: &Report,
    kind: ProblemKind,
    severity: Severity,
    code: Option<&str>,
    feature: Option<usize>,
) -> Problem {
    assert_eq!(report.problems.len(), 1, "expected exactly one {kind} problem, got:\n{report}");
    let p = report.problems[0].clone();
    assert_eq!(p.kind, kind, "{report}");
    assert_eq!(p.severity, severity, "{report}");
    assert_eq!(p.code.as_deref(), code, "{report}");
    assert_eq!(p.feature, feature, "{report}");
    p
}

/// Asserts a single error of `kind` on the appended extra feature (code `code`) and no layer.
#[track_caller]
fn assert_extra_error(checked: &Checked, kind: ProblemKind, code: Option<&str>) -> Problem {
    let p = assert_only(&checked.report, kind, Severity::Error, code, Some(I_EXTRA));
    assert!(checked.layer.is_none(), "a report with an error must not give a layer");
    p
}

/// The area a problem's detail states, from "… 12.345 m² …".
#[track_caller]
fn stated_area(p: &Problem) -> f64 {
    let before = p.detail.split(" m²").next().unwrap();
    let number = before.rsplit([' ', '(']).next().unwrap();
    number.parse().unwrap_or_else(|e| panic!("no area in {:?}: {e}", p.detail))
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, rel: f64) {
    assert!((actual - expected).abs() <= rel * expected, "{actual} is not within {rel} of {expected}");
}

/// The signed area of a [lon, lat] ring (shoelace): positive when counter-clockwise.
fn signed_area(ring: &[Value]) -> f64 {
    let pts: Vec<(f64, f64)> = ring.iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
    pts.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum::<f64>() / 2.0
}

// ---------------------------------------------------------------------------------------
// 1. The valid hierarchy, writing and round trips
// ---------------------------------------------------------------------------------------

#[test]
fn fixture_lattice_has_shared_vertices() {
    // The fixture helper itself: the community carries its grids' corners on its edges.
    let community = rect(0.0, 0.0, 1000.0, 1000.0);
    assert_eq!(community.len(), 9);
    assert_eq!(community[1], pos(500.0, 0.0));
    assert_eq!(rect(0.0, 0.0, 500.0, 500.0).len(), 5);
    assert!(signed_area(json!(community).as_array().unwrap()) > 0.0);
    assert_close(area_m2(&community), 1.0e6, 2e-3);
}

#[test]
fn valid_hierarchy_has_no_problems() {
    let checked = check(base());
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert_eq!(checked.report.to_string(), "0 error(s), 0 warning(s)");
    let layer = checked.layer.expect("a clean layer is accepted");
    assert_eq!(layer.len(), 8);
    assert_eq!(layer.grids().count(), 4);
    for level in [Level::City, Level::County, Level::Township, Level::Community] {
        assert_eq!(layer.at_level(level).count(), 1, "{level}");
    }
    let grid = geodata::AreaCode::parse(GRID2).unwrap();
    let chain: Vec<&str> = layer.chain(&grid).iter().map(|u| u.code.as_str()).collect();
    assert_eq!(chain, [CITY, COUNTY, TOWNSHIP, COMMUNITY, GRID2]);
    assert_eq!(layer.get(&grid).unwrap().name, "第2网格");
    // The same layer passes check_layer too.
    assert!(check_layer(&layer, &Tolerances::default()).problems.is_empty());
}

#[test]
fn optional_level_and_parent_that_agree_are_accepted() {
    let mut features = base();
    for (f, (level, parent)) in features.iter_mut().zip([
        (1, Value::Null),
        (2, json!(CITY)),
        (3, json!(COUNTY)),
        (4, json!(TOWNSHIP)),
        (5, json!(COMMUNITY)),
        (5, json!(COMMUNITY)),
        (5, json!(COMMUNITY)),
        (5, json!(COMMUNITY)),
    ]) {
        f["properties"]["level"] = json!(level);
        f["properties"]["parent"] = parent;
    }
    let checked = check(features);
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert_eq!(checked.layer.unwrap().len(), 8);
}

#[test]
fn round_trip_through_write_layer_gives_an_equal_layer() {
    let layer = check(base()).layer.unwrap();
    let text = write_layer(&layer).to_string();
    let again = check_geojson(&text, &Tolerances::default());
    assert!(again.report.problems.is_empty(), "{}", again.report);
    assert_eq!(again.layer.as_ref(), Some(&layer));
    // And a second round trip writes the very same text.
    assert_eq!(write_layer(&again.layer.unwrap()).to_string(), text);
}

#[test]
fn round_trip_keeps_holes_and_multipolygons() {
    // Grid 001 is a MultiPolygon of the NW and SE quarters (touching at one point), the
    // SE part holed; grid 005 fills the hole and grid 004 is gone.
    let mut features = base();
    features[4] = feature_with_geometry(
        GRID1,
        "第1网格",
        json!({ "type": "MultiPolygon", "coordinates": [
            [rect(0.0, 500.0, 500.0, 1000.0)],
            [rect(500.0, 0.0, 1000.0, 500.0), reversed(rect(700.0, 200.0, 710.0, 210.0))],
        ] }),
    );
    features[I_GRID4] = feature("321302001001005", "第5网格", vec![rect(700.0, 200.0, 710.0, 210.0)]);
    let checked = check(features);
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    let layer = checked.layer.unwrap();
    assert_eq!(layer.grids().count(), 4);
    let written = write_layer(&layer);
    let again = check_geojson(&written.to_string(), &Tolerances::default());
    assert!(again.report.problems.is_empty(), "{}", again.report);
    assert_eq!(again.layer.as_ref(), Some(&layer));
    let grid1 = written["features"].as_array().unwrap().iter().find(|f| f["properties"]["code"] == GRID1).unwrap();
    assert_eq!(grid1["geometry"]["type"], "MultiPolygon");
    let parts = grid1["geometry"]["coordinates"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    let rings: Vec<usize> = parts.iter().map(|p| p.as_array().unwrap().len()).collect();
    assert_eq!(rings.iter().sum::<usize>(), 3, "one hole among the parts");
}

#[test]
fn written_rings_are_closed_counter_clockwise_with_clockwise_holes_in_lon_lat_order() {
    // Grid 004 has a hole filled exactly by grid 005, so the layer is still a partition.
    let mut features = base_with(I_GRID4, grid4_with_hole(10.0));
    features.push(feature("321302001001005", "第5网格", vec![rect(700.0, 200.0, 710.0, 210.0)]));
    let checked = check(features);
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    let layer = checked.layer.unwrap();
    let written = write_layer(&layer);
    assert_eq!(written["type"], "FeatureCollection");
    let out = written["features"].as_array().unwrap();
    assert_eq!(out.len(), 9);
    let mut holes = 0;
    for f in out {
        assert_eq!(f["type"], "Feature");
        let code = f["properties"]["code"].as_str().unwrap();
        assert_eq!(f["geometry"]["type"], "Polygon", "{code}");
        let rings = f["geometry"]["coordinates"].as_array().unwrap();
        for (r, ring) in rings.iter().enumerate() {
            let ring = ring.as_array().unwrap();
            assert!(ring.len() >= 4, "{code} ring {r}");
            assert_eq!(ring.first(), ring.last(), "{code} ring {r} is not closed");
            for p in ring {
                let p = p.as_array().unwrap();
                assert_eq!(p.len(), 2);
                let (lon, lat) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
                assert!((118.29..118.32).contains(&lon), "{code}: {lon} is not the longitude");
                assert!((33.89..33.92).contains(&lat), "{code}: {lat} is not the latitude");
            }
            let area = signed_area(ring);
            if r == 0 {
                assert!(area > 0.0, "{code}: exterior is not counter-clockwise");
            } else {
                holes += 1;
                assert!(area < 0.0, "{code}: hole {r} is not clockwise");
            }
        }
    }
    assert_eq!(holes, 1);
    // Properties carry the level and the parent (null for the city).
    let city = &out[0]["properties"];
    assert_eq!((city["code"].as_str(), city["level"].as_u64(), city["parent"].is_null()), (Some(CITY), Some(1), true));
    let grid = out.iter().find(|f| f["properties"]["code"] == GRID4).unwrap();
    assert_eq!(grid["properties"]["level"], 5);
    assert_eq!(grid["properties"]["parent"], COMMUNITY);
    assert_eq!(grid["properties"]["name"], "第4网格");
}

#[test]
fn a_clockwise_exterior_and_counter_clockwise_hole_are_accepted_and_reoriented() {
    let mut features = base_with(
        I_GRID4,
        feature(GRID4, "第4网格", vec![reversed(rect(500.0, 0.0, 1000.0, 500.0)), rect(700.0, 200.0, 710.0, 210.0)]),
    );
    features.push(feature("321302001001005", "第5网格", vec![reversed(rect(700.0, 200.0, 710.0, 210.0))]));
    features[I_COMMUNITY] = feature(COMMUNITY, "项里社区", vec![reversed(rect(0.0, 0.0, 1000.0, 1000.0))]);
    let checked = check(features);
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    let layer = checked.layer.unwrap();
    for code in [COMMUNITY, GRID4, "321302001001005"] {
        let unit = layer.get(&geodata::AreaCode::parse(code).unwrap()).unwrap();
        for polygon in &unit.geometry.0 {
            assert!(Polygon::new(polygon.exterior().clone(), vec![]).signed_area() > 0.0, "{code} exterior");
            for hole in polygon.interiors() {
                assert!(Polygon::new(hole.clone(), vec![]).signed_area() < 0.0, "{code} hole");
            }
        }
    }
    let written = write_layer(&layer);
    for f in written["features"].as_array().unwrap() {
        let rings = f["geometry"]["coordinates"].as_array().unwrap();
        assert!(signed_area(rings[0].as_array().unwrap()) > 0.0);
        for hole in &rings[1..] {
            assert!(signed_area(hole.as_array().unwrap()) < 0.0);
        }
    }
    // Re-orienting keeps the vertices: the clockwise input and its reversal give equal layers.
    assert_eq!(Some(layer), check(base_plus_hole_filler()).layer);
}

/// The base with grid 004 holed and grid 005 filling the hole, all counter-clockwise.
fn base_plus_hole_filler() -> Vec<Value> {
    let mut features = base_with(I_GRID4, grid4_with_hole(10.0));
    features.push(feature("321302001001005", "第5网格", vec![rect(700.0, 200.0, 710.0, 210.0)]));
    features
}

// ---------------------------------------------------------------------------------------
// 2. Garbage in: never a panic, always `not-geojson`
// ---------------------------------------------------------------------------------------

#[track_caller]
fn assert_not_geojson(text: &str) {
    let checked = check_geojson(text, &Tolerances::default());
    assert!(checked.layer.is_none());
    let p = assert_only(&checked.report, ProblemKind::NotGeojson, Severity::Error, None, None);
    assert!(!p.detail.is_empty());
}

#[test]
fn empty_text_is_not_geojson() {
    assert_not_geojson("");
    assert_not_geojson("   \n\t ");
}

#[test]
fn null_is_not_geojson() {
    assert_not_geojson("null");
}

#[test]
fn an_empty_array_is_not_geojson() {
    assert_not_geojson("[]");
}

#[test]
fn truncated_json_is_not_geojson() {
    assert_not_geojson("{");
    let text = collection(base());
    assert_not_geojson(&text[..text.len() / 2]);
}

#[test]
fn a_feature_instead_of_a_collection_is_not_geojson() {
    assert_not_geojson(&base()[I_COMMUNITY].to_string());
    assert_not_geojson(r#"{"type":"Polygon","coordinates":[]}"#);
}

#[test]
fn features_that_are_not_an_array_are_not_geojson() {
    assert_not_geojson(r#"{"type":"FeatureCollection","features":{}}"#);
    assert_not_geojson(r#"{"type":"FeatureCollection","features":null}"#);
    assert_not_geojson(r#"{"type":"FeatureCollection"}"#);
    assert_not_geojson(r#"{"type":"featurecollection","features":[]}"#);
    assert_not_geojson(r#"{"features":[]}"#);
}

#[test]
fn random_bytes_and_long_junk_are_not_geojson() {
    // A fixed pseudo-random byte stream (xorshift), made text the lossy way.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    assert_not_geojson(&String::from_utf8_lossy(&bytes));
    assert_not_geojson(&"x".repeat(1 << 20));
    assert_not_geojson(&r#"{"type":"FeatureCollection","features":["#.repeat(10_000));
    assert_not_geojson("\u{0}\u{1}\u{7f}\u{fffd}");
    // Trailing garbage after a valid document.
    assert_not_geojson(&format!("{} junk", collection(base())));
}

#[test]
fn deeply_nested_arrays_are_not_geojson() {
    assert_not_geojson(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
    assert_not_geojson(&"[".repeat(1_000_000));
    // Deep nesting where coordinates belong, beyond what the parser recurses into.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"code":"{EXTRA}","name":"x"}},"geometry":{{"type":"Polygon","coordinates":{deep}}}}}]}}"#
    );
    assert_not_geojson(&text);
}

#[test]
fn a_number_too_large_for_f64_is_not_geojson() {
    let mut text = collection(base());
    let first = format!("{}", pos(0.0, 0.0)[0]);
    assert!(text.contains(&first));
    text = text.replacen(&first, "1e999", 1);
    assert_not_geojson(&text);
    assert_not_geojson(&text.replace("1e999", "-1e999"));
}

// ---------------------------------------------------------------------------------------
// 3. Problems with one feature
// ---------------------------------------------------------------------------------------

#[test]
fn an_entry_that_is_not_a_feature() {
    for not_a_feature in [
        json!("a string"),
        json!(42),
        json!(null),
        json!([1, 2]),
        json!({ "type": "Polygon", "coordinates": [rect(0.0, 0.0, 1.0, 1.0)] }),
        json!({ "properties": { "code": EXTRA, "name": "x" }, "geometry": null }),
    ] {
        let checked = check(base_plus(not_a_feature.clone()));
        let p = assert_extra_error(&checked, ProblemKind::NotAFeature, None);
        assert!(p.to_string().starts_with("error [not-a-feature] (feature 8)"), "{p} for {not_a_feature}");
    }
}

#[test]
fn a_missing_or_empty_name() {
    for name in [None, Some(json!("")), Some(json!("   ")), Some(json!(7)), Some(Value::Null)] {
        let mut f = feature(EXTRA, "x", vec![rect(2000.0, 0.0, 2500.0, 500.0)]);
        match &name {
            None => {
                f["properties"].as_object_mut().unwrap().remove("name");
            }
            Some(v) => f["properties"]["name"] = v.clone(),
        }
        let checked = check(base_plus(f));
        let p = assert_extra_error(&checked, ProblemKind::MissingProperty, Some(EXTRA));
        assert!(p.detail.contains("name"), "{p} for name {name:?}");
    }
}

#[test]
fn no_properties_at_all() {
    let mut f = feature(EXTRA, "x", vec![rect(2000.0, 0.0, 2500.0, 500.0)]);
    f.as_object_mut().unwrap().remove("properties");
    let report = check(base_plus(f)).report;
    assert_eq!(report.problems.len(), 2, "{report}");
    for p in &report.problems {
        assert_eq!(
            (p.kind, p.severity, p.feature, p.code.as_deref()),
            (ProblemKind::MissingProperty, Severity::Error, Some(I_EXTRA), None)
        );
    }
}

#[test]
fn a_missing_code() {
    let mut f = feature(EXTRA, "第9网格", vec![rect(2000.0, 0.0, 2500.0, 500.0)]);
    f["properties"].as_object_mut().unwrap().remove("code");
    let p = assert_extra_error(&check(base_plus(f)), ProblemKind::MissingProperty, None);
    assert!(p.detail.contains("code"), "{p}");
}

#[test]
fn a_code_that_is_a_number() {
    let mut f = feature(EXTRA, "第9网格", vec![rect(2000.0, 0.0, 2500.0, 500.0)]);
    f["properties"]["code"] = json!(321302001001009_u64);
    // The code is not a string, so the problem carries no code.
    let p = assert_extra_error(&check(base_plus(f)), ProblemKind::MissingProperty, None);
    assert!(p.detail.contains("code"), "{p}");
}

#[test]
fn bad_codes() {
    for code in ["32130a", "3213021", "320000", "", "３２１３０２", "32130200100100100"] {
        let f = feature(code, "坏", vec![rect(2000.0, 0.0, 2500.0, 500.0)]);
        let checked = check(base_plus(f));
        assert_extra_error(&checked, ProblemKind::BadCode, Some(code));
    }
}

#[test]
fn a_province_code_is_named_as_such() {
    let p = assert_extra_error(
        &check(base_plus(feature("320000", "江苏省", vec![rect(-500.0, -500.0, 1500.0, 1500.0)]))),
        ProblemKind::BadCode,
        Some("320000"),
    );
    assert!(p.detail.contains("province"), "{p}");
}

#[test]
fn a_level_that_disagrees_with_the_code() {
    let mut f = base()[I_GRID2].clone();
    f["properties"]["level"] = json!(4);
    let checked = check(base_with(I_GRID2, f));
    assert_only(&checked.report, ProblemKind::LevelMismatch, Severity::Error, Some(GRID2), Some(I_GRID2));
    assert!(checked.layer.is_none());

    let mut f = base()[I_CITY].clone();
    f["properties"]["level"] = json!(2);
    let report = check(base_with(I_CITY, f)).report;
    assert_only(&report, ProblemKind::LevelMismatch, Severity::Error, Some(CITY), Some(I_CITY));
}

#[test]
fn a_level_outside_one_to_five() {
    for level in [json!(9), json!(0), json!(-1), json!(5.5), json!("5"), json!(261), json!(true)] {
        let mut f = base()[I_GRID2].clone();
        f["properties"]["level"] = level.clone();
        let report = check(base_with(I_GRID2, f)).report;
        let p = assert_only(&report, ProblemKind::LevelMismatch, Severity::Error, Some(GRID2), Some(I_GRID2));
        assert!(p.detail.contains(&level.to_string()), "{p}");
    }
}

#[test]
fn a_parent_that_disagrees_with_the_code() {
    for parent in [json!("321302001002"), json!(TOWNSHIP), json!(null), json!(321302001001_u64)] {
        let mut f = base()[I_GRID2].clone();
        f["properties"]["parent"] = parent.clone();
        let checked = check(base_with(I_GRID2, f));
        let p = assert_only(&checked.report, ProblemKind::ParentMismatch, Severity::Error, Some(GRID2), Some(I_GRID2));
        assert!(p.detail.contains(COMMUNITY), "{p} for parent {parent}");
        assert!(checked.layer.is_none());
    }
    // A county must name its city, not null.
    let mut f = base()[I_COUNTY].clone();
    f["properties"]["parent"] = Value::Null;
    assert_only(
        &check(base_with(I_COUNTY, f)).report,
        ProblemKind::ParentMismatch,
        Severity::Error,
        Some(COUNTY),
        Some(I_COUNTY),
    );
}

#[test]
fn a_city_with_a_null_parent_is_fine_but_not_with_a_code() {
    let mut f = base()[I_CITY].clone();
    f["properties"]["parent"] = Value::Null;
    let checked = check(base_with(I_CITY, f.clone()));
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert!(checked.layer.is_some());

    f["properties"]["parent"] = json!("320000");
    assert_only(
        &check(base_with(I_CITY, f)).report,
        ProblemKind::ParentMismatch,
        Severity::Error,
        Some(CITY),
        Some(I_CITY),
    );
}

#[test]
fn geometry_that_is_missing_or_not_a_polygon() {
    let cases = [
        ("missing", None),
        ("null", Some(Value::Null)),
        ("a Point", Some(json!({ "type": "Point", "coordinates": pos(1.0, 1.0) }))),
        ("a LineString", Some(json!({ "type": "LineString", "coordinates": [pos(0.0, 0.0), pos(10.0, 10.0)] }))),
        ("a Polygon with no rings", Some(json!({ "type": "Polygon", "coordinates": [] }))),
        ("a MultiPolygon with no polygons", Some(json!({ "type": "MultiPolygon", "coordinates": [] }))),
        ("a MultiPolygon with an empty polygon", Some(json!({ "type": "MultiPolygon", "coordinates": [[]] }))),
        ("a Polygon without coordinates", Some(json!({ "type": "Polygon" }))),
        ("a Polygon whose coordinates are an object", Some(json!({ "type": "Polygon", "coordinates": {} }))),
        ("a GeometryCollection", Some(json!({ "type": "GeometryCollection", "geometries": [] }))),
        ("a string", Some(json!("POLYGON((0 0, 1 0, 1 1, 0 0))"))),
    ];
    for (what, geometry) in cases {
        let mut f = feature_with_geometry(EXTRA, "第9网格", Value::Null);
        match geometry {
            None => {
                f.as_object_mut().unwrap().remove("geometry");
            }
            Some(g) => f["geometry"] = g,
        }
        let checked = check(base_plus(f));
        assert_eq!(checked.report.problems.len(), 1, "{what}:\n{}", checked.report);
        let p = &checked.report.problems[0];
        assert_eq!(
            (p.kind, p.severity, p.code.as_deref(), p.feature),
            (ProblemKind::BadGeometryType, Severity::Error, Some(EXTRA), Some(I_EXTRA)),
            "{what}: {p}"
        );
        assert!(checked.layer.is_none());
    }
}

#[test]
fn a_position_that_is_not_a_pair_of_numbers() {
    for bad in [
        json!([118.3]),
        json!(["118.3", 33.9]),
        json!("118.3,33.9"),
        json!(null),
        json!([]),
        json!({ "x": 1 }),
        json!([118.3, null]),
    ] {
        // Five positions, the third malformed: the others still make a closed ring of four.
        let mut r: Vec<Value> = ring(&[(2000.0, 0.0), (2500.0, 0.0), (2500.0, 500.0), (2000.0, 500.0)])
            .into_iter()
            .map(|p| json!(p))
            .collect();
        r.insert(2, bad.clone());
        let f = feature_with_geometry(EXTRA, "第9网格", json!({ "type": "Polygon", "coordinates": [r] }));
        let p = assert_extra_error(&check(base_plus(f)), ProblemKind::BadPosition, Some(EXTRA));
        assert!(p.detail.contains("position 2"), "{p} for {bad}");
    }
    // A ring that is not an array at all.
    let f = feature_with_geometry(EXTRA, "第9网格", json!({ "type": "Polygon", "coordinates": [42] }));
    assert_extra_error(&check(base_plus(f)), ProblemKind::BadPosition, Some(EXTRA));
}

#[test]
fn three_dimensional_positions_are_read_as_lon_lat() {
    // RFC 7946 allows an altitude; it is ignored.
    let mut features = base();
    let with_z: Vec<Vec<f64>> = rect(500.0, 0.0, 1000.0, 500.0).into_iter().map(|[x, y]| vec![x, y, 12.5]).collect();
    features[I_GRID4]["geometry"]["coordinates"] = json!([with_z]);
    let checked = check(features);
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert_eq!(checked.layer, check(base()).layer);
}

#[test]

fn a_malformed_position_is_only_a_bad_position() {
    // Four positions, closed, the second malformed: reported as bad-position and too-short-ring.
    let mut r: Vec<Value> =
        ring(&[(2000.0, 0.0), (2500.0, 0.0), (2500.0, 500.0)]).into_iter().map(|p| json!(p)).collect();
    assert_eq!(r.len(), 4);
    r[1] = json!(["east", 33.9]);
    let f = feature_with_geometry(EXTRA, "第9网格", json!({ "type": "Polygon", "coordinates": [r] }));
    assert_extra_error(&check(base_plus(f)), ProblemKind::BadPosition, Some(EXTRA));

    // Five positions, the closing one malformed: reported as bad-position and unclosed-ring.
    let mut r: Vec<Value> = rect(2000.0, 0.0, 2500.0, 500.0).into_iter().map(|p| json!(p)).collect();
    let last = r.len() - 1;
    r[last] = json!("x");
    let f = feature_with_geometry(EXTRA, "第9网格", json!({ "type": "Polygon", "coordinates": [r] }));
    assert_extra_error(&check(base_plus(f)), ProblemKind::BadPosition, Some(EXTRA));
}

#[test]

fn a_level_written_as_a_float_with_the_right_value_is_accepted() {
    let mut f = base()[I_GRID2].clone();
    f["properties"]["level"] = json!(5.0);
    let checked = check(base_with(I_GRID2, f));
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
}

#[test]
fn an_unclosed_ring() {
    let mut r = rect(2000.0, 0.0, 2500.0, 500.0);
    r.pop();
    assert_eq!(r.len(), 4);
    let p = assert_extra_error(
        &check(base_plus(feature(EXTRA, "第9网格", vec![r]))),
        ProblemKind::UnclosedRing,
        Some(EXTRA),
    );
    assert!(p.detail.contains("ring 0"), "{p}");

    // A hole that is not closed is reported with its ring number.
    let mut hole = reversed(rect(2100.0, 100.0, 2200.0, 200.0));
    hole.pop();
    let f = feature(EXTRA, "第9网格", vec![rect(2000.0, 0.0, 2500.0, 500.0), hole]);
    let p = assert_extra_error(&check(base_plus(f)), ProblemKind::UnclosedRing, Some(EXTRA));
    assert!(p.detail.contains("ring 1"), "{p}");
}

#[test]
fn a_ring_of_three_positions_is_too_short() {
    let r = ring(&[(2000.0, 0.0), (2500.0, 0.0)]);
    assert_eq!(r.len(), 3);
    let p = assert_extra_error(
        &check(base_plus(feature(EXTRA, "第9网格", vec![r]))),
        ProblemKind::TooShortRing,
        Some(EXTRA),
    );
    assert!(p.detail.contains('3'), "{p}");
    // An empty ring, too.
    assert_extra_error(
        &check(base_plus(feature(EXTRA, "第9网格", vec![vec![]]))),
        ProblemKind::TooShortRing,
        Some(EXTRA),
    );
}

#[test]
fn a_closed_ring_of_four_positions_with_only_two_distinct_is_too_short() {
    // Passes the count, fails geometry validation: still too-short-ring.
    let (a, b) = (pos(2000.0, 0.0), pos(2500.0, 0.0));
    let f = feature(EXTRA, "第9网格", vec![vec![a, b, b, a]]);
    let checked = check(base_plus(f));
    assert!(checked.report.problems.iter().all(|p| p.kind == ProblemKind::TooShortRing), "{}", checked.report);
    assert_extra_error(&checked, ProblemKind::TooShortRing, Some(EXTRA));
}

#[test]
fn coordinates_out_of_range() {
    for (bad, what) in [
        ([181.0, 33.9], "longitude 181"),
        ([118.3, -91.0], "latitude -91"),
        ([-180.5, 0.0], "longitude -180.5"),
        ([0.0, 90.001], "latitude 90.001"),
    ] {
        let mut r = rect(2000.0, 0.0, 2500.0, 500.0);
        r[2] = bad;
        let f = feature(EXTRA, "第9网格", vec![r]);
        let p = assert_extra_error(&check(base_plus(f)), ProblemKind::CoordinateOutOfRange, Some(EXTRA));
        assert!(p.detail.contains("position 2"), "{what}: {p}");
    }
}

#[test]
fn coordinates_on_the_range_limits_are_accepted_by_the_reader() {
    // ±180 and ±90 are in range: no coordinate-out-of-range, whatever else is said.
    let f = feature(
        EXTRA,
        "边界",
        vec![vec![[-180.0, -90.0], [180.0, -90.0], [180.0, 90.0], [-180.0, 90.0], [-180.0, -90.0]]],
    );
    let report = check(vec![f]).report;
    assert!(!report.has(ProblemKind::CoordinateOutOfRange), "{report}");
}

#[test]
fn a_self_intersecting_bow_tie() {
    let r = ring(&[(2000.0, 0.0), (2500.0, 500.0), (2500.0, 0.0), (2000.0, 500.0)]);
    let checked = check(base_plus(feature(EXTRA, "第9网格", vec![r])));
    assert!(checked.layer.is_none());
    assert!(!checked.report.problems.is_empty());
    for p in &checked.report.problems {
        assert_eq!(
            (p.kind, p.severity, p.code.as_deref(), p.feature),
            (ProblemKind::SelfIntersection, Severity::Error, Some(EXTRA), Some(I_EXTRA)),
            "{}",
            checked.report
        );
    }
    assert_eq!(checked.report.problems.len(), 1, "{}", checked.report);
}

#[test]
fn a_hole_outside_its_exterior() {
    let f =
        feature(EXTRA, "第9网格", vec![rect(2000.0, 0.0, 2500.0, 500.0), reversed(rect(2600.0, 100.0, 2700.0, 200.0))]);
    let checked = check(base_plus(f));
    assert_extra_error(&checked, ProblemKind::InvalidGeometry, Some(EXTRA));
}

#[test]
fn a_hole_crossing_its_exterior() {
    let f =
        feature(EXTRA, "第9网格", vec![rect(2000.0, 0.0, 2500.0, 500.0), reversed(rect(2400.0, 100.0, 2600.0, 200.0))]);
    let checked = check(base_plus(f));
    assert!(checked.layer.is_none());
    assert!(checked.report.has(ProblemKind::InvalidGeometry), "{}", checked.report);
    for p in &checked.report.problems {
        assert_eq!(
            (p.kind, p.code.as_deref(), p.feature),
            (ProblemKind::InvalidGeometry, Some(EXTRA), Some(I_EXTRA)),
            "{}",
            checked.report
        );
    }
}

#[test]
fn overlapping_parts_of_a_multipolygon() {
    let g = json!({ "type": "MultiPolygon", "coordinates": [
        [rect(2000.0, 0.0, 2500.0, 500.0)],
        [ring(&[(2400.0, 100.0), (2600.0, 100.0), (2600.0, 200.0), (2400.0, 200.0)])],
    ] });
    let checked = check(base_plus(feature_with_geometry(EXTRA, "第9网格", g)));
    let p = assert_extra_error(&checked, ProblemKind::InvalidGeometry, Some(EXTRA));
    assert!(!p.detail.is_empty());
}

#[test]
fn every_problem_of_one_feature_is_reported() {
    // Bad level, bad parent, unclosed ring and an out-of-range coordinate, all in one feature.
    let mut r = rect(2000.0, 0.0, 2500.0, 500.0);
    r[1] = [200.0, 33.9];
    let mut hole = reversed(rect(2100.0, 100.0, 2200.0, 200.0));
    hole.pop();
    let mut f = feature(EXTRA, "第9网格", vec![r, hole]);
    f["properties"]["level"] = json!(3);
    f["properties"]["parent"] = json!("321302001002");
    let report = check(base_plus(f)).report;
    let kinds: Vec<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            ProblemKind::LevelMismatch,
            ProblemKind::ParentMismatch,
            ProblemKind::CoordinateOutOfRange,
            ProblemKind::UnclosedRing
        ],
        "{report}"
    );
    assert!(report.problems.iter().all(|p| p.feature == Some(I_EXTRA) && p.code.as_deref() == Some(EXTRA)));
}

// ---------------------------------------------------------------------------------------
// 4. Problems across features
// ---------------------------------------------------------------------------------------

#[test]
fn a_duplicate_code_names_the_first_feature() {
    let duplicate = feature(GRID2, "又一个第2网格", vec![rect(2000.0, 0.0, 2500.0, 500.0)]);
    let checked = check(base_plus(duplicate));
    let p = assert_only(&checked.report, ProblemKind::DuplicateCode, Severity::Error, Some(GRID2), Some(I_EXTRA));
    assert!(p.detail.contains(&format!("feature {I_GRID2}")), "{p}");
    assert!(checked.layer.is_none());
}

#[test]
fn a_grid_whose_community_is_not_in_the_file() {
    let orphan = "321302001002001";
    let checked = check(base_plus(feature(orphan, "孤儿网格", vec![rect(2000.0, 0.0, 2500.0, 500.0)])));
    let p = assert_only(&checked.report, ProblemKind::UnknownParent, Severity::Error, Some(orphan), Some(I_EXTRA));
    assert!(p.detail.contains("321302001002"), "{p}");
    assert!(checked.layer.is_none());
}

#[test]
fn a_file_of_grids_alone_reports_their_unknown_parent() {
    let features: Vec<Value> = base().into_iter().skip(4).collect();
    let report = check(features).report;
    assert_eq!(report.problems.len(), 4, "{report}");
    for (i, p) in report.problems.iter().enumerate() {
        assert_eq!((p.kind, p.severity, p.feature), (ProblemKind::UnknownParent, Severity::Error, Some(i)), "{report}");
    }
}

#[test]
fn a_grid_far_outside_its_community_is_an_error() {
    let w = 10.0;
    let checked = check(base_with(I_GRID4, grid4_bulging_east(w)));
    let p = assert_only(&checked.report, ProblemKind::OutsideParent, Severity::Error, Some(GRID4), Some(I_GRID4));
    assert!(p.detail.contains(COMMUNITY), "{p}");
    let expected = bulge_area_m2(1000.0, w);
    assert_close(expected, 2500.0, 2e-3);
    assert_close(stated_area(&p), expected, 1e-3);
    assert!(checked.layer.is_none());
}

#[test]
fn a_grid_a_sliver_outside_its_community_is_a_warning() {
    let expected = bulge_area_m2(1000.0, SLIVER_M);
    assert!((0.15..0.25).contains(&expected), "fixture: {expected} m²");
    let checked = check(base_with(I_GRID4, grid4_bulging_east(SLIVER_M)));
    let p = assert_only(&checked.report, ProblemKind::OutsideParent, Severity::Warning, Some(GRID4), Some(I_GRID4));
    assert_close(stated_area(&p), expected, 0.02);
    assert!(checked.layer.is_some(), "warnings alone keep the layer");
}

#[test]
fn a_community_outside_its_township_is_checked_too() {
    let checked = check(base_with(
        I_COMMUNITY,
        feature(
            COMMUNITY,
            "项里社区",
            vec![ring(&[
                (0.0, 0.0),
                (500.0, 0.0),
                (1000.0, 0.0),
                (1000.0, 500.0),
                (1000.0, 1000.0),
                (500.0, 1000.0),
                (0.0, 1000.0),
                (-20.0, 750.0),
                (0.0, 500.0),
            ])],
        ),
    ));
    let report = &checked.report;
    let outside: Vec<&Problem> = report.problems.iter().filter(|p| p.kind == ProblemKind::OutsideParent).collect();
    assert_eq!(outside.len(), 1, "{report}");
    assert_eq!(
        (outside[0].code.as_deref(), outside[0].feature, outside[0].severity),
        (Some(COMMUNITY), Some(I_COMMUNITY), Severity::Error)
    );
    // The bulge is also a gap in the community: no grid covers it.
    let gaps: Vec<&Problem> = report.problems.iter().filter(|p| p.kind == ProblemKind::Gap).collect();
    assert_eq!(gaps.len(), 1, "{report}");
    assert_eq!((gaps[0].code.as_deref(), gaps[0].severity), (Some(COMMUNITY), Severity::Error));
    assert_eq!(report.problems.len(), 2, "{report}");
}

#[test]
fn grids_overlapping_by_much_more_than_a_square_metre() {
    let w = 2.0;
    let checked = check(base_with(I_GRID3, grid3_bulging_east(w)));
    let p = assert_only(&checked.report, ProblemKind::Overlap, Severity::Error, Some(GRID3), Some(I_GRID3));
    assert!(p.detail.contains(GRID4), "{p}");
    let expected = bulge_area_m2(500.0, w);
    assert_close(expected, 500.0, 2e-3);
    assert_close(stated_area(&p), expected, 1e-3);
    assert!(checked.layer.is_none());
}

#[test]
fn grids_overlapping_by_a_sliver() {
    let expected = bulge_area_m2(500.0, SLIVER_M);
    assert!((0.15..0.25).contains(&expected), "fixture: {expected} m²");
    let checked = check(base_with(I_GRID3, grid3_bulging_east(SLIVER_M)));
    let p = assert_only(&checked.report, ProblemKind::Overlap, Severity::Warning, Some(GRID3), Some(I_GRID3));
    assert!(p.detail.contains(GRID4), "{p}");
    assert_close(stated_area(&p), expected, 0.02);
    assert!(checked.layer.is_some());
}

#[test]
fn a_grid_duplicated_under_another_code_overlaps_entirely() {
    let copy = feature("321302001001005", "第5网格", vec![rect(500.0, 0.0, 1000.0, 500.0)]);
    let checked = check(base_plus(copy));
    let p = assert_only(&checked.report, ProblemKind::Overlap, Severity::Error, Some(GRID4), Some(I_GRID4));
    assert!(p.detail.contains("321302001001005"), "{p}");
    assert_close(stated_area(&p), area_m2(&rect(500.0, 0.0, 1000.0, 500.0)), 1e-3);
}

#[test]
fn a_gap_of_much_more_than_a_square_metre_in_a_community() {
    let checked = check(base_with(I_GRID4, grid4_with_hole(10.0)));
    let p = assert_only(&checked.report, ProblemKind::Gap, Severity::Error, Some(COMMUNITY), Some(I_COMMUNITY));
    let expected = area_m2(&rect(700.0, 200.0, 710.0, 210.0));
    assert_close(expected, 100.0, 2e-3);
    assert_close(stated_area(&p), expected, 1e-3);
    assert!(checked.layer.is_none());
}

#[test]
fn a_gap_between_grids_left_by_a_dent() {
    // Grid 004's west edge is dented 2 m, so a 500 m² triangle is in neither 003 nor 004.
    let dented = feature(
        GRID4,
        "第4网格",
        vec![ring(&[(500.0, 0.0), (1000.0, 0.0), (1000.0, 500.0), (500.0, 500.0), (502.0, 250.0)])],
    );
    let checked = check(base_with(I_GRID4, dented));
    let p = assert_only(&checked.report, ProblemKind::Gap, Severity::Error, Some(COMMUNITY), Some(I_COMMUNITY));
    assert_close(stated_area(&p), bulge_area_m2(500.0, 2.0), 1e-3);
}

#[test]
fn a_gap_of_less_than_a_square_metre_is_a_warning() {
    // A 0.4 m × 0.5 m hole in grid 004.
    let hole = rect(700.0, 200.0, 700.4, 200.5);
    let expected = area_m2(&hole);
    assert!((0.15..0.25).contains(&expected), "fixture: {expected} m²");
    let f = feature(GRID4, "第4网格", vec![rect(500.0, 0.0, 1000.0, 500.0), reversed(hole)]);
    let checked = check(base_with(I_GRID4, f));
    let p = assert_only(&checked.report, ProblemKind::Gap, Severity::Warning, Some(COMMUNITY), Some(I_COMMUNITY));
    assert_close(stated_area(&p), expected, 0.02);
    assert!(checked.layer.is_some());
}

/// A township of two communities side by side, 001 west (with the four base grids) and
/// 002 east; `with_grids_in_002` adds two grids to 002.
fn two_communities(with_grids_in_002: bool) -> Vec<Value> {
    let mut f = vec![
        feature(CITY, "宿迁市", vec![rect(-500.0, -500.0, 2500.0, 1500.0)]),
        feature(COUNTY, "宿城区", vec![rect(0.0, 0.0, 2000.0, 1000.0)]),
        feature(TOWNSHIP, "项里街道", vec![rect(0.0, 0.0, 2000.0, 1000.0)]),
        feature(COMMUNITY, "项里社区", vec![rect(0.0, 0.0, 1000.0, 1000.0)]),
        feature("321302001002", "古城社区", vec![rect(1000.0, 0.0, 2000.0, 1000.0)]),
    ];
    f.extend(base().into_iter().skip(4));
    if with_grids_in_002 {
        f.push(feature("321302001002001", "古城第1网格", vec![rect(1000.0, 0.0, 2000.0, 500.0)]));
        f.push(feature("321302001002002", "古城第2网格", vec![rect(1000.0, 500.0, 2000.0, 1000.0)]));
    }
    f
}

#[test]
fn two_communities_each_partitioned_are_clean() {
    let checked = check(two_communities(true));
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert_eq!(checked.layer.unwrap().len(), 11);
}

#[test]
fn a_community_without_grids_while_others_have_them_is_a_gap() {
    let checked = check(two_communities(false));
    let p = assert_only(&checked.report, ProblemKind::Gap, Severity::Error, Some("321302001002"), Some(4));
    assert!(p.detail.contains("grid"), "{p}");
    assert_close(stated_area(&p), area_m2(&rect(1000.0, 0.0, 2000.0, 1000.0)), 1e-3);
    assert!(checked.layer.is_none());
}

#[test]
fn a_layer_of_units_without_grids_reports_no_gap() {
    let checked = check(base().into_iter().take(4).collect());
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    let layer = checked.layer.unwrap();
    assert_eq!((layer.len(), layer.grids().count()), (4, 0));
}

#[test]
fn a_township_not_covered_by_its_communities_is_a_gap() {
    // Without community 002, the east half of the township is covered by no community.
    let mut features = two_communities(false);
    features.remove(4);
    let checked = check(features);
    let p = assert_only(&checked.report, ProblemKind::Gap, Severity::Error, Some(TOWNSHIP), Some(2));
    assert_close(stated_area(&p), area_m2(&rect(1000.0, 0.0, 2000.0, 1000.0)), 1e-3);
}

#[test]
fn an_empty_collection_is_an_empty_layer() {
    let checked = check(vec![]);
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert_eq!(checked.layer.map(|l| l.len()), Some(0));
}

// ---------------------------------------------------------------------------------------
// 5. Every problem, not just the first
// ---------------------------------------------------------------------------------------

#[test]
fn every_problem_in_a_document_is_reported_and_displayed() {
    let mut features = base_with(I_GRID3, grid3_bulging_east(SLIVER_M)); // a warning: overlap
    let mut unclosed = rect(3000.0, 0.0, 3500.0, 500.0);
    unclosed.pop();
    let mut out_of_range = rect(3000.0, 1000.0, 3500.0, 1500.0);
    out_of_range[2] = [181.0, 33.9];
    let mut no_name = feature("321302001001011", "x", vec![rect(2000.0, 1000.0, 2500.0, 1500.0)]);
    no_name["properties"].as_object_mut().unwrap().remove("name");
    features.extend([
        json!("not a feature"),                                              // 8
        no_name,                                                             // 9
        feature("32130x", "坏代码", vec![rect(2000.0, 0.0, 2500.0, 500.0)]), // 10
        feature_with_geometry("321302001001012", "点", json!({ "type": "Point", "coordinates": pos(0.0, 0.0) })), // 11
        feature("321302001001013", "未闭合", vec![unclosed]),                // 12
        feature("321302001001014", "越界", vec![out_of_range]),              // 13
        feature(
            "321302001001015",
            "蝴蝶结",
            vec![ring(&[(4000.0, 0.0), (4500.0, 500.0), (4500.0, 0.0), (4000.0, 500.0)])],
        ), // 14
        feature(GRID1, "重复", vec![rect(5000.0, 0.0, 5500.0, 500.0)]),      // 15
        feature("321302009001001", "孤儿", vec![rect(6000.0, 0.0, 6500.0, 500.0)]), // 16
    ]);
    let checked = check(features);
    let report = &checked.report;
    let expected: [(ProblemKind, Severity, Option<usize>, Option<&str>); 10] = [
        (ProblemKind::NotAFeature, Severity::Error, Some(8), None),
        (ProblemKind::MissingProperty, Severity::Error, Some(9), Some("321302001001011")),
        (ProblemKind::BadCode, Severity::Error, Some(10), Some("32130x")),
        (ProblemKind::BadGeometryType, Severity::Error, Some(11), Some("321302001001012")),
        (ProblemKind::UnclosedRing, Severity::Error, Some(12), Some("321302001001013")),
        (ProblemKind::CoordinateOutOfRange, Severity::Error, Some(13), Some("321302001001014")),
        (ProblemKind::SelfIntersection, Severity::Error, Some(14), Some("321302001001015")),
        (ProblemKind::DuplicateCode, Severity::Error, Some(15), Some(GRID1)),
        (ProblemKind::UnknownParent, Severity::Error, Some(16), Some("321302009001001")),
        (ProblemKind::Overlap, Severity::Warning, Some(I_GRID3), Some(GRID3)),
    ];
    for (kind, severity, feature, code) in expected {
        assert!(
            report
                .problems
                .iter()
                .any(|p| (p.kind, p.severity, p.feature, p.code.as_deref()) == (kind, severity, feature, code)),
            "{kind} {severity:?} at {feature:?} {code:?} missing from:\n{report}"
        );
    }
    assert_eq!(report.problems.len(), expected.len(), "{report}");
    assert!(checked.layer.is_none());

    let shown = report.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), report.problems.len() + 1, "{shown}");
    for (line, p) in lines.iter().zip(&report.problems) {
        assert_eq!(*line, p.to_string());
        assert!(line.contains(&format!("[{}]", p.kind.as_str())), "{line}");
        if let Some(code) = &p.code {
            assert!(line.contains(code.as_str()), "{line}");
        }
        if let Some(i) = p.feature {
            assert!(line.contains(&format!("(feature {i})")), "{line}");
        }
    }
    for (kind, ..) in expected {
        assert!(shown.contains(kind.as_str()), "{kind} not shown in:\n{shown}");
    }
    assert_eq!(*lines.last().unwrap(), "9 error(s), 1 warning(s)");
    assert!(shown.ends_with("9 error(s), 1 warning(s)"));
}

#[test]
fn report_serialises_with_slugs() {
    let report = check(base_with(I_GRID3, grid3_bulging_east(SLIVER_M))).report;
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["problems"][0]["kind"], "overlap");
    assert_eq!(v["problems"][0]["severity"], "warning");
    assert_eq!(v["problems"][0]["code"], GRID3);
    assert_eq!(v["problems"][0]["feature"], I_GRID3);
}

// ---------------------------------------------------------------------------------------
// 6. Errors refuse the layer, warnings alone do not
// ---------------------------------------------------------------------------------------

#[test]
fn one_faulty_feature_refuses_the_whole_layer() {
    let checked =
        check(base_plus(feature_with_geometry(EXTRA, "点", json!({ "type": "Point", "coordinates": pos(0.0, 0.0) }))));
    assert!(checked.report.has_errors());
    assert!(checked.layer.is_none());
}

#[test]
fn warnings_alone_keep_the_layer() {
    // Three warnings at once: an overlap, an overreach and a gap, each about 0.2 m².
    let mut features = base_with(I_GRID3, grid3_bulging_east(SLIVER_M));
    features[I_GRID4] = feature(
        GRID4,
        "第4网格",
        vec![
            ring(&[(500.0, 0.0), (1000.0, 0.0), (1000.0 + SLIVER_M, 250.0), (1000.0, 500.0), (500.0, 500.0)]),
            reversed(rect(700.0, 200.0, 700.4, 200.5)),
        ],
    );
    let checked = check(features);
    let report = &checked.report;
    assert!(!report.has_errors(), "{report}");
    assert_eq!(report.warnings().count(), 3, "{report}");
    for kind in [ProblemKind::Overlap, ProblemKind::OutsideParent, ProblemKind::Gap] {
        assert!(report.has(kind), "{kind} missing:\n{report}");
    }
    let layer = checked.layer.expect("warnings alone keep the layer");
    assert_eq!(layer.len(), 8);
    assert!(report.to_string().ends_with("0 error(s), 3 warning(s)"));
    // check_layer on the accepted layer finds the same warnings, without feature positions.
    let again = check_layer(&layer, &Tolerances::default());
    let kinds = |r: &Report| {
        let mut k: Vec<(ProblemKind, Severity, Option<String>)> =
            r.problems.iter().map(|p| (p.kind, p.severity, p.code.clone())).collect();
        k.sort_by_key(|a| a.0);
        k
    };
    assert_eq!(kinds(&again), kinds(report));
    assert!(again.problems.iter().all(|p| p.feature.is_none()));
}

// ---------------------------------------------------------------------------------------
// 7. Tolerances
// ---------------------------------------------------------------------------------------

#[test]
fn a_large_area_tolerance_turns_a_large_overlap_into_a_warning() {
    let text = collection(base_with(I_GRID3, grid3_bulging_east(2.0)));
    let checked = check_geojson(&text, &Tolerances { area_m2: 1e6, noise_m2: 1e-6, ..Tolerances::default() });
    assert_only(&checked.report, ProblemKind::Overlap, Severity::Warning, Some(GRID3), Some(I_GRID3));
    assert!(checked.layer.is_some());
    // With the default tolerance the same text is refused.
    assert_eq!(check_geojson(&text, &Tolerances::default()).report.errors().count(), 1);
}

#[test]
fn a_small_area_tolerance_turns_a_sliver_into_an_error() {
    let text = collection(base_with(I_GRID3, grid3_bulging_east(SLIVER_M)));
    let checked = check_geojson(&text, &Tolerances { area_m2: 0.1, noise_m2: 1e-6, ..Tolerances::default() });
    assert_only(&checked.report, ProblemKind::Overlap, Severity::Error, Some(GRID3), Some(I_GRID3));
    assert!(checked.layer.is_none());
}

#[test]
fn pieces_below_the_noise_tolerance_are_not_reported() {
    let text = collection(base_with(I_GRID3, grid3_bulging_east(SLIVER_M)));
    let checked = check_geojson(&text, &Tolerances { area_m2: 1.0, noise_m2: 0.5, ..Tolerances::default() });
    assert!(checked.report.problems.is_empty(), "{}", checked.report);
    assert!(checked.layer.is_some());
    // Just above the noise it is reported again.
    let checked = check_geojson(&text, &Tolerances { area_m2: 1.0, noise_m2: 0.1, ..Tolerances::default() });
    assert_only(&checked.report, ProblemKind::Overlap, Severity::Warning, Some(GRID3), Some(I_GRID3));
}

#[test]
fn tolerances_apply_to_gaps_and_overreach_too() {
    let tol = Tolerances { area_m2: 1e6, noise_m2: 1e-6, ..Tolerances::default() };
    let gap = check_geojson(&collection(base_with(I_GRID4, grid4_with_hole(10.0))), &tol);
    assert_only(&gap.report, ProblemKind::Gap, Severity::Warning, Some(COMMUNITY), Some(I_COMMUNITY));
    let out = check_geojson(&collection(base_with(I_GRID4, grid4_bulging_east(10.0))), &tol);
    assert_only(&out.report, ProblemKind::OutsideParent, Severity::Warning, Some(GRID4), Some(I_GRID4));
}

// ---------------------------------------------------------------------------------------
// 4b. A faulty feature and the cross-feature checks
// ---------------------------------------------------------------------------------------

#[test]
fn a_self_intersecting_community_does_not_orphan_its_grids() {
    let bow = ring(&[(0.0, 0.0), (1000.0, 1000.0), (1000.0, 0.0), (0.0, 1000.0)]);
    let report = check(base_with(I_COMMUNITY, feature(COMMUNITY, "项里社区", vec![bow]))).report;
    assert_only(&report, ProblemKind::SelfIntersection, Severity::Error, Some(COMMUNITY), Some(I_COMMUNITY));
}

#[test]

fn a_community_with_an_unclosed_ring_does_not_orphan_its_grids() {
    let mut r = rect(0.0, 0.0, 1000.0, 1000.0);
    r.pop();
    let report = check(base_with(I_COMMUNITY, feature(COMMUNITY, "项里社区", vec![r]))).report;
    assert_only(&report, ProblemKind::UnclosedRing, Severity::Error, Some(COMMUNITY), Some(I_COMMUNITY));
}

#[test]

fn a_duplicate_code_is_reported_even_when_the_first_copy_is_faulty() {
    let mut r = rect(500.0, 500.0, 1000.0, 1000.0);
    r.pop();
    let mut features = base_with(I_GRID2, feature(GRID2, "第2网格", vec![r]));
    features.push(feature(GRID2, "又一个第2网格", vec![rect(2000.0, 0.0, 2500.0, 500.0)]));
    let report = check(features).report;
    assert!(report.has(ProblemKind::UnclosedRing), "{report}");
    assert!(
        report.problems.iter().any(|p| p.kind == ProblemKind::DuplicateCode
            && p.code.as_deref() == Some(GRID2)
            && p.feature == Some(I_EXTRA)),
        "no duplicate-code for feature {I_EXTRA}:\n{report}"
    );
}

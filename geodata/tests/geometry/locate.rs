//! The point index: inside, on edges and corners, snapping, outside, bad input, swapping.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use geo::{LineString, MultiPolygon, Polygon};
use geodata::crs::{self, Crs};
use geodata::index::SharedIndex;
use geodata::{AreaCode, GridIndex, IndexOptions, Layer, Level, LocateError, Unit};

/// The south-west corner of the test community, exactly representable.
const LON0: f64 = 118.25;
const LAT0: f64 = 33.875;
/// The side of a test grid: 2^-8 degrees (about 360 m by 430 m), exactly representable.
const SIDE: f64 = 0.003_906_25;

fn code(s: &str) -> AreaCode {
    AreaCode::parse(s).unwrap()
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    Polygon::new(LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]), Vec::new())
}

fn unit(c: &str, polygons: Vec<Polygon<f64>>) -> Unit {
    Unit { code: code(c), name: format!("unit {c}"), geometry: MultiPolygon(polygons) }
}

/// A city, county, township and community all covering `whole`, and the given grids in it.
fn community_with(whole: Polygon<f64>, grids: Vec<(&str, Polygon<f64>)>) -> Layer {
    let units = ["321300", "321302", "321302001", "321302001001"].map(|c| unit(c, vec![whole.clone()]));
    Layer::from_units(units.into_iter().chain(grids.into_iter().map(|(c, p)| unit(c, vec![p])))).unwrap()
}

/// A community of 2 × 2 grids: 001 north-west, 002 north-east, 003 south-west, 004 south-east.
fn four_grids(codes: [&str; 4]) -> Layer {
    let whole = rect(LON0, LAT0, LON0 + 2.0 * SIDE, LAT0 + 2.0 * SIDE);
    let (x, y, s) = (LON0, LAT0, SIDE);
    Layer::from_units([
        unit("321300", vec![whole.clone()]),
        unit("321302", vec![whole.clone()]),
        unit("321302001", vec![whole.clone()]),
        unit("321302001001", vec![whole]),
        unit(codes[0], vec![rect(x, y + s, x + s, y + 2.0 * s)]),
        unit(codes[1], vec![rect(x + s, y + s, x + 2.0 * s, y + 2.0 * s)]),
        unit(codes[2], vec![rect(x, y, x + s, y + s)]),
        unit(codes[3], vec![rect(x + s, y, x + 2.0 * s, y + s)]),
    ])
    .unwrap()
}

const CODES: [&str; 4] = ["321302001001001", "321302001001002", "321302001001003", "321302001001004"];

fn index(layer: &Layer) -> GridIndex {
    GridIndex::build(layer, IndexOptions::default())
}

fn grid_at(index: &GridIndex, lon: f64, lat: f64) -> String {
    let p = index.locate(lon, lat).unwrap();
    assert!(!p.snapped && p.distance_m == 0.0, "{lon},{lat} was snapped");
    p.grid.code.to_string()
}

#[test]
fn points_inside_land_in_their_grid_with_the_whole_chain() {
    let index = index(&four_grids(CODES));
    let (x, y, s) = (LON0, LAT0, SIDE);
    assert_eq!(grid_at(&index, x + 0.5 * s, y + 1.5 * s), CODES[0]);
    assert_eq!(grid_at(&index, x + 1.5 * s, y + 1.5 * s), CODES[1]);
    assert_eq!(grid_at(&index, x + 0.5 * s, y + 0.5 * s), CODES[2]);
    assert_eq!(grid_at(&index, x + 1.5 * s, y + 0.5 * s), CODES[3]);
    let placed = index.locate(x + 1.9 * s, y + 0.1 * s).unwrap();
    let chain: Vec<(Level, &str)> = placed.grid.chain.iter().map(|l| (l.level, l.code.as_str())).collect();
    assert_eq!(
        chain,
        [
            (Level::City, "321300"),
            (Level::County, "321302"),
            (Level::Township, "321302001"),
            (Level::Community, "321302001001"),
            (Level::Grid, CODES[3]),
        ]
    );
    assert_eq!(placed.grid.chain[3].name, "unit 321302001001");
    // Grids can be looked up by code too.
    assert_eq!(index.len(), 4);
    assert_eq!(index.grid(&code(CODES[2])).unwrap().code.as_str(), CODES[2]);
    assert!(index.grid(&code("321302001001009")).is_none());
}

#[test]
fn a_point_on_a_shared_edge_or_corner_belongs_to_the_smallest_code() {
    let index = index(&four_grids(CODES));
    let (x, y, s) = (LON0, LAT0, SIDE);
    // The vertical edge between 001 and 002, the horizontal one between 002 and 004.
    assert_eq!(grid_at(&index, x + s, y + 1.5 * s), CODES[0]);
    assert_eq!(grid_at(&index, x + 1.5 * s, y + s), CODES[1]);
    assert_eq!(grid_at(&index, x + 0.25 * s, y + s), CODES[0]);
    // The corner shared by all four.
    assert_eq!(grid_at(&index, x + s, y + s), CODES[0]);
    // An edge of 004 alone, on the outer boundary: 004, not snapped.
    assert_eq!(grid_at(&index, x + 2.0 * s, y + 0.5 * s), CODES[3]);
    // A corner of the layer.
    assert_eq!(grid_at(&index, x + 2.0 * s, y), CODES[3]);
}

#[test]
fn the_edge_rule_follows_the_codes_not_the_order_of_the_data() {
    // The same geometry with the codes of 001 and 004 exchanged.
    let swapped = [CODES[3], CODES[1], CODES[2], CODES[0]];
    let index = index(&four_grids(swapped));
    let (x, y, s) = (LON0, LAT0, SIDE);
    // Now the south-east square is 001: the shared corner and its edges go to it.
    assert_eq!(grid_at(&index, x + s, y + s), CODES[0]);
    assert_eq!(grid_at(&index, x + 1.5 * s, y + s), CODES[0]);
    assert_eq!(grid_at(&index, x + s, y + 0.5 * s), CODES[0]);
    // The edge between the north squares (now 004 west, 002 east) goes to 002.
    assert_eq!(grid_at(&index, x + s, y + 1.5 * s), CODES[1]);
}

#[test]
fn a_diagonal_shared_edge_splits_the_points_near_it_cleanly() {
    let (x, y, s) = (LON0, LAT0, SIDE);
    let tri = |pts: Vec<(f64, f64)>| Polygon::new(LineString::from(pts), Vec::new());
    // Two triangles sharing the diagonal from (x, y) to (x + s, y + s).
    let lower = tri(vec![(x, y), (x + s, y), (x + s, y + s), (x, y)]);
    let upper = tri(vec![(x, y), (x + s, y + s), (x, y + s), (x, y)]);
    let whole = rect(x, y, x + s, y + s);
    let layer = community_with(whole, vec![("321302001001002", lower), ("321302001001001", upper)]);
    let index = index(&layer);
    // 1 cm across the diagonal, in degrees: far above the index's millimetre lattice.
    let cm = 0.01 / 92_457.0;
    for k in 1..64 {
        let t = f64::from(k) / 64.0;
        let (px, py) = (x + t * s, y + t * s);
        // On the diagonal (within the lattice's half millimetre): one of the two, never snapped.
        let on = grid_at(&index, px, py);
        assert!(on == "321302001001001" || on == "321302001001002");
        // A centimetre to either side decides for that side.
        assert_eq!(grid_at(&index, px + cm, py), "321302001001002");
        assert_eq!(grid_at(&index, px, py + cm), "321302001001001");
    }
    // The diagonal's end points are vertices of both triangles: the smaller code.
    assert_eq!(grid_at(&index, x + s, y + s), "321302001001001");
}

#[test]
fn a_point_just_outside_snaps_to_the_nearest_grid_with_its_distance() {
    let layer = four_grids(CODES);
    let index = index(&layer);
    let (x, y, s) = (LON0, LAT0, SIDE);
    // Metres per degree at this latitude (GRS80): about 92,457 east, 110,919 north.
    let (mx, my) = (92_457.0, 110_919.0);
    // 20 m east of 002.
    let placed = index.locate(x + 2.0 * s + 20.0 / mx, y + 1.5 * s).unwrap();
    assert!(placed.snapped);
    assert_eq!(placed.grid.code.as_str(), CODES[1]);
    assert!((placed.distance_m - 20.0).abs() < 0.1, "{}", placed.distance_m);
    // 30 m south of 003.
    let placed = index.locate(x + 0.5 * s, y - 30.0 / my).unwrap();
    assert!(placed.snapped);
    assert_eq!(placed.grid.code.as_str(), CODES[2]);
    assert!((placed.distance_m - 30.0).abs() < 0.1, "{}", placed.distance_m);
    // 30 m south and 40 m west of the south-west corner: 50 m away, just inside the tolerance? No: 50.0 is the limit.
    let placed = index.locate(x - 24.0 / mx, y - 32.0 / my).unwrap();
    assert!((placed.distance_m - 40.0).abs() < 0.1, "{}", placed.distance_m);
    assert_eq!(placed.grid.code.as_str(), CODES[2]);
}

#[test]
fn a_point_beyond_the_tolerance_is_outside_the_service_area() {
    let layer = four_grids(CODES);
    let (x, y, s) = (LON0, LAT0, SIDE);
    let far = (x + 2.0 * s + 60.0 / 92_457.0, y + 0.5 * s);
    match index(&layer).locate(far.0, far.1) {
        Err(LocateError::OutsideServiceArea { nearest_m: Some(d) }) => assert!((d - 60.0).abs() < 0.1, "{d}"),
        other => panic!("expected outside-service-area, got {other:?}"),
    }
    // A larger tolerance takes it in.
    let wide = GridIndex::build(&layer, IndexOptions { snap_tolerance_m: 100.0 });
    let placed = wide.locate(far.0, far.1).unwrap();
    assert!(placed.snapped);
    assert_eq!(placed.grid.code.as_str(), CODES[3]);
    // Far away entirely.
    assert!(
        matches!(index(&layer).locate(116.4, 39.9), Err(LocateError::OutsideServiceArea { nearest_m: Some(d) }) if d > 500_000.0)
    );
}

#[test]
fn bad_coordinates_are_refused() {
    let index = index(&four_grids(CODES));
    for (lon, lat) in [
        (f64::NAN, 33.9),
        (118.3, f64::NAN),
        (f64::INFINITY, 33.9),
        (181.0, 33.9),
        (-180.5, 0.0),
        (118.3, 90.5),
        (118.3, -91.0),
    ] {
        assert_eq!(index.locate(lon, lat), Err(LocateError::InvalidCoordinates), "{lon},{lat}");
        assert_eq!(index.locate_in(Crs::Gcj02, lon, lat), Err(LocateError::InvalidCoordinates));
    }
}

#[test]
fn an_empty_index_places_nothing() {
    let index = index(&Layer::default());
    assert!(index.is_empty());
    assert_eq!(index.locate(118.3, 33.9), Err(LocateError::OutsideServiceArea { nearest_m: None }));
}

#[test]
fn a_grid_with_a_hole_leaves_the_hole_to_the_grid_inside_it() {
    let (x, y, s) = (LON0, LAT0, SIDE);
    let outer_ring = rect(x, y, x + 3.0 * s, y + 3.0 * s).exterior().clone();
    let hole = rect(x + s, y + s, x + 2.0 * s, y + 2.0 * s);
    let ring_grid = Polygon::new(outer_ring, vec![hole.exterior().clone()]);
    let whole = rect(x, y, x + 3.0 * s, y + 3.0 * s);
    let layer = community_with(whole, vec![("321302001001001", ring_grid), ("321302001001002", hole)]);
    assert!(geodata::check_layer(&layer, &Default::default()).problems.is_empty());
    let index = index(&layer);
    assert_eq!(grid_at(&index, x + 1.5 * s, y + 1.5 * s), "321302001001002");
    assert_eq!(grid_at(&index, x + 0.5 * s, y + 1.5 * s), "321302001001001");
    // On the hole's edge: the smaller code, the ring.
    assert_eq!(grid_at(&index, x + s, y + 1.5 * s), "321302001001001");
}

#[test]
fn phones_coordinates_are_converted_before_locating() {
    let index = index(&four_grids(CODES));
    let (lon, lat) = (LON0 + 0.5 * SIDE, LAT0 + 0.5 * SIDE);
    let (glon, glat) = crs::wgs84_to_gcj02(lon, lat);
    let (blon, blat) = crs::wgs84_to_bd09(lon, lat);
    // The GCJ-02 offset here is hundreds of metres: taken as WGS-84 it lands elsewhere.
    assert!(index.locate(glon, glat).map(|p| p.grid.code.to_string()) != Ok(CODES[2].to_string()));
    assert_eq!(index.locate_in(Crs::Gcj02, glon, glat).unwrap().grid.code.as_str(), CODES[2]);
    assert_eq!(index.locate_in(Crs::Bd09, blon, blat).unwrap().grid.code.as_str(), CODES[2]);
    assert_eq!(index.locate_in(Crs::Wgs84, lon, lat).unwrap().grid.code.as_str(), CODES[2]);
}

#[test]
fn readers_keep_reading_while_the_index_is_swapped() {
    let a = four_grids(CODES);
    let b = four_grids(["321302001001011", "321302001001012", "321302001001013", "321302001001014"]);
    let shared = Arc::new(SharedIndex::new(index(&a)));
    let stop = Arc::new(AtomicBool::new(false));
    let (x, y) = (LON0 + 0.5 * SIDE, LAT0 + 0.5 * SIDE);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let current = shared.current();
                    seen.insert(current.locate(x, y).unwrap().grid.code.to_string());
                }
                seen
            })
        })
        .collect();
    for i in 0..200 {
        let next = if i % 2 == 0 { &b } else { &a };
        let old = shared.replace(index(next));
        // The replaced index is still whole for whoever holds it.
        assert_eq!(old.len(), 4);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let seen = r.join().unwrap();
        assert!(seen.iter().all(|c| c == CODES[2] || c == "321302001001013"), "{seen:?}");
    }
    assert_eq!(shared.current().locate(x, y).unwrap().grid.code.as_str(), CODES[2]);
}

#[test]
fn a_grid_with_very_many_vertices_is_still_indexed() {
    let (x, y, s) = (LON0, LAT0, SIDE);
    // 70,000 vertices along the south edge: more than one slab's count can hold.
    let n = 70_000;
    let mut ring: Vec<(f64, f64)> = (0..=n).map(|i| (x + s * f64::from(i) / f64::from(n), y)).collect();
    ring.extend([(x + s, y + s), (x, y + s), (x, y)]);
    let polygon = Polygon::new(LineString::from(ring), Vec::new());
    let whole = rect(x, y, x + s, y + s);
    let layer = community_with(whole, vec![("321302001001001", polygon)]);
    let index = index(&layer);
    assert!(index.unindexed().is_empty());
    assert_eq!(grid_at(&index, x + 0.5 * s, y + 0.5 * s), "321302001001001");
}

#[test]
fn a_grid_thinner_than_the_lattice_is_reported_not_silently_lost() {
    let (x, y, s) = (LON0, LAT0, SIDE);
    let whole = rect(x, y, x + s, y + s);
    let layer = community_with(
        whole.clone(),
        vec![("321302001001001", whole), ("321302001001002", rect(x, y + s, x + s, y + s + 1e-9))],
    );
    let index = index(&layer);
    assert_eq!(index.unindexed(), [code("321302001001002")]);
}

#[test]
fn a_negative_tolerance_snaps_nothing_and_never_panics() {
    let (x, y, s) = (LON0, LAT0, SIDE);
    // Enough vertices up one side for several slabs.
    let mut ring: Vec<(f64, f64)> = vec![(x, y), (x + s, y)];
    ring.extend((0..=400).map(|i| (x + s, y + s * f64::from(i) / 400.0)));
    ring.extend([(x, y + s), (x, y)]);
    let whole = rect(x, y, x + s, y + s);
    let layer = community_with(whole, vec![("321302001001001", Polygon::new(LineString::from(ring), Vec::new()))]);
    for tolerance in [-100.0, f64::NEG_INFINITY, f64::NAN] {
        let index = GridIndex::build(&layer, IndexOptions { snap_tolerance_m: tolerance });
        assert_eq!(index.options().snap_tolerance_m, 0.0);
        let outside = index.locate(x + s + 10.0 / 92_457.0, y + 0.5 * s);
        assert!(matches!(outside, Err(LocateError::OutsideServiceArea { nearest_m: Some(_) })), "{outside:?}");
        assert_eq!(grid_at(&index, x + 0.5 * s, y + 0.5 * s), "321302001001001");
    }
}

#[test]
fn a_point_off_the_lattice_still_hears_how_far_the_grids_are() {
    let index = index(&four_grids(CODES));
    // The other side of the world: beyond the lattice's range.
    match index.locate(-60.0, -30.0) {
        Err(LocateError::OutsideServiceArea { nearest_m: Some(d) }) => assert!(d > 1_000_000.0, "{d}"),
        other => panic!("{other:?}"),
    }
}

//! The demo area: real outline, synthetic partition, validated like any import.

use std::collections::BTreeMap;

use geo::{Area, BoundingRect, Centroid, Contains, Intersects, Point};
use geodata::geojson::write_layer;
use geodata::plane::LocalPlane;
use geodata::{
    AreaCode, GridIndex, IndexOptions, Layer, Level, ProblemKind, Tolerances, check_geojson, check_layer, demo,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn layer() -> Layer {
    demo::layer().unwrap()
}

/// Fusion welds its grids at a millimetre, so a few hairline overlaps or gaps (well under
/// the 1 m² the fusion promises) may remain; nothing else may.
fn assert_sound(report: &geodata::Report) {
    assert!(!report.has_errors(), "{report}");
    for p in &report.problems {
        assert!(matches!(p.kind, ProblemKind::Overlap | ProblemKind::Gap), "{report}");
    }
    assert!(report.problems.len() <= 5, "{report}");
}

#[test]
fn the_demo_validates_without_any_problem() {
    let layer = layer();
    let report = check_layer(&layer, &Tolerances::default());
    assert_sound(&report);
}

#[test]
fn the_demo_has_the_real_units_and_a_few_thousand_grids() {
    let counts = demo::count_by_level(&layer());
    assert_eq!(counts[&Level::City], 1);
    assert_eq!(counts[&Level::County], 1);
    assert_eq!(counts[&Level::Township], 18);
    assert_eq!(counts[&Level::Community], 208);
    // About 967 km² in 500 m cells: some 3,900, fewer where slivers merged.
    assert!((3_500..4_500).contains(&counts[&Level::Grid]), "{counts:?}");
    let layer = layer();
    let county = layer.get(&AreaCode::parse(demo::COUNTY_CODE).unwrap()).unwrap();
    assert_eq!(county.name, "宿城区");
    assert_eq!(layer.get(&AreaCode::parse("321302150").unwrap()).unwrap().name, "洋河镇");
}

#[test]
fn the_grids_cover_exactly_the_real_outline() {
    let layer = layer();
    let county = layer.get(&AreaCode::parse(demo::COUNTY_CODE).unwrap()).unwrap();
    let plane = LocalPlane::for_bounds(county.bounds().unwrap());
    // Plane areas add up exactly; the ellipsoid's correction is per polygon, so compare those.
    let county_plane = plane.project(&county.geometry).unsigned_area();
    let grids_plane: f64 = layer.grids().map(|g| plane.project(&g.geometry).unsigned_area()).sum();
    assert!((county_plane - grids_plane).abs() < 1.0, "county {county_plane} m², grids {grids_plane} m²");
    let county_m2 = plane.area_m2(&plane.project(&county.geometry));
    // The real outline's area, as shipped, is about 967 km².
    assert!((900e6..1_050e6).contains(&county_m2), "{county_m2}");
}

#[test]
fn the_demo_is_the_same_on_every_run() {
    assert_eq!(layer(), layer());
}

#[test]
fn the_demo_survives_a_geojson_round_trip() {
    let layer = layer();
    let text = write_layer(&layer).to_string();
    let checked = check_geojson(&text, &Tolerances::default());
    assert_sound(&checked.report);
    let back = checked.layer.unwrap();
    assert_eq!(back.len(), layer.len());
    for unit in layer.units() {
        let other = back.get(&unit.code).unwrap();
        assert_eq!(other.name, unit.name);
        assert!(other.geometry == unit.geometry, "{}'s boundary changed in the round trip", unit.code);
        assert_eq!(back.lineage(&unit.code), layer.lineage(&unit.code));
    }
    assert!(back.has_lineage());
}

#[test]
fn grids_are_numbered_west_to_east_north_to_south_in_each_community() {
    let layer = layer();
    // Rows are as tall as a typical grid of the community (the square root of the median
    // area), counted from the community's northern edge, in the communities' plane.
    let bounds = layer
        .at_level(Level::Community)
        .filter_map(|c| c.bounds())
        .reduce(|a, b| {
            geo::Rect::new(
                (a.min().x.min(b.min().x), a.min().y.min(b.min().y)),
                (a.max().x.max(b.max().x), a.max().y.max(b.max().y)),
            )
        })
        .unwrap();
    let plane = LocalPlane::for_bounds(bounds);
    let mut by_community: BTreeMap<AreaCode, Vec<(u32, f64, f64, f64)>> = BTreeMap::new();
    for grid in layer.grids() {
        let seq: u32 = grid.code.as_str()[12..].parse().unwrap();
        let m = plane.project(&grid.geometry);
        let c = m.centroid().unwrap();
        by_community.entry(grid.code.parent().unwrap()).or_default().push((seq, c.x(), c.y(), m.unsigned_area()));
    }
    for (community, grids) in by_community {
        let outline = plane.project(&layer.get(&community).unwrap().geometry);
        let top = outline.bounding_rect().unwrap().max().y;
        let mut areas: Vec<f64> = grids.iter().map(|g| g.3).collect();
        areas.sort_by(f64::total_cmp);
        let band = areas[areas.len() / 2].sqrt();
        let seqs: Vec<u32> = grids.iter().map(|g| g.0).collect();
        assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>(), "{community}: codes run 001, 002, …");
        let place: Vec<(i64, f64, f64)> =
            grids.iter().map(|g| (((top - g.2) / band).floor() as i64, g.1, -g.2)).collect();
        for (pair, seq) in place.windows(2).zip(&seqs[1..]) {
            // The next grid is in the same row further east (or as far east and further
            // south), or in a row further south.
            let (a, b) = (pair[0], pair[1]);
            let after = b.0 > a.0 || (b.0 == a.0 && (b.1 > a.1 || (b.1 == a.1 && b.2 > a.2)));
            assert!(after, "{community}: grid {seq} is out of order: {place:?}");
        }
    }
}

#[test]
fn every_point_of_the_county_lands_in_exactly_one_grid() {
    let layer = layer();
    let index = GridIndex::build(&layer, IndexOptions::default());
    let county = layer.get(&AreaCode::parse(demo::COUNTY_CODE).unwrap()).unwrap();
    let bounds = county.bounds().unwrap();
    let grids: Vec<_> = layer.grids().map(|g| (g, g.geometry.bounding_rect().unwrap())).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut inside = 0;
    for _ in 0..3_000 {
        let p = Point::new(
            rng.random_range(bounds.min().x..bounds.max().x),
            rng.random_range(bounds.min().y..bounds.max().y),
        );
        let holding: Vec<_> =
            grids.iter().filter(|(_, b)| b.intersects(&p)).filter(|(g, _)| g.geometry.contains(&p)).collect();
        assert!(holding.len() <= 1, "{p:?} lies inside {} grids", holding.len());
        if county.geometry.contains(&p) {
            inside += 1;
            let [(grid, _)] = holding.as_slice() else { panic!("{p:?} is inside the county but in no grid") };
            let placed = index.locate(p.x(), p.y()).unwrap();
            assert!(!placed.snapped);
            assert_eq!(placed.grid.code, grid.code);
            let chain: Vec<Level> = placed.grid.chain.iter().map(|l| l.level).collect();
            assert_eq!(chain, Level::ALL);
        }
    }
    // The county fills about two fifths of its bounding box.
    assert!(inside > 1_000, "only {inside} of the points fell in the county");
}

#[test]
fn the_county_outline_is_real_and_large_parts_of_the_bbox_are_outside() {
    // A point well outside the county (in its bounding box) is outside the service area.
    let layer = layer();
    let index = GridIndex::build(&layer, IndexOptions::default());
    let county = layer.get(&AreaCode::parse(demo::COUNTY_CODE).unwrap()).unwrap();
    let b = county.bounds().unwrap();
    // The south-west corner of the box is outside the outline.
    let corner = Point::new(b.min().x + 0.001, b.min().y + 0.001);
    assert!(!county.geometry.contains(&corner));
    assert!(index.locate(corner.x(), corner.y()).is_err());
    assert!(county.geometry.unsigned_area() > 0.0);
}

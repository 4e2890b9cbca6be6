//! Fusing grid layers: the result is a partition of the communities, below no minimum,
//! with lineage that adds up, the same on every run, and stable codes.

use std::collections::BTreeMap;

use geo::{Area, BooleanOps, BoundingRect, Buffer, LineString, MultiPolygon, Polygon, Rect};
use geodata::fuse::{FuseInput, FuseOptions, Fused, SourceGrid, SourceLayer, fuse};
use geodata::plane::LocalPlane;
use geodata::synth::{DrawnSpec, LatticeSpec, drawn_layer, lattice, redraw};
use geodata::{AreaCode, Layer, Level, Tolerances, Unit, check_layer};
use proptest::prelude::*;

fn no_progress() -> impl FnMut(geodata::fuse::Stage, usize, usize) {
    |_, _, _| {}
}

/// The units of a layer above its grids.
fn communities_of(layer: &Layer) -> Layer {
    Layer::from_units(layer.units().filter(|u| u.level() != Level::Grid).cloned()).unwrap()
}

/// A 综治 base traced again from the lattice's grids, and 应急 and 城管 layers drawn on
/// lattices of their own.
fn sources(layer: &Layer, seed: u64) -> (SourceLayer, Vec<SourceLayer>) {
    let county = &layer.at_level(Level::County).next().unwrap().geometry;
    let base = redraw("综治", layer.grids(), 2.0, 0.05, seed);
    let drawn = |name: &str, prefix: &str, cell_m, angle_deg, offset_m, seed| DrawnSpec {
        name: name.into(),
        id_prefix: prefix.into(),
        cell_m,
        angle_deg,
        offset_m,
        noise_m: 2.0,
        skip: 0.1,
        seed,
    };
    let emergency = drawn_layer(county, &drawn("应急", "YJ", 700.0, 9.0, (130.0, 70.0), seed + 1));
    let city = drawn_layer(county, &drawn("城管", "CG", 300.0, -14.0, (40.0, -90.0), seed + 2));
    (base, vec![emergency, city])
}

fn run(communities: &Layer, base: &SourceLayer, others: &[SourceLayer], previous: Option<&Layer>) -> Fused {
    let input = FuseInput { communities, base, others, previous };
    fuse(&input, &FuseOptions::default(), &mut no_progress()).unwrap()
}

fn plane_of(layer: &Layer) -> LocalPlane {
    LocalPlane::for_bounds(layer.bounds().unwrap())
}

fn union_all<'a>(geometries: impl IntoIterator<Item = &'a MultiPolygon<f64>>) -> MultiPolygon<f64> {
    geometries.into_iter().fold(MultiPolygon::new(Vec::new()), |acc, g| acc.union(g))
}

/// Everything the issue asks of a fused layer.
fn check_fused(communities: &Layer, layers: &[&SourceLayer], fused: &Fused, options: &FuseOptions) {
    let plane = plane_of(communities);
    let m2 = |g: &MultiPolygon<f64>| plane.area_m2(&plane.project(g));
    let report = check_layer(&fused.layer, &Tolerances::default());
    assert!(!report.has_errors(), "{report}");

    let mut by_community: BTreeMap<AreaCode, Vec<&Unit>> = BTreeMap::new();
    for grid in fused.layer.grids() {
        assert_eq!(grid.code.as_str().len(), 15);
        by_community.entry(grid.parent().unwrap()).or_default().push(grid);
    }
    for community in communities.at_level(Level::Community) {
        let grids = by_community.get(&community.code).map_or(&[][..], Vec::as_slice);
        assert!(!grids.is_empty(), "community {} has no grid", community.code);
        // A partition: grids inside their community, covering it, not overlapping.
        let union = union_all(grids.iter().map(|g| &g.geometry));
        let outside = m2(&union.difference(&community.geometry));
        let uncovered = m2(&community.geometry.difference(&union));
        let overlap: f64 = grids.iter().map(|g| m2(&g.geometry)).sum::<f64>() - m2(&union);
        assert!(
            outside < 1.0 && uncovered < 1.0 && overlap < 1.0,
            "{}: {outside} {uncovered} {overlap}",
            community.code
        );
        for grid in grids {
            let geometry = plane.project(&grid.geometry);
            let small = plane.area_m2(&geometry) < options.min_area_m2
                || geometry.buffer(-options.min_width_m / 2.0).unsigned_area() <= 1e-6;
            if small {
                assert_eq!(grids.len(), 1, "{} is below the minimum and not alone", grid.code);
                assert!(fused.report.below_minimum_kept.contains(&grid.code.to_string()));
            }
        }
    }

    // Lineage: each layer's shares of a grid add up to the share of the grid the layer covers.
    let unions: Vec<(String, MultiPolygon<f64>)> =
        layers.iter().map(|l| (l.name.clone(), union_all(l.grids.iter().map(|g| &g.geometry)))).collect();
    for grid in fused.layer.grids() {
        let area = grid.geometry.unsigned_area();
        for (name, union) in &unions {
            let covered = grid.geometry.intersection(union).unsigned_area() / area;
            let sum: f64 = fused.layer.lineage(&grid.code).iter().filter(|s| &s.layer == name).map(|s| s.of_grid).sum();
            assert!((sum - covered).abs() < 1e-6, "{} layer {name}: shares {sum}, covered {covered}", grid.code);
        }
        for share in fused.layer.lineage(&grid.code) {
            assert!(share.of_grid > 0.0 && share.of_grid <= 1.0 + 1e-9 && share.of_source <= 1.0 + 1e-9, "{share:?}");
        }
    }
    assert_eq!(fused.report.grids_out, fused.layer.grids().count());
}

fn lattice_spec(seed: u64, columns: u32, rows: u32) -> LatticeSpec {
    LatticeSpec {
        columns,
        rows,
        cell_m: 400.0,
        extra_vertices: (0, 2),
        community_block: (3, 3),
        township_block: (2, 2),
        seed,
        ..LatticeSpec::default()
    }
}

/// Moves one vertex of one base grid by `metres` to the east.
fn nudge(base: &SourceLayer, which: usize, metres: f64) -> SourceLayer {
    let mut edited = base.clone();
    let n = edited.grids.len();
    let grid = &mut edited.grids[which % n];
    let plane = LocalPlane::for_bounds(grid.geometry.bounding_rect().unwrap());
    let ring = &mut grid.geometry.0[0];
    ring.exterior_mut(|ls| {
        let mut c = plane.forward(ls.0[1].x, ls.0[1].y);
        c.x += metres;
        ls.0[1] = plane.inverse(c);
    });
    edited
}

/// Every grid that a small edit left at least 90 % the same kept its code.
fn check_codes_kept(before: &Fused, after: &Fused) {
    let mut kept = 0;
    for grid in after.layer.grids() {
        let area = grid.geometry.unsigned_area();
        let same = before.layer.grids().filter(|old| old.parent() == grid.parent()).find(|old| {
            let common = grid.geometry.intersection(&old.geometry).unsigned_area();
            common >= 0.9 * area && common >= 0.9 * old.geometry.unsigned_area()
        });
        if let Some(old) = same {
            assert_eq!(old.code, grid.code, "a grid at least 90 % unchanged lost its code");
            kept += 1;
        }
    }
    let total = after.layer.grids().count();
    assert!(kept * 10 >= total * 9, "only {kept} of {total} grids kept their codes");
    assert_eq!(after.report.codes_kept, Some(kept));
}

#[test]
fn three_synthetic_layers_fuse_into_a_partition() {
    let layer = lattice(&lattice_spec(11, 9, 9)).unwrap();
    let communities = communities_of(&layer);
    let (base, others) = sources(&layer, 11);
    let fused = run(&communities, &base, &others, None);
    let layers: Vec<&SourceLayer> = std::iter::once(&base).chain(&others).collect();
    check_fused(&communities, &layers, &fused, &FuseOptions::default());
    let r = &fused.report;
    assert_eq!(r.layers.len(), 3);
    assert_eq!(r.layers[0].grids_in, base.grids.len());
    // The base left about 5 % of its grids undrawn: those holes were filled.
    assert!(r.gaps_filled >= 1 && r.gaps_filled_from_layers >= 1, "{r}");
    // Traced grids overlap and leave slivers along every shared edge.
    assert!(r.slivers_merged > 0 && r.overlaps_resolved > 0, "{r}");
    assert!(r.layers[1].split_across_communities.len() > 5, "{r}");
    let text = r.to_string();
    assert!(text.contains("slivers merged") && text.contains("layer 应急"), "{text}");
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["grids_out"], serde_json::json!(fused.layer.grids().count()));
}

#[test]
fn fusion_is_deterministic_and_keeps_codes_after_a_small_edit() {
    let layer = lattice(&lattice_spec(5, 6, 6)).unwrap();
    let communities = communities_of(&layer);
    let (base, others) = sources(&layer, 5);
    let first = run(&communities, &base, &others, None);
    let again = run(&communities, &base, &others, None);
    assert!(first.layer == again.layer, "two runs differ");
    assert_eq!(first.report, again.report);
    assert_eq!(first.report.codes_kept, None);

    let edited = nudge(&base, 7, 30.0);
    let after = run(&communities, &edited, &others, Some(&first.layer));
    check_codes_kept(&first, &after);
    // Refusing the codes: the same edit without the previous layer still fuses.
    let unanchored = run(&communities, &edited, &others, None);
    assert_eq!(unanchored.report.grids_out, after.report.grids_out);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_layers_fuse_into_a_partition(seed in 0u64..1_000_000, columns in 2u32..9, rows in 2u32..9) {
        let layer = lattice(&lattice_spec(seed, columns, rows)).unwrap();
        let communities = communities_of(&layer);
        let (base, others) = sources(&layer, seed);
        let fused = run(&communities, &base, &others, None);
        let layers: Vec<&SourceLayer> = std::iter::once(&base).chain(&others).collect();
        check_fused(&communities, &layers, &fused, &FuseOptions::default());
        let edited = nudge(&base, seed as usize, 20.0);
        let after = run(&communities, &edited, &others, Some(&fused.layer));
        check_codes_kept(&fused, &after);
    }
}

// Hand-made cases, drawn in metres near 宿迁 and turned into degrees.

fn plane() -> LocalPlane {
    LocalPlane::centred_at(118.3, 33.9)
}

fn rect_m(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    let p = plane();
    let ring: LineString<f64> =
        [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)].iter().map(|&(x, y)| p.inverse((x, y).into())).collect();
    MultiPolygon(vec![Polygon::new(ring, Vec::new())])
}

fn unit(code: &str, geometry: MultiPolygon<f64>) -> Unit {
    Unit { code: AreaCode::parse(code).unwrap(), name: format!("单元{code}"), geometry }
}

/// A township of communities, each given as a rectangle in metres, with its city and county.
fn township(communities: &[(f64, f64, f64, f64)]) -> Layer {
    let all = communities
        .iter()
        .map(|&(a, b, c, d)| rect_m(a, b, c, d))
        .fold(MultiPolygon::new(Vec::new()), |acc, g| acc.union(&g));
    let mut units = vec![unit("321300", all.clone()), unit("321302", all.clone()), unit("321302001", all)];
    for (i, &(a, b, c, d)) in communities.iter().enumerate() {
        units.push(unit(&format!("321302001{:03}", i + 1), rect_m(a, b, c, d)));
    }
    Layer::from_units(units).unwrap()
}

fn source(name: &str, grids: &[(&str, MultiPolygon<f64>)]) -> SourceLayer {
    SourceLayer {
        name: name.into(),
        grids: grids
            .iter()
            .map(|(id, g)| SourceGrid { id: (*id).into(), name: format!("{name}{id}"), geometry: g.clone() })
            .collect(),
    }
}

/// The area in the plane the cases were drawn in (not corrected for the ellipsoid).
fn area_m2(g: &MultiPolygon<f64>) -> f64 {
    plane().project(g).unsigned_area()
}

#[test]
fn a_sliver_between_two_layers_merges_into_its_neighbour() {
    let communities = township(&[(0.0, 0.0, 1000.0, 500.0)]);
    // The base draws the west half; the 应急 layer the east, starting 8 m too far east —
    // beyond the snapping distance, so a strip 8 m wide is covered by neither.
    let base = source("综治", &[("A", rect_m(0.0, 0.0, 500.0, 500.0))]);
    let other = source("应急", &[("E", rect_m(508.0, -20.0, 1020.0, 520.0))]);
    let fused = run(&communities, &base, std::slice::from_ref(&other), None);
    check_fused(&communities, &[&base, &other], &fused, &FuseOptions::default());
    assert_eq!(fused.report.grids_out, 2, "{}", fused.report);
    assert_eq!(fused.report.slivers_merged, 1, "{}", fused.report);
    assert_eq!(fused.report.gaps_filled_from_layers, 1);
    // Both neighbours share 500 m with the strip; the tie goes to the first piece, the base's.
    let west = fused.layer.grids().find(|g| g.code.as_str() == "321302001001001").unwrap();
    assert!((area_m2(&west.geometry) - 508.0 * 500.0).abs() < 1.0, "{}", area_m2(&west.geometry));

    // Drawn only 3 m too far east, the 应急 edge snaps onto the base's: no sliver at all.
    let close = source("应急", &[("E", rect_m(503.0, -20.0, 1020.0, 520.0))]);
    let fused = run(&communities, &base, std::slice::from_ref(&close), None);
    assert_eq!(fused.report.slivers_merged, 0, "{}", fused.report);
    assert_eq!(fused.report.grids_out, 2);
    check_fused(&communities, &[&base, &close], &fused, &FuseOptions::default());
}

#[test]
fn a_source_grid_straddling_two_communities_is_split_between_them() {
    let communities = township(&[(0.0, 500.0, 1000.0, 1000.0), (0.0, 0.0, 1000.0, 500.0)]);
    let base = source(
        "综治",
        &[
            ("S", rect_m(0.0, 300.0, 400.0, 700.0)),
            ("N", rect_m(0.0, 700.0, 1000.0, 1000.0)),
            ("M", rect_m(400.0, 300.0, 1000.0, 700.0)),
            ("SW", rect_m(0.0, 0.0, 1000.0, 300.0)),
        ],
    );
    let fused = run(&communities, &base, &[], None);
    check_fused(&communities, &[&base], &fused, &FuseOptions::default());
    let split = &fused.report.layers[0].split_across_communities;
    assert_eq!(split, &["S".to_owned(), "M".to_owned()]);
    // Each half of S is a grid of its own community, and remembers half of S.
    for community in ["321302001001", "321302001002"] {
        let halves: Vec<_> = fused
            .layer
            .grids()
            .filter(|g| g.parent().unwrap().as_str() == community)
            .filter(|g| fused.layer.lineage(&g.code).iter().any(|s| s.source == "S" && s.of_grid > 0.99))
            .collect();
        assert_eq!(halves.len(), 1, "{community}");
        let share = fused.layer.lineage(&halves[0].code).iter().find(|s| s.source == "S").unwrap().of_source;
        assert!((share - 0.5).abs() < 1e-6, "{share}");
    }
}

#[test]
fn a_hole_in_the_base_is_filled_from_another_layer() {
    let communities = township(&[(0.0, 0.0, 1000.0, 1000.0)]);
    let ring = rect_m(0.0, 0.0, 1000.0, 1000.0).difference(&rect_m(300.0, 300.0, 700.0, 700.0));
    let base = source("综治", &[("R", ring)]);
    let city = source("城管", &[("C1", rect_m(250.0, 250.0, 750.0, 750.0))]);
    let fused = run(&communities, &base, std::slice::from_ref(&city), None);
    check_fused(&communities, &[&base, &city], &fused, &FuseOptions::default());
    assert_eq!(fused.report.grids_out, 2, "{}", fused.report);
    assert_eq!(fused.report.gaps_filled, 1);
    assert_eq!(fused.report.gaps_filled_from_layers, 1);
    let hole = fused.layer.grids().find(|g| fused.layer.lineage(&g.code).iter().any(|s| s.layer == "城管")).unwrap();
    assert!((area_m2(&hole.geometry) - 160_000.0).abs() < 1.0);
    let c1 = fused.layer.lineage(&hole.code).iter().find(|s| s.source == "C1").unwrap();
    assert!((c1.of_grid - 1.0).abs() < 1e-9 && (c1.of_source - 0.64).abs() < 1e-6, "{c1:?}");
}

#[test]
fn a_self_intersecting_polygon_is_reported_and_repaired() {
    let communities = township(&[(0.0, 0.0, 1000.0, 1000.0)]);
    let p = plane();
    // A bow tie: its ring crosses itself at the middle.
    let bow: LineString<f64> = [(0.0, 0.0), (1000.0, 1000.0), (1000.0, 0.0), (0.0, 1000.0), (0.0, 0.0)]
        .iter()
        .map(|&(x, y)| p.inverse((x, y).into()))
        .collect();
    let base = source(
        "综治",
        &[("BOW", MultiPolygon(vec![Polygon::new(bow, Vec::new())])), ("ALL", rect_m(0.0, 0.0, 1000.0, 1000.0))],
    );
    let fused = run(&communities, &base, &[], None);
    check_fused(&communities, &[&base], &fused, &FuseOptions::default());
    assert_eq!(fused.report.layers[0].repaired, ["BOW"]);
    assert!(fused.report.problems[0].detail.contains("invalid geometry"), "{:?}", fused.report.problems);
    assert!(fused.report.to_string().contains("problem: layer 综治 grid BOW"));
}

#[test]
fn bad_options_and_inputs_are_refused() {
    let communities = township(&[(0.0, 0.0, 1000.0, 1000.0)]);
    let base = source("综治", &[("A", rect_m(0.0, 0.0, 1000.0, 1000.0))]);
    let input = FuseInput { communities: &communities, base: &base, others: &[], previous: None };
    let bad = FuseOptions { snap_m: f64::NAN, ..FuseOptions::default() };
    assert!(fuse(&input, &bad, &mut no_progress()).is_err());
    let twin = source("综治", &[]);
    let input = FuseInput { others: std::slice::from_ref(&twin), ..input };
    assert!(fuse(&input, &FuseOptions::default(), &mut no_progress()).is_err());
    let empty = Layer::default();
    let input = FuseInput { communities: &empty, others: &[], ..input };
    assert!(fuse(&input, &FuseOptions::default(), &mut no_progress()).is_err());
    // An empty base: every community becomes one grid of its own.
    let nothing = source("综治", &[]);
    let fused = run(&communities, &nothing, &[], None);
    assert_eq!(fused.report.grids_out, 1);
    assert_eq!(fused.report.gaps_filled, 1);
    let r: Rect<f64> = fused.layer.grids().next().unwrap().geometry.bounding_rect().unwrap();
    assert!(r.width() > 0.0);
}

#[test]
fn the_demo_county_is_fused_from_its_three_layers() {
    let demo = geodata::demo::fusion().unwrap();
    let names: Vec<&str> = demo.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["综治", "应急", "城管"]);
    let (fused, options) = (&demo.fused, FuseOptions::default());
    let r = &fused.report;
    assert_eq!(r.communities, 208);
    assert!(r.slivers_merged > 100 && r.gaps_filled_from_layers > 10 && r.overlaps_resolved > 100, "{r}");
    // Minimum size, and lineage, on every grid; the partition is checked in demo_area.rs.
    let plane = plane_of(&demo.communities);
    type Boxed<'a> = Vec<(Rect<f64>, &'a MultiPolygon<f64>)>;
    let layer_grids: Vec<(&str, Boxed)> = demo
        .sources
        .iter()
        .map(|s| {
            (s.name.as_str(), s.grids.iter().map(|g| (g.geometry.bounding_rect().unwrap(), &g.geometry)).collect())
        })
        .collect();
    for (n, grid) in fused.layer.grids().enumerate() {
        let m = plane.project(&grid.geometry);
        assert!(plane.area_m2(&m) >= options.min_area_m2 || r.below_minimum_kept.contains(&grid.code.to_string()));
        assert!(fused.layer.lineage(&grid.code).iter().any(|s| s.layer == "综治" || s.of_grid > 0.5), "{}", grid.code);
        if n % 10 != 0 {
            continue;
        }
        let b = grid.geometry.bounding_rect().unwrap();
        let area = grid.geometry.unsigned_area();
        for (name, grids) in &layer_grids {
            let near = grids.iter().filter(|(r, _)| {
                r.min().x <= b.max().x && b.min().x <= r.max().x && r.min().y <= b.max().y && b.min().y <= r.max().y
            });
            let union = union_all(near.map(|(_, g)| *g));
            let covered = grid.geometry.intersection(&union).unsigned_area() / area;
            let sum: f64 = fused.layer.lineage(&grid.code).iter().filter(|s| s.layer == *name).map(|s| s.of_grid).sum();
            // Two base grids were drawn crossing themselves and repaired: their lineage
            // counts the repaired area, the union here the drawn one.
            assert!(
                (sum - covered).abs() < 1e-6
                    || r.layers[0].repaired.iter().any(|id| fused
                        .layer
                        .lineage(&grid.code)
                        .iter()
                        .any(|s| &s.source == id)),
                "{} layer {name}: {sum} vs {covered}",
                grid.code
            );
        }
    }
}

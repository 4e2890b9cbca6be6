//! Synthetic layers: they validate cleanly, and every point lands in exactly one grid.

use geo::{Contains, Distance, Euclidean, Intersects, Point};
use geodata::plane::LocalPlane;
use geodata::synth::{LatticeSpec, lattice};
use geodata::{GridIndex, IndexOptions, Level, Tolerances, check_layer};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn spec(seed: u64, columns: u32, rows: u32, extra: (u32, u32)) -> LatticeSpec {
    LatticeSpec {
        columns,
        rows,
        extra_vertices: extra,
        community_block: (3, 4),
        township_block: (2, 2),
        seed,
        ..LatticeSpec::default()
    }
}

#[test]
fn a_lattice_validates_without_any_problem() {
    let layer = lattice(&spec(7, 13, 11, (0, 6))).unwrap();
    let report = check_layer(&layer, &Tolerances::default());
    assert!(report.problems.is_empty(), "{report}");
    assert_eq!(layer.grids().count(), 13 * 11);
    assert_eq!(layer.at_level(Level::County).count(), 1);
}

/// Every point in the county is inside or on the edge of at least one grid, strictly
/// inside at most one, and the index names one of those.
fn check_points(seed: u64, layer: &geodata::Layer, n: usize) {
    let index = GridIndex::build(layer, IndexOptions::default());
    let county = layer.at_level(Level::County).next().unwrap();
    let b = county.bounds().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..n {
        let p = Point::new(rng.random_range(b.min().x..b.max().x), rng.random_range(b.min().y..b.max().y));
        let strictly: Vec<_> = layer.grids().filter(|g| g.geometry.contains(&p)).collect();
        let touching: Vec<_> = layer.grids().filter(|g| g.geometry.intersects(&p)).collect();
        assert!(strictly.len() <= 1, "{p:?} strictly inside {} grids", strictly.len());
        if county.geometry.intersects(&p) {
            assert!(!touching.is_empty(), "{p:?} is in the county but in no grid");
            let placed = index.locate(p.x(), p.y()).unwrap();
            assert!(!placed.snapped && placed.distance_m == 0.0);
            // The index rounds points to a lattice of about a millimetre (see its docs): a
            // point that close to an edge may go to the grid across it.
            let near = |g: &geodata::Unit| {
                let plane = LocalPlane::centred_at(p.x(), p.y());
                let here = plane.forward(p.x(), p.y());
                Euclidean.distance(&Point(here), &plane.project(&g.geometry)) < 1e-3
            };
            let placed_unit = layer.get(&placed.grid.code).unwrap();
            assert!(
                touching.iter().any(|g| g.code == placed.grid.code) || near(placed_unit),
                "{p:?} placed in {}, touching {:?}",
                placed.grid.code,
                touching.iter().map(|g| g.code.to_string()).collect::<Vec<_>>()
            );
            if let [only] = strictly.as_slice() {
                assert!(only.code == placed.grid.code || near(placed_unit), "{p:?} inside {}", only.code);
            }
            assert_eq!(placed.grid.chain.len(), 5);
        } else {
            assert!(touching.is_empty());
        }
    }
}

#[test]
fn every_point_of_a_lattice_lands_in_exactly_one_grid() {
    let layer = lattice(&spec(3, 9, 8, (0, 5))).unwrap();
    check_points(3, &layer, 3000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_lattices_are_partitions(seed in 0u64..1_000_000, columns in 1u32..9, rows in 1u32..9, extra in 0u32..6) {
        let layer = lattice(&spec(seed, columns, rows, (0, extra))).unwrap();
        let report = check_layer(&layer, &Tolerances::default());
        prop_assert!(report.problems.is_empty(), "{}", report);
        check_points(seed, &layer, 300);
    }
}

/// A case proptest found on a CI run (seed 284147, 5 × 3, no extra vertices).
#[test]
fn the_lattice_of_seed_284147_places_every_point_in_a_grid_that_holds_it() {
    let layer = lattice(&spec(284147, 5, 3, (0, 0))).unwrap();
    check_points(284147, &layer, 300);
}

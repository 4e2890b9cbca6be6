//! The grid layer in storage, on both backends: SQLite in a temporary file and
//! PostgreSQL on 127.0.0.1:5432 (a fresh database per test, dropped afterwards). Under CI
//! (`CI=true`) an unreachable PostgreSQL fails the tests instead of skipping them.

use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use geodata::{Layer, Level};
use gridlink::geo::store::{LayerStoreError, grid_count, load_layer, save_layer};

use crate::support::{self, TestDb};

/// Runs `test` on a fresh SQLite database, then on a fresh PostgreSQL one.
fn on_both(test: impl Fn(&TestDb)) {
    for t in support::both() {
        test(&t);
    }
}

/// The demo layer, built once for every test in this binary.
fn demo() -> &'static Layer {
    static DEMO: OnceLock<Layer> = OnceLock::new();
    DEMO.get_or_init(|| geodata::demo::layer().unwrap())
}

/// A small layer cut from the demo: its city and county, one township, one community and
/// that community's grids.
fn one_community() -> Layer {
    let demo = demo();
    let community = demo.at_level(Level::Community).next().unwrap().code.clone();
    Layer::from_units(demo.chain(&community).into_iter().cloned().chain(demo.children(&community).cloned())).unwrap()
}

fn save(t: &TestDb, layer: &Layer) {
    t.db.write(|c| save_layer(c, layer, &mut |_, _| {})).unwrap();
}

fn load(t: &TestDb) -> Option<Layer> {
    t.db.read(|c| Ok(load_layer(c))).unwrap().unwrap()
}

fn assert_same_layer(got: &Layer, want: &Layer, backend: &str) {
    assert_eq!(got.len(), want.len(), "{backend}");
    for (g, w) in got.units().zip(want.units()) {
        assert_eq!((&g.code, &g.name, g.level(), g.parent()), (&w.code, &w.name, w.level(), w.parent()), "{backend}");
    }
    // Fused grids' lineage (三网融合) is kept with them.
    for grid in want.grids() {
        assert_eq!(got.lineage(&grid.code), want.lineage(&grid.code), "{backend}: lineage of {}", grid.code);
    }
    // Geometry, coordinate for coordinate, and the GeoJSON written from it.
    assert!(got == want, "{backend}: the geometry changed on the way through storage");
    assert_eq!(geodata::geojson::write_layer(got), geodata::geojson::write_layer(want), "{backend}");
}

#[test]
fn an_empty_database_holds_no_layer() {
    on_both(|t| {
        assert!(load(t).is_none(), "{}", t.name);
        assert_eq!(t.db.read(grid_count).unwrap(), 0, "{}", t.name);
    });
}

#[test]
fn the_demo_layer_comes_back_as_it_went_in() {
    on_both(|t| {
        let demo = demo();
        let mut reports = Vec::new();
        t.db.write(|c| save_layer(c, demo, &mut |done, total| reports.push((done, total)))).unwrap();
        assert_eq!(t.db.read(grid_count).unwrap(), 4100, "{}", t.name);
        // Progress starts at nothing, only grows, and ends at everything.
        assert_eq!(reports.first(), Some(&(0, demo.len())), "{}", t.name);
        assert_eq!(reports.last(), Some(&(demo.len(), demo.len())), "{}", t.name);
        assert!(reports.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 == w[1].1), "{}: {reports:?}", t.name);
        assert!(reports.len() > 3, "{}: written in batches", t.name);
        assert_same_layer(&load(t).unwrap(), demo, t.name);
    });
}

#[test]
fn saving_again_replaces_the_stored_layer() {
    on_both(|t| {
        save(t, demo());
        save(t, demo());
        assert_eq!(t.db.read(grid_count).unwrap(), 4100, "{}: no duplicates", t.name);
        assert_same_layer(&load(t).unwrap(), demo(), t.name);

        let small = one_community();
        save(t, &small);
        assert_eq!(t.db.read(grid_count).unwrap(), small.grids().count() as i64, "{}", t.name);
        assert_same_layer(&load(t).unwrap(), &small, t.name);
    });
}

#[test]
fn a_failed_save_leaves_the_stored_layer_in_place() {
    on_both(|t| {
        save(t, &one_community());
        // The demo without one community: that community's grids fail their foreign key,
        // after most of the rows have been written.
        let demo = demo();
        let missing = demo.at_level(Level::Community).last().unwrap().code.clone();
        let broken = Layer::from_units(demo.units().filter(|u| u.code != missing).cloned()).unwrap();
        let failed = t.db.write(|c| save_layer(c, &broken, &mut |_, _| {}));
        assert!(failed.is_err(), "{}", t.name);
        assert_same_layer(&load(t).unwrap(), &one_community(), t.name);
    });
}

#[test]
fn a_stored_row_that_no_longer_reads_is_named() {
    on_both(|t| {
        let small = one_community();
        save(t, &small);
        let grid = small.grids().next().unwrap().code.to_string();

        // Not JSON.
        t.db.write(|c| {
            c.batch_execute(&format!("UPDATE grids SET boundary = 'not json' WHERE code = '{grid}'"))?;
            Ok(())
        })
        .unwrap();
        match t.db.read(|c| Ok(load_layer(c))).unwrap() {
            Err(LayerStoreError::Boundary { code, .. }) => assert_eq!(code, grid, "{}", t.name),
            other => panic!("{}: {other:?}", t.name),
        }

        // JSON, but a ring of three positions.
        t.db.write(|c| {
            c.batch_execute(&format!(
                "UPDATE grids SET boundary = '{{\"type\": \"Polygon\", \"coordinates\": [[[118, 33], [119, 33], [118, 33]]]}}' \
                 WHERE code = '{grid}'"
            ))?;
            Ok(())
        })
        .unwrap();
        match t.db.read(|c| Ok(load_layer(c))).unwrap() {
            Err(e @ LayerStoreError::Invalid { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&grid) && message.contains("too-short-ring"), "{}: {message}", t.name);
            }
            other => panic!("{}: {other:?}", t.name),
        }

        // A grid filed under a unit that its code does not name.
        save(t, &small);
        let township = small.at_level(Level::Township).next().unwrap().code.to_string();
        t.db.write(|c| {
            c.batch_execute(&format!("UPDATE grids SET community_code = '{township}' WHERE code = '{grid}'"))?;
            Ok(())
        })
        .unwrap();
        match t.db.read(|c| Ok(load_layer(c))).unwrap() {
            Err(e @ LayerStoreError::Invalid { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&grid) && message.contains("parent-mismatch"), "{}: {message}", t.name);
            }
            other => panic!("{}: {other:?}", t.name),
        }
    });
}

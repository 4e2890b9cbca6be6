//! The GeoJSON import (`geodata::check_geojson`, what `gridlink grids check|import` run):
//! any text is checked without a panic; a layer is accepted only without errors, with every
//! coordinate a finite WGS-84 position; and an accepted layer, written out as GeoJSON
//! (`geojson::write_layer`, what `gridlink grids export` writes), is accepted again as the
//! same layer.

#![no_main]

use geodata::{Tolerances, check_geojson, geojson::write_layer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let tolerances = Tolerances::default();
    let checked = check_geojson(text, &tolerances);
    let Some(layer) = checked.layer else {
        assert!(checked.report.has_errors(), "a layer refused without an error");
        return;
    };
    assert!(!checked.report.has_errors(), "a layer accepted with errors");
    for unit in layer.units() {
        for polygon in &unit.geometry {
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                for c in ring.coords() {
                    assert!(
                        c.x.is_finite()
                            && c.y.is_finite()
                            && (-180.0..=180.0).contains(&c.x)
                            && (-90.0..=90.0).contains(&c.y),
                        "unit {} accepted with the position ({}, {})",
                        unit.code,
                        c.x,
                        c.y
                    );
                }
            }
        }
    }
    let written = write_layer(&layer).to_string();
    let again = check_geojson(&written, &tolerances);
    let Some(again) = again.layer else { panic!("an accepted layer, written out, is refused: {:?}", again.report) };
    let (first, second): (Vec<_>, Vec<_>) = (layer.units().collect(), again.units().collect());
    assert_eq!(first, second, "an accepted layer reads back as itself");
});

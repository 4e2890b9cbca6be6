//! The body of `POST /api/v1/reports`, as the route reads it: the JSON parsed and its texts
//! bounded (`body::json`), checked (`report::check_body`) and placed in the demo area
//! (`report::place`). Any bytes are refused with a 4xx, never a panic or a 5xx; a report
//! accepted is placed at a finite WGS-84 position, in a grid whose chain is whole.

#![no_main]

use std::sync::LazyLock;

use geodata::index::IndexOptions;
use gridlink::categories::CategoryTree;
use gridlink::geo::Geo;
use gridlink::incidents::report::{MAX_DESCRIPTION_CHARS, check_body, place};
use libfuzzer_sys::fuzz_target;

static TREE: LazyLock<CategoryTree> = LazyLock::new(|| CategoryTree::default_tree().expect("the built-in tree"));
static GEO: LazyLock<Geo> =
    LazyLock::new(|| Geo::new(geodata::demo::layer().expect("the demo area"), IndexOptions::default(), 0));

fuzz_target!(
    // Building the demo area takes seconds: once, before the first input is timed.
    init: {
        LazyLock::force(&TREE);
        LazyLock::force(&GEO);
    },
    |data: &[u8]| check(data)
);

fn check(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if gridlink::body::check_texts(&value).is_err() {
        return;
    }
    let report = match check_body(value, &TREE) {
        Ok(report) => report,
        Err(e) => return assert!((400..500).contains(&e.kind().status()), "{e}"),
    };
    let category = TREE.category(&report.category).expect("a category that exists");
    assert!(category.takes(report.severity).is_ok());
    assert!(report.description.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert_eq!(report.description, report.description.trim());
    assert!(!report.description.is_empty() || !report.photos.is_empty(), "a report says what is wrong");
    let (chain, (lon, lat)) = match place(&GEO, report.crs, report.lon, report.lat) {
        Ok(placed) => placed,
        Err(e) => return assert!((400..500).contains(&e.kind().status()), "{e}"),
    };
    assert!(lon.is_finite() && lat.is_finite(), "placed at ({lon}, {lat})");
    assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat), "placed at ({lon}, {lat})");
    assert!(chain.iter().all(|code| !code.is_empty()), "a whole chain: {chain:?}");
}

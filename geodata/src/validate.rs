//! Checks that a set of units and grids forms a sound hierarchy of areas.
//!
//! Per feature (see [`crate::geojson`]): properties, ring shape, coordinate ranges, and
//! then simple polygons (no self-intersections, rings that do not cross). Across
//! features: duplicate codes, unknown parents, units reaching outside their parent,
//! overlaps between units of one level, and gaps — parts of a county, township or
//! community covered by none of its children. A city is not checked for gaps: a
//! deployment may hold only some of its counties.
//!
//! Areas are measured in square metres in a local plane ([`crate::plane`]). An overlap, gap or overreach of at least
//! [`Tolerances::area_m2`] is an error and a smaller one a warning — unless it is
//! arithmetic noise, which is not reported: a piece under [`Tolerances::noise_m2`], or a
//! sliver thinner on average than [`Tolerances::noise_width_m`]. The boolean operations
//! work on an integer grid of about 1/30,000 of a millimetre per kilometre of extent, so
//! two polygons that share a border, one with an extra vertex on it, differ by slivers of
//! that width; a real gap or overlap is never that thin.

use std::collections::{BTreeMap, HashMap};

use geo::{
    BooleanOps, BoundingRect, Centroid, MultiPolygon, Polygon, Rect,
    algorithm::bool_ops::{FillRule, OpType},
    validation::{InvalidMultiPolygon, InvalidPolygon, Validation},
};
use rstar::{AABB, RTree, primitives::GeomWithData};

use crate::code::{AreaCode, Level};
use crate::geojson::{ParsedFeature, read_features};
use crate::model::{Layer, Unit};
use crate::plane::LocalPlane;
use crate::problem::{ProblemKind, Report, Severity};

/// The areas below which overlaps, gaps and overreach are forgiven.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// At or above this many m², an overlap, gap or overreach is an error; below, a warning.
    pub area_m2: f64,
    /// Below this many m², a piece is arithmetic noise and is not reported at all.
    pub noise_m2: f64,
    /// A piece thinner than this on average (twice its area over its perimeter, in
    /// metres) is arithmetic noise and is not reported at all.
    pub noise_width_m: f64,
}

impl Default for Tolerances {
    fn default() -> Tolerances {
        Tolerances { area_m2: 1.0, noise_m2: 1e-6, noise_width_m: 1e-4 }
    }
}

/// The outcome of checking an input: the layer, if no problem was an error, and the report.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The accepted layer; `None` when the report has errors.
    pub layer: Option<Layer>,
    /// Every problem found, errors and warnings.
    pub report: Report,
}

/// Reads and checks a GeoJSON FeatureCollection of units and grids.
pub fn check_geojson(text: &str, tolerances: &Tolerances) -> Checked {
    let mut report = Report::default();
    let features = read_features(text, &mut report);
    let entries: Vec<Entry> = features
        .iter()
        .map(|f: &ParsedFeature| Entry { feature: Some(f.index), code: &f.code, unit: f.unit.as_ref() })
        .collect();
    check_units(&entries, tolerances, &mut report);
    let layer = if report.has_errors() {
        None
    } else {
        let lineage: Vec<_> = features.iter().map(|f| (f.code.clone(), f.lineage.clone())).collect();
        Layer::from_units(features.into_iter().filter_map(|f| f.unit)).ok().map(|l| l.with_lineage(lineage))
    };
    Checked { layer, report }
}

/// Checks a layer built in memory (the demo, a fusion result) by the same rules.
pub fn check_layer(layer: &Layer, tolerances: &Tolerances) -> Report {
    let mut report = Report::default();
    let entries: Vec<Entry> = layer.units().map(|u| Entry { feature: None, code: &u.code, unit: Some(u) }).collect();
    check_units(&entries, tolerances, &mut report);
    report
}

/// A feature with a valid code; its unit is missing where the feature had other errors.
struct Entry<'a> {
    feature: Option<usize>,
    code: &'a AreaCode,
    unit: Option<&'a Unit>,
}

/// A unit that passed the per-unit checks, with its geometry in metres.
struct Sound<'a> {
    feature: Option<usize>,
    unit: &'a Unit,
    metric: MultiPolygon<f64>,
    bounds: Rect<f64>,
}

fn check_units(entries: &[Entry], tol: &Tolerances, report: &mut Report) {
    let mut first_of: HashMap<&AreaCode, Option<usize>> = HashMap::new();
    let mut distinct = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(first) = first_of.get(entry.code) {
            let first = first.map_or(String::new(), |i| format!(" (first at feature {i})"));
            report.push(
                Severity::Error,
                ProblemKind::DuplicateCode,
                entry.feature,
                Some(entry.code.as_str()),
                format!("code {} appears more than once{first}", entry.code),
            );
        } else {
            first_of.insert(entry.code, entry.feature);
            if let Some(unit) = entry.unit {
                distinct.push((entry.feature, unit));
            }
        }
    }

    for entry in entries {
        if let Some(parent) = entry.code.parent()
            && !first_of.contains_key(&parent)
        {
            report.push(
                Severity::Error,
                ProblemKind::UnknownParent,
                entry.feature,
                Some(entry.code.as_str()),
                format!("its parent {parent} ({}) is not in the layer", parent.level()),
            );
        }
    }

    let bounds = distinct.iter().filter_map(|(_, u)| u.bounds()).reduce(crate::model::union);
    let Some(bounds) = bounds else { return };
    let plane = LocalPlane::for_bounds(bounds);

    let mut sound: BTreeMap<&AreaCode, Sound> = BTreeMap::new();
    for &(feature, unit) in &distinct {
        if geometry_is_simple(feature, unit, report) {
            let metric = plane.project(&unit.geometry);
            if let Some(bounds) = metric.bounding_rect() {
                sound.insert(&unit.code, Sound { feature, unit, metric, bounds });
            }
        }
    }

    // Reports each piece of a difference or intersection that is more than noise.
    let mut judge = |pieces: MultiPolygon<f64>, kind, s: &Sound, describe: &dyn Fn(f64, String) -> String| {
        for piece in pieces {
            let area = plane.polygon_area_m2(&piece);
            let perimeter: f64 = std::iter::once(piece.exterior())
                .chain(piece.interiors())
                .flat_map(|r| r.lines())
                .map(|l| l.dx().hypot(l.dy()))
                .sum();
            if area < tol.noise_m2 || 2.0 * area / perimeter < tol.noise_width_m {
                continue;
            }
            let place = piece.centroid().map_or(String::new(), |c| {
                let d = plane.inverse(c.0);
                format!("near {:.6}, {:.6}", d.x, d.y)
            });
            let severity = if area >= tol.area_m2 { Severity::Error } else { Severity::Warning };
            report.push(severity, kind, s.feature, Some(s.unit.code.as_str()), describe(area, place));
        }
    };

    // Overreach: every unit inside its parent.
    for s in sound.values() {
        let Some(parent) = s.unit.parent().and_then(|p| sound.get(&p)) else { continue };
        let describe =
            |area: f64, place: String| format!("{area:.3} m² lies outside its parent {} {place}", parent.unit.code);
        judge(s.metric.difference(&parent.metric), ProblemKind::OutsideParent, s, &describe);
    }

    // Overlaps between units of one level, found through an R-tree of their boxes.
    for level in Level::ALL {
        let members: Vec<&Sound> = sound.values().filter(|s| s.unit.level() == level).collect();
        let tree = RTree::bulk_load(
            members
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    GeomWithData::new(
                        rstar::primitives::Rectangle::from_corners(
                            s.bounds.min().x_y().into(),
                            s.bounds.max().x_y().into(),
                        ),
                        i,
                    )
                })
                .collect::<Vec<_>>(),
        );
        for (i, a) in members.iter().enumerate() {
            let envelope =
                AABB::from_corners([a.bounds.min().x, a.bounds.min().y], [a.bounds.max().x, a.bounds.max().y]);
            for hit in tree.locate_in_envelope_intersecting(&envelope) {
                let j = hit.data;
                if j <= i {
                    continue;
                }
                let b = members[j];
                let describe = |area: f64, place: String| format!("overlaps {} by {area:.3} m² {place}", b.unit.code);
                judge(a.metric.intersection(&b.metric), ProblemKind::Overlap, a, &describe);
            }
        }
    }

    // Gaps: counties, townships and communities covered by their children, where the
    // layer holds the level below at all. A unit one of whose children was refused for
    // its own faults is not checked: the gap would only repeat that fault.
    let refused: Vec<&AreaCode> = entries.iter().filter(|e| !sound.contains_key(e.code)).map(|e| e.code).collect();
    for s in sound.values() {
        let Some(child_level) = s.unit.level().child() else { continue };
        if s.unit.level() == Level::City
            || !sound.values().any(|c| c.unit.level() == child_level)
            || refused.iter().any(|c| c.parent().as_ref() == Some(&s.unit.code))
        {
            continue;
        }
        let children: Vec<Polygon<f64>> = sound
            .range(s.unit.code.clone()..)
            .map(|(_, c)| c)
            .take_while(|c| s.unit.code.contains(&c.unit.code))
            .filter(|c| c.unit.parent().as_ref() == Some(&s.unit.code))
            .flat_map(|c| c.metric.0.iter().cloned())
            .collect();
        let count = children.len();
        let cover = MultiPolygon(children);
        // One operation with the non-zero rule, so edges shared by parent and children
        // cancel exactly and overlapping children still count as covered.
        let describe = |area: f64, place: String| {
            if count == 0 {
                format!("{area:.3} m², all of it, is covered by no {child_level}")
            } else {
                format!("{area:.3} m² is covered by none of its {child_level}s {place}")
            }
        };
        let gaps = s.metric.boolean_op_with_fill_rule(&cover, OpType::Difference, FillRule::NonZero);
        judge(gaps, ProblemKind::Gap, s, &describe);
    }
}

/// Reports self-intersections and other invalid geometry; true if the unit is sound.
fn geometry_is_simple(feature: Option<usize>, unit: &Unit, report: &mut Report) -> bool {
    let mut simple = true;
    for problem in unit.geometry.validation_errors() {
        simple = false;
        let (kind, detail) = match &problem {
            InvalidMultiPolygon::InvalidPolygon(index, inner) => {
                let part = if unit.geometry.0.len() > 1 { format!("polygon {}: ", index.0) } else { String::new() };
                let kind = match inner {
                    InvalidPolygon::SelfIntersection(_) => ProblemKind::SelfIntersection,
                    InvalidPolygon::TooFewPointsInRing(_) => ProblemKind::TooShortRing,
                    InvalidPolygon::NonFiniteCoord(..) => ProblemKind::NonFiniteCoordinate,
                    _ => ProblemKind::InvalidGeometry,
                };
                (kind, format!("{part}{inner}"))
            }
            other => (ProblemKind::InvalidGeometry, other.to_string()),
        };
        report.push(Severity::Error, kind, feature, Some(unit.code.as_str()), detail);
    }
    simple
}

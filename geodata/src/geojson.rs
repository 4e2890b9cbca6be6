//! GeoJSON (RFC 7946) in and out for units and grids.
//!
//! A feature carries its unit in its properties: `code` (string), `name` (string),
//! `level` (1–5, optional on input: the code implies it) and `parent` (the parent's code,
//! optional on input, `null` for a city). Geometry is a Polygon or MultiPolygon in
//! WGS-84 longitude/latitude.
//!
//! Reading is forgiving in what it *reports* and strict in what it *accepts*: every
//! feature is examined and every problem found is recorded, so one pass over a file
//! lists all that needs fixing. Only the features found sound here go on to the
//! cross-feature checks of [`crate::validate`].

use geo::{Coord, LineString, MultiPolygon, Orient, Polygon, orient::Direction};
use serde_json::{Map, Value, json};

use crate::code::{AreaCode, Level};
use crate::model::{Layer, SourceShare, Unit};
use crate::problem::{ProblemKind, Report, Severity};

/// A feature with a valid code, and its unit if everything else about it is sound too.
///
/// Features whose code is valid are kept even when their geometry is not, so that the
/// checks across features (duplicates, parents) still see them.
#[derive(Debug, Clone)]
pub(crate) struct ParsedFeature {
    /// Position in the input's `features` array.
    pub index: usize,
    pub code: AreaCode,
    pub unit: Option<Unit>,
    /// The source grids a fused grid came from (the optional `lineage` property).
    pub lineage: Vec<SourceShare>,
}

/// Reads a FeatureCollection, returning the features that are individually sound and
/// recording every problem found in the others.
pub(crate) fn read_features(text: &str, report: &mut Report) -> Vec<ParsedFeature> {
    let Some(features) = feature_array(text, report) else { return Vec::new() };
    features.iter().enumerate().filter_map(|(i, f)| read_feature(i, f, report)).collect()
}

/// The `features` of a FeatureCollection, or `None` (with the problem recorded) when the
/// text is not one.
pub(crate) fn feature_array(text: &str, report: &mut Report) -> Option<Vec<Value>> {
    // A byte-order mark is not JSON, but editors on Windows write one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            report.push(Severity::Error, ProblemKind::NotGeojson, None, None, format!("not valid JSON: {e}"));
            return None;
        }
    };
    let features = match doc {
        Value::Object(mut o) if o.get("type").and_then(Value::as_str) == Some("FeatureCollection") => {
            match o.remove("features") {
                Some(Value::Array(features)) => Some(features),
                _ => None,
            }
        }
        _ => None,
    };
    if features.is_none() {
        report.push(
            Severity::Error,
            ProblemKind::NotGeojson,
            None,
            None,
            "expected a GeoJSON object with \"type\": \"FeatureCollection\" and a \"features\" array",
        );
    }
    features
}

fn read_feature(index: usize, feature: &Value, report: &mut Report) -> Option<ParsedFeature> {
    let Some(obj) = feature.as_object().filter(|o| o.get("type").and_then(Value::as_str) == Some("Feature")) else {
        report.push(Severity::Error, ProblemKind::NotAFeature, Some(index), None, "not a GeoJSON Feature object");
        return None;
    };
    let props = obj.get("properties").and_then(Value::as_object);
    let raw_code = props.and_then(|p| p.get("code")).and_then(Value::as_str);
    let mut problem = |kind, detail: String| {
        report.push(Severity::Error, kind, Some(index), raw_code, detail);
    };

    let code = match raw_code {
        None => {
            let detail = match props.and_then(|p| p.get("code")) {
                Some(v) if !v.is_null() => format!("property \"code\" must be a string of digits, not {v}"),
                _ => "property \"code\" (a string of digits) is missing".into(),
            };
            problem(ProblemKind::MissingProperty, detail);
            None
        }
        Some(s) => match AreaCode::parse(s) {
            Ok(c) => Some(c),
            Err(e) => {
                problem(ProblemKind::BadCode, e.to_string());
                None
            }
        },
    };
    let name = props.and_then(|p| p.get("name")).and_then(Value::as_str).map(str::trim);
    if name.is_none_or(str::is_empty) {
        problem(ProblemKind::MissingProperty, "property \"name\" (a non-empty string) is missing".into());
    }
    // The code decides level and parent; a disagreeing property is reported, and the
    // unit still takes part in the geometric checks.
    if let (Some(code), Some(props)) = (&code, props) {
        check_level_and_parent(code, props, &mut problem);
    }
    let geometry = read_geometry(obj.get("geometry"), &mut problem);
    let lineage = read_lineage(props.and_then(|p| p.get("lineage")), &mut problem);
    let code = code?;
    let unit = match (name.filter(|n| !n.is_empty()), geometry) {
        (Some(name), Some(geometry)) => Some(Unit { code: code.clone(), name: name.to_owned(), geometry }),
        _ => None,
    };
    Some(ParsedFeature { index, code, unit, lineage })
}

/// The optional `lineage` property: an array of `{layer, source, of_grid, of_source}`
/// with both shares from 0 to 1.
fn read_lineage(value: Option<&Value>, problem: &mut impl FnMut(ProblemKind, String)) -> Vec<SourceShare> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Vec::new() };
    let shares: Vec<SourceShare> = match serde_json::from_value(value.clone()) {
        Ok(shares) => shares,
        Err(e) => {
            problem(
                ProblemKind::BadLineage,
                format!("property \"lineage\" must be an array of {{layer, source, of_grid, of_source}}: {e}"),
            );
            return Vec::new();
        }
    };
    let valid = |x: f64| (0.0..=1.0 + 1e-9).contains(&x);
    if let Some(bad) = shares.iter().find(|s| !valid(s.of_grid) || !valid(s.of_source)) {
        problem(
            ProblemKind::BadLineage,
            format!("lineage of source {} in layer {}: shares must lie between 0 and 1", bad.source, bad.layer),
        );
        return Vec::new();
    }
    shares
}

/// Checks the optional `level` and `parent` against the code.
fn check_level_and_parent(code: &AreaCode, props: &Map<String, Value>, problem: &mut impl FnMut(ProblemKind, String)) {
    match props.get("level") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let level = v
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (1.0..=5.0).contains(n))
                .and_then(|n| Level::from_number(n as u8));
            match level {
                Some(l) if l == code.level() => {}
                Some(l) => problem(
                    ProblemKind::LevelMismatch,
                    format!(
                        "level {} ({l}) given, but a code of {} digits is a {}",
                        l.number(),
                        code.as_str().len(),
                        code.level()
                    ),
                ),
                None => problem(ProblemKind::LevelMismatch, format!("level {v} is not a number from 1 to 5")),
            }
        }
    }
    let expected = code.parent();
    match props.get("parent") {
        None => {}
        Some(Value::Null) if expected.is_none() => {}
        Some(v) if v.as_str() != expected.as_ref().map(AreaCode::as_str) => {
            let want = expected.as_ref().map_or("null".to_owned(), |c| format!("\"{c}\""));
            problem(ProblemKind::ParentMismatch, format!("parent {v} given, but code {code} implies parent {want}"));
        }
        Some(_) => {}
    }
}

pub(crate) fn read_geometry(
    geometry: Option<&Value>,
    problem: &mut impl FnMut(ProblemKind, String),
) -> Option<MultiPolygon<f64>> {
    let geometry = geometry.and_then(Value::as_object);
    let kind = geometry.and_then(|g| g.get("type")).and_then(Value::as_str);
    let coords = geometry.and_then(|g| g.get("coordinates"));
    let polygons: Vec<&Value> = match (kind, coords.and_then(Value::as_array)) {
        (Some("Polygon"), Some(_)) => coords.into_iter().collect(),
        (Some("MultiPolygon"), Some(parts)) => parts.iter().collect(),
        _ => {
            let what = kind.map_or("no geometry".to_owned(), |k| format!("a {k} geometry"));
            problem(
                ProblemKind::BadGeometryType,
                format!("{what}; expected a Polygon or MultiPolygon with coordinates"),
            );
            return None;
        }
    };
    if polygons.is_empty() {
        problem(ProblemKind::BadGeometryType, "the MultiPolygon has no polygons".into());
        return None;
    }
    let mut ok = true;
    let mut out = Vec::with_capacity(polygons.len());
    for (p, poly) in polygons.iter().enumerate() {
        let rings = poly.as_array().map(Vec::as_slice).unwrap_or_default();
        if rings.is_empty() {
            problem(ProblemKind::BadGeometryType, format!("polygon {p} has no rings"));
            ok = false;
            continue;
        }
        let mut parsed = Vec::with_capacity(rings.len());
        for (r, ring) in rings.iter().enumerate() {
            let place = if polygons.len() > 1 { format!("polygon {p}, ring {r}") } else { format!("ring {r}") };
            match read_ring(ring, &place, problem) {
                Some(ls) => parsed.push(ls),
                None => ok = false,
            }
        }
        if ok {
            let mut rings = parsed.into_iter();
            let exterior = rings.next().unwrap_or_else(|| LineString(Vec::new()));
            out.push(Polygon::new(exterior, rings.collect()));
        }
    }
    if !ok {
        return None;
    }
    // RFC 7946 asks parsers not to reject the other winding order; we store the standard one.
    Some(MultiPolygon(out).orient(Direction::Default))
}

fn read_ring(ring: &Value, place: &str, problem: &mut impl FnMut(ProblemKind, String)) -> Option<LineString<f64>> {
    let Some(positions) = ring.as_array() else {
        problem(ProblemKind::BadPosition, format!("{place} is not an array of positions"));
        return None;
    };
    // Unreadable positions stay in as `None`, so that they still count towards the
    // ring's length and do not make a closed ring look open.
    let mut coords: Vec<Option<Coord<f64>>> = Vec::with_capacity(positions.len());
    for (i, pos) in positions.iter().enumerate() {
        let xy = pos.as_array().filter(|a| a.len() >= 2).and_then(|a| Some((a[0].as_f64()?, a[1].as_f64()?)));
        let Some((x, y)) = xy else {
            problem(ProblemKind::BadPosition, format!("{place}, position {i}: {pos} is not [longitude, latitude]"));
            coords.push(None);
            continue;
        };
        if !x.is_finite() || !y.is_finite() {
            problem(ProblemKind::NonFiniteCoordinate, format!("{place}, position {i}: not a finite number"));
            coords.push(None);
        } else if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
            problem(
                ProblemKind::CoordinateOutOfRange,
                format!("{place}, position {i}: [{x}, {y}] is outside longitude -180..180, latitude -90..90"),
            );
            coords.push(None);
        } else {
            coords.push(Some(Coord { x, y }));
        }
    }
    if coords.len() < 4 {
        problem(ProblemKind::TooShortRing, format!("{place} has {} positions; a ring needs at least 4", coords.len()));
        return None;
    }
    if let (Some(Some(first)), Some(Some(last))) = (coords.first(), coords.last())
        && first != last
    {
        problem(ProblemKind::UnclosedRing, format!("{place} is not closed: its last position differs from its first"));
        return None;
    }
    coords.into_iter().collect::<Option<Vec<_>>>().map(LineString)
}

/// Writes units as a GeoJSON FeatureCollection: exterior rings counter-clockwise, holes
/// clockwise, a Polygon where the unit has one part and a MultiPolygon otherwise.
pub fn write_units<'a>(units: impl IntoIterator<Item = &'a Unit>) -> Value {
    let features: Vec<Value> = units.into_iter().map(|u| unit_feature(u, &[])).collect();
    json!({ "type": "FeatureCollection", "features": features })
}

/// Writes a whole layer, in code order, fused grids with their `lineage`.
pub fn write_layer(layer: &Layer) -> Value {
    let features: Vec<Value> = layer.units().map(|u| unit_feature(u, layer.lineage(&u.code))).collect();
    json!({ "type": "FeatureCollection", "features": features })
}

fn unit_feature(unit: &Unit, lineage: &[SourceShare]) -> Value {
    let oriented = unit.geometry.orient(Direction::Default);
    let polygons: Vec<Value> = oriented.0.iter().map(polygon_coords).collect();
    let geometry = match <[Value; 1]>::try_from(polygons) {
        Ok([single]) => json!({ "type": "Polygon", "coordinates": single }),
        Err(many) => json!({ "type": "MultiPolygon", "coordinates": many }),
    };
    let mut properties = json!({
        "code": unit.code,
        "name": unit.name,
        "level": unit.level().number(),
        "parent": unit.parent(),
    });
    if !lineage.is_empty() {
        properties["lineage"] = json!(lineage);
    }
    json!({ "type": "Feature", "properties": properties, "geometry": geometry })
}

fn polygon_coords(polygon: &Polygon<f64>) -> Value {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(|ring| ring.coords().map(|c| json!([c.x, c.y])).collect::<Value>())
        .collect()
}

//! Reading a source layer: another bureau's grids, whose ids follow its own scheme.

use serde_json::Value;

use super::{SourceGrid, SourceLayer};
use crate::geojson::{feature_array, read_geometry};
use crate::problem::{ProblemKind, Report, Severity};

/// Reads a source layer from a GeoJSON FeatureCollection of Polygons and MultiPolygons.
///
/// A grid's id is its `code` property (a string or a number), else the feature's `id`,
/// else its position as `#N`; its name is the `name` property, else the id. Geometry is
/// read as for any layer; a ring that crosses itself is *not* an error here (fusion
/// repairs it and says so). Every problem is recorded; the layer holds the sound grids.
pub fn read_source_layer(name: &str, text: &str) -> (SourceLayer, Report) {
    let mut report = Report::default();
    let mut layer = SourceLayer { name: name.to_owned(), grids: Vec::new() };
    let Some(features) = feature_array(text, &mut report) else { return (layer, report) };
    let mut seen = std::collections::HashSet::new();
    for (index, feature) in features.iter().enumerate() {
        let Some(obj) = feature.as_object().filter(|o| o.get("type").and_then(Value::as_str) == Some("Feature")) else {
            report.push(Severity::Error, ProblemKind::NotAFeature, Some(index), None, "not a GeoJSON Feature object");
            continue;
        };
        let props = obj.get("properties").and_then(Value::as_object);
        let id = props
            .and_then(|p| p.get("code"))
            .or_else(|| obj.get("id"))
            .and_then(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| format!("#{index}"));
        let mut problem = |kind, detail: String| report.push(Severity::Error, kind, Some(index), Some(&id), detail);
        let geometry = read_geometry(obj.get("geometry"), &mut problem);
        if !seen.insert(id.clone()) {
            problem(ProblemKind::DuplicateCode, format!("grid id {id} appears more than once in layer {name}"));
            continue;
        }
        let name = props
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| id.clone(), str::to_owned);
        if let Some(geometry) = geometry {
            layer.grids.push(SourceGrid { id, name, geometry });
        }
    }
    (layer, report)
}

/// Writes a source layer as a GeoJSON FeatureCollection that [`read_source_layer`] reads
/// back: each grid's id as `code`, and its `name`.
pub fn write_source_layer(layer: &SourceLayer) -> Value {
    let features: Vec<Value> = layer
        .grids
        .iter()
        .map(|g| {
            let polygons: Vec<Value> = g
                .geometry
                .0
                .iter()
                .map(|p| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|r| r.coords().map(|c| serde_json::json!([c.x, c.y])).collect::<Value>())
                        .collect()
                })
                .collect();
            serde_json::json!({
                "type": "Feature",
                "properties": { "code": g.id, "name": g.name },
                "geometry": { "type": "MultiPolygon", "coordinates": polygons },
            })
        })
        .collect();
    serde_json::json!({ "type": "FeatureCollection", "features": features })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_code_then_id_then_position() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"code":"YJ-7","name":"应急7"},"geometry":{"type":"Polygon","coordinates":[[[118,33],[118.01,33],[118.01,33.01],[118,33]]]}},
            {"type":"Feature","id":42,"properties":{},"geometry":{"type":"Polygon","coordinates":[[[118,33],[118.01,33],[118.01,33.01],[118,33]]]}},
            {"type":"Feature","properties":null,"geometry":{"type":"Polygon","coordinates":[[[118,33],[118.01,33],[118.01,33.01],[118,33]]]}},
            {"type":"Feature","properties":{"code":"YJ-7"},"geometry":{"type":"Polygon","coordinates":[[[118,33],[118.01,33],[118.01,33.01],[118,33]]]}},
            {"type":"Feature","properties":{"code":"bad"},"geometry":{"type":"Point","coordinates":[118,33]}}
        ]}"#;
        let (layer, report) = read_source_layer("应急", text);
        let ids: Vec<&str> = layer.grids.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["YJ-7", "42", "#2"]);
        assert_eq!(layer.grids[0].name, "应急7");
        assert_eq!(layer.grids[1].name, "42");
        let kinds: Vec<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::DuplicateCode, ProblemKind::BadGeometryType]);
    }

    #[test]
    fn a_written_layer_reads_back_the_same() {
        let layer = crate::synth::redraw("综治", crate::demo::layer().unwrap().grids().take(5), 2.0, 0.0, 1);
        let (back, report) = read_source_layer("综治", &write_source_layer(&layer).to_string());
        assert!(report.problems.is_empty(), "{report}");
        assert_eq!(back, layer);
    }

    #[test]
    fn not_geojson_is_reported() {
        let (layer, report) = read_source_layer("x", "[1,2");
        assert!(layer.grids.is_empty());
        assert!(report.has_errors());
    }
}

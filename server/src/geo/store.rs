//! The grid layer in storage: units (levels 1–4) in `units`, grids in `grids`, each
//! boundary a GeoJSON geometry (see [`super::schema`]).
//!
//! A layer is saved whole, replacing the one stored, inside the caller's transaction, so
//! that a failed import leaves the previous layer as it was. Each save raises the layer's
//! generation (`grid_layer`) in the same transaction: that is how every server node,
//! polling it, learns that the layer changed under it. It is loaded back through
//! `geodata`'s own reader: the rows are put together into a GeoJSON FeatureCollection and
//! read by [`geodata::check_geojson`], so a stored row is parsed by the same code as an
//! imported file and a row that no longer parses is reported with its code. Overlaps,
//! gaps and overreach are not held against a stored layer (it was accepted with the
//! tolerance of its import); everything else that would refuse a file refuses the rows.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use geodata::{Layer, Level, Report, Tolerances, Unit};
use serde_json::{Value, json};

use super::schema::{grid_layer, grids, units};
use crate::store::{DbConnection, insert_rows};

/// Rows built, inserted and reported at a time: one statement's worth, so that the
/// boundaries of a whole layer are not all held as text at once.
const BATCH: usize = crate::store::ROWS_PER_STATEMENT;

/// Why a stored layer could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LayerStoreError {
    /// Reading the rows failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A stored boundary is not JSON.
    #[error("the stored boundary of {code} is not JSON: {reason}")]
    Boundary {
        /// The code of the unit or grid.
        code: String,
        /// What the JSON parser said.
        reason: String,
    },
    /// A fused grid's stored lineage is not JSON.
    #[error("the stored lineage of {code} is not JSON: {reason}")]
    Lineage {
        /// The grid's code.
        code: String,
        /// What the JSON parser said.
        reason: String,
    },
    /// The stored rows no longer read as a layer (a geometry, a code, a parent…).
    #[error("the stored grid layer no longer reads: {first} ({count} error(s) in all)", first = first_error(.report), count = .report.errors().count())]
    Invalid {
        /// Every problem found, each with the code of its row.
        report: Report,
    },
}

fn first_error(report: &Report) -> String {
    report.errors().next().map_or_else(String::new, ToString::to_string)
}

/// A row of `units`, as written.
#[derive(Debug, Insertable)]
#[diesel(table_name = units, treat_none_as_null = true)]
struct NewUnit {
    code: String,
    level: i32,
    parent_code: Option<String>,
    name: String,
    boundary: String,
}

/// A row of `grids`, as written.
#[derive(Debug, Insertable)]
#[diesel(table_name = grids, treat_none_as_null = true)]
struct NewGrid {
    code: String,
    community_code: String,
    name: String,
    boundary: String,
    lineage: Option<String>,
}

/// A unit or a grid as read back: a grid's level is 5 and its parent its community.
#[derive(Debug, QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Integer)]
    level: i32,
    #[diesel(sql_type = Nullable<Text>)]
    parent_code: Option<String>,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    boundary: String,
    #[diesel(sql_type = Nullable<Text>)]
    lineage: Option<String>,
}

/// The boundary of a unit as stored: the geometry `geodata` writes for it.
fn boundary(unit: &Unit) -> String {
    let collection = geodata::geojson::write_units(std::iter::once(unit));
    collection["features"][0]["geometry"].to_string()
}

/// Replaces the stored units and grids with the layer's, within the caller's transaction
/// (run it inside [`crate::store::Database::write`]), reporting `(done, total)` rows as it
/// goes, and raises the layer's generation; returns the new generation. A grid whose
/// community is not in the layer fails the foreign key.
pub fn save_layer(conn: &mut DbConnection, layer: &Layer, progress: &mut dyn FnMut(usize, usize)) -> QueryResult<i64> {
    let total = layer.len();
    progress(0, total);
    // First: the row stays locked until commit, so two imports at once take turns
    // instead of deleting and inserting the same rows side by side.
    diesel::update(grid_layer::table.filter(grid_layer::id.eq(1)))
        .set((
            grid_layer::generation.eq(grid_layer::generation + 1),
            grid_layer::saved_at_ms.eq(crate::clock::now_ms()),
        ))
        .execute(conn)?;
    // Grids first: they refer to their communities.
    diesel::delete(grids::table).execute(conn)?;
    diesel::delete(units::table).execute(conn)?;
    let mut done = 0;
    let above: Vec<&Unit> = layer.units().filter(|u| u.level() != Level::Grid).collect();
    for batch in above.chunks(BATCH) {
        let rows: Vec<NewUnit> = batch
            .iter()
            .map(|u| NewUnit {
                code: u.code.as_str().to_owned(),
                level: i32::from(u.level().number()),
                parent_code: u.parent().map(|p| p.as_str().to_owned()),
                name: u.name.clone(),
                boundary: boundary(u),
            })
            .collect();
        insert_rows(conn, units::table, &rows)?;
        done += rows.len();
        progress(done, total);
    }
    let grids: Vec<&Unit> = layer.grids().collect();
    for batch in grids.chunks(BATCH) {
        let rows: Vec<NewGrid> = batch
            .iter()
            .map(|g| NewGrid {
                code: g.code.as_str().to_owned(),
                // A grid's code always names its community.
                community_code: g.parent().map(|p| p.as_str().to_owned()).unwrap_or_default(),
                name: g.name.clone(),
                boundary: boundary(g),
                lineage: match layer.lineage(&g.code) {
                    [] => None,
                    shares => Some(json!(shares).to_string()),
                },
            })
            .collect();
        insert_rows(conn, grids::table, &rows)?;
        done += rows.len();
        progress(done, total);
    }
    generation(conn)
}

/// The generation of the stored layer: 0 before the first import, then raised by one by
/// each. Read it before [`load_layer`]: a layer imported in between is then loaded under
/// the older number, and loaded again at the next look, never missed.
pub fn generation(conn: &mut DbConnection) -> QueryResult<i64> {
    grid_layer::table.filter(grid_layer::id.eq(1)).select(grid_layer::generation).first(conn)
}

/// The stored layer, or `None` when no grids are stored.
///
/// Units and grids are read in one statement, so a layer being replaced at the same time
/// is seen wholly before or wholly after, on either backend.
pub fn load_layer(conn: &mut DbConnection) -> Result<Option<Layer>, LayerStoreError> {
    let rows: Vec<StoredRow> = diesel::sql_query(
        "SELECT code, level, parent_code, name, boundary, NULL AS lineage FROM units \
         UNION ALL SELECT code, 5 AS level, community_code AS parent_code, name, boundary, lineage FROM grids",
    )
    .load(conn)?;
    let grid_level = i32::from(Level::Grid.number());
    if !rows.iter().any(|r| r.level == grid_level) {
        return Ok(None);
    }
    let mut features = Vec::with_capacity(rows.len());
    for row in rows {
        let geometry: Value = serde_json::from_str(&row.boundary)
            .map_err(|e| LayerStoreError::Boundary { code: row.code.clone(), reason: e.to_string() })?;
        let lineage: Value = match &row.lineage {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| LayerStoreError::Lineage { code: row.code.clone(), reason: e.to_string() })?,
            None => Value::Null,
        };
        features.push(json!({
            "type": "Feature",
            "properties": {
                "code": row.code, "name": row.name, "level": row.level, "parent": row.parent_code, "lineage": lineage,
            },
            "geometry": geometry,
        }));
    }
    let text = json!({ "type": "FeatureCollection", "features": features }).to_string();
    // Accepted once with its import's tolerance: areas are not judged again.
    let tolerances = Tolerances { area_m2: f64::INFINITY, ..Tolerances::default() };
    let checked = geodata::check_geojson(&text, &tolerances);
    match checked.layer {
        Some(layer) => Ok(Some(layer)),
        None => Err(LayerStoreError::Invalid { report: checked.report }),
    }
}

/// How many grids are stored.
pub fn grid_count(conn: &mut DbConnection) -> QueryResult<i64> {
    grids::table.count().get_result(conn)
}

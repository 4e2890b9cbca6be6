//! The geography tables, as diesel sees them (see `migrations/`): the layer last
//! imported, from which the in-memory index is built at start and rebuilt whenever the
//! layer's generation moves.

diesel::table! {
    /// Which layer is stored: one row, whose generation every import raises.
    grid_layer (id) {
        /// Always 1.
        id -> Integer,
        /// Raised by one by every import, in the transaction that replaces the layer.
        generation -> BigInt,
        /// When the layer was stored (Unix ms; 0 before the first import).
        saved_at_ms -> BigInt,
    }
}

diesel::table! {
    /// The administrative units above the grids: city, county, township, community.
    units (code) {
        /// The statistical division code.
        code -> Text,
        /// The level, 1 (city) to 4 (community); it follows from the code.
        level -> Integer,
        /// The code of the unit directly above; none for a city.
        parent_code -> Nullable<Text>,
        /// The unit's name, e.g. `项里街道`.
        name -> Text,
        /// The boundary: a GeoJSON Polygon or MultiPolygon in WGS-84.
        boundary -> Text,
    }
}

diesel::table! {
    /// The grids (网格), the fifth level.
    grids (code) {
        /// The 15-digit grid code.
        code -> Text,
        /// The code of the community the grid belongs to.
        community_code -> Text,
        /// The grid's name, e.g. `第3网格`.
        name -> Text,
        /// The boundary: a GeoJSON Polygon or MultiPolygon in WGS-84.
        boundary -> Text,
        /// For a fused grid, the source grids it came from: a JSON array of
        /// `{layer, source, of_grid, of_source}`.
        lineage -> Nullable<Text>,
    }
}

diesel::joinable!(grids -> units (community_code));
diesel::allow_tables_to_appear_in_same_query!(grids, units);

//! The category tree in force, as diesel sees it (see `migrations/`).

diesel::table! {
    /// The departments in force.
    departments (code) {
        /// The department's code.
        code -> Text,
        /// Its name.
        name -> Text,
    }
}

diesel::table! {
    /// The categories in force, with their whole definition.
    categories (code) {
        /// The leaf code.
        code -> Text,
        /// Its name.
        name -> Text,
        /// Its domain, as on the wire.
        domain -> Text,
        /// The level that normally handles it (1–5).
        level -> Integer,
        /// The department responsible.
        department_code -> Nullable<Text>,
        /// The category as the API shows it (JSON).
        definition -> Text,
    }
}

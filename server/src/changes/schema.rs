//! The change log's tables, as diesel sees them (see `migrations/`).

diesel::table! {
    /// The changes, by number.
    change_log (seq) {
        /// The change's number.
        seq -> BigInt,
        /// What kind of entity changed.
        entity_kind -> Text,
        /// Its id.
        entity_id -> Text,
        /// Its data (JSON).
        data -> Text,
        /// When it was committed (Unix milliseconds, UTC).
        committed_at_ms -> BigInt,
    }
}

diesel::table! {
    /// Who receives each change.
    change_audience (subject, seq) {
        /// Who receives it: a user's id, or `unit:<code>` for everyone who sees that unit's area.
        subject -> Text,
        /// The change.
        seq -> BigInt,
        /// Whether the entity left this subject's view.
        removed -> Bool,
    }
}

diesel::joinable!(change_audience -> change_log (seq));
diesel::allow_tables_to_appear_in_same_query!(change_audience, change_log);

//! The table of the keys a database has seen, as diesel sees it (see `migrations/`,
//! `000022_sealed`).

diesel::table! {
    /// Each key id the database has seen, with a value sealed under it.
    seal_keys (id) {
        /// The key's id, as the key file names it.
        id -> Text,
        /// A fixed value sealed under that key: it opens only under the right key.
        check_value -> Text,
        /// When the database first saw the key (Unix ms).
        added_at_ms -> BigInt,
    }
}

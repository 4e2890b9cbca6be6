//! The tables of phones' sync, as diesel sees them (see `migrations/`).

diesel::table! {
    /// Each device of each user, and how far it has acknowledged the log.
    devices (user_id, device_id) {
        /// Whose.
        user_id -> Text,
        /// The install's id.
        device_id -> Text,
        /// The newest cursor it acknowledged.
        acked_cursor -> BigInt,
        /// When it last said hello (Unix ms).
        connected_at_ms -> BigInt,
        /// When it was last heard from (Unix ms).
        last_seen_at_ms -> BigInt,
    }
}

diesel::table! {
    /// Each worker's latest position on duty.
    worker_positions (user_id) {
        /// Whose.
        user_id -> Text,
        /// WGS-84 `[lon, lat]`, sealed (`crate::seal`).
        place -> Text,
        /// Accuracy in metres, if the phone said.
        accuracy_m -> Nullable<Double>,
        /// When (Unix ms).
        at_ms -> BigInt,
    }
}

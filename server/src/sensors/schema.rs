//! The sensors' table, as diesel sees it (see `migrations/`).

diesel::table! {
    /// Sensors and gateways registered by an administrator (物联感知).
    sensors (id) {
        /// Its id (a UUID): the MQTT topic names it.
        id -> Text,
        /// Its name, as people know it.
        name -> Text,
        /// WGS-84 longitude of its place.
        lon -> Double,
        /// WGS-84 latitude of its place.
        lat -> Double,
        /// The grid its place lay in when it was registered.
        grid_code -> Text,
        /// The leaf category its alarms report.
        category_code -> Text,
        /// SHA-256 of its key (the key itself is shown once, at registration).
        key_hash -> Text,
        /// When registered (Unix ms).
        created_at_ms -> BigInt,
        /// When revoked (Unix ms), if it was: its alarms are refused from then on.
        revoked_at_ms -> Nullable<BigInt>,
        /// The case its alarms go to while that case is open.
        open_incident_id -> Nullable<Text>,
    }
}

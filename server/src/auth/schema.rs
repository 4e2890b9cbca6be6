//! The account tables, as diesel sees them (see `migrations/`).

diesel::table! {
    /// Users.
    users (id) {
        /// The user's id (a UUID).
        id -> Text,
        /// What they log in with.
        login -> Text,
        /// Argon2id, PHC string.
        password_hash -> Text,
        /// Their name as shown.
        display_name -> Text,
        /// Their role (see `Role`).
        role -> Text,
        /// The unit or department their role is bound to.
        unit_code -> Text,
        /// When created (Unix milliseconds, UTC).
        created_at_ms -> BigInt,
        /// The log number at which the user's area or role last changed.
        scope_seq -> BigInt,
        /// When the account was disabled (`users purge-demo`): kept for the history that
        /// names it, but no login, session or task reaches it.
        disabled_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Facts about the database as a whole, by name (`demo`, `demo_purged`; see `auth::demo`).
    database_marks (name) {
        /// What the mark says.
        name -> Text,
        /// Its value (for the demo's marks, a Unix ms instant).
        value -> Text,
    }
}

diesel::table! {
    /// Sessions, by the hash of their token.
    sessions (token_hash) {
        /// SHA-256 of the bearer token, hex.
        token_hash -> Text,
        /// Whose.
        user_id -> Text,
        /// The device it was opened from, if named.
        device_id -> Nullable<Text>,
        /// When opened.
        created_at_ms -> BigInt,
        /// When it stops being accepted.
        expires_at_ms -> BigInt,
        /// When revoked (logged out), if it was.
        revoked_at_ms -> Nullable<BigInt>,
        /// SHA-256 of the refresh token, for a session opened from a named device.
        refresh_hash -> Nullable<Text>,
        /// When the refresh token stops being accepted.
        refresh_expires_at_ms -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(sessions, users);

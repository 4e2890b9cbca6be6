//! The push tables, as diesel sees them (see `migrations/`).

diesel::table! {
    /// Keys the server made for itself, shared by every node.
    server_keys (name) {
        /// What the key is for, e.g. `vapid_private`.
        name -> Text,
        /// The key, in its own encoding (base64url for VAPID).
        value -> Text,
    }
}

diesel::table! {
    /// Web Push subscriptions, one per (user, device).
    push_subscriptions (user_id, device_id) {
        /// Whose.
        user_id -> Text,
        /// The device (its install) that subscribed.
        device_id -> Text,
        /// The push service's URL for the device: a capability, never logged in full.
        endpoint -> Text,
        /// The device's P-256 public key, base64url (65 bytes, uncompressed).
        p256dh -> Text,
        /// The device's authentication secret, base64url (16 bytes).
        auth -> Text,
        /// When subscribed (Unix milliseconds, UTC).
        created_at_ms -> BigInt,
        /// Failed sends in a row (429, 5xx, time-outs, network errors).
        failures -> Integer,
        /// No send before this instant (Unix milliseconds; 0 when not backing off).
        next_attempt_at_ms -> BigInt,
    }
}

diesel::table! {
    /// Web Push subscriptions of residents following their own report (no account): at
    /// most a handful per case, one per endpoint.
    report_subscriptions (incident_id, endpoint) {
        /// The case followed (the resident's own report).
        incident_id -> Text,
        /// The push service's URL for the browser: a capability, never logged in full.
        endpoint -> Text,
        /// The browser's P-256 public key, base64url (65 bytes, uncompressed).
        p256dh -> Text,
        /// The browser's authentication secret, base64url (16 bytes).
        auth -> Text,
        /// When subscribed (Unix milliseconds, UTC): the newest are kept.
        created_at_ms -> BigInt,
        /// Failed sends in a row (429, 5xx, time-outs, network errors).
        failures -> Integer,
        /// No send before this instant (Unix milliseconds; 0 when not backing off).
        next_attempt_at_ms -> BigInt,
    }
}

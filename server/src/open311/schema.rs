//! The Open311 tables, as diesel sees them (see `migrations/`, `000019_api_keys`).

diesel::table! {
    /// Open311 clients' API keys; only a key's hash is stored.
    api_keys (id) {
        /// The key's id (a UUID): how operators name it.
        id -> Text,
        /// The client it was issued to.
        name -> Text,
        /// How to reach the client's operator, if given.
        contact -> Nullable<Text>,
        /// SHA-256 of the key, hex.
        key_hash -> Text,
        /// When issued (Unix ms).
        created_at_ms -> BigInt,
        /// When revoked, if it was.
        revoked_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// What an Open311 request brought beside its case.
    open311_requests (incident_id) {
        /// The case it opened.
        incident_id -> Text,
        /// The key that filed it.
        api_key_id -> Text,
        /// The service's attributes as given, checked (a JSON object).
        attributes -> Text,
        /// The client's media URL (kept, never fetched).
        media_url -> Nullable<Text>,
        /// The requester's e-mail (personal data: sealed, never shown).
        email -> Nullable<Text>,
        /// The client's device id.
        device_id -> Nullable<Text>,
        /// The client's account id for the requester.
        account_id -> Nullable<Text>,
    }
}

//! The tables of uploaded files, as diesel sees them (see `migrations/`).

diesel::table! {
    /// Uploaded files, by the SHA-256 of their bytes.
    attachments (id) {
        /// `sha256:<hex>`.
        id -> Text,
        /// The MIME type it was uploaded as.
        media_type -> Text,
        /// Its size in bytes.
        size -> BigInt,
        /// The bytes.
        content -> Binary,
        /// When first uploaded (Unix ms).
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    /// Which cases reference which files (and so who may fetch them).
    attachment_refs (attachment_id, incident_id) {
        /// The file.
        attachment_id -> Text,
        /// A case that references it.
        incident_id -> Text,
    }
}

diesel::joinable!(attachment_refs -> attachments (attachment_id));
diesel::allow_tables_to_appear_in_same_query!(attachments, attachment_refs);

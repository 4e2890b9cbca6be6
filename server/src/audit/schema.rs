//! The trace's tables, as diesel sees them (see `migrations/`, 000021).

diesel::table! {
    /// The hash-chained trace: one row per entry, numbered from 1 with no gap.
    audit_log (seq) {
        /// The entry's number in the chain.
        seq -> BigInt,
        /// When it happened (Unix ms).
        at_ms -> BigInt,
        /// What it records, e.g. `case_event`, `login`, `contact_read`.
        kind -> Text,
        /// Who did it.
        actor_id -> Nullable<Text>,
        /// Their role then.
        actor_role -> Nullable<Text>,
        /// From which device.
        device_id -> Nullable<Text>,
        /// The case concerned.
        incident_id -> Nullable<Text>,
        /// What else it is about: a user, a key, a grid.
        subject -> Nullable<Text>,
        /// The rest (JSON).
        data -> Text,
        /// The hash of entry `seq - 1`.
        prev_hash -> Text,
        /// The hash of the case's previous entry, for an entry of a case.
        case_prev_hash -> Nullable<Text>,
        /// This entry's hash.
        hash -> Text,
    }
}

diesel::table! {
    /// The chain's head: its last number and hash, and the change log's last number (one
    /// row, which every writing transaction takes last and holds to its commit).
    audit_head (id) {
        /// Always 1.
        id -> Integer,
        /// The last entry's number (0 for none).
        seq -> BigInt,
        /// The last entry's hash (the genesis hash for none).
        hash -> Text,
        /// The change log's last number (0 for none): the same row orders both.
        change_seq -> BigInt,
    }
}

use crate::incidents::schema::events;

diesel::allow_tables_to_appear_in_same_query!(audit_log, events);

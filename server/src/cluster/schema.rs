//! The cluster's table, as diesel sees it (see `migrations/`, `000023_cluster`).

diesel::table! {
    /// The one row naming the cluster of nodes sharing this database.
    cluster_identity (id) {
        /// Always 1.
        id -> Integer,
        /// The name its NATS subjects carry.
        name -> Text,
    }
}

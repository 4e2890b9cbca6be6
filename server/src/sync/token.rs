//! The socket's `?token=` (browsers cannot set headers on a WebSocket): taken out of the
//! URL before anything logs or measures the request, with every other secret of a query
//! string, by [`crate::redact::take`], which leaves it here in the request's extensions.

/// A bearer token that came in the query string.
#[derive(Debug, Clone)]
pub struct QueryToken(pub String);

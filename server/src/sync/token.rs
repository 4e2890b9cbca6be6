//! The socket's `?token=` (browsers cannot set headers on a WebSocket), taken out of the
//! URL before anything logs or measures the request: the token moves into the request's
//! extensions, and the request goes on without it.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::http::Uri;

/// A bearer token that came in the query string.
#[derive(Debug, Clone)]
pub struct QueryToken(pub String);

/// Moves `token=…` from the query into [`QueryToken`]. Run it as the outermost
/// middleware, before the request is logged.
pub fn take_query_token(mut req: ServiceRequest) -> ServiceRequest {
    let Some(query) = req.uri().query() else { return req };
    if !query.split('&').any(|pair| pair.starts_with("token=")) {
        return req;
    }
    let (tokens, rest): (Vec<&str>, Vec<&str>) = query.split('&').partition(|pair| pair.starts_with("token="));
    let token = tokens.first().map(|t| t.trim_start_matches("token=").to_owned()).unwrap_or_default();
    let path = req.uri().path().to_owned();
    let path_and_query = if rest.is_empty() { path } else { format!("{path}?{}", rest.join("&")) };
    if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
        req.head_mut().uri = uri;
        req.extensions_mut().insert(QueryToken(token));
    }
    req
}

//! Secrets that come in a query string — the socket's `?token=` (browsers cannot set
//! headers on a WebSocket), a reporter's `?follow_token=`, an API key a client put in the
//! URL — taken out of the URL before anything logs or measures the request, and put back
//! for the handler alone.
//!
//! [`take`] runs as the outermost middleware: every pair named in [`SECRET_QUERY_PARAMS`]
//! leaves the URI (the socket's token goes into [`QueryToken`]), so that the request's
//! log line and span never hold it. [`put_back`] runs innermost, just before the routes:
//! the handler reads the query as it was sent.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::http::Uri;

pub use crate::sync::token::QueryToken;

/// The query parameters whose values are secrets: the one list of them.
pub const SECRET_QUERY_PARAMS: &[&str] =
    &["token", "follow_token", "api_key", "access_token", "refresh_token", "password", "key"];

/// The URI as it came, kept while the logged one goes without its secrets.
#[derive(Debug, Clone)]
struct Sent(Uri);

/// Whether a `name=value` pair of a query carries a secret: its name, decoded, is in
/// [`SECRET_QUERY_PARAMS`] (a name that cannot be decoded is taken for one, to be safe).
fn is_secret(pair: &str) -> bool {
    let name = pair.split_once('=').map_or(pair, |(name, _)| name);
    // Nearly every name is sent plain: compared as it is, it needs no decoding. (Bytes
    // compared one by one: a name is a few bytes, shorter than a searcher's setup.)
    if !name.bytes().any(|b| b == b'%' || b == b'+') {
        return SECRET_QUERY_PARAMS.contains(&name);
    }
    match serde_urlencoded::from_str::<Vec<(String, String)>>(name) {
        Ok(decoded) => decoded.iter().any(|(n, _)| SECRET_QUERY_PARAMS.contains(&n.as_str())),
        Err(_) => true,
    }
}

/// Takes the secret pairs out of the request's URI (keeping the URI as sent for
/// [`put_back`]); the socket's `token` goes into [`QueryToken`]. Run it as the
/// outermost middleware, before the request is logged.
pub fn take(mut req: ServiceRequest) -> ServiceRequest {
    let Some(query) = req.uri().query() else { return req };
    if !query.split('&').any(is_secret) {
        return req;
    }
    let (secrets, rest): (Vec<&str>, Vec<&str>) = query.split('&').partition(|pair| is_secret(pair));
    let token = secrets.iter().find_map(|pair| pair.strip_prefix("token=")).map(str::to_owned);
    let path = req.uri().path().to_owned();
    let path_and_query = if rest.is_empty() { path } else { format!("{path}?{}", rest.join("&")) };
    if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
        let sent = std::mem::replace(&mut req.head_mut().uri, uri);
        req.extensions_mut().insert(Sent(sent));
        if let Some(token) = token {
            req.extensions_mut().insert(QueryToken(token));
        }
    }
    req
}

/// Gives the handler the URI as it was sent. Run it innermost, after everything that logs.
pub fn put_back(mut req: ServiceRequest) -> ServiceRequest {
    let sent = req.extensions_mut().remove::<Sent>();
    if let Some(Sent(uri)) = sent {
        req.head_mut().uri = uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn secrets_leave_the_uri_and_come_back_for_the_handler() {
        let req = TestRequest::get().uri("/api/v1/reports/x?follow_token=s3cret&lang=zh").to_srv_request();
        let req = take(req);
        assert_eq!(req.uri().to_string(), "/api/v1/reports/x?lang=zh");
        assert!(req.extensions().get::<QueryToken>().is_none());
        let req = put_back(req);
        assert_eq!(req.uri().to_string(), "/api/v1/reports/x?follow_token=s3cret&lang=zh");
    }

    #[test]
    fn the_sockets_token_goes_into_the_extensions_and_encoded_names_are_caught() {
        let req = take(TestRequest::get().uri("/api/v1/sync?token=abc&cursor=5").to_srv_request());
        assert_eq!(req.uri().to_string(), "/api/v1/sync?cursor=5");
        assert_eq!(req.extensions().get::<QueryToken>().map(|t| t.0.clone()).as_deref(), Some("abc"));
        let req = take(TestRequest::get().uri("/r?follow%5Ftoken=s3cret&api_key=k3y").to_srv_request());
        assert_eq!(req.uri().to_string(), "/r");
        let req = take(TestRequest::get().uri("/r?a=1&b=2").to_srv_request());
        assert_eq!(req.uri().to_string(), "/r?a=1&b=2");
    }
}

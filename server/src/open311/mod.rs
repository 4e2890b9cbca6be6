//! Open311 GeoReport v2 at `/open311/v2/` (<http://wiki.open311.org/GeoReport_v2>): the
//! standard's door onto the same cases as the rest of the API.
//!
//! - `discovery`, `services`, `services/{service_code}` ([`services`]): the leaf categories
//!   as services, their attributes ([`attributes`]) as service definitions.
//! - `requests` (GET and POST), `requests/{id}`, `tokens/{token}` ([`requests`]): a POSTed
//!   request is filed through the one write path as a resident's report is
//!   (`incidents::report`), with source `open311`, and is a case like any other; reads show
//!   every case as the standard's service request, never anyone's personal data.
//!
//! Each route answers in `.json` (`application/json; charset=utf-8`) or `.xml`
//! (`text/xml; charset=utf-8`, [`xml`]). Errors are the standard's array,
//! `[{"code": 404, "description": "…"}]` (`<errors><error>…`), not problem+json: handlers
//! fail with the server's one [`ApiError`] like every other route, and the scope's
//! middleware ([`as_open311`]) rewrites the answer, keeping the error for the checks of
//! declared kinds. Statuses are the standard's: 404 for what does not exist, 403 for a
//! missing or bad API key, 429 past a key's allowance (with `Retry-After`), 400 for
//! anything else the client got wrong. Filing needs an API key ([`keys`]); reads do not.

pub mod attributes;
pub mod keys;
pub mod requests;
pub mod schema;
pub mod services;
pub mod store;
pub mod xml;

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error_kind::ErrorKind;
use crate::problem::ApiError;
use crate::ratelimit::KeyedLimiter;

/// The content type of the JSON form.
pub const JSON_TYPE: &str = "application/json; charset=utf-8";
/// The content type of the XML form.
pub const XML_TYPE: &str = "text/xml; charset=utf-8";
/// The specification this is an endpoint of.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// When this endpoint's behaviour last changed (discovery's `changeset`).
pub const CHANGESET: &str = "2026-12-06T00:00:00+08:00";

/// The form of an answer, from the route's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`.
    Json,
    /// `.xml`.
    Xml,
}

impl Format {
    /// The format an extension names; 404 for another (the standard's resources exist in
    /// these two forms only).
    pub fn parse(extension: &str) -> Result<Format, ApiError> {
        match extension {
            "json" => Ok(Format::Json),
            "xml" => Ok(Format::Xml),
            other => Err(ApiError::NotFound(format!("no .{other} form here: ask for .json or .xml"))),
        }
    }

    /// The format an error to a request for `path` is written in: XML for `….xml`, JSON
    /// otherwise.
    fn of_path(path: &str) -> Format {
        if path.ends_with(".xml") { Format::Xml } else { Format::Json }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON_TYPE,
            Format::Xml => XML_TYPE,
        }
    }
}

/// An answer of `status` holding `value`, whose XML root element is `root`.
pub fn respond<T: Serialize + ?Sized>(
    format: Format,
    status: StatusCode,
    root: &str,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    let body = match format {
        Format::Json => serde_json::to_string(value).map_err(ApiError::internal)?,
        Format::Xml => xml::document(root, value).map_err(ApiError::internal)?,
    };
    Ok(HttpResponse::build(status).insert_header((CONTENT_TYPE, format.content_type())).body(body))
}

/// What the Open311 routes share: the services' attributes and the allowance of each API
/// key (`[limits] open311_burst`, `open311_per_hour`).
#[derive(Debug)]
pub struct Open311 {
    /// The attributes of the services.
    pub attributes: attributes::Attributes,
    /// Requests each key may file, by key id.
    pub limiter: KeyedLimiter<String>,
}

impl Open311 {
    /// The built-in attributes, and `burst` requests per key at once, then `per_hour`.
    pub fn new(per_hour: u32, burst: u32) -> Result<Open311, String> {
        Ok(Open311 {
            attributes: attributes::Attributes::builtin()?,
            limiter: KeyedLimiter::every(u64::from(per_hour), 3600, u64::from(burst)),
        })
    }
}

/// The standard's status for an error of `kind`: 404 for what does not exist, 403 for a
/// key refused, 429 past an allowance, 5xx as they are, 400 for anything else.
pub fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::NotFound => 404,
        ErrorKind::InvalidApiKey | ErrorKind::Forbidden => 403,
        ErrorKind::RateLimited | ErrorKind::QuotaExceeded => 429,
        kind if kind.status() >= 500 => kind.status(),
        _ => 400,
    }
}

/// One error of the standard's array.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Open311Error {
    /// The HTTP status.
    pub code: u16,
    /// What went wrong, for people.
    pub description: String,
}

/// Rewrites an error answered by an Open311 route (a problem document) as the standard's
/// error array, in the route's format and with the standard's status; keeps its headers
/// (`Retry-After`) and the error itself, which the server's check of declared kinds reads.
pub fn as_open311(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let Some(error) = res.response().error().and_then(|e| e.as_error::<ApiError>()) else { return res };
    let kind = error.kind();
    let description = match kind {
        ErrorKind::Internal => "the server failed to handle the request; it has been logged".to_owned(),
        _ => error.to_string(),
    };
    let status = status_of(kind);
    let format = Format::of_path(res.request().path());
    let errors = [Open311Error { code: status, description }];
    let body = match format {
        Format::Json => serde_json::to_string(&errors).ok(),
        Format::Xml => xml::document("errors", &errors).ok(),
    }
    .unwrap_or_default();
    res.map_body(|head, _| {
        head.status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        head.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
        BoxBody::new(body)
    })
}

/// A path under `/open311/v2/` that names nothing.
async fn unknown(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no Open311 resource {} {}", req.method(), req.path())))
}

/// Adds the Open311 routes, under `/open311/v2`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/open311/v2")
            .wrap_fn(|req, service| {
                let answer = service.call(req);
                async move { Ok(as_open311(answer.await?)) }
            })
            .service(services::discovery)
            .service(services::services)
            .service(services::definition)
            .service(requests::get_requests)
            .service(requests::post_request)
            .service(requests::get_request)
            .service(requests::get_token)
            .default_service(web::to(unknown)),
    );
}

/// An instant as the standard writes it: W3C, to the second, in the county's time
/// (Asia/Shanghai, `+08:00`).
pub fn w3c(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+8));
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+08:00");
    at.format(&format).unwrap_or_else(|_| crate::clock::rfc3339(ms))
}

/// Reads a W3C date and time (the standard's dates): RFC 3339 with seconds or without
/// (`2026-12-06T08:30+08:00`), or a date alone, the start of that day in the county's time.
/// The offset is required with a time (`Z` or `±hh:mm`).
pub fn parse_w3c(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(ms) = crate::clock::parse_rfc3339(text) {
        return Some(ms);
    }
    let bytes = text.as_bytes();
    let date_only = bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-';
    if date_only {
        return crate::clock::parse_rfc3339(&format!("{text}T00:00:00+08:00"));
    }
    // Minutes without seconds: `YYYY-MM-DDThh:mm` and the offset.
    if bytes.len() > 16 && bytes[10].eq_ignore_ascii_case(&b'T') && bytes[13] == b':' && text.is_char_boundary(16) {
        let (head, zone) = text.split_at(16);
        if zone.starts_with(['Z', 'z', '+', '-']) {
            return crate::clock::parse_rfc3339(&format!("{head}:00{zone}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_in_the_countys_time_and_read_in_w3c_forms() {
        let at = crate::clock::parse_rfc3339("2026-12-06T01:30:15.250Z").unwrap();
        assert_eq!(w3c(at), "2026-12-06T09:30:15+08:00");
        assert_eq!(parse_w3c("2026-12-06T09:30:15+08:00"), Some(at - 250));
        assert_eq!(parse_w3c("2026-12-06T09:30+08:00"), Some(at - 15_250));
        assert_eq!(parse_w3c("2026-12-06T01:30Z"), Some(at - 15_250));
        assert_eq!(parse_w3c("2026-12-06"), crate::clock::parse_rfc3339("2026-12-05T16:00:00Z"));
        for bad in ["", "yesterday", "2026-12-06T09:30:15", "2026-13-01", "2026-12-06T09:30", "12/06/2026"] {
            assert_eq!(parse_w3c(bad), None, "{bad:?}");
        }
    }

    #[actix_web::test]
    async fn an_error_becomes_the_standards_array_and_stays_an_error_for_the_checks() {
        use actix_web::test::{TestRequest, call_service, init_service, read_body};
        async fn refuse() -> Result<HttpResponse, ApiError> {
            Err(ApiError::RateLimited(7))
        }
        let app = init_service(
            actix_web::App::new().service(
                web::scope("/open311/v2")
                    .wrap_fn(|req, service| {
                        let answer = service.call(req);
                        async move { Ok(as_open311(answer.await?)) }
                    })
                    .route("/requests.{format}", web::post().to(refuse)),
            ),
        )
        .await;
        for (path, content_type) in [("/open311/v2/requests.json", JSON_TYPE), ("/open311/v2/requests.xml", XML_TYPE)] {
            let res = call_service(&app, TestRequest::post().uri(path).to_request()).await;
            assert_eq!(res.status().as_u16(), 429);
            assert_eq!(res.headers().get(CONTENT_TYPE).unwrap(), content_type);
            assert_eq!(res.headers().get("retry-after").unwrap(), "7");
            let kind = res.response().error().and_then(|e| e.as_error::<ApiError>()).map(ApiError::kind);
            assert_eq!(kind, Some(ErrorKind::RateLimited), "the declared-kinds check still sees it");
            let body = String::from_utf8(read_body(res).await.to_vec()).unwrap();
            if content_type == JSON_TYPE {
                assert_eq!(body, r#"[{"code":429,"description":"too many requests; try again in 7 s"}]"#);
            } else {
                assert!(body.ends_with("<errors><error><code>429</code><description>too many requests; try again in 7 s</description></error></errors>\n"), "{body}");
            }
        }
    }

    #[test]
    fn errors_take_the_standards_statuses() {
        assert_eq!(status_of(ErrorKind::NotFound), 404);
        assert_eq!(status_of(ErrorKind::InvalidApiKey), 403);
        assert_eq!(status_of(ErrorKind::RateLimited), 429);
        assert_eq!(status_of(ErrorKind::UnknownCategory), 400);
        assert_eq!(status_of(ErrorKind::OutsideServiceArea), 400);
        assert_eq!(status_of(ErrorKind::Internal), 500);
        assert_eq!(Format::of_path("/open311/v2/services.xml"), Format::Xml);
        assert_eq!(Format::of_path("/open311/v2/nothing"), Format::Json);
    }
}

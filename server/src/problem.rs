//! The one error type of the HTTP API, rendered as `application/problem+json` (RFC 9457).
//!
//! Policy: every 4xx and 5xx body is a problem document whose `type` is a stable slug
//! that clients switch on. Internal causes are logged with their chain and never sent.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error_kind::ErrorKind;

/// The cause of an internal error, kept (with its sources) for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error as the API reports it. Each is of one [`ErrorKind`], which gives its slug,
/// status and title; the variants only say what else the answer carries.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A coordinate is missing, malformed or out of range.
    #[error("{0}")]
    InvalidCoordinates(String),
    /// The coordinate system named is not one we convert from.
    #[error("{0}")]
    InvalidCrs(String),
    /// The point is outside every grid, beyond the snapping tolerance.
    #[error("{0}")]
    OutsideServiceArea(String),
    /// A wrong login or password, or a refresh token not valid for the device.
    #[error("{0}")]
    InvalidCredentials(String),
    /// No valid session: the token is missing, expired or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// No such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// The request could not be read (a malformed query string or body).
    #[error("{0}")]
    BadRequest(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The task is not the caller's to work on (not among its assignees, or held by another).
    #[error("{0}")]
    NotYourTask(String),
    /// Refused for a reason named by its kind: something named that does not hold (an
    /// unknown category, a missing photo), or a state that does not allow it now.
    #[error("{detail}")]
    Refused {
        /// Why, as clients switch on it.
        kind: ErrorKind,
        /// Why, for people.
        detail: String,
    },
    /// The body is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body's type is not taken.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many requests from this address; try again after this many seconds.
    #[error("too many requests; try again in {0} s")]
    RateLimited(u64),
    /// Something failed inside the server; the cause is logged with its chain, not sent.
    #[error("internal error")]
    Internal(#[source] Cause),
    /// The server is too busy to take this now (its password checks are queued up);
    /// try again after this many seconds.
    #[error("the server is busy; try again in {0} s")]
    Busy(u64),
    /// This address has used its allowance (e.g. bytes uploaded in a day); try again
    /// after `retry_after` seconds.
    #[error("{detail}")]
    QuotaExceeded {
        /// Seconds until enough of the allowance is back.
        retry_after: u64,
        /// What was exceeded.
        detail: String,
    },
    /// A text (a description, note, reason, result) is longer than the server keeps.
    #[error("{0}")]
    TextTooLong(String),
}

impl ApiError {
    /// Refused with `kind`, for `detail`.
    pub fn refused(kind: ErrorKind, detail: impl Into<String>) -> ApiError {
        ApiError::Refused { kind, detail: detail.into() }
    }

    /// Failed inside the server, for `cause` (an error, or a message).
    pub fn internal(cause: impl Into<Cause>) -> ApiError {
        ApiError::Internal(cause.into())
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::InvalidCoordinates(_) => ErrorKind::InvalidCoordinates,
            ApiError::InvalidCrs(_) => ErrorKind::InvalidCrs,
            ApiError::OutsideServiceArea(_) => ErrorKind::OutsideServiceArea,
            ApiError::InvalidCredentials(_) => ErrorKind::InvalidCredentials,
            ApiError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            ApiError::NotFound(_) => ErrorKind::NotFound,
            ApiError::BadRequest(_) => ErrorKind::BadRequest,
            ApiError::Forbidden(_) => ErrorKind::Forbidden,
            ApiError::NotYourTask(_) => ErrorKind::NotYourTask,
            ApiError::Refused { kind, .. } => *kind,
            ApiError::PayloadTooLarge(_) => ErrorKind::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorKind::UnsupportedMediaType,
            ApiError::RateLimited(_) => ErrorKind::RateLimited,
            ApiError::Internal(_) => ErrorKind::Internal,
            ApiError::Busy(_) => ErrorKind::Busy,
            ApiError::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            ApiError::TextTooLong(_) => ErrorKind::TextTooLong,
        }
    }
}

/// An error and its sources, as one line for the log: `outer: inner: innermost`.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        match e {
            crate::store::StoreError::Query(e) => e.into(),
            e => ApiError::internal(e),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        if refused_nul(&e) {
            return ApiError::BadRequest("a text may not contain the NUL character (U+0000)".into());
        }
        ApiError::internal(e)
    }
}

/// Whether PostgreSQL refused a text for holding U+0000, which its text type cannot store
/// (SQLite can): the input's fault, wherever in a body or query it came from, so a 400
/// rather than a 500, whichever door let it through.
pub fn refused_nul(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("0x00"))
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

/// The problem document every error is (RFC 9457): the body sent, and its OpenAPI schema.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// A stable slug naming the kind of error, e.g. `invalid-coordinates`.
    pub r#type: String,
    /// A short title.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.kind().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let kind = self.kind();
        let detail = match self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %Chain(cause.as_ref()), "internal error");
                "the server failed to handle the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let body = ProblemDoc {
            r#type: kind.slug().to_owned(),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail,
        };
        let json = serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"));
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(ContentType(problem_json()));
        if let ApiError::RateLimited(seconds)
        | ApiError::Busy(seconds)
        | ApiError::QuotaExceeded { retry_after: seconds, .. } = self
        {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(json)
    }
}

fn problem_json() -> actix_web::mime::Mime {
    "application/problem+json".parse().unwrap_or(actix_web::mime::APPLICATION_JSON)
}

/// Counts the answers whose error kind is not among its route's ([`crate::openapi::ROUTES`]):
/// `gridlink_undeclared_error_kinds_total`. Each is a route's list to mend; the tests'
/// servers fail a test that meets one.
#[derive(Debug, Clone)]
pub struct Undeclared(prometheus::IntCounter);

impl Undeclared {
    /// A new counter, at zero.
    pub fn new() -> Result<Undeclared, prometheus::Error> {
        let opts = prometheus::Opts::new(
            "undeclared_error_kinds_total",
            "Errors answered of a kind their route does not list",
        )
        .namespace("gridlink");
        Ok(Undeclared(prometheus::IntCounter::with_opts(opts)?))
    }

    /// The counter, for the metrics registry.
    pub fn collector(&self) -> Box<dyn prometheus::core::Collector> {
        Box::new(self.0.clone())
    }

    /// How many so far.
    pub fn count(&self) -> u64 {
        self.0.get()
    }

    /// Looks at an answer: one of a kind its route does not list is logged and counted.
    pub fn check<B>(&self, res: &actix_web::dev::ServiceResponse<B>) {
        let Some(kind) = res.response().error().and_then(|e| e.as_error::<ApiError>()).map(ApiError::kind) else {
            return;
        };
        let request = res.request();
        let Some(route) = request.match_pattern() else { return };
        let method = request.method().as_str();
        if crate::openapi::errors_of(method, &route).is_some_and(|listed| !listed.contains(&kind)) {
            tracing::error!(%method, %route, %kind, "answered an error kind the route does not list");
            self.0.inc();
        }
    }
}

/// The handler for routes that do not exist.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())))
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service};
    use actix_web::{App, HttpResponse, web};

    use super::*;

    async fn answers(kind: ErrorKind) -> Result<HttpResponse, ApiError> {
        Err(ApiError::refused(kind, "as the test asks"))
    }

    /// Serves `GET /api/v1/me` answering `kind`, checked by `undeclared`; the answer's status.
    async fn serve_me(kind: ErrorKind, undeclared: &Undeclared) -> u16 {
        let checked = undeclared.clone();
        let app = init_service(
            App::new()
                .wrap_fn(move |req, service| {
                    let (answer, checked) = (actix_web::dev::Service::call(service, req), checked.clone());
                    async move {
                        let res = answer.await?;
                        checked.check(&res);
                        Ok(res)
                    }
                })
                .route("/api/v1/me", web::get().to(move || answers(kind))),
        )
        .await;
        let res = call_service(&app, TestRequest::get().uri("/api/v1/me").to_request()).await;
        res.status().as_u16()
    }

    #[actix_web::test]
    async fn an_answer_outside_its_routes_list_is_counted_and_one_inside_is_not() {
        let undeclared = Undeclared::new().unwrap();
        assert_eq!(serve_me(ErrorKind::Unauthenticated, &undeclared).await, 401);
        assert_eq!(undeclared.count(), 0, "`me` lists unauthenticated");
        assert_eq!(serve_me(ErrorKind::NoSuggestion, &undeclared).await, 422);
        assert_eq!(undeclared.count(), 1, "`me` does not list no-suggestion");
    }

    #[test]
    fn an_internal_error_logs_its_whole_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("the case was not written")]
        struct Outer(#[source] std::io::Error);
        let error = ApiError::internal(Outer(std::io::Error::other("disk full")));
        let ApiError::Internal(cause) = &error else { unreachable!() };
        assert_eq!(Chain(cause.as_ref()).to_string(), "the case was not written: disk full");
        assert_eq!(error.to_string(), "internal error", "the cause is not sent");
    }
}

//! The one error type of the HTTP API, rendered as `application/problem+json` (RFC 9457).
//!
//! Policy: every 4xx and 5xx body is a problem document whose `type` is a stable slug
//! that clients switch on. Internal causes are logged with their chain and never sent.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error as the API reports it.
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
    /// Wrong login or password, or no valid session.
    #[error("{0}")]
    Unauthorized(String),
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
    /// The request is well-formed but names something that does not hold (an unknown
    /// category, a missing photo, a key reused with another body), under its own slug.
    #[error("{detail}")]
    Unprocessable {
        /// The slug.
        kind: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The case's state does not allow it (`illegal-transition`, `verifier-is-handler`, …).
    #[error("{detail}")]
    Conflict {
        /// The slug.
        kind: &'static str,
        /// Why.
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
    /// Something failed inside the server; the cause is logged, not sent.
    #[error("internal error")]
    Internal(String),
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
    /// The stable slug naming the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidCoordinates(_) => "invalid-coordinates",
            ApiError::InvalidCrs(_) => "invalid-crs",
            ApiError::OutsideServiceArea(_) => "outside-service-area",
            ApiError::Unauthorized(_) => "invalid-credentials",
            ApiError::NotFound(_) => "not-found",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotYourTask(_) => "not-your-task",
            ApiError::Unprocessable { kind, .. } | ApiError::Conflict { kind, .. } => kind,
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::RateLimited(_) => "rate-limited",
            ApiError::Internal(_) => "internal",
            ApiError::Busy(_) => "busy",
            ApiError::QuotaExceeded { .. } => "quota-exceeded",
            ApiError::TextTooLong(_) => "text-too-long",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::InvalidCoordinates(_) => "Invalid coordinates",
            ApiError::InvalidCrs(_) => "Unknown coordinate system",
            ApiError::OutsideServiceArea(_) => "Outside the service area",
            ApiError::Unauthorized(_) => "Not authenticated",
            ApiError::NotFound(_) => "Not found",
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Forbidden(_) | ApiError::NotYourTask(_) => "Forbidden",
            ApiError::Unprocessable { .. } => "Unprocessable request",
            ApiError::Conflict { .. } => "Not allowed now",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::RateLimited(_) => "Too many requests",
            ApiError::Internal(_) => "Internal error",
            ApiError::Busy(_) => "Busy",
            ApiError::QuotaExceeded { .. } => "Quota exceeded",
            ApiError::TextTooLong(_) => "Text too long",
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::incidents::workflow::Refusal> for ApiError {
    fn from(refusal: crate::incidents::workflow::Refusal) -> ApiError {
        use crate::incidents::workflow::Refusal;
        let (kind, detail) = (refusal.kind(), refusal.to_string());
        match refusal {
            Refusal::NoSuchTask(_) => ApiError::NotFound(detail),
            Refusal::NotYourTask(_) => ApiError::NotYourTask(detail),
            Refusal::NoAssignee(_)
            | Refusal::Invalid(_)
            | Refusal::MergeIntoItself
            | Refusal::DifferentCategory { .. }
            | Refusal::NotADuplicate(_) => ApiError::Unprocessable { kind, detail },
            Refusal::IllegalTransition { .. }
            | Refusal::VerifierIsHandler
            | Refusal::WrongTaskKind { .. }
            | Refusal::TaskNotActive { .. }
            | Refusal::ExtensionPending(_)
            | Refusal::NoExtensionRequest(_)
            | Refusal::OwnExtension
            | Refusal::AlreadyStranded(_)
            | Refusal::AlreadyRaised(_)
            | Refusal::TaskParked(_)
            | Refusal::NotParked(_)
            | Refusal::ParkPending(_)
            | Refusal::NoParkRequest(_)
            | Refusal::OwnPark
            | Refusal::SurvivorNotOpen(_)
            | Refusal::NoLevelAbove(_)
            | Refusal::AlreadyRated => ApiError::Conflict { kind, detail },
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::incidents::act::ActError> for ApiError {
    fn from(e: crate::incidents::act::ActError) -> ApiError {
        use crate::incidents::act::ActError;
        match e {
            ActError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ActError::Refused(refusal) => refusal.into(),
            ActError::Forbidden(denied) if denied.kind == "not-your-task" => ApiError::NotYourTask(denied.detail),
            ActError::Forbidden(denied) => ApiError::Forbidden(denied.detail),
            ActError::Moot(_) | ActError::Corrupt(..) | ActError::Query(_) | ActError::Routing(_) => {
                ApiError::Internal(e.to_string())
            }
            ActError::Store(store) => store.into(),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> ApiError {
        ApiError::Internal(e.to_string())
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
        match self {
            ApiError::InvalidCoordinates(_) | ApiError::InvalidCrs(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::OutsideServiceArea(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) | ApiError::NotYourTask(_) => StatusCode::FORBIDDEN,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TextTooLong(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "the server failed to handle the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let body = ProblemDoc {
            r#type: self.kind().to_owned(),
            title: self.title().to_owned(),
            status: status.as_u16(),
            detail,
        };
        let json = serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"));
        let mut response = HttpResponse::build(status);
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

/// The handler for routes that do not exist.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())))
}

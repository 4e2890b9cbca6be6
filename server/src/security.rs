//! What every answer carries for the browsers that read it, and who may ask what of
//! whom across origins (docs/contract.md, "Security headers, CORS and /metrics"):
//!
//! - every response, page or API, carries one Content-Security-Policy (no inline script
//!   or style, nothing from elsewhere but a configured basemap's tiles, never framed),
//!   `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy:
//!   no-referrer` and a Permissions-Policy that leaves the camera and geolocation to the
//!   server's own pages (the worker's app uses both);
//! - CORS only for the origins configured (`cors_origins`), on the API and Open311, and
//!   none at all by default;
//! - `/metrics` only with its bearer token (`metrics_token`) where it is served.
//!
//! One middleware, [`Guard`], does all three, outside everything that answers, so that
//! no answer (an error, a 404, the metrics) leaves without its headers.

use std::cell::RefCell;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// The Permissions-Policy: the camera and geolocation for the server's own pages only,
/// and nothing else the pages never use.
pub const PERMISSIONS_POLICY: &str = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()";

/// The request headers a cross-origin caller may send (answered to a preflight).
const CORS_ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key, x-sensor-key";
/// The methods a cross-origin caller may use.
const CORS_ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE";
/// How long a browser may keep a preflight's answer, in seconds.
const CORS_MAX_AGE_S: &str = "600";

/// The Content-Security-Policy of every answer, up to its `connect-src`, which names the
/// request's own host for the socket (`ws:`/`wss:`; CSP 3's `'self'` covers them in
/// today's browsers, older ones need them named). `img_origin` is a basemap's origin.
fn policy_head(img_origin: Option<&str>) -> String {
    let images = img_origin.map_or_else(String::new, |origin| format!(" {origin}"));
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:{images}; \
         font-src 'self'; object-src 'none'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'; connect-src 'self'"
    )
}

/// What [`Guard`] enforces, built once from the settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The CSP up to and including `connect-src 'self'`.
    csp: String,
    /// The origins whose pages may call the API (exact `scheme://host[:port]`).
    cors_origins: Vec<String>,
    /// SHA-256 of the bearer token `/metrics` wants here, when this listener serves it.
    metrics_token: Option<[u8; 32]>,
}

impl Policy {
    /// The policy of a listener: images may come from `basemap_origin` too, pages of
    /// `cors_origins` may call the API, and `/metrics` (when this listener serves it)
    /// wants `metrics_token`.
    pub fn new(basemap_origin: Option<&str>, cors_origins: &[String], metrics_token: Option<&str>) -> Policy {
        Policy {
            csp: policy_head(basemap_origin),
            cors_origins: cors_origins.iter().map(|o| o.trim_end_matches('/').to_owned()).collect(),
            metrics_token: metrics_token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// The same policy where `/metrics` wants `token` (or nothing, for `None`).
    pub fn with_metrics_token(self, token: Option<&str>) -> Policy {
        Policy { metrics_token: token.map(|t| Sha256::digest(t.as_bytes()).into()), ..self }
    }

    /// The CSP for a request to `host` (the `Host` header, when it is a plain host name).
    pub fn csp_for(&self, host: Option<&str>) -> String {
        match host.filter(|h| is_plain_host(h)) {
            Some(host) => format!("{} ws://{host} wss://{host}", self.csp),
            None => self.csp.clone(),
        }
    }

    /// The configured origin a request comes from, if it may call this path across origins.
    fn cors_origin(&self, req: &ServiceRequest) -> Option<HeaderValue> {
        if self.cors_origins.is_empty() || !is_api(req.path()) {
            return None;
        }
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
        self.cors_origins.iter().any(|o| o == origin).then(|| HeaderValue::from_str(origin).ok()).flatten()
    }

    /// Whether the request carries the metrics' bearer token.
    fn metrics_allowed(&self, req: &ServiceRequest) -> bool {
        let Some(wanted) = self.metrics_token else { return true };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        // Compared as digests: the time taken says nothing about the token's bytes.
        given.is_some_and(|token| <[u8; 32]>::from(Sha256::digest(token.as_bytes())) == wanted)
    }

    /// The CSP header for a request to `host`, as [`Policy::csp_for`] writes it.
    fn csp_header(&self, host: Option<&str>) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.csp_for(host)).ok()
    }

    /// Writes the headers every answer carries (those already set are left as they are),
    /// with `csp` as its Content-Security-Policy.
    fn secure(&self, csp: Option<HeaderValue>, headers: &mut HeaderMap) {
        let mut set = |name: HeaderName, value: HeaderValue| {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        };
        if let Some(csp) = csp {
            set(header::CONTENT_SECURITY_POLICY, csp);
        }
        set(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        set(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        set(HeaderName::from_static("permissions-policy"), HeaderValue::from_static(PERMISSIONS_POLICY));
    }
}

/// The paths other origins' pages may call when CORS is configured: the API and Open311.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/open311/")
}

/// A host name, IPv4 or bracketed IPv6 address with an optional port, and nothing that
/// could end a CSP directive or start another.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Whether `origin` is one a browser sends: `http(s)://host[:port]`, no path.
pub fn is_origin(origin: &str) -> bool {
    let Some((scheme, host)) = origin.split_once("://") else { return false };
    matches!(scheme, "http" | "https") && is_plain_host(host) && !host.starts_with(':')
}

/// The middleware of [`Policy`]: wrap it outside everything that answers.
#[derive(Debug, Clone)]
pub struct Guard(Rc<Policy>);

impl Guard {
    /// A guard enforcing `policy`.
    pub fn new(policy: Policy) -> Guard {
        Guard(Rc::new(policy))
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService { service: Rc::new(service), policy: self.0.clone(), csp: RefCell::default() }))
    }
}

/// [`Guard`] around a service.
pub struct GuardService<S> {
    service: Rc<S>,
    policy: Rc<Policy>,
    /// The last `Host` answered by this worker and its CSP header: nearly every request
    /// names the same host, and writing the policy (some 400 bytes) each time cost a
    /// tenth of a short answer's time.
    csp: RefCell<Option<(HeaderValue, Option<HeaderValue>)>>,
}

impl<S> GuardService<S> {
    /// The CSP header for a request with this `Host` header.
    fn csp_for(&self, host: Option<&HeaderValue>) -> Option<HeaderValue> {
        let Some(host) = host else { return self.policy.csp_header(None) };
        let mut last = self.csp.borrow_mut();
        match &*last {
            Some((seen, csp)) if seen == host => csp.clone(),
            _ => {
                let csp = self.policy.csp_header(host.to_str().ok());
                *last = Some((host.clone(), csp.clone()));
                csp
            }
        }
    }
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let policy = self.policy.clone();
        let csp = self.csp_for(req.headers().get(header::HOST));
        let origin = policy.cors_origin(&req);
        // Answered here: a preflight from a configured origin, and /metrics without its token.
        let early = if origin.is_some()
            && req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            Some(preflight())
        } else if req.path() == "/metrics" && !policy.metrics_allowed(&req) {
            Some(ApiError::Unauthenticated("/metrics wants its bearer token".into()).error_response())
        } else {
            None
        };
        let finish = move |mut res: ServiceResponse<EitherBody<B>>| {
            let headers = res.headers_mut();
            policy.secure(csp, headers);
            if let Some(origin) = origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            res
        };
        if let Some(answer) = early {
            let res = req.into_response(answer.map_into_right_body());
            return Box::pin(async move { Ok(finish(res)) });
        }
        let service = self.service.clone();
        Box::pin(async move {
            let res = service.call(req).await?;
            Ok(finish(res.map_into_left_body()))
        })
    }
}

/// `GET /metrics` on a listener of its own: `registry` in Prometheus's text format.
pub fn metrics_text(registry: &prometheus::Registry) -> HttpResponse {
    use prometheus::Encoder;
    let encoder = prometheus::TextEncoder::new();
    let mut text = Vec::new();
    match encoder.encode(&registry.gather(), &mut text) {
        Ok(()) => HttpResponse::Ok().content_type(encoder.format_type()).body(text),
        Err(e) => ApiError::internal(e).error_response(),
    }
}

/// A preflight's answer: what a configured origin may send.
fn preflight() -> HttpResponse {
    let mut answer = HttpResponse::build(StatusCode::NO_CONTENT);
    answer
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, CORS_ALLOWED_METHODS))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_ALLOWED_HEADERS))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, CORS_MAX_AGE_S));
    answer.finish()
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service};
    use actix_web::{App, web};

    use super::*;

    async fn answer(
        policy: Policy,
        request: TestRequest,
    ) -> actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody> {
        let app = init_service(
            App::new()
                .wrap(Guard::new(policy))
                .route("/api/v1/me", web::get().to(HttpResponse::Ok))
                .route("/metrics", web::get().to(HttpResponse::Ok))
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        call_service(&app, request.to_request()).await
    }

    fn header<B>(res: &actix_web::dev::ServiceResponse<B>, name: &str) -> Option<String> {
        res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    #[actix_web::test]
    async fn every_answer_carries_the_headers_and_no_cors_by_default() {
        let policy = Policy::new(Some("https://tiles.example.cn"), &[], None);
        let res = answer(
            policy,
            TestRequest::get()
                .uri("/api/v1/me")
                .insert_header(("Host", "gl.example:8443"))
                .insert_header(("Origin", "https://evil.example")),
        )
        .await;
        let csp = header(&res, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("img-src 'self' blob: data: https://tiles.example.cn;"), "{csp}");
        assert!(csp.ends_with("connect-src 'self' ws://gl.example:8443 wss://gl.example:8443"), "{csp}");
        assert_eq!(header(&res, "x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header(&res, "x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(header(&res, "referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(header(&res, "permissions-policy").as_deref(), Some(PERMISSIONS_POLICY));
        assert_eq!(header(&res, "access-control-allow-origin"), None);
    }

    #[actix_web::test]
    async fn a_host_that_could_bend_the_policy_is_left_out_of_it() {
        let policy = Policy::new(None, &[], None);
        let res = answer(policy, TestRequest::get().uri("/").insert_header(("Host", "a; script-src *"))).await;
        let csp = header(&res, "content-security-policy").unwrap_or_default();
        assert!(csp.ends_with("connect-src 'self'"), "{csp}");
    }

    #[actix_web::test]
    async fn configured_origins_get_cors_on_the_api_only() {
        let policy = || Policy::new(None, &["https://app.example".to_owned()], None);
        let from = |origin: &str, uri: &str| TestRequest::get().uri(uri).insert_header(("Origin", origin.to_owned()));
        let res = answer(policy(), from("https://app.example", "/api/v1/me")).await;
        assert_eq!(header(&res, "access-control-allow-origin").as_deref(), Some("https://app.example"));
        assert_eq!(header(&res, "vary").as_deref(), Some("Origin"));
        let res = answer(policy(), from("https://other.example", "/api/v1/me")).await;
        assert_eq!(header(&res, "access-control-allow-origin"), None);
        let res = answer(policy(), from("https://app.example", "/")).await;
        assert_eq!(header(&res, "access-control-allow-origin"), None, "the pages are not the API");
        let res = answer(
            policy(),
            TestRequest::default()
                .method(Method::OPTIONS)
                .uri("/api/v1/me")
                .insert_header(("Origin", "https://app.example"))
                .insert_header(("Access-Control-Request-Method", "POST")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(header(&res, "access-control-allow-headers").is_some_and(|h| h.contains("authorization")));
    }

    #[actix_web::test]
    async fn metrics_want_their_token() {
        let policy = || Policy::new(None, &[], Some("a-long-metrics-token"));
        let res = answer(policy(), TestRequest::get().uri("/metrics")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&res, "x-content-type-options").as_deref(), Some("nosniff"));
        let wrong = TestRequest::get().uri("/metrics").insert_header(("Authorization", "Bearer nope"));
        assert_eq!(answer(policy(), wrong).await.status(), StatusCode::UNAUTHORIZED);
        let right = TestRequest::get().uri("/metrics").insert_header(("Authorization", "Bearer a-long-metrics-token"));
        assert_eq!(answer(policy(), right).await.status(), StatusCode::OK);
    }

    #[test]
    fn origins_are_scheme_and_host_only() {
        for ok in ["https://app.example", "http://127.0.0.1:3000", "https://[::1]:8443"] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in ["app.example", "https://app.example/path", "ftp://x", "https://", "*", "https://a b"] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}

//! Request counts and durations by route, method and status, for `/metrics`:
//! `gridlink_http_requests_total` and `gridlink_http_requests_duration_seconds`, labelled
//! `endpoint` (the route's pattern, e.g. `/api/v1/incidents/{id}`; `UNMATCHED` for a path
//! no route serves, so that scanners cannot grow the labels), `method` and `status`.
//!
//! It is measured on every request, so it is built to cost little: finding a request's
//! route pattern means walking every route again (actix matches dynamic segments with a
//! regex engine), so each worker thread remembers, by path, the route's handles to the
//! counters of each method and status it has seen — a bounded map, forgotten whole when
//! full; the handles are shared by every path of one route — so that once a path has
//! been seen, counting an answer is one lookup by path, with no label hashed and no lock
//! taken.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::Method;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

/// The label of a path no route serves.
pub const UNMATCHED: &str = "UNMATCHED";

/// At most this many paths are remembered per worker thread.
const PATHS: usize = 10_000;

/// The counters, shared by every worker.
#[derive(Clone)]
pub struct HttpMetrics {
    total: IntCounterVec,
    duration: HistogramVec,
    /// Which instance a thread's remembered paths belong to (tests run several servers).
    id: usize,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

/// What a worker thread knows of one route: its pattern, and the handles to the counters
/// of each method and status it was answered with (a handful at most).
struct Seen {
    pattern: Box<str>,
    handles: Vec<(Method, u16, IntCounter, Histogram)>,
}

/// What a worker thread remembers for one instance.
#[derive(Default)]
struct Remembered {
    /// By path: the route it was served by (bounded by [`PATHS`]).
    paths: HashMap<Box<str>, Rc<RefCell<Seen>>>,
    /// By pattern: the routes seen (as many as there are routes).
    routes: HashMap<Box<str>, Rc<RefCell<Seen>>>,
}

thread_local! {
    /// By instance.
    static REMEMBERED: RefCell<HashMap<usize, Remembered>> = RefCell::new(HashMap::new());
}

impl HttpMetrics {
    /// New counters, registered in `registry`.
    pub fn new(registry: &Registry) -> Result<HttpMetrics, prometheus::Error> {
        let labels = ["endpoint", "method", "status"];
        let total =
            IntCounterVec::new(Opts::new("gridlink_http_requests_total", "Requests answered, by route"), &labels)?;
        let duration = HistogramVec::new(
            HistogramOpts::new("gridlink_http_requests_duration_seconds", "Time to answer a request, by route"),
            &labels,
        )?;
        registry.register(Box::new(total.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(HttpMetrics { total, duration, id })
    }

    /// Counts one answer to `request` with `status`, which took `took`.
    pub fn observe(&self, request: &HttpRequest, status: u16, took: Duration) {
        REMEMBERED.with(|remembered| {
            let mut remembered = remembered.borrow_mut();
            let Remembered { paths, routes } = remembered.entry(self.id).or_default();
            let path = request.path();
            if let Some(route) = paths.get(path) {
                return self.count(&mut route.borrow_mut(), request.method(), status, took);
            }
            if paths.len() >= PATHS {
                paths.clear();
            }
            let pattern = request.match_pattern().map_or_else(|| UNMATCHED.into(), String::into_boxed_str);
            let route = routes
                .entry(pattern.clone())
                .or_insert_with(|| Rc::new(RefCell::new(Seen { pattern, handles: Vec::new() })))
                .clone();
            paths.insert(path.into(), route.clone());
            self.count(&mut route.borrow_mut(), request.method(), status, took);
        });
    }

    /// Counts one answer on a route.
    fn count(&self, seen: &mut Seen, method: &Method, status: u16, took: Duration) {
        let found = seen.handles.iter().find(|(m, s, _, _)| m == method && *s == status);
        let (count, time) = match found {
            Some((_, _, count, time)) => (count, time),
            None => {
                let values = [&*seen.pattern, method.as_str(), &status.to_string()];
                let handles = (self.total.with_label_values(&values), self.duration.with_label_values(&values));
                seen.handles.push((method.clone(), status, handles.0, handles.1));
                let (_, _, count, time) = &seen.handles[seen.handles.len() - 1];
                (count, time)
            }
        };
        count.inc();
        time.observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn answers_are_counted_by_route_method_and_status() {
        let registry = Registry::new();
        let metrics = HttpMetrics::new(&registry).unwrap();
        let request = TestRequest::get().uri("/nowhere?x=1").to_http_request();
        metrics.observe(&request, 404, Duration::from_millis(2));
        metrics.observe(&request, 404, Duration::from_millis(3));
        metrics.observe(&TestRequest::post().uri("/nowhere").to_http_request(), 404, Duration::ZERO);
        let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
        assert!(
            text.contains(r#"gridlink_http_requests_total{endpoint="UNMATCHED",method="GET",status="404"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"method="POST",status="404"} 1"#), "{text}");
        assert!(text.contains("gridlink_http_requests_duration_seconds_count"), "{text}");
    }

    #[actix_web::test]
    async fn paths_of_one_route_are_counted_under_its_pattern() {
        use actix_web::dev::Service;
        use actix_web::test::{call_service, init_service};
        use actix_web::{App, HttpResponse, web};

        let registry = Registry::new();
        let metrics = HttpMetrics::new(&registry).unwrap();
        let app = init_service(
            App::new()
                .wrap_fn(move |req, service| {
                    let (metrics, answer) = (metrics.clone(), service.call(req));
                    async move {
                        let res = answer.await?;
                        metrics.observe(res.request(), res.status().as_u16(), Duration::ZERO);
                        Ok(res)
                    }
                })
                .route("/cases/{id}", web::get().to(HttpResponse::Ok))
                .route("/cases/{id}", web::post().to(HttpResponse::Created)),
        )
        .await;
        for (method, uri) in [("GET", "/cases/1"), ("GET", "/cases/2"), ("GET", "/cases/1"), ("POST", "/cases/1")] {
            let request = TestRequest::default().method(method.parse().unwrap()).uri(uri).to_request();
            call_service(&app, request).await;
        }
        let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
        assert!(
            text.contains(r#"gridlink_http_requests_total{endpoint="/cases/{id}",method="GET",status="200"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gridlink_http_requests_total{endpoint="/cases/{id}",method="POST",status="201"} 1"#),
            "{text}"
        );
    }
}

//! Request counts and durations by route, method and status, for `/metrics`:
//! `gridlink_http_requests_total` and `gridlink_http_requests_duration_seconds`, labelled
//! `endpoint` (the route's pattern, e.g. `/api/v1/incidents/{id}`; `UNMATCHED` for a path
//! no route serves, so that scanners cannot grow the labels), `method` and `status`.
//!
//! It is measured on every request, so it is built to cost little: finding a request's
//! route pattern means walking every route again (actix matches dynamic segments with a
//! regex engine), so patterns are remembered by path — a bounded map, forgotten whole
//! when full — and each worker thread keeps its own handles to the counters it has used,
//! so that no label is hashed and no lock taken once a route has been seen.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix_web::HttpRequest;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

/// The label of a path no route serves.
pub const UNMATCHED: &str = "UNMATCHED";

/// At most this many paths' patterns are remembered.
const PATHS: usize = 10_000;

/// The counters, shared by every worker.
#[derive(Clone)]
pub struct HttpMetrics {
    total: IntCounterVec,
    duration: HistogramVec,
    patterns: Arc<RwLock<HashMap<String, Arc<str>>>>,
    /// Which instance a thread's cached handles belong to (tests run several servers).
    id: usize,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

type Handles = HashMap<(usize, Arc<str>, actix_web::http::Method, u16), (IntCounter, Histogram)>;

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::new(HashMap::new());
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
        Ok(HttpMetrics { total, duration, patterns: Arc::default(), id })
    }

    /// The route pattern `request` was served by (remembered by path).
    fn pattern(&self, request: &HttpRequest) -> Arc<str> {
        let path = request.path();
        if let Some(found) = self.patterns.read().unwrap_or_else(PoisonError::into_inner).get(path) {
            return found.clone();
        }
        let pattern: Arc<str> = request.match_pattern().map_or_else(|| Arc::from(UNMATCHED), Arc::from);
        let mut patterns = self.patterns.write().unwrap_or_else(PoisonError::into_inner);
        if patterns.len() >= PATHS {
            patterns.clear();
        }
        patterns.insert(path.to_owned(), pattern.clone());
        pattern
    }

    /// Counts one answer to `request` with `status`, which took `took`.
    pub fn observe(&self, request: &HttpRequest, status: u16, took: Duration) {
        let pattern = self.pattern(request);
        let key = (self.id, pattern, request.method().clone(), status);
        HANDLES.with(|handles| {
            let mut handles = handles.borrow_mut();
            let (count, time) = handles.entry(key).or_insert_with_key(|(_, pattern, method, status)| {
                let values = [&**pattern, method.as_str(), &status.to_string()];
                (self.total.with_label_values(&values), self.duration.with_label_values(&values))
            });
            count.inc();
            time.observe(took.as_secs_f64());
        });
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
}

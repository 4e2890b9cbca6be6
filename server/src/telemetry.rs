//! Structured logs through `tracing`: one subscriber for the process, `RUST_LOG` to tune
//! it, and a span for every request.
//!
//! Every request runs inside an `http` span with its method, path and request id, so that
//! whatever is logged while answering it says which request it belongs to. The span is
//! opened for every request, logged or not, and the log formatter formats a span's
//! fields as the span opens: so the span holds those three cheap fields only (no user
//! agent, no client address, no route pattern looked up again), and the request id is a
//! number from a counter behind a prefix drawn once per process, not a random UUID drawn
//! from the kernel per request. Ids are unique across nodes and restarts in practice
//! (the prefix is 32 random bits) and tell the order of requests on one node.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (info and above unless `RUST_LOG` says otherwise).
/// Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).try_init();
}

/// A request's id: this process's prefix and the request's number, shown as
/// `<8 hex digits>-<number>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    prefix: u32,
    number: u64,
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}-{}", self.prefix, self.number)
    }
}

impl RequestId {
    /// The next request's id.
    pub fn next() -> RequestId {
        static PREFIX: OnceLock<u32> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_fields().0);
        RequestId { prefix, number: NEXT.fetch_add(1, Ordering::Relaxed) }
    }
}

/// The span a request is answered in (see the module's documentation); the request
/// carries its id in its extensions.
pub fn request_span(request: &ServiceRequest) -> tracing::Span {
    let id = RequestId::next();
    request.extensions_mut().insert(id);
    tracing::info_span!("http", method = %request.method(), path = %request.path(), request_id = %id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_count_up_behind_one_prefix() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_eq!(a.prefix, b.prefix);
        assert!(b.number > a.number);
        let shown = a.to_string();
        let (prefix, number) = shown.split_once('-').unwrap();
        assert_eq!((prefix.len(), number.parse::<u64>().unwrap()), (8, a.number));
    }
}

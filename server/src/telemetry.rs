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
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Installs the global subscriber (info and above unless `RUST_LOG` says otherwise).
/// Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .fmt_fields(PlainFields)
        .try_init();
}

/// The fields of spans and events, written as `DefaultFields` writes them; a plain
/// `name=value` field without colours is written here directly. `DefaultFields` sends
/// every field name through the terminal-styling code, colours or not, and since a
/// span's fields are written as it opens, every request's span paid that three times
/// (a sixth of the time of the shortest answer).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        let mut visitor = PlainVisitor { writer, empty: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// [`PlainFields`]' visitor: plain fields here, the rest by `DefaultVisitor`.
struct PlainVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: std::fmt::Result,
}

impl PlainVisitor<'_> {
    /// Hands one field to `DefaultVisitor`, writing to the same line.
    fn by_default(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.empty);
        record(&mut default);
        self.result = default.finish();
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.by_default(|d| d.record_str(field, value));
            self.empty = false;
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_ok() {
            self.by_default(|d| d.record_error(field, value));
            self.empty = false;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // The message (escaped), raw identifiers, the `log` crate's metadata (skipped)
        // and anything in colour: as `DefaultFields` writes them.
        if name == "message" || name.starts_with("r#") || name.starts_with("log.") || self.writer.has_ansi_escapes() {
            self.by_default(|d| d.record_debug(field, value));
            self.empty &= name.starts_with("log.");
            return;
        }
        let space = if self.empty { "" } else { " " };
        self.empty = false;
        self.result = write!(self.writer, "{space}{name}={value:?}");
    }
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
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An error with a source, as the server logs them (`cause = %e` or as an error).
    #[derive(Debug, thiserror::Error)]
    #[error("the store failed")]
    struct Failed(#[source] std::io::Error);

    fn log_lines(plain: bool) -> String {
        let kept = Kept::default();
        let writer = {
            let kept = kept.clone();
            move || kept.clone()
        };
        let builder = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).without_time().with_target(false);
        let emit = || {
            let span = tracing::info_span!("http", method = %"GET", path = %"/api/v1/locate", request_id = 7u64);
            let _entered = span.enter();
            let failed = Failed(std::io::Error::other("disk \x1b full"));
            tracing::warn!(
                r#type = "report",
                count = 3,
                ok = true,
                quoted = "a \"b\"",
                error = &failed as &(dyn std::error::Error + 'static),
                "escaped \x1b[31m {}",
                1
            );
            tracing::info!("no fields");
        };
        if plain {
            tracing::subscriber::with_default(builder.fmt_fields(PlainFields).finish(), emit);
        } else {
            tracing::subscriber::with_default(builder.finish(), emit);
        }
        let bytes = kept.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn plain_fields_write_what_default_fields_write() {
        let (plain, default) = (log_lines(true), log_lines(false));
        assert_eq!(plain, default);
        assert!(plain.contains(r#"http{method=GET path=/api/v1/locate request_id=7}"#), "{plain}");
        assert!(plain.contains("error.sources="), "{plain}");
    }

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

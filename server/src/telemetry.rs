//! Structured logs through `tracing`: one subscriber for the process, `RUST_LOG` to tune
//! it, and a span for every request.
//!
//! Every request runs inside an `http` span with its method, path and request id, so that
//! whatever is logged while answering it says which request it belongs to. The span is
//! opened for every request, logged or not, and the log formatter formats a span's
//! fields as the span opens: so the span holds those three cheap fields only (no user
//! agent, no client address, no route pattern looked up again), given as plain strings
//! that [`RequestSpanFields`] writes out by hand, and the request id is a number from a
//! counter behind a prefix drawn once per process, not a random UUID drawn from the
//! kernel per request. Ids are unique across nodes and restarts in practice (the prefix
//! is 32 random bits) and tell the order of requests on one node.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::dev::ServiceRequest;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber (info and above unless `RUST_LOG` says otherwise).
/// Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    let _ = tracing::subscriber::set_global_default(subscriber(filter, ansi, std::io::stdout));
}

/// The process's subscriber: `filter`, the request span's fields written by hand, and
/// lines in tracing's usual format (without targets) to `writer`.
pub fn subscriber<W>(filter: EnvFilter, ansi: bool, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(filter).with(RequestSpanFields).with(
        tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi).fmt_fields(PlainFields).with_writer(writer),
    )
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
        f.write_str(self.text().as_str())
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

    /// The id as text, written without the formatting machinery (it is written for every
    /// request): at most 8 + 1 + 20 bytes.
    pub fn text(&self) -> IdText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0_u8; 29];
        for (i, byte) in bytes[..8].iter_mut().enumerate() {
            *byte = HEX[(self.prefix >> (28 - 4 * i) & 0xf) as usize];
        }
        bytes[8] = b'-';
        let mut digits = [0_u8; 20];
        let (mut n, mut at) = (self.number, digits.len());
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let len = 9 + digits.len() - at;
        bytes[9..len].copy_from_slice(&digits[at..]);
        IdText { bytes, len }
    }
}

/// A [`RequestId`] as text, kept on the stack.
#[derive(Debug, Clone, Copy)]
pub struct IdText {
    bytes: [u8; 29],
    len: usize,
}

impl IdText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits, a dash and decimal digits were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// The span a request is answered in (see the module's documentation). Its fields are
/// plain strings, written out by [`RequestSpanFields`].
pub fn request_span(request: &ServiceRequest) -> tracing::Span {
    span_of(request.method().as_str(), request.path(), &RequestId::next())
}

/// The request span of `method`, `path` and `id`.
fn span_of(method: &str, path: &str, id: &RequestId) -> tracing::Span {
    tracing::info_span!("http", method, path, request_id = id.text().as_str())
}

/// Whether `metadata` is [`request_span`]'s.
fn is_request_span(metadata: &Metadata<'_>) -> bool {
    metadata.name() == "http" && metadata.target() == module_path!()
}

/// Writes the request span's fields for the log formatter as the span opens, as
/// [`PlainFields`] would write them were they given by `Display` (`method=GET
/// path=/api/v1/locate request_id=…`), with no formatting machinery: the span opens for
/// every request, and formatting its three fields the usual way was a tenth of the time
/// of the shortest answer. It must be placed under the log formatter's layer, which
/// then finds the fields written and leaves them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpanFields;

impl<S> Layer<S> for RequestSpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_request_span(attrs.metadata()) {
            return;
        }
        let mut written = HandWritten(String::with_capacity(80));
        attrs.record(&mut written);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(FormattedFields::<PlainFields>::new(written.0));
        }
    }
}

/// [`RequestSpanFields`]' visitor: `name=value`, space-separated, strings as they are.
struct HandWritten(String);

impl HandWritten {
    fn name(&mut self, field: &Field) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(field.name());
        self.0.push('=');
    }
}

impl Visit for HandWritten {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        self.0.push_str(value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        self.name(field);
        let _ = write!(self.0, "{value:?}");
    }
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

    /// The lines `subscriber` writes while `emit` runs, without their timestamps.
    fn lines_of(subscriber: impl Subscriber + Send + Sync, kept: &Kept, emit: impl FnOnce()) -> Vec<String> {
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = kept.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        text.lines().map(|line| line.split_once(' ').map_or(line, |(_, rest)| rest).to_owned()).collect()
    }

    #[test]
    fn the_request_span_reads_as_if_its_fields_were_formatted() {
        let id = RequestId { prefix: 0x00c0_ffee, number: 42 };
        let log = |span: &tracing::Span| {
            let _entered = span.enter();
            tracing::info!(status = 200, "answered");
        };
        let kept = Kept::default();
        let writer = {
            let kept = kept.clone();
            move || kept.clone()
        };
        let by_hand = lines_of(subscriber(EnvFilter::new("info"), false, writer), &kept, || {
            log(&span_of("GET", "/api/v1/locate", &id));
            // Another span of the same name elsewhere is formatted as usual.
            let other = tracing::info_span!(target: "elsewhere", "http", method = "GET");
            log(&other);
        });
        let kept = Kept::default();
        let writer = {
            let kept = kept.clone();
            move || kept.clone()
        };
        let formatted = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).with_target(false);
        let usual = lines_of(formatted.fmt_fields(PlainFields).finish(), &kept, || {
            log(&tracing::info_span!("http", method = %"GET", path = %"/api/v1/locate", request_id = %id));
            log(&tracing::info_span!("http", method = "GET"));
        });
        assert_eq!(by_hand, usual);
        assert!(
            by_hand[0].ends_with("http{method=GET path=/api/v1/locate request_id=00c0ffee-42}: answered status=200"),
            "{by_hand:?}"
        );
        assert!(by_hand[1].ends_with(r#"http{method="GET"}: answered status=200"#), "{by_hand:?}");
    }

    #[test]
    fn request_ids_are_written_as_formatting_would_write_them() {
        for prefix in [0, 1, 0x0bad_f00d, u32::MAX] {
            for number in [0, 7, 10, 99, 1_000_001, u64::MAX] {
                let id = RequestId { prefix, number };
                assert_eq!(id.text().as_str(), format!("{prefix:08x}-{number}"));
                assert_eq!(id.to_string(), format!("{prefix:08x}-{number}"));
            }
        }
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

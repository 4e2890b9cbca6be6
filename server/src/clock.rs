//! Time on the wire: instants are stored as Unix milliseconds (UTC) and sent as RFC 3339.
//!
//! The server's notion of "now" for cases is a [`Clock`] in the shared state: the real
//! clock, or — only when the server was started with an explicit test clock
//! (`test_clock`, never by default, and refused on anything but a loopback address) — a
//! clock that tests move ahead through `POST /api/v1/test/clock`, so that deadlines run out
//! without waiting real days. Commands and the deadline timer take their instants from it;
//! sessions and the sockets' housekeeping keep the real time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::problem::ApiError;

/// Now, in Unix milliseconds (UTC), by the real clock.
pub fn now_ms() -> i64 {
    crate::auth::now_ms()
}

/// The server's clock for cases: real, or a test clock that can be moved ahead.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Added to the real time.
    offset_ms: AtomicI64,
    adjustable: bool,
    /// How many times a test clock has moved; loops that wake on moves watch it, so a
    /// move made while they were busy is still seen when they next wait.
    moves: tokio::sync::watch::Sender<u64>,
    /// How many passes each background loop that follows the clock has finished (see
    /// [`Clock::passed`]).
    passes: Mutex<BTreeMap<&'static str, u64>>,
}

impl Clock {
    /// The real clock.
    pub fn real() -> Clock {
        Clock::with_offset(0, false)
    }

    /// A test clock that reads `start_ms` now and runs on in real time from there; it can be
    /// moved ahead ([`Clock::advance`], [`Clock::set`]).
    pub fn starting_at(start_ms: i64) -> Clock {
        Clock::with_offset(start_ms.saturating_sub(now_ms()), true)
    }

    fn with_offset(offset_ms: i64, adjustable: bool) -> Clock {
        let inner = Inner {
            offset_ms: AtomicI64::new(offset_ms),
            adjustable,
            moves: Default::default(),
            passes: Default::default(),
        };
        Clock { inner: Arc::new(inner) }
    }

    /// Now, in Unix milliseconds (UTC).
    pub fn now_ms(&self) -> i64 {
        now_ms().saturating_add(self.inner.offset_ms.load(Ordering::SeqCst))
    }

    /// Whether this is a test clock.
    pub fn is_adjustable(&self) -> bool {
        self.inner.adjustable
    }

    /// Moves a test clock ahead by `ms` (0 or more); the new now.
    pub fn advance(&self, ms: i64) -> Result<i64, ClockError> {
        if !self.inner.adjustable {
            return Err(ClockError::NotAdjustable);
        }
        if !(0..=MAX_STEP_MS).contains(&ms) {
            return Err(ClockError::BadStep(ms));
        }
        self.inner.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.inner.moves.send_modify(|n| *n += 1);
        Ok(self.now_ms())
    }

    /// Moves a test clock ahead to `at_ms`; never back. The new now.
    pub fn set(&self, at_ms: i64) -> Result<i64, ClockError> {
        let now = self.now_ms();
        if at_ms < now {
            return Err(ClockError::Backwards { now, asked: at_ms });
        }
        self.advance(at_ms - now)
    }

    /// The moves of a test clock from now on: `changed()` resolves once the clock has moved
    /// since it was last seen (never for the real clock).
    pub fn moves(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.moves.subscribe()
    }

    /// Records that the background loop `name` (the deadline timer, the upload sweep, the
    /// grid watch) finished a pass. The test clock's reading shows the counts, so that a
    /// test asserting that nothing happens waits until each loop has looked again, rather
    /// than sleeping for a guessed while.
    pub fn passed(&self, name: &'static str) {
        let mut passes = self.inner.passes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *passes.entry(name).or_default() += 1;
    }

    /// The passes each background loop has finished so far.
    pub fn passes(&self) -> BTreeMap<&'static str, u64> {
        self.inner.passes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The most a test clock moves in one step: ten years.
const MAX_STEP_MS: i64 = 10 * 366 * 24 * 3600 * 1000;

/// Why a clock was not moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The real clock does not move.
    #[error("this server runs on the real clock")]
    NotAdjustable,
    /// A step backwards, or beyond ten years.
    #[error("the clock moves ahead by 0 ms to ten years at a time, not {0} ms")]
    BadStep(i64),
    /// A time before now.
    #[error("the clock never goes back: it is {} and {} was asked", rfc3339(*.now), rfc3339(*.asked))]
    Backwards {
        /// Now.
        now: i64,
        /// The time asked for.
        asked: i64,
    },
}

/// How to move the test clock: by `advance_ms`, or to `to` (RFC 3339).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// Milliseconds to move ahead.
    pub advance_ms: Option<i64>,
    /// The instant to move ahead to.
    pub to: Option<String>,
}

/// The test clock's reading.
#[derive(Debug, Serialize)]
pub struct Reading {
    /// Now, RFC 3339.
    pub now: String,
    /// Now, Unix ms.
    pub now_ms: i64,
    /// The passes each background loop has finished ([`Clock::passed`]).
    pub passes: BTreeMap<&'static str, u64>,
}

fn reading(clock: &Clock, ms: i64) -> HttpResponse {
    HttpResponse::Ok().json(Reading { now: rfc3339(ms), now_ms: ms, passes: clock.passes() })
}

/// `GET /api/v1/test/clock`: what the test clock reads (served only with a test clock).
#[get("/api/v1/test/clock")]
pub async fn read(clock: web::Data<Clock>) -> HttpResponse {
    reading(&clock, clock.now_ms())
}

/// `POST /api/v1/test/clock` `{"advance_ms": N}` or `{"to": "<RFC 3339>"}`: moves the test
/// clock ahead (served only with a test clock); the deadline timer runs at once.
#[post("/api/v1/test/clock")]
pub async fn shift(clock: web::Data<Clock>, body: web::Json<Move>) -> Result<HttpResponse, ApiError> {
    let bad = |e: ClockError| ApiError::BadRequest(e.to_string());
    let now = match body.into_inner() {
        Move { advance_ms: Some(ms), to: None } => clock.advance(ms).map_err(bad)?,
        Move { advance_ms: None, to: Some(to) } => {
            let at = parse_rfc3339(&to)
                .ok_or_else(|| ApiError::BadRequest(format!("to must be an RFC 3339 instant, not {to:?}")))?;
            clock.set(at).map_err(bad)?
        }
        _ => return Err(ApiError::BadRequest("give exactly one of advance_ms and to".into())),
    };
    tracing::info!(now = %rfc3339(now), "test clock moved");
    Ok(reading(&clock, now))
}

/// Asia/Shanghai's offset from UTC (no summer time): the days the centres count by.
pub const SHANGHAI_MS: i64 = 8 * 3_600_000;

/// The start of the local (Asia/Shanghai) day holding the instant `ms`, as Unix ms.
pub fn day_start_ms(ms: i64) -> i64 {
    (ms + SHANGHAI_MS).div_euclid(86_400_000) * 86_400_000 - SHANGHAI_MS
}

/// An instant as RFC 3339 in UTC, e.g. `2026-11-22T08:30:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Reads an RFC 3339 instant into Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_starts_at_midnight_in_shanghai() {
        let noon = parse_rfc3339("2026-12-06T04:00:00Z").unwrap(); // 12:00 in Shanghai
        assert_eq!(rfc3339(day_start_ms(noon)), "2026-12-05T16:00:00Z");
        let just_after = parse_rfc3339("2026-12-05T16:00:00Z").unwrap();
        assert_eq!(day_start_ms(just_after), just_after);
        assert_eq!(rfc3339(day_start_ms(just_after - 1)), "2026-12-04T16:00:00Z");
    }

    #[test]
    fn instants_round_trip_through_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-02-13T02:00:00+08:00"), Some(1_770_919_200_000));
        assert_eq!(parse_rfc3339(&rfc3339(1_770_919_200_123)), Some(1_770_919_200_123));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn only_a_test_clock_moves_and_only_ahead() {
        let real = Clock::real();
        assert_eq!(real.advance(1000), Err(ClockError::NotAdjustable));
        let start = 1_770_919_200_000;
        let test = Clock::starting_at(start);
        assert!((test.now_ms() - start).abs() < 60_000);
        let later = test.advance(3 * 24 * 3600 * 1000).unwrap();
        assert!(later >= start + 3 * 24 * 3600 * 1000);
        assert!(matches!(test.set(start), Err(ClockError::Backwards { .. })));
        assert_eq!(test.advance(-1), Err(ClockError::BadStep(-1)));
        assert!(test.set(later + 1000).unwrap() >= later + 1000);
    }
}

//! The pure rules of sending: what a wake-up says, how it collapses, how long a failing
//! subscription waits, and what a push service's answer means.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime};

/// What every wake-up says: only "sync now". No case, no name, no place: push services
/// and the phone's OS see nothing of the work.
pub const WAKE_PAYLOAD: &[u8] = br#"{"type":"wake"}"#;

/// How long a push service keeps a wake-up for a phone that is off, in seconds. After an
/// hour the phone will have synced anyway, or the next assignment wakes it again.
pub const WAKE_TTL_S: u32 = 60 * 60;

/// How long a push service keeps news of a report for a resident's browser that is off,
/// in seconds: a day. The news stays true longer than a wake-up does (no socket brings
/// it otherwise), and a newer one of the same case replaces it ([`topic`] of the case).
pub const NEWS_TTL_S: u32 = 24 * 60 * 60;

/// What news of a report says to a resident following it: the report's id and where it
/// stands now (`registered`, `closed`, `reopened`, `merged`), nothing else. No category,
/// no words, no place, no name: push services and the browser's OS see only that a case
/// they cannot read moved; the page reads the rest with its follow token.
pub fn news_payload(incident_id: &str, status: &str) -> Vec<u8> {
    serde_json::json!({"type": "report", "id": incident_id, "status": status}).to_string().into_bytes()
}

/// The longest `Topic` push services take (RFC 8030 §5.4).
pub const MAX_TOPIC_LEN: usize = 32;

/// The first wait after a failure; each further failure in a row doubles it, up to
/// [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(15);

/// The longest wait after failures in a row (without a `Retry-After` saying otherwise).
pub const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);

/// The longest `Retry-After` honoured: a push service asking for more is asked again then.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The `Topic` of a worker's wake-ups (or of a report's news), so that a push service
/// keeps only the newest one waiting for a device that is off: the user's (or case's) id's
/// 16 bytes in base64url (22 characters), or, for an id that is not a UUID, the first 16
/// bytes of its SHA-256.
pub fn topic(id: &str) -> String {
    let bytes: [u8; 16] = match uuid::Uuid::parse_str(id) {
        Ok(id) => *id.as_bytes(),
        Err(_) => {
            let digest = Sha256::digest(id.as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&digest[..16]);
            first
        }
    };
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How long to wait after `failures` failed sends in a row (1 for the first).
pub fn backoff(failures: i32) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1)).unwrap_or(0).min(16);
    FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// When to try again (Unix milliseconds) after `failures` in a row at `now_ms`: when the
/// push service said (`Retry-After`, within a day), or else by [`backoff`].
pub fn next_attempt_ms(now_ms: i64, failures: i32, retry_after: Option<Duration>) -> i64 {
    let wait = match retry_after {
        Some(asked) => asked.clamp(Duration::from_secs(1), MAX_RETRY_AFTER),
        None => backoff(failures),
    };
    now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
}

/// Reads a `Retry-After` value (RFC 9110 §10.2.3): seconds, or an HTTP date, as a wait
/// from `now`. A date in the past is no wait; anything else unreadable is `None`.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = PrimitiveDateTime::parse(value, &format).ok()?.assume_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// What a push service's answer means for the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (2xx).
    Delivered,
    /// The subscription no longer exists (404, 410): delete it.
    Gone,
    /// Overloaded or failing (429, 5xx): back off, as `Retry-After` says if it does.
    Busy,
    /// Refused for another reason (400, 401, 403, 413, …): back off as for a failure, and
    /// warn, since it points at our request or key rather than at the service's load.
    Refused,
}

/// The verdict for an HTTP status.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        404 | 410 => Verdict::Gone,
        429 | 500..=599 => Verdict::Busy,
        _ => Verdict::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_fits_in_32_characters_and_is_the_workers_own() {
        let id = "0b9d2c3e-5f1a-4e7b-9c8d-112233445566";
        let t = topic(id);
        assert_eq!(t.len(), 22);
        assert!(t.len() <= MAX_TOPIC_LEN);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(t, topic(id), "stable");
        assert_eq!(URL_SAFE_NO_PAD.decode(&t).unwrap(), uuid::Uuid::parse_str(id).unwrap().as_bytes());
        assert_ne!(t, topic("0b9d2c3e-5f1a-4e7b-9c8d-112233445567"));
        assert_eq!(topic("not-a-uuid").len(), 22);
        assert_ne!(topic("not-a-uuid"), topic("not-a-uuid2"));
    }

    #[test]
    fn the_backoff_doubles_up_to_an_hour() {
        let secs: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [15, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(0), FIRST_BACKOFF);
        assert_eq!(backoff(i32::MAX), MAX_BACKOFF);
        assert_eq!(next_attempt_ms(1_000, 2, None), 31_000);
        assert_eq!(next_attempt_ms(1_000, 1, Some(Duration::from_secs(120))), 121_000, "Retry-After wins");
        assert_eq!(next_attempt_ms(1_000, 9, Some(Duration::ZERO)), 2_000, "at least a second");
        assert_eq!(next_attempt_ms(0, 1, Some(Duration::from_secs(10 * 86_400))), 86_400_000, "at most a day");
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = time::macros::datetime!(2026-11-22 08:00:00 UTC);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 22 Nov 2026 08:01:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("Sun, 22 Nov 2026 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn statuses_mean_what_rfc_8030_says() {
        assert_eq!(verdict(201), Verdict::Delivered);
        assert_eq!(verdict(404), Verdict::Gone);
        assert_eq!(verdict(410), Verdict::Gone);
        assert_eq!(verdict(429), Verdict::Busy);
        assert_eq!(verdict(503), Verdict::Busy);
        assert_eq!(verdict(400), Verdict::Refused);
        assert_eq!(verdict(403), Verdict::Refused);
    }

    #[test]
    fn news_of_a_report_says_its_id_and_status_and_nothing_else() {
        let id = "0b9d2c3e-5f1a-4e7b-9c8d-112233445566";
        let v: serde_json::Value = serde_json::from_slice(&news_payload(id, "closed")).unwrap();
        assert_eq!(v, serde_json::json!({"type": "report", "id": id, "status": "closed"}));
    }

    #[test]
    fn the_payload_says_nothing_but_wake() {
        let v: serde_json::Value = serde_json::from_slice(WAKE_PAYLOAD).unwrap();
        assert_eq!(v, serde_json::json!({"type": "wake"}));
    }
}

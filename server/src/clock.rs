//! Time on the wire: instants are stored as Unix milliseconds (UTC) and sent as RFC 3339.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in Unix milliseconds (UTC).
pub fn now_ms() -> i64 {
    crate::auth::now_ms()
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
    fn instants_round_trip_through_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-02-13T02:00:00+08:00"), Some(1_770_919_200_000));
        assert_eq!(parse_rfc3339(&rfc3339(1_770_919_200_123)), Some(1_770_919_200_123));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}

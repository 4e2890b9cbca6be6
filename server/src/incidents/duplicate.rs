//! What makes two reports duplicates (并单, docs/domain.md: "same category, nearby, recent"): the
//! one rule the inbox suggests merges by and the workflow merges by. Pure.

/// How near two reports must be to be duplicates (metres).
pub const RADIUS_M: f64 = 200.0;
/// How close in time two reports must be to be duplicates (72 hours).
pub const WINDOW_MS: i64 = 72 * 3_600_000;

/// Where and when a case was reported, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reported {
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// The great-circle distance between two WGS-84 points, in metres.
pub fn distance_m((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Why two reports of the same category are not duplicates, if they are not: too far apart
/// or too far apart in time.
pub fn unlike(a: Reported, b: Reported) -> Option<String> {
    let metres = distance_m((a.lon, a.lat), (b.lon, b.lat));
    let apart_ms = a.at_ms.abs_diff(b.at_ms);
    if metres.is_nan() || metres > RADIUS_M {
        Some(format!("the reports are {metres:.0} m apart; duplicates lie within {RADIUS_M:.0} m"))
    } else if apart_ms > WINDOW_MS.unsigned_abs() {
        let hours = apart_ms / 3_600_000;
        Some(format!("the reports are {hours} h apart; duplicates come within {} h", WINDOW_MS / 3_600_000))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_lie_within_200_m_and_72_hours() {
        let at = |lat: f64, hours: i64| Reported { lon: 118.3, lat, at_ms: hours * 3_600_000 };
        assert_eq!(unlike(at(33.950, 0), at(33.951, 72)), None, "111 m, 72 h");
        assert!(unlike(at(33.950, 0), at(33.953, 0)).unwrap().contains("334 m apart"));
        assert!(unlike(at(33.950, 73), at(33.950, 0)).unwrap().contains("73 h apart"));
        let nowhere = Reported { lon: f64::NAN, lat: 0.0, at_ms: 0 };
        assert!(unlike(nowhere, at(33.95, 0)).is_some(), "an unreadable place is no duplicate");
    }
}

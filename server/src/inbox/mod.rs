//! The queues a centre works from (`GET /api/v1/inbox`): new reports awaiting acceptance,
//! returned tasks awaiting re-dispatch, requests for more time (延期) and to park (挂账)
//! awaiting an answer, the cases in its supervision queue (督办), and suggestions to merge
//! duplicates (并单) — ordered by urgency: red before yellow before the rest, then by due
//! time.
//!
//! The merge suggestion is a pure rule ([`merge_pairs`]): two open cases of the same
//! category, within [`MERGE_RADIUS_M`] of each other, reported within [`MERGE_WINDOW_MS`] of
//! each other.

pub mod routes;

use crate::calendar::Light;

pub use crate::incidents::duplicate::{RADIUS_M as MERGE_RADIUS_M, WINDOW_MS as MERGE_WINDOW_MS, distance_m};

/// A case as the merge rule sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    /// Its category.
    pub category: &'a str,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// When reported (Unix ms).
    pub reported_at_ms: i64,
}

/// The pairs of `cases` (all open) the rule suggests merging, as (earlier, later, metres
/// apart) indexes into `cases`, the earlier reported first.
pub fn merge_pairs(cases: &[Candidate<'_>]) -> Vec<(usize, usize, f64)> {
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by(|&a, &b| {
        (cases[a].category, cases[a].reported_at_ms, a).cmp(&(cases[b].category, cases[b].reported_at_ms, b))
    });
    let mut pairs = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        for &j in &order[n + 1..] {
            let (a, b) = (&cases[i], &cases[j]);
            if a.category != b.category || b.reported_at_ms - a.reported_at_ms > MERGE_WINDOW_MS {
                break;
            }
            let d = distance_m((a.lon, a.lat), (b.lon, b.lat));
            if d <= MERGE_RADIUS_M {
                pairs.push((i, j, d));
            }
        }
    }
    pairs
}

/// How an item sorts: red, yellow, then the rest; earlier due first, none last.
pub fn urgency(light: Light, due_ms: Option<i64>) -> (u8, i64) {
    let rank = match light {
        Light::Red => 0,
        Light::Yellow => 1,
        Light::Green => 2,
    };
    (rank, due_ms.unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn at(category: &str, lon: f64, lat: f64, hours: i64) -> Candidate<'_> {
        Candidate { category, lon, lat, reported_at_ms: 1_770_000_000_000 + hours * HOUR }
    }

    #[test]
    fn duplicates_are_the_same_category_near_in_space_and_time() {
        // 0.001° of latitude is about 111 m; of longitude at 34° N about 92 m.
        let cases = [
            at("C0101", 118.300, 33.950, 0),
            at("C0101", 118.300, 33.951, 10),   // 111 m, 10 h later: a duplicate of 0
            at("C0101", 118.300, 33.953, 20),   // 333 m from 0, 222 m from 1: too far
            at("C0102", 118.300, 33.950, 1),    // another category
            at("C0101", 118.3005, 33.9505, 73), // 72 h after 1 and near it, 73 h after 0
        ];
        let pairs: Vec<(usize, usize)> = merge_pairs(&cases).into_iter().map(|(a, b, _)| (a, b)).collect();
        assert_eq!(pairs, [(0, 1), (1, 4)]);
        let (_, _, d) = merge_pairs(&cases)[0];
        assert!((d - 111.2).abs() < 1.0, "{d}");
        assert!(merge_pairs(&[]).is_empty());
    }

    #[test]
    fn red_comes_before_yellow_before_the_rest_then_the_earlier_due() {
        let mut items = [
            (Light::Green, Some(1)),
            (Light::Red, Some(9)),
            (Light::Yellow, None),
            (Light::Red, Some(3)),
            (Light::Green, None),
        ];
        items.sort_by_key(|&(l, d)| urgency(l, d));
        assert_eq!(
            items,
            [
                (Light::Red, Some(3)),
                (Light::Red, Some(9)),
                (Light::Yellow, None),
                (Light::Green, Some(1)),
                (Light::Green, None)
            ]
        );
    }
}

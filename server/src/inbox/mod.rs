//! The queues a centre works from (`GET /api/v1/inbox`): new reports awaiting acceptance,
//! returned tasks awaiting re-dispatch, requests for more time (延期) and to park (挂账)
//! awaiting an answer, handled cases awaiting their check (核查) and checked ones awaiting
//! closing (结案), the cases in its supervision queue (督办), and suggestions to merge
//! duplicates (并单) — ordered by urgency: red before yellow before the rest, then by due
//! time.
//!
//! The merge suggestion is a pure rule ([`merge_pairs`]): two open cases of the same
//! category, within [`MERGE_RADIUS_M`] of each other, reported within [`MERGE_WINDOW_MS`] of
//! each other — each case offered as the duplicate of at most [`SUGGESTIONS_PER_CASE`]
//! earlier ones, its nearest, found without comparing every pair ([`duplicates`]).

pub mod duplicates;
pub mod routes;

use crate::calendar::Light;

pub use self::duplicates::{SUGGESTIONS_PER_CASE, merge_pairs};
pub use crate::incidents::duplicate::{RADIUS_M as MERGE_RADIUS_M, WINDOW_MS as MERGE_WINDOW_MS, distance_m};

/// A case as the merge rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
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

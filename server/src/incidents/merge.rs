//! Merging a duplicate into a surviving case (并单): two cases changed in one transaction
//! through the one write path.
//!
//! Both case rows are locked first, in the order of their ids, so that two merges of the
//! same pair in opposite directions cannot deadlock; the pure [`decide_merge`] checks the
//! pair (not into itself, same category, near in place and time, the survivor still open); then the duplicate's
//! `merge` and the survivor's `absorb` are each committed by [`act::execute`], each with its
//! event in its own trace and its own change-log rows. The duplicate's reporters follow
//! the survivor: the survivor lists the duplicate among its `followers`, and the follow
//! view of the duplicate shows the case it ended in.

use super::act::{self, ActError, Actor, Extra, Outcome, Timing};
use super::duplicate::Reported;
use super::store;
use super::workflow::{Case, Command, MergeSide, Refusal, decide_merge};
use crate::store::DbConnection;

/// Merges case `duplicate` into case `survivor` by `actor`, in the caller's transaction.
/// The outcome is the duplicate's, its `touched` covering both cases' change-log rows.
/// Each case keeps its own timing (its grade's limits, its county's calendar).
pub fn merge<'a>(
    conn: &mut DbConnection,
    duplicate: &str,
    survivor: &str,
    actor: &Actor,
    reason: &str,
    timing: impl Fn(&store::IncidentRow) -> Timing<'a>,
    now_ms: i64,
) -> Result<Outcome, ActError> {
    if duplicate == survivor {
        return Err(Refusal::MergeIntoItself.into());
    }
    let mut ids = [duplicate, survivor];
    ids.sort_unstable();
    for id in ids {
        if !store::lock(conn, id)? {
            return Err(ActError::NotFound(id.to_owned()));
        }
    }
    let read = |conn: &mut DbConnection, id: &str| -> Result<(store::IncidentRow, Case), ActError> {
        let row = store::visible_incident(conn, &actor.viewer, id)?.ok_or_else(|| ActError::NotFound(id.to_owned()))?;
        let case = serde_json::from_str(&row.state).map_err(|e| ActError::Corrupt(id.to_owned(), e.to_string()))?;
        Ok((row, case))
    };
    let (dup_row, dup_case) = read(conn, duplicate)?;
    let (survivor_row, survivor_case) = read(conn, survivor)?;
    let (_, absorbed) =
        decide_merge(side(&dup_row, &dup_case), side(&survivor_row, &survivor_case), actor.viewer.id, reason, now_ms)?;
    let followers = absorbed
        .iter()
        .find_map(|e| match e {
            super::workflow::Event::Absorbed { followers, .. } => Some(followers.clone()),
            _ => None,
        })
        .unwrap_or_else(|| vec![duplicate.to_owned()]);
    let merge = Command::Merge { into: survivor.to_owned(), reason: reason.to_owned() };
    let mut outcome = act::execute(conn, duplicate, actor, &merge, &Extra::default(), timing(&dup_row), now_ms)?;
    let absorb = Command::Absorb { duplicate: duplicate.to_owned(), followers };
    let other = act::execute(conn, survivor, actor, &absorb, &Extra::default(), timing(&survivor_row), now_ms)?;
    outcome.touched.merge(other.touched);
    Ok(outcome)
}

fn side<'a>(row: &'a store::IncidentRow, case: &'a Case) -> MergeSide<'a> {
    let reported = Reported { lon: row.lon, lat: row.lat, at_ms: row.reported_at_ms };
    MergeSide { id: &row.id, category: &row.category_code, reported, case }
}

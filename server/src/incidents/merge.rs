//! Merging a duplicate into a surviving case (并单): two cases changed in one transaction
//! through the one write path.
//!
//! Both case rows are locked first, in the order of their ids, so that two merges of the
//! same pair in opposite directions cannot deadlock; the pure [`decide_merge`] checks the
//! pair (not into itself, same category, near in place and time, the survivor still open); then the duplicate's
//! `merge` and the survivor's `absorb` are each committed by [`Tx::act`], each with its
//! event in its own trace and its own change-log rows. The duplicate's reporters follow
//! the survivor: the survivor lists the duplicate among its `followers`, and the follow
//! view of the duplicate shows the case it ended in.

use super::act::{ActError, Actor, Extra, Fresh, Outcome, Tx};
use super::duplicate::Reported;
use super::workflow::{Command, Event, MergeSide, Refusal, decide_merge};

/// Merges case `duplicate` into case `survivor` by `actor`, in the write path's
/// transaction `tx`. The outcome is the duplicate's. Each case keeps its own timing (its
/// grade's limits, its county's calendar).
pub fn merge(
    tx: &mut Tx<'_>,
    duplicate: &str,
    survivor: &str,
    actor: &Actor,
    reason: &str,
    now_ms: i64,
) -> Result<Outcome, ActError> {
    if duplicate == survivor {
        return Err(Refusal::MergeIntoItself.into());
    }
    // Both locked before either is read, in the order of their ids.
    let in_order = duplicate < survivor;
    let (first, second) = if in_order { (duplicate, survivor) } else { (survivor, duplicate) };
    let (first, second) = (tx.lock(first, &actor.viewer)?, tx.lock(second, &actor.viewer)?);
    let (dup, kept) = if in_order { (first, second) } else { (second, first) };
    let (_, absorbed) = decide_merge(side(&dup), side(&kept), actor.viewer.id, reason, now_ms)?;
    let followers = absorbed
        .iter()
        .find_map(|e| match e {
            Event::Absorbed { followers, .. } => Some(followers.clone()),
            _ => None,
        })
        .unwrap_or_else(|| vec![duplicate.to_owned()]);
    let merge = Command::Merge { into: survivor.to_owned(), reason: reason.to_owned() };
    let outcome = tx.act(duplicate, actor, now_ms, |_, _| Ok::<_, ActError>((merge, Extra::default())))?;
    let absorb = Command::Absorb { duplicate: duplicate.to_owned(), followers };
    tx.act(survivor, actor, now_ms, |_, _| Ok::<_, ActError>((absorb, Extra::default())))?;
    Ok(outcome)
}

fn side<'a>(fresh: &'a Fresh<'_>) -> MergeSide<'a> {
    let row = &fresh.row;
    let reported = Reported { lon: row.lon, lat: row.lat, at_ms: row.reported_at_ms };
    MergeSide { id: &row.id, category: &row.category_code, reported, case: &fresh.case }
}

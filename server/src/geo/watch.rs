//! Keeps a node's grid layer in step with the stored one, without stopping.
//!
//! `gridlink grids import` (another process, perhaps on another machine) replaces the
//! stored layer and raises its generation in the same transaction. Every node looks at
//! that one number every few seconds (`grids_poll_ms`); when it moved, the node loads the
//! new layer and builds its index on a blocking thread — requests keep being answered
//! from the old one meanwhile — and [`Geo::swap`]s both in. Requests under way finish
//! with the index they took. Polling one row works for any number of nodes on one
//! database, and a node that was down simply finds the new generation when it starts.
//!
//! What else follows the layer is a [`Follower`]'s business: names derived from the
//! units when a layer is swapped in, and — at start and after every swap — bringing the
//! stored cases in line with it (re-placing those whose grid vanished), retried at the
//! next look until it succeeds.

use std::sync::Arc;
use std::time::Duration;

use geodata::Layer;

use super::Geo;
use super::store::{self, LayerStoreError};
use crate::store::{Database, StoreError};

/// What follows a node's layer besides its index.
pub trait Follower: Send + Sync {
    /// A new layer was swapped in: update whatever was derived from the old one.
    fn swapped(&self, layer: &Layer);

    /// The node's layer is the stored one (at start, and after each swap): bring stored
    /// state in line with it. An error is logged and the call repeated at the next look.
    fn settle(&self, geo: &Geo) -> Result<(), String>;

    /// A look at the stored layer ended, whatever it found (tests wait on this).
    fn looked(&self) {}
}

/// Why a look at the stored layer failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored layer could not be read.
    #[error(transparent)]
    Layer(#[from] LayerStoreError),
}

/// What one look found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looked {
    /// The node's layer is the stored one.
    Current,
    /// A newer layer was stored, and is now the node's.
    Swapped {
        /// Its generation.
        generation: i64,
        /// How many grids it has.
        grids: usize,
    },
}

/// One look (blocking: run it off the async workers): if the stored generation is not
/// the node's, loads the stored layer, builds its index and swaps both in. A stored layer
/// without grids is swapped in as an empty one: the database is the truth.
pub fn refresh(db: &Database, geo: &Geo) -> Result<Looked, WatchError> {
    // The generation first: a layer stored between the two reads is loaded under the
    // older number and loaded again at the next look, never missed.
    let generation = db.read(store::generation)?;
    swap_to(db, geo, generation)
}

/// Loads the stored layer and swaps it in as `generation`, unless that is the node's.
fn swap_to(db: &Database, geo: &Geo, generation: i64) -> Result<Looked, WatchError> {
    if generation == geo.generation() {
        return Ok(Looked::Current);
    }
    let layer = db.read(|c| Ok(store::load_layer(c)))??.unwrap_or_default();
    let index = Geo::build_index(&layer, geo.options());
    let grids = index.len();
    geo.swap(layer, index, generation);
    Ok(Looked::Swapped { generation, grids })
}

/// Watches the stored layer every `every` until dropped (run it as a task of the
/// server's runtime): looks at once, then at each tick, and whenever `nudged` (another
/// node or process said it stored a layer, `crate::cluster`).
pub async fn run(
    db: Database,
    geo: Geo,
    every: Duration,
    follower: Arc<dyn Follower>,
    nudged: Arc<tokio::sync::Notify>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A generation whose layer would not load: not tried again until another replaces it.
    let mut unreadable: Option<i64> = None;
    // At start, the stored cases are brought in line with the layer the node started with.
    let mut unsettled = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = nudged.notified() => {}
        }
        let (db, geo, following) = (db.clone(), geo.clone(), follower.clone());
        let looked =
            tokio::task::spawn_blocking(move || look(&db, &geo, following.as_ref(), unreadable, unsettled)).await;
        match looked {
            Ok(state) => (unreadable, unsettled) = state,
            Err(e) => tracing::error!(cause = %e, "looking for a new grid layer failed"),
        }
        follower.looked();
    }
}

/// One tick: refresh (unless the stored generation is known not to load), then settle
/// if needed; the new `(unreadable, unsettled)`.
#[tracing::instrument(skip_all, fields(generation = geo.generation()))]
fn look(
    db: &Database,
    geo: &Geo,
    follower: &dyn Follower,
    unreadable: Option<i64>,
    unsettled: bool,
) -> (Option<i64>, bool) {
    let stored = match db.read(store::generation) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(cause = %e, "cannot read the stored grid layer's generation");
            return (unreadable, unsettled);
        }
    };
    let mut unsettled = unsettled;
    let mut unreadable = unreadable;
    if Some(stored) != unreadable {
        match swap_to(db, geo, stored) {
            Ok(Looked::Current) => {}
            Ok(Looked::Swapped { generation, grids }) => {
                tracing::info!(generation, grids, "a newly stored grid layer is now in use");
                follower.swapped(&geo.layer());
                unsettled = true;
                unreadable = None;
            }
            Err(WatchError::Layer(e)) => {
                tracing::error!(stored, cause = %e, "the newly stored grid layer does not load; keeping the current one");
                unreadable = Some(stored);
            }
            Err(e) => tracing::warn!(cause = %e, "cannot load the newly stored grid layer; trying again"),
        }
    }
    if unsettled {
        match follower.settle(geo) {
            Ok(()) => unsettled = false,
            Err(e) => tracing::warn!(cause = %e, "cases not yet brought in line with the grid layer; trying again"),
        }
    }
    (unreadable, unsettled)
}

//! Open cases whose grid left the layer: re-placed by their stored location.
//!
//! When a newly imported layer no longer has a grid, the open cases in it (any status
//! but closed, rejected or merged) move to the grid their location lies in now — placed
//! by the index as a report is, snapping included — with their place at every level
//! (grid, community, township, county, city), so area scoping and lists follow them. A
//! case whose location lies in no grid of the new layer keeps its grid code, and its
//! trace says once that it could not be re-placed. Cases whose grid is still there are
//! not touched. Each change is the system's [`Command::Replace`](super::workflow::Command)
//! through the one write path ([`replace`]): one transaction with its event and its
//! change-log rows.
//!
//! [`plan`] is the decision, pure; [`run`] applies it to the stored cases. It is safe
//! to run on every node, after every swap and at every start: it looks only for open
//! cases whose grid is not among the stored grids, each is re-checked under its row lock
//! (a case another node moved meanwhile is left alone), a stranded case is recorded once,
//! and a node whose layer is not the stored one any more stops and leaves the work to
//! its next swap.

use geodata::{AreaCode, GridIndex, Level};

use super::act::{ActError, Actor, Extra, Tx, WritePath};
use super::store;
use super::workflow::{Command, Refusal};
use crate::store::StoreError;

/// Where a case's grid went when the layer changed: the grid it is in (which the layer
/// no longer has), its place in the new layer if its location lies in one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The grid the case was found in.
    pub from: String,
    /// Its new place (city, county, township, community, grid), if any.
    pub to: Option<[String; 5]>,
    /// Why, for the trace.
    pub reason: String,
}

/// Re-places case `id` as the system, in the write path's transaction `tx`:
/// [`Command::Replace`] through the same path as every command, moving the case's place
/// at every level (and so its calendar, should it cross a county line). `false` when
/// there is nothing to do any more: the case is no longer in `from` (another node
/// re-placed it first) or it is already recorded as stranded there.
pub fn replace(tx: &mut Tx<'_>, id: &str, replacement: &Replacement, now_ms: i64) -> Result<bool, ActError> {
    let done = tx.act(id, &Actor::system(), now_ms, |_, fresh| {
        if fresh.row.grid_code != replacement.from {
            return Err(ActError::Moot(id.to_owned()));
        }
        let command = Command::Replace {
            from: replacement.from.clone(),
            to: replacement.to.as_ref().map(|place| place[4].clone()),
            reason: replacement.reason.clone(),
        };
        Ok((command, Extra { place: replacement.to.clone(), ..Extra::default() }))
    });
    match done {
        Ok(_) => Ok(true),
        Err(ActError::Moot(_) | ActError::Refused(Refusal::AlreadyStranded(_))) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What becomes of an open case when the layer changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Its grid is in the layer: it keeps it.
    Keep,
    /// Its grid is not; its location lies in (or within the snapping tolerance of) another.
    Move {
        /// Its new place: city, county, township, community, grid.
        place: [String; 5],
        /// Whether the location lay outside every grid and was snapped to this one.
        snapped: bool,
        /// How far outside the grid it lay, in metres (0 inside).
        distance_m: f64,
    },
    /// Its grid is not in the layer, and its location lies in no grid of it.
    Stranded,
}

/// Decides what becomes of an open case in grid `grid`, located at WGS-84 (`lon`, `lat`),
/// under the layer indexed as `index`.
pub fn plan(grid: &str, lon: f64, lat: f64, index: &GridIndex) -> Plan {
    if AreaCode::parse(grid).ok().is_some_and(|code| index.grid(&code).is_some()) {
        return Plan::Keep;
    }
    let Ok(placed) = index.locate(lon, lat) else { return Plan::Stranded };
    let code = |level: Level| {
        placed.grid.chain.iter().find(|l| l.level == level).map(|l| l.code.as_str().to_owned()).unwrap_or_default()
    };
    Plan::Move {
        place: [Level::City, Level::County, Level::Township, Level::Community, Level::Grid].map(code),
        snapped: placed.snapped,
        distance_m: placed.distance_m,
    }
}

/// The replacement a plan makes of a case in grid `from`, with the reason its trace
/// gives; `None` for [`Plan::Keep`].
pub fn replacement(from: &str, plan: Plan, generation: i64) -> Option<Replacement> {
    let gone = format!("grid {from} is not in the grid layer stored as generation {generation}");
    let (to, reason) = match plan {
        Plan::Keep => return None,
        Plan::Move { place, snapped: false, .. } => {
            let reason = format!("{gone}; the case's location lies in grid {}", place[4]);
            (Some(place), reason)
        }
        Plan::Move { place, snapped: true, distance_m } => {
            let reason =
                format!("{gone}; the case's location lies {distance_m:.0} m outside grid {}, the nearest", place[4]);
            (Some(place), reason)
        }
        Plan::Stranded => {
            (None, format!("{gone}, and the case's location lies in none of its grids: it keeps its grid"))
        }
    };
    Some(Replacement { from: from.to_owned(), to, reason })
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cases moved to another grid.
    pub replaced: usize,
    /// Cases newly recorded as stranded.
    pub stranded: usize,
    /// Cases found with nothing left to do (moved by another node meanwhile, already
    /// recorded as stranded).
    pub untouched: usize,
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// A newer layer was stored than the one this node re-places by: its next swap does it.
    #[error("a newer grid layer (generation {stored}) was stored than this node's ({ours})")]
    Superseded {
        /// The stored generation.
        stored: i64,
        /// The node's.
        ours: i64,
    },
    /// A case could not be re-placed.
    #[error("case {0}: {1}")]
    Case(String, ActError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ReplaceError {
    fn from(e: diesel::result::Error) -> ReplaceError {
        ReplaceError::Store(StoreError::Query(e))
    }
}

/// Cases read per query.
const PAGE: i64 = 200;

/// Re-places every open case whose grid is not among the stored grids, by the layer of
/// stored `generation` indexed as `index` (blocking: run it off the async workers), each
/// case in one transaction of the write path `path`, timed by `clock` (the server's clock
/// for cases). Does nothing while `index` has no grids (no layer is stored).
#[tracing::instrument(skip_all, fields(generation))]
pub fn run(
    path: &WritePath,
    index: &GridIndex,
    generation: i64,
    clock: &crate::clock::Clock,
) -> Result<Tally, ReplaceError> {
    let mut tally = Tally::default();
    if index.is_empty() {
        return Ok(tally);
    }
    let mut after = String::new();
    loop {
        let rows = path.db().read(|c| store::in_vanished_grids(c, &after, PAGE))?;
        for row in &rows {
            let Some(replacement) =
                replacement(&row.grid_code, plan(&row.grid_code, row.lon, row.lat, index), generation)
            else {
                // The stored grids and this node's index disagree: not the stored layer.
                tally.untouched += 1;
                continue;
            };
            let now = clock.now_ms();
            let done = path.run(|tx| -> Result<_, ReplaceError> {
                let done =
                    replace(tx, &row.id, &replacement, now).map_err(|e| ReplaceError::Case(row.id.clone(), e))?;
                // Checked in the same transaction: a layer stored meanwhile rolls this back.
                let stored = crate::geo::store::generation(tx.conn())?;
                if stored != generation {
                    return Err(ReplaceError::Superseded { stored, ours: generation });
                }
                Ok(done)
            })?;
            match done {
                false => tally.untouched += 1,
                true => {
                    if replacement.to.is_some() {
                        tally.replaced += 1;
                    } else {
                        tally.stranded += 1;
                    }
                    tracing::info!(case = %row.code, from = %replacement.from, to = ?replacement.to.as_ref().map(|p| &p[4]), "case re-placed");
                }
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE => after = last.id.clone(),
            _ => break,
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use geodata::{IndexOptions, Layer, Tolerances, check_geojson};
    use serde_json::json;

    use super::*;

    /// A county of one township and one community, 0.03° wide, and of its three grids
    /// (0.01° squares, west to east: 001, 002, 003) those in `grids`.
    fn layer(grids: &[&str]) -> Layer {
        let square = |x0: f64, x1: f64| json!({"type": "Polygon", "coordinates": [[[x0, 33.9], [x1, 33.9], [x1, 33.91], [x0, 33.91], [x0, 33.9]]]});
        let feature = |code: &str, level: u8, parent: Option<&str>, geometry| json!({"type": "Feature", "properties": {"code": code, "name": code, "level": level, "parent": parent}, "geometry": geometry});
        let mut features = vec![
            feature("321300", 1, None, square(118.0, 118.03)),
            feature("321302", 2, Some("321300"), square(118.0, 118.03)),
            feature("321302001", 3, Some("321302"), square(118.0, 118.03)),
            feature("321302001001", 4, Some("321302001"), square(118.0, 118.03)),
        ];
        for (i, code) in [G1, G2, G3].into_iter().enumerate() {
            if grids.contains(&code) {
                let x0 = 118.0 + 0.01 * i as f64;
                features.push(feature(code, 5, Some("321302001001"), square(x0, x0 + 0.01)));
            }
        }
        let text = json!({"type": "FeatureCollection", "features": features}).to_string();
        // Gaps are what these layers are about: not held against them.
        let checked = check_geojson(&text, &Tolerances { area_m2: f64::INFINITY, ..Tolerances::default() });
        checked.layer.unwrap_or_else(|| panic!("{}", checked.report))
    }

    fn index(grids: &[&str]) -> GridIndex {
        GridIndex::build(&layer(grids), IndexOptions { snap_tolerance_m: 50.0 })
    }

    const G1: &str = "321302001001001";
    const G2: &str = "321302001001002";
    const G3: &str = "321302001001003";

    #[test]
    fn a_case_whose_grid_is_still_there_keeps_it() {
        let index = index(&[G1, G2, G3]);
        assert_eq!(plan(G2, 118.015, 33.905, &index), Plan::Keep);
        // Even if its location lies elsewhere now: only a vanished grid moves a case.
        assert_eq!(plan(G2, 118.005, 33.905, &index), Plan::Keep);
        assert_eq!(replacement(G2, Plan::Keep, 3), None);
    }

    #[test]
    fn a_case_whose_grid_vanished_moves_to_the_grid_of_its_location() {
        let index = index(&[G1, G3]);
        let Plan::Move { place, snapped, distance_m } = plan(G2, 118.025, 33.905, &index) else { panic!() };
        assert_eq!(place, ["321300", "321302", "321302001", "321302001001", G3]);
        assert_eq!((snapped, distance_m), (false, 0.0));
        let r = replacement(G2, plan(G2, 118.025, 33.905, &index), 7).unwrap();
        assert_eq!((r.from.as_str(), r.to.as_ref().map(|p| p[4].as_str())), (G2, Some(G3)));
        assert!(r.reason.contains("generation 7") && r.reason.contains(G3), "{}", r.reason);
    }

    #[test]
    fn a_location_just_outside_every_grid_snaps_to_the_nearest() {
        // G2 vanished and left a hole: a point in it 20 m from G1's east edge.
        let index = index(&[G1, G3]);
        let lon = 118.01 + 20.0 / 92_500.0;
        let Plan::Move { place, snapped, distance_m } = plan(G2, lon, 33.905, &index) else { panic!() };
        assert_eq!(place[4], G1);
        assert!(snapped && (15.0..25.0).contains(&distance_m), "{distance_m}");
        assert!(replacement(G2, plan(G2, lon, 33.905, &index), 1).unwrap().reason.contains("outside grid"));
    }

    #[test]
    fn a_location_in_no_grid_is_stranded_and_keeps_its_grid() {
        let index = index(&[G1, G3]);
        assert_eq!(plan(G2, 118.015, 33.905, &index), Plan::Stranded);
        assert_eq!(plan(G2, 116.4, 39.9, &index), Plan::Stranded);
        let r = replacement(G2, Plan::Stranded, 2).unwrap();
        assert_eq!((r.from.as_str(), r.to), (G2, None));
        // A grid code that does not even parse is not in the layer either.
        assert!(matches!(plan("not-a-grid", 118.005, 33.905, &index), Plan::Move { .. }));
    }
}

//! Numbering fused grids within their community: west to east, north to south, keeping
//! the codes of grids that a previous fusion made nearly the same.

use std::collections::BTreeSet;

use geo::{Area, BooleanOps, BoundingRect, Centroid, Coord, Intersects, MultiPolygon};

use super::FuseError;
use crate::code::AreaCode;

/// A grid keeps a previous grid's code when each covers at least this share of the other.
pub const KEEP_CODE_AT: f64 = 0.9;

/// The sequence number (1–999) of each grid, in the order given, and whether it was kept
/// from `previous`.
///
/// Grids are read in rows as tall as a typical grid of the community (the square root of
/// the median area), from the north; within a row, from the west. New grids take numbers
/// after the highest the community had before, so a retired code is never given to
/// another place while old cases still cite it.
pub(super) fn assign(
    community: &AreaCode,
    outline: &MultiPolygon<f64>,
    grids: &[MultiPolygon<f64>],
    previous: Option<&super::Previous>,
) -> Result<Vec<(u32, bool)>, FuseError> {
    let mut areas: Vec<f64> = grids.iter().map(Area::unsigned_area).collect();
    let points: Vec<Coord<f64>> = grids
        .iter()
        .map(|g| g.centroid().map(|p| p.0).or_else(|| g.bounding_rect().map(|r| r.center())).unwrap_or_default())
        .collect();
    areas.sort_by(f64::total_cmp);
    let band = areas.get(areas.len() / 2).copied().unwrap_or(1.0).sqrt().max(1.0);
    let top = outline.bounding_rect().map_or(0.0, |r| r.max().y);
    let mut order: Vec<usize> = (0..grids.len()).collect();
    let row = |i: usize| ((top - points[i].y) / band).floor() as i64;
    order.sort_by(|&a, &b| {
        row(a).cmp(&row(b)).then(points[a].x.total_cmp(&points[b].x)).then(points[b].y.total_cmp(&points[a].y))
    });

    let before: &[(u32, MultiPolygon<f64>)] = previous.and_then(|p| p.get(community)).map_or(&[], Vec::as_slice);
    let mut out = vec![(0, false); grids.len()];
    let mut used: BTreeSet<u32> = BTreeSet::new();
    for &i in &order {
        let grid = &grids[i];
        let area = grid.unsigned_area();
        let matched = before.iter().find(|(seq, old)| {
            if used.contains(seq) || !old.intersects(grid) {
                return false;
            }
            let common = grid.intersection(old).unsigned_area();
            common >= KEEP_CODE_AT * area && common >= KEEP_CODE_AT * old.unsigned_area()
        });
        if let Some((seq, _)) = matched {
            used.insert(*seq);
            out[i] = (*seq, true);
        }
    }
    let mut next = before.iter().map(|(seq, _)| *seq).max().unwrap_or(0) + 1;
    for &i in &order {
        if out[i].1 {
            continue;
        }
        if next > 999 {
            // Past the last number: fall back on the lowest one nobody holds now.
            next = (1..=999).find(|n| !used.contains(n)).ok_or_else(|| FuseError::TooManyGrids(community.clone()))?;
        }
        used.insert(next);
        out[i] = (next, false);
        next += 1;
        while used.contains(&next) {
            next += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Rect, polygon};
    use std::collections::BTreeMap;

    fn square(x: f64, y: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![Rect::new((x, y), (x + 100.0, y + 100.0)).to_polygon()])
    }

    fn community() -> (AreaCode, MultiPolygon<f64>) {
        let outline = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 300.0, y: 0.0), (x: 300.0, y: 200.0), (x: 0.0, y: 200.0)],
        ]);
        (AreaCode::parse("321302001001").unwrap(), outline)
    }

    #[test]
    fn west_to_east_then_north_to_south() {
        let (code, outline) = community();
        // Given in a scrambled order; the north row is y 100..200.
        let grids = [
            square(200.0, 0.0),
            square(0.0, 100.0),
            square(100.0, 0.0),
            square(200.0, 100.0),
            square(0.0, 0.0),
            square(100.0, 100.0),
        ];
        let seqs: Vec<u32> = assign(&code, &outline, &grids, None).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, [6, 1, 5, 3, 4, 2]);
    }

    #[test]
    fn nearly_unchanged_grids_keep_their_codes_and_new_ones_do_not_reuse_old() {
        let (code, outline) = community();
        let old =
            vec![(1, square(0.0, 100.0)), (2, square(100.0, 100.0)), (3, square(200.0, 100.0)), (4, square(0.0, 0.0))];
        let previous = BTreeMap::from([(code.clone(), old)]);
        // The first moved by 5 m (95 % the same), the second by 20 m (80 %), a new one in the south.
        let grids = [square(5.0, 100.0), square(120.0, 100.0), square(200.0, 100.0), square(100.0, 0.0)];
        let got = assign(&code, &outline, &grids, Some(&previous)).unwrap();
        assert_eq!(got, [(1, true), (5, false), (3, true), (6, false)]);
    }
}

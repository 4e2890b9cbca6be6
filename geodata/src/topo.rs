//! Exact topology for polygons that share their edges vertex for vertex.
//!
//! Boolean operations in floating point round their output, so two results of two
//! operations rarely share an edge exactly, and a layer built from them grows hairline
//! gaps and overlaps. The generators here avoid that: they first [`Welder`] every vertex
//! onto one canonical copy, then [`dissolve`] neighbouring polygons by cancelling the
//! edges they share — no arithmetic on coordinates at all, so a union's boundary is made
//! of exactly the vertices its members had.

use std::collections::{BTreeMap, HashMap};

use geo::{Area, Contains, Coord, LineString, MultiPolygon, Point, Polygon};

type Key = (u64, u64);

/// A directed edge by the bits of its ends, with its ends and how many times it is left.
type EdgeCounts = BTreeMap<(Key, Key), (Coord<f64>, Coord<f64>, usize)>;

fn key(c: Coord<f64>) -> Key {
    (c.x.to_bits(), c.y.to_bits())
}

/// Unites polygons that share whole edges (identical vertices, opposite directions).
///
/// The result's rings are the edges that are not shared; holes are kept. Where two
/// regions touch at a single point the rings are traced so that they stay separate.
/// Polygons that overlap, or that touch along edges with different vertices, are not
/// united correctly: this is for partitions built with welded vertices.
pub fn dissolve<'a>(polygons: impl IntoIterator<Item = &'a Polygon<f64>>) -> MultiPolygon<f64> {
    // Directed edges, interior on the left (exterior counter-clockwise, holes clockwise).
    let mut edges: EdgeCounts = BTreeMap::new();
    for polygon in polygons {
        for (i, ring) in std::iter::once(polygon.exterior()).chain(polygon.interiors()).enumerate() {
            let ccw = ring_signed_area(ring) > 0.0;
            let forward = (i == 0) == ccw;
            for line in ring.lines() {
                let (a, b) = if forward { (line.start, line.end) } else { (line.end, line.start) };
                if a == b {
                    continue;
                }
                let reverse = (key(b), key(a));
                match edges.get_mut(&reverse) {
                    Some(entry) if entry.2 > 1 => entry.2 -= 1,
                    Some(_) => {
                        edges.remove(&reverse);
                    }
                    None => edges.entry((key(a), key(b))).or_insert((a, b, 0)).2 += 1,
                }
            }
        }
    }
    let mut outgoing: HashMap<Key, Vec<(Key, Coord<f64>)>> = HashMap::new();
    for (&(ka, kb), &(_, b, n)) in &edges {
        for _ in 0..n {
            outgoing.entry(ka).or_default().push((kb, b));
        }
    }
    let mut rings = Vec::new();
    for (&(ka, _), &(a, _, _)) in &edges {
        while outgoing.get(&ka).is_some_and(|v| !v.is_empty()) {
            rings.extend(split_at_repeats(trace(ka, a, &mut outgoing)));
        }
    }
    assemble(rings)
}

/// Follows unused edges from `start` back to it, turning as far left as possible at
/// every vertex with a choice, which keeps regions that touch at a point apart.
fn trace(start: Key, start_c: Coord<f64>, outgoing: &mut HashMap<Key, Vec<(Key, Coord<f64>)>>) -> LineString<f64> {
    let mut coords = vec![start_c];
    let (mut at, mut at_c) = (start, start_c);
    let mut incoming: Option<Coord<f64>> = None;
    while let Some(options) = outgoing.get_mut(&at).filter(|o| !o.is_empty()) {
        let pick = match incoming {
            None => 0,
            Some(d_in) => {
                let mut best = (0, f64::NEG_INFINITY);
                for (i, (_, c)) in options.iter().enumerate() {
                    let d_out = *c - at_c;
                    let turn = (d_in.x * d_out.y - d_in.y * d_out.x).atan2(d_in.x * d_out.x + d_in.y * d_out.y);
                    if turn > best.1 {
                        best = (i, turn);
                    }
                }
                best.0
            }
        };
        let (next, next_c) = options.swap_remove(pick);
        incoming = Some(next_c - at_c);
        coords.push(next_c);
        (at, at_c) = (next, next_c);
        if at == start {
            break;
        }
    }
    LineString(coords)
}

/// Cuts a traced ring that passes a vertex twice into simple rings.
///
/// Turning left keeps two regions that touch at a point apart, but a hole touching its
/// shell (or another hole) at a point is traced into the same ring; the loop between the
/// two visits is the hole, and its orientation says so.
fn split_at_repeats(ring: LineString<f64>) -> Vec<LineString<f64>> {
    let mut out = Vec::new();
    let mut path: Vec<Coord<f64>> = Vec::with_capacity(ring.0.len());
    let mut seen: HashMap<Key, usize> = HashMap::new();
    let n = ring.0.len().saturating_sub(1); // the last point repeats the first
    for &c in &ring.0[..n] {
        if let Some(&i) = seen.get(&key(c)) {
            let mut lp: Vec<Coord<f64>> = path.split_off(i + 1);
            for v in &lp {
                seen.remove(&key(*v));
            }
            lp.insert(0, c);
            lp.push(c);
            out.push(LineString(lp));
        } else {
            seen.insert(key(c), path.len());
            path.push(c);
        }
    }
    if let Some(&first) = path.first() {
        path.push(first);
        out.push(LineString(path));
    }
    out.retain(|r| r.0.len() >= 4);
    out
}

/// Sorts traced rings into exteriors (counter-clockwise) and the holes inside them.
fn assemble(rings: Vec<LineString<f64>>) -> MultiPolygon<f64> {
    let (mut shells, mut holes): (Vec<_>, Vec<_>) = rings.into_iter().partition(|r| ring_signed_area(r) > 0.0);
    shells.sort_by(|a, b| ring_signed_area(a).total_cmp(&ring_signed_area(b)));
    let mut polygons: Vec<Polygon<f64>> = shells.into_iter().map(|s| Polygon::new(s, Vec::new())).collect();
    for hole in holes.drain(..) {
        // The smallest shell that holds a vertex of the hole strictly inside.
        let owner = polygons.iter().position(|p| hole.coords().any(|c| p.exterior_contains(*c)));
        if let Some(i) = owner {
            polygons[i].interiors_push(hole);
        }
    }
    polygons.sort_by(|a, b| {
        let (ka, kb) = (a.exterior().0.first().copied(), b.exterior().0.first().copied());
        ka.map(|c| (c.x, c.y)).partial_cmp(&kb.map(|c| (c.x, c.y))).unwrap_or(std::cmp::Ordering::Equal)
    });
    MultiPolygon(polygons)
}

trait ExteriorContains {
    fn exterior_contains(&self, c: Coord<f64>) -> bool;
}

impl ExteriorContains for Polygon<f64> {
    fn exterior_contains(&self, c: Coord<f64>) -> bool {
        Polygon::new(self.exterior().clone(), Vec::new()).contains(&Point(c))
    }
}

/// Twice the signed area of a closed ring (positive when counter-clockwise).
fn ring_signed_area(ring: &LineString<f64>) -> f64 {
    Polygon::new(ring.clone(), Vec::new()).signed_area()
}

/// Shared border lengths between items (each made of polygons) whose neighbours share
/// their edges exactly (welded vertices): for each item, its neighbours and the length of
/// border shared with each. An edge held by more than two items counts for none.
pub fn shared_borders<'a, I>(items: impl IntoIterator<Item = I>) -> Vec<BTreeMap<usize, f64>>
where
    I: IntoIterator<Item = &'a Polygon<f64>>,
{
    // Ordered, so that lengths are summed in the same order on every run.
    let mut owners: BTreeMap<(Key, Key), (Vec<usize>, f64)> = BTreeMap::new();
    let mut count = 0;
    for (i, polygons) in items.into_iter().enumerate() {
        count = i + 1;
        for p in polygons {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                for line in ring.lines() {
                    let (a, b) = (key(line.start), key(line.end));
                    let k = if a < b { (a, b) } else { (b, a) };
                    let d = line.end - line.start;
                    owners.entry(k).or_insert_with(|| (Vec::new(), d.x.hypot(d.y))).0.push(i);
                }
            }
        }
    }
    let mut neighbours = vec![BTreeMap::new(); count];
    for (list, length) in owners.into_values() {
        if let [a, b] = list[..]
            && a != b
        {
            *neighbours[a].entry(b).or_insert(0.0) += length;
            *neighbours[b].entry(a).or_insert(0.0) += length;
        }
    }
    neighbours
}

/// Snaps vertices that lie within a tolerance of one another onto one canonical copy.
///
/// Canonical copies are the first seen, so feeding the exact vertices (lattice corners,
/// an outline's own vertices) first makes every near copy collapse onto them.
#[derive(Debug)]
pub struct Welder {
    tolerance: f64,
    cells: HashMap<(i64, i64), Vec<Coord<f64>>>,
}

impl Welder {
    /// A welder that merges vertices closer than `tolerance` (same unit as the coordinates).
    pub fn new(tolerance: f64) -> Welder {
        Welder { tolerance, cells: HashMap::new() }
    }

    fn cell(&self, c: Coord<f64>) -> (i64, i64) {
        ((c.x / self.tolerance).floor() as i64, (c.y / self.tolerance).floor() as i64)
    }

    /// The canonical copy of `c`: an earlier vertex within the tolerance, or `c` itself,
    /// which becomes canonical.
    pub fn weld(&mut self, c: Coord<f64>) -> Coord<f64> {
        if let Some(hit) = self.find(c) {
            return hit;
        }
        self.cells.entry(self.cell(c)).or_default().push(c);
        c
    }

    /// The canonical vertex within the tolerance of `c`, if there is one.
    pub fn find(&self, c: Coord<f64>) -> Option<Coord<f64>> {
        let (cx, cy) = self.cell(c);
        let t2 = self.tolerance * self.tolerance;
        (-1..=1)
            .flat_map(|dx| (-1..=1).map(move |dy| (cx + dx, cy + dy)))
            .filter_map(|k| self.cells.get(&k))
            .flatten()
            .find(|k| (k.x - c.x).powi(2) + (k.y - c.y).powi(2) <= t2)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, polygon};

    fn square(x: f64, y: f64) -> Polygon<f64> {
        polygon![(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0)]
    }

    #[test]
    fn two_squares_become_one_rectangle() {
        let u = dissolve(&[square(0.0, 0.0), square(1.0, 0.0)]);
        assert_eq!(u.0.len(), 1);
        assert_eq!(u.unsigned_area(), 2.0);
        assert_eq!(u.0[0].exterior().0.len(), 7); // 6 vertices kept (no simplification) + closing
    }

    #[test]
    fn a_ring_of_squares_keeps_its_hole() {
        let mut squares = Vec::new();
        for x in 0..3 {
            for y in 0..3 {
                if (x, y) != (1, 1) {
                    squares.push(square(f64::from(x), f64::from(y)));
                }
            }
        }
        let u = dissolve(&squares);
        assert_eq!(u.0.len(), 1);
        assert_eq!(u.0[0].interiors().len(), 1);
        assert_eq!(u.unsigned_area(), 8.0);
    }

    #[test]
    fn squares_touching_at_a_corner_stay_apart() {
        let u = dissolve(&[square(0.0, 0.0), square(1.0, 1.0)]);
        assert_eq!(u.0.len(), 2);
        assert_eq!(u.unsigned_area(), 2.0);
        for p in &u.0 {
            assert_eq!(p.exterior().0.len(), 5);
        }
    }

    #[test]
    fn a_hole_touching_its_shell_at_a_point_stays_a_valid_hole() {
        use geo::Validation;
        // 3 × 3 squares without the centre and one corner: the hole meets the outside at a point.
        for shift in [0.0, -10.0] {
            let mut squares = Vec::new();
            for x in 0..3 {
                for y in 0..3 {
                    if (x, y) != (1, 1) && (x, y) != (2, 2) {
                        squares.push(square(f64::from(x) + shift, f64::from(y) + shift));
                    }
                }
            }
            for rotation in 0..squares.len() {
                squares.rotate_left(1);
                let u = dissolve(&squares);
                assert!(u.is_valid(), "shift {shift}, rotation {rotation}: {:?}", u.validation_errors());
                assert_eq!(u.unsigned_area(), 7.0);
            }
        }
    }

    #[test]
    fn clockwise_input_is_handled() {
        let mut a = square(0.0, 0.0);
        a.exterior_mut(|r| r.0.reverse());
        let u = dissolve(&[a, square(0.0, 1.0)]);
        assert_eq!(u.0.len(), 1);
        assert_eq!(u.unsigned_area(), 2.0);
    }

    #[test]
    fn welding_collapses_near_copies_onto_the_first() {
        let mut w = Welder::new(1e-3);
        let a = w.weld(Coord { x: 10.0, y: 10.0 });
        let b = w.weld(Coord { x: 10.0004, y: 9.9996 });
        let c = w.weld(Coord { x: 10.01, y: 10.0 });
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

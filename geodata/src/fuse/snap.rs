//! Snapping one layer's edges onto another's, in metres.
//!
//! Two bureaus that drew the same street a few metres apart leave a thin sliver between
//! their grids. Snapping moves each vertex of the layer being fused onto the nearest
//! vertex of the reference within the tolerance (or, failing that, onto the nearest point
//! of a reference edge), then threads into each of its edges the reference vertices that
//! lie within the tolerance of it, so that an edge running alongside a reference edge
//! follows it vertex for vertex. The repair of the result (in [`super::clean`]) removes
//! the spikes and folds snapping can leave where an edge crosses the reference.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rstar::primitives::Line as Segment;
use rstar::{AABB, RTree};

/// The vertices and edges that another layer is snapped onto.
pub(crate) struct Reference {
    points: RTree<[f64; 2]>,
    segments: RTree<Segment<[f64; 2]>>,
}

impl Reference {
    /// The vertices and edges of these polygons.
    pub(crate) fn of<'a>(polygons: impl IntoIterator<Item = &'a Polygon<f64>>) -> Reference {
        let mut points = Vec::new();
        let mut segments = Vec::new();
        for p in polygons {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                for line in ring.lines() {
                    if line.start != line.end {
                        points.push([line.start.x, line.start.y]);
                        segments.push(Segment::new([line.start.x, line.start.y], [line.end.x, line.end.y]));
                    }
                }
            }
        }
        // Shared vertices come once per ring that holds them; the tree does not mind.
        Reference { points: RTree::bulk_load(points), segments: RTree::bulk_load(segments) }
    }

    /// Where `c` snaps to: the nearest reference vertex within `tol`, else the nearest
    /// point on a reference edge within `tol`, else `c` itself.
    fn snap_vertex(&self, c: Coord<f64>, tol: f64) -> Coord<f64> {
        let q = [c.x, c.y];
        let t2 = tol * tol;
        if let Some(p) = self.points.nearest_neighbor(&q)
            && dist2(*p, q) <= t2
        {
            return Coord { x: p[0], y: p[1] };
        }
        if let Some(s) = self.segments.nearest_neighbor(&q) {
            let p = s.nearest_point(&q);
            if dist2(p, q) <= t2 {
                return Coord { x: p[0], y: p[1] };
            }
        }
        c
    }

    /// The reference vertices within `tol` of the inside of the edge a–b, from a to b.
    fn vertices_along(&self, a: Coord<f64>, b: Coord<f64>, tol: f64) -> Vec<Coord<f64>> {
        points_along(&self.points, a, b, tol)
    }

    /// Snaps every ring of a geometry; returns it and how many vertices moved.
    pub(crate) fn snap(&self, geometry: &MultiPolygon<f64>, tol: f64) -> (MultiPolygon<f64>, usize) {
        let mut moved = 0;
        let mut ring = |ls: &LineString<f64>| -> LineString<f64> {
            let open = &ls.0[..ls.0.len().saturating_sub(1)];
            let snapped: Vec<Coord<f64>> = open
                .iter()
                .map(|&c| {
                    let s = self.snap_vertex(c, tol);
                    moved += usize::from(s != c);
                    s
                })
                .collect();
            let mut out: Vec<Coord<f64>> = Vec::with_capacity(snapped.len() * 2);
            for (i, &a) in snapped.iter().enumerate() {
                let b = snapped[(i + 1) % snapped.len()];
                out.push(a);
                out.extend(self.vertices_along(a, b, tol));
            }
            out.dedup();
            while out.len() > 1 && out.first() == out.last() {
                out.pop();
            }
            if let Some(&first) = out.first() {
                out.push(first);
            }
            LineString(out)
        };
        let polygons = geometry
            .0
            .iter()
            .map(|p| Polygon::new(ring(p.exterior()), p.interiors().iter().map(&mut ring).collect()))
            .collect();
        (MultiPolygon(polygons), moved)
    }
}

/// The points of `tree` within `tol` of the inside of the edge a–b (not its ends), in
/// order from a to b.
pub(crate) fn points_along(tree: &RTree<[f64; 2]>, a: Coord<f64>, b: Coord<f64>, tol: f64) -> Vec<Coord<f64>> {
    let d = b - a;
    let len2 = d.x * d.x + d.y * d.y;
    if len2 == 0.0 {
        return Vec::new();
    }
    let envelope =
        AABB::from_corners([a.x.min(b.x) - tol, a.y.min(b.y) - tol], [a.x.max(b.x) + tol, a.y.max(b.y) + tol]);
    let mut found: Vec<(f64, Coord<f64>)> = tree
        .locate_in_envelope(&envelope)
        .map(|p| Coord { x: p[0], y: p[1] })
        .filter(|&p| p != a && p != b)
        .filter_map(|p| {
            let t = ((p.x - a.x) * d.x + (p.y - a.y) * d.y) / len2;
            let foot = a + d * t;
            (t > 0.0 && t < 1.0 && (foot.x - p.x).hypot(foot.y - p.y) <= tol).then_some((t, p))
        })
        .collect();
    found.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.x.total_cmp(&y.1.x)).then(x.1.y.total_cmp(&y.1.y)));
    found.dedup_by(|x, y| x.1 == y.1);
    found.into_iter().map(|(_, p)| p).collect()
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn an_edge_three_metres_off_follows_the_reference() {
        let base =
            polygon![(x: 0.0, y: 0.0), (x: 50.0, y: 0.0), (x: 100.0, y: 0.0), (x: 100.0, y: 100.0), (x: 0.0, y: 100.0)];
        let reference = Reference::of([&base]);
        // Drawn 3 m south of the base's south edge, with its own vertices.
        let other = MultiPolygon(vec![
            polygon![(x: -2.0, y: -3.0), (x: 101.0, y: -3.0), (x: 101.0, y: -80.0), (x: -2.0, y: -80.0)],
        ]);
        let (snapped, moved) = reference.snap(&other, 5.0);
        assert_eq!(moved, 2);
        let ring: Vec<(f64, f64)> = snapped.0[0].exterior().coords().map(|c| (c.x, c.y)).collect();
        // The two northern corners land on the base's corners and pick up its middle vertex.
        assert!(ring.contains(&(0.0, 0.0)) && ring.contains(&(100.0, 0.0)) && ring.contains(&(50.0, 0.0)), "{ring:?}");
        assert!(ring.contains(&(-2.0, -80.0)));
    }

    #[test]
    fn far_vertices_stay_where_they_are() {
        let base = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)];
        let reference = Reference::of([&base]);
        let other = MultiPolygon(vec![polygon![(x: 30.0, y: 30.0), (x: 40.0, y: 30.0), (x: 40.0, y: 40.0)]]);
        let (snapped, moved) = reference.snap(&other, 5.0);
        assert_eq!(moved, 0);
        assert_eq!(snapped, other);
    }
}

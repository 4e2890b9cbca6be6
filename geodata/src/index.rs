//! The point index: which grid a point lies in, and its five-level chain.
//!
//! Built once from a [`Layer`] ([`GridIndex::build`]) and then read concurrently. The
//! polygons of the grids are packed, four neighbours at a time, into tiles, and an R-tree
//! ([`rstar`]) indexes the tiles by their bounding boxes; a lookup asks the tree for the
//! tiles that hold the point, checks their polygons' boxes, and tests the few candidates
//! with an exact point-in-polygon test that reads only the edges at the point's height.
//! Lookups in a large layer are bound by cache misses, not arithmetic, and each of these
//! choices (tiles, integer edges, slabs) is there to save one.
//!
//! **Where a point on an edge belongs.** Grids and points are placed on an integer
//! lattice of 1/1024 m (about a millimetre; coarser only for layers over two thousand
//! kilometres across): every vertex and every query point is rounded to the nearest
//! lattice point, and from there every test is exact integer arithmetic, so two grids
//! that share an edge share it exactly and every point has exactly one answer. A point
//! whose lattice image lies strictly inside a grid belongs to it. One whose image lies on
//! a boundary shared by several grids — an edge or a corner — belongs to the one with
//! the **smallest code** among them, whatever the order of the data. That is always the
//! case for a vertex, and for a point on an edge that runs along a meridian or a parallel;
//! a point on a slanted edge has an image within half a millimetre of it, on the edge or
//! just to one side, and goes to the grid on that side. (Should grids overlap, which
//! validation forbids, a point inside several also goes to the smallest code.)
//!
//! **Snapping.** A point inside no grid but within the snapping tolerance (50 m by
//! default; a negative one counts as 0) of one is placed in the nearest grid, and the answer says so with its
//! distance; a point farther out is outside the service area. Distances are measured in
//! a local frame scaled at the point's own latitude, exact to well under a millimetre at
//! these distances.
//!
//! **Swapping.** [`SharedIndex`] holds the current index behind an `Arc`: readers take a
//! clone and keep using it while a rebuilt index is swapped in.

use std::ops::ControlFlow;
use std::sync::{Arc, PoisonError, RwLock};

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeParams};
use serde::Serialize;

use crate::code::{AreaCode, Level};
use crate::crs::{self, Crs};
use crate::model::Layer;
use crate::plane::LocalPlane;

/// The default snapping tolerance, in metres.
pub const DEFAULT_SNAP_TOLERANCE_M: f64 = 50.0;

/// How the index is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexOptions {
    /// How far (in metres) outside every grid a point may lie and still be placed in the nearest one.
    pub snap_tolerance_m: f64,
}

impl Default for IndexOptions {
    fn default() -> IndexOptions {
        IndexOptions { snap_tolerance_m: DEFAULT_SNAP_TOLERANCE_M }
    }
}

/// One unit in a grid's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// 1 (city) to 5 (grid).
    pub level: Level,
    /// The unit's code.
    pub code: AreaCode,
    /// The unit's name.
    pub name: String,
}

/// A grid as the index knows it: its code, name and chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GridInfo {
    /// The 15-digit grid code.
    pub code: AreaCode,
    /// The grid's name.
    pub name: String,
    /// The units from the top of the layer down to the grid itself (normally five).
    pub chain: Vec<ChainLink>,
}

/// Where a point was placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement<'a> {
    /// The grid.
    pub grid: &'a GridInfo,
    /// The grid's place among the index's grids (an index into [`GridIndex::grids`]), for
    /// callers that keep something per grid of one index, such as a ready answer.
    pub slot: usize,
    /// True when the point lay outside every grid and was moved to the nearest.
    pub snapped: bool,
    /// How far the point lay outside the grid, in metres (0 inside or on its edge).
    pub distance_m: f64,
}

/// Why a point could not be placed.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum LocateError {
    /// Not finite, or outside −180..180 / −90..90.
    #[error("coordinates must be finite, longitude within -180..180 and latitude within -90..90")]
    InvalidCoordinates,
    /// Farther than the snapping tolerance from every grid.
    #[error("the point is outside the service area{}", nearest_text(*.nearest_m))]
    OutsideServiceArea {
        /// How far the nearest grid is at least, in metres (its bounding box's distance),
        /// if there is any grid.
        nearest_m: Option<f64>,
    },
}

fn nearest_text(nearest_m: Option<f64>) -> String {
    nearest_m.map_or(String::new(), |d| format!(" (the nearest grid is at least {d:.0} m away)"))
}

/// The integer lattice the index works on: plane metres times a power of two.
///
/// Integer coordinates make every test exact and half the size of f64 ones; a lookup in
/// a large layer is bound by cache misses, so size is speed. The finest scale that keeps
/// every coordinate within ±2^30 is used (1/1024 m up to about a thousand kilometres from
/// the layer's centre), which also keeps orientation products within i64.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Lattice {
    per_metre: f64,
}

impl Lattice {
    const LIMIT: f64 = (1u64 << 30) as f64;

    fn for_extent(max_abs_m: f64) -> Lattice {
        let mut per_metre = 1024.0;
        while max_abs_m * per_metre >= Lattice::LIMIT && per_metre > 1e-6 {
            per_metre /= 2.0;
        }
        Lattice { per_metre }
    }

    /// The lattice point nearest to a plane point, or `None` outside the lattice's range.
    fn point(&self, x: f64, y: f64) -> Option<[i32; 2]> {
        let (qx, qy) = (x * self.per_metre, y * self.per_metre);
        // Round half away from zero with a truncating cast: one instruction, where
        // `f64::round` is a library call on baseline x86-64.
        // The bound is checked before rounding, a half below 2^30, so that the rounded
        // value stays strictly inside ±2^30.
        let round = |v: f64| (v + 0.5f64.copysign(v)) as i32;
        let limit = Lattice::LIMIT - 0.5;
        (qx.abs() < limit && qy.abs() < limit).then(|| [round(qx), round(qy)])
    }
}

/// One polygon of one grid: what the R-tree holds for it, besides its box.
///
/// Its edges are filed into horizontal slabs of equal height, so that a point-in-polygon
/// test reads only the few edges whose height range holds the point's. Every slab of a
/// part has room for the same number of edges (`width`, padded with [`NO_EDGE`]), so the
/// slab of a point is found by arithmetic alone and a lookup reads one short run of
/// memory beyond the tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PartRef {
    /// The first edge of the part in `GridIndex::edges`.
    start: u32,
    /// Index into `GridIndex::grids`; grids are sorted by code, so a smaller index is a smaller code.
    grid: u32,
    /// The bottom of the first slab, and the height of each.
    y0: i32,
    slab_height: i32,
    /// How many slabs (at most 64) and how many edge slots each has, packed as
    /// `slabs << 25 | width` to keep the part at 20 bytes: tiles of parts are scanned
    /// on every lookup, and every byte of them costs.
    shape: u32,
}

/// The most edge slots a slab may have (25 bits).
const MAX_WIDTH: usize = (1 << 25) - 1;

/// An edge on the lattice: start x, start y, end x, end y.
type Edge = [i32; 4];

/// Padding in a slab: a zero-length edge far below the lattice, which no test matches.
const NO_EDGE: Edge = [i32::MIN; 4];

/// A bounding box on the lattice: min x, min y, max x, max y.
type Bounds = [i32; 4];

fn holds(b: &Bounds, p: [i32; 2]) -> bool {
    b[0] <= p[0] && p[0] <= b[2] && b[1] <= p[1] && p[1] <= b[3]
}

fn overlaps(b: &Bounds, o: &Bounds) -> bool {
    b[0] <= o[2] && o[0] <= b[2] && b[1] <= o[3] && o[1] <= b[3]
}

/// How many parts a tile packs.
const TILE: usize = 4;

/// The R-tree's entry: a tile of up to [`TILE`] neighbouring parts, by its box and the
/// range of its parts in `GridIndex::parts`.
///
/// The tree indexes tiles rather than single parts so that it stays small enough to
/// live in the processor's cache (a lookup in a large layer is bound by cache misses);
/// a tile's part boxes are then scanned from one contiguous run.
type Entry = GeomWithData<Rectangle<[i32; 2]>, (u32, u32)>;

/// Where a point lies relative to a polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Inside,
    Boundary,
    Outside,
}

impl PartRef {
    fn slabs(&self) -> usize {
        (self.shape >> 25) as usize
    }

    fn width(&self) -> usize {
        (self.shape as usize) & MAX_WIDTH
    }

    /// The slab holding height `y`; a point below the part lands in slab 0, above it in the last.
    fn slab_of(&self, y: i32) -> usize {
        let s = (i64::from(y) - i64::from(self.y0)).max(0) / i64::from(self.slab_height);
        (s as usize).min(self.slabs() - 1)
    }

    /// Files the edges of one polygon into slabs, appending them to `arena`; returns the
    /// polygon's box and its reference, or `None` for a polygon with nothing left on the lattice.
    fn file(grid: u32, rings: &[Vec<[i32; 2]>], arena: &mut Vec<Edge>) -> Option<(Bounds, PartRef)> {
        let edges: Vec<Edge> = rings
            .iter()
            .flat_map(|r| r.windows(2).map(|w| [w[0][0], w[0][1], w[1][0], w[1][1]]))
            .filter(|e| (e[0], e[1]) != (e[2], e[3]))
            .collect();
        if edges.len() < 3 {
            return None;
        }
        let mut b = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];
        for e in &edges {
            b = [
                b[0].min(e[0]).min(e[2]),
                b[1].min(e[1]).min(e[3]),
                b[2].max(e[0]).max(e[2]),
                b[3].max(e[1]).max(e[3]),
            ];
        }
        let start = u32::try_from(arena.len()).ok()?;
        let height = i64::from(b[3]) - i64::from(b[1]) + 1;
        // The slab count that makes the widest slab narrowest, with at most half the
        // edges' room again spent on copies and padding.
        let mut best: Option<PartRef> = None;
        let mut counts = Vec::new();
        for slabs in [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64].into_iter().filter(|&n| n <= edges.len()) {
            let Ok(slab_height) = i32::try_from((height + slabs as i64 - 1) / slabs as i64) else { continue };
            let part = PartRef { start, grid, y0: b[1], slab_height, shape: (slabs as u32) << 25 };
            counts.clear();
            counts.resize(slabs, 0usize);
            for e in &edges {
                for c in &mut counts[part.slab_of(e[1].min(e[3]))..=part.slab_of(e[1].max(e[3]))] {
                    *c += 1;
                }
            }
            let width = counts.iter().copied().max().unwrap_or(0);
            if slabs > 1 && slabs * width > edges.len() * 5 / 4 + 4 {
                continue;
            }
            if width <= MAX_WIDTH && best.is_none_or(|p| width < p.width()) {
                best = Some(PartRef { shape: part.shape | width as u32, ..part });
            }
        }
        let part = best?;
        let width = part.width();
        arena.resize(arena.len() + part.slabs() * width, NO_EDGE);
        let mut filled = vec![0usize; part.slabs()];
        for e in &edges {
            for s in part.slab_of(e[1].min(e[3]))..=part.slab_of(e[1].max(e[3])) {
                arena[start as usize + s * width + filled[s]] = *e;
                filled[s] += 1;
            }
        }
        Some((b, part))
    }

    /// Crossing-number test with exact integer orientation; the boundary is detected exactly.
    fn position(&self, arena: &[Edge], p: [i32; 2]) -> Position {
        let width = self.width();
        let first = self.start as usize + self.slab_of(p[1]) * width;
        let mut inside = false;
        for &[ax, ay, bx, by] in &arena[first..first + width] {
            if (ax == p[0] && ay == p[1]) || (bx == p[0] && by == p[1]) {
                return Position::Boundary;
            }
            if ay == p[1] && by == p[1] {
                if (ax.min(bx)..=ax.max(bx)).contains(&p[0]) {
                    return Position::Boundary;
                }
                continue;
            }
            // Half-open rule: an edge counts when p.y lies in [low, high).
            if (ay <= p[1]) != (by <= p[1]) {
                let (ax, ay, bx, by) = (i64::from(ax), i64::from(ay), i64::from(bx), i64::from(by));
                let (px, py) = (i64::from(p[0]), i64::from(p[1]));
                let o = (bx - ax) * (py - ay) - (by - ay) * (px - ax);
                if o == 0 {
                    return Position::Boundary;
                }
                if (o > 0) == (by > ay) {
                    inside = !inside;
                }
            }
        }
        if inside { Position::Inside } else { Position::Outside }
    }

    /// The squared distance from `p` to the polygon's boundary, in lattice units with the
    /// axes stretched by `scale` (a frame true at the point's own latitude), or infinity
    /// if no edge lies within `reach` of `p`'s height: only the slabs there are read.
    fn boundary_distance_2(&self, arena: &[Edge], p: [i32; 2], reach: i32, (sx, sy): (f64, f64)) -> f64 {
        let (px, py) = (f64::from(p[0]), f64::from(p[1]));
        let width = self.width();
        let (low, high) = (self.slab_of(p[1].saturating_sub(reach)), self.slab_of(p[1].saturating_add(reach)));
        let slots = &arena[self.start as usize + low * width..self.start as usize + (high + 1) * width];
        let mut best = f64::INFINITY;
        for e in slots.iter().filter(|e| **e != NO_EDGE) {
            let (ax, ay) = ((f64::from(e[0]) - px) * sx, (f64::from(e[1]) - py) * sy);
            let (bx, by) = ((f64::from(e[2]) - px) * sx, (f64::from(e[3]) - py) * sy);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 { (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let (qx, qy) = (ax + t * dx, ay + t * dy);
            best = best.min(qx * qx + qy * qy);
        }
        best
    }
}

/// R-tree node sizes: nodes of at most 9 measured fastest on the 20,000-grid benchmark
/// (rstar's default is 6; 16 was slower).
#[derive(Debug)]
struct Params;

impl RTreeParams for Params {
    const MIN_SIZE: usize = NODE / 3;
    const MAX_SIZE: usize = NODE;
    const REINSERTION_COUNT: usize = NODE / 3;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}
const NODE: usize = 9;

/// The point index over one grid layer.
#[derive(Debug)]
pub struct GridIndex {
    tree: RTree<Entry, Params>,
    /// Every part with its box, tile after tile.
    parts: Vec<(Bounds, PartRef)>,
    /// Every part's slabs of edges, one part after another.
    edges: Vec<Edge>,
    grids: Vec<GridInfo>,
    /// Grids none of whose polygons could be indexed (each thinner than the lattice).
    unindexed: Vec<AreaCode>,
    plane: LocalPlane,
    /// The layer's bounding box in plane metres.
    bounds_m: [f64; 4],
    lattice: Lattice,
    options: IndexOptions,
}

impl GridIndex {
    /// Builds the index over the grids of `layer` (level 5), each with its chain as the
    /// layer holds it. Units of other levels only contribute their names to the chains.
    pub fn build(layer: &Layer, options: IndexOptions) -> GridIndex {
        // A tolerance that is not a distance (negative, NaN) snaps nothing.
        let tolerance = options.snap_tolerance_m;
        let options = IndexOptions { snap_tolerance_m: if tolerance >= 0.0 { tolerance } else { 0.0 } };
        let plane = layer.bounds().map_or(LocalPlane::centred_at(0.0, 0.0), LocalPlane::for_bounds);
        let extent = layer.bounds().map_or(0.0, |b| {
            let (lo, hi) = (plane.forward(b.min().x, b.min().y), plane.forward(b.max().x, b.max().y));
            lo.x.abs().max(lo.y.abs()).max(hi.x.abs()).max(hi.y.abs())
        });
        // Points up to the snapping tolerance beyond the layer must be on the lattice too.
        let lattice = Lattice::for_extent(extent + 2.0 * options.snap_tolerance_m.min(1e6) + 1.0);
        let mut grids = Vec::new();
        let mut edges = Vec::new();
        let mut filed = Vec::new();
        let mut unindexed = Vec::new();
        for grid in layer.grids() {
            let id = u32::try_from(grids.len()).unwrap_or(u32::MAX);
            let before = filed.len();
            grids.push(GridInfo {
                code: grid.code.clone(),
                name: grid.name.clone(),
                chain: layer
                    .chain(&grid.code)
                    .into_iter()
                    .map(|u| ChainLink { level: u.level(), code: u.code.clone(), name: u.name.clone() })
                    .collect(),
            });
            for polygon in &grid.geometry.0 {
                let rings: Option<Vec<Vec<[i32; 2]>>> = std::iter::once(polygon.exterior())
                    .chain(polygon.interiors())
                    .map(|ring| {
                        ring.coords()
                            .map(|c| {
                                let m = plane.forward(c.x, c.y);
                                lattice.point(m.x, m.y)
                            })
                            .collect()
                    })
                    .collect();
                if let Some(rings) = rings {
                    filed.extend(PartRef::file(id, &rings, &mut edges));
                }
            }
            if filed.len() == before {
                unindexed.push(grid.code.clone());
            }
        }
        let (tree, parts) = tile(filed);
        let bounds_m = layer.bounds().map_or([0.0; 4], |b| {
            let (lo, hi) = (plane.forward(b.min().x, b.min().y), plane.forward(b.max().x, b.max().y));
            [lo.x, lo.y, hi.x, hi.y]
        });
        GridIndex { tree, parts, edges, grids, unindexed, plane, bounds_m, lattice, options }
    }

    /// How many grids the index holds.
    pub fn len(&self) -> usize {
        self.grids.len()
    }

    /// Whether the index holds no grid.
    pub fn is_empty(&self) -> bool {
        self.grids.is_empty()
    }

    /// The grids, in code order.
    pub fn grids(&self) -> &[GridInfo] {
        &self.grids
    }

    /// The grid with this code.
    pub fn grid(&self, code: &AreaCode) -> Option<&GridInfo> {
        self.grids.binary_search_by(|g| g.code.cmp(code)).ok().map(|i| &self.grids[i])
    }

    /// Grids that no point can be placed in: every polygon of theirs collapsed on the
    /// lattice (thinner than a millimetre). Validation lets such slivers through only as
    /// parts of larger grids, so a non-empty list deserves a look.
    pub fn unindexed(&self) -> &[AreaCode] {
        &self.unindexed
    }

    /// The options the index was built with.
    pub fn options(&self) -> IndexOptions {
        self.options
    }

    /// Places a WGS-84 point in its grid (see the module docs for edges and snapping).
    pub fn locate(&self, lon: f64, lat: f64) -> Result<Placement<'_>, LocateError> {
        if !crate::crs::is_position(lon, lat) {
            return Err(LocateError::InvalidCoordinates);
        }
        let m = self.plane.forward(lon, lat);
        let Some(p) = self.lattice.point(m.x, m.y) else {
            return Err(self.beyond_lattice(m, lat));
        };
        let mut best: Option<(u32, Position)> = None;
        // Internal iteration: rstar walks the tree recursively, without an iterator's stack.
        let _ = self.tree.locate_all_at_point_int(&p, |tile| {
            for (bounds, part) in &self.parts[tile.data.0 as usize..tile.data.1 as usize] {
                if !holds(bounds, p) {
                    continue;
                }
                let pos = part.position(&self.edges, p);
                // Inside beats boundary; among equals the smaller code (index) wins.
                let better = match (pos, best) {
                    (Position::Outside, _) => false,
                    (_, None) => true,
                    (_, Some((g, Position::Boundary))) => pos == Position::Inside || part.grid < g,
                    (_, Some((g, _))) => pos == Position::Inside && part.grid < g,
                };
                if better {
                    best = Some((part.grid, pos));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if let Some((g, _)) = best {
            return Ok(Placement { grid: &self.grids[g as usize], slot: g as usize, snapped: false, distance_m: 0.0 });
        }
        self.snap(lat, p)
    }

    /// The answer for a point beyond the lattice's range: far outside, with the layer's
    /// bounding box giving a lower bound for the distance.
    #[cold]
    fn beyond_lattice(&self, m: geo::Coord<f64>, lat: f64) -> LocateError {
        let b = self.bounds_m;
        let gap = |v: f64, lo: f64, hi: f64| (lo - v).max(0.0).max(v - hi);
        let (sx, sy) = self.plane.scale_at(lat);
        let nearest = gap(m.x, b[0], b[2]).hypot(gap(m.y, b[1], b[3])) * sx.min(sy);
        LocateError::OutsideServiceArea { nearest_m: (!self.grids.is_empty()).then_some(nearest) }
    }

    /// Converts a point given in `crs` to WGS-84 and places it.
    pub fn locate_in(&self, crs: Crs, lon: f64, lat: f64) -> Result<Placement<'_>, LocateError> {
        if !crate::crs::is_position(lon, lat) {
            return Err(LocateError::InvalidCoordinates);
        }
        let (lon, lat) = crs::to_wgs84(crs, lon, lat);
        self.locate(lon, lat)
    }

    fn snap(&self, lat: f64, p: [i32; 2]) -> Result<Placement<'_>, LocateError> {
        // The plane's scale is exact only at its centre; a frame stretched to the point's
        // own latitude measures the few metres to a grid to well under a millimetre (on
        // top of the lattice's half millimetre). The tree is asked for the boxes within the
        // tolerance, widened for that stretch; each candidate's boundary is then measured.
        let tolerance = self.options.snap_tolerance_m;
        let (sx, sy) = self.plane.scale_at(lat);
        let unit = 1.0 / self.lattice.per_metre;
        let scale = (sx * unit, sy * unit);
        let reach =
            (tolerance / sx.min(sy) * 1.001 * self.lattice.per_metre).ceil().clamp(0.0, f64::from(i32::MAX / 4)) as i32;
        let area = AABB::from_corners(
            [p[0].saturating_sub(reach), p[1].saturating_sub(reach)],
            [p[0].saturating_add(reach), p[1].saturating_add(reach)],
        );
        let mut nearest: Option<(u32, f64)> = None;
        let square = [area.lower()[0], area.lower()[1], area.upper()[0], area.upper()[1]];
        let _ = self.tree.locate_in_envelope_intersecting_int(&area, |tile| {
            for (bounds, part) in &self.parts[tile.data.0 as usize..tile.data.1 as usize] {
                if !overlaps(bounds, &square) {
                    continue;
                }
                let d = part.boundary_distance_2(&self.edges, p, reach, scale).sqrt();
                if nearest.is_none_or(|(g, best)| d < best || (d == best && part.grid < g)) {
                    nearest = Some((part.grid, d));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        match nearest {
            Some((g, d)) if d <= tolerance => {
                Ok(Placement { grid: &self.grids[g as usize], slot: g as usize, snapped: true, distance_m: d })
            }
            _ => {
                let nearest_m = self.distance_beyond(p, reach).map(|d| (d * unit * sx.min(sy)).max(tolerance));
                Err(LocateError::OutsideServiceArea { nearest_m })
            }
        }
    }

    /// A lower bound, in lattice units, for the distance from `p` to the nearest grid,
    /// known to be beyond `reach`: two squares of growing size are searched for boxes, and
    /// past them the layer's own box gives the bound. (A bound is enough for a message, and
    /// far cheaper than the exact distance.)
    fn distance_beyond(&self, p: [i32; 2], reach: i32) -> Option<f64> {
        let gap = |v: i32, a: i32, b: i32| (i64::from(a) - i64::from(v)).max(0).max(i64::from(v) - i64::from(b)) as f64;
        let box_distance = |lo: [i32; 2], hi: [i32; 2]| gap(p[0], lo[0], hi[0]).hypot(gap(p[1], lo[1], hi[1]));
        for r in [i64::from(reach.max(1)) * 4, i64::from(reach.max(1)) * 64] {
            let ri = i32::try_from(r).unwrap_or(i32::MAX);
            let area = AABB::from_corners(
                [p[0].saturating_sub(ri), p[1].saturating_sub(ri)],
                [p[0].saturating_add(ri), p[1].saturating_add(ri)],
            );
            let mut found = f64::INFINITY;
            let _ = self.tree.locate_in_envelope_intersecting_int(&area, |entry| {
                found = found.min(box_distance(entry.geom().lower(), entry.geom().upper()));
                ControlFlow::<()>::Continue(())
            });
            if found.is_finite() {
                // A box outside the square is farther than `r`; one inside may not be nearest.
                return Some(found.min(r as f64));
            }
        }
        let all = self.tree.root().envelope();
        (self.tree.size() > 0).then(|| box_distance(all.lower(), all.upper()).max(f64::from(reach) * 64.0))
    }
}

/// Packs parts into tiles of neighbours (sort-tile-recursive: vertical strips by x, then
/// runs by y within each strip) and builds the R-tree over the tiles.
fn tile(mut filed: Vec<(Bounds, PartRef)>) -> (RTree<Entry, Params>, Vec<(Bounds, PartRef)>) {
    let centre = |b: &Bounds| (i64::from(b[0]) + i64::from(b[2]), i64::from(b[1]) + i64::from(b[3]));
    filed.sort_by_key(|(b, _)| centre(b).0);
    let tiles = filed.len().div_ceil(TILE);
    let strips = (tiles as f64).sqrt().ceil().max(1.0) as usize;
    let per_strip = (tiles.div_ceil(strips) * TILE).max(1);
    for strip in filed.chunks_mut(per_strip) {
        strip.sort_by_key(|(b, _)| centre(b).1);
    }
    let mut entries = Vec::with_capacity(tiles);
    let mut parts = Vec::with_capacity(filed.len());
    for strip in filed.chunks(per_strip) {
        for chunk in strip.chunks(TILE) {
            let start = parts.len() as u32;
            let mut t = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];
            for (b, part) in chunk {
                t = [t[0].min(b[0]), t[1].min(b[1]), t[2].max(b[2]), t[3].max(b[3])];
                parts.push((*b, *part));
            }
            let range = (start, parts.len() as u32);
            entries.push(Entry::new(Rectangle::from_corners([t[0], t[1]], [t[2], t[3]]), range));
        }
    }
    (RTree::bulk_load_with_params(entries), parts)
}

/// The current index, swappable while readers keep reading.
#[derive(Debug)]
pub struct SharedIndex {
    current: RwLock<Arc<GridIndex>>,
}

impl SharedIndex {
    /// Starts with `index` as the current one.
    pub fn new(index: GridIndex) -> SharedIndex {
        SharedIndex { current: RwLock::new(Arc::new(index)) }
    }

    /// The current index. The lock is held only for the clone of an `Arc`, so a reader
    /// never waits for a rebuild, and keeps the index it took until it drops it.
    pub fn current(&self) -> Arc<GridIndex> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes `index` the current one and returns the one it replaces.
    pub fn replace(&self, index: GridIndex) -> Arc<GridIndex> {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *guard, Arc::new(index))
    }
}

//! Fusing grid layers (三网融合) into one all-element grid layer (全要素网格).
//!
//! Counties inherit grid layers drawn by different bureaus that overlap and disagree by
//! metres. [`fuse`] makes one partition of the communities from them, as docs/domain.md
//! describes, working in metres in the [`LocalPlane`] of the communities:
//! 1. every source grid is repaired if invalid (reported), and snapped: the base's edges
//!    onto the communities', the other layers' onto the communities' and the base's
//!    ([`snap`]); where grids of one layer overlap, the one listed first keeps the overlap;
//! 2. each community is cut into pieces: the base's grids clipped to it, then what the
//!    base leaves uncovered, cut by the other layers' grids in layer order, then the
//!    rest;
//! 3. the pieces' vertices are welded and threaded into each other's edges, so that
//!    neighbours share their borders exactly ([`crate::topo`]);
//! 4. pieces below the minimum area or width merge, smallest first, into the neighbour
//!    in the same community with which they share the longest border; what is left are
//!    the fused grids;
//! 5. each fused grid's lineage is measured against every source grid it touches;
//! 6. grids are numbered west to east, north to south within their community, keeping
//!    the code of every grid that a previous fusion made at least 90 % the same.
//!
//! Everything is a pure function of its input: the same input gives the same output,
//! bit for bit.

mod number;
mod report;
mod snap;
mod source;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use geo::{Area, BooleanOps, BoundingRect, Buffer, Coord, LineString, MultiPolygon, Polygon, Rect, Validation};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

pub use report::{FuseReport, LayerSummary, SourceProblem};
pub use source::{read_source_layer, write_source_layer};

use crate::code::{AreaCode, Level};
use crate::model::{Layer, SourceShare, Unit, union};
use crate::plane::LocalPlane;
use crate::topo::{Welder, dissolve, shared_borders};
use snap::Reference;

/// One grid of a source layer, with its boundary in WGS-84 degrees.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceGrid {
    /// The grid's id in its layer's own scheme.
    pub id: String,
    /// The grid's name.
    pub name: String,
    /// The boundary, which may be invalid (fusion repairs it and says so).
    pub geometry: MultiPolygon<f64>,
}

/// A grid layer drawn by one bureau, e.g. the 综治, 应急 or 城管 grids.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLayer {
    /// The layer's name, as lineage will cite it.
    pub name: String,
    /// The grids. Where two overlap, the one listed first keeps the overlap.
    pub grids: Vec<SourceGrid>,
}

/// What a fusion works from.
#[derive(Debug, Clone, Copy)]
pub struct FuseInput<'a> {
    /// The communities (level 4), and optionally the units above them, which the fused
    /// layer carries over. Grids in it are ignored.
    pub communities: &'a Layer,
    /// The base layer, normally the 综治 grids.
    pub base: &'a SourceLayer,
    /// The other layers, in order of precedence where they fill the base's gaps.
    pub others: &'a [SourceLayer],
    /// A layer fused before, whose codes are kept for grids that barely changed.
    pub previous: Option<&'a Layer>,
}

/// The tolerances of a fusion, all in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FuseOptions {
    /// Vertices of another layer within this distance of the reference's edges are snapped
    /// onto them.
    pub snap_m: f64,
    /// Pieces smaller than this (m²) merge into a neighbour.
    pub min_area_m2: f64,
    /// Pieces in which no disc of this diameter fits merge into a neighbour.
    pub min_width_m: f64,
}

impl Default for FuseOptions {
    fn default() -> FuseOptions {
        FuseOptions { snap_m: 5.0, min_area_m2: 10_000.0, min_width_m: 20.0 }
    }
}

/// The stages of a fusion, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Repairing and snapping the source grids (counts grids).
    Snapping,
    /// Cutting the communities into pieces (counts communities).
    Overlay,
    /// Merging slivers (counts communities).
    Merging,
    /// Measuring lineage (counts fused grids).
    Lineage,
    /// Numbering (counts communities).
    Numbering,
}

impl Stage {
    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Snapping => "snapping",
            Stage::Overlay => "cutting",
            Stage::Merging => "merging",
            Stage::Lineage => "lineage",
            Stage::Numbering => "numbering",
        }
    }
}

/// Why a fusion could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FuseError {
    /// The communities layer holds no community.
    #[error("the communities hold no community (a unit with a 12-digit code)")]
    NoCommunities,
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Options(&'static str),
    /// Two source layers have the same name, so lineage could not tell them apart.
    #[error("two source layers are both called {0:?}")]
    DuplicateLayerName(String),
    /// A community would need more grids than a three-digit sequence can number.
    #[error("community {0} would need more than 999 grids")]
    TooManyGrids(AreaCode),
}

/// A fused layer and what fusion did to make it.
#[derive(Debug, Clone)]
pub struct Fused {
    /// The communities' units and the fused grids, with their lineage.
    pub layer: Layer,
    /// What fusion did.
    pub report: FuseReport,
}

/// Bounding boxes of geometries, each tagged with the geometry's position in its list.
type BoxTree = RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>;

/// A previous fused layer's grids in metres, by community, with their sequence numbers.
type Previous = BTreeMap<AreaCode, Vec<(u32, MultiPolygon<f64>)>>;

/// Below this area (m²) a piece is arithmetic noise.
const NOISE_M2: f64 = 1e-6;
/// Vertices closer than this (m) are one.
const WELD_M: f64 = 1e-3;
/// Overlaps below this (m²) are not reported.
const OVERLAP_M2: f64 = 1.0;
/// Lineage shares below this fraction of a fused grid are noise.
const SHARE_NOISE: f64 = 1e-9;

/// A source grid in metres.
struct Source {
    id: String,
    /// Repaired, not snapped, minus earlier grids of its layer: what lineage measures.
    own: MultiPolygon<f64>,
    own_area: f64,
    /// Repaired, snapped, minus earlier grids of its layer: what the communities are cut by.
    snapped: MultiPolygon<f64>,
}

/// Where a piece came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Base,
    /// Uncovered by the base, taken from another layer.
    LayerGap,
    /// Uncovered by every layer.
    BareGap,
}

/// A piece of a community, and then a fused grid made of pieces.
struct Piece {
    community: usize,
    polygons: Vec<Polygon<f64>>,
    area: f64,
    origin: Origin,
    /// Whether no disc of the minimum width fits, once known.
    narrow: Option<bool>,
}

/// Fuses the source layers into one grid layer over the communities.
pub fn fuse(
    input: &FuseInput<'_>,
    options: &FuseOptions,
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<Fused, FuseError> {
    let finite_non_negative = |x: f64| x.is_finite() && x >= 0.0;
    if !finite_non_negative(options.snap_m)
        || !finite_non_negative(options.min_area_m2)
        || !finite_non_negative(options.min_width_m)
    {
        return Err(FuseError::Options("distances and areas must be finite and not negative"));
    }
    let layers: Vec<&SourceLayer> = std::iter::once(input.base).chain(input.others).collect();
    let mut names = BTreeSet::new();
    for l in &layers {
        if !names.insert(l.name.as_str()) {
            return Err(FuseError::DuplicateLayerName(l.name.clone()));
        }
    }
    let communities: Vec<&Unit> = input.communities.at_level(Level::Community).collect();
    let bounds = communities.iter().filter_map(|c| c.bounds()).reduce(union).ok_or(FuseError::NoCommunities)?;
    let plane = LocalPlane::for_bounds(bounds);

    // Community vertices keep their exact degrees in the output.
    let mut exact: HashMap<(u64, u64), Coord<f64>> = HashMap::new();
    let community_m: Vec<MultiPolygon<f64>> = communities.iter().map(|c| plane.project(&c.geometry)).collect();
    for (c, m) in communities.iter().zip(&community_m) {
        for (d, m) in c.geometry.0.iter().flat_map(rings).zip(m.0.iter().flat_map(rings)) {
            for (d, m) in d.0.iter().zip(&m.0) {
                exact.insert((m.x.to_bits(), m.y.to_bits()), *d);
            }
        }
    }
    let community_tree = bbox_tree(community_m.iter());

    let mut report = FuseReport { communities: communities.len(), ..FuseReport::default() };
    let total_grids: usize = layers.iter().map(|l| l.grids.len()).sum();
    let mut done = 0;
    let mut reference = Reference::of(community_m.iter().flat_map(|m| &m.0));
    let mut sources: Vec<Vec<Source>> = Vec::with_capacity(layers.len());
    for (li, layer) in layers.iter().enumerate() {
        let mut summary = LayerSummary {
            name: layer.name.clone(),
            base: li == 0,
            grids_in: layer.grids.len(),
            ..LayerSummary::default()
        };
        let mut raw = Vec::with_capacity(layer.grids.len());
        let mut snapped = Vec::with_capacity(layer.grids.len());
        let mut ids = Vec::with_capacity(layer.grids.len());
        for grid in &layer.grids {
            done += 1;
            progress(Stage::Snapping, done, total_grids);
            let mut m = plane.project(&grid.geometry);
            if let Some(error) = m.validation_errors().into_iter().next() {
                m = clean(&m);
                summary.repaired.push(grid.id.clone());
                report.problems.push(SourceProblem {
                    layer: layer.name.clone(),
                    grid: grid.id.clone(),
                    detail: format!("invalid geometry ({error}); repaired, {:.0} m² kept", m.unsigned_area()),
                });
            }
            if m.unsigned_area() <= NOISE_M2 {
                summary.dropped.push(grid.id.clone());
                continue;
            }
            let (s, moved) = reference.snap(&m, options.snap_m);
            summary.vertices_snapped += moved;
            snapped.push(if moved > 0 { solid(clean(&s)) } else { s });
            raw.push(m);
            ids.push(grid.id.clone());
        }
        let (own, overlaps) = resolve_overlaps(&raw);
        summary.overlaps_resolved = overlaps.len();
        summary.overlap_area_m2 = overlaps.iter().sum();
        let (snapped, _) = resolve_overlaps(&snapped);
        if li == 0 {
            // The other layers snap onto the base as well as the communities.
            reference = Reference::of(community_m.iter().flat_map(|m| &m.0).chain(snapped.iter().flat_map(|m| &m.0)));
        }
        let mut layer_sources = Vec::with_capacity(ids.len());
        for ((id, own), snapped) in ids.into_iter().zip(own).zip(snapped) {
            let parts = community_tree
                .locate_in_envelope_intersecting(&envelope(&own))
                .filter(|e| {
                    let a = own.intersection(&community_m[e.data]).unsigned_area();
                    a >= OVERLAP_M2 && a >= 0.01 * own.unsigned_area()
                })
                .count();
            if parts >= 2 {
                summary.split_across_communities.push(id.clone());
            }
            let own_area = own.unsigned_area();
            if own_area <= NOISE_M2 {
                summary.dropped.push(id);
                continue;
            }
            layer_sources.push(Source { id, own, own_area, snapped });
        }
        report.overlaps_resolved += summary.overlaps_resolved;
        report.split_across_communities += summary.split_across_communities.len();
        report.layers.push(summary);
        sources.push(layer_sources);
    }

    let trees: Vec<BoxTree> = sources.iter().map(|layer| bbox_tree(layer.iter().map(|s| &s.snapped))).collect();
    let own_trees: Vec<BoxTree> = sources.iter().map(|layer| bbox_tree(layer.iter().map(|s| &s.own))).collect();
    let mut pieces = Vec::new();
    for (ci, community) in community_m.iter().enumerate() {
        progress(Stage::Overlay, ci + 1, community_m.len());
        cut_community(ci, community, &sources, &trees, &mut pieces);
    }

    weld_and_thread(&mut pieces, &community_m);
    let neighbours = shared_borders(pieces.iter().map(|p| p.polygons.iter()));
    let mut by_community: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in pieces.iter().enumerate() {
        by_community.entry(p.community).or_default().push(i);
    }
    let mut neighbours: Vec<BTreeMap<usize, f64>> = neighbours
        .into_iter()
        .enumerate()
        .map(|(i, n)| n.into_iter().filter(|(j, _)| pieces[*j].community == pieces[i].community).collect())
        .collect();
    for (k, members) in by_community.values().enumerate() {
        progress(Stage::Merging, k + 1, by_community.len());
        report.slivers_merged += merge_slivers(members, &mut pieces, &mut neighbours, options);
    }

    // The fused grids, in metres, by community.
    let mut grids: BTreeMap<usize, Vec<MultiPolygon<f64>>> = BTreeMap::new();
    // Whether each is narrow, where merging already found out.
    let mut known_narrow: BTreeMap<usize, Vec<Option<bool>>> = BTreeMap::new();
    // Rounding residue that found no neighbour to merge into is dropped (it is under a
    // square metre), unless it is all its community has.
    let mut alive: BTreeMap<usize, usize> = BTreeMap::new();
    for p in pieces.iter().filter(|p| !p.polygons.is_empty()) {
        *alive.entry(p.community).or_default() += 1;
    }
    let survivors: Vec<usize> = (0..pieces.len())
        .filter(|&i| !pieces[i].polygons.is_empty())
        .filter(|&i| pieces[i].area >= OVERLAP_M2 || alive[&pieces[i].community] == 1)
        .collect();
    for &i in &survivors {
        let p = &pieces[i];
        if p.origin != Origin::Base {
            report.gaps_filled += 1;
            report.gap_area_m2 += p.area;
            report.gaps_filled_from_layers += usize::from(p.origin == Origin::LayerGap);
        }
        grids.entry(p.community).or_default().push(dissolve(&p.polygons));
        known_narrow.entry(p.community).or_default().push(p.narrow);
    }

    let previous = input.previous.map(|l| previous_grids(l, &plane));
    let mut units: Vec<Unit> = input.communities.units().filter(|u| u.level() != Level::Grid).cloned().collect();
    let mut lineage = Vec::new();
    let mut kept = 0;
    let total: usize = grids.values().map(Vec::len).sum();
    let mut measured = 0;
    for (k, (ci, members)) in grids.iter().enumerate() {
        let community = communities[*ci];
        let numbers = number::assign(&community.code, &community_m[*ci], members, previous.as_ref())?;
        progress(Stage::Numbering, k + 1, grids.len());
        // Filled beside `grids`, so it holds one entry per grid of every community there.
        let known = &known_narrow[ci];
        for ((geometry, (seq, was_kept)), known) in members.iter().zip(numbers).zip(known) {
            measured += 1;
            progress(Stage::Lineage, measured, total);
            kept += usize::from(was_kept);
            let code = community.code.child(seq).ok_or_else(|| FuseError::TooManyGrids(community.code.clone()))?;
            let area = geometry.unsigned_area();
            if area < options.min_area_m2 || known.unwrap_or_else(|| narrow(geometry, options.min_width_m)) {
                report.below_minimum_kept.push(code.to_string());
            }
            lineage.push((code.clone(), shares(geometry, area, &layers, &sources, &own_trees)));
            let geometry = to_degrees(geometry, &plane, &exact);
            units.push(Unit { code, name: format!("{}第{}网格", community.name, seq), geometry });
        }
    }
    report.grids_out = total;
    if input.previous.is_some() {
        report.codes_kept = Some(kept);
        report.codes_new = Some(total - kept);
    }
    // Codes are unique by construction: one sequence per community.
    let layer = Layer::from_units(units)
        .map_err(|e| FuseError::TooManyGrids(e.0.parent().unwrap_or(e.0)))?
        .with_lineage(lineage);
    Ok(Fused { layer, report })
}

/// A geometry made valid: crossing rings untangled by the non-zero rule, spikes and
/// zero-area parts removed.
fn clean(geometry: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    geometry.union_with_fill_rule(&MultiPolygon::new(Vec::new()), geo::bool_ops::FillRule::NonZero)
}

fn envelope(geometry: &MultiPolygon<f64>) -> AABB<[f64; 2]> {
    match geometry.bounding_rect() {
        Some(r) => AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
        None => AABB::from_point([f64::NAN, f64::NAN]),
    }
}

/// An R-tree of the bounding boxes of geometries, each tagged with its position.
fn bbox_tree<'a>(geometries: impl Iterator<Item = &'a MultiPolygon<f64>>) -> BoxTree {
    RTree::bulk_load(
        geometries
            .enumerate()
            .filter_map(|(i, g)| {
                let r: Rect<f64> = g.bounding_rect()?;
                Some(GeomWithData::new(Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]), i))
            })
            .collect(),
    )
}

/// Candidates from a tree in a fixed order (the tree's own order is not part of its contract).
fn candidates(tree: &BoxTree, around: &MultiPolygon<f64>) -> Vec<usize> {
    let mut found: Vec<usize> = tree.locate_in_envelope_intersecting(&envelope(around)).map(|e| e.data).collect();
    found.sort_unstable();
    found
}

/// A result of a boolean operation split into its solid parts and its rounding residue:
/// parts thinner on average than the weld distance (twice the area over the perimeter).
/// Fed back into further operations, the residue only troubles them, so it is kept apart.
fn split_residue(geometry: MultiPolygon<f64>) -> (MultiPolygon<f64>, Vec<Polygon<f64>>) {
    let (solid, residue) = geometry.0.into_iter().partition(|p| {
        let area = p.unsigned_area();
        let perimeter: f64 = rings(p).flat_map(|r| r.lines()).map(|l| l.dx().hypot(l.dy())).sum();
        2.0 * area > WELD_M * perimeter
    });
    (MultiPolygon(solid), residue)
}

/// A geometry without its rounding residue (see [`split_residue`]).
fn solid(geometry: MultiPolygon<f64>) -> MultiPolygon<f64> {
    split_residue(geometry).0
}

/// Each geometry minus the ones before it that it overlaps, and the overlapped areas
/// (those of a square metre or more).
fn resolve_overlaps(geometries: &[MultiPolygon<f64>]) -> (Vec<MultiPolygon<f64>>, Vec<f64>) {
    let tree = bbox_tree(geometries.iter());
    let mut overlaps = Vec::new();
    let out = geometries
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let earlier: Vec<&MultiPolygon<f64>> =
                candidates(&tree, g).into_iter().filter(|&j| j < i).map(|j| &geometries[j]).collect();
            if earlier.is_empty() {
                return g.clone();
            }
            let covered = earlier.into_iter().fold(MultiPolygon::new(Vec::new()), |acc, e| acc.union(e));
            let lost = g.intersection(&covered).unsigned_area();
            if lost <= NOISE_M2 {
                return g.clone();
            }
            if lost >= OVERLAP_M2 {
                overlaps.push(lost);
            }
            g.difference(&covered)
        })
        .collect();
    (out, overlaps)
}

/// A boolean operation of the overlay library, or `None` where it gives up on a
/// degenerate input by panicking (seen in i_overlay 4.5 on random lattices: an internal
/// assertion, `is_fill_top`). The fusion then leaves that piece out rather than stop:
/// what it would have covered stays uncovered and goes to the next layer or the gap.
fn overlay(op: impl FnOnce() -> MultiPolygon<f64>) -> Option<MultiPolygon<f64>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(op)).ok()
}

/// Cuts one community into pieces: the base's grids, then what they leave uncovered by
/// the other layers' grids in order, then the rest.
fn cut_community(
    ci: usize,
    community: &MultiPolygon<f64>,
    sources: &[Vec<Source>],
    trees: &[BoxTree],
    pieces: &mut Vec<Piece>,
) {
    let mut push = |polygons: Vec<Polygon<f64>>, origin: Origin| {
        for polygon in polygons {
            let area = polygon.unsigned_area();
            if area > NOISE_M2 {
                pieces.push(Piece { community: ci, polygons: vec![polygon], area, origin, narrow: None });
            }
        }
    };
    // Residue is kept as pieces of its own: welding closes it or merging absorbs it, so no
    // area is lost, but it never goes into another operation.
    let cut = |geometry: MultiPolygon<f64>, push: &mut dyn FnMut(Vec<Polygon<f64>>, Origin)| {
        let (solid, residue) = split_residue(geometry);
        push(residue, Origin::BareGap);
        solid
    };
    // The base's grids no longer overlap (see `resolve_overlaps`), so each part is taken
    // whole; subtracting them one by one from the community leaves what they do not cover.
    let mut uncovered = community.clone();
    for s in candidates(&trees[0], community) {
        // A part's residue stays in `uncovered`, which hands it over below.
        let part = solid(sources[0][s].snapped.intersection(community));
        if part.unsigned_area() <= NOISE_M2 {
            continue;
        }
        // A part the overlay cannot subtract stays uncovered: the next layer, or the bare
        // gap, takes its area (see `overlay`).
        let Some(rest) = overlay(|| uncovered.difference(&part)) else { continue };
        uncovered = cut(rest, &mut push);
        push(part.0, Origin::Base);
    }
    for (layer, tree) in sources.iter().zip(trees).skip(1) {
        for s in candidates(tree, &uncovered) {
            if uncovered.unsigned_area() <= NOISE_M2 {
                break;
            }
            let part = solid(layer[s].snapped.intersection(&uncovered));
            if part.unsigned_area() <= NOISE_M2 {
                continue;
            }
            let Some(rest) = overlay(|| uncovered.difference(&part)) else { continue };
            uncovered = cut(rest, &mut push);
            push(part.0, Origin::LayerGap);
        }
    }
    push(uncovered.0, Origin::BareGap);
}

/// Welds the pieces' vertices (community vertices first, so they stay exact) and threads
/// every vertex into the edges that pass within the weld distance of it, so that two
/// neighbouring pieces share their border edge for edge.
fn weld_and_thread(pieces: &mut Vec<Piece>, communities: &[MultiPolygon<f64>]) {
    let mut welder = Welder::new(WELD_M);
    let mut canonical: BTreeSet<(u64, u64)> = BTreeSet::new();
    for c in communities.iter().flat_map(|m| m.0.iter()).flat_map(rings).flat_map(|r| r.0.iter()) {
        let w = welder.weld(*c);
        canonical.insert((w.x.to_bits(), w.y.to_bits()));
    }
    for piece in pieces.iter_mut() {
        for polygon in &mut piece.polygons {
            let mut weld = |ls: &LineString<f64>| -> LineString<f64> {
                ls.coords()
                    .map(|c| {
                        let w = welder.weld(*c);
                        canonical.insert((w.x.to_bits(), w.y.to_bits()));
                        w
                    })
                    .collect()
            };
            *polygon = Polygon::new(weld(polygon.exterior()), polygon.interiors().iter().map(&mut weld).collect());
        }
    }
    let points: RTree<[f64; 2]> =
        RTree::bulk_load(canonical.iter().map(|(x, y)| [f64::from_bits(*x), f64::from_bits(*y)]).collect());
    let thread = |ls: &LineString<f64>| -> LineString<f64> {
        let mut out: Vec<Coord<f64>> = Vec::with_capacity(ls.0.len());
        for line in ls.lines() {
            out.push(line.start);
            out.extend(snap::points_along(&points, line.start, line.end, WELD_M));
        }
        if let Some(&first) = ls.0.first() {
            out.push(first);
        }
        out.dedup();
        LineString(out)
    };
    let mut cleaned = Vec::with_capacity(pieces.len());
    for piece in pieces.drain(..) {
        let threaded: Vec<Polygon<f64>> = piece
            .polygons
            .iter()
            .map(|p| Polygon::new(thread(p.exterior()), p.interiors().iter().map(thread).collect()))
            .collect();
        // Welding can pinch a piece or fold a spike back on itself; cancelling the edges
        // it then holds twice leaves sound rings, possibly several.
        for polygon in dissolve(&threaded).0 {
            let area = polygon.unsigned_area();
            if area > NOISE_M2 {
                cleaned.push(Piece { polygons: vec![polygon], area, narrow: None, ..piece });
            }
        }
    }
    *pieces = cleaned;
}

fn rings(p: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(p.exterior()).chain(p.interiors())
}

/// Whether no disc of diameter `width` fits in the geometry.
fn narrow(geometry: &MultiPolygon<f64>, width: f64) -> bool {
    width > 0.0 && geometry.buffer(-width / 2.0).unsigned_area() <= NOISE_M2
}

/// Merges the community's pieces that are below the minimum, smallest first, into the
/// neighbour with which each shares the longest border. Returns how many of a square
/// metre or more merged.
fn merge_slivers(
    members: &[usize],
    pieces: &mut [Piece],
    neighbours: &mut [BTreeMap<usize, f64>],
    options: &FuseOptions,
) -> usize {
    let mut merged = 0;
    loop {
        let mut smallest: Option<usize> = None;
        for &i in members {
            if pieces[i].polygons.is_empty() || neighbours[i].is_empty() {
                continue;
            }
            if smallest.is_some_and(|s| pieces[s].area <= pieces[i].area) {
                continue;
            }
            let below = pieces[i].area < options.min_area_m2 || {
                let p = &mut pieces[i];
                *p.narrow.get_or_insert_with(|| narrow(&dissolve(&p.polygons), options.min_width_m))
            };
            if below {
                smallest = Some(i);
            }
        }
        let Some(s) = smallest else { return merged };
        let Some(t) = neighbours[s].iter().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0))).map(|(&n, _)| n) else {
            return merged;
        };
        // Rounding residue merges too, but is not worth counting as a sliver.
        merged += usize::from(pieces[s].area >= OVERLAP_M2);
        let moved = std::mem::take(&mut pieces[s].polygons);
        pieces[t].polygons.extend(moved);
        pieces[t].area += pieces[s].area;
        pieces[t].narrow = None;
        for (n, len) in std::mem::take(&mut neighbours[s]) {
            neighbours[n].remove(&s);
            if n != t {
                *neighbours[t].entry(n).or_insert(0.0) += len;
                *neighbours[n].entry(t).or_insert(0.0) += len;
            }
        }
    }
}

/// The lineage of one fused grid: every source grid it overlaps, layer by layer.
fn shares(
    grid: &MultiPolygon<f64>,
    area: f64,
    layers: &[&SourceLayer],
    sources: &[Vec<Source>],
    trees: &[BoxTree],
) -> Vec<SourceShare> {
    let mut out = Vec::new();
    for ((layer, grids), tree) in layers.iter().zip(sources).zip(trees) {
        let mut found: Vec<SourceShare> = candidates(tree, grid)
            .into_iter()
            .filter_map(|s| {
                let source = &grids[s];
                let common = grid.intersection(&source.own).unsigned_area();
                (common > SHARE_NOISE * area).then(|| SourceShare {
                    layer: layer.name.clone(),
                    source: source.id.clone(),
                    // Rounding can take a share a hair past 1.
                    of_grid: (common / area).min(1.0),
                    of_source: (common / source.own_area).min(1.0),
                })
            })
            .collect();
        found.sort_by(|a, b| b.of_grid.total_cmp(&a.of_grid).then_with(|| a.source.cmp(&b.source)));
        out.extend(found);
    }
    out
}

/// A previous fused layer's grids in metres, by community.
fn previous_grids(layer: &Layer, plane: &LocalPlane) -> Previous {
    let mut out = Previous::new();
    for grid in layer.grids() {
        if let (Some(community), Some(seq)) = (grid.parent(), grid.code.sequence()) {
            out.entry(community).or_default().push((seq, plane.project(&grid.geometry)));
        }
    }
    out
}

/// A geometry from metres back to degrees, community vertices exactly as they were.
fn to_degrees(
    geometry: &MultiPolygon<f64>,
    plane: &LocalPlane,
    exact: &HashMap<(u64, u64), Coord<f64>>,
) -> MultiPolygon<f64> {
    geo::MapCoords::map_coords(geometry, |c| {
        exact.get(&(c.x.to_bits(), c.y.to_bits())).copied().unwrap_or_else(|| plane.inverse(c))
    })
}

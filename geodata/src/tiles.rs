//! Map tiles cut from a layer: the outlines of the units and grids that reach into one
//! Web-Mercator tile (the `z/x/y` scheme every web map uses), in the tile's own
//! coordinates, clipped to it and simplified to what the zoom can show.
//!
//! A map of a whole city must not download every grid: 20,000 grids are megabytes of
//! GeoJSON. A tile holds only what one 256-pixel square shows — at low zoom the outlines
//! of townships and communities, at high zoom every grid — so a screen costs the same at
//! any scale. Which levels a zoom shows follows from the units' own sizes: a level is
//! drawn once its typical unit spans [`MIN_PX`] pixels, and labelled from [`LABEL_PX`].

use geo::{BoundingRect, InteriorPoint, LineString, Simplify};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::code::{AreaCode, Level};
use crate::model::Layer;

/// Coordinates per tile side: a tile drawn 256 pixels wide keeps half-pixel precision.
pub const EXTENT: i32 = 512;
/// How far beyond the tile's edges a clipped outline runs, so that the cut edges lie
/// outside what is drawn.
pub const BUFFER: i32 = 16;
/// The deepest zoom served (a grid of 100 m is then thousands of pixels wide).
pub const MAX_ZOOM: u8 = 20;
/// A level is drawn once its typical unit is this many pixels across.
pub const MIN_PX: f64 = 24.0;
/// A level is labelled once its typical unit is this many pixels across.
pub const LABEL_PX: f64 = 72.0;
/// Pixels per tile side, as maps draw them.
const TILE_PX: f64 = 256.0;

/// One tile's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    /// Zoom: the world is 2^z tiles wide.
    pub z: u8,
    /// Column, from the antimeridian eastwards.
    pub x: u32,
    /// Row, from the north.
    pub y: u32,
}

/// A tile address that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// Zoom beyond [`MAX_ZOOM`].
    #[error("zoom {0} is beyond the deepest served, {MAX_ZOOM}")]
    Zoom(u8),
    /// Column or row outside the world at that zoom.
    #[error("tile {x}/{y} does not exist at zoom {z}: both must be below {n}", n = 1u64 << z)]
    Outside {
        /// Zoom.
        z: u8,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
    },
}

impl TileId {
    /// A tile address, checked.
    pub fn new(z: u8, x: u32, y: u32) -> Result<TileId, TileError> {
        if z > MAX_ZOOM {
            return Err(TileError::Zoom(z));
        }
        let n = 1u64 << z;
        if u64::from(x) >= n || u64::from(y) >= n {
            return Err(TileError::Outside { z, x, y });
        }
        Ok(TileId { z, x, y })
    }

    /// Tiles per world side at this zoom.
    fn scale(self) -> f64 {
        f64::from(1u32 << self.z)
    }

    /// A world point (see [`mercator`]) in this tile's coordinates, 0..[`EXTENT`] inside.
    fn local(self, [wx, wy]: [f64; 2]) -> [f64; 2] {
        let s = self.scale();
        [(wx * s - f64::from(self.x)) * f64::from(EXTENT), (wy * s - f64::from(self.y)) * f64::from(EXTENT)]
    }

    /// The tile's square in world coordinates, grown by `buffer` tile units on each side.
    fn world_box(self, buffer: i32) -> AABB<[f64; 2]> {
        let s = self.scale();
        let pad = f64::from(buffer) / f64::from(EXTENT);
        let (x0, y0) = ((f64::from(self.x) - pad) / s, (f64::from(self.y) - pad) / s);
        let (x1, y1) = ((f64::from(self.x) + 1.0 + pad) / s, (f64::from(self.y) + 1.0 + pad) / s);
        AABB::from_corners([x0, y0], [x1, y1])
    }
}

/// A WGS-84 point in Web-Mercator world coordinates: 0..1 from west to east and from
/// north to south (latitudes are cut at ±85.05°, as every web map does).
pub fn mercator(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    [x, y]
}

/// One unit's outline as a tile carries it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Feature {
    /// The unit's code.
    pub code: String,
    /// The unit's name.
    pub name: String,
    /// Its level, 1 (city) to 5 (grid).
    pub level: u8,
    /// Its rings in tile coordinates, each closed (first point repeated last).
    pub rings: Vec<Vec<[i32; 2]>>,
    /// Where its label goes, when this zoom labels its level and the point lies in the
    /// tile itself (so that a label is drawn by one tile only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<[i32; 2]>,
}

/// What one tile shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tile {
    /// Coordinates per tile side ([`EXTENT`]).
    pub extent: i32,
    /// The levels this zoom draws, top down.
    pub levels: Vec<u8>,
    /// The outlines, top level first, then by code.
    pub features: Vec<Feature>,
}

/// The boxes of one level's units, each with the unit's place in [`Tiler::units`].
type BoxTree = RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>;
/// A unit's box in world coordinates and its place in [`Tiler::units`].
type Boxed = (AABB<[f64; 2]>, usize);

/// One level of a layer as the tiler keeps it.
#[derive(Debug)]
struct LevelIndex {
    level: Level,
    /// Its typical unit's size in world units.
    typical: f64,
    tree: BoxTree,
}

/// A unit made ready for cutting: its rings in world coordinates.
#[derive(Debug)]
struct Prepared {
    code: AreaCode,
    name: String,
    level: Level,
    rings: Vec<Vec<[f64; 2]>>,
    label: [f64; 2],
    /// The label's point in WGS-84 `[lon, lat]`.
    anchor: [f64; 2],
}

/// A layer made ready for cutting tiles: every outline projected once, and an R-tree
/// of outlines per level. Build it when a layer is loaded; cut tiles from it on demand.
#[derive(Debug)]
pub struct Tiler {
    units: Vec<Prepared>,
    /// Per level present, top down.
    levels: Vec<LevelIndex>,
    /// Each unit's place in `units`, by code.
    by_code: std::collections::HashMap<AreaCode, usize>,
}

impl Tiler {
    /// Projects every unit of `layer` and indexes them by level.
    pub fn new(layer: &Layer) -> Tiler {
        let mut units = Vec::new();
        let mut by_level: Vec<(Level, Vec<Boxed>)> = Vec::new();
        for unit in layer.units() {
            let (Some(bounds), Some(inside)) = (unit.geometry.bounding_rect(), unit.geometry.interior_point()) else {
                continue;
            };
            let rings: Vec<Vec<[f64; 2]>> = unit
                .geometry
                .iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .map(|ring| ring.coords().map(|c| mercator(c.x, c.y)).collect())
                .collect();
            let (a, b) = (mercator(bounds.min().x, bounds.max().y), mercator(bounds.max().x, bounds.min().y));
            let level = unit.level();
            let i = units.len();
            units.push(Prepared {
                code: unit.code.clone(),
                name: unit.name.clone(),
                level,
                rings,
                label: mercator(inside.x(), inside.y()),
                anchor: [inside.x(), inside.y()],
            });
            match by_level.iter_mut().find(|(l, _)| *l == level) {
                Some((_, boxes)) => boxes.push((AABB::from_corners(a, b), i)),
                None => by_level.push((level, vec![(AABB::from_corners(a, b), i)])),
            }
        }
        by_level.sort_by_key(|(level, _)| level.number());
        let levels = by_level
            .into_iter()
            .map(|(level, boxes)| {
                let mut sizes: Vec<f64> = boxes
                    .iter()
                    .map(|(b, _)| {
                        let (lo, hi) = (b.lower(), b.upper());
                        ((hi[0] - lo[0]) * (hi[1] - lo[1])).sqrt()
                    })
                    .collect();
                sizes.sort_by(f64::total_cmp);
                let typical = sizes.get(sizes.len() / 2).copied().unwrap_or(0.0);
                let tree = RTree::bulk_load(
                    boxes
                        .into_iter()
                        .map(|(b, i)| GeomWithData::new(Rectangle::from_corners(b.lower(), b.upper()), i))
                        .collect(),
                );
                LevelIndex { level, typical, tree }
            })
            .collect();
        let by_code = units.iter().enumerate().map(|(i, u)| (u.code.clone(), i)).collect();
        Tiler { units, levels, by_code }
    }

    /// A unit's name and the point inside it where its label (or a marker standing for
    /// it) goes, WGS-84 `[lon, lat]`.
    pub fn anchor(&self, code: &AreaCode) -> Option<(&str, [f64; 2])> {
        self.by_code.get(code).map(|&i| (self.units[i].name.as_str(), self.units[i].anchor))
    }

    /// The deepest level whose typical unit spans at least `px` pixels at zoom `z` (a map
    /// groups what it shows by units of that size); the top level when none does.
    pub fn level_spanning(&self, z: u8, px: f64) -> Option<Level> {
        let world_px = TILE_PX * f64::from(1u32 << z.min(MAX_ZOOM));
        let wide = self.levels.iter().rfind(|index| index.typical * world_px >= px);
        wide.or(self.levels.first()).map(|index| index.level)
    }

    /// The levels drawn at zoom `z`, and of those the ones labelled: a level once its
    /// typical unit spans [`MIN_PX`] (labels from [`LABEL_PX`]); the top level is always
    /// drawn, so that a map zoomed out still shows the whole area's outline.
    pub fn levels_at(&self, z: u8) -> Vec<(Level, bool)> {
        let world_px = TILE_PX * f64::from(1u32 << z.min(MAX_ZOOM));
        self.levels
            .iter()
            .enumerate()
            .filter_map(|(i, index)| {
                let px = index.typical * world_px;
                (i == 0 || px >= MIN_PX).then_some((index.level, px >= LABEL_PX))
            })
            .collect()
    }

    /// The tile `id`: every unit of a drawn level whose outline reaches into it, clipped
    /// and simplified; only units inside `within` (that unit and those below it) when given.
    pub fn tile(&self, id: TileId, within: Option<&AreaCode>) -> Tile {
        let shown = self.levels_at(id.z);
        let area = id.world_box(BUFFER);
        let clip = [-f64::from(BUFFER), f64::from(EXTENT + BUFFER)];
        let mut features = Vec::new();
        for index in &self.levels {
            let Some(&(_, labelled)) = shown.iter().find(|(l, _)| *l == index.level) else { continue };
            let mut hits: Vec<usize> = index.tree.locate_in_envelope_intersecting(&area).map(|g| g.data).collect();
            hits.sort_unstable();
            for i in hits {
                let unit = &self.units[i];
                if within.is_some_and(|w| !w.contains(&unit.code)) {
                    continue;
                }
                let rings: Vec<Vec<[i32; 2]>> = unit
                    .rings
                    .iter()
                    .filter_map(|ring| {
                        let local: Vec<[f64; 2]> = ring.iter().map(|p| id.local(*p)).collect();
                        cut(&local, clip)
                    })
                    .collect();
                if rings.is_empty() {
                    continue;
                }
                let label = id.local(unit.label);
                let in_tile =
                    (0.0..f64::from(EXTENT)).contains(&label[0]) && (0.0..f64::from(EXTENT)).contains(&label[1]);
                features.push(Feature {
                    code: unit.code.to_string(),
                    name: unit.name.clone(),
                    level: unit.level.number(),
                    rings,
                    label: (labelled && in_tile).then(|| [label[0].round() as i32, label[1].round() as i32]),
                });
            }
        }
        Tile { extent: EXTENT, levels: shown.iter().map(|(l, _)| l.number()).collect(), features }
    }
}

/// A ring in tile coordinates, clipped to the square `lo..hi` on both axes, simplified to
/// half a tile unit and rounded; `None` when nothing of it is left.
fn cut(ring: &[[f64; 2]], [lo, hi]: [f64; 2]) -> Option<Vec<[i32; 2]>> {
    let mut points = ring.to_vec();
    // Sutherland–Hodgman against each of the four sides. A concave ring may come out with
    // edges running along the square's border; those lie in the buffer, outside the tile.
    for (axis, keep_above, edge) in [(0, true, lo), (0, false, hi), (1, true, lo), (1, false, hi)] {
        let inside = |p: &[f64; 2]| if keep_above { p[axis] >= edge } else { p[axis] <= edge };
        let mut out = Vec::with_capacity(points.len());
        for (i, current) in points.iter().enumerate() {
            let previous = &points[(i + points.len() - 1) % points.len()];
            let crossing = || {
                let t = (edge - previous[axis]) / (current[axis] - previous[axis]);
                let mut p =
                    [previous[0] + t * (current[0] - previous[0]), previous[1] + t * (current[1] - previous[1])];
                p[axis] = edge;
                p
            };
            match (inside(previous), inside(current)) {
                (true, true) => out.push(*current),
                (true, false) => out.push(crossing()),
                (false, true) => {
                    out.push(crossing());
                    out.push(*current);
                }
                (false, false) => {}
            }
        }
        points = out;
        if points.is_empty() {
            return None;
        }
    }
    let line: LineString<f64> = points.iter().map(|&[x, y]| (x, y)).collect();
    let mut rounded: Vec<[i32; 2]> = Vec::with_capacity(line.0.len() + 1);
    for c in line.simplify(0.5).coords() {
        let p = [c.x.round() as i32, c.y.round() as i32];
        if rounded.last() != Some(&p) {
            rounded.push(p);
        }
    }
    if rounded.first() != rounded.last()
        && let Some(&first) = rounded.first()
    {
        rounded.push(first);
    }
    // A ring of fewer than three distinct points draws nothing at this zoom.
    (rounded.len() >= 4).then_some(rounded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    #[test]
    fn a_tile_address_outside_the_world_is_refused() {
        assert!(TileId::new(0, 0, 0).is_ok());
        assert_eq!(TileId::new(1, 2, 0), Err(TileError::Outside { z: 1, x: 2, y: 0 }));
        assert_eq!(TileId::new(MAX_ZOOM + 1, 0, 0), Err(TileError::Zoom(MAX_ZOOM + 1)));
    }

    #[test]
    fn mercator_puts_the_origin_in_the_middle_and_north_at_the_top() {
        assert_eq!(mercator(0.0, 0.0), [0.5, 0.5]);
        let [x, y] = mercator(118.3, 33.96);
        assert!((0.5..1.0).contains(&x) && (0.0..0.5).contains(&y), "{x} {y}");
    }

    #[test]
    fn a_ring_inside_the_square_is_kept_whole_and_one_outside_is_dropped() {
        let inner = cut(&square(10.0, 10.0, 100.0, 50.0), [0.0, 512.0]).unwrap();
        assert_eq!(inner, vec![[10, 10], [100, 10], [100, 50], [10, 50], [10, 10]]);
        assert_eq!(cut(&square(600.0, 600.0, 700.0, 700.0), [0.0, 512.0]), None);
    }

    #[test]
    fn a_ring_larger_than_the_square_is_cut_to_it() {
        let cut = cut(&square(-1000.0, -1000.0, 2000.0, 2000.0), [-16.0, 528.0]).unwrap();
        for p in &cut {
            assert!(p.iter().all(|v| (-16..=528).contains(v)), "{cut:?}");
        }
        assert_eq!(cut.len(), 5, "{cut:?}");
    }

    #[test]
    fn a_ring_smaller_than_a_pixel_is_dropped_and_collinear_points_go() {
        assert_eq!(cut(&square(10.0, 10.0, 10.2, 10.2), [0.0, 512.0]), None);
        let with_midpoints = vec![[0.0, 0.0], [50.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0], [0.0, 0.0]];
        assert_eq!(cut(&with_midpoints, [-16.0, 528.0]).unwrap().len(), 5);
    }

    #[test]
    fn zooming_in_shows_deeper_levels_and_the_grids_only_close_up() {
        let layer = synth::lattice(&synth::LatticeSpec::default()).unwrap();
        let tiler = Tiler::new(&layer);
        let deepest = |z| tiler.levels_at(z).iter().map(|(l, _)| l.number()).max().unwrap();
        assert!(deepest(6) < 5, "{:?}", tiler.levels_at(6));
        assert_eq!(deepest(17), 5, "{:?}", tiler.levels_at(17));
        // The top level is always there.
        assert!(!tiler.levels_at(0).is_empty());
    }

    #[test]
    fn markers_group_by_ever_smaller_units_as_the_map_zooms_in() {
        let layer = synth::lattice(&synth::LatticeSpec::default()).unwrap();
        let tiler = Tiler::new(&layer);
        let grouping = |z| tiler.level_spanning(z, 96.0).unwrap().number();
        // Zoomed all the way out nothing spans 96 px: the top level stands for everything.
        assert_eq!(grouping(0), tiler.levels_at(0)[0].0.number());
        assert!(
            grouping(8) <= grouping(12) && grouping(12) <= grouping(19),
            "{} {} {}",
            grouping(8),
            grouping(12),
            grouping(19)
        );
        assert_eq!(grouping(19), 5);
        // A unit's anchor lies inside it, and carries its name.
        let grid = layer.grids().next().unwrap();
        let (name, [lon, lat]) = tiler.anchor(&grid.code).unwrap();
        assert_eq!(name, grid.name);
        assert!(geo::Contains::contains(&grid.geometry, &geo::Point::new(lon, lat)));
        assert!(tiler.anchor(&AreaCode::parse("110101").unwrap()).is_none());
    }

    #[test]
    fn a_tile_holds_the_grids_that_reach_into_it_and_labels_each_once() {
        let layer = synth::lattice(&synth::LatticeSpec::default()).unwrap();
        let tiler = Tiler::new(&layer);
        let grid = layer.grids().next().unwrap();
        let inside = grid.geometry.interior_point().unwrap();
        let z = 17;
        let [wx, wy] = mercator(inside.x(), inside.y());
        let n = f64::from(1u32 << z);
        let id = TileId::new(z, (wx * n) as u32, (wy * n) as u32).unwrap();
        let tile = tiler.tile(id, None);
        assert!(tile.features.iter().any(|f| f.code == grid.code.as_str() && f.level == 5), "{:?}", tile.levels);
        // Only inside the area asked for: another county's code leaves nothing.
        let elsewhere = AreaCode::parse("110101").unwrap();
        assert!(tiler.tile(id, Some(&elsewhere)).features.is_empty());
        // Across the tiles around the point, every label is drawn by exactly one tile.
        let mut labels = std::collections::BTreeMap::new();
        for dx in 0..3u32 {
            for dy in 0..3u32 {
                let t = TileId::new(z, id.x + dx - 1, id.y + dy - 1).unwrap();
                for f in tiler.tile(t, None).features.into_iter().filter(|f| f.label.is_some()) {
                    *labels.entry(f.code).or_insert(0) += 1;
                }
            }
        }
        assert!(labels.values().all(|&n| n == 1), "{labels:?}");
    }
}

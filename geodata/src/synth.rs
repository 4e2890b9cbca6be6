//! Seeded synthetic layers, for property tests and benchmarks.
//!
//! A lattice of quadrilateral grids whose corners are jittered and whose edges wiggle
//! through extra vertices. Every edge is computed once and used, reversed, by both
//! grids beside it, so the grids partition the area exactly; communities, townships and
//! the county are rectangular blocks of grids whose boundaries are made of the same
//! edges. Everything is a pure function of the [`LatticeSpec`], seed included.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::code::AreaCode;
use crate::model::{Layer, Unit};
use crate::plane::LocalPlane;

/// The shape of a synthetic layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LatticeSpec {
    /// The south-west corner of the lattice, in WGS-84 degrees.
    pub origin: (f64, f64),
    /// Grids from west to east.
    pub columns: u32,
    /// Grids from south to north.
    pub rows: u32,
    /// The side of a grid before jitter, in metres.
    pub cell_m: f64,
    /// Corner jitter as a fraction of the side (0 to 0.2).
    pub jitter: f64,
    /// Extra vertices per edge: each edge gets a number in this range.
    pub extra_vertices: (u32, u32),
    /// A community is a block of this many grids (columns, rows).
    pub community_block: (u32, u32),
    /// A township is a block of this many communities (columns, rows).
    pub township_block: (u32, u32),
    /// The county's code (6 digits); its city is the code's first four digits + `00`.
    pub county: String,
    /// The random seed.
    pub seed: u64,
}

impl Default for LatticeSpec {
    fn default() -> LatticeSpec {
        LatticeSpec {
            origin: (118.2, 33.8),
            columns: 20,
            rows: 20,
            cell_m: 500.0,
            jitter: 0.15,
            extra_vertices: (0, 3),
            community_block: (5, 5),
            township_block: (2, 2),
            county: "329901".into(),
            seed: 1,
        }
    }
}

/// Why a lattice cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SynthError {
    /// A parameter is out of its range.
    #[error("invalid lattice: {0}")]
    Invalid(&'static str),
}

/// Builds the layer: a city, a county, its townships, communities and grids.
pub fn lattice(spec: &LatticeSpec) -> Result<Layer, SynthError> {
    let (cols, rows) = (spec.columns as usize, spec.rows as usize);
    let (bx, by) = (spec.community_block.0 as usize, spec.community_block.1 as usize);
    let (tx, ty) = (spec.township_block.0 as usize, spec.township_block.1 as usize);
    if cols == 0 || rows == 0 || bx == 0 || by == 0 || tx == 0 || ty == 0 {
        return Err(SynthError::Invalid("every count must be at least 1"));
    }
    if bx * by > 999 || tx * ty > 999 || cols.div_ceil(bx * tx) * rows.div_ceil(by * ty) > 999 {
        return Err(SynthError::Invalid("at most 999 children per unit"));
    }
    if !(0.0..=0.2).contains(&spec.jitter) || spec.cell_m <= 0.0 || spec.extra_vertices.0 > spec.extra_vertices.1 {
        return Err(SynthError::Invalid("jitter must be 0..0.2, the cell positive, the vertex range ordered"));
    }
    let county = AreaCode::parse(&spec.county).map_err(|_| SynthError::Invalid("bad county code"))?;
    let city = county.parent().ok_or(SynthError::Invalid("the county code must be a county's"))?;
    if county.level() != crate::Level::County {
        return Err(SynthError::Invalid("the county code must be a county's"));
    }

    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let s = spec.cell_m;
    let corners: Vec<Vec<Coord<f64>>> = (0..=cols)
        .map(|i| {
            (0..=rows)
                .map(|j| {
                    let mut jit = || spec.jitter * s * (rng.random::<f64>() * 2.0 - 1.0);
                    Coord { x: i as f64 * s + jit(), y: j as f64 * s + jit() }
                })
                .collect()
        })
        .collect();
    let mut edge = |a: Coord<f64>, b: Coord<f64>| -> Vec<Coord<f64>> {
        let n = rng.random_range(spec.extra_vertices.0..=spec.extra_vertices.1);
        let d = b - a;
        let len = d.x.hypot(d.y);
        let normal = Coord { x: -d.y / len, y: d.x / len };
        let mut pts = vec![a];
        for m in 1..=n {
            let t = f64::from(m) / f64::from(n + 1);
            // The wiggle shrinks towards the corners, so edges meeting there cannot cross.
            let off = 0.3 * t.min(1.0 - t) * len * (rng.random::<f64>() * 2.0 - 1.0) * 0.5;
            pts.push(a + d * t + normal * off);
        }
        pts
    };
    // horizontal[i][j]: corner (i, j) to (i+1, j), without its last point; vertical likewise.
    let horizontal: Vec<Vec<Vec<Coord<f64>>>> =
        (0..cols).map(|i| (0..=rows).map(|j| edge(corners[i][j], corners[i + 1][j])).collect()).collect();
    let vertical: Vec<Vec<Vec<Coord<f64>>>> =
        (0..=cols).map(|i| (0..rows).map(|j| edge(corners[i][j], corners[i][j + 1])).collect()).collect();

    let plane = LocalPlane::centred_at(spec.origin.0, spec.origin.1);
    let to_deg = |c: &Coord<f64>| plane.inverse(*c);
    let horizontal: Vec<Vec<Vec<Coord<f64>>>> =
        horizontal.iter().map(|col| col.iter().map(|e| e.iter().map(to_deg).collect()).collect()).collect();
    let vertical: Vec<Vec<Vec<Coord<f64>>>> =
        vertical.iter().map(|col| col.iter().map(|e| e.iter().map(to_deg).collect()).collect()).collect();
    let corner_deg = |i: usize, j: usize| to_deg(&corners[i][j]);

    // The counter-clockwise boundary of the block of grids [i0, i1) × [j0, j1). Each edge
    // list holds its start and interior points; a reversed edge starts at its end corner.
    let block = |i0: usize, i1: usize, j0: usize, j1: usize| -> MultiPolygon<f64> {
        let mut ring: Vec<Coord<f64>> = Vec::new();
        for e in &horizontal[i0..i1] {
            ring.extend(&e[j0]);
        }
        for e in &vertical[i1][j0..j1] {
            ring.extend(e);
        }
        for i in (i0..i1).rev() {
            ring.push(corner_deg(i + 1, j1));
            ring.extend(horizontal[i][j1][1..].iter().rev());
        }
        for j in (j0..j1).rev() {
            ring.push(corner_deg(i0, j + 1));
            ring.extend(vertical[i0][j][1..].iter().rev());
        }
        ring.push(ring[0]);
        MultiPolygon(vec![Polygon::new(LineString(ring), Vec::new())])
    };

    let mut units = Vec::new();
    let whole = block(0, cols, 0, rows);
    units.push(Unit { code: city.clone(), name: "合成市".into(), geometry: whole.clone() });
    units.push(Unit { code: county.clone(), name: "合成县".into(), geometry: whole });
    let (tcols, trows) = (cols.div_ceil(bx * tx), rows.div_ceil(by * ty));
    for (t_seq, (ti, tj)) in north_to_south(tcols, trows).enumerate() {
        let township = county.child(t_seq as u32 + 1).ok_or(SynthError::Invalid("too many townships"))?;
        let (ti0, tj0) = (ti * bx * tx, tj * by * ty);
        let (ti1, tj1) = ((ti0 + bx * tx).min(cols), (tj0 + by * ty).min(rows));
        units.push(Unit {
            code: township.clone(),
            name: format!("合成镇{}", t_seq + 1),
            geometry: block(ti0, ti1, tj0, tj1),
        });
        let (ccols, crows) = ((ti1 - ti0).div_ceil(bx), (tj1 - tj0).div_ceil(by));
        for (c_seq, (ci, cj)) in north_to_south(ccols, crows).enumerate() {
            let community = township.child(c_seq as u32 + 1).ok_or(SynthError::Invalid("too many communities"))?;
            let (ci0, cj0) = (ti0 + ci * bx, tj0 + cj * by);
            let (ci1, cj1) = ((ci0 + bx).min(ti1), (cj0 + by).min(tj1));
            units.push(Unit {
                code: community.clone(),
                name: format!("合成社区{}-{}", t_seq + 1, c_seq + 1),
                geometry: block(ci0, ci1, cj0, cj1),
            });
            for (g_seq, (gi, gj)) in north_to_south(ci1 - ci0, cj1 - cj0).enumerate() {
                let code = community.child(g_seq as u32 + 1).ok_or(SynthError::Invalid("too many grids"))?;
                let (i, j) = (ci0 + gi, cj0 + gj);
                units.push(Unit { code, name: format!("第{}网格", g_seq + 1), geometry: block(i, i + 1, j, j + 1) });
            }
        }
    }
    Layer::from_units(units).map_err(|_| SynthError::Invalid("duplicate code"))
}

/// Cells of a `cols` × `rows` block in the order codes are numbered: rows from north to
/// south, and west to east within a row. Yields (column, row) with row 0 the southernmost.
pub fn north_to_south(cols: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rows).rev().flat_map(move |j| (0..cols).map(move |i| (i, j)))
}

/// How a bureau drew its own grid layer: a lattice of its own, turned and shifted, with
/// every grid traced by hand — its vertices off by up to `noise_m`, so that neighbours
/// overlap or leave gaps of a few metres, as real layers do.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnSpec {
    /// The layer's name, e.g. `应急`.
    pub name: String,
    /// The prefix of the grids' ids, e.g. `YJ`.
    pub id_prefix: String,
    /// The side of a grid, in metres.
    pub cell_m: f64,
    /// How far the lattice is turned, counter-clockwise, in degrees.
    pub angle_deg: f64,
    /// How far the lattice is shifted east and north, in metres.
    pub offset_m: (f64, f64),
    /// How far a traced vertex may lie from where it belongs, in metres.
    pub noise_m: f64,
    /// The share of grids left undrawn (0 to 1).
    pub skip: f64,
    /// The random seed.
    pub seed: u64,
}

/// Draws a layer over the area `over` (WGS-84): the grids of the spec's lattice that
/// touch the area. Grids' ids are `PREFIX-COLUMN-ROW`.
pub fn drawn_layer(over: &MultiPolygon<f64>, spec: &DrawnSpec) -> crate::fuse::SourceLayer {
    use geo::{BoundingRect, Intersects, Rotate};
    let mut layer = crate::fuse::SourceLayer { name: spec.name.clone(), grids: Vec::new() };
    let Some(bounds) = over.bounding_rect() else { return layer };
    let plane = LocalPlane::for_bounds(bounds);
    let area = plane.project(over);
    let Some(b) = area.bounding_rect() else { return layer };
    let centre = b.center();
    // A lattice wide enough to cover the area at any angle.
    let reach = (b.width().hypot(b.height()) / 2.0 / spec.cell_m).ceil() as i64 + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    for j in (-reach..reach).rev() {
        for i in -reach..reach {
            let (x, y) = (
                centre.x + spec.offset_m.0 + i as f64 * spec.cell_m,
                centre.y + spec.offset_m.1 + j as f64 * spec.cell_m,
            );
            let square = Polygon::new(
                LineString::from(vec![
                    (x, y),
                    (x + spec.cell_m, y),
                    (x + spec.cell_m, y + spec.cell_m),
                    (x, y + spec.cell_m),
                    (x, y),
                ]),
                Vec::new(),
            )
            .rotate_around_point(spec.angle_deg, geo::Point(centre));
            if !square.intersects(&area) {
                continue;
            }
            let skipped = rng.random::<f64>() < spec.skip;
            let traced = trace(&square, spec.noise_m, &mut rng);
            if skipped {
                continue;
            }
            let id = format!("{}-{:03}-{:03}", spec.id_prefix, i + reach, j + reach);
            let geometry = MultiPolygon(vec![map_polygon(&traced, |c| plane.inverse(c))]);
            layer.grids.push(crate::fuse::SourceGrid { name: format!("{}网格{id}", spec.name), id, geometry });
        }
    }
    layer
}

/// Traces grids again by hand: each grid's vertices (and a new one in the middle of each
/// edge) moved by up to `noise_m` metres, independently of its neighbours, and a share
/// `skip` of the grids left out. Ids are the grids' codes.
pub fn redraw<'a>(
    name: &str,
    grids: impl IntoIterator<Item = &'a Unit>,
    noise_m: f64,
    skip: f64,
    seed: u64,
) -> crate::fuse::SourceLayer {
    use geo::BoundingRect;
    let grids: Vec<&Unit> = grids.into_iter().collect();
    let mut layer = crate::fuse::SourceLayer { name: name.to_owned(), grids: Vec::new() };
    let Some(bounds) = grids.iter().filter_map(|g| g.geometry.bounding_rect()).reduce(crate::model::union) else {
        return layer;
    };
    let plane = LocalPlane::for_bounds(bounds);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for grid in grids {
        let skipped = rng.random::<f64>() < skip;
        let polygons: Vec<Polygon<f64>> = plane
            .project(&grid.geometry)
            .0
            .iter()
            .map(|p| map_polygon(&trace(p, noise_m, &mut rng), |c| plane.inverse(c)))
            .collect();
        if !skipped {
            layer.grids.push(crate::fuse::SourceGrid {
                id: grid.code.to_string(),
                name: grid.name.clone(),
                geometry: MultiPolygon(polygons),
            });
        }
    }
    layer
}

/// A polygon traced by hand: a vertex added in the middle of every edge, and every vertex
/// moved by up to `noise_m` in a random direction.
fn trace(polygon: &Polygon<f64>, noise_m: f64, rng: &mut ChaCha8Rng) -> Polygon<f64> {
    let mut ring = |ls: &LineString<f64>| -> LineString<f64> {
        let mut out = Vec::with_capacity(ls.0.len() * 2);
        for line in ls.lines() {
            for c in [line.start, (line.start + line.end) / 2.0] {
                let (r, a) = (noise_m * rng.random::<f64>().sqrt(), rng.random::<f64>() * std::f64::consts::TAU);
                out.push(Coord { x: c.x + r * a.cos(), y: c.y + r * a.sin() });
            }
        }
        if let Some(&first) = out.first() {
            out.push(first);
        }
        LineString(out)
    };
    Polygon::new(ring(polygon.exterior()), polygon.interiors().iter().map(&mut ring).collect())
}

fn map_polygon(polygon: &Polygon<f64>, f: impl Fn(Coord<f64>) -> Coord<f64>) -> Polygon<f64> {
    let ring = |ls: &LineString<f64>| -> LineString<f64> { ls.coords().map(|c| f(*c)).collect() };
    Polygon::new(ring(polygon.exterior()), polygon.interiors().iter().map(ring).collect())
}

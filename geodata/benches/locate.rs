//! Point location throughput: the R-tree index against a linear scan with bounding boxes.
//!
//! Each layer gets a fixed, seeded point set: 90 % uniform over the county's bounding
//! box and 10 % just outside the county (1–45 m out along the outward normal of a random
//! boundary point), so about a tenth of the lookups go through snapping. The set is
//! generated once and checked (snapped fraction, agreement with the baseline) before
//! anything is timed; throughput is reported in locations per second.
//!
//! Groups: `locate/<layer>/index`, `locate/<layer>/build` (the whole index, per grid)
//! and `locate/<layer>/linear-scan`.

// Set-up failures should abort the benchmark loudly, so unwrap/expect are fine here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use geo::{BoundingRect, Coord, Distance, Euclidean, Intersects, LineString, MapCoords, MultiPolygon, Point};
use geodata::synth::{LatticeSpec, lattice};
use geodata::{AreaCode, GridIndex, IndexOptions, Layer, Level, LocateError};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Points in the fixed set timed for the index.
const POINTS: usize = 100_000;
/// The first this many points of the set are timed for the linear scan.
const SCAN_POINTS: usize = 2_000;
/// The first this many points of the set are checked against the baseline at set-up.
const CHECK_POINTS: usize = 5_000;
/// The share of points placed just outside the county.
const OUTSIDE_SHARE: f64 = 0.10;
/// How far outside the county those points lie, in metres.
const OUTSIDE_M: (f64, f64) = (1.0, 45.0);
/// The snapping tolerance the index is built with (the default), in metres.
const SNAP_M: f64 = geodata::index::DEFAULT_SNAP_TOLERANCE_M;

/// Metres per degree of longitude and of latitude at `lat` on the GRS80 ellipsoid.
fn metres_per_degree(lat: f64) -> (f64, f64) {
    let (a, f) = (6_378_137.0_f64, 1.0 / 298.257_222_101);
    let e2 = f * (2.0 - f);
    let s = lat.to_radians().sin();
    let w = (1.0 - e2 * s * s).sqrt();
    let m = a * (1.0 - e2) / (w * w * w);
    let n = a / w;
    let rad = std::f64::consts::PI / 180.0;
    (n * lat.to_radians().cos() * rad, m * rad)
}

/// The synthetic layer: 142 × 142 = 20,164 grids of 20–80 ring vertices each.
fn synthetic_layer() -> Layer {
    let spec = LatticeSpec {
        columns: 142,
        rows: 142,
        extra_vertices: (4, 19),
        community_block: (10, 10),
        township_block: (5, 5),
        seed: 20_164,
        ..LatticeSpec::default()
    };
    let layer = lattice(&spec).expect("the synthetic lattice");
    let grids = layer.grids().count();
    assert!(grids >= 20_000, "the synthetic layer has only {grids} grids");
    for grid in layer.grids() {
        let n = ring_vertices(&grid.geometry);
        assert!((20..=80).contains(&n), "grid {} has {n} ring vertices, not 20..=80", grid.code);
    }
    layer
}

/// The vertices of a grid's rings, not counting each ring's closing point.
fn ring_vertices(geometry: &MultiPolygon<f64>) -> usize {
    geometry
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .map(|r| r.0.len().saturating_sub(1))
        .sum()
}

/// Twice the signed area of a closed ring, in degrees² (positive when counter-clockwise).
fn signed_area2(ring: &LineString<f64>) -> f64 {
    ring.0.windows(2).map(|w| w[0].x * w[1].y - w[1].x * w[0].y).sum()
}

/// The county's boundary as directed edges, each with the sign that turns its
/// right-hand normal outward, and cumulative lengths (in rough metres) to sample by.
struct Boundary {
    edges: Vec<(Coord<f64>, Coord<f64>, f64)>,
    cumulative: Vec<f64>,
}

impl Boundary {
    fn of(county: &MultiPolygon<f64>, k: (f64, f64)) -> Boundary {
        let mut edges = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for polygon in &county.0 {
            let rings =
                std::iter::once((polygon.exterior(), true)).chain(polygon.interiors().iter().map(|r| (r, false)));
            for (ring, exterior) in rings {
                // Right of a counter-clockwise exterior (or a clockwise hole) is outside.
                let sign = if (signed_area2(ring) > 0.0) == exterior { 1.0 } else { -1.0 };
                for w in ring.0.windows(2) {
                    let len = ((w[1].x - w[0].x) * k.0).hypot((w[1].y - w[0].y) * k.1);
                    if len > 0.0 {
                        total += len;
                        edges.push((w[0], w[1], sign));
                        cumulative.push(total);
                    }
                }
            }
        }
        Boundary { edges, cumulative }
    }

    /// A random boundary point moved `d` metres outward along the edge's normal.
    fn outside_point(&self, rng: &mut ChaCha8Rng, d: f64) -> (f64, f64) {
        let total = *self.cumulative.last().expect("the county has a boundary");
        let pick = rng.random_range(0.0..total);
        let i = self.cumulative.partition_point(|&c| c <= pick).min(self.edges.len() - 1);
        let (a, b, sign) = self.edges[i];
        let t = rng.random_range(0.0..1.0);
        let (lon, lat) = (a.x + t * (b.x - a.x), a.y + t * (b.y - a.y));
        let (kx, ky) = metres_per_degree(lat);
        let (dx, dy) = ((b.x - a.x) * kx, (b.y - a.y) * ky);
        let len = dx.hypot(dy);
        let (nx, ny) = (sign * dy / len, -sign * dx / len);
        (lon + nx * d / kx, lat + ny * d / ky)
    }
}

/// The fixed point set, and what the index made of it.
struct PointSet {
    points: Vec<(f64, f64)>,
    inside: usize,
    snapped: usize,
    outside: usize,
    /// Outside points the index reports more than 1 mm farther than they were moved.
    over_1mm: usize,
    /// The largest such excess, in metres.
    max_excess: f64,
}

fn point_set(layer: &Layer, index: &GridIndex, seed: u64) -> PointSet {
    let county = layer.at_level(Level::County).next().expect("the layer has a county");
    let bounds = county.geometry.bounding_rect().expect("the county has a boundary");
    let centre = bounds.center();
    let boundary = Boundary::of(&county.geometry, metres_per_degree(centre.y));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let n_outside = (POINTS as f64 * OUTSIDE_SHARE).round() as usize;
    let mut points = Vec::with_capacity(POINTS);
    for _ in 0..POINTS - n_outside {
        points
            .push((rng.random_range(bounds.min().x..bounds.max().x), rng.random_range(bounds.min().y..bounds.max().y)));
    }
    // Just outside the county; a concave stretch of boundary can put the moved point back
    // inside, so keep only those the index really snaps. The index may not report more
    // than the distance moved (the moved-from point is on the boundary); it does by a few
    // centimetres, so the excess is recorded and only a gross one (over 1 %) fails.
    let (mut accepted, mut attempts) = (0, 0);
    let (mut over_1mm, mut max_excess) = (0, 0.0_f64);
    while accepted < n_outside {
        attempts += 1;
        assert!(attempts <= 20 * n_outside, "could not place {n_outside} points just outside the county");
        let d = rng.random_range(OUTSIDE_M.0..=OUTSIDE_M.1);
        let (lon, lat) = boundary.outside_point(&mut rng, d);
        if let Ok(p) = index.locate(lon, lat)
            && p.snapped
        {
            assert!(
                p.distance_m <= d * 1.01 + 0.01,
                "({lon}, {lat}) was moved {d:.3} m out of the county, but the index says it is {:.3} m from {}",
                p.distance_m,
                p.grid.code
            );
            if p.distance_m > d + 0.001 {
                over_1mm += 1;
            }
            max_excess = max_excess.max(p.distance_m - d);
            points.push((lon, lat));
            accepted += 1;
        }
    }
    points.shuffle(&mut rng);

    let (mut inside, mut snapped, mut outside) = (0, 0, 0);
    for &(lon, lat) in &points {
        match index.locate(lon, lat) {
            Ok(p) if p.snapped => snapped += 1,
            Ok(_) => inside += 1,
            Err(LocateError::OutsideServiceArea { .. }) => outside += 1,
            Err(e) => panic!("({lon}, {lat}): {e}"),
        }
    }
    let share = snapped as f64 / points.len() as f64;
    assert!((0.08..=0.12).contains(&share), "{:.2} % of the points are snapped, not 8–12 %", share * 100.0);
    PointSet { points, inside, snapped, outside, over_1mm, max_excess }
}

/// The baseline: every grid's bounding box and geometry, scanned in code order.
struct LinearScan {
    codes: Vec<AreaCode>,
    /// min x, min y, max x, max y, in degrees.
    boxes: Vec<[f64; 4]>,
    geometries: Vec<MultiPolygon<f64>>,
    /// The same geometries in metres (degrees scaled at the layer's centre), for distances.
    metric: Vec<MultiPolygon<f64>>,
    /// The snapping tolerance in degrees of longitude and latitude (generous: taken at
    /// the layer's latitude farthest from the equator).
    margin: (f64, f64),
    centre: Coord<f64>,
    scale: (f64, f64),
}

impl LinearScan {
    fn build(layer: &Layer) -> LinearScan {
        let bounds = layer.bounds().expect("the layer has geometry");
        let centre = bounds.center();
        let scale = metres_per_degree(centre.y);
        let (kx, _) = metres_per_degree(bounds.min().y.abs().max(bounds.max().y.abs()));
        let (_, ky) = metres_per_degree(0.0);
        let margin = (SNAP_M / kx * 1.01, SNAP_M / ky * 1.01);
        let mut scan = LinearScan {
            codes: Vec::new(),
            boxes: Vec::new(),
            geometries: Vec::new(),
            metric: Vec::new(),
            margin,
            centre,
            scale,
        };
        for grid in layer.grids() {
            let Some(b) = grid.geometry.bounding_rect() else {
                continue;
            };
            scan.codes.push(grid.code.clone());
            scan.boxes.push([b.min().x, b.min().y, b.max().x, b.max().y]);
            scan.metric.push(grid.geometry.map_coords(|c| scan_metric(c, centre, scale)));
            scan.geometries.push(grid.geometry.clone());
        }
        scan
    }

    /// The grid holding the point, else the nearest within the tolerance (with its
    /// distance in metres), else `None`.
    fn locate(&self, lon: f64, lat: f64) -> Option<(usize, f64)> {
        let p = Point::new(lon, lat);
        for (i, b) in self.boxes.iter().enumerate() {
            if lon < b[0] || lon > b[2] || lat < b[1] || lat > b[3] {
                continue;
            }
            if self.geometries[i].intersects(&p) {
                return Some((i, 0.0));
            }
        }
        let (mx, my) = self.margin;
        let q = Point::from(scan_metric(Coord { x: lon, y: lat }, self.centre, self.scale));
        let mut best: Option<(usize, f64)> = None;
        for (i, b) in self.boxes.iter().enumerate() {
            if lon < b[0] - mx || lon > b[2] + mx || lat < b[1] - my || lat > b[3] + my {
                continue;
            }
            let d = Euclidean.distance(&self.metric[i], &q);
            if d <= SNAP_M && best.is_none_or(|(_, bd)| d < bd) {
                best = Some((i, d));
            }
        }
        best
    }
}

fn scan_metric(c: Coord<f64>, centre: Coord<f64>, scale: (f64, f64)) -> Coord<f64> {
    Coord { x: (c.x - centre.x) * scale.0, y: (c.y - centre.y) * scale.1 }
}

/// Checks that the index and the baseline place the first `CHECK_POINTS` points alike.
/// Returns how many were compared and how many were borderline (within 0.5 m of the
/// tolerance, or nearly equidistant from two grids), which are not counted as mismatches.
fn cross_check(name: &str, index: &GridIndex, scan: &LinearScan, points: &[(f64, f64)]) -> (usize, usize, f64) {
    let (mut borderline, mut max_diff) = (0, 0.0_f64);
    let mut mismatches = Vec::new();
    for &(lon, lat) in points {
        let ours = index.locate(lon, lat);
        let theirs = scan.locate(lon, lat);
        match (&ours, theirs) {
            (Ok(p), Some((i, d))) if p.grid.code == scan.codes[i] => {
                if p.snapped {
                    max_diff = max_diff.max((p.distance_m - d).abs());
                }
            }
            (Ok(p), Some((_, d))) if p.snapped && (p.distance_m - d).abs() < 0.5 => borderline += 1,
            (Ok(p), None) if p.snapped && p.distance_m > SNAP_M - 0.5 => borderline += 1,
            (Err(LocateError::OutsideServiceArea { nearest_m: Some(m) }), Some((_, d)))
                if *m <= SNAP_M + 0.5 && d > SNAP_M - 0.5 =>
            {
                borderline += 1;
            }
            (Err(LocateError::OutsideServiceArea { .. }), None) => {}
            _ => mismatches.push(format!(
                "({lon}, {lat}): index {:?}, linear scan {:?}",
                ours.map(|p| (p.grid.code.to_string(), p.snapped, p.distance_m)),
                theirs.map(|(i, d)| (scan.codes[i].to_string(), d)),
            )),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{name}: the index and the linear scan disagree on {} of {} points:\n{}",
        mismatches.len(),
        points.len(),
        mismatches.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    (points.len(), borderline, max_diff)
}

/// Sets up and times one layer: `locate/<name>/index` and `locate/<name>/linear-scan`.
fn bench_layer(c: &mut Criterion, name: &str, layer: &Layer, seed: u64) {
    let index = GridIndex::build(layer, IndexOptions::default());
    let set = point_set(layer, &index, seed);
    let scan = LinearScan::build(layer);
    let (checked, borderline, max_diff) = cross_check(name, &index, &scan, &set.points[..CHECK_POINTS]);

    let vertices: Vec<usize> = layer.grids().map(|g| ring_vertices(&g.geometry)).collect();
    let (min, max) = (vertices.iter().min().copied().unwrap_or(0), vertices.iter().max().copied().unwrap_or(0));
    let mean = vertices.iter().sum::<usize>() as f64 / vertices.len().max(1) as f64;
    let n = set.points.len() as f64;
    let scan_snapped =
        set.points[..SCAN_POINTS].iter().filter(|&&(lon, lat)| index.locate(lon, lat).is_ok_and(|p| p.snapped)).count();
    eprintln!(
        "locate/{name}: {} grids, ring vertices min {min} max {max} mean {mean:.1}; {} points: inside {:.2} %, snapped {:.2} %, \
         outside {:.2} % (linear-scan subset of {SCAN_POINTS}: snapped {:.2} %); baseline agrees on {checked} points \
         ({borderline} borderline, snapped distances within {max_diff:.3} m)",
        vertices.len(),
        set.points.len(),
        set.inside as f64 / n * 100.0,
        set.snapped as f64 / n * 100.0,
        set.outside as f64 / n * 100.0,
        scan_snapped as f64 / SCAN_POINTS as f64 * 100.0,
    );
    if set.over_1mm > 0 {
        eprintln!(
            "locate/{name}: note: for {} of the points moved out of the county the index reports a distance more than \
             1 mm above the distance moved (at most {:.3} m above)",
            set.over_1mm, set.max_excess,
        );
    }

    let mut group = c.benchmark_group(format!("locate/{name}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    // An iteration is a whole point set (~0.1 s): equal-sized samples keep each run short.
    group.sampling_mode(SamplingMode::Flat);

    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(set.points.len() as u64));
    group.bench_function("index", |b| {
        b.iter(|| {
            for &(lon, lat) in &set.points {
                let _ = black_box(index.locate(black_box(lon), black_box(lat)));
            }
        });
    });

    // Rebuilding the index (when grids change) is a whole-layer operation; time it too.
    group.throughput(Throughput::Elements(layer.grids().count() as u64));
    group.measurement_time(Duration::from_secs(5));
    group
        .bench_function("build", |b| b.iter(|| black_box(GridIndex::build(black_box(layer), IndexOptions::default()))));

    let subset = &set.points[..SCAN_POINTS];
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(subset.len() as u64));
    group.bench_function("linear-scan", |b| {
        b.iter(|| {
            for &(lon, lat) in subset {
                black_box(scan.locate(black_box(lon), black_box(lat)));
            }
        });
    });
    group.finish();
}

fn locate(c: &mut Criterion) {
    let synthetic = synthetic_layer();
    bench_layer(c, "synthetic-20k", &synthetic, 1);

    let demo = geodata::demo::layer().expect("the demo layer builds");
    bench_layer(c, "demo", &demo, 2);
}

criterion_group!(benches, locate);
criterion_main!(benches);

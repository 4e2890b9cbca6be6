//! `locate_bench`: gridlink's point location timed in process, on one thread, over random
//! points inside the area; and the same grids and points written out for PostGIS.
//!
//! ```sh
//! locate_bench --layer city --points 100000 --seconds 3 \
//!     --grids-out /tmp/grids.tsv --points-out /tmp/points.tsv
//! ```
//!
//! The layer is the bundled demo county (`--layer demo`, `geodata::demo::layer`) or the
//! city-sized one (`--layer city`, `geodata::demo::city`, 20,095 grids with cells of
//! 660 m). The points are drawn uniformly (splitmix64, `--seed`) in the bounding box of
//! the grids and kept when they fall inside a grid (not snapped): so every timed lookup
//! finds its grid, as a phone's report in the area does. The timing calls
//! `GridIndex::locate` over the points in order, again and again until `--seconds` have
//! passed, and divides. Nothing else runs on that thread.
//!
//! `--grids-out` writes one line per grid, `code<TAB>SRID=4326;MULTIPOLYGON(…)` (EWKT,
//! every coordinate as the shortest text that reads back to the same `f64`), which
//! PostgreSQL's `COPY` loads straight into a `geometry` column; `--points-out` writes
//! `id<TAB>lon<TAB>lat<TAB>code` (ids from 1), the code being where gridlink placed the
//! point, so that PostGIS's answers can be checked against it. `tools/side-by-side`
//! times PostGIS `ST_Contains` over the same points with `pgbench`.
//!
//! The report goes to standard output; its `metric NAME VALUE` lines are for scripts.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use geo::BoundingRect;
use geodata::{GridIndex, IndexOptions, Layer};
use mobile_api_tests::load::Rng;

/// Times `GridIndex::locate` and writes the grids and points for PostGIS.
#[derive(Debug, Parser)]
#[command(name = "locate_bench", about)]
struct Cli {
    /// Which layer.
    #[arg(long, value_enum, default_value_t = Which::City)]
    layer: Which,
    /// The city layer's lattice cell, in metres.
    #[arg(long, default_value_t = geodata::demo::CITY_CELL_M)]
    cell_m: f64,
    /// Random points inside the area.
    #[arg(long, default_value_t = 100_000)]
    points: usize,
    /// Seed of the points.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time the lookups for at least this long.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Write the grids here (TSV: code, EWKT).
    #[arg(long)]
    grids_out: Option<PathBuf>,
    /// Write the points here (TSV: id, lon, lat, gridlink's code).
    #[arg(long)]
    points_out: Option<PathBuf>,
}

/// The layers to choose from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// The demo county, 宿城区.
    Demo,
    /// The city, 宿迁市 (five counties).
    City,
}

/// A point and the grid gridlink places it in.
struct Point {
    lon: f64,
    lat: f64,
    code: String,
}

fn unit_interval(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `count` points drawn in the grids' bounding box and kept when inside a grid.
fn draw_points(layer: &Layer, index: &GridIndex, count: usize, seed: u64) -> Result<(Vec<Point>, usize), String> {
    let mut bounds: Option<geo::Rect<f64>> = None;
    for grid in layer.grids() {
        if let Some(b) = grid.geometry.bounding_rect() {
            bounds = Some(match bounds {
                None => b,
                Some(a) => geo::Rect::new(
                    geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                ),
            });
        }
    }
    let bounds = bounds.ok_or("the layer has no grids")?;
    let mut rng = Rng::new(seed);
    let mut points = Vec::with_capacity(count);
    let mut drawn = 0_usize;
    while points.len() < count {
        drawn += 1;
        if drawn > count.saturating_mul(100).max(1000) {
            return Err("fewer than one point in a hundred falls inside a grid".into());
        }
        let lon = bounds.min().x + unit_interval(&mut rng) * bounds.width();
        let lat = bounds.min().y + unit_interval(&mut rng) * bounds.height();
        if let Ok(placed) = index.locate(lon, lat)
            && !placed.snapped
        {
            points.push(Point { lon, lat, code: placed.grid.code.to_string() });
        }
    }
    Ok((points, drawn))
}

/// A grid's boundary as EWKT in WGS-84.
fn ewkt(geometry: &geo::MultiPolygon<f64>) -> String {
    let ring = |line: &geo::LineString<f64>| {
        let coords: Vec<String> = line.coords().map(|c| format!("{} {}", c.x, c.y)).collect();
        format!("({})", coords.join(","))
    };
    let polygons: Vec<String> = geometry
        .iter()
        .map(|p| {
            let rings: Vec<String> = std::iter::once(p.exterior()).chain(p.interiors()).map(ring).collect();
            format!("({})", rings.join(","))
        })
        .collect();
    format!("SRID=4326;MULTIPOLYGON({})", polygons.join(","))
}

fn write_file(path: &PathBuf, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(cli: &Cli) -> Result<String, String> {
    let started = Instant::now();
    let layer = match cli.layer {
        Which::Demo => geodata::demo::layer().map_err(|e| e.to_string())?,
        Which::City => geodata::demo::city(cli.cell_m).map_err(|e| e.to_string())?,
    };
    let index = GridIndex::build(&layer, IndexOptions::default());
    let built = started.elapsed();
    let (points, drawn) = draw_points(&layer, &index, cli.points.max(1), cli.seed)?;

    if let Some(path) = &cli.grids_out {
        let mut text = String::new();
        for grid in layer.grids() {
            writeln!(text, "{}\t{}", grid.code, ewkt(&grid.geometry)).map_err(|e| e.to_string())?;
        }
        write_file(path, &text)?;
    }
    if let Some(path) = &cli.points_out {
        let mut text = String::new();
        for (i, p) in points.iter().enumerate() {
            writeln!(text, "{}\t{}\t{}\t{}", i + 1, p.lon, p.lat, p.code).map_err(|e| e.to_string())?;
        }
        write_file(path, &text)?;
    }

    // The timing: every point in turn, rounds until the time is up; the codes' lengths
    // summed so that no lookup can be left out.
    let budget = Duration::from_secs_f64(cli.seconds.max(0.01));
    let mut lookups = 0_u64;
    let mut found = 0_usize;
    let timing = Instant::now();
    while timing.elapsed() < budget {
        for p in &points {
            if let Ok(placed) = index.locate(std::hint::black_box(p.lon), std::hint::black_box(p.lat)) {
                found += placed.grid.code.as_str().len();
            }
        }
        lookups += points.len() as u64;
    }
    let took = timing.elapsed().as_secs_f64();
    std::hint::black_box(found);
    let per_s = lookups as f64 / took;

    let mut report = String::new();
    let name = match cli.layer {
        Which::Demo => "demo (宿城区)".to_owned(),
        Which::City => format!("city (宿迁市, cells of {} m)", cli.cell_m),
    };
    let w = &mut report;
    let fmt = |e: std::fmt::Error| e.to_string();
    writeln!(w, "layer: {name}: {} grids, index built in {:.2} s", index.len(), built.as_secs_f64()).map_err(fmt)?;
    writeln!(
        w,
        "points: {} inside a grid, of {drawn} drawn in the grids' bounding box (seed {})",
        points.len(),
        cli.seed
    )
    .map_err(fmt)?;
    writeln!(
        w,
        "GridIndex::locate, one thread: {lookups} lookups in {took:.2} s → {per_s:.0}/s ({:.0} ns each)",
        1e9 / per_s
    )
    .map_err(fmt)?;
    writeln!(w, "metric grids {}", index.len()).map_err(fmt)?;
    writeln!(w, "metric points {}", points.len()).map_err(fmt)?;
    writeln!(w, "metric locate_per_s {per_s:.0}").map_err(fmt)?;
    writeln!(w, "metric locate_ns {:.1}", 1e9 / per_s).map_err(fmt)?;
    Ok(report)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(report) => {
            let _ = std::io::stdout().lock().write_all(report.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "locate_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

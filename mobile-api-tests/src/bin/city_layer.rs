//! `city_layer`: writes the city-sized layer for measuring as GeoJSON.
//!
//! ```sh
//! city_layer --out city.geojson                 # 20,095 grids, cells of 660 m
//! city_layer --out city.geojson --cell-m 1200   # coarser: about 6,000 grids
//! gridlink grids import --database sqlite://city.db city.geojson
//! ```
//!
//! The layer is all of 宿迁市 (321300): its five counties in their real outlines, their
//! real townships and communities (names and codes) with synthetic boundaries, and
//! synthetic grids, the cells of a square lattice clipped to the counties
//! (`geodata::demo::city`, data and sources in `geodata/data/demo/NOTICE.md`). The same
//! cell size gives the same file on every run. `gridlink grids import` checks the file
//! and stores it in place of the stored layer; the default demo (`serve --demo`) stays
//! the one county 宿城区.
//!
//! Building takes about a second, even in a debug build (`geodata` is always built
//! optimised); so does importing it into SQLite. A summary (units per level, grids per
//! county, the time taken) goes to standard error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use geodata::demo::{CITY_CELL_M, CITY_COUNTIES, city, count_by_level};

/// Writes the city layer of 宿迁市 (five counties, synthetic grids) as GeoJSON.
#[derive(Debug, Parser)]
#[command(name = "city_layer", about)]
struct Cli {
    /// Where to write the layer (a GeoJSON FeatureCollection).
    #[arg(long, short)]
    out: PathBuf,
    /// The side of a grid's lattice cell before clipping, in metres.
    #[arg(long, default_value_t = CITY_CELL_M)]
    cell_m: f64,
}

fn run(cli: &Cli) -> Result<String, String> {
    let started = Instant::now();
    let layer = city(cli.cell_m).map_err(|e| e.to_string())?;
    let built = started.elapsed();
    let text = geodata::geojson::write_layer(&layer).to_string();
    std::fs::write(&cli.out, &text).map_err(|e| format!("cannot write {}: {e}", cli.out.display()))?;

    let mut summary = format!(
        "wrote {} ({} bytes): cells of {} m, built in {:.1} s\n",
        cli.out.display(),
        text.len(),
        cli.cell_m,
        built.as_secs_f64()
    );
    for (level, n) in count_by_level(&layer) {
        summary.push_str(&format!("  {level}: {n}\n"));
    }
    for code in CITY_COUNTIES {
        let county = layer.units().find(|u| u.code.as_str() == code);
        let grids = layer.grids().filter(|g| g.code.as_str().starts_with(code)).count();
        let name = county.map_or("?", |u| u.name.as_str());
        summary.push_str(&format!("  {code} {name}: {grids} grids\n"));
    }
    Ok(summary)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(summary) => {
            let _ = std::io::stderr().lock().write_all(summary.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "city_layer: {e}");
            ExitCode::FAILURE
        }
    }
}

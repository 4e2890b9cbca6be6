//! The command line: `gridlink serve`, `gridlink migrate`, `gridlink grids check`, `gridlink grids demo`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use geodata::{Tolerances, check_geojson};

use crate::settings::{DEFAULT_BIND, DEFAULT_DATABASE, Settings};
use crate::startup::Application;
use crate::store::Database;
use crate::telemetry;

/// gridlink: grid-based social-governance dispatch.
#[derive(Debug, Parser)]
#[command(name = "gridlink", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "GRIDLINK_BIND", default_value = DEFAULT_BIND)]
        bind: SocketAddr,
        /// Load the bundled demo area (宿迁市宿城区, synthetic grids); loopback only.
        #[arg(long)]
        demo: bool,
        /// How far outside every grid, in metres, a point is still placed in the nearest.
        #[arg(long, env = "GRIDLINK_SNAP_TOLERANCE_M", default_value_t = geodata::index::DEFAULT_SNAP_TOLERANCE_M)]
        snap_tolerance_m: f64,
        /// A category tree (JSON, the form of the built-in one) to use instead of the built-in one.
        #[arg(long, env = "GRIDLINK_CATEGORIES")]
        categories: Option<PathBuf>,
        /// Where to store: `sqlite://PATH` (created if missing) or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Creates or updates the database schema, then exits.
    Migrate {
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Works with grid layers as GeoJSON files.
    Grids {
        /// What to do with them.
        #[command(subcommand)]
        command: GridsCommand,
    },
}

/// `gridlink grids …`.
#[derive(Debug, Subcommand)]
pub enum GridsCommand {
    /// Checks a GeoJSON file of units and grids and lists every problem found.
    Check {
        /// The file (a FeatureCollection; `-` reads standard input).
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Overlaps, gaps and overreach at least this large (m²) are errors, smaller ones warnings.
        #[arg(long, default_value_t = 1.0)]
        tolerance_m2: f64,
    },
    /// Writes the bundled demo area (units and grids) as GeoJSON.
    Demo {
        /// Where to write it; standard output if not given.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// Runs a parsed command line; the exit code says how it went.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { bind, demo, snap_tolerance_m, categories, database } => {
            serve(Settings { bind, demo, snap_tolerance_m, categories, database })
        }
        Command::Grids { command: GridsCommand::Check { file, json, tolerance_m2 } } => {
            grids_check(&file, json, tolerance_m2)
        }
        Command::Grids { command: GridsCommand::Demo { out } } => grids_demo(out),
        Command::Migrate { database } => migrate(&database),
    }
}

fn migrate(url: &str) -> ExitCode {
    let db = match Database::open(url, 1) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    match db.migrate() {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "the database is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "gridlink: {message}");
    ExitCode::from(2)
}

fn serve(settings: Settings) -> ExitCode {
    telemetry::init();
    let settings = match settings.validate() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let listener = match TcpListener::bind(settings.bind) {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {}: {e}", settings.bind)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let app = match Application::build(&settings, listener) {
            Ok(app) => app,
            Err(e) => return fail(e),
        };
        let url = format!("http://{}", SocketAddr::new(settings.bind.ip(), app.port()));
        tracing::info!(%url, demo = settings.demo, "listening");
        // Said on standard output whatever the log level: scripts wait for this line.
        let _ = writeln!(std::io::stdout(), "gridlink is listening on {url}");
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("the server stopped: {e}")),
        }
    })
}

fn read_input(file: &PathBuf) -> std::io::Result<String> {
    if file.as_os_str() == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(file) }
}

fn grids_check(file: &PathBuf, json: bool, tolerance_m2: f64) -> ExitCode {
    if !(tolerance_m2.is_finite() && tolerance_m2 >= 0.0) {
        return fail(format!("--tolerance-m2 must be a non-negative number, not {tolerance_m2}"));
    }
    let text = match read_input(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let checked = check_geojson(&text, &Tolerances { area_m2: tolerance_m2, ..Tolerances::default() });
    let mut out = std::io::stdout().lock();
    let written = if json {
        let units = checked.layer.as_ref().map(geodata::Layer::len);
        let body = serde_json::json!({ "ok": !checked.report.has_errors(), "units": units, "problems": checked.report.problems });
        writeln!(out, "{body}")
    } else {
        let summary = match &checked.layer {
            Some(layer) => format!("accepted: {} units, {} grids", layer.len(), layer.grids().count()),
            None => "refused".to_owned(),
        };
        writeln!(out, "{}\n{summary}", checked.report)
    };
    if let Err(e) = written {
        return fail(e);
    }
    if checked.report.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn grids_demo(out: Option<PathBuf>) -> ExitCode {
    let layer = match geodata::demo::layer() {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let text = geodata::geojson::write_layer(&layer).to_string();
    let written = match &out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => writeln!(std::io::stdout().lock(), "{text}").map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

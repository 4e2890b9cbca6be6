//! The command line: `gridlink serve`, `migrate`, `users add`, `grids check`, `grids demo`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Parser, Subcommand};
use geodata::{Tolerances, check_geojson};

use crate::auth;
use crate::settings::{DEFAULT_BIND, DEFAULT_DATABASE, FileSettings, Settings};
use crate::startup::Application;
use crate::store::{Database, StoreError};
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
        /// A TOML file of settings (bind, database, demo, snap_tolerance_m, categories);
        /// flags and GRIDLINK_* variables win over it.
        #[arg(long, env = "GRIDLINK_CONFIG")]
        config: Option<PathBuf>,
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
    /// Manages accounts.
    Users {
        /// What to do.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Works with grid layers as GeoJSON files.
    Grids {
        /// What to do with them.
        #[command(subcommand)]
        command: GridsCommand,
    },
}

/// `gridlink users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Adds an account; the password is read from standard input (one line).
    Add {
        /// What they log in with.
        #[arg(long)]
        login: String,
        /// Their role: administrator, city_centre, county_centre, township_centre,
        /// community_staff, department_staff, grid_worker or hotline_operator.
        #[arg(long)]
        role: String,
        /// The code of the unit (or department) the role is bound to.
        #[arg(long)]
        unit: String,
        /// Their name as shown (the login if not given).
        #[arg(long)]
        name: Option<String>,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
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

/// Runs a parsed command line; the exit code says how it went. `matches` tell which
/// values were given (on the command line or in the environment) and which are defaults.
pub fn run(cli: Cli, matches: &ArgMatches) -> ExitCode {
    match cli.command {
        Command::Serve { config, bind, demo, snap_tolerance_m, categories, database } => {
            let flags = Settings { bind, demo, snap_tolerance_m, categories, database };
            let settings = match config {
                None => flags,
                Some(path) => {
                    let given = |id: &str| {
                        matches
                            .subcommand_matches("serve")
                            .and_then(|m| m.value_source(id))
                            .is_some_and(|s| s != ValueSource::DefaultValue)
                    };
                    match FileSettings::read(&path) {
                        Ok(file) => file.under(flags, given),
                        Err(e) => return fail(e),
                    }
                }
            };
            serve(settings)
        }
        Command::Grids { command: GridsCommand::Check { file, json, tolerance_m2 } } => {
            grids_check(&file, json, tolerance_m2)
        }
        Command::Grids { command: GridsCommand::Demo { out } } => grids_demo(out),
        Command::Migrate { database } => migrate(&database),
        Command::Users { command: UsersCommand::Add { login, role, unit, name, database } } => {
            users_add(&login, &role, &unit, name, &database)
        }
    }
}

fn users_add(login: &str, role: &str, unit: &str, name: Option<String>, url: &str) -> ExitCode {
    let login = login.trim();
    if login.is_empty() || login.chars().any(char::is_whitespace) {
        return fail(format!("the login {login:?} must be non-empty, without spaces"));
    }
    let role: auth::Role = match role.parse() {
        Ok(r) => r,
        Err(e) => return fail(format!("{e}; roles: {}", auth::Role::ALL.map(auth::Role::as_str).join(", "))),
    };
    // A unit is named by its statistical code; a department by its own code.
    let unit_ok = if role == auth::Role::DepartmentStaff {
        !unit.is_empty() && unit.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    } else {
        geodata::AreaCode::parse(unit).is_ok()
    };
    if !unit_ok {
        return fail(format!("{unit:?} is not a unit code for a {role}"));
    }
    let mut password = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut password) {
        return fail(format!("cannot read the password from standard input: {e}"));
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        return fail("the password (read from standard input) must have at least 8 characters");
    }
    let hash = match auth::hash_password(password) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let db = match Database::open(url, 1).and_then(|db| db.migrate().map(|()| db)) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let user = auth::User {
        id: uuid::Uuid::new_v4().to_string(),
        login: login.to_owned(),
        password_hash: hash,
        display_name: name.unwrap_or_else(|| login.to_owned()),
        role: role.as_str().to_owned(),
        unit_code: unit.to_owned(),
        created_at_ms: auth::now_ms(),
    };
    match db.write(|c| auth::insert_user(c, &user)) {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "added {} ({role} of {unit}), id {}", user.login, user.id);
            ExitCode::SUCCESS
        }
        Err(StoreError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => fail(format!("the login {login:?} is taken")),
        Err(e) => fail(e),
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

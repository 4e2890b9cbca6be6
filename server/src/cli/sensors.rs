//! `gridlink sensors add|list|revoke`: an administrator's sensors (物联感知) from the
//! command line, on the database a server uses (running or not).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use diesel::prelude::*;
use geodata::IndexOptions;

use super::{fail, open_migrated, refuse};
use crate::categories::CategoryTree;
use crate::geo::Geo;
use crate::sensors::{LocationIn, RegisterIn, SensorView, new_sensor, store};
use crate::settings::DEFAULT_DATABASE;
use crate::store::{Database, Target};

/// `gridlink sensors …`.
#[derive(Debug, Subcommand)]
pub enum SensorsCommand {
    /// Registers a sensor and prints its id and key (shown once: only its hash is kept).
    Add {
        /// Its name, as people know it.
        #[arg(long)]
        name: String,
        /// Longitude of its place.
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Latitude of its place.
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// The coordinate system of --lon and --lat: wgs84 (default), gcj02 or bd09.
        #[arg(long)]
        crs: Option<String>,
        /// The leaf category its alarms report (e.g. C0101).
        #[arg(long)]
        category: String,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Lists the sensors, revoked ones too (never their keys).
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Revokes a sensor: its alarms are refused from now on (it stays listed, since
    /// cases' traces name it).
    Revoke {
        /// The sensor's id.
        id: String,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
}

/// Runs a `sensors` command.
pub fn run(command: SensorsCommand) -> ExitCode {
    match command {
        SensorsCommand::Add { name, lon, lat, crs, category, database } => {
            add(RegisterIn { name, location: LocationIn { lon, lat, crs }, category }, &database)
        }
        SensorsCommand::List { json, database } => list(json, &database),
        SensorsCommand::Revoke { id, database } => revoke(&id, &database),
    }
}

/// The database at `url`, which must exist already (reading or revoking must not leave
/// an empty one behind).
fn existing(url: &str) -> Result<Database, ExitCode> {
    if let Ok(Target::Sqlite(path)) = Target::parse(url)
        && !Path::new(&path).exists()
    {
        return Err(fail(format!("there is no database at {path}")));
    }
    open_migrated(url).map_err(fail)
}

/// Whether `code` is a leaf category of the tree in force: the one the servers last
/// stored, or the built-in one before any server started.
fn known_category(db: &Database, code: &str) -> Result<bool, String> {
    use crate::categories::schema::categories;
    let (stored, found) = db
        .read(|c| {
            let stored: i64 = categories::table.count().get_result(c)?;
            let found: i64 = categories::table.filter(categories::code.eq(code)).count().get_result(c)?;
            Ok((stored, found))
        })
        .map_err(|e| e.to_string())?;
    if stored > 0 {
        return Ok(found > 0);
    }
    let tree = CategoryTree::default_tree().map_err(|e| e.to_string())?;
    Ok(tree.category(code).is_some())
}

fn add(input: RegisterIn, url: &str) -> ExitCode {
    let db = match existing(url) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let layer = db.read(|c| Ok((crate::geo::store::generation(c)?, crate::geo::store::load_layer(c))));
    let (generation, layer) = match layer {
        Ok((generation, Ok(Some(layer)))) => (generation, layer),
        Ok((_, Ok(None))) => {
            return refuse(
                "no grid layer is stored in the database: a sensor is placed in a grid (`gridlink grids import FILE`)",
            );
        }
        Ok((_, Err(e))) => return fail(e),
        Err(e) => return fail(e),
    };
    let known = match known_category(&db, input.category.trim()) {
        Ok(known) => known,
        Err(e) => return fail(e),
    };
    let options = IndexOptions { snap_tolerance_m: geodata::index::DEFAULT_SNAP_TOLERANCE_M };
    let geo = Geo::new(layer, options, generation);
    let (row, key) = match new_sensor(&geo, |_| known, &input, crate::clock::now_ms()) {
        Ok(made) => made,
        Err(e) => return refuse(e),
    };
    let registered = db.write(|c| {
        store::insert(c, &row)?;
        let data = serde_json::json!({"key": "sensor", "name": row.name, "grid": row.grid_code, "via": "cli"});
        crate::auth::accounts::audit(c, "key_added", None, &row.id, data)
    });
    if let Err(e) = registered {
        return fail(e);
    }
    let text = format!(
        "registered sensor {id} ({name}), category {category}, in grid {grid}\n\
         key: {key}\n\
         the key is shown this once (only its hash is kept): give it to the sensor, which sends it as \
         `Authorization: Bearer <key>` or `X-Sensor-Key` over HTTP, or as \"key\" in its MQTT payload on \
         gridlink/sensors/{id}/alarm",
        id = row.id,
        name = row.name,
        category = row.category_code,
        grid = row.grid_code,
    );
    match writeln!(std::io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn list(json: bool, url: &str) -> ExitCode {
    let db = match existing(url) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let rows = match db.read(store::all) {
        Ok(rows) => rows,
        Err(e) => return fail(e),
    };
    let views: Vec<SensorView> = rows.iter().map(SensorView::of).collect();
    let mut out = std::io::stdout().lock();
    let written = if json {
        writeln!(out, "{}", serde_json::json!(views))
    } else if views.is_empty() {
        writeln!(out, "no sensors are registered")
    } else {
        views.iter().try_for_each(|s| {
            let state = match &s.revoked_at {
                Some(at) => format!("revoked {at}"),
                None => "active".to_owned(),
            };
            let case = s.open_incident_id.as_deref().map(|c| format!(" open case {c}")).unwrap_or_default();
            writeln!(
                out,
                "{}  {}  {}  grid {}  {:.6},{:.6}  {state}{case}",
                s.id, s.name, s.category, s.grid, s.location.lon, s.location.lat
            )
        })
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn revoke(id: &str, url: &str) -> ExitCode {
    let db = match existing(url) {
        Ok(db) => db,
        Err(code) => return code,
    };
    match db.write(|c| store::revoke_audited(c, id, crate::clock::now_ms(), None, "cli")) {
        Ok(Some(row)) => {
            let at = row.revoked_at_ms.map(crate::clock::rfc3339).unwrap_or_default();
            match writeln!(
                std::io::stdout(),
                "sensor {id} ({}) is revoked since {at}: its alarms are refused",
                row.name
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Ok(None) => refuse(format!("no sensor {id}")),
        Err(e) => fail(e),
    }
}

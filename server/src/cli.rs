//! The command line: `gridlink serve`, `migrate`, `users add|move|purge-demo|disable|enable|password|list`, `grids check`, `grids demo`,
//! `grids fuse`, `grids import`, `grids export`, `keys add|list|revoke`, `sensors …`, `audit verify|export|check`.

pub mod audit;
mod fuse;
pub mod sensors;
mod users;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Parser, Subcommand};
use geodata::{Checked, Layer, Tolerances, check_geojson};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::auth;
use crate::geo::store as layer_store;
use crate::settings::{
    DEFAULT_BIND, DEFAULT_DATABASE, DEFAULT_PUSH_SUBJECT, DEFAULT_PUSH_TIMEOUT_MS, FileSettings, PushSettings, Settings,
};
use crate::startup::Application;
use crate::store::{Database, StoreError, Target};
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
// Parsed once per run: `serve`'s many flags make its variant large, which costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Runs the server.
    Serve {
        /// A TOML file of settings (bind, database, demo, snap_tolerance_m, categories, calendars,
        /// push_allow_hosts, push_subject, push_timeout_ms, sync_heartbeat_s, sync_retention_days,
        /// grids_poll_ms, trusted_proxy_header, trusted_proxies, basemap, mqtt, nats, cors_origins,
        /// metrics_token, metrics_bind, seal_keys, position_ttl_days, and the [limits],
        /// [stats] and [workflow] tables); flags and GRIDLINK_* variables win over it.
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
        /// A calendars file (TOML): counties' own holidays, make-up working days and duty
        /// windows, beside the national calendar that ships (see the README).
        #[arg(long, env = "GRIDLINK_CALENDARS")]
        calendars: Option<PathBuf>,
        /// Where to store: `sqlite://PATH` (created if missing) or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Push services allowed on private or loopback addresses (and over plain http),
        /// as `host:port` or `host`, comma-separated; for tests and closed networks.
        #[arg(long, env = "GRIDLINK_PUSH_ALLOW_HOSTS", value_delimiter = ',')]
        push_allow_hosts: Vec<String>,
        /// Who runs this server, for Web Push services (the VAPID `sub`): a `mailto:` or
        /// `https:` contact.
        #[arg(long, env = "GRIDLINK_PUSH_SUBJECT", default_value = DEFAULT_PUSH_SUBJECT)]
        push_subject: String,
        /// How long one send to a Web Push service may take, in milliseconds.
        #[arg(long, env = "GRIDLINK_PUSH_TIMEOUT_MS", default_value_t = DEFAULT_PUSH_TIMEOUT_MS)]
        push_timeout_ms: u64,
        /// For end-to-end tests only: run cases on a clock that starts at this instant (RFC
        /// 3339) and that `POST /api/v1/test/clock` moves ahead; loopback addresses only.
        #[arg(long, env = "GRIDLINK_TEST_CLOCK", value_parser = parse_instant)]
        test_clock: Option<i64>,
        /// The header a trusted reverse proxy puts the client's address in (e.g.
        /// `X-Forwarded-For`); without it, and without --trusted-proxies, the peer's address
        /// is the client's and such headers are ignored.
        #[arg(long, env = "GRIDLINK_TRUSTED_PROXY_HEADER")]
        trusted_proxy_header: Option<String>,
        /// The reverse proxies allowed to set that header: addresses or networks
        /// (`10.0.0.0/8`), comma-separated.
        #[arg(long, env = "GRIDLINK_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<String>,
        /// A raster basemap under the pages' maps: a tile URL template such as
        /// `https://tiles.example.cn/{z}/{x}/{y}.png` (none by default: nothing is loaded
        /// from outside the server).
        #[arg(long, env = "GRIDLINK_BASEMAP")]
        basemap: Option<String>,
        /// An MQTT broker to take sensors' alarms from (`mqtt://host[:port]`, plain TCP):
        /// the node subscribes to `gridlink/sensors/+/alarm` (see docs/contract.md, "Sensors").
        #[arg(long, env = "GRIDLINK_MQTT_URL")]
        mqtt: Option<String>,
        /// NATS, joining the nodes that share one PostgreSQL (`nats://host[:port]`, several
        /// comma-separated): news of commits, ended sessions and new grid layers travel
        /// between them (see docs/architecture.md, "Past one machine"). Without it the
        /// node works alone.
        #[arg(long, env = "GRIDLINK_NATS_URL")]
        nats: Option<String>,
        /// Origins whose pages may call the API and Open311 from a browser (CORS), as
        /// `https://host[:port]`, comma-separated; none by default (no CORS header at all).
        #[arg(long, env = "GRIDLINK_CORS_ORIGINS", value_delimiter = ',')]
        cors_origins: Vec<String>,
        /// The bearer token `GET /metrics` wants (at least 16 characters; prefer the
        /// variable to the flag, which other users can see). Without it, and without
        /// --metrics-bind, /metrics is not served.
        #[arg(long, env = "GRIDLINK_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
        /// A listener of its own serving only /metrics (e.g. 127.0.0.1:9100), with the token
        /// too when one is set; the main listener then never serves /metrics.
        #[arg(long, env = "GRIDLINK_METRICS_BIND")]
        metrics_bind: Option<SocketAddr>,
        /// The key file personal data is sealed with (`<key id> <base64 of 32 bytes>` lines,
        /// the last one sealing new values; make one with `gridlink seal new-key --keys FILE`).
        /// Without it, a SQLite database uses `<database file>.keys` beside it, made for a
        /// new database; PostgreSQL must be told.
        #[arg(long, env = "GRIDLINK_SEAL_KEYS")]
        seal_keys: Option<PathBuf>,
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
    /// Issues, lists and revokes Open311 clients' API keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Works with grid layers as GeoJSON files.
    Grids {
        /// What to do with them.
        #[command(subcommand)]
        command: GridsCommand,
    },
    /// Registers, lists and revokes sensors (物联感知), whose alarms open cases.
    Sensors {
        /// What to do.
        #[command(subcommand)]
        command: sensors::SensorsCommand,
    },
    /// Makes sealing keys and rewrites sealed personal data under the newest one.
    Seal {
        /// What to do.
        #[command(subcommand)]
        command: SealCommand,
    },
    /// Checks and exports the tamper-evident trace (全程留痕).
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

/// `gridlink seal …`: the keys personal data is sealed with.
#[derive(Debug, Subcommand)]
pub enum SealCommand {
    /// Appends a fresh random key to a key file (made readable by its owner only, 0600,
    /// if missing): it seals every new value from the next start; older keys still open
    /// what they sealed. Prints the new key's id.
    NewKey {
        /// The key file.
        #[arg(long)]
        keys: PathBuf,
    },
    /// Rewrites every sealed value under the key file's newest key (after `new-key`), so
    /// that older keys may later be retired. The database's keys are checked first, as at
    /// start-up.
    Reseal {
        /// The key file.
        #[arg(long, env = "GRIDLINK_SEAL_KEYS")]
        keys: PathBuf,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
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
    /// Gives an account another role or unit; its phones start again from a snapshot,
    /// since what they hold was chosen by the old scope.
    Move {
        /// The account's login.
        #[arg(long)]
        login: String,
        /// The new role (the current one if not given).
        #[arg(long)]
        role: Option<String>,
        /// The new unit or department code (the current one if not given).
        #[arg(long)]
        unit: Option<String>,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Disables every demo account (their password `demo` is public): logins refused,
    /// sessions revoked; the accounts stay for the cases' history. Then the database may
    /// be served on a public address, and `--demo` is refused on it.
    PurgeDemo {
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Disables an account: logins refused, sessions and refresh tokens revoked, push
    /// subscriptions removed (running servers close its sockets within seconds); the
    /// account stays for the cases' history.
    Disable {
        /// The account's login.
        login: String,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Enables a disabled account.
    Enable {
        /// The account's login.
        login: String,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Replaces an account's password with one read from standard input (one line, never
    /// an argument), and revokes every session of theirs.
    Password {
        /// The account's login.
        login: String,
        /// Read the password from standard input (always so; accepted for scripts that say it).
        #[arg(long)]
        password_stdin: bool,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Lists the accounts (tab-separated): login, role, unit, when disabled, open
    /// sessions and devices, id.
    List {
        /// Only accounts whose login, name, role or unit contains this.
        filter: Option<String>,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
}

/// `gridlink keys …`: Open311 API keys (only their hashes are stored).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issues a key to a client and prints it, once, alone on standard output.
    Add {
        /// The client it is for (an app, a partner's system).
        #[arg(long)]
        name: String,
        /// How to reach the client's operator.
        #[arg(long)]
        contact: Option<String>,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Lists every key: id, client, when issued, when revoked; never a key itself.
    List {
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Revokes a key: its client's requests are refused from now on.
    Revoke {
        /// The key's id (from `keys list`).
        id: String,
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
        /// Instead, write the demo's communities and the three source layers its grids are
        /// fused from into this directory.
        #[arg(long, conflicts_with = "out")]
        sources: Option<PathBuf>,
    },
    /// Fuses several bureaus' grid layers into one (三网融合): the base clipped to the
    /// communities, the others snapped to it and filling its gaps, slivers merged. Writes
    /// the fused layer, each grid with its lineage, and prints what fusion did.
    Fuse {
        /// The base layer (normally the 综治 grids): `NAME=FILE`, or `FILE` named by its stem.
        #[arg(long)]
        base: String,
        /// Another layer, as for `--base`; give one per layer, in order of precedence.
        #[arg(long = "layer")]
        layers: Vec<String>,
        /// The communities, and optionally the units above them (GeoJSON, as for `check`).
        #[arg(long)]
        communities: PathBuf,
        /// Where to write the fused layer.
        #[arg(long, short)]
        out: PathBuf,
        /// A layer fused before: grids at least 90 % the same keep their codes.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Edges of other layers within this distance of the base's are snapped to them (metres).
        #[arg(long, default_value_t = 5.0)]
        snap_m: f64,
        /// Pieces smaller than this merge into a neighbour (m²).
        #[arg(long, default_value_t = 10_000.0)]
        min_area_m2: f64,
        /// Pieces in which no disc this wide fits merge into a neighbour (metres).
        #[arg(long, default_value_t = 20.0)]
        min_width_m: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks a GeoJSON file of units and grids as `check` does and, if it has no errors,
    /// stores it in the database in place of the layer stored there, in one transaction.
    Import {
        /// The file (a FeatureCollection; `-` reads standard input).
        file: PathBuf,
        /// Overlaps, gaps and overreach at least this large (m²) are errors, smaller ones warnings.
        #[arg(long, default_value_t = 1.0)]
        tolerance_m2: f64,
        /// NATS of the nodes serving this database (`nats://host[:port]`): they are told
        /// of the new layer at once instead of finding it at their next look.
        #[arg(long, env = "GRIDLINK_NATS_URL")]
        nats: Option<String>,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Writes the layer stored in the database as GeoJSON.
    Export {
        /// Where to write it; standard output if not given.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
}

/// Runs a parsed command line; the exit code says how it went. `matches` tell which
/// values were given (on the command line or in the environment) and which are defaults.
pub fn run(cli: Cli, matches: &ArgMatches) -> ExitCode {
    match cli.command {
        Command::Serve {
            config,
            bind,
            demo,
            snap_tolerance_m,
            categories,
            calendars,
            database,
            push_allow_hosts,
            push_subject,
            push_timeout_ms,
            test_clock,
            trusted_proxy_header,
            trusted_proxies,
            basemap,
            mqtt,
            nats,
            cors_origins,
            metrics_token,
            metrics_bind,
            seal_keys,
        } => {
            let push =
                PushSettings { allow_hosts: push_allow_hosts, subject: push_subject, timeout_ms: push_timeout_ms };
            let flags = Settings {
                bind,
                demo,
                snap_tolerance_m,
                categories,
                calendars,
                database,
                push,
                sync: Default::default(),
                test_clock,
                proxy: crate::settings::ProxySettings { header: trusted_proxy_header, proxies: trusted_proxies },
                limits: Default::default(),
                basemap,
                stats: Default::default(),
                workflow: Default::default(),
                mqtt,
                nats,
                security: crate::settings::SecuritySettings { cors_origins, metrics_token, metrics_bind },
                seal_keys,
                position_ttl_days: crate::settings::DEFAULT_POSITION_TTL_DAYS,
            };
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
        Command::Grids { command: GridsCommand::Demo { out: _, sources: Some(dir) } } => fuse::demo_sources(&dir),
        Command::Grids { command: GridsCommand::Demo { out, sources: None } } => grids_demo(out),
        Command::Grids {
            command:
                GridsCommand::Fuse { base, layers, communities, out, previous, snap_m, min_area_m2, min_width_m, json },
        } => fuse::grids_fuse(fuse::FuseArgs {
            base,
            layers,
            communities,
            out,
            previous,
            options: geodata::fuse::FuseOptions { snap_m, min_area_m2, min_width_m },
            json,
        }),
        Command::Grids { command: GridsCommand::Import { file, tolerance_m2, nats, database } } => {
            grids_import(&file, tolerance_m2, nats.as_deref(), &database)
        }
        Command::Grids { command: GridsCommand::Export { out, database } } => grids_export(out, &database),
        Command::Migrate { database } => migrate(&database),
        Command::Users { command: UsersCommand::Add { login, role, unit, name, database } } => {
            users_add(&login, &role, &unit, name, &database)
        }
        Command::Users { command: UsersCommand::Move { login, role, unit, database } } => {
            users_move(&login, role, unit, &database)
        }
        Command::Users { command: UsersCommand::PurgeDemo { database } } => users_purge_demo(&database),
        Command::Users { command: UsersCommand::Disable { login, database } } => users::disable(&login, &database),
        Command::Users { command: UsersCommand::Enable { login, database } } => users::enable(&login, &database),
        Command::Users { command: UsersCommand::Password { login, password_stdin: _, database } } => {
            users::set_password(&login, &database)
        }
        Command::Users { command: UsersCommand::List { filter, database } } => {
            users::list(filter.as_deref(), &database)
        }
        Command::Keys { command: KeysCommand::Add { name, contact, database } } => {
            keys_add(&name, contact.as_deref(), &database)
        }
        Command::Keys { command: KeysCommand::List { database } } => keys_list(&database),
        Command::Keys { command: KeysCommand::Revoke { id, database } } => keys_revoke(&id, &database),
        Command::Sensors { command } => sensors::run(command),
        Command::Audit { command } => audit::run(command),
        Command::Seal { command } => seal(command),
    }
}

/// An RFC 3339 instant, as Unix ms.
fn parse_instant(s: &str) -> Result<i64, String> {
    crate::clock::parse_rfc3339(s).ok_or_else(|| format!("{s:?} is not an RFC 3339 instant"))
}

/// A role by name, checked against the unit it is bound to: a statistical code for a
/// unit, a department's own code for department staff.
fn role_and_unit(role: &str, unit: &str) -> Result<auth::Role, String> {
    let role: auth::Role =
        role.parse().map_err(|e| format!("{e}; roles: {}", auth::Role::ALL.map(auth::Role::as_str).join(", ")))?;
    let unit_ok = if role == auth::Role::DepartmentStaff {
        !unit.is_empty() && unit.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    } else {
        geodata::AreaCode::parse(unit).is_ok()
    };
    if unit_ok { Ok(role) } else { Err(format!("{unit:?} is not a unit code for a {role}")) }
}

fn users_move(login: &str, role: Option<String>, unit: Option<String>, url: &str) -> ExitCode {
    let db = match Database::open(url, 1).and_then(|db| db.migrate().map(|()| db)) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let user = match db.read(|c| auth::user_by_login(c, login)) {
        Ok(Some(user)) => user,
        Ok(None) => return fail(format!("no account {login:?}")),
        Err(e) => return fail(e),
    };
    let role = role.unwrap_or_else(|| user.role.clone());
    let unit = unit.unwrap_or_else(|| user.unit_code.clone());
    let role = match role_and_unit(&role, &unit) {
        Ok(role) => role,
        Err(e) => return fail(e),
    };
    match db.write(|c| auth::move_user(c, &user.id, role, &unit)) {
        Ok(()) => {
            let _ =
                writeln!(std::io::stdout(), "{login} is now {role} of {unit}; its phones start again from a snapshot");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn users_purge_demo(url: &str) -> ExitCode {
    // Purging must not leave an empty database behind where there was none.
    if let Ok(Target::Sqlite(path)) = Target::parse(url)
        && !Path::new(&path).exists()
    {
        return fail(format!("there is no database at {path}"));
    }
    let db = match open_migrated(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let purged = match auth::demo::purge(&db) {
        Ok(purged) => purged,
        Err(e) => return fail(e),
    };
    let auth::demo::Purged { accounts, sessions, subscriptions, keys, was_marked } = purged;
    let key =
        if keys > 0 { "the demo's Open311 API key `demo-key` revoked" } else { "no demo Open311 API key to revoke" };
    let text = if accounts == 0 && keys == 0 && !was_marked {
        "no demo accounts to disable, and the database is not marked as the demo's: nothing changed".to_owned()
    } else {
        format!(
            "disabled {accounts} demo account(s): their logins are refused (the password `demo` replaced by one \
             nobody knows), {sessions} session(s) revoked, {subscriptions} push subscription(s) removed; the \
             accounts stay, so the cases' history still names them\n\
             {key}\n\
             the database is no longer marked as the demo's: it may be served on any address, and `serve --demo` \
             is refused on it from now on"
        )
    };
    match writeln!(std::io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Opens a database that must exist already (an operator's typo must not leave an empty
/// one behind) and brings its schema up to date.
fn open_existing(url: &str) -> Result<Database, String> {
    if let Ok(Target::Sqlite(path)) = Target::parse(url)
        && !Path::new(&path).exists()
    {
        return Err(format!("there is no database at {path}"));
    }
    open_migrated(url).map_err(|e| e.to_string())
}

fn keys_add(name: &str, contact: Option<&str>, url: &str) -> ExitCode {
    let (name, contact) = match crate::open311::keys::check_name(name, contact) {
        Ok(checked) => checked,
        Err(e) => return fail(e),
    };
    let db = match open_migrated(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let key = crate::open311::keys::new_key();
    let issued = db.write(|c| {
        let issued = crate::open311::keys::insert(c, &name, contact.as_deref(), &key, auth::now_ms())?;
        let data = serde_json::json!({"name": issued.name, "key": "open311", "via": "cli"});
        auth::accounts::audit(c, "key_added", None, &issued.id, data)?;
        Ok(issued)
    });
    match issued {
        Ok(issued) => {
            // The key alone on standard output (`KEY=$(gridlink keys add …)`); the rest for people.
            let _ = writeln!(std::io::stdout(), "{key}");
            let _ = writeln!(
                std::io::stderr(),
                "issued Open311 API key {} to {name}: give it to the client now; only its hash is kept, so it \
                 is never shown again",
                issued.id
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn keys_list(url: &str) -> ExitCode {
    let db = match open_existing(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let keys = match db.read(crate::open311::keys::list) {
        Ok(keys) => keys,
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout().lock();
    let mut said = writeln!(out, "id\tname\tcreated\trevoked");
    for k in &keys {
        if said.is_err() {
            break;
        }
        let revoked = k.revoked_at_ms.map_or_else(|| "-".to_owned(), crate::clock::rfc3339);
        said = writeln!(out, "{}\t{}\t{}\t{revoked}", k.id, k.name, crate::clock::rfc3339(k.created_at_ms));
    }
    match said {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn keys_revoke(id: &str, url: &str) -> ExitCode {
    let db = match open_existing(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let via = serde_json::json!({"key": "open311", "via": "cli"});
    match db.write(|c| crate::open311::keys::revoke_audited(c, id, auth::now_ms(), None, via)) {
        Ok(Some(key)) => {
            let at = key.revoked_at_ms.map(crate::clock::rfc3339).unwrap_or_default();
            let _ = writeln!(
                std::io::stdout(),
                "revoked Open311 API key {} ({}) at {at}: its requests are refused from now on",
                key.id,
                key.name
            );
            ExitCode::SUCCESS
        }
        Ok(None) => refuse(format!("no Open311 API key {id}; `gridlink keys list` shows them")),
        Err(e) => fail(e),
    }
}

fn users_add(login: &str, role: &str, unit: &str, name: Option<String>, url: &str) -> ExitCode {
    let login = login.trim();
    if login.is_empty() || login.chars().any(char::is_whitespace) {
        return fail(format!("the login {login:?} must be non-empty, without spaces"));
    }
    let role = match role_and_unit(role, unit) {
        Ok(role) => role,
        Err(e) => return fail(e),
    };
    let password = match users::read_password() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(weak) = auth::password::check(&password, login) {
        return fail(format!("{weak} (the password was read from standard input)"));
    }
    let hash = match auth::hash_password(&password) {
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
    let added = db.write(|c| {
        auth::insert_user(c, &user)?;
        let data = serde_json::json!({"login": user.login, "role": user.role, "unit": user.unit_code, "via": "cli"});
        auth::accounts::audit(c, "user_added", None, &user.id, data)
    });
    match added {
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

/// `gridlink seal new-key|reseal`.
fn seal(command: SealCommand) -> ExitCode {
    match command {
        SealCommand::NewKey { keys } => match crate::seal::append_new_key(&keys) {
            Ok(id) => {
                let _ = writeln!(std::io::stdout(), "{id}");
                let _ = writeln!(
                    std::io::stderr(),
                    "key {id} appended to {}: it seals new values from the next start; keep a backup of the file",
                    keys.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        SealCommand::Reseal { keys, database } => {
            let db = match Database::open(&database, 2).and_then(|db| db.migrate().map(|()| db)) {
                Ok(db) => db,
                Err(e) => return fail(e),
            };
            match crate::seal::store::reseal(&db, &database, &keys, auth::now_ms()) {
                Ok(n) => {
                    let _ = writeln!(std::io::stderr(), "{n} value(s) sealed again under the newest key");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    telemetry::init();
    let settings = match settings.validate() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let listener = match crate::startup::bind(settings.bind) {
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

/// Reads a file of units and grids and checks it; the exit code when that cannot be done.
fn read_and_check(file: &PathBuf, tolerance_m2: f64) -> Result<Checked, ExitCode> {
    if !(tolerance_m2.is_finite() && tolerance_m2 >= 0.0) {
        return Err(fail(format!("--tolerance-m2 must be a non-negative number, not {tolerance_m2}")));
    }
    let text = match read_input(file) {
        Ok(t) => t,
        Err(e) => return Err(fail(format!("cannot read {}: {e}", file.display()))),
    };
    Ok(check_geojson(&text, &Tolerances { area_m2: tolerance_m2, ..Tolerances::default() }))
}

fn grids_check(file: &PathBuf, json: bool, tolerance_m2: f64) -> ExitCode {
    let checked = match read_and_check(file, tolerance_m2) {
        Ok(c) => c,
        Err(code) => return code,
    };
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
    write_layer(&layer, out.as_deref())
}

/// Writes a layer as GeoJSON to a file, or to standard output.
fn write_layer(layer: &Layer, out: Option<&Path>) -> ExitCode {
    let text = geodata::geojson::write_layer(layer).to_string();
    let written = match out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => writeln!(std::io::stdout().lock(), "{text}").map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Refuses with exit code 1: the input (or the stored layer) is not what was asked for.
fn refuse(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "gridlink: {message}");
    ExitCode::FAILURE
}

/// Opens the database and brings its schema up to date.
fn open_migrated(url: &str) -> Result<Database, StoreError> {
    let db = Database::open(url, 1)?;
    db.migrate()?;
    Ok(db)
}

/// A bar on standard error for writing `total` rows, drawn only where standard error is a
/// terminal (so pipes and logs get no control characters) and only when there are many.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 1_000 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("storing {bar:40} {pos}/{len} units and grids") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn grids_import(file: &PathBuf, tolerance_m2: f64, nats: Option<&str>, url: &str) -> ExitCode {
    let checked = match read_and_check(file, tolerance_m2) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    if !checked.report.problems.is_empty()
        && let Err(e) = writeln!(out, "{}", checked.report)
    {
        return fail(e);
    }
    let input = if file.as_os_str() == "-" { "standard input".to_owned() } else { file.display().to_string() };
    let Some(layer) = checked.layer else {
        return refuse(format!("{input} has errors; nothing was imported"));
    };
    let grids = layer.grids().count();
    if grids == 0 {
        return refuse(format!("{input} holds no grids; nothing was imported"));
    }
    let db = match open_migrated(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let bar = progress_bar(layer.len());
    let saved = db.write(|c| {
        let generation = layer_store::save_layer(c, &layer, &mut |done, _| bar.set_position(done as u64))?;
        // Counted with the new layer, before anyone can re-place them.
        Ok((generation, crate::incidents::store::count_in_vanished_grids(c)?))
    });
    bar.finish_and_clear();
    let (generation, left) = match saved {
        Ok(saved) => saved,
        Err(e) => return fail(format!("nothing was imported: {e}")),
    };
    if let Some(nats) = nats {
        tell_the_nodes(&db, nats, generation);
    }
    let units = layer.len() - grids;
    let mut said = writeln!(out, "imported {units} units and {grids} grids (layer generation {generation})");
    if said.is_ok() {
        // Running servers swap the layer in within seconds and re-place these cases by
        // their location (`incidents::replace`); a server starting later does it then.
        said = writeln!(
            out,
            "{left} open case(s) lie in grids the layer no longer has: the servers re-place them by their \
             location as they take the new layer in (running ones within seconds, others when they start)"
        );
    }
    match said {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Tells the nodes on NATS that layer `generation` was stored. Only a warning if it
/// cannot: they find the layer at their next look anyway.
fn tell_the_nodes(db: &Database, nats: &str, generation: i64) {
    let told = (|| {
        let servers = crate::cluster::link::servers(nats)?;
        let name = db.write(crate::cluster::store::name).map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let message = crate::cluster::Message::Grids { generation };
        runtime.block_on(crate::cluster::link::tell_once(servers, &name, &message, std::time::Duration::from_secs(3)))
    })();
    if let Err(e) = told {
        eprintln!("warning: the nodes were not told over NATS ({e}); they take the layer in at their next look");
    }
}

fn grids_export(out: Option<PathBuf>, url: &str) -> ExitCode {
    // Reading must not leave an empty database behind where there was none.
    if let Ok(Target::Sqlite(path)) = Target::parse(url)
        && !Path::new(&path).exists()
    {
        return fail(format!("there is no database at {path}"));
    }
    let db = match open_migrated(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    match db.read(|c| Ok(layer_store::load_layer(c))) {
        Ok(Ok(Some(layer))) => write_layer(&layer, out.as_deref()),
        Ok(Ok(None)) => refuse("no grid layer is stored in the database; `gridlink grids import FILE` stores one"),
        Ok(Err(e)) => fail(e),
        Err(e) => fail(e),
    }
}

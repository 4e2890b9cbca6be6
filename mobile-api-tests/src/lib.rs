//! The gridlink server seen from outside.
//!
//! [`TestServer::spawn`] starts a real server on a free loopback port (port 0) with the
//! demo area on a fresh SQLite file; [`TestServer::spawn_on`] does the same on a fresh
//! PostgreSQL database (127.0.0.1:5432, or `GRIDLINK_TEST_POSTGRES`), dropped when the
//! test ends. Tests talk to it over real HTTP, as phones and Open311 clients do. Under
//! CI (`CI=true`) an unreachable PostgreSQL fails a test rather than skipping it. Later
//! issues add phones over real WebSockets and the load generator here. Tests that run
//! the command line as an operator does (`gridlink grids import` into a running
//! deployment) get the real binary from [`gridlink_binary`].

use std::net::TcpListener;

use diesel::connection::SimpleConnection;
use gridlink::store::Database;

use gridlink::settings::Settings;
use gridlink::startup::Application;

pub mod county;
pub mod load;
pub mod push_service;

/// The bearer token of the test servers' `/metrics` (unless a test's settings say otherwise).
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// Which database a test server stores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in the temporary folder.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A running server and a client for it.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The server's database URL, for tests that set the scene behind the API's back.
    pub database_url: String,
    /// The server's database, removed when the test (and so the server) is done.
    _database: Scratch,
    /// Stops the server.
    handle: actix_web::dev::ServerHandle,
    /// Fails the test if the server answered an error kind its route does not list.
    _declared: Declared,
}

/// Fails the test when it is done (dropped) if its server answered an error of a kind
/// the route does not list in its OpenAPI description (`gridlink::openapi::ROUTES`).
struct Declared(gridlink::problem::Undeclared);

impl Drop for Declared {
    fn drop(&mut self) {
        let undeclared = self.0.count();
        if undeclared > 0 && !std::thread::panicking() {
            panic!(
                "the server answered {undeclared} error(s) of a kind the route does not list in \
                 gridlink::openapi::ROUTES (the log names them: GRIDLINK_TEST_LOG=error)"
            );
        }
    }
}

/// A test's own database, removed when the test is done; a SQLite file's key file is
/// the one the server makes beside it, a PostgreSQL database's is made here.
enum Scratch {
    Sqlite(std::path::PathBuf),
    Postgres { admin: String, name: String, keys: std::path::PathBuf },
}

impl Scratch {
    /// The key file the server is told of (none for SQLite: the default beside the file).
    fn keys(&self) -> Option<std::path::PathBuf> {
        match self {
            Scratch::Sqlite(_) => None,
            Scratch::Postgres { keys, .. } => Some(keys.clone()),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match self {
            Scratch::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm", ".keys"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Scratch::Postgres { admin, name, keys } => {
                let _ = std::fs::remove_file(keys);
                if let Ok(db) = Database::open(admin, 1) {
                    let _ = db.read(|c| c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
                }
            }
        }
    }
}

/// The PostgreSQL server tests use: its admin URL (ending in `/<database>`).
pub fn postgres_admin_url() -> String {
    std::env::var("GRIDLINK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh PostgreSQL database and its URL; `None` (skip) when PostgreSQL cannot be
/// reached outside CI.
fn scratch_postgres() -> Result<Option<(Scratch, String)>, SpawnError> {
    let admin = postgres_admin_url();
    let db = Database::open(&admin, 1).and_then(|db| db.read(|c| c.batch_execute("SELECT 1")).map(|_| db));
    let db = match db {
        Ok(db) => db,
        Err(e) if std::env::var("CI").is_ok() => {
            return Err(SpawnError(format!("PostgreSQL is required under CI: {e}")));
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL: {e}");
            return Ok(None);
        }
    };
    let name = format!("gridlink_e2e_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    db.read(|c| c.batch_execute(&format!("CREATE DATABASE {name}"))).map_err(|e| SpawnError(e.to_string()))?;
    let (base, _) = admin.rsplit_once('/').ok_or_else(|| SpawnError("the admin URL must end in /<database>".into()))?;
    let url = format!("{base}/{name}");
    let keys = std::env::temp_dir().join(format!("{name}.keys"));
    gridlink::seal::append_new_key(&keys).map_err(|e| SpawnError(e.to_string()))?;
    Ok(Some((Scratch::Postgres { admin, name, keys }, url)))
}

/// A fresh PostgreSQL database of a test's own, with a sealing key file, both removed
/// when dropped: for tests that start `gridlink` processes on it themselves.
pub struct OwnPostgres {
    /// The database's URL.
    pub url: String,
    /// The key file to start servers on it with (`--seal-keys`).
    pub keys: std::path::PathBuf,
    _scratch: Scratch,
}

impl OwnPostgres {
    /// A fresh database; `Ok(None)` (skip) when PostgreSQL cannot be reached outside CI.
    pub fn create() -> Result<Option<OwnPostgres>, SpawnError> {
        let Some((scratch, url)) = scratch_postgres()? else { return Ok(None) };
        let keys = scratch.keys().ok_or_else(|| SpawnError("a PostgreSQL scratch has a key file".into()))?;
        Ok(Some(OwnPostgres { url, keys, _scratch: scratch }))
    }
}

/// Why a test server could not start.
#[derive(Debug)]
pub struct SpawnError(pub String);

/// A fresh SQLite file for one test server, in the system's temporary folder.
fn scratch_database() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("gridlink-test-{}-{n}.db", std::process::id()))
}

impl TestServer {
    /// Starts a server with the demo area on a free port and a fresh SQLite file, in the
    /// current tokio runtime.
    pub async fn spawn() -> Result<TestServer, SpawnError> {
        Self::spawn_on(Backend::Sqlite).await?.ok_or_else(|| SpawnError("SQLite is always there".into()))
    }

    /// Starts a server with the demo area on a fresh database of `backend`; `Ok(None)`
    /// when that is PostgreSQL and it cannot be reached outside CI (the test skips).
    pub async fn spawn_on(backend: Backend) -> Result<Option<TestServer>, SpawnError> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestServer::spawn_on`], with settings changed by `configure` first (e.g. the
    /// push allowlist of a test push service).
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Result<Option<TestServer>, SpawnError> {
        let (database, url) = match backend {
            Backend::Sqlite => {
                let path = scratch_database();
                let url = format!("sqlite://{}", path.display());
                (Scratch::Sqlite(path), url)
            }
            Backend::Postgres => match scratch_postgres()? {
                Some(found) => found,
                None => return Ok(None),
            },
        };
        let (base, handle, declared) = Self::start(&url, database.keys(), configure).await?;
        // Idle connections are dropped well before the server's keep-alive (5 s) closes
        // them, so that a slow test never sends on a connection the server is closing.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .map_err(|e| SpawnError(e.to_string()))?;
        Ok(Some(TestServer { base, client, database_url: url, _database: database, handle, _declared: declared }))
    }

    /// Starts a server on the database `url`: its base URL, a handle that stops it, and its
    /// check of the error kinds answered.
    async fn start(
        url: &str,
        keys: Option<std::path::PathBuf>,
        configure: impl FnOnce(&mut Settings),
    ) -> Result<(String, actix_web::dev::ServerHandle, Declared), SpawnError> {
        // `GRIDLINK_TEST_LOG=debug` shows what the servers log (`cargo test -- --nocapture`).
        if let Ok(filter) = std::env::var("GRIDLINK_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let url = url.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| SpawnError(e.to_string()))?;
        let mut settings = Settings {
            bind: listener.local_addr().map_err(|e| SpawnError(e.to_string()))?,
            demo: true,
            snap_tolerance_m: 50.0,
            categories: None,
            calendars: None,
            database: url.clone(),
            push: Default::default(),
            sync: Default::default(),
            test_clock: None,
            proxy: Default::default(),
            limits: Default::default(),
            basemap: None,
            stats: Default::default(),
            workflow: Default::default(),
            mqtt: None,
            nats: None,
            seal_keys: keys,
            position_ttl_days: gridlink::settings::DEFAULT_POSITION_TTL_DAYS,
            // /metrics is served only with a token: the tests' servers have this one.
            security: gridlink::settings::SecuritySettings {
                metrics_token: Some(METRICS_TOKEN.to_owned()),
                ..Default::default()
            },
        };
        configure(&mut settings);
        let app = Application::build(&settings, listener).map_err(|e| SpawnError(e.to_string()))?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let declared = Declared(app.undeclared_errors());
        tokio::spawn(app.run_until_stopped());
        Ok((base, handle, declared))
    }

    /// Stops this server (its requests, sockets and background tasks) and starts another on
    /// the same database with settings changed by `configure` (e.g. a test clock days
    /// later), as an operator restarting it would.
    pub async fn restart_with(self, configure: impl FnOnce(&mut Settings)) -> Result<TestServer, SpawnError> {
        self.handle.stop(true).await;
        let (base, handle, declared) = Self::start(&self.database_url, self._database.keys(), configure).await?;
        Ok(TestServer { base, handle, _declared: declared, ..self })
    }

    /// Starts another server on this one's database with settings changed by `configure`
    /// and stops it at once: `Err` says why it would not start (a start-up check, such as
    /// a missing or wrong sealing key).
    pub async fn try_start(&self, configure: impl FnOnce(&mut Settings)) -> Result<(), SpawnError> {
        let (_, handle, _) = Self::start(&self.database_url, self._database.keys(), configure).await?;
        handle.stop(true).await;
        Ok(())
    }

    /// The key file the server seals personal data with: the one beside a SQLite file,
    /// the one made for a PostgreSQL database.
    pub fn seal_keys_file(&self) -> std::path::PathBuf {
        match &self._database {
            Scratch::Sqlite(path) => gridlink::seal::default_key_file(&path.display().to_string()),
            Scratch::Postgres { keys, .. } => keys.clone(),
        }
    }

    /// Moves the server's test clock ahead by `ms` (the server must have been started with
    /// `test_clock`); the new now, in Unix ms.
    pub async fn advance_clock(&self, ms: i64) -> Result<i64, SpawnError> {
        let (status, _, body) = self
            .post("/api/v1/test/clock", &serde_json::json!({"advance_ms": ms}))
            .await
            .map_err(|e| SpawnError(e.to_string()))?;
        match body["now_ms"].as_i64() {
            Some(now) if status == 200 => Ok(now),
            _ => Err(SpawnError(format!("moving the clock: {status} {body}"))),
        }
    }

    /// Waits until each background loop named in `loops` (`deadlines`, `uploads`, `grids`)
    /// has finished a whole pass begun after this call: how a test shows that something
    /// does *not* happen, without sleeping for a guessed while. Needs a test clock, which
    /// it nudges by 0 ms to wake the loops that follow it.
    pub async fn settle(&self, loops: &[&str]) -> Result<(), SpawnError> {
        let passes = async || -> Result<serde_json::Value, SpawnError> {
            match self.get("/api/v1/test/clock").await {
                Ok((200, _, body)) => Ok(body["passes"].clone()),
                Ok((status, _, body)) => Err(SpawnError(format!("reading the clock: {status} {body}"))),
                Err(e) => Err(SpawnError(e.to_string())),
            }
        };
        let count = |passes: &serde_json::Value, name: &str| passes[name].as_u64().unwrap_or(0);
        let before = passes().await?;
        self.advance_clock(0).await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let now = passes().await?;
            // One more than the pass under way when we looked, if any.
            if loops.iter().all(|name| count(&now, name) >= count(&before, name) + 2) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(SpawnError(format!("the loops {loops:?} did not look again within a minute: {now}")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The sync socket's URL.
    pub fn ws_url(&self) -> String {
        format!("{}/api/v1/sync", self.base.replacen("http://", "ws://", 1))
    }

    /// A phone of the demo account `login` (password `demo`), not yet connected.
    pub async fn phone(&self, login: &str, device_id: &str) -> Result<sync_protocol::phone::Phone, SpawnError> {
        let token = self.login(login).await?;
        Ok(sync_protocol::phone::Phone::new(self.ws_url(), token, device_id))
    }

    /// Logs in with the demo password; the bearer token.
    pub async fn login(&self, login: &str) -> Result<String, SpawnError> {
        let body = serde_json::json!({"login": login, "password": "demo"});
        let (status, _, body) = self.post("/api/v1/auth/login", &body).await.map_err(|e| SpawnError(e.to_string()))?;
        match body["token"].as_str() {
            Some(token) if status == 200 => Ok(token.to_owned()),
            _ => Err(SpawnError(format!("login {login}: {status} {body}"))),
        }
    }

    /// POST a JSON body to `path` and return the status, content type and JSON body.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let response = self.client.post(format!("{}{path}", self.base)).json(body).send().await?;
        Self::read(response).await
    }

    async fn read(response: reqwest::Response) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().await?;
        Ok((status, content_type, body))
    }

    /// POST a JSON body with a bearer token; returns the status and the body (JSON, or
    /// `null` when empty).
    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let response = self.client.post(format!("{}{path}", self.base)).bearer_auth(token).json(body).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)))
    }

    /// GET with a bearer token; returns the status and the JSON body.
    pub async fn get_as(&self, token: &str, path: &str) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?;
        let (status, _, body) = Self::read(response).await?;
        Ok((status, body))
    }

    /// GET `path` (with its query string) and return the status, content type and JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let response = self.client.get(format!("{}{path}", self.base)).send().await?;
        Self::read(response).await
    }
}

/// This package's folder, as cargo names it when it runs the tests: not the one baked in
/// at compile time, which a build directory shared by several clones may have compiled
/// in another (since deleted) clone.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of any file under a folder (`target` and
/// `node_modules` aside).
fn newest(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let own = modified(path);
    let Ok(entries) = std::fs::read_dir(path) else { return own };
    entries
        .filter_map(Result::ok)
        .filter(|e| !matches!(e.file_name().to_str(), Some("target" | "node_modules" | "test-results")))
        .filter_map(|e| newest(&e.path()))
        .chain(own)
        .max()
}

/// The `gridlink` binary, so that tests run the command line exactly as an operator does,
/// with the code under test: the one `cargo test --workspace` built beside the tests when
/// it is newer than its sources, else built by cargo with the tests' own profile the first
/// time a test asks.
pub fn gridlink_binary() -> Result<std::path::PathBuf, SpawnError> {
    static BUILT: std::sync::OnceLock<Result<std::path::PathBuf, String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        // The tests run from target/<profile dir>/deps: build the binary the same way.
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // `cargo test --workspace` has built it beside the tests already: take it when it
        // is newer than every source it is built from, rather than building it again in
        // another profile (minutes on a small machine).
        let beside = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(|dir| dir.join(format!("gridlink{}", std::env::consts::EXE_SUFFIX)));
        let built_at = beside.as_deref().and_then(modified);
        let root = manifest_dir().join("..");
        let sources = [
            "server/src",
            "server/build.rs",
            "server/Cargo.toml",
            "server/web/dist",
            "geodata/src",
            "geodata/data",
            "geodata/Cargo.toml",
            "sync-protocol/src",
            "sync-protocol/Cargo.toml",
            "migrations",
            "Cargo.lock",
        ]
        .map(|p| root.join(p));
        if let (Some(beside), Some(built_at)) = (beside, built_at)
            && sources.iter().all(|s| newest(s).is_none_or(|t| t <= built_at))
        {
            return Ok(beside);
        }
        let release = exe.parent().and_then(|deps| deps.parent()).is_some_and(|dir| dir.ends_with("release"));
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .args(["build", "-p", "gridlink", "--bin", "gridlink", "--message-format=json"])
            .args(if release { ["--profile", "release"] } else { ["--profile", "test"] })
            .current_dir(manifest_dir())
            .stderr(std::process::Stdio::inherit());
        let out = cargo.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!("cargo could not build gridlink ({})", out.status));
        }
        // The artifact cargo reports is where the binary is, whatever the target dir.
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "gridlink")
            .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
            .ok_or_else(|| "cargo built no gridlink executable".to_owned())
    });
    built.clone().map_err(SpawnError)
}

/// Reads what a `gridlink serve` process started with piped standard output and error
/// logs, into the shared string it returns, until the process ends; and its base URL
/// (`http://…`) once it says it listens, or `None` if it has not within `within`.
pub fn follow_log(
    child: &mut std::process::Child,
    within: std::time::Duration,
) -> (std::sync::Arc<std::sync::Mutex<String>>, Option<String>) {
    use std::io::BufRead;
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (found, listening) = std::sync::mpsc::channel();
    let streams = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let (log, found) = (log.clone(), found.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(url) = line.split("gridlink is listening on ").nth(1) {
                    let _ = found.send(url.trim().to_owned());
                }
                let mut log = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let base = listening.recv_timeout(within).ok();
    (log, base)
}

/// A scenario's servers: one on SQLite and, when PostgreSQL can be reached (always under
/// CI), one on PostgreSQL, each with settings changed by `configure` first.
pub async fn servers_with(configure: impl Fn(&mut Settings)) -> Vec<TestServer> {
    let sqlite = TestServer::spawn_with(Backend::Sqlite, &configure).await;
    let mut servers = vec![sqlite.ok().flatten().unwrap_or_else(|| panic!("no test server on SQLite"))];
    match TestServer::spawn_with(Backend::Postgres, &configure).await {
        Ok(postgres) => servers.extend(postgres),
        Err(e) => panic!("no test server on PostgreSQL: {e:?}"),
    }
    servers
}

/// A scenario's servers with the demo's settings: SQLite, and PostgreSQL when it can be reached.
pub async fn servers() -> Vec<TestServer> {
    servers_with(|_| {}).await
}

/// The demo layer, built once per test process: it is fused from three source layers,
/// which takes a second or two in a test build, so tests must not rebuild it per call.
pub fn demo_layer() -> Option<&'static geodata::Layer> {
    static DEMO: std::sync::OnceLock<Option<geodata::Layer>> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| geodata::demo::layer().ok()).as_ref()
}

/// A point well inside a demo grid (the centroid of a grid that holds the 200 m square
/// around it), and that grid's code.
pub fn demo_point(nth: usize) -> (f64, f64, String) {
    use geo::{Centroid, Contains, Rect};
    let Some(layer) = demo_layer() else { return (0.0, 0.0, String::new()) };
    let inside = |g: &geodata::Unit| {
        let c = g.geometry.centroid()?;
        let d = 0.001;
        g.geometry.contains(&Rect::new((c.x() - d, c.y() - d), (c.x() + d, c.y() + d))).then_some(c)
    };
    let full: Vec<(geo::Point<f64>, &geodata::Unit)> = layer.grids().filter_map(|g| Some((inside(g)?, g))).collect();
    // Spread over the county, so that different `nth` land in different townships.
    match full.get((nth * 997) % full.len().max(1)) {
        Some((c, g)) => (c.x(), c.y(), g.code.to_string()),
        None => (0.0, 0.0, String::new()),
    }
}

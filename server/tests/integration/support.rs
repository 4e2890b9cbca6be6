//! What the server's integration tests share: a fresh database per test on each backend
//! — SQLite in a temporary file, PostgreSQL on 127.0.0.1:5432 (or
//! `GRIDLINK_TEST_POSTGRES`), dropped afterwards; the write path and a case to open
//! through it; and the `gridlink` binary, for the tests that run it as an operator does.
//! Under CI (`CI=true`) an unreachable PostgreSQL fails the tests instead of skipping them.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use gridlink::calendar::Calendars;
use gridlink::categories::CategoryTree;
use gridlink::incidents::act::{NewCase, WritePath};
use gridlink::store::Database;
use gridlink::sync::hub::{Notifier, Touched};

/// A database for one test; a PostgreSQL one is dropped when the guard goes.
pub struct TestDb {
    /// `sqlite` or `postgres`, for messages.
    pub name: &'static str,
    /// The database, migrated.
    pub db: Database,
    /// Its URL, for the binary.
    pub url: String,
    _guard: Option<ScratchPg>,
    _file: Option<DropSqlite>,
}

/// Removes a SQLite test database and its journal files.
struct DropSqlite(std::path::PathBuf);

impl Drop for DropSqlite {
    fn drop(&mut self) {
        remove_database(&self.0);
    }
}

/// Removes a SQLite database file and its journal files.
pub fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", ".keys"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A fresh, empty PostgreSQL database, dropped when this goes.
pub struct ScratchPg {
    /// Its URL.
    pub url: String,
    admin: String,
    database: String,
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database));
        }
    }
}

/// A name no other test uses.
pub fn unique() -> String {
    format!("{}_{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

/// A fresh, migrated SQLite database.
pub fn sqlite() -> TestDb {
    let path = std::env::temp_dir().join(format!("gridlink-store-{}.db", unique()));
    let url = format!("sqlite://{}", path.display());
    let db = Database::open(&url, 4).unwrap();
    db.migrate().unwrap();
    let db = db.with_keys(test_keys());
    TestDb { name: "sqlite", db, url, _guard: None, _file: Some(DropSqlite(path)) }
}

/// A fresh, empty PostgreSQL database; `None` when PostgreSQL cannot be reached outside CI.
pub fn scratch_postgres() -> Option<ScratchPg> {
    let admin = std::env::var("GRIDLINK_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = match PgConnection::establish(&admin) {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").is_ok() => panic!("PostgreSQL is required under CI: {e}"),
        Err(e) => {
            eprintln!("skipping PostgreSQL: {e}");
            return None;
        }
    };
    let database = format!("gridlink_test_{}", unique());
    conn.batch_execute(&format!("CREATE DATABASE {database}")).unwrap();
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => panic!("GRIDLINK_TEST_POSTGRES must end in /<database>"),
    };
    Some(ScratchPg { url, admin, database })
}

/// A fresh, migrated PostgreSQL database; `None` when PostgreSQL cannot be reached outside CI.
pub fn postgres() -> Option<TestDb> {
    let scratch = scratch_postgres()?;
    let db = Database::open(&scratch.url, 8).unwrap();
    db.migrate().unwrap();
    let db = db.with_keys(test_keys());
    Some(TestDb { name: "postgres", db, url: scratch.url.clone(), _guard: Some(scratch), _file: None })
}

/// This test process's sealing key file (`gridlink::seal`), made once: the library's
/// databases and the binary (through `GRIDLINK_SEAL_KEYS`) seal with the same key.
pub fn key_file() -> &'static std::path::Path {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("gridlink-test-{}.keys", unique()));
        gridlink::seal::append_new_key(&path).unwrap();
        path
    })
}

/// The keys of [`key_file`], for a database written through the library.
pub fn test_keys() -> Arc<gridlink::seal::Keyring> {
    Arc::new(gridlink::seal::Keyring::read(key_file()).unwrap())
}

/// SQLite, and PostgreSQL when it can be reached.
pub fn both() -> Vec<TestDb> {
    std::iter::once(sqlite()).chain(postgres()).collect()
}

/// Remembers every commit it was told of.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Touched>>);

impl Notifier for Recorder {
    fn committed(&self, touched: &Touched) {
        self.0.lock().unwrap().push(touched.clone());
    }
}

/// The one write path on `db`, with the default category tree and the shipped calendars,
/// telling `notifier` of every commit.
pub fn write_path(db: &Database, notifier: Arc<dyn Notifier>) -> WritePath {
    let tree = Arc::new(CategoryTree::default_tree().unwrap());
    WritePath::new(db.clone(), notifier, tree, Arc::new(Calendars::shipped()))
}

/// A resident's report of a missing manhole cover (C0101) at 118.3, 33.9 in `grid` (a
/// grid code of county 321302; the units above it are its code's prefixes), no contact.
pub fn new_case(id: &str, grid: &str) -> NewCase {
    NewCase {
        id: id.to_owned(),
        category: "C0101".into(),
        level: 5,
        chain: [
            format!("{}00", &grid[..4]),
            grid[..6].to_owned(),
            grid[..9].to_owned(),
            grid[..12].to_owned(),
            grid.to_owned(),
        ],
        lon: 118.3,
        lat: 33.9,
        description: "井盖缺失".into(),
        photos: Vec::new(),
        contact: None,
        source: "resident".into(),
        follow_token_hash: "x".into(),
        severity: None,
        claimed_severity: None,
    }
}

/// The actions of case `id`'s trace, oldest first.
pub fn actions(db: &Database, id: &str) -> Vec<String> {
    db.read(|c| gridlink::incidents::store::events_of(c, id)).unwrap().into_iter().map(|e| e.action).collect()
}

/// The binary under test: cargo's, or `GRIDLINK_TEST_BIN` where several worktrees share
/// one target directory and so one `target/debug/gridlink`, which another's build may
/// replace between this build and this run.
/// It seals with the tests' key file ([`key_file`]) unless a test says otherwise.
pub fn gridlink() -> Command {
    let mut command =
        Command::new(std::env::var_os("GRIDLINK_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_gridlink").into()));
    command.env("GRIDLINK_SEAL_KEYS", key_file());
    command
}

/// A running `gridlink`, killed when dropped (also when the test fails).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

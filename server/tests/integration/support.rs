//! What the storage tests share: a fresh database per test on each backend — SQLite in
//! a temporary file, PostgreSQL on 127.0.0.1:5432 (or `GRIDLINK_TEST_POSTGRES`), dropped
//! afterwards. Under CI (`CI=true`) an unreachable PostgreSQL fails the tests instead of
//! skipping them.

#![allow(dead_code)]

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use gridlink::store::Database;

/// A database for one test; a PostgreSQL one is dropped when the guard goes.
pub struct TestDb {
    /// `sqlite` or `postgres`, for messages.
    pub name: &'static str,
    /// The database, migrated.
    pub db: Database,
    _guard: Option<DropPg>,
    _file: Option<DropSqlite>,
}

/// Removes a SQLite test database and its journal files.
struct DropSqlite(std::path::PathBuf);

impl Drop for DropSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

struct DropPg {
    admin: String,
    database: String,
}

impl Drop for DropPg {
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
    let db = Database::open(&format!("sqlite://{}", path.display()), 4).unwrap();
    db.migrate().unwrap();
    TestDb { name: "sqlite", db, _guard: None, _file: Some(DropSqlite(path)) }
}

/// A fresh, migrated PostgreSQL database; `None` when PostgreSQL cannot be reached outside CI.
pub fn postgres() -> Option<TestDb> {
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
    let guard = DropPg { admin, database };
    let db = Database::open(&url, 8).unwrap();
    db.migrate().unwrap();
    Some(TestDb { name: "postgres", db, _guard: Some(guard), _file: None })
}

/// SQLite, and PostgreSQL when it can be reached.
pub fn both() -> Vec<TestDb> {
    std::iter::once(sqlite()).chain(postgres()).collect()
}

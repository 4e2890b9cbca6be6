//! Storage: one code path over SQLite (the embedded default) and PostgreSQL.
//!
//! Queries are written once against [`DbConnection`], diesel's `MultiConnection` over
//! both backends; the variant is chosen from the URL's scheme (`sqlite://PATH` or
//! `postgres://…`), never by trying each. Every SQLite connection gets WAL, a busy
//! timeout, foreign keys and `synchronous = NORMAL`, and every write transaction goes
//! through one in-process writer permit taken before it begins: a deferred SQLite
//! transaction that reads and then writes would otherwise fail with "database is locked"
//! whatever the timeout. Store functions are plain `fn(&mut DbConnection, …) ->
//! QueryResult<T>`, run inside [`Database::read`] or [`Database::write`], off the async
//! workers. Many rows go in with [`insert_rows`], a few statements for the lot.

mod insert;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel_migrations::MigrationHarness;

mod connection {
    // The derive generates public items of its own, without docs.
    #![allow(missing_docs)]

    /// A connection to either backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// PostgreSQL.
        Postgresql(diesel::PgConnection),
        /// SQLite.
        Sqlite(diesel::SqliteConnection),
    }
}

pub use connection::{DbConnection, MultiBackend};
pub use insert::{ROWS_PER_STATEMENT, Rows, insert_rows};

/// Which backend a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file (created if missing).
    Sqlite(String),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we speak.
    #[error("database URL {0:?} must start with sqlite:// or postgres://")]
    BadUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Connect(String),
    /// The migrations failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The transaction a write was made in, with others, did not commit; the write did
    /// not happen (`incidents::act`'s group commit).
    #[error("the transaction did not commit: {0}")]
    NotCommitted(String),
}

impl Target {
    /// Reads a database URL.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_owned()));
            }
            Ok(Target::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres(url.to_owned()))
        } else {
            Err(StoreError::BadUrl(url.to_owned()))
        }
    }
}

/// Opens connections of the right variant for a pool; `reads` marks the reading pool's.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    target: Target,
    reads: bool,
}

/// A pooled connection and when it was last given back to the pool.
///
/// The pool used to check every connection with a `SELECT 1` as it was handed out: a
/// round trip to PostgreSQL on every read and every write, the most frequent statement
/// of the whole server under load (seven per request). A connection given back less
/// than [`RECENTLY_USED`] ago is handed out unchecked; one that has lain idle longer is
/// checked first. A connection that lost its server while in use is not handed out
/// again either: diesel marks its transaction state broken when libpq no longer knows
/// the connection's (`PQTRANS_UNKNOWN`), and [`Manager::has_broken`] drops it.
pub(crate) struct Kept {
    conn: DbConnection,
    returned: Instant,
}

/// How long a connection given back counts as known good (as HikariCP's
/// `aliveBypassWindowMs`, there 500 ms).
const RECENTLY_USED: Duration = Duration::from_secs(1);

impl std::ops::Deref for Kept {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Kept {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            Target::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // A reader's bounds (a cursor, a period) decide which index is cheap: a
                // generic plan of the log's read walked `change_audience_by_seq` past
                // every subject's rows (12.7 ms for 4 rows, against 0.12 ms planned for
                // the cursor at hand). Writers keep cached plans.
                if self.reads {
                    conn.batch_execute("SET plan_cache_mode = force_custom_plan").map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConnection::Postgresql(conn))
            }
            Target::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Kept;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Kept, r2d2::Error> {
        Ok(Kept { conn: self.open()?, returned: Instant::now() })
    }

    fn is_valid(&self, kept: &mut Kept) -> Result<(), r2d2::Error> {
        // An SQLite connection has no server to lose.
        if matches!(kept.conn, DbConnection::Sqlite(_)) || kept.returned.elapsed() < RECENTLY_USED {
            return Ok(());
        }
        kept.conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    /// A connection given back inside a transaction, or with its transaction in error,
    /// is not given out again (the write path's group commit moves transactions
    /// between threads: one that failed half-way must not be reused). The pool asks
    /// this as each connection comes back, so it is where [`Kept`] notes the time.
    fn has_broken(&self, kept: &mut Kept) -> bool {
        use diesel::connection::TransactionManager;
        kept.returned = Instant::now();
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(&mut kept.conn)
    }
}

/// The database: a pool of connections for reading, another for writing and, for
/// SQLite, the writer permit.
///
/// Reads have connections of their own because writers on PostgreSQL hold theirs while
/// they queue for the row that orders commits (`audit_head`): with one
/// pool, a phone's read of the log after a commit waited behind the next writers.
#[derive(Clone)]
pub struct Database {
    readers: Pool<Manager>,
    writers: Pool<Manager>,
    writer: Arc<Mutex<()>>,
    target: Target,
    /// The keys personal data is sealed with (`crate::seal`), once the start-up check set them.
    keys: Option<Arc<crate::seal::Keyring>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: name the backend only.
        let backend = match self.target {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres(_) => "postgres",
        };
        f.debug_struct("Database").field("backend", &backend).finish()
    }
}

impl Database {
    /// Opens two pools of `size` connections each, one to read and one to write, to the
    /// database at `url`.
    pub fn open(url: &str, size: u32) -> Result<Database, StoreError> {
        let target = Target::parse(url)?;
        let pool = |reads| {
            Pool::builder()
                .max_size(size.max(1))
                // Opened as they are needed: a node's two pools, and the tests' many
                // databases, would otherwise hold every connection from the start.
                .min_idle(Some(1))
                .connection_timeout(std::time::Duration::from_secs(10))
                .build(Manager { target: target.clone(), reads })
                .map_err(|e| StoreError::Connect(e.to_string()))
        };
        let writers = pool(false)?;
        let readers = pool(true)?;
        Ok(Database { readers, writers, writer: Arc::new(Mutex::new(())), target, keys: None })
    }

    /// This database with the keys personal data is sealed with (checked against it first:
    /// `crate::seal::store::load`).
    pub fn with_keys(mut self, keys: Arc<crate::seal::Keyring>) -> Database {
        self.keys = Some(keys);
        self
    }

    /// The keys personal data is sealed with; an error where none were set, so that
    /// nothing is ever written or read unsealed for want of them.
    pub fn keys(&self) -> Result<&crate::seal::Keyring, crate::seal::SealError> {
        self.keys.as_deref().ok_or(crate::seal::SealError::NoKeys)
    }

    /// Whether this is the SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        matches!(self.target, Target::Sqlite(_))
    }

    /// A connection of the writers' pool, for work that manages its own transactions.
    pub(crate) fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.writers.get().map_err(|e| StoreError::Connect(e.to_string()))
    }

    /// Applies every pending migration of the backend.
    pub fn migrate(&self) -> Result<(), StoreError> {
        let _permit = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut conn = self.conn()?;
        let result = match &mut **conn {
            DbConnection::Postgresql(pg) => pg.run_pending_migrations(migrations::POSTGRES).map(|_| ()),
            DbConnection::Sqlite(lite) => lite.run_pending_migrations(migrations::SQLITE).map(|_| ()),
        };
        result.map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// Runs `f` on a connection, for reading.
    pub fn read<T>(&self, f: impl FnOnce(&mut DbConnection) -> QueryResult<T>) -> Result<T, StoreError> {
        let mut conn = self.readers.get().map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(f(&mut conn)?)
    }

    /// Like [`Database::write`], for work whose errors are its own: `f`'s error rolls the
    /// transaction back and comes out as it went in.
    pub fn transact<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<StoreError>,
    {
        let _permit = self.is_sqlite().then(|| self.writer.lock().unwrap_or_else(PoisonError::into_inner));
        let mut conn = self.conn()?;
        let conn: &mut DbConnection = &mut conn;
        conn.transaction(f)
    }

    /// Runs `f` in one transaction; on SQLite, holding the writer permit throughout.
    pub fn write<T>(&self, f: impl FnOnce(&mut DbConnection) -> QueryResult<T>) -> Result<T, StoreError> {
        let _permit = self.is_sqlite().then(|| self.writer.lock().unwrap_or_else(PoisonError::into_inner));
        let mut conn = self.conn()?;
        let conn: &mut DbConnection = &mut conn;
        Ok(conn.transaction(f)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Target::parse("sqlite://gridlink.db").unwrap(), Target::Sqlite("gridlink.db".into()));
        assert_eq!(Target::parse("sqlite:///var/lib/g.db").unwrap(), Target::Sqlite("/var/lib/g.db".into()));
        assert!(matches!(Target::parse("postgres://u@h/db").unwrap(), Target::Postgres(_)));
        assert!(matches!(Target::parse("postgresql://u@h/db").unwrap(), Target::Postgres(_)));
        for bad in ["gridlink.db", "sqlite://", "mysql://x", ""] {
            assert!(matches!(Target::parse(bad), Err(StoreError::BadUrl(_))), "{bad}");
        }
    }
}

//! Inserting many rows at once: one multi-row statement per batch, on either backend.
//!
//! diesel's `MultiConnection` builds a multi-row insert for PostgreSQL but not for
//! SQLite (diesel builds those only for `SqliteConnection` itself), so [`insert_rows`]
//! runs each batch on the backend's own connection, inside whatever transaction the
//! shared one is in: the one `match` on the backend that inserting many rows needs.
//!
//! SQLite has no `DEFAULT` in a `VALUES` list, so a row type whose `None` means "the
//! column's default" (diesel's default for `Insertable`) is inserted there one statement
//! per row, by diesel itself. Row types inserted many at a time derive `Insertable` with
//! `treat_none_as_null = true`: the same rows, since no nullable column of ours has a
//! default, in one statement per batch.

use diesel::prelude::*;
use diesel::query_builder::InsertStatement;
use diesel::query_dsl::methods::ExecuteDsl;

use super::DbConnection;

/// Rows per statement. diesel is built for tables of at most 32 columns, so a statement
/// binds at most 500 × 32 = 16,000 values: under half the limit of the bundled SQLite
/// (32,766 since 3.32) and of PostgreSQL (65,535).
pub const ROWS_PER_STATEMENT: usize = 500;

/// Inserts `rows` into `table`, [`ROWS_PER_STATEMENT`] to a statement, within the
/// caller's transaction; returns how many were inserted. Nothing is sent for no rows.
pub fn insert_rows<'a, T, R>(conn: &mut DbConnection, table: T, rows: &'a [R]) -> QueryResult<usize>
where
    T: Copy,
    R: Rows<'a, T>,
{
    let mut inserted = 0;
    for batch in rows.chunks(ROWS_PER_STATEMENT) {
        inserted += R::insert_batch(conn, table, batch)?;
    }
    Ok(inserted)
}

/// A row type [`insert_rows`] takes: any `Insertable` row (a derived struct, a tuple of
/// `column.eq(value)`) whose multi-row insert both backends can run. Implemented for every
/// such type; it exists so that the bounds are checked once the row type is known (stated
/// on `insert_rows` itself, diesel's recursive `Insertable` impls overflow the compiler's
/// search while the row type is still being inferred).
pub trait Rows<'a, T>: Sized + 'a {
    /// Inserts `batch` into `table` in one statement.
    fn insert_batch(conn: &mut DbConnection, table: T, batch: &'a [Self]) -> QueryResult<usize>;
}

impl<'a, T, R> Rows<'a, T> for R
where
    R: 'a,
    T: Table,
    &'a [R]: Insertable<T>,
    InsertStatement<T, <&'a [R] as Insertable<T>>::Values>:
        ExecuteDsl<diesel::PgConnection> + ExecuteDsl<diesel::SqliteConnection>,
{
    fn insert_batch(conn: &mut DbConnection, table: T, batch: &'a [R]) -> QueryResult<usize> {
        execute_on_backend(conn, diesel::insert_into(table).values(batch))
    }
}

/// Runs `query` on the backend's own connection, inside whatever transaction the shared
/// one is in.
fn execute_on_backend<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<usize>
where
    Q: ExecuteDsl<diesel::PgConnection> + ExecuteDsl<diesel::SqliteConnection>,
{
    match conn {
        DbConnection::Postgresql(pg) => <Q as ExecuteDsl<diesel::PgConnection>>::execute(query, pg),
        DbConnection::Sqlite(lite) => <Q as ExecuteDsl<diesel::SqliteConnection>>::execute(query, lite),
    }
}

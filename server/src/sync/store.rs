//! Sync's storage: devices and their acknowledgements, workers' positions, the log's
//! retention. Plain functions over a connection, one query per concern on both backends.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::schema::{devices, worker_positions};
use crate::auth::schema::users;
use crate::changes::schema::{change_audience, change_log};
use crate::store::DbConnection;

/// Records that `device` of `user` said hello at `now_ms`.
pub fn touch_device(conn: &mut DbConnection, user: &str, device: &str, now_ms: i64) -> QueryResult<()> {
    let updated =
        diesel::update(devices::table.filter(devices::user_id.eq(user)).filter(devices::device_id.eq(device)))
            .set((devices::connected_at_ms.eq(now_ms), devices::last_seen_at_ms.eq(now_ms)))
            .execute(conn)?;
    if updated > 0 {
        return Ok(());
    }
    let inserted = conn.transaction(|c| {
        diesel::insert_into(devices::table)
            .values((
                devices::user_id.eq(user),
                devices::device_id.eq(device),
                devices::acked_cursor.eq(0),
                devices::connected_at_ms.eq(now_ms),
                devices::last_seen_at_ms.eq(now_ms),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// When `device` of `user` was last in touch with the server (a hello or an ack), if ever.
pub fn last_seen(conn: &mut DbConnection, user: &str, device: &str) -> QueryResult<Option<i64>> {
    devices::table
        .filter(devices::user_id.eq(user))
        .filter(devices::device_id.eq(device))
        .select(devices::last_seen_at_ms)
        .first(conn)
        .optional()
}

/// Records an acknowledgement (never moving a device's cursor backwards).
pub fn ack(conn: &mut DbConnection, user: &str, device: &str, cursor: i64, now_ms: i64) -> QueryResult<()> {
    diesel::update(devices::table.filter(devices::user_id.eq(user)).filter(devices::device_id.eq(device)))
        .filter(devices::acked_cursor.lt(cursor))
        .set((devices::acked_cursor.eq(cursor), devices::last_seen_at_ms.eq(now_ms)))
        .execute(conn)
        .map(|_| ())
}

/// The cursor a device last acknowledged (0 for a device never seen).
pub fn acked(conn: &mut DbConnection, user: &str, device: &str) -> QueryResult<i64> {
    devices::table
        .filter(devices::user_id.eq(user))
        .filter(devices::device_id.eq(device))
        .select(devices::acked_cursor)
        .first(conn)
        .optional()
        .map(Option::unwrap_or_default)
}

/// The newest cursor any device of `user` acknowledged (0 if none).
pub fn max_acked(conn: &mut DbConnection, user: &str) -> QueryResult<i64> {
    devices::table
        .filter(devices::user_id.eq(user))
        .select(diesel::dsl::max(devices::acked_cursor))
        .first::<Option<i64>>(conn)
        .map(Option::unwrap_or_default)
}

/// The oldest cursor the log can still serve: one before its oldest kept row (the
/// newest number when the log holds nothing).
pub fn log_floor(conn: &mut DbConnection) -> QueryResult<i64> {
    let oldest: Option<i64> = change_log::table.select(diesel::dsl::min(change_log::seq)).first(conn)?;
    match oldest {
        Some(seq) => Ok(seq - 1),
        None => crate::changes::newest(conn),
    }
}

/// The log number at which the user's area or role last changed.
pub fn scope_seq(conn: &mut DbConnection, user: &str) -> QueryResult<i64> {
    users::table
        .filter(users::id.eq(user))
        .select(users::scope_seq)
        .first(conn)
        .optional()
        .map(Option::unwrap_or_default)
}

/// Forgets log rows committed before `before_ms` (the retention); how many went.
pub fn prune_log(conn: &mut DbConnection, before_ms: i64) -> QueryResult<usize> {
    let old = change_log::table.filter(change_log::committed_at_ms.lt(before_ms)).select(change_log::seq);
    diesel::delete(change_audience::table.filter(change_audience::seq.eq_any(old))).execute(conn)?;
    diesel::delete(change_log::table.filter(change_log::committed_at_ms.lt(before_ms))).execute(conn)
}

/// Records a worker's latest position (replacing an older one): `place` is `[lon, lat]`
/// sealed (`crate::routing::positions::seal_place`).
pub fn record_position(
    conn: &mut DbConnection,
    user: &str,
    place: &str,
    accuracy_m: Option<f64>,
    at_ms: i64,
) -> QueryResult<()> {
    // A position sent again late (a retry) never replaces a newer one.
    diesel::delete(worker_positions::table.filter(worker_positions::user_id.eq(user)))
        .filter(worker_positions::at_ms.le(at_ms))
        .execute(conn)?;
    if position(conn, user)?.is_some() {
        return Ok(());
    }
    diesel::insert_into(worker_positions::table)
        .values((
            worker_positions::user_id.eq(user),
            worker_positions::place.eq(place),
            worker_positions::accuracy_m.eq(accuracy_m),
            worker_positions::at_ms.eq(at_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// A worker's latest position, as stored.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Position {
    /// WGS-84 `[lon, lat]`, sealed.
    pub place: String,
    /// Accuracy in metres, if the phone said.
    pub accuracy_m: Option<f64>,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// A worker's latest position.
pub fn position(conn: &mut DbConnection, user: &str) -> QueryResult<Option<Position>> {
    worker_positions::table
        .filter(worker_positions::user_id.eq(user))
        .select((worker_positions::place, worker_positions::accuracy_m, worker_positions::at_ms))
        .first(conn)
        .optional()
}

/// Forgets a worker's position (they went off duty, or logged out); whether there was one.
pub fn forget_position(conn: &mut DbConnection, user: &str) -> QueryResult<bool> {
    Ok(diesel::delete(worker_positions::table.filter(worker_positions::user_id.eq(user))).execute(conn)? > 0)
}

/// Forgets positions taken before `before_ms` (past their time to live); how many went.
pub fn expire_positions(conn: &mut DbConnection, before_ms: i64) -> QueryResult<usize> {
    diesel::delete(worker_positions::table.filter(worker_positions::at_ms.lt(before_ms))).execute(conn)
}

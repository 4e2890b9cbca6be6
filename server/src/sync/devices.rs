//! A user's devices, bounded.
//!
//! Every device id a phone says hello with leaves a row (its acknowledged cursor, which
//! decides whether its worker needs a push) and, while connected, a session in the hub.
//! Without a bound, one stolen token could invent device ids by the million. With it, a
//! user keeps at most `devices_per_user` devices (`settings::LimitSettings`).
//!
//! What a new device past the bound gets is chosen for a worker whose phone was lost or
//! replaced: the new phone works at once, and the device heard from longest ago that is
//! not connected to this node is retired — its row and push subscription go, and the
//! sessions opened for it are revoked (the lost phone is logged out; on another node
//! its socket is closed by the sweep). Only when every device of the user is connected
//! here at once is the new one refused, with the error `too-many-devices`: then no
//! device is idle enough to give way.

use std::collections::HashSet;

use diesel::prelude::*;

use super::schema::devices;
use crate::auth::schema::sessions;
use crate::store::DbConnection;

/// What a hello from a device gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A device the user has already, or a new one within the bound.
    Admitted,
    /// A new device, for which these, heard from longest ago, were retired.
    Retired(Vec<String>),
    /// Every device of the user is connected: the new one is refused.
    Full,
}

/// The user's devices, heard from longest ago first.
pub fn devices_of(conn: &mut DbConnection, user: &str) -> QueryResult<Vec<String>> {
    devices::table
        .filter(devices::user_id.eq(user))
        .order((devices::last_seen_at_ms.asc(), devices::device_id.asc()))
        .select(devices::device_id)
        .load(conn)
}

/// Forgets `device` of `user`: its acknowledgements, its push subscription, and the
/// sessions opened for it (all but the one with token hash `keep`, the caller's own).
pub fn retire(conn: &mut DbConnection, user: &str, device: &str, keep: &str, now_ms: i64) -> QueryResult<()> {
    diesel::delete(devices::table.filter(devices::user_id.eq(user)).filter(devices::device_id.eq(device)))
        .execute(conn)?;
    crate::push::store::delete_subscription(conn, user, device)?;
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user))
            .filter(sessions::device_id.eq(device))
            .filter(sessions::token_hash.ne(keep))
            .filter(sessions::revoked_at_ms.is_null()),
    )
    .set(sessions::revoked_at_ms.eq(now_ms))
    .execute(conn)?;
    Ok(())
}

/// Admits `device` of `user` within `limit` devices, retiring the devices heard from
/// longest ago among those not in `connected` when it is new and the user has `limit`
/// already. `keep` is the token hash of the caller's own session, never revoked. Run
/// inside a write transaction.
pub fn admit(
    conn: &mut DbConnection,
    user: &str,
    device: &str,
    limit: usize,
    connected: &HashSet<String>,
    keep: &str,
    now_ms: i64,
) -> QueryResult<Admission> {
    let known = devices_of(conn, user)?;
    if known.iter().any(|d| d == device) || known.len() < limit {
        return Ok(Admission::Admitted);
    }
    // Room for the new one (more than one goes if the bound was lowered).
    let excess = known.len() + 1 - limit.max(1);
    let idle: Vec<&String> = known.iter().filter(|d| !connected.contains(*d)).take(excess).collect();
    if idle.len() < excess {
        return Ok(Admission::Full);
    }
    for old in &idle {
        retire(conn, user, old, keep, now_ms)?;
    }
    Ok(Admission::Retired(idle.into_iter().cloned().collect()))
}

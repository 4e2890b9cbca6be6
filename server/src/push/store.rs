//! The push queries: the server's own keys, and the devices' subscriptions with their
//! back-off state. Plain functions over a connection, run inside a `Database` call.
//!
//! `DbConnection` cannot `ON CONFLICT`: an insert that may race another node's is made
//! in a savepoint, and a unique violation there means "someone else won", after which
//! the stored row is read (or updated).

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::schema::{push_subscriptions, report_subscriptions, server_keys};
use crate::store::DbConnection;

/// A device's push subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = push_subscriptions)]
pub struct Subscription {
    /// Whose.
    pub user_id: String,
    /// Which device.
    pub device_id: String,
    /// The push service's URL for the device.
    pub endpoint: String,
    /// The device's P-256 public key, base64url.
    pub p256dh: String,
    /// The device's authentication secret, base64url.
    pub auth: String,
    /// When subscribed.
    pub created_at_ms: i64,
    /// Failed sends in a row.
    pub failures: i32,
    /// No send before this instant (0: none pending).
    pub next_attempt_at_ms: i64,
}

/// The server key called `name`, if one is stored.
pub fn server_key(conn: &mut DbConnection, name: &str) -> QueryResult<Option<String>> {
    server_keys::table.filter(server_keys::name.eq(name)).select(server_keys::value).first(conn).optional()
}

/// The server key called `name`: the stored one, or else `make()`'s, stored now. When
/// two nodes make one at once, the first stored wins and both return it.
pub fn ensure_server_key(conn: &mut DbConnection, name: &str, make: impl FnOnce() -> String) -> QueryResult<String> {
    if let Some(stored) = server_key(conn, name)? {
        return Ok(stored);
    }
    let value = make();
    let inserted = conn.transaction(|c| {
        diesel::insert_into(server_keys::table)
            .values((server_keys::name.eq(name), server_keys::value.eq(&value)))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(value),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            server_key(conn, name)?.ok_or(DieselError::NotFound)
        }
        Err(e) => Err(e),
    }
}

/// Stores a device's subscription, replacing the one it had; the endpoint is taken from
/// any other (user, device) that held it (a browser profile used by someone else before
/// now wakes only its current user). Failures and back-off start afresh.
pub fn put_subscription(conn: &mut DbConnection, sub: &Subscription) -> QueryResult<()> {
    let mine = push_subscriptions::user_id.eq(&sub.user_id).and(push_subscriptions::device_id.eq(&sub.device_id));
    diesel::delete(
        push_subscriptions::table.filter(push_subscriptions::endpoint.eq(&sub.endpoint)).filter(diesel::dsl::not(mine)),
    )
    .execute(conn)?;
    let fresh = Subscription { failures: 0, next_attempt_at_ms: 0, ..sub.clone() };
    let update = |c: &mut DbConnection| {
        diesel::update(push_subscriptions::table.filter(mine))
            .set((
                push_subscriptions::endpoint.eq(&fresh.endpoint),
                push_subscriptions::p256dh.eq(&fresh.p256dh),
                push_subscriptions::auth.eq(&fresh.auth),
                push_subscriptions::created_at_ms.eq(fresh.created_at_ms),
                push_subscriptions::failures.eq(0),
                push_subscriptions::next_attempt_at_ms.eq(0_i64),
            ))
            .execute(c)
    };
    if update(conn)? > 0 {
        return Ok(());
    }
    let inserted = conn.transaction(|c| diesel::insert_into(push_subscriptions::table).values(&fresh).execute(c));
    match inserted {
        Ok(_) => Ok(()),
        // The same device subscribed at the same moment on another connection: ours is newer.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => update(conn).map(|_| ()),
        Err(e) => Err(e),
    }
}

/// The subscription of one device.
pub fn subscription(conn: &mut DbConnection, user_id: &str, device_id: &str) -> QueryResult<Option<Subscription>> {
    push_subscriptions::table
        .filter(push_subscriptions::user_id.eq(user_id))
        .filter(push_subscriptions::device_id.eq(device_id))
        .select(Subscription::as_select())
        .first(conn)
        .optional()
}

/// Every subscription of a user, by device.
pub fn subscriptions_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<Subscription>> {
    push_subscriptions::table
        .filter(push_subscriptions::user_id.eq(user_id))
        .order(push_subscriptions::device_id.asc())
        .select(Subscription::as_select())
        .load(conn)
}

/// Removes a device's subscription (unsubscribing, logging out); true if there was one.
pub fn delete_subscription(conn: &mut DbConnection, user_id: &str, device_id: &str) -> QueryResult<bool> {
    diesel::delete(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user_id))
            .filter(push_subscriptions::device_id.eq(device_id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Removes a subscription its push service called gone (404, 410), unless the device
/// has meanwhile subscribed again with another endpoint; true if it was removed.
pub fn delete_gone(conn: &mut DbConnection, user_id: &str, device_id: &str, endpoint: &str) -> QueryResult<bool> {
    diesel::delete(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user_id))
            .filter(push_subscriptions::device_id.eq(device_id))
            .filter(push_subscriptions::endpoint.eq(endpoint)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Counts one more failed send to this endpoint and holds the next one back until
/// `next_attempt(failures)`, given the failures in a row counting this one. Returns that
/// count and instant, or `None` if the device has meanwhile subscribed again elsewhere
/// (or unsubscribed). Run it inside a transaction: it reads, then writes.
pub fn record_failure(
    conn: &mut DbConnection,
    user_id: &str,
    device_id: &str,
    endpoint: &str,
    next_attempt: impl FnOnce(i32) -> i64,
) -> QueryResult<Option<(i32, i64)>> {
    let this = push_subscriptions::table
        .filter(push_subscriptions::user_id.eq(user_id))
        .filter(push_subscriptions::device_id.eq(device_id))
        .filter(push_subscriptions::endpoint.eq(endpoint));
    // Counting in SQL takes the row's lock on PostgreSQL, so that two nodes' failures both count.
    let updated =
        diesel::update(this).set(push_subscriptions::failures.eq(push_subscriptions::failures + 1)).execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    let failures: i32 = this.select(push_subscriptions::failures).first(conn)?;
    let at = next_attempt(failures);
    diesel::update(this).set(push_subscriptions::next_attempt_at_ms.eq(at)).execute(conn)?;
    Ok(Some((failures, at)))
}

/// Clears an endpoint's failures after a send got through.
pub fn record_success(conn: &mut DbConnection, user_id: &str, device_id: &str, endpoint: &str) -> QueryResult<()> {
    diesel::update(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user_id))
            .filter(push_subscriptions::device_id.eq(device_id))
            .filter(push_subscriptions::endpoint.eq(endpoint))
            .filter(push_subscriptions::failures.ne(0).or(push_subscriptions::next_attempt_at_ms.ne(0_i64))),
    )
    .set((push_subscriptions::failures.eq(0), push_subscriptions::next_attempt_at_ms.eq(0_i64)))
    .execute(conn)
    .map(|_| ())
}

/// A resident's subscription to news of their report, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_subscriptions)]
pub struct ReportSubscription {
    /// The case followed.
    pub incident_id: String,
    /// The push service's URL for the browser.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
    /// When subscribed.
    pub created_at_ms: i64,
    /// Failed sends in a row.
    pub failures: i32,
    /// No send before this instant (0: none pending).
    pub next_attempt_at_ms: i64,
}

/// Stores a resident's subscription to their report, replacing the one of the same
/// endpoint (fresh keys, failures and back-off start afresh), and keeps only the newest
/// `keep` of the case: a case's subscriptions stay bounded however often someone
/// subscribes. Run it inside a transaction that holds the case's lock.
pub fn put_report_subscription(conn: &mut DbConnection, sub: &ReportSubscription, keep: usize) -> QueryResult<()> {
    let this = report_subscriptions::table
        .filter(report_subscriptions::incident_id.eq(&sub.incident_id))
        .filter(report_subscriptions::endpoint.eq(&sub.endpoint));
    let fresh = ReportSubscription { failures: 0, next_attempt_at_ms: 0, ..sub.clone() };
    let updated = diesel::update(this)
        .set((
            report_subscriptions::p256dh.eq(&fresh.p256dh),
            report_subscriptions::auth.eq(&fresh.auth),
            report_subscriptions::created_at_ms.eq(fresh.created_at_ms),
            report_subscriptions::failures.eq(0),
            report_subscriptions::next_attempt_at_ms.eq(0_i64),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(report_subscriptions::table).values(&fresh).execute(conn)?;
    }
    let newest_first: Vec<String> = report_subscriptions::table
        .filter(report_subscriptions::incident_id.eq(&sub.incident_id))
        .order((report_subscriptions::created_at_ms.desc(), report_subscriptions::endpoint.asc()))
        .select(report_subscriptions::endpoint)
        .load(conn)?;
    let oldest: Vec<&String> = newest_first.iter().skip(keep).collect();
    if !oldest.is_empty() {
        diesel::delete(
            report_subscriptions::table
                .filter(report_subscriptions::incident_id.eq(&sub.incident_id))
                .filter(report_subscriptions::endpoint.eq_any(oldest)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// The subscriptions to news of these cases, by case and endpoint.
pub fn report_subscriptions_of(conn: &mut DbConnection, incidents: &[String]) -> QueryResult<Vec<ReportSubscription>> {
    report_subscriptions::table
        .filter(report_subscriptions::incident_id.eq_any(incidents))
        .order((report_subscriptions::incident_id.asc(), report_subscriptions::endpoint.asc()))
        .select(ReportSubscription::as_select())
        .load(conn)
}

/// Removes one subscription to a case (unsubscribing, or gone at its push service);
/// true if there was one.
pub fn delete_report_subscription(conn: &mut DbConnection, incident_id: &str, endpoint: &str) -> QueryResult<bool> {
    diesel::delete(
        report_subscriptions::table
            .filter(report_subscriptions::incident_id.eq(incident_id))
            .filter(report_subscriptions::endpoint.eq(endpoint)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Counts one more failed send to a report's subscription and holds the next back until
/// `next_attempt(failures)`, as [`record_failure`] does for a device; `None` if it is gone.
pub fn record_report_failure(
    conn: &mut DbConnection,
    incident_id: &str,
    endpoint: &str,
    next_attempt: impl FnOnce(i32) -> i64,
) -> QueryResult<Option<(i32, i64)>> {
    let this = report_subscriptions::table
        .filter(report_subscriptions::incident_id.eq(incident_id))
        .filter(report_subscriptions::endpoint.eq(endpoint));
    let updated = diesel::update(this)
        .set(report_subscriptions::failures.eq(report_subscriptions::failures + 1))
        .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    let failures: i32 = this.select(report_subscriptions::failures).first(conn)?;
    let at = next_attempt(failures);
    diesel::update(this).set(report_subscriptions::next_attempt_at_ms.eq(at)).execute(conn)?;
    Ok(Some((failures, at)))
}

/// Clears a report subscription's failures after a send got through.
pub fn record_report_success(conn: &mut DbConnection, incident_id: &str, endpoint: &str) -> QueryResult<()> {
    diesel::update(
        report_subscriptions::table
            .filter(report_subscriptions::incident_id.eq(incident_id))
            .filter(report_subscriptions::endpoint.eq(endpoint))
            .filter(report_subscriptions::failures.ne(0).or(report_subscriptions::next_attempt_at_ms.ne(0_i64))),
    )
    .set((report_subscriptions::failures.eq(0), report_subscriptions::next_attempt_at_ms.eq(0_i64)))
    .execute(conn)
    .map(|_| ())
}

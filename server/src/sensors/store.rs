//! Sensors in storage: plain functions over a connection, the same queries on both
//! backends.

use diesel::prelude::*;

use super::schema::sensors;
use crate::store::DbConnection;

/// A sensor as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sensors)]
pub struct SensorRow {
    /// Its id (a UUID).
    pub id: String,
    /// Its name.
    pub name: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// The grid its place lay in when registered.
    pub grid_code: String,
    /// The leaf category its alarms report.
    pub category_code: String,
    /// SHA-256 of its key.
    pub key_hash: String,
    /// When registered (Unix ms).
    pub created_at_ms: i64,
    /// When revoked (Unix ms), if it was.
    pub revoked_at_ms: Option<i64>,
    /// The case its alarms go to while that case is open.
    pub open_incident_id: Option<String>,
}

/// Stores a newly registered sensor.
pub fn insert(conn: &mut DbConnection, row: &SensorRow) -> QueryResult<()> {
    diesel::insert_into(sensors::table).values(row).execute(conn).map(|_| ())
}

/// Every sensor, oldest first.
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<SensorRow>> {
    sensors::table.order((sensors::created_at_ms.asc(), sensors::id.asc())).select(SensorRow::as_select()).load(conn)
}

/// A sensor by id.
pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SensorRow>> {
    sensors::table.filter(sensors::id.eq(id)).select(SensorRow::as_select()).first(conn).optional()
}

/// Locks a sensor's row for the rest of the transaction (a no-op update takes the row
/// lock on PostgreSQL; on SQLite the writer permit already serialises writers), so that
/// two alarms of one sensor decide one after the other: the second finds the case the
/// first opened. False if there is no such sensor.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::update(sensors::table.filter(sensors::id.eq(id)))
        .set(sensors::created_at_ms.eq(sensors::created_at_ms))
        .execute(conn)
        .map(|n| n == 1)
}

/// Points a sensor's alarms at case `incident` (or at none).
pub fn set_open_incident(conn: &mut DbConnection, id: &str, incident: Option<&str>) -> QueryResult<()> {
    diesel::update(sensors::table.filter(sensors::id.eq(id)))
        .set(sensors::open_incident_id.eq(incident))
        .execute(conn)
        .map(|_| ())
}

/// Revokes a sensor at `now_ms`: its alarms are refused from then on. The sensor as it
/// is then (a sensor revoked before keeps its first revocation), or `None` if there is
/// no such sensor.
pub fn revoke(conn: &mut DbConnection, id: &str, now_ms: i64) -> QueryResult<Option<SensorRow>> {
    diesel::update(sensors::table.filter(sensors::id.eq(id)).filter(sensors::revoked_at_ms.is_null()))
        .set(sensors::revoked_at_ms.eq(Some(now_ms)))
        .execute(conn)?;
    by_id(conn, id)
}

/// [`revoke`], with its audit entry (`key_revoked` of a sensor, by `actor`, made `via`
/// `http` or `cli`) when it revoked the sensor now.
pub fn revoke_audited(
    conn: &mut DbConnection,
    id: &str,
    now_ms: i64,
    actor: Option<&crate::auth::User>,
    via: &str,
) -> QueryResult<Option<SensorRow>> {
    let row = revoke(conn, id, now_ms)?;
    if let Some(row) = &row
        && row.revoked_at_ms == Some(now_ms)
    {
        let data = serde_json::json!({"key": "sensor", "name": row.name, "via": via});
        crate::auth::accounts::audit(conn, "key_revoked", actor, &row.id, data)?;
    }
    Ok(row)
}

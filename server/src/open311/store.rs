//! Open311's reads and its one row beside a case: plain functions over a connection, the
//! same queries on both backends.

use diesel::dsl::not;
use diesel::prelude::*;

use super::schema::open311_requests;
use crate::auth::schema::users;
use crate::incidents::schema::{events, incidents};
use crate::incidents::store::IncidentRow;
use crate::incidents::workflow::Status;
use crate::store::DbConnection;

/// What an Open311 request brought beside its case, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = open311_requests)]
pub struct RequestRow {
    /// The case.
    pub incident_id: String,
    /// The key that filed it.
    pub api_key_id: String,
    /// The attributes kept (a JSON object).
    pub attributes: String,
    /// The client's media URL.
    pub media_url: Option<String>,
    /// The requester's e-mail (personal data: never shown).
    pub email: Option<String>,
    /// The client's device id.
    pub device_id: Option<String>,
    /// The client's account id for the requester.
    pub account_id: Option<String>,
}

/// Stores what an Open311 request brought, in the transaction that opened its case.
pub fn insert(conn: &mut DbConnection, row: &RequestRow) -> QueryResult<()> {
    diesel::insert_into(open311_requests::table).values(row).execute(conn).map(|_| ())
}

/// Which cases a read of requests asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// Only these cases (every other filter is then ignored, as the standard says).
    pub ids: Option<Vec<String>>,
    /// Of these categories (any when empty).
    pub services: Vec<String>,
    /// Reported at or after (Unix ms).
    pub from_ms: i64,
    /// Reported at or before (Unix ms).
    pub to_ms: i64,
    /// Open (true) or ended (false: closed, rejected, merged); both when none.
    pub open: Option<bool>,
}

/// A page of the cases `window` names, newest first (then by id): at most `limit`, after
/// skipping `offset`.
pub fn page(conn: &mut DbConnection, window: &Window, limit: i64, offset: i64) -> QueryResult<Vec<IncidentRow>> {
    let mut query = incidents::table.into_boxed();
    match &window.ids {
        Some(ids) => query = query.filter(incidents::id.eq_any(ids)),
        None => {
            query = query
                .filter(incidents::reported_at_ms.ge(window.from_ms))
                .filter(incidents::reported_at_ms.le(window.to_ms));
            if !window.services.is_empty() {
                query = query.filter(incidents::category_code.eq_any(&window.services));
            }
            match window.open {
                Some(true) => query = query.filter(not(incidents::status.eq_any(Status::final_names()))),
                Some(false) => query = query.filter(incidents::status.eq_any(Status::final_names())),
                None => {}
            }
        }
    }
    query
        .order((incidents::reported_at_ms.desc(), incidents::id.asc()))
        .limit(limit)
        .offset(offset)
        .select(IncidentRow::as_select())
        .load(conn)
}

/// The media URLs Open311 requests gave for these cases: (case, URL).
pub fn media_urls(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<(String, String)>> {
    let found: Vec<(String, Option<String>)> = open311_requests::table
        .filter(open311_requests::incident_id.eq_any(ids))
        .select((open311_requests::incident_id, open311_requests::media_url))
        .load(conn)?;
    Ok(found.into_iter().filter_map(|(id, url)| Some((id, url?))).collect())
}

/// The refusals in these cases' traces (`rejected`, `voided`): (case, action, data), oldest first.
pub fn refusals(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<(String, String, String)>> {
    events::table
        .filter(events::incident_id.eq_any(ids))
        .filter(events::action.eq_any(["rejected", "voided"]))
        .order((events::incident_id.asc(), events::n.asc()))
        .select((events::incident_id, events::action, events::data))
        .load(conn)
}

/// The human numbers of these cases: (id, code).
pub fn codes(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<(String, String)>> {
    incidents::table.filter(incidents::id.eq_any(ids)).select((incidents::id, incidents::code)).load(conn)
}

/// The units of these users: (id, unit code).
pub fn user_units(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<(String, String)>> {
    users::table.filter(users::id.eq_any(ids)).select((users::id, users::unit_code)).load(conn)
}

/// Whether case `id` exists.
pub fn exists(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(incidents::table.filter(incidents::id.eq(id)).select(incidents::id).first::<String>(conn).optional()?.is_some())
}

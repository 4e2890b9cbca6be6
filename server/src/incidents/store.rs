//! Cases, tasks and the trace in storage: plain functions over a connection, one query
//! per concern for both backends. The write path (`incidents::act`) calls them inside
//! one transaction; the read routes call them inside a read.

use diesel::dsl::{count_star, not};
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Bool;
use geodata::{AreaCode, Level};

use super::schema::{counters, events, idempotency, incidents, task_assignees, tasks};
use super::scope::{Area, Viewer};
use super::workflow::Status;
use crate::store::{DbConnection, MultiBackend, insert_rows};

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = incidents)]
pub struct IncidentRow {
    /// Its id.
    pub id: String,
    /// Its human number.
    pub code: String,
    /// Its category.
    pub category_code: String,
    /// Its status.
    pub status: String,
    /// The level handling it.
    pub level: i32,
    /// Its grid.
    pub grid_code: String,
    /// Its community.
    pub community_code: String,
    /// Its township.
    pub township_code: String,
    /// Its county.
    pub county_code: String,
    /// Its city.
    pub city_code: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// The reporter's words.
    pub description: String,
    /// The report's photos (JSON array of ids).
    pub photos: String,
    /// The reporter's name, sealed (`crate::seal`).
    pub contact_name: Option<String>,
    /// The reporter's phone, sealed.
    pub contact_phone: Option<String>,
    /// Where the report came from.
    pub source: String,
    /// The staff user who reported it.
    pub reporter_id: Option<String>,
    /// SHA-256 of the follow token.
    pub follow_token_hash: String,
    /// The workflow's state (JSON).
    pub state: String,
    /// When reported.
    pub reported_at_ms: i64,
    /// When last changed.
    pub updated_at_ms: i64,
    /// When the current step falls due.
    pub due_at_ms: Option<i64>,
    /// An emergency's grade (`I`…`IV`), if it has one.
    pub severity: Option<String>,
    /// The current step's light (`green`, `yellow`, `red`): [`super::workflow::Case::light`]
    /// of the state, set by the write path whenever it writes the state, so that readers
    /// (maps, lists, figures) need not parse the state for it.
    pub light: String,
    /// The reporter's ID number, sealed.
    pub contact_id_number: Option<String>,
}

impl IncidentRow {
    /// The case's grade, if it has one (a stored grade this version does not know reads as none).
    pub fn severity(&self) -> Option<crate::categories::Severity> {
        self.severity.as_deref().and_then(|s| s.parse().ok())
    }

    /// Its place, from the city down to its grid.
    pub fn place(&self) -> [String; 5] {
        [&self.city_code, &self.county_code, &self.township_code, &self.community_code, &self.grid_code]
            .map(String::clone)
    }

    /// The unit whose centre's queue holds the case: where it was escalated to, else the
    /// lowest centre on its chain ([`crate::routing::queue_of`]).
    pub fn queue(&self) -> Option<String> {
        let owner = serde_json::from_str::<super::workflow::Case>(&self.state).ok().and_then(|c| c.owner);
        owner.or_else(|| crate::routing::queue_of(&crate::routing::Chain::of(&self.place())).map(str::to_owned))
    }
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    /// Its id.
    pub id: String,
    /// Its case.
    pub incident_id: String,
    /// `handle`, `confirm` or `verify`.
    pub kind: String,
    /// `lead` or `assist`.
    pub role: String,
    /// What it was sent to (JSON).
    pub target: String,
    /// Who holds it.
    pub holder_id: Option<String>,
    /// Where it stands.
    pub status: String,
    /// Times sent back for rework.
    pub rework: i32,
    /// When created.
    pub created_at_ms: i64,
    /// When last changed.
    pub updated_at_ms: i64,
    /// When it falls due.
    pub due_at_ms: Option<i64>,
}

/// An event of the trace as stored. (`None` is stored as NULL, so that many events go
/// in one statement on SQLite too: see `crate::store::insert_rows`.)
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, treat_none_as_null = true)]
pub struct EventRow {
    /// Its case.
    pub incident_id: String,
    /// Its number within the case.
    pub n: i32,
    /// What happened.
    pub action: String,
    /// Who did it.
    pub actor_id: Option<String>,
    /// Their role then.
    pub actor_role: Option<String>,
    /// From which device.
    pub device_id: Option<String>,
    /// Its data (JSON).
    pub data: String,
    /// When it happened (a phone's `occurred_at`, or the server's time).
    pub at_ms: i64,
    /// When the server heard of it.
    pub received_at_ms: Option<i64>,
}

/// Claims the next `n` values of a named counter (created on first use); the last of
/// them. The counter's row stays locked until the transaction ends.
pub fn claim_numbers(conn: &mut DbConnection, name: &str, n: i64) -> QueryResult<i64> {
    for _ in 0..2 {
        let claimed = diesel::update(counters::table.filter(counters::name.eq(name)))
            .set(counters::value.eq(counters::value + n))
            .returning(counters::value)
            .get_result(conn)
            .optional()?;
        if let Some(last) = claimed {
            return Ok(last);
        }
        // The first claim of a new counter: a racing creator on PostgreSQL makes this
        // insert fail inside its savepoint, and the update above then finds the row.
        let created = conn.transaction(|c| {
            diesel::insert_into(counters::table).values((counters::name.eq(name), counters::value.eq(n))).execute(c)
        });
        match created {
            Ok(_) => return Ok(n),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DieselError::NotFound)
}

/// Stores a new case.
pub fn insert_incident(conn: &mut DbConnection, row: &IncidentRow) -> QueryResult<()> {
    diesel::insert_into(incidents::table).values(row).execute(conn).map(|_| ())
}

/// Locks a case for the rest of the transaction (a no-op update takes the row lock on
/// PostgreSQL; on SQLite the writer permit already serialises writers), so that two
/// commands on one case decide one after the other. False if there is no such case.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::update(incidents::table.filter(incidents::id.eq(id)))
        .set(incidents::updated_at_ms.eq(incidents::updated_at_ms))
        .execute(conn)
        .map(|n| n == 1)
}

/// A case by id.
pub fn incident(conn: &mut DbConnection, id: &str) -> QueryResult<Option<IncidentRow>> {
    incidents::table.filter(incidents::id.eq(id)).select(IncidentRow::as_select()).first(conn).optional()
}

/// Updates a case's changing columns after a command (its place too: a case whose grid
/// left the layer is re-placed).
pub fn update_incident(conn: &mut DbConnection, row: &IncidentRow) -> QueryResult<()> {
    diesel::update(incidents::table.filter(incidents::id.eq(&row.id)))
        .set((
            incidents::status.eq(&row.status),
            incidents::level.eq(row.level),
            incidents::grid_code.eq(&row.grid_code),
            incidents::community_code.eq(&row.community_code),
            incidents::township_code.eq(&row.township_code),
            incidents::county_code.eq(&row.county_code),
            incidents::city_code.eq(&row.city_code),
            incidents::state.eq(&row.state),
            incidents::updated_at_ms.eq(row.updated_at_ms),
            incidents::due_at_ms.eq(row.due_at_ms),
            incidents::severity.eq(&row.severity),
            incidents::light.eq(&row.light),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Gives each open case with a limit the light its state says, where the stored one
/// differs (cases written before the column existed); returns how many changed. Run at
/// start, before anything is served.
pub fn restamp_lights(conn: &mut DbConnection) -> QueryResult<usize> {
    let finals = Status::final_names();
    let rows: Vec<IncidentRow> = incidents::table
        .filter(not(incidents::status.eq_any(finals)))
        .filter(incidents::due_at_ms.is_not_null())
        .select(IncidentRow::as_select())
        .load(conn)?;
    let mut changed = 0;
    for row in rows {
        let Ok(case) = serde_json::from_str::<super::workflow::Case>(&row.state) else { continue };
        let light = case.light(row.due_at_ms);
        if light != row.light {
            diesel::update(incidents::table.filter(incidents::id.eq(&row.id)))
                .set(incidents::light.eq(light))
                .execute(conn)?;
            changed += 1;
        }
    }
    Ok(changed)
}

type Condition<'a> = Box<dyn BoxableExpression<incidents::table, MultiBackend, SqlType = Bool> + 'a>;

/// The cases of a unit's area, by the column of its level.
fn in_area<'a>(code: &AreaCode) -> Condition<'a> {
    let code = code.as_str().to_owned();
    match code_level(&code) {
        Level::City => Box::new(incidents::city_code.eq(code)),
        Level::County => Box::new(incidents::county_code.eq(code)),
        Level::Township => Box::new(incidents::township_code.eq(code)),
        Level::Community => Box::new(incidents::community_code.eq(code)),
        Level::Grid => Box::new(incidents::grid_code.eq(code)),
    }
}

fn code_level(code: &str) -> Level {
    AreaCode::parse(code).map_or(Level::Grid, |c| c.level())
}

/// The condition a case must meet to be visible to `viewer`: in their area, or one
/// they were sent a task of. `None` when they see everything.
fn visible_to<'a>(viewer: &Viewer) -> Option<Condition<'a>> {
    let sent: Condition<'a> = Box::new(
        incidents::id.eq_any(
            tasks::table
                .inner_join(task_assignees::table)
                .filter(task_assignees::user_id.eq(viewer.id.to_string()))
                .select(tasks::incident_id),
        ),
    );
    match &viewer.area {
        Area::All => None,
        Area::Unit(code) => Some(Box::new(in_area(code).or(sent))),
        Area::None => Some(sent),
    }
}

/// Whether `viewer` may see any of these cases.
pub fn any_visible(conn: &mut DbConnection, viewer: &Viewer, ids: &[String]) -> QueryResult<bool> {
    if ids.is_empty() {
        return Ok(false);
    }
    let mut query = incidents::table.filter(incidents::id.eq_any(ids)).into_boxed();
    if let Some(condition) = visible_to(viewer) {
        query = query.filter(condition);
    }
    Ok(query.select(count_star()).first::<i64>(conn)? > 0)
}

/// A case, if `viewer` may see it.
pub fn visible_incident(conn: &mut DbConnection, viewer: &Viewer, id: &str) -> QueryResult<Option<IncidentRow>> {
    let mut query = incidents::table.filter(incidents::id.eq(id)).into_boxed();
    if let Some(condition) = visible_to(viewer) {
        query = query.filter(condition);
    }
    query.select(IncidentRow::as_select()).first(conn).optional()
}

/// What a list of cases is narrowed to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Any of these statuses (all when empty).
    pub statuses: Vec<String>,
    /// Handled at this level.
    pub level: Option<i32>,
    /// Of this category.
    pub category: Option<String>,
    /// In this unit's area.
    pub area: Option<AreaCode>,
    /// Past the current step's deadline at `now_ms` (true), or not (false).
    pub overdue: Option<bool>,
    /// Now, for `overdue`.
    pub now_ms: i64,
    /// Any of these deadline lights (`green`, `yellow`, `red`; all when empty).
    pub lights: Vec<String>,
    /// Only these cases (a batched read of known ids; at most a few hundred at a time).
    pub ids: Option<Vec<String>>,
    /// Only the case with this human number (a caller reading out their 工单号).
    pub code: Option<String>,
}

/// A case's place in the list's order (newest first, then by id): where a page ends and
/// the next begins. Given out as an opaque cursor, so that a client walks the list by
/// position rather than by count: a case reported meanwhile shifts no page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// When the case was reported.
    pub reported_at_ms: i64,
    /// Its id.
    pub id: String,
}

/// The longest cursor read back (an id is a few dozen characters).
const MAX_CURSOR_CHARS: usize = 512;

impl Key {
    /// The place of `row`.
    pub fn of(row: &IncidentRow) -> Key {
        Key { reported_at_ms: row.reported_at_ms, id: row.id.clone() }
    }

    /// The key as a cursor: base64url of `<reported_at_ms>/<id>`.
    pub fn cursor(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}/{}", self.reported_at_ms, self.id))
    }

    /// The key a cursor holds; `None` for anything [`Key::cursor`] did not make.
    pub fn from_cursor(cursor: &str) -> Option<Key> {
        use base64::Engine as _;
        if cursor.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (at, id) = text.split_once('/')?;
        let reported_at_ms = at.parse().ok()?;
        (!id.is_empty()).then(|| Key { reported_at_ms, id: id.to_owned() })
    }
}

/// Where a page of the list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// After skipping this many cases (the older form: the database walks past them).
    Offset(i64),
    /// Right after the case with this key (keyset paging: an index seek).
    After(Key),
}

fn filtered<'a>(viewer: &Viewer, filter: &'a Filter) -> incidents::BoxedQuery<'a, MultiBackend> {
    let mut query = incidents::table.into_boxed();
    if let Some(condition) = visible_to(viewer) {
        query = query.filter(condition);
    }
    if !filter.statuses.is_empty() {
        query = query.filter(incidents::status.eq_any(&filter.statuses));
    }
    if !filter.lights.is_empty() {
        query = query.filter(incidents::light.eq_any(&filter.lights));
    }
    if let Some(level) = filter.level {
        query = query.filter(incidents::level.eq(level));
    }
    if let Some(category) = &filter.category {
        query = query.filter(incidents::category_code.eq(category));
    }
    if let Some(area) = &filter.area {
        query = query.filter(in_area(area));
    }
    if let Some(ids) = &filter.ids {
        query = query.filter(incidents::id.eq_any(ids));
    }
    if let Some(code) = &filter.code {
        query = query.filter(incidents::code.eq(code));
    }
    let finals = Status::final_names();
    match filter.overdue {
        Some(true) => {
            query = query.filter(incidents::due_at_ms.lt(filter.now_ms)).filter(not(incidents::status.eq_any(finals)));
        }
        Some(false) => {
            query = query.filter(
                incidents::due_at_ms
                    .is_null()
                    .or(incidents::due_at_ms.ge(filter.now_ms))
                    .or(incidents::status.eq_any(finals)),
            );
        }
        None => {}
    }
    query
}

/// A page of at most `limit` of the cases `viewer` sees that pass `filter`, newest first
/// (then by id), from `start`.
pub fn list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &Filter,
    limit: i64,
    start: &Start,
) -> QueryResult<Vec<IncidentRow>> {
    let mut query = filtered(viewer, filter);
    match start {
        Start::Offset(0) => {}
        Start::Offset(n) => query = query.offset(*n),
        Start::After(key) => {
            query = query.filter(
                incidents::reported_at_ms
                    .lt(key.reported_at_ms)
                    .or(incidents::reported_at_ms.eq(key.reported_at_ms).and(incidents::id.gt(key.id.clone()))),
            );
        }
    }
    query
        .order((incidents::reported_at_ms.desc(), incidents::id.asc()))
        .limit(limit)
        .select(IncidentRow::as_select())
        .load(conn)
}

/// How many of the cases `viewer` sees pass `filter` (a scan of them all: only for the
/// list's `total`).
pub fn count(conn: &mut DbConnection, viewer: &Viewer, filter: &Filter) -> QueryResult<i64> {
    filtered(viewer, filter).select(count_star()).first::<i64>(conn)
}

/// The live cases of an area (all when `area` is none), as a map shows them: the open
/// ones, and those that ended (closed, rejected, merged) at `since_ms` or later. Both
/// halves are ranges of the index on (status, updated_at_ms), not a scan of the history.
fn live<'a>(area: Option<&AreaCode>, since_ms: i64) -> Condition<'a> {
    let finals = Status::final_names();
    let live = incidents::status
        .eq_any(Status::open_names())
        .or(incidents::status.eq_any(finals).and(incidents::updated_at_ms.ge(since_ms)));
    match area {
        Some(area) => Box::new(live.and(in_area(area))),
        None => Box::new(live),
    }
}

/// How many live cases of an area ([`live`]) each grid holds, by status and light:
/// `(grid, status, light, count)`, one row per combination present.
pub fn live_counts(
    conn: &mut DbConnection,
    area: Option<&AreaCode>,
    since_ms: i64,
) -> QueryResult<Vec<(String, String, String, i64)>> {
    incidents::table
        .filter(live(area, since_ms))
        .group_by((incidents::grid_code, incidents::status, incidents::light))
        .select((incidents::grid_code, incidents::status, incidents::light, count_star()))
        .load(conn)
}

/// The live cases of an area ([`live`]) lying in `[west, south, east, north]`, at most
/// `limit`, the most recently changed first.
pub fn live_in_box(
    conn: &mut DbConnection,
    area: Option<&AreaCode>,
    since_ms: i64,
    bbox: [f64; 4],
    limit: i64,
) -> QueryResult<Vec<IncidentRow>> {
    let [west, south, east, north] = bbox;
    incidents::table
        .filter(live(area, since_ms))
        .filter(incidents::lon.between(west, east))
        .filter(incidents::lat.between(south, north))
        .order((incidents::updated_at_ms.desc(), incidents::id.asc()))
        .limit(limit)
        .select(IncidentRow::as_select())
        .load(conn)
}

/// How many cases of an area (all when `area` is none) were reported at `since_ms` or later.
pub fn reported_since(conn: &mut DbConnection, area: Option<&AreaCode>, since_ms: i64) -> QueryResult<i64> {
    let mut query = incidents::table.filter(incidents::reported_at_ms.ge(since_ms)).into_boxed();
    if let Some(area) = area {
        query = query.filter(in_area(area));
    }
    query.select(count_star()).first(conn)
}

/// Open cases (not closed, rejected or merged) whose grid the stored layer does not
/// hold: those a newly imported layer left behind. By id, after `after_id`, at most `limit`.
pub fn in_vanished_grids(conn: &mut DbConnection, after_id: &str, limit: i64) -> QueryResult<Vec<IncidentRow>> {
    let finals = Status::final_names();
    incidents::table
        .filter(not(incidents::status.eq_any(finals)))
        .filter(diesel::dsl::sql::<Bool>(NOT_IN_LAYER))
        .filter(incidents::id.gt(after_id))
        .order(incidents::id.asc())
        .limit(limit)
        .select(IncidentRow::as_select())
        .load(conn)
}

/// How many open cases lie in grids the stored layer does not hold.
pub fn count_in_vanished_grids(conn: &mut DbConnection) -> QueryResult<i64> {
    let finals = Status::final_names();
    incidents::table
        .filter(not(incidents::status.eq_any(finals)))
        .filter(diesel::dsl::sql::<Bool>(NOT_IN_LAYER))
        .select(count_star())
        .first(conn)
}

/// A case's grid is not among the stored grids (`geo::schema::grids`; the same SQL on
/// both backends).
const NOT_IN_LAYER: &str = "incidents.grid_code NOT IN (SELECT code FROM grids)";

/// The case of a task.
pub fn task_incident(conn: &mut DbConnection, task_id: &str) -> QueryResult<Option<String>> {
    tasks::table.filter(tasks::id.eq(task_id)).select(tasks::incident_id).first(conn).optional()
}

/// A case's tasks, oldest first.
pub fn tasks_of(conn: &mut DbConnection, incident_id: &str) -> QueryResult<Vec<TaskRow>> {
    tasks::table
        .filter(tasks::incident_id.eq(incident_id))
        .order((tasks::created_at_ms.asc(), tasks::id.asc()))
        .select(TaskRow::as_select())
        .load(conn)
}

/// The assignees of these tasks, as (task, user) pairs.
pub fn assignees_of(conn: &mut DbConnection, task_ids: &[String]) -> QueryResult<Vec<(String, String)>> {
    task_assignees::table
        .filter(task_assignees::task_id.eq_any(task_ids))
        .order((task_assignees::task_id.asc(), task_assignees::user_id.asc()))
        .select((task_assignees::task_id, task_assignees::user_id))
        .load(conn)
}

/// Adds a task with its assignees.
pub fn insert_task(conn: &mut DbConnection, row: &TaskRow, assignees: &[String]) -> QueryResult<()> {
    diesel::insert_into(tasks::table).values(row).execute(conn)?;
    let assignees: Vec<_> =
        assignees.iter().map(|user| (task_assignees::task_id.eq(&row.id), task_assignees::user_id.eq(user))).collect();
    insert_rows(conn, task_assignees::table, &assignees)?;
    Ok(())
}

/// Updates a task's changing columns.
pub fn update_task(conn: &mut DbConnection, row: &TaskRow) -> QueryResult<()> {
    diesel::update(tasks::table.filter(tasks::id.eq(&row.id)))
        .set((
            tasks::holder_id.eq(&row.holder_id),
            tasks::status.eq(&row.status),
            tasks::rework.eq(row.rework),
            tasks::updated_at_ms.eq(row.updated_at_ms),
            tasks::due_at_ms.eq(row.due_at_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// A case's trace, oldest first.
pub fn events_of(conn: &mut DbConnection, incident_id: &str) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::incident_id.eq(incident_id))
        .order(events::n.asc())
        .select(EventRow::as_select())
        .load(conn)
}

/// The number of a case's last event (0 for none).
pub fn last_event(conn: &mut DbConnection, incident_id: &str) -> QueryResult<i32> {
    events::table
        .filter(events::incident_id.eq(incident_id))
        .select(diesel::dsl::max(events::n))
        .first::<Option<i32>>(conn)
        .map(Option::unwrap_or_default)
}

/// Appends events to the trace. Only the write path calls it, and it chains them into the
/// hash-chained log at the end of the same transaction (`incidents::act::Pending`), so an
/// event exists exactly when its entry does.
pub fn insert_events(conn: &mut DbConnection, rows: &[EventRow]) -> QueryResult<()> {
    insert_rows(conn, events::table, rows).map(|_| ())
}

/// A remembered idempotent request: the body it was bound to and its result.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Remembered {
    /// SHA-256 of the body.
    pub body_hash: String,
    /// The result (JSON).
    pub result: String,
    /// When first used.
    pub created_at_ms: i64,
}

/// The remembered request of (scope, key) first used after `since_ms`.
pub fn remembered(conn: &mut DbConnection, scope: &str, key: &str, since_ms: i64) -> QueryResult<Option<Remembered>> {
    idempotency::table
        .filter(idempotency::scope.eq(scope))
        .filter(idempotency::key.eq(key))
        .filter(idempotency::created_at_ms.ge(since_ms))
        .select((idempotency::body_hash, idempotency::result, idempotency::created_at_ms))
        .first(conn)
        .optional()
}

/// Remembers a request's result, in a savepoint; `Ok(false)` if the key was taken by
/// another transaction meanwhile (the caller rolls back and answers with that one's
/// result). Keys of the same scope first used before `expired_before_ms` are forgotten
/// first (each scope keeps its own time: a day for residents' keys, the log's retention
/// for a device's mutations).
pub fn remember(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    body_hash: &str,
    result: &str,
    now_ms: i64,
    expired_before_ms: i64,
) -> QueryResult<bool> {
    diesel::delete(
        idempotency::table
            .filter(idempotency::scope.eq(scope))
            .filter(idempotency::created_at_ms.lt(expired_before_ms)),
    )
    .execute(conn)?;
    let inserted = conn.transaction(|c| {
        diesel::insert_into(idempotency::table)
            .values((
                idempotency::scope.eq(scope),
                idempotency::key.eq(key),
                idempotency::body_hash.eq(body_hash),
                idempotency::result.eq(result),
                idempotency::created_at_ms.eq(now_ms),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

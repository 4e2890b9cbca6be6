//! Deadline rows in storage: written by the one write path in each command's transaction
//! ([`refresh`]), found and claimed by the timer ([`due`], [`claim`]), read by the inbox.

use diesel::prelude::*;

use super::schema::deadlines;
use crate::incidents::act::Timing;
use crate::incidents::schema::tasks;
use crate::incidents::store::IncidentRow;
use crate::incidents::workflow::Case;
use crate::store::{DbConnection, insert_rows};

/// A running limit as stored. (`None` is stored as NULL, so that many limits go in one
/// statement on SQLite too: see `crate::store::insert_rows`.)
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = deadlines, treat_none_as_null = true)]
pub struct DeadlineRow {
    /// The case.
    pub incident_id: String,
    /// The limit's key within the case.
    pub deadline: String,
    /// The step it times.
    pub step: String,
    /// The task, for a task's limit.
    pub task_id: Option<String>,
    /// The unit it counts in.
    pub unit: String,
    /// When it started.
    pub started_at_ms: i64,
    /// When it turns yellow.
    pub yellow_at_ms: Option<i64>,
    /// When it falls due.
    pub due_at_ms: i64,
    /// When it climbs next.
    pub climb_at_ms: Option<i64>,
    /// When the timer has something to do for it next.
    pub next_at_ms: Option<i64>,
    /// Parked.
    pub parked: bool,
    /// The warning fired.
    pub warned: bool,
    /// It went overdue.
    pub overdue: bool,
    /// The supervising level.
    pub level: Option<i32>,
    /// The supervising centre's unit.
    pub supervisor_code: Option<String>,
}

impl DeadlineRow {
    /// Its light at `now_ms`.
    pub fn light(&self, now_ms: i64) -> crate::calendar::Light {
        super::light_of(self.parked, self.warned, self.overdue, self.yellow_at_ms, self.due_at_ms, now_ms)
    }
}

/// The running limits of the stored case `row` whose workflow state is `case`, computed
/// afresh ([`super::of`]).
pub fn compute(
    conn: &mut DbConnection,
    row: &IncidentRow,
    case: &Case,
    timing: Timing<'_>,
) -> QueryResult<Vec<super::Deadline>> {
    let starts: Vec<(String, i64)> =
        tasks::table.filter(tasks::incident_id.eq(&row.id)).select((tasks::id, tasks::created_at_ms)).load(conn)?;
    let start = |id: uuid::Uuid| {
        let id = id.to_string();
        starts.iter().find(|(t, _)| *t == id).map(|(_, at)| *at)
    };
    let level = u8::try_from(row.level).unwrap_or(5);
    Ok(super::of(case, &start, level, timing))
}

/// Writes the case's running limits, in the caller's transaction: those no longer running
/// go, the others are written as they stand now.
pub fn refresh(conn: &mut DbConnection, row: &IncidentRow, case: &Case, timing: Timing<'_>) -> QueryResult<()> {
    let place = row.place();
    let rows: Vec<DeadlineRow> = compute(conn, row, case, timing)?
        .iter()
        .map(|d| DeadlineRow {
            incident_id: row.id.clone(),
            deadline: d.key.clone(),
            step: d.step.as_str().to_owned(),
            task_id: d.task.map(|t| t.to_string()),
            unit: super::unit_name(d.unit).to_owned(),
            started_at_ms: d.started_ms,
            yellow_at_ms: d.yellow_ms,
            due_at_ms: d.due_ms,
            climb_at_ms: d.climb_ms,
            next_at_ms: d.next_ms,
            parked: d.parked,
            warned: d.warned,
            overdue: d.level.is_some(),
            level: d.level.map(i32::from),
            supervisor_code: d.level.and_then(|l| super::unit_at(&place, l)).map(str::to_owned),
        })
        .collect();
    write(conn, &row.id, &rows)
}

fn write(conn: &mut DbConnection, incident: &str, rows: &[DeadlineRow]) -> QueryResult<()> {
    let stored: Vec<String> =
        deadlines::table.filter(deadlines::incident_id.eq(incident)).select(deadlines::deadline).load(conn)?;
    let keep: Vec<&str> = rows.iter().map(|r| r.deadline.as_str()).collect();
    let gone: Vec<&String> = stored.iter().filter(|k| !keep.contains(&k.as_str())).collect();
    if !gone.is_empty() {
        diesel::delete(
            deadlines::table.filter(deadlines::incident_id.eq(incident)).filter(deadlines::deadline.eq_any(gone)),
        )
        .execute(conn)?;
    }
    // New limits in one statement; those already stored updated one at a time
    // (MultiConnection has no upsert).
    let (known, new): (Vec<&DeadlineRow>, Vec<&DeadlineRow>) = rows.iter().partition(|r| stored.contains(&r.deadline));
    let new: Vec<DeadlineRow> = new.into_iter().cloned().collect();
    insert_rows(conn, deadlines::table, &new)?;
    for r in known {
        diesel::update(
            deadlines::table.filter(deadlines::incident_id.eq(incident)).filter(deadlines::deadline.eq(&r.deadline)),
        )
        .set((
            deadlines::step.eq(&r.step),
            deadlines::task_id.eq(&r.task_id),
            deadlines::unit.eq(&r.unit),
            deadlines::started_at_ms.eq(r.started_at_ms),
            deadlines::yellow_at_ms.eq(r.yellow_at_ms),
            deadlines::due_at_ms.eq(r.due_at_ms),
            deadlines::climb_at_ms.eq(r.climb_at_ms),
            deadlines::next_at_ms.eq(r.next_at_ms),
            deadlines::parked.eq(r.parked),
            deadlines::warned.eq(r.warned),
            deadlines::overdue.eq(r.overdue),
            deadlines::level.eq(r.level),
            deadlines::supervisor_code.eq(&r.supervisor_code),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Up to `limit` limits with something due by `now_ms`, most overdue first: (case, key, the
/// instant it was due at, which [`claim`] checks).
pub fn due(conn: &mut DbConnection, now_ms: i64, limit: i64) -> QueryResult<Vec<(String, String, i64)>> {
    let rows: Vec<(String, String, Option<i64>)> = deadlines::table
        .filter(deadlines::next_at_ms.le(now_ms))
        .order((deadlines::next_at_ms.asc(), deadlines::incident_id.asc(), deadlines::deadline.asc()))
        .limit(limit)
        .select((deadlines::incident_id, deadlines::deadline, deadlines::next_at_ms))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(i, k, at)| Some((i, k, at?))).collect())
}

/// Claims a due limit for firing, once: true only for the one transaction (on any node)
/// whose conditional update still found it due at `seen_ms`. The firing's own refresh then
/// writes when it is due next.
pub fn claim(conn: &mut DbConnection, incident: &str, key: &str, seen_ms: i64) -> QueryResult<bool> {
    diesel::update(
        deadlines::table
            .filter(deadlines::incident_id.eq(incident))
            .filter(deadlines::deadline.eq(key))
            .filter(deadlines::next_at_ms.eq(seen_ms)),
    )
    .set(deadlines::next_at_ms.eq(None::<i64>))
    .execute(conn)
    .map(|n| n == 1)
}

/// When the timer has something to do next for one limit, if it is running.
pub fn next_at(conn: &mut DbConnection, incident: &str, key: &str) -> QueryResult<Option<i64>> {
    deadlines::table
        .filter(deadlines::incident_id.eq(incident))
        .filter(deadlines::deadline.eq(key))
        .select(deadlines::next_at_ms)
        .first::<Option<i64>>(conn)
        .optional()
        .map(Option::flatten)
}

/// Sets a limit aside (nothing more to fire) when firing it failed for a reason firing it
/// again would not cure.
pub fn set_aside(conn: &mut DbConnection, incident: &str, key: &str) -> QueryResult<()> {
    diesel::update(deadlines::table.filter(deadlines::incident_id.eq(incident)).filter(deadlines::deadline.eq(key)))
        .set(deadlines::next_at_ms.eq(None::<i64>))
        .execute(conn)
        .map(|_| ())
}

/// Up to `limit` open cases (by id, after `after_id`) that have no limit rows at all: cases
/// opened before limits were rows, which [`refresh`] brings in line once.
pub fn without_rows(conn: &mut DbConnection, after_id: &str, limit: i64) -> QueryResult<Vec<String>> {
    use crate::incidents::schema::incidents;
    use crate::incidents::workflow::Status;
    let finals = Status::final_names();
    incidents::table
        .filter(diesel::dsl::not(incidents::status.eq_any(finals)))
        // NOT EXISTS, an anti-join on both backends: `NOT IN (…)` over many ids outgrows
        // PostgreSQL's hash and compares them pairwise.
        .filter(diesel::dsl::not(diesel::dsl::exists(
            deadlines::table.filter(deadlines::incident_id.eq(incidents::id)),
        )))
        .filter(incidents::id.gt(after_id))
        .order(incidents::id.asc())
        .limit(limit)
        .select(incidents::id)
        .load(conn)
}

/// The running limits of these cases.
pub fn of_cases(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<DeadlineRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    deadlines::table
        .filter(deadlines::incident_id.eq_any(ids))
        .order((deadlines::incident_id, deadlines::started_at_ms, deadlines::deadline))
        .select(DeadlineRow::as_select())
        .load(conn)
}

/// The overdue limits in a supervision queue: that of the centre of unit `code`, or every
/// queue (`None`).
pub fn supervised(conn: &mut DbConnection, code: Option<&str>) -> QueryResult<Vec<DeadlineRow>> {
    let mut query = deadlines::table.filter(deadlines::overdue.eq(true)).into_boxed();
    if let Some(code) = code {
        query = query.filter(deadlines::supervisor_code.eq(code.to_owned()));
    }
    query.select(DeadlineRow::as_select()).load(conn)
}

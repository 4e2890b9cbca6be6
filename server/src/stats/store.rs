//! Each case's facts in storage (`case_figures`), kept by the one write path in the
//! transaction that changes the case: a row at the report, the new events folded in at
//! every commit. Cases stored before the table existed are folded from their trace at
//! start ([`backfill`]).

use diesel::prelude::*;

use super::facts::Facts;
use crate::incidents::schema::{events, incidents};
use crate::incidents::store::IncidentRow;
use crate::incidents::workflow::{Case, Event, Rating};
use crate::store::DbConnection;

diesel::table! {
    /// One row per case: what the statistics count (see the migration and docs/statistics.md).
    case_figures (incident_id) {
        /// The case.
        incident_id -> Text,
        /// When it was reported (Unix ms): periods count cases by it.
        reported_at_ms -> BigInt,
        /// Its city.
        city_code -> Text,
        /// Its county.
        county_code -> Text,
        /// Its township.
        township_code -> Text,
        /// Its community.
        community_code -> Text,
        /// Its grid.
        grid_code -> Text,
        /// Its category (a leaf code).
        category_code -> Text,
        /// Its status now.
        status -> Text,
        /// When its current step falls due, if it has a limit.
        due_at_ms -> Nullable<BigInt>,
        /// The staff member who reported it.
        reporter_id -> Nullable<Text>,
        /// End of 受理.
        accepted_at_ms -> Nullable<BigInt>,
        /// 立案.
        registered_at_ms -> Nullable<BigInt>,
        /// End of 派遣.
        dispatched_at_ms -> Nullable<BigInt>,
        /// End of 处置.
        handled_at_ms -> Nullable<BigInt>,
        /// End of 核查.
        verified_at_ms -> Nullable<BigInt>,
        /// Last closed.
        closed_at_ms -> Nullable<BigInt>,
        /// Sent back at least once (0 or 1).
        reworked -> Integer,
        /// 受理 past its limit.
        accept_late -> Integer,
        /// 派遣 past its limit.
        dispatch_late -> Integer,
        /// 核实 past its limit.
        confirm_late -> Integer,
        /// 处置 past its limit.
        handle_late -> Integer,
        /// 核查 past its limit.
        verify_late -> Integer,
        /// Extensions granted.
        extensions -> Integer,
        /// Times parked.
        parks -> Integer,
        /// `satisfied`, `basic` or `unsatisfied`.
        rating -> Nullable<Text>,
        /// Self-handled (0 or 1).
        self_handled -> Integer,
        /// What the lead was sent to.
        handler_kind -> Nullable<Text>,
        /// Its code.
        handler_code -> Nullable<Text>,
        /// Who completed the lead task.
        handler_id -> Nullable<Text>,
        /// Who answered the 核实 task.
        confirmer_id -> Nullable<Text>,
        /// Who decided the 核查.
        verifier_id -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(case_figures, incidents);

/// A case's row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = case_figures, treat_none_as_null = true)]
pub struct FiguresRow {
    incident_id: String,
    reported_at_ms: i64,
    city_code: String,
    county_code: String,
    township_code: String,
    community_code: String,
    grid_code: String,
    category_code: String,
    status: String,
    due_at_ms: Option<i64>,
    reporter_id: Option<String>,
    accepted_at_ms: Option<i64>,
    registered_at_ms: Option<i64>,
    dispatched_at_ms: Option<i64>,
    handled_at_ms: Option<i64>,
    verified_at_ms: Option<i64>,
    closed_at_ms: Option<i64>,
    reworked: i32,
    accept_late: i32,
    dispatch_late: i32,
    confirm_late: i32,
    handle_late: i32,
    verify_late: i32,
    extensions: i32,
    parks: i32,
    rating: Option<String>,
    self_handled: i32,
    handler_kind: Option<String>,
    handler_code: Option<String>,
    handler_id: Option<String>,
    confirmer_id: Option<String>,
    verifier_id: Option<String>,
}

fn rating_str(rating: Rating) -> &'static str {
    match rating {
        Rating::Satisfied => "satisfied",
        Rating::Basic => "basic",
        Rating::Unsatisfied => "unsatisfied",
    }
}

fn rating_of(s: &str) -> Option<Rating> {
    match s {
        "satisfied" => Some(Rating::Satisfied),
        "basic" => Some(Rating::Basic),
        "unsatisfied" => Some(Rating::Unsatisfied),
        _ => None,
    }
}

impl FiguresRow {
    /// The row of `case` with these facts.
    pub fn of(case: &IncidentRow, facts: &Facts) -> FiguresRow {
        FiguresRow {
            incident_id: case.id.clone(),
            reported_at_ms: case.reported_at_ms,
            city_code: case.city_code.clone(),
            county_code: case.county_code.clone(),
            township_code: case.township_code.clone(),
            community_code: case.community_code.clone(),
            grid_code: case.grid_code.clone(),
            category_code: case.category_code.clone(),
            status: case.status.clone(),
            due_at_ms: case.due_at_ms,
            reporter_id: case.reporter_id.clone(),
            accepted_at_ms: facts.accepted_at_ms,
            registered_at_ms: facts.registered_at_ms,
            dispatched_at_ms: facts.dispatched_at_ms,
            handled_at_ms: facts.handled_at_ms,
            verified_at_ms: facts.verified_at_ms,
            closed_at_ms: facts.closed_at_ms,
            reworked: i32::from(facts.reworked),
            accept_late: i32::from(facts.accept_late),
            dispatch_late: i32::from(facts.dispatch_late),
            confirm_late: i32::from(facts.confirm_late),
            handle_late: i32::from(facts.handle_late),
            verify_late: i32::from(facts.verify_late),
            extensions: facts.extensions,
            parks: facts.parks,
            rating: facts.rating.map(rating_str).map(str::to_owned),
            self_handled: i32::from(facts.self_handled),
            handler_kind: facts.handler_kind.map(str::to_owned),
            handler_code: facts.handler_code.clone(),
            handler_id: facts.handler_id.clone(),
            confirmer_id: facts.confirmer_id.clone(),
            verifier_id: facts.verifier_id.clone(),
        }
    }

    /// The facts the row holds.
    pub fn facts(&self) -> Facts {
        let kind = match self.handler_kind.as_deref() {
            Some("grid") => Some("grid"),
            Some("unit") => Some("unit"),
            Some("department") => Some("department"),
            Some("user") => Some("user"),
            _ => None,
        };
        Facts {
            accepted_at_ms: self.accepted_at_ms,
            registered_at_ms: self.registered_at_ms,
            dispatched_at_ms: self.dispatched_at_ms,
            handled_at_ms: self.handled_at_ms,
            verified_at_ms: self.verified_at_ms,
            closed_at_ms: self.closed_at_ms,
            reworked: self.reworked != 0,
            accept_late: self.accept_late != 0,
            dispatch_late: self.dispatch_late != 0,
            confirm_late: self.confirm_late != 0,
            handle_late: self.handle_late != 0,
            verify_late: self.verify_late != 0,
            extensions: self.extensions,
            parks: self.parks,
            rating: self.rating.as_deref().and_then(rating_of),
            self_handled: self.self_handled != 0,
            handler_kind: kind,
            handler_code: self.handler_code.clone(),
            handler_id: self.handler_id.clone(),
            confirmer_id: self.confirmer_id.clone(),
            verifier_id: self.verifier_id.clone(),
        }
    }
}

/// A case's stored row, if it has one.
pub fn row_of(conn: &mut DbConnection, incident_id: &str) -> QueryResult<Option<FiguresRow>> {
    case_figures::table.find(incident_id).select(FiguresRow::as_select()).first(conn).optional()
}

/// Writes a case's row, replacing the one stored.
pub fn save(conn: &mut DbConnection, row: &FiguresRow) -> QueryResult<()> {
    let updated = diesel::update(case_figures::table.find(&row.incident_id)).set(row).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(case_figures::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// How many cases were folded from their trace.
const BACKFILL_BATCH: i64 = 500;

/// Folds the trace of every case that has no row yet (cases stored before the table
/// existed) into its row; returns how many. Run at start, before anything is served.
pub fn backfill(conn: &mut DbConnection) -> QueryResult<usize> {
    // Two counts decide it at almost every start: every case has its row.
    let cases: i64 = incidents::table.count().get_result(conn)?;
    let rows: i64 = case_figures::table.count().get_result(conn)?;
    if rows >= cases {
        return Ok(0);
    }
    let mut done = 0;
    loop {
        // NOT EXISTS, which both planners run as an anti-join: as `NOT IN (…)` over
        // 300,000 ids, PostgreSQL outgrew its hash and compared them pairwise for minutes.
        let missing: Vec<IncidentRow> = incidents::table
            .filter(diesel::dsl::not(diesel::dsl::exists(
                case_figures::table.filter(case_figures::incident_id.eq(incidents::id)),
            )))
            .order(incidents::id)
            .limit(BACKFILL_BATCH)
            .select(IncidentRow::as_select())
            .load(conn)?;
        if missing.is_empty() {
            return Ok(done);
        }
        for case in &missing {
            let trace: Vec<(String, Option<String>, String, i64)> = events::table
                .filter(events::incident_id.eq(&case.id))
                .order(events::n)
                .select((events::action, events::actor_id, events::data, events::at_ms))
                .load(conn)?;
            let mut state = Case::reported(case.reported_at_ms);
            let mut facts = Facts::default();
            for (action, actor, data, at_ms) in &trace {
                let Some(event) = event_of(action, data) else { continue };
                state.apply(&event, *at_ms);
                facts.observe(&event, &state, actor.as_deref(), case.reporter_id.as_deref(), *at_ms);
            }
            save(conn, &FiguresRow::of(case, &facts))?;
            done += 1;
        }
    }
}

/// The event a stored trace entry records, if this version knows it.
fn event_of(action: &str, data: &str) -> Option<Event> {
    let mut value: serde_json::Value = serde_json::from_str(data).ok()?;
    value.as_object_mut()?.insert("event".into(), serde_json::Value::String(action.to_owned()));
    serde_json::from_value(value).ok()
}

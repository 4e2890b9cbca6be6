//! The rules acting on their own (DOMAIN.md: "routing proposes, people dispose"). When a
//! case arrives — a resident's report, a call filed by the hotline, a worker's finding — the
//! rules are asked where it should go. If they may act for it ([`Suggestion::automatic`]),
//! the system does, each step a command through the one write path, traced as done by
//! `system` with the rule's name:
//! - an emergency of grades I–III is escalated (上报) from the township's queue into the
//!   county centre's, and the city is told; it stays open for the county to take in;
//! - a worker's own finding, or a case of a category marked to dispatch automatically filed
//!   by the hotline, is taken in (unless its finder already did) and dispatched to the
//!   target proposed, and the units the rule names are told.
//!
//! Otherwise, or when nobody stands behind the target, the case waits in the queue of the
//! lowest centre on its chain, with the suggestion beside it.

use diesel::Connection;
use uuid::Uuid;

use super::{Chain, Source, Suggestion, on_duty, roster, suggest};
use crate::auth::{self, Role};
use crate::categories::CategoryTree;
use crate::incidents::act::{self, ActError, Actor, Extra, Timing};
use crate::incidents::routes::{Desk, TargetSpec};
use crate::incidents::store::IncidentRow;
use crate::incidents::workflow::{Assignment, Command, Status, Target};
use crate::problem::ApiError;
use crate::store::DbConnection;
use crate::sync::hub::Touched;

/// The rules' proposal for the stored case `row` at `now_ms`: its category and grade, its
/// place, who reported it (a grid worker's own finding or not) and the grid's duty roster.
/// `None` for a category no longer in the tree or a place not known down to its community.
pub fn proposal(
    conn: &mut DbConnection,
    tree: &CategoryTree,
    row: &IncidentRow,
    now_ms: i64,
) -> diesel::QueryResult<Option<Suggestion>> {
    let Some(category) = tree.category(&row.category_code) else { return Ok(None) };
    let reporter = match &row.reporter_id {
        Some(id) => auth::user_by_id(conn, id)?,
        None => None,
    };
    let source = match reporter.as_ref().map(|u| (u.role(), Uuid::parse_str(&u.id))) {
        Some((Some(Role::GridWorker), Ok(id))) => Source::Worker(id),
        Some((Some(Role::HotlineOperator), _)) => Source::Hotline,
        _ => Source::Resident,
    };
    let roster = roster::shifts_of(conn, &row.grid_code)?;
    let duty = on_duty(&roster, &row.grid_code, now_ms);
    Ok(suggest(category, row.severity(), &Chain::of(&row.place()), source, duty))
}

/// What the rules did to a case: whom the commits concern, and the case as stored now.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Hand it to the notifier once committed.
    pub touched: Touched,
    /// The case after the rules' last step.
    pub row: IncidentRow,
}

/// The rules' steps on one case so far, each a command by the system.
struct Steps<'a, 'd> {
    conn: &'a mut DbConnection,
    system: Actor,
    timing: Timing<'d>,
    now_ms: i64,
    done: Routed,
}

impl Steps<'_, '_> {
    fn run(&mut self, command: &Command, extra: &Extra) -> Result<(), ActError> {
        let id = self.done.row.id.clone();
        let outcome = act::execute(self.conn, &id, &self.system, command, extra, self.timing, self.now_ms)?;
        self.done.touched.merge(outcome.touched);
        self.done.row = outcome.row;
        Ok(())
    }

    /// Tells the units the rule names, if any (抄告).
    fn inform(&mut self, suggestion: &Suggestion, by_rule: &Extra) -> Result<(), ActError> {
        if suggestion.notify.is_empty() {
            return Ok(());
        }
        let inform = Command::Inform { units: suggestion.notify.clone(), note: format!("rule {}", suggestion.rule) };
        self.run(&inform, by_rule)
    }
}

/// Lets the rules act on `row`, a case just opened (and, for a finding, taken in by its
/// finder), in the caller's transaction: when they may, the system accepts it (unless its
/// finder already did), dispatches it and tells those the rule names. What they did, or
/// `None` when the case waits for a person.
///
/// The rules' steps run in a savepoint: should the workflow refuse one (a rule at odds with
/// the case), they are undone and the case waits in its queue as filed — a report is never
/// lost to routing. A storage failure is passed up.
pub fn on_arrival(
    conn: &mut DbConnection,
    desk: &Desk<'_>,
    row: &IncidentRow,
    now_ms: i64,
) -> Result<Option<Routed>, ActError> {
    match conn.transaction(|c| route(c, desk, row, now_ms)) {
        Err(ActError::Refused(refusal)) => {
            tracing::warn!(case = %row.id, %refusal, "the rules' steps were refused; the case waits in its queue");
            Ok(None)
        }
        done => done,
    }
}

fn route(conn: &mut DbConnection, desk: &Desk<'_>, row: &IncidentRow, now_ms: i64) -> Result<Option<Routed>, ActError> {
    let Some(suggestion) = proposal(conn, desk.tree, row, now_ms)? else { return Ok(None) };
    if !suggestion.automatic {
        return Ok(None);
    }
    let system = Actor::system();
    let by_rule = Extra { rule: Some(suggestion.rule.to_owned()), ..Extra::default() };
    if suggestion.escalates {
        let (Target::Unit(to), Some(from)) = (&suggestion.target, row.queue()) else { return Ok(None) };
        let done = Routed { touched: Touched::default(), row: row.clone() };
        let mut steps = Steps { conn, system, timing: desk.timing(row), now_ms, done };
        if from != *to {
            let grade = row.severity.as_deref().unwrap_or("?");
            let reason = format!("a grade {grade} emergency goes straight to the county centre");
            let escalate = Command::Escalate { from, to: Some(to.clone()), reason };
            steps.run(&escalate, &Extra { level: Some(i32::from(suggestion.level)), ..by_rule.clone() })?;
        }
        steps.inform(&suggestion, &by_rule)?;
        tracing::info!(case = %row.id, rule = suggestion.rule, "escalated by the rules");
        return Ok(Some(steps.done));
    }
    let (target, assignees, level) = match desk.resolve(conn, &system.viewer, &TargetSpec::from(&suggestion.target)) {
        Ok(found) if !found.1.is_empty() => found,
        // Nobody stands behind the target (no account yet, a unit the layer lost): a person
        // routes it.
        Ok(_) | Err(ApiError::Unprocessable { .. }) => {
            tracing::warn!(case = %row.id, rule = suggestion.rule, "nobody to dispatch a case to; it waits in the queue");
            return Ok(None);
        }
        Err(e) => return Err(ActError::Routing(e.to_string())),
    };
    let timing = desk.timing(row);
    let done = Routed { touched: Touched::default(), row: row.clone() };
    let mut steps = Steps { conn, system, timing, now_ms, done };
    if row.status == Status::Reported.as_str() {
        steps.run(&Command::Accept { confirm: None }, &by_rule)?;
    }
    let lead = Assignment { task: Uuid::new_v4(), target, assignees, due_ms: timing.due(now_ms, |l| l.handle) };
    let dispatch = Command::Dispatch { lead, assist: Vec::new() };
    steps.run(&dispatch, &Extra { level: Some(level), ..by_rule.clone() })?;
    steps.inform(&suggestion, &by_rule)?;
    tracing::info!(case = %row.id, rule = suggestion.rule, "dispatched by the rules");
    Ok(Some(steps.done))
}

//! The rules acting on their own (docs/domain.md: "routing proposes, people dispose"). When a
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

use uuid::Uuid;

use super::{Chain, Source, Suggestion, on_duty, roster, suggest};
use crate::auth::{self, Role};
use crate::categories::CategoryTree;
use crate::error_kind::ErrorKind;
use crate::incidents::act::{ActError, Actor, Extra, Tx};
use crate::incidents::desk::{Desk, TargetSpec};
use crate::incidents::store::IncidentRow;
use crate::incidents::workflow::{Assignment, Command, Status, Target};
use crate::problem::ApiError;
use crate::store::DbConnection;

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
        None if row.source == crate::sensors::SOURCE => Source::Sensor,
        _ => Source::Resident,
    };
    let roster = roster::shifts_of(conn, &row.grid_code)?;
    let duty = on_duty(&roster, &row.grid_code, now_ms);
    Ok(suggest(category, row.severity(), &Chain::of(&row.place()), source, duty))
}

/// The rules' steps on one case so far, each a command by the system through the one
/// write path; the case as its last step left it.
struct Steps<'t, 'a> {
    tx: &'t mut Tx<'a>,
    system: Actor,
    now_ms: i64,
    row: IncidentRow,
}

impl Steps<'_, '_> {
    fn run(&mut self, command: Command, extra: &Extra) -> Result<(), ActError> {
        let id = self.row.id.clone();
        let extra = extra.clone();
        let outcome = self.tx.act(&id, &self.system, self.now_ms, |_, _| Ok::<_, ActError>((command, extra)))?;
        self.row = outcome.row;
        Ok(())
    }

    /// Tells the units the rule names, if any (抄告).
    fn inform(&mut self, suggestion: &Suggestion, by_rule: &Extra) -> Result<(), ActError> {
        if suggestion.notify.is_empty() {
            return Ok(());
        }
        let inform = Command::Inform { units: suggestion.notify.clone(), note: format!("rule {}", suggestion.rule) };
        self.run(inform, by_rule)
    }
}

/// Sends a grave emergency (grades I–III) from the township's queue into the county
/// centre's and tells those the rule names: the case as it is then, or `None` when the
/// rule has no unit to send it to.
fn escalate(
    tx: &mut Tx<'_>,
    row: &IncidentRow,
    suggestion: &Suggestion,
    now_ms: i64,
) -> Result<Option<IncidentRow>, ActError> {
    let (Target::Unit(to), Some(from)) = (&suggestion.target, row.queue()) else { return Ok(None) };
    let by_rule = Extra { rule: Some(suggestion.rule.to_owned()), ..Extra::default() };
    let mut steps = Steps { tx, system: Actor::system(), now_ms, row: row.clone() };
    if from != *to {
        let grade = row.severity.as_deref().unwrap_or("?");
        let reason = format!("a grade {grade} emergency goes straight to the county centre");
        steps.run(Command::Escalate { from, to: Some(to.clone()), reason }, &by_rule)?;
    }
    steps.inform(suggestion, &by_rule)?;
    tracing::info!(case = %row.id, rule = suggestion.rule, "escalated by the rules");
    Ok(Some(steps.row))
}

/// Lets the rules act on `row` once staff graded it (定级): a grade of I–III confirmed
/// on a case still below the county sends it there, as it would have on arrival had staff
/// reported it so (a resident's grade is only a claim). Run in a savepoint like
/// [`on_arrival`]; the case as the rules left it, or `None`.
pub fn on_grade(
    tx: &mut Tx<'_>,
    desk: &Desk<'_>,
    row: &IncidentRow,
    now_ms: i64,
) -> Result<Option<IncidentRow>, ActError> {
    let grave = tx.savepoint(|tx| {
        let Some(suggestion) = proposal(tx.conn(), desk.tree, row, now_ms)? else { return Ok(None) };
        if !(suggestion.automatic && suggestion.escalates) {
            return Ok(None);
        }
        escalate(tx, row, &suggestion, now_ms)
    });
    match grave {
        Err(ActError::Refused(refusal)) => {
            tracing::warn!(case = %row.id, %refusal, "the rules' escalation was refused; the case stays where it is");
            Ok(None)
        }
        done => done,
    }
}

/// Lets the rules act on `row`, a case just opened (and, for a finding, taken in by its
/// finder), in the write path's transaction `tx`: when they may, the system accepts it
/// (unless its finder already did), dispatches it and tells those the rule names. The case
/// as the rules left it, or `None` when it waits for a person.
///
/// The rules' steps run in a savepoint: should the workflow refuse one (a rule at odds with
/// the case), they are undone and the case waits in its queue as filed — a report is never
/// lost to routing. A storage failure is passed up.
pub fn on_arrival(
    tx: &mut Tx<'_>,
    desk: &Desk<'_>,
    row: &IncidentRow,
    now_ms: i64,
) -> Result<Option<IncidentRow>, ActError> {
    match tx.savepoint(|tx| route(tx, desk, row, now_ms)) {
        Err(ActError::Refused(refusal)) => {
            tracing::warn!(case = %row.id, %refusal, "the rules' steps were refused; the case waits in its queue");
            Ok(None)
        }
        done => done,
    }
}

fn route(tx: &mut Tx<'_>, desk: &Desk<'_>, row: &IncidentRow, now_ms: i64) -> Result<Option<IncidentRow>, ActError> {
    let Some(suggestion) = proposal(tx.conn(), desk.tree, row, now_ms)? else { return Ok(None) };
    if !suggestion.automatic {
        return Ok(None);
    }
    let system = Actor::system();
    let by_rule = Extra { rule: Some(suggestion.rule.to_owned()), ..Extra::default() };
    if suggestion.escalates {
        return escalate(tx, row, &suggestion, now_ms);
    }
    let (target, assignees, level) = match desk.resolve(
        tx.conn(),
        &system.viewer,
        &TargetSpec::from(&suggestion.target),
    ) {
        Ok(found) if !found.1.is_empty() => found,
        // Nobody stands behind the target (no account yet, a unit the layer lost): a person
        // routes it.
        Ok(_) | Err(ApiError::Refused { kind: ErrorKind::UnknownTarget, .. }) => {
            tracing::warn!(case = %row.id, rule = suggestion.rule, "nobody to dispatch a case to; it waits in the queue");
            return Ok(None);
        }
        Err(e) => return Err(ActError::Routing(e.to_string())),
    };
    let due_ms = desk.timing(row).due(now_ms, |l| l.handle);
    let mut steps = Steps { tx, system, now_ms, row: row.clone() };
    if row.status == Status::Reported.as_str() {
        steps.run(Command::Accept { confirm: None }, &by_rule)?;
    }
    let lead = Assignment { task: Uuid::new_v4(), target, assignees, due_ms, level: Some(level) };
    steps.run(Command::Dispatch { lead, assist: Vec::new() }, &by_rule)?;
    steps.inform(&suggestion, &by_rule)?;
    tracing::info!(case = %row.id, rule = suggestion.rule, "dispatched by the rules");
    Ok(Some(steps.row))
}

//! What one case contributes to the figures, folded from its events as they happen: when
//! each step of the loop ended, who did it, whether a step ran past its limit, how often
//! it was extended or parked, and how the reporter rated it. Plain data and one pure
//! function ([`Facts::observe`]); the write path stores the result beside the case.

use crate::incidents::workflow::{Case, Event, Rating, Target, TaskKind, TaskRole};

/// One case's facts, as the statistics count them (docs/statistics.md names each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// When the centre first decided on the report: accepted (registered or sent to 核实)
    /// or rejected. Ends the 受理 step.
    pub accepted_at_ms: Option<i64>,
    /// When it became a case (立案): accepted directly, or confirmed by 核实.
    pub registered_at_ms: Option<i64>,
    /// When it was first dispatched. Ends the 派遣 step.
    pub dispatched_at_ms: Option<i64>,
    /// When its lead task was first completed. Ends the 处置 step.
    pub handled_at_ms: Option<i64>,
    /// When the first verification (passed or failed) followed. Ends the 核查 step.
    pub verified_at_ms: Option<i64>,
    /// When it was last closed.
    pub closed_at_ms: Option<i64>,
    /// Sent back at least once (返工): a failed 核查 or a reopening.
    pub reworked: bool,
    /// The 受理 step ran past its limit.
    pub accept_late: bool,
    /// The 派遣 step ran past its limit.
    pub dispatch_late: bool,
    /// A 核实 task ran past its limit.
    pub confirm_late: bool,
    /// A 处置 task ran past its limit.
    pub handle_late: bool,
    /// The 核查 step (or a 核查 task) ran past its limit.
    pub verify_late: bool,
    /// Extensions granted (延期).
    pub extensions: i32,
    /// Times a task was parked (挂账).
    pub parks: i32,
    /// The reporter's latest rating.
    pub rating: Option<Rating>,
    /// Reported by a staff member who then completed the lead task themselves (自行处置).
    pub self_handled: bool,
    /// What the lead task was last sent to: `grid`, `unit`, `department` or `user`.
    pub handler_kind: Option<&'static str>,
    /// Its code (a user's id for `user`).
    pub handler_code: Option<String>,
    /// Who last completed the lead task.
    pub handler_id: Option<String>,
    /// Who answered the 核实 task.
    pub confirmer_id: Option<String>,
    /// Who decided the 核查.
    pub verifier_id: Option<String>,
}

/// A target as the figures group it: its kind and code.
fn handler(target: &Target) -> (&'static str, String) {
    match target {
        Target::Grid(code) => ("grid", code.clone()),
        Target::Unit(code) => ("unit", code.clone()),
        Target::Department(code) => ("department", code.clone()),
        Target::User(id) => ("user", id.to_string()),
    }
}

impl Facts {
    /// Whether any step ran past its limit (超期).
    pub fn late(&self) -> bool {
        self.accept_late || self.dispatch_late || self.confirm_late || self.handle_late || self.verify_late
    }

    /// Folds in one event of the case, committed at `at_ms` by `actor`; `after` is the
    /// case with the event applied, `reporter` the staff member who reported it, if one did.
    pub fn observe(&mut self, event: &Event, after: &Case, actor: Option<&str>, reporter: Option<&str>, at_ms: i64) {
        let lead_task = |id| after.tasks.iter().find(|t| t.id == id && t.role == TaskRole::Lead);
        match event {
            Event::Registered => {
                self.accepted_at_ms.get_or_insert(at_ms);
                self.registered_at_ms.get_or_insert(at_ms);
            }
            Event::ConfirmationRequested { .. } | Event::Rejected { .. } => {
                self.accepted_at_ms.get_or_insert(at_ms);
            }
            Event::Confirmed { .. } => {
                self.registered_at_ms.get_or_insert(at_ms);
                self.confirmer_id = actor.map(str::to_owned);
            }
            Event::Voided { .. } => self.confirmer_id = actor.map(str::to_owned),
            Event::Dispatched { lead, .. } => {
                self.dispatched_at_ms.get_or_insert(at_ms);
                self.set_handler(&lead.target);
            }
            Event::Redispatched { to, .. } if lead_task(to.task).is_some() => self.set_handler(&to.target),
            Event::TaskCompleted { task, .. } => match after.tasks.iter().find(|t| t.id == *task) {
                Some(t) if t.kind == TaskKind::Handle && t.role == TaskRole::Lead => {
                    self.handled_at_ms.get_or_insert(at_ms);
                    self.handler_id = actor.map(str::to_owned);
                    self.self_handled = reporter.is_some() && reporter == actor;
                }
                _ => {}
            },
            Event::VerificationPassed { by, .. } => {
                self.verified_at_ms.get_or_insert(at_ms);
                self.verifier_id = Some(by.to_string());
            }
            Event::VerificationFailed { by, .. } => {
                self.verified_at_ms.get_or_insert(at_ms);
                self.verifier_id = Some(by.to_string());
                self.reworked = true;
            }
            Event::Reopened { .. } => self.reworked = true,
            Event::Closed => self.closed_at_ms = Some(at_ms),
            Event::Overdue { step, .. } => match step.as_str() {
                "accept" => self.accept_late = true,
                "dispatch" => self.dispatch_late = true,
                "confirm" => self.confirm_late = true,
                "handle" => self.handle_late = true,
                // The 核查 step, and any step a later version may time.
                _ => self.verify_late = true,
            },
            Event::ExtensionApproved { .. } => self.extensions += 1,
            Event::Parked { .. } => self.parks += 1,
            Event::Rated { rating } => self.rating = Some(*rating),
            _ => {}
        }
    }

    fn set_handler(&mut self, target: &Target) {
        let (kind, code) = handler(target);
        self.handler_kind = Some(kind);
        self.handler_code = Some(code);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::incidents::workflow::{Assignment, Event};

    /// Applies each event to the case and folds it into the facts, at the times given.
    fn fold(events: &[(i64, Option<&str>, Event)], reporter: Option<&str>) -> Facts {
        let mut case = Case::reported(0);
        let mut facts = Facts::default();
        for (at, actor, event) in events {
            case.apply(event, *at);
            facts.observe(event, &case, *actor, reporter, *at);
        }
        facts
    }

    fn dispatched(task: Uuid, worker: Uuid) -> Event {
        let lead = Assignment {
            task,
            target: Target::Grid("321302001001001".into()),
            assignees: vec![worker],
            due_ms: Some(10_000),
            level: Some(5),
        };
        Event::Dispatched { lead, assist: vec![] }
    }

    #[test]
    fn each_step_ends_once_and_a_failed_check_marks_rework() {
        let (task, worker, desk) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let w = worker.to_string();
        let done = |at| (at, Some(w.as_str()), Event::TaskCompleted { task, result: "好了".into() });
        let facts = fold(
            &[
                (100, None, Event::Registered),
                (250, None, dispatched(task, worker)),
                (300, Some(w.as_str()), Event::TaskAccepted { task, by: worker }),
                done(400),
                (500, None, Event::VerificationFailed { by: desk, task, check: None, note: "未修复".into() }),
                done(600),
                (700, None, Event::VerificationPassed { by: desk, check: None, note: String::new() }),
                (800, None, Event::Closed),
                (900, None, Event::Rated { rating: Rating::Basic }),
            ],
            None,
        );
        assert_eq!(
            (facts.accepted_at_ms, facts.registered_at_ms, facts.dispatched_at_ms),
            (Some(100), Some(100), Some(250))
        );
        assert_eq!((facts.handled_at_ms, facts.verified_at_ms, facts.closed_at_ms), (Some(400), Some(500), Some(800)));
        assert!(facts.reworked && !facts.late() && !facts.self_handled);
        assert_eq!((facts.handler_kind, facts.handler_code.as_deref()), (Some("grid"), Some("321302001001001")));
        assert_eq!(facts.handler_id, Some(w.clone()));
        assert_eq!(facts.verifier_id, Some(desk.to_string()));
        assert_eq!(facts.rating, Some(Rating::Basic));
    }

    #[test]
    fn a_finding_handled_by_its_reporter_is_self_handled_and_an_overdue_step_is_late() {
        let (task, worker) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let w = worker.to_string();
        let overdue = Event::Overdue {
            deadline: task.to_string(),
            step: "handle".into(),
            due_ms: 10_000,
            level: 4,
            unit: "321302001".into(),
        };
        let facts = fold(
            &[
                (0, Some(w.as_str()), Event::Registered),
                (0, Some(w.as_str()), dispatched(task, worker)),
                (10, Some(w.as_str()), Event::TaskAccepted { task, by: worker }),
                (10_001, None, overdue),
                (10_002, Some(w.as_str()), Event::TaskCompleted { task, result: "已清理".into() }),
            ],
            Some(w.as_str()),
        );
        assert!(facts.self_handled && facts.handle_late && facts.late() && !facts.dispatch_late);
        // Someone else completing it is not self-handling.
        let other = fold(
            &[
                (0, None, Event::Registered),
                (0, None, dispatched(task, worker)),
                (10, Some(w.as_str()), Event::TaskAccepted { task, by: worker }),
                (20, Some(w.as_str()), Event::TaskCompleted { task, result: "已清理".into() }),
            ],
            Some("someone-else"),
        );
        assert!(!other.self_handled);
    }

    #[test]
    fn a_finding_self_handled_in_one_step_is_registered_closed_and_self_handled() {
        // The steps of `incidents::self_handled` at one instant: the system takes it in,
        // sends it to its finder, the finder takes and completes it, the system checks
        // and closes it.
        let (task, worker) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let w = worker.to_string();
        let lead = Assignment {
            task,
            target: Target::User(worker),
            assignees: vec![worker],
            due_ms: Some(10_000),
            level: Some(5),
        };
        let system = crate::incidents::workflow::SYSTEM;
        let facts = fold(
            &[
                (100, None, Event::Registered),
                (100, None, Event::Dispatched { lead, assist: vec![] }),
                (100, Some(w.as_str()), Event::TaskAccepted { task, by: worker }),
                (100, Some(w.as_str()), Event::TaskCompleted { task, result: "已清理".into() }),
                (100, None, Event::VerificationPassed { by: system, check: None, note: "自行处置".into() }),
                (100, None, Event::Closed),
            ],
            Some(w.as_str()),
        );
        assert!(facts.self_handled && !facts.reworked && !facts.late());
        assert_eq!(
            (facts.registered_at_ms, facts.handled_at_ms, facts.closed_at_ms),
            (Some(100), Some(100), Some(100))
        );
        assert_eq!((facts.handler_kind, facts.handler_id.as_deref()), (Some("user"), Some(w.as_str())));
    }
}

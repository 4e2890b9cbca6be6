//! The decision: a command against a case's state gives the events that follow or a
//! refusal. Pure: no storage, no clock (time comes in as an argument).

use std::collections::BTreeSet;

use uuid::Uuid;

use super::{
    Assignment, Case, Command, Event, Rating, Refusal, SYSTEM, Severity, Status, Task, TaskId, TaskKind, TaskRole,
    TaskStatus, UserId,
};

/// Decides what `actor`'s command, given at `now_ms`, does to `case`: the events, or why not.
pub fn decide(case: &Case, actor: UserId, command: &Command, now_ms: i64) -> Result<Vec<Event>, Refusal> {
    let illegal = || Refusal::IllegalTransition { status: case.status, action: command.name() };
    match command {
        Command::Warn { deadline, step, due_ms } => {
            check_alarm(case, actor, deadline, command.name())?;
            if case.alarm(deadline, *due_ms).is_some_and(|a| a.warned) {
                return Err(Refusal::AlreadyRaised(format!("the warning on {deadline}")));
            }
            Ok(vec![Event::Warned { deadline: deadline.clone(), step: step.clone(), due_ms: *due_ms }])
        }
        Command::Overdue { deadline, step, due_ms, level, unit } => {
            check_alarm(case, actor, deadline, command.name())?;
            if !(1..=3).contains(level) || unit.is_empty() {
                return Err(Refusal::Invalid(format!("no centre at level {level} ({unit:?}) supervises cases")));
            }
            let (deadline, step, due_ms, level, unit) = (deadline.clone(), step.clone(), *due_ms, *level, unit.clone());
            match case.alarm(&deadline, due_ms).and_then(|a| a.level) {
                None => Ok(vec![Event::Overdue { deadline, step, due_ms, level, unit }]),
                Some(from) if level < from => {
                    Ok(vec![Event::SupervisionRaised { deadline, step, due_ms, from, level, unit }])
                }
                Some(_) => Err(Refusal::AlreadyRaised(format!("supervision at level {level} on {deadline}"))),
            }
        }
        Command::Flag { note } => {
            if case.status.is_final() {
                return Err(illegal());
            }
            if note.trim().is_empty() {
                return Err(Refusal::Invalid("a flag (督办) needs a note".into()));
            }
            Ok(vec![Event::Flagged { note: note.trim().to_owned() }])
        }
        Command::Grade { severity, reason } => {
            if case.status.is_final() {
                return Err(illegal());
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("grading a case needs a reason".into()));
            }
            if *severity == case.severity {
                return Err(Refusal::Invalid(format!(
                    "the case is graded {} already",
                    severity.map_or("none", Severity::as_str)
                )));
            }
            Ok(vec![Event::Graded { from: case.severity, to: *severity, reason: reason.trim().to_owned() }])
        }
        Command::Inform { units, note } => {
            // A merged case lives on in its survivor: tell people of that one.
            if case.status == Status::Merged {
                return Err(illegal());
            }
            let mut told: Vec<String> = Vec::with_capacity(units.len());
            for unit in units.iter().map(|u| u.trim()) {
                if unit.is_empty() {
                    return Err(Refusal::Invalid("a unit told of a case needs its code".into()));
                }
                if !told.iter().any(|t| t == unit) {
                    told.push(unit.to_owned());
                }
            }
            if told.is_empty() {
                return Err(Refusal::Invalid("say whom to tell".into()));
            }
            Ok(vec![Event::Informed { units: told, note: note.trim().to_owned() }])
        }
        Command::Accept { confirm } => {
            if case.status != Status::Reported {
                return Err(illegal());
            }
            match confirm {
                None => Ok(vec![Event::Registered]),
                Some(task) => {
                    check_assignment(case, task, &mut BTreeSet::new(), now_ms)?;
                    Ok(vec![Event::ConfirmationRequested { task: task.clone() }])
                }
            }
        }
        Command::Reject { reason } => {
            if !matches!(case.status, Status::Reported | Status::Registered | Status::Returned) {
                return Err(illegal());
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("a rejection needs a reason".into()));
            }
            Ok(vec![Event::Rejected { reason: reason.trim().to_owned() }])
        }
        Command::Dispatch { lead, assist } => {
            if case.status != Status::Registered {
                return Err(illegal());
            }
            let mut ids = BTreeSet::new();
            for a in std::iter::once(lead).chain(assist) {
                check_assignment(case, a, &mut ids, now_ms)?;
            }
            Ok(vec![Event::Dispatched { lead: lead.clone(), assist: assist.clone() }])
        }
        Command::AcceptTask { task } => {
            let t = active_task(case, *task, command.name())?;
            if t.status != TaskStatus::Open {
                return Err(Refusal::TaskNotActive { task: *task, status: t.status, action: command.name() });
            }
            if !t.assignees.contains(&actor) {
                return Err(Refusal::NotYourTask(*task));
            }
            Ok(vec![Event::TaskAccepted { task: *task, by: actor }])
        }
        Command::Arrive { task } => {
            held_task(case, *task, actor, command.name())?;
            Ok(vec![Event::Arrived { task: *task }])
        }
        Command::Progress { task, note } => {
            held_task(case, *task, actor, command.name())?;
            if note.trim().is_empty() {
                return Err(Refusal::Invalid("progress needs a note".into()));
            }
            Ok(vec![Event::Progressed { task: *task, note: note.trim().to_owned() }])
        }
        Command::CompleteTask { task, result } => {
            let t = held_task(case, *task, actor, command.name())?;
            if t.kind != TaskKind::Handle {
                return Err(Refusal::WrongTaskKind { task: *task, kind: t.kind, action: command.name() });
            }
            if t.is_parked() {
                return Err(Refusal::TaskParked(*task));
            }
            Ok(vec![Event::TaskCompleted { task: *task, result: result.trim().to_owned() }])
        }
        Command::ConfirmTask { task, exists } => {
            let t = held_task(case, *task, actor, command.name())?;
            if t.kind != TaskKind::Confirm {
                return Err(Refusal::WrongTaskKind { task: *task, kind: t.kind, action: command.name() });
            }
            Ok(vec![if *exists { Event::Confirmed { task: *task } } else { Event::Voided { task: *task } }])
        }
        Command::Verify { task, passed, note } => {
            if let Some(task) = task {
                let t = held_task(case, *task, actor, command.name())?;
                if t.kind != TaskKind::Verify {
                    return Err(Refusal::WrongTaskKind { task: *task, kind: t.kind, action: command.name() });
                }
            }
            if case.status != Status::Handled {
                return Err(illegal());
            }
            if case.handlers.contains(&actor) {
                return Err(Refusal::VerifierIsHandler);
            }
            let (check, note) = (*task, note.trim().to_owned());
            if *passed {
                return Ok(vec![Event::VerificationPassed { by: actor, check, note }]);
            }
            let lead = case
                .tasks
                .iter()
                .rev()
                .find(|t| t.kind == TaskKind::Handle && t.role == TaskRole::Lead && t.status == TaskStatus::Completed)
                .ok_or_else(illegal)?;
            Ok(vec![Event::VerificationFailed { by: actor, task: lead.id, check, note }])
        }
        Command::Close => {
            if case.status != Status::Verified {
                return Err(illegal());
            }
            Ok(vec![Event::Closed])
        }
        Command::ReturnTask { task, reason } => {
            let t = active_task(case, *task, command.name())?;
            let may = t.holder == Some(actor) || (t.status == TaskStatus::Open && t.assignees.contains(&actor));
            if !may {
                return Err(Refusal::NotYourTask(*task));
            }
            if t.is_parked() {
                return Err(Refusal::TaskParked(*task));
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("giving a task back needs a reason".into()));
            }
            Ok(vec![Event::TaskReturned { task: *task, reason: reason.trim().to_owned() }])
        }
        Command::Redispatch { task, to } => {
            let old = case.tasks.iter().find(|t| t.id == *task).ok_or(Refusal::NoSuchTask(*task))?;
            let movable = old.status.is_active() || old.awaits_redispatch();
            if !movable {
                return Err(Refusal::TaskNotActive { task: *task, status: old.status, action: command.name() });
            }
            let returned_lead = case.status == Status::Returned && old.kind != TaskKind::Verify;
            if case.status != old.home() && !returned_lead {
                return Err(illegal());
            }
            let to = if old.kind == TaskKind::Verify { without_handlers(case, to)? } else { to.clone() };
            check_assignment(case, &to, &mut BTreeSet::new(), now_ms)?;
            Ok(vec![Event::Redispatched { from: *task, to }])
        }
        Command::RequestExtension { task, until_ms, reason } => {
            let t = held_task(case, *task, actor, command.name())?;
            if t.extension.is_some() {
                return Err(Refusal::ExtensionPending(*task));
            }
            if t.is_parked() {
                return Err(Refusal::TaskParked(*task));
            }
            let Some(due) = t.due_ms else {
                return Err(Refusal::Invalid(format!("task {task} has no deadline to extend")));
            };
            if *until_ms <= due.max(now_ms) {
                return Err(Refusal::Invalid("more time must end after the current deadline".into()));
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("asking for more time needs a reason".into()));
            }
            Ok(vec![Event::ExtensionRequested { task: *task, until_ms: *until_ms, reason: reason.trim().to_owned() }])
        }
        Command::AnswerExtension { task, approve, until_ms, reason } => {
            let t = active_task(case, *task, command.name())?;
            let Some(asked) = &t.extension else {
                return Err(Refusal::NoExtensionRequest(*task));
            };
            if t.holder == Some(actor) || t.assignees.contains(&actor) {
                return Err(Refusal::OwnExtension);
            }
            if !approve {
                if reason.trim().is_empty() {
                    return Err(Refusal::Invalid("refusing more time needs a reason".into()));
                }
                return Ok(vec![Event::ExtensionRefused { task: *task, reason: reason.trim().to_owned() }]);
            }
            let until = until_ms.unwrap_or(asked.until_ms);
            if until <= t.due_ms.unwrap_or(i64::MIN).max(now_ms) {
                return Err(Refusal::Invalid("the new deadline must end after the current one".into()));
            }
            Ok(vec![Event::ExtensionApproved { task: *task, until_ms: until }])
        }
        Command::RequestVerification { task } => {
            if case.status != Status::Handled {
                return Err(illegal());
            }
            if let Some(out) = case.tasks.iter().find(|t| t.kind == TaskKind::Verify && t.status.is_active()) {
                return Err(Refusal::Invalid(format!("verify task {} is already out; redispatch it instead", out.id)));
            }
            let task = without_handlers(case, task)?;
            check_assignment(case, &task, &mut BTreeSet::new(), now_ms)?;
            Ok(vec![Event::VerificationRequested { task }])
        }
        Command::RequestPark { task, reason, until_ms } => {
            let t = held_task(case, *task, actor, command.name())?;
            if t.kind != TaskKind::Handle {
                return Err(Refusal::WrongTaskKind { task: *task, kind: t.kind, action: command.name() });
            }
            if t.is_parked() {
                return Err(Refusal::TaskParked(*task));
            }
            if t.park.is_some() {
                return Err(Refusal::ParkPending(*task));
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("parking a task needs a reason".into()));
            }
            if until_ms.is_some_and(|until| until <= now_ms) {
                return Err(Refusal::Invalid("the expected end of parking must lie ahead".into()));
            }
            Ok(vec![Event::ParkRequested { task: *task, reason: reason.trim().to_owned(), until_ms: *until_ms }])
        }
        Command::AnswerPark { task, approve, reason } => {
            let t = active_task(case, *task, command.name())?;
            if t.park.is_none() {
                return Err(Refusal::NoParkRequest(*task));
            }
            if t.holder == Some(actor) || t.assignees.contains(&actor) {
                return Err(Refusal::OwnPark);
            }
            if *approve {
                return Ok(vec![Event::Parked { task: *task }]);
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("refusing to park a task needs a reason".into()));
            }
            Ok(vec![Event::ParkRefused { task: *task, reason: reason.trim().to_owned() }])
        }
        Command::Resume { task, due_ms } => {
            let t = active_task(case, *task, command.name())?;
            let Some(pause) = t.paused.last().filter(|_| t.is_parked()) else {
                return Err(Refusal::NotParked(*task));
            };
            // The holder or someone it was not sent to (the centre); not another assignee.
            if t.holder != Some(actor) && t.assignees.contains(&actor) {
                return Err(Refusal::NotYourTask(*task));
            }
            let paused_ms = (now_ms - pause.from_ms).max(0);
            let due_ms = t.due_ms.map(|due| due_ms.unwrap_or(due + paused_ms));
            Ok(vec![Event::Resumed { task: *task, paused_ms, due_ms }])
        }
        Command::Merge { into, reason } => {
            if case.status.is_final() {
                return Err(illegal());
            }
            if into.trim().is_empty() {
                return Err(Refusal::Invalid("a merge names the case to merge into".into()));
            }
            Ok(vec![Event::MergedInto { into: into.clone(), reason: reason.trim().to_owned() }])
        }
        Command::Absorb { duplicate, followers } => {
            if case.status.is_final() {
                return Err(Refusal::SurvivorNotOpen(case.status));
            }
            if duplicate.is_empty() || followers.first() != Some(duplicate) {
                return Err(Refusal::Invalid("a merge names the duplicate first among its followers".into()));
            }
            Ok(vec![Event::Absorbed { duplicate: duplicate.clone(), followers: followers.clone() }])
        }
        Command::Reopen { reason } => {
            if case.status != Status::Closed {
                return Err(illegal());
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("reopening a case needs a reason".into()));
            }
            let lead = case
                .tasks
                .iter()
                .rev()
                .find(|t| t.kind == TaskKind::Handle && t.role == TaskRole::Lead && t.status == TaskStatus::Completed)
                .ok_or_else(illegal)?;
            Ok(vec![Event::Reopened { task: lead.id, reason: reason.trim().to_owned() }])
        }
        Command::Escalate { from, to, reason } => {
            if case.status.is_final() {
                return Err(illegal());
            }
            if reason.trim().is_empty() {
                return Err(Refusal::Invalid("escalating a case needs a reason".into()));
            }
            match to {
                None => Err(Refusal::NoLevelAbove(from.clone())),
                Some(to) if to == from || to.is_empty() => {
                    Err(Refusal::Invalid(format!("a case is not escalated from {from} to {to:?}")))
                }
                Some(to) => {
                    Ok(vec![Event::Escalated { from: from.clone(), to: to.clone(), reason: reason.trim().to_owned() }])
                }
            }
        }
        Command::Rate { rating } => {
            if case.status != Status::Closed {
                return Err(illegal());
            }
            if case.rating.is_some() {
                return Err(Refusal::AlreadyRated);
            }
            let mut events = vec![Event::Rated { rating: *rating }];
            if *rating == Rating::Unsatisfied {
                let reopen = Command::Reopen { reason: "the reporter is unsatisfied (不满意)".into() };
                events.extend(decide(case, actor, &reopen, now_ms)?);
            }
            Ok(events)
        }
        Command::SensorAlarm { sensor, raised } => super::sensor::decide(case, actor, sensor, *raised, illegal),
        Command::Replace { from, to, reason } => {
            if case.status.is_final() {
                return Err(illegal());
            }
            if actor != SYSTEM {
                return Err(Refusal::Invalid("only the system re-places a case: it follows the grid layer".into()));
            }
            if reason.trim().is_empty() || from.is_empty() {
                return Err(Refusal::Invalid("a re-placement names the grid left and why".into()));
            }
            let reason = reason.trim().to_owned();
            match to {
                Some(to) if to == from || to.is_empty() => {
                    Err(Refusal::Invalid(format!("a case is not re-placed from grid {from} into {to:?}")))
                }
                Some(to) => Ok(vec![Event::Replaced { from: from.clone(), to: to.clone(), reason }]),
                None if case.stranded.as_ref() == Some(from) => Err(Refusal::AlreadyStranded(from.clone())),
                None => Ok(vec![Event::Stranded { grid: from.clone(), reason }]),
            }
        }
    }
}

/// One side of a merge: a case with its id and category.
#[derive(Debug, Clone, Copy)]
pub struct MergeSide<'a> {
    /// The case's id.
    pub id: &'a str,
    /// Its category's code.
    pub category: &'a str,
    /// Where and when it was reported.
    pub reported: crate::incidents::duplicate::Reported,
    /// Its state.
    pub case: &'a Case,
}

/// Decides a merge (并单) of `duplicate` into `survivor` by `actor`: the events of each
/// case, or why not. Same category, nearby and recent only (docs/domain.md,
/// [`crate::incidents::duplicate`]); the survivor must still be open; the
/// duplicate's reporters, and those of every case merged into it before, follow the survivor.
pub fn decide_merge(
    duplicate: MergeSide<'_>,
    survivor: MergeSide<'_>,
    actor: UserId,
    reason: &str,
    now_ms: i64,
) -> Result<(Vec<Event>, Vec<Event>), Refusal> {
    if duplicate.id == survivor.id {
        return Err(Refusal::MergeIntoItself);
    }
    let merge = Command::Merge { into: survivor.id.to_owned(), reason: reason.to_owned() };
    let dup_events = decide(duplicate.case, actor, &merge, now_ms)?;
    if duplicate.category != survivor.category {
        return Err(Refusal::DifferentCategory {
            duplicate: duplicate.category.to_owned(),
            survivor: survivor.category.to_owned(),
        });
    }
    if let Some(why) = crate::incidents::duplicate::unlike(duplicate.reported, survivor.reported) {
        return Err(Refusal::NotADuplicate(why));
    }
    let followers = std::iter::once(duplicate.id.to_owned()).chain(duplicate.case.followers.iter().cloned()).collect();
    let absorb = Command::Absorb { duplicate: duplicate.id.to_owned(), followers };
    let survivor_events = decide(survivor.case, actor, &absorb, now_ms)?;
    Ok((dup_events, survivor_events))
}

/// An alarm names a limit still running on an open case, and only the system raises it.
fn check_alarm(case: &Case, actor: UserId, deadline: &str, action: &'static str) -> Result<(), Refusal> {
    if case.status.is_final() {
        return Err(Refusal::IllegalTransition { status: case.status, action });
    }
    if actor != SYSTEM {
        return Err(Refusal::Invalid("only the system raises alarms: they follow the clock".into()));
    }
    match Uuid::parse_str(deadline) {
        Ok(task) => active_task(case, task, action).map(|_| ()),
        Err(_) if matches!(deadline, "accept" | "dispatch" | "verify") => Ok(()),
        Err(_) => Err(Refusal::Invalid(format!("{deadline:?} names no limit"))),
    }
}

/// A verify task's assignment without those who handled the case; refused when no one is left.
fn without_handlers(case: &Case, a: &Assignment) -> Result<Assignment, Refusal> {
    let assignees: Vec<UserId> = a.assignees.iter().filter(|u| !case.handlers.contains(u)).copied().collect();
    if assignees.is_empty() && !a.assignees.is_empty() {
        return Err(Refusal::VerifierIsHandler);
    }
    Ok(Assignment { assignees, ..a.clone() })
}

/// A new task must have someone to go to, an id not used before and a deadline, if
/// any, still ahead.
fn check_assignment(case: &Case, a: &Assignment, ids: &mut BTreeSet<TaskId>, now_ms: i64) -> Result<(), Refusal> {
    if a.assignees.is_empty() {
        return Err(Refusal::NoAssignee(a.target.clone()));
    }
    if a.due_ms.is_some_and(|due| due <= now_ms) {
        return Err(Refusal::Invalid(format!("task {} would be due before it is sent", a.task)));
    }
    if case.tasks.iter().any(|t| t.id == a.task) || !ids.insert(a.task) {
        return Err(Refusal::Invalid(format!("task id {} is already used", a.task)));
    }
    Ok(())
}

/// The task, if the case has it and it still waits for work.
fn active_task<'a>(case: &'a Case, task: TaskId, action: &'static str) -> Result<&'a Task, Refusal> {
    let t = case.tasks.iter().find(|t| t.id == task).ok_or(Refusal::NoSuchTask(task))?;
    if !t.status.is_active() {
        return Err(Refusal::TaskNotActive { task, status: t.status, action });
    }
    Ok(t)
}

/// The task, if `actor` holds it and it is being worked on.
fn held_task<'a>(case: &'a Case, task: TaskId, actor: UserId, action: &'static str) -> Result<&'a Task, Refusal> {
    let t = active_task(case, task, action)?;
    if t.holder != Some(actor) {
        return Err(if t.status == TaskStatus::Open && t.assignees.contains(&actor) {
            Refusal::TaskNotActive { task, status: t.status, action }
        } else {
            Refusal::NotYourTask(task)
        });
    }
    Ok(t)
}

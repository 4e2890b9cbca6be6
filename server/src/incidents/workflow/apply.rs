//! Folding events into a case's state: how each event changes the case.

use super::task::home_of;
use super::{
    Alarm, Assignment, Case, Event, ExtensionRequest, ParkRequest, Pause, Status, Task, TaskId, TaskKind, TaskRole,
    TaskStatus,
};

fn new_task(a: &Assignment, kind: TaskKind, role: TaskRole) -> Task {
    Task {
        id: a.task,
        kind,
        role,
        target: a.target.clone(),
        assignees: a.assignees.clone(),
        holder: None,
        status: TaskStatus::Open,
        rework: 0,
        due_ms: a.due_ms,
        extension: None,
        replaced_by: None,
        paused: Vec::new(),
        park: None,
    }
}

impl Case {
    /// The case after `event`, which happened at `at_ms`. Events come from
    /// [`decide`](super::decide) (or storage, which holds only what `decide` produced), so
    /// they are applied without checking again.
    pub fn apply(&mut self, event: &Event, at_ms: i64) {
        let before = self.status;
        self.apply_event(event, at_ms);
        // Work that ended while parked stops being parked then.
        for t in self.tasks.iter_mut().filter(|t| !t.status.is_active()) {
            if let Some(pause) = t.paused.last_mut().filter(|p| p.until_ms.is_none()) {
                pause.until_ms = Some(at_ms.max(pause.from_ms));
            }
        }
        if self.status != before {
            self.since_ms = at_ms;
        }
    }

    fn apply_event(&mut self, event: &Event, at_ms: i64) {
        match event {
            Event::Warned { deadline, due_ms, .. } => self.alarm_mut(deadline, *due_ms).warned = true,
            Event::Overdue { deadline, due_ms, level, .. }
            | Event::SupervisionRaised { deadline, due_ms, level, .. } => {
                let alarm = self.alarm_mut(deadline, *due_ms);
                alarm.warned = true;
                alarm.level = Some(*level);
            }
            Event::Flagged { .. } | Event::Informed { .. } => {}
            Event::Graded { to, .. } => {
                // Staff grading the case settles any claim the reporter made.
                self.severity = *to;
                self.claimed_severity = None;
            }
            Event::Registered => self.status = Status::Registered,
            Event::ConfirmationRequested { task } => {
                self.tasks.push(new_task(task, TaskKind::Confirm, TaskRole::Lead));
                self.status = Status::Confirming;
            }
            Event::Confirmed { task } => {
                self.set_task_status(*task, TaskStatus::Completed);
                self.status = Status::Registered;
            }
            Event::Voided { task } => {
                self.set_task_status(*task, TaskStatus::Completed);
                self.status = Status::Rejected;
            }
            Event::Rejected { .. } => {
                self.cancel_active_tasks();
                self.status = Status::Rejected;
            }
            Event::Dispatched { lead, assist } => {
                self.level = lead.level.or(self.level);
                self.tasks.push(new_task(lead, TaskKind::Handle, TaskRole::Lead));
                self.tasks.extend(assist.iter().map(|a| new_task(a, TaskKind::Handle, TaskRole::Assist)));
                self.status = Status::Dispatched;
            }
            Event::TaskAccepted { task, by } => {
                if let Some(t) = self.task_mut(*task) {
                    t.holder = Some(*by);
                    t.status = TaskStatus::Accepted;
                    if t.kind == TaskKind::Handle {
                        self.handlers.insert(*by);
                    }
                }
            }
            Event::Arrived { .. } | Event::Progressed { .. } => {}
            Event::TaskCompleted { task, .. } => {
                self.set_task_status(*task, TaskStatus::Completed);
                let handling_left = self.tasks.iter().any(|t| t.kind == TaskKind::Handle && t.status.is_active());
                if self.status == Status::Dispatched && !handling_left {
                    // A part given back and not yet sent elsewhere still holds the case,
                    // whichever finished first.
                    let part_waiting = self.tasks.iter().any(|t| t.kind == TaskKind::Handle && t.awaits_redispatch());
                    self.status = if part_waiting { Status::Returned } else { Status::Handled };
                }
            }
            Event::VerificationPassed { check, .. } => {
                self.finish_verification(*check);
                self.status = Status::Verified;
            }
            Event::VerificationFailed { task, check, .. } => {
                self.finish_verification(*check);
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Accepted;
                    t.rework += 1;
                }
                self.status = Status::Dispatched;
            }
            Event::Closed => self.status = Status::Closed,
            Event::TaskReturned { task, .. } => {
                let Some(t) = self.task_mut(*task) else { return };
                t.set_status(TaskStatus::Returned);
                let (kind, role) = (t.kind, t.role);
                let handling_left = self.tasks.iter().any(|t| t.kind == TaskKind::Handle && t.status.is_active());
                let lead_gone = role == TaskRole::Lead || !handling_left;
                if kind != TaskKind::Verify && self.status == home_of(kind) && lead_gone {
                    self.status = Status::Returned;
                }
            }
            Event::Redispatched { from, to } => {
                let Some(old) = self.task_mut(*from) else { return };
                if old.status.is_active() {
                    old.set_status(TaskStatus::Cancelled);
                }
                old.replaced_by = Some(to.task);
                let (kind, role) = (old.kind, old.role);
                if kind == TaskKind::Handle && role == TaskRole::Lead {
                    self.level = to.level.or(self.level);
                }
                let task = new_task(to, kind, role);
                let home = task.home();
                self.tasks.push(task);
                if self.status == Status::Returned && !self.tasks.iter().any(Task::awaits_redispatch) {
                    self.status = home;
                }
            }
            Event::ExtensionRequested { task, until_ms, reason } => {
                if let Some(t) = self.task_mut(*task) {
                    t.extension = Some(ExtensionRequest { until_ms: *until_ms, reason: reason.clone() });
                }
            }
            Event::ExtensionApproved { task, until_ms } => {
                if let Some(t) = self.task_mut(*task) {
                    t.extension = None;
                    t.due_ms = Some(*until_ms);
                }
            }
            Event::ExtensionRefused { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.extension = None;
                }
            }
            Event::VerificationRequested { task } => {
                self.tasks.push(new_task(task, TaskKind::Verify, TaskRole::Lead));
            }
            Event::ParkRequested { task, reason, until_ms } => {
                if let Some(t) = self.task_mut(*task) {
                    t.park = Some(ParkRequest { reason: reason.clone(), until_ms: *until_ms });
                }
            }
            Event::Parked { task } => {
                if let Some(t) = self.task_mut(*task) {
                    t.park = None;
                    t.paused.push(Pause { from_ms: at_ms, until_ms: None });
                }
            }
            Event::ParkRefused { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.park = None;
                }
            }
            Event::Resumed { task, paused_ms, due_ms } => {
                if let Some(t) = self.task_mut(*task) {
                    if let Some(pause) = t.paused.last_mut() {
                        pause.until_ms = Some(pause.from_ms + paused_ms);
                    }
                    if due_ms.is_some() {
                        t.due_ms = *due_ms;
                    }
                }
            }
            Event::MergedInto { into, .. } => {
                self.cancel_active_tasks();
                self.merged_into = Some(into.clone());
                self.status = Status::Merged;
            }
            Event::Absorbed { followers, .. } => {
                for f in followers {
                    if !self.followers.contains(f) {
                        self.followers.push(f.clone());
                    }
                }
            }
            Event::Reopened { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Accepted;
                    t.rework += 1;
                }
                self.status = Status::Dispatched;
                self.rating = None;
            }
            Event::Escalated { to, .. } => {
                self.level = geodata::AreaCode::parse(to).ok().map(|c| c.level().number()).or(self.level);
                self.owner = Some(to.clone());
            }
            Event::Rated { rating } => self.rating = Some(*rating),
            Event::Replaced { .. } => self.stranded = None,
            Event::Stranded { grid, .. } => self.stranded = Some(grid.clone()),
            Event::AlarmRaised { .. } | Event::AlarmRepeated { .. } => {
                self.sensor_alarms = self.sensor_alarms.saturating_add(1);
            }
            Event::AlarmCleared { .. } => {}
        }
    }

    /// Completes the verify task that answered, if any, and withdraws any other still out.
    fn finish_verification(&mut self, check: Option<TaskId>) {
        for t in self.tasks.iter_mut().filter(|t| t.kind == TaskKind::Verify && t.status.is_active()) {
            t.set_status(if Some(t.id) == check { TaskStatus::Completed } else { TaskStatus::Cancelled });
        }
    }

    /// The alarm of limit `deadline` due at `due_ms`, made afresh if the limit moved since.
    fn alarm_mut(&mut self, deadline: &str, due_ms: i64) -> &mut Alarm {
        self.alarms.retain(|a| a.deadline != deadline || a.due_ms == due_ms);
        let i = match self.alarms.iter().position(|a| a.deadline == deadline) {
            Some(i) => i,
            None => {
                let fresh = Alarm { deadline: deadline.to_owned(), due_ms, warned: false, level: None };
                self.alarms.push(fresh);
                self.alarms.len() - 1
            }
        };
        &mut self.alarms[i]
    }

    fn task_mut(&mut self, task: TaskId) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.id == task)
    }

    fn set_task_status(&mut self, task: TaskId, status: TaskStatus) {
        if let Some(t) = self.task_mut(task) {
            t.set_status(status);
        }
    }

    fn cancel_active_tasks(&mut self) {
        for t in self.tasks.iter_mut().filter(|t| t.status.is_active()) {
            t.set_status(TaskStatus::Cancelled);
        }
    }
}

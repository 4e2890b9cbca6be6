//! The closed loop of a case, as a pure state machine.
//!
//! [`decide`] takes a case's current state, who is acting and what they ask for, and
//! answers with the events that follow or a [`Refusal`] saying why not; [`Case::apply`]
//! folds an event into the state. Nothing here touches storage, the clock or the network:
//! ids of new tasks come in with the command, so the same input always decides the same.
//! Who may act on a case at all (roles, areas) is the caller's business; what this module
//! enforces is the loop's own rules: the order of steps, that only a task's assignees
//! may take it, that only its holder may work on it, and that nobody verifies work they
//! did.
//!
//! The shortest loop: a resident's report is `reported`; `accept` registers it
//! (受理 + 立案); `dispatch` to a grid makes a handle task for the grid's workers; the
//! first to `accept_task` holds it, and `complete_task` reports the result; `verify` by
//! someone else, passed, and `close`. With `accept` + confirmation, a confirm task goes
//! to the grid's worker first, whose answer registers or voids the case. A failed
//! verification sends the lead task back to the same handler (返工).
//!
//! Time comes in as an argument (Unix milliseconds, UTC): `decide` refuses a task whose
//! deadline has already passed, and `apply` records when the case entered its status.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's id.
pub type UserId = Uuid;
/// A task's id.
pub type TaskId = Uuid;

/// Where a case stands. `reported`, `closed`, `rejected` and `merged` are fixed by the
/// public contract; the others are this implementation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reported, waiting to be accepted (上报).
    #[default]
    Reported,
    /// Accepted, a grid worker is confirming on site that the problem exists (核实).
    Confirming,
    /// Registered as a case, waiting to be dispatched (立案).
    Registered,
    /// Dispatched; the work is under way (派遣 / 处置).
    Dispatched,
    /// Every unit reported back; waiting for verification (反馈).
    Handled,
    /// Verified on site, waiting to be closed (核查).
    Verified,
    /// Closed (结案).
    Closed,
    /// Rejected or voided: not a case (不予立案 / 作废).
    Rejected,
    /// Merged into another case as a duplicate (并单).
    Merged,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 9] = [
        Status::Reported,
        Status::Confirming,
        Status::Registered,
        Status::Dispatched,
        Status::Handled,
        Status::Verified,
        Status::Closed,
        Status::Rejected,
        Status::Merged,
    ];

    /// The status as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reported => "reported",
            Status::Confirming => "confirming",
            Status::Registered => "registered",
            Status::Dispatched => "dispatched",
            Status::Handled => "handled",
            Status::Verified => "verified",
            Status::Closed => "closed",
            Status::Rejected => "rejected",
            Status::Merged => "merged",
        }
    }

    /// Whether the case has left the loop for good.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Rejected | Status::Merged)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a task asks of its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Handle the problem (处置).
    Handle,
    /// Confirm on site that the problem exists (核实).
    Confirm,
    /// Check another's work on site (核查).
    Verify,
}

/// Whether a handle task leads the work or assists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskRole {
    /// 主办: the case is handled when it completes.
    Lead,
    /// 协办: assists the lead and reports its part.
    Assist,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for one of its assignees to take it (待签收).
    Open,
    /// Taken by its holder, being worked on (已签收).
    Accepted,
    /// Done (已完成).
    Completed,
    /// Withdrawn because the case moved on without it (已撤销).
    Cancelled,
}

impl TaskStatus {
    /// Whether the task still waits for work.
    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::Accepted)
    }
}

/// Who or what a task was sent to, for the record; the assignees are the people.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A grid, by its 15-digit code: its workers on the roster.
    Grid(String),
    /// An administrative unit, by its code.
    Unit(String),
    /// A functional department, by its code.
    Department(String),
    /// One user.
    User(UserId),
}

/// A task to create: its id, what it was sent to, and the people who may take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The new task's id, made by the caller.
    pub task: TaskId,
    /// What it was sent to.
    pub target: Target,
    /// Who may take it (a grid's workers, a department's staff); the first to accept holds it.
    pub assignees: Vec<UserId>,
    /// When it falls due (Unix ms), if it has a time limit.
    pub due_ms: Option<i64>,
}

/// One unit of work for one holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// What it asks.
    pub kind: TaskKind,
    /// Lead or assist (handle tasks); confirm tasks lead.
    pub role: TaskRole,
    /// What it was sent to.
    pub target: Target,
    /// Who may take it.
    pub assignees: Vec<UserId>,
    /// Who took it.
    pub holder: Option<UserId>,
    /// Where it stands.
    pub status: TaskStatus,
    /// How many times it was sent back for rework (返工).
    pub rework: u32,
    /// When it falls due (Unix ms), if it has a time limit.
    pub due_ms: Option<i64>,
}

/// A case as the workflow sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Case {
    /// Where it stands.
    pub status: Status,
    /// Its tasks, oldest first (tasks are never removed, only completed or cancelled).
    pub tasks: Vec<Task>,
    /// Everyone who held a handle task (lead or assist): they may not verify.
    pub handlers: BTreeSet<UserId>,
    /// When it entered its status (Unix ms).
    pub since_ms: i64,
}

/// What someone asks of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take a reported case in (受理): register it at once, or first send a confirm task.
    Accept {
        /// Send a confirm task to these people first (核实).
        confirm: Option<Assignment>,
    },
    /// Refuse a reported case (不予立案), with the reason.
    Reject {
        /// Why.
        reason: String,
    },
    /// Send the work out: a lead and assisting units.
    Dispatch {
        /// The lead (主办).
        lead: Assignment,
        /// Assisting units (协办).
        assist: Vec<Assignment>,
    },
    /// Take a task (签收): the first of its assignees to do so holds it.
    AcceptTask {
        /// Which task.
        task: TaskId,
    },
    /// Arrived on site for a held task.
    Arrive {
        /// Which task.
        task: TaskId,
    },
    /// Report progress on a held task.
    Progress {
        /// Which task.
        task: TaskId,
        /// What was done.
        note: String,
    },
    /// Report a held task's result (反馈).
    CompleteTask {
        /// Which task.
        task: TaskId,
        /// The result.
        result: String,
    },
    /// Answer a confirm task: does the problem exist?
    ConfirmTask {
        /// Which task.
        task: TaskId,
        /// True if it does (the case is registered), false if not (it is voided).
        exists: bool,
    },
    /// Check the work (核查); a failure sends the lead task back to its handler.
    Verify {
        /// Whether it passed.
        passed: bool,
    },
    /// Close a verified case (结案).
    Close,
}

impl Command {
    /// The command's name, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Accept { .. } => "accept",
            Command::Reject { .. } => "reject",
            Command::Dispatch { .. } => "dispatch",
            Command::AcceptTask { .. } => "accept_task",
            Command::Arrive { .. } => "arrive",
            Command::Progress { .. } => "progress",
            Command::CompleteTask { .. } => "complete_task",
            Command::ConfirmTask { .. } => "confirm_task",
            Command::Verify { .. } => "verify",
            Command::Close => "close",
        }
    }
}

/// What happened to a case. Events are the trace (全程留痕) and the only way state changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Accepted and registered in one step (受理 + 立案).
    Registered,
    /// Accepted; a confirm task went out first.
    ConfirmationRequested {
        /// The confirm task.
        task: Assignment,
    },
    /// The confirm task's holder found the problem: the case is registered.
    Confirmed {
        /// The confirm task.
        task: TaskId,
    },
    /// The confirm task's holder did not find the problem: the case is void.
    Voided {
        /// The confirm task.
        task: TaskId,
    },
    /// Refused (不予立案).
    Rejected {
        /// Why.
        reason: String,
    },
    /// Sent out to a lead and assisting units.
    Dispatched {
        /// The lead's task.
        lead: Assignment,
        /// The assistants' tasks.
        assist: Vec<Assignment>,
    },
    /// A task was taken.
    TaskAccepted {
        /// Which task.
        task: TaskId,
        /// By whom.
        by: UserId,
    },
    /// The holder arrived on site.
    Arrived {
        /// Which task.
        task: TaskId,
    },
    /// Progress was reported.
    Progressed {
        /// Which task.
        task: TaskId,
        /// What was done.
        note: String,
    },
    /// A task's result was reported.
    TaskCompleted {
        /// Which task.
        task: TaskId,
        /// The result.
        result: String,
    },
    /// Verified and passed.
    VerificationPassed {
        /// By whom.
        by: UserId,
    },
    /// Verified and failed: the lead task goes back to its handler.
    VerificationFailed {
        /// By whom.
        by: UserId,
        /// The lead task sent back.
        task: TaskId,
    },
    /// Closed.
    Closed,
}

/// Why a command was refused. The case is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The case's state does not allow this action.
    #[error("a {status} case cannot be sent `{action}`")]
    IllegalTransition {
        /// The case's status.
        status: Status,
        /// The action refused.
        action: &'static str,
    },
    /// The verifier handled or assisted the case.
    #[error("whoever handled or assisted a case may not verify it")]
    VerifierIsHandler,
    /// The task is not on this case.
    #[error("the case has no task {0}")]
    NoSuchTask(TaskId),
    /// The task is not this kind (e.g. `confirm_task` on a handle task).
    #[error("task {task} is a {kind:?} task; `{action}` does not apply to it")]
    WrongTaskKind {
        /// Which task.
        task: TaskId,
        /// What it is.
        kind: TaskKind,
        /// The action refused.
        action: &'static str,
    },
    /// The actor is not among the task's assignees, or does not hold it.
    #[error("task {0} is not yours")]
    NotYourTask(TaskId),
    /// The task is not waiting for this step (already taken, completed or withdrawn).
    #[error("task {task} is {status:?}; `{action}` does not apply")]
    TaskNotActive {
        /// Which task.
        task: TaskId,
        /// Where it stands.
        status: TaskStatus,
        /// The action refused.
        action: &'static str,
    },
    /// A task would go to nobody (e.g. a grid with no worker on the roster).
    #[error("no one to send the task to: {0:?} has no assignee")]
    NoAssignee(Target),
    /// The command is malformed (an empty reason, a task id used twice).
    #[error("{0}")]
    Invalid(String),
}

impl Refusal {
    /// The stable slug of the refusal, for problem+json.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::IllegalTransition { .. } => "illegal-transition",
            Refusal::VerifierIsHandler => "verifier-is-handler",
            Refusal::NoSuchTask(_) => "no-such-task",
            Refusal::WrongTaskKind { .. } => "wrong-task-kind",
            Refusal::NotYourTask(_) => "not-your-task",
            Refusal::TaskNotActive { .. } => "task-not-active",
            Refusal::NoAssignee(_) => "no-assignee",
            Refusal::Invalid(_) => "invalid-command",
        }
    }
}

/// Decides what `actor`'s command, given at `now_ms`, does to `case`: the events, or why not.
pub fn decide(case: &Case, actor: UserId, command: &Command, now_ms: i64) -> Result<Vec<Event>, Refusal> {
    let illegal = || Refusal::IllegalTransition { status: case.status, action: command.name() };
    match command {
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
            if !matches!(case.status, Status::Reported | Status::Registered) {
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
            Ok(vec![Event::TaskCompleted { task: *task, result: result.trim().to_owned() }])
        }
        Command::ConfirmTask { task, exists } => {
            let t = held_task(case, *task, actor, command.name())?;
            if t.kind != TaskKind::Confirm {
                return Err(Refusal::WrongTaskKind { task: *task, kind: t.kind, action: command.name() });
            }
            Ok(vec![if *exists { Event::Confirmed { task: *task } } else { Event::Voided { task: *task } }])
        }
        Command::Verify { passed } => {
            if case.status != Status::Handled {
                return Err(illegal());
            }
            if case.handlers.contains(&actor) {
                return Err(Refusal::VerifierIsHandler);
            }
            if *passed {
                return Ok(vec![Event::VerificationPassed { by: actor }]);
            }
            let lead = case
                .tasks
                .iter()
                .rev()
                .find(|t| t.kind == TaskKind::Handle && t.role == TaskRole::Lead && t.status == TaskStatus::Completed)
                .ok_or_else(illegal)?;
            Ok(vec![Event::VerificationFailed { by: actor, task: lead.id }])
        }
        Command::Close => {
            if case.status != Status::Verified {
                return Err(illegal());
            }
            Ok(vec![Event::Closed])
        }
    }
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
    }
}

impl Case {
    /// A case reported at `at_ms`.
    pub fn reported(at_ms: i64) -> Case {
        Case { since_ms: at_ms, ..Case::default() }
    }

    /// The case after `event`, which happened at `at_ms`. Events come from [`decide`] (or
    /// storage, which holds only what `decide` produced), so they are applied without
    /// checking again.
    pub fn apply(&mut self, event: &Event, at_ms: i64) {
        let before = self.status;
        self.apply_event(event);
        if self.status != before {
            self.since_ms = at_ms;
        }
    }

    fn apply_event(&mut self, event: &Event) {
        match event {
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
                self.tasks.push(new_task(lead, TaskKind::Handle, TaskRole::Lead));
                self.tasks.extend(assist.iter().map(|a| new_task(a, TaskKind::Handle, TaskRole::Assist)));
                self.status = Status::Dispatched;
            }
            Event::TaskAccepted { task, by } => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.id == *task) {
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
                let handling_done = !self.tasks.iter().any(|t| t.kind == TaskKind::Handle && t.status.is_active());
                if self.status == Status::Dispatched && handling_done {
                    self.status = Status::Handled;
                }
            }
            Event::VerificationPassed { .. } => self.status = Status::Verified,
            Event::VerificationFailed { task, .. } => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.id == *task) {
                    t.status = TaskStatus::Accepted;
                    t.rework += 1;
                }
                self.status = Status::Dispatched;
            }
            Event::Closed => self.status = Status::Closed,
        }
    }

    fn set_task_status(&mut self, task: TaskId, status: TaskStatus) {
        if let Some(t) = self.tasks.iter_mut().find(|t| t.id == task) {
            t.status = status;
        }
    }

    fn cancel_active_tasks(&mut self) {
        for t in self.tasks.iter_mut().filter(|t| t.status.is_active()) {
            t.status = TaskStatus::Cancelled;
        }
    }

    /// Checks the rules every reachable state keeps; the first one broken, if any.
    pub fn inconsistency(&self) -> Option<String> {
        let active = |k: TaskKind| self.tasks.iter().filter(move |t| t.kind == k && t.status.is_active());
        if self.status.is_final() && self.tasks.iter().any(|t| t.status.is_active()) {
            return Some(format!("a {} case has an active task", self.status));
        }
        if self.status == Status::Confirming && active(TaskKind::Confirm).count() != 1 {
            return Some("a confirming case needs exactly one active confirm task".into());
        }
        if self.status != Status::Confirming && active(TaskKind::Confirm).count() != 0 {
            return Some(format!("a {} case has an active confirm task", self.status));
        }
        let leads_active = self
            .tasks
            .iter()
            .filter(|t| t.kind == TaskKind::Handle && t.role == TaskRole::Lead && t.status.is_active());
        match self.status {
            Status::Dispatched if leads_active.count() + active(TaskKind::Handle).count() == 0 => {
                return Some("a dispatched case has no active handle task".into());
            }
            Status::Handled | Status::Verified | Status::Closed if active(TaskKind::Handle).count() > 0 => {
                return Some(format!("a {} case has an active handle task", self.status));
            }
            _ => {}
        }
        for t in &self.tasks {
            if let Some(h) = t.holder
                && !t.assignees.contains(&h)
            {
                return Some(format!("task {} is held by someone it was not sent to", t.id));
            }
            if t.status == TaskStatus::Accepted && t.holder.is_none() {
                return Some(format!("task {} is accepted but held by no one", t.id));
            }
        }
        None
    }
}

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
//! The branches: a task's holder (or, before anyone took it, one of its assignees) may
//! give it back (`return_task`, 回退); a returned lead leaves the case `returned` until
//! the centre sends the work elsewhere (`redispatch`, 改派), which may also take an
//! active task away from its holder. A holder may ask for more time
//! (`request_extension`, 延期), which the centre grants or refuses. A centre may send a
//! handled case to a worker to check on site (`request_verification`): that worker's
//! `verify` on the task decides as a desk's would.
//!
//! A holder may ask to park long-term work (`request_park`, 挂账); once the centre
//! approves, the task's clock stops (a [`Pause`] opens on it) until the centre or the
//! holder resumes it, and its deadline moves later by the time it was parked. A centre
//! merges a duplicate into a surviving case of the same category ([`decide_merge`]: the
//! duplicate's `merge` and the survivor's `absorb`, two cases in one commit); the
//! duplicate's reporters follow the survivor. A closed case may be reopened: its last lead
//! task goes back to its handler (返工). A centre escalates a case by hand one level up
//! (`escalate`, 上报): the case's `owner` becomes that level's unit.
//!
//! One command is the system's, not a person's: when a newly imported grid layer no
//! longer has an open case's grid, [`Command::Replace`] moves the case to the grid its
//! location lies in now (`replaced`), or, if it lies in none, records once that it could
//! not be re-placed (`stranded`). Its status and tasks stay as they were.
//!
//! Time comes in as an argument (Unix milliseconds, UTC): `decide` refuses a task whose
//! deadline has already passed, and `apply` records when the case entered its status.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::categories::Severity;

/// A user's id.
pub type UserId = Uuid;
/// A task's id.
pub type TaskId = Uuid;

/// The actor of the commands the server issues itself ([`Command::Replace`]): no user.
pub const SYSTEM: UserId = Uuid::nil();

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
    /// A lead task was given back (回退); waiting for the centre to send it elsewhere.
    Returned,
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
    pub const ALL: [Status; 10] = [
        Status::Reported,
        Status::Confirming,
        Status::Registered,
        Status::Returned,
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
            Status::Returned => "returned",
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
    /// Withdrawn because the case moved on without it, or sent elsewhere (已撤销).
    Cancelled,
    /// Given back by its holder or an assignee (已回退).
    Returned,
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
    /// The level its target works at (1–5), when known: a lead's becomes the level
    /// handling the case, so that the trace carries every change of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
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
    /// More time asked for and not yet answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<ExtensionRequest>,
    /// The task that took over its work (改派), once one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<TaskId>,
    /// The times it was parked (挂账), oldest first; the last may still be open. Its
    /// clock does not run inside them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<Pause>,
    /// A request to park it (挂账), waiting for the centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub park: Option<ParkRequest>,
}

/// A holder's request to park long-term work out of the timers (挂账), waiting for the centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkRequest {
    /// Why.
    pub reason: String,
    /// When the holder expects the work can go on (Unix ms), if they say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
}

/// A stretch of time a task was parked (挂账): its clock stopped from `from_ms` until
/// `until_ms` (still stopped while that is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When the clock stopped (Unix ms).
    pub from_ms: i64,
    /// When it ran again (Unix ms); `None` while the task is parked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
}

/// A holder's request for more time (延期), waiting for the centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionRequest {
    /// The deadline asked for (Unix ms).
    pub until_ms: i64,
    /// Why.
    pub reason: String,
}

impl Task {
    /// The kind of case status its work belongs to: handle tasks to `dispatched`,
    /// confirm tasks to `confirming`, verify tasks to `handled`.
    pub fn home(&self) -> Status {
        home_of(self.kind)
    }

    /// Moves it to `status`; a request for more time ends with the work.
    fn set_status(&mut self, status: TaskStatus) {
        self.status = status;
        if !status.is_active() {
            self.extension = None;
            self.park = None;
        }
    }

    /// Whether the task is parked now (挂账): its clock stopped.
    pub fn is_parked(&self) -> bool {
        self.paused.last().is_some_and(|p| p.until_ms.is_none())
    }

    /// How many milliseconds of `[from_ms, to_ms)` the task spent parked: the part of
    /// that span its clock did not run (a pause still open runs to `to_ms`).
    pub fn paused_ms_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        self.paused
            .iter()
            .map(|p| {
                let start = p.from_ms.max(from_ms);
                let end = p.until_ms.unwrap_or(to_ms).min(to_ms);
                (end - start).max(0)
            })
            .sum()
    }

    /// Whether it was given back and nothing has taken over its work yet. A returned
    /// verify task does not hold the case: the centre may send another, or check itself.
    pub fn awaits_redispatch(&self) -> bool {
        self.status == TaskStatus::Returned && self.replaced_by.is_none() && self.kind != TaskKind::Verify
    }
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
    /// The vanished grid it was found stranded in (its location in no grid of the new
    /// layer), so that the fact is recorded once; cleared when it is re-placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stranded: Option<String>,
    /// What the timer raised on the case's running limits (预警, 超期, 督办), one per limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
    /// The case it was merged into as a duplicate (并单), once it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The duplicates merged into it (and the duplicates merged into those), by case id:
    /// their reporters follow this case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followers: Vec<String>,
    /// The unit whose centre's queue the case is in, once it was escalated by hand (上报);
    /// before that, the lowest centre on its chain (its township).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The reporter's rating of the case's latest closing (好差评), once given; one per closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
    /// An emergency's grade (I–IV), as reported or as a desk set it since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// A grade the reporter gave who is not staff (a resident, an Open311 client): a claim,
    /// shown to the desk, that acts on nothing until staff grade the case (定级).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_severity: Option<Severity>,
    /// The level handling the case (1–5), once an event set it: a dispatch or redispatch
    /// of the lead, or an escalation. Before that, the category's level stored with the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
}

/// What the timer raised on one running limit of a case: yellow (预警), red (超期) and the
/// supervision queue (督办) the case is in for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// The limit: `accept`, `dispatch`, `verify`, or a task's id.
    pub deadline: String,
    /// The due instant it was raised against (Unix ms): a limit that moves starts afresh.
    pub due_ms: i64,
    /// Whether it turned yellow.
    #[serde(default)]
    pub warned: bool,
    /// The level whose centre supervises the case for it (3 township, 2 county, 1 city), once red.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
}

/// What someone asks of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The system's: a running limit reached 80 % (预警).
    Warn {
        /// The limit: `accept`, `dispatch`, `verify`, or a task's id.
        deadline: String,
        /// Its step (`accept`, `dispatch`, `confirm`, `handle`, `verify`), for the trace.
        step: String,
        /// Its due instant (Unix ms).
        due_ms: i64,
    },
    /// The system's: a running limit passed (超期), or another full limit passed since: the
    /// case is in the supervision queue (督办) of `level`'s centre, `unit`. The handler keeps
    /// the task and the deadline stands.
    Overdue {
        /// The limit.
        deadline: String,
        /// Its step, for the trace.
        step: String,
        /// Its due instant (Unix ms).
        due_ms: i64,
        /// The level whose centre supervises it now (3 township, 2 county, 1 city).
        level: u8,
        /// That centre's unit code.
        unit: String,
    },
    /// A supervisor flags the case (督办) with a note; its holders are told.
    Flag {
        /// What the supervisor says.
        note: String,
    },
    /// Set or correct an emergency's grade (定级), or clear it; the steps that start from now
    /// on run on the grade's limits.
    Grade {
        /// The new grade, or none.
        severity: Option<Severity>,
        /// Why (what the desk learned).
        reason: String,
    },
    /// Tell units or departments of the case without sending them work (抄告): the routing
    /// rules' "told" list (the city of a grave emergency, the department of grid work).
    Inform {
        /// Unit or department codes.
        units: Vec<String>,
        /// Why they are told.
        note: String,
    },
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
        /// The verify task this answers, when a worker checks on site; none from a desk.
        task: Option<TaskId>,
        /// Whether it passed.
        passed: bool,
        /// What was seen.
        note: String,
    },
    /// Close a verified case (结案).
    Close,
    /// Give a task back (回退): its holder, or one of its assignees before anyone took it.
    ReturnTask {
        /// Which task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// Send a returned or active task's work elsewhere (改派).
    Redispatch {
        /// The task replaced.
        task: TaskId,
        /// The new task (same kind and role).
        to: Assignment,
    },
    /// Ask for more time on a held task (延期).
    RequestExtension {
        /// Which task.
        task: TaskId,
        /// The deadline asked for (Unix ms).
        until_ms: i64,
        /// Why.
        reason: String,
    },
    /// Answer a request for more time.
    AnswerExtension {
        /// Which task.
        task: TaskId,
        /// Grant (with the deadline asked for, or `until_ms`) or refuse.
        approve: bool,
        /// A deadline other than the one asked for, when granting.
        until_ms: Option<i64>,
        /// Why (for a refusal).
        reason: String,
    },
    /// Send a handled case to someone to check on site (核查).
    RequestVerification {
        /// The verify task; assignees who handled the case are left out.
        task: Assignment,
    },
    /// Ask to park a held handle task out of the timers (挂账): long-term work.
    RequestPark {
        /// Which task.
        task: TaskId,
        /// Why.
        reason: String,
        /// When the work is expected to go on (Unix ms), if known.
        until_ms: Option<i64>,
    },
    /// Answer a request to park: approved, the task's clock stops.
    AnswerPark {
        /// Which task.
        task: TaskId,
        /// Approve or refuse.
        approve: bool,
        /// Why (for a refusal).
        reason: String,
    },
    /// Start a parked task's clock again (by the centre or its holder); its deadline moves
    /// later by the time it was parked.
    Resume {
        /// Which task.
        task: TaskId,
        /// The deadline it runs to now, reckoned by the caller with the calendar in the
        /// task's own unit (the working time it had left when parked, counted from now);
        /// `None` moves the deadline by the wall-clock time it was parked.
        due_ms: Option<i64>,
    },
    /// Merge this case, a duplicate, into another (并单): its active tasks are withdrawn.
    /// Sent with [`Command::Absorb`] on the survivor, through [`decide_merge`].
    Merge {
        /// The surviving case's id.
        into: String,
        /// Why.
        reason: String,
    },
    /// The survivor's side of a merge: the duplicate's reporters follow this case.
    Absorb {
        /// The duplicate's id.
        duplicate: String,
        /// The duplicate and the cases merged into it before, whose reporters follow.
        followers: Vec<String>,
    },
    /// Reopen a closed case (返工): the work goes back to its last lead handler.
    Reopen {
        /// Why.
        reason: String,
    },
    /// Escalate the case by hand one level up (上报): it belongs to that level's queue.
    Escalate {
        /// The unit whose queue it is in now.
        from: String,
        /// The unit one level up; `None` when there is none (the city).
        to: Option<String>,
        /// Why.
        reason: String,
    },
    /// The reporter rates a closed case (评价), once per closing; `unsatisfied` reopens it.
    Rate {
        /// The rating.
        rating: Rating,
    },
    /// The system's: the case's grid is not in the grid layer any more. Move it to the
    /// grid its location lies in now, or, with no such grid, record that it stays where
    /// it was. Any open case; its status and tasks do not change.
    Replace {
        /// The grid the case is in, which the layer no longer has.
        from: String,
        /// The grid its location lies in now, if any.
        to: Option<String>,
        /// Why (which layer, which grid).
        reason: String,
    },
}

impl Command {
    /// The command's name, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Accept { .. } => "accept",
            Command::Warn { .. } => "warn",
            Command::Overdue { .. } => "overdue",
            Command::Flag { .. } => "flag",
            Command::Inform { .. } => "inform",
            Command::Grade { .. } => "grade",
            Command::Reject { .. } => "reject",
            Command::Dispatch { .. } => "dispatch",
            Command::AcceptTask { .. } => "accept_task",
            Command::Arrive { .. } => "arrive",
            Command::Progress { .. } => "progress",
            Command::CompleteTask { .. } => "complete_task",
            Command::ConfirmTask { .. } => "confirm_task",
            Command::Verify { .. } => "verify",
            Command::Close => "close",
            Command::ReturnTask { .. } => "return_task",
            Command::Redispatch { .. } => "redispatch",
            Command::RequestExtension { .. } => "request_extension",
            Command::AnswerExtension { approve: true, .. } => "approve_extension",
            Command::AnswerExtension { approve: false, .. } => "refuse_extension",
            Command::RequestVerification { .. } => "request_verification",
            Command::Replace { .. } => "replace",
            Command::RequestPark { .. } => "request_park",
            Command::AnswerPark { approve: true, .. } => "approve_park",
            Command::AnswerPark { approve: false, .. } => "refuse_park",
            Command::Resume { .. } => "resume_task",
            Command::Merge { .. } => "merge",
            Command::Absorb { .. } => "absorb",
            Command::Reopen { .. } => "reopen",
            Command::Escalate { .. } => "escalate",
            Command::Rate { .. } => "rate",
        }
    }
}

/// What happened to a case. Events are the trace (全程留痕) and the only way state changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A running limit reached 80 % (预警).
    Warned {
        /// The limit.
        deadline: String,
        /// Its step.
        step: String,
        /// Its due instant (Unix ms).
        due_ms: i64,
    },
    /// A running limit passed (超期): the case entered `level`'s supervision queue.
    Overdue {
        /// The limit.
        deadline: String,
        /// Its step.
        step: String,
        /// Its due instant (Unix ms).
        due_ms: i64,
        /// The supervising level.
        level: u8,
        /// The supervising centre's unit.
        unit: String,
    },
    /// Another full limit passed since: the case climbed to a higher supervision queue.
    SupervisionRaised {
        /// The limit.
        deadline: String,
        /// Its step.
        step: String,
        /// Its due instant (Unix ms).
        due_ms: i64,
        /// The level it left.
        from: u8,
        /// The supervising level now.
        level: u8,
        /// The supervising centre's unit.
        unit: String,
    },
    /// A supervisor flagged the case (督办).
    Flagged {
        /// What they said.
        note: String,
    },
    /// The case's grade was set, corrected or cleared.
    Graded {
        /// The grade before.
        from: Option<Severity>,
        /// The grade now.
        to: Option<Severity>,
        /// Why.
        reason: String,
    },
    /// Units or departments were told of the case (抄告).
    Informed {
        /// Their codes.
        units: Vec<String>,
        /// Why.
        note: String,
    },
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
        /// The verify task it answered, if a worker checked on site.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<TaskId>,
        /// What was seen.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// Verified and failed: the lead task goes back to its handler.
    VerificationFailed {
        /// By whom.
        by: UserId,
        /// The lead task sent back.
        task: TaskId,
        /// The verify task it answered, if a worker checked on site.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<TaskId>,
        /// What was seen.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// Closed.
    Closed,
    /// A task was given back (回退).
    TaskReturned {
        /// Which task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// A task's work was sent elsewhere (改派); the old task, if still active, is withdrawn.
    Redispatched {
        /// The task replaced.
        from: TaskId,
        /// The new task.
        to: Assignment,
    },
    /// More time was asked for.
    ExtensionRequested {
        /// Which task.
        task: TaskId,
        /// The deadline asked for (Unix ms).
        until_ms: i64,
        /// Why.
        reason: String,
    },
    /// More time was granted: the task's deadline moves.
    ExtensionApproved {
        /// Which task.
        task: TaskId,
        /// The new deadline (Unix ms).
        until_ms: i64,
    },
    /// More time was refused: the deadline stands.
    ExtensionRefused {
        /// Which task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// A verify task went out (核查).
    VerificationRequested {
        /// The verify task.
        task: Assignment,
    },
    /// The case's grid left the layer and the case moved to the grid its location lies in.
    Replaced {
        /// The grid it was in.
        from: String,
        /// The grid it is in now.
        to: String,
        /// Why.
        reason: String,
    },
    /// Parking was asked for (挂账).
    ParkRequested {
        /// Which task.
        task: TaskId,
        /// Why.
        reason: String,
        /// When the work is expected to go on (Unix ms), if said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_ms: Option<i64>,
    },
    /// Parking was approved: the task's clock stopped.
    Parked {
        /// Which task.
        task: TaskId,
    },
    /// Parking was refused: the clock runs on.
    ParkRefused {
        /// Which task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// A parked task's clock runs again; its deadline moved later.
    Resumed {
        /// Which task.
        task: TaskId,
        /// How long it was parked (ms).
        paused_ms: i64,
        /// Its deadline now (Unix ms), if it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_ms: Option<i64>,
    },
    /// Merged into another case as a duplicate (并单).
    MergedInto {
        /// The surviving case.
        into: String,
        /// Why.
        reason: String,
    },
    /// A duplicate was merged into this case: its reporters follow this one.
    Absorbed {
        /// The duplicate.
        duplicate: String,
        /// The cases whose reporters follow this one now, the duplicate first.
        followers: Vec<String>,
    },
    /// A closed case was reopened: the lead task goes back to its handler (返工).
    Reopened {
        /// The lead task sent back.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// Escalated by hand one level up (上报).
    Escalated {
        /// The unit whose queue it left.
        from: String,
        /// The unit whose queue it is in now.
        to: String,
        /// Why.
        reason: String,
    },
    /// The reporter rated the closed case (评价).
    Rated {
        /// The rating.
        rating: Rating,
    },
    /// The case's grid left the layer and its location lies in no grid of the new one:
    /// it keeps its grid code until a layer places it.
    Stranded {
        /// The grid it stays in.
        grid: String,
        /// Why.
        reason: String,
    },
}

/// Why a command was refused. The case is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The timer already raised this on this limit.
    #[error("{0} was already raised on this limit")]
    AlreadyRaised(String),
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
    /// The task already has a request for more time waiting.
    #[error("task {0} already has a request for more time waiting for an answer")]
    ExtensionPending(TaskId),
    /// There is no request for more time to answer.
    #[error("task {0} has no request for more time to answer")]
    NoExtensionRequest(TaskId),
    /// Whoever the task was sent to may not answer its request for more time.
    #[error("whoever a task was sent to may not grant or refuse it more time")]
    OwnExtension,
    /// The case was already found stranded in this grid; nothing new to record.
    #[error("the case is already recorded as stranded in grid {0}")]
    AlreadyStranded(String),
    /// The task is parked (挂账): resume it first.
    #[error("task {0} is parked; resume it first")]
    TaskParked(TaskId),
    /// The task is not parked.
    #[error("task {0} is not parked")]
    NotParked(TaskId),
    /// The task already has a request to park it waiting.
    #[error("task {0} already has a request to park it waiting for an answer")]
    ParkPending(TaskId),
    /// There is no request to park to answer.
    #[error("task {0} has no request to park it to answer")]
    NoParkRequest(TaskId),
    /// Whoever the task was sent to may not approve or refuse parking it.
    #[error("whoever a task was sent to may not approve or refuse parking it")]
    OwnPark,
    /// A case cannot be merged into itself.
    #[error("a case cannot be merged into itself")]
    MergeIntoItself,
    /// Duplicates are merged only into a case of the same category.
    #[error("case of category {duplicate} cannot be merged into a case of category {survivor}")]
    DifferentCategory {
        /// The duplicate's category.
        duplicate: String,
        /// The survivor's category.
        survivor: String,
    },
    /// Duplicates are merged only when reported near each other and not long apart.
    #[error("not a duplicate: {0}")]
    NotADuplicate(String),
    /// The case to merge into has left the loop.
    #[error("the case to merge into is {0}; merge only into an open case")]
    SurvivorNotOpen(Status),
    /// There is no level above to escalate to (the city).
    #[error("there is no level above {0} to escalate to")]
    NoLevelAbove(String),
    /// The reporter already rated this closing of the case.
    #[error("this closing of the case is already rated")]
    AlreadyRated,
    /// The command is malformed (an empty reason, a task id used twice).
    #[error("{0}")]
    Invalid(String),
}

impl Refusal {
    /// The stable slug of the refusal, for problem+json.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::IllegalTransition { .. } => "illegal-transition",
            Refusal::AlreadyRaised(_) => "already-raised",
            Refusal::VerifierIsHandler => "verifier-is-handler",
            Refusal::NoSuchTask(_) => "no-such-task",
            Refusal::WrongTaskKind { .. } => "wrong-task-kind",
            Refusal::NotYourTask(_) => "not-your-task",
            Refusal::TaskNotActive { .. } => "task-not-active",
            Refusal::NoAssignee(_) => "no-assignee",
            Refusal::ExtensionPending(_) => "extension-pending",
            Refusal::NoExtensionRequest(_) => "no-extension-request",
            Refusal::OwnExtension => "own-extension",
            Refusal::AlreadyStranded(_) => "already-stranded",
            Refusal::TaskParked(_) => "task-parked",
            Refusal::NotParked(_) => "not-parked",
            Refusal::ParkPending(_) => "park-pending",
            Refusal::NoParkRequest(_) => "no-park-request",
            Refusal::OwnPark => "own-park",
            Refusal::MergeIntoItself => "merge-into-itself",
            Refusal::DifferentCategory { .. } => "different-category",
            Refusal::NotADuplicate(_) => "not-a-duplicate",
            Refusal::SurvivorNotOpen(_) => "survivor-not-open",
            Refusal::NoLevelAbove(_) => "no-level-above",
            Refusal::AlreadyRated => "already-rated",
            Refusal::Invalid(_) => "invalid-command",
        }
    }
}

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

/// A reporter's rating of a closed case (好差评).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// 满意.
    Satisfied,
    /// 基本满意.
    Basic,
    /// 不满意: the case is reopened (返工).
    Unsatisfied,
}

/// One side of a merge: a case with its id and category.
#[derive(Debug, Clone, Copy)]
pub struct MergeSide<'a> {
    /// The case's id.
    pub id: &'a str,
    /// Its category's code.
    pub category: &'a str,
    /// Where and when it was reported.
    pub reported: super::duplicate::Reported,
    /// Its state.
    pub case: &'a Case,
}

/// Decides a merge (并单) of `duplicate` into `survivor` by `actor`: the events of each
/// case, or why not. Same category, nearby and recent only (docs/domain.md, [`super::duplicate`]);
/// the survivor must still be open; the
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
    if let Some(why) = super::duplicate::unlike(duplicate.reported, survivor.reported) {
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

/// The case status a task of `kind` works in.
fn home_of(kind: TaskKind) -> Status {
    match kind {
        TaskKind::Handle => Status::Dispatched,
        TaskKind::Confirm => Status::Confirming,
        TaskKind::Verify => Status::Handled,
    }
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
        extension: None,
        replaced_by: None,
        paused: Vec::new(),
        park: None,
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
        }
    }

    /// Completes the verify task that answered, if any, and withdraws any other still out.
    fn finish_verification(&mut self, check: Option<TaskId>) {
        for t in self.tasks.iter_mut().filter(|t| t.kind == TaskKind::Verify && t.status.is_active()) {
            t.set_status(if Some(t.id) == check { TaskStatus::Completed } else { TaskStatus::Cancelled });
        }
    }

    /// The alarm raised on limit `deadline` while it was due at `due_ms`, if any.
    pub fn alarm(&self, deadline: &str, due_ms: i64) -> Option<&Alarm> {
        self.alarms.iter().find(|a| a.deadline == deadline && a.due_ms == due_ms)
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
        let awaiting = self.tasks.iter().filter(|t| t.awaits_redispatch()).count();
        if matches!(self.status, Status::Handled | Status::Verified | Status::Closed) && awaiting > 0 {
            return Some(format!("a {} case has a returned part nobody took over", self.status));
        }
        if self.status == Status::Returned && awaiting == 0 {
            return Some("a returned case has no task waiting to be sent elsewhere".into());
        }
        let lead_awaiting =
            self.tasks.iter().any(|t| t.awaits_redispatch() && t.role == TaskRole::Lead && t.kind != TaskKind::Verify);
        if !matches!(self.status, Status::Returned | Status::Rejected | Status::Merged) && lead_awaiting {
            return Some(format!("a {} case has a returned lead task nobody took over", self.status));
        }
        if self.status != Status::Handled && active(TaskKind::Verify).count() > 0 {
            return Some(format!("a {} case has an active verify task", self.status));
        }
        if self.rating.is_some() && self.status != Status::Closed {
            return Some(format!("a {} case carries a rating of its closing", self.status));
        }
        if (self.status == Status::Merged) != self.merged_into.is_some() {
            return Some(format!(
                "a {} case {} a case it was merged into",
                self.status,
                if self.merged_into.is_some() { "names" } else { "lacks" }
            ));
        }
        for t in &self.tasks {
            if t.is_parked() && !t.status.is_active() {
                return Some(format!("task {} is over but still parked", t.id));
            }
            if (t.is_parked() || t.park.is_some() || !t.paused.is_empty()) && t.kind != TaskKind::Handle {
                return Some(format!("task {} is a {:?} task but was parked", t.id, t.kind));
            }
            if t.park.is_some() && (!t.status.is_active() || t.is_parked()) {
                return Some(format!("task {} asks to be parked but is over or parked already", t.id));
            }
            let mut last_end = i64::MIN;
            for (i, p) in t.paused.iter().enumerate() {
                let open = p.until_ms.is_none();
                if p.from_ms < last_end
                    || (open && i + 1 != t.paused.len())
                    || p.until_ms.is_some_and(|u| u < p.from_ms)
                {
                    return Some(format!("task {}'s parked stretches overlap or run backwards", t.id));
                }
                last_end = p.until_ms.unwrap_or(i64::MAX);
            }
            if t.extension.is_some() && !t.status.is_active() {
                return Some(format!("task {} is over but still asks for more time", t.id));
            }
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

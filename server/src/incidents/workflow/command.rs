//! The commands: what an actor (a person, or the system's timer and layer import) asks of a case.

use serde::{Deserialize, Serialize};

use super::{Rating, Severity, Target, TaskId, UserId};

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
    /// Sent with [`Command::Absorb`] on the survivor, through [`decide_merge`](super::decide_merge).
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
    /// The system's, on a registered sensor's word (物联感知): the sensor whose alarm
    /// opened the case raised it again or cleared it. Its key is checked at the door; the
    /// case's status does not change.
    SensorAlarm {
        /// The sensor's id.
        sensor: String,
        /// Raised (`true`) or cleared (`false`).
        raised: bool,
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
            Command::SensorAlarm { .. } => "sensor_alarm",
        }
    }
}

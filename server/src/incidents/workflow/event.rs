//! The events: what happened to a case, the trace it keeps and the only way its state changes.

use serde::{Deserialize, Serialize};

use super::{Assignment, Rating, Severity, TaskId, UserId};

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
    /// A registered sensor raised the alarm that opened the case (物联感知).
    AlarmRaised {
        /// The sensor's id.
        sensor: String,
    },
    /// The sensor raised its alarm again while the case was open: counted on this case,
    /// no new case; the status does not change.
    AlarmRepeated {
        /// The sensor's id.
        sensor: String,
        /// How many times it repeated so far, this one included.
        repeated: u32,
    },
    /// The sensor cleared its alarm: noted in the trace; the case goes on as it was.
    AlarmCleared {
        /// The sensor's id.
        sensor: String,
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

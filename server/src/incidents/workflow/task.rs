//! A case's tasks: what each asks, whom it was sent to, where it stands, and the
//! requests (more time, parking) its holder makes on it.

use serde::{Deserialize, Serialize};

use super::{Status, TaskId, UserId};

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
    pub(super) fn set_status(&mut self, status: TaskStatus) {
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

/// The case status a task of `kind` works in.
pub(super) fn home_of(kind: TaskKind) -> Status {
    match kind {
        TaskKind::Handle => Status::Dispatched,
        TaskKind::Confirm => Status::Confirming,
        TaskKind::Verify => Status::Handled,
    }
}

//! The state of a case as the workflow sees it: its status, alarms and rating, and the
//! rules every reachable state keeps.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Severity, Task, TaskKind, TaskRole, TaskStatus, UserId};

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

    /// The wire names of the statuses that left the loop for good (closed, rejected, merged).
    pub fn final_names() -> Vec<&'static str> {
        Status::ALL.iter().filter(|s| s.is_final()).map(|s| s.as_str()).collect()
    }

    /// The wire names of the statuses still in the loop.
    pub fn open_names() -> Vec<&'static str> {
        Status::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// The alarms raised by the sensor that reported the case (物联感知): the first and
    /// its repeats.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sensor_alarms: u32,
    /// The level handling the case (1–5), once an event set it: a dispatch or redispatch
    /// of the lead, or an escalation. Before that, the category's level stored with the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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

impl Case {
    /// A case reported at `at_ms`.
    pub fn reported(at_ms: i64) -> Case {
        Case { since_ms: at_ms, ..Case::default() }
    }

    /// The light of the step falling due at `due_ms` as the deadline timer last raised
    /// it: `red` once overdue, `yellow` once warned, else `green` (and `green` with no
    /// limit running).
    pub fn light(&self, due_ms: Option<i64>) -> &'static str {
        let Some(due) = due_ms else { return "green" };
        let alarms = self.alarms.iter().filter(|a| a.due_ms == due);
        alarms.fold("green", |light, a| match (a.level, a.warned, light) {
            (Some(_), _, _) | (_, _, "red") => "red",
            (None, true, _) => "yellow",
            (None, false, light) => light,
        })
    }

    /// The alarm raised on limit `deadline` while it was due at `due_ms`, if any.
    pub fn alarm(&self, deadline: &str, due_ms: i64) -> Option<&Alarm> {
        self.alarms.iter().find(|a| a.deadline == deadline && a.due_ms == due_ms)
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

//! What the API shows of a case: the full view for staff (contacts masked), the summary
//! of lists, the task as phones receive it, and the follow view for residents (no one's
//! personal data).

use serde::Serialize;
use serde_json::Value;

use super::store::{EventRow, IncidentRow, TaskRow};
use crate::clock::rfc3339;

/// Names the views show beside codes: categories and grids.
pub trait Names {
    /// A category's name.
    fn category(&self, code: &str) -> Option<String>;
    /// A grid's name.
    fn grid(&self, code: &str) -> Option<String>;
    /// Whether cases of a category take a grade (定级): emergencies.
    fn takes_grade(&self, _category: &str) -> bool {
        false
    }
}

/// A code with its name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Named {
    /// The code.
    pub code: String,
    /// Its name (the code again when unknown).
    pub name: String,
}

/// A WGS-84 position.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Position {
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
}

/// A reporter's contact details, masked (脱敏).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MaskedContact {
    /// The name with all but its first character hidden.
    pub name: Option<String>,
    /// The phone with its middle digits hidden.
    pub phone: Option<String>,
    /// The ID number with all but its first and last four characters hidden (left out
    /// when the reporter gave none, as most do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
}

/// An ID number with its middle hidden: `320102199001011234` → `3201**********1234`;
/// a short one keeps only its last two characters.
pub fn mask_id_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    if n >= 12 {
        chars[..4].iter().chain(std::iter::repeat_n(&'*', n - 8)).chain(&chars[n - 4..]).collect()
    } else {
        mask_phone(number)
    }
}

/// A name with all but its first character hidden: `张三丰` → `张**`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
    }
}

/// A phone with its middle hidden: `13812345678` → `138****5678`; short numbers keep
/// only their last two characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    if n >= 11 {
        chars[..3].iter().chain(std::iter::repeat_n(&'*', n - 7)).chain(&chars[n - 4..]).collect()
    } else {
        std::iter::repeat_n('*', n.saturating_sub(2)).chain(chars[n.saturating_sub(2)..].iter().copied()).collect()
    }
}

/// The current step's deadline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deadlines {
    /// When the current step falls due (RFC 3339), if it has a limit.
    pub current: Option<String>,
    /// Whether it has passed.
    pub overdue: bool,
}

/// A case in a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Its id.
    pub id: String,
    /// Its human number.
    pub code: String,
    /// Its category.
    pub category: Named,
    /// Its status.
    pub status: String,
    /// The level handling it (1–5).
    pub level: i32,
    /// Its grid.
    pub grid: Named,
    /// Where.
    pub location: Position,
    /// What was reported.
    pub description: String,
    /// When reported.
    pub reported_at: String,
    /// When last changed.
    pub updated_at: String,
    /// Its deadline.
    pub deadlines: Deadlines,
    /// The current step's light as the deadline timer last raised it (`green`, `yellow`, `red`).
    pub light: String,
}

/// A task.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskView {
    /// Its id.
    pub id: String,
    /// Its case.
    pub incident_id: String,
    /// `handle`, `confirm` or `verify`.
    pub kind: String,
    /// `lead` or `assist`.
    pub role: String,
    /// `open`, `accepted`, `completed`, `cancelled` or `returned`.
    pub status: String,
    /// What it was sent to, e.g. `{"grid": "…"}`.
    #[schema(value_type = Object)]
    pub target: Value,
    /// Who may take it.
    pub assignees: Vec<String>,
    /// Who holds it.
    pub holder: Option<String>,
    /// Times sent back for rework.
    pub rework: i32,
    /// When it falls due (RFC 3339).
    pub deadline: Option<String>,
    /// When created.
    pub created_at: String,
    /// When last changed.
    pub updated_at: String,
    /// More time asked for by the holder and not yet answered (延期).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_requested: Option<ExtensionView>,
    /// The task that took over its work (改派), once one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// A request to park it (挂账) waiting for the centre's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub park_requested: Option<ParkView>,
    /// Whether it is parked now: its clock stopped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub parked: bool,
    /// The stretches it was parked, oldest first (the last may still be open).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<PauseView>,
    /// In a case view, the operations on this task the caller may take now (absent where
    /// a task reaches everyone it concerns alike, as in the change log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<&'static str>>,
}

/// A request to park a task, waiting for the centre's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParkView {
    /// Why.
    pub reason: String,
    /// When the work is expected to go on (RFC 3339), if said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A stretch a task was parked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PauseView {
    /// When its clock stopped (RFC 3339).
    pub from: String,
    /// When it ran again (RFC 3339); absent while parked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A request for more time waiting for the centre's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    /// The deadline asked for (RFC 3339).
    pub until: String,
    /// Why.
    pub reason: String,
}

/// Who did something.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActorRef {
    /// Their user id.
    pub id: String,
    /// Their role then.
    pub role: Option<String>,
}

/// One event of the trace.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Its number within the case.
    pub n: i32,
    /// What happened.
    pub action: String,
    /// Who did it (none for a resident).
    pub actor: Option<ActorRef>,
    /// From which device.
    pub device_id: Option<String>,
    /// When it happened (for a phone's work sent late, the time the worker did it).
    pub at: String,
    /// When the server heard of it, where that differs from `at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    /// The event's details.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A case in full, for staff.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    /// Everything a list shows.
    #[serde(flatten)]
    pub summary: Summary,
    /// The report's photos (attachment ids).
    pub photos: Vec<String>,
    /// The reporter's contact, masked.
    pub contact: Option<MaskedContact>,
    /// Where the report came from.
    pub source: String,
    /// An emergency's grade (`I`…`IV`), if it has one.
    pub severity: Option<String>,
    /// A grade the reporter claimed (a resident, an Open311 client), until staff grade the
    /// case: shown to the desk, acting on nothing.
    pub claimed_severity: Option<String>,
    /// The unit whose centre's queue holds it: its township's until it is escalated.
    pub queue: Option<String>,
    /// Its running time limits, each with its light and, once overdue, its supervisor (督办).
    pub limits: Vec<LimitView>,
    /// Its tasks, oldest first.
    pub tasks: Vec<TaskView>,
    /// Every event, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The actions on the case itself the caller may take now (the table of who may do
    /// what, and the case's state): one button each.
    pub allowed_actions: Vec<&'static str>,
}

/// A running time limit of a case, as its deadline row holds it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LimitView {
    /// The step it times: `accept`, `dispatch`, `handle`, `confirm` or `verify`.
    pub step: String,
    /// The task it times, for a task's limit.
    pub task: Option<String>,
    /// The unit it counts in: `urgent_hours`, `working_hours` or `working_days`.
    pub unit: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it turns yellow (80 %), unless it is parked.
    pub yellow_at: Option<String>,
    /// When it falls due.
    pub due_at: String,
    /// `green`, `yellow` or `red` now.
    pub light: String,
    /// Whether its clock is stopped (挂账).
    pub parked: bool,
    /// Once overdue, the level whose centre supervises it (3 township, 2 county, 1 city).
    pub supervised_at_level: Option<i32>,
    /// That centre's unit.
    pub supervisor: Option<String>,
}

/// A deadline row as shown.
pub fn limit(row: &crate::deadlines::store::DeadlineRow, now_ms: i64) -> LimitView {
    let light = match row.light(now_ms) {
        crate::calendar::Light::Green => "green",
        crate::calendar::Light::Yellow => "yellow",
        crate::calendar::Light::Red => "red",
    };
    LimitView {
        step: row.step.clone(),
        task: row.task_id.clone(),
        unit: row.unit.clone(),
        started_at: rfc3339(row.started_at_ms),
        yellow_at: row.yellow_at_ms.map(rfc3339),
        due_at: rfc3339(row.due_at_ms),
        light: light.to_owned(),
        parked: row.parked,
        supervised_at_level: row.level,
        supervisor: row.supervisor_code.clone(),
    }
}

/// One step of a case as its reporter follows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FollowStep {
    /// What happened.
    pub action: String,
    /// When.
    pub at: String,
}

/// A case as its reporter follows it: no one's personal data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FollowView {
    /// Its id.
    pub id: String,
    /// Its human number.
    pub code: String,
    /// Its category.
    pub category: Named,
    /// Its status.
    pub status: String,
    /// What happened, oldest first.
    pub history: Vec<FollowStep>,
    /// For a duplicate merged into another case (并单): the case its reporter follows now,
    /// the one the duplicate (or the case it was merged into, and so on) ended in.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub merged_into: Option<Box<FollowView>>,
}

fn named(code: &str, name: Option<String>) -> Named {
    Named { code: code.to_owned(), name: name.unwrap_or_else(|| code.to_owned()) }
}

/// The summary of a case.
pub fn summary(row: &IncidentRow, names: &dyn Names, now_ms: i64) -> Summary {
    let open = !matches!(row.status.as_str(), "closed" | "rejected" | "merged");
    Summary {
        id: row.id.clone(),
        code: row.code.clone(),
        category: named(&row.category_code, names.category(&row.category_code)),
        status: row.status.clone(),
        level: row.level,
        grid: named(&row.grid_code, names.grid(&row.grid_code)),
        location: Position { lon: row.lon, lat: row.lat },
        description: row.description.clone(),
        reported_at: rfc3339(row.reported_at_ms),
        updated_at: rfc3339(row.updated_at_ms),
        deadlines: Deadlines {
            current: row.due_at_ms.map(rfc3339),
            overdue: open && row.due_at_ms.is_some_and(|due| due < now_ms),
        },
        light: row.light.clone(),
    }
}

/// A task as the API and phones see it.
/// A task as shown; `state` is the workflow's view of it (from the case's state), which
/// carries what the task row does not: a pending request for more time, a successor.
pub fn task(row: &TaskRow, assignees: Vec<String>, state: Option<&super::workflow::Task>) -> TaskView {
    TaskView {
        id: row.id.clone(),
        incident_id: row.incident_id.clone(),
        kind: row.kind.clone(),
        role: row.role.clone(),
        status: row.status.clone(),
        target: serde_json::from_str(&row.target).unwrap_or(Value::Null),
        assignees,
        holder: row.holder_id.clone(),
        rework: row.rework,
        deadline: row.due_at_ms.map(rfc3339),
        created_at: rfc3339(row.created_at_ms),
        updated_at: rfc3339(row.updated_at_ms),
        extension_requested: state
            .and_then(|t| t.extension.as_ref())
            .map(|e| ExtensionView { until: rfc3339(e.until_ms), reason: e.reason.clone() }),
        replaced_by: state.and_then(|t| t.replaced_by).map(|id| id.to_string()),
        park_requested: state
            .and_then(|t| t.park.as_ref())
            .map(|p| ParkView { reason: p.reason.clone(), until: p.until_ms.map(rfc3339) }),
        parked: state.is_some_and(super::workflow::Task::is_parked),
        paused: state
            .map(|t| &t.paused[..])
            .unwrap_or_default()
            .iter()
            .map(|p| PauseView { from: rfc3339(p.from_ms), until: p.until_ms.map(rfc3339) })
            .collect(),
        allowed_actions: None,
    }
}

/// The workflow's tasks of a stored case (none if its state cannot be read).
pub fn workflow_tasks(row: &IncidentRow) -> Vec<super::workflow::Task> {
    serde_json::from_str::<super::workflow::Case>(&row.state).map(|c| c.tasks).unwrap_or_default()
}

/// The workflow's view of task `id` among `tasks`.
pub fn find<'a>(tasks: &'a [super::workflow::Task], id: &str) -> Option<&'a super::workflow::Task> {
    tasks.iter().find(|t| t.id.to_string() == id)
}

/// A case in full; `contact` is its contact opened, shown masked.
pub fn incident(
    row: &IncidentRow,
    contact: Option<&super::report::Contact>,
    tasks: Vec<TaskView>,
    limits: Vec<LimitView>,
    events: &[EventRow],
    names: &dyn Names,
    now_ms: i64,
) -> IncidentView {
    let contact = contact.map(|c| MaskedContact {
        name: c.name.as_deref().map(mask_name),
        phone: c.phone.as_deref().map(mask_phone),
        id_number: c.id_number.as_deref().map(mask_id_number),
    });
    IncidentView {
        summary: summary(row, names, now_ms),
        photos: serde_json::from_str(&row.photos).unwrap_or_default(),
        contact,
        source: row.source.clone(),
        severity: row.severity.clone(),
        claimed_severity: serde_json::from_str::<super::workflow::Case>(&row.state)
            .ok()
            .and_then(|c| c.claimed_severity)
            .map(|g| g.as_str().to_owned()),
        queue: row.queue(),
        limits,
        tasks,
        history: events
            .iter()
            .map(|e| HistoryEntry {
                n: e.n,
                action: e.action.clone(),
                actor: e.actor_id.clone().map(|id| ActorRef { id, role: e.actor_role.clone() }),
                device_id: e.device_id.clone(),
                at: rfc3339(e.at_ms),
                received_at: e.received_at_ms.filter(|r| *r != e.at_ms).map(rfc3339),
                data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
            })
            .collect(),
        allowed_actions: Vec::new(),
    }
}

/// A case as its reporter follows it.
pub fn follow(row: &IncidentRow, events: &[EventRow], names: &dyn Names) -> FollowView {
    FollowView {
        id: row.id.clone(),
        code: row.code.clone(),
        category: named(&row.category_code, names.category(&row.category_code)),
        status: row.status.clone(),
        history: events.iter().map(|e| FollowStep { action: e.action.clone(), at: rfc3339(e.at_ms) }).collect(),
        merged_into: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李"), "李");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "+86*******5678");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_phone("1"), "1");
        assert_eq!(mask_id_number("320102199001011234"), "3201**********1234");
        assert_eq!(mask_id_number("32010219900101X"), "3201*******101X");
    }
}

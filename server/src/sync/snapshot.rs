//! The current state of everything a user may see, for a device starting afresh: the
//! tasks waiting for them or held by them, with their cases, and — for those who direct
//! cases — every open case of their area; then the newest notices and flags told to them
//! that the log still keeps.

use std::collections::HashMap;

use diesel::prelude::*;
use sync_protocol::Item;

use crate::incidents::act::{incident_data, task_data};
use crate::incidents::schema::{incidents, task_assignees, tasks};
use crate::incidents::scope::Viewer;
use crate::incidents::store::{self, Filter, IncidentRow, Key, Start, TaskRow};
use crate::incidents::view;
use crate::incidents::workflow::Status;
use crate::store::DbConnection;

/// Cases read per query while building a snapshot, and ids per `IN (…)` list.
const PAGE: i64 = 500;
/// The kinds of change that are messages rather than states.
const MESSAGE_KINDS: [&str; 2] = ["notice", "flag"];
/// The most messages a snapshot repeats (the newest).
const MAX_MESSAGES: i64 = 200;

/// The tasks in `user`'s view: open ones sent to them, and accepted ones they hold.
/// Two reads, each driven by an index: the user's task ids first, then those tasks. As
/// one join, PostgreSQL chose to scan every task and probe the user's assignments for
/// each (3,000 probes per snapshot at 6,000 tasks, growing with the history).
fn tasks_in_view(conn: &mut DbConnection, user: &str) -> QueryResult<Vec<TaskRow>> {
    let ids: Vec<String> =
        task_assignees::table.filter(task_assignees::user_id.eq(user)).select(task_assignees::task_id).load(conn)?;
    let mut rows = Vec::new();
    for chunk in ids.chunks(500) {
        rows.extend(
            tasks::table
                .filter(tasks::id.eq_any(chunk))
                .filter(tasks::status.eq("open").or(tasks::status.eq("accepted").and(tasks::holder_id.eq(user))))
                .select(TaskRow::as_select())
                .load(conn)?,
        );
    }
    rows.sort_by(|a, b| a.created_at_ms.cmp(&b.created_at_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(rows)
}

/// The cases with these ids, by id: one query per [`PAGE`] ids.
fn cases_by_id(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, IncidentRow>> {
    let mut cases = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(PAGE as usize) {
        let rows: Vec<IncidentRow> =
            incidents::table.filter(incidents::id.eq_any(chunk)).select(IncidentRow::as_select()).load(conn)?;
        cases.extend(rows.into_iter().map(|r| (r.id.clone(), r)));
    }
    Ok(cases)
}

/// The assignees of these tasks, by task (each task's in user order): one query per
/// [`PAGE`] tasks.
fn assignees_by_task(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, Vec<String>>> {
    let mut assignees: HashMap<String, Vec<String>> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(PAGE as usize) {
        for (task, user) in store::assignees_of(conn, chunk)? {
            assignees.entry(task).or_default().push(user);
        }
    }
    Ok(assignees)
}

/// A task in a user's view, as a phone receives it.
pub struct HeldTask {
    /// The task's id.
    pub id: String,
    /// Its case's id.
    pub incident_id: String,
    /// The task with the essentials of its case ([`task_data`]).
    pub data: serde_json::Value,
    /// The case as a phone receives it ([`incident_data`]), with the first of its tasks only.
    pub case: Option<serde_json::Value>,
}

/// The tasks in `user`'s view — open ones sent to them, accepted ones they hold — oldest
/// first, each with its case the first time the case appears.
pub fn held_tasks(conn: &mut DbConnection, user: &str) -> QueryResult<Vec<HeldTask>> {
    let tasks = tasks_in_view(conn, user)?;
    let mut case_ids: Vec<String> = tasks.iter().map(|t| t.incident_id.clone()).collect();
    case_ids.sort_unstable();
    case_ids.dedup();
    let rows = cases_by_id(conn, &case_ids)?;
    let task_ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let mut assignees = assignees_by_task(conn, &task_ids)?;
    // Each case's state read once, however many of its tasks the user has.
    let mut states: HashMap<&str, Vec<crate::incidents::workflow::Task>> = HashMap::new();
    let mut held = Vec::with_capacity(tasks.len());
    for task in &tasks {
        let Some(row) = rows.get(&task.incident_id) else { continue };
        let first = !states.contains_key(row.id.as_str());
        let known = states.entry(row.id.as_str()).or_insert_with(|| view::workflow_tasks(row));
        let shown = view::task(task, assignees.remove(&task.id).unwrap_or_default(), view::find(known, &task.id));
        held.push(HeldTask {
            id: task.id.clone(),
            incident_id: row.id.clone(),
            data: task_data(row, &shown),
            case: first.then(|| incident_data(row)),
        });
    }
    Ok(held)
}

/// Everything `viewer` may see now, as items stamped with `cursor` (the log number the
/// snapshot stands at). Read in batches, never a query per task or case: the tasks, then
/// their cases and assignees by `IN (…)` lists, then the open cases of the area page by
/// page (keyset, each page an index seek).
pub fn items(conn: &mut DbConnection, viewer: &Viewer, cursor: i64) -> QueryResult<Vec<Item>> {
    let user = viewer.id.to_string();
    let mut items = Vec::new();
    let mut cases = std::collections::BTreeSet::new();
    let item = |kind: &str, id: &str, data: serde_json::Value| Item {
        seq: cursor,
        kind: kind.to_owned(),
        id: id.to_owned(),
        removed: false,
        data,
    };
    for held in held_tasks(conn, &user)? {
        items.push(item("task", &held.id, held.data));
        if let Some(case) = held.case
            && cases.insert(held.incident_id.clone())
        {
            items.push(item("incident", &held.incident_id, case));
        }
    }
    if viewer.directs() {
        let open: Vec<String> = Status::open_names().into_iter().map(str::to_owned).collect();
        let filter = Filter { statuses: open, ..Filter::default() };
        let mut start = Start::Offset(0);
        loop {
            let rows = store::list(conn, viewer, &filter, PAGE, &start)?;
            for row in &rows {
                if cases.insert(row.id.clone()) {
                    items.push(item("incident", &row.id, incident_data(row)));
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => start = Start::After(Key::of(last)),
                _ => break,
            }
        }
    }
    // What was told to them (抄告 notices, 督办 flags) is not anyone's state to rebuild:
    // the messages the log still keeps are sent again.
    let subjects = super::audience::subjects(viewer);
    for message in crate::changes::messages(conn, &subjects, &MESSAGE_KINDS, MAX_MESSAGES)? {
        let data = serde_json::from_str(&message.data).unwrap_or(serde_json::Value::Null);
        items.push(item(&message.kind, &message.id, data));
    }
    Ok(items)
}

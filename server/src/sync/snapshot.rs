//! The current state of everything a user may see, for a device starting afresh: the
//! tasks waiting for them or held by them, with their cases, and — for those who direct
//! cases — every open case of their area; then the newest notices and flags told to them
//! that the log still keeps.

use diesel::prelude::*;
use sync_protocol::Item;

use crate::incidents::act::{incident_data, task_data};
use crate::incidents::schema::{task_assignees, tasks};
use crate::incidents::scope::Viewer;
use crate::incidents::store::{self, Filter, TaskRow};
use crate::incidents::view;
use crate::incidents::workflow::Status;
use crate::store::DbConnection;

/// Cases read per query while building a snapshot.
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

/// Everything `viewer` may see now, as items stamped with `cursor` (the log number the
/// snapshot stands at).
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
    for task in tasks_in_view(conn, &user)? {
        let Some(row) = store::incident(conn, &task.incident_id)? else { continue };
        let assignees =
            store::assignees_of(conn, std::slice::from_ref(&task.id))?.into_iter().map(|(_, u)| u).collect();
        let states = view::workflow_tasks(&row);
        let shown = view::task(&task, assignees, view::find(&states, &task.id));
        items.push(item("task", &task.id, task_data(&row, &shown)));
        if cases.insert(row.id.clone()) {
            items.push(item("incident", &row.id, incident_data(&row)));
        }
    }
    if viewer.directs() {
        let open: Vec<String> = Status::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str().to_owned()).collect();
        let filter = Filter { statuses: open, ..Filter::default() };
        let mut offset = 0;
        loop {
            let (rows, _) = store::list(conn, viewer, &filter, PAGE, offset)?;
            for row in &rows {
                if cases.insert(row.id.clone()) {
                    items.push(item("incident", &row.id, incident_data(row)));
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
            offset += PAGE;
        }
    }
    // What was told to them (抄告 notices, 督办 flags) is not anyone's state to rebuild:
    // the messages the log still keeps are sent again.
    let subjects = super::socket::subjects(viewer);
    for message in crate::changes::messages(conn, &subjects, &MESSAGE_KINDS, MAX_MESSAGES)? {
        let data = serde_json::from_str(&message.data).unwrap_or(serde_json::Value::Null);
        items.push(item(&message.kind, &message.id, data));
    }
    Ok(items)
}

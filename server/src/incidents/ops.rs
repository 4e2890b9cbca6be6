//! The operations on a task that a phone sends over the socket and a desk over HTTP
//! (`POST /api/v1/tasks/{id}/actions`), read into workflow commands in one place.

use sync_protocol::OpKind;
use uuid::Uuid;

use super::workflow::Command;
use crate::clock::parse_rfc3339;

/// A task operation read: the task, the workflow command, the photos it cites.
#[derive(Debug, Clone)]
pub struct TaskOp {
    /// The task it names.
    pub task: Uuid,
    /// What it asks of the case.
    pub command: Command,
    /// Attachment ids cited (checked to exist before the command is committed).
    pub photos: Vec<String>,
    /// Where the phone was (WGS-84 longitude, latitude), for an arrival or a completion
    /// that says.
    pub position: Option<(f64, f64)>,
}

/// A phone's position in WGS-84, from a location in any of the systems phones use; a
/// sentence when it is not a position.
pub fn position(at: &sync_protocol::Location) -> Result<(f64, f64), String> {
    let crs = match at.crs.as_deref() {
        None => geodata::crs::Crs::Wgs84,
        Some(name) => name.parse().map_err(|_| format!("crs must be wgs84, gcj02 or bd09, not {name:?}"))?,
    };
    if !geodata::crs::is_position(at.lon, at.lat) {
        return Err(format!("({}, {}) is not a position", at.lon, at.lat));
    }
    Ok(geodata::crs::to_wgs84(crs, at.lon, at.lat))
}

/// The command of a task operation; `None` for ops that are not about a task
/// (`report_incident`, `location`, unknown kinds), `Err` with a sentence when malformed.
pub fn task_op(kind: &OpKind) -> Option<Result<TaskOp, String>> {
    let parse = |id: &str| Uuid::parse_str(id).map_err(|_| format!("task_id {id:?} is not a task's id"));
    let op = |task_id: &str, make: &dyn Fn(Uuid) -> Command, photos: &[String]| {
        parse(task_id).map(|task| TaskOp { task, command: make(task), photos: photos.to_vec(), position: None })
    };
    let located = |op: Result<TaskOp, String>, at: &Option<sync_protocol::Location>| {
        let position = at.as_ref().map(position).transpose()?;
        op.map(|op| TaskOp { position, ..op })
    };
    Some(match kind {
        OpKind::AcceptTask { task_id } => op(task_id, &|task| Command::AcceptTask { task }, &[]),
        OpKind::Arrive { task_id, location } => located(op(task_id, &|task| Command::Arrive { task }, &[]), location),
        OpKind::Progress { task_id, text, photos } => {
            op(task_id, &|task| Command::Progress { task, note: text.clone() }, photos)
        }
        OpKind::CompleteTask { task_id, result, photos, location } => {
            located(op(task_id, &|task| Command::CompleteTask { task, result: result.clone() }, photos), location)
        }
        OpKind::ConfirmTask { task_id, exists, photos } => {
            op(task_id, &|task| Command::ConfirmTask { task, exists: *exists }, photos)
        }
        OpKind::ReturnTask { task_id, reason } => {
            op(task_id, &|task| Command::ReturnTask { task, reason: reason.clone() }, &[])
        }
        OpKind::RequestExtension { task_id, until, reason } => match parse_rfc3339(until) {
            None => Err(format!("until must be an RFC 3339 instant, not {until:?}")),
            Some(until_ms) => {
                op(task_id, &|task| Command::RequestExtension { task, until_ms, reason: reason.clone() }, &[])
            }
        },
        OpKind::RequestPark { task_id, reason, until } => {
            match until.as_deref().map(|u| parse_rfc3339(u).ok_or(u)).transpose() {
                Err(u) => Err(format!("until must be an RFC 3339 instant, not {u:?}")),
                Ok(until_ms) => {
                    op(task_id, &|task| Command::RequestPark { task, reason: reason.clone(), until_ms }, &[])
                }
            }
        }
        OpKind::ResumeTask { task_id } => op(task_id, &|task| Command::Resume { task, due_ms: None }, &[]),
        OpKind::Verify { task_id, passed, note, photos } => {
            op(task_id, &|task| Command::Verify { task: Some(task), passed: *passed, note: note.clone() }, photos)
        }
        OpKind::ReportIncident { .. } | OpKind::Location { .. } | OpKind::OffDuty | OpKind::Unknown => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Option<Result<TaskOp, String>> {
        task_op(&serde_json::from_str::<OpKind>(json).unwrap_or(OpKind::Unknown))
    }

    #[test]
    fn task_ops_become_commands_and_others_do_not() {
        let id = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        let ret = read(&format!(r#"{{"kind":"return_task","task_id":"{id}","reason":"not ours"}}"#));
        assert!(matches!(ret, Some(Ok(TaskOp { command: Command::ReturnTask { .. }, .. }))));
        let ext = format!(
            r#"{{"kind":"request_extension","task_id":"{id}","until":"2026-12-01T09:00:00+08:00","reason":"parts"}}"#
        );
        let Some(Ok(TaskOp { command: Command::RequestExtension { until_ms, .. }, .. })) = read(&ext) else {
            panic!("request_extension not read");
        };
        assert_eq!(until_ms, 1_796_086_800_000);
        let bad = format!(r#"{{"kind":"request_extension","task_id":"{id}","until":"soon","reason":"x"}}"#);
        assert!(matches!(read(&bad), Some(Err(_))));
        let park = format!(r#"{{"kind":"request_park","task_id":"{id}","reason":"demolition pending"}}"#);
        assert!(matches!(read(&park), Some(Ok(TaskOp { command: Command::RequestPark { until_ms: None, .. }, .. }))));
        let park = format!(r#"{{"kind":"request_park","task_id":"{id}","reason":"x","until":"2027-01-01T00:00:00Z"}}"#);
        assert!(matches!(
            read(&park),
            Some(Ok(TaskOp { command: Command::RequestPark { until_ms: Some(_), .. }, .. }))
        ));
        let park = format!(r#"{{"kind":"request_park","task_id":"{id}","reason":"x","until":"later"}}"#);
        assert!(matches!(read(&park), Some(Err(_))));
        let resume = format!(r#"{{"kind":"resume_task","task_id":"{id}"}}"#);
        assert!(matches!(read(&resume), Some(Ok(TaskOp { command: Command::Resume { .. }, .. }))));
        assert!(matches!(read(r#"{"kind":"accept_task","task_id":"nope"}"#), Some(Err(_))));
        assert!(read(r#"{"kind":"location","lon":118.3,"lat":33.9}"#).is_none());
        assert!(read(r#"{"kind":"dance"}"#).is_none());
    }
}

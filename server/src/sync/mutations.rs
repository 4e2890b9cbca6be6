//! A phone's mutations through the one write path, exactly once.
//!
//! Each mutation is committed in the same transaction that records (user, device,
//! mutation id) and its result, so a retry — on this connection or any later one —
//! finds the first result and applies nothing again. A refusal by the workflow is a
//! result too, and kept. What is not kept is a transient refusal, answered with
//! `retry: true`: a photo not uploaded yet, or a failure of the server's own.

use geodata::crs::Crs;
use sync_protocol::{Handled, Location, Op, OpKind, ServerMessage};
use uuid::Uuid;

use super::Shared;
use crate::auth::Role;
use crate::auth::{new_token, token_hash};
use crate::categories::Severity;
use crate::clock::parse_rfc3339;
use crate::error_kind::ErrorKind;
use crate::incidents::act::{ActError, Actor, Extra, NewCase, Tx};
use crate::incidents::desk::Desk;
use crate::incidents::ops::task_op;
use crate::incidents::permissions::files_at;
use crate::incidents::report::place;
use crate::incidents::self_handled;
use crate::incidents::store;
use crate::incidents::workflow::Command;
use crate::problem::Chain;

/// A mutation's answer (whom its commit concerned was told by the write path).
#[derive(Debug, Clone)]
pub struct Applied {
    /// The `mutation_result` to send.
    pub reply: ServerMessage,
}

fn answer(id: &str, ok: bool, retry: bool, code: Option<ErrorKind>, detail: Option<String>) -> ServerMessage {
    let code = code.map(|kind| kind.slug().to_owned());
    ServerMessage::MutationResult { id: id.to_owned(), ok, retry, code, detail }
}

/// Why a mutation ended without a kept result.
enum Fail {
    /// Answer with this, and keep nothing.
    Transient(ServerMessage),
    /// Another connection of the device applied it meanwhile: read its result.
    Raced,
    /// Storage failed: answer retry.
    Internal(String),
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Fail {
        Fail::Internal(e.to_string())
    }
}
impl From<crate::store::StoreError> for Fail {
    fn from(e: crate::store::StoreError) -> Fail {
        Fail::Internal(e.to_string())
    }
}

/// Applies mutation `id` of `actor`'s device, received at `now_ms` from a device last in
/// touch with the server at `since_ms` before this session: the work is dated when the
/// phone says it was done (`occurred_at`), but no earlier than that contact — a worker
/// offline in the field keeps the true time of the work, and nobody backdates past the
/// moment they were last online — and the trace keeps both times.
pub fn apply(shared: &Shared, actor: &Actor, id: &str, op: &Op, since_ms: i64, now_ms: i64) -> Applied {
    let device = actor.device_id.clone().unwrap_or_default();
    let scope = format!("mutation:{}:{device}", actor.viewer.id);
    let kept_since = now_ms - shared.settings.retention_ms();
    let refused = |code: ErrorKind, detail: String| answer(id, false, false, Some(code), Some(detail));
    let outcome = match &op.kind {
        OpKind::Unknown => {
            return Applied { reply: answer(id, false, false, Some(ErrorKind::UnsupportedOp), None) };
        }
        OpKind::Location { at, accuracy_m } => {
            // A position is a grid worker's, kept while they work (docs/domain.md); nobody
            // else's is anything the server should keep.
            if actor.viewer.role != Role::GridWorker {
                let detail = "a position is sent by a grid worker's phone".to_owned();
                return Applied { reply: refused(ErrorKind::Forbidden, detail) };
            }
            // Where the worker was when the phone took the fix (sent late, perhaps).
            let taken = op.occurred_at.as_deref().and_then(parse_rfc3339).unwrap_or(now_ms).min(now_ms);
            return locate_worker(shared, actor, id, at, *accuracy_m, taken);
        }
        OpKind::OffDuty => {
            if actor.viewer.role != Role::GridWorker {
                return Applied {
                    reply: refused(ErrorKind::Forbidden, "only a grid worker goes on and off duty".into()),
                };
            }
            // A position is kept only while on duty: off duty, it goes at once.
            let user = actor.viewer.id.to_string();
            return match shared.db.write(|c| super::store::forget_position(c, &user)) {
                Ok(_) => Applied { reply: answer(id, true, false, None, None) },
                Err(e) => {
                    tracing::error!(cause = %e, "position not forgotten");
                    Applied { reply: internal(id) }
                }
            };
        }
        OpKind::ReportIncident { incident_id, category, location, description, photos, severity, handled } => {
            let finding =
                Finding { incident_id, category, location, description, photos, severity: severity.as_deref() };
            let new = match new_finding(shared, &finding) {
                Ok(new) => new,
                Err((code, detail)) => return Applied { reply: refused(code, detail) },
            };
            // A finding is a grid worker's, within their own grid's community (docs/domain.md).
            if actor.viewer.role != Role::GridWorker || !files_at(&actor.viewer, &new.chain[4]) {
                let detail = "a finding is reported by a grid worker within their own grid's community".to_owned();
                return Applied { reply: refused(ErrorKind::Forbidden, detail) };
            }
            if let Some(handled) = handled {
                return settle(
                    shared,
                    &scope,
                    id,
                    kept_since,
                    handled_finding(shared, actor, id, &scope, new, handled, now_ms),
                );
            }
            commit(shared, &scope, id, kept_since, now_ms, photos, |tx| {
                if store::incident(tx.conn(), &new.id)?.is_some() {
                    return Ok(Err((ErrorKind::DuplicateId, format!("a case {} exists already", new.id))));
                }
                let case = new.id.clone();
                tx.open(new.clone(), Some(actor), now_ms)?;
                // A worker's own finding needs no 核实: the rules take it in at once (only a
                // centre accepts by hand, so the step is the system's, under the rule's name).
                let rule = Extra { rule: Some(self_handled::OWN_FINDING.into()), ..Extra::default() };
                let accept = (Command::Accept { confirm: None }, rule);
                let outcome = tx.act(&case, &Actor::system(), now_ms, |_, _| Ok::<_, ActError>(accept))?;
                // A worker's own finding is routed by the rules at once (docs/domain.md).
                crate::routing::dispatch::on_arrival(tx, &desk(shared), &outcome.row, now_ms)?;
                Ok(Ok(()))
            })
        }
        kind => {
            let Some(parsed) = task_op(kind) else {
                return Applied { reply: refused(ErrorKind::UnsupportedOp, String::new()) };
            };
            let parsed = match parsed {
                Ok(parsed) => parsed,
                Err(detail) => return Applied { reply: refused(ErrorKind::InvalidCommand, detail) },
            };
            commit(shared, &scope, id, kept_since, now_ms, &parsed.photos, |tx| {
                let task_id = parsed.task.to_string();
                let no_task = || Ok(Err((ErrorKind::NotFound, format!("no task {task_id}"))));
                let Some(case) = store::task_incident(tx.conn(), &task_id)? else { return no_task() };
                // When the worker acted, offline perhaps: never before the task was sent or
                // the device was last in touch, never after the server heard of it.
                let sent = store::tasks_of(tx.conn(), &case)?
                    .into_iter()
                    .find(|t| t.id == task_id)
                    .map_or(0, |t| t.created_at_ms);
                let floor = sent.max(since_ms).min(now_ms);
                let at = op.occurred_at.as_deref().and_then(parse_rfc3339).unwrap_or(now_ms).clamp(floor, now_ms);
                let extra = Extra {
                    photos: parsed.photos.clone(),
                    received_ms: Some(now_ms),
                    position: parsed.position,
                    ..Extra::default()
                };
                let command = parsed.command.clone();
                let done = tx.act(&case, actor, at, |_, _| Ok::<_, ActError>((command, extra)));
                match done {
                    Err(ActError::NotFound(_)) => no_task(),
                    Err(e) => Err(e),
                    Ok(outcome) => {
                        // A check passed on a self-handled finding closes it at once.
                        self_handled::close_if_checked(tx, &outcome, now_ms)?;
                        Ok(Ok(()))
                    }
                }
            })
        }
    };
    settle(shared, &scope, id, kept_since, outcome)
}

/// The answer to mutation `id` of the device `scope` names, from how its commit went.
fn settle(shared: &Shared, scope: &str, id: &str, kept_since: i64, outcome: Result<ServerMessage, Fail>) -> Applied {
    match outcome {
        Ok(reply) => Applied { reply },
        Err(Fail::Transient(reply)) => Applied { reply },
        Err(Fail::Raced) => match shared.db.read(|c| store::remembered(c, scope, id, kept_since)) {
            Ok(Some(first)) => Applied { reply: stored_reply(id, &first.result) },
            _ => Applied { reply: internal(id) },
        },
        Err(Fail::Internal(cause)) => {
            tracing::error!(%cause, "mutation failed");
            Applied { reply: internal(id) }
        }
    }
}

/// A finding the worker already dealt with alone (自行处置), `new` as placed: checked,
/// then opened and recorded handled in one mutation ([`self_handled::open_handled`]),
/// kept for the device `scope` names. The draw of whether to check it is made here, once
/// per commit: a retry finds the kept result and draws nothing. Received at `now_ms`.
fn handled_finding(
    shared: &Shared,
    actor: &Actor,
    id: &str,
    scope: &str,
    new: NewCase,
    handled: &Handled,
    now_ms: i64,
) -> Result<ServerMessage, Fail> {
    let refused = |code: ErrorKind, detail: String| Ok(answer(id, false, false, Some(code), Some(detail)));
    let Some(category) = shared.tree.category(&new.category) else {
        return refused(ErrorKind::UnknownCategory, format!("no category {:?}", new.category));
    };
    if let Err(detail) = self_handled::check(category, new.severity, &new.photos, handled) {
        return refused(ErrorKind::NotSelfHandled, detail);
    }
    let position = match handled.location.as_ref().map(crate::incidents::ops::position).transpose() {
        Ok(position) => position,
        Err(detail) => return refused(ErrorKind::InvalidCoordinates, detail),
    };
    let work =
        self_handled::Work { result: handled.result.trim().to_owned(), photos: handled.photos.clone(), position };
    // Both lists must be uploaded before anything is kept: a missing one answers retry.
    let photos: Vec<String> = new.photos.iter().chain(&handled.photos).cloned().collect();
    let checked = self_handled::sampled(shared.workflow.self_handled_sample, self_handled::draw());
    let kept_since = now_ms - shared.settings.retention_ms();
    commit(shared, scope, id, kept_since, now_ms, &photos, |tx| {
        if store::incident(tx.conn(), &new.id)?.is_some() {
            return Ok(Err((ErrorKind::DuplicateId, format!("a case {} exists already", new.id))));
        }
        let row = self_handled::open_handled(tx, actor, new.clone(), work.clone(), checked, now_ms)?;
        tracing::info!(case = %row.id, status = %row.status, checked, "a self-handled finding recorded");
        Ok(Ok(()))
    })
}

fn internal(id: &str) -> ServerMessage {
    answer(id, false, true, Some(ErrorKind::Internal), Some("the server failed; send it again later".into()))
}

fn stored_reply(id: &str, result: &str) -> ServerMessage {
    serde_json::from_str(result).unwrap_or_else(|_| internal(id))
}

fn desk(shared: &Shared) -> Desk<'_> {
    Desk { tree: &shared.tree, geo: &shared.geo, calendars: &shared.calendars }
}

/// What a mutation's work in its transaction comes to: `Ok(Ok(()))` applied,
/// `Ok(Err((code, detail)))` refused (kept, nothing applied).
type Worked = Result<Result<(), (ErrorKind, String)>, ActError>;

/// Runs `work` once per (device, id) through the one write path: the first result is
/// kept with it in one transaction, and returned to every retry.
fn commit(
    shared: &Shared,
    scope: &str,
    id: &str,
    kept_since: i64,
    now_ms: i64,
    photos: &[String],
    work: impl FnOnce(&mut Tx<'_>) -> Worked,
) -> Result<ServerMessage, Fail> {
    shared.path.run(|tx| {
        if let Some(first) = store::remembered(tx.conn(), scope, id, kept_since)? {
            return Ok(stored_reply(id, &first.result));
        }
        let missing = crate::attachments::missing(tx.conn(), photos)?;
        if !missing.is_empty() {
            let detail = format!("upload these first: {}", missing.join(", "));
            return Err(Fail::Transient(answer(id, false, true, Some(ErrorKind::UnknownAttachment), Some(detail))));
        }
        // The work runs in a savepoint, so that a refusal undoes it and is still kept.
        let result: Result<(), WorkError> = tx.savepoint(|tx| match work(tx) {
            Ok(Ok(())) => Ok(()),
            Ok(Err((code, detail))) => Err(WorkError::Refused(code, detail)),
            Err(ActError::Refused(r)) => Err(WorkError::Refused(r.kind(), r.to_string())),
            Err(ActError::Forbidden(denied)) => Err(WorkError::Refused(denied.kind, denied.detail)),
            Err(ActError::NotFound(what)) => Err(WorkError::Refused(ErrorKind::NotFound, what)),
            Err(e) => Err(WorkError::Failed(Chain(&e).to_string())),
        });
        let reply = match result {
            Ok(()) => answer(id, true, false, None, None),
            Err(WorkError::Refused(code, detail)) => answer(id, false, false, Some(code), Some(detail)),
            Err(WorkError::Failed(cause)) => return Err(Fail::Internal(cause)),
            Err(WorkError::Query(e)) => return Err(Fail::Internal(e.to_string())),
        };
        let json = serde_json::to_string(&reply).map_err(|e| Fail::Internal(e.to_string()))?;
        if !store::remember(tx.conn(), scope, id, "", &json, now_ms, kept_since)? {
            return Err(Fail::Raced);
        }
        Ok(reply)
    })
}

/// Why the savepoint of a mutation's work rolled back.
enum WorkError {
    Refused(ErrorKind, String),
    Failed(String),
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for WorkError {
    fn from(e: diesel::result::Error) -> WorkError {
        WorkError::Query(e)
    }
}

/// A worker's own finding, as the phone sent it.
struct Finding<'a> {
    incident_id: &'a str,
    category: &'a str,
    location: &'a Location,
    description: &'a str,
    photos: &'a [String],
    severity: Option<&'a str>,
}

/// Checks a worker's own finding and places it.
fn new_finding(shared: &Shared, finding: &Finding<'_>) -> Result<NewCase, (ErrorKind, String)> {
    let Finding { incident_id, category, location, description, photos, severity } = *finding;
    let id = Uuid::parse_str(incident_id)
        .map_err(|_| (ErrorKind::InvalidCommand, format!("{incident_id:?} is not a UUID")))?;
    let Some(found) = shared.tree.category(category) else {
        return Err((ErrorKind::UnknownCategory, format!("no category {category:?}")));
    };
    let severity = severity.map(|s| s.parse::<Severity>()).transpose().map_err(|e| (ErrorKind::InvalidReport, e))?;
    found.takes(severity).map_err(|detail| (ErrorKind::InvalidReport, detail))?;
    let crs = match location.crs.as_deref() {
        None => Crs::Wgs84,
        Some(name) => name.parse::<Crs>().map_err(|_| (ErrorKind::InvalidCrs, format!("crs {name:?}")))?,
    };
    let (chain, (lon, lat)) =
        place(&shared.geo, crs, location.lon, location.lat).map_err(|e| (e.kind(), e.to_string()))?;
    Ok(NewCase {
        id: id.to_string(),
        category: category.to_owned(),
        level: i32::from(found.level),
        chain,
        lon,
        lat,
        description: description.trim().to_owned(),
        photos: photos.to_vec(),
        contact: None,
        source: "worker".into(),
        // Nobody follows a worker's finding with a token: a random one nobody holds.
        follow_token_hash: token_hash(&new_token()),
        severity,
        claimed_severity: None,
    })
}

/// Records a worker's position: not part of any case, applied as often as sent (the
/// newest wins), so not remembered.
fn locate_worker(
    shared: &Shared,
    actor: &Actor,
    id: &str,
    at: &Location,
    accuracy: Option<f64>,
    taken_ms: i64,
) -> Applied {
    let Ok((lon, lat)) = crate::incidents::ops::position(at) else {
        return Applied { reply: answer(id, false, false, Some(ErrorKind::InvalidCoordinates), None) };
    };
    let user = actor.viewer.id.to_string();
    let accuracy = accuracy.filter(|a| a.is_finite() && *a >= 0.0);
    let Ok(keys) = shared.db.keys() else {
        tracing::error!("position not recorded: no sealing keys");
        return Applied { reply: internal(id) };
    };
    let place = crate::routing::positions::seal_place(keys, lon, lat);
    match shared.db.write(|c| super::store::record_position(c, &user, &place, accuracy, taken_ms)) {
        Ok(()) => Applied { reply: answer(id, true, false, None, None) },
        Err(e) => {
            tracing::error!(cause = %e, "position not recorded");
            Applied { reply: internal(id) }
        }
    }
}

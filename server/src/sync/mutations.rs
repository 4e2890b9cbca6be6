//! A phone's mutations through the one write path, exactly once.
//!
//! Each mutation is committed in the same transaction that records (user, device,
//! mutation id) and its result, so a retry — on this connection or any later one —
//! finds the first result and applies nothing again. A refusal by the workflow is a
//! result too, and kept. What is not kept is a transient refusal, answered with
//! `retry: true`: a photo not uploaded yet, or a failure of the server's own.

use diesel::Connection;
use geodata::crs::Crs;
use sync_protocol::{Location, Op, OpKind, ServerMessage};
use uuid::Uuid;

use super::Shared;
use super::hub::Touched;
use crate::auth::{new_token, token_hash};
use crate::categories::Severity;
use crate::clock::parse_rfc3339;
use crate::incidents::act::{self, ActError, Actor, Extra, NewCase, Timing};
use crate::incidents::ops::task_op;
use crate::incidents::report::place;
use crate::incidents::routes::Desk;
use crate::incidents::store;
use crate::incidents::workflow::Command;
use crate::problem::ApiError;
use crate::store::DbConnection;

/// A mutation's answer, and whom its commit concerns.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The `mutation_result` to send.
    pub reply: ServerMessage,
    /// Whom to wake, when something was committed.
    pub touched: Option<Touched>,
}

fn answer(id: &str, ok: bool, retry: bool, code: Option<&str>, detail: Option<String>) -> ServerMessage {
    ServerMessage::MutationResult { id: id.to_owned(), ok, retry, code: code.map(str::to_owned), detail }
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

/// Applies mutation `id` of `actor`'s device, received at `now_ms`.
pub fn apply(shared: &Shared, actor: &Actor, id: &str, op: &Op, now_ms: i64) -> Applied {
    let device = actor.device_id.clone().unwrap_or_default();
    let scope = format!("mutation:{}:{device}", actor.viewer.id);
    let kept_since = now_ms - shared.settings.retention_ms();
    let refused = |code: &str, detail: String| answer(id, false, false, Some(code), Some(detail));
    let outcome = match &op.kind {
        OpKind::Unknown => {
            return Applied {
                reply: answer(id, false, false, Some(sync_protocol::codes::UNSUPPORTED_OP), None),
                touched: None,
            };
        }
        OpKind::Location { at, accuracy_m } => {
            // Where the worker was when the phone took the fix (sent late, perhaps).
            let taken = op.occurred_at.as_deref().and_then(parse_rfc3339).unwrap_or(now_ms).min(now_ms);
            return locate_worker(shared, actor, id, at, *accuracy_m, taken);
        }
        OpKind::ReportIncident { incident_id, category, location, description, photos, severity } => {
            let finding =
                Finding { incident_id, category, location, description, photos, severity: severity.as_deref() };
            let new = match new_finding(shared, &finding) {
                Ok(new) => new,
                Err((code, detail)) => return Applied { reply: refused(code, detail), touched: None },
            };
            commit(shared, &scope, id, kept_since, now_ms, photos, |c| {
                if store::incident(c, &new.id)?.is_some() {
                    return Ok(Err(("duplicate-id", format!("a case {} exists already", new.id))));
                }
                let desk = desk(shared);
                let timing = Timing::of(&shared.tree, &shared.calendars, &new.category, new.severity, &new.chain[1]);
                let case = new.id.clone();
                let (_, mut touched) = act::open_case(c, new.clone(), Some(actor), timing, now_ms)?;
                let accept = Command::Accept { confirm: None };
                let outcome = act::execute(c, &case, actor, &accept, &Extra::default(), timing, now_ms)?;
                touched.merge(outcome.touched);
                // A worker's own finding is routed by the rules at once (DOMAIN.md).
                if let Some(routed) = crate::routing::dispatch::on_arrival(c, &desk, &outcome.row, now_ms)? {
                    touched.merge(routed.touched);
                }
                Ok(Ok(touched))
            })
        }
        kind => {
            let Some(parsed) = task_op(kind) else {
                return Applied { reply: refused(sync_protocol::codes::UNSUPPORTED_OP, String::new()), touched: None };
            };
            let parsed = match parsed {
                Ok(parsed) => parsed,
                Err(detail) => return Applied { reply: refused("invalid-op", detail), touched: None },
            };
            commit(shared, &scope, id, kept_since, now_ms, &parsed.photos, |c| {
                let task_id = parsed.task.to_string();
                let Some(case) = store::task_incident(c, &task_id)? else {
                    return Ok(Err(("no-such-task", format!("no task {task_id}"))));
                };
                let Some(row) = store::incident(c, &case)? else {
                    return Ok(Err(("no-such-task", format!("no task {task_id}"))));
                };
                // When the worker acted, offline perhaps: never before the task was
                // sent, never after the server heard of it.
                let sent =
                    store::tasks_of(c, &case)?.into_iter().find(|t| t.id == task_id).map_or(0, |t| t.created_at_ms);
                let at = op.occurred_at.as_deref().and_then(parse_rfc3339).unwrap_or(now_ms).clamp(sent, now_ms);
                let extra = Extra { photos: parsed.photos.clone(), ..Extra::default() };
                let timing = Timing::of_row(&shared.tree, &shared.calendars, &row);
                let outcome = act::execute(c, &case, actor, &parsed.command, &extra, timing, at)?;
                Ok(Ok(outcome.touched))
            })
        }
    };
    match outcome {
        Ok((reply, touched)) => Applied { reply, touched },
        Err(Fail::Transient(reply)) => Applied { reply, touched: None },
        Err(Fail::Raced) => match shared.db.read(|c| store::remembered(c, &scope, id, kept_since)) {
            Ok(Some(first)) => Applied { reply: stored_reply(id, &first.result), touched: None },
            _ => Applied { reply: internal(id), touched: None },
        },
        Err(Fail::Internal(cause)) => {
            tracing::error!(%cause, "mutation failed");
            Applied { reply: internal(id), touched: None }
        }
    }
}

fn internal(id: &str) -> ServerMessage {
    answer(id, false, true, Some("internal"), Some("the server failed; send it again later".into()))
}

fn stored_reply(id: &str, result: &str) -> ServerMessage {
    serde_json::from_str(result).unwrap_or_else(|_| internal(id))
}

fn desk(shared: &Shared) -> Desk<'_> {
    Desk { tree: &shared.tree, geo: &shared.geo, calendars: &shared.calendars }
}

/// What a mutation's work in its transaction comes to: `Ok(Ok(touched))` applied,
/// `Ok(Err((code, detail)))` refused (kept, nothing applied).
type Worked = Result<Result<Touched, (&'static str, String)>, ActError>;

/// Runs `work` once per (device, id): the first result is kept with it in one
/// transaction, and returned to every retry.
fn commit(
    shared: &Shared,
    scope: &str,
    id: &str,
    kept_since: i64,
    now_ms: i64,
    photos: &[String],
    mut work: impl FnMut(&mut DbConnection) -> Worked,
) -> Result<(ServerMessage, Option<Touched>), Fail> {
    shared.db.transact(|c| {
        if let Some(first) = store::remembered(c, scope, id, kept_since)? {
            return Ok((stored_reply(id, &first.result), None));
        }
        let missing = crate::attachments::missing(c, photos)?;
        if !missing.is_empty() {
            let detail = format!("upload these first: {}", missing.join(", "));
            return Err(Fail::Transient(answer(id, false, true, Some("attachment-missing"), Some(detail))));
        }
        // The work runs in a savepoint, so that a refusal undoes it and is still kept.
        let result: Result<Touched, WorkError> = c.transaction(|c| match work(c) {
            Ok(Ok(touched)) => Ok(touched),
            Ok(Err((code, detail))) => Err(WorkError::Refused(code, detail)),
            Err(ActError::Refused(r)) => Err(WorkError::Refused(r.kind(), r.to_string())),
            Err(ActError::NotFound(what)) => Err(WorkError::Refused("not-found", what)),
            Err(e) => Err(WorkError::Failed(e.to_string())),
        });
        let (reply, touched) = match result {
            Ok(touched) => (answer(id, true, false, None, None), Some(touched)),
            Err(WorkError::Refused(code, detail)) => (answer(id, false, false, Some(code), Some(detail)), None),
            Err(WorkError::Failed(cause)) => return Err(Fail::Internal(cause)),
            Err(WorkError::Query(e)) => return Err(Fail::Internal(e.to_string())),
        };
        let json = serde_json::to_string(&reply).map_err(|e| Fail::Internal(e.to_string()))?;
        if !store::remember(c, scope, id, "", &json, now_ms, kept_since)? {
            return Err(Fail::Raced);
        }
        Ok((reply, touched))
    })
}

/// Why the savepoint of a mutation's work rolled back.
enum WorkError {
    Refused(&'static str, String),
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
fn new_finding(shared: &Shared, finding: &Finding<'_>) -> Result<NewCase, (&'static str, String)> {
    let Finding { incident_id, category, location, description, photos, severity } = *finding;
    let id = Uuid::parse_str(incident_id).map_err(|_| ("invalid-op", format!("{incident_id:?} is not a UUID")))?;
    let Some(found) = shared.tree.category(category) else {
        return Err(("unknown-category", format!("no category {category:?}")));
    };
    let severity = severity.map(|s| s.parse::<Severity>()).transpose().map_err(|e| ("invalid-op", e))?;
    found.takes(severity).map_err(|detail| ("invalid-op", detail))?;
    let crs = match location.crs.as_deref() {
        None => Crs::Wgs84,
        Some(name) => name.parse::<Crs>().map_err(|_| ("invalid-crs", format!("crs {name:?}")))?,
    };
    let (chain, (lon, lat)) = place(&shared.geo, crs, location.lon, location.lat).map_err(|e| match e {
        ApiError::OutsideServiceArea(d) => ("outside-service-area", d),
        other => ("invalid-coordinates", other.to_string()),
    })?;
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
    let crs = at.crs.as_deref().map_or(Ok(Crs::Wgs84), str::parse::<Crs>);
    let valid = at.lon.is_finite()
        && at.lat.is_finite()
        && (-180.0..=180.0).contains(&at.lon)
        && (-90.0..=90.0).contains(&at.lat);
    let Ok(crs) = crs.map_err(|_| ()).and_then(|c| if valid { Ok(c) } else { Err(()) }) else {
        return Applied { reply: answer(id, false, false, Some("invalid-coordinates"), None), touched: None };
    };
    let (lon, lat) = geodata::crs::to_wgs84(crs, at.lon, at.lat);
    let user = actor.viewer.id.to_string();
    let accuracy = accuracy.filter(|a| a.is_finite() && *a >= 0.0);
    match shared.db.write(|c| super::store::record_position(c, &user, lon, lat, accuracy, taken_ms)) {
        Ok(()) => Applied { reply: answer(id, true, false, None, None), touched: None },
        Err(e) => {
            tracing::error!(cause = %e, "position not recorded");
            Applied { reply: internal(id), touched: None }
        }
    }
}

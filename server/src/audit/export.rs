//! One case's trace as a self-contained document: its events, the chain's entries of the
//! case (with their hashes) and the chain's head when it was taken. [`check`] verifies
//! one anywhere, without the database: each entry is intact and names the case's
//! previous one, and each event matches the digest its entry recorded.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::chain::{Break, EventFacts, FORMAT, Link, check_case, event_digest};
use super::schema::{audit_head, audit_log};
use super::verify::{LINK_COLUMNS, case_event_data};
use super::{CASE_EVENT, facts_of};
use crate::auth::routes::Authenticated;
use crate::incidents::scope::Viewer;
use crate::incidents::store;
use crate::problem::ApiError;
use crate::store::{Database, DbConnection};

/// An exported trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The chain's format ([`FORMAT`]).
    pub format: String,
    /// The case's id.
    pub incident_id: String,
    /// The case's human number.
    pub code: String,
    /// Its events, oldest first, as stored.
    pub events: Vec<EventFacts>,
    /// The chain's entries of the case, oldest first.
    pub entries: Vec<Link>,
    /// The chain's head when the trace was taken: its number and hash.
    pub head: Head,
}

/// The chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last entry's number.
    pub seq: i64,
    /// The last entry's hash.
    pub hash: String,
}

/// The trace of the case with this id (whoever asks: the caller checks who may see it).
pub fn trace_of(conn: &mut DbConnection, incident_id: &str, code: &str) -> QueryResult<Trace> {
    let events = store::events_of(conn, incident_id)?.iter().map(facts_of).collect();
    let entries = audit_log::table
        .filter(audit_log::incident_id.eq(incident_id))
        .order(audit_log::seq.asc())
        .select(LINK_COLUMNS)
        .load(conn)?;
    let (seq, hash) =
        audit_head::table.filter(audit_head::id.eq(1)).select((audit_head::seq, audit_head::hash)).first(conn)?;
    Ok(Trace {
        format: FORMAT.to_owned(),
        incident_id: incident_id.to_owned(),
        code: code.to_owned(),
        events,
        entries,
        head: Head { seq, hash },
    })
}

/// Verifies an exported trace on its own: the case's entries form an unbroken chain of
/// their own, and every event is the one its entry recorded (none added, edited or gone).
pub fn check(trace: &Trace) -> Result<(), Break> {
    if trace.format != FORMAT {
        return Err(Break::Event {
            incident_id: trace.incident_id.clone(),
            n: 0,
            why: format!("unknown format {:?}", trace.format),
        });
    }
    if let Some(other) = trace.entries.iter().find(|l| l.incident_id.as_deref() != Some(&trace.incident_id)) {
        return Err(Break::CaseUnlinked { seq: other.seq });
    }
    check_case(&trace.entries)?;
    let mut recorded: HashMap<i32, String> = HashMap::new();
    for link in trace.entries.iter().filter(|l| l.kind == CASE_EVENT) {
        let (n, digest) = case_event_data(link).ok_or(Break::Edited { seq: link.seq })?;
        recorded.insert(n, digest);
    }
    for event in &trace.events {
        let gone = |why: &str| Break::Event { incident_id: event.incident_id.clone(), n: event.n, why: why.to_owned() };
        if event.incident_id != trace.incident_id {
            return Err(gone("it belongs to another case"));
        }
        match recorded.remove(&event.n) {
            None => return Err(gone("no entry of the chain records it")),
            Some(digest) if digest != event_digest(event) => {
                return Err(gone("it differs from what the chain recorded"));
            }
            Some(_) => {}
        }
    }
    if let Some(n) = recorded.keys().min() {
        return Err(Break::Event {
            incident_id: trace.incident_id.clone(),
            n: *n,
            why: "the chain records it, but the trace lacks it".into(),
        });
    }
    Ok(())
}

/// `GET /api/v1/incidents/{id}/trace`: the case's trace with what is needed to verify it
/// elsewhere, for staff who may see the case.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/trace",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case's events and the chain's entries of it, with their hashes and the chain's head"),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[get("/api/v1/incidents/{id}/trace")]
#[tracing::instrument(skip(db, caller))]
pub async fn case_trace(
    db: web::Data<Database>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let id = id.into_inner();
    let found = {
        let id = id.clone();
        web::block(move || {
            db.read(|c| match store::visible_incident(c, &viewer, &id)? {
                Some(row) => trace_of(c, &row.id, &row.code).map(Some),
                None => Ok(None),
            })
        })
        .await??
    };
    let trace = found.ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))?;
    Ok(HttpResponse::Ok().json(trace))
}

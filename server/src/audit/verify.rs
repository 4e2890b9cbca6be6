//! `gridlink audit verify`: the whole chain, entry by entry, then every case event
//! against the digest its entry recorded.

use std::collections::HashMap;

use diesel::prelude::*;

use super::chain::{Break, Link, Walker, event_digest};
use super::schema::{audit_head, audit_log};
use super::{CASE_EVENT, facts_of};
use crate::incidents::schema::events;
use crate::incidents::store::EventRow;
use crate::store::DbConnection;

/// How many rows are read at a time, so a long chain is checked in bounded memory.
const PAGE: i64 = 5_000;

/// What a whole check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: i64,
    /// Case events checked against their entries.
    pub events: usize,
}

/// Why a check could not finish, or where the trace does not hold.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The trace does not hold here.
    #[error(transparent)]
    Broken(#[from] Break),
    /// The database could not be read.
    #[error("cannot read the trace: {0}")]
    Query(#[from] diesel::result::Error),
}

type LinkColumns = (
    audit_log::seq,
    audit_log::at_ms,
    audit_log::kind,
    audit_log::actor_id,
    audit_log::actor_role,
    audit_log::device_id,
    audit_log::incident_id,
    audit_log::subject,
    audit_log::data,
    audit_log::prev_hash,
    audit_log::case_prev_hash,
    audit_log::hash,
);

/// The columns of an entry, in [`Link`]'s order.
pub const LINK_COLUMNS: LinkColumns = (
    audit_log::seq,
    audit_log::at_ms,
    audit_log::kind,
    audit_log::actor_id,
    audit_log::actor_role,
    audit_log::device_id,
    audit_log::incident_id,
    audit_log::subject,
    audit_log::data,
    audit_log::prev_hash,
    audit_log::case_prev_hash,
    audit_log::hash,
);

/// Checks the whole trace; the first break found is the error.
pub fn verify(conn: &mut DbConnection) -> Result<Verified, VerifyError> {
    let mut walker = Walker::default();
    // The digest each case event's entry recorded, to hold the events against.
    let mut recorded: HashMap<(String, i32), (i64, String)> = HashMap::new();
    let mut after = 0i64;
    loop {
        let page: Vec<Link> = audit_log::table
            .filter(audit_log::seq.gt(after))
            .order(audit_log::seq.asc())
            .limit(PAGE)
            .select(LINK_COLUMNS)
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for link in page {
            walker.next(&link)?;
            if link.kind == CASE_EVENT {
                let (n, digest) = case_event_data(&link).ok_or(Break::Edited { seq: link.seq })?;
                let incident = link.incident_id.clone().unwrap_or_default();
                recorded.insert((incident, n), (link.seq, digest));
            }
        }
    }
    let (head_seq, head_hash) = audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::seq, audit_head::hash))
        .first::<(i64, String)>(conn)?;
    let entries = walker.finish(head_seq, &head_hash)?;

    let mut checked = 0usize;
    let mut cursor: Option<(String, i32)> = None;
    loop {
        let mut query = events::table.into_boxed();
        if let Some((incident, n)) = &cursor {
            query = query.filter(
                events::incident_id
                    .gt(incident.clone())
                    .or(events::incident_id.eq(incident.clone()).and(events::n.gt(*n))),
            );
        }
        let page: Vec<EventRow> = query
            .order((events::incident_id.asc(), events::n.asc()))
            .limit(PAGE)
            .select(EventRow::as_select())
            .load(conn)?;
        let Some(last) = page.last() else { break };
        cursor = Some((last.incident_id.clone(), last.n));
        for row in &page {
            let key = (row.incident_id.clone(), row.n);
            let Some((_, digest)) = recorded.remove(&key) else {
                return Err(Break::Event {
                    incident_id: row.incident_id.clone(),
                    n: row.n,
                    why: "no entry of the chain records it (added outside the write path)".into(),
                }
                .into());
            };
            if event_digest(&facts_of(row)) != digest {
                return Err(Break::Event {
                    incident_id: row.incident_id.clone(),
                    n: row.n,
                    why: "it differs from what the chain recorded (edited or renumbered)".into(),
                }
                .into());
            }
            checked += 1;
        }
    }
    if let Some(((incident_id, n), (seq, _))) = recorded.into_iter().min_by_key(|(_, (seq, _))| *seq) {
        return Err(
            Break::Event { incident_id, n, why: format!("entry {seq} records it, but it is gone (deleted)") }.into()
        );
    }
    Ok(Verified { entries, events: checked })
}

/// The event number and digest a case event's entry recorded.
pub fn case_event_data(link: &Link) -> Option<(i32, String)> {
    let data: serde_json::Value = serde_json::from_str(&link.data).ok()?;
    let n = i32::try_from(data.get("n")?.as_i64()?).ok()?;
    let digest = data.get("digest")?.as_str()?.to_owned();
    Some((n, digest))
}

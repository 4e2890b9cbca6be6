//! The trace (全程留痕), tamper-evident: an append-only log of every case event, login,
//! logout, account, roster and key change and unmasked read, each entry hash-chained to
//! the one before and to its case's previous entry ([`chain`]).
//!
//! Entries are written by [`record`] / [`record_all`] inside the transaction of the change
//! they record, so an entry exists exactly when its change does. Writers take the chain's
//! head row, which orders them (PostgreSQL's row lock; SQLite has one writer anyway) and
//! also numbers the change log ([`record_and_log`]); the write path does so as its
//! transaction's last step, so that the lock is held for a few statements only
//! (`incidents::act::Pending`). On
//! PostgreSQL a trigger refuses UPDATE and DELETE on the log and on the case events; on
//! both backends `gridlink audit verify` ([`verify`]) finds and names the first entry
//! that does not hold.

pub mod chain;
pub mod export;
pub mod schema;
pub mod verify;

use diesel::prelude::*;
use serde_json::json;

use crate::changes::NewChange;
use crate::incidents::store::EventRow;
use crate::store::DbConnection;
use chain::{EventFacts, GENESIS, Link, event_digest, link_hash};
use schema::{audit_head, audit_log};

/// The kind of the entry that stands for a case event.
pub const CASE_EVENT: &str = "case_event";

/// One entry to append.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// When it happened (Unix ms).
    pub at_ms: i64,
    /// What it records, e.g. `login`, `user_disabled`, `contact_read`.
    pub kind: &'a str,
    /// Who did it (`None`: the server itself, or the command line).
    pub actor_id: Option<&'a str>,
    /// Their role then.
    pub actor_role: Option<&'a str>,
    /// From which device.
    pub device_id: Option<&'a str>,
    /// The case concerned, if any.
    pub incident_id: Option<&'a str>,
    /// What else it is about: a user id, a key id, a grid code.
    pub subject: Option<&'a str>,
    /// Anything else; never a secret, never personal data in plain form.
    pub data: serde_json::Value,
}

/// Appends one entry to the chain. Call it inside the transaction of the change it records.
pub fn record(conn: &mut DbConnection, entry: &Entry<'_>) -> QueryResult<()> {
    record_all(conn, std::slice::from_ref(entry))
}

/// Appends entries to the chain, in order. Call it inside the transaction of the changes
/// they record, as late as possible (see [`record_and_log`]).
pub fn record_all(conn: &mut DbConnection, entries: &[Entry<'_>]) -> QueryResult<()> {
    record_and_log(conn, entries, &[], 0).map(drop)
}

/// Appends `entries` to the chain and `changes` to the change log (committed at `now_ms`),
/// numbered from the head row, which orders every writer; returns the changes' numbers.
/// Call it as the transaction's last step: the head row stays locked from here to the
/// commit, and every writer waits for it.
pub fn record_and_log(
    conn: &mut DbConnection,
    entries: &[Entry<'_>],
    changes: &[NewChange],
    now_ms: i64,
) -> QueryResult<Vec<i64>> {
    if entries.is_empty() && changes.is_empty() {
        return Ok(Vec::new());
    }
    // Each case's newest entry, read before the head is taken: a case's entries are
    // written only under its row lock, which this transaction holds.
    let mut case_prev: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for incident in entries.iter().filter_map(|e| e.incident_id) {
        if case_prev.contains_key(incident) {
            continue;
        }
        let newest = audit_log::table
            .filter(audit_log::incident_id.eq(incident))
            .order(audit_log::seq.desc())
            .select(audit_log::hash)
            .first::<String>(conn)
            .optional()?;
        case_prev.insert(incident, newest.unwrap_or_else(|| GENESIS.to_owned()));
    }
    // Taking the head orders concurrent writers: one update numbers the whole batch,
    // entries and changes alike.
    let (count, changed) = (entries.len() as i64, changes.len() as i64);
    let (last, mut prev_hash, last_change) = diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
        .set((audit_head::seq.eq(audit_head::seq + count), audit_head::change_seq.eq(audit_head::change_seq + changed)))
        .returning((audit_head::seq, audit_head::hash, audit_head::change_seq))
        .get_result::<(i64, String, i64)>(conn)?;
    if !entries.is_empty() {
        let mut links = Vec::with_capacity(entries.len());
        for (seq, entry) in (last - count + 1..).zip(entries) {
            let case_prev_hash = entry.incident_id.and_then(|i| case_prev.get(i).cloned());
            let mut link = Link {
                seq,
                at_ms: entry.at_ms,
                kind: entry.kind.to_owned(),
                actor_id: entry.actor_id.map(str::to_owned),
                actor_role: entry.actor_role.map(str::to_owned),
                device_id: entry.device_id.map(str::to_owned),
                incident_id: entry.incident_id.map(str::to_owned),
                subject: entry.subject.map(str::to_owned),
                data: entry.data.to_string(),
                prev_hash,
                case_prev_hash,
                hash: String::new(),
            };
            link.hash = link_hash(&link);
            prev_hash = link.hash.clone();
            if let Some(incident) = entry.incident_id {
                case_prev.insert(incident, link.hash.clone());
            }
            links.push(link);
        }
        let rows: Vec<_> = links
            .iter()
            .map(|link| {
                (
                    audit_log::seq.eq(link.seq),
                    audit_log::at_ms.eq(link.at_ms),
                    audit_log::kind.eq(&link.kind),
                    audit_log::actor_id.eq(&link.actor_id),
                    audit_log::actor_role.eq(&link.actor_role),
                    audit_log::device_id.eq(&link.device_id),
                    audit_log::incident_id.eq(&link.incident_id),
                    audit_log::subject.eq(&link.subject),
                    audit_log::data.eq(&link.data),
                    audit_log::prev_hash.eq(&link.prev_hash),
                    audit_log::case_prev_hash.eq(&link.case_prev_hash),
                    audit_log::hash.eq(&link.hash),
                )
            })
            .collect();
        crate::store::insert_rows(conn, audit_log::table, &rows)?;
        diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
            .set(audit_head::hash.eq(&prev_hash))
            .execute(conn)?;
    }
    let seqs: Vec<i64> = (last_change - changed + 1..=last_change).collect();
    crate::changes::write(conn, changes, &seqs, now_ms)?;
    Ok(seqs)
}

/// The facts of a stored event that its digest covers.
pub fn facts_of(row: &EventRow) -> EventFacts {
    EventFacts {
        incident_id: row.incident_id.clone(),
        n: row.n,
        action: row.action.clone(),
        actor_id: row.actor_id.clone(),
        actor_role: row.actor_role.clone(),
        device_id: row.device_id.clone(),
        data: row.data.clone(),
        at_ms: row.at_ms,
        received_at_ms: row.received_at_ms,
    }
}

/// Appends the entries that stand for case events stored in this transaction, and the
/// transaction's `changes` to the change log ([`record_and_log`]); the write path calls
/// it as the transaction's last step, with every event it stored, so no event escapes
/// the chain. Returns the changes' numbers.
pub fn record_events(
    conn: &mut DbConnection,
    rows: &[EventRow],
    changes: &[NewChange],
    now_ms: i64,
) -> QueryResult<Vec<i64>> {
    let entries: Vec<Entry<'_>> = rows
        .iter()
        .map(|row| Entry {
            at_ms: row.received_at_ms.unwrap_or(row.at_ms),
            kind: CASE_EVENT,
            actor_id: row.actor_id.as_deref(),
            actor_role: row.actor_role.as_deref(),
            device_id: row.device_id.as_deref(),
            incident_id: Some(&row.incident_id),
            subject: None,
            data: json!({"n": row.n, "action": row.action, "digest": event_digest(&facts_of(row))}),
        })
        .collect();
    record_and_log(conn, &entries, changes, now_ms)
}

/// Chains the events of a database written before the trace was chained (they have no
/// entry yet), oldest first; returns how many. Run once at start, in its own transaction.
pub fn chain_unrecorded_events(conn: &mut DbConnection) -> QueryResult<usize> {
    use crate::incidents::schema::events;
    let recorded: i64 = audit_log::table.filter(audit_log::kind.eq(CASE_EVENT)).count().get_result(conn)?;
    let stored: i64 = events::table.count().get_result(conn)?;
    if recorded >= stored {
        return Ok(0);
    }
    let rows: Vec<EventRow> = events::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            audit_log::table
                .filter(audit_log::kind.eq(CASE_EVENT))
                .filter(audit_log::incident_id.nullable().eq(events::incident_id.nullable())),
        )))
        .order((events::at_ms.asc(), events::incident_id.asc(), events::n.asc()))
        .select(EventRow::as_select())
        .load(conn)?;
    record_events(conn, &rows, &[], 0)?;
    Ok(rows.len())
}

//! The change log: what phones sync from.
//!
//! Each committed command appends rows naming the entity that changed and its new data,
//! with its audience — every user who could see the entity before or after — fixed at
//! commit. An audience names subjects: a user's id, or [`unit_subject`] for everyone
//! whose role covers a unit's area, so a county centre's operators are one row, not
//! hundreds. A reader asks for its subjects' rows after a cursor, through the
//! (subject, seq) key.
//!
//! Numbers come from one counter (a column of the trace's head row, `audit_head`, which
//! orders every writer), incremented as the last step of the writing transaction. The
//! row stays locked until commit, so the next writer waits for it and
//! numbers become visible in order: a reader that has seen 11 will never later find a
//! 10 it skipped, the classic hole of sequences drawn inside concurrent transactions.

pub mod schema;

use diesel::prelude::*;

use crate::store::{DbConnection, insert_rows};
use schema::{change_audience, change_log};

/// A change to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// What kind of entity (`task`, `incident`, …).
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its data as the phone sees it (JSON).
    pub data: String,
    /// Who receives it: (subject, whether for them the entity left their view).
    pub audience: Vec<(String, bool)>,
}

/// A change as a reader receives it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Change {
    /// Its number.
    pub seq: i64,
    /// What kind of entity.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its data (JSON).
    pub data: String,
    /// Whether it left this reader's view.
    pub removed: bool,
    /// When it was committed (Unix ms, stamped as it was appended inside its transaction).
    pub committed_at_ms: i64,
}

/// Appends changes; call it as the last step of a write transaction. Returns their numbers,
/// taken from the row that orders every writer (`audit::record_and_log`).
pub fn append(conn: &mut DbConnection, changes: &[NewChange], now_ms: i64) -> QueryResult<Vec<i64>> {
    crate::audit::record_and_log(conn, &[], changes, now_ms)
}

/// Writes changes numbered `seqs` (one each, in order), committed at `now_ms`.
pub(crate) fn write(conn: &mut DbConnection, changes: &[NewChange], seqs: &[i64], now_ms: i64) -> QueryResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let log: Vec<_> = changes
        .iter()
        .zip(seqs)
        .map(|(change, seq)| {
            (
                change_log::seq.eq(*seq),
                change_log::entity_kind.eq(&change.kind),
                change_log::entity_id.eq(&change.id),
                change_log::data.eq(&change.data),
                change_log::committed_at_ms.eq(now_ms),
            )
        })
        .collect();
    insert_rows(conn, change_log::table, &log)?;
    let audience: Vec<_> = changes
        .iter()
        .zip(seqs)
        .flat_map(|(change, seq)| {
            change.audience.iter().map(move |(subject, removed)| {
                (
                    change_audience::subject.eq(subject),
                    change_audience::seq.eq(*seq),
                    change_audience::removed.eq(*removed),
                )
            })
        })
        .collect();
    insert_rows(conn, change_audience::table, &audience)?;
    Ok(())
}

/// The newest number in the log (0 when it is empty).
pub fn newest(conn: &mut DbConnection) -> QueryResult<i64> {
    use crate::audit::schema::audit_head;
    audit_head::table.filter(audit_head::id.eq(1)).select(audit_head::change_seq).first(conn)
}

/// The audience subject of everyone whose role covers the area of the unit `code`.
pub fn unit_subject(code: &str) -> String {
    format!("unit:{code}")
}

/// The columns of a [`Change`], from the log joined with one audience row.
const AS_READ: (
    change_log::seq,
    change_log::entity_kind,
    change_log::entity_id,
    change_log::data,
    change_audience::removed,
    change_log::committed_at_ms,
) = (
    change_log::seq,
    change_log::entity_kind,
    change_log::entity_id,
    change_log::data,
    change_audience::removed,
    change_log::committed_at_ms,
);

/// The newest `limit` messages of the kinds `kinds` (notices, flags: changes that tell
/// something rather than carry an entity's state) that the log still keeps for any of
/// `subjects`, oldest first, each once; for a device starting afresh, which would
/// otherwise never see them again.
pub fn messages(conn: &mut DbConnection, subjects: &[String], kinds: &[&str], limit: i64) -> QueryResult<Vec<Change>> {
    let mut rows: Vec<Change> = change_audience::table
        .inner_join(change_log::table)
        .filter(change_audience::subject.eq_any(subjects))
        .filter(change_log::entity_kind.eq_any(kinds))
        .filter(change_audience::removed.eq(false))
        .order(change_audience::seq.desc())
        .limit(limit)
        .select(AS_READ)
        .load(conn)?;
    rows.dedup_by_key(|c| c.seq);
    rows.reverse();
    Ok(rows)
}

/// Up to `limit` changes for any of `subjects` (a user's id and the units they see)
/// after `cursor`, oldest first, each once. A change that reached the reader through
/// several subjects has left their view only if it left it for every one of them.
pub fn after(conn: &mut DbConnection, subjects: &[String], cursor: i64, limit: i64) -> QueryResult<Vec<Change>> {
    let rows: Vec<Change> = change_audience::table
        .inner_join(change_log::table)
        .filter(change_audience::subject.eq_any(subjects))
        .filter(change_audience::seq.gt(cursor))
        // Said twice on purpose: PostgreSQL's generic plan for a prepared statement
        // otherwise walks change_log from its first row to merge-join it (56 ms instead
        // of 0.6 ms at 82k rows); with the bound on both sides it seeks both indexes.
        .filter(change_log::seq.gt(cursor))
        .order(change_audience::seq.asc())
        .limit(limit)
        .select(AS_READ)
        .load(conn)?;
    let full = rows.len() as i64 == limit;
    let mut merged: Vec<Change> = Vec::with_capacity(rows.len());
    for row in rows {
        match merged.last_mut() {
            Some(last) if last.seq == row.seq => last.removed &= row.removed,
            _ => merged.push(row),
        }
    }
    // A full page may have cut a change's rows in two: leave its last change to the
    // next page, unless it is the only one.
    if full && subjects.len() > 1 && merged.len() > 1 {
        merged.pop();
    }
    Ok(merged)
}

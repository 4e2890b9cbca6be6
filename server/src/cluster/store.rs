//! What the cluster reads from the database: its name, and who the changes a node did
//! not hear of concern (`super::heard`).

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::schema::cluster_identity;
use crate::changes::schema::change_audience;
use crate::store::DbConnection;

/// The cluster's name: drawn by the first node to ask, the same for every node after.
pub fn name(conn: &mut DbConnection) -> QueryResult<String> {
    let stored = || cluster_identity::table.filter(cluster_identity::id.eq(1)).select(cluster_identity::name);
    if let Some(name) = stored().first(conn).optional()? {
        return Ok(name);
    }
    let drawn = uuid::Uuid::new_v4().simple().to_string();
    let inserted = diesel::insert_into(cluster_identity::table)
        .values((cluster_identity::id.eq(1), cluster_identity::name.eq(&drawn)))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(drawn),
        // Another node drew one first: its name stands.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            stored().first(conn)
        }
        Err(e) => Err(e),
    }
}

/// Who the changes numbered `seqs` concern: their audience subjects. Read in chunks, so
/// that no statement binds too many numbers.
pub fn audience_of(conn: &mut DbConnection, seqs: &BTreeSet<i64>) -> QueryResult<BTreeSet<String>> {
    let seqs: Vec<i64> = seqs.iter().copied().collect();
    let mut subjects = BTreeSet::new();
    for chunk in seqs.chunks(1_000) {
        let found: Vec<String> = change_audience::table
            .filter(change_audience::seq.eq_any(chunk))
            .select(change_audience::subject)
            .distinct()
            .load(conn)?;
        subjects.extend(found);
    }
    Ok(subjects)
}

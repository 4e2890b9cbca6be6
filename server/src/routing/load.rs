//! How much open work a dispatch target holds (its 负荷): for each place a case might be
//! sent — the on-duty worker the rules suggest, the case's grid, its community, its
//! township, the category's department — its active tasks and how many of them are
//! yellow or red. A centre picks with this beside each candidate, so that work is not
//! piled on a grid already behind.

use diesel::prelude::*;
use serde::Serialize;

use crate::deadlines::schema::deadlines;
use crate::incidents::schema::tasks;
use crate::incidents::workflow::Target;
use crate::store::DbConnection;

/// Ids per `IN (…)` list.
const BATCH: usize = 500;

/// A candidate target and the work it holds now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// The target as a dispatch names it: `{"grid": code}`, `{"unit": code}`,
    /// `{"department": code}` or `{"user": id}`.
    #[schema(value_type = Object)]
    pub target: Target,
    /// What it is called.
    pub name: String,
    /// Its active tasks (sent and not yet taken, or taken and not finished).
    pub open: usize,
    /// Of those, how many are past 80 % of their limit and not yet overdue.
    pub yellow: usize,
    /// Of those, how many are overdue.
    pub red: usize,
}

/// The active tasks sent to `target`, and how many of them are yellow and red: two
/// reads, each by an index (`tasks_by_target`, then the deadlines of those tasks).
pub fn held_by(conn: &mut DbConnection, target: &Target) -> QueryResult<(usize, usize, usize)> {
    let stored = serde_json::to_string(target).unwrap_or_default();
    let ids: Vec<String> = tasks::table
        .filter(tasks::target.eq(&stored))
        .filter(tasks::status.eq_any(["open", "accepted"]))
        .select(tasks::id)
        .load(conn)?;
    let (mut yellow, mut red) = (0, 0);
    for chunk in ids.chunks(BATCH) {
        let lights: Vec<(bool, bool)> = deadlines::table
            .filter(deadlines::task_id.eq_any(chunk))
            .select((deadlines::warned, deadlines::overdue))
            .load(conn)?;
        red += lights.iter().filter(|(_, overdue)| *overdue).count();
        yellow += lights.iter().filter(|(warned, overdue)| *warned && !*overdue).count();
    }
    Ok((ids.len(), yellow, red))
}

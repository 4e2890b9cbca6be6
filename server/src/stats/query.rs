//! The statistics' reads: one grouped scan of `case_figures` per figure family, the same
//! SQL on both backends. Sums come back per group key; step durations come back per case
//! (the p90 needs them), keyed the same way.
//!
//! Placeholders are written `$1`, `$2`, … in the order they first appear: PostgreSQL reads
//! them by number, SQLite numbers `$`-named parameters by first appearance, so the one
//! string binds the same values on both.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Nullable, Text};
use geodata::{AreaCode, Level};

use super::figures::{Durations, Roles, Sums};
use crate::store::{DbConnection, MultiBackend};

/// What the groups are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The units of this level (one below the area asked about).
    Area(Level),
    /// The leaf category.
    Category,
    /// The department the lead task was last sent to (cases sent elsewhere are in the
    /// group keyed none).
    Department,
    /// The person who completed the lead task (cases not yet handled are in the group
    /// keyed none).
    Handler,
    /// The local (Asia/Shanghai) day reported, as days since 1970-01-01.
    Day,
}

impl By {
    /// The SQL of the group key, always text.
    fn key(self) -> &'static str {
        match self {
            By::Area(level) => area_column(level),
            By::Category => "category_code",
            By::Department => "CASE WHEN handler_kind = 'department' THEN handler_code END",
            By::Handler => "handler_id",
            By::Day => "CAST((reported_at_ms + 28800000) / 86400000 AS TEXT)",
        }
    }
}

fn area_column(level: Level) -> &'static str {
    match level {
        Level::City => "city_code",
        Level::County => "county_code",
        Level::Township => "township_code",
        Level::Community => "community_code",
        Level::Grid => "grid_code",
    }
}

/// The grid codes of an area, as a range `[low, high)`: a grid's code extends its
/// county's, township's and community's, and a county's shares its city's first four
/// digits. The bounds are digit strings of one length, which every collation orders
/// digit by digit.
fn grid_range(area: &AreaCode) -> (String, String) {
    let code = area.as_str();
    let prefix = if area.level() == Level::City { &code[..4] } else { code };
    let mut high: Vec<u8> = prefix.as_bytes().to_vec();
    // The next prefix: the last digit up by one, carrying past nines.
    while let Some(last) = high.pop() {
        if last < b'9' {
            high.push(last + 1);
            break;
        }
    }
    let high = if high.is_empty() { ":".to_owned() } else { String::from_utf8_lossy(&high).into_owned() };
    (prefix.to_owned(), high)
}

/// Which cases count: reported in `[from_ms, to_ms)`, inside `area` (everywhere when
/// none), of a category whose code starts with `category` (any when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The area.
    pub area: Option<AreaCode>,
    /// The period's start (Unix ms, inclusive).
    pub from_ms: i64,
    /// The period's end (Unix ms, exclusive).
    pub to_ms: i64,
    /// A category code or the code of a class above it.
    pub category: Option<String>,
}

/// A statement being written: its text and its binds, in order.
struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

enum Bind {
    Int(i64),
    Text(String),
}

impl Statement {
    fn new(sql: &str) -> Statement {
        Statement { sql: sql.to_owned(), binds: Vec::new() }
    }

    /// Appends a placeholder for `bind`.
    fn bind(&mut self, bind: Bind) -> &mut Statement {
        self.binds.push(bind);
        self.sql.push_str(&format!("${}", self.binds.len()));
        self
    }

    fn push(&mut self, sql: &str) -> &mut Statement {
        self.sql.push_str(sql);
        self
    }

    /// Appends `WHERE …` for the scope (and the grouping's own condition).
    fn scope(&mut self, scope: &Scope) -> &mut Statement {
        self.push(" FROM case_figures WHERE ");
        if let Some(area) = &scope.area {
            let (low, high) = grid_range(area);
            self.push("grid_code >= ").bind(Bind::Text(low));
            self.push(" AND grid_code < ").bind(Bind::Text(high)).push(" AND ");
        }
        self.push("reported_at_ms >= ").bind(Bind::Int(scope.from_ms));
        self.push(" AND reported_at_ms < ").bind(Bind::Int(scope.to_ms));
        if let Some(category) = &scope.category {
            self.push(" AND category_code LIKE ").bind(Bind::Text(format!("{category}%")));
        }
        self
    }

    fn query(self) -> BoxedSqlQuery<'static, MultiBackend, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.sql).into_boxed::<MultiBackend>();
        for bind in self.binds {
            query = match bind {
                Bind::Int(v) => query.bind::<BigInt, _>(v),
                Bind::Text(v) => query.bind::<Text, _>(v),
            };
        }
        query
    }
}

/// The sums of one group, as the database returns them.
#[derive(Debug, QueryableByName)]
struct SumsRow {
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = BigInt)]
    reported: i64,
    #[diesel(sql_type = BigInt)]
    registered: i64,
    #[diesel(sql_type = BigInt)]
    rejected: i64,
    #[diesel(sql_type = BigInt)]
    merged: i64,
    #[diesel(sql_type = BigInt)]
    closed: i64,
    #[diesel(sql_type = BigInt)]
    closed_on_time: i64,
    #[diesel(sql_type = BigInt)]
    closed_reworked: i64,
    #[diesel(sql_type = BigInt)]
    overdue_now: i64,
    #[diesel(sql_type = BigInt)]
    rated: i64,
    #[diesel(sql_type = BigInt)]
    satisfied: i64,
    #[diesel(sql_type = BigInt)]
    basic: i64,
    #[diesel(sql_type = BigInt)]
    unsatisfied: i64,
    #[diesel(sql_type = BigInt)]
    self_handled: i64,
    #[diesel(sql_type = BigInt)]
    dispatched: i64,
    #[diesel(sql_type = BigInt)]
    dispatched_on_time: i64,
    #[diesel(sql_type = BigInt)]
    handled: i64,
    #[diesel(sql_type = BigInt)]
    handled_on_time: i64,
    #[diesel(sql_type = BigInt)]
    extensions: i64,
    #[diesel(sql_type = BigInt)]
    parks: i64,
}

/// The cases a condition holds for, as a sum both backends type as a big integer.
fn sum_when(condition: &str, name: &str) -> String {
    format!(", CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS BIGINT) AS {name}")
}

const ON_TIME: &str = "accept_late + dispatch_late + confirm_late + handle_late + verify_late = 0";
const OPEN: &str = "status NOT IN ('closed', 'rejected', 'merged')";

/// The sums of each group of the scope (`by` none: one group, the whole scope, keyed
/// none). Every case is in one group: those a grouping leaves out (no department, not
/// yet handled) in the group keyed none, so that the groups always add up to the scope.
pub fn sums(
    conn: &mut DbConnection,
    scope: &Scope,
    by: Option<By>,
    now_ms: i64,
) -> QueryResult<Vec<(Option<String>, Sums)>> {
    let key = by.map_or("NULL", By::key);
    let mut s = Statement::new(&format!("SELECT CAST({key} AS TEXT) AS key, CAST(COUNT(*) AS BIGINT) AS reported"));
    s.push(&sum_when("registered_at_ms IS NOT NULL", "registered"));
    s.push(&sum_when("status = 'rejected'", "rejected"));
    s.push(&sum_when("status = 'merged'", "merged"));
    s.push(&sum_when("status = 'closed'", "closed"));
    s.push(&sum_when(&format!("status = 'closed' AND {ON_TIME}"), "closed_on_time"));
    s.push(&sum_when("status = 'closed' AND reworked = 1", "closed_reworked"));
    s.push(&format!(", CAST(COALESCE(SUM(CASE WHEN {OPEN} AND due_at_ms < "))
        .bind(Bind::Int(now_ms))
        .push(" THEN 1 ELSE 0 END), 0) AS BIGINT) AS overdue_now");
    s.push(&sum_when("rating IS NOT NULL", "rated"));
    s.push(&sum_when("rating = 'satisfied'", "satisfied"));
    s.push(&sum_when("rating = 'basic'", "basic"));
    s.push(&sum_when("rating = 'unsatisfied'", "unsatisfied"));
    s.push(&sum_when("self_handled = 1", "self_handled"));
    s.push(&sum_when("dispatched_at_ms IS NOT NULL", "dispatched"));
    s.push(&sum_when("dispatched_at_ms IS NOT NULL AND dispatch_late = 0", "dispatched_on_time"));
    s.push(&sum_when("handled_at_ms IS NOT NULL", "handled"));
    s.push(&sum_when("handled_at_ms IS NOT NULL AND handle_late = 0", "handled_on_time"));
    s.push(", CAST(COALESCE(SUM(extensions), 0) AS BIGINT) AS extensions");
    s.push(", CAST(COALESCE(SUM(parks), 0) AS BIGINT) AS parks");
    s.scope(scope);
    if by.is_some() {
        s.push(&format!(" GROUP BY {key}"));
    }
    let rows: Vec<SumsRow> = s.query().load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let sums = Sums {
                reported: r.reported,
                registered: r.registered,
                rejected: r.rejected,
                merged: r.merged,
                closed: r.closed,
                closed_on_time: r.closed_on_time,
                closed_reworked: r.closed_reworked,
                overdue_now: r.overdue_now,
                rated: r.rated,
                satisfied: r.satisfied,
                basic: r.basic,
                unsatisfied: r.unsatisfied,
                self_handled: r.self_handled,
                dispatched: r.dispatched,
                dispatched_on_time: r.dispatched_on_time,
                handled: r.handled,
                handled_on_time: r.handled_on_time,
                extensions: r.extensions,
                parks: r.parks,
            };
            (r.key, sums)
        })
        .collect())
}

#[derive(Debug, QueryableByName)]
struct TimesRow {
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    accept: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    dispatch: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    handle: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    verify: Option<i64>,
}

/// How long each step took, per case, by group: 受理 from the report to the centre's
/// decision, 派遣 from registration to the first dispatch, 处置 from it to the lead's
/// first completion, 核查 from it to the first verification.
pub fn durations(
    conn: &mut DbConnection,
    scope: &Scope,
    by: Option<By>,
) -> QueryResult<BTreeMap<Option<String>, Durations>> {
    let key = by.map_or("NULL", By::key);
    let mut s = Statement::new(&format!(
        "SELECT CAST({key} AS TEXT) AS key, accepted_at_ms - reported_at_ms AS accept, \
         dispatched_at_ms - registered_at_ms AS dispatch, handled_at_ms - dispatched_at_ms AS handle, \
         verified_at_ms - handled_at_ms AS verify"
    ));
    s.scope(scope);
    s.push(" AND accepted_at_ms IS NOT NULL");
    let rows: Vec<TimesRow> = s.query().load(conn)?;
    let mut out: BTreeMap<Option<String>, Durations> = BTreeMap::new();
    for row in rows {
        let times = out.entry(row.key).or_default();
        for (list, value) in times.0.iter_mut().zip([row.accept, row.dispatch, row.handle, row.verify]) {
            if let Some(ms) = value.filter(|ms| *ms >= 0) {
                list.push(ms);
            }
        }
    }
    Ok(out)
}

#[derive(Debug, QueryableByName)]
struct RoleRow {
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    good: i64,
}

/// A grid worker's other roles, by person: reports filed and how many were registered,
/// 核实 answered and 核查 decided and how many within their limits.
pub fn roles(conn: &mut DbConnection, scope: &Scope) -> QueryResult<BTreeMap<String, Roles>> {
    let mut out: BTreeMap<String, Roles> = BTreeMap::new();
    // Each role: the person's column, what counts as done well, where the two counts go.
    type Part = (&'static str, &'static str, fn(&mut Roles, i64, i64));
    let parts: [Part; 3] = [
        ("reporter_id", "registered_at_ms IS NOT NULL", |r, n, good| (r.reports, r.valid_reports) = (n, good)),
        ("confirmer_id", "confirm_late = 0", |r, n, good| (r.confirmations, r.confirmations_on_time) = (n, good)),
        ("verifier_id", "verify_late = 0", |r, n, good| (r.verifications, r.verifications_on_time) = (n, good)),
    ];
    for (person, good, set) in parts {
        let mut s = Statement::new(&format!("SELECT {person} AS key, CAST(COUNT(*) AS BIGINT) AS n"));
        s.push(&sum_when(good, "good"));
        s.scope(scope);
        s.push(&format!(" AND {person} IS NOT NULL GROUP BY {person}"));
        let rows: Vec<RoleRow> = s.query().load(conn)?;
        for row in rows {
            if let Some(key) = row.key {
                set(out.entry(key).or_default(), row.n, row.good);
            }
        }
    }
    Ok(out)
}

#[derive(Debug, QueryableByName)]
struct HeatRow {
    #[diesel(sql_type = Text)]
    grid_code: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Cases reported in each grid of the scope.
pub fn heat(conn: &mut DbConnection, scope: &Scope) -> QueryResult<Vec<(String, i64)>> {
    let mut s = Statement::new("SELECT grid_code, CAST(COUNT(*) AS BIGINT) AS n");
    s.scope(scope);
    s.push(" GROUP BY grid_code");
    let rows: Vec<HeatRow> = s.query().load(conn)?;
    Ok(rows.into_iter().map(|r| (r.grid_code, r.n)).collect())
}

#[derive(Debug, QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many cases the scope holds: a bare count over the same rows the figures read (the
/// benchmark's baseline).
pub fn cases(conn: &mut DbConnection, scope: &Scope) -> QueryResult<i64> {
    let mut s = Statement::new("SELECT CAST(COUNT(*) AS BIGINT) AS n");
    s.scope(scope);
    let rows: Vec<CountRow> = s.query().load(conn)?;
    Ok(rows.first().map_or(0, |r| r.n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_area_is_the_range_of_its_grid_codes() {
        let range = |code: &str| grid_range(&AreaCode::parse(code).unwrap());
        assert_eq!(range("321300"), ("3213".into(), "3214".into()));
        assert_eq!(range("321302"), ("321302".into(), "321303".into()));
        assert_eq!(range("321302009"), ("321302009".into(), "32130201".into()));
        assert_eq!(range("321399999"), ("321399999".into(), "3214".into()));
    }
}

//! The one write path (docs/architecture.md): a command on a case is built from the case
//! as read under its row lock, checked against the table of who may do what
//! ([`super::permissions`]) and by the pure workflow, and committed in one transaction
//! with the case's new state, its tasks, its trace, its deadlines and the change-log rows
//! of everyone it concerns; only after the commit is the [`Notifier`] told. Every door —
//! the HTTP routes, the phones' socket, the deadline timer, the routing rules, the
//! re-placement of cases after a new grid layer — goes through [`WritePath::run`] and
//! [`Tx::act`] (or [`Tx::open`] for a new case).
//!
//! The audience of a change is fixed here, at commit, from the state before and after:
//! a task taken by one of a grid's workers reaches the others as removed, everyone whose
//! role covers the case's area (through `unit:<code>` subjects) sees it change, and a
//! case re-placed into another area reaches the units it left as removed.

use std::collections::BTreeSet;
use std::sync::Arc;

use diesel::Connection;

use serde::Serialize;
use serde_json::{Value, json};

use super::numbers::{self, CaseNumbers, Spare};
use super::permissions::{self, Denied, Facts};
use super::scope::Viewer;
use super::store::{self, EventRow, IncidentRow, TaskRow};
use super::view;
use super::workflow::{Case, Command, Event, Refusal, SYSTEM, Status, Task, TaskKind, TaskRole, TaskStatus, decide};
use crate::calendar::{Calendar, Calendars};
use crate::categories::{CategoryTree, Limit, Limits, Severity};
use crate::changes::{NewChange, unit_subject};
use crate::error_kind::ErrorKind;
use crate::problem::ApiError;
use crate::stats::store::FiguresRow;
use crate::store::{Database, DbConnection};
use crate::sync::hub::{Notifier, Touched};
use crate::sync::recent::Logged;

mod group;

/// Who issues a command, and from which device.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user, with their role and area.
    pub viewer: Viewer,
    /// The device it came from, if named.
    pub device_id: Option<String>,
}

/// How the trace names the system's role ([`Actor::system`]).
pub const SYSTEM_ROLE: &str = "system";

impl Actor {
    /// The server itself ([`SYSTEM`]): sees every case; its trace says `system`.
    pub fn system() -> Actor {
        Actor {
            viewer: Viewer {
                id: SYSTEM,
                role: crate::auth::Role::Administrator,
                unit_code: String::new(),
                area: super::scope::Area::All,
            },
            device_id: None,
        }
    }

    /// Whether this is the server itself.
    pub fn is_system(&self) -> bool {
        self.viewer.id == SYSTEM
    }

    /// The role the trace names: `system` for the server, else the user's role.
    pub fn role_name(&self) -> &'static str {
        if self.is_system() { SYSTEM_ROLE } else { self.viewer.role.as_str() }
    }
}

/// The time limits a case's steps run under, and the calendar they are counted in.
#[derive(Debug, Clone, Copy)]
pub struct Timing<'a> {
    /// The category's limits (none for a category no longer in the tree).
    pub limits: Option<&'a Limits>,
    /// The county's calendar.
    pub calendar: &'a Calendar,
}

impl<'a> Timing<'a> {
    /// The timing of a case of `category` with grade `severity` in county `county`: the
    /// category's limits for the grade (none for a category no longer in the tree), counted
    /// in the county's calendar.
    pub fn of(
        tree: &'a CategoryTree,
        calendars: &'a Calendars,
        category: &str,
        severity: Option<Severity>,
        county: &str,
    ) -> Timing<'a> {
        Timing {
            limits: tree.category(category).map(|c| c.limits_for(severity)),
            calendar: calendars.of_county(county),
        }
    }

    /// The timing of the stored case `row`.
    pub fn of_row(tree: &'a CategoryTree, calendars: &'a Calendars, row: &IncidentRow) -> Timing<'a> {
        Timing::of(tree, calendars, &row.category_code, row.severity(), &row.county_code)
    }

    /// When the step whose limit `pick` chooses falls due, if it started at `start_ms`.
    pub fn due(&self, start_ms: i64, pick: fn(&Limits) -> Limit) -> Option<i64> {
        self.limits.map(|limits| self.calendar.due(start_ms, pick(limits)).at_ms)
    }
}

/// What a command carries besides the workflow's part.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Photos cited (attachment ids, already checked to exist).
    pub photos: Vec<String>,
    /// The routing rule that chose this command, when the system acted on its own.
    pub rule: Option<String>,
    /// Where the case moves (city, county, township, community, grid): a re-placement.
    pub place: Option<[String; 5]>,
    /// When the server heard of the command, where it happened earlier (a phone's work
    /// sent late): kept in the trace beside the time it happened.
    pub received_ms: Option<i64>,
    /// Where the phone was (WGS-84 longitude, latitude): kept in the trace with its
    /// distance from the case, so that whoever verifies sees where the work was sent from.
    pub position: Option<(f64, f64)>,
    /// Further facts the trace keeps with the command's first event, by name: what the
    /// system decided that the workflow does not model (whether a self-handled finding
    /// was sampled for a check).
    pub data: serde_json::Map<String, Value>,
}

/// Why a command was not committed.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// No such case, or not one the actor may see.
    #[error("no case {0} that you may see")]
    NotFound(String),
    /// The workflow refused it; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The table of who may do what refused it; nothing changed.
    #[error(transparent)]
    Forbidden(#[from] Denied),
    /// There was nothing left to do: another transaction did it first.
    #[error("nothing left to do on case {0}")]
    Moot(String),
    /// A stored case could not be read back.
    #[error("case {0} is stored in a form this version cannot read: {1}")]
    Corrupt(String, String),
    /// Storage failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The database could not be reached.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The routing rules could not look up who stands behind a target.
    #[error("routing failed: {0}")]
    Routing(String),
}

/// What a committed command produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case as stored now.
    pub row: IncidentRow,
    /// The events it produced.
    pub events: Vec<Event>,
}

/// Whom change-log rows numbered `seqs` and committed at `now_ms` concern, with the rows
/// themselves (for the hub's memory of the newest commits, `sync::recent`).
fn touched(rows: Vec<NewChange>, seqs: &[i64], now_ms: i64) -> Touched {
    // A task waiting to be taken is what a worker must be woken for.
    let waiting = |r: &&NewChange| r.kind == "task" && r.data.contains("\"status\":\"open\"");
    Touched {
        subjects: rows.iter().flat_map(|r| r.audience.iter().map(|(s, _)| s.clone())).collect(),
        assigned: rows
            .iter()
            .filter(waiting)
            .flat_map(|r| r.audience.iter().filter(|(s, removed)| !removed && !s.starts_with("unit:")))
            .map(|(s, _)| s.clone())
            .collect(),
        reports: Vec::new(),
        oldest: seqs.first().copied().unwrap_or_default(),
        newest: seqs.last().copied().unwrap_or_default(),
        rows: rows
            .into_iter()
            .zip(seqs)
            .map(|(row, &seq)| Logged {
                seq,
                kind: row.kind,
                id: row.id,
                data: row.data,
                committed_at_ms: now_ms,
                audience: row.audience,
            })
            .collect(),
    }
}

/// What a transaction of the write path has written and must still chain and number: its
/// events (the trace's hash chain) and its change-log rows. Chaining and numbering take
/// the row that orders every writer (`audit_head`) and hold it to the commit, so both are
/// done last, in one go, in [`Pending::finish`]: on PostgreSQL the lock is then held for
/// a few statements, not for the whole transaction.
#[derive(Debug, Default)]
struct Pending {
    /// The events stored, in order.
    events: Vec<EventRow>,
    /// The change-log rows to append, in order.
    changes: Vec<NewChange>,
    /// Who else is to be woken or told: workers flagged, residents following.
    touched: Touched,
    /// Case numbers claimed and not used, the node's to keep once the claim commits.
    spare: Vec<Spare>,
}

impl Pending {
    fn log(&mut self, rows: Vec<NewChange>) {
        self.changes.extend(rows);
    }

    fn merge(&mut self, other: Pending) {
        self.events.extend(other.events);
        self.log(other.changes);
        self.touched.merge(other.touched);
        self.spare.extend(other.spare);
    }

    /// Chains the events, appends the log's rows; whom the transaction concerned, and
    /// the case numbers it claimed and left.
    fn finish(self, conn: &mut DbConnection) -> diesel::QueryResult<(Touched, Vec<Spare>)> {
        // The log's `committed_at_ms`, for measuring delivery: taken here, as the rows are
        // appended (the last step before the commit, waiting for the head row included),
        // by the real clock like the log's retention, not at the command's own instant,
        // which for a command that waited its turn was long before.
        let appended_ms = crate::clock::now_ms();
        let seqs = crate::audit::record_events(conn, &self.events, &self.changes, appended_ms)?;
        let mut touched = touched(self.changes, &seqs, appended_ms);
        touched.merge(self.touched);
        Ok((touched, self.spare))
    }
}

/// The one write path (docs/architecture.md): every change to a case, from every door,
/// is made inside [`WritePath::run`], which commits one transaction and only then tells
/// the [`Notifier`] whom it concerned. Inside, [`Tx::act`] locks the case, re-reads it,
/// builds the command from that fresh state, checks the table of who may do what,
/// decides and writes; [`Tx::open`] opens a new case.
#[derive(Clone)]
pub struct WritePath {
    db: Database,
    notifier: Arc<dyn Notifier>,
    tree: Arc<CategoryTree>,
    calendars: Arc<Calendars>,
    numbers: Arc<CaseNumbers>,
    /// The transaction commands join on PostgreSQL ([`group`]).
    group: Arc<group::Group>,
}

impl std::fmt::Debug for WritePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WritePath").field("db", &self.db).finish_non_exhaustive()
    }
}

impl WritePath {
    /// The write path over `db`, telling `notifier` of each commit; cases are timed by
    /// the category `tree` in the counties' `calendars`.
    pub fn new(db: Database, notifier: Arc<dyn Notifier>, tree: Arc<CategoryTree>, calendars: Arc<Calendars>) -> Self {
        // SQLite commits one writer at a time: a block would only make gaps.
        let block = if db.is_sqlite() { 1 } else { numbers::POSTGRES_BLOCK };
        let numbers = Arc::new(CaseNumbers::new(block));
        WritePath { db, notifier, tree, calendars, numbers, group: Arc::default() }
    }

    /// The database it writes to (for reads around a command).
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The category tree cases are timed and graded by.
    pub fn tree(&self) -> &CategoryTree {
        &self.tree
    }

    /// The counties' calendars.
    pub fn calendars(&self) -> &Calendars {
        &self.calendars
    }

    /// The timing of the stored case `row`.
    pub fn timing(&self, row: &IncidentRow) -> Timing<'_> {
        Timing::of_row(&self.tree, &self.calendars, row)
    }

    /// Runs `work` in one transaction (on SQLite, under the writer permit; on PostgreSQL,
    /// perhaps with other commands: [`group`]) and, once it committed, tells the notifier
    /// everything it touched. Nothing is told of work rolled back.
    pub fn run<T, E>(&self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<crate::store::StoreError>,
    {
        if !self.db.is_sqlite() {
            return self.run_grouped(work);
        }
        let (value, touched, spare) = self.db.transact(|conn| {
            let (value, pending) = self.write(conn, work)?;
            let (touched, spare) = pending.finish(conn)?;
            Ok::<_, E>((value, touched, spare))
        })?;
        self.committed(&touched, spare);
        Ok(value)
    }

    /// `work` on `conn`, inside a transaction the caller holds: its value, and what it
    /// wrote that is still to be chained and numbered.
    fn write<T, E>(
        &self,
        conn: &mut DbConnection,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<(T, Pending), E> {
        let keys = self.db.keys().ok();
        let (tree, calendars, numbers) = (&*self.tree, &*self.calendars, &*self.numbers);
        let mut tx = Tx { conn, tree, calendars, numbers, keys, pending: Pending::default() };
        let value = work(&mut tx)?;
        Ok((value, tx.pending))
    }

    /// Once a transaction committed: the node keeps the case numbers it claimed and left,
    /// and the notifier hears whom it concerned.
    fn committed(&self, touched: &Touched, spare: Vec<Spare>) {
        for spare in spare {
            self.numbers.keep(spare);
        }
        if !touched.subjects.is_empty() {
            self.notifier.committed(touched);
        }
    }
}

/// A transaction of the write path: the connection, and whom its commits concern so far.
pub struct Tx<'a> {
    conn: &'a mut DbConnection,
    tree: &'a CategoryTree,
    calendars: &'a Calendars,
    numbers: &'a CaseNumbers,
    /// The keys a new case's contact is sealed with (none: a case with a contact is refused).
    keys: Option<&'a crate::seal::Keyring>,
    pending: Pending,
}

/// A case as read under its row lock, inside the transaction that will change it: what
/// every command is built from.
#[derive(Debug, Clone)]
pub struct Fresh<'t> {
    /// The stored row.
    pub row: IncidentRow,
    /// Its state.
    pub case: Case,
    /// Its time limits and calendar.
    pub timing: Timing<'t>,
}

impl Fresh<'_> {
    /// The unit whose centre's queue holds the case: where it was escalated to, else the
    /// lowest centre on its chain.
    pub fn queue(&self) -> Option<String> {
        self.case
            .owner
            .clone()
            .or_else(|| crate::routing::queue_of(&crate::routing::Chain::of(&self.row.place())).map(str::to_owned))
    }
}

impl<'a> Tx<'a> {
    /// The connection, for the reads and writes around a command (idempotency records,
    /// target look-ups) that belong to the same transaction.
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// The timing of the stored case `row`.
    pub fn timing(&self, row: &IncidentRow) -> Timing<'a> {
        Timing::of_row(self.tree, self.calendars, row)
    }

    /// Locks case `id` and reads it as `viewer` may see it (404 otherwise).
    pub fn lock(&mut self, id: &str, viewer: &Viewer) -> Result<Fresh<'a>, ActError> {
        let not_found = || ActError::NotFound(id.to_owned());
        if !store::lock(self.conn, id)? {
            return Err(not_found());
        }
        let row = store::visible_incident(self.conn, viewer, id)?.ok_or_else(not_found)?;
        let case: Case =
            serde_json::from_str(&row.state).map_err(|e| ActError::Corrupt(id.to_owned(), e.to_string()))?;
        let timing = self.timing(&row);
        Ok(Fresh { row, case, timing })
    }

    /// The one write path of a change to case `id` by `actor`: locks the case, re-reads
    /// it, has `build` make the command from that fresh state, checks the table of who
    /// may do what, decides, and writes the case, its tasks, its trace, its deadlines and
    /// its change-log rows, at `now_ms`.
    pub fn act<E>(
        &mut self,
        id: &str,
        actor: &Actor,
        now_ms: i64,
        build: impl FnOnce(&mut DbConnection, &Fresh<'a>) -> Result<(Command, Extra), E>,
    ) -> Result<Outcome, E>
    where
        E: From<ActError>,
    {
        let fresh = self.lock(id, &actor.viewer)?;
        let (command, extra) = build(self.conn, &fresh)?;
        let queue = fresh.queue();
        let facts = Facts {
            grid: &fresh.row.grid_code,
            queue: queue.as_deref(),
            level: fresh.row.level,
            case: &fresh.case,
            reporter: fresh.row.reporter_id.as_deref(),
        };
        permissions::authorize(&actor.viewer, actor.is_system(), &command, &facts).map_err(ActError::from)?;
        let pending = &mut self.pending;
        commit(self.conn, pending, fresh, actor, &command, &extra, self.tree, self.calendars, now_ms).map_err(E::from)
    }

    /// Opens a case (上报): the case, its first event, its deadlines and its change-log
    /// rows. `reporter` is the staff user who filed it, if one did.
    pub fn open(&mut self, new: NewCase, reporter: Option<&Actor>, now_ms: i64) -> Result<IncidentRow, ActError> {
        self.open_traced(new, reporter, serde_json::Map::new(), now_ms)
    }

    /// [`Tx::open`], with more facts for the trace's first event (`reported`): where the
    /// report came from beyond its source (an Open311 client's name, its attributes).
    pub fn open_traced(
        &mut self,
        new: NewCase,
        reporter: Option<&Actor>,
        trace: serde_json::Map<String, Value>,
        now_ms: i64,
    ) -> Result<IncidentRow, ActError> {
        let timing = Timing::of(self.tree, self.calendars, &new.category, new.severity, &new.chain[1]);
        open_case(self.conn, &mut self.pending, self.numbers, self.keys, new, reporter, trace, timing, now_ms)
    }

    /// Runs `work` in a savepoint: its error undoes its writes and whom they concerned,
    /// and the transaction goes on.
    pub fn savepoint<T, E>(&mut self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        let (tree, calendars, numbers, keys) = (self.tree, self.calendars, self.numbers, self.keys);
        let (value, pending) = self.conn.transaction(|conn| {
            let mut inner = Tx { conn, tree, calendars, numbers, keys, pending: Pending::default() };
            let value = work(&mut inner)?;
            Ok::<_, E>((value, inner.pending))
        })?;
        self.pending.merge(pending);
        Ok(value)
    }
}

/// A new case, placed and checked, ready to be opened.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Its id.
    pub id: String,
    /// Its category.
    pub category: String,
    /// The level that normally handles its category.
    pub level: i32,
    /// Its grid and the units above it, by level (city, county, township, community, grid).
    pub chain: [String; 5],
    /// WGS-84 position.
    pub lon: f64,
    /// WGS-84 position.
    pub lat: f64,
    /// The reporter's words.
    pub description: String,
    /// Photos (attachment ids, already checked to exist).
    pub photos: Vec<String>,
    /// The reporter's contact details, if given (in plain form: sealed as they are stored).
    pub contact: Option<super::report::Contact>,
    /// Where it came from (`resident`, …).
    pub source: String,
    /// SHA-256 of the reporter's follow token.
    pub follow_token_hash: String,
    /// An emergency's grade, if staff reporting it gave one.
    pub severity: Option<Severity>,
    /// A grade the reporter claimed who is not staff: stored, shown, acting on nothing.
    pub claimed_severity: Option<Severity>,
}

#[allow(clippy::too_many_arguments)]
fn open_case(
    conn: &mut DbConnection,
    pending: &mut Pending,
    case_numbers: &CaseNumbers,
    keys: Option<&crate::seal::Keyring>,
    new: NewCase,
    reporter: Option<&Actor>,
    trace: serde_json::Map<String, Value>,
    timing: Timing<'_>,
    now_ms: i64,
) -> Result<IncidentRow, ActError> {
    let case = Case { severity: new.severity, claimed_severity: new.claimed_severity, ..Case::reported(now_ms) };
    let [city, county, township, community, grid] = new.chain;
    // Personal data is stored sealed, never in plain form: without keys, no contact is kept.
    let contact = new.contact.unwrap_or_default();
    let keys = match keys {
        Some(keys) => Some(keys),
        None if contact.is_empty() => None,
        None => return Err(crate::seal::store::failed(crate::seal::SealError::NoKeys).into()),
    };
    let sealed = |label: &str, value: &Option<String>| keys.and_then(|k| k.seal_opt(label, value.as_deref()));
    let contact_name = sealed(crate::seal::label::CONTACT_NAME, &contact.name);
    let contact_phone = sealed(crate::seal::label::CONTACT_PHONE, &contact.phone);
    let contact_id_number = sealed(crate::seal::label::CONTACT_ID_NUMBER, &contact.id_number);
    let year = numbers::year_of(now_ms);
    let counter = numbers::counter(year);
    let number = match case_numbers.take(&counter) {
        Some(number) => number,
        None => {
            let block = case_numbers.block();
            let last = store::claim_numbers(conn, &counter, block)?;
            // The rest become this node's once this transaction has committed.
            pending.spare.push(Spare { counter, next: last - block + 2, last });
            last - block + 1
        }
    };
    let mut row = IncidentRow {
        code: numbers::code(year, number),
        id: new.id,
        category_code: new.category,
        status: case.status.as_str().to_owned(),
        level: new.level,
        grid_code: grid,
        community_code: community,
        township_code: township,
        county_code: county,
        city_code: city,
        lon: new.lon,
        lat: new.lat,
        description: new.description,
        photos: serde_json::to_string(&new.photos).unwrap_or_else(|_| "[]".into()),
        contact_name,
        contact_phone,
        source: new.source,
        reporter_id: reporter.map(|a| a.viewer.id.to_string()),
        follow_token_hash: new.follow_token_hash,
        state: state_json(&case)?,
        reported_at_ms: now_ms,
        updated_at_ms: now_ms,
        due_at_ms: timing.due(now_ms, |l| l.accept),
        severity: new.severity.map(|s| s.as_str().to_owned()),
        light: String::new(),
        contact_id_number,
    };
    row.light = case.light(row.due_at_ms).to_owned();
    store::insert_incident(conn, &row)?;
    crate::stats::store::save(conn, &FiguresRow::of(&row, &crate::stats::facts::Facts::default()))?;
    crate::attachments::reference(conn, &row.id, &new.photos)?;
    let mut data = json!({
        "category": row.category_code,
        "location": {"lon": row.lon, "lat": row.lat},
        "grid": row.grid_code,
        "source": row.source,
        "photos": new.photos,
        "severity": row.severity,
        "claimed_severity": new.claimed_severity.map(Severity::as_str),
    });
    for (name, value) in trace {
        data[name] = value;
    }
    let first = event_row(&row.id, 1, "reported", reporter, data, now_ms);
    store::insert_events(conn, std::slice::from_ref(&first))?;
    pending.events.push(first);
    crate::deadlines::store::refresh(conn, &row, &case, timing)?;
    pending.log(vec![incident_change(&row, &row.place(), &case)]);
    Ok(row)
}

/// Decides `command` on the locked case `fresh` and writes what it changed; with
/// `extra.place`, the case moves there. The case's timing after the command (a new grade's
/// limits, a new county's calendar) times what runs from now on.
#[allow(clippy::too_many_arguments)]
fn commit(
    conn: &mut DbConnection,
    pending: &mut Pending,
    fresh: Fresh<'_>,
    actor: &Actor,
    command: &Command,
    extra: &Extra,
    tree: &CategoryTree,
    calendars: &Calendars,
    now_ms: i64,
) -> Result<Outcome, ActError> {
    let Fresh { mut row, case: before, timing } = fresh;
    let case_id = row.id.clone();
    let id = case_id.as_str();
    let resume = reckon_resume(&before, command, timing, now_ms);
    let command = resume.as_ref().unwrap_or(command);
    let events = decide(&before, actor.viewer.id, command, now_ms)?;
    // The statistics' facts of the case fold each event in beside the state.
    let mut facts = crate::stats::store::row_of(conn, id)?.map(|f| f.facts()).unwrap_or_default();
    let actor_id = (!actor.is_system()).then(|| actor.viewer.id.to_string());
    let mut after = before.clone();
    for event in &events {
        after.apply(event, now_ms);
        facts.observe(event, &after, actor_id.as_deref(), row.reporter_id.as_deref(), now_ms);
    }

    let first = store::last_event(conn, id)? + 1;
    let mut rows = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let (action, mut data) = split_event(event);
        if i == 0 && !extra.photos.is_empty() {
            data["photos"] = json!(extra.photos);
        }
        if let Some(rule) = extra.rule.as_deref().filter(|_| i == 0) {
            data["rule"] = json!(rule);
        }
        if i == 0 {
            for (name, value) in &extra.data {
                data[name] = value.clone();
            }
        }
        if let Some((lon, lat)) = extra.position.filter(|_| i == 0) {
            let metres = crate::incidents::duplicate::distance_m((lon, lat), (row.lon, row.lat));
            data["position"] = json!({"lon": lon, "lat": lat});
            data["distance_m"] = json!((metres * 10.0).round() / 10.0);
        }
        let mut row = event_row(id, first + i as i32, &action, Some(actor), data, now_ms);
        row.received_at_ms = Some(extra.received_ms.unwrap_or(now_ms));
        rows.push(row);
    }
    store::insert_events(conn, &rows)?;
    pending.events.extend(rows);
    crate::attachments::reference(conn, id, &extra.photos)?;

    let was = row.place();
    if let Some([city, county, township, community, grid]) = extra.place.clone() {
        (row.city_code, row.county_code, row.township_code, row.community_code, row.grid_code) =
            (city, county, township, community, grid);
    }
    let moved = row.place() != was;
    row.status = after.status.as_str().to_owned();
    if after.level != before.level
        && let Some(level) = after.level
    {
        row.level = i32::from(level);
    }
    if after.severity != before.severity {
        row.severity = after.severity.map(|g| g.as_str().to_owned());
    }
    // What runs from now on is timed as the case stands after the command.
    let timing = Timing::of(tree, calendars, &row.category_code, after.severity, &row.county_code);
    row.state = state_json(&after)?;
    row.updated_at_ms = now_ms;
    row.due_at_ms = step_due(&after, row.due_at_ms, timing);
    row.light = after.light(row.due_at_ms).to_owned();
    store::update_incident(conn, &row)?;
    crate::stats::store::save(conn, &FiguresRow::of(&row, &facts))?;

    let stored = store::tasks_of(conn, id)?;
    let mut rows = Vec::new();
    for task in &after.tasks {
        let old = before.tasks.iter().find(|t| t.id == task.id);
        let key = task.id.to_string();
        let stored = stored.iter().find(|t| t.id == key);
        let task_row = match (old, stored) {
            // Unchanged, but its case moved: phones see its new grid with the task as stored.
            (Some(old), Some(stored)) if old == task && moved => stored.clone(),
            (Some(old), _) if old == task => continue,
            _ => {
                let task_row = task_row(id, task, stored.map_or(now_ms, |t| t.created_at_ms), now_ms);
                match old {
                    None => store::insert_task(conn, &task_row, &strings(&task.assignees))?,
                    Some(_) => store::update_task(conn, &task_row)?,
                }
                task_row
            }
        };
        rows.push(task_change(&row, &was, task, old, &task_row));
    }
    rows.push(incident_change(&row, &was, &after));
    crate::deadlines::store::refresh(conn, &row, &after, timing)?;
    let flagged: Vec<&str> = events
        .iter()
        .filter_map(|e| if let Event::Flagged { note } = e { Some(note.as_str()) } else { None })
        .collect();
    let mut to_wake = Vec::new();
    for note in flagged {
        let (change, holders) = flag_change(&row, &after, actor, note, first, now_ms);
        rows.push(change);
        to_wake.extend(holders);
    }
    for (i, event) in events.iter().enumerate() {
        if let Event::Informed { units, note } = event {
            rows.push(notice_change(&row, actor, units, note, first + i as i32, now_ms));
        }
    }
    pending.log(rows);
    // A flag (督办) wakes its holders' phones as a new task does.
    pending.touched.assigned.extend(to_wake);
    // The reporter hears, by push, when the case is taken in, closed, reopened or merged;
    // so do the reporters of the duplicates merged into it, who follow it.
    if let Some(status) = crate::push::reports::news(&events) {
        let cases = std::iter::once(row.id.clone()).chain(after.followers.iter().cloned()).collect();
        pending.touched.reports.push(crate::push::reports::ReportNews { cases, status });
    }
    Ok(Outcome { row, events })
}

/// A resumption of a parked task (挂账) with its new deadline reckoned in the task's own
/// unit: the working time it had left when parked, counted again from now, so that a task
/// parked over a weekend in working hours gets its remaining minutes back on Monday rather
/// than a wall-clock shift. `None` (the command as given) without a category's limits, an
/// open pause or a deadline; a task already overdue when parked moves by the time parked.
fn reckon_resume(case: &Case, command: &Command, timing: Timing<'_>, now_ms: i64) -> Option<Command> {
    let Command::Resume { task, due_ms: None } = command else { return None };
    let t = case.tasks.iter().find(|t| t.id == *task)?;
    let (limits, due) = (timing.limits?, t.due_ms?);
    let pause = t.paused.last().filter(|p| p.until_ms.is_none())?;
    let unit = match t.kind {
        TaskKind::Handle => limits.handle.unit,
        TaskKind::Confirm => limits.accept.unit,
        TaskKind::Verify => limits.verify.unit,
    };
    let calendar = timing.calendar;
    let left = calendar.elapsed_ms(unit, due) - calendar.elapsed_ms(unit, pause.from_ms);
    if left <= 0 {
        return None;
    }
    let base = calendar.elapsed_ms(unit, now_ms);
    let due_ms = Calendar::first_instant(now_ms, |at| calendar.elapsed_ms(unit, at) - base >= left)?;
    Some(Command::Resume { task: *task, due_ms: Some(due_ms) })
}

/// When the case's current step falls due: a task's deadline while one is out (none while
/// the lead is parked), the category's limit for the step otherwise (a reported case keeps
/// its accept deadline).
fn step_due(case: &Case, current: Option<i64>, timing: Timing<'_>) -> Option<i64> {
    // A parked lead's clock is stopped (挂账): the case has no running deadline to pass.
    let active = |kind: TaskKind| {
        case.tasks
            .iter()
            .find(|t| t.kind == kind && t.role == TaskRole::Lead && t.status.is_active())
            .filter(|t| !t.is_parked())
            .and_then(|t| t.due_ms)
    };
    match case.status {
        Status::Reported => current,
        Status::Confirming => active(TaskKind::Confirm),
        Status::Registered | Status::Returned => timing.due(case.since_ms, |l| l.dispatch),
        Status::Dispatched => active(TaskKind::Handle),
        Status::Handled => active(TaskKind::Verify).or_else(|| timing.due(case.since_ms, |l| l.verify)),
        Status::Verified | Status::Closed | Status::Rejected | Status::Merged => None,
    }
}

fn state_json(case: &Case) -> Result<String, ActError> {
    serde_json::to_string(case).map_err(|e| ActError::Corrupt(String::new(), e.to_string()))
}

/// A value's name on the wire (`"accepted"`, `"lead"`, …).
fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// An event's name (its tag) and the rest of its data.
fn split_event(event: &Event) -> (String, Value) {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    let action = value.as_object_mut().and_then(|o| o.remove("event")).and_then(|v| v.as_str().map(str::to_owned));
    (action.unwrap_or_else(|| "unknown".into()), value)
}

fn event_row(incident: &str, n: i32, action: &str, actor: Option<&Actor>, data: Value, at_ms: i64) -> EventRow {
    EventRow {
        incident_id: incident.to_owned(),
        n,
        action: action.to_owned(),
        actor_id: actor.map(|a| a.viewer.id.to_string()),
        actor_role: actor.map(|a| a.role_name().to_owned()),
        device_id: actor.and_then(|a| a.device_id.clone()),
        data: data.to_string(),
        at_ms,
        received_at_ms: Some(at_ms),
    }
}

/// The stored form of a task.
fn task_row(incident: &str, task: &Task, created_at_ms: i64, now_ms: i64) -> TaskRow {
    TaskRow {
        id: task.id.to_string(),
        incident_id: incident.to_owned(),
        kind: wire(&task.kind),
        role: wire(&task.role),
        target: serde_json::to_string(&task.target).unwrap_or_default(),
        holder_id: task.holder.map(|h| h.to_string()),
        status: wire(&task.status),
        rework: i32::try_from(task.rework).unwrap_or(i32::MAX),
        created_at_ms,
        updated_at_ms: now_ms,
        due_at_ms: task.due_ms,
    }
}

/// The units whose area the case lies in, as audience subjects, and the units of `was`
/// (its place before the change) it left, as removed.
fn area_audience(row: &IncidentRow, was: &[String; 5]) -> Vec<(String, bool)> {
    let now = row.place();
    let left = was.iter().filter(|c| !now.contains(c)).map(|c| (c, true));
    now.iter()
        .map(|c| (c, false))
        .chain(left)
        .filter(|(c, _)| !c.is_empty())
        .map(|(c, removed)| (unit_subject(c), removed))
        .collect()
}

/// Whether `user` has `task` in their view: all its assignees while it is open, its
/// holder once taken, no one once withdrawn.
fn sees(task: &Task, user: uuid::Uuid) -> bool {
    match task.status {
        TaskStatus::Open => task.assignees.contains(&user),
        TaskStatus::Accepted | TaskStatus::Completed => task.holder == Some(user),
        TaskStatus::Cancelled | TaskStatus::Returned => false,
    }
}

/// What a phone receives of a task: the task and the essentials of its case.
pub fn task_data(row: &IncidentRow, task: &view::TaskView) -> Value {
    let mut data = serde_json::to_value(task).unwrap_or(Value::Null);
    data["incident"] = json!({
        "code": row.code,
        "category": row.category_code,
        "description": row.description,
        "grid": row.grid_code,
        "location": {"lon": row.lon, "lat": row.lat},
    });
    data
}

/// What a phone or a desk receives of a case (no personal data).
pub fn incident_data(row: &IncidentRow) -> Value {
    json!({
        "light": row.light,
        "id": row.id,
        "code": row.code,
        "category": row.category_code,
        "status": row.status,
        "level": row.level,
        "grid": row.grid_code,
        "location": {"lon": row.lon, "lat": row.lat},
        "description": row.description,
        "deadline": row.due_at_ms.map(crate::clock::rfc3339),
        "reported_at": crate::clock::rfc3339(row.reported_at_ms),
        "updated_at": crate::clock::rfc3339(row.updated_at_ms),
    })
}

fn task_change(row: &IncidentRow, was: &[String; 5], task: &Task, old: Option<&Task>, stored: &TaskRow) -> NewChange {
    let mut audience = area_audience(row, was);
    let people: BTreeSet<_> = task.assignees.iter().chain(old.into_iter().flat_map(|t| &t.assignees)).collect();
    for user in people {
        let (was, is) = (old.is_some_and(|t| sees(t, *user)), sees(task, *user));
        if was || is {
            audience.push((user.to_string(), !is));
        }
    }
    let data = task_data(row, &view::task(stored, strings(&task.assignees), Some(task)));
    NewChange { kind: "task".into(), id: task.id.to_string(), data: data.to_string(), audience }
}

/// A supervisor's flag (督办) as its holders' phones receive it (kind `flag`): the case,
/// the note and who flagged it, to everyone working on an active task of the case (its
/// holder, or its assignees while nobody took it). The users it goes to.
fn flag_change(
    row: &IncidentRow,
    case: &Case,
    actor: &Actor,
    note: &str,
    n: i32,
    now_ms: i64,
) -> (NewChange, Vec<String>) {
    let people: BTreeSet<String> = case
        .tasks
        .iter()
        .filter(|t| t.status.is_active())
        .flat_map(|t| match t.holder {
            Some(holder) => vec![holder],
            None => t.assignees.clone(),
        })
        .map(|u| u.to_string())
        .collect();
    let tasks: Vec<String> = case.tasks.iter().filter(|t| t.status.is_active()).map(|t| t.id.to_string()).collect();
    let data = json!({
        "incident_id": row.id,
        "incident": {"code": row.code, "category": row.category_code, "grid": row.grid_code},
        "tasks": tasks,
        "note": note,
        "by": {"id": actor.viewer.id.to_string(), "role": actor.viewer.role.as_str(), "unit": actor.viewer.unit_code},
        "at": crate::clock::rfc3339(now_ms),
    });
    let audience = people.iter().map(|u| (u.clone(), false)).collect();
    let change = NewChange { kind: "flag".into(), id: format!("{}/{n}", row.id), data: data.to_string(), audience };
    (change, people.into_iter().collect())
}

/// The change that tells units or departments of a case (抄告): everyone whose role covers
/// each unit (a department's staff through its code) hears of it, whether or not the case
/// lies in their area.
fn notice_change(row: &IncidentRow, actor: &Actor, units: &[String], note: &str, n: i32, now_ms: i64) -> NewChange {
    let data = json!({
        "incident_id": row.id,
        "incident": {"code": row.code, "category": row.category_code, "grid": row.grid_code, "status": row.status},
        "units": units,
        "note": note,
        "by": {"id": actor.viewer.id.to_string(), "role": actor.role_name()},
        "at": crate::clock::rfc3339(now_ms),
    });
    let audience = units.iter().map(|u| (unit_subject(u), false)).collect();
    NewChange { kind: "notice".into(), id: format!("{}/{n}", row.id), data: data.to_string(), audience }
}

fn incident_change(row: &IncidentRow, was: &[String; 5], case: &Case) -> NewChange {
    let mut audience = area_audience(row, was);
    let people: BTreeSet<_> = case.tasks.iter().flat_map(|t| &t.assignees).collect();
    audience.extend(people.into_iter().map(|u| (u.to_string(), false)));
    NewChange { kind: "incident".into(), id: row.id.clone(), data: incident_data(row).to_string(), audience }
}

// At the HTTP edge, a refusal or a failure of the write path is a problem document.

/// What a command through the write path may answer besides the workflow's refusals
/// ([`Refusal::KINDS`]): a case the actor may not see, or the table's refusal.
pub const ACT_ERRORS: &[ErrorKind] = &[ErrorKind::NotFound, ErrorKind::Forbidden, ErrorKind::NotYourTask];

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let kind = refusal.kind();
        ApiError::Refused { kind, detail: refusal.to_string() }
    }
}

impl From<ActError> for ApiError {
    fn from(e: ActError) -> ApiError {
        match e {
            ActError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ActError::Refused(refusal) => refusal.into(),
            ActError::Forbidden(denied) => ApiError::Refused { kind: denied.kind, detail: denied.detail },
            ActError::Store(store) => store.into(),
            ActError::Moot(_) | ActError::Corrupt(..) | ActError::Query(_) | ActError::Routing(_) => {
                ApiError::internal(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::categories::TimeUnit;
    use crate::incidents::workflow::{Assignment, Pause, Target};
    use uuid::Uuid;

    /// Unix ms of a local (Asia/Shanghai) time on a day of November 2026.
    fn local(day: u8, hour: u8, minute: u8) -> i64 {
        let date = time::Date::from_calendar_date(2026, time::Month::November, day).unwrap();
        let at = date.with_hms(hour, minute, 0).unwrap().assume_offset(time::macros::offset!(+8));
        at.unix_timestamp() * 1000
    }

    fn parked_case(unit: TimeUnit) -> (Case, Limits, Uuid) {
        let task = Uuid::from_u128(7);
        let worker = Uuid::from_u128(2);
        let mut case = Case::reported(0);
        case.status = Status::Dispatched;
        let a = Assignment { task, target: Target::User(worker), assignees: vec![worker], due_ms: None, level: None };
        case.apply(&Event::Dispatched { lead: a, assist: vec![] }, 0);
        let t = &mut case.tasks[0];
        (t.holder, t.status, t.due_ms) = (Some(worker), TaskStatus::Accepted, Some(local(20, 17, 20)));
        t.paused.push(Pause { from_ms: local(20, 17, 0), until_ms: None });
        let limit = Limit { amount: 2, unit };
        (case, Limits { accept: limit, dispatch: limit, handle: limit, verify: limit }, task)
    }

    #[test]
    fn a_task_parked_over_a_weekend_gets_its_working_minutes_back() {
        let calendar = Calendar::national();
        // Parked Friday 17:00 with 20 working minutes left; resumed Monday 09:00.
        let (case, limits, task) = parked_case(TimeUnit::WorkingHours);
        let timing = Timing { limits: Some(&limits), calendar: &calendar };
        let resume = Command::Resume { task, due_ms: None };
        let reckoned = reckon_resume(&case, &resume, timing, local(23, 9, 0));
        assert_eq!(reckoned, Some(Command::Resume { task, due_ms: Some(local(23, 9, 20)) }));
        // In urgent hours the clock runs day and night: the wall-clock time parked.
        let (case, limits, task) = parked_case(TimeUnit::UrgentHours);
        let timing = Timing { limits: Some(&limits), calendar: &calendar };
        let reckoned = reckon_resume(&case, &resume, timing, local(23, 9, 0));
        assert_eq!(reckoned, Some(Command::Resume { task, due_ms: Some(local(23, 9, 20)) }));
        // Without the category's limits, the workflow's wall-clock shift applies.
        let timing = Timing { limits: None, calendar: &calendar };
        assert_eq!(reckon_resume(&case, &resume, timing, local(23, 9, 0)), None);
    }
}

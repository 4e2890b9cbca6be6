//! `GET /api/v1/inbox`: a centre's (or community's) queues, most urgent first.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, get, web};
use geodata::AreaCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Candidate, SUGGESTIONS_PER_CASE, merge_pairs, urgency};
use crate::auth::Role;
use crate::auth::routes::Authenticated;
use crate::calendar::Light;
use crate::categories::CategoryTree;
use crate::clock::{Clock, rfc3339};
use crate::deadlines::store::{self as deadlines, DeadlineRow};
use crate::geo::Geo;
use crate::incidents::routes::Book;
use crate::incidents::scope::{Area, Viewer};
use crate::incidents::store::{self, Filter, IncidentRow, Start};
use crate::incidents::view::{self, Summary};
use crate::incidents::workflow::{Case, Status};
use crate::problem::ApiError;
use crate::store::{Database, DbConnection, StoreError};
use diesel::prelude::*;

/// The kinds of item, in the order they sort among equally urgent ones.
pub const KINDS: [&str; 8] = [
    "supervision",
    "new_report",
    "returned",
    "extension_request",
    "park_request",
    "to_verify",
    "to_close",
    "merge_suggestion",
];

/// The most open cases of the caller's area the inbox looks through (newest first).
const MAX_OPEN: i64 = 5_000;
/// Ids per `IN (…)` list.
const BATCH: usize = 500;

/// The inbox's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Only these kinds, comma-separated (`supervision`, `new_report`, `returned`,
    /// `extension_request`, `park_request`, `to_verify`, `to_close`, `merge_suggestion`);
    /// all by default.
    kinds: Option<String>,
    /// At most this many items, 1–500 (default 200), the most urgent.
    limit: Option<usize>,
}

/// One thing waiting for the caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// `supervision` (督办: overdue, in the caller's supervision queue), `new_report`
    /// (awaiting acceptance), `returned` (a task given back, awaiting re-dispatch),
    /// `extension_request` (延期), `park_request` (挂账), `to_verify` (handled, awaiting
    /// 核查), `to_close` (checked, awaiting 结案) or `merge_suggestion` (并单).
    pub kind: String,
    /// The case.
    pub incident: Summary,
    /// `red` (overdue), `yellow` (80 % of its limit used) or `green`.
    pub light: String,
    /// When the limit that matters here falls due (RFC 3339), if it has one.
    pub due: Option<String>,
    /// The task concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The step whose limit it is (`accept`, `dispatch`, `confirm`, `handle`, `verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// For `supervision`: the supervising level (3 township, 2 county, 1 city).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervision_level: Option<i32>,
    /// For `merge_suggestion`: the earlier case it may duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Summary>,
    /// For `merge_suggestion`: how far apart they are, in metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// What was asked (`extension_request`: `until`, `reason`; `park_request`: `reason`, `until`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub request: Option<Value>,
}

/// The caller's queues.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    /// The items, most urgent first.
    pub items: Vec<InboxItem>,
    /// How many of each kind there are in all (before `limit`).
    pub counts: BTreeMap<String, usize>,
    /// The time the lights were read at (RFC 3339).
    pub now: String,
}

fn light_name(light: Light) -> &'static str {
    match light {
        Light::Red => "red",
        Light::Yellow => "yellow",
        Light::Green => "green",
    }
}

/// The queues of centre staff and community staff, most urgent first: red before yellow
/// before the rest, then by due time.
#[utoipa::path(
    get,
    path = "/api/v1/inbox",
    params(InboxQuery),
    responses(
        (status = 200, description = "The caller's queues, most urgent first", body = Inbox),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[get("/api/v1/inbox")]
#[tracing::instrument(skip_all)]
pub async fn inbox(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    if !viewer.directs() {
        return Err(ApiError::Forbidden(format!("a {} works from no inbox", viewer.role)));
    }
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be 1–500, not {limit}")));
    }
    let kinds: Vec<String> = match &query.kinds {
        None => KINDS.iter().map(|k| (*k).to_owned()).collect(),
        Some(list) => {
            let kinds: Vec<String> =
                list.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect();
            if let Some(bad) = kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
                return Err(ApiError::BadRequest(format!("no inbox kind {bad:?}; kinds: {}", KINDS.join(", "))));
            }
            kinds
        }
    };
    let now = clock.now_ms();
    let inbox = web::block(move || -> Result<Inbox, ApiError> {
        let index = geo.index();
        let book = Book { tree: &tree, index: &index };
        Ok(build(&db, &viewer, &book, &kinds, limit, now)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(inbox))
}

/// `viewer`'s inbox at `now_ms`: at most `limit` items of `kinds`, most urgent first, and
/// how many of each kind there are. The items are sorted and counted before any is drawn:
/// only those returned become views, so thousands of open cases cost one pass over their
/// rows and limits, not thousands of views.
pub fn build(
    db: &Database,
    viewer: &Viewer,
    book: &Book<'_>,
    kinds: &[String],
    limit: usize,
    now_ms: i64,
) -> Result<Inbox, StoreError> {
    let wanted: Vec<&'static str> = KINDS.iter().copied().filter(|k| kinds.iter().any(|w| w == k)).collect();
    let gathered = db.read(|c| gather(c, viewer, wanted.contains(&"supervision")))?;
    let glances: Vec<Glance> =
        gathered.open.iter().map(|c| serde_json::from_str(&c.state).unwrap_or_default()).collect();
    let mine = AreaCode::parse(&viewer.unit_code).ok();
    let mut pending = pending(&gathered, &glances, &wanted, mine.as_ref(), now_ms);
    let mut counts: BTreeMap<String, usize> = kinds.iter().map(|k| (k.clone(), 0)).collect();
    for item in &pending {
        *counts.entry(item.kind.to_owned()).or_default() += 1;
    }
    let order = |a: &Pending<'_>, b: &Pending<'_>| a.sort.cmp(&b.sort).then_with(|| a.case.code.cmp(&b.case.code));
    if pending.len() > limit {
        pending.select_nth_unstable_by(limit, order);
        pending.truncate(limit);
    }
    pending.sort_by(order);
    let items = pending.into_iter().map(|p| p.draw(book, now_ms)).collect();
    Ok(Inbox { items, counts, now: rfc3339(now_ms) })
}

/// A running limit, with the columns the inbox reads of it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::deadlines::schema::deadlines)]
struct Limit {
    incident_id: String,
    deadline: String,
    step: String,
    task_id: Option<String>,
    yellow_at_ms: Option<i64>,
    due_at_ms: i64,
    parked: bool,
    warned: bool,
    overdue: bool,
    level: Option<i32>,
}

impl Limit {
    fn light(&self, now_ms: i64) -> Light {
        crate::deadlines::light_of(self.parked, self.warned, self.overdue, self.yellow_at_ms, self.due_at_ms, now_ms)
    }
}

impl From<DeadlineRow> for Limit {
    fn from(row: DeadlineRow) -> Limit {
        Limit {
            incident_id: row.incident_id,
            deadline: row.deadline,
            step: row.step,
            task_id: row.task_id,
            yellow_at_ms: row.yellow_at_ms,
            due_at_ms: row.due_at_ms,
            parked: row.parked,
            warned: row.warned,
            overdue: row.overdue,
            level: row.level,
        }
    }
}

/// What the inbox is built from.
struct Gathered {
    /// The open cases of the viewer's area (the newest [`MAX_OPEN`]).
    open: Vec<IncidentRow>,
    /// Their running limits.
    limits: Vec<Limit>,
    /// The limits in the viewer's supervision queue, with their cases.
    supervised: Vec<(IncidentRow, Limit)>,
}

/// The open cases of the viewer's area, their running limits, and (if `supervision`) the
/// limits in the viewer's supervision queue with their cases. A fixed number of queries,
/// whatever the number of cases: the supervised cases not among the open ones are read by
/// `IN (…)` lists.
fn gather(conn: &mut DbConnection, viewer: &Viewer, supervision: bool) -> diesel::QueryResult<Gathered> {
    use crate::deadlines::schema::deadlines as limits;
    let statuses = Status::open_names().into_iter().map(str::to_owned).collect();
    let filter = Filter { statuses, ..Filter::default() };
    let open = store::list(conn, viewer, &filter, MAX_OPEN, &Start::Offset(0))?;
    let ids: Vec<&str> = open.iter().map(|r| r.id.as_str()).collect();
    let limits = if ids.is_empty() {
        Vec::new()
    } else {
        limits::table.filter(limits::incident_id.eq_any(&ids)).select(Limit::as_select()).load(conn)?
    };
    // A queue is a centre's: its own unit's (every queue for the administrator).
    let queue = match (viewer.role, &viewer.area) {
        (Role::Administrator, _) => Some(None),
        (Role::CityCentre | Role::CountyCentre | Role::TownshipCentre, Area::Unit(code)) => Some(Some(code.as_str())),
        _ => None,
    };
    let mut supervised = Vec::new();
    if let (true, Some(code)) = (supervision, queue) {
        let rows = deadlines::supervised(conn, code)?;
        let known: HashMap<&str, &IncidentRow> = open.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut missing: Vec<String> = rows
            .iter()
            .filter(|r| !known.contains_key(r.incident_id.as_str()))
            .map(|r| r.incident_id.clone())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let mut more: HashMap<String, IncidentRow> = HashMap::new();
        for chunk in missing.chunks(BATCH) {
            // Any status, as long as the viewer sees it.
            let filter = Filter { ids: Some(chunk.to_vec()), ..Filter::default() };
            more.extend(
                store::list(conn, viewer, &filter, BATCH as i64, &Start::Offset(0))?
                    .into_iter()
                    .map(|r| (r.id.clone(), r)),
            );
        }
        for row in rows {
            let case = known.get(row.incident_id.as_str()).copied().or_else(|| more.get(&row.incident_id));
            if let Some(case) = case {
                supervised.push((case.clone(), Limit::from(row)));
            }
        }
    }
    Ok(Gathered { open, limits, supervised })
}

/// What the inbox reads of a case's stored state: who holds it if it was escalated, and
/// its tasks' requests (as JSON, so that any request a task carries shows).
#[derive(Debug, Default, Deserialize)]
struct Glance {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    tasks: Vec<TaskGlance>,
}

#[derive(Debug, Deserialize)]
struct TaskGlance {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    extension: Option<Value>,
    #[serde(default)]
    park: Option<Value>,
}

/// Whether a case whose queue's centre is `owner` (or, if none was named, the lowest on
/// its chain, as [`IncidentRow::queue`] reads it) was escalated into the queue of a unit
/// above `mine` (the township's report that went to the county is the county's to take in).
fn escalated_past(case: &IncidentRow, owner: Option<&str>, mine: Option<&AreaCode>) -> bool {
    let Some(mine) = mine else { return false };
    let queue = match owner {
        Some(owner) => AreaCode::parse(owner),
        None => match crate::routing::queue_of(&crate::routing::Chain::of(&case.place())) {
            Some(queue) => AreaCode::parse(queue),
            None => return false,
        },
    };
    queue.is_ok_and(|q| q != *mine && q.contains(mine))
}

/// What an item says beyond its case and limit.
enum Detail<'r> {
    Plain,
    /// Supervised at this level.
    Supervision(Option<i32>),
    /// A task given back: the one to send elsewhere is read from the state when drawn.
    Returned,
    /// A task's request (`until_ms`, `reason`).
    Request {
        task: &'r str,
        asked: &'r Value,
    },
    /// A duplicate of an earlier case, so many metres away.
    Duplicate {
        of: &'r IncidentRow,
        metres: f64,
    },
}

/// An item before it is drawn: what it sorts and counts by.
struct Pending<'r> {
    kind: &'static str,
    case: &'r IncidentRow,
    /// The limit whose light and due time it shows.
    limit: Option<&'r Limit>,
    detail: Detail<'r>,
    sort: (u8, i64, usize),
}

impl Pending<'_> {
    /// The item as the caller sees it.
    fn draw(self, book: &Book<'_>, now_ms: i64) -> InboxItem {
        let light = self.limit.map_or(Light::Green, |d| d.light(now_ms));
        let mut item = InboxItem {
            kind: self.kind.to_owned(),
            incident: view::summary(self.case, book, now_ms),
            light: light_name(light).to_owned(),
            due: self.limit.map(|d| rfc3339(d.due_at_ms)),
            task: self.limit.and_then(|d| d.task_id.clone()),
            step: self.limit.map(|d| d.step.clone()),
            supervision_level: None,
            duplicate_of: None,
            distance_m: None,
            request: None,
        };
        match self.detail {
            Detail::Plain => {}
            Detail::Supervision(level) => item.supervision_level = level,
            Detail::Returned => {
                let state: Option<Case> = serde_json::from_str(&self.case.state).ok();
                item.task =
                    state.and_then(|s| s.tasks.iter().find(|t| t.awaits_redispatch()).map(|t| t.id.to_string()));
            }
            Detail::Request { task, asked } => {
                item.task = Some(task.to_owned());
                let until = asked["until_ms"].as_i64().map(rfc3339);
                item.request = Some(json!({"reason": asked["reason"], "until": until}));
            }
            Detail::Duplicate { of, metres } => {
                item.task = None;
                item.step = None;
                item.duplicate_of = Some(view::summary(of, book, now_ms));
                item.distance_m = Some((metres * 10.0).round() / 10.0);
            }
        }
        item
    }
}

/// Every item of the `wanted` kinds, undrawn. `glances[i]` is what the state of
/// `gathered.open[i]` says.
fn pending<'r>(
    gathered: &'r Gathered,
    glances: &'r [Glance],
    wanted: &[&'static str],
    mine: Option<&AreaCode>,
    now: i64,
) -> Vec<Pending<'r>> {
    let Gathered { open, limits, supervised } = gathered;
    let want = |kind: &str| wanted.contains(&kind);
    // Each case's limits, as a slice of `by_case` (no list per case); each limit's urgency once.
    let place: HashMap<&str, usize> = open.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let mut by_case: Vec<(usize, &Limit)> =
        limits.iter().filter_map(|l| Some((*place.get(l.incident_id.as_str())?, l))).collect();
    by_case.sort_unstable_by_key(|&(i, _)| i);
    let mut first = vec![by_case.len(); open.len() + 1];
    for (n, &(i, _)) in by_case.iter().enumerate().rev() {
        first[i] = n;
    }
    for i in (0..open.len()).rev() {
        first[i] = first[i].min(first[i + 1]);
    }
    let limits_of = |i: usize| by_case[first[i]..first[i + 1]].iter().map(|&(_, l)| l);
    let limit_of = |i: usize, key: &str| limits_of(i).find(|d| d.deadline == key);
    let item = |kind: &'static str, case: &'r IncidentRow, limit: Option<&'r Limit>, detail: Detail<'r>| {
        let (rank, due_key) = urgency(limit.map_or(Light::Green, |d| d.light(now)), limit.map(|d| d.due_at_ms));
        let order = KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len());
        Pending { kind, case, limit, detail, sort: (rank, due_key, order) }
    };
    let mut out = Vec::new();
    if want("supervision") {
        for (case, row) in supervised {
            out.push(item("supervision", case, Some(row), Detail::Supervision(row.level)));
        }
    }
    for (i, (case, glance)) in open.iter().zip(glances).enumerate() {
        match case.status.as_str() {
            // A report escalated past the caller's unit waits in the upper centre's queue.
            "reported" if want("new_report") && !escalated_past(case, glance.owner.as_deref(), mine) => {
                out.push(item("new_report", case, limit_of(i, "accept"), Detail::Plain));
            }
            "returned" if want("returned") => {
                out.push(item("returned", case, limit_of(i, "dispatch"), Detail::Returned))
            }
            "handled" if want("to_verify") => out.push(item("to_verify", case, limit_of(i, "verify"), Detail::Plain)),
            "verified" if want("to_close") => out.push(item("to_close", case, None, Detail::Plain)),
            _ => {}
        }
        for task in &glance.tasks {
            if !matches!(task.status.as_str(), "open" | "accepted") {
                continue;
            }
            for (asked, kind) in [(&task.extension, "extension_request"), (&task.park, "park_request")] {
                if let (Some(asked), true) = (asked, want(kind)) {
                    let detail = Detail::Request { task: &task.id, asked };
                    out.push(item(kind, case, limit_of(i, &task.id), detail));
                }
            }
        }
    }
    if want("merge_suggestion") {
        let candidates: Vec<Candidate<'_>> = open
            .iter()
            .map(|c| Candidate { category: &c.category_code, lon: c.lon, lat: c.lat, reported_at_ms: c.reported_at_ms })
            .collect();
        for (earlier, later, metres) in merge_pairs(&candidates, SUGGESTIONS_PER_CASE) {
            // As urgent as the more urgent of the two.
            let worst =
                limits_of(earlier).chain(limits_of(later)).min_by_key(|d| urgency(d.light(now), Some(d.due_at_ms)));
            out.push(item("merge_suggestion", &open[later], worst, Detail::Duplicate { of: &open[earlier], metres }));
        }
    }
    out
}

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

/// The kinds of item, in the order they sort among equally urgent ones.
pub const KINDS: [&str; 6] =
    ["supervision", "new_report", "returned", "extension_request", "park_request", "merge_suggestion"];

/// The most open cases of the caller's area the inbox looks through (newest first).
const MAX_OPEN: i64 = 5_000;
/// Ids per `IN (…)` list.
const BATCH: usize = 500;

/// The inbox's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Only these kinds, comma-separated (`supervision`, `new_report`, `returned`,
    /// `extension_request`, `park_request`, `merge_suggestion`); all by default.
    kinds: Option<String>,
    /// At most this many items, 1–500 (default 200), the most urgent.
    limit: Option<usize>,
}

/// One thing waiting for the caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// `supervision` (督办: overdue, in the caller's supervision queue), `new_report`
    /// (awaiting acceptance), `returned` (a task given back, awaiting re-dispatch),
    /// `extension_request` (延期), `park_request` (挂账) or `merge_suggestion` (并单).
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
        (status = 400, description = "bad-request: an unknown kind, a limit out of range", body = crate::problem::ProblemDoc),
        (status = 401, description = "invalid-credentials", body = crate::problem::ProblemDoc),
        (status = 403, description = "forbidden: the role works from no inbox", body = crate::problem::ProblemDoc),
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
/// only those returned become views, so thousands of open cases cost a pass over their
/// rows, not thousands of views.
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
    let mut pending = pending(&gathered, &wanted, &viewer.unit_code, now_ms);
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

/// What the inbox is built from.
struct Gathered {
    /// The open cases of the viewer's area (the newest [`MAX_OPEN`]).
    open: Vec<IncidentRow>,
    /// Their running limits.
    limits: Vec<DeadlineRow>,
    /// The limits in the viewer's supervision queue, with their cases.
    supervised: Vec<(IncidentRow, DeadlineRow)>,
}

/// The open cases of the viewer's area, their running limits, and (if `supervision`) the
/// limits in the viewer's supervision queue with their cases. A fixed number of queries,
/// whatever the number of cases: the supervised cases not among the open ones are read by
/// `IN (…)` lists.
fn gather(conn: &mut DbConnection, viewer: &Viewer, supervision: bool) -> diesel::QueryResult<Gathered> {
    let statuses = Status::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str().to_owned()).collect();
    let filter = Filter { statuses, ..Filter::default() };
    let open = store::list(conn, viewer, &filter, MAX_OPEN, &Start::Offset(0))?;
    let ids: Vec<String> = open.iter().map(|r| r.id.clone()).collect();
    let limits = deadlines::of_cases(conn, &ids)?;
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
                supervised.push((case.clone(), row));
            }
        }
    }
    Ok(Gathered { open, limits, supervised })
}

/// Whether `case` was escalated into the queue of a unit above `unit` (the township's
/// report that went to the county is the county's to take in).
fn escalated_past(case: &IncidentRow, unit: &str) -> bool {
    let (Some(queue), Ok(mine)) = (case.queue(), AreaCode::parse(unit)) else { return false };
    AreaCode::parse(&queue).is_ok_and(|q| q != mine && q.contains(&mine))
}

/// An item before it is drawn: what it sorts and counts by.
struct Pending<'r> {
    kind: &'static str,
    case: &'r IncidentRow,
    light: Light,
    due: Option<i64>,
    task: Option<String>,
    step: Option<String>,
    supervision_level: Option<i32>,
    duplicate_of: Option<(&'r IncidentRow, f64)>,
    request: Option<Value>,
    sort: (u8, i64, usize),
}

impl Pending<'_> {
    /// The item as the caller sees it.
    fn draw(self, book: &Book<'_>, now_ms: i64) -> InboxItem {
        InboxItem {
            kind: self.kind.to_owned(),
            incident: view::summary(self.case, book, now_ms),
            light: light_name(self.light).to_owned(),
            due: self.due.map(rfc3339),
            task: self.task,
            step: self.step,
            supervision_level: self.supervision_level,
            duplicate_of: self.duplicate_of.map(|(c, _)| view::summary(c, book, now_ms)),
            distance_m: self.duplicate_of.map(|(_, d)| (d * 10.0).round() / 10.0),
            request: self.request,
        }
    }
}

/// Every item of the `wanted` kinds, undrawn.
fn pending<'r>(gathered: &'r Gathered, wanted: &[&'static str], viewer_unit: &str, now: i64) -> Vec<Pending<'r>> {
    let Gathered { open, limits, supervised } = gathered;
    let want = |kind: &str| wanted.contains(&kind);
    let mut by_case: HashMap<&str, Vec<&DeadlineRow>> = HashMap::new();
    for row in limits {
        by_case.entry(row.incident_id.as_str()).or_default().push(row);
    }
    let item = |kind: &'static str, case: &'r IncidentRow, limit: Option<&DeadlineRow>| {
        let light = limit.map_or(Light::Green, |d| d.light(now));
        let due = limit.map(|d| d.due_at_ms);
        let (rank, due_key) = urgency(light, due);
        let order = KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len());
        Pending {
            kind,
            case,
            light,
            due,
            task: limit.and_then(|d| d.task_id.clone()),
            step: limit.map(|d| d.step.clone()),
            supervision_level: None,
            duplicate_of: None,
            request: None,
            sort: (rank, due_key, order),
        }
    };
    let limit_of = |case: &IncidentRow, key: &str| {
        by_case.get(case.id.as_str()).and_then(|rows| rows.iter().find(|d| d.deadline == key).copied())
    };
    let mut out = Vec::new();
    if want("supervision") {
        for (case, row) in supervised {
            let mut it = item("supervision", case, Some(row));
            it.supervision_level = row.level;
            out.push(it);
        }
    }
    let requests = want("extension_request") || want("park_request");
    for case in open {
        match case.status.as_str() {
            // A report escalated past the caller's unit waits in the upper centre's queue.
            "reported" if want("new_report") && !escalated_past(case, viewer_unit) => {
                out.push(item("new_report", case, limit_of(case, "accept")));
            }
            "returned" if want("returned") => {
                let mut it = item("returned", case, limit_of(case, "dispatch"));
                let state: Option<Case> = serde_json::from_str(&case.state).ok();
                it.task = state.and_then(|s| s.tasks.iter().find(|t| t.awaits_redispatch()).map(|t| t.id.to_string()));
                out.push(it);
            }
            _ => {}
        }
        if !requests {
            continue;
        }
        // Requests read from the stored state as JSON, so that any request a task carries shows.
        let state: Value = serde_json::from_str(&case.state).unwrap_or(Value::Null);
        for task in state["tasks"].as_array().into_iter().flatten() {
            let Some(id) = task["id"].as_str() else { continue };
            let active = matches!(task["status"].as_str(), Some("open" | "accepted"));
            for (field, kind) in [("extension", "extension_request"), ("park", "park_request")] {
                let asked = &task[field];
                if !active || asked.is_null() || !want(kind) {
                    continue;
                }
                let mut it = item(kind, case, limit_of(case, id));
                it.task = Some(id.to_owned());
                let until = asked["until_ms"].as_i64().map(rfc3339);
                it.request = Some(json!({"reason": asked["reason"], "until": until}));
                out.push(it);
            }
        }
    }
    if want("merge_suggestion") {
        let candidates: Vec<Candidate<'_>> = open
            .iter()
            .map(|c| Candidate { category: &c.category_code, lon: c.lon, lat: c.lat, reported_at_ms: c.reported_at_ms })
            .collect();
        for (earlier, later, d) in merge_pairs(&candidates, SUGGESTIONS_PER_CASE) {
            let (survivor, duplicate) = (&open[earlier], &open[later]);
            // As urgent as the more urgent of the two.
            let limits =
                [survivor, duplicate].into_iter().flat_map(|c| by_case.get(c.id.as_str()).into_iter().flatten());
            let worst = limits.min_by_key(|d| urgency(d.light(now), Some(d.due_at_ms))).copied();
            let mut it = item("merge_suggestion", duplicate, worst);
            it.task = None;
            it.step = None;
            it.duplicate_of = Some((survivor, d));
            out.push(it);
        }
    }
    out
}

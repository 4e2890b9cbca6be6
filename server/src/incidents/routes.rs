//! The staff routes of cases: `GET /api/v1/incidents` (a filtered page),
//! `GET /api/v1/incidents/{id}` (the case in full), `POST /api/v1/incidents/{id}/actions`
//! (accept, reject, dispatch, redispatch, extensions, verification, close) and
//! `POST /api/v1/tasks/{id}/actions` (the operations a phone sends, from a desk).
//! Handlers only translate: they read the request, resolve names to people, build a
//! workflow command and hand it to [`act::execute`], the one write path.

use actix_web::{HttpResponse, get, post, web};
use geodata::{AreaCode, GridIndex, Level};
use serde::Deserialize;
use uuid::Uuid;

use super::act::{self, Actor, Extra, Timing};
use super::merge;
use super::ops::{TaskOp, task_op};
use super::scope::Viewer;
use super::store::{self, Filter};
use super::view::{self, IncidentView, Names};
use super::workflow::{Assignment, Case, Command, Refusal, Target, TaskKind, TaskRole};
use crate::auth::routes::Authenticated;
use crate::auth::{self, Role};
use crate::body;
use crate::calendar::Calendars;
use crate::categories::{CategoryTree, Limit, Limits, Severity};
use crate::clock::{Clock, parse_rfc3339};
use crate::geo::Geo;
use crate::problem::ApiError;
use crate::store::{Database, DbConnection};
use crate::sync::fanout::Fanout;
use crate::sync::hub::Notifier;

/// The largest action body taken.
const MAX_ACTION_BYTES: usize = 64 * 1024;

/// Names of categories (from the tree) and grids (from the index) for the views.
pub struct Book<'a> {
    /// The category tree.
    pub tree: &'a CategoryTree,
    /// The grid index.
    pub index: &'a GridIndex,
}

impl Names for Book<'_> {
    fn category(&self, code: &str) -> Option<String> {
        self.tree.category(code).map(|c| c.name.clone())
    }
    fn grid(&self, code: &str) -> Option<String> {
        AreaCode::parse(code).ok().and_then(|c| self.index.grid(&c).map(|g| g.name.clone()))
    }
}

/// A case in full as `viewer` may see it, or `None`.
pub fn load_view(
    conn: &mut DbConnection,
    viewer: &Viewer,
    id: &str,
    names: &dyn Names,
    now_ms: i64,
) -> diesel::QueryResult<Option<IncidentView>> {
    let Some(row) = store::visible_incident(conn, viewer, id)? else { return Ok(None) };
    let tasks = store::tasks_of(conn, id)?;
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let pairs = store::assignees_of(conn, &ids)?;
    let states = view::workflow_tasks(&row);
    let tasks = tasks
        .iter()
        .map(|t| {
            let assignees = pairs.iter().filter(|(task, _)| *task == t.id).map(|(_, u)| u.clone()).collect();
            view::task(t, assignees, view::find(&states, &t.id))
        })
        .collect();
    let limits = crate::deadlines::store::of_cases(conn, std::slice::from_ref(&row.id))?;
    let limits = limits.iter().map(|d| view::limit(d, now_ms)).collect();
    let events = store::events_of(conn, id)?;
    Ok(Some(view::incident(&row, tasks, limits, &events, names, now_ms)))
}

/// The query of the case list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Statuses, comma-separated.
    status: Option<String>,
    /// Level handling it (1–5).
    level: Option<i32>,
    /// Category code.
    category: Option<String>,
    /// A unit or grid code inside the caller's area.
    area: Option<String>,
    /// Only cases past (true) or within (false) their current deadline.
    overdue: Option<bool>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// Cases to skip (the older way to page, counted with `total`; prefer `cursor`).
    offset: Option<i64>,
    /// Where the page starts: the `next` of the page before (not with `offset`).
    cursor: Option<String>,
}

/// A page of cases.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page {
    items: Vec<view::Summary>,
    /// How many cases pass the filters in all: counted on `offset` pages (the first page
    /// included), not on `cursor` pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<i64>,
    limit: i64,
    /// The cases skipped, on `offset` pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
    /// The `cursor` of the next page; null on the last page.
    next: Option<String>,
}

/// The cases of the caller's area, newest first (then by id), filtered and paged: walk
/// the pages with `cursor` (each page's `next`); `offset` still works, with `total`.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of cases", body = Page),
        (status = 400, description = "bad-request: a limit, offset, level or area out of range, a cursor this server did not give", body = crate::problem::ProblemDoc),
        (status = 401, description = "invalid-credentials", body = crate::problem::ProblemDoc),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[get("/api/v1/incidents")]
#[tracing::instrument(skip_all)]
pub async fn list(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) || query.offset.is_some_and(|o| o < 0) {
        return Err(ApiError::BadRequest("limit must be 1–200 and offset 0 or more".into()));
    }
    let start = match (&query.cursor, query.offset) {
        (Some(_), Some(_)) => return Err(ApiError::BadRequest("give a cursor or an offset, not both".into())),
        (Some(cursor), None) => store::Start::After(
            store::Key::from_cursor(cursor)
                .ok_or_else(|| ApiError::BadRequest("cursor: not one this server gave (take a page's next)".into()))?,
        ),
        (None, offset) => store::Start::Offset(offset.unwrap_or(0)),
    };
    if query.level.is_some_and(|l| !(1..=5).contains(&l)) {
        return Err(ApiError::BadRequest("level must be 1–5".into()));
    }
    let area = match &query.area {
        None => None,
        Some(code) => Some(AreaCode::parse(code).map_err(|e| ApiError::BadRequest(format!("area: {e}")))?),
    };
    let statuses = query
        .status
        .as_deref()
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let now = clock.now_ms();
    let filter = Filter {
        statuses,
        level: query.level,
        category: query.category,
        area,
        overdue: query.overdue,
        now_ms: now,
        ids: None,
    };
    let offset = match start {
        store::Start::Offset(n) => Some(n),
        store::Start::After(_) => None,
    };
    let (mut rows, total) = web::block(move || {
        db.read(|c| {
            // One more than the page, to know whether a next one exists.
            let rows = store::list(c, &viewer, &filter, limit + 1, &start)?;
            let total = match start {
                store::Start::Offset(_) => Some(store::count(c, &viewer, &filter)?),
                store::Start::After(_) => None,
            };
            Ok((rows, total))
        })
    })
    .await??;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| store::Key::of(r).cursor())
    } else {
        None
    };
    let index = geo.index();
    let book = Book { tree: &tree, index: &index };
    let items = rows.iter().map(|r| view::summary(r, &book, now)).collect();
    Ok(HttpResponse::Ok().json(Page { items, total, limit, offset, next }))
}

/// A case with its tasks and full history, contacts masked; 404 outside the caller's area.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case", body = IncidentView),
        (status = 401, description = "invalid-credentials", body = crate::problem::ProblemDoc),
        (status = 404, description = "not-found", body = crate::problem::ProblemDoc),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[get("/api/v1/incidents/{id}")]
#[tracing::instrument(skip(db, tree, geo, clock, caller))]
pub async fn get_incident(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let id = id.into_inner();
    let found = {
        let id = id.clone();
        web::block(move || {
            let index = geo.index();
            let book = Book { tree: &tree, index: &index };
            db.read(|c| load_view(c, &viewer, &id, &book, clock.now_ms()))
        })
        .await??
    };
    let view = found.ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))?;
    Ok(HttpResponse::Ok().json(view))
}

impl From<&Target> for TargetSpec {
    fn from(target: &Target) -> TargetSpec {
        match target {
            Target::Grid(code) => TargetSpec::Grid(code.clone()),
            Target::Unit(code) => TargetSpec::Unit(code.clone()),
            Target::Department(code) => TargetSpec::Department(code.clone()),
            Target::User(id) => TargetSpec::User(id.to_string()),
        }
    }
}

/// Where a dispatch sends work: `{"grid": …}`, `{"unit": …}`, `{"department": …}` or `{"user": …}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetSpec {
    /// A grid's workers.
    Grid(String),
    /// A unit's staff.
    Unit(String),
    /// A department's staff.
    Department(String),
    /// One user, by id.
    User(String),
}

/// A staff action on a case.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IncidentAction {
    /// Take a reported case in; with `confirm`, send a confirm task to the grid first.
    Accept {
        /// Confirm on site first (核实).
        #[serde(default)]
        confirm: bool,
    },
    /// Refuse it, with a reason.
    Reject {
        /// Why.
        reason: String,
    },
    /// Send the work to a lead and assisting units.
    Dispatch {
        /// The lead.
        to: TargetSpec,
        /// Assisting units.
        #[serde(default)]
        assist: Vec<TargetSpec>,
        /// A deadline (RFC 3339) instead of the category's.
        due: Option<String>,
    },
    /// Check the work from the desk.
    Verify {
        /// Whether it passed.
        passed: bool,
        /// What was seen.
        #[serde(default)]
        note: String,
    },
    /// Close a verified case.
    Close,
    /// Flag the case (督办) with a note, by a centre above the level handling it: its holders
    /// are told on their phones.
    Flag {
        /// What the supervisor says.
        #[serde(default)]
        note: String,
    },
    /// Set, correct or clear an emergency's grade (定级), with a reason: the steps that start
    /// from now on run on the grade's limits.
    Grade {
        /// `I`…`IV`, or null to clear it.
        severity: Option<Severity>,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Tell units or departments of the case without sending them work (抄告); they hear
    /// of it whether or not it lies in their area.
    Inform {
        /// Unit codes (in the layer) or department codes.
        units: Vec<String>,
        /// Why they are told.
        #[serde(default)]
        note: String,
    },
    /// Send a task's work elsewhere (改派): a returned task, or an active one taken from its holder.
    Redispatch {
        /// The task replaced.
        task: String,
        /// Where the work goes now.
        to: TargetSpec,
        /// A deadline (RFC 3339) instead of a fresh limit of the category's.
        due: Option<String>,
    },
    /// Grant a task's request for more time (延期), as asked or until `until`.
    ApproveExtension {
        /// Which task.
        task: String,
        /// A deadline (RFC 3339) other than the one asked for.
        until: Option<String>,
    },
    /// Refuse a task's request for more time; the deadline stands.
    RefuseExtension {
        /// Which task.
        task: String,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Send a handled case to someone to check on site (核查); its handlers are left out.
    RequestVerification {
        /// Who checks.
        to: TargetSpec,
        /// A deadline (RFC 3339) instead of the category's.
        due: Option<String>,
    },
    /// Approve a holder's request to park a task (挂账): its clock stops.
    ApprovePark {
        /// Which task.
        task: String,
    },
    /// Refuse a request to park a task, with a reason; its clock runs on.
    RefusePark {
        /// Which task.
        task: String,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Start a parked task's clock again; its deadline moves later by the time parked.
    ResumeTask {
        /// Which task.
        task: String,
    },
    /// Merge this case, a duplicate, into another case of the same category (并单): its
    /// tasks are withdrawn and its reporters follow the other.
    Merge {
        /// The surviving case's id.
        into: String,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Reopen a closed case (返工): the work goes back to its last lead handler.
    Reopen {
        /// Why.
        reason: String,
    },
    /// Escalate the case one level up (上报: township → county → city), by the centre
    /// whose queue it is in: it joins the next level's queue.
    Escalate {
        /// Why.
        reason: String,
    },
}

/// Actions of the contract not served yet (none now: issue 6 brought `merge`, `escalate`
/// and `reopen`).
const LATER_ACTIONS: [&str; 0] = [];

/// Reads a JSON object's tag and refuses, with a clear slug, the names that are known
/// but not served yet; the rest is left to serde.
fn parse_tagged<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    tag: &str,
    later: &[&str],
) -> Result<T, ApiError> {
    let name = value.get(tag).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    if later.contains(&name.as_str()) {
        return Err(ApiError::Unprocessable {
            kind: "not-supported-yet",
            detail: format!("`{name}` is part of the contract but not served by this version"),
        });
    }
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("the body is not a valid {tag}: {e}")))
}

/// Reads a desk's task operation: the op body of a phone's mutation, the task named by the path.
fn desk_task_op(mut value: serde_json::Value, task: Uuid) -> Result<TaskOp, ApiError> {
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::BadRequest("the body must be a JSON object with a `kind`".into()));
    };
    object.insert("task_id".into(), serde_json::Value::String(task.to_string()));
    // `progress` was once read with a `note`; the protocol calls it `text`.
    if object.get("kind").and_then(|k| k.as_str()) == Some("progress")
        && !object.contains_key("text")
        && let Some(note) = object.remove("note")
    {
        object.insert("text".into(), note);
    }
    let kind: sync_protocol::OpKind = serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a valid task operation: {e}")))?;
    if kind == sync_protocol::OpKind::Unknown {
        return Err(ApiError::BadRequest("`kind` names no operation this server knows".into()));
    }
    match task_op(&kind) {
        Some(Ok(op)) => Ok(op),
        Some(Err(detail)) => Err(ApiError::BadRequest(detail)),
        None => Err(ApiError::Unprocessable {
            kind: "not-a-task-operation",
            detail: "this route takes the operations on a task: accept_task, arrive, progress, complete_task, \
                     confirm_task, return_task, request_extension, request_park, resume_task, verify"
                .into(),
        }),
    }
}

/// Everything a case action needs to resolve names and times: a desk's, or the routing
/// rules' when they act on their own.
pub struct Desk<'a> {
    /// The category tree in force.
    pub tree: &'a CategoryTree,
    /// The grids and units.
    pub geo: &'a Geo,
    /// The counties' calendars.
    pub calendars: &'a Calendars,
}

impl<'a> Desk<'a> {
    /// The timing of the stored case `row`.
    pub fn timing(&self, row: &store::IncidentRow) -> Timing<'a> {
        Timing::of_row(self.tree, self.calendars, row)
    }

    /// The people a target names, what it is, and the level it works at; only targets in
    /// `viewer`'s area (the system's covers everything).
    pub fn resolve(
        &self,
        conn: &mut DbConnection,
        viewer: &Viewer,
        spec: &TargetSpec,
    ) -> Result<(Target, Vec<Uuid>, i32), ApiError> {
        let unknown = |what: String| ApiError::Unprocessable { kind: "unknown-target", detail: what };
        let ids = |users: Vec<auth::User>| users.iter().filter_map(|u| Uuid::parse_str(&u.id).ok()).collect::<Vec<_>>();
        match spec {
            TargetSpec::Grid(code) => {
                let parsed = AreaCode::parse(code).ok().filter(|c| c.level() == Level::Grid);
                let grid = parsed
                    .filter(|c| self.geo.index().grid(c).is_some() && viewer.covers(c))
                    .ok_or_else(|| unknown(format!("no grid {code} in your area")))?;
                let workers = auth::users_in(conn, &[Role::GridWorker], grid.as_str())?;
                Ok((Target::Grid(code.clone()), ids(workers), 5))
            }
            TargetSpec::Unit(code) => {
                let parsed = AreaCode::parse(code).ok().filter(|c| c.level() != Level::Grid);
                let unit = parsed
                    .filter(|c| self.geo.layer().get(c).is_some() && viewer.covers(c))
                    .ok_or_else(|| unknown(format!("no unit {code} in your area")))?;
                let staff = auth::users_in(
                    conn,
                    &[Role::CityCentre, Role::CountyCentre, Role::TownshipCentre, Role::CommunityStaff],
                    unit.as_str(),
                )?;
                Ok((Target::Unit(code.clone()), ids(staff), i32::from(unit.level().number())))
            }
            TargetSpec::Department(code) => {
                if !self.tree.departments.iter().any(|d| d.code == *code) {
                    return Err(unknown(format!("no department {code}")));
                }
                let staff = auth::users_in(conn, &[Role::DepartmentStaff], code)?;
                Ok((Target::Department(code.clone()), ids(staff), i32::from(Level::County.number())))
            }
            TargetSpec::User(id) => {
                let user = auth::user_by_id(conn, id)?.ok_or_else(|| unknown(format!("no user {id}")))?;
                let area = AreaCode::parse(&user.unit_code).ok();
                let level = area.as_ref().map_or(i32::from(Level::County.number()), |a| i32::from(a.level().number()));
                let reachable = user.role() == Some(Role::DepartmentStaff) || area.is_some_and(|a| viewer.covers(&a));
                let uid = Uuid::parse_str(&user.id)
                    .ok()
                    .filter(|_| reachable)
                    .ok_or_else(|| unknown(format!("no user {id} in your area")))?;
                Ok((Target::User(uid), vec![uid], level))
            }
        }
    }
}

fn due_of(spec: Option<&str>) -> Result<Option<i64>, ApiError> {
    spec.map(|s| {
        parse_rfc3339(s).ok_or_else(|| ApiError::BadRequest(format!("due must be an RFC 3339 instant, not {s:?}")))
    })
    .transpose()
}

/// A task id named in an action body.
fn task_named(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::BadRequest(format!("task {id:?} is not a task's id")))
}

/// The limit a fresh task of `kind` runs under.
fn limit_of(kind: TaskKind) -> fn(&Limits) -> Limit {
    match kind {
        TaskKind::Handle => |l| l.handle,
        TaskKind::Confirm => |l| l.accept,
        TaskKind::Verify => |l| l.verify,
    }
}

/// When a new task of `kind` falls due: the deadline given (RFC 3339), or else the
/// category's limit for its step, counted from `now`.
fn deadline(given: Option<&str>, timing: Timing<'_>, kind: TaskKind, now: i64) -> Result<Option<i64>, ApiError> {
    Ok(match due_of(given)? {
        Some(due) => Some(due),
        None => timing.due(now, limit_of(kind)),
    })
}

/// Whether `viewer` supervises cases handled at `level`: a command centre (or the
/// administrator) of a level above it.
fn supervises(viewer: &Viewer, level: i32) -> bool {
    match viewer.role {
        Role::Administrator => true,
        Role::CityCentre | Role::CountyCentre | Role::TownshipCentre => {
            viewer.level().is_some_and(|l| i32::from(l.number()) < level)
        }
        _ => false,
    }
}

/// Where a hand escalation (上报) of `row` by `viewer` goes: the unit whose queue the case
/// is in (its township until escalated), the unit one level up (none above the city) and
/// that unit's level. Only a command centre escalates, and only the one whose queue holds
/// the case (or the administrator): 403 otherwise.
fn escalation(
    viewer: &Viewer,
    row: &store::IncidentRow,
    case: &Case,
) -> Result<(String, Option<String>, Option<i32>), ApiError> {
    if !matches!(viewer.role, Role::Administrator | Role::CityCentre | Role::CountyCentre | Role::TownshipCentre) {
        return Err(ApiError::Forbidden(format!("a {} does not escalate cases: command centres do", viewer.role)));
    }
    let owner = case.owner.clone().unwrap_or_else(|| row.township_code.clone());
    if viewer.role != Role::Administrator && viewer.unit_code != owner {
        return Err(ApiError::Forbidden(format!("the case is in the queue of {owner}: that centre escalates it")));
    }
    let level = AreaCode::parse(&owner).map_or(Level::Township, |c| c.level());
    let to = match level {
        Level::City => None,
        Level::County => Some(row.city_code.clone()),
        Level::Township => Some(row.county_code.clone()),
        Level::Community | Level::Grid => Some(row.township_code.clone()),
    }
    .filter(|code| !code.is_empty());
    let to_level = to.as_deref().and_then(|c| AreaCode::parse(c).ok()).map(|c| i32::from(c.level().number()));
    Ok((owner, to, to_level))
}

/// Builds the workflow command of a staff action (resolving targets to people).
fn incident_command(
    conn: &mut DbConnection,
    desk: &Desk<'_>,
    viewer: &Viewer,
    row: &store::IncidentRow,
    action: IncidentAction,
    now: i64,
) -> Result<(Command, Extra), ApiError> {
    let timing = desk.timing(row);
    Ok(match action {
        IncidentAction::Accept { confirm: false } => (Command::Accept { confirm: None }, Extra::default()),
        IncidentAction::Accept { confirm: true } => {
            // The confirm task goes to the case's own grid, whoever directs it.
            let workers = auth::users_in(conn, &[Role::GridWorker], &row.grid_code)?;
            let assignees = workers.iter().filter_map(|u| Uuid::parse_str(&u.id).ok()).collect();
            let target = Target::Grid(row.grid_code.clone());
            let due_ms = timing.due(now, limit_of(TaskKind::Confirm));
            let task = Assignment { task: Uuid::new_v4(), target, assignees, due_ms };
            (Command::Accept { confirm: Some(task) }, Extra::default())
        }
        IncidentAction::Reject { reason } => (Command::Reject { reason }, Extra::default()),
        IncidentAction::Dispatch { to, assist, due } => {
            let due_ms = deadline(due.as_deref(), timing, TaskKind::Handle, now)?;
            let (target, assignees, level) = desk.resolve(conn, viewer, &to)?;
            let lead = Assignment { task: Uuid::new_v4(), target, assignees, due_ms };
            let mut helpers = Vec::with_capacity(assist.len());
            for spec in &assist {
                let (target, assignees, _) = desk.resolve(conn, viewer, spec)?;
                helpers.push(Assignment { task: Uuid::new_v4(), target, assignees, due_ms });
            }
            (Command::Dispatch { lead, assist: helpers }, Extra { level: Some(level), ..Extra::default() })
        }
        IncidentAction::Verify { passed, note } => (Command::Verify { task: None, passed, note }, Extra::default()),
        IncidentAction::Close => (Command::Close, Extra::default()),
        IncidentAction::Flag { note } => {
            if !supervises(viewer, row.level) {
                return Err(ApiError::Forbidden(format!(
                    "a flag (督办) comes from a centre above the level handling the case (level {})",
                    row.level
                )));
            }
            (Command::Flag { note }, Extra::default())
        }
        IncidentAction::Grade { severity, reason } => {
            if let Some(category) = desk.tree.category(&row.category_code) {
                category
                    .takes(severity)
                    .map_err(|detail| ApiError::Unprocessable { kind: "invalid-command", detail })?;
            }
            (Command::Grade { severity, reason }, Extra::default())
        }
        IncidentAction::Inform { units, note } => {
            for unit in &units {
                let known = desk.tree.departments.iter().any(|d| d.code == *unit)
                    || AreaCode::parse(unit).is_ok_and(|c| desk.geo.layer().get(&c).is_some());
                if !known {
                    return Err(ApiError::Unprocessable {
                        kind: "unknown-target",
                        detail: format!("{unit:?} is neither a unit nor a department"),
                    });
                }
            }
            (Command::Inform { units, note }, Extra::default())
        }
        IncidentAction::Redispatch { task, to, due } => {
            let task = task_named(&task)?;
            let case: Case = serde_json::from_str(&row.state)
                .map_err(|e| ApiError::Internal(format!("case {} is unreadable: {e}", row.id)))?;
            let old = case.tasks.iter().find(|t| t.id == task).ok_or(Refusal::NoSuchTask(task))?;
            let due_ms = deadline(due.as_deref(), timing, old.kind, now)?;
            let (target, assignees, level) = desk.resolve(conn, viewer, &to)?;
            let to = Assignment { task: Uuid::new_v4(), target, assignees, due_ms };
            // The level handling the case follows its lead.
            let level = (old.role == TaskRole::Lead && old.kind == TaskKind::Handle).then_some(level);
            (Command::Redispatch { task, to }, Extra { level, ..Extra::default() })
        }
        IncidentAction::ApproveExtension { task, until } => {
            let until_ms = due_of(until.as_deref())?;
            (
                Command::AnswerExtension { task: task_named(&task)?, approve: true, until_ms, reason: String::new() },
                Extra::default(),
            )
        }
        IncidentAction::RefuseExtension { task, reason } => (
            Command::AnswerExtension { task: task_named(&task)?, approve: false, until_ms: None, reason },
            Extra::default(),
        ),
        IncidentAction::ApprovePark { task } => {
            (Command::AnswerPark { task: task_named(&task)?, approve: true, reason: String::new() }, Extra::default())
        }
        IncidentAction::RefusePark { task, reason } => {
            (Command::AnswerPark { task: task_named(&task)?, approve: false, reason }, Extra::default())
        }
        IncidentAction::ResumeTask { task } => {
            (Command::Resume { task: task_named(&task)?, due_ms: None }, Extra::default())
        }
        IncidentAction::Merge { .. } => {
            return Err(ApiError::Internal("a merge is committed by incidents::merge, not as one command".into()));
        }
        IncidentAction::Reopen { reason } => (Command::Reopen { reason }, Extra::default()),
        IncidentAction::Escalate { reason } => {
            let case: Case = serde_json::from_str(&row.state)
                .map_err(|e| ApiError::Internal(format!("case {} is unreadable: {e}", row.id)))?;
            let (from, to, level) = escalation(viewer, row, &case)?;
            (Command::Escalate { from, to, reason }, Extra { level, ..Extra::default() })
        }
        IncidentAction::RequestVerification { to, due } => {
            let due_ms = deadline(due.as_deref(), timing, TaskKind::Verify, now)?;
            let (target, assignees, _) = desk.resolve(conn, viewer, &to)?;
            let task = Assignment { task: Uuid::new_v4(), target, assignees, due_ms };
            (Command::RequestVerification { task }, Extra::default())
        }
    })
}

/// The ids among `photos` that are malformed or not uploaded: 422 `unknown-attachment`.
pub fn check_photos(conn: &mut DbConnection, photos: &[String]) -> Result<(), ApiError> {
    if photos.len() > 9 {
        return Err(ApiError::Unprocessable { kind: "too-many-photos", detail: "at most 9 photos".into() });
    }
    let malformed: Vec<&String> = photos.iter().filter(|p| !crate::attachments::is_id(p)).collect();
    let missing = if malformed.is_empty() {
        crate::attachments::missing(conn, photos)?
    } else {
        malformed.into_iter().cloned().collect()
    };
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unprocessable {
            kind: "unknown-attachment",
            detail: format!("upload these first to /api/v1/attachments: {}", missing.join(", ")),
        })
    }
}

/// A staff action on a case: `accept` (with `confirm`), `reject`, `dispatch`, `verify`, `close`.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/actions",
    params(("id" = String, Path, description = "The case's id")),
    request_body = IncidentAction,
    responses(
        (status = 200, description = "The case after the action", body = IncidentView),
        (status = 400, description = "bad-request", body = crate::problem::ProblemDoc),
        (status = 403, description = "forbidden: the role does not direct cases, or may not flag or escalate this one", body = crate::problem::ProblemDoc),
        (status = 404, description = "not-found (also a case outside the caller's area)", body = crate::problem::ProblemDoc),
        (status = 409, description = "illegal-transition, verifier-is-handler, wrong-task-kind, task-not-active, extension-pending, no-extension-request, own-extension, task-parked, not-parked, park-pending, no-park-request, own-park, survivor-not-open, no-level-above, already-rated", body = crate::problem::ProblemDoc),
        (status = 422, description = "unknown-target, unknown-case, no-assignee, invalid-command, merge-into-itself, different-category, not-a-duplicate", body = crate::problem::ProblemDoc),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[post("/api/v1/incidents/{id}/actions")]
#[tracing::instrument(skip(db, tree, geo, calendars, clock, fanout, caller, payload))]
#[allow(clippy::too_many_arguments)]
pub async fn incident_action(
    db: web::Data<Database>,
    fanout: web::Data<Fanout>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    calendars: web::Data<Calendars>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let value: serde_json::Value = body::json(payload, MAX_ACTION_BYTES).await?;
    let viewer = Viewer::of(&caller.user)?;
    let id = id.into_inner();
    let view = web::block(move || -> Result<IncidentView, ApiError> {
        let desk = Desk { tree: &tree, geo: &geo, calendars: &calendars };
        let now = clock.now_ms();
        let row = db
            .read(|c| store::visible_incident(c, &viewer, &id))?
            .ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))?;
        if !viewer.directs() {
            return Err(ApiError::Forbidden(format!("a {} does not direct cases", viewer.role)));
        }
        let action: IncidentAction = parse_tagged(value, "action", &LATER_ACTIONS)?;
        let actor = Actor { viewer: viewer.clone(), device_id: None };
        let outcome = db.transact(|c| -> Result<_, ApiError> {
            if let IncidentAction::Merge { into, reason } = &action {
                if store::visible_incident(c, &viewer, into)?.is_none() {
                    return Err(ApiError::Unprocessable {
                        kind: "unknown-case",
                        detail: format!("no case {into} that you may see to merge into"),
                    });
                }
                return Ok(merge::merge(c, &id, into, &actor, reason, |r| desk.timing(r), now)?);
            }
            let (command, extra) = incident_command(c, &desk, &viewer, &row, action, now)?;
            // A new grade counts from this command on: its limits time what runs after it.
            let timing = match &command {
                Command::Grade { severity, .. } => {
                    Timing::of(&tree, &calendars, &row.category_code, *severity, &row.county_code)
                }
                _ => desk.timing(&row),
            };
            Ok(act::execute(c, &id, &actor, &command, &extra, timing, now)?)
        })?;
        fanout.committed(&outcome.touched);
        let index = geo.index();
        let book = Book { tree: &tree, index: &index };
        db.read(|c| load_view(c, &viewer, &id, &book, now))?.ok_or_else(|| ApiError::NotFound(id.clone()))
    })
    .await??;
    Ok(HttpResponse::Ok().json(view))
}

/// An operation on a task by its holder or assignee, from a desk: the body of a
/// phone's mutation `op` (`accept_task`, `arrive`, `progress`, `complete_task`,
/// `confirm_task`, `return_task`, `request_extension`, `verify`).
#[utoipa::path(
    post,
    path = "/api/v1/tasks/{id}/actions",
    params(("id" = String, Path, description = "The task's id")),
    request_body(content = sync_protocol::OpKind, description = "The `op` of a socket mutation, without `task_id` (the path names the task)"),
    responses(
        (status = 200, description = "The task's case after the operation", body = IncidentView),
        (status = 400, description = "bad-request", body = crate::problem::ProblemDoc),
        (status = 403, description = "not-your-task", body = crate::problem::ProblemDoc),
        (status = 404, description = "not-found", body = crate::problem::ProblemDoc),
        (status = 409, description = "task-not-active, wrong-task-kind, illegal-transition, extension-pending, task-parked, not-parked, park-pending", body = crate::problem::ProblemDoc),
        (status = 422, description = "unknown-attachment, not-a-task-operation, invalid-command", body = crate::problem::ProblemDoc),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[post("/api/v1/tasks/{id}/actions")]
#[tracing::instrument(skip(db, tree, geo, calendars, clock, fanout, caller, payload))]
#[allow(clippy::too_many_arguments)]
pub async fn task_action(
    db: web::Data<Database>,
    fanout: web::Data<Fanout>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    calendars: web::Data<Calendars>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let value: serde_json::Value = body::json(payload, MAX_ACTION_BYTES).await?;
    let viewer = Viewer::of(&caller.user)?;
    let task_id = id.into_inner();
    let view = web::block(move || -> Result<IncidentView, ApiError> {
        let now = clock.now_ms();
        let not_found = || ApiError::NotFound(format!("no task {task_id} that you may see"));
        let task = Uuid::parse_str(&task_id).map_err(|_| not_found())?;
        let incident = db.read(|c| store::task_incident(c, &task_id))?.ok_or_else(not_found)?;
        let row = db.read(|c| store::visible_incident(c, &viewer, &incident))?.ok_or_else(not_found)?;
        let TaskOp { command, photos, .. } = desk_task_op(value, task)?;
        let actor = Actor { viewer: viewer.clone(), device_id: None };
        let timing = Timing::of_row(&tree, &calendars, &row);
        let outcome = db.transact(|c| -> Result<_, ApiError> {
            check_photos(c, &photos)?;
            Ok(act::execute(c, &incident, &actor, &command, &Extra { photos, ..Extra::default() }, timing, now)?)
        })?;
        fanout.committed(&outcome.touched);
        let index = geo.index();
        let book = Book { tree: &tree, index: &index };
        db.read(|c| load_view(c, &viewer, &incident, &book, now))?.ok_or_else(not_found)
    })
    .await??;
    Ok(HttpResponse::Ok().json(view))
}

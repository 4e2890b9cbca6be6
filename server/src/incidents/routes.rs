//! The staff routes of cases: `GET /api/v1/incidents` (a filtered page),
//! `GET /api/v1/incidents/{id}` (the case in full), `POST /api/v1/incidents/{id}/actions`
//! (accept, reject, dispatch, redispatch, extensions, verification, close) and
//! `POST /api/v1/tasks/{id}/actions` (the operations a phone sends, from a desk).
//! Handlers only translate: they read the request, resolve names to people, build a
//! workflow command ([`super::desk`]) and hand it to the one write path
//! ([`super::act::WritePath`]).

use actix_web::{HttpResponse, get, post, web};
use geodata::{AreaCode, GridIndex};
use serde::Deserialize;
use uuid::Uuid;

use super::act::{Actor, Extra, WritePath};
use super::desk::{Desk, IncidentAction, LATER_ACTIONS, desk_task_op, incident_command, parse_tagged};
use super::merge;
use super::ops::TaskOp;
use super::permissions::{self, Facts};
use super::report::Contact;
use super::scope::Viewer;
use super::store::{self, Filter};
use super::view::{self, IncidentView, Names};
use super::workflow::Case;
use crate::auth::routes::Authenticated;
use crate::body;
use crate::calendar::Calendars;
use crate::categories::CategoryTree;
use crate::clock::Clock;
use crate::error_kind::ErrorKind;
use crate::geo::Geo;
use crate::problem::ApiError;
use crate::seal::{Keyring, SealError, label};
use crate::store::{Database, DbConnection};

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
    fn takes_grade(&self, category: &str) -> bool {
        self.tree.category(category).is_some_and(|c| c.takes(Some(crate::categories::Severity::IV)).is_ok())
    }
}

/// A case in full as `viewer` may see it, or `None`; its contact opened with `keys` and
/// masked.
pub fn load_view(
    conn: &mut DbConnection,
    keys: &Keyring,
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
    let contact = open_contact(keys, &row).map_err(crate::seal::store::failed)?;
    let mut view = view::incident(&row, contact.as_ref(), tasks, limits, &events, names, now_ms);
    // What the caller may do now: one button per action, drawn from the table of who may
    // do what and the state the case is in.
    if let Ok(case) = serde_json::from_str::<Case>(&row.state) {
        let queue = row.queue();
        let facts = Facts {
            grid: &row.grid_code,
            queue: queue.as_deref(),
            level: row.level,
            case: &case,
            reporter: row.reporter_id.as_deref(),
        };
        view.allowed_actions = permissions::allowed(viewer, &facts, names.takes_grade(&row.category_code), now_ms);
        // Not a step of the loop: the unmasked contact (POST …/contact), where there is one.
        if contact.is_some() && permissions::may(viewer, permissions::Action::ReadContact, &facts, None).is_ok() {
            view.allowed_actions.push("read_contact");
        }
        for task in &mut view.tasks {
            if let Ok(id) = Uuid::parse_str(&task.id) {
                task.allowed_actions = Some(permissions::allowed_on_task(viewer, &facts, id, now_ms));
            }
        }
    }
    Ok(Some(view))
}

/// A stored case's contact details opened (`None` if it has none).
pub fn open_contact(keys: &Keyring, row: &store::IncidentRow) -> Result<Option<Contact>, SealError> {
    let contact = Contact {
        name: keys.open_opt(label::CONTACT_NAME, row.contact_name.as_deref())?,
        phone: keys.open_opt(label::CONTACT_PHONE, row.contact_phone.as_deref())?,
        id_number: keys.open_opt(label::CONTACT_ID_NUMBER, row.contact_id_number.as_deref())?,
    };
    Ok((!contact.is_empty()).then_some(contact))
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
    /// Deadline lights, comma-separated (`green`, `yellow`, `red`): the light the timer
    /// last raised on the current step, as the map colours it.
    light: Option<String>,
    /// The case with this human number (`2026-0000123`), as a caller reads it out to
    /// the hotline.
    code: Option<String>,
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
    // A comma-separated list of names, blanks dropped.
    let names = |list: Option<&str>| -> Vec<String> {
        list.map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let statuses = names(query.status.as_deref());
    let lights = names(query.light.as_deref());
    if let Some(bad) = lights.iter().find(|l| !["green", "yellow", "red"].contains(&l.as_str())) {
        return Err(ApiError::BadRequest(format!("light {bad:?}: green, yellow or red")));
    }
    let now = clock.now_ms();
    let filter = Filter {
        statuses,
        lights,
        level: query.level,
        category: query.category,
        area,
        overdue: query.overdue,
        now_ms: now,
        ids: None,
        code: query.code.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()),
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
            let keys = db.keys().map_err(ApiError::internal)?;
            Ok::<_, ApiError>(db.read(|c| load_view(c, keys, &viewer, &id, &book, clock.now_ms()))?)
        })
        .await??
    };
    let view = found.ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))?;
    Ok(HttpResponse::Ok().json(view))
}

/// The ids among `photos` that are malformed or not uploaded: 422 `unknown-attachment`.
pub fn check_photos(conn: &mut DbConnection, photos: &[String]) -> Result<(), ApiError> {
    if photos.len() > 9 {
        return Err(ApiError::Refused { kind: ErrorKind::TooManyPhotos, detail: "at most 9 photos".into() });
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
        Err(ApiError::Refused {
            kind: ErrorKind::UnknownAttachment,
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
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[post("/api/v1/incidents/{id}/actions")]
#[tracing::instrument(skip(db, path, tree, geo, calendars, clock, caller, payload))]
#[allow(clippy::too_many_arguments)]
pub async fn incident_action(
    db: web::Data<Database>,
    path: web::Data<WritePath>,
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
    // The table's row for the action the body names (parsed below: a name without a row
    // is no action, and is refused as the body it is).
    let door = value.get("action").and_then(|a| a.as_str()).and_then(|name| {
        permissions::route_rules("post", "/api/v1/incidents/{id}/actions").find(|r| r.op == Some(name))
    });
    let step = match door.map(|r| r.door) {
        Some(permissions::Door::Case(step)) => Some(step),
        _ => None,
    };
    let action: IncidentAction = parse_tagged(value, "action", &LATER_ACTIONS)?;
    let view = web::block(move || -> Result<IncidentView, ApiError> {
        let desk = Desk { tree: &tree, geo: &geo, calendars: &calendars };
        let now = clock.now_ms();
        let actor = Actor { viewer: viewer.clone(), device_id: None };
        path.run(|tx| -> Result<_, ApiError> {
            if let Some(step) = step {
                gate(tx.conn(), &viewer, &id, step)?;
            }
            if let IncidentAction::Merge { into, reason } = &action {
                if store::visible_incident(tx.conn(), &viewer, into)?.is_none() {
                    return Err(ApiError::Refused {
                        kind: ErrorKind::UnknownCase,
                        detail: format!("no case {into} that you may see to merge into"),
                    });
                }
                merge::merge(tx, &id, into, &actor, reason, now)?;
                return Ok(());
            }
            let graded = matches!(action, IncidentAction::Grade { .. });
            let outcome =
                tx.act(&id, &actor, now, |c, fresh| incident_command(c, &desk, &viewer, fresh, action, now))?;
            if graded {
                // A grave grade confirmed by staff lets the rules act as on arrival.
                crate::routing::dispatch::on_grade(tx, &desk, &outcome.row, now)?;
            }
            // A check passed on a self-handled finding closes it at once.
            super::self_handled::close_if_checked(tx, &outcome, now)?;
            Ok(())
        })?;
        let index = geo.index();
        let book = Book { tree: &tree, index: &index };
        let keys = db.keys().map_err(ApiError::internal)?;
        db.read(|c| load_view(c, keys, &viewer, &id, &book, now))?.ok_or_else(|| ApiError::NotFound(id.clone()))
    })
    .await??;
    Ok(HttpResponse::Ok().json(view))
}

/// The table first, before anything the body names is looked up or judged: a case outside
/// the caller's view does not exist for them (404), and a step their role may not take is
/// refused as such (403), whatever else is wrong with what they asked (a target, a grade,
/// the case to merge into). The write path asks the table again, under the case's lock.
fn gate(conn: &mut DbConnection, viewer: &Viewer, id: &str, step: permissions::Action) -> Result<(), ApiError> {
    let row = store::visible_incident(conn, viewer, id)?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))?;
    let case: Case = serde_json::from_str(&row.state).map_err(ApiError::internal)?;
    let queue = row.queue();
    let facts = Facts {
        grid: &row.grid_code,
        queue: queue.as_deref(),
        level: row.level,
        case: &case,
        reporter: row.reporter_id.as_deref(),
    };
    permissions::may(viewer, step, &facts, None)
        .map_err(|denied| ApiError::Refused { kind: denied.kind, detail: denied.detail })
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
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[post("/api/v1/tasks/{id}/actions")]
#[tracing::instrument(skip(db, path, tree, geo, clock, caller, payload))]
#[allow(clippy::too_many_arguments)]
pub async fn task_action(
    db: web::Data<Database>,
    path: web::Data<WritePath>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
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
        // A malformed op is refused as such whatever task it names, as on the socket.
        let TaskOp { command, photos, position, .. } = desk_task_op(value, task)?;
        let incident = db.read(|c| store::task_incident(c, &task_id))?.ok_or_else(not_found)?;
        let actor = Actor { viewer: viewer.clone(), device_id: None };
        path.run(|tx| -> Result<_, ApiError> {
            check_photos(tx.conn(), &photos)?;
            let extra = Extra { photos, position, ..Extra::default() };
            let outcome =
                tx.act(&incident, &actor, now, |_, _| Ok::<_, ApiError>((command, extra))).map_err(|e| match e {
                    ApiError::NotFound(_) => not_found(),
                    other => other,
                })?;
            // A check passed on site on a self-handled finding closes it at once.
            super::self_handled::close_if_checked(tx, &outcome, now)?;
            Ok(())
        })?;
        let index = geo.index();
        let book = Book { tree: &tree, index: &index };
        let keys = db.keys().map_err(ApiError::internal)?;
        db.read(|c| load_view(c, keys, &viewer, &incident, &book, now))?.ok_or_else(not_found)
    })
    .await??;
    Ok(HttpResponse::Ok().json(view))
}

//! Who may do what (docs/domain.md, "Who may do what"): one table of role × action ×
//! area, consulted by every door through the one write path ([`super::act`]), and the
//! source of every case view's `allowed_actions`.
//!
//! Area comes first and is not decided here: a case outside the caller's area does not
//! exist for them (the store's visibility rule answers 404). Inside their area, [`RULES`]
//! says which role may take which step, and against which unit: the centre whose queue
//! holds the case, any centre, a centre above the level handling it, the task's own
//! people. Whether the case's state allows the step is the workflow's to say; a view's
//! `allowed_actions` asks both (see [`allowed`]).

use geodata::{AreaCode, Level};

use super::scope::Viewer;
use super::workflow::{Assignment, Case, Command, Target, TaskId, TaskStatus, decide};
use crate::auth::Role;
use crate::error_kind::ErrorKind;

/// A step a person may ask of a case, as the table names it. Several commands share one
/// (a grant and a refusal of more time are both [`Action::AnswerExtension`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// 受理 (with or without 核实).
    Accept,
    /// 不予受理.
    Reject,
    /// 并单.
    Merge,
    /// 派遣.
    Dispatch,
    /// 改派.
    Redispatch,
    /// 抄告.
    Inform,
    /// 上报.
    Escalate,
    /// Grant or refuse more time (延期).
    AnswerExtension,
    /// Approve or refuse parking (挂账).
    AnswerPark,
    /// Start a parked task's clock again.
    ResumeTask,
    /// Send a handled case to someone to check on site.
    RequestVerification,
    /// 核查, from a desk.
    Verify,
    /// 结案.
    Close,
    /// 重新办理.
    Reopen,
    /// 定级.
    Grade,
    /// 督办.
    Flag,
    /// 回访: the reporter's rating of a closed case, taken by phone and recorded for them.
    Rate,
    /// An operation on a task (签收, 到场, 反馈, 回退, 延期申请, 挂账申请, 核实, 核查 on site).
    TaskOp,
    /// Read the reporter's contact unmasked, with a reason; each read traced (查看联系方式).
    ReadContact,
    /// The server's own steps (deadline alarms, re-placement): no person takes them.
    System,
}

/// Whom a rule lets take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The centre whose queue holds the case (its township's until escalated), or any
    /// centre above that one.
    QueueCentreOrAbove,
    /// Only the centre whose queue holds the case.
    QueueCentre,
    /// Any command centre (city, county, township) whose area holds the case.
    Centres,
    /// Centres, and community staff (who send work only to their own community's grids).
    CentresAndCommunity,
    /// A centre of a level above the one handling the case.
    CentreAboveHandling,
    /// The 12345 hotline's operators and the command centres: whoever calls a reporter
    /// back (回访).
    HotlineAndCentres,
    /// The task's assignees while it is open; once taken, its holder.
    TaskPeople,
    /// Any command centre (city, county, township) whose area holds the case, and the
    /// 12345 hotline operator who filed it.
    CentresAndFiler,
    /// Nobody but the server itself.
    Nobody,
}

/// The table: for each action, who may take it. Written once; every door and every view
/// reads it.
pub const RULES: &[(Action, Who)] = &[
    (Action::Accept, Who::QueueCentreOrAbove),
    (Action::Reject, Who::QueueCentreOrAbove),
    (Action::Merge, Who::QueueCentreOrAbove),
    (Action::Dispatch, Who::CentresAndCommunity),
    (Action::Redispatch, Who::CentresAndCommunity),
    (Action::Inform, Who::CentresAndCommunity),
    (Action::Escalate, Who::QueueCentre),
    (Action::AnswerExtension, Who::Centres),
    (Action::AnswerPark, Who::Centres),
    (Action::ResumeTask, Who::Centres),
    (Action::RequestVerification, Who::CentresAndCommunity),
    (Action::Verify, Who::CentresAndCommunity),
    (Action::Close, Who::QueueCentreOrAbove),
    (Action::Reopen, Who::QueueCentreOrAbove),
    (Action::Grade, Who::QueueCentreOrAbove),
    (Action::Flag, Who::CentreAboveHandling),
    (Action::Rate, Who::HotlineAndCentres),
    (Action::TaskOp, Who::TaskPeople),
    (Action::ReadContact, Who::CentresAndFiler),
    (Action::System, Who::Nobody),
];

/// Every action of the table, in its order.
pub fn actions() -> impl Iterator<Item = Action> {
    RULES.iter().map(|(a, _)| *a)
}

/// Who may take `action`.
pub fn who(action: Action) -> Who {
    RULES.iter().find(|(a, _)| *a == action).map_or(Who::Nobody, |(_, w)| *w)
}

impl Action {
    /// The table's action for a workflow command.
    pub fn of(command: &Command) -> Action {
        match command {
            Command::Accept { .. } => Action::Accept,
            Command::Reject { .. } => Action::Reject,
            Command::Merge { .. } | Command::Absorb { .. } => Action::Merge,
            Command::Dispatch { .. } => Action::Dispatch,
            Command::Redispatch { .. } => Action::Redispatch,
            Command::Inform { .. } => Action::Inform,
            Command::Escalate { .. } => Action::Escalate,
            Command::AnswerExtension { .. } => Action::AnswerExtension,
            Command::AnswerPark { .. } => Action::AnswerPark,
            Command::Resume { .. } => Action::ResumeTask,
            Command::RequestVerification { .. } => Action::RequestVerification,
            Command::Verify { task: None, .. } => Action::Verify,
            Command::Close => Action::Close,
            Command::Reopen { .. } => Action::Reopen,
            Command::Grade { .. } => Action::Grade,
            Command::Flag { .. } => Action::Flag,
            Command::AcceptTask { .. }
            | Command::Arrive { .. }
            | Command::Progress { .. }
            | Command::CompleteTask { .. }
            | Command::ConfirmTask { .. }
            | Command::ReturnTask { .. }
            | Command::RequestExtension { .. }
            | Command::RequestPark { .. }
            | Command::Verify { task: Some(_), .. } => Action::TaskOp,
            // A reporter's own rating comes through the follow link as the server's step;
            // a rating taken by phone is the caller's, recorded by staff.
            Command::Rate { .. } => Action::Rate,
            Command::Warn { .. } | Command::Overdue { .. } | Command::Replace { .. } => Action::System,
            // A sensor's alarm: its key checked at the door, the server records it for it.
            Command::SensorAlarm { .. } => Action::System,
        }
    }
}

/// What the table needs to know of a case: where it lies and whose queue holds it, the
/// level handling it, and its tasks (for [`Who::TaskPeople`]).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The grid it lies in.
    pub grid: &'a str,
    /// The unit whose centre's queue holds the case.
    pub queue: Option<&'a str>,
    /// The level handling it (1–5).
    pub level: i32,
    /// Its state.
    pub case: &'a Case,
    /// The staff user who filed it (a hotline operator for a call), if one did.
    pub reporter: Option<&'a str>,
}

/// Why the table refused: said to the caller as 403, `not-your-task` for a task that is
/// someone else's, `forbidden` for everything else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Denied {
    /// The kind of error: [`ErrorKind::Forbidden`] or [`ErrorKind::NotYourTask`].
    pub kind: ErrorKind,
    /// Why, for people.
    pub detail: String,
}

impl Denied {
    /// A refusal of the caller's role.
    pub fn forbidden(detail: impl Into<String>) -> Denied {
        Denied { kind: ErrorKind::Forbidden, detail: detail.into() }
    }
}

fn is_centre(role: Role) -> bool {
    matches!(role, Role::CityCentre | Role::CountyCentre | Role::TownshipCentre)
}

/// The task a task operation names.
fn task_of(command: &Command) -> Option<TaskId> {
    match command {
        Command::AcceptTask { task }
        | Command::Arrive { task }
        | Command::Progress { task, .. }
        | Command::CompleteTask { task, .. }
        | Command::ConfirmTask { task, .. }
        | Command::ReturnTask { task, .. }
        | Command::RequestExtension { task, .. }
        | Command::RequestPark { task, .. }
        | Command::Redispatch { task, .. }
        | Command::AnswerExtension { task, .. }
        | Command::AnswerPark { task, .. }
        | Command::Resume { task, .. } => Some(*task),
        Command::Verify { task, .. } => *task,
        _ => None,
    }
}

/// Whether `viewer` may take `action` on a case with these facts (its area aside: the
/// case is one they see), naming `task` for a task operation.
pub fn may(viewer: &Viewer, action: Action, facts: &Facts<'_>, task: Option<TaskId>) -> Result<(), Denied> {
    let role = viewer.role;
    let deny = |why: String| Err(Denied::forbidden(why));
    let queue_covered = |exact: bool| {
        let Some(queue) = facts.queue.and_then(|q| AreaCode::parse(q).ok()) else { return false };
        match AreaCode::parse(&viewer.unit_code) {
            Ok(own) if exact => own == queue,
            Ok(own) => own.contains(&queue),
            Err(_) => false,
        }
    };
    let queue = facts.queue.unwrap_or("?");
    match who(action) {
        Who::QueueCentreOrAbove if is_centre(role) && queue_covered(false) => Ok(()),
        Who::QueueCentreOrAbove => {
            deny(format!("the case is in the queue of {queue}: that centre or one above it does this, not a {role}"))
        }
        Who::QueueCentre if is_centre(role) && queue_covered(true) => Ok(()),
        Who::QueueCentre => deny(format!("the case is in the queue of {queue}: only that centre does this")),
        Who::Centres if is_centre(role) => Ok(()),
        Who::Centres => deny(format!("command centres do this, not a {role}")),
        Who::CentresAndCommunity if is_centre(role) || role == Role::CommunityStaff => Ok(()),
        Who::CentresAndCommunity => deny(format!("command centres and community staff do this, not a {role}")),
        Who::CentreAboveHandling
            if is_centre(role) && viewer.level().is_some_and(|l| i32::from(l.number()) < facts.level) =>
        {
            Ok(())
        }
        Who::CentreAboveHandling => {
            deny(format!("a flag (督办) comes from a centre above the level handling the case (level {})", facts.level))
        }
        Who::HotlineAndCentres if is_centre(role) || role == Role::HotlineOperator => Ok(()),
        Who::HotlineAndCentres => {
            deny(format!("the hotline and the command centres call reporters back, not a {role}"))
        }
        Who::CentresAndFiler if is_centre(role) => Ok(()),
        Who::CentresAndFiler
            if role == Role::HotlineOperator && facts.reporter == Some(viewer.id.to_string().as_str()) =>
        {
            Ok(())
        }
        Who::CentresAndFiler => {
            deny(format!("command centres, and the hotline operator who filed the case, do this; not a {role}"))
        }
        Who::TaskPeople => {
            let found = task.and_then(|id| facts.case.tasks.iter().find(|t| t.id == id));
            // An unknown task is the workflow's to refuse (no-such-task), not the table's.
            let Some(t) = found else { return Ok(()) };
            let theirs = match t.holder {
                Some(holder) => holder == viewer.id,
                None => t.assignees.contains(&viewer.id),
            };
            if theirs {
                Ok(())
            } else {
                Err(Denied { kind: ErrorKind::NotYourTask, detail: format!("task {} is not yours", t.id) })
            }
        }
        Who::Nobody => deny("only the server itself does this".into()),
    }
}

/// Whether `viewer` files a report at `grid` as staff (on a caller's behalf, or their own
/// finding) rather than as anyone: the place lies in their area — for a grid worker, in
/// their own grid's community. Anyone else's report is a resident's.
pub fn files_at(viewer: &Viewer, grid: &str) -> bool {
    let Ok(place) = AreaCode::parse(grid) else { return false };
    match (viewer.role, &viewer.area) {
        (Role::GridWorker, crate::incidents::scope::Area::Unit(own)) => {
            own.parent().is_some_and(|community| community.contains(&place))
        }
        (Role::DepartmentStaff, _) => false,
        _ => viewer.covers(&place),
    }
}

/// What a door answers someone who asks for a step on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 404: the case is not in their area and they were sent no task of it; for them it
    /// does not exist.
    NotFound,
    /// 403: they see the case, but their role may not take this step.
    Forbidden(Denied),
    /// The step is theirs to take (the workflow still judges the state).
    Allowed,
}

/// Whether `viewer` sees the case: it lies in their area, or they were sent a task of it.
/// The pure twin of the store's visibility rule, which lists cases by the same test.
pub fn sees(viewer: &Viewer, facts: &Facts<'_>) -> bool {
    let in_area = AreaCode::parse(facts.grid).is_ok_and(|grid| viewer.covers(&grid));
    in_area || facts.case.tasks.iter().any(|t| t.assignees.contains(&viewer.id))
}

/// The whole rule, area first: what a door answers `viewer` asking for `action` (on
/// `task`, for a task operation) on a case with these facts.
pub fn answer(viewer: &Viewer, action: Action, facts: &Facts<'_>, task: Option<TaskId>) -> Answer {
    if !sees(viewer, facts) {
        return Answer::NotFound;
    }
    match may(viewer, action, facts, task) {
        Ok(()) => Answer::Allowed,
        Err(denied) => Answer::Forbidden(denied),
    }
}

/// Whether `viewer` may send work (or word) to `target` with `action`: community staff only
/// to the grids of their own community; everyone else anywhere their area holds (checked
/// where the target is resolved).
pub fn may_target(viewer: &Viewer, target: &Target) -> Result<(), Denied> {
    if viewer.role != Role::CommunityStaff {
        return Ok(());
    }
    let own = AreaCode::parse(&viewer.unit_code).ok();
    let inside = match target {
        Target::Grid(code) => AreaCode::parse(code).ok().zip(own).is_some_and(|(g, own)| own.contains(&g)),
        _ => false,
    };
    if inside {
        Ok(())
    } else {
        Err(Denied::forbidden("community staff send work only to the grids of their own community"))
    }
}

/// Checks a command against the table, and its targets; the server itself may do anything.
pub fn authorize(viewer: &Viewer, system: bool, command: &Command, facts: &Facts<'_>) -> Result<(), Denied> {
    if system {
        return Ok(());
    }
    may(viewer, Action::of(command), facts, task_of(command))?;
    let targets: Vec<&Target> = match command {
        Command::Dispatch { lead, assist } => std::iter::once(lead).chain(assist).map(|a| &a.target).collect(),
        Command::Redispatch { to, .. } | Command::RequestVerification { task: to } => vec![&to.target],
        _ => Vec::new(),
    };
    for target in targets {
        may_target(viewer, target)?;
    }
    if let Command::Inform { units, .. } = command {
        for unit in units {
            may_target(viewer, &Target::Grid(unit.clone()))
                .map_err(|_| Denied::forbidden("community staff inform only the grids of their own community"))?;
        }
    }
    Ok(())
}

/// Work sent to someone, as the probes of [`allowed`] and [`allowed_on_task`] name it: the
/// workflow judges only that somebody stands behind it.
fn probe_assignment() -> Assignment {
    Assignment {
        task: TaskId::nil(),
        target: Target::Unit(String::new()),
        assignees: vec![TaskId::max()],
        due_ms: None,
        level: None,
    }
}

/// The names of the actions on a case itself that `viewer` may take now: the table
/// allows them and the case's state does (the workflow accepts a representative
/// command). `takes_grade` says whether the case's category takes a grade at all.
pub fn allowed(viewer: &Viewer, facts: &Facts<'_>, takes_grade: bool, now_ms: i64) -> Vec<&'static str> {
    let case = facts.case;
    let (someone, reason) = (probe_assignment(), || "-".to_owned());
    let escalate_to = facts
        .queue
        .and_then(|q| AreaCode::parse(q).ok())
        .and_then(|q| (q.level() != Level::City).then(|| "up".to_owned()));
    let mut probes: Vec<(&'static str, Command)> = vec![
        ("accept", Command::Accept { confirm: None }),
        ("reject", Command::Reject { reason: reason() }),
        ("merge", Command::Merge { into: "-".into(), reason: reason() }),
        ("dispatch", Command::Dispatch { lead: someone.clone(), assist: vec![] }),
        (
            "escalate",
            Command::Escalate { from: facts.queue.unwrap_or_default().to_owned(), to: escalate_to, reason: reason() },
        ),
        ("request_verification", Command::RequestVerification { task: someone }),
        ("verify", Command::Verify { task: None, passed: true, note: String::new() }),
        ("close", Command::Close),
        ("reopen", Command::Reopen { reason: reason() }),
        ("flag", Command::Flag { note: reason() }),
        ("inform", Command::Inform { units: vec!["-".into()], note: reason() }),
        ("rate", Command::Rate { rating: super::workflow::Rating::Satisfied }),
    ];
    if takes_grade {
        let other = if case.severity.is_some() { None } else { Some(crate::categories::Severity::IV) };
        probes.push(("grade", Command::Grade { severity: other, reason: reason() }));
    }
    probes
        .into_iter()
        .filter(|(_, command)| {
            may(viewer, Action::of(command), facts, None).is_ok() && decide(case, viewer.id, command, now_ms).is_ok()
        })
        .map(|(name, _)| name)
        .collect()
}

/// The names of the operations on task `task` that `viewer` may take now, from a desk
/// (改派, 延期 and 挂账 answers, resumption) or as its holder (签收 … 反馈).
pub fn allowed_on_task(viewer: &Viewer, facts: &Facts<'_>, task: TaskId, now_ms: i64) -> Vec<&'static str> {
    let case = facts.case;
    let Some(t) = case.tasks.iter().find(|t| t.id == task) else { return Vec::new() };
    if !t.status.is_active() && t.status != TaskStatus::Returned {
        return Vec::new();
    }
    let (someone, reason) = (probe_assignment(), || "-".to_owned());
    let later = t.due_ms.unwrap_or(now_ms).max(now_ms) + 86_400_000;
    let probes: Vec<(&'static str, Command)> = vec![
        ("accept_task", Command::AcceptTask { task }),
        ("arrive", Command::Arrive { task }),
        ("progress", Command::Progress { task, note: reason() }),
        ("complete_task", Command::CompleteTask { task, result: reason() }),
        ("confirm_task", Command::ConfirmTask { task, exists: true }),
        ("verify", Command::Verify { task: Some(task), passed: true, note: String::new() }),
        ("return_task", Command::ReturnTask { task, reason: reason() }),
        ("request_extension", Command::RequestExtension { task, until_ms: later, reason: reason() }),
        ("request_park", Command::RequestPark { task, reason: reason(), until_ms: None }),
        ("redispatch", Command::Redispatch { task, to: someone }),
        ("approve_extension", Command::AnswerExtension { task, approve: true, until_ms: None, reason: String::new() }),
        ("refuse_extension", Command::AnswerExtension { task, approve: false, until_ms: None, reason: reason() }),
        ("approve_park", Command::AnswerPark { task, approve: true, reason: String::new() }),
        ("refuse_park", Command::AnswerPark { task, approve: false, reason: reason() }),
        ("resume_task", Command::Resume { task, due_ms: None }),
    ];
    probes
        .into_iter()
        .filter(|(_, command)| {
            may(viewer, Action::of(command), facts, Some(task)).is_ok()
                && decide(case, viewer.id, command, now_ms).is_ok()
        })
        .map(|(name, _)| name)
        .collect()
}

/// The roles that take cases in, route, verify and close them: the centres, community
/// staff, and the administrator, who sees what they see ([`Viewer::directs`]).
pub const DIRECTING: &[Role] =
    &[Role::Administrator, Role::CityCentre, Role::CountyCentre, Role::TownshipCentre, Role::CommunityStaff];

/// The desks that read an area's map and figures ([`Viewer::desk_area`]): the directing
/// roles and the hotline, which reads its area's cases back to callers.
pub const DESKS: &[Role] = &[
    Role::Administrator,
    Role::CityCentre,
    Role::CountyCentre,
    Role::TownshipCentre,
    Role::CommunityStaff,
    Role::HotlineOperator,
];

/// Who may come through a door of the API (an HTTP route, a socket op), before the
/// workflow judges what they ask. The other half of the table: [`RULES`] says who may take
/// a step on a case; [`ROUTE_RULES`] and [`SOCKET_RULES`] say which door leads to which
/// rule, and who may use the doors that touch no case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Anyone, with no credentials at all.
    Public,
    /// An Open311 client, with an API key the server issued (`invalid-api-key` otherwise).
    Open311Key,
    /// A sensor, with its own key (401 otherwise).
    SensorKey,
    /// A report's follow token (its reporter): without it the report does not exist (404).
    FollowToken,
    /// Any session (401 without one).
    Session,
    /// A session of one of these roles; 403 for the others.
    Roles(&'static [Role]),
    /// A desk of one of these roles; 403 for the others, and for an `area` asked outside
    /// their own.
    DeskArea(&'static [Role]),
    /// A session that sees the case the path names (by the case, its task or its photo):
    /// 404 for everyone else ([`sees`]).
    SeesCase,
    /// A session whose area holds the grid the path names (404 otherwise), of one of these
    /// roles (403 otherwise).
    SeesGrid(&'static [Role]),
    /// A step on the case the path names, as [`RULES`] says ([`answer`]: 404 outside the
    /// caller's view, 403 for a role the rule leaves out).
    Case(Action),
    /// A worker's own finding: a grid worker, within their own grid's community
    /// ([`files_at`]); 403 otherwise.
    Finding,
}

/// One door of the HTTP API: a route of `openapi::ROUTES`, or one of the operations a
/// route's body selects (`action` of a case's actions, `kind` of a task's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    /// `get`, `post`, `put` or `delete`, as in `openapi::ROUTES`.
    pub method: &'static str,
    /// The path as routed, as in `openapi::ROUTES`.
    pub path: &'static str,
    /// The operation the body names, for a route that takes several.
    pub op: Option<&'static str>,
    /// Who may come through.
    pub door: Door,
}

const fn route(method: &'static str, path: &'static str, door: Door) -> RouteRule {
    RouteRule { method, path, op: None, door }
}

const fn op(method: &'static str, path: &'static str, name: &'static str, door: Door) -> RouteRule {
    RouteRule { method, path, op: Some(name), door }
}

const ADMIN: Door = Door::Roles(&[Role::Administrator]);
const CASE_ACTIONS: &str = "/api/v1/incidents/{id}/actions";
const TASK_ACTIONS: &str = "/api/v1/tasks/{id}/actions";

/// The route half of the table: every route of `openapi::ROUTES`, and who may use it
/// (a unit test fails on a route without a row, and on a row without a route; the
/// authorization matrix, `mobile-api-tests/tests/api/authz.rs`, tries each row on a real
/// server with every role, inside and outside its area).
pub const ROUTE_RULES: &[RouteRule] = &[
    route("get", "/healthz", Door::Public),
    route("get", "/api/v1/locate", Door::Public),
    route("get", "/api/v1/grids", Door::Public),
    route("get", "/api/v1/map", Door::Public),
    route("get", "/api/v1/map/tiles/{z}/{x}/{y}", Door::Public),
    route("get", "/api/v1/map/cases", Door::DeskArea(DESKS)),
    route("get", "/api/v1/stats", Door::DeskArea(DESKS)),
    route("get", "/api/v1/stats/heat", Door::DeskArea(DESKS)),
    route("get", "/api/v1/categories", Door::Public),
    route("post", "/api/v1/auth/login", Door::Public),
    route("post", "/api/v1/auth/refresh", Door::Public),
    route("post", "/api/v1/auth/logout", Door::Session),
    route("get", "/api/v1/me", Door::Session),
    // Accounts are the administrator's (docs/domain.md: "manages accounts").
    route("get", "/api/v1/users", ADMIN),
    route("post", "/api/v1/users", ADMIN),
    route("get", "/api/v1/users/{id}", ADMIN),
    route("post", "/api/v1/users/{id}/disable", ADMIN),
    route("post", "/api/v1/users/{id}/enable", ADMIN),
    route("post", "/api/v1/users/{id}/password", ADMIN),
    route("delete", "/api/v1/users/{id}/devices/{device_id}", ADMIN),
    // Anyone may upload a photo for a report; it is read through a case that holds it.
    route("post", "/api/v1/attachments", Door::Public),
    route("get", "/api/v1/attachments/{id}", Door::SeesCase),
    route("post", "/api/v1/reports", Door::Public),
    route("get", "/api/v1/reports/{id}", Door::FollowToken),
    route("post", "/api/v1/reports/{id}/rating", Door::FollowToken),
    route("put", "/api/v1/reports/{id}/push", Door::FollowToken),
    route("delete", "/api/v1/reports/{id}/push", Door::FollowToken),
    // Every session lists the cases it sees (a department: those it was sent).
    route("get", "/api/v1/incidents", Door::Session),
    route("get", "/api/v1/incidents/{id}", Door::SeesCase),
    route("get", "/api/v1/incidents/{id}/trace", Door::SeesCase),
    route("post", "/api/v1/incidents/{id}/contact", Door::Case(Action::ReadContact)),
    op("post", CASE_ACTIONS, "accept", Door::Case(Action::Accept)),
    op("post", CASE_ACTIONS, "reject", Door::Case(Action::Reject)),
    op("post", CASE_ACTIONS, "merge", Door::Case(Action::Merge)),
    op("post", CASE_ACTIONS, "dispatch", Door::Case(Action::Dispatch)),
    op("post", CASE_ACTIONS, "redispatch", Door::Case(Action::Redispatch)),
    op("post", CASE_ACTIONS, "inform", Door::Case(Action::Inform)),
    op("post", CASE_ACTIONS, "escalate", Door::Case(Action::Escalate)),
    op("post", CASE_ACTIONS, "approve_extension", Door::Case(Action::AnswerExtension)),
    op("post", CASE_ACTIONS, "refuse_extension", Door::Case(Action::AnswerExtension)),
    op("post", CASE_ACTIONS, "approve_park", Door::Case(Action::AnswerPark)),
    op("post", CASE_ACTIONS, "refuse_park", Door::Case(Action::AnswerPark)),
    op("post", CASE_ACTIONS, "resume_task", Door::Case(Action::ResumeTask)),
    op("post", CASE_ACTIONS, "request_verification", Door::Case(Action::RequestVerification)),
    op("post", CASE_ACTIONS, "verify", Door::Case(Action::Verify)),
    op("post", CASE_ACTIONS, "close", Door::Case(Action::Close)),
    op("post", CASE_ACTIONS, "reopen", Door::Case(Action::Reopen)),
    op("post", CASE_ACTIONS, "grade", Door::Case(Action::Grade)),
    op("post", CASE_ACTIONS, "flag", Door::Case(Action::Flag)),
    op("post", CASE_ACTIONS, "rate", Door::Case(Action::Rate)),
    op("post", TASK_ACTIONS, "accept_task", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "arrive", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "progress", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "complete_task", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "confirm_task", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "return_task", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "request_extension", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "request_park", Door::Case(Action::TaskOp)),
    op("post", TASK_ACTIONS, "resume_task", Door::Case(Action::ResumeTask)),
    op("post", TASK_ACTIONS, "verify", Door::Case(Action::TaskOp)),
    route("get", "/api/v1/inbox", Door::Roles(DIRECTING)),
    route("get", "/api/v1/incidents/{id}/suggestion", Door::SeesCase),
    route("put", "/api/v1/incidents/{id}/presence", Door::SeesCase),
    route("delete", "/api/v1/incidents/{id}/presence", Door::SeesCase),
    route("get", "/api/v1/workers/positions", Door::Roles(DIRECTING)),
    route("get", "/api/v1/grids/{code}/roster", Door::SeesGrid(&Role::ALL)),
    route("put", "/api/v1/grids/{code}/roster", Door::SeesGrid(DIRECTING)),
    route("get", "/api/v1/sync", Door::Session),
    route("get", "/api/v1/tasks", Door::Session),
    route("get", "/api/v1/push/key", Door::Public),
    // A session's own devices; waking another user's is the administrator's (in the body).
    route("put", "/api/v1/push/subscription", Door::Session),
    route("get", "/api/v1/push/subscription", Door::Session),
    route("delete", "/api/v1/push/subscription", Door::Session),
    route("post", "/api/v1/push/test", Door::Session),
    route("get", "/api/v1/keys", ADMIN),
    route("post", "/api/v1/keys", ADMIN),
    route("delete", "/api/v1/keys/{id}", ADMIN),
    route("get", "/open311/v2/discovery.{format}", Door::Public),
    route("get", "/open311/v2/services.{format}", Door::Public),
    route("get", "/open311/v2/services/{service_code}.{format}", Door::Public),
    route("get", "/open311/v2/requests.{format}", Door::Public),
    route("post", "/open311/v2/requests.{format}", Door::Open311Key),
    route("get", "/open311/v2/requests/{service_request_id}.{format}", Door::Public),
    route("get", "/open311/v2/tokens/{token}.{format}", Door::Public),
    route("get", "/api/v1/sensors", ADMIN),
    route("post", "/api/v1/sensors", ADMIN),
    route("delete", "/api/v1/sensors/{id}", ADMIN),
    route("post", "/api/v1/sensors/{id}/alarms", Door::SensorKey),
];

/// The socket half of the table: each op a phone may send over `/api/v1/sync` (by its
/// `kind`), and who may send it (a unit test fails on a `sync_protocol::OpKind` without a
/// row).
pub const SOCKET_RULES: &[(&str, Door)] = &[
    ("accept_task", Door::Case(Action::TaskOp)),
    ("arrive", Door::Case(Action::TaskOp)),
    ("progress", Door::Case(Action::TaskOp)),
    ("complete_task", Door::Case(Action::TaskOp)),
    ("confirm_task", Door::Case(Action::TaskOp)),
    ("return_task", Door::Case(Action::TaskOp)),
    ("request_extension", Door::Case(Action::TaskOp)),
    ("request_park", Door::Case(Action::TaskOp)),
    ("resume_task", Door::Case(Action::ResumeTask)),
    ("verify", Door::Case(Action::TaskOp)),
    ("report_incident", Door::Finding),
    // A position is a grid worker's, kept while they work (docs/domain.md: workers' positions).
    ("location", Door::Roles(&[Role::GridWorker])),
    // Going off duty forgets the position: only a position's owner has one to forget.
    ("off_duty", Door::Roles(&[Role::GridWorker])),
];

/// The door of socket op `kind` (`None`: not an op of the table).
pub fn socket_door(kind: &str) -> Option<Door> {
    SOCKET_RULES.iter().find(|(name, _)| *name == kind).map(|(_, door)| *door)
}

/// The rows of the route `method` `path` (several when its body selects an operation).
pub fn route_rules<'a>(method: &'a str, path: &'a str) -> impl Iterator<Item = &'static RouteRule> + 'a {
    ROUTE_RULES.iter().filter(move |r| r.method.eq_ignore_ascii_case(method) && r.path == path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use uuid::Uuid;

    use super::*;
    use crate::incidents::scope::Area;
    use crate::incidents::workflow::{Event, TaskId};

    const GRID: &str = "321302001001001";
    const HOLDER: u128 = 50;
    const DEPT: u128 = 60;

    fn viewer(n: u128, role: Role, unit: &str) -> Viewer {
        let area = match role {
            Role::Administrator => Area::All,
            Role::DepartmentStaff => Area::None,
            _ => Area::Unit(AreaCode::parse(unit).unwrap()),
        };
        Viewer { id: Uuid::from_u128(n), role, unit_code: unit.to_owned(), area }
    }

    /// A case in `GRID`, dispatched to its worker (who took it) with a department assisting.
    fn dispatched() -> (Case, TaskId) {
        let (lead, assist) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut case = Case::reported(0);
        case.apply(&Event::Registered, 0);
        let to = |task, target, who| Assignment {
            task,
            target,
            assignees: vec![who],
            due_ms: Some(86_400_000),
            level: Some(5),
        };
        let lead_task = to(lead, Target::Grid(GRID.into()), Uuid::from_u128(HOLDER));
        let assist_task = to(assist, Target::Department("D01".into()), Uuid::from_u128(DEPT));
        case.apply(&Event::Dispatched { lead: lead_task, assist: vec![assist_task] }, 0);
        case.apply(&Event::TaskAccepted { task: lead, by: Uuid::from_u128(HOLDER) }, 0);
        (case, lead)
    }

    /// Every role, in the case's area (or sent a task of it) and outside it; the answers
    /// expected for the actions of [`RULES`], in its order: `A` allowed, `F` forbidden (403),
    /// `N` not found (404). Written from the table of docs/domain.md, not from the code.
    ///
    /// Columns: accept reject merge dispatch redispatch inform escalate answer_extension
    /// answer_park resume verify-request verify close reopen grade flag rate task_op
    /// read_contact system.
    const EXPECTED: &[(&str, Role, &str, u128, &str)] = &[
        ("administrator", Role::Administrator, "321300", 1, "FFFFFFFFFFFFFFFFFFFF"),
        ("city centre", Role::CityCentre, "321300", 2, "AAAAAAFAAAAAAAAAAFAF"),
        ("county centre", Role::CountyCentre, "321302", 3, "AAAAAAFAAAAAAAAAAFAF"),
        ("county centre elsewhere", Role::CountyCentre, "321303", 4, "NNNNNNNNNNNNNNNNNNNN"),
        ("township centre (the queue)", Role::TownshipCentre, "321302001", 5, "AAAAAAAAAAAAAAAAAFAF"),
        ("township centre elsewhere", Role::TownshipCentre, "321302002", 6, "NNNNNNNNNNNNNNNNNNNN"),
        ("community staff", Role::CommunityStaff, "321302001001", 7, "FFFAAAFFFFAAFFFFFFFF"),
        ("community staff elsewhere", Role::CommunityStaff, "321302001002", 8, "NNNNNNNNNNNNNNNNNNNN"),
        ("department sent a task", Role::DepartmentStaff, "D01", DEPT, "FFFFFFFFFFFFFFFFFAFF"),
        ("department sent nothing", Role::DepartmentStaff, "D02", 9, "NNNNNNNNNNNNNNNNNNNN"),
        ("grid worker holding the task", Role::GridWorker, GRID, HOLDER, "FFFFFFFFFFFFFFFFFAFF"),
        ("grid worker of the grid, not on the task", Role::GridWorker, GRID, 10, "FFFFFFFFFFFFFFFFFFFF"),
        ("grid worker elsewhere", Role::GridWorker, "321302001001002", 11, "NNNNNNNNNNNNNNNNNNNN"),
        ("hotline operator", Role::HotlineOperator, "321302", 12, "FFFFFFFFFFFFFFFFAFFF"),
    ];

    fn walk(facts: &Facts<'_>, task: TaskId, expected: &[(&str, Role, &str, u128, &str)]) {
        assert_eq!(RULES.len(), 20, "a new action needs its column in the expectations");
        for (who, role, unit, n, answers) in expected {
            let viewer = viewer(*n, *role, unit);
            // A task operation names the task they were sent, if any; else the lead.
            let theirs = facts.case.tasks.iter().find(|t| t.assignees.contains(&viewer.id)).map_or(task, |t| t.id);
            let got: String = actions()
                .map(|action| match answer(&viewer, action, facts, Some(theirs)) {
                    Answer::Allowed => 'A',
                    Answer::Forbidden(_) => 'F',
                    Answer::NotFound => 'N',
                })
                .collect();
            assert_eq!(&got, answers, "{who}");
        }
    }

    #[test]
    fn every_role_and_action_in_its_area_and_outside_it() {
        let (case, task) = dispatched();
        let facts = Facts { grid: GRID, queue: Some("321302001"), level: 5, case: &case, reporter: None };
        walk(&facts, task, EXPECTED);
    }

    #[test]
    fn once_escalated_the_county_holds_the_queue_and_the_township_no_longer_directs_it() {
        let (case, task) = dispatched();
        let facts = Facts { grid: GRID, queue: Some("321302"), level: 2, case: &case, reporter: None };
        let expected: &[(&str, Role, &str, u128, &str)] = &[
            ("city centre", Role::CityCentre, "321300", 2, "AAAAAAFAAAAAAAAAAFAF"),
            // The county holds the queue; it is handled at the county, so it flags nothing.
            ("county centre", Role::CountyCentre, "321302", 3, "AAAAAAAAAAAAAAAFAFAF"),
            ("township centre", Role::TownshipCentre, "321302001", 5, "FFFAAAFAAAAAFFFFAFAF"),
            ("community staff", Role::CommunityStaff, "321302001001", 7, "FFFAAAFFFFAAFFFFFFFF"),
        ];
        walk(&facts, task, expected);
    }

    #[test]
    fn the_hotline_operator_who_filed_a_case_reads_its_contact_and_no_other() {
        let (case, _) = dispatched();
        let operator = viewer(12, Role::HotlineOperator, "321302");
        let filer = operator.id.to_string();
        let filed = Facts { grid: GRID, queue: Some("321302001"), level: 5, case: &case, reporter: Some(&filer) };
        assert_eq!(answer(&operator, Action::ReadContact, &filed, None), Answer::Allowed);
        let other = Uuid::from_u128(99).to_string();
        let theirs = Facts { reporter: Some(&other), ..filed };
        assert!(matches!(answer(&operator, Action::ReadContact, &theirs, None), Answer::Forbidden(_)));
        let worker = viewer(HOLDER, Role::GridWorker, GRID);
        let by_worker = Facts { reporter: Some(&filer), ..filed };
        assert!(matches!(answer(&worker, Action::ReadContact, &by_worker, None), Answer::Forbidden(_)));
    }

    #[test]
    fn community_staff_send_work_only_to_their_own_grids() {
        let staff = viewer(7, Role::CommunityStaff, "321302001001");
        assert!(may_target(&staff, &Target::Grid(GRID.into())).is_ok());
        assert!(may_target(&staff, &Target::Grid("321302001002001".into())).is_err());
        assert!(may_target(&staff, &Target::Department("D01".into())).is_err());
        assert!(may_target(&staff, &Target::Unit("321302001001".into())).is_err());
        assert!(may_target(&staff, &Target::User(Uuid::from_u128(HOLDER))).is_err());
        let centre = viewer(5, Role::TownshipCentre, "321302001");
        assert!(may_target(&centre, &Target::Department("D01".into())).is_ok());
    }

    #[test]
    fn the_server_itself_may_do_anything_and_nobody_else_its_steps() {
        let (case, _) = dispatched();
        let facts = Facts { grid: GRID, queue: Some("321302001"), level: 5, case: &case, reporter: None };
        let warn = Command::Warn { deadline: "accept".into(), step: "accept".into(), due_ms: 0 };
        let centre = viewer(3, Role::CountyCentre, "321302");
        assert!(authorize(&centre, true, &warn, &facts).is_ok());
        assert!(authorize(&centre, false, &warn, &facts).is_err());
    }

    #[test]
    fn a_view_offers_exactly_the_steps_the_table_and_the_state_allow() {
        let reported = Case::reported(0);
        let facts = Facts { grid: GRID, queue: Some("321302001"), level: 5, case: &reported, reporter: None };
        let township = viewer(5, Role::TownshipCentre, "321302001");
        assert_eq!(allowed(&township, &facts, false, 0), ["accept", "reject", "merge", "escalate", "flag", "inform"]);
        let community = viewer(7, Role::CommunityStaff, "321302001001");
        assert_eq!(allowed(&community, &facts, false, 0), ["inform"]);
        // An emergency's grade is offered where the category takes one.
        assert!(allowed(&township, &facts, true, 0).contains(&"grade"));

        let (case, task) = dispatched();
        let facts = Facts { grid: GRID, queue: Some("321302001"), level: 5, case: &case, reporter: None };
        let holder = viewer(HOLDER, Role::GridWorker, GRID);
        assert_eq!(
            allowed_on_task(&holder, &facts, task, 0),
            ["arrive", "progress", "complete_task", "return_task", "request_extension", "request_park"]
        );
        assert!(allowed(&holder, &facts, false, 0).is_empty());
        let county = viewer(3, Role::CountyCentre, "321302");
        assert_eq!(allowed_on_task(&county, &facts, task, 0), ["redispatch"]);
        assert!(!allowed(&county, &facts, false, 0).contains(&"verify"), "nothing to verify before the work is done");
    }

    /// Every route of the API has its row in the table, and every row names a route.
    #[test]
    fn every_route_has_a_row_and_every_row_a_route() {
        use crate::openapi::ROUTES;
        for r in ROUTES {
            let rows: Vec<_> = route_rules(r.method, r.path).collect();
            assert!(!rows.is_empty(), "{} {} has no row in ROUTE_RULES: say who may use it", r.method, r.path);
            // A route's rows are one door, or one per operation its body names.
            let selected = rows.iter().filter(|row| row.op.is_some()).count();
            assert!(
                rows.len() == 1 || selected == rows.len(),
                "{} {}: one row, or one per operation",
                r.method,
                r.path
            );
        }
        for row in ROUTE_RULES {
            assert!(
                ROUTES.iter().any(|r| r.method == row.method && r.path == row.path),
                "ROUTE_RULES names {} {}, which is not in openapi::ROUTES",
                row.method,
                row.path
            );
        }
        let mut seen = std::collections::HashSet::new();
        assert!(ROUTE_RULES.iter().all(|r| seen.insert((r.method, r.path, r.op))), "a row is listed twice");
    }

    /// The name of a case action as its body names it: a new action does not compile here
    /// until it is named, and then needs its row.
    fn action_name(action: &crate::incidents::desk::IncidentAction) -> &'static str {
        use crate::incidents::desk::IncidentAction as A;
        match action {
            A::Accept { .. } => "accept",
            A::Reject { .. } => "reject",
            A::Dispatch { .. } => "dispatch",
            A::Verify { .. } => "verify",
            A::Close => "close",
            A::Flag { .. } => "flag",
            A::Grade { .. } => "grade",
            A::Inform { .. } => "inform",
            A::Redispatch { .. } => "redispatch",
            A::ApproveExtension { .. } => "approve_extension",
            A::RefuseExtension { .. } => "refuse_extension",
            A::RequestVerification { .. } => "request_verification",
            A::ApprovePark { .. } => "approve_park",
            A::RefusePark { .. } => "refuse_park",
            A::ResumeTask { .. } => "resume_task",
            A::Merge { .. } => "merge",
            A::Reopen { .. } => "reopen",
            A::Escalate { .. } => "escalate",
            A::Rate { .. } => "rate",
        }
    }

    /// Names a minimal body of each case action, as the route parses it.
    const ACTION_BODIES: &[&str] = &[
        r#"{"action":"accept"}"#,
        r#"{"action":"reject","reason":"-"}"#,
        r#"{"action":"dispatch","to":{"grid":"-"}}"#,
        r#"{"action":"verify","passed":true}"#,
        r#"{"action":"close"}"#,
        r#"{"action":"flag"}"#,
        r#"{"action":"grade","severity":null}"#,
        r#"{"action":"inform","units":[]}"#,
        r#"{"action":"redispatch","task":"-","to":{"grid":"-"}}"#,
        r#"{"action":"approve_extension","task":"-"}"#,
        r#"{"action":"refuse_extension","task":"-"}"#,
        r#"{"action":"request_verification","to":{"grid":"-"}}"#,
        r#"{"action":"approve_park","task":"-"}"#,
        r#"{"action":"refuse_park","task":"-"}"#,
        r#"{"action":"resume_task","task":"-"}"#,
        r#"{"action":"merge","into":"-"}"#,
        r#"{"action":"reopen","reason":"-"}"#,
        r#"{"action":"escalate","reason":"-"}"#,
        r#"{"action":"rate","rating":"satisfied"}"#,
    ];

    #[test]
    fn every_case_action_and_task_operation_has_its_row() {
        let rows = |path: &str| -> Vec<(&str, Door)> {
            route_rules("post", path).map(|r| (r.op.unwrap_or_default(), r.door)).collect()
        };
        let case_rows = rows(CASE_ACTIONS);
        let mut named = Vec::new();
        for body in ACTION_BODIES {
            let action: crate::incidents::desk::IncidentAction = serde_json::from_str(body).unwrap();
            let name = action_name(&action);
            assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["action"], name);
            assert!(case_rows.iter().any(|(n, _)| *n == name), "case action {name} has no row");
            named.push(name);
        }
        assert_eq!(named.len(), case_rows.len(), "a case action row names no action: {case_rows:?}");
        // A desk's task operations are the phone's, through the same door.
        let task_rows = rows(TASK_ACTIONS);
        for (name, door) in &task_rows {
            assert_eq!(socket_door(name), Some(*door), "task operation {name}: the route and the socket differ");
        }
        let socket_tasks = SOCKET_RULES.iter().filter(|(_, d)| matches!(d, Door::Case(_))).count();
        assert_eq!(task_rows.len(), socket_tasks, "every task operation of the socket is one of the route's");
    }

    /// The name of a socket op, as its `kind` says: a new op does not compile here until it
    /// is named, and then needs its row.
    fn op_name(kind: &sync_protocol::OpKind) -> Option<&'static str> {
        use sync_protocol::OpKind as K;
        Some(match kind {
            K::AcceptTask { .. } => "accept_task",
            K::Arrive { .. } => "arrive",
            K::Progress { .. } => "progress",
            K::CompleteTask { .. } => "complete_task",
            K::ReturnTask { .. } => "return_task",
            K::RequestExtension { .. } => "request_extension",
            K::RequestPark { .. } => "request_park",
            K::ResumeTask { .. } => "resume_task",
            K::ConfirmTask { .. } => "confirm_task",
            K::Verify { .. } => "verify",
            K::ReportIncident { .. } => "report_incident",
            K::Location { .. } => "location",
            K::OffDuty => "off_duty",
            // Not an op: what a newer phone sends that this server does not know.
            K::Unknown => return None,
        })
    }

    #[test]
    fn every_socket_op_has_a_row() {
        let t = r#""task_id":"t""#;
        let place = r#""location":{"lon":1,"lat":2}"#;
        let ops = [
            format!(r#"{{"kind":"accept_task",{t}}}"#),
            format!(r#"{{"kind":"arrive",{t}}}"#),
            format!(r#"{{"kind":"progress",{t},"text":"-"}}"#),
            format!(r#"{{"kind":"complete_task",{t},"result":"-"}}"#),
            format!(r#"{{"kind":"return_task",{t},"reason":"-"}}"#),
            format!(r#"{{"kind":"request_extension",{t},"until":"-","reason":"-"}}"#),
            format!(r#"{{"kind":"request_park",{t},"reason":"-"}}"#),
            format!(r#"{{"kind":"resume_task",{t}}}"#),
            format!(r#"{{"kind":"confirm_task",{t},"exists":true}}"#),
            format!(r#"{{"kind":"verify",{t},"passed":true}}"#),
            format!(r#"{{"kind":"report_incident","incident_id":"i","category":"c",{place}}}"#),
            r#"{"kind":"location","lon":1,"lat":2}"#.to_owned(),
            r#"{"kind":"off_duty"}"#.to_owned(),
        ];
        for json in &ops {
            let kind: sync_protocol::OpKind = serde_json::from_str(json).unwrap();
            let name = op_name(&kind).unwrap_or_else(|| panic!("{json} is no op this server knows"));
            assert!(json.contains(&format!(r#""kind":"{name}""#)), "{name} is not the op's name on the wire");
            assert!(socket_door(name).is_some(), "socket op {name} has no row in SOCKET_RULES");
        }
        assert_eq!(ops.len(), SOCKET_RULES.len(), "SOCKET_RULES names an op the socket does not take");
    }
}

//! The desk's side of a case: the staff actions as they arrive (`IncidentAction`), the
//! targets work is sent to (`TargetSpec`), and how both become workflow commands, built
//! from the case as read under its row lock ([`Fresh`]) and resolved to people in the
//! caller's area. The routing rules use the same [`Desk`] when they act on their own.

use geodata::{AreaCode, Level};
use serde::Deserialize;
use uuid::Uuid;

use super::act::{Extra, Fresh, Timing};
use super::ops::{TaskOp, task_op};
use super::report::RatingValue;
use super::scope::Viewer;
use super::store;
use super::workflow::{Assignment, Command, Rating, Refusal, Target, TaskKind};
use crate::auth::{self, Role};
use crate::calendar::Calendars;
use crate::categories::{CategoryTree, Limit, Limits, Severity};
use crate::clock::parse_rfc3339;
use crate::error_kind::ErrorKind;
use crate::geo::Geo;
use crate::problem::ApiError;
use crate::store::DbConnection;

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
    /// Record the reporter's rating of a closed case, taken by phone (回访: the 12345
    /// hotline calls the caller back); once per closing, and `unsatisfied` reopens it,
    /// as when the reporter rates through the follow link.
    Rate {
        /// `satisfied`, `basic` or `unsatisfied`.
        rating: RatingValue,
        /// What the caller said.
        #[serde(default)]
        comment: String,
    },
}

impl From<RatingValue> for Rating {
    fn from(value: RatingValue) -> Rating {
        match value {
            RatingValue::Satisfied => Rating::Satisfied,
            RatingValue::Basic => Rating::Basic,
            RatingValue::Unsatisfied => Rating::Unsatisfied,
        }
    }
}

/// The longest comment recorded with a rating, in characters.
pub const MAX_RATING_COMMENT_CHARS: usize = 500;

/// Actions of the contract not served yet (none now: issue 6 brought `merge`, `escalate`
/// and `reopen`).
pub const LATER_ACTIONS: [&str; 0] = [];

/// Reads a JSON object's tag and refuses, with a clear slug, the names that are known
/// but not served yet; the rest is left to serde.
pub fn parse_tagged<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    tag: &str,
    later: &[&str],
) -> Result<T, ApiError> {
    let name = value.get(tag).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    if later.contains(&name.as_str()) {
        return Err(ApiError::Refused {
            kind: ErrorKind::NotSupportedYet,
            detail: format!("`{name}` is part of the contract but not served by this version"),
        });
    }
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("the body is not a valid {tag}: {e}")))
}

/// Reads a desk's task operation: the op body of a phone's mutation, the task named by the path.
pub fn desk_task_op(mut value: serde_json::Value, task: Uuid) -> Result<TaskOp, ApiError> {
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
        Some(Err(detail)) => Err(ApiError::refused(ErrorKind::InvalidCommand, detail)),
        None => Err(ApiError::Refused {
            kind: ErrorKind::NotATaskOperation,
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
    ) -> Result<(Target, Vec<Uuid>, u8), ApiError> {
        let unknown = |what: String| ApiError::Refused { kind: ErrorKind::UnknownTarget, detail: what };
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
                Ok((Target::Unit(code.clone()), ids(staff), unit.level().number()))
            }
            TargetSpec::Department(code) => {
                if !self.tree.departments.iter().any(|d| d.code == *code) {
                    return Err(unknown(format!("no department {code}")));
                }
                let staff = auth::users_in(conn, &[Role::DepartmentStaff], code)?;
                Ok((Target::Department(code.clone()), ids(staff), Level::County.number()))
            }
            TargetSpec::User(id) => {
                let user = auth::user_by_id(conn, id)?.ok_or_else(|| unknown(format!("no user {id}")))?;
                let area = AreaCode::parse(&user.unit_code).ok();
                let level = area.as_ref().map_or(Level::County.number(), |a| a.level().number());
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

/// Where a hand escalation (上报) of the case goes: the unit whose queue holds it (its
/// township until escalated), the unit one level up (none above the city). Who may
/// escalate is the table's to say ([`super::permissions`]).
fn escalation(fresh: &Fresh<'_>) -> (String, Option<String>) {
    let row = &fresh.row;
    let owner = fresh.queue().unwrap_or_else(|| row.township_code.clone());
    let level = AreaCode::parse(&owner).map_or(Level::Township, |c| c.level());
    let to = match level {
        Level::City => None,
        Level::County => Some(row.city_code.clone()),
        Level::Township => Some(row.county_code.clone()),
        Level::Community | Level::Grid => Some(row.township_code.clone()),
    }
    .filter(|code| !code.is_empty());
    (owner, to)
}

/// Builds the workflow command of a staff action on the case `fresh` (read under its row
/// lock), resolving targets to people in `viewer`'s area.
pub fn incident_command(
    conn: &mut DbConnection,
    desk: &Desk<'_>,
    viewer: &Viewer,
    fresh: &Fresh<'_>,
    action: IncidentAction,
    now: i64,
) -> Result<(Command, Extra), ApiError> {
    let (row, case, timing) = (&fresh.row, &fresh.case, fresh.timing);
    let plain = |command| Ok((command, Extra::default()));
    let assign = |conn: &mut DbConnection, spec: &TargetSpec, due_ms| -> Result<Assignment, ApiError> {
        let (target, assignees, level) = desk.resolve(conn, viewer, spec)?;
        Ok(Assignment { task: Uuid::new_v4(), target, assignees, due_ms, level: Some(level) })
    };
    match action {
        IncidentAction::Accept { confirm: false } => plain(Command::Accept { confirm: None }),
        IncidentAction::Accept { confirm: true } => {
            // The confirm task goes to the case's own grid, whoever directs it.
            let workers = auth::users_in(conn, &[Role::GridWorker], &row.grid_code)?;
            let assignees = workers.iter().filter_map(|u| Uuid::parse_str(&u.id).ok()).collect();
            let target = Target::Grid(row.grid_code.clone());
            let due_ms = timing.due(now, limit_of(TaskKind::Confirm));
            let task = Assignment { task: Uuid::new_v4(), target, assignees, due_ms, level: None };
            plain(Command::Accept { confirm: Some(task) })
        }
        IncidentAction::Reject { reason } => plain(Command::Reject { reason }),
        IncidentAction::Dispatch { to, assist, due } => {
            let due_ms = deadline(due.as_deref(), timing, TaskKind::Handle, now)?;
            let lead = assign(conn, &to, due_ms)?;
            let assist = assist.iter().map(|spec| assign(conn, spec, due_ms)).collect::<Result<_, _>>()?;
            plain(Command::Dispatch { lead, assist })
        }
        IncidentAction::Verify { passed, note } => plain(Command::Verify { task: None, passed, note }),
        IncidentAction::Close => plain(Command::Close),
        IncidentAction::Rate { rating, comment } => {
            let comment = comment.trim();
            if comment.chars().count() > MAX_RATING_COMMENT_CHARS {
                return Err(ApiError::BadRequest(format!(
                    "a rating's comment is at most {MAX_RATING_COMMENT_CHARS} characters"
                )));
            }
            // The trace says it came by phone, as the caller said it.
            let mut extra = Extra::default();
            extra.data.insert("channel".into(), "callback".into());
            if !comment.is_empty() {
                extra.data.insert("comment".into(), comment.into());
            }
            Ok((Command::Rate { rating: Rating::from(rating) }, extra))
        }
        IncidentAction::Flag { note } => plain(Command::Flag { note }),
        IncidentAction::Grade { severity, reason } => {
            if let Some(category) = desk.tree.category(&row.category_code) {
                category
                    .takes(severity)
                    .map_err(|detail| ApiError::Refused { kind: ErrorKind::InvalidCommand, detail })?;
            }
            plain(Command::Grade { severity, reason })
        }
        IncidentAction::Inform { units, note } => {
            for unit in &units {
                let known = desk.tree.departments.iter().any(|d| d.code == *unit)
                    || AreaCode::parse(unit).is_ok_and(|c| desk.geo.layer().get(&c).is_some());
                if !known {
                    return Err(ApiError::Refused {
                        kind: ErrorKind::UnknownTarget,
                        detail: format!("{unit:?} is neither a unit nor a department"),
                    });
                }
            }
            plain(Command::Inform { units, note })
        }
        IncidentAction::Redispatch { task, to, due } => {
            let task = task_named(&task)?;
            let old = case.tasks.iter().find(|t| t.id == task).ok_or(Refusal::NoSuchTask(task))?;
            let due_ms = deadline(due.as_deref(), timing, old.kind, now)?;
            plain(Command::Redispatch { task, to: assign(conn, &to, due_ms)? })
        }
        IncidentAction::ApproveExtension { task, until } => {
            let until_ms = due_of(until.as_deref())?;
            plain(Command::AnswerExtension { task: task_named(&task)?, approve: true, until_ms, reason: String::new() })
        }
        IncidentAction::RefuseExtension { task, reason } => {
            plain(Command::AnswerExtension { task: task_named(&task)?, approve: false, until_ms: None, reason })
        }
        IncidentAction::ApprovePark { task } => {
            plain(Command::AnswerPark { task: task_named(&task)?, approve: true, reason: String::new() })
        }
        IncidentAction::RefusePark { task, reason } => {
            plain(Command::AnswerPark { task: task_named(&task)?, approve: false, reason })
        }
        IncidentAction::ResumeTask { task } => plain(Command::Resume { task: task_named(&task)?, due_ms: None }),
        IncidentAction::Merge { .. } => {
            Err(ApiError::internal("a merge is committed by incidents::merge, not as one command"))
        }
        IncidentAction::Reopen { reason } => plain(Command::Reopen { reason }),
        IncidentAction::Escalate { reason } => {
            let (from, to) = escalation(fresh);
            plain(Command::Escalate { from, to, reason })
        }
        IncidentAction::RequestVerification { to, due } => {
            let due_ms = deadline(due.as_deref(), timing, TaskKind::Verify, now)?;
            plain(Command::RequestVerification { task: assign(conn, &to, due_ms)? })
        }
    }
}

//! The routes of routing: a grid's duty roster (read and replaced by the desks of its
//! area) and the rules' suggestion for a case.

use actix_web::{HttpResponse, get, put, web};
use geodata::AreaCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::dispatch::proposal;
use super::load::{self, Candidate};
use super::{Shift, Suggestion, roster};
use crate::auth::routes::Authenticated;
use crate::auth::{self, Role};
use crate::categories::CategoryTree;
use crate::clock::Clock;
use crate::error_kind::ErrorKind;
use crate::geo::Geo;
use crate::incidents::scope::Viewer;
use crate::incidents::store as case_store;
use crate::incidents::workflow::Target;
use crate::problem::ApiError;
use crate::store::Database;

/// One shift as the desk writes it: a grid worker's login, the days (`mon`…`sun`, or
/// ranges such as `mon-fri`, comma-separated) and local times `HH:MM` (Asia/Shanghai);
/// an end before the start runs past midnight.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShiftSpec {
    /// The worker's login.
    pub login: String,
    /// The days, e.g. `mon-fri` or `sat,sun`.
    pub days: String,
    /// Start, `HH:MM`.
    pub from: String,
    /// End, `HH:MM`.
    pub to: String,
}

/// A grid's roster, in order: the first shift covering an instant names who is on duty.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RosterBody {
    /// The shifts.
    pub shifts: Vec<ShiftSpec>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_days(text: &str) -> Result<u8, String> {
    let day = |d: &str| DAYS.iter().position(|x| x.eq_ignore_ascii_case(d.trim())).ok_or(d.trim().to_owned());
    let mut mask = 0u8;
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            None => (day(part)?, day(part)?),
        };
        let mut d = a;
        loop {
            mask |= 1 << d;
            if d == b {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    if mask == 0 { Err(text.to_owned()) } else { Ok(mask) }
}

fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn show_days(mask: u8) -> String {
    DAYS.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, d)| *d).collect::<Vec<_>>().join(",")
}

fn show_time(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

/// The grid named in the path, which must be in the layer and in the caller's area.
fn grid_of(caller: &Authenticated, geo: &Geo, code: &str) -> Result<(Viewer, AreaCode), ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let grid = AreaCode::parse(code)
        .ok()
        .filter(|c| c.level() == geodata::Level::Grid && geo.index().grid(c).is_some())
        .ok_or_else(|| ApiError::NotFound(format!("no grid {code}")))?;
    if !viewer.covers(&grid) {
        return Err(ApiError::NotFound(format!("no grid {code} in your area")));
    }
    Ok((viewer, grid))
}

/// A grid's worker as its roster shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GridWorker {
    /// Their user id.
    pub id: String,
    /// Their login (what a shift names).
    pub login: String,
    /// Their name.
    pub name: String,
    /// Whether the roster has them on duty now.
    pub on_duty: bool,
}

/// A grid's roster as a desk reads it: the shifts, the grid's workers and who is on duty.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RosterView {
    /// The shifts, in order.
    pub shifts: Vec<ShiftSpec>,
    /// The grid's workers (able to log in), by login.
    pub workers: Vec<GridWorker>,
    /// Whether the caller may replace the roster.
    pub editable: bool,
}

/// A grid's duty roster.
#[utoipa::path(
    get,
    path = "/api/v1/grids/{code}/roster",
    params(("code" = String, Path, description = "The grid's 15-digit code")),
    responses(
        (status = 200, description = "The roster, in order, with the grid's workers", body = RosterView),
    ),
    security(("bearer" = [])),
    tag = "routing"
)]
#[get("/api/v1/grids/{code}/roster")]
#[tracing::instrument(skip(db, geo, clock, caller))]
pub async fn get_roster(
    db: web::Data<Database>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (viewer, grid) = grid_of(&caller, &geo, &code)?;
    let now = clock.now_ms();
    let (shifts, workers) = web::block(move || {
        db.read(|c| {
            let shifts = roster::shifts_of(c, grid.as_str())?;
            let duty = super::on_duty(&shifts, grid.as_str(), now).map(|u| u.to_string());
            let workers: Vec<GridWorker> = auth::users_in(c, &[Role::GridWorker], grid.as_str())?
                .into_iter()
                .map(|u| GridWorker {
                    on_duty: duty.as_deref() == Some(u.id.as_str()),
                    id: u.id,
                    login: u.login,
                    name: u.display_name,
                })
                .collect();
            let mut out = Vec::with_capacity(shifts.len());
            for s in shifts {
                let login = auth::user_by_id(c, &s.user.to_string())?.map_or_else(|| s.user.to_string(), |u| u.login);
                out.push(ShiftSpec {
                    login,
                    days: show_days(s.weekdays),
                    from: show_time(s.from_min),
                    to: show_time(s.to_min),
                });
            }
            Ok((out, workers))
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(RosterView { shifts, workers, editable: viewer.directs() }))
}

/// Replaces a grid's duty roster. Desks whose area covers the grid may; every login must
/// be a grid worker of that grid.
#[utoipa::path(
    put,
    path = "/api/v1/grids/{code}/roster",
    params(("code" = String, Path, description = "The grid's 15-digit code")),
    request_body = RosterBody,
    responses(
        (status = 200, description = "The roster as stored", body = RosterBody),
    ),
    security(("bearer" = [])),
    tag = "routing"
)]
#[put("/api/v1/grids/{code}/roster")]
#[tracing::instrument(skip(db, geo, caller, body))]
pub async fn put_roster(
    db: web::Data<Database>,
    geo: web::Data<Geo>,
    caller: Authenticated,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (viewer, grid) = grid_of(&caller, &geo, &code)?;
    if !viewer.directs() {
        return Err(ApiError::Forbidden("only the desks of the grid's area keep its roster".into()));
    }
    let spec: RosterBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("a roster is {{\"shifts\": [...]}}: {e}")))?;
    let invalid = |detail: String| ApiError::Refused { kind: ErrorKind::InvalidShift, detail };
    let mut parsed = Vec::with_capacity(spec.shifts.len());
    for (i, s) in spec.shifts.iter().enumerate() {
        let weekdays = parse_days(&s.days).map_err(|d| invalid(format!("shift {i}: {d:?} is not a day (mon…sun)")))?;
        let from = parse_time(&s.from).ok_or_else(|| invalid(format!("shift {i}: from {:?} is not HH:MM", s.from)))?;
        let to = parse_time(&s.to).ok_or_else(|| invalid(format!("shift {i}: to {:?} is not HH:MM", s.to)))?;
        if from == to {
            return Err(invalid(format!("shift {i} starts and ends at {}", s.from)));
        }
        parsed.push((s.login.clone(), weekdays, from, to));
    }
    let grid_code = grid.to_string();
    let actor = caller.user.clone();
    web::block(move || {
        db.transact(|c| -> Result<(), ApiError> {
            let mut shifts = Vec::with_capacity(parsed.len());
            for (login, weekdays, from_min, to_min) in parsed {
                let user = auth::user_by_login(c, &login)?
                    .filter(|u| u.role() == Some(Role::GridWorker) && u.unit_code == grid_code)
                    .ok_or_else(|| ApiError::Refused {
                        kind: ErrorKind::NotAGridWorker,
                        detail: format!("{login} is not a grid worker of grid {grid_code}"),
                    })?;
                let user = Uuid::parse_str(&user.id).map_err(|_| ApiError::internal(format!("user id {}", user.id)))?;
                shifts.push(Shift { grid: grid_code.clone(), user, weekdays, from_min, to_min });
            }
            let workers: Vec<String> = shifts.iter().map(|s| s.user.to_string()).collect();
            roster::replace(c, &grid_code, &shifts)?;
            let data = serde_json::json!({"shifts": shifts.len(), "workers": workers});
            crate::auth::accounts::audit(c, "roster_changed", Some(&actor), &grid_code, data)?;
            Ok(())
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(spec))
}

/// The rules' suggestion for a case, and the queue it waits in meanwhile.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestionView {
    /// Where the rules would send it: `{"user": id}`, `{"unit": code}` or `{"department": code}`.
    #[schema(value_type = Object)]
    pub target: Target,
    /// The level of that target, 1 (city) to 5 (grid).
    pub level: u8,
    /// Units or departments told without being sent it.
    pub notify: Vec<String>,
    /// Whether the rules dispatch it on their own.
    pub automatic: bool,
    /// Whether acting means escalating into the target's queue rather than dispatching.
    pub escalates: bool,
    /// Which rule chose it: `emergency-to-county`, `self-handle`, `on-duty`, `nobody-on-duty`,
    /// `department` or `level`.
    pub rule: String,
    /// The unit whose queue it waits in until someone routes it.
    pub queue: Option<String>,
    /// Where it could go, each with the open work it holds now: the suggested target
    /// first, then the case's grid, community and township, and the category's department.
    pub candidates: Vec<Candidate>,
}

/// The places a case might be sent, each with its open work ([`load::held_by`]).
fn candidates(
    conn: &mut crate::store::DbConnection,
    tree: &CategoryTree,
    layer: &geodata::Layer,
    row: &case_store::IncidentRow,
    suggested: Option<&Target>,
) -> diesel::QueryResult<Vec<Candidate>> {
    let mut targets: Vec<Target> = suggested.cloned().into_iter().collect();
    targets.push(Target::Grid(row.grid_code.clone()));
    targets.push(Target::Unit(row.community_code.clone()));
    targets.push(Target::Unit(row.township_code.clone()));
    if let Some(department) = tree.category(&row.category_code).and_then(|c| c.department.clone()) {
        targets.push(Target::Department(department));
    }
    let mut out: Vec<Candidate> = Vec::with_capacity(targets.len());
    for target in targets {
        if out.iter().any(|c| c.target == target) {
            continue;
        }
        let unit_name = |code: &str| AreaCode::parse(code).ok().and_then(|c| layer.get(&c).map(|u| u.name.clone()));
        let name = match &target {
            Target::Grid(code) | Target::Unit(code) => unit_name(code).unwrap_or_else(|| code.clone()),
            Target::Department(code) => {
                tree.departments.iter().find(|d| &d.code == code).map_or_else(|| code.clone(), |d| d.name.clone())
            }
            Target::User(id) => {
                auth::user_by_id(conn, &id.to_string())?.map_or_else(|| id.to_string(), |u| u.display_name)
            }
        };
        let (open, yellow, red) = load::held_by(conn, &target)?;
        out.push(Candidate { target, name, open, yellow, red });
    }
    Ok(out)
}

/// Where the rules would send a case (docs/domain.md): by its category, severity and place, and
/// the grid's duty roster now.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/suggestion",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The suggestion", body = SuggestionView),
    ),
    security(("bearer" = [])),
    tag = "routing"
)]
#[get("/api/v1/incidents/{id}/suggestion")]
#[tracing::instrument(skip(db, tree, geo, clock, caller))]
pub async fn suggestion(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let id = id.into_inner();
    let now = clock.now_ms();
    let found = {
        let id = id.clone();
        let tree = tree.clone();
        web::block(move || {
            db.read(|c| {
                let Some(row) = case_store::visible_incident(c, &viewer, &id)? else { return Ok(None) };
                let suggestion = proposal(c, &tree, &row, now)?;
                let candidates = candidates(c, &tree, &geo.layer(), &row, suggestion.as_ref().map(|s| &s.target))?;
                Ok(Some((row, suggestion, candidates)))
            })
        })
        .await??
    };
    let (row, suggestion, candidates) =
        found.ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))?;
    if tree.category(&row.category_code).is_none() {
        return Err(ApiError::Refused {
            kind: ErrorKind::NoSuggestion,
            detail: format!("category {} is not in the tree in force", row.category_code),
        });
    }
    let Suggestion { target, level, notify, automatic, escalates, rule } =
        suggestion.ok_or_else(|| ApiError::Refused {
            kind: ErrorKind::NoSuggestion,
            detail: "the case's place is not known down to its community".into(),
        })?;
    Ok(HttpResponse::Ok().json(SuggestionView {
        target,
        level,
        notify,
        automatic,
        escalates,
        rule: rule.to_owned(),
        queue: row.queue(),
        candidates,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_read_as_desks_write_them() {
        assert_eq!(parse_days("mon-fri"), Ok(0b001_1111));
        assert_eq!(parse_days("sat,sun"), Ok(0b110_0000));
        assert_eq!(parse_days("fri-mon"), Ok(0b111_0001));
        assert_eq!(parse_days("Tue"), Ok(0b10));
        assert!(parse_days("someday").is_err() && parse_days("").is_err());
        assert_eq!(parse_time("08:30"), Some(510));
        assert_eq!(parse_time("24:00"), Some(1440));
        assert_eq!(parse_time("24:01"), None);
        assert_eq!(parse_time("8h"), None);
        assert_eq!(show_days(0b001_1111), "mon,tue,wed,thu,fri");
        assert_eq!(show_time(510), "08:30");
    }
}

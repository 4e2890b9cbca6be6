//! `requests` (GET: a filtered page; POST: file one), `requests/{id}` and `tokens/{token}`.
//!
//! A POSTed request is a resident's report by another door: checked, placed, and filed
//! through [`Filer::file`] — the one write path, the routing rules on arrival, deadlines,
//! duplicates suggested to the desk — with source `open311` and the key's client named in
//! the trace. Its `service_request_id` is the case's own id, given at once (so a token is
//! never needed: `tokens/{token}` answers the id for a token that is one). Reads show
//! every case as the standard's request: `open` until it is closed, rejected or merged,
//! then `closed`, with `status_notes` saying which; never anyone's contact or e-mail.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use geodata::crs::Crs;
use geodata::{AreaCode, GridIndex, Layer, Level};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::attributes::Attributes;
use super::services::{Jurisdiction, definitions, notice};
use super::store::{self, RequestRow, Window};
use super::{Format, Open311, respond};
use crate::calendar::Calendars;
use crate::categories::{Category, CategoryTree, Domain, Severity};
use crate::clock::Clock;
use crate::error_kind::ErrorKind;
use crate::geo::Geo;
use crate::incidents::act::WritePath;
use crate::incidents::report::{self, Filer, Filing, Idempotency, MAX_DESCRIPTION_CHARS};
use crate::incidents::store::IncidentRow;
use crate::incidents::workflow::{Case, Status, Target, Task, TaskKind, TaskRole, TaskStatus};
use crate::problem::ApiError;
use crate::store::Database;

/// The largest POST body taken (a form of a few fields; media travels as a URL).
const MAX_POST_BYTES: usize = 64 * 1024;
/// Requests in a page unless `page_size` says otherwise: the standard's "first 1000".
pub const DEFAULT_PAGE_SIZE: i64 = 1000;
/// The most requests in a page.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// The span of a search by date: the standard's 90 days.
pub const WINDOW_MS: i64 = 90 * 24 * 60 * 60 * 1000;
/// The most ids a search by `service_request_id` names.
const MAX_IDS: usize = 1000;
/// The longest media URL, device id or account id kept.
const MAX_URL_CHARS: usize = 2048;
const MAX_ID_CHARS: usize = 128;

/// A service request as the standard shows it: no one's personal data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    /// The case's id (the one `/api/v1/incidents/{id}` takes).
    pub service_request_id: String,
    /// `open`, or `closed` once the case was closed, rejected or merged.
    pub status: &'static str,
    /// Which: 已结案, 不予受理 with the reason, 已合并 with the case it went into; while
    /// open, the step it is at.
    pub status_notes: String,
    /// The category's name.
    pub service_name: String,
    /// The category's code.
    pub service_code: String,
    /// What the reporter wrote.
    pub description: String,
    /// The unit or department handling it now (or that handled it), by name.
    pub agency_responsible: String,
    /// The category's time limits.
    pub service_notice: String,
    /// When reported.
    pub requested_datetime: String,
    /// When last changed.
    pub updated_datetime: String,
    /// When its current step falls due, while one runs.
    pub expected_datetime: Option<String>,
    /// Its township, community and grid, by name.
    pub address: String,
    /// Its grid's code.
    pub address_id: String,
    /// Empty: there are no postal codes here.
    pub zipcode: &'static str,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub long: f64,
    /// The media URL an Open311 client gave, if any (photos of other reports are not public).
    pub media_url: Option<String>,
}

/// The answer to a request filed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Created {
    /// The case's id, at once.
    pub service_request_id: String,
    /// The service's time limits.
    pub service_notice: String,
    /// The client's account id for the requester, as given.
    pub account_id: Option<String>,
}

/// The answer to a token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    /// The case's id.
    pub service_request_id: String,
    /// The token asked about (which is that id: requests get their ids at once).
    pub token: String,
}

/// What the views name: categories, grids, units and departments.
struct Names<'a> {
    tree: &'a CategoryTree,
    index: &'a GridIndex,
    layer: &'a Layer,
}

impl Names<'_> {
    /// A unit's or department's name (its code when unknown).
    fn unit(&self, code: &str) -> String {
        AreaCode::parse(code)
            .ok()
            .and_then(|c| self.layer.get(&c).map(|u| u.name.clone()))
            .or_else(|| self.tree.departments.iter().find(|d| d.code == code).map(|d| d.name.clone()))
            .unwrap_or_else(|| code.to_owned())
    }

    /// The township, community and grid of a grid, by name (the codes when unknown).
    fn address(&self, grid: &str) -> String {
        let Some(info) = AreaCode::parse(grid).ok().and_then(|c| self.index.grid(&c)) else { return grid.to_owned() };
        info.chain
            .iter()
            .filter(|l| matches!(l.level, Level::Township | Level::Community | Level::Grid))
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A grid's community and name.
    fn grid(&self, grid: &str) -> String {
        let Some(info) = AreaCode::parse(grid).ok().and_then(|c| self.index.grid(&c)) else { return grid.to_owned() };
        info.chain
            .iter()
            .filter(|l| matches!(l.level, Level::Community | Level::Grid))
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a page's views need beyond the case rows, read in a few queries for the page.
#[derive(Debug, Default)]
struct Extras {
    /// Media URLs by case.
    media: HashMap<String, String>,
    /// The last refusal of a rejected case: (action, reason).
    refusals: HashMap<String, (String, String)>,
    /// Human numbers of the cases merged duplicates went into, by id.
    codes: HashMap<String, String>,
    /// Units of the users tasks were sent to, by user id.
    units: HashMap<String, String>,
}

fn read_extras(conn: &mut crate::store::DbConnection, rows: &[(IncidentRow, Case)]) -> diesel::QueryResult<Extras> {
    let ids: Vec<String> = rows.iter().map(|(r, _)| r.id.clone()).collect();
    let mut extras = Extras { media: store::media_urls(conn, &ids)?.into_iter().collect(), ..Extras::default() };
    let rejected: Vec<String> =
        rows.iter().filter(|(r, _)| r.status == Status::Rejected.as_str()).map(|(r, _)| r.id.clone()).collect();
    if !rejected.is_empty() {
        for (id, action, data) in store::refusals(conn, &rejected)? {
            let reason = serde_json::from_str::<Value>(&data)
                .ok()
                .and_then(|d| d["reason"].as_str().map(str::to_owned))
                .unwrap_or_default();
            extras.refusals.insert(id, (action, reason));
        }
    }
    let survivors: Vec<String> = rows.iter().filter_map(|(_, c)| c.merged_into.clone()).collect();
    if !survivors.is_empty() {
        extras.codes = store::codes(conn, &survivors)?.into_iter().collect();
    }
    let users: Vec<String> = rows
        .iter()
        .filter_map(|(_, c)| match responsible_task(c).map(|t| &t.target) {
            Some(Target::User(id)) => Some(id.to_string()),
            _ => None,
        })
        .collect();
    if !users.is_empty() {
        extras.units = store::user_units(conn, &users)?.into_iter().collect();
    }
    Ok(extras)
}

/// The task whose target handles the case now (or handled it): an active confirm task
/// or lead handle task; past those, the last lead handle task completed.
fn responsible_task(case: &Case) -> Option<&Task> {
    let lead = |t: &&Task| t.kind == TaskKind::Handle && t.role == TaskRole::Lead;
    let active = case.tasks.iter().rev().find(|t| t.status.is_active() && (lead(t) || t.kind == TaskKind::Confirm));
    active.or_else(|| match case.status {
        Status::Handled | Status::Verified | Status::Closed => {
            case.tasks.iter().rev().filter(lead).find(|t| t.status == TaskStatus::Completed)
        }
        _ => None,
    })
}

/// What the standard's `status_notes` says of a case.
fn status_notes(row: &IncidentRow, case: &Case, extras: &Extras) -> String {
    match case.status {
        Status::Reported => "待受理".to_owned(),
        Status::Confirming => "已受理，网格员现场核实中".to_owned(),
        Status::Registered => "已立案，待派遣".to_owned(),
        Status::Returned => "已回退，待重新派遣".to_owned(),
        Status::Dispatched => "处置中".to_owned(),
        Status::Handled => "已处置，待核查".to_owned(),
        Status::Verified => "核查通过，待结案".to_owned(),
        Status::Closed => "已结案".to_owned(),
        Status::Rejected => match extras.refusals.get(&row.id) {
            Some((action, _)) if action == "voided" => "不予受理：现场核实问题不属实".to_owned(),
            Some((_, reason)) if !reason.is_empty() => format!("不予受理：{reason}"),
            _ => "不予受理".to_owned(),
        },
        Status::Merged => {
            let into = case.merged_into.as_ref().and_then(|id| extras.codes.get(id));
            match into {
                Some(code) => format!("已合并：并入工单 {code}"),
                None => "已合并：并入另一工单".to_owned(),
            }
        }
    }
}

/// A case as the standard's request.
fn request(row: &IncidentRow, case: &Case, extras: &Extras, names: &Names<'_>) -> ServiceRequest {
    let category = names.tree.category(&row.category_code);
    let agency = match responsible_task(case).map(|t| &t.target) {
        Some(Target::Grid(code)) => names.grid(code),
        Some(Target::Unit(code) | Target::Department(code)) => names.unit(code),
        Some(Target::User(id)) => extras.units.get(&id.to_string()).map(|unit| names.unit(unit)).unwrap_or_default(),
        None => row.queue().map(|unit| names.unit(&unit)).unwrap_or_default(),
    };
    let ended = case.status.is_final();
    ServiceRequest {
        service_request_id: row.id.clone(),
        status: if ended { "closed" } else { "open" },
        status_notes: status_notes(row, case, extras),
        service_name: category.map_or_else(|| row.category_code.clone(), |c| c.name.clone()),
        service_code: row.category_code.clone(),
        description: row.description.clone(),
        agency_responsible: agency,
        service_notice: category.map(notice).unwrap_or_default(),
        requested_datetime: super::w3c(row.reported_at_ms),
        updated_datetime: super::w3c(row.updated_at_ms),
        expected_datetime: row.due_at_ms.filter(|_| !ended).map(super::w3c),
        address: names.address(&row.grid_code),
        address_id: row.grid_code.clone(),
        zipcode: "",
        lat: row.lat,
        long: row.lon,
        media_url: extras.media.get(&row.id).cloned(),
    }
}

/// Reads the page `window` names and shows it.
fn read_requests(
    db: &Database,
    tree: &CategoryTree,
    geo: &Geo,
    window: &Window,
    limit: i64,
    offset: i64,
) -> Result<Vec<ServiceRequest>, ApiError> {
    let (rows, extras) = db.read(|c| {
        let rows: Vec<(IncidentRow, Case)> = store::page(c, window, limit, offset)?
            .into_iter()
            .map(|row| {
                let case = serde_json::from_str::<Case>(&row.state).unwrap_or_default();
                (row, case)
            })
            .collect();
        let extras = read_extras(c, &rows)?;
        Ok((rows, extras))
    })?;
    let (index, layer) = (geo.index(), geo.layer());
    let names = Names { tree, index: &index, layer: &layer };
    Ok(rows.iter().map(|(row, case)| request(row, case, &extras, &names)).collect())
}

/// The query of `GET requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RequestsQuery {
    /// Case ids, comma-separated; when given, every other filter is ignored.
    service_request_id: Option<String>,
    /// Service codes, comma-separated.
    service_code: Option<String>,
    /// Reported at or after (W3C date and time with its offset, or a date).
    start_date: Option<String>,
    /// Reported at or before (W3C; the whole second it names). With `start_date`, at most
    /// 90 days apart; without either, the last 90 days; with one, the 90 days from or to it.
    end_date: Option<String>,
    /// `open`, `closed`, or both comma-separated.
    status: Option<String>,
    /// Which page, from 1.
    page: Option<String>,
    /// Requests per page, 1–1000 (default 1000).
    page_size: Option<String>,
    /// Accepted and ignored: this endpoint serves one jurisdiction.
    #[allow(dead_code)]
    jurisdiction_id: Option<String>,
}

/// A comma list's items, trimmed, none empty.
fn items(list: &Option<String>) -> Vec<String> {
    list.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A whole number of a query in `range`, or `default` when not given.
fn number(
    name: &str,
    given: &Option<String>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    let Some(text) = given.as_deref().map(str::trim).filter(|t| !t.is_empty()) else { return Ok(default) };
    text.parse::<i64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{name} must be a whole number from {} to {}, not {text:?}",
            range.start(),
            range.end()
        ))
    })
}

/// Which cases and which page a query asks for: the window, the page size and the offset.
/// Pure, for the fuzzer (`fuzz/fuzz_targets/open311_form.rs`) as for the route.
pub fn window_of(query: &RequestsQuery, tree: &CategoryTree, now_ms: i64) -> Result<(Window, i64, i64), ApiError> {
    let page = number("page", &query.page, 1, 1..=1_000_000)?;
    let page_size = number("page_size", &query.page_size, DEFAULT_PAGE_SIZE, 1..=MAX_PAGE_SIZE)?;
    let offset = (page - 1) * page_size;
    let ids = items(&query.service_request_id);
    if !ids.is_empty() {
        if ids.len() > MAX_IDS {
            return Err(ApiError::BadRequest(format!("at most {MAX_IDS} service_request_id at once")));
        }
        return Ok((Window { ids: Some(ids), ..Window::default() }, page_size, offset));
    }
    let services = items(&query.service_code);
    if let Some(unknown) = services.iter().find(|code| tree.category(code).is_none()) {
        return Err(ApiError::BadRequest(format!("no service {unknown}; see services.json")));
    }
    let mut wanted = std::collections::BTreeSet::new();
    for status in items(&query.status) {
        wanted.insert(match status.as_str() {
            "open" => true,
            "closed" => false,
            other => return Err(ApiError::BadRequest(format!("status must be open or closed, not {other:?}"))),
        });
    }
    // Both statuses are no filter at all.
    let open = if wanted.len() == 1 { wanted.first().copied() } else { None };
    Ok((Window { open, ..window(services, query, now_ms)? }, page_size, offset))
}

/// The window of dates a query asks for (the standard's 90 days at most), with its services.
fn window(services: Vec<String>, query: &RequestsQuery, now_ms: i64) -> Result<Window, ApiError> {
    let date = |name: &str, given: &Option<String>| -> Result<Option<i64>, ApiError> {
        match given.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(text) => super::parse_w3c(text).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name} must be a W3C date and time with its offset (2026-12-06T08:00:00+08:00) or a date \
                     (2026-12-06), not {text:?}"
                ))
            }),
        }
    };
    let (start, end) = (date("start_date", &query.start_date)?, date("end_date", &query.end_date)?);
    // The end is the whole second it names: requests show their times to the second, and a
    // client passing a request's own `requested_datetime` as the end finds that request.
    let end = end.map(|e| e - e.rem_euclid(1000) + 999);
    let (from_ms, to_ms) = match (start, end) {
        (None, None) => (now_ms - WINDOW_MS, now_ms),
        (Some(start), None) => (start, start + WINDOW_MS),
        (None, Some(end)) => (end - WINDOW_MS, end),
        (Some(start), Some(end)) if end < start => {
            return Err(ApiError::BadRequest("end_date is before start_date".into()));
        }
        (Some(start), Some(end)) if end - start > WINDOW_MS => {
            return Err(ApiError::BadRequest(
                "start_date and end_date may be at most 90 days apart; ask for shorter windows in turn".into(),
            ));
        }
        (Some(start), Some(end)) => (start, end),
    };
    Ok(Window { ids: None, services, from_ms, to_ms, open: None })
}

/// Service requests: a page of the cases the filters name, newest first. Public: no key.
#[utoipa::path(
    get,
    path = "/open311/v2/requests.{format}",
    params(("format" = String, Path, description = "`json` or `xml`"), RequestsQuery),
    responses((status = 200, description = "The requests, newest first", content(
        (Vec<ServiceRequest> = "application/json"), (Vec<ServiceRequest> = "text/xml"))
    )),
    tag = "open311"
)]
#[get("/requests.{format}")]
#[tracing::instrument(skip_all)]
pub async fn get_requests(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    format: web::Path<String>,
    query: web::Query<RequestsQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = Format::parse(&format)?;
    let (window, limit, offset) = window_of(&query, &tree, clock.now_ms())?;
    let found = web::block(move || read_requests(&db, &tree, &geo, &window, limit, offset)).await??;
    respond(format, StatusCode::OK, "service_requests", &found)
}

/// One service request, as a list of one (as the standard has it); 404 for an unknown id.
#[utoipa::path(
    get,
    path = "/open311/v2/requests/{service_request_id}.{format}",
    params(
        ("service_request_id" = String, Path, description = "The case's id"),
        ("format" = String, Path, description = "`json` or `xml`"),
        Jurisdiction,
    ),
    responses((status = 200, description = "The request, alone in a list", content(
        (Vec<ServiceRequest> = "application/json"), (Vec<ServiceRequest> = "text/xml"))
    )),
    tag = "open311"
)]
#[get("/requests/{service_request_id}.{format}")]
#[tracing::instrument(skip_all)]
pub async fn get_request(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    path: web::Path<(String, String)>,
    _query: web::Query<Jurisdiction>,
) -> Result<HttpResponse, ApiError> {
    let (id, format) = path.into_inner();
    let format = Format::parse(&format)?;
    let window = Window { ids: Some(vec![id.clone()]), ..Window::default() };
    let found = web::block(move || read_requests(&db, &tree, &geo, &window, 1, 0)).await??;
    if found.is_empty() {
        return Err(ApiError::NotFound(format!("no service request {id}")));
    }
    respond(format, StatusCode::OK, "service_requests", &found)
}

/// The id behind a token: here a request's id is given at once, so the only tokens are
/// ids, answered with themselves; 404 for anything else.
#[utoipa::path(
    get,
    path = "/open311/v2/tokens/{token}.{format}",
    params(
        ("token" = String, Path, description = "A token (here: a request's id)"),
        ("format" = String, Path, description = "`json` or `xml`"),
        Jurisdiction,
    ),
    responses((status = 200, description = "The request's id", content(
        (Vec<TokenAnswer> = "application/json"), (Vec<TokenAnswer> = "text/xml"))
    )),
    tag = "open311"
)]
#[get("/tokens/{token}.{format}")]
#[tracing::instrument(skip_all)]
pub async fn get_token(
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
    _query: web::Query<Jurisdiction>,
) -> Result<HttpResponse, ApiError> {
    let (token, format) = path.into_inner();
    let format = Format::parse(&format)?;
    let lookup = token.clone();
    if !web::block(move || db.read(|c| store::exists(c, &lookup))).await?? {
        return Err(ApiError::NotFound(format!("no token {token}")));
    }
    let answer = [TokenAnswer { service_request_id: token.clone(), token }];
    respond(format, StatusCode::OK, "service_requests", &answer)
}

/// A POSTed form: its single fields (the first of each) and its `attribute[CODE]` values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    fields: BTreeMap<String, String>,
    attributes: BTreeMap<String, Vec<String>>,
}

impl Form {
    /// Reads a POSTed body (`application/x-www-form-urlencoded`): 400 when it is not such a
    /// form, 400 `invalid-attribute` for a malformed `attribute[…]` name.
    pub fn parse(body: &[u8]) -> Result<Form, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            ApiError::BadRequest(format!("the body is not an application/x-www-form-urlencoded form: {e}"))
        })?;
        Form::read(pairs)
    }

    /// Reads `application/x-www-form-urlencoded` pairs.
    fn read(pairs: Vec<(String, String)>) -> Result<Form, ApiError> {
        let mut form = Form::default();
        for (name, value) in pairs {
            if let Some(rest) = name.strip_prefix("attribute[") {
                let code = rest.strip_suffix("][]").or_else(|| rest.strip_suffix(']'));
                let code = code.filter(|c| !c.is_empty() && !c.contains(['[', ']'])).ok_or_else(|| {
                    ApiError::refused(
                        ErrorKind::InvalidAttribute,
                        format!("{name:?} is not attribute[CODE] (or attribute[CODE][] for a list)"),
                    )
                })?;
                form.attributes.entry(code.to_owned()).or_default().push(value);
            } else {
                form.fields.entry(name).or_insert(value);
            }
        }
        Ok(form)
    }

    /// A field, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The form's content, canonical (sorted), hashed: what an `Idempotency-Key` binds.
    pub fn hash(&self) -> String {
        let canonical = json!({"fields": self.fields, "attributes": self.attributes}).to_string();
        Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A name from the standard's first and last names: family name first and no space when
/// both are written in Chinese characters (张 + 三丰 → 张三丰), "first last" otherwise.
fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let cjk = |s: &str| s.chars().all(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c) || c == '·');
    match (first, last) {
        (Some(first), Some(last)) if cjk(first) && cjk(last) => Some(format!("{last}{first}")),
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (one, other) => one.or(other).map(str::to_owned),
    }
}

/// The longest e-mail address kept.
const MAX_EMAIL_CHARS: usize = 254;

fn check_email(email: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(email) = email else { return Ok(None) };
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
    if ok {
        Ok(Some(email.to_owned()))
    } else {
        Err(ApiError::refused(ErrorKind::InvalidContact, format!("{email:?} is not an e-mail address")))
    }
}

/// An identifier a client gives (device, account): at most 128 characters.
fn check_id(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > MAX_ID_CHARS || v.chars().any(char::is_control) => {
            Err(ApiError::BadRequest(format!("{name} must be at most {MAX_ID_CHARS} printable characters")))
        }
        v => Ok(v.map(str::to_owned)),
    }
}

/// The position a request gives: `lat` and `long` in WGS-84. An address alone cannot be
/// placed here: this server has no geocoder, and looks nothing up elsewhere.
fn position(form: &Form) -> Result<(f64, f64), ApiError> {
    let coordinate = |name: &str| -> Result<Option<f64>, ApiError> {
        match form.get(name) {
            None => Ok(None),
            Some(text) => text.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some).ok_or_else(|| {
                ApiError::InvalidCoordinates(format!("{name} must be a number (WGS-84 degrees), not {text:?}"))
            }),
        }
    };
    match (coordinate("lat")?, coordinate("long")?) {
        (Some(lat), Some(long)) => Ok((long, lat)),
        (None, None) if form.get("address_string").is_some() || form.get("address_id").is_some() => {
            Err(ApiError::InvalidCoordinates(
                "address_string without lat/long is not supported here: this server cannot geocode addresses \
                 (it looks nothing up elsewhere); send lat and long in WGS-84"
                    .into(),
            ))
        }
        (None, None) => Err(ApiError::InvalidCoordinates("lat and long (WGS-84) are required".into())),
        _ => Err(ApiError::InvalidCoordinates("give both lat and long (WGS-84)".into())),
    }
}

/// A media URL: an `http` or `https` URL of at most 2048 characters, kept as given and
/// never fetched (the server reaches out to no address a client names).
fn check_media_url(url: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(url) = url else { return Ok(None) };
    let lower = url.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() > "https://".len()
        && url.chars().count() <= MAX_URL_CHARS
        && !url.contains(char::is_whitespace);
    if ok {
        Ok(Some(url.to_owned()))
    } else {
        Err(ApiError::refused(
            ErrorKind::InvalidReport,
            "media_url must be an http or https URL of at most 2048 characters",
        ))
    }
}

/// A POSTed request as far as it can be checked without storage or the map: what
/// [`post_request`] places and files once the key is known.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    /// The service's category.
    pub category: Category,
    /// The `attribute[CODE]` values kept, by code.
    pub attributes: serde_json::Map<String, Value>,
    /// An emergency's grade the requester claims (`attribute[severity]`).
    pub severity: Option<Severity>,
    /// WGS-84 longitude (finite).
    pub long: f64,
    /// WGS-84 latitude (finite).
    pub lat: f64,
    /// What is wrong, trimmed (at most [`MAX_DESCRIPTION_CHARS`]).
    pub description: String,
    /// An http(s) URL, never fetched.
    pub media_url: Option<String>,
    /// The requester's name and phone.
    pub contact: Option<report::Contact>,
    /// The requester's e-mail.
    pub email: Option<String>,
    /// The client's device id.
    pub device_id: Option<String>,
    /// The client's account id for the requester.
    pub account_id: Option<String>,
}

/// Checks a POSTed form beyond its key: the service and its attributes, the position, the
/// description or media URL, the requester's details. A pure function, so that the fuzzer
/// (`fuzz/fuzz_targets/open311_form.rs`) runs exactly what the route runs.
pub fn check_request(form: &Form, tree: &CategoryTree, attributes: &Attributes) -> Result<CheckedRequest, ApiError> {
    let Some(code) = form.get("service_code") else {
        return Err(ApiError::refused(ErrorKind::UnknownCategory, "service_code is required; see services.json"));
    };
    let Some(category) = tree.category(code).cloned() else {
        return Err(ApiError::refused(ErrorKind::UnknownCategory, format!("no service {code}; see services.json")));
    };
    let definitions = definitions(tree, attributes, code).unwrap_or_default();
    let kept = Attributes::check(&definitions, code, &form.attributes)
        .map_err(|detail| ApiError::refused(ErrorKind::InvalidAttribute, detail))?;
    // An emergency's grade from the requester is a claim, as a resident's is.
    let severity = match kept.get("severity").and_then(Value::as_str) {
        Some(grade) if category.domain == Domain::Emergency => {
            Some(grade.parse::<Severity>().map_err(|e| ApiError::refused(ErrorKind::InvalidAttribute, e))?)
        }
        _ => None,
    };
    let (long, lat) = position(form)?;
    let description = form.get("description").unwrap_or_default().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::refused(
            ErrorKind::InvalidReport,
            format!("the description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let media_url = check_media_url(form.get("media_url"))?;
    if description.is_empty() && media_url.is_none() {
        return Err(ApiError::refused(ErrorKind::InvalidReport, "say what is wrong: a description or a media_url"));
    }
    let name = full_name(form.get("first_name"), form.get("last_name"));
    let contact = report::check_contact(name.as_deref(), form.get("phone"), None)?;
    let email = check_email(form.get("email"))?;
    let device_id = check_id("device_id", form.get("device_id"))?;
    let account_id = check_id("account_id", form.get("account_id"))?;
    Ok(CheckedRequest {
        category,
        attributes: kept,
        severity,
        long,
        lat,
        description,
        media_url,
        contact,
        email,
        device_id,
        account_id,
    })
}

/// Files a service request with an API key: the case is opened at once, through the
/// same path as a resident's report; its id is the `service_request_id`.
#[utoipa::path(
    post,
    path = "/open311/v2/requests.{format}",
    params(
        ("format" = String, Path, description = "`json` or `xml`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the same request (24 h)"),
    ),
    request_body(
        content_type = "application/x-www-form-urlencoded",
        description = "`api_key`, `service_code`, `lat` and `long` (WGS-84), `attribute[CODE]`, `description`, \
                       `media_url`, `email`, `first_name`, `last_name`, `phone`, `device_id`, `account_id`, \
                       `jurisdiction_id` (ignored); `address_string` alone cannot be placed",
    ),
    responses((status = 200, description = "The request's id, given at once", content(
        (Vec<Created> = "application/json"), (Vec<Created> = "text/xml"))
    )),
    tag = "open311"
)]
#[post("/requests.{format}")]
#[tracing::instrument(skip_all, fields(client = tracing::field::Empty))]
#[allow(clippy::too_many_arguments)]
pub async fn post_request(
    req: HttpRequest,
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    calendars: web::Data<Calendars>,
    clock: web::Data<Clock>,
    path: web::Data<WritePath>,
    open311: web::Data<Open311>,
    format: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let format = Format::parse(&format)?;
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        return Err(ApiError::BadRequest(
            "send the request as application/x-www-form-urlencoded; multipart bodies are not taken (media \
             travels as media_url)"
                .into(),
        ));
    }
    let idempotency_key = report::idempotency_key(&req)?;
    let body = crate::body::read_limited(payload, MAX_POST_BYTES).await?;
    let form = Form::parse(&body)?;

    // The key first: nothing else is judged for a client the server does not know.
    let Some(key) = form.get("api_key").map(str::to_owned) else {
        return Err(ApiError::refused(ErrorKind::InvalidApiKey, "api_key is required to file a request"));
    };
    let client = {
        let db = db.clone();
        web::block(move || db.read(|c| super::keys::active(c, &key))).await??
    }
    .ok_or_else(|| {
        ApiError::refused(ErrorKind::InvalidApiKey, "this api_key was not issued by this server, or it was revoked")
    })?;
    tracing::Span::current().record("client", client.name.as_str());
    open311.limiter.take(&client.id, 1.0, Instant::now()).map_err(ApiError::RateLimited)?;

    let CheckedRequest {
        category,
        attributes: kept,
        severity,
        long,
        lat,
        description,
        media_url,
        contact,
        email,
        device_id,
        account_id,
    } = check_request(&form, &tree, &open311.attributes)?;
    // Personal data: stored sealed, never in plain form.
    let email = match email {
        Some(email) => Some(db.keys().map_err(ApiError::internal)?.seal(crate::seal::label::OPEN311_EMAIL, &email)),
        None => None,
    };
    let (chain, position) = report::place(&geo, Crs::Wgs84, long, lat)?;

    let mut trace = serde_json::Map::new();
    let mut said = json!({"client": client.name, "key": client.id, "attributes": kept});
    for (field, value) in [("media_url", &media_url), ("device_id", &device_id), ("account_id", &account_id)] {
        if let Some(value) = value {
            said[field] = json!(value);
        }
    }
    trace.insert("open311".to_owned(), said);
    let filing = Filing {
        category: category.code.clone(),
        chain,
        position,
        description,
        photos: Vec::new(),
        contact,
        severity,
        reporter: None,
        source: "open311".to_owned(),
        trace,
    };
    let idempotency =
        idempotency_key.map(|key| Idempotency { scope: format!("open311:{}", client.id), key, hash: form.hash() });
    let row = RequestRow {
        incident_id: String::new(),
        api_key_id: client.id.clone(),
        attributes: Value::Object(kept).to_string(),
        media_url,
        email,
        device_id,
        account_id: account_id.clone(),
    };
    let filer = Filer { db, tree, geo, calendars, clock, path };
    let opened = web::block(move || {
        filer.file(filing, idempotency.as_ref(), |conn, case| {
            Ok(store::insert(conn, &RequestRow { incident_id: case.id.clone(), ..row })?)
        })
    })
    .await??;
    tracing::info!(id = %opened.id, code = %opened.code, client = %client.name, "Open311 request filed");
    let answer = [Created { service_request_id: opened.id, service_notice: notice(&category), account_id }];
    respond(format, StatusCode::OK, "service_requests", &answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_split_fields_from_attributes() {
        let pairs = [
            ("api_key", "k"),
            ("attribute[lanes_blocked][]", "left"),
            ("attribute[lanes_blocked][]", "right"),
            ("attribute[severity]", "II"),
            ("description", " 积水 "),
            ("description", "second"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
        let form = Form::read(pairs.to_vec()).unwrap();
        assert_eq!(form.get("description"), Some("积水"), "the first of a field, trimmed");
        assert_eq!(form.attributes["lanes_blocked"], ["left", "right"]);
        assert_eq!(form.attributes["severity"], ["II"]);
        assert!(Form::read(vec![("attribute[]".into(), "x".into())]).is_err());
        assert!(Form::read(vec![("attribute[a".into(), "x".into())]).is_err());
        let same = Form::read(pairs.to_vec()).unwrap();
        assert_eq!(form.hash(), same.hash());
    }

    #[test]
    fn names_positions_and_urls_are_read_as_the_standard_sends_them() {
        assert_eq!(full_name(Some("三丰"), Some("张")).as_deref(), Some("张三丰"));
        assert_eq!(full_name(Some("Ada"), Some("Lovelace")).as_deref(), Some("Ada Lovelace"));
        assert_eq!(full_name(None, Some("张")).as_deref(), Some("张"));
        assert_eq!(full_name(None, None), None);
        let form = |pairs: &[(&str, &str)]| {
            Form::read(pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()).unwrap()
        };
        assert_eq!(position(&form(&[("lat", "33.96"), ("long", "118.27")])).unwrap(), (118.27, 33.96));
        let address = position(&form(&[("address_string", "幸福路 1 号")])).unwrap_err();
        assert!(address.to_string().contains("address_string without lat/long is not supported"), "{address}");
        assert!(position(&form(&[("lat", "33.96")])).is_err());
        assert!(position(&form(&[("lat", "north"), ("long", "1")])).is_err());
        assert!(check_media_url(Some("https://example.org/a.jpg")).is_ok());
        assert!(check_media_url(Some("ftp://example.org/a.jpg")).is_err());
        assert!(check_media_url(Some("https://exa mple.org")).is_err());
        assert!(check_email(Some("a@b.cn")).is_ok());
        assert!(check_email(Some("not-an-address")).is_err());
    }

    #[test]
    fn a_posted_form_is_checked_whole_before_its_key_is_looked_up() {
        let tree = CategoryTree::default_tree().unwrap();
        let attributes = Attributes::builtin().unwrap();
        let body = b"api_key=k&service_code=C0101&lat=33.96&long=118.27&description=%E4%BA%95%E7%9B%96&email=a%40b.cn";
        let form = Form::parse(body).unwrap();
        assert_eq!(form.get("api_key"), Some("k"));
        let checked = check_request(&form, &tree, &attributes).unwrap();
        assert_eq!((checked.category.code.as_str(), checked.long, checked.lat), ("C0101", 118.27, 33.96));
        assert_eq!((checked.description.as_str(), checked.email.as_deref()), ("井盖", Some("a@b.cn")));
        assert!(Form::parse(b"a=%ZZ&attribute[=1").is_err());
        for (body, kind) in [
            (&b"lat=1&long=1&description=d"[..], ErrorKind::UnknownCategory),
            (b"service_code=C0101&lat=1&description=d", ErrorKind::InvalidCoordinates),
            (b"service_code=C0101&lat=1&long=1", ErrorKind::InvalidReport),
            (b"service_code=C0101&lat=1&long=1&description=d&attribute[nope]=1", ErrorKind::InvalidAttribute),
        ] {
            let form = Form::parse(body).unwrap();
            let refused = check_request(&form, &tree, &attributes).unwrap_err();
            assert_eq!(refused.kind(), kind, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn dates_and_pages_are_checked_and_windows_are_ninety_days_at_most() {
        let tree = CategoryTree::default_tree().unwrap();
        let now = crate::clock::parse_rfc3339("2026-12-06T00:00:00Z").unwrap();
        let query = |pairs: &[(&str, &str)]| -> RequestsQuery {
            let text = serde_urlencoded::to_string(pairs).unwrap();
            serde_urlencoded::from_str(&text).unwrap()
        };
        let (w, size, offset) = window_of(&query(&[]), &tree, now).unwrap();
        assert_eq!((w.from_ms, w.to_ms, size, offset), (now - WINDOW_MS, now, DEFAULT_PAGE_SIZE, 0));
        let (w, size, offset) =
            window_of(&query(&[("page", "3"), ("page_size", "10"), ("status", "open")]), &tree, now).unwrap();
        assert_eq!((w.open, size, offset), (Some(true), 10, 20));
        let (w, ..) = window_of(&query(&[("status", "open,closed")]), &tree, now).unwrap();
        assert_eq!(w.open, None);
        let (w, ..) = window_of(&query(&[("service_request_id", "a, b"), ("status", "nonsense")]), &tree, now).unwrap();
        assert_eq!(w.ids, Some(vec!["a".to_owned(), "b".to_owned()]), "ids: the rest is ignored");
        let (w, ..) = window_of(&query(&[("start_date", "2026-01-01")]), &tree, now).unwrap();
        assert_eq!(w.to_ms - w.from_ms, WINDOW_MS);
        for bad in [
            &[("start_date", "last week")][..],
            &[("end_date", "2026-12-06T08:00:00")],
            &[("start_date", "2026-01-01"), ("end_date", "2026-06-01")],
            &[("start_date", "2026-06-01"), ("end_date", "2026-05-01")],
            &[("page", "0")],
            &[("page_size", "1001")],
            &[("status", "pending")],
            &[("service_code", "X9999")],
        ] {
            assert!(window_of(&query(bad), &tree, now).is_err(), "{bad:?}");
        }
    }
}

//! Residents' reports: `POST /api/v1/reports` opens a case without an account, and
//! `GET /api/v1/reports/{id}?follow_token=…` lets the reporter follow it (a duplicate
//! merged into another case shows that case too), and `POST /api/v1/reports/{id}/rating`
//! lets them rate it once it is closed.
//!
//! A report names a leaf category, a position in any of the three coordinate systems,
//! optional photos uploaded before and optional contact details. An `Idempotency-Key`
//! binds the request to its body for 24 hours: a retry with the same body gets the
//! same case (and the same follow token); the same key with another body is refused.
//!
//! Every door that opens a case from outside — this route, and Open311's `POST requests`
//! (`crate::open311::requests`) — checks and places its report, then hands it to
//! [`Filer::file`], the one way such a case is opened: through the write path, with the
//! routing rules acting on arrival and the idempotency record in the same transaction.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use geodata::Level;
use geodata::crs::Crs;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::act::{self, Actor, NewCase, WritePath};
use super::desk::Desk;
use super::routes::{Book, check_photos};
use super::scope::Viewer;
use super::store;
use super::view;
use crate::auth::{Role, new_token, token_hash};
use crate::calendar::Calendars;
use crate::categories::{CategoryTree, Severity};
use crate::clock::Clock;
use crate::error_kind::ErrorKind;
use crate::geo::Geo;
use crate::problem::ApiError;
use crate::store::Database;

/// The largest report body taken (photos travel separately).
const MAX_REPORT_BYTES: usize = 64 * 1024;
/// How long an `Idempotency-Key` is kept.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest description of a report, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// A position as a phone sends it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationIn {
    /// Longitude.
    lon: f64,
    /// Latitude.
    lat: f64,
    /// `wgs84` (default), `gcj02` or `bd09`.
    crs: Option<String>,
}

/// A reporter's contact details.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    /// Name.
    name: Option<String>,
    /// Phone.
    phone: Option<String>,
    /// ID number (身份证号: 18 characters, or the old 15 digits).
    id_number: Option<String>,
}

/// A resident's report.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ReportIn {
    /// A leaf category code.
    category: String,
    /// Where.
    location: LocationIn,
    /// What is wrong.
    #[serde(default)]
    description: String,
    /// Attachment ids, uploaded first.
    #[serde(default)]
    photos: Vec<String>,
    /// How to reach the reporter.
    contact: Option<ContactIn>,
    /// An emergency's grade, `I` (特别重大) to `IV` (一般), if known; emergencies only.
    severity: Option<Severity>,
}

/// The opened case, and the token that lets its reporter follow it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Opened {
    /// The case's id.
    pub id: String,
    /// Its human number.
    pub code: String,
    /// `reported`.
    pub status: String,
    /// Give it to `GET /api/v1/reports/{id}`.
    pub follow_token: String,
}

fn invalid(kind: ErrorKind, detail: String) -> ApiError {
    ApiError::Refused { kind, detail }
}

/// A reporter's contact details, each if given: personal data, sealed when stored
/// (`crate::seal`) and shown masked; read unmasked only by those the table allows, with a
/// reason, each read traced (`POST /api/v1/incidents/{id}/contact`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Name.
    pub name: Option<String>,
    /// Phone (a hotline caller's number, for a call).
    pub phone: Option<String>,
    /// ID number (身份证号).
    pub id_number: Option<String>,
}

impl Contact {
    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.phone.is_none() && self.id_number.is_none()
    }
}

/// Checks what can be checked without storage; the contact details trimmed.
fn check_report(input: &ReportIn, tree: &CategoryTree) -> Result<Option<Contact>, ApiError> {
    let Some(category) = tree.category(&input.category) else {
        return Err(invalid(
            ErrorKind::UnknownCategory,
            format!("no category {:?}; see GET /api/v1/categories", input.category),
        ));
    };
    // A grade on a category that takes none is refused rather than dropped, so that a
    // client learns at once that it sends something meaningless.
    category.takes(input.severity).map_err(|detail| invalid(ErrorKind::InvalidReport, detail))?;
    if input.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            ErrorKind::InvalidReport,
            format!("the description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if input.description.trim().is_empty() && input.photos.is_empty() {
        return Err(invalid(ErrorKind::InvalidReport, "say what is wrong: a description or at least one photo".into()));
    }
    let Some(contact) = &input.contact else { return Ok(None) };
    check_contact(contact.name.as_deref(), contact.phone.as_deref(), contact.id_number.as_deref())
}

/// A report's body as far as it can be checked without storage or the map: what
/// [`file_report`] places and files next.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedReport {
    /// A leaf category of the tree.
    pub category: String,
    /// Longitude, in `crs`.
    pub lon: f64,
    /// Latitude, in `crs`.
    pub lat: f64,
    /// The coordinate system the phone sent (WGS-84 unless it said).
    pub crs: Crs,
    /// What is wrong, trimmed (at most [`MAX_DESCRIPTION_CHARS`]).
    pub description: String,
    /// Attachment ids (checked to exist when filed).
    pub photos: Vec<String>,
    /// The contact details, trimmed and checked.
    pub contact: Option<Contact>,
    /// An emergency's grade, on a category that takes one.
    pub severity: Option<Severity>,
}

/// Reads and checks the JSON body of `POST /api/v1/reports` (already parsed, and its texts
/// bounded by [`crate::body::json`]): the report's shape, its category, grade, description
/// and contact, and its coordinate system. A pure function, so that the fuzzer
/// (`fuzz/fuzz_targets/report_body.rs`) runs exactly what the route runs.
pub fn check_body(value: serde_json::Value, tree: &CategoryTree) -> Result<CheckedReport, ApiError> {
    let report: ReportIn = serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a valid report: {e}")))?;
    let contact = check_report(&report, tree)?;
    let crs = match report.location.crs.as_deref() {
        None => Crs::Wgs84,
        Some(name) => name
            .parse::<Crs>()
            .map_err(|_| ApiError::InvalidCrs(format!("crs must be wgs84, gcj02 or bd09, not {name:?}")))?,
    };
    Ok(CheckedReport {
        description: report.description.trim().to_owned(),
        category: report.category,
        lon: report.location.lon,
        lat: report.location.lat,
        crs,
        photos: report.photos,
        contact,
        severity: report.severity,
    })
}

/// A reporter's contact details, trimmed and checked (a name of at most 50 characters, a
/// phone of 5–20 digits with `+`, `-` or spaces, an ID number of 17 digits and a digit or
/// `X`, or 15 digits); `None` when none is given.
pub fn check_contact(
    name: Option<&str>,
    phone: Option<&str>,
    id_number: Option<&str>,
) -> Result<Option<Contact>, ApiError> {
    let clean = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let (name, phone) = (clean(name), clean(phone));
    let id_number = clean(id_number).map(|n| n.to_ascii_uppercase());
    let id_ok = |n: &String| {
        let digits = n.bytes().filter(u8::is_ascii_digit).count();
        match n.len() {
            18 => digits == 18 || (digits == 17 && n.ends_with('X')),
            15 => digits == 15,
            _ => false,
        }
    };
    if id_number.as_ref().is_some_and(|n| !id_ok(n)) {
        return Err(invalid(
            ErrorKind::InvalidContact,
            "the ID number must be 17 digits and a digit or X (or the old 15 digits)".into(),
        ));
    }
    if name.as_ref().is_some_and(|n| n.chars().count() > 50) {
        return Err(invalid(ErrorKind::InvalidContact, "the name is longer than 50 characters".into()));
    }
    let phone_ok = |p: &String| {
        (5..=20).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
    };
    if phone.as_ref().is_some_and(|p| !phone_ok(p)) {
        return Err(invalid(ErrorKind::InvalidContact, "the phone must be 5–20 digits (with + - or spaces)".into()));
    }
    let contact = Contact { name, phone, id_number };
    Ok((!contact.is_empty()).then_some(contact))
}

/// Places a reported point: the codes of its grid and the units above it (city, county,
/// township, community, grid), and the point in WGS-84, as stored whatever the phone sent.
pub fn place(geo: &Geo, crs: Crs, lon: f64, lat: f64) -> Result<([String; 5], (f64, f64)), ApiError> {
    let index = geo.index();
    let placed = index.locate_in(crs, lon, lat).map_err(|e| crate::geo::routes::placement_error(e, lon, lat))?;
    let level_code = |level: Level| {
        placed.grid.chain.iter().find(|l| l.level == level).map(|l| l.code.as_str().to_owned()).unwrap_or_default()
    };
    let chain = [Level::City, Level::County, Level::Township, Level::Community, Level::Grid].map(level_code);
    Ok((chain, geodata::crs::to_wgs84(crs, lon, lat)))
}

/// The report's body, canonical (keys sorted, no spaces), hashed: a retry that formats
/// the same JSON differently is still the same body.
fn body_hash(value: &serde_json::Value) -> String {
    Sha256::digest(value.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Idempotency-Key` of a request, if it has a well-formed one (400 otherwise).
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest("Idempotency-Key must be 1–255 visible ASCII characters".into()));
    }
    Ok(Some(key.to_owned()))
}

/// Why a report's transaction did not commit: an error, or another request took the
/// key meanwhile (its result is read after the rollback).
enum FileError {
    Api(ApiError),
    Raced,
}

impl From<ApiError> for FileError {
    fn from(e: ApiError) -> FileError {
        FileError::Api(e)
    }
}
impl From<diesel::result::Error> for FileError {
    fn from(e: diesel::result::Error) -> FileError {
        FileError::Api(e.into())
    }
}
impl From<crate::store::StoreError> for FileError {
    fn from(e: crate::store::StoreError) -> FileError {
        FileError::Api(e.into())
    }
}
impl From<act::ActError> for FileError {
    fn from(e: act::ActError) -> FileError {
        FileError::Api(e.into())
    }
}

/// The stored result of a key in `scope`, if it was bound to this body; 422 if to another.
fn replay(db: &Database, scope: &str, key: &str, hash: &str, now: i64) -> Result<Option<Opened>, ApiError> {
    let Some(found) = db.read(|c| store::remembered(c, scope, key, now - IDEMPOTENCY_TTL_MS))? else {
        return Ok(None);
    };
    if found.body_hash != hash {
        return Err(invalid(
            ErrorKind::IdempotencyKeyReused,
            "this Idempotency-Key was used with another body; use a new key for a new report".into(),
        ));
    }
    // The answer holds the follow token: it is kept sealed.
    let result = db.keys().and_then(|k| k.open(crate::seal::label::IDEMPOTENCY_RESULT, &found.result));
    serde_json::from_str(&result.map_err(ApiError::internal)?).map(Some).map_err(ApiError::internal)
}

/// The scope of the keys of `POST /api/v1/reports`.
const REPORT_SCOPE: &str = "report";

/// An `Idempotency-Key`, the hash of the body it came with, and the scope the key is
/// unique in (each door, or each client, has its own).
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Where the key is unique: `report`, or an Open311 client's own.
    pub scope: String,
    /// The key.
    pub key: String,
    /// The hash of the request it was sent with.
    pub hash: String,
}

/// A report checked and placed, ready for [`Filer::file`].
#[derive(Debug, Clone)]
pub struct Filing {
    /// A leaf category (checked to exist).
    pub category: String,
    /// Its place: city, county, township, community, grid.
    pub chain: [String; 5],
    /// Where, in WGS-84 (longitude, latitude).
    pub position: (f64, f64),
    /// What is wrong, trimmed.
    pub description: String,
    /// Photos (attachment ids; checked to exist in the transaction).
    pub photos: Vec<String>,
    /// How to reach the reporter (personal data: shown masked).
    pub contact: Option<Contact>,
    /// An emergency's grade as given: staff's stands, anyone else's is a claim.
    pub severity: Option<Severity>,
    /// The staff member filing it, if one does where they work.
    pub reporter: Option<Actor>,
    /// Where it came from: `resident`, `staff`, `hotline`, `open311`.
    pub source: String,
    /// More facts for the trace's first event (`reported`): an Open311 client's name and
    /// attributes, say.
    pub trace: serde_json::Map<String, serde_json::Value>,
}

/// What opening a case from outside needs.
#[derive(Clone)]
pub struct Filer {
    /// The database.
    pub db: web::Data<Database>,
    /// The category tree.
    pub tree: web::Data<CategoryTree>,
    /// The grid layer and index.
    pub geo: web::Data<Geo>,
    /// The counties' calendars.
    pub calendars: web::Data<Calendars>,
    /// The cases' clock.
    pub clock: web::Data<Clock>,
    /// The one write path.
    pub path: web::Data<WritePath>,
}

impl Filer {
    /// The first answer to `idempotency`'s key, if it was bound to the same body; 422
    /// `idempotency-key-reused` if to another. Blocking: call it off the async workers.
    pub fn replay(&self, idempotency: &Idempotency) -> Result<Option<Opened>, ApiError> {
        let Idempotency { scope, key, hash } = idempotency;
        replay(&self.db, scope, key, hash, self.clock.now_ms())
    }

    /// Opens the case `filing` describes through the one write path, in one transaction:
    /// the case and its first event, the routing rules' steps on arrival (an
    /// `auto_dispatch` category of a hotline filing is dispatched at once), `also` (rows a
    /// door keeps beside the case), and the idempotency record with the answer. A key seen
    /// before answers its first result instead; a key taken by a concurrent request
    /// meanwhile answers that one's. Blocking: call it off the async workers.
    pub fn file(
        &self,
        filing: Filing,
        idempotency: Option<&Idempotency>,
        also: impl FnOnce(&mut crate::store::DbConnection, &store::IncidentRow) -> Result<(), ApiError>,
    ) -> Result<Opened, ApiError> {
        let now = self.clock.now_ms();
        if let Some(idempotency) = idempotency
            && let Some(first) = self.replay(idempotency)?
        {
            return Ok(first);
        }
        let level = self
            .tree
            .category(&filing.category)
            .map(|c| c.level)
            .ok_or_else(|| ApiError::internal("category vanished"))?;
        let token = new_token();
        let Filing { category, chain, position, description, photos, contact, severity, reporter, source, trace } =
            filing;
        let new = NewCase {
            id: Uuid::new_v4().to_string(),
            category,
            level: i32::from(level),
            chain,
            lon: position.0,
            lat: position.1,
            description,
            photos,
            contact,
            source,
            follow_token_hash: token_hash(&token),
            // A resident's grade is a claim until staff confirm it.
            severity: severity.filter(|_| reporter.is_some()),
            claimed_severity: severity.filter(|_| reporter.is_none()),
        };
        let desk = Desk { tree: &self.tree, geo: &self.geo, calendars: &self.calendars };
        let filed = self.path.run(|tx| -> Result<Opened, FileError> {
            check_photos(tx.conn(), &new.photos)?;
            let row = tx.open_traced(new, reporter.as_ref(), trace, now)?;
            also(tx.conn(), &row)?;
            // The rules may take it in and dispatch it at once; the reporter sees where it went.
            let row = crate::routing::dispatch::on_arrival(tx, &desk, &row, now)?.unwrap_or(row);
            let opened = Opened { id: row.id, code: row.code, status: row.status, follow_token: token };
            if let Some(Idempotency { scope, key, hash }) = idempotency {
                let result = serde_json::to_string(&opened).map_err(ApiError::internal)?;
                // Never the follow token in plain form, not even for a day.
                let keys = self.db.keys().map_err(ApiError::internal)?;
                let result = keys.seal(crate::seal::label::IDEMPOTENCY_RESULT, &result);
                if !store::remember(tx.conn(), scope, key, hash, &result, now, now - IDEMPOTENCY_TTL_MS)? {
                    return Err(FileError::Raced);
                }
            }
            Ok(opened)
        });
        match filed {
            Ok(opened) => Ok(opened),
            Err(FileError::Raced) => match idempotency {
                Some(idempotency) => self.replay(idempotency)?.ok_or_else(|| ApiError::internal("key vanished")),
                None => Err(ApiError::internal("raced without a key")),
            },
            Err(FileError::Api(e)) => Err(e),
        }
    }
}

/// Opens a case from a resident (or a staff member filing for one).
#[utoipa::path(
    post,
    path = "/api/v1/reports",
    request_body = ReportIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the same case (24 h)")),
    responses(
        (status = 201, description = "The case is open: `reported`, or already `dispatched` when the rules act for a staff filing", body = Opened),
    ),
    tag = "reporting"
)]
#[post("/api/v1/reports")]
#[tracing::instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn file_report(
    allowed: crate::ratelimit::ReportAllowance,
    req: HttpRequest,
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    calendars: web::Data<Calendars>,
    clock: web::Data<Clock>,
    path: web::Data<WritePath>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let value: serde_json::Value = crate::body::json(payload, MAX_REPORT_BYTES).await?;
    let filer = Filer { db, tree: tree.clone(), geo: geo.clone(), calendars, clock, path };
    let idempotency = key.map(|key| Idempotency { scope: REPORT_SCOPE.to_owned(), key, hash: body_hash(&value) });
    // A retry is answered from its first result before anything else is judged, and a
    // key reused with another body is refused as such, whatever that body holds.
    if let Some(idempotency) = idempotency.clone() {
        let filer = filer.clone();
        if let Some(first) = web::block(move || filer.replay(&idempotency)).await?? {
            return Ok(HttpResponse::Created().json(first));
        }
    }
    let report = check_body(value, &tree)?;
    let (chain, position) = place(&geo, report.crs, report.lon, report.lat)?;
    // Staff file on a caller's behalf only where they work; elsewhere they report as
    // anyone does, as a resident.
    let reporter = match &allowed.staff {
        Some(user) => Some(Viewer::of(user)?)
            .filter(|viewer| super::permissions::files_at(viewer, &chain[4]))
            .map(|viewer| Actor { viewer, device_id: None }),
        None => None,
    };
    let source = match reporter.as_ref().map(|r| r.viewer.role) {
        None => "resident",
        Some(Role::HotlineOperator) => "hotline",
        Some(_) => "staff",
    };
    let filing = Filing {
        category: report.category,
        chain,
        position,
        description: report.description,
        photos: report.photos,
        contact: report.contact,
        severity: report.severity,
        reporter,
        source: source.to_owned(),
        trace: serde_json::Map::new(),
    };
    let opened = web::block(move || filer.file(filing, idempotency.as_ref(), |_, _| Ok(()))).await??;
    tracing::info!(id = %opened.id, code = %opened.code, "case reported");
    Ok(HttpResponse::Created().json(opened))
}

/// The query of the follow view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FollowQuery {
    /// The token the report returned.
    follow_token: Option<String>,
}

/// A reported case's status and history, for whoever holds its follow token; no one's
/// personal data. A wrong or missing token is answered like a case that does not exist.
#[utoipa::path(
    get,
    path = "/api/v1/reports/{id}",
    params(("id" = String, Path, description = "The case's id"), FollowQuery),
    responses(
        (status = 200, description = "The case as its reporter follows it", body = view::FollowView),
    ),
    tag = "reporting"
)]
#[get("/api/v1/reports/{id}")]
#[tracing::instrument(skip_all)]
pub async fn follow(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    id: web::Path<String>,
    query: web::Query<FollowQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let not_found = || ApiError::NotFound(format!("no report {id} with this follow token"));
    let token = query.into_inner().follow_token.ok_or_else(not_found)?;
    let lookup = id.clone();
    let found = web::block(move || {
        db.read(|c| {
            let Some(row) = store::incident(c, &lookup)? else { return Ok(None) };
            if row.follow_token_hash != token_hash(&token) {
                return Ok(None);
            }
            let events = store::events_of(c, &lookup)?;
            let survivor = survivor_of(c, &row)?;
            Ok(Some((row, events, survivor)))
        })
    })
    .await??;
    let (row, events, survivor) = found.ok_or_else(not_found)?;
    let index = geo.index();
    let book = Book { tree: &tree, index: &index };
    let mut view = view::follow(&row, &events, &book);
    view.merged_into = survivor.map(|(row, events)| Box::new(view::follow(&row, &events, &book)));
    Ok(HttpResponse::Ok().json(view))
}

/// The most merges followed from a duplicate to the case it ended in.
const MAX_MERGE_HOPS: usize = 16;

/// For a duplicate merged into another case (并单), the case it ended in (following merges
/// of the survivor in turn) with that case's trace: what its reporter follows now.
fn survivor_of(
    conn: &mut crate::store::DbConnection,
    row: &store::IncidentRow,
) -> diesel::QueryResult<Option<(store::IncidentRow, Vec<store::EventRow>)>> {
    let into = |row: &store::IncidentRow| {
        serde_json::from_str::<super::workflow::Case>(&row.state).ok().and_then(|case| case.merged_into)
    };
    let Some(mut next) = into(row) else { return Ok(None) };
    let mut last = None;
    for _ in 0..MAX_MERGE_HOPS {
        let Some(found) = store::incident(conn, &next)? else { break };
        let onward = into(&found);
        last = Some(found);
        match onward {
            Some(id) => next = id,
            None => break,
        }
    }
    let Some(found) = last else { return Ok(None) };
    let events = store::events_of(conn, &found.id)?;
    Ok(Some((found, events)))
}

/// A reporter's rating of their closed case (好差评).
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingValue {
    /// 满意.
    Satisfied,
    /// 基本满意.
    Basic,
    /// 不满意: the case is reopened (返工).
    Unsatisfied,
}

/// The body of a rating.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RatingIn {
    /// The token the report returned.
    follow_token: String,
    /// `satisfied`, `basic` or `unsatisfied`.
    rating: RatingValue,
    /// What the reporter says of the result (kept in the trace for staff; never shown on
    /// the follow view, which anyone holding the link reads).
    #[serde(default)]
    comment: Option<String>,
}

/// The longest rating comment taken, in characters.
const MAX_COMMENT_CHARS: usize = 500;

/// The largest rating body taken.
const MAX_RATING_BYTES: usize = 4 * 1024;

/// The reporter rates their closed case (评价), with its follow token: once per closing;
/// `unsatisfied` reopens it and sends the work back to its last lead handler (返工). The
/// trace records the rating as the system's, on the anonymous reporter's behalf.
#[utoipa::path(
    post,
    path = "/api/v1/reports/{id}/rating",
    params(("id" = String, Path, description = "The case's id")),
    request_body = RatingIn,
    responses(
        (status = 200, description = "The case as its reporter follows it, after the rating", body = view::FollowView),
    ),
    tag = "reporting"
)]
#[post("/api/v1/reports/{id}/rating")]
#[tracing::instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn rate(
    db: web::Data<Database>,
    tree: web::Data<CategoryTree>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    path: web::Data<WritePath>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let value: serde_json::Value = crate::body::json(payload, MAX_RATING_BYTES).await?;
    let input: RatingIn = serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a valid rating: {e}")))?;
    let rating = match input.rating {
        RatingValue::Satisfied => super::workflow::Rating::Satisfied,
        RatingValue::Basic => super::workflow::Rating::Basic,
        RatingValue::Unsatisfied => super::workflow::Rating::Unsatisfied,
    };
    let comment = input.comment.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(ApiError::BadRequest(format!("a rating's comment is at most {MAX_COMMENT_CHARS} characters")));
    }
    let id = id.into_inner();
    let view = web::block(move || -> Result<view::FollowView, ApiError> {
        let not_found = || ApiError::NotFound(format!("no report {id} with this follow token"));
        let now = clock.now_ms();
        let command = super::workflow::Command::Rate { rating };
        // The follow token is checked on the case as read under its lock, like any command.
        let outcome = path.run(|tx| -> Result<_, ApiError> {
            tx.act(&id, &Actor::system(), now, |_, fresh| {
                if fresh.row.follow_token_hash != token_hash(&input.follow_token) {
                    return Err(not_found());
                }
                let mut extra = act::Extra::default();
                if let Some(comment) = comment {
                    extra.data.insert("comment".into(), comment.into());
                }
                Ok((command, extra))
            })
        })?;
        let events = db.read(|c| store::events_of(c, &id))?;
        let index = geo.index();
        let book = Book { tree: &tree, index: &index };
        Ok(view::follow(&outcome.row, &events, &book))
    })
    .await??;
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_is_checked_whole_before_it_is_placed() {
        let tree = CategoryTree::default_tree().unwrap();
        let body = json!({
            "category": "C0101",
            "location": {"lon": 118.27, "lat": 33.96, "crs": "gcj02"},
            "description": "  井盖缺失 ",
            "contact": {"name": " 张三 ", "phone": "138 0000 0000"},
        });
        let checked = check_body(body, &tree).unwrap();
        assert_eq!((checked.crs, checked.lon, checked.lat), (Crs::Gcj02, 118.27, 33.96));
        assert_eq!(checked.description, "井盖缺失");
        let contact = Contact { name: Some("张三".into()), phone: Some("138 0000 0000".into()), id_number: None };
        assert_eq!(checked.contact, Some(contact));
        for (body, kind) in [
            (json!({"category": "C0101"}), ErrorKind::BadRequest),
            (
                json!({"category": "X", "location": {"lon": 1, "lat": 1}, "description": "d"}),
                ErrorKind::UnknownCategory,
            ),
            (
                json!({"category": "C0101", "location": {"lon": 1, "lat": 1}, "description": " "}),
                ErrorKind::InvalidReport,
            ),
            (
                json!({"category": "C0101", "location": {"lon": 1, "lat": 1, "crs": "utm"}, "description": "d"}),
                ErrorKind::InvalidCrs,
            ),
        ] {
            assert_eq!(check_body(body.clone(), &tree).unwrap_err().kind(), kind, "{body}");
        }
    }
}

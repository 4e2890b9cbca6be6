//! Where the grid workers of an area are (`GET /api/v1/workers/positions`), for the
//! centre's map: each worker's newest position from their phone (the socket's `location`
//! op), if it is recent enough to mean they are out on duty ([`FRESH_MS`]). Phones send
//! positions only while their worker is on duty, so an old one means off duty.
//!
//! A position is personal data: stored sealed (`crate::seal`, `[lon, lat]` as one value)
//! and opened in memory only; forgotten when the worker goes off duty (the socket's
//! `off_duty` op) or logs out, and in any case once older than the configured time to
//! live (`position_ttl_days`, 7 days by default).

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use serde::Serialize;

use crate::auth::Role;
use crate::auth::routes::Authenticated;
use crate::auth::schema::users;
use crate::clock::Clock;
use crate::incidents::scope::{Area, Viewer};
use crate::problem::ApiError;
use crate::seal::{Keyring, SealError, label};
use crate::store::{Database, DbConnection};
use crate::sync::schema::worker_positions;

/// A position older than this is not shown: the worker is off duty or out of reach.
pub const FRESH_MS: i64 = 15 * 60 * 1000;
/// Ids per `IN (…)` list.
const BATCH: usize = 500;

/// One worker on the map.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WorkerPosition {
    /// Their user id.
    pub id: String,
    /// Their login.
    pub login: String,
    /// Their name.
    pub name: String,
    /// Their grid's code.
    pub grid: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// How precise the fix was, in metres, if the phone said.
    pub accuracy_m: Option<f64>,
    /// When the phone took the fix (RFC 3339).
    pub at: String,
}

/// The workers of an area with a recent position.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Positions {
    /// Each worker once, the most recently seen first.
    pub workers: Vec<WorkerPosition>,
}

/// A position sealed for storage.
pub fn seal_place(keys: &Keyring, lon: f64, lat: f64) -> String {
    keys.seal(label::WORKER_POSITION, &serde_json::json!([lon, lat]).to_string())
}

/// A stored position opened: (lon, lat).
pub fn open_place(keys: &Keyring, place: &str) -> Result<(f64, f64), SealError> {
    let plain = keys.open(label::WORKER_POSITION, place)?;
    serde_json::from_str::<(f64, f64)>(&plain).map_err(|_| SealError::NotSealed(label::WORKER_POSITION.to_owned()))
}

/// The workers whose unit lies in `viewer`'s area and whose newest position is no older
/// than `since_ms`: the recent positions first (one row per worker at most), then their
/// users, a batch at a time; positions opened with `keys`.
pub fn recent(
    conn: &mut DbConnection,
    keys: &Keyring,
    viewer: &Viewer,
    since_ms: i64,
) -> QueryResult<Vec<WorkerPosition>> {
    type Stored = (String, String, Option<f64>, i64);
    let stored: Vec<Stored> = worker_positions::table
        .filter(worker_positions::at_ms.ge(since_ms))
        .select((
            worker_positions::user_id,
            worker_positions::place,
            worker_positions::accuracy_m,
            worker_positions::at_ms,
        ))
        .order(worker_positions::at_ms.desc())
        .load(conn)?;
    let mut fixes = Vec::with_capacity(stored.len());
    for (user, place, accuracy_m, at_ms) in stored {
        let (lon, lat) = open_place(keys, &place).map_err(crate::seal::store::failed)?;
        fixes.push((user, lon, lat, accuracy_m, at_ms));
    }
    let mut out = Vec::with_capacity(fixes.len());
    for chunk in fixes.chunks(BATCH) {
        let ids: Vec<&str> = chunk.iter().map(|f| f.0.as_str()).collect();
        let people: Vec<(String, String, String, String)> = users::table
            .filter(users::id.eq_any(&ids))
            .filter(users::role.eq(Role::GridWorker.as_str()))
            .select((users::id, users::login, users::display_name, users::unit_code))
            .load(conn)?;
        for (id, lon, lat, accuracy_m, at_ms) in chunk {
            let Some((_, login, name, grid)) = people.iter().find(|p| &p.0 == id) else { continue };
            let inside = geodata::AreaCode::parse(grid).is_ok_and(|code| viewer.covers(&code));
            if inside {
                out.push(WorkerPosition {
                    id: id.clone(),
                    login: login.clone(),
                    name: name.clone(),
                    grid: grid.clone(),
                    lon: *lon,
                    lat: *lat,
                    accuracy_m: *accuracy_m,
                    at: crate::clock::rfc3339(*at_ms),
                });
            }
        }
    }
    Ok(out)
}

/// The grid workers of the caller's area seen on duty lately, for the map (centres only).
#[utoipa::path(
    get,
    path = "/api/v1/workers/positions",
    responses((status = 200, description = "Workers with a recent position", body = Positions)),
    security(("bearer" = [])),
    tag = "routing"
)]
#[get("/api/v1/workers/positions")]
#[tracing::instrument(skip_all)]
pub async fn positions(
    db: web::Data<Database>,
    clock: web::Data<Clock>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    if !viewer.directs() || matches!(viewer.area, Area::None) {
        return Err(ApiError::Forbidden("only a centre sees where the workers of its area are".into()));
    }
    let since = clock.now_ms() - FRESH_MS;
    let workers = web::block(move || {
        let keys = db.keys().map_err(ApiError::internal)?;
        Ok::<_, ApiError>(db.read(|c| recent(c, keys, &viewer, since))?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(Positions { workers }))
}

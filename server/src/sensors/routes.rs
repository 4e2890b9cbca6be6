//! The sensors' HTTP doors: an administrator registers, lists and revokes sensors
//! (`/api/v1/sensors`, a session of the `administrator` role), and a sensor sends its
//! alarms (`POST /api/v1/sensors/{id}/alarms`, proven by its own key).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};

use super::{AlarmAnswer, AlarmIn, RegisterIn, Registered, SensorView, Sensors, new_sensor, store};
use crate::auth::Role;
use crate::auth::routes::{Authenticated, bearer};
use crate::error_kind::ErrorKind;
use crate::problem::ApiError;

/// The largest alarm or registration body taken.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// The header a sensor may send its key in instead of `Authorization: Bearer`.
pub const KEY_HEADER: &str = "x-sensor-key";

/// What an alarm may be answered besides a bad body and the write path's refusals.
pub const ALARM_ERRORS: &[ErrorKind] = &[
    ErrorKind::Unauthenticated,
    ErrorKind::Forbidden,
    ErrorKind::NotFound,
    ErrorKind::RateLimited,
    ErrorKind::IdempotencyKeyReused,
    ErrorKind::UnknownCategory,
];

/// What registering a sensor may be answered besides a session's and a bad body's.
pub const REGISTER_ERRORS: &[ErrorKind] = &[
    ErrorKind::Forbidden,
    ErrorKind::InvalidCoordinates,
    ErrorKind::InvalidCrs,
    ErrorKind::OutsideServiceArea,
    ErrorKind::UnknownCategory,
];

/// Only an administrator manages sensors.
fn administrator(caller: &Authenticated) -> Result<(), ApiError> {
    if caller.user.role() == Some(Role::Administrator) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only an administrator manages sensors".into()))
    }
}

/// Every registered sensor, revoked ones too (never their keys).
#[utoipa::path(
    get,
    path = "/api/v1/sensors",
    responses((status = 200, description = "The sensors, oldest first", body = [SensorView])),
    security(("bearer" = [])),
    tag = "sensors"
)]
#[get("/api/v1/sensors")]
#[tracing::instrument(skip_all)]
pub async fn list(sensors: web::Data<Sensors>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let db = sensors.path().db().clone();
    let rows = web::block(move || db.read(store::all)).await??;
    Ok(HttpResponse::Ok().json(rows.iter().map(SensorView::of).collect::<Vec<_>>()))
}

/// Registers a sensor: its place is placed in a grid now, and its key is answered this
/// once (only its hash is kept).
#[utoipa::path(
    post,
    path = "/api/v1/sensors",
    request_body = RegisterIn,
    responses((status = 201, description = "The sensor, with its key (shown once)", body = Registered)),
    security(("bearer" = [])),
    tag = "sensors"
)]
#[post("/api/v1/sensors")]
#[tracing::instrument(skip_all)]
pub async fn register(
    sensors: web::Data<Sensors>,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let input: RegisterIn = crate::body::json(payload, MAX_BODY_BYTES).await?;
    let now = sensors.clock().now_ms();
    let (row, key) = new_sensor(sensors.geo(), |code| sensors.tree().category(code).is_some(), &input, now)?;
    let db = sensors.path().db().clone();
    let (stored, actor) = (row.clone(), caller.user.clone());
    web::block(move || {
        db.write(|c| {
            store::insert(c, &stored)?;
            let data = serde_json::json!({"key": "sensor", "name": stored.name, "grid": stored.grid_code});
            crate::auth::accounts::audit(c, "key_added", Some(&actor), &stored.id, data)
        })
    })
    .await??;
    tracing::info!(sensor = %row.id, name = %row.name, grid = %row.grid_code, by = %caller.user.login, "sensor registered");
    Ok(HttpResponse::Created().json(Registered { sensor: SensorView::of(&row), key }))
}

/// Revokes a sensor: its alarms are refused from now on. It stays listed, since cases'
/// traces name it.
#[utoipa::path(
    delete,
    path = "/api/v1/sensors/{id}",
    params(("id" = String, Path, description = "The sensor's id")),
    responses((status = 200, description = "The sensor, revoked", body = SensorView)),
    security(("bearer" = [])),
    tag = "sensors"
)]
#[delete("/api/v1/sensors/{id}")]
#[tracing::instrument(skip_all, fields(sensor = %id))]
pub async fn revoke(
    sensors: web::Data<Sensors>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let (db, now, lookup) = (sensors.path().db().clone(), sensors.clock().now_ms(), id.clone());
    let actor = caller.user.clone();
    let row = web::block(move || db.write(|c| store::revoke_audited(c, &lookup, now, Some(&actor), "http"))).await??;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no sensor {id}")))?;
    tracing::info!(sensor = %row.id, by = %caller.user.login, "sensor revoked");
    Ok(HttpResponse::Ok().json(SensorView::of(&row)))
}

/// A sensor's alarm, with the sensor's key as `Authorization: Bearer <key>` or
/// `X-Sensor-Key: <key>`. A raised alarm opens a case (201) unless the sensor's case is
/// open, where it is counted as a repeat (200); a cleared one is noted (200). The same
/// `alarm_id` sent again is applied once and answered as the first time.
#[utoipa::path(
    post,
    path = "/api/v1/sensors/{id}/alarms",
    params(
        ("id" = String, Path, description = "The sensor's id"),
        ("X-Sensor-Key" = Option<String>, Header, description = "The sensor's key, if not sent as a bearer token"),
    ),
    request_body = AlarmIn,
    responses(
        (status = 201, description = "A raised alarm opened a case", body = AlarmAnswer),
        (status = 200, description = "A raised alarm repeated on the open case, or a cleared one noted", body = AlarmAnswer),
    ),
    tag = "sensors"
)]
#[post("/api/v1/sensors/{id}/alarms")]
#[tracing::instrument(skip_all, fields(sensor = %id))]
pub async fn alarm(
    req: HttpRequest,
    sensors: web::Data<Sensors>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = bearer(&req)
        .or_else(|| req.headers().get(KEY_HEADER).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned()));
    let alarm: AlarmIn = crate::body::json(payload, MAX_BODY_BYTES).await?;
    let (sensors, id) = (sensors.into_inner(), id.into_inner());
    let received = web::block(move || sensors.receive(&id, key.as_deref(), alarm)).await??;
    let mut answer = if received.opened { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(answer.json(received.answer))
}

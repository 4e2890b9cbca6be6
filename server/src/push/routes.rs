//! The push routes: `GET /api/v1/push/key` (the VAPID public key phones subscribe
//! with), `PUT`, `GET` and `DELETE /api/v1/push/subscription` (a device's own
//! subscription), and `POST /api/v1/push/test` (a wake-up sent now to one's own devices,
//! or by an administrator to anyone's, to check a setup end to end). A resident's
//! `PUT` and `DELETE /api/v1/reports/{id}/push` are in [`super::reports`].

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};

use super::endpoint::{self, EndpointError};
use super::store::{self, Subscription};
use super::{KeyError, Pusher, WakeReport};
use crate::auth::Role;
use crate::auth::routes::Authenticated;
use crate::body;
use crate::clock::{now_ms, rfc3339};
use crate::error_kind::ErrorKind;
use crate::problem::ApiError;
use crate::store::Database;

/// The largest body taken by these routes.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// The longest device id taken.
const MAX_DEVICE_ID_LEN: usize = 128;

/// How long resolving an endpoint's host may take when a device subscribes.
const RESOLVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Wires the push routes into an app: `.configure(push::routes::configure)`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(key).service(subscribe).service(show).service(unsubscribe).service(test);
    cfg.service(super::reports::subscribe).service(super::reports::unsubscribe);
}

/// The VAPID public key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushKey {
    /// The uncompressed P-256 point (65 bytes) in base64url: the `applicationServerKey`
    /// of `PushManager.subscribe`.
    public_key: String,
}

/// A device's subscription, as `PushSubscription.toJSON()` gives it, with the device.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionBody {
    /// The device (install) subscribing; when the session was opened with a device id,
    /// the same one.
    device_id: String,
    /// The push service's URL for the device: `https://`, on a public address.
    endpoint: String,
    /// The device's keys.
    keys: SubscriptionKeysBody,
}

/// A subscription's keys.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionKeysBody {
    /// The device's P-256 public key: 65 bytes, uncompressed, base64url.
    pub p256dh: String,
    /// The device's authentication secret: 16 bytes, base64url.
    pub auth: String,
}

/// A device's subscription as stored (its keys are not shown again).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    device_id: String,
    endpoint: String,
    /// Failed sends in a row.
    failures: i32,
    /// While backing off after failures, the first instant another send is tried (RFC 3339).
    next_attempt_at: Option<String>,
}

impl SubscriptionView {
    fn of(sub: Subscription) -> SubscriptionView {
        SubscriptionView {
            device_id: sub.device_id,
            endpoint: sub.endpoint,
            failures: sub.failures,
            next_attempt_at: (sub.next_attempt_at_ms > 0).then(|| rfc3339(sub.next_attempt_at_ms)),
        }
    }
}

/// Which device.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeviceQuery {
    /// The device's id.
    device_id: String,
}

/// What to test.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TestWake {
    /// Whose devices to wake: the caller's own if not given; only an administrator may
    /// name someone else.
    user_id: Option<String>,
    /// Whether to wait for the push services' answers (the default) or answer 202 at once.
    wait: Option<bool>,
}

/// How a test wake went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestWoken {
    /// Whose devices were woken.
    user_id: String,
    /// Device by device, summed (absent when not waited for).
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<WakeReport>,
}

fn unprocessable(kind: ErrorKind, detail: impl ToString) -> ApiError {
    ApiError::Refused { kind, detail: detail.to_string() }
}

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> ApiError {
        unprocessable(ErrorKind::InvalidPushEndpoint, e)
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> ApiError {
        unprocessable(ErrorKind::InvalidPushKeys, e)
    }
}

fn check_device_id(device_id: &str) -> Result<(), ApiError> {
    let ok = !device_id.is_empty()
        && device_id.len() <= MAX_DEVICE_ID_LEN
        && device_id.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(unprocessable(
            ErrorKind::InvalidDeviceId,
            format!("device_id must be 1 to {MAX_DEVICE_ID_LEN} printable ASCII characters"),
        ))
    }
}

/// The device the session of `token` was opened from, if it named one.
fn session_device(db: &Database, token: &str) -> Result<Option<String>, ApiError> {
    Ok(db.read(|c| crate::auth::session_user(c, token, now_ms()))?.and_then(|(_, session)| session.device_id))
}

/// The server's VAPID public key, for `PushManager.subscribe`.
#[utoipa::path(
    get,
    path = "/api/v1/push/key",
    responses((status = 200, description = "The VAPID public key", body = PushKey)),
    tag = "push"
)]
#[get("/api/v1/push/key")]
pub async fn key(pusher: web::Data<Pusher>) -> HttpResponse {
    HttpResponse::Ok().json(PushKey { public_key: pusher.public_key().to_owned() })
}

/// Registers (or replaces) the caller's device's push subscription.
#[utoipa::path(
    put,
    path = "/api/v1/push/subscription",
    request_body = SubscriptionBody,
    responses(
        (status = 200, description = "Stored", body = SubscriptionView),
    ),
    security(("bearer" = [])),
    tag = "push"
)]
#[put("/api/v1/push/subscription")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn subscribe(
    db: web::Data<Database>,
    pusher: web::Data<Pusher>,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: SubscriptionBody = body::json(payload, MAX_BODY_BYTES).await?;
    check_device_id(&body.device_id)?;
    let checked = endpoint::check(&body.endpoint, pusher.allowlist())?;
    super::check_keys(&body.keys.p256dh, &body.keys.auth)?;
    endpoint::check_resolved(&checked, RESOLVE_WITHIN).await?;
    let sub = Subscription {
        user_id: caller.user.id.clone(),
        device_id: body.device_id,
        endpoint: body.endpoint,
        p256dh: body.keys.p256dh.trim_end_matches('=').to_owned(),
        auth: body.keys.auth.trim_end_matches('=').to_owned(),
        created_at_ms: now_ms(),
        failures: 0,
        next_attempt_at_ms: 0,
    };
    let host = checked.host;
    let token = caller.token().to_owned();
    let stored = web::block(move || -> Result<Subscription, ApiError> {
        if let Some(device) = session_device(&db, &token)?
            && device != sub.device_id
        {
            return Err(unprocessable(
                ErrorKind::DeviceMismatch,
                "this session was opened from another device: subscribe with its device_id",
            ));
        }
        db.write(|c| store::put_subscription(c, &sub))?;
        Ok(sub)
    })
    .await??;
    tracing::info!(device = %stored.device_id, %host, "push subscription stored");
    Ok(HttpResponse::Ok().json(SubscriptionView::of(stored)))
}

/// The caller's device's subscription, with its back-off state.
#[utoipa::path(
    get,
    path = "/api/v1/push/subscription",
    params(DeviceQuery),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
    ),
    security(("bearer" = [])),
    tag = "push"
)]
#[get("/api/v1/push/subscription")]
pub async fn show(
    db: web::Data<Database>,
    caller: Authenticated,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, ApiError> {
    let DeviceQuery { device_id } = query.into_inner();
    let user = caller.user.id;
    let found = web::block(move || db.read(|c| store::subscription(c, &user, &device_id))).await??;
    let sub = found.ok_or_else(|| ApiError::NotFound("this device has no push subscription".into()))?;
    Ok(HttpResponse::Ok().json(SubscriptionView::of(sub)))
}

/// Removes the caller's device's subscription (whether or not it had one).
#[utoipa::path(
    delete,
    path = "/api/v1/push/subscription",
    params(DeviceQuery),
    responses(
        (status = 204, description = "The device has no subscription now"),
    ),
    security(("bearer" = [])),
    tag = "push"
)]
#[delete("/api/v1/push/subscription")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn unsubscribe(
    db: web::Data<Database>,
    caller: Authenticated,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, ApiError> {
    let DeviceQuery { device_id } = query.into_inner();
    let user = caller.user.id;
    let removed = web::block(move || db.write(|c| store::delete_subscription(c, &user, &device_id))).await??;
    tracing::info!(removed, "push subscription removed");
    Ok(HttpResponse::NoContent().finish())
}

/// Sends a wake-up now to every device of the caller (or, for an administrator, of the
/// user named), to check push end to end; waits for the push services' answers unless
/// `"wait": false`. Failures count and back off as for any wake.
#[utoipa::path(
    post,
    path = "/api/v1/push/test",
    request_body(content = TestWake, description = "Optional; `{}` wakes the caller's own devices"),
    responses(
        (status = 200, description = "Sent; how each device's push service answered, summed", body = TestWoken),
        (status = 202, description = "Being sent (`wait: false`)", body = TestWoken),
    ),
    security(("bearer" = [])),
    tag = "push"
)]
#[post("/api/v1/push/test")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn test(
    pusher: web::Data<Pusher>,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = body::read_limited(payload, MAX_BODY_BYTES).await?;
    let body: TestWake = if bytes.iter().all(u8::is_ascii_whitespace) {
        TestWake::default()
    } else {
        // All of it JSON: serde alone skips unknown fields unread, invalid bytes and all.
        body::parse(&bytes)?
    };
    let user_id = body.user_id.unwrap_or_else(|| caller.user.id.clone());
    if user_id != caller.user.id && caller.user.role() != Some(Role::Administrator) {
        return Err(ApiError::Forbidden("only an administrator may wake another user's devices".into()));
    }
    let waking = pusher.wake(&user_id).await;
    if body.wait == Some(false) {
        return Ok(HttpResponse::Accepted().json(TestWoken { user_id, report: None }));
    }
    let report = waking.report().await;
    Ok(HttpResponse::Ok().json(TestWoken { user_id, report: Some(report) }))
}

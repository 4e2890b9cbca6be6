//! `POST /api/v1/auth/login`, `/auth/refresh` and `/auth/logout`, `GET /api/v1/me`, and
//! the bearer-token extractor that staff routes take.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::throttle::LoginGuard;
use super::{
    Session, User, insert_session, new_token, now_ms, revoke_session, session_by_refresh, session_user, token_hash,
    user_by_login,
};
use crate::error_kind::ErrorKind;
use crate::problem::ApiError;
use crate::store::Database;

/// How long a session's bearer token lasts.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;

/// How long a refresh token lasts: long enough for a worker offline for weeks.
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Units by code: (name, level).
type Units = HashMap<String, (String, u8)>;

/// What the responses say about units: names and levels by code (units of the layer,
/// and departments, which sit at the county's level). Replaced whole when a new grid
/// layer is swapped in.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    units: Arc<RwLock<Arc<Units>>>,
}

impl Directory {
    /// A directory of these units: (code, name, level).
    pub fn new(units: impl IntoIterator<Item = (String, String, u8)>) -> Directory {
        Directory { units: Arc::new(RwLock::new(Arc::new(Self::collect(units)))) }
    }

    fn collect(units: impl IntoIterator<Item = (String, String, u8)>) -> Units {
        units.into_iter().map(|(code, name, level)| (code, (name, level))).collect()
    }

    /// Replaces every unit with these: (code, name, level).
    pub fn replace(&self, units: impl IntoIterator<Item = (String, String, u8)>) {
        let units = Arc::new(Self::collect(units));
        *self.units.write().unwrap_or_else(PoisonError::into_inner) = units;
    }

    /// The name and level (1 city … 5 grid; 2 for a department) of the unit or department
    /// `code`, if it is one.
    pub fn unit(&self, code: &str) -> Option<(String, u8)> {
        self.units.read().unwrap_or_else(PoisonError::into_inner).get(code).cloned()
    }

    fn describe(&self, user: &User) -> UserRef {
        let units = self.units.read().unwrap_or_else(PoisonError::into_inner).clone();
        let (name, level) = units.get(&user.unit_code).cloned().unwrap_or_else(|| (user.unit_code.clone(), 0));
        UserRef {
            id: user.id.clone(),
            role: user.role.clone(),
            unit: UnitRef { code: user.unit_code.clone(), name, level },
        }
    }
}

/// The login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Login {
    login: String,
    password: String,
    device_id: Option<String>,
}

/// The refresh request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Refresh {
    refresh_token: String,
    device_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UnitRef {
    code: String,
    name: String,
    level: u8,
}

/// A user as the API shows them: id, role and unit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserRef {
    id: String,
    role: String,
    unit: UnitRef,
}

/// An opened session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Opened {
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    user: UserRef,
}

/// A new session for `user`; with a device, a refresh token bound to it as well.
fn new_session(user: &User, device_id: Option<String>, now: i64) -> (Session, String, Option<String>) {
    let token = new_token();
    let renewal = device_id.as_ref().map(|_| new_token());
    let session = Session {
        token_hash: token_hash(&token),
        user_id: user.id.clone(),
        device_id,
        created_at_ms: now,
        expires_at_ms: now + SESSION_TTL_MS,
        revoked_at_ms: None,
        refresh_hash: renewal.as_deref().map(token_hash),
        refresh_expires_at_ms: renewal.as_ref().map(|_| now + REFRESH_TTL_MS),
    };
    (session, token, renewal)
}

/// The largest login or refresh body taken: a login, a password and a device id fit
/// many times over, and nobody makes the server parse megabytes to be refused.
pub const MAX_LOGIN_BYTES: usize = 4 * 1024;

fn unauthorized() -> ApiError {
    ApiError::InvalidCredentials("wrong login or password".into())
}

/// Checks a login and password and opens a session; wrong ones get 401.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    request_body = Login,
    responses(
        (status = 200, description = "A session (and a refresh token when a device is named)", body = Opened),
    ),
    tag = "accounts"
)]
#[post("/api/v1/auth/login")]
#[tracing::instrument(skip_all, fields(login = tracing::field::Empty))]
pub async fn login(
    req: HttpRequest,
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    guard: web::Data<LoginGuard>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Login { login, password, device_id } = crate::body::json(payload, MAX_LOGIN_BYTES).await?;
    tracing::Span::current().record("login", login.as_str());
    let client = crate::ratelimit::client_addr(&req).map(crate::ratelimit::client_key);
    guard.admit(client, &login, Instant::now())?;
    let found = {
        let (db, login) = (db.clone(), login.clone());
        web::block(move || db.read(|c| user_by_login(c, &login))).await??
    };
    // An unknown login is checked against the dummy hash: the same work, the same time.
    if !guard.verify(password, found.as_ref().map(|u| u.password_hash.clone())).await? {
        guard.failed(client, &login, Instant::now());
        // The trace keeps the name tried, and nothing else of the attempt.
        let recorded = web::block(move || {
            db.write(|c| {
                let data = serde_json::json!({"login": login});
                audit(c, "login_failed", None, None, data)
            })
        })
        .await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::warn!("a failed login was not recorded in the audit log");
        }
        return Err(unauthorized());
    }
    let Some(user) = found else { return Err(unauthorized()) };
    guard.succeeded(&login);
    let opened = web::block(move || -> Result<_, ApiError> {
        let (session, token, renewal) = new_session(&user, device_id, now_ms());
        let opened = db.write(|c| {
            // A disabled account's right password opens nothing (`auth::accounts::disable`).
            if super::accounts::get(c, &user.id)?.is_none_or(|(_, disabled)| disabled.is_some()) {
                let data = serde_json::json!({"login": user.login, "disabled": true});
                audit(c, "login_failed", None, None, data)?;
                return Ok(false);
            }
            insert_session(c, &session)?;
            audit(c, "login", Some(&user), session.device_id.as_deref(), serde_json::json!({}))?;
            Ok(true)
        })?;
        Ok(opened.then_some((user, token, renewal)))
    })
    .await??;
    let (user, token, refresh_token) = opened.ok_or_else(unauthorized)?;
    Ok(HttpResponse::Ok().json(Opened { token, refresh_token, user: directory.describe(&user) }))
}

/// Renews a session from its refresh token, on the device it was issued to; the old
/// session and refresh token stop working.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    request_body = Refresh,
    responses(
        (status = 200, description = "A new session and refresh token", body = Opened),
    ),
    tag = "accounts"
)]
#[post("/api/v1/auth/refresh")]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Refresh { refresh_token, device_id } = crate::body::json(payload, MAX_LOGIN_BYTES).await?;
    let renewed = web::block(move || -> Result<Option<(User, String, Option<String>)>, ApiError> {
        let now = now_ms();
        Ok(db.write(|c| {
            let Some((user, old)) = session_by_refresh(c, &refresh_token, &device_id, now)? else { return Ok(None) };
            super::revoke_by_hash(c, &old.token_hash, now)?;
            let (session, token, renewal) = new_session(&user, Some(device_id), now);
            insert_session(c, &session)?;
            audit(c, "session_refreshed", Some(&user), session.device_id.as_deref(), serde_json::json!({}))?;
            Ok(Some((user, token, renewal)))
        })?)
    })
    .await??;
    let (user, token, refresh_token) =
        renewed.ok_or_else(|| ApiError::InvalidCredentials("the refresh token is not valid for this device".into()))?;
    Ok(HttpResponse::Ok().json(Opened { token, refresh_token, user: directory.describe(&user) }))
}

/// Ends the caller's session and its refresh token, and removes the push subscription of
/// the device it was opened from.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    responses(
        (status = 204, description = "Logged out"),
    ),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[post("/api/v1/auth/logout")]
#[tracing::instrument(skip(db, hub, caller))]
pub async fn logout(
    db: web::Data<Database>,
    hub: web::Data<crate::sync::hub::Hub>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let device = web::block(move || {
        db.write(|c| {
            let now = now_ms();
            let mut device = None;
            if let Some((user, session)) = session_user(c, &caller.token, now)? {
                audit(c, "logout", Some(&user), session.device_id.as_deref(), serde_json::json!({}))?;
                if let Some(id) = session.device_id {
                    crate::push::store::delete_subscription(c, &user.id, &id)?;
                    device = Some((user.id, id));
                }
            }
            revoke_session(c, &caller.token, now)?;
            Ok(device)
        })
    })
    .await??;
    // The device's sockets close now, on this node and (in a cluster) the others; any
    // other socket of this session at the next sweep (sync::sweep).
    if let Some((user, device)) = device {
        hub.end(&crate::sync::hub::Ended::Device { user, device });
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Who the caller is.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    responses(
        (status = 200, description = "The caller", body = UserRef),
    ),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[get("/api/v1/me")]
pub async fn me(directory: web::Data<Directory>, caller: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(directory.describe(&caller.user))
}

/// Writes the audit entry of a login, logout or refresh by `user` from `device`, in the
/// caller's transaction (the subject is the account itself).
fn audit(
    c: &mut crate::store::DbConnection,
    kind: &str,
    user: Option<&User>,
    device: Option<&str>,
    data: serde_json::Value,
) -> diesel::QueryResult<()> {
    crate::audit::record(
        c,
        &crate::audit::Entry {
            at_ms: now_ms(),
            kind,
            actor_id: user.map(|u| u.id.as_str()),
            actor_role: user.map(|u| u.role.as_str()),
            device_id: device,
            incident_id: None,
            subject: user.map(|u| u.id.as_str()),
            data,
        },
    )
}

/// What a route taking an [`Authenticated`] caller answers without a valid session.
pub const SESSION_ERRORS: &[ErrorKind] = &[ErrorKind::Unauthenticated];

/// The caller of a staff route, from `Authorization: Bearer <token>`; 401 otherwise.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who.
    pub user: User,
    /// The bearer token they presented (never logged).
    token: String,
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

impl Authenticated {
    /// The bearer token the caller presented (never to be logged).
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Authenticated, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer(req);
        let db = req.app_data::<web::Data<Database>>().cloned();
        Box::pin(async move {
            let missing = || ApiError::Unauthenticated("a valid `Authorization: Bearer <token>` is needed".into());
            let (Some(token), Some(db)) = (token, db) else { return Err(missing()) };
            let lookup = token.clone();
            let found = web::block(move || db.read(|c| session_user(c, &lookup, now_ms()))).await??;
            let (user, _) = found.ok_or_else(missing)?;
            Ok(Authenticated { user, token })
        })
    }
}

//! `/api/v1/users`: the accounts an administrator manages (docs/domain.md: "accounts,
//! keys, sensors | the administrator"). List and read them, add one, disable and enable
//! one, reset a password, and cut off one device of a user (a lost phone). Every other
//! role is answered 403.
//!
//! Each change is written with its audit entry in one transaction (`auth::accounts`);
//! then the sockets it ended are closed on this node at once, and on the others by their
//! sweep, which closes the sockets of revoked tokens within seconds.

use actix_web::{HttpResponse, delete, get, post, web};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::accounts::{self, Ended, Listed};
use super::routes::{Authenticated, Directory};
use super::{Role, User, hash_password, now_ms, password};
use crate::clock::rfc3339;
use crate::error_kind::ErrorKind;
use crate::problem::ApiError;
use crate::store::Database;
use crate::sync::hub::Hub;

/// The largest body these routes take: a new account with its password fits many times.
const MAX_BODY_BYTES: usize = 4 * 1024;
/// The longest login taken, in characters.
const MAX_LOGIN_CHARS: usize = 64;
/// The longest display name taken, in characters.
const MAX_NAME_CHARS: usize = 100;

/// What every route here may answer besides a session's errors: another role is 403.
pub const ADMIN_ERRORS: &[ErrorKind] = &[ErrorKind::Forbidden];

/// Wires the routes in: `.configure(auth::admin::configure)`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(show)
        .service(add)
        .service(disable)
        .service(enable)
        .service(reset_password)
        .service(revoke_device);
}

fn administrator(caller: &Authenticated) -> Result<(), ApiError> {
    match caller.user.role() {
        Some(Role::Administrator) => Ok(()),
        _ => Err(ApiError::Forbidden("only an administrator manages accounts".into())),
    }
}

/// An account as an administrator sees it: never its password hash or tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Its id.
    id: String,
    /// What they log in with.
    login: String,
    /// Their name as shown.
    display_name: String,
    /// Their role.
    role: String,
    /// The unit or department their role is bound to.
    unit_code: String,
    /// That unit's name, if the layer or the category tree has it.
    unit_name: Option<String>,
    /// Whether the account is disabled: no login, session or task reaches it.
    disabled: bool,
    /// When it was disabled (RFC 3339).
    disabled_at: Option<String>,
    /// When created (RFC 3339).
    created_at: String,
    /// Whether it is one of the demo's accounts (password `demo` until purged).
    demo: bool,
    /// Sessions that can still be used or refreshed.
    live_sessions: usize,
    /// The devices those sessions were opened from.
    devices: usize,
}

impl UserView {
    fn of(listed: &Listed, directory: &Directory) -> UserView {
        let user = &listed.user;
        UserView {
            id: user.id.clone(),
            login: user.login.clone(),
            display_name: user.display_name.clone(),
            role: user.role.clone(),
            unit_code: user.unit_code.clone(),
            unit_name: directory.unit(&user.unit_code).map(|(name, _)| name),
            disabled: listed.disabled_at_ms.is_some(),
            disabled_at: listed.disabled_at_ms.map(rfc3339),
            created_at: rfc3339(user.created_at_ms),
            demo: user.id == super::demo::account_id(&user.login),
            live_sessions: listed.live_sessions,
            devices: listed.devices,
        }
    }
}

/// The accounts listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// By login.
    users: Vec<UserView>,
    /// How many matched (all of them are listed up to `limit`).
    total: usize,
}

/// What to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only accounts whose login, name, role or unit code contains this (any case).
    q: Option<String>,
    /// At most this many (default 200, at most 1000).
    limit: Option<usize>,
}

/// An open session of an account: never its token or its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The device it was opened from (none for a browser that named none).
    device_id: Option<String>,
    /// When opened (RFC 3339).
    created_at: String,
    /// When its token expires (RFC 3339).
    expires_at: String,
    /// When its refresh token expires (RFC 3339), for a session opened from a device.
    refresh_expires_at: Option<String>,
    /// Whether that device has a socket open on this node now.
    connected: bool,
}

/// One account with its open sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserDetail {
    /// The account.
    #[serde(flatten)]
    user: UserView,
    /// Its sessions that can still be used or refreshed, newest first.
    sessions: Vec<SessionView>,
}

/// An account to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// What they log in with: 1–64 characters, no spaces.
    login: String,
    /// Their name as shown (the login when not given).
    display_name: Option<String>,
    /// Their role (`grid_worker`, `county_centre`, …).
    role: String,
    /// The unit (its statistical code) or department (its code) their role is bound to:
    /// one the layer or the category tree has, at the role's level.
    unit_code: String,
    /// Their first password, meeting the password policy.
    password: String,
}

/// A new password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The password, meeting the password policy.
    password: String,
}

/// What a change to an account ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Changed {
    /// The account as it stands now.
    user: UserView,
    /// Sessions (with their refresh tokens) revoked.
    sessions_revoked: usize,
    /// Push subscriptions removed.
    subscriptions_removed: usize,
    /// Sockets told to close on this node (others close theirs within seconds).
    sockets_closed: usize,
}

/// The account `id` as listed now; 404 when there is none.
fn listed(c: &mut crate::store::DbConnection, id: &str) -> Result<Listed, ApiError> {
    let (user, disabled_at_ms) = accounts::get(c, id)?.ok_or_else(|| no_account(id))?;
    let open = accounts::live_sessions(c, id, now_ms())?;
    let devices: std::collections::BTreeSet<&String> = open.iter().filter_map(|s| s.device_id.as_ref()).collect();
    let devices = devices.len();
    Ok(Listed { user, disabled_at_ms, live_sessions: open.len(), devices })
}

fn no_account(id: &str) -> ApiError {
    ApiError::NotFound(format!("no account {id}"))
}

/// Every account (administrators), by login.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    params(ListQuery),
    responses((status = 200, description = "The accounts, by login", body = UserList)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[get("/api/v1/users")]
#[tracing::instrument(skip_all)]
pub async fn list(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    caller: Authenticated,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let ListQuery { q, limit } = query.into_inner();
    let limit = limit.unwrap_or(200).clamp(1, 1000);
    let found = web::block(move || db.read(|c| accounts::list(c, q.as_deref(), now_ms()))).await??;
    let total = found.len();
    let users = found.iter().take(limit).map(|l| UserView::of(l, &directory)).collect();
    Ok(HttpResponse::Ok().json(UserList { users, total }))
}

/// One account with its open sessions (administrators).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "The account and its open sessions", body = UserDetail)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[get("/api/v1/users/{id}")]
#[tracing::instrument(skip_all, fields(user = %id))]
pub async fn show(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    hub: web::Data<Hub>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let id = id.into_inner();
    let lookup = id.clone();
    let (found, open) = web::block(move || -> Result<_, ApiError> {
        let now = now_ms();
        let found = db.read(|c| Ok(listed(c, &lookup)))??;
        let open = db.read(|c| accounts::live_sessions(c, &lookup, now))?;
        Ok((found, open))
    })
    .await??;
    let connected = hub.devices_of(&id);
    let sessions = open
        .into_iter()
        .map(|s| SessionView {
            connected: s.device_id.as_ref().is_some_and(|d| connected.iter().any(|c| accounts::of_device(c, d))),
            device_id: s.device_id,
            created_at: rfc3339(s.created_at_ms),
            expires_at: rfc3339(s.expires_at_ms),
            refresh_expires_at: s.refresh_expires_at_ms.map(rfc3339),
        })
        .collect();
    Ok(HttpResponse::Ok().json(UserDetail { user: UserView::of(&found, &directory), sessions }))
}

/// Checks a new account's login, name, role and unit; the login trimmed, the name, the role.
fn check_new(input: &NewUser, directory: &Directory) -> Result<(String, String, Role), ApiError> {
    let invalid = |detail: String| ApiError::refused(ErrorKind::InvalidAccount, detail);
    let login = input.login.trim();
    if login.is_empty()
        || login.chars().count() > MAX_LOGIN_CHARS
        || login.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!("a login is 1–{MAX_LOGIN_CHARS} characters, without spaces")));
    }
    let name = input.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(login);
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!("a display name is at most {MAX_NAME_CHARS} characters")));
    }
    let role: Role =
        input.role.parse().map_err(|e| invalid(format!("{e}; roles: {}", Role::ALL.map(Role::as_str).join(", "))))?;
    let unit = &input.unit_code;
    let is_area = geodata::AreaCode::parse(unit).is_ok();
    let fits = match (directory.unit(unit), role) {
        (None, _) => false,
        (Some(_), Role::DepartmentStaff) => !is_area,
        (Some(_), Role::Administrator) => is_area,
        (Some((_, level)), role) => is_area && Some(level) == level_of(role),
    };
    if !fits {
        return Err(invalid(format!("{unit:?} is not a unit or department for a {role} in this deployment")));
    }
    password::check(&input.password, login)
        .map_err(|weak| ApiError::refused(ErrorKind::WeakPassword, weak.to_string()))?;
    Ok((login.to_owned(), name.to_owned(), role))
}

/// The level of the unit a role is bound to (1 city … 5 grid), for the roles bound to one level.
fn level_of(role: Role) -> Option<u8> {
    match role {
        Role::CityCentre => Some(1),
        Role::CountyCentre | Role::HotlineOperator => Some(2),
        Role::TownshipCentre => Some(3),
        Role::CommunityStaff => Some(4),
        Role::GridWorker => Some(5),
        Role::Administrator | Role::DepartmentStaff => None,
    }
}

/// Adds an account (administrators).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    request_body = NewUser,
    responses((status = 201, description = "The account added", body = UserView)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[post("/api/v1/users")]
#[tracing::instrument(skip_all)]
pub async fn add(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let input: NewUser = crate::body::json(payload, MAX_BODY_BYTES).await?;
    let (login, name, role) = check_new(&input, &directory)?;
    let actor = caller.user.clone();
    let added = web::block(move || -> Result<Listed, ApiError> {
        let hash = hash_password(&input.password).map_err(ApiError::internal)?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            login,
            password_hash: hash,
            display_name: name,
            role: role.as_str().to_owned(),
            unit_code: input.unit_code,
            created_at_ms: now_ms(),
        };
        let taken = || ApiError::refused(ErrorKind::LoginTaken, format!("the login {:?} is taken", user.login));
        let inserted = db.transact(|c| -> Result<(), ApiError> {
            if super::user_by_login(c, &user.login)?.is_some() {
                return Err(taken());
            }
            super::insert_user(c, &user)?;
            accounts::audit(
                c,
                "user_added",
                Some(&actor),
                &user.id,
                json!({"login": user.login, "role": user.role, "unit": user.unit_code}),
            )?;
            Ok(())
        });
        match inserted {
            Ok(()) => {}
            // Two administrators adding the same login at once: the second is refused here.
            Err(ApiError::Internal(cause))
                if cause.downcast_ref::<DieselError>().is_some_and(|e| {
                    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
                }) =>
            {
                return Err(taken());
            }
            Err(e) => return Err(e),
        }
        Ok(Listed { user, disabled_at_ms: None, live_sessions: 0, devices: 0 })
    })
    .await??;
    tracing::info!(user = %added.user.id, login = %added.user.login, role = %added.user.role, by = %caller.user.login, "account added");
    Ok(HttpResponse::Created().json(UserView::of(&added, &directory)))
}

/// Disables an account (administrators): its sessions and refresh tokens are revoked,
/// its push subscriptions removed and its sockets closed at once; the account stays, since
/// cases' histories name it. An administrator may not disable their own.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/disable",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "Disabled (or already so), and what that ended", body = Changed)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[post("/api/v1/users/{id}/disable")]
#[tracing::instrument(skip_all, fields(user = %id))]
pub async fn disable(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    hub: web::Data<Hub>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let id = id.into_inner();
    if id == caller.user.id {
        return Err(ApiError::refused(
            ErrorKind::OwnAccount,
            "an administrator may not disable their own account: another administrator must",
        ));
    }
    let (actor, target) = (caller.user.clone(), id.clone());
    let (found, ended) = web::block(move || {
        db.transact(|c| -> Result<(Listed, Ended), ApiError> {
            listed(c, &target)?;
            let ended = accounts::disable(c, &target, now_ms())?;
            if let Some(ended) = ended {
                accounts::audit(c, "user_disabled", Some(&actor), &target, ended.as_data())?;
            }
            Ok((listed(c, &target)?, ended.unwrap_or_default()))
        })
    })
    .await??;
    let sockets = hub.end(&crate::sync::hub::Ended::User { user: id.to_string() });
    tracing::info!(sessions = ended.sessions, sockets, by = %caller.user.login, "account disabled");
    Ok(HttpResponse::Ok().json(changed(&found, ended, sockets, &directory)))
}

fn changed(found: &Listed, ended: Ended, sockets: usize, directory: &Directory) -> Changed {
    Changed {
        user: UserView::of(found, directory),
        sessions_revoked: ended.sessions,
        subscriptions_removed: ended.subscriptions,
        sockets_closed: sockets,
    }
}

/// Enables a disabled account (administrators); its user logs in again.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/enable",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "Enabled (or already so)", body = UserView)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[post("/api/v1/users/{id}/enable")]
#[tracing::instrument(skip_all, fields(user = %id))]
pub async fn enable(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let (actor, target) = (caller.user.clone(), id.into_inner());
    let found = web::block(move || {
        db.transact(|c| -> Result<Listed, ApiError> {
            listed(c, &target)?;
            if accounts::enable(c, &target)? {
                accounts::audit(c, "user_enabled", Some(&actor), &target, json!({}))?;
            }
            listed(c, &target)
        })
    })
    .await??;
    tracing::info!(by = %caller.user.login, "account enabled");
    Ok(HttpResponse::Ok().json(UserView::of(&found, &directory)))
}

/// Gives an account a new password (administrators); every session of theirs ends and
/// their sockets close.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/password",
    params(("id" = String, Path, description = "The account's id")),
    request_body = NewPassword,
    responses((status = 200, description = "The password replaced, and the sessions that ended", body = Changed)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[post("/api/v1/users/{id}/password")]
#[tracing::instrument(skip_all, fields(user = %id))]
pub async fn reset_password(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    hub: web::Data<Hub>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let NewPassword { password: new } = crate::body::json(payload, MAX_BODY_BYTES).await?;
    let id = id.into_inner();
    let (actor, target) = (caller.user.clone(), id.clone());
    let (found, ended) = web::block(move || -> Result<(Listed, Ended), ApiError> {
        let login = db.read(|c| accounts::get(c, &target))?.ok_or_else(|| no_account(&target))?.0.login;
        password::check(&new, &login).map_err(|weak| ApiError::refused(ErrorKind::WeakPassword, weak.to_string()))?;
        let hash = hash_password(&new).map_err(ApiError::internal)?;
        db.transact(|c| {
            listed(c, &target)?;
            let ended = accounts::set_password(c, &target, &hash, now_ms())?;
            accounts::audit(c, "password_reset", Some(&actor), &target, ended.as_data())?;
            Ok((listed(c, &target)?, ended))
        })
    })
    .await??;
    let sockets = hub.end(&crate::sync::hub::Ended::User { user: id.to_string() });
    tracing::info!(sessions = ended.sessions, sockets, by = %caller.user.login, "password reset");
    Ok(HttpResponse::Ok().json(changed(&found, ended, sockets, &directory)))
}

/// Cuts one device of an account off (administrators; a lost phone): the sessions opened
/// from it and their refresh tokens are revoked, its push subscription removed and its
/// sockets closed at once. The account's other devices are untouched.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/devices/{device_id}",
    params(
        ("id" = String, Path, description = "The account's id"),
        ("device_id" = String, Path, description = "The device's id, as its sessions name it"),
    ),
    responses((status = 200, description = "The device cut off", body = Changed)),
    security(("bearer" = [])),
    tag = "accounts"
)]
#[delete("/api/v1/users/{id}/devices/{device_id}")]
#[tracing::instrument(skip_all, fields(user = %path.0, device = %path.1))]
pub async fn revoke_device(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    hub: web::Data<Hub>,
    caller: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let (id, device) = path.into_inner();
    let (actor, target, gone) = (caller.user.clone(), id.clone(), device.clone());
    let (found, ended) = web::block(move || {
        db.transact(|c| -> Result<(Listed, Ended), ApiError> {
            listed(c, &target)?;
            let ended = accounts::revoke_device(c, &target, &gone, now_ms())?;
            if ended == Ended::default() {
                return Err(ApiError::NotFound(format!(
                    "account {target} has no open session or subscription on device {gone:?}"
                )));
            }
            let mut data = ended.as_data();
            data["device"] = json!(gone);
            accounts::audit(c, "device_revoked", Some(&actor), &target, data)?;
            Ok((listed(c, &target)?, ended))
        })
    })
    .await??;
    let sockets = hub.end(&crate::sync::hub::Ended::DeviceAndTabs { user: id.to_string(), device: device.to_string() });
    tracing::info!(sessions = ended.sessions, sockets, by = %caller.user.login, "device cut off");
    Ok(HttpResponse::Ok().json(changed(&found, ended, sockets, &directory)))
}

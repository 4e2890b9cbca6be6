//! `POST /api/v1/auth/login`.

use std::collections::HashMap;

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use super::{Session, insert_session, new_token, token_hash, user_by_login, verify_password};
use crate::problem::ApiError;
use crate::store::Database;

/// How long a session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;

/// What the login response says about units: names and levels by code (units of the
/// layer, and departments, which sit at the county's level).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    units: HashMap<String, (String, u8)>,
}

impl Directory {
    /// A directory of these units: (code, name, level).
    pub fn new(units: impl IntoIterator<Item = (String, String, u8)>) -> Directory {
        Directory { units: units.into_iter().map(|(code, name, level)| (code, (name, level))).collect() }
    }
}

/// The login request.
#[derive(Debug, Deserialize)]
pub struct Login {
    login: String,
    password: String,
    device_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct UnitRef {
    code: String,
    name: String,
    level: u8,
}

#[derive(Debug, Serialize)]
struct UserRef {
    id: String,
    role: String,
    unit: UnitRef,
}

#[derive(Debug, Serialize)]
struct LoggedIn {
    token: String,
    user: UserRef,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks a login and password and opens a session; wrong ones get 401.
#[post("/api/v1/auth/login")]
#[tracing::instrument(skip(db, directory, body), fields(login = %body.login))]
pub async fn login(
    db: web::Data<Database>,
    directory: web::Data<Directory>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { login, password, device_id } = body.into_inner();
    // Hashing is deliberately slow: off the async workers, like every query.
    let opened = web::block(move || -> Result<Option<(super::User, String)>, ApiError> {
        let Some(user) = db.read(|c| user_by_login(c, &login))? else { return Ok(None) };
        if !verify_password(&password, &user.password_hash) {
            return Ok(None);
        }
        let token = new_token();
        let now = now_ms();
        let session = Session {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            device_id,
            created_at_ms: now,
            expires_at_ms: now + SESSION_TTL_MS,
            revoked_at_ms: None,
        };
        db.write(|c| insert_session(c, &session))?;
        Ok(Some((user, token)))
    })
    .await??;
    let Some((user, token)) = opened else {
        return Err(ApiError::Unauthorized("wrong login or password".into()));
    };
    let (name, level) = directory.units.get(&user.unit_code).cloned().unwrap_or_else(|| (user.unit_code.clone(), 0));
    let body = LoggedIn {
        token,
        user: UserRef { id: user.id, role: user.role, unit: UnitRef { code: user.unit_code, name, level } },
    };
    Ok(HttpResponse::Ok().json(body))
}

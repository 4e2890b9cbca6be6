//! Accounts and sessions: who someone is, and what their role lets them see.
//!
//! Passwords are hashed with Argon2id (PHC strings, a fresh salt each). A session is a
//! random 256-bit bearer token handed to the client once; only its SHA-256 is stored, so
//! a copy of the database yields no usable token. Sessions expire and can be revoked.
//! Every role is bound to one unit (or department) by its code, and sees that unit's
//! area; the routes that enforce it arrive with the incident API.

pub mod accounts;
pub mod admin;
pub mod checkers;
pub mod demo;
pub mod password;
pub mod routes;
pub mod schema;
pub mod throttle;

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use diesel::prelude::*;
use password_hash::rand_core::{OsRng, RngCore};
use password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::DbConnection;
use schema::{sessions, users};

/// What a user does, and so what they may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the deployment; sees everything.
    Administrator,
    /// An operator of the city's command centre.
    CityCentre,
    /// An operator of a county's command centre.
    CountyCentre,
    /// An operator of a township's centre.
    TownshipCentre,
    /// Staff of a village or community.
    CommunityStaff,
    /// Staff of a functional department.
    DepartmentStaff,
    /// A grid worker (网格员).
    GridWorker,
    /// An operator of the 12345 hotline, who files reports for callers.
    HotlineOperator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Role::Administrator,
        Role::CityCentre,
        Role::CountyCentre,
        Role::TownshipCentre,
        Role::CommunityStaff,
        Role::DepartmentStaff,
        Role::GridWorker,
        Role::HotlineOperator,
    ];

    /// The role as stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::CityCentre => "city_centre",
            Role::CountyCentre => "county_centre",
            Role::TownshipCentre => "township_centre",
            Role::CommunityStaff => "community_staff",
            Role::DepartmentStaff => "department_staff",
            Role::GridWorker => "grid_worker",
            Role::HotlineOperator => "hotline_operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("no role is called {s:?}"))
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password with Argon2id and a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches a stored PHC hash (false for a malformed hash too).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Now, in Unix milliseconds (UTC), as stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new bearer token: 256 random bits, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// What is stored of a token: its SHA-256, hex. Tokens are random, so a fast hash is enough.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// What they log in with.
    pub login: String,
    /// Argon2id, PHC string.
    pub password_hash: String,
    /// Their name as shown.
    pub display_name: String,
    /// Their role, as [`Role::as_str`].
    pub role: String,
    /// The unit or department their role is bound to.
    pub unit_code: String,
    /// When created.
    pub created_at_ms: i64,
}

impl User {
    /// The user's role; `None` if the stored value is not one (which migrations prevent).
    pub fn role(&self) -> Option<Role> {
        self.role.parse().ok()
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Whose.
    pub user_id: String,
    /// The device it was opened from.
    pub device_id: Option<String>,
    /// When opened.
    pub created_at_ms: i64,
    /// When it stops being accepted.
    pub expires_at_ms: i64,
    /// When revoked, if it was.
    pub revoked_at_ms: Option<i64>,
    /// SHA-256 of the refresh token, for a session opened from a named device.
    pub refresh_hash: Option<String>,
    /// When the refresh token stops being accepted.
    pub refresh_expires_at_ms: Option<i64>,
}

/// Adds a user; a login already taken fails with a unique violation.
pub fn insert_user(conn: &mut DbConnection, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn).map(|_| ())
}

/// The user with this login.
pub fn user_by_login(conn: &mut DbConnection, login: &str) -> QueryResult<Option<User>> {
    users::table.filter(users::login.eq(login)).select(User::as_select()).first(conn).optional()
}

/// The user with this id.
pub fn user_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
    users::table.filter(users::id.eq(id)).select(User::as_select()).first(conn).optional()
}

/// The users of these roles bound to the unit or department `unit_code`, by login; not
/// the disabled ones (`users purge-demo`): nobody could take a task sent to them.
pub fn users_in(conn: &mut DbConnection, roles: &[Role], unit_code: &str) -> QueryResult<Vec<User>> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    users::table
        .filter(users::unit_code.eq(unit_code))
        .filter(users::disabled_at_ms.is_null())
        .filter(users::role.eq_any(roles))
        .order(users::login.asc())
        .select(User::as_select())
        .load(conn)
}

/// Gives a user another role or unit, in the caller's transaction. A device of theirs
/// whose cursor is from before the move starts again from a snapshot.
pub fn move_user(conn: &mut DbConnection, id: &str, role: Role, unit_code: &str) -> QueryResult<()> {
    // The move is itself a change of the log, so its number marks the new scope: a cursor
    // before it was chosen by the old one, a snapshot taken after it by the new.
    let change = crate::changes::NewChange {
        kind: "user".into(),
        id: id.to_owned(),
        data: serde_json::json!({"role": role.as_str(), "unit": unit_code}).to_string(),
        audience: vec![(id.to_owned(), false)],
    };
    let seq = crate::changes::append(conn, &[change], now_ms())?.first().copied().unwrap_or_default();
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((users::role.eq(role.as_str()), users::unit_code.eq(unit_code), users::scope_seq.eq(seq)))
        .execute(conn)
        .map(|_| ())
}

/// How long a revoked session's row is kept: long enough for every node's sweep
/// (`sync::sweep`, which looks a minute back) to have closed its sockets.
pub const REVOKED_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// Forgets sessions nothing can use any more: both tokens expired, or revoked more than
/// [`REVOKED_KEPT_MS`] ago. Every login and refresh adds a row; how many went.
pub fn prune_sessions(conn: &mut DbConnection, now_ms: i64) -> QueryResult<usize> {
    let expired = sessions::expires_at_ms
        .lt(now_ms)
        .and(sessions::refresh_expires_at_ms.is_null().or(sessions::refresh_expires_at_ms.lt(now_ms)));
    let long_revoked = sessions::revoked_at_ms.lt(now_ms - REVOKED_KEPT_MS);
    diesel::delete(sessions::table.filter(expired.or(long_revoked))).execute(conn)
}

/// Stores a session.
pub fn insert_session(conn: &mut DbConnection, session: &Session) -> QueryResult<()> {
    diesel::insert_into(sessions::table).values(session).execute(conn).map(|_| ())
}

/// The user behind a token, if its session exists, is not revoked and has not expired at `now_ms`.
pub fn session_user(conn: &mut DbConnection, token: &str, now_ms: i64) -> QueryResult<Option<(User, Session)>> {
    session_by_hash(conn, &token_hash(token), now_ms)
}

/// [`session_user`] for a token known only by its hash (a socket keeps no token).
pub fn session_by_hash(conn: &mut DbConnection, hash: &str, now_ms: i64) -> QueryResult<Option<(User, Session)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(hash))
        .filter(sessions::revoked_at_ms.is_null())
        .filter(users::disabled_at_ms.is_null())
        .filter(sessions::expires_at_ms.gt(now_ms))
        .select((User::as_select(), Session::as_select()))
        .first(conn)
        .optional()
}

/// The session a refresh token belongs to, if it was opened from `device_id`, is not
/// revoked and the refresh token has not expired at `now_ms`.
pub fn session_by_refresh(
    conn: &mut DbConnection,
    refresh_token: &str,
    device_id: &str,
    now_ms: i64,
) -> QueryResult<Option<(User, Session)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::refresh_hash.eq(token_hash(refresh_token)))
        .filter(sessions::device_id.eq(device_id))
        .filter(sessions::revoked_at_ms.is_null())
        .filter(users::disabled_at_ms.is_null())
        .filter(sessions::refresh_expires_at_ms.gt(now_ms))
        .select((User::as_select(), Session::as_select()))
        .first(conn)
        .optional()
}

/// Revokes a token's session (and its refresh token); true if there was one to revoke.
pub fn revoke_session(conn: &mut DbConnection, token: &str, now_ms: i64) -> QueryResult<bool> {
    revoke_by_hash(conn, &token_hash(token), now_ms)
}

/// Revokes the session with this token hash; true if there was one to revoke.
pub fn revoke_by_hash(conn: &mut DbConnection, hash: &str, now_ms: i64) -> QueryResult<bool> {
    diesel::update(sessions::table.filter(sessions::token_hash.eq(hash)))
        .filter(sessions::revoked_at_ms.is_null())
        .set(sessions::revoked_at_ms.eq(Some(now_ms)))
        .execute(conn)
        .map(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("demo").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("demo", &hash));
        assert!(!verify_password("Demo", &hash));
        assert!(!verify_password("demo", "not a hash"));
        // A fresh salt each time.
        assert_ne!(hash, hash_password("demo").unwrap());
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}

//! What an administrator does to accounts (`/api/v1/users`, `gridlink users`), as store
//! functions run in the caller's write transaction, so that the change and its audit
//! entry commit together: list them, add one, disable and enable one, reset a password,
//! and cut off one device (a lost phone).
//!
//! Disabling, resetting a password and revoking a device end sessions here, in the
//! database; the sockets those sessions hold are closed by the caller on this node at
//! once (`sync::hub::Hub::kick`) and by every other node's sweep (`sync::sweep`) within
//! seconds, since it closes the sockets of revoked tokens.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use super::schema::{sessions, users};
use super::{Session, User};
use crate::push::schema::push_subscriptions;
use crate::store::DbConnection;
use crate::sync::schema::devices;

/// An account as listed: the user, whether and when disabled, and what is open of theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The user.
    pub user: User,
    /// When disabled, if they are.
    pub disabled_at_ms: Option<i64>,
    /// Sessions that can still be used or refreshed.
    pub live_sessions: usize,
    /// The devices those sessions were opened from.
    pub devices: usize,
}

/// What ending someone's sessions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    /// Sessions (and their refresh tokens) revoked.
    pub sessions: usize,
    /// Push subscriptions removed.
    pub subscriptions: usize,
    /// Devices forgotten among the user's (with their acknowledged cursors).
    pub devices: usize,
}

impl Ended {
    /// What the audit entry of the change says it ended.
    pub fn as_data(&self) -> serde_json::Value {
        serde_json::json!({
            "sessions_revoked": self.sessions,
            "subscriptions_removed": self.subscriptions,
            "devices_forgotten": self.devices,
        })
    }
}

/// Writes the audit entry of an administrative change (to an account, a key, a sensor, a
/// roster) about `subject`, in the caller's transaction: `actor` is who made it (`None` for
/// the command line, whose `data` says so).
pub fn audit(
    conn: &mut DbConnection,
    kind: &str,
    actor: Option<&User>,
    subject: &str,
    data: serde_json::Value,
) -> QueryResult<()> {
    crate::audit::record(
        conn,
        &crate::audit::Entry {
            at_ms: super::now_ms(),
            kind,
            actor_id: actor.map(|a| a.id.as_str()),
            actor_role: actor.map(|a| a.role.as_str()),
            device_id: None,
            incident_id: None,
            subject: Some(subject),
            data,
        },
    )
}

/// Whether a session still counts at `now`: not revoked, and its token or its refresh
/// token not expired.
macro_rules! live {
    ($now:expr) => {
        sessions::revoked_at_ms
            .is_null()
            .and(sessions::expires_at_ms.gt($now).or(sessions::refresh_expires_at_ms.gt($now)))
    };
}

/// Every account, by login, whose login, name, role or unit contains `q` (any case),
/// with its live sessions and devices counted.
pub fn list(conn: &mut DbConnection, q: Option<&str>, now_ms: i64) -> QueryResult<Vec<Listed>> {
    let all: Vec<(User, Option<i64>)> =
        users::table.order(users::login.asc()).select((User::as_select(), users::disabled_at_ms)).load(conn)?;
    let open: Vec<(String, Option<String>)> =
        sessions::table.filter(live!(now_ms)).select((sessions::user_id, sessions::device_id)).load(conn)?;
    let mut counted: HashMap<String, (usize, BTreeSet<String>)> = HashMap::new();
    for (user, device) in open {
        let entry = counted.entry(user).or_default();
        entry.0 += 1;
        entry.1.extend(device);
    }
    let q = q.map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
    let matches = |u: &User| {
        q.as_deref().is_none_or(|q| {
            [&u.login, &u.display_name, &u.role, &u.unit_code].iter().any(|f| f.to_lowercase().contains(q))
        })
    };
    Ok(all
        .into_iter()
        .filter(|(u, _)| matches(u))
        .map(|(user, disabled_at_ms)| {
            let (live_sessions, devices) = counted.get(&user.id).map_or((0, 0), |(n, d)| (*n, d.len()));
            Listed { user, disabled_at_ms, live_sessions, devices }
        })
        .collect())
}

/// One account with when it was disabled, if it exists.
pub fn get(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(User, Option<i64>)>> {
    users::table.filter(users::id.eq(id)).select((User::as_select(), users::disabled_at_ms)).first(conn).optional()
}

/// The sessions of `user` that can still be used or refreshed, newest first.
pub fn live_sessions(conn: &mut DbConnection, user: &str, now_ms: i64) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(live!(now_ms))
        .order(sessions::created_at_ms.desc())
        .select(Session::as_select())
        .load(conn)
}

/// Revokes every open session of `user` (their refresh tokens with them) and removes
/// every push subscription of theirs.
pub fn end_sessions(conn: &mut DbConnection, user: &str, now_ms: i64) -> QueryResult<Ended> {
    let sessions =
        diesel::update(sessions::table.filter(sessions::user_id.eq(user)).filter(sessions::revoked_at_ms.is_null()))
            .set(sessions::revoked_at_ms.eq(Some(now_ms)))
            .execute(conn)?;
    let subscriptions =
        diesel::delete(push_subscriptions::table.filter(push_subscriptions::user_id.eq(user))).execute(conn)?;
    Ok(Ended { sessions, subscriptions, devices: 0 })
}

/// Disables `user`: no login, session or task reaches them any more (the account stays,
/// since cases' histories name it), and every session and push subscription of theirs
/// ends. `None` when they were disabled already (nothing changes).
pub fn disable(conn: &mut DbConnection, user: &str, now_ms: i64) -> QueryResult<Option<Ended>> {
    let changed = diesel::update(users::table.filter(users::id.eq(user)).filter(users::disabled_at_ms.is_null()))
        .set(users::disabled_at_ms.eq(Some(now_ms)))
        .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    end_sessions(conn, user, now_ms).map(Some)
}

/// Enables a disabled account; whether it was disabled. Its sessions stay ended: the user
/// logs in again.
pub fn enable(conn: &mut DbConnection, user: &str) -> QueryResult<bool> {
    diesel::update(users::table.filter(users::id.eq(user)).filter(users::disabled_at_ms.is_not_null()))
        .set(users::disabled_at_ms.eq(None::<i64>))
        .execute(conn)
        .map(|n| n > 0)
}

/// Gives `user` a new password (an Argon2id PHC hash) and ends every session of theirs:
/// whoever knew the old one is logged out everywhere.
pub fn set_password(conn: &mut DbConnection, user: &str, hash: &str, now_ms: i64) -> QueryResult<Ended> {
    diesel::update(users::table.filter(users::id.eq(user))).set(users::password_hash.eq(hash)).execute(conn)?;
    end_sessions(conn, user, now_ms)
}

/// Whether the device a socket said hello as, `hello`, belongs to the device a session
/// was opened from, `bound`: the same id, or one of its tabs (`<bound>.<tab>`), as the
/// centre's page names each tab's socket so that two tabs do not replace each other.
pub fn of_device(hello: &str, bound: &str) -> bool {
    hello == bound || hello.strip_prefix(bound).is_some_and(|rest| rest.starts_with('.'))
}

/// Cuts `device` of `user` off (a lost phone): the sessions opened from it and their
/// refresh tokens are revoked, its push subscription removed, and it is forgotten among
/// the user's devices (its tabs, `<device>.<tab>`, with it).
pub fn revoke_device(conn: &mut DbConnection, user: &str, device: &str, now_ms: i64) -> QueryResult<Ended> {
    let sessions = diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user))
            .filter(sessions::device_id.eq(device))
            .filter(sessions::revoked_at_ms.is_null()),
    )
    .set(sessions::revoked_at_ms.eq(Some(now_ms)))
    .execute(conn)?;
    let known: Vec<String> = devices::table.filter(devices::user_id.eq(user)).select(devices::device_id).load(conn)?;
    let gone: Vec<&String> = known.iter().filter(|d| of_device(d, device)).collect();
    let devices =
        diesel::delete(devices::table.filter(devices::user_id.eq(user)).filter(devices::device_id.eq_any(&gone)))
            .execute(conn)?;
    let subscribed: Vec<String> = push_subscriptions::table
        .filter(push_subscriptions::user_id.eq(user))
        .select(push_subscriptions::device_id)
        .load(conn)?;
    let unsubscribe: Vec<&String> = subscribed.iter().filter(|d| of_device(d, device)).collect();
    let subscriptions = diesel::delete(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user))
            .filter(push_subscriptions::device_id.eq_any(&unsubscribe)),
    )
    .execute(conn)?;
    Ok(Ended { sessions, subscriptions, devices })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tab_belongs_to_its_device_and_nothing_else_does() {
        assert!(of_device("phone-1", "phone-1"));
        assert!(of_device("desk-1.ab12", "desk-1"));
        assert!(!of_device("phone-10", "phone-1"), "a longer id is another device");
        assert!(!of_device("phone-2", "phone-1"));
        assert!(!of_device("phone", "phone-1"));
    }
}

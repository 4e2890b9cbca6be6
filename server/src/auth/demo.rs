//! The demo's accounts (docs/contract.md, "Starting it"), all with the password `demo`:
//! `admin`, `city`, `centre`, `township-<code>`, `community-<code>`, `dept-<code>` and
//! `worker-<grid code>`. Created once, in one transaction, the first time a demo server
//! starts on a database; the password is hashed once and the hash shared, since Argon2
//! per account would take minutes.
//!
//! Since that password is public, a database the demo filled is marked (`database_marks`,
//! `demo`), and no server listens on a non-loopback address over a marked database
//! (`startup`). `gridlink users purge-demo` disables the demo accounts — it does not delete
//! them: cases' histories name their ids — and clears the mark; from then on `--demo` is
//! refused on that database, so that it never brings public passwords back.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use geodata::{Layer, Level};
use uuid::Uuid;

use super::schema::{database_marks, sessions, users};
use super::{Role, User, hash_password, now_ms, user_by_login};
use crate::categories::CategoryTree;
use crate::push::schema::push_subscriptions;
use crate::store::{Database, DbConnection, StoreError};

/// The namespace of demo account ids: an id is the UUID v5 of the login.
const DEMO_USERS: Uuid = Uuid::from_u128(0x6772_6964_6c69_6e6b_2d64_656d_6f2d_7573);

/// The id a demo account with this login has: every demo account's id is derived from its
/// login, which is how a demo account is told from one an operator added.
pub fn account_id(login: &str) -> String {
    Uuid::new_v5(&DEMO_USERS, login.as_bytes()).to_string()
}

/// The demo's accounts for a layer and a category tree (their departments).
pub fn accounts(layer: &Layer, tree: &CategoryTree, password_hash: &str) -> Vec<User> {
    let user = |login: String, name: String, role: Role, unit: &str| User {
        id: account_id(&login),
        login,
        password_hash: password_hash.to_owned(),
        display_name: name,
        role: role.as_str().to_owned(),
        unit_code: unit.to_owned(),
        created_at_ms: 0,
    };
    let mut users = Vec::new();
    // The first county (by code) is the demo's `centre` and `hotline`; a layer of a whole
    // city (`geodata::demo::city`) names the others' desks by their codes.
    let mut first_county = true;
    for unit in layer.units() {
        let code = unit.code.as_str();
        let (login, role) = match unit.level() {
            Level::City => {
                users.push(user("admin".into(), "管理员".into(), Role::Administrator, code));
                ("city".to_owned(), Role::CityCentre)
            }
            Level::County if first_county => {
                first_county = false;
                users.push(user("hotline".into(), "12345 热线".into(), Role::HotlineOperator, code));
                ("centre".to_owned(), Role::CountyCentre)
            }
            Level::County => {
                users.push(user(format!("hotline-{code}"), "12345 热线".into(), Role::HotlineOperator, code));
                (format!("county-{code}"), Role::CountyCentre)
            }
            Level::Township => (format!("township-{code}"), Role::TownshipCentre),
            Level::Community => (format!("community-{code}"), Role::CommunityStaff),
            Level::Grid => (format!("worker-{code}"), Role::GridWorker),
        };
        users.push(user(login, unit.name.clone(), role, code));
    }
    for dept in &tree.departments {
        users.push(user(format!("dept-{}", dept.code), dept.name.clone(), Role::DepartmentStaff, &dept.code));
    }
    users
}

/// Why the demo accounts could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DemoAccountsError {
    /// The shared password could not be hashed.
    #[error(transparent)]
    Hash(#[from] super::HashError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The demo accounts of this database were purged: `--demo` would bring public
    /// passwords back.
    #[error(
        "the demo accounts of this database were disabled by `gridlink users purge-demo` at {}: `--demo` does \
         not bring back accounts with a public password; serve this database without --demo, or run the demo \
         on a fresh one",
        crate::clock::rfc3339(*.0)
    )]
    Purged(i64),
}

/// The mark of a database the demo filled, while its accounts can log in.
const MARK: &str = "demo";
/// The mark of a database whose demo accounts were purged.
const PURGED: &str = "demo_purged";

fn mark_value(conn: &mut DbConnection, name: &str) -> QueryResult<Option<String>> {
    database_marks::table.filter(database_marks::name.eq(name)).select(database_marks::value).first(conn).optional()
}

/// Whether the demo filled this database and its accounts (password `demo`) can log in.
pub fn is_marked(conn: &mut DbConnection) -> QueryResult<bool> {
    Ok(mark_value(conn, MARK)?.is_some())
}

/// When the demo accounts of this database were purged, if they were.
pub fn purged_at(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    Ok(mark_value(conn, PURGED)?.map(|v| v.parse().unwrap_or_default()))
}

/// Marks the database as the demo's unless it is; two servers marking it at once both succeed.
fn mark(conn: &mut DbConnection, now_ms: i64) -> QueryResult<()> {
    if is_marked(conn)? {
        return Ok(());
    }
    // In a savepoint: on PostgreSQL a failed statement would spoil the caller's transaction.
    let inserted = conn.transaction(|c| {
        diesel::insert_into(database_marks::table)
            .values((database_marks::name.eq(MARK), database_marks::value.eq(now_ms.to_string())))
            .execute(c)
    });
    match inserted {
        Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the demo accounts unless they exist, and marks the database as the demo's;
/// returns how many were created. Refused on a database whose demo accounts were purged.
pub fn ensure(db: &Database, layer: &Layer, tree: &CategoryTree) -> Result<usize, DemoAccountsError> {
    if let Some(at) = db.read(purged_at)? {
        return Err(DemoAccountsError::Purged(at));
    }
    if db.read(|c| user_by_login(c, "admin"))?.is_some() {
        db.write(|c| mark(c, now_ms()))?;
        return Ok(0);
    }
    let hash = hash_password("demo")?;
    let users = accounts(layer, tree, &hash);
    Ok(db.write(|c| {
        crate::store::insert_rows(c, users::table, &users)?;
        mark(c, now_ms())?;
        Ok(users.len())
    })?)
}

/// What [`purge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Demo accounts disabled.
    pub accounts: usize,
    /// Their sessions revoked.
    pub sessions: usize,
    /// Their phones' push subscriptions removed.
    pub subscriptions: usize,
    /// The demo's Open311 API key (`demo-key`), revoked (0 or 1).
    pub keys: usize,
    /// Whether the database was marked as the demo's.
    pub was_marked: bool,
}

/// Rows changed per statement: well under either backend's limit on bound parameters.
const CHUNK: usize = 500;

/// Disables every demo account (those whose id is derived from their login, see
/// [`account_id`]), in one transaction: its password is replaced by one nobody knows, its
/// sessions are revoked (running servers close its sockets within seconds), its push
/// subscriptions go, and no task is sent to it any more; the demo's Open311 key
/// (`demo-key`) is revoked. The accounts themselves stay, so that every case's history
/// still names who did what. Then the demo mark is cleared, and the purge is recorded so
/// that `--demo` is refused on this database from now on.
pub fn purge(db: &Database) -> Result<Purged, DemoAccountsError> {
    // A valid hash of 256 random bits, forgotten at once, rather than a malformed one: a
    // login to a disabled account then costs what any wrong password does.
    let hash = hash_password(&super::new_token())?;
    let now = now_ms();
    Ok(db.write(|c| {
        let live: Vec<(String, String)> =
            users::table.filter(users::disabled_at_ms.is_null()).select((users::id, users::login)).load(c)?;
        let ids: Vec<String> =
            live.into_iter().filter(|(id, login)| *id == account_id(login)).map(|(id, _)| id).collect();
        let (mut revoked, mut subscriptions) = (0, 0);
        for chunk in ids.chunks(CHUNK) {
            diesel::update(users::table.filter(users::id.eq_any(chunk)))
                .set((users::password_hash.eq(&hash), users::disabled_at_ms.eq(Some(now))))
                .execute(c)?;
            revoked += diesel::update(
                sessions::table.filter(sessions::user_id.eq_any(chunk)).filter(sessions::revoked_at_ms.is_null()),
            )
            .set(sessions::revoked_at_ms.eq(Some(now)))
            .execute(c)?;
            subscriptions +=
                diesel::delete(push_subscriptions::table.filter(push_subscriptions::user_id.eq_any(chunk)))
                    .execute(c)?;
        }
        // The demo's Open311 key is as public as its password.
        let keys = crate::open311::keys::revoke_demo(c, now)?;
        let was_marked = is_marked(c)?;
        if was_marked || !ids.is_empty() || keys > 0 {
            let data = serde_json::json!({
                "accounts_disabled": ids.len(), "sessions_revoked": revoked,
                "subscriptions_removed": subscriptions, "keys_revoked": keys, "via": "cli",
            });
            super::accounts::audit(c, "demo_purged", None, "demo", data)?;
            diesel::delete(database_marks::table.filter(database_marks::name.eq_any([MARK, PURGED]))).execute(c)?;
            diesel::insert_into(database_marks::table)
                .values((database_marks::name.eq(PURGED), database_marks::value.eq(now.to_string())))
                .execute(c)?;
        }
        Ok(Purged { accounts: ids.len(), sessions: revoked, subscriptions, keys, was_marked })
    })?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_city_of_several_counties_gets_one_login_per_desk() {
        let layer = geodata::demo::city(1_800.0).unwrap_or_else(|e| panic!("the city layer: {e}"));
        let tree = CategoryTree::default_tree().unwrap_or_else(|e| panic!("the category tree: {e}"));
        let users = accounts(&layer, &tree, "hash");
        let logins: BTreeSet<&str> = users.iter().map(|u| u.login.as_str()).collect();
        assert_eq!(logins.len(), users.len(), "every login once");
        let first = users.iter().find(|u| u.login == "centre").unwrap_or_else(|| panic!("no centre"));
        assert_eq!(first.unit_code, "321302", "the demo's county keeps `centre`");
        for county in ["321311", "321322", "321323", "321324"] {
            assert!(logins.contains(format!("county-{county}").as_str()), "{county}");
            assert!(logins.contains(format!("hotline-{county}").as_str()), "{county}");
        }
    }
}

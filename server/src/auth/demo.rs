//! The demo's accounts (CONTRACT.md, "Starting it"), all with the password `demo`:
//! `admin`, `city`, `centre`, `township-<code>`, `community-<code>`, `dept-<code>` and
//! `worker-<grid code>`. Created once, in one transaction, the first time a demo server
//! starts on a database; the password is hashed once and the hash shared, since Argon2
//! per account would take minutes.

use geodata::{Layer, Level};
use uuid::Uuid;

use super::{Role, User, hash_password, insert_user, user_by_login};
use crate::categories::CategoryTree;
use crate::store::{Database, StoreError};

/// The namespace of demo account ids: an id is the UUID v5 of the login.
const DEMO_USERS: Uuid = Uuid::from_u128(0x6772_6964_6c69_6e6b_2d64_656d_6f2d_7573);

/// The demo's accounts for a layer and a category tree (their departments).
pub fn accounts(layer: &Layer, tree: &CategoryTree, password_hash: &str) -> Vec<User> {
    let user = |login: String, name: String, role: Role, unit: &str| User {
        id: Uuid::new_v5(&DEMO_USERS, login.as_bytes()).to_string(),
        login,
        password_hash: password_hash.to_owned(),
        display_name: name,
        role: role.as_str().to_owned(),
        unit_code: unit.to_owned(),
        created_at_ms: 0,
    };
    let mut users = Vec::new();
    for unit in layer.units() {
        let code = unit.code.as_str();
        let (login, role) = match unit.level() {
            Level::City => {
                users.push(user("admin".into(), "管理员".into(), Role::Administrator, code));
                ("city".to_owned(), Role::CityCentre)
            }
            Level::County => {
                users.push(user("hotline".into(), "12345 热线".into(), Role::HotlineOperator, code));
                ("centre".to_owned(), Role::CountyCentre)
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
}

/// Creates the demo accounts unless they exist; returns how many were created.
pub fn ensure(db: &Database, layer: &Layer, tree: &CategoryTree) -> Result<usize, DemoAccountsError> {
    if db.read(|c| user_by_login(c, "admin"))?.is_some() {
        return Ok(0);
    }
    let hash = hash_password("demo")?;
    let users = accounts(layer, tree, &hash);
    Ok(db.write(|c| {
        for u in &users {
            insert_user(c, u)?;
        }
        Ok(users.len())
    })?)
}

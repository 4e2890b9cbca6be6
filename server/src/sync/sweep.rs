//! Closes the sockets whose sessions ended elsewhere: a token revoked (logout on
//! another node, a refresh, an administrator) or a user moved to another role or area
//! (`gridlink users move`, another process). One query pair every few seconds for the
//! whole node, instead of a read per socket per heartbeat: at 20,000 idle phones that
//! was 40 % of a core. Expiry needs no query: each session knows when its token expires.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::hub::{Hub, Kick};
use crate::auth::schema::{sessions, users};
use crate::clock::now_ms;
use crate::lifetime::Until;
use crate::store::{Database, DbConnection, StoreError};

/// How often the node looks for ended sessions.
pub const EVERY: Duration = Duration::from_secs(5);

/// How far back each sweep looks for revocations, before the previous sweep began.
const LOOK_BACK_MS: i64 = 60_000;

/// Whether the session with token hash `credential` still stands at `now_ms` for `user`
/// with the role and unit the socket was opened with. A socket checks this once it is
/// registered with the hub: a revocation or move committed between its connect and its
/// registration may have been swept already.
pub fn still_stands(
    conn: &mut DbConnection,
    credential: &str,
    user: &crate::auth::User,
    now_ms: i64,
) -> QueryResult<bool> {
    let found = crate::auth::session_by_hash(conn, credential, now_ms)?;
    Ok(found.is_some_and(|(now, _)| now.role == user.role && now.unit_code == user.unit_code))
}

/// The tokens (by hash) revoked at or after `since_ms`.
pub fn revoked_since(conn: &mut DbConnection, since_ms: i64) -> QueryResult<Vec<String>> {
    sessions::table.filter(sessions::revoked_at_ms.ge(since_ms)).select(sessions::token_hash).load(conn)
}

/// The users whose role or area changed after change-log number `after`, with the
/// newest such number.
pub fn rescoped_after(conn: &mut DbConnection, after: i64) -> QueryResult<Vec<(String, i64)>> {
    users::table.filter(users::scope_seq.gt(after)).select((users::id, users::scope_seq)).load(conn)
}

/// Where a sweep stands: what it has already seen.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    /// Revocations from this time on (Unix ms) are still to be seen.
    pub revoked_since_ms: i64,
    /// Scope changes after this change-log number are still to be seen.
    pub scope_after: i64,
}

/// One sweep: tells the sessions that ended to close; the mark for the next sweep.
pub fn sweep(db: &Database, hub: &Hub, mark: Mark) -> Result<Mark, StoreError> {
    let started = now_ms();
    let (revoked, rescoped) =
        db.read(|c| Ok((revoked_since(c, mark.revoked_since_ms)?, rescoped_after(c, mark.scope_after)?)))?;
    if !revoked.is_empty() {
        let revoked: std::collections::HashSet<String> = revoked.into_iter().collect();
        let told = hub.kick_where(|_, credential| revoked.contains(credential), Kick::LoggedOut);
        if told > 0 {
            tracing::info!(told, "sockets of revoked sessions closed");
        }
    }
    let scope_after = rescoped.iter().map(|(_, seq)| *seq).max().unwrap_or(mark.scope_after);
    if !rescoped.is_empty() {
        let moved: std::collections::HashSet<String> = rescoped.into_iter().map(|(user, _)| user).collect();
        let told = hub.kick_where(|user, _| moved.contains(user), Kick::Rescoped);
        if told > 0 {
            tracing::info!(told, "sockets of users whose role or area changed closed");
        }
    }
    // A revocation is stamped before its transaction commits, which may wait for a
    // lock, and another process's clock may lag ours: look a minute back next time. A
    // revoked token opens no new socket, so telling its sockets twice is harmless.
    Ok(Mark { revoked_since_ms: started - LOOK_BACK_MS, scope_after })
}

/// Sweeps every [`EVERY`] on a thread of its own, from now until the server ends.
pub fn spawn(db: Database, hub: Arc<Hub>, until: Until) {
    std::thread::spawn(move || {
        let start = db.read(crate::changes::newest).unwrap_or(0);
        let mut mark = Mark { revoked_since_ms: now_ms(), scope_after: start };
        while until.sleep(EVERY) {
            match sweep(&db, &hub, mark) {
                Ok(next) => mark = next,
                Err(e) => tracing::warn!(cause = %e, "ended sessions not swept"),
            }
        }
    });
}

//! `gridlink users disable|enable|password|list`: what the administrator's page does to
//! accounts (`auth::admin`), for an operator without a browser, on the database a server
//! uses (running or not). Each change is audited with no actor and `{"via": "cli"}`.
//! Running servers close the sockets of the sessions ended here within seconds: their
//! sweep closes the sockets of revoked tokens (`sync::sweep`).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use serde_json::json;

use super::{fail, open_existing};
use crate::auth::{self, accounts, password};
use crate::store::Database;

/// Reads one line from standard input as a password (never from the command line, where
/// other users of the machine and the shell's history would see it).
pub fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The database at `url` and the account `login` in it.
fn account(url: &str, login: &str) -> Result<(Database, auth::User), ExitCode> {
    let db = open_existing(url).map_err(fail)?;
    match db.read(|c| auth::user_by_login(c, login)) {
        Ok(Some(user)) => Ok((db, user)),
        Ok(None) => Err(fail(format!("no account {login:?}; `gridlink users list` shows them"))),
        Err(e) => Err(fail(e)),
    }
}

/// The audit data of a change made here.
fn via_cli(mut data: serde_json::Value) -> serde_json::Value {
    data["via"] = json!("cli");
    data
}

/// `gridlink users disable LOGIN`.
pub fn disable(login: &str, url: &str) -> ExitCode {
    let (db, user) = match account(url, login) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let done = db.write(|c| {
        let ended = accounts::disable(c, &user.id, auth::now_ms())?;
        if let Some(ended) = ended {
            accounts::audit(c, "user_disabled", None, &user.id, via_cli(ended.as_data()))?;
        }
        Ok(ended)
    });
    let text = match done {
        Ok(Some(ended)) => format!(
            "disabled {login}: logins refused, {} session(s) revoked, {} push subscription(s) removed; running \
             servers close its sockets within seconds",
            ended.sessions, ended.subscriptions
        ),
        Ok(None) => format!("{login} was disabled already: nothing changed"),
        Err(e) => return fail(e),
    };
    said(&text)
}

/// `gridlink users enable LOGIN`.
pub fn enable(login: &str, url: &str) -> ExitCode {
    let (db, user) = match account(url, login) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let done = db.write(|c| {
        let enabled = accounts::enable(c, &user.id)?;
        if enabled {
            accounts::audit(c, "user_enabled", None, &user.id, via_cli(json!({})))?;
        }
        Ok(enabled)
    });
    match done {
        Ok(true) => said(&format!("enabled {login}: it may log in again")),
        Ok(false) => said(&format!("{login} was not disabled: nothing changed")),
        Err(e) => fail(e),
    }
}

/// `gridlink users password LOGIN`, the new password on standard input.
pub fn set_password(login: &str, url: &str) -> ExitCode {
    let new = match read_password() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(weak) = password::check(&new, login) {
        return fail(format!("{weak} (the password was read from standard input)"));
    }
    let (db, user) = match account(url, login) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let hash = match auth::hash_password(&new) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let done = db.write(|c| {
        let ended = accounts::set_password(c, &user.id, &hash, auth::now_ms())?;
        accounts::audit(c, "password_reset", None, &user.id, via_cli(ended.as_data()))?;
        Ok(ended)
    });
    match done {
        Ok(ended) => said(&format!(
            "the password of {login} is replaced: {} session(s) revoked, {} push subscription(s) removed; running \
             servers close its sockets within seconds",
            ended.sessions, ended.subscriptions
        )),
        Err(e) => fail(e),
    }
}

/// `gridlink users list [FILTER]`: one account a line, tab-separated.
pub fn list(filter: Option<&str>, url: &str) -> ExitCode {
    let db = match open_existing(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let found = match db.read(|c| accounts::list(c, filter, auth::now_ms())) {
        Ok(found) => found,
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout().lock();
    let mut written = writeln!(out, "login\trole\tunit\tdisabled\tsessions\tdevices\tid");
    for a in &found {
        if written.is_err() {
            break;
        }
        let disabled = a.disabled_at_ms.map_or_else(|| "-".to_owned(), crate::clock::rfc3339);
        let u = &a.user;
        written = writeln!(
            out,
            "{}\t{}\t{}\t{disabled}\t{}\t{}\t{}",
            u.login, u.role, u.unit_code, a.live_sessions, a.devices, u.id
        );
    }
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn said(text: &str) -> ExitCode {
    match writeln!(std::io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

//! `gridlink audit verify|export|check`: the tamper-evident trace from the command line.
//! `verify` checks the whole chain of a database (exit 1 naming the first entry that does
//! not hold); `export` writes one case's trace as JSON; `check` verifies such a file on
//! its own, anywhere, without the database.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use diesel::prelude::*;

use super::{fail, open_existing, refuse};
use crate::audit::export::{Trace, check, trace_of};
use crate::audit::verify::{VerifyError, verify};
use crate::incidents::schema::incidents;
use crate::settings::DEFAULT_DATABASE;

/// `gridlink audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the hash chain of the whole trace: exit 0 when whole, 1 naming the first
    /// entry that does not hold.
    Verify {
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Writes one case's trace, with what is needed to verify it elsewhere, as JSON.
    Export {
        /// The case: its id or its code (e.g. 2026-0000123).
        case: String,
        /// The database: `sqlite://PATH` or `postgres://…`.
        #[arg(long, env = "GRIDLINK_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Verifies an exported trace (a file, or `-` for standard input) without the database.
    Check {
        /// The file `audit export` or `GET /api/v1/incidents/{id}/trace` wrote.
        file: PathBuf,
    },
}

/// Runs one `audit` command.
pub fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify { database } => verify_database(&database),
        AuditCommand::Export { case, database } => export(&case, &database),
        AuditCommand::Check { file } => check_file(&file),
    }
}

fn verify_database(url: &str) -> ExitCode {
    let db = match open_existing(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    match db.read(|c| Ok(verify(c))) {
        Ok(Ok(done)) => say(format!("the trace holds: {} entries, {} case events checked", done.entries, done.events)),
        Ok(Err(VerifyError::Broken(broken))) => refuse(format!("the trace does not hold: {broken}")),
        Ok(Err(e)) => fail(e),
        Err(e) => fail(e),
    }
}

fn export(case: &str, url: &str) -> ExitCode {
    let db = match open_existing(url) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let found = db.read(|c| {
        let row = incidents::table
            .filter(incidents::id.eq(case).or(incidents::code.eq(case)))
            .select((incidents::id, incidents::code))
            .first::<(String, String)>(c)
            .optional()?;
        row.map(|(id, code)| trace_of(c, &id, &code)).transpose()
    });
    match found {
        Ok(Some(trace)) => match serde_json::to_string_pretty(&trace) {
            Ok(text) => say(text),
            Err(e) => fail(e),
        },
        Ok(None) => fail(format!("no case {case:?}")),
        Err(e) => fail(e),
    }
}

fn check_file(file: &PathBuf) -> ExitCode {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            Ok(_) => text,
            Err(e) => return fail(format!("cannot read standard input: {e}")),
        }
    } else {
        match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
        }
    };
    let trace: Trace = match serde_json::from_str(&text) {
        Ok(trace) => trace,
        Err(e) => return fail(format!("{} is not an exported trace: {e}", file.display())),
    };
    match check(&trace) {
        Ok(()) => say(format!(
            "the trace of case {} holds: {} events, {} entries (the chain's head then: entry {}, {})",
            trace.code,
            trace.events.len(),
            trace.entries.len(),
            trace.head.seq,
            trace.head.hash
        )),
        Err(broken) => refuse(format!("the trace of case {} does not hold: {broken}", trace.code)),
    }
}

fn say(text: String) -> ExitCode {
    match writeln!(std::io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

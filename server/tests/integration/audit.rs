//! The tamper-evident trace on both backends: a whole chain verifies with `gridlink audit
//! verify`; an entry edited, deleted or reordered by direct SQL, an event edited, or the
//! newest entries cut off, is found and located (exit 1 naming where); on PostgreSQL the
//! trace's tables refuse the edit outright; one case's exported trace checks elsewhere,
//! and a doctored export does not.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use gridlink::audit::{self, Entry};
use gridlink::auth::Role;
use gridlink::incidents::act::{ActError, Actor, Extra, WritePath};
use gridlink::incidents::scope::{Area, Viewer};
use gridlink::incidents::workflow::Command;
use serde_json::json;
use uuid::Uuid;

use crate::support::{self, Recorder, TestDb, gridlink};

const GRID: &str = "321302001001001";
const NOW: i64 = 1_780_000_000_000;

fn centre() -> Actor {
    let area = geodata::AreaCode::parse("321302").map_or(Area::None, Area::Unit);
    Actor {
        viewer: Viewer { id: Uuid::from_u128(7), role: Role::CountyCentre, unit_code: "321302".into(), area },
        device_id: Some("desk-1".into()),
    }
}

fn act(path: &WritePath, id: &str, command: Command, at: i64) {
    path.run(|tx| tx.act(id, &centre(), at, |_, _| Ok::<_, ActError>((command, Extra::default()))).map(|_| ()))
        .unwrap();
}

/// Two cases with a few steps each, and entries outside cases between them: the chain's
/// entries 1.. interleave the cases. Returns the first case's id and code.
fn fill(t: &TestDb) -> (String, String) {
    let path = support::write_path(&t.db, Arc::new(Recorder::default()));
    let (first, second) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    path.run(|tx| tx.open(support::new_case(&first, GRID), None, NOW).map(|_| ())).unwrap();
    t.db.write(|c| {
        audit::record(
            c,
            &Entry {
                at_ms: NOW + 1,
                kind: "login",
                actor_id: Some("u-7"),
                actor_role: Some("county_centre"),
                device_id: Some("desk-1"),
                incident_id: None,
                subject: Some("u-7"),
                data: json!({"ok": true}),
            },
        )
    })
    .unwrap();
    path.run(|tx| tx.open(support::new_case(&second, GRID), None, NOW + 2).map(|_| ())).unwrap();
    act(&path, &first, Command::Accept { confirm: None }, NOW + 3);
    act(&path, &second, Command::Accept { confirm: None }, NOW + 4);
    t.db.write(|c| {
        audit::record(
            c,
            &Entry {
                at_ms: NOW + 5,
                kind: "contact_read",
                actor_id: Some("u-7"),
                actor_role: Some("county_centre"),
                device_id: None,
                incident_id: Some(&first),
                subject: None,
                data: json!({"reason": "回访"}),
            },
        )
    })
    .unwrap();
    let code = t.db.read(|c| gridlink::incidents::store::incident(c, &first)).unwrap().unwrap().code;
    (first, code)
}

/// Runs `gridlink audit verify` on `t`: its exit code and what it said.
fn verify(t: &TestDb) -> (i32, String) {
    let out = gridlink().args(["audit", "verify", "--database", &t.url]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), said)
}

/// Fresh filled databases, one per backend.
fn filled() -> Vec<TestDb> {
    let dbs = support::both();
    for t in &dbs {
        fill(t);
    }
    dbs
}

/// Changes `t` behind the server's back: on PostgreSQL the trace's triggers must refuse
/// `sql` first, and are then switched off as the database's owner could.
fn tamper(t: &TestDb, sql: &str) {
    if t.name == "postgres" {
        let refused = t.db.write(|c| c.batch_execute(sql));
        let error = refused.expect_err("PostgreSQL refuses to change the trace").to_string();
        assert!(error.contains("append-only"), "postgres: {error}");
        t.db.write(|c| {
            c.batch_execute("ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE events DISABLE TRIGGER USER;")?;
            c.batch_execute(sql)
        })
        .unwrap();
    } else {
        t.db.write(|c| c.batch_execute(sql)).unwrap();
    }
}

#[test]
fn a_whole_trace_verifies() {
    for t in filled() {
        let (code, said) = verify(&t);
        assert_eq!(code, 0, "{}: {said}", t.name);
        // 2 reports and 2 accepts (each one event or more) and the 2 entries outside events.
        assert!(said.contains("the trace holds"), "{}: {said}", t.name);
        let done = t.db.read(|c| Ok(audit::verify::verify(c))).unwrap().unwrap();
        assert!(done.entries >= 6 && done.events >= 4, "{}: {done:?}", t.name);
        assert_eq!(done.entries as usize, done.events + 2, "{}: every event has one entry", t.name);
    }
}

#[test]
fn an_edited_entry_is_named() {
    for t in filled() {
        tamper(&t, "UPDATE audit_log SET data = '{\"n\":1,\"ok\":false}' WHERE seq = 2");
        let (code, said) = verify(&t);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("entry 2:") && said.contains("edited"), "{}: {said}", t.name);
    }
}

#[test]
fn a_deleted_entry_is_named() {
    for t in filled() {
        tamper(&t, "DELETE FROM audit_log WHERE seq = 3");
        let (code, said) = verify(&t);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("entry 4: expected number 3"), "{}: {said}", t.name);
    }
}

#[test]
fn reordered_entries_are_named() {
    for t in filled() {
        tamper(
            &t,
            "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; \
             UPDATE audit_log SET seq = 3 WHERE seq = -1;",
        );
        let (code, said) = verify(&t);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("entry 2:"), "{}: {said}", t.name);
    }
}

#[test]
fn the_newest_entries_cut_off_are_found() {
    for t in filled() {
        tamper(&t, "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)");
        let (code, said) = verify(&t);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("its head says"), "{}: {said}", t.name);
    }
}

#[test]
fn an_edited_or_deleted_case_event_is_named() {
    for t in filled() {
        tamper(&t, "UPDATE events SET actor_id = 'someone else' WHERE n = 2");
        let (code, said) = verify(&t);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("event 2: it differs"), "{}: {said}", t.name);
    }
    for t in filled() {
        tamper(&t, "DELETE FROM events WHERE n = 2");
        let (code, said) = verify(&t);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("but it is gone"), "{}: {said}", t.name);
    }
}

#[test]
fn a_case_export_checks_on_its_own_and_a_doctored_one_does_not() {
    for t in support::both() {
        let (_, code) = fill(&t);
        let out = gridlink().args(["audit", "export", &code, "--database", &t.url]).output().unwrap();
        assert!(out.status.success(), "{}: {}", t.name, String::from_utf8_lossy(&out.stderr));
        let file = std::env::temp_dir().join(format!("gridlink-trace-{}.json", support::unique()));
        std::fs::write(&file, &out.stdout).unwrap();
        let check = |file: &std::path::Path| {
            let out = gridlink().args(["audit", "check"]).arg(file).output().unwrap();
            (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        assert_eq!(check(&file).0, 0, "{}: {}", t.name, check(&file).1);

        let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(trace["events"].as_array().unwrap().len(), 2, "{}: reported, accepted", t.name);
        assert_eq!(trace["entries"].as_array().unwrap().len(), 3, "{}: two events and the contact read", t.name);

        let mut edited = trace.clone();
        edited["events"][1]["at_ms"] = json!(NOW - 1);
        std::fs::write(&file, edited.to_string()).unwrap();
        let (code, said) = check(&file);
        assert_eq!(code, 1, "{}: {said}", t.name);
        assert!(said.contains("event 2"), "{}: {said}", t.name);

        let mut dropped = trace.clone();
        dropped["entries"].as_array_mut().unwrap().remove(1);
        dropped["events"].as_array_mut().unwrap().remove(1);
        std::fs::write(&file, dropped.to_string()).unwrap();
        let (code, said) = check(&file);
        assert_eq!(code, 1, "{}: {said}", t.name);
        let _ = std::fs::remove_file(&file);
    }
}

/// One row numbers both sequences (migration 24): after audited writes, entries outside
/// cases and a change appended alone, the head holds the newest of each, and neither
/// sequence has a gap.
#[test]
fn one_head_numbers_the_trace_and_the_change_log() {
    use gridlink::changes::{self, NewChange};
    for t in filled() {
        let change = NewChange {
            kind: "user".into(),
            id: "u-7".into(),
            data: "{}".into(),
            audience: vec![("u-7".into(), false)],
        };
        let alone = t.db.write(|c| changes::append(c, std::slice::from_ref(&change), NOW + 9)).unwrap();
        let (entries, newest_entry, logged, newest_change) =
            t.db.read(|c| {
                use diesel::dsl::{count_star, max};
                use diesel::prelude::*;
                use gridlink::audit::schema::audit_log;
                use gridlink::changes::schema::change_log;
                let (entries, newest_entry) =
                    audit_log::table.select((count_star(), max(audit_log::seq))).first::<(i64, Option<i64>)>(c)?;
                let (logged, newest_change) =
                    change_log::table.select((count_star(), max(change_log::seq))).first::<(i64, Option<i64>)>(c)?;
                Ok((entries, newest_entry, logged, newest_change))
            })
            .unwrap();
        assert_eq!(Some(entries), newest_entry, "{}: the trace is numbered without a gap", t.name);
        assert_eq!(Some(logged), newest_change, "{}: the change log is numbered without a gap", t.name);
        assert_eq!(alone, vec![logged], "{}: a change appended alone takes the next number", t.name);
        assert_eq!(t.db.read(changes::newest).unwrap(), logged, "{}", t.name);
        let (code, said) = verify(&t);
        assert_eq!(code, 0, "{}: {said}", t.name);
    }
}

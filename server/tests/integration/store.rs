//! Storage on both backends, for real: SQLite in a temporary file and PostgreSQL on
//! 127.0.0.1:5432 (a fresh database per test, dropped afterwards). Under CI
//! (`CI=true`) an unreachable PostgreSQL fails the tests instead of skipping them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use gridlink::changes::{self, NewChange};

use crate::support;

fn change(id: &str, audience: &[(&str, bool)]) -> NewChange {
    NewChange {
        kind: "task".into(),
        id: id.into(),
        data: format!("{{\"id\":\"{id}\"}}"),
        audience: audience.iter().map(|(u, r)| ((*u).to_owned(), *r)).collect(),
    }
}

#[test]
fn migrations_apply_and_apply_again() {
    for t in support::both() {
        t.db.migrate().unwrap();
        assert_eq!(t.db.read(changes::newest).unwrap(), 0, "{}", t.name);
    }
}

#[test]
fn changes_reach_exactly_their_audience_in_order() {
    for t in support::both() {
        let seqs =
            t.db.write(|c| {
                changes::append(
                    c,
                    &[change("t1", &[("alice", false)]), change("t2", &[("alice", true), ("bob", false)])],
                    1_700_000_000_000,
                )
            })
            .unwrap();
        assert_eq!(seqs, [1, 2], "{}", t.name);
        t.db.write(|c| changes::append(c, &[change("t3", &[("bob", false)])], 1_700_000_000_001)).unwrap();
        assert_eq!(t.db.read(changes::newest).unwrap(), 3);

        let alice = t.db.read(|c| changes::after(c, &["alice".to_owned()], 0, 100)).unwrap();
        let got: Vec<(i64, &str, bool)> = alice.iter().map(|c| (c.seq, c.id.as_str(), c.removed)).collect();
        assert_eq!(got, [(1, "t1", false), (2, "t2", true)], "{}", t.name);
        let bob = t.db.read(|c| changes::after(c, &["bob".to_owned()], 0, 100)).unwrap();
        assert_eq!(bob.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 3]);
        // After a cursor, and in pages.
        assert_eq!(t.db.read(|c| changes::after(c, &["bob".to_owned()], 2, 100)).unwrap().len(), 1);
        assert_eq!(t.db.read(|c| changes::after(c, &["bob".to_owned()], 0, 1)).unwrap()[0].seq, 2);
        assert!(t.db.read(|c| changes::after(c, &["carol".to_owned()], 0, 100)).unwrap().is_empty());
    }
}

#[test]
fn a_failed_transaction_leaves_no_change_and_no_gap() {
    for t in support::both() {
        let failed: Result<(), _> = t.db.write(|c| {
            changes::append(c, &[change("t1", &[("alice", false)])], 0)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        assert_eq!(t.db.read(changes::newest).unwrap(), 0, "{}", t.name);
        let seqs = t.db.write(|c| changes::append(c, &[change("t2", &[("alice", false)])], 0)).unwrap();
        assert_eq!(seqs, [1], "{}: the rolled-back number is given out again", t.name);
    }
}

#[test]
fn many_rows_go_in_over_several_statements() {
    let per = gridlink::store::ROWS_PER_STATEMENT;
    for t in support::both() {
        // One change read by more subjects than a statement takes, then more changes than that.
        let wide = NewChange {
            audience: (0..2 * per + 34).map(|i| (format!("u{i}"), i % 2 == 0)).collect(),
            ..change("wide", &[])
        };
        assert_eq!(t.db.write(|c| changes::append(c, &[wide], 0)).unwrap(), [1]);
        let last = format!("u{}", 2 * per + 33);
        for (subject, removed) in [("u0", true), ("u1", false), (last.as_str(), false)] {
            let seen = t.db.read(|c| changes::after(c, &[subject.to_owned()], 0, 10)).unwrap();
            assert_eq!(seen.iter().map(|c| (c.seq, c.removed)).collect::<Vec<_>>(), [(1, removed)], "{}", t.name);
        }
        let many: Vec<NewChange> = (0..per + 100).map(|i| change(&format!("t{i}"), &[("bob", false)])).collect();
        let seqs = t.db.write(|c| changes::append(c, &many, 0)).unwrap();
        assert_eq!(seqs, (2..=per as i64 + 101).collect::<Vec<_>>(), "{}", t.name);
        let bob = t.db.read(|c| changes::after(c, &["bob".to_owned()], 0, 10_000)).unwrap();
        assert_eq!(bob.len(), per + 100, "{}", t.name);
        assert_eq!(bob.last().map(|c| c.id.as_str()), Some(format!("t{}", per + 99).as_str()), "{}", t.name);
    }
}

/// Concurrent writers, each doing other work inside its transaction before it takes its
/// numbers, while a reader follows one user's log with a cursor. The reader must see
/// every number, each exactly once, in order: never a later number before an earlier
/// one that was still to commit. On SQLite, no writer may fail with "database is locked".
#[test]
fn readers_never_skip_a_number_committed_late() {
    const WRITERS: usize = 6;
    const EACH: usize = 40;
    for t in support::both() {
        let db = t.db.clone();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (db, done) = (db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut cursor = 0;
                let mut seen = Vec::new();
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let batch = db.read(|c| changes::after(c, &["watcher".to_owned()], cursor, 1000)).unwrap();
                    for change in batch {
                        assert_eq!(change.seq, cursor + 1, "a number was skipped: saw {} after {cursor}", change.seq);
                        cursor = change.seq;
                        seen.push(change.seq);
                    }
                    if finished {
                        // One more read after the writers stopped, then done.
                        let rest = db.read(|c| changes::after(c, &["watcher".to_owned()], cursor, 1000)).unwrap();
                        assert!(rest.is_empty() || rest[0].seq == cursor + 1);
                        seen.extend(rest.iter().map(|c| c.seq));
                        return seen;
                    }
                }
            })
        };
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        db.write(|c| {
                            // Other work of the transaction, taking its time before the log.
                            c.batch_execute("SELECT 1")?;
                            std::thread::sleep(Duration::from_micros(((w * 7 + i * 13) % 5) as u64 * 300));
                            changes::append(c, &[change(&format!("w{w}-{i}"), &[("watcher", false)])], 0)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let seen = reader.join().unwrap();
        let all = (WRITERS * EACH) as i64;
        assert_eq!(seen, (1..=all).collect::<Vec<_>>(), "{}", t.name);
        assert_eq!(t.db.read(changes::newest).unwrap(), all);
    }
}

fn user(login: &str) -> gridlink::auth::User {
    gridlink::auth::User {
        id: uuid::Uuid::new_v4().to_string(),
        login: login.into(),
        password_hash: gridlink::auth::hash_password("demo").unwrap(),
        display_name: format!("{login} (test)"),
        role: gridlink::auth::Role::GridWorker.as_str().into(),
        unit_code: "321302001001001".into(),
        created_at_ms: 0,
    }
}

#[test]
fn users_and_sessions_on_both_backends() {
    use gridlink::auth::{self, Role, Session};
    for t in support::both() {
        let worker = user("worker-321302001001001");
        t.db.write(|c| auth::insert_user(c, &worker)).unwrap();
        // A login is unique.
        let twin = user("worker-321302001001001");
        let err = t.db.write(|c| auth::insert_user(c, &twin)).unwrap_err();
        assert!(
            matches!(
                err,
                gridlink::store::StoreError::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _
                ))
            ),
            "{}: {err:?}",
            t.name
        );
        let found = t.db.read(|c| auth::user_by_login(c, "worker-321302001001001")).unwrap().unwrap();
        assert_eq!(found, worker);
        assert_eq!(found.role(), Some(Role::GridWorker));
        assert!(auth::verify_password("demo", &found.password_hash));
        assert!(t.db.read(|c| auth::user_by_login(c, "nobody")).unwrap().is_none());

        let token = auth::new_token();
        let session = Session {
            token_hash: auth::token_hash(&token),
            user_id: worker.id.clone(),
            device_id: Some("phone-1".into()),
            created_at_ms: 1_000,
            expires_at_ms: 10_000,
            revoked_at_ms: None,
            refresh_hash: None,
            refresh_expires_at_ms: None,
        };
        t.db.write(|c| auth::insert_session(c, &session)).unwrap();
        let (u, s) = t.db.read(|c| auth::session_user(c, &token, 5_000)).unwrap().unwrap();
        assert_eq!((u.id.as_str(), s.device_id.as_deref()), (worker.id.as_str(), Some("phone-1")));
        // Expired, unknown, revoked.
        assert!(t.db.read(|c| auth::session_user(c, &token, 10_000)).unwrap().is_none(), "{}", t.name);
        assert!(t.db.read(|c| auth::session_user(c, &auth::new_token(), 5_000)).unwrap().is_none());
        assert!(t.db.write(|c| auth::revoke_session(c, &token, 6_000)).unwrap());
        assert!(!t.db.write(|c| auth::revoke_session(c, &token, 7_000)).unwrap(), "revoking twice");
        assert!(t.db.read(|c| auth::session_user(c, &token, 6_500)).unwrap().is_none());
    }
}

#[test]
fn sessions_nobody_can_use_are_pruned_and_the_rest_kept() {
    use gridlink::auth::{self, REVOKED_KEPT_MS, Session};
    const NOW: i64 = 1_800_000_000_000;
    for t in support::both() {
        let worker = user("worker-321302001001002");
        t.db.write(|c| auth::insert_user(c, &worker)).unwrap();
        let session = |name: &str, expires: i64, refresh: Option<i64>, revoked: Option<i64>| Session {
            token_hash: name.to_owned(),
            user_id: worker.id.clone(),
            device_id: Some(name.to_owned()),
            created_at_ms: NOW - 100 * REVOKED_KEPT_MS,
            expires_at_ms: expires,
            revoked_at_ms: revoked,
            refresh_hash: refresh.map(|_| format!("refresh-{name}")),
            refresh_expires_at_ms: refresh,
        };
        let rows = [
            // Kept: a live token; an expired token that can still be refreshed; revoked just now.
            session("live", NOW + 1, None, None),
            session("refreshable", NOW - 1, Some(NOW + 1), None),
            session("just-revoked", NOW + 1, None, Some(NOW - 1)),
            // Gone: both tokens expired; no refresh token and expired; revoked long ago.
            session("both-expired", NOW - 1, Some(NOW - 1), None),
            session("expired", NOW - 1, None, None),
            session("long-revoked", NOW + 1, Some(NOW + 1), Some(NOW - REVOKED_KEPT_MS - 1)),
        ];
        for row in &rows {
            t.db.write(|c| auth::insert_session(c, row)).unwrap();
        }
        assert_eq!(t.db.write(|c| auth::prune_sessions(c, NOW)).unwrap(), 3, "{}", t.name);
        assert_eq!(t.db.write(|c| auth::prune_sessions(c, NOW)).unwrap(), 0, "{}: pruning twice", t.name);
        let mut left: Vec<String> =
            t.db.read(|c| {
                use diesel::prelude::*;
                use gridlink::auth::schema::sessions;
                sessions::table.select(sessions::token_hash).load(c)
            })
            .unwrap();
        left.sort();
        assert_eq!(left, ["just-revoked", "live", "refreshable"], "{}", t.name);
    }
}

/// A case of C0101 reported at `at_ms` in a grid of county 321302 (`nth` picks the grid).
fn open_case(db: &gridlink::store::Database, id: &str, nth: usize, at_ms: i64) {
    let path = support::write_path(db, Arc::new(gridlink::sync::hub::NoListeners));
    let grid = format!("321302001{:03}{:03}", 1 + nth % 3, 1 + nth % 5);
    path.run(|tx| tx.open(support::new_case(id, &grid), None, at_ms).map(|_| ())).unwrap();
}

/// The county centre of 321302.
fn county_centre() -> gridlink::incidents::scope::Viewer {
    use gridlink::incidents::scope::{Area, Viewer};
    let area = Area::Unit(geodata::AreaCode::parse("321302").unwrap());
    Viewer { id: uuid::Uuid::from_u128(7), role: gridlink::auth::Role::CountyCentre, unit_code: "321302".into(), area }
}

/// Keyset paging on both backends: walking the list page by page, each page starting
/// after the last case of the one before, gives every case exactly once and in the
/// list's order (newest first, then by id — several cases share an instant here), while
/// cases are reported meanwhile; paging by offset, the same walk shows a case twice.
#[test]
fn the_case_list_walks_by_key_every_case_once_while_cases_arrive() {
    use gridlink::incidents::store::{self, Filter, Key, Start};
    const T0: i64 = 1_780_000_000_000;
    let viewer = county_centre();
    let filter = Filter::default();
    for t in support::both() {
        // 23 cases over 9 instants, ids in no particular order.
        let mut expected: Vec<(i64, String)> = Vec::new();
        for n in 0..23_usize {
            let id = format!("{:02}-{}", (n * 7) % 23, uuid::Uuid::new_v4());
            let at = T0 + (n as i64 % 9) * 60_000;
            open_case(&t.db, &id, n, at);
            expected.push((at, id));
        }
        expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        assert_eq!(t.db.read(|c| store::count(c, &viewer, &filter)).unwrap(), 23, "{}", t.name);

        let walk = |by_offset: bool| {
            let mut seen: Vec<(i64, String)> = Vec::new();
            let mut start = Start::Offset(0);
            let mut pages = 0;
            loop {
                let page = t.db.read(|c| store::list(c, &viewer, &filter, 5, &start)).unwrap();
                seen.extend(page.iter().map(|r| (r.reported_at_ms, r.id.clone())));
                pages += 1;
                if pages == 2 {
                    // Reported during the walk: newer than every case walked.
                    open_case(&t.db, &uuid::Uuid::new_v4().to_string(), 1, T0 + 3_600_000 * (1 + i64::from(by_offset)));
                }
                let Some(last) = page.last() else { break };
                start = if by_offset {
                    Start::Offset(seen.len() as i64)
                } else {
                    Start::After(Key::from_cursor(&Key::of(last).cursor()).unwrap())
                };
            }
            seen
        };
        let by_key = walk(false);
        assert_eq!(by_key, expected, "{}: by key, every case once, in order", t.name);
        let by_offset = walk(true);
        assert_eq!(by_offset.len(), 25, "{}: by offset, the case reported meanwhile pushed one back into view", t.name);

        // A batch by ids, scoped like the rest.
        let ids = vec![expected[3].1.clone(), expected[9].1.clone(), "no-such-case".to_owned()];
        let some = Filter { ids: Some(ids), ..Filter::default() };
        let rows = t.db.read(|c| store::list(c, &viewer, &some, 10, &Start::Offset(0))).unwrap();
        let got: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, [expected[3].1.as_str(), expected[9].1.as_str()], "{}", t.name);
        let mut stranger = county_centre();
        stranger.area = gridlink::incidents::scope::Area::Unit(geodata::AreaCode::parse("321311").unwrap());
        assert!(t.db.read(|c| store::list(c, &stranger, &some, 10, &Start::Offset(0))).unwrap().is_empty());
    }
}

#[test]
fn a_cursor_is_read_back_and_junk_is_not() {
    use gridlink::incidents::store::Key;
    let key = Key { reported_at_ms: -5, id: "a/b c".into() };
    assert_eq!(Key::from_cursor(&key.cursor()), Some(key));
    for junk in ["", "!!!", "MTIz", "eHl6L2Fi", &"A".repeat(600)] {
        assert_eq!(Key::from_cursor(junk), None, "{junk}");
    }
}

/// A pooled PostgreSQL connection whose backend ends (PostgreSQL restarted, an
/// administrator's `pg_terminate_backend`): the pool hands out a connection given back
/// within the last second unchecked, so the one query in flight on it fails, and only
/// that one; a connection that lay idle longer is checked first, and nothing fails.
#[test]
fn a_connection_whose_server_went_away_fails_once_and_is_replaced() {
    use diesel::prelude::*;
    use diesel::sql_types::Integer;
    let Some(scratch) = support::scratch_postgres() else { return };
    // One connection to read and one to write, so that each query reuses it.
    let db = gridlink::store::Database::open(&scratch.url, 1).unwrap();
    db.migrate().unwrap();
    let backend = |c: &mut gridlink::store::DbConnection| {
        diesel::select(diesel::dsl::sql::<Integer>("pg_backend_pid()")).get_result::<i32>(c)
    };
    let mut admin = diesel::PgConnection::establish(&scratch.url).unwrap();
    let mut end = |pid: i32| {
        // Waits (up to 5 s) for the backend to be gone.
        let ended: bool =
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("pg_terminate_backend({pid}, 5000)")))
                .get_result(&mut admin)
                .unwrap();
        assert!(ended, "backend {pid} did not end");
    };

    // Reads: in use, then idle.
    let first = db.read(backend).unwrap();
    end(first);
    assert!(db.read(backend).is_err(), "the query in flight on the lost connection fails");
    let second = db.read(backend).expect("the next one runs on a new connection");
    assert_ne!(second, first);
    end(second);
    std::thread::sleep(Duration::from_millis(1_200));
    let third = db.read(backend).expect("an idle connection is checked before it is handed out");
    assert_ne!(third, second);

    // Writes: the transaction on the lost connection fails, the next one commits.
    let writer = db.write(backend).unwrap();
    end(writer);
    assert!(db.write(backend).is_err());
    let again = db.write(backend).expect("the next write runs on a new connection");
    assert_ne!(again, writer);
    // And work that brings its own error type (`Database::transact`).
    end(again);
    let lost: Result<i32, gridlink::store::StoreError> = db.transact(|c| Ok(backend(c)?));
    assert!(lost.is_err());
    let fresh: Result<i32, gridlink::store::StoreError> = db.transact(|c| Ok(backend(c)?));
    assert_ne!(fresh.expect("the next transaction runs on a new connection"), again);
}

//! The one write path on both backends: a command committed with its trace and its
//! change-log rows, whose audience is fixed at commit — a task taken by one of a grid's
//! workers reaches the others as removed, the units of the case's area see every change,
//! and a refused command leaves nothing behind.

use std::sync::{Arc, Barrier};

use gridlink::auth::Role;
use gridlink::changes::{self, unit_subject};
use gridlink::incidents::act::{ActError, Actor, Extra, NewCase, WritePath};
use gridlink::incidents::scope::{Area, Viewer};
use gridlink::incidents::store;
use gridlink::incidents::workflow::{Assignment, Command, Refusal, Target};
use uuid::Uuid;

use crate::support::{self, Recorder};

const GRID: &str = "321302001001001";
const NOW: i64 = 1_780_000_000_000;

fn actor(n: u128, role: Role, unit: &str) -> Actor {
    let area = geodata::AreaCode::parse(unit).map_or(Area::None, Area::Unit);
    Actor {
        viewer: Viewer { id: Uuid::from_u128(n), role, unit_code: unit.to_owned(), area },
        device_id: Some(format!("device-{n}")),
    }
}

fn path(t: &support::TestDb) -> (WritePath, Arc<Recorder>) {
    let told = Arc::new(Recorder::default());
    (support::write_path(&t.db, told.clone()), told)
}

/// Commits `command` on case `id` by `actor` through the write path.
fn run(path: &WritePath, id: &str, actor: &Actor, command: Command, at: i64) -> Result<(), ActError> {
    path.run(|tx| tx.act(id, actor, at, |_, _| Ok::<_, ActError>((command, Extra::default()))).map(|_| ()))
}

/// A resident's report in `GRID`, with the reporter's name and phone.
fn new_case(id: &str) -> NewCase {
    let contact = gridlink::incidents::report::Contact {
        name: Some("张三".into()),
        phone: Some("13812345678".into()),
        id_number: None,
    };
    NewCase { contact: Some(contact), ..support::new_case(id, GRID) }
}

#[test]
fn a_taken_task_reaches_the_other_assignees_as_removed() {
    for t in support::both() {
        let (path, told) = path(&t);
        let centre = actor(1, Role::CountyCentre, "321302");
        let (a, b) = (actor(2, Role::GridWorker, GRID), actor(3, Role::GridWorker, GRID));
        let id = Uuid::new_v4().to_string();
        let task = Uuid::new_v4();
        path.run(|tx| tx.open(new_case(&id), None, NOW).map(|_| ())).unwrap();
        run(&path, &id, &centre, Command::Accept { confirm: None }, NOW).unwrap();
        let lead = Assignment {
            task,
            target: Target::Grid(GRID.into()),
            assignees: vec![a.viewer.id, b.viewer.id],
            due_ms: Some(NOW + 3_600_000),
            level: Some(5),
        };
        run(&path, &id, &centre, Command::Dispatch { lead, assist: vec![] }, NOW).unwrap();
        let before = t.db.read(changes::newest).unwrap();
        assert_eq!(told.0.lock().unwrap().len(), 3, "{}: each commit told once", t.name);
        assert_eq!(t.db.read(|c| store::incident(c, &id)).unwrap().unwrap().level, 5, "{}", t.name);

        run(&path, &id, &a, Command::AcceptTask { task }, NOW + 1).unwrap();

        let read = |subject: String| t.db.read(|c| changes::after(c, &[subject], before, 100)).unwrap();
        let for_a = read(a.viewer.id.to_string());
        let for_b = read(b.viewer.id.to_string());
        let for_area = read(unit_subject("321302"));
        let task_change = |rows: &[changes::Change]| rows.iter().find(|r| r.kind == "task").cloned().unwrap();
        assert!(!task_change(&for_a).removed, "{}: the taker keeps the task", t.name);
        assert!(task_change(&for_b).removed, "{}: the other worker drops it", t.name);
        assert!(!task_change(&for_area).removed, "{}: the county sees it", t.name);
        let data: serde_json::Value = serde_json::from_str(&task_change(&for_a).data).unwrap();
        assert_eq!(data["status"], "accepted");
        assert_eq!(data["incident_id"], id.as_str());
        assert!(data["deadline"].is_string());
        assert!(!task_change(&for_a).data.contains("13812345678"), "no contact details in the log");
        assert!(read(unit_subject("321302002")).is_empty(), "{}: another township hears nothing", t.name);
        let last = told.0.lock().unwrap().last().cloned().unwrap();
        assert!(last.subjects.contains(&b.viewer.id.to_string()), "{}: the notifier names whom it concerned", t.name);

        // The trace: every event with its actor and device; the level came with the dispatch.
        let events = t.db.read(|c| store::events_of(c, &id)).unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["reported", "registered", "dispatched", "task_accepted"], "{}", t.name);
        assert_eq!(events[3].actor_id.as_deref(), Some(a.viewer.id.to_string().as_str()));
        assert_eq!(events[3].device_id.as_deref(), Some("device-2"));
        assert!(events[2].data.contains("\"level\":5"), "{}: {}", t.name, events[2].data);

        // A refused command (b takes the task a holds) leaves no event, no change, and
        // tells nobody.
        let newest = t.db.read(changes::newest).unwrap();
        let refused = run(&path, &id, &b, Command::AcceptTask { task }, NOW + 2);
        assert!(matches!(refused, Err(ActError::Forbidden(_))), "{}: {refused:?}", t.name);
        let refused = run(&path, &id, &a, Command::AcceptTask { task }, NOW + 2);
        assert!(matches!(refused, Err(ActError::Refused(Refusal::TaskNotActive { .. }))), "{}", t.name);
        assert_eq!(t.db.read(changes::newest).unwrap(), newest, "{}", t.name);
        assert_eq!(t.db.read(|c| store::events_of(c, &id)).unwrap().len(), 4, "{}", t.name);
        assert_eq!(told.0.lock().unwrap().len(), 4, "{}: nothing told of what did not commit", t.name);
    }
}

#[test]
fn a_case_outside_the_actors_area_is_not_found() {
    for t in support::both() {
        let (path, _) = path(&t);
        let id = Uuid::new_v4().to_string();
        path.run(|tx| tx.open(new_case(&id), None, NOW).map(|_| ())).unwrap();
        let stranger = actor(9, Role::TownshipCentre, "321302002");
        let result = run(&path, &id, &stranger, Command::Accept { confirm: None }, NOW);
        assert!(matches!(result, Err(ActError::NotFound(_))), "{}", t.name);
        // Inside the area but of a role the table does not let accept: forbidden.
        let worker = actor(10, Role::GridWorker, GRID);
        let result = run(&path, &id, &worker, Command::Accept { confirm: None }, NOW);
        assert!(matches!(result, Err(ActError::Forbidden(_))), "{}: {result:?}", t.name);
        let row = t.db.read(|c| store::incident(c, &id)).unwrap().unwrap();
        assert_eq!(row.status, "reported", "{}", t.name);
        assert!(row.code.ends_with("-0000001"), "{}: {}", t.name, row.code);
    }
}

/// Two escalations of one case by its township at the same instant, from two threads:
/// each builds its command from the case as it reads it under the lock, so the second
/// finds the case in the county's queue — not the township's to escalate — and exactly
/// one commits.
#[test]
fn of_two_escalations_at_the_same_instant_exactly_one_commits() {
    for t in support::both() {
        let (path, _) = path(&t);
        let township = actor(5, Role::TownshipCentre, "321302001");
        for round in 0..8 {
            let id = Uuid::new_v4().to_string();
            path.run(|tx| tx.open(new_case(&id), None, NOW).map(|_| ())).unwrap();
            let start = Barrier::new(2);
            let results: Vec<Result<(), ActError>> = std::thread::scope(|s| {
                let escalate = || {
                    start.wait();
                    path.run(|tx| {
                        tx.act(&id, &township, NOW, |_, fresh| {
                            let from = fresh.queue().unwrap();
                            let command = Command::Escalate { from, to: Some("321302".into()), reason: "r".into() };
                            Ok::<_, ActError>((command, Extra::default()))
                        })
                        .map(|_| ())
                    })
                };
                let (a, b) = (s.spawn(escalate), s.spawn(escalate));
                vec![a.join().unwrap(), b.join().unwrap()]
            });
            let won = results.iter().filter(|r| r.is_ok()).count();
            let refused = results.iter().filter(|r| matches!(r, Err(ActError::Forbidden(_)))).count();
            assert_eq!((won, refused), (1, 1), "{} round {round}: {results:?}", t.name);
            let escalated =
                t.db.read(|c| store::events_of(c, &id)).unwrap().iter().filter(|e| e.action == "escalated").count();
            assert_eq!(escalated, 1, "{} round {round}", t.name);
            assert_eq!(t.db.read(|c| store::incident(c, &id)).unwrap().unwrap().level, 2, "{}", t.name);
        }
    }
}

#[test]
fn a_commit_names_the_news_its_reporters_are_owed_and_a_rolled_back_one_none() {
    use gridlink::push::reports::{ReportNews, Status};
    for t in support::both() {
        let (path, told) = path(&t);
        let centre = actor(1, Role::CountyCentre, "321302");
        let id = Uuid::new_v4().to_string();
        path.run(|tx| tx.open(new_case(&id), None, NOW).map(|_| ())).unwrap();
        run(&path, &id, &centre, Command::Flag { note: "快".into() }, NOW).unwrap();
        run(&path, &id, &centre, Command::Accept { confirm: None }, NOW).unwrap();
        // Refused (a second accept): nothing committed, nobody told.
        assert!(run(&path, &id, &centre, Command::Accept { confirm: None }, NOW).is_err());
        let told = told.0.lock().unwrap();
        let news: Vec<&Vec<ReportNews>> = told.iter().map(|touched| &touched.reports).collect();
        let registered = vec![ReportNews { cases: vec![id.clone()], status: Status::Registered }];
        assert_eq!(news, [&vec![], &vec![], &registered], "{}", t.name);
    }
}

/// Opens a case in `GRID` through `path` at `NOW`: its human code's number.
fn open_numbered(path: &WritePath) -> i64 {
    let id = Uuid::new_v4().to_string();
    let row = path.run(|tx| tx.open(support::new_case(&id, GRID), None, NOW)).unwrap();
    row.code.rsplit('-').next().unwrap().parse().unwrap()
}

/// Case numbers come from a counter a node claims in blocks (one at a time on SQLite):
/// reports from many threads and two nodes never share a number, a claim rolled back is
/// taken again by the next report, and SQLite's numbers stay dense.
#[test]
fn case_numbers_are_never_shared_and_a_rolled_back_claim_is_claimed_again() {
    use gridlink::incidents::numbers::POSTGRES_BLOCK;
    for t in support::both() {
        let sqlite = t.db.is_sqlite();
        // A claim inside a transaction that rolls back leaves the counter as it was.
        let (first_node, _) = path(&t);
        let id = Uuid::new_v4().to_string();
        let rolled_back: Result<(), ActError> = first_node.run(|tx| {
            tx.open(support::new_case(&id, GRID), None, NOW)?;
            Err(ActError::NotFound("on purpose".into()))
        });
        assert!(rolled_back.is_err());
        assert!(t.db.read(|c| store::incident(c, &id)).unwrap().is_none(), "{}", t.name);
        assert_eq!(open_numbered(&first_node), 1, "{}: the rolled-back claim's number is taken again", t.name);

        // Two nodes, four threads each.
        let (second_node, _) = path(&t);
        let numbers: Vec<i64> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|n| {
                    let node = if n % 2 == 0 { &first_node } else { &second_node };
                    s.spawn(move || (0..15).map(|_| open_numbered(node)).collect::<Vec<_>>())
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 120, "{}: a number was handed out twice", t.name);
        assert!(sorted[0] > 1, "{}", t.name);
        if sqlite {
            assert_eq!(sorted.last(), Some(&121), "{}: SQLite's numbers are dense", t.name);
        } else {
            // At most a block left over per thread that claimed at once, on each node.
            assert!(*sorted.last().unwrap() <= 121 + 8 * POSTGRES_BLOCK, "{}: {sorted:?}", t.name);
        }
    }
}

/// On PostgreSQL, commands that arrive while another is written share its transaction
/// (group commit): many threads at once all commit, each visible as soon as its call
/// returns, fewer commits than commands, the one refused among them leaves nothing and
/// takes nobody with it, and the trace still verifies, numbered without a gap.
#[test]
fn commands_at_once_commit_together_and_a_refused_one_alone_is_undone() {
    for t in support::both() {
        let (path, told) = path(&t);
        let (threads, each) = (12, 10);
        let start = Barrier::new(threads);
        let outcomes: Vec<(String, bool)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|n| {
                    let (path, start, db) = (&path, &start, &t.db);
                    s.spawn(move || {
                        start.wait();
                        (0..each)
                            .map(|k| {
                                let id = Uuid::new_v4().to_string();
                                // Every seventh is refused after writing its case.
                                let refuse = (n * each + k) % 7 == 3;
                                let done: Result<(), ActError> = path.run(|tx| {
                                    tx.open(support::new_case(&id, GRID), None, NOW)?;
                                    if refuse { Err(ActError::NotFound("on purpose".into())) } else { Ok(()) }
                                });
                                assert_eq!(done.is_ok(), !refuse, "{id}: {done:?}");
                                if done.is_ok() {
                                    // Committed by the time the call returns, seen from another connection.
                                    assert!(db.read(|c| store::incident(c, &id)).unwrap().is_some(), "{id}");
                                }
                                (id, !refuse)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let committed = outcomes.iter().filter(|(_, ok)| *ok).count();
        for (id, ok) in &outcomes {
            assert_eq!(t.db.read(|c| store::incident(c, id)).unwrap().is_some(), *ok, "{}: {id}", t.name);
        }
        let commits = told.0.lock().unwrap().clone();
        let mut numbered: Vec<(i64, i64)> = commits.iter().map(|c| (c.oldest, c.newest)).collect();
        numbered.sort_unstable();
        for pair in numbered.windows(2) {
            assert_eq!(pair[1].0, pair[0].1 + 1, "{}: the log's numbers run on from commit to commit", t.name);
        }
        if t.db.is_sqlite() {
            assert_eq!(commits.len(), committed, "{}: SQLite commits each command alone", t.name);
        } else {
            assert!(commits.len() < committed, "{}: {} commits for {committed} commands", t.name, commits.len());
        }
        let verified = t.db.read(|c| Ok(gridlink::audit::verify::verify(c))).unwrap().unwrap();
        assert!(verified.entries >= committed as i64, "{}", t.name);
    }
}

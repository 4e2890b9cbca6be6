//! The closed loop, tested without a server: every (state, command) pair, the shortest
//! loop and its branches, and random command sequences that must never reach an
//! inconsistent case.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gridlink::incidents::workflow::{
    Assignment, Case, Command, Event, Refusal, Status, Target, TaskKind, TaskStatus, UserId, decide,
};
use proptest::prelude::*;
use uuid::Uuid;

/// The time every command of these tests is given (Unix ms); the workflow only compares
/// deadlines with it.
const NOW: i64 = 1_780_000_000_000;

/// The centre's operator: never a handler.
fn centre() -> UserId {
    Uuid::from_u128(1)
}
/// The grid's worker: every task in these tests goes to them.
fn worker() -> UserId {
    Uuid::from_u128(2)
}
fn task_id(n: u128) -> Uuid {
    Uuid::from_u128(0x1000 + n)
}
fn to_grid(n: u128) -> Assignment {
    Assignment {
        task: task_id(n),
        target: Target::Grid("321302001001001".into()),
        assignees: vec![worker()],
        due_ms: None,
    }
}

/// Runs commands that must succeed, returning the case after them.
fn run(case: Case, steps: &[(UserId, Command)]) -> Case {
    steps.iter().fold(case, |mut case, (actor, command)| {
        let events = decide(&case, *actor, command, NOW).unwrap_or_else(|e| panic!("{} refused: {e}", command.name()));
        for e in &events {
            case.apply(e, NOW);
        }
        assert_eq!(case.inconsistency(), None);
        case
    })
}

/// The states a case can be in, with the sub-states that matter for tasks.
#[derive(Debug, Clone, Copy)]
enum Row {
    Reported,
    ConfirmingOpen,
    ConfirmingTaken,
    Registered,
    DispatchedOpen,
    DispatchedTaken,
    Handled,
    Verified,
    Closed,
    Rejected,
    Merged,
}

fn case_in(row: Row) -> Case {
    let c = centre();
    let w = worker();
    let steps: Vec<(UserId, Command)> = match row {
        Row::Reported => vec![],
        Row::ConfirmingOpen => vec![(c, Command::Accept { confirm: Some(to_grid(1)) })],
        Row::ConfirmingTaken => {
            vec![(c, Command::Accept { confirm: Some(to_grid(1)) }), (w, Command::AcceptTask { task: task_id(1) })]
        }
        Row::Registered => vec![(c, Command::Accept { confirm: None })],
        Row::DispatchedOpen => {
            vec![(c, Command::Accept { confirm: None }), (c, Command::Dispatch { lead: to_grid(2), assist: vec![] })]
        }
        Row::DispatchedTaken => vec![
            (c, Command::Accept { confirm: None }),
            (c, Command::Dispatch { lead: to_grid(2), assist: vec![] }),
            (w, Command::AcceptTask { task: task_id(2) }),
        ],
        Row::Handled | Row::Verified | Row::Closed => {
            let mut steps = vec![
                (c, Command::Accept { confirm: None }),
                (c, Command::Dispatch { lead: to_grid(2), assist: vec![] }),
                (w, Command::AcceptTask { task: task_id(2) }),
                (w, Command::CompleteTask { task: task_id(2), result: "fixed".into() }),
            ];
            if !matches!(row, Row::Handled) {
                steps.push((c, Command::Verify { passed: true }));
            }
            if matches!(row, Row::Closed) {
                steps.push((c, Command::Close));
            }
            steps
        }
        Row::Rejected => vec![(c, Command::Reject { reason: "not our area".into() })],
        Row::Merged => return Case { status: Status::Merged, ..Case::reported(NOW) },
    };
    run(Case::reported(NOW), &steps)
}

/// The case's newest task, or an id it does not have.
fn newest_task(case: &Case) -> Uuid {
    case.tasks.last().map_or(task_id(99), |t| t.id)
}

#[derive(Debug, Clone, Copy)]
enum Cmd {
    Accept,
    Reject,
    Dispatch,
    AcceptTask,
    Arrive,
    Progress,
    CompleteTask,
    ConfirmTask,
    Verify,
    Close,
}

/// The command, sent by whoever would normally send it: the centre for case actions,
/// the worker for task actions, on the case's newest task.
fn command(cmd: Cmd, case: &Case) -> (UserId, Command) {
    let task = newest_task(case);
    match cmd {
        Cmd::Accept => (centre(), Command::Accept { confirm: None }),
        Cmd::Reject => (centre(), Command::Reject { reason: "duplicate report".into() }),
        Cmd::Dispatch => (centre(), Command::Dispatch { lead: to_grid(7), assist: vec![] }),
        Cmd::AcceptTask => (worker(), Command::AcceptTask { task }),
        Cmd::Arrive => (worker(), Command::Arrive { task }),
        Cmd::Progress => (worker(), Command::Progress { task, note: "on my way".into() }),
        Cmd::CompleteTask => (worker(), Command::CompleteTask { task, result: "done".into() }),
        Cmd::ConfirmTask => (worker(), Command::ConfirmTask { task, exists: true }),
        Cmd::Verify => (centre(), Command::Verify { passed: true }),
        Cmd::Close => (centre(), Command::Close),
    }
}

/// One row of the table: the outcome's slug, `"ok"` if allowed.
fn outcome(row: Row, cmd: Cmd) -> (&'static str, Option<Status>) {
    let case = case_in(row);
    let (actor, command) = command(cmd, &case);
    match decide(&case, actor, &command, NOW) {
        Ok(events) => {
            let mut after = case.clone();
            for e in &events {
                after.apply(e, NOW);
            }
            assert_eq!(after.inconsistency(), None, "{row:?} + {cmd:?}");
            ("ok", Some(after.status))
        }
        Err(refusal) => {
            // A refusal says which kind; its status, where it names one, is the case's.
            if let Refusal::IllegalTransition { status, action } = &refusal {
                assert_eq!(*status, case.status);
                assert_eq!(*action, command.name());
            }
            (refusal.kind(), None)
        }
    }
}

macro_rules! table {
    ($($name:ident: $row:ident, $cmd:ident => $want:literal $(-> $status:ident)?;)*) => {
        $(
            #[test]
            fn $name() {
                let (got, status) = outcome(Row::$row, Cmd::$cmd);
                assert_eq!(got, $want, "{:?} + {:?}", Row::$row, Cmd::$cmd);
                $( assert_eq!(status, Some(Status::$status)); )?
                let _ = status;
            }
        )*
    };
}

table! {
    reported_accept: Reported, Accept => "ok" -> Registered;
    reported_reject: Reported, Reject => "ok" -> Rejected;
    reported_dispatch: Reported, Dispatch => "illegal-transition";
    reported_accept_task: Reported, AcceptTask => "no-such-task";
    reported_progress: Reported, Progress => "no-such-task";
    reported_arrive: Reported, Arrive => "no-such-task";
    reported_complete_task: Reported, CompleteTask => "no-such-task";
    reported_confirm_task: Reported, ConfirmTask => "no-such-task";
    reported_verify: Reported, Verify => "illegal-transition";
    reported_close: Reported, Close => "illegal-transition";

    confirming_open_accept: ConfirmingOpen, Accept => "illegal-transition";
    confirming_open_reject: ConfirmingOpen, Reject => "illegal-transition";
    confirming_open_dispatch: ConfirmingOpen, Dispatch => "illegal-transition";
    confirming_open_accept_task: ConfirmingOpen, AcceptTask => "ok" -> Confirming;
    confirming_open_progress: ConfirmingOpen, Progress => "task-not-active";
    confirming_open_arrive: ConfirmingOpen, Arrive => "task-not-active";
    confirming_open_complete_task: ConfirmingOpen, CompleteTask => "task-not-active";
    confirming_open_confirm_task: ConfirmingOpen, ConfirmTask => "task-not-active";
    confirming_open_verify: ConfirmingOpen, Verify => "illegal-transition";
    confirming_open_close: ConfirmingOpen, Close => "illegal-transition";

    confirming_taken_accept: ConfirmingTaken, Accept => "illegal-transition";
    confirming_taken_reject: ConfirmingTaken, Reject => "illegal-transition";
    confirming_taken_dispatch: ConfirmingTaken, Dispatch => "illegal-transition";
    confirming_taken_accept_task: ConfirmingTaken, AcceptTask => "task-not-active";
    confirming_taken_progress: ConfirmingTaken, Progress => "ok" -> Confirming;
    confirming_taken_arrive: ConfirmingTaken, Arrive => "ok" -> Confirming;
    confirming_taken_complete_task: ConfirmingTaken, CompleteTask => "wrong-task-kind";
    confirming_taken_confirm_task: ConfirmingTaken, ConfirmTask => "ok" -> Registered;
    confirming_taken_verify: ConfirmingTaken, Verify => "illegal-transition";
    confirming_taken_close: ConfirmingTaken, Close => "illegal-transition";

    registered_accept: Registered, Accept => "illegal-transition";
    registered_reject: Registered, Reject => "ok" -> Rejected;
    registered_dispatch: Registered, Dispatch => "ok" -> Dispatched;
    registered_accept_task: Registered, AcceptTask => "no-such-task";
    registered_progress: Registered, Progress => "no-such-task";
    registered_arrive: Registered, Arrive => "no-such-task";
    registered_complete_task: Registered, CompleteTask => "no-such-task";
    registered_confirm_task: Registered, ConfirmTask => "no-such-task";
    registered_verify: Registered, Verify => "illegal-transition";
    registered_close: Registered, Close => "illegal-transition";

    dispatched_open_accept: DispatchedOpen, Accept => "illegal-transition";
    dispatched_open_reject: DispatchedOpen, Reject => "illegal-transition";
    dispatched_open_dispatch: DispatchedOpen, Dispatch => "illegal-transition";
    dispatched_open_accept_task: DispatchedOpen, AcceptTask => "ok" -> Dispatched;
    dispatched_open_progress: DispatchedOpen, Progress => "task-not-active";
    dispatched_open_arrive: DispatchedOpen, Arrive => "task-not-active";
    dispatched_open_complete_task: DispatchedOpen, CompleteTask => "task-not-active";
    dispatched_open_confirm_task: DispatchedOpen, ConfirmTask => "task-not-active";
    dispatched_open_verify: DispatchedOpen, Verify => "illegal-transition";
    dispatched_open_close: DispatchedOpen, Close => "illegal-transition";

    dispatched_taken_accept: DispatchedTaken, Accept => "illegal-transition";
    dispatched_taken_reject: DispatchedTaken, Reject => "illegal-transition";
    dispatched_taken_dispatch: DispatchedTaken, Dispatch => "illegal-transition";
    dispatched_taken_accept_task: DispatchedTaken, AcceptTask => "task-not-active";
    dispatched_taken_progress: DispatchedTaken, Progress => "ok" -> Dispatched;
    dispatched_taken_arrive: DispatchedTaken, Arrive => "ok" -> Dispatched;
    dispatched_taken_complete_task: DispatchedTaken, CompleteTask => "ok" -> Handled;
    dispatched_taken_confirm_task: DispatchedTaken, ConfirmTask => "wrong-task-kind";
    dispatched_taken_verify: DispatchedTaken, Verify => "illegal-transition";
    dispatched_taken_close: DispatchedTaken, Close => "illegal-transition";

    handled_accept: Handled, Accept => "illegal-transition";
    handled_reject: Handled, Reject => "illegal-transition";
    handled_dispatch: Handled, Dispatch => "illegal-transition";
    handled_accept_task: Handled, AcceptTask => "task-not-active";
    handled_progress: Handled, Progress => "task-not-active";
    handled_arrive: Handled, Arrive => "task-not-active";
    handled_complete_task: Handled, CompleteTask => "task-not-active";
    handled_confirm_task: Handled, ConfirmTask => "task-not-active";
    handled_verify: Handled, Verify => "ok" -> Verified;
    handled_close: Handled, Close => "illegal-transition";

    verified_accept: Verified, Accept => "illegal-transition";
    verified_reject: Verified, Reject => "illegal-transition";
    verified_dispatch: Verified, Dispatch => "illegal-transition";
    verified_accept_task: Verified, AcceptTask => "task-not-active";
    verified_progress: Verified, Progress => "task-not-active";
    verified_arrive: Verified, Arrive => "task-not-active";
    verified_complete_task: Verified, CompleteTask => "task-not-active";
    verified_confirm_task: Verified, ConfirmTask => "task-not-active";
    verified_verify: Verified, Verify => "illegal-transition";
    verified_close: Verified, Close => "ok" -> Closed;

    closed_accept: Closed, Accept => "illegal-transition";
    closed_reject: Closed, Reject => "illegal-transition";
    closed_dispatch: Closed, Dispatch => "illegal-transition";
    closed_accept_task: Closed, AcceptTask => "task-not-active";
    closed_progress: Closed, Progress => "task-not-active";
    closed_arrive: Closed, Arrive => "task-not-active";
    closed_complete_task: Closed, CompleteTask => "task-not-active";
    closed_confirm_task: Closed, ConfirmTask => "task-not-active";
    closed_verify: Closed, Verify => "illegal-transition";
    closed_close: Closed, Close => "illegal-transition";

    rejected_accept: Rejected, Accept => "illegal-transition";
    rejected_reject: Rejected, Reject => "illegal-transition";
    rejected_dispatch: Rejected, Dispatch => "illegal-transition";
    rejected_accept_task: Rejected, AcceptTask => "no-such-task";
    rejected_progress: Rejected, Progress => "no-such-task";
    rejected_arrive: Rejected, Arrive => "no-such-task";
    rejected_complete_task: Rejected, CompleteTask => "no-such-task";
    rejected_confirm_task: Rejected, ConfirmTask => "no-such-task";
    rejected_verify: Rejected, Verify => "illegal-transition";
    rejected_close: Rejected, Close => "illegal-transition";

    merged_accept: Merged, Accept => "illegal-transition";
    merged_reject: Merged, Reject => "illegal-transition";
    merged_dispatch: Merged, Dispatch => "illegal-transition";
    merged_accept_task: Merged, AcceptTask => "no-such-task";
    merged_progress: Merged, Progress => "no-such-task";
    merged_arrive: Merged, Arrive => "no-such-task";
    merged_complete_task: Merged, CompleteTask => "no-such-task";
    merged_confirm_task: Merged, ConfirmTask => "no-such-task";
    merged_verify: Merged, Verify => "illegal-transition";
    merged_close: Merged, Close => "illegal-transition";
}

#[test]
fn the_shortest_loop_closes_the_case() {
    let case = case_in(Row::Closed);
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.tasks.len(), 1);
    assert_eq!(case.tasks[0].status, TaskStatus::Completed);
    assert_eq!(case.tasks[0].holder, Some(worker()));
}

#[test]
fn a_voided_confirmation_rejects_the_case() {
    let case =
        run(case_in(Row::ConfirmingTaken), &[(worker(), Command::ConfirmTask { task: task_id(1), exists: false })]);
    assert_eq!(case.status, Status::Rejected);
    assert_eq!(case.tasks[0].kind, TaskKind::Confirm);
    assert_eq!(case.tasks[0].status, TaskStatus::Completed);
}

#[test]
fn the_handler_may_not_verify_and_nor_may_an_assistant() {
    let case = case_in(Row::Handled);
    assert_eq!(decide(&case, worker(), &Command::Verify { passed: true }, NOW), Err(Refusal::VerifierIsHandler));
    // An assistant who reported their part may not verify either.
    let helper = Uuid::from_u128(3);
    let assist = Assignment {
        task: task_id(3),
        target: Target::Department("cgj".into()),
        assignees: vec![helper],
        due_ms: None,
    };
    let case = run(
        case_in(Row::Registered),
        &[
            (centre(), Command::Dispatch { lead: to_grid(2), assist: vec![assist] }),
            (worker(), Command::AcceptTask { task: task_id(2) }),
            (helper, Command::AcceptTask { task: task_id(3) }),
            (worker(), Command::CompleteTask { task: task_id(2), result: "lead done".into() }),
        ],
    );
    // Not handled until the assistant has reported too.
    assert_eq!(case.status, Status::Dispatched);
    let case = run(case, &[(helper, Command::CompleteTask { task: task_id(3), result: "part done".into() })]);
    assert_eq!(case.status, Status::Handled);
    assert_eq!(decide(&case, helper, &Command::Verify { passed: true }, NOW), Err(Refusal::VerifierIsHandler));
    assert!(decide(&case, centre(), &Command::Verify { passed: true }, NOW).is_ok());
}

#[test]
fn a_failed_verification_sends_the_lead_task_back_to_its_handler() {
    let case = run(case_in(Row::Handled), &[(centre(), Command::Verify { passed: false })]);
    assert_eq!(case.status, Status::Dispatched);
    let lead = &case.tasks[0];
    assert_eq!((lead.status, lead.holder, lead.rework), (TaskStatus::Accepted, Some(worker()), 1));
    // The same handler reports again, and this time it passes.
    let case = run(
        case,
        &[
            (worker(), Command::CompleteTask { task: task_id(2), result: "fixed properly".into() }),
            (centre(), Command::Verify { passed: true }),
            (centre(), Command::Close),
        ],
    );
    assert_eq!(case.status, Status::Closed);
}

#[test]
fn only_assignees_take_a_task_and_only_its_holder_works_on_it() {
    let stranger = Uuid::from_u128(9);
    let case = case_in(Row::DispatchedOpen);
    assert_eq!(
        decide(&case, stranger, &Command::AcceptTask { task: task_id(2) }, NOW),
        Err(Refusal::NotYourTask(task_id(2)))
    );
    let case = case_in(Row::DispatchedTaken);
    let complete = Command::CompleteTask { task: task_id(2), result: "x".into() };
    assert_eq!(decide(&case, stranger, &complete, NOW), Err(Refusal::NotYourTask(task_id(2))));
    assert_eq!(decide(&case, centre(), &complete, NOW), Err(Refusal::NotYourTask(task_id(2))));
}

#[test]
fn the_first_of_a_grids_workers_to_accept_holds_the_task() {
    let (a, b) = (Uuid::from_u128(21), Uuid::from_u128(22));
    let two = Assignment {
        task: task_id(5),
        target: Target::Grid("321302001001001".into()),
        assignees: vec![a, b],
        due_ms: None,
    };
    let case = run(case_in(Row::Registered), &[(centre(), Command::Dispatch { lead: two, assist: vec![] })]);
    let case = run(case, &[(b, Command::AcceptTask { task: task_id(5) })]);
    assert_eq!(case.tasks[0].holder, Some(b));
    assert!(matches!(
        decide(&case, a, &Command::AcceptTask { task: task_id(5) }, NOW),
        Err(Refusal::TaskNotActive { status: TaskStatus::Accepted, .. })
    ));
}

#[test]
fn malformed_commands_are_refused() {
    let reported = case_in(Row::Reported);
    assert!(matches!(
        decide(&reported, centre(), &Command::Reject { reason: "  ".into() }, NOW),
        Err(Refusal::Invalid(_))
    ));
    let registered = case_in(Row::Registered);
    let nobody = Assignment {
        task: task_id(8),
        target: Target::Grid("321302001001009".into()),
        assignees: vec![],
        due_ms: None,
    };
    assert!(matches!(
        decide(&registered, centre(), &Command::Dispatch { lead: nobody, assist: vec![] }, NOW),
        Err(Refusal::NoAssignee(Target::Grid(_)))
    ));
    // The same new task id twice in one dispatch.
    let twice = Command::Dispatch { lead: to_grid(4), assist: vec![to_grid(4)] };
    assert!(matches!(decide(&registered, centre(), &twice, NOW), Err(Refusal::Invalid(_))));
    let taken = case_in(Row::DispatchedTaken);
    assert!(matches!(
        decide(&taken, worker(), &Command::Progress { task: task_id(2), note: "".into() }, NOW),
        Err(Refusal::Invalid(_))
    ));
}

#[test]
fn events_serialise_as_a_trace() {
    let json = serde_json::to_value(Event::TaskAccepted { task: task_id(2), by: worker() }).unwrap();
    assert_eq!(json["event"], "task_accepted");
    assert_eq!(json["by"], worker().to_string());
}

/// A random command, aimed at the case as it is (its tasks, plus one it does not have).
fn arbitrary_command(case: &Case, pick: (u8, u8, u8, bool), next_task: &mut u128) -> (UserId, Command) {
    let actors = [centre(), worker(), Uuid::from_u128(3), Uuid::from_u128(9)];
    let actor = actors[usize::from(pick.1) % actors.len()];
    let tasks: Vec<Uuid> = case.tasks.iter().map(|t| t.id).chain([task_id(999)]).collect();
    let task = tasks[usize::from(pick.2) % tasks.len()];
    let mut fresh = |assignees: Vec<UserId>| {
        *next_task += 1;
        Assignment {
            task: task_id(*next_task),
            target: Target::Grid("321302001001001".into()),
            assignees,
            due_ms: None,
        }
    };
    let command = match pick.0 % 10 {
        0 => Command::Accept { confirm: None },
        1 => Command::Accept { confirm: Some(fresh(vec![worker()])) },
        2 => Command::Reject { reason: "r".into() },
        3 => {
            let assist = if pick.3 { vec![fresh(vec![Uuid::from_u128(3)])] } else { vec![] };
            Command::Dispatch { lead: fresh(vec![worker(), Uuid::from_u128(3)]), assist }
        }
        4 => Command::AcceptTask { task },
        5 if pick.3 => Command::Arrive { task },
        5 => Command::Progress { task, note: "n".into() },
        6 => Command::CompleteTask { task, result: "done".into() },
        7 => Command::ConfirmTask { task, exists: pick.3 },
        8 => Command::Verify { passed: pick.3 },
        _ => Command::Close,
    };
    (actor, command)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No sequence of commands reaches an inconsistent case; a refused command changes
    /// nothing (decide is pure); a closed case was verified by someone who did not handle it.
    #[test]
    fn no_command_sequence_reaches_an_inconsistent_case(picks in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>()), 1..60)) {
        let mut case = Case::reported(NOW);
        let mut next_task = 100;
        let mut verified_by = None;
        for pick in picks {
            let (actor, command) = arbitrary_command(&case, pick, &mut next_task);
            let before = case.clone();
            match decide(&case, actor, &command, NOW) {
                Ok(events) => {
                    for e in &events {
                        if let Event::VerificationPassed { by } = e {
                            prop_assert!(!case.handlers.contains(by));
                            verified_by = Some(*by);
                        }
                        case.apply(e, NOW);
                    }
                    prop_assert_eq!(case.inconsistency(), None, "after {} by {}: {:?}", command.name(), actor, case);
                }
                Err(_) => prop_assert_eq!(&case, &before),
            }
            if case.status == Status::Closed {
                prop_assert!(verified_by.is_some_and(|v| !case.handlers.contains(&v)));
                prop_assert!(case.tasks.iter().all(|t| !t.status.is_active()));
            }
        }
    }
}

#[test]
fn time_is_an_argument_deadlines_must_lie_ahead_and_status_changes_are_stamped() {
    let registered = {
        let mut case = Case::reported(NOW - 10);
        assert_eq!(case.since_ms, NOW - 10);
        for e in decide(&case, centre(), &Command::Accept { confirm: None }, NOW).unwrap() {
            case.apply(&e, NOW);
        }
        case
    };
    assert_eq!(registered.since_ms, NOW, "entering `registered` is stamped with the command's time");
    let late = Assignment { due_ms: Some(NOW), ..to_grid(2) };
    assert!(matches!(
        decide(&registered, centre(), &Command::Dispatch { lead: late, assist: vec![] }, NOW),
        Err(Refusal::Invalid(_))
    ));
    let ahead = Assignment { due_ms: Some(NOW + 1), ..to_grid(2) };
    let events = decide(&registered, centre(), &Command::Dispatch { lead: ahead, assist: vec![] }, NOW).unwrap();
    let mut dispatched = registered.clone();
    for e in &events {
        dispatched.apply(e, NOW + 5);
    }
    assert_eq!(dispatched.tasks[0].due_ms, Some(NOW + 1));
    assert_eq!(dispatched.since_ms, NOW + 5);
    // Progress changes no status, so the stamp stays.
    let mut taken = dispatched.clone();
    for e in decide(&taken, worker(), &Command::AcceptTask { task: task_id(2) }, NOW + 6).unwrap() {
        taken.apply(&e, NOW + 6);
    }
    assert_eq!(taken.since_ms, NOW + 5);
}

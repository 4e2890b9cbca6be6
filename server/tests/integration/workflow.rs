//! The closed loop, tested without a server: every (state, command) pair, the shortest
//! loop and its branches, and random command sequences that must never reach an
//! inconsistent case.

use gridlink::incidents::duplicate::Reported;
use gridlink::incidents::workflow::{
    Assignment, Case, Command, Event, MergeSide, Pause, Rating, Refusal, SYSTEM, Severity, Status, Target, TaskKind,
    TaskRole, TaskStatus, UserId, decide, decide_merge,
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
/// A worker of another grid who checks the handler's work on site.
fn checker() -> UserId {
    Uuid::from_u128(4)
}
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
fn task_id(n: u128) -> Uuid {
    Uuid::from_u128(0x1000 + n)
}
fn to_grid(n: u128) -> Assignment {
    Assignment {
        task: task_id(n),
        target: Target::Grid("321302001001001".into()),
        assignees: vec![worker()],
        due_ms: Some(NOW + DAY),
        level: None,
    }
}
fn to_checker(n: u128) -> Assignment {
    Assignment { assignees: vec![checker()], target: Target::User(checker()), ..to_grid(n) }
}
fn desk_verify(passed: bool) -> Command {
    Command::Verify { task: None, passed, note: String::new() }
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
    /// The worker gave the lead task back.
    Returned,
    /// The worker holds the lead task and asked for more time.
    Extending,
    /// Handled, and a verify task went to the checker.
    Checking,
    /// The checker took the verify task.
    CheckTaken,
    /// The worker holds the lead task and asked to park it.
    Parking,
    /// The centre approved: the lead task is parked, its clock stopped.
    Parked,
    /// Closed, and its reporter rated it satisfied.
    Rated,
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
                steps.push((c, desk_verify(true)));
            }
            if matches!(row, Row::Closed) {
                steps.push((c, Command::Close));
            }
            steps
        }
        Row::Rejected => vec![(c, Command::Reject { reason: "not our area".into() })],
        Row::Merged => vec![(c, Command::Merge { into: SURVIVOR.into(), reason: "same manhole".into() })],
        Row::Returned => {
            return run(
                case_in(Row::DispatchedTaken),
                &[(w, Command::ReturnTask { task: task_id(2), reason: "not ours".into() })],
            );
        }
        Row::Extending => {
            let ask = Command::RequestExtension { task: task_id(2), until_ms: NOW + 3 * DAY, reason: "parts".into() };
            return run(case_in(Row::DispatchedTaken), &[(w, ask)]);
        }
        Row::Checking => {
            return run(case_in(Row::Handled), &[(c, Command::RequestVerification { task: to_checker(3) })]);
        }
        Row::CheckTaken => {
            return run(case_in(Row::Checking), &[(checker(), Command::AcceptTask { task: task_id(3) })]);
        }
        Row::Parking => {
            let ask = Command::RequestPark { task: task_id(2), reason: "road works".into(), until_ms: None };
            return run(case_in(Row::DispatchedTaken), &[(w, ask)]);
        }
        Row::Rated => {
            return run(case_in(Row::Closed), &[(SYSTEM, Command::Rate { rating: Rating::Satisfied })]);
        }
        Row::Parked => {
            let yes = Command::AnswerPark { task: task_id(2), approve: true, reason: String::new() };
            return run(case_in(Row::Parking), &[(c, yes)]);
        }
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
    ReturnTask,
    Redispatch,
    RequestExtension,
    ApproveExtension,
    RefuseExtension,
    RequestVerification,
    VerifyTask,
    /// The system moves the case: its grid left the layer, its location lies in another.
    Replace,
    /// The system finds the case's grid gone and its location in no grid.
    Strand,
    /// The timer: a limit reached 80 % (预警).
    Warn,
    /// The timer: a limit passed (超期), into the township's supervision queue.
    Overdue,
    /// A supervisor flags the case (督办).
    Flag,
    /// The rules, or a desk, tell units of the case (抄告).
    Inform,
    /// A desk grades the case (定级).
    Grade,
    RequestPark,
    ApprovePark,
    RefusePark,
    /// The centre resumes a parked task.
    Resume,
    /// The duplicate's side of a merge.
    Merge,
    /// The survivor's side of a merge.
    Absorb,
    Reopen,
    Escalate,
    /// The reporter rates the case unsatisfied (through the system: residents have no account).
    RateUnsatisfied,
    /// The reporter rates the case satisfied.
    RateSatisfied,
}

/// The case every duplicate of these tests is merged into.
const SURVIVOR: &str = "00000000-0000-0000-0000-00000000aaaa";
/// The township a case waits in, and the county above it.
const TOWNSHIP: &str = "321302001";
const COUNTY: &str = "321302";

/// The grid every case of these tests lies in, and the grid a new layer puts it in.
const OLD_GRID: &str = "321302001001001";
const NEW_GRID: &str = "321302001001002";

fn replace_to(to: Option<&str>) -> Command {
    Command::Replace { from: OLD_GRID.into(), to: to.map(str::to_owned), reason: "grid 001 is not in the layer".into() }
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
        Cmd::Verify => (centre(), desk_verify(true)),
        Cmd::Close => (centre(), Command::Close),
        Cmd::ReturnTask => (worker(), Command::ReturnTask { task, reason: "not our grid".into() }),
        Cmd::Redispatch => (centre(), Command::Redispatch { task, to: to_checker(8) }),
        Cmd::RequestExtension => {
            (worker(), Command::RequestExtension { task, until_ms: NOW + 3 * DAY, reason: "waiting for parts".into() })
        }
        Cmd::ApproveExtension => {
            (centre(), Command::AnswerExtension { task, approve: true, until_ms: None, reason: String::new() })
        }
        Cmd::RefuseExtension => {
            (centre(), Command::AnswerExtension { task, approve: false, until_ms: None, reason: "no".into() })
        }
        Cmd::RequestVerification => (centre(), Command::RequestVerification { task: to_checker(9) }),
        Cmd::VerifyTask => (checker(), Command::Verify { task: Some(task), passed: true, note: "looks fixed".into() }),
        Cmd::Replace => (SYSTEM, replace_to(Some(NEW_GRID))),
        Cmd::Strand => (SYSTEM, replace_to(None)),
        Cmd::Warn => (SYSTEM, Command::Warn { deadline: alarm_key(case), step: "handle".into(), due_ms: NOW }),
        Cmd::Overdue => (SYSTEM, overdue(case, 3)),
        Cmd::Flag => (centre(), Command::Flag { note: "today, please".into() }),
        Cmd::Grade => (centre(), Command::Grade { severity: Some(Severity::II), reason: "烟雾扩大".into() }),
        Cmd::Inform => (SYSTEM, Command::Inform { units: vec!["321300".into(), "cgj".into()], note: "rule".into() }),
        Cmd::RequestPark => (worker(), Command::RequestPark { task, reason: "road works".into(), until_ms: None }),
        Cmd::ApprovePark => (centre(), Command::AnswerPark { task, approve: true, reason: String::new() }),
        Cmd::RefusePark => (centre(), Command::AnswerPark { task, approve: false, reason: "not long-term".into() }),
        Cmd::Resume => (centre(), Command::Resume { task, due_ms: None }),
        Cmd::Merge => (centre(), Command::Merge { into: SURVIVOR.into(), reason: "same manhole".into() }),
        Cmd::Absorb => (centre(), Command::Absorb { duplicate: "dup".into(), followers: vec!["dup".into()] }),
        Cmd::Reopen => (centre(), Command::Reopen { reason: "the cover rattles again".into() }),
        Cmd::RateUnsatisfied => (SYSTEM, Command::Rate { rating: Rating::Unsatisfied }),
        Cmd::RateSatisfied => (SYSTEM, Command::Rate { rating: Rating::Satisfied }),
        Cmd::Escalate => (
            centre(),
            Command::Escalate { from: TOWNSHIP.into(), to: Some(COUNTY.into()), reason: "needs a crane".into() },
        ),
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
            (refusal.kind().slug(), None)
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
    reported_accept_task: Reported, AcceptTask => "not-found";
    reported_progress: Reported, Progress => "not-found";
    reported_arrive: Reported, Arrive => "not-found";
    reported_complete_task: Reported, CompleteTask => "not-found";
    reported_confirm_task: Reported, ConfirmTask => "not-found";
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
    registered_accept_task: Registered, AcceptTask => "not-found";
    registered_progress: Registered, Progress => "not-found";
    registered_arrive: Registered, Arrive => "not-found";
    registered_complete_task: Registered, CompleteTask => "not-found";
    registered_confirm_task: Registered, ConfirmTask => "not-found";
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
    rejected_accept_task: Rejected, AcceptTask => "not-found";
    rejected_progress: Rejected, Progress => "not-found";
    rejected_arrive: Rejected, Arrive => "not-found";
    rejected_complete_task: Rejected, CompleteTask => "not-found";
    rejected_confirm_task: Rejected, ConfirmTask => "not-found";
    rejected_verify: Rejected, Verify => "illegal-transition";
    rejected_close: Rejected, Close => "illegal-transition";

    merged_accept: Merged, Accept => "illegal-transition";
    merged_reject: Merged, Reject => "illegal-transition";
    merged_dispatch: Merged, Dispatch => "illegal-transition";
    merged_accept_task: Merged, AcceptTask => "not-found";
    merged_progress: Merged, Progress => "not-found";
    merged_arrive: Merged, Arrive => "not-found";
    merged_complete_task: Merged, CompleteTask => "not-found";
    merged_confirm_task: Merged, ConfirmTask => "not-found";
    merged_verify: Merged, Verify => "illegal-transition";
    merged_close: Merged, Close => "illegal-transition";
    // The branches: 回退 and 改派, 延期, 核查 by a worker on site.
    reported_return_task: Reported, ReturnTask => "not-found";
    reported_redispatch: Reported, Redispatch => "not-found";
    reported_request_extension: Reported, RequestExtension => "not-found";
    reported_approve_extension: Reported, ApproveExtension => "not-found";
    reported_refuse_extension: Reported, RefuseExtension => "not-found";
    reported_request_verification: Reported, RequestVerification => "illegal-transition";
    reported_verify_task: Reported, VerifyTask => "not-found";
    confirming_open_return_task: ConfirmingOpen, ReturnTask => "ok" -> Returned;
    confirming_open_redispatch: ConfirmingOpen, Redispatch => "ok" -> Confirming;
    confirming_open_request_extension: ConfirmingOpen, RequestExtension => "task-not-active";
    confirming_open_approve_extension: ConfirmingOpen, ApproveExtension => "no-extension-request";
    confirming_open_refuse_extension: ConfirmingOpen, RefuseExtension => "no-extension-request";
    confirming_open_request_verification: ConfirmingOpen, RequestVerification => "illegal-transition";
    confirming_open_verify_task: ConfirmingOpen, VerifyTask => "not-your-task";
    confirming_taken_return_task: ConfirmingTaken, ReturnTask => "ok" -> Returned;
    confirming_taken_redispatch: ConfirmingTaken, Redispatch => "ok" -> Confirming;
    confirming_taken_request_extension: ConfirmingTaken, RequestExtension => "ok" -> Confirming;
    confirming_taken_approve_extension: ConfirmingTaken, ApproveExtension => "no-extension-request";
    confirming_taken_refuse_extension: ConfirmingTaken, RefuseExtension => "no-extension-request";
    confirming_taken_request_verification: ConfirmingTaken, RequestVerification => "illegal-transition";
    confirming_taken_verify_task: ConfirmingTaken, VerifyTask => "not-your-task";
    registered_return_task: Registered, ReturnTask => "not-found";
    registered_redispatch: Registered, Redispatch => "not-found";
    registered_request_extension: Registered, RequestExtension => "not-found";
    registered_approve_extension: Registered, ApproveExtension => "not-found";
    registered_refuse_extension: Registered, RefuseExtension => "not-found";
    registered_request_verification: Registered, RequestVerification => "illegal-transition";
    registered_verify_task: Registered, VerifyTask => "not-found";
    dispatched_open_return_task: DispatchedOpen, ReturnTask => "ok" -> Returned;
    dispatched_open_redispatch: DispatchedOpen, Redispatch => "ok" -> Dispatched;
    dispatched_open_request_extension: DispatchedOpen, RequestExtension => "task-not-active";
    dispatched_open_approve_extension: DispatchedOpen, ApproveExtension => "no-extension-request";
    dispatched_open_refuse_extension: DispatchedOpen, RefuseExtension => "no-extension-request";
    dispatched_open_request_verification: DispatchedOpen, RequestVerification => "illegal-transition";
    dispatched_open_verify_task: DispatchedOpen, VerifyTask => "not-your-task";
    dispatched_taken_return_task: DispatchedTaken, ReturnTask => "ok" -> Returned;
    dispatched_taken_redispatch: DispatchedTaken, Redispatch => "ok" -> Dispatched;
    dispatched_taken_request_extension: DispatchedTaken, RequestExtension => "ok" -> Dispatched;
    dispatched_taken_approve_extension: DispatchedTaken, ApproveExtension => "no-extension-request";
    dispatched_taken_refuse_extension: DispatchedTaken, RefuseExtension => "no-extension-request";
    dispatched_taken_request_verification: DispatchedTaken, RequestVerification => "illegal-transition";
    dispatched_taken_verify_task: DispatchedTaken, VerifyTask => "not-your-task";
    handled_return_task: Handled, ReturnTask => "task-not-active";
    handled_redispatch: Handled, Redispatch => "task-not-active";
    handled_request_extension: Handled, RequestExtension => "task-not-active";
    handled_approve_extension: Handled, ApproveExtension => "task-not-active";
    handled_refuse_extension: Handled, RefuseExtension => "task-not-active";
    handled_request_verification: Handled, RequestVerification => "ok" -> Handled;
    handled_verify_task: Handled, VerifyTask => "task-not-active";
    verified_return_task: Verified, ReturnTask => "task-not-active";
    verified_redispatch: Verified, Redispatch => "task-not-active";
    verified_request_extension: Verified, RequestExtension => "task-not-active";
    verified_approve_extension: Verified, ApproveExtension => "task-not-active";
    verified_refuse_extension: Verified, RefuseExtension => "task-not-active";
    verified_request_verification: Verified, RequestVerification => "illegal-transition";
    verified_verify_task: Verified, VerifyTask => "task-not-active";
    closed_return_task: Closed, ReturnTask => "task-not-active";
    closed_redispatch: Closed, Redispatch => "task-not-active";
    closed_request_extension: Closed, RequestExtension => "task-not-active";
    closed_approve_extension: Closed, ApproveExtension => "task-not-active";
    closed_refuse_extension: Closed, RefuseExtension => "task-not-active";
    closed_request_verification: Closed, RequestVerification => "illegal-transition";
    closed_verify_task: Closed, VerifyTask => "task-not-active";
    rejected_return_task: Rejected, ReturnTask => "not-found";
    rejected_redispatch: Rejected, Redispatch => "not-found";
    rejected_request_extension: Rejected, RequestExtension => "not-found";
    rejected_approve_extension: Rejected, ApproveExtension => "not-found";
    rejected_refuse_extension: Rejected, RefuseExtension => "not-found";
    rejected_request_verification: Rejected, RequestVerification => "illegal-transition";
    rejected_verify_task: Rejected, VerifyTask => "not-found";
    merged_return_task: Merged, ReturnTask => "not-found";
    merged_redispatch: Merged, Redispatch => "not-found";
    merged_request_extension: Merged, RequestExtension => "not-found";
    merged_approve_extension: Merged, ApproveExtension => "not-found";
    merged_refuse_extension: Merged, RefuseExtension => "not-found";
    merged_request_verification: Merged, RequestVerification => "illegal-transition";
    merged_verify_task: Merged, VerifyTask => "not-found";
    returned_accept: Returned, Accept => "illegal-transition";
    returned_reject: Returned, Reject => "ok" -> Rejected;
    returned_dispatch: Returned, Dispatch => "illegal-transition";
    returned_accept_task: Returned, AcceptTask => "task-not-active";
    returned_progress: Returned, Progress => "task-not-active";
    returned_arrive: Returned, Arrive => "task-not-active";
    returned_complete_task: Returned, CompleteTask => "task-not-active";
    returned_confirm_task: Returned, ConfirmTask => "task-not-active";
    returned_verify: Returned, Verify => "illegal-transition";
    returned_close: Returned, Close => "illegal-transition";
    returned_return_task: Returned, ReturnTask => "task-not-active";
    returned_redispatch: Returned, Redispatch => "ok" -> Dispatched;
    returned_request_extension: Returned, RequestExtension => "task-not-active";
    returned_approve_extension: Returned, ApproveExtension => "task-not-active";
    returned_refuse_extension: Returned, RefuseExtension => "task-not-active";
    returned_request_verification: Returned, RequestVerification => "illegal-transition";
    returned_verify_task: Returned, VerifyTask => "task-not-active";
    extending_accept: Extending, Accept => "illegal-transition";
    extending_reject: Extending, Reject => "illegal-transition";
    extending_dispatch: Extending, Dispatch => "illegal-transition";
    extending_accept_task: Extending, AcceptTask => "task-not-active";
    extending_progress: Extending, Progress => "ok" -> Dispatched;
    extending_arrive: Extending, Arrive => "ok" -> Dispatched;
    extending_complete_task: Extending, CompleteTask => "ok" -> Handled;
    extending_confirm_task: Extending, ConfirmTask => "wrong-task-kind";
    extending_verify: Extending, Verify => "illegal-transition";
    extending_close: Extending, Close => "illegal-transition";
    extending_return_task: Extending, ReturnTask => "ok" -> Returned;
    extending_redispatch: Extending, Redispatch => "ok" -> Dispatched;
    extending_request_extension: Extending, RequestExtension => "extension-pending";
    extending_approve_extension: Extending, ApproveExtension => "ok" -> Dispatched;
    extending_refuse_extension: Extending, RefuseExtension => "ok" -> Dispatched;
    extending_request_verification: Extending, RequestVerification => "illegal-transition";
    extending_verify_task: Extending, VerifyTask => "not-your-task";
    checking_accept: Checking, Accept => "illegal-transition";
    checking_reject: Checking, Reject => "illegal-transition";
    checking_dispatch: Checking, Dispatch => "illegal-transition";
    checking_accept_task: Checking, AcceptTask => "not-your-task";
    checking_progress: Checking, Progress => "not-your-task";
    checking_arrive: Checking, Arrive => "not-your-task";
    checking_complete_task: Checking, CompleteTask => "not-your-task";
    checking_confirm_task: Checking, ConfirmTask => "not-your-task";
    checking_verify: Checking, Verify => "ok" -> Verified;
    checking_close: Checking, Close => "illegal-transition";
    checking_return_task: Checking, ReturnTask => "not-your-task";
    checking_redispatch: Checking, Redispatch => "ok" -> Handled;
    checking_request_extension: Checking, RequestExtension => "not-your-task";
    checking_approve_extension: Checking, ApproveExtension => "no-extension-request";
    checking_refuse_extension: Checking, RefuseExtension => "no-extension-request";
    checking_request_verification: Checking, RequestVerification => "invalid-command";
    checking_verify_task: Checking, VerifyTask => "task-not-active";
    check_taken_accept: CheckTaken, Accept => "illegal-transition";
    check_taken_reject: CheckTaken, Reject => "illegal-transition";
    check_taken_dispatch: CheckTaken, Dispatch => "illegal-transition";
    check_taken_accept_task: CheckTaken, AcceptTask => "task-not-active";
    check_taken_progress: CheckTaken, Progress => "not-your-task";
    check_taken_arrive: CheckTaken, Arrive => "not-your-task";
    check_taken_complete_task: CheckTaken, CompleteTask => "not-your-task";
    check_taken_confirm_task: CheckTaken, ConfirmTask => "not-your-task";
    check_taken_verify: CheckTaken, Verify => "ok" -> Verified;
    check_taken_close: CheckTaken, Close => "illegal-transition";
    check_taken_return_task: CheckTaken, ReturnTask => "not-your-task";
    check_taken_redispatch: CheckTaken, Redispatch => "ok" -> Handled;
    check_taken_request_extension: CheckTaken, RequestExtension => "not-your-task";
    check_taken_approve_extension: CheckTaken, ApproveExtension => "no-extension-request";
    check_taken_refuse_extension: CheckTaken, RefuseExtension => "no-extension-request";
    check_taken_request_verification: CheckTaken, RequestVerification => "invalid-command";
    check_taken_verify_task: CheckTaken, VerifyTask => "ok" -> Verified;
    // The system's re-placement when a new grid layer drops the case's grid: any open
    // case, its status kept; a case that has left the loop stays where it was.
    reported_replace: Reported, Replace => "ok" -> Reported;
    reported_strand: Reported, Strand => "ok" -> Reported;
    confirming_open_replace: ConfirmingOpen, Replace => "ok" -> Confirming;
    confirming_open_strand: ConfirmingOpen, Strand => "ok" -> Confirming;
    confirming_taken_replace: ConfirmingTaken, Replace => "ok" -> Confirming;
    confirming_taken_strand: ConfirmingTaken, Strand => "ok" -> Confirming;
    registered_replace: Registered, Replace => "ok" -> Registered;
    registered_strand: Registered, Strand => "ok" -> Registered;
    dispatched_open_replace: DispatchedOpen, Replace => "ok" -> Dispatched;
    dispatched_open_strand: DispatchedOpen, Strand => "ok" -> Dispatched;
    dispatched_taken_replace: DispatchedTaken, Replace => "ok" -> Dispatched;
    dispatched_taken_strand: DispatchedTaken, Strand => "ok" -> Dispatched;
    handled_replace: Handled, Replace => "ok" -> Handled;
    handled_strand: Handled, Strand => "ok" -> Handled;
    verified_replace: Verified, Replace => "ok" -> Verified;
    verified_strand: Verified, Strand => "ok" -> Verified;
    closed_replace: Closed, Replace => "illegal-transition";
    closed_strand: Closed, Strand => "illegal-transition";
    rejected_replace: Rejected, Replace => "illegal-transition";
    rejected_strand: Rejected, Strand => "illegal-transition";
    merged_replace: Merged, Replace => "illegal-transition";
    merged_strand: Merged, Strand => "illegal-transition";
    returned_replace: Returned, Replace => "ok" -> Returned;
    returned_strand: Returned, Strand => "ok" -> Returned;
    extending_replace: Extending, Replace => "ok" -> Dispatched;
    extending_strand: Extending, Strand => "ok" -> Dispatched;
    checking_replace: Checking, Replace => "ok" -> Handled;
    checking_strand: Checking, Strand => "ok" -> Handled;
    check_taken_replace: CheckTaken, Replace => "ok" -> Handled;
    check_taken_strand: CheckTaken, Strand => "ok" -> Handled;
    // Parking (挂账), merging (并单: the duplicate's `merge`, the survivor's `absorb`),
    // reopening a closed case and escalating by hand (上报); and every command on a task
    // whose holder asked to park it, or that is parked.
    reported_request_park: Reported, RequestPark => "not-found";
    reported_approve_park: Reported, ApprovePark => "not-found";
    reported_refuse_park: Reported, RefusePark => "not-found";
    reported_resume: Reported, Resume => "not-found";
    reported_merge: Reported, Merge => "ok" -> Merged;
    reported_absorb: Reported, Absorb => "ok" -> Reported;
    reported_reopen: Reported, Reopen => "illegal-transition";
    reported_escalate: Reported, Escalate => "ok" -> Reported;
    confirming_open_request_park: ConfirmingOpen, RequestPark => "task-not-active";
    confirming_open_approve_park: ConfirmingOpen, ApprovePark => "no-park-request";
    confirming_open_refuse_park: ConfirmingOpen, RefusePark => "no-park-request";
    confirming_open_resume: ConfirmingOpen, Resume => "not-parked";
    confirming_open_merge: ConfirmingOpen, Merge => "ok" -> Merged;
    confirming_open_absorb: ConfirmingOpen, Absorb => "ok" -> Confirming;
    confirming_open_reopen: ConfirmingOpen, Reopen => "illegal-transition";
    confirming_open_escalate: ConfirmingOpen, Escalate => "ok" -> Confirming;
    confirming_taken_request_park: ConfirmingTaken, RequestPark => "wrong-task-kind";
    confirming_taken_approve_park: ConfirmingTaken, ApprovePark => "no-park-request";
    confirming_taken_refuse_park: ConfirmingTaken, RefusePark => "no-park-request";
    confirming_taken_resume: ConfirmingTaken, Resume => "not-parked";
    confirming_taken_merge: ConfirmingTaken, Merge => "ok" -> Merged;
    confirming_taken_absorb: ConfirmingTaken, Absorb => "ok" -> Confirming;
    confirming_taken_reopen: ConfirmingTaken, Reopen => "illegal-transition";
    confirming_taken_escalate: ConfirmingTaken, Escalate => "ok" -> Confirming;
    registered_request_park: Registered, RequestPark => "not-found";
    registered_approve_park: Registered, ApprovePark => "not-found";
    registered_refuse_park: Registered, RefusePark => "not-found";
    registered_resume: Registered, Resume => "not-found";
    registered_merge: Registered, Merge => "ok" -> Merged;
    registered_absorb: Registered, Absorb => "ok" -> Registered;
    registered_reopen: Registered, Reopen => "illegal-transition";
    registered_escalate: Registered, Escalate => "ok" -> Registered;
    dispatched_open_request_park: DispatchedOpen, RequestPark => "task-not-active";
    dispatched_open_approve_park: DispatchedOpen, ApprovePark => "no-park-request";
    dispatched_open_refuse_park: DispatchedOpen, RefusePark => "no-park-request";
    dispatched_open_resume: DispatchedOpen, Resume => "not-parked";
    dispatched_open_merge: DispatchedOpen, Merge => "ok" -> Merged;
    dispatched_open_absorb: DispatchedOpen, Absorb => "ok" -> Dispatched;
    dispatched_open_reopen: DispatchedOpen, Reopen => "illegal-transition";
    dispatched_open_escalate: DispatchedOpen, Escalate => "ok" -> Dispatched;
    dispatched_taken_request_park: DispatchedTaken, RequestPark => "ok" -> Dispatched;
    dispatched_taken_approve_park: DispatchedTaken, ApprovePark => "no-park-request";
    dispatched_taken_refuse_park: DispatchedTaken, RefusePark => "no-park-request";
    dispatched_taken_resume: DispatchedTaken, Resume => "not-parked";
    dispatched_taken_merge: DispatchedTaken, Merge => "ok" -> Merged;
    dispatched_taken_absorb: DispatchedTaken, Absorb => "ok" -> Dispatched;
    dispatched_taken_reopen: DispatchedTaken, Reopen => "illegal-transition";
    dispatched_taken_escalate: DispatchedTaken, Escalate => "ok" -> Dispatched;
    handled_request_park: Handled, RequestPark => "task-not-active";
    handled_approve_park: Handled, ApprovePark => "task-not-active";
    handled_refuse_park: Handled, RefusePark => "task-not-active";
    handled_resume: Handled, Resume => "task-not-active";
    handled_merge: Handled, Merge => "ok" -> Merged;
    handled_absorb: Handled, Absorb => "ok" -> Handled;
    handled_reopen: Handled, Reopen => "illegal-transition";
    handled_escalate: Handled, Escalate => "ok" -> Handled;
    verified_request_park: Verified, RequestPark => "task-not-active";
    verified_approve_park: Verified, ApprovePark => "task-not-active";
    verified_refuse_park: Verified, RefusePark => "task-not-active";
    verified_resume: Verified, Resume => "task-not-active";
    verified_merge: Verified, Merge => "ok" -> Merged;
    verified_absorb: Verified, Absorb => "ok" -> Verified;
    verified_reopen: Verified, Reopen => "illegal-transition";
    verified_escalate: Verified, Escalate => "ok" -> Verified;
    closed_request_park: Closed, RequestPark => "task-not-active";
    closed_approve_park: Closed, ApprovePark => "task-not-active";
    closed_refuse_park: Closed, RefusePark => "task-not-active";
    closed_resume: Closed, Resume => "task-not-active";
    closed_merge: Closed, Merge => "illegal-transition";
    closed_absorb: Closed, Absorb => "survivor-not-open";
    closed_reopen: Closed, Reopen => "ok" -> Dispatched;
    closed_escalate: Closed, Escalate => "illegal-transition";
    rejected_request_park: Rejected, RequestPark => "not-found";
    rejected_approve_park: Rejected, ApprovePark => "not-found";
    rejected_refuse_park: Rejected, RefusePark => "not-found";
    rejected_resume: Rejected, Resume => "not-found";
    rejected_merge: Rejected, Merge => "illegal-transition";
    rejected_absorb: Rejected, Absorb => "survivor-not-open";
    rejected_reopen: Rejected, Reopen => "illegal-transition";
    rejected_escalate: Rejected, Escalate => "illegal-transition";
    merged_request_park: Merged, RequestPark => "not-found";
    merged_approve_park: Merged, ApprovePark => "not-found";
    merged_refuse_park: Merged, RefusePark => "not-found";
    merged_resume: Merged, Resume => "not-found";
    merged_merge: Merged, Merge => "illegal-transition";
    merged_absorb: Merged, Absorb => "survivor-not-open";
    merged_reopen: Merged, Reopen => "illegal-transition";
    merged_escalate: Merged, Escalate => "illegal-transition";
    returned_request_park: Returned, RequestPark => "task-not-active";
    returned_approve_park: Returned, ApprovePark => "task-not-active";
    returned_refuse_park: Returned, RefusePark => "task-not-active";
    returned_resume: Returned, Resume => "task-not-active";
    returned_merge: Returned, Merge => "ok" -> Merged;
    returned_absorb: Returned, Absorb => "ok" -> Returned;
    returned_reopen: Returned, Reopen => "illegal-transition";
    returned_escalate: Returned, Escalate => "ok" -> Returned;
    extending_request_park: Extending, RequestPark => "ok" -> Dispatched;
    extending_approve_park: Extending, ApprovePark => "no-park-request";
    extending_refuse_park: Extending, RefusePark => "no-park-request";
    extending_resume: Extending, Resume => "not-parked";
    extending_merge: Extending, Merge => "ok" -> Merged;
    extending_absorb: Extending, Absorb => "ok" -> Dispatched;
    extending_reopen: Extending, Reopen => "illegal-transition";
    extending_escalate: Extending, Escalate => "ok" -> Dispatched;
    checking_request_park: Checking, RequestPark => "not-your-task";
    checking_approve_park: Checking, ApprovePark => "no-park-request";
    checking_refuse_park: Checking, RefusePark => "no-park-request";
    checking_resume: Checking, Resume => "not-parked";
    checking_merge: Checking, Merge => "ok" -> Merged;
    checking_absorb: Checking, Absorb => "ok" -> Handled;
    checking_reopen: Checking, Reopen => "illegal-transition";
    checking_escalate: Checking, Escalate => "ok" -> Handled;
    check_taken_request_park: CheckTaken, RequestPark => "not-your-task";
    check_taken_approve_park: CheckTaken, ApprovePark => "no-park-request";
    check_taken_refuse_park: CheckTaken, RefusePark => "no-park-request";
    check_taken_resume: CheckTaken, Resume => "not-parked";
    check_taken_merge: CheckTaken, Merge => "ok" -> Merged;
    check_taken_absorb: CheckTaken, Absorb => "ok" -> Handled;
    check_taken_reopen: CheckTaken, Reopen => "illegal-transition";
    check_taken_escalate: CheckTaken, Escalate => "ok" -> Handled;
    parking_accept: Parking, Accept => "illegal-transition";
    parking_reject: Parking, Reject => "illegal-transition";
    parking_dispatch: Parking, Dispatch => "illegal-transition";
    parking_accept_task: Parking, AcceptTask => "task-not-active";
    parking_arrive: Parking, Arrive => "ok" -> Dispatched;
    parking_progress: Parking, Progress => "ok" -> Dispatched;
    parking_complete_task: Parking, CompleteTask => "ok" -> Handled;
    parking_confirm_task: Parking, ConfirmTask => "wrong-task-kind";
    parking_verify: Parking, Verify => "illegal-transition";
    parking_close: Parking, Close => "illegal-transition";
    parking_return_task: Parking, ReturnTask => "ok" -> Returned;
    parking_redispatch: Parking, Redispatch => "ok" -> Dispatched;
    parking_request_extension: Parking, RequestExtension => "ok" -> Dispatched;
    parking_approve_extension: Parking, ApproveExtension => "no-extension-request";
    parking_refuse_extension: Parking, RefuseExtension => "no-extension-request";
    parking_request_verification: Parking, RequestVerification => "illegal-transition";
    parking_verify_task: Parking, VerifyTask => "not-your-task";
    parking_replace: Parking, Replace => "ok" -> Dispatched;
    parking_strand: Parking, Strand => "ok" -> Dispatched;
    parking_request_park: Parking, RequestPark => "park-pending";
    parking_approve_park: Parking, ApprovePark => "ok" -> Dispatched;
    parking_refuse_park: Parking, RefusePark => "ok" -> Dispatched;
    parking_resume: Parking, Resume => "not-parked";
    parking_merge: Parking, Merge => "ok" -> Merged;
    parking_absorb: Parking, Absorb => "ok" -> Dispatched;
    parking_reopen: Parking, Reopen => "illegal-transition";
    parking_escalate: Parking, Escalate => "ok" -> Dispatched;
    parked_accept: Parked, Accept => "illegal-transition";
    parked_reject: Parked, Reject => "illegal-transition";
    parked_dispatch: Parked, Dispatch => "illegal-transition";
    parked_accept_task: Parked, AcceptTask => "task-not-active";
    parked_arrive: Parked, Arrive => "ok" -> Dispatched;
    parked_progress: Parked, Progress => "ok" -> Dispatched;
    parked_complete_task: Parked, CompleteTask => "task-parked";
    parked_confirm_task: Parked, ConfirmTask => "wrong-task-kind";
    parked_verify: Parked, Verify => "illegal-transition";
    parked_close: Parked, Close => "illegal-transition";
    parked_return_task: Parked, ReturnTask => "task-parked";
    parked_redispatch: Parked, Redispatch => "ok" -> Dispatched;
    parked_request_extension: Parked, RequestExtension => "task-parked";
    parked_approve_extension: Parked, ApproveExtension => "no-extension-request";
    parked_refuse_extension: Parked, RefuseExtension => "no-extension-request";
    parked_request_verification: Parked, RequestVerification => "illegal-transition";
    parked_verify_task: Parked, VerifyTask => "not-your-task";
    parked_replace: Parked, Replace => "ok" -> Dispatched;
    parked_strand: Parked, Strand => "ok" -> Dispatched;
    parked_request_park: Parked, RequestPark => "task-parked";
    parked_approve_park: Parked, ApprovePark => "no-park-request";
    parked_refuse_park: Parked, RefusePark => "no-park-request";
    parked_resume: Parked, Resume => "ok" -> Dispatched;
    parked_merge: Parked, Merge => "ok" -> Merged;
    parked_absorb: Parked, Absorb => "ok" -> Dispatched;
    parked_reopen: Parked, Reopen => "illegal-transition";
    parked_escalate: Parked, Escalate => "ok" -> Dispatched;
    // The reporter's rating (评价): only of a closed case, once per closing; unsatisfied
    // reopens it. And every command on a closed case already rated.
    reported_rate_unsatisfied: Reported, RateUnsatisfied => "illegal-transition";
    reported_rate_satisfied: Reported, RateSatisfied => "illegal-transition";
    confirming_open_rate_unsatisfied: ConfirmingOpen, RateUnsatisfied => "illegal-transition";
    confirming_open_rate_satisfied: ConfirmingOpen, RateSatisfied => "illegal-transition";
    confirming_taken_rate_unsatisfied: ConfirmingTaken, RateUnsatisfied => "illegal-transition";
    confirming_taken_rate_satisfied: ConfirmingTaken, RateSatisfied => "illegal-transition";
    registered_rate_unsatisfied: Registered, RateUnsatisfied => "illegal-transition";
    registered_rate_satisfied: Registered, RateSatisfied => "illegal-transition";
    dispatched_open_rate_unsatisfied: DispatchedOpen, RateUnsatisfied => "illegal-transition";
    dispatched_open_rate_satisfied: DispatchedOpen, RateSatisfied => "illegal-transition";
    dispatched_taken_rate_unsatisfied: DispatchedTaken, RateUnsatisfied => "illegal-transition";
    dispatched_taken_rate_satisfied: DispatchedTaken, RateSatisfied => "illegal-transition";
    handled_rate_unsatisfied: Handled, RateUnsatisfied => "illegal-transition";
    handled_rate_satisfied: Handled, RateSatisfied => "illegal-transition";
    verified_rate_unsatisfied: Verified, RateUnsatisfied => "illegal-transition";
    verified_rate_satisfied: Verified, RateSatisfied => "illegal-transition";
    closed_rate_unsatisfied: Closed, RateUnsatisfied => "ok" -> Dispatched;
    closed_rate_satisfied: Closed, RateSatisfied => "ok" -> Closed;
    rejected_rate_unsatisfied: Rejected, RateUnsatisfied => "illegal-transition";
    rejected_rate_satisfied: Rejected, RateSatisfied => "illegal-transition";
    merged_rate_unsatisfied: Merged, RateUnsatisfied => "illegal-transition";
    merged_rate_satisfied: Merged, RateSatisfied => "illegal-transition";
    returned_rate_unsatisfied: Returned, RateUnsatisfied => "illegal-transition";
    returned_rate_satisfied: Returned, RateSatisfied => "illegal-transition";
    extending_rate_unsatisfied: Extending, RateUnsatisfied => "illegal-transition";
    extending_rate_satisfied: Extending, RateSatisfied => "illegal-transition";
    checking_rate_unsatisfied: Checking, RateUnsatisfied => "illegal-transition";
    checking_rate_satisfied: Checking, RateSatisfied => "illegal-transition";
    check_taken_rate_unsatisfied: CheckTaken, RateUnsatisfied => "illegal-transition";
    check_taken_rate_satisfied: CheckTaken, RateSatisfied => "illegal-transition";
    parking_rate_unsatisfied: Parking, RateUnsatisfied => "illegal-transition";
    parking_rate_satisfied: Parking, RateSatisfied => "illegal-transition";
    parked_rate_unsatisfied: Parked, RateUnsatisfied => "illegal-transition";
    parked_rate_satisfied: Parked, RateSatisfied => "illegal-transition";
    rated_accept: Rated, Accept => "illegal-transition";
    rated_reject: Rated, Reject => "illegal-transition";
    rated_dispatch: Rated, Dispatch => "illegal-transition";
    rated_accept_task: Rated, AcceptTask => "task-not-active";
    rated_arrive: Rated, Arrive => "task-not-active";
    rated_progress: Rated, Progress => "task-not-active";
    rated_complete_task: Rated, CompleteTask => "task-not-active";
    rated_confirm_task: Rated, ConfirmTask => "task-not-active";
    rated_verify: Rated, Verify => "illegal-transition";
    rated_close: Rated, Close => "illegal-transition";
    rated_return_task: Rated, ReturnTask => "task-not-active";
    rated_redispatch: Rated, Redispatch => "task-not-active";
    rated_request_extension: Rated, RequestExtension => "task-not-active";
    rated_approve_extension: Rated, ApproveExtension => "task-not-active";
    rated_refuse_extension: Rated, RefuseExtension => "task-not-active";
    rated_request_verification: Rated, RequestVerification => "illegal-transition";
    rated_verify_task: Rated, VerifyTask => "task-not-active";
    rated_replace: Rated, Replace => "illegal-transition";
    rated_strand: Rated, Strand => "illegal-transition";
    rated_request_park: Rated, RequestPark => "task-not-active";
    rated_approve_park: Rated, ApprovePark => "task-not-active";
    rated_refuse_park: Rated, RefusePark => "task-not-active";
    rated_resume: Rated, Resume => "task-not-active";
    rated_merge: Rated, Merge => "illegal-transition";
    rated_absorb: Rated, Absorb => "survivor-not-open";
    rated_reopen: Rated, Reopen => "ok" -> Dispatched;
    rated_escalate: Rated, Escalate => "illegal-transition";
    rated_rate_unsatisfied: Rated, RateUnsatisfied => "already-rated";
    rated_rate_satisfied: Rated, RateSatisfied => "already-rated";
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
    assert_eq!(decide(&case, worker(), &desk_verify(true), NOW), Err(Refusal::VerifierIsHandler));
    // An assistant who reported their part may not verify either.
    let helper = Uuid::from_u128(3);
    let assist = Assignment {
        task: task_id(3),
        target: Target::Department("cgj".into()),
        assignees: vec![helper],
        due_ms: None,
        level: None,
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
    assert_eq!(decide(&case, helper, &desk_verify(true), NOW), Err(Refusal::VerifierIsHandler));
    assert!(decide(&case, centre(), &desk_verify(true), NOW).is_ok());
}

#[test]
fn a_failed_verification_sends_the_lead_task_back_to_its_handler() {
    let case = run(case_in(Row::Handled), &[(centre(), desk_verify(false))]);
    assert_eq!(case.status, Status::Dispatched);
    let lead = &case.tasks[0];
    assert_eq!((lead.status, lead.holder, lead.rework), (TaskStatus::Accepted, Some(worker()), 1));
    // The same handler reports again, and this time it passes.
    let case = run(
        case,
        &[
            (worker(), Command::CompleteTask { task: task_id(2), result: "fixed properly".into() }),
            (centre(), desk_verify(true)),
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
        level: None,
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
        level: None,
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
fn arbitrary_command(case: &Case, pick: (u8, u8, u8, bool), next_task: &mut u128, now: i64) -> (UserId, Command) {
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
            due_ms: Some(now + DAY),
            level: None,
        }
    };
    let command = match pick.0 % 29 {
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
        8 => Command::Verify { task: None, passed: pick.3, note: String::new() },
        9 => Command::Close,
        10 => Command::ReturnTask { task, reason: "wrong grid".into() },
        11 => Command::Redispatch { task, to: fresh(vec![Uuid::from_u128(3)]) },
        12 => Command::RequestExtension { task, until_ms: now + 2 * DAY, reason: "parts".into() },
        13 => Command::AnswerExtension { task, approve: pick.3, until_ms: None, reason: String::new() },
        14 => Command::RequestVerification { task: fresh(vec![worker(), Uuid::from_u128(3)]) },
        15 => Command::Verify { task: Some(task), passed: pick.3, note: "seen".into() },
        16 => replace_to(None),
        17 => replace_to(Some(NEW_GRID)),
        18 => Command::RequestPark { task, reason: "road works".into(), until_ms: pick.3.then_some(now + 9 * DAY) },
        19 => Command::AnswerPark { task, approve: pick.3, reason: "not long-term".into() },
        20 | 21 => Command::Resume { task, due_ms: None },
        22 => Command::Merge { into: SURVIVOR.into(), reason: "same manhole".into() },
        23 => Command::Absorb { duplicate: "dup".into(), followers: vec!["dup".into()] },
        24 => Command::Reopen { reason: "unsatisfied".into() },
        25 => Command::Escalate { from: TOWNSHIP.into(), to: pick.3.then(|| COUNTY.into()), reason: "crane".into() },
        27 => Command::Grade { severity: pick.3.then_some(Severity::I), reason: "r".into() },
        26 => Command::Inform { units: if pick.3 { vec!["cgj".into()] } else { vec![] }, note: "n".into() },
        _ => Command::Rate { rating: if pick.3 { Rating::Unsatisfied } else { Rating::Basic } },
    };
    // Re-placements come from the system, mostly.
    let actor = if matches!(command, Command::Replace { .. }) && !pick.2.is_multiple_of(4) { SYSTEM } else { actor };
    (actor, command)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No sequence of commands reaches an inconsistent case; a refused command changes
    /// nothing (decide is pure); a closed case was verified by someone who did not handle it.
    /// Time moves on between commands: a parked task's deadline does not run while it is
    /// parked (resumed, it has as much time left as when it was parked), and a merged case
    /// names the case it was merged into.
    #[test]
    fn no_command_sequence_reaches_an_inconsistent_case(picks in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>()), 1..60)) {
        let mut case = Case::reported(NOW);
        let mut next_task = 100;
        let mut verified_by = None;
        for (step, pick) in picks.into_iter().enumerate() {
            let now = NOW + i64::try_from(step).unwrap() * HOUR;
            let (actor, command) = arbitrary_command(&case, pick, &mut next_task, now);
            let before = case.clone();
            match decide(&case, actor, &command, now) {
                Ok(events) => {
                    for e in &events {
                        if let Event::VerificationPassed { by, .. } = e {
                            prop_assert!(!case.handlers.contains(by));
                            verified_by = Some(*by);
                        }
                        case.apply(e, now);
                    }
                    prop_assert_eq!(case.inconsistency(), None, "after {} by {}: {:?}", command.name(), actor, case);
                }
                Err(_) => prop_assert_eq!(&case, &before),
            }
            let extended = matches!(command, Command::AnswerExtension { approve: true, .. });
            for (old, new) in before.tasks.iter().zip(&case.tasks) {
                let (Some(pause), Some(was), Some(due)) = (old.paused.last(), old.due_ms, new.due_ms) else { continue };
                if !old.is_parked() || extended {
                    continue;
                }
                let left_then = was - pause.from_ms;
                if new.is_parked() {
                    // Its deadline stands, and counted with the clock stopped it never comes closer.
                    prop_assert_eq!(due, was);
                    prop_assert_eq!(due + new.paused_ms_between(pause.from_ms, now) - now, left_then);
                } else if new.status.is_active() {
                    // Resumed: as much time left as when it was parked.
                    prop_assert_eq!(due - now, left_then, "task {} ran while parked", new.id);
                }
            }
            if case.status == Status::Merged {
                prop_assert_eq!(case.merged_into.as_deref(), Some(SURVIVOR));
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

#[test]
fn a_returned_task_is_sent_elsewhere_and_the_first_worker_loses_it() {
    let case = case_in(Row::Returned);
    assert_eq!(case.status, Status::Returned);
    assert_eq!(case.tasks[0].status, TaskStatus::Returned);
    let case = run(case, &[(centre(), Command::Redispatch { task: task_id(2), to: to_checker(5) })]);
    assert_eq!(case.status, Status::Dispatched);
    assert_eq!(case.tasks[0].replaced_by, Some(task_id(5)));
    let new = &case.tasks[1];
    assert_eq!((new.kind, new.role, new.status), (TaskKind::Handle, TaskRole::Lead, TaskStatus::Open));
    // The returned task cannot be sent elsewhere twice, nor worked on.
    assert!(matches!(
        decide(&case, centre(), &Command::Redispatch { task: task_id(2), to: to_checker(6) }, NOW),
        Err(Refusal::TaskNotActive { status: TaskStatus::Returned, .. })
    ));
    let case = run(
        case,
        &[
            (checker(), Command::AcceptTask { task: task_id(5) }),
            (checker(), Command::CompleteTask { task: task_id(5), result: "done elsewhere".into() }),
        ],
    );
    assert_eq!(case.status, Status::Handled);
    // The first worker did not handle it in the end, but took it: still not the verifier.
    assert_eq!(decide(&case, worker(), &desk_verify(true), NOW), Err(Refusal::VerifierIsHandler));
}

#[test]
fn an_active_task_taken_from_its_holder_is_withdrawn() {
    let case =
        run(case_in(Row::DispatchedTaken), &[(centre(), Command::Redispatch { task: task_id(2), to: to_checker(5) })]);
    assert_eq!(case.status, Status::Dispatched);
    assert_eq!(case.tasks[0].status, TaskStatus::Cancelled);
    assert_eq!(
        decide(&case, worker(), &Command::Progress { task: task_id(2), note: "still here".into() }, NOW),
        Err(Refusal::TaskNotActive { task: task_id(2), status: TaskStatus::Cancelled, action: "progress" })
    );
}

#[test]
fn a_returned_part_holds_the_case_whichever_finishes_first() {
    let helper = Uuid::from_u128(3);
    let assist = Assignment {
        task: task_id(3),
        target: Target::User(helper),
        assignees: vec![helper],
        due_ms: None,
        level: None,
    };
    let case = run(
        case_in(Row::Registered),
        &[
            (centre(), Command::Dispatch { lead: to_grid(2), assist: vec![assist] }),
            (helper, Command::ReturnTask { task: task_id(3), reason: "not our trade".into() }),
        ],
    );
    assert_eq!(case.status, Status::Dispatched, "the lead is still working");
    let case = run(
        case,
        &[
            (worker(), Command::AcceptTask { task: task_id(2) }),
            (worker(), Command::CompleteTask { task: task_id(2), result: "lead part".into() }),
        ],
    );
    assert_eq!(case.status, Status::Returned, "the part given back is still to be done");
    assert_eq!(
        decide(&case, centre(), &desk_verify(true), NOW).map(|_| ()),
        Err(Refusal::IllegalTransition { status: Status::Returned, action: "verify" })
    );
    let case = run(case, &[(centre(), Command::Redispatch { task: task_id(3), to: to_checker(6) })]);
    assert_eq!(case.status, Status::Dispatched);
    let case = run(
        case,
        &[
            (checker(), Command::AcceptTask { task: task_id(6) }),
            (checker(), Command::CompleteTask { task: task_id(6), result: "part done".into() }),
        ],
    );
    assert_eq!(case.status, Status::Handled);
}

#[test]
fn a_returned_check_does_not_hold_the_case() {
    // The checker gives the verify task back; the desk checks itself, fails it, and the
    // rework and a later return of the lead still lead somewhere.
    let case = run(
        case_in(Row::CheckTaken),
        &[
            (checker(), Command::ReturnTask { task: task_id(3), reason: "too far".into() }),
            (centre(), desk_verify(false)),
            (worker(), Command::ReturnTask { task: task_id(2), reason: "needs a crane".into() }),
            (centre(), Command::Redispatch { task: task_id(2), to: to_checker(7) }),
            (checker(), Command::AcceptTask { task: task_id(7) }),
            (checker(), Command::CompleteTask { task: task_id(7), result: "lifted".into() }),
        ],
    );
    assert_eq!(case.status, Status::Handled);
}

#[test]
fn whoever_asked_for_more_time_does_not_grant_it() {
    let case = case_in(Row::Extending);
    let grant = Command::AnswerExtension { task: task_id(2), approve: true, until_ms: None, reason: String::new() };
    assert_eq!(decide(&case, worker(), &grant, NOW), Err(Refusal::OwnExtension));
    assert!(decide(&case, centre(), &grant, NOW).is_ok());
}

#[test]
fn more_time_moves_the_deadline_only_when_granted() {
    let case = case_in(Row::Extending);
    assert_eq!(case.tasks[0].extension.as_ref().map(|e| e.until_ms), Some(NOW + 3 * DAY));
    let refused = run(
        case.clone(),
        &[(
            centre(),
            Command::AnswerExtension { task: task_id(2), approve: false, until_ms: None, reason: "no".into() },
        )],
    );
    assert_eq!((refused.tasks[0].due_ms, refused.tasks[0].extension.is_none()), (Some(NOW + DAY), true));
    let granted = run(
        case.clone(),
        &[(
            centre(),
            Command::AnswerExtension { task: task_id(2), approve: true, until_ms: None, reason: String::new() },
        )],
    );
    assert_eq!(granted.tasks[0].due_ms, Some(NOW + 3 * DAY));
    let less = Command::AnswerExtension {
        task: task_id(2),
        approve: true,
        until_ms: Some(NOW + 2 * DAY),
        reason: String::new(),
    };
    assert_eq!(run(case.clone(), &[(centre(), less)]).tasks[0].due_ms, Some(NOW + 2 * DAY));
    // Not earlier than the deadline it extends, and only the holder asks.
    let shorter = Command::RequestExtension { task: task_id(2), until_ms: NOW + DAY, reason: "x".into() };
    assert!(matches!(decide(&granted, worker(), &shorter, NOW), Err(Refusal::Invalid(_))));
    let stranger = Command::RequestExtension { task: task_id(2), until_ms: NOW + 9 * DAY, reason: "x".into() };
    assert_eq!(decide(&granted, centre(), &stranger, NOW), Err(Refusal::NotYourTask(task_id(2))));
}

#[test]
fn an_on_site_check_goes_to_someone_who_did_not_handle_the_case() {
    let handled = case_in(Row::Handled);
    let to_handler = Command::RequestVerification { task: to_grid(3) };
    assert_eq!(decide(&handled, centre(), &to_handler, NOW), Err(Refusal::VerifierIsHandler));
    // A grid's workers, the handler among them: the handler is left out.
    let both = Assignment { assignees: vec![worker(), checker()], ..to_grid(3) };
    let case = run(handled, &[(centre(), Command::RequestVerification { task: both })]);
    assert_eq!(case.tasks[1].assignees, vec![checker()]);
    let fail = Command::Verify { task: Some(task_id(3)), passed: false, note: "still broken".into() };
    let case = run(case, &[(checker(), Command::AcceptTask { task: task_id(3) }), (checker(), fail)]);
    assert_eq!(case.status, Status::Dispatched);
    assert_eq!((case.tasks[0].status, case.tasks[0].rework), (TaskStatus::Accepted, 1));
    assert_eq!(case.tasks[1].status, TaskStatus::Completed);
}

#[test]
fn a_re_placement_keeps_the_status_and_the_tasks() {
    for row in [Row::ConfirmingTaken, Row::DispatchedTaken, Row::Returned, Row::Extending, Row::CheckTaken] {
        let before = case_in(row);
        let after = run(before.clone(), &[(SYSTEM, replace_to(Some(NEW_GRID)))]);
        assert_eq!((after.status, &after.tasks, &after.handlers), (before.status, &before.tasks, &before.handlers));
        assert_eq!(after.since_ms, before.since_ms, "{row:?}: no new status, no new stamp");
    }
}

#[test]
fn only_the_system_re_places_a_case() {
    let case = case_in(Row::DispatchedTaken);
    for person in [centre(), worker(), checker()] {
        assert!(matches!(decide(&case, person, &replace_to(Some(NEW_GRID)), NOW), Err(Refusal::Invalid(_))));
        assert!(matches!(decide(&case, person, &replace_to(None), NOW), Err(Refusal::Invalid(_))));
    }
}

#[test]
fn a_stranded_case_is_recorded_once_until_it_is_placed_again() {
    let case = run(case_in(Row::Registered), &[(SYSTEM, replace_to(None))]);
    assert_eq!(case.stranded.as_deref(), Some(OLD_GRID));
    // The next look at the same layer, or another node's, has nothing to add.
    assert_eq!(
        decide(&case, SYSTEM, &replace_to(None), NOW),
        Err(Refusal::AlreadyStranded(OLD_GRID.into())),
        "no second event for the same grid"
    );
    // A later layer places it: it moves, and is stranded no more.
    let events = decide(&case, SYSTEM, &replace_to(Some(NEW_GRID)), NOW).unwrap();
    assert_eq!(
        events,
        [Event::Replaced { from: OLD_GRID.into(), to: NEW_GRID.into(), reason: "grid 001 is not in the layer".into() }]
    );
    let case = run(case, &[(SYSTEM, replace_to(Some(NEW_GRID)))]);
    assert_eq!(case.stranded, None);
    assert_eq!(case.status, Status::Registered);
}

#[test]
fn a_re_placement_names_its_grids_and_why() {
    let case = case_in(Row::Reported);
    let into_itself = Command::Replace { from: OLD_GRID.into(), to: Some(OLD_GRID.into()), reason: "x".into() };
    assert!(matches!(decide(&case, SYSTEM, &into_itself, NOW), Err(Refusal::Invalid(_))));
    let no_reason = Command::Replace { from: OLD_GRID.into(), to: Some(NEW_GRID.into()), reason: " ".into() };
    assert!(matches!(decide(&case, SYSTEM, &no_reason, NOW), Err(Refusal::Invalid(_))));
    let json = serde_json::to_value(&decide(&case, SYSTEM, &replace_to(Some(NEW_GRID)), NOW).unwrap()[0]).unwrap();
    assert_eq!(json["event"], "replaced");
    assert_eq!((json["from"].as_str(), json["to"].as_str()), (Some(OLD_GRID), Some(NEW_GRID)));
    let json = serde_json::to_value(&decide(&case, SYSTEM, &replace_to(None), NOW).unwrap()[0]).unwrap();
    assert_eq!(json["event"], "stranded");
    assert_eq!(json["grid"], OLD_GRID);
    // A stored state from before re-placements existed still reads.
    let old: Case = serde_json::from_str(r#"{"status":"registered","tasks":[],"handlers":[],"since_ms":1}"#).unwrap();
    assert_eq!(old.stranded, None);
    assert!(!serde_json::to_string(&old).unwrap().contains("stranded"));
}

#[test]
fn a_parked_task_stops_its_clock_and_resuming_moves_its_deadline_by_the_time_parked() {
    let parked_at = NOW + HOUR;
    let resumed_at = parked_at + 3 * DAY;
    let mut case = case_in(Row::Parking);
    assert_eq!(case.tasks[0].park.as_ref().map(|p| p.reason.as_str()), Some("road works"));
    let yes = Command::AnswerPark { task: task_id(2), approve: true, reason: String::new() };
    // The holder does not approve their own parking.
    assert_eq!(decide(&case, worker(), &yes, parked_at), Err(Refusal::OwnPark));
    for e in decide(&case, centre(), &yes, parked_at).unwrap() {
        case.apply(&e, parked_at);
    }
    let t = &case.tasks[0];
    assert!(t.is_parked() && t.park.is_none());
    assert_eq!(t.paused, [Pause { from_ms: parked_at, until_ms: None }]);
    assert_eq!(t.paused_ms_between(NOW, parked_at + DAY), DAY);
    // Parked work is neither finished, given back nor extended; progress is still told.
    for (cmd, want) in [
        (Command::CompleteTask { task: task_id(2), result: "x".into() }, Refusal::TaskParked(task_id(2))),
        (Command::ReturnTask { task: task_id(2), reason: "x".into() }, Refusal::TaskParked(task_id(2))),
        (
            Command::RequestExtension { task: task_id(2), until_ms: NOW + 9 * DAY, reason: "x".into() },
            Refusal::TaskParked(task_id(2)),
        ),
        (
            Command::RequestPark { task: task_id(2), reason: "x".into(), until_ms: None },
            Refusal::TaskParked(task_id(2)),
        ),
    ] {
        assert_eq!(decide(&case, worker(), &cmd, parked_at + DAY), Err(want));
    }
    assert!(decide(&case, worker(), &Command::Progress { task: task_id(2), note: "waiting".into() }, NOW).is_ok());
    // The holder resumes it three days later: the deadline moves three days later.
    let events = decide(&case, worker(), &Command::Resume { task: task_id(2), due_ms: None }, resumed_at).unwrap();
    assert_eq!(events, [Event::Resumed { task: task_id(2), paused_ms: 3 * DAY, due_ms: Some(NOW + DAY + 3 * DAY) }]);
    for e in &events {
        case.apply(e, resumed_at);
    }
    let t = &case.tasks[0];
    assert_eq!(t.due_ms, Some(NOW + DAY + 3 * DAY));
    assert_eq!(t.paused, [Pause { from_ms: parked_at, until_ms: Some(resumed_at) }]);
    assert_eq!(t.paused_ms_between(NOW, resumed_at + DAY), 3 * DAY);
    assert_eq!(t.paused_ms_between(parked_at + DAY, parked_at + 2 * DAY), DAY);
    assert_eq!(t.paused_ms_between(resumed_at, resumed_at + DAY), 0);
    assert_eq!(
        decide(&case, centre(), &Command::Resume { task: task_id(2), due_ms: None }, resumed_at),
        Err(Refusal::NotParked(task_id(2)))
    );
    assert_eq!(case.inconsistency(), None);
}

#[test]
fn parking_is_asked_by_the_holder_with_a_reason_and_refused_with_one() {
    let taken = case_in(Row::DispatchedTaken);
    let ask = |reason: &str| Command::RequestPark { task: task_id(2), reason: reason.into(), until_ms: None };
    assert_eq!(decide(&taken, centre(), &ask("x"), NOW), Err(Refusal::NotYourTask(task_id(2))));
    assert!(matches!(decide(&taken, worker(), &ask(" "), NOW), Err(Refusal::Invalid(_))));
    let past = Command::RequestPark { task: task_id(2), reason: "x".into(), until_ms: Some(NOW - 1) };
    assert!(matches!(decide(&taken, worker(), &past, NOW), Err(Refusal::Invalid(_))));
    let parking = case_in(Row::Parking);
    let no = |reason: &str| Command::AnswerPark { task: task_id(2), approve: false, reason: reason.into() };
    assert!(matches!(decide(&parking, centre(), &no(""), NOW), Err(Refusal::Invalid(_))));
    let refused = run(parking, &[(centre(), no("not long-term"))]);
    assert!(refused.tasks[0].park.is_none() && !refused.tasks[0].is_parked());
    // Another of the grid's workers does not resume a parked task they do not hold.
    let parked = case_in(Row::Parked);
    assert_eq!(
        decide(&parked, worker(), &Command::Resume { task: task_id(2), due_ms: None }, NOW).map(|e| e.len()),
        Ok(1),
        "the holder resumes"
    );
}

#[test]
fn work_withdrawn_while_parked_stops_being_parked() {
    let case = run(case_in(Row::Parked), &[(centre(), Command::Redispatch { task: task_id(2), to: to_checker(5) })]);
    assert_eq!(case.tasks[0].status, TaskStatus::Cancelled);
    assert!(!case.tasks[0].is_parked());
    assert_eq!(case.tasks[0].paused[0].until_ms, Some(NOW));
    let merged =
        run(case_in(Row::Parked), &[(centre(), Command::Merge { into: SURVIVOR.into(), reason: "dup".into() })]);
    assert!(merged.tasks.iter().all(|t| !t.status.is_active() && !t.is_parked()));
}

/// Where and when every case of these merge tests was reported: the same spot, at NOW.
const HERE: Reported = Reported { lon: 118.3, lat: 33.95, at_ms: NOW };

fn side<'a>(id: &'a str, category: &'a str, case: &'a Case) -> MergeSide<'a> {
    MergeSide { id, category, reported: HERE, case }
}

#[test]
fn a_grade_is_set_corrected_and_cleared_with_a_reason_and_only_when_it_changes() {
    let case = case_in(Row::Registered);
    let grade = |severity, reason: &str| Command::Grade { severity, reason: reason.into() };
    assert_eq!(decide(&case, centre(), &grade(Some(Severity::I), " "), NOW).unwrap_err().kind(), "invalid-command");
    assert_eq!(decide(&case, centre(), &grade(None, "none"), NOW).unwrap_err().kind(), "invalid-command");
    let case = run(case, &[(centre(), grade(Some(Severity::III), "厂房冒烟"))]);
    assert_eq!(case.severity, Some(Severity::III));
    let events = decide(&case, centre(), &grade(Some(Severity::I), "人员被困"), NOW).unwrap();
    assert_eq!(events, [Event::Graded { from: Some(Severity::III), to: Some(Severity::I), reason: "人员被困".into() }]);
    let case = run(case, &[(centre(), grade(None, "误报"))]);
    assert_eq!(case.severity, None);
}

#[test]
fn only_a_report_near_in_place_and_time_is_merged_as_a_duplicate() {
    let (dup, survivor) = (case_in(Row::Registered), case_in(Row::Registered));
    let at = |lat: f64, hours: i64| Reported { lat, at_ms: NOW + hours * 3_600_000, ..HERE };
    let merge = |a: Reported, b: Reported| {
        let one = MergeSide { id: "a", category: "c1", reported: a, case: &dup };
        decide_merge(one, MergeSide { id: "b", category: "c1", reported: b, case: &survivor }, centre(), "", NOW)
    };
    assert!(merge(at(33.950, 0), at(33.951, -72)).is_ok(), "111 m and 72 h apart");
    let far = merge(at(33.950, 0), at(33.953, 0)).unwrap_err();
    assert_eq!(far.kind(), "not-a-duplicate");
    assert!(far.to_string().contains("334 m apart"), "{far}");
    assert_eq!(merge(at(33.950, 73), at(33.950, 0)).unwrap_err().kind(), "not-a-duplicate");
}

#[test]
fn a_duplicate_merges_into_an_open_case_of_the_same_category() {
    let dup = case_in(Row::DispatchedTaken);
    let survivor = case_in(Row::Registered);
    let (a, b) = ("case-a", "case-b");
    assert_eq!(
        decide_merge(side(a, "c1", &dup), side(a, "c1", &dup), centre(), "", NOW),
        Err(Refusal::MergeIntoItself)
    );
    assert_eq!(
        decide_merge(side(a, "c1", &dup), side(b, "c2", &survivor), centre(), "", NOW),
        Err(Refusal::DifferentCategory { duplicate: "c1".into(), survivor: "c2".into() })
    );
    let closed = case_in(Row::Closed);
    assert_eq!(
        decide_merge(side(a, "c1", &dup), side(b, "c1", &closed), centre(), "", NOW),
        Err(Refusal::SurvivorNotOpen(Status::Closed))
    );
    assert!(matches!(
        decide_merge(side(b, "c1", &closed), side(a, "c1", &dup), centre(), "", NOW),
        Err(Refusal::IllegalTransition { status: Status::Closed, action: "merge" })
    ));
    let (dup_events, survivor_events) =
        decide_merge(side(a, "c1", &dup), side(b, "c1", &survivor), centre(), "same manhole", NOW).unwrap();
    assert_eq!(dup_events, [Event::MergedInto { into: b.into(), reason: "same manhole".into() }]);
    assert_eq!(survivor_events, [Event::Absorbed { duplicate: a.into(), followers: vec![a.into()] }]);
    let dup = run_events(dup, &dup_events);
    assert_eq!((dup.status, dup.merged_into.as_deref()), (Status::Merged, Some(b)));
    assert!(dup.tasks.iter().all(|t| t.status == TaskStatus::Cancelled), "its open tasks are withdrawn");
    let survivor = run_events(survivor, &survivor_events);
    assert_eq!((survivor.status, survivor.followers.clone()), (Status::Registered, vec![a.to_owned()]));
    // Merged again, the survivor's followers follow the next survivor with it.
    let third = case_in(Row::Reported);
    let (_, events) = decide_merge(side(b, "c1", &survivor), side("case-c", "c1", &third), centre(), "", NOW).unwrap();
    assert_eq!(run_events(third, &events).followers, [b, a]);
}

fn run_events(mut case: Case, events: &[Event]) -> Case {
    for e in events {
        case.apply(e, NOW);
    }
    assert_eq!(case.inconsistency(), None);
    case
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random merges among a handful of cases: every merged case's reporters (its own and
    /// those who followed it) follow the case it ends in, which is open.
    #[test]
    fn a_merged_cases_reporters_all_follow_the_survivor(merges in prop::collection::vec((0usize..6, 0usize..6, any::<bool>()), 1..20)) {
        let ids: Vec<String> = (0..6).map(|i| format!("case-{i}")).collect();
        let mut cases: Vec<Case> = (0..6).map(|i| case_in(if i % 2 == 0 { Row::Reported } else { Row::DispatchedTaken })).collect();
        for (d, s, same) in merges {
            let category = if same { "c1" } else { "c2" };
            let outcome = decide_merge(side(&ids[d], "c1", &cases[d]), side(&ids[s], category, &cases[s]), centre(), "dup", NOW);
            let Ok((dup_events, survivor_events)) = outcome else { continue };
            for e in &dup_events { cases[d].apply(e, NOW); }
            for e in &survivor_events { cases[s].apply(e, NOW); }
            prop_assert_eq!(cases[d].inconsistency(), None);
            prop_assert_eq!(cases[s].inconsistency(), None);
        }
        for (i, case) in cases.iter().enumerate() {
            let Some(mut end) = case.merged_into.clone() else { continue };
            let mut hops = 0;
            let last = loop {
                let j = ids.iter().position(|id| *id == end).unwrap();
                match &cases[j].merged_into { Some(next) => { end = next.clone(); hops += 1; prop_assert!(hops < 6) } None => break j }
            };
            prop_assert!(!cases[last].status.is_final());
            prop_assert!(cases[last].followers.contains(&ids[i]));
            for f in &case.followers {
                prop_assert!(cases[last].followers.contains(f));
            }
        }
    }
}

#[test]
fn a_closed_case_reopens_to_its_last_lead_handler() {
    let closed = case_in(Row::Closed);
    assert!(matches!(
        decide(&closed, centre(), &Command::Reopen { reason: " ".into() }, NOW),
        Err(Refusal::Invalid(_))
    ));
    let case = run(closed, &[(centre(), Command::Reopen { reason: "the cover rattles again".into() })]);
    assert_eq!(case.status, Status::Dispatched);
    let lead = &case.tasks[0];
    assert_eq!((lead.status, lead.holder, lead.rework), (TaskStatus::Accepted, Some(worker()), 1));
    // The same handler works again; the case closes again after another check.
    let case = run(
        case,
        &[
            (worker(), Command::CompleteTask { task: task_id(2), result: "tightened".into() }),
            (centre(), desk_verify(true)),
            (centre(), Command::Close),
        ],
    );
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.tasks.len(), 1, "history kept on the same task");
}

#[test]
fn escalation_climbs_one_level_and_stops_at_the_city() {
    let case = case_in(Row::Registered);
    let up = |from: &str, to: Option<&str>| Command::Escalate {
        from: from.into(),
        to: to.map(str::to_owned),
        reason: "needs a crane".into(),
    };
    let county = run(case.clone(), &[(centre(), up(TOWNSHIP, Some(COUNTY)))]);
    assert_eq!((county.status, county.owner.as_deref()), (Status::Registered, Some(COUNTY)));
    let city = run(county, &[(centre(), up(COUNTY, Some("3213")))]);
    assert_eq!(city.owner.as_deref(), Some("3213"));
    assert_eq!(decide(&city, centre(), &up("3213", None), NOW), Err(Refusal::NoLevelAbove("3213".into())));
    let no_reason = Command::Escalate { from: TOWNSHIP.into(), to: Some(COUNTY.into()), reason: String::new() };
    assert!(matches!(decide(&case, centre(), &no_reason, NOW), Err(Refusal::Invalid(_))));
}

#[test]
fn states_stored_before_the_branches_still_read() {
    let old = r#"{"status":"dispatched","tasks":[{"id":"00000000-0000-0000-0000-000000001002","kind":"handle",
        "role":"lead","target":{"grid":"321302001001001"},"assignees":["00000000-0000-0000-0000-000000000002"],
        "holder":null,"status":"open","rework":0,"due_ms":null}],"handlers":[],"since_ms":1}"#;
    let case: Case = serde_json::from_str(old).unwrap();
    assert!(case.tasks[0].paused.is_empty() && case.tasks[0].park.is_none());
    assert!(case.merged_into.is_none() && case.followers.is_empty() && case.owner.is_none());
    let json = serde_json::to_string(&case).unwrap();
    for field in ["paused", "park", "merged_into", "followers", "owner"] {
        assert!(!json.contains(field), "{field} written though empty");
    }
}

#[test]
fn a_rating_is_given_once_per_closing_and_unsatisfied_reopens_the_case() {
    let rate = |rating| Command::Rate { rating };
    let satisfied = run(case_in(Row::Closed), &[(SYSTEM, rate(Rating::Basic))]);
    assert_eq!((satisfied.status, satisfied.rating), (Status::Closed, Some(Rating::Basic)));
    assert_eq!(decide(&satisfied, SYSTEM, &rate(Rating::Unsatisfied), NOW), Err(Refusal::AlreadyRated));
    let events = decide(&case_in(Row::Closed), SYSTEM, &rate(Rating::Unsatisfied), NOW).unwrap();
    assert!(matches!(
        &events[..],
        [Event::Rated { rating: Rating::Unsatisfied }, Event::Reopened { task, .. }] if *task == task_id(2)
    ));
    let reopened = run_events(case_in(Row::Closed), &events);
    assert_eq!((reopened.status, reopened.rating), (Status::Dispatched, None));
    assert_eq!((reopened.tasks[0].holder, reopened.tasks[0].rework), (Some(worker()), 1));
    // Closed again, it may be rated again.
    let closed_again = run(
        reopened,
        &[
            (worker(), Command::CompleteTask { task: task_id(2), result: "again".into() }),
            (centre(), desk_verify(true)),
            (centre(), Command::Close),
        ],
    );
    assert!(decide(&closed_again, SYSTEM, &rate(Rating::Satisfied), NOW).is_ok());
}

/// The limit the timer's commands of these tests name: the newest active task's, or the
/// centre's dispatch step when no task is active.
fn alarm_key(case: &Case) -> String {
    case.tasks.iter().rev().find(|t| t.status.is_active()).map_or_else(|| "dispatch".into(), |t| t.id.to_string())
}

fn overdue(case: &Case, level: u8) -> Command {
    let unit = ["321300", "321302", "321302001"][usize::from(level) - 1].to_owned();
    Command::Overdue { deadline: alarm_key(case), step: "handle".into(), due_ms: NOW, level, unit }
}

// The timer's alarms (预警, 超期) and a supervisor's flag (督办): on any open case, changing
// nothing of its status or tasks.
table! {
    reported_warn: Reported, Warn => "ok" -> Reported;
    reported_overdue: Reported, Overdue => "ok" -> Reported;
    reported_flag: Reported, Flag => "ok" -> Reported;
    confirming_open_warn: ConfirmingOpen, Warn => "ok" -> Confirming;
    confirming_open_overdue: ConfirmingOpen, Overdue => "ok" -> Confirming;
    confirming_open_flag: ConfirmingOpen, Flag => "ok" -> Confirming;
    confirming_taken_warn: ConfirmingTaken, Warn => "ok" -> Confirming;
    confirming_taken_overdue: ConfirmingTaken, Overdue => "ok" -> Confirming;
    confirming_taken_flag: ConfirmingTaken, Flag => "ok" -> Confirming;
    registered_warn: Registered, Warn => "ok" -> Registered;
    registered_overdue: Registered, Overdue => "ok" -> Registered;
    registered_flag: Registered, Flag => "ok" -> Registered;
    dispatched_open_warn: DispatchedOpen, Warn => "ok" -> Dispatched;
    dispatched_open_overdue: DispatchedOpen, Overdue => "ok" -> Dispatched;
    dispatched_open_flag: DispatchedOpen, Flag => "ok" -> Dispatched;
    dispatched_taken_warn: DispatchedTaken, Warn => "ok" -> Dispatched;
    dispatched_taken_overdue: DispatchedTaken, Overdue => "ok" -> Dispatched;
    dispatched_taken_flag: DispatchedTaken, Flag => "ok" -> Dispatched;
    handled_warn: Handled, Warn => "ok" -> Handled;
    handled_overdue: Handled, Overdue => "ok" -> Handled;
    handled_flag: Handled, Flag => "ok" -> Handled;
    verified_warn: Verified, Warn => "ok" -> Verified;
    verified_overdue: Verified, Overdue => "ok" -> Verified;
    verified_flag: Verified, Flag => "ok" -> Verified;
    closed_warn: Closed, Warn => "illegal-transition";
    closed_overdue: Closed, Overdue => "illegal-transition";
    closed_flag: Closed, Flag => "illegal-transition";
    rejected_warn: Rejected, Warn => "illegal-transition";
    rejected_overdue: Rejected, Overdue => "illegal-transition";
    rejected_flag: Rejected, Flag => "illegal-transition";
    merged_warn: Merged, Warn => "illegal-transition";
    merged_overdue: Merged, Overdue => "illegal-transition";
    merged_flag: Merged, Flag => "illegal-transition";
    returned_warn: Returned, Warn => "ok" -> Returned;
    returned_overdue: Returned, Overdue => "ok" -> Returned;
    returned_flag: Returned, Flag => "ok" -> Returned;
    extending_warn: Extending, Warn => "ok" -> Dispatched;
    extending_overdue: Extending, Overdue => "ok" -> Dispatched;
    extending_flag: Extending, Flag => "ok" -> Dispatched;
    checking_warn: Checking, Warn => "ok" -> Handled;
    checking_overdue: Checking, Overdue => "ok" -> Handled;
    checking_flag: Checking, Flag => "ok" -> Handled;
    check_taken_warn: CheckTaken, Warn => "ok" -> Handled;
    check_taken_overdue: CheckTaken, Overdue => "ok" -> Handled;
    check_taken_flag: CheckTaken, Flag => "ok" -> Handled;
    parking_warn: Parking, Warn => "ok" -> Dispatched;
    parking_overdue: Parking, Overdue => "ok" -> Dispatched;
    parking_flag: Parking, Flag => "ok" -> Dispatched;
    parked_warn: Parked, Warn => "ok" -> Dispatched;
    parked_overdue: Parked, Overdue => "ok" -> Dispatched;
    parked_flag: Parked, Flag => "ok" -> Dispatched;
}

// Grading a case (定级) changes the limits of what follows, not its status; any open case.
table! {
    reported_grade: Reported, Grade => "ok" -> Reported;
    confirming_open_grade: ConfirmingOpen, Grade => "ok" -> Confirming;
    confirming_taken_grade: ConfirmingTaken, Grade => "ok" -> Confirming;
    registered_grade: Registered, Grade => "ok" -> Registered;
    dispatched_open_grade: DispatchedOpen, Grade => "ok" -> Dispatched;
    dispatched_taken_grade: DispatchedTaken, Grade => "ok" -> Dispatched;
    handled_grade: Handled, Grade => "ok" -> Handled;
    verified_grade: Verified, Grade => "ok" -> Verified;
    closed_grade: Closed, Grade => "illegal-transition";
    rejected_grade: Rejected, Grade => "illegal-transition";
    merged_grade: Merged, Grade => "illegal-transition";
    returned_grade: Returned, Grade => "ok" -> Returned;
    extending_grade: Extending, Grade => "ok" -> Dispatched;
    checking_grade: Checking, Grade => "ok" -> Handled;
    check_taken_grade: CheckTaken, Grade => "ok" -> Handled;
    parking_grade: Parking, Grade => "ok" -> Dispatched;
    parked_grade: Parked, Grade => "ok" -> Dispatched;
    rated_grade: Rated, Grade => "illegal-transition";
}

// Telling units of a case (抄告) changes nothing of it; any case but a merged one, which
// lives on in its survivor.
table! {
    reported_inform: Reported, Inform => "ok" -> Reported;
    confirming_open_inform: ConfirmingOpen, Inform => "ok" -> Confirming;
    confirming_taken_inform: ConfirmingTaken, Inform => "ok" -> Confirming;
    registered_inform: Registered, Inform => "ok" -> Registered;
    dispatched_open_inform: DispatchedOpen, Inform => "ok" -> Dispatched;
    dispatched_taken_inform: DispatchedTaken, Inform => "ok" -> Dispatched;
    handled_inform: Handled, Inform => "ok" -> Handled;
    verified_inform: Verified, Inform => "ok" -> Verified;
    closed_inform: Closed, Inform => "ok" -> Closed;
    rejected_inform: Rejected, Inform => "ok" -> Rejected;
    merged_inform: Merged, Inform => "illegal-transition";
    returned_inform: Returned, Inform => "ok" -> Returned;
    extending_inform: Extending, Inform => "ok" -> Dispatched;
    checking_inform: Checking, Inform => "ok" -> Handled;
    check_taken_inform: CheckTaken, Inform => "ok" -> Handled;
    parking_inform: Parking, Inform => "ok" -> Dispatched;
    parked_inform: Parked, Inform => "ok" -> Dispatched;
    rated_inform: Rated, Inform => "ok" -> Closed;
}

#[test]
fn each_alarm_fires_once_only_as_the_system_and_supervision_only_climbs() {
    let case = case_in(Row::DispatchedTaken);
    let warn = Command::Warn { deadline: alarm_key(&case), step: "handle".into(), due_ms: NOW };
    let refusal = decide(&case, centre(), &warn, NOW).unwrap_err();
    assert_eq!(refusal.kind(), "invalid-command", "only the system raises alarms");
    let case = run(case, &[(SYSTEM, warn.clone())]);
    assert_eq!(decide(&case, SYSTEM, &warn, NOW).unwrap_err().kind(), "already-raised");
    // A limit that moved (an extension) is a new limit: it may warn again.
    let moved = Command::Warn { deadline: alarm_key(&case), step: "handle".into(), due_ms: NOW + DAY };
    assert!(decide(&case, SYSTEM, &moved, NOW).is_ok());
    let red = overdue(&case, 3);
    let case = run(case, &[(SYSTEM, red)]);
    let tasks = case.tasks.clone();
    assert_eq!(decide(&case, SYSTEM, &overdue(&case, 3), NOW).unwrap_err().kind(), "already-raised");
    let events = decide(&case, SYSTEM, &overdue(&case, 2), NOW).unwrap();
    assert!(matches!(events[..], [Event::SupervisionRaised { from: 3, level: 2, .. }]), "{events:?}");
    let climb = overdue(&case, 2);
    let case = run(case, &[(SYSTEM, climb)]);
    assert_eq!(decide(&case, SYSTEM, &overdue(&case, 3), NOW).unwrap_err().kind(), "already-raised", "never down");
    assert_eq!(case.tasks, tasks, "the handler keeps the task, its deadline stands");
    let bad = Command::Warn { deadline: "lunch".into(), step: "handle".into(), due_ms: NOW };
    assert_eq!(decide(&case, SYSTEM, &bad, NOW).unwrap_err().kind(), "invalid-command");
    let empty = Command::Flag { note: "  ".into() };
    assert_eq!(decide(&case, centre(), &empty, NOW).unwrap_err().kind(), "invalid-command");
}

#[test]
fn a_deadline_reckoned_by_the_calendar_replaces_the_wall_clock_shift() {
    // The door counts the working time left in the task's own unit and says when it ends.
    let monday = NOW + 3 * DAY;
    let case = case_in(Row::Parked);
    let resume = Command::Resume { task: task_id(2), due_ms: Some(monday + HOUR) };
    let events = decide(&case, centre(), &resume, monday).unwrap();
    assert_eq!(events, [Event::Resumed { task: task_id(2), paused_ms: 3 * DAY, due_ms: Some(monday + HOUR) }]);
    let case = run_events_at(case, &events, monday);
    assert_eq!(case.tasks[0].due_ms, Some(monday + HOUR));
    assert_eq!(case.tasks[0].paused, [Pause { from_ms: NOW, until_ms: Some(monday) }]);
}

fn run_events_at(mut case: Case, events: &[Event], at: i64) -> Case {
    for e in events {
        case.apply(e, at);
    }
    assert_eq!(case.inconsistency(), None);
    case
}

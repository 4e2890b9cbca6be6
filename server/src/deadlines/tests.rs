//! The running limits of cases, without storage: which limits run in which state, when
//! they turn yellow and red in each unit, that parked time does not count, and what the
//! timer raises when — including after a long stop.

use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::categories::CategoryTree;
use crate::incidents::workflow::{Assignment, Event, Pause, SYSTEM, decide};

fn ms(at: OffsetDateTime) -> i64 {
    at.unix_timestamp() * 1000
}

const HOUR: i64 = 3_600_000;
const CENTRE: Uuid = Uuid::from_u128(1);
const WORKER: Uuid = Uuid::from_u128(2);
const TASK: Uuid = Uuid::from_u128(0x100);

fn place() -> [String; 5] {
    ["321300", "321302", "321302003", "321302003002", "321302003002009"].map(str::to_owned)
}

fn run(mut case: Case, actor: Uuid, command: Command, at: i64) -> Case {
    let events = decide(&case, actor, &command, at).unwrap_or_else(|e| panic!("{} refused: {e}", command.name()));
    for e in &events {
        case.apply(e, at);
    }
    case
}

/// A case of `category` reported at `at`, accepted and dispatched to a grid at once, the
/// task due when the category's handle limit says, taken by the worker.
fn dispatched(tree: &CategoryTree, cal: &Calendar, category: &str, at: i64) -> Case {
    let timing = Timing { limits: tree.category(category).map(|c| &c.limits), calendar: cal };
    let case = run(Case::reported(at), CENTRE, Command::Accept { confirm: None }, at);
    let lead = Assignment {
        task: TASK,
        target: Target::Grid(place()[4].clone()),
        assignees: vec![WORKER],
        due_ms: timing.due(at, |l| l.handle),
        level: None,
    };
    let case = run(case, CENTRE, Command::Dispatch { lead, assist: vec![] }, at);
    run(case, WORKER, Command::AcceptTask { task: TASK }, at)
}

fn limits_of(case: &Case, tree: &CategoryTree, cal: &Calendar, category: &str, start: i64) -> Vec<Deadline> {
    of(case, &|_| Some(start), 5, Timing { limits: tree.category(category).map(|c| &c.limits), calendar: cal })
}

fn names(commands: &[Command]) -> Vec<&'static str> {
    commands.iter().map(Command::name).collect()
}

#[test]
fn each_state_runs_the_limit_of_its_step() {
    let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
    let at = ms(datetime!(2026-03-02 09:00 +8));
    // Reported: 1 working hour to accept (C0101), yellow at 80 %, the township answers for it.
    let reported = Case::reported(at);
    let limits = limits_of(&reported, &tree, &cal, "C0101", at);
    assert_eq!(limits.len(), 1);
    let accept = &limits[0];
    assert_eq!((accept.key.as_str(), accept.step, accept.unit), ("accept", Step::Accept, TimeUnit::WorkingHours));
    assert_eq!(accept.due_ms, ms(datetime!(2026-03-02 10:00 +8)));
    assert_eq!(accept.yellow_ms, Some(ms(datetime!(2026-03-02 09:48 +8))));
    assert_eq!(accept.responsible, 3);
    assert_eq!(accept.next_ms, accept.yellow_ms);
    // Registered: the dispatch limit; dispatched: the task's, and no desk step.
    let registered = run(reported, CENTRE, Command::Accept { confirm: None }, at);
    let keys = |case: &Case| limits_of(case, &tree, &cal, "C0101", at).into_iter().map(|d| d.key).collect::<Vec<_>>();
    assert_eq!(keys(&registered), ["dispatch"]);
    let case = dispatched(&tree, &cal, "C0101", at);
    assert_eq!(keys(&case), [TASK.to_string()]);
    // Handled with no verify task out: the centre's verify limit; closed: nothing.
    let handled = run(case, WORKER, Command::CompleteTask { task: TASK, result: "done".into() }, at);
    assert_eq!(keys(&handled), ["verify"]);
    let verified = run(handled, CENTRE, Command::Verify { task: None, passed: true, note: String::new() }, at);
    let closed = run(verified, CENTRE, Command::Close, at);
    assert!(keys(&closed).is_empty());
    // A category the tree no longer has leaves the desk steps without a limit.
    assert!(limits_of(&Case::reported(at), &tree, &cal, "NO-SUCH", at).is_empty());
}

#[test]
fn urgent_hours_turn_yellow_and_red_across_midnight_and_climb_a_level_per_further_limit() {
    let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
    let at = ms(datetime!(2026-03-02 23:00 +8));
    // A missing manhole cover: 2 urgent hours, night or day.
    let case = dispatched(&tree, &cal, "C0101", at);
    let task = limits_of(&case, &tree, &cal, "C0101", at).remove(0);
    assert_eq!((task.step, task.unit, task.responsible), (Step::Handle, TimeUnit::UrgentHours, 5));
    assert_eq!(task.due_ms, ms(datetime!(2026-03-03 01:00 +8)));
    assert_eq!(task.yellow_ms, Some(ms(datetime!(2026-03-03 00:36 +8))));
    assert_eq!(task.light(ms(datetime!(2026-03-03 00:35 +8))), Light::Green);
    assert_eq!(task.light(ms(datetime!(2026-03-03 00:36 +8))), Light::Yellow);
    assert_eq!(task.light(task.due_ms), Light::Yellow);
    assert_eq!(task.light(task.due_ms + 1), Light::Red);
    // The first climb (to the county) comes one full limit after the due instant.
    assert_eq!(task.climb_ms, Some(ms(datetime!(2026-03-03 03:00 +8))));

    let fire = |case: &Case, now: i64| {
        let d = limits_of(case, &tree, &cal, "C0101", at).remove(0);
        d.due_commands(&cal, &place(), now)
    };
    assert!(fire(&case, ms(datetime!(2026-03-03 00:30 +8))).is_empty());
    let warn = fire(&case, ms(datetime!(2026-03-03 00:40 +8)));
    assert_eq!(names(&warn), ["warn"]);
    let case = run(case, SYSTEM, warn[0].clone(), ms(datetime!(2026-03-03 00:40 +8)));
    let warned = limits_of(&case, &tree, &cal, "C0101", at).remove(0);
    assert_eq!(warned.next_ms, Some(warned.due_ms + 1), "next: red");
    // Red: into the township's queue (grid → township), the handler keeps the task.
    let red = fire(&case, ms(datetime!(2026-03-03 01:01 +8)));
    let Command::Overdue { level: 3, unit, .. } = &red[0] else { panic!("{red:?}") };
    assert_eq!(unit, "321302003");
    let case = run(case, SYSTEM, red[0].clone(), ms(datetime!(2026-03-03 01:01 +8)));
    assert_eq!(case.tasks[0].holder, Some(WORKER));
    let overdue = limits_of(&case, &tree, &cal, "C0101", at).remove(0);
    assert_eq!((overdue.level, overdue.due_ms), (Some(3), task.due_ms), "the deadline is not reset");
    assert_eq!(overdue.next_ms, Some(ms(datetime!(2026-03-03 03:00 +8))));
    assert!(fire(&case, ms(datetime!(2026-03-03 02:59 +8))).is_empty(), "not before another full limit");
    // Another full limit: the county; another: the city; then nothing more.
    let climb = fire(&case, ms(datetime!(2026-03-03 03:00 +8)));
    let Command::Overdue { level: 2, unit, .. } = &climb[0] else { panic!("{climb:?}") };
    assert_eq!(unit, "321302");
    let case = run(case, SYSTEM, climb[0].clone(), ms(datetime!(2026-03-03 03:00 +8)));
    let history = decide(&case, SYSTEM, &climb[0], ms(datetime!(2026-03-03 03:00 +8)));
    assert_eq!(history.unwrap_err().kind(), "already-raised", "each climb once");
    let city = fire(&case, ms(datetime!(2026-03-03 05:00 +8)));
    let case = run(case, SYSTEM, city[0].clone(), ms(datetime!(2026-03-03 05:00 +8)));
    let top = limits_of(&case, &tree, &cal, "C0101", at).remove(0);
    assert_eq!((top.level, top.next_ms), (Some(1), None));
    assert!(fire(&case, ms(datetime!(2026-03-10 00:00 +8))).is_empty());
}

#[test]
fn after_a_long_stop_each_alarm_fires_once_into_the_queue_due_now() {
    let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
    let at = ms(datetime!(2026-03-02 09:00 +8));
    let case = dispatched(&tree, &cal, "C0101", at);
    // Three days later nothing has fired: the warning, then straight into the city's queue.
    let now = at + 72 * HOUR;
    let commands = fire_all(&case, &tree, &cal, now);
    assert_eq!(names(&commands), ["warn", "overdue"]);
    let mut case = case;
    let mut events = Vec::new();
    for c in &commands {
        let got = decide(&case, SYSTEM, c, now).unwrap();
        for e in &got {
            case.apply(e, now);
        }
        events.extend(got);
    }
    assert!(matches!(events[1], Event::Overdue { level: 1, .. }), "{events:?}");
    // Looking again finds nothing more to raise.
    assert!(fire_all(&case, &tree, &cal, now + HOUR).is_empty());
}

fn fire_all(case: &Case, tree: &CategoryTree, cal: &Calendar, now: i64) -> Vec<Command> {
    let at = case.since_ms;
    limits_of(case, tree, cal, "C0101", at).iter().flat_map(|d| d.due_commands(cal, &place(), now)).collect()
}

#[test]
fn working_days_skip_the_spring_festival_and_yellow_falls_at_80_percent_of_them() {
    let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
    // A rattling cover (C0104): 2 working days, started Friday 2026-02-13 (docs/domain.md's example:
    // due at the close of Tuesday 02-24; Saturday 02-14 is a make-up working day).
    let at = ms(datetime!(2026-02-13 10:00 +8));
    let case = dispatched(&tree, &cal, "C0104", at);
    let d = limits_of(&case, &tree, &cal, "C0104", at).remove(0);
    assert_eq!(d.unit, TimeUnit::WorkingDays);
    assert_eq!(d.due_ms, ms(datetime!(2026-02-24 17:30 +8)));
    // 1.6 working days: all of Saturday 02-14, then 0.6 × 7 h = 4 h 12 min of 02-24's duty.
    let yellow = d.yellow_ms.unwrap();
    assert_eq!(yellow, ms(datetime!(2026-02-24 14:42 +8)));
    let limit = tree.category("C0104").unwrap().limits.handle;
    assert!((cal.used_fraction(at, limit, yellow) - 0.8).abs() < 1e-9);
    assert!(cal.used_fraction(at, limit, yellow - 60_000) < 0.8);
    assert_eq!(d.light(ms(datetime!(2026-02-20 12:00 +8))), Light::Green, "the holiday does not count");
}

#[test]
fn a_parked_task_never_turns_yellow_or_red_while_parked() {
    let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
    let at = ms(datetime!(2026-03-02 09:00 +8));
    let mut case = dispatched(&tree, &cal, "C0101", at);
    // Parked half an hour in, for three days.
    case.tasks[0].paused.push(Pause { from_ms: at + HOUR / 2, until_ms: None });
    let parked = limits_of(&case, &tree, &cal, "C0101", at).remove(0);
    assert!(parked.parked);
    assert_eq!((parked.yellow_ms, parked.climb_ms, parked.next_ms), (None, None, None));
    let later = at + 72 * HOUR;
    assert_eq!(parked.light(later), Light::Green);
    assert!(parked.due_commands(&cal, &place(), later).is_empty());
    // Resumed three days later, its deadline moved by the time parked (as the workflow
    // moves it): 1.5 hours left, yellow at 80 % of the time it runs.
    let resumed_at = later;
    case.tasks[0].paused[0].until_ms = Some(resumed_at);
    let due = case.tasks[0].due_ms.unwrap() + (resumed_at - (at + HOUR / 2));
    case.tasks[0].due_ms = Some(due);
    let running = limits_of(&case, &tree, &cal, "C0101", at).remove(0);
    assert!(!running.parked);
    assert_eq!(running.due_ms, due);
    assert_eq!(running.yellow_ms, Some(resumed_at + HOUR + HOUR / 10), "1.6 of 2 working hours, 0.5 before parking");
    assert_eq!(running.light(resumed_at + HOUR), Light::Green);
    assert_eq!(names(&running.due_commands(&cal, &place(), due + 1)), ["warn", "overdue"]);
}

#[test]
fn an_escalated_case_answers_for_its_steps_at_the_level_that_holds_it() {
    let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
    let at = ms(datetime!(2026-03-02 09:00 +8));
    let waiting = Case::reported(at);
    assert_eq!(limits_of(&waiting, &tree, &cal, "E0101", at)[0].responsible, 3);
    let escalate = Command::Escalate { from: place()[2].clone(), to: Some(place()[1].clone()), reason: "II".into() };
    let escalated = run(waiting, SYSTEM, escalate, at);
    let accept = limits_of(&escalated, &tree, &cal, "E0101", at).remove(0);
    assert_eq!((accept.step, accept.responsible), (Step::Accept, 2));
    // Overdue, it goes to the city's supervision queue, not the county's own.
    let fired = accept.due_commands(&cal, &place(), accept.due_ms + 1);
    assert!(
        fired.iter().any(|c| matches!(c, Command::Overdue { level: 1, unit, .. } if unit == "321300")),
        "{fired:?}"
    );
}

#[test]
fn the_first_supervisor_is_the_level_above_the_one_responsible() {
    assert_eq!([5, 4, 3, 2, 1].map(first_supervisor), [3, 3, 2, 1, 1]);
    assert_eq!(unit_at(&place(), 3), Some("321302003"));
    assert_eq!(unit_at(&place(), 0), None);
    assert_eq!(unit_at(&place(), 6), None);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// Random requests to park a task, answers and resumptions, minutes to days apart: a task
    /// parked before it fell due never turns yellow or red while parked, however long it
    /// stays parked, and the timer has nothing to raise for it; once resumed its limit runs
    /// again.
    #[test]
    fn a_parked_task_never_turns_red(steps in proptest::collection::vec((0u8..4, 1i64..300), 1..40)) {
        let (tree, cal) = (CategoryTree::default_tree().unwrap(), Calendar::national());
        let at = ms(datetime!(2026-03-02 09:00 +8));
        let mut case = dispatched(&tree, &cal, "C0104", at);
        let mut now = at;
        for (pick, tens_of_minutes) in steps {
            now += tens_of_minutes * 600_000;
            let (actor, command) = match pick {
                0 => (WORKER, Command::RequestPark { task: TASK, reason: "待管线迁改".into(), until_ms: None }),
                1 => (CENTRE, Command::AnswerPark { task: TASK, approve: true, reason: String::new() }),
                2 => (CENTRE, Command::AnswerPark { task: TASK, approve: false, reason: "不属长期".into() }),
                _ => (CENTRE, Command::Resume { task: TASK, due_ms: None }),
            };
            if let Ok(events) = decide(&case, actor, &command, now) {
                for e in &events {
                    case.apply(e, now);
                }
            }
            let task = &case.tasks[0];
            let limit = limits_of(&case, &tree, &cal, "C0104", at).into_iter().find(|d| d.task == Some(TASK));
            let Some(limit) = limit else { continue };
            proptest::prop_assert_eq!(limit.parked, task.is_parked());
            let parked_in_time = task.paused.last().zip(task.due_ms).is_some_and(|(p, due)| p.from_ms <= due);
            if task.is_parked() && parked_in_time {
                for later in [now, now + 30 * 24 * HOUR] {
                    proptest::prop_assert_eq!(limit.light(later), Light::Green, "parked at {:?}", task.paused);
                    proptest::prop_assert!(limit.due_commands(&cal, &place(), later).is_empty());
                }
            } else if !task.is_parked() {
                proptest::prop_assert_eq!(limit.light(limit.due_ms + 1), Light::Red, "a running limit still runs");
            }
        }
    }
}

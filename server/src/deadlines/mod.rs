//! Deadlines as rows (docs/architecture.md: "Deadlines are rows"), yellow and red, and the
//! supervision (督办) an overdue case climbs through.
//!
//! [`of`] is a pure function over a case's workflow state and its calendar: every limit
//! running on it — the centre's steps (受理 `accept` while reported, 派遣 `dispatch` while
//! registered or returned, 核查 `verify` while handled with no verify task out) and each
//! active task with a deadline (核实 `confirm`, 处置 `handle`, 核查 `verify`) — with when it
//! turns yellow (80 % of the limit, measured in the limit's own unit), when it turns red
//! (past its due instant) and when it climbs to the next supervision queue (each further
//! full limit). Parked stretches (挂账, a task's `paused`) do not count: a parked task never
//! turns yellow or red while parked, and its deadline is not due. The workflow's alarms
//! ([`crate::incidents::workflow::Alarm`]) say what already fired.
//!
//! The one write path (`incidents::act`) calls [`store::refresh`] after every command, in
//! the command's transaction, to write these rows; the [`timer`] claims due rows once and
//! fires them as the system through the same path: yellow → `warned`, red → `overdue`, the
//! case entering the supervision queue of the level above the one responsible (grid and
//! community → township, township → county, county and departments → city), then
//! `supervision_raised` one level up after each further full limit, up to the city.

pub mod schema;
pub mod store;
pub mod timer;

use geodata::{AreaCode, Level};
use uuid::Uuid;

use crate::calendar::{Calendar, Light};
use crate::categories::{Limits, TimeUnit};
use crate::incidents::act::Timing;
use crate::incidents::workflow::{Case, Command, Status, Target, Task, TaskKind};

/// Which step of the loop a limit times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 受理: a reported case waits to be accepted.
    Accept,
    /// 派遣: a registered or returned case waits to be dispatched.
    Dispatch,
    /// 核实: a confirm task.
    Confirm,
    /// 处置: a handle task.
    Handle,
    /// 核查: a handled case waits to be verified, or a verify task.
    Verify,
}

impl Step {
    /// Its name, as stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Accept => "accept",
            Step::Dispatch => "dispatch",
            Step::Confirm => "confirm",
            Step::Handle => "handle",
            Step::Verify => "verify",
        }
    }

    fn unit(self, limits: Option<&Limits>) -> TimeUnit {
        let Some(l) = limits else { return TimeUnit::UrgentHours };
        match self {
            Step::Accept | Step::Confirm => l.accept.unit,
            Step::Dispatch => l.dispatch.unit,
            Step::Handle => l.handle.unit,
            Step::Verify => l.verify.unit,
        }
    }
}

/// A time unit as stored.
pub fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::UrgentHours => "urgent_hours",
        TimeUnit::WorkingHours => "working_hours",
        TimeUnit::WorkingDays => "working_days",
    }
}

/// One running limit of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// Its key within the case: `accept`, `dispatch`, `verify`, or the task's id.
    pub key: String,
    /// The step it times.
    pub step: Step,
    /// The task, for a task's limit.
    pub task: Option<Uuid>,
    /// The unit it counts in.
    pub unit: TimeUnit,
    /// When it started (Unix ms).
    pub started_ms: i64,
    /// When it falls due (Unix ms); red past it.
    pub due_ms: i64,
    /// When it turns yellow; `None` while parked.
    pub yellow_ms: Option<i64>,
    /// Parked (挂账): its clock stands still.
    pub parked: bool,
    /// Its parked stretches (from, until; the last may still be open).
    pub paused: Vec<(i64, Option<i64>)>,
    /// The level responsible for the step (5 grid … 1 city).
    pub responsible: u8,
    /// Whether the warning fired.
    pub warned: bool,
    /// The level supervising it, once overdue.
    pub level: Option<u8>,
    /// When it climbs to the next supervision queue (or, not yet overdue, when it would
    /// climb the first time); `None` at the city, or while parked.
    pub climb_ms: Option<i64>,
    /// The next instant the timer has something to do for it; `None` when nothing is left.
    pub next_ms: Option<i64>,
}

/// The supervision queue an overdue step of level `responsible` enters first: grid and
/// community → township, township → county, county (and departments) → city.
pub fn first_supervisor(responsible: u8) -> u8 {
    match responsible {
        4.. => 3,
        3 => 2,
        _ => 1,
    }
}

/// The unit of `place` (city, county, township, community, grid) at `level` (1–5).
pub fn unit_at(place: &[String; 5], level: u8) -> Option<&str> {
    place.get(usize::from(level).checked_sub(1)?).map(String::as_str).filter(|c| !c.is_empty())
}

/// The working time of a limit, leaving parked stretches out.
struct Clockwork<'a> {
    calendar: &'a Calendar,
    unit: TimeUnit,
    from: i64,
    pauses: Vec<(i64, Option<i64>)>,
}

impl Clockwork<'_> {
    fn elapsed(&self, t: i64) -> i64 {
        self.calendar.elapsed_ms(self.unit, t)
    }

    /// Working ms used by `t`, parked stretches left out (a stretch still open runs to `t`).
    fn used(&self, t: i64) -> i64 {
        if t <= self.from {
            return 0;
        }
        let mut used = self.elapsed(t) - self.elapsed(self.from);
        for &(start, end) in &self.pauses {
            let (a, b) = (start.max(self.from), end.unwrap_or(t).min(t));
            if b > a {
                used -= self.elapsed(b) - self.elapsed(a);
            }
        }
        used.max(0)
    }

    /// The first instant at which `numerator / denominator` of `total` is used.
    fn reaching(&self, total: i64, numerator: i128, denominator: i128) -> Option<i64> {
        let target = i128::from(total) * numerator;
        Calendar::first_instant(self.from, |t| i128::from(self.used(t)) * denominator >= target)
    }
}

/// The timing of one limit: when it turns yellow and when it climbs, from its start, its due
/// instant and its parked stretches.
#[allow(clippy::too_many_arguments)]
fn timed(
    calendar: &Calendar,
    key: String,
    step: Step,
    task: Option<Uuid>,
    unit: TimeUnit,
    started_ms: i64,
    due_ms: i64,
    paused: &[(i64, Option<i64>)],
    responsible: u8,
    case: &Case,
) -> Deadline {
    let parked = paused.last().is_some_and(|p| p.1.is_none());
    let alarm = case.alarm(&key, due_ms);
    let (warned, level) = (alarm.is_some_and(|a| a.warned), alarm.and_then(|a| a.level));
    let work = Clockwork {
        calendar,
        unit,
        from: calendar.counting_from(unit, started_ms),
        pauses: paused.iter().filter(|p| p.1.is_some()).copied().collect(),
    };
    let total = work.used(due_ms);
    let (yellow_ms, climb_ms) = if parked {
        (None, None)
    } else {
        let yellow = if total <= 0 { Some(due_ms) } else { work.reaching(total, 4, 5).map(|t| t.min(due_ms)) };
        // After the first supervision queue, each further full limit climbs one level.
        let first = first_supervisor(responsible);
        let climbs_done = level.map_or(0, |l| first.saturating_sub(l));
        let at = level.unwrap_or(first);
        let climb = (at > 1 && total > 0).then(|| work.reaching(total, i128::from(climbs_done) + 2, 1)).flatten();
        (yellow, climb)
    };
    let next_ms = if parked {
        None
    } else {
        [
            (!warned).then_some(yellow_ms).flatten(),
            (level.is_none()).then_some(due_ms.saturating_add(1)),
            level.and(climb_ms),
        ]
        .into_iter()
        .flatten()
        .min()
    };
    Deadline {
        key,
        step,
        task,
        unit,
        started_ms,
        due_ms,
        yellow_ms,
        parked,
        paused: paused.to_vec(),
        responsible,
        warned,
        level,
        climb_ms,
        next_ms,
    }
}

/// The level a task's work is done at: its target's, or the case's for a person.
fn task_level(task: &Task, case_level: u8) -> u8 {
    match &task.target {
        Target::Grid(_) => Level::Grid.number(),
        Target::Unit(code) => AreaCode::parse(code).map_or(case_level, |c| c.level().number()),
        Target::Department(_) => Level::County.number(),
        Target::User(_) => case_level,
    }
}

/// Every limit running on `case`, given when each of its tasks started (`task_start`; the
/// case's `since_ms` for one it does not know) and the level handling it (`case_level`).
/// A category the tree no longer has gives the centre's steps no limits; tasks keep theirs.
pub fn of(case: &Case, task_start: &dyn Fn(Uuid) -> Option<i64>, case_level: u8, timing: Timing<'_>) -> Vec<Deadline> {
    let calendar = timing.calendar;
    let mut out = Vec::new();
    // The centre's own steps: the centre whose queue holds the case is responsible — the
    // lowest on the chain (the township) until the case is escalated.
    let owner = case.owner.as_deref().and_then(|code| AreaCode::parse(code).ok());
    let centre = owner.map_or(Level::Township.number(), |code| code.level().number());
    let desk = |step: Step, pick: fn(&Limits) -> crate::categories::Limit| {
        timing.due(case.since_ms, pick).map(|due| {
            let unit = step.unit(timing.limits);
            timed(calendar, step.as_str().to_owned(), step, None, unit, case.since_ms, due, &[], centre, case)
        })
    };
    let verify_out = case.tasks.iter().any(|t| t.kind == TaskKind::Verify && t.status.is_active());
    out.extend(match case.status {
        Status::Reported => desk(Step::Accept, |l| l.accept),
        Status::Registered | Status::Returned => desk(Step::Dispatch, |l| l.dispatch),
        Status::Handled if !verify_out => desk(Step::Verify, |l| l.verify),
        _ => None,
    });
    if case.status.is_final() {
        return out;
    }
    for task in case.tasks.iter().filter(|t| t.status.is_active()) {
        let Some(due) = task.due_ms else { continue };
        let step = match task.kind {
            TaskKind::Confirm => Step::Confirm,
            TaskKind::Handle => Step::Handle,
            TaskKind::Verify => Step::Verify,
        };
        let paused: Vec<(i64, Option<i64>)> = task.paused.iter().map(|p| (p.from_ms, p.until_ms)).collect();
        let start = task_start(task.id).unwrap_or(case.since_ms).min(due);
        let unit = step.unit(timing.limits);
        let level = task_level(task, case_level);
        out.push(timed(calendar, task.id.to_string(), step, Some(task.id), unit, start, due, &paused, level, case));
    }
    out
}

impl Deadline {
    /// The light at `now_ms`: red once overdue, yellow from 80 %, green before; a parked
    /// limit keeps the light it had when it stopped.
    pub fn light(&self, now_ms: i64) -> Light {
        light_of(self.parked, self.warned, self.level.is_some(), self.yellow_ms, self.due_ms, now_ms)
    }

    /// What the timer raises at `now_ms`, in order: the warning if it is due and has not
    /// fired, the overdue (into the supervision queue due now, however many further limits
    /// passed while nobody looked), or one climb to the queue due now. Each fires once: the
    /// workflow refuses one already raised. `place` is the case's (city … grid).
    pub fn due_commands(&self, calendar: &Calendar, place: &[String; 5], now_ms: i64) -> Vec<Command> {
        if self.parked {
            return Vec::new();
        }
        let mut commands = Vec::new();
        let (deadline, step, due_ms) = (self.key.clone(), self.step.as_str().to_owned(), self.due_ms);
        let red = now_ms > self.due_ms;
        if !self.warned && (red || self.yellow_ms.is_some_and(|y| y <= now_ms)) {
            commands.push(Command::Warn { deadline: deadline.clone(), step: step.clone(), due_ms });
        }
        if !red {
            return commands;
        }
        // The supervision level due now: the first queue, one level up per further limit.
        let work = Clockwork {
            calendar,
            unit: self.unit,
            from: calendar.counting_from(self.unit, self.started_ms),
            pauses: self.paused.iter().filter(|p| p.1.is_some()).copied().collect(),
        };
        let total = work.used(self.due_ms);
        let mut level = first_supervisor(self.responsible);
        let mut k = 2;
        while level > 1 && total > 0 && work.reaching(total, k, 1).is_some_and(|t| t <= now_ms) {
            level -= 1;
            k += 1;
        }
        if self.level.is_none_or(|current| level < current)
            && let Some(unit) = unit_at(place, level)
        {
            commands.push(Command::Overdue { deadline, step, due_ms, level, unit: unit.to_owned() });
        }
        commands
    }
}

/// The light of a stored limit at `now_ms` (see [`Deadline::light`]).
pub fn light_of(parked: bool, warned: bool, overdue: bool, yellow_ms: Option<i64>, due_ms: i64, now_ms: i64) -> Light {
    let running = !parked;
    if overdue || (running && now_ms > due_ms) {
        Light::Red
    } else if warned || (running && yellow_ms.is_some_and(|y| y <= now_ms)) {
        Light::Yellow
    } else {
        Light::Green
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

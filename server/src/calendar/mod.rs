//! Deadlines reckoned the way Chinese public administration reckons time (docs/domain.md, "The closed loop").
//!
//! A [`Limit`] counts in one of three units. Urgent hours (紧急工作时) run day and night. Working
//! hours (工作时) count only the minutes inside the duty windows of working days: a start outside a
//! window waits for the next opening, and a limit completing exactly at a window's end is due at that
//! end. Working days (工作日) skip weekends and holidays, count make-up working days (调休), leave the
//! starting day out and fall due at the close of duty on the Nth working day after it. Time is
//! reckoned in Asia/Shanghai, a fixed UTC+8 without daylight saving, so a local day is plain
//! arithmetic on Unix milliseconds. Outside the years a calendar knows, Monday to Friday count as
//! working days and [`Due::warning`] says so. A running limit is yellow (预警) from 80 % used and
//! red (超期) past 100 % ([`light`]).
//!
//! Working time is a monotone function of the instant: a due instant is its inverse, found by
//! bisection, and a used fraction is the difference of two of its values. Both are closed-form, so
//! neither a long limit nor a long overdue makes a call slower. Instants are clamped to about
//! ±31 000 years around 1970 and a deadline beyond ~31 million years saturates to `i64::MAX`, so no
//! input panics or overflows.

pub mod config;
pub mod horizon;

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use time::{Date, Month, Time};

pub use config::{Calendars, CalendarsError};

use crate::categories::{Limit, TimeUnit};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Asia/Shanghai is UTC+8 all year round.
const OFFSET: i64 = 8 * HOUR;
/// 1970-01-01, local day 0, as a Julian day number.
const EPOCH_JULIAN_DAY: i64 = 2_440_588;
/// Inputs are clamped to this many ms either side of 1970 so that the arithmetic below cannot overflow.
const INPUT_LIMIT: i64 = 1_000_000_000_000_000;
/// How far ahead a deadline is searched for; anything later saturates.
const HORIZON: i64 = 1_000 * INPUT_LIMIT;

/// A holiday calendar with its duty windows; see the module docs for how it counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    /// Local day numbers (days since 1970-01-01) of weekdays off, sorted. A holiday falling on a
    /// weekend changes nothing, so it is not kept.
    days_off: Vec<i64>,
    /// Local day numbers of Saturdays and Sundays worked, sorted.
    workdays: Vec<i64>,
    known_years: RangeInclusive<i32>,
    /// First and last local day of the known years.
    known_days: (i64, i64),
    /// Duty windows in ms after local midnight, ordered and disjoint.
    windows: Vec<(i64, i64)>,
    /// Duty ms of one working day, never 0.
    day_ms: i64,
}

/// When a limit falls due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The due instant, Unix ms (UTC); `i64::MAX` if it lies beyond any sensible horizon.
    pub at_ms: i64,
    /// Set when a day outside the calendar's known years was counted as a plain Monday–Friday week.
    pub warning: Option<String>,
}

/// Traffic light of a running limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Light {
    /// Below 80 % used.
    Green,
    /// From 80 % up to and including 100 % used (预警).
    Yellow,
    /// Past 100 % (超期).
    Red,
}

/// Why a calendar cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// No duty window at all: working hours could never elapse.
    #[error("a calendar needs at least one duty window")]
    NoWindows,
    /// A window that does not start before it ends.
    #[error("duty window {} does not start before it ends", hm(.0))]
    EmptyWindow((Time, Time)),
    /// Two consecutive windows that overlap or are out of order.
    #[error("duty windows {} and {} overlap or are out of order", hm(.first), hm(.second))]
    Overlap {
        /// The earlier window in the list.
        first: (Time, Time),
        /// The window after it.
        second: (Time, Time),
    },
    /// Known years that are empty or beyond what a date can hold.
    #[error("known years {start}..={end} are empty or out of range")]
    KnownYears {
        /// The first year given.
        start: i32,
        /// The last year given.
        end: i32,
    },
    /// A listed date outside the known years: the years would not describe what the calendar knows.
    #[error("{0} lies outside the calendar's known years")]
    OutsideKnownYears(Date),
    /// A date listed both as a day off and as a make-up working day.
    #[error("{0} is listed both as a day off and as a make-up working day")]
    Conflict(Date),
}

fn hm(&(start, end): &(Time, Time)) -> String {
    format!("{:02}:{:02}–{:02}:{:02}", start.hour(), start.minute(), end.hour(), end.minute())
}

fn day_number(date: Date) -> i64 {
    i64::from(date.to_julian_day()) - EPOCH_JULIAN_DAY
}

fn ms_of_time(t: Time) -> i64 {
    (t - Time::MIDNIGHT).whole_milliseconds() as i64
}

/// 0 is Monday; local day 0 was a Thursday.
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// The local date (Asia/Shanghai) of an instant, Unix ms (UTC).
pub fn local_date(ms: i64) -> Date {
    date_of_day(local_day(clamp(ms)))
}

/// The date of a local day number; days beyond what a date holds are clamped to its range.
fn date_of_day(day: i64) -> Date {
    let julian =
        (day + EPOCH_JULIAN_DAY).clamp(i64::from(Date::MIN.to_julian_day()), i64::from(Date::MAX.to_julian_day()));
    Date::from_julian_day(julian as i32).unwrap_or(Date::MIN)
}

fn local_day(ms: i64) -> i64 {
    (ms + OFFSET).div_euclid(DAY)
}

fn ms_of_day(ms: i64) -> i64 {
    (ms + OFFSET).rem_euclid(DAY)
}

fn clamp(ms: i64) -> i64 {
    ms.clamp(-INPUT_LIMIT, INPUT_LIMIT)
}

/// The least `x` in `lo..=hi` for which `pred` holds, `pred` being false then true; `None` if
/// `pred(hi)` is false.
fn least(mut lo: i64, mut hi: i64, pred: impl Fn(i64) -> bool) -> Option<i64> {
    if !pred(hi) {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { hi = mid } else { lo = mid + 1 }
    }
    Some(lo)
}

impl Calendar {
    /// The national calendar shipped with gridlink (`national.toml`): the 2026 arrangement of
    /// docs/domain.md, duty windows 08:30–12:00 and 14:00–17:30. Counties count by it unless the
    /// configuration gives them their own ([`Calendars`]).
    pub fn national() -> Calendar {
        Calendars::shipped().of_county("").clone()
    }

    /// A calendar that knows no holidays: Monday to Friday, 08:30–12:00 and 14:00–17:30, with
    /// a warning on every limit it counts.
    fn plain_weeks() -> Calendar {
        let windows = vec![(8 * HOUR + 30 * MINUTE, 12 * HOUR), (14 * HOUR, 17 * HOUR + 30 * MINUTE)];
        Calendar::build([], [], 0..=0, (i64::MAX, i64::MIN), windows)
    }

    /// A calendar from its parts: days off, make-up working days, the years it knows (every listed
    /// date must lie in them) and the duty windows as (start, end) local times, in order and not
    /// overlapping (touching is fine). Times are taken to the millisecond.
    pub fn new(
        days_off: impl IntoIterator<Item = Date>,
        workdays: impl IntoIterator<Item = Date>,
        known_years: RangeInclusive<i32>,
        windows: Vec<(Time, Time)>,
    ) -> Result<Calendar, CalendarError> {
        let (first, last) = (*known_years.start(), *known_years.end());
        let (Ok(first_day), Ok(last_day), true) = (
            Date::from_calendar_date(first, Month::January, 1),
            Date::from_calendar_date(last, Month::December, 31),
            first <= last,
        ) else {
            return Err(CalendarError::KnownYears { start: first, end: last });
        };
        if windows.is_empty() {
            return Err(CalendarError::NoWindows);
        }
        if let Some(&window) = windows.iter().find(|(start, end)| ms_of_time(*start) >= ms_of_time(*end)) {
            return Err(CalendarError::EmptyWindow(window));
        }
        if let Some(pair) = windows.windows(2).find(|pair| ms_of_time(pair[0].1) > ms_of_time(pair[1].0)) {
            return Err(CalendarError::Overlap { first: pair[0], second: pair[1] });
        }
        let days_off: Vec<Date> = days_off.into_iter().collect();
        let workdays: Vec<Date> = workdays.into_iter().collect();
        if let Some(&date) = days_off.iter().find(|date| workdays.contains(date)) {
            return Err(CalendarError::Conflict(date));
        }
        if let Some(&date) = days_off.iter().chain(&workdays).find(|date| !known_years.contains(&date.year())) {
            return Err(CalendarError::OutsideKnownYears(date));
        }
        Ok(Calendar::build(
            days_off.into_iter().map(day_number),
            workdays.into_iter().map(day_number),
            known_years,
            (day_number(first_day), day_number(last_day)),
            windows.into_iter().map(|(start, end)| (ms_of_time(start), ms_of_time(end))).collect(),
        ))
    }

    fn build(
        days_off: impl IntoIterator<Item = i64>,
        workdays: impl IntoIterator<Item = i64>,
        known_years: RangeInclusive<i32>,
        known_days: (i64, i64),
        windows: Vec<(i64, i64)>,
    ) -> Calendar {
        let sorted = |days: BTreeSet<i64>| days.into_iter().collect();
        Calendar {
            days_off: sorted(days_off.into_iter().filter(|&d| weekday(d) < 5).collect()),
            workdays: sorted(workdays.into_iter().filter(|&d| weekday(d) >= 5).collect()),
            known_years,
            known_days,
            day_ms: windows.iter().map(|(start, end)| end - start).sum(),
            windows,
        }
    }

    /// The last day of the last year the calendar knows; `None` for one that knows none.
    pub fn last_day(&self) -> Option<Date> {
        let (first, last) = self.known_days;
        (first <= last).then(|| date_of_day(last))
    }

    /// Whether a local date is a working day: Monday to Friday unless a day off, plus make-up days.
    /// Outside the known years nothing is listed, so this is plain Monday to Friday.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.working(day_number(date))
    }

    fn working(&self, day: i64) -> bool {
        if weekday(day) < 5 {
            self.days_off.binary_search(&day).is_err()
        } else {
            self.workdays.binary_search(&day).is_ok()
        }
    }

    /// Working days before local day `day`, counted from an arbitrary origin: only differences
    /// matter. Weekdays come in fives per week; the lists correct the count.
    fn working_days_before(&self, day: i64) -> i64 {
        // Weekdays among the first r days of a week that starts on a Thursday, as day 0 did.
        const WEEKDAYS_IN_FIRST: [i64; 7] = [0, 1, 2, 2, 2, 3, 4];
        let weekdays = 5 * day.div_euclid(7) + WEEKDAYS_IN_FIRST[day.rem_euclid(7) as usize];
        let listed = |days: &[i64]| days.partition_point(|&d| d < day) as i64;
        weekdays - listed(&self.days_off) + listed(&self.workdays)
    }

    /// Duty ms already passed at a local time of a working day.
    fn duty_ms_until(&self, ms_of_day: i64) -> i64 {
        self.windows.iter().map(|&(start, end)| ms_of_day.clamp(start, end) - start).sum()
    }

    /// Duty ms before the instant `at`, counted from an arbitrary origin.
    fn worked_ms(&self, at: i64) -> i64 {
        let day = local_day(at);
        let today = if self.working(day) { self.duty_ms_until(ms_of_day(at)) } else { 0 };
        self.working_days_before(day) * self.day_ms + today
    }

    /// Working days used between `start` and `now`: whole working days after the start day, plus
    /// the share of today's duty time already passed.
    fn worked_days(&self, start: i64, now: i64) -> f64 {
        let (start_day, day) = (local_day(start), local_day(now));
        if day <= start_day {
            return 0.0;
        }
        let whole = self.working_days_before(day) - self.working_days_before(start_day + 1);
        let today =
            if self.working(day) { self.duty_ms_until(ms_of_day(now)) as f64 / self.day_ms as f64 } else { 0.0 };
        whole as f64 + today
    }

    fn close_of_duty(&self) -> i64 {
        self.windows.last().map_or(DAY - 1, |&(_, end)| end)
    }

    fn warning(&self, first_day: i64, last_day: i64) -> Option<String> {
        let (known_first, known_last) = self.known_days;
        (first_day < known_first || last_day > known_last).then(|| {
            format!(
                "days outside {}–{}, the years this calendar knows, were counted as Monday–Friday working days",
                self.known_years.start(),
                self.known_years.end()
            )
        })
    }

    /// When a limit that starts at `start_ms` (Unix ms, UTC) falls due. A zero limit is due at once.
    pub fn due(&self, start_ms: i64, limit: Limit) -> Due {
        let start = clamp(start_ms);
        let amount = i64::from(limit.amount);
        if amount == 0 {
            return Due { at_ms: start, warning: None };
        }
        match limit.unit {
            TimeUnit::UrgentHours => Due { at_ms: start + amount * HOUR, warning: None },
            TimeUnit::WorkingHours => {
                let target = self.worked_ms(start) + amount * HOUR;
                let at = least(start, HORIZON, |t| self.worked_ms(t) >= target);
                Due {
                    at_ms: at.unwrap_or(i64::MAX),
                    warning: self.warning(local_day(start), at.map_or(i64::MAX, local_day)),
                }
            }
            TimeUnit::WorkingDays => {
                let first = local_day(start) + 1;
                let base = self.working_days_before(first);
                let day = least(first, HORIZON / DAY, |d| self.working_days_before(d + 1) - base >= amount);
                Due {
                    at_ms: day.map_or(i64::MAX, |d| d * DAY - OFFSET + self.close_of_duty()),
                    warning: self.warning(first, day.unwrap_or(i64::MAX)),
                }
            }
        }
    }

    /// How much of a limit started at `start_ms` is used at `now_ms`, measured in the limit's own
    /// unit: 0.0 at (and before) the start, 1.0 at the due instant, above 1 when overdue. A zero
    /// limit is 1.0 at its start and `f64::MAX` after it.
    pub fn used_fraction(&self, start_ms: i64, limit: Limit, now_ms: i64) -> f64 {
        let (start, now) = (clamp(start_ms), clamp(now_ms));
        let amount = i64::from(limit.amount);
        if now < start {
            return 0.0;
        }
        if amount == 0 {
            return if now == start { 1.0 } else { f64::MAX };
        }
        let (used, total) = match limit.unit {
            TimeUnit::UrgentHours => ((now - start) as f64, (amount * HOUR) as f64),
            TimeUnit::WorkingHours => ((self.worked_ms(now) - self.worked_ms(start)) as f64, (amount * HOUR) as f64),
            TimeUnit::WorkingDays => (self.worked_days(start, now), amount as f64),
        };
        used / total
    }
}

impl Calendar {
    /// The working time of `unit` passed by the instant `at_ms`, in ms from an arbitrary origin:
    /// a clock that runs day and night for urgent hours and only inside the duty windows of
    /// working days for the other two units, so that the difference of two values is the working
    /// time between them. A working day is [`Calendar::unit_ms`] of it. Deadlines that must leave
    /// stretches out (parking, 挂账) subtract those stretches' differences.
    pub fn elapsed_ms(&self, unit: TimeUnit, at_ms: i64) -> i64 {
        let at = clamp(at_ms);
        match unit {
            TimeUnit::UrgentHours => at,
            TimeUnit::WorkingHours | TimeUnit::WorkingDays => self.worked_ms(at),
        }
    }

    /// Where a limit started at `start_ms` begins to count: at its start, except in working days,
    /// where the starting day is not counted and counting begins at the local midnight after it.
    pub fn counting_from(&self, unit: TimeUnit, start_ms: i64) -> i64 {
        let start = clamp(start_ms);
        match unit {
            TimeUnit::WorkingDays => (local_day(start) + 1) * DAY - OFFSET,
            TimeUnit::UrgentHours | TimeUnit::WorkingHours => start,
        }
    }

    /// The [`Calendar::elapsed_ms`] of one unit of a limit: an hour, or a working day's duty time.
    pub fn unit_ms(&self, unit: TimeUnit) -> i64 {
        match unit {
            TimeUnit::UrgentHours | TimeUnit::WorkingHours => HOUR,
            TimeUnit::WorkingDays => self.day_ms,
        }
    }

    /// The first instant at or after `from_ms` at which `reached` holds, `reached` being false
    /// then true as time goes on; `None` if that lies beyond any sensible horizon.
    pub fn first_instant(from_ms: i64, reached: impl Fn(i64) -> bool) -> Option<i64> {
        least(clamp(from_ms), HORIZON, reached)
    }
}

/// The traffic light of a used fraction: green below 0.8, yellow from 0.8 to 1.0, red above 1.0.
pub fn light(fraction: f64) -> Light {
    if fraction > 1.0 {
        Light::Red
    } else if fraction >= 0.8 {
        Light::Yellow
    } else {
        Light::Green
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::macros::{datetime, time};

    use super::*;

    fn ms(at: OffsetDateTime) -> i64 {
        at.unix_timestamp() * 1000
    }

    fn limit(amount: u32, unit: TimeUnit) -> Limit {
        Limit { amount, unit }
    }

    fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
    }

    fn due_at(start: OffsetDateTime, amount: u32, unit: TimeUnit) -> Due {
        Calendar::national().due(ms(start), limit(amount, unit))
    }

    #[test]
    fn national_matches_its_validated_form() {
        let days_off = [(1, 1..=3), (2, 15..=23), (4, 4..=6), (5, 1..=5), (6, 19..=21), (9, 25..=27), (10, 1..=7)]
            .into_iter()
            .flat_map(|(month, days)| days.map(move |day| ymd(2026, month, day)));
        let workdays = [(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)].map(|(month, day)| ymd(2026, month, day));
        let windows = vec![(time!(8:30), time!(12:00)), (time!(14:00), time!(17:30))];
        assert_eq!(Calendar::new(days_off, workdays, 2026..=2026, windows).unwrap(), Calendar::national());
    }

    #[test]
    fn working_days_follow_the_2026_arrangement() {
        let cal = Calendar::national();
        assert!(cal.is_working_day(ymd(2026, 2, 14)), "Saturday make-up day");
        assert!(cal.is_working_day(ymd(2026, 9, 20)), "Sunday make-up day");
        assert!(!cal.is_working_day(ymd(2026, 2, 16)), "Spring Festival Monday");
        assert!(!cal.is_working_day(ymd(2026, 1, 3)), "holiday Saturday");
        assert!(!cal.is_working_day(ymd(2026, 3, 7)), "plain Saturday");
        assert!(cal.is_working_day(ymd(2026, 3, 9)), "plain Monday");
    }

    #[test]
    fn working_days_skip_holidays_and_count_make_up_days() {
        // Sat 02-14 counts, 02-15…23 do not: the second working day is Tuesday 02-24.
        let due = due_at(datetime!(2026-02-13 10:00 +8), 2, TimeUnit::WorkingDays);
        assert_eq!(due, Due { at_ms: ms(datetime!(2026-02-24 17:30 +8)), warning: None });
        // Sunday 09-20 counts.
        let due = due_at(datetime!(2026-09-18 16:00 +8), 2, TimeUnit::WorkingDays);
        assert_eq!(due.at_ms, ms(datetime!(2026-09-21 17:30 +8)));
        // The start day is never counted, however early the start.
        let due = due_at(datetime!(2026-03-09 00:00 +8), 1, TimeUnit::WorkingDays);
        assert_eq!(due.at_ms, ms(datetime!(2026-03-10 17:30 +8)));
        // A start inside a holiday: the National Day week is off, Thursday Oct 8 is the first day.
        let due = due_at(datetime!(2026-10-03 10:00 +8), 1, TimeUnit::WorkingDays);
        assert_eq!(due.at_ms, ms(datetime!(2026-10-08 17:30 +8)));
    }

    #[test]
    fn working_hours_count_only_duty_windows() {
        let cases = [
            // Across the lunch break.
            (datetime!(2026-03-02 11:00 +8), 2, datetime!(2026-03-02 15:00 +8)),
            // Completing exactly at a window's end is due at that end, not at the next opening.
            (datetime!(2026-03-02 11:00 +8), 1, datetime!(2026-03-02 12:00 +8)),
            // Across a night and a weekend: 1 h on Friday, 3 h on Monday.
            (datetime!(2026-03-06 16:30 +8), 4, datetime!(2026-03-09 11:30 +8)),
            // A start before opening begins at the opening; one in the lunch break at 14:00.
            (datetime!(2026-03-02 07:00 +8), 1, datetime!(2026-03-02 09:30 +8)),
            (datetime!(2026-03-02 12:30 +8), 1, datetime!(2026-03-02 15:00 +8)),
            // A start in the National Day week (Oct 1–7 off) waits for Thursday Oct 8.
            (datetime!(2026-10-03 10:00 +8), 4, datetime!(2026-10-08 14:30 +8)),
        ];
        for (start, hours, due) in cases {
            let expected = Due { at_ms: ms(due), warning: None };
            assert_eq!(due_at(start, hours, TimeUnit::WorkingHours), expected, "{start} + {hours} working hours");
        }
    }

    #[test]
    fn urgent_hours_run_day_and_night() {
        let due = due_at(datetime!(2026-02-16 23:00 +8), 2, TimeUnit::UrgentHours);
        assert_eq!(due, Due { at_ms: ms(datetime!(2026-02-17 01:00 +8)), warning: None });
    }

    #[test]
    fn a_calendar_without_holidays_counts_weeks_and_always_warns() {
        let due = Calendar::plain_weeks().due(ms(datetime!(2026-02-13 10:00 +8)), limit(2, TimeUnit::WorkingDays));
        assert_eq!(due.at_ms, ms(datetime!(2026-02-17 17:30 +8)));
        assert!(due.warning.is_some());
    }

    #[test]
    fn past_the_known_years_monday_to_friday_count_with_a_warning() {
        let cal = Calendar::national();
        // 2027-01-01 is a Friday; nobody has announced 2027's holidays to this calendar.
        assert!(cal.is_working_day(ymd(2027, 1, 1)));
        assert!(!cal.is_working_day(ymd(2027, 1, 2)));
        let due = due_at(datetime!(2027-01-01 09:00 +8), 1, TimeUnit::WorkingDays);
        assert_eq!(due.at_ms, ms(datetime!(2027-01-04 17:30 +8)));
        assert!(due.warning.is_some());
        // Crossing into 2027 warns too; staying in 2026 does not.
        assert!(due_at(datetime!(2026-12-31 09:00 +8), 1, TimeUnit::WorkingDays).warning.is_some());
        assert!(due_at(datetime!(2026-12-30 09:00 +8), 1, TimeUnit::WorkingDays).warning.is_none());
        let due = due_at(datetime!(2026-12-31 17:00 +8), 2, TimeUnit::WorkingHours);
        assert_eq!(due.at_ms, ms(datetime!(2027-01-01 10:00 +8)));
        assert!(due.warning.is_some());
    }

    #[test]
    fn lights_turn_at_80_and_past_100_percent() {
        assert_eq!(light(0.0), Light::Green);
        assert_eq!(light(0.79), Light::Green);
        assert_eq!(light(0.8), Light::Yellow);
        assert_eq!(light(1.0), Light::Yellow);
        assert_eq!(light(1.0001), Light::Red);
        let (cal, start) = (Calendar::national(), ms(datetime!(2026-03-02 09:00 +8)));
        assert_eq!(light(cal.used_fraction(start, limit(10, TimeUnit::UrgentHours), start + 8 * HOUR)), Light::Yellow);
    }

    #[test]
    fn used_fraction_in_each_unit() {
        let cal = Calendar::national();
        let used = |start: OffsetDateTime, amount, unit, now: OffsetDateTime| {
            cal.used_fraction(ms(start), limit(amount, unit), ms(now))
        };

        let start = datetime!(2026-03-02 23:00 +8);
        assert_eq!(used(start, 2, TimeUnit::UrgentHours, datetime!(2026-03-02 22:00 +8)), 0.0);
        assert_eq!(used(start, 2, TimeUnit::UrgentHours, start), 0.0);
        assert_eq!(used(start, 2, TimeUnit::UrgentHours, datetime!(2026-03-03 00:00 +8)), 0.5);
        assert_eq!(used(start, 2, TimeUnit::UrgentHours, datetime!(2026-03-03 01:00 +8)), 1.0);
        assert_eq!(used(start, 2, TimeUnit::UrgentHours, datetime!(2026-03-03 02:00 +8)), 1.5);

        let start = datetime!(2026-03-02 11:00 +8);
        assert_eq!(used(start, 2, TimeUnit::WorkingHours, start), 0.0);
        assert_eq!(used(start, 2, TimeUnit::WorkingHours, datetime!(2026-03-02 13:00 +8)), 0.5);
        assert_eq!(used(start, 2, TimeUnit::WorkingHours, datetime!(2026-03-02 14:30 +8)), 0.75);
        assert_eq!(used(start, 2, TimeUnit::WorkingHours, datetime!(2026-03-02 15:00 +8)), 1.0);
        assert_eq!(used(start, 2, TimeUnit::WorkingHours, datetime!(2026-03-03 09:30 +8)), 2.75);

        let start = datetime!(2026-02-13 10:00 +8);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, start), 0.0);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, datetime!(2026-02-13 17:30 +8)), 0.0);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, datetime!(2026-02-14 12:00 +8)), 0.25);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, datetime!(2026-02-18 10:00 +8)), 0.5);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, datetime!(2026-02-24 14:00 +8)), 0.75);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, datetime!(2026-02-24 17:30 +8)), 1.0);
        assert_eq!(used(start, 2, TimeUnit::WorkingDays, datetime!(2026-02-25 17:30 +8)), 1.5);
    }

    #[test]
    fn invalid_calendars_are_rejected() {
        let new = |windows| Calendar::new([], [], 2026..=2026, windows);
        assert_eq!(new(vec![]), Err(CalendarError::NoWindows));
        assert!(matches!(new(vec![(time!(12:00), time!(12:00))]), Err(CalendarError::EmptyWindow(_))));
        assert!(matches!(new(vec![(time!(14:00), time!(8:30))]), Err(CalendarError::EmptyWindow(_))));
        assert!(matches!(
            new(vec![(time!(8:30), time!(12:00)), (time!(11:00), time!(17:30))]),
            Err(CalendarError::Overlap { .. })
        ));
        assert!(matches!(
            new(vec![(time!(14:00), time!(17:30)), (time!(8:30), time!(12:00))]),
            Err(CalendarError::Overlap { .. })
        ));
        assert!(new(vec![(time!(8:00), time!(12:00)), (time!(12:00), time!(16:00))]).is_ok(), "touching is fine");
        let windows = vec![(time!(9:00), time!(17:00))];
        let bad = Calendar::new([ymd(2026, 5, 1)], [ymd(2026, 5, 1)], 2026..=2026, windows.clone());
        assert_eq!(bad, Err(CalendarError::Conflict(ymd(2026, 5, 1))));
        let bad = Calendar::new([ymd(2027, 1, 1)], [], 2026..=2026, windows.clone());
        assert_eq!(bad, Err(CalendarError::OutsideKnownYears(ymd(2027, 1, 1))));
        let bad = Calendar::new([], [], RangeInclusive::new(2027, 2026), windows);
        assert_eq!(bad, Err(CalendarError::KnownYears { start: 2027, end: 2026 }));
    }

    #[test]
    fn extreme_inputs_saturate_instead_of_panicking() {
        let cal = Calendar::national();
        let instants = [i64::MIN, -INPUT_LIMIT - 1, -1, 0, INPUT_LIMIT + 1, i64::MAX];
        for unit in [TimeUnit::UrgentHours, TimeUnit::WorkingHours, TimeUnit::WorkingDays] {
            for amount in [0, 1, u32::MAX] {
                for &start in &instants {
                    let due = cal.due(start, limit(amount, unit));
                    assert!(due.at_ms >= start.min(INPUT_LIMIT));
                    for &now in &instants {
                        assert!(cal.used_fraction(start, limit(amount, unit), now) >= 0.0);
                    }
                }
            }
        }
        // A window of one millisecond a day makes a huge limit fall due beyond the horizon.
        let tiny = Calendar::new([], [], 2026..=2026, vec![(time!(9:00), time!(9:00:00.001))]).unwrap();
        assert_eq!(tiny.due(0, limit(u32::MAX, TimeUnit::WorkingHours)).at_ms, i64::MAX);
    }

    #[test]
    fn elapsed_time_differences_agree_with_due_and_used_fraction() {
        let cal = Calendar::national();
        // Friday 2026-02-13 + 2 working days: counted from the midnight after, due at close of 02-24.
        let start = ms(datetime!(2026-02-13 10:00 +8));
        let from = cal.counting_from(TimeUnit::WorkingDays, start);
        assert_eq!(from, ms(datetime!(2026-02-14 00:00 +8)));
        let target = 2 * cal.unit_ms(TimeUnit::WorkingDays);
        let due = Calendar::first_instant(from, |t| {
            cal.elapsed_ms(TimeUnit::WorkingDays, t) - cal.elapsed_ms(TimeUnit::WorkingDays, from) >= target
        });
        assert_eq!(due, Some(ms(datetime!(2026-02-24 17:30 +8))));
        // Urgent hours run across midnight; working hours stop outside the windows.
        let night = ms(datetime!(2026-03-02 23:00 +8));
        assert_eq!(cal.elapsed_ms(TimeUnit::UrgentHours, night + 2 * HOUR) - night, 2 * HOUR);
        let evening = cal.elapsed_ms(TimeUnit::WorkingHours, ms(datetime!(2026-03-02 17:30 +8)));
        assert_eq!(cal.elapsed_ms(TimeUnit::WorkingHours, ms(datetime!(2026-03-03 08:30 +8))), evening);
    }

    proptest! {
        #[test]
        fn due_is_where_the_fraction_reaches_one(
            start in ms(datetime!(2026-01-01 00:00 +8))..ms(datetime!(2027-01-01 00:00 +8)),
            amount in 1u32..=10,
            unit in prop_oneof![Just(TimeUnit::UrgentHours), Just(TimeUnit::WorkingHours), Just(TimeUnit::WorkingDays)],
        ) {
            let (cal, limit) = (Calendar::national(), limit(amount, unit));
            let due = cal.due(start, limit).at_ms;
            prop_assert!(due >= start);
            prop_assert!((cal.used_fraction(start, limit, due) - 1.0).abs() < 1e-9);
            prop_assert!(cal.used_fraction(start, limit, due - 1) < 1.0);
        }
    }
}

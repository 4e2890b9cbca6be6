//! The calendars of a deployment, from configuration (docs/domain.md: "calendars belong to a
//! county"). gridlink ships one, `national` (the file `national.toml` beside this one: the
//! 2026 national arrangement); a calendars file adds more, each naming the counties it
//! serves, and says which one counts for every other county.
//!
//! ```toml
//! default = "national"            # for counties no calendar names (this is the default)
//!
//! [[calendar]]
//! name = "national"               # named like its base: extends and replaces it
//! base = "national"
//! years = [2027]
//! days_off = ["2027-01-01..2027-01-03"]
//!
//! [[calendar]]
//! name = "suqian-sucheng"
//! base = "national"               # inherits years, duty windows, days off and make-up days
//! counties = ["321302"]
//! duty = ["08:00-12:00", "14:30-18:00"]
//! days_off = ["2026-07-15"]
//! make_up_workdays = []
//! ```
//!
//! A `base` names a calendar defined before (the shipped one first, then the file's in
//! order); the calendar gets the union of the base's years, days off and make-up days with
//! its own, and the base's duty windows unless it gives its own. Loading checks the whole
//! file and reports every problem, not just the first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::Deserialize;
use time::{Date, Month, Time};

use super::Calendar;

const SHIPPED: &str = include_str!("national.toml");

/// The name of the shipped calendar, and of the default unless a file says otherwise.
pub const NATIONAL: &str = "national";

/// Dates a range may span at most: a holiday list, not a century.
const MAX_RANGE_DAYS: i64 = 366;

/// Every calendar in force, and which county counts by which.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendars {
    /// By name, in the order defined (the shipped ones first).
    pub(super) calendars: Vec<(String, Calendar)>,
    /// County code → index into `calendars`.
    pub(super) by_county: BTreeMap<String, usize>,
    /// Index of the calendar of every county not named.
    default: usize,
    /// Names of the calendars whose last definition is in the calendars file (not only
    /// shipped): where an operator extends each one differs (see `horizon`).
    pub(super) in_file: BTreeSet<String>,
}

/// What one calendar in force covers, for the log and the desks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CalendarSummary {
    /// Its name.
    pub name: String,
    /// The counties that count by it (empty for the default, which counts for the rest).
    pub counties: Vec<String>,
    /// Whether every county no calendar names counts by it.
    pub default: bool,
    /// The first and last year it knows.
    pub years: (i32, i32),
}

/// Why a calendars file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CalendarsError {
    /// Not TOML of the expected form.
    #[error("the calendars file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    /// Every problem found in it.
    #[error("the calendars file has {} problem(s):\n{}", .0.len(), .0.join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<String>,
    #[serde(default)]
    calendar: Vec<Raw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    base: Option<String>,
    #[serde(default)]
    counties: Vec<String>,
    years: Option<Vec<i32>>,
    duty: Option<Vec<String>>,
    #[serde(default)]
    days_off: Vec<String>,
    #[serde(default)]
    make_up_workdays: Vec<String>,
}

/// A calendar's parts before they are checked as a whole.
#[derive(Debug, Clone, Default)]
struct Parts {
    years: BTreeSet<i32>,
    duty: Vec<(Time, Time)>,
    days_off: BTreeSet<Date>,
    workdays: BTreeSet<Date>,
}

static SHIPPED_CALENDARS: LazyLock<Calendars> = LazyLock::new(|| {
    Calendars::from_toml("").unwrap_or_else(|e| {
        // Cannot happen with the file as shipped (its tests read it); should an edit break
        // it, count plain weeks and say so on every deadline rather than stop the server.
        tracing::error!(%e, "the shipped calendar is unreadable: counting Monday–Friday only");
        let plain = Calendar::plain_weeks();
        Calendars {
            calendars: vec![(NATIONAL.to_owned(), plain)],
            by_county: BTreeMap::new(),
            default: 0,
            in_file: BTreeSet::new(),
        }
    })
});

impl Calendars {
    /// The calendars gridlink ships: `national`, for every county.
    pub fn shipped() -> Calendars {
        SHIPPED_CALENDARS.clone()
    }

    /// The shipped calendars with those of a calendars file (TOML, see the module docs).
    pub fn from_toml(text: &str) -> Result<Calendars, CalendarsError> {
        let shipped: File = toml::from_str(SHIPPED)?;
        let file: File = toml::from_str(text)?;
        let mut problems = Vec::new();
        let mut defined: Vec<(String, Parts, Vec<String>)> = Vec::new();
        let mut in_file = BTreeSet::new();
        let shipped_count = shipped.calendar.len();
        for (position, raw) in shipped.calendar.iter().chain(&file.calendar).enumerate() {
            let mut problem = |what: String| problems.push(format!("calendar {:?}: {what}", raw.name));
            if raw.name.trim().is_empty() {
                problem("the name is empty".into());
                continue;
            }
            let mut parts = match &raw.base {
                None => Parts::default(),
                Some(base) => match defined.iter().rev().find(|(name, ..)| name == base) {
                    Some((_, parts, _)) => parts.clone(),
                    None => {
                        problem(format!("base {base:?} is not a calendar defined before it"));
                        continue;
                    }
                },
            };
            parts.years.extend(raw.years.iter().flatten());
            if let Some(duty) = &raw.duty {
                parts.duty.clear();
                for window in duty {
                    match parse_window(window) {
                        Ok(w) => parts.duty.push(w),
                        Err(e) => problem(e),
                    }
                }
            }
            for (list, into) in [(&raw.days_off, &mut parts.days_off), (&raw.make_up_workdays, &mut parts.workdays)] {
                for spec in list {
                    match parse_dates(spec) {
                        Ok(dates) => into.extend(dates),
                        Err(e) => problem(e),
                    }
                }
            }
            for county in &raw.counties {
                if county.len() != 6 || !county.bytes().all(|b| b.is_ascii_digit()) {
                    problem(format!("county {county:?} is not a 6-digit county code"));
                }
            }
            // A calendar named like one before replaces it, with its counties.
            defined.retain(|(name, ..)| *name != raw.name);
            defined.push((raw.name.clone(), parts, raw.counties.clone()));
            if position >= shipped_count {
                in_file.insert(raw.name.clone());
            }
        }

        // Every calendar is checked, even after a problem; `None` for one that failed.
        let mut built: Vec<(String, Option<Calendar>)> = Vec::with_capacity(defined.len());
        let mut by_county = BTreeMap::new();
        for (name, parts, counties) in defined {
            let mut problem = |what: String| problems.push(format!("calendar {name:?}: {what}"));
            for county in counties {
                match by_county.get(&county).map(|&other| built.get(other)) {
                    None => {}
                    Some(Some((other, _))) => problem(format!("county {county} is named by calendar {other:?} too")),
                    Some(None) => problem(format!("county {county} is named twice")),
                }
                by_county.insert(county, built.len());
            }
            let calendar = match (parts.years.first(), parts.years.last()) {
                (Some(&first), Some(&last)) if i64::from(last) - i64::from(first) + 1 == parts.years.len() as i64 => {
                    Calendar::new(parts.days_off, parts.workdays, first..=last, parts.duty)
                        .map_err(|e| problem(e.to_string()))
                        .ok()
                }
                (Some(_), Some(_)) => {
                    problem(format!("years {:?} leave a gap: a calendar knows a run of whole years", parts.years));
                    None
                }
                _ => {
                    problem("no years: say which years its days off and make-up days describe".into());
                    None
                }
            };
            built.push((name, calendar));
        }
        let calendars: Vec<(String, Calendar)> =
            built.into_iter().filter_map(|(name, calendar)| Some((name, calendar?))).collect();
        let default_name = file.default.as_deref().unwrap_or(NATIONAL);
        let default = calendars.iter().position(|(name, _)| name == default_name);
        if default.is_none() && problems.is_empty() {
            problems.push(format!("default {default_name:?} is not a calendar"));
        }
        match (problems.is_empty(), default) {
            (true, Some(default)) => Ok(Calendars { calendars, by_county, default, in_file }),
            _ => Err(CalendarsError::Invalid(problems)),
        }
    }

    /// The calendar the county `code` counts by (the default for a county none names).
    pub fn of_county(&self, code: &str) -> &Calendar {
        let index = self.by_county.get(code).copied().unwrap_or(self.default);
        &self.calendars[index].1
    }

    /// The calendar called `name`, if there is one.
    pub fn named(&self, name: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// What each calendar covers, in the order defined.
    pub fn summary(&self) -> Vec<CalendarSummary> {
        self.calendars
            .iter()
            .enumerate()
            .map(|(i, (name, calendar))| CalendarSummary {
                name: name.clone(),
                counties: self.by_county.iter().filter(|&(_, &c)| c == i).map(|(county, _)| county.clone()).collect(),
                default: i == self.default,
                years: (*calendar.known_years.start(), *calendar.known_years.end()),
            })
            .collect()
    }
}

fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// `"2026-05-01"` or an inclusive range `"2026-05-01..2026-05-05"`.
fn parse_dates(spec: &str) -> Result<Vec<Date>, String> {
    let bad = || format!("{spec:?} is not a date (YYYY-MM-DD) or a range of dates (YYYY-MM-DD..YYYY-MM-DD)");
    let (first, last) = match spec.split_once("..") {
        Some((a, b)) => (parse_date(a).ok_or_else(bad)?, parse_date(b).ok_or_else(bad)?),
        None => {
            let day = parse_date(spec).ok_or_else(bad)?;
            (day, day)
        }
    };
    let span = (last - first).whole_days();
    if !(0..MAX_RANGE_DAYS).contains(&span) {
        return Err(format!("{spec:?} must run forwards and span at most {MAX_RANGE_DAYS} days"));
    }
    Ok(std::iter::successors(Some(first), |d| d.next_day().filter(|d| *d <= last)).collect())
}

/// `"08:30-12:00"`.
fn parse_window(spec: &str) -> Result<(Time, Time), String> {
    let time = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
    };
    let (start, end) = spec.split_once('-').ok_or_else(|| format!("duty window {spec:?} is not HH:MM-HH:MM"))?;
    match (time(start), time(end)) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Err(format!("duty window {spec:?} is not HH:MM-HH:MM")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::categories::{Limit, TimeUnit};
    use time::macros::datetime;

    fn due(calendar: &Calendar, start: time::OffsetDateTime, days: u32) -> time::OffsetDateTime {
        let at = calendar.due(start.unix_timestamp() * 1000, Limit { amount: days, unit: TimeUnit::WorkingDays }).at_ms;
        time::OffsetDateTime::from_unix_timestamp(at / 1000).unwrap().to_offset(time::macros::offset!(+8))
    }

    #[test]
    fn the_shipped_file_is_the_national_arrangement() {
        let shipped = Calendars::shipped();
        let summary = shipped.summary();
        assert_eq!((summary.len(), summary[0].name.as_str(), summary[0].years), (1, NATIONAL, (2026, 2026)));
        assert!(summary[0].default && summary[0].counties.is_empty());
        // docs/domain.md's examples, counted by the shipped file in any county.
        let national = shipped.of_county("321302");
        assert_eq!(due(national, datetime!(2026-02-13 10:00 +8), 2), datetime!(2026-02-24 17:30 +8));
        assert_eq!(due(national, datetime!(2026-09-18 10:00 +8), 2), datetime!(2026-09-21 17:30 +8));
    }

    #[test]
    fn a_county_counts_by_its_own_calendar_and_the_rest_by_the_default() {
        let file = r#"
            [[calendar]]
            name = "sucheng"
            base = "national"
            counties = ["321302"]
            days_off = ["2026-02-24"]
        "#;
        let calendars = Calendars::from_toml(file).unwrap();
        let friday = datetime!(2026-02-13 10:00 +8);
        // Nationally: Sat 02-14 counts, 02-15…23 do not, so Tuesday 02-24.
        assert_eq!(due(calendars.of_county("321311"), friday, 2), datetime!(2026-02-24 17:30 +8));
        // Sucheng gave 02-24 off as well: Wednesday 02-25.
        assert_eq!(due(calendars.of_county("321302"), friday, 2), datetime!(2026-02-25 17:30 +8));
        let summary = calendars.summary();
        assert_eq!(summary[1].counties, ["321302"]);
        assert!(summary[0].default && !summary[1].default);
    }

    #[test]
    fn a_calendar_named_like_its_base_extends_it_into_later_years() {
        let file = r#"
            [[calendar]]
            name = "national"
            base = "national"
            years = [2027]
            days_off = ["2027-01-01"]
            make_up_workdays = ["2027-01-02"]
        "#;
        let calendars = Calendars::from_toml(file).unwrap();
        let national = calendars.named("national").unwrap();
        assert!(!national.is_working_day(time::macros::date!(2027 - 01 - 01)));
        assert!(national.is_working_day(time::macros::date!(2027 - 01 - 02)));
        // 2026 is still known: Friday 09-18 + 2 working days is Monday 09-21 (Sunday 09-20 worked).
        assert_eq!(due(national, datetime!(2026-09-18 10:00 +8), 2), datetime!(2026-09-21 17:30 +8));
        let warned = national.due(
            datetime!(2027-12-30 10:00 +8).unix_timestamp() * 1000,
            Limit { amount: 2, unit: TimeUnit::WorkingDays },
        );
        assert!(warned.warning.is_some(), "2028 is still past what it knows");
    }

    #[test]
    fn every_problem_of_a_file_is_reported() {
        let file = r#"
            default = "nowhere"
            [[calendar]]
            name = "a"
            base = "missing"
            [[calendar]]
            name = "b"
            years = [2026, 2028]
            counties = ["32130", "321302", "321311", "321311"]
            duty = ["12:00-08:00", "nine-ten"]
            days_off = ["2026-13-01", "2026-05-05..2026-05-01"]
            [[calendar]]
            name = "c"
            base = "national"
            counties = ["321302"]
            make_up_workdays = ["2026-01-01"]
            [[calendar]]
            name = "d"
            base = "national"
            counties = ["321302"]
        "#;
        let CalendarsError::Invalid(problems) = Calendars::from_toml(file).unwrap_err() else { panic!() };
        let text = problems.join("\n");
        for expected in [
            "calendar \"a\": base \"missing\"",
            "\"nine-ten\" is not HH:MM-HH:MM",
            "\"2026-13-01\" is not a date",
            "\"2026-05-05..2026-05-01\" must run forwards",
            "\"32130\" is not a 6-digit county code",
            "leave a gap",
            "2026-01-01 is listed both as a day off and as a make-up working day",
            "county 321302 is named by calendar \"c\" too",
            "calendar \"b\": county 321311 is named twice",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(matches!(Calendars::from_toml("calendar = 3"), Err(CalendarsError::Toml(_))));
        assert!(matches!(Calendars::from_toml("colour = \"red\""), Err(CalendarsError::Toml(_))));
        let CalendarsError::Invalid(problems) = Calendars::from_toml("default = \"x\"").unwrap_err() else { panic!() };
        assert_eq!(problems, ["default \"x\" is not a calendar"]);
    }
}

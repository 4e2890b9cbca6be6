//! How long the calendars in force still know the holidays, so that operators are warned in
//! time. A calendar knows whole years; past its last one, deadlines count plain
//! Monday–Friday weeks (see the module above), which is wrong around every holiday. The
//! State Council announces a year's arrangement only weeks before it starts, so the server
//! says — at start in the log, in `/healthz` and as the metric
//! `gridlink_calendar_days_left{calendar="…"}` — when a calendar some county counts by ends
//! within [`WARN_WITHIN_DAYS`] days of the server's clock (or has ended), naming the
//! counties and what to add to the calendars file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodata::Level;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};
use serde::Serialize;
use time::Date;

use super::Calendars;
use crate::clock::Clock;
use crate::geo::Geo;

/// A calendar ending this many days from today, or fewer, is warned about.
pub const WARN_WITHIN_DAYS: i64 = 60;

/// The `kind` of the warning in `/healthz`.
pub const ENDS_SOON: &str = "calendar-ends-soon";

/// How long one calendar in force still knows the holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Horizon {
    /// The calendar's name.
    pub calendar: String,
    /// The counties that count by it: those it names, or for the default the grid layer's
    /// counties no calendar names.
    pub counties: Vec<String>,
    /// Whether it is the default (every county no calendar names counts by it).
    pub default: bool,
    /// The last day of the last year it knows.
    pub last_day: Date,
    /// Days from today to that last day: 0 on the last day itself, negative past it.
    pub days_left: i64,
    /// Whether its last definition is in the calendars file (extended there by adding a year
    /// to it) rather than only shipped (extended by a calendar of the same name and base).
    pub in_file: bool,
}

impl Calendars {
    /// Every calendar some county counts by (those naming counties, and the default), with
    /// its days left on `today` (a local date, Asia/Shanghai). `layer_counties` are the grid
    /// layer's counties, to say which of them the default covers.
    pub fn horizons(&self, today: Date, layer_counties: &[String]) -> Vec<Horizon> {
        self.summary()
            .into_iter()
            .zip(&self.calendars)
            .filter(|(summary, _)| summary.default || !summary.counties.is_empty())
            .filter_map(|(summary, (_, calendar))| {
                let last_day = calendar.last_day()?;
                let counties = if summary.default {
                    layer_counties.iter().filter(|c| !self.by_county.contains_key(*c)).cloned().collect()
                } else {
                    summary.counties
                };
                Some(Horizon {
                    in_file: self.in_file.contains(&summary.name),
                    calendar: summary.name,
                    counties,
                    default: summary.default,
                    last_day,
                    days_left: (last_day - today).whole_days(),
                })
            })
            .collect()
    }

    /// The calendars in force whose last known day is at most `within_days` after `today`,
    /// including those already past it.
    pub fn ending_within(&self, today: Date, within_days: i64, layer_counties: &[String]) -> Vec<Horizon> {
        self.horizons(today, layer_counties).into_iter().filter(|h| h.days_left <= within_days).collect()
    }
}

impl Horizon {
    /// What an operator adds, and where: the keys of the calendars file for the year after
    /// the last one known. `file` is the calendars file in use, if one is set.
    pub fn to_add(&self, file: Option<&Path>) -> String {
        let next = self.last_day.year() + 1;
        let place = match file {
            Some(path) => format!("the calendars file {}", path.display()),
            None => "a calendars file (none is set: name one with `calendars` in the settings file, \
                     --calendars FILE or GRIDLINK_CALENDARS)"
                .to_owned(),
        };
        let name = &self.calendar;
        if self.in_file {
            format!(
                "{place}: add {next} to `years` of the [[calendar]] named {name:?}, and {next}'s dates to its \
                 `days_off` and `make_up_workdays`"
            )
        } else {
            format!(
                "{place}: a [[calendar]] with name = {name:?}, base = {name:?}, years = [{next}], and {next}'s \
                 `days_off` and `make_up_workdays`"
            )
        }
    }
}

/// One warning of `/healthz`: a calendar in force that ends soon or has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CalendarWarning {
    /// Always `calendar-ends-soon`.
    pub kind: String,
    /// The calendar's name.
    pub calendar: String,
    /// The counties that count by it (for the default: the grid layer's counties no
    /// calendar names).
    pub counties: Vec<String>,
    /// Whether it is the default calendar, for every county no calendar names.
    pub default: bool,
    /// Its last known day, `YYYY-MM-DD`.
    pub last_day: String,
    /// Days from today to that day: 0 on it, negative past it (Monday–Friday count then).
    pub days_left: i64,
    /// What to add to the calendars file, and where.
    pub add: String,
}

/// What the server checks its calendars against: the calendars, the file they came from,
/// the server's clock (a test clock in tests) and the grid layer (its counties).
#[derive(Clone)]
pub struct CalendarWatch {
    calendars: Arc<Calendars>,
    file: Option<PathBuf>,
    clock: Clock,
    geo: Geo,
}

impl CalendarWatch {
    /// A watch over these calendars, read from `file` (if one is set).
    pub fn new(calendars: Arc<Calendars>, file: Option<PathBuf>, clock: Clock, geo: Geo) -> CalendarWatch {
        CalendarWatch { calendars, file, clock, geo }
    }

    fn horizons(&self) -> Vec<Horizon> {
        let layer = self.geo.layer();
        let counties: Vec<String> =
            layer.units().filter(|u| u.level() == Level::County).map(|u| u.code.to_string()).collect();
        self.calendars.horizons(super::local_date(self.clock.now_ms()), &counties)
    }

    /// The calendars in force that end within [`WARN_WITHIN_DAYS`] days, or have ended.
    pub fn warnings(&self) -> Vec<CalendarWarning> {
        self.horizons()
            .into_iter()
            .filter(|h| h.days_left <= WARN_WITHIN_DAYS)
            .map(|h| CalendarWarning {
                kind: ENDS_SOON.to_owned(),
                add: h.to_add(self.file.as_deref()),
                last_day: h.last_day.to_string(),
                calendar: h.calendar,
                counties: h.counties,
                default: h.default,
                days_left: h.days_left,
            })
            .collect()
    }

    /// The gauge `gridlink_calendar_days_left{calendar}`, read afresh at every scrape.
    pub fn gauge(&self) -> Result<DaysLeftGauge, prometheus::Error> {
        let opts = Opts::new(
            "calendar_days_left",
            "Days until the last day a calendar in force knows the holidays of (negative past it)",
        )
        .namespace("gridlink");
        Ok(DaysLeftGauge { watch: self.clone(), gauge: IntGaugeVec::new(opts, &["calendar"])? })
    }
}

/// The days-left gauge: a collector that reads the calendars at each scrape, since the days
/// left change with the clock and not with any event the server sees.
pub struct DaysLeftGauge {
    watch: CalendarWatch,
    gauge: IntGaugeVec,
}

impl Collector for DaysLeftGauge {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.gauge.reset();
        for h in self.watch.horizons() {
            self.gauge.with_label_values(&[h.calendar.as_str()]).set(h.days_left);
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use time::macros::date;

    use super::*;

    fn names(horizons: &[Horizon]) -> Vec<(&str, i64)> {
        horizons.iter().map(|h| (h.calendar.as_str(), h.days_left)).collect()
    }

    #[test]
    fn the_shipped_calendar_ends_within_60_days_from_mid_november_2026() {
        let shipped = Calendars::shipped();
        let layer = ["321302".to_owned(), "321311".to_owned()];
        let ending = shipped.ending_within(date!(2026 - 11 - 15), WARN_WITHIN_DAYS, &layer);
        assert_eq!(names(&ending), [("national", 46)]);
        let national = &ending[0];
        assert_eq!((national.last_day, national.default, national.in_file), (date!(2026 - 12 - 31), true, false));
        assert_eq!(national.counties, layer, "the default names the layer's counties");
        // 61 days before the end: not yet; 60 days: yes; the last day itself and after: yes.
        assert!(shipped.ending_within(date!(2026 - 10 - 31), WARN_WITHIN_DAYS, &layer).is_empty());
        assert_eq!(names(&shipped.ending_within(date!(2026 - 11 - 01), WARN_WITHIN_DAYS, &layer)), [("national", 60)]);
        assert_eq!(names(&shipped.ending_within(date!(2026 - 12 - 31), WARN_WITHIN_DAYS, &layer)), [("national", 0)]);
        assert_eq!(names(&shipped.ending_within(date!(2027 - 01 - 10), WARN_WITHIN_DAYS, &layer)), [("national", -10)]);
        assert!(shipped.ending_within(date!(2026 - 06 - 01), WARN_WITHIN_DAYS, &layer).is_empty());
    }

    #[test]
    fn each_calendar_in_force_is_judged_by_its_own_years() {
        let file = r#"
            [[calendar]]
            name = "sucheng"
            base = "national"
            counties = ["321302"]
            days_off = ["2026-07-15"]

            [[calendar]]
            name = "national"
            base = "national"
            years = [2027]
            days_off = ["2027-01-01"]

            [[calendar]]
            name = "unused"
            base = "national"
        "#;
        let calendars = Calendars::from_toml(file).unwrap();
        let layer = ["321302".to_owned(), "321311".to_owned()];
        let ending = calendars.ending_within(date!(2026 - 11 - 15), 60, &layer);
        // Sucheng took national's 2026 before the file extended national; nobody counts by "unused".
        assert_eq!(names(&ending), [("sucheng", 46)]);
        assert_eq!(ending[0].counties, ["321302"]);
        assert!(ending[0].in_file && !ending[0].default);
        let all = calendars.horizons(date!(2026 - 11 - 15), &layer);
        assert_eq!(names(&all), [("sucheng", 46), ("national", 411)]);
        assert_eq!(all[1].counties, ["321311"], "the default covers the counties no calendar names");
    }

    #[test]
    fn the_hint_names_the_keys_and_the_file() {
        let shipped = Calendars::shipped();
        let national = shipped.ending_within(date!(2026 - 12 - 01), 60, &[]).pop().unwrap();
        let hint = national.to_add(None);
        for expected in ["name = \"national\", base = \"national\", years = [2027]", "days_off", "make_up_workdays"] {
            assert!(hint.contains(expected), "{expected:?} missing from {hint}");
        }
        assert!(hint.contains("--calendars FILE") && hint.contains("`calendars`"), "{hint}");
        let hint = Horizon { in_file: true, ..national }.to_add(Some(Path::new("/etc/gridlink/calendars.toml")));
        assert!(hint.contains("/etc/gridlink/calendars.toml") && hint.contains("add 2027 to `years`"), "{hint}");
    }
}

//! Where a case should go (docs/domain.md, "Five levels" and "Incident domains"): the rules
//! that propose a level and a target from the case's category, severity and place, and
//! the duty roster they consult. Pure: plain data in, a [`Suggestion`] out.
//!
//! - Emergencies of grades I–III go straight to the county centre, and the city is told.
//! - A grid-level category goes to the grid's worker on duty (by the roster); with nobody
//!   on duty, to the community; its department, if it has one, is told. A worker's own
//!   finding of a category a worker may handle alone (自行处置) goes back to that worker.
//! - Another category with a responsible department goes to that department, and the
//!   unit of the level that normally handles the category is told.
//! - Anything else goes to the centre of the level that normally handles the category.
//!
//! The rules act on their own ([`Suggestion::automatic`]) only for a worker's own finding,
//! a category marked to dispatch automatically (filed by the hotline), and an emergency's
//! escalation; otherwise — and always for a resident's
//! own report, which docs/contract.md has open as `reported` for a centre to accept — the case
//! waits in the queue of the lowest centre on its chain (the township's), with the
//! suggestion beside it. [`dispatch`] carries the acting out.

pub mod dispatch;
pub mod load;
pub mod positions;
pub mod roster;
pub mod routes;

pub use crate::categories::Severity;
use crate::categories::{Category, Domain};
use crate::clock::SHANGHAI_MS;
use crate::incidents::workflow::{Target, UserId};

/// Who reported the case, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A resident (the app, an Open311 client), or a desk filing on a resident's behalf: the
    /// report waits in the township's queue whatever its category, unless it is a grave
    /// emergency.
    Resident,
    /// The hotline (12345) filing a call: an intake desk whose filings the rules dispatch
    /// when the category is marked to.
    Hotline,
    /// A grid worker's own finding on patrol.
    Worker(UserId),
    /// A registered sensor's alarm (物联感知): a trusted intake at a fixed place, whose
    /// case the rules dispatch when the category is marked to, as the hotline's.
    Sensor,
}

/// The codes of a case's place, from the city down to the grid (as the index gives them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    /// City, county, township, community and grid codes, where known.
    pub codes: [Option<String>; 5],
}

impl Chain {
    /// The chain of a case's place (city, county, township, community, grid); an empty code
    /// is not known.
    pub fn of(place: &[String; 5]) -> Chain {
        Chain { codes: place.clone().map(|c| Some(c).filter(|c| !c.is_empty())) }
    }

    /// The code at `level` (1 city … 5 grid).
    pub fn at(&self, level: u8) -> Option<&str> {
        self.codes.get(usize::from(level.checked_sub(1)?))?.as_deref()
    }
}

/// A proposal for where a case should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// Where to dispatch it.
    pub target: Target,
    /// The level of that target (1 city … 5 grid; a department counts at its unit's level).
    pub level: u8,
    /// Units told about it without being sent it (codes).
    pub notify: Vec<String>,
    /// Whether the rules act without waiting for a person: they dispatch it or, with
    /// `escalates`, move it into the queue of the target's centre.
    pub automatic: bool,
    /// Whether acting means escalating (上报) to the target's centre rather than dispatching:
    /// a grave emergency goes to the county centre, which commands the response.
    pub escalates: bool,
    /// Which rule chose it, for the desk to show.
    pub rule: &'static str,
}

/// One stretch of a worker's duty in the roster: on `weekdays` (bit 0 Monday … bit 6
/// Sunday), from `from_min` to `to_min` minutes after local midnight (Asia/Shanghai);
/// `to_min` below `from_min` runs past midnight into the next day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The grid the worker covers.
    pub grid: String,
    /// The worker.
    pub user: UserId,
    /// Days of the week, bit 0 Monday.
    pub weekdays: u8,
    /// Start, minutes after midnight.
    pub from_min: u16,
    /// End, minutes after midnight.
    pub to_min: u16,
}

impl Shift {
    /// Whether the shift covers the instant `at_ms` (Unix ms).
    pub fn covers(&self, at_ms: i64) -> bool {
        let local = at_ms + SHANGHAI_MS;
        let day = local.div_euclid(86_400_000);
        let minute = u16::try_from(local.rem_euclid(86_400_000) / 60_000).unwrap_or(0);
        // 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
        let weekday = |d: i64| (d + 3).rem_euclid(7) as u8;
        let on = |d: i64| self.weekdays & (1 << weekday(d)) != 0;
        if self.from_min <= self.to_min {
            on(day) && (self.from_min..self.to_min).contains(&minute)
        } else {
            // Overnight: the evening belongs to today's shift, the small hours to yesterday's.
            (on(day) && minute >= self.from_min) || (on(day - 1) && minute < self.to_min)
        }
    }
}

/// The worker on duty in `grid` at `at_ms`: the first in the roster's order whose shift
/// covers it.
pub fn on_duty(roster: &[Shift], grid: &str, at_ms: i64) -> Option<UserId> {
    roster.iter().find(|s| s.grid == grid && s.covers(at_ms)).map(|s| s.user)
}

/// The rules' proposal for a case; `on_duty` is the grid's worker on duty now, if any.
pub fn suggest(
    category: &Category,
    severity: Option<Severity>,
    chain: &Chain,
    source: Source,
    on_duty: Option<UserId>,
) -> Option<Suggestion> {
    let unit = |level: u8| chain.at(level).map(str::to_owned);
    if category.domain == Domain::Emergency && severity.is_some_and(|s| s <= Severity::III) {
        return Some(Suggestion {
            target: Target::Unit(unit(2)?),
            level: 2,
            notify: unit(1).into_iter().collect(),
            automatic: true,
            escalates: true,
            rule: "emergency-to-county",
        });
    }
    let own = match source {
        Source::Worker(_) => true,
        Source::Hotline => category.auto_dispatch,
        Source::Resident => false,
        Source::Sensor => category.auto_dispatch,
    };
    if category.level >= 5 {
        // The department responsible hears of grid-level work; the grid does it.
        let notify: Vec<String> = category.department.iter().cloned().collect();
        if let Source::Worker(worker) = source
            && category.self_handle
        {
            return Some(Suggestion {
                target: Target::User(worker),
                level: 5,
                notify,
                automatic: true,
                escalates: false,
                rule: "self-handle",
            });
        }
        return Some(match on_duty {
            Some(worker) => Suggestion {
                target: Target::User(worker),
                level: 5,
                notify,
                automatic: own,
                escalates: false,
                rule: "on-duty",
            },
            None => Suggestion {
                target: Target::Unit(unit(4)?),
                level: 4,
                notify,
                automatic: own,
                escalates: false,
                rule: "nobody-on-duty",
            },
        });
    }
    if let Some(department) = &category.department {
        let level = category.level.clamp(1, 4);
        return Some(Suggestion {
            target: Target::Department(department.clone()),
            level,
            notify: unit(level).into_iter().collect(),
            automatic: own,
            escalates: false,
            rule: "department",
        });
    }
    let level = category.level.clamp(1, 4);
    Some(Suggestion {
        target: Target::Unit(unit(level)?),
        level,
        notify: Vec::new(),
        automatic: own,
        escalates: false,
        rule: "level",
    })
}

/// The unit whose queue a case waits in while no rule dispatches it: the lowest centre on
/// its chain (the township's, else the county's).
pub fn queue_of(chain: &Chain) -> Option<&str> {
    chain.at(3).or_else(|| chain.at(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::categories::CategoryTree;
    use uuid::Uuid;

    fn chain() -> Chain {
        Chain {
            codes: ["321300", "321302", "321302001", "321302001001", "321302001001001"].map(|c| Some(c.to_owned())),
        }
    }

    fn category(f: impl Fn(&Category) -> bool) -> Category {
        let tree = CategoryTree::default_tree().unwrap();
        tree.categories().find(|c| f(c)).cloned().unwrap()
    }

    /// 2026-11-23 (a Monday) at hh:mm in Shanghai, as Unix ms.
    fn monday(hh: i64, mm: i64) -> i64 {
        1_795_363_200_000 + (hh * 60 + mm) * 60_000
    }

    #[test]
    fn shifts_cover_their_days_and_hours_even_past_midnight() {
        let user = Uuid::from_u128(1);
        let day = Shift { grid: "g".into(), user, weekdays: 0b001_1111, from_min: 8 * 60 + 30, to_min: 17 * 60 + 30 };
        assert!(day.covers(monday(8, 30)) && day.covers(monday(17, 29)));
        assert!(!day.covers(monday(17, 30)) && !day.covers(monday(8, 29)));
        assert!(!day.covers(monday(10, 0) - 86_400_000), "Sunday is off");
        let night = Shift { weekdays: 0b000_0001, from_min: 22 * 60, to_min: 6 * 60, ..day.clone() };
        assert!(night.covers(monday(23, 0)) && night.covers(monday(23, 0) + 6 * 3_600_000));
        assert!(!night.covers(monday(3, 0)), "Monday's small hours belong to Sunday's night");
        let roster = [night.clone(), Shift { user: Uuid::from_u128(2), ..day.clone() }];
        assert_eq!(on_duty(&roster, "g", monday(9, 0)), Some(Uuid::from_u128(2)));
        assert_eq!(on_duty(&roster, "g", monday(23, 0)), Some(user));
        assert_eq!(on_duty(&roster, "other", monday(9, 0)), None);
    }

    #[test]
    fn grid_categories_go_to_the_worker_on_duty_or_the_community() {
        let grid_level = category(|c| c.level == 5);
        let worker = Uuid::from_u128(7);
        let s = suggest(&grid_level, None, &chain(), Source::Resident, Some(worker)).unwrap();
        assert_eq!((s.target, s.level, s.rule), (Target::User(worker), 5, "on-duty"));
        assert!(!s.automatic, "a resident's report waits for a person");
        let s = suggest(&grid_level, None, &chain(), Source::Hotline, Some(worker)).unwrap();
        assert_eq!(s.automatic, grid_level.auto_dispatch);
        assert_eq!(s.notify, grid_level.department.iter().cloned().collect::<Vec<_>>());
        let s = suggest(&grid_level, None, &chain(), Source::Resident, None).unwrap();
        assert_eq!((s.target, s.level), (Target::Unit("321302001001".into()), 4));
    }

    #[test]
    fn a_workers_own_finding_is_dispatched_on_its_own() {
        let finder = Uuid::from_u128(9);
        if let Some(alone) = CategoryTree::default_tree().unwrap().categories().find(|c| c.level == 5 && c.self_handle)
        {
            let s = suggest(alone, None, &chain(), Source::Worker(finder), None).unwrap();
            assert_eq!((s.target, s.automatic), (Target::User(finder), true));
        }
        let other = category(|c| c.department.is_some() && c.level < 5 && c.domain != Domain::Emergency);
        let s = suggest(&other, None, &chain(), Source::Worker(finder), None).unwrap();
        assert!(s.automatic && matches!(s.target, Target::Department(_)));
        let s = suggest(&other, None, &chain(), Source::Hotline, None).unwrap();
        assert_eq!(s.automatic, other.auto_dispatch);
        assert!(!suggest(&other, None, &chain(), Source::Resident, None).unwrap().automatic);
        assert_eq!(s.notify, [chain().at(other.level.clamp(1, 4)).unwrap().to_owned()]);
    }

    #[test]
    fn grave_emergencies_go_to_the_county_and_the_city_is_told() {
        let emergency = category(|c| c.domain == Domain::Emergency);
        for grade in [Severity::I, Severity::II, Severity::III] {
            let s = suggest(&emergency, Some(grade), &chain(), Source::Resident, None).unwrap();
            assert_eq!((s.target, s.level, s.automatic, s.escalates), (Target::Unit("321302".into()), 2, true, true));
            assert_eq!(s.notify, ["321300"]);
        }
        let s = suggest(&emergency, Some(Severity::IV), &chain(), Source::Resident, None).unwrap();
        assert_ne!(s.rule, "emergency-to-county");
    }

    #[test]
    fn a_sensors_alarm_is_dispatched_on_its_own_only_where_the_category_says() {
        let tree = CategoryTree::default_tree().unwrap();
        for c in tree.categories().filter(|c| c.domain != Domain::Emergency) {
            let s = suggest(c, None, &chain(), Source::Sensor, None).unwrap();
            assert_eq!(s.automatic, c.auto_dispatch, "{}", c.code);
            assert_ne!(s.rule, "self-handle", "a sensor handles nothing itself");
        }
        let marked = category(|c| c.auto_dispatch && c.level == 5);
        assert!(suggest(&marked, None, &chain(), Source::Sensor, None).unwrap().automatic);
        let unmarked = category(|c| !c.auto_dispatch && c.level == 5);
        let s = suggest(&unmarked, None, &chain(), Source::Sensor, None).unwrap();
        assert!(!s.automatic, "it waits in the township's queue, as a resident's report does");
    }

    #[test]
    fn a_case_outside_any_known_place_gets_no_suggestion() {
        let grid_level = category(|c| c.level == 5);
        assert_eq!(suggest(&grid_level, None, &Chain::default(), Source::Resident, None), None);
        assert_eq!(queue_of(&chain()), Some("321302001"));
        assert_eq!(queue_of(&Chain::default()), None);
    }
}

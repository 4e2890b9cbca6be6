//! From sums to named figures: each count, each rate with its numerator and
//! denominator, the mean and p90 time of each step, and the composite score (综合评价)
//! with the weights a city sets. Plain functions over plain data; docs/statistics.md
//! writes out every formula.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The sums one group of cases adds up to, as the database counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Cases reported in the period.
    pub reported: i64,
    /// Of those, registered (立案).
    pub registered: i64,
    /// Rejected (不予立案, or found void by 核实).
    pub rejected: i64,
    /// Merged into another case.
    pub merged: i64,
    /// Closed now.
    pub closed: i64,
    /// Closed with no step past its limit.
    pub closed_on_time: i64,
    /// Closed after being sent back at least once.
    pub closed_reworked: i64,
    /// Open with the current step past its limit now.
    pub overdue_now: i64,
    /// Rated by the reporter.
    pub rated: i64,
    /// Rated satisfied.
    pub satisfied: i64,
    /// Rated basically satisfied.
    pub basic: i64,
    /// Rated unsatisfied.
    pub unsatisfied: i64,
    /// Self-handled by the grid worker who reported them.
    pub self_handled: i64,
    /// Dispatched.
    pub dispatched: i64,
    /// Dispatched within the 派遣 limit.
    pub dispatched_on_time: i64,
    /// Handled (lead task completed).
    pub handled: i64,
    /// Handled within the 处置 limit.
    pub handled_on_time: i64,
    /// Extensions granted.
    pub extensions: i64,
    /// Times parked.
    pub parks: i64,
}

impl Sums {
    /// The sums of two disjoint groups together.
    pub fn add(&mut self, other: &Sums) {
        let Sums {
            reported,
            registered,
            rejected,
            merged,
            closed,
            closed_on_time,
            closed_reworked,
            overdue_now,
            rated,
            satisfied,
            basic,
            unsatisfied,
            self_handled,
            dispatched,
            dispatched_on_time,
            handled,
            handled_on_time,
            extensions,
            parks,
        } = other;
        self.reported += reported;
        self.registered += registered;
        self.rejected += rejected;
        self.merged += merged;
        self.closed += closed;
        self.closed_on_time += closed_on_time;
        self.closed_reworked += closed_reworked;
        self.overdue_now += overdue_now;
        self.rated += rated;
        self.satisfied += satisfied;
        self.basic += basic;
        self.unsatisfied += unsatisfied;
        self.self_handled += self_handled;
        self.dispatched += dispatched;
        self.dispatched_on_time += dispatched_on_time;
        self.handled += handled;
        self.handled_on_time += handled_on_time;
        self.extensions += extensions;
        self.parks += parks;
    }
}

/// The steps whose time is measured, in the order of the loop.
pub const STEPS: [&str; 4] = ["accept", "dispatch", "handle", "verify"];

/// How long each step took in one group, in ms, one list per step of [`STEPS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durations(pub [Vec<i64>; 4]);

impl Durations {
    /// Adds another group's durations.
    pub fn extend(&mut self, other: &Durations) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            mine.extend_from_slice(theirs);
        }
    }
}

/// Per-person sums of a grid worker's other roles: reports filed, 核实 answered, 核查 decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    /// Cases they reported.
    pub reports: i64,
    /// Of those, registered (a valid report, 有效上报).
    pub valid_reports: i64,
    /// 核实 tasks they answered.
    pub confirmations: i64,
    /// Of those, within the limit.
    pub confirmations_on_time: i64,
    /// 核查 they decided.
    pub verifications: i64,
    /// Of those, within the limit.
    pub verifications_on_time: i64,
}

/// One figure: a count (`value` only), a rate (`numerator / denominator`, `value` null
/// when the denominator is 0), or a time in hours (a mean: total hours over the cases
/// timed; a p90: the cases timed as the denominator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figure {
    /// The figure's value.
    pub value: Option<f64>,
    /// Its numerator, for a rate or a mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numerator: Option<f64>,
    /// Its denominator, for a rate, a mean or a p90.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator: Option<i64>,
}

fn count(n: i64) -> Figure {
    Figure { value: Some(n as f64), numerator: None, denominator: None }
}

fn rate(numerator: i64, denominator: i64) -> Figure {
    let value = (denominator > 0).then(|| round(numerator as f64 / denominator as f64, 4));
    Figure { value, numerator: Some(numerator as f64), denominator: Some(denominator) }
}

fn round(v: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (v * scale).round() / scale
}

const HOUR_MS: f64 = 3_600_000.0;

/// The p90 of `values` (nearest rank: the smallest value with at least 90 % of the values
/// at or below it), or none when empty.
pub fn p90(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    let rank = (sorted.len() * 9).div_ceil(10).max(1) - 1;
    let (_, nth, _) = sorted.select_nth_unstable(rank);
    Some(*nth)
}

/// The figures of a group, by name.
pub type Figures = BTreeMap<&'static str, Figure>;

/// The names of the step times, per step of [`STEPS`]: mean, then p90.
const STEP_NAMES: [(&str, &str); 4] = [
    ("accept_hours_mean", "accept_hours_p90"),
    ("dispatch_hours_mean", "dispatch_hours_p90"),
    ("handle_hours_mean", "handle_hours_p90"),
    ("verify_hours_mean", "verify_hours_p90"),
];

/// Every figure of a group, by name (docs/statistics.md).
pub fn figures(sums: &Sums, times: &Durations, roles: Option<&Roles>) -> Figures {
    let mut out = BTreeMap::new();
    let mut put = |name: &'static str, figure: Figure| {
        out.insert(name, figure);
    };
    put("reported", count(sums.reported));
    put("registered", count(sums.registered));
    put("rejected", count(sums.rejected));
    put("merged", count(sums.merged));
    put("closed", count(sums.closed));
    put("closure_rate", rate(sums.closed, sums.registered));
    put("on_time_closure_rate", rate(sums.closed_on_time, sums.registered));
    put("rework_rate", rate(sums.closed_reworked, sums.closed));
    put("overdue_now", count(sums.overdue_now));
    put("rated", count(sums.rated));
    put("satisfaction_rate", rate(sums.satisfied, sums.rated));
    put("basic_satisfaction_rate", rate(sums.satisfied + sums.basic, sums.rated));
    put("unsatisfied", count(sums.unsatisfied));
    put("self_handled_share", rate(sums.self_handled, sums.registered));
    put("on_time_dispatch_rate", rate(sums.dispatched_on_time, sums.dispatched));
    put("on_time_handling_rate", rate(sums.handled_on_time, sums.handled));
    put("extensions", count(sums.extensions));
    put("parked", count(sums.parks));
    for ((mean_name, p90_name), values) in STEP_NAMES.iter().zip(&times.0) {
        let n = values.len() as i64;
        let total_h = values.iter().sum::<i64>() as f64 / HOUR_MS;
        let mean = (n > 0).then(|| round(total_h / n as f64, 2));
        put(mean_name, Figure { value: mean, numerator: Some(round(total_h, 2)), denominator: Some(n) });
        let p = p90(values).map(|ms| round(ms as f64 / HOUR_MS, 2));
        put(p90_name, Figure { value: p, numerator: None, denominator: Some(n) });
    }
    if let Some(roles) = roles {
        put("valid_report_rate", rate(roles.valid_reports, roles.reports));
        put("on_time_confirmation_rate", rate(roles.confirmations_on_time, roles.confirmations));
        put("on_time_verification_rate", rate(roles.verifications_on_time, roles.verifications));
    }
    out
}

/// How a city weighs the figures into one score (综合评价), and the smallest sample
/// ranked. From the `[stats]` table of the settings file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreSettings {
    /// Below this many registered cases a group's figures are given but not ranked.
    pub min_sample: i64,
    /// Figure name → weight. A rate where lower is better (`rework_rate`) counts as one
    /// minus itself.
    pub weights: BTreeMap<String, f64>,
}

impl Default for ScoreSettings {
    fn default() -> ScoreSettings {
        let weights = [
            ("on_time_closure_rate", 0.30),
            ("closure_rate", 0.20),
            ("satisfaction_rate", 0.20),
            ("rework_rate", 0.15),
            ("on_time_dispatch_rate", 0.15),
        ];
        ScoreSettings { min_sample: 10, weights: weights.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() }
    }
}

/// The rates where lower is better.
const LOWER_IS_BETTER: [&str; 1] = ["rework_rate"];

/// The rates a score may weigh.
pub const WEIGHABLE: [&str; 11] = [
    "closure_rate",
    "on_time_closure_rate",
    "rework_rate",
    "satisfaction_rate",
    "basic_satisfaction_rate",
    "self_handled_share",
    "on_time_dispatch_rate",
    "on_time_handling_rate",
    "valid_report_rate",
    "on_time_confirmation_rate",
    "on_time_verification_rate",
];

impl ScoreSettings {
    /// Refuses weights on figures that are not rates, and negative or all-zero weights.
    pub fn check(&self) -> Result<(), String> {
        if let Some(name) = self.weights.keys().find(|k| !WEIGHABLE.contains(&k.as_str())) {
            return Err(format!("stats.weights: {name:?} is not a rate a score may weigh ({})", WEIGHABLE.join(", ")));
        }
        if self.weights.values().any(|w| !w.is_finite() || *w < 0.0) || self.weights.values().sum::<f64>() <= 0.0 {
            return Err("stats.weights: each weight 0 or more, and at least one above 0".into());
        }
        if self.min_sample < 1 {
            return Err("stats.min_sample: at least 1".into());
        }
        Ok(())
    }

    /// The score of a group (0–100): the weighted mean of its weighed rates that have a
    /// value, lower-is-better ones turned round; none when no weighed rate has one.
    pub fn score(&self, figures: &Figures) -> Option<f64> {
        let (mut total, mut weight) = (0.0, 0.0);
        for (name, w) in &self.weights {
            let Some(value) = figures.get(name.as_str()).and_then(|f| f.value) else { continue };
            let good = if LOWER_IS_BETTER.contains(&name.as_str()) { 1.0 - value } else { value };
            total += w * good;
            weight += w;
        }
        (weight > 0.0).then(|| round(100.0 * total / weight, 2))
    }
}

/// A group's place in the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Score {
    /// The composite score, 0–100.
    pub value: Option<f64>,
    /// The registered cases it rests on.
    pub sample: i64,
    /// Its rank (1 is best; equal scores share a rank); none below the minimum sample.
    pub rank: Option<usize>,
}

/// Ranks the scores: those with a value and a sample of at least `min_sample`, best
/// first, equal scores sharing a rank (1, 2, 2, 4).
pub fn rank(scores: &mut [Score], min_sample: i64) {
    let mut ranked: Vec<(usize, f64)> = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.value.filter(|_| s.sample >= min_sample).map(|v| (i, v)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut last: Option<(f64, usize)> = None;
    for (place, (i, v)) in ranked.iter().enumerate() {
        let rank = match last {
            Some((prev, r)) if prev == *v => r,
            _ => place + 1,
        };
        scores[*i].rank = Some(rank);
        last = Some((*v, rank));
    }
    for score in scores.iter_mut().filter(|s| s.sample < min_sample) {
        score.rank = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_names_its_parts_and_has_no_value_over_nothing() {
        assert_eq!(rate(3, 4), Figure { value: Some(0.75), numerator: Some(3.0), denominator: Some(4) });
        assert_eq!(rate(0, 0).value, None);
        assert_eq!(rate(1, 3).value, Some(0.3333));
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        assert_eq!(p90(&[]), None);
        assert_eq!(p90(&[5]), Some(5));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(p90(&ten), Some(9));
        let eleven: Vec<i64> = (1..=11).rev().collect();
        assert_eq!(p90(&eleven), Some(10));
    }

    #[test]
    fn the_figures_follow_their_formulas() {
        let sums = Sums {
            reported: 10,
            registered: 8,
            closed: 6,
            closed_on_time: 4,
            closed_reworked: 3,
            rated: 5,
            satisfied: 2,
            basic: 2,
            self_handled: 2,
            ..Sums::default()
        };
        let times = Durations([vec![3_600_000, 7_200_000], vec![], vec![], vec![]]);
        let f = figures(&sums, &times, None);
        assert_eq!(f["closure_rate"].value, Some(0.75));
        assert_eq!(f["on_time_closure_rate"].value, Some(0.5));
        assert_eq!(f["rework_rate"].value, Some(0.5));
        assert_eq!(f["satisfaction_rate"].value, Some(0.4));
        assert_eq!(f["basic_satisfaction_rate"].value, Some(0.8));
        assert_eq!(f["self_handled_share"].value, Some(0.25));
        assert_eq!((f["accept_hours_mean"].value, f["accept_hours_mean"].denominator), (Some(1.5), Some(2)));
        assert_eq!(f["accept_hours_p90"].value, Some(2.0));
        assert_eq!(f["dispatch_hours_mean"].value, None);
        assert!(!f.contains_key("valid_report_rate"));
    }

    #[test]
    fn a_score_weighs_the_rates_present_and_turns_rework_round() {
        let settings = ScoreSettings {
            min_sample: 10,
            weights: [("closure_rate".to_owned(), 1.0), ("rework_rate".to_owned(), 1.0)].into(),
        };
        let sums = Sums { registered: 10, closed: 10, closed_reworked: 2, ..Sums::default() };
        let f = figures(&sums, &Durations::default(), None);
        assert_eq!(settings.score(&f), Some(90.0)); // (1.0 + 0.8) / 2
        assert_eq!(settings.score(&figures(&Sums::default(), &Durations::default(), None)), None);
        assert!(ScoreSettings::default().check().is_ok());
        let bad = ScoreSettings { weights: [("reported".to_owned(), 1.0)].into(), ..ScoreSettings::default() };
        assert!(bad.check().is_err());
    }

    #[test]
    fn ranks_skip_small_samples_and_share_ties() {
        let s = |value, sample| Score { value: Some(value), sample, rank: None };
        let mut scores = [s(80.0, 20), s(90.0, 5), s(80.0, 30), s(95.0, 12), s(70.0, 10)];
        rank(&mut scores, 10);
        let ranks: Vec<Option<usize>> = scores.iter().map(|s| s.rank).collect();
        assert_eq!(ranks, [Some(2), None, Some(2), Some(1), Some(4)]);
    }
}

//! `GET /api/v1/stats` (the figures of an area and a period, grouped, scored and ranked,
//! as JSON or CSV) and `GET /api/v1/stats/heat` (cases reported per grid, for the heat
//! view). Desks with an area only, within it.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use diesel::prelude::*;
use geodata::{AreaCode, Level};
use serde::{Deserialize, Serialize};

use super::figures::{self, Durations, Figures, Score, ScoreSettings, Sums};
use super::query::{self, By, Scope};
use crate::auth::routes::Authenticated;
use crate::auth::schema::users;
use crate::categories::CategoryTree;
use crate::clock::{Clock, day_start_ms, parse_rfc3339, rfc3339};
use crate::geo::Geo;
use crate::incidents::scope::Viewer;
use crate::problem::ApiError;
use crate::store::Database;

/// The most groups a JSON answer holds unless `limit` says otherwise.
const JSON_GROUPS: usize = 1_000;

/// What to count and how to group it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The period's start (RFC 3339, inclusive); the start of today (Asia/Shanghai) by default.
    from: Option<String>,
    /// The period's end (RFC 3339, exclusive); now by default.
    to: Option<String>,
    /// `area` (the units one level below `area`), `category`, `department`, `handler`,
    /// `day`, `week` or `month`; `area` by default.
    by: Option<String>,
    /// A unit inside the caller's area (by default their own unit).
    area: Option<String>,
    /// Only categories whose code starts with this (a class or a leaf).
    category: Option<String>,
    /// `csv` for CSV (as `Accept: text/csv` asks).
    format: Option<String>,
    /// At most this many groups, the best ranked first (default: all in CSV, 1,000 in
    /// JSON, where a city's workers would otherwise make tens of megabytes).
    limit: Option<usize>,
}

/// One group's figures and score.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// The group's key: a unit, category or department code, a user id, or a period
    /// (`2026-12-06`, `2026-W49`, `2026-12`).
    pub key: String,
    /// Its name.
    pub name: String,
    /// Every figure, by name (docs/statistics.md).
    #[schema(value_type = Object)]
    pub figures: Figures,
    /// The composite score and the group's rank by it.
    pub score: Score,
}

/// The whole scope's figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Total {
    /// Every figure, by name.
    #[schema(value_type = Object)]
    pub figures: Figures,
    /// The composite score (never ranked).
    pub score: Score,
}

/// The area the figures cover.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Covered {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// The figures of a scope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// The period's start.
    pub from: String,
    /// The period's end.
    pub to: String,
    /// How the groups are made.
    pub by: String,
    /// The area (none: everywhere).
    pub area: Option<Covered>,
    /// The category filter, if any.
    pub category: Option<String>,
    /// Below this sample (registered cases) a group is not ranked.
    pub min_sample: i64,
    /// The score's weights, by figure.
    pub weights: BTreeMap<String, f64>,
    /// The groups: ranked ones by rank, then the rest by key (periods in time order);
    /// at most `limit`.
    pub groups: Vec<Group>,
    /// How many groups there are in all (more than `groups` holds when limited).
    pub groups_total: usize,
    /// The whole scope.
    pub total: Total,
}

/// How the caller asked to group, as the route reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grouping {
    Area,
    Category,
    Department,
    Handler,
    Day,
    Week,
    Month,
}

impl Grouping {
    fn parse(raw: &str) -> Result<Grouping, ApiError> {
        Ok(match raw {
            "area" => Grouping::Area,
            "category" => Grouping::Category,
            "department" => Grouping::Department,
            "handler" => Grouping::Handler,
            "day" => Grouping::Day,
            "week" => Grouping::Week,
            "month" => Grouping::Month,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "by {other:?}: area, category, department, handler, day, week or month"
                )));
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Grouping::Area => "area",
            Grouping::Category => "category",
            Grouping::Department => "department",
            Grouping::Handler => "handler",
            Grouping::Day => "day",
            Grouping::Week => "week",
            Grouping::Month => "month",
        }
    }

    fn is_period(self) -> bool {
        matches!(self, Grouping::Day | Grouping::Week | Grouping::Month)
    }
}

/// The period key a local day falls in (`day` is days since 1970-01-01).
fn period_key(grouping: Grouping, day: i64) -> String {
    let Ok(date) = time::Date::from_julian_day(2_440_588 + day as i32) else { return day.to_string() };
    match grouping {
        Grouping::Week => {
            let (year, week, _) = date.to_iso_week_date();
            format!("{year}-W{week:02}")
        }
        Grouping::Month => format!("{}-{:02}", date.year(), u8::from(date.month())),
        _ => format!("{}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
    }
}

/// Whether the caller wants CSV.
fn wants_csv(request: &HttpRequest, format: Option<&str>) -> bool {
    format == Some("csv")
        || request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|part| part.trim().starts_with("text/csv")))
}

/// A CSV field, quoted when it needs to be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// The groups as CSV: one row per group, one column per figure's value, then the score,
/// its sample and rank. Starts with a byte-order mark, so that spreadsheets read the
/// Chinese names as UTF-8.
pub fn csv(groups: &[Group]) -> String {
    let names: Vec<&str> = groups.first().map(|g| g.figures.keys().copied().collect()).unwrap_or_default();
    let mut out = String::from("\u{feff}key,name");
    for name in &names {
        out.push(',');
        out.push_str(name);
    }
    out.push_str(",score,sample,rank\r\n");
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for group in groups {
        out.push_str(&csv_field(&group.key));
        out.push(',');
        out.push_str(&csv_field(&group.name));
        for name in &names {
            out.push(',');
            out.push_str(&number(group.figures.get(name).and_then(|f| f.value)));
        }
        let rank = group.score.rank.map(|r| r.to_string()).unwrap_or_default();
        out.push_str(&format!(",{},{},{rank}\r\n", number(group.score.value), group.score.sample));
    }
    out
}

/// Reads the period: `from` and `to`, or today so far.
fn period(query: &StatsQuery, now_ms: i64) -> Result<(i64, i64), ApiError> {
    let at = |raw: &Option<String>, name: &str, default: i64| match raw {
        None => Ok(default),
        Some(text) => parse_rfc3339(text).ok_or_else(|| {
            ApiError::BadRequest(format!("{name} {text:?}: an RFC 3339 instant, e.g. 2026-12-01T00:00:00+08:00"))
        }),
    };
    let from = at(&query.from, "from", day_start_ms(now_ms))?;
    let to = at(&query.to, "to", now_ms)?;
    if from >= to {
        return Err(ApiError::BadRequest("from must come before to".into()));
    }
    Ok((from, to))
}

/// A category filter: a code of letters and digits.
fn category_filter(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw {
        None => Ok(None),
        Some(code) if !code.is_empty() && code.len() <= 32 && code.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Ok(Some(code.to_owned()))
        }
        Some(code) => Err(ApiError::BadRequest(format!("category {code:?}: a category code"))),
    }
}

/// The figures of the caller's area over a period, grouped, scored and ranked.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "The figures, as JSON or (Accept: text/csv) CSV", body = Stats),
        (status = 400, description = "A bad period, grouping, area or category"),
        (status = 403, description = "Not a desk with an area, or an area outside the caller's"),
    ),
    security(("bearer" = [])),
    tag = "statistics"
)]
#[get("/api/v1/stats")]
#[allow(clippy::too_many_arguments)] // an actix handler takes what it reads as arguments
#[tracing::instrument(skip(db, geo, tree, clock, scoring, caller, request))]
pub async fn stats(
    db: web::Data<Database>,
    geo: web::Data<Geo>,
    tree: web::Data<CategoryTree>,
    clock: web::Data<Clock>,
    scoring: web::Data<ScoreSettings>,
    caller: Authenticated,
    query: web::Query<StatsQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let now = clock.now_ms();
    let (from_ms, to_ms) = period(&query, now)?;
    let grouping = Grouping::parse(query.by.as_deref().unwrap_or("area"))?;
    let category = category_filter(query.category.as_deref())?;
    let layer = geo.layer();
    let area = match viewer.desk_area(query.area.as_deref())? {
        Some(code) => Some(code),
        // Everywhere (an administrator): the layer's top unit frames the groups.
        None => layer.units().map(|u| u.code.clone()).min_by_key(|c| (c.level(), c.as_str().to_owned())),
    };
    let by = match grouping {
        Grouping::Area => {
            let level = area.as_ref().map_or(Some(Level::City), |a| a.level().child());
            By::Area(level.ok_or_else(|| {
                ApiError::BadRequest("a grid has no units below it: group by category, handler or period".into())
            })?)
        }
        Grouping::Category => By::Category,
        Grouping::Department => By::Department,
        Grouping::Handler => By::Handler,
        Grouping::Day | Grouping::Week | Grouping::Month => By::Day,
    };
    let scope = Scope { area: area.clone(), from_ms, to_ms, category: category.clone() };
    let handlers = grouping == Grouping::Handler;
    // The families are separate scans: read side by side, each on its own connection.
    let (sums_scope, times_scope, roles_scope) = (scope.clone(), scope.clone(), scope);
    let (grouped, times, roles) = futures_util::try_join!(
        read(&db, move |c| query::sums(c, &sums_scope, Some(by), now)),
        read(&db, move |c| query::durations(c, &times_scope, Some(by))),
        read(&db, move |c| if handlers { query::roles(c, &roles_scope).map(Some) } else { Ok(None) }),
    )?;

    // Days fold into weeks and months here: the database groups by day on both backends.
    // The group keyed none (no department, not yet handled) counts in the total only.
    let key_of = |key: &str| -> String {
        if grouping.is_period() {
            key.parse::<i64>().map_or_else(|_| key.to_owned(), |d| period_key(grouping, d))
        } else {
            key.to_owned()
        }
    };
    let mut total_sums = Sums::default();
    let mut sums: BTreeMap<String, Sums> = BTreeMap::new();
    for (key, s) in &grouped {
        total_sums.add(s);
        if let Some(key) = key {
            sums.entry(key_of(key)).or_default().add(s);
        }
    }
    let mut total_times = Durations::default();
    let mut durations: BTreeMap<String, Durations> = BTreeMap::new();
    for (key, d) in &times {
        total_times.extend(d);
        if let Some(key) = key {
            durations.entry(key_of(key)).or_default().extend(d);
        }
    }

    let empty = Durations::default();
    let mut groups: Vec<Group> = sums
        .iter()
        .map(|(key, s)| {
            let role = roles.as_ref().map(|r| r.get(key).copied().unwrap_or_default());
            let figures = figures::figures(s, durations.get(key).unwrap_or(&empty), role.as_ref());
            let score = Score { value: scoring.score(&figures), sample: s.registered, rank: None };
            Group { name: String::new(), key: key.clone(), figures, score }
        })
        .collect();
    if !grouping.is_period() {
        let mut scores: Vec<Score> = groups.iter().map(|g| g.score).collect();
        figures::rank(&mut scores, scoring.min_sample);
        for (group, score) in groups.iter_mut().zip(scores) {
            group.score = score;
        }
        groups.sort_by(|a, b| match (a.score.rank, b.score.rank) {
            (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.key.cmp(&b.key)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.key.cmp(&b.key),
        });
    }
    let groups_total = groups.len();
    let csv_wanted = wants_csv(&request, query.format.as_deref());
    groups.truncate(query.limit.unwrap_or(if csv_wanted { usize::MAX } else { JSON_GROUPS }));
    // Named once ranked and cut: a city's 20,000 workers are not all looked up for 1,000.
    let names = names(&db, &geo, &tree, grouping, groups.iter().map(|g| g.key.clone()).collect()).await?;
    for group in &mut groups {
        group.name = names.get(&group.key).cloned().unwrap_or_else(|| group.key.clone());
    }
    if csv_wanted {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"stats-{}.csv\"", grouping.as_str()),
            ))
            .body(csv(&groups)));
    }
    let total_figures = figures::figures(&total_sums, &total_times, None);
    let total = Total {
        score: Score { value: scoring.score(&total_figures), sample: total_sums.registered, rank: None },
        figures: total_figures,
    };
    let covered = area.as_ref().map(|code| Covered {
        code: code.to_string(),
        name: layer.get(code).map(|u| u.name.clone()).unwrap_or_default(),
    });
    Ok(HttpResponse::Ok().json(Stats {
        from: rfc3339(from_ms),
        to: rfc3339(to_ms),
        by: grouping.as_str().to_owned(),
        area: covered,
        category,
        min_sample: scoring.min_sample,
        weights: scoring.weights.clone(),
        groups,
        groups_total,
        total,
    }))
}

/// Runs `f` on a connection of its own, off the async threads.
async fn read<T: Send + 'static>(
    db: &web::Data<Database>,
    f: impl FnOnce(&mut crate::store::DbConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let db = db.clone();
    Ok(web::block(move || db.read(f)).await??)
}

/// The names of the groups' keys: units from the layer, categories and departments from
/// the tree, people from the accounts; a period names itself.
async fn names(
    db: &web::Data<Database>,
    geo: &Geo,
    tree: &CategoryTree,
    grouping: Grouping,
    keys: Vec<String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(match grouping {
        Grouping::Area => {
            let layer = geo.layer();
            keys.into_iter()
                .filter_map(|k| {
                    let name = AreaCode::parse(&k).ok().and_then(|c| layer.get(&c).map(|u| u.name.clone()))?;
                    Some((k, name))
                })
                .collect()
        }
        Grouping::Category => {
            keys.into_iter().filter_map(|k| Some((k.clone(), tree.category(&k)?.name.clone()))).collect()
        }
        Grouping::Department => keys
            .into_iter()
            .filter_map(|k| Some((k.clone(), tree.departments.iter().find(|d| d.code == k)?.name.clone())))
            .collect(),
        Grouping::Handler => {
            read(db, move |c| {
                let mut named = BTreeMap::new();
                for chunk in keys.chunks(500) {
                    let rows: Vec<(String, String, String)> = users::table
                        .filter(users::id.eq_any(chunk))
                        .select((users::id, users::login, users::display_name))
                        .load(c)?;
                    for (id, login, name) in rows {
                        named.insert(id, if name.is_empty() { login } else { name });
                    }
                }
                Ok(named)
            })
            .await?
        }
        Grouping::Day | Grouping::Week | Grouping::Month => keys.into_iter().map(|k| (k.clone(), k)).collect(),
    })
}

/// Cases reported per grid of the caller's area over a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Heat {
    /// The period's start.
    pub from: String,
    /// The period's end.
    pub to: String,
    /// The category filter, if any.
    pub category: Option<String>,
    /// Each grid with cases, and how many.
    pub cells: Vec<HeatCell>,
    /// The most cases in one grid.
    pub max: i64,
}

/// One grid of the heat view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeatCell {
    /// The grid's code.
    pub code: String,
    /// Cases reported in it.
    pub count: i64,
}

/// Where cases cluster: cases reported per grid of the caller's area over a period.
#[utoipa::path(
    get,
    path = "/api/v1/stats/heat",
    params(StatsQuery),
    responses(
        (status = 200, description = "Cases per grid", body = Heat),
        (status = 400, description = "A bad period, area or category"),
        (status = 403, description = "Not a desk with an area, or an area outside the caller's"),
    ),
    security(("bearer" = [])),
    tag = "statistics"
)]
#[get("/api/v1/stats/heat")]
#[tracing::instrument(skip(db, clock, caller, request))]
pub async fn heat(
    db: web::Data<Database>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    query: web::Query<StatsQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let (from_ms, to_ms) = period(&query, clock.now_ms())?;
    let category = category_filter(query.category.as_deref())?;
    let area = viewer.desk_area(query.area.as_deref())?;
    if query.by.is_some() {
        return Err(ApiError::BadRequest("the heat view is always by grid: leave out by".into()));
    }
    let scope = Scope { area, from_ms, to_ms, category: category.clone() };
    let mut rows = read(&db, move |c| query::heat(c, &scope)).await?;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let max = rows.first().map_or(0, |r| r.1);
    let cells: Vec<HeatCell> = rows.into_iter().map(|(code, count)| HeatCell { code, count }).collect();
    if wants_csv(&request, query.format.as_deref()) {
        let mut out = String::from("\u{feff}grid,count\r\n");
        for cell in &cells {
            out.push_str(&format!("{},{}\r\n", cell.code, cell.count));
        }
        return Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(out));
    }
    Ok(HttpResponse::Ok().json(Heat { from: rfc3339(from_ms), to: rfc3339(to_ms), category, cells, max }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_fold_into_iso_weeks_and_months() {
        let day = 20_428; // 2025-12-06 is day 20428 since 1970-01-01
        assert_eq!(period_key(Grouping::Day, day), "2025-12-06");
        assert_eq!(period_key(Grouping::Month, day), "2025-12");
        assert_eq!(period_key(Grouping::Week, day), "2025-W49");
        // 2026-01-01 (a Thursday) is in ISO week 1 of 2026; 2027-01-01 (a Friday) in week 53 of 2026.
        assert_eq!(period_key(Grouping::Week, 20_454), "2026-W01");
        assert_eq!(period_key(Grouping::Week, 20_819), "2026-W53");
    }

    #[test]
    fn a_csv_field_is_quoted_only_when_it_must_be() {
        assert_eq!(csv_field("宿城区"), "宿城区");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}

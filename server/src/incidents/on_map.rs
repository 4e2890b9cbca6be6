//! The cases on a centre's map (`GET /api/v1/map/cases`): the live cases of an area —
//! open, or ended since the local day began — for one view of the map. When few lie in
//! view they come one by one; when many do, the database counts them by grid, status
//! and light, and the counts are summed into the units a marker can stand for at that
//! zoom, so that a year of a city's cases costs a grouped count, never a list. The
//! answer carries the change-log position it was read at: the page follows the socket
//! from there instead of loading every open case again.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use geodata::{AreaCode, Level};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::act::incident_data;
use super::scope::Viewer;
use super::store;
use super::workflow::Status;
use crate::auth::routes::Authenticated;
use crate::clock::{Clock, day_start_ms};
use crate::geo::Geo;
use crate::problem::ApiError;
use crate::store::Database;

/// The most cases an answer lists one by one; past it, a view gets counts by unit.
pub const MAX_MARKERS: i64 = 500;
/// A marker stands for a unit once a typical unit of that level spans this many pixels.
const GROUP_PX: f64 = 96.0;
/// The deepest zoom the map asks at.
const MAX_ZOOM: u8 = geodata::tiles::MAX_ZOOM;

/// The view the map shows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
    /// The map's zoom (0–20): how large a unit one marker may stand for.
    zoom: u8,
    /// `west,south,east,north` in WGS-84 degrees; the whole area when absent.
    bbox: Option<String>,
    /// A unit inside the caller's area to show (by default their whole area).
    area: Option<String>,
    /// List at most this many cases one by one before counting by unit (default and
    /// at most [`MAX_MARKERS`]).
    limit: Option<i64>,
}

/// Live cases counted by what their markers show: new (not yet taken in), in progress,
/// yellow, red (whatever their status), and ended today.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Reported or being confirmed, with no light raised.
    pub new: i64,
    /// Registered and being worked on, with no light raised.
    pub in_progress: i64,
    /// Open with the current step past 80 % of its limit.
    pub yellow: i64,
    /// Open with the current step past its limit.
    pub red: i64,
    /// Closed, rejected or merged since the local day began.
    pub ended_today: i64,
}

impl Counts {
    /// Adds `n` cases of this status and light.
    pub fn add(&mut self, status: &str, light: &str, n: i64) {
        let status = Status::ALL.into_iter().find(|s| s.as_str() == status);
        let slot = match (status, light) {
            (Some(s), _) if s.is_final() => &mut self.ended_today,
            (_, "red") => &mut self.red,
            (_, "yellow") => &mut self.yellow,
            (Some(Status::Reported | Status::Confirming), _) => &mut self.new,
            _ => &mut self.in_progress,
        };
        *slot += n;
    }

    /// The open ones among them.
    pub fn open(&self) -> i64 {
        self.new + self.in_progress + self.yellow + self.red
    }

    fn total(&self) -> i64 {
        self.open() + self.ended_today
    }
}

/// One marker standing for the live cases of a unit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// The unit's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its level, 1 (city) to 5 (grid).
    pub level: u8,
    /// Where the marker goes (a point inside the unit), WGS-84.
    pub lon: f64,
    /// Where the marker goes, WGS-84.
    pub lat: f64,
    /// Its live cases.
    pub counts: Counts,
    /// How many live cases in all.
    pub total: i64,
}

/// The area's day so far, for the figures beside the map.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Today {
    /// Every live case of the area (not only those in view), by marker.
    pub counts: Counts,
    /// Open cases in all.
    pub open: i64,
    /// Cases reported since the local day began.
    pub reported: i64,
}

/// What one view of the map shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapCases {
    /// The change-log position the answer was read at: follow the socket from here.
    pub cursor: i64,
    /// The level the view's cases are grouped by; absent when they come one by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grouped_by: Option<u8>,
    /// When grouped: one marker per unit with live cases whose point lies in view.
    pub groups: Vec<Group>,
    /// When not grouped: every live case in view, as the socket sends cases.
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<Value>,
    /// The whole area's figures of the day.
    pub today: Today,
}

/// Parses `west,south,east,north`.
fn parse_bbox(raw: &str) -> Result<[f64; 4], ApiError> {
    let bad = || ApiError::BadRequest(format!("bbox {raw:?}: give west,south,east,north in degrees"));
    let numbers: Vec<f64> =
        raw.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let [west, south, east, north] = <[f64; 4]>::try_from(numbers).map_err(|_| bad())?;
    let fine = |v: f64, limit: f64| v.is_finite() && (-limit..=limit).contains(&v);
    if !(fine(west, 180.0) && fine(east, 180.0) && fine(south, 90.0) && fine(north, 90.0))
        || west > east
        || south > north
    {
        return Err(bad());
    }
    Ok([west, south, east, north])
}

/// The unit of `level` holding the grid `code`, if the code is one (a county's code
/// does not start with its city's: the chain is walked, not cut).
fn unit_of(grid: &str, level: Level) -> Option<AreaCode> {
    let mut code = AreaCode::parse(grid).ok()?;
    while code.level() > level {
        code = code.parent()?;
    }
    (code.level() == level).then_some(code)
}

/// Sums per-grid counts into the units of `level`, keeping those whose anchor lies in
/// `bbox`.
fn group(
    tiler: &geodata::tiles::Tiler,
    rows: &[(String, String, String, i64)],
    level: Level,
    bbox: [f64; 4],
) -> Vec<Group> {
    let mut by_unit: BTreeMap<AreaCode, Counts> = BTreeMap::new();
    for (grid, status, light, n) in rows {
        if let Some(unit) = unit_of(grid, level) {
            by_unit.entry(unit).or_default().add(status, light, *n);
        }
    }
    let [west, south, east, north] = bbox;
    by_unit
        .into_iter()
        .filter_map(|(code, counts)| {
            let (name, [lon, lat]) = tiler.anchor(&code)?;
            ((west..=east).contains(&lon) && (south..=north).contains(&lat)).then(|| Group {
                name: name.to_owned(),
                level: code.level().number(),
                code: code.as_str().to_owned(),
                lon,
                lat,
                total: counts.total(),
                counts,
            })
        })
        .collect()
}

/// The live cases of one view of the caller's area: each case when at most `limit`
/// (500) lie in view, else counts by unit (centres and community staff).
#[utoipa::path(
    get,
    path = "/api/v1/map/cases",
    params(ViewQuery),
    responses(
        (status = 200, description = "The view's cases, one by one or counted by unit", body = MapCases),
        (status = 400, description = "A bad zoom, bbox or area"),
        (status = 403, description = "Not a desk with an area, or an area outside the caller's"),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[get("/api/v1/map/cases")]
#[tracing::instrument(skip(db, geo, clock, caller))]
pub async fn map_cases(
    db: web::Data<Database>,
    geo: web::Data<Geo>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let area = viewer.desk_area(query.area.as_deref())?;
    if query.zoom > MAX_ZOOM {
        return Err(ApiError::BadRequest(format!("zoom {}: at most {MAX_ZOOM}", query.zoom)));
    }
    let limit = query.limit.unwrap_or(MAX_MARKERS);
    if !(0..=MAX_MARKERS).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit {limit}: from 0 to {MAX_MARKERS}")));
    }
    let bbox = match query.bbox.as_deref() {
        Some(raw) => parse_bbox(raw)?,
        None => [-180.0, -90.0, 180.0, 90.0],
    };
    let tiler = geo.tiler();
    let spanning = tiler.level_spanning(query.zoom, GROUP_PX).unwrap_or(Level::Grid);
    // A marker never stands for more than the area asked for.
    let level = match &area {
        Some(area) if area.level() > spanning => area.level(),
        _ => spanning,
    };
    let since = day_start_ms(clock.now_ms());
    let answer = web::block(move || {
        db.read(|c| {
            // The position first: a change landing while the rest is read is then sent
            // again by the socket, which a page applies harmlessly.
            let cursor = crate::changes::newest(c)?;
            let rows = store::live_counts(c, area.as_ref(), since)?;
            let reported = store::reported_since(c, area.as_ref(), since)?;
            let mut counts = Counts::default();
            for (_, status, light, n) in &rows {
                counts.add(status, light, *n);
            }
            let in_view = store::live_in_box(c, area.as_ref(), since, bbox, limit + 1)?;
            let (grouped_by, groups, cases) = if in_view.len() as i64 > limit {
                (Some(level.number()), group(&tiler, &rows, level, bbox), Vec::new())
            } else {
                (None, Vec::new(), in_view.iter().map(incident_data).collect())
            };
            let today = Today { open: counts.open(), counts, reported };
            Ok(MapCases { cursor, grouped_by, groups, cases, today })
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_case_counts_under_the_marker_it_shows() {
        let mut counts = Counts::default();
        counts.add("reported", "green", 2);
        counts.add("dispatched", "green", 3);
        counts.add("reported", "red", 1);
        counts.add("handling", "yellow", 4);
        counts.add("closed", "red", 5);
        assert_eq!(counts, Counts { new: 2, in_progress: 3, yellow: 4, red: 1, ended_today: 5 });
        assert_eq!(counts.open(), 10);
    }

    #[test]
    fn a_view_is_four_ordered_degrees() {
        assert_eq!(parse_bbox("118.1,33.8,118.5,34.0").unwrap(), [118.1, 33.8, 118.5, 34.0]);
        for bad in ["", "1,2,3", "1,2,3,4,5", "118.5,33.8,118.1,34.0", "0,95,1,96", "a,b,c,d", "NaN,0,1,1"] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_grid_rolls_up_into_its_units_by_code() {
        let grid = "321302001001003";
        assert_eq!(unit_of(grid, Level::Township).unwrap().as_str(), "321302001");
        assert_eq!(unit_of(grid, Level::Community).unwrap().as_str(), "321302001001");
        assert_eq!(unit_of(grid, Level::Grid).unwrap().as_str(), grid);
        assert_eq!(unit_of(grid, Level::County).unwrap().as_str(), "321302");
        assert_eq!(unit_of(grid, Level::City).unwrap().as_str(), "321300");
        assert!(unit_of("32", Level::County).is_none());
    }
}

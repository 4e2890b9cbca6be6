//! `GET /api/v1/locate`: the grid and five-level chain of a point.

use actix_web::{HttpResponse, get, web};
use geodata::LocateError;
use geodata::crs::Crs;
use serde::{Deserialize, Serialize};

use super::{Geo, unit_id};
use crate::problem::ApiError;

/// The query of `/api/v1/locate`, read as text so that every malformed value gets the
/// contract's own error rather than the framework's.
#[derive(Debug, Deserialize)]
pub struct LocateQuery {
    lon: Option<String>,
    lat: Option<String>,
    crs: Option<String>,
}

#[derive(Debug, Serialize)]
struct GridRef<'a> {
    id: String,
    code: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct Link<'a> {
    level: u8,
    code: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct Located<'a> {
    grid: GridRef<'a>,
    chain: Vec<Link<'a>>,
    snapped: bool,
    distance_m: f64,
}

fn coordinate(name: &str, value: Option<&str>) -> Result<f64, ApiError> {
    let value = value.ok_or_else(|| ApiError::InvalidCoordinates(format!("the query needs `{name}`")))?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ApiError::InvalidCoordinates(format!("`{name}` must be a finite number, not {value:?}")))
}

/// Places a point (WGS-84 unless `crs` says GCJ-02 or BD-09) in its grid.
#[get("/api/v1/locate")]
#[tracing::instrument(skip(geo))]
pub async fn locate(geo: web::Data<Geo>, query: web::Query<LocateQuery>) -> Result<HttpResponse, ApiError> {
    let lon = coordinate("lon", query.lon.as_deref())?;
    let lat = coordinate("lat", query.lat.as_deref())?;
    let crs = match query.crs.as_deref() {
        None => Crs::Wgs84,
        Some(name) => name
            .parse::<Crs>()
            .map_err(|_| ApiError::InvalidCrs(format!("crs must be wgs84, gcj02 or bd09, not {name:?}")))?,
    };
    let index = geo.index();
    let placed = index.locate_in(crs, lon, lat).map_err(|e| match e {
        LocateError::InvalidCoordinates => ApiError::InvalidCoordinates(format!(
            "({lon}, {lat}) is not a position: longitude must be within -180..180 and latitude within -90..90"
        )),
        outside @ LocateError::OutsideServiceArea { .. } => ApiError::OutsideServiceArea(outside.to_string()),
    })?;
    let body = Located {
        grid: GridRef {
            id: unit_id(&placed.grid.code).to_string(),
            code: placed.grid.code.as_str(),
            name: &placed.grid.name,
        },
        chain: placed
            .grid
            .chain
            .iter()
            .map(|l| Link { level: l.level.number(), code: l.code.as_str(), name: &l.name })
            .collect(),
        snapped: placed.snapped,
        distance_m: (placed.distance_m * 100.0).round() / 100.0,
    };
    Ok(HttpResponse::Ok().json(body))
}

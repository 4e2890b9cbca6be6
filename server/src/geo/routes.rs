//! `GET /api/v1/locate`: the grid and five-level chain of a point; `GET /api/v1/grids`:
//! grid boundaries as GeoJSON, by bounding box, for maps.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use geodata::LocateError;
use geodata::crs::Crs;
use serde::Serialize;

use super::{Geo, unit_id};
use crate::problem::ApiError;

/// A query, read as raw pairs so that every malformed value — a missing, repeated or
/// non-numeric one — gets the contract's own error. A pair is borrowed from the query
/// unless it needs decoding: `locate` is the most asked route, and copying its query
/// was a tenth of its time.
type Pairs<'q> = Vec<(Cow<'q, str>, Cow<'q, str>)>;

/// The pairs of a request's query (read as browsers write forms; nothing is refused).
/// A pair with nothing to decode is split here, with no decoder's pass over it.
fn pairs(request: &HttpRequest) -> Pairs<'_> {
    request
        .query_string()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            if pair.contains(['%', '+']) {
                form_urlencoded::parse(pair.as_bytes()).next()
            } else {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((Cow::Borrowed(name), Cow::Borrowed(value)))
            }
        })
        .collect()
}

/// The one value of `name` in the query, if given; given twice is an error.
fn single<'a>(pairs: &'a Pairs<'_>, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_ref());
    match (values.next(), values.next()) {
        (first, None) => Ok(first),
        (Some(_), Some(_)) | (None, Some(_)) => {
            Err(ApiError::InvalidCoordinates(format!("`{name}` is given more than once")))
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct GridRef<'a> {
    id: String,
    code: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Link<'a> {
    level: u8,
    code: &'a str,
    name: &'a str,
}

/// Where a point lies: its grid, the chain of units above it, and whether it was snapped.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Located<'a> {
    grid: GridRef<'a>,
    chain: Vec<Link<'a>>,
    snapped: bool,
    /// A whole number when it is one (`0` inside a grid, as docs/contract.md writes it),
    /// otherwise metres to the centimetre.
    #[schema(value_type = f64)]
    distance_m: serde_json::Number,
}

fn metres(d: f64) -> serde_json::Number {
    let cm = (d * 100.0).round() / 100.0;
    if cm.fract() == 0.0 && (0.0..9e15).contains(&cm) {
        serde_json::Number::from(cm as u64)
    } else {
        serde_json::Number::from_f64(cm).unwrap_or_else(|| serde_json::Number::from(0))
    }
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

/// The API's error for a point that could not be placed.
pub fn placement_error(e: LocateError, lon: f64, lat: f64) -> ApiError {
    match e {
        LocateError::InvalidCoordinates => ApiError::InvalidCoordinates(format!(
            "({lon}, {lat}) is not a position: longitude must be within -180..180 and latitude within -90..90"
        )),
        outside @ LocateError::OutsideServiceArea { .. } => ApiError::OutsideServiceArea(outside.to_string()),
    }
}

/// Places a point (WGS-84 unless `crs` says GCJ-02 or BD-09) in its grid.
#[utoipa::path(
    get,
    path = "/api/v1/locate",
    params(
        ("lon" = f64, Query, description = "Longitude"),
        ("lat" = f64, Query, description = "Latitude"),
        ("crs" = Option<String>, Query, description = "wgs84 (default), gcj02 or bd09"),
    ),
    responses(
        (status = 200, description = "The point's grid and chain", body = Located),
    ),
    tag = "geography"
)]
#[get("/api/v1/locate")]
pub async fn locate(geo: web::Data<Geo>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = pairs(&request);
    let lon = coordinate("lon", single(&query, "lon")?)?;
    let lat = coordinate("lat", single(&query, "lat")?)?;
    let crs = match single(&query, "crs")? {
        None => Crs::Wgs84,
        Some(name) => name
            .parse::<Crs>()
            .map_err(|_| ApiError::InvalidCrs(format!("crs must be wgs84, gcj02 or bd09, not {name:?}")))?,
    };
    let index = geo.index();
    let placed = index.locate_in(crs, lon, lat).map_err(|e| placement_error(e, lon, lat))?;
    let answer = |placed: &geodata::Placement<'_>| {
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
            distance_m: metres(placed.distance_m),
        };
        serde_json::to_vec(&body).map(Bytes::from).map_err(ApiError::internal)
    };
    // A point inside a grid gets the grid's one answer, written once per index.
    let body = match index.inside_answer(placed.slot).filter(|_| !placed.snapped) {
        Some(kept) => kept,
        None => {
            let body = answer(&placed)?;
            if !placed.snapped {
                index.keep_inside_answer(placed.slot, body.clone());
            }
            body
        }
    };
    // The header's value as it is sent: `content_type(ContentType::json())` writes a
    // `Mime` out again for every answer.
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body))
}

/// At most this many grids in one answer: a county's worth; ask for a smaller box for more.
pub const MAX_GRIDS: usize = 5_000;

/// The grids whose boundaries reach into a bounding box, as a GeoJSON FeatureCollection
/// (WGS-84); each feature's properties are `id`, `code`, `name`, `level` and `parent`.
#[utoipa::path(
    get,
    path = "/api/v1/grids",
    params(("bbox" = String, Query, description = "min lon,min lat,max lon,max lat (WGS-84)")),
    responses(
        (status = 200, description = "A GeoJSON FeatureCollection of grids"),
    ),
    tag = "geography"
)]
#[get("/api/v1/grids")]
#[tracing::instrument(skip(geo))]
pub async fn grids(geo: web::Data<Geo>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = pairs(&request);
    let raw = single(&query, "bbox")?
        .ok_or_else(|| ApiError::InvalidCoordinates("the query needs `bbox=min lon,min lat,max lon,max lat`".into()))?;
    let bad =
        || ApiError::InvalidCoordinates(format!("bbox {raw:?} is not four numbers min lon,min lat,max lon,max lat"));
    let numbers: Vec<f64> =
        raw.split(',').map(|v| v.trim().parse::<f64>().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let [x0, y0, x1, y1] = <[f64; 4]>::try_from(numbers).map_err(|_| bad())?;
    let in_range = geodata::crs::is_position;
    if !(in_range(x0, y0) && in_range(x1, y1) && x0 <= x1 && y0 <= y1) {
        return Err(ApiError::InvalidCoordinates(format!(
            "bbox {raw:?} must have min <= max, longitudes within -180..180 and latitudes within -90..90"
        )));
    }
    let layer = geo.layer();
    let hits: Vec<&geodata::Unit> = layer
        .grids()
        .filter(|g| {
            g.bounds().is_some_and(|b| b.min().x <= x1 && x0 <= b.max().x && b.min().y <= y1 && y0 <= b.max().y)
        })
        .take(MAX_GRIDS + 1)
        .collect();
    if hits.len() > MAX_GRIDS {
        return Err(ApiError::BadRequest(format!("more than {MAX_GRIDS} grids in the box: ask for a smaller one")));
    }
    let mut collection = geodata::geojson::write_units(hits.iter().copied());
    if let Some(features) = collection["features"].as_array_mut() {
        for (feature, unit) in features.iter_mut().zip(&hits) {
            feature["properties"]["id"] = serde_json::Value::String(unit_id(&unit.code).to_string());
            // Where a fused grid came from (三网融合), so old grids' history maps onto it.
            if let lineage @ [_, ..] = layer.lineage(&unit.code) {
                feature["properties"]["lineage"] = serde_json::json!(lineage);
            }
        }
    }
    Ok(HttpResponse::Ok().content_type("application/geo+json").json(collection))
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_and_read_body, init_service};
    use actix_web::{App, web};
    use geodata::{IndexOptions, Layer, Unit};

    use super::*;

    const INSIDE: &str = "/api/v1/locate?lon=118.13204&lat=34.012997";

    async fn ask(geo: &Geo, uri: &str) -> serde_json::Value {
        let app = init_service(App::new().app_data(web::Data::new(geo.clone())).service(locate)).await;
        let body = call_and_read_body(&app, TestRequest::get().uri(uri).to_request()).await;
        serde_json::from_slice(&body).unwrap()
    }

    proptest::proptest! {
        /// A query's pairs are what a form decoder reads from it, split here or not.
        #[test]
        fn pairs_are_what_a_form_decoder_reads(query in "[a=&%+2Fé0-9]{0,24}") {
            let uri = format!("/api/v1/locate?{}", query.replace('é', "%C3%A9"));
            let request = TestRequest::get().uri(&uri).to_http_request();
            let decoded: Pairs<'_> = form_urlencoded::parse(request.query_string().as_bytes()).collect();
            proptest::prop_assert_eq!(pairs(&request), decoded);
        }
    }

    /// The answer kept for a grid is the one written from the grids in force: renamed by
    /// an import, the grid is answered by its new name.
    #[actix_web::test]
    async fn a_kept_answer_goes_with_its_index() {
        let layer = geodata::demo::layer().unwrap();
        let geo = Geo::new(layer.clone(), IndexOptions::default(), 1);
        let first = ask(&geo, INSIDE).await;
        assert_eq!(ask(&geo, INSIDE).await, first, "asked twice, answered alike");
        let code = first["grid"]["code"].as_str().unwrap().to_owned();
        assert_eq!(first["distance_m"], 0);

        let renamed = Layer::from_units(layer.units().map(|u| Unit {
            name: if u.code.as_str() == code { "改名网格".into() } else { u.name.clone() },
            ..u.clone()
        }))
        .unwrap();
        let index = Geo::build_index(&renamed, IndexOptions::default());
        geo.swap(renamed, index, 2);
        let after = ask(&geo, INSIDE).await;
        assert_eq!(after["grid"]["name"], "改名网格", "{after}");
        assert_eq!(after["chain"][4]["name"], "改名网格", "{after}");
        assert_eq!(after["grid"]["id"], first["grid"]["id"], "the id follows the code");
    }
}

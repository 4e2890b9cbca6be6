//! What the pages' maps draw: where an area lies (`GET /api/v1/map`), and its outlines
//! as tiles cut by zoom and viewport (`GET /api/v1/map/tiles/{z}/{x}/{y}`), from the
//! layer in memory. A tile's address carries the layer's generation (`g`), so that a
//! browser may keep it until the grids change.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use geodata::AreaCode;
use geodata::tiles::TileId;
use serde::{Deserialize, Serialize};

use super::Geo;
use crate::problem::ApiError;

/// The query of both routes: the area to draw (a unit's code; the whole layer if absent)
/// and, for tiles, the layer generation the page was drawn for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MapQuery {
    /// Only this unit and what lies below it.
    area: Option<String>,
    /// The layer generation from `GET /api/v1/map`; a tile of the current generation may
    /// be kept by the browser.
    g: Option<i64>,
}

impl MapQuery {
    fn area(&self, geo: &Geo) -> Result<Option<AreaCode>, ApiError> {
        let Some(raw) = self.area.as_deref() else { return Ok(None) };
        let code = AreaCode::parse(raw).map_err(|e| ApiError::BadRequest(format!("area {raw:?}: {e}")))?;
        if geo.layer().get(&code).is_none() {
            return Err(ApiError::NotFound(format!("no unit {code} in the grid layer")));
        }
        Ok(Some(code))
    }
}

/// The basemap configured under the pages' maps (`basemap` in the settings), if any.
#[derive(Debug, Clone, Default)]
pub struct Basemap(pub Option<String>);

/// An area as a map frames it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapArea {
    /// The unit's code.
    code: String,
    /// Its name.
    name: String,
    /// Its level, 1 (city) to 5 (grid).
    level: u8,
    /// `[west, south, east, north]`, WGS-84.
    bounds: [f64; 4],
}

/// A unit directly below an area.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Child {
    /// Its code.
    code: String,
    /// Its name.
    name: String,
    /// Its level.
    level: u8,
}

/// Where the map of an area lies, and the layer generation its tiles are cut from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapInfo {
    /// The stored layer's generation: ask for tiles with `g=` this.
    generation: i64,
    /// The area (the layer's top unit when none was asked for).
    area: MapArea,
    /// The deepest zoom tiles are served at.
    max_zoom: u8,
    /// The units directly below the area, by code (a desk picks dispatch targets from them).
    children: Vec<Child>,
    /// The raster basemap's tile URL template, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    basemap: Option<String>,
}

/// Where an area lies and which generation of the grid layer to draw.
#[utoipa::path(
    get,
    path = "/api/v1/map",
    params(MapQuery),
    responses((status = 200, description = "The area and the layer's generation", body = MapInfo)),
    tag = "geography"
)]
#[get("/api/v1/map")]
#[tracing::instrument(skip(geo, basemap))]
pub async fn info(
    geo: web::Data<Geo>,
    basemap: web::Data<Basemap>,
    query: web::Query<MapQuery>,
) -> Result<HttpResponse, ApiError> {
    let layer = geo.layer();
    let code = query.area(&geo)?;
    let unit = match &code {
        Some(code) => layer.get(code),
        None => layer.units().min_by_key(|u| (u.level().number(), u.code.as_str().to_owned())),
    }
    .ok_or_else(|| ApiError::NotFound("the grid layer is empty".into()))?;
    let b = unit.bounds().ok_or_else(|| ApiError::NotFound(format!("unit {} has no outline", unit.code)))?;
    let area = MapArea {
        code: unit.code.to_string(),
        name: unit.name.clone(),
        level: unit.level().number(),
        bounds: [b.min().x, b.min().y, b.max().x, b.max().y],
    };
    let children = layer
        .children(&unit.code)
        .map(|u| Child { code: u.code.to_string(), name: u.name.clone(), level: u.level().number() })
        .collect();
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-cache")).json(MapInfo {
        generation: geo.generation(),
        area,
        max_zoom: geodata::tiles::MAX_ZOOM,
        children,
        basemap: basemap.0.clone(),
    }))
}

/// The outlines one map tile shows: the units and grids of the levels its zoom draws,
/// clipped to the tile and simplified, in tile coordinates (0..`extent`, y down), with a
/// label point for the levels the zoom labels.
#[utoipa::path(
    get,
    path = "/api/v1/map/tiles/{z}/{x}/{y}",
    params(
        ("z" = u8, Path, description = "Zoom"),
        ("x" = u32, Path, description = "Column"),
        ("y" = u32, Path, description = "Row"),
        MapQuery,
    ),
    responses((status = 200, description = "The tile's outlines")),
    tag = "geography"
)]
#[get("/api/v1/map/tiles/{z}/{x}/{y}")]
#[tracing::instrument(skip(geo))]
pub async fn tile(
    geo: web::Data<Geo>,
    path: web::Path<(u8, u32, u32)>,
    query: web::Query<MapQuery>,
) -> Result<HttpResponse, ApiError> {
    let (z, x, y) = path.into_inner();
    let id = TileId::new(z, x, y).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let area = query.area(&geo)?;
    let generation = geo.generation();
    let tiler = geo.tiler();
    let tile = web::block(move || tiler.tile(id, area.as_ref())).await.map_err(ApiError::internal)?;
    // A tile asked for with the current generation never changes: the next layer has
    // another generation, so the page asks for other addresses.
    let caching = if query.g == Some(generation) { "public, max-age=86400, immutable" } else { "no-cache" };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, caching)).json(tile))
}

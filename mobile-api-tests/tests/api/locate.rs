//! `GET /api/v1/locate` and `/healthz` against a real server with the demo area.

use geodata::crs;
use mobile_api_tests::TestServer;
use serde_json::Value;

/// A point well inside a demo grid, and that grid's code.
fn a_grid() -> (f64, f64, String) {
    mobile_api_tests::demo_point(0)
}

fn assert_problem(status: u16, content_type: &str, body: &Value, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], want_type);
    assert_eq!(body["status"], want_status);
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
}

#[tokio::test]
async fn healthz_answers_once_the_server_is_up() {
    let server = TestServer::spawn().await.unwrap();
    let (status, _, body) = server.get("/healthz").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn a_point_is_placed_in_its_grid_with_the_five_level_chain() {
    let server = TestServer::spawn().await.unwrap();
    let (lon, lat, code) = a_grid();
    let (status, content_type, body) = server.get(&format!("/api/v1/locate?lon={lon}&lat={lat}")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("application/json"));
    assert_eq!(body["grid"]["code"], code.as_str());
    assert_eq!(body["grid"]["id"].as_str().unwrap().len(), 36, "a UUID");
    assert!(body["grid"]["name"].as_str().unwrap().ends_with("网格"));
    assert_eq!(body["snapped"], false);
    assert_eq!(body["distance_m"], 0);
    let chain = body["chain"].as_array().unwrap();
    let levels: Vec<u64> = chain.iter().map(|l| l["level"].as_u64().unwrap()).collect();
    assert_eq!(levels, [1, 2, 3, 4, 5]);
    assert_eq!(chain[0]["code"], "321300");
    assert_eq!(chain[0]["name"], "宿迁市");
    assert_eq!(chain[1]["code"], "321302");
    assert_eq!(chain[1]["name"], "宿城区");
    assert_eq!(chain[4]["code"], code.as_str());
    assert!(code.starts_with(chain[3]["code"].as_str().unwrap()));
    // The same grid keeps the same id.
    let (_, _, again) = server.get(&format!("/api/v1/locate?lon={lon}&lat={lat}")).await.unwrap();
    assert_eq!(again["grid"]["id"], body["grid"]["id"]);
}

#[tokio::test]
async fn phone_coordinates_in_gcj02_and_bd09_are_converted() {
    let server = TestServer::spawn().await.unwrap();
    let (lon, lat, code) = a_grid();
    let (glon, glat) = crs::wgs84_to_gcj02(lon, lat);
    let (blon, blat) = crs::wgs84_to_bd09(lon, lat);
    for query in [format!("lon={glon}&lat={glat}&crs=gcj02"), format!("lon={blon}&lat={blat}&crs=bd09")] {
        let (status, _, body) = server.get(&format!("/api/v1/locate?{query}")).await.unwrap();
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["grid"]["code"], code.as_str(), "{query}");
    }
}

#[tokio::test]
async fn a_point_just_outside_the_county_snaps_and_says_so() {
    let server = TestServer::spawn().await.unwrap();
    // The county's northernmost vertex (118.141858, 34.016916), 20 m further north.
    let lat = 34.016916 + 20.0 / 110_900.0;
    let (status, _, body) = server.get(&format!("/api/v1/locate?lon=118.141858&lat={lat}")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["snapped"], true);
    let d = body["distance_m"].as_f64().unwrap();
    assert!((15.0..=20.5).contains(&d), "{d}");
}

#[tokio::test]
async fn a_point_far_outside_is_outside_the_service_area() {
    let server = TestServer::spawn().await.unwrap();
    let (status, content_type, body) = server.get("/api/v1/locate?lon=116.404&lat=39.915").await.unwrap();
    assert_problem(status, &content_type, &body, 404, "outside-service-area");
}

#[tokio::test]
async fn malformed_or_out_of_range_coordinates_are_refused() {
    let server = TestServer::spawn().await.unwrap();
    for query in [
        "lon=118.3",
        "lat=33.9",
        "",
        "lon=abc&lat=33.9",
        "lon=118.3&lat=",
        "lon=181&lat=33.9",
        "lon=118.3&lat=-91",
        "lon=NaN&lat=33.9",
        "lon=inf&lat=33.9",
        "lon=1e999&lat=33.9",
        "lon=118.3&lon=118.4&lat=33.9",
    ] {
        let (status, content_type, body) = server.get(&format!("/api/v1/locate?{query}")).await.unwrap();
        assert_problem(status, &content_type, &body, 400, "invalid-coordinates");
    }
    let (status, content_type, body) = server.get("/api/v1/locate?lon=118.3&lat=33.9&crs=mars").await.unwrap();
    assert_problem(status, &content_type, &body, 400, "invalid-crs");
}

#[tokio::test]
async fn unknown_routes_get_a_problem_document() {
    let server = TestServer::spawn().await.unwrap();
    let (status, content_type, body) = server.get("/api/v1/nothing-here").await.unwrap();
    assert_problem(status, &content_type, &body, 404, "not-found");
}

#[tokio::test]
async fn grids_come_as_geojson_by_bounding_box() {
    let server = TestServer::spawn().await.unwrap();
    let (lon, lat, code) = a_grid();
    let bbox = format!("{},{},{},{}", lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001);
    let (status, content_type, body) = server.get(&format!("/api/v1/grids?bbox={bbox}")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/geo+json");
    assert_eq!(body["type"], "FeatureCollection");
    let features = body["features"].as_array().unwrap();
    assert!(!features.is_empty() && features.len() < 10, "{} features", features.len());
    let grid = features.iter().find(|f| f["properties"]["code"] == code.as_str()).expect("the grid under the point");
    assert_eq!(grid["properties"]["level"], 5);
    assert_eq!(grid["properties"]["id"].as_str().unwrap().len(), 36);
    assert!(grid["geometry"]["type"] == "Polygon" || grid["geometry"]["type"] == "MultiPolygon");
    // The demo's grids are fused (三网融合): each says which source grids it came from.
    let lineage = grid["properties"]["lineage"].as_array().expect("a fused grid's lineage");
    let base: f64 = lineage.iter().filter(|s| s["layer"] == "综治").map(|s| s["of_grid"].as_f64().unwrap()).sum();
    assert!(base > 0.0 && base <= 1.0 + 1e-9, "{lineage:?}");
    assert!(lineage.iter().all(|s| s["source"].is_string() && s["of_source"].as_f64().is_some()), "{lineage:?}");
    // The whole county fits in one answer; far away is empty.
    let (_, _, all) = server.get("/api/v1/grids?bbox=118.0,33.5,118.7,34.1").await.unwrap();
    assert_eq!(all["features"].as_array().unwrap().len(), 4100);
    let (_, _, none) = server.get("/api/v1/grids?bbox=116.0,39.0,116.1,39.1").await.unwrap();
    assert!(none["features"].as_array().unwrap().is_empty());
    // Malformed boxes.
    for bad in [
        "",
        "?bbox=1,2,3",
        "?bbox=a,b,c,d",
        "?bbox=118.7,33.5,118.0,34.1",
        "?bbox=118,33,200,34",
        "?bbox=1,2,3,4&bbox=1,2,3,4",
    ] {
        let (status, content_type, problem) = server.get(&format!("/api/v1/grids{bad}")).await.unwrap();
        assert_problem(status, &content_type, &problem, 400, "invalid-coordinates");
    }
}

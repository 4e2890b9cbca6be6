//! What the command centre's page reads besides the cases, against real servers on both
//! backends: the map (where an area lies, its tiles, bad addresses refused), who else has
//! a case open, where the workers on duty are, the open work of each dispatch candidate,
//! and where a completion was sent from.

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};
use sync_protocol::{Location, Op, OpKind};

use crate::support::{WAIT, act, case, connect_fresh, ok, report, report_and_dispatch};

/// The tile of zoom `z` holding a point.
fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let [x, y] = geodata::tiles::mercator(lon, lat);
    let n = f64::from(1u32 << z);
    ((x * n) as u32, (y * n) as u32)
}

async fn put_as(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let response = server.client.put(format!("{}{path}", server.base)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_map_frames_an_area_and_cuts_its_tiles() {
    for server in servers().await {
        let (_, _, info) = server.get("/api/v1/map?area=321302").await.unwrap();
        assert_eq!((info["area"]["name"].as_str(), info["area"]["level"].as_u64()), (Some("宿城区"), Some(2)));
        let [w, s, e, n] = [0, 1, 2, 3].map(|i| info["area"]["bounds"][i].as_f64().unwrap());
        assert!(w < e && s < n && (118.0..119.0).contains(&w), "{info}");
        let generation = info["generation"].as_i64().unwrap();

        // Close up, a tile holds the grid under a point, labelled once, in tile coordinates.
        let (lon, lat, grid) = demo_point(3);
        let (x, y) = tile_of(lon, lat, 16);
        let path = format!("/api/v1/map/tiles/16/{x}/{y}?area=321302&g={generation}");
        let response = server.client.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "public, max-age=86400, immutable");
        let tile: Value = response.json().await.unwrap();
        let features = tile["features"].as_array().unwrap();
        let ours = features.iter().find(|f| f["code"] == grid.as_str()).unwrap_or_else(|| panic!("{grid}: {tile}"));
        assert_eq!(ours["level"], 5);
        let extent = tile["extent"].as_i64().unwrap();
        for point in ours["rings"][0].as_array().unwrap() {
            let v = point[0].as_i64().unwrap();
            assert!((-16..=extent + 16).contains(&v), "{point}");
        }
        // Far out, only the outlines of large units: no grid.
        let (x, y) = tile_of(lon, lat, 9);
        let (_, _, far) = server.get(&format!("/api/v1/map/tiles/9/{x}/{y}")).await.unwrap();
        assert!(far["features"].as_array().unwrap().iter().all(|f| f["level"].as_u64() < Some(5)), "{far}");
        // Cut for another township, the same tile holds none of this one's grids.
        let (_, _, elsewhere) = (0..40).map(demo_point).find(|(_, _, g)| g[..9] != grid[..9]).unwrap();
        let (x, y) = tile_of(lon, lat, 16);
        let (_, _, other) =
            server.get(&format!("/api/v1/map/tiles/16/{x}/{y}?area={}", &elsewhere[..9])).await.unwrap();
        let codes: Vec<&str> =
            other["features"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
        assert!(codes.iter().all(|c| c.starts_with(&elsewhere[..9])), "{codes:?}");

        // Bad addresses are refused, each with a clear problem.
        for (path, status, kind) in [
            ("/api/v1/map/tiles/3/8/0", 400, "bad-request"),
            ("/api/v1/map/tiles/21/0/0", 400, "bad-request"),
            ("/api/v1/map/tiles/x/0/0", 400, "bad-request"),
            ("/api/v1/map?area=abc", 400, "bad-request"),
            ("/api/v1/map?area=999999", 404, "not-found"),
            ("/api/v1/map?bbox=1", 400, "bad-request"),
        ] {
            let (got, _, problem) = server.get(path).await.unwrap();
            assert_eq!((got, problem["type"].as_str()), (status, Some(kind)), "{path}: {problem}");
        }
    }
}

/// `GET /api/v1/map/cases` as `token` sees it.
async fn map_cases(server: &TestServer, token: &str, query: &str) -> Value {
    let (status, answer) = server.get_as(token, &format!("/api/v1/map/cases?{query}")).await.unwrap();
    assert_eq!(status, 200, "{query}: {answer}");
    answer
}

#[tokio::test]
async fn the_map_lists_a_views_cases_or_counts_them_by_unit_when_many() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (lon, lat, grid) = demo_point(77);
        let bbox = format!("bbox={},{},{},{}", lon - 0.002, lat - 0.002, lon + 0.002, lat + 0.002);
        let before = map_cases(&server, &centre, &format!("zoom=18&{bbox}")).await;
        let before_in_view = before["cases"].as_array().unwrap().len();
        let (first, _) = report(&server, 77).await;
        let (second, _) = report(&server, 77).await;

        // Close up, each case of the view comes whole, as the socket sends it.
        let close = map_cases(&server, &centre, &format!("zoom=18&{bbox}")).await;
        assert_eq!(close["grouped_by"], Value::Null, "{close}");
        let ids: Vec<&str> = close["cases"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
        assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()), "{close}");
        assert_eq!(ids.len(), before_in_view + 2);
        assert!(close["cursor"].as_i64().unwrap() > before["cursor"].as_i64().unwrap());
        let new = |a: &Value| a["today"]["counts"]["new"].as_i64().unwrap();
        assert!(new(&close) >= new(&before) + 2, "{before} {close}");
        assert!(close["today"]["reported"].as_i64().unwrap() >= 2);

        // With fewer markers allowed than cases in view, the grid stands for them.
        let grouped = map_cases(&server, &centre, &format!("zoom=18&{bbox}&limit=1")).await;
        assert_eq!(grouped["grouped_by"], 5, "{grouped}");
        assert_eq!(grouped["cases"], json!([]));
        let ours = grouped["groups"].as_array().unwrap().iter().find(|g| g["code"] == grid.as_str()).cloned();
        let ours = ours.unwrap_or_else(|| panic!("{grid}: {grouped}"));
        assert_eq!(ours["total"].as_u64(), Some(before_in_view as u64 + 2), "{ours}");
        assert!(ours["name"].as_str().unwrap().contains("网格"), "{ours}");
        // Zoomed out over the whole county, a marker stands for a larger unit holding it.
        let far = map_cases(&server, &centre, "zoom=9&limit=0").await;
        let level = far["grouped_by"].as_u64().unwrap();
        assert!((2..5).contains(&level), "{far}");
        let code_len = [0, 4, 6, 9, 12, 15][level as usize];
        let holding = far["groups"].as_array().unwrap().iter().find(|g| g["code"] == grid[..code_len]).cloned();
        assert!(holding.unwrap_or_else(|| panic!("{far}"))["total"].as_i64() >= Some(2));

        // A township's desk counts only its own; another township's asks in vain.
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let own = map_cases(&server, &township, "zoom=9&limit=0").await;
        assert!(own["groups"].as_array().unwrap().iter().all(|g| g["code"].as_str().unwrap().starts_with(&grid[..9])));
        let (_, _, other) = (0..40).map(demo_point).find(|(_, _, g)| g[..9] != grid[..9]).unwrap();
        let elsewhere = server.login(&format!("township-{}", &other[..9])).await.unwrap();
        let (status, refused) =
            server.get_as(&elsewhere, &format!("/api/v1/map/cases?zoom=9&area={}", &grid[..9])).await.unwrap();
        assert_eq!((status, refused["type"].as_str()), (403, Some("forbidden")), "{refused}");
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let (status, _) = server.get_as(&worker, "/api/v1/map/cases?zoom=9").await.unwrap();
        assert_eq!(status, 403);
        for bad in ["zoom=21", "zoom=x", "zoom=9&bbox=1,2,3", "zoom=9&limit=501", "zoom=9&area=abc", "bbox=1,2,3,4"] {
            let (status, problem) = server.get_as(&centre, &format!("/api/v1/map/cases?{bad}")).await.unwrap();
            assert_eq!((status, problem["type"].as_str()), (400, Some("bad-request")), "{bad}: {problem}");
        }
    }
}

#[tokio::test]
async fn two_desks_with_one_case_open_see_each_other_until_one_closes_it() {
    for server in servers().await {
        let (id, _) = report(&server, 5).await;
        let (centre, city) = (server.login("centre").await.unwrap(), server.login("city").await.unwrap());
        let path = format!("/api/v1/incidents/{id}/presence");
        let (status, first) = put_as(&server, &centre, &path).await;
        assert_eq!((status, first["others"].as_array().map(Vec::len)), (200, Some(0)), "{first}");
        let (_, second) = put_as(&server, &city, &path).await;
        assert_eq!(second["others"][0]["login"], "centre", "{second}");
        let (_, again) = put_as(&server, &centre, &path).await;
        assert_eq!(again["others"][0]["login"], "city", "{again}");
        let response = server.client.delete(format!("{}{path}", server.base)).bearer_auth(&city).send().await.unwrap();
        assert_eq!(response.status(), 204);
        let (_, alone) = put_as(&server, &centre, &path).await;
        assert_eq!(alone["others"], json!([]));
        // A case outside the caller's area is not theirs to be present at.
        let here = demo_point(5).2;
        let (_, _, other) = (0..40).map(demo_point).find(|(_, _, g)| g[..9] != here[..9]).unwrap();
        let township = server.login(&format!("township-{}", &other[..9])).await.unwrap();
        let (status, problem) = put_as(&server, &township, &path).await;
        assert_eq!((status, problem["type"].as_str()), (404, Some("not-found")), "{problem}");
        let (status, problem) = put_as(&server, "not-a-token", &path).await;
        assert_eq!((status, problem["type"].as_str()), (401, Some("unauthenticated")), "{problem}");
    }
}

#[tokio::test]
async fn a_centre_sees_where_its_workers_on_duty_are_and_nobody_elses() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(8);
        let mut phone = server.phone(&format!("worker-{grid}"), "phone-8").await.unwrap();
        connect_fresh(&mut phone).await;
        let at = Location { lon: lon + 0.0001, lat, crs: None };
        phone
            .mutate("where-1", Op { kind: OpKind::Location { at, accuracy_m: Some(8.0) }, occurred_at: None })
            .await
            .unwrap();
        phone.until(WAIT, |s| s.answers.get("where-1").is_some_and(|a| a.ok)).await.unwrap();

        let centre = server.login("centre").await.unwrap();
        let (status, seen) = server.get_as(&centre, "/api/v1/workers/positions").await.unwrap();
        assert_eq!(status, 200, "{seen}");
        let worker = seen["workers"].as_array().unwrap().iter().find(|w| w["grid"] == grid.as_str()).cloned();
        let worker = worker.unwrap_or_else(|| panic!("{seen}"));
        assert!((worker["lon"].as_f64().unwrap() - (lon + 0.0001)).abs() < 1e-9, "{worker}");
        assert_eq!(worker["accuracy_m"], 8.0);

        // Another township's centre does not see this worker; a worker sees no one.
        let (_, _, other) = (0..40).map(demo_point).find(|(_, _, g)| g[..9] != grid[..9]).unwrap();
        let township = server.login(&format!("township-{}", &other[..9])).await.unwrap();
        let (_, theirs) = server.get_as(&township, "/api/v1/workers/positions").await.unwrap();
        assert!(theirs["workers"].as_array().unwrap().iter().all(|w| w["grid"] != grid.as_str()), "{theirs}");
        let worker_token = server.login(&format!("worker-{grid}")).await.unwrap();
        let (status, refused) = server.get_as(&worker_token, "/api/v1/workers/positions").await.unwrap();
        assert_eq!((status, refused["type"].as_str()), (403, Some("forbidden")));
        phone.disconnect().await;
    }
}

#[tokio::test]
async fn each_dispatch_candidate_shows_the_open_work_it_holds() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        // Two cases already sent to one grid.
        let (_, _, grid) = report_and_dispatch(&server, &centre, 11).await;
        let (first, _) = report(&server, 11).await;
        ok("accept", act(&server, &centre, &first, json!({"action": "accept"})).await);
        ok("dispatch", act(&server, &centre, &first, json!({"action": "dispatch", "to": {"grid": grid}})).await);
        // A third case in that grid asks where to go.
        let (third, _) = report(&server, 11).await;
        let (status, suggestion) =
            server.get_as(&centre, &format!("/api/v1/incidents/{third}/suggestion")).await.unwrap();
        assert_eq!(status, 200, "{suggestion}");
        let candidates = suggestion["candidates"].as_array().unwrap();
        assert_eq!(candidates[0]["target"], suggestion["target"], "the suggestion comes first");
        let of_grid = candidates.iter().find(|c| c["target"] == json!({"grid": grid})).unwrap();
        assert_eq!((of_grid["open"].as_u64(), of_grid["red"].as_u64()), (Some(2), Some(0)), "{of_grid}");
        assert!(of_grid["name"].as_str().unwrap().contains("网格"), "{of_grid}");
        let units = candidates.iter().filter(|c| c["target"].get("unit").is_some()).count();
        assert_eq!(units, 2, "its community and township: {candidates:?}");
        assert!(candidates.iter().any(|c| c["target"].get("department").is_some()), "{candidates:?}");
    }
}

#[tokio::test]
async fn a_completion_keeps_where_the_phone_was_and_how_far_from_the_case() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (id, task, grid) = report_and_dispatch(&server, &centre, 14).await;
        let (lon, lat, _) = demo_point(14);
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let take = json!({"kind": "accept_task"});
        ok("take", server.post_as(&worker, &format!("/api/v1/tasks/{task}/actions"), &take).await.unwrap());
        // A position that is not one is refused, and nothing changes.
        let bad = json!({"kind": "complete_task", "result": "已更换", "location": {"lon": 300.0, "lat": lat}});
        let (status, problem) = server.post_as(&worker, &format!("/api/v1/tasks/{task}/actions"), &bad).await.unwrap();
        assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-command")), "{problem}");
        // About 55 m north of the case.
        let done = json!({"kind": "complete_task", "result": "已更换", "location": {"lon": lon, "lat": lat + 0.0005}});
        ok("complete", server.post_as(&worker, &format!("/api/v1/tasks/{task}/actions"), &done).await.unwrap());
        let seen = case(&server, &centre, &id).await;
        let completed = seen["history"].as_array().unwrap().iter().find(|e| e["action"] == "task_completed").unwrap();
        let metres = completed["data"]["distance_m"].as_f64().unwrap();
        assert!((50.0..60.0).contains(&metres), "{completed}");
        assert!((completed["data"]["position"]["lat"].as_f64().unwrap() - (lat + 0.0005)).abs() < 1e-9);
    }
}

//! Importing a new grid layer into a running deployment, on SQLite and on PostgreSQL: a
//! server with the demo keeps running while `gridlink grids import` (the real binary, a
//! process of its own) stores a layer in which one grid was merged into its neighbour.
//! Within seconds the server answers from the new layer, the open case in the vanished
//! grid lies in the neighbour with the re-placement in its trace (and reaches its
//! holder's phone over the socket that stayed open), and the case elsewhere is as it
//! was. A broken file changes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use geo::{Area, InteriorPoint, MultiPolygon};
use geodata::{Layer, Tolerances, Unit};
use mobile_api_tests::{TestServer, gridlink_binary, servers_with};
use serde_json::{Value, json};

use crate::support::{actions, case, connect_fresh, listed, ok};

/// How long the server may take to take a new layer in (it looks every 2 s by default).
const SWAP_WITHIN: Duration = Duration::from_secs(15);

/// Two demo grids of one community that share an edge: the one to merge away, the
/// neighbour that takes it in, and their union (demo grids share their edges vertex for
/// vertex, so the union is exact: one polygon, no hole, the two areas added up).
fn merge_pair(layer: &Layer) -> (Unit, Unit, MultiPolygon<f64>) {
    let grids: Vec<&Unit> = layer.grids().collect();
    grids
        .iter()
        .flat_map(|a| grids.iter().map(move |b| (*a, *b)))
        .filter(|(a, b)| a.code != b.code && a.parent() == b.parent())
        .find_map(|(gone, keeper)| {
            let union = geodata::topo::dissolve(gone.geometry.0.iter().chain(&keeper.geometry.0));
            let area = gone.geometry.unsigned_area() + keeper.geometry.unsigned_area();
            let exact = union.0.len() == 1
                && union.0[0].interiors().is_empty()
                && (union.unsigned_area() - area).abs() <= area * 1e-9;
            exact.then(|| (gone.clone(), keeper.clone(), union))
        })
        .unwrap()
}

/// A point inside the grid.
fn inside(unit: &Unit) -> (f64, f64) {
    let p = unit.geometry.interior_point().unwrap();
    (p.x(), p.y())
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gridlink-live-{}-{}-{name}", std::process::id(), uuid::Uuid::new_v4().simple()))
}

/// Runs the real `gridlink` with these arguments off the runtime's threads (the server
/// under test shares them); its exit status, stdout and stderr.
async fn gridlink(args: Vec<String>) -> (std::process::ExitStatus, String, String) {
    let binary = gridlink_binary().unwrap();
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(binary).args(args).output())
        .await
        .unwrap()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The layer stored in the server's database, as `gridlink grids export` writes it.
async fn export(server: &TestServer) -> Layer {
    let file = temp_file("stored.geojson");
    let path = file.display().to_string();
    let (status, _, stderr) = gridlink(vec![
        "grids".into(),
        "export".into(),
        "--out".into(),
        path,
        "--database".into(),
        server.database_url.clone(),
    ])
    .await;
    assert!(status.success(), "export: {stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    // Seconds of work: off the thread the test's client connections live on.
    let checked =
        tokio::task::spawn_blocking(move || geodata::check_geojson(&text, &Tolerances::default())).await.unwrap();
    checked.layer.unwrap_or_else(|| panic!("the stored layer reads back: {}", checked.report))
}

/// Imports `text` into the server's database with the real binary.
async fn import(server: &TestServer, text: &str) -> (std::process::ExitStatus, String, String) {
    let file = temp_file("import.geojson");
    std::fs::write(&file, text).unwrap();
    let args = vec!["grids".into(), "import".into(), path(&file), "--database".into(), server.database_url.clone()];
    let result = gridlink(args).await;
    let _ = std::fs::remove_file(&file);
    result
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Files a resident's report at a point; the case's id.
async fn report(server: &TestServer, (lon, lat): (f64, f64)) -> String {
    let body = json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"});
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    opened["id"].as_str().unwrap().to_owned()
}

async fn located(server: &TestServer, (lon, lat): (f64, f64)) -> String {
    let (status, _, body) = server.get(&format!("/api/v1/locate?lon={lon}&lat={lat}")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["grid"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_layer_imported_into_a_running_deployment_is_taken_in_and_cases_follow_their_grid() {
    // The demo is built before any server answers a request: building it blocks this
    // test's thread for seconds, and a client connection left idle meanwhile goes stale.
    let demo = mobile_api_tests::demo_layer().unwrap();
    // Likewise the binary: the first call may build it, for minutes on a busy machine.
    gridlink_binary().unwrap();
    let (gone, keeper, union) = merge_pair(demo);
    // A case elsewhere: a grid of another community.
    let other = demo.grids().find(|g| g.parent() != gone.parent()).unwrap();
    let (at_other, elsewhere) = (inside(other), other.code.to_string());
    for server in servers_with(|_| {}).await {
        let (gone_code, keeper_code) = (gone.code.to_string(), keeper.code.to_string());
        let at_gone = inside(&gone);
        assert_eq!(located(&server, at_other).await, elsewhere);
        assert_eq!(located(&server, at_gone).await, gone_code);

        // The case in the grid to go is under way: dispatched, and held by its worker,
        // whose phone is connected.
        let centre_token = server.login("centre").await.unwrap();
        let worker = format!("worker-{gone_code}");
        let moving = report(&server, at_gone).await;
        let staying = report(&server, at_other).await;
        let act = |body: Value| {
            let (server, token, id) = (&server, centre_token.clone(), moving.clone());
            async move { server.post_as(&token, &format!("/api/v1/incidents/{id}/actions"), &body).await.unwrap() }
        };
        ok("accept", act(json!({"action": "accept"})).await);
        let dispatched = ok("dispatch", act(json!({"action": "dispatch", "to": {"grid": gone_code}})).await);
        let task = dispatched["tasks"][0]["id"].as_str().unwrap().to_owned();
        let worker_token = server.login(&worker).await.unwrap();
        let taken = server
            .post_as(&worker_token, &format!("/api/v1/tasks/{task}/actions"), &json!({"kind": "accept_task"}))
            .await
            .unwrap();
        ok("accept_task", taken);
        let mut phone = server.phone(&worker, "phone").await.unwrap();
        connect_fresh(&mut phone).await;
        let task_grid = |s: &sync_protocol::client::ClientState| {
            s.held.get("task").and_then(|t| t.get(&task)).map(|t| t["incident"]["grid"].clone())
        };
        assert_eq!(task_grid(&phone.state), Some(json!(gone_code)));

        // The new layer: the stored one, with the grid merged into its neighbour.
        let stored = export(&server).await;
        let merged = Layer::from_units(
            stored
                .units()
                .filter(|u| u.code != gone.code)
                .cloned()
                .map(|u| if u.code == keeper.code { Unit { geometry: union.clone(), ..u } } else { u }),
        )
        .unwrap();
        assert_eq!(merged.grids().count(), stored.grids().count() - 1);
        let (status, stdout, stderr) = import(&server, &geodata::geojson::write_layer(&merged).to_string()).await;
        assert!(status.success(), "import: {stdout}\n{stderr}");
        let grids = merged.grids().count();
        assert!(stdout.contains(&format!("imported {} units and {grids} grids", merged.len() - grids)), "{stdout}");
        assert!(stdout.contains("1 open case(s) lie in grids the layer no longer has"), "{stdout}");

        // Within a bounded wait the same server answers from the new layer...
        let started = Instant::now();
        while located(&server, at_gone).await != keeper_code {
            assert!(started.elapsed() < SWAP_WITHIN, "the new layer was not taken in within {SWAP_WITHIN:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // ... and the case in the vanished grid follows its location into the neighbour.
        let moved = loop {
            let now = case(&server, &centre_token, &moving).await;
            if now["grid"]["code"] == keeper_code.as_str() {
                break now;
            }
            assert!(started.elapsed() < SWAP_WITHIN, "the case was not re-placed: {now}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            actions(&moved),
            ["reported", "registered", "dispatched", "task_accepted", "replaced"],
            "{}",
            server.database_url
        );
        let event = moved["history"].as_array().unwrap().last().unwrap();
        assert_eq!(
            (event["data"]["from"].as_str(), event["data"]["to"].as_str()),
            (Some(&*gone_code), Some(&*keeper_code))
        );
        assert_eq!(event["actor"]["role"], "system");
        assert!(event["data"]["reason"].as_str().unwrap().contains(&gone_code), "{event}");
        assert_eq!(moved["status"], "dispatched", "the work goes on");
        assert_eq!(moved["tasks"][0]["status"], "accepted");

        // The case elsewhere is as it was.
        let still = case(&server, &centre_token, &staying).await;
        assert_eq!(still["grid"]["code"], elsewhere.as_str());
        assert_eq!(actions(&still), ["reported"]);

        // Lists and scoping follow the case: the neighbour's area has it, the old grid's
        // code has nothing, and the neighbour's own worker sees it.
        assert!(listed(&server, &centre_token, &format!("area={keeper_code}")).await.contains(&moving));
        assert!(listed(&server, &centre_token, &format!("area={gone_code}")).await.is_empty());
        let keeper_worker = server.login(&format!("worker-{keeper_code}")).await.unwrap();
        assert!(listed(&server, &keeper_worker, &format!("area={keeper_code}")).await.contains(&moving));
        // Maps and dispatch use the new grids.
        let (lon, lat) = at_gone;
        let bbox = format!("{},{},{},{}", lon - 0.0005, lat - 0.0005, lon + 0.0005, lat + 0.0005);
        let (_, _, map) = server.get(&format!("/api/v1/grids?bbox={bbox}")).await.unwrap();
        let codes: Vec<&str> =
            map["features"].as_array().unwrap().iter().map(|f| f["properties"]["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&keeper_code.as_str()) && !codes.contains(&gone_code.as_str()), "{codes:?}");
        let (status, refused) = act(json!({"action": "redispatch", "task": task, "to": {"grid": gone_code}})).await;
        assert_eq!((status, refused["type"].as_str()), (422, Some("unknown-target")), "{refused}");

        // The holder's phone shows the new grid: on the socket it kept open, or, if this
        // test was too slow to answer the socket's heartbeats meanwhile (a busy CI
        // machine), after reconnecting to the same server, which never stopped.
        let moved = |s: &sync_protocol::client::ClientState| task_grid(s) == Some(json!(keeper_code));
        if let Err(e) = phone.until(SWAP_WITHIN, moved).await {
            assert!(!phone.is_connected(), "connected, yet the new grid never came: {e:?}");
            phone.connect().await.unwrap();
            phone.until(SWAP_WITHIN, moved).await.unwrap();
        }
        phone.disconnect().await;
    }
}

#[tokio::test]
async fn a_broken_layer_imported_into_a_running_deployment_changes_nothing() {
    let demo = mobile_api_tests::demo_layer().unwrap();
    let (gone, _, _) = merge_pair(demo);
    // Not GeoJSON; and a layer that drops the grid without giving its area to anyone.
    let hole = Layer::from_units(demo.units().filter(|u| u.code != gone.code).cloned()).unwrap();
    let broken = [
        ("not json", "{\"type\": \"FeatureCollection\", \"features\": [".to_owned()),
        ("a hole", geodata::geojson::write_layer(&hole).to_string()),
    ];
    let codes = |layer: &Layer| layer.units().map(|u| u.code.to_string()).collect::<Vec<_>>();
    // The server looks every 200 ms here; the test waits until it has looked again.
    for server in servers_with(|s| {
        s.sync.grids_poll_ms = 200;
        s.test_clock = Some(gridlink::clock::now_ms());
    })
    .await
    {
        let gone_code = gone.code.to_string();
        let at_gone = inside(&gone);
        let centre_token = server.login("centre").await.unwrap();
        let id = report(&server, at_gone).await;

        for (what, text) in &broken {
            let (status, stdout, stderr) = import(&server, text).await;
            assert_eq!(status.code(), Some(1), "{what}: {stdout}\n{stderr}");
            assert!(stderr.contains("nothing was imported"), "{what}: {stderr}");
        }
        server.settle(&["grids"]).await.unwrap();
        assert_eq!(located(&server, at_gone).await, gone_code);
        let now = case(&server, &centre_token, &id).await;
        assert_eq!(now["grid"]["code"], gone_code.as_str());
        assert_eq!(actions(&now), ["reported"]);
        assert_eq!(codes(&export(&server).await), codes(demo), "the stored layer is the demo's");
    }
}

//! Many writers at once over HTTP against one server, on each backend: residents reporting
//! (some retrying with the same `Idempotency-Key` while the first try may still be under
//! way), staff and grid workers driving other cases through the whole loop, photos
//! uploading and desks reading the list, all concurrently. SQLite has one writer at a time; the server must
//! queue its writers rather than fail any of them with "database is locked". On
//! PostgreSQL the write path commits commands in groups (`incidents/act/group.rs`): a
//! retry may share a transaction with its first try, and must still be answered with
//! the first try's case. Every answer is a success, and at the end the counts add up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::total;

/// Grids the cases are spread over.
const GRIDS: usize = 8;
/// Reports filed during the storm (each with its own key).
const REPORTS: usize = 200;
/// Of those, every `RETRIED`th is sent twice at once with the same key and body.
const RETRIED: usize = 10;
/// Cases filed before the storm and driven through the whole loop during it.
const DRIVEN: usize = 24;
/// Tasks sharing the reports.
const REPORTERS: usize = 16;
/// Photos uploaded during the storm (below the per-address burst of 60).
const UPLOADS: usize = 40;

/// What a task did, once every answer it got was a success.
enum Done {
    /// A report under this key opened (or replayed) this case.
    Filed(String, String),
    /// A case driven to closed.
    Closed(String),
    /// Photos stored.
    Uploaded(usize),
    /// Lists read.
    Read(usize),
}

/// An answer that was not the success expected.
fn failed(step: &str, status: u16, body: &Value) -> String {
    format!("{step}: {status} {body}")
}

fn report_body(point: &(f64, f64, String), n: usize) -> Value {
    json!({
        "category": "C0101",
        "location": {"lon": point.0, "lat": point.1, "crs": "wgs84"},
        "description": format!("井盖缺失 #{n}"),
    })
}

/// POSTs a report with an `Idempotency-Key`; its status and body.
async fn file(server: &TestServer, key: &str, body: &Value) -> Result<(u16, Value), String> {
    let response = server
        .client
        .post(format!("{}/api/v1/reports", server.base))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("report {key}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.json().await.map_err(|e| format!("report {key}: {e}"))?;
    Ok((status, body))
}

/// Files the reports `ns` (key `storm-<n>`), each in grid `n % GRIDS`.
async fn reporter(
    server: Arc<TestServer>,
    points: Arc<Vec<(f64, f64, String)>>,
    ns: Vec<usize>,
) -> Result<Vec<Done>, String> {
    let mut done = Vec::with_capacity(ns.len());
    for n in ns {
        let key = format!("storm-{n}");
        let (status, body) = file(&server, &key, &report_body(&points[n % GRIDS], n)).await?;
        if status != 201 {
            return Err(failed(&format!("report {key}"), status, &body));
        }
        done.push(Done::Filed(key, body["id"].as_str().unwrap_or_default().to_owned()));
    }
    Ok(done)
}

/// Drives one registered-to-be case through the loop: accept, dispatch to its grid, the
/// worker takes and completes the task, the centre verifies and closes it.
async fn driver(
    server: Arc<TestServer>,
    centre: String,
    worker: String,
    id: String,
    grid: String,
) -> Result<Vec<Done>, String> {
    let act = |token: String, path: String, body: Value| {
        let server = server.clone();
        async move {
            let (status, body) = server.post_as(&token, &path, &body).await.map_err(|e| format!("{path}: {e}"))?;
            if status == 200 { Ok(body) } else { Err(failed(&path, status, &body)) }
        }
    };
    let actions = format!("/api/v1/incidents/{id}/actions");
    act(centre.clone(), actions.clone(), json!({"action": "accept"})).await?;
    let case = act(centre.clone(), actions.clone(), json!({"action": "dispatch", "to": {"grid": grid}})).await?;
    let task = case["tasks"].as_array().and_then(|t| t.last()).and_then(|t| t["id"].as_str()).unwrap_or_default();
    let task = format!("/api/v1/tasks/{task}/actions");
    act(worker.clone(), task.clone(), json!({"kind": "accept_task"})).await?;
    act(worker, task, json!({"kind": "complete_task", "result": "已更换井盖", "photos": []})).await?;
    act(centre.clone(), actions.clone(), json!({"action": "verify", "passed": true})).await?;
    let case = act(centre, actions, json!({"action": "close"})).await?;
    if case["status"] != "closed" {
        return Err(format!("case {id} ended {}", case["status"]));
    }
    Ok(vec![Done::Closed(id)])
}

/// Uploads `count` distinct small JPEGs.
async fn uploader(server: Arc<TestServer>, first: usize, count: usize) -> Result<Vec<Done>, String> {
    for n in first..first + count {
        let mut bytes = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00storm photo ".to_vec();
        bytes.extend_from_slice(&n.to_be_bytes());
        let response = server
            .client
            .post(format!("{}/api/v1/attachments", server.base))
            .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
            .body(bytes)
            .send()
            .await
            .map_err(|e| format!("upload {n}: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| format!("upload {n}: {e}"))?;
        if status != 201 {
            return Err(failed(&format!("upload {n}"), status, &body));
        }
    }
    Ok(vec![Done::Uploaded(count)])
}

/// Reads the centre's list `count` times.
async fn reader(server: Arc<TestServer>, centre: String, count: usize) -> Result<Vec<Done>, String> {
    for _ in 0..count {
        let (status, body) =
            server.get_as(&centre, "/api/v1/incidents?limit=20").await.map_err(|e| format!("list: {e}"))?;
        if status != 200 {
            return Err(failed("list", status, &body));
        }
    }
    Ok(vec![Done::Read(count)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_on_sqlite_all_succeed() {
    all_succeed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_on_postgres_all_succeed() {
    all_succeed(Backend::Postgres).await;
}

/// The storm against a fresh server on `backend` (skipped where PostgreSQL cannot be
/// reached outside CI).
async fn all_succeed(backend: Backend) {
    // Hundreds of anonymous reports and uploads from one address: past the per-address
    // limits a county would set, which this test is not about.
    let generous = |s: &mut gridlink::settings::Settings| {
        s.limits.reports_burst = 10_000;
        s.limits.uploads_burst = 10_000;
    };
    let Some(server) = TestServer::spawn_with(backend, generous).await.unwrap() else { return };
    let server = Arc::new(server);
    let centre = server.login("centre").await.unwrap();
    let mut points: Vec<(f64, f64, String)> = Vec::new();
    for n in 0..100 {
        let point = demo_point(n);
        if points.iter().all(|p| p.2 != point.2) {
            points.push(point);
        }
    }
    points.truncate(GRIDS);
    assert_eq!(points.len(), GRIDS, "the demo area has {GRIDS} grids to spread over");
    let mut workers = Vec::new();
    for point in &points {
        workers.push(server.login(&format!("worker-{}", point.2)).await.unwrap());
    }

    // The cases to drive, filed before the storm.
    let mut driven = Vec::new();
    for n in 0..DRIVEN {
        let (status, _, body) = server.post("/api/v1/reports", &report_body(&points[n % GRIDS], n)).await.unwrap();
        assert_eq!(status, 201, "{body}");
        driven.push((body["id"].as_str().unwrap().to_owned(), n % GRIDS));
    }

    let points = Arc::new(points);
    let mut storm: JoinSet<Result<Vec<Done>, String>> = JoinSet::new();
    for r in 0..REPORTERS {
        let ns: Vec<usize> = (r..REPORTS).step_by(REPORTERS).collect();
        storm.spawn(reporter(server.clone(), points.clone(), ns));
    }
    // The retries: the same keys and bodies, concurrently with their first sending.
    for chunk in (0..REPORTS).step_by(RETRIED).collect::<Vec<_>>().chunks(5) {
        storm.spawn(reporter(server.clone(), points.clone(), chunk.to_vec()));
    }
    for (id, g) in &driven {
        storm.spawn(driver(server.clone(), centre.clone(), workers[*g].clone(), id.clone(), points[*g].2.clone()));
    }
    storm.spawn(uploader(server.clone(), 0, UPLOADS / 2));
    storm.spawn(uploader(server.clone(), UPLOADS / 2, UPLOADS / 2));
    storm.spawn(reader(server.clone(), centre.clone(), 20));
    storm.spawn(reader(server.clone(), centre.clone(), 20));

    let mut errors = Vec::new();
    let (mut filed, mut closed, mut uploaded, mut read) =
        (BTreeMap::<String, BTreeSet<String>>::new(), BTreeSet::new(), 0, 0);
    while let Some(joined) = storm.join_next().await {
        match joined.unwrap() {
            Err(e) => errors.push(e),
            Ok(done) => {
                for d in done {
                    match d {
                        Done::Filed(key, id) => {
                            filed.entry(key).or_default().insert(id);
                        }
                        Done::Closed(id) => {
                            closed.insert(id);
                        }
                        Done::Uploaded(n) => uploaded += n,
                        Done::Read(n) => read += n,
                    }
                }
            }
        }
    }
    assert!(errors.is_empty(), "{} writers failed:\n{}", errors.len(), errors.join("\n"));
    assert_eq!(closed, driven.iter().map(|(id, _)| id.clone()).collect(), "every driven case was closed");
    assert_eq!((uploaded, read), (UPLOADS, 40));
    assert_eq!(filed.len(), REPORTS);
    assert!(filed.values().all(|ids| ids.len() == 1), "a retried key opened two cases: {filed:?}");
    let ids: BTreeSet<&String> = filed.values().flatten().collect();
    assert_eq!(ids.len(), REPORTS);

    assert_eq!(total(&server, &centre, "?status=closed").await, DRIVEN as i64);
    assert_eq!(total(&server, &centre, "?status=reported").await, REPORTS as i64);
    assert_eq!(total(&server, &centre, "").await, (REPORTS + DRIVEN) as i64);
}

//! Bad input over HTTP against a real server, on SQLite and on PostgreSQL: every refused
//! report, case action and task operation gets its problem+json (`type`, `title`,
//! `status`, `detail`) and changes nothing — no case appears, the case stays as it was.
//! Also the `Idempotency-Key` of reports (a retry gets the same case, another body with
//! the same key is refused) and reports in GCJ-02 and BD-09, stored in WGS-84.

use geodata::crs::{Crs, from_wgs84};
use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};

use crate::support::{Reply, case, problem, read, report_body_with_contact, total};

/// POSTs `body` as JSON (whatever its bytes), with a bearer token and an
/// `Idempotency-Key` when given.
async fn send(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = server
        .client
        .post(format!("{}{path}", server.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    read(request.send().await.unwrap()).await
}

/// `base` with the value at `pointer` replaced (or removed, for `None`).
fn with(base: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut body = base.clone();
    let (parent, field) = pointer.rsplit_once('/').unwrap();
    let object = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(field.to_owned(), value),
        None => object.remove(field),
    };
    body
}

/// Files a valid report in the grid of `demo_point(nth)`; its id and the grid's code.
async fn file(server: &TestServer, nth: usize) -> (String, String) {
    let reply = send(server, "/api/v1/reports", None, None, report_body_with_contact(nth).to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    (reply.body["id"].as_str().unwrap().to_owned(), demo_point(nth).2)
}

async fn act(server: &TestServer, token: Option<&str>, id: &str, body: impl Into<reqwest::Body>) -> Reply {
    send(server, &format!("/api/v1/incidents/{id}/actions"), token, None, body).await
}

async fn task_op(server: &TestServer, token: &str, task: &str, body: impl Into<reqwest::Body>) -> Reply {
    send(server, &format!("/api/v1/tasks/{task}/actions"), Some(token), None, body).await
}

fn ok(step: &str, reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{step}: {}", reply.body);
    reply.body
}

/// A township other than `township`.
fn other_township(township: &str) -> String {
    let layer = mobile_api_tests::demo_layer().unwrap();
    layer.at_level(geodata::Level::Township).map(|u| u.code.to_string()).find(|c| c != township).unwrap()
}

#[tokio::test]
async fn refused_reports_get_their_problem_and_open_no_case() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let good = report_body_with_contact(0);
        let never_uploaded = Value::from(vec![format!("sha256:{}", "0".repeat(64))]);
        let bad: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("malformed JSON", br#"{"category": "C0101", "location": {"lon": 1"#.to_vec(), 400, "bad-request"),
            ("not an object", b"[1, 2, 3]".to_vec(), 400, "bad-request"),
            ("no category", with(&good, "/category", None).to_string().into_bytes(), 400, "bad-request"),
            ("no location", with(&good, "/location", None).to_string().into_bytes(), 400, "bad-request"),
            (
                "unknown category",
                with(&good, "/category", Some(json!("X9999"))).to_string().into_bytes(),
                422,
                "unknown-category",
            ),
            (
                "outside the demo area",
                with(&good, "/location", Some(json!({"lon": 100.0, "lat": 30.0, "crs": "wgs84"})))
                    .to_string()
                    .into_bytes(),
                404,
                "outside-service-area",
            ),
            (
                "latitude 95",
                with(&good, "/location/lat", Some(json!(95.0))).to_string().into_bytes(),
                400,
                "invalid-coordinates",
            ),
            (
                "longitude 200",
                with(&good, "/location/lon", Some(json!(200.0))).to_string().into_bytes(),
                400,
                "invalid-coordinates",
            ),
            (
                "unknown crs",
                with(&good, "/location/crs", Some(json!("utm50n"))).to_string().into_bytes(),
                400,
                "invalid-crs",
            ),
            (
                "a photo never uploaded",
                with(&good, "/photos", Some(never_uploaded)).to_string().into_bytes(),
                422,
                "unknown-attachment",
            ),
            (
                "a malformed photo id",
                with(&good, "/photos", Some(json!(["IMG_0001.jpg"]))).to_string().into_bytes(),
                422,
                "unknown-attachment",
            ),
            (
                "a description of 2001 characters",
                with(&good, "/description", Some(json!("井".repeat(2001)))).to_string().into_bytes(),
                422,
                "text-too-long",
            ),
            (
                "a blank description and no photos",
                with(&good, "/description", Some(json!("  \n "))).to_string().into_bytes(),
                422,
                "invalid-report",
            ),
            (
                "a bad phone",
                with(&good, "/contact/phone", Some(json!("call me maybe"))).to_string().into_bytes(),
                422,
                "invalid-contact",
            ),
            (
                "a body over 64 KiB",
                with(&good, "/description", Some(json!("a".repeat(70 * 1024)))).to_string().into_bytes(),
                413,
                "payload-too-large",
            ),
        ];
        for (step, body, status, slug) in bad {
            let reply = send(&server, "/api/v1/reports", None, None, body).await;
            problem(step, &reply, status, slug);
            assert_eq!(total(&server, &centre, "").await, 0, "{step} opened a case");
        }

        // The limits are where they say: 2000 characters are taken.
        let longest = with(&good, "/description", Some(json!("井".repeat(2000))));
        let reply = send(&server, "/api/v1/reports", None, None, longest.to_string()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(total(&server, &centre, "").await, 1);
    }
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_case_and_refuses_another_body() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let body = report_body_with_contact(1);
        let key = format!("report-{}", uuid::Uuid::new_v4());

        let first = send(&server, "/api/v1/reports", None, Some(&key), body.to_string()).await;
        assert_eq!(first.status, 201, "{}", first.body);
        let again = send(&server, "/api/v1/reports", None, Some(&key), body.to_string()).await;
        assert_eq!(again.status, 201, "{}", again.body);
        for field in ["id", "code", "follow_token"] {
            assert!(first.body[field].is_string(), "{}", first.body);
            assert_eq!(again.body[field], first.body[field], "the retry got another {field}");
        }
        assert_eq!(total(&server, &centre, "").await, 1, "a retry opened a second case");
        let (id, token) = (first.body["id"].as_str().unwrap(), first.body["follow_token"].as_str().unwrap());
        let (status, _, follow) = server.get(&format!("/api/v1/reports/{id}?follow_token={token}")).await.unwrap();
        assert_eq!(status, 200, "{follow}");

        // The same JSON written otherwise (spaces, key order) is the same body.
        let (lon, lat) = (body["location"]["lon"].as_f64().unwrap(), body["location"]["lat"].as_f64().unwrap());
        let reformatted = format!(
            "{{\n  \"contact\" : {{ \"phone\": \"13812345678\", \"name\": \"张三丰\" }},\n  \"description\": \"井盖缺失\",\n  \
             \"location\": {{\"crs\": \"wgs84\",   \"lat\": {lat}, \"lon\": {lon}}},\n  \"category\": \"C0101\"\n}}"
        );
        assert_eq!(serde_json::from_str::<Value>(&reformatted).unwrap(), body, "the test's own premise");
        let third = send(&server, "/api/v1/reports", None, Some(&key), reformatted).await;
        assert_eq!(third.status, 201, "{}", third.body);
        assert_eq!(third.body, first.body);
        assert_eq!(total(&server, &centre, "").await, 1);

        // Another body under the same key is refused.
        let other = with(&body, "/description", Some(json!("路灯不亮")));
        let reply = send(&server, "/api/v1/reports", None, Some(&key), other.to_string()).await;
        problem("same key, another body", &reply, 422, "idempotency-key-reused");
        assert_eq!(total(&server, &centre, "").await, 1);

        // A key must be 1–255 visible characters.
        let reply = send(&server, "/api/v1/reports", None, Some(&"k".repeat(300)), body.to_string()).await;
        problem("a key of 300 characters", &reply, 400, "bad-request");
        assert_eq!(total(&server, &centre, "").await, 1);

        // A refused report does not bind its key.
        let fresh = format!("report-{}", uuid::Uuid::new_v4());
        let bad = with(&body, "/category", Some(json!("X9999")));
        let reply = send(&server, "/api/v1/reports", None, Some(&fresh), bad.to_string()).await;
        problem("refused under a fresh key", &reply, 422, "unknown-category");
        let reply = send(&server, "/api/v1/reports", None, Some(&fresh), other.to_string()).await;
        assert_eq!(reply.status, 201, "the refused report bound its key: {}", reply.body);
        assert_ne!(reply.body["id"], first.body["id"]);
        assert_eq!(total(&server, &centre, "").await, 2);

        // The key, not the body, makes a retry: the same body under a new key is a new case.
        let newer = send(&server, "/api/v1/reports", None, Some(&format!("{key}-2")), body.to_string()).await;
        assert_eq!(newer.status, 201, "{}", newer.body);
        assert_ne!(newer.body["id"], first.body["id"]);
        assert_eq!(total(&server, &centre, "").await, 3);
    }
}

#[tokio::test]
async fn reports_in_gcj02_and_bd09_land_where_their_wgs84_point_is() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        for nth in [0, 5] {
            let (lon, lat, grid) = demo_point(nth);
            for (crs, name) in [(Crs::Gcj02, "gcj02"), (Crs::Bd09, "bd09")] {
                let (x, y) = from_wgs84(crs, lon, lat);
                assert!((x - lon).abs() + (y - lat).abs() > 1e-3, "{name} must move a point of the demo area");
                let body = json!({
                    "category": "C0101",
                    "location": {"lon": x, "lat": y, "crs": name},
                    "description": "井盖缺失",
                });
                let reply = send(&server, "/api/v1/reports", None, None, body.to_string()).await;
                assert_eq!(reply.status, 201, "{name}: {}", reply.body);
                let case = case(&server, &centre, reply.body["id"].as_str().unwrap()).await;
                assert_eq!(case["grid"]["code"], grid.as_str(), "{name}: {case}");
                let (slon, slat) =
                    (case["location"]["lon"].as_f64().unwrap(), case["location"]["lat"].as_f64().unwrap());
                assert!(
                    (slon - lon).abs() < 1e-5 && (slat - lat).abs() < 1e-5,
                    "{name}: stored at ({slon}, {slat}), the WGS-84 point is ({lon}, {lat})"
                );
            }
        }
    }
}

#[tokio::test]
async fn refused_case_actions_get_their_problem_and_change_nothing() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (id, grid) = file(&server, 2).await;
        let township = &grid[..9];
        let stranger = server.login(&format!("township-{}", other_township(township))).await.unwrap();
        let before = case(&server, &centre, &id).await;
        assert_eq!(before["status"], "reported");

        let c = Some(centre.as_str());
        let refusals: Vec<(&str, Reply, u16, &str)> = vec![
            ("malformed JSON", act(&server, c, &id, r#"{"action": "accept""#).await, 400, "bad-request"),
            ("no action", act(&server, c, &id, r#"{"confirm": true}"#).await, 400, "bad-request"),
            ("unknown action", act(&server, c, &id, r#"{"action": "frobnicate"}"#).await, 400, "bad-request"),
            (
                "merge into no case",
                act(&server, c, &id, r#"{"action": "merge", "into": "x"}"#).await,
                422,
                "unknown-case",
            ),
            ("close a reported case", act(&server, c, &id, r#"{"action": "close"}"#).await, 409, "illegal-transition"),
            (
                "verify a reported case",
                act(&server, c, &id, r#"{"action": "verify", "passed": true}"#).await,
                409,
                "illegal-transition",
            ),
            (
                "dispatch a reported case",
                act(&server, c, &id, json!({"action": "dispatch", "to": {"grid": grid}}).to_string()).await,
                409,
                "illegal-transition",
            ),
            (
                "no such case",
                act(&server, c, &uuid::Uuid::new_v4().to_string(), r#"{"action": "accept"}"#).await,
                404,
                "not-found",
            ),
            ("no token", act(&server, None, &id, r#"{"action": "accept"}"#).await, 401, "unauthenticated"),
            (
                "a bad token",
                act(&server, Some("not-a-token"), &id, r#"{"action": "accept"}"#).await,
                401,
                "unauthenticated",
            ),
            (
                "another township's case",
                act(&server, Some(&stranger), &id, r#"{"action": "accept"}"#).await,
                404,
                "not-found",
            ),
        ];
        for (step, reply, status, slug) in refusals {
            problem(step, &reply, status, slug);
            assert_eq!(case(&server, &centre, &id).await, before, "{step} changed the case");
        }

        // Registered, the case is dispatched only to grids that exist in the caller's area.
        let registered = ok("accept", act(&server, c, &id, r#"{"action": "accept"}"#).await);
        assert_eq!(registered["status"], "registered");
        let layer = mobile_api_tests::demo_layer().unwrap();
        let unknown = format!("{}999", &grid[..12]);
        assert!(layer.grids().all(|g| g.code.to_string() != unknown), "{unknown} must not be a grid");
        let far_grid = (1..50).map(|n| demo_point(n).2).find(|g| &g[..9] != township).unwrap();
        let own_township = server.login(&format!("township-{township}")).await.unwrap();
        let refusals: Vec<(&str, Reply, u16, &str)> = vec![
            (
                "dispatch to an unknown grid",
                act(&server, c, &id, json!({"action": "dispatch", "to": {"grid": unknown}}).to_string()).await,
                422,
                "unknown-target",
            ),
            (
                "dispatch to a malformed grid code",
                act(&server, c, &id, r#"{"action": "dispatch", "to": {"grid": "nowhere"}}"#).await,
                422,
                "unknown-target",
            ),
            (
                "dispatch to a grid of another township",
                act(
                    &server,
                    Some(&own_township),
                    &id,
                    json!({"action": "dispatch", "to": {"grid": far_grid}}).to_string(),
                )
                .await,
                422,
                "unknown-target",
            ),
            (
                "dispatch with an unknown assistant",
                act(
                    &server,
                    c,
                    &id,
                    json!({"action": "dispatch", "to": {"grid": grid}, "assist": [{"grid": unknown}]}).to_string(),
                )
                .await,
                422,
                "unknown-target",
            ),
            (
                "accept a registered case",
                act(&server, c, &id, r#"{"action": "accept"}"#).await,
                409,
                "illegal-transition",
            ),
        ];
        for (step, reply, status, slug) in refusals {
            problem(step, &reply, status, slug);
            assert_eq!(case(&server, &centre, &id).await, registered, "{step} changed the case");
        }
        assert_eq!(total(&server, &centre, "").await, 1);
    }
}

#[tokio::test]
async fn refused_task_operations_get_their_problem_and_change_nothing() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (id, grid) = file(&server, 3).await;
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let other_worker = (1..50).map(|n| demo_point(n).2).find(|g| *g != grid).unwrap();
        let other_worker = server.login(&format!("worker-{other_worker}")).await.unwrap();
        let staff = server.login(&format!("community-{}", &grid[..12])).await.unwrap();
        ok("accept", act(&server, Some(&centre), &id, r#"{"action": "accept"}"#).await);
        let dispatched = ok(
            "dispatch",
            act(&server, Some(&centre), &id, json!({"action": "dispatch", "to": {"grid": grid}}).to_string()).await,
        );
        let task = dispatched["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(case(&server, &staff, &id).await["id"], id.as_str(), "the community's staff see the case");

        let refusals: Vec<(&str, Reply, u16, &str)> = vec![
            (
                "no such task",
                task_op(&server, &worker, &uuid::Uuid::new_v4().to_string(), r#"{"kind": "accept_task"}"#).await,
                404,
                "not-found",
            ),
            (
                "a malformed task id",
                task_op(&server, &worker, "task-1", r#"{"kind": "accept_task"}"#).await,
                404,
                "not-found",
            ),
            ("malformed JSON", task_op(&server, &worker, &task, r#"{"kind": "#).await, 400, "bad-request"),
            ("unknown kind", task_op(&server, &worker, &task, r#"{"kind": "teleport"}"#).await, 400, "bad-request"),
            (
                "an op that is not about a task",
                task_op(&server, &worker, &task, r#"{"kind": "location", "lon": 118.3, "lat": 33.9}"#).await,
                422,
                "not-a-task-operation",
            ),
            (
                "more time asked in no known form",
                task_op(
                    &server,
                    &worker,
                    &task,
                    r#"{"kind": "request_extension", "until": "next week", "reason": "x"}"#,
                )
                .await,
                422,
                "invalid-command",
            ),
            (
                "a task given back without a reason",
                task_op(&server, &worker, &task, r#"{"kind": "return_task", "reason": " "}"#).await,
                422,
                "invalid-command",
            ),
            (
                "a worker of another grid",
                task_op(&server, &other_worker, &task, r#"{"kind": "accept_task"}"#).await,
                404,
                "not-found",
            ),
            (
                "the community's staff take the grid's task",
                task_op(&server, &staff, &task, r#"{"kind": "accept_task"}"#).await,
                403,
                "not-your-task",
            ),
            (
                "complete before accepting",
                task_op(&server, &worker, &task, r#"{"kind": "complete_task", "result": "done"}"#).await,
                409,
                "task-not-active",
            ),
        ];
        for (step, reply, status, slug) in refusals {
            problem(step, &reply, status, slug);
            assert_eq!(case(&server, &centre, &id).await, dispatched, "{step} changed the case");
        }

        ok("accept_task", task_op(&server, &worker, &task, r#"{"kind": "accept_task"}"#).await);
        // As the centre sees it: what a caller may do differs by caller.
        let accepted = case(&server, &centre, &id).await;
        assert_eq!(accepted["tasks"].as_array().unwrap().last().unwrap()["status"], "accepted");
        let missing =
            json!({"kind": "complete_task", "result": "done", "photos": [format!("sha256:{}", "e".repeat(64))]});
        let refusals: Vec<(&str, Reply, u16, &str)> = vec![
            (
                "confirm a handle task",
                task_op(&server, &worker, &task, r#"{"kind": "confirm_task", "exists": true}"#).await,
                409,
                "wrong-task-kind",
            ),
            (
                "accept it twice",
                task_op(&server, &worker, &task, r#"{"kind": "accept_task"}"#).await,
                409,
                "task-not-active",
            ),
            (
                "the community's staff complete it",
                task_op(&server, &staff, &task, r#"{"kind": "complete_task", "result": "done"}"#).await,
                403,
                "not-your-task",
            ),
            (
                "complete with a photo never uploaded",
                task_op(&server, &worker, &task, missing.to_string()).await,
                422,
                "unknown-attachment",
            ),
        ];
        for (step, reply, status, slug) in refusals {
            problem(step, &reply, status, slug);
            let now = case(&server, &centre, &id).await;
            assert_eq!(now, accepted, "{step} changed the case");
            assert_eq!(now["status"], "dispatched");
            assert_eq!(now["tasks"].as_array().unwrap().last().unwrap()["status"], "accepted", "{step}");
        }

        // The refusals left the task workable.
        let done =
            ok("complete", task_op(&server, &worker, &task, r#"{"kind": "complete_task", "result": "done"}"#).await);
        assert_eq!(done["status"], "handled");
    }
}

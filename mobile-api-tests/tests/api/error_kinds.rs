//! One list of error kinds (issue 13, point 3): the same condition answers the same kind
//! over HTTP and on the socket, and every kind a route answers is listed for that route
//! in the OpenAPI document. (Every test's server also fails its test if any route answers
//! a kind it does not list: see `mobile_api_tests::TestServer`.)

use std::time::Duration;

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};
use sync_protocol::ServerMessage;
use sync_protocol::phone::Phone;

const WAIT: Duration = Duration::from_secs(10);

/// The `type`s the document lists for `method path` under `status`.
fn listed(doc: &Value, method: &str, path: &str, status: u16) -> Vec<String> {
    let schema =
        &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/problem+json"]["schema"];
    let parts = schema["allOf"].as_array().cloned().unwrap_or_default();
    parts
        .iter()
        .flat_map(|part| part["properties"]["type"]["enum"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// An HTTP answer: its status and problem `type`, checked to be listed for its route.
fn http_kind(doc: &Value, method: &str, route: &str, (status, body): (u16, Value)) -> String {
    let kind = body["type"].as_str().unwrap_or_else(|| panic!("{method} {route}: no problem: {body}")).to_owned();
    let types = listed(doc, method, route, status);
    assert!(types.contains(&kind), "{method} {route} answered {status} {kind}, listed: {types:?}");
    kind
}

/// Sends a raw mutation; the `code` of its result (refused).
async fn socket_kind(phone: &mut Phone, id: &str, op: Value) -> String {
    let frame = json!({"type": "mutate", "id": id, "op": op});
    phone.send_raw(frame.to_string()).await.unwrap();
    loop {
        if let ServerMessage::MutationResult { id: got, ok, code, .. } = phone.recv(WAIT).await.unwrap()
            && got == id
        {
            assert!(!ok, "{id} was applied");
            return code.unwrap_or_else(|| panic!("{id}: refused without a code"));
        }
    }
}

async fn post(server: &TestServer, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
    let mut request = server.client.post(format!("{}{path}", server.base)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn one_condition_answers_one_kind_on_both_doors_and_the_document_lists_it() {
    for server in servers().await {
        let doc: Value =
            server.client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
        let (lon, lat, grid) = demo_point(3);
        let worker = format!("worker-{grid}");
        let worker_token = server.login(&worker).await.unwrap();
        // The phone holds the same session, so that logging it out ends the socket too.
        let mut phone = Phone::new(server.ws_url(), worker_token.clone(), "phone");
        phone.connect().await.unwrap();
        let report = |category: &str, lon: f64, lat: f64, photos: Value| json!({"category": category, "location": {"lon": lon, "lat": lat}, "description": "井盖缺失", "photos": photos});
        let finding = |category: &str, lon: f64, lat: f64, photos: Value| {
            json!({"kind": "report_incident", "incident_id": uuid::Uuid::new_v4().to_string(), "category": category,
                   "location": {"lon": lon, "lat": lat}, "description": "井盖缺失", "photos": photos})
        };
        let missing = json!([format!("sha256:{}", "0".repeat(64))]);
        let no_task = uuid::Uuid::new_v4().to_string();

        // (condition, HTTP answer, socket answer)
        let cases = [
            (
                "a photo that was never uploaded",
                http_kind(
                    &doc,
                    "post",
                    "/api/v1/reports",
                    post(&server, None, "/api/v1/reports", &report("C0101", lon, lat, missing.clone())).await,
                ),
                socket_kind(&mut phone, "photo", finding("C0101", lon, lat, missing.clone())).await,
            ),
            (
                "a category that does not exist",
                http_kind(
                    &doc,
                    "post",
                    "/api/v1/reports",
                    post(&server, None, "/api/v1/reports", &report("NOPE", lon, lat, json!([]))).await,
                ),
                socket_kind(&mut phone, "category", finding("NOPE", lon, lat, json!([]))).await,
            ),
            (
                "a point outside every grid",
                http_kind(
                    &doc,
                    "post",
                    "/api/v1/reports",
                    post(&server, None, "/api/v1/reports", &report("C0101", 10.0, 10.0, json!([]))).await,
                ),
                socket_kind(&mut phone, "outside", finding("C0101", 10.0, 10.0, json!([]))).await,
            ),
            (
                "a task that does not exist",
                http_kind(
                    &doc,
                    "post",
                    "/api/v1/tasks/{id}/actions",
                    post(
                        &server,
                        Some(&worker_token),
                        &format!("/api/v1/tasks/{no_task}/actions"),
                        &json!({"kind": "accept_task"}),
                    )
                    .await,
                ),
                socket_kind(&mut phone, "task", json!({"kind": "accept_task", "task_id": no_task})).await,
            ),
            (
                "more time asked in no known form",
                http_kind(
                    &doc,
                    "post",
                    "/api/v1/tasks/{id}/actions",
                    post(
                        &server,
                        Some(&worker_token),
                        &format!("/api/v1/tasks/{no_task}/actions"),
                        &json!({"kind": "request_extension", "until": "next week", "reason": "x"}),
                    )
                    .await,
                ),
                socket_kind(
                    &mut phone,
                    "until",
                    json!({"kind": "request_extension", "task_id": no_task, "until": "next week", "reason": "x"}),
                )
                .await,
            ),
        ];
        let want = ["unknown-attachment", "unknown-category", "outside-service-area", "not-found", "invalid-command"];
        for ((condition, http, socket), want) in cases.into_iter().zip(want) {
            assert_eq!((http.as_str(), socket.as_str()), (want, want), "{condition}");
        }

        // A session that ended: 401 over HTTP, and the socket says the same kind before it closes.
        let (status, _) = post(&server, Some(&worker_token), "/api/v1/auth/logout", &json!({})).await;
        assert_eq!(status, 204);
        let ended = loop {
            match phone.recv(WAIT).await {
                Ok(ServerMessage::Error { code, .. }) => break code,
                Ok(_) => {}
                Err(e) => panic!("the socket closed without saying why: {e}"),
            }
        };
        let http = server.get_as(&worker_token, "/api/v1/me").await.unwrap();
        assert_eq!(
            (http_kind(&doc, "get", "/api/v1/me", http).as_str(), ended.as_str()),
            ("unauthenticated", "unauthenticated")
        );
    }
}

#[tokio::test]
async fn every_route_lists_internal_and_a_routes_own_kinds_under_their_statuses() {
    let server = TestServer::spawn().await.unwrap();
    let doc: Value =
        server.client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, _) in
            item.as_object().unwrap().iter().filter(|(m, _)| ["get", "put", "post", "delete"].contains(&m.as_str()))
        {
            operations += 1;
            if path.starts_with("/open311/") {
                // Open311 answers the standard's error array, not problem+json (open311.rs).
                continue;
            }
            assert_eq!(listed(&doc, method, path, 500), ["internal"], "{method} {path}");
        }
    }
    assert!(operations >= 25, "{operations} operations");
    assert!(listed(&doc, "post", "/api/v1/auth/login", 429).contains(&"rate-limited".to_owned()));
    assert!(listed(&doc, "post", "/api/v1/incidents/{id}/actions", 409).contains(&"verifier-is-handler".to_owned()));
    assert!(listed(&doc, "get", "/api/v1/me", 401).contains(&"unauthenticated".to_owned()));
    assert!(listed(&doc, "get", "/api/v1/categories", 401).is_empty(), "a public route needs no session");
}

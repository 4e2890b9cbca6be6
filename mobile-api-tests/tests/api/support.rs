//! What the end-to-end scenarios share: requests to a test server's case and task routes
//! and what to expect of their answers, a resident's report in a demo grid, a phone's
//! first connection. The servers themselves are `mobile_api_tests`'s ([`TestServer`]).

use std::time::Duration;

use mobile_api_tests::{TestServer, demo_point};
use serde_json::{Value, json};
use sync_protocol::ServerMessage;
use sync_protocol::phone::Phone;

/// How long a phone waits for what the server owes it.
pub const WAIT: Duration = Duration::from_secs(10);

/// A resident's report of a missing manhole cover in the `nth` demo grid.
pub fn report_body(nth: usize) -> Value {
    let (lon, lat, _) = demo_point(nth);
    json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"})
}

/// The same report with its coordinate system named and the resident's contact.
pub fn report_body_with_contact(nth: usize) -> Value {
    let (lon, lat, _) = demo_point(nth);
    json!({
        "category": "C0101",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "description": "井盖缺失",
        "contact": {"name": "张三丰", "phone": "13812345678"},
    })
}

/// Files [`report_body`]`(nth)` anonymously: the case's id and its grid's code.
pub async fn report(server: &TestServer, nth: usize) -> (String, String) {
    let (lon, lat, grid) = demo_point(nth);
    let (status, _, opened) = server.post("/api/v1/reports", &report_body(nth)).await.unwrap();
    assert_eq!(status, 201, "report {nth} at {lon},{lat} on {}: {opened}", server.database_url);
    (opened["id"].as_str().unwrap().to_owned(), grid)
}

/// Reports a case in the `nth` demo grid, accepts it and dispatches it to the grid as
/// `centre`: the case's id, the new task's id and the grid's code.
pub async fn report_and_dispatch(server: &TestServer, centre: &str, nth: usize) -> (String, String, String) {
    let (id, grid) = report(server, nth).await;
    ok("accept", act(server, centre, &id, json!({"action": "accept"})).await);
    let case = ok("dispatch", act(server, centre, &id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
    let task = case["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    (id, task, grid)
}

/// POSTs a command on case `id` as `token`: the status and the body.
pub async fn act(server: &TestServer, token: &str, id: &str, body: Value) -> (u16, Value) {
    server.post_as(token, &format!("/api/v1/incidents/{id}/actions"), &body).await.unwrap()
}

/// POSTs an operation on task `task` as `token`: the status and the body.
pub async fn task_op(server: &TestServer, token: &str, task: &str, body: Value) -> (u16, Value) {
    server.post_as(token, &format!("/api/v1/tasks/{task}/actions"), &body).await.unwrap()
}

/// Case `id` as `token` sees it (which must be allowed).
pub async fn case(server: &TestServer, token: &str, id: &str) -> Value {
    let (status, case) = server.get_as(token, &format!("/api/v1/incidents/{id}")).await.unwrap();
    assert_eq!(status, 200, "{case}");
    case
}

/// The ids of the cases `token` lists with `query` (`level=2`, `area=<code>`, …), up to 200.
pub async fn listed(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let (status, page) = server.get_as(token, &format!("/api/v1/incidents?limit=200&{query}")).await.unwrap();
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

/// How many cases `token` sees with `query` (`""`, or `?status=closed`, …).
pub async fn total(server: &TestServer, token: &str, query: &str) -> i64 {
    let (status, list) = server.get_as(token, &format!("/api/v1/incidents{query}")).await.unwrap();
    assert_eq!(status, 200, "{list}");
    list["total"].as_i64().unwrap()
}

/// The body of an answer that must be 200.
pub fn ok(step: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{step}: {body}");
    body
}

/// Asserts that an answer is a refusal of `want_status` and problem type `want_type`.
pub fn refused(step: &str, (status, body): (u16, Value), want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{step}: {body}");
    assert_eq!(body["type"], want_type, "{step}: {body}");
}

/// The actions of a case's history, oldest first.
pub fn actions(case: &Value) -> Vec<String> {
    case["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

/// How many times `action` is in a case's history.
pub fn count(case: &Value, action: &str) -> usize {
    actions(case).iter().filter(|a| *a == action).count()
}

/// An RFC 3339 instant of an answer, in Unix ms.
pub fn ms(instant: &Value) -> i64 {
    gridlink::clock::parse_rfc3339(instant.as_str().unwrap()).unwrap()
}

/// Connects a phone with no cursor and takes in its snapshot.
pub async fn connect_fresh(phone: &mut Phone) {
    phone.connect().await.unwrap();
    while !matches!(phone.recv(WAIT).await.unwrap(), ServerMessage::SnapshotEnd { .. }) {}
}

/// Logs a demo account in (password `demo`), from `device` when given: its bearer token
/// and user id.
pub async fn login_on(server: &TestServer, login: &str, device: Option<&str>) -> (String, String) {
    let mut body = json!({"login": login, "password": "demo"});
    if let Some(device) = device {
        body["device_id"] = json!(device);
    }
    let (status, _, body) = server.post("/api/v1/auth/login", &body).await.unwrap();
    assert_eq!(status, 200, "{body}");
    (body["token"].as_str().unwrap().to_owned(), body["user"]["id"].as_str().unwrap().to_owned())
}

/// An answer as it came, for tests that look past its JSON body.
pub struct Reply {
    /// Its status.
    pub status: u16,
    /// Its `Content-Type` (empty when none).
    pub content_type: String,
    /// Its `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// Its body as JSON (`null` when it is not JSON).
    pub body: Value,
    /// Its body as it came.
    pub bytes: Vec<u8>,
}

/// Reads an answer whole.
pub async fn read(response: reqwest::Response) -> Reply {
    let header = |name| response.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok());
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default().to_owned();
    let retry_after = header(reqwest::header::RETRY_AFTER).and_then(|v| v.parse().ok());
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap().to_vec();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, content_type, retry_after, body, bytes }
}

/// Asserts that `reply` is the problem document of `status` and `slug`.
pub fn problem(step: &str, reply: &Reply, status: u16, slug: &str) {
    let doc = &reply.body;
    assert_eq!(reply.status, status, "{step}: {doc}");
    assert!(
        reply.content_type.starts_with("application/problem+json"),
        "{step}: content type {:?}, body {doc}",
        reply.content_type
    );
    assert_eq!(doc["type"], slug, "{step}: {doc}");
    assert_eq!(doc["status"], status, "{step}: {doc}");
    assert!(doc["title"].as_str().is_some_and(|t| !t.is_empty()), "{step}: {doc}");
    assert!(doc["detail"].as_str().is_some_and(|t| !t.is_empty()), "{step}: {doc}");
}

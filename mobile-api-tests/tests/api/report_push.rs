//! Web Push for residents, who have no account: the browser that filed a report
//! subscribes to news of it with the follow token (`PUT /api/v1/reports/{id}/push`), and
//! hears — through a push service on loopback that checks the signature and decrypts as
//! a real one would — when the case is taken in, closed and reopened, each push saying
//! only the report's id and status; a duplicate's reporter hears it was merged and then
//! follows the survivor. A wrong token is a 404, a bad endpoint the worker route's 422.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mobile_api_tests::push_service::{Channel, PushService, Received};
use mobile_api_tests::{Backend, TestServer};
use serde_json::{Value, json};

use crate::support::{act, ok, report_body_with_contact, task_op};

/// How long a push may take to arrive after the commit that caused it.
const ARRIVAL: Duration = Duration::from_secs(10);

/// A server that allows the push service's host, with `configure` applied too; `None`
/// when PostgreSQL cannot be reached outside CI.
async fn server_for(
    service: &PushService,
    backend: Backend,
    configure: impl FnOnce(&mut gridlink::settings::Settings),
) -> Option<TestServer> {
    let allow = service.allow_entry();
    TestServer::spawn_with(backend, |s| {
        s.push.allow_hosts = vec![allow];
        s.push.timeout_ms = 2_000;
        configure(s);
    })
    .await
    .unwrap()
}

/// Files a resident's report (with a name and phone) in the `nth` demo grid: its id and
/// follow token.
async fn file(server: &TestServer, nth: usize) -> (String, String) {
    let (status, _, opened) = server.post("/api/v1/reports", &report_body_with_contact(nth)).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    (opened["id"].as_str().unwrap().to_owned(), opened["follow_token"].as_str().unwrap().to_owned())
}

/// `method` on `/api/v1/reports/{id}/push` with `body`: the status and body (a problem
/// document when refused).
async fn push_route(server: &TestServer, method: reqwest::Method, id: &str, body: &Value) -> (u16, Value) {
    let response =
        server.client.request(method, format!("{}/api/v1/reports/{id}/push", server.base)).json(body).send().await;
    let response = response.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{body}");
    }
    (status, body)
}

/// The subscription body for `channel` with the follow token `token`.
fn subscription(channel: &Channel, token: &str) -> Value {
    json!({"follow_token": token, "endpoint": channel.endpoint, "keys": {"p256dh": channel.p256dh, "auth": channel.auth}})
}

async fn subscribe(server: &TestServer, id: &str, channel: &Channel, token: &str) {
    let (status, body) = push_route(server, reqwest::Method::PUT, id, &subscription(channel, token)).await;
    assert_eq!(status, 204, "{body}");
}

/// Waits for the `count`th push to `channel`: every push it has received, each checked
/// to be one a strict push service takes.
async fn pushes(service: &PushService, channel: &Channel, count: usize) -> Vec<Received> {
    let received = service.wait_for(channel, count, ARRIVAL).await;
    assert_eq!(received.len(), count, "pushes arrived: {received:?}");
    for push in &received {
        assert!(push.problems.is_empty(), "a strict push service would refuse it: {:?}", push.problems);
    }
    received
}

/// A push's payload as JSON, checked to carry nothing of the report's words or reporter.
fn payload(push: &Received) -> Value {
    let text = String::from_utf8(push.payload.clone().unwrap()).unwrap();
    for private in ["张三丰", "13812345678", "井盖", "C0101"] {
        assert!(!text.contains(private), "a push carried {private:?}: {text}");
    }
    serde_json::from_str(&text).unwrap()
}

async fn a_resident_hears_their_report_taken_in_closed_and_reopened(backend: Backend) {
    let service = PushService::start().await.unwrap();
    let Some(server) = server_for(&service, backend, |_| {}).await else { return };
    let centre = server.login("centre").await.unwrap();
    let nth = 15;
    let (id, token) = file(&server, nth).await;
    let (phone, laptop) = (service.subscribe(), service.subscribe());
    subscribe(&server, &id, &phone, &token).await;
    subscribe(&server, &id, &phone, &token).await; // again: still one subscription
    subscribe(&server, &id, &laptop, &token).await;
    let gone = json!({"follow_token": token, "endpoint": laptop.endpoint});
    assert_eq!(push_route(&server, reqwest::Method::DELETE, &id, &gone).await.0, 204);

    ok("accept", act(&server, &centre, &id, json!({"action": "accept"})).await);
    let received = pushes(&service, &phone, 1).await;
    assert_eq!(payload(&received[0]), json!({"type": "report", "id": id, "status": "registered"}));
    let push = &received[0];
    assert_eq!(push.urgency.as_deref(), Some("normal"));
    let topic = URL_SAFE_NO_PAD.encode(uuid::Uuid::parse_str(&id).unwrap().as_bytes());
    assert_eq!(push.topic.as_deref(), Some(topic.as_str()), "one topic per case");
    assert!(push.ttl.is_some_and(|ttl| ttl > 0), "{:?}", push.ttl);

    // Dispatched, handled and checked: no news; closed: news.
    let grid = mobile_api_tests::demo_point(nth).2;
    let case = ok("dispatch", act(&server, &centre, &id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
    let task = case["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    let worker = server.login(&format!("worker-{grid}")).await.unwrap();
    ok("take", task_op(&server, &worker, &task, json!({"kind": "accept_task"})).await);
    let done = json!({"kind": "complete_task", "result": "已更换", "photos": []});
    ok("done", task_op(&server, &worker, &task, done).await);
    ok("verify", act(&server, &centre, &id, json!({"action": "verify", "passed": true})).await);
    ok("close", act(&server, &centre, &id, json!({"action": "close"})).await);
    let received = pushes(&service, &phone, 2).await;
    assert_eq!(payload(&received[1]), json!({"type": "report", "id": id, "status": "closed"}));

    // The resident is not satisfied: the case is reopened, and they hear of it.
    let (status, _, _) = server
        .post(&format!("/api/v1/reports/{id}/rating"), &json!({"follow_token": token, "rating": "unsatisfied"}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let received = pushes(&service, &phone, 3).await;
    assert_eq!(payload(&received[2]), json!({"type": "report", "id": id, "status": "reopened"}));
    assert!(service.received(&laptop).is_empty(), "an unsubscribed endpoint hears nothing");
}

#[tokio::test]
async fn a_resident_hears_their_report_taken_in_closed_and_reopened_on_sqlite() {
    a_resident_hears_their_report_taken_in_closed_and_reopened(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_resident_hears_their_report_taken_in_closed_and_reopened_on_postgres() {
    a_resident_hears_their_report_taken_in_closed_and_reopened(Backend::Postgres).await;
}

async fn a_duplicates_reporter_hears_of_the_merge_and_then_follows_the_survivor(backend: Backend) {
    let service = PushService::start().await.unwrap();
    let Some(server) = server_for(&service, backend, |_| {}).await else { return };
    let centre = server.login("centre").await.unwrap();
    let (survivor, _) = file(&server, 16).await;
    let (duplicate, token) = file(&server, 16).await;
    let channel = service.subscribe();
    subscribe(&server, &duplicate, &channel, &token).await;
    let merge = json!({"action": "merge", "into": survivor, "reason": "同一井盖"});
    ok("merge", act(&server, &centre, &duplicate, merge).await);
    let received = pushes(&service, &channel, 1).await;
    assert_eq!(payload(&received[0]), json!({"type": "report", "id": duplicate, "status": "merged"}));
    // The survivor taken in: the duplicate's reporter hears it, of the report they follow.
    ok("accept", act(&server, &centre, &survivor, json!({"action": "accept"})).await);
    let received = pushes(&service, &channel, 2).await;
    assert_eq!(payload(&received[1]), json!({"type": "report", "id": duplicate, "status": "registered"}));
}

#[tokio::test]
async fn a_duplicates_reporter_hears_of_the_merge_and_then_follows_the_survivor_on_sqlite() {
    a_duplicates_reporter_hears_of_the_merge_and_then_follows_the_survivor(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_duplicates_reporter_hears_of_the_merge_and_then_follows_the_survivor_on_postgres() {
    a_duplicates_reporter_hears_of_the_merge_and_then_follows_the_survivor(Backend::Postgres).await;
}

#[tokio::test]
async fn a_case_keeps_its_five_newest_subscriptions() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite, |_| {}).await.unwrap();
    let (id, token) = file(&server, 17).await;
    let channels: Vec<Channel> = (0..6).map(|_| service.subscribe()).collect();
    for channel in &channels {
        subscribe(&server, &id, channel, &token).await;
        // Apart in time, so that which is oldest is clear.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let centre = server.login("centre").await.unwrap();
    ok("accept", act(&server, &centre, &id, json!({"action": "accept"})).await);
    for channel in &channels[1..] {
        assert_eq!(payload(&pushes(&service, channel, 1).await[0])["status"], "registered");
    }
    assert!(service.received(&channels[0]).is_empty(), "the oldest was replaced by the sixth");
}

#[tokio::test]
async fn a_wrong_token_is_a_404_and_a_bad_endpoint_the_worker_routes_422() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite, |_| {}).await.unwrap();
    let (id, token) = file(&server, 18).await;
    let channel = service.subscribe();
    let put = |id: String, body: Value| {
        let server = &server;
        async move { push_route(server, reqwest::Method::PUT, &id, &body).await }
    };
    let wrong = subscription(&channel, "not-the-token");
    let unknown = uuid::Uuid::new_v4().to_string();
    for (case, body) in [(id.clone(), wrong.clone()), (unknown.clone(), subscription(&channel, &token))] {
        let (status, problem) = put(case, body).await;
        assert_eq!((status, problem["type"].as_str()), (404, Some("not-found")), "{problem}");
    }
    let forget = json!({"follow_token": "not-the-token", "endpoint": channel.endpoint});
    let (status, problem) = push_route(&server, reqwest::Method::DELETE, &id, &forget).await;
    assert_eq!((status, problem["type"].as_str()), (404, Some("not-found")), "{problem}");
    for endpoint in ["https://10.0.0.1/push/x", "https://localhost/push/x", "http://push.example.com/push/x", "nope"] {
        let mut body = subscription(&channel, &token);
        body["endpoint"] = json!(endpoint);
        let (status, problem) = put(id.clone(), body).await;
        assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-push-endpoint")), "{endpoint}: {problem}");
    }
    let mut bad_keys = subscription(&channel, &token);
    bad_keys["keys"]["auth"] = json!("c2hvcnQ");
    let (status, problem) = put(id.clone(), bad_keys).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-push-keys")), "{problem}");
    let (status, _) = put(id.clone(), json!({"follow_token": token})).await;
    assert_eq!(status, 400, "a body without an endpoint");
    subscribe(&server, &id, &channel, &token).await;
}

#[tokio::test]
async fn subscribing_is_limited_per_address_like_reporting() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite, |s| {
        s.limits.reports_burst = 5;
        s.limits.reports_per_hour = 1;
    })
    .await
    .unwrap();
    let (id, token) = file(&server, 19).await;
    let channel = service.subscribe();
    // Guessing tokens costs the allowance too.
    for _ in 0..4 {
        let (status, _) = push_route(&server, reqwest::Method::PUT, &id, &subscription(&channel, "guess")).await;
        assert_eq!(status, 404);
    }
    subscribe(&server, &id, &channel, &token).await;
    let response = server
        .client
        .put(format!("{}/api/v1/reports/{id}/push", server.base))
        .json(&subscription(&channel, &token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
}

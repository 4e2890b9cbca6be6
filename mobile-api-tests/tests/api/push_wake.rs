//! A worker given a task is woken by Web Push when no phone of theirs has it: none is
//! connected, or one is connected but does not acknowledge it within the grace period.
//! A phone that receives and acknowledges the task is not pushed.

use std::time::Duration;

use mobile_api_tests::push_service::PushService;
use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::{Value, json};
use sync_protocol::ServerMessage;
use sync_protocol::phone::Phone;

async fn dispatch(server: &TestServer, centre: &str, nth: usize) {
    let (lon, lat, grid) = demo_point(nth);
    let body = json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"});
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    assert_eq!(status, 201);
    let path = format!("/api/v1/incidents/{}/actions", opened["id"].as_str().unwrap());
    assert_eq!(server.post_as(centre, &path, &json!({"action": "accept"})).await.unwrap().0, 200);
    let (status, _) =
        server.post_as(centre, &path, &json!({"action": "dispatch", "to": {"grid": grid}})).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_worker_without_a_phone_holding_the_task_is_woken() {
    let service = PushService::start().await.unwrap();
    let allow = service.allow_entry();
    let server = TestServer::spawn_with(Backend::Sqlite, |s| s.push.allow_hosts = vec![allow]).await.unwrap().unwrap();
    let centre = server.login("centre").await.unwrap();
    let worker = format!("worker-{}", demo_point(9).2);
    let (status, _, login) = server
        .post("/api/v1/auth/login", &json!({"login": worker, "password": "demo", "device_id": "phone"}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let token = login["token"].as_str().unwrap().to_owned();
    let channel = service.subscribe();
    let response = server
        .client
        .put(format!("{}/api/v1/push/subscription", server.base))
        .bearer_auth(&token)
        .json(&channel.subscription("phone"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());

    // No phone connected: the dispatch wakes the worker at once.
    dispatch(&server, &centre, 9).await;
    let pushes = service.wait_for(&channel, 1, Duration::from_secs(10)).await;
    assert_eq!(pushes.len(), 1);
    assert!(pushes[0].problems.is_empty(), "{:?}", pushes[0].problems);
    let payload: Value = serde_json::from_slice(pushes[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(payload, json!({"type": "wake"}));

    // A phone that is connected and acknowledges the task is not pushed.
    let mut phone = Phone::new(server.ws_url(), token, "phone");
    phone.connect().await.unwrap();
    while !matches!(phone.recv(Duration::from_secs(10)).await.unwrap(), ServerMessage::SnapshotEnd { .. }) {}
    dispatch(&server, &centre, 9).await;
    phone.until(Duration::from_secs(10), |s| s.tasks().count() >= 2).await.unwrap();
    // Keep taking frames (and acking) past the grace period.
    let _ = phone.recv(Duration::from_secs(7)).await;
    assert_eq!(service.received(&channel).len(), 1, "an acknowledged task needs no push");

    // A phone that holds the socket open but never acknowledges is pushed after the grace.
    let mut silent = Phone::new(server.ws_url(), server.login(&worker).await.unwrap(), "tablet");
    silent.connect().await.unwrap();
    phone.disconnect().await;
    dispatch(&server, &centre, 9).await;
    let pushes = service.wait_for(&channel, 2, Duration::from_secs(15)).await;
    assert_eq!(pushes.len(), 2, "the unacknowledged task woke the worker");
}

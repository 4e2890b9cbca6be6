//! A worker given a task is woken by Web Push when no phone of theirs has it: none is
//! connected, or one is connected but does not acknowledge it within the grace period.
//! A phone that receives and acknowledges the task is not pushed.

use std::time::{Duration, Instant};

use mobile_api_tests::push_service::PushService;
use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::{Value, json};
use sync_protocol::phone::{Phone, PhoneError};

use crate::support::{connect_fresh, login_on, report_and_dispatch};

#[tokio::test]
async fn a_worker_without_a_phone_holding_the_task_is_woken() {
    let service = PushService::start().await.unwrap();
    let allow = service.allow_entry();
    let server = TestServer::spawn_with(Backend::Sqlite, |s| s.push.allow_hosts = vec![allow]).await.unwrap().unwrap();
    let centre = server.login("centre").await.unwrap();
    let worker = format!("worker-{}", demo_point(9).2);
    let (token, _) = login_on(&server, &worker, Some("phone")).await;
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
    report_and_dispatch(&server, &centre, 9).await;
    let pushes = service.wait_for(&channel, 1, Duration::from_secs(10)).await;
    assert_eq!(pushes.len(), 1);
    assert!(pushes[0].problems.is_empty(), "{:?}", pushes[0].problems);
    let payload: Value = serde_json::from_slice(pushes[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(payload, json!({"type": "wake"}));

    // A phone that is connected and acknowledges the task is not pushed.
    let mut phone = Phone::new(server.ws_url(), token, "phone");
    connect_fresh(&mut phone).await;
    report_and_dispatch(&server, &centre, 9).await;
    phone.until(Duration::from_secs(10), |s| s.tasks().count() >= 2).await.unwrap();
    // Real time passing is the point here: the phone keeps taking frames (and acking them)
    // past the server's grace period of 5 s, and no push may come meanwhile.
    let quiet_until = Instant::now() + Duration::from_secs(7);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        match phone.recv(left).await {
            Ok(_) | Err(PhoneError::Timeout) => {}
            Err(e) => panic!("the phone lost its socket: {e}"),
        }
    }
    assert_eq!(service.received(&channel).len(), 1, "an acknowledged task needs no push");

    // A phone that holds the socket open but never acknowledges is pushed after the grace.
    let mut silent = Phone::new(server.ws_url(), server.login(&worker).await.unwrap(), "tablet");
    silent.connect().await.unwrap();
    phone.disconnect().await;
    report_and_dispatch(&server, &centre, 9).await;
    let pushes = service.wait_for(&channel, 2, Duration::from_secs(15)).await;
    assert_eq!(pushes.len(), 2, "the unacknowledged task woke the worker");
}

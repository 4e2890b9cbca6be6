//! No secret in the log (issue 18): the real `gridlink serve`, logging at debug level,
//! is sent every kind of secret a request can carry — a password (a wrong one too), a
//! bearer token in the header and in the socket's query string, a refresh token, a
//! follow token in the query string, an API key in a query string, the metrics token —
//! and its whole log, read after, holds none of them, while the requests worked (the
//! follow token still reached its handler).

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mobile_api_tests::{demo_point, follow_log, gridlink_binary};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A server process, killed when dropped, and what it has logged so far.
struct Logged {
    child: Child,
    log: Arc<Mutex<String>>,
    base: String,
    database: std::path::PathBuf,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for suffix in ["", "-wal", "-shm", ".keys"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.database.display()));
        }
    }
}

const METRICS_TOKEN: &str = "metrics-token-that-must-not-be-logged";

/// Starts `gridlink serve --demo` logging at debug level; returns once it listens.
fn serve() -> Logged {
    let database =
        std::env::temp_dir().join(format!("gridlink-logs-{}-{}.db", std::process::id(), uuid::Uuid::new_v4().simple()));
    let mut child = Command::new(gridlink_binary().unwrap())
        .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--metrics-token", METRICS_TOKEN])
        .arg("--database")
        .arg(format!("sqlite://{}", database.display()))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (log, base) = follow_log(&mut child, Duration::from_secs(180));
    let base = base.unwrap_or_else(|| panic!("the server did not start: {}", log.lock().unwrap()));
    Logged { child, log, base, database }
}

#[tokio::test]
async fn no_token_password_or_key_reaches_the_log() {
    let server = tokio::task::spawn_blocking(serve).await.unwrap();
    let base = server.base.clone();
    // A connection each: none is reused after the server dropped it (keep-alive 5 s, and
    // a password check takes seconds in a debug build).
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(0).build().unwrap();
    let post = async |path: &str, body: Value| {
        let response = client.post(format!("{base}{path}")).json(&body).send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
    };

    let wrong_password = "wrong-password-never-logged-31415";
    let (status, _) = post("/api/v1/auth/login", json!({"login": "centre", "password": wrong_password})).await;
    assert_eq!(status, 401);
    let (status, session) =
        post("/api/v1/auth/login", json!({"login": "centre", "password": "demo", "device_id": "logs"})).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap_or_default().to_owned();
    let me = client.get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let mut secrets = vec![wrong_password.to_owned(), token.clone(), METRICS_TOKEN.to_owned()];
    // The token the socket opens with: the refreshed one, when refreshing replaced it.
    let mut token = token;
    if !refresh.is_empty() {
        let (status, renewed) =
            post("/api/v1/auth/refresh", json!({"refresh_token": refresh, "device_id": "logs"})).await;
        assert_eq!(status, 200, "{renewed}");
        secrets.push(refresh);
        token = renewed["token"].as_str().unwrap().to_owned();
        secrets.push(token.clone());
        secrets.extend(renewed["refresh_token"].as_str().map(str::to_owned));
    }

    // A report, followed with its token in the query string: the handler still gets it.
    let (lon, lat, _) = demo_point(1);
    let (status, opened) = post(
        "/api/v1/reports",
        json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let (id, follow) = (opened["id"].as_str().unwrap(), opened["follow_token"].as_str().unwrap().to_owned());
    let followed = client.get(format!("{base}/api/v1/reports/{id}?follow_token={follow}")).send().await.unwrap();
    assert_eq!(followed.status().as_u16(), 200, "the handler gets the follow token");
    let wrong_follow = "wrong-follow-token-never-logged-2718";
    let refused = client.get(format!("{base}/api/v1/reports/{id}?follow_token={wrong_follow}")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 404);
    secrets.extend([follow, wrong_follow.to_owned()]);

    // An API key put in a URL by a careless client, and in a form.
    let key_in_url = "api-key-in-a-url-never-logged-1618";
    let _ = client.get(format!("{base}/open311/v2/services.json?api_key={key_in_url}")).send().await.unwrap();
    let key_in_form = "api-key-in-a-form-never-logged-1414";
    let _ = client
        .post(format!("{base}/open311/v2/requests.json"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("api_key={key_in_form}&service_code=C0101&lat=1&long=1"))
        .send()
        .await
        .unwrap();
    secrets.extend([key_in_url.to_owned(), key_in_form.to_owned()]);

    // The socket, with its token in the query string as a browser sends it.
    let url = format!("{}/api/v1/sync?token={token}", base.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = json!({"type": "hello", "protocol": 1, "device_id": "logs", "cursor": null});
    socket.send(Message::text(hello.to_string())).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(first, Message::Text(_)), "{first:?}");
    let _ = socket.close(None).await;

    let metrics = client.get(format!("{base}/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);

    // Whatever was logged has been written by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("/api/v1/sync"), "the socket's request is in the log, so it could have leaked:\n{log}");
    let leaked: Vec<&String> = secrets.iter().filter(|s| log.contains(s.as_str())).collect();
    assert!(leaked.is_empty(), "the log holds {leaked:?}:\n{log}");
}

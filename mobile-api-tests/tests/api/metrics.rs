//! `GET /metrics`: Prometheus's text format, counting the requests served — only to
//! whoever holds its token, or on a listener of its own; not at all by default.

use gridlink::settings::SecuritySettings;
use mobile_api_tests::{Backend, METRICS_TOKEN, TestServer};

#[tokio::test]
async fn requests_are_counted_by_route_and_status() {
    let server = TestServer::spawn().await.unwrap();
    server.get("/healthz").await.unwrap();
    server.get("/api/v1/locate?lon=1&lat=1").await.unwrap();
    for n in 0..3 {
        server.get(&format!("/scanner/probe-{n}")).await.unwrap();
    }
    let response =
        server.client.get(format!("{}/metrics", server.base)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("gridlink_http_requests_total"), "{text}");
    let healthz =
        text.lines().find(|l| l.starts_with("gridlink_http_requests_total") && l.contains("endpoint=\"/healthz\""));
    assert!(healthz.is_some_and(|l| l.contains("status=\"200\"")), "{text}");
    assert!(text.lines().any(|l| l.contains("endpoint=\"/api/v1/locate\"") && l.contains("status=\"404\"")), "{text}");
    // Unknown paths share one label.
    assert!(!text.contains("probe-"), "{text}");
    assert!(text.contains("endpoint=\"UNMATCHED\""), "{text}");
}

/// The status of `GET /metrics` at `base`, with `token` as a bearer if given.
async fn scrape(server: &TestServer, base: &str, token: Option<&str>) -> (u16, String) {
    let mut request = server.client.get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_not_served_without_a_token_nor_without_it_and_are_with_it() {
    // Neither a token nor a listener of its own: there is no /metrics.
    let bare =
        TestServer::spawn_with(Backend::Sqlite, |s| s.security = SecuritySettings::default()).await.unwrap().unwrap();
    assert_eq!(scrape(&bare, &bare.base, None).await.0, 404);
    assert_eq!(scrape(&bare, &bare.base, Some(METRICS_TOKEN)).await.0, 404);

    // A token: 401 without it or with another, 200 with it.
    let server = TestServer::spawn().await.unwrap();
    server.get("/healthz").await.unwrap();
    let (status, body) = scrape(&server, &server.base, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"unauthenticated\"") && !body.contains("gridlink_http"), "{body}");
    assert_eq!(scrape(&server, &server.base, Some("not-the-metrics-token")).await.0, 401);
    let (status, body) = scrape(&server, &server.base, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("gridlink_http_requests_total"), "{body}");
}

#[tokio::test]
async fn a_listener_of_its_own_serves_only_the_metrics() {
    // Its port is learnt by binding port 0 first and handing the port over.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = free.local_addr().unwrap();
    drop(free);
    let server = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.security = SecuritySettings { metrics_bind: Some(at), metrics_token: None, ..Default::default() };
    })
    .await
    .unwrap()
    .unwrap();
    server.get("/healthz").await.unwrap();
    let own = format!("http://{at}");
    let (status, body) = scrape(&server, &own, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("endpoint=\"/healthz\""), "the main listener's requests are counted: {body}");
    assert_eq!(scrape(&server, &server.base, None).await.0, 404, "the main listener does not serve it");
    let (status, _) = scrape(&server, &own, None).await;
    assert_eq!(status, 200);
    let other = server.client.get(format!("{own}/healthz")).send().await.unwrap();
    assert_eq!(other.status().as_u16(), 404, "nothing else is served there");
}

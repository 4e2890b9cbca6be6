//! `GET /metrics`: Prometheus's text format, counting the requests served.

use mobile_api_tests::TestServer;

#[tokio::test]
async fn requests_are_counted_by_route_and_status() {
    let server = TestServer::spawn().await.unwrap();
    server.get("/healthz").await.unwrap();
    server.get("/api/v1/locate?lon=1&lat=1").await.unwrap();
    for n in 0..3 {
        server.get(&format!("/scanner/probe-{n}")).await.unwrap();
    }
    let response = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap();
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

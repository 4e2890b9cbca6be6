//! The security headers (issue 18): every page, script, service worker and API answer
//! carries the Content-Security-Policy (no inline script or style, never framed), nosniff,
//! X-Frame-Options, Referrer-Policy and Permissions-Policy; an attachment is served with
//! nosniff, a Content-Disposition and the type it was checked as; CORS is answered to no
//! one by default and to the configured origins only when set.

use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::json;

/// The headers of `GET path` (with an `Origin`, and a bearer token, when given).
async fn headers(
    server: &TestServer,
    path: &str,
    origin: Option<&str>,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap) {
    let mut request = server.client.get(format!("{}{path}", server.base));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.headers().clone())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Asserts that an answer carries every security header.
fn secured(what: &str, headers: &reqwest::header::HeaderMap) {
    let csp = header(headers, "content-security-policy");
    for directive in
        ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"]
    {
        assert!(csp.contains(directive), "{what}: {directive} missing from {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{what}");
    let permissions = header(headers, "permissions-policy");
    assert!(
        permissions.contains("camera=(self)") && permissions.contains("geolocation=(self)"),
        "{what}: {permissions}"
    );
}

#[tokio::test]
async fn every_page_and_api_answer_carries_the_security_headers() {
    let server = TestServer::spawn().await.unwrap();
    let token = server.login("centre").await.unwrap();
    for (path, status) in [
        ("/", 200),
        ("/m/", 200),
        ("/r/", 200),
        ("/m/sw.js", 200),
        ("/r/sw.js", 200),
        ("/m/manifest.webmanifest", 200),
        ("/assets/centre.js", 200),
        ("/assets/centre.css", 200),
        ("/api/v1/categories", 200),
        ("/openapi.json", 200),
        ("/healthz", 200),
        ("/api/v1/incidents", 401),
        ("/api/v1/nothing-here", 404),
    ] {
        let (got, headers) = headers(&server, path, None, None).await;
        assert_eq!(got, status, "{path}");
        secured(path, &headers);
        // The socket's own origin is named for browsers whose 'self' does not cover ws:.
        let csp = header(&headers, "content-security-policy");
        let host = server.base.trim_start_matches("http://");
        assert!(csp.contains(&format!("ws://{host}")) && csp.contains(&format!("wss://{host}")), "{path}: {csp}");
    }
    let (status, listed) = headers(&server, "/api/v1/incidents", None, Some(&token)).await;
    assert_eq!(status, 200);
    secured("an authenticated list", &listed);
}

#[tokio::test]
async fn a_configured_basemap_may_serve_the_pages_images() {
    let server = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.basemap = Some("https://tiles.example.cn/{z}/{x}/{y}.png".into());
    })
    .await
    .unwrap()
    .unwrap();
    let (_, page) = headers(&server, "/", None, None).await;
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("img-src 'self' blob: data: https://tiles.example.cn;"), "{csp}");
    let (_, plain) = headers(&TestServer::spawn().await.unwrap(), "/", None, None).await;
    assert!(!header(&plain, "content-security-policy").contains("example.cn"), "no basemap, no other origin");
}

#[tokio::test]
async fn an_attachment_is_never_sniffed_and_says_what_it_is() {
    let server = TestServer::spawn().await.unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR<html><script>alert(1)</script>".to_vec();
    let uploaded = server
        .client
        .post(format!("{}/api/v1/attachments", server.base))
        .header("Content-Type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status().as_u16(), 201);
    let id = uploaded.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let (lon, lat, _) = demo_point(2);
    let report =
        json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失", "photos": [id]});
    let (status, _, opened) = server.post("/api/v1/reports", &report).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    let token = server.login("centre").await.unwrap();
    let (status, file) = headers(&server, &format!("/api/v1/attachments/{id}"), None, Some(&token)).await;
    assert_eq!(status, 200);
    secured("an attachment", &file);
    assert_eq!(header(&file, "content-type"), "image/png");
    let disposition = header(&file, "content-disposition");
    assert!(disposition.starts_with("inline; filename=\"sha256-") && disposition.ends_with(".png\""), "{disposition}");
}

#[tokio::test]
async fn cors_is_answered_only_to_the_configured_origins() {
    let app = "https://app.example.cn";
    // By default: no CORS header anywhere, whoever asks.
    let server = TestServer::spawn().await.unwrap();
    for path in ["/api/v1/categories", "/open311/v2/services.json", "/"] {
        let (_, answer) = headers(&server, path, Some(app), None).await;
        assert!(answer.get("access-control-allow-origin").is_none(), "{path}: {answer:?}");
    }
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/reports", server.base))
        .header("Origin", app)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-origin").is_none(), "{:?}", preflight.headers());

    // Configured: that origin, on the API and Open311; not another, not the pages.
    let server = TestServer::spawn_with(Backend::Sqlite, |s| s.security.cors_origins = vec![app.to_owned()])
        .await
        .unwrap()
        .unwrap();
    for path in ["/api/v1/categories", "/open311/v2/services.json"] {
        let (_, answer) = headers(&server, path, Some(app), None).await;
        assert_eq!(header(&answer, "access-control-allow-origin"), app, "{path}");
        assert!(header(&answer, "vary").contains("Origin"), "{path}");
        let (_, other) = headers(&server, path, Some("https://evil.example"), None).await;
        assert!(other.get("access-control-allow-origin").is_none(), "{path}: {other:?}");
    }
    let (_, page) = headers(&server, "/", Some(app), None).await;
    assert!(page.get("access-control-allow-origin").is_none(), "the pages are not shared");
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/reports", server.base))
        .header("Origin", app)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, idempotency-key")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    assert_eq!(header(preflight.headers(), "access-control-allow-origin"), app);
    let allowed = header(preflight.headers(), "access-control-allow-headers");
    assert!(allowed.contains("content-type") && allowed.contains("idempotency-key"), "{allowed}");
}

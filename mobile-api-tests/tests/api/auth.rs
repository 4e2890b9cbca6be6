//! `POST /api/v1/auth/login` against a real server with the demo accounts.

use mobile_api_tests::TestServer;
use serde_json::json;

#[tokio::test]
async fn demo_accounts_log_in_with_their_role_and_unit() {
    let server = TestServer::spawn().await.unwrap();
    let grid = mobile_api_tests::demo_layer().unwrap().grids().next().unwrap().code.to_string();
    let cases = [
        ("admin", "administrator", "321300", 1),
        ("city", "city_centre", "321300", 1),
        ("centre", "county_centre", "321302", 2),
        ("township-321302150", "township_centre", "321302150", 3),
        ("community-321302001001", "community_staff", "321302001001", 4),
        ("dept-cgj", "department_staff", "cgj", 2),
    ];
    for (login, role, unit, level) in cases {
        let (status, _, body) =
            server.post("/api/v1/auth/login", &json!({"login": login, "password": "demo"})).await.unwrap();
        assert_eq!(status, 200, "{login}: {body}");
        assert_eq!(body["user"]["role"], role, "{login}");
        assert_eq!(body["user"]["unit"]["code"], unit, "{login}");
        assert_eq!(body["user"]["unit"]["level"], level, "{login}");
        assert!(body["user"]["unit"]["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(body["token"].as_str().unwrap().len(), 64);
        assert_eq!(body["user"]["id"].as_str().unwrap().len(), 36);
    }
    let worker = format!("worker-{grid}");
    let (status, _, body) = server
        .post("/api/v1/auth/login", &json!({"login": worker, "password": "demo", "device_id": "phone-1"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "grid_worker");
    assert_eq!(body["user"]["unit"]["code"], grid.as_str());
    assert_eq!(body["user"]["unit"]["level"], 5);
    // Two logins, two different sessions.
    let (_, _, again) =
        server.post("/api/v1/auth/login", &json!({"login": "centre", "password": "demo"})).await.unwrap();
    let (_, _, third) =
        server.post("/api/v1/auth/login", &json!({"login": "centre", "password": "demo"})).await.unwrap();
    assert_ne!(again["token"], third["token"]);
}

#[tokio::test]
async fn wrong_credentials_get_401_and_say_nothing_more() {
    let server = TestServer::spawn().await.unwrap();
    for body in [json!({"login": "centre", "password": "Demo"}), json!({"login": "nobody", "password": "demo"})] {
        let (status, content_type, problem) = server.post("/api/v1/auth/login", &body).await.unwrap();
        assert_eq!(status, 401, "{problem}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["type"], "invalid-credentials");
        // The same words whether the login exists or not.
        assert_eq!(problem["detail"], "wrong login or password");
    }
}

#[tokio::test]
async fn a_malformed_login_is_a_bad_request() {
    let server = TestServer::spawn().await.unwrap();
    for body in [json!({"login": "centre"}), json!("centre:demo"), json!({"login": 5, "password": "demo"})] {
        let (status, content_type, problem) = server.post("/api/v1/auth/login", &body).await.unwrap();
        assert_eq!(status, 400, "{problem}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["type"], "bad-request");
    }
}

#[tokio::test]
async fn a_token_opens_staff_routes_until_logout() {
    let server = TestServer::spawn().await.unwrap();
    let (_, _, body) =
        server.post("/api/v1/auth/login", &json!({"login": "centre", "password": "demo"})).await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    // No refresh token without a device.
    assert!(body.get("refresh_token").is_none(), "{body}");
    let (status, me) = server.get_as(&token, "/api/v1/me").await.unwrap();
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "county_centre");
    // Missing, wrong or malformed credentials.
    let (status, _, problem) = server.get("/api/v1/me").await.unwrap();
    assert_eq!((status, problem["type"].as_str()), (401, Some("unauthenticated")));
    assert_eq!(server.get_as("not-a-token", "/api/v1/me").await.unwrap().0, 401);
    // Logging out ends the session.
    let (status, _) = server.post_as(&token, "/api/v1/auth/logout", &json!({})).await.unwrap();
    assert_eq!(status, 204);
    assert_eq!(server.get_as(&token, "/api/v1/me").await.unwrap().0, 401);
    assert_eq!(server.post_as(&token, "/api/v1/auth/logout", &json!({})).await.unwrap().0, 401);
}

#[tokio::test]
async fn a_device_renews_its_session_with_its_refresh_token_once() {
    let server = TestServer::spawn().await.unwrap();
    let grid = mobile_api_tests::demo_layer().unwrap().grids().next().unwrap().code.to_string();
    let login = json!({"login": format!("worker-{grid}"), "password": "demo", "device_id": "phone-1"});
    let (_, _, body) = server.post("/api/v1/auth/login", &login).await.unwrap();
    let (token, refresh) =
        (body["token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned());
    // The refresh token works only on its own device.
    let wrong_device = json!({"refresh_token": refresh, "device_id": "phone-2"});
    let (status, _, problem) = server.post("/api/v1/auth/refresh", &wrong_device).await.unwrap();
    assert_eq!((status, problem["type"].as_str()), (401, Some("invalid-credentials")));
    let (status, _, renewed) =
        server.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh, "device_id": "phone-1"})).await.unwrap();
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["user"]["role"], "grid_worker");
    let new_token = renewed["token"].as_str().unwrap();
    assert_ne!(new_token, token);
    // The new token works; the old token and the used refresh token do not.
    assert_eq!(server.get_as(new_token, "/api/v1/me").await.unwrap().0, 200);
    assert_eq!(server.get_as(&token, "/api/v1/me").await.unwrap().0, 401);
    let again = json!({"refresh_token": refresh, "device_id": "phone-1"});
    assert_eq!(server.post("/api/v1/auth/refresh", &again).await.unwrap().0, 401);
    // Logging out also ends the renewed session's refresh token.
    let next = renewed["refresh_token"].as_str().unwrap();
    assert_eq!(server.post_as(new_token, "/api/v1/auth/logout", &json!({})).await.unwrap().0, 204);
    let after = json!({"refresh_token": next, "device_id": "phone-1"});
    assert_eq!(server.post("/api/v1/auth/refresh", &after).await.unwrap().0, 401);
}

//! `GET /openapi.json`: every route the server has is described, with its schemas.

use mobile_api_tests::TestServer;

#[tokio::test]
async fn the_description_lists_every_route_and_its_schemas() {
    let server = TestServer::spawn().await.unwrap();
    let (status, content_type, doc) = server.get("/openapi.json").await.unwrap();
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/json"));
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/v1/locate", "get"),
        ("/api/v1/grids", "get"),
        ("/api/v1/categories", "get"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/inbox", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not described");
    }
    let locate = &paths["/api/v1/locate"]["get"];
    let params: Vec<&str> =
        locate["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params, ["lon", "lat", "crs"]);
    assert!(locate["responses"].get("404").is_some());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["Located", "ProblemDoc", "CategoryTree", "Category", "Opened", "Login", "Inbox", "InboxItem"] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

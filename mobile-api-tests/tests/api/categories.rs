//! `GET /api/v1/categories` against a real server.

use mobile_api_tests::TestServer;

#[tokio::test]
async fn the_category_tree_lists_leaves_with_what_the_contract_promises() {
    let server = TestServer::spawn().await.unwrap();
    let (status, content_type, body) = server.get("/api/v1/categories").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("application/json"));
    let leaves: Vec<&serde_json::Value> = body["domains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["classes"].as_array().unwrap())
        .flat_map(|c| c["children"].as_array().unwrap())
        .collect();
    assert!(leaves.len() >= 40, "{} leaves", leaves.len());
    let domains: std::collections::BTreeSet<&str> = leaves.iter().map(|l| l["domain"].as_str().unwrap()).collect();
    assert_eq!(domains.into_iter().collect::<Vec<_>>(), ["city_management", "emergency", "governance", "transport"]);
    for leaf in &leaves {
        assert!(leaf["code"].is_string() && leaf["name"].is_string(), "{leaf}");
        assert!((1..=5).contains(&leaf["level"].as_u64().unwrap()), "{leaf}");
        assert!(leaf["department"].is_string() || leaf["department"].is_null(), "{leaf}");
    }
    let departments = body["departments"].as_array().unwrap();
    assert!(departments.iter().any(|d| d["code"] == "cgj"));
}

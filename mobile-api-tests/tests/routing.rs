//! Routing: a grid's duty roster, kept by the desks of its area, and the rules'
//! suggestion for a case, on SQLite and PostgreSQL.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::{Value, json};

async fn servers() -> Vec<TestServer> {
    let mut servers = vec![TestServer::spawn().await.unwrap()];
    servers.extend(TestServer::spawn_on(Backend::Postgres).await.unwrap());
    servers
}

async fn put_roster(server: &TestServer, token: &str, grid: &str, body: &Value) -> (u16, Value) {
    let response = server
        .client
        .put(format!("{}/api/v1/grids/{grid}/roster", server.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_worker_on_duty_is_suggested_and_the_community_when_nobody_is() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(3);
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let worker = format!("worker-{grid}");

        // A report of a grid-level category (a broken manhole cover).
        let body = json!({"category": "C0101", "location": {"lon": lon, "lat": lat, "crs": "wgs84"}, "description": "井盖缺失"});
        let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
        assert_eq!(status, 201, "{opened}");
        let id = opened["id"].as_str().unwrap();
        let path = format!("/api/v1/incidents/{id}/suggestion");

        // Nobody on duty yet: the community.
        let (status, s) = server.get_as(&township, &path).await.unwrap();
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["rule"], "nobody-on-duty", "{s}");
        assert_eq!(s["target"]["unit"], &grid[..12]);
        assert_eq!(s["queue"], &grid[..9]);

        // On duty around the clock, every day: that worker.
        let roster = json!({"shifts": [{"login": worker, "days": "mon-sun", "from": "00:00", "to": "24:00"}]});
        let (status, stored) = put_roster(&server, &township, &grid, &roster).await;
        assert_eq!(status, 200, "{stored}");
        let (_, back) = server.get_as(&township, &format!("/api/v1/grids/{grid}/roster")).await.unwrap();
        assert_eq!(back["shifts"][0]["login"], worker.as_str(), "{back}");
        assert_eq!(back["shifts"][0]["days"], "mon,tue,wed,thu,fri,sat,sun");
        let (_, s) = server.get_as(&township, &path).await.unwrap();
        assert_eq!(s["rule"], "on-duty", "{s}");
        assert_eq!(s["level"], 5);
        assert!(s["target"]["user"].is_string(), "{s}");
        assert_eq!(s["automatic"], true, "C0101 is marked to dispatch on its own");
    }
}

#[tokio::test]
async fn bad_rosters_are_refused_and_change_nothing() {
    for server in servers().await {
        let (_, _, grid) = demo_point(4);
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let good =
            json!({"shifts": [{"login": format!("worker-{grid}"), "days": "mon-fri", "from": "08:30", "to": "17:30"}]});
        assert_eq!(put_roster(&server, &township, &grid, &good).await.0, 200);
        let other_grid = demo_point(5).2;
        let cases: Vec<(&str, String, Value, u16, &str)> = vec![
            ("a worker may not", grid.clone(), good.clone(), 403, "forbidden"),
            ("not JSON", grid.clone(), json!("shifts"), 400, "bad-request"),
            (
                "a bad day",
                grid.clone(),
                json!({"shifts": [{"login": format!("worker-{grid}"), "days": "someday", "from": "08:30", "to": "17:30"}]}),
                422,
                "invalid-shift",
            ),
            (
                "a bad time",
                grid.clone(),
                json!({"shifts": [{"login": format!("worker-{grid}"), "days": "mon", "from": "8.30", "to": "17:30"}]}),
                422,
                "invalid-shift",
            ),
            (
                "another grid's worker",
                grid.clone(),
                json!({"shifts": [{"login": format!("worker-{other_grid}"), "days": "mon", "from": "08:30", "to": "17:30"}]}),
                422,
                "not-a-grid-worker",
            ),
            ("no such grid", format!("{}999", &grid[..12]), good.clone(), 404, "not-found"),
            ("not a grid code", "12".to_owned(), good.clone(), 404, "not-found"),
        ];
        for (step, target, body, status, kind) in cases {
            let token = if step == "a worker may not" { &worker } else { &township };
            let (got, problem) = put_roster(&server, token, &target, &body).await;
            assert_eq!(got, status, "{step}: {problem}");
            assert_eq!(problem["type"], kind, "{step}: {problem}");
        }
        let (_, back) = server.get_as(&township, &format!("/api/v1/grids/{grid}/roster")).await.unwrap();
        assert_eq!(back["shifts"].as_array().unwrap().len(), 1, "{back}");
        assert_eq!(back["shifts"][0]["from"], "08:30");
        let (status, _) = server.get_as(&township, "/api/v1/incidents/no-such-case/suggestion").await.unwrap();
        assert_eq!(status, 404);
    }
}

//! The 12345 door, on SQLite and PostgreSQL: the hotline operator files a call with the
//! caller's number (kept as personal data: masked in every view), reads the case back to
//! the caller by its number (工单号), and after it is closed records the caller's rating
//! (回访) — once per closing, `unsatisfied` reopening it — through the one table of who may
//! do what.

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};

use crate::support::{act, actions, case, ok, refused, task_op};

const CALLER: &str = "13912345678";

/// Walks a case the worker of `grid` holds or may take to closed: take, complete, verify, close.
async fn work_to_closed(server: &TestServer, centre: &str, worker: &str, id: &str) {
    let open = case(server, centre, id).await;
    let task = open["tasks"].as_array().unwrap().iter().rev().find(|t| t["kind"] == "handle").unwrap().clone();
    let task = task["id"].as_str().unwrap();
    let held = case(server, centre, id).await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == task && t["status"] == "accepted");
    if !held {
        ok("take", task_op(server, worker, task, json!({"kind": "accept_task"})).await);
    }
    ok(
        "complete",
        task_op(server, worker, task, json!({"kind": "complete_task", "result": "已紧固", "photos": []})).await,
    );
    ok("verify", act(server, centre, id, json!({"action": "verify", "passed": true})).await);
    ok("close", act(server, centre, id, json!({"action": "close"})).await);
}

/// The cases `token` finds by a caller's case number.
async fn by_code(server: &TestServer, token: &str, code: &str) -> Vec<Value> {
    let (status, page) = server.get_as(token, &format!("/api/v1/incidents?code={code}")).await.unwrap();
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_call_is_filed_read_back_and_rated_on_the_callers_behalf() {
    for server in servers().await {
        let hotline = server.login("hotline").await.unwrap();
        let centre = server.login("centre").await.unwrap();
        let (lon, lat, grid) = demo_point(31);
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let call = json!({
            "category": "C0104",
            "location": {"lon": lon, "lat": lat},
            "description": "来电反映：路口井盖松动，车过有响声",
            "contact": {"name": "张三", "phone": CALLER},
        });
        let (status, filed) = server.post_as(&hotline, "/api/v1/reports", &call).await.unwrap();
        assert_eq!(status, 201, "{filed}");
        let (id, code) = (filed["id"].as_str().unwrap().to_owned(), filed["code"].as_str().unwrap().to_owned());

        // The caller's number is personal data: no view shows it whole.
        let seen = case(&server, &centre, &id).await;
        assert_eq!(seen["source"], "hotline", "{seen}");
        assert!(!seen.to_string().contains(CALLER), "the number is masked: {}", seen["contact"]);
        assert!(seen["contact"]["phone"].as_str().is_some_and(|p| p.ends_with("5678")), "{}", seen["contact"]);

        // The caller rings again with the case number: the operator reads it back.
        let found = by_code(&server, &hotline, &code).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["id"], id.as_str());
        assert!(by_code(&server, &hotline, "2026-9999999").await.is_empty());
        let read_back = case(&server, &hotline, &id).await;
        assert!(!read_back.to_string().contains(CALLER));

        // 回访 waits for the case to be closed.
        let rating = |r: &str, comment: &str| json!({"action": "rate", "rating": r, "comment": comment});
        refused(
            "rate an open case",
            act(&server, &hotline, &id, rating("satisfied", "")).await,
            409,
            "illegal-transition",
        );
        if seen["status"] == "reported" {
            ok("accept", act(&server, &centre, &id, json!({"action": "accept"})).await);
        }
        if case(&server, &centre, &id).await["tasks"].as_array().unwrap().is_empty() {
            ok("dispatch", act(&server, &centre, &id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
        }
        work_to_closed(&server, &centre, &worker, &id).await;
        assert!(case(&server, &hotline, &id).await["allowed_actions"].as_array().unwrap().contains(&json!("rate")));

        // Only the hotline and the centres call back; a bad rating changes nothing.
        refused("a worker rates", act(&server, &worker, &id, rating("satisfied", "")).await, 403, "forbidden");
        refused("no such rating", act(&server, &hotline, &id, rating("great", "")).await, 400, "bad-request");
        let long = "太".repeat(501);
        refused("a long comment", act(&server, &hotline, &id, rating("basic", &long)).await, 400, "bad-request");
        assert_eq!(case(&server, &centre, &id).await["status"], "closed");

        // Unsatisfied: recorded as the operator's step for the caller, and the case reopens.
        let reopened = ok("rate unsatisfied", act(&server, &hotline, &id, rating("unsatisfied", "还是有响声")).await);
        assert_eq!(reopened["status"], "dispatched", "{reopened}");
        let steps = actions(&reopened);
        assert!(steps.ends_with(&["closed".to_owned(), "rated".to_owned(), "reopened".to_owned()]), "{steps:?}");
        let rated = reopened["history"].as_array().unwrap().iter().find(|e| e["action"] == "rated").unwrap();
        assert_eq!(rated["actor"]["role"], "hotline_operator", "{rated}");
        assert_eq!(rated["data"]["channel"], "callback", "{rated}");
        assert_eq!(rated["data"]["comment"], "还是有响声", "{rated}");
        assert_eq!(rated["data"]["rating"], "unsatisfied", "{rated}");

        // Closed again, the caller is satisfied: once per closing.
        work_to_closed(&server, &centre, &worker, &id).await;
        ok("rate satisfied", act(&server, &hotline, &id, rating("satisfied", "修好了")).await);
        refused("rate twice", act(&server, &centre, &id, rating("basic", "")).await, 409, "already-rated");
        assert_eq!(case(&server, &centre, &id).await["status"], "closed");
    }
}

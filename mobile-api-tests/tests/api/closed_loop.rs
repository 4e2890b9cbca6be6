//! The shortest closed loop over HTTP against a real server, on SQLite and on
//! PostgreSQL: a resident's report accepted, dispatched to a grid, taken and completed
//! by the grid's worker, verified by someone else and closed — and its branches: on-site
//! confirmation, rejection, a failed verification (rework) and a verification refused to
//! the handler. Each scenario runs once per backend, each time on a fresh server.

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};

use crate::support::{act, actions, ok, refused, report_body_with_contact, task_op};

/// Files a resident's report with a contact in the `nth` demo grid: the response body and the grid.
async fn report(server: &TestServer, nth: usize) -> (Value, String) {
    let (status, _, opened) = server.post("/api/v1/reports", &report_body_with_contact(nth)).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    (opened, demo_point(nth).2)
}

/// The id of the case's newest task of `kind`.
fn newest_task(case: &Value, kind: &str) -> String {
    let tasks = case["tasks"].as_array().unwrap();
    tasks.iter().rev().find(|t| t["kind"] == kind).unwrap()["id"].as_str().unwrap().to_owned()
}

/// Walks a registered case to closed through a grid: dispatch, take, complete, verify, close.
pub(crate) async fn handle_and_close(server: &TestServer, centre: &str, worker: &str, id: &str, grid: &str) -> Value {
    let case = ok("dispatch", act(server, centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
    assert_eq!(case["status"], "dispatched");
    assert_eq!(case["level"], 5);
    let task = newest_task(&case, "handle");
    let case = ok("accept_task", task_op(server, worker, &task, json!({"kind": "accept_task"})).await);
    assert_eq!(case["tasks"].as_array().unwrap().last().unwrap()["status"], "accepted");
    let done = json!({"kind": "complete_task", "result": "已更换井盖", "photos": []});
    let case = ok("complete_task", task_op(server, worker, &task, done).await);
    assert_eq!(case["status"], "handled");
    let case = ok("verify", act(server, centre, id, json!({"action": "verify", "passed": true})).await);
    assert_eq!(case["status"], "verified");
    ok("close", act(server, centre, id, json!({"action": "close"})).await)
}

#[tokio::test]
async fn a_report_walks_the_shortest_loop_to_closed() {
    for server in servers().await {
        let (opened, grid) = report(&server, 0).await;
        assert_eq!(opened["status"], "reported");
        let id = opened["id"].as_str().unwrap();
        assert!(opened["code"].as_str().unwrap().len() == 12, "{opened}");
        let centre = server.login("centre").await.unwrap();
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();

        let (status, case) = server.get_as(&centre, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(status, 200, "{case}");
        assert_eq!(case["grid"]["code"], grid.as_str());
        assert_eq!(case["contact"]["name"], "张**", "contacts are masked");
        assert_eq!(case["contact"]["phone"], "138****5678");
        assert!(case["deadlines"]["current"].is_string(), "a reported case has an accept deadline: {case}");

        let case = ok("accept", act(&server, &centre, id, json!({"action": "accept"})).await);
        assert_eq!(case["status"], "registered");
        let case = handle_and_close(&server, &centre, &worker, id, &grid).await;
        assert_eq!(case["status"], "closed");
        assert_eq!(
            actions(&case),
            [
                "reported",
                "registered",
                "dispatched",
                "task_accepted",
                "task_completed",
                "verification_passed",
                "closed"
            ]
        );
        let history = case["history"].as_array().unwrap();
        assert!(history[0]["actor"].is_null(), "a resident reported it");
        assert_eq!(history[1]["actor"]["role"], "county_centre");
        assert!(history.iter().all(|e| e["at"].as_str().is_some_and(|t| t.ends_with('Z'))));

        // The resident follows it with the token, and sees no one's personal data.
        let token = opened["follow_token"].as_str().unwrap();
        let (status, _, follow) = server.get(&format!("/api/v1/reports/{id}?follow_token={token}")).await.unwrap();
        assert_eq!(status, 200, "{follow}");
        assert_eq!(follow["status"], "closed");
        assert_eq!(follow["history"].as_array().unwrap().len(), 7);
        let text = follow.to_string();
        assert!(!text.contains("张三丰") && !text.contains("13812345678") && !text.contains("actor"), "{text}");
        let (status, _, _) = server.get(&format!("/api/v1/reports/{id}?follow_token=wrong")).await.unwrap();
        assert_eq!(status, 404);

        // A closed case takes no more actions.
        refused("close again", act(&server, &centre, id, json!({"action": "close"})).await, 409, "illegal-transition");
    }
}

#[tokio::test]
async fn on_site_confirmation_registers_or_voids_the_case() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        // Found on site: registered, then the loop goes on to closed.
        let (opened, grid) = report(&server, 1).await;
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let id = opened["id"].as_str().unwrap();
        let case = ok("accept+confirm", act(&server, &centre, id, json!({"action": "accept", "confirm": true})).await);
        assert_eq!(case["status"], "confirming");
        let confirm = newest_task(&case, "confirm");
        refused(
            "complete a confirm task",
            task_op(&server, &worker, &confirm, json!({"kind": "complete_task", "result": "x"})).await,
            409,
            "task-not-active",
        );
        ok("take", task_op(&server, &worker, &confirm, json!({"kind": "accept_task"})).await);
        let case =
            ok("confirm", task_op(&server, &worker, &confirm, json!({"kind": "confirm_task", "exists": true})).await);
        assert_eq!(case["status"], "registered");
        let case = handle_and_close(&server, &centre, &worker, id, &grid).await;
        assert_eq!(case["status"], "closed");

        // Not found on site: void.
        let (opened, _) = report(&server, 1).await;
        let id = opened["id"].as_str().unwrap();
        let case = ok("accept+confirm", act(&server, &centre, id, json!({"action": "accept", "confirm": true})).await);
        let confirm = newest_task(&case, "confirm");
        ok("take", task_op(&server, &worker, &confirm, json!({"kind": "accept_task"})).await);
        let case =
            ok("void", task_op(&server, &worker, &confirm, json!({"kind": "confirm_task", "exists": false})).await);
        assert_eq!(case["status"], "rejected");
        assert_eq!(actions(&case).last().unwrap(), "voided");
    }
}

#[tokio::test]
async fn a_rejected_case_goes_no_further() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (opened, grid) = report(&server, 2).await;
        let id = opened["id"].as_str().unwrap();
        refused(
            "no reason",
            act(&server, &centre, id, json!({"action": "reject", "reason": " "})).await,
            422,
            "invalid-command",
        );
        let case = ok("reject", act(&server, &centre, id, json!({"action": "reject", "reason": "重复上报"})).await);
        assert_eq!(case["status"], "rejected");
        assert_eq!(case["history"].as_array().unwrap().last().unwrap()["data"]["reason"], "重复上报");
        refused(
            "dispatch a rejected case",
            act(&server, &centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await,
            409,
            "illegal-transition",
        );
        let (status, case) = server.get_as(&centre, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(case["status"], "rejected", "the refused dispatch changed nothing");
        assert_eq!(case["tasks"].as_array().unwrap().len(), 0);
    }
}

#[tokio::test]
async fn a_failed_verification_sends_the_work_back_to_its_handler() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (opened, grid) = report(&server, 3).await;
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let id = opened["id"].as_str().unwrap();
        ok("accept", act(&server, &centre, id, json!({"action": "accept"})).await);
        let case = ok("dispatch", act(&server, &centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
        let task = newest_task(&case, "handle");
        ok("take", task_op(&server, &worker, &task, json!({"kind": "accept_task"})).await);
        ok("complete", task_op(&server, &worker, &task, json!({"kind": "complete_task", "result": "done"})).await);
        let case = ok("fail", act(&server, &centre, id, json!({"action": "verify", "passed": false})).await);
        assert_eq!(case["status"], "dispatched");
        let back = case["tasks"].as_array().unwrap().iter().find(|t| t["id"] == task.as_str()).unwrap().clone();
        assert_eq!(back["status"], "accepted");
        assert_eq!(back["rework"], 1);
        assert_eq!(back["holder"], case["history"][3]["actor"]["id"], "the same handler holds it again");
        ok("rework", task_op(&server, &worker, &task, json!({"kind": "complete_task", "result": "redone"})).await);
        ok("verify", act(&server, &centre, id, json!({"action": "verify", "passed": true})).await);
        let case = ok("close", act(&server, &centre, id, json!({"action": "close"})).await);
        assert_eq!(case["status"], "closed");
        assert!(actions(&case).contains(&"verification_failed".to_owned()));
    }
}

#[tokio::test]
async fn whoever_handled_a_case_may_not_verify_it() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (opened, grid) = report(&server, 4).await;
        let id = opened["id"].as_str().unwrap();
        let community = &grid[..12];
        let (_, _, login) = server
            .post("/api/v1/auth/login", &json!({"login": format!("community-{community}"), "password": "demo"}))
            .await
            .unwrap();
        let staff = login["token"].as_str().unwrap().to_owned();
        let staff_id = login["user"]["id"].as_str().unwrap().to_owned();
        ok("accept", act(&server, &centre, id, json!({"action": "accept"})).await);
        let case =
            ok("dispatch", act(&server, &centre, id, json!({"action": "dispatch", "to": {"user": staff_id}})).await);
        assert_eq!(case["level"], 4);
        let task = newest_task(&case, "handle");
        ok("take", task_op(&server, &staff, &task, json!({"kind": "accept_task"})).await);
        ok("complete", task_op(&server, &staff, &task, json!({"kind": "complete_task", "result": "done"})).await);
        refused(
            "self-verify",
            act(&server, &staff, id, json!({"action": "verify", "passed": true})).await,
            409,
            "verifier-is-handler",
        );
        let (_, case) = server.get_as(&centre, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(case["status"], "handled", "the refusal changed nothing");
        ok("verify by the centre", act(&server, &centre, id, json!({"action": "verify", "passed": true})).await);
    }
}

#[tokio::test]
async fn a_case_outside_the_callers_area_does_not_exist_for_them() {
    for server in servers().await {
        let (opened, grid) = report(&server, 5).await;
        let id = opened["id"].as_str().unwrap();
        let township = &grid[..9];
        let other = mobile_api_tests::demo_layer()
            .unwrap()
            .at_level(geodata::Level::Township)
            .map(|u| u.code.to_string())
            .find(|c| c != township)
            .unwrap();
        let own = server.login(&format!("township-{township}")).await.unwrap();
        let stranger = server.login(&format!("township-{other}")).await.unwrap();
        let (status, _) = server.get_as(&own, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(status, 200);
        let (status, body) = server.get_as(&stranger, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!((status, body["type"].as_str()), (404, Some("not-found")));
        refused("act elsewhere", act(&server, &stranger, id, json!({"action": "accept"})).await, 404, "not-found");
        let (_, list) = server.get_as(&stranger, "/api/v1/incidents").await.unwrap();
        assert_eq!(list["total"], 0, "{list}");
        let (_, list) = server.get_as(&own, "/api/v1/incidents?status=reported").await.unwrap();
        assert_eq!(list["total"], 1, "{list}");
        // A grid worker sees their grid's cases but does not direct them.
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        refused("worker accepts", act(&server, &worker, id, json!({"action": "accept"})).await, 403, "forbidden");
        let (_, case) = server.get_as(&own, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(case["status"], "reported", "refusals changed nothing");
    }
}

/// The case list over HTTP, on both backends: walked by `cursor` (each page's `next`),
/// every case comes once and newest first while reports keep arriving; `offset` pages
/// still carry `total`; a cursor that is not one, or given with an offset, is a 400.
#[tokio::test]
async fn the_case_list_walks_by_cursor_while_reports_arrive() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let mut filed = Vec::new();
        for nth in 0..7 {
            filed.push(report(&server, 40 + nth).await.0["id"].as_str().unwrap().to_owned());
        }
        let (status, first) = server.get_as(&centre, "/api/v1/incidents?limit=2").await.unwrap();
        assert_eq!(status, 200, "{first}");
        assert_eq!((first["total"].as_i64(), first["offset"].as_i64()), (Some(7), Some(0)), "{first}");
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut page = first;
        loop {
            for item in page["items"].as_array().unwrap() {
                seen.push((item["reported_at"].as_str().unwrap().to_owned(), item["id"].as_str().unwrap().to_owned()));
            }
            if seen.len() == 4 {
                report(&server, 60).await; // arrives mid-walk, newer than all walked
            }
            let Some(next) = page["next"].as_str() else { break };
            let (status, body) =
                server.get_as(&centre, &format!("/api/v1/incidents?limit=2&cursor={next}")).await.unwrap();
            assert_eq!(status, 200, "{body}");
            assert!(
                body.get("total").is_none() && body.get("offset").is_none(),
                "a cursor page counts nothing: {body}"
            );
            page = body;
        }
        let mut ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
        ids.sort_unstable();
        let mut want: Vec<&str> = filed.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(ids, want, "{}: every case filed before the walk, once", server.database_url);
        let times: Vec<i64> = seen.iter().map(|(at, _)| gridlink::clock::parse_rfc3339(at).unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {seen:?}");

        for bad in ["cursor=nonsense", "cursor=MTIz", "cursor=x&offset=2"] {
            let (status, body) = server.get_as(&centre, &format!("/api/v1/incidents?{bad}")).await.unwrap();
            assert_eq!((status, body["type"].as_str()), (400, Some("bad-request")), "{bad}: {body}");
        }
    }
}

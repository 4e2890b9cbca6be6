//! A grid worker's finding dealt with on the spot alone (自行处置), sent in one mutation
//! (`report_incident` with `handled`), on SQLite and PostgreSQL: unsampled, it is closed
//! by that one mutation with every step in the trace, and a retry applies nothing twice;
//! sampled, a check goes to the community's staff, whose pass closes it and whose
//! failure sends the work back to the worker; a category a worker may not handle alone,
//! or a finding without its photos, is refused and leaves nothing behind.

use mobile_api_tests::{TestServer, demo_point, servers, servers_with};
use serde_json::{Value, json};
use sync_protocol::phone::Phone;
use sync_protocol::{ClientMessage, Handled, Location, Op, OpKind, ServerMessage};

use crate::support::{WAIT, actions, case, login_on, ok, task_op};

/// Uploads `bytes` as a JPEG: the attachment's id.
async fn upload(server: &TestServer, bytes: &[u8]) -> String {
    let mut photo = b"\xFF\xD8\xFF\xE0".to_vec();
    photo.extend_from_slice(bytes);
    photo.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    let response = server
        .client
        .post(format!("{}/api/v1/attachments", server.base))
        .header("content-type", "image/jpeg")
        .body(photo)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// A finding of `category` in the `nth` demo grid, handled alone when `after` is given.
fn finding(case_id: &str, category: &str, nth: usize, before: Vec<String>, after: Option<Vec<String>>) -> Op {
    let (lon, lat, _) = demo_point(nth);
    let handled = after.map(|photos| {
        Box::new(Handled { result: "已清理干净".into(), photos, location: Some(Location { lon, lat, crs: None }) })
    });
    let kind = OpKind::ReportIncident {
        incident_id: case_id.to_owned(),
        category: category.into(),
        location: Location { lon, lat, crs: None },
        description: "巡查发现垃圾暴露".into(),
        photos: before,
        severity: None,
        handled,
    };
    Op { kind, occurred_at: None }
}

/// What the server answered mutation `id`: ok, retry, code, detail.
async fn answered(phone: &mut Phone, id: &str) -> (bool, bool, Option<String>, Option<String>) {
    loop {
        if let ServerMessage::MutationResult { id: got, ok, retry, code, detail } = phone.recv(WAIT).await.unwrap()
            && got == id
        {
            return (ok, retry, code, detail);
        }
    }
}

/// Sends mutation `id` and waits for its answer.
async fn mutate(phone: &mut Phone, id: &str, op: Op) -> (bool, bool, Option<String>, Option<String>) {
    phone.send(&ClientMessage::Mutate { id: id.into(), op }).await.unwrap();
    answered(phone, id).await
}

/// A worker of the `nth` demo grid, connected: their phone, token and user id.
async fn worker(server: &TestServer, nth: usize) -> (Phone, String, String) {
    let grid = demo_point(nth).2;
    let (token, id) = login_on(server, &format!("worker-{grid}"), Some("phone")).await;
    let mut phone = Phone::new(server.ws_url(), token.clone(), "phone");
    phone.connect().await.unwrap();
    (phone, token, id)
}

/// Each event of a case's history as (action, actor's role, rule).
fn steps(case: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    case["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (text(&e["action"]), text(&e["actor"]["role"]), text(&e["data"]["rule"])))
        .collect()
}

fn step(action: &str, role: &str, rule: &str) -> (String, String, String) {
    (action.to_owned(), role.to_owned(), rule.to_owned())
}

/// The event of `action` in a case's history (the last, if several).
fn event<'a>(case: &'a Value, action: &str) -> &'a Value {
    case["history"].as_array().unwrap().iter().rev().find(|e| e["action"] == action).unwrap()
}

#[tokio::test]
async fn an_unsampled_self_handled_finding_is_closed_by_one_mutation_and_a_retry_applies_nothing() {
    for server in servers_with(|s| s.workflow.self_handled_sample = 0.0).await {
        let (mut phone, _, worker_id) = worker(&server, 11).await;
        let (before, after) = (upload(&server, b"before").await, upload(&server, b"after").await);
        let case_id = uuid::Uuid::new_v4().to_string();
        let op = finding(&case_id, "C0301", 11, vec![before.clone()], Some(vec![after.clone()]));
        assert_eq!(mutate(&mut phone, "self-1", op.clone()).await, (true, false, None, None));
        let centre = server.login("centre").await.unwrap();
        let closed = case(&server, &centre, &case_id).await;
        assert_eq!(closed["status"], "closed", "{closed}");
        assert_eq!(closed["photos"], json!([before]), "the finding's photos are those before");
        assert_eq!(
            steps(&closed),
            [
                step("reported", "grid_worker", ""),
                step("registered", "system", "own-finding"),
                step("dispatched", "system", "self-handled"),
                step("task_accepted", "grid_worker", ""),
                step("task_completed", "grid_worker", ""),
                step("verification_passed", "system", "self-handled"),
                step("closed", "system", "self-handled"),
            ]
        );
        let completed = event(&closed, "task_completed");
        assert_eq!(completed["actor"]["id"], worker_id.as_str());
        assert_eq!(completed["data"]["photos"], json!([after]), "the result's photos are those after");
        assert_eq!(completed["data"]["result"], "已清理干净");
        assert!(completed["data"]["distance_m"].as_f64().is_some_and(|d| d < 1.0), "{completed}");
        assert_eq!(event(&closed, "verification_passed")["data"]["sampled"], false);
        let tasks = closed["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{closed}");
        assert_eq!((tasks[0]["kind"].as_str(), tasks[0]["status"].as_str()), (Some("handle"), Some("completed")));
        assert_eq!(tasks[0]["assignees"], json!([worker_id]), "sent to the finder alone");
        assert_eq!(tasks[0]["holder"], worker_id.as_str());

        // The same mutation again, on this connection and on a new one: the first answer,
        // and nothing applied twice.
        assert_eq!(mutate(&mut phone, "self-1", op.clone()).await, (true, false, None, None));
        phone.disconnect().await;
        let (mut again, _, _) = worker(&server, 11).await;
        assert_eq!(mutate(&mut again, "self-1", op).await, (true, false, None, None));
        let still = case(&server, &centre, &case_id).await;
        assert_eq!(still["history"], closed["history"]);

        // The figures count it: registered, closed, handled by its finder.
        let (status, stats) = server.get_as(&centre, "/api/v1/stats?from=2000-01-01T00:00:00Z").await.unwrap();
        assert_eq!(status, 200, "{stats}");
        let figures = &stats["total"]["figures"];
        assert_eq!(figures["registered"]["value"].as_f64(), Some(1.0), "{figures}");
        assert_eq!(figures["closed"]["value"].as_f64(), Some(1.0), "{figures}");
        assert_eq!(figures["self_handled_share"]["value"].as_f64(), Some(1.0), "{figures}");
    }
}

#[tokio::test]
async fn a_sampled_self_handled_finding_is_checked_by_the_community_and_closed_or_sent_back() {
    for server in servers_with(|s| s.workflow.self_handled_sample = 1.0).await {
        let nth = 12;
        let grid = demo_point(nth).2;
        let (mut phone, worker_token, worker_id) = worker(&server, nth).await;
        let (staff_token, staff_id) = login_on(&server, &format!("community-{}", &grid[..12]), None).await;
        let centre = server.login("centre").await.unwrap();
        for passed in [true, false] {
            let case_id = uuid::Uuid::new_v4().to_string();
            let (before, after) = (upload(&server, b"before").await, upload(&server, b"after").await);
            let op = finding(&case_id, "C0302", nth, vec![before], Some(vec![after]));
            assert_eq!(mutate(&mut phone, &format!("m-{case_id}"), op).await, (true, false, None, None));
            let handled = case(&server, &centre, &case_id).await;
            assert_eq!(handled["status"], "handled", "{handled}");
            let last = steps(&handled).last().cloned().unwrap();
            assert_eq!(last, step("verification_requested", "system", "self-handled"));
            assert_eq!(event(&handled, "verification_requested")["data"]["sampled"], true);
            let check = handled["tasks"].as_array().unwrap().iter().find(|t| t["kind"] == "verify").unwrap().clone();
            assert_eq!((check["kind"].as_str(), check["status"].as_str()), (Some("verify"), Some("open")));
            assert_eq!(check["target"], json!({"unit": &grid[..12]}));
            assert_eq!(check["assignees"], json!([staff_id]), "the community's staff check it");
            let check = check["id"].as_str().unwrap().to_owned();

            ok("take the check", task_op(&server, &staff_token, &check, json!({"kind": "accept_task"})).await);
            let verdict = json!({"kind": "verify", "passed": passed, "note": if passed { "属实" } else { "仍有垃圾" }});
            let after = ok("check", task_op(&server, &staff_token, &check, verdict).await);
            if passed {
                assert_eq!(after["status"], "closed", "{after}");
                let tail: Vec<_> = steps(&after).into_iter().rev().take(2).collect();
                assert_eq!(
                    tail,
                    [step("closed", "system", "self-handled"), step("verification_passed", "community_staff", "")]
                );
            } else {
                // Sent back to the finder (返工): their task again, to complete anew.
                assert_eq!(after["status"], "dispatched", "{after}");
                assert_eq!(actions(&after).last().map(String::as_str), Some("verification_failed"));
                let lead = after["tasks"].as_array().unwrap().iter().find(|t| t["kind"] == "handle").unwrap();
                assert_eq!((lead["status"].as_str(), lead["rework"].as_i64()), (Some("accepted"), Some(1)));
                assert_eq!(lead["holder"], worker_id.as_str());
                let redo = json!({"kind": "complete_task", "result": "已再次清理", "photos": []});
                let redone = ok("redo", task_op(&server, &worker_token, lead["id"].as_str().unwrap(), redo).await);
                assert_eq!(redone["status"], "handled", "{redone}");
            }
        }
    }
}

#[tokio::test]
async fn a_finding_that_does_not_qualify_is_refused_and_nothing_is_stored() {
    for server in servers_with(|s| s.workflow.self_handled_sample = 0.0).await {
        let (mut phone, _, _) = worker(&server, 13).await;
        let centre = server.login("centre").await.unwrap();
        let (before, after) = (upload(&server, b"before").await, upload(&server, b"after").await);
        let refusals = [
            ("a missing manhole cover is not handled alone", "C0101", vec![before.clone()], vec![after.clone()]),
            ("no photo after", "C0301", vec![before.clone()], vec![]),
            ("no photo before", "C0301", vec![], vec![after.clone()]),
        ];
        for (why, category, before, after) in refusals {
            let case_id = uuid::Uuid::new_v4().to_string();
            let (ok, retry, code, detail) =
                mutate(&mut phone, &format!("m-{case_id}"), finding(&case_id, category, 13, before, Some(after))).await;
            assert_eq!((ok, retry, code.as_deref()), (false, false, Some("not-self-handled")), "{why}: {detail:?}");
            assert!(detail.is_some_and(|d| !d.is_empty()), "{why}");
            let (status, _) = server.get_as(&centre, &format!("/api/v1/incidents/{case_id}")).await.unwrap();
            assert_eq!(status, 404, "{why}: no case is stored");
        }
        // A photo after the work not uploaded yet: answered retry, kept nowhere; once it
        // is uploaded, the same mutation goes through.
        let case_id = uuid::Uuid::new_v4().to_string();
        let not_yet = b"\xFF\xD8\xFF\xE0 after, not uploaded yet".to_vec();
        let op = finding(&case_id, "C0301", 13, vec![before], Some(vec![gridlink::attachments::id_of(&not_yet)]));
        let (ok, retry, code, _) = mutate(&mut phone, "late-photo", op.clone()).await;
        assert_eq!((ok, retry, code.as_deref()), (false, true, Some("unknown-attachment")));
        let (status, _) = server.get_as(&centre, &format!("/api/v1/incidents/{case_id}")).await.unwrap();
        assert_eq!(status, 404);
        let response = server
            .client
            .post(format!("{}/api/v1/attachments", server.base))
            .header("content-type", "image/jpeg")
            .body(not_yet)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        assert_eq!(mutate(&mut phone, "late-photo", op).await, (true, false, None, None));
        assert_eq!(case(&server, &centre, &case_id).await["status"], "closed");
    }
}

#[tokio::test]
async fn the_demo_servers_default_share_takes_a_self_handled_finding() {
    for server in servers().await {
        let (mut phone, _, _) = worker(&server, 14).await;
        let (before, after) = (upload(&server, b"before").await, upload(&server, b"after").await);
        let case_id = uuid::Uuid::new_v4().to_string();
        let op = finding(&case_id, "C0303", 14, vec![before], Some(vec![after]));
        assert_eq!(mutate(&mut phone, "self", op).await, (true, false, None, None));
        let centre = server.login("centre").await.unwrap();
        let done = case(&server, &centre, &case_id).await;
        // One in ten by default, drawn by the server: closed, or waiting for its check.
        match done["status"].as_str() {
            Some("closed") => assert_eq!(event(&done, "verification_passed")["data"]["sampled"], false),
            Some("handled") => assert_eq!(event(&done, "verification_requested")["data"]["sampled"], true),
            other => panic!("a self-handled finding ended {other:?}: {done}"),
        }
    }
}

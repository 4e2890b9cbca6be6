//! The closed loop's remaining branches against real servers, on SQLite and PostgreSQL:
//! parking (挂账) asked from the phone, approved and resumed, the deadline moved by the
//! time parked; merging a duplicate (并单), both reporters then following the survivor;
//! reopening a closed case, the rework reaching the handler's phone; and escalation by
//! hand (上报), township → county → city, each level's queue showing it. Bad input to
//! each is refused with a clear problem+json and changes nothing.

use mobile_api_tests::{TestServer, demo_point, servers, servers_with};
use serde_json::{Value, json};
use sync_protocol::phone::Phone;
use sync_protocol::{Op, OpKind};

use crate::support::{self, WAIT, act, case, connect_fresh, listed, ms, ok, task_op};

/// As [`support::refused`], and the problem says why.
fn refused(step: &str, reply: (u16, Value), want_status: u16, want_type: &str) {
    let (says_why, body) = (reply.1["detail"].as_str().is_some_and(|d| !d.is_empty()), reply.1.to_string());
    support::refused(step, reply, want_status, want_type);
    assert!(says_why, "{step}: {body}");
}

/// Files a resident's report of `category` in the `nth` demo grid: its id, follow token and grid.
async fn report(server: &TestServer, nth: usize, category: &str) -> (String, String, String) {
    let (lon, lat, grid) = demo_point(nth);
    let body = json!({"category": category, "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"});
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    let text = |k: &str| opened[k].as_str().unwrap().to_owned();
    (text("id"), text("follow_token"), grid)
}

async fn follow(server: &TestServer, id: &str, token: &str) -> Value {
    let (status, _, view) = server.get(&format!("/api/v1/reports/{id}?follow_token={token}")).await.unwrap();
    assert_eq!(status, 200, "{view}");
    view
}

fn task_in<'a>(case: &'a Value, id: &str) -> &'a Value {
    case["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()
}

fn newest_task(case: &Value) -> String {
    case["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned()
}

/// Accepts a report and dispatches it to its grid as `centre`; the handle task's id.
async fn dispatch(server: &TestServer, centre: &str, id: &str, grid: &str) -> String {
    ok("accept", act(server, centre, id, json!({"action": "accept"})).await);
    let case = ok("dispatch", act(server, centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
    newest_task(&case)
}

async fn mutate(phone: &mut Phone, id: &str, kind: OpKind) -> (bool, Option<String>) {
    phone.mutate(id, Op { kind, occurred_at: None }).await.unwrap();
    phone.until(WAIT, |s| s.answers.contains_key(id)).await.unwrap();
    let answer = &phone.state.answers[id];
    (answer.ok, answer.code.clone())
}

#[tokio::test]
async fn a_parked_task_resumes_with_its_deadline_moved_by_the_time_parked() {
    const HOUR: i64 = 3600 * 1000;
    // On a test clock at the start of a working day, so that two parked hours are exact.
    let monday_nine = gridlink::clock::parse_rfc3339("2026-03-02T09:00:00+08:00");
    for server in servers_with(|s| s.test_clock = monday_nine).await {
        let centre = server.login("centre").await.unwrap();
        let (id, _, grid) = report(&server, 20, "C0101").await;
        let other = server.login(&format!("worker-{}", demo_point(21).2)).await.unwrap();
        let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        connect_fresh(&mut phone).await;
        let task = dispatch(&server, &centre, &id, &grid).await;
        let (accepted, _) = mutate(&mut phone, "take", OpKind::AcceptTask { task_id: task.clone() }).await;
        assert!(accepted);

        // Not the holder: neither the centre nor another grid's worker asks to park it.
        let ask = json!({"kind": "request_park", "reason": "待拆迁后处置"});
        refused("park by the centre", task_op(&server, &centre, &task, ask.clone()).await, 403, "not-your-task");
        refused("park by a stranger", task_op(&server, &other, &task, ask.clone()).await, 404, "not-found");
        let holder = phone_token(&server, &grid).await;
        refused(
            "park without a reason",
            task_op(&server, &holder, &task, json!({"kind": "request_park", "reason": " "})).await,
            422,
            "invalid-command",
        );
        refused(
            "park until a malformed time",
            task_op(&server, &holder, &task, json!({"kind": "request_park", "reason": "x", "until": "soon"})).await,
            422,
            "invalid-command",
        );
        // Nothing to approve or resume yet.
        let approve = json!({"action": "approve_park", "task": task});
        refused("approve unasked", act(&server, &centre, &id, approve.clone()).await, 409, "no-park-request");
        let resume = json!({"action": "resume_task", "task": task});
        refused("resume unparked", act(&server, &centre, &id, resume.clone()).await, 409, "not-parked");

        // The holder asks from the phone; the request shows on the desk.
        let park = OpKind::RequestPark { task_id: task.clone(), reason: "待拆迁后处置".into(), until: None };
        assert_eq!(mutate(&mut phone, "park", park).await, (true, None));
        let before = case(&server, &centre, &id).await;
        assert_eq!(task_in(&before, &task)["park_requested"]["reason"], "待拆迁后处置", "{before}");
        let due_before = ms(&task_in(&before, &task)["deadline"]);
        refused(
            "refuse without a reason",
            act(&server, &centre, &id, json!({"action": "refuse_park", "task": task})).await,
            422,
            "invalid-command",
        );
        let parked = ok("approve", act(&server, &centre, &id, approve).await);
        let t = task_in(&parked, &task);
        assert_eq!((t["parked"].as_bool(), t["paused"].as_array().unwrap().len()), (Some(true), 1), "{t}");

        // Parked work is not finished before it is resumed.
        let done = json!({"kind": "complete_task", "result": "done", "photos": []});
        server.advance_clock(2 * HOUR).await.unwrap();
        refused("complete while parked", task_op(&server, &holder, &task, done.clone()).await, 409, "task-parked");

        // Only a centre resumes it (the holder's phone is refused); the deadline moved by
        // the time parked.
        let refused_resume = mutate(&mut phone, "resume", OpKind::ResumeTask { task_id: task.clone() }).await;
        assert_eq!(refused_resume, (false, Some("forbidden".to_owned())));
        ok("resume", act(&server, &centre, &id, json!({"action": "resume_task", "task": task})).await);
        let after = case(&server, &centre, &id).await;
        let t = task_in(&after, &task);
        let moved = ms(&t["deadline"]) - due_before;
        // Two hours on the test clock, and the real time the test took meanwhile.
        assert!((2 * HOUR..2 * HOUR + 60_000).contains(&moved), "moved by {moved} ms: {t}");
        assert!(t.get("parked").is_none() && t["paused"][0]["until"].is_string(), "{t}");
        let actions: Vec<&str> =
            after["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert!(actions.ends_with(&["park_requested", "parked", "resumed"]), "{actions:?}");
        // The phone holds the task with its new deadline.
        let want = t["deadline"].clone();
        phone.until(WAIT, |s| s.tasks().any(|(i, d)| i == task && d["deadline"] == want)).await.unwrap();
        ok("complete", task_op(&server, &holder, &task, done).await);
    }
}

async fn phone_token(server: &TestServer, grid: &str) -> String {
    server.login(&format!("worker-{grid}")).await.unwrap()
}

#[tokio::test]
async fn a_duplicate_merged_is_followed_through_the_survivor_by_both_reporters() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (survivor, survivor_token, grid) = report(&server, 22, "C0101").await;
        let (dup, dup_token, _) = report(&server, 22, "C0101").await;
        let (other, _, _) = report(&server, 22, "C0102").await;
        // The same category in a grid far away is no duplicate.
        let (far, _, _) = report(&server, 40, "C0101").await;
        let ((lon1, lat1, _), (lon2, lat2, _)) = (demo_point(22), demo_point(40));
        assert!(gridlink::incidents::duplicate::distance_m((lon1, lat1), (lon2, lat2)) > 200.0);
        let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        connect_fresh(&mut phone).await;
        let task = dispatch(&server, &centre, &dup, &grid).await;
        phone.until(WAIT, |s| s.tasks().any(|(i, _)| i == task)).await.unwrap();
        let history_len = |case: &Value| case["history"].as_array().unwrap().len();
        let before = case(&server, &centre, &dup).await;

        // Bad merges change nothing.
        let merge = |into: &str| json!({"action": "merge", "into": into, "reason": "同一井盖"});
        refused("into itself", act(&server, &centre, &dup, merge(&dup)).await, 422, "merge-into-itself");
        let nowhere = "00000000-0000-4000-8000-000000000000";
        refused("into an unknown case", act(&server, &centre, &dup, merge(nowhere)).await, 422, "unknown-case");
        refused("across categories", act(&server, &centre, &dup, merge(&other)).await, 422, "different-category");
        refused("far away", act(&server, &centre, &dup, merge(&far)).await, 422, "not-a-duplicate");
        refused("no target", act(&server, &centre, &dup, json!({"action": "merge"})).await, 400, "bad-request");
        let worker = phone_token(&server, &grid).await;
        refused("by a worker", act(&server, &worker, &dup, merge(&survivor)).await, 403, "forbidden");
        let unchanged = case(&server, &centre, &dup).await;
        assert_eq!(
            (unchanged["status"].clone(), history_len(&unchanged)),
            (before["status"].clone(), history_len(&before))
        );

        let merged = ok("merge", act(&server, &centre, &dup, merge(&survivor)).await);
        assert_eq!(merged["status"], "merged");
        assert_eq!(task_in(&merged, &task)["status"], "cancelled", "the duplicate's tasks are withdrawn");
        phone.until(WAIT, |s| !s.tasks().any(|(i, _)| i == task)).await.unwrap();
        assert_eq!(merged["history"].as_array().unwrap().last().unwrap()["action"], "merged_into");
        let kept = case(&server, &centre, &survivor).await;
        assert_eq!(kept["status"], "reported");
        assert_eq!(kept["history"].as_array().unwrap().last().unwrap()["action"], "absorbed");

        // Merged once, not twice; and never a closed case.
        refused("merge again", act(&server, &centre, &dup, merge(&survivor)).await, 409, "illegal-transition");
        refused("into the merged one", act(&server, &centre, &survivor, merge(&dup)).await, 409, "survivor-not-open");

        // Both reporters follow the survivor as it moves on.
        ok("accept survivor", act(&server, &centre, &survivor, json!({"action": "accept"})).await);
        let own = follow(&server, &survivor, &survivor_token).await;
        assert_eq!(own["status"], "registered");
        assert!(own.get("merged_into").is_none(), "{own}");
        let through = follow(&server, &dup, &dup_token).await;
        assert_eq!(through["status"], "merged");
        assert_eq!(through["merged_into"]["id"], survivor.as_str(), "{through}");
        assert_eq!(through["merged_into"]["status"], "registered", "{through}");
        assert_eq!(through["merged_into"]["history"], own["history"]);
        let (status, _, _) = server.get(&format!("/api/v1/reports/{dup}?follow_token={survivor_token}")).await.unwrap();
        assert_eq!(status, 404, "each token opens its own report only");
    }
}

#[tokio::test]
async fn a_reopened_case_goes_back_to_its_handler_phone() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (id, token, grid) = report(&server, 23, "C0101").await;
        let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        connect_fresh(&mut phone).await;
        let task = dispatch(&server, &centre, &id, &grid).await;
        let worker = phone_token(&server, &grid).await;
        refused(
            "reopen an open case",
            act(&server, &centre, &id, json!({"action": "reopen", "reason": "x"})).await,
            409,
            "illegal-transition",
        );
        ok("take", task_op(&server, &worker, &task, json!({"kind": "accept_task"})).await);
        ok(
            "complete",
            task_op(&server, &worker, &task, json!({"kind": "complete_task", "result": "已更换", "photos": []})).await,
        );
        ok("verify", act(&server, &centre, &id, json!({"action": "verify", "passed": true})).await);
        ok("close", act(&server, &centre, &id, json!({"action": "close"})).await);
        phone.until(WAIT, |s| s.tasks().any(|(i, d)| i == task && d["status"] == "completed")).await.unwrap();

        refused(
            "reopen without a reason",
            act(&server, &centre, &id, json!({"action": "reopen"})).await,
            400,
            "bad-request",
        );
        refused(
            "reopen with a blank reason",
            act(&server, &centre, &id, json!({"action": "reopen", "reason": " "})).await,
            422,
            "invalid-command",
        );
        refused(
            "reopen by the worker",
            act(&server, &worker, &id, json!({"action": "reopen", "reason": "x"})).await,
            403,
            "forbidden",
        );
        assert_eq!(case(&server, &centre, &id).await["status"], "closed");

        let reopened =
            ok("reopen", act(&server, &centre, &id, json!({"action": "reopen", "reason": "井盖仍松动"})).await);
        assert_eq!(reopened["status"], "dispatched");
        let t = task_in(&reopened, &task);
        assert_eq!((t["status"].as_str(), t["rework"].as_i64()), (Some("accepted"), Some(1)), "{t}");
        let actions: Vec<&str> =
            reopened["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions.last(), Some(&"reopened"));
        assert!(actions.contains(&"closed"), "history kept: {actions:?}");
        // The rework reaches the handler's phone without asking.
        phone
            .until(WAIT, |s| s.tasks().any(|(i, d)| i == task && d["status"] == "accepted" && d["rework"] == 1))
            .await
            .unwrap();
        assert_eq!(follow(&server, &id, &token).await["status"], "dispatched");
        // And the loop closes again.
        ok(
            "complete again",
            task_op(&server, &worker, &task, json!({"kind": "complete_task", "result": "已紧固", "photos": []})).await,
        );
        ok("verify again", act(&server, &centre, &id, json!({"action": "verify", "passed": true})).await);
        assert_eq!(ok("close again", act(&server, &centre, &id, json!({"action": "close"})).await)["status"], "closed");
    }
}

#[tokio::test]
async fn escalation_by_hand_climbs_from_the_township_to_the_city_queue() {
    for server in servers().await {
        let (id, _, grid) = report(&server, 24, "C0101").await;
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let county = server.login("centre").await.unwrap();
        let city = server.login("city").await.unwrap();
        let worker = phone_token(&server, &grid).await;
        let up = |reason: &str| json!({"action": "escalate", "reason": reason});

        refused("by a grid worker", act(&server, &worker, &id, up("x")).await, 403, "forbidden");
        refused("by the county, not its queue yet", act(&server, &county, &id, up("x")).await, 403, "forbidden");
        refused("without a reason", act(&server, &township, &id, up(" ")).await, 422, "invalid-command");
        assert_eq!(case(&server, &county, &id).await["history"].as_array().unwrap().len(), 1, "nothing changed");

        let escalated = ok("township escalates", act(&server, &township, &id, up("需要吊车")).await);
        assert_eq!((escalated["status"].as_str(), escalated["level"].as_i64()), (Some("reported"), Some(2)));
        let last = escalated["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "escalated", "{last}");
        // The county's queue (level 2) shows it; the township still sees it in its area,
        // no longer in its own queue (level 3).
        assert!(listed(&server, &county, "level=2").await.contains(&id));
        assert!(listed(&server, &township, "").await.contains(&id));
        assert!(!listed(&server, &township, "level=3").await.contains(&id));
        refused("the township again", act(&server, &township, &id, up("x")).await, 403, "forbidden");

        ok("county escalates", act(&server, &county, &id, up("跨区县")).await);
        assert!(listed(&server, &city, "level=1").await.contains(&id));
        assert!(!listed(&server, &county, "level=2").await.contains(&id));
        refused("the city has no level above", act(&server, &city, &id, up("x")).await, 409, "no-level-above");
        // The city takes it in and works it as any centre.
        assert_eq!(
            ok("city accepts", act(&server, &city, &id, json!({"action": "accept"})).await)["status"],
            "registered"
        );
    }
}

async fn rate(server: &TestServer, id: &str, body: Value) -> (u16, Value) {
    let (status, _, view) = server.post(&format!("/api/v1/reports/{id}/rating"), &body).await.unwrap();
    (status, view)
}

/// Walks a dispatched task to a closed case: take (if open), complete, verify, close.
async fn close(server: &TestServer, centre: &str, worker: &str, id: &str, task: &str, take: bool) {
    if take {
        ok("take", task_op(server, worker, task, json!({"kind": "accept_task"})).await);
    }
    ok(
        "complete",
        task_op(server, worker, task, json!({"kind": "complete_task", "result": "已处理", "photos": []})).await,
    );
    ok("verify", act(server, centre, id, json!({"action": "verify", "passed": true})).await);
    ok("close", act(server, centre, id, json!({"action": "close"})).await);
}

#[tokio::test]
async fn the_reporter_rates_once_per_closing_and_unsatisfied_reopens() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (id, token, grid) = report(&server, 25, "C0101").await;
        let worker = phone_token(&server, &grid).await;
        let rating = |r: &str| json!({"follow_token": token, "rating": r});
        refused("rate an open case", rate(&server, &id, rating("satisfied")).await, 409, "illegal-transition");
        let task = dispatch(&server, &centre, &id, &grid).await;
        close(&server, &centre, &worker, &id, &task, true).await;

        refused(
            "a wrong token",
            rate(&server, &id, json!({"follow_token": "nope", "rating": "basic"})).await,
            404,
            "not-found",
        );
        refused("an unknown rating", rate(&server, &id, rating("great")).await, 400, "bad-request");
        refused("no token", rate(&server, &id, json!({"rating": "basic"})).await, 400, "bad-request");
        assert_eq!(follow(&server, &id, &token).await["status"], "closed", "nothing changed");

        let long = json!({"follow_token": token, "rating": "unsatisfied", "comment": "太".repeat(501)});
        refused("a comment over 500 characters", rate(&server, &id, long).await, 400, "bad-request");
        let unsatisfied = json!({"follow_token": token, "rating": "unsatisfied", "comment": " 井盖还在响 "});
        let (status, view) = rate(&server, &id, unsatisfied).await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["status"], "dispatched");
        assert!(!view.to_string().contains("井盖还在响"), "the follow view does not show the comment: {view}");
        let traced = case(&server, &centre, &id).await;
        let rated = traced["history"].as_array().unwrap().iter().find(|e| e["action"] == "rated").cloned();
        assert_eq!(rated.map(|e| e["data"]["comment"].clone()), Some(json!("井盖还在响")), "staff read it, trimmed");
        let steps: Vec<&str> =
            view["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert!(steps.ends_with(&["closed", "rated", "reopened"]), "{steps:?}");
        let reworked = case(&server, &centre, &id).await;
        assert_eq!(task_in(&reworked, &task)["rework"], 1);
        refused("rate while reopened", rate(&server, &id, rating("basic")).await, 409, "illegal-transition");

        close(&server, &centre, &worker, &id, &task, false).await;
        let (status, view) = rate(&server, &id, rating("satisfied")).await;
        assert_eq!((status, view["status"].as_str()), (200, Some("closed")), "{view}");
        refused("rate twice", rate(&server, &id, rating("unsatisfied")).await, 409, "already-rated");
        assert_eq!(case(&server, &centre, &id).await["status"], "closed");
    }
}

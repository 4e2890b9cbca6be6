//! The table of who may do what, as the doors apply it, on SQLite and on PostgreSQL:
//! community staff send work to their own grids but do not take cases in or close them,
//! a parked task is resumed by a centre and nobody else, each case view offers exactly
//! the actions its caller may take now, and a grade or a place given by someone who is
//! not staff there is a claim, not a command.

use mobile_api_tests::{demo_point, servers};
use serde_json::{Value, json};

use crate::support::{act, case, report, task_op};

fn allowed(value: &Value) -> Vec<&str> {
    value["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect()
}

fn expect(step: &str, (status, body): (u16, Value), want: u16, kind: Option<&str>) -> Value {
    assert_eq!(status, want, "{step}: {body}");
    if let Some(kind) = kind {
        assert_eq!(body["type"], kind, "{step}: {body}");
    }
    body
}

#[tokio::test]
async fn community_staff_route_within_their_community_and_centres_direct() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (id, grid) = report(&server, 60).await;
        let staff = server.login(&format!("community-{}", &grid[..12])).await.unwrap();
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();

        // What each caller is offered on a new report.
        assert_eq!(
            allowed(&case(&server, &township, &id).await),
            ["accept", "reject", "merge", "escalate", "flag", "inform"]
        );
        assert_eq!(allowed(&case(&server, &centre, &id).await), ["accept", "reject", "merge", "flag", "inform"]);
        assert_eq!(allowed(&case(&server, &staff, &id).await), ["inform"]);

        expect("staff accept", act(&server, &staff, &id, json!({"action": "accept"})).await, 403, Some("forbidden"));
        expect(
            "staff reject",
            act(&server, &staff, &id, json!({"action": "reject", "reason": "x"})).await,
            403,
            Some("forbidden"),
        );
        expect("centre accepts", act(&server, &centre, &id, json!({"action": "accept"})).await, 200, None);
        let to_dept = json!({"action": "dispatch", "to": {"department": "cgj"}});
        expect("staff to a department", act(&server, &staff, &id, to_dept).await, 403, Some("forbidden"));
        let other = (0..80).map(|n| demo_point(n).2).find(|g| g[..12] != grid[..12] && g[..9] == grid[..9]);
        if let Some(other) = other {
            // A grid outside their area is not one they can name at all.
            let elsewhere = json!({"action": "dispatch", "to": {"grid": other}});
            expect(
                "staff to another community",
                act(&server, &staff, &id, elsewhere).await,
                422,
                Some("unknown-target"),
            );
        }
        let own = json!({"action": "dispatch", "to": {"grid": grid}});
        let sent = expect("staff to their own grid", act(&server, &staff, &id, own).await, 200, None);
        assert_eq!(sent["status"], "dispatched");
        let task = sent["tasks"][0]["id"].as_str().unwrap().to_owned();

        // The grid's worker is offered the task's own steps; the staff may send it elsewhere.
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let seen = case(&server, &worker, &id).await;
        assert!(allowed(&seen).is_empty(), "{seen}");
        assert_eq!(seen["tasks"][0]["allowed_actions"], json!(["accept_task", "return_task"]));
        let seen = case(&server, &staff, &id).await;
        assert_eq!(seen["tasks"][0]["allowed_actions"], json!(["redispatch"]));

        // A parked task: the worker asks, a centre approves; only a centre resumes it.
        expect("take", task_op(&server, &worker, &task, json!({"kind": "accept_task"})).await, 200, None);
        let park = json!({"kind": "request_park", "reason": "待汛期后施工"});
        expect("ask to park", task_op(&server, &worker, &task, park).await, 200, None);
        let approve = json!({"action": "approve_park", "task": task});
        expect("staff approve parking", act(&server, &staff, &id, approve.clone()).await, 403, Some("forbidden"));
        expect("centre approves parking", act(&server, &centre, &id, approve).await, 200, None);
        let resume = json!({"kind": "resume_task"});
        expect("staff resume", task_op(&server, &staff, &task, resume.clone()).await, 403, Some("forbidden"));
        let seen = case(&server, &township, &id).await;
        assert!(seen["tasks"][0]["allowed_actions"].as_array().unwrap().contains(&json!("resume_task")), "{seen}");
        expect("centre resumes", task_op(&server, &township, &task, resume).await, 200, None);

        // Handled: the staff may verify (they did not handle it), and may not close.
        let done = json!({"kind": "complete_task", "result": "已更换", "photos": []});
        expect("complete", task_op(&server, &worker, &task, done).await, 200, None);
        let seen = case(&server, &staff, &id).await;
        assert_eq!(allowed(&seen), ["request_verification", "verify", "inform"], "{seen}");
        expect("staff verify", act(&server, &staff, &id, json!({"action": "verify", "passed": true})).await, 200, None);
        expect("staff close", act(&server, &staff, &id, json!({"action": "close"})).await, 403, Some("forbidden"));
        assert_eq!(allowed(&case(&server, &township, &id).await), ["merge", "escalate", "close", "flag", "inform"]);
        let closed =
            expect("township closes", act(&server, &township, &id, json!({"action": "close"})).await, 200, None);
        assert_eq!(closed["status"], "closed");
    }
}

#[tokio::test]
async fn staff_filing_outside_their_area_report_as_residents() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(61);
        let (olon, olat, other) = (0..80).map(demo_point).find(|p| p.2[..9] != grid[..9]).unwrap();
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let report = |lon: f64, lat: f64| json!({"category": "E0101", "location": {"lon": lon, "lat": lat}, "description": "厂房冒烟", "severity": "I"});
        // In its own township: a staff filing, whose grade acts.
        let (status, own) = server.post_as(&township, "/api/v1/reports", &report(lon, lat)).await.unwrap();
        assert_eq!(status, 201, "{own}");
        let centre = server.login("centre").await.unwrap();
        let own = case(&server, &centre, own["id"].as_str().unwrap()).await;
        assert_eq!((own["source"].as_str(), own["severity"].as_str()), (Some("staff"), Some("I")), "{own}");
        // In another township: anyone's report, its grade a claim.
        let (status, far) = server.post_as(&township, "/api/v1/reports", &report(olon, olat)).await.unwrap();
        assert_eq!(status, 201, "{far}");
        let far = case(&server, &centre, far["id"].as_str().unwrap()).await;
        assert_eq!(far["source"], "resident", "{far}");
        assert_eq!((far["severity"].as_str(), far["claimed_severity"].as_str()), (None, Some("I")), "{far}");
        assert_eq!(far["queue"], &other[..9], "{far}");
        let reported = &far["history"][0];
        assert!(reported["actor"].is_null(), "no staff member stands behind it: {reported}");
    }
}

//! Routing: a grid's duty roster, kept by the desks of its area, and the rules'
//! suggestion for a case, on SQLite and PostgreSQL.

use std::time::Duration;

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};

use crate::support::{case, ms};

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
        // C0101 is marked to dispatch on its own, but a resident's report waits for a person
        // (docs/contract.md opens it as `reported`, for a centre to accept).
        assert_eq!(s["automatic"], false, "{s}");
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

/// The system's entries of a case's history, as (action, rule).
fn by_system(case: &Value) -> Vec<(String, String)> {
    case["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["role"] == "system")
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["data"]["rule"].as_str().unwrap_or("").to_owned()))
        .collect()
}

#[tokio::test]
async fn the_rules_dispatch_staff_filings_of_automatic_categories_and_tell_the_department() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(8);
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let centre = server.login("centre").await.unwrap();
        let worker = format!("worker-{grid}");
        let roster = json!({"shifts": [{"login": worker, "days": "mon-sun", "from": "00:00", "to": "24:00"}]});
        assert_eq!(put_roster(&server, &township, &grid, &roster).await.0, 200);
        // The department hears of it on its own socket, though the grid is not its area.
        let mut department = server.phone("dept-cgj", "desk").await.unwrap();
        department.connect().await.unwrap();

        let body = json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"});
        // A resident's report waits, whatever its category.
        let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
        assert_eq!((status, opened["status"].as_str()), (201, Some("reported")), "{opened}");
        let waiting = case(&server, &centre, opened["id"].as_str().unwrap()).await;
        assert!(by_system(&waiting).is_empty(), "{waiting}");
        assert_eq!(waiting["queue"], &grid[..9]);

        // So does one a desk files for a resident: the desk routes it.
        let (status, filed) = server.post_as(&centre, "/api/v1/reports", &body).await.unwrap();
        assert_eq!((status, filed["status"].as_str()), (201, Some("reported")), "{filed}");
        // The hotline (12345) files the same call: the rules take it in and send it to the
        // worker on duty, and tell the city management bureau.
        let hotline = server.login("hotline").await.unwrap();
        let (status, filed) = server.post_as(&hotline, "/api/v1/reports", &body).await.unwrap();
        assert_eq!((status, filed["status"].as_str()), (201, Some("dispatched")), "{filed}");
        let id = filed["id"].as_str().unwrap();
        let routed = case(&server, &centre, id).await;
        let system = by_system(&routed);
        let actions: Vec<&str> = system.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(actions, ["registered", "dispatched", "informed"], "{routed}");
        assert!(system.iter().all(|(_, rule)| rule == "on-duty"), "{system:?}");
        let lead = &routed["tasks"][0];
        let worker_id = server.get_as(&server.login(&worker).await.unwrap(), "/api/v1/me").await.unwrap().1;
        assert_eq!(lead["target"]["user"], worker_id["id"], "{lead}");
        let informed = routed["history"].as_array().unwrap().iter().find(|e| e["action"] == "informed").unwrap();
        assert_eq!(informed["data"]["units"], json!(["cgj"]));
        // Its limit: C0101 gives 2 urgent hours to handle, counted from the dispatch.
        let dispatched = routed["history"].as_array().unwrap().iter().find(|e| e["action"] == "dispatched").unwrap();
        assert_eq!(ms(&lead["deadline"]) - ms(&dispatched["at"]), 2 * 3_600_000);
        let limits = routed["limits"].as_array().unwrap();
        assert!(limits.iter().any(|l| l["step"] == "handle" && l["light"] == "green"), "{routed}");

        department
            .until(Duration::from_secs(10), |state| {
                state.held.get("notice").is_some_and(|n| n.values().any(|d| d["incident_id"] == id))
            })
            .await
            .unwrap();
        // A desk starting afresh (a new device: a snapshot) gets the notice all the same.
        let mut fresh = server.phone("dept-cgj", "new-desk").await.unwrap();
        fresh.connect().await.unwrap();
        fresh
            .until(Duration::from_secs(10), |state| {
                !state.rebuilding
                    && state.held.get("notice").is_some_and(|n| n.values().any(|d| d["incident_id"] == id))
            })
            .await
            .unwrap();
        // A bad unit to tell is refused by the desk's door, and nothing is traced.
        let path = format!("/api/v1/incidents/{id}/actions");
        let (status, problem) =
            server.post_as(&centre, &path, &json!({"action": "inform", "units": ["nowhere"]})).await.unwrap();
        assert_eq!((status, problem["type"].as_str()), (422, Some("unknown-target")), "{problem}");
        let (status, problem) =
            server.post_as(&centre, &path, &json!({"action": "inform", "units": []})).await.unwrap();
        assert_eq!(status, 422, "{problem}");
        let (status, told) = server
            .post_as(&centre, &path, &json!({"action": "inform", "units": ["zjj"], "note": "路面"}))
            .await
            .unwrap();
        assert_eq!(status, 200, "{told}");
        assert_eq!(told["history"].as_array().unwrap().iter().filter(|e| e["action"] == "informed").count(), 2);
    }
}

#[tokio::test]
async fn a_grave_emergency_goes_straight_to_the_county_and_its_grade_sets_its_limits() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(9);
        let centre = server.login("centre").await.unwrap();
        let report = |severity: Value, category: &str| {
            json!({"category": category, "location": {"lon": lon, "lat": lat}, "description": "厂房冒烟",
                   "severity": severity})
        };
        // Grade II, from a resident: a claim, shown to the desk, acting on nothing — the case
        // waits in the township's queue, ungraded.
        let (status, _, opened) = server.post("/api/v1/reports", &report(json!("II"), "E0101")).await.unwrap();
        assert_eq!((status, opened["status"].as_str()), (201, Some("reported")), "{opened}");
        let id = opened["id"].as_str().unwrap();
        let claimed = case(&server, &centre, id).await;
        assert_eq!((claimed["severity"].as_str(), claimed["claimed_severity"].as_str()), (None, Some("II")));
        assert_eq!(claimed["queue"], &grid[..9], "{claimed}");
        assert!(by_system(&claimed).is_empty(), "{claimed}");
        // The township confirms the grade (定级): now the rules act as they would have on a
        // staff filing — straight to the county centre, the city told.
        let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
        let confirm = json!({"action": "grade", "severity": "II", "reason": "核实: 有人员被困"});
        let (status, graded) =
            server.post_as(&township, &format!("/api/v1/incidents/{id}/actions"), &confirm).await.unwrap();
        assert_eq!(status, 200, "{graded}");
        let grave = case(&server, &centre, id).await;
        assert_eq!((grave["severity"].as_str(), grave["claimed_severity"].as_str()), (Some("II"), None));
        assert_eq!(grave["queue"], &grid[..6], "{grave}");
        assert_eq!(grave["level"], 2);
        let system = by_system(&grave);
        assert_eq!(
            system,
            [
                ("escalated".to_owned(), "emergency-to-county".to_owned()),
                ("informed".into(), "emergency-to-county".into())
            ]
        );
        let informed = grave["history"].as_array().unwrap().iter().find(|e| e["action"] == "informed").unwrap();
        assert_eq!(informed["data"]["units"], json!([format!("{}00", &grid[..4])]));
        // The hotline is staff: its grade acts at once.
        let hotline = server.login("hotline").await.unwrap();
        let (status, filed) = server.post_as(&hotline, "/api/v1/reports", &report(json!("I"), "E0101")).await.unwrap();
        assert_eq!(status, 201, "{filed}");
        let at_once = case(&server, &centre, filed["id"].as_str().unwrap()).await;
        assert_eq!((at_once["severity"].as_str(), at_once["queue"].as_str()), (Some("I"), Some(&grid[..6])));
        // It is the county's to take in: in the county centre's inbox, out of the township's.
        let new_reports = |inbox: &Value| -> Vec<String> {
            let items = inbox["items"].as_array().unwrap().iter();
            items.map(|i| i["incident"]["id"].as_str().unwrap().to_owned()).collect()
        };
        let (_, county_inbox) = server.get_as(&centre, "/api/v1/inbox?kinds=new_report").await.unwrap();
        assert!(new_reports(&county_inbox).contains(&id.to_owned()), "{county_inbox}");
        let (_, township_inbox) = server.get_as(&township, "/api/v1/inbox?kinds=new_report").await.unwrap();
        assert!(!new_reports(&township_inbox).contains(&id.to_owned()), "{township_inbox}");
        // The county takes it in and sends it to the emergency bureau: grade II gives 4 urgent
        // hours to handle, where the category alone gives a working day.
        let path = format!("/api/v1/incidents/{id}/actions");
        let (status, accepted) = server.post_as(&centre, &path, &json!({"action": "accept"})).await.unwrap();
        assert_eq!(status, 200, "{accepted}");
        let to = json!({"action": "dispatch", "to": {"department": "yjglj"}});
        let (status, sent) = server.post_as(&centre, &path, &to).await.unwrap();
        assert_eq!(status, 200, "{sent}");
        let dispatched = sent["history"].as_array().unwrap().iter().rfind(|e| e["action"] == "dispatched").unwrap();
        assert_eq!(ms(&sent["tasks"][0]["deadline"]) - ms(&dispatched["at"]), 4 * 3_600_000, "{sent}");

        // Grade IV waits in the township's queue like any report.
        let (_, _, minor) = server.post("/api/v1/reports", &report(json!("IV"), "E0101")).await.unwrap();
        let minor_id = minor["id"].as_str().unwrap();
        let minor = case(&server, &centre, minor_id).await;
        assert_eq!((minor["queue"].as_str(), minor["claimed_severity"].as_str()), (Some(&grid[..9]), Some("IV")));
        assert!(by_system(&minor).is_empty());
        // The desk corrects the grade, with a reason; the trace keeps both.
        let path = format!("/api/v1/incidents/{minor_id}/actions");
        let regrade = json!({"action": "grade", "severity": "II", "reason": "有人员被困"});
        let (status, graded) = server.post_as(&centre, &path, &regrade).await.unwrap();
        assert_eq!((status, graded["severity"].as_str()), (200, Some("II")), "{graded}");
        let event = graded["history"].as_array().unwrap().last().unwrap().clone();
        let graded_event = graded["history"].as_array().unwrap().iter().find(|e| e["action"] == "graded").unwrap();
        assert_eq!(graded_event["data"]["to"], "II", "{graded_event}");
        assert_eq!(event["action"], "informed", "the rules escalated it once graded: {event}");
        let (status, again) = server.post_as(&centre, &path, &regrade).await.unwrap();
        assert_eq!((status, again["type"].as_str()), (422, Some("invalid-command")), "{again}");
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let (status, _) =
            server.post_as(&worker, &path, &json!({"action": "grade", "severity": "I", "reason": "x"})).await.unwrap();
        assert_eq!(status, 403);

        // A grade is for emergencies only, and only I to IV; nothing is opened.
        let (status, _, problem) = server.post("/api/v1/reports", &report(json!("II"), "C0101")).await.unwrap();
        assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-report")), "{problem}");
        let (_, _, cover) = server.post("/api/v1/reports", &report(Value::Null, "C0101")).await.unwrap();
        let cover_path = format!("/api/v1/incidents/{}/actions", cover["id"].as_str().unwrap());
        let (status, problem) = server
            .post_as(&centre, &cover_path, &json!({"action": "grade", "severity": "I", "reason": "x"}))
            .await
            .unwrap();
        assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-command")), "{problem}");
        for bad in [json!("V"), json!(2), json!("ii")] {
            let (status, _, problem) = server.post("/api/v1/reports", &report(bad, "E0101")).await.unwrap();
            assert_eq!((status, problem["type"].as_str()), (400, Some("bad-request")), "{problem}");
        }
    }
}

//! Deadlines against a real server on a test clock, on SQLite and on PostgreSQL: a case
//! that runs late turns yellow, then red and lands in the township's supervision queue,
//! then, another full limit later, in the county's; a supervisor's flag (督办) reaches the
//! holder's phone; the county re-dispatches the supervised task; a server stopped and
//! started again three simulated days later fires each deadline once; bad input to the
//! inbox and the test clock is refused with problem+json.

use std::time::Duration;

use mobile_api_tests::{Backend, TestServer, demo_point, servers_with};
use serde_json::{Value, json};

use crate::support::{act, actions, count, ms, ok, refused};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Monday 2026-03-02 09:00 in Asia/Shanghai: an ordinary working day.
fn monday_nine() -> i64 {
    gridlink::clock::parse_rfc3339("2026-03-02T09:00:00+08:00").unwrap()
}

/// A server on a test clock starting at `start`, per backend (PostgreSQL when reachable).
async fn servers(start: i64) -> Vec<TestServer> {
    servers_with(move |s| s.test_clock = Some(start)).await
}

/// A resident's report of a broken rain grate (C0103: 4 urgent hours to handle) in the
/// `nth` demo grid: its id and grid.
async fn report(server: &TestServer, nth: usize) -> (String, String) {
    let (lon, lat, grid) = demo_point(nth);
    let body = json!({"category": "C0103", "location": {"lon": lon, "lat": lat, "crs": "wgs84"}, "description": "雨水箅子破损"});
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    (opened["id"].as_str().unwrap().to_owned(), grid)
}

/// The case, once `done` holds for it (the timer looks every second); fails after 20 s.
async fn case_when(server: &TestServer, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, case) = server.get_as(token, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(status, 200, "{case}");
        if done(&case) {
            return case;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "timed out; history: {:?}", actions(&case));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The caller's supervision items for case `id`.
async fn supervised(server: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let (status, inbox) = server.get_as(token, "/api/v1/inbox?kinds=supervision").await.unwrap();
    assert_eq!(status, 200, "{inbox}");
    inbox["items"].as_array().unwrap().iter().filter(|i| i["incident"]["id"] == id).cloned().collect()
}

/// Accepts and dispatches case `id` to `grid`, and lets the grid's worker take the task: its id.
async fn dispatch_and_take(server: &TestServer, centre: &str, worker: &str, id: &str, grid: &str) -> String {
    ok("accept", act(server, centre, id, json!({"action": "accept"})).await);
    let case = ok("dispatch", act(server, centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
    let task = case["tasks"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tasks/{task}/actions");
    ok("accept_task", server.post_as(worker, &path, &json!({"kind": "accept_task"})).await.unwrap());
    task
}

#[tokio::test]
async fn a_late_case_turns_yellow_then_red_and_climbs_from_the_township_to_the_county() {
    for server in servers(monday_nine()).await {
        let (id, grid) = report(&server, 11).await;
        let township = &grid[..9];
        let centre = server.login("centre").await.unwrap();
        let town = server.login(&format!("township-{township}")).await.unwrap();
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();

        // A new report waits in the township's inbox, green: an hour to accept it.
        let (status, inbox) = server.get_as(&town, "/api/v1/inbox").await.unwrap();
        assert_eq!(status, 200, "{inbox}");
        let item = inbox["items"].as_array().unwrap().iter().find(|i| i["incident"]["id"] == id.as_str()).unwrap();
        assert_eq!((item["kind"].as_str(), item["light"].as_str()), (Some("new_report"), Some("green")), "{item}");
        assert!(item["due"].is_string());

        let task = dispatch_and_take(&server, &centre, &worker, &id, &grid).await;
        let mut phone = server.phone(&format!("worker-{grid}"), "phone-1").await.unwrap();
        phone.connect().await.unwrap();
        phone.until(Duration::from_secs(10), |s| s.tasks().any(|(t, _)| t == task)).await.unwrap();

        // 3 h 15 min of 4 urgent hours: past 80 %, yellow.
        server.advance_clock(3 * HOUR + 15 * MINUTE).await.unwrap();
        let case = case_when(&server, &centre, &id, |c| actions(c).contains(&"warned".to_owned())).await;
        assert!(!actions(&case).contains(&"overdue".to_owned()));
        assert_eq!(case["history"].as_array().unwrap().last().unwrap()["actor"]["role"], "system");
        assert!(supervised(&server, &town, &id).await.is_empty(), "yellow is not yet the township's supervision");

        // Past the limit: red, in the township's supervision queue; the worker keeps the task.
        server.advance_clock(50 * MINUTE).await.unwrap();
        let case = case_when(&server, &centre, &id, |c| actions(c).contains(&"overdue".to_owned())).await;
        let overdue = case["history"].as_array().unwrap().iter().find(|e| e["action"] == "overdue").unwrap().clone();
        assert_eq!((overdue["data"]["level"].as_i64(), overdue["data"]["unit"].as_str()), (Some(3), Some(township)));
        assert_eq!(case["tasks"][0]["status"], "accepted");
        assert_eq!(case["tasks"][0]["holder"], case["history"][3]["actor"]["id"], "the handler keeps the task");
        let items = supervised(&server, &town, &id).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!((items[0]["light"].as_str(), items[0]["supervision_level"].as_i64()), (Some("red"), Some(3)));
        assert_eq!(items[0]["task"], task.as_str());
        assert!(supervised(&server, &centre, &id).await.is_empty(), "not yet the county's");

        // The township flags it (督办): the holder's phone hears of it.
        refused(
            "a worker flags",
            act(&server, &worker, &id, json!({"action": "flag", "note": "快"})).await,
            403,
            "forbidden",
        );
        refused(
            "no note",
            act(&server, &town, &id, json!({"action": "flag", "note": " "})).await,
            422,
            "invalid-command",
        );
        ok("flag", act(&server, &town, &id, json!({"action": "flag", "note": "请今日内处置完毕"})).await);
        phone
            .until(Duration::from_secs(10), |s| {
                s.held.get("flag").is_some_and(|f| {
                    f.values().any(|d| d["note"] == "请今日内处置完毕" && d["incident_id"] == id.as_str())
                })
            })
            .await
            .unwrap();

        // Another full limit (4 h) later: the county's queue, no longer the township's.
        server.advance_clock(4 * HOUR).await.unwrap();
        let case = case_when(&server, &centre, &id, |c| actions(c).contains(&"supervision_raised".to_owned())).await;
        let raised =
            case["history"].as_array().unwrap().iter().find(|e| e["action"] == "supervision_raised").unwrap().clone();
        assert_eq!((raised["data"]["from"].as_i64(), raised["data"]["level"].as_i64()), (Some(3), Some(2)));
        assert!(supervised(&server, &town, &id).await.is_empty());
        let items = supervised(&server, &centre, &id).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0]["supervision_level"], 2);
        assert_eq!((count(&case, "warned"), count(&case, "overdue")), (1, 1), "each fired once: {:?}", actions(&case));

        // The county sends the work elsewhere (改派): the new task runs on a fresh limit.
        let (_, _, other) = demo_point(12);
        assert_ne!(other, grid);
        let body = json!({"action": "redispatch", "task": task, "to": {"grid": other}});
        let case = ok("redispatch by the county", act(&server, &centre, &id, body).await);
        assert_eq!(case["tasks"].as_array().unwrap().len(), 2);
        assert!(supervised(&server, &centre, &id).await.is_empty(), "the overdue task is gone");
        phone.disconnect().await;
    }
}

#[tokio::test]
async fn a_server_stopped_for_three_days_fires_each_deadline_once_when_it_starts_again() {
    for server in servers(monday_nine()).await {
        let (waiting, _) = report(&server, 21).await;
        let (handled, grid) = report(&server, 22).await;
        let centre = server.login("centre").await.unwrap();
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        dispatch_and_take(&server, &centre, &worker, &handled, &grid).await;
        let (_, _, clock) = server.get("/api/v1/test/clock").await.unwrap();
        let later = clock["now_ms"].as_i64().unwrap() + 72 * HOUR;

        // Stopped, and started again on the same database three simulated days later.
        let server = server.restart_with(move |s| s.test_clock = Some(later)).await.unwrap();
        let centre = server.login("centre").await.unwrap();
        let fired = |c: &Value| count(c, "overdue") == 1;
        case_when(&server, &centre, &waiting, fired).await;
        case_when(&server, &centre, &handled, fired).await;
        // More looks of the timer change nothing, and neither does another restart.
        server.settle(&["deadlines"]).await.unwrap();
        let (_, _, clock) = server.get("/api/v1/test/clock").await.unwrap();
        let now = clock["now_ms"].as_i64().unwrap();
        let server = server.restart_with(move |s| s.test_clock = Some(now)).await.unwrap();
        server.settle(&["deadlines"]).await.unwrap();
        let centre = server.login("centre").await.unwrap();
        for id in [&waiting, &handled] {
            let (_, case) = server.get_as(&centre, &format!("/api/v1/incidents/{id}")).await.unwrap();
            assert_eq!(count(&case, "warned"), 1, "{:?}", actions(&case));
            assert_eq!(count(&case, "overdue"), 1, "{:?}", actions(&case));
            assert_eq!(count(&case, "supervision_raised"), 0, "caught up in one step: {:?}", actions(&case));
            // Three days past a limit of hours: straight into the city's queue.
            let overdue =
                case["history"].as_array().unwrap().iter().find(|e| e["action"] == "overdue").unwrap().clone();
            assert_eq!(overdue["data"]["level"], 1, "{overdue}");
        }
        let city = server.login("city").await.unwrap();
        assert_eq!(supervised(&server, &city, &waiting).await.len(), 1);
        assert_eq!(supervised(&server, &city, &handled).await.len(), 1);
    }
}

#[tokio::test]
async fn bad_input_to_the_inbox_and_the_test_clock_is_refused_clearly() {
    let server =
        TestServer::spawn_with(Backend::Sqlite, |s| s.test_clock = Some(monday_nine())).await.unwrap().unwrap();
    let centre = server.login("centre").await.unwrap();
    for query in ["?limit=0", "?limit=501", "?limit=many", "?kinds=everything", "?colour=red"] {
        let (status, body) = server.get_as(&centre, &format!("/api/v1/inbox{query}")).await.unwrap();
        assert_eq!((status, body["type"].as_str()), (400, Some("bad-request")), "{query}: {body}");
    }
    let (status, _) = server.get_as("not-a-token", "/api/v1/inbox").await.unwrap();
    assert_eq!(status, 401);
    let (_, grid) = report(&server, 31).await;
    let worker = server.login(&format!("worker-{grid}")).await.unwrap();
    let (status, body) = server.get_as(&worker, "/api/v1/inbox").await.unwrap();
    assert_eq!((status, body["type"].as_str()), (403, Some("forbidden")), "{body}");

    for bad in [json!({"advance_ms": -5}), json!({"to": "yesterday"}), json!({}), json!({"to": "2026-01-01T00:00:00Z"})]
    {
        let (status, content_type, body) = server.post("/api/v1/test/clock", &bad).await.unwrap();
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(content_type.starts_with("application/problem+json"), "{content_type}");
    }

    // Without a test clock there is no clock to move.
    let real = TestServer::spawn().await.unwrap();
    let (status, _, body) = real.post("/api/v1/test/clock", &json!({"advance_ms": 1000})).await.unwrap();
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn cases_opened_before_deadlines_were_rows_get_their_rows_when_the_server_starts() {
    use diesel::connection::SimpleConnection;
    let start = monday_nine();
    let server = TestServer::spawn_with(Backend::Sqlite, move |s| s.test_clock = Some(start)).await.unwrap().unwrap();
    let (id, grid) = report(&server, 41).await;
    let town = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
    let due = |inbox: &Value| {
        let items = inbox["items"].as_array().unwrap();
        items.iter().find(|i| i["incident"]["id"] == id.as_str()).map(|i| i["due"].clone()).unwrap()
    };
    let (_, inbox) = server.get_as(&town, "/api/v1/inbox?kinds=new_report").await.unwrap();
    let before = due(&inbox);
    assert!(before.is_string(), "{inbox}");
    // As an older version left it: the case, and no rows for its limits.
    let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
    db.write(|c| c.batch_execute("DELETE FROM deadlines")).unwrap();
    let (_, inbox) = server.get_as(&town, "/api/v1/inbox?kinds=new_report").await.unwrap();
    assert!(due(&inbox).is_null(), "{inbox}");
    let server = server.restart_with(move |s| s.test_clock = Some(start)).await.unwrap();
    let town = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let (_, inbox) = server.get_as(&town, "/api/v1/inbox?kinds=new_report").await.unwrap();
        if due(&inbox) == before {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no rows written: {inbox}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_inbox_holds_every_queue_of_a_centre_most_urgent_first() {
    for server in servers(monday_nine()).await {
        let centre = server.login("centre").await.unwrap();
        let task_op = |token: String, task: String, body: Value| {
            let server = &server;
            async move { server.post_as(&token, &format!("/api/v1/tasks/{task}/actions"), &body).await.unwrap() }
        };
        // Two reports of the same broken grate at the same spot: a merge suggestion.
        let (first, _) = report(&server, 51).await;
        let (second, _) = report(&server, 51).await;
        // A task given back, one with a request for more time, one with a request to park.
        let mut tasks = Vec::new();
        for nth in [52, 53, 54] {
            let (id, grid) = report(&server, nth).await;
            let worker = server.login(&format!("worker-{grid}")).await.unwrap();
            tasks.push((id.clone(), worker.clone(), dispatch_and_take(&server, &centre, &worker, &id, &grid).await));
        }
        let [(returned, w1, t1), (extending, w2, t2), (parking, w3, t3)] = <[_; 3]>::try_from(tasks).unwrap();
        ok("return", task_op(w1, t1, json!({"kind": "return_task", "reason": "不属本网格"})).await);
        let more = json!({"kind": "request_extension", "until": "2026-03-03T17:30:00+08:00", "reason": "等配件"});
        ok("extension", task_op(w2, t2.clone(), more).await);
        ok("park", task_op(w3, t3.clone(), json!({"kind": "request_park", "reason": "待道路施工结束"})).await);

        // An hour and a bit later the reports are past their hour to be accepted.
        server.advance_clock(HOUR + 5 * MINUTE).await.unwrap();
        case_when(&server, &centre, &first, |c| count(c, "overdue") == 1).await;
        let (status, inbox) = server.get_as(&centre, "/api/v1/inbox").await.unwrap();
        assert_eq!(status, 200, "{inbox}");
        let items = inbox["items"].as_array().unwrap();
        let find = |kind: &str, id: &str| {
            items
                .iter()
                .find(|i| i["kind"] == kind && i["incident"]["id"] == id)
                .unwrap_or_else(|| panic!("no {kind} for {id}: {inbox}"))
        };
        assert_eq!(find("supervision", &first)["light"], "red");
        assert_eq!(find("supervision", &first)["supervision_level"], 2, "a report's hour answers to the county");
        assert_eq!(find("new_report", &second)["light"], "red");
        assert!(find("returned", &returned)["task"].is_string());
        let asked = find("extension_request", &extending);
        assert_eq!((asked["task"].as_str(), asked["request"]["reason"].as_str()), (Some(t2.as_str()), Some("等配件")));
        assert_eq!(find("park_request", &parking)["task"], t3.as_str());
        let merge = find("merge_suggestion", &second);
        assert_eq!(merge["duplicate_of"]["id"], first.as_str());
        assert_eq!(merge["distance_m"], 0.0);
        for kind in ["supervision", "new_report", "returned", "extension_request", "park_request", "merge_suggestion"] {
            assert!(inbox["counts"][kind].as_u64().unwrap() >= 1, "{kind}: {}", inbox["counts"]);
        }
        // Most urgent first: red, yellow, green; then the earlier due.
        let rank = |i: &Value| match i["light"].as_str() {
            Some("red") => 0,
            Some("yellow") => 1,
            _ => 2,
        };
        // RFC 3339 with its fraction trimmed ("…03.8Z") does not sort as text: pad it.
        let instant = |i: &Value| {
            let due = i["due"].as_str().unwrap_or("~").trim_end_matches('Z');
            match due.split_once('.') {
                Some((whole, fraction)) => format!("{whole}.{fraction:0<3}"),
                None if due != "~" => format!("{due}.000"),
                None => due.to_owned(),
            }
        };
        let keys: Vec<(i32, String)> = items.iter().map(|i| (rank(i), instant(i))).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
        // Narrowed to one kind, and to a few items.
        let (_, only) = server.get_as(&centre, "/api/v1/inbox?kinds=park_request&limit=1").await.unwrap();
        assert_eq!(only["items"].as_array().unwrap().len(), 1, "{only}");
        assert_eq!(only["items"][0]["kind"], "park_request");
    }
}

/// The handle deadline of a working-days case (C0104: 2 working days) dispatched on Friday
/// 2026-02-13 at 10:00, by a server on the given calendars file, if any.
async fn friday_deadline(calendars: Option<std::path::PathBuf>, backend: Backend) -> Option<String> {
    let friday = gridlink::clock::parse_rfc3339("2026-02-13T10:00:00+08:00").unwrap();
    let server = TestServer::spawn_with(backend, move |s| {
        s.test_clock = Some(friday);
        s.calendars = calendars;
    })
    .await
    .unwrap()?;
    let (lon, lat, grid) = demo_point(14);
    let body = json!({"category": "C0104", "location": {"lon": lon, "lat": lat}, "description": "井盖松动异响"});
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_str().unwrap();
    let centre = server.login("centre").await.unwrap();
    ok("accept", act(&server, &centre, id, json!({"action": "accept"})).await);
    let case = ok("dispatch", act(&server, &centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
    let handle = case["limits"].as_array().unwrap().iter().find(|l| l["step"] == "handle").cloned().unwrap();
    assert_eq!(handle["unit"], "working_days", "{handle}");
    assert_eq!(handle["due_at"], case["tasks"][0]["deadline"], "{case}");
    Some(handle["due_at"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_county_counts_by_its_own_calendar_from_the_configuration() {
    let (_, _, grid) = demo_point(14);
    let dir = std::env::temp_dir().join(format!("gridlink-calendars-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("calendars.toml");
    // The demo's county gave Tuesday 02-24 off as well (a local arrangement).
    let text = format!(
        "[[calendar]]\nname = \"local\"\nbase = \"national\"\ncounties = [\"{}\"]\ndays_off = [\"2026-02-24\"]\n",
        &grid[..6]
    );
    std::fs::write(&file, text).unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // Nationally (docs/domain.md): Sat 02-14 is worked, 02-15…23 are off: the close of Tuesday 02-24.
        let Some(national) = friday_deadline(None, backend).await else { continue };
        assert_eq!(
            gridlink::clock::parse_rfc3339(&national),
            gridlink::clock::parse_rfc3339("2026-02-24T17:30:00+08:00")
        );
        // By the county's own calendar: the close of Wednesday 02-25.
        let local = friday_deadline(Some(file.clone()), backend).await.unwrap();
        assert_eq!(gridlink::clock::parse_rfc3339(&local), gridlink::clock::parse_rfc3339("2026-02-25T17:30:00+08:00"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The limit row of `step` on a case, if it runs.
fn limit<'a>(case: &'a Value, step: &str) -> Option<&'a Value> {
    case["limits"].as_array().unwrap().iter().find(|l| l["step"] == step)
}

#[tokio::test]
async fn a_case_is_returned_redispatched_extended_reworked_and_closed_on_the_clock() {
    for server in servers(monday_nine()).await {
        let (id, grid) = report(&server, 60).await;
        let other = demo_point(61).2;
        assert_ne!(other, grid);
        let centre = server.login("centre").await.unwrap();
        let first = server.login(&format!("worker-{grid}")).await.unwrap();
        let second = server.login(&format!("worker-{other}")).await.unwrap();
        let op = |token: &str, task: &str, body: Value| {
            let (server, token, path) = (&server, token.to_owned(), format!("/api/v1/tasks/{task}/actions"));
            async move { server.post_as(&token, &path, &body).await.unwrap() }
        };

        // Sent to the first grid, which gives it back: it waits for the centre again.
        let t1 = dispatch_and_take(&server, &centre, &first, &id, &grid).await;
        server.advance_clock(20 * MINUTE).await.unwrap();
        let back = ok("return", op(&first, &t1, json!({"kind": "return_task", "reason": "不属本网格"})).await);
        assert_eq!(back["status"], "returned");
        assert!(limit(&back, "dispatch").is_some(), "the centre's dispatch limit runs: {back}");

        // Re-dispatched (改派) to the next grid: a fresh 4 urgent hours from now.
        let body = json!({"action": "redispatch", "task": t1, "to": {"grid": other}});
        let moved = ok("redispatch", act(&server, &centre, &id, body).await);
        let t2 = moved["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
        let sent_at = ms(&moved["history"].as_array().unwrap().last().unwrap()["at"]);
        let handle = limit(&moved, "handle").unwrap();
        assert_eq!((handle["task"].as_str(), ms(&handle["due_at"]) - sent_at), (Some(t2.as_str()), 4 * HOUR));
        ok("take", op(&second, &t2, json!({"kind": "accept_task"})).await);

        // More time asked and granted (延期): the deadline moves to the close of Tuesday.
        let until = "2026-03-03T17:30:00+08:00";
        ok("ask", op(&second, &t2, json!({"kind": "request_extension", "until": until, "reason": "等配件"})).await);
        let granted =
            ok("approve", act(&server, &centre, &id, json!({"action": "approve_extension", "task": t2})).await);
        let handle = limit(&granted, "handle").unwrap();
        assert_eq!(ms(&handle["due_at"]), gridlink::clock::parse_rfc3339(until).unwrap(), "{handle}");
        // Past the 4 hours first given, nothing fires: the limit is the granted one.
        server.advance_clock(6 * HOUR).await.unwrap();
        server.settle(&["deadlines"]).await.unwrap();
        let waited = case_when(&server, &centre, &id, |_| true).await;
        assert_eq!(count(&waited, "overdue"), 0, "{:?}", actions(&waited));
        assert_eq!(limit(&waited, "handle").unwrap()["light"], "green");

        // Done, checked at the desk and found wanting (返工): back to the same worker.
        let done = json!({"kind": "complete_task", "result": "已更换", "photos": []});
        ok("complete", op(&second, &t2, done.clone()).await);
        let failed = ok(
            "verify",
            act(&server, &centre, &id, json!({"action": "verify", "passed": false, "note": "仍松动"})).await,
        );
        assert_eq!(failed["status"], "dispatched");
        let lead = failed["tasks"].as_array().unwrap().iter().find(|t| t["id"] == t2.as_str()).unwrap();
        assert_eq!((lead["rework"].as_i64(), lead["status"].as_str()), (Some(1), Some("accepted")), "{lead}");
        assert!(limit(&failed, "handle").is_some(), "the rework runs on a limit: {failed}");

        // Done again, passed and closed: no limit runs any more.
        ok("complete again", op(&second, &t2, done).await);
        ok("verify", act(&server, &centre, &id, json!({"action": "verify", "passed": true, "note": "已修复"})).await);
        let closed = ok("close", act(&server, &centre, &id, json!({"action": "close"})).await);
        assert_eq!(closed["status"], "closed");
        assert!(closed["limits"].as_array().unwrap().is_empty(), "{closed}");
        let trace = actions(&closed);
        for step in ["task_returned", "redispatched", "extension_approved", "verification_failed", "closed"] {
            assert!(trace.iter().any(|a| a == step), "no {step} in {trace:?}");
        }
    }
}

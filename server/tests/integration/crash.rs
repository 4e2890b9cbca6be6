//! The crash test of the sync protocol: the real `gridlink` binary, killed with SIGKILL
//! at random moments (at least 20 times) while 50 phones (the reference client, state in
//! memory, so it outlives the server) report their own findings and take the tasks they
//! receive, and the centre files resident reports and dispatches them to the phones'
//! grids over HTTP. Each time, the server is started again on the same SQLite file and
//! port; the phones reconnect and send their outboxes again (and their last three
//! answered mutations, as a phone that died before storing the answers would). After
//! each restart, everything answered `ok` before the kill is in the database exactly
//! once. At the end: every mutation is answered, every finding answered `ok` is there
//! exactly once, nothing was applied twice (one `reported` event per case, one
//! `task_accepted` event per task), and every committed task reached its worker's phone.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use gridlink::store::Database;
use serde_json::{Value, json};
use sync_protocol::phone::{Phone, PhoneError};
use sync_protocol::{ClientMessage, Location, Op, OpKind, ServerMessage};

use crate::support::{Running, gridlink, remove_database};

/// How many phones (one per demo grid).
const PHONES: usize = 50;
/// How many times the server is killed.
const KILLS: usize = 22;
/// How long the phones have, once the last server is up and the centre has stopped, to
/// send what is left and take in every task.
const DRAIN: Duration = Duration::from_secs(40);

/// A random number below `n` (v4 UUIDs are random; the test needs no replayable sequence).
fn below(n: u64) -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) % n.max(1)
}

fn millis_between(low: u64, high: u64) -> Duration {
    Duration::from_millis(low + below(high - low))
}

/// `PHONES` distinct demo grids, each with a point well inside it (the centroid of a
/// grid that holds the 200 m square around it), spread over the county as
/// `mobile_api_tests::demo_point` does.
fn grids() -> Vec<(String, f64, f64)> {
    use geo::{Centroid, Contains, Rect};
    let layer = geodata::demo::layer().unwrap();
    let inside = |g: &geodata::Unit| {
        let c = g.geometry.centroid()?;
        let d = 0.001;
        g.geometry.contains(&Rect::new((c.x() - d, c.y() - d), (c.x() + d, c.y() + d))).then_some(c)
    };
    let full: Vec<(geo::Point<f64>, &geodata::Unit)> = layer.grids().filter_map(|g| Some((inside(g)?, g))).collect();
    assert!(full.len() >= PHONES * 2, "only {} grids hold a point well inside", full.len());
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for nth in 0..full.len() * 4 {
        let (c, grid) = full[(nth * 997) % full.len()];
        if seen.insert(grid.code.to_string()) {
            out.push((grid.code.to_string(), c.x(), c.y()));
        }
        if out.len() == PHONES {
            break;
        }
    }
    assert_eq!(out.len(), PHONES, "not enough distinct grids");
    out
}

/// Starts `gridlink serve --demo` on `port` and `database`, and waits until it listens
/// (trying again while the port is not free yet).
fn start(port: u16, database: &Path, log: &Path) -> Child {
    for _ in 0..50 {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut copy = log.try_clone().unwrap();
        let mut child = gridlink()
            .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}"), "--database"])
            .arg(format!("sqlite://{}", database.display()))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads stdout (the logs) to its end into the log file, so the server never
        // writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(copy, "{line}");
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(120)).is_ok() {
            return child;
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the server would not start on port {port}");
}

/// What the phones and the centre share.
struct Shared {
    /// The centre has stopped and the last server is up: send what is left, then stop.
    draining: AtomicBool,
    /// Tasks committed for each grid, as the centre learnt them.
    dispatched: Mutex<HashMap<String, BTreeSet<String>>>,
    /// When draining must end, whatever is left.
    deadline: Mutex<Option<Instant>>,
    /// Every mutation answered `ok`, in the order the answers came.
    answered_ok: Mutex<Vec<Applied>>,
}

/// What a mutation answered `ok` must have left in the database, exactly once.
#[derive(Debug, Clone)]
enum Applied {
    /// A finding: its case, with one `reported` event.
    Finding(String),
    /// An accept: one `task_accepted` event for the task.
    Accept(String),
}

/// A phone at the end, and what it did.
struct Outcome {
    grid: String,
    phone: Phone,
    /// (mutation id, case id) of each finding reported.
    reports: Vec<(String, String)>,
    /// Task id → mutation id of each accept sent.
    accepts: BTreeMap<String, String>,
    /// How many times it connected.
    connects: usize,
}

fn op(kind: OpKind) -> Op {
    Op { kind, occurred_at: None }
}

fn holds(phone: &Phone, task: &str) -> bool {
    phone.state.tasks().any(|(id, _)| id == task)
}

/// One worker's phone: reconnects whenever the server is gone, reports a finding now
/// and then, and accepts every open task it receives.
async fn run_phone(mut phone: Phone, grid: String, lon: f64, lat: f64, shared: Arc<Shared>) -> Outcome {
    let mut reports = Vec::new();
    let mut accepts = BTreeMap::new();
    let mut sent: HashMap<String, (Applied, Op)> = HashMap::new();
    // The last mutations answered `ok`, sent again after each reconnect as a phone that
    // died before storing their answers would: they must get the same answer.
    let mut recent: VecDeque<String> = VecDeque::new();
    let mut connects = 0;
    let mut next_report = Instant::now() + millis_between(0, 1000);
    loop {
        let draining = shared.draining.load(Ordering::SeqCst);
        if draining {
            let expected = shared.dispatched.lock().unwrap().get(&grid).cloned().unwrap_or_default();
            let done = phone.is_connected()
                && phone.state.outbox.is_empty()
                && expected.iter().all(|t| holds(&phone, t) && accepts.contains_key(t));
            let late = shared.deadline.lock().unwrap().is_some_and(|d| Instant::now() > d);
            if done || late {
                break;
            }
        }
        if !phone.is_connected() {
            match tokio::time::timeout(Duration::from_secs(5), phone.connect()).await {
                Ok(Ok(_)) => {
                    connects += 1;
                    for id in &recent {
                        let op = sent[id].1.clone();
                        if phone.send(&ClientMessage::Mutate { id: id.clone(), op }).await.is_err() {
                            phone.drop_connection();
                        }
                    }
                }
                _ => {
                    phone.drop_connection();
                    tokio::time::sleep(millis_between(100, 300)).await;
                    continue;
                }
            }
        }
        if !draining && Instant::now() >= next_report {
            next_report = Instant::now() + millis_between(300, 1300);
            let mutation = uuid::Uuid::new_v4().to_string();
            let case = uuid::Uuid::new_v4().to_string();
            reports.push((mutation.clone(), case.clone()));
            let finding = op(OpKind::ReportIncident {
                incident_id: case.clone(),
                category: "C0101".into(),
                location: Location { lon, lat, crs: Some("wgs84".into()) },
                description: "巡查发现井盖缺失".into(),
                photos: vec![],
                severity: None,
                handled: None,
            });
            sent.insert(mutation.clone(), (Applied::Finding(case), finding.clone()));
            if phone.mutate(mutation, finding).await.is_err() {
                phone.drop_connection();
                continue;
            }
        }
        let open: Vec<String> = phone
            .state
            .tasks()
            .filter(|(id, t)| t["status"] == "open" && !accepts.contains_key(*id))
            .map(|(id, _)| id.to_owned())
            .collect();
        for task in open {
            let mutation = format!("accept-{task}");
            accepts.insert(task.clone(), mutation.clone());
            let accept = op(OpKind::AcceptTask { task_id: task.clone() });
            sent.insert(mutation.clone(), (Applied::Accept(task), accept.clone()));
            if phone.mutate(mutation, accept).await.is_err() {
                phone.drop_connection();
            }
        }
        if !phone.is_connected() {
            continue;
        }
        match phone.recv(Duration::from_millis(100)).await {
            Ok(ServerMessage::MutationResult { id, ok: true, retry: false, .. }) => {
                if let Some((applied, _)) = sent.get(&id) {
                    shared.answered_ok.lock().unwrap().push(applied.clone());
                    if !recent.contains(&id) {
                        recent.push_back(id);
                        if recent.len() > 3 {
                            recent.pop_front();
                        }
                    }
                }
            }
            Ok(_) | Err(PhoneError::Timeout) => {}
            Err(_) => phone.drop_connection(),
        }
    }
    Outcome { grid, phone, reports, accepts, connects }
}

/// Sends a request until the server answers (it may be dead, or being born); the
/// status, the body and whether an attempt was lost on the way (so that it may have
/// been applied already).
async fn answered(make: impl Fn() -> reqwest::RequestBuilder) -> (u16, Value, bool) {
    let mut lost = false;
    loop {
        match make().timeout(Duration::from_secs(10)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => return (status, serde_json::from_str(&text).unwrap_or(Value::Null), lost),
                    Err(_) => lost = true,
                }
            }
            Err(_) => lost = true,
        }
        tokio::time::sleep(millis_between(100, 300)).await;
    }
}

/// The centre: files a resident's report in a random phone's grid, accepts it and
/// dispatches it to the grid, over and over, until told to stop; the tasks whose
/// dispatch was answered 200, with their grids.
async fn run_centre(
    base: String,
    grids: Vec<(String, f64, f64)>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
) -> Vec<(String, String)> {
    let http = reqwest::Client::new();
    let login = json!({"login": "centre", "password": "demo"});
    let (status, body, _) = answered(|| http.post(format!("{base}/api/v1/auth/login")).json(&login)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let mut confirmed = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let (grid, lon, lat) = grids[usize::try_from(below(grids.len() as u64)).unwrap()].clone();
        let report = json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"});
        let key = uuid::Uuid::new_v4().to_string();
        let (status, opened, _) = answered(|| {
            // Filed by the centre for a caller, as the hotline's desk does: a hundred
            // anonymous reports from one address would meet the per-address limit.
            http.post(format!("{base}/api/v1/reports"))
                .bearer_auth(&token)
                .header("idempotency-key", key.as_str())
                .json(&report)
        })
        .await;
        assert!(status == 201 || status == 200, "report: {status} {opened}");
        let id = opened["id"].as_str().unwrap().to_owned();
        let path = format!("{base}/api/v1/incidents/{id}/actions");
        let (status, body, lost) =
            answered(|| http.post(&path).bearer_auth(&token).json(&json!({"action": "accept"}))).await;
        assert!(status == 200 || lost, "accept: {status} {body}");
        let to = json!({"action": "dispatch", "to": {"grid": grid}});
        let (status, case, lost) = answered(|| http.post(&path).bearer_auth(&token).json(&to)).await;
        let case = if status == 200 {
            let task = case["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
            confirmed.push((task, grid.clone()));
            case
        } else {
            assert!(lost, "dispatch: {status} {case}");
            // The first attempt may have committed: the case says.
            let (status, case, _) =
                answered(|| http.get(format!("{base}/api/v1/incidents/{id}")).bearer_auth(&token)).await;
            assert_eq!(status, 200, "{case}");
            case
        };
        let mut dispatched = shared.dispatched.lock().unwrap();
        for task in case["tasks"].as_array().into_iter().flatten() {
            dispatched.entry(grid.clone()).or_default().insert(task["id"].as_str().unwrap().to_owned());
        }
    }
    confirmed
}

#[derive(diesel::QueryableByName)]
struct EventRow {
    #[diesel(sql_type = Text)]
    incident_id: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    data: String,
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    other: String,
}

/// What the database holds: events counted by case (`reported`) and by task
/// (`task_accepted`), the cases (id, source) and the tasks (id, target).
struct Stored {
    reported: HashMap<String, usize>,
    accepted: HashMap<String, usize>,
    cases: Vec<IdRow>,
    tasks: Vec<IdRow>,
    /// Each task's case, as (case id, task id).
    task_cases: Vec<IdRow>,
}

fn stored(database: &Path) -> Stored {
    let db = Database::open(&format!("sqlite://{}", database.display()), 1).unwrap();
    let events: Vec<EventRow> =
        db.read(|c| diesel::sql_query("SELECT incident_id, action, data FROM events").load(c)).unwrap();
    let cases = db.read(|c| diesel::sql_query("SELECT id, source AS other FROM incidents").load(c)).unwrap();
    let tasks = db.read(|c| diesel::sql_query("SELECT id, target AS other FROM tasks").load(c)).unwrap();
    let task_cases =
        db.read(|c| diesel::sql_query("SELECT incident_id AS id, id AS other FROM tasks").load(c)).unwrap();
    let mut reported: HashMap<String, usize> = HashMap::new();
    let mut accepted: HashMap<String, usize> = HashMap::new();
    for event in &events {
        match event.action.as_str() {
            "reported" => *reported.entry(event.incident_id.clone()).or_default() += 1,
            "task_accepted" => {
                let data: Value = serde_json::from_str(&event.data).unwrap();
                *accepted.entry(data["task"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
            _ => {}
        }
    }
    Stored { reported, accepted, cases, tasks, task_cases }
}

/// Whatever was answered `ok` and is not in the database exactly once.
fn missing_or_doubled(stored: &Stored, applied: &[Applied]) -> Vec<String> {
    let mut problems = Vec::new();
    for applied in applied {
        let n = match applied {
            Applied::Finding(case) => stored.reported.get(case),
            Applied::Accept(task) => stored.accepted.get(task),
        };
        if n != Some(&1) {
            problems.push(format!("{applied:?} answered ok, found {n:?} times"));
        }
    }
    for (case, n) in &stored.reported {
        if *n != 1 {
            problems.push(format!("case {case} reported {n} times"));
        }
    }
    for (task, n) in &stored.accepted {
        if *n != 1 {
            problems.push(format!("task {task} accepted {n} times"));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_servers_lose_nothing_and_apply_nothing_twice() {
    let database: PathBuf = std::env::temp_dir().join(format!("gridlink-crash-{}.db", uuid::Uuid::new_v4().simple()));
    let log = database.with_extension("log");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let ws = format!("ws://127.0.0.1:{port}/api/v1/sync");
    let (db_path, log_path) = (database.clone(), log.clone());
    let mut child = Running(tokio::task::spawn_blocking(move || start(port, &db_path, &log_path)).await.unwrap());

    // The phones, logged in while the server is calm.
    let grids = grids();
    let http = reqwest::Client::new();
    // One after another: the server checks only so many passwords at once (503 `busy` past that).
    let mut logins = Vec::new();
    for (grid, _, _) in &grids {
        let body = json!({"login": format!("worker-{grid}"), "password": "demo"});
        let request = http.post(format!("{base}/api/v1/auth/login")).json(&body);
        let answer = request.send().await.unwrap().json::<Value>().await.unwrap();
        logins.push(async move { Ok::<_, std::convert::Infallible>(answer) });
    }
    let shared = Arc::new(Shared {
        draining: AtomicBool::new(false),
        dispatched: Mutex::new(HashMap::new()),
        deadline: Mutex::new(None),
        answered_ok: Mutex::new(Vec::new()),
    });
    let mut phones = Vec::new();
    for ((grid, lon, lat), login) in grids.iter().cloned().zip(logins) {
        let token = login.await.unwrap()["token"].as_str().unwrap().to_owned();
        let phone = Phone::new(ws.clone(), token, format!("phone-{grid}"));
        phones.push(tokio::spawn(run_phone(phone, grid, lon, lat, shared.clone())));
    }
    let stop_centre = Arc::new(AtomicBool::new(false));
    let centre = tokio::spawn(run_centre(base.clone(), grids.clone(), stop_centre.clone(), shared.clone()));

    // The killer.
    let mut kills = 0;
    while kills < KILLS {
        tokio::time::sleep(millis_between(500, 2000)).await;
        child.0.kill().unwrap();
        // What was answered before the kill must survive it.
        let before = shared.answered_ok.lock().unwrap().clone();
        child.0.wait().unwrap();
        kills += 1;
        let (db_path, log_path) = (database.clone(), log.clone());
        child = Running(tokio::task::spawn_blocking(move || start(port, &db_path, &log_path)).await.unwrap());
        let db_path = database.clone();
        let problems =
            tokio::task::spawn_blocking(move || missing_or_doubled(&stored(&db_path), &before)).await.unwrap();
        assert!(problems.is_empty(), "after restart {kills} ({}): {}", database.display(), problems.join("\n"));
    }

    // The last server stays up: the centre gets one more dispatch through it, then stops,
    // and the phones drain.
    let tasks = |shared: &Shared| shared.dispatched.lock().unwrap().values().map(BTreeSet::len).sum::<usize>();
    let (before, waited) = (tasks(&shared), Instant::now());
    while tasks(&shared) == before {
        assert!(waited.elapsed() < DRAIN, "the centre dispatched nothing through the last server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_centre.store(true, Ordering::SeqCst);
    let confirmed = centre.await.unwrap();
    *shared.deadline.lock().unwrap() = Some(Instant::now() + DRAIN);
    shared.draining.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for phone in phones {
        outcomes.push(phone.await.unwrap());
    }

    // What the database holds.
    let db_path = database.clone();
    let db = tokio::task::spawn_blocking(move || stored(&db_path)).await.unwrap();
    drop(child);
    let (cases, tasks) = (&db.cases, &db.tasks);
    let mut problems = missing_or_doubled(&db, &shared.answered_ok.lock().unwrap());
    let worker_cases: BTreeSet<&str> = cases.iter().filter(|c| c.other == "worker").map(|c| c.id.as_str()).collect();
    let mut findings = 0;
    let mut accepts = 0;
    for outcome in &outcomes {
        let phone = &outcome.phone;
        if !phone.state.outbox.is_empty() {
            problems.push(format!("{}: {} mutations never answered", outcome.grid, phone.state.outbox.len()));
        }
        for (mutation, case) in &outcome.reports {
            let Some(answer) = phone.state.answers.get(mutation) else { continue };
            findings += 1;
            if !answer.ok {
                problems.push(format!("finding {case} answered {:?}", answer.code));
            } else if !worker_cases.contains(case.as_str()) {
                problems.push(format!("finding {case} answered ok is no worker's case"));
            }
        }
        for (task, mutation) in &outcome.accepts {
            let Some(answer) = phone.state.answers.get(mutation) else { continue };
            accepts += 1;
            if !answer.ok {
                problems.push(format!("accepting {task} answered {:?}", answer.code));
            } else if db.accepted.get(task) != Some(&1) {
                problems.push(format!("task {task} accepted ok: {:?} task_accepted events", db.accepted.get(task)));
            }
        }
    }
    let sent: BTreeSet<&str> = outcomes.iter().flat_map(|o| o.reports.iter().map(|(_, c)| c.as_str())).collect();
    for case in worker_cases.difference(&sent) {
        problems.push(format!("a worker's case {case} that no phone reported"));
    }
    // A worker's finding is dispatched by the rules once, whatever the kills: nobody is on
    // the demo's rosters, so to its community, not to a phone of this test.
    let case_of = |task: &str| db.task_cases.iter().find(|t| t.other == task).map(|t| t.id.as_str());
    for case in &worker_cases {
        let routed: Vec<&IdRow> = tasks.iter().filter(|t| case_of(&t.id) == Some(*case)).collect();
        if routed.len() != 1 || !routed[0].other.contains("\"unit\"") {
            let targets: Vec<&str> = routed.iter().map(|t| t.other.as_str()).collect();
            problems.push(format!("finding {case} was routed to {targets:?}, not once to its community"));
        }
    }
    // Every task the centre committed reached its worker's phone (and was taken by it).
    for task in tasks.iter().filter(|t| case_of(&t.id).is_none_or(|c| !worker_cases.contains(c))) {
        let Some(outcome) = outcomes.iter().find(|o| task.other.contains(o.grid.as_str())) else {
            problems.push(format!("task {} for no phone's grid: {}", task.id, task.other));
            continue;
        };
        if !holds(&outcome.phone, &task.id) {
            problems.push(format!("task {} never reached the phone of {}", task.id, outcome.grid));
        }
    }
    for (task, _) in &confirmed {
        if !tasks.iter().any(|t| t.id == *task) {
            problems.push(format!("dispatch answered 200 but task {task} is not stored"));
        }
    }
    let connects: usize = outcomes.iter().map(|o| o.connects).sum();
    assert!(kills >= 20);
    assert!(connects >= PHONES * KILLS / 2, "the phones were not there for the kills: {connects} connections");
    assert!(
        findings > 100 && accepts > 100 && confirmed.len() > 100,
        "too little happened: {findings} findings, {accepts} accepts, {} dispatches",
        confirmed.len()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s) (database {}, server log {}):\n{}",
        problems.len(),
        database.display(),
        log.display(),
        problems.join("\n")
    );
    remove_database(&database);
    let _ = std::fs::remove_file(&log);
}

/// SIGTERM: every phone is told to go (1001) at once, not left to time out, and the
/// server exits cleanly within seconds rather than actix's 30.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_phones_to_go_and_stops_within_seconds() {
    let database: PathBuf = std::env::temp_dir().join(format!("gridlink-term-{}.db", uuid::Uuid::new_v4().simple()));
    let log = database.with_extension("log");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (db_path, log_path) = (database.clone(), log.clone());
    let mut child = Running(tokio::task::spawn_blocking(move || start(port, &db_path, &log_path)).await.unwrap());
    let grid = &grids()[0].0;
    let body = json!({"login": format!("worker-{grid}"), "password": "demo"});
    let login: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut phone = Phone::new(format!("ws://127.0.0.1:{port}/api/v1/sync"), login["token"].as_str().unwrap(), "phone");
    phone.connect().await.unwrap();
    while !matches!(phone.recv(Duration::from_secs(10)).await.unwrap(), ServerMessage::SnapshotEnd { .. }) {}

    let asked = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    loop {
        match phone.recv(Duration::from_secs(4)).await {
            Ok(_) => {}
            Err(PhoneError::Closed(frame)) => {
                assert_eq!(frame.map(|(code, _)| code), Some(1001), "told to go");
                break;
            }
            Err(e) => panic!("the phone was not told to go: {e}"),
        }
    }
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let status = status.expect("the server did not stop within 15 s of SIGTERM");
    assert!(status.success(), "{status}");
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(15), "{took:?}");
    remove_database(&database);
}

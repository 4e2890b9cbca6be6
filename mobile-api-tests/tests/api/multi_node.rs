//! Several nodes on one PostgreSQL and one NATS (`gridlink serve --nats`), as real
//! processes: phones spread over three nodes get tasks dispatched on the others within
//! moments; a node killed with SIGKILL mid-run loses nothing (its phones reconnect to
//! another node and resume from their cursors; no change reaches a phone twice; every
//! deadline fires once); and a node cut off from NATS still serves its phones by reading
//! the change log, and says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use mobile_api_tests::{METRICS_TOKEN, OwnPostgres, demo_point, follow_log, gridlink_binary};
use serde_json::{Value, json};
use sync_protocol::phone::Phone;
use sync_protocol::{ClientMessage, ServerMessage};

/// NATS here and in CI.
const NATS: &str = "nats://127.0.0.1:4222";

/// The test clock's start: a Monday morning in Beijing.
const CLOCK: &str = "2026-03-02T09:00:00+08:00";

/// Whether NATS answers; under CI it must.
fn nats_is_up() -> bool {
    let up = std::net::TcpStream::connect_timeout(&"127.0.0.1:4222".parse().unwrap(), Duration::from_secs(1)).is_ok();
    if !up {
        assert!(std::env::var("CI").is_err(), "NATS is required under CI on {NATS}");
        eprintln!("skipping: no NATS on {NATS}");
    }
    up
}

/// One `gridlink serve` process on the shared database, killed when dropped.
struct Node {
    name: &'static str,
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log.lock().unwrap();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- node {} logged, last lines first:\n{}", self.name, tail.join("\n"));
        }
    }
}

impl Node {
    /// Starts a node on `db` with NATS at `nats`; returns once it listens. It looks for a
    /// new grid layer only every ten minutes unless told (so that a test sees the telling).
    fn start(name: &'static str, db: &OwnPostgres, nats: &str) -> Node {
        let config = std::env::temp_dir().join(format!("gridlink-nodes-{}.toml", std::process::id()));
        std::fs::write(&config, "grids_poll_ms = 600000\n").unwrap();
        let mut child = Command::new(gridlink_binary().unwrap())
            .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--metrics-token", METRICS_TOKEN])
            .arg("--config")
            .arg(&config)
            .args(["--database", &db.url, "--nats", nats, "--test-clock", CLOCK])
            .arg("--seal-keys")
            .arg(&db.keys)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (log, base) = follow_log(&mut child, Duration::from_secs(180));
        let base = base.unwrap_or_else(|| panic!("node {name} did not start: {}", log.lock().unwrap()));
        Node { name, child, base, log }
    }

    /// How many times the node has taken a newly stored grid layer in.
    fn layers_taken(&self) -> usize {
        self.log.lock().unwrap().matches("a newly stored grid layer is now in use").count()
    }

    fn ws(&self) -> String {
        format!("{}/api/v1/sync", self.base.replacen("http://", "ws://", 1))
    }

    /// Kills the process at once (SIGKILL): no goodbye to phones, NATS or the database.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// An HTTP client for the nodes.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn post(client: &reqwest::Client, base: &str, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut request = client.post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, base: &str, path: &str) -> Value {
    client.get(format!("{base}{path}")).send().await.unwrap().json().await.unwrap()
}

async fn login(client: &reqwest::Client, base: &str, login: &str, device: &str) -> String {
    let body = json!({"login": login, "password": "demo", "device_id": device});
    let (status, session) = post(client, base, None, "/api/v1/auth/login", body).await;
    assert_eq!(status, 200, "login {login}: {session}");
    session["token"].as_str().unwrap().to_owned()
}

/// The value of the metric line starting with `name` on a node's `/metrics` (0 if none).
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let request = client.get(format!("{base}/metrics")).bearer_auth(METRICS_TOKEN);
    let text = request.send().await.unwrap().text().await.unwrap();
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

/// Waits until the node says it is connected to NATS (or not, as `connected` says).
async fn until_linked(client: &reqwest::Client, node: &Node, connected: bool) -> Value {
    let started = Instant::now();
    loop {
        let health = get(client, &node.base, "/healthz").await;
        if health["nats"]["connected"] == connected {
            return health;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "node {}: {health}", node.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reports a case in `grid` (at `lon`, `lat`) on the node at `base`, accepts it and
/// dispatches it to the grid as `centre`: the new task's id, and when the dispatch was sent.
async fn dispatch(
    client: &reqwest::Client,
    base: &str,
    centre: &str,
    (lon, lat, grid): &(f64, f64, String),
) -> (String, Instant) {
    let report = json!({"category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "井盖缺失"});
    let (status, opened) = post(client, base, None, "/api/v1/reports", report).await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{id}/actions");
    let (status, body) = post(client, base, Some(centre), &path, json!({"action": "accept"})).await;
    assert_eq!(status, 200, "accept: {body}");
    let sent = Instant::now();
    let (status, case) =
        post(client, base, Some(centre), &path, json!({"action": "dispatch", "to": {"grid": grid}})).await;
    assert_eq!(status, 200, "dispatch: {case}");
    (case["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned(), sent)
}

/// What a phone saw.
#[derive(Debug, Default)]
struct Seen {
    /// Each task, with when it first arrived.
    tasks: HashMap<String, Instant>,
    /// Every change's number, in the order received.
    seqs: Vec<i64>,
    /// How many times it connected, and the nodes it connected to.
    nodes: Vec<usize>,
    /// Snapshots begun after the first connection (a phone that resumes gets none).
    resets_after_first: usize,
}

/// A running phone: the node it started on, what it saw, and its task.
type Running = (usize, Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>);

/// Pairs of a case's id and a text (a limit's key, an event's data).
type ByCase = Vec<(String, String)>;

/// The nodes' socket URLs, `None` once a node is dead.
type Alive = Arc<Mutex<Vec<Option<String>>>>;

/// Runs one phone until `stop`: takes in what comes, pings, and when its node goes away
/// reconnects to the next live one with the cursor it holds.
async fn run_phone(mut phone: Phone, alive: Alive, mut at: usize, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let mut last_ping = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if !phone.is_connected() {
            let url = {
                let alive = alive.lock().unwrap();
                let count = alive.len();
                (0..count).map(|i| (at + i) % count).find_map(|i| alive[i].clone().map(|u| (i, u)))
            };
            let Some((node, url)) = url else { return };
            at = node;
            phone.set_url(url);
            if phone.connect().await.is_ok() {
                seen.lock().unwrap().nodes.push(node);
            } else {
                at += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        }
        if last_ping.elapsed() > Duration::from_secs(5) {
            last_ping = Instant::now();
            let _ = phone.send(&ClientMessage::Ping { nonce: None }).await;
        }
        match phone.recv(Duration::from_millis(200)).await {
            Ok(ServerMessage::Changes { items, .. }) => {
                let mut seen = seen.lock().unwrap();
                for item in items {
                    seen.seqs.push(item.seq);
                    if item.kind == "task" && !item.removed {
                        seen.tasks.entry(item.id).or_insert_with(Instant::now);
                    }
                }
            }
            Ok(ServerMessage::Reset) => {
                let mut seen = seen.lock().unwrap();
                if seen.nodes.len() > 1 {
                    seen.resets_after_first += 1;
                }
            }
            Ok(_) | Err(sync_protocol::phone::PhoneError::Timeout) => {}
            Err(_) => phone.drop_connection(),
        }
    }
    phone.disconnect().await;
}

/// Twelve workers' grids, each a different one.
fn grids(count: usize) -> Vec<(f64, f64, String)> {
    let mut found: Vec<(f64, f64, String)> = Vec::new();
    for nth in 0.. {
        let point = demo_point(nth);
        if !found.iter().any(|(_, _, g)| *g == point.2) {
            found.push(point);
        }
        if found.len() == count {
            break;
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_the_work_and_one_killed_loses_nothing() {
    if !nats_is_up() {
        return;
    }
    let Some(db) = OwnPostgres::create().unwrap() else { return };
    let client = client();
    // One after the other: the first migrates and makes the demo's accounts.
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let node = tokio::task::block_in_place(|| Node::start(name, &db, NATS));
        until_linked(&client, &node, true).await;
        nodes.push(node);
    }
    let alive: Alive = Arc::new(Mutex::new(nodes.iter().map(|n| Some(n.ws())).collect()));

    // Twelve workers, four phones on each node.
    let grids = grids(12);
    let stop = Arc::new(AtomicBool::new(false));
    let mut phones: Vec<Running> = Vec::new();
    for (i, (_, _, grid)) in grids.iter().enumerate() {
        let node = i % 3;
        let device = format!("phone-{i}");
        let token = login(&client, &nodes[node].base, &format!("worker-{grid}"), &device).await;
        let phone = Phone::new(nodes[node].ws(), token, device);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(run_phone(phone, alive.clone(), node, seen.clone(), stop.clone()));
        phones.push((node, seen, task));
    }
    // Every phone has had its first snapshot.
    let started = Instant::now();
    while phones.iter().any(|(_, seen, _)| seen.lock().unwrap().nodes.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(30), "phones did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let centre_a = login(&client, &nodes[0].base, "centre", "desk-a").await;
    let centre_c = login(&client, &nodes[2].base, "centre", "desk-c").await;
    // Everything dispatched: task id → the phone it is for.
    let mut owed: BTreeMap<String, usize> = BTreeMap::new();

    // 1. All up: twelve tasks dispatched on node a reach the phones on b and c (and a) over
    //    NATS, not by reading the log.
    let reads_before: Vec<f64> = {
        let mut reads = Vec::new();
        for node in &nodes {
            reads.push(metric(&client, &node.base, "gridlink_nats_log_reads_total").await);
        }
        reads
    };
    let from_memory = "gridlink_sync_pages_total{from=\"memory\"}";
    let memory_before = metric(&client, &nodes[1].base, from_memory).await;
    let mut sent_at = BTreeMap::new();
    for (i, grid) in grids.iter().enumerate() {
        let (task, sent) = dispatch(&client, &nodes[0].base, &centre_a, grid).await;
        sent_at.insert(task.clone(), sent);
        owed.insert(task, i);
    }
    let delivered = wait_for(&phones, &owed).await;
    let mut latencies: Vec<Duration> = owed
        .iter()
        .filter(|(_, phone)| phones[**phone].0 != 0)
        .map(|(task, phone)| delivered[phone][task].saturating_duration_since(sent_at[task]))
        .collect();
    latencies.sort();
    let slowest = *latencies.last().unwrap();
    eprintln!(
        "dispatch sent to node a → task on a phone on node b or c: median {:?}, slowest {slowest:?}",
        latencies[latencies.len() / 2]
    );
    assert!(slowest < Duration::from_secs(1), "a task took {slowest:?} to reach a phone on another node");
    for (node, before) in nodes.iter().zip(&reads_before) {
        let after = metric(&client, &node.base, "gridlink_nats_log_reads_total").await;
        assert_eq!(after, *before, "node {} read the log instead of hearing NATS", node.name);
    }
    let heard = metric(&client, &nodes[1].base, "gridlink_nats_messages_total{direction=\"in\",kind=\"log\"}").await;
    assert!(heard >= 12.0, "node b heard {heard} commits over NATS");
    // The commits' rows came with the news: node b's sessions sent them from its hub's
    // memory (without the rows every one of them would have read the log).
    let memory_after = metric(&client, &nodes[1].base, from_memory).await;
    assert!(memory_after > memory_before, "node b's sessions read a's commits from the log only");

    // 2. Twenty-four more, dispatched on a and c in turn; node b is killed after the eighth.
    for round in 0..24 {
        if round == 8 {
            alive.lock().unwrap()[1] = None;
            nodes[1].kill();
        }
        let i = round % grids.len();
        let (base, centre) = if round % 2 == 0 { (&nodes[0].base, &centre_a) } else { (&nodes[2].base, &centre_c) };
        let (task, _) = dispatch(&client, base, centre, &grids[i]).await;
        owed.insert(task, i);
    }
    let delivered = wait_for(&phones, &owed).await;

    // Nothing lost, nothing twice; b's phones moved and resumed from their cursors.
    for (i, (home, seen, _)) in phones.iter().enumerate() {
        let seen = seen.lock().unwrap();
        let mine: BTreeSet<&String> = owed.iter().filter(|(_, p)| **p == i).map(|(t, _)| t).collect();
        let got: BTreeSet<&String> = delivered[&i].keys().collect();
        assert_eq!(got, mine, "phone {i} has exactly its tasks");
        let distinct: BTreeSet<i64> = seen.seqs.iter().copied().collect();
        assert_eq!(distinct.len(), seen.seqs.len(), "phone {i} got a change twice: {:?}", seen.seqs);
        if *home == 1 {
            assert!(seen.nodes.len() >= 2 && seen.nodes[1..].iter().all(|n| *n != 1), "phone {i}: {:?}", seen.nodes);
            assert_eq!(seen.resets_after_first, 0, "phone {i} resumed from its cursor, with no new snapshot");
        }
    }

    // 3. Every deadline fires once, whichever of the two nodes left claims it: both clocks
    //    move ten days on, past every limit of these cases.
    for node in [&nodes[0], &nodes[2]] {
        let (status, body) =
            post(&client, &node.base, None, "/api/v1/test/clock", json!({"advance_ms": 10 * 86_400_000_i64})).await;
        assert_eq!(status, 200, "{body}");
    }
    let store = gridlink::store::Database::open(&db.url, 1).unwrap();
    let started = Instant::now();
    loop {
        use gridlink::deadlines::schema::deadlines;
        let waiting: i64 = store
            .read(|c| {
                deadlines::table
                    .filter(deadlines::overdue.eq(false))
                    .filter(deadlines::parked.eq(false))
                    .count()
                    .get_result(c)
            })
            .unwrap();
        if waiting == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{waiting} limit(s) never went overdue");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    {
        use gridlink::deadlines::schema::deadlines;
        use gridlink::incidents::schema::events;
        let (limits, fired): (ByCase, ByCase) = store
            .read(|c| {
                let limits = deadlines::table.select((deadlines::incident_id, deadlines::deadline)).load(c)?;
                let fired = events::table
                    .filter(events::action.eq("overdue"))
                    .select((events::incident_id, events::data))
                    .load(c)?;
                Ok((limits, fired))
            })
            .unwrap();
        let mut times: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (incident, data) in fired {
            let data: Value = serde_json::from_str(&data).unwrap();
            let key = data["deadline"].as_str().or(data["step"].as_str()).unwrap_or_default().to_owned();
            *times.entry((incident, key)).or_default() += 1;
        }
        assert!(limits.len() >= owed.len(), "{} limits for {} tasks", limits.len(), owed.len());
        assert!(times.values().all(|n| *n == 1), "a limit fired more than once: {times:?}");
        assert_eq!(times.len(), limits.len(), "every limit fired: {times:?} for {limits:?}");
    }

    // 4. A session ended on one node closes its socket on another at once (the sweep
    //    alone would take up to five seconds).
    let worker = format!("worker-{}", grids[0].2);
    let token = login(&client, &nodes[2].base, &worker, "phone-extra").await;
    let mut extra = Phone::new(nodes[2].ws(), token.clone(), "phone-extra");
    extra.connect().await.unwrap();
    let sent = Instant::now();
    let (status, body) = post(&client, &nodes[0].base, Some(&token), "/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, 204, "{body}");
    let closed = loop {
        match extra.recv(Duration::from_secs(10)).await {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    let took = sent.elapsed();
    eprintln!("logged out on node a → socket on node c closed after {took:?} ({closed})");
    assert!(took < Duration::from_secs(2), "took {took:?}: {closed}");

    // 5. A layer stored by `gridlink grids import --nats` is taken in by every node at
    //    once (they would look only in ten minutes).
    let file = std::env::temp_dir().join(format!("gridlink-nodes-{}.geojson", std::process::id()));
    let run = |args: Vec<String>| {
        let out = Command::new(gridlink_binary().unwrap()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let (path, url) = (file.display().to_string(), db.url.clone());
    let taken: Vec<usize> = [&nodes[0], &nodes[2]].iter().map(|n| n.layers_taken()).collect();
    tokio::task::block_in_place(|| {
        run(vec!["grids".into(), "export".into(), "--out".into(), path.clone(), "--database".into(), url.clone()]);
        run(vec!["grids".into(), "import".into(), path, "--database".into(), url, "--nats".into(), NATS.into()]);
    });
    let _ = std::fs::remove_file(&file);
    let started = Instant::now();
    while [&nodes[0], &nodes[2]].iter().zip(&taken).any(|(n, before)| n.layers_taken() == *before) {
        assert!(started.elapsed() < Duration::from_secs(10), "the nodes did not take the new layer in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("layer imported → taken in by both nodes after {:?}", started.elapsed());

    stop.store(true, Ordering::SeqCst);
    for (_, _, task) in phones {
        let _ = task.await;
    }
}

/// Waits until every phone has every task `owed` it: what each phone got, by phone.
async fn wait_for(phones: &[Running], owed: &BTreeMap<String, usize>) -> HashMap<usize, HashMap<String, Instant>> {
    let started = Instant::now();
    loop {
        let missing: Vec<&String> = owed
            .iter()
            .filter(|(task, phone)| !phones[**phone].1.lock().unwrap().tasks.contains_key(*task))
            .map(|(task, _)| task)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "tasks never reached their phones: {missing:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    phones.iter().enumerate().map(|(i, (_, seen, _))| (i, seen.lock().unwrap().tasks.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_nats_reads_the_log_and_says_so() {
    if !nats_is_up() {
        return;
    }
    let Some(db) = OwnPostgres::create().unwrap() else { return };
    let client = client();
    let linked = tokio::task::block_in_place(|| Node::start("linked", &db, NATS));
    until_linked(&client, &linked, true).await;
    // Nothing listens on port 9 (discard): this node never reaches NATS.
    let cut_off = tokio::task::block_in_place(|| Node::start("cut-off", &db, "nats://127.0.0.1:9"));
    let health = until_linked(&client, &cut_off, false).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["nats"]["reading_log_every_ms"], 250, "{health}");
    assert_eq!(metric(&client, &cut_off.base, "gridlink_nats_connected").await, 0.0);
    assert_eq!(metric(&client, &linked.base, "gridlink_nats_connected").await, 1.0);

    // A phone on each node; a task for each, dispatched on the other node.
    let grids = grids(2);
    let mut phones = Vec::new();
    for (i, (node, (_, _, grid))) in [&linked, &cut_off].into_iter().zip(&grids).enumerate() {
        let device = format!("phone-{i}");
        let token = login(&client, &node.base, &format!("worker-{grid}"), &device).await;
        let mut phone = Phone::new(node.ws(), token, device);
        phone.connect().await.unwrap();
        phones.push(phone);
    }
    let centre_linked = login(&client, &linked.base, "centre", "desk-1").await;
    let centre_cut_off = login(&client, &cut_off.base, "centre", "desk-2").await;
    let (to_cut_off, _) = dispatch(&client, &linked.base, &centre_linked, &grids[1]).await;
    let (to_linked, _) = dispatch(&client, &cut_off.base, &centre_cut_off, &grids[0]).await;
    for (phone, task) in phones.iter_mut().zip([&to_linked, &to_cut_off]) {
        let started = Instant::now();
        phone.until(Duration::from_secs(10), |state| state.tasks().any(|(id, _)| id == task)).await.unwrap();
        // The cut-off node reads the log every 250 ms; the linked one finds what no
        // message told it of at its next look but one (1–2 s).
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
    assert!(metric(&client, &cut_off.base, "gridlink_nats_log_reads_total").await > 0.0);
}

//! The load generator's parts; the `loadgen` binary drives them against a server that
//! runs as its own process, so that its memory and CPU time can be read from `/proc`.
//!
//! A [`Fleet`] is the demo's grid workers logged in (one session per worker, shared by
//! that worker's devices when there are more phones than grids), and [`Phones`] runs each
//! device as a reference-client [`Phone`] in its own task, its state kept in memory. The
//! scenarios: [`idle`] (what an idle connection that reached `welcome` costs the
//! server), [`latency`] (commit → phone while the centre dispatches at a steady rate)
//! and [`storm`] (every phone reconnecting at once after a server restart). Each returns
//! a short plain-text report; progress goes to standard error.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sync_protocol::phone::{Phone, PhoneError};
use sync_protocol::{ClientMessage, ServerMessage};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Why a load run could not go on.
#[derive(Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

impl From<reqwest::Error> for LoadError {
    fn from(e: reqwest::Error) -> LoadError {
        LoadError(format!("http: {e}"))
    }
}

impl From<std::io::Error> for LoadError {
    fn from(e: std::io::Error) -> LoadError {
        LoadError(format!("io: {e}"))
    }
}

impl From<fmt::Error> for LoadError {
    fn from(e: fmt::Error) -> LoadError {
        LoadError(format!("formatting: {e}"))
    }
}

/// A load run's result.
pub type Result<T, E = LoadError> = std::result::Result<T, E>;

fn fail(message: impl Into<String>) -> LoadError {
    LoadError(message.into())
}

/// The wall clock in Unix milliseconds (the server's `committed_at_ms` is on it too; both
/// run on the same machine).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A small deterministic generator (splitmix64): which grid to dispatch to, how long to
/// wait before a retry.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }
}

// ---------------------------------------------------------------------------------------
// What the processes cost, from /proc.

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
pub const TICKS_PER_SECOND: f64 = 100.0;

fn proc_file(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// A process's memory, in KiB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (VmRSS).
    pub rss_kib: u64,
    /// The highest resident so far (VmHWM).
    pub peak_kib: u64,
}

/// The memory of process `pid` (this process when `None`).
pub fn memory(pid: Option<u32>) -> Result<Memory> {
    let path = proc_file(pid, "status");
    let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("{path}: {e}")))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    let rss_kib = field("VmRSS:").ok_or_else(|| fail(format!("{path} has no VmRSS")))?;
    Ok(Memory { rss_kib, peak_kib: field("VmHWM:").unwrap_or(rss_kib) })
}

/// The CPU time (user + system) process `pid` (this process when `None`) has used, in
/// clock ticks.
pub fn cpu_ticks(pid: Option<u32>) -> Result<u64> {
    let path = proc_file(pid, "stat");
    let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("{path}: {e}")))?;
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    let (_, after) = text.rsplit_once(')').ok_or_else(|| fail(format!("{path}: unexpected form")))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (the state), so utime (14) and stime (15) are at 11 and 12.
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(fail(format!("{path}: no utime/stime"))),
    }
}

/// The whole machine's CPU time as (busy, total) ticks over all cores, from `/proc/stat`.
pub fn machine_ticks() -> Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat")?;
    let line = text.lines().find(|l| l.starts_with("cpu ")).ok_or_else(|| fail("/proc/stat has no cpu line"))?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let v: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|f| f.parse().ok()).collect();
    if v.len() < 5 {
        return Err(fail("/proc/stat: short cpu line"));
    }
    let total: u64 = v.iter().sum();
    Ok((total - v[3] - v[4], total))
}

/// The soft limit on open files of process `pid` (this process when `None`), from
/// `/proc/<pid>/limits`.
pub fn open_file_limit(pid: Option<u32>) -> Result<u64> {
    let path = proc_file(pid, "limits");
    let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("{path}: {e}")))?;
    let soft = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| fail(format!("{path} has no open-file limit")))?;
    Ok(if soft == "unlimited" { u64::MAX } else { soft.parse().map_err(|_| fail(format!("{path}: {soft}")))? })
}

/// The kernel's count of connections dropped because a listen queue was full
/// (`TcpExt: ListenOverflows` in `/proc/net/netstat`, this network namespace): a client
/// whose SYN or handshake is dropped tries again after a second or more.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut rows = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (rows.next()?, rows.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

fn overflows_since(before: Option<u64>) -> String {
    match (before, listen_overflows()) {
        (Some(before), Some(now)) => format!("{}", now.saturating_sub(before)),
        _ => "unknown".to_owned(),
    }
}

/// Open files kept for everything but the phones (HTTP connections, the runtime, the
/// server's database pool and listener).
const FILE_MARGIN: u64 = 200;

/// How many phones the open-file limits allow (this process's and the server's, less a
/// margin), and a sentence saying so.
pub fn phone_cap(server_pid: u32) -> (usize, String) {
    let own = open_file_limit(None).unwrap_or(1024);
    let server = open_file_limit(Some(server_pid)).ok();
    let limit = server.map_or(own, |s| s.min(own));
    let cap = limit.saturating_sub(FILE_MARGIN).min(usize::MAX as u64) as usize;
    let server = server.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    (cap, format!("open-file limits: loadgen {own}, server {server} → at most {cap} phones"))
}

/// CPU use over a stretch of time.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    server: u32,
    at: Instant,
    server_ticks: u64,
    own_ticks: u64,
    machine: (u64, u64),
}

impl CpuMeter {
    /// Starts measuring.
    pub fn start(server: u32) -> CpuMeter {
        CpuMeter {
            server,
            at: Instant::now(),
            server_ticks: cpu_ticks(Some(server)).unwrap_or(0),
            own_ticks: cpu_ticks(None).unwrap_or(0),
            machine: machine_ticks().unwrap_or((0, 0)),
        }
    }

    /// Since the start: the server's and this process's CPU use (percent of one core) and
    /// the whole machine's (percent of all its cores).
    pub fn read(&self) -> (f64, f64, f64) {
        let seconds = self.at.elapsed().as_secs_f64().max(1e-3);
        let pct = |now: u64, then: u64| now.saturating_sub(then) as f64 / TICKS_PER_SECOND / seconds * 100.0;
        let server = pct(cpu_ticks(Some(self.server)).unwrap_or(0), self.server_ticks);
        let own = pct(cpu_ticks(None).unwrap_or(0), self.own_ticks);
        let (busy, total) = machine_ticks().unwrap_or((0, 0));
        let machine = busy.saturating_sub(self.machine.0) as f64 / (total.saturating_sub(self.machine.1)).max(1) as f64;
        (server, own, machine * 100.0)
    }
}

// ---------------------------------------------------------------------------------------
// The server over HTTP.

/// The server under load, over HTTP.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`.
    pub base: String,
    client: reqwest::Client,
}

impl Target {
    /// The server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Target> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(256).build()?;
        Ok(Target { base: base.trim_end_matches('/').to_owned(), client })
    }

    /// The sync socket's URL.
    pub fn ws_url(&self) -> String {
        let base = self.base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
        format!("{base}/api/v1/sync")
    }

    /// Whether `GET /healthz` answers 200.
    pub async fn healthy(&self) -> bool {
        let response = self.client.get(format!("{}/healthz", self.base)).timeout(Duration::from_secs(2)).send().await;
        response.is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// POSTs JSON (with a bearer token if given); the JSON answer, or an error naming the
    /// status and body when it is not a success.
    pub async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> Result<Value> {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            let text: String = text.chars().take(300).collect();
            return Err(fail(format!("POST {path}: {status} {text}")));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Logs a demo account in (password `demo`), trying three times; its bearer token.
    pub async fn login(&self, login: &str) -> Result<String> {
        let body = json!({"login": login, "password": "demo"});
        let mut last = fail("not tried");
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            match self.post(None, "/api/v1/auth/login", &body).await {
                Ok(answer) => match answer["token"].as_str() {
                    Some(token) => return Ok(token.to_owned()),
                    None => last = fail(format!("login {login}: no token in {answer}")),
                },
                Err(e) => last = fail(format!("login {login}: {e}")),
            }
        }
        Err(last)
    }

    /// The centre files a report in `grid` (for a caller: as a resident's, it waits to be
    /// accepted; filed anonymously, a hundred a second from one address would meet the
    /// per-address limit), accepts it and dispatches it to the grid: three requests, one
    /// after the other, as the centre's desk does.
    pub async fn dispatch(&self, centre: &str, grid: &Grid) -> Result<()> {
        let report = json!({
            "category": "C0101",
            "location": {"lon": grid.lon, "lat": grid.lat},
            "description": "loadgen: 井盖缺失",
        });
        let opened = self.post(Some(centre), "/api/v1/reports", &report).await?;
        let id = opened["id"].as_str().ok_or_else(|| fail(format!("a report without an id: {opened}")))?;
        let path = format!("/api/v1/incidents/{id}/actions");
        self.post(Some(centre), &path, &json!({"action": "accept"})).await?;
        self.post(Some(centre), &path, &json!({"action": "dispatch", "to": {"grid": grid.code}})).await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The demo's workers and their phones.

/// A demo grid: its code (its worker logs in as `worker-<code>`) and a point inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The grid's code.
    pub code: String,
    /// Longitude of a point inside it.
    pub lon: f64,
    /// Latitude of a point inside it.
    pub lat: f64,
}

/// Every grid of the demo area, by code.
pub fn demo_grids() -> Result<Vec<Grid>> {
    use geo::InteriorPoint;
    let layer = geodata::demo::layer().map_err(|e| fail(format!("the demo area: {e}")))?;
    let mut grids: Vec<Grid> = layer
        .grids()
        .filter_map(|g| {
            let point = g.geometry.interior_point()?;
            Some(Grid { code: g.code.to_string(), lon: point.x(), lat: point.y() })
        })
        .collect();
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    if grids.is_empty() {
        return Err(fail("the demo area has no grids"));
    }
    Ok(grids)
}

/// One phone to run: whose, which install.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its worker's grid (an index into [`Fleet::grids`]).
    pub grid: usize,
    /// Its device id.
    pub device_id: String,
    /// Its worker's session token.
    pub token: String,
}

/// The demo's grid workers, logged in, and their devices.
#[derive(Debug)]
pub struct Fleet {
    /// Every demo grid.
    pub grids: Vec<Grid>,
    /// How many workers were logged in: those of grids `0..workers`.
    pub workers: usize,
    /// The phones: phone `i` belongs to the worker of grid `i % workers`, as device
    /// `loadgen-<i / workers>`.
    pub devices: Vec<Device>,
    /// How long logging in took.
    pub login_time: Duration,
}

impl Fleet {
    /// `n` phones for a bare baseline server, which logs no one in: as many groups as the
    /// demo has grids (at most `n`), phone `i` in group `i % groups` with the group's
    /// number as its token (the baseline's group name).
    pub fn bare(n: usize) -> Result<Fleet> {
        let grids = demo_grids()?;
        let groups = n.min(grids.len()).max(1);
        let devices = (0..n)
            .map(|i| Device {
                grid: i % groups,
                device_id: format!("bare-{}", i / groups),
                token: (i % groups).to_string(),
            })
            .collect();
        Ok(Fleet { grids, workers: groups, devices, login_time: Duration::ZERO })
    }

    /// Logs in the workers of `phones.min(grids)` grids, `concurrency` at a time (each
    /// login costs the server an Argon2 hash), one session per worker shared by its
    /// devices.
    pub async fn log_in(target: &Target, grids: Vec<Grid>, phones: usize, concurrency: usize) -> Result<Fleet> {
        let workers = phones.min(grids.len());
        let started = Instant::now();
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut logins = JoinSet::new();
        for (g, grid) in grids.iter().enumerate().take(workers) {
            let (target, gate, login) = (target.clone(), gate.clone(), format!("worker-{}", grid.code));
            logins.spawn(async move {
                let _permit = gate.acquire_owned().await;
                (g, target.login(&login).await)
            });
        }
        let mut tokens = vec![String::new(); workers];
        let mut done = 0;
        let mut told = Instant::now();
        while let Some(joined) = logins.join_next().await {
            let (g, token) = joined.map_err(|e| fail(format!("a login task: {e}")))?;
            tokens[g] = token?;
            done += 1;
            if told.elapsed() >= Duration::from_secs(5) {
                told = Instant::now();
                eprintln!("  logged in {done}/{workers} workers ({:.0} s)", started.elapsed().as_secs_f64());
            }
        }
        let devices = (0..phones)
            .map(|i| Device {
                grid: i % workers.max(1),
                device_id: format!("loadgen-{}", i / workers.max(1)),
                token: tokens[i % workers.max(1)].clone(),
            })
            .collect();
        Ok(Fleet { grids, workers, devices, login_time: started.elapsed() })
    }

    /// How many phones each grid has.
    pub fn phones_per_grid(&self) -> Vec<usize> {
        let mut counts = vec![0; self.grids.len()];
        for device in &self.devices {
            counts[device.grid] += 1;
        }
        counts
    }
}

/// What the phones are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Stay connected; a dropped phone waits for [`Phase::Reconnect`].
    Live,
    /// Reconnect now, with the stored cursor; the instant the signal was given.
    Reconnect(Instant),
    /// Disconnect and end.
    Stop,
}

/// What the phones of a run saw, counted as they go.
#[derive(Debug, Default)]
pub struct Tally {
    /// Phones welcomed and caught up on their first connection.
    pub ready: AtomicUsize,
    /// Phones that could not connect the first time.
    pub failed: AtomicUsize,
    /// Connections that dropped (the server closed or vanished).
    pub dropped: AtomicUsize,
    /// Phones welcomed and caught up again after a [`Phase::Reconnect`].
    pub back: AtomicUsize,
    /// Phones that could not reconnect in time.
    pub lost: AtomicUsize,
    /// Connection attempts that failed and were tried again.
    pub retries: AtomicUsize,
    /// Frames the client could not follow.
    pub protocol_errors: AtomicUsize,
    /// Whether live task items are being measured.
    pub recording: AtomicBool,
    /// Task items received while recording.
    pub task_items: AtomicUsize,
    /// Of each frame with a task item received while recording: when it was decoded
    /// (Unix ms) and its commit → decode latency (ms).
    pub samples: Mutex<Vec<(i64, i64)>>,
    /// Per phone, its first connection: milliseconds to welcome and to caught up.
    pub connects: Mutex<Vec<(f64, f64)>>,
    /// Per phone, its reconnection: milliseconds from the signal to welcome and to
    /// caught up.
    pub reconnects: Mutex<Vec<(f64, f64)>>,
    /// The first error a phone met, for the report.
    pub first_error: Mutex<Option<String>>,
}

impl Tally {
    fn note_error(&self, e: &PhoneError) {
        let mut first = self.first_error.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// How long a phone may be silent before it sends a ping of its own. The server pings
/// every connection every 30 s (answered by the socket without the app), so this only
/// fires if it stops doing so.
const QUIET: Duration = Duration::from_secs(40);

/// Phones, each in its own task.
pub struct Phones {
    /// What they saw.
    pub tally: Arc<Tally>,
    /// How many there are.
    pub count: usize,
    phase: watch::Sender<Phase>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Phones {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phones").field("count", &self.count).field("tally", &self.tally).finish()
    }
}

impl Phones {
    /// Starts every device of `fleet` as a phone of `url`; at most `concurrency` connect
    /// at a time on their first connection; each has `timeout` to be welcomed and caught
    /// up (and again after a reconnect signal).
    pub fn start(url: &str, fleet: &Fleet, concurrency: usize, timeout: Duration) -> Phones {
        let tally = Arc::new(Tally::default());
        let (phase, watching) = watch::channel(Phase::Live);
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (i, device) in fleet.devices.iter().enumerate() {
            let phone = Phone::new(url, device.token.clone(), device.device_id.clone());
            let rng = Rng::new(0x5EED ^ i as u64);
            tasks.spawn(drive(phone, rng, tally.clone(), gate.clone(), watching.clone(), timeout));
        }
        Phones { tally, count: fleet.devices.len(), phase, tasks }
    }

    /// Tells every phone what to do.
    pub fn set(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Waits until `done` holds (true) or `timeout` passes (false), telling progress on
    /// standard error every five seconds.
    pub async fn wait(&self, what: &str, timeout: Duration, done: impl Fn(&Tally) -> bool) -> bool {
        let started = Instant::now();
        let mut told = Instant::now();
        while !done(&self.tally) {
            if started.elapsed() >= timeout {
                return false;
            }
            if told.elapsed() >= Duration::from_secs(5) {
                told = Instant::now();
                let t = &self.tally;
                eprintln!(
                    "  {what}: ready {} failed {} dropped {} back {} lost {} retries {} ({:.0} s)",
                    Tally::count(&t.ready),
                    Tally::count(&t.failed),
                    Tally::count(&t.dropped),
                    Tally::count(&t.back),
                    Tally::count(&t.lost),
                    Tally::count(&t.retries),
                    started.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Waits until every phone has connected (or failed to); how long that took.
    pub async fn connected(&self, timeout: Duration) -> Duration {
        let started = Instant::now();
        let n = self.count;
        self.wait("connecting", timeout, |t| Tally::count(&t.ready) + Tally::count(&t.failed) >= n).await;
        started.elapsed()
    }

    /// Disconnects every phone and waits for their tasks (at most a minute).
    pub async fn stop(mut self) {
        self.set(Phase::Stop);
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(60), all).await.is_err() {
            self.tasks.abort_all();
        }
    }
}

/// One phone's life: connect (gated), then live until told to stop; after a drop, wait
/// for the reconnect signal and come back with the stored cursor.
async fn drive(
    mut phone: Phone,
    mut rng: Rng,
    tally: Arc<Tally>,
    gate: Arc<Semaphore>,
    mut phase: watch::Receiver<Phase>,
    timeout: Duration,
) {
    let first = {
        let _permit = gate.acquire().await;
        let started = Instant::now();
        join(&mut phone, &tally, &mut rng, started + timeout).await.map(|(w, c)| (started, w, c))
    };
    match first {
        Ok((started, welcomed, caught_up)) => {
            let ms = |t: Instant| t.duration_since(started).as_secs_f64() * 1e3;
            tally.connects.lock().unwrap_or_else(PoisonError::into_inner).push((ms(welcomed), ms(caught_up)));
            tally.ready.fetch_add(1, Ordering::SeqCst);
        }
        Err(e) => {
            tally.note_error(&e);
            tally.failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    let mut measured = false;
    loop {
        if live(&mut phone, &tally, &mut phase).await == Ended::Stop {
            phone.disconnect().await;
            return;
        }
        tally.dropped.fetch_add(1, Ordering::SeqCst);
        let Some(since) = wait_for_reconnect(&mut phase).await else { return };
        match join(&mut phone, &tally, &mut rng, Instant::now().max(since) + timeout).await {
            Ok((welcomed, caught_up)) if !measured => {
                measured = true;
                let ms = |t: Instant| t.saturating_duration_since(since).as_secs_f64() * 1e3;
                tally.reconnects.lock().unwrap_or_else(PoisonError::into_inner).push((ms(welcomed), ms(caught_up)));
                tally.back.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(e) => {
                tally.note_error(&e);
                tally.lost.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Stop,
    Dropped,
}

async fn wait_for_reconnect(phase: &mut watch::Receiver<Phase>) -> Option<Instant> {
    loop {
        let now = *phase.borrow_and_update();
        match now {
            Phase::Reconnect(since) => return Some(since),
            Phase::Stop => return None,
            Phase::Live => {}
        }
        if phase.changed().await.is_err() {
            return None;
        }
    }
}

/// Connects (trying again after a short random pause until `deadline`) and takes
/// messages in until caught up: the welcome's cursor reached, a snapshot complete. When
/// it was welcomed and when it was caught up.
async fn join(
    phone: &mut Phone,
    tally: &Tally,
    rng: &mut Rng,
    deadline: Instant,
) -> Result<(Instant, Instant), PhoneError> {
    loop {
        match catch_up(phone, deadline).await {
            Ok(times) => return Ok(times),
            Err(e) => {
                phone.drop_connection();
                let pause = Duration::from_millis(200 + rng.below(800) as u64);
                if Instant::now() + pause >= deadline {
                    return Err(e);
                }
                tally.retries.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

async fn catch_up(phone: &mut Phone, deadline: Instant) -> Result<(Instant, Instant), PhoneError> {
    let fresh = phone.state.cursor <= 0;
    let newest = tokio::time::timeout_at(deadline.into(), phone.connect()).await.map_err(|_| PhoneError::Timeout)??;
    let welcomed = Instant::now();
    let mut snapshot_done = false;
    while phone.state.rebuilding || phone.state.cursor < newest || (fresh && !snapshot_done) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PhoneError::Timeout);
        }
        if let ServerMessage::SnapshotEnd { .. } = phone.recv(left).await? {
            snapshot_done = true;
        }
    }
    Ok((welcomed, Instant::now()))
}

/// Takes messages in until told to stop or the connection drops, measuring live task
/// items while the tally records.
async fn live(phone: &mut Phone, tally: &Tally, phase: &mut watch::Receiver<Phase>) -> Ended {
    loop {
        if *phase.borrow_and_update() == Phase::Stop {
            return Ended::Stop;
        }
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    return Ended::Stop;
                }
            }
            received = phone.recv(QUIET) => match received {
                Ok(ServerMessage::Changes { items, committed_at_ms, .. }) => {
                    let decoded = now_ms();
                    let tasks = items.iter().filter(|i| i.kind == "task" && !i.removed).count();
                    if tasks > 0 && tally.recording.load(Ordering::SeqCst) {
                        tally.task_items.fetch_add(tasks, Ordering::SeqCst);
                        if let Some(at) = committed_at_ms {
                            tally.samples.lock().unwrap_or_else(PoisonError::into_inner).push((decoded, decoded - at));
                        }
                    }
                }
                Ok(_) => {}
                Err(PhoneError::Timeout) => {
                    if phone.send(&ClientMessage::Ping { nonce: None }).await.is_err() {
                        phone.drop_connection();
                        return Ended::Dropped;
                    }
                }
                Err(PhoneError::Protocol(_)) => {
                    tally.protocol_errors.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {
                    phone.drop_connection();
                    return Ended::Dropped;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Figures.

/// The value at quantile `q` (0–1) of sorted values, by nearest rank.
pub fn percentile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted_f64(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn spread_ms(values: &[f64]) -> String {
    let v = sorted_f64(values);
    format!(
        "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(0.0)
    )
}

fn kib_per(kib: i64, n: usize) -> f64 {
    kib as f64 / n.max(1) as f64
}

// ---------------------------------------------------------------------------------------
// The scenarios.

/// What every scenario needs.
#[derive(Debug, Clone)]
pub struct Run {
    /// The server.
    pub target: Target,
    /// The server's process id (its memory and CPU time are read from /proc).
    pub server_pid: u32,
    /// Phones connecting at a time on their first connection.
    pub concurrency: usize,
    /// Logins at a time (each costs the server an Argon2 hash).
    pub login_concurrency: usize,
    /// How long a phone may take to be welcomed and caught up.
    pub phone_timeout: Duration,
}

impl Run {
    fn capped(&self, phones: usize, report: &mut String) -> Result<usize> {
        let (cap, why) = phone_cap(self.server_pid);
        writeln!(report, "{why}")?;
        if phones > cap {
            writeln!(report, "asked for {phones} phones: capped at {cap} by the open-file limit")?;
        }
        Ok(phones.min(cap))
    }

    async fn fleet(&self, phones: usize, report: &mut String) -> Result<Fleet> {
        if !self.target.healthy().await {
            return Err(fail(format!("{} does not answer /healthz", self.target.base)));
        }
        let grids = demo_grids()?;
        eprintln!("logging in the workers of {} grids, {} at a time", phones.min(grids.len()), self.login_concurrency);
        let fleet = Fleet::log_in(&self.target, grids, phones, self.login_concurrency).await?;
        let per = phones.div_ceil(fleet.workers.max(1));
        writeln!(
            report,
            "phones: {phones} = {} grid workers' demo accounts × up to {per} devices each; {} logins ({} at a time) took {:.1} s",
            fleet.workers,
            fleet.workers,
            self.login_concurrency,
            fleet.login_time.as_secs_f64()
        )?;
        Ok(fleet)
    }

    async fn connect_all(&self, fleet: &Fleet, report: &mut String) -> Result<Phones> {
        eprintln!("connecting {} phones, {} at a time", fleet.devices.len(), self.concurrency);
        let overflows = listen_overflows();
        let phones = Phones::start(&self.target.ws_url(), fleet, self.concurrency, self.phone_timeout);
        let took = phones.connected(Duration::from_secs(3600)).await;
        let t = &phones.tally;
        let connects: Vec<(f64, f64)> = t.connects.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (welcome, caught): (Vec<f64>, Vec<f64>) = connects.into_iter().unzip();
        writeln!(
            report,
            "connect: {} of {} phones welcomed and caught up (snapshot) in {:.1} s, {} at a time ({:.0}/s); failed {}, retries {}; listen-queue overflows {}",
            Tally::count(&t.ready),
            phones.count,
            took.as_secs_f64(),
            self.concurrency,
            Tally::count(&t.ready) as f64 / took.as_secs_f64().max(1e-3),
            Tally::count(&t.failed),
            Tally::count(&t.retries),
            overflows_since(overflows)
        )?;
        writeln!(report, "  per phone: to welcome {}; to snapshot_end {}", spread_ms(&welcome), spread_ms(&caught))?;
        if let Some(e) = t.first_error.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            writeln!(report, "  first error: {e}")?;
        }
        Ok(phones)
    }
}

/// Runs a restart command (`sh -c`) off the async workers.
fn spawn_restart(command: &str) -> tokio::task::JoinHandle<std::io::Result<std::process::Output>> {
    let command = command.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").arg("-c").arg(command).stdin(std::process::Stdio::null()).output()
    })
}

/// Waits for a restart command; the new server's pid if its last line of output is one.
async fn finish_restart(
    restarting: tokio::task::JoinHandle<std::io::Result<std::process::Output>>,
) -> Result<Option<u32>> {
    let output = restarting.await.map_err(|e| fail(e.to_string()))??;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!("the restart command failed ({}): {stderr}", output.status)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).lines().last().and_then(|l| l.trim().parse::<u32>().ok()))
}

/// Waits until the server answers `/healthz`.
async fn wait_healthy(target: &Target, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    while !target.healthy().await {
        if started.elapsed() > timeout {
            return Err(fail(format!("{} did not answer /healthz within {} s", target.base, timeout.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Scenario (a): the server's resident memory per idle connection that reached
/// `welcome` (and its snapshot): RSS growth ÷ connections, after `settle`. With
/// `restart`, the server is restarted after the logins (sessions are stored, so the
/// tokens stay good) and measured from that clean start: a burst of logins leaves
/// hundreds of MiB of freed Argon2 memory resident in the allocator's per-thread arenas,
/// which new allocations may reuse without growing RSS.
///
/// After the reading, the connections stay open for `hold` (at least 30 s, a heartbeat
/// period) while the server's idle CPU use is measured; a look at the server from
/// outside fits there too (e.g. `gdb -p PID -batch -ex 'call (void)malloc_stats()'`).
pub async fn idle(run: &Run, phones: usize, settle: Duration, restart: Option<&str>, hold: Duration) -> Result<String> {
    let mut report = String::new();
    writeln!(report, "scenario idle: server {} (pid {})", run.target.base, run.server_pid)?;
    let phones = run.capped(phones, &mut report)?;
    let fleet = run.fleet(phones, &mut report).await?;
    let mut pid = run.server_pid;
    if let Some(command) = restart {
        let before = memory(Some(pid))?;
        eprintln!("restarting the server for a clean baseline: {command}");
        pid = finish_restart(spawn_restart(command))
            .await?
            .ok_or_else(|| fail("the restart command must print the new server's pid as its last line"))?;
        wait_healthy(&run.target, Duration::from_secs(300)).await?;
        writeln!(
            report,
            "restarted after the logins (server RSS then {} KiB) with `{command}`: new server pid {pid}",
            before.rss_kib
        )?;
    }
    tokio::time::sleep(settle).await;
    let before = memory(Some(pid))?;
    let own_before = memory(None)?;
    let connected = run.connect_all(&fleet, &mut report).await?;
    let n = Tally::count(&connected.tally.ready);
    eprintln!(
        "connected; letting the server settle for {} s, then holding for {} s",
        settle.as_secs(),
        Duration::from_secs(30).max(hold).as_secs()
    );
    tokio::time::sleep(settle).await;
    let after = memory(Some(pid))?;
    let idle_cpu = CpuMeter::start(pid);
    tokio::time::sleep(Duration::from_secs(30).max(hold)).await;
    let (server_cpu, own_cpu, machine_cpu) = idle_cpu.read();
    let own_after = memory(None)?;
    let dropped = Tally::count(&connected.tally.dropped);
    let grown = after.rss_kib as i64 - before.rss_kib as i64;
    writeln!(
        report,
        "server RSS: {} KiB before, {} KiB with {n} idle connections ({} s after the last): {grown:+} KiB → {:.1} KiB per connection",
        before.rss_kib,
        after.rss_kib,
        settle.as_secs(),
        kib_per(grown, n)
    )?;
    writeln!(
        report,
        "  server peak RSS (VmHWM) so far: {} KiB; connections dropped meanwhile: {dropped}",
        after.peak_kib
    )?;
    let own = own_after.rss_kib as i64 - own_before.rss_kib as i64;
    writeln!(report, "loadgen RSS: +{own} KiB for {n} phones → {:.1} KiB per phone (client side)", kib_per(own, n))?;
    writeln!(
        report,
        "CPU with {n} idle connections, over {} s: server {server_cpu:.0}% of a core, loadgen {own_cpu:.0}%, machine {machine_cpu:.0}% busy",
        Duration::from_secs(30).max(hold).as_secs()
    )?;
    eprintln!("disconnecting");
    connected.stop().await;
    tokio::time::sleep(settle).await;
    let closed = memory(Some(pid))?;
    writeln!(
        report,
        "server RSS {} s after all closed: {} KiB ({:+} KiB against before)",
        settle.as_secs(),
        closed.rss_kib,
        closed.rss_kib as i64 - before.rss_kib as i64
    )?;
    Ok(report)
}

/// The latency scenario's knobs.
#[derive(Debug, Clone, Copy)]
pub struct LatencyPlan {
    /// Phones connected.
    pub phones: usize,
    /// Dispatches per second.
    pub rate: f64,
    /// For how long.
    pub seconds: f64,
    /// Dispatches (three requests each) in flight at most.
    pub in_flight: usize,
    /// How long to wait for the last tasks to arrive after the last dispatch.
    pub drain: Duration,
    /// The seed of the choice of grids.
    pub seed: u64,
}

/// Scenario (b): `phones` connected, the centre dispatching `rate` tasks a second to
/// random connected workers' grids for `seconds`; commit → phone latency of each frame
/// carrying a task item.
pub async fn latency(run: &Run, plan: LatencyPlan) -> Result<String> {
    let mut report = String::new();
    writeln!(report, "scenario latency: server {} (pid {})", run.target.base, run.server_pid)?;
    let n = run.capped(plan.phones, &mut report)?;
    let fleet = run.fleet(n, &mut report).await?;
    let centre = run.target.login("centre").await?;
    let phones = run.connect_all(&fleet, &mut report).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_grid = fleet.phones_per_grid();
    let total = (plan.rate * plan.seconds).round() as usize;
    eprintln!("dispatching {total} tasks at {}/s, at most {} in flight", plan.rate, plan.in_flight);
    let memory_before = memory(Some(run.server_pid))?;
    phones.tally.recording.store(true, Ordering::SeqCst);
    let cpu = CpuMeter::start(run.server_pid);
    let started = tokio::time::Instant::now();
    let started_ms = now_ms();
    let gate = Arc::new(Semaphore::new(plan.in_flight.max(1)));
    let mut rng = Rng::new(plan.seed);
    let mut jobs = JoinSet::new();
    let mut outcomes: Vec<(usize, Duration, Result<()>)> = Vec::with_capacity(total);
    let mut waited_for_slot = 0_usize;
    for i in 0..total {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / plan.rate)).await;
        let permit = match gate.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                waited_for_slot += 1;
                gate.clone().acquire_owned().await.map_err(|e| fail(e.to_string()))?
            }
        };
        let g = rng.below(fleet.workers);
        let (target, centre, grid) = (run.target.clone(), centre.clone(), fleet.grids[g].clone());
        jobs.spawn(async move {
            let at = Instant::now();
            let result = target.dispatch(&centre, &grid).await;
            drop(permit);
            (g, at.elapsed(), result)
        });
        while let Some(done) = jobs.try_join_next() {
            outcomes.push(done.map_err(|e| fail(e.to_string()))?);
        }
        if i > 0 && i % (plan.rate.max(1.0) as usize * 10) == 0 {
            eprintln!("  {i}/{total} dispatched, task items received {}", Tally::count(&phones.tally.task_items));
        }
    }
    while let Some(done) = jobs.join_next().await {
        outcomes.push(done.map_err(|e| fail(e.to_string()))?);
    }
    let dispatch_time = started.elapsed();
    let (server_cpu, own_cpu, machine_cpu) = cpu.read();
    let ok: Vec<&(usize, Duration, Result<()>)> = outcomes.iter().filter(|o| o.2.is_ok()).collect();
    let expected: usize = ok.iter().map(|o| per_grid[o.0]).sum();
    let tally = phones.tally.clone();
    phones.wait("draining", plan.drain, |t| Tally::count(&t.task_items) >= expected).await;
    tally.recording.store(false, Ordering::SeqCst);
    let memory_after = memory(Some(run.server_pid))?;

    let failed: Vec<&LoadError> = outcomes.iter().filter_map(|o| o.2.as_ref().err()).collect();
    let mut round_trips: Vec<f64> = ok.iter().map(|o| o.1.as_secs_f64() * 1e3).collect();
    round_trips.sort_by(f64::total_cmp);
    writeln!(
        report,
        "load: centre (`centre`) dispatching to random connected workers' grids at {}/s for {} s = {total} dispatches (report → accept → dispatch over HTTP, at most {} in flight)",
        plan.rate, plan.seconds, plan.in_flight
    )?;
    writeln!(
        report,
        "dispatched: {} ok, {} failed in {:.1} s → {:.1}/s achieved; {} had to wait for a free slot",
        ok.len(),
        failed.len(),
        dispatch_time.as_secs_f64(),
        ok.len() as f64 / dispatch_time.as_secs_f64().max(1e-3),
        waited_for_slot
    )?;
    if let Some(e) = failed.first() {
        writeln!(report, "  first failure: {e}")?;
    }
    writeln!(report, "  one dispatch's three requests, round trip: {}", spread_ms(&round_trips))?;
    let timed = tally.samples.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut samples: Vec<i64> = timed.iter().map(|s| s.1).collect();
    samples.sort_unstable();
    writeln!(
        report,
        "delivered: {} task items of {expected} expected (every connected device of each dispatched grid), in {} frames",
        Tally::count(&tally.task_items),
        samples.len()
    )?;
    writeln!(
        report,
        "commit → phone (committed_at_ms → decoded): p50 {} ms, p90 {} ms, p99 {} ms, max {} ms (n = {})",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(0),
        samples.len()
    )?;
    // The same by five-second window of the run, to show stalls that come and go.
    let mut windows: Vec<Vec<i64>> = Vec::new();
    for (decoded, latency) in &timed {
        let window = ((decoded - started_ms).max(0) / 5000) as usize;
        if windows.len() <= window {
            windows.resize(window + 1, Vec::new());
        }
        windows[window].push(*latency);
    }
    let by_window: Vec<String> = windows
        .iter_mut()
        .map(|w| {
            w.sort_unstable();
            format!("{}/{}", percentile(w, 0.5), percentile(w, 0.99))
        })
        .collect();
    writeln!(report, "  p50/p99 ms by 5 s window from the first dispatch: {}", by_window.join(" "))?;
    writeln!(
        report,
        "CPU while dispatching: server {server_cpu:.0}% of a core, loadgen {own_cpu:.0}% of a core, whole machine {machine_cpu:.0}% busy (all cores; the loadgen, the server and the database share it)"
    )?;
    writeln!(
        report,
        "server RSS: {} KiB before the dispatching, {} KiB after; connections dropped: {}; protocol errors: {}",
        memory_before.rss_kib,
        memory_after.rss_kib,
        Tally::count(&tally.dropped),
        Tally::count(&tally.protocol_errors)
    )?;
    phones.stop().await;
    Ok(report)
}

/// The storm scenario's knobs.
#[derive(Debug, Clone)]
pub struct StormPlan {
    /// Phones connected.
    pub phones: usize,
    /// A shell command that restarts the server (it must leave the new server running in
    /// the background with its output redirected; if its last line of output is a
    /// number, it is taken as the new server's pid). `None`: the operator restarts it.
    pub restart: Option<String>,
    /// Tasks to dispatch after the restart, before the phones come back, so that they
    /// have something to catch up on.
    pub backlog: usize,
    /// How long to wait for the drop, the restart and the reconnection, each.
    pub timeout: Duration,
}

/// Scenario (c): `phones` connected and caught up; the server restarts; every phone
/// reconnects at once with its stored cursor. Time until all are welcomed and caught up.
pub async fn storm(run: &Run, plan: StormPlan) -> Result<String> {
    let mut report = String::new();
    writeln!(report, "scenario storm: server {} (pid {})", run.target.base, run.server_pid)?;
    let n = run.capped(plan.phones, &mut report)?;
    let fleet = run.fleet(n, &mut report).await?;
    let centre = if plan.backlog > 0 { Some(run.target.login("centre").await?) } else { None };
    let phones = run.connect_all(&fleet, &mut report).await?;
    let ready = Tally::count(&phones.tally.ready);
    let restart_began = Instant::now();
    let restarting = match &plan.restart {
        Some(command) => {
            eprintln!("restarting the server: {command}");
            Some(spawn_restart(command))
        }
        None => {
            eprintln!("restart the server now (same address); waiting for the connections to drop");
            None
        }
    };
    let all_dropped = phones.wait("waiting for the drop", plan.timeout, |t| Tally::count(&t.dropped) >= ready).await;
    let dropped_after = restart_began.elapsed();
    let dropped = Tally::count(&phones.tally.dropped);
    let new_pid = match restarting {
        Some(restarting) => finish_restart(restarting).await?,
        None => None,
    };
    wait_healthy(&run.target, plan.timeout).await?;
    let healthy_after = restart_began.elapsed();
    writeln!(
        report,
        "restart ({}): {dropped} of {ready} connections dropped{} {:.1} s after it began; the server answered /healthz again after {:.1} s",
        plan.restart.as_deref().map_or_else(|| "by hand".to_owned(), |c| format!("`{c}`")),
        if all_dropped { "" } else { " (not all!)" },
        dropped_after.as_secs_f64(),
        healthy_after.as_secs_f64()
    )?;
    if let Some(centre) = &centre {
        eprintln!("dispatching a backlog of {} tasks while the phones are away", plan.backlog);
        let mut rng = Rng::new(7);
        let mut jobs = JoinSet::new();
        let gate = Arc::new(Semaphore::new(8));
        for _ in 0..plan.backlog {
            let grid = fleet.grids[rng.below(fleet.workers)].clone();
            let (target, centre, gate) = (run.target.clone(), centre.clone(), gate.clone());
            jobs.spawn(async move {
                let _permit = gate.acquire_owned().await;
                target.dispatch(&centre, &grid).await
            });
        }
        let mut failed = 0;
        while let Some(done) = jobs.join_next().await {
            if !matches!(done, Ok(Ok(()))) {
                failed += 1;
            }
        }
        writeln!(
            report,
            "backlog: {} tasks dispatched to random workers' grids while the phones were away ({failed} failed): every phone's cursor is behind",
            plan.backlog
        )?;
    }
    let memory_before = new_pid.and_then(|pid| memory(Some(pid)).ok());
    eprintln!("reconnecting {dropped} phones at once");
    let cpu = new_pid.map(CpuMeter::start);
    let overflows = listen_overflows();
    let signal = Instant::now();
    phones.set(Phase::Reconnect(signal));
    let came_back =
        phones.wait("reconnecting", plan.timeout, |t| Tally::count(&t.back) + Tally::count(&t.lost) >= dropped).await;
    let took = signal.elapsed();
    let tally = phones.tally.clone();
    let back: Vec<(f64, f64)> = tally.reconnects.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let (welcome, caught): (Vec<f64>, Vec<f64>) = back.into_iter().unzip();
    let all_welcomed = sorted_f64(&welcome).last().copied().unwrap_or(0.0);
    let all_caught = sorted_f64(&caught).last().copied().unwrap_or(0.0);
    writeln!(
        report,
        "reconnect, all at once with their stored cursors: {} of {dropped} back{}; all welcomed after {:.2} s, all caught up after {:.2} s (waited {:.2} s)",
        Tally::count(&tally.back),
        if came_back { "" } else { " (timed out)" },
        all_welcomed / 1e3,
        all_caught / 1e3,
        took.as_secs_f64()
    )?;
    writeln!(report, "  per phone: to welcome {}; to caught up {}", spread_ms(&welcome), spread_ms(&caught))?;
    writeln!(
        report,
        "  failed attempts tried again: {}; phones that could not come back: {}; listen-queue overflows (kernel, SYNs dropped and retried after ≥ 1 s): {}",
        Tally::count(&tally.retries),
        Tally::count(&tally.lost),
        overflows_since(overflows)
    )?;
    if let Some(e) = tally.first_error.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        writeln!(report, "  first error: {e}")?;
    }
    if let (Some(pid), Some(cpu)) = (new_pid, cpu) {
        let (server_cpu, own_cpu, machine_cpu) = cpu.read();
        let after = memory(Some(pid))?;
        writeln!(
            report,
            "new server (pid {pid}): RSS {} KiB before the storm, {} KiB after, peak {} KiB; CPU during it: server {server_cpu:.0}% of a core, loadgen {own_cpu:.0}%, machine {machine_cpu:.0}%",
            memory_before.map_or(0, |m| m.rss_kib),
            after.rss_kib,
            after.peak_kib
        )?;
    }
    phones.stop().await;
    Ok(report)
}

/// What the flood scenario does.
#[derive(Debug, Clone)]
pub struct FloodPlan {
    /// Phones that flood at once.
    pub phones: usize,
    /// Bytes per frame (a JSON `ping` padded to this size; the server takes up to 64 KiB).
    pub frame_bytes: usize,
    /// Frames each phone sends at most, as fast as its socket takes them.
    pub frames: usize,
}

/// Scenario (d): `phones` devices send frames as fast as they can; each must be cut off
/// with 4003 (flooding), and the server's resident memory must stay bounded: its RSS is
/// sampled every 50 ms from before the flood until after the last phone was cut off.
pub async fn flood(run: &Run, plan: FloodPlan) -> Result<String> {
    let mut report = String::new();
    writeln!(report, "scenario flood: server {} (pid {})", run.target.base, run.server_pid)?;
    let phones = run.capped(plan.phones, &mut report)?;
    let fleet = run.fleet(phones, &mut report).await?;
    let before = memory(Some(run.server_pid))?;
    // A ping padded with a field the protocol says to ignore: cheap for the server to
    // parse, so what is measured is the cut-off and the buffers, not JSON work.
    let pad = "x".repeat(plan.frame_bytes.saturating_sub(40));
    let frame = json!({"type": "ping", "nonce": 1, "pad": pad}).to_string();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, pid) = (sampling.clone(), run.server_pid);
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                if let Ok(m) = memory(Some(pid)) {
                    peak = peak.max(m.rss_kib);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let mut floods = JoinSet::new();
    for device in &fleet.devices {
        let (url, device, frame, frames) = (run.target.ws_url(), device.clone(), frame.clone(), plan.frames);
        floods.spawn(tokio::time::timeout(Duration::from_secs(120), async move {
            let mut phone = Phone::new(url, device.token, device.device_id);
            phone.connect().await?;
            let mut sent = 0;
            while sent < frames {
                if phone.send_raw(frame.clone()).await.is_err() {
                    break;
                }
                sent += 1;
            }
            // The server's verdict: read until it closes (pongs come back meanwhile).
            let code = loop {
                match phone.recv(Duration::from_secs(30)).await {
                    Ok(_) => {}
                    Err(PhoneError::Closed(frame)) => break frame.map(|(code, _)| code),
                    Err(_) => break None,
                }
            };
            Ok::<_, PhoneError>((sent, code))
        }));
    }
    let mut codes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut sent_total = 0;
    while let Some(joined) = floods.join_next().await {
        let key = match joined {
            Ok(Err(_)) => "stuck for 120 s (connecting, sending or waiting for the verdict)".to_owned(),
            Ok(Ok(Ok((sent, code)))) => {
                sent_total += sent;
                match (sent < plan.frames, code) {
                    (_, Some(code)) => format!("closed {code}"),
                    // The server closed while the phone still had frames in flight: the
                    // reset reaches it before the close frame can be read.
                    (true, None) => "cut off, reset before the close frame was read".to_owned(),
                    (false, None) => "never cut off".to_owned(),
                }
            }
            Ok(Ok(Err(e))) => format!("failed: {e}"),
            Err(e) => format!("task: {e}"),
        };
        *codes.entry(key).or_default() += 1;
    }
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let peak = sampler.await.map_err(|e| fail(e.to_string()))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = memory(Some(run.server_pid))?;
    writeln!(
        report,
        "flood: {phones} phones sent {sent_total} frames of {} bytes ({:.1} MiB) in {:.1} s, each until cut off or {} frames",
        frame.len(),
        (sent_total * frame.len()) as f64 / 1048576.0,
        took.as_secs_f64(),
        plan.frames
    )?;
    writeln!(report, "  phones by outcome: {codes:?} (4003 = flooding)")?;
    writeln!(
        report,
        "  server RSS: before {:.1} MiB, peak while flooding {:.1} MiB (+{:.1} MiB, {:.1} KiB per flooding phone), 2 s after {:.1} MiB",
        before.rss_kib as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak.saturating_sub(before.rss_kib)) as f64 / 1024.0,
        kib_per(peak as i64 - before.rss_kib as i64, phones),
        after.rss_kib as f64 / 1024.0
    )?;
    Ok(report)
}

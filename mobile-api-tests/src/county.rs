//! The county simulation (issue 19, part 6): the whole closed loop at a multiple of the
//! demo county's expected load, against one server or several nodes, checking at the end
//! that every case closed and that nothing was lost or done twice.
//!
//! # The load
//! The demo county (`gridlink serve --demo`, 宿迁市宿城区) has 18 townships, 208
//! communities and about 4,100 grids, each with one grid worker's account. Its expected
//! load is an **assumption**, stated and adjustable, not a measurement:
//! - [`LoadModel::cases_per_grid_week`] cases per grid per week (3 by default: "a few a
//!   week" is the order that published accounts of Chinese grid governance describe; it
//!   has not been measured in this county, which is synthetic);
//! - the busiest hour carries [`LoadModel::peak_share`] of a day's cases (0.25 by
//!   default: a day's cases arrive in 8 duty hours and the busiest carries twice the mean);
//! - so the expected peak is `grids × cases_per_grid_week ÷ 7 × peak_share` cases an hour,
//!   and the simulation runs [`LoadModel::scale`] times that (10 by default), as reports
//!   per second. Every case is a resident's report and walks the longest path of the loop.
//!
//! # The actors
//! - **Residents** report anonymously (`POST /api/v1/reports`, each with its own
//!   `Idempotency-Key` and its own address in `X-Forwarded-For`, as a load balancer in
//!   front of the nodes would say: the server must trust loopback as that proxy, else the
//!   per-address limit refuses them), at random points inside random grids, with Poisson
//!   (or even) arrivals; a transport error is retried with the same key.
//! - **The centre** (`centre`) watches its area on the sync socket, as its page does; for
//!   each new case of the run it accepts it and dispatches it to its grid; for each handled
//!   one it verifies and closes it. After the close the resident rates it with the follow
//!   token their report returned.
//! - **Grid workers' phones** (the reference client [`Phone`] over the real socket, one
//!   per worker of the grids that receive cases) take each task and complete it after a
//!   short pause, by socket mutations with unique ids. With [`CountyPlan::drop_share`] a
//!   phone loses its connection right after sending a mutation and reconnects (to a
//!   random node), so that the outbox sends it again: the path "exactly once" rests on.
//!
//! Several `--base` URLs are several nodes of one deployment: residents, logins and the
//! centre's requests go round the nodes, phones are spread over them.
//!
//! # The checks
//! After a drain, from the API: every report answered 201; the cases of the run listed by
//! the centre are exactly those 201s (none lost, none made twice); every case is closed
//! with exactly one task; its history is exactly the loop (`reported`, `registered`,
//! `dispatched`, `task_accepted`, `task_completed`, `verification_passed`, `closed`, and
//! `rated` when rated), so no mutation or action was applied twice; every mutation was
//! answered `ok`; every phone received each of its tasks once, and no device received
//! a change (`seq`) twice; the server refused nothing. Each check is a PASS or FAIL line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sync_protocol::phone::{Phone, PhoneError};
use sync_protocol::{ClientMessage, Item, Op, OpKind, ServerMessage};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::load::{CpuMeter, LoadError, Result, Rng, percentile};

fn fail(message: impl Into<String>) -> LoadError {
    LoadError(message.into())
}

// ---------------------------------------------------------------------------------------
// The load.

/// The demo county's expected load and the multiple of it to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadModel {
    /// Grids in the county (each with one worker).
    pub grids: usize,
    /// Assumed cases per grid per week.
    pub cases_per_grid_week: f64,
    /// Assumed share of a day's cases that arrive in its busiest hour.
    pub peak_share: f64,
    /// The multiple of the expected peak to simulate.
    pub scale: f64,
}

impl LoadModel {
    /// The assumptions above (3 cases per grid per week, a quarter of a day's cases in
    /// the busiest hour) for `grids` grids at `scale` times.
    pub fn new(grids: usize, scale: f64) -> LoadModel {
        LoadModel { grids, cases_per_grid_week: 3.0, peak_share: 0.25, scale }
    }

    /// Expected cases a day.
    pub fn per_day(&self) -> f64 {
        self.grids as f64 * self.cases_per_grid_week / 7.0
    }

    /// Expected cases in the busiest hour.
    pub fn peak_per_hour(&self) -> f64 {
        self.per_day() * self.peak_share
    }

    /// Reports per second to send: the busiest hour, times the scale.
    pub fn rate_per_second(&self) -> f64 {
        self.peak_per_hour() * self.scale / 3600.0
    }

    /// The definition, as the report states it.
    pub fn describe(&self) -> String {
        format!(
            "expected load (an assumption, not a measurement): {} cases per grid per week × {} grids = {:.0} cases a day; \
             the busiest hour carries {:.0} % of a day's cases (a day's cases in 8 duty hours, the busiest twice the mean) \
             = {:.0} cases/h = {:.3}/s; simulated ×{}: {:.0} reports/h = {:.3} reports/s, each a resident's report walked \
             through the whole loop (accept, dispatch, take, complete, verify, close, rate)",
            self.cases_per_grid_week,
            self.grids,
            self.per_day(),
            self.peak_share * 100.0,
            self.peak_per_hour(),
            self.peak_per_hour() / 3600.0,
            self.scale,
            self.peak_per_hour() * self.scale,
            self.rate_per_second()
        )
    }
}

/// How reports arrive in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// A Poisson process: exponential gaps, as independent residents make.
    Poisson,
    /// Evenly spaced.
    Even,
}

/// What the county scenario does.
#[derive(Debug, Clone)]
pub struct CountyPlan {
    /// The nodes' base URLs (`http://127.0.0.1:8080`); several are one deployment.
    pub bases: Vec<String>,
    /// The load's definition (the rate follows from it unless `rate` is given).
    pub model: LoadModel,
    /// Reports per second, in place of the model's.
    pub rate: Option<f64>,
    /// How long residents report.
    pub duration: Duration,
    /// How reports are spread in time.
    pub arrivals: Arrivals,
    /// Reports fall only in this many grids (drawn at random), to keep logins few in a
    /// short test; `None`: any grid of the county.
    pub grid_limit: Option<usize>,
    /// Log in and connect every worker of the county, not only those of the grids that
    /// receive cases (the fan-out and the snapshots at the county's full size).
    pub all_workers: bool,
    /// The share of mutations after which the phone loses its connection and reconnects.
    pub drop_share: f64,
    /// The longest pause between taking a task and completing it (drawn uniformly from
    /// zero to this): the work on site, compressed.
    pub work_max: Duration,
    /// The share of closed cases their resident rates.
    pub rate_share: f64,
    /// How long to wait, after the last report, for every case to close.
    pub drain: Duration,
    /// Logins at a time (each an Argon2 hash on the server).
    pub login_concurrency: usize,
    /// The centre's cases in hand at once (each step is one or two requests).
    pub centre_in_flight: usize,
    /// The seed of every random choice.
    pub seed: u64,
    /// Server process ids on this machine, whose CPU use is reported (none: not measured).
    pub server_pids: Vec<u32>,
    /// Whether to tell progress on standard error.
    pub progress: bool,
}

impl CountyPlan {
    /// The plan for `bases` at `scale` times the county's expected load for `duration`,
    /// with the defaults of the `loadgen county` command.
    pub fn new(bases: Vec<String>, grids: usize, scale: f64, duration: Duration) -> CountyPlan {
        CountyPlan {
            bases,
            model: LoadModel::new(grids, scale),
            rate: None,
            duration,
            arrivals: Arrivals::Poisson,
            grid_limit: None,
            all_workers: false,
            drop_share: 0.02,
            work_max: Duration::from_secs(3),
            rate_share: 1.0,
            drain: Duration::from_secs(60),
            login_concurrency: 4,
            centre_in_flight: 16,
            seed: 1,
            server_pids: Vec::new(),
            progress: true,
        }
    }

    /// Reports per second.
    pub fn reports_per_second(&self) -> f64 {
        self.rate.unwrap_or_else(|| self.model.rate_per_second())
    }
}

/// The number of grids in the demo county.
pub fn demo_grid_count() -> Result<usize> {
    Ok(demo_units()?.grids().count())
}

fn demo_units() -> Result<&'static geodata::Layer> {
    crate::demo_layer().ok_or_else(|| fail("the demo area could not be built"))
}

/// Residents' categories: handled at the grid level, never dispatched by a rule, no grade.
const CATEGORIES: [&str; 12] =
    ["C0103", "C0104", "C0106", "C0201", "C0202", "C0205", "C0301", "C0303", "C0305", "G0101", "T0101", "T0202"];

/// One planned report.
#[derive(Debug, Clone)]
struct Arrival {
    /// When, from the start of the reporting.
    at: Duration,
    /// Into which grid (an index into the grids).
    grid: usize,
    lon: f64,
    lat: f64,
    category: &'static str,
    /// Whether its resident rates the closed case.
    rates: bool,
}

/// A demo grid: its code and its boundary.
struct DemoGrid {
    code: String,
    geometry: &'static geo::MultiPolygon<f64>,
}

fn demo_grids() -> Result<Vec<DemoGrid>> {
    let mut grids: Vec<DemoGrid> =
        demo_units()?.grids().map(|g| DemoGrid { code: g.code.to_string(), geometry: &g.geometry }).collect();
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    if grids.is_empty() {
        return Err(fail("the demo area has no grids"));
    }
    Ok(grids)
}

fn unit_interval(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random point well inside `grid` (a 10 m square around it inside too), so that the
/// server places it in that grid; the grid's interior point if none is found.
fn point_in(grid: &DemoGrid, rng: &mut Rng) -> Option<(f64, f64)> {
    use geo::{BoundingRect, Contains, InteriorPoint, Rect};
    let bounds = grid.geometry.bounding_rect()?;
    let d = 0.00005;
    for _ in 0..200 {
        let x = bounds.min().x + unit_interval(rng) * bounds.width();
        let y = bounds.min().y + unit_interval(rng) * bounds.height();
        if grid.geometry.contains(&Rect::new((x - d, y - d), (x + d, y + d))) {
            return Some((x, y));
        }
    }
    grid.geometry.interior_point().map(|p| (p.x(), p.y()))
}

/// The reports of the run, in time order.
fn arrivals(plan: &CountyPlan, grids: &[DemoGrid]) -> Vec<Arrival> {
    let mut rng = Rng::new(plan.seed);
    let rate = plan.reports_per_second();
    let mut pool: Vec<usize> = (0..grids.len()).collect();
    if let Some(limit) = plan.grid_limit {
        // A seeded shuffle's first `limit`.
        for i in (1..pool.len()).rev() {
            let j = rng.below(i + 1);
            pool.swap(i, j);
        }
        pool.truncate(limit.max(1));
    }
    let mut out = Vec::new();
    let mut t = 0.0;
    let end = plan.duration.as_secs_f64();
    loop {
        t += match plan.arrivals {
            Arrivals::Poisson => -(1.0 - unit_interval(&mut rng)).ln() / rate,
            Arrivals::Even => 1.0 / rate,
        };
        if t >= end {
            break;
        }
        let grid = pool[rng.below(pool.len())];
        let Some((lon, lat)) = point_in(&grids[grid], &mut rng) else { continue };
        let category = CATEGORIES[rng.below(CATEGORIES.len())];
        let rates = unit_interval(&mut rng) < plan.rate_share;
        out.push(Arrival { at: Duration::from_secs_f64(t), grid, lon, lat, category, rates });
    }
    out
}

// ---------------------------------------------------------------------------------------
// The nodes over HTTP.

/// An answer: its status, body and round trip.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
}

/// The nodes of the deployment, over HTTP, taken in turn.
#[derive(Debug, Clone)]
struct Nodes {
    bases: Arc<Vec<String>>,
    client: reqwest::Client,
    turn: Arc<AtomicUsize>,
}

impl Nodes {
    fn new(bases: &[String]) -> Result<Nodes> {
        if bases.is_empty() {
            return Err(fail("no server to run against (--base)"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(64)
            .build()?;
        let bases = bases.iter().map(|b| b.trim_end_matches('/').to_owned()).collect();
        Ok(Nodes { bases: Arc::new(bases), client, turn: Arc::new(AtomicUsize::new(0)) })
    }

    /// The next node in turn.
    fn next(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed) % self.bases.len()
    }

    fn ws_urls(&self) -> Vec<String> {
        self.bases
            .iter()
            .map(|b| format!("{}/api/v1/sync", b.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1)))
            .collect()
    }

    /// A request to the next node in turn: GET when `body` is `None`, else POST it.
    async fn call(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> std::result::Result<Answer, reqwest::Error> {
        let url = format!("{}{path}", self.bases[self.next()]);
        let mut request = match body {
            Some(body) => self.client.post(url).json(body),
            None => self.client.get(url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    async fn healthy(&self) -> Result<()> {
        for base in self.bases.iter() {
            let answer = self.client.get(format!("{base}/healthz")).timeout(Duration::from_secs(5)).send().await;
            if !answer.is_ok_and(|r| r.status().is_success()) {
                return Err(fail(format!("{base} does not answer /healthz")));
            }
        }
        Ok(())
    }

    /// Logs a demo account in (password `demo`) on the next node, trying three times.
    async fn login(&self, login: &str) -> Result<String> {
        let body = json!({"login": login, "password": "demo"});
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            match self.call("/api/v1/auth/login", None, Some(&body), &[]).await {
                Ok(Answer { status: 200, body }) => {
                    if let Some(token) = body["token"].as_str() {
                        return Ok(token.to_owned());
                    }
                    last = format!("no token in {body}");
                }
                Ok(Answer { status, body }) => last = format!("{status} {}", clip(&body.to_string())),
                Err(e) => last = e.to_string(),
            }
        }
        Err(fail(format!("login {login}: {last}")))
    }
}

fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(400).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------
// What happened, as the actors saw it.

/// The moments of a case's life, in milliseconds from the start of the reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// The resident sent the report.
    Sent,
    /// It answered 201.
    Created,
    /// The centre's socket showed it `reported`.
    Seen,
    /// The centre's accept answered.
    Accepted,
    /// The centre sent the dispatch.
    DispatchSent,
    /// The dispatch answered.
    Dispatched,
    /// The worker's phone received the open task.
    OnPhone,
    /// The phone's `accept_task` was answered ok.
    Taken,
    /// The phone sent `complete_task`.
    CompleteSent,
    /// It was answered ok.
    Done,
    /// The centre's socket showed the case `handled`.
    SeenHandled,
    /// The centre's verify answered.
    Verified,
    /// The centre's close answered.
    Closed,
    /// The resident's rating answered.
    Rated,
}

const STAMPS: usize = 14;

/// One case of the run, as the actors saw it.
#[derive(Debug, Clone, Default)]
struct CaseLog {
    /// The planned report's index.
    n: Option<usize>,
    follow_token: Option<String>,
    rates: bool,
    task: Option<String>,
    at: [Option<f64>; STAMPS],
    /// The centre took the case in hand (accept and dispatch), or the handled case
    /// (verify and close): each once.
    accepting: bool,
    closing: bool,
}

/// Counts kept as the run goes.
#[derive(Debug, Default)]
struct Counters {
    reports_sent: AtomicUsize,
    reports_created: AtomicUsize,
    report_retries: AtomicUsize,
    centre_requests: AtomicUsize,
    ratings: AtomicUsize,
    mutations_sent: AtomicUsize,
    planned_drops: AtomicUsize,
    unplanned_drops: AtomicUsize,
    reconnects: AtomicUsize,
    resent: AtomicUsize,
    lost_phones: AtomicUsize,
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

fn bump(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

/// What the run saw, shared by every actor.
#[derive(Debug)]
struct Book {
    started: Instant,
    /// Every report of the run starts its description with it.
    tag: String,
    cases: Mutex<HashMap<String, CaseLog>>,
    /// Refusals and errors: what was asked and what came back (the first few in full).
    refusals: Mutex<Vec<String>>,
    refusal_count: AtomicUsize,
    counters: Counters,
}

impl Book {
    fn ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1e3
    }

    fn with<T>(&self, case: &str, f: impl FnOnce(&mut CaseLog) -> T) -> T {
        let mut cases = self.cases.lock().unwrap_or_else(PoisonError::into_inner);
        f(cases.entry(case.to_owned()).or_default())
    }

    /// Stamps `stamp` on `case` now (the first time only).
    fn stamp(&self, case: &str, stamp: Stamp) {
        let now = self.ms();
        self.with(case, |c| {
            c.at[stamp as usize].get_or_insert(now);
        });
    }

    fn refused(&self, what: String) {
        self.refusal_count.fetch_add(1, Ordering::SeqCst);
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        if refusals.len() < 20 {
            refusals.push(what);
        }
    }

    fn snapshot(&self) -> HashMap<String, CaseLog> {
        self.cases.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Cases created (201), and of those closed, and rated of those to rate.
    fn progress(&self) -> (usize, usize, usize, usize) {
        let cases = self.cases.lock().unwrap_or_else(PoisonError::into_inner);
        let created: Vec<&CaseLog> = cases.values().filter(|c| c.n.is_some()).collect();
        let closed = created.iter().filter(|c| c.at[Stamp::Closed as usize].is_some()).count();
        let to_rate = created.iter().filter(|c| c.rates).count();
        let rated = created.iter().filter(|c| c.rates && c.at[Stamp::Rated as usize].is_some()).count();
        (created.len(), closed, to_rate, rated)
    }
}

// ---------------------------------------------------------------------------------------
// Residents.

/// One resident's report: sent at its time, retried with the same key on a transport
/// error; the case is booked on 201.
async fn resident(nodes: Nodes, book: Arc<Book>, n: usize, arrival: Arrival, grid: String) {
    let body = json!({
        "category": arrival.category,
        "location": {"lon": arrival.lon, "lat": arrival.lat, "crs": "wgs84"},
        "description": format!("{} #{n}: 网格 {grid}", book.tag),
    });
    // A resident of their own: an address of 10.0.0.0/8 (the n-th after 10.0.0.0).
    let k = n as u32 + 1;
    let address = format!("10.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255);
    let headers = [("Idempotency-Key", format!("{}-{n}", book.tag)), ("X-Forwarded-For", address)];
    let sent = book.ms();
    bump(&book.counters.reports_sent);
    let mut answer = None;
    let mut error = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            bump(&book.counters.report_retries);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match nodes.call("/api/v1/reports", None, Some(&body), &headers).await {
            Ok(a) => {
                answer = Some(a);
                break;
            }
            Err(e) => error = e.to_string(),
        }
    }
    let created = book.ms();
    match answer {
        Some(Answer { status: 201, body: opened }) => match opened["id"].as_str() {
            Some(id) => {
                bump(&book.counters.reports_created);
                book.with(id, |c| {
                    c.n = Some(n);
                    c.follow_token = opened["follow_token"].as_str().map(str::to_owned);
                    c.rates = arrival.rates;
                    c.at[Stamp::Sent as usize] = Some(sent);
                    c.at[Stamp::Created as usize] = Some(created);
                });
            }
            None => book.refused(format!("POST /api/v1/reports {body} → 201 without an id: {opened}")),
        },
        Some(Answer { status, body: answer }) => {
            book.refused(format!("POST /api/v1/reports {body} → {status} {}", clip(&answer.to_string())))
        }
        None => book.refused(format!("POST /api/v1/reports {body} → no answer after 3 tries: {error}")),
    }
}

// ---------------------------------------------------------------------------------------
// Phones: the workers' and the centre's socket.

/// What one device saw of the change log.
#[derive(Debug, Default, Clone)]
struct Heard {
    /// Every change number received in `changes` frames, with how often.
    seqs: HashMap<i64, usize>,
    /// Each task of the run received while open, with how often.
    open_tasks: HashMap<String, usize>,
    /// Answers per mutation id (a mutation sent again after a reconnect is answered again).
    answers: HashMap<String, usize>,
    /// `changes` frames received (each acknowledged by the reference client).
    frames: usize,
}

impl Heard {
    fn duplicate_seqs(&self) -> usize {
        self.seqs.values().filter(|n| **n > 1).count()
    }
}

/// A worker's phone at work.
struct Worker {
    /// The worker's grid.
    grid: String,
    phone: Phone,
    urls: Arc<Vec<String>>,
    node: usize,
    rng: Rng,
    book: Arc<Book>,
    drop_share: f64,
    work_max: Duration,
    heard: Heard,
    /// Completions due: when, which task, which case.
    due: Vec<(Instant, String, String)>,
    /// Tasks taken in hand (accept sent): task id → case id.
    handled: HashMap<String, String>,
}

/// How long a phone may be silent before it pings (the server pings every 30 s).
const QUIET: Duration = Duration::from_secs(20);

/// How long a phone keeps trying to reconnect.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Connects (to node `node`, then any) until welcomed, trying for [`RECONNECT_FOR`].
async fn connect(phone: &mut Phone, urls: &[String], node: &mut usize, rng: &mut Rng) -> Result<(), PhoneError> {
    let started = Instant::now();
    loop {
        phone.set_url(urls[*node % urls.len()].clone());
        match tokio::time::timeout(Duration::from_secs(15), phone.connect()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if started.elapsed() > RECONNECT_FOR => return Err(e),
            Err(_) if started.elapsed() > RECONNECT_FOR => return Err(PhoneError::Timeout),
            _ => {
                phone.drop_connection();
                *node = rng.below(urls.len().max(1));
                tokio::time::sleep(Duration::from_millis(200 + rng.below(800) as u64)).await;
            }
        }
    }
}

/// Whether `data` (a task's or a case's) belongs to this run.
fn ours(book: &Book, description: &Value) -> bool {
    description.as_str().is_some_and(|d| d.starts_with(&book.tag))
}

impl Worker {
    /// Connects the first time and takes the snapshot in; then works until `stop`.
    async fn run(mut self, gate: Arc<Semaphore>, ready: Arc<AtomicUsize>, mut stop: watch::Receiver<bool>) -> Heard {
        let first = {
            let _permit = gate.acquire().await;
            self.first_connection().await
        };
        if let Err(e) = first {
            bump(&self.book.counters.lost_phones);
            self.book.refused(format!("worker-{}'s phone could not connect: {e}", self.grid));
            ready.fetch_add(1, Ordering::SeqCst);
            return self.heard;
        }
        ready.fetch_add(1, Ordering::SeqCst);
        loop {
            if *stop.borrow_and_update() {
                self.phone.disconnect().await;
                return self.heard;
            }
            if !self.phone.is_connected() {
                bump(&self.book.counters.reconnects);
                self.book.counters.resent.fetch_add(self.phone.state.outbox.len(), Ordering::SeqCst);
                if let Err(e) = connect(&mut self.phone, &self.urls, &mut self.node, &mut self.rng).await {
                    bump(&self.book.counters.lost_phones);
                    self.book.refused(format!("worker-{}'s phone could not reconnect: {e}", self.grid));
                    return self.heard;
                }
                continue;
            }
            let now = Instant::now();
            if let Some(i) = self.due.iter().position(|(at, _, _)| *at <= now) {
                let (_, task, case) = self.due.swap_remove(i);
                self.book.stamp(&case, Stamp::CompleteSent);
                let op = OpKind::CompleteTask {
                    task_id: task.clone(),
                    result: "已处置（模拟）".into(),
                    photos: vec![],
                    location: None,
                };
                self.mutate(format!("complete-{task}"), op).await;
                continue;
            }
            let wait = self.due.iter().map(|(at, _, _)| at.saturating_duration_since(now)).min().unwrap_or(QUIET);
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() {
                        self.phone.disconnect().await;
                        return self.heard;
                    }
                }
                received = self.phone.recv(wait.min(QUIET)) => match received {
                    Ok(message) => self.take_in(message).await,
                    Err(PhoneError::Timeout) => {
                        if self.due.is_empty() && self.phone.send(&ClientMessage::Ping { nonce: None }).await.is_err() {
                            self.phone.drop_connection();
                        }
                    }
                    Err(e) => {
                        bump(&self.book.counters.unplanned_drops);
                        self.book.refused(format!("worker-{}'s socket dropped: {e}", self.grid));
                        self.phone.drop_connection();
                    }
                }
            }
        }
    }

    async fn first_connection(&mut self) -> Result<(), PhoneError> {
        connect(&mut self.phone, &self.urls, &mut self.node, &mut self.rng).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.phone.recv(left.max(Duration::from_millis(1))).await?;
            let done = matches!(message, ServerMessage::SnapshotEnd { .. });
            self.take_in(message).await;
            if done {
                return Ok(());
            }
        }
    }

    async fn take_in(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Changes { items, .. } => {
                self.heard.frames += 1;
                for item in &items {
                    *self.heard.seqs.entry(item.seq).or_default() += 1;
                }
                for item in items {
                    self.task_item(item).await;
                }
            }
            ServerMessage::Snapshot { items } => {
                for item in items {
                    self.task_item(item).await;
                }
            }
            ServerMessage::MutationResult { id, ok, retry, code, detail } => {
                *self.heard.answers.entry(id.clone()).or_default() += 1;
                let task = id.split_once('-').map(|(_, t)| t.to_owned()).unwrap_or_default();
                let case = self.handled.get(&task).cloned();
                if !ok || retry {
                    self.book.refused(format!(
                        "worker-{} mutate {id} → ok {ok}, retry {retry}, code {code:?}, detail {detail:?}",
                        self.grid
                    ));
                    return;
                }
                let Some(case) = case else { return };
                if id.starts_with("accept-") {
                    self.book.stamp(&case, Stamp::Taken);
                    let pause = self.work_max.mul_f64(unit_interval(&mut self.rng));
                    if !self.due.iter().any(|(_, t, _)| *t == task) && self.heard.answers.get(&id) == Some(&1) {
                        self.due.push((Instant::now() + pause, task, case));
                    }
                } else if id.starts_with("complete-") {
                    self.book.stamp(&case, Stamp::Done);
                }
            }
            _ => {}
        }
    }

    /// A task item: a new open task of the run is received once and taken.
    async fn task_item(&mut self, item: Item) {
        if item.kind != "task" || item.removed || !ours(&self.book, &item.data["incident"]["description"]) {
            return;
        }
        if item.data["status"] != "open" || item.data["kind"] != "handle" {
            return;
        }
        *self.heard.open_tasks.entry(item.id.clone()).or_default() += 1;
        let Some(case) = item.data["incident_id"].as_str().map(str::to_owned) else { return };
        if self.handled.insert(item.id.clone(), case.clone()).is_some() {
            return;
        }
        self.book.with(&case, |c| {
            c.task.get_or_insert_with(|| item.id.clone());
        });
        self.book.stamp(&case, Stamp::OnPhone);
        self.mutate(format!("accept-{}", item.id), OpKind::AcceptTask { task_id: item.id.clone() }).await;
    }

    /// Sends a mutation (kept in the outbox until answered); now and then the connection
    /// is lost right after, and the outbox sends it again on the next connection.
    async fn mutate(&mut self, id: String, kind: OpKind) {
        bump(&self.book.counters.mutations_sent);
        if self.phone.mutate(id, Op { kind, occurred_at: None }).await.is_err() {
            self.phone.drop_connection();
            return;
        }
        if self.drop_share > 0.0 && unit_interval(&mut self.rng) < self.drop_share {
            bump(&self.book.counters.planned_drops);
            self.phone.drop_connection();
            self.node = self.rng.below(self.urls.len().max(1));
            tokio::time::sleep(Duration::from_millis(50 + self.rng.below(250) as u64)).await;
        }
    }
}

/// The centre's desk: its socket, and the requests it sends.
struct Centre {
    phone: Phone,
    urls: Arc<Vec<String>>,
    node: usize,
    rng: Rng,
    nodes: Nodes,
    token: String,
    book: Arc<Book>,
    gate: Arc<Semaphore>,
    jobs: JoinSet<()>,
    heard: Heard,
}

impl Centre {
    async fn run(mut self, ready: Arc<AtomicUsize>, mut stop: watch::Receiver<bool>) -> Heard {
        let first = async {
            connect(&mut self.phone, &self.urls, &mut self.node, &mut self.rng).await?;
            loop {
                let message = self.phone.recv(Duration::from_secs(120)).await?;
                if matches!(message, ServerMessage::SnapshotEnd { .. }) {
                    return Ok::<_, PhoneError>(());
                }
                self.take_in(message);
            }
        };
        if let Err(e) = first.await {
            self.book.refused(format!("the centre's socket could not connect: {e}"));
            ready.fetch_add(1, Ordering::SeqCst);
            return self.heard;
        }
        ready.fetch_add(1, Ordering::SeqCst);
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            if !self.phone.is_connected() {
                bump(&self.book.counters.reconnects);
                if let Err(e) = connect(&mut self.phone, &self.urls, &mut self.node, &mut self.rng).await {
                    self.book.refused(format!("the centre's socket could not reconnect: {e}"));
                    break;
                }
                continue;
            }
            while self.jobs.try_join_next().is_some() {}
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                received = self.phone.recv(QUIET) => match received {
                    Ok(message) => self.take_in(message),
                    Err(PhoneError::Timeout) => {
                        if self.phone.send(&ClientMessage::Ping { nonce: None }).await.is_err() {
                            self.phone.drop_connection();
                        }
                    }
                    Err(e) => {
                        bump(&self.book.counters.unplanned_drops);
                        self.book.refused(format!("the centre's socket dropped: {e}"));
                        self.phone.drop_connection();
                    }
                }
            }
        }
        self.phone.disconnect().await;
        while self.jobs.join_next().await.is_some() {}
        self.heard
    }

    fn take_in(&mut self, message: ServerMessage) {
        let items = match message {
            ServerMessage::Changes { items, .. } => {
                self.heard.frames += 1;
                for item in &items {
                    *self.heard.seqs.entry(item.seq).or_default() += 1;
                }
                items
            }
            ServerMessage::Snapshot { items } => items,
            _ => return,
        };
        for item in items {
            if item.kind != "incident" || item.removed || !ours(&self.book, &item.data["description"]) {
                continue;
            }
            let (case, data) = (item.id, item.data);
            match data["status"].as_str() {
                Some("reported") => {
                    self.book.stamp(&case, Stamp::Seen);
                    if self.book.with(&case, |c| !std::mem::replace(&mut c.accepting, true)) {
                        let grid = data["grid"].as_str().unwrap_or_default().to_owned();
                        let (nodes, token, book, gate) =
                            (self.nodes.clone(), self.token.clone(), self.book.clone(), self.gate.clone());
                        self.jobs.spawn(async move {
                            let _permit = gate.acquire_owned().await;
                            accept_and_dispatch(&nodes, &token, &book, &case, &grid).await;
                        });
                    }
                }
                Some("handled") => {
                    self.book.stamp(&case, Stamp::SeenHandled);
                    if self.book.with(&case, |c| !std::mem::replace(&mut c.closing, true)) {
                        let (nodes, token, book, gate) =
                            (self.nodes.clone(), self.token.clone(), self.book.clone(), self.gate.clone());
                        self.jobs.spawn(async move {
                            let _permit = gate.acquire_owned().await;
                            if verify_and_close(&nodes, &token, &book, &case).await {
                                rate(&nodes, &book, &case).await;
                            }
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

/// One of the centre's actions on `case`; whether it answered 200 (a refusal is booked
/// with the request and the answer).
async fn act(nodes: &Nodes, token: &str, book: &Book, case: &str, body: Value) -> Option<Value> {
    bump(&book.counters.centre_requests);
    let path = format!("/api/v1/incidents/{case}/actions");
    match nodes.call(&path, Some(token), Some(&body), &[]).await {
        Ok(Answer { status: 200, body: answer }) => Some(answer),
        Ok(Answer { status, body: answer }) => {
            book.refused(format!("POST {path} {body} → {status} {}", clip(&answer.to_string())));
            None
        }
        Err(e) => {
            book.refused(format!("POST {path} {body} → no answer: {e}"));
            None
        }
    }
}

async fn accept_and_dispatch(nodes: &Nodes, token: &str, book: &Book, case: &str, grid: &str) {
    if act(nodes, token, book, case, json!({"action": "accept"})).await.is_none() {
        return;
    }
    book.stamp(case, Stamp::Accepted);
    book.stamp(case, Stamp::DispatchSent);
    let Some(answer) = act(nodes, token, book, case, json!({"action": "dispatch", "to": {"grid": grid}})).await else {
        return;
    };
    book.stamp(case, Stamp::Dispatched);
    if let Some(task) = answer["tasks"].as_array().and_then(|t| t.last()).and_then(|t| t["id"].as_str()) {
        book.with(case, |c| {
            c.task.get_or_insert_with(|| task.to_owned());
        });
    }
}

async fn verify_and_close(nodes: &Nodes, token: &str, book: &Book, case: &str) -> bool {
    if act(nodes, token, book, case, json!({"action": "verify", "passed": true})).await.is_none() {
        return false;
    }
    book.stamp(case, Stamp::Verified);
    if act(nodes, token, book, case, json!({"action": "close"})).await.is_none() {
        return false;
    }
    book.stamp(case, Stamp::Closed);
    true
}

/// The resident rates the closed case with their follow token, if they are one who rates.
async fn rate(nodes: &Nodes, book: &Book, case: &str) {
    let (rates, token) = book.with(case, |c| (c.rates, c.follow_token.clone()));
    let Some(token) = token.filter(|_| rates) else { return };
    bump(&book.counters.ratings);
    let path = format!("/api/v1/reports/{case}/rating");
    let body = json!({"follow_token": token, "rating": "satisfied"});
    match nodes.call(&path, None, Some(&body), &[]).await {
        Ok(Answer { status: 200, .. }) => book.stamp(case, Stamp::Rated),
        Ok(Answer { status, body: answer }) => {
            book.refused(format!("POST {path} {{\"rating\":\"satisfied\"}} → {status} {}", clip(&answer.to_string())))
        }
        Err(e) => book.refused(format!("POST {path} → no answer: {e}")),
    }
}

// ---------------------------------------------------------------------------------------
// The run.

/// One check's verdict.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The figures behind it, and what did not hold.
    pub detail: String,
}

/// The scenario's outcome: the report and its checks.
#[derive(Debug, Clone)]
pub struct CountyReport {
    /// The whole report, in plain text, the checks' PASS and FAIL lines last.
    pub text: String,
    /// The checks.
    pub checks: Vec<Check>,
    /// Cases created (answered 201).
    pub cases: usize,
    /// Connections dropped on purpose right after a mutation.
    pub planned_drops: usize,
    /// Mutations sent again from the outboxes on reconnecting.
    pub resent: usize,
}

impl CountyReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check { name: name.to_owned(), passed, detail }
}

fn say(plan: &CountyPlan, what: std::fmt::Arguments<'_>) {
    if plan.progress {
        eprintln!("{what}");
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs the county scenario: logins, phones and the centre connected, residents reporting
/// for the plan's duration, a drain, then the checks.
pub async fn county(plan: &CountyPlan) -> Result<CountyReport> {
    let mut text = String::new();
    let nodes = Nodes::new(&plan.bases)?;
    nodes.healthy().await?;
    let grids = demo_grids()?;
    let units = demo_units()?;
    let rate = plan.reports_per_second();
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(fail("the rate of reports must be positive"));
    }
    writeln!(text, "scenario county: {} node(s): {}", plan.bases.len(), plan.bases.join(", "))?;
    writeln!(
        text,
        "the demo county (宿迁市宿城区, `gridlink serve --demo`): {} townships, {} communities, {} grids, one grid worker's account each",
        units.at_level(geodata::Level::Township).count(),
        units.at_level(geodata::Level::Community).count(),
        grids.len()
    )?;
    writeln!(text, "{}", plan.model.describe())?;
    if let Some(rate) = plan.rate {
        writeln!(text, "  rate set by hand instead: {rate:.3} reports/s")?;
    }
    let planned = arrivals(plan, &grids);
    let mut used: Vec<usize> = if plan.all_workers {
        (0..grids.len()).collect()
    } else {
        planned.iter().map(|a| a.grid).collect::<std::collections::BTreeSet<_>>().into_iter().collect()
    };
    used.sort_unstable();
    writeln!(
        text,
        "plan: {} reports over {:.0} s ({} arrivals, seed {}) into {} grids{}; {} resident(s) of {} rate their closed case",
        planned.len(),
        plan.duration.as_secs_f64(),
        match plan.arrivals {
            Arrivals::Poisson => "Poisson",
            Arrivals::Even => "evenly spaced",
        },
        plan.seed,
        planned.iter().map(|a| a.grid).collect::<HashSet<_>>().len(),
        plan.grid_limit.map_or_else(String::new, |l| format!(" (drawn from {l})")),
        planned.iter().filter(|a| a.rates).count(),
        planned.len()
    )?;
    writeln!(
        text,
        "  phones: one per worker of {} grids{}; a phone takes a task at once and completes it after a pause drawn from 0–{:.1} s (the work, compressed); {:.0} % of mutations are followed by a lost connection and a reconnect (to a random node)",
        used.len(),
        if plan.all_workers { " (every worker of the county)" } else { " that receive cases" },
        plan.work_max.as_secs_f64(),
        plan.drop_share * 100.0
    )?;
    writeln!(text, "load average before: {}", load_average())?;

    let tag = format!("loadgen-county-{:x}", crate::load::now_ms());
    let book = Arc::new(Book {
        started: Instant::now(),
        tag,
        cases: Mutex::new(HashMap::new()),
        refusals: Mutex::new(Vec::new()),
        refusal_count: AtomicUsize::new(0),
        counters: Counters::default(),
    });

    // Logins: the centre, then the workers, a few at a time.
    say(plan, format_args!("logging in the centre and {} workers, {} at a time", used.len(), plan.login_concurrency));
    let centre_token = nodes.login("centre").await?;
    let login_started = Instant::now();
    let gate = Arc::new(Semaphore::new(plan.login_concurrency.max(1)));
    let mut logins = JoinSet::new();
    for &g in &used {
        let (nodes, gate, code) = (nodes.clone(), gate.clone(), grids[g].code.clone());
        logins.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let token = nodes.login(&format!("worker-{code}")).await;
            (code, token)
        });
    }
    let mut tokens = BTreeMap::new();
    while let Some(joined) = logins.join_next().await {
        let (code, token) = joined.map_err(|e| fail(format!("a login task: {e}")))?;
        tokens.insert(code, token?);
    }
    let login_time = login_started.elapsed();

    // The centre's socket, then the phones, each caught up before the residents begin.
    let urls = Arc::new(nodes.ws_urls());
    let (stop, stopping) = watch::channel(false);
    let ready = Arc::new(AtomicUsize::new(0));
    let centre = Centre {
        phone: Phone::new(urls[0].clone(), centre_token.clone(), "loadgen-county-centre"),
        urls: urls.clone(),
        node: 0,
        rng: Rng::new(plan.seed ^ 0xCE17),
        nodes: nodes.clone(),
        token: centre_token.clone(),
        book: book.clone(),
        gate: Arc::new(Semaphore::new(plan.centre_in_flight.max(1))),
        jobs: JoinSet::new(),
        heard: Heard::default(),
    };
    let centre_task = tokio::spawn(centre.run(ready.clone(), stopping.clone()));
    let connect_started = Instant::now();
    let connect_gate = Arc::new(Semaphore::new(100));
    let mut phones: Vec<(String, tokio::task::JoinHandle<Heard>)> = Vec::new();
    for (i, (code, token)) in tokens.iter().enumerate() {
        let worker = Worker {
            grid: code.clone(),
            phone: Phone::new(urls[i % urls.len()].clone(), token.clone(), "loadgen-county"),
            urls: urls.clone(),
            node: i % urls.len(),
            rng: Rng::new(plan.seed ^ (0x9E37 + i as u64)),
            book: book.clone(),
            drop_share: plan.drop_share,
            work_max: plan.work_max,
            heard: Heard::default(),
            due: Vec::new(),
            handled: HashMap::new(),
        };
        phones.push((code.clone(), tokio::spawn(worker.run(connect_gate.clone(), ready.clone(), stopping.clone()))));
    }
    let everyone = phones.len() + 1;
    let mut told = Instant::now();
    while ready.load(Ordering::SeqCst) < everyone {
        if connect_started.elapsed() > Duration::from_secs(600) {
            return Err(fail("the phones did not connect within ten minutes"));
        }
        if told.elapsed() > Duration::from_secs(5) {
            told = Instant::now();
            say(plan, format_args!("  connected {}/{everyone}", ready.load(Ordering::SeqCst)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_time = connect_started.elapsed();
    writeln!(
        text,
        "logins: the centre and {} workers in {:.1} s ({} at a time); {} phones and the centre's socket connected and caught up in {:.1} s",
        tokens.len(),
        login_time.as_secs_f64(),
        plan.login_concurrency,
        phones.len(),
        connect_time.as_secs_f64()
    )?;

    // The residents.
    say(
        plan,
        format_args!("reporting: {} reports at {rate:.3}/s for {:.0} s", planned.len(), plan.duration.as_secs_f64()),
    );
    let cpu: Vec<(u32, CpuMeter)> = plan.server_pids.iter().map(|p| (*p, CpuMeter::start(*p))).collect();
    let own_cpu = CpuMeter::start(std::process::id());
    let begun = tokio::time::Instant::now();
    let begun_ms = crate::load::now_ms();
    let mut residents = JoinSet::new();
    let mut late = 0usize;
    let mut told = Instant::now();
    for (n, arrival) in planned.iter().enumerate() {
        let at = begun + arrival.at;
        if tokio::time::Instant::now() > at + Duration::from_millis(100) {
            late += 1;
        }
        tokio::time::sleep_until(at).await;
        let grid = grids[arrival.grid].code.clone();
        residents.spawn(resident(nodes.clone(), book.clone(), n, arrival.clone(), grid));
        while residents.try_join_next().is_some() {}
        if told.elapsed() > Duration::from_secs(10) {
            told = Instant::now();
            let (created, closed, _, _) = book.progress();
            say(plan, format_args!("  {n}/{} reported, {created} created, {closed} closed", planned.len()));
        }
    }
    tokio::time::sleep_until(begun + plan.duration).await;
    let reporting = begun.elapsed();
    while residents.join_next().await.is_some() {}
    let (created_then, closed_then, _, _) = book.progress();
    let cpu_read: Vec<(u32, (f64, f64, f64))> = cpu.iter().map(|(p, m)| (*p, m.read())).collect();
    let (_, own, machine) = own_cpu.read();
    let load_reporting = load_average();

    // The drain: every case closed (and rated where its resident rates).
    say(plan, format_args!("draining: waiting up to {:.0} s for every case to close", plan.drain.as_secs_f64()));
    let drain_started = Instant::now();
    loop {
        let (created, closed, to_rate, rated) = book.progress();
        if closed >= created && rated >= to_rate {
            break;
        }
        if drain_started.elapsed() > plan.drain {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_time = drain_started.elapsed();
    stop.send_replace(true);
    let centre_heard = centre_task.await.map_err(|e| fail(format!("the centre's task: {e}")))?;
    let mut heard: BTreeMap<String, Heard> = BTreeMap::new();
    for (code, task) in phones {
        heard.insert(code, task.await.map_err(|e| fail(format!("a phone's task: {e}")))?);
    }
    let load_after = load_average();

    // What the run did.
    let cases = book.snapshot();
    let created: BTreeMap<&String, &CaseLog> = cases.iter().filter(|(_, c)| c.n.is_some()).collect();
    let counters = &book.counters;
    let seconds = reporting.as_secs_f64().max(1e-3);
    let closed_count = created.values().filter(|c| c.at[Stamp::Closed as usize].is_some()).count();
    writeln!(
        text,
        "run: {} reports sent in {seconds:.1} s = {:.3}/s achieved ({:.3}/s planned; {late} sent over 100 ms late); {} created (201); by the end of the reporting {created_then} created and {closed_then} closed",
        count(&counters.reports_sent),
        count(&counters.reports_sent) as f64 / seconds,
        rate,
        count(&counters.reports_created),
    )?;
    writeln!(
        text,
        "  drain: {:.1} s until {}; {closed_count} of {} cases closed, {} rated; the centre sent {} requests ({:.2}/s over the run), the phones {} mutations",
        drain_time.as_secs_f64(),
        if drain_time > plan.drain { "it timed out" } else { "every case was closed" },
        created.len(),
        created.values().filter(|c| c.at[Stamp::Rated as usize].is_some()).count(),
        count(&counters.centre_requests),
        count(&counters.centre_requests) as f64 / (seconds + drain_time.as_secs_f64()),
        count(&counters.mutations_sent)
    )?;
    writeln!(
        text,
        "  connections: {} dropped on purpose after a mutation, {} dropped otherwise, {} reconnects, {} mutations in outboxes sent again on reconnecting, {} phones lost; report retries {}",
        count(&counters.planned_drops),
        count(&counters.unplanned_drops),
        count(&counters.reconnects),
        count(&counters.resent),
        count(&counters.lost_phones),
        count(&counters.report_retries)
    )?;
    let socket_seconds = seconds + drain_time.as_secs_f64();
    writeln!(
        text,
        "  sync: the centre's socket received {} changes in {} frames ({:.1} frames/s over the run and the drain), the phones {} changes in {} frames; the reference client acknowledges every frame",
        centre_heard.seqs.len(),
        centre_heard.frames,
        centre_heard.frames as f64 / socket_seconds,
        heard.values().map(|h| h.seqs.len()).sum::<usize>(),
        heard.values().map(|h| h.frames).sum::<usize>()
    )?;
    for (pid, (server, _, _)) in &cpu_read {
        writeln!(text, "  CPU while reporting: server pid {pid} {server:.0}% of a core")?;
    }
    writeln!(
        text,
        "  CPU while reporting: loadgen {own:.0}% of a core, whole machine {machine:.0}% busy (all cores); load average at the end of the reporting {load_reporting}, after the drain {load_after}"
    )?;
    latencies(&mut text, &created)?;

    // The checks, from the API and from what the devices heard.
    say(plan, format_args!("checking {} cases through the API", created.len()));
    let checks = checks(&nodes, &centre_token, &book, &created, &heard, &centre_heard, begun_ms).await?;
    writeln!(text, "checks:")?;
    for c in &checks {
        writeln!(text, "{} {}: {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail)?;
    }
    let refusals = book.refusals.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if !refusals.is_empty() {
        writeln!(
            text,
            "refusals and errors ({} in all; the first {}):",
            book.refusal_count.load(Ordering::SeqCst),
            refusals.len()
        )?;
        for r in refusals {
            writeln!(text, "  {r}")?;
        }
    }
    let (planned_drops, resent) = (count(&book.counters.planned_drops), count(&book.counters.resent));
    Ok(CountyReport { text, checks, cases: created.len(), planned_drops, resent })
}

/// Per-step latency, p50/p99/max (ms), from the stamps of the created cases.
fn latencies(text: &mut String, created: &BTreeMap<&String, &CaseLog>) -> Result<()> {
    use Stamp::*;
    let steps: [(&str, Stamp, Stamp); 12] = [
        ("report: sent → 201", Sent, Created),
        ("report → on the centre's socket", Sent, Seen),
        ("centre: seen → accepted", Seen, Accepted),
        ("centre: accepted → dispatched", Accepted, Dispatched),
        ("dispatch sent → on the worker's phone", DispatchSent, OnPhone),
        ("phone: received → taken (a lost connection's pause in)", OnPhone, Taken),
        ("phone: complete_task sent → answered (likewise)", CompleteSent, Done),
        ("complete sent → handled on the centre's socket", CompleteSent, SeenHandled),
        ("centre: seen handled → verified", SeenHandled, Verified),
        ("centre: verified → closed", Verified, Closed),
        ("resident: closed → rated", Closed, Rated),
        ("whole loop: report sent → closed (with the work pause)", Sent, Closed),
    ];
    writeln!(text, "latency per step (ms; p50 / p99 / max, n):")?;
    for (name, from, to) in steps {
        let mut v: Vec<f64> =
            created.values().filter_map(|c| Some(c.at[to as usize]? - c.at[from as usize]?)).collect();
        v.sort_by(f64::total_cmp);
        writeln!(
            text,
            "  {name:<56} {:>8.1} {:>8.1} {:>8.1}  n={}",
            percentile(&v, 0.5),
            percentile(&v, 0.99),
            v.last().copied().unwrap_or(0.0),
            v.len()
        )?;
    }
    Ok(())
}

/// The history every case of the run must have, in order.
fn expected_history(rated: bool) -> Vec<&'static str> {
    let mut h = vec![
        "reported",
        "registered",
        "dispatched",
        "task_accepted",
        "task_completed",
        "verification_passed",
        "closed",
    ];
    if rated {
        h.push("rated");
    }
    h
}

/// The cases of the run as the centre lists them (newest first, by cursor), back to a
/// few minutes before the run began: id → status.
async fn listed(nodes: &Nodes, token: &str, tag: &str, since_ms: i64) -> Result<BTreeMap<String, Vec<String>>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?limit=200&cursor={c}"),
            None => "/api/v1/incidents?limit=200".to_owned(),
        };
        let answer = nodes.call(&path, Some(token), None, &[]).await?;
        if answer.status != 200 {
            return Err(fail(format!("GET {path} → {} {}", answer.status, clip(&answer.body.to_string()))));
        }
        let items = answer.body["items"].as_array().cloned().unwrap_or_default();
        let mut older = false;
        for item in &items {
            if item["description"].as_str().is_some_and(|d| d.starts_with(tag)) {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                found.entry(id).or_default().push(item["status"].as_str().unwrap_or_default().to_owned());
            }
            let at = item["reported_at"].as_str().and_then(gridlink::clock::parse_rfc3339);
            older |= at.is_some_and(|at| at < since_ms - 300_000);
        }
        match answer.body["next"].as_str() {
            Some(next) if !older && !items.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(found),
        }
    }
}

async fn checks(
    nodes: &Nodes,
    token: &str,
    book: &Book,
    created: &BTreeMap<&String, &CaseLog>,
    heard: &BTreeMap<String, Heard>,
    centre: &Heard,
    since_ms: i64,
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let counters = &book.counters;
    let sent = count(&counters.reports_sent);
    let limited =
        book.refusals.lock().unwrap_or_else(PoisonError::into_inner).iter().any(|r| r.contains("rate-limited"));
    checks.push(check(
        "every report answered 201",
        sent > 0 && count(&counters.reports_created) == sent,
        format!(
            "{} of {sent} reports created{}",
            count(&counters.reports_created),
            if limited {
                " (429 rate-limited: the residents' own addresses in X-Forwarded-For count only when the server \
                 trusts loopback as its proxy: --trusted-proxy-header X-Forwarded-For --trusted-proxies 127.0.0.1)"
            } else {
                ""
            }
        ),
    ));

    // None lost, none twice: the centre's list of the run's cases against the 201s.
    let listed = listed(nodes, token, &book.tag, since_ms).await?;
    let answered: HashSet<&str> = created.keys().map(|k| k.as_str()).collect();
    let missing: Vec<&str> = answered.iter().filter(|id| !listed.contains_key(**id)).copied().collect();
    let extra: Vec<&String> = listed.keys().filter(|id| !answered.contains(id.as_str())).collect();
    let twice: Vec<&String> = listed.iter().filter(|(_, s)| s.len() > 1).map(|(id, _)| id).collect();
    checks.push(check(
        "no report lost or made twice (the centre's list of the run's cases = the 201 answers)",
        missing.is_empty() && extra.is_empty() && twice.is_empty() && listed.len() == answered.len(),
        format!(
            "{} listed, {} answered 201; missing from the list {}; listed but never answered {}; listed twice {}",
            listed.len(),
            answered.len(),
            first(&missing),
            first(&extra),
            first(&twice)
        ),
    ));

    // Each case, read whole.
    let gate = Arc::new(Semaphore::new(8));
    let mut reads = JoinSet::new();
    for id in created.keys() {
        let (nodes, token, gate, id) = (nodes.clone(), token.to_owned(), gate.clone(), (*id).clone());
        reads.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let path = format!("/api/v1/incidents/{id}");
            let answer = nodes.call(&path, Some(&token), None, &[]).await;
            (id, answer)
        });
    }
    let mut not_closed: Vec<String> = Vec::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut task_counts: Vec<String> = Vec::new();
    let mut histories: Vec<String> = Vec::new();
    let mut actions_twice: Vec<String> = Vec::new();
    let mut tasks: HashMap<String, (String, String)> = HashMap::new();
    let mut unread = Vec::new();
    while let Some(joined) = reads.join_next().await {
        let (id, answer) = joined.map_err(|e| fail(format!("a read task: {e}")))?;
        let case = match answer {
            Ok(Answer { status: 200, body }) => body,
            Ok(Answer { status, body }) => {
                unread.push(format!("{id}: {status} {}", clip(&body.to_string())));
                continue;
            }
            Err(e) => {
                unread.push(format!("{id}: {e}"));
                continue;
            }
        };
        let status = case["status"].as_str().unwrap_or_default().to_owned();
        *statuses.entry(status.clone()).or_default() += 1;
        if status != "closed" {
            not_closed.push(format!("{id} {status}"));
        }
        let case_tasks = case["tasks"].as_array().cloned().unwrap_or_default();
        if case_tasks.len() != 1 || case_tasks[0]["status"] != "completed" {
            let shown: Vec<String> = case_tasks.iter().map(|t| format!("{} {}", t["kind"], t["status"])).collect();
            task_counts.push(format!("{id}: {shown:?}"));
        }
        if let Some(t) = case_tasks.first() {
            let task = t["id"].as_str().unwrap_or_default().to_owned();
            let grid = case["grid"]["code"].as_str().unwrap_or_default().to_owned();
            tasks.insert(task, (id.clone(), grid));
        }
        let actions: Vec<String> = case["history"]
            .as_array()
            .map(|h| h.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default();
        let rated = created.get(&id).is_some_and(|c| c.rates && c.at[Stamp::Rated as usize].is_some());
        if actions != expected_history(rated) {
            histories.push(format!("{id}: {actions:?}"));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for a in &actions {
            *seen.entry(a.as_str()).or_default() += 1;
        }
        let doubled: Vec<String> = seen.iter().filter(|(_, n)| **n > 1).map(|(a, n)| format!("{a}×{n}")).collect();
        if !doubled.is_empty() {
            actions_twice.push(format!("{id}: {doubled:?}"));
        }
    }
    checks.push(check(
        "every case closed",
        not_closed.is_empty() && unread.is_empty() && !created.is_empty(),
        format!("by status {statuses:?}; not closed {}; could not read {}", first(&not_closed), first(&unread)),
    ));
    checks.push(check(
        "each case has exactly one task, completed",
        task_counts.is_empty(),
        format!("{} of {} cases otherwise {}", task_counts.len(), created.len(), first(&task_counts)),
    ));
    checks.push(check(
        "no action or mutation applied twice (each history has every step once)",
        actions_twice.is_empty(),
        format!("{} cases with a step twice {}", actions_twice.len(), first(&actions_twice)),
    ));
    checks.push(check(
        "each history is exactly the loop (reported … closed, rated when rated)",
        histories.is_empty(),
        format!("{} cases otherwise {}", histories.len(), first(&histories)),
    ));

    // The mutations: every one answered ok.
    let mutation_refusals =
        book.refusals.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|r| r.contains(" mutate ")).count();
    let mut unanswered = Vec::new();
    for (task, (case, grid)) in &tasks {
        for id in [format!("accept-{task}"), format!("complete-{task}")] {
            if !heard.get(grid).is_some_and(|h| h.answers.contains_key(&id)) {
                unanswered.push(format!("{case}: {id}"));
            }
        }
    }
    checks.push(check(
        "every mutation answered ok",
        mutation_refusals == 0 && unanswered.is_empty(),
        format!(
            "{} mutations sent ({} sent again from outboxes after reconnecting); {mutation_refusals} refused; never answered {}",
            count(&counters.mutations_sent),
            count(&counters.resent),
            first(&unanswered)
        ),
    ));

    // Every phone got each of its tasks once; no device got a change twice.
    let mut not_once = Vec::new();
    for (task, (case, grid)) in &tasks {
        let times = heard.get(grid).and_then(|h| h.open_tasks.get(task)).copied().unwrap_or(0);
        if times != 1 {
            not_once.push(format!("{case}: task {task} reached worker-{grid}'s phone {times} times"));
        }
    }
    let mut strays: Vec<String> = Vec::new();
    for (grid, h) in heard {
        for task in h.open_tasks.keys() {
            if tasks.get(task).is_none_or(|(_, g)| g != grid) {
                strays.push(format!("task {task} on worker-{grid}'s phone"));
            }
        }
    }
    checks.push(check(
        "every phone received each of its tasks once, and no other's",
        not_once.is_empty() && strays.is_empty() && tasks.len() == created.len(),
        format!("{} tasks; not exactly once {}; elsewhere {}", tasks.len(), first(&not_once), first(&strays)),
    ));
    let phone_dups: usize = heard.values().map(Heard::duplicate_seqs).sum();
    let changes: usize = heard.values().map(|h| h.seqs.len()).sum::<usize>() + centre.seqs.len();
    checks.push(check(
        "no device received a change twice (no seq twice per device)",
        phone_dups == 0 && centre.duplicate_seqs() == 0,
        format!(
            "{changes} changes received by {} devices; repeated: phones {phone_dups}, the centre {}",
            heard.len() + 1,
            centre.duplicate_seqs()
        ),
    ));
    let refusals = book.refusal_count.load(Ordering::SeqCst);
    checks.push(check(
        "the server refused nothing and no connection broke unasked",
        refusals == 0 && count(&counters.unplanned_drops) == 0,
        format!(
            "{refusals} refusals or errors (listed below), {} connections dropped unasked",
            count(&counters.unplanned_drops)
        ),
    ));
    Ok(checks)
}

/// The first few of a list, for a report line.
fn first<T: std::fmt::Debug>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(5).map(|i| format!("{i:?}")).collect();
    if items.len() > 5 {
        format!("[{}, … {} more]", shown.join(", "), items.len() - 5)
    } else {
        format!("[{}]", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_turns_grids_into_a_rate() {
        let model = LoadModel::new(4_200, 10.0);
        assert!((model.per_day() - 1_800.0).abs() < 1e-9);
        assert!((model.peak_per_hour() - 450.0).abs() < 1e-9);
        assert!((model.rate_per_second() - 1.25).abs() < 1e-9);
        assert!(model.describe().contains("1.250 reports/s"), "{}", model.describe());
    }

    #[test]
    fn histories_name_the_workflows_events() {
        assert_eq!(expected_history(false).len(), 7);
        assert_eq!(expected_history(true).last(), Some(&"rated"));
    }
}

//! `loadgen`: the sync benchmark against a gridlink server that runs as its own process.
//!
//! ```sh
//! loadgen --base http://127.0.0.1:8080 --server-pid PID idle --phones 20000
//! loadgen --base http://127.0.0.1:8080 --server-pid PID latency --phones 5000 --rate 100 --seconds 60
//! loadgen --base http://127.0.0.1:8080 --server-pid PID storm --phones 5000 --restart-cmd '…'
//! loadgen --base http://127.0.0.1:8080 --server-pid PID flood --phones 200
//! loadgen --base http://127.0.0.1:8080 [--base …] [--server-pid PID …] county --scale 10 --minutes 5
//! ```
//!
//! The server must run with `--demo` (the phones are the demo's grid workers and the
//! centre is the demo's `centre`). The report goes to standard output, progress to
//! standard error. See `mobile_api_tests::load`, `mobile_api_tests::county` and the
//! README's "Benchmarks". `county` exits with 1 when any of its checks fails.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mobile_api_tests::county::{self, Arrivals, CountyPlan};
use mobile_api_tests::load::{self, FloodPlan, LatencyPlan, Run, StormPlan, Target};

/// Phones over real sockets against a running gridlink demo server.
#[derive(Debug, Parser)]
#[command(name = "loadgen", about)]
struct Cli {
    /// The server's base URL; `county` takes several (the nodes of one deployment).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: Vec<String>,
    /// The server's process id (its memory and CPU time are read from /proc/PID); needed
    /// by every scenario but `county`, which takes one per node, or none.
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Phones connecting at a time on their first connection.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Logins at a time (each costs the server an Argon2 hash).
    #[arg(long, default_value_t = 4)]
    login_concurrency: usize,
    /// Seconds a phone may take to be welcomed and caught up.
    #[arg(long, default_value_t = 60)]
    phone_timeout: u64,
    /// What to measure.
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Server memory per idle connection that reached welcome (RSS growth ÷ connections).
    Idle {
        /// Phones to connect (capped by the open-file limits).
        #[arg(long, default_value_t = 20_000)]
        phones: usize,
        /// Seconds to let the server settle before each memory reading.
        #[arg(long, default_value_t = 5)]
        settle_seconds: u64,
        /// A shell command that restarts the server after the logins, for a baseline free
        /// of the logins' Argon2 garbage; it must print the new server's pid last.
        #[arg(long)]
        restart_cmd: Option<String>,
        /// Seconds to keep the connections open after the reading (to inspect the server).
        #[arg(long, default_value_t = 0)]
        hold_seconds: u64,
    },
    /// Commit → phone latency while the centre dispatches at a steady rate.
    Latency {
        /// Phones connected.
        #[arg(long, default_value_t = 5_000)]
        phones: usize,
        /// Dispatches per second.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// For how many seconds.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Dispatches in flight at most (each is three requests).
        #[arg(long, default_value_t = 32)]
        in_flight: usize,
        /// Seconds to wait for the last tasks after the last dispatch.
        #[arg(long, default_value_t = 15)]
        drain_seconds: u64,
        /// Seed of the choice of grids.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Every phone reconnecting at once after a server restart.
    Storm {
        /// Phones connected.
        #[arg(long, default_value_t = 5_000)]
        phones: usize,
        /// A shell command that restarts the server on the same address, leaving it in the
        /// background with its output redirected; if its last line of output is a number,
        /// it is the new server's pid. Without it, restart the server by hand when told.
        #[arg(long)]
        restart_cmd: Option<String>,
        /// Tasks to dispatch after the restart, before the phones come back.
        #[arg(long, default_value_t = 0)]
        backlog: usize,
        /// Seconds to wait for the drop, for the restart and for the reconnection, each.
        #[arg(long, default_value_t = 300)]
        timeout_seconds: u64,
    },
    /// Phones sending frames as fast as they can: each cut off, server memory bounded.
    Flood {
        /// Phones flooding at once.
        #[arg(long, default_value_t = 200)]
        phones: usize,
        /// Bytes per frame (the server takes frames up to 64 KiB).
        #[arg(long, default_value_t = 60_000)]
        frame_bytes: usize,
        /// Frames each phone sends at most.
        #[arg(long, default_value_t = 2_000)]
        frames: usize,
    },
    /// The closed loop at a multiple of the demo county's expected load: residents
    /// report, the centre accepts, dispatches, verifies and closes, the workers' phones
    /// take and complete; then checks that every case closed, none lost or done twice.
    County {
        /// The multiple of the county's expected peak load.
        #[arg(long, default_value_t = 10.0)]
        scale: f64,
        /// How long residents report, in minutes.
        #[arg(long, default_value_t = 5.0)]
        minutes: f64,
        /// Assumed cases per grid per week (the load's definition).
        #[arg(long, default_value_t = 3.0)]
        cases_per_grid_week: f64,
        /// Assumed share of a day's cases in its busiest hour.
        #[arg(long, default_value_t = 0.25)]
        peak_share: f64,
        /// Reports per second, in place of the load model's.
        #[arg(long)]
        rate: Option<f64>,
        /// Evenly spaced reports instead of Poisson arrivals.
        #[arg(long)]
        even: bool,
        /// Reports fall in only this many grids (drawn at random).
        #[arg(long)]
        grids: Option<usize>,
        /// Connect every worker of the county, not only those of the grids with cases.
        #[arg(long)]
        all_workers: bool,
        /// Share of mutations after which the phone drops its connection and reconnects.
        #[arg(long, default_value_t = 0.02)]
        drop_share: f64,
        /// Longest pause between taking a task and completing it, in milliseconds.
        #[arg(long, default_value_t = 3_000)]
        work_max_ms: u64,
        /// Share of closed cases their resident rates.
        #[arg(long, default_value_t = 1.0)]
        rated_share: f64,
        /// Seconds to wait after the last report for every case to close.
        #[arg(long, default_value_t = 60)]
        drain_seconds: u64,
        /// The centre's cases in hand at once.
        #[arg(long, default_value_t = 16)]
        centre_in_flight: usize,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The one server of the scenarios other than `county`.
fn one<T: Clone>(values: &[T], what: &str) -> load::Result<T> {
    match values {
        [one] => Ok(one.clone()),
        _ => Err(load::LoadError(format!("this scenario takes exactly one {what}"))),
    }
}

/// The county scenario: its report, and whether every check passed.
async fn county_run(cli: &Cli) -> load::Result<(String, bool)> {
    let Scenario::County {
        scale,
        minutes,
        cases_per_grid_week,
        peak_share,
        rate,
        even,
        grids,
        all_workers,
        drop_share,
        work_max_ms,
        rated_share,
        drain_seconds,
        centre_in_flight,
        seed,
    } = cli.scenario
    else {
        return Err(load::LoadError("not the county scenario".into()));
    };
    if !(minutes > 0.0 && scale > 0.0 && cases_per_grid_week > 0.0 && peak_share > 0.0 && peak_share <= 1.0) {
        return Err(load::LoadError(
            "--minutes, --scale and --cases-per-grid-week must be positive, --peak-share in (0, 1]".into(),
        ));
    }
    let mut plan =
        CountyPlan::new(cli.base.clone(), county::demo_grid_count()?, scale, Duration::from_secs_f64(minutes * 60.0));
    plan.model.cases_per_grid_week = cases_per_grid_week;
    plan.model.peak_share = peak_share;
    plan.rate = rate;
    plan.arrivals = if even { Arrivals::Even } else { Arrivals::Poisson };
    plan.grid_limit = grids;
    plan.all_workers = all_workers;
    plan.drop_share = drop_share.clamp(0.0, 1.0);
    plan.work_max = Duration::from_millis(work_max_ms);
    plan.rate_share = rated_share.clamp(0.0, 1.0);
    plan.drain = Duration::from_secs(drain_seconds);
    plan.login_concurrency = cli.login_concurrency;
    plan.centre_in_flight = centre_in_flight;
    plan.seed = seed;
    plan.server_pids = cli.server_pid.clone();
    let report = county::county(&plan).await?;
    Ok((report.text.clone(), report.passed()))
}

async fn run(cli: Cli) -> load::Result<String> {
    let run = Run {
        target: Target::new(&one(&cli.base, "--base")?)?,
        server_pid: one(&cli.server_pid, "--server-pid")?,
        concurrency: cli.concurrency,
        login_concurrency: cli.login_concurrency,
        phone_timeout: Duration::from_secs(cli.phone_timeout),
    };
    match cli.scenario {
        Scenario::Idle { phones, settle_seconds, restart_cmd, hold_seconds } => {
            let (settle, hold) = (Duration::from_secs(settle_seconds), Duration::from_secs(hold_seconds));
            load::idle(&run, phones, settle, restart_cmd.as_deref(), hold).await
        }
        Scenario::Latency { phones, rate, seconds, in_flight, drain_seconds, seed } => {
            if !(rate > 0.0 && seconds > 0.0) {
                return Err(load::LoadError("--rate and --seconds must be positive".into()));
            }
            let plan =
                LatencyPlan { phones, rate, seconds, in_flight, drain: Duration::from_secs(drain_seconds), seed };
            load::latency(&run, plan).await
        }
        Scenario::Storm { phones, restart_cmd, backlog, timeout_seconds } => {
            let plan =
                StormPlan { phones, restart: restart_cmd, backlog, timeout: Duration::from_secs(timeout_seconds) };
            load::storm(&run, plan).await
        }
        Scenario::Flood { phones, frame_bytes, frames } => {
            load::flood(&run, FloodPlan { phones, frame_bytes, frames }).await
        }
        Scenario::County { .. } => Err(load::LoadError("the county scenario runs on its own".into())),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Scenario::County { .. } = cli.scenario {
        return match county_run(&cli).await {
            Ok((report, passed)) => {
                // A CLI prints its report.
                let _ = write!(std::io::stdout().lock(), "{report}");
                if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
            }
            Err(e) => {
                eprintln!("loadgen: {e}");
                ExitCode::from(2)
            }
        };
    }
    match run(cli).await {
        Ok(report) => {
            // A CLI prints its report.
            let _ = write!(std::io::stdout().lock(), "{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

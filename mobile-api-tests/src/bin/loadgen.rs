//! `loadgen`: the sync benchmark against a gridlink server that runs as its own process.
//!
//! ```sh
//! loadgen --base http://127.0.0.1:8080 --server-pid PID idle --phones 20000
//! loadgen --base http://127.0.0.1:8080 --server-pid PID latency --phones 5000 --rate 100 --seconds 60
//! loadgen --base http://127.0.0.1:8080 --server-pid PID storm --phones 5000 --restart-cmd '…'
//! loadgen --base http://127.0.0.1:8080 --server-pid PID flood --phones 200
//! ```
//!
//! The server must run with `--demo` (the phones are the demo's grid workers and the
//! centre is the demo's `centre`). The report goes to standard output, progress to
//! standard error. See `mobile_api_tests::load` and the README's "Benchmarks".

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mobile_api_tests::load::{self, FloodPlan, LatencyPlan, Run, StormPlan, Target};

/// Phones over real sockets against a running gridlink demo server.
#[derive(Debug, Parser)]
#[command(name = "loadgen", about)]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// The server's process id (its memory and CPU time are read from /proc/PID).
    #[arg(long)]
    server_pid: u32,
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
}

async fn run(cli: Cli) -> load::Result<String> {
    let run = Run {
        target: Target::new(&cli.base)?,
        server_pid: cli.server_pid,
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
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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

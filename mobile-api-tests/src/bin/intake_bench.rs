//! `intake_bench`: how many residents' reports a running gridlink server takes in and
//! commits per second, with a fixed number of requests in flight.
//!
//! ```sh
//! intake_bench --base http://127.0.0.1:18411 --concurrency 32 --seconds 30
//! ```
//!
//! The server must run with `--demo` and a settings file that opens the anonymous
//! reports' allowance wide (`[limits]` `reports_burst` and `reports_per_hour`), since all
//! the reports come from one address. `--concurrency` clients each send
//! `POST /api/v1/reports` (anonymous, category C0101, a point inside a random demo grid, a
//! short description), wait for the answer and send the next, for `--seconds` after
//! `--warmup-seconds` not counted. A report is answered 201 once its case is committed
//! (with its first event, its change-log entry and its routing), so the rate of 201s is
//! the intake rate to commit. `tools/side-by-side` compares it with pgbench's rate of bare
//! one-row inserts on the same database server.
//!
//! The report goes to standard output; its `metric NAME VALUE` lines are for scripts.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mobile_api_tests::load::{self, LoadError, Rng, Target};
use serde_json::json;

/// Residents' reports at a fixed concurrency against a running demo server.
#[derive(Debug, Parser)]
#[command(name = "intake_bench", about)]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:18411")]
    base: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds counted.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Seconds of reports before counting starts.
    #[arg(long, default_value_t = 2.0)]
    warmup_seconds: f64,
    /// Seed of the choice of grids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What one client saw in the counted window: latencies of its successes (ms), failures,
/// and the first failure.
#[derive(Debug, Default)]
struct Outcome {
    latencies_ms: Vec<f64>,
    failed: usize,
    first_error: Option<String>,
}

async fn client(target: Target, grids: Arc<Vec<load::Grid>>, seed: u64, counting: Instant, until: Instant) -> Outcome {
    let mut rng = Rng::new(seed);
    let mut outcome = Outcome::default();
    loop {
        let sent = Instant::now();
        if sent >= until {
            return outcome;
        }
        let grid = &grids[rng.below(grids.len())];
        let report = json!({
            "category": "C0101",
            "location": {"lon": grid.lon, "lat": grid.lat},
            "description": "intake_bench: 井盖缺失",
        });
        let result = target.post(None, "/api/v1/reports", &report).await;
        let done = Instant::now();
        if done < counting || done > until {
            continue;
        }
        match result {
            Ok(_) => outcome.latencies_ms.push(done.duration_since(sent).as_secs_f64() * 1e3),
            Err(e) => {
                outcome.failed += 1;
                outcome.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

async fn run(cli: Cli) -> load::Result<String> {
    let target = Target::new(&cli.base)?;
    if !target.healthy().await {
        return Err(LoadError(format!("{} does not answer /healthz", target.base)));
    }
    let grids = Arc::new(load::demo_grids()?);
    let concurrency = cli.concurrency.max(1);
    let start = Instant::now();
    let counting = start + Duration::from_secs_f64(cli.warmup_seconds.max(0.0));
    let until = counting + Duration::from_secs_f64(cli.seconds.max(0.1));
    eprintln!(
        "filing reports, {concurrency} in flight, for {:.0} s (+{:.0} s warm-up)",
        cli.seconds, cli.warmup_seconds
    );
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..concurrency {
        clients.spawn(client(target.clone(), grids.clone(), cli.seed ^ (c as u64 + 1) << 32, counting, until));
    }
    let mut latencies = Vec::new();
    let (mut failed, mut first_error) = (0, None);
    while let Some(joined) = clients.join_next().await {
        let outcome = joined.map_err(|e| LoadError(format!("a client task: {e}")))?;
        latencies.extend(outcome.latencies_ms);
        failed += outcome.failed;
        first_error = first_error.or(outcome.first_error);
    }
    latencies.sort_by(f64::total_cmp);
    let counted = until.duration_since(counting).as_secs_f64();
    let per_s = latencies.len() as f64 / counted;
    let mut report = String::new();
    writeln!(
        report,
        "intake: POST /api/v1/reports (anonymous, to 201 = committed), {concurrency} in flight, {counted:.0} s counted after {:.0} s of warm-up",
        cli.warmup_seconds
    )?;
    writeln!(report, "  {} committed, {failed} failed → {per_s:.1} reports/s", latencies.len())?;
    writeln!(
        report,
        "  round trip: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        load::percentile(&latencies, 0.5),
        load::percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    )?;
    if let Some(e) = first_error {
        writeln!(report, "  first failure: {e}")?;
    }
    writeln!(report, "metric intake_per_s {per_s:.1}")?;
    writeln!(report, "metric intake_failed {failed}")?;
    Ok(report)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(report) => {
            let _ = std::io::stdout().lock().write_all(report.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "intake_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `bare_fanout`: the fan-out baseline's load, the twin of `loadgen latency` against
//! `bare_broadcast` instead of gridlink.
//!
//! ```sh
//! bare_broadcast --bind 127.0.0.1:18412 & PID=$!
//! bare_fanout --url ws://127.0.0.1:18412 --server-pid $PID --phones 5000 --rate 100 --seconds 60
//! ```
//!
//! The same shape as `loadgen latency` with the same flags: the phones are the same
//! reference client run by the same code (`mobile_api_tests::load::Phones`, 4 KiB buffers,
//! state in memory), spread over as many groups as the demo has grids (phone `i` in group
//! `i % groups`, as loadgen spreads devices over the grid workers); `--rate` times a
//! second for `--seconds`, a group drawn by the same generator with the same `--seed`
//! is sent one change (a text frame over a `/trigger` WebSocket; the server stamps the
//! change's `committed_at_ms` when it arrives). Each phone records decode time −
//! `committed_at_ms` for each frame with a task item, as it does against gridlink.
//!
//! The report goes to standard output; its `metric NAME VALUE` lines are for scripts.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use futures_util::SinkExt;
use mobile_api_tests::load::{self, CpuMeter, Fleet, LoadError, Phones, Rng};
use tokio_tungstenite::tungstenite::Message;

/// Phones on the bare broadcast server, sent changes at a steady rate.
#[derive(Debug, Parser)]
#[command(name = "bare_fanout", about)]
struct Cli {
    /// The bare server's base WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:18412")]
    url: String,
    /// The bare server's process id (its CPU time is read from /proc/PID).
    #[arg(long)]
    server_pid: u32,
    /// Phones connected.
    #[arg(long, default_value_t = 5_000)]
    phones: usize,
    /// Changes sent per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// For how many seconds.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seconds to wait for the last changes after the last trigger.
    #[arg(long, default_value_t = 15)]
    drain_seconds: u64,
    /// Seed of the choice of groups.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Phones connecting at a time.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Seconds a phone may take to be welcomed.
    #[arg(long, default_value_t = 60)]
    phone_timeout: u64,
}

fn fail(message: impl Into<String>) -> LoadError {
    LoadError(message.into())
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

async fn run(cli: Cli) -> load::Result<String> {
    if !(cli.rate > 0.0 && cli.seconds > 0.0) {
        return Err(fail("--rate and --seconds must be positive"));
    }
    let mut report = String::new();
    let base = cli.url.trim_end_matches('/').to_owned();
    writeln!(report, "scenario bare fan-out: server {base} (pid {})", cli.server_pid)?;
    let (cap, why) = load::phone_cap(cli.server_pid);
    writeln!(report, "{why}")?;
    let n = cli.phones.min(cap);
    let fleet = Fleet::bare(n)?;
    let groups = fleet.workers;
    writeln!(
        report,
        "phones: {n} in {groups} groups (as many as the demo's grids) × up to {} each",
        n.div_ceil(groups)
    )?;

    eprintln!("connecting {n} phones, {} at a time", cli.concurrency);
    let phones =
        Phones::start(&format!("{base}/api/v1/sync"), &fleet, cli.concurrency, Duration::from_secs(cli.phone_timeout));
    let took = phones.connected(Duration::from_secs(3600)).await;
    let tally = phones.tally.clone();
    writeln!(
        report,
        "connect: {} of {n} phones welcomed in {:.1} s; failed {}, retries {}",
        count(&tally.ready),
        took.as_secs_f64(),
        count(&tally.failed),
        count(&tally.retries)
    )?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (mut control, _) = tokio_tungstenite::connect_async(format!("{base}/trigger"))
        .await
        .map_err(|e| fail(format!("the trigger socket: {e}")))?;
    let per_group = fleet.phones_per_grid();
    let total = (cli.rate * cli.seconds).round() as usize;
    eprintln!("sending {total} changes at {}/s", cli.rate);
    tally.recording.store(true, Ordering::SeqCst);
    let cpu = CpuMeter::start(cli.server_pid);
    let started = tokio::time::Instant::now();
    let mut rng = Rng::new(cli.seed);
    let mut expected = 0_usize;
    for i in 0..total {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / cli.rate)).await;
        let g = rng.below(groups);
        control.send(Message::text(g.to_string())).await.map_err(|e| fail(format!("a trigger: {e}")))?;
        expected += per_group[g];
        if i > 0 && i % (cli.rate.max(1.0) as usize * 10) == 0 {
            eprintln!("  {i}/{total} sent, task items received {}", count(&tally.task_items));
        }
    }
    let sending = started.elapsed();
    let (server_cpu, own_cpu, machine_cpu) = cpu.read();
    phones.wait("draining", Duration::from_secs(cli.drain_seconds), |t| count(&t.task_items) >= expected).await;
    tally.recording.store(false, Ordering::SeqCst);
    let _ = control.close(None).await;

    let timed = tally.samples.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut samples: Vec<i64> = timed.iter().map(|s| s.1).collect();
    samples.sort_unstable();
    let (p50, p90, p99) =
        (load::percentile(&samples, 0.5), load::percentile(&samples, 0.9), load::percentile(&samples, 0.99));
    let max = samples.last().copied().unwrap_or(0);
    let delivered = count(&tally.task_items);
    writeln!(
        report,
        "load: {total} changes to random groups at {}/s for {} s, sent in {:.1} s → {:.1}/s achieved",
        cli.rate,
        cli.seconds,
        sending.as_secs_f64(),
        total as f64 / sending.as_secs_f64().max(1e-3)
    )?;
    writeln!(report, "delivered: {delivered} task items of {expected} expected, in {} frames", samples.len())?;
    writeln!(
        report,
        "commit → phone (committed_at_ms → decoded): p50 {p50} ms, p90 {p90} ms, p99 {p99} ms, max {max} ms (n = {})",
        samples.len()
    )?;
    writeln!(
        report,
        "CPU while sending: server {server_cpu:.0}% of a core, driver {own_cpu:.0}% of a core, whole machine {machine_cpu:.0}% busy"
    )?;
    writeln!(
        report,
        "connections dropped: {}; protocol errors: {}",
        count(&tally.dropped),
        count(&tally.protocol_errors)
    )?;
    writeln!(report, "metric fanout_p50_ms {p50}")?;
    writeln!(report, "metric fanout_p90_ms {p90}")?;
    writeln!(report, "metric fanout_p99_ms {p99}")?;
    writeln!(report, "metric fanout_delivered {delivered}")?;
    writeln!(report, "metric fanout_expected {expected}")?;
    phones.stop().await;
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
            let _ = writeln!(std::io::stderr().lock(), "bare_fanout: {e}");
            ExitCode::FAILURE
        }
    }
}

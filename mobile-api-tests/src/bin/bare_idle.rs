//! `bare_idle`: the idle baseline, the twin of `loadgen idle` against `bare_broadcast`
//! instead of gridlink: the server's resident memory per idle connection.
//!
//! ```sh
//! ulimit -n 20000
//! bare_broadcast --bind 127.0.0.1:18412 & PID=$!                        # tokio-tungstenite alone
//! bare_idle --url ws://127.0.0.1:18412 --server-pid $PID --phones 5000
//! bare_broadcast --bind 127.0.0.1:18413 --front actix-upgrade & PID=$!  # actix-http in front
//! bare_idle --url ws://127.0.0.1:18413 --server-pid $PID --phones 5000
//! ```
//!
//! Measured as `loadgen idle` measures gridlink: the same reference phones (4 KiB
//! buffers) spread over as many groups as the demo has grids, `--concurrency` connecting
//! at a time, each until its welcome and (empty) snapshot; the server's VmRSS before and
//! `--settle-seconds` after the last, the growth ÷ connections.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use mobile_api_tests::load::{self, Fleet, Phones};

/// Idle phones on the bare broadcast server; its memory per connection.
#[derive(Debug, Parser)]
#[command(name = "bare_idle", about)]
struct Cli {
    /// The bare server's base WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:18412")]
    url: String,
    /// The bare server's process id (its memory is read from /proc/PID).
    #[arg(long)]
    server_pid: u32,
    /// Phones connected (capped by both processes' open-file limits).
    #[arg(long, default_value_t = 5_000)]
    phones: usize,
    /// Seconds to wait after the last connection before reading the server's memory.
    #[arg(long, default_value_t = 10)]
    settle_seconds: u64,
    /// Phones connecting at a time.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

async fn run(cli: Cli) -> load::Result<String> {
    let mut report = String::new();
    let base = cli.url.trim_end_matches('/').to_owned();
    writeln!(report, "scenario bare idle: server {base} (pid {})", cli.server_pid)?;
    let (cap, why) = load::phone_cap(cli.server_pid);
    writeln!(report, "{why}")?;
    let n = cli.phones.min(cap);
    let fleet = Fleet::bare(n)?;
    let settle = Duration::from_secs(cli.settle_seconds);
    tokio::time::sleep(settle).await;
    let before = load::memory(Some(cli.server_pid))?;
    eprintln!("connecting {n} phones, {} at a time", cli.concurrency);
    let phones = Phones::start(&format!("{base}/api/v1/sync"), &fleet, cli.concurrency, Duration::from_secs(60));
    let took = phones.connected(Duration::from_secs(3600)).await;
    let ready = count(&phones.tally.ready);
    writeln!(
        report,
        "connect: {ready} of {n} phones welcomed in {:.1} s; failed {}",
        took.as_secs_f64(),
        count(&phones.tally.failed)
    )?;
    tokio::time::sleep(settle).await;
    let after = load::memory(Some(cli.server_pid))?;
    let grown = after.rss_kib as i64 - before.rss_kib as i64;
    writeln!(
        report,
        "server RSS: {} KiB before, {} KiB with {ready} idle connections ({} s after the last): {grown:+} KiB → {:.1} KiB per connection",
        before.rss_kib,
        after.rss_kib,
        settle.as_secs(),
        grown as f64 / ready.max(1) as f64
    )?;
    writeln!(report, "metric idle_kib_per_connection {:.1}", grown as f64 / ready.max(1) as f64)?;
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
            let _ = writeln!(std::io::stderr().lock(), "bare_idle: {e}");
            ExitCode::FAILURE
        }
    }
}

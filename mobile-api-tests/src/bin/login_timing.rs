//! `login_timing`: does a login that does not exist answer as slowly as a wrong password?
//!
//! ```sh
//! login_timing --base http://127.0.0.1:8080 --rounds 200
//! ```
//!
//! Against a running demo server (its `centre` account) whose failed-login throttle is
//! opened wide for the measurement (`[limits] login_failures` and
//! `login_failures_per_address` in its settings file: otherwise the throttle answers
//! 429 after ten failures, which is what it is for). Sends, one at a time and
//! interleaved, a wrong password for `centre` and a password for a login nobody has,
//! `--rounds` of each after a warm-up, and prints the median and p90 of each and how
//! far apart the medians are. Every answer must be 401.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

/// Unknown login against wrong password, timed over HTTP.
#[derive(Debug, Parser)]
#[command(name = "login_timing", about)]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Logins of each kind measured.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Logins of each kind sent first and not measured.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let at = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

async fn time_login(client: &reqwest::Client, base: &str, login: &str) -> Result<Duration, String> {
    let body = json!({"login": login, "password": "not-the-password"});
    let started = Instant::now();
    let response =
        client.post(format!("{base}/api/v1/auth/login")).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(|e| e.to_string())?;
    let took = started.elapsed();
    if status != 401 {
        return Err(format!("login {login}: {status}, not 401 (is the throttle opened wide?)"));
    }
    Ok(took)
}

async fn run(cli: Cli) -> Result<String, String> {
    let client = reqwest::Client::new();
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for n in 0..cli.warmup + cli.rounds {
        // Interleaved, so that whatever else the machine does falls on both alike.
        let w = time_login(&client, &cli.base, "centre").await?;
        let u = time_login(&client, &cli.base, &format!("nobody-{n}")).await?;
        if n >= cli.warmup {
            wrong.push(w);
            unknown.push(u);
        }
    }
    wrong.sort();
    unknown.sort();
    let (mw, mu) = (quantile(&wrong, 0.5), quantile(&unknown, 0.5));
    let apart = (mu.as_secs_f64() - mw.as_secs_f64()).abs() / mw.as_secs_f64().max(f64::MIN_POSITIVE) * 100.0;
    Ok(format!(
        "rounds: {}\nwrong password: median {:.2} ms, p90 {:.2} ms\nunknown login:  median {:.2} ms, p90 {:.2} ms\n\
         medians apart: {apart:.1} % of the wrong password's\n",
        cli.rounds,
        mw.as_secs_f64() * 1e3,
        quantile(&wrong, 0.9).as_secs_f64() * 1e3,
        mu.as_secs_f64() * 1e3,
        quantile(&unknown, 0.9).as_secs_f64() * 1e3,
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(report) => {
            let _ = std::io::stdout().write_all(report.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "login_timing: {e}");
            ExitCode::FAILURE
        }
    }
}

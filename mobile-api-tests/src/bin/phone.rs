//! `phone`: a grid worker's phone on the command line, built on the reference client
//! (`sync_protocol::phone`). The pages' browser tests use it to play the worker while a
//! real browser plays the centre; it is also a quick way to walk a deployment's loop.
//!
//! ```sh
//! phone --base http://127.0.0.1:8080 --login worker-321302001001001 complete --case 2026-0000001 --result 已处理
//! ```
//!
//! Logs in, connects to the sync socket, waits (up to `--wait-s`) until the task of the
//! case numbered `--case` reaches the phone, takes it (`accept_task`) and finishes it
//! (`complete_task`), each a mutation answered `ok`. Prints the task's id; exit code 1 with
//! the reason otherwise.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use sync_protocol::phone::Phone;
use sync_protocol::{Op, OpKind};

/// A worker's phone on the command line.
#[derive(Debug, Parser)]
#[command(name = "phone", about)]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// The worker's login.
    #[arg(long)]
    login: String,
    /// The worker's password.
    #[arg(long, default_value = "demo")]
    password: String,
    /// This phone's device id.
    #[arg(long, default_value = "cli-phone")]
    device: String,
    /// How long to wait for the task, in seconds.
    #[arg(long, default_value_t = 30)]
    wait_s: u64,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// What the phone does.
#[derive(Debug, Subcommand)]
enum Command {
    /// Takes the task of a case and completes it.
    Complete {
        /// The case's code, e.g. `2026-0000001`.
        #[arg(long)]
        case: String,
        /// The result reported (处置结果).
        #[arg(long, default_value = "已处置")]
        result: String,
        /// Where the phone is, `lon,lat` (WGS-84), sent with the completion.
        #[arg(long, value_parser = parse_at)]
        at: Option<(f64, f64)>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(task) => {
            let _ = writeln!(std::io::stdout(), "{task}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "phone: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn parse_at(text: &str) -> Result<(f64, f64), String> {
    let (lon, lat) = text.split_once(',').ok_or("give lon,lat")?;
    let number = |v: &str| v.trim().parse::<f64>().map_err(|e| format!("{v:?}: {e}"));
    Ok((number(lon)?, number(lat)?))
}

async fn run(cli: &Cli) -> Result<String, String> {
    let http = reqwest::Client::new();
    let body = json!({"login": cli.login, "password": cli.password, "device_id": cli.device});
    let response = http
        .post(format!("{}/api/v1/auth/login", cli.base))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.map_err(|e| format!("login: {e}"))?;
    let token = answer["token"].as_str().ok_or_else(|| format!("login refused ({status}): {answer}"))?;
    let ws = format!("{}/api/v1/sync", cli.base.replacen("http", "ws", 1));
    let mut phone = Phone::new(ws, token, &cli.device);
    phone.connect().await.map_err(|e| format!("connecting: {e:?}"))?;
    let wait = Duration::from_secs(cli.wait_s);
    match &cli.command {
        Command::Complete { case, result, at } => {
            let of_case = |s: &sync_protocol::client::ClientState| {
                s.tasks().find(|(_, d)| d["incident"]["code"] == case.as_str()).map(|(id, _)| id.to_owned())
            };
            phone.until(wait, |s| of_case(s).is_some()).await.map_err(|e| format!("no task of case {case}: {e:?}"))?;
            let task = of_case(&phone.state).ok_or("the task went away")?;
            let ops = [
                ("take", OpKind::AcceptTask { task_id: task.clone() }),
                (
                    "complete",
                    OpKind::CompleteTask {
                        task_id: task.clone(),
                        result: result.clone(),
                        photos: Vec::new(),
                        location: at.map(|(lon, lat)| sync_protocol::Location { lon, lat, crs: None }),
                    },
                ),
            ];
            for (name, kind) in ops {
                let id = format!("{name}-{task}");
                phone.mutate(&id, Op { kind, occurred_at: None }).await.map_err(|e| format!("{name}: {e:?}"))?;
                phone.until(wait, |s| s.answers.contains_key(&id)).await.map_err(|e| format!("{name}: {e:?}"))?;
                let answer = &phone.state.answers[&id];
                if !answer.ok {
                    return Err(format!("{name} refused: {:?}", answer.code));
                }
            }
            phone.disconnect().await;
            Ok(task)
        }
    }
}

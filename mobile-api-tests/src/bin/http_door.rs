//! `http_door`: the baselines of the HTTP door's benchmark (`tools/http-door`).
//!
//! Two bare actix-web servers answering `GET /api/v1/locate` as gridlink does, with none
//! of gridlink's middleware (logging spans, request ids, metrics, security headers,
//! compression, error checks):
//!
//! ```sh
//! http_door canned --port 18501 --body answer.json   # the same bytes for every request
//! http_door lookup --port 18502                      # the demo layer's index, a lookup and JSON per request
//! ```
//!
//! `canned` is the ceiling: what the machine gives an HTTP answer of that size with
//! nothing done. `lookup` is what a bare handler doing gridlink's work gets. gridlink's
//! own figure is read against both in the same run.

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::{Parser, Subcommand};
use geodata::index::{GridIndex, IndexOptions};
use serde::Serialize;

/// A bare server answering `/api/v1/locate`.
#[derive(Debug, Parser)]
#[command(name = "http_door", about)]
struct Cli {
    /// What to answer with.
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// The same bytes for every request.
    Canned {
        /// The port to listen on (127.0.0.1).
        #[arg(long)]
        port: u16,
        /// The body to answer with (JSON).
        #[arg(long)]
        body: std::path::PathBuf,
    },
    /// A lookup in the demo layer's index and its JSON, per request.
    Lookup {
        /// The port to listen on (127.0.0.1).
        #[arg(long)]
        port: u16,
    },
}

#[derive(Serialize)]
struct GridRef<'a> {
    code: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct Link<'a> {
    level: u8,
    code: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct Located<'a> {
    grid: GridRef<'a>,
    chain: Vec<Link<'a>>,
    snapped: bool,
    distance_m: f64,
}

#[derive(serde::Deserialize)]
struct Point {
    lon: f64,
    lat: f64,
}

async fn lookup(index: web::Data<Arc<GridIndex>>, point: web::Query<Point>) -> HttpResponse {
    match index.locate(point.lon, point.lat) {
        Ok(placed) => HttpResponse::Ok().json(Located {
            grid: GridRef { code: placed.grid.code.as_str(), name: &placed.grid.name },
            chain: placed
                .grid
                .chain
                .iter()
                .map(|l| Link { level: l.level.number(), code: l.code.as_str(), name: &l.name })
                .collect(),
            snapped: placed.snapped,
            distance_m: placed.distance_m,
        }),
        Err(e) => HttpResponse::UnprocessableEntity().body(e.to_string()),
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let served = match cli.mode {
        Mode::Canned { port, body } => {
            let body = match std::fs::read(&body) {
                Ok(body) => web::Bytes::from(body),
                Err(e) => {
                    eprintln!("cannot read {}: {e}", body.display());
                    return ExitCode::FAILURE;
                }
            };
            let server = HttpServer::new(move || {
                let body = body.clone();
                App::new().route(
                    "/api/v1/locate",
                    web::get().to(move || {
                        let body = body.clone();
                        async move { HttpResponse::Ok().content_type("application/json").body(body) }
                    }),
                )
            });
            match server.bind(("127.0.0.1", port)) {
                Ok(server) => server.run().await,
                Err(e) => Err(e),
            }
        }
        Mode::Lookup { port } => {
            let layer = match geodata::demo::layer() {
                Ok(layer) => layer,
                Err(e) => {
                    eprintln!("the demo layer: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let index = Arc::new(GridIndex::build(&layer, IndexOptions { snap_tolerance_m: 50.0 }));
            let server = HttpServer::new(move || {
                App::new().app_data(web::Data::new(index.clone())).route("/api/v1/locate", web::get().to(lookup))
            });
            match server.bind(("127.0.0.1", port)) {
                Ok(server) => server.run().await,
                Err(e) => Err(e),
            }
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serving: {e}");
            ExitCode::FAILURE
        }
    }
}

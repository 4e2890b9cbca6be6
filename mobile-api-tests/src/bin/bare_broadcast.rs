//! `bare_broadcast`: the baseline of the fan-out benchmark, a minimal WebSocket broadcast
//! server on tokio-tungstenite that speaks just enough of the sync protocol for the
//! reference phone (`sync_protocol::phone::Phone`) to connect to it unchanged.
//!
//! ```sh
//! bare_broadcast --bind 127.0.0.1:18412 &
//! bare_fanout --url ws://127.0.0.1:18412 --server-pid $! --phones 5000 --rate 100 --seconds 60
//! ```
//!
//! A phone connects to any path but `/trigger` with `Authorization: Bearer <group>`: the
//! token names the group it joins (in gridlink it names a worker, whose grid decides what
//! reaches them). Its `hello` is answered with `welcome`, `reset` and an empty
//! `snapshot_end`, so that the phone counts as caught up; its acks are read and dropped,
//! and a `ping` gets its `pong`. Nothing is stored, checked or logged.
//!
//! A connection to `/trigger` sends text frames, each naming a group. For each, the
//! server takes the time (`committed_at_ms`, Unix ms, as gridlink stamps a change when it
//! commits it), builds one `changes` frame holding one task item of about the shape of
//! gridlink's (the task and the essentials of its case), and queues the same frame to
//! every connection of the group; each connection's own task writes it to its socket. So
//! what a phone measures, decode time − `committed_at_ms`, is this server's fan-out alone.
//!
//! Sockets use 4 KiB read and write buffers (as the phones do). Like gridlink's listener,
//! the accepted sockets keep the system's Nagle setting unless `--nodelay` is given.
//!
//! `--front actix-upgrade` accepts the connections with actix-http instead (an HTTP/1
//! service whose upgrade hook answers the handshake and hands the bare TCP stream to
//! tokio-tungstenite), the way gridlink serves its socket beside its HTTP API: measured
//! beside the bare server with `bare_idle`, it shows what actix's front door costs an idle
//! connection.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use mobile_api_tests::load::now_ms;
use serde_json::json;
use sync_protocol::{ClientMessage, Item, PROTOCOL_VERSION, ServerMessage};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A bare tokio-tungstenite broadcast server for the fan-out baseline.
#[derive(Debug, Parser)]
#[command(name = "bare_broadcast", about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18412")]
    bind: SocketAddr,
    /// Set TCP_NODELAY on accepted sockets (off by default, as in gridlink).
    #[arg(long)]
    nodelay: bool,
    /// Who accepts the connections and reads the handshake.
    #[arg(long, value_enum, default_value_t = Front::Tungstenite)]
    front: Front,
}

/// Who accepts a connection and reads its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Front {
    /// tokio-tungstenite on a plain tokio listener.
    Tungstenite,
    /// actix-http (two workers, as gridlink on this machine), its upgrade hook handing
    /// the stream to tokio-tungstenite.
    ActixUpgrade,
}

/// The sockets' buffers: 4 KiB each way, as the phones'.
fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096)
}

/// Where a connection's frames are queued for its task to write.
type Outbox = mpsc::UnboundedSender<Message>;

/// The groups and their connections, and the change counter.
#[derive(Debug, Default)]
struct Hub {
    groups: Mutex<HashMap<String, Vec<(u64, Outbox)>>>,
    next_connection: AtomicU64,
    seq: AtomicI64,
}

impl Hub {
    fn join(&self, group: &str, id: u64, outbox: Outbox) {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.entry(group.to_owned()).or_default().push((id, outbox));
    }

    fn leave(&self, group: &str, id: u64) {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(members) = groups.get_mut(group) {
            members.retain(|(member, _)| *member != id);
        }
    }

    /// Stamps a change for `group`, builds its frame once and queues it to every member;
    /// how many it was queued to.
    fn broadcast(&self, group: &str) -> usize {
        let committed_at_ms = now_ms();
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let frame = Message::text(change_frame(seq, group, committed_at_ms));
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(members) = groups.get_mut(group) else { return 0 };
        members.retain(|(_, outbox)| outbox.send(frame.clone()).is_ok());
        members.len()
    }
}

/// One `changes` frame with one task item, shaped like what gridlink sends a phone for a
/// dispatched task (`gridlink::incidents::act::task_data`).
fn change_frame(seq: i64, group: &str, committed_at_ms: i64) -> String {
    let task = format!("00000000-0000-4000-8000-{seq:012}");
    let data = json!({
        "id": task,
        "incident_id": format!("00000000-0000-4000-9000-{seq:012}"),
        "kind": "handle",
        "status": "open",
        "assignees": [format!("worker-{group}")],
        "holder": null,
        "deadline": "2026-12-07T18:00:00+08:00",
        "incident": {
            "code": format!("SC2026{seq:08}"),
            "category": "C0101",
            "description": "bare broadcast: 井盖缺失",
            "grid": format!("group-{group}"),
            "location": {"lon": 118.2954, "lat": 33.9521},
        },
    });
    let item = Item { seq, kind: "task".into(), id: task, removed: false, data };
    let message = ServerMessage::Changes { cursor: seq, items: vec![item], committed_at_ms: Some(committed_at_ms) };
    serde_json::to_string(&message).unwrap_or_default()
}

fn encode(message: &ServerMessage) -> Message {
    Message::text(serde_json::to_string(message).unwrap_or_default())
}

type Socket = WebSocketStream<TcpStream>;

async fn accept(hub: Arc<Hub>, stream: TcpStream, nodelay: bool) {
    if nodelay {
        let _ = stream.set_nodelay(true);
    }
    let (mut path, mut token) = (String::new(), String::new());
    // The callback's signature is tungstenite's (its error is an HTTP response).
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        path = request.uri().path().to_owned();
        let bearer = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        token = bearer.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_owned();
        Ok(response)
    };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(small_buffers())).await
    else {
        return;
    };
    serve(&hub, socket, &path, token).await;
}

async fn serve(hub: &Hub, socket: Socket, path: &str, token: String) {
    if path == "/trigger" {
        trigger(hub, socket).await;
    } else {
        phone(hub, socket, token).await;
    }
}

/// The actix-http front: every WebSocket upgrade reaches [`actix_front::upgrade`]; any
/// other request is answered 404.
mod actix_front {
    use std::convert::Infallible;
    use std::sync::Arc;

    use actix_codec::Framed;
    use actix_http::body::BodySize;
    use actix_http::{HttpService, Request, Response, h1, ws};
    use actix_service::fn_service;
    use futures_util::SinkExt;
    use tokio::net::TcpStream;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::{Hub, serve, small_buffers};

    /// Serves on `listener` with two actix workers until the process ends.
    pub async fn run(hub: Arc<Hub>, listener: std::net::TcpListener, nodelay: bool) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        actix_server::Server::build()
            .workers(2)
            .listen("bare", listener, move || {
                let hub = hub.clone();
                HttpService::build()
                    .tcp_nodelay(nodelay)
                    .upgrade(fn_service(move |(req, framed): (Request, Framed<TcpStream, h1::Codec>)| {
                        let hub = hub.clone();
                        async move {
                            upgrade(hub, req, framed).await;
                            Ok::<_, actix_http::Error>(())
                        }
                    }))
                    .finish(|_: Request| async { Ok::<_, Infallible>(Response::not_found()) })
                    .tcp()
            })?
            .run()
            .await
    }

    /// Answers the handshake through actix-http's own codec, then hands the TCP stream
    /// (and whatever the client sent after its request) to tokio-tungstenite, in a task
    /// of its own.
    async fn upgrade(hub: Arc<Hub>, req: Request, mut framed: Framed<TcpStream, h1::Codec>) {
        let path = req.path().to_owned();
        let bearer = req.head().headers().get("authorization").and_then(|v| v.to_str().ok());
        let token = bearer.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_owned();
        let response = match ws::handshake(req.head()) {
            Ok(mut accepted) => accepted.finish().map_into_boxed_body(),
            Err(refused) => Response::from(refused),
        };
        // Header values share actix's read buffer: the request goes before the socket lives.
        drop(req);
        let switching = response.status() == actix_http::StatusCode::SWITCHING_PROTOCOLS;
        let (head, _) = response.into_parts();
        if framed.send(h1::Message::Item((head, BodySize::None))).await.is_err() || !switching {
            return;
        }
        // Only the stream and what was read past the request are kept: actix's buffers
        // (8 KiB each) go now, not when the connection ends.
        let (io, read) = {
            let parts = framed.into_parts();
            (parts.io, parts.read_buf.to_vec())
        };
        let socket = WebSocketStream::from_partially_read(io, read, Role::Server, Some(small_buffers())).await;
        // In a task of its own, as gridlink does: the connection's task (the dispatcher)
        // ends here.
        tokio::task::spawn_local(async move { serve(&hub, socket, &path, token).await });
    }
}

/// A phone's connection: joins its group at `hello`, then writes what is queued to it and
/// reads (and drops) what it sends, until either side closes.
async fn phone(hub: &Hub, mut socket: Socket, group: String) {
    let id = hub.next_connection.fetch_add(1, Ordering::SeqCst);
    let (outbox, mut queued) = mpsc::unbounded_channel();
    let mut outbox = Some(outbox);
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let replies = match ClientMessage::decode(&text) {
                        Ok(ClientMessage::Hello { .. }) => {
                            if let Some(outbox) = outbox.take() {
                                hub.join(&group, id, outbox);
                            }
                            let cursor = hub.seq.load(Ordering::SeqCst);
                            vec![
                                ServerMessage::Welcome {
                                    cursor,
                                    protocol: PROTOCOL_VERSION,
                                    user_id: group.clone(),
                                    heartbeat_s: 30,
                                },
                                ServerMessage::Reset,
                                ServerMessage::SnapshotEnd { cursor },
                            ]
                        }
                        Ok(ClientMessage::Ping { nonce }) => vec![ServerMessage::Pong { nonce }],
                        _ => Vec::new(),
                    };
                    let mut failed = false;
                    for reply in &replies {
                        failed = failed || socket.send(encode(reply)).await.is_err();
                    }
                    if failed {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            Some(frame) = queued.recv() => {
                if socket.send(frame).await.is_err() {
                    break;
                }
            }
        }
    }
    hub.leave(&group, id);
}

/// The trigger connection: each text frame names a group to send a change to.
async fn trigger(hub: &Hub, mut socket: Socket) {
    while let Some(Ok(frame)) = socket.next().await {
        match frame {
            Message::Text(group) => {
                hub.broadcast(group.as_str());
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
}

async fn run(cli: Cli) -> std::io::Result<()> {
    let hub = Arc::new(Hub::default());
    if cli.front == Front::ActixUpgrade {
        let listener = std::net::TcpListener::bind(cli.bind)?;
        let _ = writeln!(
            std::io::stderr().lock(),
            "bare_broadcast: listening on {} (actix-http front)",
            listener.local_addr()?
        );
        return actix_front::run(hub, listener, cli.nodelay).await;
    }
    let listener = TcpListener::bind(cli.bind).await?;
    let _ = writeln!(std::io::stderr().lock(), "bare_broadcast: listening on {}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(accept(hub.clone(), stream, cli.nodelay));
            }
            // Out of files for a moment (EMFILE): the phones retry.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "bare_broadcast: {e}");
            ExitCode::FAILURE
        }
    }
}

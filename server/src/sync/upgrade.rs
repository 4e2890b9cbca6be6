//! The HTTP server, built from actix-http so that the sync socket leaves actix after its
//! handshake.
//!
//! `actix_web::HttpServer` answers a WebSocket upgrade through its HTTP/1 dispatcher,
//! which then carries the socket for its whole life and keeps its two 8 KiB codec
//! buffers with it: most of what an idle phone cost the server. [`serve`] builds the same
//! server (actix-server's workers and listener, actix-http's HTTP/1 service, the
//! application of `startup`, the same timeouts and graceful stop) and adds actix-http's
//! upgrade hook: every request with `Upgrade: websocket` (and every `CONNECT`) reaches
//! [`take_over`] with the connection itself. It goes through the same application as any
//! other request, so authentication and its problem+json refusal, the security headers,
//! the request's span and id and the metrics are the application's. The answer is written
//! with actix's own codec; when it is the socket's 101 (it then carries a
//! [`super::socket::Accepted`]), the bare TCP stream goes to tokio-tungstenite with small
//! buffers (`super::transport`) and the session runs on it in a task of its own, counted
//! in [`Sessions`] so that a stop can wait for every socket to be closed. Any other answer
//! to an upgrade request closes the connection after it.
//!
//! What an idle socket keeps is only its session: actix's codec buffers are dropped at
//! once (and nothing keeps the request, whose header values share the read buffer), and
//! the dispatcher's task, sized for any request the application answers, ends.

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_codec::{Encoder, Framed, FramedParts};
use actix_http::body::{BodySize, MessageBody};
use actix_http::{ConnectionType, HttpService, KeepAlive, Request, Response, StatusCode, h1};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service, map_config,
};
use actix_web::App;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::socket::Accepted;
use super::transport::Tungstenite;

/// Serves the application `app` builds (once per worker, twice: for requests and for
/// upgrades) on `listener` until stopped; requests under way get `grace_s` seconds to
/// finish once it is told to stop. Signals are the caller's; so is waiting for the sync
/// sessions (`sessions`) to close before stopping, since they run outside the
/// connections the server counts.
pub fn serve<F, T, B>(listener: TcpListener, app: F, grace_s: u64, sessions: Arc<Sessions>) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = Server::build();
    let stopping = builder.graceful_shutdown_signal();
    // What the requests are told of their connection. `HttpServer` names the listener's
    // address as the host a request without a `Host` header is taken to name, through
    // semver-exempt API (`AppConfig::__priv_test_new`); `AppConfig::default()` names
    // `localhost:8080`. gridlink reads it only through `ConnectionInfo::host`, and only
    // for such a request (HTTP/1.0, say).
    let config = AppConfig::default();
    Ok(builder
        .disable_signals()
        .shutdown_timeout(grace_s)
        .listen("gridlink", listener, move || {
            let stopping = stopping.clone();
            let requests = app().into_factory().map_err(|e| e.error_response());
            let config = config.clone();
            HttpService::build()
                // As `actix_web::HttpServer` sets them.
                .keep_alive(KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .upgrade(upgrades(app().into_factory(), config.clone(), sessions.clone()))
                .finish(map_config(requests, move |()| config.clone()))
                .tcp()
        })?
        .run())
}

/// The connection of an upgrade request, as actix-http hands it over.
type Upgrading = (Request, Framed<TcpStream, h1::Codec>);

/// The upgrade service: [`take_over`] with its own instance of the application.
fn upgrades<S, B>(
    app: S,
    config: AppConfig,
    sessions: Arc<Sessions>,
) -> impl ServiceFactory<Upgrading, Config = (), Response = (), Error = actix_web::Error, InitError = ()>
where
    S: ServiceFactory<actix_http::Request, Config = AppConfig, Response = ServiceResponse<B>, Error = actix_web::Error>
        + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let app = Rc::new(app);
    fn_factory(move || {
        let building = app.new_service(config.clone());
        let sessions = sessions.clone();
        async move {
            let app = Rc::new(building.await.map_err(|_| tracing::error!("the upgrade service could not start"))?);
            Ok(fn_service(move |(request, framed): Upgrading| {
                let (app, sessions) = (app.clone(), sessions.clone());
                async move {
                    take_over(&*app, &sessions, request, framed).await;
                    Ok(())
                }
            }))
        }
    })
}

/// Answers an upgrade request through the application; runs the sync session on the
/// connection when the answer is the socket's 101, and closes it otherwise.
async fn take_over<S, B>(app: &S, sessions: &Arc<Sessions>, request: Request, mut framed: Framed<TcpStream, h1::Codec>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let mut response = match app.call(request).await {
        Ok(answered) => Response::from(answered).map_into_boxed_body(),
        Err(e) => Response::from(e.error_response()),
    };
    let accepted = response.extensions_mut().remove::<Accepted>();
    let (mut head, body) = response.into_parts();
    if let Some(accepted) = accepted.filter(|_| head.status() == StatusCode::SWITCHING_PROTOCOLS) {
        if framed.send(h1::Message::Item((head, BodySize::None))).await.is_err() {
            return;
        }
        // Only the stream and what was read past the request are kept: actix's codec
        // buffers (8 KiB each) go now, not when the socket closes.
        let (io, read) = {
            let FramedParts { io, read_buf, .. } = framed.into_parts();
            (io, read_buf.to_vec())
        };
        // A task of its own: the connection's task (actix's dispatcher, sized for any
        // request the application answers) ends here.
        let running = sessions.begin();
        actix_web::rt::spawn(async move {
            accepted.run(Tungstenite::take_over(io, read).await).await;
            drop(running);
        });
        return;
    }
    head.head_mut().set_connection_type(ConnectionType::Close);
    let Ok(body) = actix_http::body::to_bytes(body).await else { return };
    // Encoded with actix's codec and written to the stream itself: written through the
    // `Framed` sink, the refusal never reached the client (the connection closed empty).
    let answer = async {
        let FramedParts { mut io, mut codec, .. } = framed.into_parts();
        let mut out = actix_web::web::BytesMut::new();
        codec.encode(h1::Message::Item((head, BodySize::Sized(body.len() as u64))), &mut out)?;
        codec.encode(h1::Message::Chunk(Some(body)), &mut out)?;
        io.write_all(&out).await?;
        io.shutdown().await
    };
    if let Err(e) = answer.await {
        tracing::debug!(cause = %e, "an answer to an upgrade request not written");
    }
}

/// The sync sessions running on connections taken over: a stop waits for them to close.
#[derive(Debug, Default)]
pub struct Sessions {
    live: AtomicUsize,
    ended: tokio::sync::Notify,
}

impl Sessions {
    /// How many are running.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Resolves once none is running.
    pub async fn all_ended(&self) {
        loop {
            let ended = self.ended.notified();
            if self.live() == 0 {
                return;
            }
            ended.await;
        }
    }

    fn begin(self: &Arc<Self>) -> Running {
        self.live.fetch_add(1, Ordering::SeqCst);
        Running(self.clone())
    }
}

/// One running session, counted until dropped.
struct Running(Arc<Sessions>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.ended.notify_waiters();
        }
    }
}

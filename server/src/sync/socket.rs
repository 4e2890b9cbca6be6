//! `GET /api/v1/sync`: one phone's WebSocket session.
//!
//! The session authenticates on connect (bearer header or `?token=`), waits for the
//! hello, answers welcome, sends a snapshot or the changes after the client's cursor,
//! then lives on its hub doorbell: each ring means "the log moved for you", and the
//! session reads its own rows from its cursor in pages. It keeps at most
//! `max_unacked_frames` frames unacknowledged, so a phone that cannot keep up is not
//! buried (it catches up as it acks, or is closed after a send waits too long and
//! resumes from its cursor later). Mutations are applied one at a time, in the order
//! the device sent them. Every session runs in its own tracing span.
//!
//! The handler [`connect`] authenticates and answers the handshake; the session itself
//! runs once the connection is taken over past actix-http ([`super::upgrade`]), on a
//! [`Transport`] (tokio-tungstenite with small buffers).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use sync_protocol::{ClientMessage, Item, SUPPORTED_VERSIONS, ServerMessage, codes};
use tracing::Instrument;

use super::Shared;
use super::audience::subjects;
use super::hub::{Doorbell, Kick, Registration};
use super::token::QueryToken;
use super::transport::{Broken, Incoming, Transport};
use crate::auth::routes::bearer;
use crate::auth::{self, User};
use crate::changes;
use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::incidents::act::Actor;
use crate::incidents::scope::Viewer;
use crate::problem::ApiError;
use crate::ratelimit::TokenBucket;

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Items per snapshot frame.
const SNAPSHOT_PAGE: usize = 100;
/// The WebSocket close code of a policy refusal (RFC 6455), e.g. too many devices.
const CLOSE_POLICY: u16 = 1008;

/// Opens a phone's sync session.
#[utoipa::path(
    get,
    path = "/api/v1/sync",
    params(("token" = Option<String>, Query, description = "The bearer token, where headers cannot be set")),
    responses(
        (status = 101, description = "A WebSocket carrying sync-protocol messages"),
    ),
    security(("bearer" = [])),
    tag = "sync"
)]
#[get("/api/v1/sync")]
pub async fn connect(
    req: HttpRequest,
    shared: web::Data<Shared>,
    limits: Option<web::Data<crate::settings::LimitSettings>>,
) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::Unauthenticated("a valid bearer token (header or ?token=) is needed".into());
    let token =
        bearer(&req).or_else(|| req.extensions().get::<QueryToken>().map(|t| t.0.clone())).ok_or_else(missing)?;
    let db = shared.db.clone();
    let lookup = token.clone();
    let (user, credential) =
        web::block(move || db.read(|c| auth::session_user(c, &lookup, now_ms()))).await??.ok_or_else(missing)?;
    let viewer = Viewer::of(&user)?;
    let mut response = actix_http::ws::handshake(req.head())
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket upgrade: {e}")))?
        .finish()
        .map_into_boxed_body();
    // The session's span opens inside the request's, so its lines carry the request id.
    let span = tracing::info_span!("sync", user = %user.id, role = %viewer.role, session = %uuid::Uuid::new_v4());
    let opening = Opening {
        shared: shared.get_ref().clone(),
        user,
        viewer,
        credential: credential.token_hash,
        expires_at_ms: credential.expires_at_ms,
        bound_device: credential.device_id,
        max_devices: limits
            .map_or_else(|| crate::settings::LimitSettings::default().devices_per_user, |l| l.devices_per_user)
            as usize,
    };
    // Carried with the 101 to the upgrade service, which runs it on the connection.
    response.extensions_mut().insert(Accepted { opening, span });
    Ok(HttpResponse::from(response))
}

/// An accepted socket's session, waiting for its connection: what [`connect`] hands to
/// [`super::upgrade`] in the extensions of its 101.
pub(crate) struct Accepted {
    opening: Opening,
    span: tracing::Span,
}

impl Accepted {
    /// Runs the session on `socket` until it ends, in its span.
    pub(crate) async fn run(self, socket: impl Transport) {
        let Accepted { opening, span } = self;
        opening.run(socket).instrument(span).await;
    }
}

/// Who opened a session, as authenticated before the upgrade.
struct Opening {
    shared: Shared,
    user: User,
    viewer: Viewer,
    credential: String,
    expires_at_ms: i64,
    bound_device: Option<String>,
    max_devices: usize,
}

impl Opening {
    async fn run(self, socket: impl Transport) {
        let Opening { shared, user, viewer, credential, expires_at_ms, bound_device, max_devices } = self;
        let conn = Conn {
            shared,
            user,
            viewer,
            credential,
            expires_at_ms,
            bound_device,
            socket,
            sent: 0,
            unacked: VecDeque::new(),
            acked: 0,
            recorded: 0,
            previous_contact_ms: 0,
            max_devices,
        };
        conn.run().await;
    }
}

/// Why a session ends, and the close code it ends with.
struct Close(u16, &'static str);

/// One live session, on its socket.
struct Conn<T> {
    shared: Shared,
    user: User,
    viewer: Viewer,
    /// The hash of the token it authenticated with (the sweep closes revoked ones).
    credential: String,
    /// When that token expires (Unix ms).
    expires_at_ms: i64,
    /// The device the session was opened from, if it named one: the only device (with its
    /// tabs) it may say hello as.
    bound_device: Option<String>,
    socket: T,
    /// The cursor of the last frame sent.
    sent: i64,
    /// Cursors of frames sent and not acknowledged, with when they were sent.
    unacked: VecDeque<(i64, Instant)>,
    /// The newest cursor the device acknowledged, and the newest recorded in storage.
    acked: i64,
    recorded: i64,
    /// When the device was last in touch before this session (0 for a new device): its
    /// work is dated no earlier.
    previous_contact_ms: i64,
    /// Devices the user may keep (see `super::devices`).
    max_devices: usize,
}

impl<T: Transport> Conn<T> {
    async fn send(&mut self, message: &ServerMessage) -> Result<(), Close> {
        let text = serde_json::to_string(message).map_err(|_| Close(1011, "encoding"))?;
        let timeout = Duration::from_millis(self.shared.settings.send_timeout_ms);
        match tokio::time::timeout(timeout, self.socket.send_text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Close(1000, "gone")),
            Err(_) => Err(Close(codes::CLOSE_TOO_SLOW, "too slow")),
        }
    }

    /// Tells the client its session is over (log in again) and how the socket closes.
    async fn session_ended(&mut self, why: &'static str) -> Close {
        let error =
            ServerMessage::Error { code: ErrorKind::Unauthenticated.slug().into(), detail: None, supported: None };
        match self.send(&error).await {
            Ok(()) => Close(codes::CLOSE_LOGGED_OUT, why),
            Err(close) => close,
        }
    }

    async fn run(mut self) {
        let outcome = self.converse().await;
        let Close(code, why) = match outcome {
            Ok(()) => Close(1000, "bye"),
            Err(close) => close,
        };
        tracing::info!(code, why, "sync session ended");
        let within = Duration::from_millis(self.shared.settings.send_timeout_ms);
        self.socket.close(code, why, within).await;
    }

    async fn converse(&mut self) -> Result<(), Close> {
        // The hello.
        let first = match tokio::time::timeout(HELLO_TIMEOUT, self.socket.recv()).await {
            Ok(Some(Ok(Incoming::Text(text)))) => ClientMessage::decode(&text).ok(),
            Ok(Some(Ok(Incoming::Close)) | None) => return Ok(()),
            _ => None,
        };
        let Some(ClientMessage::Hello { protocol, device_id, cursor }) = first else {
            let error =
                ServerMessage::Error { code: ErrorKind::ExpectedHello.slug().into(), detail: None, supported: None };
            self.send(&error).await?;
            return Err(Close(codes::CLOSE_PROTOCOL, "no hello"));
        };
        if !SUPPORTED_VERSIONS.contains(&protocol) {
            let error = ServerMessage::Error {
                code: ErrorKind::UnsupportedProtocol.slug().into(),
                detail: Some(format!("protocol {protocol} is not spoken here")),
                supported: Some(SUPPORTED_VERSIONS.to_vec()),
            };
            self.send(&error).await?;
            return Err(Close(codes::CLOSE_PROTOCOL, "unsupported protocol"));
        }
        if device_id.is_empty() || device_id.len() > 128 {
            let detail = Some("device_id must be 1–128 characters".to_owned());
            self.send(&ServerMessage::Error { code: ErrorKind::Malformed.slug().into(), detail, supported: None })
                .await?;
            return Err(Close(codes::CLOSE_PROTOCOL, "bad device id"));
        }
        // A token taken from one phone does not open a socket as another.
        if let Some(bound) = &self.bound_device
            && !auth::accounts::of_device(&device_id, bound)
        {
            let detail = Some("this session was opened from another device: say hello with its device_id".to_owned());
            let code = ErrorKind::DeviceMismatch.slug().into();
            self.send(&ServerMessage::Error { code, detail, supported: None }).await?;
            return Err(Close(CLOSE_POLICY, "device mismatch"));
        }
        tracing::info!(device = %device_id, cursor, "hello");
        let Registration { id, doorbell, kicked } =
            self.shared.hub.register(&self.user.id, &device_id, &self.credential, subjects(&self.viewer));
        let result = self.serve(&device_id, cursor, kicked, &doorbell).await;
        self.shared.hub.unregister(id);
        self.note_ack(&device_id);
        result
    }

    async fn serve(
        &mut self,
        device: &str,
        cursor: i64,
        mut kicked: tokio::sync::oneshot::Receiver<Kick>,
        doorbell: &Doorbell,
    ) -> Result<(), Close> {
        let (db, user, clock) = (self.shared.db.clone(), self.user.id.clone(), self.shared.clock.clone());
        let device_owned = device.to_owned();
        let (credential, opened_as) = (self.credential.clone(), self.user.clone());
        let (connected, limit) = (self.shared.hub.devices_of(&user), self.max_devices);
        let (previous, admission, newest, floor, scope, stands) = web::block(move || {
            // The device's last contact before this one bounds how far back its work may be dated.
            let previous = db.read(|c| crate::sync::store::last_seen(c, &user, &device_owned))?;
            let admission = db.write(|c| {
                let admission =
                    super::devices::admit(c, &user, &device_owned, limit, &connected, &credential, now_ms())?;
                if admission != super::devices::Admission::Full {
                    crate::sync::store::touch_device(c, &user, &device_owned, clock.now_ms())?;
                }
                Ok(admission)
            })?;
            db.read(|c| {
                Ok((
                    previous,
                    admission,
                    changes::newest(c)?,
                    crate::sync::store::log_floor(c)?,
                    crate::sync::store::scope_seq(c, &user)?,
                    crate::sync::sweep::still_stands(c, &credential, &opened_as, now_ms())?,
                ))
            })
        })
        .await
        .map_err(|_| Close(1011, "storage"))?
        .map_err(|_| Close(1011, "storage"))?;
        self.shared.hub.saw_committed(newest);
        match admission {
            super::devices::Admission::Admitted => {}
            super::devices::Admission::Retired(old) => {
                tracing::info!(retired = ?old, "a new device past the bound: the devices heard from longest ago retired");
                for device in &old {
                    self.shared
                        .hub
                        .end(&super::hub::Ended::Device { user: self.user.id.clone(), device: device.clone() });
                }
            }
            super::devices::Admission::Full => {
                let detail = Some(format!(
                    "{} devices of this user are connected, the most one user keeps; disconnect one first",
                    self.max_devices
                ));
                let code = ErrorKind::TooManyDevices.slug().into();
                self.send(&ServerMessage::Error { code, detail, supported: None }).await?;
                return Err(Close(CLOSE_POLICY, "too many devices"));
            }
        }
        if !stands {
            return Err(self.session_ended("session ended").await);
        }
        self.previous_contact_ms = previous.unwrap_or(0);
        let settings = self.shared.settings.clone();
        let welcome = ServerMessage::Welcome {
            cursor: newest,
            protocol: sync_protocol::PROTOCOL_VERSION,
            user_id: self.user.id.clone(),
            heartbeat_s: settings.heartbeat_s,
        };
        self.send(&welcome).await?;
        let reset = cursor <= 0 || cursor > newest || cursor < floor || cursor < scope;
        // Snapshots, pages and mutations are boxed while they run: an idle session's
        // future (what each connected phone costs, README "Benchmarks") stays small.
        if reset {
            Box::pin(self.snapshot()).await?;
        } else {
            self.sent = cursor;
        }
        // Catch up at once with whatever came after the cursor.
        let mut caught_up_once = false;
        let mut pending_ring = true;
        let mut heard = Instant::now();
        let mut heartbeat = tokio::time::interval(Duration::from_secs(u64::from(settings.heartbeat_s.max(1))));
        // Incoming frames: `frames_per_second` on average, bursts of ten times that.
        let rate = f64::from(settings.frames_per_second.max(1));
        let mut bucket = TokenBucket::new(rate, rate * 10.0, Instant::now());
        loop {
            let window_open = self.unacked.len() < settings.max_unacked_frames;
            if pending_ring && window_open {
                pending_ring = false;
                let more = Box::pin(self.pump(!caught_up_once)).await?;
                caught_up_once = true;
                if more {
                    pending_ring = true;
                    // Let incoming acks and mutations in between pages.
                    tokio::task::yield_now().await;
                }
            }
            tokio::select! {
                why = &mut kicked => {
                    return Err(match why {
                        Ok(Kick::Replaced) => Close(codes::CLOSE_REPLACED, "replaced by a newer connection"),
                        Ok(Kick::ShuttingDown) => Close(1001, "the server is going away"),
                        Ok(Kick::Rescoped) => Close(codes::CLOSE_RESCOPED, "the user's role or area changed"),
                        Ok(Kick::LoggedOut) | Err(_) => self.session_ended("logged out").await,
                    });
                }
                () = doorbell.rung(), if !pending_ring => pending_ring = true,
                message = self.socket.recv() => {
                    heard = Instant::now();
                    let message = match message {
                        None | Some(Ok(Incoming::Close)) => return Ok(()),
                        Some(Err(Broken::TooLarge)) => return Err(Close(codes::CLOSE_FLOODING, "frame too large")),
                        Some(Err(Broken::Protocol)) => return Err(Close(1002, "protocol error")),
                        Some(Ok(message)) => message,
                    };
                    // Pings are answered by the transport; they, pongs and binary frames
                    // are signs of life, and pay for their frame like any other.
                    let decoded = match &message {
                        Incoming::Text(text) => Some(ClientMessage::decode(text)),
                        Incoming::Close | Incoming::Other => None,
                    };
                    // An ack that releases a frame answers one this session sent, so there
                    // are no more of them than of our frames; charging them would cut off
                    // a busy centre for keeping up. Everything else pays, repeated acks too.
                    let releases_a_frame = matches!(&decoded, Some(Ok(ClientMessage::Ack { cursor }))
                        if self.unacked.front().is_some_and(|(c, _)| c <= cursor));
                    if !releases_a_frame && bucket.take(Instant::now()).is_err() {
                        return Err(Close(codes::CLOSE_FLOODING, "too many frames"));
                    }
                    match decoded {
                        Some(Ok(ClientMessage::Ack { cursor })) => {
                            while self.unacked.front().is_some_and(|(c, _)| *c <= cursor) {
                                self.unacked.pop_front();
                            }
                            self.acked = self.acked.max(cursor.min(self.sent));
                            // Recorded within a quarter of a second: whether a device
                            // holds a task decides whether its worker is woken by push.
                            self.note_ack(device);
                        }
                        Some(Ok(ClientMessage::Mutate { id, op })) => Box::pin(self.mutate(device, id, op)).await?,
                        Some(Ok(ClientMessage::Ping { nonce })) => self.send(&ServerMessage::Pong { nonce }).await?,
                        Some(Ok(ClientMessage::Hello { .. })) => {
                            let error = ServerMessage::Error { code: ErrorKind::ExpectedHello.slug().into(), detail: Some("hello comes once".into()), supported: None };
                            self.send(&error).await?;
                        }
                        Some(Ok(ClientMessage::Unknown)) => {}
                        Some(Err(e)) => {
                            let error = ServerMessage::Error { code: ErrorKind::Malformed.slug().into(), detail: Some(e.to_string()), supported: None };
                            self.send(&error).await?;
                        }
                        None => {}
                    }
                }
                _ = heartbeat.tick() => {
                    let silent = heard.elapsed() > Duration::from_secs(2 * u64::from(settings.heartbeat_s.max(1)));
                    if silent {
                        return Err(Close(codes::CLOSE_TIMEOUT, "no heartbeat"));
                    }
                    if self.unacked.front().is_some_and(|(_, at)| at.elapsed() > Duration::from_secs(4 * u64::from(settings.heartbeat_s.max(1)))) {
                        return Err(Close(codes::CLOSE_TOO_SLOW, "frames not acknowledged"));
                    }
                    // Revocations and changes of scope arrive through the hub (sweep.rs);
                    // expiry is known here.
                    if now_ms() >= self.expires_at_ms {
                        return Err(self.session_ended("session expired").await);
                    }
                    let within = Duration::from_millis(settings.send_timeout_ms);
                    match tokio::time::timeout(within, self.socket.ping()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return Ok(()),
                        Err(_) => return Err(Close(codes::CLOSE_TOO_SLOW, "too slow")),
                    }
                }
            }
        }
    }

    /// Hands the newest acknowledgement to the node's writer ([`super::acks`]), if it moved.
    fn note_ack(&mut self, device: &str) {
        if self.acked <= self.recorded {
            return;
        }
        self.recorded = self.acked;
        self.shared.acks.note(&self.user.id, device, self.acked, self.shared.clock.now_ms());
    }

    /// Sends the changes after `sent` that concern the user, one page; true if there
    /// may be more. `always` sends a frame even with no items, so that a client's
    /// cursor moves past numbers that did not concern it. The page comes from the hub's
    /// memory of the newest commits when it holds every number needed, else from the log.
    async fn pump(&mut self, always: bool) -> Result<bool, Close> {
        let (subjects, after, page) = (subjects(&self.viewer), self.sent, self.shared.settings.page);
        // Taken before the read: everything up to it is committed, so a frame may claim
        // to have read that far (a round trip for the log's newest number per frame
        // was a third of a phone's reads under load).
        let newest = self.shared.hub.newest_committed();
        let limit = usize::try_from(page).unwrap_or(usize::MAX).max(1);
        let (rows, full, cursor) = match self.shared.hub.recent(&subjects, after, newest, limit) {
            Some(held) => (held.rows, held.full, held.through),
            None => {
                self.shared.hub.read_the_log();
                let db = self.shared.db.clone();
                let rows = web::block(move || db.read(|c| changes::after(c, &subjects, after, page)))
                    .await
                    .map_err(|_| Close(1011, "storage"))?
                    .map_err(|_| Close(1011, "storage"))?;
                let full = rows.len() as i64 >= page;
                let last = rows.last().map_or(after, |r| r.seq);
                (rows, full, if full { last } else { newest.max(last) })
            }
        };
        let committed_at = rows.last().map(|r| r.committed_at_ms);
        if rows.is_empty() && !(always && cursor > after) {
            return Ok(false);
        }
        let items = rows
            .into_iter()
            .map(|r| Item {
                seq: r.seq,
                kind: r.kind,
                id: r.id,
                removed: r.removed,
                data: serde_json::from_str(&r.data).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        self.send(&ServerMessage::Changes { cursor, items, committed_at_ms: committed_at }).await?;
        self.sent = cursor;
        self.unacked.push_back((cursor, Instant::now()));
        Ok(full)
    }

    /// Reset, the current state in pages, and where it stands.
    async fn snapshot(&mut self) -> Result<(), Close> {
        let (db, viewer) = (self.shared.db.clone(), self.viewer.clone());
        let (cursor, items) = web::block(move || {
            db.read(|c| {
                // The number first: a change committed while the state is read is sent
                // again after the snapshot, which a client applies harmlessly.
                let cursor = changes::newest(c)?;
                Ok((cursor, crate::sync::snapshot::items(c, &viewer, cursor)?))
            })
        })
        .await
        .map_err(|_| Close(1011, "storage"))?
        .map_err(|_| Close(1011, "storage"))?;
        self.send(&ServerMessage::Reset).await?;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let page: Vec<Item> = items.by_ref().take(SNAPSHOT_PAGE).collect();
            self.send(&ServerMessage::Snapshot { items: page }).await?;
        }
        self.send(&ServerMessage::SnapshotEnd { cursor }).await?;
        self.sent = cursor;
        self.unacked.push_back((cursor, Instant::now()));
        Ok(())
    }

    async fn mutate(&mut self, device: &str, id: String, op: sync_protocol::Op) -> Result<(), Close> {
        if id.is_empty() || id.len() > 128 {
            let reply = ServerMessage::MutationResult {
                id,
                ok: false,
                retry: false,
                code: Some(ErrorKind::Malformed.slug().into()),
                detail: Some("a mutation id is 1–128 characters".into()),
            };
            return self.send(&reply).await;
        }
        // Texts are bounded as over HTTP, by the same check and with the same kind.
        if let Ok(value) = serde_json::to_value(&op)
            && let Err(refused) = crate::body::check_texts(&value)
        {
            let reply = ServerMessage::MutationResult {
                id,
                ok: false,
                retry: false,
                code: Some(refused.kind().slug().into()),
                detail: Some(refused.to_string()),
            };
            return self.send(&reply).await;
        }
        let shared = self.shared.clone();
        let actor = Actor { viewer: self.viewer.clone(), device_id: Some(device.to_owned()) };
        let since = self.previous_contact_ms;
        let applied =
            web::block(move || super::mutations::apply(&shared, &actor, &id, &op, since, shared.clock.now_ms()))
                .await
                .map_err(|_| Close(1011, "mutation"))?;
        self.send(&applied.reply).await
    }
}

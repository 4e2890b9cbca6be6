//! A Web Push service on loopback, for testing the server's pushes with no internet.
//!
//! [`PushService::start`] listens on `127.0.0.1:0`. [`PushService::subscribe`] plays a
//! phone's browser: it makes a channel with fresh subscription keys (a P-256 key pair
//! and a 16-byte auth secret) and returns what `PushSubscription.toJSON()` would: the
//! endpoint `http://127.0.0.1:<port>/push/<channel>` and the public keys. The server
//! must be told to allow this host (`push_allow_hosts`), being on loopback over http.
//!
//! For each POST to a channel the service checks what a real push service checks, and
//! more: `Authorization: vapid t=<JWT>, k=<key>` with an ES256 signature valid under `k`,
//! `aud` the service's origin, `exp` in the future and at most 24 h ahead, `sub` present;
//! the `TTL`, `Urgency` and `Topic` headers; then it decrypts the aes128gcm body
//! (RFC 8291: ECDH with the channel's private key, HKDF with the auth secret, AES-128-GCM
//! over one RFC 8188 record). It records what it received ([`Received`], with every
//! check that failed in `problems`) and answers as the test chose for the channel
//! ([`Answer`]: a status, perhaps a `Retry-After`, perhaps after a delay; 201 by default).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// How a channel answers the pushes it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status (201 Created is what push services say to a push they accept).
    pub status: u16,
    /// A `Retry-After` header to send, as written.
    pub retry_after: Option<String>,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Default for Answer {
    fn default() -> Answer {
        Answer { status: 201, retry_after: None, delay: Duration::ZERO }
    }
}

impl Answer {
    /// Answer with this status at once.
    pub fn status(status: u16) -> Answer {
        Answer { status, ..Answer::default() }
    }
}

/// A push as the service received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The channel it was sent to.
    pub channel: String,
    /// When it arrived.
    pub at: Instant,
    /// The `TTL` header.
    pub ttl: Option<u64>,
    /// The `Urgency` header.
    pub urgency: Option<String>,
    /// The `Topic` header.
    pub topic: Option<String>,
    /// The VAPID public key (`k`), base64url, as sent.
    pub vapid_key: Option<String>,
    /// The VAPID token's claims, when its signature was valid.
    pub claims: Option<serde_json::Value>,
    /// The decrypted payload, when it decrypted.
    pub payload: Option<Vec<u8>>,
    /// Every check that failed; empty for a push a strict push service would accept.
    pub problems: Vec<String>,
    /// The status it was answered with.
    pub status: u16,
}

/// A channel as the test (the "phone") sees it: what it hands the server.
#[derive(Debug, Clone)]
pub struct Channel {
    /// The push endpoint.
    pub endpoint: String,
    /// The channel's P-256 public key, uncompressed, base64url.
    pub p256dh: String,
    /// The channel's auth secret, base64url.
    pub auth: String,
}

impl Channel {
    /// The subscription body of `PUT /api/v1/push/subscription` for `device_id`.
    pub fn subscription(&self, device_id: &str) -> serde_json::Value {
        serde_json::json!({
            "device_id": device_id,
            "endpoint": self.endpoint,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        })
    }
}

/// What the service keeps of a channel: its private keys and how it answers.
struct Keys {
    secret: SecretKey,
    public: Vec<u8>,
    auth: [u8; 16],
    answer: Answer,
}

#[derive(Default)]
struct State {
    channels: HashMap<String, Keys>,
    received: Vec<Received>,
}

/// The running service.
pub struct PushService {
    origin: String,
    port: u16,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for PushService {
    fn drop(&mut self) {
        // Stopping is a future; the runtime may already be going away with the test.
        let stop = self.server.stop(false);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(stop);
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PushService {
    /// Starts the service on a free loopback port, in the current tokio runtime.
    pub async fn start() -> std::io::Result<PushService> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let origin = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = web::Data::new(Shared { origin: origin.clone(), state: Arc::clone(&state) });
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route("/push/{channel}", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(PushService { origin, port, state, server: handle })
    }

    /// `http://127.0.0.1:<port>`: the origin VAPID tokens must name as their audience.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `127.0.0.1:<port>`: the entry for the server's `push_allow_hosts`.
    pub fn allow_entry(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A new channel with fresh keys, answering 201 until told otherwise.
    pub fn subscribe(&self) -> Channel {
        let secret = SecretKey::random(&mut rand_core::OsRng);
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let mut auth = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut auth);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let channel = Channel {
            endpoint: format!("{}/push/{id}", self.origin),
            p256dh: URL_SAFE_NO_PAD.encode(&public),
            auth: URL_SAFE_NO_PAD.encode(auth),
        };
        lock(&self.state).channels.insert(id, Keys { secret, public, auth, answer: Answer::default() });
        channel
    }

    /// How the channel answers from now on.
    pub fn answer(&self, channel: &Channel, answer: Answer) {
        if let Some(keys) = lock(&self.state).channels.get_mut(channel_id(&channel.endpoint)) {
            keys.answer = answer;
        }
    }

    /// Everything the channel received so far, oldest first.
    pub fn received(&self, channel: &Channel) -> Vec<Received> {
        let id = channel_id(&channel.endpoint);
        lock(&self.state).received.iter().filter(|r| r.channel == id).cloned().collect()
    }

    /// Waits (up to `within`) until the channel has received `count` pushes; what it has.
    pub async fn wait_for(&self, channel: &Channel, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received(channel);
            if received.len() >= count || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn channel_id(endpoint: &str) -> &str {
    endpoint.rsplit('/').next().unwrap_or_default()
}

struct Shared {
    origin: String,
    state: Arc<Mutex<State>>,
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let channel = req.match_info().get("channel").unwrap_or_default().to_owned();
    let mut received = Received {
        channel: channel.clone(),
        at: Instant::now(),
        ttl: header(&req, "ttl").and_then(|v| v.parse().ok()),
        urgency: header(&req, "urgency"),
        topic: header(&req, "topic"),
        vapid_key: None,
        claims: None,
        payload: None,
        problems: Vec::new(),
        status: 404,
    };
    if received.ttl.is_none() {
        received.problems.push("no TTL header".into());
    }
    if let Some(topic) = &received.topic
        && (topic.len() > 32 || !topic.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        received.problems.push(format!("Topic {topic:?} is not at most 32 base64url characters"));
    }
    if header(&req, "content-encoding").as_deref() != Some("aes128gcm") {
        received.problems.push("Content-Encoding is not aes128gcm".into());
    }
    match header(&req, "authorization").as_deref().map(|v| check_vapid(v, &shared.origin)) {
        None => received.problems.push("no Authorization header".into()),
        Some(Ok((key, claims))) => {
            received.vapid_key = Some(key);
            received.claims = Some(claims);
        }
        Some(Err(problem)) => received.problems.push(problem),
    }
    let answer = {
        let mut state = lock(&shared.state);
        let answer = match state.channels.get(&channel) {
            None => {
                received.problems.push("no such channel".into());
                Answer::status(404)
            }
            Some(keys) => {
                match decrypt(&body, keys) {
                    Ok(plain) => received.payload = Some(plain),
                    Err(problem) => received.problems.push(format!("cannot decrypt: {problem}")),
                }
                keys.answer.clone()
            }
        };
        received.status = answer.status;
        state.received.push(received);
        answer
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let status = actix_web::http::StatusCode::from_u16(answer.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Some(retry_after) = answer.retry_after {
        response.insert_header(("Retry-After", retry_after));
    }
    response.finish()
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(s).map_err(|e| format!("{what} is not base64url: {e}"))
}

/// Checks `vapid t=<JWT>, k=<key>` (RFC 8292): the key and the token's claims.
fn check_vapid(value: &str, origin: &str) -> Result<(String, serde_json::Value), String> {
    let params = value.strip_prefix("vapid ").ok_or("Authorization is not `vapid …`")?;
    let mut token = None;
    let mut key = None;
    for part in params.split(',').map(str::trim) {
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    let (token, key) = (token.ok_or("no t= in Authorization")?, key.ok_or("no k= in Authorization")?);
    let verifying = VerifyingKey::from_sec1_bytes(&b64(key, "k")?).map_err(|_| "k is not a P-256 public key")?;
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the token is not a JWS of three parts".into());
    };
    let header: serde_json::Value =
        serde_json::from_slice(&b64(head, "the JWT header")?).map_err(|e| format!("JWT header: {e}"))?;
    if header["alg"] != "ES256" {
        return Err(format!("the JWT's alg is {}, not ES256", header["alg"]));
    }
    let signature = Signature::from_slice(&b64(sig, "the JWT signature")?).map_err(|_| "the signature is not r‖s")?;
    verifying
        .verify(format!("{head}.{body}").as_bytes(), &signature)
        .map_err(|_| "the JWT's signature is not valid under k")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64(body, "the JWT claims")?).map_err(|e| format!("JWT claims: {e}"))?;
    if claims["aud"] != origin {
        return Err(format!("aud is {}, not {origin}", claims["aud"]));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    match claims["exp"].as_u64() {
        Some(exp) if exp > now && exp <= now + 24 * 3600 => {}
        other => return Err(format!("exp {other:?} is not in the next 24 hours (now {now})")),
    }
    if !claims["sub"].as_str().is_some_and(|s| s.starts_with("mailto:") || s.starts_with("https:")) {
        return Err(format!("sub {} is not a mailto: or https: contact", claims["sub"]));
    }
    Ok((key.to_owned(), claims))
}

/// Decrypts an aes128gcm body for a channel (RFC 8291 §3.4, RFC 8188 §2).
fn decrypt(body: &[u8], keys: &Keys) -> Result<Vec<u8>, String> {
    // Header: salt (16) ‖ record size (4) ‖ key id length (1) ‖ key id: the sender's
    // ephemeral public key.
    if body.len() < 21 {
        return Err("the body is shorter than its header".into());
    }
    let salt = &body[..16];
    let record_size = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let id_len = usize::from(body[20]);
    let Some(sender) = body.get(21..21 + id_len) else { return Err("the key id is cut off".into()) };
    let ciphertext = &body[21 + id_len..];
    if ciphertext.len() > record_size {
        return Err("more than one record (a wake-up fits in one)".into());
    }
    let sender_key = PublicKey::from_sec1_bytes(sender).map_err(|_| "the key id is not a P-256 public key")?;
    let shared = p256::ecdh::diffie_hellman(keys.secret.to_nonzero_scalar(), sender_key.as_affine());
    // IKM = HKDF(salt = auth secret, ikm = ECDH, info = "WebPush: info" ‖ 0 ‖ ua_public ‖ as_public).
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(&keys.public);
    info.extend_from_slice(sender);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&keys.auth), shared.raw_secret_bytes().as_slice())
        .expand(&info, &mut ikm)
        .map_err(|e| e.to_string())?;
    let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    content.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|e| e.to_string())?;
    content.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|e| e.to_string())?;
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
    let plain = cipher.decrypt(Nonce::from_slice(&nonce), ciphertext).map_err(|_| "AES-GCM refused the record")?;
    // The last record ends with the delimiter 2, then zero padding.
    let end = plain.iter().rposition(|&b| b != 0).ok_or("no record delimiter")?;
    if plain[end] != 2 {
        return Err(format!("the record's delimiter is {}, not 2 (last record)", plain[end]));
    }
    Ok(plain[..end].to_vec())
}

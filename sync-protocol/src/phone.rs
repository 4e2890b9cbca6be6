//! The reference client (feature `client`): one phone over a real WebSocket.
//!
//! It keeps a [`ClientState`] — cursor, held entities, outbox — optionally on disk
//! (written atomically after every change, before the ack that tells the server it is
//! stored), reconnects with the stored cursor, and sends every unanswered mutation again
//! after each welcome, so that nothing is lost or applied twice across disconnects,
//! crashes and reinstalls. Tests and the load generator drive it; a phone app team can
//! port it. Its read and write buffers are small (4 KiB), so that thousands of phones
//! fit in one test process.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::ClientState;
use crate::{ClientMessage, Op, ServerMessage};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why the phone could not go on.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// The connection failed or broke.
    #[error("socket: {0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server closed the connection, with its code and reason.
    #[error("closed by the server: {0:?}")]
    Closed(Option<(u16, String)>),
    /// Nothing came in time.
    #[error("nothing came in time")]
    Timeout,
    /// The server said something this client cannot follow.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The state could not be stored.
    #[error("storing the state: {0}")]
    Io(#[from] std::io::Error),
    /// Not connected.
    #[error("not connected")]
    NotConnected,
}

/// One phone.
pub struct Phone {
    url: String,
    token: String,
    token_in_query: bool,
    path: Option<PathBuf>,
    socket: Option<Socket>,
    /// What the phone holds.
    pub state: ClientState,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("url", &self.url).field("state", &self.state).finish()
    }
}

impl Phone {
    /// A phone for `url` (`ws://host:port/api/v1/sync`), logged in with `token`, whose
    /// state lives only in memory.
    pub fn new(url: impl Into<String>, token: impl Into<String>, device_id: impl Into<String>) -> Phone {
        Phone {
            url: url.into(),
            token: token.into(),
            token_in_query: false,
            path: None,
            socket: None,
            state: ClientState::new(device_id),
        }
    }

    /// A phone whose state is kept in the file `path` (read back if it is there).
    pub fn stored(
        url: impl Into<String>,
        token: impl Into<String>,
        device_id: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Result<Phone, PhoneError> {
        let path = path.into();
        let mut phone = Phone::new(url, token, device_id);
        if path.exists() {
            let text = std::fs::read_to_string(&path)?;
            phone.state =
                serde_json::from_str(&text).map_err(|e| PhoneError::Protocol(format!("stored state: {e}")))?;
        }
        phone.path = Some(path);
        Ok(phone)
    }

    /// Sends the token as `?token=` (as a browser must) instead of a header.
    pub fn with_token_in_query(mut self) -> Phone {
        self.token_in_query = true;
        self
    }

    /// Connects to `url` from now on (another node, as a load balancer would send it
    /// when the one it used is gone); the state, and so the cursor, stays.
    pub fn set_url(&mut self, url: impl Into<String>) {
        self.url = url.into();
    }

    /// Uses another session token (after a refresh).
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.token = token.into();
    }

    fn persist(&self) -> Result<(), PhoneError> {
        let Some(path) = &self.path else { return Ok(()) };
        let text = serde_json::to_string(&self.state).map_err(|e| PhoneError::Protocol(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// Connects, says hello with the stored cursor, waits for the welcome and sends
    /// every unanswered mutation again; the welcome's cursor.
    pub async fn connect(&mut self) -> Result<i64, PhoneError> {
        let url = if self.token_in_query { format!("{}?token={}", self.url, self.token) } else { self.url.clone() };
        let mut request = url.into_client_request()?;
        if !self.token_in_query {
            let value = HeaderValue::from_str(&format!("Bearer {}", self.token))
                .map_err(|e| PhoneError::Protocol(e.to_string()))?;
            request.headers_mut().insert("authorization", value);
        }
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        self.socket = Some(socket);
        self.send(&self.state.hello()).await?;
        loop {
            match self.recv(Duration::from_secs(10)).await? {
                ServerMessage::Welcome { cursor, .. } => {
                    for mutation in self.state.unanswered() {
                        self.send(&mutation).await?;
                    }
                    return Ok(cursor);
                }
                ServerMessage::Error { code, detail, .. } => {
                    return Err(PhoneError::Protocol(format!("{code}: {}", detail.unwrap_or_default())));
                }
                _ => {}
            }
        }
    }

    /// Whether a connection is open (as far as the phone knows).
    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), PhoneError> {
        let text = serde_json::to_string(message).map_err(|e| PhoneError::Protocol(e.to_string()))?;
        self.send_raw(text).await
    }

    /// Sends one text frame as it is (for tests of bad clients).
    pub async fn send_raw(&mut self, text: String) -> Result<(), PhoneError> {
        let socket = self.socket.as_mut().ok_or(PhoneError::NotConnected)?;
        socket.send(Message::text(text)).await?;
        Ok(())
    }

    /// Queues a mutation (stored before it is sent) and sends it if connected.
    pub async fn mutate(&mut self, id: impl Into<String>, op: Op) -> Result<(), PhoneError> {
        let id = id.into();
        self.state.enqueue(id.clone(), op.clone());
        self.persist()?;
        if self.socket.is_some() {
            self.send(&ClientMessage::Mutate { id, op }).await?;
        }
        Ok(())
    }

    /// The next message from the server, taken in (held, stored, acknowledged).
    pub async fn recv(&mut self, timeout: Duration) -> Result<ServerMessage, PhoneError> {
        loop {
            let socket = self.socket.as_mut().ok_or(PhoneError::NotConnected)?;
            let frame = match tokio::time::timeout(timeout, socket.next()).await {
                Err(_) => return Err(PhoneError::Timeout),
                Ok(None) => {
                    self.socket = None;
                    return Err(PhoneError::Closed(None));
                }
                Ok(Some(Err(e))) => {
                    self.socket = None;
                    return Err(e.into());
                }
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => {
                    let message: ServerMessage =
                        serde_json::from_str(&text).map_err(|e| PhoneError::Protocol(format!("{e}: {text}")))?;
                    let replies = self.state.receive(&message);
                    self.persist()?;
                    for reply in replies {
                        self.send(&reply).await?;
                    }
                    return Ok(message);
                }
                Message::Close(frame) => {
                    self.socket = None;
                    return Err(PhoneError::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string()))));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Takes messages in until `done` holds for the state, or `timeout` passes.
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&ClientState) -> bool,
    ) -> Result<(), PhoneError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.state) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(PhoneError::Timeout);
            }
            self.recv(left).await?;
        }
        Ok(())
    }

    /// Closes the connection politely.
    pub async fn disconnect(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
    }

    /// Drops the connection without a word, as a phone losing its network does.
    pub fn drop_connection(&mut self) {
        self.socket = None;
    }
}

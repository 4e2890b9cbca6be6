//! What a sync session needs of its WebSocket, and the one library that carries it.
//!
//! The session ([`super::socket`]) reads frames, sends text and pings, and closes with a
//! code; [`Transport`] is that and nothing more, so the session does not care which
//! WebSocket library is underneath. [`Tungstenite`] is tokio-tungstenite on the bare TCP
//! stream taken over from actix-http ([`super::upgrade`]), with small buffers: an idle
//! phone costs the server a 2 KiB read buffer, where actix-http's dispatcher kept two
//! 8 KiB codec buffers per socket for its whole life (README, "Benchmarks").

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// A frame the session reads.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A text message (continuations already joined).
    Text(String),
    /// The peer closes.
    Close,
    /// A ping, a pong or a binary message: proof of life, nothing to read (pings are
    /// answered by the transport).
    Other,
}

/// Why the peer's side is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A frame or a message larger than the session allows.
    TooLarge,
    /// Anything else against RFC 6455 (bad UTF-8, an unmasked frame, …).
    Protocol,
}

/// The peer is gone: a frame could not be written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gone;

/// A WebSocket as a sync session uses it.
pub(crate) trait Transport {
    /// The next frame; `None` once the connection is gone. Cancel-safe.
    async fn recv(&mut self) -> Option<Result<Incoming, Broken>>;
    /// Sends one text frame (written through, not queued).
    async fn send_text(&mut self, text: String) -> Result<(), Gone>;
    /// Sends an empty ping.
    async fn ping(&mut self) -> Result<(), Gone>;
    /// Closes with `code` and `reason`, then reads (and drops) what the peer still sends
    /// until it hangs up, `within` at most: a socket closed with unread data is reset,
    /// and the peer may lose the close frame (and its code) with it.
    async fn close(&mut self, code: u16, reason: &str, within: Duration);
}

/// The largest frame, and the largest message, a client may send.
pub(crate) const MAX_FRAME_BYTES: usize = 64 * 1024;
/// What each socket reads at a time, and keeps allocated for it. Phones send small
/// frames (acks, pings); a larger one grows the buffer while it is read.
const READ_BUFFER_BYTES: usize = 2 * 1024;

/// tokio-tungstenite on the bare TCP stream of an upgraded connection.
#[derive(Debug)]
pub(crate) struct Tungstenite(WebSocketStream<TcpStream>);

impl Tungstenite {
    /// Takes over `stream`, whose handshake is answered; `read` is what was already read
    /// past the request (a client may send its first frame without waiting for the 101).
    pub(crate) async fn take_over(stream: TcpStream, read: Vec<u8>) -> Tungstenite {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            // Every frame is written through at once: no buffer kept for batching.
            .write_buffer_size(0)
            .max_frame_size(Some(MAX_FRAME_BYTES))
            .max_message_size(Some(MAX_FRAME_BYTES));
        Tungstenite(WebSocketStream::from_partially_read(stream, read, Role::Server, Some(config)).await)
    }
}

impl Transport for Tungstenite {
    async fn recv(&mut self) -> Option<Result<Incoming, Broken>> {
        match self.0.next().await? {
            Ok(Message::Text(text)) => Some(Ok(Incoming::Text(text.as_str().to_owned()))),
            Ok(Message::Close(_)) => Some(Ok(Incoming::Close)),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_)) => {
                Some(Ok(Incoming::Other))
            }
            Err(WsError::Capacity(_)) => Some(Err(Broken::TooLarge)),
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_)) => None,
            Err(_) => Some(Err(Broken::Protocol)),
        }
    }

    async fn send_text(&mut self, text: String) -> Result<(), Gone> {
        self.0.send(Message::text(text)).await.map_err(|_| Gone)
    }

    async fn ping(&mut self) -> Result<(), Gone> {
        self.0.send(Message::Ping(Default::default())).await.map_err(|_| Gone)
    }

    async fn close(&mut self, code: u16, reason: &str, within: Duration) {
        let frame = CloseFrame { code: code.into(), reason: reason.into() };
        let closing = async {
            // Our close frame, written through (an error: the peer closed first, or is gone).
            let _ = self.0.close(Some(frame)).await;
            // Then nothing more from us, and whatever the peer still sends (its own close,
            // the rest of a flood or of an oversized frame) read as raw bytes and dropped,
            // a little at a time, until it hangs up.
            let stream = self.0.get_mut();
            let _ = stream.shutdown().await;
            let mut dropped = vec![0_u8; 1024];
            while matches!(stream.read(&mut dropped).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(within, closing).await;
    }
}

//! The messages that cross the phone ↔ server WebSocket, and the rules a client follows.
//!
//! Only the protocol's version lives here so far; the messages, their wire format and
//! the reference client arrive with the sync socket.

/// The protocol version a client names in its `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

//! Stable codes: errors in [`crate::ServerMessage::Error`] and refused mutations, and the
//! WebSocket close codes the server uses (4000–4999 are for applications).

/// The hello named a protocol version the server does not speak.
pub const UNSUPPORTED_PROTOCOL: &str = "unsupported-protocol";
/// The first message was not a hello, or a hello came twice.
pub const EXPECTED_HELLO: &str = "expected-hello";
/// A frame was not a JSON object of a known form.
pub const MALFORMED: &str = "malformed";
/// The op kind is not one this server applies (ignored, so the client can drop it).
pub const UNSUPPORTED_OP: &str = "unsupported-op";
/// The session expired or was revoked: log in again (or refresh).
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// Closed because the same device said hello on a newer connection.
pub const CLOSE_REPLACED: u16 = 4001;
/// Closed because the client could not keep up (too many frames unacknowledged, or a
/// full send queue); resume from the stored cursor.
pub const CLOSE_TOO_SLOW: u16 = 4002;
/// Closed because the client sent too much (frames too fast, or too large).
pub const CLOSE_FLOODING: u16 = 4003;
/// Closed because the session ended (logout, expiry).
pub const CLOSE_LOGGED_OUT: u16 = 4004;
/// Closed because the protocol was broken (no hello, unsupported version).
pub const CLOSE_PROTOCOL: u16 = 4005;
/// Closed because no heartbeat came back in time.
pub const CLOSE_TIMEOUT: u16 = 4006;
/// Closed because the user's role or area changed: reconnect with the same token, and
/// the server starts again from a snapshot of the new scope.
pub const CLOSE_RESCOPED: u16 = 4007;

//! The messages that cross the phone ↔ server WebSocket (`GET /api/v1/sync`), and the
//! rules a client follows. The server and every client build on these types, so the
//! wire format is defined once, here, and frozen by the snapshot tests in `tests/`.
//!
//! # The conversation
//! Each text frame carries one JSON object, tagged by `"type"`.
//!
//! 1. The client connects with its session token (`Authorization: Bearer …`, or
//!    `?token=…` where a browser cannot set headers) and sends [`ClientMessage::Hello`]
//!    with the protocol version, a stable device id (one per install) and the cursor it
//!    last stored (0 the first time).
//! 2. An unsupported version is answered with [`ServerMessage::Error`] (code
//!    [`codes::UNSUPPORTED_PROTOCOL`], listing the supported versions) and a close.
//!    A new hello from the same user and device closes that device's older connection.
//! 3. The server answers [`ServerMessage::Welcome`] with the newest log number. Then:
//!    - if the cursor is 0, older than the log keeps, newer than the newest, or from
//!      before a change of the user's area or role, the server sends
//!      [`ServerMessage::Reset`], the current state of everything the user may see as
//!      [`ServerMessage::Snapshot`] pages, and [`ServerMessage::SnapshotEnd`] with the
//!      cursor the client continues from;
//!    - otherwise it sends every change after the cursor that concerns the user, in
//!      order, as [`ServerMessage::Changes`] frames, then live ones as they commit.
//!      `seq` strictly increases; a frame's `cursor` is how far the server has read for
//!      this user, which may pass numbers that did not concern them.
//! 4. The client stores what it received, then sends [`ClientMessage::Ack`] with the
//!    frame's cursor. Acks let the server know which devices have which task (and which
//!    need a push to wake them); the server keeps a bounded number of unacknowledged
//!    frames in flight and closes a connection that falls too far behind
//!    ([`codes::CLOSE_TOO_SLOW`]); the client resumes from its cursor later.
//! 5. The client changes state with [`ClientMessage::Mutate`]: a unique id per device
//!    and an [`Op`]. The server applies a device's mutations in the order sent and
//!    answers each with [`ServerMessage::MutationResult`].
//!
//! # Guarantees
//! - Nothing is sent that is not committed; a change reaches every device of every user
//!   in its audience, exactly in log order, at least once (after a reconnect, from the
//!   stored cursor: exactly what came after it).
//! - A mutation is applied at most once per (user, device, id), on any connection: a
//!   retry gets the first result again. A result with `retry: true` (e.g. a photo not
//!   uploaded yet) was not kept: sending the same id again applies it then.
//! - The server closes a connection with a code saying what to do next: 4004
//!   ([`codes::CLOSE_LOGGED_OUT`]) when the session ended (log in or refresh first),
//!   4007 ([`codes::CLOSE_RESCOPED`]) when the user's role or area changed (reconnect
//!   with the same token: a snapshot follows), 1001 when the server is going away, and
//!   the others of [`codes`] for a client that broke the rules or fell behind.
//! - Unknown fields, message types and op kinds are ignored by both sides. An unknown
//!   op is still answered (with code [`codes::UNSUPPORTED_OP`]) so the client can drop it.
//!
//! # What a client persists
//! The cursor of the last frame it stored and acknowledged, the entities it holds (tasks,
//! cases), and an outbox of mutations not yet answered, each with its id — so that a
//! phone killed mid-flight sends the same ids again and nothing is applied twice.
//! [`client::ClientState`] is that bookkeeping as plain code, reusable by any client;
//! with the feature `client`, `phone::Phone` is a whole client on tokio-tungstenite.

pub mod client;
pub mod codes;
mod message;
#[cfg(feature = "client")]
pub mod phone;

pub use message::{ClientMessage, Handled, Item, Location, Op, OpKind, ServerMessage};

/// The protocol version this crate speaks, named in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The protocol versions a server of this crate accepts.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

//! The messages, as Rust types with their serde form.

use serde::{Deserialize, Serialize};

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Opens the conversation.
    Hello {
        /// The protocol version the client speaks.
        protocol: u32,
        /// A stable id of this install.
        device_id: String,
        /// The cursor the client last stored and acknowledged; 0 at first.
        cursor: i64,
    },
    /// The client stored everything up to `cursor`.
    Ack {
        /// A frame's cursor.
        cursor: i64,
    },
    /// A change of state, applied once per (device, id).
    Mutate {
        /// Unique per device (e.g. a UUID made when the worker acted).
        id: String,
        /// What to do.
        op: Op,
    },
    /// A heartbeat; the server answers [`ServerMessage::Pong`].
    Ping {
        /// Echoed back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// A message type this version does not know: ignored.
    #[serde(other)]
    Unknown,
}

impl ClientMessage {
    /// Reads one text frame as a client's message: the server's one decoder, so that what
    /// the fuzzer (`fuzz/fuzz_targets/sync_decode.rs`) checks is what the socket runs.
    /// Unknown fields, types and op kinds decode (as `Unknown`); anything else that is not
    /// such a message is an error, never a panic.
    pub fn decode(text: &str) -> Result<ClientMessage, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The message as one text frame: what [`ClientMessage::decode`] reads back to an equal
    /// message.
    pub fn encode(&self) -> String {
        // Serialising these types cannot fail: every map key is a string and floats that
        // JSON cannot carry are written as null.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A position as a phone's location service gives it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// `wgs84` (default), `gcj02` or `bd09`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
}

/// What a worker did about their own finding on the spot (自行处置), sent with it in
/// [`OpKind::ReportIncident`]: `{"result": "…", "photos": ["sha256:…"], "location"?: {…}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handled {
    /// What was done (the task's result, 处置结果).
    pub result: String,
    /// Attachment ids of the photos after the work (uploaded first, like every photo).
    #[serde(default)]
    pub photos: Vec<String>,
    /// Where the phone was when the work was finished, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// An operation and when the worker did it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// What.
    #[serde(flatten)]
    pub kind: OpKind,
    /// When the worker acted (RFC 3339), if it was not just now (offline, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
}

/// The operations a phone sends.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpKind {
    /// Take a task (签收).
    AcceptTask {
        /// Which.
        task_id: String,
    },
    /// Arrived on site.
    Arrive {
        /// Which task.
        task_id: String,
        /// Where the phone was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Location>,
    },
    /// Progress on a held task.
    Progress {
        /// Which task.
        task_id: String,
        /// What was done.
        text: String,
        /// Attachment ids.
        #[serde(default)]
        photos: Vec<String>,
    },
    /// The result of a held task (反馈).
    CompleteTask {
        /// Which task.
        task_id: String,
        /// The result.
        result: String,
        /// Attachment ids.
        #[serde(default)]
        photos: Vec<String>,
        /// Where the phone was when the work was finished (the centre sees how far from
        /// the case it was sent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Location>,
    },
    /// Give a wrongly routed task back (回退).
    ReturnTask {
        /// Which task.
        task_id: String,
        /// Why.
        reason: String,
    },
    /// Ask for more time (延期).
    RequestExtension {
        /// Which task.
        task_id: String,
        /// Until when (RFC 3339).
        until: String,
        /// Why.
        reason: String,
    },
    /// Ask to park long-term work out of the timers (挂账); a centre approves it.
    RequestPark {
        /// Which task.
        task_id: String,
        /// Why.
        reason: String,
        /// When the work is expected to go on (RFC 3339), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    /// Start a parked task's clock again; its deadline moves later by the time parked.
    ResumeTask {
        /// Which task.
        task_id: String,
    },
    /// Answer a confirm task: does the problem exist?
    ConfirmTask {
        /// Which task.
        task_id: String,
        /// Whether it does.
        exists: bool,
        /// Attachment ids.
        #[serde(default)]
        photos: Vec<String>,
    },
    /// Check another's work (核查).
    Verify {
        /// Which task.
        task_id: String,
        /// Whether it passed.
        passed: bool,
        /// What was seen.
        #[serde(default)]
        note: String,
        /// Attachment ids.
        #[serde(default)]
        photos: Vec<String>,
    },
    /// A worker's own patrol finding, registered at once. With `handled`, the worker
    /// already dealt with it alone (自行处置): the server takes it in, sends the work to
    /// the worker themself, and records it taken and completed in the same mutation; it
    /// ends `closed`, or `handled` with a check (核查) sent to the community's staff when
    /// the server samples it. Refused with code `not-self-handled` (and nothing stored)
    /// unless the category is one a worker may handle alone and both the finding's own
    /// `photos` (before) and `handled.photos` (after) are given, with a `result`.
    ReportIncident {
        /// The case's id, made on the phone (a UUID).
        incident_id: String,
        /// A leaf category code.
        category: String,
        /// Where.
        location: Location,
        /// What is wrong.
        #[serde(default)]
        description: String,
        /// Attachment ids.
        #[serde(default)]
        photos: Vec<String>,
        /// An emergency's grade, `I` (特别重大) to `IV` (一般), if the worker judged one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<String>,
        /// What the worker did about it on the spot, when they dealt with it alone
        /// (自行处置); `photos` above are then the photos before. (Boxed only to keep every
        /// message small in memory; on the wire it is the plain object.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handled: Option<Box<Handled>>,
    },
    /// The worker's position while on duty (kept apart from case history).
    Location {
        /// Where.
        #[serde(flatten)]
        at: Location,
        /// Accuracy in metres, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accuracy_m: Option<f64>,
    },
    /// The worker went off duty: the server forgets their position at once (it keeps one
    /// only while they are on duty).
    OffDuty,
    /// An op kind this version does not know: answered, not applied.
    #[serde(other)]
    Unknown,
}

/// One entity in a snapshot or a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Its log number (in a change; the snapshot's cursor in a snapshot).
    pub seq: i64,
    /// What kind of entity: `task`, `incident`, …
    pub kind: String,
    /// Its id.
    pub id: String,
    /// True when the entity left the user's view: drop it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// The entity as the user sees it. A task holds at least `incident_id`, `kind`,
    /// `status` and `deadline`.
    pub data: serde_json::Value,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The hello was accepted.
    Welcome {
        /// The newest number in the log.
        cursor: i64,
        /// The protocol version spoken.
        protocol: u32,
        /// The user the session belongs to.
        user_id: String,
        /// Send a ping at least this often (seconds), or be disconnected.
        heartbeat_s: u32,
    },
    /// Forget everything held: a snapshot follows.
    Reset,
    /// A page of the current state.
    Snapshot {
        /// Entities.
        items: Vec<Item>,
    },
    /// The snapshot is complete; continue from `cursor`.
    SnapshotEnd {
        /// Where the snapshot stands in the log.
        cursor: i64,
    },
    /// Changes after the client's cursor, in order.
    Changes {
        /// How far the server has read for this user.
        cursor: i64,
        /// The changes that concern the user (possibly none).
        items: Vec<Item>,
        /// When the newest of them was committed (Unix ms), for measuring delivery.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        committed_at_ms: Option<i64>,
    },
    /// The answer to a mutation.
    MutationResult {
        /// The mutation's id.
        id: String,
        /// Whether it was applied (now or the first time it was sent).
        ok: bool,
        /// Not kept: send the same id again later (e.g. a photo not uploaded yet).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        retry: bool,
        /// Why not (a stable slug), when not ok.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// Why not, for people.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The answer to a ping.
    Pong {
        /// The ping's nonce.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Something is wrong with the conversation; a close may follow.
    Error {
        /// A stable slug (see [`crate::codes`]).
        code: String,
        /// For people.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The protocol versions supported, for `unsupported-protocol`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supported: Option<Vec<u32>>,
    },
    /// A message type this version does not know: ignored.
    #[serde(other)]
    Unknown,
}

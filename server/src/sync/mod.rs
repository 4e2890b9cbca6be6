//! Phones' sync: the WebSocket `/api/v1/sync` and what stands behind it.
//!
//! The socket is one more door onto the one write path: a phone's mutations become
//! workflow commands committed by `incidents::act`, exactly once ([`mutations`]), and
//! what it receives is the change log, read from its own cursor through its audience
//! subjects ([`socket`]). A commit rings the [`hub`], which wakes exactly the sessions
//! in its audience; a device starting afresh gets a [`snapshot`]; the [`sweep`] closes
//! the sockets of sessions that ended elsewhere. The wire format is `sync-protocol`'s.

pub mod devices;
pub mod fanout;
pub mod hub;
pub mod mutations;
pub mod schema;
pub mod snapshot;
pub mod socket;
pub mod store;
pub mod sweep;
pub mod token;

use std::sync::Arc;

use crate::calendar::Calendars;
use crate::categories::CategoryTree;
use crate::geo::Geo;
use crate::store::Database;
use hub::Hub;

/// How the socket behaves, and how often the node looks for a newly stored grid layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// A client pings at least this often; silent for twice as long, it is dropped.
    pub heartbeat_s: u32,
    /// How long the change log keeps its rows (a cursor older than that resets).
    pub retention_days: u32,
    /// Frames sent and not acknowledged before the server stops sending more.
    pub max_unacked_frames: usize,
    /// Changes per frame while catching up.
    pub page: i64,
    /// How long a send may wait for a slow client before the connection is closed.
    pub send_timeout_ms: u64,
    /// Frames a client may send per second, on average (bursts of ten times that).
    pub frames_per_second: u32,
    /// How often the node looks whether another process stored a new grid layer, in
    /// milliseconds (`crate::geo::watch`): the node swaps it in within about this long.
    pub grids_poll_ms: u64,
}

impl Default for SyncSettings {
    fn default() -> SyncSettings {
        SyncSettings {
            heartbeat_s: 30,
            retention_days: 30,
            max_unacked_frames: 16,
            page: 200,
            send_timeout_ms: 10_000,
            frames_per_second: 20,
            grids_poll_ms: 2_000,
        }
    }
}

impl SyncSettings {
    /// The retention in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::from(self.retention_days) * 24 * 60 * 60 * 1000
    }
}

/// What every sync session shares.
#[derive(Clone)]
pub struct Shared {
    /// Storage.
    pub db: Database,
    /// The live sessions of this node.
    pub hub: Arc<Hub>,
    /// The one write path (which tells the hub, and Web Push, of each commit).
    pub path: crate::incidents::act::WritePath,
    /// The category tree (limits, levels).
    pub tree: Arc<CategoryTree>,
    /// The counties' calendars.
    pub calendars: Arc<Calendars>,
    /// The grid index.
    pub geo: Geo,
    /// How the socket behaves.
    pub settings: SyncSettings,
    /// The server's clock for cases.
    pub clock: crate::clock::Clock,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("hub", &self.hub).field("settings", &self.settings).finish()
    }
}

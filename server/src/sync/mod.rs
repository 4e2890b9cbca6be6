//! Phones' sync: the WebSocket `/api/v1/sync` and what stands behind it.
//!
//! The socket is one more door onto the one write path: a phone's mutations become
//! workflow commands committed by `incidents::act`, exactly once ([`mutations`]), and
//! what it receives is the change log, read from its own cursor through its audience
//! subjects ([`audience`]) by its session ([`socket`]), carried by tokio-tungstenite
//! past actix-http's upgrade hook ([`upgrade`], `transport`). A commit rings the
//! [`hub`], which wakes exactly the sessions in its audience; they take their rows from
//! the hub's memory of the node's newest commits ([`recent`]), or else from the log. A
//! device starting afresh gets a [`snapshot`]; the [`sweep`] closes the sockets of
//! sessions that ended elsewhere. The wire format is `sync-protocol`'s.
//!
//! Dependencies point one way: sync reads its settings from `crate::settings` and wakes
//! devices through `crate::push`; neither knows of sync. Inside, the socket uses the
//! snapshot and the audience, and the snapshot uses the audience, never the socket.

pub mod acks;
pub mod audience;
pub mod devices;
pub mod fanout;
pub mod held;
pub mod hub;
pub mod mutations;
pub mod recent;
pub mod schema;
pub mod snapshot;
pub mod socket;
pub mod store;
pub mod sweep;
pub mod token;
mod transport;
pub mod upgrade;

use std::sync::Arc;

use crate::calendar::Calendars;
use crate::categories::CategoryTree;
use crate::geo::Geo;
use crate::settings::SyncSettings;
use crate::store::Database;
use hub::Hub;

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
    /// How the loop runs where the city chose (the share of self-handled findings checked).
    pub workflow: crate::settings::WorkflowSettings,
    /// The server's clock for cases.
    pub clock: crate::clock::Clock,
    /// The acknowledgements waiting to be written, for the whole node ([`acks`]).
    pub acks: Arc<acks::Acks>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("hub", &self.hub).field("settings", &self.settings).finish()
    }
}

//! Several nodes on one PostgreSQL (`gridlink serve --nats nats://HOST:PORT`).
//!
//! Every node can take any phone, any desk and any write; the database is the one truth.
//! What a node knows only in memory is who is connected to it (its [`Hub`]), so three
//! things must travel between nodes, and NATS carries them:
//!
//! - **the change log moved**: after each commit, the audience subjects it touched, its
//!   numbers and, when they fit in a message ([`ROWS_AT_MOST`]), its rows
//!   ([`Message::Log`]); every other node keeps the rows in its hub's memory and rings its
//!   own sessions under those subjects, which then send them as they would a local
//!   commit's (or read the log, for a commit that came without its rows);
//! - **a session ended** ([`Message::Ended`]): a logout, a device cut off, an account
//!   disabled — the node holding that socket closes it at once instead of at its next
//!   sweep ([`crate::sync::sweep`], which stays as the safety net);
//! - **grids changed** ([`Message::Grids`]): `gridlink grids import` stored a new layer;
//!   each node looks at once instead of at its next poll.
//!
//! All three ride on subjects under `gridlink.<cluster>.` ([`Subjects`]), where
//! `<cluster>` is a name the database draws once ([`store::name`]): clusters sharing one
//! NATS server never hear each other, and nodes need no setting to find their peers.
//! Core NATS is at-most-once, and nothing is lost by it: the log stays the truth (a
//! session reads rows from memory only when it holds every number after its cursor,
//! `sync::recent`), and each log message names the commit's numbers. A node
//! keeps count of the numbers it has heard of ([`heard`]): one the log has and no message
//! told of — lost on the way, or committed by a node cut off from NATS — it reads from
//! the log after one [`LOOK_EVERY`] and rings whom it concerns itself. While its own
//! connection is down it does so every [`FALLBACK_EVERY`], without waiting, until the
//! connection returns, and says so in `/healthz` (`nats`) and in
//! `gridlink_nats_connected`. A session that ended or a layer stored while a message
//! could not go is found by the sweep (5 s) and the layer's poll (`grids_poll_ms`).
//!
//! A single node keeps the in-process notifier ([`crate::sync::fanout::Fanout`]) and
//! needs no NATS.

pub mod heard;
pub mod link;
pub mod schema;
pub mod store;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::sync::hub::{Ended, Hub, Notifier, Touched};
use crate::sync::recent::Logged;

/// How often a node cut off from NATS reads the log for the changes it has not heard of.
pub const FALLBACK_EVERY: Duration = Duration::from_millis(250);

/// How often a connected node looks for changes no message told it of.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The most bytes of rows a log message carries (NATS takes 1 MiB a message by default):
/// a bigger commit goes without them, and the other nodes' sessions read the log.
pub const ROWS_AT_MOST: usize = 256 * 1024;

/// What travels between the nodes of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// A commit touched these audience subjects, writing the numbers `oldest..=newest`.
    Log {
        /// The audience subjects (users' ids, `unit:<code>`).
        subjects: BTreeSet<String>,
        /// The first change-log number it wrote.
        oldest: i64,
        /// The last.
        newest: i64,
        /// The rows it wrote, `oldest..=newest`, with their audience; empty when they did
        /// not fit ([`ROWS_AT_MOST`]) or came from a node that did not send them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rows: Vec<Logged>,
    },
    /// Sessions ended by a decision on the sending node: close them wherever they are.
    Ended {
        /// Which sessions.
        ended: Ended,
    },
    /// A new grid layer was stored, with this generation.
    Grids {
        /// The stored layer's generation.
        generation: i64,
    },
}

/// Why a message from another node was not read.
#[derive(Debug, thiserror::Error)]
#[error("a cluster message that does not read: {0}")]
pub struct Unreadable(#[from] serde_json::Error);

impl Message {
    /// The message as sent (JSON).
    pub fn encode(&self) -> Vec<u8> {
        // A message is plain data: serialising it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A message as received.
    pub fn decode(bytes: &[u8]) -> Result<Message, Unreadable> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The part of the subject naming this message's kind.
    fn kind(&self) -> &'static str {
        match self {
            Message::Log { .. } => "log",
            Message::Ended { .. } => "ended",
            Message::Grids { .. } => "grids",
        }
    }
}

/// The NATS subjects of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// The subjects of the cluster named `name` (as [`store::name`] draws it).
    pub fn of(name: &str) -> Subjects {
        // A subject's tokens may not hold dots, spaces or wildcards.
        let name: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        Subjects { prefix: format!("gridlink.{name}") }
    }

    /// Where `message` is published.
    pub fn of_message(&self, message: &Message) -> String {
        format!("{}.{}", self.prefix, message.kind())
    }

    /// What a node subscribes to: every kind of its cluster.
    pub fn all(&self) -> String {
        format!("{}.*", self.prefix)
    }
}

/// The state of a node's link to NATS, for `/healthz` and the metrics.
#[derive(Debug, Default)]
pub struct Status {
    connected: AtomicBool,
    /// When the link was last lost (Unix ms; 0 if never).
    lost_at_ms: AtomicI64,
}

/// What `/healthz` says of the link to NATS.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NatsHealth {
    /// Whether the node is connected to NATS now.
    pub connected: bool,
    /// While it is not: how often it reads the change log itself instead (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading_log_every_ms: Option<u64>,
    /// While it is not: since when (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

impl Status {
    /// Whether the node is connected to NATS now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub(crate) fn set_connected(&self, connected: bool, now_ms: i64) {
        if !connected && self.connected.swap(false, Ordering::SeqCst) {
            self.lost_at_ms.store(now_ms, Ordering::SeqCst);
        } else if connected {
            self.connected.store(true, Ordering::SeqCst);
        }
    }

    /// What `/healthz` says of it.
    pub fn health(&self) -> NatsHealth {
        if self.connected() {
            return NatsHealth { connected: true, reading_log_every_ms: None, since: None };
        }
        let lost = self.lost_at_ms.load(Ordering::SeqCst);
        NatsHealth {
            connected: false,
            reading_log_every_ms: Some(u64::try_from(FALLBACK_EVERY.as_millis()).unwrap_or(u64::MAX)),
            since: (lost > 0).then(|| crate::clock::rfc3339(lost)),
        }
    }
}

/// The notifier of a node in a cluster: this node's own fan-out first, then the same
/// news to the other nodes (through the [`link`] task, never waiting on the network).
pub struct Cluster {
    local: Arc<dyn Notifier>,
    outbox: mpsc::UnboundedSender<Message>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// A notifier telling `local` (this node's fan-out) and then the other nodes; the
    /// receiving end of what is to be sent, for [`link::Link`]. Sessions `hub` ends
    /// ([`Hub::end`]) are told to the other nodes too.
    pub fn new(local: Arc<dyn Notifier>, hub: &Hub) -> (Cluster, mpsc::UnboundedReceiver<Message>) {
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let relay = outbox.clone();
        hub.relay_to(Box::new(move |ended: &Ended| {
            let _ = relay.send(Message::Ended { ended: ended.clone() });
        }));
        (Cluster { local, outbox }, outgoing)
    }
}

impl Notifier for Cluster {
    fn committed(&self, touched: &Touched) {
        self.local.committed(touched);
        if !touched.subjects.is_empty() {
            let (subjects, oldest, newest) = (touched.subjects.clone(), touched.oldest, touched.newest);
            let bytes: usize = touched.rows.iter().map(Logged::bytes).sum();
            let rows = if bytes <= ROWS_AT_MOST { touched.rows.to_vec() } else { Vec::new() };
            let _ = self.outbox.send(Message::Log { subjects, oldest, newest, rows });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_as_sent_and_garbage_does_not_read() {
        let messages = [
            Message::Log {
                subjects: ["w1".to_owned(), "unit:321302".to_owned()].into(),
                oldest: 40,
                newest: 42,
                rows: Vec::new(),
            },
            Message::Log {
                subjects: ["w1".to_owned()].into(),
                oldest: 43,
                newest: 43,
                rows: vec![Logged {
                    seq: 43,
                    kind: "task".into(),
                    id: "t1".into(),
                    data: "{\"status\":\"open\"}".into(),
                    committed_at_ms: 1_700_000_000_000,
                    audience: vec![("w1".into(), false), ("w2".into(), true)],
                }],
            },
            Message::Ended { ended: Ended::Device { user: "u".into(), device: "phone".into() } },
            Message::Ended { ended: Ended::DeviceAndTabs { user: "u".into(), device: "phone".into() } },
            Message::Ended { ended: Ended::User { user: "u".into() } },
            Message::Grids { generation: 7 },
        ];
        for message in messages {
            assert_eq!(Message::decode(&message.encode()).unwrap(), message);
        }
        for bad in [&b""[..], b"{}", b"{\"kind\":\"log\"}", b"\xff", b"{\"kind\":\"nope\",\"newest\":1}"] {
            assert!(Message::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_kind_has_its_subject_under_the_clusters_name() {
        let subjects = Subjects::of("3f9a.b c*>");
        assert_eq!(subjects.all(), "gridlink.3f9abc.*");
        assert_eq!(subjects.of_message(&Message::Grids { generation: 1 }), "gridlink.3f9abc.grids");
        let log = Message::Log { subjects: BTreeSet::new(), oldest: 0, newest: 0, rows: Vec::new() };
        assert_eq!(subjects.of_message(&log), "gridlink.3f9abc.log");
    }

    #[derive(Default)]
    struct Heard(std::sync::Mutex<Vec<i64>>);

    impl Notifier for Heard {
        fn committed(&self, touched: &Touched) {
            self.0.lock().unwrap().push(touched.newest);
        }
    }

    #[test]
    fn a_commit_is_told_here_first_then_to_the_others_and_ended_sessions_too() {
        let hub = Hub::new();
        let local = Arc::new(Heard::default());
        let (cluster, mut outgoing) = Cluster::new(local.clone(), &hub);
        let row = |seq: i64, data: String| Logged {
            seq,
            kind: "task".into(),
            id: format!("t{seq}"),
            data,
            committed_at_ms: 5,
            audience: vec![("w1".into(), false)],
        };
        let rows: Vec<Logged> = (8..=9).map(|seq| row(seq, "{}".into())).collect();
        let touched = Touched {
            subjects: ["w1".to_owned()].into(),
            oldest: 8,
            newest: 9,
            rows: rows.clone().into(),
            ..Touched::default()
        };
        cluster.committed(&touched);
        cluster.committed(&Touched::default());
        assert_eq!(*local.0.lock().unwrap(), [9, 0], "this node hears every commit");
        let subjects = touched.subjects.clone();
        assert_eq!(outgoing.try_recv().unwrap(), Message::Log { subjects, oldest: 8, newest: 9, rows });
        // A commit too big for one message goes without its rows: the others read the log.
        let big = Touched { oldest: 10, newest: 10, rows: vec![row(10, "x".repeat(ROWS_AT_MOST))].into(), ..touched };
        cluster.committed(&big);
        let subjects = big.subjects.clone();
        assert_eq!(outgoing.try_recv().unwrap(), Message::Log { subjects, oldest: 10, newest: 10, rows: Vec::new() });
        let mut session = hub.register("w1", "phone", "t", vec!["w1".into()]);
        let ended = Ended::Device { user: "w1".into(), device: "phone".into() };
        assert_eq!(hub.end(&ended), 1);
        assert!(session.kicked.try_recv().is_ok(), "closed here");
        assert_eq!(outgoing.try_recv().unwrap(), Message::Ended { ended }, "and told to the others");
        assert!(outgoing.try_recv().is_err(), "a commit touching nobody is not sent");
    }

    #[test]
    fn the_status_says_since_when_the_link_is_down() {
        let status = Status::default();
        assert!(!status.health().connected);
        assert_eq!(status.health().since, None, "never connected yet");
        status.set_connected(true, 1_000);
        assert!(status.health().connected && status.health().reading_log_every_ms.is_none());
        status.set_connected(false, 1_765_000_000_000);
        let health = status.health();
        assert!(!health.connected);
        assert_eq!(health.reading_log_every_ms, Some(250));
        assert!(health.since.is_some_and(|s| s.starts_with("2025-12-06")));
    }
}

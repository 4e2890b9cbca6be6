//! Fan-out inside one node: which live sessions listen to which audience subjects.
//!
//! A commit names the subjects of its change-log rows (users, `unit:<code>`); the hub
//! wakes exactly the sessions registered under those subjects — a lookup per subject,
//! never a scan of every session. A wake-up carries no data, so any number of them
//! collapse into one read: a woken session reads from its own cursor, from the rows the
//! hub keeps of this node's newest commits ([`super::recent`]) when they hold every
//! number it needs, else from the log.
//! The hub also knows which devices are connected, so that a new hello from the same
//! device replaces the older connection and a worker with no device connected gets a
//! push instead.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use tokio::sync::{Notify, oneshot};

use super::recent::{Logged, Page, Recent};

/// What a commit touched: the audience subjects of its change-log rows, the users it
/// sent a new task, the reports whose residents are owed news, and the newest number it
/// wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Every subject in the audience of the commit's rows.
    pub subjects: BTreeSet<String>,
    /// The users a task now waits for (to wake by push if no device of theirs has it).
    pub assigned: BTreeSet<String>,
    /// News for the residents following cases it changed (registered, closed, reopened,
    /// merged), in the order committed.
    pub reports: Vec<crate::push::reports::ReportNews>,
    /// The oldest log number written (0 if none): a commit's numbers run from it to
    /// `newest` without a gap (they are taken under one lock of the counter row).
    pub oldest: i64,
    /// The newest log number written (0 if none).
    pub newest: i64,
    /// The rows written, `oldest..=newest`, with their audience: known for this node's
    /// own commits, empty for news from elsewhere (then sessions read the log).
    pub rows: Arc<[Logged]>,
}

impl Touched {
    /// Adds another commit's subjects.
    pub fn merge(&mut self, other: Touched) {
        self.subjects.extend(other.subjects);
        self.assigned.extend(other.assigned);
        self.reports.extend(other.reports);
        self.oldest = match (self.oldest, other.oldest) {
            (0, o) | (o, 0) => o,
            (a, b) => a.min(b),
        };
        self.newest = self.newest.max(other.newest);
        if !other.rows.is_empty() {
            let mut rows: Vec<Logged> = self.rows.iter().chain(other.rows.iter()).cloned().collect();
            rows.sort_by_key(|r| r.seq);
            self.rows = rows.into();
        }
    }
}

/// Tells listeners that the log moved. In one node the [`Hub`] is it; across nodes a
/// broker (NATS) carries the same call to every node's hub.
pub trait Notifier: Send + Sync {
    /// The commit is durable: wake whoever listens to its subjects.
    fn committed(&self, touched: &Touched);
}

/// A notifier for work done with nobody listening (tools, benchmarks, tests of storage).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoListeners;

impl Notifier for NoListeners {
    fn committed(&self, _: &Touched) {}
}

/// A live session's doorbell: rung with the newest log number that concerns it.
#[derive(Debug, Default)]
pub struct Doorbell {
    notify: Notify,
    newest: AtomicI64,
}

impl Doorbell {
    fn ring(&self, newest: i64) {
        self.newest.fetch_max(newest, Ordering::SeqCst);
        // notify_one keeps a permit if the session is busy, so no ring is lost.
        self.notify.notify_one();
    }

    /// Waits until rung (at once if it was rung since the last wait).
    pub async fn rung(&self) {
        self.notify.notified().await;
    }

    /// The newest number it was rung with.
    pub fn newest(&self) -> i64 {
        self.newest.load(Ordering::SeqCst)
    }
}

/// A registered session.
struct Entry {
    user: String,
    device: String,
    /// The hash of the token the session authenticated with.
    credential: String,
    subjects: Vec<String>,
    doorbell: Arc<Doorbell>,
    /// Fired to make the session close (replaced by a newer hello, or logged out).
    kick: Option<oneshot::Sender<Kick>>,
}

/// Why a session is told to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// The same device said hello on a newer connection.
    Replaced,
    /// The session was logged out or revoked.
    LoggedOut,
    /// The user's role or area changed; the token still stands.
    Rescoped,
    /// The server is shutting down.
    ShuttingDown,
}

/// Sessions ended by a decision (a logout, a device cut off, an account disabled), to be
/// closed on whichever node holds them: [`Hub::end`] closes this node's and relays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Ended {
    /// The sessions of one device of a user (logged out, or retired for a newer device).
    Device {
        /// The user's id.
        user: String,
        /// The device's id.
        device: String,
    },
    /// A device and its tabs (`<device>.<tab>`), cut off by an administrator.
    DeviceAndTabs {
        /// The user's id.
        user: String,
        /// The device's id.
        device: String,
    },
    /// Every session of a user (disabled, password reset).
    User {
        /// The user's id.
        user: String,
    },
}

/// Tells the other nodes of sessions ended here (set by `crate::cluster`).
type Relay = Box<dyn Fn(&Ended) + Send + Sync>;

#[derive(Default)]
struct Inner {
    next_id: u64,
    sessions: HashMap<u64, Entry>,
    by_subject: HashMap<String, BTreeSet<u64>>,
    by_device: HashMap<(String, String), u64>,
}

/// The sessions of this node.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    relay: OnceLock<Relay>,
    /// The newest log number this node knows committed ([`Hub::newest_committed`]).
    newest: AtomicI64,
    /// This node's newest commits' rows ([`Hub::recent`]).
    recent: RwLock<Recent>,
    /// Pages sessions took from memory and from the log ([`Hub::reads`]).
    from_memory: AtomicU64,
    from_log: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("sessions", &self.len()).finish()
    }
}

/// A session's registration: its id, doorbell and the signal that tells it to close.
pub struct Registration {
    /// The session's id in the hub.
    pub id: u64,
    /// Rung when a commit concerns it.
    pub doorbell: Arc<Doorbell>,
    /// Fires when the session must close.
    pub kicked: oneshot::Receiver<Kick>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a session of `user` on `device`, authenticated by the token whose hash
    /// is `credential`, listening to `subjects`; an older session of the same device is
    /// told to close.
    pub fn register(&self, user: &str, device: &str, credential: &str, subjects: Vec<String>) -> Registration {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let key = (user.to_owned(), device.to_owned());
        if let Some(old) = inner.by_device.insert(key, id)
            && let Some(entry) = inner.sessions.get_mut(&old)
            && let Some(kick) = entry.kick.take()
        {
            let _ = kick.send(Kick::Replaced);
        }
        for subject in &subjects {
            inner.by_subject.entry(subject.clone()).or_default().insert(id);
        }
        let doorbell = Arc::new(Doorbell::default());
        let (kick, kicked) = oneshot::channel();
        let entry = Entry {
            user: user.to_owned(),
            device: device.to_owned(),
            credential: credential.to_owned(),
            subjects,
            doorbell: doorbell.clone(),
            kick: Some(kick),
        };
        inner.sessions.insert(id, entry);
        Registration { id, doorbell, kicked }
    }

    /// The newest log number this node knows to be committed: told by a commit (this
    /// node's, or another's through the cluster) or read from the log. Every number up
    /// to it is committed too, since numbers are taken under the row that orders
    /// commits; so a session may tell its phone it has read that far once it has read
    /// the log after taking this, without asking the database for the log's newest.
    pub fn newest_committed(&self) -> i64 {
        self.newest.load(Ordering::SeqCst)
    }

    /// Notes that the log's numbers up to `newest` are committed (read from the log).
    pub fn saw_committed(&self, newest: i64) {
        self.newest.fetch_max(newest, Ordering::SeqCst);
    }

    /// Up to `limit` changes for `subjects` after `after`, reading through `through`
    /// (the newest committed), from the rows the hub keeps of this node's newest commits; `None` when
    /// it does not hold every number in between (read the log then, and count it with
    /// [`Hub::read_the_log`]).
    pub fn recent(&self, subjects: &[String], after: i64, through: i64, limit: usize) -> Option<Page> {
        let page = self.recent.read().unwrap_or_else(PoisonError::into_inner).read(subjects, after, through, limit);
        // A session with nothing new to read read nothing, from anywhere.
        if page.is_some() && after < through {
            self.from_memory.fetch_add(1, Ordering::Relaxed);
        }
        page
    }

    /// Counts a page a session had to read from the log.
    pub fn read_the_log(&self) {
        self.from_log.fetch_add(1, Ordering::Relaxed);
    }

    /// How many pages sessions took from memory and from the log since the node started.
    pub fn reads(&self) -> (u64, u64) {
        (self.from_memory.load(Ordering::Relaxed), self.from_log.load(Ordering::Relaxed))
    }

    /// Forgets a session that ended.
    pub fn unregister(&self, id: u64) {
        let mut inner = self.lock();
        let Some(entry) = inner.sessions.remove(&id) else { return };
        for subject in &entry.subjects {
            if let Some(ids) = inner.by_subject.get_mut(subject) {
                ids.remove(&id);
                if ids.is_empty() {
                    inner.by_subject.remove(subject);
                }
            }
        }
        let key = (entry.user, entry.device);
        if inner.by_device.get(&key) == Some(&id) {
            inner.by_device.remove(&key);
        }
    }

    /// Closes the sessions `ended` names on this node and, in a cluster, on the others;
    /// how many were told here.
    pub fn end(&self, ended: &Ended) -> usize {
        let told = self.close(ended);
        if let Some(relay) = self.relay.get() {
            relay(ended);
        }
        told
    }

    /// Closes the sessions `ended` names on this node only (news from another node);
    /// how many were told.
    pub fn close(&self, ended: &Ended) -> usize {
        match ended {
            Ended::Device { user, device } => self.kick(user, Some(device), Kick::LoggedOut),
            Ended::DeviceAndTabs { user, device } => self.kick_device(user, device, Kick::LoggedOut),
            Ended::User { user } => self.kick_where(|u, _| u == user, Kick::LoggedOut),
        }
    }

    /// Has every later [`Hub::end`] told through `relay` as well (once; later calls are ignored).
    pub fn relay_to(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// Tells every session of `user` on `device` (all devices when `None`) to close; how
    /// many were told.
    pub fn kick(&self, user: &str, device: Option<&str>, why: Kick) -> usize {
        let mut inner = self.lock();
        let mut told = 0;
        for entry in inner.sessions.values_mut() {
            if entry.user == user
                && device.is_none_or(|d| d == entry.device)
                && let Some(kick) = entry.kick.take()
            {
                let _ = kick.send(why);
                told += 1;
            }
        }
        told
    }

    /// Tells the sessions of `user` on `device` and on its tabs (`<device>.<tab>`, see
    /// `auth::accounts::of_device`) to close: a device cut off by an administrator; how
    /// many were told.
    pub fn kick_device(&self, user: &str, device: &str, why: Kick) -> usize {
        let mut inner = self.lock();
        let mut told = 0;
        for entry in inner.sessions.values_mut() {
            if entry.user == user
                && crate::auth::accounts::of_device(&entry.device, device)
                && let Some(kick) = entry.kick.take()
            {
                let _ = kick.send(why);
                told += 1;
            }
        }
        told
    }

    /// Tells every session that `close` picks (by user and credential) to close; how many were told.
    pub fn kick_where(&self, close: impl Fn(&str, &str) -> bool, why: Kick) -> usize {
        let mut inner = self.lock();
        let mut told = 0;
        for entry in inner.sessions.values_mut() {
            if close(&entry.user, &entry.credential)
                && let Some(kick) = entry.kick.take()
            {
                let _ = kick.send(why);
                told += 1;
            }
        }
        told
    }

    /// Whether any device of `user` is connected to this node.
    pub fn is_connected(&self, user: &str) -> bool {
        self.lock().by_subject.get(user).is_some_and(|ids| !ids.is_empty())
    }

    /// The devices of `user` connected to this node.
    pub fn devices_of(&self, user: &str) -> std::collections::HashSet<String> {
        let inner = self.lock();
        let ids = inner.by_subject.get(user).into_iter().flatten();
        ids.filter_map(|id| inner.sessions.get(id)).filter(|e| e.user == user).map(|e| e.device.clone()).collect()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The hub's count of the pages sessions read, for `/metrics`:
/// `gridlink_sync_pages_total{from="memory"|"log"}`.
pub struct PagesRead {
    hub: Arc<Hub>,
    opts: prometheus::Opts,
    /// What the family looks like (its description); each scrape fills a fresh one.
    family: prometheus::IntCounterVec,
}

impl PagesRead {
    /// A collector reading `hub`'s counts each time it is scraped.
    pub fn of(hub: Arc<Hub>) -> prometheus::Result<PagesRead> {
        let opts = prometheus::Opts::new(
            "gridlink_sync_pages_total",
            "Pages of changes sync sessions sent, by where they were read: the hub's memory of the newest commits, or the log",
        );
        let family = prometheus::IntCounterVec::new(opts.clone(), &["from"])?;
        Ok(PagesRead { hub, opts, family })
    }
}

impl prometheus::core::Collector for PagesRead {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.family.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let Ok(family) = prometheus::IntCounterVec::new(self.opts.clone(), &["from"]) else { return Vec::new() };
        let (memory, log) = self.hub.reads();
        family.with_label_values(&["memory"]).inc_by(memory);
        family.with_label_values(&["log"]).inc_by(log);
        family.collect()
    }
}

impl Notifier for Hub {
    fn committed(&self, touched: &Touched) {
        // Before the doorbells: a session rung finds the rows in memory, and reads a
        // watermark at least this new.
        // Rows are trusted only as the commit's whole numbers, whoever sent them.
        let whole = touched.rows.first().is_some_and(|r| r.seq == touched.oldest)
            && touched.rows.last().is_some_and(|r| r.seq == touched.newest);
        if whole {
            self.recent.write().unwrap_or_else(PoisonError::into_inner).keep(touched.rows.clone());
        }
        self.saw_committed(touched.newest);
        let inner = self.lock();
        let mut rung = BTreeSet::new();
        for subject in &touched.subjects {
            for id in inner.by_subject.get(subject).into_iter().flatten() {
                if rung.insert(*id)
                    && let Some(entry) = inner.sessions.get(id)
                {
                    entry.doorbell.ring(touched.newest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touched(subjects: &[&str], newest: i64) -> Touched {
        Touched { subjects: subjects.iter().map(|s| (*s).to_owned()).collect(), newest, ..Touched::default() }
    }

    #[test]
    fn a_commit_rings_exactly_the_sessions_of_its_audience() {
        let hub = Hub::new();
        let worker = hub.register("w", "phone", "t1", vec!["w".into()]);
        let centre = hub.register("c", "desk", "t2", vec!["c".into(), "unit:321302".into()]);
        let other = hub.register("o", "phone", "t3", vec!["o".into()]);
        hub.committed(&touched(&["w", "unit:321302"], 7));
        assert_eq!(worker.doorbell.newest(), 7);
        assert_eq!(centre.doorbell.newest(), 7);
        assert_eq!(other.doorbell.newest(), 0, "not in the audience, not rung");
        assert!(hub.is_connected("w") && !hub.is_connected("nobody"));
        hub.unregister(worker.id);
        assert!(!hub.is_connected("w"));
        hub.committed(&touched(&["w"], 9));
        assert_eq!(hub.len(), 2);
    }

    #[test]
    fn the_hub_keeps_the_newest_number_it_knows_committed() {
        let hub = Hub::new();
        assert_eq!(hub.newest_committed(), 0);
        hub.saw_committed(40);
        hub.committed(&touched(&["nobody here"], 42));
        assert_eq!(hub.newest_committed(), 42, "a commit tells it, whoever it concerned");
        // News arriving late (another node's, a read of the log) never moves it back.
        hub.committed(&touched(&["w"], 41));
        hub.saw_committed(12);
        assert_eq!(hub.newest_committed(), 42);
    }

    #[test]
    fn a_commits_rows_are_read_from_memory_and_news_without_rows_from_the_log() {
        let hub = Hub::new();
        hub.saw_committed(10);
        let row = |seq: i64| crate::sync::recent::Logged {
            seq,
            kind: "task".into(),
            id: format!("t{seq}"),
            data: "{}".into(),
            committed_at_ms: 5,
            audience: vec![("w".into(), false)],
        };
        // Rows that are not the commit's numbers (12 alone, for 11..=12) are not kept.
        let short = Touched { oldest: 11, rows: vec![row(12)].into(), ..touched(&["w"], 12) };
        hub.committed(&short);
        assert!(hub.recent(&["w".to_owned()], 10, 12, 200).is_none());
        let mine = Touched { rows: vec![row(11), row(12)].into(), ..touched(&["w"], 12) };
        hub.committed(&Touched { oldest: 11, ..mine });
        let subjects = ["w".to_owned()];
        let page = hub.recent(&subjects, 10, hub.newest_committed(), 200).expect("this node's commit is held");
        assert_eq!(page.rows.iter().map(|c| c.seq).collect::<Vec<_>>(), [11, 12]);
        // Another node's commit, told without its rows: whoever needs 13 reads the log.
        hub.committed(&Touched { oldest: 13, ..touched(&["w"], 13) });
        assert!(hub.recent(&subjects, 12, hub.newest_committed(), 200).is_none());
        hub.read_the_log();
        assert_eq!(hub.reads(), (1, 1));
    }

    #[test]
    fn a_new_hello_from_the_same_device_kicks_the_old_session() {
        let hub = Hub::new();
        let mut first = hub.register("w", "phone", "t1", vec!["w".into()]);
        let mut other_device = hub.register("w", "tablet", "t2", vec!["w".into()]);
        let second = hub.register("w", "phone", "t3", vec!["w".into()]);
        assert_eq!(first.kicked.try_recv(), Ok(Kick::Replaced));
        assert!(other_device.kicked.try_recv().is_err(), "another device stays");
        // The old session unregistering does not unseat the new one.
        hub.unregister(first.id);
        hub.committed(&touched(&["w"], 3));
        assert_eq!(second.doorbell.newest(), 3);
        hub.kick("w", None, Kick::LoggedOut);
        assert_eq!(other_device.kicked.try_recv(), Ok(Kick::LoggedOut));
    }

    #[test]
    fn a_device_is_kicked_with_its_tabs_and_without_its_neighbours() {
        let hub = Hub::new();
        let mut lost = hub.register("w", "phone-1", "t1", vec!["w".into()]);
        let mut tab = hub.register("w", "phone-1.ab", "t1", vec!["w".into()]);
        let mut neighbour = hub.register("w", "phone-10", "t2", vec!["w".into()]);
        let mut other_user = hub.register("o", "phone-1", "t3", vec!["o".into()]);
        assert_eq!(hub.kick_device("w", "phone-1", Kick::LoggedOut), 2);
        assert_eq!(lost.kicked.try_recv(), Ok(Kick::LoggedOut));
        assert_eq!(tab.kicked.try_recv(), Ok(Kick::LoggedOut));
        assert!(neighbour.kicked.try_recv().is_err());
        assert!(other_user.kicked.try_recv().is_err());
    }

    #[test]
    fn the_hub_knows_which_devices_of_a_user_are_connected() {
        let hub = Hub::new();
        let phone = hub.register("w", "phone", "t1", vec!["w".into()]);
        hub.register("w", "tablet", "t2", vec!["w".into()]);
        hub.register("o", "phone", "t3", vec!["o".into()]);
        let mut devices: Vec<String> = hub.devices_of("w").into_iter().collect();
        devices.sort();
        assert_eq!(devices, ["phone", "tablet"]);
        hub.unregister(phone.id);
        assert_eq!(hub.devices_of("w").into_iter().collect::<Vec<_>>(), ["tablet"]);
        assert!(hub.devices_of("nobody").is_empty());
    }

    #[test]
    fn sessions_are_told_to_close_by_credential_or_user() {
        let hub = Hub::new();
        let mut revoked = hub.register("w", "phone", "old-token", vec!["w".into()]);
        let mut kept = hub.register("w", "tablet", "new-token", vec!["w".into()]);
        let mut moved = hub.register("m", "phone", "m-token", vec!["m".into()]);
        assert_eq!(hub.kick_where(|_, credential| credential == "old-token", Kick::LoggedOut), 1);
        assert_eq!(revoked.kicked.try_recv(), Ok(Kick::LoggedOut));
        assert!(kept.kicked.try_recv().is_err());
        assert_eq!(hub.kick_where(|user, _| user == "m", Kick::LoggedOut), 1);
        assert_eq!(moved.kicked.try_recv(), Ok(Kick::LoggedOut));
        // Told once: a session already told is not counted again.
        assert_eq!(hub.kick_where(|_, _| true, Kick::ShuttingDown), 1);
        assert_eq!(kept.kicked.try_recv(), Ok(Kick::ShuttingDown));
    }
}

//! What happens after a commit, in one node: the hub rings the sessions in its audience,
//! a worker sent a new task is woken by Web Push when none of their devices is
//! connected — or when one is, but none has acknowledged the task within a grace
//! period (a phone asleep behind a socket that looks alive) — and the residents
//! following a case that was registered, closed, reopened or merged are told by Web Push.

use std::sync::Arc;
use std::time::Duration;

use super::hub::{Hub, Notifier, Touched};
use crate::push::Pusher;
use crate::store::Database;

/// The notifier every door calls once its commit is durable.
#[derive(Clone)]
pub struct Fanout {
    hub: Arc<Hub>,
    pusher: Pusher,
    db: Database,
    grace: Duration,
    /// Whether this node is the only one (no other node's phones to wait for).
    alone: bool,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").field("hub", &self.hub).field("grace", &self.grace).finish()
    }
}

impl Fanout {
    /// A notifier over this node's hub, pushing through `pusher` after `grace` without an ack.
    pub fn new(hub: Arc<Hub>, pusher: Pusher, db: Database, grace: Duration) -> Fanout {
        Fanout { hub, pusher, db, grace, alone: true }
    }

    /// The same, on a node of a cluster: a worker not connected here may be connected to
    /// another node, so every push waits the grace and goes only if no device of theirs
    /// acknowledged the task (acknowledgements are in the shared database).
    pub fn with_peers(self) -> Fanout {
        Fanout { alone: false, ..self }
    }
}

impl Notifier for Fanout {
    fn committed(&self, touched: &Touched) {
        self.hub.committed(touched);
        if touched.assigned.is_empty() && touched.reports.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to send pushes from; workers are not woken, residents not told");
            return;
        };
        // Residents following a report hear where it stands; off the request path.
        for news in &touched.reports {
            let (pusher, news) = (self.pusher.clone(), news.clone());
            runtime.spawn(async move {
                let report = pusher.tell(news).report().await;
                tracing::debug!(?report, "residents told");
            });
        }
        for user in &touched.assigned {
            let (hub, pusher, db, grace) = (self.hub.clone(), self.pusher.clone(), self.db.clone(), self.grace);
            let (user, newest, alone) = (user.clone(), touched.newest, self.alone);
            runtime.spawn(async move {
                if !alone || hub.is_connected(&user) {
                    tokio::time::sleep(grace).await;
                    let lookup = user.clone();
                    let acked = tokio::task::spawn_blocking(move || db.read(|c| super::store::max_acked(c, &lookup)))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    if acked >= newest {
                        return;
                    }
                }
                let report = pusher.wake(&user).await.report().await;
                tracing::debug!(?report, "woken by push");
            });
        }
    }
}
